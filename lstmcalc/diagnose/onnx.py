"""onnxruntime messages about an LSTM / GRU / RNN node's inputs."""

from __future__ import annotations

import re

from ..frameworks.shared import GATES_OF
from .common import Diagnosis, Difference, FIELDS, InferredLayer, Seen, UnrecognisedError


ORT_NODE = re.compile(r"running (?P<op>LSTM|GRU|RNN) node\. Name:'(?P<name>[^']*)'")
ORT_SHAPE = re.compile(
    r"running (?P<op>LSTM|GRU|RNN) node\. Name:'(?P<name>[^']*)' Status Message: Input (?P<input>\w+) must have "
    r"shape \{(?P<want>[^}]*)\}\. Actual:\{(?P<got>[^}]*)\}"
)
ORT_OTHER = re.compile(r"Node \((?P<name>[^)]*)\) Op \((?P<op>LSTM|GRU|RNN)\)")
# A kernel refusing the node's attributes while the session is created: no node name, no shapes
ORT_KERNEL = re.compile(
    r"onnxruntime::(?P<kernel>LSTMBase|DeepCpuLstmOp|DeepCpuGruOp|RNN<T>)::\w+(?:<T>)?\(const onnxruntime::"
    r"OpKernelInfo&\)(?: \[with T = \w+\])? (?P<msg>.*? was false)"
)
ORT_KERNELS = {"LSTMBase": "LSTM", "DeepCpuLstmOp": "LSTM", "DeepCpuGruOp": "GRU", "RNN<T>": "RNN"}
ONNX_CELLS = {"LSTM": "lstm", "GRU": "gru", "RNN": "rnn"}
# The layout onnxruntime checks each input against (lstmcalc/frameworks/onnx.py): D directions,
# G gate blocks, H hidden_size, X input features; B prints its length as "2G*H".
ONNX_LAYOUT = {"W": "(D, G·H, X)", "R": "(D, G·H, H)", "B": "(D, 2·G·H)", "P": "(D, 3·H)",
               "initial_h": "(D, batch, H)", "initial_c": "(D, batch, H)"}


def _ort_dims(text: str) -> tuple:
    """``1,8*8`` -> (1, (8, 8)): a product stays a pair, as onnxruntime prints it."""
    out = []
    for p in text.split(","):
        p = p.strip()
        if "*" in p:
            a, _, b = p.partition("*")
            out.append((int(a), int(b)))
        elif p:
            out.append(int(p))
    return tuple(out)


def _flat(dims) -> tuple[int, ...]:
    return tuple(d[0] * d[1] if isinstance(d, tuple) else d for d in dims)


def _onnx_fields(cell: str, tensor: str, dims: tuple) -> dict:
    """Fields one printed shape proves: the expected shape (onnxruntime computed it from the
    node's hidden_size, direction and X's last dimension) or the tensor's own."""
    f = dict.fromkeys(FIELDS)
    f.update(cell=cell, layers=1, proj_size=0)  # one ONNX node is one layer, without projection
    g = GATES_OF[cell]
    if not dims or isinstance(dims[0], tuple):
        return f
    d0 = dims[0]
    f["bidirectional"] = {1: False, 2: True}.get(d0)
    if tensor == "B":
        f["bias"] = True
        if len(dims) == 2 and isinstance(dims[1], tuple):  # "2G*H": the node's H
            f["units"] = dims[1][1] if dims[1][0] == 2 * g else None
        elif len(dims) == 2 and dims[1] % (2 * g) == 0:
            f["units"] = dims[1] // (2 * g)
    elif len(dims) != 3 and tensor in ("W", "R", "initial_h", "initial_c"):
        f["bidirectional"] = None  # a tensor of the wrong rank: its first dimension is not D
    elif tensor == "W":
        f["input_size"] = dims[2]
        f["units"] = dims[1] // g if dims[1] % g == 0 else None
    elif tensor == "R":
        f["units"] = dims[2] if dims[1] == g * dims[2] else None
    elif tensor in ("initial_h", "initial_c"):
        f["units"] = dims[2]
    elif tensor == "P" and len(dims) == 2:
        f["units"] = dims[1] // 3 if dims[1] % 3 == 0 else None
    return f


ONNX_WORDS = {"units": "hidden_size", "input_size": "input size"}


def parse_onnx(text: str) -> Diagnosis:
    m = ORT_SHAPE.search(text)
    if not m:
        node = ORT_NODE.search(text) or ORT_OTHER.search(text)
        if node:
            said = re.search(r"(?:Status Message:|\[ShapeInferenceError\])\s*(?P<msg>[^\n]*)", text)
            why = f": {said['msg'].strip()[:120]!r}" if said else ""
            raise UnrecognisedError(
                f"an onnxruntime error of {node['op']} node '{node['name']}', but not a shape mismatch of its "
                f"W, R, B, P, initial_h or initial_c{why}; it names no tensor shape, so nothing about the layer "
                "can be read from it")
        kernel = ORT_KERNEL.search(text)
        if kernel:
            raise UnrecognisedError(
                f"an onnxruntime error of an {ORT_KERNELS[kernel['kernel']]} kernel refusing the node's attributes "
                f"while the session was created ({kernel['msg'][:120]!r}); it names neither the node nor a tensor "
                "shape, so nothing about the layer can be read from it")
        raise UnrecognisedError("no onnxruntime LSTM/GRU/RNN shape message")
    cell, name, tensor = ONNX_CELLS[m["op"]], m["name"], m["input"]
    want, got = _ort_dims(m["want"]), _ort_dims(m["got"])
    node = _onnx_fields(cell, tensor, want)
    held = _onnx_fields(cell, tensor, got)
    g = GATES_OF[cell]
    notes = [f"onnxruntime checks the node's inputs in order and stops at the first that does not fit: "
             f"{tensor} {ONNX_LAYOUT.get(tensor, '')} must be {_flat(want)} for the node, it is {_flat(got)}; "
             "inputs after it were not checked"]
    if tensor == "R" and len(got) == 3 and got[1] != g * got[2]:
        notes.append(f"R's own rows and columns disagree: {got[1]} rows (G·H with G = {g} gates) against "
                     f"{got[2]} columns (H)")
    if tensor in ("initial_h", "initial_c") and len(got) == 3 and len(want) == 3 and got[1] != want[1]:
        notes.append(f"{tensor} holds batch {got[1]}, X has batch {want[1]} at run time")
    mo = InferredLayer("model", name, "onnx", **{k: node[k] for k in FIELDS},
                       seen=(Seen(tensor, _flat(want), "expected"),))
    ck = InferredLayer("checkpoint", name, "onnx", **{k: held[k] for k in FIELDS},
                       seen=(Seen(tensor, _flat(got), "actual"),))
    diffs = []
    for f in FIELDS:
        a, b = getattr(ck, f), getattr(mo, f)
        if a is None or b is None or a == b:
            continue
        if f == "bidirectional":
            words = (f"the node's direction is {'bidirectional (D = 2)' if b else 'one direction (D = 1)'}, "
                     f"its {tensor} holds {'two directions' if a else 'one direction'}")
        elif f == "input_size":
            words = f"X's last dimension is {b} at run time, W is made for input size {a}"
        else:
            words = f"the node's {ONNX_WORDS.get(f, f)} is {b}, its {tensor} holds {ONNX_WORDS.get(f, f)} {a}"
        diffs.append(Difference(name, f, a, b, words))
    if not diffs:
        diffs.append(Difference(name, "shape", list(_flat(got)), list(_flat(want)),
                                f"the node's {tensor} has shape {_flat(got)}, the node needs {_flat(want)}"))
    return Diagnosis(f"onnxruntime {m['op']} node '{name}'", (ck,), (mo,), tuple(diffs), notes=tuple(notes),
                     labels=("tensors", "node"))
