"""The ONNX LSTM / GRU / RNN operators in plain NumPy, written from the operator spec
(onnx ``docs/Operators.md``, the same text as ``onnx.defs.get_schema("LSTM").doc``), and
helpers that build one-node and stacked models with ``onnx.helper`` and run them in
onnxruntime. Shared by the ONNX cross-checks.

Nothing here imports lstmcalc: these are the independent facts the tests compare against.
The spec's names are kept (W, R, B, P, Wb, Rb, ``linear_before_reset``), and its gate
letters: LSTM i, o, f, c (c: the cell gate, i.e. the candidate; the cell *state* is C),
GRU z, r, h (h: the hidden gate, the candidate; the hidden *state* is H).

Equations (spec, default activations f = Sigmoid, g = Tanh, h = Tanh)::

    LSTM  it = f(Xt Wi^T + Ht-1 Ri^T + Pi (.) Ct-1 + Wbi + Rbi)
          ft = f(Xt Wf^T + Ht-1 Rf^T + Pf (.) Ct-1 + Wbf + Rbf)
          ct = g(Xt Wc^T + Ht-1 Rc^T + Wbc + Rbc)
          Ct = ft (.) Ct-1 + it (.) ct
          ot = f(Xt Wo^T + Ht-1 Ro^T + Po (.) Ct + Wbo + Rbo)
          Ht = ot (.) h(Ct)
    GRU   zt = f(Xt Wz^T + Ht-1 Rz^T + Wbz + Rbz)
          rt = f(Xt Wr^T + Ht-1 Rr^T + Wbr + Rbr)
          ht = g(Xt Wh^T + (rt (.) Ht-1) Rh^T + Rbh + Wbh)        linear_before_reset = 0
          ht = g(Xt Wh^T + rt (.) (Ht-1 Rh^T + Rbh) + Wbh)        linear_before_reset != 0
          Ht = (1 - zt) (.) ht + zt (.) Ht-1
    RNN   Ht = f(Xt Wi^T + Ht-1 Ri^T + Wbi + Rbi)                 (f = Tanh)

``clip`` bounds "the input of activations" to [-clip, clip]: here every gate's
pre-activation (what f and g receive; the tests show onnxruntime does not clip Ct before h).
``input_forget`` = 1 couples the gates: ft = 1 - it (onnxruntime's reading; the spec says
only "couple the input and forget gates").
"""

from __future__ import annotations

import numpy as np

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
ACTIVATION_COUNT = {"LSTM": 3, "GRU": 2, "RNN": 1}  # per direction
DEFAULT_ACTIVATIONS = {"LSTM": ("Sigmoid", "Tanh", "Tanh"), "GRU": ("Sigmoid", "Tanh"), "RNN": ("Tanh",)}

# spec's activation list; (function, takes alpha, takes beta, default alpha, default beta)
ACTIVATIONS = {
    "Relu": (lambda x, a, b: np.maximum(x, 0), False, False, None, None),
    "Tanh": (lambda x, a, b: np.tanh(x), False, False, None, None),
    "Sigmoid": (lambda x, a, b: 1 / (1 + np.exp(-x)), False, False, None, None),
    "Affine": (lambda x, a, b: a * x + b, True, True, 1.0, 0.0),
    "LeakyRelu": (lambda x, a, b: np.where(x >= 0, x, a * x), True, False, 0.01, None),
    "ThresholdedRelu": (lambda x, a, b: np.where(x >= a, x, 0), True, False, 1.0, None),
    "ScaledTanh": (lambda x, a, b: a * np.tanh(b * x), True, True, 1.0, 1.0),
    "HardSigmoid": (lambda x, a, b: np.clip(a * x + b, 0, 1), True, True, 0.2, 0.5),
    "Elu": (lambda x, a, b: np.where(x >= 0, x, a * (np.exp(x) - 1)), True, False, 1.0, None),
    "Softsign": (lambda x, a, b: x / (1 + np.abs(x)), False, False, None, None),
    "Softplus": (lambda x, a, b: np.log1p(np.exp(x)), False, False, None, None),
}


def _activation_functions(op, activations, alpha, beta, D):
    """One list of callables per direction, consuming alpha/beta values in order, one per
    function that takes the parameter (the defaults otherwise)."""
    names = list(activations) if activations is not None else list(DEFAULT_ACTIVATIONS[op]) * D
    if len(names) != ACTIVATION_COUNT[op] * D:
        raise ValueError(f"{op} takes {ACTIVATION_COUNT[op] * D} activations, got {names}")
    alphas, betas = list(alpha or []), list(beta or [])
    funcs = []
    for name in names:
        fn, takes_a, takes_b, da, db = ACTIVATIONS[name]
        a = alphas.pop(0) if takes_a and alphas else da
        b = betas.pop(0) if takes_b and betas else db
        funcs.append(lambda x, fn=fn, a=a, b=b: fn(x, a, b))
    n = ACTIVATION_COUNT[op]
    return [funcs[d * n:(d + 1) * n] for d in range(D)]


def onnx_reference(op, X, W, R, B=None, P=None, initial_h=None, initial_c=None, *, hidden_size=None,
                   direction="forward", layout=0, linear_before_reset=0, clip=None, activations=None,
                   activation_alpha=None, activation_beta=None, input_forget=0):
    """Outputs (Y, Y_h[, Y_c]) of one ONNX ``op`` node ("LSTM" | "GRU" | "RNN"), computed in
    X's dtype.

    X [T, B, X] (layout 0) or [B, T, X] (layout 1); W [D, G·H, X]; R [D, G·H, H];
    B [D, 2·G·H]; P [D, 3H] (LSTM); initial_h / initial_c [D, B, H] (layout 0) or
    [B, D, H] (layout 1). Returns Y [T, D, B, H] / [B, T, D, H], Y_h and Y_c [D, B, H] /
    [B, D, H]. ``sequence_lens`` is not modelled (every sequence runs T steps).
    """
    dtype = X.dtype
    G = GATES[op]
    D = 2 if direction == "bidirectional" else 1
    H = R.shape[-1]
    if hidden_size is not None:
        assert hidden_size == H, (hidden_size, R.shape)
    assert W.shape[:2] == (D, G * H) and R.shape == (D, G * H, H), (W.shape, R.shape, D, G, H)
    if layout == 1:
        X = X.swapaxes(0, 1)  # (T, B, X)
        initial_h = None if initial_h is None else initial_h.swapaxes(0, 1)
        initial_c = None if initial_c is None else initial_c.swapaxes(0, 1)
    T, batch = X.shape[0], X.shape[1]
    if B is None:
        B = np.zeros((D, 2 * G * H), dtype)
    if P is None:
        P = np.zeros((D, 3 * H), dtype)
    if initial_h is None:
        initial_h = np.zeros((D, batch, H), dtype)
    if initial_c is None:
        initial_c = np.zeros((D, batch, H), dtype)
    funcs = _activation_functions(op, activations, activation_alpha, activation_beta, D)

    def clipped(a):
        return a if clip is None else np.clip(a, -clip, clip)

    Y = np.zeros((T, D, batch, H), dtype)
    Y_h = np.zeros((D, batch, H), dtype)
    Y_c = np.zeros((D, batch, H), dtype)
    for d in range(D):
        reverse = direction == "reverse" or d == 1
        steps = range(T - 1, -1, -1) if reverse else range(T)
        Wd, Rd = W[d], R[d]
        Wb, Rb = B[d, :G * H], B[d, G * H:]
        Ht, Ct = initial_h[d], initial_c[d]
        if op == "LSTM":
            f, g, h = funcs[d]
            Wi, Wo, Wf, Wc = np.split(Wd, 4)
            Ri, Ro, Rf, Rc = np.split(Rd, 4)
            Wbi, Wbo, Wbf, Wbc = np.split(Wb, 4)
            Rbi, Rbo, Rbf, Rbc = np.split(Rb, 4)
            Pi, Po, Pf = np.split(P[d], 3)
            for t in steps:
                Xt = X[t]
                it = f(clipped(Xt @ Wi.T + Ht @ Ri.T + Pi * Ct + Wbi + Rbi))
                if input_forget:
                    ft = 1 - it
                else:
                    ft = f(clipped(Xt @ Wf.T + Ht @ Rf.T + Pf * Ct + Wbf + Rbf))
                ct = g(clipped(Xt @ Wc.T + Ht @ Rc.T + Wbc + Rbc))
                Ct = ft * Ct + it * ct
                ot = f(clipped(Xt @ Wo.T + Ht @ Ro.T + Po * Ct + Wbo + Rbo))
                Ht = ot * h(Ct)
                Y[t, d] = Ht
        elif op == "GRU":
            f, g = funcs[d]
            Wz, Wr, Wh = np.split(Wd, 3)
            Rz, Rr, Rh = np.split(Rd, 3)
            Wbz, Wbr, Wbh = np.split(Wb, 3)
            Rbz, Rbr, Rbh = np.split(Rb, 3)
            for t in steps:
                Xt = X[t]
                zt = f(clipped(Xt @ Wz.T + Ht @ Rz.T + Wbz + Rbz))
                rt = f(clipped(Xt @ Wr.T + Ht @ Rr.T + Wbr + Rbr))
                if linear_before_reset:
                    ht = g(clipped(Xt @ Wh.T + rt * (Ht @ Rh.T + Rbh) + Wbh))
                else:
                    ht = g(clipped(Xt @ Wh.T + (rt * Ht) @ Rh.T + Rbh + Wbh))
                Ht = (1 - zt) * ht + zt * Ht
                Y[t, d] = Ht
        else:
            (f,) = funcs[d]
            for t in steps:
                Ht = f(clipped(X[t] @ Wd.T + Ht @ Rd.T + Wb + Rb))
                Y[t, d] = Ht
        Y_h[d], Y_c[d] = Ht, Ct
    if layout == 1:
        Y, Y_h, Y_c = Y.transpose(2, 0, 1, 3), Y_h.swapaxes(0, 1), Y_c.swapaxes(0, 1)
    return (Y, Y_h, Y_c) if op == "LSTM" else (Y, Y_h)


def stacked_reference(op, X, layers, **attrs):
    """A stack of nodes as ``write_onnx_model`` documents it: layer k's Y [T, D, B, H] becomes
    layer k + 1's X [T, B, D·H]; returns (last Y, Y_h [L·D, B, H][, Y_c]). Layout 0 only."""
    outs = []
    x = X
    for tensors in layers:
        out = onnx_reference(op, x, **tensors, **attrs)
        outs.append(out)
        Y = out[0]
        x = Y.transpose(0, 2, 1, 3).reshape(Y.shape[0], Y.shape[2], -1)
    states = [np.concatenate([o[k] for o in outs], axis=0) for k in range(1, len(outs[0]))]
    return (outs[-1][0], *states)


# --- random weights and models ----------------------------------------------------------------


def random_tensors(rng, op, hidden_size, input_size, D, *, bias=True, peepholes=False, dtype="float32"):
    """{W, R[, B][, P]} in the operator's shapes, every value random (so every gate and both
    bias halves differ)."""
    G, H = GATES[op], hidden_size
    t = {
        "W": rng.uniform(-1, 1, (D, G * H, input_size)),
        "R": rng.uniform(-1, 1, (D, G * H, H)),
    }
    if bias:
        t["B"] = rng.uniform(-1, 1, (D, 2 * G * H))
    if peepholes:
        t["P"] = rng.uniform(-1, 1, (D, 3 * H))
    return {k: v.astype(dtype) for k, v in t.items()}


def single_node_model(op, tensors, *, input_size, hidden_size, direction="forward", layout=0, attrs=None,
                      states=False, dtype="float32", opset=22):
    """A one-node model built with onnx.helper: graph inputs X (and initial_h / initial_c when
    ``states``), the weights as initializers, outputs Y, Y_h[, Y_c]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    elem = TensorProto.FLOAT if dtype == "float32" else TensorProto.DOUBLE
    D = 2 if direction == "bidirectional" else 1
    H = hidden_size
    slots = {"LSTM": ["X", "W", "R", "B", "sequence_lens", "initial_h", "initial_c", "P"],
             "GRU": ["X", "W", "R", "B", "sequence_lens", "initial_h"],
             "RNN": ["X", "W", "R", "B", "sequence_lens", "initial_h"]}[op]
    present = {"X", *tensors}
    if states:
        present |= {"initial_h"} | ({"initial_c"} if op == "LSTM" else set())
    names = [s if s in present else "" for s in slots]
    while names[-1] == "":
        names.pop()
    outputs = ["Y", "Y_h", "Y_c"] if op == "LSTM" else ["Y", "Y_h"]
    node_attrs = {"hidden_size": H, "direction": direction, "layout": layout, **(attrs or {})}
    node = helper.make_node(op, names, outputs, **node_attrs)
    inits = [numpy_helper.from_array(np.asarray(v, dtype), k) for k, v in tensors.items()]
    x_shape = ["T", "B", input_size] if layout == 0 else ["B", "T", input_size]
    s_shape = [D, "B", H] if layout == 0 else ["B", D, H]
    y_shape = ["T", D, "B", H] if layout == 0 else ["B", "T", D, H]
    inputs = [helper.make_tensor_value_info("X", elem, x_shape)]
    if states:
        inputs += [helper.make_tensor_value_info(s, elem, s_shape) for s in ("initial_h", "initial_c")[: 2 if op == "LSTM" else 1]]
    outs = [helper.make_tensor_value_info("Y", elem, y_shape)]
    outs += [helper.make_tensor_value_info(o, elem, s_shape) for o in outputs[1:]]
    graph = helper.make_graph([node], f"one_{op}", inputs, outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    return model


def ort_session(model_or_path):
    """An onnxruntime CPU session on one thread (the machine is shared)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    source = model_or_path.SerializeToString() if hasattr(model_or_path, "SerializeToString") else str(model_or_path)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run_ort(model_or_path, feeds: dict) -> list:
    """Run every output of the model on ``feeds`` in onnxruntime."""
    return ort_session(model_or_path).run(None, feeds)
