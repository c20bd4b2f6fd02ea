"""Regenerate the shell completion scripts from the app itself.

    python completions/generate.py

Each script is Typer's stub, which calls back into ``lstmcalc`` for the candidates, so it
stays right when options change; tests/test_completions.py fails when a file here differs
from what this prints.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SHELLS = {"bash": "lstmcalc.bash", "zsh": "lstmcalc.zsh", "fish": "lstmcalc.fish"}


def script(shell: str) -> str:
    # Typer's own switch that makes --show-completion take the shell as a value instead of
    # detecting the shell this process runs under.
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "lstmcalc", "--show-completion", shell],
        capture_output=True, text=True, check=True, env=env,
    )
    return out.stdout.rstrip("\n") + "\n"


def main() -> None:
    here = Path(__file__).parent
    for shell, name in SHELLS.items():
        (here / name).write_text(script(shell), encoding="utf-8")
        print(f"wrote {here / name}")


if __name__ == "__main__":
    main()
