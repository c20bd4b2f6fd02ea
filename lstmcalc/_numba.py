"""Numba kernels for the recurrent loop over time: the only module that imports numba.

Each kernel runs one layer and one direction over the whole sequence, from the input
projections that :mod:`lstmcalc.cells` has already computed with one matrix product, so
per time step it does the recurrent product (its own loops, no BLAS) and the gate math
with no Python overhead. That wins where NumPy's per-call overhead dominates: small H,
small B, long T (see :func:`lstmcalc.cells.prefers_numba`).

The kernels take the weights :func:`lstmcalc.cells.prepare` makes: gates in the internal
order (LSTM ``[i, f, o, g]``, GRU ``[z, r, n]``), the sigmoid gates' columns halved, so
σ(a) = ½·tanh(a') + ½ with a' the buffer value, exactly as the NumPy loop computes it; the
two backends agree to ~1e-15 in float64 (sums in another order).

Caching: ``cache=True`` writes the compiled kernels next to this file (``__pycache__``),
so a second process loads them instead of compiling. When the package folder is not
writable, Numba itself falls back to its user-wide cache (``~/.cache/numba`` or
``$NUMBA_CACHE_DIR``; numba.core.caching's ``UserWideCacheLocator``).
"""

from __future__ import annotations

import math
import time as _time

import numba
import numpy as np

JIT = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy", "boundscheck": False}


@numba.njit(**JIT)
def lstm_direction(xp, wh, whr, reverse, out, h_final, c_final):  # pragma: no cover (compiled)
    """xp (T, B, 4H) [i, f, o, g], wh (H_out, 4H), whr (H, P) or (0, 0); writes h_t to
    out (T, B, H_out) and the final states to h_final (B, H_out), c_final (B, H)."""
    t_len, batch, gh = xp.shape
    h = gh // 4
    h_out = wh.shape[0]
    proj = whr.shape[0] > 0
    gates = np.empty(gh, dtype=xp.dtype)  # (4H,)
    m = np.empty(h, dtype=xp.dtype)  # (H,): o ⊙ tanh(c_t)
    hs = np.zeros((batch, h_out), dtype=xp.dtype)  # (B, H_out)
    cs = np.zeros((batch, h), dtype=xp.dtype)  # (B, H)
    for s in range(t_len):
        t = t_len - 1 - s if reverse else s
        for b in range(batch):
            for j in range(gh):
                gates[j] = xp[t, b, j]
            if s > 0:
                for k in range(h_out):
                    hk = hs[b, k]
                    for j in range(gh):
                        gates[j] += hk * wh[k, j]
            for j in range(gh):
                gates[j] = math.tanh(gates[j])
            for j in range(h):
                i = 0.5 * gates[j] + 0.5
                f = 0.5 * gates[h + j] + 0.5
                o = 0.5 * gates[2 * h + j] + 0.5
                c = f * cs[b, j] + i * gates[3 * h + j]
                cs[b, j] = c
                m[j] = o * math.tanh(c)
            if proj:
                for q in range(h_out):
                    hs[b, q] = 0.0
                for j in range(h):
                    mj = m[j]
                    for q in range(h_out):
                        hs[b, q] += mj * whr[j, q]
            else:
                for j in range(h):
                    hs[b, j] = m[j]
            for q in range(h_out):
                out[t, b, q] = hs[b, q]
    h_final[:, :] = hs
    c_final[:, :] = cs


@numba.njit(**JIT)
def gru_direction(xp, wh, bhn, reset_after, reverse, out, h_final):  # pragma: no cover (compiled)
    """xp (T, B, 3H) [z, r, n], wh (H, 3H), bhn (H,); writes h_t to out (T, B, H) and the
    final state to h_final (B, H). reset_after: n = tanh(x_n + r ⊙ (U_n h + b_hn)), else
    n = tanh(x_n + U_n (r ⊙ h))."""
    t_len, batch, gh = xp.shape
    h = gh // 3
    rec = np.empty(gh, dtype=xp.dtype)  # (3H,)
    rh = np.empty(h, dtype=xp.dtype)  # (H,)
    hs = np.zeros((batch, h), dtype=xp.dtype)  # (B, H)
    for s in range(t_len):
        t = t_len - 1 - s if reverse else s
        for b in range(batch):
            if reset_after:
                for j in range(gh):
                    rec[j] = 0.0
                if s > 0:
                    for k in range(h):
                        hk = hs[b, k]
                        for j in range(gh):
                            rec[j] += hk * wh[k, j]
                for j in range(2 * h):
                    rec[j] = 0.5 * math.tanh(rec[j] + xp[t, b, j]) + 0.5  # z, r
                for j in range(h):
                    rec[2 * h + j] = math.tanh((rec[2 * h + j] + bhn[j]) * rec[h + j] + xp[t, b, 2 * h + j])
            else:
                for j in range(2 * h):
                    rec[j] = 0.0
                if s > 0:
                    for k in range(h):
                        hk = hs[b, k]
                        for j in range(2 * h):
                            rec[j] += hk * wh[k, j]
                for j in range(2 * h):
                    rec[j] = 0.5 * math.tanh(rec[j] + xp[t, b, j]) + 0.5  # z, r
                for j in range(h):
                    rec[2 * h + j] = 0.0
                    rh[j] = rec[h + j] * hs[b, j]
                if s > 0:
                    for k in range(h):
                        rk = rh[k]
                        for j in range(h):
                            rec[2 * h + j] += rk * wh[k, 2 * h + j]
                for j in range(h):
                    rec[2 * h + j] = math.tanh(rec[2 * h + j] + xp[t, b, 2 * h + j])
            for j in range(h):
                n = rec[2 * h + j]
                hs[b, j] = n + rec[j] * (hs[b, j] - n)  # z ⊙ h + (1 − z) ⊙ n
                out[t, b, j] = hs[b, j]
    h_final[:, :] = hs


@numba.njit(**JIT)
def rnn_direction(xp, wh, relu, reverse, out, h_final):  # pragma: no cover (compiled)
    """xp (T, B, H), wh (H, H); h_t = act(x_t + h_{t-1} U) to out (T, B, H), h_final (B, H)."""
    t_len, batch, h = xp.shape
    acc = np.empty(h, dtype=xp.dtype)  # (H,)
    hs = np.zeros((batch, h), dtype=xp.dtype)  # (B, H)
    for s in range(t_len):
        t = t_len - 1 - s if reverse else s
        for b in range(batch):
            for j in range(h):
                acc[j] = xp[t, b, j]
            if s > 0:
                for k in range(h):
                    hk = hs[b, k]
                    for j in range(h):
                        acc[j] += hk * wh[k, j]
            for j in range(h):
                v = acc[j]
                if relu:
                    v = v if v > 0.0 else 0.0
                else:
                    v = math.tanh(v)
                hs[b, j] = v
                out[t, b, j] = v
    h_final[:, :] = hs


def _call(kernel, *args) -> float:
    """Run ``kernel``; return the ms spent compiling it (or loading it from the cache) for
    these argument types, 0.0 when this process already had it."""
    sig = tuple(numba.typeof(a) for a in args)
    ms = 0.0
    if sig not in kernel.overloads:
        start = _time.perf_counter()
        kernel.compile(sig)
        ms = (_time.perf_counter() - start) * 1e3
    kernel(*args)
    return ms


def run_direction(spec, p, xp, out, reverse: bool, h_final, c_final) -> float:
    """One layer and direction of ``spec`` with prepared weights ``p`` (see
    :func:`lstmcalc.cells.prepare`); returns the compile/cache-load ms."""
    if spec.cell == "lstm":
        return _call(lstm_direction, xp, p.wh, p.whr, reverse, out, h_final, c_final)
    if spec.cell == "gru":
        return _call(gru_direction, xp, p.wh, p.bhn, spec.reset_after, reverse, out, h_final)
    return _call(rnn_direction, xp, p.wh, spec.activation == "relu", reverse, out, h_final)
