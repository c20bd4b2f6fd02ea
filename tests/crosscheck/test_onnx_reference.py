"""The NumPy reference of the ONNX LSTM / GRU / RNN operators (tests/crosscheck/_onnx.py)
against onnxruntime, over generated configurations: every cell and direction, peepholes,
both linear_before_reset values, clip, initial states, non-default activations. Random
weights and biases everywhere (each gate and each bias half differs). float32, 1e-5."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from _onnx import onnx_reference, random_tensors, run_ort, single_node_model  # noqa: E402

DIRECTIONS = ("forward", "reverse", "bidirectional")


def _configs():
    for op, direction, clip, states in itertools.product(("LSTM", "GRU", "RNN"), DIRECTIONS, (None, 0.7), (False, True)):
        variants = [{}]
        if op == "LSTM":
            variants = [{"peepholes": False}, {"peepholes": True}]
        if op == "GRU":
            variants = [{"linear_before_reset": 0}, {"linear_before_reset": 1}]
        for v in variants:
            yield {"op": op, "direction": direction, "clip": clip, "states": states, **v}


CONFIGS = list(_configs())


def _id(c):
    return "-".join(f"{k}={v}" for k, v in c.items())


def _run_both(c, *, H=3, X=2, T=5, batch=4, seed=0, attrs_extra=None, bias=True):
    rng = np.random.default_rng(seed)
    op, direction = c["op"], c["direction"]
    D = 2 if direction == "bidirectional" else 1
    tensors = random_tensors(rng, op, H, X, D, bias=bias, peepholes=c.get("peepholes", False))
    attrs = dict(attrs_extra or {})
    if c.get("clip") is not None:
        attrs["clip"] = c["clip"]
    if op == "GRU":
        attrs["linear_before_reset"] = c.get("linear_before_reset", 0)
    model = single_node_model(op, tensors, input_size=X, hidden_size=H, direction=direction, attrs=attrs,
                              states=c.get("states", False))
    x = rng.uniform(-2, 2, (T, batch, X)).astype("float32")
    feeds = {"X": x}
    if c.get("states"):
        feeds["initial_h"] = rng.uniform(-1, 1, (D, batch, H)).astype("float32")
        if op == "LSTM":
            feeds["initial_c"] = rng.uniform(-1, 1, (D, batch, H)).astype("float32")
    got = run_ort(model, feeds)
    ref = onnx_reference(op, x.astype("float64"), **{k: v.astype("float64") for k, v in tensors.items()},
                         **{k: v.astype("float64") for k, v in feeds.items() if k != "X"},
                         hidden_size=H, direction=direction, **attrs)
    return got, ref


@pytest.mark.parametrize("c", CONFIGS, ids=_id)
def test_reference_equals_onnxruntime(c):
    got, ref = _run_both(c)
    assert len(got) == len(ref)
    for g, r in zip(got, ref):
        assert g.shape == r.shape
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)


def test_configurations_cover_every_option():
    assert len(CONFIGS) == 3 * 2 * 2 * (2 + 2 + 1)  # directions x clip x states x (LSTM P, GRU lbr, RNN)


def test_clip_changes_the_outputs():
    """The clip in these configurations binds (else the clip checks above prove nothing)."""
    c = {"op": "LSTM", "direction": "forward", "peepholes": True}
    _, unclipped = _run_both({**c, "clip": None})
    _, clipped = _run_both({**c, "clip": 0.7})
    assert np.abs(unclipped[0] - clipped[0]).max() > 1e-2


def test_linear_before_reset_changes_the_outputs():
    """Off by far more than the tolerance: the exporters' silent error (onnxscript#2852)."""
    _, zero = _run_both({"op": "GRU", "direction": "forward", "linear_before_reset": 0})
    _, one = _run_both({"op": "GRU", "direction": "forward", "linear_before_reset": 1})
    assert np.abs(zero[0] - one[0]).max() > 1e-2


def test_no_bias_and_no_states():
    for op in ("LSTM", "GRU", "RNN"):
        got, ref = _run_both({"op": op, "direction": "bidirectional"}, bias=False)
        for g, r in zip(got, ref):
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "op, attrs",
    [
        ("RNN", {"activations": ["Relu"]}),  # torch nn.RNN(nonlinearity="relu") exports this
        ("LSTM", {"activations": ["HardSigmoid", "Softsign", "Elu"], "activation_alpha": [0.3, 0.8],
                  "activation_beta": [0.4]}),
        ("GRU", {"activations": ["LeakyRelu", "ScaledTanh"], "activation_alpha": [0.2, 1.5],
                 "activation_beta": [0.7]}),
        ("LSTM", {"input_forget": 1}),
    ],
)
def test_other_attributes(op, attrs):
    got, ref = _run_both({"op": op, "direction": "forward"}, attrs_extra=attrs)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)


def test_float64_reference_against_float32_onnxruntime_is_not_exact():
    """The tolerance is needed and meaningful: float32 onnxruntime differs from the float64
    reference by more than 0 but less than 1e-5 here."""
    got, ref = _run_both({"op": "LSTM", "direction": "bidirectional", "peepholes": True}, T=20)
    diff = np.abs(got[0] - ref[0]).max()
    assert 0 < diff < 1e-5


def test_onnxruntime_rejects_layout_1():
    """Why the writer uses layout 0: onnxruntime refuses batch-first nodes."""
    rng = np.random.default_rng(1)
    tensors = random_tensors(rng, "LSTM", 3, 2, 1)
    model = single_node_model("LSTM", tensors, input_size=2, hidden_size=3, layout=1)
    with pytest.raises(Exception, match="(?i)layout|batchwise|not supported"):
        run_ort(model, {"X": np.zeros((4, 5, 2), "float32")})


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_layout_1_equals_onnx_reference_evaluator(op):
    """layout 1 (batch-first) against onnx's own ReferenceEvaluator (onnxruntime rejects it),
    and against layout 0 on transposed inputs."""
    from onnx.reference import ReferenceEvaluator

    rng = np.random.default_rng(2)
    H, X, T, batch, D = 3, 2, 5, 4, 2
    tensors = random_tensors(rng, op, H, X, D, peepholes=op == "LSTM", dtype="float64")
    attrs = {"linear_before_reset": 1} if op == "GRU" else {}
    model = single_node_model(op, tensors, input_size=X, hidden_size=H, direction="bidirectional", layout=1,
                              attrs=attrs, dtype="float64")
    x = rng.uniform(-2, 2, (batch, T, X))
    expected = ReferenceEvaluator(model).run(None, {"X": x})
    ours = onnx_reference(op, x, **tensors, direction="bidirectional", layout=1, **attrs)
    time_major = onnx_reference(op, x.swapaxes(0, 1), **tensors, direction="bidirectional", **attrs)
    assert ours[0].shape == (batch, T, D, H) and ours[1].shape == (batch, D, H)
    for e, o, t in zip(expected, ours, time_major):
        np.testing.assert_allclose(o, e, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours[0], time_major[0].transpose(2, 0, 1, 3), rtol=0, atol=0)
    np.testing.assert_allclose(ours[1], time_major[1].swapaxes(0, 1), rtol=0, atol=0)


def test_reference_catches_a_gate_swap():
    """Swapping the o and f blocks of W (iofc read as ifoc) moves the result far past 1e-5."""
    rng = np.random.default_rng(3)
    H = 3
    tensors = random_tensors(rng, "LSTM", H, 2, 1, dtype="float64")
    x = rng.uniform(-2, 2, (5, 4, 2))
    right = onnx_reference("LSTM", x, **tensors)
    W = tensors["W"].copy()
    W[:, H:2 * H], W[:, 2 * H:3 * H] = tensors["W"][:, 2 * H:3 * H], tensors["W"][:, H:2 * H]
    wrong = onnx_reference("LSTM", x, **{**tensors, "W": W})
    assert np.abs(right[0] - wrong[0]).max() > 1e-2
