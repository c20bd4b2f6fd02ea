"""Parameter arithmetic: known values, invariants, and exactness at huge sizes."""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmcalc import breakdown, count

# From the user's question (tests/../shared/question.txt): model.summary() of
# keras.layers.LSTM(N_u) on N_x features, and the same layers in torch.nn.LSTM.
QUESTION = [((1, 1), 12, 16), ((1, 2), 16, 20), ((2, 1), 32, 40), ((2, 2), 40, 48)]


@pytest.mark.parametrize("sizes, keras, torch", QUESTION)
def test_question_values(sizes, keras, torch):
    units, input_size = sizes
    assert count(units=units, input_size=input_size) == keras
    assert count(units=units, input_size=input_size, framework="torch") == torch


def test_known_small_layers():
    # Worked by hand from the Keras / PyTorch sources: GRU reset_after keeps (2, 3H) bias.
    assert count(units=2, input_size=1, cell="gru") == 3 * (1 * 2 + 2 * 2 + 2 * 2)  # 30
    assert count(units=2, input_size=1, cell="gru", reset_after=False) == 3 * (1 * 2 + 2 * 2 + 2)  # 24
    assert count(units=2, input_size=1, cell="rnn") == 1 * 2 + 2 * 2 + 2  # 8
    assert count(units=2, input_size=1, cell="rnn", framework="torch") == 1 * 2 + 2 * 2 + 2 * 2  # 10
    assert count(units=2, input_size=1, bias=False) == 4 * (1 * 2 + 2 * 2)  # 24
    assert count(units=2, input_size=1, bidirectional=True) == 64
    # torch.nn.LSTM(2, 3, num_layers=2, bidirectional=True, proj_size=2): 360 (printed by torch)
    assert count(units=3, input_size=2, framework="torch", layers=2, bidirectional=True, proj_size=2) == 360


def test_huge_sizes_are_exact():
    h = x = 10**6
    # 4 × ((X + H) × H + H), in integers
    assert count(units=h, input_size=x) == 4 * ((x + h) * h + h) == 8_000_004_000_000
    big = 10**12
    assert count(units=big, input_size=big, framework="torch") == 4 * (2 * big * big + 2 * big)


specs = st.fixed_dictionaries(
    {
        "units": st.integers(1, 300),
        "input_size": st.integers(1, 300),
        "cell": st.sampled_from(["lstm", "gru", "rnn"]),
        "bias": st.booleans(),
        "bidirectional": st.booleans(),
        "layers": st.integers(1, 4),
    }
)


def _keras_options(draw_merge, opts):
    if opts["bidirectional"] and draw_merge:
        return {**opts, "merge_mode": draw_merge}
    return opts


@settings(max_examples=300, deadline=None)
@given(specs, st.sampled_from([None, "concat", "sum", "mul", "ave"]), st.data())
def test_rows_sum_to_total(opts, merge, data):
    framework = data.draw(st.sampled_from(["keras", "torch"]))
    extra = {}
    if framework == "keras":
        opts = _keras_options(merge, opts)
        if opts["cell"] == "gru":
            extra["reset_after"] = data.draw(st.booleans())
    elif opts["cell"] == "lstm" and opts["units"] > 1:
        extra["proj_size"] = data.draw(st.integers(0, opts["units"] - 1))
    b = breakdown(framework=framework, **opts, **extra)
    assert sum(row.total for row in b.gates) == b.total
    assert sum(t.count for t in b.tensors) == b.total
    assert sum(f.total for f in b.formulas) == b.total
    assert count(framework=framework, **opts, **extra) == b.total
    d = b.to_dict()
    assert d["total"] == b.total
    assert sum(t["count"] for t in d["tensors"]) == b.total


def _evaluate(expression: str) -> int:
    """Evaluate a substituted formula like '4 × ((1 + 2) × 2 + 2 × 2)'."""
    python = expression.replace("×", "*").replace("·", "*")
    assert re.fullmatch(r"[0-9+*() ]+", python), expression
    return eval(python)  # only digits and + * ( ) reach here


@settings(max_examples=300, deadline=None)
@given(specs, st.sampled_from(["keras", "torch"]), st.data())
def test_substituted_formula_evaluates_to_the_count(opts, framework, data):
    extra = {}
    if framework == "torch" and opts["cell"] == "lstm" and opts["units"] > 1:
        extra["proj_size"] = data.draw(st.integers(0, opts["units"] - 1))
    if framework == "keras" and opts["cell"] == "gru":
        extra["reset_after"] = data.draw(st.booleans())
    b = breakdown(framework=framework, **opts, **extra)
    for f in b.formulas:
        assert _evaluate(f.substituted) == f.per_direction
        assert f.total == f.per_direction * (2 if opts["bidirectional"] else 1)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 500), st.integers(1, 500), st.integers(1, 3), st.booleans())
def test_torch_minus_keras_per_layer_and_direction(h, x, layers, bidirectional):
    per = layers * (2 if bidirectional else 1)
    common = dict(units=h, input_size=x, layers=layers, bidirectional=bidirectional)
    for cell, extra in (("lstm", 4 * h), ("rnn", h), ("gru", 0)):
        diff = count(framework="torch", cell=cell, **common) - count(framework="keras", cell=cell, **common)
        assert diff == extra * per, cell
        # without bias the two conventions agree
        assert count(framework="torch", cell=cell, bias=False, **common) == count(
            framework="keras", cell=cell, bias=False, **common
        )


@given(st.integers(1, 200), st.integers(1, 200))
def test_one_more_input_adds_one_weight_per_gate_per_unit(h, x):
    for cell, gates in (("lstm", 4), ("gru", 3), ("rnn", 1)):
        assert count(units=h, input_size=x + 1, cell=cell) - count(units=h, input_size=x, cell=cell) == gates * h


@given(st.integers(1, 200), st.integers(1, 200), st.integers(1, 1000))
def test_time_and_batch_add_no_parameters(h, x, t):
    assert count(units=h, input_size=x, time=t, batch=t) == count(units=h, input_size=x)


def test_gate_rows_follow_framework_order():
    assert [g.gate for g in breakdown(units=2, input_size=1, cell="gru").gates] == ["z", "r", "n"]
    assert [g.gate for g in breakdown(units=2, input_size=1, cell="gru", framework="torch").gates] == ["r", "z", "n"]
    assert [g.gate for g in breakdown(units=2, input_size=1).gates] == ["i", "f", "g", "o"]


def test_gate_row_columns_for_the_question():
    rows = breakdown(units=2, input_size=1).gates
    # each gate: X·H = 2 input weights, H·H = 4 recurrent weights, H = 2 biases
    assert [(r.input_weights, r.recurrent_weights, r.bias, r.total) for r in rows] == [(2, 4, 2, 8)] * 4
    torch_rows = breakdown(units=2, input_size=1, framework="torch").gates
    assert [(r.bias, r.total) for r in torch_rows] == [(4, 10)] * 4


def test_projection_row_and_shapes():
    b = breakdown(units=4, input_size=3, framework="torch", proj_size=2)
    assert [r.gate for r in b.gates] == ["i", "f", "g", "o", "proj"]
    assert b.gates[-1].projection == 2 * 4
    shapes = {t.name: t.shape for t in b.tensors}
    assert shapes == {
        "weight_ih_l0": (16, 3),
        "weight_hh_l0": (16, 2),
        "bias_ih_l0": (16,),
        "bias_hh_l0": (16,),
        "weight_hr_l0": (2, 4),
    }
    assert [(o.name, o.shape) for o in b.outputs] == [("output", (32, 1, 2)), ("h_n", (1, 32, 2)), ("c_n", (1, 32, 4))]


def test_keras_merge_mode_sets_next_layer_input():
    concat = breakdown(units=3, input_size=2, layers=2, bidirectional=True)
    summed = breakdown(units=3, input_size=2, layers=2, bidirectional=True, merge_mode="sum")
    assert [f.input_size for f in concat.formulas] == [2, 6]
    assert [f.input_size for f in summed.formulas] == [2, 3]
    assert concat.outputs[0].shape == (32, 6)
    assert summed.outputs[0].shape == (32, 3)


def test_keras_outputs_with_state():
    b = breakdown(units=3, input_size=2, return_sequences=True, return_state=True, time=5, batch=4)
    assert [(o.name, o.shape) for o in b.outputs] == [("output", (4, 5, 3)), ("h", (4, 3)), ("c", (4, 3))]
    b = breakdown(units=3, input_size=2, bidirectional=True, return_state=True, cell="gru", batch=4)
    assert [(o.name, o.shape) for o in b.outputs] == [("output", (4, 6)), ("h_fw", (4, 3)), ("h_bw", (4, 3))]


def test_breakdown_is_frozen():
    b = breakdown(units=2, input_size=1)
    with pytest.raises(AttributeError):
        b.total = 1
