"""Legacy Keras files (issue 22, item 4): the saved config gives the gate function
(``recurrent_activation``), ``activation`` and ``go_backwards``; hard_sigmoid is computed as
the Keras version the file records defines it; inspect labels that version; what lstmcalc
cannot compute or convert is refused with the reason, and what the file does not say is unknown.

Keras 2 files are written with h5py in Keras 2.2.4's ``model.save`` format
(keras/engine/saving.py: root attributes ``keras_version``, ``backend``, ``model_config``;
``model_weights/<layer>/<layer>/<weight>:0``). tf_keras (which pulls TensorFlow) is not
installed in CI, so the Keras 2 form, clip(0.2·a + 0.5, 0, 1), is checked against a loop of
torch ops written here from Keras 2.2.4's recurrent.py; Keras 3's form, relu6(a + 3) / 6, is
checked against real Keras 3 layers.
"""

import json
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
torch = pytest.importorskip("torch")
h5py = pytest.importorskip("h5py")

from typer.testing import CliRunner  # noqa: E402

from lstmcalc import forward  # noqa: E402
from lstmcalc.cli import app  # noqa: E402
from lstmcalc.errors import FileError  # noqa: E402
from lstmcalc.frameworks import make_spec  # noqa: E402
from lstmcalc.readers import read_layer, read_layers  # noqa: E402
from lstmcalc.running import run_layer  # noqa: E402
from lstmcalc.spec import SpecError  # noqa: E402

runner = CliRunner()
CLASS = {"lstm": "LSTM", "gru": "GRU"}


def keras2_config(cell, units, name, **extra):
    """A Keras 2.2.4 LSTM / GRU get_config(), with its defaults."""
    conf = {"name": name, "trainable": True, "batch_input_shape": [None, None, 3], "dtype": "float32",
            "return_sequences": True, "return_state": False, "go_backwards": False, "stateful": False,
            "unroll": False, "units": units, "activation": "tanh", "recurrent_activation": "hard_sigmoid",
            "use_bias": True, "dropout": 0.0, "recurrent_dropout": 0.0, "implementation": 1}
    if cell == "lstm":
        conf["unit_forget_bias"] = True
    else:
        conf["reset_after"] = False
    conf.update(extra)
    return {"class_name": CLASS[cell], "config": conf}


def write_keras2_h5(path, layer_config, arrays, version=b"2.2.4", config=True, list_form=False):
    """keras 2.2.4 saving.py's save_model layout for one recurrent layer in a Sequential."""
    name = layer_config["config"]["name"]
    layers = [layer_config]
    model = {"class_name": "Sequential", "config": layers if list_form else {"name": "sequential_1", "layers": layers}}
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = version
        f.attrs["backend"] = b"tensorflow"
        if config:
            f.attrs["model_config"] = json.dumps(model).encode("utf8")
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = [name.encode()]
        mw.attrs["backend"] = b"tensorflow"
        mw.attrs["keras_version"] = version
        g = mw.create_group(name)
        names = [f"{name}/{k}:0" for k in arrays]
        g.attrs["weight_names"] = [n.encode() for n in names]
        for n, value in zip(names, arrays.values()):
            g.create_dataset(n, data=value)


def random_arrays(cell, units, x_size, rng, reset_after=False):
    """kernel (X, G·H), recurrent_kernel (H, G·H), bias: random, every gate its own values."""
    g = 4 if cell == "lstm" else 3
    bias_shape = (2, g * units) if cell == "gru" and reset_after else (g * units,)
    return {"kernel": rng.uniform(-0.9, 0.9, (x_size, g * units)),
            "recurrent_kernel": rng.uniform(-0.9, 0.9, (units, g * units)),
            "bias": rng.uniform(-0.6, 0.6, bias_shape)}


def keras2_hard_sigmoid(a):
    return torch.clamp(0.2 * a + 0.5, 0.0, 1.0)  # keras 2.2.4 backend hard_sigmoid


def keras2_reference(cell, arrays, xs, reset_after=False, gate=keras2_hard_sigmoid):
    """Keras 2.2.4 recurrent.py LSTMCell / GRUCell.call in torch ops, float64: (B, T, H) outputs."""
    k = torch.tensor(arrays["kernel"])
    u = torch.tensor(arrays["recurrent_kernel"])
    b = torch.tensor(arrays["bias"])
    units = u.shape[0]
    x = torch.tensor(xs)
    h = torch.zeros(x.shape[0], units, dtype=torch.float64)
    c = torch.zeros_like(h)
    outs = []
    for t in range(x.shape[1]):
        xt = x[:, t]
        if cell == "lstm":
            z = xt @ k + b + h @ u  # (B, 4H): i, f, c, o
            i, f, g, o = (z[:, n * units:(n + 1) * units] for n in range(4))
            i, f, o = gate(i), gate(f), gate(o)
            c = f * c + i * torch.tanh(g)
            h = o * torch.tanh(c)
        else:
            b_in = b[0] if reset_after else b
            xz, xr, xh = (xt @ k[:, n * units:(n + 1) * units] + b_in[n * units:(n + 1) * units] for n in range(3))
            if reset_after:  # recurrent bias b[1] inside, the candidate's inside r * (...)
                rz, rr, rh = (h @ u[:, n * units:(n + 1) * units] + b[1][n * units:(n + 1) * units] for n in range(3))
                z, r = gate(xz + rz), gate(xr + rr)
                hh = torch.tanh(xh + r * rh)
            else:
                z = gate(xz + h @ u[:, :units])
                r = gate(xr + h @ u[:, units:2 * units])
                hh = torch.tanh(xh + (r * h) @ u[:, 2 * units:])
            h = z * h + (1 - z) * hh
        outs.append(h)
    return torch.stack(outs, 1).numpy()


@pytest.mark.parametrize("cell, reset_after", [("lstm", False), ("gru", False), ("gru", True)])
def test_a_keras2_file_runs_with_keras2_hard_sigmoid(tmp_path, cell, reset_after):
    rng = np.random.default_rng(11)
    arrays = random_arrays(cell, 4, 3, rng, reset_after)
    extra = {"reset_after": True} if reset_after else {}
    write_keras2_h5(tmp_path / "m.h5", keras2_config(cell, 4, f"{cell}_1", **extra), arrays)
    found = read_layer(tmp_path / "m.h5")
    assert found.keras_version == "2.2.4"
    assert found.spec.recurrent_activation == "hard_sigmoid_keras2"
    assert found.spec.return_sequences is True and found.unknown == {}
    assert found.config["recurrent_activation"] == "hard_sigmoid" and found.config["go_backwards"] is False
    xs = rng.normal(0, 1.5, (2, 6, 3))
    want = keras2_reference(cell, arrays, xs, reset_after)
    report = run_layer(found.spec, weights=found.weights, x=xs, dtype="float64")
    np.testing.assert_allclose(report.result.output, want, rtol=0, atol=1e-12)
    assert report.to_dict()["config"]["recurrent_activation"] == "hard_sigmoid_keras2"
    got32 = run_layer(found.spec, weights=found.weights, x=xs, dtype="float32").result.output
    np.testing.assert_allclose(got32, want, rtol=0, atol=1e-5)
    # what the tool did before: sigmoid gates, far from the model
    sigmoid = forward(xs, found.weights, cell=cell, framework="keras", return_sequences=True,
                      reset_after=found.spec.reset_after).output
    assert np.abs(sigmoid - want).max() > 1e-2


def test_the_hard_sigmoid_clips_in_both_directions(tmp_path):
    """Pre-activations beyond ±2.5 saturate Keras 2's gate at exactly 0 and 1 (large weights)."""
    rng = np.random.default_rng(5)
    arrays = {k: v * 4 for k, v in random_arrays("lstm", 3, 3, rng).items()}
    xs = rng.normal(0, 2, (3, 5, 3))
    pre = xs.reshape(-1, 3) @ arrays["kernel"] + arrays["bias"]
    assert (pre < -2.5).any() and (pre > 2.5).any()
    got = forward(xs, arrays, recurrent_activation="hard_sigmoid_keras2", return_sequences=True).output
    np.testing.assert_allclose(got, keras2_reference("lstm", arrays, xs), rtol=0, atol=1e-12)


def test_inspect_labels_the_recorded_keras_version(tmp_path):
    rng = np.random.default_rng(2)
    write_keras2_h5(tmp_path / "m.h5", keras2_config("lstm", 2, "lstm_1"), random_arrays("lstm", 2, 3, rng))
    shown = runner.invoke(app, ["inspect", str(tmp_path / "m.h5")], env={"COLUMNS": "160"})
    assert shown.exit_code == 0, shown.stderr
    assert "lstm_1: Keras 2.2.4 LSTM, units H = 2, input X = 3, gates hard_sigmoid_keras2: 48 parameters" \
        in shown.stdout
    assert "Keras 3" not in shown.stdout
    assert "saved by Keras 2.2.4 (the file's keras_version)" in shown.stdout
    assert "gates: hard_sigmoid_keras2, clip(0.2·a + 0.5, 0, 1)" in shown.stdout
    layer = json.loads(runner.invoke(app, ["inspect", str(tmp_path / "m.h5"), "--json"]).stdout)["layers"][0]
    assert (layer["keras_version"], layer["recurrent_activation"], layer["activation"]) == (
        "2.2.4", "hard_sigmoid_keras2", "tanh")
    assert layer["refused"] == [] and layer["unknown"] == {}


def test_a_keras_2_1_sequential_config_is_a_list_of_layers(tmp_path):
    rng = np.random.default_rng(3)
    write_keras2_h5(tmp_path / "m.h5", keras2_config("gru", 2, "gru_1"), random_arrays("gru", 2, 3, rng),
                    version=b"2.1.2", list_form=True)
    found = read_layer(tmp_path / "m.h5")
    assert (found.keras_version, found.spec.recurrent_activation) == ("2.1.2", "hard_sigmoid_keras2")


def test_convert_refuses_hard_sigmoid_into_pytorch(tmp_path):
    rng = np.random.default_rng(4)
    write_keras2_h5(tmp_path / "m.h5", keras2_config("lstm", 2, "lstm_1"), random_arrays("lstm", 2, 3, rng))
    out = tmp_path / "t.npz"
    for target in ("torch", "onnx"):
        result = runner.invoke(app, ["convert", str(tmp_path / "m.h5"), "--to", target, "-o", str(out)])
        # the file's content, not an option convert has: exit 1, no flag named (issue 23 item 7)
        assert result.exit_code == 1 and result.stdout == "" and not out.exists()
        assert len(result.stderr.splitlines()) == 1 and "--" not in result.stderr
        assert "hard_sigmoid_keras2 gates (clip(0.2·a + 0.5, 0, 1)) cannot be converted" in result.stderr
    assert "PyTorch has no hard_sigmoid gate" in runner.invoke(
        app, ["convert", str(tmp_path / "m.h5"), "--to", "torch", "-o", str(out)]).stderr


def test_a_sigmoid_keras2_file_converts_and_matches_torch(tmp_path):
    rng = np.random.default_rng(6)
    arrays = random_arrays("lstm", 3, 3, rng)
    write_keras2_h5(tmp_path / "m.h5", keras2_config("lstm", 3, "lstm_1", recurrent_activation="sigmoid"), arrays)
    out = tmp_path / "t.npz"
    result = runner.invoke(app, ["convert", str(tmp_path / "m.h5"), "--to", "torch", "-o", str(out)])
    assert result.exit_code == 0, result.stderr
    lstm = torch.nn.LSTM(3, 3, batch_first=True, dtype=torch.float64)
    with np.load(out) as f:
        lstm.load_state_dict({k: torch.tensor(f[k]) for k in f.files})
    xs = rng.normal(size=(2, 5, 3))
    want = keras2_reference("lstm", arrays, xs, gate=torch.sigmoid)
    np.testing.assert_allclose(lstm(torch.tensor(xs))[0].detach().numpy(), want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("conf, reason", [
    ({"go_backwards": True}, "go_backwards=True: Keras runs this layer over the time axis reversed"),
    ({"activation": "relu"}, "activation=relu: lstmcalc computes the LSTM candidate and the cell output with tanh"),
    ({"recurrent_activation": "relu"}, "recurrent_activation=relu: lstmcalc computes sigmoid and hard_sigmoid"),
])
def test_what_lstmcalc_does_not_compute_is_shown_and_refused(tmp_path, conf, reason):
    rng = np.random.default_rng(8)
    write_keras2_h5(tmp_path / "m.h5", keras2_config("lstm", 2, "lstm_1", **conf), random_arrays("lstm", 2, 3, rng))
    [found] = read_layers(tmp_path / "m.h5")
    assert len(found.refused) == 1 and found.refused[0].startswith(reason)
    with pytest.raises(FileError, match="cannot convert or run this layer"):
        read_layer(tmp_path / "m.h5")
    shown = runner.invoke(app, ["inspect", str(tmp_path / "m.h5")], env={"COLUMNS": "400"})
    assert shown.exit_code == 0 and f"run and convert refuse it: {reason}" in shown.stdout
    out = tmp_path / "t.npz"
    refused = runner.invoke(app, ["convert", str(tmp_path / "m.h5"), "-o", str(out)])
    assert refused.exit_code == 1 and refused.stdout == "" and not out.exists()
    assert reason in refused.stderr and len(refused.stderr.splitlines()) == 1


def test_a_file_without_config_leaves_the_gate_function_unknown(tmp_path):
    rng = np.random.default_rng(9)
    write_keras2_h5(tmp_path / "m.h5", keras2_config("lstm", 2, "lstm_1"), random_arrays("lstm", 2, 3, rng),
                    config=False)
    [found] = read_layers(tmp_path / "m.h5")
    data = found.to_dict()
    assert data["recurrent_activation"] is None and data["config"] is None
    assert data["unknown"] == {"recurrent_activation": ["sigmoid", "hard_sigmoid_keras2"]}  # Keras 2's two
    shown = runner.invoke(app, ["inspect", str(tmp_path / "m.h5")], env={"COLUMNS": "160"}).stdout
    assert "recurrent_activation: unknown (sigmoid or hard_sigmoid_keras2; the file does not say)" in shown


def test_hard_sigmoid_with_no_recorded_version_is_refused(tmp_path):
    rng = np.random.default_rng(10)
    write_keras2_h5(tmp_path / "m.h5", keras2_config("lstm", 2, "lstm_1"), random_arrays("lstm", 2, 3, rng),
                    version=b"")
    [found] = read_layers(tmp_path / "m.h5")
    assert found.keras_version is None
    assert found.unknown == {"recurrent_activation": ("hard_sigmoid_keras2", "hard_sigmoid_keras3")}
    assert "the file records no Keras version 2 or 3" in found.refused[0]


def test_numba_refuses_hard_sigmoid_and_auto_says_why_it_ran_numpy():
    rng = np.random.default_rng(12)
    arrays = random_arrays("lstm", 2, 3, rng)
    xs = rng.normal(size=(1, 3, 3))
    with pytest.raises(SpecError, match="numba computes sigmoid gates only, not hard_sigmoid_keras2"):
        forward(xs, arrays, recurrent_activation="hard_sigmoid_keras2", backend="numba")
    spec = make_spec(2, 3, recurrent_activation="hard_sigmoid_keras2")
    report = run_layer(spec, weights=arrays, x=xs, dtype="float64", backend="auto")
    assert report.result.backend == "numpy"
    assert report.backend_note == "auto ran NumPy: numba computes sigmoid gates only, not hard_sigmoid_keras2"


def test_only_keras_lstm_and_gru_have_a_gate_function():
    with pytest.raises(SpecError, match="PyTorch has no hard_sigmoid gate"):
        make_spec(2, 3, framework="torch", recurrent_activation="hard_sigmoid_keras2")
    with pytest.raises(SpecError, match="a rnn has no gates"):
        make_spec(2, 3, cell="rnn", recurrent_activation="hard_sigmoid_keras3")
    with pytest.raises(SpecError, match="cuDNN's sigmoid"):
        make_spec(2, 3, framework="keras2", recurrent_activation="hard_sigmoid_keras2")


def test_explain_says_the_gate_function():
    result = runner.invoke(app, ["explain", "-u", "2", "-x", "1", "--recurrent-activation", "hard_sigmoid_keras2",
                                 "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["config"]["recurrent_activation"] == "hard_sigmoid_keras2"
    text = " ".join(q["answer"] for q in data["questions"])
    assert "Keras 2's hard_sigmoid" in text and "σ(a) = clip(0.2·a + 0.5, 0, 1)" in text
    plain = runner.invoke(app, ["explain", "-u", "2", "-x", "1", "--json"]).stdout
    assert "hard_sigmoid" not in plain


# --- Keras 3: its own hard_sigmoid, relu6(a + 3) / 6, against the real layers ---------------


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras3_hard_sigmoid_files_run_as_keras3_does(tmp_path, suffix):
    keras = pytest.importorskip("keras")
    inputs = keras.Input((6, 3))
    h = keras.layers.LSTM(4, recurrent_activation="hard_sigmoid", return_sequences=True, name="enc")(inputs)
    h = keras.layers.GRU(3, recurrent_activation="hard_sigmoid", return_sequences=True, name="dec")(h)
    model = keras.Model(inputs, h)
    rng = np.random.default_rng(13)
    for w in model.weights:
        w.assign(rng.uniform(-1.2, 1.2, tuple(w.shape)).astype("float32"))
    path = tmp_path / f"m{suffix}"
    model.save(path)
    enc, dec = read_layers(path)
    for f in (enc, dec):
        assert f.spec.recurrent_activation == "hard_sigmoid_keras3"
        assert f.keras_version == keras.__version__ and f.refused == ()
    xs = rng.normal(0, 2, (2, 6, 3)).astype("float32")
    mid = run_layer(enc.spec, weights=enc.weights, x=xs).result.output
    got = run_layer(dec.spec, weights=dec.weights, x=mid).result.output
    want = keras.ops.convert_to_numpy(model(xs))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    sigmoid = forward(mid, dec.weights, cell="gru", return_sequences=True).output
    assert np.abs(sigmoid - want).max() > 1e-2
    shown = runner.invoke(app, ["inspect", str(path)], env={"COLUMNS": "160"}).stdout
    assert "enc: Keras 3 LSTM" in shown and f"saved by Keras {keras.__version__}" in shown
