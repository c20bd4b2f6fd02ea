"""lstmcalc.prepare(...) -> Layer, called as layer(x) (issue 17).

A layer's call must return exactly what ``forward(x, weights, **options)`` returns (the
same arithmetic: bitwise equal), for every registered framework and cell, stacks and
bidirectional layers, both dtypes and every backend path; it keeps its own copy of the
weights; it refuses bad inputs like forward does. ``forward`` itself is compared with the
real frameworks in tests/crosscheck/ (and the layer with torch.nn.LSTM in
tests/crosscheck/test_layer_torch.py). "auto" is checked in fresh processes: it must not
import Numba, or compile, for a small call.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import lstmcalc
from lstmcalc.cells import AUTO_COLD_MS, Layer, forward
from lstmcalc.frameworks import all_tensors, weights_key
from lstmcalc.frameworks import FRAMEWORKS, get, make_spec
from lstmcalc.spec import SpecError

B, T, X, H = 3, 5, 2, 4


def _cases():
    out = []
    for fw in FRAMEWORKS:
        for cell in get(fw).CELLS:
            for layers, bidirectional in ((1, False), (2, True)):
                try:
                    make_spec(H, X, cell=cell, framework=fw, layers=layers, bidirectional=bidirectional)
                except SpecError:
                    continue  # the framework has no such layer (its module says why)
                out.append((fw, cell, layers, bidirectional))
    return out


CASES = _cases()


def setup(fw, cell, layers, bidirectional, seed=0):
    spec = make_spec(H, X, cell=cell, framework=fw, layers=layers, bidirectional=bidirectional)
    rng = np.random.default_rng(seed)
    weights = {weights_key(spec, t): rng.uniform(-0.8, 0.8, t.shape) for t in all_tensors(spec)}
    opts = dict(cell=cell, framework=fw, layers=layers, bidirectional=bidirectional)
    if fw == "keras":
        opts.update(return_sequences=True, return_state=True)
    return weights, opts, rng


def same(a, b):
    assert a.backend == b.backend
    assert [n for n, _ in a.returned] == [n for n, _ in b.returned]
    for (name, x), (_, y) in zip(a.returned, b.returned):
        assert x.dtype == y.dtype and x.shape == y.shape, name
        np.testing.assert_array_equal(x, y, err_msg=name)


def test_the_cases_cover_every_framework():
    assert {c[0] for c in CASES} == set(FRAMEWORKS)
    assert len(CASES) >= 2 * len(FRAMEWORKS)


@pytest.mark.parametrize("backend", ["numpy", "numba-kernel", "numba-stepwise", "numba-units"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(map(str, c)))
def test_a_layer_call_equals_forward(case, backend, use_backend):
    backend = use_backend(backend)
    weights, opts, rng = setup(*case)
    if backend == "numba" and case[0] == "mlx" and case[1] == "lstm":  # MLX's LSTM returns every step's c
        with pytest.raises(lstmcalc.SpecError, match="every step's"):
            lstmcalc.prepare(weights, backend=backend, **opts)
        return
    layer = lstmcalc.prepare(weights, backend=backend, **opts)
    assert isinstance(layer, Layer)
    for dtype, (b, t) in (("float32", (B, T)), ("float64", (B, T)), ("float32", (1, 1)), ("float64", (2, 9))):
        x = rng.uniform(-2, 2, (b, t, X)).astype(dtype)
        got, want = layer(x), forward(x, weights, backend=backend, **opts)
        same(got, want)
        assert got.spec == want.spec and (got.spec.batch, got.spec.time) == (b, t)


@pytest.mark.parametrize("fw", ["keras", "torch", "onnx"])
def test_a_layer_call_with_states_and_lengths_equals_forward(fw):
    weights, opts, rng = setup(fw, "lstm", 2, False)
    layer = lstmcalc.prepare(weights, **opts)
    x = rng.uniform(-2, 2, (B, T, X))
    first = forward(x, weights, **opts)
    lengths = [T, 2, 1]
    same(layer(x, initial_state=first.state, lengths=lengths),
         forward(x, weights, initial_state=first.state, lengths=lengths, **opts))


def test_the_layer_keeps_its_own_weights():
    weights, opts, rng = setup("torch", "gru", 1, False)
    kept = {k: v.copy() for k, v in weights.items()}
    layer = lstmcalc.prepare(weights, **opts)
    x = rng.uniform(-2, 2, (B, T, X))
    for v in weights.values():
        v *= -3.0  # the caller changes its arrays in place afterwards
    same(layer(x), forward(x, kept, **opts))
    assert not np.array_equal(layer(x).output, forward(x, weights, **opts).output)


def test_streaming_one_step_at_a_time_equals_one_call():
    weights, opts, rng = setup("torch", "lstm", 2, False)
    layer = lstmcalc.prepare(weights, **opts)
    x = rng.uniform(-2, 2, (B, 40, X))
    whole = layer(x)
    state, outs = None, []
    for t in range(40):
        r = layer(x[:, t : t + 1], initial_state=state)
        state = r.state
        outs.append(r.output)
    np.testing.assert_allclose(np.concatenate(outs, axis=1), whole.output, rtol=0, atol=1e-12)
    np.testing.assert_allclose(state[0], whole.h, rtol=0, atol=1e-12)
    np.testing.assert_allclose(state[1], whole.c, rtol=0, atol=1e-12)


def test_a_layer_refuses_what_forward_refuses():
    weights, opts, _ = setup("keras", "lstm", 1, False)
    layer = lstmcalc.prepare(weights, **opts)
    cases = [
        (np.zeros((B, T, X + 1)), "x", "has 3 features per step"),
        (np.zeros((B, T)), "x", "3 dimensions"),
        (np.zeros((B, 0, X)), "x", "must all be >= 1"),
        (np.zeros((B, T, X), dtype=np.int64), "x", "allowed: float32 or float64"),
        (np.full((B, T, X), np.nan), "x", "NaN or inf"),
    ]
    for x, param, words in cases:
        with pytest.raises(SpecError) as e:
            layer(x)
        assert e.value.param == param and words in str(e.value)
        with pytest.raises(SpecError) as f:
            forward(x, weights, **opts)
        assert str(f.value) == str(e.value)
    with pytest.raises(SpecError) as e:
        layer(np.zeros((B, T, X)), lengths=[T + 1, 1, 1])
    assert e.value.param == "lengths"
    bad = {**weights, "bias": np.full_like(weights["bias"], np.inf)}
    with pytest.raises(SpecError) as e:
        lstmcalc.prepare(bad, **opts)
    assert e.value.param == "weights" and "bias holds" in str(e.value)
    with pytest.raises(SpecError) as e:
        lstmcalc.prepare(weights, backend="fast", **opts)
    assert e.value.param == "backend"


def test_a_list_input_is_converted_like_forward():
    weights, opts, rng = setup("torch", "rnn", 1, False)
    x = rng.uniform(-2, 2, (B, T, X))
    same(lstmcalc.prepare(weights, **opts)(x.tolist()), forward(x, weights, **opts))


def _fresh(code: str) -> str:
    """Run ``code`` in a fresh Python process (no kernels loaded) and return its stdout."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


SMALL = """
    import sys
    import numpy as np
    import lstmcalc
    w = {"kernel": np.full((1, 8), 0.1), "recurrent_kernel": np.full((2, 8), 0.2), "bias": np.zeros(8)}
    x = np.ones((1, 3, 1), dtype=np.float32)
"""


def test_auto_runs_numpy_and_imports_no_numba_for_a_small_cold_call():
    pytest.importorskip("numba")
    out = _fresh(SMALL + """
    r = lstmcalc.forward(x, w, backend="auto")
    print(r.backend, r.compile_ms, "numba" in sys.modules, "lstmcalc._numba" in sys.modules)
    """)
    assert out == "numpy 0.0 False False"


def test_auto_uses_numba_once_the_layer_compiled_its_kernels():
    pytest.importorskip("numba")
    out = _fresh(SMALL + """
    layer = lstmcalc.prepare(w, backend="auto")
    before = layer(x)
    ms = layer.compile(batch=1, time=3, dtype="float32")
    after = layer(x)
    other = lstmcalc.forward(x, w, backend="auto")
    x64 = layer(x.astype(np.float64))  # float64 kernels are not compiled: NumPy
    print(before.backend, ms > 0, after.backend, after.compile_ms, other.backend, x64.backend)
    np.testing.assert_allclose(after.output, before.output, rtol=0, atol=1e-6)
    """)
    assert out == "numpy True numba 0.0 numba numpy"


def test_auto_compiles_for_a_call_far_longer_than_a_cold_compile(monkeypatch):
    pytest.importorskip("numba")
    import lstmcalc.cells as cells

    weights, opts, rng = setup("torch", "lstm", 1, False)
    monkeypatch.setattr(cells, "AUTO_COLD_MS", 0.0)  # every call counts as long
    assert lstmcalc.prepare(weights, backend="auto", **opts)(rng.uniform(-1, 1, (B, T, X))).backend == "numba"
    assert AUTO_COLD_MS >= 4 * 15_000  # 4x the longest cold first call measured (15 s)


def test_the_units_path_is_taken_where_its_rule_says(monkeypatch):
    """Which layers the Numba backend splits by hidden units (two threads meeting every
    step); its results equal the other paths' in every test run with "numba-units"."""
    nb = pytest.importorskip("lstmcalc._numba")
    monkeypatch.setattr(nb, "threads", lambda: 2)
    from lstmcalc.prepared import prepare_canonical

    def parts(units, batch, t_len, cell="lstm", lens=None, **options):
        spec = make_spec(units, 64, cell=cell, framework="torch", **options)
        rng = np.random.default_rng(0)
        w = {weights_key(spec, t): rng.uniform(-0.1, 0.1, t.shape) for t in all_tensors(spec)}
        p = prepare_canonical(get("torch").to_canonical(w, spec), spec, np.float32)[0][0]
        return nb.units_parts(spec, p, batch, t_len, lens)

    assert parts(128, 1, 500) == [(0, 2, 0, 64), (1, 2, 64, 128)]
    assert parts(128, 2, 300) == [(0, 2, 0, 64), (1, 2, 64, 128)]
    assert parts(128, 3, 500) == []  # more rows: the row-split kernels
    assert parts(128, 1, 500, cell="gru") == []
    assert parts(128, 1, 500, proj_size=32) == []
    assert parts(128, 1, 500, lens=np.array([400])) == []
    assert parts(128, 1, 10) == []  # too little work for a hand-off
    assert parts(32, 1, 5000) == []  # fewer than 32 units a thread


def test_compile_refuses_sizes_that_are_not_whole_numbers():
    pytest.importorskip("numba")
    weights, opts, _ = setup("torch", "lstm", 1, False)
    layer = lstmcalc.prepare(weights, **opts)
    for kw in ({"batch": 0}, {"time": -1}, {"batch": 1.5}, {"time": True}, {"dtype": "int8"}, {"dtype": "nonsense"}):
        with pytest.raises(SpecError) as e:
            layer.compile(**kw)
        assert e.value.param == next(iter(kw))
