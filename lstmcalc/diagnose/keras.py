"""Keras messages: Keras 3 ``load_weights`` / ``Variable.assign`` / ``set_weights``, Keras 2
(TF-Keras) ``load_weights``."""

from __future__ import annotations

import re

from ..frameworks.shared import CELL_BY_GATES, GATES_OF
from .common import CELL_WORDS, Diagnosis, Difference, FIELDS, InferredLayer, KERAS_CELLS, KERAS_CLASS_KEYS, KERAS_WORDS, SIDES, Seen, UnrecognisedError, shape_of


KERAS_ASSIGN = re.compile(
    r"variable\.shape=\((?P<model>[\d,\s]*)\),\s*Received:\s*value\.shape=(?:torch\.Size\(\[)?\(?(?P<ckpt>[\d,\s]*)\)?"
)
KERAS_TARGET = re.compile(r"Target variable:\s*<Variable path=(?P<path>[^,>\s]+)")
KERAS_COUNT = re.compile(
    r"Layer '(?P<layer>[^']+)' expected (?P<want>\d+) variables, but received (?P<got>\d+) variables during loading\."
    r"(?:\s*Expected:\s*\[(?P<names>[^\]]*)\])?"
)
KERAS_OBJECT = re.compile(r"<(?P<cls>\w+Cell) name=(?P<name>[^,>]+)")
KERAS_SET = re.compile(
    r"Layer (?P<layer>\S+) weight shape \((?P<model>[\d,\s]*)\) is not compatible with provided weight shape "
    r"\((?P<ckpt>[\d,\s]*)\)"
)
KERAS_SET_COUNT = re.compile(
    r"set_weights\(weights\)` on layer '(?P<layer>[^']+)' with a weight list of length (?P<got>\d+), "
    r"but the layer was expecting (?P<want>\d+) weights"
)
KERAS2_WEIGHT = re.compile(
    r"weight <tf\.Variable '(?P<var>[^']+)' shape=\((?P<model>[\d,\s]*)\)[^>]*> has shape \((?P<m2>[\d,\s]*)\), "
    r"but the saved weight has shape \((?P<ckpt>[\d,\s]*)\)"
)


def _keras_tensor(name: str, shape, cell: str | None) -> dict:
    """Fields one Keras tensor's shape proves: ``kernel`` (X, G·H), ``recurrent_kernel``
    (H, G·H), ``bias`` (G·H,) or (2, 3H) (GRU reset_after)."""
    f = dict.fromkeys(FIELDS + ("reset_after",))
    f["proj_size"] = 0  # Keras recurrent layers have no projection
    if cell:
        f["cell"] = cell
    g = GATES_OF.get(cell) if cell else None
    if name == "recurrent_kernel" and len(shape) == 2 and shape[0] and shape[1] % shape[0] == 0:
        found = CELL_BY_GATES.get(shape[1] // shape[0])
        if found and (cell is None or found == cell):
            f["cell"], f["units"] = found, shape[0]
    elif name == "kernel" and len(shape) == 2:
        f["input_size"] = shape[0]
        if g and shape[1] % g == 0:
            f["units"] = shape[1] // g
    elif name == "bias":
        if len(shape) == 2 and shape[0] == 2 and shape[1] % 3 == 0 and cell in (None, "gru"):
            # only a reset-after GRU keeps a (2, 3H) bias: input row, recurrent row
            f.update(cell="gru", units=shape[1] // 3, reset_after=True, bias=True)
        elif len(shape) == 1 and g and shape[0] % g == 0:
            f["units"], f["bias"] = shape[0] // g, True
            if cell == "gru":
                f["reset_after"] = False
    return f


def _keras_words(f: str, a, b) -> str:
    if f == "cell":
        return f"the checkpoint holds {CELL_WORDS[a]}, your model is {CELL_WORDS[b]}"
    if f == "bias":
        return ("the checkpoint has a bias, your model none (use_bias=False)" if a
                else "your model has a bias, the checkpoint none (use_bias=False)")
    return f"the checkpoint has {KERAS_WORDS[f]} {a}, your model {b}"


def parse_keras(text: str) -> Diagnosis:
    obj = KERAS_OBJECT.search(text)
    cell = KERAS_CELLS.get(obj["cls"]) if obj else None
    notes = []
    assign, target = KERAS_ASSIGN.search(text), KERAS_TARGET.search(text)
    count = KERAS_COUNT.search(text)
    setw, setc, k2 = KERAS_SET.search(text), KERAS_SET_COUNT.search(text), KERAS2_WEIGHT.search(text)
    if assign and target:
        path = target["path"]
        parts = path.split("/")
        tensor = parts[-1].split(":")[0]
        layer = "/".join(parts[:-2]) if len(parts) > 2 else path
        shapes = {"checkpoint": shape_of(assign["ckpt"]), "model": shape_of(assign["model"])}
        if cell:
            # Keras 3 looks a layer's variables up by its class name, not its own name
            # (saving_lib: layers/lstm/cell/vars): values an LSTMCell received were saved by an LSTM.
            notes.append(f"the checkpoint's cell is {CELL_WORDS[cell]} too: Keras 3 load_weights finds a layer's "
                         f"variables under its class name (layers/{KERAS_CLASS_KEYS[cell]}/cell/vars), so the values "
                         f"your {obj['cls']} received were saved by the same class")
        sides = {}
        for which, shape in shapes.items():
            f = _keras_tensor(tensor, shape, cell)
            sides[which] = InferredLayer(which, layer, "keras", **{k: f[k] for k in FIELDS},
                                         reset_after=f["reset_after"], seen=(Seen(tensor, shape, "size mismatch"),))
        return _keras_result("Keras 3 load_weights (variable.assign)", sides, notes)
    if count:
        want, got = int(count["want"]), int(count["got"])
        names = re.findall(r"'([^']*)'", count["names"] or "")
        layer = count["layer"]
        sides = {
            "model": InferredLayer("model", layer, "keras", cell=cell, proj_size=0,
                                   bias=("bias" in names) if names else None,
                                   seen=tuple(Seen(n, None, "expected") for n in names)),
            "checkpoint": InferredLayer("checkpoint", layer, "keras", proj_size=0,
                                        bias={0: None, 2: False, 3: True}.get(got),
                                        seen=()),
        }
        if got == 0:
            notes.append(f"the checkpoint has no weights where your model has '{layer}' (received 0 variables): "
                         "the layer names or their nesting differ (a Bidirectional wrapper, another layer order, "
                         "another model)")
        return _keras_result(f"Keras 3 load_weights ({want} variables expected, {got} received)", sides, notes)
    if setw:
        shapes = {"checkpoint": shape_of(setw["ckpt"]), "model": shape_of(setw["model"])}
        return _keras_set_weights(setw["layer"], shapes)
    if setc:
        want, got = int(setc["want"]), int(setc["got"])
        sides = {
            "model": InferredLayer("model", setc["layer"], "keras"),
            "checkpoint": InferredLayer("checkpoint", setc["layer"], "keras"),
        }
        notes.append(f"your layer takes {want} weight arrays, {got} were given (a recurrent layer has kernel, "
                     "recurrent_kernel and, with use_bias=True, bias)")
        return _keras_result("Keras 3 set_weights (weight count)", sides, notes)
    if k2:
        var = k2["var"].split(":")[0]
        parts = var.split("/")
        tensor = parts[-1]
        shapes = {"checkpoint": shape_of(k2["ckpt"]), "model": shape_of(k2["model"])}
        sides = {w: InferredLayer(w, "/".join(parts[:-1]), "keras", seen=(Seen(tensor, s, "size mismatch"),))
                 for w, s in shapes.items()}
        c, m = shapes["checkpoint"], shapes["model"]
        if tensor == "bias" and len(c) == 1 and len(m) == 1 and c[0] == 2 * m[0]:
            notes.append(f"the checkpoint's bias ({c[0]},) is twice your model's ({m[0]},): Keras 2's CuDNNLSTM and "
                         "CuDNNGRU stored an input and a recurrent bias per gate (8H for an LSTM, 6H for a GRU); "
                         "sum the two halves for a plain layer")
        return _keras_result("Keras 2 load_weights", sides, notes)
    raise UnrecognisedError("no Keras weight-loading message")


# The weights of every Keras recurrent layer, in set_weights' order: kernel (X, G·H),
# recurrent_kernel (H, G·H), bias (G·H,) or, for a reset-after GRU, (2, 3H).
KERAS_ROLES = ("kernel", "recurrent_kernel", "bias")


def _keras_roles(shape: tuple) -> set:
    """Which weights of a Keras recurrent cell (any of LSTM, GRU, SimpleRNN) ``shape`` can be."""
    if len(shape) == 1:
        return {"bias"}
    if len(shape) != 2 or not shape[0]:
        return set()
    out = {"kernel"}
    if shape[1] % shape[0] == 0 and shape[1] // shape[0] in CELL_BY_GATES:
        out.add("recurrent_kernel")
    if shape[0] == 2 and shape[1] % 3 == 0:
        out.add("bias")
    return out


def _keras_set_weights(layer: str, shapes: dict) -> Diagnosis:
    """``Layer <name> weight shape (m) is not compatible with provided weight shape (c)``:
    set_weights stops at the first weight whose shape differs, and compares weight k of
    the layer with array k of the list, so both shapes are the same weight's. Which one the
    shapes allow (for any Keras recurrent cell) settles what each side's shape proves."""
    ck_shape, mo_shape = shapes["checkpoint"], shapes["model"]
    roles = _keras_roles(ck_shape) & _keras_roles(mo_shape)
    if len(ck_shape) == 2 == len(mo_shape) and ck_shape[1] != mo_shape[1]:
        roles &= {"kernel"}  # after a matching kernel, every later weight has the same G·H columns
    notes = ["set_weights names neither the weight nor the layer's class; read as a Keras recurrent layer's "
             "weights (kernel (X, G·H), recurrent_kernel (H, G·H), bias (G·H,) or (2, 3H)), which it compares "
             "in that order and stops at the first whose shape differs"]
    fields = {w: {**dict.fromkeys(FIELDS), "proj_size": 0} for w in SIDES}  # Keras has no projection
    diffs, reset = [], {}
    role = next(iter(roles)) if len(roles) == 1 else None
    if role == "kernel":
        for w, shape in shapes.items():
            fields[w]["input_size"] = shape[0]
        notes.append("both shapes are kernels (X, G·H), the first weight: " + (
            "a later weight has the G·H columns of a kernel that matched, and these differ" if ck_shape[1] != mo_shape[1]
            else "they are not both recurrent_kernels (H, G·H with G·H = H, 3H or 4H) nor both (2, 3H) biases"))
        if ck_shape[1] == mo_shape[1]:
            notes.append(f"G·H = {ck_shape[1]} on both sides: units " + _units_if(ck_shape[1]) +
                         " (the text names no cell)")
        else:
            notes.append(f"G·H = {ck_shape[1]} in the checkpoint, {mo_shape[1]} in your model: the units (or "
                         f"the cell) differ; units {_units_if(ck_shape[1])} against {_units_if(mo_shape[1])}")
        if ck_shape[0] != mo_shape[0]:
            diffs.append(Difference(layer, "input_size", ck_shape[0], mo_shape[0],
                                    f"the checkpoint has input features {ck_shape[0]}, your model {mo_shape[0]} "
                                    f"(kernel {ck_shape} against {mo_shape})"))
    elif role == "bias" and sorted(map(len, shapes.values())) == [1, 2] and ck_shape[-1] == mo_shape[-1]:
        # (3H,) against (2, 3H): the kernels and recurrent_kernels matched, so both are GRUs of H units
        units = ck_shape[-1] // 3
        notes.append(f"a (2, {3 * units}) bias is a reset-after GRU's; with the same kernels and recurrent_kernels "
                     f"before it, the other side's ({3 * units},) is a reset-before GRU's of {units} units")
        for w, shape in shapes.items():
            fields[w].update(cell="gru", units=units, bias=True)
        reset = {w: len(shape) == 2 for w, shape in shapes.items()}
        form = {True: "reset_after=True, bias (2, 3H)", False: "reset_after=False, bias (3H,)"}
        diffs.append(Difference(layer, "reset_after", reset["checkpoint"], reset["model"],
                                f"the checkpoint's GRU is {form[reset['checkpoint']]}, your model's "
                                f"{form[reset['model']]}"))
    else:
        allowed = sorted(roles, key=KERAS_ROLES.index)
        notes.append(f"the shapes fit {' or '.join(allowed) if allowed else 'no weight of a Keras recurrent cell'}"
                     ": nothing more is read from them")
    sides = {w: InferredLayer(w, layer, "keras", **fields[w], reset_after=reset.get(w),
                              seen=(Seen(role or "(a weight)", shapes[w], "size mismatch"),))
             for w in SIDES}
    ck, mo = sides["checkpoint"], sides["model"]
    for f in FIELDS:
        a, b = getattr(ck, f), getattr(mo, f)
        if a is not None and b is not None and a != b and not any(x.field == f for x in diffs):
            diffs.append(Difference(layer, f, a, b, _keras_words(f, a, b)))
    if not diffs:
        diffs.append(Difference(layer, "shape", list(ck_shape), list(mo_shape),
                                f"the checkpoint's {role or 'weight'} has shape {ck_shape}, your model's {mo_shape}"))
    return Diagnosis("Keras 3 set_weights", (ck,), (mo,), tuple(diffs), notes=tuple(notes))


def _units_if(gh: int) -> str:
    """``24 for an LSTM, 32 for a GRU, 96 for a SimpleRNN``: G·H read for each cell that divides it."""
    return ", ".join(f"{gh // g} for {CELL_WORDS[c]}" for c, g in GATES_OF.items() if gh % g == 0)


def _keras_result(source: str, sides: dict, notes: list) -> Diagnosis:
    ck, mo = sides["checkpoint"], sides["model"]
    diffs = []
    if ck.reset_after is not None and mo.reset_after is not None and ck.reset_after != mo.reset_after:
        form = {True: "reset_after=True, bias (2, 3H)", False: "reset_after=False, bias (3H,)"}
        diffs.append(Difference(mo.name, "reset_after", ck.reset_after, mo.reset_after,
                                f"the checkpoint's GRU is {form[ck.reset_after]}, your model's {form[mo.reset_after]}"))
    for f in FIELDS:
        a, b = getattr(ck, f), getattr(mo, f)
        if a is not None and b is not None and a != b:
            diffs.append(Difference(mo.name, f, a, b, _keras_words(f, a, b)))
    for (k, v), (_, w) in zip(
        ((x.key, x.shape) for x in ck.seen), ((x.key, x.shape) for x in mo.seen)
    ):
        if v is not None and w is not None and v != w and not diffs:
            diffs.append(Difference(mo.name, "shape", list(v), list(w),
                                    f"the checkpoint's {k} has shape {v}, your model's {w}"))
    return Diagnosis(source, (ck,), (mo,), tuple(diffs), notes=tuple(notes))
