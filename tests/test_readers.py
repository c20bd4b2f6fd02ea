"""Reading weight files without the frameworks: .npz (NumPy), .safetensors (safetensors.numpy),
and every error path that needs no framework to write its file.

Files written by the real Keras and PyTorch are read in tests/crosscheck/test_read_files.py.
"""

import json
import subprocess
import sys
import zipfile

import numpy as np

import helpers
import pytest

from lstmcalc.counting import count
from lstmcalc.readers import FileError, Stats, read_layer, read_layers
from lstmcalc.frameworks import make_spec


def random_weights(framework, cell, units, input_size, seed=0, dtype=np.float32, **options):
    spec = make_spec(units, input_size, cell=cell, framework=framework, **options)
    return helpers.random_weights(spec, seed, dtype=dtype, normal=True)


def assert_file_error(path, *words, layer=None):
    with pytest.raises(FileError) as info:
        read_layers(path, layer=layer)
    message = str(info.value)
    assert str(path) in message
    assert "\n" not in message
    for w in words:
        assert w in message, message
    assert type(info.value) is FileError  # the CLI exits 1 for it
    return message


# --- .npz ---------------------------------------------------------------------------------------


def test_npz_with_torch_names_groups_modules_by_prefix(tmp_path):
    lstm = random_weights("torch", "lstm", 4, 3, layers=2, bidirectional=True)
    gru = random_weights("torch", "gru", 5, 8)
    path = tmp_path / "model.npz"
    np.savez(path, **{f"encoder.lstm.{k}": v for k, v in lstm.items()},
             **{f"decoder.gru.{k}": v for k, v in gru.items()}, **{"fc.weight": np.zeros((1, 5))})
    found = read_layers(path)
    assert [f.name for f in found] == ["encoder.lstm", "decoder.gru"]
    enc, dec = found
    assert enc.spec == make_spec(4, 3, cell="lstm", framework="torch", layers=2, bidirectional=True)
    assert dec.spec == make_spec(5, 8, cell="gru", framework="torch")
    assert enc.total == count(4, 3, framework="torch", layers=2, bidirectional=True)
    assert enc.total == sum(v.size for v in lstm.values())
    assert dec.total == sum(v.size for v in gru.values())
    assert enc.location == "encoder.lstm."
    assert set(enc.weights) == set(lstm)
    assert all(np.array_equal(enc.weights[k], lstm[k]) for k in lstm)


@pytest.mark.parametrize("cell, options", [
    ("lstm", {}),
    ("gru", {"reset_after": False}),
    ("gru", {"bidirectional": True}),
    ("rnn", {"bias": False, "layers": 2}),
    ("lstm", {"layers": 3, "bidirectional": True}),
])
def test_npz_with_keras_keys(tmp_path, cell, options):
    weights = random_weights("keras", cell, 3, 2, **options)
    path = tmp_path / "layer.npz"
    np.savez(path, **weights)
    (found,) = read_layers(path)
    assert found.spec == make_spec(3, 2, cell=cell, framework="keras", **options)
    assert found.name == "layer"
    assert found.total == sum(v.size for v in weights.values())


def test_gate_statistics_follow_the_slices(tmp_path):
    h, x = 3, 2
    weights = random_weights("keras", "gru", h, x, seed=4, dtype=np.float64)
    np.savez(tmp_path / "gru.npz", **weights)
    (found,) = read_layers(tmp_path / "gru.npz")
    rows = {g.gate: g for g in found.gates}
    assert [g.gate for g in found.gates] == ["z", "r", "n"]  # Keras order
    reset = rows["r"]  # Keras block 1
    assert reset.name == "reset"
    assert reset.input_weights == Stats.of(weights["kernel"][:, h:2 * h])
    assert reset.recurrent_weights == Stats.of(weights["recurrent_kernel"][:, h:2 * h])
    assert reset.bias_input == Stats.of(weights["bias"][0, h:2 * h])
    assert reset.bias_recurrent == Stats.of(weights["bias"][1, h:2 * h])
    assert reset.bias == Stats.of(weights["bias"][:, h:2 * h])
    assert reset.bias.count == 2 * h
    s = reset.input_weights
    block = weights["kernel"][:, h:2 * h]
    assert (s.count, s.mean, s.std, s.min, s.max, s.max_abs) == (
        block.size, block.mean(), block.std(), block.min(), block.max(), np.abs(block).max())


def test_torch_projection_rows_and_bias_pairs(tmp_path):
    weights = random_weights("torch", "lstm", 4, 3, proj_size=2, bidirectional=True)
    np.savez(tmp_path / "proj.npz", **weights)
    (found,) = read_layers(tmp_path / "proj.npz")
    assert found.spec.proj_size == 2
    assert found.name == "lstm"  # no prefix: named after the cell
    assert [(g.direction, g.gate) for g in found.gates] == [
        (d, g) for d in ("forward", "backward") for g in ("i", "f", "g", "o", "proj")]
    proj = found.gates[4]
    assert proj.projection == Stats.of(weights["weight_hr_l0"]) and proj.input_weights is None
    forget = found.gates[1]
    assert forget.bias_input == Stats.of(weights["bias_ih_l0"][4:8])
    assert forget.bias_recurrent == Stats.of(weights["bias_hh_l0"][4:8])
    assert forget.recurrent_weights.count == 4 * 2  # H × P


def test_to_dict_is_json_with_the_documented_keys(tmp_path):
    np.savez(tmp_path / "rnn.npz", **random_weights("torch", "rnn", 2, 1, bias=False))
    d = read_layer(tmp_path / "rnn.npz").to_dict()
    json.dumps(d)
    assert {"name", "cell", "framework", "units", "input", "layers", "bidirectional", "total", "gates"} <= set(d)
    assert (d["cell"], d["framework"], d["units"], d["input"], d["total"]) == ("rnn", "torch", 2, 1, 6)
    assert d["gates"][0]["bias"] is None
    assert set(d["gates"][0]) == {"layer", "direction", "gate", "name", "input_weights", "recurrent_weights",
                                  "bias", "bias_input", "bias_recurrent", "projection"}


def test_npz_errors(tmp_path):
    np.save(tmp_path / "one.npy", np.zeros(3))
    (tmp_path / "one.npy").rename(tmp_path / "one.npz")
    assert_file_error(tmp_path / "one.npz", "one array (.npy)")

    np.savez(tmp_path / "objects.npz", a=np.array([{"a": 1}], dtype=object))
    assert_file_error(tmp_path / "objects.npz", "allow_pickle=False")

    good = tmp_path / "good.npz"
    np.savez(good, **random_weights("torch", "lstm", 2, 2))
    data = good.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    assert_file_error(tmp_path / "truncated.npz", "truncated")

    (tmp_path / "text.npz").write_text("not an archive")
    assert_file_error(tmp_path / "text.npz", "not an .npz archive")

    with zipfile.ZipFile(tmp_path / "zip.npz", "w") as z:
        z.writestr("data.pkl", b"x")
    assert_file_error(tmp_path / "zip.npz", "data.pkl")

    np.savez(tmp_path / "empty.npz")
    assert_file_error(tmp_path / "empty.npz", "no arrays")

    np.savez(tmp_path / "dense.npz", **{"dense.weight": np.zeros((2, 2))})
    assert_file_error(tmp_path / "dense.npz", "no recurrent layer", "dense.weight")


def test_contradicting_shapes_name_file_and_tensor(tmp_path):
    weights = {f"rnn.{k}": v for k, v in random_weights("torch", "gru", 3, 2, layers=2).items()}
    weights["rnn.weight_hh_l1"] = np.zeros((9, 4), np.float32)
    np.savez(tmp_path / "bad.npz", **weights)
    assert_file_error(tmp_path / "bad.npz", "rnn.weight_hh_l1: shape (9, 4)", "expected (9, 3)")

    keras = random_weights("keras", "lstm", 3, 2)
    keras["bias"] = np.zeros(11, np.float32)
    np.savez(tmp_path / "bias.npz", **keras)
    assert_file_error(tmp_path / "bias.npz", "bias: shape (11,)", "expected (12,)")

    torch_like = random_weights("torch", "lstm", 3, 2)
    torch_like["weight_hh_l0"] = np.zeros((8, 3), np.float32)  # 8 rows: no cell has 8/3 blocks
    np.savez(tmp_path / "odd.npz", **torch_like)
    assert_file_error(tmp_path / "odd.npz", "weight_hh_l0", "(8, 3)")


# --- .safetensors -----------------------------------------------------------------------------------


def test_safetensors_torch_and_keras_names(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    gru = random_weights("torch", "gru", 4, 3, bidirectional=True)
    st.save_file({f"rnn.{k}": v for k, v in gru.items()}, tmp_path / "gru.safetensors")
    (found,) = read_layers(tmp_path / "gru.safetensors")
    assert (found.name, found.spec) == ("rnn", make_spec(4, 3, cell="gru", framework="torch", bidirectional=True))
    assert found.total == sum(v.size for v in gru.values())

    keras = random_weights("keras", "lstm", 2, 5, layers=2)
    st.save_file(keras, tmp_path / "keras.safetensors")
    (found,) = read_layers(tmp_path / "keras.safetensors")
    assert found.spec == make_spec(2, 5, framework="keras", layers=2)


def test_safetensors_errors(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    (tmp_path / "text.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}xxxxxxxx")
    assert_file_error(tmp_path / "text.safetensors", "not a readable safetensors file")
    st.save_file(random_weights("torch", "lstm", 3, 3), tmp_path / "good.safetensors")
    data = (tmp_path / "good.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    assert_file_error(tmp_path / "cut.safetensors", "not a readable safetensors file")


# --- hand-made h5 (no Keras needed) ------------------------------------------------------------------


def test_h5_without_recurrent_layers(tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "dense.weights.h5", "w") as f:
        f.create_dataset("layers/dense/vars/0", data=np.zeros((2, 3)))
    assert_file_error(tmp_path / "dense.weights.h5", "no LSTM, GRU or SimpleRNN layer")


def test_h5_shape_contradiction_names_the_dataset(tmp_path):
    h5py = pytest.importorskip("h5py")
    with h5py.File(tmp_path / "bad.weights.h5", "w") as f:
        f.create_group("layers/lstm/vars").attrs["name"] = "lstm"
        f.create_dataset("layers/lstm/cell/vars/0", data=np.zeros((2, 12)))
        f.create_dataset("layers/lstm/cell/vars/1", data=np.zeros((3, 12)))
        f.create_dataset("layers/lstm/cell/vars/2", data=np.zeros((10,)))
    assert_file_error(tmp_path / "bad.weights.h5", "lstm: layers/lstm/cell/vars/2 (bias): shape (10,)",
                      "expected (12,)")


# --- any file ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix, words", [
    (".keras", "not a zip archive"),
    (".pt", "not a PyTorch file"),
    (".pth", "not a PyTorch file"),
    (".npz", "not an .npz archive"),
])
def test_wrong_content_for_the_extension(tmp_path, suffix, words):
    if suffix in (".pt", ".pth"):
        pytest.importorskip("torch")
    path = tmp_path / f"notes{suffix}"
    path.write_text("these are my notes, not weights\n")
    assert_file_error(path, words)


def test_text_file_named_h5(tmp_path):
    pytest.importorskip("h5py")
    path = tmp_path / "notes.weights.h5"
    path.write_text("not hdf5")
    assert_file_error(path, "not an HDF5 file")


def test_missing_file_directory_and_extension(tmp_path):
    assert_file_error(tmp_path / "nope.pt", "no such file")
    (tmp_path / "dir.npz").mkdir()
    assert_file_error(tmp_path / "dir.npz", "is a directory")
    (tmp_path / "w.txt").write_text("x")
    assert_file_error(tmp_path / "w.txt", "unknown extension '.txt'", ".keras", ".safetensors")


def test_layer_selection(tmp_path):
    lstm = random_weights("torch", "lstm", 2, 2)
    path = tmp_path / "two.npz"
    np.savez(path, **{f"encoder.lstm.{k}": v for k, v in lstm.items()},
             **{f"encoder.gru.{k}": v for k, v in random_weights("torch", "gru", 2, 2).items()},
             **{f"decoder.rnn.{k}": v for k, v in random_weights("torch", "rnn", 2, 2).items()})
    assert [f.name for f in read_layers(path, layer="encoder.gru")] == ["encoder.gru"]
    assert read_layer(path, layer="decoder").name == "decoder.rnn"  # prefix up to a dot
    assert read_layer(path, layer="encoder.lstm.").name == "encoder.lstm"  # the location
    assert_file_error(path, "'encoder' is ambiguous", "encoder.lstm", "encoder.gru", layer="encoder")
    assert_file_error(path, "no recurrent layer named 'enc'", "decoder.rnn", layer="enc")
    with pytest.raises(FileError) as info:
        read_layer(path)
    assert "3 recurrent layers" in str(info.value) and "encoder.lstm, encoder.gru, decoder.rnn" in str(info.value)
    assert read_layer(tmp_path / "two.npz", layer="encoder.lstm").weights.keys() == lstm.keys()


def test_missing_optional_readers_say_what_to_install(tmp_path, monkeypatch):
    (tmp_path / "m.weights.h5").write_bytes(b"x")
    (tmp_path / "m.safetensors").write_bytes(b"x")
    (tmp_path / "m.pt").write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py -> ImportError
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    monkeypatch.setitem(sys.modules, "torch", None)
    assert_file_error(tmp_path / "m.weights.h5", "needs the h5py package", "pip install 'lstmcalc[files]'")
    assert_file_error(tmp_path / "m.safetensors", "needs the safetensors package", "pip install 'lstmcalc[files]'")
    assert_file_error(tmp_path / "m.pt", "needs the torch package", "pip install torch")


def test_reading_npz_imports_no_framework(tmp_path):
    np.savez(tmp_path / "w.npz", **random_weights("torch", "gru", 2, 2))
    probe = (
        "import sys; from lstmcalc.readers import read_layers; "
        f"read_layers({str(tmp_path / 'w.npz')!r})[0].to_dict(); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'keras', 'h5py', 'safetensors'}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_bfloat16_safetensors_without_ml_dtypes(tmp_path):
    """NumPy has no bfloat16 (unless ml_dtypes registered one): such tensors are read as float32."""
    pytest.importorskip("safetensors.numpy")
    weights = random_weights("torch", "gru", 2, 3)
    header, blobs, offset = {}, [], 0
    for name, a in weights.items():
        bf16 = (a.astype("<f4").view("<u4") >> 16).astype("<u2")  # truncate to bfloat16
        blobs.append(bf16.tobytes())
        header[name] = {"dtype": "BF16", "shape": list(a.shape), "data_offsets": [offset, offset + len(blobs[-1])]}
        offset += len(blobs[-1])
    text = json.dumps(header).encode()
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(len(text).to_bytes(8, "little") + text + b"".join(blobs))
    probe = (
        "import sys, numpy as np; from lstmcalc.readers import read_layers; "
        f"f = read_layers({str(path)!r})[0]; w = f.weights['weight_hh_l0']; "
        "print(f.spec.cell, w.dtype, 'ml_dtypes' in sys.modules, w.ravel()[:3].tolist())"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    cell, dtype, ml, values = out.stdout.split(" ", 3)
    assert (cell, dtype, ml) == ("gru", "float32", "False")
    expected = (weights["weight_hh_l0"].view("<u4") & 0xFFFF0000).view("<f4").ravel()[:3]
    assert json.loads(values) == expected.tolist()
