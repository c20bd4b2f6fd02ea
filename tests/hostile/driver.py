"""Runs lstmcalc commands one after another in this process, as the command line would
(``lstmcalc.cli.main``), with file descriptors 1 and 2 captured per command, and writes one
JSON line per command to REPORT: {"argv", "code", "stdout", "stderr"}. A command that raises instead
of exiting reports code "exception" and its traceback on stderr.

Usage: python driver.py '[["inspect", "f.npz"], ...]' ''|full|closed REPORT   (the tests run it under ulimit -v)

``full``: each command's stdout is /dev/full (every write fails with ENOSPC); ``closed``:
each command starts as Python does with fd 1 closed (``sys.stdout`` is None).
"""

import json
import os
import sys
import tempfile
import traceback


def run(argv: list[str], mode: str = "") -> dict:
    from lstmcalc.cli import main

    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    if mode == "full":
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, 1)
        os.close(full)
    else:
        os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    stdout = sys.stdout
    if mode == "closed":
        sys.stdout = None
    try:
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
        except BaseException:  # noqa: BLE001  a traceback is what the tests look for
            traceback.print_exc()
            code = "exception"
        if sys.stdout is not None:
            sys.stdout.flush()
        sys.stderr.flush()
    finally:
        sys.stdout = stdout
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
    out.seek(0)
    err.seek(0)
    return {"argv": argv, "code": code, "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace")}


if __name__ == "__main__":
    mode, report = sys.argv[2], sys.argv[3]
    with open(report, "w") as f:  # not stdout: what a failed flush left in its buffer must not mix in
        for argv in json.loads(sys.argv[1]):
            f.write(json.dumps(run(argv, mode)) + "\n")
            f.flush()
