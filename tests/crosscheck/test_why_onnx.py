"""`why` on onnxruntime's real shape errors: each test builds an ONNX LSTM/GRU/RNN node with
onnx.helper whose W, R, B, P or initial_h does not fit its hidden_size, direction or the
input X, runs it in onnxruntime, and feeds the exact exception text to lstmcalc.diagnose.

Two sides: "tensors" (JSON "checkpoint": what the tensor onnxruntime refused holds) and "node"
(JSON "model": what the node's attributes and X need). Every field the diagnosis reports
(not None) must be the true value of that side; fields the text does not print stay None.
"""

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from lstmcalc.diagnose import FIELDS, UnrecognisedError, diagnose  # noqa: E402

OPS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
G = {"lstm": 4, "gru": 3, "rnn": 1}


def ort_error(cell, hidden, tensors, direction="forward", x=(2, 1, 5)) -> str:
    """The exact text onnxruntime raises for one node with these initializers (name -> shape)."""
    slots = ["X", "W", "R", "B", "", "initial_h", "initial_c", "P"]
    inputs = [n if (n == "X" or n in tensors) else "" for n in slots]
    while inputs[-1] == "":
        inputs.pop()
    inits = [numpy_helper.from_array(np.zeros(s, np.float32), n) for n, s in tensors.items()]
    node = helper.make_node(OPS[cell], inputs, ["Y"], name="rnn0", hidden_size=hidden, direction=direction)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None] * 3)],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    with pytest.raises(Exception) as info:
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        session.run(None, {"X": np.zeros(x, np.float32)})
    return str(info.value)


def check(layer, true: dict):
    for f in FIELDS:
        value = getattr(layer, f)
        if value is not None:
            assert value == true[f], (layer.side, f, value, true[f])


def base(cell, units=8, input_size=5, bidirectional=False, bias=None):
    return dict(cell=cell, units=units, input_size=input_size, layers=1, bidirectional=bidirectional,
                proj_size=0, bias=bias)


@pytest.mark.parametrize("cell", list(OPS))
def test_r_holds_another_hidden_size(cell):
    g = G[cell]
    text = ort_error(cell, 8, {"W": (1, g * 8, 5), "R": (1, g * 4, 4)})
    assert f"Input R must have shape {{1,{g * 8},8}}. Actual:{{1,{g * 4},4}}" in text
    d = diagnose(text)
    assert d.source == f"onnxruntime {OPS[cell]} node 'rnn0'"
    (ck,), (mo,) = d.checkpoint, d.model
    check(ck, base(cell, units=4))
    check(mo, base(cell))
    assert (ck.cell, ck.units, mo.units, ck.bidirectional, mo.bidirectional) == (cell, 4, 8, False, False)
    assert (ck.input_size, mo.input_size, ck.bias, mo.bias) == (None, None, None, None)  # R says neither
    assert [(x.field, x.checkpoint, x.model) for x in d.differences] == [("units", 4, 8)]
    assert d.to_dict()["checkpoint"][0]["seen"] == [{"key": "R", "shape": [1, g * 4, 4], "how": "actual"}]


@pytest.mark.parametrize("cell", list(OPS))
def test_r_whose_rows_and_columns_disagree_gives_no_units(cell):
    g = G[cell]
    text = ort_error(cell, 8, {"W": (1, g * 8, 5), "R": (1, g * 8, 4)})
    d = diagnose(text)
    (ck,), (mo,) = d.checkpoint, d.model
    check(mo, base(cell))
    assert ck.units is None and mo.units == 8
    if g == 1:  # an RNN's R (1, 8, 4): 8 rows = G·H against 4 columns
        assert "R's own rows and columns disagree: 8 rows" in " ".join(d.notes)
    assert [(x.field, x.checkpoint, x.model) for x in d.differences] == [("shape", [1, g * 8, 4], [1, g * 8, 8])]


@pytest.mark.parametrize("cell", list(OPS))
def test_w_rows_of_another_hidden_size(cell):
    g = G[cell]
    d = diagnose(ort_error(cell, 8, {"W": (1, g * 4, 5), "R": (1, g * 8, 8)}))
    (ck,), (mo,) = d.checkpoint, d.model
    check(ck, base(cell, units=4))
    check(mo, base(cell))
    assert (ck.units, ck.input_size, mo.units, mo.input_size) == (4, 5, 8, 5)
    assert [(x.field, x.checkpoint, x.model) for x in d.differences] == [("units", 4, 8)]


@pytest.mark.parametrize("cell", list(OPS))
def test_x_at_run_time_wider_than_w(cell):
    g = G[cell]
    d = diagnose(ort_error(cell, 8, {"W": (1, g * 8, 5), "R": (1, g * 8, 8)}, x=(2, 1, 7)))
    (ck,), (mo,) = d.checkpoint, d.model
    check(ck, base(cell, input_size=5))
    check(mo, base(cell, input_size=7))
    assert (ck.input_size, mo.input_size) == (5, 7)
    assert [(x.field, x.checkpoint, x.model) for x in d.differences] == [("input_size", 5, 7)]
    assert d.differences[0].words == "X's last dimension is 7 at run time, W is made for input size 5"


@pytest.mark.parametrize("cell", list(OPS))
def test_b_of_the_wrong_length(cell):
    g = G[cell]
    text = ort_error(cell, 8, {"W": (1, g * 8, 5), "R": (1, g * 8, 8), "B": (1, g * 8)})
    assert f"Input B must have shape {{1,{2 * g}*8}}. Actual:{{1,{g * 8}}}" in text  # onnxruntime prints 2G*H
    d = diagnose(text)
    (ck,), (mo,) = d.checkpoint, d.model
    check(ck, base(cell, units=4, bias=True))
    check(mo, base(cell, bias=True))
    assert (ck.units, mo.units, ck.bias, mo.bias) == (4, 8, True, True)
    assert [(x.field, x.checkpoint, x.model) for x in d.differences] == [("units", 4, 8)]


@pytest.mark.parametrize("cell", list(OPS))
def test_bidirectional_node_with_one_direction_tensors(cell):
    g = G[cell]
    d = diagnose(ort_error(cell, 8, {"W": (1, g * 8, 5), "R": (1, g * 8, 8)}, direction="bidirectional"))
    (ck,), (mo,) = d.checkpoint, d.model
    check(ck, base(cell))
    check(mo, base(cell, bidirectional=True))
    assert (ck.bidirectional, mo.bidirectional) == (False, True)
    assert [(x.field, x.checkpoint, x.model) for x in d.differences] == [("bidirectional", False, True)]


@pytest.mark.parametrize("cell", list(OPS))
def test_reverse_node_with_two_direction_tensors(cell):
    g = G[cell]
    d = diagnose(ort_error(cell, 8, {"W": (2, g * 8, 5), "R": (2, g * 8, 8)}, direction="reverse"))
    (ck,), (mo,) = d.checkpoint, d.model
    check(ck, base(cell, bidirectional=True))
    check(mo, base(cell))
    assert [(x.field, x.checkpoint, x.model) for x in d.differences] == [("bidirectional", True, False)]


@pytest.mark.parametrize("cell", list(OPS))
def test_initial_h_of_another_hidden_size_and_batch(cell):
    g = G[cell]
    d = diagnose(ort_error(cell, 8, {"W": (1, g * 8, 5), "R": (1, g * 8, 8), "initial_h": (1, 2, 4)}))
    (ck,), (mo,) = d.checkpoint, d.model
    check(ck, base(cell, units=4))
    check(mo, base(cell))
    assert [(x.field, x.checkpoint, x.model) for x in d.differences] == [("units", 4, 8)]
    assert "initial_h holds batch 2, X has batch 1 at run time" in d.notes


def test_lstm_peepholes_p_of_another_hidden_size():
    d = diagnose(ort_error("lstm", 8, {"W": (1, 32, 5), "R": (1, 32, 8), "P": (1, 12)}))
    (ck,), (mo,) = d.checkpoint, d.model
    check(ck, base("lstm", units=4))
    check(mo, base("lstm"))
    assert [(x.field, x.checkpoint, x.model) for x in d.differences] == [("units", 4, 8)]


def test_b_error_leaves_the_input_size_unknown_so_no_breakdown_line():
    d = diagnose(ort_error("gru", 8, {"W": (1, 24, 5), "R": (1, 24, 8), "B": (1, 24)}, x=(2, 1, 5)))
    # B's error proves bias on both sides, but only W's shape prints X: input stays unknown
    assert d.model[0].breakdown_command() is None and d.model[0].unknown() == ["input_size"]
    assert d.checkpoint[0].unknown() == ["input_size"]


def test_w_of_the_wrong_rank_proves_only_the_node_side():
    text = ort_error("lstm", 8, {"W": (32, 5), "R": (1, 32, 8)})
    assert "Input W must have shape {1,32,5}. Actual:{32,5}" in text
    d = diagnose(text)
    (ck,), (mo,) = d.checkpoint, d.model
    check(mo, base("lstm"))
    assert (mo.units, mo.input_size, mo.bidirectional) == (8, 5, False)
    assert (ck.units, ck.input_size, ck.bidirectional) == (None, None, None)
    assert [(x.field, x.checkpoint, x.model) for x in d.differences] == [("shape", [32, 5], [1, 32, 5])]


def test_cli_reads_the_onnxruntime_text_from_stdin_as_json():
    import json

    from typer.testing import CliRunner

    from lstmcalc.cli import app

    text = ort_error("lstm", 8, {"W": (1, 32, 5), "R": (1, 16, 4)})
    result = CliRunner().invoke(app, ["why", "-", "--json"], input=text)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    ck, mo = data["checkpoint"][0], data["model"][0]
    assert (ck["framework"], ck["cell"], ck["units"], mo["units"], ck["input"]) == ("onnx", "lstm", 4, 8, None)
    assert [(x["field"], x["checkpoint"], x["model"]) for x in data["differences"]] == [("units", 4, 8)]


def test_cli_too_little_text_is_one_line_and_exit_1():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "lstmcalc", "why", sequence_lens_error()], capture_output=True, text=True)
    assert (r.returncode, r.stdout) == (1, "")
    assert r.stderr.startswith("lstmcalc: error: an onnxruntime error of LSTM node 'rnn0'") and r.stderr.count("\n") == 1


def sequence_lens_error() -> str:
    """onnxruntime's text for an LSTM whose sequence_lens exceeds the sequence: no shapes in it."""
    slot = numpy_helper.from_array(np.array([5], np.int32), "sl")
    w = numpy_helper.from_array(np.zeros((1, 32, 5), np.float32), "W")
    r = numpy_helper.from_array(np.zeros((1, 32, 8), np.float32), "R")
    node = helper.make_node("LSTM", ["X", "W", "R", "", "sl"], ["Y"], name="rnn0", hidden_size=8)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None] * 3)],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], initializer=[w, r, slot])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    with pytest.raises(Exception) as info:
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
            None, {"X": np.zeros((2, 1, 5), np.float32)})
    return str(info.value)


def test_a_message_without_shapes_says_what_was_recognised():
    text = sequence_lens_error()
    assert "Invalid value/s in sequence_lens" in text
    with pytest.raises(UnrecognisedError) as why:
        diagnose(text)
    message = str(why.value)
    assert message.startswith("an onnxruntime error of LSTM node 'rnn0', but not a shape mismatch")
    assert "nothing about the layer can be read from it" in message and "\n" not in message


def test_a_shape_inference_error_at_session_creation_says_what_was_recognised():
    with pytest.raises(Exception) as info:
        ort_error_x2 = helper.make_node("GRU", ["X", "W", "R"], ["Y"], name="enc", hidden_size=8)
        w = numpy_helper.from_array(np.zeros((1, 24, 5), np.float32), "W")
        r = numpy_helper.from_array(np.zeros((1, 24, 8), np.float32), "R")
        graph = helper.make_graph([ort_error_x2], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2, 5])],
                                  [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], initializer=[w, r])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
        model.ir_version = 8
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    text = str(info.value)
    assert "[ShapeInferenceError] First input tensor must have rank 3" in text
    with pytest.raises(UnrecognisedError, match=r"^an onnxruntime error of GRU node 'enc', but not a shape mismatch"):
        diagnose(text)


def test_the_docs_example_is_onnxruntimes_own_text():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "commands" / "why.md").read_text(encoding="utf-8")
    real = ort_error("lstm", 8, {"W": (1, 32, 5), "R": (1, 16, 4)})
    assert f'$ lstmcalc why "{real}"\n' in page


def kernel_error(op, attrs) -> str:
    """onnxruntime's text when the kernel refuses the node's attributes at session creation."""
    g = G[{"LSTM": "lstm", "GRU": "gru", "RNN": "rnn"}[op]]
    w = numpy_helper.from_array(np.zeros((1, g * 8, 5), np.float32), "W")
    r = numpy_helper.from_array(np.zeros((1, g * 8, 8), np.float32), "R")
    node = helper.make_node(op, ["X", "W", "R"], ["Y"], name="rnn0", **attrs)
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], initializer=[w, r])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    with pytest.raises(Exception) as info:
        ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return str(info.value)


@pytest.mark.parametrize("op,attrs,said", [
    ("LSTM", {}, "hidden_size"),  # no hidden_size attribute
    ("GRU", {}, "hidden_size"),
    ("RNN", {}, "hidden_size"),
    ("RNN", {"hidden_size": 8, "direction": "up"}, "allowed_directions"),
])
def test_a_kernel_refusing_the_attributes_says_what_was_recognised(op, attrs, said):
    text = kernel_error(op, attrs)
    assert "Exception during initialization" in text
    with pytest.raises(UnrecognisedError) as why:
        diagnose(text)
    message = str(why.value)
    assert message.startswith(f"an onnxruntime error of an {op} kernel refusing the node's attributes")
    assert said in message and "nothing about the layer can be read from it" in message and "\n" not in message
