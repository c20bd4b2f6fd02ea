"""Numba kernels for the recurrent loop over time: the only module that imports numba.

Each kernel runs one layer and one direction over the whole sequence for a range of batch
rows, from the input projections computed first with one (row-split) product, so per time
step it does the recurrent product (its own register-blocked loops, no BLAS) and the gate
math with no Python overhead. That wins where NumPy's per-call overhead dominates: small H,
small B, long T. Batch rows never interact, so :func:`run_chunks` gives each thread its own
rows for all T steps: no synchronisation per step; below ``SPLIT_MIN_MACS`` multiply-adds
a call, one thread runs it all (a hand-off costs more than it saves). An LSTM with one or
two rows splits its hidden units instead (:func:`lstm_direction_units`: two threads meet
once a step). Where one step's product is larger than ``STEPWISE_MIN_WORK`` multiply-adds,
:func:`run_direction_stepwise` leaves the products to NumPy's BLAS (all cores) and fuses
only each step's gate math into one call. :func:`run_direction` picks the path.

The kernels take the weights :func:`lstmcalc.prepared.prepare_canonical` makes: gates in the internal
order (LSTM ``[i, f, o, g]``, GRU ``[z, r, n]``), the sigmoid gates' columns halved, so
σ(a) = ½·tanh(a') + ½ with a' the buffer value, exactly as the NumPy loop computes it. In
float64 the two backends agree to ~1e-15 (sums in another order, FMA); in float32 the Numba
kernels use a rational tanh (below) with max abs error 3.9e-7.

Caching: ``cache=True`` writes the compiled kernels next to this file (``__pycache__``),
so a second process loads them (0.47 s measured for an LSTM's) instead of compiling
(13.6 s for the same kernels; ~10-60 s for all variants).
When the package folder is not writable, Numba itself falls back to its user-wide cache
(``~/.cache/numba``, or ``$NUMBA_CACHE_DIR`` when set; numba.core.caching's
``UserWideCacheLocator``), so nothing needs configuring.
"""

from __future__ import annotations

import math
import os
import time as _time
import threading

import numba
import numpy as np
from numba.core import cgutils, types
from numba.extending import intrinsic

from .prepared import input_projections, time_steps

JIT = {"cache": True, "nogil": True, "error_model": "numpy", "boundscheck": False, "fastmath": {"contract"}}
KERNEL = JIT  # one chunk of rows per call; threads are Python's (see run_chunks)

# tanh for float32 as Eigen, XLA and ONNX Runtime's MLAS compute it: an odd rational minimax
# p(x)/q(x) of degrees 13/6 on x clamped to ±7.90531 (where tanh rounds to ±1 in float32).
# Plain arithmetic, so LLVM vectorizes it (libm's tanhf is a scalar call per element).
# Measured against float64 tanh on 2·10^6 points in [−10, 10]: max abs error 3.9e-7 (NumPy's
# float32 np.tanh: 6.0e-8). Float64 kernels call math.tanh (libm) instead.
TANH_CLAMP = np.float32(7.90531110763549805)
A13, A11, A9, A7, A5, A3, A1 = (np.float32(v) for v in (
    -2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
    1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03))
B6, B4, B2, B0 = (np.float32(v) for v in (
    1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03))
HALF32 = np.float32(0.5)


@numba.njit(**JIT)
def tanh_inplace(a, fast):  # pragma: no cover (compiled)
    """a (R, N) ← tanh(a); ``fast``: the float32 rational above, else libm's tanh."""
    rows, cols = a.shape
    if fast:
        for r in range(rows):
            for j in range(cols):
                x = min(max(a[r, j], -TANH_CLAMP), TANH_CLAMP)
                x2 = x * x
                p = ((((((A13 * x2 + A11) * x2 + A9) * x2 + A7) * x2 + A5) * x2 + A3) * x2 + A1) * x
                q = ((B6 * x2 + B4) * x2 + B2) * x2 + B0
                a[r, j] = p / q
    else:
        for r in range(rows):
            for j in range(cols):
                a[r, j] = math.tanh(a[r, j])


@numba.njit(**JIT)
def activate(a, relu, fast):  # pragma: no cover (compiled)
    """a (R, N) ← relu(a) or tanh(a): the SimpleRNN / torch.nn.RNN nonlinearity."""
    if relu:
        rows, cols = a.shape
        for r in range(rows):
            for j in range(cols):
                if a[r, j] < 0.0:
                    a[r, j] = 0.0
    else:
        tanh_inplace(a, fast)


@numba.njit(**JIT)
def matmul_acc(h, w, acc, r0, r1):  # pragma: no cover (compiled)
    """acc[r0:r1] (R, N) += h[r0:r1] (R, K) @ w (K, N).

    Register-blocked: 8 rows × 4 k at a time (then 4 × 4, then 1 × 4), so each w[k..k+3, j]
    load serves 32 multiply-adds and each acc[r, j] is loaded and stored once per 4 k; the
    inner loop over j is contiguous and vectorizes (AVX-512 here, with FMA via fastmath
    'contract'). Measured in float32 on one core: 80-94 GMAC/s for (16, 64) @ (64, 256) and
    (32, 256) @ (256, 1024); 4 × 4 gave 57-72, 4 × 8 63-73, 8 × 8 50-61. One row (B = 1)
    stays at ~31 GMAC/s whatever the unrolling.
    """
    depth = h.shape[1]
    cols = w.shape[1]
    k4 = depth - depth % 4
    r = r0
    while r + 8 <= r1:
        for k in range(0, k4, 4):
            a0, a1, a2, a3 = h[r, k], h[r, k + 1], h[r, k + 2], h[r, k + 3]
            b0, b1, b2, b3 = h[r + 1, k], h[r + 1, k + 1], h[r + 1, k + 2], h[r + 1, k + 3]
            c0, c1, c2, c3 = h[r + 2, k], h[r + 2, k + 1], h[r + 2, k + 2], h[r + 2, k + 3]
            d0, d1, d2, d3 = h[r + 3, k], h[r + 3, k + 1], h[r + 3, k + 2], h[r + 3, k + 3]
            e0, e1, e2, e3 = h[r + 4, k], h[r + 4, k + 1], h[r + 4, k + 2], h[r + 4, k + 3]
            f0, f1, f2, f3 = h[r + 5, k], h[r + 5, k + 1], h[r + 5, k + 2], h[r + 5, k + 3]
            g0, g1, g2, g3 = h[r + 6, k], h[r + 6, k + 1], h[r + 6, k + 2], h[r + 6, k + 3]
            p0, p1, p2, p3 = h[r + 7, k], h[r + 7, k + 1], h[r + 7, k + 2], h[r + 7, k + 3]
            for j in range(cols):
                w0, w1, w2, w3 = w[k, j], w[k + 1, j], w[k + 2, j], w[k + 3, j]
                acc[r, j] += a0 * w0 + a1 * w1 + a2 * w2 + a3 * w3
                acc[r + 1, j] += b0 * w0 + b1 * w1 + b2 * w2 + b3 * w3
                acc[r + 2, j] += c0 * w0 + c1 * w1 + c2 * w2 + c3 * w3
                acc[r + 3, j] += d0 * w0 + d1 * w1 + d2 * w2 + d3 * w3
                acc[r + 4, j] += e0 * w0 + e1 * w1 + e2 * w2 + e3 * w3
                acc[r + 5, j] += f0 * w0 + f1 * w1 + f2 * w2 + f3 * w3
                acc[r + 6, j] += g0 * w0 + g1 * w1 + g2 * w2 + g3 * w3
                acc[r + 7, j] += p0 * w0 + p1 * w1 + p2 * w2 + p3 * w3
        for k in range(k4, depth):
            for q in range(r, r + 8):
                hq = h[q, k]
                for j in range(cols):
                    acc[q, j] += hq * w[k, j]
        r += 8
    while r + 4 <= r1:
        for k in range(0, k4, 4):
            a0, a1, a2, a3 = h[r, k], h[r, k + 1], h[r, k + 2], h[r, k + 3]
            b0, b1, b2, b3 = h[r + 1, k], h[r + 1, k + 1], h[r + 1, k + 2], h[r + 1, k + 3]
            c0, c1, c2, c3 = h[r + 2, k], h[r + 2, k + 1], h[r + 2, k + 2], h[r + 2, k + 3]
            d0, d1, d2, d3 = h[r + 3, k], h[r + 3, k + 1], h[r + 3, k + 2], h[r + 3, k + 3]
            for j in range(cols):
                w0, w1, w2, w3 = w[k, j], w[k + 1, j], w[k + 2, j], w[k + 3, j]
                acc[r, j] += a0 * w0 + a1 * w1 + a2 * w2 + a3 * w3
                acc[r + 1, j] += b0 * w0 + b1 * w1 + b2 * w2 + b3 * w3
                acc[r + 2, j] += c0 * w0 + c1 * w1 + c2 * w2 + c3 * w3
                acc[r + 3, j] += d0 * w0 + d1 * w1 + d2 * w2 + d3 * w3
        for k in range(k4, depth):
            for q in range(r, r + 4):
                hq = h[q, k]
                for j in range(cols):
                    acc[q, j] += hq * w[k, j]
        r += 4
    while r < r1:
        for k in range(0, k4, 4):
            a0, a1, a2, a3 = h[r, k], h[r, k + 1], h[r, k + 2], h[r, k + 3]
            for j in range(cols):
                acc[r, j] += a0 * w[k, j] + a1 * w[k + 1, j] + a2 * w[k + 2, j] + a3 * w[k + 3, j]
        for k in range(k4, depth):
            hk = h[r, k]
            for j in range(cols):
                acc[r, j] += hk * w[k, j]
        r += 1


@numba.njit(**KERNEL)
def project(seq, wx, bx, xp, r0, r1):  # pragma: no cover (compiled)
    """xp[r0:r1] = seq[r0:r1] @ wx (X, G·H) + bx (G·H,); seq (N, X), xp (N, G·H), N = B·T:
    the input projections of every time step in one product, as the NumPy path does with
    BLAS (no BLAS call here: OpenBLAS' idle threads would compete for the cores)."""
    for r in range(r0, r1):
        for j in range(xp.shape[1]):
            xp[r, j] = bx[j]
    matmul_acc(seq, wx, xp, r0, r1)


@numba.njit(**JIT)
def lstm_cell(gates, cs, m, fast):  # pragma: no cover (compiled)
    """The LSTM gate math of one step for every row: gates (R, 4H) holds the pre-activations
    [i, f, o, g] (σ columns halved); c_t = f ⊙ c_{t-1} + i ⊙ g into cs (R, H), and
    o ⊙ tanh(c_t) into m (R, H)."""
    rows = gates.shape[0]
    h = gates.shape[1] // 4
    tanh_inplace(gates, fast)
    for r in range(rows):
        for j in range(h):
            i = 0.5 * gates[r, j] + 0.5
            f = 0.5 * gates[r, h + j] + 0.5
            c = f * cs[r, j] + i * gates[r, 3 * h + j]
            cs[r, j] = c
            m[r, j] = c
    tanh_inplace(m, fast)
    for r in range(rows):
        for j in range(h):
            m[r, j] *= 0.5 * gates[r, 2 * h + j] + 0.5  # o ⊙ tanh(c_t)


@numba.njit(**JIT)
def any_held(lens, b0, rows, t):  # pragma: no cover (compiled)
    """Whether some row r in [b0, b0 + rows) has ended before step t (t ≥ lens[r])."""
    for r in range(rows):
        if lens[b0 + r] <= t:
            return True
    return False


@numba.njit(**JIT)
def restore_held(a, kept, lens, b0, t):  # pragma: no cover (compiled)
    """a[r] ← kept[r] for the rows that have ended before step t: their state is held."""
    for r in range(a.shape[0]):
        if lens[b0 + r] <= t:
            for j in range(a.shape[1]):
                a[r, j] = kept[r, j]


@numba.njit(**KERNEL)
def lstm_direction(xp, wh, whr, reverse, fast, out, h_final, c_final, h0, c0, has_init, lens, masked, b0, b1):  # pragma: no cover (compiled)
    """xp (B, T, 4H) [i, f, o, g], wh (H_out, 4H), whr (H, P) or (0, 0); h0 (B, H_out),
    c0 (B, H) the initial states (read when ``has_init``); lens (B,) each row's length
    (read when ``masked``: rows hold their states at steps t ≥ length); writes h_t to
    out (B, T, H_out) and the final states to h_final (B, H_out), c_final (B, H)."""
    batch, t_len, gh = xp.shape
    h = gh // 4
    h_out = wh.shape[0]
    proj = whr.shape[0] > 0
    rows = b1 - b0
    gates = np.empty((rows, gh), dtype=xp.dtype)  # (R, 4H)
    m = np.empty((rows, h), dtype=xp.dtype)  # (R, H): c_t, then o ⊙ tanh(c_t)
    hs = np.zeros((rows, h_out), dtype=xp.dtype)  # (R, H_out)
    cs = np.zeros((rows, h), dtype=xp.dtype)  # (R, H)
    hk = np.empty((rows, h_out), dtype=xp.dtype)  # (R, H_out): h held over a step
    ck = np.empty((rows, h), dtype=xp.dtype)  # (R, H)
    if has_init:
        for r in range(rows):
            for q in range(h_out):
                hs[r, q] = h0[b0 + r, q]
            for j in range(h):
                cs[r, j] = c0[b0 + r, j]
    for s in range(t_len):
        t = t_len - 1 - s if reverse else s
        held = masked and any_held(lens, b0, rows, t)
        if held:
            hk[:, :] = hs
            ck[:, :] = cs
        for r in range(rows):
            for j in range(gh):
                gates[r, j] = xp[b0 + r, t, j]
        if s > 0 or has_init:
            matmul_acc(hs, wh, gates, 0, rows)
        lstm_cell(gates, cs, m, fast)
        if proj:
            hs[:, :] = 0.0
            matmul_acc(m, whr, hs, 0, rows)
        else:
            hs[:, :] = m
        if held:
            restore_held(hs, hk, lens, b0, t)
            restore_held(cs, ck, lens, b0, t)
        for r in range(rows):
            for q in range(h_out):
                out[b0 + r, t, q] = hs[r, q]
    for r in range(rows):
        for q in range(h_out):
            h_final[b0 + r, q] = hs[r, q]
        for j in range(h):
            c_final[b0 + r, j] = cs[r, j]


@numba.njit(**KERNEL)
def gru_direction(xp, wh, bhn, reset_after, reverse, fast, out, h_final, h0, has_init, lens, masked, b0, b1):  # pragma: no cover (compiled)
    """xp (B, T, 3H) [z, r, n], wh (H, 3H), bhn (H,); writes h_t to out (B, T, H) and the
    final state to h_final (B, H). reset_after: n = tanh(x_n + r ⊙ (U_n h + b_hn)), else
    n = tanh(x_n + U_n (r ⊙ h)). h0, has_init, lens, masked: as :func:`lstm_direction`."""
    batch, t_len, gh = xp.shape
    h = gh // 3
    wh_zr = np.ascontiguousarray(wh[:, : 2 * h])  # (H, 2H)
    wh_n = np.ascontiguousarray(wh[:, 2 * h :])  # (H, H)
    rows = b1 - b0
    zr = np.empty((rows, 2 * h), dtype=xp.dtype)  # (R, 2H)
    n = np.empty((rows, h), dtype=xp.dtype)  # (R, H)
    rh = np.empty((rows, h), dtype=xp.dtype)  # (R, H): r ⊙ h (reset-before)
    hs = np.zeros((rows, h), dtype=xp.dtype)  # (R, H)
    hk = np.empty((rows, h), dtype=xp.dtype)  # (R, H): h held over a step
    if has_init:
        for r in range(rows):
            for j in range(h):
                hs[r, j] = h0[b0 + r, j]
    for s in range(t_len):
        t = t_len - 1 - s if reverse else s
        held = masked and any_held(lens, b0, rows, t)
        if held:
            hk[:, :] = hs
        zr[:, :] = 0.0
        n[:, :] = 0.0
        if s > 0 or has_init:
            matmul_acc(hs, wh_zr, zr, 0, rows)
            if reset_after:
                matmul_acc(hs, wh_n, n, 0, rows)
        for r in range(rows):
            for j in range(2 * h):
                zr[r, j] += xp[b0 + r, t, j]
        tanh_inplace(zr, fast)
        for r in range(rows):
            for j in range(2 * h):
                zr[r, j] = 0.5 * zr[r, j] + 0.5  # z, r
        if reset_after:
            for r in range(rows):
                for j in range(h):
                    n[r, j] = (n[r, j] + bhn[j]) * zr[r, h + j] + xp[b0 + r, t, 2 * h + j]
        else:
            if s > 0 or has_init:
                for r in range(rows):
                    for j in range(h):
                        rh[r, j] = zr[r, h + j] * hs[r, j]
                matmul_acc(rh, wh_n, n, 0, rows)
            for r in range(rows):
                for j in range(h):
                    n[r, j] += xp[b0 + r, t, 2 * h + j]
        tanh_inplace(n, fast)
        for r in range(rows):
            for j in range(h):
                hs[r, j] = n[r, j] + zr[r, j] * (hs[r, j] - n[r, j])  # z ⊙ h + (1 − z) ⊙ n
        if held:
            restore_held(hs, hk, lens, b0, t)
        for r in range(rows):
            for j in range(h):
                out[b0 + r, t, j] = hs[r, j]
    for r in range(rows):
        for j in range(h):
            h_final[b0 + r, j] = hs[r, j]


@numba.njit(**KERNEL)
def rnn_direction(xp, wh, relu, reverse, fast, out, h_final, h0, has_init, lens, masked, b0, b1):  # pragma: no cover (compiled)
    """xp (B, T, H), wh (H, H); h_t = act(x_t + h_{t-1} U) to out (B, T, H), h_final (B, H).
    h0, has_init, lens, masked: as :func:`lstm_direction`."""
    batch, t_len, h = xp.shape
    rows = b1 - b0
    acc = np.empty((rows, h), dtype=xp.dtype)  # (R, H)
    hs = np.zeros((rows, h), dtype=xp.dtype)  # (R, H)
    if has_init:
        for r in range(rows):
            for j in range(h):
                hs[r, j] = h0[b0 + r, j]
    for s in range(t_len):
        t = t_len - 1 - s if reverse else s
        for r in range(rows):
            for j in range(h):
                acc[r, j] = xp[b0 + r, t, j]
        if s > 0 or has_init:
            matmul_acc(hs, wh, acc, 0, rows)
        activate(acc, relu, fast)
        if masked and any_held(lens, b0, rows, t):
            restore_held(acc, hs, lens, b0, t)
        hs[:, :] = acc
        for r in range(rows):
            for j in range(h):
                out[b0 + r, t, j] = acc[r, j]
    for r in range(rows):
        for j in range(h):
            h_final[b0 + r, j] = hs[r, j]


# --- step kernels: the gate math of one time step, for the stepwise path -------------------------
# Where one step's recurrent product is large, OpenBLAS on every core beats matmul_acc on
# row chunks; then the loop over time runs in Python (a few µs a step), each product goes to
# NumPy's BLAS, and each step's gate math is one fused Numba call instead of NumPy's ten
# passes over the gate buffers. ``first``: t is the first step, h_0 = 0 (no product).


@numba.njit(**JIT)
def add_inputs(acc, xp, t, c0, first):  # pragma: no cover (compiled)
    """acc (B, N) ← acc + xp[:, t, c0 : c0 + N], or xp's columns alone when ``first``."""
    rows, cols = acc.shape
    for r in range(rows):
        if first:
            for j in range(cols):
                acc[r, j] = xp[r, t, c0 + j]
        else:
            for j in range(cols):
                acc[r, j] += xp[r, t, c0 + j]


@numba.njit(**JIT)
def sigmoid_gates(zr, xp, t, first, fast):  # pragma: no cover (compiled)
    """zr (B, N) ← σ(zr + xp[:, t, :N]), σ(a) = ½ tanh(a') + ½ (a' the halved buffer value)."""
    add_inputs(zr, xp, t, 0, first)
    tanh_inplace(zr, fast)
    rows, cols = zr.shape
    for r in range(rows):
        for j in range(cols):
            zr[r, j] = 0.5 * zr[r, j] + 0.5


@numba.njit(**JIT)
def gru_update(z, n, hs):  # pragma: no cover (compiled)
    """hs (B, H) ← z ⊙ hs + (1 − z) ⊙ n, as n + z ⊙ (hs − n); z (B, ≥ H) its first H columns."""
    rows, h = hs.shape
    for r in range(rows):
        for j in range(h):
            hs[r, j] = n[r, j] + z[r, j] * (hs[r, j] - n[r, j])


@numba.njit(**KERNEL)
def lstm_step(gates, xp, t, first, cs, m, fast):  # pragma: no cover (compiled)
    """gates (B, 4H) = h_{t-1} W_h (by BLAS) ← + xp[:, t]; then :func:`lstm_cell`:
    c_t into cs (B, H), o ⊙ tanh(c_t) into m (B, H)."""
    add_inputs(gates, xp, t, 0, first)
    lstm_cell(gates, cs, m, fast)


@numba.njit(**KERNEL)
def gru_step_after(rec, xp, t, first, bhn, hs, fast):  # pragma: no cover (compiled)
    """Reset-after GRU: rec (B, 3H) = h_{t-1} W_h (by BLAS); z, r = σ(rec + x),
    n = tanh(x_n + r ⊙ (rec_n + b_hn)); hs (B, H) ← h_t."""
    h = hs.shape[1]
    zr = rec[:, : 2 * h]
    sigmoid_gates(zr, xp, t, first, fast)
    n = rec[:, 2 * h :]
    rows = hs.shape[0]
    for r in range(rows):
        for j in range(h):
            u = 0.0 if first else n[r, j]
            n[r, j] = (u + bhn[j]) * zr[r, h + j] + xp[r, t, 2 * h + j]
    tanh_inplace(n, fast)
    gru_update(zr, n, hs)


@numba.njit(**KERNEL)
def gru_step_gates(zr, xp, t, first, hs, rh, fast):  # pragma: no cover (compiled)
    """Reset-before GRU, first half: zr (B, 2H) = h_{t-1} W_zr (by BLAS) ← σ(zr + x_zr);
    rh (B, H) ← r ⊙ h_{t-1}, the input of the caller's product with W_n."""
    sigmoid_gates(zr, xp, t, first, fast)
    rows, h = hs.shape
    for r in range(rows):
        for j in range(h):
            rh[r, j] = zr[r, h + j] * hs[r, j]


@numba.njit(**KERNEL)
def gru_step_update(n, xp, t, first, zr, hs, fast):  # pragma: no cover (compiled)
    """Reset-before GRU, second half: n (B, H) = (r ⊙ h_{t-1}) W_n (by BLAS) ←
    tanh(n + x_n); hs (B, H) ← h_t."""
    add_inputs(n, xp, t, 2 * hs.shape[1], first)
    tanh_inplace(n, fast)
    gru_update(zr, n, hs)


@numba.njit(**KERNEL)
def rnn_step(acc, xp, t, first, relu, hs, fast):  # pragma: no cover (compiled)
    """acc (B, H) = h_{t-1} W_h (by BLAS) ← act(acc + x_t); hs (B, H) ← h_t."""
    add_inputs(acc, xp, t, 0, first)
    activate(acc, relu, fast)
    hs[:, :] = acc


# --- small batches, wide layers: one direction's units split across threads --------------------
# With one or two rows, a step's recurrent product is a matrix-vector product that streams
# all of W_h (H_out × 4H) from the cache each step: one core's cache bandwidth bounds it
# (measured: 27 GMAC/s for 1 × 128 @ 128 × 512, whatever the unrolling). Two threads that
# each own half of the hidden units stream half of W_h each; they meet once a step, through
# an acquire/release flag per thread, since every unit's h_t feeds every unit's next step.


@intrinsic
def load_acquire(typingctx, arr, idx):  # pragma: no cover (compiled)
    """arr[idx] (int64) read with acquire ordering: not hoisted out of a loop, and the
    reads after it see what the writer stored before its release."""
    sig = types.int64(arr, types.intp)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]])
        return builder.load_atomic(ptr, ordering="acquire", align=8)

    return sig, codegen


@intrinsic
def store_release(typingctx, arr, idx, value):  # pragma: no cover (compiled)
    """arr[idx] = value (int64) with release ordering: every store before it is visible
    to a thread that reads value with :func:`load_acquire`."""
    sig = types.void(arr, types.intp, types.int64)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [args[1]])
        builder.store_atomic(args[2], ptr, ordering="release", align=8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def os_yield(typingctx):  # pragma: no cover (compiled)
    """POSIX sched_yield(): give the core away while waiting for a thread that has none."""
    sig = types.int32()

    def codegen(context, builder, signature, args):
        from llvmlite import ir  # numba's own dependency; imported here so that "import numba" fails first

        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
        return builder.call(fn, [])

    return sig, codegen


FLAG_STRIDE = 16  # int64s between two threads' flags: 128 bytes, their own cache lines


@numba.njit(**JIT)
def wait_for(flags, idx, value):  # pragma: no cover (compiled)
    """Spin until flags[idx] >= value, yielding the core every 2,000 polls (~2 µs)."""
    polls = 0
    while load_acquire(flags, idx) < value:
        polls += 1
        if polls >= 2000:
            os_yield()
            polls = 0


@numba.njit(**KERNEL)
def lstm_direction_units(xp, wh, reverse, fast, out, h_final, c_final, h0, c0, has_init, hbuf, flags, tid, parts,
                         u0, u1):  # pragma: no cover (compiled)
    """Thread ``tid`` of ``parts``: the hidden units [u0, u1) of an LSTM direction without
    projection, for every row and step. xp (B, T, 4H) [i, f, o, g], wh (H, 4H); hbuf
    (2, B, H) the shared h_{t-1} / h_t buffers (hbuf[0] = h0 when ``has_init``); flags
    (parts · FLAG_STRIDE,) int64 zeros: thread p sets flags[p · FLAG_STRIDE] = s + 1 when its
    units' h_t of step s are in hbuf, and waits for the others' before step s + 1 reads
    them. Writes out[:, :, u0:u1], h_final and c_final's columns u0:u1."""
    batch, t_len, gh = xp.shape
    h = gh // 4
    n = u1 - u0
    w = np.empty((h, 4 * n), dtype=xp.dtype)  # (H, 4n): this thread's columns of W_h, contiguous
    for k in range(h):
        for q in range(4):
            for j in range(n):
                w[k, q * n + j] = wh[k, q * h + u0 + j]
    gates = np.empty((batch, 4 * n), dtype=xp.dtype)  # (B, 4n)
    cs = np.zeros((batch, n), dtype=xp.dtype)  # (B, n)
    m = np.empty((batch, n), dtype=xp.dtype)  # (B, n): o ⊙ tanh(c_t)
    if has_init:
        for r in range(batch):
            for j in range(n):
                cs[r, j] = c0[r, u0 + j]
    for s in range(t_len):
        t = t_len - 1 - s if reverse else s
        cur = s % 2
        for r in range(batch):
            for q in range(4):
                for j in range(n):
                    gates[r, q * n + j] = xp[r, t, q * h + u0 + j]
        if s > 0 or has_init:
            matmul_acc(hbuf[cur], w, gates, 0, batch)
        lstm_cell(gates, cs, m, fast)
        nxt = 1 - cur
        for r in range(batch):
            for j in range(n):
                hbuf[nxt, r, u0 + j] = m[r, j]
                out[r, t, u0 + j] = m[r, j]
        store_release(flags, tid * FLAG_STRIDE, s + 1)
        for other in range(parts):
            if other != tid:
                wait_for(flags, other * FLAG_STRIDE, s + 1)
    for r in range(batch):
        for j in range(n):
            h_final[r, u0 + j] = hbuf[t_len % 2, r, u0 + j]
            c_final[r, u0 + j] = cs[r, j]


_SEEN: set = set()  # (kernel name, dtype char) compiled or loaded in this process
_WARM: set = set()  # path_key()s that have run in this process
_WORKERS: tuple[int, list] = (0, [])  # (pid, [Worker]): made again after a fork


def threads() -> int:
    """Threads for the kernels: the CPUs this process may use, capped by NUMBA_NUM_THREADS."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus, numba.config.NUMBA_NUM_THREADS))


def _key(a):
    if isinstance(a, np.ndarray):
        return (a.dtype.char, a.ndim, a.flags.c_contiguous, a.flags.f_contiguous, a.flags.aligned, a.flags.writeable)
    return type(a)


def _compile(kernel, args) -> float:
    """The ms spent compiling ``kernel`` (or loading it from the cache) for these argument
    types, 0.0 when this process already had it. Every call of a kernel passes C-contiguous,
    writeable arrays (run_direction makes sure), so a kernel has one signature per dtype:
    once (kernel, dtype) has been seen, the exact types are not looked at again."""
    quick = (kernel.py_func.__name__, args[0].dtype.char)
    if quick in _SEEN:
        return 0.0
    ms = 0.0
    sig = tuple(numba.typeof(a) for a in args)
    if sig not in kernel.overloads:
        start = _time.perf_counter()
        kernel.compile(sig)
        ms = (_time.perf_counter() - start) * 1e3
    _SEEN.add(quick)
    return ms


def path_of(spec, batch: int, t_len: int, masked: bool) -> str:
    """The path :func:`run_direction` takes for one layer direction: "units", "stepwise" or
    "kernel"."""
    if units_threads(spec, batch, t_len, masked) >= 2:
        return "units"
    return "stepwise" if stepwise(batch, batch * spec.hidden_out * spec.gates * spec.units) else "kernel"


def path_key(spec, dtype, path: str) -> tuple:
    """What decides which kernels a layer direction runs: the cell (and GRU reset form), the
    dtype and the path."""
    return (spec.cell, spec.cell == "gru" and spec.reset_after, np.dtype(dtype).char, path)


def is_warm(spec, dtype, masked: bool = False) -> bool:
    """Whether this process has already run (so compiled or loaded) the kernels a call of
    ``spec`` (its batch and time) in ``dtype`` needs: "auto" then costs no compile."""
    return path_key(spec, dtype, path_of(spec, spec.batch, spec.time, masked)) in _WARM


def chunks(rows: int, n: int | None = None) -> list[tuple[int, int]]:
    """``rows`` split into near-equal ranges [start, stop), one per thread (at most ``n``)."""
    n = max(1, min(rows, threads(), threads() if n is None else n))
    return [(rows * k // n, rows * (k + 1) // n) for k in range(n)]


@numba.njit(**JIT)
def spin_until(flags, idx, value, polls):  # pragma: no cover (compiled)
    """Poll flags[idx] >= value up to ``polls`` times (yielding the core every 1,000 polls
    to any thread that wants it); whether it got there."""
    for k in range(polls):
        if load_acquire(flags, idx) >= value:
            return True
        if k % 1000 == 999:
            os_yield()
    return load_acquire(flags, idx) >= value


POSTED, AWAKE, DONE = 0, FLAG_STRIDE, 2 * FLAG_STRIDE  # a Worker's control words, each on its own cache lines
SPIN_POLLS = 1_000_000  # ~2-4 ms of polling before a Worker blocks


class Worker:
    """A helper thread for kernel parts that polls for its next part, in a nogil Numba loop
    (the GIL stays free), for a few ms after each one before it blocks on an Event.

    Why: in this kind of virtual machine an idle vCPU halts, and waking a thread blocked on
    a lock took 0.1-1 ms (measured: a 2-thread LSTM pass of 1.5 ms took 2.6 ms when each
    call handed its part to a blocked ThreadPoolExecutor thread after 0.3 s idle, the same
    as one thread), where two polling threads meet in ~0.06 µs. OpenMP runtimes (torch's)
    poll the same way. Numba's own ``parallel=True`` layers were worse here: see run_chunks.
    """

    def __init__(self):
        self.ctrl = np.zeros(3 * FLAG_STRIDE, dtype=np.int64)  # POSTED, AWAKE, DONE: sequence numbers / flag
        self.ctrl[AWAKE] = 1
        self.event = threading.Event()
        self.seq = 0
        self.job = None
        self.error = None
        threading.Thread(target=self._loop, name="lstmcalc-numba", daemon=True).start()

    def _loop(self) -> None:
        seen = 0
        while True:
            if not spin_until(self.ctrl, POSTED, seen + 1, SPIN_POLLS):
                self.ctrl[AWAKE] = 0
                if self.ctrl[POSTED] <= seen:  # nothing was posted before the flag went down: sleep
                    self.event.wait()
                self.event.clear()
                self.ctrl[AWAKE] = 1
                continue
            seen = int(self.ctrl[POSTED])
            kernel, args = self.job
            try:
                kernel(*args)
            except BaseException as e:  # noqa: BLE001 - handed to the caller by wait()
                self.error = e
            self.ctrl[DONE] = seen

    def submit(self, kernel, args) -> None:
        self.job = (kernel, args)
        self.error = None
        self.seq += 1
        self.ctrl[POSTED] = self.seq  # under the GIL: ordered with the worker's AWAKE flag and re-check
        if self.ctrl[AWAKE] == 0:
            self.event.set()

    def wait(self) -> None:
        while not spin_until(self.ctrl, DONE, self.seq, SPIN_POLLS):
            pass
        if self.error is not None:
            raise self.error


def workers(n: int) -> list:
    """``n`` Workers of this process (made on first use; again in a forked child, where the
    parent's threads do not exist)."""
    global _WORKERS
    pid, have = _WORKERS
    if pid != os.getpid():
        have = []
    while len(have) < n:
        have.append(Worker())
    _WORKERS = (os.getpid(), have)
    return have[:n]


_RUN_LOCK = threading.Lock()  # one split call at a time: the Workers are shared by the process


def _after_fork_in_child() -> None:
    """A forked child has none of the parent's threads: a new lock (the parent's may have
    been held by a thread that does not exist here) and no Workers yet."""
    global _RUN_LOCK, _WORKERS
    _RUN_LOCK = threading.Lock()
    _WORKERS = (0, [])


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def run_chunks(kernel, parts: list[tuple[int, int]], *args) -> float:
    """``kernel(*args, *part)`` for each part, the first on this thread and the others on
    :class:`Worker` threads (the kernels release the GIL: ``nogil=True``).

    Why not ``parallel=True``/``prange``: Numba's OpenMP threads spin while they wait, and
    so do OpenBLAS' idle threads for a while after any NumPy matrix product; on 2 cores the
    two pools then stalled each other for a scheduler tick (a 1 ms pass took 4-8 ms whenever
    a NumPy product ran just before). Its 'workqueue' layer did not stall but took ~1.6 ms
    against OpenMP's 0.8-1.0 on the same pass. The Workers poll too, but yield the core to
    any other thread every 1,000 polls.
    Returns the compile or cache-load ms (compiled here, on this thread, before the split).
    """
    ms = _compile(kernel, args + parts[0])
    if len(parts) == 1:
        kernel(*args, *parts[0])
        return ms
    with _RUN_LOCK:  # another Python thread's split call waits: each part needs its own thread now
        helpers = workers(len(parts) - 1)
        for w, part in zip(helpers, parts[1:]):
            w.submit(kernel, args + tuple(part))
        try:
            kernel(*args, *parts[0])
        finally:
            for w in helpers:
                w.wait()
    return ms


# Which path run_direction takes, by the multiply-adds of one step's recurrent product
# (B·H_out·G·H) and the rows B: the stepwise path (BLAS products, fused Numba gate math) above
# STEPWISE_MIN_WORK, or above STEPWISE_FEW_ROWS_WORK with fewer than KERNEL_MIN_ROWS rows (the
# kernels' register blocking needs 8 rows per thread to pay). Measured (float32 LSTM, 2 cores,
# prepared layers, min of 15 runs, kernel path vs stepwise): 32/64/32/100 2.4 vs 7.7 ms,
# 64/128/32/100 6.2 vs 10.8, 128/256/8/100 6.8 vs 16.7 (work 2**21: kernels); 128/256/16/100
# 27.8 vs 16.1 and 128/256/64/100 79 vs 39 (2**22 and up: stepwise); 128/128/2/300 (2**17,
# 2 rows) 2.6 vs 2.3.
STEPWISE_MIN_WORK = 2**21
STEPWISE_FEW_ROWS_WORK = 2**16
KERNEL_MIN_ROWS = 8


def stepwise(batch: int, work: int) -> bool:
    """Whether one layer direction with ``batch`` rows and ``work`` multiply-adds a step takes
    the stepwise path."""
    return work > STEPWISE_MIN_WORK or (work > STEPWISE_FEW_ROWS_WORK and batch < KERNEL_MIN_ROWS)
# Below this many multiply-adds (and gate-math elements × 8) in a call, one thread runs it.
# Measured (float32 LSTM, prepared layer; one thread vs split in two): in one process, min of
# 40, 32/64/32/10 (2**22.4) 0.24-0.29 vs 0.18-0.23 ms and 64/128/8/20 (2**23.2) 0.39 vs 0.27;
# but in benchmarks/forward.py's alternating runs 32/64/32/10 took 0.239 on one thread and
# 0.259 split, as its probe found the second core mostly taken (two threads' independent
# work: median 1.97x one thread's time). 32/64/32/100 (2**25.5): 2.25 vs 1.27.
SPLIT_MIN_MACS = 2**23


def run_direction(spec, p, seq, out, reverse: bool, h_final, c_final, h0=None, c0=None, lens=None) -> float:
    """One layer and direction of ``spec`` on seq (B, T, X_k), batch first, with prepared
    weights ``p`` (see :func:`lstmcalc.prepared.prepare_canonical`): the input projections, then
    the loop over time, each split by rows across threads when the work is large enough
    (batch rows never interact, so each thread runs its rows through all T steps with no
    synchronisation per step). Writes out (B, T, H_out), h_final, c_final; returns the
    compile or cache-load ms. h0 (B, H_out), c0 (B, H): the initial states (None: zeros);
    lens (B,) int64: each row's length (None: all T), rows hold their states at steps
    t ≥ length. Every array reaches a kernel C-contiguous and writeable (one signature per
    kernel and dtype: see :func:`_compile`)."""
    batch = seq.shape[0]
    target = out
    if not out.flags.c_contiguous:  # a direction's half of a bidirectional output
        out = np.empty(out.shape, dtype=out.dtype)  # (B, T, H_out)
    h0, c0 = (None if a is None else np.require(a, requirements="CWA") for a in (h0, c0))
    path = path_of(spec, batch, seq.shape[1], lens is not None)
    if path == "stepwise":
        ms = run_direction_stepwise(spec, p, seq, out, reverse, h_final, c_final, h0, c0, lens)
    else:
        units = units_parts(spec, p, batch, seq.shape[1], lens) if path == "units" else []
        ms = _run_kernels(spec, p, seq, out, reverse, h_final, c_final, h0, c0, lens, units)
    if out is not target:
        target[...] = out
    _WARM.add(path_key(spec, seq.dtype, path))
    return ms


def _parts(rows: int, macs: int) -> list[tuple[int, int]]:
    """Rows split across threads when ``macs`` multiply-adds make the hand-off pay (each
    costs ~20 µs), else one part on the calling thread."""
    return chunks(rows) if macs >= SPLIT_MIN_MACS else [(0, rows)]


# The units path (lstm_direction_units): LSTM without projection or lengths, at most
# UNITS_MAX_ROWS rows, at least UNITS_MIN_PER_THREAD units a thread, UNITS_MIN_WORK to
# STEPWISE_MIN_WORK multiply-adds a step and SPLIT_MIN_MACS a call. The threads meet every
# step (~0.06 µs when both have a core; measured here), so a step must be long enough that
# a late partner costs little. Measured (float32 LSTM, 2 cores, min of 30-40, quiet host;
# one thread vs units): 64/128/1/500 1.72-1.99 vs 1.08-1.66 ms, 64/128/2/300 2.25 (stepwise)
# vs 1.81; 32/64/1/1000 (2**14 a step: not taken) 1.10 vs 3.48 while another process ran.
UNITS_MAX_ROWS = 2
UNITS_MIN_PER_THREAD = 32
UNITS_MIN_WORK = 2**16


def units_parts(spec, p, batch: int, t_len: int, lens) -> list[tuple[int, int, int, int]]:
    """(tid, threads, u0, u1) per thread for the units path, or [] when it does not apply."""
    n = units_threads(spec, batch, t_len, lens is not None)
    h = spec.units
    return [(k, n, h * k // n, h * (k + 1) // n) for k in range(n)] if n >= 2 else []


def units_threads(spec, batch: int, t_len: int, masked: bool) -> int:
    """Threads the units path would use for this call (0 or 1: it does not apply)."""
    work = batch * spec.hidden_out * spec.gates * spec.units  # one step's multiply-adds
    if (spec.cell != "lstm" or spec.proj_size or masked or batch > UNITS_MAX_ROWS or not UNITS_ON
            or t_len * work < SPLIT_MIN_MACS or not UNITS_MIN_WORK <= work <= STEPWISE_MIN_WORK):
        return 0
    return min(threads(), spec.units // UNITS_MIN_PER_THREAD)


UNITS_ON = True  # tests switch it off to compare the two paths


def _run_kernels(spec, p, seq, out, reverse, h_final, c_final, h0, c0, lens, units) -> float:
    """:func:`run_direction`'s path for small steps: the projection and the whole loop over
    time in Numba kernels; ``units``: :func:`units_parts` for the units path, else []."""
    batch, t_len, x_k = seq.shape
    gh = p.wx.shape[1]
    n_rows = batch * t_len
    fast = bool(seq.dtype == np.float32)
    parts = _parts(batch, (t_len - 1) * batch * p.wh.shape[0] * gh + n_rows * gh * 8)
    # No BLAS call here, even for one thread: measured on this 2-core host while another
    # process kept one core busy, OpenBLAS' second thread waited for the core and one
    # (500, 64) @ (64, 512) product took 15.9 ms instead of 0.23 (Numba's: 0.40).
    xp = np.empty((batch, t_len, gh), dtype=seq.dtype)  # (B, T, G·H)
    ms = run_chunks(project, _parts(n_rows, n_rows * x_k * gh),
                    seq.reshape(n_rows, x_k), p.wx, p.bx, xp.reshape(n_rows, gh))  # (B·T, X) @ (X, G·H)
    if units:
        hbuf = np.zeros((2, batch, p.wh.shape[0]), dtype=seq.dtype)  # (2, B, H): h_{t-1} and h_t, shared
        if h0 is not None:
            hbuf[0] = h0
        flags = np.zeros(len(units) * FLAG_STRIDE, dtype=np.int64)
        z = np.zeros((1, 1), dtype=seq.dtype)  # not read without initial states
        return ms + run_chunks(lstm_direction_units, units, xp, p.wh, reverse, fast, out, h_final, c_final,
                               z if h0 is None else h0, z if c0 is None else c0, h0 is not None, hbuf, flags)
    has_init = h0 is not None
    if h0 is None:
        h0 = np.zeros((1, 1), dtype=seq.dtype)  # not read: has_init is False
    masked = lens is not None
    if lens is None:
        lens = np.zeros(1, dtype=np.int64)  # not read: masked is False
    state = (h0, has_init, lens, masked)
    if spec.cell == "lstm":
        if c0 is None:
            c0 = np.zeros((1, 1), dtype=seq.dtype)
        return ms + run_chunks(lstm_direction, parts, xp, p.wh, p.whr, reverse, fast, out, h_final, c_final,
                               h0, c0, has_init, lens, masked)
    if spec.cell == "gru":
        return ms + run_chunks(gru_direction, parts, xp, p.wh, p.bhn, spec.reset_after, reverse, fast, out, h_final,
                               *state)
    return ms + run_chunks(rnn_direction, parts, xp, p.wh, spec.activation == "relu", reverse, fast, out, h_final,
                           *state)


def run_direction_stepwise(spec, p, seq, out, reverse: bool, h_final, c_final, h0=None, c0=None, lens=None) -> float:
    """:func:`run_direction` for large steps: the input projections and each step's recurrent
    product by NumPy's BLAS (on every core, as the NumPy backend does them), each step's gate
    math in one fused Numba call (one pass instead of NumPy's ten; the rows are too few for
    a thread hand-off per step to pay). Same arguments and result; returns the compile ms."""
    batch, t_len, _ = seq.shape
    dt = seq.dtype
    h, gh = spec.units, p.wx.shape[1]
    xp = input_projections(p, seq)  # (B, T, G·H)
    fast = bool(dt == np.float32)
    hs = np.zeros((batch, p.wh.shape[0]), dtype=dt)  # (B, H_out): h_{t-1}, contiguous for BLAS
    if h0 is not None:
        hs[...] = h0
    lead = 0 if h0 is None else 1  # steps before which h_{t-1} = 0 (no product): the first, without h0
    steps = time_steps(t_len, reverse)

    def held_rows(t):  # rows past their length at step t: their states are held (None: no row)
        if lens is None:
            return None
        rows = np.flatnonzero(lens <= t)
        return rows if rows.size else None

    if spec.cell == "lstm":
        gates = np.empty((batch, gh), dtype=dt)  # (B, 4H)
        cs = np.zeros((batch, h), dtype=dt)  # (B, H)
        if c0 is not None:
            cs[...] = c0
        m = np.empty((batch, h), dtype=dt)  # (B, H): o ⊙ tanh(c_t)
        ms = _compile(lstm_step, (gates, xp, 0, True, cs, m, fast))
        for s, t in enumerate(steps):
            held = held_rows(t)
            if held is not None:
                h_kept, c_kept = hs[held], cs[held]  # (R, ·) copies
            if s + lead:
                np.matmul(hs, p.wh, out=gates)
            lstm_step(gates, xp, t, s + lead == 0, cs, m, fast)
            if p.whr.size:
                np.matmul(m, p.whr, out=hs)  # h_t = (o ⊙ tanh(c_t)) W_hr^T
            else:
                hs, m = m, hs
            if held is not None:
                hs[held], cs[held] = h_kept, c_kept
            out[:, t] = hs
        c_final[...] = cs
    elif spec.cell == "gru" and spec.reset_after:
        rec = np.empty((batch, gh), dtype=dt)  # (B, 3H): h_{t-1} W_h for z, r, n
        ms = _compile(gru_step_after, (rec, xp, 0, True, p.bhn, hs, fast))
        for s, t in enumerate(steps):
            held = held_rows(t)
            h_kept = None if held is None else hs[held]
            if s + lead:
                np.matmul(hs, p.wh, out=rec)
            gru_step_after(rec, xp, t, s + lead == 0, p.bhn, hs, fast)
            if held is not None:
                hs[held] = h_kept
            out[:, t] = hs
    elif spec.cell == "gru":
        wh_zr = np.ascontiguousarray(p.wh[:, : 2 * h])  # (H, 2H)
        wh_n = np.ascontiguousarray(p.wh[:, 2 * h :])  # (H, H)
        zr = np.empty((batch, 2 * h), dtype=dt)  # (B, 2H)
        n = np.empty((batch, h), dtype=dt)  # (B, H)
        rh = np.empty((batch, h), dtype=dt)  # (B, H): r ⊙ h_{t-1}
        ms = _compile(gru_step_gates, (zr, xp, 0, True, hs, rh, fast))
        ms += _compile(gru_step_update, (n, xp, 0, True, zr, hs, fast))
        for s, t in enumerate(steps):
            held = held_rows(t)
            h_kept = None if held is None else hs[held]
            if s + lead:
                np.matmul(hs, wh_zr, out=zr)
            gru_step_gates(zr, xp, t, s + lead == 0, hs, rh, fast)
            if s + lead:
                np.matmul(rh, wh_n, out=n)  # U_n (r ⊙ h_{t-1})
            gru_step_update(n, xp, t, s + lead == 0, zr, hs, fast)
            if held is not None:
                hs[held] = h_kept
            out[:, t] = hs
    else:
        acc = np.empty((batch, h), dtype=dt)  # (B, H)
        relu = spec.activation == "relu"
        ms = _compile(rnn_step, (acc, xp, 0, True, relu, hs, fast))
        for s, t in enumerate(steps):
            held = held_rows(t)
            h_kept = None if held is None else hs[held]
            if s + lead:
                np.matmul(hs, p.wh, out=acc)
            rnn_step(acc, xp, t, s + lead == 0, relu, hs, fast)
            if held is not None:
                hs[held] = h_kept
            out[:, t] = hs
    h_final[...] = hs
    return ms
