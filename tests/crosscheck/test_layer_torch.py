"""A prepared layer (lstmcalc.prepare) against the real torch.nn.LSTM / GRU / RNN, the way
benchmarks/forward.py times them: one module call on the whole sequence, and a stream of
one-step calls, each from the previous call's states (module(x_t, hx) in torch,
layer(x_t, initial_state=state) here). The forty configurations of test_forward_torch
(unidirectional ones for the stream: a bidirectional layer cannot stream), float32 (what
the benchmark runs) at 1e-5 and float64 at 1e-12, every backend path.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from realfw import run_torch, torch_module  # noqa: E402
from test_forward_torch import CONFIGS, backends, config_id, layer_options, random_weights  # noqa: E402

import lstmcalc  # noqa: E402


def module_of(c, weights, dtype):
    module = torch_module(c).to(getattr(torch, dtype))
    module.load_state_dict({k: torch.from_numpy(v.astype(dtype)) for k, v in weights.items()}, strict=True)
    return module


def states_of(c, states):
    return (states[0].numpy(), states[1].numpy()) if c["cell"] == "lstm" else (states.numpy(), None)


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize("dtype, atol", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("c", CONFIGS, ids=config_id)
def test_a_prepared_layer_matches_the_torch_module(c, dtype, atol, backend, use_backend):
    backend = use_backend(backend)
    seed = CONFIGS.index(c)
    weights = random_weights(c, seed)
    x = np.random.default_rng(seed + 5).uniform(-2, 2, (c["batch"], c["time"], c["input_size"])).astype(dtype)
    layer = lstmcalc.prepare(weights, backend=backend, **layer_options(c))
    out, h_n, c_n = run_torch(c, weights, x, dtype)
    got = layer(x)
    np.testing.assert_allclose(got.output, out, rtol=0, atol=atol)
    np.testing.assert_allclose(got.h, h_n, rtol=0, atol=atol)
    if c_n is not None:
        np.testing.assert_allclose(got.c, c_n, rtol=0, atol=atol)


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize("c", [c for c in CONFIGS if not c["bidirectional"]][:16], ids=config_id)
def test_a_stream_of_one_step_calls_matches_the_torch_module(c, backend, use_backend):
    backend = use_backend(backend)
    seed = CONFIGS.index(c)
    weights = random_weights(c, seed)
    x = np.random.default_rng(seed + 7).uniform(-2, 2, (c["batch"], c["time"], c["input_size"])).astype(np.float32)
    module = module_of(c, weights, "float32")
    layer = lstmcalc.prepare(weights, backend=backend, **layer_options(c))
    hx, state, outs, want = None, None, [], []
    with torch.no_grad():
        for t in range(c["time"]):
            out, hx = module(torch.from_numpy(x[:, t : t + 1]), hx)
            want.append(out.numpy())
            r = layer(x[:, t : t + 1], initial_state=state)
            state = r.state
            outs.append(r.output)
    np.testing.assert_allclose(np.concatenate(outs, axis=1), np.concatenate(want, axis=1), rtol=0, atol=1e-5)
    h_n, c_n = states_of(c, hx)
    np.testing.assert_allclose(r.h, h_n, rtol=0, atol=1e-5)
    if c_n is not None:
        np.testing.assert_allclose(r.c, c_n, rtol=0, atol=1e-5)
