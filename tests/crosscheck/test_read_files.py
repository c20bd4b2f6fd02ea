"""read_layers on files the real frameworks write: Keras 3 ``.keras``, ``.weights.h5`` and legacy
``.h5``; PyTorch ``torch.save(state_dict)``. Every total is checked against the framework's own
count (``count_params()``, ``sum(p.numel())``) and every tensor against the framework's own.
"""

import json
import os
import zipfile

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")
pytest.importorskip("h5py")

from lstmcalc.readers import FileError, Stats, read_layer, read_layers  # noqa: E402
from lstmcalc.frameworks import make_spec  # noqa: E402

T, X = 5, 3


def keras_weights(layer):
    """A Keras layer's arrays under our keys (bare, or layer0/{direction}/ for Bidirectional)."""
    names = ("kernel", "recurrent_kernel", "bias")
    if isinstance(layer, keras.layers.Bidirectional):
        halves = (("forward", layer.forward_layer), ("backward", layer.backward_layer))
        return {f"layer0/{d}/{n}": w for d, sub in halves for n, w in zip(names, sub.get_weights())}
    return dict(zip(names, layer.get_weights()))


def assert_weights_equal(found, expected):
    assert set(found.weights) == set(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(found.weights[key], value, err_msg=key)


@pytest.fixture(scope="module")
def small_sequential(tmp_path_factory):
    """The brief's model: a Sequential with an LSTM and a GRU, fresh (Keras' own initialisers)."""
    model = keras.Sequential([
        keras.Input((T, X)),
        keras.layers.LSTM(4, return_sequences=True, name="encoder_lstm"),
        keras.layers.GRU(2, name="decoder_gru"),
    ])
    folder = tmp_path_factory.mktemp("keras_small")
    model.save(folder / "model.keras")
    model.save_weights(folder / "model.weights.h5")
    return model, folder


@pytest.mark.parametrize("filename", ["model.keras", "model.weights.h5"])
def test_sequential_lstm_and_gru(small_sequential, filename):
    model, folder = small_sequential
    found = read_layers(folder / filename)
    assert sorted(f.name for f in found) == ["decoder_gru", "encoder_lstm"]
    by_name = {f.name: f for f in found}
    lstm, gru = by_name["encoder_lstm"], by_name["decoder_gru"]
    keras_specific = {"return_sequences": True} if filename.endswith(".keras") else {}
    assert lstm.spec == make_spec(4, X, cell="lstm", framework="keras", **keras_specific)
    assert gru.spec == make_spec(2, 4, cell="gru", framework="keras", reset_after=True)
    assert lstm.total == model.get_layer("encoder_lstm").count_params() == 128
    assert gru.total == model.get_layer("decoder_gru").count_params() == 3 * (4 * 2 + 2 * 2 + 2 * 2)
    assert_weights_equal(lstm, keras_weights(model.get_layer("encoder_lstm")))
    assert_weights_equal(gru, keras_weights(model.get_layer("decoder_gru")))
    if filename.endswith(".keras"):
        assert [f.name for f in found] == ["encoder_lstm", "decoder_gru"]  # model order from config.json


def test_fresh_keras_lstm_forget_bias_is_exactly_one(small_sequential):
    _, folder = small_sequential
    lstm = read_layer(folder / "model.keras", layer="encoder_lstm")
    rows = {g.gate: g for g in lstm.gates}
    assert list(rows) == ["i", "f", "g", "o"]
    assert rows["f"].name == "forget"
    assert rows["f"].bias == Stats(count=4, mean=1.0, std=0.0, min=1.0, max=1.0, max_abs=1.0)  # unit_forget_bias
    for gate in "igo":
        assert rows[gate].bias == Stats(count=4, mean=0.0, std=0.0, min=0.0, max=0.0, max_abs=0.0)
    assert rows["f"].bias_input is None  # Keras LSTM keeps one bias
    json.dumps(lstm.to_dict())


@pytest.fixture(scope="module")
def varied_model(tmp_path_factory):
    """Bidirectional (sum), GRU without reset_after, SimpleRNN without bias, a nested Sequential."""
    rng = np.random.default_rng(0)
    inputs = keras.Input((T, X))
    encoder = keras.Sequential([keras.layers.LSTM(4, return_sequences=True, name="first"),
                                keras.layers.LSTM(2, return_sequences=True, name="second")], name="encoder")
    h = encoder(inputs)
    h = keras.layers.Bidirectional(keras.layers.GRU(3, return_sequences=True), merge_mode="sum", name="bigru")(h)
    h = keras.layers.GRU(2, reset_after=False, return_sequences=True, name="old_gru")(h)
    h = keras.layers.SimpleRNN(3, use_bias=False, activation="relu", name="plain")(h)
    model = keras.Model(inputs, keras.layers.Dense(1)(h))
    model.set_weights([rng.standard_normal(w.shape) for w in model.get_weights()])
    folder = tmp_path_factory.mktemp("keras_varied")
    model.save(folder / "model.keras")
    model.save_weights(folder / "model.weights.h5")
    model.save(folder / "legacy.h5")  # Keras 3 still writes the legacy HDF5 layout
    return model, folder


def expected_varied(model, with_config):
    encoder = model.get_layer("encoder")
    merge = {"merge_mode": "sum"} if with_config else {}
    relu = {"activation": "relu"} if with_config else {}
    seq = {"return_sequences": True} if with_config else {}
    return {
        "encoder/first": (make_spec(4, X, cell="lstm", **seq), encoder.layers[0]),
        "encoder/second": (make_spec(2, 4, cell="lstm", **seq), encoder.layers[1]),
        "bigru": (make_spec(3, 2, cell="gru", bidirectional=True, **merge, **seq), model.get_layer("bigru")),
        "old_gru": (make_spec(2, 3, cell="gru", reset_after=False, **seq), model.get_layer("old_gru")),
        "plain": (make_spec(3, 2, cell="rnn", bias=False, **relu), model.get_layer("plain")),
    }


@pytest.mark.parametrize("filename, with_config", [
    ("model.keras", True), ("model.weights.h5", False), ("legacy.h5", True)])
def test_varied_layers(varied_model, filename, with_config):
    model, folder = varied_model
    found = read_layers(folder / filename)
    expected = expected_varied(model, with_config)
    assert sorted(f.name for f in found) == sorted(expected)
    if with_config:
        assert [f.name for f in found] == list(expected)
    for f in found:
        spec, layer = expected[f.name]
        assert f.spec == spec, f.name
        assert f.total == layer.count_params(), f.name
        assert_weights_equal(f, keras_weights(layer))


def test_keras_locations(varied_model):
    _, folder = varied_model
    locations = {f.name: f.location for f in read_layers(folder / "model.keras")}
    assert locations == {
        "encoder/first": "layers/sequential/layers/lstm",  # h5 groups are named by class, not by name
        "encoder/second": "layers/sequential/layers/lstm_1",
        "bigru": "layers/bidirectional",
        "old_gru": "layers/gru",
        "plain": "layers/simple_rnn",
    }
    assert read_layer(folder / "model.keras", layer="encoder/second").spec.units == 2
    assert read_layer(folder / "model.keras", layer="second").name == "encoder/second"
    with pytest.raises(FileError, match="'encoder' is ambiguous: it matches encoder/first, encoder/second"):
        read_layer(folder / "model.keras", layer="encoder")


def test_keras_archive_errors(small_sequential, tmp_path):
    _, folder = small_sequential
    data = (folder / "model.keras").read_bytes()
    (tmp_path / "cut.keras").write_bytes(data[: len(data) // 2])
    with pytest.raises(FileError, match=r"cut\.keras: not a zip archive, or a truncated one"):
        read_layers(tmp_path / "cut.keras")

    with zipfile.ZipFile(folder / "model.keras") as z:
        config = json.loads(z.read("config.json"))
        h5_bytes = z.read("model.weights.h5")
    config["config"]["layers"][1]["config"]["units"] = 5
    with zipfile.ZipFile(tmp_path / "liar.keras", "w") as z:
        z.writestr("config.json", json.dumps(config))
        z.writestr("model.weights.h5", h5_bytes)
    words = r"liar\.keras: encoder_lstm: config says units=5 but its recurrent_kernel has shape \(4, 16\)"
    with pytest.raises(FileError, match=words):
        read_layers(tmp_path / "liar.keras")

    with zipfile.ZipFile(tmp_path / "noweights.keras", "w") as z:
        z.writestr("config.json", json.dumps(config))
    with pytest.raises(FileError, match=r"noweights\.keras: the archive has no model\.weights\.h5"):
        read_layers(tmp_path / "noweights.keras")

    (tmp_path / "weights.keras").write_bytes((folder / "model.weights.h5").read_bytes())
    with pytest.raises(FileError, match=r"weights\.keras: not a zip archive"):
        read_layers(tmp_path / "weights.keras")

    h5 = (folder / "model.weights.h5").read_bytes()
    (tmp_path / "cut.weights.h5").write_bytes(h5[: len(h5) // 2])
    with pytest.raises(FileError, match=r"cut\.weights\.h5: damaged or truncated HDF5 file"):
        read_layers(tmp_path / "cut.weights.h5")


def test_keras_file_without_recurrent_layers(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.save(tmp_path / "dense.keras")
    with pytest.raises(FileError, match=r"dense\.keras: no LSTM, GRU or SimpleRNN layer"):
        read_layers(tmp_path / "dense.keras")


# --- PyTorch ---------------------------------------------------------------------------------------


class Seq2Seq(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Module()
        self.encoder.lstm = torch.nn.LSTM(X, 4, num_layers=2, bidirectional=True, proj_size=2, batch_first=True)
        self.decoder = torch.nn.Module()
        self.decoder.gru = torch.nn.GRU(4, 5, batch_first=True)
        self.head = torch.nn.Linear(5, 1)


def test_torch_state_dict_of_one_lstm(tmp_path):
    lstm = torch.nn.LSTM(X, 6, num_layers=3)
    torch.save(lstm.state_dict(), tmp_path / "lstm.pt")
    (found,) = read_layers(tmp_path / "lstm.pt")
    assert found.name == "lstm" and found.location == ""
    assert found.spec == make_spec(6, X, framework="torch", layers=3)
    assert found.total == sum(p.numel() for p in lstm.parameters())
    assert_weights_equal(found, {k: v.numpy() for k, v in lstm.state_dict().items()})
    forget = found.gates[1]
    np.testing.assert_allclose(forget.bias_input.mean, lstm.bias_ih_l0[6:12].detach().double().mean().item(), rtol=1e-6)


def test_torch_modules_grouped_by_prefix(tmp_path):
    net = Seq2Seq()
    torch.save(net.state_dict(), tmp_path / "net.pth")
    found = read_layers(tmp_path / "net.pth")
    assert [f.name for f in found] == ["encoder.lstm", "decoder.gru"]
    enc, dec = found
    assert enc.spec == make_spec(4, X, framework="torch", layers=2, bidirectional=True, proj_size=2)
    assert dec.spec == make_spec(5, 4, cell="gru", framework="torch")
    assert enc.total == sum(p.numel() for p in net.encoder.lstm.parameters())
    assert dec.total == sum(p.numel() for p in net.decoder.gru.parameters())
    with pytest.raises(FileError, match="holds 2 recurrent layers .encoder.lstm, decoder.gru."):
        read_layer(tmp_path / "net.pth")
    assert read_layer(tmp_path / "net.pth", layer="decoder").name == "decoder.gru"


def test_torch_checkpoint_dict_and_rnn_without_bias(tmp_path):
    rnn = torch.nn.RNN(X, 3, bias=False, nonlinearity="relu")
    opt = torch.optim.Adam(rnn.parameters())
    torch.save({"model": rnn.state_dict(), "optimizer": opt.state_dict(), "epoch": 7}, tmp_path / "ckpt.pt")
    (found,) = read_layers(tmp_path / "ckpt.pt")
    assert found.name == "model"
    assert found.spec == make_spec(3, X, cell="rnn", framework="torch", bias=False)
    assert found.total == sum(p.numel() for p in rnn.parameters()) == 18


def test_torch_errors(tmp_path):
    torch.save(Seq2Seq(), tmp_path / "module.pt")  # a pickled module, not a state_dict
    with pytest.raises(FileError, match=r"module\.pt: holds a pickled Python object .*weights_only=True"):
        read_layers(tmp_path / "module.pt")

    torch.save({}, tmp_path / "empty.pt")
    with pytest.raises(FileError, match=r"empty\.pt: the state_dict holds no tensors"):
        read_layers(tmp_path / "empty.pt")

    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "linear.pt")
    with pytest.raises(FileError, match=r"linear\.pt: no recurrent layer.*weight"):
        read_layers(tmp_path / "linear.pt")

    state = torch.nn.GRU(X, 3, num_layers=2).state_dict()
    state["weight_ih_l1"] = torch.zeros(9, 4)  # layer 1 reads H = 3 features, not 4
    torch.save(state, tmp_path / "liar.pt")
    with pytest.raises(FileError, match=r"liar\.pt: weight_ih_l1: shape \(9, 4\) contradicts .*expected \(9, 3\)"):
        read_layers(tmp_path / "liar.pt")

    data = (tmp_path / "liar.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(FileError, match=r"cut\.pt: not a PyTorch file, or a truncated one"):
        read_layers(tmp_path / "cut.pt")

    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(FileError, match=r"tensor\.pt: holds one tensor"):
        read_layers(tmp_path / "tensor.pt")


def test_bfloat16_state_dict_is_read_as_float32(tmp_path):
    gru = torch.nn.GRU(X, 2).to(torch.bfloat16)
    torch.save(gru.state_dict(), tmp_path / "bf16.pt")
    (found,) = read_layers(tmp_path / "bf16.pt")
    assert {a.dtype for a in found.weights.values()} == {np.dtype(np.float32)}
    assert found.total == sum(p.numel() for p in gru.parameters())


def test_conv_lstm_is_not_taken_for_an_lstm_and_rnn_of_a_cell_is(tmp_path):
    model = keras.Sequential([
        keras.Input((T, 6, 2)),
        keras.layers.ConvLSTM1D(4, 3, return_sequences=True),  # kernel (3, 2, 16): not (X, 4H)
        keras.layers.Bidirectional(keras.layers.ConvLSTM1D(2, 3, return_sequences=True)),
        keras.layers.Reshape((T, -1)),
        keras.layers.RNN(keras.layers.GRUCell(2), name="after_conv"),  # an RNN of a GRUCell is a GRU
    ])
    model.save(tmp_path / "conv.keras")
    model.save_weights(tmp_path / "conv.weights.h5")
    for name in ("conv.keras", "conv.weights.h5"):
        (found,) = read_layers(tmp_path / name)
        assert found.name == "after_conv"
        assert found.spec == make_spec(2, 8, cell="gru", reset_after=True)
        assert found.total == model.get_layer("after_conv").count_params()


def test_bfloat16_safetensors_is_read_as_float32(tmp_path):
    pytest.importorskip("safetensors")
    from safetensors.torch import save_file

    lstm = torch.nn.LSTM(X, 2, bidirectional=True).to(torch.bfloat16)
    save_file(dict(lstm.state_dict()), tmp_path / "bf16.safetensors")
    (found,) = read_layers(tmp_path / "bf16.safetensors")
    assert found.spec == make_spec(2, X, framework="torch", bidirectional=True)
    for key, value in lstm.state_dict().items():
        np.testing.assert_array_equal(found.weights[key], value.float().numpy())  # bfloat16 -> float32 is exact


def test_weights_h5_without_config_lists_default_names_in_model_order(tmp_path):
    """A .weights.h5 keeps no layer order and h5py lists groups alphabetically (lstm_10 before
    lstm_2); Keras numbers default names in creation order, so those come back in model order."""
    model = keras.Sequential([keras.Input((T, X))]
                             + [keras.layers.LSTM(k + 1, return_sequences=True) for k in range(12)])
    model.save_weights(tmp_path / "deep.weights.h5")
    found = read_layers(tmp_path / "deep.weights.h5")
    assert [f.name for f in found] == [layer.name for layer in model.layers]
    assert [f.total for f in found] == [layer.count_params() for layer in model.layers]
