"""The numbers ONNX's and TFLite's own notes state (``breakdown --json`` note_numbers), each
measured on the real thing: ONNX nodes built with onnx.helper (or written by lstmcalc), read
back with onnx and run in onnxruntime, and torch.onnx.export's GRU; TFLite's converter fixtures
(tests/fixtures/tflite) and ops assembled with the tflite package that the real interpreter
(ai-edge-litert) runs. A layer read from each model gives the notes; every number of every note
is compared with the model, so a number with no measurement here fails."""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

# every name a convention's own notes (ONNX, TFLite) state that only these tests measure
MEASURED_HERE = {"directions", "peephole_weights", "linear_before_reset", "linear_before_reset_default",
                 "torch_linear_before_reset", "layout", "runtime_layout", "last_step", "weighted_gates",
                 "op_inputs", "absent_input_index", "input_gate_positions", "layer_norm_positions",
                 "recurrent_positions", "batch", "cell_clip", "proj_clip", "converter_cell_clip"}

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "tflite"


def stated(spec) -> list[tuple[str, dict]]:
    """(note, number) for every number of the convention's own notes, as --json gives them."""
    from lstmcalc import frameworks
    from lstmcalc.explain import note_sentences

    own = frameworks.of(spec).notes(spec)
    assert own is not None
    heads = [e[0] if isinstance(e, tuple) else e for e in own]
    out = []
    for s in note_sentences(spec):
        if s.text in heads:
            out += [(s.text[:70], n.to_dict()) for n in s.numbers]
    assert out
    return out


def check(spec, measure: dict) -> None:
    """Every stated number equals ``measure[name](number)``; a name with no measurement fails."""
    found = []
    for note, n in stated(spec):
        value = tuple(n["value"]) if isinstance(n["value"], list) else n["value"]
        if n["name"] not in measure:
            found.append(f"{note}: {n['name']} has no measurement here")
            continue
        got = measure[n["name"]](n)
        if got != value:
            found.append(f"{note}: {n['name']} ({n['scope']}) = {value!r}, measured {got!r}")
    assert not found, "\n".join(found)


# ---------------------------------------------------------------- ONNX


def _onnx():
    pytest.importorskip("onnxruntime")
    return pytest.importorskip("onnx")


def _attr(node, name, default):
    import onnx

    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return default


@lru_cache(maxsize=None)
def _torch_gru_linear_before_reset() -> int:
    """linear_before_reset of the GRU node torch.onnx.export (legacy exporter) writes for nn.GRU."""
    import io
    import warnings

    import onnx
    import torch

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch.nn.GRU(3, 4, batch_first=True), (torch.zeros(2, 5, 3),), buf, dynamo=False)
    (node,) = [n for n in onnx.load_from_string(buf.getvalue()).graph.node if n.op_type == "GRU"]
    return _attr(node, "linear_before_reset", 0)


def _runtime_layouts(op: str) -> set[int]:
    """The layouts onnxruntime runs a one-node model of ``op`` in."""
    from _onnx import random_tensors, run_ort, single_node_model

    ok = set()
    for layout in (0, 1):
        t = random_tensors(np.random.default_rng(0), op, 3, 2, 1)
        model = single_node_model(op, t, input_size=2, hidden_size=3, layout=layout)
        try:
            run_ort(model, {"X": np.zeros((4, 4, 2), np.float32)})
        except Exception:  # onnxruntime: layout 1 NOT_IMPLEMENTED
            continue
        ok.add(layout)
    return ok


def _last_step(op: str, time: int) -> int:
    """The step a direction=reverse node starts from: the one whose Y equals a one-step run of
    its input from the zero state, in onnxruntime."""
    from _onnx import random_tensors, run_ort, single_node_model

    rng = np.random.default_rng(5)
    t = random_tensors(rng, op, 3, 2, 1)
    x = rng.standard_normal((time, 1, 2)).astype(np.float32)
    y = run_ort(single_node_model(op, t, input_size=2, hidden_size=3, direction="reverse"), {"X": x})[0]
    one = single_node_model(op, t, input_size=2, hidden_size=3)
    starts = [k for k in range(time) if np.allclose(y[k], run_ort(one, {"X": x[k:k + 1]})[0][0], rtol=0, atol=1e-6)]
    assert len(starts) == 1, starts
    return starts[0]


OP = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def _onnx_cases():
    out = []
    for cell in ("lstm", "gru", "rnn"):
        out += [dict(cell=cell), dict(cell=cell, direction="bidirectional"), dict(cell=cell, bias=False),
                dict(cell=cell, layout=1), dict(cell=cell, direction="reverse"), dict(cell=cell, layers=2),
                dict(cell=cell, layers=2, direction="bidirectional")]
    out += [dict(cell="gru", linear_before_reset=0), dict(cell="lstm", peepholes=True),
            dict(cell="lstm", peepholes=True, direction="bidirectional")]
    return out


@pytest.mark.parametrize("case", _onnx_cases(), ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_onnx_note_numbers_are_the_nodes(tmp_path, case):
    """A node (or a stack of nodes) built with onnx.helper, read by lstmcalc: each number its notes
    state is the node's (W/B/P shapes, attributes), the operator schema's or onnxruntime's."""
    onnx = _onnx()
    pytest.importorskip("torch")
    from _onnx import random_tensors, single_node_model

    from lstmcalc.readers import read_layers
    from lstmcalc.writers import write_onnx_weights

    cell, op = case["cell"], OP[case["cell"]]
    h, x, time = 3, 5, 4
    direction = case.get("direction", "forward")
    d = 2 if direction == "bidirectional" else 1
    lbr = case.get("linear_before_reset", 1) if cell == "gru" else None
    attrs = {"linear_before_reset": lbr} if lbr is not None else {}
    rng = np.random.default_rng(11)
    path = tmp_path / "m.onnx"
    if case.get("layers", 1) == 1:
        t = random_tensors(rng, op, h, x, d, bias=case.get("bias", True), peepholes=case.get("peepholes", False))
        model = single_node_model(op, t, input_size=x, hidden_size=h, direction=direction,
                                  layout=case.get("layout", 0), attrs=attrs)
        onnx.save(model, path)
    else:  # a stack: lstmcalc writes one node per layer; the node's shapes are read back below
        g = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
        arrays = {}
        for k in range(2):
            xk = x if k == 0 else d * h
            arrays |= {f"layer{k}/W": rng.uniform(-1, 1, (d, g * h, xk)).astype(np.float32),
                       f"layer{k}/R": rng.uniform(-1, 1, (d, g * h, h)).astype(np.float32),
                       f"layer{k}/B": rng.uniform(-1, 1, (d, 2 * g * h)).astype(np.float32)}
        write_onnx_weights(path, arrays, cell=cell, reset_after=lbr != 0)
    if case.get("layers", 1) == 1:
        (found,) = read_layers(path)
        spec = found.spec
    else:  # the reader gives one layer per node: the stack is the spec the nodes were written for
        from lstmcalc.frameworks import make_spec

        spec = make_spec(h, x, framework="onnx", cell=cell, layers=2, bidirectional=d == 2, time=time,
                         **({"reset_after": lbr != 0} if cell == "gru" else {}))
    nodes = [n for n in onnx.load(path).graph.node if n.op_type == op]
    inits = {i.name: tuple(i.dims) for i in onnx.load(path).graph.initializer}

    def shape(node, slot):
        return inits[node.input[slot]]

    keras = pytest.importorskip("keras")
    import torch

    def torch_extra(n):
        """PyTorch's layer of the same cell minus Keras' (reset_after as the node's), per layer and direction."""
        torch_layer = getattr(torch.nn, op)(x, h)
        k = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "rnn": keras.layers.SimpleRNN}[cell]
        layer = k(h, **({"reset_after": lbr != 0} if cell == "gru" else {}))
        layer.build((None, None, x))
        return sum(p.numel() for p in torch_layer.parameters()) - layer.count_params()

    schema = onnx.defs.get_schema("GRU")
    measure = {
        "directions": lambda n: shape(nodes[0], 1)[0],  # W [D, G·H, X]
        "bias_params": lambda n: shape(nodes[0], 3)[1],  # B [D, 2·G·H]
        "torch_extra_params": torch_extra,
        "linear_before_reset": lambda n: _attr(nodes[0], "linear_before_reset", 0),
        "linear_before_reset_default": lambda n: schema.attributes["linear_before_reset"].default_value.i,
        "torch_linear_before_reset": lambda n: _torch_gru_linear_before_reset(),
        "peephole_weights": lambda n: shape(nodes[0], 7)[1],  # P [D, 3H]
        "layout": lambda n: _attr(nodes[0], "layout", 0),
        "runtime_layout": lambda n: (lambda ok: ok.pop() if len(ok) == 1 else ok)(_runtime_layouts(op)),
        "last_step": lambda n: _last_step(op, spec.time) if spec.time > 1 else 0,
        "layers": lambda n: len(nodes),
        "input_features": lambda n: shape(nodes[1], 1)[2],  # the layers above: W [D, G·H, D·H]
    }
    if spec.reverse:  # the file fixes no T: state the step for T = 4, measured in onnxruntime
        from dataclasses import replace

        spec = replace(spec, time=time)
    check(spec, measure)


def test_onnx_measurements_can_fail():
    """The runtime and export measurements are not constants: onnxruntime runs only one layout, a
    reverse node's first step moves with T, and the schema default differs from torch's export."""
    _onnx()
    pytest.importorskip("torch")
    assert _runtime_layouts("LSTM") == {0}
    assert [_last_step("GRU", t) for t in (2, 5)] == [1, 4]
    import onnx

    assert onnx.defs.get_schema("GRU").attributes["linear_before_reset"].default_value.i == 0
    assert _torch_gru_linear_before_reset() == 1


# ---------------------------------------------------------------- TFLite


def _tflite():
    pytest.importorskip("ai_edge_litert.interpreter")
    return pytest.importorskip("tflite")


def _op(path):
    """(input indices by position, {position: shape}, options table) of the file's fused LSTM op."""
    tflite = _tflite()
    m = tflite.Model.GetRootAsModel(Path(path).read_bytes(), 0)
    g = m.Subgraphs(0)
    fused = {tflite.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM: tflite.UnidirectionalSequenceLSTMOptions,
             tflite.BuiltinOperator.BIDIRECTIONAL_SEQUENCE_LSTM: tflite.BidirectionalSequenceLSTMOptions}
    found = []
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        code = m.OperatorCodes(op.OpcodeIndex())
        kind = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if kind in fused:
            found.append((op, fused[kind]()))
    ((op, opts),) = found
    ins = [int(i) for i in op.InputsAsNumpy()]
    shapes = {p: tuple(int(v) for v in g.Tensors(i).ShapeAsNumpy()) for p, i in enumerate(ins) if i >= 0}
    table = op.BuiltinOptions()
    opts.Init(table.Bytes, table.Pos)
    return ins, shapes, opts


_RUN = """
import sys, numpy as np
from ai_edge_litert.interpreter import Interpreter
it = Interpreter(model_path=sys.argv[1]); it.allocate_tensors()
it.set_tensor(it.get_input_details()[0]["index"], np.load(sys.argv[2])); it.invoke()
np.save(sys.argv[3], it.get_tensor(it.get_output_details()[0]["index"]))
"""


def _interpreter_runs(data: bytes, x) -> np.ndarray | None:
    """The interpreter's output for the model ``data``, or None when it refuses the model. In a
    subprocess: the interpreter can crash (not raise) on a model its Prepare should refuse."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        model, xs, ys = Path(d, "m.tflite"), Path(d, "x.npy"), Path(d, "y.npy")
        model.write_bytes(data)
        np.save(xs, x)
        r = subprocess.run([sys.executable, "-c", _RUN, str(model), str(xs), str(ys)], capture_output=True, timeout=120)
        return np.load(ys) if r.returncode == 0 else None


def _tflite_measures(path, spec) -> dict:
    ins, shapes, opts = _op(path)
    bias_positions = [p for p in (12, 13, 14, 15) if p in shapes]
    first = min(p for p in (1, 2, 3, 4) if p in shapes)
    converted = sorted(FIXTURES.glob("lstm_*.tflite"))
    return {
        "op_inputs": lambda n: len(ins),
        "units": lambda n: shapes[first][0],  # input_to_*_weights (H, X)
        "input_features": lambda n: shapes[first][1],
        "weighted_gates": lambda n: len(bias_positions),
        "gates": lambda n: 4,  # checked below: a converted op without CIFG has four gate biases
        "bias_params": lambda n: sum(int(np.prod(shapes[p])) for p in bias_positions),
        "absent_input_index": lambda n: (lambda a: a.pop() if len(a) == 1 else a)(
            {i for p, i in enumerate(ins) if p not in shapes}),
        "batch": lambda n: shapes[0][0 if spec.layout == 1 else 1],
        "state_size": lambda n: shapes[18][1],  # output_state (B, H_out)
        "cell_state_size": lambda n: shapes[19][1],  # cell_state (B, H)
        "cell_clip": lambda n: opts.CellClip(),
        "proj_clip": lambda n: opts.ProjClip(),
        "converter_cell_clip": lambda n: (lambda c: c.pop() if len(c) == 1 else c)(
            {_op(p)[2].CellClip() for p in converted}),
    }


@pytest.mark.parametrize("name", ["lstm_u4_x3_float32", "lstm_u32_x40_float32", "lstm_u32_x40_int8"])
def test_tflite_note_numbers_are_the_converted_files(name):
    """The converter's own files (a Keras LSTM each): op inputs, -1, the gate tensors' shapes, the
    states' and input's shapes, cell_clip."""
    _tflite()  # reading .tflite needs the tflite package (lstmcalc[tflite]); CI installs it
    from lstmcalc.readers import read_layers

    path = FIXTURES / f"{name}.tflite"
    (found,) = read_layers(path)
    spec = found.spec
    assert spec.cell_clip  # the converter's cell_clip is in these notes
    measure = _tflite_measures(path, spec)
    assert measure["weighted_gates"](None) == 4 and measure["op_inputs"](None) == 24
    check(spec, measure)


def _assembled(opts: dict, *, units=3, features=5, batch=7, time=4, proj=0):
    from tflite_build import random_lstm

    opts = {k: v for k, v in opts.items() if k != "proj"}
    return random_lstm(np.random.default_rng(7), units=units, features=features, proj=proj, **opts)


def _model(arrays, *, units=3, features=5, batch=7, time=4, **kw) -> bytes:
    from tflite_build import lstm_model

    return lstm_model(arrays, units=units, batch=batch, time=time, features=features, **kw)


def _positions_of(spec, name):
    (value,) = {tuple(n["value"]) for _, n in stated(spec) if n["name"] == name}
    return value


@pytest.mark.parametrize("opts", [dict(cifg=True), dict(cifg=True, peepholes=True), dict(layer_norm=True),
                                  dict(diagonal=True), dict(cell_clip=2.5), dict(proj=2, proj_clip=2.0),
                                  dict(cifg=True, layer_norm=True, peepholes=True), dict(cifg=True, diagonal=True)],
                         ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_tflite_variant_note_numbers_are_what_the_interpreter_runs(tmp_path, opts):
    """Ops assembled with the tflite builder and run by the interpreter. Positions are measured on
    the interpreter: removing exactly the stated input-gate positions from a full op leaves one it
    runs (removing one of them alone does not); layer-norm coefficients and diagonal recurrent
    vectors placed at the stated positions run, and each one changes the output."""
    _tflite()
    from lstmcalc.readers import read_layers

    clips = {k: opts[k] for k in ("cell_clip", "proj_clip") if k in opts}
    build = {k: v for k, v in opts.items() if k not in clips}
    arrays = _assembled(build, proj=build.get("proj", 0))
    kw = dict(proj=build.get("proj", 0), diagonal=build.get("diagonal", False), **clips)
    path = tmp_path / "m.tflite"
    path.write_bytes(_model(arrays, **kw))
    (found,) = read_layers(path)
    spec = found.spec
    x = np.random.default_rng(1).standard_normal((7, 4, 5)).astype(np.float32)
    assert _interpreter_runs(path.read_bytes(), x) is not None
    measure = _tflite_measures(path, spec)
    measure["gates"] = lambda n: len([p for p in (12, 13, 14, 15) if p in _op(FIXTURES / "lstm_u4_x3_float32.tflite")[1]])

    if spec.cifg:
        where = _positions_of(spec, "input_gate_positions")
        full = _assembled({**build, "cifg": False}, proj=build.get("proj", 0))
        assert set(where) <= set(full)
        kept = {p: a for p, a in full.items() if p not in where}
        assert _interpreter_runs(_model(kept, **kw), x) is not None
        for p in where:  # one of them alone absent: the interpreter refuses
            assert _interpreter_runs(_model({q: a for q, a in full.items() if q != p}, **kw), x) is None, p
        measure["input_gate_positions"] = lambda n: tuple(sorted(set(full) - set(kept)))
    for name, role in (("layer_norm_positions", "layer_norm"), ("recurrent_positions", "diagonal")):
        if not build.get(role):
            continue
        where = _positions_of(spec, name)
        base = _model(arrays, **kw)
        ref = _interpreter_runs(base, x)
        read = []
        for p in where:  # each stated position is an input the interpreter reads
            changed = dict(arrays)
            changed[p] = (arrays[p] * 1.7 + 0.3).astype(np.float32)
            out = _interpreter_runs(_model(changed, **kw), x)
            if out is not None and np.abs(out - ref).max() > 1e-4 and arrays[p].shape == (spec.units,):
                read.append(p)
        measure[name] = lambda n, read=tuple(read): read
    check(spec, measure)


def test_tflite_bidirectional_op_inputs_and_cifg_positions(tmp_path):
    """BIDIRECTIONAL_SEQUENCE_LSTM: 48 inputs; under CIFG the stated positions (both directions)
    are exactly those whose removal the interpreter accepts."""
    _tflite()
    from tflite_build import bidirectional_lstm_model, random_lstm

    from lstmcalc.frameworks import make_spec

    rng = np.random.default_rng(3)
    fw, bw = (random_lstm(rng, units=3, features=5) for _ in range(2))
    x = rng.standard_normal((4, 7, 5)).astype(np.float32)  # time-major
    spec = make_spec(3, 5, framework="tflite", bidirectional=True, cifg=True, batch=7, time=4, layout=0)
    where = _positions_of(spec, "input_gate_positions")
    all_arrays = {**fw, **{p + 17: a for p, a in bw.items()}}
    fw_kept = {p: a for p, a in fw.items() if p not in where}
    bw_kept = {p: a for p, a in bw.items() if p + 17 not in where}
    kept = bidirectional_lstm_model(fw_kept, bw_kept, units=3, batch=7, time=4, features=5)
    assert _interpreter_runs(kept, x) is not None
    removed = tuple(sorted(set(all_arrays) - set(fw_kept) - {p + 17 for p in bw_kept}))
    for p in where:  # one of them alone absent: the interpreter refuses
        one_fw = {q: a for q, a in fw.items() if q != p}
        one_bw = {q: a for q, a in bw.items() if q + 17 != p}
        assert _interpreter_runs(bidirectional_lstm_model(one_fw, one_bw, units=3, batch=7, time=4, features=5),
                                 x) is None, p
    path = tmp_path / "b.tflite"
    path.write_bytes(kept)
    measure = _tflite_measures(path, spec)
    assert measure["op_inputs"](None) == 48
    measure["input_gate_positions"] = lambda n: removed
    measure["gates"] = lambda n: len([p for p in (12, 13, 14, 15) if p in fw])  # the full op's gate biases
    measure["state_size"] = lambda n: _op(path)[1][35][1]  # fw output_state (B, H_out)
    check(spec, measure)
