"""Initial states and masked batches against real Keras 3 layers (torch backend).

The 35 configurations of test_forward_keras (LSTM, GRU both reset forms, SimpleRNN tanh and
relu; one layer, stacks, Bidirectional with every merge mode), each layer called as
``layer(x, mask=mask, initial_state=[...])`` with random states (a stack is L separate
layers, each given its own states and the same mask, as a Sequential propagates it) and a
mask ``t < lengths[b]``; lstmcalc runs ``forward(x, w, initial_state=..., lengths=...)``.
What Keras puts at masked steps (measured here, not assumed): one direction holds the last
unmasked output; Bidirectional outputs zeros.

Tolerances (max abs error): float32 1e-5 everywhere; float64 1e-12 for initial states
without a mask where Keras is float64-accurate (LSTM, reset-after GRU; see
test_forward_keras). With a mask Keras is float32-accurate even in float64, for every cell:
``keras.src.backend.torch.rnn.lstm``/``gru`` raise NotImplementedError for a mask
("Masking is not supported by either the cuDNN or fallback path"), so the layer falls back
to the generic loop, whose ``ops.matmul`` result type falls back to float32. Measured: 2.3e-9
to 4.9e-8 off on the LSTMs here (``test_keras_masked_float64_is_float32_accurate`` keeps the
measurement honest). The masked float64 semantics are checked at 1e-12 against PyTorch's
packed sequences in test_states_torch.py.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from test_forward_keras import (  # noqa: E402
    CONFIGS, config_id, forward_options, keras_float64_accurate, random_weights, spec_of,
)

from realfw import run_keras  # noqa: E402

from lstmcalc.cells import forward  # noqa: E402
from lstmcalc.frameworks import all_tensors, weights_key  # noqa: E402

B, T = 4, 6
LENGTHS = np.array([6, 3, 1, 5])


def draw(c, seed):
    """x (B, T, X) and every layer's initial states: {layer: [h, c] or [h_fw, c_fw, h_bw, c_bw]}."""
    rng = np.random.default_rng(seed + 300)
    x = rng.uniform(-2, 2, (B, T, c["input_size"]))
    n = (2 if c["cell"] == "lstm" else 1) * (2 if c["bidirectional"] else 1)
    states = [[rng.uniform(-1, 1, (B, c["units"])) for _ in range(n)] for _ in range(c["layers"])]
    return x, states


def ours(states, c, dtype):
    if states is None:
        return None
    cast = [[s.astype(dtype) for s in layer] for layer in states]
    return cast[0] if c["layers"] == 1 else cast


def check(c, dtype, atol, backend="numpy", lengths=LENGTHS, with_states=True):
    seed = CONFIGS.index(c)
    weights = random_weights(spec_of(c), seed)
    x, states = draw(c, seed)
    states = states if with_states else None
    want = run_keras(c, weights, x, dtype, states=states, lengths=lengths)
    got = forward(x.astype(dtype), weights, backend=backend, initial_state=ours(states, c, dtype), lengths=lengths,
                  **forward_options(c))
    for field, value in want.items():
        if value is None:
            assert getattr(got, field) is None, field
            continue
        np.testing.assert_allclose(getattr(got, field), value, rtol=0, atol=atol, err_msg=field)
    return got, want


@pytest.mark.parametrize("c", [c for c in CONFIGS if keras_float64_accurate(c)], ids=config_id)
def test_initial_state_matches_keras_float64(c):
    check(c, "float64", 1e-12, lengths=None)


@pytest.mark.parametrize("c", CONFIGS, ids=config_id)
def test_masking_and_initial_state_match_keras_float32(c):
    check(c, "float32", 1e-5)


@pytest.mark.parametrize("c", [c for c in CONFIGS if c["layers"] == 2], ids=config_id)
def test_numba_masking_and_initial_state_match_keras(c, numba_path):
    check(c, "float32", 1e-5, backend="numba")
    if keras_float64_accurate(c):
        check(c, "float64", 1e-12, backend="numba", lengths=None)


@pytest.mark.parametrize("c", [c for c in CONFIGS if c["cell"] == "lstm"][:4], ids=config_id)
def test_masking_alone_matches_keras_float32(c):
    check(c, "float32", 1e-5, with_states=False)


@pytest.mark.parametrize("c", [c for c in CONFIGS if c["cell"] == "lstm"], ids=config_id)
def test_keras_masked_float64_is_float32_accurate(c):
    """Fails if Keras' masked float64 LSTM becomes float64-accurate: then compare at 1e-12."""
    with pytest.raises(AssertionError):
        check(c, "float64", 1e-12)
    check(c, "float64", 1e-6)


def test_what_keras_returns_at_masked_steps():
    """The measurement behind keras.masked_output: one direction holds the last unmasked
    output (not zeros), Bidirectional outputs zeros; the states are those of each row's
    last unmasked step either way."""
    uni = next(c for c in CONFIGS if c["cell"] == "lstm" and c["layers"] == 1 and not c["bidirectional"])
    got, want = check(uni, "float32", 1e-5)
    r = 1  # length 3 of 6
    np.testing.assert_array_equal(want["output"][r, 3:], np.broadcast_to(want["output"][r, 2], (3, uni["units"])))
    np.testing.assert_allclose(want["h"][r], want["output"][r, 2], rtol=0, atol=0)
    bi = next(c for c in CONFIGS if c["cell"] == "lstm" and c["layers"] == 1 and c["bidirectional"])
    got, want = check(bi, "float32", 1e-5)
    assert not want["output"][r, 3:].any() and want["output"][r, :3].all()


def test_masking_layer_is_the_same_mask():
    """``keras.layers.Masking`` (padding = all-zero steps) gives what mask= gives."""
    c = next(c for c in CONFIGS if c["cell"] == "gru" and c["layers"] == 1 and not c["bidirectional"])
    seed = CONFIGS.index(c)
    weights = random_weights(spec_of(c), seed)
    x, _ = draw(c, seed)
    x[np.arange(T)[None, :] >= LENGTHS[:, None]] = 0.0
    layer = keras.layers.GRU(c["units"], use_bias=c["bias"], reset_after=c["reset_after"], return_sequences=True)
    model = keras.Sequential([keras.Input((T, c["input_size"])), keras.layers.Masking(0.0), layer])
    layer.set_weights([weights[weights_key(spec_of(c), t)].astype("float32") for t in all_tensors(spec_of(c))])
    want = keras.ops.convert_to_numpy(model(x.astype("float32")))
    got = forward(x.astype("float32"), weights, lengths=LENGTHS, **forward_options(c))
    np.testing.assert_allclose(got.output, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_keras_last_output_under_a_mask_is_the_final_state(bidirectional):
    """return_sequences=False with a mask returns each row's last real output, which is
    forward's h (and h_backward): not output[:, -1], which is zeros under Bidirectional."""
    c = next(c for c in CONFIGS if c["cell"] == "lstm" and c["layers"] == 1 and c["bidirectional"] == bidirectional
             and c["merge_mode"] == "concat")
    seed = CONFIGS.index(c)
    spec = spec_of(c)
    weights = random_weights(spec, seed)
    x, _ = draw(c, seed)
    rnn = keras.layers.LSTM(c["units"], use_bias=c["bias"], return_sequences=False, dtype="float32")
    halves = [(rnn, "forward")]
    if bidirectional:
        rnn = keras.layers.Bidirectional(rnn, dtype="float32")
        halves = [(rnn.forward_layer, "forward"), (rnn.backward_layer, "backward")]
    rnn.build((B, T, c["input_size"]))
    for part, direction in halves:
        part.set_weights([weights[weights_key(spec, t)].astype("float32")
                          for t in all_tensors(spec) if t.direction == direction])
    mask = np.arange(T)[None, :] < LENGTHS[:, None]
    last = keras.ops.convert_to_numpy(rnn(x.astype("float32"), mask=mask))
    got = forward(x.astype("float32"), weights, lengths=LENGTHS, **forward_options(c))
    want = np.concatenate([got.h, got.h_backward], axis=1) if bidirectional else got.h
    np.testing.assert_allclose(last, want, rtol=0, atol=1e-5)
    short = LENGTHS < T
    if bidirectional:
        assert not got.output[short, -1].any() and np.abs(last[short]).min() > 0


def test_keras_functional_initial_state_inputs_drop_the_masking_mask():
    """Measured, Keras 3.15 torch backend: in a functional Model, Masking followed by a layer
    called with initial_state=[keras.Input, keras.Input] runs unmasked (the outputs at
    padded steps move on), while the same layer called on arrays with mask= holds them.
    lstmcalc follows the masked behaviour; this test fails if Keras changes."""
    c = next(c for c in CONFIGS if c["cell"] == "lstm" and c["layers"] == 1 and not c["bidirectional"])
    spec = spec_of(c)
    weights = random_weights(spec, 0)
    x, states = draw(c, 0)
    x[np.arange(T)[None, :] >= LENGTHS[:, None]] = 0.0
    inp, h0, c0 = keras.Input((T, c["input_size"])), keras.Input((c["units"],)), keras.Input((c["units"],))
    layer = keras.layers.LSTM(c["units"], use_bias=c["bias"], return_sequences=True)
    model = keras.Model([inp, h0, c0], layer(keras.layers.Masking(0.0)(inp), initial_state=[h0, c0]))
    layer.set_weights([weights[weights_key(spec, t)].astype("float32") for t in all_tensors(spec)])
    functional = keras.ops.convert_to_numpy(model([x.astype("float32")] + [s.astype("float32") for s in states[0]]))
    got = forward(x.astype("float32"), weights, lengths=LENGTHS, initial_state=[s.astype("float32") for s in states[0]],
                  **forward_options(c))
    unmasked = forward(x.astype("float32"), weights, initial_state=[s.astype("float32") for s in states[0]],
                       **forward_options(c))
    np.testing.assert_allclose(functional, unmasked.output, rtol=0, atol=1e-5)  # the mask was dropped
    assert np.abs(functional - got.output).max() > 1e-3
