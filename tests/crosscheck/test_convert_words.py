"""Issue 23, item 7: `convert` refusals caused by the file's content exit 1 and name no option;
`convert` says what the target needs (a relu SimpleRNN's nonlinearity, a merged
Bidirectional's merge); `inspect`'s text shows the merge_mode and activation the file
states. Real Keras 3 and PyTorch files."""

import json
import os
import re

import numpy as np
import pytest
import helpers

torch = pytest.importorskip("torch")
os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")


OPTIONS_OF_CONVERT = re.compile(r"--[a-z][a-z-]+")


def invoke(*args):
    return helpers.invoke(*args, env={"COLUMNS": "80", "NO_COLOR": "1"})


def keras_file(tmp_path, layer, name):
    model = keras.Sequential([keras.Input((5, 3)), layer])
    rng = np.random.default_rng(0)
    model.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in model.get_weights()])
    path = tmp_path / f"{name}.keras"
    model.save(path)
    return str(path)


def test_content_refusals_exit_1_and_name_no_option(tmp_path):
    torch.manual_seed(0)
    gru = torch.nn.GRU(3, 4, batch_first=True)
    np.savez(tmp_path / "gru.npz", **{k: v.detach().numpy() for k, v in gru.state_dict().items()})
    merged = keras_file(tmp_path, keras.layers.Bidirectional(keras.layers.LSTM(4), merge_mode="mul"), "bi")
    for path, target, said in ((str(tmp_path / "gru.npz"), "flax_nnx", "no recurrent candidate bias b_hn"),
                               (merged, "flax", "no bidirectional wrapper")):
        out = str(tmp_path / f"out_{target}.npz")
        r = invoke("convert", path, "--to", target, "-o", out)
        assert r.exit_code == 1, r.stderr
        assert r.stdout == "" and not os.path.exists(out)
        (line,) = r.stderr.splitlines()
        assert line.startswith(f"lstmcalc: error: {path}: ") and said in line
        assert OPTIONS_OF_CONVERT.findall(line) == [], line  # "--no-bias", "--bidirectional" before


def test_relu_simplernn_to_torch_says_nonlinearity_relu(tmp_path):
    path = keras_file(tmp_path, keras.layers.SimpleRNN(4, activation="relu"), "relu")
    out = str(tmp_path / "t.npz")
    r = invoke("convert", path, "--to", "torch", "-o", out, "--json")
    assert r.exit_code == 0, r.stderr
    (note,) = json.loads(r.stdout)["notes"]
    assert 'nonlinearity="relu"' in note
    module = eval(note.rsplit(": ", 1)[1], {"torch": torch})  # the constructor the note gives
    weights = dict(np.load(out))
    module.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    x = np.random.default_rng(1).standard_normal((2, 5, 3)).astype(np.float32)
    keras_model = keras.models.load_model(path)
    expected = keras.ops.convert_to_numpy(keras_model(x))  # the last step, (B, H)
    got = module(torch.from_numpy(x))[0][:, -1].detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    text = invoke("convert", path, "--to", "torch", "-o", out).stdout
    assert "nonlinearity=" in text and max(map(len, text.splitlines())) <= 80


def test_mul_bidirectional_to_torch_says_torch_concatenates(tmp_path):
    path = keras_file(tmp_path, keras.layers.Bidirectional(keras.layers.GRU(4), merge_mode="mul"), "mul")
    r = invoke("convert", path, "--to", "torch", "-o", str(tmp_path / "t.npz"), "--json")
    (note,) = json.loads(r.stdout)["notes"]
    assert "PyTorch always concatenates the two directions" in note and "merge_mode='mul'" in note
    assert "multiply" in note
    concat = keras_file(tmp_path, keras.layers.Bidirectional(keras.layers.GRU(4)), "concat")
    r = invoke("convert", concat, "--to", "torch", "-o", str(tmp_path / "c.npz"), "--json")
    assert json.loads(r.stdout)["notes"] == []


def test_inspect_text_shows_known_merge_mode_and_activation(tmp_path):
    merged = keras_file(tmp_path, keras.layers.Bidirectional(keras.layers.LSTM(4), merge_mode="ave"), "ave")
    relu = keras_file(tmp_path, keras.layers.SimpleRNN(4, activation="relu"), "relu")
    for path, line, field, value in ((merged, "  merge_mode: ave", "merge_mode", "ave"),
                                     (relu, "  activation: relu", "activation", "relu")):
        r = invoke("inspect", path)
        assert r.exit_code == 0 and line in r.stdout.splitlines()
        data = json.loads(invoke("inspect", path, "--json").stdout)["layers"][0]
        assert data[field] == value
