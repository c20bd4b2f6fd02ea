"""``convert --to flax|flax_nnx|flax_nnx_opt -o out.msgpack`` (issue 23, item 3): the file is
restored with real flax (``flax.serialization.msgpack_restore``) and the real Flax cell runs
to the source framework's outputs (real PyTorch modules with random weights and biases;
float32, rtol = atol = 1e-5). Without flax: one line naming the extra, exit 1, nothing
written. Skips without flax or torch."""

from __future__ import annotations

import sys

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("flax")
torch = pytest.importorskip("torch")
from flax import linen, nnx, serialization, traverse_util  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from lstmcalc.cli import app  # noqa: E402

jnp = jax.numpy
X, H = 4, 3
F32 = dict(rtol=1e-5, atol=1e-5)


def _torch_file(tmp_path, cell, seed):
    """A torch module with every weight and bias random (b_hn zero for nnx's GRU, which has
    none), its state_dict as an .npz, and its output on a random batch."""
    torch.manual_seed(seed)
    mod = getattr(torch.nn, cell.upper())(X, H, batch_first=True)
    with torch.no_grad():
        for p in mod.parameters():
            p.uniform_(-0.8, 0.8)
    sd = {k: v.detach().numpy().copy() for k, v in mod.state_dict().items()}
    np.savez(tmp_path / f"{cell}.npz", **sd)
    xs = np.random.default_rng(seed).normal(size=(2, 5, X)).astype(np.float32)
    with torch.no_grad():
        want = mod(torch.from_numpy(xs))[0].numpy()
    return tmp_path / f"{cell}.npz", xs, want


def _convert(tmp_path, source, target):
    out = tmp_path / f"{target}.msgpack"
    result = CliRunner().invoke(app, ["convert", str(source), "--to", target, "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    return serialization.msgpack_restore(out.read_bytes())


@pytest.mark.parametrize(("cell", "cls"), [("lstm", "LSTMCell"), ("gru", "GRUCell"), ("rnn", "SimpleCell")])
def test_msgpack_for_linen_runs_as_torch(cell, cls, tmp_path):
    src, xs, want = _torch_file(tmp_path, cell, seed=1)
    tree = _convert(tmp_path, src, "flax")
    rnn = linen.RNN(getattr(linen, cls)(features=H))
    expected = rnn.init(jax.random.key(0), jnp.asarray(xs))["params"]["cell"]
    flat = traverse_util.flatten_dict(tree, sep="/")
    assert {k: np.shape(v) for k, v in flat.items()} == {
        k: np.shape(v) for k, v in traverse_util.flatten_dict(expected, sep="/").items()}
    outs = rnn.apply({"params": {"cell": tree}}, jnp.asarray(xs))
    np.testing.assert_allclose(np.asarray(outs), want, **F32)


@pytest.mark.parametrize(("target", "cls"), [("flax_nnx", "LSTMCell"), ("flax_nnx_opt", "OptimizedLSTMCell")])
def test_msgpack_for_nnx_runs_as_torch(target, cls, tmp_path):
    src, xs, want = _torch_file(tmp_path, "lstm", seed=2)
    tree = _convert(tmp_path, src, target)
    cell = getattr(nnx, cls)(X, H, rngs=nnx.Rngs(0))
    state = nnx.state(cell, nnx.Param)
    nnx.replace_by_pure_dict(state, tree)  # refuses a tree whose paths are not the cell's
    nnx.update(cell, state)
    outs = nnx.RNN(cell)(jnp.asarray(xs))
    np.testing.assert_allclose(np.asarray(outs), want, **F32)


def test_msgpack_refusals(tmp_path, monkeypatch):
    src, *_ = _torch_file(tmp_path, "lstm", seed=3)
    runner = CliRunner()
    out = tmp_path / "o.msgpack"
    result = runner.invoke(app, ["convert", str(src), "--to", "keras", "-o", str(out)])
    assert result.exit_code == 2 and result.stdout == "" and not out.exists()
    assert "--output/-o: " in result.stderr and "written for --to flax, flax_nnx, flax_nnx_opt" in result.stderr
    monkeypatch.setitem(sys.modules, "flax", None)  # as if flax were not installed: import flax fails
    result = runner.invoke(app, ["convert", str(src), "--to", "flax", "-o", str(out)])
    assert result.exit_code == 1 and result.stdout == "" and not out.exists()
    assert result.stderr == ("lstmcalc: error: --output: writing a .msgpack needs flax; install it with "
                             "pip install 'lstmcalc[flax]'\n")
