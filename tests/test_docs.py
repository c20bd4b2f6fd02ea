"""The README is true: its Quick start has the promised shape, every command is documented,
and every ``$ lstmcalc ...`` line in a console block prints exactly what follows it.

``pytest --regen-golden`` rewrites those outputs in README.md from the tool as it is now.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest


from lstmcalc import count
from lstmcalc.cli import app

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"```console\n(.*?)```", re.S)


def run_readme_command(command: str) -> str:
    argv = shlex.split(command)
    assert argv[0] == "lstmcalc", command
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    result = subprocess.run([sys.executable, "-m", "lstmcalc", *argv[1:]], capture_output=True, text=True, env=env,
                            cwd=README.parent)  # examples/... paths are relative to the repository
    return "".join(line.rstrip() + "\n" for line in (result.stdout + result.stderr).splitlines())


# Wall-clock figures change from run to run; everything else must match to the character.
VOLATILE = [(re.compile(r"[0-9][0-9,.]* ms"), "<ms>"), (re.compile(r"[0-9][0-9,.e+-]* GFLOP/s"), "<GFLOP/s>")]


def stable(text: str) -> str:
    for pattern, mask in VOLATILE:
        text = pattern.sub(mask, text)
    return text


def console_examples(text: str):
    """(command, expected output) for every '$ ' line of every console block."""
    for block in BLOCK.findall(text):
        parts = re.split(r"^\$ (.*)\n", block, flags=re.M)
        for k in range(1, len(parts), 2):
            yield parts[k], parts[k + 1]


def test_quick_start_is_two_commands():
    text = README.read_text(encoding="utf-8")
    sections = re.findall(r"^## (.*)$", text, flags=re.M)
    assert sections[0] == "Quick start"
    body = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```[a-z]*\n(.*?)```", body, re.S)
    assert len(blocks) == 1
    commands = [line for line in blocks[0].splitlines() if line.strip()]
    assert len(commands) == 2
    assert commands[0].startswith("pip install . && lstmcalc breakdown --units 2 --input 1")
    assert "pytest" in commands[1] and "[test]" in commands[1]


def test_readme_examples_are_current(regen_golden):
    text = README.read_text(encoding="utf-8")
    examples = list(console_examples(text))
    assert len(examples) >= 10
    if regen_golden:
        def refresh(match):
            out = []
            for command, _ in console_examples(match.group(0)):
                out.append(f"$ {command}\n{run_readme_command(command)}")
            return "```console\n" + "".join(out) + "```"

        README.write_text(BLOCK.sub(refresh, text), encoding="utf-8")
        return
    for command, expected in examples:
        if needs_onnx(command):
            continue  # test_readme_onnx_examples_are_current (the onnx package is an optional extra)
        assert stable(run_readme_command(command)) == stable(expected), command


def needs_onnx(command: str) -> bool:
    """Commands that read an .onnx file need the optional onnx package (lstmcalc[onnx])."""
    return ".onnx" in command and not command.startswith("lstmcalc why")


def test_readme_onnx_examples_are_current():
    pytest.importorskip("onnx")  # installed by .ci/run; the Quick start's test extra does not have it
    examples = [(c, e) for c, e in console_examples(README.read_text(encoding="utf-8")) if needs_onnx(c)]
    assert examples  # the README shows at least one
    for command, expected in examples:
        assert stable(run_readme_command(command)) == stable(expected), command


def test_every_command_is_documented():
    import typer

    text = README.read_text(encoding="utf-8")
    names = sorted(typer.main.get_command(app).list_commands(None))
    assert names  # the app has commands
    for name in names:
        assert f"### {name}" in text, name
        assert f"lstmcalc {name} " in text, name  # an example of it (console blocks are also run)


def test_readme_table_rows_match_the_tool():
    text = README.read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$", text, flags=re.M)
    assert len(rows) == 4
    for h, x, keras, torch in rows:
        assert count(units=int(h), input_size=int(x)) == int(keras)
        assert count(units=int(h), input_size=int(x), framework="torch") == int(torch)


def test_json_schemas_in_readme_match_the_tool(tmp_path):
    """Each top-level key the README's JSON table promises is in the command's output."""
    import json

    import numpy as np
    from typer.testing import CliRunner

    text = README.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \| `(\{[^`]*\})`", text, flags=re.M))
    np.savez(tmp_path / "k.npz", kernel=np.ones((2, 8)), recurrent_kernel=np.ones((2, 8)), bias=np.ones(8))
    calls = {
        "count": ["count", "-u", "2", "-x", "1"],
        "breakdown": ["breakdown", "-u", "2", "-x", "1"],
        "cost": ["cost", "-u", "2", "-x", "1"],
        "explain": ["explain", "-u", "2", "-x", "1"],
        "run": ["run", "-u", "2", "-x", "1", "--backend", "numpy"],
        "convert": ["convert", str(tmp_path / "k.npz"), "-o", str(tmp_path / "t.npz")],
        "inspect": ["inspect", str(tmp_path / "k.npz")],
        "why": ["why", "size mismatch for weight_hh_l0: copying a param with shape torch.Size([8, 2]) from "
                "checkpoint, the shape in current model is torch.Size([12, 3])."],
        "diff": ["diff", str(tmp_path / "k.npz"), str(tmp_path / "k.npz")],
    }
    assert set(rows) == set(calls) == set(typer_commands())
    for name, args in calls.items():
        result = CliRunner().invoke(app, [*args, "--json"])
        assert result.exit_code == 0, (name, result.stderr)
        keys = set(re.findall(r'"(\w+)"', rows[name].split("[", 1)[0] if name != "count" else rows[name]))
        assert keys <= set(json.loads(result.stdout)), name


def typer_commands():
    import typer

    return typer.main.get_command(app).list_commands(None)
