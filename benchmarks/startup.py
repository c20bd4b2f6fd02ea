"""Start-up time of ``lstmcalc count`` against the floor of any Typer CLI.

The floor is a minimal Typer app with one command taking the same options as
``lstmcalc count`` and printing the formula. Both run as fresh processes with the
same interpreter; the table shows the median wall time of N runs and the ratio.

Bytecode: ``pip install`` compiles every module to ``.pyc``, so an installed lstmcalc starts
from bytecode, as Typer, Click and Rich do. An environment with ``PYTHONDONTWRITEBYTECODE=1``
(this development VM sets it) and an editable install compile lstmcalc's modules from source
on every run, ~12 modules, while the floor is one small file. The first table therefore runs
every command with a bytecode cache of its own (``PYTHONPYCACHEPREFIX`` in a temporary folder,
filled by a warm-up run; the same for Typer and for lstmcalc), which is what the target is
about; the second runs without any cache, to show what compiling costs.

    python benchmarks/startup.py [--runs 41]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

MINIMAL_APP = '''
from enum import Enum
from typing import Annotated, Optional

import typer


class Cell(str, Enum):
    lstm = "lstm"
    gru = "gru"
    rnn = "rnn"


class Framework(str, Enum):
    keras = "keras"
    torch = "torch"


class MergeMode(str, Enum):
    concat = "concat"
    sum = "sum"
    mul = "mul"
    ave = "ave"


app = typer.Typer()


@app.command()
def count(
    units: Annotated[int, typer.Option("--units")],
    input_size: Annotated[int, typer.Option("--input")],
    cell: Annotated[Cell, typer.Option("--cell")] = Cell.lstm,
    framework: Annotated[Framework, typer.Option("--framework")] = Framework.keras,
    no_bias: Annotated[bool, typer.Option("--no-bias")] = False,
    bidirectional: Annotated[bool, typer.Option("--bidirectional")] = False,
    merge_mode: Annotated[Optional[MergeMode], typer.Option("--merge-mode")] = None,
    layers: Annotated[int, typer.Option("--layers")] = 1,
    proj_size: Annotated[int, typer.Option("--proj-size")] = 0,
    reset_after: Annotated[Optional[bool], typer.Option("--reset-after/--no-reset-after")] = None,
    batch: Annotated[int, typer.Option("--batch")] = 32,
    time: Annotated[int, typer.Option("--time")] = 1,
    return_sequences: Annotated[bool, typer.Option("--return-sequences")] = False,
    return_state: Annotated[bool, typer.Option("--return-state")] = False,
    json: Annotated[bool, typer.Option("--json")] = False,
):
    print(4 * ((input_size + units) * units + units))


app()
'''

ARGS = ["--units", "2", "--input", "1"]


def median_ms(cmd: list[str], runs: int, cache: str | None) -> float:
    env = dict(os.environ, NO_COLOR="1")
    if cache is None:  # compile from source every run
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    else:  # bytecode cached, as after pip install
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache
    subprocess.run(cmd, check=True, capture_output=True, env=env)  # warm the file cache (and the bytecode cache)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env=env)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=41)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        floor_script = os.path.join(tmp, "minimal_typer_app.py")
        with open(floor_script, "w") as f:
            f.write(MINIMAL_APP)
        script = shutil.which("lstmcalc")
        ours = [script, "count", *ARGS] if script else [sys.executable, "-m", "lstmcalc", "count", *ARGS]
        rows = [
            ("python -c pass", [sys.executable, "-c", "pass"]),
            ('python -c "import typer"', [sys.executable, "-c", "import typer"]),
            ("minimal Typer app (floor)", [sys.executable, floor_script, *ARGS]),
            ("lstmcalc count", ours),
        ]
        cached = [(name, median_ms(cmd, args.runs, os.path.join(tmp, "pycache"))) for name, cmd in rows]
        compiled = [(name, median_ms(cmd, args.runs, None)) for name, cmd in rows]

    print(f"median wall time of {args.runs} runs, {sys.executable} ({sys.version.split()[0]})")
    for title, results in (("bytecode cached (as installed by pip)", cached),
                           ("no bytecode cache (every module compiled each run)", compiled)):
        floor = results[2][1]
        print(f"\n{title}")
        print(f"{'command':<30} {'ms':>8} {'x floor':>8}")
        for name, ms in results:
            print(f"{name:<30} {ms:8.1f} {ms / floor:8.2f}")
    print(f"\nlstmcalc count / floor = {cached[3][1] / cached[2][1]:.3f} with bytecode (target <= 1.15), "
          f"{compiled[3][1] / compiled[2][1]:.3f} compiling every module")


if __name__ == "__main__":
    main()
