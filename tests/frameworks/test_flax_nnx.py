"""The flax_nnx convention (lstmcalc/frameworks/flax_nnx.py): the shared conformance check, then its own tests."""

from __future__ import annotations

import numpy as np
import pytest

import lstmcalc
from helpers import invoke, torch_state_dict
from lstmcalc.converting import convert_weights
from lstmcalc.spec import SpecError

from .conformance import check_convention

H, X = 3, 4


def test_conformance():
    check_convention("flax_nnx")


def test_counts():
    expected = 3 * H * (X + H) + 3 * H  # GRUCell: no b_hn
    assert lstmcalc.count(H, X, framework="flax_nnx", cell="gru") == expected
    b = lstmcalc.breakdown(H, X, framework="flax_nnx", cell="gru")
    assert sum(t.count for t in b.tensors) == expected == b.total


def test_a_gru_with_b_hn_is_refused_with_the_reason(tmp_path):
    with pytest.raises(SpecError) as err:
        convert_weights(torch_state_dict("gru", H, X), cell="gru", source="torch", target="flax_nnx")
    assert err.value.param == "bias" and "no recurrent candidate bias b_hn" in str(err.value)
    np.savez(tmp_path / "t.npz", **torch_state_dict("gru", H, X))
    r = invoke("convert", tmp_path / "t.npz", "--to", "flax_nnx", "-o", tmp_path / "n.npz")
    assert r.exit_code == 1 and "b_hn" in r.stderr and r.stdout == ""  # the file's content (issue 23 item 7)
    assert not (tmp_path / "n.npz").exists()
