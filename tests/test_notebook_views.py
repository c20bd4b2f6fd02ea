"""What a notebook user sees: print() and repr() of every result, and the HTML tables."""

import re

import numpy as np
import pytest

import lstmcalc
from lstmcalc.running import run_layer
from lstmcalc.frameworks import make_spec
from lstmcalc.weights import init_weights


def results():
    spec = make_spec(2, 1, batch=4, time=3)
    forward = lstmcalc.forward(np.zeros((4, 3, 1)), init_weights(spec, seed=0, dtype="float64"))
    return {
        "Breakdown": lstmcalc.breakdown(units=2, input_size=1),
        "Cost": lstmcalc.cost(units=2, input_size=1),
        "ForwardResult": forward,
        "RunReport": run_layer(spec, backend="numpy"),
    }


@pytest.mark.parametrize("name", ["Breakdown", "Cost", "ForwardResult", "RunReport"])
def test_repr_is_one_short_line(name):
    text = repr(results()[name])
    assert "\n" not in text and len(text) <= 120, text
    assert text.startswith(f"<{name} keras lstm, units 2, input 1")
    assert "LayerSpec(" not in text and "GateRow(" not in text


@pytest.mark.parametrize("name", ["Breakdown", "Cost", "ForwardResult", "RunReport"])
def test_print_is_the_plain_text_view(name):
    text = str(results()[name])
    assert "\x1b" not in text
    assert "LayerSpec(" not in text and "GateRow(" not in text and "array(" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    assert text.splitlines()[0].startswith("Keras 3 LSTM")


def test_print_breakdown_shows_the_total_and_gates():
    text = str(lstmcalc.breakdown(units=2, input_size=1))
    assert "32 parameters" in text and "Why these numbers" in text
    assert re.search(r"^\s+total\s+32$", text, re.M)


L, R = '<td style="text-align:left">', '<td style="text-align:right">'


def test_html_aligns_text_left_and_numbers_right_with_separators():
    html = lstmcalc.breakdown(units=256, input_size=128)._repr_html_()
    assert f"{R}394,240</td>" in html  # 4 × ((128 + 256) × 256 + 256)
    assert f"{L}i input</td>" in html
    assert '<th style="text-align:left">gate</th>' in html and '<th style="text-align:right">total</th>' in html
    assert "<td>" not in html  # every cell says how it aligns (Jupyter right-aligns by default)


def test_html_shows_layer_and_direction_only_when_there_are_several():
    single = lstmcalc.breakdown(units=2, input_size=1)._repr_html_()
    assert ">layer</th>" not in single and ">direction</th>" not in single
    bidir = lstmcalc.breakdown(units=2, input_size=1, bidirectional=True)._repr_html_()
    assert ">direction</th>" in bidir and f"{L}backward</td>" in bidir
    stacked = lstmcalc.breakdown(units=2, input_size=1, layers=2)._repr_html_()
    assert ">layer</th>" in stacked


def test_html_has_the_why_heading():
    html = lstmcalc.breakdown(units=2, input_size=1)._repr_html_()
    assert "<b>Why these numbers</b>" in html
    assert html.index("Why these numbers") < html.index("<ul>")
