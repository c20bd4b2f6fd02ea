"""Every registered convention has its test file here (adding one means adding its file), and
what the registry words for every convention."""

from pathlib import Path

import pytest

from helpers import invoke
from lstmcalc import frameworks


def test_every_convention_has_a_test_file():
    here = Path(__file__).parent
    assert {p.stem[len("test_"):] for p in here.glob("test_*.py")} - {"registry", "pairs"} == set(frameworks.names())


@pytest.mark.parametrize("name", frameworks.names())
def test_proj_size_refusal_says_the_conventions_reason(name):
    """--proj-size on a convention without a projection: its own WHY_NOT reason, one line, exit 2
    (it was one sentence listing PyTorch and TFLite for every convention)."""
    fw = frameworks.get(name)
    r = invoke("count", "-u", "4", "-x", "3", "-f", name, "--proj-size", "2")
    if "proj_size" in fw.OPTIONS:
        assert r.exit_code == 0 and int(r.stdout) > 0, r.stderr
        return
    reason = fw.WHY_NOT["proj_size"]  # every convention without one says why (KeyError: it does not)
    assert "projection" in reason
    assert (r.exit_code, r.stdout) == (2, "")
    owners = " or ".join(m.NAME for m in frameworks.having("proj_size"))
    assert r.stderr == f"lstmcalc: error: --proj-size: {reason}; a projection exists for --framework {owners} --cell lstm\n"
    assert "torch" in owners and name not in owners.split(" or ")
