"""The numbers a convention's own bias sentence states reach ``--json`` (note_numbers) and
equal what the real frameworks hold: Flax nnx's GRUCell against Keras' reset-after GRU and
Flax linen's GRUCell; PyTorch's LSTMCell/GRUCell bias vectors. Skips without the frameworks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers import invoke

# every name a convention's bias sentence states, each compared below with the real frameworks
MEASURED_THERE = {"bias_vector_params", "input_bias_params", "keras_bias_params", "linen_bias_params",
                  "fewer_than_keras", "fewer_than_linen"}


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
