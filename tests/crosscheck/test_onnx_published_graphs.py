"""ONNX graphs as they are published (issue 22, item 1), built at test time with the real
tools: LSTM / GRU / RNN nodes inside ``If`` branches and ``Loop`` bodies (onnx.helper),
weights computed from initializers (torch.onnx.export with do_constant_folding=False, opsets
9, 11 and 20), one weight set used in several places, float16 (onnxconverter-common's
float16 conversion and onnx.helper), bfloat16, com.microsoft ``DynamicQuantizeLSTM``
(onnx.helper), and cell loops that exporters unroll into Gemm/MatMul nodes (torch.onnx.export
of LSTMCell / GRUCell / RNNCell loops, dynamo on and off).

Every node lstmcalc lists is run in onnxruntime (the whole model fed through the branch or
body that holds it, or the node's part cut out with onnx.utils.extract_model) and compared
with lstmcalc's forward pass on the weights lstmcalc read (float32, 1e-5), and with what
``convert`` writes. Random weights and biases, different per gate and per bias half."""

from __future__ import annotations

import json
import logging
import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from _onnx import random_tensors, run_ort  # noqa: E402

import lstmcalc  # noqa: E402
from lstmcalc.cli import app  # noqa: E402
from lstmcalc.readers.onnx import read_onnx, read_onnx_model  # noqa: E402
from lstmcalc.readers import read_layer, read_layers  # noqa: E402

H, X, T, B = 3, 2, 5, 4
ATOL = RTOL = 1e-5  # float32 against onnxruntime's float32 kernels


from helpers import invoke  # noqa: E402  (CliRunner, arguments as strings)


def _forward(found, x_tm):
    """lstmcalc's forward pass on a layer read from a file; x_tm (T, B, X) as the node takes it."""
    s = found.spec
    kw = {"cell": s.cell, "framework": "onnx", "bidirectional": s.bidirectional, "layers": s.layers}
    if s.cell == "gru":
        kw["reset_after"] = s.reset_after
    if s.cell == "rnn":
        kw["activation"] = s.activation
    return lstmcalc.forward(x_tm.swapaxes(0, 1), {k: v.astype("float32") for k, v in found.weights.items()}, **kw)


def _value(name, elem=TensorProto.FLOAT, shape=None):
    """A typed value; without ``shape``, a rank the checker accepts with every dim unnamed."""
    return helper.make_tensor_value_info(name, elem, shape if shape is not None else ["?"] * 3)


def _model(graph, opset=14, extra=()):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset), *extra])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _save(model, path):
    path.write_bytes(model.SerializeToString())
    return path


# --- If branches, Loop bodies, one weight set in several places --------------------------------


def _branch_model(rng, *, shared: bool):
    """X [T, B, X] and a bool ``pick``: If 'pick' runs an LSTM ('lstm_a', weights from the
    main graph's initializers) in then_branch, and in else_branch a bidirectional GRU
    ('gru_b', its own initializers) or, with ``shared``, an LSTM ('lstm_copy') on its own
    copy of the same LSTM weights; a Loop 'steps' (one trip) runs an LSTM ('lstm_loop') on
    the main graph's LSTM weights. Returns the model and the tensors."""
    lstm = random_tensors(rng, "LSTM", H, X, 1)
    gru = random_tensors(rng, "GRU", H, X, 2)
    outer = [numpy_helper.from_array(a, f"lstm/{k}") for k, a in lstm.items()]
    then = helper.make_graph([helper.make_node("LSTM", ["X", "lstm/W", "lstm/R", "lstm/B"], ["Y_then"],
                                               hidden_size=H, name="lstm_a")],
                             "then", [], [_value("Y_then", shape=[T, 1, B, H])])
    if shared:
        local = [numpy_helper.from_array(a, f"copy/{k}") for k, a in lstm.items()]
        node = helper.make_node("LSTM", ["X", "copy/W", "copy/R", "copy/B"], ["Y_else"], hidden_size=H,
                                name="lstm_copy")
    else:
        local = [numpy_helper.from_array(a, f"gru/{k}") for k, a in gru.items()]
        node = helper.make_node("GRU", ["X", "gru/W", "gru/R", "gru/B"], ["Y_else"], hidden_size=H,
                                direction="bidirectional", linear_before_reset=1, name="gru_b")
    other = helper.make_graph([node], "else", [], [_value("Y_else", shape=[T, 1 if shared else 2, B, H])], local)
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("LSTM", ["X", "lstm/W", "lstm/R", "lstm/B", "", "h_in"], ["Y_body", "h_out"],
                          hidden_size=H, name="lstm_loop")],
        "body", [_value("i", TensorProto.INT64, []), _value("cond_in", TensorProto.BOOL, []),
                 _value("h_in", TensorProto.FLOAT, [1, B, H])],
        [_value("cond_out", TensorProto.BOOL, []), _value("h_out", TensorProto.FLOAT, [1, B, H])])
    nodes = [helper.make_node("If", ["pick"], ["Y"], then_branch=then, else_branch=other, name="pick"),
             helper.make_node("Loop", ["trips", "", "h0"], ["h_loop"], body=body, name="steps")]
    consts = [numpy_helper.from_array(np.array(1, "int64"), "trips"),
              numpy_helper.from_array(np.zeros((1, B, H), "float32"), "h0")]
    graph = helper.make_graph(nodes, "branches", [_value("X", shape=[T, B, X]), _value("pick", TensorProto.BOOL, [])],
                              [_value("Y", shape=[T, "D", B, H]), _value("h_loop", shape=[1, B, H])], outer + consts)
    return _model(graph), lstm, gru


def test_nodes_in_if_branches_and_loop_bodies_are_listed_with_their_place(tmp_path):
    model, lstm, gru = _branch_model(np.random.default_rng(1), shared=False)
    path = _save(model, tmp_path / "branches.onnx")
    nodes = read_onnx(path)
    assert [n.key for n in nodes] == ["pick/then_branch/lstm_a", "pick/else_branch/gru_b", "steps/body/lstm_loop"]
    assert [n.where for n in nodes] == [("If 'pick' then_branch",), ("If 'pick' else_branch",), ("Loop 'steps' body",)]
    assert [n.location for n in nodes] == ["node 0 in If 'pick' then_branch", "node 0 in If 'pick' else_branch",
                                           "node 1 in Loop 'steps' body"]
    assert nodes[2].inputs["initial_h"].source == "graph input"  # the body's own input, fed by the Loop
    np.testing.assert_array_equal(nodes[0].array("W"), lstm["W"])  # an initializer of the enclosing graph
    np.testing.assert_array_equal(nodes[1].array("R"), gru["R"])  # the branch's own initializer
    # lstm_a and lstm_loop: the same weights and attributes, so one layer with two places
    found = read_layers(path)
    assert [f.name for f in found] == ["pick/then_branch/lstm_a", "pick/else_branch/gru_b"]
    places = [p["name"] for p in found[0].attributes["places"]]
    assert places == ["pick/then_branch/lstm_a", "steps/body/lstm_loop"]
    assert found[0].attributes["notes"] == [
        "the same weights and attributes in 2 places, listed once: pick/then_branch/lstm_a (node 0 in If 'pick' "
        "then_branch), steps/body/lstm_loop (node 1 in Loop 'steps' body)"]
    assert found[0].total == 4 * H * (X + H) + 8 * H and found[1].total == 2 * (3 * H * (X + H) + 6 * H)


def test_every_listed_node_runs_to_onnxruntime_through_its_branch(tmp_path):
    """lstmcalc's forward pass on each layer equals onnxruntime running the whole model with
    the If condition that selects the node's branch (and the Loop for its body)."""
    rng = np.random.default_rng(2)
    model, _, _ = _branch_model(rng, shared=False)
    path = _save(model, tmp_path / "branches.onnx")
    x = rng.uniform(-2, 2, (T, B, X)).astype("float32")
    y_then, h_loop = run_ort(model, {"X": x, "pick": np.array(True)})
    y_else, _ = run_ort(model, {"X": x, "pick": np.array(False)})
    for layer, want_y in (("lstm_a", y_then), ("gru_b", y_else), ("lstm_loop", None)):
        found = read_layer(path, layer)
        got = _forward(found, x)
        if want_y is not None:
            assert got.output.shape == want_y.shape
            np.testing.assert_allclose(got.output, want_y, rtol=RTOL, atol=ATOL)
        else:
            np.testing.assert_allclose(got.h, h_loop, rtol=RTOL, atol=ATOL)
    assert read_layer(path, "steps/body/lstm_loop").name == "pick/then_branch/lstm_a"  # a place of the shared layer


@pytest.mark.parametrize("layer, pick", [("pick/then_branch/lstm_a", True), ("gru_b", False)])
def test_cli_convert_and_run_each_branch_node_equal_onnxruntime(layer, pick, tmp_path):
    """convert --layer to PyTorch tensors: run on them, and onnxruntime on the .onnx model
    convert writes from them, both equal onnxruntime on the original model's branch."""
    rng = np.random.default_rng(3)
    model, _, _ = _branch_model(rng, shared=False)
    path = _save(model, tmp_path / "branches.onnx")
    x = rng.uniform(-2, 2, (T, B, X)).astype("float32")
    (want,) = run_ort(model, {"X": x, "pick": np.array(pick)})[:1]
    r = invoke("convert", path, "--layer", layer, "--to", "torch", "-o", tmp_path / "w.npz")
    assert r.exit_code == 0, r.stderr
    r = invoke("convert", tmp_path / "w.npz", "-o", tmp_path / "node.onnx")  # and back, as a runnable model
    assert r.exit_code == 0, r.stderr
    np.testing.assert_allclose(run_ort(tmp_path / "node.onnx", {"X": x})[0], want, rtol=RTOL, atol=ATOL)
    np.save(tmp_path / "x.npy", x.swapaxes(0, 1))
    cell = "lstm" if pick else "gru"
    args = ["run", "--framework", "torch", "--cell", cell, "--weights", tmp_path / "w.npz", "--inputs",
            tmp_path / "x.npy", "--save", tmp_path / "out.npz"] + ([] if pick else ["--bidirectional"])
    r = invoke(*args)
    assert r.exit_code == 0, r.stderr
    out = np.load(tmp_path / "out.npz")["output"]  # (B, T, D·H) as run returns it; the node's Y is (T, D, B, H)
    np.testing.assert_allclose(out, want.transpose(2, 0, 1, 3).reshape(B, T, -1), rtol=RTOL, atol=ATOL)



@pytest.mark.parametrize("layer, pick", [("lstm_a", True), ("pick/else_branch/gru_b", False)])
def test_cli_run_weights_onnx_layer_equals_onnxruntime(layer, pick, tmp_path):
    """run --weights model.onnx --layer NAME runs the node inspect lists, read by the same
    reader (issue 21: one path for weights), and saves the node's own Y [T, D, B, H]."""
    rng = np.random.default_rng(5)
    model, _, _ = _branch_model(rng, shared=False)
    path = _save(model, tmp_path / "branches.onnx")
    x = rng.uniform(-2, 2, (T, B, X)).astype("float32")
    (want,) = run_ort(model, {"X": x, "pick": np.array(pick)})[:1]
    np.save(tmp_path / "x.npy", x.swapaxes(0, 1))  # run takes (B, T, X) whatever the layout
    r = invoke("run", "--weights", path, "--layer", layer, "--inputs", tmp_path / "x.npy",
               "--save", tmp_path / "out.npz", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["config"]["framework"] == "onnx"
    np.testing.assert_allclose(np.load(tmp_path / "out.npz")["Y"], want, rtol=RTOL, atol=ATOL)
    r = invoke("run", "--weights", path, "--inputs", tmp_path / "x.npy")  # several nodes: --layer is asked for
    assert r.exit_code == 1 and r.stdout == "" and "choose one with --layer" in r.stderr

def test_inspect_json_lists_branch_nodes_and_shared_places(tmp_path):
    model, lstm, _ = _branch_model(np.random.default_rng(4), shared=True)
    path = _save(model, tmp_path / "shared.onnx")
    r = invoke("inspect", path, "--json")
    assert r.exit_code == 0, r.stderr
    (layer,) = json.loads(r.stdout)["layers"]  # three nodes, one weight set
    assert layer["name"] == "pick/then_branch/lstm_a" and layer["location"] == "node 0 in If 'pick' then_branch"
    assert [p["name"] for p in layer["attributes"]["places"]] == [
        "pick/then_branch/lstm_a", "pick/else_branch/lstm_copy", "steps/body/lstm_loop"]
    assert layer["attributes"]["where"] == ["If 'pick' then_branch"]
    assert layer["total"] == sum(a.size for a in lstm.values())
    r = invoke("inspect", path)
    assert r.exit_code == 0 and "the same weights and attributes in 3 places" in " ".join(r.stdout.split())


# --- weights computed from initializers: torch.onnx.export without constant folding ------------


def _torch_export(module, x, path, **kwargs):
    torch = pytest.importorskip("torch")
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(module, (torch.from_numpy(x),), str(path), **kwargs)
    finally:
        logging.disable(logging.NOTSET)


def _node_through_extract(path, node, x, tmp_path):
    """onnxruntime on the part of the model between the node's X and its Y (the weights'
    computation included): onnx.utils.extract_model."""
    cut = tmp_path / f"cut_{node.index}.onnx"
    onnx.utils.extract_model(str(path), str(cut), [node.inputs["X"].name], [node.outputs[0]])
    return run_ort(cut, {node.inputs["X"].name: x})[0]


@pytest.mark.parametrize("opset", [9, 11, 20])
@pytest.mark.parametrize("cell", ["LSTM", "GRU", "RNN"])
def test_legacy_export_without_folding_is_evaluated_and_runs_to_onnxruntime(cell, opset, tmp_path):
    """torch.onnx.export(dynamo=False, do_constant_folding=False) writes W, R, B as Slice /
    Concat / Unsqueeze of the parameters: lstmcalc evaluates them with onnx's reference
    evaluator, gets exactly the initializers the folded export writes, says how they were
    computed, and each node's forward pass equals onnxruntime on the node's part of the graph."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(opset)
    m = getattr(torch.nn, cell)(X, H, num_layers=2, bidirectional=True).eval()
    x = np.random.default_rng(opset).uniform(-2, 2, (T, B, X)).astype("float32")
    raw, folded = tmp_path / "raw.onnx", tmp_path / "folded.onnx"
    _torch_export(m, x, raw, dynamo=False, opset_version=opset, do_constant_folding=False)
    _torch_export(m, x, folded, dynamo=False, opset_version=opset, do_constant_folding=True)
    assert read_onnx_model(raw).opset == opset
    nodes = read_onnx(raw)
    assert len(nodes) == 2
    for node, want in zip(nodes, read_onnx(folded)):
        for slot in ("W", "R", "B"):
            assert node.inputs[slot].source == "computed from constants"
            assert want.inputs[slot].source == "initializer"
            np.testing.assert_array_equal(node.array(slot), want.array(slot))
        assert {"Slice", "Concat"} <= set(node.inputs["W"].ops) or cell == "RNN"
    found = read_layers(raw)
    for node, f in zip(nodes, found):
        for slot in ("W", "R", "B"):  # one note per set of op types, naming its slots
            ops = ", ".join(node.inputs[slot].ops)
            assert any(n.split(" computed")[0].split(", ").count(slot) == 1 and
                       n.endswith(f"computed from initializers by {ops} (evaluated with "
                                  "onnx.reference.ReferenceEvaluator)") for n in f.attributes["notes"])
        x_node = x if node.index == nodes[0].index else \
            np.random.default_rng(1).uniform(-1, 1, (T, B, 2 * H)).astype("float32")
        want_y = _node_through_extract(raw, node, x_node, tmp_path)
        np.testing.assert_allclose(_forward(f, x_node).output, want_y, rtol=RTOL, atol=ATOL)


def test_cli_inspect_says_the_weights_are_computed(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    m = torch.nn.LSTM(X, H).eval()
    path = tmp_path / "raw.onnx"
    _torch_export(m, np.zeros((T, B, X), "float32"), path, dynamo=False, opset_version=11, do_constant_folding=False)
    r = invoke("inspect", path)
    assert r.exit_code == 0, r.stderr
    text = " ".join(r.stdout.split())
    ops = ", ".join(read_onnx(path)[0].inputs["W"].ops)
    assert f"W, R, B computed from initializers by {ops}" in text
    r = invoke("convert", path, "--to", "torch", "-o", tmp_path / "t.npz")
    assert r.exit_code == 0, r.stderr
    sd = np.load(tmp_path / "t.npz")
    for name, p in m.state_dict().items():
        np.testing.assert_array_equal(sd[name], p.numpy())


@pytest.mark.parametrize("exporter", [{"dynamo": False, "opset_version": 9}, {"dynamo": False},
                                      {"dynamo": True, "opset_version": 18}, {"dynamo": True}],
                         ids=["legacy-9", "legacy-default", "dynamo-18", "dynamo-default"])
@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_torch_export_every_node_runs_to_onnxruntime(cell, exporter, tmp_path):
    """nn.LSTM / nn.GRU (2 layers, bidirectional) through both exporters: every node listed
    runs in lstmcalc to onnxruntime on the node's part of the graph."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(7)
    m = getattr(torch.nn, cell)(X, H, num_layers=2, bidirectional=True).eval()
    x = np.random.default_rng(7).uniform(-2, 2, (T, B, X)).astype("float32")
    path = tmp_path / "m.onnx"
    _torch_export(m, x, path, **exporter)
    nodes = read_onnx(path)
    found = read_layers(path)
    assert len(nodes) == len(found) == 2
    for node, f in zip(nodes, found):
        x_node = x if node.inputs["X"].source == "graph input" else \
            np.random.default_rng(node.index).uniform(-1, 1, (T, B, 2 * H)).astype("float32")
        np.testing.assert_allclose(_forward(f, x_node).output, _node_through_extract(path, node, x_node, tmp_path),
                                   rtol=RTOL, atol=ATOL)


# --- cells unrolled by the exporter ---------------------------------------------------------------


@pytest.mark.parametrize("exporter", [{"dynamo": False, "opset_version": 9}, {"dynamo": False, "opset_version": 11},
                                      {"dynamo": False}, {"dynamo": True}],
                         ids=["legacy-9", "legacy-11", "legacy-default", "dynamo-default"])
@pytest.mark.parametrize("cell", ["LSTMCell", "GRUCell", "RNNCell"])
def test_exported_cell_loop_is_described_as_unrolled(cell, exporter, tmp_path):
    """torch.onnx.export of a loop over nn.LSTMCell / GRUCell / RNNCell writes no recurrent
    node: one or two Gemm per step and the activations. inspect says so, with the counts
    the file has (counted here with onnx), and never "no recurrent layer"."""
    torch = pytest.importorskip("torch")

    class Loop(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.cell = getattr(torch.nn, cell)(X, H)

        def forward(self, x):
            h = torch.zeros(x.shape[1], H)
            c = torch.zeros(x.shape[1], H)
            ys = []
            for t in range(x.shape[0]):
                if cell == "LSTMCell":
                    h, c = self.cell(x[t], (h, c))
                else:
                    h = self.cell(x[t], h)
                ys.append(h)
            return torch.stack(ys)

    path = tmp_path / "loop.onnx"
    _torch_export(Loop().eval(), np.zeros((T, B, X), "float32"), path, **exporter)
    ops = [n.op_type for n in onnx.load(str(path)).graph.node]
    matmul = ops.count("Gemm") + ops.count("MatMul")
    assert matmul >= T  # at least one per step
    acts = " and ".join(f"{ops.count(k)} {k}" for k in ("Sigmoid", "Tanh", "Relu") if ops.count(k))
    r = invoke("inspect", path)
    assert r.exit_code == 1 and r.stdout == "" and r.stderr.count("\n") == 1
    assert f"no LSTM/GRU/RNN node; the cell is unrolled into {matmul} MatMul/Gemm nodes with {acts} nodes" \
        in r.stderr
    assert "no recurrent layer" not in r.stderr


# --- float16 and bfloat16 -------------------------------------------------------------------------


def test_float16_conversion_is_read_counted_and_runs(tmp_path):
    """onnxconverter-common's float16 conversion (keep_io_types) of an exported nn.LSTM: the
    LSTM node takes float16 initializers. lstmcalc reads the float16 values exactly, counts
    them, says it computes in float32; its forward pass equals onnxruntime on a float32 node
    with the same values (1e-5), and onnxruntime's float16 node within float16's precision
    (3e-3: float16 keeps 11 bits, 4.9e-4 relative per rounding, over T = 5 steps)."""
    torch = pytest.importorskip("torch")
    float16 = pytest.importorskip("onnxconverter_common.float16")
    torch.manual_seed(5)
    m = torch.nn.LSTM(X, H).eval()
    x = np.random.default_rng(5).uniform(-2, 2, (T, B, X)).astype("float32")
    path32, path16 = tmp_path / "m32.onnx", tmp_path / "m16.onnx"
    _torch_export(m, x, path32, dynamo=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onnx.save(float16.convert_float_to_float16(onnx.load(str(path32)), keep_io_types=True), str(path16))
    stored = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path16)).graph.initializer}
    (node,) = read_onnx(path16)
    for slot in ("W", "R", "B"):
        value = node.inputs[slot]
        assert value.stored == ("FLOAT16",) and value.source == "initializer" and value.array.dtype == np.float16
        np.testing.assert_array_equal(value.array, stored[value.name])
    (found,) = read_layers(path16)
    assert all(a.dtype == np.float32 for a in found.weights.values())
    for slot in ("W", "R", "B"):
        np.testing.assert_array_equal(found.weights[slot], stored[node.inputs[slot].name].astype("float32"))
    n = 4 * H * X + 4 * H * H + 8 * H
    assert found.total == n
    assert f"W, R, B stored as float16 ({n:,} values, {2 * n:,} bytes); lstmcalc computes in float32 " \
        "(each value widened exactly)" in found.attributes["notes"]
    got = _forward(found, x).output  # (T, 1, B, H)
    lstm = helper.make_node("LSTM", ["X", "W", "R", "B"], ["Y"], hidden_size=H)
    graph = helper.make_graph([lstm], "g", [_value("X", shape=[T, B, X])], [_value("Y", shape=[T, 1, B, H])],
                              [numpy_helper.from_array(found.weights[k], k) for k in ("W", "R", "B")])
    np.testing.assert_allclose(got, run_ort(_model(graph), {"X": x})[0], rtol=RTOL, atol=ATOL)
    # onnxruntime on the float16 model itself (its output is Y squeezed to (T, B, H))
    np.testing.assert_allclose(got[:, 0], run_ort(path16, {"input": x})[0], rtol=0, atol=3e-3)


@pytest.mark.parametrize("narrow", ["float16", "bfloat16"])
def test_narrow_initializers_cast_to_float32_are_widened_exactly(narrow, tmp_path):
    """float16 / bfloat16 W, R, B Cast to float32 before a GRU node (onnx.helper): read
    exactly through the Cast, counted, said, and the node runs to onnxruntime."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    rng = np.random.default_rng(6)
    t = random_tensors(rng, "GRU", H, X, 1)
    small = {k: a.astype(np.float16 if narrow == "float16" else ml_dtypes.bfloat16) for k, a in t.items()}
    inits = [numpy_helper.from_array(a, f"{k}_{narrow}") for k, a in small.items()]
    casts = [helper.make_node("Cast", [f"{k}_{narrow}"], [k], to=TensorProto.FLOAT, name=f"cast_{k}") for k in small]
    gru = helper.make_node("GRU", ["X", "W", "R", "B"], ["Y"], hidden_size=H, linear_before_reset=1, name="gru")
    graph = helper.make_graph(casts + [gru], "g", [_value("X", shape=[T, B, X])], [_value("Y", shape=[T, 1, B, H])],
                              inits)
    model = _model(graph, opset=22)
    path = _save(model, tmp_path / f"{narrow}.onnx")
    (found,) = read_layers(path)
    for k, a in small.items():
        np.testing.assert_array_equal(found.weights[k], a.astype("float32"))
    n = sum(a.size for a in small.values())
    assert found.attributes["notes"] == [
        "W, R, B computed from initializers by Cast (evaluated with onnx.reference.ReferenceEvaluator)",
        f"W, R, B stored as {narrow} ({n:,} values, {2 * n:,} bytes); lstmcalc computes in float32 "
        "(each value widened exactly)"]
    x = rng.uniform(-2, 2, (T, B, X)).astype("float32")
    np.testing.assert_allclose(_forward(found, x).output, run_ort(model, {"X": x})[0], rtol=RTOL, atol=ATOL)


# --- com.microsoft DynamicQuantizeLSTM ---------------------------------------------------------


def _quantize(a, per_row):
    """a [D, 4H, K] float -> int8 [D, K, 4H], scale and zero point (random zero points, so
    that (q - zero_point) is exercised), per direction or per row of a."""
    rng = np.random.default_rng(9)
    at = a.transpose(0, 2, 1)  # (D, K, 4H)
    shape = (a.shape[0], a.shape[1]) if per_row else (a.shape[0],)
    zero = rng.integers(-5, 6, shape).astype("int8")
    span = np.abs(at).max(axis=1) if per_row else np.abs(at).max(axis=(1, 2))
    scale = (span / 120).astype("float32")
    s = scale[:, None, :] if per_row else scale[:, None, None]
    z = zero[:, None, :] if per_row else zero[:, None, None]
    q = np.clip(np.round(at / s) + z, -128, 127).astype("int8")
    return q, scale, zero


def _dequantize_lstm_model(rng, per_row):
    t = random_tensors(rng, "LSTM", H, X, 1)
    Wq, Ws, Wz = _quantize(t["W"], per_row)
    Rq, Rs, Rz = _quantize(t["R"], per_row)
    tensors = {"W": Wq, "R": Rq, "B": t["B"], "W_scale": Ws, "W_zero_point": Wz, "R_scale": Rs, "R_zero_point": Rz}
    node = helper.make_node("DynamicQuantizeLSTM", ["X", "W", "R", "B", "", "", "", "", "W_scale", "W_zero_point",
                                                    "R_scale", "R_zero_point"], ["Y", "Y_h", "Y_c"],
                            domain="com.microsoft", hidden_size=H, name="qlstm")
    graph = helper.make_graph([node], "g", [_value("X", shape=[T, B, X])], [_value("Y"), _value("Y_h"), _value("Y_c")],
                              [numpy_helper.from_array(a, k) for k, a in tensors.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    return model, tensors


@pytest.mark.parametrize("per_row", [False, True], ids=["per-direction", "per-row"])
def test_dynamic_quantize_lstm_is_recognised_counted_and_refused_to_run(per_row, tmp_path):
    rng = np.random.default_rng(10)
    model, q = _dequantize_lstm_model(rng, per_row)
    path = _save(model, tmp_path / "q.onnx")
    (node,) = read_onnx(path)
    assert node.op_type == "LSTM" and node.operator == "com.microsoft DynamicQuantizeLSTM"
    (found,) = read_layers(path)
    # dequantized here, independently: (q - zero_point) · scale, [D, K, 4H] -> [D, 4H, K]
    for slot in ("W", "R"):
        s, z = q[f"{slot}_scale"], q[f"{slot}_zero_point"].astype("float32")
        s, z = (s[:, None, :], z[:, None, :]) if per_row else (s[:, None, None], z[:, None, None])
        np.testing.assert_allclose(found.weights[slot], ((q[slot] - z) * s).transpose(0, 2, 1), rtol=1e-7, atol=0)
    np.testing.assert_array_equal(found.weights["B"], q["B"])
    assert found.total == 4 * H * X + 4 * H * H + 8 * H  # one number per weight, as a float layer
    k = 4 * H if per_row else 1
    assert found.attributes["quantization"] == {
        "W": {"dtype": "int8", "count": 4 * H * X, "scales": k, "zero_points": k, "per": "row" if per_row else "direction"},
        "R": {"dtype": "int8", "count": 4 * H * H, "scales": k, "zero_points": k, "per": "row" if per_row else "direction"},
    }
    stored = sum(a.size for a in q.values())
    assert any(f"{stored:,} stored numbers in all" in n for n in found.attributes["notes"])
    # inspect shows it; run and convert refuse it, saying why
    r = invoke("inspect", path)
    assert r.exit_code == 0, r.stderr
    assert "com.microsoft DynamicQuantizeLSTM: onnxruntime multiplies in integers" in " ".join(r.stdout.split())
    r = invoke("convert", path, "--to", "torch", "-o", tmp_path / "t.npz")
    assert r.exit_code == 1 and r.stdout == "" and r.stderr.count("\n") == 1
    assert "com.microsoft DynamicQuantizeLSTM: onnxruntime multiplies in integers, quantizing its inputs at run " \
        "time, so its outputs differ from the float LSTM on the dequantized weights" in r.stderr
    assert not (tmp_path / "t.npz").exists()


def test_dynamic_quantize_lstm_in_onnxruntime_is_not_the_float_lstm_of_its_weights(tmp_path):
    """Why run refuses it: onnxruntime's DynamicQuantizeLSTM differs from the float LSTM on
    the same dequantized weights (what lstmcalc would compute) by far more than float32
    rounding (measured 2e-3 to 6e-3 here); the float LSTM itself equals lstmcalc to 1e-5."""
    rng = np.random.default_rng(11)
    model, _ = _dequantize_lstm_model(rng, per_row=False)
    path = _save(model, tmp_path / "q.onnx")
    x = rng.uniform(-2, 2, (T, B, X)).astype("float32")
    quantized = run_ort(model, {"X": x})
    (found,) = read_layers(path)
    lstm = helper.make_node("LSTM", ["X", "W", "R", "B"], ["Y", "Y_h", "Y_c"], hidden_size=H)
    graph = helper.make_graph([lstm], "g", [_value("X", shape=[T, B, X])], [_value("Y"), _value("Y_h"), _value("Y_c")],
                              [numpy_helper.from_array(a.astype("float32"), k) for k, a in found.weights.items()])
    floating = run_ort(_model(graph), {"X": x})
    np.testing.assert_allclose(_forward(found, x).output, floating[0], rtol=RTOL, atol=ATOL)
    assert np.abs(quantized[0] - floating[0]).max() > 1e-4


# --- what cannot be evaluated is named --------------------------------------------------------


def test_weights_depending_on_a_branch_input_are_refused_naming_it(tmp_path):
    """A Loop body whose W is the body's own input times a constant: not in the file."""
    rng = np.random.default_rng(12)
    t = random_tensors(rng, "RNN", H, X, 1)
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Mul", ["w_in", "two"], ["W"], name="scale"),
         helper.make_node("RNN", ["X", "W", "R"], ["Y", "h"], hidden_size=H, name="rnn"),
         helper.make_node("Identity", ["w_in"], ["w_out"])],
        "body", [_value("i", TensorProto.INT64, []), _value("cond_in", TensorProto.BOOL, []),
                 _value("w_in", TensorProto.FLOAT, [1, H, X])],
        [_value("cond_out", TensorProto.BOOL, []), _value("w_out", TensorProto.FLOAT, [1, H, X])])
    loop = helper.make_node("Loop", ["trips", "", "W0"], ["w_last"], body=body, name="steps")
    inits = [numpy_helper.from_array(t["W"], "W0"), numpy_helper.from_array(t["R"], "R"),
             numpy_helper.from_array(np.array(2, "int64"), "trips"), numpy_helper.from_array(np.float32(2), "two")]
    graph = helper.make_graph([loop], "g", [_value("X", shape=[T, B, X])], [_value("w_last")], inits)
    path = _save(_model(graph), tmp_path / "loop.onnx")
    (node,) = read_onnx(path)
    assert node.inputs["W"].source == "computed" and node.inputs["W"].reason == \
        "'w_in' is an input of Loop 'steps' body, fed at run time"
    r = invoke("inspect", path)
    assert r.exit_code == 1 and r.stderr.count("\n") == 1
    assert ("RNN node 'rnn' in Loop 'steps' body: W ('W') is not a constant in the file (it is computed by Mul "
            "'scale'; 'w_in' is an input of Loop 'steps' body, fed at run time)") in r.stderr
