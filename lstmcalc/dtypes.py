"""The one dtype table (stdlib only): every element type lstmcalc meets, in a file or in a
cost, by one name, with its size and what each format calls it.

A row: ``name: (bytes per element, the NumPy dtype lstmcalc reads it as, safetensors code,
ONNX TensorProto name, TFLite TensorType name)``. "Read as" is None for a type only counted
(never decoded: float8); bfloat16 is read as float32, exactly (a bfloat16 is the top 16 bits of
a float32). A format code of None: that format has no such type, or lstmcalc does not read it
there. Every reader and the cost arithmetic take their views from here (``safetensors_types``,
``tflite_types``, ``onnx_readable``, ``NARROW_FLOATS``, ``WEIGHT_DTYPES``, ``ITEMSIZE``).
"""

from __future__ import annotations

# name:        bytes, read as, safetensors, ONNX,       TFLite
TABLE = {
    "float64": (8, "<f8", "F64", "DOUBLE", None),
    "float32": (4, "<f4", "F32", "FLOAT", "FLOAT32"),
    "float16": (2, "<f2", "F16", "FLOAT16", "FLOAT16"),
    "bfloat16": (2, "<f4", "BF16", "BFLOAT16", None),
    "float8_e4m3": (1, None, "F8_E4M3", None, None),
    "float8_e5m2": (1, None, "F8_E5M2", None, None),
    "int64": (8, "<i8", "I64", "INT64", "INT64"),
    "int32": (4, "<i4", "I32", "INT32", "INT32"),
    "int16": (2, "<i2", "I16", None, "INT16"),
    "int8": (1, "i1", "I8", "INT8", "INT8"),
    "uint64": (8, "<u8", "U64", None, None),
    "uint32": (4, "<u4", "U32", None, None),
    "uint16": (2, "<u2", "U16", None, None),
    "uint8": (1, "u1", "U8", "UINT8", "UINT8"),
    "bool": (1, "?", "BOOL", None, None),
}
_SAFETENSORS, _ONNX, _TFLITE = 2, 3, 4

# the precisions a forward pass computes in (run --dtype, forward(dtype=...))
COMPUTE_DTYPES = ("float32", "float64")
# the dtypes a cost prices memory in (cost --dtype), in messages' order
COST_DTYPES = ("float32", "float16", "bfloat16", "float64", "int8")
# the dtypes weights may have once read (narrower floats are widened on reading), in messages' order
WEIGHT_DTYPES = ("float16", "float32", "float64")
# bytes per element of every type in the table
ITEMSIZE = {name: row[0] for name, row in TABLE.items()}
# floats stored in fewer bytes than float32 (a forward pass widens them, exactly, to float32)
NARROW_FLOATS = tuple(name for name, row in TABLE.items() if name.startswith(("float", "bfloat")) and row[0] < 4)


def _by(column: int) -> dict[str, str]:
    return {row[column]: name for name, row in TABLE.items() if row[column] is not None}


def safetensors_types() -> dict[str, tuple[int, str | None]]:
    """{safetensors code: (bytes per element, the NumPy dtype read as or None)}."""
    return {code: TABLE[name][:2] for code, name in _by(_SAFETENSORS).items()}


def tflite_types() -> dict[str, str]:
    """{TFLite TensorType name: the NumPy dtype its buffer is read as}."""
    return {code: name for code, name in _by(_TFLITE).items()}


def onnx_readable() -> dict[str, str]:
    """{ONNX TensorProto type name: our name} of the types an ONNX tensor may be read in."""
    return _by(_ONNX)


def onnx_name(name: str) -> str:
    """The ONNX TensorProto name of one of our names ("FLOAT16" for "float16")."""
    return TABLE[name][_ONNX]
