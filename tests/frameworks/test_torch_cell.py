"""The torch_cell convention (lstmcalc/frameworks/torch_cell.py): the shared conformance check, then its own tests."""

from .conformance import check_convention


def test_conformance():
    check_convention("torch_cell")
