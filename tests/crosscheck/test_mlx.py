"""lstmcalc's MLX convention against mlx itself (mlx.nn.LSTM, GRU, RNN): parameter names and
shapes, counts, outputs (float32, 1e-5) and the files MLX writes. Skips without mlx."""

from __future__ import annotations

import numpy as np
import pytest

mx = pytest.importorskip("mlx.core")
nn = pytest.importorskip("mlx.nn")
from mlx.utils import tree_flatten  # noqa: E402

import lstmcalc  # noqa: E402
from lstmcalc.cells import forward  # noqa: E402
from lstmcalc.converting import convert_weights  # noqa: E402
from lstmcalc.readers import read_layer  # noqa: E402

CLASSES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def build(cell, x, h, bias=True, seed=0, relu=False):
    mx.random.seed(seed)
    kwargs = {"nonlinearity": nn.relu} if relu else {}
    layer = getattr(nn, CLASSES[cell])(x, h, bias=bias, **kwargs)
    # every parameter drawn again from N(0, 0.5): different per gate and element
    rng = np.random.default_rng(seed)
    layer.update({k: mx.array(rng.normal(0, 0.5, size=v.shape).astype(np.float32))
                  for k, v in tree_flatten(layer.parameters())})
    return layer


def params(layer):
    return {k: np.array(v) for k, v in tree_flatten(layer.parameters())}


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("bias", [True, False])
def test_names_shapes_and_count(cell, bias):
    layer = build(cell, 5, 3, bias)
    p = params(layer)
    b = lstmcalc.breakdown(3, 5, cell=cell, framework="mlx", bias=bias)
    assert {t.name: t.shape for t in b.tensors} == {k: v.shape for k, v in p.items()}
    assert b.total == sum(v.size for v in p.values())


@pytest.mark.parametrize(("cell", "relu"), [("lstm", False), ("gru", False), ("rnn", False), ("rnn", True)])
@pytest.mark.parametrize("bias", [True, False])
def test_outputs_match_mlx(cell, relu, bias):
    layer = build(cell, 4, 3, bias, seed=1, relu=relu)
    x = np.random.default_rng(2).normal(size=(2, 6, 4)).astype(np.float32)
    got = layer(mx.array(x))
    hidden = np.array(got[0] if cell == "lstm" else got)
    ours = forward(x, params(layer), cell=cell, framework="mlx", bias=bias, activation="relu" if relu else "tanh")
    np.testing.assert_allclose(ours.output, hidden, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.h, hidden[:, -1], rtol=1e-5, atol=1e-5)
    if cell == "lstm":
        np.testing.assert_allclose(ours.c, np.array(got[1])[:, -1], rtol=1e-5, atol=1e-5)


def test_gru_bhn_counts_from_the_first_step():
    """mlx#3249: with bhn ≠ 0 and no hidden state, step 1 must include r ⊙ bhn."""
    layer = build("gru", 2, 3, seed=4)
    x = np.random.default_rng(5).normal(size=(1, 1, 2)).astype(np.float32)
    first = np.array(layer(mx.array(x)))[:, 0]
    ours = forward(x, params(layer), cell="gru", framework="mlx").output[:, 0]
    np.testing.assert_allclose(ours, first, rtol=1e-5, atol=1e-5)
    no_bhn = dict(params(layer), bhn=np.zeros(3, np.float32))
    assert np.abs(forward(x, no_bhn, cell="gru", framework="mlx").output[:, 0] - first).max() > 1e-3


@pytest.mark.parametrize("suffix", [".safetensors", ".npz"])
def test_files_mlx_writes(tmp_path, suffix):
    layer = build("gru", 4, 3, seed=6)
    path = tmp_path / f"w{suffix}"
    layer.save_weights(str(path))
    found = read_layer(path)
    assert (found.spec.framework, found.spec.cell, found.spec.units, found.spec.input_size) == ("mlx", "gru", 3, 4)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_torch_weights_converted_into_mlx_run_the_same(cell):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    mod = getattr(torch.nn, CLASSES[cell])(4, 3, batch_first=True)
    sd = {k: v.detach().numpy() for k, v in mod.state_dict().items()}
    x = np.random.default_rng(1).normal(size=(2, 5, 4)).astype(np.float32)
    want = mod(torch.from_numpy(x))[0].detach().numpy()
    layer = getattr(nn, CLASSES[cell])(4, 3)
    layer.update({k: mx.array(v) for k, v in convert_weights(sd, cell=cell, source="torch", target="mlx").items()})
    got = layer(mx.array(x))
    np.testing.assert_allclose(np.array(got[0] if cell == "lstm" else got), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_returned_is_what_mlx_returns(cell):
    """run's returned list (and breakdown's outputs) = mlx.nn.LSTM's (hidden, cell), every step
    of each, (B, T, H); GRU and RNN's hidden. float32, 1e-5 (issue 21)."""
    layer = build(cell, 4, 3, seed=3)
    x = np.random.default_rng(4).normal(size=(2, 6, 4)).astype(np.float32)
    got = layer(mx.array(x))
    real = [np.array(a) for a in got] if cell == "lstm" else [np.array(got)]
    ours = forward(x, params(layer), cell=cell, framework="mlx", backend="numpy")
    spec = lstmcalc.frameworks.make_spec(3, 4, cell=cell, framework="mlx", batch=2, time=6)
    assert [(n, a.shape) for n, a in ours.returned] == [(o.name, o.shape) for o in lstmcalc.frameworks.outputs(spec)]
    assert [a.shape for _, a in ours.returned] == [a.shape for a in real]
    for (_, a), want in zip(ours.returned, real):
        np.testing.assert_allclose(a, want, rtol=1e-5, atol=1e-5)
