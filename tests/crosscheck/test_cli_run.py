"""End to end: `lstmcalc run --weights --inputs --save` on a real layer's random weights equals the
real layer's outputs (float64, <= 1e-12), for PyTorch and Keras."""

import json
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
        out, (h_n, c_n) = lstm(torch.from_numpy(x))  # PyTorch's documented names: output, (h_n, c_n)
    assert "Outputs: output, (h_n, c_n)" in torch.nn.LSTM.__doc__  # the names, as torch documents them
    assert got.files == ["output", "h_n", "c_n"]
    for name, want in (("output", out), ("h_n", h_n), ("c_n", c_n)):
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


def _keras_mul_stack(tmp_path):
    """A real Keras stack of two Bidirectional LSTMs merged with mul, saved to .npz under our
    keys (layer{k}/{forward|backward}/{kernel|recurrent_kernel|bias}); returns the model and x."""
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(11)
    h, x_size, b, t = 3, 2, 4, 5
    inputs = keras.Input((t, x_size), batch_size=b, dtype="float64")
    first = keras.layers.Bidirectional(keras.layers.LSTM(h, return_sequences=True, dtype="float64"),
                                       merge_mode="mul", dtype="float64")
    second = keras.layers.Bidirectional(keras.layers.LSTM(h, return_sequences=True, dtype="float64"),
                                        merge_mode="mul", dtype="float64")
    model = keras.Model(inputs, second(first(inputs)))
    arrays = {}
    for k, layer in enumerate((first, second)):
        for direction, sub in (("forward", layer.forward_layer), ("backward", layer.backward_layer)):
            values = [rng.uniform(-0.8, 0.8, w.shape) for w in sub.get_weights()]  # random per gate
            sub.set_weights(values)
            for name, value in zip(("kernel", "recurrent_kernel", "bias"), values):
                arrays[f"layer{k}/{direction}/{name}"] = value
    np.savez(tmp_path / "w.npz", **arrays)
    x = rng.standard_normal((b, t, x_size))
    np.save(tmp_path / "x.npy", x)
    return model, x


def test_run_asks_for_the_merge_mode_of_a_keras_mul_stack(tmp_path):
    """The file cannot say sum, mul or ave: run refuses to guess (the old guess, sum, gave a
    wrong output with exit 0), and with --merge-mode mul equals real Keras."""
    model, x = _keras_mul_stack(tmp_path)
    base = ["run", "--weights", str(tmp_path / "w.npz"), "--inputs", str(tmp_path / "x.npy"), "--dtype", "float64",
            "--backend", "numpy", "--return-sequences", "--save", str(tmp_path / "out.npz")]
    refused = runner.invoke(app, base)
    assert refused.exit_code == 2 and refused.stdout == ""
    assert refused.stderr.startswith("lstmcalc: error: --merge-mode: is needed")
    assert "sum, mul or ave" in refused.stderr and len(refused.stderr.splitlines()) == 1
    assert not (tmp_path / "out.npz").exists()
    ok = runner.invoke(app, [*base, "--merge-mode", "mul"])
    assert ok.exit_code == 0, ok.stderr
    keras = pytest.importorskip("keras")
    want = keras.ops.convert_to_numpy(model(x))  # (B, T, H): the mul merge keeps H features
    np.testing.assert_allclose(np.load(tmp_path / "out.npz")["output"], want, rtol=0, atol=1e-12)
    wrong = runner.invoke(app, [*base, "--merge-mode", "sum"])  # a stated sum is computed as sum: not Keras' mul
    assert wrong.exit_code == 0
    assert np.abs(np.load(tmp_path / "out.npz")["output"] - want).max() > 1e-3
    inspected = runner.invoke(app, ["inspect", str(tmp_path / "w.npz"), "--json"])
    layer = json.loads(inspected.stdout)["layers"][0]
    assert layer["merge_mode"] is None and layer["unknown"] == {"merge_mode": ["sum", "mul", "ave"]}
    shown = runner.invoke(app, ["inspect", str(tmp_path / "w.npz")], env={"COLUMNS": "100"}).stdout
    assert "merge_mode: unknown (sum, mul or ave; the file does not say)" in shown


def test_forward_and_run_agree_on_a_keras_mul_stack(tmp_path):
    """The API and the CLI take the same stance: both refuse the weights without the merge
    mode and both equal Keras with it."""
    import lstmcalc
    from lstmcalc.spec import SpecError
    from lstmcalc.weights import load_npz

    model, x = _keras_mul_stack(tmp_path)
    w = load_npz(tmp_path / "w.npz")
    with pytest.raises(SpecError) as e:
        lstmcalc.forward(x, w, layers=2, bidirectional=True)  # concat, Keras' default, contradicts the shapes
    assert e.value.param == "merge_mode" and "sum, mul or ave" in e.value.problem
    got = lstmcalc.forward(x, w, layers=2, bidirectional=True, merge_mode="mul", return_sequences=True)
    keras = pytest.importorskip("keras")
    np.testing.assert_allclose(got.output, keras.ops.convert_to_numpy(model(x)), rtol=0, atol=1e-12)
