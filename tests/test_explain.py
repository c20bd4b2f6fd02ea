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


# Literal digits the prose may carry that are not numbers about the layer, each with its reason:
# - citation years and volumes, "Hochreiter & Schmidhuber (1997)", "9(8)": bibliography, not the layer;
# - formula constants, the same for every configuration: GRU's "(1 − z)", CIFG's "i = 1 − f", h_(t-1),
#   "b_hn ≠ 0", the first step's index "t = 0" / "step 0";
# - coefficients of H written as symbols, "4H", "3H", "8H", "2·G·H": a formula's shape, whose value
#   beside it ("4H = 12") is a stated number;
# - names that carry digits: the rows of Keras' GRU bias (row 0/1), layer indices ("layers 1 and
#   above", "layer k ≥ 1"), the Keras versions (Keras 2, Keras 3), issue references (keras#9463,
#   mlx#3249, google/flax#5594), the initial forget-gate bias's paper "forget-gate bias of 1)".
# Everything that depends on the configuration (a count, a shape, a batch size, an attribute value
# such as layout or linear_before_reset, a TFLite op's input positions or input count, a clip) is
# a stated number, not listed here.
LITERALS = re.compile(r"\b(?:19|20)\d\d\b|\d+\(\d+\)|\(1 − z\)|\b1 − f\b|h_\(t-1\)|≠ 0\b|\bt = 0\b|\bstep 0\b"
                      r"|\b\d+H\b|\b2·G·H\b|row [01]\b|forget-gate bias of 1\)|\b[Ll]ayers? \d+\b|\bk ≥ 1\b"
                      r"|Keras [23]\b|\b[\w/-]+#\d+\b")
CONFIGS = [
    dict(units=1, input_size=1), dict(units=1, input_size=2), dict(units=2, input_size=1), dict(units=2, input_size=2),
    dict(units=1, input_size=1, framework="torch"), dict(units=2, input_size=1, bidirectional=True),
    dict(units=4, input_size=3, layers=2), dict(units=4, input_size=3, layers=3, bidirectional=True, merge_mode="ave"),
    dict(units=4, input_size=3, framework="torch", proj_size=2, layers=2, bidirectional=True, time=5, batch=8),
    dict(units=3, input_size=2, cell="gru"), dict(units=3, input_size=2, cell="gru", reset_after=False, bias=False),
    dict(units=3, input_size=2, cell="gru", framework="torch", layers=2),
    dict(units=1, input_size=1, cell="rnn"), dict(units=5, input_size=1, cell="rnn", framework="torch", activation="relu"),
    dict(units=2, input_size=1, cell="rnn", bidirectional=True, merge_mode="sum", layers=2, return_sequences=True,
         return_state=True, time=4),
    dict(units=1200, input_size=1000, time=1000),
]


def _integers(text: str) -> list[int | float]:
    """Every number in ``text`` but the LITERALS: 1,024 -> 1024, 2.5 -> 2.5, a lone -1 -> -1 (not
    the 1 of "20-23")."""
    found = re.findall(r"(?<![\w)])-?\d(?:[\d,]*\d)?(?:\.\d+)?", LITERALS.sub(" ", text))
    return [float(t) if "." in t else int(t.replace(",", "")) for t in found]


def _allowed(numbers) -> set[int]:
    allowed = set()
    for n in numbers:
        value = n["value"]
        allowed |= set(value) if isinstance(value, list) else {value}
        allowed |= {int(v) for v in re.findall(r"\d+", n["scope"])}  # "with units = 2"
    return allowed


def _assert_numbers_are_stated(options: dict) -> None:
    """Every integer in explain's questions and answers and in breakdown's notes for ``options``
    is the value (or in the scope) of a number that sentence lists."""
    from lstmcalc.explain import answers
    from lstmcalc.frameworks import make_spec

    for a in answers(make_spec(**options)):
        d = a.to_dict()
        allowed = _allowed(d["numbers"])
        for text in (d["question"], d["answer"]):
            stray = [k for k in _integers(text) if k not in allowed]
            assert not stray, (stray, text)
    b = breakdown(**options).to_dict()
    assert len(b["notes"]) == len(b["note_numbers"])
    for text, numbers in zip(b["notes"], b["note_numbers"]):
        stray = [k for k in _integers(text) if k not in _allowed(numbers)]
        assert not stray, (stray, text)


@pytest.mark.parametrize("options", CONFIGS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_every_number_in_a_sentence_is_a_stated_number(options):
    """Each integer in a question, answer or note is the value of a number it lists (or in that
    number's scope): nothing reaches the prose except through the numbers the JSON exposes,
    which tests/crosscheck/test_explain_numbers.py checks against the real frameworks."""
    _assert_numbers_are_stated(options)


def _every_convention() -> list[dict]:
    """Every registered convention × each of its cells × plain, bidirectional, no bias and stacked
    where it has them (WHY_NOT lists what it lacks), its own options (ONNX reverse, peepholes,
    layout 1, reset-before GRU), and TFLite's variants. Sizes chosen apart (H 3, X 5, B 7, T 4) so
    that a stray digit rarely equals a stated number by chance."""
    from lstmcalc import frameworks

    out = []
    for name in frameworks.FRAMEWORKS:
        fw = frameworks.get(name)
        for cell in fw.CELLS:
            base = dict(units=3, input_size=5, batch=7, time=4, framework=name, cell=cell)
            variants = [{}]
            variants += [] if "bidirectional" in fw.WHY_NOT else [dict(bidirectional=True)]
            variants += [] if "no_bias" in fw.WHY_NOT else [dict(bias=False)]
            variants += [] if "layers" in fw.WHY_NOT else [dict(layers=2)]
            if "bidirectional" not in fw.WHY_NOT and "layers" not in fw.WHY_NOT:
                variants.append(dict(layers=2, bidirectional=True))
            if cell == "gru" and fw.has("reset_before"):
                variants.append(dict(reset_after=False))
            if fw.has("direction"):
                variants.append(dict(direction="reverse", layers=2))
            if fw.has("layout"):
                variants.append(dict(layout=1 - fw.DEFAULT_LAYOUT))
            if cell == "lstm" and fw.has("peepholes"):
                variants.append(dict(peepholes=True))
            if cell == "lstm" and fw.has("cifg"):
                variants += [dict(cifg=True), dict(layer_norm=True), dict(diagonal=True), dict(cell_clip=3.0),
                             dict(cell_clip=2.5), dict(proj_size=2, proj_clip=2.0), dict(proj_size=2, proj_bias=True),
                             dict(cifg=True, peepholes=True, layer_norm=True), dict(cifg=True, bidirectional=True),
                             dict(cifg=True, diagonal=True)]
            out += [{**base, **v} for v in variants if _accepted({**base, **v})]
    return out


def _accepted(options) -> bool:
    """Whether the convention has this combination (TFLite's bidirectional op has no layer norm, ...)."""
    from lstmcalc.frameworks import make_spec
    from lstmcalc.spec import SpecError

    try:
        make_spec(**options)
    except SpecError:
        return False
    return True


def test_every_convention_and_variant_is_covered():
    from lstmcalc import frameworks

    configs = _every_convention()
    assert {c["framework"] for c in configs} == set(frameworks.FRAMEWORKS)
    assert {(c["framework"], c["cell"]) for c in configs} == {
        (n, cell) for n in frameworks.FRAMEWORKS for cell in frameworks.get(n).CELLS}
    tflite = [c for c in configs if c["framework"] == "tflite"]
    for key in ("cifg", "layer_norm", "diagonal", "cell_clip", "proj_clip", "bidirectional", "layers"):
        assert any(c.get(key) for c in tflite), key
    assert any(c.get("layers") == 2 for c in configs if c["framework"] == "keras2")
    assert any(c.get("bias") is False for c in configs if c["framework"] == "onnx")


@pytest.mark.parametrize("options", _every_convention(),
                         ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items() if k not in ("units", "input_size",
                                                                                               "batch", "time")))
def test_every_conventions_numbers_are_stated_numbers(options):
    """The check above over every convention: its own notes (ONNX's, TFLite's, each bias sentence)
    state their numbers through ``note_numbers`` too."""
    _assert_numbers_are_stated(options)


def test_the_integer_check_sees_digits():
    assert _integers("adds 4 × 1,024 = 4,096 weights; Hochreiter (1997) 9(8); h_(t-1), row 0") == [4, 1024, 4096]
    assert _integers("inputs are -1; positions 20-23; cell_clip = 2.5; 4H = 12; keras#9463; i = 1 − f.") == [
        -1, 20, 23, 2.5, 12]


def test_one_unit_one_input_reads_naturally():
    """The asker's first case: units 1, input 1."""
    result = runner.invoke(app, ["explain", "--units", "1", "--input", "1"])
    notes = " ".join(breakdown(units=1, input_size=1).notes)
    text = " ".join(result.stdout.split()) + " " + notes
    for bug in ("one cell or 1", "1 numbers", "1 entries", "1 units", "1 features", "1 parameters", "1 weights",
                "1 steps", "Each of the 1"):
        assert bug not in text, bug
    assert "With units = 1, is that one cell?" in text
    assert "goes from 12 to 16 parameters" in text  # the asker's Q2, computed for this layer
    assert "Why would 2 units give 32, not 2 × 12 = 24?" in text  # the asker's Q3


@pytest.mark.parametrize(("args", "needles"), [
    # the asker's counts, by hand: Keras 4·((X + H)·H + H), PyTorch 4·(X·H + H·H + 2H)
    ([], ["goes from 12 to 16 parameters", "Why would 2 units give 32, not 2 × 12 = 24?"]),
    (["-f", "torch"], ["goes from 16 to 20 parameters", "Why would 2 units give 40, not 2 × 16 = 32?"]),
])
def test_explain_says_the_askers_numbers_for_one_unit(args, needles):
    text = " ".join(runner.invoke(app, ["explain", "-u", "1", "-x", "1", *args]).stdout.split())
    for needle in needles:
        assert needle in text, needle


@pytest.mark.parametrize(("args", "needles"), [
    ([], ["goes from 32 to 40 parameters", "Why do 2 units give 32 parameters, not 2 × 12 = 24?"]),
    (["-f", "torch"], ["goes from 40 to 48 parameters", "Why do 2 units give 40 parameters, not 2 × 16 = 32?"]),
])
def test_explain_says_the_askers_numbers_for_two_units(args, needles):
    text = " ".join(runner.invoke(app, ["explain", "-u", "2", "-x", "1", *args]).stdout.split())
    for needle in needles:
        assert needle in text, needle


def test_no_example_text_from_another_layer():
    """"12 → 16" was appended to every layer; the numbers now come from the layer shown."""
    for options in (dict(units=2, input_size=1), dict(units=2, input_size=1, cell="gru"),
                    dict(units=1, input_size=1, framework="torch"), dict(units=1, input_size=1, cell="rnn")):
        b = breakdown(**options)
        text = " ".join(b.notes)
        assert "12 → 16" not in text and "one Keras LSTM unit" not in text
        after = count(**{**options, "input_size": options["input_size"] + 1})
        assert f"goes from {b.total:,} to {after:,} parameters" in text


def test_bidirectional_and_stacked_numbers_are_whole_or_scoped():
    """The issue's cases: a bidirectional feature adds 16 to the layer (64 -> 80); a two-layer stack
    has 272 in every answer that gives its total."""
    data = json.loads(runner.invoke(app, ["explain", "-u", "2", "-x", "1", "--bidirectional", "--json"]).stdout)
    q = [a["question"] for a in data["questions"]]
    assert "Why does one more input feature add 16 parameters?" in q
    assert "Why do 2 units give 64 parameters, not 2 × 24 = 48?" in q
    answer = data["questions"][2]["answer"]
    assert "8 weights per direction, 16 in all" in answer and "from 64 to 80" in answer
    data = json.loads(runner.invoke(app, ["explain", "-u", "4", "-x", "3", "--layers", "2", "--json"]).stdout)
    text = " ".join(a["question"] + " " + a["answer"] for a in data["questions"])
    assert "give 272 parameters" in text and "128" in text and "give 128" not in text
    totals = {n["value"] for a in data["questions"] for n in a["numbers"]
              if n["name"] == "total" and n["scope"] == "whole configuration"}
    assert totals == {272}


def test_projection_says_h_has_p_entries_and_grows_linearly():
    data = json.loads(runner.invoke(app, ["explain", "-u", "4", "-x", "3", "-f", "torch", "--proj-size", "2",
                                          "--json"]).stdout)
    text = " ".join(a["answer"] for a in data["questions"])
    assert "h_t has 2 entries (projected)" in text
    assert "Linearly (for a fixed P = 2) in the units" in text and "Quadratically" not in text
    assert "h_t and h_n have 2 features, while c_t and c_n keep 4" in " ".join(
        breakdown(units=4, input_size=3, framework="torch", proj_size=2).notes)


def test_gru_bias_is_not_called_redundant():
    for options in (dict(framework="torch"), dict(), dict(layers=2, framework="torch")):
        b = breakdown(units=3, input_size=2, cell="gru", **options)
        text = " ".join(b.notes)
        assert "redundant" not in text.replace("not redundant", "")
        assert "b_hn" in text
    data = json.loads(runner.invoke(app, ["explain", "-u", "3", "-x", "2", "--cell", "gru", "--json"]).stdout)
    assert "only the sum b_ih + b_hh affects" not in data["questions"][-1]["answer"]


def test_json_numbers_and_keys():
    data = json.loads(runner.invoke(app, ["explain", "-u", "2", "-x", "1", "--json"]).stdout)
    for a in data["questions"]:
        assert list(a) == ["question", "answer", "numbers"]
        for n in a["numbers"]:
            assert list(n) == ["name", "value", "scope"]
    b = json.loads(runner.invoke(app, ["breakdown", "-u", "2", "-x", "1", "--json"]).stdout)
    assert all(isinstance(n, str) for n in b["notes"])  # unchanged meaning: the list of sentences
    assert len(b["note_numbers"]) == len(b["notes"])
    first = {n["name"]: n["value"] for n in b["note_numbers"][0] if n["scope"] == "whole configuration"}
    assert first == {"total": 32}


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


def test_diagram_words_for_one_unit():
    text = " ".join(_render(diagram_view(breakdown(units=1, input_size=1)), 200).split())
    assert "the unit reads the one value of h_(t-1)" in text
    assert "1 units" not in text and "1 values" not in text
    text = " ".join(_render(diagram_view(breakdown(units=2, input_size=1, cell="rnn")), 200).split())
    assert "The recurrent matrix is 2 × 2: each of the 2 units reads all 2 values" in text
    assert "per block here" in text


def test_diagram_cli_is_plain_when_piped():
    result = runner.invoke(app, ["breakdown", "-u", "2", "-x", "1", "--diagram"])
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout
    assert "recurrent_kernel (2 × 8)" in result.stdout


def test_html_view_is_a_table_with_the_total():
    html = breakdown(units=2, input_size=1)._repr_html_()
    assert "<table>" in html and "<td style=\"text-align:right\">32</td>" in html
    assert html.count("<table>") == 4


def test_cost_html_view():
    from lstmcalc import cost

    html = cost(units=2, input_size=1, time=10)._repr_html_()
    assert html.count("<table>") == 3
    # LSTM, H = 2, X = 1: 4 × (1·2 + 2·2) = 24 MACs per step and sample, × B·T = 320
    assert "7,680 MACs" in html
    assert "<td style=\"text-align:left\">matmul</td><td style=\"text-align:right\">48</td><td style=\"text-align:right\">15,360</td>" in html  # 2 × MACs, per step and whole run
    assert "<td style=\"text-align:left\">ptflops</td>" in html


def test_forward_result_displays_as_html_and_rich():
    import numpy as np

    import lstmcalc
    from lstmcalc.frameworks import make_spec
    from lstmcalc.weights import init_weights

    spec = make_spec(3, 2, batch=4, time=5)
    r = lstmcalc.forward(np.zeros((4, 5, 2)), init_weights(spec, seed=1, dtype="float64"),
                         return_sequences=True, return_state=True)
    html = r._repr_html_()
    assert "<table>" in html and "<td style=\"text-align:left\">(4, 5, 3)</td>" in html and "<td style=\"text-align:left\">c</td>" in html
    text = _render(r, 100)
    assert "(4, 5, 3)" in text and "float64" in text


def test_peephole_lstm_is_not_called_peephole_free():
    """An ONNX LSTM with P has peepholes: the history sentence must say so (it once said "no
    peephole connections" for every LSTM)."""
    from lstmcalc.explain import answers
    from lstmcalc.frameworks import make_spec

    with_p = answers(make_spec(2, 1, framework="onnx", peepholes=True))[0].answer
    without = answers(make_spec(2, 1, framework="onnx"))[0].answer
    assert "no peephole" not in with_p and "p_i⊙c_prev" in with_p
    assert "no peephole" in without
