"""Real ``torch.onnx.export`` of nn.LSTM / nn.GRU / nn.RNN (bidirectional, stacked), with the
legacy TorchScript exporter (dynamo=False) and torch 2.13's default (dynamo) exporter, read
back with :func:`lstmcalc.readers.onnx.read_onnx`. The tensors read, moved to PyTorch names by
the test-local code below (independent of lstmcalc's converters), must be exactly the module's
parameters and so reproduce its outputs. Also records what each exporter writes."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from _frameworks import one_thread  # noqa: E402
from _onnx import run_ort  # noqa: E402

from lstmcalc.readers.onnx import read_onnx, read_onnx_model  # noqa: E402

CLASSES = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "RNN": torch.nn.RNN}
EXPORTERS = {"legacy": {"dynamo": False}, "default": {}}  # default: torch 2.13's dynamo=True
# PyTorch's gate order per ONNX gate order: rows of weight_ih are (i, f, g, o) / (r, z, n)
TORCH_FROM_ONNX = {"LSTM": (0, 2, 3, 1), "GRU": (1, 0, 2), "RNN": (0,)}  # torch block j = onnx block [j]


def export(module, x, path, exporter: str):
    """torch.onnx.export with the exporter's chatter silenced (torchvision notices, progress)."""
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings(), one_thread():
            warnings.simplefilter("ignore")
            kwargs = dict(EXPORTERS[exporter])
            if exporter == "default":
                kwargs["verbose"] = False
            torch.onnx.export(module, (x,), str(path), **kwargs)
    finally:
        logging.disable(logging.NOTSET)


def to_torch_names(nodes, gates_of: str) -> dict:
    """ONNX node tensors -> a PyTorch state_dict (test-local): node k is layer k; direction 0
    of W/R/B is the forward weights, 1 the "_reverse" ones; gate blocks reordered from
    i, o, f, c (z, r, h) to i, f, g, o (r, z, n); B's first half is bias_ih, second bias_hh."""
    order = TORCH_FROM_ONNX[gates_of]
    G = len(order)
    state = {}
    for k, node in enumerate(nodes):
        W, R, B = node.array("W"), node.array("R"), node.array("B")
        H = R.shape[-1]

        def reorder(a):
            blocks = np.split(a, G, axis=0)
            return np.concatenate([blocks[j] for j in order], axis=0)

        for d in range(W.shape[0]):
            suffix = f"_l{k}" + ("_reverse" if d == 1 else "")
            state[f"weight_ih{suffix}"] = reorder(W[d])
            state[f"weight_hh{suffix}"] = reorder(R[d])
            if B is not None:
                state[f"bias_ih{suffix}"] = reorder(B[d, : G * H])
                state[f"bias_hh{suffix}"] = reorder(B[d, G * H :])
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}


CASES = [
    # (cell, layers, bidirectional, batch_first, extra kwargs)
    ("LSTM", 1, False, True, {}),
    ("LSTM", 2, True, True, {}),
    ("LSTM", 3, True, False, {}),
    ("LSTM", 2, False, False, {"bias": False}),
    ("GRU", 1, False, True, {}),
    ("GRU", 2, True, True, {}),
    ("GRU", 1, True, False, {"bias": False}),
    ("RNN", 1, False, True, {}),
    ("RNN", 2, True, True, {}),
    ("RNN", 2, True, False, {"nonlinearity": "relu"}),
]


def _id(case):
    cell, layers, bi, bf, extra = case
    return f"{cell}-L{layers}-{'bi' if bi else 'uni'}-{'bf' if bf else 'tm'}" + "".join(f"-{k}={v}" for k, v in extra.items())


def _module(case, seed=0):
    cell, layers, bi, bf, extra = case
    torch.manual_seed(seed)
    m = CLASSES[cell](3, 4, num_layers=layers, bidirectional=bi, batch_first=bf, **extra)
    with torch.no_grad():  # every weight and bias random and different per gate (also bias_ih vs bias_hh)
        for p in m.parameters():
            p.uniform_(-1, 1)
    x = torch.randn(2, 5, 3) if bf else torch.randn(5, 2, 3)
    return m.eval(), x


def _unrolled(case, exporter):
    """torch 2.13's default exporter writes nn.RNN as MatMul/Add/Tanh per time step (below)."""
    return exporter == "default" and case[0] == "RNN"


# every case with each exporter, except nn.RNN with the default exporter, which writes no RNN
# node (test_default_exporter_unrolls_nn_rnn checks what it writes instead)
READABLE = [(case, e) for e in EXPORTERS for case in CASES if not _unrolled(case, e)]


@pytest.mark.parametrize("case, exporter", READABLE, ids=[f"{_id(c)}-{e}" for c, e in READABLE])
def test_export_read_back_reproduces_the_module(case, exporter, tmp_path):
    cell, layers, bi, bf, extra = case
    m, x = _module(case)
    path = tmp_path / "m.onnx"
    export(m, x, path, exporter)
    nodes = read_onnx(path)

    # what the exporter writes: one node per layer, weights as initializers, attributes
    assert [n.op_type for n in nodes] == [cell] * layers
    for k, n in enumerate(nodes):
        assert n.direction == ("bidirectional" if bi else "forward")
        assert n.hidden_size == 4 and n.layout == 0
        assert n.linear_before_reset == (1 if cell == "GRU" else 0)
        assert n.upstream == (() if k == 0 else (nodes[k - 1].name,))
        for slot in ("W", "R") + (("B",) if extra.get("bias", True) else ()):
            assert n.inputs[slot].source == "initializer", (slot, n.inputs[slot])
        assert n.inputs["B"].source == ("initializer" if extra.get("bias", True) else "absent")
        if cell == "LSTM":
            assert n.inputs["P"].source == "absent"
        if cell == "RNN":
            act = "Relu" if extra.get("nonlinearity") == "relu" else "Tanh"
            assert (n.activations or ("Tanh",) * n.num_directions) == (act,) * n.num_directions

    # the tensors read, under PyTorch names, are exactly the module's parameters
    state = to_torch_names(nodes, cell)
    expected = m.state_dict()
    assert sorted(state) == sorted(expected)
    for name, value in expected.items():
        assert torch.equal(state[name], value), name

    # and a fresh module loaded with them reproduces the original's outputs
    fresh = CLASSES[cell](3, 4, num_layers=layers, bidirectional=bi, batch_first=bf, **extra)
    fresh.load_state_dict(state, strict=True)
    with torch.no_grad(), one_thread():
        want, got = m(x), fresh.eval()(x)
    for w, g in zip(torch.utils._pytree.tree_leaves(want), torch.utils._pytree.tree_leaves(got)):
        torch.testing.assert_close(g, w, rtol=0, atol=0)


@pytest.mark.parametrize("exporter", list(EXPORTERS))
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_exported_model_runs_in_onnxruntime_to_the_module(case, exporter, tmp_path):
    """The exporters' own correctness (what lstmcalc's reading rests on): onnxruntime on the
    exported file equals the module, float32, 1e-5."""
    m, x = _module(case, seed=1)
    path = tmp_path / "m.onnx"
    export(m, x, path, exporter)
    import onnx

    feeds = {onnx.load(str(path)).graph.input[0].name: x.numpy()}
    out = run_ort(path, feeds)
    with torch.no_grad():
        want = torch.utils._pytree.tree_leaves(m(x))
    assert len(out) == len(want)
    for o, w in zip(out, want):
        np.testing.assert_allclose(o, w.numpy(), rtol=1e-5, atol=1e-5)


def test_default_exporter_unrolls_nn_rnn(tmp_path):
    """torch 2.13's default exporter writes nn.RNN with no RNN node and no Loop/Scan: one
    MatMul and one Tanh per time step; read_onnx_model says what is there instead."""
    m, x = _module(("RNN", 1, False, True, {}))
    path = tmp_path / "m.onnx"
    export(m, x, path, "default")
    model = read_onnx_model(path)
    assert model.rnn_nodes == () and model.loops == () and model.nested_rnn == ()
    assert model.op_counts["MatMul"] == x.shape[1] == 5 and model.op_counts["Tanh"] == 5
    assert model.opset == 20


@pytest.mark.parametrize("exporter", list(EXPORTERS))
def test_exporters_write_opset_20_and_their_producer(exporter, tmp_path):
    m, x = _module(("LSTM", 1, False, True, {}))
    path = tmp_path / "m.onnx"
    export(m, x, path, exporter)
    model = read_onnx_model(path)
    assert model.opset == 20
    assert model.producer.startswith("pytorch " + torch.__version__.split("+")[0])
    # legacy: initial states computed at run time (Expand of zeros for the batch);
    # default: zero initializers of the traced batch size
    node = model.rnn_nodes[0]
    if exporter == "legacy":
        assert node.inputs["initial_h"].source == "computed" and node.inputs["initial_h"].producer.startswith("Expand")
    else:
        assert node.inputs["initial_h"].source == "initializer"
        assert not node.array("initial_h").any()


def test_legacy_exporter_without_constant_folding_computes_the_weights(tmp_path):
    """do_constant_folding=False: W, R, B are computed from the parameters (Unsqueeze of
    Slice/Concat...); read_onnx evaluates them from the initializers (onnx's reference
    evaluator) and they are the module's parameters (more in test_onnx_published_graphs.py)."""
    m, x = _module(("LSTM", 1, False, True, {}))
    path = tmp_path / "m.onnx"
    logging.disable(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (x,), str(path), dynamo=False, do_constant_folding=False)
    logging.disable(logging.NOTSET)
    (node,) = read_onnx(path)
    assert node.inputs["W"].source == "computed from constants" and node.inputs["W"].producer.startswith("Unsqueeze")
    assert to_torch_names([node], "LSTM").keys() == m.state_dict().keys()
    for name, value in to_torch_names([node], "LSTM").items():
        np.testing.assert_array_equal(value.numpy(), m.state_dict()[name].numpy())


def test_legacy_exporter_with_export_params_false_takes_weights_as_graph_inputs(tmp_path):
    m, x = _module(("GRU", 1, True, True, {}))
    path = tmp_path / "m.onnx"
    export_kwargs = {"dynamo": False, "export_params": False}
    logging.disable(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (x,), str(path), **export_kwargs)
    logging.disable(logging.NOTSET)
    (node,) = read_onnx(path)
    for slot, shape in (("W", (2, 12, 3)), ("R", (2, 12, 4)), ("B", (2, 24))):
        assert node.inputs[slot].source == "graph input"
        assert node.inputs[slot].shape == shape and node.array(slot) is None


def test_projection_is_not_exportable(tmp_path):
    """PyTorch proj_size has no ONNX equivalent. The legacy exporter refuses it; torch 2.13's
    default exporter writes an LSTM node with hidden_size = proj_size and only part of
    weight_ih, which onnxruntime refuses to run (its initial_c has the real hidden size)."""
    torch.manual_seed(0)
    m = torch.nn.LSTM(3, 4, proj_size=2).eval()
    x = torch.randn(5, 2, 3)
    with pytest.raises(Exception, match="projections"):
        export(m, x, tmp_path / "legacy.onnx", "legacy")
    path = tmp_path / "default.onnx"
    export(m, x, path, "default")
    (node,) = read_onnx(path)
    assert node.hidden_size == 2 and node.inputs["W"].shape == (1, 8, 3)  # 4·proj_size rows, not 4·H = 16
    with pytest.raises(Exception, match="initial_c"):
        run_ort(path, {"input": x.numpy()})
    # lstmcalc's reader for inspect/convert refuses it rather than reading an H = 2 LSTM
    from lstmcalc.readers.onnx import OnnxFileError, onnx_layers

    with pytest.raises(OnnxFileError, match=r"initial_c has shape \(1, 2, 4\) but R says H = 2"):
        onnx_layers(path)
