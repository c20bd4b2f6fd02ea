"""Model files whose recurrent layer sits under module prefixes, as the frameworks write
them for a whole model (issue 16: Flax trees nested under the module's path (``params/LSTMCell_0/``), MLX
``model.save_weights`` of a model holding ``self.lstm``), beside a Dense/Linear head:
``read_layers`` finds the recurrent layer by its prefix and leaves the head out, and the
weights converted to PyTorch run in the real torch.nn.LSTM to the real framework's outputs
(float32, 1e-5). Skips the part whose framework is not installed."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lstmcalc.converting import convert_weights  # noqa: E402
from lstmcalc.readers import read_layers  # noqa: E402

X, H = 4, 3


def torch_lstm_outputs(weights, xs):
    module = torch.nn.LSTM(X, H, batch_first=True)
    module.load_state_dict({k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in weights.items()})
    with torch.no_grad():
        out, _ = module(torch.from_numpy(xs))
    return out.numpy()


def test_a_flax_model_tree_with_a_head(tmp_path):
    jax = pytest.importorskip("jax")
    pytest.importorskip("flax")
    from flax import linen, serialization, traverse_util

    class Model(linen.Module):
        @linen.compact
        def __call__(self, xs):
            hs = linen.RNN(linen.LSTMCell(features=H))(xs)
            return linen.Dense(1)(hs), hs

    xs = np.random.default_rng(3).normal(size=(2, 6, X)).astype(np.float32)
    variables = Model().init(jax.random.key(0), xs)
    rng = np.random.default_rng(4)  # every leaf drawn again: biases differ per gate
    flat = {k: rng.normal(0, 0.5, size=np.shape(v)).astype(np.float32)
            for k, v in traverse_util.flatten_dict(variables, sep="/").items()}
    prefix = next(k for k in flat if k.endswith("/ii/kernel"))[: -len("/ii/kernel")]  # where linen put the cell
    assert prefix.startswith("params/") and prefix.count("/") >= 1 and "params/Dense_0/kernel" in flat
    tree = traverse_util.unflatten_dict({tuple(k.split("/")): jax.numpy.asarray(v) for k, v in flat.items()})
    _, want = Model().apply(tree, xs)
    np.savez(tmp_path / "model.npz", **flat)
    (tmp_path / "model.msgpack").write_bytes(serialization.msgpack_serialize(
        traverse_util.unflatten_dict({tuple(k.split("/")): v for k, v in flat.items()})))
    for name in ("model.npz", "model.msgpack"):
        found = read_layers(tmp_path / name)
        assert [(f.name, f.spec.framework, f.spec.cell, f.spec.units, f.spec.input_size) for f in found] == [
            (prefix if name.endswith("npz") else prefix[len("params/"):], "flax", "lstm", H, X)]
        weights = convert_weights(found[0].weights, cell="lstm", source="flax", target="torch")
        np.testing.assert_allclose(torch_lstm_outputs(weights, xs), np.asarray(want), rtol=1e-5, atol=1e-5)


def test_an_mlx_model_with_a_head(tmp_path):
    mx = pytest.importorskip("mlx.core")
    nn = pytest.importorskip("mlx.nn")
    from mlx.utils import tree_flatten

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(X, H)
            self.head = nn.Linear(H, 1)

        def __call__(self, xs):
            hs, _ = self.lstm(xs)
            return self.head(hs), hs

    model = Model()
    rng = np.random.default_rng(5)
    model.update(tree_flatten_to_tree({k: mx.array(rng.normal(0, 0.5, size=v.shape).astype(np.float32))
                                       for k, v in tree_flatten(model.parameters())}))
    xs = np.random.default_rng(6).normal(size=(2, 6, X)).astype(np.float32)
    _, want = model(mx.array(xs))
    for name in ("model.safetensors", "model.npz"):
        model.save_weights(str(tmp_path / name))
        found = read_layers(tmp_path / name)
        assert [(f.name, f.spec.framework, f.spec.cell, f.spec.units, f.spec.input_size) for f in found] == [
            ("lstm", "mlx", "lstm", H, X)]
        weights = convert_weights(found[0].weights, cell="lstm", source="mlx", target="torch")
        np.testing.assert_allclose(torch_lstm_outputs(weights, xs), np.array(want), rtol=1e-5, atol=1e-5)


def tree_flatten_to_tree(flat: dict):
    from mlx.utils import tree_unflatten

    return tree_unflatten(list(flat.items()))
