"""ONNX ``direction="reverse"`` (one direction, run from t = T−1 down to 0) and ONNX weights
run through ``run`` / ``forward`` / ``read_layer`` (issue 23, items 1 and 2), against
onnxruntime, the ONNX project's own reference (``onnx.reference``) and its backend node tests
(``onnx.backend.test.case.node``: ``test_lstm_reverse``, ``test_gru_reverse``,
``test_simple_rnn_reverse``), and the NumPy reference of the operator (tests/crosscheck/_onnx.py).

Random weights and biases everywhere (each gate and each bias half differs), except the
ONNX project's own node tests, which are taken as they ship. float32 against onnxruntime:
rtol = atol = 1e-5; float64 against the NumPy reference: 1e-12.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
os.environ.setdefault("KERAS_BACKEND", "torch")

from typer.testing import CliRunner  # noqa: E402

from _onnx import onnx_reference, ort_session, random_tensors, run_ort, single_node_model, stacked_reference  # noqa: E402

import lstmcalc  # noqa: E402
from lstmcalc.cells import layer_of  # noqa: E402
from lstmcalc.cli import app  # noqa: E402
from lstmcalc.converting import convert_weights  # noqa: E402
from lstmcalc.errors import FileError  # noqa: E402
from lstmcalc.readers.onnx import write_onnx_model  # noqa: E402
from lstmcalc.readers import read_layer  # noqa: E402
from lstmcalc.spec import SpecError  # noqa: E402

OPS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
H, X, B, T = 3, 2, 4, 5
F32 = dict(rtol=1e-5, atol=1e-5)
F64 = dict(rtol=1e-12, atol=1e-12)
EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")


def _cli(capsys, *args) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``lstmcalc *args``, in this process."""
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "100"})
    return result.exit_code, result.stdout, result.stderr


def _weights(rng, cell, layers=1, D=1, *, peepholes=False, dtype="float64"):
    out = {}
    for k in range(layers):
        t = random_tensors(rng, OPS[cell], H, X if k == 0 else D * H, D, peepholes=peepholes, dtype=dtype)
        out.update({n if layers == 1 else f"layer{k}/{n}": a for n, a in t.items()})
    return out


def _per_layer(weights, layers):
    if layers == 1:
        return [dict(weights)]
    return [{n.split("/")[1]: a for n, a in weights.items() if n.startswith(f"layer{k}/")} for k in range(layers)]


def _variants():
    for cell in OPS:
        for layers in (1, 2):
            extra = ([{"peepholes": False}, {"peepholes": True}] if cell == "lstm" else
                     [{"lbr": 0}, {"lbr": 1}] if cell == "gru" else [{"act": "tanh"}, {"act": "relu"}])
            for e in extra:
                yield {"cell": cell, "layers": layers, **e}


VARIANTS = list(_variants())


def _attrs(c) -> dict:
    attrs = {"direction": "reverse"}
    if c["cell"] == "gru":
        attrs["linear_before_reset"] = c["lbr"]
    if c.get("act") == "relu":
        attrs["activations"] = ["Relu"]
    return attrs


def _keywords(c) -> dict:
    kw = {"cell": c["cell"], "framework": "onnx", "layers": c["layers"], "direction": "reverse"}
    if c["cell"] == "gru":
        kw["reset_after"] = bool(c["lbr"])
    if c["cell"] == "rnn":
        kw["activation"] = c["act"]
    if c["cell"] == "lstm":
        kw["peepholes"] = c["peepholes"]
    return kw


# --- 1. forward / prepare: reverse equals onnxruntime and the references ------------------------


@pytest.mark.parametrize("c", VARIANTS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_reverse_forward_equals_reference_float64_and_onnxruntime_float32(c, tmp_path):
    rng = np.random.default_rng(23 + VARIANTS.index(c))
    weights = _weights(rng, c["cell"], c["layers"], peepholes=c.get("peepholes", False))
    x_tm = rng.uniform(-2, 2, (T, B, X))  # the node's X, layout 0
    want = stacked_reference(OPS[c["cell"]], x_tm, _per_layer(weights, c["layers"]), **_attrs(c))

    got = lstmcalc.forward(x_tm.swapaxes(0, 1), weights, **_keywords(c))
    assert got.output.shape == (T, 1, B, H) and got.h.shape == (c["layers"], B, H)
    np.testing.assert_allclose(got.output, want[0], **F64)
    np.testing.assert_allclose(got.h, want[1], **F64)
    if c["cell"] == "lstm":
        np.testing.assert_allclose(got.c, want[2], **F64)
    # not the forward node: the same weights run forward give other outputs
    forward = {k: v for k, v in _keywords(c).items() if k != "direction"}
    assert np.abs(lstmcalc.forward(x_tm.swapaxes(0, 1), weights, **forward).output - want[0]).max() > 1e-3

    w32 = {k: v.astype("float32") for k, v in weights.items()}
    attrs = {k: v for k, v in _attrs(c).items() if k != "direction"}
    if c["layers"] == 1:  # built by the test harness, independent of lstmcalc's writer
        model = single_node_model(OPS[c["cell"]], w32, input_size=X, hidden_size=H, direction="reverse",
                                  attrs=attrs)
    else:
        model = tmp_path / "m.onnx"
        write_onnx_model(model, _per_layer(w32, c["layers"]), cell=c["cell"], hidden_size=H, input_size=X,
                         direction="reverse", linear_before_reset=c.get("lbr", 0),
                         activations=attrs.get("activations"))
    ort = run_ort(model, {"X": x_tm.astype("float32")})
    layer = lstmcalc.prepare(w32, **_keywords(c))  # prepare equals forward
    got32 = layer(x_tm.swapaxes(0, 1).astype("float32"))
    for mine, theirs in zip((got32.output, got32.h, got32.c), ort):
        np.testing.assert_allclose(mine, theirs, **F32)


def test_reverse_equals_onnx_reference_evaluator_and_layout_1():
    """onnx.reference (the ONNX project's own evaluator) on a reverse node, and layout 1
    (onnxruntime runs only layout 0: the NumPy reference of the spec there)."""
    from onnx.reference import ReferenceEvaluator

    rng = np.random.default_rng(7)
    for cell in OPS:
        w = _weights(rng, cell, peepholes=cell == "lstm", dtype="float32")
        attrs = {"linear_before_reset": 1} if cell == "gru" else None
        model = single_node_model(OPS[cell], w, input_size=X, hidden_size=H, direction="reverse", attrs=attrs)
        x_tm = rng.uniform(-2, 2, (T, B, X)).astype("float32")
        want = ReferenceEvaluator(model).run(None, {"X": x_tm})
        got = lstmcalc.forward(x_tm.swapaxes(0, 1), w, cell=cell, framework="onnx", direction="reverse")
        for mine, theirs in zip((got.output, got.h, got.c), want):
            np.testing.assert_allclose(mine, theirs, **F32)

        w64 = {k: v.astype("float64") for k, v in w.items()}
        x_bm = rng.uniform(-2, 2, (B, T, X))  # layout 1: X [B, T, X]
        ref = onnx_reference(OPS[cell], x_bm, **w64, direction="reverse", layout=1,
                             linear_before_reset=1 if cell == "gru" else 0)
        one = lstmcalc.forward(x_bm, w64, cell=cell, framework="onnx", direction="reverse", layout=1)
        assert one.output.shape == (B, T, 1, H) and one.h.shape == (B, 1, H)
        for mine, theirs in zip((one.output, one.h, one.c), ref):
            np.testing.assert_allclose(mine, theirs, **F64)


@pytest.mark.parametrize("op, case", [("lstm", "LSTM"), ("gru", "GRU"), ("rnn", "RNN")])
def test_onnx_backend_reverse_node_tests(op, case, monkeypatch):
    """The ONNX project's own ``test_*_reverse`` node tests (onnx.backend.test.case.node), as
    they ship: their node, inputs and expected outputs, through lstmcalc.forward."""
    import importlib

    module = importlib.import_module(f"onnx.backend.test.case.node.{op}")
    captured = []
    monkeypatch.setattr(module, "expect", lambda node, inputs, outputs, name, **kw: captured.append(
        (node, inputs, outputs, name)))
    getattr(module, case).export_reverse()
    ((node, inputs, outputs, name),) = captured
    assert name in ("test_lstm_reverse", "test_gru_reverse", "test_simple_rnn_reverse")
    attrs = {a.name: a for a in node.attribute}
    assert attrs["direction"].s == b"reverse"
    x, w, r = inputs[:3]
    weights = {"W": w, "R": r}
    if len(inputs) > 3:
        weights["B"] = inputs[3]
    got = lstmcalc.forward(np.swapaxes(x, 0, 1), weights, cell=op, framework="onnx", direction="reverse",
                           bias="B" in weights)
    produced = dict(zip(("Y", "Y_h", "Y_c"), (got.output, got.h, got.c)))
    slots = ("Y", "Y_h", "Y_c")
    present = [slots[k] for k, o in enumerate(node.output) if o]
    assert len(present) == len(outputs)
    for slot, want in zip(present, outputs):
        np.testing.assert_allclose(produced[slot], want, **F32)


def test_reverse_with_initial_states_equals_onnxruntime():
    rng = np.random.default_rng(11)
    for cell in OPS:
        w = _weights(rng, cell, dtype="float32")
        model = single_node_model(OPS[cell], w, input_size=X, hidden_size=H, direction="reverse", states=True,
                                  attrs={"linear_before_reset": 1} if cell == "gru" else None)
        x_tm = rng.uniform(-2, 2, (T, B, X)).astype("float32")
        feeds = {"X": x_tm, "initial_h": rng.uniform(-1, 1, (1, B, H)).astype("float32")}
        if cell == "lstm":
            feeds["initial_c"] = rng.uniform(-1, 1, (1, B, H)).astype("float32")
        ort = run_ort(model, feeds)
        state = (feeds["initial_h"], feeds["initial_c"]) if cell == "lstm" else feeds["initial_h"]
        got = lstmcalc.forward(x_tm.swapaxes(0, 1), w, cell=cell, framework="onnx", direction="reverse",
                               initial_state=state)
        for mine, theirs in zip((got.output, got.h, got.c), ort):
            np.testing.assert_allclose(mine, theirs, **F32)


def test_direction_keyword_is_checked():
    rng = np.random.default_rng(3)
    w = _weights(rng, "lstm")
    x = rng.uniform(size=(B, T, X))
    with pytest.raises(SpecError, match="direction: must be one of forward, reverse, bidirectional"):
        lstmcalc.forward(x, w, framework="onnx", direction="backward")
    with pytest.raises(SpecError, match="PyTorch runs a direction backwards only as the second half"):
        lstmcalc.count(4, 3, framework="torch", direction="reverse")
    with pytest.raises(SpecError, match="go_backwards=True"):
        lstmcalc.count(4, 3, framework="keras", direction="reverse")
    w2 = _weights(rng, "lstm", D=2)  # two directions in the tensors: not a reverse node
    with pytest.raises(SpecError, match="bidirectional: is False, but the tensors hold both directions"):
        lstmcalc.forward(x, w2, framework="onnx", direction="reverse")
    with pytest.raises(SpecError, match="direction: is reverse, but the layer is bidirectional"):
        lstmcalc.forward(x, w2, framework="onnx", direction="reverse", bidirectional=True)
    both = lstmcalc.forward(x, w2, framework="onnx", direction="bidirectional")
    np.testing.assert_array_equal(both.output, lstmcalc.forward(x, w2, framework="onnx", bidirectional=True).output)


# --- count / breakdown / explain / cost / run on the command line ----------------------------------


def test_cli_direction_reverse_counts_one_direction(capsys, tmp_path):
    """count = the sizes of the tensors of a real reverse node; every command takes
    --direction for ONNX and refuses it elsewhere with the reason (exit 2, nothing on stdout)."""
    rng = np.random.default_rng(5)
    for cell in OPS:
        w = _weights(rng, cell, peepholes=cell == "lstm", dtype="float32")
        model = single_node_model(OPS[cell], w, input_size=X, hidden_size=H, direction="reverse")
        real = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
        extra = ["--peepholes"] if cell == "lstm" else []
        code, out, _ = _cli(capsys, "count", "-u", str(H), "-x", str(X), "--cell", cell, "-f", "onnx",
                            "--direction", "reverse", "--json", *extra)
        assert code == 0
        data = json.loads(out)
        assert data["total"] == real and data["config"]["reverse"] is True and data["config"]["bidirectional"] is False
    code, out, _ = _cli(capsys, "breakdown", "-u", "4", "-x", "3", "-f", "onnx", "--direction", "reverse", "-t", "6")
    assert code == 0
    assert 'direction="reverse"' in out and "direction reverse" in out
    assert "t = T−1 = 5" in out and "axis 0 [0]=reverse" in out
    code, out, _ = _cli(capsys, "explain", "-u", "4", "-x", "3", "-f", "onnx", "--direction", "reverse", "-t", "6",
                        "--json")
    answer = next(q for q in json.loads(out)["questions"] if q["question"] == "Which way does it run?")
    assert {n["name"]: n["value"] for n in answer["numbers"]} == {"recurrent_layers": 1, "directions": 1,
                                                                  "time_steps": 6, "total": 144}
    code, out, _ = _cli(capsys, "cost", "-u", "4", "-x", "3", "-f", "onnx", "--direction", "reverse", "--json")
    rev = json.loads(out)
    _, out, _ = _cli(capsys, "cost", "-u", "4", "-x", "3", "-f", "onnx", "--json")
    assert rev["macs"] == json.loads(out)["macs"]  # one direction either way
    for framework, why in (("keras", "go_backwards=True"), ("torch", "second half of bidirectional=True"),
                           ("flax", "is not an option of Flax linen layers; only ONNX has it")):
        for command in ("count", "breakdown", "explain", "cost", "run"):
            code, out, err = _cli(capsys, command, "-u", "4", "-x", "3", "-f", framework, "--direction", "reverse")
            assert code == 2 and out == "" and err.startswith("lstmcalc: error: --direction: ") and why in err, (
                command, framework, err)


def test_cli_run_reverse_weights_equal_onnxruntime(capsys, tmp_path):
    """run --framework onnx --direction reverse --weights W/R/B.npz --inputs --save: onnxruntime's
    outputs; and an .onnx file with a reverse node reads as reverse and runs the same."""
    rng = np.random.default_rng(9)
    w = _weights(rng, "gru", dtype="float32")
    np.savez(tmp_path / "w.npz", **w)
    x = rng.uniform(-2, 2, (B, T, X)).astype("float32")
    np.save(tmp_path / "x.npy", x)
    model = single_node_model("GRU", w, input_size=X, hidden_size=H, direction="reverse",
                              attrs={"linear_before_reset": 1})
    ort = run_ort(model, {"X": x.swapaxes(0, 1)})
    code, _, err = _cli(capsys, "run", "-f", "onnx", "--cell", "gru", "--direction", "reverse", "--weights",
                        str(tmp_path / "w.npz"), "--inputs", str(tmp_path / "x.npy"), "--save", str(tmp_path / "o.npz"))
    assert code == 0, err
    saved = np.load(tmp_path / "o.npz")
    assert saved.files == ["Y", "Y_h"]  # the model's output names (single_node_model: Y, Y_h)
    np.testing.assert_allclose(saved["Y"], ort[0], **F32)
    np.testing.assert_allclose(saved["Y_h"], ort[1], **F32)

    import onnx

    onnx.save(model, tmp_path / "rev.onnx")
    found = read_layer(tmp_path / "rev.onnx")
    assert found.spec.reverse and found.spec.direction == "reverse" and found.attributes["direction"] == "reverse"
    assert {g.direction for g in found.gates} == {"reverse"}
    for got in (layer_of(found.spec, found.weights)(x),  # what run --weights rev.onnx runs
                lstmcalc.forward(x, found.weights, cell="gru", framework="onnx", direction=found.spec.direction)):
        np.testing.assert_allclose(got.output, ort[0], **F32)
        np.testing.assert_allclose(got.h, ort[1], **F32)
    code, _, err = _cli(capsys, "run", "--weights", str(tmp_path / "rev.onnx"), "--inputs", str(tmp_path / "x.npy"),
                        "--save", str(tmp_path / "o2.npz"))
    assert code == 0, err
    np.testing.assert_allclose(np.load(tmp_path / "o2.npz")["Y"], ort[0], **F32)
    code, out, err = _cli(capsys, "run", "--weights", str(tmp_path / "rev.onnx"), "--direction", "forward")
    assert code == 2 and out == "" and "--direction: is forward, but" in err and "node says direction = reverse" in err
    code, out, _ = _cli(capsys, "inspect", str(tmp_path / "rev.onnx"))
    assert code == 0 and "direction reverse" in out and "direction=reverse" in out


def test_convert_refuses_a_reverse_node_with_the_reason(capsys, tmp_path):
    rng = np.random.default_rng(4)
    w = _weights(rng, "lstm", dtype="float32")
    import onnx

    onnx.save(single_node_model("LSTM", w, input_size=X, hidden_size=H, direction="reverse"), tmp_path / "r.onnx")
    for target, why in (("torch", "no PyTorch twin: PyTorch runs a direction backwards only as the second half"),
                        ("keras", "go_backwards=True, which returns its sequence reversed (its output[:, t] is the "
                                  "node's Y at step T-1-t")):
        out_file = tmp_path / f"{target}.npz"
        code, out, err = _cli(capsys, "convert", str(tmp_path / "r.onnx"), "--to", target, "-o", str(out_file))
        assert code == 1 and out == "" and why in err and not out_file.exists(), err
        with pytest.raises(SpecError, match="direction: an ONNX direction=reverse node"):
            convert_weights(w, cell="lstm", source="onnx", target=target, direction="reverse")
    # a forward node's tensors convert as before
    assert set(convert_weights(w, cell="lstm", source="onnx", target="torch")) == {
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}


# --- 2. ONNX weights: peepholes, stacks, layouts, read_layer --------------------------------------


def test_forward_takes_peepholes_keyword_equal_to_onnxruntime():
    rng = np.random.default_rng(12)
    w = _weights(rng, "lstm", peepholes=True, dtype="float32")
    x = rng.uniform(-2, 2, (B, T, X)).astype("float32")
    ort = run_ort(single_node_model("LSTM", w, input_size=X, hidden_size=H), {"X": x.swapaxes(0, 1)})
    got = lstmcalc.forward(x, w, framework="onnx", peepholes=True)
    for mine, theirs in zip((got.output, got.h, got.c), ort):
        np.testing.assert_allclose(mine, theirs, **F32)
    with pytest.raises(SpecError, match="P: unexpected"):
        lstmcalc.forward(x, w, framework="onnx", peepholes=False)
    plain = {k: v for k, v in w.items() if k != "P"}
    with pytest.raises(SpecError, match="P: missing"):
        lstmcalc.forward(x, plain, framework="onnx", peepholes=True)


def test_run_weights_from_convert_to_onnx_equal_onnxruntime(capsys, tmp_path):
    """run --framework onnx --weights k.npz, k.npz written by `convert examples/lstm_keras.npz --to onnx`
    (W [D, G·H, X], R, B): today "W has shape (1, 16, 3); a weight is a vector or a matrix"."""
    k = tmp_path / "k.npz"
    code, _, err = _cli(capsys, "convert", os.path.join(EXAMPLES, "lstm_keras.npz"), "--to", "onnx", "-o", str(k))
    assert code == 0, err
    w = dict(np.load(k))
    assert w["W"].ndim == 3
    rng = np.random.default_rng(2)
    x = rng.uniform(-2, 2, (B, T, w["W"].shape[2])).astype("float32")
    np.save(tmp_path / "x.npy", x)
    ort = run_ort(single_node_model("LSTM", w, input_size=w["W"].shape[2], hidden_size=w["R"].shape[2]),
                  {"X": x.swapaxes(0, 1)})
    for layout in (0, 1):
        out = tmp_path / f"o{layout}.npz"
        code, _, err = _cli(capsys, "run", "-f", "onnx", "--weights", str(k), "--inputs", str(tmp_path / "x.npy"),
                            "--layout", str(layout), "--save", str(out))
        assert code == 0, err
        saved = np.load(out)
        assert saved.files == ["Y", "Y_h", "Y_c"]
        if layout == 0:
            np.testing.assert_allclose(saved["Y"], ort[0], **F32)  # Y [T, D, B, H]
            np.testing.assert_allclose(saved["Y_h"], ort[1], **F32)
            np.testing.assert_allclose(saved["Y_c"], ort[2], **F32)
        else:  # Y [B, T, D, H], Y_h [B, D, H]: onnxruntime's layout-0 outputs transposed
            np.testing.assert_allclose(saved["Y"], ort[0].transpose(2, 0, 1, 3), **F32)
            np.testing.assert_allclose(saved["Y_h"], ort[1].swapaxes(0, 1), **F32)
            np.testing.assert_allclose(saved["Y_c"], ort[2].swapaxes(0, 1), **F32)
    found = read_layer(k)
    for got in (layer_of(found.spec, found.weights)(x), lstmcalc.forward(x, found.weights, framework="onnx")):
        np.testing.assert_allclose(got.output, ort[0], **F32)


@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
def test_read_layer_stack_with_peepholes_runs_as_onnxruntime(direction, capsys, tmp_path):
    """A 2-layer stack of peephole LSTM nodes as layer{k}/W, ... in an .npz and as an .onnx file:
    read_layer's spec and weights run to onnxruntime's outputs, and so does run --weights."""
    rng = np.random.default_rng(21)
    D = 2 if direction == "bidirectional" else 1
    w = _weights(rng, "lstm", layers=2, D=D, peepholes=True, dtype="float32")
    np.savez(tmp_path / "s.npz", **w)
    write_onnx_model(tmp_path / "s.onnx", _per_layer(w, 2), cell="lstm", hidden_size=H, input_size=X,
                     direction=direction)
    x = rng.uniform(-2, 2, (B, T, X)).astype("float32")
    ort = run_ort(tmp_path / "s.onnx", {"X": x.swapaxes(0, 1)})
    want = stacked_reference("LSTM", x.swapaxes(0, 1).astype("float64"),
                             [{k: v.astype("float64") for k, v in t.items()} for t in _per_layer(w, 2)],
                             direction=direction)
    for mine, theirs in zip(ort, want):  # the writer's stack is the documented one
        np.testing.assert_allclose(mine, theirs, **F32)
    found = read_layer(tmp_path / "s.npz")
    assert found.spec.layers == 2 and found.spec.peepholes and found.spec.bidirectional == (D == 2)
    for got in (layer_of(found.spec, found.weights)(x),
                lstmcalc.forward(x, found.weights, framework="onnx", layers=2, bidirectional=D == 2, peepholes=True)):
        for mine, theirs in zip((got.output, got.h, got.c), ort):
            np.testing.assert_allclose(mine, theirs, **F32)
    nodes = lstmcalc.read_layers(tmp_path / "s.onnx")  # one node per layer
    assert [f.spec.peepholes for f in nodes] == [True, True]
    np.save(tmp_path / "x.npy", x)
    code, _, err = _cli(capsys, "run", "-f", "onnx", "--weights", str(tmp_path / "s.npz"), "--inputs",
                        str(tmp_path / "x.npy"), "--save", str(tmp_path / "o.npz"))
    assert code == 0, err
    saved = np.load(tmp_path / "o.npz")
    session = ort_session(tmp_path / "s.onnx")  # the graph's own output names, and onnxruntime's arrays by name
    names = [o.name for o in session.get_outputs()]
    assert saved.files == names == ["Y", "Y_h", "Y_c"]
    for name, theirs in zip(names, session.run(names, {"X": x.swapaxes(0, 1)})):
        np.testing.assert_allclose(saved[name], theirs, **F32, err_msg=name)


def test_read_layer_of_weights_that_are_not_a_layer_is_refused(tmp_path):
    np.savez(tmp_path / "bad.npz", W=np.ones((1, 12, 2, 1), dtype="float32"), R=np.ones((1, 12, 3), dtype="float32"))
    with pytest.raises((FileError, SpecError)):
        read_layer(tmp_path / "bad.npz")


def test_reverse_on_numba_equals_onnxruntime():
    """The Numba backend runs a reverse node backwards too (its kernels take the direction)."""
    pytest.importorskip("numba")
    rng = np.random.default_rng(31)
    for cell in OPS:
        w = _weights(rng, cell, dtype="float32")
        model = single_node_model(OPS[cell], w, input_size=X, hidden_size=H, direction="reverse",
                                  attrs={"linear_before_reset": 1} if cell == "gru" else None)
        x_tm = rng.uniform(-2, 2, (T, B, X)).astype("float32")
        ort = run_ort(model, {"X": x_tm})
        got = lstmcalc.forward(x_tm.swapaxes(0, 1), w, cell=cell, framework="onnx", direction="reverse",
                               backend="numba")
        assert got.backend == "numba"
        for mine, theirs in zip((got.output, got.h, got.c), ort):
            np.testing.assert_allclose(mine, theirs, **F32)
