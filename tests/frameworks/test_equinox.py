"""The equinox convention (lstmcalc/frameworks/equinox.py): the shared conformance check, then its own tests."""

from __future__ import annotations

import pytest

import lstmcalc
from helpers import invoke, torch_state_dict
from lstmcalc.converting import convert_weights
from lstmcalc.spec import SpecError

from .conformance import check_convention

H, X = 3, 4


def test_conformance():
    check_convention("equinox")


@pytest.mark.parametrize(("cell", "expected"), [("lstm", 4 * H * (X + H) + 4 * H), ("gru", 3 * H * (X + H) + 4 * H)])
def test_counts(cell, expected):
    assert lstmcalc.count(H, X, framework="equinox", cell=cell) == expected
    b = lstmcalc.breakdown(H, X, framework="equinox", cell=cell)
    assert sum(t.count for t in b.tensors) == expected == b.total


def test_a_stack_is_refused_with_the_reason():
    import numpy as np

    stacked = {**torch_state_dict("lstm", H, X), "weight_ih_l1": np.zeros((12, 3)), "weight_hh_l1": np.zeros((12, 3)),
               "bias_ih_l1": np.zeros(12), "bias_hh_l1": np.zeros(12)}
    with pytest.raises(SpecError) as err:
        convert_weights(stacked, cell="lstm", source="torch", target="equinox")
    assert err.value.param == "layers" and "one layer" in str(err.value)
    r = invoke("count", "--units", "3", "--input", "2", "--framework", "equinox", "--layers", "2")
    assert r.exit_code == 2 and "one layer" in r.stderr
