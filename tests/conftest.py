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


@pytest.fixture
def use_backend(monkeypatch):
    """use(name) -> the ``backend=`` to pass: "numba-kernel", "numba-stepwise" and
    "numba-units" force one path of the Numba backend, whatever the sizes (the whole loop
    over time in Numba; BLAS products with fused Numba gate math; an LSTM's units split
    over two threads that meet every step, the kernel path for what it does not cover);
    other names pass through."""

    def use(name: str) -> str:
        if not name.startswith("numba-"):
            return name
        numba_module = pytest.importorskip("lstmcalc._numba")
        monkeypatch.setattr(numba_module, "STEPWISE_MIN_WORK", 0 if name == "numba-stepwise" else 2**62)
        monkeypatch.setattr(numba_module, "STEPWISE_FEW_ROWS_WORK", 0 if name == "numba-stepwise" else 2**62)
        units = name == "numba-units"  # LSTM without projection or lengths: units split over 2 threads
        monkeypatch.setattr(numba_module, "UNITS_ON", units)
        if units:
            for attr, value in (("SPLIT_MIN_MACS", 0), ("UNITS_MAX_ROWS", 2**62), ("UNITS_MIN_PER_THREAD", 1),
                                ("UNITS_MIN_WORK", 0), ("STEPWISE_MIN_WORK", 2**62)):
                monkeypatch.setattr(numba_module, attr, value)
            monkeypatch.setattr(numba_module, "threads", lambda: 2)
        return "numba"

    return use


@pytest.fixture(params=["numba-kernel", "numba-stepwise", "numba-units"])
def numba_path(request, use_backend) -> str:
    """Runs the test once per path of the Numba backend (see ``use_backend``)."""
    use_backend(request.param)
    return request.param
