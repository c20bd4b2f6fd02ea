"""A layer's weights prepared for the recurrent loops of both backends (NumPy).

From the canonical form (:mod:`lstmcalc.canonical`), once per call: the gate blocks
transposed to (X_k, G·H) and (H_out, G·H) in an internal order with every sigmoid gate
first, LSTM ``[i, f, o | g]`` and GRU ``[z, r | n]``, so that one ``tanh`` call covers all
gates; the sigmoid gates' columns scaled by ½ (exact in binary floating point), since
σ(a) = ½·tanh(½·a) + ½; b = b_w + b_u, except the reset-after GRU candidate's b_u.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .canonical import Canonical, bias_sum
from .spec import LayerSpec, SpecError

# Internal gate order: the sigmoid gates first, then the tanh block (see the module docstring).
INTERNAL_ORDER = {"lstm": ("i", "f", "o", "g"), "gru": ("z", "r", "n"), "rnn": ("h",)}
SIGMOID_GATES = {"lstm": 3, "gru": 2, "rnn": 0}


@dataclass(frozen=True, eq=False)
class Prepared:
    """One layer and direction's weights, in x's dtype and the internal gate order.

    ``wx`` (X_k, G·H), ``wh`` (H_out, G·H), ``bx`` (G·H,) the bias added to the input
    projection (PyTorch: b_ih + b_hh, except the GRU candidate's b_hn), ``bhn`` (H,) the GRU
    reset-after recurrent candidate bias (zeros otherwise), ``whr`` (H, P) the transposed
    PyTorch projection ((0, 0) without one). Sigmoid-gate columns are pre-scaled by ½.
    """

    wx: np.ndarray
    wh: np.ndarray
    bx: np.ndarray
    bhn: np.ndarray
    whr: np.ndarray
    has_bhn: bool = field(default=False)
    peep: np.ndarray | None = None  # (3, H): ONNX peepholes of i, f, o, halved like their gates
    variant: object = None  # variants.VariantWeights: an LSTM variant or int8 weights (its own loop, on x)
    gate_function: str = "sigmoid"  # spec.RECURRENT_ACTIVATIONS: the σ of i, f, o / z, r (loops.gate_sigmoid)



def fill_blocks(dst: np.ndarray, blocks: dict, order, n_sig: int, h: int) -> np.ndarray:
    """dst (rows, G·H) ← the transposed gate blocks (H, rows) in ``order``, sigmoid gates
    halved (exact), in one pass per block (no temporaries: a fresh large temporary costs page
    faults every call)."""
    for q, g in enumerate(order):
        src = np.asarray(blocks[g])
        np.multiply(src.T if src.ndim == 2 else src, 0.5 if q < n_sig else 1.0,
                    out=dst[..., q * h : (q + 1) * h], casting="unsafe")
    return dst


def prepare_canonical(c: Canonical, spec: LayerSpec, dtype) -> list[list[Prepared]]:
    """``[layer][direction]`` :class:`Prepared` weights from the canonical form: W_q, U_q
    transposed into (X_k, G·H), (H_out, G·H) in the internal order; b = b_w + b_u, except
    the reset-after GRU candidate, whose b_u stays apart (``bhn``)."""
    dtype = np.dtype(dtype)
    from . import variants

    if variants.needs_variants(c):  # CIFG, layer norm, clips, int8 weights, ...: variants.run, on x itself
        empty = np.zeros((0, 0), dtype=dtype)
        return [[Prepared(wx=empty, wh=empty, bx=empty, bhn=empty, whr=empty, variant=variants.prepare(part, c, dtype))
                 for part in row] for row in c.layers]
    if c.clip is not None:
        raise SpecError("clip", f"the forward pass does not model the ONNX cell clip (±{c.clip}); "
                                "run the model in onnxruntime")
    order = INTERNAL_ORDER[spec.cell]
    n_sig = SIGMOID_GATES[spec.cell]
    h, gh = spec.units, spec.gates * spec.units
    reset_after = spec.cell == "gru" and spec.reset_after
    out = []
    for layer, row_parts in enumerate(c.layers):
        row = []
        for part in row_parts:
            x_k = spec.layer_input_size(layer)
            wx = fill_blocks(np.empty((x_k, gh), dtype=dtype), part.w, order, n_sig, h)  # (X_k, G·H)
            wh = fill_blocks(np.empty((spec.hidden_out, gh), dtype=dtype), part.u, order, n_sig, h)  # (H_out, G·H)
            bx = np.zeros(gh, dtype=dtype)  # (G·H,)
            bhn = np.zeros(h, dtype=dtype)  # (H,)
            has_bhn = False
            if part.b_w is not None:
                summed = {}
                for g in order:
                    if reset_after and g == "n" and part.b_u is not None:
                        summed[g] = part.b_w[g]  # b_hn stays inside r ⊙ (U_n h + b_hn)
                        bhn[:] = part.b_u[g]
                        has_bhn = True
                    else:
                        summed[g] = bias_sum(part, g)  # b_ih + b_hh
                fill_blocks(bx, summed, order, n_sig, h)
            if part.proj is not None:
                whr = np.ascontiguousarray(np.asarray(part.proj).T, dtype=dtype)  # (H, P)
            else:
                whr = np.zeros((0, 0), dtype=dtype)
            peep = None
            if part.peep is not None:  # σ(a + p ⊙ c) = ½ tanh(a/2 + (p/2) ⊙ c) + ½: halved like a
                peep = np.stack([np.asarray(part.peep[q], dtype=dtype) for q in ("i", "f", "o")]) * dtype.type(0.5)
            row.append(Prepared(wx=wx, wh=wh, bx=bx, bhn=bhn, whr=whr, has_bhn=has_bhn, peep=peep,
                                gate_function=spec.recurrent_activation))
        out.append(row)
    return out


def input_projections(p: Prepared, seq: np.ndarray) -> np.ndarray:
    """xp (B, T, G·H) = seq (B, T, X_k) W_x + b: every step's input projections, in one
    product on NumPy's BLAS."""
    b, t_len, x_k = seq.shape
    gh = p.wx.shape[1]
    xp = np.empty((b, t_len, gh), dtype=seq.dtype)  # (B, T, G·H)
    np.matmul(seq.reshape(b * t_len, x_k), p.wx, out=xp.reshape(b * t_len, gh))  # (B·T, X) @ (X, G·H)
    xp += p.bx
    return xp


def time_steps(t_len: int, reverse: bool) -> range:
    """The time indices in the order a direction visits them: the backward one from T − 1."""
    return range(t_len - 1, -1, -1) if reverse else range(t_len)
