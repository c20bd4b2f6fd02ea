"""run --initial-state and --lengths files: a device, a FIFO or a directory is refused in one
line at once (the state reader once opened /dev/zero and read until killed)."""

import os
import subprocess
import sys

import pytest


def _run(*args, cwd):
    return subprocess.run([sys.executable, "-m", "lstmcalc", "run", "-u", "3", "-x", "2", *args],
                          capture_output=True, text=True, timeout=120, cwd=cwd)  # a hang guard, not a timing


@pytest.mark.parametrize("option", ["--initial-state", "--lengths"])
@pytest.mark.parametrize("kind", ["device", "fifo", "directory"])
def test_state_and_length_files_that_are_not_regular_files(tmp_path, option, kind):
    name = {"--initial-state": "s.npz", "--lengths": "l.npy"}[option]
    path = tmp_path / name
    if kind == "device":
        path.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    r = _run(option, str(path), cwd=tmp_path)  # a hang would raise TimeoutExpired
    assert r.returncode == 1
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstmcalc: error: ") and "allowed: a regular file" in lines[0]
    assert "Traceback" not in r.stderr
