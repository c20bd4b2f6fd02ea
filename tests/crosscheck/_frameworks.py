"""Build the real Keras 3 / PyTorch layer for a configuration and read off what the framework
itself reports: parameter count, tensors (name, shape, owning layer and direction) and the
shapes of what a call on zeros returns. Shared by the cross-check tests.

A *configuration* is a dict of :func:`lstmcalc.count` keywords. Keys that are absent (or
``None`` for ``merge_mode``/``reset_after``) are not passed to the framework either, so the
framework's own default is what gets compared with lstmcalc's reading of "not given".

Nothing here imports lstmcalc: these are the independent facts the tests compare against.
The frameworks are imported inside the functions, after the test module's importorskip.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np

KERAS_CLASSES = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN"}
TORCH_CLASSES = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}
DIRECTIONS = ("forward", "backward")


@dataclass(frozen=True)
class Facts:
    """What a real framework reports for one configuration."""

    total: int  # Keras sum of count_params() over the stack; PyTorch sum(p.numel())
    tensors: tuple[tuple[str, tuple[int, ...]], ...]  # (name, shape), in the framework's order
    places: tuple[tuple[int, str], ...]  # (layer, direction) of each tensor, from the module structure
    per_direction: dict  # {(layer, direction): parameters of that layer and direction}
    outputs: tuple[tuple[int, ...], ...]  # shapes of what the call returns, in order


def describe(config: dict) -> str:
    """A short, complete spelling of a configuration for test ids and assertion messages."""
    return ", ".join(f"{k}={v!r}" for k, v in config.items())


def short_id(config: dict) -> str:
    """A compact pytest id: ``keras-lstm-H3-X2-nobias-bi_sum-L2-seq-state-B4-T5``."""
    parts = [config.get("framework", "keras"), config.get("cell", "lstm")]
    parts += [f"H{config['units']}", f"X{config['input_size']}"]
    if not config.get("bias", True):
        parts.append("nobias")
    if config.get("bidirectional"):
        parts.append(f"bi_{config.get('merge_mode') or 'default'}")
    parts.append(f"L{config.get('layers', 1)}")
    if config.get("proj_size"):
        parts.append(f"P{config['proj_size']}")
    if config.get("reset_after") is not None:
        parts.append(f"reset_after_{config['reset_after']}")
    if config.get("return_sequences"):
        parts.append("seq")
    if config.get("return_state"):
        parts.append("state")
    parts += [f"B{config.get('batch', 32)}", f"T{config.get('time', 1)}"]
    return "-".join(parts)


from helpers import one_thread  # noqa: E402,F401  (defined once, in tests/helpers.py)


# ---------------------------------------------------------------- Keras 3


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    return keras


def keras_stack(config: dict) -> list:
    """Unbuilt Keras layers for ``config``: ``layers`` RNN layers in sequence, all but the last
    with return_sequences=True, each wrapped in Bidirectional when ``bidirectional``."""
    keras = _keras()
    cls = getattr(keras.layers, KERAS_CLASSES[config.get("cell", "lstm")])
    layers = config.get("layers", 1)
    stack = []
    for k in range(layers):
        last = k == layers - 1
        kwargs = {"use_bias": config.get("bias", True)}
        if config.get("reset_after") is not None:
            kwargs["reset_after"] = config["reset_after"]
        kwargs["return_sequences"] = (not last) or config.get("return_sequences", False)
        kwargs["return_state"] = last and config.get("return_state", False)
        if config.get("activation") is not None:
            kwargs["activation"] = config["activation"]  # SimpleRNN: tanh (default) or relu
        layer = cls(config["units"], **kwargs)
        if config.get("bidirectional", False):
            wrap = {} if config.get("merge_mode") is None else {"merge_mode": config["merge_mode"]}
            layer = keras.layers.Bidirectional(layer, **wrap)
        stack.append(layer)
    return stack


def _flat(result) -> list:
    return list(result) if isinstance(result, (list, tuple)) else [result]


def keras_facts(config: dict) -> Facts:
    """Build and call the Keras stack on zeros (B, T, X) float32 and read its facts."""
    keras = _keras()
    stack = keras_stack(config)
    x = np.zeros((config.get("batch", 32), config.get("time", 1), config["input_size"]), "float32")
    for layer in stack:
        x = layer(x)  # intermediate layers return one tensor (B, T, D·H or H)
    outputs = tuple(tuple(int(d) for d in o.shape) for o in _flat(x))

    tensors, places, per_direction = [], [], {}
    for k, layer in enumerate(stack):
        if isinstance(layer, keras.layers.Bidirectional):
            halves = (("forward", layer.forward_layer), ("backward", layer.backward_layer))
        else:
            halves = (("forward", layer),)
        owner = {}
        for direction, sub in halves:
            per_direction[(k, direction)] = sub.count_params()
            for w in sub.weights:
                owner[id(w)] = direction
        # The order under test is the wrapper's own ``.weights``; the halves only say who owns what.
        for w in layer.weights:
            tensors.append((w.name, tuple(int(d) for d in w.shape)))
            places.append((k, owner[id(w)]))
    total = sum(layer.count_params() for layer in stack)
    return Facts(total, tuple(tensors), tuple(places), per_direction, outputs)


# ---------------------------------------------------------------- PyTorch


def torch_module(config: dict):
    """The torch.nn.LSTM / GRU / RNN for ``config`` (batch_first=True)."""
    import torch

    cls = getattr(torch.nn, TORCH_CLASSES[config.get("cell", "lstm")])
    kwargs = dict(
        input_size=config["input_size"],
        hidden_size=config["units"],
        num_layers=config.get("layers", 1),
        bias=config.get("bias", True),
        batch_first=True,
        bidirectional=config.get("bidirectional", False),
    )
    if config.get("proj_size"):
        kwargs["proj_size"] = config["proj_size"]
    if config.get("activation") is not None:
        kwargs["nonlinearity"] = config["activation"]  # torch.nn.RNN: tanh (default) or relu
    return cls(**kwargs)


def torch_facts(config: dict) -> Facts:
    """Build the module, call it on zeros (B, T, X) and read its facts."""
    import torch

    module = torch_module(config)
    with torch.no_grad():
        out, state = module(torch.zeros(config.get("batch", 32), config.get("time", 1), config["input_size"]))
    returned = [out, *state] if isinstance(state, tuple) else [out, state]  # LSTM: (h_n, c_n)
    outputs = tuple(tuple(o.shape) for o in returned)

    tensors = [(name, tuple(p.shape)) for name, p in module.named_parameters()]
    places, per_direction = [], {}
    # (layer, direction) from the module's own grouping: ``all_weights`` is one list of
    # parameters per layer and direction, layer-major, forward before backward.
    directions = 2 if module.bidirectional else 1
    group_of = {}
    for group, params in enumerate(module.all_weights):
        for p in params:
            group_of[id(p)] = (group // directions, DIRECTIONS[group % directions])
    for _, p in module.named_parameters():
        places.append(group_of[id(p)])
        per_direction[group_of[id(p)]] = per_direction.get(group_of[id(p)], 0) + p.numel()
    total = sum(p.numel() for p in module.parameters())
    return Facts(total, tuple(tensors), tuple(places), per_direction, outputs)


# ---------------------------------------------------------------- configurations


def _size(rng: random.Random) -> int:
    """Mostly 1..5, sometimes a larger size."""
    return rng.choice((1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 17, 64))


def _small(rng: random.Random) -> int:
    return rng.choice((1, 2, 3, 4, 5, 17))


def torch_configs(per_class: int, seed: int = 2013) -> list[dict]:
    """``per_class`` configurations for every PyTorch class: cell × bias × bidirectional ×
    layers 1..3 × (for LSTM) projection or not; sizes drawn from a seeded generator."""
    rng = random.Random(seed)
    out = []
    for cell in ("lstm", "gru", "rnn"):
        for bias in (True, False):
            for bidirectional in (False, True):
                for layers in (1, 2, 3):
                    for projected in (False, True) if cell == "lstm" else (False,):
                        for _ in range(per_class):
                            units = _size(rng)
                            if projected and units == 1:
                                units = rng.choice((2, 3, 17))  # needs 0 < P < H
                            config = dict(
                                units=units,
                                input_size=_size(rng),
                                cell=cell,
                                framework="torch",
                                bias=bias,
                                bidirectional=bidirectional,
                                layers=layers,
                                batch=_small(rng),
                                time=_small(rng),
                            )
                            if projected:
                                config["proj_size"] = rng.randint(1, units - 1)
                            out.append(config)
    return out


KERAS_MERGES = (None, "concat", "sum", "mul", "ave")  # None: Bidirectional's default


def keras_configs(seed: int = 315) -> list[dict]:
    """Two configurations for every Keras class: cell × bias × (unidirectional or
    Bidirectional with each merge mode, or none given) × layers 1..3. The pair takes
    complementary (return_sequences, return_state), alternating between the two pairings
    so all four combinations occur for every cell and merge mode; GRU cycles
    reset_after through not given, True and False."""
    rng = random.Random(seed)
    out = []
    index = 0  # configurations so far: cycles reset_after
    classes = 0  # classes so far: alternates the (return_sequences, return_state) pairing
    for cell in ("lstm", "gru", "rnn"):
        for bias in (True, False):
            for merge in ("unidirectional", *KERAS_MERGES):
                for layers in (1, 2, 3):
                    pairs = (((False, False), (True, True)), ((True, False), (False, True)))[classes % 2]
                    classes += 1
                    for return_sequences, return_state in pairs:
                        config = dict(
                            units=_size(rng),
                            input_size=_size(rng),
                            cell=cell,
                            framework="keras",
                            bias=bias,
                            bidirectional=merge != "unidirectional",
                            merge_mode=None if merge == "unidirectional" else merge,
                            layers=layers,
                            reset_after=(None, True, False)[index % 3] if cell == "gru" else None,
                            batch=_small(rng),
                            time=_small(rng),
                            return_sequences=return_sequences,
                            return_state=return_state,
                        )
                        out.append(config)
                        index += 1
    return out


# ---------------------------------------------------------------- the comparison


def mismatches(config: dict, real: Facts, counted: int, explained) -> list[str]:
    """Every way lstmcalc's ``count`` (``counted``) and ``breakdown`` (``explained``) differ
    from the real framework's ``real`` facts, one line each, naming the configuration."""
    where = f"[{describe(config)}]"
    found = []

    def differ(what, expected, got):
        if expected != got:
            found.append(f"{what}: framework {expected!r}, lstmcalc {got!r} {where}")

    differ("count()", real.total, counted)
    differ("breakdown().total", real.total, explained.total)
    differ("tensors (name, shape)", list(real.tensors), [(t.name, tuple(t.shape)) for t in explained.tensors])
    differ("tensors (layer, direction)", list(real.places), [(t.layer, t.direction) for t in explained.tensors])
    differ(
        "tensor counts",
        [int(np.prod(shape, dtype=np.int64)) for _, shape in real.tensors],
        [t.count for t in explained.tensors],
    )
    differ("output shapes", list(real.outputs), [tuple(o.shape) for o in explained.outputs])
    differ("sum of gate rows", real.total, sum(g.total for g in explained.gates))
    per_direction = {}
    for g in explained.gates:
        per_direction[(g.layer, g.direction)] = per_direction.get((g.layer, g.direction), 0) + g.total
    differ("gate rows per (layer, direction)", real.per_direction, per_direction)
    as_json = explained.to_dict()  # what --json prints: the same facts
    differ("to_dict() total", real.total, as_json["total"])
    differ("to_dict() tensors", list(real.tensors), [(t["name"], tuple(t["shape"])) for t in as_json["tensors"]])
    differ("to_dict() outputs", list(real.outputs), [tuple(o["shape"]) for o in as_json["outputs"]])
    return found
