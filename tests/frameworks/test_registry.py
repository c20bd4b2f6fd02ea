"""Every registered convention has its test file here (adding one means adding its file)."""

from pathlib import Path

from lstmcalc import frameworks


def test_every_convention_has_a_test_file():
    here = Path(__file__).parent
    assert {p.stem[len("test_"):] for p in here.glob("test_*.py")} - {"registry"} == set(frameworks.names())
