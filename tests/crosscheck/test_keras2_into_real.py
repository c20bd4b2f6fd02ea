"""Keras 2 CuDNN weights (legacy .h5 built with h5py, see tests/frameworks/test_keras2.py)
converted by lstmcalc and loaded into the real PyTorch and Keras 3 layers: their outputs
equal cuDNN's equations in float64 NumPy (1e-5, float32 layers)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

from lstmcalc.converting import convert_weights  # noqa: E402
from lstmcalc.readers import read_layer  # noqa: E402
from tests.frameworks.test_keras2 import cudnn_params, cudnn_run, write_legacy_h5  # noqa: E402


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_into_torch(tmp_path, cell):
    rng = np.random.default_rng(11)
    dirs = [cudnn_params(cell, 3, 4, rng) for _ in range(2)]
    write_legacy_h5(tmp_path / "m.h5", cell, dirs)
    found = read_layer(tmp_path / "m.h5")
    sd = convert_weights(found.weights, cell=cell, source="keras2", target="torch")
    mod = getattr(torch.nn, cell.upper())(4, 3, batch_first=True, bidirectional=True)
    mod.load_state_dict({k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in sd.items()})
    xs = rng.normal(size=(2, 5, 4))
    with torch.no_grad():
        got = mod(torch.from_numpy(xs.astype(np.float32)))[0].numpy()
    want = np.concatenate([cudnn_run(cell, d, xs, reverse=k == 1)[0] for k, d in enumerate(dirs)], axis=-1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_into_keras3(tmp_path, cell):
    rng = np.random.default_rng(12)
    gates = cudnn_params(cell, 3, 4, rng)
    write_legacy_h5(tmp_path / "m.h5", cell, [gates])
    found = read_layer(tmp_path / "m.h5")
    w = convert_weights(found.weights, cell=cell, source="keras2", target="keras")
    layer = getattr(keras.layers, cell.upper())(3, return_sequences=True)
    xs = rng.normal(size=(2, 5, 4)).astype(np.float32)
    layer(xs)
    layer.set_weights([np.asarray(w[k], np.float32) for k in ("kernel", "recurrent_kernel", "bias")])
    got = keras.ops.convert_to_numpy(layer(xs))
    np.testing.assert_allclose(got, cudnn_run(cell, gates, xs.astype(np.float64))[0], rtol=1e-5, atol=1e-5)
