"""Issue 23, item 7: words that match what the program does (run --help on --backend auto;
the float64 figure of docs/commands/run.md scoped per cell)."""

import re
from pathlib import Path

from typer.testing import CliRunner

from lstmcalc.cli import app

RUN_PAGE = Path(__file__).resolve().parents[1] / "docs" / "commands" / "run.md"


def test_run_help_says_auto_never_waits_for_a_compile():
    """cells._pick_backend: "auto" runs Numba only when its kernels are warm in this process
    or NumPy's lower bound exceeds the cold-compile bound; it never waits for a compile."""
    r = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "300", "NO_COLOR": "1"})
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", r.stdout).split())
    assert "auto never waits for a compile NumPy would beat" in text
    assert "already compiled in this process" in text
    assert "auto uses it when installed" not in text


def test_docs_float64_figure_is_scoped_per_cell():
    text = " ".join(RUN_PAGE.read_text(encoding="utf-8").split())
    assert "Outputs equal the real Keras and PyTorch layers to 1e-12 in float64" not in text
    sentence = re.search(r"Outputs equal the real PyTorch layers and Keras' LSTM and GRU \(reset_after=True\) to "
                         r"1e-12 in float64.*?float32-accurate inside \(measured off the float64 result by up to "
                         r"(\S+) and (\S+), Keras", text)
    assert sentence, "the run section's float64 sentence"
    rnn, gru = float(sentence[1]), float(sentence[2])
    # tests/crosscheck/test_forward_keras.py::test_keras_float64_is_float32_accurate_... measures
    # them between 1e-10 and 1e-5; these are the maxima measured over seeds 0-4 (5 units, 3 inputs)
    assert 1e-10 < gru < rnn < 1e-5
