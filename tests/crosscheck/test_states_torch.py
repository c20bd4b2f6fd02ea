"""Initial states and padded batches against the real torch.nn.LSTM / GRU / RNN.

The forty configurations of test_forward_torch (every cell, 1-3 layers, both directions,
bias or not, proj_size, relu), with random h0/c0 and random lengths (one row always full
length, one as short as 1 where B > 1): torch runs ``pack_padded_sequence(x, lengths,
batch_first=True, enforce_sorted=False)`` then ``pad_packed_sequence(..., batch_first=True,
total_length=T)``; lstmcalc runs ``forward(x, w, initial_state=(h0, c0), lengths=...)``.
Both backends, both Numba paths. Tolerances (max abs error): float64 1e-12, float32 1e-5.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from realfw import run_torch  # noqa: E402
from test_forward_torch import CONFIGS, backends, config_id, layer_options, random_weights  # noqa: E402

from lstmcalc.cells import forward  # noqa: E402


def draw(c, seed):
    """x (B, T, X), h0 (D·L, B, H_out), c0 (D·L, B, H), lengths (B,) for configuration c."""
    rng = np.random.default_rng(seed + 900)
    b, t = c["batch"], c["time"]
    d = 2 if c["bidirectional"] else 1
    x = rng.uniform(-2, 2, (b, t, c["input_size"]))
    h0 = rng.uniform(-1, 1, (d * c["layers"], b, c["proj_size"] or c["units"]))
    c0 = rng.uniform(-1, 1, (d * c["layers"], b, c["units"]))
    lengths = rng.integers(1, t + 1, b)
    lengths[0] = t  # pad_packed_sequence pads to the longest; total_length=T makes that moot
    if b > 1:
        lengths[-1] = 1
    return x, h0, c0, lengths


def hx_of(c, h0, c0, dtype):
    h = torch.from_numpy(h0.astype(dtype))
    return (h, torch.from_numpy(c0.astype(dtype))) if c["cell"] == "lstm" else h


def ours_of(c, h0, c0, dtype):
    return (h0.astype(dtype), c0.astype(dtype)) if c["cell"] == "lstm" else h0.astype(dtype)


def compare(got, want, atol):
    out, h_n, c_n = want
    np.testing.assert_allclose(got.output, out, rtol=0, atol=atol, err_msg="output")
    np.testing.assert_allclose(got.h, h_n, rtol=0, atol=atol, err_msg="h_n")
    if c_n is not None:
        np.testing.assert_allclose(got.c, c_n, rtol=0, atol=atol, err_msg="c_n")


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize("dtype, atol", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("c", CONFIGS, ids=config_id)
def test_packed_sequences_with_h0_match_torch(c, dtype, atol, backend, use_backend):
    backend = use_backend(backend)
    seed = CONFIGS.index(c)
    weights = random_weights(c, seed)
    x, h0, c0, lengths = draw(c, seed)
    want = run_torch(c, weights, x, dtype, hx=hx_of(c, h0, c0, dtype), lengths=lengths)
    got = forward(x.astype(dtype), weights, backend=backend, initial_state=ours_of(c, h0, c0, dtype),
                  lengths=lengths, **layer_options(c))
    compare(got, want, atol)
    short = lengths < c["time"]
    if short.any():  # pad_packed_sequence's zeros are there, and the state is not output[:, -1]
        r = int(np.flatnonzero(short)[0])
        assert not got.output[r, lengths[r]:].any()


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize("c", [c for c in CONFIGS if c["batch"] > 1][:12], ids=config_id)
def test_packed_sequences_from_zero_states_match_torch(c, backend, use_backend):
    backend = use_backend(backend)
    seed = CONFIGS.index(c)
    weights = random_weights(c, seed)
    x, _, _, lengths = draw(c, seed)
    want = run_torch(c, weights, x, "float64", lengths=lengths)
    got = forward(x, weights, backend=backend, lengths=lengths, **layer_options(c))
    compare(got, want, 1e-12)


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize("c", CONFIGS[:12], ids=config_id)
def test_h0_without_lengths_matches_torch(c, backend, use_backend):
    backend = use_backend(backend)
    seed = CONFIGS.index(c)
    weights = random_weights(c, seed)
    x, h0, c0, _ = draw(c, seed)
    want = run_torch(c, weights, x, "float64", hx=hx_of(c, h0, c0, "float64"))
    got = forward(x, weights, backend=backend, initial_state=ours_of(c, h0, c0, "float64"), **layer_options(c))
    compare(got, want, 1e-12)
