"""Keras 2 CuDNNLSTM / CuDNNGRU (lstmcalc/frameworks/keras2.py).

Keras 3 cannot write these layers and they need a GPU to run, so the fixtures are legacy
``.h5`` files built with h5py in Keras 2's group layout, from cuDNN weight matrices drawn
at random (different per gate). The reference is cuDNN's own equations, written here in
float64 NumPy from the cuDNN documentation (cudnnRNNMode_t: CUDNN_LSTM, CUDNN_GRU), not
from lstmcalc: per gate a row-major W (H, X), R (H, H), b_W, b_R; gate order LSTM i, f, c,
o (cuDNN's pseudo-layers 0-3 / 4-7), GRU in Keras' stored order z, r, h.

How Keras 2 stores them (keras/layers/cudnn_recurrent.py, _canonical_to_params): each gate's
kernel block (X, H) *is* cuDNN's flat W (H, X) buffer, so the block is W.reshape(X, H);
each recurrent block (H, H) is R itself; bias = [b_W of every gate, b_R of every gate].
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import lstmcalc
from helpers import forward_sequence as forward
from helpers import invoke
from lstmcalc import frameworks
from lstmcalc.converting import convert_weights
from lstmcalc.readers import read_layer, read_layers
from lstmcalc.spec import SpecError

h5py = pytest.importorskip("h5py")

GATES = {"lstm": 4, "gru": 3}
CLASS = {"lstm": "CuDNNLSTM", "gru": "CuDNNGRU"}
SNAKE = {"lstm": "cu_dnnlstm_1", "gru": "cu_dnngru_1"}


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def cudnn_params(cell, h, x, rng):
    """Per gate (stored order) W (H, X), R (H, H), b_W, b_R: all random, all different."""
    g = GATES[cell]
    return [
        {"W": rng.normal(size=(h, x)), "R": rng.normal(size=(h, h)), "bW": rng.normal(size=h), "bR": rng.normal(size=h)}
        for _ in range(g)
    ]


def keras2_arrays(gates):
    """Keras 2's stored tensors for cuDNN per-gate matrices (see the module docstring)."""
    h, x = gates[0]["W"].shape
    kernel = np.concatenate([p["W"].reshape(x, h) for p in gates], axis=1)  # flat W viewed as (X, H)
    recurrent = np.concatenate([p["R"] for p in gates], axis=1)  # (H, G·H)
    bias = np.concatenate([p["bW"] for p in gates] + [p["bR"] for p in gates])  # (2·G·H,)
    return {"kernel": kernel, "recurrent_kernel": recurrent, "bias": bias}


def cudnn_run(cell, gates, xs, reverse=False):
    """cuDNN's equations in float64. xs (B, T, X) -> outputs (B, T, H), h_T, c_T."""
    b, t_len, _ = xs.shape
    hsz = gates[0]["R"].shape[0]
    h = np.zeros((b, hsz))
    c = np.zeros((b, hsz))
    out = np.zeros((b, t_len, hsz))
    steps = range(t_len - 1, -1, -1) if reverse else range(t_len)
    for t in steps:
        x = xs[:, t]
        if cell == "lstm":
            pre = [x @ p["W"].T + p["bW"] + h @ p["R"].T + p["bR"] for p in gates]  # i, f, c', o
            i, f, o = sigmoid(pre[0]), sigmoid(pre[1]), sigmoid(pre[3])
            c = f * c + i * np.tanh(pre[2])
            h = o * np.tanh(c)
        else:
            z_p, r_p, n_p = gates  # stored order z, r, h
            r = sigmoid(x @ r_p["W"].T + r_p["bW"] + h @ r_p["R"].T + r_p["bR"])
            z = sigmoid(x @ z_p["W"].T + z_p["bW"] + h @ z_p["R"].T + z_p["bR"])
            n = np.tanh(x @ n_p["W"].T + n_p["bW"] + r * (h @ n_p["R"].T + n_p["bR"]))
            h = (1 - z) * n + z * h
        out[:, t] = h
    return out, h, c


def write_legacy_h5(path, cell, directions, name=None):
    """A Keras 2 ``model.save`` file: model_config, model_weights/<layer>/<layer>/<w>:0."""
    bidir = len(directions) == 2
    layer = name or ("bidirectional_1" if bidir else SNAKE[cell])
    inner = {"class_name": CLASS[cell], "config": {"name": SNAKE[cell], "units": directions[0][0]["R"].shape[0],
                                                   "return_sequences": True}}
    entry = {"class_name": "Bidirectional", "config": {"name": layer, "layer": inner, "merge_mode": "concat"}} if bidir \
        else {**inner, "config": {**inner["config"], "name": layer}}
    config = {"class_name": "Sequential", "config": {"name": "sequential_1", "layers": [entry]}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(config).encode()
        f.attrs["keras_version"] = b"2.2.4"
        f.attrs["backend"] = b"tensorflow"
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = [layer.encode()]
        g = mw.create_group(layer)
        names = []
        for side, gates in zip(("forward_", "backward_"), directions):
            where = f"{layer}/{side}{SNAKE[cell]}" if bidir else layer  # Keras 2's weight names
            for key, value in keras2_arrays(gates).items():
                g.create_dataset(f"{where}/{key}:0", data=value.astype(np.float32))
                names.append(f"{where}/{key}:0".encode())
        g.attrs["weight_names"] = names


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_forward_of_a_legacy_h5_matches_cudnn_equations(tmp_path, cell, bidirectional):
    rng = np.random.default_rng(7)
    h, x_size = 3, 5
    dirs = [cudnn_params(cell, h, x_size, rng) for _ in range(2 if bidirectional else 1)]
    path = tmp_path / "m.h5"
    write_legacy_h5(path, cell, dirs)
    found = read_layer(path)
    assert found.spec.framework == "keras2"
    assert (found.spec.cell, found.spec.units, found.spec.input_size, found.spec.bidirectional) == (
        cell, h, x_size, bidirectional)
    xs = rng.normal(size=(2, 4, x_size))
    result = forward(xs, found.weights, cell=cell, framework="keras2", bidirectional=bidirectional,
                     **({"merge_mode": "concat"} if bidirectional else {}))  # the file has no config: say it
    want = [cudnn_run(cell, d, xs, reverse=k == 1)[0] for k, d in enumerate(dirs)]
    np.testing.assert_allclose(result.output, np.concatenate(want, axis=-1), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("target", ["torch", "keras"])
def test_convert_gives_the_cudnn_outputs_in_the_target(cell, target):
    rng = np.random.default_rng(3)
    gates = cudnn_params(cell, 4, 3, rng)
    xs = rng.normal(size=(2, 5, 3))
    converted = convert_weights(keras2_arrays(gates), cell=cell, source="keras2", target=target)
    result = forward(xs, converted, cell=cell, framework=target)
    want, h_t, c_t = cudnn_run(cell, gates, xs)
    got = result.output if target == "torch" else result.output
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    back = convert_weights(converted, cell=cell, source=target, target="keras2")
    if target == "torch" or cell == "gru":  # both bias halves survive
        for key, value in keras2_arrays(gates).items():
            np.testing.assert_allclose(back[key], value, rtol=0, atol=1e-12)
    else:  # Keras 3 LSTM keeps only b_W + b_R: the sum survives, in the input half
        b = back["bias"]
        np.testing.assert_allclose(b[:16] + b[16:], keras2_arrays(gates)["bias"][:16] + keras2_arrays(gates)["bias"][16:])


def test_the_trap_reading_cudnn_kernels_as_plain_lstm_gives_other_outputs():
    """keras#9463: same shapes, no error, wrong numbers — the reason for the re-layout."""
    rng = np.random.default_rng(1)
    gates = cudnn_params("lstm", 4, 3, rng)
    arrays = keras2_arrays(gates)
    naive = {"kernel": arrays["kernel"], "recurrent_kernel": arrays["recurrent_kernel"],
             "bias": arrays["bias"][:16] + arrays["bias"][16:]}
    xs = rng.normal(size=(2, 5, 3))
    wrong = forward(xs, naive, cell="lstm", framework="keras").output
    want = cudnn_run("lstm", gates, xs)[0]
    assert np.abs(wrong - want).max() > 0.1
    np.testing.assert_allclose(forward(xs, arrays, cell="lstm", framework="keras2").output, want, atol=1e-9)


def test_published_count_and_the_breakdown():
    assert lstmcalc.count(300, 300, framework="keras2", bidirectional=True) == 1_444_800
    assert lstmcalc.count(300, 300, framework="keras2", cell="gru") == 3 * 300 * 600 + 6 * 300
    b = lstmcalc.breakdown(2, 3, framework="keras2")
    assert b.total == 4 * 2 * (3 + 2) + 8 * 2
    bias = next(t for t in b.tensors if t.name == "bias")
    assert bias.shape == (16,)
    assert [(s.gate, s.start, s.stop) for s in bias.slices[:2]] == [("i", 0, 2), ("i", 8, 10)]
    assert any("16 = 8H" in n and "8 fewer parameters" in n for n in b.notes)
    assert any("Each (3, 2) block of kernel holds cuDNN's W (2, 3) in memory order" in n for n in b.notes)
    # one Keras 3 LSTM bias per gate: CuDNN holds 4H more per layer and direction
    assert lstmcalc.count(7, 5, framework="keras2") - lstmcalc.count(7, 5) == 4 * 7


def test_inspect_statistics_split_the_two_bias_halves(tmp_path):
    rng = np.random.default_rng(2)
    gates = cudnn_params("lstm", 2, 3, rng)
    write_legacy_h5(tmp_path / "m.h5", "lstm", [gates])
    found = read_layers(tmp_path / "m.h5")[0]
    assert found.name == SNAKE["lstm"]
    row = found.gates[0]
    assert row.gate == "i"
    np.testing.assert_allclose(row.bias_input.mean, gates[0]["bW"].astype(np.float32).mean(dtype=np.float64), rtol=1e-6)
    np.testing.assert_allclose(row.bias_recurrent.mean, gates[0]["bR"].astype(np.float32).mean(dtype=np.float64), rtol=1e-6)


def test_npz_with_cudnn_shapes_is_keras2_and_plain_keras_stays_keras(tmp_path):
    rng = np.random.default_rng(4)
    np.savez(tmp_path / "c.npz", **keras2_arrays(cudnn_params("gru", 2, 3, rng)))
    assert read_layer(tmp_path / "c.npz").spec.framework == "keras2"
    np.savez(tmp_path / "k.npz", kernel=np.zeros((3, 6)), recurrent_kernel=np.zeros((2, 6)), bias=np.zeros((2, 6)))
    assert read_layer(tmp_path / "k.npz").spec.framework == "keras"


@pytest.mark.parametrize(
    ("options", "param", "words"),
    [
        ({"bias": False}, "bias", "always have both bias vectors"),
        ({"cell": "rnn"}, "cell", "no rnn layer"),
        ({"cell": "gru", "reset_after": False}, "reset_after", "reset-after"),
        ({"proj_size": 1}, "proj_size", "CuDNNLSTM has no projection"),
    ],
)
def test_refusals(options, param, words):
    with pytest.raises(SpecError) as err:
        lstmcalc.count(3, 2, framework="keras2", **options)
    assert err.value.param == param and words in str(err.value)


def test_convert_refuses_what_cudnn_cannot_hold():
    rng = np.random.default_rng(5)
    gru = {"kernel": rng.normal(size=(3, 6)), "recurrent_kernel": rng.normal(size=(2, 6)), "bias": rng.normal(size=6)}
    with pytest.raises(SpecError, match="reset-before GRU"):
        convert_weights(gru, cell="gru", source="keras", target="keras2")



def test_a_bias_free_layer_converts_with_zero_biases():
    rng = np.random.default_rng(6)
    nobias = {"weight_ih_l0": rng.normal(size=(8, 3)), "weight_hh_l0": rng.normal(size=(8, 2))}
    out = convert_weights(nobias, cell="lstm", source="torch", target="keras2")
    np.testing.assert_array_equal(out["bias"], np.zeros(16))
    xs = rng.normal(size=(2, 4, 3))
    np.testing.assert_allclose(forward(xs, out, cell="lstm", framework="keras2").output,
                               forward(xs, nobias, cell="lstm", framework="torch", bias=False).output, atol=1e-12)


def test_registry_lists_it():
    assert "keras2" in frameworks.names()


from .conformance import check_convention  # noqa: E402


def test_conformance():
    check_convention("keras2")


@pytest.mark.parametrize(("cell", "expected"), [("lstm", 4 * 3 * (4 + 3) + 8 * 3), ("gru", 3 * 3 * (4 + 3) + 6 * 3)])
def test_counts(cell, expected):
    """H = 3, X = 4: G·H·(X + H) + 2·G·H (cuDNN's b_W and b_R for every gate)."""
    assert lstmcalc.count(3, 4, framework="keras2", cell=cell) == expected
    b = lstmcalc.breakdown(3, 4, framework="keras2", cell=cell)
    assert sum(t.count for t in b.tensors) == expected == b.total


def test_cli_count_of_a_bidirectional_layer():
    r = invoke("count", "--units", "300", "--input", "300", "--framework", "keras2", "--bidirectional")
    assert r.exit_code == 0 and r.stdout.strip() == "1444800"
