"""The README and the documentation site (docs/) are true: the README's Quick start has the
promised shape, every command and every convention has its page, and every ``$ lstmcalc ...``
line in a console block, in README.md and in every docs/**/*.md, prints exactly what follows it.

``pytest --regen-golden`` rewrites those outputs, in README.md and in every docs page, from
the tool as it is now.
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest


from lstmcalc import count
from lstmcalc import frameworks
from lstmcalc.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MKDOCS = ROOT / "mkdocs.yml"
BLOCK = re.compile(r"```console\n(.*?)```", re.S)


def documents() -> list[Path]:
    """README.md and every page of the documentation site."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def run_readme_command(command: str) -> str:
    argv = shlex.split(command)
    assert argv[0] == "lstmcalc", command
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    result = subprocess.run([sys.executable, "-m", "lstmcalc", *argv[1:]], capture_output=True, text=True, env=env,
                            cwd=ROOT)  # examples/... paths are relative to the repository
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


def regenerate(path: Path) -> None:
    """Rewrite the output under every '$ lstmcalc ...' line of ``path`` from the tool as it is."""
    def refresh(match):
        out = []
        for command, before in console_examples(match.group(0)):
            now = run_readme_command(command)
            # an output that differs only in wall-clock figures is kept as it was: no churn
            out.append(f"$ {command}\n{before if stable(now) == stable(before) else now}")
        return "```console\n" + "".join(out) + "```"

    path.write_text(BLOCK.sub(refresh, path.read_text(encoding="utf-8")), encoding="utf-8")


def name(path: Path) -> str:
    return str(path.relative_to(ROOT))


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


def test_readme_is_short():
    """Issue 25: about 250 lines; the details live in docs/."""
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= 300, lines


@pytest.mark.parametrize("path", documents(), ids=name)
def test_examples_are_current(path, regen_golden):
    text = path.read_text(encoding="utf-8")
    examples = list(console_examples(text))
    if path == README:
        assert len(examples) >= 10
    if regen_golden:
        regenerate(path)
        return
    for command, expected in examples:
        if needs_onnx(command):
            continue  # test_onnx_examples_are_current (the onnx package is an optional extra)
        assert stable(run_readme_command(command)) == stable(expected), (name(path), command)


def test_the_docs_have_examples():
    examples = [e for path in documents()[1:] for e in console_examples(path.read_text(encoding="utf-8"))]
    assert len(examples) >= 60, len(examples)


def needs_onnx(command: str) -> bool:
    """Commands that read an .onnx file need the optional onnx package (lstmcalc[onnx])."""
    return ".onnx" in command and not command.startswith("lstmcalc why")


def test_onnx_examples_are_current():
    examples = [(path, c, e) for path in documents() for c, e in console_examples(path.read_text(encoding="utf-8"))
                if needs_onnx(c)]
    assert examples  # the docs show at least one
    pytest.importorskip("onnx", reason="the .onnx examples need onnx: pip install '.[crosscheck]' (or '.[onnx]')")
    for path, command, expected in examples:
        assert stable(run_readme_command(command)) == stable(expected), (name(path), command)


def nav() -> str:
    return MKDOCS.read_text(encoding="utf-8")


def test_every_command_is_documented():
    readme = README.read_text(encoding="utf-8")
    names = sorted(typer_commands())
    assert names  # the app has commands
    for command in names:
        page = DOCS / "commands" / f"{command}.md"
        assert page.exists(), f"{name(page)}: no page for lstmcalc {command}"
        text = page.read_text(encoding="utf-8")
        assert text.startswith(f"# {command}\n"), name(page)
        assert f"$ lstmcalc {command} --help\n" in text, name(page)  # its options, run and compared
        assert f"lstmcalc {command} " in readme, command  # one short example in the README
        assert f"commands/{command}.md" in nav(), f"mkdocs.yml nav lacks commands/{command}.md"
        assert f"docs/commands/{command}.md" in readme, f"README does not link docs/commands/{command}.md"


def test_every_convention_is_documented():
    readme = README.read_text(encoding="utf-8")
    for fw in frameworks.names():
        page = DOCS / "conventions" / f"{fw}.md"
        assert page.exists(), f"{name(page)}: no page for --framework {fw}"
        text = page.read_text(encoding="utf-8")
        assert f"::: lstmcalc.frameworks.{fw}\n" in text, name(page)  # the module's docstring
        assert f"--framework {fw}\n" in text, name(page)  # an example, run and compared
        assert f"conventions/{fw}.md" in nav(), f"mkdocs.yml nav lacks conventions/{fw}.md"
        assert re.search(rf"^\| `{fw}` \|", readme, flags=re.M), f"README has no line for {fw}"


def test_every_page_is_in_the_nav():
    for path in sorted(DOCS.rglob("*.md")):
        assert str(path.relative_to(DOCS)) in nav(), name(path)


def test_readme_table_rows_match_the_tool():
    text = README.read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d+) \| (\d+) \| (\d+) \| (\d+) \|$", text, flags=re.M)
    assert len(rows) == 4
    for h, x, keras, torch in rows:
        assert count(units=int(h), input_size=int(x)) == int(keras)
        assert count(units=int(h), input_size=int(x), framework="torch") == int(torch)


def json_rows() -> dict[str, str]:
    """{command: its JSON document row} from the JSON section of each command's page."""
    rows = {}
    for page in sorted((DOCS / "commands").glob("*.md")):
        found = re.findall(r"^\| `(\w+)` \| `(\{[^`]*\})`", page.read_text(encoding="utf-8"), flags=re.M)
        for command, row in found:
            assert command == page.stem, (name(page), command)
            rows[command] = row
    return rows


def test_json_schemas_in_the_docs_match_the_tool(tmp_path):
    """Each top-level key a command page's JSON table promises is in the command's output."""
    import json

    import numpy as np
    from typer.testing import CliRunner

    rows = json_rows()
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
    for command, args in calls.items():
        result = CliRunner().invoke(app, [*args, "--json"])
        assert result.exit_code == 0, (command, result.stderr)
        keys = set(re.findall(r'"(\w+)"', rows[command].split("[", 1)[0] if command != "count" else rows[command]))
        assert keys <= set(json.loads(result.stdout)), command


def test_the_site_builds_strictly(tmp_path):
    """mkdocs build --strict: every page in the nav, every link and anchor found, every
    docstring the API pages name importable (CI runs the same after installing '.[docs]')."""
    pytest.importorskip("mkdocs", reason="the site's tools are not installed: pip install '.[docs]'")
    pytest.importorskip("mkdocstrings", reason="the site's tools are not installed: pip install '.[docs]'")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(MKDOCS),
                             "-d", str(tmp_path / "site")], capture_output=True, text=True, env=env, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "site" / "index.html").exists()


def typer_commands():
    import typer

    return typer.main.get_command(app).list_commands(None)


def test_no_merge_conflict_markers_are_left():
    """A merge that left its markers in a text file (README.md had one) fails here, not in a reader's eyes."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    files = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True).stdout.split()
    if not files:
        pytest.skip("not a git checkout: nothing to list the tracked files with")
    marked = []
    for name in files:
        path = root / name
        if path.suffix not in (".py", ".md", ".toml", ".yml", ".yaml", ".txt", ".cfg", "") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if any(line.startswith(("<<<<<<< ", ">>>>>>> ")) for line in text.splitlines()):
            marked.append(name)
    assert marked == []
