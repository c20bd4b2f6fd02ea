"""lstmcalc.forward against the real torch.nn.LSTM / GRU / RNN (batch_first=True).

Forty configurations drawn with a seeded generator: every cell, 1-3 layers, one or two
directions, bias or not, LSTM proj_size, RNN relu, odd sizes. Every weight and bias is
random and different per gate; bias_ih and bias_hh differ. The same dict is loaded into the
torch module with ``load_state_dict`` and given to ``forward``.

Tolerances (max abs error): float64 1e-12 (output, h_n, c_n); float32 1e-5.
"""

from __future__ import annotations

import numpy as np

import helpers
import pytest

torch = pytest.importorskip("torch")

from realfw import run_torch  # noqa: E402

from lstmcalc.cells import forward  # noqa: E402
from lstmcalc.frameworks import make_spec  # noqa: E402



def draw_configs(n=40, seed=2024):
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        cell = ("lstm", "gru", "rnn")[k % 3]
        units = int(rng.integers(2, 9))
        c = {
            "cell": cell,
            "units": units,
            "input_size": int(rng.integers(1, 7)),
            "layers": int(rng.integers(1, 4)),
            "bidirectional": bool((k // 3) % 2),  # cycles: every cell × direction × bias appears
            "bias": (k // 6) % 2 == 0,
            "batch": int(rng.integers(1, 5)),
            "time": int(rng.integers(1, 8)),
            "proj_size": int(rng.integers(1, units)) if cell == "lstm" and rng.random() < 0.4 else 0,
            "activation": ("tanh", "relu")[int(rng.integers(0, 2))] if cell == "rnn" else "tanh",
        }
        out.append(c)
    return out


CONFIGS = draw_configs()


def config_id(c):
    return (f"{c['cell']}-H{c['units']}-X{c['input_size']}-L{c['layers']}{'-bi' if c['bidirectional'] else ''}"
            f"{'' if c['bias'] else '-nobias'}{'-P' + str(c['proj_size']) if c['proj_size'] else ''}"
            f"{'-relu' if c['activation'] == 'relu' else ''}-B{c['batch']}-T{c['time']}")


def layer_options(c):
    opts = dict(cell=c["cell"], framework="torch", layers=c["layers"], bidirectional=c["bidirectional"],
                bias=c["bias"], proj_size=c["proj_size"])
    if c["cell"] == "rnn":
        opts["activation"] = c["activation"]
    return opts


def random_weights(c, seed):
    """Uniform in (-0.9, 0.9), every tensor drawn separately: gates, biases and directions differ."""
    spec = make_spec(c["units"], c["input_size"], cell=c["cell"], framework="torch", layers=c["layers"],
                     bidirectional=c["bidirectional"], bias=c["bias"], proj_size=c["proj_size"])
    return helpers.random_weights(spec, seed, bound=0.9)


def backends():
    try:
        import numba  # noqa: F401

        return ["numpy", "numba-kernel", "numba-stepwise", "numba-units"]
    except ImportError:
        return ["numpy"]


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize("dtype, atol", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("c", CONFIGS, ids=config_id)
def test_forward_matches_torch(c, dtype, atol, backend, use_backend):
    backend = use_backend(backend)  # "numba-kernel"/"numba-stepwise": one path of the Numba backend
    seed = CONFIGS.index(c)
    weights = random_weights(c, seed)
    x = np.random.default_rng(seed + 500).uniform(-2, 2, (c["batch"], c["time"], c["input_size"]))
    want_out, want_h, want_c = run_torch(c, weights, x, dtype)
    got = forward(x.astype(dtype), weights, backend=backend, **layer_options(c))
    d, h_out = (2 if c["bidirectional"] else 1), c["proj_size"] or c["units"]
    assert got.output.shape == want_out.shape == (c["batch"], c["time"], d * h_out)
    assert got.h.shape == want_h.shape == (d * c["layers"], c["batch"], h_out)
    assert got.output.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got.output, want_out, rtol=0, atol=atol)
    np.testing.assert_allclose(got.h, want_h, rtol=0, atol=atol)
    if c["cell"] == "lstm":
        assert got.c.shape == want_c.shape == (d * c["layers"], c["batch"], c["units"])
        np.testing.assert_allclose(got.c, want_c, rtol=0, atol=atol)
    else:
        assert got.c is None


def test_the_draw_covers_every_option():
    seen = {(c["cell"], c["bidirectional"], c["bias"]) for c in CONFIGS}
    assert len(seen) == 12  # 3 cells × both directions × bias or not
    assert any(c["proj_size"] and c["bidirectional"] and c["layers"] > 1 for c in CONFIGS)
    assert any(c["activation"] == "relu" for c in CONFIGS)
    assert {c["layers"] for c in CONFIGS} == {1, 2, 3}


def test_torch_default_init_distribution_matches_ours():
    """init_weights' PyTorch default: the same shapes and the same U(±1/√H) bound torch uses."""
    from lstmcalc.weights import init_weights

    spec = make_spec(16, 5, cell="lstm", framework="torch", layers=2, bidirectional=True, proj_size=4)
    ours = init_weights(spec, seed=0, dtype="float64")
    module = torch.nn.LSTM(5, 16, num_layers=2, bidirectional=True, proj_size=4, batch_first=True)
    theirs = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    assert list(ours) == list(theirs)
    for k in ours:
        assert ours[k].shape == theirs[k].shape
        assert np.abs(theirs[k]).max() <= 1 / np.sqrt(16) and np.abs(ours[k]).max() <= 1 / np.sqrt(16)
