"""What every reader of an error message shares: the result types (:class:`Diagnosis`,
:class:`InferredLayer`, :class:`Difference`), and inferring each side's layer from the shapes and
keys a message proves (stdlib only)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .. import frameworks
from ..errors import FileError
from ..frameworks.shared import CELL_BY_GATES, GATES_OF


SIDES = ("checkpoint", "model")
FIELDS = ("cell", "units", "input_size", "layers", "bidirectional", "proj_size", "bias")
# What each framework calls a field, for the sentences.
TORCH_WORDS = {"units": "hidden_size", "input_size": "input_size", "layers": "num_layers", "proj_size": "proj_size"}
KERAS_WORDS = {"units": "units", "input_size": "input features", "layers": "stacked layers", "proj_size": "proj_size"}
TORCH_CLASSES = {"LSTM": "lstm", "GRU": "gru", "RNN": "rnn"}
KERAS_CELLS = {"LSTMCell": "lstm", "GRUCell": "gru", "SimpleRNNCell": "rnn"}
KERAS_CLASS_KEYS = {"lstm": "lstm", "gru": "gru", "rnn": "simple_rnn"}  # keras.src.saving.saving_lib paths
MAX_TEXT = 1_000_000  # characters read from the message (a pasted error is far shorter)


class UnrecognisedError(FileError):
    """The text is no weight-loading error this module knows (exit 1)."""


@dataclass(frozen=True)
class Seen:
    """One tensor the text mentions on one side: its key and shape (None: not printed)."""

    key: str
    shape: tuple[int, ...] | None
    how: str  # "size mismatch" | "unexpected" | "missing" | "expected" | "received"

    def to_dict(self) -> dict:
        return {"key": self.key, "shape": None if self.shape is None else list(self.shape), "how": self.how}


@dataclass(frozen=True)
class InferredLayer:
    """One side's recurrent layer as far as the text shows it (None: the text does not say).
    Fields as :meth:`lstmcalc.readers.FoundLayer.to_dict` names them."""

    side: str  # "checkpoint" | "model"
    name: str  # module prefix ("lstm", "encoder.rnn"), Keras layer path, or the class name
    framework: str
    cell: str | None = None
    units: int | None = None
    input_size: int | None = None
    layers: int | None = None
    bidirectional: bool | None = None
    proj_size: int | None = None
    bias: bool | None = None
    reset_after: bool | None = None  # GRU only: Keras' bias shape shows it; PyTorch's GRU is always reset-after
    seen: tuple[Seen, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return all(getattr(self, f) is not None for f in FIELDS)

    def unknown(self) -> list[str]:
        return [f for f in FIELDS if getattr(self, f) is None]

    def spec(self):
        """The :class:`LayerSpec` of a complete layer, else None."""
        if not self.complete:
            return None
        from ..frameworks import make_spec
        from ..spec import SpecError

        try:
            return make_spec(self.units, self.input_size, cell=self.cell, framework=self.framework, bias=self.bias,
                             bidirectional=self.bidirectional, layers=self.layers, proj_size=self.proj_size)
        except SpecError:
            return None

    def breakdown_command(self) -> str | None:
        """The ``lstmcalc breakdown`` line for this layer, when every field is known."""
        s = self.spec()
        if s is None:
            return None
        parts = ["lstmcalc breakdown", f"--units {s.units}", f"--input {s.input_size}", f"--framework {s.framework}"]
        if s.cell != "lstm":
            parts.append(f"--cell {s.cell}")
        if s.layers != 1:
            parts.append(f"--layers {s.layers}")
        if s.bidirectional:
            parts.append("--bidirectional")
        if s.proj_size:
            parts.append(f"--proj-size {s.proj_size}")
        if not s.bias:
            parts.append("--no-bias")
        return " ".join(parts)

    def constructor(self) -> list[str]:
        """The line that builds this layer, with only what the text proves: no batch_first
        (a loading error never shows it); a SimpleRNN/RNN's activation marked as unknown."""
        s = self.spec()
        if s is None:
            return []
        lines = [line.replace(", batch_first=True", "") for line in frameworks.of(s).constructor(s)]
        if s.cell == "rnn":
            lines.insert(0, "# the activation (tanh or relu) is not in the text")
        return lines

    @property
    def total(self) -> int | None:
        """The parameter count of a complete layer (:func:`lstmcalc.counting.total_count`)."""
        s = self.spec()
        if s is None:
            return None
        from ..counting import total_count

        return total_count(s)

    def to_dict(self) -> dict:
        return {
            "side": self.side, "name": self.name, "framework": self.framework, "cell": self.cell,
            "units": self.units, "input": self.input_size, "layers": self.layers,
            "bidirectional": self.bidirectional, "bias": self.bias, "proj_size": self.proj_size,
            "reset_after": self.reset_after, "merge_mode": None, "total": self.total,
            "unknown": self.unknown(), "breakdown": self.breakdown_command(), "constructor": self.constructor(),
            "seen": [s.to_dict() for s in self.seen], "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Difference:
    """A field the text proves differs: values None where only the difference is known."""

    layer: str
    field: str
    checkpoint: object
    model: object
    words: str

    def to_dict(self) -> dict:
        return {"layer": self.layer, "field": self.field, "checkpoint": self.checkpoint, "model": self.model,
                "words": self.words}


@dataclass(frozen=True)
class Diagnosis:
    """What :func:`diagnose` read: which message, both sides' layers, what differs."""

    source: str  # "PyTorch load_state_dict", "Keras 3 load_weights", ...
    checkpoint: tuple[InferredLayer, ...]
    model: tuple[InferredLayer, ...]
    differences: tuple[Difference, ...]
    ignored: tuple[str, ...] = ()  # keys of non-recurrent modules in the message
    notes: tuple[str, ...] = ()
    # Column titles: for onnxruntime, "checkpoint" is what the tensors hold, "model" what the
    # node's attributes and input X need.
    labels: tuple[str, str] = ("checkpoint", "your model")

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "checkpoint": [x.to_dict() for x in self.checkpoint],
            "model": [x.to_dict() for x in self.model],
            "differences": [d.to_dict() for d in self.differences],
            "ignored": list(self.ignored),
            "notes": list(self.notes),
        }

    def __rich__(self):
        from ..render import why_view  # rich only when rendering

        return why_view(self)


def shape_of(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.split(r"[,\s]+", text.strip()) if p)


@dataclass
class Side:
    """What one side of one module is known to hold: {(layer, direction, name): shape | None},
    and the (layer, direction, name) slots known to be absent."""

    present: dict = field(default_factory=dict)
    absent: set = field(default_factory=set)
    seen: list = field(default_factory=list)
    cell_hint: str | None = None  # from the class name in the message (model side only)
    malformed: set = field(default_factory=set)  # slots whose shape is no valid tensor of this side


# The fields each dimension of a PyTorch tensor depends on (weight_ih's columns: layer 0's
# input size, a later layer's D·H_out).
DIM_FIELDS = {
    "weight_ih": (("cell", "units"), ("units", "proj_size", "bidirectional")),
    "weight_hh": (("cell", "units"), ("units", "proj_size")),
    "bias_ih": (("cell", "units"),), "bias_hh": (("cell", "units"),),
    "weight_hr": (("proj_size",), ("units",)),
}


def unexplained_sizes(ck: InferredLayer, mo: InferredLayer, differing: set) -> list[Difference]:
    """A size mismatch that no differing field accounts for (a transposed weight_hh, say), or
    whose shape is not the one its side's known fields give: reported as the two shapes,
    never as no difference."""
    torch_fw = frameworks.get("torch")
    out = []
    fc, fm = ({f: getattr(x, f) for f in FIELDS} for x in (ck, mo))
    model_shapes = {x.key: x.shape for x in mo.seen if x.how == "size mismatch"}
    for x in ck.seen:
        if x.how != "size mismatch":
            continue
        m = torch_fw.TORCH_NAME.match(x.key)
        layer, name = int(m["layer"]), m["name"]
        where = (layer, "backward" if m["reverse"] else "forward", name)
        theirs = model_shapes[x.key]
        dims = DIM_FIELDS.get(name, ())
        if name == "weight_ih" and layer == 0:
            dims = (dims[0], ("input_size",))
        explained = (len(x.shape) == len(theirs) == len(dims)
                     and all(a == b or differing & set(fs) for a, b, fs in zip(x.shape, theirs, dims))
                     and all(_expected(f, *where) in (None, shape) for f, shape in ((fc, x.shape), (fm, theirs))))
        if explained:
            continue
        words = f"the checkpoint's {x.key} has shape {x.shape}, your model's {theirs}"
        if x.shape == theirs[::-1]:
            words += " (the same sizes, transposed)"
        out.append(Difference(ck.name, "shape", list(x.shape), list(theirs), words + ": no field above explains it"))
    return out


def row_notes(sizes, checkpoint, model) -> list[str]:
    """For a size mismatch of G·H rows where neither side's cell is known: what the rows
    would mean for each cell that divides both (a condition, not a finding)."""
    notes = []
    unknown = {x.name for x in checkpoint + model if x.units is None}
    for m in sizes:
        key = m["key"]
        prefix, _, tail = key.rpartition(".")
        if prefix not in unknown or not tail.startswith(("weight_ih", "bias_ih", "bias_hh")):
            continue
        a, b = shape_of(m["ckpt"])[0], shape_of(m["model"])[0]
        if a == b:
            continue
        options = [f"{a // g} against {b // g} if both are {CELL_WORDS[c].split(' ', 1)[1]}s"
                   for c, g in GATES_OF.items() if a % g == 0 and b % g == 0]
        notes.append(f"{key}: {a} against {b} rows of G·H (gates × hidden_size); the text does not name the cell: "
                     f"hidden_size {'; '.join(options)}")
        break
    return notes


def _hh_facts(shape):
    """(cell, units, proj_size) that one weight_hh (G·H, H_out) shape proves, or Nones.
    Without a projection G·H / H is 4, 3 or 1; with one (LSTM, 0 < P < H) 4H / P > 4."""
    if shape is None or len(shape) != 2 or shape[1] == 0:
        return None, None, None
    rows, cols = shape
    if rows % cols == 0 and rows // cols in CELL_BY_GATES:
        return CELL_BY_GATES[rows // cols], cols, 0
    if rows % 4 == 0 and rows // 4 > cols:
        return "lstm", rows // 4, cols
    return None, None, None


def _infer_side(s: Side) -> dict:
    """Fields one side's tensors prove (None where they do not)."""
    out = dict.fromkeys(FIELDS)
    known = {k: (None if k in s.malformed else v) for k, v in s.present.items()}
    for (layer, d, n), shape in known.items():
        if n == "weight_hh":
            cell, units, proj = _hh_facts(shape)
            if cell:
                out.update(cell=cell, units=units, proj_size=proj)
                break
    for (layer, d, n), shape in known.items():
        if n == "weight_hr":
            out["cell"] = "lstm"
            if shape is not None and len(shape) == 2:
                out["proj_size"], out["units"] = shape
    # an absent weight_hr says "no projection" only in a direction this side has
    if out["proj_size"] is None and any(n == "weight_hr" and (layer, d, "weight_ih") not in s.absent
                                        for (layer, d, n) in s.absent):
        out["proj_size"] = 0
    if out["cell"] is None and s.cell_hint:
        out["cell"] = s.cell_hint
    if out["cell"] is not None and out["cell"] != "lstm" and out["proj_size"] is None:
        out["proj_size"] = 0
    g = GATES_OF.get(out["cell"])
    for (layer, d, n), shape in known.items():
        if shape is None:
            continue
        if n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh") and g and out["units"] is None and shape[0] % g == 0:
            out["units"] = shape[0] // g
        if n == "weight_ih" and layer == 0 and len(shape) == 2 and (
                g is None or out["units"] is None or shape[0] == g * out["units"]):  # rows G·H, or no weight_ih
            out["input_size"] = shape[1]
    # A layer whose forward weight_ih is absent is no layer of this side; only inside the
    # layers it has does an absent _reverse or bias key say "not bidirectional", "no bias".
    gone = {layer for (layer, d, n) in s.absent if n == "weight_ih" and d == "forward"}
    if any(d == "backward" for (_, d, _) in known):
        out["bidirectional"] = True
    elif any(d == "backward" and n in ("weight_ih", "weight_hh") and layer not in gone for (layer, d, n) in s.absent):
        out["bidirectional"] = False
    if any(n in ("bias_ih", "bias_hh") for (_, _, n) in known):
        out["bias"] = True
    elif any(n in ("bias_ih", "bias_hh") and layer not in gone and (layer, d, "weight_ih") not in s.absent
             for (layer, d, n) in s.absent):
        out["bias"] = False
    lower = max((layer for (layer, _, _) in known), default=0) + 1  # every RNN has layer 0
    upper = min(gone, default=None)
    if upper is not None and upper == lower:
        out["layers"] = lower
    out["_lower"] = lower
    return out


def _expected(f: dict, layer: int, direction: str, name: str):
    """The shape of one tensor that the side's known fields give, or None."""
    if f["cell"] is None or f["units"] is None:
        return None
    gh = GATES_OF[f["cell"]] * f["units"]
    h_out = (f["proj_size"] or f["units"]) if f["proj_size"] is not None else None
    if name in ("bias_ih", "bias_hh"):
        return (gh,)
    if name == "weight_hh":
        return None if h_out is None else (gh, h_out)
    if name == "weight_hr":
        return None if not f["proj_size"] else (f["proj_size"], f["units"])
    if name == "weight_ih":
        if layer == 0:
            return None if f["input_size"] is None else (gh, f["input_size"])
        if h_out is None or f["bidirectional"] is None:
            return None
        return (gh, (2 if f["bidirectional"] else 1) * h_out)
    return None


def infer_pair(ck: Side, mo: Side, mismatch: set, name: str, complete: bool):
    """Both sides, with the shapes of shared tensors carried across (see the module
    docstring) and the layer and direction counts that a complete listing proves. Only a
    ``complete`` message (one with PyTorch's header line) lists every difference; from a
    pasted fragment, only what its lines show is used."""
    listed = set(ck.present) | set(mo.present) | ck.absent | mo.absent
    if complete:
        # A weight_hh held by both unlisted has the same G·H rows on both sides; a weight_ih or
        # bias of the same direction whose rows then differ is malformed in the checkpoint
        # (the model's tensors are a real module's): a transposed weight_ih, say.
        for s in mismatch:
            if s[2] in ("weight_ih", "bias_ih", "bias_hh") and (s[0], s[1], "weight_hh") not in listed:
                if (ck.present[s] or (None,))[0] != (mo.present[s] or (None,))[0]:
                    ck.malformed.add(s)
    for _ in range(4 if complete else 0):
        changed = False
        for src in (ck, mo):  # layer k implies layers 0..k-1; a backward tensor, a backward direction in each
            top = max((layer for (layer, _, _) in src.present), default=0)
            dirs = ("forward", "backward") if any(d == "backward" for (_, d, _) in src.present) else ("forward",)
            for layer in range(top + 1):
                for d in dirs:
                    for n in ("weight_ih", "weight_hh"):
                        if (layer, d, n) not in src.present and (layer, d, n) not in src.absent:
                            src.present[(layer, d, n)] = None
                            changed = True
        fc, fm = _infer_side(ck), _infer_side(mo)
        for src, dst, fsrc in ((ck, mo, fc), (mo, ck, fm)):
            for s, shape in list(src.present.items()):
                if s in listed or s in mismatch:
                    continue
                # a slot neither missing, unexpected nor mismatched: held by both with one shape
                if shape is None:
                    shape = _expected(fsrc, *s)
                    if shape is not None:
                        src.present[s] = shape
                        changed = True
                if s not in dst.present or (dst.present[s] is None and shape is not None):
                    dst.present[s] = shape
                    changed = True
        if not changed:
            break
    fc, fm = _infer_side(ck), _infer_side(mo)
    # When H_out differs, every weight_hh that both sides hold is a size mismatch, so each
    # side's weight_hh slots are exactly the listed ones: its layer and direction counts follow.
    h_c = _h_out(fc)
    h_m = _h_out(fm)
    if complete and h_c is not None and h_m is not None and h_c != h_m:
        for f, s in ((fc, ck), (fm, mo)):
            hh = [x for x in s.present if x[2] in ("weight_hh", "weight_ih")]
            if hh:
                f["layers"] = max(x[0] for x in hh) + 1
                f["bidirectional"] = any(x[1] == "backward" for x in hh)
    # A side whose layer count is known: the other side's layers beyond it are all listed.
    for f, other in ((fc, fm), (fm, fc)):
        if complete and f["layers"] is not None and other["layers"] is None and other["_lower"] > f["layers"]:
            other["layers"] = other["_lower"]
    return (_layer("checkpoint", name, "torch", fc, ck), _layer("model", name, "torch", fm, mo))


def _h_out(f: dict):
    if f["units"] is None or f["proj_size"] is None:
        return None
    return f["proj_size"] or f["units"]


def _layer(side: str, name: str, framework: str, f: dict, s: Side, notes=()) -> InferredLayer:
    return InferredLayer(side, name, framework, **{k: f[k] for k in FIELDS}, seen=tuple(s.seen), notes=tuple(notes))


def _layer_of(key: str) -> int:
    m = re.search(r"_l(\d+)(?:_reverse)?$", key)
    return int(m[1]) if m else -1


CELL_WORDS = {"lstm": "an LSTM", "gru": "a GRU", "rnn": "a SimpleRNN/RNN"}


def find_differences(ck: InferredLayer, mo: InferredLayer, sides: dict, words: dict, framework: str) -> list[Difference]:
    out = []
    name = ck.name
    only_ck = [x.key for x in ck.seen if x.how == "unexpected"]
    only_mo = [x.key for x in mo.seen if x.how == "missing"]

    def keys(ks, test):
        picked = [k for k in ks if test(k)]
        shown = ", ".join(picked[:3]) + (", …" if len(picked) > 3 else "")
        return shown

    for f in FIELDS:
        a, b = getattr(ck, f), getattr(mo, f)
        if a is None or b is None or a == b:
            continue
        if f == "cell":
            text = f"the checkpoint holds {CELL_WORDS[a]} ({GATES_OF[a]} gate blocks), your model is {CELL_WORDS[b]} ({GATES_OF[b]})"
        elif f == "bidirectional":
            if a:
                text = ("the checkpoint is bidirectional, your model is not: its _reverse tensors are unexpected ("
                        f"{keys(only_ck, lambda k: k.endswith('_reverse'))})")
            else:
                text = ("your model is bidirectional, the checkpoint is not: your model's _reverse tensors are missing "
                        f"from it ({keys(only_mo, lambda k: k.endswith('_reverse'))})")
        elif f == "bias":
            if a:
                text = f"the checkpoint has biases, your model has none (bias=False): {keys(only_ck, lambda k: 'bias' in k)} unexpected"
            else:
                text = f"your model has biases, the checkpoint has none: {keys(only_mo, lambda k: 'bias' in k)} missing"
        elif f == "proj_size":
            a_w = f"proj_size {a}" if a else "no projection"
            b_w = f"proj_size {b}" if b else "no projection"
            text = f"the checkpoint has {a_w}, your model {b_w}"
        elif f == "layers":
            more = "checkpoint" if a > b else "model"
            extra = keys(only_ck if more == "checkpoint" else only_mo, lambda k: _layer_of(k) >= min(a, b))
            how = "unexpected" if more == "checkpoint" else "missing"
            text = f"the checkpoint has {words['layers']} {a}, your model {b}: {extra} {how}"
        else:
            text = f"the checkpoint has {words[f]} {a}, your model {b}"
        out.append(Difference(name, f, a, b, text))
    # Presence differences whose values the text does not give
    if ck.proj_size is None and mo.proj_size == 0 and any(x.key.rsplit(".", 1)[-1].startswith("weight_hr") for x in ck.seen):
        out.append(Difference(name, "proj_size", None, 0, "the checkpoint has a projection (weight_hr unexpected; "
                              "its size is not in the text), your model none"))
    if mo.proj_size is None and ck.proj_size == 0 and any(x.key.rsplit(".", 1)[-1].startswith("weight_hr") for x in mo.seen):
        out.append(Difference(name, "proj_size", 0, None, "your model has a projection (weight_hr missing from the "
                              "checkpoint; its size is not in the text), the checkpoint none"))
    return out
