"""Runs lstmcalc commands one after another in this process, as the command line would
(``lstmcalc.cli.main``), with file descriptors 1 and 2 captured per command, and prints one
JSON line per command: {"argv", "code", "stdout", "stderr"}. A command that raises instead
of exiting reports code "exception" and its traceback on stderr.

Usage: python driver.py '[["inspect", "f.npz"], ...]'   (the tests run it under ulimit -v)
"""

import json
import os
import sys
import tempfile
import traceback


def run(argv: list[str]) -> dict:
    from lstmcalc.cli import main

    out, err = tempfile.TemporaryFile(), tempfile.TemporaryFile()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    try:
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
        except BaseException:  # noqa: BLE001  a traceback is what the tests look for
            traceback.print_exc()
            code = "exception"
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
    out.seek(0)
    err.seek(0)
    return {"argv": argv, "code": code, "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace")}


if __name__ == "__main__":
    for argv in json.loads(sys.argv[1]):
        print(json.dumps(run(argv)), flush=True)
