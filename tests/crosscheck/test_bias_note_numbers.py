"""The numbers a convention's own bias sentence states reach ``--json`` (note_numbers) and
equal what the real frameworks hold: Flax nnx's GRUCell against Keras' reset-after GRU and
Flax linen's GRUCell; PyTorch's LSTMCell/GRUCell bias vectors; mlx.nn's, equinox.nn's and Flax
linen/nnx cells' biases; Keras 2's CuDNN layers against their source (TensorFlow is not installed
here, and no Keras 2 file is in tests/fixtures). Skips without the frameworks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import invoke

# every name a convention's bias sentence states, each compared below with the real frameworks
MEASURED_THERE = {"bias_vector_params", "input_bias_params", "keras_bias_params", "linen_bias_params",
                  "fewer_than_keras", "fewer_than_linen", "bias_params", "recurrent_bias_params", "loaded_fewer_params"}


def note_numbers(*args) -> dict:
    r = invoke("breakdown", *args, "--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    note = next(k for k, text in enumerate(data["notes"]) if "bias" in text and ("nnx" in text or "bias_ih" in text))
    return {n["name"]: n["value"] for n in data["note_numbers"][note]}


def bias_size(tree: dict) -> int:
    return sum(int(np.size(v)) for k, v in tree.items() if k.endswith("bias") or k.split("/")[-1] == "bias")


@pytest.mark.parametrize("h, x", [(2, 1), (5, 3)])
def test_flax_nnx_gru_bias_sentence_numbers_are_the_frameworks(h, x):
    keras = pytest.importorskip("keras")
    jax = pytest.importorskip("jax")
    pytest.importorskip("flax")
    from flax import linen, nnx, traverse_util

    numbers = note_numbers("-u", str(h), "-x", str(x), "-f", "flax_nnx", "--cell", "gru")
    layer = keras.layers.GRU(h)  # reset_after=True, Keras 3's default
    layer.build((None, None, x))
    keras_bias = int(np.size(keras.ops.convert_to_numpy(layer.cell.bias)))
    cell = linen.GRUCell(features=h)
    carry = cell.initialize_carry(jax.random.key(1), (1, x))
    params = cell.init(jax.random.key(0), carry, np.zeros((1, x), np.float32))["params"]
    linen_bias = bias_size(traverse_util.flatten_dict(params, sep="/"))
    nnx_state = nnx.to_pure_dict(nnx.state(nnx.GRUCell(x, h, rngs=nnx.Rngs(0)), nnx.Param))
    nnx_bias = bias_size(traverse_util.flatten_dict(nnx_state, sep="/"))
    assert set(numbers) <= MEASURED_THERE
    assert numbers == {"input_bias_params": nnx_bias, "keras_bias_params": keras_bias,
                       "fewer_than_keras": keras_bias - nnx_bias, "linen_bias_params": linen_bias,
                       "fewer_than_linen": linen_bias - nnx_bias}


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_torch_cell_bias_vector_is_the_cells(cell):
    torch = pytest.importorskip("torch")
    module = {"lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell, "rnn": torch.nn.RNNCell}[cell](3, 4)
    numbers = note_numbers("-u", "4", "-x", "3", "-f", "torch_cell", "--cell", cell)
    assert set(numbers) <= MEASURED_THERE
    assert numbers == {"bias_vector_params": module.bias_ih.numel()} == {"bias_vector_params": module.bias_hh.numel()}


def numbers_of(note_start: str, *args, command: str = "breakdown") -> dict:
    """{name: value} of the numbers of the note (breakdown) or answer (explain) that starts with
    ``note_start``, in ``--json``; each name stated with one value."""
    r = invoke(command, *args, "--json")
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    if command == "breakdown":
        found = [numbers for text, numbers in zip(data["notes"], data["note_numbers"]) if note_start in text]
    else:
        found = [q["numbers"] for q in data["questions"] if note_start in q["answer"]]
    assert len(found) == 1, f"{len(found)} notes with {note_start!r}"
    out = {}
    for n in found[0]:
        value = tuple(n["value"]) if isinstance(n["value"], list) else n["value"]
        assert out.setdefault(n["name"], value) == value, n
    return out


def _size(a) -> int:
    return int(np.size(a))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("h, x", [(4, 3), (7, 2)])
def test_mlx_bias_sentence_numbers_are_mlx_nn(cell, h, x):
    pytest.importorskip("mlx.core")
    nn = pytest.importorskip("mlx.nn")
    from mlx.utils import tree_flatten

    module = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell](x, h)
    params = dict(tree_flatten(module.parameters()))
    numbers = numbers_of("MLX", "-u", str(h), "-x", str(x), "-f", "mlx", "--cell", cell)
    assert set(numbers) <= MEASURED_THERE
    if cell == "gru":  # b on the input projection, bhn inside r ⊙ (...)
        assert numbers == {"input_bias_params": _size(params["b"]), "recurrent_bias_params": _size(params["bhn"])}
    else:
        assert numbers == {"bias_params": _size(params["bias"])}
    assert sum(_size(v) for k, v in params.items() if k in ("bias", "b", "bhn")) == sum(numbers.values())


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("h, x", [(4, 3), (7, 2)])
def test_equinox_bias_sentence_numbers_are_equinox_nn(cell, h, x):
    eqx = pytest.importorskip("equinox")
    jax = pytest.importorskip("jax")

    module = {"lstm": eqx.nn.LSTMCell, "gru": eqx.nn.GRUCell}[cell](x, h, key=jax.random.key(0))
    numbers = numbers_of("Equinox", "-u", str(h), "-x", str(x), "-f", "equinox", "--cell", cell)
    assert set(numbers) <= MEASURED_THERE
    if cell == "gru":
        assert numbers == {"input_bias_params": _size(module.bias), "recurrent_bias_params": _size(module.bias_n)}
    else:
        assert numbers == {"bias_params": _size(module.bias)}


def _linen_bias(cell: str, h: int, x: int) -> int:
    jax = pytest.importorskip("jax")
    from flax import linen, traverse_util

    module = {"lstm": linen.LSTMCell, "gru": linen.GRUCell, "rnn": linen.SimpleCell}[cell](features=h)
    carry = module.initialize_carry(jax.random.key(1), (1, x))
    params = module.init(jax.random.key(0), carry, np.zeros((1, x), np.float32))["params"]
    return bias_size(traverse_util.flatten_dict(params, sep="/"))


def _nnx_bias(cls_name: str, h: int, x: int) -> int:
    from flax import nnx, traverse_util

    module = getattr(nnx, cls_name)(x, h, rngs=nnx.Rngs(0))
    return bias_size(traverse_util.flatten_dict(nnx.to_pure_dict(nnx.state(module, nnx.Param)), sep="/"))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("h, x", [(4, 3), (7, 2)])
def test_flax_bias_sentence_numbers_are_the_cells(cell, h, x):
    pytest.importorskip("jax")
    pytest.importorskip("flax")

    linen = numbers_of("Flax's", "-u", str(h), "-x", str(x), "-f", "flax", "--cell", cell)
    assert linen == {"bias_params": _linen_bias(cell, h, x)}
    if cell != "gru":  # nnx's GRUCell has its own sentence (test_flax_nnx_gru_bias_sentence_numbers_are_the_frameworks)
        nnx = numbers_of("Flax nnx's", "-u", str(h), "-x", str(x), "-f", "flax_nnx", "--cell", cell)
        assert nnx == {"bias_params": _nnx_bias({"lstm": "LSTMCell", "rnn": "SimpleCell"}[cell], h, x)}
    if cell == "lstm":
        opt = numbers_of("OptimizedLSTMCell", "-u", str(h), "-x", str(x), "-f", "flax_nnx_opt")
        assert opt == {"bias_params": _nnx_bias("OptimizedLSTMCell", h, x)}


# Keras 2's CuDNN layers as their source builds them (keras 2.2.4 keras/layers/cudnn_recurrent.py, the same
# in tf.keras 2.x tensorflow/python/keras/layers/cudnn_recurrent.py), for units H and input_dim X:
#   CuDNNGRU.build:  kernel (X, 3H), recurrent_kernel (H, 3H), bias (H * 6,)
#   CuDNNLSTM.build: kernel (X, 4H), recurrent_kernel (H, 4H), bias (H * 8,); with unit_forget_bias=True
#                    (its default) bias starts as concatenate([zeros(H * 5), ones(H), zeros(H * 2)])
#   _canonical_to_params: bias = [the input-side b_W of every gate, then the recurrent-side b_R of every gate]
# TensorFlow is not installed here and no Keras 2 .h5 is in tests/fixtures, so these shapes are the measurement.
def _cudnn_layer(cell: str, h: int, x: int) -> dict:
    g = {"lstm": 4, "gru": 3}[cell]
    out = {"kernel": (x, g * h), "recurrent_kernel": (h, g * h), "bias": (h * 2 * g,)}
    if cell == "lstm":
        out["bias_init"] = np.concatenate([np.zeros(h * 5), np.ones(h), np.zeros(h * 2)])
    return out


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("h, x, extra", [(4, 3, ()), (5, 2, ("--bidirectional",)), (3, 6, ("--layers", "2"))])
def test_keras2_bias_sentence_numbers_are_the_cudnn_layers(cell, h, x, extra):
    keras = pytest.importorskip("keras")
    layer = _cudnn_layer(cell, h, x)
    numbers = numbers_of("keeps cuDNN's two bias vectors", "-u", str(h), "-x", str(x), "-f", "keras2", "--cell", cell,
                         *extra)
    bias = int(np.prod(layer["bias"]))
    want = {"bias_params": bias, "input_bias_params": bias // 2, "recurrent_bias_params": bias // 2,
            "input_features": layer["kernel"][0], "units": layer["recurrent_kernel"][0]}
    if cell == "lstm":  # the LSTM Keras 2 loads it into has Keras' one (G·H,) bias: measured on Keras 3's, the same
        plain = keras.layers.LSTM(h)
        plain.build((None, None, x))
        want["loaded_fewer_params"] = bias - _size(keras.ops.convert_to_numpy(plain.cell.bias))
    else:  # the GRU(reset_after=True) Keras 2 loads it into: its (2, 3H) bias has 2 rows, one per bias vector
        loaded = keras.layers.GRU(h, reset_after=True)
        loaded.build((None, None, x))
        want["biases_per_gate"] = int(np.shape(keras.ops.convert_to_numpy(loaded.cell.bias))[0])
    assert numbers == want
    assert set(numbers) - {"input_features", "units", "biases_per_gate"} <= MEASURED_THERE


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_keras2_stacked_formula_bias_coefficient_is_the_cudnn_bias(cell):
    """explain's per-layer formula for a Keras 2 stack writes the bias as one coefficient of H
    (4 × 3 × (5 + 3) + 8 × 3): that 8 is stated as bias_vectors and is bias's length over H in the source."""
    h, x = 3, 5
    layer = _cudnn_layer(cell, h, x)
    r = invoke("explain", "-u", str(h), "-x", str(x), "-f", "keras2", "--cell", cell, "--layers", "2", "--json")
    assert r.exit_code == 0, r.stderr
    (answer,) = [q for q in json.loads(r.stdout)["questions"] if "reads 5 features" in q["answer"]]
    (stated,) = [n["value"] for n in answer["numbers"] if n["name"] == "bias_vectors"]
    assert f" + {stated} × {h} = " in answer["answer"]
    assert stated == layer["bias"][0] // layer["recurrent_kernel"][0]


@pytest.mark.parametrize("command", ["breakdown", "explain"])
def test_keras2_forget_bias_sentence_is_cudnn_lstms_initializer(command):
    """The forget gate's bias is the sum of its input-side and recurrent-side halves; the source's
    initializer (above) makes that sum 1 for every unit and every other gate's 0."""
    h = 3
    init = _cudnn_layer("lstm", h, 2)["bias_init"]
    w_side, r_side = init[: 4 * h].reshape(4, h), init[4 * h :].reshape(4, h)  # rows i, f, c, o
    per_gate = w_side + r_side
    numbers = numbers_of("CuDNNLSTM starts the forget-gate bias", "-u", str(h), "-x", "2", "-f", "keras2",
                         command=command)
    assert numbers["forget_bias_init"] == per_gate[1].min() == per_gate[1].max()
    assert not per_gate[[0, 2, 3]].any()


@pytest.mark.parametrize("extra", [{}, {"bidirectional": True, "layers": 2}])
def test_keras2_default_lstm_bias_is_cudnn_lstms_initializer(extra):
    """lstmcalc's Keras 2 initialisation puts unit_forget_bias's ones where CuDNNLSTM.build does."""
    from lstmcalc.frameworks import get, make_spec

    h = 3
    spec = make_spec(h, 2, framework="keras2", **extra)
    weights = get("keras2").init_weights(spec, np.random.default_rng(0), np.float32)
    biases = [v for k, v in weights.items() if k.split("/")[-1] == "bias"]
    assert len(biases) == spec.layers * spec.directions
    for b in biases:
        np.testing.assert_array_equal(b, _cudnn_layer("lstm", h, 2)["bias_init"])
