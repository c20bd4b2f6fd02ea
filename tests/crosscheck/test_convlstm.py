"""ConvLSTM1D/2D/3D against real Keras 3 (torch backend): counts, tensor names and shapes, gate
slices, input/initial-state/output shapes, the refusals, and every number the notes state.

Each configuration is built as a real ``keras.layers.ConvLSTM{n}D`` (wrapped in
``Bidirectional`` where asked) and called on zeros of the input shape the test itself writes
from Keras' documented layout ((B, T, *S, C) channels_last, (B, T, C, *S) channels_first).
Expected values are what Keras reports (``count_params()``, each weight's ``.shape``, the
shapes the call returns, whether a call with lstmcalc's initial-state shapes is accepted),
never lstmcalc's own arithmetic.
"""

from __future__ import annotations

import json
import math
import os
import random
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from typer.testing import CliRunner  # noqa: E402

from lstmcalc import breakdown, count  # noqa: E402
from lstmcalc.cli import app  # noqa: E402
from lstmcalc.spec import SpecError  # noqa: E402

runner = CliRunner()
CLASSES = {1: "ConvLSTM1D", 2: "ConvLSTM2D", 3: "ConvLSTM3D"}


from helpers import one_thread_per_module  # noqa: E402,F401  (autouse: torch on one thread)


# ---------------------------------------------------------------- configurations


def _configs() -> list[dict]:
    """A seeded grid over rank, filters, channels, kernel sizes, strides, padding, dilation,
    data format, use_bias, Bidirectional with each merge mode, return_sequences/state."""
    rng = random.Random(20261201)
    out = []
    merges = [None, None, "concat", "sum", "mul", "ave"]
    for n in range(60):
        rank = 1 + n % 3
        kernel = tuple(rng.choice((1, 2, 3, 4)) for _ in range(rank))
        mode = rng.choice(("plain", "strides", "dilation"))
        strides = tuple(rng.choice((1, 2, 3)) for _ in range(rank)) if mode == "strides" else (1,) * rank
        dilation = tuple(rng.choice((1, 2, 3)) for _ in range(rank)) if mode == "dilation" else (1,) * rank
        padding = rng.choice(("valid", "same"))
        spatial = tuple(d * (k - 1) + 1 + rng.choice((0, 0, 1, 3, 6)) for k, d in zip(kernel, dilation))
        config = dict(
            cell=f"convlstm{rank}d", units=rng.choice((1, 2, 3, 5)), input_size=rng.choice((1, 2, 4)),
            kernel_size=kernel if rng.random() < 0.7 or len(set(kernel)) > 1 else kernel[0],
            strides=strides, padding=padding, dilation_rate=dilation,
            data_format=rng.choice(("channels_last", "channels_first")), spatial=spatial,
            bias=rng.random() > 0.25, batch=rng.choice((1, 2)), time=rng.choice((1, 2, 3)),
            return_sequences=rng.random() < 0.5, return_state=rng.random() < 0.5,
        )
        merge = merges[n % len(merges)] if n % 4 == 1 else "uni"
        if merge != "uni":
            config["bidirectional"] = True
            if merge is not None:
                config["merge_mode"] = merge
        out.append(config)
    # the README's examples, then one with no spatial size: the count and the tensors, no shapes
    out.append(dict(cell="convlstm2d", units=8, input_size=3, kernel_size=3, strides=(2, 2), padding="same",
                    spatial=(32, 32), return_state=True))
    out.append(dict(cell="convlstm2d", units=64, input_size=3, kernel_size=3))
    return out


CONFIGS = _configs()


def _ids(config: dict) -> str:
    bits = [config["cell"], f"F{config['units']}", f"C{config['input_size']}", f"k{config['kernel_size']}"]
    for key in ("strides", "dilation_rate"):
        if key in config and max(config[key]) > 1:
            bits.append(f"{key[0]}{config[key]}")
    bits += [config.get("padding", "valid"), config.get("data_format", "channels_last")[9:]]
    if config.get("bidirectional"):
        bits.append(f"bi_{config.get('merge_mode', 'default')}")
    if config.get("bias") is False:
        bits.append("nobias")
    bits += ["seq"] * bool(config.get("return_sequences")) + ["state"] * bool(config.get("return_state"))
    return "-".join(map(str, bits)).replace(" ", "")


def _layer(config: dict):
    """The real Keras layer for ``config`` (only the options given are passed)."""
    rank = int(config["cell"][-2])
    kwargs = dict(filters=config["units"], kernel_size=config["kernel_size"])
    for key in ("strides", "padding", "dilation_rate", "data_format", "return_sequences", "return_state"):
        if key in config:
            kwargs[key] = config[key]
    if "bias" in config:
        kwargs["use_bias"] = config["bias"]
    layer = getattr(keras.layers, CLASSES[rank])(**kwargs)
    if config.get("bidirectional"):
        merge = {"merge_mode": config["merge_mode"]} if "merge_mode" in config else {}
        layer = keras.layers.Bidirectional(layer, **merge)
    return layer


def _input_shape(config: dict) -> tuple[int, ...]:
    """Keras' documented input layout, written here (not read from lstmcalc)."""
    b, t, c, s = config.get("batch", 32), config.get("time", 1), config["input_size"], tuple(config["spatial"])
    if config.get("data_format") == "channels_first":
        return (b, t, c) + s
    return (b, t) + s + (c,)


def _call(layer, config: dict, initial_state=None):
    x = np.zeros(_input_shape(config), "float32")
    y = layer(x) if initial_state is None else layer(x, initial_state=initial_state)
    return [tuple(o.shape) for o in (y if isinstance(y, (list, tuple)) else [y])]


def _built(config: dict):
    """(layer, shapes it returns): called on zeros where the spatial size is given, else built
    from an input shape of spatial size 64 per dimension (the weights do not depend on it)."""
    layer = _layer(config)
    if config.get("spatial") is not None:
        return layer, _call(layer, config)
    layer(np.zeros(_input_shape({**config, "spatial": (64,) * int(config["cell"][-2]), "batch": 1}), "float32"))
    return layer, None


def _weight_name(w) -> str:
    return w.path.rsplit("/", 1)[-1]


# ---------------------------------------------------------------- counts, tensors, shapes


@pytest.mark.parametrize("config", CONFIGS, ids=[_ids(c) for c in CONFIGS])
def test_count_tensors_and_shapes_match_keras(config):
    layer, returned = _built(config)
    b = breakdown(**config)
    assert count(**config) == b.total == layer.count_params()
    # every weight, in Keras' order: forward layer's, then the backward layer's
    assert [(t.name, tuple(t.shape)) for t in b.tensors] == [(_weight_name(w), tuple(w.shape)) for w in layer.weights]
    assert sum(t.count for t in b.tensors) == layer.count_params()
    assert sum(g.total for g in b.gates) == layer.count_params()
    if config.get("spatial") is None:
        assert b.outputs == () and b.initial_states == () and b.inputs == ()
        return
    assert [tuple(o.shape) for o in b.outputs] == returned
    assert [tuple(o.shape) for o in b.inputs] == [_input_shape(config)]
    # the initial states lstmcalc lists are what the layer accepts, in its order
    states = [np.full(tuple(o.shape), 0.5, "float32") for o in b.initial_states]
    assert len(states) == (4 if config.get("bidirectional") else 2)
    assert _call(_layer(config), config, initial_state=states) == returned


@pytest.mark.parametrize("config", CONFIGS[:12], ids=[_ids(c) for c in CONFIGS[:12]])
def test_cli_json_matches_keras(config):
    """One CLI --json run per command: the same facts through the command line."""
    layer, returned = _built(config)
    args = ["--cell", config["cell"], "--filters", str(config["units"]), "--input", str(config["input_size"])]
    k = config["kernel_size"]
    args += ["--kernel-size", ",".join(map(str, k)) if isinstance(k, tuple) else str(k)]
    for key in ("strides", "dilation_rate", "spatial"):
        if key in config:
            args += [f"--{key.replace('_', '-')}", ",".join(map(str, config[key]))]
    for key in ("padding", "data_format", "merge_mode"):
        if key in config:
            args += [f"--{key.replace('_', '-')}", config[key]]
    for key in ("batch", "time"):
        if key in config:
            args += [f"--{key}", str(config[key])]
    for flag in ("bidirectional", "return_sequences", "return_state"):
        if config.get(flag):
            args.append(f"--{flag.replace('_', '-')}")
    if config.get("bias") is False:
        args.append("--no-bias")
    r = runner.invoke(app, ["count", *args, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["total"] == layer.count_params()
    r = runner.invoke(app, ["breakdown", *args, "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["total"] == layer.count_params()
    assert [(t["name"], tuple(t["shape"])) for t in data["tensors"]] == [
        (_weight_name(w), tuple(w.shape)) for w in layer.weights]
    assert [tuple(o["shape"]) for o in data["outputs"]] == returned
    assert [tuple(o["shape"]) for o in data["inputs"]] == [_input_shape(config)]


@pytest.mark.parametrize("config", CONFIGS[:30], ids=[_ids(c) for c in CONFIGS[:30]])
def test_constructor_line_builds_the_same_layer(config):
    """The printed keras.layers... line, evaluated, has the same config as the layer built from
    the configuration's keywords."""
    line = breakdown(**config).code[0]
    built = eval(line, {"keras": keras})  # noqa: S307 - our own generated line
    reference = _layer(config)
    strip = ("name", "seed", "dtype", "trainable")
    for a, r in ((built, reference),) + (((built.forward_layer, reference.forward_layer),)
                                         if config.get("bidirectional") else ()):
        ca, cr = a.get_config(), r.get_config()
        for key in strip:
            ca.pop(key, None), cr.pop(key, None)
        if config.get("bidirectional"):
            for key in ("layer", "backward_layer"):
                ca.pop(key, None), cr.pop(key, None)
        assert ca == cr, line


# ---------------------------------------------------------------- gate slices, run on Keras


@pytest.mark.parametrize("cell", ["convlstm1d", "convlstm2d", "convlstm3d"])
@pytest.mark.parametrize("tensor", ["bias", "kernel", "recurrent_kernel"])
def test_gate_slices_are_keras_i_f_c_o(cell, tensor):
    """Fill each gate's slice (as lstmcalc gives it) with a distinct pre-activation and run two
    steps of the real layer: with i = σ(20) ≈ 1, f = σ(−20) ≈ 0, g = tanh(0.5), o = σ(20), every
    position of h_T is tanh(tanh(0.5)); any two gates swapped give another value."""
    rank = int(cell[-2])
    f, c = 3, 2
    kernel = (1,) * rank if tensor == "recurrent_kernel" else tuple(range(2, 2 + rank))  # k = 1: no border
    config = dict(cell=cell, units=f, input_size=c, kernel_size=kernel, spatial=(4,) * rank, batch=1, time=2,
                  bias=tensor == "bias")
    b = breakdown(**config)
    layer = _layer(config)
    _call(layer, config)  # build
    pre = {"i": 20.0, "f": -20.0, "g": 0.5, "o": 20.0}
    values = {}
    for t in b.tensors:
        a = np.zeros(t.shape, "float32")
        if t.name == tensor:
            k = math.prod(kernel)
            # a whole window over all channels (or the F state channels) of value 1 sums to k·C (k·F)
            scale = 1.0 if tensor == "bias" else 1.0 / (k * (c if tensor == "kernel" else f))
            for s in t.slices:
                index = [slice(None)] * len(t.shape)
                index[s.axis] = slice(s.start, s.stop)
                a[tuple(index)] = pre[s.gate] * scale
        values[t.name] = a
    layer.set_weights([values[_weight_name(w)] for w in layer.weights])
    x = np.ones(_input_shape(config), "float32") if tensor == "kernel" else np.zeros(_input_shape(config), "float32")
    if tensor == "recurrent_kernel":
        h0 = np.ones(tuple(b.initial_states[0].shape), "float32")
        c0 = np.zeros(tuple(b.initial_states[1].shape), "float32")
        h = layer(x, initial_state=[h0, c0])
        # after step 1, h_1 = tanh(tanh(0.5)) ≠ 1, so step 2 differs: compare one step
        expected = None
    else:
        h = layer(x)
        expected = math.tanh(math.tanh(0.5))
    h = keras.ops.convert_to_numpy(h)
    if expected is None:  # recurrent: step 1 gives tanh(tanh(0.5)) from h0 = 1; step 2 from that h
        a1 = math.tanh(math.tanh(0.5))  # h_1 everywhere
        sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
        c1 = math.tanh(0.5)
        i2, f2, g2, o2 = (sig(20 * a1), sig(-20 * a1), math.tanh(0.5 * a1), sig(20 * a1))
        c2 = f2 * c1 + i2 * g2
        expected = o2 * math.tanh(c2)
    np.testing.assert_allclose(h, expected, rtol=1e-5, atol=1e-6)


def test_forget_bias_starts_at_one_in_lstmcalcs_f_slice():
    """Keras' unit_forget_bias puts ones in the forget block of a new layer's bias."""
    config = dict(cell="convlstm2d", units=4, input_size=3, kernel_size=3, spatial=(5, 5))
    layer, _ = _built(config)
    bias = np.asarray(next(w for w in layer.weights if _weight_name(w) == "bias"))
    s = next(s for t in breakdown(**config).tensors if t.name == "bias" for s in t.slices if s.gate == "f")
    assert (bias[s.start:s.stop] == 1).all() and bias.sum() == s.stop - s.start


# ---------------------------------------------------------------- refusals Keras also makes


@pytest.mark.parametrize("options,param", [
    (dict(kernel_size=3, strides=2, dilation_rate=2), "strides"),
    (dict(kernel_size=3, strides=(1, 2), dilation_rate=(2, 1)), "strides"),
    (dict(kernel_size=0), "kernel_size"),
    (dict(kernel_size=3, dilation_rate=0), "dilation_rate"),
    (dict(kernel_size=3, padding="causal"), "padding"),
    (dict(kernel_size=(3, 3, 3)), "kernel_size"),
])
def test_what_keras_refuses_when_built_is_refused(options, param):
    with pytest.raises(ValueError):
        keras.layers.ConvLSTM2D(filters=2, **options)
    with pytest.raises(SpecError) as e:
        count(2, 3, cell="convlstm2d", **options)
    assert e.value.param == param


@pytest.mark.parametrize("options,spatial", [
    (dict(kernel_size=3), (2, 8)),
    (dict(kernel_size=3, dilation_rate=3), (6, 7)),
    (dict(kernel_size=(1, 5), strides=2), (9, 4)),
])
def test_an_output_below_one_position_is_refused_as_keras_does(options, spatial):
    config = dict(cell="convlstm2d", units=2, input_size=3, spatial=spatial, batch=1, **options)
    with pytest.raises(ValueError, match="zero or negative"):
        _call(_layer(config), config)
    with pytest.raises(SpecError) as e:
        breakdown(**config)
    assert e.value.param == "kernel_size" and str(min(spatial)) in e.value.problem
    # the same kernel with padding "same" is accepted by both
    same = {**config, "padding": "same"}
    assert [tuple(o.shape) for o in breakdown(**same).outputs] == _call(_layer(same), same)


def test_strides_zero_is_built_by_keras_but_cannot_be_called():
    """Keras builds strides=0 (allow_zero=True) and fails on the call; lstmcalc refuses it."""
    config = dict(cell="convlstm1d", units=2, input_size=1, kernel_size=1, strides=0, spatial=(4,), batch=1)
    layer = _layer(config)
    with pytest.raises(Exception):
        _call(layer, config)
    with pytest.raises(SpecError) as e:
        count(**config)
    assert e.value.param == "strides"


# ---------------------------------------------------------------- the notes' numbers


def _measure(layer, config: dict, name: str, direction: int):
    """One note number, measured on the real layer (``direction`` 0 forward, 1 backward)."""
    inner = layer
    if config.get("bidirectional"):
        inner = layer.forward_layer if direction == 0 else layer.backward_layer
    w = {_weight_name(x): np.asarray(x) for x in inner.weights}
    kernel, rec = w["kernel"], w["recurrent_kernel"]
    gates = kernel.shape[-1] // rec.shape[-2]  # 4F columns over F filters
    rank = kernel.ndim - 2
    if name == "output_spatial":  # h's spatial axes, from a call that returns the state
        h = _call(_layer({**config, "return_state": True, "bidirectional": False}), config)[1]
        return tuple(h[2:] if config.get("data_format") == "channels_first" else h[1:-1])
    return {
        "gates": gates,
        "filters": rec.shape[-2],
        "input_channels": kernel.shape[-2],
        "kernel_volume": math.prod(kernel.shape[:-2]),
        "kernel_shape": tuple(kernel.shape),
        "gate_input_weights": kernel.size // gates,
        "gate_recurrent_weights": rec.size // gates,
        "gate_bias": w["bias"].size // gates if "bias" in w else None,
        "bias_params": w["bias"].size if "bias" in w else None,
        "layer_params": sum(a.size for a in w.values()),
        "total": layer.count_params(),
        "spatial_dims": rank,
        "input_spatial": tuple(config["spatial"]) if config.get("spatial") else None,
    }[name]


@pytest.mark.parametrize("config", CONFIGS[::3] + CONFIGS[-1:], ids=[_ids(c) for c in CONFIGS[::3] + CONFIGS[-1:]])
def test_every_note_number_is_measured_on_keras(config):
    _check_notes(config)


def _check_notes(config: dict) -> None:
    from lstmcalc.explain import CONV_NUMBER_NAMES

    layer, _ = _built(config)
    b = breakdown(**config)
    assert b.note_numbers and all(b.note_numbers)
    for numbers in b.note_numbers:
        for number in numbers:
            assert number.name in CONV_NUMBER_NAMES
            directions = 2 if config.get("bidirectional") and number.scope != "whole configuration" else 1
            for d in range(directions):
                if number.name in ("output_spatial",) and config.get("spatial") is None:
                    continue
                spatial_config = config if config.get("spatial") else {**config, "spatial": (64,) * int(config["cell"][-2])}
                assert _measure(layer, spatial_config, number.name, d) == number.value, (number, d)


def test_every_conv_number_name_has_a_measurement():
    from lstmcalc.explain import CONV_NUMBER_NAMES

    config = dict(cell="convlstm2d", units=2, input_size=3, kernel_size=3, spatial=(5, 5), batch=1)
    layer, _ = _built(config)
    for name in CONV_NUMBER_NAMES:
        assert _measure(layer, config, name, 0) is not None, name  # a KeyError for a name not measured here


# ---------------------------------------------------------------- the golden files' numbers


def _golden_cases() -> dict:
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "test_convlstm_counting.py"
    spec = importlib.util.spec_from_file_location("_convlstm_golden_cases", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.GOLDEN_CASES


GOLDEN_CASES = _golden_cases()
NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?![\w])")


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden_numbers(name, width):
    """Every number in tests/golden/breakdown_<name>_<width>.txt is a quantity Keras reports
    for the same layer (or a size given in the configuration, or a constant of the printed
    formulas); the title's total, each tensor row and each shape row are checked in place."""
    from pathlib import Path

    config = GOLDEN_CASES[name]
    text = (Path(__file__).resolve().parents[1] / "golden" / f"breakdown_{name}_{width}.txt").read_text("utf-8")
    layer, returned = _built(config)
    halves = [layer.forward_layer, layer.backward_layer] if config.get("bidirectional") else [layer]
    total = layer.count_params()
    assert re.search(rf": {total:,} parameters", " ".join(text.split()))
    weights = [(_weight_name(w), tuple(w.shape), int(np.prod(w.shape))) for w in layer.weights]
    rows = re.findall(r"^\s+(?:fw|bw)?\s*(kernel|recurrent_kernel|bias)\s+\(([\d, ]+),?\)\s+([\d,]+)", text, re.M)
    assert [(n, tuple(int(v) for v in s.split(",") if v.strip()), int(c.replace(",", ""))) for n, s, c in rows] == weights
    shapes = [tuple(int(v) for v in s.split(",") if v.strip())
              for s in re.findall(r"^\s+(?:in|out)\s+\w+\s+\(([\d, ]+),?\)", text, re.M)]
    if returned is None:
        assert shapes == [] and "In and out" not in text
        expected_shapes = []
    else:
        states = list(returned[1:]) or (
            [_call(_layer({**config, "return_state": True, "return_sequences": False}), config)[1]]
            * (4 if config.get("bidirectional") else 2))
        expected_shapes = [_input_shape(config)] + states[: 4 if config.get("bidirectional") else 2] + returned
        assert shapes == expected_shapes
    # everything else: each number must be one Keras reports (or a given size, or a formula constant)
    allowed = {total, 1, 2 if config.get("bidirectional") else 1, config.get("batch", 32), config.get("time", 1)}
    for half in halves:
        w = {_weight_name(x): tuple(x.shape) for x in half.weights}
        sizes = {k: int(np.prod(s)) for k, s in w.items()}
        f4 = w["kernel"][-1]
        gates = f4 // w["recurrent_kernel"][-2]
        allowed |= {sum(sizes.values()), gates, len(w["kernel"]) - 1, *sizes.values()}
        allowed |= {v // gates for v in sizes.values()} | {sum(sizes.values()) // gates}
        allowed |= {d for s in w.values() for d in s} | {j * f4 // gates for j in range(gates + 1)}
        allowed.add(int(np.prod(w["kernel"][:-2])))
    for key in ("kernel_size", "strides", "dilation_rate", "spatial"):
        value = config.get(key)
        allowed |= set(value) if isinstance(value, tuple) else {value} if value is not None else set()
    allowed |= {d for s in expected_shapes for d in s}
    numbers = [int(n.replace(",", "")) for n in NUMBER.findall(text)]
    assert numbers and not [n for n in numbers if n not in allowed]


@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden_note_numbers(name):
    """The notes in the golden files: each number they state, through note_numbers."""
    _check_notes(GOLDEN_CASES[name])


# ---------------------------------------------------------------- files that hold a ConvLSTM


@pytest.mark.parametrize("wrap", [False, True])
def test_a_keras_file_with_only_a_convlstm_is_refused_in_one_line(tmp_path, wrap):
    layer = keras.layers.ConvLSTM1D(2, 3, name="clstm")
    model = keras.Sequential([keras.Input((3, 8, 2)), keras.layers.Bidirectional(layer, name="bi") if wrap else layer])
    said = "Bidirectional(ConvLSTM1D) 'bi'" if wrap else "ConvLSTM1D 'clstm'"
    path = tmp_path / "conv.keras"
    model.save(path)
    for args in (["inspect", str(path)], ["convert", str(path), "-o", str(tmp_path / "o.npz")],
                 ["diff", str(path), str(path)]):
        r = runner.invoke(app, args)
        assert r.exit_code == 1 and r.stdout == "", (args, r.output)
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and f"{said} is a ConvLSTM" in lines[0], r.stderr
        assert "counts and shapes only (count, breakdown" in lines[0]
    assert not (tmp_path / "o.npz").exists()
