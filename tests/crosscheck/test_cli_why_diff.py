"""`lstmcalc why` and `lstmcalc diff` on the command line: stdin, --json, plain text when
piped, one-line errors with exit codes (real PyTorch messages and weights)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

torch = pytest.importorskip("torch")

from lstmcalc.cli import app  # noqa: E402


def message():
    with pytest.raises(RuntimeError) as info:
        torch.nn.LSTM(100, 256).load_state_dict(torch.nn.LSTM(100, 128, bidirectional=True).state_dict())
    return str(info.value)


def test_why_reads_stdin_and_prints_json():
    result = CliRunner().invoke(app, ["why", "-", "--json"], input=message())
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= {"checkpoint", "model", "differences"}
    ck, mo = data["checkpoint"][0], data["model"][0]
    assert (ck["units"], ck["bidirectional"], mo["units"], mo["bidirectional"]) == (128, True, 256, False)
    assert {d["field"] for d in data["differences"]} == {"units", "bidirectional"}
    assert all(set(d) >= {"layer", "field", "checkpoint", "model"} for d in data["differences"])
    assert ck["breakdown"] == "lstmcalc breakdown --units 128 --input 100 --framework torch --bidirectional"


def test_why_plain_when_piped():
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("NO_COLOR", None)
    r = subprocess.run([sys.executable, "-m", "lstmcalc", "why", message()], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and r.stderr == ""
    assert "\x1b" not in r.stdout
    assert "(top level): the checkpoint has hidden_size 128, your model 256" in r.stdout
    assert ("checkpoint, layer (top level):\n  lstmcalc breakdown --units 128 --input 100 --framework torch "
            "--bidirectional\n") in r.stdout
    assert max(map(len, r.stdout.splitlines())) <= 80  # COLUMNS=80: wrapped, 159 characters before


def test_why_and_diff_wrap_at_80_columns_through_clirunner(monkeypatch):
    """COLUMNS=80 through CliRunner: no line of `why` or `diff` is longer (`why` printed
    159-character lines before, with soft_wrap)."""
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # examples/ as the README names them
    long = message()
    for args, kw in ((["why", "-"], dict(input=long)),
                     (["diff", "examples/lstm_keras.npz", "examples/lstm_torch_icfo.npz"], {})):
        result = CliRunner().invoke(app, args, env={"COLUMNS": "80", "NO_COLOR": "1"}, **kw)
        assert result.exit_code == 0, result.stderr
        widths = [len(line) for line in result.stdout.splitlines()]
        assert max(widths) <= 80 and max(widths) >= 70, widths  # wrapped, not cut short


def test_why_unknown_text_is_one_line_exit_1():
    result = CliRunner().invoke(app, ["why", "Segmentation fault (core dumped)"])
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstmcalc: error: not a weight-loading error lstmcalc knows")


def save_torch(path, module):
    np.savez(path, **{k: v.detach().numpy() for k, v in module.state_dict().items()})
    return str(path)


def test_diff_json_and_exit_codes(tmp_path):
    torch.manual_seed(0)
    m = torch.nn.GRU(3, 4, batch_first=True)
    a = save_torch(tmp_path / "a.npz", m)
    sd = {k: v.detach().numpy() for k, v in m.state_dict().items()}
    r, z, n = np.split(sd["weight_hh_l0"], 3)
    sd["weight_hh_l0"] = np.concatenate([z, r, n])
    np.savez(tmp_path / "b.npz", **sd)
    result = CliRunner().invoke(app, ["diff", a, str(tmp_path / "b.npz"), "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= {"equivalent", "explained_by", "max_output_difference", "tensors"}
    assert data["equivalent"] is False and data["explained_by"] == []  # only one tensor permuted: no single mistake
    worst = data["tensors"][0]
    assert (worst["part"], worst["gate"] in ("r", "z")) == ("recurrent weights", True)
    same = CliRunner().invoke(app, ["diff", a, a])
    assert same.exit_code == 0 and "equivalent: A and B compute the same function" in same.stdout
    missing = CliRunner().invoke(app, ["diff", a, str(tmp_path / "nope.npz")])
    assert missing.exit_code == 1 and missing.stdout == ""
    assert missing.stderr.strip() == f"lstmcalc: error: {tmp_path / 'nope.npz'}: no such file"
    bad = CliRunner().invoke(app, ["diff", a, a, "--seed", "-1"])
    assert bad.exit_code == 2 and bad.stderr.startswith("lstmcalc: error: --seed")


def test_docs_whole_message_block_is_what_why_prints():
    """docs/commands/why.md's `text` block after "With the whole message" (not a console block: the
    message is many lines) is the tail of what `why` prints for that real message."""
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "commands" / "why.md").read_text(encoding="utf-8")
    block = re.search(r"With the whole message.*?```text\n(.*?)```", page, re.S).group(1)
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1"}
    r = subprocess.run([sys.executable, "-m", "lstmcalc", "why", message()], capture_output=True, text=True, env=env)
    printed = "".join(line.rstrip() + "\n" for line in r.stdout.splitlines())
    assert printed.endswith(block)


def test_diff_picks_layers_by_name_and_is_plain_when_piped(tmp_path):
    """A .pt with two GRU modules: --layer picks one in A, --layer-b another in B."""
    torch.manual_seed(1)
    enc, dec = torch.nn.GRU(3, 4), torch.nn.GRU(3, 4)
    sd = {**{f"encoder.{k}": v for k, v in enc.state_dict().items()},
          **{f"decoder.{k}": v for k, v in dec.state_dict().items()}}
    torch.save(sd, tmp_path / "m.pt")
    path = str(tmp_path / "m.pt")
    env = {**os.environ, "COLUMNS": "80"}
    env.pop("NO_COLOR", None)

    def run(*args):
        return subprocess.run([sys.executable, "-m", "lstmcalc", "diff", path, path, *args],
                              capture_output=True, text=True, env=env)

    same = run("--layer", "encoder")
    assert same.returncode == 0 and "\x1b" not in same.stdout
    assert "equivalent: A and B compute the same function" in same.stdout
    other = run("--layer", "encoder", "--layer-b", "decoder", "--json")
    data = json.loads(other.stdout)
    assert data["equivalent"] is False and data["explained_by"] == []
    assert (data["a"]["name"], data["b"]["name"]) == ("encoder", "decoder")
    ambiguous = run()
    assert ambiguous.returncode == 1 and ambiguous.stdout == ""
    assert "choose one with --layer NAME" in ambiguous.stderr
