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
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import write_atomic
from ..dtypes import NARROW_FLOATS as NARROW_DTYPES
from ..dtypes import onnx_name, onnx_readable
from ..errors import FileError
from .limits import first_line

RNN_OPS = {"LSTM": 4, "GRU": 3, "RNN": 1}  # op type -> gates G
LOOP_OPS = ("Loop", "Scan")
# Input slots of each operator, in the spec's order (a missing optional input is "" or absent).
INPUT_SLOTS = {
    "LSTM": ("X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"),
    "GRU": ("X", "W", "R", "B", "sequence_lens", "initial_h"),
    "RNN": ("X", "W", "R", "B", "sequence_lens", "initial_h"),
}
OUTPUT_SLOTS = {"LSTM": ("Y", "Y_h", "Y_c"), "GRU": ("Y", "Y_h"), "RNN": ("Y", "Y_h")}
# Contrib operators read as one of the three: (domain, op type) -> the ONNX operator they
# compute. onnxruntime's DynamicQuantizeLSTM (ContribOperators.md; written by
# onnxruntime.quantization.quantize_dynamic, operators/lstm.py) takes the LSTM's inputs with
# W [D, X, 4H] and R [D, H, 4H] transposed and stored as int8/uint8, then a scale and a zero
# point for each: (q - zero_point) · scale, per direction ([D]) or per row of W ([D, 4H]).
CONTRIB_OPS = {("com.microsoft", "DynamicQuantizeLSTM"): "LSTM"}
CONTRIB_SLOTS = {"DynamicQuantizeLSTM": INPUT_SLOTS["LSTM"] + ("W_scale", "W_zero_point", "R_scale", "R_zero_point")}
QUANTIZED_SLOTS = ("W", "R")  # the int8 inputs of DynamicQuantizeLSTM, each with <slot>_scale, <slot>_zero_point
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
from ..frameworks.onnx import DEFAULT_ACTIVATIONS  # noqa: E402  (the operator spec's defaults: convention data)
ACTIVATION_OF = {("Tanh",): "tanh", ("Relu",): "relu"}
_IDENTITY_HOPS = 64  # bound on Identity chains followed (a cycle cannot loop forever)
_FOLD_NODES = 10_000  # bound on the nodes evaluated to compute one weight from constants
# Operators whose output is not a function of their inputs: never evaluated as constants.
_NOT_CONSTANT_OPS = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                               "Multinomial", "Bernoulli"})
# Element types stored below float32 (the forward pass widens them, exactly, to float32), by
# their ONNX names: lstmcalc.dtypes' view
NARROW_FLOATS = tuple(onnx_name(name) for name in NARROW_DTYPES if onnx_name(name))
READABLE = onnx_readable()  # {TensorProto name: our name} of the types a tensor may be read in


# An ONNX file that cannot be read, or that does not say what an RNN node needs: the project's
# FileError (one line naming the file, node or tensor), under the name this module's callers use.
OnnxFileError = FileError


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class OnnxInput:
    """One input of an RNN node and where its value comes from.

    ``source``: "initializer" | "constant" (a Constant node) | "computed from constants" (nodes
    whose every input is an initializer or a Constant: evaluated with the onnx package's
    reference evaluator; ``ops`` names their op types, ``leaves`` the initializers) | "graph
    input" (fed at run time, no value in the file; a subgraph's own input too) | "computed"
    (output of a node that depends on a value fed at run time, e.g. an Expand of zeros to the
    batch size; ``producer`` names it and ``reason`` says what it depends on) | "absent"
    (optional input not given). ``array`` is set for the three constant sources (and an
    initializer that is also a graph input: ``overridable``). ``via`` names the Identity nodes
    followed. ``stored`` is the ONNX element type the file holds the value in ("FLOAT16" for a
    float16 initializer widened by a Cast, or decoded here).
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
    ops: tuple[str, ...] = ()  # op types computing it from constants, in evaluation order, each once
    leaves: tuple[str, ...] = ()  # the initializers it is computed from (with Constant nodes, if any)
    stored: tuple[str, ...] = ()  # ONNX element types the file stores the value (or its leaves) in
    reason: str = ""  # why a "computed" input is not a constant

    @property
    def is_constant(self) -> bool:
        return self.source in ("initializer", "constant", "computed from constants")


@dataclass(frozen=True)
class OnnxRnnNode:
    """One LSTM / GRU / RNN node of a model (its main graph or a subgraph), with its
    attributes and inputs.

    Attributes the node does not set keep the spec's default (``hidden_size`` None when
    absent: the spec makes it optional; R's last dimension says it). ``where`` is the branch
    path from the main graph, outermost first ("If 'pick' then_branch", "Loop 'steps' body");
    () for the main graph. ``operator`` is "" for the ONNX operator, else the contrib
    operator read as ``op_type`` ("com.microsoft DynamicQuantizeLSTM").
    """

    op_type: str  # "LSTM" | "GRU" | "RNN"
    name: str  # node name ("" when the file gives none)
    index: int  # position in its graph's node list (ONNX requires topological order)
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
    where: tuple[str, ...] = ()  # branch path: "If 'pick' then_branch", ... (outermost first)
    path: tuple[str, ...] = ()  # the same as names: ("pick", "then_branch") (an unnamed node: "#index")
    operator: str = ""  # "" (ONNX LSTM/GRU/RNN) or "com.microsoft DynamicQuantizeLSTM"

    @property
    def gates(self) -> int:
        return RNN_OPS[self.op_type]

    @property
    def num_directions(self) -> int:
        return 2 if self.direction == "bidirectional" else 1

    @property
    def key(self) -> str:
        """The node's name, qualified by its branch path for a node inside a subgraph
        ("pick/then_branch/lstm"); "#index" stands for a missing name."""
        return "/".join(self.path + (self.name or f"#{self.index}",))

    @property
    def location(self) -> str:
        """"node 3" in the main graph, "node 0 in If 'pick' then_branch" in a subgraph."""
        return f"node {self.index}" + (f" in {' / '.join(self.where)}" if self.where else "")

    @property
    def label(self) -> str:
        """For messages: "LSTM node 'lstm'" (main graph), with its branch path inside a subgraph."""
        op = self.operator.split()[-1] if self.operator else self.op_type
        said = f"{op} node {self.name!r}" if self.name else f"{op} node #{self.index}"
        return said + (f" in {' / '.join(self.where)}" if self.where else "")

    def array(self, slot: str):
        """The value of ``slot`` (np.ndarray) when it is constant in the file, else None."""
        return self.inputs[slot].array


@dataclass(frozen=True)
class OnnxModel:
    """What :func:`read_onnx_model` found: the RNN nodes (main graph first, then subgraphs,
    each in graph order) and the context a caller needs to explain a model without one."""

    file: str
    rnn_nodes: tuple[OnnxRnnNode, ...]
    opset: int | None  # version of the default ("" / "ai.onnx") domain
    ir_version: int
    producer: str  # "pytorch 2.13.0", "" when not recorded
    op_counts: dict  # {op type: how many} over the main graph
    loops: tuple[str, ...]  # "Loop 'name'" / "Scan 'name'" nodes of the main graph
    nested_rnn: tuple[str, ...]  # RNN nodes inside local functions (not read)
    all_op_counts: dict = field(default_factory=dict)  # {op type: how many} over every graph and subgraph


# --- reading ---------------------------------------------------------------------------------


def read_onnx(path) -> list[OnnxRnnNode]:
    """Every LSTM / GRU / RNN node of the model, subgraphs included (maybe none:
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
        raise OnnxFileError(f"{file}: not an ONNX model, or a damaged one ({first_line(e)})") from None
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




class _Scope:
    """One graph (the main graph or a subgraph) with what its names resolve to; a name not
    defined here resolves in the enclosing graph (``parent``), as ONNX's scoping rules say."""

    def __init__(self, graph, parent=None, where: tuple = (), path: tuple = ()):
        self.graph, self.parent, self.where, self.path = graph, parent, where, path
        self.depth = 0 if parent is None else parent.depth + 1
        self.initializers = {_text(t.name): t for t in graph.initializer}
        # the main graph's inputs are fed at run time; a subgraph's inputs are bound by its
        # If/Loop/Scan node at each call: neither is a value in the file
        self.inputs = {_text(i.name): i for i in graph.input}
        self.producers = {}  # output name -> (index, node)
        for k, n in enumerate(graph.node):
            for out in n.output:
                if out:
                    self.producers[_text(out)] = (k, n)

    def resolve(self, name: str):
        """("initializer", scope, TensorProto) | ("input", scope, ValueInfoProto) |
        ("node", scope, (index, NodeProto)) | None, innermost scope first."""
        scope = self
        while scope is not None:
            if name in scope.initializers:
                return "initializer", scope, scope.initializers[name]
            if name in scope.inputs:
                return "input", scope, scope.inputs[name]
            if name in scope.producers:
                return "node", scope, scope.producers[name]
            scope = scope.parent
        return None


class _Reader:
    def __init__(self, file: str, path: Path, model):
        self.file, self.path, self.model = file, path, model
        self.file_size = path.stat().st_size
        self.main = _Scope(model.graph)
        self.folded = {}  # (id(scope), name) -> OnnxInput fields of a value computed from constants

    def read(self) -> OnnxModel:
        onnx = _need_onnx(self.file)
        g = self.model.graph
        opset = next((o.version for o in self.model.opset_import if _default_domain(o.domain)), None)
        found = []  # (scope, index, NodeProto)
        all_ops = Counter()

        def walk(scope):
            for k, n in enumerate(scope.graph.node):
                all_ops[_text(n.op_type)] += 1
                if _operator(n) is not None:
                    found.append((scope, k, n))
            for k, n in enumerate(scope.graph.node):  # subgraphs after the graph's own nodes
                # then_branch before else_branch (onnx.helper stores attributes sorted by name)
                for a in sorted(n.attribute, key=lambda a: {"then_branch": 0, "else_branch": 1}.get(_text(a.name), 2)):
                    subgraphs = [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)
                    for j, sub in enumerate(subgraphs):
                        attr = _text(a.name) + (f"[{j}]" if a.type != onnx.AttributeProto.GRAPH else "")
                        walk(_Scope(sub, scope, scope.where + (f"{_label(n)} {attr}",),
                                    scope.path + (_text(n.name) or f"#{k}", attr)))

        walk(self.main)
        nodes = [self._node(k, n, scope) for scope, k, n in found]
        nodes = [self._with_upstream(node, scope, found, nodes) for node, (scope, _, _) in zip(nodes, found)]
        loops = tuple(_label(n) for n in g.node if _text(n.op_type) in LOOP_OPS)
        nested = []
        for fn in self.model.functions:
            nested += [f"{_label(m)} in function {_text(fn.name)!r}" for m in fn.node if _operator(m) is not None]
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
            all_op_counts=dict(all_ops),
        )

    # -- one node

    def _node(self, index: int, node, scope: _Scope) -> OnnxRnnNode:
        onnx = _need_onnx(self.file)
        op = _operator(node)
        contrib = "" if _default_domain(node.domain) else f"{_text(node.domain)} {_text(node.op_type)}"
        where = f" in {' / '.join(scope.where)}" if scope.where else ""
        shown = _text(node.op_type)
        label = (f"{shown} node {_text(node.name)!r}" if node.name else f"{shown} node #{index}") + where
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
                raise OnnxFileError(f"{self.file}: {label}: attribute {a.name!r} unreadable ({first_line(e)})") from None
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
        slots = CONTRIB_SLOTS.get(_text(node.op_type), INPUT_SLOTS[op]) if contrib else INPUT_SLOTS[op]
        if len(node.input) > len(slots):
            raise OnnxFileError(f"{self.file}: {label}: {len(node.input)} inputs; {shown} takes at most {len(slots)}")
        for k, slot in enumerate(slots):
            name = _text(node.input[k]) if k < len(node.input) else ""
            inputs[slot] = self._input(slot, name, label, scope)
        required = ("X", "W", "R") + (tuple(s for s in slots if s.endswith(("_scale", "_zero_point"))) if contrib else ())
        for slot in required:
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
            where=scope.where,
            path=scope.path,
            operator=contrib,
        )

    def _with_upstream(self, node: OnnxRnnNode, scope: _Scope, found: list, nodes: list) -> OnnxRnnNode:
        """Which other RNN nodes node's X is computed from (walking producers back through
        the enclosing graphs)."""
        rnn_at = {id(proto): n for (_, _, proto), n in zip(found, nodes)}
        this = next(id(proto) for (s, k, proto) in found if s is scope and k == node.index)
        seen, stack, ups = set(), [(node.inputs["X"].name, scope)], []
        while stack:
            name, sc = stack.pop()
            if not name or name in seen:
                continue
            seen.add(name)
            hit = sc.resolve(name)
            if hit is None or hit[0] != "node":
                continue
            _, where, (k, producer) = hit
            if id(producer) in rnn_at and id(producer) != this:
                ups.append(rnn_at[id(producer)])
                continue  # the nearest RNN node on this path; not beyond it
            stack.extend((_text(i), where) for i in producer.input)
        names = tuple(dict.fromkeys(n.key for n in ups))
        return _replace(node, upstream=tuple(sorted(names, key=lambda n: [m.key for m in nodes].index(n))))

    # -- one input

    def _input(self, slot: str, name: str, label: str, scope: _Scope) -> OnnxInput:
        if not name:
            return OnnxInput(slot, "", "absent")
        via = []
        current = name
        at = scope
        for _ in range(_IDENTITY_HOPS):
            hit = at.resolve(current)
            if hit is None:
                raise OnnxFileError(f"{self.file}: {label}: input {slot} {current!r} is produced by no node, "
                                    "initializer or graph input")
            kind, owner, value = hit
            if kind == "initializer":
                array = self._array(value, f"{label}: {slot} (initializer {current!r})")
                return OnnxInput(
                    slot, name, "initializer", array, tuple(array.shape), array.dtype.name,
                    overridable=owner is self.main and current in owner.inputs, via=tuple(via),
                    stored=(_type_name(value.data_type),),
                )
            if kind == "input":
                shape, dtype = _declared(value)
                return OnnxInput(slot, name, "graph input", None, shape, dtype, via=tuple(via))
            _, producer = value
            op = _text(producer.op_type)
            if op == "Identity" and _default_domain(producer.domain) and producer.input:
                via.append(_text(producer.name or producer.output[0]))
                current, at = _text(producer.input[0]), owner
                continue
            if op == "Constant" and _default_domain(producer.domain):
                array = self._constant(producer, f"{label}: {slot} (Constant {_text(producer.name) or current!r})")
                stored = next((_type_name(a.t.data_type) for a in producer.attribute if _text(a.name) == "value"),
                              "FLOAT" if array.dtype.name == "float32" else "INT64")
                return OnnxInput(slot, name, "constant", array, tuple(array.shape), array.dtype.name, via=tuple(via),
                                 stored=(stored,))
            if slot in INPUT_SLOTS["LSTM"] and slot not in ("W", "R", "B", "P"):  # X, states: not weights
                return OnnxInput(slot, name, "computed", via=tuple(via), producer=_label(producer))
            folded = self._fold(current, owner, f"{label}: {slot}")
            if "array" in folded:
                a = folded["array"]
                return OnnxInput(slot, name, "computed from constants", a, tuple(a.shape), a.dtype.name, via=tuple(via),
                                 producer=_label(producer), ops=folded["ops"], leaves=folded["leaves"],
                                 stored=folded["stored"])
            return OnnxInput(slot, name, "computed", via=tuple(via), producer=_label(producer), reason=folded["reason"])
        raise OnnxFileError(f"{self.file}: {label}: input {slot} goes through more than {_IDENTITY_HOPS} Identity nodes")

    def _fold(self, name: str, scope: _Scope, where: str) -> dict:
        """Evaluate ``name`` when every node it depends on takes only initializers and
        Constant nodes: the nodes are copied into a model of their own and run by
        ``onnx.reference.ReferenceEvaluator`` (the onnx package's implementation of each
        operator). Returns {"array", "ops", "leaves", "stored"} or {"reason"}: what it
        depends on that is not in the file."""
        cache = (id(scope), name)
        if cache in self.folded:
            return self.folded[cache]
        onnx = _need_onnx(self.file)
        needed, leaves, seen = {}, {}, set()
        stack = [(name, scope)]
        result = None
        while stack and result is None:
            n, sc = stack.pop()
            if not n or n in seen:
                continue
            seen.add(n)
            hit = sc.resolve(n)
            if hit is None:
                result = {"reason": f"{n!r} is produced by no node, initializer or graph input"}
            elif hit[0] == "initializer":
                leaves[n] = hit[2]
            elif hit[0] == "input":
                fed = "a graph input" if hit[1] is self.main else f"an input of {hit[1].where[-1]}"
                result = {"reason": f"{n!r} is {fed}, fed at run time"}
            else:
                owner, (k, node) = hit[1], hit[2]
                op = _text(node.op_type)
                if op in _NOT_CONSTANT_OPS:
                    result = {"reason": f"{_label(node)} draws random numbers"}
                elif any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
                    result = {"reason": f"{_label(node)} holds a subgraph, which lstmcalc does not evaluate"}
                elif len(needed) >= _FOLD_NODES:
                    result = {"reason": f"it takes more than {_FOLD_NODES} nodes"}
                else:
                    needed[id(node)] = (owner.depth, k, node)
                    stack.extend((_text(i), owner) for i in node.input)
        if result is None:
            result = self._evaluate(name, sorted(needed.values(), key=lambda t: t[:2]), leaves, where)
        self.folded[cache] = result
        return result

    def _evaluate(self, name: str, ordered: list, leaves: dict, where: str) -> dict:
        onnx = _need_onnx(self.file)
        import numpy as np
        from onnx import helper

        initializers = [self._inline(t, f"{where} (initializer {n!r})") for n, t in leaves.items()]
        nodes = [node for _, _, node in ordered]
        graph = helper.make_graph(nodes, "constant_subgraph", [], [onnx.ValueInfoProto(name=name)], initializers)
        model = helper.make_model(graph, opset_imports=list(self.model.opset_import),
                                  functions=list(self.model.functions))
        model.ir_version = self.model.ir_version
        too_big = self._too_big(model)
        if too_big:
            return {"reason": too_big}
        try:
            from onnx.reference import ReferenceEvaluator

            (value,) = ReferenceEvaluator(model).run(None, {})
        except Exception as e:  # an operator the evaluator lacks, or inconsistent inputs: one line
            return {"reason": f"the onnx reference evaluator could not compute it ({first_line(e)})"}
        array = np.asarray(value)
        if array.dtype.name == "bfloat16":  # ml_dtypes; exact in float32
            array = array.astype(np.float32)
        ops = tuple(dict.fromkeys(_text(n.op_type) for n in nodes if _text(n.op_type) != "Constant"))
        stored = tuple(dict.fromkeys(
            [_type_name(t.data_type) for t in leaves.values()]
            + [_type_name(a.t.data_type) for n in nodes if _text(n.op_type) == "Constant" for a in n.attribute
               if _text(a.name) == "value"]))
        return {"array": array, "ops": ops, "leaves": tuple(leaves), "stored": stored}

    def _too_big(self, model) -> str:
        """Why evaluating ``model`` could allocate far more than the file holds (an Expand or
        ConstantOfShape to a huge shape), from onnx's shape inference; "" when it cannot."""
        onnx = _need_onnx(self.file)
        try:
            inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
        except Exception:  # inference fails on what the evaluator would refuse too
            return ""
        limit = max(64 * self.file_size, 1 << 24)  # values
        for v in list(inferred.graph.value_info) + list(inferred.graph.output):
            dims = v.type.tensor_type.shape.dim
            if dims and all(d.HasField("dim_value") for d in dims):
                count = math.prod(d.dim_value for d in dims)
                if count > limit:
                    return (f"computing it makes {_text(v.name)!r} of {count:,} values, more than {limit:,} "
                            "(64 per byte of the file)")
        return ""

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
        """Decode one TensorProto after checking its declared size against what it carries
        (bfloat16 widened to float32, exactly)."""
        onnx = _need_onnx(self.file)
        import numpy as np

        tensor = self._inline(tensor, where)
        try:
            array = onnx.numpy_helper.to_array(tensor)
        except Exception as e:
            raise OnnxFileError(f"{self.file}: {where}: undecodable tensor ({first_line(e)})") from None
        if tensor.data_type == onnx.TensorProto.BFLOAT16:
            array = array.astype(np.float32)  # exact: bfloat16 is a prefix of float32
        return np.asarray(array)

    def _inline(self, tensor, where: str):
        """``tensor`` with its data in the proto (external data read in), after checking its
        type and that its declared dims match the bytes or values it carries."""
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
        type_name = _enum_name(TP.DataType, tensor.data_type)
        if type_name not in READABLE:
            raise OnnxFileError(f"{self.file}: {where}: data type {type_name}; lstmcalc reads "
                                f"{', '.join(READABLE.values())} tensors")
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
                TP.INT8: tensor.int32_data, TP.UINT8: tensor.int32_data,
            }[tensor.data_type]
            held, unit, expected = len(typed), "values", count
        if held != expected:
            raise OnnxFileError(f"{self.file}: {where}: dims {dims} declare {expected} {unit} but the tensor "
                                f"holds {held}")
        return tensor

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


def _operator(node) -> str | None:
    """The ONNX operator a node computes ("LSTM", "GRU", "RNN"; a contrib operator of
    :data:`CONTRIB_OPS` as the one it computes), or None for any other node."""
    op = _text(node.op_type)
    if _default_domain(node.domain):
        return op if op in RNN_OPS else None
    return CONTRIB_OPS.get((_text(node.domain), op))


def _type_name(data_type: int) -> str:
    import onnx

    return _enum_name(onnx.TensorProto.DataType, data_type)

def _attribute_type_name(onnx, kind: int) -> str:
    return _enum_name(onnx.AttributeProto.AttributeType, kind)


def _enum_name(enum, value: int) -> str:
    try:
        return enum.Name(value)
    except ValueError:  # a number the enum does not define (a damaged or newer file)
        return str(value)


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
    from .._version import __version__

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", WRITE_OPSET)],
                              producer_name="lstmcalc", producer_version=__version__)
    model.ir_version = 7  # the IR of opset 14 (onnx 1.8): readable by every runtime that runs opset 14
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # a bug here, not the caller's: say so in one line
        raise ValueError(f"the ONNX model built is not valid ({first_line(e)})") from None
    data = model.SerializeToString()
    write_atomic(file, lambda f: f.write(data), "--output")  # the one atomic writer (lstmcalc.atomic)


def onnx_layers(path, *, refuse_unmodelled: bool = True) -> list[tuple[str, str, dict, dict]]:
    """(name, location, weights, options) for every RNN node of the model at ``path``, main
    graph and subgraphs (If branches, Loop/Scan bodies), one layer each, and once for a weight
    set several nodes share (``attributes["places"]`` lists them all; the first gives name and
    location): ``weights`` {"W", "R"[, "B"][, "P"]} as NumPy arrays in the operator's layout,
    float16/bfloat16 widened to float32 (exactly) and DynamicQuantizeLSTM's int8 weights
    dequantized; ``options`` {"cell", "reset_after", "activation", "layout", "attributes"}
    (``attributes``: :func:`node_attributes`, with "places", "weights", "quantization" and
    "notes" added). Raises :class:`OnnxFileError` (one line) for a model with no RNN node
    (saying what it has instead: an unrolled cell, a Loop/Scan) and a weight that does not
    follow from the file's constants (naming what it depends on); with ``refuse_unmodelled``
    also for what lstmcalc does not compute (clip, activations other than the defaults and
    RNN Relu, input_forget, a quantized operator), naming the attribute."""
    import hashlib

    model = read_onnx_model(path)
    file = model.file
    if not model.rnn_nodes:
        raise OnnxFileError(f"{file}: {_no_rnn_reason(model)}")
    out, groups = [], {}  # groups: weight-set key -> index in out
    for node in model.rnn_nodes:
        label = node.label
        unmodelled = not_modelled(node)
        if unmodelled and refuse_unmodelled:
            raise OnnxFileError(f"{file}: {label}: {'; '.join(unmodelled)}")
        stored = {}  # slot -> the array as the node takes it (before widening / dequantizing)
        for slot in ("W", "R", "B", "P") + (("W_scale", "W_zero_point", "R_scale", "R_zero_point")
                                              if node.operator else ()):
            if slot not in node.inputs or node.inputs[slot].source == "absent":
                continue
            value = node.inputs[slot]
            if not value.is_constant:
                if value.source == "computed":
                    what = f"computed by {value.producer}" + (f"; {value.reason}" if value.reason else "")
                else:
                    what = f"a {value.source}"
                raise OnnxFileError(f"{file}: {label}: {slot} ({value.name!r}) is not a constant in the file "
                                    f"(it is {what}); export with the weights as initializers")
            stored[slot] = value.array
        weights, quantization = _float_weights(node, stored, file)
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
        attributes = node_attributes(node)
        digest = hashlib.sha256()
        for slot, a in sorted(stored.items()):
            digest.update(f"{slot}{a.dtype.str}{a.shape}".encode())
            digest.update(a.tobytes())
        same = {k: v for k, v in attributes.items() if k not in ("inputs", "where")}
        key = (repr(sorted(same.items())), digest.hexdigest())
        place = {"name": node.key, "location": node.location, "where": list(node.where)}
        if key in groups:  # the same weights and attributes again: one layer, one more place
            attributes = out[groups[key]][3]["attributes"]
            attributes["places"].append(place)
            continue
        activation = "tanh"
        if node.op_type == "RNN" and node.activations is not None:
            activation = ACTIVATION_OF.get(_activation_key(node.activations[:1]), "tanh")  # else: not modelled
        attributes.update({
            "places": [place],
            "weights": {slot: _input_dict(node.inputs[slot]) for slot in stored},
            "quantization": quantization,
        })
        options = {
            "cell": node.op_type.lower(),
            "reset_after": bool(node.linear_before_reset) if node.op_type == "GRU" else None,
            "activation": activation,
            "layout": node.layout,
            "attributes": attributes,
        }
        groups[key] = len(out)
        out.append((node.key, node.location, weights, options))
    for _, _, _, options in out:
        options["attributes"]["notes"] = weight_notes(options["attributes"])
    return out


def _float_weights(node: OnnxRnnNode, stored: dict, file: str) -> tuple[dict, dict | None]:
    """({"W", "R"[, "B"][, "P"]: float arrays in the operator's layout}, the quantization
    of a DynamicQuantizeLSTM or None). float16 and bfloat16 are widened to float32 (every
    such value is a float32); int8/uint8 W and R are dequantized, (q - zero_point) · scale,
    and transposed from [D, X, 4H] / [D, H, 4H] to the operator's [D, 4H, X] / [D, 4H, H]."""
    import numpy as np

    label = node.label
    weights = {}
    for slot in ("W", "R", "B", "P"):
        if slot not in stored:
            continue
        a = stored[slot]
        if node.operator and slot in QUANTIZED_SLOTS:
            continue
        if a.dtype.kind != "f":
            raise OnnxFileError(f"{file}: {label}: {slot} is {a.dtype.name}; the {node.op_type} operator takes "
                                "float tensors")
        weights[slot] = a.astype(np.float32) if a.dtype.itemsize < 4 else a
    if not node.operator:
        return weights, None
    quantization = {}
    for slot in QUANTIZED_SLOTS:
        q, scale, zero = stored[slot], stored[f"{slot}_scale"], stored[f"{slot}_zero_point"]
        if q.dtype.name not in ("int8", "uint8") or q.ndim != 3:
            raise OnnxFileError(f"{file}: {label}: {slot} is {q.dtype.name} {tuple(q.shape)}; "
                                f"{node.operator} takes int8 or uint8 [D, rows, 4H]")
        D, rows, GH = q.shape
        if scale.shape != zero.shape or scale.shape not in ((D,), (D, GH)) or zero.dtype != q.dtype \
                or scale.dtype.kind != "f":
            raise OnnxFileError(
                f"{file}: {label}: {slot}_scale {scale.dtype.name} {tuple(scale.shape)} and {slot}_zero_point "
                f"{zero.dtype.name} {tuple(zero.shape)} do not fit {slot} {q.dtype.name} {tuple(q.shape)}: "
                f"{node.operator} takes float scales and {q.dtype.name} zero points of shape ({D},) or ({D}, {GH})")
        per_row = scale.ndim == 2
        s = scale.astype(np.float32)[:, None, :] if per_row else scale.astype(np.float32)[:, None, None]
        z = zero.astype(np.float32)[:, None, :] if per_row else zero.astype(np.float32)[:, None, None]
        weights[slot] = ((q.astype(np.float32) - z) * s).transpose(0, 2, 1)  # (D, 4H, rows)
        quantization[slot] = {"dtype": q.dtype.name, "count": int(q.size), "scales": int(scale.size),
                              "zero_points": int(zero.size), "per": "row" if per_row else "direction"}
    weights = {k: weights[k] for k in ("W", "R", "B", "P") if k in weights}
    return weights, quantization


def _input_dict(value: OnnxInput) -> dict:
    """JSON-ready: where one input's value comes from."""
    shape = None if value.shape is None else [d if isinstance(d, int) else str(d) for d in value.shape]
    out = {"name": value.name or None, "source": value.source, "shape": shape,
           "stored": list(value.stored) or None}
    if value.producer:
        out["producer"] = value.producer
    if value.source == "computed from constants":
        out["computed_by"] = list(value.ops)
        out["from"] = list(value.leaves)
    if value.reason:
        out["reason"] = value.reason
    return out


def weight_notes(attributes: dict) -> list[str]:
    """Sentences on where a layer's weights come from, computed from :func:`onnx_layers`'
    attributes: weights computed from constants (and by which op types), narrow float
    storage, int8 quantization, and the places a shared weight set is used."""
    notes = []
    weights = attributes.get("weights") or {}
    computed = {}
    for slot, w in weights.items():
        if w["source"] == "computed from constants":
            computed.setdefault(tuple(w["computed_by"]), []).append(slot)
    for ops, slots in computed.items():
        by = ", ".join(ops) if ops else "Constant nodes only"
        source = "initializers" if any(weights[s]["from"] for s in slots) else "Constant nodes"
        notes.append(f"{', '.join(slots)} computed from {source} by {by} "
                     "(evaluated with onnx.reference.ReferenceEvaluator)")
    narrow = {}
    for slot, w in weights.items():
        for t in w["stored"] or ():
            if t in NARROW_FLOATS:
                narrow.setdefault(t, []).append(slot)
    for t, slots in narrow.items():
        values = sum(math.prod(weights[s]["shape"]) for s in slots)
        notes.append(f"{', '.join(slots)} stored as {t.lower()} ({values:,} values, {2 * values:,} bytes); "
                     "lstmcalc computes in float32 (each value widened exactly)")
    q = attributes.get("quantization")
    if q:
        parts = [f"{s} {v['dtype']} ({v['count']:,} values, {v['scales']:,} scales and {v['zero_points']:,} zero "
                 f"points, one per {v['per']})" for s, v in q.items()]
        numbers = sum(v["count"] + v["scales"] + v["zero_points"] for v in q.values())
        numbers += sum(math.prod(w["shape"]) for s, w in weights.items() if s in ("B", "P"))
        notes.append(f"quantized: {'; '.join(parts)}; {numbers:,} stored numbers in all; weights shown dequantized, "
                     "(q - zero_point) · scale")
    places = attributes.get("places") or []
    if len(places) > 1:
        notes.append(f"the same weights and attributes in {len(places)} places, listed once: "
                     + ", ".join(f"{p['name']} ({p['location']})" for p in places))
    return notes


def _activation_key(names) -> tuple[str, ...]:
    """Activation names as the node spells them: the spec's spelling is exact (onnxruntime
    1.32 refuses an RNN with activations=["relu"]: "Invalid activation attribute - relu")."""
    return tuple(str(n) for n in names)


def not_modelled(node: OnnxRnnNode) -> list[str]:
    """One plain line per attribute of ``node`` that lstmcalc's forward pass does not compute
    (the cell ``clip``, activations other than the defaults and RNN Relu, ``input_forget``=1,
    a quantized contrib operator), each starting with the attribute (or operator) as the node
    sets it; empty when lstmcalc models the node."""
    lines = []
    if node.operator == "com.microsoft DynamicQuantizeLSTM":
        lines.append("com.microsoft DynamicQuantizeLSTM: onnxruntime multiplies in integers, quantizing its inputs "
                     "at run time, so its outputs differ from the float LSTM on the dequantized weights that "
                     "lstmcalc's forward pass computes")
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

        {"op_type", "operator" ("" for the ONNX operator, else the contrib one read as op_type),
         "where" [branch path, outermost first], "hidden_size" (null when the node omits it),
         "direction", "layout", "linear_before_reset" (GRU, else null), "input_forget" (LSTM,
         else null), "clip" (null: none), "activations", "activation_alpha", "activation_beta"
         (null: the defaults), "other_attributes": [names the spec does not define],
         "inputs": {"sequence_lens", "initial_h"[, "initial_c", "P"]: {"name", "source",
                    "shape"[, "producer"]}}, "not_modelled": [lines of :func:`not_modelled`]}

    where ``source`` is "absent", "initializer", "constant" (a Constant node), "computed from
    constants", "graph input" or "computed" (by another node).
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
        "operator": node.operator,
        "where": list(node.where),
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
    """One sentence on a model without an RNN node (in any graph): what it has instead."""
    counts = model.all_op_counts or model.op_counts
    matmul = counts.get("MatMul", 0) + counts.get("Gemm", 0)
    acts = {k: counts.get(k, 0) for k in ("Sigmoid", "Tanh", "Relu") if counts.get(k, 0)}
    inside = f" (inside {', '.join(model.loops)})" if model.loops and matmul > model.op_counts.get("MatMul", 0) \
        + model.op_counts.get("Gemm", 0) else ""
    if matmul and acts:
        said = " and ".join(f"{n} {k}" for k, n in acts.items())
        return (f"no LSTM/GRU/RNN node; the cell is unrolled into {matmul} MatMul/Gemm nodes with {said} "
                f"nodes{inside}, as exporters write cell loops (torch.onnx.export of an LSTMCell, or of nn.RNN "
                "with dynamo): lstmcalc reads the weights of LSTM, GRU and RNN nodes")
    if model.nested_rnn:
        return (f"no LSTM/GRU/RNN node in the graphs; {len(model.nested_rnn)} inside local functions "
                f"({model.nested_rnn[0]}), which lstmcalc does not read")
    if model.loops:
        return (f"no LSTM/GRU/RNN node; it has {', '.join(model.loops)} with no recurrent node or MatMul/Gemm "
                "and activation inside")
    return "no LSTM, GRU or RNN node in this model"


