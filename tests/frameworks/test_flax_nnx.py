"""The flax_nnx convention (lstmcalc/frameworks/flax_nnx.py): the shared conformance check, then its own tests."""

from .conformance import check_convention


def test_conformance():
    check_convention("flax_nnx")
