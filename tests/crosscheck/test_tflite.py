"""TFLite (LiteRT) against the real interpreter (ai-edge-litert, no TensorFlow): the
converter's fixtures (tests/fixtures/tflite, made by make_fixtures.py) and models assembled
here with the tflite package's builder for the variants no converter emits (issue 24)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

litert = pytest.importorskip("ai_edge_litert.interpreter")
pytest.importorskip("tflite")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from tflite_build import (bidirectional_lstm_model, lstm_model, random_lstm, random_rnn, rnn_model,  # noqa: E402
                          step_lstm_model)

from lstmcalc import count  # noqa: E402
from lstmcalc.readers import read_layers  # noqa: E402
from lstmcalc.running import run_layer  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "tflite"
ATOL = 1e-6  # float32: measured 2.4e-7 at most


def interpret(path, x, invokes=1, reset_between=False):
    it = litert.Interpreter(model_path=str(path))
    it.allocate_tensors()
    outs = []
    for _ in range(invokes):
        if reset_between:
            it.reset_all_variables()
        it.set_tensor(it.get_input_details()[0]["index"], x)
        it.invoke()
        outs.append(it.get_tensor(it.get_output_details()[0]["index"]).copy())
    return outs


def file_constant_elements(path) -> int:
    """Elements of every constant input of the fused op, counted from the flatbuffer directly
    (each tensor once per position it feeds)."""
    import tflite

    m = tflite.Model.GetRootAsModel(Path(path).read_bytes(), 0)
    g = m.Subgraphs(0)
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        code = m.OperatorCodes(op.OpcodeIndex())
        if max(code.BuiltinCode(), code.DeprecatedBuiltinCode()) == tflite.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM:
            total = 0
            for pos, ti in enumerate(op.InputsAsNumpy()):
                if ti >= 0 and pos not in (0, 18, 19):
                    total += int(np.prod(g.Tensors(ti).ShapeAsNumpy()))
            return total
    raise AssertionError("no fused LSTM")


@pytest.mark.parametrize("name", ["lstm_u4_x3_float32", "lstm_u32_x40_float32", "lstm_u32_x40_float16",
                                  "lstm_u32_x40_hybrid", "lstm_u32_x40_int8"])
def test_count_is_keras_count_params_and_the_file(name):
    d = np.load(FIXTURES / f"{name}.npz")
    (found,) = read_layers(FIXTURES / f"{name}.tflite")
    assert found.total == int(d["count_params"]) == file_constant_elements(FIXTURES / f"{name}.tflite")
    assert found.total == count(found.spec.units, found.spec.input_size, framework="tflite")


@pytest.mark.parametrize("name, atol", [("lstm_u4_x3_float32", ATOL), ("lstm_u32_x40_float32", ATOL),
                                        ("lstm_u32_x40_float16", ATOL), ("lstm_u32_x40_hybrid", ATOL)])
def test_run_equals_a_fresh_interpreters_first_invoke(name, atol):
    d = np.load(FIXTURES / f"{name}.npz")
    (ref,) = interpret(FIXTURES / f"{name}.tflite", d["x"])
    (found,) = read_layers(FIXTURES / f"{name}.tflite")
    out = run_layer(found.spec, weights=found.weights, x=d["x"]).result.output
    np.testing.assert_allclose(out, ref, rtol=0, atol=atol)


def test_hybrid_is_not_the_float_model():
    """The hybrid kernel's per-row input quantization is what run reproduces: the float
    arithmetic on the same (dequantized) weights is 1e-3 or more away from the interpreter."""
    d = np.load(FIXTURES / "lstm_u32_x40_hybrid.npz")
    (ref,) = interpret(FIXTURES / "lstm_u32_x40_hybrid.tflite", d["x"])
    (found,) = read_layers(FIXTURES / "lstm_u32_x40_hybrid.tflite")
    plain = {k: v for k, v in found.weights.items() if ":" not in k and k != "asymmetric_quantize_inputs"}
    out = run_layer(found.spec, weights=plain, x=d["x"]).result.output
    assert np.abs(out - ref).max() > 1e-3
    assert found.attributes["options"]["asymmetric_quantize_inputs"] is True
    scales = [p["scale"][0] for p in found.attributes["positions"] if p["dtype"] == "INT8"]
    assert len(scales) == 8 and all(0.004 < s < 0.005 for s in scales)  # U(±0.6) / 127


def test_state_is_kept_between_invokes_and_batch_is_fixed():
    d = np.load(FIXTURES / "lstm_u4_x3_float32.npz")
    path = FIXTURES / "lstm_u4_x3_float32.tflite"
    first, second = interpret(path, d["x"], invokes=2)
    again, = interpret(path, d["x"], invokes=2, reset_between=True)[1:]
    assert np.abs(second - first).max() > 1e-3  # the interpreter continued from the first call's h, c
    np.testing.assert_array_equal(again, first)
    (found,) = read_layers(path)
    said = " ".join(found.attributes["surprises"])
    assert "cell_clip = 10" in said and "positions 18, 19" in said and "fixed at 2" in said
    assert found.spec.cell_clip == 10.0 and found.spec.batch == 2


VARIANTS = [dict(), dict(cifg=True), dict(peepholes=True), dict(cifg=True, peepholes=True),
            dict(proj=3, proj_bias=True), dict(proj=3), dict(layer_norm=True), dict(diagonal=True),
            dict(proj=3, proj_bias=True, layer_norm=True, peepholes=True, cifg=True)]


@pytest.mark.parametrize("opts", VARIANTS, ids=lambda o: ",".join(o) or "plain")
@pytest.mark.parametrize("time_major", [False, True])
def test_assembled_variants_run_and_count_as_the_interpreter(tmp_path, opts, time_major):
    rng = np.random.default_rng(len(opts) + 10 * time_major)
    arrays = random_lstm(rng, units=5, features=3, **opts)
    extra = dict(time_major=True, cell_clip=0.7, proj_clip=0.3 if opts.get("proj") else 0.0) if time_major else {}
    path = tmp_path / "m.tflite"
    path.write_bytes(lstm_model(arrays, units=5, batch=2, time=6, features=3, proj=opts.get("proj", 0),
                                diagonal=opts.get("diagonal", False), **extra))
    x = rng.standard_normal((6, 2, 3) if time_major else (2, 6, 3)).astype(np.float32)
    (ref,) = interpret(path, x)
    (found,) = read_layers(path)
    assert found.total == sum(a.size for a in arrays.values())
    variants = [k for k in ("cifg", "layer_norm", "proj_bias", "diagonal") if opts.get(k)]
    assert found.total == count(5, 3, framework="tflite", proj_size=opts.get("proj", 0),
                                peepholes=opts.get("peepholes", False), **{k: True for k in variants})
    xb = np.ascontiguousarray(x.swapaxes(0, 1)) if time_major else x
    out = run_layer(found.spec, weights=found.weights, x=xb).result.output
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=0, atol=ATOL)


def test_clip_matters_in_the_interpreter(tmp_path):
    """cell_clip 0.7 changes the interpreter's output (so the check above can fail)."""
    rng = np.random.default_rng(3)
    arrays = random_lstm(rng, units=5, features=3)
    x = (3 * rng.standard_normal((2, 6, 3))).astype(np.float32)
    outs = []
    for clip in (0.0, 0.2):
        path = tmp_path / f"m{clip}.tflite"
        path.write_bytes(lstm_model(arrays, units=5, batch=2, time=6, features=3, cell_clip=clip))
        outs.append(interpret(path, x)[0])
    assert np.abs(outs[0] - outs[1]).max() > 1e-2


def test_cli_run_inspect_and_refusals(tmp_path):
    from typer.testing import CliRunner

    from lstmcalc.cli import app

    runner = CliRunner()
    d = np.load(FIXTURES / "lstm_u32_x40_hybrid.npz")
    np.save(tmp_path / "x.npy", d["x"])
    r = runner.invoke(app, ["run", "--weights", str(FIXTURES / "lstm_u32_x40_hybrid.tflite"), "--inputs",
                            str(tmp_path / "x.npy"), "--save", str(tmp_path / "o.npz")])
    assert r.exit_code == 0, r.output
    (ref,) = interpret(FIXTURES / "lstm_u32_x40_hybrid.tflite", d["x"])
    np.testing.assert_allclose(np.load(tmp_path / "o.npz")["output"], ref, rtol=0, atol=ATOL)
    r = runner.invoke(app, ["run", "--weights", str(FIXTURES / "lstm_u32_x40_int8.tflite")])
    assert r.exit_code == 1 and "full-integer" in r.stderr and r.stdout == ""
    r = runner.invoke(app, ["inspect", str(FIXTURES / "gru_u4_x3_while.tflite")])
    assert r.exit_code == 1 and "WHILE loop" in r.stderr and "FULLY_CONNECTED" in r.stderr and r.stdout == ""
    r = runner.invoke(app, ["inspect", "--json", str(FIXTURES / "lstm_u32_x40_int8.tflite")])
    layer = json.loads(r.stdout)["layers"][0]
    assert layer["total"] == 9344 and layer["attributes"]["storage"] == "full integer"
    c_state = layer["attributes"]["states"][1]
    assert c_state["dtype"] == "INT16" and c_state["scale"][0] == 2.0 ** -13  # a power of two
    r = runner.invoke(app, ["count", "-u", "4", "-x", "3", "-f", "tflite", "--cell", "gru"])
    assert r.exit_code == 2 and "no fused GRU" in r.stderr
    r = runner.invoke(app, ["count", "-u", "4", "-x", "3", "-f", "torch", "--variant", "cifg"])
    assert r.exit_code == 2 and "only TFLite has it" in r.stderr


# --- the other fused ops, assembled: BIDIRECTIONAL_SEQUENCE_LSTM, LSTM (one step), RNN --------


def _op_case(kind, rng):
    """(model bytes, {position: array} of its constants, input for the interpreter, input
    for run (B, T, X), count() keywords, expected op name, expected constant positions)."""
    if kind == "bidirectional":
        fw = random_lstm(rng, units=4, features=3, peepholes=True)
        bw = random_lstm(rng, units=4, features=3, peepholes=True)
        model = bidirectional_lstm_model(fw, bw, units=4, batch=2, time=6, features=3, cell_clip=0.9)
        x = rng.standard_normal((6, 2, 3)).astype(np.float32)  # time-major, the op's default
        arrays = {**fw, **{p + 17: a for p, a in bw.items()}}
        return (model, arrays, x, np.ascontiguousarray(x.swapaxes(0, 1)),
                dict(bidirectional=True, peepholes=True, cell_clip=0.9), "BIDIRECTIONAL_SEQUENCE_LSTM")
    if kind == "step":
        arrays = random_lstm(rng, units=4, features=3, proj=3, peepholes=True)
        model = step_lstm_model(arrays, units=4, batch=2, features=3, proj=3, cell_clip=0.5)
        x = (2 * rng.standard_normal((2, 3))).astype(np.float32)
        return model, arrays, x, x[:, None], dict(proj_size=3, peepholes=True), "LSTM"
    relu = kind == "rnn_relu"
    arrays = random_rnn(rng, units=4, features=3)
    model = rnn_model(arrays, units=4, batch=2, time=6, features=3, relu=relu)
    x = rng.standard_normal((2, 6, 3)).astype(np.float32)
    return model, arrays, x, x, dict(cell="rnn"), "UNIDIRECTIONAL_SEQUENCE_RNN"


@pytest.mark.parametrize("kind", ["bidirectional", "step", "rnn_tanh", "rnn_relu"])
def test_assembled_ops_count_inspect_and_run_as_the_interpreter(tmp_path, kind):
    """Counted: the constants assembled (sizes summed here) = count(); inspect names the op
    and each constant's position; run (NumPy) = a fresh interpreter's first invoke, 1e-6
    (measured: 1.2e-7 bidirectional, 6e-8 one step, 3.6e-7 RNN)."""
    from typer.testing import CliRunner

    from lstmcalc.cli import app

    rng = np.random.default_rng(["bidirectional", "step", "rnn_tanh", "rnn_relu"].index(kind))
    model, arrays, x, x_run, keywords, op = _op_case(kind, rng)
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    ref = interpret(path, x)[0]
    (found,) = read_layers(path)
    assert found.total == sum(a.size for a in arrays.values())
    clip = keywords.pop("cell_clip", None)
    assert found.total == count(4, 3, framework="tflite", **keywords)
    r = CliRunner().invoke(app, ["inspect", "--json", str(path)])
    assert r.exit_code == 0, r.output
    layer = json.loads(r.stdout)["layers"][0]
    attributes = layer["attributes"]
    assert attributes["op"] == op and layer["total"] == found.total
    assert sorted(p["position"] for p in attributes["positions"]) == sorted(arrays)
    assert all(s["variable"] for s in attributes["states"])
    if clip:
        assert found.spec.cell_clip == pytest.approx(clip) and f"cell_clip = {clip:g}" in " ".join(attributes["surprises"])
    if kind == "rnn_relu":
        assert found.spec.activation == "relu"
    out = run_layer(found.spec, weights=found.weights, x=x_run).result.output
    if kind == "step":
        out = out[:, 0]  # run's (B, 1, P); the op's (B, P)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=0, atol=ATOL)


def test_bidirectional_clip_and_peepholes_matter_in_the_interpreter(tmp_path):
    """The bidirectional check above can fail: without the backward peepholes, or without
    the clip, the interpreter gives other outputs."""
    rng = np.random.default_rng(0)
    model, arrays, x, _, _, _ = _op_case("bidirectional", rng)
    fw = {p: a for p, a in arrays.items() if p < 18}
    bw = {p - 17: a for p, a in arrays.items() if p >= 18}
    outs = []
    for bw_k, clip in ((bw, 0.9), ({p: a for p, a in bw.items() if p not in (9, 10, 11)}, 0.9), (bw, 0.0)):
        path = tmp_path / f"m{len(outs)}.tflite"
        path.write_bytes(bidirectional_lstm_model(fw, bw_k, units=4, batch=2, time=6, features=3, cell_clip=clip))
        outs.append(interpret(path, x)[0])
    assert np.abs(outs[0] - outs[1]).max() > 1e-3 and np.abs(outs[0] - outs[2]).max() > 1e-3


def test_run_cli_on_the_bidirectional_op(tmp_path):
    """run --weights m.tflite --inputs (B, T, X): the op's time-major output (T, B, 2H)."""
    from typer.testing import CliRunner

    from lstmcalc.cli import app

    model, _, x, x_run, _, _ = _op_case("bidirectional", np.random.default_rng(0))
    path = tmp_path / "m.tflite"
    path.write_bytes(model)
    np.save(tmp_path / "x.npy", x_run)
    r = CliRunner().invoke(app, ["run", "--weights", str(path), "--inputs", str(tmp_path / "x.npy"), "--save",
                                 str(tmp_path / "o.npz")])
    assert r.exit_code == 0, r.output
    np.testing.assert_allclose(np.load(tmp_path / "o.npz")["output"], interpret(path, x)[0], rtol=0, atol=ATOL)
