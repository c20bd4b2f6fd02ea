"""lstmcalc.cells.forward against a deliberately naive reference written from the equations.

The reference below shares no code with cells.py: it reads every weight by hand from the
framework's own layout (gate orders written out here, not taken from lstmcalc), loops over
time, batch rows, gates and units in plain Python floats, and runs a backward direction on
the reversed sequence and flips its output back. Every weight and bias is random, different
per gate, and PyTorch's bias_ih differs from bias_hh.

Tolerances: float64 max abs error 1e-12 (reference vs NumPy backend, NumPy vs Numba);
float32 results against the float64 reference at 2e-6 (NumPy) and 5e-6 (Numba, whose float32
tanh is a rational approximation with max abs error 4e-7).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lstmcalc
from lstmcalc import memory
from lstmcalc.cells import ForwardResult, SizeError, estimate_bytes
from lstmcalc.cells import forward as _forward
from lstmcalc.frameworks import all_tensors, weights_key
from lstmcalc.frameworks import make_spec
from lstmcalc.spec import SpecError

B, T, X, H, P = 2, 5, 2, 3, 2  # X != H != P so a transposed or swapped block cannot fit

# The frameworks' gate orders, written out from their sources (keras/src/layers/rnn/*.py,
# torch/nn/modules/rnn.py) rather than imported from lstmcalc.frameworks.
ORDER = {
    ("keras", "lstm"): "ifgo",  # Keras calls the candidate c: i, f, c, o
    ("torch", "lstm"): "ifgo",
    ("keras", "gru"): "zrn",  # Keras: z, r, h
    ("torch", "gru"): "rzn",
    ("keras", "rnn"): "h",
    ("torch", "rnn"): "h",
}


# --- the naive reference --------------------------------------------------------------------------


def sigmoid(a: float) -> float:
    return 1.0 / (1.0 + math.exp(-a)) if a >= 0 else math.exp(a) / (1.0 + math.exp(a))


def names(framework, layers, bidirectional, layer, backward):
    if framework == "torch":
        s = f"_l{layer}" + ("_reverse" if backward else "")
        return {"W": "weight_ih" + s, "U": "weight_hh" + s, "b_in": "bias_ih" + s, "b_rec": "bias_hh" + s, "hr": "weight_hr" + s}
    prefix = "" if layers == 1 and not bidirectional else f"layer{layer}/{'backward' if backward else 'forward'}/"
    return {k: prefix + v for k, v in {"W": "kernel", "U": "recurrent_kernel", "b": "bias"}.items()}


def per_gate(weights, framework, cell, n, h):
    """{gate: {"W": [[...]] (H rows of X), "U": [[...]] (H rows of H_out), "b_in": [...], "b_rec": [...]}}."""
    out = {}
    for q, gate in enumerate(ORDER[(framework, cell)]):
        cols = range(q * h, (q + 1) * h)
        if framework == "torch":
            w, u = weights[n["W"]], weights[n["U"]]
            entry = {
                "W": [[float(w[c, i]) for i in range(w.shape[1])] for c in cols],
                "U": [[float(u[c, j]) for j in range(u.shape[1])] for c in cols],
                "b_in": [float(weights[n["b_in"]][c]) if n["b_in"] in weights else 0.0 for c in cols],
                "b_rec": [float(weights[n["b_rec"]][c]) if n["b_rec"] in weights else 0.0 for c in cols],
            }
        else:
            w, u = weights[n["W"]], weights[n["U"]]
            bias = weights.get(n["b"])
            entry = {
                "W": [[float(w[i, c]) for i in range(w.shape[0])] for c in cols],
                "U": [[float(u[j, c]) for j in range(u.shape[0])] for c in cols],
                "b_in": [0.0 if bias is None else float(bias[c] if bias.ndim == 1 else bias[0, c]) for c in cols],
                "b_rec": [0.0 if bias is None or bias.ndim == 1 else float(bias[1, c]) for c in cols],
            }
        out[gate] = entry
    return out


def dot(row, vec):
    total = 0.0
    for a, b in zip(row, vec):
        total += a * b
    return total


def run_direction(seq, gates, cell, h, opts, w_hr=None):
    """seq: [T][X] floats. Returns ([T][H_out] outputs, h_T, c_T)."""
    h_out = len(w_hr) if w_hr is not None else h
    h_prev, c_prev = [0.0] * h_out, [0.0] * h
    outs = []
    for x_t in seq:
        if cell == "lstm":
            def pre(g, u):
                p = gates[g]
                return dot(p["W"][u], x_t) + p["b_in"][u] + dot(p["U"][u], h_prev) + p["b_rec"][u]

            c_new, m = [], []
            for u in range(h):
                i, f, g, o = sigmoid(pre("i", u)), sigmoid(pre("f", u)), math.tanh(pre("g", u)), sigmoid(pre("o", u))
                c = f * c_prev[u] + i * g
                c_new.append(c)
                m.append(o * math.tanh(c))
            h_new = m if w_hr is None else [dot(w_hr[p], m) for p in range(h_out)]
            c_prev = c_new
        elif cell == "gru":
            def lin(g, u):
                return dot(gates[g]["W"][u], x_t) + gates[g]["b_in"][u]

            def rec(g, u, state):
                return dot(gates[g]["U"][u], state) + gates[g]["b_rec"][u]

            z = [sigmoid(lin("z", u) + rec("z", u, h_prev)) for u in range(h)]
            r = [sigmoid(lin("r", u) + rec("r", u, h_prev)) for u in range(h)]
            if opts["reset_after"]:
                n = [math.tanh(lin("n", u) + r[u] * rec("n", u, h_prev)) for u in range(h)]
            else:  # Keras reset_after=False: the reset gate scales h before the product
                rh = [r[j] * h_prev[j] for j in range(h)]
                n = [math.tanh(lin("n", u) + rec("n", u, rh)) for u in range(h)]
            h_new = [z[u] * h_prev[u] + (1.0 - z[u]) * n[u] for u in range(h)]
        else:
            act = math.tanh if opts["activation"] == "tanh" else (lambda a: max(a, 0.0))
            p = gates["h"]
            h_new = [act(dot(p["W"][u], x_t) + p["b_in"][u] + dot(p["U"][u], h_prev) + p["b_rec"][u]) for u in range(h)]
        outs.append(h_new)
        h_prev = h_new
    return outs, h_prev, c_prev


def reference(x, weights, cell, framework, layers=1, bidirectional=False, proj_size=0, reset_after=True,
              activation="tanh", merge_mode="concat", bias=True):
    """The layer stack in plain Python floats; returns the same fields as ForwardResult.
    (``bias``: a missing bias tensor reads as zeros, so the flag itself is not needed.)"""
    opts = {"reset_after": reset_after, "activation": activation}
    batch, time = x.shape[:2]
    seqs = [[[float(v) for v in x[b, t]] for t in range(time)] for b in range(batch)]
    h_n, c_n = [], []
    for layer in range(layers):
        new_seqs = []
        finals = []  # per direction: ([B] h, [B] c)
        for backward in ([False, True] if bidirectional else [False]):
            n = names(framework, layers, bidirectional, layer, backward)
            gates = per_gate(weights, framework, cell, n, H)
            w_hr = None
            if proj_size:
                hr = weights[n["hr"]]
                w_hr = [[float(hr[p, u]) for u in range(hr.shape[1])] for p in range(hr.shape[0])]
            outs, hs, cs = [], [], []
            for seq in seqs:
                o, h_t, c_t = run_direction(seq[::-1] if backward else seq, gates, cell, H, opts, w_hr)
                outs.append(o[::-1] if backward else o)  # flip the backward output back
                hs.append(h_t)
                cs.append(c_t)
            new_seqs.append(outs)
            finals.append((hs, cs))
        merged = []
        for b in range(batch):
            rows = []
            for t in range(time):
                parts = [d[b][t] for d in new_seqs]
                if len(parts) == 1 or framework == "torch" or merge_mode == "concat":
                    rows.append([v for part in parts for v in part])
                elif merge_mode == "sum":
                    rows.append([a + c for a, c in zip(*parts)])
                elif merge_mode == "mul":
                    rows.append([a * c for a, c in zip(*parts)])
                else:
                    rows.append([(a + c) / 2 for a, c in zip(*parts)])
            merged.append(rows)
        seqs = merged
        for hs, cs in finals:
            h_n.append(hs)
            c_n.append(cs)
    out = {"output": np.array(seqs)}
    d = 2 if bidirectional else 1
    if framework == "torch":
        out["h"] = np.array(h_n)  # (D·L, B, H_out)
        out["c"] = np.array(c_n) if cell == "lstm" else None
    else:
        last = (layers - 1) * d
        out["h"] = np.array(h_n[last])
        out["c"] = np.array(c_n[last]) if cell == "lstm" else None
        out["h_backward"] = np.array(h_n[last + 1]) if bidirectional else None
        out["c_backward"] = np.array(c_n[last + 1]) if bidirectional and cell == "lstm" else None
    return out


# --- configurations ------------------------------------------------------------------------------


def configs():
    out = []
    for framework in ("keras", "torch"):
        variants = [("lstm", {})]
        if framework == "torch":
            variants.append(("lstm", {"proj_size": P}))
        variants += [("gru", {"reset_after": True})]
        if framework == "keras":
            variants.append(("gru", {"reset_after": False}))
        variants += [("rnn", {"activation": "tanh"}), ("rnn", {"activation": "relu"})]
        for cell, extra in variants:
            for bias in (True, False):
                for layers, bidirectional in ((1, False), (2, False), (1, True), (2, True)):
                    merges = ("concat", "sum", "mul", "ave") if framework == "keras" and bidirectional else ("concat",)
                    for merge_mode in merges:
                        out.append(dict(cell=cell, framework=framework, bias=bias, layers=layers,
                                        bidirectional=bidirectional, merge_mode=merge_mode, **extra))
    return out


def config_id(c):
    parts = [c["framework"], c["cell"], f"L{c['layers']}"]
    if c["bidirectional"]:
        parts.append("bi-" + c["merge_mode"])
    if not c["bias"]:
        parts.append("nobias")
    if c.get("proj_size"):
        parts.append(f"proj{c['proj_size']}")
    if c["cell"] == "gru" and not c.get("reset_after", True):
        parts.append("reset-before")
    if c.get("activation") == "relu":
        parts.append("relu")
    return "-".join(parts)


CONFIGS = configs()


def forward(x, weights, **options):
    """lstmcalc's forward; for Keras with return_sequences and return_state unless told, so
    that the whole sequence and the states can be compared with the reference."""
    if options.get("framework", "keras") == "keras":
        options = {"return_sequences": True, "return_state": True, **options}
    return _forward(x, weights, **options)


def spec_of(c):
    kw = {k: v for k, v in c.items() if k in ("cell", "framework", "bias", "layers", "bidirectional", "proj_size")}
    if c["cell"] == "gru":
        kw["reset_after"] = c.get("reset_after", True)
    if c["cell"] == "rnn":
        kw["activation"] = c.get("activation", "tanh")
    if c["framework"] == "keras" and c.get("bidirectional"):
        kw["merge_mode"] = c.get("merge_mode", "concat")
    return make_spec(H, X, **kw)


from helpers import random_weights  # noqa: E402  (uniform in (-0.8, 0.8): each gate, bias and direction differs)


def case(c, seed=0, dtype=np.float64):
    spec = spec_of(c)
    weights = random_weights(spec, seed)
    x = np.random.default_rng(seed + 1000).uniform(-2, 2, (B, T, X)).astype(dtype)
    return spec, weights, x


def compare(result: ForwardResult, ref: dict, atol: float) -> None:
    for field in ("output", "h", "c", "h_backward", "c_backward"):
        got = getattr(result, field)
        want = ref.get(field)
        if want is None:
            assert got is None, field
            continue
        assert got.shape == want.shape, field
        np.testing.assert_allclose(got, want, rtol=0, atol=atol, err_msg=field)


# --- against the reference -------------------------------------------------------------------------


@pytest.mark.parametrize("c", CONFIGS, ids=config_id)
def test_numpy_matches_naive_reference_float64(c):
    spec, weights, x = case(c, seed=CONFIGS.index(c))
    result = forward(x, weights, **c)
    assert result.backend == "numpy"
    assert result.output.dtype == np.float64
    keras = c["framework"] == "keras"
    assert result.spec == replace(spec, batch=B, time=T, return_sequences=keras, return_state=keras)
    compare(result, reference(x, weights, **c), atol=1e-12)


@pytest.mark.parametrize("c", CONFIGS, ids=config_id)
def test_float32_close_to_float64_reference(c):
    _, weights, x = case(c, seed=CONFIGS.index(c))
    ref = reference(x, weights, **c)
    result = forward(x.astype(np.float32), weights, **c)
    assert result.output.dtype == np.float32 and result.h.dtype == np.float32
    compare(result, ref, atol=2e-6)


@pytest.mark.parametrize("c", CONFIGS, ids=config_id)
def test_numba_agrees_with_numpy(c, numba_path):
    _, weights, x = case(c, seed=CONFIGS.index(c))
    by_numpy = forward(x, weights, backend="numpy", **c)
    by_numba = forward(x, weights, backend="numba", **c)
    assert by_numba.backend == "numba"
    compare(by_numba, {f: getattr(by_numpy, f) for f in ("output", "h", "c", "h_backward", "c_backward")}, atol=1e-12)
    # float32: Numba's rational tanh (max abs error 4e-7) against the float64 reference
    ref = reference(x, weights, **c)
    compare(forward(x.astype(np.float32), weights, backend="numba", **c), ref, atol=5e-6)


def test_longer_sequences_and_batches_agree_between_backends(numba_path):
    """Several batch rows per Numba thread, odd sizes for the 4×4 blocking, T = 37."""
    rng = np.random.default_rng(7)
    for cell, framework, extra in (("lstm", "torch", {"proj_size": 5}), ("gru", "keras", {"reset_after": False}),
                                   ("gru", "torch", {}), ("rnn", "keras", {})):
        spec = make_spec(9, 7, cell=cell, framework=framework, layers=2, bidirectional=True, **extra)
        weights = {weights_key(spec, t): rng.uniform(-0.5, 0.5, t.shape) for t in all_tensors(spec)}
        x = rng.standard_normal((11, 37, 7))
        a = forward(x, weights, cell=cell, framework=framework, layers=2, bidirectional=True, backend="numpy", **extra)
        b = forward(x, weights, cell=cell, framework=framework, layers=2, bidirectional=True, backend="numba", **extra)
        np.testing.assert_allclose(b.output, a.output, rtol=0, atol=1e-12)
        np.testing.assert_allclose(b.h, a.h, rtol=0, atol=1e-12)


# --- layouts ---------------------------------------------------------------------------------------


def test_torch_state_layout_is_h_n_c_n():
    c = dict(cell="lstm", framework="torch", layers=2, bidirectional=True, proj_size=P)
    _, weights, x = case({**c, "bias": True}, seed=3)
    r = forward(x, weights, **c)
    assert r.output.shape == (B, T, 2 * P)
    assert r.h.shape == (4, B, P) and r.c.shape == (4, B, H)
    assert r.h_backward is None and r.c_backward is None
    np.testing.assert_array_equal(r.h[2], r.output[:, -1, :P])  # last layer, forward: its last step
    np.testing.assert_array_equal(r.h[3], r.output[:, 0, P:])  # last layer, backward: its step at t = 0


def test_keras_states_are_the_last_layers_return_state():
    c = dict(cell="lstm", framework="keras", layers=2, bidirectional=True)
    _, weights, x = case({**c, "bias": True}, seed=4)
    r = forward(x, weights, **c)
    assert r.output.shape == (B, T, 2 * H)
    assert r.h.shape == r.c.shape == r.h_backward.shape == r.c_backward.shape == (B, H)
    np.testing.assert_array_equal(r.h, r.output[:, -1, :H])
    np.testing.assert_array_equal(r.h_backward, r.output[:, 0, H:])


@pytest.mark.parametrize("merge_mode", ["sum", "mul", "ave"])
def test_keras_merged_output_keeps_h_features(merge_mode):
    c = dict(cell="gru", framework="keras", layers=2, bidirectional=True, merge_mode=merge_mode)
    _, weights, x = case({**c, "bias": True}, seed=5)
    r = forward(x, weights, **c)
    assert r.output.shape == (B, T, H)
    assert r.c is None and r.c_backward is None and r.h_backward.shape == (B, H)


def test_result_is_frozen():
    _, weights, x = case(dict(cell="rnn", framework="keras", bias=True, layers=1, bidirectional=False), seed=6)
    r = forward(x, weights, cell="rnn")
    with pytest.raises(AttributeError):
        r.output = None
    assert r.compile_ms == 0.0 and r.backend == "numpy"


def test_input_is_not_modified():
    _, weights, x = case(dict(cell="lstm", framework="torch", bias=True, layers=2, bidirectional=True), seed=8)
    x0, w0 = x.copy(), {k: v.copy() for k, v in weights.items()}
    forward(x, weights, framework="torch", layers=2, bidirectional=True)
    np.testing.assert_array_equal(x, x0)
    for k in weights:
        np.testing.assert_array_equal(weights[k], w0[k])


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), batch=st.integers(1, 4), time=st.integers(1, 6))
def test_forward_is_deterministic_and_batch_rows_are_independent(seed, batch, time):
    spec = make_spec(4, 3, cell="gru", framework="torch")
    weights = random_weights(spec, seed)
    x = np.random.default_rng(seed).standard_normal((batch, time, 3))
    a = forward(x, weights, cell="gru", framework="torch")
    b = forward(x, weights, cell="gru", framework="torch")
    np.testing.assert_array_equal(a.output, b.output)
    one = forward(x[-1:], weights, cell="gru", framework="torch")
    np.testing.assert_allclose(one.output[0], a.output[-1], rtol=0, atol=1e-15)


# --- numerical stability ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numpy", "numba-kernel", "numba-stepwise", "numba-units"])
@pytest.mark.parametrize("c", [
    dict(cell="lstm", framework="keras"), dict(cell="lstm", framework="torch", proj_size=P),
    dict(cell="gru", framework="keras", reset_after=False), dict(cell="gru", framework="torch"),
    dict(cell="rnn", framework="keras"), dict(cell="rnn", framework="torch", activation="relu"),
], ids=lambda c: "-".join(str(v) for v in c.values()))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_saturating_inputs_raise_no_warning_and_give_no_nan(c, backend, dtype, use_backend):
    backend = use_backend(backend)
    spec = make_spec(H, X, **c)
    weights = random_weights(spec, 11)
    x = np.where(np.random.default_rng(0).random((B, T, X)) < 0.5, -1e4, 1e4).astype(dtype)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        r = forward(x, weights, backend=backend, **c)
    assert np.isfinite(r.output).all() and np.isfinite(r.h).all()
    if c["cell"] != "rnn" or c.get("activation") != "relu":
        assert np.abs(r.output).max() <= 1.0 + 1e-6 or c.get("proj_size")


# --- bad input -------------------------------------------------------------------------------------


def lstm_case():
    return case(dict(cell="lstm", framework="torch", bias=True, layers=1, bidirectional=False), seed=12)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_in_x_is_refused(value):
    _, weights, x = lstm_case()
    x[1, 2, 0] = value
    with pytest.raises(SpecError) as e:
        forward(x, weights, framework="torch")
    assert e.value.param == "x"
    assert "NaN or inf" in str(e.value) and "(1, 2, 0)" in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("key", ["weight_ih_l0", "bias_hh_l0"])
def test_nan_or_inf_in_a_weight_names_the_tensor(key):
    _, weights, x = lstm_case()
    weights[key].flat[3] = np.inf
    with pytest.raises(SpecError, match=f"{key} holds 1 NaN or inf"):
        forward(x, weights, framework="torch")


@pytest.mark.parametrize("dtype", [np.int64, np.float16, np.complex128, bool])
def test_x_dtype_must_be_float32_or_float64(dtype):
    _, weights, x = lstm_case()
    with pytest.raises(SpecError, match=r"x: has dtype .*; allowed: float32 or float64"):
        forward(x.astype(dtype), weights, framework="torch")


def test_x_shape_errors():
    _, weights, x = lstm_case()
    with pytest.raises(SpecError, match=r"x: has shape \(2, 5\); allowed: \(batch, time, features\)"):
        forward(x[:, :, 0], weights, framework="torch")
    with pytest.raises(SpecError, match=r"x: has shape \(2, 0, 2\)"):
        forward(x[:, :0], weights, framework="torch")
    with pytest.raises(SpecError, match=r"x: has 3 features per step .* weight_ih_l0 takes input_size 2"):
        forward(np.zeros((2, 5, 3)), weights, framework="torch")


def test_options_must_agree_with_the_weights():
    _, weights, x = lstm_case()
    with pytest.raises(SpecError, match="layers: is 2, but the tensors describe 1 layer"):
        forward(x, weights, framework="torch", layers=2)
    with pytest.raises(SpecError, match="bidirectional: is True, but the tensors hold the forward direction only"):
        forward(x, weights, framework="torch", bidirectional=True)
    with pytest.raises(SpecError, match="weights: bias_ih_l0: unexpected"):
        forward(x, weights, framework="torch", bias=False)
    with pytest.raises(SpecError, match="cell: must be one of lstm, gru, rnn"):
        forward(x, weights, cell="LSTM", framework="torch")
    with pytest.raises(SpecError, match="backend: must be one of numpy, numba, auto"):
        forward(x, weights, framework="torch", backend="cuda")
    with pytest.raises(SpecError, match="reset_after: applies to --cell gru only"):
        forward(x, weights, framework="torch", reset_after=False)
    with pytest.raises(SpecError, match="weights: must be a mapping"):
        forward(x, list(weights.values()), framework="torch")


def test_gru_weights_are_not_an_lstm():
    spec = make_spec(H, X, cell="gru", framework="keras")
    with pytest.raises(SpecError, match=r"recurrent_kernel: shape \(3, 9\) holds 3 gate blocks .* not the 4 of an LSTM"):
        forward(np.zeros((1, 1, X)), random_weights(spec, 0), cell="lstm")


def test_numba_missing_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "numba", None)  # import numba -> ImportError
    monkeypatch.delitem(sys.modules, "lstmcalc._numba", raising=False)
    monkeypatch.delattr(lstmcalc, "_numba", raising=False)
    _, weights, x = lstm_case()
    with pytest.raises(SpecError, match=r"backend: numba is not installed; install it with pip install 'lstmcalc\[numba\]'"):
        forward(x, weights, framework="torch", backend="numba")
    assert forward(x, weights, framework="torch", backend="auto").backend == "numpy"


def test_auto_backend_is_numba_when_installed_for_small_and_large_steps():
    pytest.importorskip("numba")
    _, weights, x = lstm_case()
    r = forward(x, weights, framework="torch", backend="auto")
    assert r.backend == "numba" and r.compile_ms >= 0.0
    big = {"weight_ih_l0": np.zeros((4 * 300, 5)), "weight_hh_l0": np.zeros((4 * 300, 300))}
    assert forward(np.ones((64, 2, 5)), big, framework="torch", bias=False, backend="auto").backend == "numba"


# --- memory ----------------------------------------------------------------------------------------


def test_huge_layer_is_refused_from_its_estimate_alone():
    spec = make_spec(200_000, 200_000, batch=4096, time=4096)
    needed = estimate_bytes(spec, "float32")
    # projections alone: B·T·4H floats = 4096·4096·800000·4 bytes
    assert needed > 4096 * 4096 * 800_000 * 4 > memory.available_bytes()
    with pytest.raises(SizeError) as e:
        memory.check_memory(spec, "float32")
    message = str(e.value)
    assert "GiB" in message and "\n" not in message and e.value.needed == needed


def test_forward_checks_memory_before_allocating(monkeypatch):
    _, weights, x = lstm_case()
    monkeypatch.setattr(memory, "memory_limits", lambda: {"MemAvailable": 1000})
    monkeypatch.setattr(memory, "ALWAYS_FITS", 0)  # small passes skip reading /proc/meminfo
    with pytest.raises(SizeError, match=r"needs about 0\.00 GiB, more than the 0\.00 GiB of memory available"):
        forward(x, weights, framework="torch")


def test_estimate_counts_the_big_buffers():
    spec = make_spec(H, X, cell="lstm", framework="torch", batch=B, time=T, layers=2, bidirectional=True)
    parts = memory.estimate_elements(spec)
    assert parts["projections"] == B * T * 4 * H
    assert parts["input"] == 2 * B * T * X
    assert parts["sequences"] == 2 * B * T * 2 * H
    counts = [t.count for t in all_tensors(spec)]
    assert parts["weights"] == 2 * sum(counts)  # the caller's tensors and the prepared copies (tests/test_memory.py)
    overhead = (16 + 8 * 2 * 2) * 1024  # 16 KiB + 8 KiB per layer and direction
    assert estimate_bytes(spec, np.float64) - overhead == 2 * (estimate_bytes(spec, "float32") - overhead)
    assert estimate_bytes(spec, np.float64) == 8 * sum(parts.values()) + overhead


def test_numba_backend_works_in_a_forked_child():
    """The thread pool is per process: a child forked after a Numba pass gets its own."""
    pytest.importorskip("numba")
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    _, weights, x = case(dict(cell="gru", framework="torch", bias=True, layers=1, bidirectional=False), seed=13)
    x = np.repeat(x, 4, axis=0)  # 8 rows: split across threads
    parent = forward(x, weights, cell="gru", framework="torch", backend="numba")
    with multiprocessing.get_context("fork").Pool(1) as pool:
        child = pool.apply_async(_forward_in_child, (x, weights)).get(timeout=60)
    np.testing.assert_array_equal(child, parent.output)


def _forward_in_child(x, weights):
    return forward(x, weights, cell="gru", framework="torch", backend="numba").output
