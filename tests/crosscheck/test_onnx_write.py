"""Models written by lstmcalc.readers.onnx.write_onnx_model run in onnxruntime to the NumPy
reference of a stack of ONNX nodes (tests/crosscheck/_onnx.py): every cell and direction,
peepholes, both linear_before_reset values, clip, 1-3 layers, with and without initial
states. float32, 1e-5."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from _onnx import random_tensors, run_ort, single_node_model, stacked_reference  # noqa: E402

from lstmcalc.readers.onnx import write_onnx_model  # noqa: E402

OPS = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def _configs():
    for cell, direction, layers in itertools.product(OPS, ("forward", "reverse", "bidirectional"), (1, 3)):
        extras = [{}]
        if cell == "lstm":
            extras = [{"peepholes": True, "clip": 0.8, "states": True}, {"peepholes": False}]
        if cell == "gru":
            extras = [{"linear_before_reset": 0, "states": True}, {"linear_before_reset": 1, "clip": 0.8}]
        if cell == "rnn":
            extras = [{"states": True}, {"clip": 0.8}]
        for e in extras:
            yield {"cell": cell, "direction": direction, "layers": layers, **e}


CONFIGS = list(_configs())


@pytest.mark.parametrize("c", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_written_model_runs_to_the_reference(c, tmp_path):
    rng = np.random.default_rng(len(str(c)))
    cell, op, H, X, T, batch = c["cell"], OPS[c["cell"]], 3, 2, 6, 4
    D = 2 if c["direction"] == "bidirectional" else 1
    layers = [random_tensors(rng, op, H, X if k == 0 else D * H, D, peepholes=c.get("peepholes", False))
              for k in range(c["layers"])]
    path = tmp_path / "m.onnx"
    write_onnx_model(path, layers, cell=cell, hidden_size=H, input_size=X, direction=c["direction"],
                     linear_before_reset=c.get("linear_before_reset", 0), clip=c.get("clip"),
                     initial_states=c.get("states", False))
    x = rng.uniform(-2, 2, (T, batch, X)).astype("float32")
    feeds = {"X": x}
    L = c["layers"]
    if c.get("states"):
        feeds["initial_h"] = rng.uniform(-1, 1, (L * D, batch, H)).astype("float32")
        if op == "LSTM":
            feeds["initial_c"] = rng.uniform(-1, 1, (L * D, batch, H)).astype("float32")
    got = run_ort(path, feeds)

    attrs = {"direction": c["direction"], "clip": c.get("clip")}
    if op == "GRU":
        attrs["linear_before_reset"] = c.get("linear_before_reset", 0)
    ref_layers = []
    for k, t in enumerate(layers):
        t64 = {s: a.astype("float64") for s, a in t.items()}
        if c.get("states"):
            t64["initial_h"] = feeds["initial_h"][k * D:(k + 1) * D].astype("float64")
            if op == "LSTM":
                t64["initial_c"] = feeds["initial_c"][k * D:(k + 1) * D].astype("float64")
        ref_layers.append(t64)
    want = stacked_reference(op, x.astype("float64"), ref_layers, **attrs)
    assert [g.shape for g in got] == [w.shape for w in want]
    assert got[0].shape == (T, D, batch, H) and got[1].shape == (L * D, batch, H)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_onnxruntime_runs_float32_only(op):
    """Why the writer writes float32: onnxruntime 1.32 has no double kernel for these ops."""
    rng = np.random.default_rng(11)
    tensors = random_tensors(rng, op, 3, 2, 1, dtype="float64")
    model = single_node_model(op, tensors, input_size=2, hidden_size=3, dtype="float64")
    with pytest.raises(Exception, match="does not support double|Could not find an implementation"):
        run_ort(model, {"X": np.zeros((5, 4, 2))})
