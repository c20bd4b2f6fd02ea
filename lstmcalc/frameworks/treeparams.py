"""The family of conventions whose weights are a parameter tree of Dense-style kernels (Flax
linen and nnx): each tensor is a kernel (X, n·H) or (H, n·H) applied as ``x @ kernel``, or a
bias (n·H,), holding n gates' blocks along its last axis. One layer, one direction (a cell),
run over time by ``RNN(cell, return_carry=True)``. A member module describes its tree per cell
as a table of :class:`Leaf` (``TREE``) and, with its ``TITLE``, ``NAMES_HINT`` and
``WHY_NO_BHN``, gets every shared hook from :class:`FlaxTree`: layer_tensors, inference, the
canonical conversions, what the layer returns and Flax's initial weights. It keeps what
differs (its constructor line, its bias sentence) and ends with
``CONVENTION = treeparams.FlaxTree(__name__)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..canonical import Canonical, Direction, GateSlice, Output, TensorLayout
from ..spec import LayerSpec, SpecError
from . import fused
from .base import Convention


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


class FlaxTree(Convention):
    """The Flax cells' shared hooks (see the module docstring for the data they read)."""

    WHY_NO_BHN: str | None = None  # why a GRU's nonzero b_hn has no slot, where the tree lacks one
    WRITES = (".npz", ".msgpack")  # flax.serialization.msgpack_serialize of the cell's tree, too
    unknown_options = staticmethod(fused.unknown_options)

    def layer_tensors(self, spec: LayerSpec, layer: int, direction: str) -> list[TensorLayout]:
        """The tree's leaves of ``spec.cell`` in the module's ``TREE`` order."""
        h, x = spec.units, spec.layer_input_size(layer)
        leaves = self.TREE[spec.cell]
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

    def gate_biases(self, spec: LayerSpec, gate: str) -> int:
        return sum(1 for leaf in self.TREE[spec.cell] if leaf.kind == "bias" and gate in leaf.gates)

    def _biases(self, spec: LayerSpec) -> int:
        """Bias vectors over all gates (for the formula)."""
        return sum(len(leaf.gates) for leaf in self.TREE[spec.cell] if leaf.kind == "bias")

    def formula(self, spec: LayerSpec, layer: int) -> tuple[str, str]:
        g, h, x = spec.gates, spec.units, spec.layer_input_size(layer)
        nb = self._biases(spec)
        head_sym = f"{g}H × (X + H)" if g > 1 else "H × (X + H)"
        head_num = f"{g} × {h} × ({x} + {h})" if g > 1 else f"{h} × ({x} + {h})"
        return f"{head_sym} + {nb if nb > 1 else ''}H", f"{head_num} + {nb} × {h}"

    def recognises(self, key: str) -> bool:
        return any(key == leaf.key for leaves in self.TREE.values() for leaf in leaves)

    def parse_name(self, key: str) -> tuple[int, str, str] | None:
        return (0, "forward", key) if self.recognises(key) else None

    def describe_names(self, names) -> dict:
        from ..errors import FileError

        parsed = {}
        for key in names:
            if not self.recognises(key):
                raise FileError(f"{key!r} is not a {self.TITLE} parameter path ({self.NAMES_HINT})")
            parsed[(0, "forward", key)] = key
        return parsed

    def infer_options(self, weights, parsed: dict, cell: str | None) -> dict:
        """The cell whose every leaf is present (the first in ``tree`` order), its H and X."""
        from ..errors import FileError
        from .shared import as_array, shape_of

        tree, title = self.TREE, self.TITLE
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
            n = len(rec.gates)
            raise FileError(f"{rec.key}: shape {shape_of(r)} is not (H, {n}·H) = ({h}, {n * h})")
        return {"units": int(h), "input_size": int(i.shape[0]), "cell": found, "bias": True,
                "bidirectional": False, "layers": 1, "proj_size": 0}

    def to_canonical(self, weights, spec: LayerSpec) -> Canonical:
        """Each kernel block (X_or_H, H) transposed to (H, X_or_H); biases to their side; a gate
        with a recurrent-side bias somewhere gets b_u, zeros for the others."""
        import numpy as np

        h = spec.units
        part = Direction(w={}, u={}, b_w={}, b_u={})
        for leaf in self.TREE[spec.cell]:
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

    def from_canonical(self, c: Canonical, spec: LayerSpec) -> dict:
        """The tree's tensors: a gate with one bias gets b_w + b_u (exact), a gate with both
        sides gets them apart. The reset-after GRU candidate's b_u has nowhere else to go: a tree
        without a slot for it takes only a zero one (the module's ``WHY_NO_BHN`` says why)."""
        import numpy as np

        title, why_no_bhn = self.TITLE, self.WHY_NO_BHN
        fused.refuse_what_one_cell_lacks(c, title, f"an LSTM with a projection (proj_size={c.proj_size}) has no "
                                                   f"{title} equivalent")
        part = c.first
        leaves = self.TREE[spec.cell]
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

    def weights_key(self, spec: LayerSpec, tensor) -> str:
        return tensor.name

    def biases_per_gate(self, spec: LayerSpec) -> int:
        return 1

    def outputs(self, spec: LayerSpec) -> list[Output]:
        """What ``RNN(cell, return_carry=True)`` (linen's or nnx's) returns: the final carry, then
        every step's output."""
        b, t, h = spec.batch, spec.time, spec.units
        if spec.cell == "lstm":
            out = [Output("c", (b, h), "carry[0]: final cell state (Flax's carry is (c, h))"),
                   Output("h", (b, h), "carry[1]: final hidden state")]
        else:
            out = [Output("h", (b, h), "carry: final hidden state")]
        return out + [Output("outputs", (b, t, h), "h_t at every step")]

    def returned_fields(self, spec: LayerSpec) -> tuple[str, ...]:
        """``RNN(cell, return_carry=True)`` returns (carry, outputs): the carry (c, h) or h first."""
        return ("c", "h", "outputs") if spec.cell == "lstm" else ("h", "outputs")

    def forward_result(self, spec: LayerSpec, output, h_n, c_n) -> dict:
        """The final carry (c, h) or h (B, H), and every step's h as ``outputs`` (B, T, H)."""
        return {**fused.forward_result(spec, output, h_n, c_n), "named": {"outputs": output}}

    def init_weights(self, spec: LayerSpec, rng, dtype) -> dict:
        """Flax's defaults (linen's and nnx's): input kernels lecun_normal (N(0, 1/X) truncated at
        2 sigma), recurrent kernels orthogonal, biases zero. Same distributions, not JAX's stream."""
        import numpy as np

        out = {}
        for t in self.layer_tensors(spec, 0, "forward"):
            if t.role == "input":
                std = 1.0 / np.sqrt(t.shape[0]) / 0.87962566103423978  # truncated-normal correction
                a = np.clip(rng.normal(0, std, size=t.shape), -2 * std, 2 * std)
            elif t.role == "recurrent":  # (H, n·H), n·H >= H: orthonormal rows
                q, r = np.linalg.qr(rng.standard_normal((t.shape[1], t.shape[0])))  # (n·H, H)
                a = (q * np.sign(np.diag(r))).T  # (H, n·H)
            else:
                a = np.zeros(t.shape)
            out[t.name] = np.ascontiguousarray(a, dtype=dtype)
        return out
