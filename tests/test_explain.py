"""explain, --diagram and the notebook HTML view."""

import io
import json
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from lstmcalc import breakdown, count
from lstmcalc.cli import app
from lstmcalc.diagram import diagram_view

runner = CliRunner()
GOLDEN = Path(__file__).parent / "golden"


def test_explain_answers_with_the_users_sizes():
    result = runner.invoke(app, ["explain", "--units", "2", "--input", "1"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for needle in ("one cell or 2", "add 8 parameters", "give 32 parameters, not 2 × 12 = 24",
                   "Hochreiter", "Gers", "How do the numbers grow"):
        assert needle in text, needle


def test_explain_json_and_growth_numbers():
    data = json.loads(runner.invoke(app, ["explain", "-u", "3", "-x", "2", "--cell", "gru", "--json"]).stdout)
    assert data["config"]["cell"] == "gru"
    grow = next(q["answer"] for q in data["questions"] if q["question"] == "How do the numbers grow?")
    # the figures quoted for H doubled and X doubled are the tool's own counts for those sizes
    assert f"H = 6: {count(units=6, input_size=2, cell='gru'):,}" in grow
    assert f"X = 4: {count(units=3, input_size=4, cell='gru'):,}" in grow


def test_explain_one_unit_talks_about_two():
    data = json.loads(runner.invoke(app, ["explain", "-u", "1", "-x", "1", "--json"]).stdout)
    questions = [q["question"] for q in data["questions"]]
    assert "Why would 2 units give 32, not 2 × 12 = 24?" in questions


def test_explain_rejects_grids():
    result = runner.invoke(app, ["explain", "-u", "1,2", "-x", "1"])
    assert result.exit_code == 2 and result.stdout == ""


def _render(renderable, width):
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(renderable)
    return console.file.getvalue()


DIAGRAMS = {
    "keras_lstm_2_1": dict(units=2, input_size=1),
    "torch_gru_2_3": dict(units=2, input_size=3, cell="gru", framework="torch"),
    "keras_lstm_256_128_scaled": dict(units=256, input_size=128),
    "torch_lstm_proj": dict(units=4, input_size=2, framework="torch", proj_size=2),
}


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("name", sorted(DIAGRAMS))
def test_diagram_golden(name, width, regen_golden):
    path = GOLDEN / f"diagram_{name}_{width}.txt"
    text = _render(diagram_view(breakdown(**DIAGRAMS[name])), width)
    if regen_golden:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


def test_diagram_draws_one_cell_per_weight():
    text = _render(diagram_view(breakdown(units=2, input_size=1)), 80)
    kernel, recurrent = text.split("recurrent_kernel")
    # kernel (1 × 8): one row of 8 cells, 2 per gate; recurrent (2 × 8): 2 rows
    assert len(re.findall(r"\b[ifco]\b", kernel.split("kernel (1 × 8)")[1])) == 8
    assert len(re.findall(r"\b[ifco]\b", recurrent.split("Every gate")[0])) == 16


def test_diagram_cli_is_plain_when_piped():
    result = runner.invoke(app, ["breakdown", "-u", "2", "-x", "1", "--diagram"])
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout
    assert "recurrent_kernel (2 × 8)" in result.stdout


def test_html_view_is_a_table_with_the_total():
    html = breakdown(units=2, input_size=1)._repr_html_()
    assert "<table>" in html and "<td>32</td>" in html
    assert html.count("<table>") == 4


def test_cost_html_view():
    from lstmcalc import cost

    html = cost(units=2, input_size=1, time=10)._repr_html_()
    assert html.count("<table>") == 3
    # LSTM, H = 2, X = 1: 4 × (1·2 + 2·2) = 24 MACs per step and sample, × B·T = 320
    assert "7,680 MACs" in html
    assert "<td>matmul</td><td>48</td><td>15360</td>" in html  # 2 × MACs, per step and whole run
    assert "<td>ptflops</td>" in html


def test_forward_result_displays_as_html_and_rich():
    import numpy as np

    import lstmcalc
    from lstmcalc.frameworks import make_spec
    from lstmcalc.weights import init_weights

    spec = make_spec(3, 2, batch=4, time=5)
    r = lstmcalc.forward(np.zeros((4, 5, 2)), init_weights(spec, seed=1, dtype="float64"))
    html = r._repr_html_()
    assert "<table>" in html and "<td>(4, 5, 3)</td>" in html and "<td>c</td>" in html
    text = _render(r, 100)
    assert "(4, 5, 3)" in text and "float64" in text
