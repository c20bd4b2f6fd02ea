"""`convert` from a .tflite (issue 24, item 5): the converted weights run in the target
framework itself (torch.nn.LSTM / RNN, keras.layers.LSTM / SimpleRNN, onnxruntime) to the
LiteRT interpreter's first invoke; what a target cannot hold is refused with the reason
(exit 1), the converter's cell_clip = 10 included unless --drop-cell-clip.

Where the clip is dropped the inputs keep |c| < 10 by construction: c_0 = 0 and
|c_t| ≤ |f|·|c_{t-1}| + |i|·|g| ≤ |c_{t-1}| + 1, so |c_t| ≤ t ≤ T = 5 or 6 here.
Tolerances: float32, 1e-5 (measured: 4e-7 at most)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

litert = pytest.importorskip("ai_edge_litert.interpreter")
tflite = pytest.importorskip("tflite")
torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tflite_build import bidirectional_lstm_model, lstm_model, random_lstm, random_rnn, rnn_model, step_lstm_model  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from lstmcalc.cli import app  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "tflite"
ATOL = 1e-5


def interpret(path, x):
    it = litert.Interpreter(model_path=str(path))
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"]).copy()


def convert(path, to, out, *flags):
    r = CliRunner().invoke(app, ["convert", str(path), "--to", to, "-o", str(out), *flags])
    return r


def converted(path, to, out, *flags) -> dict:
    r = convert(path, to, out, *flags)
    assert r.exit_code == 0, r.output
    return dict(np.load(out)) if str(out).endswith(".npz") else {}


def torch_run(w: dict, x, *, cell="lstm", units, bidirectional=False, proj=0, relu=False):
    """(B, T, X) -> (B, T, D·H_out) through a real torch.nn.LSTM / RNN holding ``w``."""
    if cell == "rnn":
        m = torch.nn.RNN(x.shape[2], units, batch_first=True, nonlinearity="relu" if relu else "tanh")
    else:
        m = torch.nn.LSTM(x.shape[2], units, batch_first=True, bidirectional=bidirectional, proj_size=proj)
    m.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()})
    with torch.no_grad():
        return m(torch.from_numpy(x))[0].numpy()


def keras_run(w: dict, x, *, cell="lstm", units, relu=False):
    keras = pytest.importorskip("keras")
    layer = (keras.layers.SimpleRNN(units, return_sequences=True, activation="relu" if relu else "tanh")
             if cell == "rnn" else keras.layers.LSTM(units, return_sequences=True))
    layer.build(x.shape)
    layer.set_weights([w["kernel"], w["recurrent_kernel"], w["bias"]])
    return np.asarray(keras.ops.convert_to_numpy(layer(x)))


def onnx_run(path, x):
    """(T, B, X) -> Y (T, D, B, H) in onnxruntime."""
    ort = pytest.importorskip("onnxruntime")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"X": x})[0]


# --- the converter's fixtures (cell_clip = 10) ------------------------------------------------


@pytest.mark.parametrize("name", ["lstm_u4_x3_float32", "lstm_u32_x40_float32", "lstm_u32_x40_float16"])
def test_converter_fixture_runs_in_torch_keras_and_onnxruntime_as_in_the_interpreter(tmp_path, name):
    d = np.load(FIXTURES / f"{name}.npz")
    x = d["x"]  # (B, T, X), T = 5: |c| ≤ 5, the clip of 10 never acts
    ref = interpret(FIXTURES / f"{name}.tflite", x)
    h = ref.shape[2]
    w = converted(FIXTURES / f"{name}.tflite", "torch", tmp_path / "t.npz", "--drop-cell-clip")
    np.testing.assert_allclose(torch_run(w, x, units=h), ref, rtol=0, atol=ATOL)
    w = converted(FIXTURES / f"{name}.tflite", "keras", tmp_path / "k.npz", "--drop-cell-clip")
    np.testing.assert_allclose(keras_run(w, x, units=h), ref, rtol=0, atol=ATOL)
    converted(FIXTURES / f"{name}.tflite", "onnx", tmp_path / "m.onnx", "--drop-cell-clip")
    y = onnx_run(tmp_path / "m.onnx", np.ascontiguousarray(x.swapaxes(0, 1)))
    np.testing.assert_allclose(y[:, 0].swapaxes(0, 1), ref, rtol=0, atol=ATOL)


@pytest.mark.parametrize("to", ["torch", "keras", "onnx", "keras2", "mlx", "equinox", "flax"])
def test_the_converters_cell_clip_is_refused_without_the_flag(tmp_path, to):
    out = tmp_path / "o.npz"
    r = convert(FIXTURES / "lstm_u4_x3_float32.tflite", to, out)
    assert r.exit_code == 1 and r.stdout == "" and not out.exists()
    assert "a clip of the cell state (10)" in r.stderr and "|c| passes 10" in r.stderr
    assert "--drop-cell-clip" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    if to == "onnx":  # ONNX's clip attribute is another thing: named, not mapped
        assert "pre-activation" in r.stderr


def test_drop_cell_clip_warns_on_stderr_and_in_json(tmp_path):
    r = convert(FIXTURES / "lstm_u4_x3_float32.tflite", "torch", tmp_path / "o.npz", "--drop-cell-clip", "--json")
    assert r.exit_code == 0
    assert r.stderr.strip() == ("lstmcalc: warning: cell_clip = 10 left out: TFLite clips c to ±10 every step, "
                                "PyTorch does not, so the outputs differ wherever |c| passes 10")
    (w,) = json.loads(r.stdout)["warnings"]
    assert w["dropped"] == "cell_clip" and w["value"] == 10.0


def test_drop_cell_clip_is_refused_where_there_is_no_clip(tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(lstm_model(random_lstm(np.random.default_rng(0), units=4, features=3), units=4, batch=2,
                                time=5, features=3))
    r = convert(path, "torch", tmp_path / "o.npz", "--drop-cell-clip")
    assert r.exit_code == 2 and "--drop-cell-clip" in r.stderr and "no cell clip" in r.stderr and r.stdout == ""
    assert not (tmp_path / "o.npz").exists()


def test_a_dropped_clip_does_change_outputs_once_c_passes_it(tmp_path):
    """So the warning is true. Input and forget gates held open (biases 6), the candidate
    follows the sign of x's first feature (weight 4): 16 steps of x = +1 drive c to about
    16 (the interpreter stops it at 10), then x = −1 brings it down by about 1 a step, so
    the clipped c crosses 0 some 6 steps before the unclipped one and h differs there."""
    rng = np.random.default_rng(5)
    a = random_lstm(rng, units=4, features=3)
    a[12] = a[12] + 6  # input gate bias
    a[13] = a[13] + 6  # forget gate bias
    a[3] = np.zeros((4, 3), np.float32)
    a[3][:, 0] = 4  # input-to-cell: g ≈ tanh(4 x_0)
    a[7] = 0.05 * a[7]  # recurrent-to-cell: small, so x decides g
    path = tmp_path / "m.tflite"
    path.write_bytes(lstm_model(a, units=4, batch=2, time=30, features=3, cell_clip=10.0))
    x = np.zeros((2, 30, 3), np.float32)
    x[:, :16, 0], x[:, 16:, 0] = 1, -1
    ref = interpret(path, x)
    w = converted(path, "torch", tmp_path / "o.npz", "--drop-cell-clip")
    got = torch_run(w, x, units=4)
    np.testing.assert_allclose(got[:, :6], ref[:, :6], rtol=0, atol=ATOL)  # |c| ≤ 6: the same
    assert np.abs(got - ref).max() > 0.1


# --- hybrid and full-integer storage -------------------------------------------------------------


def int8_positions(path) -> dict:
    """{position: (int8 array, scale)} of the fused op's INT8 inputs, read from the flatbuffer here."""
    m = tflite.Model.GetRootAsModel(Path(path).read_bytes(), 0)
    g = m.Subgraphs(0)
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        if m.OperatorCodes(op.OpcodeIndex()).BuiltinCode() == tflite.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM:
            out = {}
            for pos, ti in enumerate(op.InputsAsNumpy()):
                t = g.Tensors(ti) if ti >= 0 else None
                if t is not None and t.Type() == tflite.TensorType.INT8:
                    raw = m.Buffers(t.Buffer()).DataAsNumpy().view(np.int8).reshape(t.ShapeAsNumpy())
                    out[pos] = (raw, np.float32(t.Quantization().Scale(0)))
            return out
    raise AssertionError("no fused LSTM")


def test_hybrid_converts_as_its_dequantized_weights_with_a_warning(tmp_path):
    path = FIXTURES / "lstm_u32_x40_hybrid.tflite"
    q = int8_positions(path)
    assert sorted(q) == [1, 2, 3, 4, 5, 6, 7, 8]
    r = convert(path, "torch", tmp_path / "o.npz", "--drop-cell-clip", "--json")
    assert r.exit_code == 0
    warned = json.loads(r.stdout)["warnings"]
    assert [w.get("int8_tensors") for w in warned] == [None, 8]
    assert "8 weight tensors are stored as int8" in r.stderr
    w = np.load(tmp_path / "o.npz")
    h = 32
    for k in range(4):  # torch rows i, f, g, o = TFLite positions 1-4 (input) and 5-8 (recurrent)
        for pos, key in ((1 + k, "weight_ih_l0"), (5 + k, "weight_hh_l0")):
            a, s = q[pos]
            np.testing.assert_array_equal(w[key][k * h:(k + 1) * h], (a.astype(np.float64) * s).astype(np.float32))
    d = np.load(FIXTURES / "lstm_u32_x40_hybrid.npz")
    ref = interpret(path, d["x"])
    diff = np.abs(torch_run(dict(w), d["x"], units=h) - ref).max()
    assert 1e-4 < diff < 2e-2  # the hybrid kernel's input rounding, which float arithmetic does not do


def test_full_integer_is_refused(tmp_path):
    r = convert(FIXTURES / "lstm_u32_x40_int8.tflite", "torch", tmp_path / "o.npz", "--drop-cell-clip")
    assert r.exit_code == 1 and "full-integer" in r.stderr and r.stdout == ""
    assert not (tmp_path / "o.npz").exists()


# --- assembled variants and ops ------------------------------------------------------------------


def _lstm(tmp_path, seed=0, *, time=6, proj=0, **opts):
    rng = np.random.default_rng(seed)
    arrays = random_lstm(rng, units=4, features=3, proj=proj, **opts)
    path = tmp_path / "m.tflite"
    path.write_bytes(lstm_model(arrays, units=4, batch=2, time=time, features=3, proj=proj,
                                diagonal=opts.get("diagonal", False)))
    return path, rng.standard_normal((2, time, 3)).astype(np.float32)


def test_peepholes_convert_to_onnx_and_run_in_onnxruntime(tmp_path):
    path, x = _lstm(tmp_path, 1, peepholes=True)
    ref = interpret(path, x)
    converted(path, "onnx", tmp_path / "m.onnx")
    y = onnx_run(tmp_path / "m.onnx", np.ascontiguousarray(x.swapaxes(0, 1)))
    np.testing.assert_allclose(y[:, 0].swapaxes(0, 1), ref, rtol=0, atol=ATOL)
    for to, says in (("torch", "PyTorch's LSTM has no peephole"), ("keras", "Keras 3 LSTM has no peephole")):
        r = convert(path, to, tmp_path / "o.npz")
        assert r.exit_code == 1 and says in r.stderr and r.stdout == ""


def test_projection_converts_to_torch_proj_size(tmp_path):
    path, x = _lstm(tmp_path, 2, proj=3)
    ref = interpret(path, x)
    w = converted(path, "torch", tmp_path / "t.npz")
    np.testing.assert_allclose(torch_run(w, x, units=4, proj=3), ref, rtol=0, atol=ATOL)
    for to in ("keras", "onnx"):
        r = convert(path, to, tmp_path / "o.npz")
        assert r.exit_code == 1 and "projection" in r.stderr and r.stdout == ""


@pytest.mark.parametrize("opts, says", [
    (dict(cifg=True), "a coupled input and forget gate"),
    (dict(layer_norm=True), "layer normalisation"),
    (dict(diagonal=True), "diagonal recurrent weights"),
    (dict(proj=3, proj_bias=True), "a bias after the projection"),
])
@pytest.mark.parametrize("to", ["torch", "keras", "onnx"])
def test_variants_no_target_has_are_refused_with_the_reason(tmp_path, opts, says, to):
    path, _ = _lstm(tmp_path, **opts)
    out = tmp_path / "o.npz"
    r = convert(path, to, out)
    assert r.exit_code == 1 and says in r.stderr and r.stdout == "" and not out.exists()


def test_bidirectional_op_converts_to_torch_and_onnx(tmp_path):
    rng = np.random.default_rng(3)
    fw = {k: v for k, v in random_lstm(rng, units=4, features=3).items()}
    bw = random_lstm(rng, units=4, features=3)
    path = tmp_path / "bi.tflite"
    path.write_bytes(bidirectional_lstm_model(fw, bw, units=4, batch=2, time=6, features=3))
    xt = rng.standard_normal((6, 2, 3)).astype(np.float32)  # time-major, the op's default
    ref = interpret(path, xt)  # (T, B, 2H)
    w = converted(path, "torch", tmp_path / "t.npz")
    got = torch_run(w, np.ascontiguousarray(xt.swapaxes(0, 1)), units=4, bidirectional=True)
    np.testing.assert_allclose(got.swapaxes(0, 1), ref, rtol=0, atol=ATOL)
    converted(path, "onnx", tmp_path / "m.onnx")
    y = onnx_run(tmp_path / "m.onnx", xt)  # (T, 2, B, H)
    np.testing.assert_allclose(np.concatenate([y[:, 0], y[:, 1]], axis=2), ref, rtol=0, atol=ATOL)


def test_one_step_lstm_op_converts_to_torch_and_keras(tmp_path):
    rng = np.random.default_rng(4)
    path = tmp_path / "step.tflite"
    path.write_bytes(step_lstm_model(random_lstm(rng, units=4, features=3), units=4, batch=2, features=3))
    x = rng.standard_normal((2, 3)).astype(np.float32)
    ref = interpret(path, x)  # (B, H)
    w = converted(path, "torch", tmp_path / "t.npz")
    np.testing.assert_allclose(torch_run(w, x[:, None], units=4)[:, 0], ref, rtol=0, atol=ATOL)
    w = converted(path, "keras", tmp_path / "k.npz")
    np.testing.assert_allclose(keras_run(w, x[:, None], units=4)[:, 0], ref, rtol=0, atol=ATOL)


@pytest.mark.parametrize("relu", [False, True])
def test_rnn_op_converts_to_torch_keras_and_onnx(tmp_path, relu):
    rng = np.random.default_rng(5 + relu)
    path = tmp_path / "rnn.tflite"
    path.write_bytes(rnn_model(random_rnn(rng, units=4, features=3), units=4, batch=2, time=6, features=3,
                               relu=relu))
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    ref = interpret(path, x)
    w = converted(path, "torch", tmp_path / "t.npz")
    np.testing.assert_allclose(torch_run(w, x, cell="rnn", units=4, relu=relu), ref, rtol=0, atol=ATOL)
    w = converted(path, "keras", tmp_path / "k.npz")
    np.testing.assert_allclose(keras_run(w, x, cell="rnn", units=4, relu=relu), ref, rtol=0, atol=ATOL)
    converted(path, "onnx", tmp_path / "m.onnx")
    y = onnx_run(tmp_path / "m.onnx", np.ascontiguousarray(x.swapaxes(0, 1)))
    np.testing.assert_allclose(y[:, 0].swapaxes(0, 1), ref, rtol=0, atol=ATOL)
