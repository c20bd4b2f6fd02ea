"""Size grids: lists and ranges of --units/--input, the table, JSON rows and the plot."""

import json
import struct
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from lstmcalc import count
from lstmcalc.spec import SpecError, parse_sizes
from lstmcalc.cli import app

runner = CliRunner()


@pytest.mark.parametrize("text, expected", [
    ("2", [2]), ("1,2,4", [1, 2, 4]), ("32:256:32", [32, 64, 96, 128, 160, 192, 224, 256]),
    ("1:4", [1, 2, 3, 4]), ("3:3", [3]), ("5:9:3", [5, 8]), (" 7 ", [7]), ("10,2", [10, 2]),
])
def test_parse_sizes(text, expected):
    assert parse_sizes("units", text) == expected


@pytest.mark.parametrize("text", ["", "1,,2", "5:1", "0:4", "1:2:0", "a", "1.5", "-1", "0", "1:2:3:4", ":", "1:", "٣", "1;2"])
def test_parse_sizes_rejects(text):
    with pytest.raises(SpecError) as info:
        parse_sizes("units", text)
    assert info.value.param == "units"


def test_question_grid_table():
    result = runner.invoke(app, ["count", "--units", "1,2", "--input", "1,2"])
    assert result.exit_code == 0
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert rows == [["1", "12", "16"], ["2", "32", "40"]]
    torch = runner.invoke(app, ["count", "--units", "1,2", "--input", "1,2", "-f", "torch"])
    rows = [line.split() for line in torch.stdout.splitlines() if line.strip()[:1].isdigit()]
    assert rows == [["1", "16", "20"], ["2", "40", "48"]]


def test_grid_json_rows():
    result = runner.invoke(app, ["count", "--units", "1:3", "--input", "2,5", "--cell", "gru", "--json"])
    data = json.loads(result.stdout)
    assert [(r["units"], r["input_size"]) for r in data] == [(1, 2), (1, 5), (2, 2), (2, 5), (3, 2), (3, 5)]
    for r in data:
        assert r["parameters"] == count(units=r["units"], input_size=r["input_size"], cell="gru")
        assert r["framework"] == "keras"


def test_breakdown_grid_shows_totals_only():
    result = runner.invoke(app, ["breakdown", "--units", "1,2", "--input", "1"])
    assert result.exit_code == 0
    assert "12" in result.stdout and "32" in result.stdout
    assert "Parameters per gate" not in result.stdout


@pytest.mark.parametrize("args", [
    ["--units", "1,,2", "--input", "1"],
    ["--units", "5:1", "--input", "1"],
    ["--units", "0:4", "--input", "1"],
    ["--units", "1:101", "--input", "1:100"],  # 10,100 cells
])
def test_bad_grids_exit_2(args):
    result = runner.invoke(app, ["count", *args])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_plot_png(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "params.png"
    result = runner.invoke(app, ["count", "--units", "1:64:8", "--input", "1,8", "--plot", str(out)])
    assert result.exit_code == 0, result.stderr
    assert _png_size(out) == (800, 500)
    assert [p.name for p in tmp_path.iterdir()] == ["params.png"]  # no temporary left behind


def test_plot_svg(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "params.svg"
    result = runner.invoke(app, ["count", "--units", "1,2,4", "--input", "3", "--plot", str(out)])
    assert result.exit_code == 0, result.stderr
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg")
    assert root.get("width") == "576pt" and root.get("height") == "360pt"  # 8 × 5 inches
    text = out.read_text()
    assert "units H" in text and "PyTorch, input X = 3" in text


@pytest.mark.parametrize("name, code", [("p.jpg", 2), ("p", 2), ("missing_dir/p.png", 1)])
def test_plot_bad_path_writes_nothing(tmp_path, name, code):
    result = runner.invoke(app, ["count", "--units", "1,2", "--input", "1", "--plot", str(tmp_path / name)])
    assert result.exit_code == code
    assert result.stdout == ""
    assert "--plot" in result.stderr and len(result.stderr.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_plot_without_matplotlib_says_what_to_install(tmp_path):
    import subprocess
    import sys

    probe = (
        "import sys; sys.modules['matplotlib'] = None\n"  # as if the extra were not installed
        "from lstmcalc.cli import main\n"
        f"main(['count', '--units', '1,2', '--input', '1', '--plot', {str(tmp_path / 'p.png')!r}])\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert out.returncode == 1  # the environment lacks an optional package: exit 1
    assert out.stdout == ""
    assert "pip install 'lstmcalc[plot]'" in out.stderr
    assert list(tmp_path.iterdir()) == []
