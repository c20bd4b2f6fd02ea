"""ConvLSTM1D/2D/3D (Keras 3; count, breakdown and shapes only): exact values worked by hand from
Keras' shapes (kernel kernel_size + (C, 4F), recurrent_kernel kernel_size + (F, 4F), bias (4F,)),
the command line, and every kind of bad input. Against real Keras: tests/crosscheck/test_convlstm.py."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from lstmcalc import breakdown, count, cost
from lstmcalc.spec import SpecError

GOLDEN = Path(__file__).parent / "golden"
REFUSAL = "ConvLSTM is counted and shaped only (count, breakdown)"


from helpers import invoke  # noqa: E402  (CliRunner, arguments as strings)


# ---------------------------------------------------------------- exact values, by hand


@pytest.mark.parametrize("options, total", [
    # 4 × (k × (C + F) × F + F)
    (dict(units=64, input_size=3, cell="convlstm2d", kernel_size=3), 4 * (9 * (3 + 64) * 64 + 64)),  # 154,624
    (dict(units=4, input_size=3, cell="convlstm1d", kernel_size=5, bias=False), 4 * 5 * (3 + 4) * 4),  # 560
    (dict(units=2, input_size=3, cell="convlstm3d", kernel_size=(1, 2, 3)), 4 * (6 * (3 + 2) * 2 + 2)),  # 248
    (dict(units=4, input_size=3, cell="convlstm2d", kernel_size=(3, 2), bidirectional=True),
     2 * 4 * (6 * (3 + 4) * 4 + 4)),  # 1,376
])
def test_count_exact(options, total):
    assert count(**options) == total
    b = breakdown(**options)
    assert b.total == total == sum(g.total for g in b.gates) == sum(t.count for t in b.tensors)


def test_the_count_does_not_depend_on_spatial_size_strides_padding_or_dilation():
    base = count(8, 3, cell="convlstm2d", kernel_size=3)
    for extra in (dict(spatial=(5, 5)), dict(spatial=(500, 70)), dict(strides=2, padding="same"),
                  dict(dilation_rate=2, spatial=(9, 9)), dict(data_format="channels_first")):
        assert count(8, 3, cell="convlstm2d", kernel_size=3, **extra) == base


def test_breakdown_tensors_gates_and_formula():
    b = breakdown(4, 3, cell="convlstm2d", kernel_size=(3, 2))
    assert [(t.name, t.shape) for t in b.tensors] == [
        ("kernel", (3, 2, 3, 16)), ("recurrent_kernel", (3, 2, 4, 16)), ("bias", (16,))]
    kernel = b.tensors[0]
    assert [(s.gate, s.axis, s.start, s.stop) for s in kernel.slices] == [
        ("i", 3, 0, 4), ("f", 3, 4, 8), ("g", 3, 8, 12), ("o", 3, 12, 16)]
    assert [(g.gate, g.input_weights, g.recurrent_weights, g.bias) for g in b.gates] == [
        (q, 6 * 3 * 4, 6 * 4 * 4, 4) for q in "ifgo"]
    f = b.formulas[0]
    assert (f.symbolic, f.substituted, f.total) == ("4 × (k_1·k_2 × (C + F) × F + F)", "4 × (3·2 × (3 + 4) × 4 + 4)", 688)
    assert b.code == ("keras.layers.ConvLSTM2D(4, (3, 2))",)


@pytest.mark.parametrize("options, inputs, out, state", [
    # valid: floor((S − d(k − 1) − 1) / s) + 1; same: floor((S − 1) / s) + 1
    (dict(kernel_size=3, spatial=(32, 32)), (32, 1, 32, 32, 3), (32, 30, 30, 8), (32, 30, 30, 8)),
    (dict(kernel_size=3, spatial=(9, 8), strides=2, padding="same"), (32, 1, 9, 8, 3), (32, 5, 4, 8), (32, 5, 4, 8)),
    (dict(kernel_size=(3, 2), spatial=(9, 8), strides=(2, 3)), (32, 1, 9, 8, 3), (32, 4, 3, 8), (32, 4, 3, 8)),
    (dict(kernel_size=3, spatial=(9, 8), dilation_rate=2), (32, 1, 9, 8, 3), (32, 5, 4, 8), (32, 5, 4, 8)),
    (dict(kernel_size=3, spatial=(9, 8), data_format="channels_first"), (32, 1, 3, 9, 8), (32, 8, 7, 6), (32, 8, 7, 6)),
    # Bidirectional concat joins the last axis: the filters, or with channels_first the last spatial axis
    (dict(kernel_size=3, spatial=(9, 8), bidirectional=True), (32, 1, 9, 8, 3), (32, 7, 6, 16), (32, 7, 6, 8)),
    (dict(kernel_size=3, spatial=(9, 8), bidirectional=True, data_format="channels_first"),
     (32, 1, 3, 9, 8), (32, 8, 7, 12), (32, 8, 7, 6)),
    (dict(kernel_size=3, spatial=(9, 8), bidirectional=True, merge_mode="sum"), (32, 1, 9, 8, 3), (32, 7, 6, 8),
     (32, 7, 6, 8)),
])
def test_shapes(options, inputs, out, state):
    b = breakdown(8, 3, cell="convlstm2d", return_state=True, **options)
    assert [o.shape for o in b.inputs] == [inputs]
    assert b.outputs[0].shape == out
    assert {o.shape for o in b.outputs[1:]} == {state} and {o.shape for o in b.initial_states} == {state}
    assert len(b.outputs) == len(b.initial_states) + 1 == (5 if options.get("bidirectional") else 3)
    seq = breakdown(8, 3, cell="convlstm2d", return_sequences=True, time=7, **options)
    assert seq.outputs[0].shape == (32, 7) + out[1:] and len(seq.outputs) == 1


def test_without_spatial_there_are_no_shapes_and_a_note_says_how_to_get_them():
    b = breakdown(8, 3, cell="convlstm3d", kernel_size=3)
    assert b.outputs == () and b.initial_states == () and b.inputs == ()
    assert "Give --spatial" in b.notes[-1] and "3 values" in b.notes[-1]
    assert "inputs" not in b.to_dict() and b.to_dict()["outputs"] == []


def test_json_carries_the_convolution_and_every_number():
    r = invoke("breakdown", "--cell", "convlstm2d", "--filters", "8", "-x", "3", "--kernel-size", "3",
               "--strides", "2", "--padding", "same", "--spatial", "9,8", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["config"]["conv"] == {
        "rank": 2, "kernel_size": [3, 3], "strides": [2, 2], "padding": "same", "dilation_rate": [1, 1],
        "data_format": "channels_last", "spatial": [9, 8], "output_spatial": [5, 4]}
    assert data["total"] == 4 * (9 * (3 + 8) * 8 + 8)
    assert data["inputs"] == [{"name": "inputs", "shape": [32, 1, 9, 8, 3],
                               "meaning": "T steps of 3 channels over 9×8"}]
    # every number a note states is in note_numbers
    for text, numbers in zip(data["notes"], data["note_numbers"]):
        stated = {n["value"] if isinstance(n["value"], int) else tuple(n["value"]) for n in numbers}
        for found in re.findall(r"(?<![\w(,])\d[\d,]*(?![\w)])", text):
            assert int(found.replace(",", "")) in stated or found in ("1",), (found, text)
    assert "conv" not in json.loads(invoke("breakdown", "-u", "2", "-x", "1", "--json").stdout)["config"]


def test_count_json_and_grid():
    r = invoke("count", "--cell", "convlstm1d", "--filters", "2", "-x", "1", "--kernel-size", "3", "--json")
    assert json.loads(r.stdout)["total"] == 4 * (3 * (1 + 2) * 2 + 2)
    r = invoke("count", "--cell", "convlstm2d", "--filters", "1:3", "-x", "1,2", "--kernel-size", "3", "--json")
    assert r.exit_code == 0, r.output
    assert [(row["units"], row["input_size"], row["parameters"]) for row in json.loads(r.stdout)] == [
        (f, c, 4 * (9 * (c + f) * f + f)) for f in (1, 2, 3) for c in (1, 2)]
    table = invoke("count", "--cell", "convlstm2d", "--filters", "1:3", "-x", "1,2", "--kernel-size", "3").stdout
    assert "Keras 3 ConvLSTM2D parameters" in table and "filters F \\ channels C" in table


def test_plain_text_when_piped():
    r = invoke("breakdown", "--cell", "convlstm2d", "-u", "8", "-x", "3", "--kernel-size", "3", "--spatial", "9,9")
    assert r.exit_code == 0 and "\x1b" not in r.stdout
    assert r.stdout.splitlines()[0].startswith("Keras 3 ConvLSTM2D, filters F = 8, channels C = 3, kernel 3×3")
    assert "keras.layers.ConvLSTM2D(8, 3)" in r.stdout
    assert "input k·C·F" in r.stdout and "(32, 7, 7, 8)" in r.stdout


def test_count_and_breakdown_stay_numpy_free():
    probe = ("import sys, lstmcalc; lstmcalc.breakdown(8, 3, cell='convlstm3d', kernel_size=3, spatial=(5, 5, 5))"
             ".to_dict(); lstmcalc.count(8, 3, cell='convlstm1d', kernel_size=2); "
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'numpy', 'rich', 'typer', 'keras'}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@settings(max_examples=60, deadline=None)
@given(rank=st.integers(1, 3), f=st.integers(1, 64), c=st.integers(1, 64), k=st.integers(1, 7),
       bias=st.booleans(), bidirectional=st.booleans())
def test_rows_sum_to_the_total_and_the_formula_holds(rank, f, c, k, bias, bidirectional):
    b = breakdown(f, c, cell=f"convlstm{rank}d", kernel_size=k, bias=bias, bidirectional=bidirectional)
    per = 4 * (k**rank * (c + f) * f + (f if bias else 0))
    assert b.total == per * (2 if bidirectional else 1) == sum(g.total for g in b.gates)
    assert b.total == sum(t.count for t in b.tensors)


# ---------------------------------------------------------------- golden output


GOLDEN_CASES = {
    "keras_convlstm2d_same_s2_state": dict(units=8, input_size=3, cell="convlstm2d", kernel_size=3, strides=2,
                                           padding="same", spatial=(9, 8), return_state=True, batch=4, time=5),
    "keras_convlstm1d_bidir_first": dict(units=4, input_size=2, cell="convlstm1d", kernel_size=3,
                                         data_format="channels_first", bidirectional=True, spatial=(10,),
                                         return_sequences=True, batch=2, time=3),
    "keras_convlstm3d_no_spatial": dict(units=2, input_size=1, cell="convlstm3d", kernel_size=(1, 2, 3), bias=False),
}


def render(options: dict, width: int) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(breakdown(**options))
    return console.file.getvalue()


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_breakdown_golden(name, width, regen_golden):
    """A snapshot; every number in it is checked against Keras in
    tests/crosscheck/test_convlstm.py::test_golden_numbers."""
    path = GOLDEN / f"breakdown_{name}_{width}.txt"
    text = render(GOLDEN_CASES[name], width)
    if regen_golden:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run pytest --regen-golden"
    assert text == path.read_text(encoding="utf-8")
    assert "…" not in text


# ---------------------------------------------------------------- refusals and bad input


CONV = ["--cell", "convlstm2d", "-u", "8", "-x", "3"]


def _one_line_error(result, code: int = 2) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstmcalc: error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("command", [
    ["run", *CONV, "--backend", "numpy"], ["cost", *CONV], ["explain", *CONV],
    ["cost", *CONV, "--json"], ["convert", "x.npz", "-o", "y.npz", "--cell", "convlstm3d"],
])
def test_other_commands_refuse_a_convlstm(command):
    line = _one_line_error(invoke(*command))
    assert REFUSAL in line and "--cell" in line


def test_the_library_refuses_it_too():
    with pytest.raises(SpecError, match=re.escape(REFUSAL)):
        cost(8, 3, cell="convlstm2d")
    from lstmcalc import convert

    with pytest.raises(SpecError, match=re.escape(REFUSAL)):
        convert({}, cell="convlstm1d", source="keras", target="torch")


@pytest.mark.parametrize("framework", ["torch", "onnx", "keras2", "mlx", "equinox", "flax", "flax_nnx", "flax_nnx_opt"])
def test_other_frameworks_refuse_naming_keras(framework):
    line = _one_line_error(invoke("count", *CONV, "--kernel-size", "3", "-f", framework))
    assert "has no convlstm2d layer" in line and "convlstm2d is in --framework keras" in line


@pytest.mark.parametrize("extra, option, words", [
    ([], "--kernel-size", "is needed for --cell convlstm2d"),
    (["--kernel-size", "0"], "--kernel-size", ">= 1, got 0"),
    (["--kernel-size", "-3"], "--kernel-size", ">= 1, got -3"),
    (["--kernel-size", "3,3,3"], "--kernel-size", "takes 1 value or 2"),
    (["--kernel-size", "3.5"], "--kernel-size", "not a whole number"),
    (["--kernel-size", ""], "--kernel-size", "not a whole number"),
    (["--kernel-size", "3,"], "--kernel-size", "not a whole number"),
    (["--kernel-size", "٣"], "--kernel-size", "not a whole number"),  # an Arabic-Indic digit
    (["--kernel-size", "9" * 101], "--kernel-size", "at most 100"),
    (["--kernel-size", "3", "--strides", "0"], "--strides", ">= 1, got 0"),
    (["--kernel-size", "3", "--strides", "1,2,3"], "--strides", "takes 1 value or 2"),
    (["--kernel-size", "3", "--dilation-rate", "0"], "--dilation-rate", ">= 1, got 0"),
    (["--kernel-size", "3", "--strides", "2", "--dilation-rate", "2"], "--strides", "Keras refuses strides > 1"),
    (["--kernel-size", "3", "--strides", "1,2", "--dilation-rate", "2,1"], "--strides", "dilation_rate > 1"),
    (["--kernel-size", "3", "--spatial", "8"], "--spatial", "takes 2 spatial sizes, got 1"),
    (["--kernel-size", "3", "--spatial", "8,0"], "--spatial", ">= 1, got 0"),
    (["--kernel-size", "3", "--spatial", "2,8"], "--kernel-size", "larger than the spatial size 2 of dimension 0"),
    (["--kernel-size", "3", "--dilation-rate", "4", "--spatial", "9,8"], "--kernel-size", "a span of 9"),
    (["--kernel-size", "3", "--padding", "causal"], "--padding", "'valid', 'same'"),
    (["--kernel-size", "3", "--data-format", "nhwc"], "--data-format", "channels_last"),
    (["--kernel-size", "3", "--layers", "2"], "--layers", "one layer at a time"),
    (["--kernel-size", "3", "--proj-size", "1"], "--proj-size", "PyTorch"),
    (["--kernel-size", "3", "--peepholes"], "--peepholes", "peephole"),
    (["--kernel-size", "3", "--reset-after"], "--reset-after", "gru only"),
    (["--kernel-size", "3", "--layout", "1"], "--layout", "ONNX"),
    (["--kernel-size", "3", "--merge-mode", "sum"], "--merge-mode", "needs --bidirectional"),
])
@pytest.mark.parametrize("command", ["count", "breakdown"])
def test_bad_options(command, extra, option, words):
    line = _one_line_error(invoke(command, *CONV, *extra))
    assert option in line and words in line, line


@pytest.mark.parametrize("extra", [["--kernel-size", "3"], ["--spatial", "4"], ["--padding", "same"],
                                   ["--strides", "2"], ["--dilation-rate", "2"], ["--data-format", "channels_first"]])
def test_conv_options_on_a_recurrent_cell_are_refused(extra):
    line = _one_line_error(invoke("count", "-u", "2", "-x", "1", *extra))
    assert "applies to --cell convlstm1d, convlstm2d, convlstm3d only, not lstm" in line


def test_diagram_is_refused_for_a_convlstm():
    line = _one_line_error(invoke("breakdown", *CONV, "--kernel-size", "3", "--diagram"))
    assert "--diagram" in line and "kernel_size + (C, 4F)" in line


def test_a_size_of_over_100_digits_is_one_line_not_a_traceback():
    """Was a ValueError traceback from int() (Python refuses strings of over 4,300 digits)."""
    for args in (["-u", "9" * 5000, "-x", "1"], ["-u", "1:" + "9" * 5000, "-x", "1"]):
        line = _one_line_error(invoke("count", *args))
        assert "--units" in line and "at most 100" in line


def test_plot_names_filters_and_channels(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "conv.svg"
    r = invoke("count", "--cell", "convlstm1d", "--filters", "1,2,4", "-x", "3", "--kernel-size", "3", "--plot", str(out))
    assert r.exit_code == 0, r.stderr
    text = out.read_text()
    assert "ConvLSTM1D parameters against filters F" in text and "Keras 3, channels C = 3" in text
    assert "units H" not in text and "PyTorch" not in text  # no PyTorch twin for a ConvLSTM
