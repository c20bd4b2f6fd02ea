"""Shared by the hostile-input tests: run commands in a subprocess under a memory cap."""

import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
MEMORY_CAP = 3 * 1024**3  # ulimit -v for every subprocess here: below a 3 GiB bomb plus what Python holds
TIMEOUT = 240  # seconds: a guard against hangs (a FIFO, /dev/zero), not a speed test


def _cap():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def environment() -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), KERAS_BACKEND="torch", NO_COLOR="1", COLUMNS="100")
    env.pop("LSTMCALC_DEBUG", None)
    return env


def run_capped(argvs: list[list[str]], cwd, mode: str = "") -> list[dict]:
    """Run each argv through lstmcalc.cli.main in ONE subprocess under ulimit -v and a
    timeout; the results, one per argv (see driver.py; ``mode`` full or closed stdout)."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.jsonl"
        try:
            out = subprocess.run([sys.executable, str(HERE / "driver.py"), json.dumps(argvs), mode, str(report)],
                                 capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd, env=environment(),
                                 preexec_fn=_cap)
        except subprocess.TimeoutExpired:
            done = report.read_text() if report.exists() else ""
            pytest.fail(f"hung: no answer within {TIMEOUT} s; finished before the hang: {done[-2000:]}")
        lines = report.read_text().splitlines() if report.exists() else []
    results = [json.loads(line) for line in lines]
    assert len(results) == len(argvs), (out.returncode, out.stderr[-3000:])
    return results


def assert_refused(result: dict, needle: str | None = None) -> None:
    """Exit 1 or 2, exactly one `lstmcalc: error:` line on stderr, nothing on stdout, no traceback."""
    where = " ".join(result["argv"])
    assert result["code"] in (1, 2), f"{where}: exit {result['code']}\n{result['stderr'][-3000:]}"
    assert result["stdout"] == "", f"{where}: stdout {result['stdout'][:500]!r}"
    lines = result["stderr"].splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstmcalc: error: "), f"{where}: stderr {result['stderr'][-3000:]!r}"
    assert "Traceback" not in result["stderr"]
    if needle is not None:
        assert needle in lines[0], f"{where}: {lines[0]!r} does not say {needle!r}"
