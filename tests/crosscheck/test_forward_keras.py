"""lstmcalc.forward against real Keras 3 layers: LSTM, GRU (reset_after both ways), SimpleRNN
(tanh, relu), Bidirectional with every merge mode, and stacks of them, each built with
``return_sequences=True, return_state=True`` and loaded with ``set_weights`` from the same
random dict ``forward`` gets. Every weight and bias is random and different per gate.

Tolerances (max abs error): float64 1e-12, float32 1e-5 — except where Keras itself is not
float64-accurate. Measured with KERAS_BACKEND=torch (Keras 3.15, torch 2.13): a float64
SimpleRNN is off by 1.2e-7 to 3.1e-7 and a float64 GRU with reset_after=False by 5e-8 to
7.8e-8, while LSTM and GRU(reset_after=True) agree to 2.5e-16. The cause: those two cells
call ``keras.ops.matmul``, whose result dtype comes from
``keras.src.backend.common.dtypes.result_type``, which does not know torch dtypes and falls
back to float32; LSTM and GRU(reset_after) go through ``backend.lstm``/``backend.gru``, which
use torch directly. Those two cells are therefore compared in float32 only, at 1e-5
(``test_keras_float64_is_float32_accurate_for_simple_rnn_and_reset_before_gru`` keeps the
measurement honest: it fails if Keras becomes float64-accurate there).
"""

from __future__ import annotations

import os
from dataclasses import replace

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from realfw import run_keras  # noqa: E402

from lstmcalc.cells import forward  # noqa: E402
from lstmcalc.frameworks import all_tensors, weights_key  # noqa: E402
from lstmcalc.frameworks import make_spec, outputs  # noqa: E402

B, T = 3, 6


def keras_float64_accurate(c) -> bool:
    """Measured (module docstring): Keras' float64 SimpleRNN and GRU(reset_after=False) are float32-accurate."""
    return c["cell"] == "lstm" or (c["cell"] == "gru" and c.get("reset_after", True))


def configs():
    out = []
    variants = [("lstm", {}), ("gru", {"reset_after": True}), ("gru", {"reset_after": False}),
                ("rnn", {"activation": "tanh"}), ("rnn", {"activation": "relu"})]
    for n, (cell, extra) in enumerate(variants):
        for layers, bidirectional, merge in ((1, False, None), (2, False, None), (1, True, "concat"), (1, True, "sum"),
                                             (2, True, "mul"), (2, True, "ave"), (2, True, "concat")):
            out.append(dict(cell=cell, units=3 + n % 3, input_size=2 + n % 2, layers=layers,
                            bidirectional=bidirectional, merge_mode=merge or "concat", bias=(layers + n) % 3 != 0,
                            **extra))
    return out


CONFIGS = configs()


def config_id(c):
    s = f"{c['cell']}-H{c['units']}-L{c['layers']}"
    if c["bidirectional"]:
        s += "-bi-" + c["merge_mode"]
    if not c["bias"]:
        s += "-nobias"
    if c["cell"] == "gru" and not c["reset_after"]:
        s += "-reset-before"
    if c.get("activation") == "relu":
        s += "-relu"
    return s


def spec_of(c):
    kw = dict(cell=c["cell"], framework="keras", layers=c["layers"], bidirectional=c["bidirectional"], bias=c["bias"])
    if c["bidirectional"]:
        kw["merge_mode"] = c["merge_mode"]
    if c["cell"] == "gru":
        kw["reset_after"] = c["reset_after"]
    if c["cell"] == "rnn":
        kw["activation"] = c["activation"]
    return make_spec(c["units"], c["input_size"], **kw)


from helpers import random_weights  # noqa: E402  (uniform in (-0.8, 0.8), per tensor)


def forward_options(c, return_sequences=True, return_state=True):
    options = {k: v for k, v in spec_of(c).to_dict().items()
               if k in ("cell", "framework", "layers", "bidirectional", "bias", "merge_mode", "reset_after", "activation")
               and not (k == "reset_after" and c["cell"] != "gru") and not (k == "activation" and c["cell"] != "rnn")}
    return {**options, "return_sequences": return_sequences, "return_state": return_state}


def check(c, dtype, atol, backend="numpy"):
    seed = CONFIGS.index(c)
    spec = spec_of(c)
    weights = random_weights(spec, seed)
    x = np.random.default_rng(seed + 99).uniform(-2, 2, (B, T, c["input_size"]))
    want = run_keras(c, weights, x, dtype)
    got = forward(x.astype(dtype), weights, backend=backend, **forward_options(c))
    for field, value in want.items():
        mine = getattr(got, field)
        if value is None:
            assert mine is None, field
            continue
        assert mine.shape == value.shape, field
        np.testing.assert_allclose(mine, value, rtol=0, atol=atol, err_msg=field)


@pytest.mark.parametrize("c", [c for c in CONFIGS if keras_float64_accurate(c)], ids=config_id)
def test_forward_matches_keras_float64(c):
    check(c, "float64", 1e-12)


@pytest.mark.parametrize("c", CONFIGS, ids=config_id)
def test_forward_matches_keras_float32(c):
    check(c, "float32", 1e-5)


@pytest.mark.parametrize("c", [c for c in CONFIGS if c["layers"] == 2 and c["bidirectional"]], ids=config_id)
def test_numba_backend_matches_keras(c, numba_path):
    if keras_float64_accurate(c):
        check(c, "float64", 1e-12, backend="numba")
    check(c, "float32", 1e-5, backend="numba")


@pytest.mark.parametrize("cell, extra", [("rnn", {"activation": "tanh"}), ("gru", {"reset_after": False})])
def test_keras_float64_is_float32_accurate_for_simple_rnn_and_reset_before_gru(cell, extra):
    """The measurement behind the float32-only comparisons: Keras' float64 result is off by
    more than float64 rounding (> 1e-10) but within float32 accuracy (< 1e-5)."""
    c = dict(cell=cell, units=5, input_size=3, layers=1, bidirectional=False, merge_mode="concat", bias=True, **extra)
    spec = spec_of(c)
    weights = random_weights(spec, 1)
    x = np.random.default_rng(2).uniform(-2, 2, (B, T, 3))
    want = run_keras(c, weights, x, "float64")
    got = forward(x, weights, **forward_options(c))
    assert want["output"].dtype == np.float64
    err = np.abs(got.output - want["output"]).max()
    assert 1e-10 < err < 1e-5


def test_keras_default_init_has_the_properties_init_weights_reproduces():
    """Keras' own LSTM init: glorot range, orthonormal recurrent rows, forget bias 1 — as init_weights makes them."""
    from lstmcalc.weights import init_weights

    layer = keras.layers.LSTM(6, dtype="float64")
    layer.build((1, 1, 4))
    kernel, recurrent, bias = (keras.ops.convert_to_numpy(w) for w in layer.weights)
    ours = init_weights(make_spec(6, 4), seed=0, dtype="float64")
    for theirs, mine in ((kernel, ours["kernel"]), (recurrent, ours["recurrent_kernel"]), (bias, ours["bias"])):
        assert theirs.shape == mine.shape
    limit = np.sqrt(6 / (4 + 24))
    assert np.abs(kernel).max() <= limit and np.abs(ours["kernel"]).max() <= limit
    for rk in (recurrent, ours["recurrent_kernel"]):
        np.testing.assert_allclose(rk @ rk.T, np.eye(6), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(bias, ours["bias"])  # zeros with the forget block at 1


# --- what the layer returns: return_sequences × return_state × bidirectional × merge × cell ------


RETURN_CONFIGS = [c for c in CONFIGS if c["layers"] == 1 or (c["bidirectional"] and c["merge_mode"] == "mul")]


@pytest.mark.parametrize("return_state", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("c", RETURN_CONFIGS, ids=config_id)
def test_returned_is_what_keras_returns(c, return_sequences, return_state):
    """``forward(...).returned`` is Keras' own list for the last layer's options: the same
    arrays, shapes and order (Bidirectional: output, h_fw, c_fw, h_bw, c_bw)."""
    seed = CONFIGS.index(c)
    spec = spec_of(c)
    weights = random_weights(spec, seed)
    x = np.random.default_rng(seed + 7).uniform(-2, 2, (B, T, c["input_size"]))
    dtype, atol = "float32", 1e-5
    want = run_keras(c, weights, x, dtype, last=dict(return_sequences=return_sequences, return_state=return_state))
    got = forward(x.astype(dtype), weights, **forward_options(c, return_sequences, return_state))
    names = [name for name, _ in got.returned]
    states = ["h", "c"] if c["cell"] == "lstm" else ["h"]
    if c["bidirectional"]:  # Keras' Bidirectional returns [output, *forward states, *backward states]
        states = [f"{s}_{side}" for side in ("fw", "bw") for s in states]
    expected = ["output"] + (states if return_state else [])
    assert names == expected
    listed = outputs(replace(spec, return_sequences=return_sequences, return_state=return_state, batch=B, time=T))
    assert [(o.name, o.shape) for o in listed] == [(n, a.shape) for n, a in got.returned]  # as breakdown lists them
    assert len(got.returned) == len(want)
    for (name, mine), theirs in zip(got.returned, want):
        assert mine.shape == theirs.shape, name
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=atol, err_msg=name)
    assert got.output is got.returned[0][1]
