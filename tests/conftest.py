"""Shared pytest options: ``--regen-golden`` rewrites the golden files instead of comparing;
and, at the end of a run with skips, one line saying how many cross-checks against the real
frameworks were skipped and the command that runs them."""

import re

import pytest

# The one command that installs every framework and optional package the skipped tests need
# (pyproject.toml's `crosscheck` extra: the pins of .ci/run, CPU builds).
RUN_SKIPPED = "pip install '.[crosscheck]' && python -m pytest, or bash .ci/run as CI does"
# Top-level modules of the real frameworks and tools the cross-checks compare with: a test
# skipped because one of them is missing is a cross-check wherever it lives.
FRAMEWORK_MODULES = frozenset({
    "torch", "keras", "onnx", "onnxruntime", "onnxscript", "onnxconverter_common", "jax", "jaxlib", "flax",
    "equinox", "mlx", "ml_dtypes", "ai_edge_litert", "tflite", "ptflops", "thop", "torchinfo",
})
NOT_IMPORTED = re.compile(r"could not import '([\w.]+)'")
MISSING = re.compile(r"No module named '([\w.]+)'")


def pytest_addoption(parser):
    parser.addoption(
        "--regen-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/*.txt from the current output instead of comparing",
    )


def is_crosscheck(report) -> bool:
    """A skipped test (or module) that compares with a real framework: it lives under
    tests/crosscheck/, or it was skipped because a framework could not be imported."""
    path = "/" + report.nodeid.split("::", 1)[0]
    if "/crosscheck/" in path:
        return True
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr or "")
    missing = NOT_IMPORTED.search(reason)
    return bool(missing) and missing.group(1).split(".")[0] in FRAMEWORK_MODULES


def skip_summary(skipped) -> str | None:
    """The line that ends a run with skips (None without skips). A file skipped whole (an
    importorskip at the top of a module) counts once, as pytest counts it."""
    if not skipped:
        return None
    crosschecks = [report for report in skipped if is_crosscheck(report)]
    files = sum(1 for report in crosschecks if "::" not in report.nodeid)
    tests = len(crosschecks) - files
    parts = [f"{files} cross-check file{'s' * (files != 1)}"] if files else []
    parts += [f"{tests} cross-check test{'s' * (tests != 1)}"] if tests or not files else []
    others = [report for report in skipped if not is_crosscheck(report)]
    needs = {}
    for report in others:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr or "")
        missing = MISSING.search(reason) or NOT_IMPORTED.search(reason)
        if missing:
            needs[missing.group(1).split(".")[0]] = needs.get(missing.group(1).split(".")[0], 0) + 1
    named = ", ".join(sorted(needs, key=lambda name: -needs[name]))
    also = (f" (and {len(others)} other test{'s' * (len(others) != 1)}"
            + (f" that need{'s' * (len(others) == 1)} {named} or another tool)" if named else ")")) if others else ""
    if not crosschecks and not needs:  # nothing an install brings back: each skip's reason above says what to do
        return (f"lstmcalc: no cross-check against the real frameworks was skipped; {len(others)} other "
                f"test{'s' * (len(others) != 1)} skipped, for the reason{'s' * (len(others) != 1)} listed above")
    return (f"lstmcalc: skipped {' and '.join(parts)} against the real frameworks{also}; "
            f"to run them: {RUN_SKIPPED}")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """After pytest's own summary (the short list of skip reasons included), the skip line."""
    yield
    line = skip_summary(terminalreporter.stats.get("skipped", []))
    if line:
        terminalreporter.write_line(line, yellow=True, bold=True)


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
