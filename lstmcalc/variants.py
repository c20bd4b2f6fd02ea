"""The LSTM with the variants some conventions have (spec.VARIANTS): a coupled input and
forget gate (CIFG), layer normalisation, diagonal recurrent weights, a projection with a bias,
clips of the cell state and of the projection, peepholes; and weights stored as int8 with
one scale per tensor, run as a hybrid kernel does (NumPy).

The arithmetic, one step (x_t (B, X), h_prev (B, H_out), c_prev (B, H)), as the fused
kernel of TensorFlow Lite computes it (tensorflow/lite/kernels/lstm_eval.cc, float and
hybrid paths; Sak et al. 2014 for the projection, Ba et al. 2016 for layer normalisation)::

    a_q = W_q x_t + U_q h_prev (diagonal: u_q ⊙ h_prev) + [i, f] p_q ⊙ c_prev
    a_q = norm(a_q) ⊙ l_q + b_q with layer norm (norm over H: (a − mean) / sqrt(var), var
          replaced by 1e-8 when 0), else a_q + b_q
    f = σ(a_f); i = 1 − f with CIFG, else σ(a_i); g = tanh(a_g)
    c_t = f ⊙ c_prev + i ⊙ g, clipped to ±cell_clip when > 0
    o = σ(a_o + p_o ⊙ c_t, normalised as above)
    h_t = o ⊙ tanh(c_t), then W_proj h_t + b_proj clipped to ±proj_clip when > 0

Hybrid storage (int8 weights w = s_w·q_w): every product W v is computed as the kernel does:
v quantized per batch row, symmetric q_v = round(v·127/max|v|) (scale max|v|/127) or,
with asymmetric inputs, with a zero point z over [min(v, 0), max(v, 0)] in 255 steps; then
Σ q_w·(q_v − z) in integers, times s_v·s_w in float32, added to the gate. A vector that is
all zeros (the first step's h) adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GATES = ("i", "f", "g", "o")


@dataclass(eq=False)
class VariantWeights:
    """One direction: per gate (``"i"`` absent under CIFG) ``w[q]`` (H, X) float, ``u[q]``
    (H, H_out) or (H,) diagonal, ``b[q]`` (H,), ``peep[q]`` (H,) or None, ``norm[q]`` (H,) or
    None; ``proj`` (P, H), ``proj_b`` (P,); ``q_*``: (int8 matrix, scale) where stored as int8."""

    w: dict
    u: dict
    b: dict
    peep: dict | None
    norm: dict | None
    proj: np.ndarray | None
    proj_b: np.ndarray | None
    qw: dict  # (role, gate) -> (int8 array as int32, row sums, scale float32)
    cell_clip: float
    proj_clip: float
    asymmetric: bool
    diagonal: bool


def needs_variants(c) -> bool:
    """Whether a canonical LSTM needs this loop (a variant, or int8 storage)."""
    return c.cell == "lstm" and bool(c.variants() or any(part.quant for _, _, part in c.directions()))


def prepare(part, c, dtype) -> VariantWeights:
    """A canonical Direction as :class:`VariantWeights` in ``dtype``."""
    cast = lambda a: None if a is None else np.asarray(a, dtype=dtype)  # noqa: E731
    qw = {}
    for (role, gate), scale in (part.quant or {}).items():
        a = {"input": part.w, "recurrent": part.u}.get(role, {}).get(gate) if role != "projection" else part.proj
        if a is None:
            continue
        q = np.rint(np.asarray(a, dtype=np.float64) / np.float64(np.float32(scale))).astype(np.int32)  # exact: a = s·q
        qw[(role, gate)] = (q, q.sum(axis=1), np.float32(scale))
    return VariantWeights(
        w={q: cast(a) for q, a in part.w.items()}, u={q: cast(a) for q, a in part.u.items()},
        b={q: cast(a) for q, a in part.b_w.items()},
        peep=None if part.peep is None else {q: cast(a) for q, a in part.peep.items()},
        norm=None if part.norm is None else {q: cast(a) for q, a in part.norm.items()},
        proj=cast(part.proj), proj_b=cast(part.proj_b), qw=qw, cell_clip=float(c.cell_clip),
        proj_clip=float(c.proj_clip), asymmetric=bool(c.asymmetric_inputs),
        diagonal=any(np.ndim(a) == 1 for a in part.u.values()),
    )


def _round(v: np.ndarray) -> np.ndarray:
    """std::round (half away from zero) of float32 values, exactly (in float64)."""
    v = v.astype(np.float64)
    return np.trunc(v + np.copysign(0.5, v))


def quantize_rows(v: np.ndarray, asymmetric: bool):
    """(q (B, n) int32, scale (B,) float32, zero point (B,) int32) per batch row, as
    tensor_utils::{Symmetric,Asymmetric}QuantizeFloats."""
    v = v.astype(np.float32)
    b = v.shape[0]
    q = np.zeros(v.shape, dtype=np.int32)
    scale = np.ones(b, dtype=np.float32)
    zero = np.zeros(b, dtype=np.int32)
    for r in range(b):
        row = v[r]
        if asymmetric:
            rmin, rmax = float(min(0.0, row.min())), float(max(0.0, row.max()))
            if rmin == rmax:
                continue
            s = (rmax - rmin) / 255.0
            from_min, from_max = -128 - rmin / s, 127 - rmax / s
            zp = from_min if 128 + abs(rmin / s) < 127 + abs(rmax / s) else from_max
            z = -128 if zp <= -128 else 127 if zp >= 127 else int(np.trunc(zp + np.copysign(0.5, zp)))  # round()
            scale[r] = np.float32(s)
            inv = np.float32(1.0) / scale[r]
            q[r] = np.clip(_round(np.float32(z) + row * inv), -128, 127)
            zero[r] = z
        else:
            rng = np.float32(max(abs(row.min()), abs(row.max())))
            if rng == 0:
                continue
            scale[r] = rng / np.float32(127)
            inv = np.float32(127) / rng
            q[r] = np.clip(_round(row * inv), -127, 127)
    return q, scale, zero


def _product(vw: VariantWeights, role: str, gate, matrix, v, quantized, acc) -> None:
    """acc (B, n) += matrix v for every batch row: float, or the int8 kernel's arithmetic."""
    stored = vw.qw.get((role, gate))
    if stored is None or quantized is None:
        acc += v @ np.asarray(matrix).T
        return
    q_w, row_sums, s_w = stored
    q_v, s_v, z_v = quantized
    dot = q_v @ q_w.T  # (B, n) int32 sums
    if vw.asymmetric:
        dot = dot - z_v[:, None] * row_sums[None, :]
    acc += dot.astype(np.float32) * (s_v * s_w)[:, None]


def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def _normalise(a: np.ndarray) -> np.ndarray:
    """MeanStddevNormalization over the last axis."""
    n = a.shape[-1]
    mean = a.sum(axis=-1, keepdims=True) / n
    var = (a * a).sum(axis=-1, keepdims=True) / n - mean * mean
    inv = np.where(var == 0, 1 / np.sqrt(a.dtype.type(1e-8)), 1 / np.sqrt(np.where(var == 0, 1, var)))
    return (a - mean) * inv


def run(vw: VariantWeights, x: np.ndarray, out: np.ndarray, reverse: bool, h_final, c_final) -> None:
    """x (B, T, X) → out (B, T, H_out), h_final (B, H_out), c_final (B, H); zero initial states."""
    b, t_len, _ = x.shape
    h_units = c_final.shape[1]
    dt = x.dtype
    hybrid = bool(vw.qw)
    h_prev = np.zeros((b, out.shape[2]), dtype=dt)
    c = np.zeros((b, h_units), dtype=dt)
    steps = range(t_len - 1, -1, -1) if reverse else range(t_len)
    for t in steps:
        xt = x[:, t]
        qx = quantize_rows(xt, vw.asymmetric) if hybrid and xt.any() else None
        qh = quantize_rows(h_prev, vw.asymmetric) if hybrid and h_prev.any() else None

        def pre(q: str, cell_state) -> np.ndarray:
            acc = np.zeros((b, h_units), dtype=dt) if vw.norm is not None else np.broadcast_to(vw.b[q], (b, h_units)).copy()
            if hybrid:
                if qx is not None:
                    _product(vw, "input", q, vw.w[q], xt, qx, acc)
            else:
                acc += xt @ vw.w[q].T
            if vw.diagonal:
                acc += vw.u[q] * h_prev
            elif hybrid:
                if qh is not None:
                    _product(vw, "recurrent", q, vw.u[q], h_prev, qh, acc)
            else:
                acc += h_prev @ vw.u[q].T
            if vw.peep is not None and q in vw.peep:
                acc += vw.peep[q] * cell_state
            if vw.norm is not None:
                acc = _normalise(acc) * vw.norm[q] + vw.b[q]
            return acc

        f = _sigmoid(pre("f", c))
        i = 1 - f if "i" not in vw.w else _sigmoid(pre("i", c))
        g = np.tanh(pre("g", c))
        c = f * c + i * g
        if vw.cell_clip > 0:
            c = np.clip(c, -vw.cell_clip, vw.cell_clip)
        o = _sigmoid(pre("o", c))
        h = o * np.tanh(c)
        if vw.proj is not None:
            acc = np.zeros((b, vw.proj.shape[0]), dtype=dt) if vw.proj_b is None else np.broadcast_to(vw.proj_b, (b, vw.proj.shape[0])).copy()
            if hybrid and ("projection", None) in vw.qw:
                if h.any():
                    _product(vw, "projection", None, vw.proj, h, quantize_rows(h, vw.asymmetric), acc)
            else:
                acc += h @ vw.proj.T
            h = np.clip(acc, -vw.proj_clip, vw.proj_clip) if vw.proj_clip > 0 else acc
        out[:, t] = h
        h_prev = out[:, t].copy()
    h_final[...] = h_prev
    c_final[...] = c
