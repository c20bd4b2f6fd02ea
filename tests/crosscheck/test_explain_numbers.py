"""Every number that ``explain`` and ``breakdown``'s notes state, against real Keras 3 and PyTorch.

For each generated configuration (Keras: unidirectional and Bidirectional with every merge mode,
stacked, GRU in both reset forms, no bias, relu SimpleRNN, return_sequences/return_state;
PyTorch: every cell, stacked, bidirectional, projection, no bias, relu RNN) the test walks the
``numbers`` of every answer in ``explain --json`` and the ``note_numbers`` of ``breakdown --json``.
Each number names what it counts and its scope; the test measures that quantity on the real
framework layer built for the configuration (or the configuration with units or input changed,
as the scope says) at every place the scope covers, and the values must all equal the number.
A number whose name has no measurement here fails the test, so a new number cannot go unchecked.
"""

from __future__ import annotations

import json
import os
import random
import re
from functools import lru_cache

import numpy as np
import pytest

torch = pytest.importorskip("torch")
os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

from typer.testing import CliRunner  # noqa: E402

from _frameworks import DIRECTIONS, keras_stack, one_thread, short_id, torch_module  # noqa: E402
from lstmcalc.cli import app  # noqa: E402

runner = CliRunner()


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_thread():
        yield


# ---------------------------------------------------------------- configurations


def _configs() -> list[dict]:
    rng = random.Random(1111)
    out = []

    def size():
        return rng.choice((1, 1, 2, 3, 4, 5))

    # the asker's four cases, in both frameworks
    for h, x in ((1, 1), (1, 2), (2, 1), (2, 2)):
        out.append(dict(units=h, input_size=x))
        out.append(dict(units=h, input_size=x, framework="torch"))
    # Keras: every cell, Bidirectional with every merge mode (None = its default), stacked, no bias
    for cell in ("lstm", "gru", "rnn"):
        for merge in ("uni", None, "concat", "sum", "mul", "ave"):
            layers = rng.choice((1, 2, 3))
            config = dict(units=size(), input_size=size(), cell=cell, layers=layers,
                          bias=rng.random() > 0.25, batch=rng.choice((1, 3, 32)), time=rng.choice((1, 4)))
            if merge != "uni":
                config["bidirectional"] = True
                if merge is not None:
                    config["merge_mode"] = merge
            if cell == "gru":
                config["reset_after"] = rng.choice((True, False))
            config["return_sequences"] = rng.random() > 0.5
            config["return_state"] = rng.random() > 0.5
            out.append(config)
    # both GRU reset forms, with and without bias, stacked and bidirectional
    for reset_after in (True, False):
        for bias in (True, False):
            out.append(dict(units=3, input_size=2, cell="gru", reset_after=reset_after, bias=bias,
                            layers=2, bidirectional=True))
    # relu SimpleRNN
    out.append(dict(units=2, input_size=3, cell="rnn", activation="relu", layers=2))
    out.append(dict(units=3, input_size=1, cell="rnn", activation="relu", framework="torch", bidirectional=True))
    # PyTorch: every cell, stacked, bidirectional, no bias; LSTM with projection
    for cell in ("lstm", "gru", "rnn"):
        for bidirectional in (False, True):
            for layers in (1, 3):
                out.append(dict(units=size(), input_size=size(), cell=cell, framework="torch",
                                bidirectional=bidirectional, layers=layers, bias=rng.random() > 0.25,
                                batch=rng.choice((1, 5)), time=rng.choice((1, 3))))
    for p, h, layers, bidirectional, bias in ((1, 2, 1, False, True), (2, 4, 2, True, True),
                                              (1, 3, 3, False, False), (3, 5, 2, True, False)):
        out.append(dict(units=h, input_size=3, framework="torch", proj_size=p, layers=layers,
                        bidirectional=bidirectional, bias=bias))
    return out


CONFIGS = _configs()
GATES = {"lstm": 4, "gru": 3, "rnn": 1}  # known, not computed by lstmcalc


def _ids(config):
    return short_id(config) + ("-relu" if config.get("activation") == "relu" else "")


# ---------------------------------------------------------------- the real layers


def _freeze(config: dict) -> tuple:
    return tuple(sorted(config.items()))


class Real:
    """What the real framework layer for one configuration has and returns."""

    def __init__(self, config: dict):
        self.config = config
        self.framework = config.get("framework", "keras")
        self.cell = config.get("cell", "lstm")
        b, t, x = config.get("batch", 32), config.get("time", 1), config["input_size"]
        self.tensors = {}  # (layer, direction) -> {role: array or shape}
        if self.framework == "torch":
            module = torch_module(config)
            with torch.no_grad():
                out, state = module(torch.zeros(b, t, x))
            h_n, c_n = state if isinstance(state, tuple) else (state, None)
            self.outputs = [tuple(out.shape), tuple(h_n.shape)] + ([tuple(c_n.shape)] if c_n is not None else [])
            self.sequence_shape = tuple(out.shape)
            self.state_size = h_n.shape[-1]
            self.cell_state_size = c_n.shape[-1] if c_n is not None else None
            self.units = module.hidden_size
            d = 2 if module.bidirectional else 1
            groups = {}
            for group, params in enumerate(module.all_weights):
                for p in params:
                    groups[id(p)] = (group // d, DIRECTIONS[group % d])
            roles = {"weight_ih": "input", "weight_hh": "recurrent", "bias_ih": "bias_input",
                     "bias_hh": "bias_recurrent", "weight_hr": "projection"}
            for name, p in module.named_parameters():
                role = roles[name.split("_l")[0]]
                self.tensors.setdefault(groups[id(p)], {})[role] = p.detach().numpy()
            self.total = sum(p.numel() for p in module.parameters())
        else:
            stack = keras_stack(config)
            inputs = np.zeros((b, t, x), "float32")
            y = inputs
            for layer in stack:
                y = layer(y)
            returned = list(y) if isinstance(y, (list, tuple)) else [y]
            self.outputs = [tuple(int(d) for d in o.shape) for o in returned]
            self.total = sum(layer.count_params() for layer in stack)
            for k, layer in enumerate(stack):
                halves = ((("forward", layer.forward_layer), ("backward", layer.backward_layer))
                          if isinstance(layer, keras.layers.Bidirectional) else (("forward", layer),))
                for direction, sub in halves:
                    for w in sub.weights:
                        role = {"kernel": "input", "recurrent_kernel": "recurrent", "bias": "bias"}[w.name]
                        self.tensors.setdefault((k, direction), {})[role] = keras.ops.convert_to_numpy(w.value)
            # the states and the whole sequence, from the same stack asked to return them
            full = dict(config, return_sequences=True, return_state=True)
            y = inputs
            for layer in keras_stack(full):
                y = layer(y)
            sequence, *states = y
            self.sequence_shape = tuple(int(d) for d in sequence.shape)
            self.state_size = int(states[0].shape[-1])
            self.cell_state_size = int(states[1].shape[-1]) if self.cell == "lstm" else None
            self.units = stack[-1].forward_layer.units if config.get("bidirectional") else stack[-1].units
        self.per_direction = {place: sum(int(np.prod(np.shape(a))) for a in roles.values())
                              for place, roles in self.tensors.items()}


@lru_cache(maxsize=None)
def _real(frozen: tuple) -> Real:
    return Real(dict(frozen))


def real(config: dict, **changes) -> Real:
    return _real(_freeze({**config, **changes}))


# ---------------------------------------------------------------- measurements


def _gates(r: Real, place) -> int:
    a = r.tensors[place]["input"]
    return (a.shape[0] if r.framework == "torch" else a.shape[1]) // r.units


def _input_features(r: Real, place) -> int:
    a = r.tensors[place]["input"]
    return a.shape[1] if r.framework == "torch" else a.shape[0]


def _bias_numel(r: Real, place) -> int:
    return sum(a.size for role, a in r.tensors[place].items() if role.startswith("bias"))


def _torch_extra(config, r: Real, place) -> int:
    """A torch.nn layer of the same cell reading the same features, minus the Keras layer."""
    cls = getattr(torch.nn, {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}[r.cell])
    twin = cls(input_size=_input_features(r, place), hidden_size=r.units, bias=config.get("bias", True))
    return sum(p.numel() for p in twin.parameters()) - r.per_direction[place]


def _forget_bias(r: Real, place) -> int:
    h = r.units
    values = np.unique(r.tensors[place]["bias"][h:2 * h])
    assert len(values) == 1, values
    return int(values[0]) if values[0] == int(values[0]) else float(values[0])


def _degree(config, key) -> int:
    v = config[key]
    totals = [real(config, **{key: v + k}).total for k in range(3)]
    if totals[2] - 2 * totals[1] + totals[0]:
        return 2
    return 1 if totals[1] != totals[0] else 0


def _keras_twin(config) -> int:
    twin = {k: v for k, v in config.items() if k not in ("framework", "proj_size", "batch", "time")}
    twin["framework"] = "keras"
    if twin.get("cell") == "gru":
        twin["reset_after"] = True
    return real(twin).total


def _torch_twin(config) -> int:
    twin = {k: v for k, v in config.items()
            if k not in ("framework", "merge_mode", "reset_after", "return_sequences", "return_state")}
    twin["framework"] = "torch"
    return real(twin).total


def _units(config, with_):
    return with_.get("units", config["units"])


# name -> (measure at one (layer, direction) place, measure of the whole configuration); None: no such scope
PLACE = {
    "units": lambda c, r, p: r.units,
    "gates": lambda c, r, p: _gates(r, p),
    "input_features": lambda c, r, p: _input_features(r, p),
    "input_feature_adds": lambda c, r, p: real(c, input_size=c["input_size"] + 1).per_direction[p] - r.per_direction[p],
    "layer_params": lambda c, r, p: r.per_direction[p],
    "state_size": lambda c, r, p: r.state_size,
    "cell_state_size": lambda c, r, p: r.cell_state_size,
    "proj_size": lambda c, r, p: r.tensors[p]["projection"].shape[0],
    "projection_weights": lambda c, r, p: r.tensors[p]["projection"].size,
    "cross_unit_weights": lambda c, r, p: r.tensors[p]["recurrent"].size - _gates(r, p) * r.units,
    "biases_per_gate": lambda c, r, p: _bias_numel(r, p) // (_gates(r, p) * r.units),
    "bias_shape": lambda c, r, p: tuple(r.tensors[p]["bias"].shape),
    "second_bias_params": lambda c, r, p: r.tensors[p]["bias_recurrent"].size,
    "torch_extra_params": lambda c, r, p: _torch_extra(c, r, p),
    "forget_bias_init": lambda c, r, p: _forget_bias(r, p),
}
WHOLE = {
    "total": lambda c, w: real(c, **w).total,
    "input_feature_adds": lambda c, w: real(c, input_size=c["input_size"] + 1).total - real(c).total,
    "independent_units_total": lambda c, w: _units(c, w) * real(c, units=1).total,
    "cross_unit_weights": lambda c, w: real(c, **w).total - _units(c, w) * real(c, units=1).total,
    "time_steps": lambda c, w: real(c).sequence_shape[1],
    "layers": lambda c, w: len({k for k, _ in real(c).tensors}),
    "recurrent_layers": lambda c, w: len(real(c).tensors),
    "output_shape": lambda c, w: real(c).outputs[0],
    "output_features": lambda c, w: real(c).sequence_shape[-1],
    "second_bias_params": lambda c, w: sum(r["bias_recurrent"].size for r in real(c).tensors.values()),
    "keras_twin_total": lambda c, w: _keras_twin(c),
    "torch_twin_total": lambda c, w: _torch_twin(c),
    "growth_degree_units": lambda c, w: _degree(c, "units"),
    "growth_degree_inputs": lambda c, w: _degree(c, "input_size"),
}


def places(scope: str, r: Real) -> list | None:
    """The (layer, direction) places a scope covers, or None for the whole configuration."""
    bidirectional = any(d == "backward" for _, d in r.tensors)
    if scope in ("per layer and direction", "per gate, per layer and direction"):
        return sorted(r.tensors)
    m = re.fullmatch(r"layers? (\d+)( and above)?(, each direction)?", scope)
    assert m, f"unknown scope {scope!r}"
    assert bool(m.group(3)) == bidirectional, f"scope {scope!r} must say 'each direction' exactly when bidirectional"
    k = int(m.group(1))
    covered = sorted(p for p in r.tensors if (p[0] >= k if m.group(2) else p[0] == k))
    assert covered, f"scope {scope!r} covers no layer"
    return covered


def check_number(config: dict, number: dict) -> list[str]:
    name, value, scope = number["name"], number["value"], number["scope"]
    value = tuple(value) if isinstance(value, list) else value
    m = re.fullmatch(r"whole configuration(?:, with (units|input) = (\d+))?", scope)
    if m:
        if name not in WHOLE:
            return [f"{name} ({scope}): no real-framework check for this number at this scope"]
        with_ = {} if not m.group(1) else {"units" if m.group(1) == "units" else "input_size": int(m.group(2))}
        got = WHOLE[name](config, with_)
        return [] if got == value else [f"{name} ({scope}) = {value!r}, real framework {got!r}"]
    if name not in PLACE:
        return [f"{name} ({scope}): no real-framework check for this number at this scope"]
    r = real(config)
    found = []
    for place in places(scope, r):
        got = PLACE[name](config, r, place)
        if got != value:
            found.append(f"{name} ({scope}) = {value!r}, real framework {got!r} at layer {place[0]}, {place[1]}")
    return found


def _cli_options(config: dict) -> list[str]:
    args = ["-u", str(config["units"]), "-x", str(config["input_size"])]
    flags = {"cell": "--cell", "framework": "--framework", "merge_mode": "--merge-mode", "layers": "--layers",
             "proj_size": "--proj-size", "batch": "--batch", "time": "--time"}
    for key, flag in flags.items():
        if config.get(key) is not None:
            args += [flag, str(config[key])]
    if config.get("bias") is False:
        args.append("--no-bias")
    for key, flag in (("bidirectional", "--bidirectional"), ("return_sequences", "--return-sequences"),
                      ("return_state", "--return-state")):
        if config.get(key):
            args.append(flag)
    if config.get("reset_after") is not None:
        args.append("--reset-after" if config["reset_after"] else "--no-reset-after")
    return args


def stated_numbers(config: dict) -> list[tuple[str, dict]]:
    """(where, number) for every number of every explain answer and breakdown note."""
    import lstmcalc
    from lstmcalc.explain import answers
    from lstmcalc.spec import make_spec

    if config.get("activation"):  # the CLI has no --activation for explain/breakdown: the library
        spec = make_spec(**config)
        questions = [a.to_dict() for a in answers(spec)]
        notes = lstmcalc.breakdown(**config).to_dict()
    else:
        result = runner.invoke(app, ["explain", *_cli_options(config), "--json"])
        assert result.exit_code == 0, result.stderr
        questions = json.loads(result.stdout)["questions"]
        result = runner.invoke(app, ["breakdown", *_cli_options(config), "--json"])
        assert result.exit_code == 0, result.stderr
        notes = json.loads(result.stdout)
    out = []
    for q in questions:
        out += [(f"explain: {q['question']}", n) for n in q["numbers"]]
    assert len(notes["note_numbers"]) == len(notes["notes"])
    for text, numbers in zip(notes["notes"], notes["note_numbers"]):
        out += [(f"breakdown note: {text[:60]}...", n) for n in numbers]
    return out


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")
@pytest.mark.parametrize("config", CONFIGS, ids=_ids)
def test_every_stated_number_is_the_real_frameworks(config):
    numbers = stated_numbers(config)
    assert numbers
    found = []
    for where, number in numbers:
        found += [f"{where}: {problem}" for problem in check_number(config, number)]
    assert not found, "\n".join(found)


def test_the_configurations_cover_the_issue():
    keras_merges = {c.get("merge_mode", "default") for c in CONFIGS if c.get("bidirectional")
                    and c.get("framework", "keras") == "keras"}
    assert keras_merges == {"default", "concat", "sum", "mul", "ave"}
    assert {c["reset_after"] for c in CONFIGS if c.get("cell") == "gru" and "reset_after" in c} == {True, False}
    assert any(c.get("proj_size") for c in CONFIGS)
    assert any(c.get("layers", 1) > 1 and c.get("bidirectional") for c in CONFIGS)
    assert any(c.get("bias") is False for c in CONFIGS)
    assert {c.get("framework", "keras") for c in CONFIGS if c.get("activation") == "relu"} == {"keras", "torch"}


def test_a_wrong_number_or_scope_is_caught():
    """The checker itself: a number off by one, a per-direction figure called whole, and an
    unknown name all fail."""
    config = dict(units=2, input_size=1, bidirectional=True)
    assert check_number(config, {"name": "input_feature_adds", "value": 16, "scope": "whole configuration"}) == []
    assert check_number(config, {"name": "input_feature_adds", "value": 8, "scope": "whole configuration"})
    assert check_number(config, {"name": "input_feature_adds", "value": 8, "scope": "layer 0, each direction"}) == []
    with pytest.raises(AssertionError):
        check_number(config, {"name": "input_feature_adds", "value": 8, "scope": "layer 0"})
    assert check_number(dict(units=4, input_size=3, layers=2),
                        {"name": "input_feature_adds", "value": 16, "scope": "per layer and direction"})
    assert check_number(config, {"name": "something_new", "value": 1, "scope": "whole configuration"})
