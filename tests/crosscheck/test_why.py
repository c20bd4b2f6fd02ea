"""`why` on real error messages: each test makes a real torch.nn module (or a real Keras 3
model) refuse a checkpoint, takes the exact text the framework raised, and checks what
lstmcalc.diagnose reads from it against the two configurations that produced it.

Two properties for every case: every field the diagnosis reports (not None) is the true
value of that side (nothing guessed), and the field that really differs is known on both
sides and listed among the differences.
"""

import os

import pytest

torch = pytest.importorskip("torch")
os.environ.setdefault("KERAS_BACKEND", "torch")

from lstmcalc.diagnose import FIELDS, UnrecognisedError, diagnose  # noqa: E402

TORCH = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}
BASE = dict(input_size=6, units=8, layers=1, bidirectional=False, proj_size=0, bias=True)


def torch_module(cell, cfg):
    kw = dict(input_size=cfg["input_size"], hidden_size=cfg["units"], num_layers=cfg["layers"],
              bidirectional=cfg["bidirectional"], bias=cfg["bias"], batch_first=True)
    if cfg["proj_size"]:
        kw["proj_size"] = cfg["proj_size"]
    return TORCH[cell](**kw)


def load_error(checkpoint, model) -> str:
    """The exact text of the RuntimeError ``model.load_state_dict(checkpoint.state_dict())`` raises."""
    with pytest.raises(RuntimeError) as info:
        model.load_state_dict(checkpoint.state_dict())
    return str(info.value)


def truth(cell, cfg) -> dict:
    return dict(cell=cell, **cfg)


def assert_never_wrong(layer, true: dict):
    for f in FIELDS:
        value = getattr(layer, f)
        if value is not None:
            assert value == true[f], (layer.side, f, value, true[f])


# (field, checkpoint change, model change): one field differs, every other is BASE
CHANGES = [
    ("units", dict(units=16), dict()),
    ("units", dict(), dict(units=5)),
    ("input_size", dict(input_size=3), dict()),
    ("layers", dict(layers=2), dict()),
    ("layers", dict(), dict(layers=3)),
    ("bidirectional", dict(bidirectional=True), dict()),
    ("bidirectional", dict(), dict(bidirectional=True)),
    ("bias", dict(bias=False), dict()),
    ("bias", dict(), dict(bias=False)),
]
PROJ = [("proj_size", dict(proj_size=4), dict()), ("proj_size", dict(proj_size=4), dict(proj_size=2)),
        ("units", dict(units=16, proj_size=4), dict(proj_size=4))]
CASES = [(cell, *c) for cell in TORCH for c in CHANGES] + [("lstm", *c) for c in PROJ]


def _id(case):
    cell, f, a, b = case
    return f"{cell}-{f}-ckpt{a}-model{b}".replace(" ", "").replace("'", "")


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_torch_single_difference(case):
    cell, field, ck_change, mo_change = case
    ck_cfg, mo_cfg = {**BASE, **ck_change}, {**BASE, **mo_change}
    text = load_error(torch_module(cell, ck_cfg), torch_module(cell, mo_cfg))
    d = diagnose(text)
    assert d.source == f"PyTorch load_state_dict for {TORCH[cell].__name__}"
    (ck,), (mo,) = d.checkpoint, d.model
    assert_never_wrong(ck, truth(cell, ck_cfg))
    assert_never_wrong(mo, truth(cell, mo_cfg))
    found = [x for x in d.differences if x.field == field]
    assert found, (field, [x.words for x in d.differences])
    if field != "proj_size" or ck.proj_size is not None:
        assert (found[0].checkpoint, found[0].model) == (ck_cfg[field], mo_cfg[field])
    # only fields that truly differ are reported
    for x in d.differences:
        assert ck_cfg[x.field] != mo_cfg[x.field], x


def test_torch_hidden_size_of_the_issue_is_read_fully():
    """`lstm.weight_ih_l0 [512, 100] vs [1024, 100]`: every field of both sides is in the text."""
    text = load_error(torch.nn.LSTM(100, 128), torch.nn.LSTM(100, 256))
    assert "torch.Size([512, 100]) from checkpoint, the shape in current model is torch.Size([1024, 100])" in text
    d = diagnose(text)
    (ck,), (mo,) = d.checkpoint, d.model
    assert (ck.cell, ck.units, ck.input_size, ck.layers, ck.bidirectional, ck.proj_size, ck.bias) == (
        "lstm", 128, 100, 1, False, 0, True)
    assert (mo.units, mo.input_size, mo.layers) == (256, 100, 1)
    assert [(x.field, x.checkpoint, x.model) for x in d.differences] == [("units", 128, 256)]
    assert d.differences[0].words == "the checkpoint has hidden_size 128, your model 256"
    assert ck.breakdown_command() == "lstmcalc breakdown --units 128 --input 100 --framework torch"
    assert mo.breakdown_command() == "lstmcalc breakdown --units 256 --input 100 --framework torch"
    assert ck.constructor() == ["torch.nn.LSTM(input_size=100, hidden_size=128)"]  # no batch_first: not in the text


def test_torch_everything_differs():
    text = load_error(torch.nn.LSTM(100, 128, num_layers=2, bidirectional=True, proj_size=64), torch.nn.LSTM(100, 256))
    d = diagnose(text)
    (ck,), (mo,) = d.checkpoint, d.model
    assert (ck.units, ck.layers, ck.bidirectional, ck.proj_size) == (128, 2, True, 64)
    assert (mo.units, mo.layers, mo.bidirectional, mo.proj_size) == (256, 1, False, 0)
    assert {x.field for x in d.differences} == {"units", "layers", "bidirectional", "proj_size"}
    assert ck.breakdown_command() == (
        "lstmcalc breakdown --units 128 --input 100 --framework torch --layers 2 --bidirectional --proj-size 64")


def test_torch_cell_differs():
    text = load_error(torch.nn.GRU(10, 8), torch.nn.LSTM(10, 8))
    d = diagnose(text)
    (ck,), (mo,) = d.checkpoint, d.model
    assert (ck.cell, mo.cell) == ("gru", "lstm")
    assert [x.field for x in d.differences] == ["cell"]


def test_torch_module_prefix_and_other_keys():
    class Net(torch.nn.Module):
        def __init__(self, h, bidirectional):
            super().__init__()
            self.encoder = torch.nn.GRU(4, h, bidirectional=bidirectional, batch_first=True)
            self.head = torch.nn.Linear(h * (2 if bidirectional else 1), 2)

    text = load_error(Net(6, True), Net(6, False))
    d = diagnose(text)
    assert d.source == "PyTorch load_state_dict for Net"
    (ck,), (mo,) = d.checkpoint, d.model
    assert ck.name == mo.name == "encoder"
    assert (ck.bidirectional, mo.bidirectional) == (True, False)
    assert ck.cell is None  # the class in the message is Net's: the GRU is not named, weight_hh not printed
    assert d.ignored == ("head.weight",)  # the Linear layer's size mismatch: no recurrent key
    assert [x.field for x in d.differences] == ["bidirectional"]


def test_unknown_text_is_refused():
    with pytest.raises(UnrecognisedError, match="not a weight-loading error lstmcalc knows"):
        diagnose("CUDA out of memory. Tried to allocate 2.00 GiB")
    with pytest.raises(UnrecognisedError, match="empty"):
        diagnose("  \n")
    text = load_error(torch.nn.Linear(3, 2), torch.nn.Linear(4, 2))
    with pytest.raises(UnrecognisedError, match="none of its keys is a recurrent layer"):
        diagnose(text)


# --- Keras 3 ------------------------------------------------------------------------------------

keras = pytest.importorskip("keras")
KERAS = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}


def keras_model(cell, units, input_size, bias=True, bidirectional=False, name="rnn"):
    layer = getattr(keras.layers, KERAS[cell])(units, use_bias=bias, name=name)
    if bidirectional:
        layer = keras.layers.Bidirectional(layer, name=name)
    return keras.Sequential([keras.Input((3, input_size)), layer])


def keras_load_error(checkpoint, model, tmp_path) -> str:
    path = tmp_path / "ckpt.weights.h5"
    checkpoint.save_weights(path)
    with pytest.raises(ValueError) as info:
        model.load_weights(path)
    return str(info.value)


@pytest.mark.parametrize("cell", list(KERAS))
def test_keras_units_differ(cell, tmp_path):
    """The message names the model's cell class; the checkpoint's values were found under the
    same class path (Keras 3 stores layers by class name), so both sides' units and input
    are read from the two kernel shapes."""
    text = keras_load_error(keras_model(cell, 5, 7), keras_model(cell, 9, 7), tmp_path)
    d = diagnose(text)
    (ck,), (mo,) = d.checkpoint, d.model
    assert d.source.startswith("Keras 3 load_weights")
    assert (mo.cell, mo.units, mo.input_size) == (cell, 9, 7)
    assert (ck.cell, ck.units, ck.input_size) == (cell, 5, 7)
    assert_never_wrong(ck, dict(cell=cell, units=5, input_size=7, layers=1, bidirectional=False, proj_size=0, bias=True))
    assert_never_wrong(mo, dict(cell=cell, units=9, input_size=7, layers=1, bidirectional=False, proj_size=0, bias=True))
    g = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    assert ck.seen[0].shape == (7, g * 5) and mo.seen[0].shape == (7, g * 9)
    assert [(x.field, x.checkpoint, x.model) for x in d.differences] == [("units", 5, 9)]
    key = {"lstm": "lstm", "gru": "gru", "rnn": "simple_rnn"}[cell]
    assert any(f"layers/{key}/cell/vars" in n for n in d.notes), d.notes


def test_keras_load_weights_of_the_issue(tmp_path):
    """LSTM(128) checkpoint into LSTM(256), 100 inputs: kernel (100, 512) against (100, 1024)."""
    text = keras_load_error(keras_model("lstm", 128, 100), keras_model("lstm", 256, 100), tmp_path)
    assert "variable.shape=(100, 1024), Received: value.shape=" in text and "<LSTMCell name=" in text
    assert "/lstm_cell/kernel" in text
    d = diagnose(text)
    (ck,), (mo,) = d.checkpoint, d.model
    assert (ck.cell, ck.units, ck.input_size, mo.cell, mo.units, mo.input_size) == ("lstm", 128, 100, "lstm", 256, 100)
    assert [(x.field, x.checkpoint, x.model) for x in d.differences] == [("units", 128, 256)]


@pytest.mark.parametrize("cell", list(KERAS))
def test_keras_input_differs(cell, tmp_path):
    text = keras_load_error(keras_model(cell, 5, 7), keras_model(cell, 5, 4), tmp_path)
    d = diagnose(text)
    (ck,), (mo,) = d.checkpoint, d.model
    assert (ck.input_size, mo.input_size, mo.units) == (7, 4, 5)
    assert [(x.field, x.checkpoint, x.model) for x in d.differences] == [("input_size", 7, 4)]


def test_keras_gru_checkpoint_into_an_lstm(tmp_path):
    """Keras stores a GRU's variables under gru_cell: an LSTM finds none of its own (received 0)."""
    text = keras_load_error(keras_model("gru", 4, 7), keras_model("lstm", 3, 7), tmp_path)
    d = diagnose(text)
    (ck,), (mo,) = d.checkpoint, d.model
    assert (mo.cell, mo.bias) == ("lstm", True)
    assert ck.cell is None and ck.bias is None  # received 0: nothing about the checkpoint's layer
    assert any("received 0 variables" in n for n in d.notes)


@pytest.mark.parametrize("cell", list(KERAS))
def test_keras_bias_differs(cell, tmp_path):
    text = keras_load_error(keras_model(cell, 5, 7, bias=True), keras_model(cell, 5, 7, bias=False), tmp_path)
    d = diagnose(text)
    (ck,), (mo,) = d.checkpoint, d.model
    assert (ck.bias, mo.bias, mo.cell) == (True, False, cell)
    assert [x.field for x in d.differences] == ["bias"]


def test_keras_bidirectional_checkpoint_into_a_plain_layer(tmp_path):
    text = keras_load_error(keras_model("lstm", 5, 7), keras_model("lstm", 5, 7, bidirectional=True), tmp_path)
    d = diagnose(text)
    assert d.source == "Keras 3 load_weights (3 variables expected, 0 received)"
    assert any("received 0 variables" in n for n in d.notes)
    (mo,) = d.model
    assert mo.cell == "lstm" and mo.bias is True


def test_keras_set_weights(tmp_path):
    a, b = keras_model("lstm", 5, 7), keras_model("lstm", 9, 7)
    with pytest.raises(ValueError) as info:
        b.layers[0].set_weights(a.layers[0].get_weights())
    d = diagnose(str(info.value))
    assert d.source == "Keras 3 set_weights"
    assert (d.checkpoint[0].seen[0].shape, d.model[0].seen[0].shape) == ((7, 20), (7, 36))
    # the G·H columns differ, so it is the first weight, the kernel: the input size (7) is read
    assert (d.checkpoint[0].input_size, d.model[0].input_size) == (7, 7)
    assert all(getattr(d.model[0], f) is None for f in FIELDS if f not in ("input_size", "proj_size"))
    with pytest.raises(ValueError) as info:
        b.layers[0].set_weights(a.layers[0].get_weights()[:2])
    assert diagnose(str(info.value)).source == "Keras 3 set_weights (weight count)"


def set_weights_error(ck_layer, mo_layer, x_ck, x_mo) -> str:
    a = keras.Sequential([keras.Input((3, x_ck)), ck_layer])
    b = keras.Sequential([keras.Input((3, x_mo)), mo_layer])
    with pytest.raises(ValueError) as info:
        b.layers[0].set_weights(a.layers[0].get_weights())
    return str(info.value)


@pytest.mark.parametrize("cell", list(KERAS))
def test_keras_set_weights_of_the_issue_for_any_cell(cell):
    """`Layer gru_2 weight shape (64, 96) is not compatible with provided weight shape (100, 96)`:
    the shapes prove the input sizes (a kernel) for any Keras recurrent cell, and nothing
    about the cell or units (96 is 3·32, 4·24 and 1·96)."""
    units = {"lstm": 24, "gru": 32, "rnn": 96}[cell]
    layer = lambda: getattr(keras.layers, KERAS[cell])(units, name="gru_2")  # noqa: E731
    text = set_weights_error(layer(), layer(), 100, 64)
    assert text == "Layer gru_2 weight shape (64, 96) is not compatible with provided weight shape (100, 96)."
    d = diagnose(text)
    (ck,), (mo,) = d.checkpoint, d.model
    for side, x in ((ck, 100), (mo, 64)):
        assert_never_wrong(side, dict(cell=cell, units=units, input_size=x, layers=1, bidirectional=False,
                                      proj_size=0, bias=True))
        assert (side.input_size, side.cell, side.units) == (x, None, None)
    assert [(x.field, x.checkpoint, x.model) for x in d.differences] == [("input_size", 100, 64)]
    assert any("units 24 for an LSTM, 32 for a GRU, 96 for a SimpleRNN/RNN" in n for n in d.notes)


def test_keras_set_weights_never_wrong():
    """Real set_weights refusals between Keras recurrent layers: every field read is true."""
    L = keras.layers
    cases = [  # (checkpoint layer, model layer, X checkpoint, X model, truths)
        (L.SimpleRNN(32), L.SimpleRNN(32), 100, 32, ("rnn", 32, 100), ("rnn", 32, 32)),
        (L.LSTM(6), L.GRU(8), 5, 5, ("lstm", 6, 5), ("gru", 8, 5)),  # kernels (5, 24) match: ambiguous
        (L.GRU(4, reset_after=False), L.GRU(4), 7, 7, ("gru", 4, 7), ("gru", 4, 7)),
        (L.GRU(4), L.GRU(4, reset_after=False), 7, 7, ("gru", 4, 7), ("gru", 4, 7)),
        (L.LSTM(3), L.LSTM(5), 2, 2, ("lstm", 3, 2), ("lstm", 5, 2)),
    ]
    for ck_layer, mo_layer, xc, xm, tc, tm in cases:
        reset = {"checkpoint": getattr(ck_layer, "reset_after", None), "model": getattr(mo_layer, "reset_after", None)}
        d = diagnose(set_weights_error(ck_layer, mo_layer, xc, xm))
        assert d.differences, d
        for side, (cell, units, x) in ((d.checkpoint[0], tc), (d.model[0], tm)):
            assert_never_wrong(side, dict(cell=cell, units=units, input_size=x, layers=1, bidirectional=False,
                                          proj_size=0, bias=True))
            if side.reset_after is not None:
                assert side.reset_after == reset[side.side]
    (mo,) = diagnose(set_weights_error(L.GRU(4), L.GRU(4, reset_after=False), 7, 7)).model
    assert (mo.cell, mo.units, mo.reset_after) == ("gru", 4, False)


def test_keras2_cudnn_bias_note():
    """The TF-Keras 2 message of keras-team/keras#11785 (a CuDNNLSTM checkpoint, 8H bias),
    as the issue quotes it: no Keras 2 here to produce it."""
    text = ("ValueError: Layer #1 (named \"lstm_1\"), weight <tf.Variable 'lstm_1/bias:0' shape=(400,) "
            "dtype=float32_ref> has shape (400,), but the saved weight has shape (800,).")
    d = diagnose(text)
    assert d.source == "Keras 2 load_weights"
    assert any("8H for an LSTM" in n for n in d.notes)


def test_a_fragment_of_the_message_proves_less():
    """One pasted line of a real message: its own facts, nothing that needs the other lines."""
    text = load_error(torch.nn.LSTM(100, 128), torch.nn.LSTM(100, 256))
    line = next(x.strip() for x in text.splitlines() if "weight_hh_l0" in x)
    d = diagnose(line)
    (ck,), (mo,) = d.checkpoint, d.model
    assert (ck.cell, ck.units, ck.proj_size, mo.units) == ("lstm", 128, 0, 256)
    assert ck.layers is None and ck.bidirectional is None and ck.input_size is None  # the full text had them
    assert diagnose(text).checkpoint[0].layers == 1
    assert any("read as a fragment" in n for n in d.notes)


@pytest.mark.parametrize("ckpt_reset_after", [True, False])
def test_keras_gru_reset_form_differs(ckpt_reset_after, tmp_path):
    """Same kernels; the bias is (2, 3H) with reset_after=True, (3H,) without."""
    def gru(reset_after):
        return keras.Sequential([keras.Input((3, 7)), keras.layers.GRU(4, reset_after=reset_after, name="rnn")])

    text = keras_load_error(gru(ckpt_reset_after), gru(not ckpt_reset_after), tmp_path)
    d = diagnose(text)
    (ck,), (mo,) = d.checkpoint, d.model
    assert (mo.cell, mo.units, mo.reset_after) == ("gru", 4, not ckpt_reset_after)
    # the checkpoint's values were found under the GRU's class path: a GRU of 4 units either way
    assert (ck.cell, ck.units, ck.reset_after) == ("gru", 4, ckpt_reset_after)
    assert [(x.field, x.checkpoint, x.model) for x in d.differences] == [
        ("reset_after", ckpt_reset_after, not ckpt_reset_after)]
