"""Compare two recurrent layers as functions, and name the porting mistake that maps one onto
the other (NumPy).

Both layers are brought to :mod:`lstmcalc.canonical` form and compared there, so files in
different frameworks compare directly. Two layers are *equivalent* when they compute the same
outputs: same structure (cell, sizes, directions, layers, projection, GRU reset form,
activation, merge mode) and, per layer, direction and gate, the same input block ``w``, the
same recurrent block ``u`` and the same bias that reaches the gate, b_w + b_u, except the
reset-after GRU candidate, whose b_w and b_u are compared apart (b_u sits inside
r ⊙ (U_n h + b_u)). A missing bias compares as zeros.

"The same" means every element within :data:`ULPS` units in the last place of the coarser
dtype of the two files (float32 when either is float32), measured element by element: the ulp
of an element is that dtype's spacing at the larger |value| of the pair (np.spacing), and for a
bias sum b_w + b_u at the largest |addend| of either side (the sum of two float32 numbers is
rounded at the addends' scale: a PyTorch LSTM bias moved between bias_ih and bias_hh, or summed
into one Keras bias, changes the sum by about one ulp of the addends). A float32 file written
from a float64 one (at most half an ulp off) compares equal; two float32 files that differ by
1e-6 in one weight of size 0.3 (34 ulps) do not.

When the layers are not equivalent, :func:`compare` applies each usual porting mistake to A
(:data:`MISTAKES`) and reports those after which A is equivalent to B. Both layers, and A
with each mistake found, are then run on the same random float64 input to confirm.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from . import frameworks
from .canonical import CELL_GATES, Canonical, Direction
from .converting import from_canonical

ULPS = 4  # equal: within this many units in the last place of the coarser dtype, per element (see above)
INPUT_BATCH, INPUT_TIME = 2, 5  # the confirming run's input (B, T, X), standard normal, float64
MAX_LAYER_ORDERS = 120  # layer permutations tried (5 layers); rotations only beyond


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldDifference:
    """A structural field that differs (``units``, ``reset_after``, ...)."""

    field: str
    a: object
    b: object

    def to_dict(self) -> dict:
        return {"field": self.field, "a": self.a, "b": self.b}


@dataclass(frozen=True)
class TensorDifference:
    """One gate's block of one kind in one layer and direction, compared.

    ``part``: "input weights" (w), "recurrent weights" (u), "bias" (b_w + b_u), "input bias"
    and "recurrent bias" (the reset-after GRU candidate's b_w, b_u), "projection", "peepholes".
    ``gate``: our letter (i, f, g, o | z, r, n | h), "" for the projection.
    """

    layer: int
    direction: str
    gate: str
    part: str
    max_abs_difference: float
    max_ulps: float  # the largest element difference, in ulps of the coarser dtype (see the module docstring)

    @property
    def equal(self) -> bool:
        return self.max_ulps <= ULPS

    def to_dict(self) -> dict:
        return {
            "layer": self.layer, "direction": self.direction, "gate": self.gate, "part": self.part,
            "max_abs_difference": self.max_abs_difference, "max_ulps": self.max_ulps, "equal": self.equal,
        }


@dataclass(frozen=True)
class Mistake:
    """A porting mistake that maps A onto B: ``kind`` (a key of :data:`MISTAKES`), the words,
    and the max output difference between B and A with the mistake applied (confirms it)."""

    kind: str
    description: str
    output_difference: float | None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "description": self.description, "output_difference": self.output_difference}


@dataclass(frozen=True)
class Side:
    """One of the two layers: where it came from and what it is."""

    label: str  # "A" or "B"
    name: str
    file: str
    spec: object  # LayerSpec

    def to_dict(self) -> dict:
        s = self.spec
        return {
            "name": self.name, "file": self.file, "framework": s.framework, "cell": s.cell, "units": s.units,
            "input": s.input_size, "layers": s.layers, "bidirectional": s.bidirectional, "bias": s.bias,
            "proj_size": s.proj_size, "reset_after": s.reset_after if s.cell == "gru" else None,
            "merge_mode": s.merge_mode if s.bidirectional else None,
        }


@dataclass(frozen=True)
class Comparison:
    """What :func:`compare` found. ``tensors`` lists every compared block (largest difference
    first); ``max_output_difference`` is max |output_A − output_B| over the whole output
    sequence on one random float64 input of shape ``input_shape`` (None when the outputs
    have different shapes)."""

    a: Side
    b: Side
    equivalent: bool
    structure: tuple[FieldDifference, ...]
    tensors: tuple[TensorDifference, ...]
    explained_by: tuple[Mistake, ...]
    max_output_difference: float | None
    input_shape: tuple[int, ...] | None
    seed: int
    dtype: str = "float64"  # the coarser dtype of the two files: the ulps are its
    ulps: int = ULPS

    def to_dict(self) -> dict:
        return {
            "equivalent": self.equivalent,
            "tolerance": {"ulps": self.ulps, "dtype": self.dtype},
            "explained_by": [m.description for m in self.explained_by],
            "max_output_difference": self.max_output_difference,
            "tensors": [t.to_dict() for t in self.tensors],
            "mistakes": [m.to_dict() for m in self.explained_by],
            "structure": [d.to_dict() for d in self.structure],
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "input_shape": None if self.input_shape is None else list(self.input_shape),
            "seed": self.seed,
        }

    def __rich__(self):
        from .render import diff_view  # rich only when rendering

        return diff_view(self)


# --- the canonical form in float64 ---------------------------------------------------------------


def to_float64(c: Canonical) -> Canonical:
    """A deep copy of ``c`` with every array in float64 (transforms then never round)."""

    def conv(d):
        return None if d is None else {g: np.array(v, dtype=np.float64) for g, v in d.items()}

    layers = []
    for row in c.layers:
        layers.append([
            Direction(w=conv(p.w), u=conv(p.u), b_w=conv(p.b_w), b_u=conv(p.b_u),
                      proj=None if p.proj is None else np.array(p.proj, dtype=np.float64), peep=conv(p.peep))
            for p in row
        ])
    return Canonical(c.cell, layers, reset_after=c.reset_after, activation=c.activation, clip=c.clip,
                     merge_mode=c.merge_mode)


def canonical_of(found) -> Canonical:
    """A :class:`~lstmcalc.readers.FoundLayer`'s weights in canonical form, float64."""
    return to_float64(frameworks.of(found.spec).to_canonical(found.weights, found.spec))


def coarser_dtype(*dtypes) -> np.dtype:
    """The float dtype of largest epsilon among ``dtypes`` (float64 when none is a float)."""
    floats = [np.dtype(d) for d in dtypes if np.dtype(d).kind == "f"]
    return max(floats, key=lambda d: np.finfo(d).eps, default=np.dtype(np.float64))


# --- comparison --------------------------------------------------------------------------------


def _shape_of(c: Canonical) -> dict:
    """The structural fields of a canonical layer (what must match before any weight does)."""
    return {
        "cell": c.cell, "units": c.units, "input_size": c.input_size, "layers": len(c.layers),
        "bidirectional": c.bidirectional, "proj_size": c.proj_size,
        "reset_after": c.reset_after if c.cell == "gru" else None,
        "activation": c.activation if c.cell == "rnn" else None,
        "merge_mode": c.merge_mode if c.bidirectional else None,
        "peepholes": c.peepholes, "clip": c.clip,
    }


def structure_differences(a: Canonical, b: Canonical) -> list[FieldDifference]:
    """Structural fields that differ; merge_mode matters only where it changes an output."""
    sa, sb = _shape_of(a), _shape_of(b)
    return [FieldDifference(k, sa[k], sb[k]) for k in sa if sa[k] != sb[k]]


def _bias(part: Direction, gate: str, which: str, h: int) -> np.ndarray:
    """"sum": b_w + b_u; "w" or "u": one side; zeros where the layer has none."""
    zero = np.zeros(h)
    b_w = zero if part.b_w is None else part.b_w[gate]
    b_u = zero if part.b_u is None else part.b_u[gate]
    return {"sum": b_w + b_u, "w": b_w, "u": b_u}[which]


def _diff(x, y, dtype, scale=None) -> tuple[float, float]:
    """(max |x − y|, max |x − y| in ulps of ``dtype``), element by element; an element's ulp is
    ``dtype``'s spacing at ``scale`` (default: the larger |value| of the pair)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        return float("inf"), float("inf")
    if x.size == 0:
        return 0.0, 0.0
    if scale is None:
        scale = np.maximum(np.abs(x), np.abs(y))
    ulp = np.spacing(np.asarray(scale, dtype=np.float64).astype(dtype)).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ulps = np.where(x == y, 0.0, np.abs(x - y) / ulp)
    return float(np.abs(x - y).max()), float(ulps.max())


def _addends(pa: Direction, pb: Direction, gate: str, h: int) -> np.ndarray:
    """The largest |addend| of a bias sum b_w + b_u, either side, per element."""
    return np.max([np.abs(_bias(p, gate, k, h)) for p in (pa, pb) for k in ("w", "u")], axis=0)


def _bias_diff(pa: Direction, pb: Direction, gate: str, which: str, h: int, dtype) -> tuple[float, float]:
    scale = _addends(pa, pb, gate, h) if which == "sum" else None
    return _diff(_bias(pa, gate, which, h), _bias(pb, gate, which, h), dtype, scale)


def tensor_differences(a: Canonical, b: Canonical, dtype) -> list[TensorDifference]:
    """Every gate block of two structurally equal canonical layers, compared (see the module
    docstring for what is compared)."""
    out = []
    h = a.units
    split = a.cell == "gru" and a.reset_after
    for (k, d, pa), (_, _, pb) in zip(a.directions(), b.directions()):
        for g in CELL_GATES[a.cell]:
            parts = [("input weights", _diff(pa.w[g], pb.w[g], dtype)),
                     ("recurrent weights", _diff(pa.u[g], pb.u[g], dtype))]
            if split and g == "n":
                parts += [("input bias", _bias_diff(pa, pb, g, "w", h, dtype)),
                          ("recurrent bias", _bias_diff(pa, pb, g, "u", h, dtype))]
            else:
                parts.append(("bias", _bias_diff(pa, pb, g, "sum", h, dtype)))
            if pa.peep is not None and g in pa.peep:
                parts.append(("peepholes", _diff(pa.peep[g], pb.peep[g], dtype)))
            for part, found in parts:
                out.append(TensorDifference(k, d, g, part, *found))
        if pa.proj is not None:
            out.append(TensorDifference(k, d, "", "projection", *_diff(pa.proj, pb.proj, dtype)))
    return out


def equivalent(a: Canonical, b: Canonical, dtype) -> bool:
    """Whether ``a`` and ``b`` compute the same outputs (within the tolerance): the same
    comparisons as :func:`tensor_differences`, biases first, stopping at the first that differs."""
    if not biases_equal(a, b, dtype):  # the small vectors first: a wrong candidate fails fast
        return False
    for (_, _, pa), (_, _, pb) in zip(a.directions(), b.directions()):
        for g in CELL_GATES[a.cell]:
            if not (_close(pa.w[g], pb.w[g], dtype) and _close(pa.u[g], pb.u[g], dtype)):
                return False
            if pa.peep is not None and g in pa.peep and not _close(pa.peep[g], pb.peep[g], dtype):
                return False
        if pa.proj is not None and not _close(pa.proj, pb.proj, dtype):
            return False
    return True


def biases_equal(a: Canonical, b: Canonical, dtype) -> bool:
    """Same structure and the same biases reaching every gate (see the module docstring)."""
    if structure_differences(a, b):
        return False
    h = a.units
    split = a.cell == "gru" and a.reset_after
    for (_, _, pa), (_, _, pb) in zip(a.directions(), b.directions()):
        for g in CELL_GATES[a.cell]:
            kinds = ("w", "u") if split and g == "n" else ("sum",)
            if not all(_bias_diff(pa, pb, g, k, h, dtype)[1] <= ULPS for k in kinds):
                return False
    return True


def _close(x, y, dtype) -> bool:
    return _diff(x, y, dtype)[1] <= ULPS


# --- porting mistakes: each yields (description, A with the mistake applied) -------------------


def _copy(c: Canonical) -> Canonical:
    """A new structure over the same arrays (transforms replace arrays, never write into them)."""

    def d(x):
        return None if x is None else dict(x)

    layers = [[Direction(w=d(p.w), u=d(p.u), b_w=d(p.b_w), b_u=d(p.b_u), proj=p.proj, peep=d(p.peep)) for p in row]
              for row in c.layers]
    return Canonical(c.cell, layers, reset_after=c.reset_after, activation=c.activation, clip=c.clip,
                     merge_mode=c.merge_mode)


def _gate_list(gates) -> str:
    return ", ".join(gates)


def _gate_permutations(a: Canonical, b: Canonical):
    gates = CELL_GATES[a.cell]
    for perm in itertools.permutations(gates):
        if perm == gates:
            continue
        t = _copy(a)
        for _, _, part in t.directions():
            for attr in ("w", "u", "b_w", "b_u"):
                blocks = getattr(part, attr)
                if blocks is not None:
                    setattr(part, attr, {g: blocks[p] for g, p in zip(gates, perm)})
        moved = ", ".join(f"{g}←{p}" for g, p in zip(gates, perm) if g != p)
        words = f"gate blocks in the wrong order: B's {_gate_list(gates)} blocks hold A's {_gate_list(perm)} ({moved})"
        yield words, t


def _transposes(a: Canonical, b: Canonical):
    """Each gate block transposed (square blocks only), in the input or recurrent weights."""
    if structure_differences(a, b):
        return
    for attr, words in (("u", "recurrent"), ("w", "input")):
        blocks = [getattr(p, attr)[g] for _, _, p in a.directions() for g in CELL_GATES[a.cell]]
        if not all(x.shape[0] == x.shape[1] for x in blocks):
            continue
        t = _copy(a)
        for _, _, part in t.directions():
            setattr(part, attr, {g: v.T for g, v in getattr(part, attr).items()})
        yield f"{words} weights transposed: each gate's {words} block of B is A's block transposed", t


def _reshaped(a: Canonical, b: Canonical, framework: str, dtype):
    """A fused tensor reshaped instead of transposed (``k.reshape(4H, X)`` for ``k.T``), in
    ``framework``'s layout: silent whenever the element count matches. Only tried when the
    biases already agree (the mistake leaves them as they are)."""
    if not biases_equal(a, b, dtype):
        return
    try:
        weights = from_canonical(a, framework)
    except ValueError:
        return
    fw = frameworks.get(framework)
    spec = _spec_for(a, framework)
    for role, words in (("recurrent", "recurrent"), ("input", "input")):
        keys = [fw.weights_key(spec, t) for k in range(spec.layers) for d in ("forward", "backward")[: spec.directions]
                for t in fw.layer_tensors(spec, k, d) if t.role == role]
        changed = dict(weights)
        for key in keys:
            m = weights[key]
            changed[key] = m.T.reshape(m.shape)
        if all(np.array_equal(changed[key], weights[key]) for key in keys):
            continue
        t = to_float64(fw.to_canonical(changed, spec))
        title = fw.TITLE
        yield (f"{words} weights reshaped instead of transposed: B's {title} {words} tensors are A's, "
               f"transposed and then reshaped back to the {title} shape (m.T.reshape(m.shape))"), t


def _spec_for(c: Canonical, framework: str):
    """The spec :func:`lstmcalc.converting.from_canonical` builds for ``c`` in ``framework``."""
    from .frameworks import make_spec

    fw = frameworks.get(framework)
    options = {}
    if c.cell == "gru":
        options["reset_after"] = c.reset_after or "reset_before" not in fw.OPTIONS
    if c.cell == "rnn":
        options["activation"] = c.activation
    if c.proj_size and "proj_size" in fw.OPTIONS:
        options["proj_size"] = c.proj_size
    if c.bidirectional and c.merge_mode != "concat" and "merge_mode" in fw.OPTIONS:
        options["merge_mode"] = c.merge_mode
    return make_spec(c.units, c.input_size, cell=c.cell, framework=framework, bias=c.bias,
                     bidirectional=c.bidirectional, layers=len(c.layers), **options)


def _zeros_like(d):
    return {g: np.zeros_like(v) for g, v in d.items()}


def _biases(a: Canonical, b: Canonical):
    if not a.bias:
        return
    gates = CELL_GATES[a.cell]
    has_u = any(p.b_u is not None and any(np.any(v) for v in p.b_u.values()) for _, _, p in a.directions())
    t = _copy(a)
    for _, _, part in t.directions():
        part.b_w, part.b_u = _zeros_like(part.b_w), None
    yield "bias dropped: B's biases are all zero (or B has none) where A's are not", t
    if has_u:
        t = _copy(a)
        for _, _, part in t.directions():
            part.b_u = None
        yield "recurrent bias dropped: B keeps only A's input-side bias (PyTorch bias_ih; bias_hh lost)", t
        t = _copy(a)
        for _, _, part in t.directions():
            part.b_w = _zeros_like(part.b_w)
        yield "input bias dropped: B keeps only A's recurrent-side bias (PyTorch bias_hh; bias_ih lost)", t
    t = _copy(a)
    h = a.units
    for _, _, part in t.directions():
        total = {g: _bias(part, g, "sum", h) for g in gates}
        part.b_w, part.b_u = total, {g: v.copy() for g, v in total.items()}
    yield "bias counted twice: A's bias (b_ih + b_hh) was put into both B's bias_ih and bias_hh", t
    if a.cell == "gru" and a.reset_after:
        t = _copy(a)
        for _, _, part in t.directions():
            part.b_w = dict(part.b_w)
            part.b_w["n"] = _bias(part, "n", "sum", h)
            part.b_u = {g: (np.zeros(h) if g == "n" else _bias(part, g, "u", h)) for g in gates}
        yield ("GRU candidate biases summed: B adds A's b_hn to b_in, but b_hn belongs inside "
               "r ⊙ (W_hn h + b_hn) and cannot be moved"), t
        t = _copy(a)
        for _, _, part in t.directions():
            part.b_u = {g: (np.zeros(h) if g == "n" else _bias(part, g, "u", h)) for g in gates}
        yield "GRU b_hn dropped: B's recurrent candidate bias is zero where A's is not", t


def _directions(a: Canonical, b: Canonical):
    if not a.bidirectional:
        return
    t = _copy(a)
    t.layers = [row[::-1] for row in t.layers]
    yield "directions swapped: B's forward weights are A's backward ones and the other way round, in every layer", t
    if len(a.layers) > 1:
        for k in range(len(a.layers)):
            t = _copy(a)
            t.layers[k] = t.layers[k][::-1]
            yield f"directions swapped in layer {k}: B's layer {k} forward weights are A's backward ones", t


def _layer_orders(a: Canonical, b: Canonical):
    n = len(a.layers)
    if n < 2:
        return
    orders = itertools.permutations(range(n))
    if n > 5:
        orders = (tuple((k + s) % n for k in range(n)) for s in range(n))
    shapes = [tuple(np.shape(row[0].w[CELL_GATES[a.cell][0]])) for row in a.layers]
    for order in orders:
        if order == tuple(range(n)) or any(shapes[j] != shapes[k] for k, j in enumerate(order)):
            continue  # a layer cannot hold another of a different shape
        t = _copy(a)
        t.layers = [t.layers[j] for j in order]
        moved = ", ".join(f"layer {k} holds A's layer {j}" for k, j in enumerate(order) if k != j)
        yield f"layers shifted: in B, {moved}", t


def _forget_offset(a: Canonical, b: Canonical):
    """B's forget bias = A's + a constant per layer and direction (everything else equal)."""
    if a.cell != "lstm" or structure_differences(a, b):
        return
    h = a.units
    offsets = []
    t = _copy(a)
    for (_, _, pa), (_, _, pb), (_, _, pt) in zip(a.directions(), b.directions(), t.directions()):
        d = _bias(pb, "f", "sum", h) - _bias(pa, "f", "sum", h)
        c = float(np.mean(d))
        offsets.append(c)
        if pt.b_w is None:
            pt.b_w = {g: np.zeros(h) for g in CELL_GATES["lstm"]}
        pt.b_w = dict(pt.b_w)
        pt.b_w["f"] = pt.b_w["f"] + c
    if not any(offsets):
        return
    if len(set(offsets)) == 1:
        yield f"forget-gate bias off by a constant: B's is A's {offsets[0]:+g} (every unit)", t
    else:
        where = ", ".join(f"{c:+g}" for c in offsets)
        yield f"forget-gate bias off by a constant per layer and direction: B's is A's {where}", t


def _reset_form(a: Canonical, b: Canonical):
    if a.cell != "gru" or b.cell != "gru" or a.reset_after == b.reset_after:
        return
    t = _copy(a)
    t.reset_after = b.reset_after
    h = a.units
    if not b.reset_after:
        for _, _, part in t.directions():
            if part.b_w is not None:
                part.b_w, part.b_u = {g: _bias(part, g, "sum", h) for g in CELL_GATES["gru"]}, None
    before, after = ("A", "B") if not a.reset_after else ("B", "A")
    yield (f"GRU reset form: {after} applies the reset gate after the recurrent product, r ⊙ (U_n h + b_hn) "
           f"(reset_after=True, PyTorch's form), {before} before it, U_n (r ⊙ h) (Keras reset_after=False); "
           "the weights are the same, the outputs are not"), t


def _generators(b_framework: str | None = None, dtype=np.float64):
    return {
        "gate_permutation": _gate_permutations,
        "transpose": _transposes,
        "reshape_for_transpose": lambda a, b: _reshaped(a, b, b_framework, dtype),
        "bias": _biases,
        "directions_swapped": _directions,
        "layers_shifted": _layer_orders,
        "forget_bias_offset": _forget_offset,
        "gru_reset_form": _reset_form,
    }


MISTAKES = tuple(_generators())  # the kinds of mistake, in the order they are tried


def find_mistakes(a: Canonical, b: Canonical, dtype, b_framework: str) -> list[tuple[str, str, Canonical]]:
    """(kind, description, A with the mistake) for every mistake after which A is equivalent to B."""
    found = []
    for kind, make in _generators(b_framework, dtype).items():
        for words, t in make(a, b):
            if equivalent(t, b, dtype):
                found.append((kind, words, t))
    return found


# --- running -------------------------------------------------------------------------------------


def run_canonical(c: Canonical, x: np.ndarray) -> np.ndarray:
    """The output sequence (B, T, ·) of ``c`` on ``x`` (B, T, X), float64: the canonical
    weights run as they are (:class:`lstmcalc.cells.Layer`), never turned back into a
    framework's tensors and inferred again; the spec is the one the first registered convention
    that can hold the layer gives it (Keras 3; with a projection, PyTorch), returning every step."""
    from dataclasses import replace

    from .cells import Layer

    needs = {"proj_size"} if c.proj_size else set()  # options beyond the common ones the layer has
    framework = next(name for name in frameworks.FRAMEWORKS if needs <= frameworks.get(name).OPTIONS)
    spec = _spec_for(c, framework)
    if "return_sequences" in frameworks.get(framework).OPTIONS:
        spec = replace(spec, return_sequences=True)  # every step, not the last one
    return Layer(spec, c, "numpy")(np.asarray(x, dtype=np.float64)).output


def output_difference(a: Canonical, b: Canonical, x: np.ndarray) -> float | None:
    """max |output_a − output_b| on ``x``, or None when the outputs' shapes differ."""
    ya, yb = run_canonical(a, x), run_canonical(b, x)
    if ya.shape != yb.shape:
        return None
    return float(np.abs(ya - yb).max())


def compare(a_found, b_found, seed: int = 0) -> Comparison:
    """Compare two :class:`~lstmcalc.readers.FoundLayer` as functions; see the module docstring."""
    a, b = canonical_of(a_found), canonical_of(b_found)
    dtypes = [np.asarray(v).dtype for f in (a_found, b_found) for v in f.weights.values()]
    dtype = coarser_dtype(*dtypes)  # the dtype whose ulps measure "equal"
    structure = structure_differences(a, b)
    tensors = [] if structure else tensor_differences(a, b, dtype)
    same = not structure and all(t.equal for t in tensors)
    mistakes = []
    x = None
    if a.input_size == b.input_size:
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((INPUT_BATCH, INPUT_TIME, a.input_size))  # (B, T, X) float64
    if not same:
        for kind, words, t in find_mistakes(a, b, dtype, b_found.spec.framework):
            mistakes.append(Mistake(kind, words, output_difference(t, b, x) if x is not None else None))
    out_diff = output_difference(a, b, x) if x is not None else None
    tensors.sort(key=lambda t: -t.max_abs_difference)
    return Comparison(
        a=Side("A", a_found.name, a_found.file, a_found.spec),
        b=Side("B", b_found.name, b_found.file, b_found.spec),
        equivalent=same,
        structure=tuple(structure),
        tensors=tuple(tensors),
        explained_by=tuple(mistakes),
        max_output_difference=out_diff,
        input_shape=None if x is None else tuple(x.shape),
        seed=seed,
        dtype=dtype.name,
    )


def diff_files(path_a, path_b, layer: str | None = None, layer_b: str | None = None, seed: int = 0) -> Comparison:
    """:func:`compare` the layer ``layer`` picks in each file (``layer_b`` for B when given)."""
    from .readers import read_layer

    a = read_layer(path_a, layer)
    b = read_layer(path_b, layer_b if layer_b is not None else layer)
    return compare(a, b, seed=seed)

