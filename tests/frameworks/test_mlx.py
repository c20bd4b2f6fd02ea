"""The mlx convention (lstmcalc/frameworks/mlx.py): the shared conformance check, then its own tests."""

from __future__ import annotations

import numpy as np
import pytest

import lstmcalc
from helpers import invoke, torch_state_dict
from lstmcalc.converting import convert_weights
from lstmcalc.readers import read_layer
from lstmcalc.spec import SpecError

from .conformance import check_convention

H, X = 3, 4


def test_conformance():
    check_convention("mlx")


@pytest.mark.parametrize(("cell", "expected"), [
    ("lstm", 4 * H * (X + H) + 4 * H), ("gru", 3 * H * (X + H) + 4 * H), ("rnn", H * (X + H) + H)])
def test_counts(cell, expected):
    assert lstmcalc.count(H, X, framework="mlx", cell=cell) == expected
    b = lstmcalc.breakdown(H, X, framework="mlx", cell=cell)
    assert sum(t.count for t in b.tensors) == expected == b.total


def test_gru_bias_rows_say_which_gate_has_two():
    rows = {r.gate: r for r in lstmcalc.breakdown(H, X, framework="mlx", cell="gru").gates}
    assert (rows["r"].bias, rows["z"].bias, rows["n"].bias) == (H, H, 2 * H)


@pytest.mark.parametrize(("weights", "param", "words"), [
    ({**torch_state_dict("lstm", H, X), **{k + "_reverse": v for k, v in torch_state_dict("lstm", H, X).items()}},
     "bidirectional", "no bidirectional"),
    ({"weight_ih_l0": np.ones((8, X)), "weight_hh_l0": np.ones((8, 1)), "weight_hr_l0": np.ones((1, 2))},
     "proj_size", "projection"),
])
def test_refusals_give_the_reason(weights, param, words):
    with pytest.raises(SpecError) as err:
        convert_weights(weights, cell="lstm", source="torch", target="mlx")
    assert err.value.param == param and words in str(err.value)


def test_mlx_old_orientation_is_refused_with_the_reason():
    from lstmcalc.weights import infer_spec

    old = {"Wx": np.zeros((X, 4 * H)), "Wh": np.zeros((H, 4 * H)), "bias": np.zeros(4 * H)}
    with pytest.raises(SpecError, match=r"\(H, G·H\), the transpose of MLX's \(G·H, H\); transpose Wx and Wh"):
        infer_spec(old, cell="lstm", framework="mlx")
    rnn = {"Wxh": np.zeros((X, H)), "Whh": np.zeros((H, H)), "bias": np.zeros(H)}
    with pytest.raises(SpecError, match=r"Wxh: shape \(4, 3\) is \(X, H\), the transpose"):
        infer_spec(rnn, cell="rnn", framework="mlx")


def test_cli_convert_into_mlx(tmp_path):
    np.savez(tmp_path / "t.npz", **torch_state_dict("gru", H, X))
    r = invoke("convert", tmp_path / "t.npz", "--to", "mlx", "-o", tmp_path / "m.npz", "--json")
    assert r.exit_code == 0, r.output
    assert read_layer(tmp_path / "m.npz").spec.framework == "mlx"


def test_breakdown_diagram_says_a_gru_candidate_has_two_biases():
    r = invoke("breakdown", "--units", "2", "--input", "3", "--framework", "mlx", "--cell", "gru", "--diagram",
               env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "Biases (one or two per gate here)" in r.stdout
