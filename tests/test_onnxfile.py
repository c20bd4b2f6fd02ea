"""lstmcalc.readers.onnx: reading RNN nodes (initializers, Constant nodes, Identity, graph inputs,
external data), writing runnable models, and one-line OnnxFileError for every bad file.
Models are built here with onnx.helper, independently of the writer under test."""

from __future__ import annotations

import os

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from lstmcalc.errors import FileError
from lstmcalc.readers.onnx import (  # noqa: E402
    WRITE_OPSET, OnnxFileError, onnx_layers, read_onnx, read_onnx_model, write_onnx_model,
)

H, X = 3, 2


def _rand(rng, *shape):
    return rng.uniform(-1, 1, shape).astype("float32")


def _lstm_model(w_source="initializer", *, extra_nodes=(), extra_inits=(), w_tensor=None, inputs_override=None):
    """One LSTM node (direction forward, H=3, X=2); W comes from ``w_source``: "initializer",
    "constant", "identity" (Identity of an initializer), "identity-constant", "graph input"."""
    rng = np.random.default_rng(0)
    W, R, B = _rand(rng, 1, 4 * H, X), _rand(rng, 1, 4 * H, H), _rand(rng, 1, 8 * H)
    w_tensor = w_tensor if w_tensor is not None else numpy_helper.from_array(W, "W")
    nodes, inits, graph_inputs = list(extra_nodes), [numpy_helper.from_array(R, "R"), numpy_helper.from_array(B, "B")], []
    w_name = "W"
    if w_source == "initializer":
        inits.append(w_tensor)
    elif w_source == "constant":
        nodes.append(helper.make_node("Constant", [], ["W"], value=w_tensor, name="w_const"))
    elif w_source == "identity":
        w_tensor.name = "W_param"
        inits.append(w_tensor)
        nodes.append(helper.make_node("Identity", ["W_param"], ["W"], name="w_id"))
    elif w_source == "identity-constant":
        nodes.append(helper.make_node("Constant", [], ["W_c"], value=w_tensor, name="w_const"))
        nodes.append(helper.make_node("Identity", ["W_c"], ["W_mid"], name="w_id1"))
        nodes.append(helper.make_node("Identity", ["W_mid"], ["W"], name="w_id2"))
    elif w_source == "graph input":
        graph_inputs.append(helper.make_tensor_value_info("W", TensorProto.FLOAT, [1, 4 * H, X]))
    inits += list(extra_inits)
    node_inputs = inputs_override or ["X", w_name, "R", "B"]
    nodes.append(helper.make_node("LSTM", node_inputs, ["Y", "Y_h", "Y_c"], hidden_size=H, name="the_lstm"))
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", X]), *graph_inputs],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), (W, R, B)


def _bare(dims, *, float_data=(), data_type=TensorProto.FLOAT, name="W"):
    """A TensorProto built field by field (onnx.helper.make_tensor refuses inconsistent ones)."""
    t = TensorProto()
    t.name, t.data_type = name, data_type
    t.dims.extend(dims)
    t.float_data.extend(float_data)
    return t


def _save(model, path):
    path.write_bytes(model.SerializeToString())
    return path


# --- reading ---------------------------------------------------------------------------------


@pytest.mark.parametrize("source, expected", [
    ("initializer", "initializer"), ("constant", "constant"), ("identity", "initializer"),
    ("identity-constant", "constant"),
])
def test_weights_from_initializers_constants_and_identity(tmp_path, source, expected):
    model, (W, R, B) = _lstm_model(source)
    (node,) = read_onnx(_save(model, tmp_path / "m.onnx"))
    assert node.op_type == "LSTM" and node.name == "the_lstm" and node.hidden_size == H
    assert node.inputs["W"].source == expected
    np.testing.assert_array_equal(node.array("W"), W)
    np.testing.assert_array_equal(node.array("R"), R)
    np.testing.assert_array_equal(node.array("B"), B)
    assert node.inputs["W"].shape == (1, 4 * H, X) and node.inputs["W"].dtype == "float32"
    assert node.inputs["P"].source == "absent" and node.inputs["initial_h"].source == "absent"
    assert node.inputs["X"].source == "graph input" and node.inputs["X"].shape == ("T", "B", X)
    via = {"identity": ("w_id",), "identity-constant": ("w_id2", "w_id1")}.get(source, ())
    assert node.inputs["W"].via == via


def test_weights_as_graph_inputs_are_reported_not_invented(tmp_path):
    model, _ = _lstm_model("graph input")
    (node,) = read_onnx(_save(model, tmp_path / "m.onnx"))
    assert node.inputs["W"].source == "graph input" and node.array("W") is None
    assert node.inputs["W"].shape == (1, 4 * H, X) and node.inputs["W"].dtype == "FLOAT"


def test_constant_value_floats(tmp_path):
    values = list(np.arange(8 * H, dtype="float32") / 7)
    model, _ = _lstm_model(extra_nodes=[helper.make_node("Constant", [], ["Bc"], value_floats=values)],
                           inputs_override=["X", "W", "R", "Bc"])
    (node,) = read_onnx(_save(model, tmp_path / "m.onnx"))
    assert node.inputs["B"].source == "constant"
    np.testing.assert_array_equal(node.array("B"), np.asarray(values, "float32"))


def test_initializer_that_is_also_a_graph_input_is_overridable(tmp_path):
    model, _ = _lstm_model()
    model.graph.input.append(helper.make_tensor_value_info("W", TensorProto.FLOAT, [1, 4 * H, X]))
    (node,) = read_onnx(_save(model, tmp_path / "m.onnx"))
    assert node.inputs["W"].source == "initializer" and node.inputs["W"].overridable
    assert not node.inputs["R"].overridable


def test_attributes_and_their_defaults(tmp_path):
    rng = np.random.default_rng(1)
    inits = [numpy_helper.from_array(_rand(rng, 2, 3 * H, X), "W"), numpy_helper.from_array(_rand(rng, 2, 3 * H, H), "R")]
    gru = helper.make_node("GRU", ["X", "W", "R"], ["Y"], hidden_size=H, direction="bidirectional",
                           linear_before_reset=1, clip=2.5, activations=["Sigmoid", "Tanh"] * 2,
                           activation_alpha=[0.5], layout=1, name="g")
    rnn = helper.make_node("RNN", ["X2", "Wr", "Rr"], ["Y2"], name="")
    inits += [numpy_helper.from_array(_rand(rng, 1, H, X), "Wr"), numpy_helper.from_array(_rand(rng, 1, H, H), "Rr")]
    graph = helper.make_graph([gru, rnn], "g", [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("X", "X2")],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    g, r = read_onnx(_save(model, tmp_path / "m.onnx"))
    assert (g.op_type, g.direction, g.num_directions, g.layout, g.linear_before_reset, g.clip) == ("GRU", "bidirectional", 2, 1, 1, 2.5)
    assert g.activations == ("Sigmoid", "Tanh", "Sigmoid", "Tanh") and g.activation_alpha == (0.5,) and g.activation_beta is None
    assert g.gates == 3 and g.index == 0 and g.outputs == ("Y", "")
    # RNN with nothing set: the spec's defaults; hidden_size absent stays None (R says 3)
    assert (r.op_type, r.name, r.index, r.hidden_size, r.direction, r.layout, r.clip, r.activations) == \
        ("RNN", "", 1, None, "forward", 0, None, None)
    assert r.upstream == ()


def test_graph_order_and_upstream(tmp_path):
    rng = np.random.default_rng(2)
    layers = [{"W": _rand(rng, 2, 4 * H, X), "R": _rand(rng, 2, 4 * H, H)},
              {"W": _rand(rng, 2, 4 * H, 2 * H), "R": _rand(rng, 2, 4 * H, H)},
              {"W": _rand(rng, 2, 4 * H, 2 * H), "R": _rand(rng, 2, 4 * H, H)}]
    path = tmp_path / "s.onnx"
    write_onnx_model(path, layers, cell="lstm", hidden_size=H, input_size=X, direction="bidirectional")
    nodes = read_onnx(path)
    assert [n.name for n in nodes] == ["layer0/LSTM", "layer1/LSTM", "layer2/LSTM"]
    assert [n.upstream for n in nodes] == [(), ("layer0/LSTM",), ("layer1/LSTM",)]
    assert nodes[0].index < nodes[1].index < nodes[2].index


def test_a_model_without_rnn_nodes_says_what_it_has(tmp_path):
    """A Scan whose body computes a cell with MatMul and Tanh: no RNN node anywhere, and the
    reason counts what is there (over the body too)."""
    body = helper.make_graph(
        [helper.make_node("MatMul", ["x", "x"], ["m"], name="mm_in"), helper.make_node("Tanh", ["m"], ["y"], name="act")],
        "body", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    scan = helper.make_node("Scan", ["X"], ["Y"], body=body, num_scan_inputs=1, name="unrolled")
    mm = helper.make_node("MatMul", ["X", "X"], ["Z"], name="mm")
    graph = helper.make_graph([scan, mm], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    path = _save(model, tmp_path / "m.onnx")
    info = read_onnx_model(path)
    assert read_onnx(path) == [] and info.rnn_nodes == ()
    assert info.loops == ("Scan 'unrolled'",) and info.nested_rnn == ()
    assert info.op_counts == {"Scan": 1, "MatMul": 1} and info.opset == 14
    assert info.all_op_counts == {"Scan": 1, "MatMul": 2, "Tanh": 1}
    with pytest.raises(OnnxFileError) as e:
        onnx_layers(path)
    assert str(e.value) == (f"{path}: no LSTM/GRU/RNN node; the cell is unrolled into 2 MatMul/Gemm nodes with 1 Tanh "
                            "nodes (inside Scan 'unrolled'), as exporters write cell loops (torch.onnx.export of an "
                            "LSTMCell, or of nn.RNN with dynamo): lstmcalc reads the weights of LSTM, GRU and RNN nodes")


def test_an_rnn_node_inside_a_subgraph_is_read_with_its_place(tmp_path):
    """An LSTM in a Scan body, its weights initializers of the main graph: listed, with the
    branch path, and its X the body's own input."""
    rng = np.random.default_rng(7)
    W, R = _rand(rng, 1, 4 * H, X), _rand(rng, 1, 4 * H, H)
    body = helper.make_graph(
        [helper.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=H, name="inner")], "body",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    scan = helper.make_node("Scan", ["X"], ["Y"], body=body, num_scan_inputs=1)
    graph = helper.make_graph([scan], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(W, "W"), numpy_helper.from_array(R, "R")])
    path = _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), tmp_path / "m.onnx")
    (node,) = read_onnx(path)
    assert node.name == "inner" and node.where == ("Scan '' body",) and node.key == "#0/body/inner"
    assert node.location == "node 0 in Scan '' body" and node.label == "LSTM node 'inner' in Scan '' body"
    assert node.inputs["X"].source == "graph input" and node.inputs["W"].source == "initializer"
    np.testing.assert_array_equal(node.array("W"), W)
    np.testing.assert_array_equal(node.array("R"), R)


def test_weights_computed_from_constants_are_evaluated(tmp_path):
    """W = Concat(Slice(Wa), Wb) of initializers and a Constant: evaluated, its op types and
    initializers recorded; a weight that depends on a graph input is not."""
    rng = np.random.default_rng(8)
    W = _rand(rng, 1, 4 * H, X)
    extra = [numpy_helper.from_array(np.concatenate([W[:, :H], np.zeros((1, 5, X), "float32")], axis=1), "Wa"),
             numpy_helper.from_array(W[:, H:], "Wb"), numpy_helper.from_array(np.array([0], "int64"), "start")]
    nodes = [helper.make_node("Constant", [], ["end"], value=numpy_helper.from_array(np.array([H], "int64")), name="c"),
             helper.make_node("Constant", [], ["axis"], value=numpy_helper.from_array(np.array([1], "int64"))),
             helper.make_node("Slice", ["Wa", "start", "end", "axis"], ["Wa_part"], name="slice"),
             helper.make_node("Concat", ["Wa_part", "Wb"], ["W"], axis=1, name="cat")]
    model, (_, R, B) = _lstm_model("none", extra_nodes=nodes, extra_inits=extra)
    (node,) = read_onnx(_save(model, tmp_path / "m.onnx"))
    w = node.inputs["W"]
    assert w.source == "computed from constants" and w.is_constant and w.producer == "Concat 'cat'"
    assert w.ops == ("Slice", "Concat") and set(w.leaves) == {"Wa", "Wb", "start"} and w.stored == ("FLOAT", "INT64")
    np.testing.assert_array_equal(node.array("W"), W)
    (_, _, weights, options) = onnx_layers(tmp_path / "m.onnx")[0]
    np.testing.assert_array_equal(weights["W"], W)
    assert options["attributes"]["notes"] == [
        "W computed from initializers by Slice, Concat (evaluated with onnx.reference.ReferenceEvaluator)"]


def test_external_data_beside_the_model_is_read(tmp_path):
    rng = np.random.default_rng(3)
    W = _rand(rng, 1, 4 * H, X)
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16 + W.tobytes())
    t = _bare(W.shape)
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "weights.bin"), ("offset", "16"), ("length", str(W.nbytes))):
        e = t.external_data.add()
        e.key, e.value = k, v
    model, _ = _lstm_model(w_tensor=t)
    (node,) = read_onnx(_save(model, tmp_path / "m.onnx"))
    np.testing.assert_array_equal(node.array("W"), W)


# --- bad files: one line, naming the file --------------------------------------------------------


def _error(path) -> str:
    with pytest.raises(OnnxFileError) as e:
        read_onnx(path)
    message = str(e.value)
    assert "\n" not in message and message.startswith(str(path)), message
    assert isinstance(e.value, FileError)  # the CLI exits 1 for it
    return message


def test_missing_file_and_directory(tmp_path):
    assert "no such file" in _error(tmp_path / "nope.onnx")
    assert "is a directory" in _error(tmp_path)


def test_empty_file(tmp_path):
    path = tmp_path / "e.onnx"
    path.write_bytes(b"")
    assert "not an ONNX model" in _error(path)


@pytest.mark.parametrize("seed", range(8))
def test_random_bytes(tmp_path, seed):
    path = tmp_path / "r.onnx"
    path.write_bytes(np.random.default_rng(seed).bytes(4096))
    assert "not an ONNX model" in _error(path)


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.99])
def test_truncated_model(tmp_path, fraction):
    model, _ = _lstm_model()
    data = model.SerializeToString()
    path = tmp_path / "t.onnx"
    path.write_bytes(data[: int(len(data) * fraction)])
    message = _error(path)
    assert "not an ONNX model" in message or "declare" in message or "produced by no node" in message


def test_declared_dims_larger_than_raw_data(tmp_path):
    t = numpy_helper.from_array(np.zeros((1, 4 * H, X), "float32"), "W")
    t.dims[2] = 5  # claims (1, 12, 5): 240 bytes, carries 96
    model, _ = _lstm_model(w_tensor=t)
    message = _error(_save(model, tmp_path / "m.onnx"))
    assert "dims [1, 12, 5] declare 240 bytes but the tensor holds 96" in message


def test_declared_dims_larger_than_float_data(tmp_path):
    t = _bare([1, 4 * H, X], float_data=[0.5] * 7)
    model, _ = _lstm_model(w_tensor=t)
    assert "declare 24 values but the tensor holds 7" in _error(_save(model, tmp_path / "m.onnx"))


def test_huge_declared_dims_refused_before_allocating(tmp_path):
    t = _bare([1, 4 * 10**6, 10**6])
    model, _ = _lstm_model(w_tensor=t)
    message = _error(_save(model, tmp_path / "m.onnx"))
    assert "declare 16000000000000 bytes, more than the whole file" in message


def test_constant_node_with_bad_dims(tmp_path):
    t = numpy_helper.from_array(np.zeros((1, 4 * H, X), "float32"), "W")
    t.dims[1] = 13
    model, _ = _lstm_model("constant", w_tensor=t)
    message = _error(_save(model, tmp_path / "m.onnx"))
    assert "Constant" in message and "declare" in message


def test_unsupported_tensor_type(tmp_path):
    t = helper.make_tensor("W", TensorProto.STRING, [1], vals=[b"x"])
    model, _ = _lstm_model(w_tensor=t)
    assert "data type STRING" in _error(_save(model, tmp_path / "m.onnx"))


@pytest.mark.parametrize("location", ["../outside.bin", "/etc/passwd", "sub/../../outside.bin"])
def test_external_data_outside_the_folder_is_refused(tmp_path, location):
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "outside.bin").write_bytes(b"\0" * 96)
    t = _bare([1, 4 * H, X])
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", location
    model, _ = _lstm_model(w_tensor=t)
    assert "points outside the model's folder" in _error(_save(model, folder / "m.onnx"))


def test_external_data_too_short(tmp_path):
    (tmp_path / "w.bin").write_bytes(b"\0" * 50)
    t = _bare([1, 4 * H, X])
    t.data_location = TensorProto.EXTERNAL
    e = t.external_data.add()
    e.key, e.value = "location", "w.bin"
    model, _ = _lstm_model(w_tensor=t)
    assert "does not hold the 96 bytes" in _error(_save(model, tmp_path / "m.onnx"))


def test_missing_required_input_and_dangling_name(tmp_path):
    model, _ = _lstm_model(inputs_override=["X", "", "R"])
    assert "required input W is missing" in _error(_save(model, tmp_path / "a.onnx"))
    model, _ = _lstm_model(inputs_override=["X", "nowhere", "R"])
    assert "'nowhere' is produced by no node" in _error(_save(model, tmp_path / "b.onnx"))


def test_bad_direction_attribute(tmp_path):
    model, _ = _lstm_model()
    node = model.graph.node[-1]
    node.attribute.append(helper.make_attribute("direction", "sideways"))
    assert "direction 'sideways'; allowed: forward, reverse, bidirectional" in _error(_save(model, tmp_path / "m.onnx"))


def test_missing_onnx_package_is_one_line(tmp_path, monkeypatch):
    import builtins

    model, _ = _lstm_model()
    path = _save(model, tmp_path / "m.onnx")
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    assert "needs the onnx package: pip install 'lstmcalc[onnx]'" in _error(path)


# --- writing ---------------------------------------------------------------------------------


def _layers(rng, G, D, L, *, bias=True, peepholes=False):
    out = []
    for k in range(L):
        x = X if k == 0 else D * H
        t = {"W": _rand(rng, D, G * H, x), "R": _rand(rng, D, G * H, H)}
        if bias:
            t["B"] = _rand(rng, D, 2 * G * H)
        if peepholes:
            t["P"] = _rand(rng, D, 3 * H)
        out.append(t)
    return out


@pytest.mark.parametrize("cell, G", [("lstm", 4), ("gru", 3), ("rnn", 1)])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_written_model_reads_back_exactly(tmp_path, cell, G, direction):
    rng = np.random.default_rng(4)
    D = 2 if direction == "bidirectional" else 1
    layers = _layers(rng, G, D, 2, peepholes=cell == "lstm")
    path = tmp_path / "w.onnx"
    lbr = 1 if cell == "gru" else 0
    write_onnx_model(path, layers, cell=cell, hidden_size=H, input_size=X, direction=direction, linear_before_reset=lbr)
    info = read_onnx_model(path)
    assert info.opset == WRITE_OPSET == 14 and info.producer.startswith("lstmcalc ")
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    assert len(info.rnn_nodes) == 2
    for k, node in enumerate(info.rnn_nodes):
        assert node.op_type == {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}[cell]
        assert (node.hidden_size, node.direction, node.layout, node.linear_before_reset) == (H, direction, 0, lbr)
        for slot, a in layers[k].items():
            assert node.inputs[slot].source == "initializer" and node.inputs[slot].name == f"layer{k}/{slot}"
            np.testing.assert_array_equal(node.array(slot), a)
    m = onnx.load(str(path))
    assert [i.name for i in m.graph.input] == ["X"]
    assert [o.name for o in m.graph.output] == (["Y", "Y_h", "Y_c"] if cell == "lstm" else ["Y", "Y_h"])
    dims = [d.dim_value or d.dim_param for d in m.graph.output[1].type.tensor_type.shape.dim]
    assert dims == [2 * D, "batch", H]


def test_single_layer_uses_the_operator_names(tmp_path):
    rng = np.random.default_rng(5)
    path = tmp_path / "one.onnx"
    write_onnx_model(path, _layers(rng, 4, 1, 1, peepholes=True), cell="lstm", hidden_size=H, input_size=X, clip=3.0)
    (node,) = read_onnx(path)
    assert {s: node.inputs[s].name for s in ("W", "R", "B", "P")} == {"W": "W", "R": "R", "B": "B", "P": "P"}
    assert node.clip == 3.0


def test_initial_states_are_graph_inputs(tmp_path):
    rng = np.random.default_rng(6)
    path = tmp_path / "s.onnx"
    write_onnx_model(path, _layers(rng, 4, 2, 2), cell="lstm", hidden_size=H, input_size=X,
                     direction="bidirectional", initial_states=True)
    m = onnx.load(str(path))
    assert [i.name for i in m.graph.input] == ["X", "initial_h", "initial_c"]
    for node in read_onnx(path):
        assert node.inputs["initial_h"].source == "computed" and node.inputs["initial_h"].producer.startswith("Slice")


@pytest.mark.parametrize("kwargs, message", [
    ({"cell": "cnn"}, "cell='cnn'; allowed: lstm, gru, rnn"),
    ({"direction": "both"}, "direction='both'; allowed"),
    ({"linear_before_reset": 1}, "linear_before_reset=1 is a GRU attribute"),
    ({"hidden_size": 0}, "hidden_size=0; must be a positive integer"),
    ({"clip": -1.0}, "clip=-1.0"),
    ({"hidden_size": 4}, r"layers\[0\]\['W'\] has shape \(1, 12, 2\); LSTM layer 0 needs \(1, 16, 2\)"),
    ({"activations": ["Tanh"]}, "activations has 1 names; LSTM with direction=forward takes 3"),
])
def test_writer_refuses_inconsistent_arguments(tmp_path, kwargs, message):
    rng = np.random.default_rng(7)
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"keep me")
    args = {"cell": "lstm", "hidden_size": H, "input_size": X, **kwargs}
    with pytest.raises(ValueError, match=message):
        write_onnx_model(path, _layers(rng, 4, 1, 1), **args)
    assert path.read_bytes() == b"keep me"  # nothing half-written
    assert sorted(os.listdir(tmp_path)) == ["bad.onnx"]


def test_writer_refuses_peepholes_outside_lstm(tmp_path):
    rng = np.random.default_rng(8)
    layers = _layers(rng, 3, 1, 1)
    layers[0]["P"] = _rand(rng, 1, 3 * H)
    with pytest.raises(ValueError, match="GRU takes W, R, B"):
        write_onnx_model(tmp_path / "g.onnx", layers, cell="gru", hidden_size=H, input_size=X)


def test_writer_file_errors_are_one_line(tmp_path):
    rng = np.random.default_rng(9)
    layers = _layers(rng, 1, 1, 1)
    with pytest.raises(OnnxFileError, match="does not exist"):
        write_onnx_model(tmp_path / "no" / "m.onnx", layers, cell="rnn", hidden_size=H, input_size=X)
    with pytest.raises(OnnxFileError, match="is a directory"):
        write_onnx_model(tmp_path, layers, cell="rnn", hidden_size=H, input_size=X)
    assert os.listdir(tmp_path) == []


def test_writer_replaces_atomically(tmp_path, monkeypatch):
    """A failure while writing leaves the old file and no temporary file."""
    rng = np.random.default_rng(10)
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OnnxFileError, match="cannot write \\(No space left on device\\)"):
        write_onnx_model(path, _layers(rng, 1, 1, 1), cell="rnn", hidden_size=H, input_size=X)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["m.onnx"]


# --- found by mutating bytes of real models (each crashed with a traceback before) -------------


def test_attribute_of_the_wrong_type(tmp_path):
    model, _ = _lstm_model()
    model.graph.node[-1].attribute.append(helper.make_attribute("clip", [1.0, 2.0]))
    assert "attribute clip is of type FLOATS; the spec says FLOAT" in _error(_save(model, tmp_path / "m.onnx"))


def test_constant_attribute_of_the_wrong_type(tmp_path):
    model, _ = _lstm_model(extra_nodes=[helper.make_node("Constant", [], ["Bc"], value_floats=[1.0])],
                           inputs_override=["X", "W", "R", "Bc"])
    const = model.graph.node[0]
    const.attribute[0].type = onnx.AttributeProto.GRAPH
    assert "attribute value_floats is of type GRAPH" in _error(_save(model, tmp_path / "m.onnx"))


def test_names_that_are_not_utf8(tmp_path):
    """protobuf hands back bytes for a string field that is not valid UTF-8."""
    model, (W, _, _) = _lstm_model()
    data = model.SerializeToString()
    model.producer_name = "PRODUCERX"
    model.graph.node[-1].name = "NODENAMEX"
    data = model.SerializeToString().replace(b"PRODUCERX", b"PRODUCER\xff").replace(b"NODENAMEX", b"NODENAME\xfe")
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    (node,) = read_onnx(path)
    assert node.name == "NODENAME\ufffd" and read_onnx_model(path).producer == "PRODUCER\ufffd"
    np.testing.assert_array_equal(node.array("W"), W)


def test_graph_input_of_an_unknown_type(tmp_path):
    model, _ = _lstm_model("graph input")
    model.graph.input[1].type.tensor_type.elem_type = 95
    (node,) = read_onnx(_save(model, tmp_path / "m.onnx"))
    assert node.inputs["W"].source == "graph input" and node.inputs["W"].dtype == "unknown type 95"


@pytest.mark.parametrize("seed", range(4))
def test_mutated_models_read_or_fail_in_one_line(tmp_path, seed):
    """Flip 1-5 random bytes of a written stack, 150 times: every file either reads or gives
    one OnnxFileError line (never another exception)."""
    rng = np.random.default_rng(seed)
    path = tmp_path / "base.onnx"
    write_onnx_model(path, _layers(rng, 4, 2, 2, peepholes=True), cell="lstm", hidden_size=H, input_size=X,
                     direction="bidirectional", initial_states=True, clip=2.0)
    base = path.read_bytes()
    bad = tmp_path / "bad.onnx"
    outcomes = set()
    for _ in range(150):
        data = bytearray(base)
        for _ in range(rng.integers(1, 6)):
            data[rng.integers(len(data))] = rng.integers(256)
        bad.write_bytes(bytes(data))
        try:
            read_onnx_model(bad)
            outcomes.add("read")
        except OnnxFileError as e:
            assert "\n" not in str(e) and str(e).startswith(str(bad))
            outcomes.add("error")
    assert outcomes == {"read", "error"}


def test_weights_computed_to_a_huge_shape_are_not_evaluated(tmp_path):
    """An Expand of a constant to 2**40 values would exhaust memory: shape inference sees it
    first, and the weight is reported as not constant, with the reason."""
    extra = [numpy_helper.from_array(np.ones((1, 1, 1), "float32"), "one"),
             numpy_helper.from_array(np.array([1, 1 << 20, 1 << 20], "int64"), "huge")]
    nodes = [helper.make_node("Expand", ["one", "huge"], ["W"], name="blow_up")]
    model, _ = _lstm_model("none", extra_nodes=nodes, extra_inits=extra)
    path = _save(model, tmp_path / "m.onnx")
    (node,) = read_onnx(path)
    assert node.inputs["W"].source == "computed" and node.array("W") is None
    assert node.inputs["W"].reason.startswith(f"computing it makes 'W' of {1 << 40:,} values, more than ")
    with pytest.raises(OnnxFileError, match="W \\('W'\\) is not a constant in the file \\(it is computed by Expand"):
        onnx_layers(path)
