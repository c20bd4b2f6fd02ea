"""The torch convention (lstmcalc/frameworks/torch.py): the shared conformance check, then its own tests."""

from __future__ import annotations

from helpers import invoke

from .conformance import check_convention

H, X = 3, 4


def test_conformance():
    check_convention("torch")


def test_breakdown_diagram_says_two_biases_per_gate():
    r = invoke("breakdown", "--units", "2", "--input", "3", "--framework", "torch", "--diagram", env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "Biases (two per gate here)" in r.stdout
