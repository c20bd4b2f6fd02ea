"""ONNX as a framework, against onnxruntime, the NumPy reference of the operator
(tests/crosscheck/_onnx.py), real Keras 3 and real PyTorch (torch.nn and torch.onnx.export):

- lstmcalc.forward(framework="onnx") equals onnxruntime (float32, 1e-5) and the reference
  (float64, 1e-12) for every cell and direction, peepholes, both linear_before_reset values,
  stacks;
- convert between every pair of keras, torch and onnx: the written .onnx runs in onnxruntime
  to the source framework's real outputs, and ONNX tensors converted to Keras / PyTorch and
  loaded into the real layers give onnxruntime's outputs;
- every ONNX tensor lstmcalc counts has the size of the initializer torch.onnx.export writes;
- an exported model inspected and converted back reproduces the torch module.
Random weights and biases everywhere, different per gate and per bias half."""

from __future__ import annotations

import itertools
import logging
import os
import warnings

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")
os.environ.setdefault("KERAS_BACKEND", "torch")

from _frameworks import one_thread  # noqa: E402
from _onnx import onnx_reference, random_tensors, run_ort, single_node_model, stacked_reference  # noqa: E402

import lstmcalc  # noqa: E402
from lstmcalc.frameworks import all_tensors  # noqa: E402
from lstmcalc.converting import convert_weights  # noqa: E402
from lstmcalc.frameworks import make_spec  # noqa: E402
from lstmcalc.writers import write_onnx_weights  # noqa: E402
from lstmcalc.readers import read_layers  # noqa: E402
from lstmcalc.spec import SpecError  # noqa: E402

OPS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
H, X, B, T = 3, 2, 4, 5


def _onnx_weights(rng, cell, layers, D, *, peepholes=False, dtype="float64"):
    out = {}
    for k in range(layers):
        t = random_tensors(rng, OPS[cell], H, X if k == 0 else D * H, D, peepholes=peepholes, dtype=dtype)
        for name, a in t.items():
            out[name if layers == 1 else f"layer{k}/{name}"] = a
    return out


def _per_layer(weights, layers):
    if layers == 1:
        return [dict(weights)]
    return [{n.split("/")[1]: a for n, a in weights.items() if n.startswith(f"layer{k}/")} for k in range(layers)]


def _configs():
    for cell, direction, layers in itertools.product(OPS, ("forward", "bidirectional"), (1, 2)):
        for variant in ({"peepholes": False}, {"peepholes": True}) if cell == "lstm" else \
                ({"lbr": 0}, {"lbr": 1}) if cell == "gru" else ({},):
            yield {"cell": cell, "direction": direction, "layers": layers, **variant}


CONFIGS = list(_configs())


def _kwargs(c):
    kw = {"cell": c["cell"], "framework": "onnx", "bidirectional": c["direction"] == "bidirectional",
          "layers": c["layers"]}
    if c["cell"] == "gru":
        kw["reset_after"] = bool(c["lbr"])
    return kw


@pytest.mark.parametrize("c", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_forward_equals_reference_float64_and_onnxruntime_float32(c, tmp_path):
    rng = np.random.default_rng(len(CONFIGS) + hash(tuple(c.items())) % 1000)
    D = 2 if c["direction"] == "bidirectional" else 1
    weights = _onnx_weights(rng, c["cell"], c["layers"], D, peepholes=c.get("peepholes", False))
    x_tm = rng.uniform(-2, 2, (T, B, X))  # the node's X, layout 0
    attrs = {"direction": c["direction"]}
    if c["cell"] == "gru":
        attrs["linear_before_reset"] = c["lbr"]
    want = stacked_reference(OPS[c["cell"]], x_tm, _per_layer(weights, c["layers"]), **attrs)

    got = lstmcalc.forward(x_tm.swapaxes(0, 1), weights, **_kwargs(c))  # x is (B, T, X) for every framework
    assert got.output.shape == (T, D, B, H) and got.h.shape == (c["layers"] * D, B, H)
    np.testing.assert_allclose(got.output, want[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got.h, want[1], rtol=1e-12, atol=1e-12)
    if c["cell"] == "lstm":
        np.testing.assert_allclose(got.c, want[2], rtol=1e-12, atol=1e-12)

    w32 = {k: v.astype("float32") for k, v in weights.items()}
    if c["layers"] == 1:  # a model built by the test harness, independent of lstmcalc's writer
        model = single_node_model(OPS[c["cell"]], w32, input_size=X, hidden_size=H, direction=c["direction"],
                                  attrs={"linear_before_reset": c["lbr"]} if c["cell"] == "gru" else None)
    else:
        model = tmp_path / "m.onnx"
        write_onnx_weights(model, w32, cell=c["cell"], reset_after=bool(c.get("lbr", 1)))
    ort_out = run_ort(model, {"X": x_tm.astype("float32")})
    got32 = lstmcalc.forward(x_tm.swapaxes(0, 1).astype("float32"), w32, **_kwargs(c))
    np.testing.assert_allclose(got32.output, ort_out[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got32.h, ort_out[1], rtol=1e-5, atol=1e-5)
    if c["cell"] == "lstm":
        np.testing.assert_allclose(got32.c, ort_out[2], rtol=1e-5, atol=1e-5)


def test_layout_1_returns_batch_major_shapes():
    rng = np.random.default_rng(5)
    w = _onnx_weights(rng, "lstm", 1, 2, peepholes=True)
    x = rng.uniform(-2, 2, (B, T, X))
    zero = lstmcalc.forward(x, w, cell="lstm", framework="onnx", bidirectional=True)
    one = lstmcalc.forward(x, w, cell="lstm", framework="onnx", bidirectional=True, layout=1)
    want = onnx_reference("LSTM", x, **w, direction="bidirectional", layout=1)
    assert one.output.shape == (B, T, 2, H) and one.h.shape == (B, 2, H)
    for got, ref in zip((one.output, one.h, one.c), want):
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(one.output, zero.output.transpose(2, 0, 1, 3))


def test_peepholes_refuse_the_numba_backend():
    pytest.importorskip("numba")
    rng = np.random.default_rng(6)
    w = _onnx_weights(rng, "lstm", 1, 1, peepholes=True)
    with pytest.raises(SpecError, match="numba has no peephole kernel"):
        lstmcalc.forward(rng.uniform(size=(B, T, X)), w, cell="lstm", framework="onnx", backend="numba")
    assert lstmcalc.forward(rng.uniform(size=(B, T, X)), w, cell="lstm", framework="onnx",
                            backend="auto").backend == "numpy"


# --- convert: PyTorch <-> ONNX ---------------------------------------------------------------------


def _torch_module(cell, layers, bidirectional, seed=0, **extra):
    torch.manual_seed(seed)
    m = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell](
        X, H, num_layers=layers, bidirectional=bidirectional, batch_first=True, **extra)
    with torch.no_grad():
        for p in m.parameters():
            p.uniform_(-1, 1)
    return m.eval()


TORCH_CASES = [(cell, layers, bi) for cell in OPS for layers, bi in ((1, False), (1, True), (2, True))]


@pytest.mark.parametrize("cell, layers, bi", TORCH_CASES)
def test_torch_to_onnx_model_runs_to_the_module(cell, layers, bi, tmp_path):
    m = _torch_module(cell, layers, bi)
    sd = {k: v.numpy() for k, v in m.state_dict().items()}
    onnx_tensors = convert_weights(sd, cell=cell, source="torch", target="onnx")
    path = tmp_path / "t.onnx"
    write_onnx_weights(path, onnx_tensors, cell=cell)
    x = np.random.default_rng(1).uniform(-2, 2, (B, T, X)).astype("float32")
    with torch.no_grad(), one_thread():
        out, state = m(torch.from_numpy(x))
    got = run_ort(path, {"X": x.swapaxes(0, 1)})
    D = 2 if bi else 1
    y = got[0].transpose(2, 0, 1, 3).reshape(B, T, D * H)  # [T, D, B, H] -> (B, T, D·H)
    np.testing.assert_allclose(y, out.numpy(), rtol=1e-5, atol=1e-5)
    h_n = state[0] if cell == "lstm" else state  # (L·D, B, H): the model's Y_h, every layer's
    np.testing.assert_allclose(got[1], h_n.numpy(), rtol=1e-5, atol=1e-5)
    if cell == "lstm":
        np.testing.assert_allclose(got[2], state[1].numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell, layers, bi", TORCH_CASES)
def test_onnx_to_torch_reproduces_onnxruntime(cell, layers, bi, tmp_path):
    rng = np.random.default_rng(2)
    D = 2 if bi else 1
    w = _onnx_weights(rng, cell, layers, D, dtype="float32")
    path = tmp_path / "o.onnx"
    write_onnx_weights(path, w, cell=cell, reset_after=True)
    x = rng.uniform(-2, 2, (B, T, X)).astype("float32")
    want = run_ort(path, {"X": x.swapaxes(0, 1)})
    sd = convert_weights(w, cell=cell, source="onnx", target="torch", reset_after=True)
    m = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell](
        X, H, num_layers=layers, bidirectional=bi, batch_first=True)
    m.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}, strict=True)
    with torch.no_grad(), one_thread():
        out = m(torch.from_numpy(x))
    np.testing.assert_allclose(out[0].numpy(), want[0].transpose(2, 0, 1, 3).reshape(B, T, D * H), rtol=1e-5, atol=1e-5)
    h_n = out[1][0] if cell == "lstm" else out[1]
    np.testing.assert_allclose(h_n.numpy(), want[1], rtol=1e-5, atol=1e-5)


# --- convert: Keras <-> ONNX ----------------------------------------------------------------------


def _keras_layer(cell, bi, reset_after=True, seed=0):
    import keras

    rng = np.random.default_rng(seed)
    kw = {"reset_after": reset_after} if cell == "gru" else {}
    base = getattr(keras.layers, {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}[cell])(
        H, return_sequences=True, **kw)
    layer = keras.layers.Bidirectional(base) if bi else base
    layer.build((B, T, X))
    layer.set_weights([rng.uniform(-1, 1, w.shape).astype("float32") for w in layer.get_weights()])
    halves = [layer.forward_layer, layer.backward_layer] if bi else [layer]
    weights = {}
    for direction, half in zip(("forward", "backward"), halves):
        for name, v in zip(("kernel", "recurrent_kernel", "bias"), half.get_weights()):
            weights[name if not bi else f"layer0/{direction}/{name}"] = v
    return layer, weights


KERAS_CASES = [("lstm", False, True), ("lstm", True, True), ("gru", False, True), ("gru", True, False),
               ("gru", False, False), ("rnn", True, True)]


@pytest.mark.parametrize("cell, bi, reset_after", KERAS_CASES)
def test_keras_to_onnx_model_runs_to_keras(cell, bi, reset_after, tmp_path):
    """Keras GRU reset_after=False goes to linear_before_reset=0 (PyTorch has no such GRU)."""
    import keras

    layer, weights = _keras_layer(cell, bi, reset_after)
    x = np.random.default_rng(3).uniform(-2, 2, (B, T, X)).astype("float32")
    with one_thread():
        want = keras.ops.convert_to_numpy(layer(x))  # (B, T, D·H)
    onnx_tensors = convert_weights(weights, cell=cell, source="keras", target="onnx", reset_after=reset_after)
    path = tmp_path / "k.onnx"
    write_onnx_weights(path, onnx_tensors, cell=cell, reset_after=reset_after)
    from lstmcalc.readers.onnx import read_onnx

    (node,) = read_onnx(path)
    if cell == "gru":
        assert node.linear_before_reset == int(reset_after)
    got = run_ort(path, {"X": x.swapaxes(0, 1)})[0]
    D = 2 if bi else 1
    np.testing.assert_allclose(got.transpose(2, 0, 1, 3).reshape(B, T, D * H), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cell, bi, reset_after", KERAS_CASES)
def test_onnx_to_keras_reproduces_onnxruntime(cell, bi, reset_after, tmp_path):
    import keras

    rng = np.random.default_rng(4)
    D = 2 if bi else 1
    w = _onnx_weights(rng, cell, 1, D, dtype="float32")
    path = tmp_path / "o.onnx"
    write_onnx_weights(path, w, cell=cell, reset_after=reset_after)
    x = rng.uniform(-2, 2, (B, T, X)).astype("float32")
    want = run_ort(path, {"X": x.swapaxes(0, 1)})[0].transpose(2, 0, 1, 3).reshape(B, T, D * H)
    kw = convert_weights(w, cell=cell, source="onnx", target="keras", reset_after=reset_after)
    layer, _ = _keras_layer(cell, bi, reset_after)
    halves = [layer.forward_layer, layer.backward_layer] if bi else [layer]
    for direction, half in zip(("forward", "backward"), halves):
        names = ("kernel", "recurrent_kernel", "bias")
        half.set_weights([kw[n if not bi else f"layer0/{direction}/{n}"] for n in names])
    with one_thread():
        got = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_refusals_name_the_reason():
    rng = np.random.default_rng(7)
    m = torch.nn.LSTM(X, H, proj_size=2)
    sd = {k: v.detach().numpy() for k, v in m.state_dict().items()}
    with pytest.raises(SpecError, match="proj_size.*no ONNX equivalent"):
        convert_weights(sd, cell="lstm", source="torch", target="onnx")
    w = _onnx_weights(rng, "lstm", 1, 1, peepholes=True)
    for target in ("keras", "torch"):
        with pytest.raises(SpecError, match="peephole"):
            convert_weights(w, cell="lstm", source="onnx", target=target)
    g = _onnx_weights(rng, "gru", 1, 1)
    with pytest.raises(SpecError, match="no PyTorch equivalent"):
        convert_weights(g, cell="gru", source="onnx", target="torch", reset_after=False)


# --- counts against the real exporter, and export -> inspect -> convert back ------------------------


def _export(m, x, path):
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), one_thread():
            warnings.simplefilter("ignore")
            torch.onnx.export(m, (torch.from_numpy(x),), str(path), dynamo=False)
    finally:
        logging.disable(logging.NOTSET)


@pytest.mark.parametrize("cell, layers, bi", TORCH_CASES)
def test_counted_tensors_match_the_exported_initializers(cell, layers, bi, tmp_path):
    import onnx

    m = _torch_module(cell, layers, bi)
    x = np.zeros((B, T, X), "float32")
    path = tmp_path / "e.onnx"
    _export(m, x, path)
    model = onnx.load(str(path))
    inits = {i.name: tuple(i.dims) for i in model.graph.initializer}
    nodes = [n for n in model.graph.node if n.op_type == OPS[cell]]
    spec = make_spec(H, X, cell=cell, framework="onnx", bidirectional=bi, layers=layers)
    counted = [t for t in all_tensors(spec)]
    real = [inits[n.input[k]] for n in nodes for k in (1, 2, 3)]  # W, R, B of each node
    assert [t.shape for t in counted] == real
    assert lstmcalc.count(H, X, cell=cell, framework="onnx", bidirectional=bi, layers=layers) == \
        sum(int(np.prod(s)) for s in real) == sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("cell, layers, bi", TORCH_CASES)
def test_exported_model_inspected_and_converted_back(cell, layers, bi, tmp_path):
    m = _torch_module(cell, layers, bi, seed=3)
    x = np.random.default_rng(8).uniform(-2, 2, (B, T, X)).astype("float32")
    path = tmp_path / "e.onnx"
    _export(m, x, path)
    found = read_layers(path)
    assert len(found) == layers
    for k, f in enumerate(found):
        assert f.spec.framework == "onnx" and f.spec.cell == cell and f.spec.bidirectional == bi
        assert f.spec.reset_after is True  # the exporter sets linear_before_reset = 1 for nn.GRU
        sd = convert_weights(f.weights, cell=cell, source="onnx", target="torch", reset_after=f.spec.reset_after)
        for name, value in sd.items():
            real = m.state_dict()[name.replace("_l0", f"_l{k}")].numpy()
            np.testing.assert_array_equal(value, real)
