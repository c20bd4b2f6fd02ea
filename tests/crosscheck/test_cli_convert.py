"""End to end: a real torch.save'd GRU state_dict, converted by the command line, loaded into a
real Keras GRU, gives the same outputs (float64, <= 1e-12)."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

from typer.testing import CliRunner  # noqa: E402

from lstmcalc.cli import app  # noqa: E402


def test_torch_gru_file_to_keras(tmp_path):
    torch.manual_seed(0)
    h, x, b, t = 3, 2, 4, 5
    gru = torch.nn.GRU(x, h, batch_first=True).double()
    with torch.no_grad():
        for p in gru.parameters():  # every weight and both biases random and different
            p.copy_(torch.randn_like(p))
    torch.save(gru.state_dict(), tmp_path / "gru.pt")

    out = tmp_path / "keras.npz"
    result = CliRunner().invoke(app, ["convert", str(tmp_path / "gru.pt"), "--to", "keras", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    weights = np.load(out)

    layer = keras.layers.GRU(h, return_sequences=True, return_state=True, dtype="float64")
    layer.build((b, t, x))
    layer.set_weights([weights["kernel"], weights["recurrent_kernel"], weights["bias"]])

    inputs = np.random.default_rng(1).standard_normal((b, t, x))
    seq_k, h_k = (np.asarray(keras.ops.convert_to_numpy(v)) for v in layer(inputs))
    with torch.no_grad():
        seq_t, h_t = gru(torch.from_numpy(inputs))
    np.testing.assert_allclose(seq_k, seq_t.numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(h_k, h_t[0].numpy(), rtol=0, atol=1e-12)
