"""ONNX initial_h / initial_c and sequence_lens in lstmcalc.forward, against onnxruntime
(issue 14): a single node with random per-gate weights, every cell and direction, both layouts
for the states lstmcalc takes, float32 1e-5."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from lstmcalc import frameworks  # noqa: E402
from lstmcalc.cells import forward  # noqa: E402
from lstmcalc.frameworks import all_tensors, weights_key  # noqa: E402
from lstmcalc.frameworks import make_spec  # noqa: E402

B, T, X, H = 3, 5, 2, 4
OPS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def _model(cell, direction, weights, d):
    inputs = ["X", "W", "R", "B", "sequence_lens", "initial_h"] + (["initial_c"] if cell == "lstm" else [])
    outputs = ["Y", "Y_h"] + (["Y_c"] if cell == "lstm" else [])
    attrs = {"hidden_size": H, "direction": direction}
    if cell == "gru":
        attrs["linear_before_reset"] = 1
    node = helper.make_node(OPS[cell], inputs, outputs, **attrs)
    state = [d, B, H]
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [T, B, X]),
         helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, [B]),
         helper.make_tensor_value_info("initial_h", TensorProto.FLOAT, state)]
        + ([helper.make_tensor_value_info("initial_c", TensorProto.FLOAT, state)] if cell == "lstm" else []),
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in outputs],
        [helper.make_tensor(k, TensorProto.FLOAT, v.shape, v.ravel().tolist()) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_initial_states_and_lengths_equal_onnxruntime(cell, direction):
    bidir = direction == "bidirectional"
    d = 2 if bidir else 1
    spec = make_spec(H, X, cell=cell, framework="onnx", bidirectional=bidir)
    rng = np.random.default_rng(hash((cell, direction)) % 2**32)
    weights = {weights_key(spec, t): rng.uniform(-0.7, 0.7, t.shape).astype(np.float32) for t in all_tensors(spec)}
    x = rng.uniform(-2, 2, (B, T, X)).astype(np.float32)
    lengths = np.array([5, 2, 4], dtype=np.int32)
    h0 = rng.uniform(-1, 1, (d, B, H)).astype(np.float32)
    c0 = rng.uniform(-1, 1, (d, B, H)).astype(np.float32)
    feeds = {"X": x.transpose(1, 0, 2).copy(), "sequence_lens": lengths, "initial_h": h0}
    if cell == "lstm":
        feeds["initial_c"] = c0
    want = _model(cell, direction, weights, d).run(None, feeds)
    state = (h0, c0) if cell == "lstm" else h0
    got = forward(x, weights, cell=cell, framework="onnx", bidirectional=bidir, initial_state=state,
                  lengths=lengths.tolist())
    np.testing.assert_allclose(got.output, want[0], rtol=0, atol=1e-5)  # Y [T, D, B, H], zeros past each length
    np.testing.assert_allclose(got.h, want[1], rtol=0, atol=1e-5)  # Y_h: each sequence's own last step
    if cell == "lstm":
        np.testing.assert_allclose(got.c, want[2], rtol=0, atol=1e-5)
    assert np.all(got.output[lengths[1]:, :, 1] == 0)  # padding is zero, as onnxruntime gives it


def test_layout_one_takes_batch_major_states():
    spec = make_spec(H, X, cell="gru", framework="onnx", layout=1, reset_after=True)
    shapes = [o.shape for o in frameworks.of(spec).initial_state_shapes(spec)]
    assert shapes == [(32, 1, H)]
