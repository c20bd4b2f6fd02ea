"""Weight conversion without the frameworks: names, gate order, biases, refusals, bad shapes.

The end-to-end proof (convert, load into the real other framework, same outputs) is
tests/crosscheck/test_convert.py.
"""

import numpy as np

import helpers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmcalc.frameworks import all_tensors, weights_key
from lstmcalc.converting import FileError, convert_weights, infer_framework
from lstmcalc.frameworks import make_spec
from lstmcalc.spec import SpecError


def random_weights(framework, cell, units, input_size, *, layers=1, bidirectional=False, bias=True,
                   reset_after=None, proj_size=0, seed=0, dtype=np.float64):
    """Every tensor of the layer, random, under our key names."""
    spec = make_spec(units, input_size, cell=cell, framework=framework, layers=layers, bidirectional=bidirectional,
                     bias=bias, reset_after=reset_after, proj_size=proj_size)
    return helpers.random_weights(spec, seed, dtype=dtype, normal=True)


def blocks(order, units, rows):
    """A (rows, G·H) array whose gate block for gate g is filled with the number 1 + order.index(g)."""
    return np.concatenate([np.full((rows, units), float(k + 1)) for k in range(len(order))], axis=1)


# --- gate order, on hand-made arrays ---------------------------------------------------------

def test_gru_keras_to_torch_reorders_z_r_n_to_r_z_n():
    h, x = 2, 3
    keras = {
        "kernel": blocks("zrn", h, x),  # z block = 1, r = 2, n = 3
        "recurrent_kernel": blocks("zrn", h, h) * 10,
        "bias": np.stack([np.repeat([1.0, 2.0, 3.0], h), np.repeat([100.0, 200.0, 300.0], h)]),
    }
    torch = convert_weights(keras, cell="gru", source="keras", target="torch")
    assert list(torch) == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    np.testing.assert_array_equal(torch["weight_ih_l0"][:, 0], [2, 2, 1, 1, 3, 3])  # r, z, n
    assert torch["weight_ih_l0"].shape == (3 * h, x)
    np.testing.assert_array_equal(torch["weight_hh_l0"][:, 0], [20, 20, 10, 10, 30, 30])
    np.testing.assert_array_equal(torch["bias_ih_l0"], [2, 2, 1, 1, 3, 3])  # row 0 -> bias_ih
    np.testing.assert_array_equal(torch["bias_hh_l0"], [200, 200, 100, 100, 300, 300])  # row 1 -> bias_hh


def test_gru_torch_to_keras_reorders_r_z_n_to_z_r_n():
    h = 2  # input size X = 1
    torch = {
        "weight_ih_l0": np.repeat([[1.0], [2.0], [3.0]], h, axis=0),  # r = 1, z = 2, n = 3
        "weight_hh_l0": np.repeat([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]], h, axis=0),
        "bias_ih_l0": np.repeat([1.0, 2.0, 3.0], h),
        "bias_hh_l0": np.repeat([10.0, 20.0, 30.0], h),
    }
    keras = convert_weights(torch, cell="gru", source="torch", target="keras")
    np.testing.assert_array_equal(keras["kernel"], [[2, 2, 1, 1, 3, 3]])  # z, r, n
    np.testing.assert_array_equal(keras["bias"], [[2, 2, 1, 1, 3, 3], [20, 20, 10, 10, 30, 30]])


def test_lstm_keeps_i_f_g_o_and_transposes():
    h, x = 2, 3
    keras = {"kernel": blocks("ifgo", h, x), "recurrent_kernel": blocks("ifgo", h, h), "bias": np.arange(8.0)}
    torch = convert_weights(keras, cell="lstm", source="keras", target="torch")
    np.testing.assert_array_equal(torch["weight_ih_l0"], keras["kernel"].T)
    np.testing.assert_array_equal(torch["weight_hh_l0"], keras["recurrent_kernel"].T)
    np.testing.assert_array_equal(torch["bias_ih_l0"], np.arange(8.0))
    np.testing.assert_array_equal(torch["bias_hh_l0"], np.zeros(8))


def test_torch_lstm_and_rnn_biases_are_summed():
    for cell in ("lstm", "rnn"):
        torch = random_weights("torch", cell, 3, 2, seed=1)
        keras = convert_weights(torch, cell=cell, source="torch", target="keras")
        np.testing.assert_array_equal(keras["bias"], torch["bias_ih_l0"] + torch["bias_hh_l0"])


# --- round trips -----------------------------------------------------------------------------

@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("layers, bidirectional", [(1, False), (1, True), (3, False), (2, True)])
@pytest.mark.parametrize("bias", [True, False])
def test_keras_torch_keras_is_identity(cell, layers, bidirectional, bias):
    keras = random_weights("keras", cell, 3, 2, layers=layers, bidirectional=bidirectional, bias=bias)
    said = {"reset_after": True} if cell == "gru" and not bias else {}  # the weights cannot show it
    torch = convert_weights(keras, cell=cell, source="keras", target="torch", **said)
    spec = make_spec(3, 2, cell=cell, framework="torch", layers=layers, bidirectional=bidirectional, bias=bias)
    assert list(torch) == [weights_key(spec, t) for t in all_tensors(spec)]
    back = convert_weights(torch, cell=cell, source="torch", target="keras")
    assert list(back) == list(keras)
    for key in keras:
        np.testing.assert_array_equal(back[key], keras[key], err_msg=key)


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_torch_keras_torch_moves_the_bias_sum_to_bias_ih(cell):
    torch = random_weights("torch", cell, 4, 3, layers=2, bidirectional=True, seed=3)
    back = convert_weights(convert_weights(torch, cell=cell, source="torch", target="keras"),
                           cell=cell, source="keras", target="torch")
    for key in torch:
        if key.startswith("weight"):
            np.testing.assert_array_equal(back[key], torch[key])
        elif key.startswith("bias_ih"):
            hh = key.replace("bias_ih", "bias_hh")
            np.testing.assert_allclose(back[key], torch[key] + torch[hh], rtol=0, atol=1e-15)
            np.testing.assert_array_equal(back[hh], 0.0)


@settings(max_examples=60, deadline=None)
@given(
    cell=st.sampled_from(["lstm", "gru", "rnn"]),
    units=st.integers(1, 5),
    input_size=st.integers(1, 5),
    layers=st.integers(1, 3),
    bidirectional=st.booleans(),
    bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_round_trip_property(cell, units, input_size, layers, bidirectional, bias, seed):
    keras = random_weights("keras", cell, units, input_size, layers=layers, bidirectional=bidirectional,
                           bias=bias, seed=seed)
    said = {"reset_after": True} if cell == "gru" and not bias else {}  # the weights cannot show it
    back = convert_weights(convert_weights(keras, cell=cell, source="keras", target="torch", **said),
                           cell=cell, source="torch", target="keras")
    assert all(np.array_equal(back[k], keras[k]) for k in keras)


def test_dtype_is_kept_and_arrays_are_new():
    keras = random_weights("keras", "lstm", 2, 2, dtype=np.float32)
    torch = convert_weights(keras, cell="lstm", source="keras", target="torch")
    assert {a.dtype for a in torch.values()} == {np.dtype(np.float32)}
    assert all(a.flags.c_contiguous for a in torch.values())
    torch["weight_ih_l0"][...] = 0
    assert np.abs(keras["kernel"]).sum() > 0


# --- refusals ----------------------------------------------------------------------------------

def test_keras_gru_without_reset_after_is_refused():
    keras = random_weights("keras", "gru", 2, 3, reset_after=False)
    assert keras["bias"].shape == (6,)
    with pytest.raises(SpecError) as info:
        convert_weights(keras, cell="gru", source="keras", target="torch")
    assert info.value.param == "reset_after"
    assert "before the recurrent product" in str(info.value) and "PyTorch applies it after" in str(info.value)


def test_bias_free_keras_gru_reset_after_false_is_refused_when_said():
    keras = random_weights("keras", "gru", 2, 3, bias=False)
    with pytest.raises(SpecError, match="reset_after: is needed: a Keras GRU without bias"):
        convert_weights(keras, cell="gru", source="keras", target="torch")  # the weights do not say: no guess
    converted = convert_weights(keras, cell="gru", source="keras", target="torch", reset_after=True)
    assert set(converted) == {"weight_ih_l0", "weight_hh_l0"}
    with pytest.raises(SpecError, match="no PyTorch equivalent"):
        convert_weights(keras, cell="gru", source="keras", target="torch", reset_after=False)


def test_torch_lstm_with_projection_is_refused():
    torch = random_weights("torch", "lstm", 4, 3, proj_size=2, layers=2)
    with pytest.raises(SpecError) as info:
        convert_weights(torch, cell="lstm", source="torch", target="keras")
    assert info.value.param == "proj_size"
    assert "weight_hr" in str(info.value) and "no Keras equivalent" in str(info.value)


def test_stacked_bidirectional_keras_sum_merge_is_refused():
    keras = random_weights("keras", "lstm", 3, 2, layers=2, bidirectional=True)
    keras["layer1/forward/kernel"] = keras["layer1/forward/kernel"][:3]  # merge_mode sum: layer 1 reads H
    keras["layer1/backward/kernel"] = keras["layer1/backward/kernel"][:3]
    with pytest.raises(SpecError) as info:
        convert_weights(keras, cell="lstm", source="keras", target="torch")
    assert info.value.param == "merge_mode"


@pytest.mark.parametrize("options, param", [
    (dict(cell="cnn", source="keras", target="torch"), "cell"),
    (dict(cell="lstm", source="tf", target="torch"), "source"),
    (dict(cell="lstm", source="keras", target="jax"), "target"),
    (dict(cell="lstm", source="keras", target="keras"), "target"),
    (dict(cell="lstm", source="keras", target="torch", layers=2), "layers"),
    (dict(cell="lstm", source="keras", target="torch", bidirectional=True), "bidirectional"),
])
def test_bad_options_are_spec_errors(options, param):
    with pytest.raises(SpecError) as info:
        convert_weights(random_weights("keras", "lstm", 2, 2), **options)
    assert info.value.param == param


# --- bad tensors -------------------------------------------------------------------------------

def _keras_lstm():
    return random_weights("keras", "lstm", 3, 2)


BAD = [
    ("lstm wrong cell", lambda: _keras_lstm(), "gru", "recurrent_kernel", "LSTM"),
    ("kernel columns", lambda: {**_keras_lstm(), "kernel": np.zeros((2, 11))}, "lstm", "kernel", "(2, 12)"),
    ("recurrent not G*H", lambda: {**_keras_lstm(), "recurrent_kernel": np.zeros((3, 7))}, "lstm",
     "recurrent_kernel", "(3, 7)"),
    ("two gates", lambda: {**_keras_lstm(), "recurrent_kernel": np.zeros((3, 6))}, "lstm",
     "recurrent_kernel", "2 gate blocks"),
    ("bias length", lambda: {**_keras_lstm(), "bias": np.zeros(11)}, "lstm", "bias", "(12,)"),
    ("missing", lambda: {k: v for k, v in _keras_lstm().items() if k != "kernel"}, "lstm", "kernel", "missing"),
    ("unexpected", lambda: {**_keras_lstm(), "extra": np.zeros(2)}, "lstm", "extra", "not a Keras weights key"),
    ("string dtype", lambda: {**_keras_lstm(), "bias": np.array(["a"] * 12)}, "lstm", "bias", "dtype"),
    ("3-d kernel", lambda: {**_keras_lstm(), "kernel": np.zeros((2, 12, 1))}, "lstm", "kernel", "(2, 12, 1)"),
]


@pytest.mark.parametrize("what, make, cell, tensor, words", BAD, ids=[b[0] for b in BAD])
def test_bad_keras_tensors_name_the_tensor(what, make, cell, tensor, words):
    with pytest.raises(FileError) as info:
        convert_weights(make(), cell=cell, source="keras", target="torch")
    message = str(info.value)
    assert message.startswith(tensor) or repr(tensor) in message
    assert words in message
    assert "\n" not in message
    assert type(info.value) is FileError  # the CLI exits 1 for it


def test_missing_middle_layer():
    keras = random_weights("keras", "lstm", 3, 2, layers=3)
    del keras["layer1/forward/recurrent_kernel"]
    with pytest.raises(FileError, match=r"^layer1/forward/recurrent_kernel: missing"):
        convert_weights(keras, cell="lstm", source="keras", target="torch")


def test_torch_layers_that_contradict_each_other():
    torch = random_weights("torch", "gru", 3, 2, layers=2)
    torch["weight_hh_l1"] = np.zeros((9, 4))
    with pytest.raises(FileError, match=r"^weight_hh_l1: shape \(9, 4\) contradicts .*expected \(9, 3\)"):
        convert_weights(torch, cell="gru", source="torch", target="keras")


def test_torch_half_a_bias_is_missing():
    torch = random_weights("torch", "rnn", 3, 2)
    del torch["bias_hh_l0"]
    with pytest.raises(FileError, match="^bias_hh_l0: missing"):
        convert_weights(torch, cell="rnn", source="torch", target="keras")


def test_prefixed_torch_names_are_not_taken_as_one_module():
    torch = {f"encoder.{k}": v for k, v in random_weights("torch", "lstm", 2, 2).items()}
    with pytest.raises(FileError, match="not a PyTorch RNN state_dict name"):
        convert_weights(torch, cell="lstm", source="torch", target="keras")


def test_bare_and_nested_keras_names_do_not_mix():
    keras = {**_keras_lstm(), "layer1/forward/kernel": np.zeros((3, 12))}
    with pytest.raises(FileError, match="mixed"):
        convert_weights(keras, cell="lstm", source="keras", target="torch")


def test_empty_weights():
    with pytest.raises(FileError, match="no tensors"):
        convert_weights({}, cell="lstm", source="keras", target="torch")


# --- infer_framework ---------------------------------------------------------------------------

@pytest.mark.parametrize("names, framework", [
    (["kernel", "recurrent_kernel", "bias"], "keras"),
    (["layer0/forward/kernel", "layer1/backward/bias"], "keras"),
    (["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"], "torch"),
    (["weight_ih_l1_reverse", "weight_hr_l0"], "torch"),
    (["encoder.lstm.weight_ih_l0", "decoder.gru.weight_hh_l0"], "torch"),
])
def test_infer_framework(names, framework):
    assert infer_framework(names) == framework


@pytest.mark.parametrize("names, words", [
    ([], "no tensors"),
    (["kernel", "weight_ih_l0"], "a file holds one framework"),
    (["kernel", "dense/kernel"], "'dense/kernel' is neither"),
    (["weight_ih_l0", "fc.weight"], "'fc.weight' is neither"),
])
def test_infer_framework_errors(names, words):
    with pytest.raises(FileError, match=words):
        infer_framework(names)
