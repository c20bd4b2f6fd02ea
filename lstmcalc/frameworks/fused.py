"""The family of one-cell, fused-tensor conventions (MLX, Equinox): an input matrix
(G·H, X), a recurrent matrix (G·H, H), gate blocks along the first axis, one bias (G·H,)
added once, and for the GRU a separate candidate recurrent bias (H,) inside
r ⊙ (W_hn h + b_hn). One layer, one direction. :class:`Fused` holds every hook its members
share, read from each member module's data: ``NAMES`` ({cell: {"input", "recurrent", "bias",
"bias_n"}: its tensor names}), ``GATE_ORDER``, ``TITLE``, ``A_TITLE`` (the title with its
article, in messages) and ``NAMES_HINT``; nothing here names a framework. A member module
keeps what differs (what the layer returns, its constructor line, its bias sentence) and ends
with ``CONVENTION = fused.Fused(__name__)``.
"""

from __future__ import annotations

from ..canonical import Canonical, Direction, GateSlice, Output, TensorLayout
from ..spec import LayerSpec, SpecError
from .base import Convention


def forward_result(spec: LayerSpec, output, h_n, c_n, cells=None) -> dict:
    """Every step's h (B, T, H), the final h (B, H) and, for the LSTM, the final c (B, H);
    ``named``: every step's h as ``hidden`` and c as ``cell`` (``cells`` (B, T, H)), under
    MLX's names (what ``mlx.nn.LSTM.__call__`` returns)."""
    named = {"hidden": output}
    if cells is not None:
        named["cell"] = cells
    return {"output": output, "h": h_n[0].copy(), "c": None if c_n is None else c_n[0].copy(),
            "h_backward": None, "c_backward": None, "named": named}


def unknown_options(spec: LayerSpec) -> dict[str, tuple]:
    """What names and shapes cannot show: a simple RNN cell's nonlinearity."""
    return {"activation": ("tanh", "relu")} if spec.cell == "rnn" else {}


class Fused(Convention):
    """MLX's and Equinox's shared hooks (see the module docstring for the data they read)."""

    forward_result = staticmethod(forward_result)
    unknown_options = staticmethod(unknown_options)

    def _slices(self, cell: str, h: int) -> tuple[GateSlice, ...]:
        return tuple(GateSlice(g, 0, k * h, (k + 1) * h) for k, g in enumerate(self.GATE_ORDER[cell]))

    def layer_tensors(self, spec: LayerSpec, layer: int, direction: str) -> list[TensorLayout]:
        """input (G·H, X), recurrent (G·H, H), bias (G·H,) and the GRU's (H,) candidate bias."""
        g, h, x = spec.gates, spec.units, spec.layer_input_size(layer)
        n = self.NAMES[spec.cell]
        s = self._slices(spec.cell, h)
        out = [
            TensorLayout(n["input"], layer, direction, (g * h, x), "input", s),
            TensorLayout(n["recurrent"], layer, direction, (g * h, h), "recurrent", s),
        ]
        if spec.bias:
            out.append(TensorLayout(n["bias"], layer, direction, (g * h,), "bias", s))
            if spec.cell == "gru":
                out.append(TensorLayout(n["bias_n"], layer, direction, (h,), "bias_recurrent",
                                        (GateSlice("n", 0, 0, h),)))
        return out

    def weights_key(self, spec: LayerSpec, tensor) -> str:
        return tensor.name

    def biases_per_gate(self, spec: LayerSpec) -> int:
        return 1 if spec.bias else 0

    def gate_biases(self, spec: LayerSpec, gate: str) -> int:
        """One bias per gate; the GRU candidate has two (b_n and b_hn)."""
        if not spec.bias:
            return 0
        return 2 if spec.cell == "gru" and gate == "n" else 1

    def formula(self, spec: LayerSpec, layer: int) -> tuple[str, str]:
        g, h, x = spec.gates, spec.units, spec.layer_input_size(layer)
        head_sym = f"{g}H × (X + H)" if g > 1 else "H × (X + H)"
        head_num = f"{g} × {h} × ({x} + {h})" if g > 1 else f"{h} × ({x} + {h})"
        if not spec.bias:
            return head_sym, head_num
        nb = g + (1 if spec.cell == "gru" else 0)
        return f"{head_sym} + {nb if nb > 1 else ''}H", f"{head_num} + {nb} × {h}"

    def parse_name(self, key: str) -> tuple[int, str, str] | None:
        known = {v for n in self.NAMES.values() for v in n.values() if v}
        return (0, "forward", key) if key in known else None

    def recognises(self, key: str) -> bool:
        return self.parse_name(key) is not None

    def describe_names(self, keys) -> dict:
        from .shared import parsed_names

        return parsed_names(keys, self.parse_name, f"{self.A_TITLE} weights key ({self.NAMES_HINT})")

    def infer_options(self, weights, parsed: dict, cell: str | None) -> dict:
        """units, input_size, cell, bias from the names and shapes (one layer, one direction)."""
        from ..errors import FileError
        from .shared import as_array, cell_from_blocks, shape_of

        names, title = self.NAMES, self.TITLE
        present = {name for (_, _, name) in parsed}
        by_names = [c for c, n in names.items() if n["recurrent"] in present and n["input"] in present]
        if not by_names:
            raise FileError(f"no {title} input and recurrent matrix among {', '.join(sorted(present))}")
        n = names[by_names[0]]
        rk = as_array(n["recurrent"], weights[n["recurrent"]])
        wx = as_array(n["input"], weights[n["input"]])
        if rk.ndim != 2 or wx.ndim != 2 or min(rk.shape) == 0:
            raise FileError(f"{n['recurrent']}: shape {shape_of(rk)} is not (G·H, H)")
        rows, h = rk.shape
        if rows % h:
            if h % rows == 0 and h // rows in (3, 4):
                raise FileError(
                    f"{n['recurrent']}: shape {shape_of(rk)} is (H, G·H), the transpose of {title}'s (G·H, H); "
                    f"transpose {n['input']} and {n['recurrent']} (an older layout?) and read the file again"
                )
            raise FileError(f"{n['recurrent']}: shape {shape_of(rk)} is not (G·H, H)")
        if rows == h and wx.shape[0] != h and wx.shape[1] == h:
            raise FileError(
                f"{n['input']}: shape {shape_of(wx)} is (X, H), the transpose of {title}'s (H, X); "
                "transpose it (an older layout?) and read the file again"
            )
        found = cell_from_blocks(n["recurrent"], shape_of(rk), rows // h, h, cell)
        names_cell = [c for c in by_names if c == found]
        if not names_cell:
            raise FileError(f"{n['recurrent']}: {rows // h} gate blocks ({found}), but the names are those of "
                            f"{title} {by_names[0]}")
        if found not in names:
            raise FileError(f"{title} has no {found} layer")
        return {"units": int(h), "input_size": int(wx.shape[1]), "cell": found,
                "bias": names[found]["bias"] in present, "bidirectional": False, "layers": 1, "proj_size": 0}

    def to_canonical(self, weights, spec: LayerSpec) -> Canonical:
        """Row blocks as they are; the bias to b_w; the GRU's candidate bias to b_u[n]."""
        import numpy as np

        n = self.NAMES[spec.cell]
        order = self.GATE_ORDER[spec.cell]
        h = spec.units

        def blocks(key):
            a = np.asarray(weights[key])
            return {g: a[k * h : (k + 1) * h] for k, g in enumerate(order)}

        part = Direction(w=blocks(n["input"]), u=blocks(n["recurrent"]))
        if spec.bias:
            part.b_w = blocks(n["bias"])
            if spec.cell == "gru":
                bias_n = np.asarray(weights[n["bias_n"]])
                part.b_u = {g: (bias_n if g == "n" else np.zeros_like(bias_n)) for g in order}
        return Canonical(spec.cell, [[part]], reset_after=True, activation=spec.activation)

    def from_canonical(self, c: Canonical, spec: LayerSpec) -> dict:
        """Tensors for ``spec``: b = b_w + b_u for every gate but the GRU candidate, whose b_u
        is the separate candidate bias."""
        import numpy as np

        refuse_what_one_cell_lacks(c, self.TITLE, f"an LSTM with a projection (weight_hr, proj_size={c.proj_size}) "
                                   f"has no {self.TITLE} equivalent: its h_t is the H-wide o ⊙ tanh(c_t)")
        n = self.NAMES[spec.cell]
        order = self.GATE_ORDER[spec.cell]
        part = c.first
        out = {
            n["input"]: np.ascontiguousarray(np.concatenate([np.asarray(part.w[g]) for g in order])),
            n["recurrent"]: np.ascontiguousarray(np.concatenate([np.asarray(part.u[g]) for g in order])),
        }
        if spec.bias:
            def summed(g):
                bw = np.asarray(part.b_w[g])
                if part.b_u is None or (spec.cell == "gru" and g == "n"):
                    return bw
                return np.add(bw, part.b_u[g], dtype=np.result_type(bw, part.b_u[g]))

            out[n["bias"]] = np.ascontiguousarray(np.concatenate([summed(g) for g in order]))
            if spec.cell == "gru":
                bw = np.asarray(part.b_w["n"])
                out[n["bias_n"]] = np.ascontiguousarray(part.b_u["n"] if part.b_u is not None else np.zeros_like(bw))
        return out

    def init_weights(self, spec: LayerSpec, rng, dtype) -> dict:
        """Every tensor U(−1/√H, 1/√H), as both MLX and Equinox initialise them (the same
        distribution, not the framework's random stream)."""
        import numpy as np

        bound = 1.0 / np.sqrt(spec.units)
        return {t.name: np.ascontiguousarray(rng.uniform(-bound, bound, size=t.shape), dtype=dtype)
                for t in self.layer_tensors(spec, 0, "forward")}


def refuse_what_one_cell_lacks(c: Canonical, title: str, projection: str) -> None:
    """:class:`SpecError` for what a reset-after cell without projection, peepholes or clip
    (Fused, FlaxTree) cannot hold; ``projection``: the sentence for a projected LSTM."""
    if c.cell == "gru" and not c.reset_after:
        raise SpecError("reset_after", f"a reset-before GRU (Keras reset_after=False) has no {title} equivalent: "
                        f"{title} applies the reset gate after the recurrent product, r ⊙ (W_hn h + b_hn)")
    if c.proj_size:
        raise SpecError("proj_size", projection)
    if c.peepholes:
        raise SpecError("peepholes", f"{title}'s LSTM has no peephole connections: the weights' P would be dropped")
    if c.clip is not None:
        raise SpecError("clip", f"{title} has no cell clip; this layer clips every pre-activation to ±{c.clip}")


def single_layer_only(title: str) -> dict:
    """WHY_NOT entries of a one-cell convention."""
    return {
        "bidirectional": f"{title} has no bidirectional wrapper for this cell; run two cells (one on the reversed "
                         "sequence) yourself",
        "layers": f"{title}'s cell is one layer; stack cells yourself (each its own weights)",
        "merge_mode": "is a Keras Bidirectional option",
        "reset_before": f"{title}'s GRU is the reset-after form (r ⊙ (W_hn h + b_hn))",
        "return_sequences": "is a Keras option",
        "return_state": "is a Keras option",
        "peepholes": f"{title}'s LSTM has no peephole connections",
        "layout": "is an ONNX attribute",
        "proj_size": f"{title}'s LSTM has no projection (proj_size is PyTorch's weight_hr)",
    }


def outputs_of(spec: LayerSpec, states: list[tuple[str, str]], sequence: bool) -> list[Output]:
    b, t, h = spec.batch, spec.time, spec.units
    shape = (b, t, h) if sequence else (b, h)
    return [Output(name, shape, meaning) for name, meaning in states]
