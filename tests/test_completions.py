"""Shell completions: committed scripts are current, and a real bash completes with them."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("generate", ROOT / "completions" / "generate.py")
generate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(generate)


@pytest.mark.parametrize("shell, name", sorted(generate.SHELLS.items()))
def test_committed_completion_is_current(shell, name):
    committed = (ROOT / "completions" / name).read_text(encoding="utf-8")
    assert committed == generate.script(shell), f"run: python completions/generate.py ({name} is stale)"


def _complete(words: list[str], cword: int) -> list[str]:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed: install bash to test the bash completion")
    # `lstmcalc` must resolve to this interpreter's console script, as after `pip install .`
    bindir = Path(sys.executable).parent
    if not (bindir / "lstmcalc").exists():
        pytest.skip("the lstmcalc console script is not installed next to this Python: pip install .")
    script = (
        f"source {ROOT / 'completions' / 'lstmcalc.bash'}\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={cword}\n"
        "_lstmcalc_completion lstmcalc\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    return sorted(line for line in out.stdout.splitlines() if line)


def test_bash_completes_subcommand():
    assert _complete(["lstmcalc", "br"], 1) == ["breakdown"]


def test_bash_offers_cells_and_frameworks():
    assert _complete(["lstmcalc", "count", "--cell", ""], 3) == ["convlstm1d", "convlstm2d", "convlstm3d",
                                                                 "gru", "lstm", "rnn"]
    # every registered framework (lstmcalc.frameworks.MODULES)
    assert _complete(["lstmcalc", "count", "--framework", ""], 3) == sorted(
        ["keras", "torch", "torch_cell", "onnx", "keras2", "mlx", "equinox", "flax", "flax_nnx", "flax_nnx_opt", "tflite"])


def test_install_completion_writes_the_bash_script(tmp_path):
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed: install bash to test the bash completion")
    bindir = Path(sys.executable).parent
    if not (bindir / "lstmcalc").exists():
        pytest.skip("the lstmcalc console script is not installed next to this Python: pip install .")
    env = {**os.environ, "HOME": str(tmp_path), "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    # run from bash, so that Typer detects bash as the calling shell
    out = subprocess.run(["bash", "--norc", "-c", "lstmcalc --install-completion"], capture_output=True, text=True,
                         env=env)
    assert out.returncode == 0, out.stderr
    installed = (tmp_path / ".bash_completions" / "lstmcalc.sh").read_text()
    assert installed.rstrip("\n") == generate.script("bash").rstrip("\n")
    assert "lstmcalc.sh" in (tmp_path / ".bashrc").read_text()
