"""The flax_nnx_opt convention (lstmcalc/frameworks/flax_nnx_opt.py): the shared conformance check, then its own tests."""

from .conformance import check_convention


def test_conformance():
    check_convention("flax_nnx_opt")
