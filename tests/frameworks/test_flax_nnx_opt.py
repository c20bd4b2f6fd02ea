"""The flax_nnx_opt convention (lstmcalc/frameworks/flax_nnx_opt.py): the shared conformance check, then its own tests."""

from __future__ import annotations

import lstmcalc

from .conformance import check_convention

H, X = 3, 4


def test_conformance():
    check_convention("flax_nnx_opt")


def test_counts():
    expected = 4 * H * (X + H) + 4 * H
    assert lstmcalc.count(H, X, framework="flax_nnx_opt", cell="lstm") == expected
    b = lstmcalc.breakdown(H, X, framework="flax_nnx_opt", cell="lstm")
    assert sum(t.count for t in b.tensors) == expected == b.total
