"""The NumPy recurrent loops: one layer and one direction over time, from the input
projections (see :mod:`lstmcalc.cells` for the equations and how they are computed)."""

from __future__ import annotations

import numpy as np

from .prepared import Prepared, time_steps


def held_rows(lens, t: int):
    """The batch rows whose sequence has ended before step t (t ≥ length): their states
    are held over the step. None without lengths."""
    if lens is None:
        return None
    held = np.flatnonzero(lens <= t)
    return held if held.size else None


def hold(held, h_new, h_prev) -> None:
    """h_new[held] ← h_prev[held] (zeros when h_prev is None: the zero initial state)."""
    if held is not None:
        h_new[held] = 0 if h_prev is None else h_prev[held]


def gate_sigmoid(half, function: str) -> None:
    """half (B, k·H) holds the gates' halved pre-activations a/2 (prepared.py halves the
    sigmoid-gate columns); in place, the gate values σ(a) for ``function``
    (:data:`lstmcalc.spec.RECURRENT_ACTIVATIONS`):

        sigmoid               ½ tanh(a/2) + ½
        hard_sigmoid_keras2   clip(0.2·a + 0.5, 0, 1)   Keras 2 (backend hard_sigmoid); 0.4·(a/2) = 0.2·a exactly
        hard_sigmoid_keras3   relu6(a + 3) / 6          Keras 3 (ops.hard_sigmoid); 2·(a/2) = a exactly
    """
    if function == "sigmoid":
        np.tanh(half, out=half)
        half *= 0.5
        half += 0.5
    elif function == "hard_sigmoid_keras2":
        half *= 0.4
        half += 0.5
        np.clip(half, 0.0, 1.0, out=half)
    elif function == "hard_sigmoid_keras3":
        half *= 2.0
        half += 3.0
        np.clip(half, 0.0, 6.0, out=half)
        half /= 6.0
    else:  # make_spec admits only the three
        raise ValueError(f"unknown gate function {function!r}")


def lstm_numpy(p: Prepared, xp, out, reverse, h_final, c_final, h0=None, c0=None, lens=None, c_out=None) -> None:
    """xp (B, T, 4H) projections in order [i, f, o, g] (σ columns halved); writes h_t to
    out (B, T, H_out), the final states to h_final (B, H_out) and c_final (B, H), and c_t
    to c_out (B, T, H) when given (MLX returns every step's cell state).
    h0 (B, H_out), c0 (B, H): the initial states (None: zeros). lens (B,): each row's
    length; rows hold their states (and output them) at steps t ≥ length."""
    if p.variant is not None:  # LSTM variants / int8 weights: xp is x itself (cells._run)
        from . import variants

        return variants.run(p.variant, xp, out, reverse, h_final, c_final)
    if p.peep is not None:  # ONNX peepholes: zero initial states, full lengths (forward checks)
        return lstm_peephole_numpy(p, xp, out, reverse, h_final, c_final)
    b, t_len, gh = xp.shape
    h = gh // 4
    gates = np.empty((b, gh), dtype=xp.dtype)  # (B, 4H)
    sig = gates[:, : 3 * h]  # (B, 3H): i, f, o
    i, f, o, g = (gates[:, k * h : (k + 1) * h] for k in range(4))  # (B, H) each
    c = c_final
    c[...] = 0 if c0 is None else c0
    tmp = np.empty((b, h), dtype=xp.dtype)  # (B, H)
    proj = p.whr.size > 0
    h_prev = h0
    for t in time_steps(t_len, reverse):
        held = held_rows(lens, t)
        c_kept = None if held is None else c[held]  # (R, H) copy (fancy indexing)
        if h_prev is None:
            np.copyto(gates, xp[:, t])  # h_0 = 0: no recurrent product
        else:
            np.matmul(h_prev, p.wh, out=gates)
            gates += xp[:, t]
        if p.gate_function == "sigmoid":
            np.tanh(gates, out=gates)  # tanh(a/2) for i, f, o; tanh(a) for g
            sig *= 0.5
            sig += 0.5  # σ(a) = ½ tanh(a/2) + ½
        else:
            gate_sigmoid(sig, p.gate_function)  # i, f, o
            np.tanh(g, out=g)
        c *= f
        np.multiply(i, g, out=tmp)
        c += tmp  # c_t = f ⊙ c_{t-1} + i ⊙ g
        np.tanh(c, out=tmp)
        if proj:
            tmp *= o
            np.matmul(tmp, p.whr, out=out[:, t])  # h_t = (o ⊙ tanh(c_t)) W_hr^T
        else:
            np.multiply(o, tmp, out=out[:, t])  # h_t = o ⊙ tanh(c_t)
        if held is not None:
            c[held] = c_kept
            hold(held, out[:, t], h_prev)
        if c_out is not None:
            c_out[:, t] = c
        h_prev = out[:, t]
    h_final[...] = h_prev


def lstm_peephole_numpy(p: Prepared, xp, out, reverse, h_final, c_final) -> None:
    """The LSTM with ONNX peepholes (Gers & Schmidhuber 2000; onnx Operators.md, LSTM):
    i = σ(a_i + p_i ⊙ c_{t-1}), f = σ(a_f + p_f ⊙ c_{t-1}), o = σ(a_o + p_o ⊙ c_t).
    xp (B, T, 4H) in order [i, f, o, g] with σ columns halved, p.peep (3, H) halved too;
    writes h_t to out (B, T, H), the final states to h_final and c_final (B, H)."""
    b, t_len, gh = xp.shape
    h = gh // 4
    gates = np.empty((b, gh), dtype=xp.dtype)  # (B, 4H)
    i, f, o, g = (gates[:, k * h : (k + 1) * h] for k in range(4))  # (B, H) each
    p_i, p_f, p_o = p.peep  # (H,) each, halved
    c = c_final
    c[...] = 0
    tmp = np.empty((b, h), dtype=xp.dtype)  # (B, H)
    h_prev = None
    for t in time_steps(t_len, reverse):
        if h_prev is None:
            np.copyto(gates, xp[:, t])  # h_0 = 0, c_0 = 0: no recurrent product, no peephole
        else:
            np.matmul(h_prev, p.wh, out=gates)
            gates += xp[:, t]
            np.multiply(p_i, c, out=tmp)
            i += tmp
            np.multiply(p_f, c, out=tmp)
            f += tmp
        for gate in (i, f):
            np.tanh(gate, out=gate)
            gate *= 0.5
            gate += 0.5  # σ(a) = ½ tanh(a/2) + ½
        np.tanh(g, out=g)
        c *= f
        np.multiply(i, g, out=tmp)
        c += tmp  # c_t = f ⊙ c_{t-1} + i ⊙ g
        np.multiply(p_o, c, out=tmp)
        o += tmp  # the output gate peeks at c_t, not c_{t-1}
        np.tanh(o, out=o)
        o *= 0.5
        o += 0.5
        np.tanh(c, out=tmp)
        np.multiply(o, tmp, out=out[:, t])  # h_t = o ⊙ tanh(c_t)
        h_prev = out[:, t]
    h_final[...] = h_prev


def gru_numpy(p: Prepared, xp, out, reverse, h_final, reset_after: bool, h0=None, lens=None) -> None:
    """xp (B, T, 3H) projections in order [z, r, n] (σ columns halved); writes h_t to
    out (B, T, H) and the final state to h_final (B, H). h0 (B, H) or None; lens (B,) or
    None, as for :func:`lstm_numpy`."""
    b, t_len, gh = xp.shape
    h = gh // 3
    dt = xp.dtype
    tmp = np.empty((b, h), dtype=dt)  # (B, H)
    h_prev = h0
    if reset_after:
        rec = np.empty((b, gh), dtype=dt)  # (B, 3H): U h for z, r, n
        zr, z, r, n = rec[:, : 2 * h], rec[:, :h], rec[:, h : 2 * h], rec[:, 2 * h :]
        for t in time_steps(t_len, reverse):
            if h_prev is None:
                rec[...] = 0
            else:
                np.matmul(h_prev, p.wh, out=rec)
            if p.has_bhn:
                n += p.bhn  # U_n h + b_hn
            zr += xp[:, t, : 2 * h]
            gate_sigmoid(zr, p.gate_function)  # z, r = σ(...)
            n *= r
            n += xp[:, t, 2 * h :]
            np.tanh(n, out=n)  # n = tanh(W_n x + b_in + r ⊙ (U_n h + b_hn))
            gru_update(h_prev, z, n, tmp, out[:, t])
            hold(held_rows(lens, t), out[:, t], h_prev)
            h_prev = out[:, t]
    else:
        wh_zr = np.ascontiguousarray(p.wh[:, : 2 * h])  # (H, 2H)
        wh_n = np.ascontiguousarray(p.wh[:, 2 * h :])  # (H, H)
        zr = np.empty((b, 2 * h), dtype=dt)  # (B, 2H)
        z, r = zr[:, :h], zr[:, h:]
        n = np.empty((b, h), dtype=dt)  # (B, H)
        for t in time_steps(t_len, reverse):
            if h_prev is None:
                zr[...] = xp[:, t, : 2 * h]
                n[...] = xp[:, t, 2 * h :]
            else:
                np.matmul(h_prev, wh_zr, out=zr)
                zr += xp[:, t, : 2 * h]
            gate_sigmoid(zr, p.gate_function)
            if h_prev is not None:
                np.multiply(r, h_prev, out=tmp)
                np.matmul(tmp, wh_n, out=n)  # U_n (r ⊙ h)
                n += xp[:, t, 2 * h :]
            np.tanh(n, out=n)
            gru_update(h_prev, z, n, tmp, out[:, t])
            hold(held_rows(lens, t), out[:, t], h_prev)
            h_prev = out[:, t]
    h_final[...] = h_prev


def gru_update(h_prev, z, n, tmp, h_new) -> None:
    """h_t = z ⊙ h_{t-1} + (1 − z) ⊙ n, computed as n + z ⊙ (h_{t-1} − n)."""
    if h_prev is None:
        np.multiply(z, n, out=tmp)
        np.subtract(n, tmp, out=h_new)
    else:
        np.subtract(h_prev, n, out=tmp)
        tmp *= z
        np.add(n, tmp, out=h_new)


def rnn_numpy(p: Prepared, xp, out, reverse, h_final, relu: bool, h0=None, lens=None) -> None:
    """xp (B, T, H); writes h_t to out (B, T, H) and the final state to h_final (B, H).
    h0 (B, H) or None; lens (B,) or None, as for :func:`lstm_numpy`."""
    b, t_len, h = xp.shape
    buf = np.empty((b, h), dtype=xp.dtype)  # (B, H)
    h_prev = h0
    for t in time_steps(t_len, reverse):
        if h_prev is None:
            np.copyto(buf, xp[:, t])
        else:
            np.matmul(h_prev, p.wh, out=buf)
            buf += xp[:, t]
        if relu:
            np.maximum(buf, 0, out=out[:, t])
        else:
            np.tanh(buf, out=out[:, t])
        hold(held_rows(lens, t), out[:, t], h_prev)
        h_prev = out[:, t]
    h_final[...] = h_prev
