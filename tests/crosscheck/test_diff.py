"""`diff` on real Keras 3 and PyTorch layers: each usual porting mistake is applied to real
weights programmatically and must be named; rewrites that keep the function must be reported
equivalent; unrelated random weights must not be "explained".

Every weight and bias is random and different per gate (PyTorch's bias_ih and bias_hh
differ). The output difference ``diff`` reports is checked against the real frameworks run
on the same float64 input (rtol 1e-9), and a mistake "explains" B only if undoing it leaves
at most 1e-12 of output difference.
"""

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from lstmcalc.comparing import INPUT_BATCH, INPUT_TIME, diff_files  # noqa: E402
from lstmcalc.converting import convert_weights  # noqa: E402

TORCH = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}
KERAS = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
H, X = 4, 3
EXACT = 1e-12


def torch_weights(cell, seed, **kw):
    """A real torch module's state_dict (float64), every tensor U(−1/√H, 1/√H) from torch."""
    torch.manual_seed(seed)
    m = TORCH[cell](kw.pop("input_size", X), kw.pop("hidden_size", H), batch_first=True, **kw).double()
    return m, {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}


def keras_weights(cell, seed, units=H, input_size=X, **kw):
    """A real Keras layer's kernel, recurrent_kernel, bias, set to random normal values."""
    layer = getattr(keras.layers, KERAS[cell])(units, return_sequences=True, **kw)
    model = keras.Sequential([keras.Input((INPUT_TIME, input_size)), layer])
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.standard_normal(w.shape) * 0.5 for w in layer.get_weights()])
    return model, dict(zip(("kernel", "recurrent_kernel", "bias"), layer.get_weights()))


def save(tmp_path, name, weights):
    path = tmp_path / f"{name}.npz"
    np.savez(path, **weights)
    return str(path)


def run_diff(tmp_path, a, b):
    return diff_files(save(tmp_path, "a", a), save(tmp_path, "b", b))


def blocks(a, g, axis=0):
    return np.split(a, g, axis=axis)


def assert_explained(c, kind, words=None, tol=EXACT):
    assert not c.equivalent
    kinds = [m.kind for m in c.explained_by]
    assert kind in kinds, [m.description for m in c.explained_by]
    m = c.explained_by[kinds.index(kind)]
    if words:
        assert words in m.description, m.description
    assert m.output_difference is not None and m.output_difference <= tol
    assert c.max_output_difference is not None and c.max_output_difference > 1e-6
    return m


def torch_output(cell, sd, x, **kw):
    m = TORCH[cell](X, H, batch_first=True, **kw).double()
    m.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    with torch.no_grad():
        return m(torch.from_numpy(x))[0].numpy()


# --- equivalent rewrites -----------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_torch_bias_moved_between_ih_and_hh_is_equivalent(cell, tmp_path):
    _, a = torch_weights(cell, 0)
    b = dict(a)
    b["bias_ih_l0"], b["bias_hh_l0"] = a["bias_ih_l0"] + a["bias_hh_l0"] - 0.25, np.full_like(a["bias_hh_l0"], 0.25)
    c = run_diff(tmp_path, a, b)
    assert c.equivalent and not c.explained_by
    assert c.max_output_difference <= EXACT


def test_torch_gru_bias_move_is_equivalent_for_z_r_not_for_the_candidate(tmp_path):
    _, a = torch_weights("gru", 0)
    moved_rz = dict(a)
    ih, hh = a["bias_ih_l0"].copy(), a["bias_hh_l0"].copy()
    ih[: 2 * H] += hh[: 2 * H]
    hh[: 2 * H] = 0  # r, z: b_ih + b_hh unchanged
    moved_rz["bias_ih_l0"], moved_rz["bias_hh_l0"] = ih, hh
    assert run_diff(tmp_path, a, moved_rz).equivalent
    moved_n = dict(a)
    ih, hh = a["bias_ih_l0"].copy(), a["bias_hh_l0"].copy()
    ih[2 * H :] += hh[2 * H :]
    hh[2 * H :] = 0  # n: b_hn moved out of r ⊙ (W_hn h + b_hn)
    moved_n["bias_ih_l0"], moved_n["bias_hh_l0"] = ih, hh
    c = run_diff(tmp_path, a, moved_n)
    assert_explained(c, "bias", "GRU candidate biases summed")


@pytest.mark.parametrize("cell", list(TORCH))
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, True)])
def test_keras_and_its_correct_torch_conversion_are_equivalent(cell, layers, bidirectional, tmp_path):
    """A real torch layer, and the same layer in Keras keys (converted), in float32 on one side."""
    _, a = torch_weights(cell, 1, num_layers=layers, bidirectional=bidirectional)
    b = convert_weights({k: v.astype(np.float32) for k, v in a.items()}, cell=cell, source="torch", target="keras")
    c = run_diff(tmp_path, a, b)
    assert c.equivalent, [t.to_dict() for t in c.tensors if not t.equal][:3]
    assert c.max_output_difference < 1e-5  # float32 weights against float64 ones


def test_no_bias_equals_zero_bias(tmp_path):
    _, a = torch_weights("lstm", 2, bias=False)
    b = dict(a, bias_ih_l0=np.zeros(4 * H), bias_hh_l0=np.zeros(4 * H))
    assert run_diff(tmp_path, a, b).equivalent


def test_keras_archive_against_a_torch_state_dict(tmp_path):
    """Real files: a .keras model and a .pt state_dict holding the same LSTM."""
    model, kw = keras_weights("lstm", 3)
    model.save(tmp_path / "m.keras")
    tw = convert_weights(kw, cell="lstm", source="keras", target="torch")
    torch.save({k: torch.from_numpy(v) for k, v in tw.items()}, tmp_path / "t.pt")
    c = diff_files(str(tmp_path / "m.keras"), str(tmp_path / "t.pt"))
    assert c.equivalent
    assert (c.a.spec.framework, c.b.spec.framework) == ("keras", "torch")


# --- porting mistakes ----------------------------------------------------------------------------


def test_gate_permutation_and_output_difference_match_real_torch(tmp_path):
    _, a = torch_weights("lstm", 4)
    b = dict(a)
    for k in a:  # i, f, g, o read as i, g, f, o
        i, f, g, o = blocks(a[k], 4)
        b[k] = np.concatenate([i, g, f, o])
    c = run_diff(tmp_path, a, b)
    m = assert_explained(c, "gate_permutation")
    assert "B's i, f, g, o blocks hold A's i, g, f, o" in m.description
    x = np.random.default_rng(c.seed).standard_normal((INPUT_BATCH, INPUT_TIME, X))
    real = np.abs(torch_output("lstm", a, x) - torch_output("lstm", b, x)).max()
    np.testing.assert_allclose(c.max_output_difference, real, rtol=1e-9)


def test_keras_gru_copied_without_the_gate_reorder(tmp_path):
    """Keras z, r, h blocks transposed into weight_ih/weight_hh but not reordered to r, z, n."""
    _, kw = keras_weights("gru", 5)
    b = {"weight_ih_l0": kw["kernel"].T, "weight_hh_l0": kw["recurrent_kernel"].T,
         "bias_ih_l0": kw["bias"][0], "bias_hh_l0": kw["bias"][1]}
    c = run_diff(tmp_path, kw, b)
    m = assert_explained(c, "gate_permutation")
    assert "(z←r, r←z)" in m.description


def test_rnn_recurrent_kernel_not_transposed(tmp_path):
    _, kw = keras_weights("rnn", 6)
    b = {"weight_ih_l0": kw["kernel"].T, "weight_hh_l0": kw["recurrent_kernel"],  # missing .T: (H, H) fits
         "bias_ih_l0": kw["bias"], "bias_hh_l0": np.zeros(H, dtype=kw["bias"].dtype)}  # one dtype per layer
    assert_explained(run_diff(tmp_path, kw, b), "transpose", "recurrent weights transposed")


def test_lstm_kernel_reshaped_instead_of_transposed(tmp_path):
    _, kw = keras_weights("lstm", 7)
    good = convert_weights(kw, cell="lstm", source="keras", target="torch")
    b = dict(good, weight_hh_l0=kw["recurrent_kernel"].reshape(4 * H, H))  # reshape, not .T
    assert_explained(run_diff(tmp_path, kw, b), "reshape_for_transpose", "recurrent weights reshaped")
    b = dict(good, weight_ih_l0=kw["kernel"].reshape(4 * H, X))
    assert_explained(run_diff(tmp_path, kw, b), "reshape_for_transpose", "input weights reshaped")


@pytest.mark.parametrize("cell", list(TORCH))
def test_bias_hh_dropped(cell, tmp_path):
    _, a = torch_weights(cell, 8)
    b = dict(a, bias_hh_l0=np.zeros_like(a["bias_hh_l0"]))
    assert_explained(run_diff(tmp_path, a, b), "bias", "recurrent bias dropped")


def test_bias_dropped_entirely(tmp_path):
    _, a = torch_weights("lstm", 9)
    b = {k: v for k, v in a.items() if not k.startswith("bias")}
    assert_explained(run_diff(tmp_path, a, b), "bias", "bias dropped")


def test_keras_bias_put_in_both_torch_biases(tmp_path):
    _, kw = keras_weights("lstm", 10)
    good = convert_weights(kw, cell="lstm", source="keras", target="torch")
    b = dict(good, bias_hh_l0=good["bias_ih_l0"].copy())
    assert_explained(run_diff(tmp_path, kw, b), "bias", "counted twice")


def test_gru_b_hn_dropped(tmp_path):
    _, a = torch_weights("gru", 11)
    hh = a["bias_hh_l0"].copy()
    hh[2 * H :] = 0
    assert_explained(run_diff(tmp_path, a, dict(a, bias_hh_l0=hh)), "bias", "GRU b_hn dropped")


@pytest.mark.parametrize("cell", list(TORCH))
def test_directions_swapped(cell, tmp_path):
    _, a = torch_weights(cell, 12, bidirectional=True)
    b = {}
    for k, v in a.items():
        other = k[: -len("_reverse")] if k.endswith("_reverse") else k + "_reverse"
        b[other] = v
    assert_explained(run_diff(tmp_path, a, b), "directions_swapped", "in every layer")


def test_layers_shifted(tmp_path):
    """Three layers of the same shape (input_size = hidden_size): layer k holds layer k + 1."""
    _, a = torch_weights("gru", 13, input_size=H, num_layers=3)
    b = {k.replace(f"_l{(j + 1) % 3}", f"_l{j}"): a[k] for j in range(3) for k in a if k.endswith(f"_l{(j + 1) % 3}")}
    c = run_diff(tmp_path, a, b)
    assert_explained(c, "layers_shifted", "layer 0 holds A's layer 1, layer 1 holds A's layer 2, layer 2 holds A's layer 0")


@pytest.mark.parametrize("offset", [1.0, -1.0, 2.5])
def test_forget_bias_off_by_a_constant(offset, tmp_path):
    _, kw = keras_weights("lstm", 14)
    b = dict(kw, bias=kw["bias"].copy())
    b["bias"][H : 2 * H] += offset  # Keras i, f, c, o: the forget block
    # Keras keeps float32: A's bias + offset rounds to float32 in B, so undoing it leaves that rounding
    m = assert_explained(run_diff(tmp_path, kw, b), "forget_bias_offset", tol=1e-6)
    assert f"B's is A's {offset:+g}" in m.description


def test_gru_reset_form(tmp_path):
    """Reset-after weights (PyTorch, Keras default) loaded into a Keras GRU(reset_after=False)."""
    _, a = torch_weights("gru", 15)
    kw = convert_weights(a, cell="gru", source="torch", target="keras")
    b = dict(kw, bias=kw["bias"].sum(axis=0))  # (2, 3H) rows summed into one (3H,) bias
    c = run_diff(tmp_path, a, b)
    assert [f.field for f in c.structure] == ["reset_after"]
    assert_explained(c, "gru_reset_form")


# --- not explained -------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", list(TORCH))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_unrelated_random_weights_are_not_explained(cell, bidirectional, tmp_path):
    _, a = torch_weights(cell, 20, num_layers=2, bidirectional=bidirectional)
    _, b = torch_weights(cell, 21, num_layers=2, bidirectional=bidirectional)
    c = run_diff(tmp_path, a, b)
    assert not c.equivalent and c.explained_by == ()
    assert c.max_output_difference > 1e-3
    worst = c.tensors[0]
    assert worst.max_abs_difference == max(t.max_abs_difference for t in c.tensors) > 0 and worst.max_ulps > 4


def test_different_sizes_are_structure_not_weights(tmp_path):
    _, a = torch_weights("lstm", 22)
    _, b = torch_weights("lstm", 23, hidden_size=H + 1)
    c = run_diff(tmp_path, a, b)
    assert [(f.field, f.a, f.b) for f in c.structure] == [("units", H, H + 1)]
    assert c.tensors == () and c.explained_by == ()
    assert c.max_output_difference is None  # outputs (B, T, 4) and (B, T, 5) do not compare


def test_keras_bidirectional_directions_swapped(tmp_path):
    """Keras Bidirectional keys (layer0/forward/...): a converter that wrote the backward
    layer's weights as the forward ones."""
    _, a = torch_weights("lstm", 30, bidirectional=True)
    kw = convert_weights(a, cell="lstm", source="torch", target="keras")
    swapped = {k.replace("forward", "TMP").replace("backward", "forward").replace("TMP", "backward"): v
               for k, v in kw.items()}
    assert run_diff(tmp_path, a, kw).equivalent
    assert_explained(run_diff(tmp_path, a, swapped), "directions_swapped")


# --- equal means within ULPS ulps of the dtype (issue 23, item 8) ---------------------------------


def torch32(cell="lstm", seed=40):
    torch.manual_seed(seed)
    m = TORCH[cell](X, H, batch_first=True)  # float32, U(−1/√H, 1/√H) = U(−0.5, 0.5)
    return {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}


def test_float32_sets_one_element_off_by_1e_6_are_not_equivalent(tmp_path):
    from lstmcalc.comparing import ULPS

    a = torch32()
    b = {k: v.copy() for k, v in a.items()}
    b["weight_hh_l0"][5, 2] += np.float32(1e-6)
    assert b["weight_hh_l0"].dtype == np.float32 and abs(float(a["weight_hh_l0"][5, 2])) < 0.5
    c = run_diff(tmp_path, a, b)
    assert not c.equivalent
    worst = c.tensors[0]
    assert (worst.part, worst.equal) == ("recurrent weights", False)
    ulp = float(np.spacing(np.abs(b["weight_hh_l0"][5, 2])))
    np.testing.assert_allclose(worst.max_ulps, float(b["weight_hh_l0"][5, 2] - a["weight_hh_l0"][5, 2]) / ulp,
                               rtol=1e-9)
    assert worst.max_ulps > 8  # 1e-6 is at least 8 ulps of a float32 below 1 in size
    data = c.to_dict()
    assert data["tolerance"] == {"ulps": ULPS, "dtype": "float32"} and data["equivalent"] is False
    assert data["tensors"][0]["max_ulps"] == worst.max_ulps


@pytest.mark.parametrize("steps,equal", [(1, True), (4, True), (5, False)])
def test_equal_means_within_four_ulps_of_float32(steps, equal, tmp_path):
    """One weight moved by ``steps`` float32 ulps (np.nextafter): 4 is equal, 5 is not (a
    tolerance 100× looser, or 2× looser, fails here)."""
    a = torch32()
    b = {k: v.copy() for k, v in a.items()}
    x = b["weight_ih_l0"][3, 1]
    for _ in range(steps):
        x = np.nextafter(x, np.float32(np.inf))
    b["weight_ih_l0"][3, 1] = x
    c = run_diff(tmp_path, a, b)
    assert c.equivalent is equal
    assert c.tensors[0].max_ulps == pytest.approx(steps, abs=1e-9)


def test_float32_rewrites_that_keep_the_function_stay_equivalent(tmp_path):
    """A float32 file written from a float64 one, a PyTorch LSTM bias moved between bias_ih
    and bias_hh in float32, and the two biases summed into one Keras float32 bias."""
    a64 = torch_weights("lstm", 41)[1]
    a32 = {k: v.astype(np.float32) for k, v in a64.items()}
    assert run_diff(tmp_path, a64, a32).equivalent
    a = torch32()
    d = np.random.default_rng(0).uniform(-3, 3, 4 * H).astype(np.float32)  # moved per element, in float32
    moved = dict(a, bias_ih_l0=a["bias_ih_l0"] + d, bias_hh_l0=a["bias_hh_l0"] - d)
    c = run_diff(tmp_path, a, moved)
    assert c.equivalent and 0 < max(t.max_ulps for t in c.tensors) <= 4  # the sums were rounded, within the ulps
    kw = convert_weights(a, cell="lstm", source="torch", target="keras")
    assert kw["bias"].dtype == np.float32
    assert run_diff(tmp_path, a, kw).equivalent
