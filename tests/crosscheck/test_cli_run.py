"""End to end: `lstmcalc run --weights --inputs --save` on a real layer's random weights equals the
real layer's outputs (float64, <= 1e-12), for PyTorch and Keras."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
torch = pytest.importorskip("torch")

from typer.testing import CliRunner  # noqa: E402

from lstmcalc.cli import app  # noqa: E402

runner = CliRunner()


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_run_matches_torch_lstm(tmp_path, backend):
    if backend == "numba":
        pytest.importorskip("numba")
    torch.manual_seed(3)
    lstm = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, proj_size=2, batch_first=True).double()
    with torch.no_grad():
        for p in lstm.parameters():  # every weight and both biases random, different per gate
            p.copy_(torch.randn_like(p))
    np.savez(tmp_path / "w.npz", **{k: v.numpy() for k, v in lstm.state_dict().items()})
    x = np.random.default_rng(4).standard_normal((5, 7, 3))
    np.save(tmp_path / "x.npy", x)
    result = runner.invoke(app, ["run", "--weights", str(tmp_path / "w.npz"), "--inputs", str(tmp_path / "x.npy"),
                                 "--framework", "torch", "--dtype", "float64", "--backend", backend,
                                 "--save", str(tmp_path / "out.npz")])
    assert result.exit_code == 0, result.stderr
    got = np.load(tmp_path / "out.npz")
    with torch.no_grad():
        out, (h, c) = lstm(torch.from_numpy(x))
    for name, want in (("output", out), ("h", h), ("c", c)):
        np.testing.assert_allclose(got[name], want.numpy(), rtol=0, atol=1e-12, err_msg=name)


def test_run_matches_keras_gru(tmp_path):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(5)
    h, x_size = 3, 2
    w = {"kernel": rng.standard_normal((x_size, 3 * h)), "recurrent_kernel": rng.standard_normal((h, 3 * h)),
         "bias": rng.standard_normal((2, 3 * h))}
    np.savez(tmp_path / "w.npz", **w)
    x = rng.standard_normal((4, 6, x_size))
    np.save(tmp_path / "x.npy", x)
    result = runner.invoke(app, ["run", "--weights", str(tmp_path / "w.npz"), "--inputs", str(tmp_path / "x.npy"),
                                 "--cell", "gru", "--dtype", "float64", "--return-sequences", "--return-state",
                                 "--save", str(tmp_path / "out.npz")])
    assert result.exit_code == 0, result.stderr
    got = np.load(tmp_path / "out.npz")
    layer = keras.layers.GRU(h, return_sequences=True, return_state=True, dtype="float64")
    layer.build((4, 6, x_size))
    layer.set_weights([w["kernel"], w["recurrent_kernel"], w["bias"]])
    seq, state = (keras.ops.convert_to_numpy(v) for v in layer(x))
    np.testing.assert_allclose(got["output"], seq, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["h"], state, rtol=0, atol=1e-12)
