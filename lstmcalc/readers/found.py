"""What every reader returns: :class:`FoundLayer` (a layer found in a file, its spec, weights
and per-gate :class:`GateStats`), and the helpers the format modules share (NumPy only)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .. import frameworks
from ..tensors import unknown_options
from ..counting import total_count
from ..errors import FileError
from ..frameworks import DIRECTIONS, GATE_NAMES, all_tensors, gate_order, weights_key
from ..spec import LayerSpec
from .limits import check_numbers

FILES_EXTRA = "pip install 'lstmcalc[files]'"



@dataclass(frozen=True)
class Stats:
    """Summary of some numbers: how many, mean, std, min, max and max |w| (float64)."""

    count: int
    mean: float
    std: float
    min: float
    max: float
    max_abs: float

    @classmethod
    def of(cls, a) -> Stats:
        a = np.asarray(a, dtype=np.float64).ravel()
        if a.size == 0:
            return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0)
        return cls(int(a.size), float(a.mean()), float(a.std()), float(a.min()), float(a.max()), float(np.abs(a).max()))

    def to_dict(self) -> dict:
        return {
            "count": self.count,
            "mean": self.mean,
            "std": self.std,
            "min": self.min,
            "max": self.max,
            "max_abs": self.max_abs,
        }



@dataclass(frozen=True)
class GateStats:
    """The weights of one gate in one layer and direction, summarised.

    ``bias`` covers every bias value of the gate (both vectors where the framework keeps
    two); ``bias_input`` / ``bias_recurrent`` split them (PyTorch ``bias_ih`` / ``bias_hh``,
    Keras GRU bias rows 0 / 1) and are ``None`` where there is one bias. The ``"proj"``
    row holds PyTorch's ``weight_hr`` in ``projection`` and nothing else.
    """

    layer: int
    direction: str  # "forward" | "backward"
    gate: str  # i, f, g, o | z, r, n | h | "proj"
    name: str  # "forget", "candidate", ...
    input_weights: Stats | None  # this gate's block of kernel / weight_ih
    recurrent_weights: Stats | None  # its block of recurrent_kernel / weight_hh
    bias: Stats | None  # None without bias
    bias_input: Stats | None
    bias_recurrent: Stats | None
    projection: Stats | None = None

    def to_dict(self) -> dict:
        def d(s):
            return None if s is None else s.to_dict()

        return {
            "layer": self.layer,
            "direction": self.direction,
            "gate": self.gate,
            "name": self.name,
            "input_weights": d(self.input_weights),
            "recurrent_weights": d(self.recurrent_weights),
            "bias": d(self.bias),
            "bias_input": d(self.bias_input),
            "bias_recurrent": d(self.bias_recurrent),
            "projection": d(self.projection),
        }



@dataclass(frozen=True)
class FoundLayer:
    """One recurrent layer found in a file: what it is, its weights, and their statistics."""

    name: str  # Keras layer name ("encoder/lstm_1" inside a nested model); PyTorch module prefix
    spec: LayerSpec  # inferred from the config (Keras archives) and the tensor names and shapes
    weights: dict = field(compare=False, repr=False)  # {our key (frameworks.weights_key): np.ndarray}
    gates: tuple[GateStats, ...] = field(compare=False, repr=False)  # gate by gate, framework order
    file: str = ""  # the path as given
    location: str = ""  # where in the file: h5 group, or state_dict prefix ("" for bare names)
    # options the file does not say (no config), with the values its tensors allow; the spec
    # holds a placeholder for them (converting.unknown_options), never reported as fact
    unknown: dict = field(default_factory=dict, compare=False)
    # what the config says where the spec holds a stand-in: Keras merge_mode=None (the two
    # directions returned apart) is counted as concat, and reported as None; an ONNX RNN node
    # whose activations lstmcalc does not run: activation None (its attributes say which)
    reported: dict = field(default_factory=dict, compare=False)
    # the node's attributes where the file format has them (ONNX: readers.onnx.node_attributes,
    # with "not_modelled" listing what lstmcalc's forward pass does not compute); None elsewhere
    attributes: dict | None = field(default=None, compare=False)
    # other conventions whose names and shapes fit these tensors exactly as well (bias-free
    # weight_ih, weight_hh: an Equinox LSTMCell or a PyTorch LSTMCell): never guessed between;
    # read_layers asks for the framework unless it was given
    also: tuple[str, ...] = field(default=(), compare=False)
    # Keras files: the Keras version the file records (legacy .h5 keras_version attribute, a
    # .keras archive's metadata.json), None where it records none
    keras_version: str | None = field(default=None, compare=False)
    # Keras files with a config: what it says of the options lstmcalc reads from it
    # (KERAS_CONFIG_KEYS, as recorded; a key the config lacks is absent), None without a config
    config: dict | None = field(default=None, compare=False)
    # why lstmcalc cannot run or convert this layer although it reads it (a Keras config's
    # go_backwards=True, a gate or candidate function it does not compute): read_layer refuses
    refused: tuple = field(default=(), compare=False)

    @property
    def total(self) -> int:
        return total_count(self.spec)

    def to_dict(self) -> dict:
        """JSON-ready::

            {"name", "cell", "framework", "units", "input", "layers", "bidirectional", "bias",
             "proj_size", "reset_after" (GRU, else null), "merge_mode" (Keras Bidirectional, else null),
             "activation" (SimpleRNN/RNN, or what a Keras config says, else null),
             "recurrent_activation" (LSTM/GRU gate function: sigmoid, hard_sigmoid_keras2,
             hard_sigmoid_keras3, what else a config says, null where unknown; else null),
             "keras_version" (what a Keras file records, else null), "config" (what a Keras
             config says of KERAS_CONFIG_KEYS, else null), "refused" (why run and convert refuse
             it), "unknown": {option: [allowed values]},
             "total", "file", "location",
             "gates": [{"layer", "direction", "gate", "name", "input_weights", "recurrent_weights",
                        "bias", "bias_input", "bias_recurrent", "projection"}, ...],
             "attributes": ONNX node attributes (readers.onnx.node_attributes), else null}

        where each statistics entry is ``{"count", "mean", "std", "min", "max", "max_abs"}``
        or null, and ``total`` is :func:`lstmcalc.counting.total_count` of the spec. An option
        the file does not say is null, and listed in ``unknown`` with the values it may have.
        """
        s = self.spec
        known = lambda name, value: None if name in self.unknown else value  # noqa: E731
        return {
            "name": self.name,
            "cell": s.cell,
            "framework": s.framework,
            "units": s.units,
            "input": s.input_size,
            "layers": s.layers,
            "bidirectional": s.bidirectional,
            "bias": s.bias,
            "proj_size": s.proj_size,
            "reset_after": known("reset_after", s.reset_after) if s.cell == "gru" else None,
            "merge_mode": self.reported.get("merge_mode", known("merge_mode", s.merge_mode))
            if s.bidirectional and "merge_mode" in frameworks.of(s).OPTIONS else None,
            "activation": self.reported.get("activation", known("activation", s.activation))
            if s.cell == "rnn" or "activation" in self.reported else None,
            "recurrent_activation": self.reported.get("recurrent_activation",
                                                      known("recurrent_activation", s.recurrent_activation))
            if s.cell in ("lstm", "gru") else None,
            "keras_version": self.keras_version,
            "config": self.config,
            "refused": list(self.refused),
            "unknown": {k: list(v) for k, v in self.unknown.items()},
            "total": self.total,
            "file": self.file,
            "location": self.location,
            "gates": [g.to_dict() for g in self.gates],
            "attributes": self.attributes,
        }


def gate_stats(spec: LayerSpec, weights: Mapping[str, np.ndarray]) -> tuple[GateStats, ...]:
    """Per layer, direction and gate (framework order): statistics of each gate's slices.

    ``weights`` under our keys (:func:`lstmcalc.frameworks.weights_key`), shapes as
    :func:`lstmcalc.frameworks.all_tensors` gives them.
    """
    rows = []
    by_slot: dict[tuple[int, str], list] = {}
    for t in all_tensors(spec):
        a = np.asarray(weights[weights_key(spec, t)])
        if t.direction == "both":  # one tensor, directions along axis 0 (ONNX): one view each
            for d, direction in enumerate(DIRECTIONS[: a.shape[0]]):
                by_slot.setdefault((t.layer, direction), []).append((t, a[d : d + 1]))
        else:  # an ONNX direction="reverse" node's one direction is labelled so
            by_slot.setdefault((t.layer, "reverse" if spec.reverse else t.direction), []).append((t, a))
    for (layer, direction), tensors in by_slot.items():
        parts: dict[str, dict[str, np.ndarray]] = {g: {} for g in gate_order(spec)}
        projection = None
        for t, a in tensors:
            if t.role == "projection":
                projection = Stats.of(a)
                continue
            if t.role == "peephole":
                continue  # not a gate block of W/R/B; counted in the breakdown
            for k, s in enumerate(t.slices):
                block = np.take(a, range(s.start, s.stop), axis=s.axis)
                if t.role == "bias" and a.ndim == 2:  # Keras GRU (2, 3H): row 0 input, row 1 recurrent
                    parts[s.gate]["bias_input"], parts[s.gate]["bias_recurrent"] = block[0], block[1]
                elif t.role == "bias_both":  # one tensor, two slices per gate: input side, then recurrent
                    parts[s.gate]["bias_recurrent" if "bias_input" in parts[s.gate] else "bias_input"] = block
                else:
                    parts[s.gate][t.role] = block
        for gate, p in parts.items():
            if "input" not in p:
                continue  # a gate without weights (the coupled input gate of a CIFG LSTM)
            if "bias" in p:
                bias, b_in, b_rec = Stats.of(p["bias"]), None, None
            elif "bias_input" in p:
                b_in, b_rec = Stats.of(p["bias_input"]), Stats.of(p["bias_recurrent"])
                bias = Stats.of(np.concatenate([np.ravel(p["bias_input"]), np.ravel(p["bias_recurrent"])]))
            else:
                bias = b_in = b_rec = None
            rows.append(
                GateStats(layer, direction, gate, GATE_NAMES[gate], Stats.of(p["input"]), Stats.of(p["recurrent"]),
                          bias, b_in, b_rec)
            )
        if projection is not None:
            rows.append(GateStats(layer, direction, "proj", "projection", None, None, None, None, None, projection))
    return tuple(rows)


def found_layer(name: str, spec: LayerSpec, weights: dict, file: str, location: str, unknown: dict | None = None,
           also: tuple[str, ...] = ()) -> FoundLayer:
    """``unknown``: what the file does not say; None for a file without config (then every
    option its tensors cannot show, :func:`~lstmcalc.converting.unknown_options`).
    ``location``: flat files name the tensors by prefix ("encoder.lstm.weight_ih_l0"), h5 files
    by the layer."""
    check_numbers(file, weights, location if not location or location.endswith(".") else f"{name}: ")
    unknown = unknown_options(spec) if unknown is None else unknown
    return FoundLayer(name, spec, weights, gate_stats(spec, weights), file, location, unknown, also=also)


def need(module: str, file: str, why: str):
    """Import an optional reader or say what to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        if module == "torch":
            install = "pip install torch (CPU only: pip install torch --index-url https://download.pytorch.org/whl/cpu)"
        else:
            install = FILES_EXTRA
        raise FileError(f"{file}: reading {why} needs the {module.split('.')[0]} package: {install}") from None


def plain(a: np.ndarray) -> np.ndarray:
    """bfloat16 / float8 arrays (ml_dtypes, registered once Keras or JAX is imported) as float32."""
    if a.dtype.kind == "V" or a.dtype.name.startswith(("bfloat16", "float8")):
        try:
            return a.astype(np.float32)
        except (TypeError, ValueError):
            return a
    return a


def spec_options(spec: LayerSpec) -> dict:
    """make_spec keywords that rebuild ``spec``."""
    options = dict(
        units=spec.units, input_size=spec.input_size, cell=spec.cell, framework=spec.framework, bias=spec.bias,
        bidirectional=spec.bidirectional, layers=spec.layers, proj_size=spec.proj_size,
    )
    if spec.cell == "gru":
        options["reset_after"] = spec.reset_after
    if spec.bidirectional and "merge_mode" in frameworks.of(spec).OPTIONS:
        options["merge_mode"] = spec.merge_mode
    return options


def label(f: FoundLayer) -> str:
    return f.name or "(unnamed)"
