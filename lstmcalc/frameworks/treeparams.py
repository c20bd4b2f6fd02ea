"""Shared arithmetic of conventions whose weights are a parameter tree of Dense-style
kernels (Flax linen and nnx): each tensor is a kernel (X, n·H) or (H, n·H) applied as
``x @ kernel``, or a bias (n·H,), holding n gates' blocks along its last axis. A framework
module describes its tree per cell as a table of :class:`Leaf` and gets layer_tensors,
inference and the canonical conversions from here; nothing here names a framework.
One layer, one direction (a cell).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..canonical import Canonical, Direction, GateSlice, TensorLayout
from ..spec import LayerSpec, SpecError


@dataclass(frozen=True)
class Leaf:
    """One tensor of the tree: its ``/``-joined path, what it multiplies, its gates in order
    along the last axis, and (biases) which canonical side it holds: ``b_w`` the input side
    or the only bias of a gate, ``b_u`` the recurrent side."""

    key: str
    kind: str  # "input" (X, n·H) | "recurrent" (H, n·H) | "bias" (n·H,)
    gates: tuple[str, ...]
    side: str = "b_w"


ROLE = {("bias", "b_w"): "bias", ("bias", "b_u"): "bias_recurrent"}


def layer_tensors(tree: dict, spec: LayerSpec, layer: int, direction: str) -> list[TensorLayout]:
    h, x = spec.units, spec.layer_input_size(layer)
    leaves = tree[spec.cell]
    two_sided = {g for leaf in leaves if leaf.kind == "bias" and leaf.side == "b_u" for g in leaf.gates}
    out = []
    for leaf in leaves:
        n = len(leaf.gates)
        if leaf.kind == "bias":
            shape = (n * h,)
            slices = tuple(GateSlice(g, 0, k * h, (k + 1) * h) for k, g in enumerate(leaf.gates))
            role = ROLE[("bias", leaf.side)]
            if leaf.side == "b_w" and set(leaf.gates) <= two_sided:
                role = "bias_input"
        else:
            shape = ((x if leaf.kind == "input" else h), n * h)
            slices = tuple(GateSlice(g, 1, k * h, (k + 1) * h) for k, g in enumerate(leaf.gates))
            role = leaf.kind
        out.append(TensorLayout(leaf.key, layer, direction, shape, role, slices))
    return out


def gate_biases(tree: dict, spec: LayerSpec, gate: str) -> int:
    return sum(1 for leaf in tree[spec.cell] if leaf.kind == "bias" and gate in leaf.gates)


def biases(tree: dict, spec: LayerSpec) -> int:
    """Bias vectors over all gates (for the formula)."""
    return sum(len(leaf.gates) for leaf in tree[spec.cell] if leaf.kind == "bias")


def formula(tree: dict, spec: LayerSpec, layer: int) -> tuple[str, str]:
    g, h, x = spec.gates, spec.units, spec.layer_input_size(layer)
    nb = biases(tree, spec)
    head_sym = f"{g}H × (X + H)" if g > 1 else "H × (X + H)"
    head_num = f"{g} × {h} × ({x} + {h})" if g > 1 else f"{h} × ({x} + {h})"
    return f"{head_sym} + {nb if nb > 1 else ''}H", f"{head_num} + {nb} × {h}"


def recognises(tree: dict, key: str) -> bool:
    return any(key == leaf.key for leaves in tree.values() for leaf in leaves)


def describe_names(tree: dict, title: str, hint: str, names) -> dict:
    from ..errors import FileError

    parsed = {}
    for key in names:
        if not recognises(tree, key):
            raise FileError(f"{key!r} is not a {title} parameter path ({hint})")
        parsed[(0, "forward", key)] = key
    return parsed


def infer_options(tree: dict, weights, parsed: dict, cell: str | None, title: str) -> dict:
    """The cell whose every leaf is present (the first in ``tree`` order), its H and X."""
    from ..errors import FileError
    from .shared import as_array, shape_of

    present = {name for (_, _, name) in parsed}
    fits = [c for c, leaves in tree.items() if {leaf.key for leaf in leaves} <= present]
    if cell is not None:
        fits = [c for c in fits if c == cell]
    if not fits:
        want = cell or "lstm, gru or rnn"
        raise FileError(f"the paths {', '.join(sorted(present))} are not a whole {title} {want} parameter tree")

    def blocks_fit(c):  # nnx GRUCell and SimpleCell share their paths: the recurrent kernel's width decides
        leaf = next(leaf for leaf in tree[c] if leaf.kind == "recurrent")
        shape = tuple(getattr(weights[leaf.key], "shape", ()))
        return len(shape) == 2 and shape[1] == len(leaf.gates) * shape[0]

    found = next((c for c in fits if blocks_fit(c)), fits[0])
    rec = next(leaf for leaf in tree[found] if leaf.kind == "recurrent")
    inp = next(leaf for leaf in tree[found] if leaf.kind == "input")
    r = as_array(rec.key, weights[rec.key])
    i = as_array(inp.key, weights[inp.key])
    if r.ndim != 2 or i.ndim != 2 or r.shape[0] == 0:
        raise FileError(f"{rec.key}: shape {shape_of(r)} is not (H, {len(rec.gates)}·H)")
    h = r.shape[0]
    if r.shape[1] != len(rec.gates) * h:
        raise FileError(f"{rec.key}: shape {shape_of(r)} is not (H, {len(rec.gates)}·H) = ({h}, {len(rec.gates) * h})")
    return {"units": int(h), "input_size": int(i.shape[0]), "cell": found, "bias": True,
            "bidirectional": False, "layers": 1, "proj_size": 0}


def to_canonical(tree: dict, weights, spec: LayerSpec) -> Canonical:
    """Each kernel block (X_or_H, H) transposed to (H, X_or_H); biases to their side; a gate
    with a recurrent-side bias somewhere gets b_u, zeros for the others."""
    import numpy as np

    h = spec.units
    part = Direction(w={}, u={}, b_w={}, b_u={})
    for leaf in tree[spec.cell]:
        a = np.asarray(weights[leaf.key])
        for k, g in enumerate(leaf.gates):
            block = a[..., k * h : (k + 1) * h]
            if leaf.kind == "input":
                part.w[g] = block.T  # (H, X)
            elif leaf.kind == "recurrent":
                part.u[g] = block.T  # (H, H)
            else:
                getattr(part, leaf.side)[g] = block
    order = tuple(part.w)
    if part.b_u:
        zero = np.zeros_like(next(iter(part.b_u.values())))
        part.b_u = {g: part.b_u.get(g, zero) for g in order}
        part.b_w = {g: part.b_w.get(g, zero) for g in order}
    else:
        part.b_u = None
    return Canonical(spec.cell, [[part]], reset_after=True, activation=spec.activation)


def from_canonical(tree: dict, title: str, c: Canonical, spec: LayerSpec, why_no_bhn: str | None = None) -> dict:
    """The tree's tensors: a gate with one bias gets b_w + b_u (exact), a gate with both
    sides gets them apart. The reset-after GRU candidate's b_u has nowhere else to go: a tree
    without a slot for it takes only a zero one (``why_no_bhn`` says why)."""
    import numpy as np

    if c.cell == "gru" and not c.reset_after:
        raise SpecError("reset_after", f"a reset-before GRU (Keras reset_after=False) has no {title} equivalent: "
                        f"{title} applies the reset gate after the recurrent product, r ⊙ (W_hn h + b_hn)")
    if c.proj_size:
        raise SpecError("proj_size", f"an LSTM with a projection (proj_size={c.proj_size}) has no {title} equivalent")
    if c.peepholes:
        raise SpecError("peepholes", f"{title}'s LSTM has no peephole connections: the weights' P would be dropped")
    if c.clip is not None:
        raise SpecError("clip", f"{title} has no cell clip; this layer clips every pre-activation to ±{c.clip}")
    part = c.first
    leaves = tree[spec.cell]
    two_sided = {g for leaf in leaves if leaf.kind == "bias" and leaf.side == "b_u" for g in leaf.gates}
    ref = np.asarray(next(iter(part.w.values())))
    h = spec.units

    def zeros():
        return np.zeros(h, dtype=ref.dtype)

    b_w = part.b_w or {}
    b_u = part.b_u or {}
    if c.cell == "gru" and "n" not in two_sided and "n" in b_u and np.any(np.asarray(b_u["n"]) != 0):
        raise SpecError("bias", why_no_bhn or f"{title}'s GRU has no recurrent candidate bias (b_hn)")
    out = {}
    for leaf in leaves:
        if leaf.kind == "input":
            a = np.concatenate([np.asarray(part.w[g]).T for g in leaf.gates], axis=1)
        elif leaf.kind == "recurrent":
            a = np.concatenate([np.asarray(part.u[g]).T for g in leaf.gates], axis=1)
        elif leaf.side == "b_u":
            a = np.concatenate([np.asarray(b_u.get(g, zeros())) for g in leaf.gates])
        else:
            blocks = []
            for g in leaf.gates:
                bw = np.asarray(b_w.get(g, zeros()))
                if g not in two_sided and not (c.cell == "gru" and g == "n") and g in b_u:
                    bw = np.add(bw, b_u[g], dtype=np.result_type(bw, b_u[g]))  # exact: both reach the same sum
                blocks.append(bw)
            a = np.concatenate(blocks)
        out[leaf.key] = np.ascontiguousarray(a)
    return out
