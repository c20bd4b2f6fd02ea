"""Weights files of whole models: recurrent layers under module prefixes (``enc.Wx``,
``params/RNN_0/cell/ii/kernel``, ``model/lstm/kernel``), beside tensors of other layers.
tests/crosscheck/test_prefixed_files.py runs files that Flax and MLX themselves wrote."""

from __future__ import annotations

import numpy as np
import pytest

from lstmcalc.errors import FileError
from lstmcalc.readers import read_layers

H, X = 3, 2


def arrays(rng, **shapes):
    return {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}


def found(tmp_path, flat):
    np.savez(tmp_path / "m.npz", **flat)
    return [(f.name, f.spec.framework, f.spec.cell, f.spec.units, f.spec.input_size, sorted(f.weights))
            for f in read_layers(tmp_path / "m.npz")]


def test_two_mlx_layers_under_their_attribute_names(tmp_path):
    rng = np.random.default_rng(0)
    flat = {**arrays(rng, **{"enc.Wx": (4 * H, X), "enc.Wh": (4 * H, H), "enc.bias": (4 * H,)}),
            **arrays(rng, **{"dec.Wx": (3 * H, H), "dec.Wh": (3 * H, H), "dec.b": (3 * H,), "dec.bhn": (H,)}),
            **arrays(rng, **{"head.weight": (1, H), "head.bias": (1,)})}
    assert found(tmp_path, flat) == [("enc", "mlx", "lstm", H, X, ["Wh", "Wx", "bias"]),
                                     ("dec", "mlx", "gru", H, H, ["Wh", "Wx", "b", "bhn"])]


def test_a_flax_cell_nested_in_a_model_tree_beside_a_dense_head(tmp_path):
    rng = np.random.default_rng(1)
    leaves = {}
    for g in "ifgo":
        leaves |= arrays(rng, **{f"i{g}/kernel": (X, H), f"h{g}/kernel": (H, H), f"h{g}/bias": (H,)})
    flat = {f"params/RNN_0/cell/{k}": v for k, v in leaves.items()}
    flat |= arrays(rng, **{"params/Dense_0/kernel": (H, 1), "params/Dense_0/bias": (1,)})
    (name, fw, cell, h, x, names), = found(tmp_path, flat)
    assert (name, fw, cell, h, x, names) == ("params/RNN_0/cell", "flax", "lstm", H, X, sorted(leaves))
    # the arrays are the file's own, under their names without the prefix
    layer = read_layers(tmp_path / "m.npz")[0]
    for k, v in leaves.items():
        np.testing.assert_array_equal(layer.weights[k], v)


def test_keras_keys_under_a_model_path(tmp_path):
    rng = np.random.default_rng(2)
    flat = arrays(rng, **{"model/lstm/kernel": (X, 4 * H), "model/lstm/recurrent_kernel": (H, 4 * H),
                          "model/lstm/bias": (4 * H,), "model/dense/kernel": (H, 1), "model/dense/bias": (1,)})
    assert found(tmp_path, flat) == [("model/lstm", "keras", "lstm", H, X, ["bias", "kernel", "recurrent_kernel"])]


def test_a_file_with_no_recurrent_layer_says_so(tmp_path):
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "m.npz", **arrays(rng, **{"head.weight": (1, H), "head.bias": (1,)}))
    with pytest.raises(FileError, match="no recurrent layer"):
        read_layers(tmp_path / "m.npz")


def test_a_deep_prefix_is_found_and_deep_junk_is_refused_in_one_line(tmp_path):
    """Only a name's last parts can be a framework's own name: a layer under a 300-part path
    is found, and 3,000 names of 200 parts each are refused with the usual message (each
    name is tried at its last NAME_PARTS separators, not at every one)."""
    rng = np.random.default_rng(4)
    deep = "m/" * 300
    flat = arrays(rng, **{f"{deep}lstm.Wx": (4 * H, X), f"{deep}lstm.Wh": (4 * H, H), f"{deep}lstm.bias": (4 * H,)})
    assert found(tmp_path, flat) == [(f"{deep}lstm", "mlx", "lstm", H, X, ["Wh", "Wx", "bias"])]
    np.savez(tmp_path / "junk.npz", **{"a/" * 200 + f"k{i}": np.zeros(1, np.float32) for i in range(3000)})
    with pytest.raises(FileError, match="no recurrent layer"):
        read_layers(tmp_path / "junk.npz")
