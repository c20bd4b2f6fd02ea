"""The real framework layer for a configuration, measured the ways lstmcalc's sentences talk about
it: per (layer, direction) place and for the whole configuration. Shared by the cross-checks of
explain's and breakdown's numbers and of the golden files. Nothing here imports lstmcalc.

``check_number(config, {"name", "value", "scope"})`` measures a stated number on the real
framework at every place its scope covers and returns what differs (empty: all equal).
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

from _frameworks import DIRECTIONS, keras_stack, torch_module

GATES = {"lstm": 4, "gru": 3, "rnn": 1}  # known, not computed by lstmcalc


def _keras():
    import keras

    return keras


def _torch():
    import torch

    return torch


def _freeze(config: dict) -> tuple:
    return tuple(sorted(config.items()))


class Real:
    """What the real framework layer for one configuration has and returns."""

    def __init__(self, config: dict):
        torch, keras = _torch(), _keras()
        self.config = config
        self.named = []  # (name, shape, (layer, direction)) in the framework's own order
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
            # the initial states the module takes: h_n's (and c_n's) shapes, checked by passing them
            self.initial_states = self.outputs[1:]
            with torch.no_grad():
                given = tuple(torch.zeros(s) for s in self.initial_states)
                module(torch.zeros(b, t, x), given if c_n is not None else given[0])
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
                self.named.append((name, tuple(p.shape), groups[id(p)]))
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
                owner = {}
                halves = ((("forward", layer.forward_layer), ("backward", layer.backward_layer))
                          if isinstance(layer, keras.layers.Bidirectional) else (("forward", layer),))
                for direction, sub in halves:
                    for w in sub.weights:
                        owner[id(w)] = direction
                        role = {"kernel": "input", "recurrent_kernel": "recurrent", "bias": "bias"}[w.name]
                        self.tensors.setdefault((k, direction), {})[role] = keras.ops.convert_to_numpy(w.value)
                for w in layer.weights:  # the wrapper's own order
                    self.named.append((w.name, tuple(int(d) for d in w.shape), (k, owner[id(w)])))
            self.stack = stack
            # the states and the whole sequence, from the same stack asked to return them
            full = dict(config, return_sequences=True, return_state=True)
            y = inputs
            for layer in keras_stack(full):
                y = layer(y)
            sequence, *states = y
            # the initial states each layer of the stack takes: the returned states' shapes (every layer
            # has H units), checked by passing them to the first layer
            per_layer = [tuple(int(d) for d in s.shape) for s in states]
            self.initial_states = per_layer * config.get("layers", 1)
            first = keras_stack(full)[0]
            first(inputs, initial_state=[np.zeros(s, "float32") for s in per_layer])
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
    torch = _torch()
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
    "bias_vectors": lambda c, r, p: _bias_numel(r, p) // r.units,
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
    "upper_layers": lambda c, w: len({k for k, _ in real(c).tensors if k > 0}),
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


