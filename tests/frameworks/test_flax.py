"""The flax convention (lstmcalc/frameworks/flax.py): the shared conformance check, then its own tests."""

from __future__ import annotations

import numpy as np
import pytest

import lstmcalc
from helpers import invoke
from lstmcalc.converting import convert_weights
from lstmcalc.errors import FileError
from lstmcalc.readers import read_layer
from lstmcalc.spec import SpecError

from .conformance import check_convention

H, X = 3, 4


def test_conformance():
    check_convention("flax")


@pytest.mark.parametrize(("cell", "expected"), [
    ("lstm", 4 * H * (X + H) + 4 * H), ("gru", 3 * H * (X + H) + 4 * H), ("rnn", H * (X + H) + H)])
def test_counts(cell, expected):
    assert lstmcalc.count(H, X, framework="flax", cell=cell) == expected
    b = lstmcalc.breakdown(H, X, framework="flax", cell=cell)
    assert sum(t.count for t in b.tensors) == expected == b.total


def test_a_reset_before_gru_is_refused_with_the_reason():
    weights = {"kernel": np.ones((X, 9)), "recurrent_kernel": np.ones((H, 9)), "bias": np.ones(9)}
    with pytest.raises(SpecError) as err:
        convert_weights(weights, cell="gru", source="keras", target="flax")
    assert err.value.param == "reset_after" and "reset-before" in str(err.value)


def test_msgpack_without_flax_or_damaged(tmp_path):
    bad = tmp_path / "x.msgpack"
    bad.write_bytes(b"\xc1\xc1 not msgpack")
    with pytest.raises(FileError, match="x.msgpack: "):
        read_layer(bad)


def test_breakdown_gate_order_of_a_per_gate_tree():
    """The tensor table's gate order comes from the framework (a Flax tree has one tensor per gate)."""
    r = invoke("breakdown", "--units", "2", "--input", "3", "--framework", "flax", "--cell", "gru")
    assert r.exit_code == 0 and "Flax linen tensors (gate order r z n)" in r.stdout
