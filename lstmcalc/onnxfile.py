"""Read the LSTM / GRU / RNN nodes of an ONNX model, and write a runnable one (the ``onnx``
package, imported inside the functions: ``pip install 'lstmcalc[onnx]'``).

Operator conventions (onnx ``docs/Operators.md``, LSTM / GRU / RNN; the node has no stacking
and no projection, a stack is one node per layer)::

    W  [D, G·H, X]     input weights, gates stacked along axis 1
    R  [D, G·H, H]     recurrent weights
    B  [D, 2·G·H]      Wb (G·H) then Rb (G·H): two bias vectors per gate
    P  [D, 3·H]        LSTM peepholes, gates i, o, f
    initial_h, initial_c, Y_h, Y_c  [D, B, H]   (layout 0)
    Y  [T, D, B, H]    (layout 0; layout 1 is [B, T, D, H] and X [B, T, X])

with G = 4 (LSTM, gate order i, o, f, c), 3 (GRU, z, r, h) or 1 (RNN), D = 2 when
``direction`` is "bidirectional", else 1.

Reading never hand-parses protobuf: ``onnx.load(..., load_external_data=False)`` parses the
file and :func:`onnx.numpy_helper.to_array` decodes each tensor, after this module has
checked that the tensor's declared dims match the bytes it carries (and that external data
stays inside the model's folder and inside the data file). Every failure is one line:
:class:`OnnxFileError`.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import write_atomic
from .errors import FileError

RNN_OPS = {"LSTM": 4, "GRU": 3, "RNN": 1}  # op type -> gates G
LOOP_OPS = ("Loop", "Scan")
# Input slots of each operator, in the spec's order (a missing optional input is "" or absent).
INPUT_SLOTS = {
    "LSTM": ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"),
    "GRU": ("X", "W", "R", "B", "sequence_lens", "initial_h"),
    "RNN": ("X", "W", "R", "B", "sequence_lens", "initial_h"),
}
OUTPUT_SLOTS = {"LSTM": ("Y", "Y_h", "Y_c"), "GRU": ("Y", "Y_h"), "RNN": ("Y", "Y_h")}
DIRECTIONS = ("forward", "reverse", "bidirectional")
# The opset written: 14 is the first with the ``layout`` attribute on LSTM / GRU / RNN (LSTM
# 14, GRU 14, RNN 14); the later revision (22) only adds bfloat16/float16 type support. Every
# onnxruntime since 1.8 runs opset 14.
WRITE_OPSET = 14
ONNX_EXTRA = "pip install 'lstmcalc[onnx]'"
# Attributes of the three operators and their AttributeProto types (spec); the GRU alone has
# linear_before_reset, the LSTM alone input_forget.
ATTRIBUTE_TYPES = {
    "hidden_size": "INT", "direction": "STRING", "layout": "INT", "clip": "FLOAT",
    "activations": "STRINGS", "activation_alpha": "FLOATS", "activation_beta": "FLOATS",
    "linear_before_reset": "INT", "input_forget": "INT",
}
# The spec's default activations per direction (f, g, h for LSTM; f, g for GRU; f for RNN), and
# the RNN nonlinearities lstmcalc runs (spec name -> lstmcalc's activation option).
DEFAULT_ACTIVATIONS = {"LSTM": ("Sigmoid", "Tanh", "Tanh"), "GRU": ("Sigmoid", "Tanh"), "RNN": ("Tanh",)}
ACTIVATION_OF = {("Tanh",): "tanh", ("Relu",): "relu"}
_IDENTITY_HOPS = 64  # bound on Identity chains followed (a cycle cannot loop forever)


# An ONNX file that cannot be read, or that does not say what an RNN node needs: the project's
# FileError (one line naming the file, node or tensor), under the name this module's callers use.
OnnxFileError = FileError


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OnnxInput:
    """One input of an RNN node and where its value comes from.

    ``source``: "initializer" | "constant" (a Constant node) | "graph input" (fed at run time,
    no value in the file) | "computed" (output of another node, e.g. an Expand of zeros) |
    "absent" (optional input not given). ``array`` is set for "initializer" and "constant"
    (and an initializer that is also a graph input: ``overridable``). ``via`` names the
    Identity nodes followed, ``producer`` the op type and node name that computes it.
    """

    slot: str  # "X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"
    name: str  # the tensor's name in the graph ("" when absent)
    source: str
    array: object = field(default=None, repr=False, compare=False)  # np.ndarray or None
    shape: tuple | None = None  # dims of the array, or the graph input's declared shape (str for symbolic)
    dtype: str | None = None  # numpy dtype name, or the ONNX type name for graph inputs
    overridable: bool = False  # an initializer that is also a graph input (IR >= 4)
    via: tuple[str, ...] = ()  # Identity nodes between the RNN node and the value
    producer: str = ""  # "Expand '/Expand_output_0'" for computed inputs

    @property
    def is_constant(self) -> bool:
        return self.source in ("initializer", "constant")


@dataclass(frozen=True)
class OnnxRnnNode:
    """One LSTM / GRU / RNN node of a model's main graph, with its attributes and inputs.

    Attributes the node does not set keep the spec's default (``hidden_size`` None when
    absent: the spec makes it optional; R's last dimension says it).
    """

    op_type: str  # "LSTM" | "GRU" | "RNN"
    name: str  # node name ("" when the file gives none)
    index: int  # position in graph.node (ONNX requires topological order)
    hidden_size: int | None
    direction: str
    layout: int
    linear_before_reset: int  # GRU only (0 elsewhere)
    input_forget: int  # LSTM only (0 elsewhere)
    clip: float | None
    activations: tuple[str, ...] | None
    activation_alpha: tuple[float, ...] | None
    activation_beta: tuple[float, ...] | None
    inputs: dict  # {slot: OnnxInput} for every slot of the operator
    outputs: tuple[str, ...]  # Y, Y_h[, Y_c] names in slot order ("" when not produced)
    upstream: tuple[str, ...] = ()  # earlier RNN nodes X depends on (names, or "#index" when unnamed)
    other_attributes: tuple[str, ...] = ()  # attribute names the spec does not define

    @property
    def gates(self) -> int:
        return RNN_OPS[self.op_type]

    @property
    def num_directions(self) -> int:
        return 2 if self.direction == "bidirectional" else 1

    def array(self, slot: str):
        """The value of ``slot`` (np.ndarray) when it is constant in the file, else None."""
        return self.inputs[slot].array


@dataclass(frozen=True)
class OnnxModel:
    """What :func:`read_onnx_model` found: the RNN nodes in graph order and the context a
    caller needs to explain a model without one."""

    file: str
    rnn_nodes: tuple[OnnxRnnNode, ...]
    opset: int | None  # version of the default ("" / "ai.onnx") domain
    ir_version: int
    producer: str  # "pytorch 2.13.0", "" when not recorded
    op_counts: dict  # {op type: how many} over the main graph
    loops: tuple[str, ...]  # "Loop 'name'" / "Scan 'name'" nodes of the main graph
    nested_rnn: tuple[str, ...]  # RNN nodes inside subgraphs or local functions (not read)


# --- reading ---------------------------------------------------------------------------------


def read_onnx(path) -> list[OnnxRnnNode]:
    """Every LSTM / GRU / RNN node of the model's main graph, in graph order (maybe none:
    :func:`read_onnx_model` says what the model has instead)."""
    return list(read_onnx_model(path).rnn_nodes)


def read_onnx_model(path) -> OnnxModel:
    """Parse ``path`` with the ``onnx`` package and collect its RNN nodes. Raises
    :class:`OnnxFileError` (one line, naming the file) for anything unreadable."""
    file = str(path)
    p = Path(path)
    if not p.exists():
        raise OnnxFileError(f"{file}: no such file")
    if p.is_dir():
        raise OnnxFileError(f"{file}: is a directory, not an ONNX model file")
    onnx = _need_onnx(file)
    try:
        model = onnx.load(file, load_external_data=False)
    except Exception as e:  # DecodeError, RuntimeWarning-as-error, OSError, ...: all one line
        raise OnnxFileError(f"{file}: not an ONNX model, or a damaged one ({_first_line(e)})") from None
    if not model.HasField("graph") or (not model.graph.node and not model.graph.initializer):
        raise OnnxFileError(f"{file}: not an ONNX model (no graph with nodes)")
    return _Reader(file, p, model).read()


def _need_onnx(file: str):
    try:
        import onnx
        import onnx.numpy_helper  # noqa: F401
    except ImportError:
        raise OnnxFileError(f"{file}: reading ONNX models needs the onnx package: {ONNX_EXTRA}") from None
    return onnx


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


class _Reader:
    def __init__(self, file: str, path: Path, model):
        self.file, self.path, self.model = file, path, model
        self.file_size = path.stat().st_size
        g = model.graph
        self.initializers = {_text(t.name): t for t in g.initializer}
        self.graph_inputs = {_text(i.name): i for i in g.input}
        self.producers = {}  # output name -> (index, node)
        for k, n in enumerate(g.node):
            for out in n.output:
                if out:
                    self.producers[_text(out)] = (k, n)

    def read(self) -> OnnxModel:
        onnx = _need_onnx(self.file)
        g = self.model.graph
        opset = next((o.version for o in self.model.opset_import if _default_domain(o.domain)), None)
        nodes = [self._node(k, n) for k, n in enumerate(g.node) if _text(n.op_type) in RNN_OPS and _default_domain(n.domain)]
        nodes = [self._with_upstream(n, nodes) for n in nodes]
        loops = tuple(_label(n) for n in g.node if _text(n.op_type) in LOOP_OPS)
        nested = []
        for n in g.node:
            for a in n.attribute:
                subgraphs = [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)
                for sub in subgraphs:
                    nested += _rnn_ops_in(sub, _label(n), onnx)
        for fn in self.model.functions:
            nested += [f"{_label(m)} in function {_text(fn.name)!r}" for m in fn.node if _text(m.op_type) in RNN_OPS]
        producer = " ".join(_text(s) for s in (self.model.producer_name, self.model.producer_version) if s)
        return OnnxModel(
            file=self.file,
            rnn_nodes=tuple(nodes),
            opset=opset,
            ir_version=int(self.model.ir_version),
            producer=producer,
            op_counts=dict(Counter(_text(n.op_type) for n in g.node)),
            loops=loops,
            nested_rnn=tuple(nested),
        )

    # -- one node

    def _node(self, index: int, node) -> OnnxRnnNode:
        onnx = _need_onnx(self.file)
        op = _text(node.op_type)
        label = f"{op} node {_text(node.name)!r}" if node.name else f"{op} node #{index}"
        expected = dict(ATTRIBUTE_TYPES)
        if op != "GRU":
            del expected["linear_before_reset"]
        if op != "LSTM":
            del expected["input_forget"]
        attrs, other = {}, []
        for a in node.attribute:
            if _text(a.name) not in expected:
                other.append(_text(a.name))
                continue
            kind = getattr(onnx.AttributeProto, expected[a.name])
            if a.type != kind:
                raise OnnxFileError(f"{self.file}: {label}: attribute {a.name} is of type "
                                    f"{_attribute_type_name(onnx, a.type)}; the spec says {expected[a.name]}")
            try:
                attrs[a.name] = onnx.helper.get_attribute_value(a)
            except Exception as e:
                raise OnnxFileError(f"{self.file}: {label}: attribute {a.name!r} unreadable ({_first_line(e)})") from None
        direction = _text(attrs.get("direction", b"forward"))
        if direction not in DIRECTIONS:
            raise OnnxFileError(f"{self.file}: {label}: direction {direction!r}; allowed: {', '.join(DIRECTIONS)}")
        hidden_size = attrs.get("hidden_size")
        if hidden_size is not None and hidden_size < 1:
            raise OnnxFileError(f"{self.file}: {label}: hidden_size {hidden_size!r} is not a positive integer")
        layout = attrs.get("layout", 0)
        if layout not in (0, 1):
            raise OnnxFileError(f"{self.file}: {label}: layout {layout!r}; allowed: 0, 1")

        def ints(name):
            return attrs.get(name, 0)

        def floats(name):
            return None if name not in attrs else tuple(float(v) for v in attrs[name])

        clip = attrs.get("clip")
        activations = attrs.get("activations")
        inputs = {}
        slots = INPUT_SLOTS[op]
        if len(node.input) > len(slots):
            raise OnnxFileError(f"{self.file}: {label}: {len(node.input)} inputs; {op} takes at most {len(slots)}")
        for k, slot in enumerate(slots):
            name = _text(node.input[k]) if k < len(node.input) else ""
            inputs[slot] = self._input(slot, name, label)
        for slot in ("X", "W", "R"):
            if inputs[slot].source == "absent":
                raise OnnxFileError(f"{self.file}: {label}: required input {slot} is missing")
        outputs = tuple(_text(node.output[k]) if k < len(node.output) else "" for k in range(len(OUTPUT_SLOTS[op])))
        return OnnxRnnNode(
            op_type=op,
            name=_text(node.name),
            index=index,
            hidden_size=hidden_size,
            direction=direction,
            layout=layout,
            linear_before_reset=ints("linear_before_reset") if op == "GRU" else 0,
            input_forget=ints("input_forget") if op == "LSTM" else 0,
            clip=None if clip is None else float(clip),
            activations=None if activations is None else tuple(_text(a) for a in activations),
            activation_alpha=floats("activation_alpha"),
            activation_beta=floats("activation_beta"),
            inputs=inputs,
            outputs=outputs,
            other_attributes=tuple(sorted(other)),
        )

    def _with_upstream(self, node: OnnxRnnNode, nodes: list[OnnxRnnNode]) -> OnnxRnnNode:
        """Which earlier RNN nodes node's X is computed from (walking producers back)."""
        rnn_at = {n.index: n for n in nodes}
        seen, stack, found = set(), [node.inputs["X"].name], []
        while stack:
            name = stack.pop()
            if not name or name in seen or name not in self.producers:
                continue
            seen.add(name)
            k, producer = self.producers[name]
            if k in rnn_at and k != node.index:
                found.append(rnn_at[k])
                continue  # the nearest RNN node on this path; not beyond it
            stack.extend(_text(i) for i in producer.input)
        found.sort(key=lambda n: n.index)
        names = tuple(n.name or f"#{n.index}" for n in found)
        return _replace(node, upstream=names)

    # -- one input

    def _input(self, slot: str, name: str, label: str) -> OnnxInput:
        if not name:
            return OnnxInput(slot, "", "absent")
        via = []
        current = name
        for _ in range(_IDENTITY_HOPS):
            if current in self.initializers:
                tensor = self.initializers[current]
                array = self._array(tensor, f"{label}: {slot} (initializer {current!r})")
                return OnnxInput(
                    slot, name, "initializer", array, tuple(array.shape), array.dtype.name,
                    overridable=current in self.graph_inputs, via=tuple(via),
                )
            if current in self.graph_inputs:
                shape, dtype = _declared(self.graph_inputs[current])
                return OnnxInput(slot, name, "graph input", None, shape, dtype, via=tuple(via))
            if current not in self.producers:
                raise OnnxFileError(f"{self.file}: {label}: input {slot} {current!r} is produced by no node, "
                                    "initializer or graph input")
            _, producer = self.producers[current]
            kind = _text(producer.op_type)
            if kind == "Identity" and _default_domain(producer.domain) and producer.input:
                via.append(_text(producer.name or producer.output[0]))
                current = _text(producer.input[0])
                continue
            if kind == "Constant" and _default_domain(producer.domain):
                array = self._constant(producer, f"{label}: {slot} (Constant {_text(producer.name) or current!r})")
                return OnnxInput(slot, name, "constant", array, tuple(array.shape), array.dtype.name, via=tuple(via))
            return OnnxInput(slot, name, "computed", via=tuple(via), producer=_label(producer))
        raise OnnxFileError(f"{self.file}: {label}: input {slot} goes through more than {_IDENTITY_HOPS} Identity nodes")

    def _constant(self, node, where: str):
        onnx = _need_onnx(self.file)
        import numpy as np

        AP = onnx.AttributeProto
        readable = {"value": AP.TENSOR, "value_float": AP.FLOAT, "value_floats": AP.FLOATS,
                    "value_int": AP.INT, "value_ints": AP.INTS}
        for a in node.attribute:
            name = _text(a.name)
            if name not in readable:
                continue
            if a.type != readable[name]:
                raise OnnxFileError(f"{self.file}: {where}: attribute {name} is of type "
                                    f"{_attribute_type_name(onnx, a.type)}")
            if name == "value":
                return self._array(a.t, where)
            dtype = "float32" if name.startswith("value_float") else "int64"
            return np.asarray(onnx.helper.get_attribute_value(a), dtype=dtype)
        kinds = ", ".join(_text(a.name) for a in node.attribute) or "no value"
        raise OnnxFileError(f"{self.file}: {where}: a Constant with {kinds}; lstmcalc reads value, value_float(s), value_int(s)")

    def _array(self, tensor, where: str):
        """Decode one TensorProto after checking its declared size against what it carries."""
        onnx = _need_onnx(self.file)
        import numpy as np

        TP = onnx.TensorProto
        dims = [int(d) for d in tensor.dims]
        if any(d < 0 for d in dims):
            raise OnnxFileError(f"{self.file}: {where}: negative dimension in {dims}")
        try:
            dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor.data_type))
        except Exception:
            raise OnnxFileError(f"{self.file}: {where}: unknown tensor data type {tensor.data_type}") from None
        if tensor.data_type not in (TP.FLOAT, TP.DOUBLE, TP.FLOAT16, TP.BFLOAT16, TP.INT32, TP.INT64):
            type_name = _enum_name(TP.DataType, tensor.data_type)
            raise OnnxFileError(f"{self.file}: {where}: data type {type_name}; lstmcalc reads "
                                "float, double, float16, bfloat16, int32 and int64 tensors")
        count = math.prod(dims)
        nbytes = count * dtype.itemsize
        if tensor.data_location == TP.EXTERNAL:
            tensor = self._external(tensor, nbytes, where)
        elif nbytes > self.file_size:
            raise OnnxFileError(f"{self.file}: {where}: dims {dims} declare {nbytes} bytes, more than the "
                                f"whole file ({self.file_size} bytes)")
        if tensor.HasField("raw_data"):
            held, unit = len(tensor.raw_data), "bytes"
            expected = nbytes
        else:
            typed = {
                TP.FLOAT: tensor.float_data, TP.DOUBLE: tensor.double_data, TP.INT64: tensor.int64_data,
                TP.FLOAT16: tensor.int32_data, TP.BFLOAT16: tensor.int32_data, TP.INT32: tensor.int32_data,
            }[tensor.data_type]
            held, unit, expected = len(typed), "values", count
        if held != expected:
            raise OnnxFileError(f"{self.file}: {where}: dims {dims} declare {expected} {unit} but the tensor "
                                f"holds {held}")
        try:
            array = onnx.numpy_helper.to_array(tensor)
        except Exception as e:
            raise OnnxFileError(f"{self.file}: {where}: undecodable tensor ({_first_line(e)})") from None
        if tensor.data_type == TP.BFLOAT16:
            array = array.astype(np.float32)  # exact: bfloat16 is a prefix of float32
        return np.asarray(array)

    def _external(self, tensor, nbytes: int, where: str):
        """A copy of ``tensor`` with its external bytes read into raw_data, after checking that
        the data file is inside the model's folder and holds the declared bytes."""
        info = {_text(e.key): _text(e.value) for e in tensor.external_data}
        location = info.get("location", "")
        if not location:
            raise OnnxFileError(f"{self.file}: {where}: external data without a location")
        folder = self.path.resolve().parent
        target = (folder / location).resolve()
        if Path(location).is_absolute() or not target.is_relative_to(folder):
            raise OnnxFileError(f"{self.file}: {where}: external data {location!r} points outside the model's "
                                f"folder; lstmcalc reads external data only from files beside the model")
        if not target.is_file():
            raise OnnxFileError(f"{self.file}: {where}: external data file {location!r} not found beside the model")
        try:
            offset = int(info.get("offset", "0") or 0)
            length = int(info["length"]) if info.get("length") else nbytes
        except ValueError:
            raise OnnxFileError(f"{self.file}: {where}: external data offset/length are not integers") from None
        size = target.stat().st_size
        if offset < 0 or length != nbytes or offset + length > size:
            raise OnnxFileError(f"{self.file}: {where}: external data {location!r} (offset {offset}, length "
                                f"{length}) does not hold the {nbytes} bytes the dims declare ({size} bytes in file)")
        with open(target, "rb") as fh:
            fh.seek(offset)
            data = fh.read(length)
        copy = type(tensor)()
        copy.CopyFrom(tensor)
        del copy.external_data[:]
        copy.data_location = 0  # DEFAULT
        copy.raw_data = data
        return copy


def _attribute_type_name(onnx, kind: int) -> str:
    return _enum_name(onnx.AttributeProto.AttributeType, kind)


def _enum_name(enum, value: int) -> str:
    try:
        return enum.Name(value)
    except ValueError:  # a number the enum does not define (a damaged or newer file)
        return str(value)


def _rnn_ops_in(graph, where: str, onnx) -> list[str]:
    found = []
    for n in graph.node:
        if _text(n.op_type) in RNN_OPS:
            found.append(f"{_label(n)} inside {where}")
        for a in n.attribute:
            subgraphs = [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)
            for sub in subgraphs:
                found += _rnn_ops_in(sub, f"{_label(n)} inside {where}", onnx)
    return found


def _declared(value_info) -> tuple[tuple | None, str | None]:
    """(shape, element type name) a graph input declares; symbolic dims as their names."""
    t = value_info.type
    if not t.HasField("tensor_type"):
        return None, None
    tt = t.tensor_type
    import onnx

    try:
        dtype = onnx.TensorProto.DataType.Name(tt.elem_type) if tt.elem_type else None
    except ValueError:
        dtype = f"unknown type {tt.elem_type}"
    if not tt.HasField("shape"):
        return None, dtype
    dims = tuple(d.dim_value if d.HasField("dim_value") else (_text(d.dim_param) or "?") for d in tt.shape.dim)
    return dims, dtype


def _text(value) -> str:
    """A protobuf string as str: protobuf hands back bytes for a string field that is not
    valid UTF-8 (proto2 does not validate), so every name read goes through here."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _label(node) -> str:
    """"Expand '/Expand_1'": a node's op type and name, for messages and reports."""
    return f"{_text(node.op_type)} {_text(node.name)!r}"


def _default_domain(domain) -> bool:
    return _text(domain) in ("", "ai.onnx")


def _replace(node, **changes):
    import dataclasses

    return dataclasses.replace(node, **changes)


# --- writing ---------------------------------------------------------------------------------


def write_onnx_model(
    path,
    layers,
    *,
    cell: str,
    hidden_size: int,
    input_size: int,
    direction: str = "forward",
    linear_before_reset: int = 0,
    clip: float | None = None,
    activations=None,
    initial_states: bool = False,
) -> None:
    """Write a runnable ONNX model: one LSTM / GRU / RNN node per layer, weights as
    initializers, atomically (a temporary file in the same folder, then ``os.replace``).

    ``layers``: one mapping per layer (arrays cast to float32: onnxruntime's LSTM, GRU and
    RNN kernels refuse double) with the operator's tensors ``W`` [D, G·H, X_k],
    ``R`` [D, G·H, H], optional ``B`` [D, 2·G·H] and (LSTM) ``P`` [D, 3·H], gate orders
    i, o, f, c (LSTM) and z, r, h (GRU); X_0 = ``input_size``, X_k = D·H after.

    The graph (opset :data:`WRITE_OPSET`, every node layout 0: onnxruntime rejects layout 1)::

        X [T, B, X]  (time-major, as the operator takes it; a batch-first caller transposes)
        -> node k: Y_k [T, D, B, H]
           -> Transpose perm (0, 2, 1, 3) [T, B, D, H] -> Reshape (0, 0, D·H) [T, B, D·H]
           -> node k + 1 ...
        outputs  Y   [T, D, B, H]     the last layer's Y
                 Y_h [L·D, B, H]      every layer's Y_h, concatenated layer by layer
                 Y_c [L·D, B, H]      (LSTM) likewise: the order of PyTorch's h_n / c_n

    With ``initial_states`` the graph also takes ``initial_h`` (and ``initial_c``)
    [L·D, B, H], each layer reading its own D rows. Tensor names are ``W``, ``R``, ``B``,
    ``P`` for one layer and ``layer{k}/W``, ... for a stack; node ``k`` is named
    ``layer{k}/{LSTM|GRU|RNN}``. Raises ValueError (naming the parameter) for inconsistent
    arguments and :class:`OnnxFileError` when the file cannot be written.
    """
    import numpy as np

    op = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}.get(cell)
    if op is None:
        raise ValueError(f"cell={cell!r}; allowed: lstm, gru, rnn")
    if direction not in DIRECTIONS:
        raise ValueError(f"direction={direction!r}; allowed: {', '.join(DIRECTIONS)}")
    if linear_before_reset not in (0, 1):
        raise ValueError(f"linear_before_reset={linear_before_reset!r}; allowed: 0, 1")
    if linear_before_reset and op != "GRU":
        raise ValueError("linear_before_reset=1 is a GRU attribute; the cell is " + cell)
    for name, value in (("hidden_size", hidden_size), ("input_size", input_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}={value!r}; must be a positive integer")
    if clip is not None and not (clip > 0 and math.isfinite(clip)):
        raise ValueError(f"clip={clip!r}; must be a positive finite number or None")
    layers = list(layers)
    if not layers:
        raise ValueError("layers is empty; give one mapping of W, R[, B, P] per layer")
    file = str(path)
    onnx = _need_onnx(file)
    from onnx import TensorProto, helper, numpy_helper

    G, H, D, L = RNN_OPS[op], hidden_size, (2 if direction == "bidirectional" else 1), len(layers)
    dtype, elem = "float32", TensorProto.FLOAT  # onnxruntime runs LSTM / GRU / RNN in float32 only
    if activations is not None:
        activations = [str(a) for a in activations]
        per = {"LSTM": 3, "GRU": 2, "RNN": 1}[op] * D
        if len(activations) != per:
            raise ValueError(f"activations has {len(activations)} names; {op} with direction={direction} takes {per}")

    initializers, nodes = [], []
    x_name = "X"
    h_parts, c_parts = [], []

    def tensor_name(k: int, slot: str) -> str:
        return slot if L == 1 else f"layer{k}/{slot}"

    def const(name: str, values, np_dtype) -> str:
        initializers.append(numpy_helper.from_array(np.asarray(values, dtype=np_dtype), name))
        return name

    for k, tensors in enumerate(layers):
        x_size = input_size if k == 0 else D * H
        expected = {"W": (D, G * H, x_size), "R": (D, G * H, H), "B": (D, 2 * G * H), "P": (D, 3 * H)}
        unknown = set(tensors) - set(expected)
        if unknown or (op != "LSTM" and "P" in tensors):
            extra = sorted(unknown | ({"P"} if op != "LSTM" and "P" in tensors else set()))
            raise ValueError(f"layers[{k}] has {', '.join(extra)}; {op} takes W, R, B" + (", P" if op == "LSTM" else ""))
        node_inputs = {}
        for slot in ("W", "R", "B", "P"):
            if slot not in tensors or tensors[slot] is None:
                if slot in ("W", "R"):
                    raise ValueError(f"layers[{k}] has no {slot}")
                continue
            a = np.asarray(tensors[slot], dtype=dtype)
            if a.shape != expected[slot]:
                raise ValueError(f"layers[{k}][{slot!r}] has shape {a.shape}; {op} layer {k} needs {expected[slot]} "
                                 f"(D={D}, G·H={G * H}, X={x_size}, H={H})")
            node_inputs[slot] = const(tensor_name(k, slot), a, dtype)
        if initial_states:
            starts = const(f"layer{k}/state_start", [k * D], np.int64)
            ends = const(f"layer{k}/state_end", [(k + 1) * D], np.int64)
            axes = const(f"layer{k}/state_axis", [0], np.int64)
            node_inputs["initial_h"] = f"layer{k}/initial_h"
            nodes.append(helper.make_node("Slice", ["initial_h", starts, ends, axes], [node_inputs["initial_h"]],
                                          name=f"layer{k}/slice_initial_h"))
            if op == "LSTM":
                node_inputs["initial_c"] = f"layer{k}/initial_c"
                nodes.append(helper.make_node("Slice", ["initial_c", starts, ends, axes], [node_inputs["initial_c"]],
                                              name=f"layer{k}/slice_initial_c"))
        slots = INPUT_SLOTS[op]
        ordered = [x_name] + [node_inputs.get(s, "") for s in slots[1:]]
        while ordered and ordered[-1] == "":
            ordered.pop()  # trailing optional inputs are omitted
        y, y_h, y_c = f"layer{k}/Y", f"layer{k}/Y_h", f"layer{k}/Y_c"
        if k == L - 1:
            y = "Y"
        attrs = {"hidden_size": H, "direction": direction, "layout": 0}
        if op == "GRU":
            attrs["linear_before_reset"] = linear_before_reset
        if clip is not None:
            attrs["clip"] = float(clip)
        if activations is not None:
            attrs["activations"] = activations
        outputs = [y, y_h, y_c] if op == "LSTM" else [y, y_h]
        nodes.append(helper.make_node(op, ordered, outputs, name=f"layer{k}/{op}", **attrs))
        h_parts.append(y_h)
        c_parts.append(y_c)
        if k < L - 1:
            # Y [T, D, B, H] -> [T, B, D, H] -> [T, B, D·H]: the next layer's X, forward half first
            nodes.append(helper.make_node("Transpose", [y], [f"layer{k}/Y_tbdh"], perm=[0, 2, 1, 3],
                                          name=f"layer{k}/transpose"))
            shape = const(f"layer{k}/next_x_shape", [0, 0, D * H], np.int64)
            x_name = f"layer{k + 1}/X"
            nodes.append(helper.make_node("Reshape", [f"layer{k}/Y_tbdh", shape], [x_name], name=f"layer{k}/reshape"))

    outputs = [helper.make_tensor_value_info("Y", elem, ["time", D, "batch", H])]
    for out, parts in (("Y_h", h_parts), ("Y_c", c_parts)):
        if out == "Y_c" and op != "LSTM":
            continue
        if L == 1:
            nodes.append(helper.make_node("Identity", parts, [out], name=f"{out}_out"))
        else:
            nodes.append(helper.make_node("Concat", parts, [out], axis=0, name=f"{out}_concat"))
        outputs.append(helper.make_tensor_value_info(out, elem, [L * D, "batch", H]))
    inputs = [helper.make_tensor_value_info("X", elem, ["time", "batch", input_size])]
    if initial_states:
        inputs.append(helper.make_tensor_value_info("initial_h", elem, [L * D, "batch", H]))
        if op == "LSTM":
            inputs.append(helper.make_tensor_value_info("initial_c", elem, [L * D, "batch", H]))
    graph = helper.make_graph(nodes, f"lstmcalc_{cell}", inputs, outputs, initializers)
    from . import __version__

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", WRITE_OPSET)],
                              producer_name="lstmcalc", producer_version=__version__)
    model.ir_version = 7  # the IR of opset 14 (onnx 1.8): readable by every runtime that runs opset 14
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # a bug here, not the caller's: say so in one line
        raise ValueError(f"the ONNX model built is not valid ({_first_line(e)})") from None
    data = model.SerializeToString()
    write_atomic(file, lambda f: f.write(data), "--output")  # the one atomic writer (lstmcalc.atomic)


def onnx_layers(path, *, refuse_unmodelled: bool = True) -> list[tuple[str, str, dict, dict]]:
    """(name, location, weights, options) for every RNN node of the model at ``path``, one
    layer each: ``weights`` {"W", "R"[, "B"][, "P"]} as NumPy arrays, ``options`` {"cell",
    "reset_after", "activation", "layout", "attributes"} (``attributes``: :func:`node_attributes`).
    Raises :class:`OnnxFileError` (one line) for a model with no RNN node (saying what it has
    instead: Loop/Scan, or an unrolled graph) and a weight that is not constant in the file;
    with ``refuse_unmodelled`` also for what lstmcalc does not compute (clip, activations other
    than the defaults and RNN Relu, input_forget), naming the attribute."""
    model = read_onnx_model(path)
    file = model.file
    if not model.rnn_nodes:
        raise OnnxFileError(f"{file}: {_no_rnn_reason(model)}")
    out = []
    for node in model.rnn_nodes:
        label = f"{node.op_type} node {node.name!r}" if node.name else f"{node.op_type} node #{node.index}"
        unmodelled = not_modelled(node)
        if unmodelled and refuse_unmodelled:
            raise OnnxFileError(f"{file}: {label}: {'; '.join(unmodelled)}")
        acts = node.activations
        weights = {}
        for slot in ("W", "R", "B", "P"):
            if slot not in node.inputs or node.inputs[slot].source == "absent":
                continue
            value = node.inputs[slot]
            if not value.is_constant:
                what = f"computed by {value.producer}" if value.producer else f"a {value.source}"
                raise OnnxFileError(f"{file}: {label}: {slot} ({value.name!r}) is not a constant in the file "
                                    f"(it is {what}); export with the weights as initializers")
            weights[slot] = value.array
        r = weights["R"]
        h = int(r.shape[-1]) if getattr(r, "ndim", 0) == 3 else None
        if h is not None and node.hidden_size is not None and node.hidden_size != h:
            raise OnnxFileError(f"{file}: {label}: hidden_size={node.hidden_size} but R has shape {tuple(r.shape)} "
                                f"(H = {h})")
        for slot in ("initial_h", "initial_c"):
            state = node.inputs.get(slot)
            if h is not None and state is not None and state.is_constant and state.array.ndim == 3 \
                    and state.array.shape[-1] != h:
                raise OnnxFileError(
                    f"{file}: {label}: {slot} has shape {tuple(state.array.shape)} but R says H = {h}: the node "
                    "contradicts itself (torch.onnx.export of an LSTM with proj_size writes such a node, which "
                    "onnxruntime refuses to run)")
        activation = "tanh"
        if node.op_type == "RNN" and acts is not None:
            activation = ACTIVATION_OF.get(_activation_key(acts[:1]), "tanh")  # not modelled: listed in attributes
        options = {
            "cell": node.op_type.lower(),
            "reset_after": bool(node.linear_before_reset) if node.op_type == "GRU" else None,
            "activation": activation,
            "layout": node.layout,
            "attributes": node_attributes(node),
        }
        out.append((node.name or f"#{node.index}", f"node {node.index}", weights, options))
    return out


def _activation_key(names) -> tuple[str, ...]:
    """Activation names as the node spells them: the spec's spelling is exact (onnxruntime
    1.32 refuses an RNN with activations=["relu"]: "Invalid activation attribute - relu")."""
    return tuple(str(n) for n in names)


def not_modelled(node: OnnxRnnNode) -> list[str]:
    """One plain line per attribute of ``node`` that lstmcalc's forward pass does not compute
    (the cell ``clip``, activations other than the defaults and RNN Relu, ``input_forget``=1),
    each starting with the attribute as the node sets it; empty when lstmcalc models the node."""
    lines = []
    if node.clip is not None:
        lines.append(f"clip={_float32(node.clip):g}: lstmcalc's forward pass does not model the cell clip")
    acts = node.activations
    if acts is not None:
        default = DEFAULT_ACTIVATIONS[node.op_type]
        per = len(default)
        first = _activation_key(acts[:per])
        same = len(acts) % per == 0 and all(_activation_key(acts[k:k + per]) == first for k in range(0, len(acts), per))
        if not same or (first != default and not (node.op_type == "RNN" and first in ACTIVATION_OF)):
            said = f"activations=[{', '.join(acts)}]"
            for name in ("activation_alpha", "activation_beta"):
                if getattr(node, name) is not None:
                    said += f" {name}=[{', '.join(f'{_float32(v):g}' for v in getattr(node, name))}]"
            runs = ", ".join(default) + (" or Relu" if node.op_type == "RNN" else "")
            lines.append(f"{said}: lstmcalc's forward pass runs only {runs}"
                         + ("" if same else ", the same in both directions"))
    if node.input_forget:
        lines.append("input_forget=1: lstmcalc's forward pass does not couple the forget gate to the input gate")
    return lines


def _float32(value: float) -> float:
    """A FLOAT attribute (stored as float32) as the shortest decimal that is that float32:
    0.3, not 0.30000001192092896."""
    import numpy as np

    return float(str(np.float32(value)))


def node_attributes(node: OnnxRnnNode) -> dict:
    """JSON-ready attributes of one node, as the file sets them or the spec's default::

        {"op_type", "hidden_size" (null when the node omits it), "direction", "layout",
         "linear_before_reset" (GRU, else null), "input_forget" (LSTM, else null), "clip"
         (null: none), "activations", "activation_alpha", "activation_beta" (null: the
         defaults), "other_attributes": [names the spec does not define],
         "inputs": {"sequence_lens", "initial_h"[, "initial_c", "P"]: {"name", "source",
                    "shape"}}, "not_modelled": [lines of :func:`not_modelled`]}

    where ``source`` is "absent", "initializer", "constant" (a Constant node), "graph input"
    or "computed" (by another node).
    """
    slots = ("sequence_lens", "initial_h") + (("initial_c", "P") if node.op_type == "LSTM" else ())
    inputs = {}
    for slot in slots:
        value = node.inputs[slot]
        shape = None if value.shape is None else [d if isinstance(d, int) else str(d) for d in value.shape]
        inputs[slot] = {"name": value.name or None, "source": value.source, "shape": shape}
        if value.producer:
            inputs[slot]["producer"] = value.producer
    return {
        "op_type": node.op_type,
        "hidden_size": node.hidden_size,
        "direction": node.direction,
        "layout": node.layout,
        "linear_before_reset": node.linear_before_reset if node.op_type == "GRU" else None,
        "input_forget": node.input_forget if node.op_type == "LSTM" else None,
        "clip": None if node.clip is None else _float32(node.clip),
        "activations": None if node.activations is None else list(node.activations),
        "activation_alpha": None if node.activation_alpha is None else [_float32(v) for v in node.activation_alpha],
        "activation_beta": None if node.activation_beta is None else [_float32(v) for v in node.activation_beta],
        "other_attributes": list(node.other_attributes),
        "inputs": inputs,
        "not_modelled": not_modelled(node),
    }


def _no_rnn_reason(model: OnnxModel) -> str:
    """One sentence on a model without a top-level RNN node: what it has instead."""
    if model.nested_rnn:
        return (f"no LSTM, GRU or RNN node in the main graph; {len(model.nested_rnn)} inside subgraphs or "
                f"functions ({model.nested_rnn[0]}), which lstmcalc does not read")
    if model.loops:
        return (f"no LSTM, GRU or RNN node; it has {', '.join(model.loops)}: a recurrent layer unrolled by its "
                "exporter into a loop, whose weights lstmcalc cannot attribute to gates")
    matmul = model.op_counts.get("MatMul", 0) + model.op_counts.get("Gemm", 0)
    acts = sum(model.op_counts.get(k, 0) for k in ("Tanh", "Sigmoid", "Relu"))
    if matmul and acts:
        return (f"no LSTM, GRU or RNN node; it has {matmul} MatMul/Gemm and {acts} Tanh/Sigmoid/Relu nodes, "
                "which may be a recurrent layer unrolled step by step (torch.onnx.export's default exporter "
                "writes nn.RNN that way): lstmcalc reads only LSTM, GRU and RNN nodes")
    return "no LSTM, GRU or RNN node in this model"


def write_onnx_weights(path, arrays, *, cell: str, reset_after: bool = True, activation: str = "tanh") -> None:
    """Write ONNX tensors (``W``, ``R``, ``B``, ``P``, or ``layer{k}/W``, ...) as a runnable
    model with :func:`write_onnx_model`: sizes and direction from the shapes,
    ``linear_before_reset`` = 1 when ``reset_after`` (GRU), RNN ``activation`` tanh or relu."""
    keys = list(arrays)
    stacked = any("/" in k for k in keys)
    count = 1 + max((int(k.split("/")[0][5:]) for k in keys if "/" in k), default=0)
    layers = []
    for k in range(count):
        prefix = f"layer{k}/" if stacked else ""
        layers.append({s: arrays[prefix + s] for s in ("W", "R", "B", "P") if prefix + s in arrays})
    r, w = layers[0]["R"], layers[0]["W"]
    d = int(r.shape[0])
    acts = None
    if cell == "rnn" and activation != "tanh":
        acts = [{"relu": "Relu", "tanh": "Tanh"}[activation]] * d
    write_onnx_model(path, layers, cell=cell, hidden_size=int(r.shape[2]), input_size=int(w.shape[2]),
                     direction="bidirectional" if d == 2 else "forward",
                     linear_before_reset=1 if cell == "gru" and reset_after else 0, activations=acts)
