"""Golden output of ``breakdown`` at fixed widths; ``pytest --regen-golden`` rewrites them."""

import io
from pathlib import Path

import pytest
from rich.console import Console

from lstmcalc import breakdown

GOLDEN = Path(__file__).parent / "golden"

CASES = {
    "keras_lstm_2_1": dict(units=2, input_size=1),
    "keras_lstm_2_2": dict(units=2, input_size=2),
    "torch_lstm_2_1": dict(units=2, input_size=1, framework="torch"),
    "torch_lstm_proj_bidir_2layers": dict(units=4, input_size=3, framework="torch", proj_size=2,
                                          bidirectional=True, layers=2, batch=8, time=5),
    "keras_gru_3_2": dict(units=3, input_size=2, cell="gru"),
    "keras_gru_no_reset_after": dict(units=3, input_size=2, cell="gru", reset_after=False),
    "torch_gru_3_2": dict(units=3, input_size=2, cell="gru", framework="torch"),
    "keras_rnn_bidir_sum_state": dict(units=2, input_size=1, cell="rnn", bidirectional=True, merge_mode="sum",
                                      layers=2, return_sequences=True, return_state=True, time=4),
    "keras_lstm_no_bias": dict(units=2, input_size=1, bias=False),
}


def render(options: dict, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(breakdown(**options))
    return console.file.getvalue()


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("name", sorted(CASES))
def test_breakdown_golden(name, width, regen_golden):
    path = GOLDEN / f"breakdown_{name}_{width}.txt"
    text = render(CASES[name], width)
    if regen_golden:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run pytest --regen-golden"
    assert text == path.read_text(encoding="utf-8")
    # Rich crops every line to the console width by itself; what it does not guarantee is that
    # nothing was cut short to get there (a too-narrow column ends in an ellipsis).
    assert "…" not in text
    # every number is checked against the real frameworks in tests/crosscheck/test_golden_numbers.py


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_totals_match_rows(name):
    """The total printed in the title equals the sum of the per-gate rows (torchinfo-style check)."""
    b = breakdown(**CASES[name])
    text = render(CASES[name], 120)
    assert f": {b.total:,} parameters" in text.splitlines()[0]
    assert sum(g.total for g in b.gates) == b.total


COST_CASES = {
    "keras_lstm_2_1_t10": dict(units=2, input_size=1, time=10),
    "torch_lstm_proj_bidir": dict(units=4, input_size=3, framework="torch", proj_size=2, bidirectional=True,
                                  layers=2, batch=8, time=5, dtype="float16"),
    "keras_gru_no_reset_after": dict(units=3, input_size=2, cell="gru", reset_after=False),
}


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("name", sorted(COST_CASES))
def test_cost_golden(name, width, regen_golden):
    from lstmcalc import cost

    path = GOLDEN / f"cost_{name}_{width}.txt"
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(cost(**COST_CASES[name]))
    text = console.file.getvalue()
    if regen_golden:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")
    assert "…" not in text  # nothing cut short (Rich itself keeps lines within the width)
