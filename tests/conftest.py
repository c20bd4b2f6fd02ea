"""Shared pytest options: ``--regen-golden`` rewrites the golden files instead of comparing."""

import pytest


def pytest_addoption(parser):
    parser.addoption(
        "--regen-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/*.txt from the current output instead of comparing",
    )


@pytest.fixture
def regen_golden(request) -> bool:
    return request.config.getoption("--regen-golden")


NUMBA_PATHS = ("kernel", "stepwise")


@pytest.fixture(params=NUMBA_PATHS)
def numba_path(request, monkeypatch) -> str:
    """Runs the test once per path of the Numba backend: "kernel" (the whole loop over time
    in Numba) and "stepwise" (BLAS products, fused Numba gate math), whatever the sizes."""
    numba_module = pytest.importorskip("lstmcalc._numba")
    monkeypatch.setattr(numba_module, "STEPWISE_MIN_WORK", 2**62 if request.param == "kernel" else 0)
    return request.param
