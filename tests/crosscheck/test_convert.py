"""convert_weights against the real frameworks: build one framework's layer with random weights,
convert, load the result into the other framework's real layer, run both on the same input.

Every weight and every bias is random and different per gate (a swapped gate or a bias in
the wrong row changes the outputs); PyTorch's bias_ih and bias_hh differ. Tolerance:
1e-12 max abs in float64, except Keras SimpleRNN, compared in float32 at 1e-5 (below).
"""

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from realfw import run_keras_layers, run_torch_module  # noqa: E402

from lstmcalc.converting import convert_weights  # noqa: E402
from lstmcalc.spec import SpecError  # noqa: E402

KERAS = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}
TORCH = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}
WEIGHT_NAMES = ("kernel", "recurrent_kernel", "bias")
UNITS, INPUT, BATCH, TIME = 3, 2, 2, 5
SHAPES = [(1, False), (1, True), (2, False), (2, True), (3, True)]  # (layers, bidirectional)


def precision(cell):
    """(dtype, max abs error) for comparing this cell.

    Keras 3's ``keras.ops.matmul`` on the torch backend computes two torch.float64 tensors
    in float32 (``keras.src.backend.common.dtypes.result_type`` does not know torch dtypes
    and falls back to float32), and ``SimpleRNNCell.call`` uses ``ops.matmul`` — so a
    float64 Keras SimpleRNN is only float32-accurate (~1e-7). LSTM and GRU(reset_after)
    go through ``backend.lstm`` / ``backend.gru``, which use torch directly: float64 holds.
    """
    return (np.float32, 1e-5) if cell == "rnn" else (np.float64, 1e-12)


def keras_stack(cell, layers, bidirectional, bias, dtype):
    """Built Keras layers, each returning its whole sequence and its final states."""
    out = []
    width = INPUT
    for _ in range(layers):
        base = getattr(keras.layers, KERAS[cell])(
            UNITS, use_bias=bias, return_sequences=True, return_state=True, dtype=np.dtype(dtype).name
        )
        layer = keras.layers.Bidirectional(base, dtype=np.dtype(dtype).name) if bidirectional else base
        layer.build((BATCH, TIME, width))
        out.append(layer)
        width = 2 * UNITS if bidirectional else UNITS
    return out


def directions(layer, bidirectional):
    return [layer.forward_layer, layer.backward_layer] if bidirectional else [layer]


def keras_key(k, direction, name, layers, bidirectional):
    if layers == 1 and not bidirectional:
        return name
    return f"layer{k}/{direction}/{name}"


def keras_result(stack, x, cell, bidirectional):
    """(last layer's sequence (B, T, D·H), {(layer, direction, state): (B, H)}) of the Keras stack."""
    states = {}
    per_direction = 2 if cell == "lstm" else 1  # (h, c) or (h,)
    results = run_keras_layers(stack, x)
    for k, (_, *finals) in enumerate(results):
        for d, direction in enumerate(("forward", "backward")[: 2 if bidirectional else 1]):
            for s, name in enumerate(("h", "c")[:per_direction]):
                states[(k, direction, name)] = finals[d * per_direction + s]
    return results[-1][0], states


def torch_result(module, x, cell, layers, bidirectional):
    """The same form for the torch module: h_n, c_n (L·D, B, H) split by layer and direction."""
    seq, h_n, c_n = run_torch_module(module, x)
    states = {}
    dirs = ("forward", "backward")[: 2 if bidirectional else 1]
    for k in range(layers):
        for d, direction in enumerate(dirs):
            states[(k, direction, "h")] = h_n[k * len(dirs) + d]  # h_n: (L·D, B, H)
            if c_n is not None:
                states[(k, direction, "c")] = c_n[k * len(dirs) + d]
    return seq, states


def torch_module(cell, layers, bidirectional, bias, dtype):
    module = TORCH[cell](INPUT, UNITS, num_layers=layers, bias=bias, batch_first=True, bidirectional=bidirectional)
    return module.double() if dtype == np.float64 else module.float()


def assert_same(keras_out, torch_out, atol):
    k_seq, k_states = keras_out
    t_seq, t_states = torch_out
    assert k_seq.shape == t_seq.shape
    np.testing.assert_allclose(k_seq, t_seq, rtol=0, atol=atol)
    assert set(k_states) == set(t_states)
    for key in k_states:
        np.testing.assert_allclose(k_states[key], t_states[key], rtol=0, atol=atol, err_msg=str(key))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers, bidirectional", SHAPES)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_keras_to_torch(cell, layers, bidirectional, bias):
    dtype, atol = precision(cell)
    rng = np.random.default_rng(10 * layers + bidirectional)
    stack = keras_stack(cell, layers, bidirectional, bias, dtype)
    weights = {}
    for k, layer in enumerate(stack):
        for direction, sub in zip(("forward", "backward"), directions(layer, bidirectional)):
            values = [rng.uniform(-1, 1, w.shape).astype(dtype) for w in sub.get_weights()]
            sub.set_weights(values)
            for name, value in zip(WEIGHT_NAMES, values):
                weights[keras_key(k, direction, name, layers, bidirectional)] = value

    said = {"reset_after": True} if cell == "gru" and not bias else {}  # keras_stack's GRU; weights cannot show it
    converted = convert_weights(weights, cell=cell, source="keras", target="torch", **said)
    module = torch_module(cell, layers, bidirectional, bias, dtype)
    module.load_state_dict({k: torch.from_numpy(v) for k, v in converted.items()}, strict=True)

    x = rng.standard_normal((BATCH, TIME, INPUT)).astype(dtype)
    assert_same(keras_result(stack, x, cell, bidirectional), torch_result(module, x, cell, layers, bidirectional), atol)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers, bidirectional", SHAPES)
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_torch_to_keras(cell, layers, bidirectional, bias):
    dtype, atol = precision(cell)
    rng = np.random.default_rng(100 + 10 * layers + bidirectional)
    module = torch_module(cell, layers, bidirectional, bias, dtype)
    with torch.no_grad():
        for p in module.parameters():  # bias_ih and bias_hh random and different
            p.copy_(torch.from_numpy(rng.uniform(-1, 1, tuple(p.shape)).astype(dtype)))
    state = {k: v.numpy() for k, v in module.state_dict().items()}
    if bias:
        assert not np.allclose(state["bias_ih_l0"], state["bias_hh_l0"])

    converted = convert_weights(state, cell=cell, source="torch", target="keras")
    stack = keras_stack(cell, layers, bidirectional, bias, dtype)
    for k, layer in enumerate(stack):
        for direction, sub in zip(("forward", "backward"), directions(layer, bidirectional)):
            names = WEIGHT_NAMES if bias else WEIGHT_NAMES[:2]
            sub.set_weights([converted[keras_key(k, direction, n, layers, bidirectional)] for n in names])
    assert len(converted) == sum(len(layer.weights) for layer in stack)

    x = rng.standard_normal((BATCH, TIME, INPUT)).astype(dtype)
    assert_same(keras_result(stack, x, cell, bidirectional), torch_result(module, x, cell, layers, bidirectional), atol)


def test_real_keras_gru_without_reset_after_is_refused():
    layer = keras.layers.GRU(UNITS, reset_after=False)
    layer.build((BATCH, TIME, INPUT))
    kernel, recurrent, bias = layer.get_weights()
    with pytest.raises(SpecError, match="no PyTorch equivalent"):
        convert_weights({"kernel": kernel, "recurrent_kernel": recurrent, "bias": bias},
                        cell="gru", source="keras", target="torch")


def test_real_torch_lstm_with_projection_is_refused():
    module = torch.nn.LSTM(INPUT, UNITS, proj_size=2, batch_first=True)
    state = {k: v.detach().numpy() for k, v in module.state_dict().items()}
    with pytest.raises(SpecError, match="no Keras equivalent"):
        convert_weights(state, cell="lstm", source="torch", target="keras")
