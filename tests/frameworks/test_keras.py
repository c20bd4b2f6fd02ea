"""The keras convention (lstmcalc/frameworks/keras.py): the shared conformance check, then its own tests."""

from .conformance import check_convention


def test_conformance():
    check_convention("keras")
