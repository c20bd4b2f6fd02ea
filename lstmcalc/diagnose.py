"""Read a weight-loading error message and say how the checkpoint's recurrent layer differs
from the model's (stdlib only).

Recognised texts (the exact words the frameworks print; see tests/crosscheck/test_why.py):

- PyTorch ``Module.load_state_dict``: ``Error(s) in loading state_dict for <Class>:``, then
  ``Missing key(s) in state_dict: "k", ...``, ``Unexpected key(s) in state_dict: ...`` and
  ``size mismatch for <key>: copying a param with shape torch.Size([..]) from checkpoint,
  the shape in current model is torch.Size([..])``.
- Keras 3 ``load_weights`` / ``Variable.assign``: ``variable.shape=(..), Received:
  value.shape=..`` with ``Target variable: <Variable path=.../<cell>/<name>``; ``Layer
  '<cell>' expected N variables, but received M variables during loading. Expected: [...]``;
  ``Layer <name> weight shape (..) is not compatible with provided weight shape (..)``
  (``set_weights``); ``You called `set_weights(weights)` on layer '<name>' with a weight
  list of length M, but the layer was expecting N weights``.
- Keras 2 (TF-Keras) ``load_weights``: ``weight <tf.Variable '<layer>/<name>:0' shape=(..)
  ...> has shape (..), but the saved weight has shape (..)`` (a CuDNNLSTM bias of 8H,
  keras-team/keras#11785).

Every field is inferred only from what the text proves: the checkpoint's side from the
shapes it reports and the keys only it has, the model's from its shapes, the keys only it
has and the class name in the message. A field the text does not settle is ``None``
("unknown"), never a default. One rule fills in shapes the text does not print: a key that
both sides hold (it is neither missing nor unexpected) and that is not a size mismatch has
the same shape on both sides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from . import frameworks
from .errors import FileError
from .frameworks.shared import CELL_BY_GATES, GATES_OF

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


# --- results ---------------------------------------------------------------------------------


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
        from .frameworks import make_spec
        from .spec import SpecError

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
        from .counting import total_count

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
        from .render import why_view  # rich only when rendering

        return why_view(self)


# --- PyTorch -----------------------------------------------------------------------------------

TORCH_HEADER = re.compile(r"Error\(s\) in loading state_dict for (?P<cls>[\w.]+):")
TORCH_KEYS = re.compile(r"(?P<kind>Missing|Unexpected) key\(s\) in state_dict:\s*(?P<keys>(?:\"[^\"]*\"[,\s]*)+)")
TORCH_SIZE = re.compile(
    r"size mismatch for (?P<key>[^\s:]+):\s*copying a param with shape torch\.Size\(\[(?P<ckpt>[\d,\s]*)\]\)\s*"
    r"from checkpoint,\s*the shape in current model is torch\.Size\(\[(?P<model>[\d,\s]*)\]\)"
)


def _shape(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.split(r"[,\s]+", text.strip()) if p)


@dataclass
class _Side:
    """What one side of one module is known to hold: {(layer, direction, name): shape | None},
    and the (layer, direction, name) slots known to be absent."""

    present: dict = field(default_factory=dict)
    absent: set = field(default_factory=set)
    seen: list = field(default_factory=list)
    cell_hint: str | None = None  # from the class name in the message (model side only)
    malformed: set = field(default_factory=set)  # slots whose shape is no valid tensor of this side


def _parse_torch(text: str) -> Diagnosis:
    header = TORCH_HEADER.search(text)
    sizes = list(TORCH_SIZE.finditer(text))
    keyed = list(TORCH_KEYS.finditer(text))
    if not header and not sizes and not keyed:
        raise UnrecognisedError("no PyTorch load_state_dict message")
    torch_fw = frameworks.get("torch")
    modules: dict[str, dict[str, _Side]] = {}
    mismatched: dict[str, set] = {}  # prefix -> slots both sides hold with different shapes
    ignored = []

    def side(prefix, which):
        return modules.setdefault(prefix, {s: _Side() for s in SIDES})[which]

    def slot(key):
        m = torch_fw.TORCH_NAME.match(key)
        if not m:
            ignored.append(key)
            return None, None
        return m["prefix"], (int(m["layer"]), "backward" if m["reverse"] else "forward", m["name"])

    for m in sizes:
        prefix, s = slot(m["key"])
        if s is None:
            continue
        for which, shape in (("checkpoint", _shape(m["ckpt"])), ("model", _shape(m["model"]))):
            side(prefix, which).present[s] = shape
            side(prefix, which).seen.append(Seen(m["key"], shape, "size mismatch"))
        mismatched.setdefault(prefix, set()).add(s)
    listed = {kind: [k for m in keyed if m["kind"] == kind for k in re.findall(r"\"([^\"]*)\"", m["keys"])]
              for kind in ("Missing", "Unexpected")}
    renaming = _renaming(listed["Unexpected"], listed["Missing"])
    renamed_modules = []
    if renaming:
        a, b = renaming
        for key in listed["Unexpected"]:
            if not key.startswith(a):
                continue
            theirs = b + key[len(a):]
            prefix, s = slot(theirs)
            if s is None:
                ignored.pop()  # a renamed non-recurrent key: the prefix explains it
                continue
            renamed_modules.append(prefix.rstrip("."))
            for which, k, how in (("checkpoint", key, "unexpected"), ("model", theirs, "missing")):
                side(prefix, which).present.setdefault(s, None)  # held by both, under two names
                side(prefix, which).seen.append(Seen(k, None, how))
    for m in keyed:
        only = "model" if m["kind"] == "Missing" else "checkpoint"
        other = "checkpoint" if only == "model" else "model"
        for key in re.findall(r"\"([^\"]*)\"", m["keys"]):
            if renaming and key.startswith(renaming[0 if only == "checkpoint" else 1]):
                continue  # under another name on the other side
            prefix, s = slot(key)
            if s is None:
                continue
            side(prefix, only).present.setdefault(s, None)
            side(prefix, only).seen.append(Seen(key, None, "missing" if only == "model" else "unexpected"))
            side(prefix, other).absent.add(s)
    if not modules:
        raise UnrecognisedError(
            "a PyTorch load_state_dict message, but none of its keys is a recurrent layer's "
            f"({torch_fw.NAMES_HINT}); it names {', '.join(ignored[:5]) or 'no key'}"
        )
    cls = header["cls"] if header else None
    checkpoint, model, differences = [], [], []
    for prefix, sides in modules.items():
        mismatch = mismatched.get(prefix, set())
        if prefix == "" and cls in TORCH_CLASSES:
            sides["model"].cell_hint = TORCH_CLASSES[cls]
        name = prefix.rstrip(".")  # "" for bare keys: the module load_state_dict was called on
        ck, mo = _infer_pair(sides["checkpoint"], sides["model"], mismatch, name, complete=header is not None)
        checkpoint.append(ck)
        model.append(mo)
        found = _differences(ck, mo, sides, TORCH_WORDS, "torch")
        differences += found + _unexplained_sizes(ck, mo, {x.field for x in found})
    if renaming:
        differences.insert(0, _renaming_difference(renaming, renamed_modules))
    source = f"PyTorch load_state_dict for {cls}" if cls else "PyTorch load_state_dict"
    notes = _row_notes(sizes, checkpoint, model)
    if header is None:
        notes.append("no 'Error(s) in loading state_dict' line: read as a fragment, so what other lines of the "
                     "full message would show (layers, directions, shapes of tensors not listed) stays unknown")
    return Diagnosis(source, tuple(checkpoint), tuple(model), tuple(differences), tuple(dict.fromkeys(ignored)),
                     tuple(notes))


def _renaming(unexpected: list[str], missing: list[str]) -> tuple[str, str] | None:
    """(checkpoint prefix, model prefix) when the unexpected keys under the one are exactly
    the missing keys under the other (``module.lstm.weight_ih_l0`` for ``lstm.weight_ih_l0``:
    a DataParallel checkpoint; ``rnn.`` for ``lstm.``: a renamed attribute), else None."""
    if not unexpected or not missing:
        return None
    tails = {}  # dotted suffix of a missing key -> the prefixes it follows
    for key in missing:
        parts = key.split(".")
        for i in range(len(parts)):
            tails.setdefault(".".join(parts[i:]), set()).add(".".join(parts[:i]) + "." if i else "")
    votes = {}
    for key in unexpected:
        parts = key.split(".")
        for i in range(len(parts)):  # the longest shared suffix first
            tail = ".".join(parts[i:])
            if tail in tails:
                a = ".".join(parts[:i]) + "." if i else ""
                for b in tails[tail]:
                    if a != b:
                        votes[(a, b)] = votes.get((a, b), 0) + 1
                break
    for (a, b), _ in sorted(votes.items(), key=lambda kv: -kv[1]):
        under_a = {k[len(a):] for k in unexpected if k.startswith(a)}
        under_b = {k[len(b):] for k in missing if k.startswith(b)}
        if under_a and under_a == under_b:
            return a, b
    return None


def _renaming_difference(renaming: tuple[str, str], modules: list[str]) -> Difference:
    a, b = renaming
    where = ", ".join(dict.fromkeys(modules)) or "(top level)"
    if b == "":
        fix = f'model.load_state_dict({{k.removeprefix("{a}"): v for k, v in state_dict.items()}})'
    elif a == "" and b == "module.":
        fix = "model.module.load_state_dict(state_dict)"
    elif a == "":
        fix = f'model.load_state_dict({{"{b}" + k: v for k, v in state_dict.items()}})'
    else:
        fix = (f'model.load_state_dict({{("{b}" + k[{len(a)}:] if k.startswith("{a}") else k): v '
               "for k, v in state_dict.items()})")
    said = {("module.", ""): " (saved from a torch.nn.DataParallel or DistributedDataParallel wrapper, which "
                             "holds the model as .module)",
            ("", "module."): " (your model is wrapped in torch.nn.DataParallel or DistributedDataParallel, which "
                             "holds it as .module)"}.get((a, b), "")
    words = (f"the keys differ only by a prefix: the checkpoint's start with '{a}' where your model's start with "
             f"'{b}'{said}; their shapes are not in the text. Fix: {fix}")
    return Difference(where, "prefix", a, b, words)


# The fields each dimension of a PyTorch tensor depends on (weight_ih's columns: layer 0's
# input size, a later layer's D·H_out).
DIM_FIELDS = {
    "weight_ih": (("cell", "units"), ("units", "proj_size", "bidirectional")),
    "weight_hh": (("cell", "units"), ("units", "proj_size")),
    "bias_ih": (("cell", "units"),), "bias_hh": (("cell", "units"),),
    "weight_hr": (("proj_size",), ("units",)),
}


def _unexplained_sizes(ck: InferredLayer, mo: InferredLayer, differing: set) -> list[Difference]:
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


def _row_notes(sizes, checkpoint, model) -> list[str]:
    """For a size mismatch of G·H rows where neither side's cell is known: what the rows
    would mean for each cell that divides both (a condition, not a finding)."""
    notes = []
    unknown = {x.name for x in checkpoint + model if x.units is None}
    for m in sizes:
        key = m["key"]
        prefix, _, tail = key.rpartition(".")
        if prefix not in unknown or not tail.startswith(("weight_ih", "bias_ih", "bias_hh")):
            continue
        a, b = _shape(m["ckpt"])[0], _shape(m["model"])[0]
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


def _infer_side(s: _Side) -> dict:
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


def _infer_pair(ck: _Side, mo: _Side, mismatch: set, name: str, complete: bool):
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


def _layer(side: str, name: str, framework: str, f: dict, s: _Side, notes=()) -> InferredLayer:
    return InferredLayer(side, name, framework, **{k: f[k] for k in FIELDS}, seen=tuple(s.seen), notes=tuple(notes))


def _layer_of(key: str) -> int:
    m = re.search(r"_l(\d+)(?:_reverse)?$", key)
    return int(m[1]) if m else -1


CELL_WORDS = {"lstm": "an LSTM", "gru": "a GRU", "rnn": "a SimpleRNN/RNN"}


def _differences(ck: InferredLayer, mo: InferredLayer, sides: dict, words: dict, framework: str) -> list[Difference]:
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


# --- Keras -------------------------------------------------------------------------------------

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


def _parse_keras(text: str) -> Diagnosis:
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
        shapes = {"checkpoint": _shape(assign["ckpt"]), "model": _shape(assign["model"])}
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
        shapes = {"checkpoint": _shape(setw["ckpt"]), "model": _shape(setw["model"])}
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
        shapes = {"checkpoint": _shape(k2["ckpt"]), "model": _shape(k2["model"])}
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


# --- onnxruntime -------------------------------------------------------------------------------

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


def _parse_onnx(text: str) -> Diagnosis:
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


# --- entry point -------------------------------------------------------------------------------


def diagnose(text: str) -> Diagnosis:
    """Read a weight-loading error message; :class:`UnrecognisedError` (a FileError, exit 1)
    saying what was recognised when it is none this module knows."""
    if not isinstance(text, str) or not text.strip():
        raise UnrecognisedError("the error text is empty; paste the message (or '-' to read it from stdin)")
    text = text[:MAX_TEXT]
    errors = []
    for parse in (_parse_torch, _parse_keras, _parse_onnx):
        try:
            return parse(text)
        except UnrecognisedError as e:
            errors.append(str(e))
            if parse is _parse_onnx and str(e).startswith("an onnxruntime error of"):
                raise  # recognised, and too little in it: say what was recognised
    first = text.strip().splitlines()[0][:80]
    raise UnrecognisedError(
        f"not a weight-loading error lstmcalc knows ({'; '.join(errors)}); it begins {first!r}. Recognised: "
        "PyTorch load_state_dict (size mismatch, missing and unexpected keys), Keras 3 load_weights/set_weights, "
        "Keras 2 load_weights, onnxruntime's LSTM/GRU/RNN input shape errors"
    )
