"""inspect model.onnx shows every LSTM / GRU / RNN node with its attributes and where its
optional inputs come from, including the nodes lstmcalc cannot compute (clip, activations
other than the defaults, input_forget), each with one line saying so; convert and run refuse
those, naming the attribute. Models are built with onnx.helper, weights random per gate."""

from __future__ import annotations

import json

import numpy as np
import pytest


onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


from helpers import invoke  # noqa: E402  (CliRunner, arguments as strings)


def flat(text: str) -> str:
    """The output with line wrapping undone (plain text wraps at the terminal width)."""
    return " ".join(text.split())


def build(path, op="LSTM", *, H=2, X=3, direction="forward", seq_lens=None, initial_h=None, initial_c=None, **attrs):
    """One node ``op`` named "rnn" with W, R, B as initializers (random, different per gate).

    ``seq_lens`` / ``initial_h`` / ``initial_c``: None (absent), "initializer", "constant" (a
    Constant node) or "graph input". Returns the weights written, {"W", "R", "B"}."""
    rng = np.random.default_rng(7)
    G, D, B = GATES[op], (2 if direction == "bidirectional" else 1), 2
    weights = {"W": rng.normal(size=(D, G * H, X)), "R": rng.normal(size=(D, G * H, H)), "B": rng.normal(size=(D, 2 * G * H))}
    inits = [numpy_helper.from_array(a.astype("float32"), k) for k, a in weights.items()]
    nodes, inputs = [], [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", B, X])]
    names = {}
    values = {"sequence_lens": (seq_lens, np.array([3, 1], "int32"), TensorProto.INT32, [B]),
              "initial_h": (initial_h, rng.normal(size=(D, B, H)).astype("float32"), TensorProto.FLOAT, [D, B, H]),
              "initial_c": (initial_c, rng.normal(size=(D, B, H)).astype("float32"), TensorProto.FLOAT, [D, B, H])}
    for slot, (source, value, elem, shape) in values.items():
        if source is None:
            names[slot] = ""
            continue
        name = names[slot] = f"my_{slot}"
        if source == "initializer":
            inits.append(numpy_helper.from_array(value, name))
        elif source == "constant":
            nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value), name=f"c_{slot}"))
        else:
            inputs.append(helper.make_tensor_value_info(name, elem, shape))
    node_inputs = ["X", "W", "R", "B", names["sequence_lens"], names["initial_h"]]
    if op == "LSTM":
        node_inputs.append(names["initial_c"])
    while node_inputs[-1] == "":
        node_inputs.pop()
    nodes.append(helper.make_node(op, node_inputs, ["Y"], name="rnn", hidden_size=H, direction=direction, **attrs))
    graph = helper.make_graph(nodes, "g", inputs, [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["T", D, B, H])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return weights


def attributes(path) -> dict:
    r = invoke("inspect", path, "--json")
    assert r.exit_code == 0, r.stderr
    (layer,) = json.loads(r.stdout)["layers"]
    return layer["attributes"]


def refused(tmp_path, path, words: str):
    """convert (to every target) and run --weights refuse the node: exit 1, one line on
    stderr naming the attribute, nothing on stdout, no file written."""
    for target in ("torch", "keras"):
        out = tmp_path / f"out_{target}.npz"
        r = invoke("convert", path, "--to", target, "-o", out)
        assert (r.exit_code, r.stdout) == (1, ""), r.stderr
        assert r.stderr.startswith(f"lstmcalc: error: {path}: rnn: {words}") and r.stderr.count("\n") == 1
        assert r.stderr.endswith(", so it cannot convert or run this node (inspect shows it)\n")
        assert not out.exists()
    r = invoke("convert", path, "-o", tmp_path / "out.onnx")
    assert r.exit_code == 1 and words in r.stderr and not (tmp_path / "out.onnx").exists()
    r = invoke("run", "--weights", path, "-f", "onnx")
    assert (r.exit_code, r.stdout) == (1, "") and r.stderr.startswith(f"lstmcalc: error: {path}: rnn: {words}")
    assert r.stderr.count("\n") == 1


def test_clip_is_shown_and_refused(tmp_path):
    path = tmp_path / "clip.onnx"
    build(path, clip=0.5)
    a = attributes(path)
    assert a["clip"] == 0.5 and (a["op_type"], a["hidden_size"], a["direction"], a["layout"]) == ("LSTM", 2, "forward", 0)
    assert a["input_forget"] == 0 and a["linear_before_reset"] is None and a["activations"] is None
    assert a["not_modelled"] == ["clip=0.5: lstmcalc's forward pass does not model the cell clip"]
    r = invoke("inspect", path)
    assert r.exit_code == 0, r.stderr
    text = flat(r.stdout)
    assert "attributes hidden_size=2, direction=forward, layout=0, input_forget=0, clip=0.5, " \
           "activations=default (Sigmoid, Tanh, Tanh)" in text
    assert "clip=0.5: lstmcalc's forward pass does not model the cell clip; convert and run refuse this node" in text
    assert "i input" in text and "g candidate" in text  # the per-gate statistics are still there
    refused(tmp_path, path, "clip=0.5: lstmcalc's forward pass does not model the cell clip")


def test_activations_with_alpha_are_shown_and_refused(tmp_path):
    path = tmp_path / "acts.onnx"
    build(path, "GRU", activations=["HardSigmoid", "Tanh"], activation_alpha=[0.3], activation_beta=[0.6],
          linear_before_reset=1)
    a = attributes(path)
    assert a["activations"] == ["HardSigmoid", "Tanh"]
    assert (a["activation_alpha"], a["activation_beta"], a["linear_before_reset"]) == ([0.3], [0.6], 1)
    line = ("activations=[HardSigmoid, Tanh] activation_alpha=[0.3] activation_beta=[0.6]: "
            "lstmcalc's forward pass runs only Sigmoid, Tanh")
    assert a["not_modelled"] == [line]
    text = flat(invoke("inspect", path).stdout)
    assert "linear_before_reset=1, clip=none, activations=[HardSigmoid, Tanh], activation_alpha=[0.3], " \
           "activation_beta=[0.6]" in text
    assert "not modelled " + line + "; convert and run refuse this node" in text
    refused(tmp_path, path, line)


def test_input_forget_is_shown_and_refused(tmp_path):
    path = tmp_path / "coupled.onnx"
    build(path, input_forget=1)
    a = attributes(path)
    assert a["input_forget"] == 1
    line = "input_forget=1: lstmcalc's forward pass does not couple the forget gate to the input gate"
    assert a["not_modelled"] == [line]
    assert line + "; convert and run refuse this node" in flat(invoke("inspect", path).stdout)
    refused(tmp_path, path, line)


def test_diff_refuses_a_node_it_cannot_run(tmp_path):
    path = tmp_path / "clip.onnx"
    build(path, clip=0.5)
    r = invoke("diff", path, path)
    assert (r.exit_code, r.stdout) == (1, "") and r.stderr.count("\n") == 1
    assert "clip=0.5: lstmcalc's forward pass does not model the cell clip" in r.stderr


def test_several_unmodelled_attributes_are_one_line_each(tmp_path):
    path = tmp_path / "all.onnx"
    build(path, clip=2.0, input_forget=1, activations=["Sigmoid", "Tanh", "Relu"])
    a = attributes(path)
    assert [line.split(":")[0] for line in a["not_modelled"]] == \
        ["clip=2", "activations=[Sigmoid, Tanh, Relu]", "input_forget=1"]
    text = invoke("inspect", path).stdout
    assert flat(text).count("convert and run refuse this node") == 3
    r = invoke("convert", path, "--to", "torch", "-o", tmp_path / "o.npz")
    assert r.exit_code == 1 and r.stderr.count("\n") == 1
    assert all(words in r.stderr for words in ("clip=2", "activations=[Sigmoid, Tanh, Relu]", "input_forget=1"))


@pytest.mark.parametrize("source, shape", [("initializer", [2]), ("graph input", [2]), ("constant", [2])])
def test_sequence_lens_is_shown_with_its_source_and_the_weights_convert(tmp_path, source, shape):
    path = tmp_path / "lens.onnx"
    weights = build(path, seq_lens=source)
    a = attributes(path)
    assert a["inputs"]["sequence_lens"] == {"name": "my_sequence_lens", "source": source, "shape": shape}
    assert a["not_modelled"] == []
    assert f"sequence_lens {source} 'my_sequence_lens' [2]" in flat(invoke("inspect", path).stdout)
    # sequence_lens is an input, not a weight: the weights convert as they are. ONNX gate
    # blocks i, o, f, c -> PyTorch i, f, g, o: blocks 0, 2, 3, 1 of H rows each
    out = tmp_path / "torch.npz"
    r = invoke("convert", path, "--to", "torch", "-o", out)
    assert r.exit_code == 0, r.stderr
    order = np.concatenate([np.arange(2 * k, 2 * k + 2) for k in (0, 2, 3, 1)])  # H = 2
    w, rec, b = (weights[k].astype("float32")[0] for k in ("W", "R", "B"))
    with np.load(out) as z:
        np.testing.assert_array_equal(z["weight_ih_l0"], w[order])
        np.testing.assert_array_equal(z["weight_hh_l0"], rec[order])
        np.testing.assert_array_equal(z["bias_ih_l0"], b[:8][order])
        np.testing.assert_array_equal(z["bias_hh_l0"], b[8:][order])


def test_initial_states_show_where_they_come_from(tmp_path):
    path = tmp_path / "states.onnx"
    build(path, initial_h="constant", initial_c="graph input", direction="bidirectional")
    a = attributes(path)
    assert a["direction"] == "bidirectional"
    assert a["inputs"]["initial_h"] == {"name": "my_initial_h", "source": "constant", "shape": [2, 2, 2]}
    assert a["inputs"]["initial_c"] == {"name": "my_initial_c", "source": "graph input", "shape": [2, 2, 2]}
    assert a["inputs"]["sequence_lens"] == {"name": None, "source": "absent", "shape": None}
    assert a["inputs"]["P"] == {"name": None, "source": "absent", "shape": None}
    text = flat(invoke("inspect", path).stdout)
    assert ("inputs sequence_lens absent; initial_h constant 'my_initial_h' [2, 2, 2]; "
            "initial_c graph input 'my_initial_c' [2, 2, 2]; P absent") in text


def test_rnn_relu_is_modelled(tmp_path):
    # RNN Relu is what lstmcalc runs (activation relu); the old reader raised NameError here
    path = tmp_path / "relu.onnx"
    build(path, "RNN", activations=["Relu"])
    r = invoke("inspect", path, "--json")
    assert r.exit_code == 0, r.stderr
    (layer,) = json.loads(r.stdout)["layers"]
    assert layer["activation"] == "relu" and layer["attributes"]["not_modelled"] == []
    assert layer["attributes"]["activations"] == ["Relu"]
    r = invoke("convert", path, "--to", "torch", "-o", tmp_path / "t.npz")
    assert r.exit_code == 0, r.stderr


def test_activation_names_are_case_sensitive(tmp_path):
    # onnxruntime refuses RNN activations=["relu"]; lstmcalc does not read it as Relu
    path = tmp_path / "lower.onnx"
    build(path, "RNN", activations=["relu"])
    assert attributes(path)["not_modelled"] == ["activations=[relu]: lstmcalc's forward pass runs only Tanh or Relu"]


def test_rnn_activations_differing_by_direction_are_refused(tmp_path):
    path = tmp_path / "mixed.onnx"
    build(path, "RNN", direction="bidirectional", activations=["Tanh", "Relu"])
    a = attributes(path)
    assert a["not_modelled"] == ["activations=[Tanh, Relu]: lstmcalc's forward pass runs only Tanh or Relu, "
                                 "the same in both directions"]
    r = invoke("inspect", path, "--json")
    assert json.loads(r.stdout)["layers"][0]["activation"] is None  # never the tanh placeholder
    refused(tmp_path, path, "activations=[Tanh, Relu]")


def test_default_node_attributes_and_other_readers(tmp_path):
    path = tmp_path / "plain.onnx"
    build(path, "GRU")
    a = attributes(path)
    assert a == {
        "op_type": "GRU", "hidden_size": 2, "direction": "forward", "layout": 0, "linear_before_reset": 0,
        "input_forget": None, "clip": None, "activations": None, "activation_alpha": None, "activation_beta": None,
        "other_attributes": [],
        "inputs": {"sequence_lens": {"name": None, "source": "absent", "shape": None},
                   "initial_h": {"name": None, "source": "absent", "shape": None}},
        "not_modelled": [],
        # where the node sits and where its weights come from (onnxfile.onnx_layers)
        "operator": "", "where": [], "places": [{"name": "rnn", "location": "node 0", "where": []}],
        "weights": {"W": {"name": "W", "source": "initializer", "shape": [1, 6, 3], "stored": ["FLOAT"]},
                    "R": {"name": "R", "source": "initializer", "shape": [1, 6, 2], "stored": ["FLOAT"]},
                    "B": {"name": "B", "source": "initializer", "shape": [1, 12], "stored": ["FLOAT"]}},
        "quantization": None, "notes": [],
    }
    assert "activations=default (Sigmoid, Tanh)" in flat(invoke("inspect", path).stdout)
    # a file format without node attributes: the key is there, null
    npz = tmp_path / "torch.npz"
    rng = np.random.default_rng(1)
    np.savez(npz, weight_ih_l0=rng.normal(size=(8, 3)), weight_hh_l0=rng.normal(size=(8, 2)))
    r = invoke("inspect", npz, "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["layers"][0]["attributes"] is None
    assert "attributes" not in invoke("inspect", npz).stdout


def test_computed_initial_state_names_its_producer(tmp_path):
    # torch.onnx.export writes zero initial states as an Expand of a constant
    path = tmp_path / "computed.onnx"
    build(path, "GRU", initial_h="graph input")
    model = onnx.load(path)
    g = model.graph
    g.input.pop()  # my_initial_h is now computed: Expand(zeros, shape)
    g.initializer.extend([numpy_helper.from_array(np.zeros((1, 1, 2), "float32"), "zeros"),
                          numpy_helper.from_array(np.array([1, 2, 2], "int64"), "shape")])
    g.node.insert(0, helper.make_node("Expand", ["zeros", "shape"], ["my_initial_h"], name="h0"))
    path.write_bytes(model.SerializeToString())
    a = attributes(path)
    assert a["inputs"]["initial_h"] == {"name": "my_initial_h", "source": "computed", "shape": None,
                                        "producer": "Expand 'h0'"}
    assert "initial_h computed 'my_initial_h' (by Expand 'h0')" in flat(invoke("inspect", path).stdout)


def test_run_weights_reads_a_modelled_onnx_model_and_equals_onnxruntime(tmp_path):
    """run --weights model.onnx reads through the reader inspect uses (issue 21: one path)."""
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "plain.onnx"
    build(path)
    x = np.random.default_rng(3).normal(size=(2, 4, 3)).astype("float32")  # (B, T, X)
    np.save(tmp_path / "x.npy", x)
    r = invoke("run", "--weights", path, "--inputs", tmp_path / "x.npy", "--save", tmp_path / "out.npz", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["config"]["framework"] == "onnx"
    (y,) = ort.InferenceSession(str(path)).run(["Y"], {"X": x.transpose(1, 0, 2)})  # layout 0: X [T, B, X]
    out = np.load(tmp_path / "out.npz")
    assert out.files == ["Y", "Y_h", "Y_c"]  # the LSTM operator's outputs
    np.testing.assert_allclose(out["Y"], y, rtol=1e-5, atol=1e-5)  # Y [T, D, B, H]
    # the names say ONNX: another --framework is refused, not overruled
    r = invoke("run", "--weights", path, "-f", "torch")
    assert (r.exit_code, r.stdout) == (2, "") and "is torch, but the tensor names" in r.stderr