"""The command line: every command and option through Typer's CliRunner, and bad input."""

import json
import re
import subprocess
import sys
from importlib.metadata import version

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import lstmcalc
from lstmcalc.cli import app

runner = CliRunner()


from helpers import invoke  # noqa: E402  (CliRunner, arguments as strings)


def test_count_prints_the_number_alone():
    result = invoke("count", "--units", "2", "--input", "1")
    assert result.exit_code == 0
    assert result.stdout == "32\n"
    assert result.stderr == ""


@pytest.mark.parametrize("units, input_size, keras, torch", [(1, 1, 12, 16), (1, 2, 16, 20), (2, 1, 32, 40), (2, 2, 40, 48)])
def test_count_question_values(units, input_size, keras, torch):
    base = ["count", "--units", str(units), "--input", str(input_size)]
    assert invoke(*base).stdout == f"{keras}\n"
    assert invoke(*base, "--framework", "torch").stdout == f"{torch}\n"


# Each option reaches the library: the CLI's number equals the API's for the same keywords.
OPTION_CASES = [
    (["--cell", "gru"], dict(cell="gru")),
    (["--cell", "rnn"], dict(cell="rnn")),
    (["--framework", "torch"], dict(framework="torch")),
    (["-f", "torch", "--cell", "rnn"], dict(framework="torch", cell="rnn")),
    (["--no-bias"], dict(bias=False)),
    (["--bidirectional"], dict(bidirectional=True)),
    (["--bidirectional", "--merge-mode", "sum", "--layers", "2"], dict(bidirectional=True, merge_mode="sum", layers=2)),
    (["--bidirectional", "--merge-mode", "mul", "--layers", "3"], dict(bidirectional=True, merge_mode="mul", layers=3)),
    (["--bidirectional", "--merge-mode", "ave", "--layers", "2"], dict(bidirectional=True, merge_mode="ave", layers=2)),
    (["--bidirectional", "--merge-mode", "concat", "--layers", "2"], dict(bidirectional=True, merge_mode="concat", layers=2)),
    (["--layers", "3"], dict(layers=3)),
    (["-l", "2", "--framework", "torch", "--bidirectional"], dict(layers=2, framework="torch", bidirectional=True)),
    (["--framework", "torch", "--proj-size", "3"], dict(framework="torch", proj_size=3)),
    (["--cell", "gru", "--no-reset-after"], dict(cell="gru", reset_after=False)),
    (["--cell", "gru", "--reset-after"], dict(cell="gru", reset_after=True)),
    (["--batch", "7", "--time", "9"], dict(batch=7, time=9)),
    (["--return-sequences", "--return-state"], dict(return_sequences=True, return_state=True)),
]


@pytest.mark.parametrize("args, options", OPTION_CASES)
def test_every_option_reaches_the_library(args, options):
    result = invoke("count", "--units", "5", "--input", "3", *args)
    assert result.exit_code == 0, result.stderr
    assert int(result.stdout) == lstmcalc.count(units=5, input_size=3, **options)
    data = json.loads(invoke("count", "--units", "5", "--input", "3", *args, "--json").stdout)
    assert data["total"] == int(result.stdout)
    for key, value in options.items():
        assert data["config"][key] == value
    bd = invoke("breakdown", "--units", "5", "--input", "3", *args, "--json")
    assert bd.exit_code == 0, bd.stderr
    assert json.loads(bd.stdout)["total"] == int(result.stdout)


def test_short_options():
    assert invoke("count", "-u", "2", "-x", "1").stdout == "32\n"


def test_breakdown_json_schema():
    result = invoke("breakdown", "--units", "2", "--input", "1", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["total"] == 32
    assert {"total", "tensors", "gates", "outputs", "config"} <= set(data)
    assert [(t["name"], t["shape"], t["count"]) for t in data["tensors"]] == [
        ("kernel", [1, 8], 8),
        ("recurrent_kernel", [2, 8], 16),
        ("bias", [8], 8),
    ]
    for t in data["tensors"]:
        assert {"name", "layer", "direction", "shape", "count"} <= set(t)
    assert [g["gate"] for g in data["gates"]] == ["i", "f", "g", "o"]
    assert sum(g["total"] for g in data["gates"]) == 32
    assert data["outputs"] == [{"name": "output", "shape": [32, 2], "meaning": data["outputs"][0]["meaning"]}]
    assert data["config"]["units"] == 2 and data["config"]["input_size"] == 1
    assert data["formula"][0]["substituted"] == "4 × ((1 + 2) × 2 + 2)"


def test_breakdown_torch_outputs_in_order():
    data = json.loads(invoke("breakdown", "-u", "3", "-x", "2", "-f", "torch", "--bidirectional", "-l", "2",
                             "--batch", "4", "--time", "5", "--json").stdout)
    assert [(o["name"], o["shape"]) for o in data["outputs"]] == [
        ("output", [4, 5, 6]),
        ("h_n", [4, 4, 3]),
        ("c_n", [4, 4, 3]),
    ]


def test_breakdown_shows_the_explanation():
    out = " ".join(invoke("breakdown", "--units", "2", "--input", "1").stdout.split())  # notes wrap anywhere
    for needle in ("32 parameters", "4 × ((X + H) × H + H)", "4 × ((1 + 2) × 2 + 2) = 32", "2 × 12 = 24",
                   "recurrent_kernel", "[4:6]=c", "Hochreiter", "Gers", "unit_forget_bias", "Jozefowicz"):
        assert needle in out, needle
    torch_out = invoke("breakdown", "--units", "2", "--input", "1", "--framework", "torch").stdout
    for needle in ("4 × (X·H + H·H + 2H)", "= 40", "weight_ih_l0", "cuDNN", "batch_first does not apply"):
        assert needle in torch_out, needle


BAD_ARGS = [
    (["count", "--units", "0", "--input", "1"], "--units"),
    (["count", "--units", "-2", "--input", "1"], "--units"),
    (["count", "--units", "1.5", "--input", "1"], "--units"),
    (["count", "--units", "two", "--input", "1"], "--units"),
    (["count", "--units", "", "--input", "1"], "--units"),
    (["count", "--input", "1"], "--units"),
    (["count", "--units", "2"], "--input"),
    (["count", "--units", "2", "--input", "0"], "--input"),
    (["count", "--units", "2", "--input", "1", "--cell", "lstm2"], "--cell"),
    (["count", "--units", "2", "--input", "1", "--framework", "jax"], "--framework"),
    (["count", "--units", "2", "--input", "1", "--layers", "0"], "--layers"),
    (["count", "--units", "2", "--input", "1", "--batch", "0"], "--batch"),
    (["count", "--units", "2", "--input", "1", "--time", "0"], "--time"),
    (["count", "--units", "2", "--input", "1", "--proj-size", "1"], "--proj-size"),
    (["count", "--units", "2", "--input", "1", "--proj-size", "2", "--framework", "torch"], "--proj-size"),
    (["count", "--units", "2", "--input", "1", "--proj-size", "1", "--framework", "torch", "--cell", "gru"], "--proj-size"),
    (["count", "--units", "2", "--input", "1", "--proj-size", "1", "--framework", "torch", "--cell", "rnn"], "--proj-size"),
    (["count", "--units", "2", "--input", "1", "--merge-mode", "sum"], "--merge-mode"),
    (["count", "--units", "2", "--input", "1", "--merge-mode", "max", "--bidirectional"], "--merge-mode"),
    (["count", "--units", "2", "--input", "1", "--no-reset-after"], "reset-after"),
    (["count", "--units", "2", "--input", "1", "--cell", "gru", "--no-reset-after", "-f", "torch"], "reset-after"),
    (["count", "--units", "2", "--input", "1", "--return-state", "-f", "torch"], "--return-state"),
    (["count", "--units", "2", "--input", "1", "--bogus"], "--bogus"),
    (["breakdown", "--units", "0", "--input", "1"], "--units"),
    (["breakdown", "--units", "2", "--input", "1", "--proj-size", "5", "-f", "torch"], "--proj-size"),
]


@pytest.mark.parametrize("args, option", BAD_ARGS)
def test_bad_input_is_one_line_exit_2(args, option):
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert option in lines[0]
    assert lines[0].startswith("lstmcalc: error: ")
    assert "Traceback" not in result.stderr


def test_allowed_values_are_named():
    assert "lstm, gru, rnn" in invoke("count", "-u", "2", "-x", "1", "--cell", "x").stderr.replace("'", "")
    assert ">= 1" in invoke("count", "-u", "x", "-x", "1").stderr
    assert "0 < P < units" in invoke("count", "-u", "2", "-x", "1", "-f", "torch", "--proj-size", "9").stderr


OPTION_NAMES = ["--units", "--input", "--cell", "--framework", "--no-bias", "--bidirectional", "--merge-mode",
                "--layers", "--proj-size", "--reset-after", "--no-reset-after", "--batch", "--time",
                "--return-sequences", "--return-state", "--json", "-u", "-x", "-f", "-l", "--help",
                "--dtype", "--diagram", "--plot"]
VALUES = st.one_of(
    st.integers(-5, 10**7).map(str),
    st.sampled_from(["lstm", "gru", "rnn", "keras", "torch", "concat", "sum", "mul", "ave", "", "nan", "1e3",
                     "float16", "int8", "1,2", "1:3", "5:1", "/nonexistent/p.png", "x.jpg",
                     "0x10", "--", "-", "1.0", " 3", "٣", "10000000000000000000000"]),
    st.text(max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["count", "breakdown", "cost", "explain"]),
       st.lists(st.one_of(st.sampled_from(OPTION_NAMES), VALUES), max_size=12))
def test_fuzzed_options_never_trace_back(command, args):
    result = runner.invoke(app, [command, "--units", "2", "--input", "1", *args])
    assert result.exit_code in (0, 2), (args, result.stderr, result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.exception)
    if result.exit_code == 2:
        assert result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)


def test_version_matches_metadata():
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.stdout == f"lstmcalc {version('lstmcalc')}\n"
    assert lstmcalc.__version__ == version("lstmcalc")


def test_every_command_help_ends_with_examples():
    import typer

    names = sorted(typer.main.get_command(app).list_commands(None))
    assert {"count", "breakdown", "cost", "explain"} <= set(names)
    for name in names:
        result = invoke(name, "--help")
        assert result.exit_code == 0
        text = result.stdout
        assert "Examples" in text, name
        assert text.rstrip().splitlines()[-1].strip() != ""


def test_python_dash_m():
    out = subprocess.run([sys.executable, "-m", "lstmcalc", "count", "--units", "2", "--input", "1"],
                         capture_output=True, text=True, check=True)
    assert out.stdout == "32\n"


def test_console_script_errors_without_traceback():
    out = subprocess.run([sys.executable, "-m", "lstmcalc", "count", "--units", "0", "--input", "1"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


ESC = re.compile("\x1b")


def test_piped_output_has_no_escape_codes():
    out = subprocess.run([sys.executable, "-m", "lstmcalc", "breakdown", "--units", "2", "--input", "1"],
                         capture_output=True, text=True, check=True)
    assert "32 parameters" in out.stdout
    assert not ESC.search(out.stdout)


def _script(command: str, env_extra: dict) -> str:
    import os
    import shutil

    if shutil.which("script") is None:
        pytest.skip("util-linux 'script' (a pseudo-terminal) is not installed: apt-get install util-linux")
    env = {**os.environ, **env_extra, "COLUMNS": "100", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None) if "NO_COLOR" not in env_extra else None
    result = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_terminal_gets_rich_and_no_color_gets_plain():
    cmd = f"{sys.executable} -m lstmcalc breakdown --units 2 --input 1"
    styled = _script(cmd, {})
    assert ESC.search(styled)
    plain = _script(cmd, {"NO_COLOR": "1"})
    assert "32 parameters" in plain
    assert not ESC.search(plain)


def test_cost_json_schema():
    result = invoke("cost", "--units", "2", "--input", "1", "--batch", "4", "--time", "3", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data["macs"], int)
    # 4 gates × (X·H + H·H) = 4 × (2 + 4) = 24 MACs per step per sample, × B·T = 12
    assert data["macs"] == 24 * 4 * 3
    assert set(data["flops"]) >= {"matmul", "bias", "elementwise", "activations", "total", "per_step_per_sample"}
    assert data["flops"]["matmul"] == 2 * data["macs"]
    assert set(data["memory_bytes"]) == {"parameters", "inference", "training"}
    assert data["memory_bytes"]["parameters"] == 32 * 4  # 32 float32 parameters
    for tool in ("ptflops", "thop", "torchinfo"):
        assert isinstance(data["compare"][tool], int)


def test_cost_table_and_dtype():
    out = invoke("cost", "--units", "2", "--input", "1", "--dtype", "float16").stdout
    assert "B·T·D·L·G·(X·H + H·H) = 32·1·1·1·4·(1·2 + 2·2) = 768" in out
    assert "float16" in out and "ptflops" in out and "torchinfo" in out
    bad = invoke("cost", "--units", "2", "--input", "1", "--dtype", "float8")
    assert bad.exit_code == 2 and bad.stdout == "" and "--dtype" in bad.stderr


def test_cost_grid():
    data = json.loads(invoke("cost", "--units", "1,2", "--input", "1", "--json").stdout)
    assert [(r["units"], r["macs"]) for r in data] == [(1, 4 * (1 + 1) * 32), (2, 4 * (2 + 4) * 32)]


def test_a_stack_too_deep_to_list_is_refused_at_once():
    """--layers is bounded (a breakdown draws every layer: 10**7 layers ran for minutes in the
    fuzz test above before this bound); the refusal names the bound."""
    from lstmcalc.frameworks import MAX_LAYERS

    for command in ("count", "breakdown", "cost", "explain"):
        r = invoke(command, "-u", "2", "-x", "1", "--layers", str(MAX_LAYERS + 1))
        assert (r.exit_code, r.stdout) == (2, "")
        assert r.stderr == f"lstmcalc: error: --layers: must be at most {MAX_LAYERS:,} (a breakdown lists every layer), got {MAX_LAYERS + 1:,}\n"
    # Keras: 4·((X + H)·H + H) per layer, X = 1 for the first and X = H = 2 for the rest: 32, then 40 each
    assert invoke("count", "-u", "2", "-x", "1", "--layers", str(MAX_LAYERS)).stdout == f"{32 + (MAX_LAYERS - 1) * 40}\n"
