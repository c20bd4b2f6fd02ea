"""inspect reports what a real Keras file says, and nothing it does not: a config's merge mode
and reset_after are facts; a bare weights file leaves them unknown."""

import json
import os

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
pytest.importorskip("h5py")

from typer.testing import CliRunner  # noqa: E402

from lstmcalc.cli import app  # noqa: E402
from lstmcalc.readers import read_layers  # noqa: E402

runner = CliRunner()


def model(merge_mode):
    inputs = keras.Input((4, 2))
    h = keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True), merge_mode=merge_mode)(inputs)
    h = keras.layers.GRU(2, use_bias=False, reset_after=False, name="gru")(h if merge_mode else h[0])
    return keras.Model(inputs, h)


@pytest.mark.parametrize("merge_mode", ["mul", None])
def test_a_keras_archive_says_its_merge_mode_and_reset_after(tmp_path, merge_mode):
    path = tmp_path / "m.keras"
    model(merge_mode).save(path)
    bidi, gru = (f.to_dict() for f in read_layers(path))
    assert bidi["merge_mode"] == merge_mode  # None: Keras returns the two directions apart
    assert bidi["unknown"] == {} and gru["unknown"] == {}
    assert gru["reset_after"] is False  # from the config: a bias-free GRU's weights cannot show it


def test_a_bare_weights_file_leaves_them_unknown(tmp_path):
    path = tmp_path / "m.weights.h5"
    model("mul").save_weights(path)
    result = runner.invoke(app, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.stderr
    bidi, gru = json.loads(result.stdout)["layers"]
    gates = ["sigmoid", "hard_sigmoid_keras2", "hard_sigmoid_keras3"]  # no config, no keras_version: any of them
    assert bidi["merge_mode"] is None and bidi["unknown"] == {"merge_mode": ["concat", "sum", "mul", "ave"],
                                                              "recurrent_activation": gates}
    assert gru["reset_after"] is None and gru["unknown"] == {"reset_after": [True, False], "recurrent_activation": gates}
    assert bidi["recurrent_activation"] is None and gru["recurrent_activation"] is None
