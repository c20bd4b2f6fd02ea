"""The one dtype table (lstmcalc.dtypes) against each format's own definition: NumPy's item
sizes, safetensors' dtype codes and sizes (the Rust crate's list as the Python package writes
it), ONNX's TensorProto enum and its NumPy mapping, TFLite's TensorType enum; and every reader
takes its view from the table."""

from __future__ import annotations

import numpy as np
import pytest

from lstmcalc import costing, dtypes, memory
from lstmcalc.readers import limits
from lstmcalc.readers import onnx as onnx_reader
from lstmcalc.readers import tflite as tflite_reader


def test_item_sizes_are_numpys():
    for name, (size, read_as, *_codes) in dtypes.TABLE.items():
        if not name.startswith(("bfloat", "float8")):
            assert np.dtype(name).itemsize == size, name
            assert np.dtype(read_as) == np.dtype(name), name
        else:  # read as float32, or only counted
            assert read_as in ("<f4", None), name


def test_narrow_float_sizes_are_ml_dtypes():
    ml_dtypes = pytest.importorskip("ml_dtypes")  # installed with jax/onnx; NumPy has no bfloat16 or float8
    own = {"bfloat16": ml_dtypes.bfloat16, "float8_e4m3": ml_dtypes.float8_e4m3fn, "float8_e5m2": ml_dtypes.float8_e5m2}
    assert set(own) == {n for n in dtypes.TABLE if n.startswith(("bfloat", "float8"))}
    for name, kind in own.items():
        assert np.dtype(kind).itemsize == dtypes.TABLE[name][0], name


def test_safetensors_codes_round_trip_through_safetensors():
    st = pytest.importorskip("safetensors.numpy")
    import json
    import tempfile

    for name, (size, read_as, code, *_rest) in dtypes.TABLE.items():
        if read_as is None or name == "bfloat16":  # NumPy cannot hold them to write
            continue
        a = np.arange(6).astype(name).reshape(2, 3)
        with tempfile.TemporaryDirectory() as d:
            path = f"{d}/t.safetensors"
            st.save_file({"t": a}, path)
            raw = open(path, "rb").read()
        n = int.from_bytes(raw[:8], "little")
        info = json.loads(raw[8 : 8 + n])["t"]
        assert info["dtype"] == code, name
        begin, end = info["data_offsets"]
        assert end - begin == a.size * size, name


def test_bfloat16_safetensors_code_is_torchs():
    torch = pytest.importorskip("torch")
    sst = pytest.importorskip("safetensors.torch")
    import json

    raw = sst.save({"t": torch.zeros(3, dtype=torch.bfloat16)})
    n = int.from_bytes(raw[:8], "little")
    assert json.loads(raw[8 : 8 + n])["t"]["dtype"] == dtypes.TABLE["bfloat16"][2]


def test_onnx_names_are_tensorprotos_and_map_to_the_same_numpy_type():
    onnx = pytest.importorskip("onnx")
    for onnx_name, name in dtypes.onnx_readable().items():
        code = onnx.TensorProto.DataType.Value(onnx_name)
        own = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(code))
        if name == "bfloat16":
            assert own.name == "bfloat16"
        else:
            assert own == np.dtype(name), onnx_name


def test_tflite_names_are_tensortypes():
    tflite = pytest.importorskip("tflite")
    enum = {k for k in vars(tflite.TensorType) if not k.startswith("_")}
    for code in dtypes.tflite_types():
        assert code in enum, code


def test_every_reader_takes_its_view_from_the_table():
    assert limits.SAFETENSORS_TYPES == {row[2]: row[:2] for row in dtypes.TABLE.values() if row[2]}
    assert tflite_reader.DTYPES == {row[4]: name for name, row in dtypes.TABLE.items() if row[4]}
    assert onnx_reader.NARROW_FLOATS == ("FLOAT16", "BFLOAT16")
    assert memory.ITEMSIZE == {"float16": 2, "float32": 4, "float64": 8}
    assert costing.DTYPES == {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8, "int8": 1}
