"""ONNX as a registered framework: counts, tensors and slices, canonical round trips, notes,
and the command line (--peepholes, --layout, convert -o .onnx, inspect .onnx). The checks
against onnxruntime, real Keras and real PyTorch are in tests/crosscheck/test_onnx_*.py."""

from __future__ import annotations

import json

import numpy as np
import pytest

import lstmcalc
from lstmcalc.frameworks import all_tensors
from lstmcalc.converting import convert_weights
from lstmcalc.writers import save_arrays
from lstmcalc.frameworks import get, make_spec
from lstmcalc.spec import SpecError



from helpers import invoke  # noqa: E402  (CliRunner, arguments as strings)


# per layer and direction, G × (X·H + H·H + 2H) (+ 3H peepholes), written out by hand
@pytest.mark.parametrize("options, expected", [
    ({"cell": "lstm"}, 4 * (1 * 2 + 2 * 2 + 2 * 2)),                       # 40, PyTorch's too
    ({"cell": "lstm", "peepholes": True}, 40 + 3 * 2),                      # 46
    ({"cell": "gru"}, 3 * (2 + 4 + 4)),                                     # 30
    ({"cell": "rnn"}, 2 + 4 + 4),                                           # 10
    ({"cell": "lstm", "bias": False}, 4 * (2 + 4)),                         # 24
    ({"cell": "lstm", "bidirectional": True}, 80),
    ({"cell": "lstm", "bidirectional": True, "layers": 2}, 80 + 2 * 4 * (4 * 2 + 4 + 4)),  # layer 1 reads D·H = 4
])
def test_counts(options, expected):
    assert lstmcalc.count(2, 1, framework="onnx", **options) == expected


def test_same_count_as_pytorch_without_peepholes():
    for cell in ("lstm", "gru", "rnn"):
        for h, x in ((1, 1), (3, 5), (16, 7)):
            assert lstmcalc.count(h, x, cell=cell, framework="onnx") == lstmcalc.count(h, x, cell=cell, framework="torch")


def test_tensors_shapes_and_gate_slices():
    spec = make_spec(2, 1, cell="lstm", framework="onnx", bidirectional=True, peepholes=True)
    tensors = all_tensors(spec)
    assert [(t.name, t.shape, t.role, t.direction) for t in tensors] == [
        ("W", (2, 8, 1), "input", "both"), ("R", (2, 8, 2), "recurrent", "both"),
        ("B", (2, 16), "bias_both", "both"), ("P", (2, 6), "peephole", "both"),
    ]
    assert [(s.gate, s.start, s.stop) for s in tensors[0].slices] == [("i", 0, 2), ("o", 2, 4), ("f", 4, 6), ("g", 6, 8)]
    assert [(s.gate, s.start) for s in tensors[2].slices] == [
        ("i", 0), ("o", 2), ("f", 4), ("g", 6), ("i", 8), ("o", 10), ("f", 12), ("g", 14)]
    assert [(s.gate, s.start, s.stop) for s in tensors[3].slices] == [("i", 0, 2), ("o", 2, 4), ("f", 4, 6)]
    stack = make_spec(2, 1, cell="gru", framework="onnx", layers=2)
    assert [t.name for t in all_tensors(stack)] == ["layer0/W", "layer0/R", "layer0/B", "layer1/W", "layer1/R", "layer1/B"]
    assert sum(t.count for t in all_tensors(spec)) == lstmcalc.count(2, 1, framework="onnx", bidirectional=True, peepholes=True)


def test_outputs_follow_layout():
    zero = {o.name: o.shape for o in get("onnx").outputs(make_spec(3, 2, framework="onnx", bidirectional=True, batch=4, time=5))}
    one = {o.name: o.shape for o in get("onnx").outputs(make_spec(3, 2, framework="onnx", bidirectional=True, batch=4, time=5, layout=1))}
    assert zero == {"Y": (5, 2, 4, 3), "Y_h": (2, 4, 3), "Y_c": (2, 4, 3)}
    assert one == {"Y": (4, 5, 2, 3), "Y_h": (4, 2, 3), "Y_c": (4, 2, 3)}


def test_keras_onnx_keras_round_trip_is_exact():
    rng = np.random.default_rng(0)
    keras_w = {"kernel": rng.normal(size=(2, 12)), "recurrent_kernel": rng.normal(size=(3, 12)), "bias": rng.normal(size=12)}
    onnx_w = convert_weights(keras_w, cell="lstm", source="keras", target="onnx")
    assert {k: v.shape for k, v in onnx_w.items()} == {"W": (1, 12, 2), "R": (1, 12, 3), "B": (1, 24)}
    H = 3  # Keras i, f, c, o -> ONNX i, o, f, c, kernel transposed; the one bias goes to Wb, Rb = 0
    np.testing.assert_array_equal(onnx_w["W"][0, H:2 * H], keras_w["kernel"][:, 3 * H:].T)  # o
    np.testing.assert_array_equal(onnx_w["B"][0, 12:], np.zeros(12))
    back = convert_weights(onnx_w, cell="lstm", source="onnx", target="keras")
    for k in keras_w:
        np.testing.assert_array_equal(back[k], keras_w[k])


def test_refusals():
    with pytest.raises(SpecError, match="proj_size"):
        make_spec(4, 2, framework="onnx", proj_size=2)
    with pytest.raises(SpecError, match="merge_mode"):
        make_spec(4, 2, framework="onnx", bidirectional=True, merge_mode="sum")
    with pytest.raises(SpecError, match="a gru has no cell state"):
        make_spec(4, 2, framework="onnx", cell="gru", peepholes=True)
    with pytest.raises(SpecError, match="Keras 3 LSTM has no peephole"):
        make_spec(4, 2, framework="keras", peepholes=True)


def test_notes_are_computed_for_the_configuration():
    b = lstmcalc.breakdown(units=3, input_size=2, framework="onnx", cell="gru", reset_after=False, bidirectional=True)
    text = " ".join(b.notes)
    assert "[D, 2·G·H] = [2, 18]" in text and "linear_before_reset = 0" in text and "Keras' reset_after=False" in text
    b = lstmcalc.breakdown(units=3, input_size=2, framework="onnx", peepholes=True)
    text = " ".join(b.notes)
    assert "12 fewer per layer and direction" in text  # Keras' one bias per gate: 4 × 3
    assert "P [D, 3H] = [1, 9] adds 9 peephole weights" in text and "i, o, f, c" in text


# --- command line ----------------------------------------------------------------------------------


def test_cli_count_and_errors():
    assert invoke("count", "-u", 2, "-x", 1, "-f", "onnx").stdout == "40\n"
    assert invoke("count", "-u", 2, "-x", 1, "-f", "onnx", "--peepholes").stdout == "46\n"
    r = invoke("count", "-u", 2, "-x", 1, "-f", "onnx", "--layout", 2)
    assert r.exit_code == 2 and r.stdout == "" and r.stderr == "lstmcalc: error: --layout: must be one of 0, 1, got 2\n"
    r = invoke("count", "-u", 2, "-x", 1, "-f", "torch", "--peepholes")
    assert r.exit_code == 2 and "PyTorch's LSTM has no peephole connections" in r.stderr


def test_cli_breakdown_json_has_the_peephole_rows():
    r = invoke("breakdown", "-u", 2, "-x", 1, "-f", "onnx", "--peepholes", "--json")
    data = json.loads(r.stdout)
    assert data["total"] == 46
    assert [g["peephole"] for g in data["gates"]] == [2, 2, 2, 0]  # i, o, f, then the candidate


def test_cli_convert_to_onnx_model_and_inspect(tmp_path):
    pytest.importorskip("onnx")  # .onnx files are read with the optional onnx package
    rng = np.random.default_rng(1)
    spec = make_spec(3, 2, cell="gru", framework="torch", bidirectional=True)
    w = {t.name: rng.normal(size=t.shape).astype("float32") for t in all_tensors(spec)}
    src = tmp_path / "g.npz"
    save_arrays(str(src), w)
    out = tmp_path / "g.onnx"
    r = invoke("convert", src, "--to", "onnx", "-o", out)
    assert r.exit_code == 0, r.stderr
    r = invoke("inspect", out, "--json")
    assert r.exit_code == 0, r.stderr
    (layer,) = json.loads(r.stdout)["layers"]
    assert (layer["framework"], layer["cell"], layer["bidirectional"], layer["reset_after"], layer["total"]) == \
        ("onnx", "gru", True, True, 126)
    assert [(g["direction"], g["gate"]) for g in layer["gates"]] == [
        ("forward", "z"), ("forward", "r"), ("forward", "n"), ("backward", "z"), ("backward", "r"), ("backward", "n")]
    r = invoke("convert", src, "--to", "keras", "-o", tmp_path / "x.onnx")
    assert r.exit_code == 2 and "is an ONNX model; --to keras writes an .npz" in r.stderr


def test_cli_inspect_model_without_rnn_node(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    nodes = [helper.make_node("MatMul", ["X", "X"], [f"m{k}"]) for k in range(3)]
    nodes += [helper.make_node("Tanh", [f"m{k}"], [f"t{k}"]) for k in range(3)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("t0", TensorProto.FLOAT, None)])
    path = tmp_path / "unrolled.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]).SerializeToString())
    r = invoke("inspect", path)
    assert r.exit_code == 1 and r.stdout == ""
    assert r.stderr.startswith(f"lstmcalc: error: {path}: no LSTM/GRU/RNN node; the cell is unrolled into 3 MatMul/Gemm "
                             "nodes with 3 Tanh nodes")
    assert r.stderr.count("\n") == 1
    assert onnx is not None


def test_cli_inspect_shows_what_it_does_not_model_and_convert_refuses_it(tmp_path):
    pytest.importorskip("onnx")  # .onnx files are read with the optional onnx package
    # more in tests/test_onnx_inspect_attributes.py
    from lstmcalc.readers.onnx import write_onnx_model

    rng = np.random.default_rng(2)
    path = tmp_path / "clip.onnx"
    write_onnx_model(path, [{"W": rng.normal(size=(1, 4, 2)), "R": rng.normal(size=(1, 4, 1))}], cell="lstm",
                     hidden_size=1, input_size=2, clip=1.5)
    r = invoke("inspect", path)
    assert r.exit_code == 0 and "clip=1.5: lstmcalc's forward pass does not model the cell clip" in r.stdout
    r = invoke("convert", path, "--to", "torch", "-o", tmp_path / "t.npz")
    assert r.exit_code == 1 and "clip=1.5: lstmcalc's forward pass does not model the cell clip" in r.stderr


def test_diagram_draws_direction_0_with_gate_rows():
    r = invoke("breakdown", "-u", 2, "-x", 1, "-f", "onnx", "--cell", "gru", "--diagram")
    assert r.exit_code == 0, r.stderr
    assert "gate blocks along rows, order z r h" in r.stdout
    assert "W[0] (6 × 1), the forward direction" in r.stdout and "R[0] (6 × 2), the forward direction" in r.stdout


def test_cli_inspect_says_why_weights_are_not_readable(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    r_init = numpy_helper.from_array(np.zeros((1, 4, 1), "float32"), "R")
    nodes = [helper.make_node("Concat", ["Wa", "Wb"], ["W"], axis=1, name="cat"),
             helper.make_node("LSTM", ["X", "W", "R"], ["Y"], hidden_size=1, name="lstm")]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("X", "Wa", "Wb")]
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], [r_init])
    path = tmp_path / "computed.onnx"
    path.write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]).SerializeToString())
    r = invoke("inspect", path)
    assert r.exit_code == 1 and r.stdout == ""
    assert ("LSTM node 'lstm': W ('W') is not a constant in the file (it is computed by Concat 'cat'; 'Wb' is a "
            "graph input, fed at run time)") in r.stderr
    assert onnx is not None


from .conformance import check_convention  # noqa: E402


def test_conformance():
    check_convention("onnx")
