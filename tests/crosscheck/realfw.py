"""Running the real Keras 3 and PyTorch layers on NumPy inputs: the one copy of ``run_keras`` and
``run_torch`` the forward, states and convert cross-checks share (test_forward_keras.py,
test_states_keras.py, test_forward_torch.py, test_states_torch.py, test_layer_torch.py,
test_convert.py). What differs between them is a parameter: initial states, a mask or lengths,
the last layer's return_sequences/return_state, a stack built elsewhere.

A *config* ``c`` here is the dict those tests draw: ``cell``, ``units``, ``input_size``,
``layers``, ``bidirectional``, ``bias`` and, where they apply, ``merge_mode``, ``reset_after``,
``activation``, ``proj_size``. Weights come under lstmcalc's keys (``weights_key``); PyTorch's
keys are its own state_dict names. The frameworks are imported inside the functions, after the
test module's importorskip.
"""

from __future__ import annotations

import numpy as np

KERAS_LAYERS = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}
TORCH_MODULES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


# --- Keras ---------------------------------------------------------------------------------------


def keras_layers(c, weights, dtype, batch, time, *, last=None) -> list:
    """The stack as Keras layers, one per layer (Bidirectional where ``c`` is), each returning its
    sequence and final states, built for (batch, time, ·) and loaded with ``set_weights`` from
    ``weights`` (lstmcalc's Keras keys). ``last``: the last layer's return_sequences/return_state."""
    import keras

    from lstmcalc.frameworks import all_tensors, make_spec, weights_key

    kw_spec = dict(cell=c["cell"], framework="keras", layers=c["layers"], bidirectional=c["bidirectional"],
                   bias=c["bias"])
    if c["bidirectional"]:
        kw_spec["merge_mode"] = c["merge_mode"]
    if c["cell"] == "gru":
        kw_spec["reset_after"] = c["reset_after"]
    spec = make_spec(c["units"], c["input_size"], **kw_spec)
    out, width = [], c["input_size"]
    for layer in range(c["layers"]):
        kw = dict(use_bias=c["bias"], return_sequences=True, return_state=True, dtype=dtype)
        if last is not None and layer == c["layers"] - 1:
            kw.update(last)
        if c["cell"] == "gru":
            kw["reset_after"] = c["reset_after"]
        if c["cell"] == "rnn":
            kw["activation"] = c["activation"]
        rnn = getattr(keras.layers, KERAS_LAYERS[c["cell"]])(c["units"], **kw)
        halves = [(rnn, "forward")]
        if c["bidirectional"]:
            rnn = keras.layers.Bidirectional(rnn, merge_mode=c["merge_mode"], dtype=dtype)
            halves = [(rnn.forward_layer, "forward"), (rnn.backward_layer, "backward")]
        rnn.build((batch, time, width))
        for part, direction in halves:
            part.set_weights([weights[weights_key(spec, t)].astype(dtype)
                              for t in all_tensors(spec) if t.layer == layer and t.direction == direction])
        out.append(rnn)
        width = 2 * c["units"] if c["bidirectional"] and c["merge_mode"] == "concat" else c["units"]
    return out


def run_keras_layers(layers, x, *, states=None, mask=None) -> list[list[np.ndarray]]:
    """Each layer on the previous one's sequence (the first on ``x``), from ``states[k]`` (the list
    its ``initial_state`` takes, or None) and with ``mask`` (B, T) when given: every layer's
    returned list, as NumPy ([sequence, h, c] or [sequence, h_fw, c_fw, h_bw, c_bw])."""
    import keras

    results, seq = [], x
    for k, layer in enumerate(layers):
        given = None if states is None else states[k]
        result = layer(seq, mask=mask, initial_state=given)
        result = [keras.ops.convert_to_numpy(r) for r in (result if isinstance(result, (list, tuple)) else [result])]
        results.append(result)
        seq = result[0]
    return results


def run_keras(c, weights, x, dtype, *, states=None, lengths=None, last=None):
    """The stack ``c`` in Keras on ``x`` (B, T, X), each layer from ``states[k]`` (None: zeros) and
    masked past ``lengths`` (B,) (None: every step). Returns the last layer's {output, h, c,
    h_backward, c_backward} (None where it has none), or with ``last`` (its return_sequences /
    return_state) the list the stack returns, as Keras returns it."""
    b, t = x.shape[:2]
    layers = keras_layers(c, weights, dtype, b, t, last=last)
    mask = None if lengths is None else np.arange(t)[None, :] < np.asarray(lengths)[:, None]  # (B, T)
    given = None if states is None else [[s.astype(dtype) for s in layer] for layer in states]
    result = run_keras_layers(layers, x.astype(dtype), states=given, mask=mask)[-1]
    if last is not None:
        return result
    n = 2 if c["cell"] == "lstm" else 1  # states per direction: (h, c) or (h,)
    out = {"output": result[0], "h": result[1], "c": result[2] if n == 2 else None,
           "h_backward": None, "c_backward": None}
    if c["bidirectional"]:
        out["h_backward"] = result[1 + n]
        out["c_backward"] = result[2 + n] if n == 2 else None
    return out


# --- PyTorch -------------------------------------------------------------------------------------


def torch_module(c):
    """torch.nn.LSTM / GRU / RNN for ``c`` (batch_first=True), float32, default weights."""
    import torch

    kw = dict(num_layers=c["layers"], bias=c["bias"], batch_first=True, bidirectional=c["bidirectional"])
    if c.get("proj_size"):
        kw["proj_size"] = c["proj_size"]
    if c["cell"] == "rnn":
        kw["nonlinearity"] = c["activation"]
    return getattr(torch.nn, TORCH_MODULES[c["cell"]])(c["input_size"], c["units"], **kw)


def run_torch_module(module, x, *, hx=None, lengths=None):
    """``module(x, hx)`` on NumPy ``x`` (B, T, X), through ``pack_padded_sequence(x, lengths,
    batch_first=True, enforce_sorted=False)`` and back (``pad_packed_sequence(..., total_length=T)``)
    when ``lengths`` is given: (output, h_n, c_n or None) as NumPy."""
    import torch

    tensor = torch.from_numpy(x)
    with torch.no_grad():
        if lengths is not None:
            packed = torch.nn.utils.rnn.pack_padded_sequence(tensor, torch.from_numpy(np.asarray(lengths)),
                                                             batch_first=True, enforce_sorted=False)
            out, states = module(packed, hx)
            out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        else:
            out, states = module(tensor, hx)
    if isinstance(states, tuple):  # LSTM: (h_n, c_n)
        return out.numpy(), states[0].numpy(), states[1].numpy()
    return out.numpy(), states.numpy(), None


def run_torch(c, weights, x, dtype, *, hx=None, lengths=None):
    """The module for ``c`` in ``dtype``, loaded with ``weights`` (strict: our names are exactly
    torch's), on ``x`` from ``hx`` with ``lengths``: (output, h_n, c_n or None)."""
    import torch

    module = torch_module(c).to(getattr(torch, dtype))
    module.load_state_dict({k: torch.from_numpy(v.astype(dtype)) for k, v in weights.items()}, strict=True)
    return run_torch_module(module, x.astype(dtype), hx=hx, lengths=lengths)
