"""Find the recurrent layers in real weight files and describe them (NumPy; h5py, torch and
safetensors imported only for their own file types).

Formats, chosen by extension and then checked by content:

- ``.keras``: Keras 3 archive, a zip with ``config.json`` and ``model.weights.h5``. The
  config gives each LSTM / GRU / SimpleRNN / Bidirectional layer its name, ``units``,
  ``use_bias``, ``reset_after`` and ``merge_mode``; the weights come from the h5, where
  ``keras/src/saving/saving_lib.py`` stores a layer at ``layers/<snake_case class>[_n]``
  (nested models add ``/layers/...``), its cell variables at ``<layer>/cell/vars/0, 1, 2``
  (kernel, recurrent_kernel, bias) and a Bidirectional's halves under
  ``forward_layer/`` and ``backward_layer/``; ``<layer>/vars`` carries the layer name.
- ``.h5`` / ``.hdf5`` (``model.weights.h5``, or a legacy ``model.save("m.h5")`` file):
  the same Keras 3 layout found by its groups, or the legacy layout, where datasets are
  named ``kernel``, ``recurrent_kernel``, ``bias`` (``:0`` in TF-Keras 2) under
  ``[model_weights/]<layer>/<layer>/[forward_|backward_]<rnn>/<cell>/``.
- ``.pt`` / ``.pth`` / ``.bin``: a PyTorch ``state_dict`` (possibly inside a checkpoint
  dict), loaded only with ``torch.load(path, weights_only=True, map_location="cpu")``; or
  (also ``.jit``) a TorchScript archive (``torch.jit.save``: ``code/`` and ``constants.pkl``),
  read as ``torch.jit.load(path, map_location="cpu").state_dict()``, TorchScript's own
  unpickler, after every member's size is checked and unless its code defines a
  ``__setstate__`` (which torch.jit.load would run).
- ``.safetensors``: through ``safetensors.numpy`` (no torch).
- ``.npz``: ``np.load(path, allow_pickle=False)``.
- ``.msgpack``: a Flax parameter tree (``flax.serialization``), paths joined with ``/``.

Every file is checked by :mod:`lstmcalc.limits` before it is read: a regular file, declared
sizes (zip members, HDF5 datasets, the safetensors header, ``.npy`` headers) within the file
and the memory budget, bounded JSON; and after: finite floats of one dtype per layer.

Flat files (state_dict, safetensors, npz) hold PyTorch names, grouped into modules by
their prefix (``encoder.lstm.weight_ih_l0``), or our Keras keys
(:func:`lstmcalc.frameworks.weights_key`). The cell follows from the shapes: the
recurrent tensor holds G blocks of H (4 LSTM, 3 GRU, 1 SimpleRNN).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .frameworks import DIRECTIONS, GATE_NAMES, all_tensors, gate_order, weights_key
from .converting import TORCH_NAME, candidate_frameworks, infer_framework, unknown_options
from .converting import infer_layer_spec as _infer_spec
from .errors import FileError
from .counting import total_count
from . import frameworks
from .frameworks import legacy_h5_framework, make_spec
from .limits import (
    MAX_JSON_BYTES,
    MAX_PICKLE_BYTES,
    SAFETENSORS_DTYPES,
    Budget,
    ZIP_ERRORS,
    check_h5_dataset,
    check_npz,
    check_numbers,
    check_zip_member,
    declared_array,
    declared_bytes,
    is_zip,
    parse_json,
    regular_file,
    safetensors_header,
    size_text,
)
from .spec import LayerSpec, SpecError

FILES_EXTRA = "pip install 'lstmcalc[files]'"
EXTENSIONS = (".keras", ".h5", ".hdf5", ".pt", ".pth", ".bin", ".jit", ".safetensors", ".npz", ".msgpack", ".onnx", ".tflite")
# model files whose layer runs from what the reader returns (its options and states included)
RUNNABLE_EXTENSIONS = (".tflite",)
KERAS_RNN_CLASSES = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "rnn"}
KERAS_CELL_CLASSES = {"LSTMCell": "lstm", "GRUCell": "gru", "SimpleRNNCell": "rnn"}


# --- results ---------------------------------------------------------------------------------


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
    # the node's attributes where the file format has them (ONNX: onnxfile.node_attributes,
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
             "attributes": ONNX node attributes (onnxfile.node_attributes), else null}

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


def _read_onnx(file: str) -> list[FoundLayer]:
    """One layer per LSTM / GRU / RNN node, read by :mod:`lstmcalc.onnxfile` (the onnx package)."""
    from dataclasses import replace

    from .onnxfile import OnnxFileError, onnx_layers

    try:
        nodes = onnx_layers(file, refuse_unmodelled=False)  # inspect shows them; read_layer refuses
    except OnnxFileError as e:
        raise FileError(str(e)) from None
    out = []
    for name, location, weights, options in nodes:
        try:
            spec = _infer_spec(weights, framework="onnx", cell=options["cell"], reset_after=options["reset_after"])
            spec = replace(spec, layout=options["layout"], activation=options["activation"],
                           reverse=options["attributes"]["direction"] == "reverse")
        except (FileError, SpecError) as e:
            raise FileError(f"{file}: {name}: {e}") from None
        # the node's attributes say what its tensors cannot (an RNN's activation): nothing unknown
        found = replace(_found(name, spec, weights, file, location, unknown={}), attributes=options["attributes"])
        if options["attributes"]["not_modelled"] and options["attributes"]["activations"] is not None \
                and spec.cell == "rnn":
            found = replace(found, reported={"activation": None})  # not tanh or relu: never the placeholder
        out.append(found)
    return out


def _read_tflite(file: str) -> list[FoundLayer]:
    """One layer per fused recurrent op of every subgraph, read by :mod:`lstmcalc.tflitefile`."""
    from dataclasses import replace

    from .tflitefile import read_tflite

    out = []
    for name, location, weights, info in read_tflite(file):
        options = {k: v for k, v in info.items() if k != "attributes"}
        try:
            spec = _infer_spec(weights, framework="tflite", cell=options.pop("cell"))
            from .spec import VARIANTS

            keywords = {**_spec_options(spec), "peepholes": spec.peepholes,
                        **{k: getattr(spec, k) for k, v in VARIANTS.items() if getattr(spec, k) != v}, **options}
            if spec.cell == "rnn":
                keywords.pop("cell_clip"), keywords.pop("proj_clip")
            spec = make_spec(**keywords)
        except (FileError, SpecError) as e:
            raise FileError(f"{file}: {name}: {e}") from None
        plain = {k: v for k, v in weights.items() if not frameworks.of(spec).auxiliary(k)}
        found = _found(name, spec, plain, file, location, unknown={})
        out.append(replace(found, weights=weights, attributes=info["attributes"]))
    return out


def _found(name: str, spec: LayerSpec, weights: dict, file: str, location: str, unknown: dict | None = None,
           also: tuple[str, ...] = ()) -> FoundLayer:
    """``unknown``: what the file does not say; None for a file without config (then every
    option its tensors cannot show, :func:`~lstmcalc.converting.unknown_options`).
    ``location``: flat files name the tensors by prefix ("encoder.lstm.weight_ih_l0"), h5 files
    by the layer."""
    check_numbers(file, weights, location if not location or location.endswith(".") else f"{name}: ")
    unknown = unknown_options(spec) if unknown is None else unknown
    return FoundLayer(name, spec, weights, gate_stats(spec, weights), file, location, unknown, also=also)


# --- entry points ------------------------------------------------------------------------------


def read_layers(path, layer: str | None = None, framework: str | None = None) -> list[FoundLayer]:
    """Every recurrent layer in the file at ``path`` (or only the one ``layer`` names).

    ``framework``: the convention the user says the file is in. The tensor names decide,
    never overruled in silence: names that are another convention's are a
    :class:`SpecError` (param ``framework``) saying whose they are, and names that two
    conventions share exactly (a bias-free LSTMCell's ``weight_ih``, ``weight_hh``: Equinox
    and PyTorch alike) are read in the one given, and without one are a :class:`SpecError`
    asking which.

    ``layer`` matches a layer's name, its location in the file, or the part of a name
    before or after a ``.`` or ``/`` (``"encoder"`` or ``"lstm"`` for ``encoder.lstm``,
    ``"second"`` for the Keras ``encoder/second``); a part that matches several layers
    is an error listing them. Raises :class:`FileError` (one line, naming the file)
    for a missing, wrong, damaged or layer-less file.
    """
    file = str(path)
    p = Path(path)
    suffix = p.suffix.lower()
    regular_file(file)  # before anything opens it: no directory, FIFO or device
    if suffix not in EXTENSIONS:
        raise FileError(f"{file}: unknown extension {p.suffix or '(none)'!r}; allowed: {', '.join(EXTENSIONS)}")
    reader = {
        ".keras": _read_keras_archive,
        ".h5": _read_h5_file,
        ".hdf5": _read_h5_file,
        ".pt": _read_torch,
        ".pth": _read_torch,
        ".bin": _read_torch,
        ".jit": _read_torch,  # a TorchScript archive (torch.jit.save)
        ".safetensors": _read_safetensors,
        ".npz": _read_npz,
        ".msgpack": _read_msgpack,
        ".onnx": _read_onnx,
        ".tflite": _read_tflite,
    }[suffix]
    if framework is not None:
        frameworks.get(framework)  # SpecError naming the registered ones
    found = _unique_names(reader(file))
    if not found:
        raise FileError(f"{file}: no LSTM, GRU or SimpleRNN layer in this file")
    if layer is not None:
        found = [_select(found, layer, file)]
    return [_in_framework(f, framework) for f in found]


def _in_framework(f: FoundLayer, framework: str | None) -> FoundLayer:
    """``f`` read in the convention the user gave, or :class:`SpecError` where its names
    say another one, or where they fit several and none was given."""
    spec = f.spec
    if framework is None or framework == spec.framework:
        if f.also and framework is None:
            fits = (spec.framework, *f.also)
            titles = " and ".join(f"{frameworks.get(n).TITLE}'s" for n in fits)
            raise SpecError("framework", f"{f.file}: {_label(f)}: the tensor names {', '.join(f.weights)} and "
                                         f"their shapes are {titles} alike; say which: one of {', '.join(fits)}")
        return f
    if framework in f.also:
        spec = _infer_spec(f.weights, framework=framework, cell=spec.cell)
        return _found(f.name, spec, f.weights, f.file, f.location)
    own = frameworks.get(spec.framework)
    shown = ", ".join(list(f.weights)[:4]) + (", …" if len(f.weights) > 4 else "")
    raise SpecError("framework", f"is {framework}, but the tensor names in {f.file} ({shown}) are "
                                 f"{own.TITLE}'s ({spec.framework}: {own.NAMES_HINT}), not "
                                 f"{frameworks.get(framework).TITLE}'s")


def read_layer(path, layer: str | None = None, framework: str | None = None) -> FoundLayer:
    """The one recurrent layer in ``path``, or the one ``layer`` names.

    A file with several recurrent layers and no ``layer`` is an error listing them, and so is
    a layer whose attributes lstmcalc's forward pass does not compute (an ONNX node's clip,
    activations or input_forget: ``attributes["not_modelled"]``): its weights alone would
    not reproduce the node, so converting or comparing it is refused, naming the attribute.
    """
    found = read_layers(path, layer, framework)
    if len(found) > 1:
        raise FileError(
            f"{path}: holds {len(found)} recurrent layers ({', '.join(_label(f) for f in found)}); "
            "choose one with --layer NAME"
        )
    if found[0].refused:
        raise FileError(f"{path}: {_label(found[0])}: {'; '.join(found[0].refused)}, so lstmcalc cannot convert "
                        "or run this layer (inspect shows it)")
    unmodelled = (found[0].attributes or {}).get("not_modelled")
    if unmodelled:
        raise FileError(f"{path}: {_label(found[0])}: {'; '.join(unmodelled)}, so it cannot convert or run "
                        "this node (inspect shows it)")
    return found[0]


def _label(f: FoundLayer) -> str:
    return f.name or "(unnamed)"


def _unique_names(found: list[FoundLayer]) -> list[FoundLayer]:
    names = [f.name for f in found]
    return [
        f if names.count(f.name) == 1 else replace(f, name=f.location)
        for f in found
    ]


def _names(f: FoundLayer) -> list[str]:
    """A layer's name, and for one ONNX weight set used by several nodes each node's name."""
    return [f.name] + [p["name"] for p in (f.attributes or {}).get("places", ())[1:]]


def _select(found: list[FoundLayer], layer: str, file: str) -> FoundLayer:
    exact = [f for f in found if layer in (f.location, f.location.rstrip("."), *_names(f))]
    if len(exact) == 1:
        return exact[0]
    prefixed = exact or [
        f for f in found
        if any(n.startswith((layer + ".", layer + "/")) or n.endswith(("." + layer, "/" + layer)) for n in _names(f))
    ]
    if len(prefixed) == 1:
        return prefixed[0]
    names = ", ".join(_label(f) for f in found)
    if prefixed:
        matched = ", ".join(_label(f) for f in prefixed)
        raise FileError(f"{file}: layer {layer!r} is ambiguous: it matches {matched}")
    raise FileError(f"{file}: no recurrent layer named {layer!r}; found: {names}")


def _need(module: str, file: str, why: str):
    """Import an optional reader or say what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        if module == "torch":
            install = "pip install torch (CPU only: pip install torch --index-url https://download.pytorch.org/whl/cpu)"
        else:
            install = FILES_EXTRA
        raise FileError(f"{file}: reading {why} needs the {module.split('.')[0]} package: {install}") from None


# --- Keras: .keras archives and .h5 files --------------------------------------------------------


@dataclass
class _H5Rnn:
    """One Keras RNN layer (one direction) found in an h5 file."""

    path: str  # the RNN layer's group
    native: bool  # Keras 3 layout (cell/vars/0, 1, 2), else legacy (kernel, recurrent_kernel, bias)
    arrays: dict  # {"kernel", "recurrent_kernel"[, "bias"]: what the dataset declares (limits.declared_array)}
    sources: dict  # {"kernel", ...: the dataset's path in the file}
    datasets: dict = field(default_factory=dict, repr=False)  # {"kernel", ...: the h5py.Dataset, read last}


@dataclass
class _H5Layer:
    """A Keras layer with its directions: one RNN, or a Bidirectional's two."""

    path: str
    forward: _H5Rnn
    backward: _H5Rnn | None = None


def _snake(name: str) -> str:
    """keras.src.utils.naming.to_snake_case, which names the h5 groups."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# While an h5 file is read: (the h5's size in bytes, the file's memory budget), for the dataset checks.
_H5_LIMITS: ContextVar[tuple[int, Budget]] = ContextVar("_H5_LIMITS")

def _read_keras_archive(file: str) -> list[FoundLayer]:
    _, size = regular_file(file)
    budget = Budget(file)
    if not is_zip(file):
        raise FileError(
            f"{file}: not a zip archive, or a truncated one "
            "(a .keras file is a zip with config.json and model.weights.h5)"
        )
    try:
        with zipfile.ZipFile(file) as z:
            names = set(z.namelist())
            for member in ("config.json", "model.weights.h5"):
                if member not in names:
                    listing = ", ".join(sorted(names)[:5]) + (", …" if len(names) > 5 else "") or "nothing"
                    raise FileError(f"{file}: the archive has no {member} (found: {listing})")
            config_info, h5_info = z.getinfo("config.json"), z.getinfo("model.weights.h5")
            check_zip_member(file, config_info, size, budget, cap=MAX_JSON_BYTES)
            check_zip_member(file, h5_info, size, budget)
            config_bytes = z.read(config_info)
            h5_bytes = z.read(h5_info)
            metadata_bytes = None
            if "metadata.json" in names:  # saving_lib: {"keras_version", "date_saved"}
                metadata_info = z.getinfo("metadata.json")
                check_zip_member(file, metadata_info, size, budget, cap=MAX_JSON_BYTES)
                metadata_bytes = z.read(metadata_info)
    except FileError:
        raise
    except ZIP_ERRORS as e:
        raise FileError(f"{file}: truncated or damaged archive ({_first_line(e)})") from None
    config = parse_json(file, "config.json", config_bytes)
    metadata = parse_json(file, "metadata.json", metadata_bytes) if metadata_bytes is not None else None
    version = _attr_str(metadata.get("keras_version")) if isinstance(metadata, dict) else None
    h5py = _need("h5py", file, ".keras files")
    try:
        h5 = h5py.File(io.BytesIO(h5_bytes), "r")
    except (OSError, ValueError) as e:  # h5py raises both for a damaged file image
        raise FileError(
            f"{file}: model.weights.h5 in the archive is not a readable HDF5 file ({_first_line(e)})"
        ) from None
    token = _H5_LIMITS.set((len(h5_bytes), budget))
    try:
        with h5:
            found = _keras_layers(file, h5, config, archive=True, keras_version=version)
    finally:
        _H5_LIMITS.reset(token)
    if not found:
        conv = _conv_lstm_layers(config)
        if conv:
            cls, name = conv[0]
            raise FileError(f"{file}: no LSTM, GRU or SimpleRNN layer; {cls} {name!r} is a ConvLSTM, which lstmcalc "
                            "counts and shapes only (count, breakdown --cell convlstm1d|2d|3d)")
    return found


CONV_LSTM_CLASSES = ("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")


def _conv_lstm_layers(config, depth: int = 0) -> list[tuple[str, str]]:
    """(class, name) of every ConvLSTM layer in a Keras model config, Bidirectional ones too."""
    out: list[tuple[str, str]] = []
    if depth > 64:
        return out
    if isinstance(config, dict):
        conf = config.get("config") if isinstance(config.get("config"), dict) else {}
        inner = conf.get("layer") if isinstance(conf.get("layer"), dict) else {}
        if config.get("class_name") in CONV_LSTM_CLASSES:
            return [(config["class_name"], str(conf.get("name", "?")))]
        if config.get("class_name") == "Bidirectional" and inner.get("class_name") in CONV_LSTM_CLASSES:
            return [(f"Bidirectional({inner['class_name']})", str(conf.get("name", "?")))]
        for value in config.values():
            out += _conv_lstm_layers(value, depth + 1)
    elif isinstance(config, list):
        for value in config:
            out += _conv_lstm_layers(value, depth + 1)
    return out


def _read_h5_file(file: str) -> list[FoundLayer]:
    h5py = _need("h5py", file, ".h5 files")
    _, size = regular_file(file)
    try:
        if not h5py.is_hdf5(file):
            raise FileError(f"{file}: not an HDF5 file")
        h5 = h5py.File(file, "r")
    except (OSError, ValueError) as e:
        raise FileError(f"{file}: damaged or truncated HDF5 file ({_first_line(e)})") from None
    token = _H5_LIMITS.set((size, Budget(file)))
    try:
        with h5:
            return _keras_layers(file, h5, _legacy_config(file, h5), keras_version=_keras_version(h5))
    except (OSError, RuntimeError, KeyError) as e:  # h5py: damaged groups, links or attributes
        raise FileError(f"{file}: damaged HDF5 file ({_first_line(e)})") from None
    finally:
        _H5_LIMITS.reset(token)


def _legacy_config(file: str, h5):
    """A legacy ``model.save("m.h5")`` file's ``model_config`` attribute, bounded; None when
    absent or unreadable (the weights are then read by their names alone)."""
    if "model_config" not in h5.attrs:
        return None
    try:
        stored = int(h5.attrs.get_id("model_config").get_storage_size())
    except (OSError, KeyError, ValueError, RuntimeError):
        return None
    if stored > MAX_JSON_BYTES:
        raise FileError(f"{file}: the model_config attribute is {size_text(stored)}; allowed: at most "
                        f"{size_text(MAX_JSON_BYTES)}")
    try:
        raw = h5.attrs["model_config"]
    except (OSError, KeyError, ValueError, RuntimeError, TypeError):
        return None
    try:
        return parse_json(file, "the model_config attribute", raw if isinstance(raw, bytes) else str(raw))
    except FileError:
        return None


def _keras_version(h5) -> str | None:
    """The ``keras_version`` attribute a legacy ``model.save`` / ``save_weights`` h5 records
    (keras 2.2.4 ``engine/saving.py``: at the root and on ``model_weights``), else None."""
    for group in (h5, h5.get("model_weights")):
        try:
            value = group.attrs.get("keras_version") if group is not None else None
        except (OSError, KeyError, ValueError, RuntimeError, TypeError, AttributeError):
            value = None
        if isinstance(value, (bytes, str)) and 0 < len(value) <= 64:
            return _attr_str(value)
    return None


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def _declared_dataset(file: str, ds) -> np.ndarray:
    """What an HDF5 dataset declares (shape, dtype), checked against the file, with no data read."""
    size, _ = _H5_LIMITS.get()
    check_h5_dataset(file, ds, size, None)  # dtype, shape, and bytes the file can hold
    return declared_array(file, ds.name, ds.shape, ds.dtype)


def _read_dataset(file: str, ds) -> np.ndarray:
    """A dataset's numbers, its declared size taken from the memory budget before a byte is read."""
    _, budget = _H5_LIMITS.get()
    budget.take(ds.name, declared_bytes(ds.shape, ds.dtype.itemsize))
    try:
        return _plain(np.asarray(ds[()]))
    except (OSError, ValueError, TypeError, RuntimeError) as e:
        raise FileError(f"{file}: {ds.name}: unreadable dataset ({_first_line(e)})") from None


def _read_layer_datasets(file: str, lay: _H5Layer, weights: dict) -> dict:
    """``weights`` (keyed as :func:`_keras_found` keys them, stand-ins) with the layer's datasets read."""
    bidirectional = lay.backward is not None
    out = {}
    for direction, rnn in [("forward", lay.forward), ("backward", lay.backward)]:
        for role, ds in (rnn.datasets if rnn is not None else {}).items():
            key = f"layer0/{direction}/{role}" if bidirectional else role
            if key in weights:
                out[key] = _read_dataset(file, ds)
    return out


def _find_rnns(file: str, h5) -> list[_H5Rnn]:
    """Every Keras RNN layer (one direction) in the h5, by its groups and dataset names."""
    import h5py

    found: list[_H5Rnn] = []

    def visit(name, obj):
        if not isinstance(name, str) or not isinstance(obj, h5py.Group):  # bytes: a name that is not UTF-8
            return
        parts = name.split("/")
        # Keras 3: <layer>/cell/vars/{0,1[,2]}
        if parts[-1] == "vars" and len(parts) >= 2 and parts[-2] == "cell":
            keys = sorted(k for k in obj.keys() if isinstance(k, str))  # h5py gives bytes for non-UTF-8 names
            if keys in (["0", "1"], ["0", "1", "2"]) and all(isinstance(obj[k], h5py.Dataset) for k in keys):
                roles = ("kernel", "recurrent_kernel", "bias")
                arrays = {r: _declared_dataset(file, obj[k]) for r, k in zip(roles, keys)}
                sources = {r: f"{name}/{k}" for r, k in zip(roles, keys)}
                datasets = {r: obj[k] for r, k in zip(roles, keys)}
                found.append(_H5Rnn("/".join(parts[:-2]), True, arrays, sources, datasets))
            return
        # legacy: kernel[:0], recurrent_kernel[:0][, bias[:0]] side by side
        datasets = {
            k.split(":")[0]: obj[k] for k in obj.keys() if isinstance(k, str) and isinstance(obj[k], h5py.Dataset)
        }
        if "kernel" in datasets and "recurrent_kernel" in datasets:
            roles = [k for k in ("kernel", "recurrent_kernel", "bias") if k in datasets]
            arrays = {k: _declared_dataset(file, datasets[k]) for k in roles}
            sources = {k: datasets[k].name.lstrip("/") for k in roles}
            layer_path = "/".join(parts[:-1]) if parts[-1].endswith("_cell") and len(parts) > 1 else name
            found.append(_H5Rnn(layer_path, False, arrays, sources, {k: datasets[k] for k in roles}))

    h5.visititems(visit)
    return found


def _attr_str(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


def _pair_directions(rnns: list[_H5Rnn]) -> list[_H5Layer]:
    """Join a Bidirectional's two halves (Keras 3: forward_layer / backward_layer; legacy:
    forward_<name> / backward_<name>) into one layer at their parent group."""
    by_path = {r.path: r for r in rnns}
    used: set[str] = set()
    layers = []
    for r in rnns:
        if r.path in used:
            continue
        parent, _, base = r.path.rpartition("/")
        partner = None
        if base == "forward_layer":
            partner = by_path.get(f"{parent}/backward_layer" if parent else "backward_layer")
        elif base.startswith("forward_"):
            partner = by_path.get(f"{parent}/backward_{base[len('forward_'):]}" if parent else f"backward_{base[8:]}")
        if partner is not None:
            used.update({r.path, partner.path})
            layers.append(_H5Layer(parent, r, partner))
        elif base == "backward_layer" or base.startswith("backward_"):
            continue  # joined when its forward half comes (or reported alone below)
        else:
            used.add(r.path)
            layers.append(_H5Layer(r.path, r))
    for r in rnns:  # a lone backward half
        if r.path not in used:
            layers.append(_H5Layer(r.path, r))
    return layers


def _native_name(h5, path: str) -> str:
    """Keras 3: the layer name (``vars`` attribute ``name``, else the group's own name),
    after the names of the models it is nested in (``encoder/lstm_1``)."""

    def name_of(group_path: str) -> str:
        group = h5.get(f"{group_path}/vars" if group_path else "vars")
        name = _attr_str(group.attrs.get("name")) if group is not None else None
        return name or group_path.rpartition("/")[2] or "model"

    parts = path.split("/")
    outer = [
        name_of("/".join(parts[: k + 1]))
        for k in range(1, len(parts) - 1)
        if parts[k - 1] in ("layers", "_layer_checkpoint_dependencies")
    ]
    return "/".join(outer + [name_of(path)])


def _legacy_name(path: str) -> str:
    """Legacy h5: [model_weights/]<layer>/<layer>/... -> the weight-name path."""
    parts = path.split("/")
    if parts and parts[0] == "model_weights":
        parts = parts[1:]
    if len(parts) > 1:
        parts = parts[1:]
    return "/".join(parts)


def _config_layers(config) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    """Recurrent layer configs of a Keras model config, by the h5 path saving_lib gives them
    and by (qualified) name. Each: {"class", "config", "backward", "name"}."""
    by_path: dict[str, dict] = {}
    by_name: dict[str, list[dict]] = {}

    def record(path: str, names: list[str], entry: dict):
        cls, conf = entry.get("class_name"), entry.get("config") or {}
        if cls == "Bidirectional":
            inner = conf.get("layer") or {}
            if inner.get("class_name") not in KERAS_RNN_CLASSES:
                return  # Bidirectional(ConvLSTM1D), Bidirectional(RNN(custom cell)): not ours
            item = {"class": inner.get("class_name"), "config": inner.get("config") or {},
                    "backward": (conf.get("backward_layer") or {}).get("config"),
                    "merge_mode": conf.get("merge_mode", "concat"), "bidirectional": True}
        elif cls in KERAS_RNN_CLASSES:
            item = {"class": cls, "config": conf, "bidirectional": False}
        elif cls == "RNN" and ((conf.get("cell") or {}).get("class_name") in KERAS_CELL_CLASSES):
            cell = conf["cell"]
            item = {"class": {v: k for k, v in KERAS_RNN_CLASSES.items()}[KERAS_CELL_CLASSES[cell["class_name"]]],
                    "config": {**(cell.get("config") or {}), **conf}, "bidirectional": False}
        else:
            return
        item["name"] = "/".join(names)
        by_path[path] = item
        by_name.setdefault(item["name"], []).append(item)
        if len(names) > 1:
            by_name.setdefault(names[-1], []).append(item)

    def walk(entry: dict, path: str, names: list[str]):
        if not isinstance(entry, dict):
            return
        cls, conf = entry.get("class_name"), entry.get("config")
        if cls == "Sequential" and isinstance(conf, list):  # Keras 2 before 2.2.3: the layers themselves
            conf = {"layers": conf}
        if isinstance(conf, dict) and isinstance(conf.get("layers"), list):
            children = [c for c in conf["layers"] if isinstance(c, dict)]
            if cls == "Sequential":
                children = [c for c in children if c.get("class_name") != "InputLayer"]
            used: dict[str, int] = {}
            for child in children:
                base = _snake(str(child.get("class_name", "")))
                if base in used:
                    used[base] += 1
                    base = f"{base}_{used[base]}"
                else:
                    used[base] = 0
                child_path = f"{path}/layers/{base}" if path else f"layers/{base}"
                child_name = (child.get("config") or {}).get("name", base)
                walk(child, child_path, names + [str(child_name)])
        else:
            record(path, names, entry)

    walk(config, "", [])
    return by_path, by_name


def _keras_layers(file: str, h5, config, *, archive: bool = False, keras_version: str | None = None
                  ) -> list[FoundLayer]:
    """The recurrent layers of a Keras h5, described by ``config`` where it has them.

    ``archive``: the h5 and the config come from one ``.keras`` file, so every recurrent
    layer in the config must have its weights. ``keras_version``: what the file records.
    """
    layers = _pair_directions(_find_rnns(file, h5))
    by_path, by_name = _config_layers(config) if isinstance(config, dict) else ({}, {})
    matched: set[int] = set()
    out: list[tuple[int, FoundLayer]] = []
    config_order = {id(item): k for k, item in enumerate(by_path.values())}
    for lay in layers:
        if lay.forward.native:
            name = _native_name(h5, lay.path)
            item = by_path.get(lay.path) or by_path.get(lay.path.replace("_layer_checkpoint_dependencies", "layers"))
        else:  # legacy: the names are the weight names
            name = _legacy_name(lay.path)
            item = None
        if item is None:
            candidates = by_name.get(name, []) or by_name.get(name.rpartition("/")[2], [])
            item = candidates[0] if len(candidates) == 1 else None
        if item is None and not _looks_recurrent(lay.forward.arrays):
            continue  # a ConvLSTM or a custom cell: kernel and recurrent_kernel, but not (X, G·H), (H, G·H)
        if item is not None:
            matched.add(id(item))
            name = item["name"] or name
        found = _keras_found(file, lay, item, name or lay.path, keras_version)
        out.append(((config_order.get(id(item), len(config_order)), _natural(lay.path)), found))
    missing = [item for item in by_path.values() if id(item) not in matched]
    if missing and archive:
        item = missing[0]
        where = next(p for p, i in by_path.items() if i is item)
        raise FileError(
            f"{file}: the config lists {item['class']} {item['name']!r} but the weights have no tensors for it"
            f" (expected at {where}/{'forward_layer/' if item['bidirectional'] else ''}cell/vars)"
        )
    return [f for _, f in sorted(out, key=lambda pair: pair[0])]


def _natural(path: str) -> list:
    """A sort key that puts ``lstm_2`` before ``lstm_10``. A ``.weights.h5`` records neither
    the model's layer order nor the groups' creation order (h5py lists them alphabetically),
    but Keras numbers default names in creation order, so layers the config does not place
    come in this order: model order for default names."""
    return [int(part) if k % 2 else part for k, part in enumerate(re.split(r"(\d+)", path))]


def _looks_recurrent(arrays: dict) -> bool:
    """kernel (X, G·H) and recurrent_kernel (H, G·H) with G = 4, 3 or 1."""
    kernel, recurrent = arrays["kernel"], arrays["recurrent_kernel"]
    if kernel.ndim != 2 or recurrent.ndim != 2 or recurrent.shape[0] == 0:
        return False
    blocks, rest = divmod(recurrent.shape[1], recurrent.shape[0])
    return rest == 0 and blocks in (1, 3, 4) and kernel.shape[1] == recurrent.shape[1]


KERAS_CONFIG_KEYS = ("activation", "recurrent_activation", "reset_after", "go_backwards", "return_sequences",
                     "return_state")
HARD_SIGMOIDS = {"2": "hard_sigmoid_keras2", "3": "hard_sigmoid_keras3"}  # by the Keras major version


def _major(version: str | None) -> str | None:
    """'2' for '2.2.4' or '2.15.0-tf', '3' for '3.15.1'; None for no or another version."""
    m = re.match(r"\s*(\d+)\.", version or "")
    return m[1] if m else None


def _activation_name(value) -> str | None:
    """A Keras config's activation: its name ('tanh'), or a serialised function's
    ({"config": "tanh", ...}); None where there is none."""
    if isinstance(value, dict):
        value = value.get("config") if isinstance(value.get("config"), str) else value.get("class_name")
    return value if isinstance(value, str) else None


def _keras_gates(found: FoundLayer, conf: dict | None, version: str | None) -> FoundLayer:
    """``found`` with what the Keras file says of its functions and direction: the gate
    function (a config's ``recurrent_activation``; hard_sigmoid as the recorded Keras version
    defines it), the candidate's ``activation``, ``go_backwards``; what it does not say is
    unknown, and what lstmcalc does not compute is refused (:attr:`FoundLayer.refused`)."""
    from dataclasses import replace

    spec = found.spec
    unknown, reported, refused = dict(found.unknown), dict(found.reported), []
    gates = spec.cell in ("lstm", "gru") and "recurrent_activation" in frameworks.of(spec).OPTIONS
    hard = HARD_SIGMOIDS.get(_major(version))
    if conf is None:
        if gates:  # a bare weights file: Keras 2 defaulted to hard_sigmoid before 2.3, Keras 3 to sigmoid
            unknown["recurrent_activation"] = ("sigmoid",) + ((hard,) if hard else tuple(HARD_SIGMOIDS.values()))
        return replace(found, keras_version=version, unknown=unknown)
    said = {k: conf[k] for k in KERAS_CONFIG_KEYS if k in conf}
    if gates:
        raw = _activation_name(conf.get("recurrent_activation"))
        if raw == "sigmoid" or (raw == "hard_sigmoid" and hard):
            spec = replace(spec, recurrent_activation="sigmoid" if raw == "sigmoid" else hard)
        elif raw == "hard_sigmoid":
            unknown["recurrent_activation"] = tuple(HARD_SIGMOIDS.values())
            refused.append(f"recurrent_activation=hard_sigmoid, and the file records no Keras version 2 or 3 "
                           f"({version or 'none'}): Keras 2's hard_sigmoid is clip(0.2·a + 0.5, 0, 1), Keras 3's "
                           "relu6(a + 3) / 6")
        elif raw is None:
            unknown["recurrent_activation"] = ("sigmoid",) + ((hard,) if hard else tuple(HARD_SIGMOIDS.values()))
            refused.append("its config records no recurrent_activation (the gate function)")
        else:
            reported["recurrent_activation"] = raw
            refused.append(f"recurrent_activation={raw}: lstmcalc computes sigmoid and hard_sigmoid gates only")
    if spec.cell in ("lstm", "gru"):
        raw = _activation_name(conf.get("activation"))
        if raw is not None:
            reported["activation"] = raw
            if raw != "tanh":
                refused.append(f"activation={raw}: lstmcalc computes the {spec.cell.upper()} candidate"
                               f"{' and the cell output' if spec.cell == 'lstm' else ''} with tanh only")
    elif "activation" in conf and _activation_name(conf.get("activation")) not in ("tanh", "relu"):
        reported["activation"] = _activation_name(conf.get("activation"))
        refused.append(f"activation={reported['activation']}: lstmcalc computes SimpleRNN with tanh or relu only")
    if conf.get("go_backwards") is True:
        refused.append("go_backwards=True: Keras runs this layer over the time axis reversed (x[:, ::-1]) and "
                       "returns its outputs in that order; lstmcalc runs and converts layers that read forward only "
                       "(run the weights on x[:, ::-1] to reproduce it)")
    return replace(found, spec=spec, keras_version=version, config=said, unknown=unknown, reported=reported,
                   refused=tuple(refused))


def _keras_found(file: str, lay: _H5Layer, item: dict | None, name: str, version: str | None = None) -> FoundLayer:
    halves = [("forward", lay.forward)] + ([("backward", lay.backward)] if lay.backward else [])
    bidirectional = lay.backward is not None
    weights = {}
    for direction, rnn in halves:
        for key, value in rnn.arrays.items():
            weights[f"layer0/{direction}/{key}" if bidirectional else key] = value
    if lay.backward is not None:
        names_f, names_b = set(lay.forward.arrays), set(lay.backward.arrays)
        if names_f != names_b:
            raise FileError(
                f"{file}: {name}: the forward half has {sorted(names_f)} but the backward half {sorted(names_b)}"
            )
    conf = item["config"] if item else {}
    cell = KERAS_RNN_CLASSES.get(item["class"]) if item else None
    reset_after = conf.get("reset_after") if cell == "gru" else None
    try:
        framework = legacy_h5_framework(lay.forward.arrays) if not lay.forward.native else "keras"
        spec = _infer_spec(weights, framework=framework, cell=cell, reset_after=reset_after)
    except (FileError, SpecError) as e:
        raise FileError(f"{file}: {name}: {_dataset_names(str(e), lay)}") from None
    if item is not None:
        if item["bidirectional"] != bidirectional:
            held = "two directions" if bidirectional else "one direction"
            raise FileError(
                f"{file}: {name}: the config says Bidirectional={item['bidirectional']} but the weights hold {held}"
            )
        units = conf.get("units")
        if units is not None and units != spec.units:
            shape = np.shape(weights["layer0/forward/recurrent_kernel" if bidirectional else "recurrent_kernel"])
            raise FileError(f"{file}: {name}: config says units={units} but its recurrent_kernel has shape {shape}")
        use_bias = conf.get("use_bias")
        if use_bias is not None and bool(use_bias) != spec.bias:
            raise FileError(f"{file}: {name}: config says use_bias={use_bias} but the weights "
                            f"{'have a' if spec.bias else 'have no'} bias")
        options = _spec_options(spec)
        if bidirectional:
            # merge_mode None (the two directions returned apart) is counted as concat: same weights
            options["merge_mode"] = item.get("merge_mode") or "concat"
        if cell == "rnn" and conf.get("activation") in ("tanh", "relu"):
            options["activation"] = conf["activation"]
        options["return_sequences"] = bool(conf.get("return_sequences", False))
        options["return_state"] = bool(conf.get("return_state", False))
        try:
            spec = make_spec(**options)
        except SpecError as e:
            raise FileError(f"{file}: {name}: the config describes no layer lstmcalc knows ({e})") from None
        said = {"merge_mode": bidirectional, "reset_after": reset_after is not None,
                "activation": conf.get("activation") in ("tanh", "relu")}
        unknown = {k: v for k, v in unknown_options(spec).items() if not said.get(k)}
        found = _found(name, spec, _read_layer_datasets(file, lay, weights), file, lay.path, unknown)
        if bidirectional and item.get("merge_mode") is None:
            found.reported["merge_mode"] = None
        found = _keras_gates(found, conf, version)
        if bidirectional and found.config is not None:
            found.config["merge_mode"] = item.get("merge_mode")
        return found
    return _keras_gates(_found(name, spec, _read_layer_datasets(file, lay, weights), file, lay.path), None, version)


def _dataset_names(message: str, lay: _H5Layer) -> str:
    """Say the dataset's path in the file where a message names our key for it."""
    halves = [("forward", lay.forward), ("backward", lay.backward)]
    for direction, rnn in halves:
        if rnn is None:
            continue
        for role, source in rnn.sources.items():
            key = f"layer0/{direction}/{role}" if lay.backward is not None else role
            if message.startswith(key + ":"):
                return f"{source} ({role}){message[len(key):]}"
    return message


def _spec_options(spec: LayerSpec) -> dict:
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


# --- flat files: PyTorch state_dicts, safetensors, npz -----------------------------------------------


TORCHSCRIPT_FIX = ("torch.jit.load(path).state_dict(), then torch.save(state_dict, 'weights.pt') or "
                   "safetensors.torch.save_file(state_dict, 'weights.safetensors')")


def _read_torch(file: str) -> list[FoundLayer]:
    """A ``torch.save`` zip: names, shapes and dtypes first (``map_location="meta"``: only
    ``data.pkl`` is read), the layers found from them; then only those layers' tensors are
    read, from storages mapped in place (``mmap=True``), their declared sizes taken from the
    memory budget first. A legacy (pre-zip) pickle or a TorchScript archive is read whole,
    after every declared size is checked."""
    _, size = regular_file(file)
    with open(file, "rb") as fh:
        head = fh.read(1)
    zipped = is_zip(file)
    if not zipped and head != b"\x80":  # torch.save writes a zip; before 1.6, a pickle
        _need("torch", file, "PyTorch files")
        raise FileError(
            f"{file}: not a PyTorch file, or a truncated one (torch.save writes a zip archive; this is no complete zip)"
        )
    scripted = False
    if zipped:
        _check_torch_zip(file, size, budget=False)
        scripted = _torchscript_archive(file)
        if scripted:
            _check_torch_zip(file, size, budget=True)  # torch.jit.load reads every member
    try:
        torch = _need("torch", file, "PyTorch files")
    except FileError:
        if scripted:
            raise FileError(f"{file}: a TorchScript archive; reading its tensors needs torch "
                            f"(pip install torch): {TORCHSCRIPT_FIX}") from None
        raise
    if not zipped or scripted:
        return _flat_layers(file, _torch_arrays(file, _torch_tensors(file, _torch_load(file, torch, scripted))))
    tensors = _torch_tensors(file, _torch_load(file, torch, False, map_location="meta"))
    declared = {name: declared_array(file, name, tuple(t.shape), _torch_numpy_dtype(file, name, t))
                for name, t in tensors.items()}
    budget = Budget(file)

    def load(names: list[str]) -> dict[str, np.ndarray]:
        for name in names:
            budget.take(name, declared_bytes(declared[name].shape, declared[name].dtype.itemsize))
        _stored_storages(file)  # mmap maps a member's bytes as they lie in the file
        mapped = _torch_tensors(file, _torch_load(file, torch, False, map_location="cpu", mmap=True))
        return _torch_arrays(file, {name: mapped[name] for name in names})

    return _flat_layers(file, declared, load)


def _torch_load(file: str, torch, scripted: bool, map_location: str = "cpu", mmap: bool = False):
    """``torch.load(file, weights_only=True, ...)`` (``torch.jit.load(...).state_dict()`` for a
    TorchScript archive), every failure a one-line :class:`FileError`."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about pickle protocols on the way to its error
            if scripted:  # TorchScript's own unpickler, which builds tensors and TorchScript objects only
                return torch.jit.load(file, map_location="cpu").state_dict()
            return torch.load(file, weights_only=True, map_location=map_location, mmap=mmap)
    except MemoryError:
        raise FileError(f"{file}: the tensors it declares do not fit in the memory available") from None
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, OSError, KeyError, ... for bad files
        text = str(e)
        found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        if found:
            raise FileError(
                f"{file}: holds a pickled Python object ({found[1]}), not only tensors; lstmcalc loads PyTorch "
                "files only with weights_only=True and never unpickles: where you trust the file, "
                "torch.load(path, weights_only=False).state_dict(), then torch.save(state_dict, 'weights.pt') or "
                "safetensors.torch.save_file(state_dict, 'weights.safetensors')"
            ) from None
        alloc = re.search(r"you tried to allocate (\d+) bytes", text)
        if alloc:  # a legacy (pre-zip) pickle declares its storages' sizes inside the pickle
            raise FileError(
                f"{file}: declares a tensor storage of {size_text(int(alloc[1]))}, more than the memory available"
            ) from None
        if scripted:
            raise FileError(f"{file}: a TorchScript archive torch.jit.load could not read ({_first_line(e)}); "
                            f"where it loads: {TORCHSCRIPT_FIX}") from None
        reason = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
        detail = reason[1].strip() if reason else f"{type(e).__name__}: {_first_line(e)}"
        raise FileError(f"{file}: not a PyTorch state_dict file, or a truncated one ({detail})") from None


def _torch_tensors(file: str, obj) -> dict:
    """{dotted name: tensor} of a state_dict (nested dicts of a checkpoint joined with ``.``)."""
    import torch

    if isinstance(obj, torch.Tensor):
        raise FileError(f"{file}: holds one tensor, not a state_dict of named tensors")
    if not isinstance(obj, Mapping):
        raise FileError(f"{file}: holds a {type(obj).__name__}, not a state_dict (a dict of named tensors)")
    flat: dict = {}

    def flatten(mapping: Mapping, prefix: str):
        for key, value in mapping.items():
            if isinstance(value, torch.Tensor):
                flat[prefix + str(key)] = value
            elif isinstance(value, Mapping):
                flatten(value, f"{prefix}{key}.")

    flatten(obj, "")
    if not flat:
        raise FileError(f"{file}: the state_dict holds no tensors")
    return flat


def _not_plain(file: str, name: str, t) -> FileError:
    return FileError(f"{file}: {name}: a {t.dtype} tensor ({t.layout}), not plain numbers; "
                     "allowed: float16, float32, float64")


def _torch_numpy_dtype(file: str, name: str, t) -> np.dtype:
    """The NumPy dtype a tensor is read as (bfloat16 and float8 as float32), from its dtype alone."""
    import torch

    if t.layout != torch.strided or t.is_quantized:
        raise _not_plain(file, name, t)
    if t.dtype == torch.bfloat16 or str(t.dtype).startswith("torch.float8"):
        return np.dtype(np.float32)
    try:
        return torch.empty(0, dtype=t.dtype).numpy().dtype
    except (TypeError, RuntimeError):
        raise _not_plain(file, name, t) from None


def _torch_arrays(file: str, tensors: dict) -> dict[str, np.ndarray]:
    """The tensors as NumPy arrays (copies: nothing stays mapped), bfloat16 and float8 as float32."""
    import torch

    out = {}
    for name, value in tensors.items():
        t = value.detach().cpu()
        if t.dtype in (torch.bfloat16,) or str(t.dtype).startswith("torch.float8"):
            t = t.float()
        try:
            out[name] = np.array(t.numpy())
        except (TypeError, RuntimeError):  # quantized, sparse, meta or other tensors NumPy cannot hold
            raise _not_plain(file, name, t) from None
    return out


def _stored_storages(file: str) -> None:
    """Refuse a ``torch.save`` zip whose tensor data is compressed: torch.save stores it
    uncompressed, and a mapped (``mmap=True``) deflated member would read as its compressed bytes."""
    try:
        with zipfile.ZipFile(file) as z:
            packed = [i.filename for i in z.infolist() if "/data/" in i.filename and i.compress_type != 0]
    except ZIP_ERRORS as e:
        raise FileError(f"{file}: not a PyTorch file, or a truncated one ({_first_line(e)})") from None
    if packed:
        raise FileError(f"{file}: {packed[0]}: tensor data compressed in the zip; torch.save stores it "
                        "uncompressed, and lstmcalc reads it in place without inflating: save it again with "
                        "torch.save")


def _torchscript_archive(file: str) -> bool:
    """A ``torch.jit.save`` zip: ``<archive>/constants.pkl`` and ``<archive>/code/`` beside
    ``data.pkl`` (torch.save writes neither). Refused (FileError) when its code defines a
    ``__setstate__``: torch.jit.load runs those TorchScript methods while it loads, and
    lstmcalc runs no code from a file. The members' sizes are checked (_check_torch_zip) first."""
    try:
        with zipfile.ZipFile(file) as z:
            names = z.namelist()
            roots = {n.split("/", 1)[0] for n in names if "/" in n}
            if len(roots) != 1:
                return False
            root = roots.pop()
            code = [n for n in names if n.startswith(f"{root}/code/") and n.endswith(".py")]
            if not code and f"{root}/constants.pkl" not in names:
                return False
            for name in code:
                if b"__setstate__" in z.read(name):
                    raise FileError(f"{file}: a TorchScript archive whose {name} defines __setstate__, code that "
                                    f"torch.jit.load runs while loading; lstmcalc runs no code from a file. Where "
                                    f"you trust it: {TORCHSCRIPT_FIX}")
            return True
    except ZIP_ERRORS as e:
        raise FileError(f"{file}: not a PyTorch file, or a truncated one ({_first_line(e)})") from None


def _check_torch_zip(file: str, size: int, budget: bool) -> None:
    """Every member of a ``torch.save`` zip, by its declared size, before torch reads one:
    the pickle at most 64 MiB, each storage within the file and (``budget``: a reader that
    reads every member) all of them within the budget."""
    budget = Budget(file) if budget else None
    try:
        with zipfile.ZipFile(file) as z:
            for info in z.infolist():
                if info.filename.endswith(".pkl"):
                    check_zip_member(file, info, size, None, cap=MAX_PICKLE_BYTES)
                else:
                    check_zip_member(file, info, size, budget)
    except FileError:
        raise
    except ZIP_ERRORS as e:
        raise FileError(f"{file}: not a PyTorch file, or a truncated one ({_first_line(e)})") from None


ST_NUMPY = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<f4", "I64": "<i8", "I32": "<i4", "I16": "<i2",
            "I8": "i1", "U8": "u1", "BOOL": "?", "U16": "<u2", "U32": "<u4", "U64": "<u8"}  # BF16 is read as float32


def _read_safetensors(file: str) -> list[FoundLayer]:
    """Names, shapes and dtypes from the header first (checked by hand: length, JSON,
    offsets, sizes), the layers found from them; then only those layers' tensors are read."""
    _need("safetensors.numpy", file, ".safetensors files")
    from safetensors import safe_open

    _, size = regular_file(file)
    tensors = safetensors_header(file, size, None)  # before safetensors reads; memory taken per tensor read
    if not tensors:
        raise FileError(f"{file}: holds no tensors")
    declared = {name: declared_array(file, name, info["shape"], ST_NUMPY.get(info["dtype"], "<f4"))
                for name, info in tensors.items()}
    budget = Budget(file)

    def load(names: list[str]) -> dict[str, np.ndarray]:
        for name in names:
            budget.take(name, declared_bytes(tensors[name]["shape"], SAFETENSORS_DTYPES[tensors[name]["dtype"]]))
        out = {}
        try:
            with safe_open(file, framework="np") as f:
                for name in names:
                    try:
                        out[name] = f.get_tensor(name)
                    except TypeError as e:
                        if "bfloat16" not in str(e):
                            raise
                        out.update(_safetensors_bfloat16(file, {name: tensors[name]}))  # NumPy has no bfloat16
        except FileError:
            raise
        except Exception as e:  # SafetensorError, TypeError: a dtype NumPy cannot hold, ...
            raise FileError(f"{file}: not a readable safetensors file ({_first_line(e)})") from None
        return out

    return _flat_layers(file, declared, load)


def _safetensors_bfloat16(file: str, tensors: dict) -> dict[str, np.ndarray]:
    """A safetensors file with bfloat16 tensors, read as float32 (bfloat16 is float32's top 16 bits).

    Layout (huggingface/safetensors): u64 little-endian header size N, N bytes of JSON
    ``{name: {"dtype", "shape", "data_offsets": [begin, end]}}``, then the data. ``tensors``:
    that header, already checked by :func:`lstmcalc.limits.safetensors_header`.
    """
    dtypes = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1"}
    out = {}
    with open(file, "rb") as fh:
        size = int.from_bytes(fh.read(8), "little")
        for name, info in tensors.items():
            begin, end = info["data_offsets"]
            fh.seek(8 + size + begin)
            raw = fh.read(end - begin)
            if info["dtype"] == "BF16":
                a = (np.frombuffer(raw, "<u2").astype("<u4") << 16).view("<f4")  # (N,) float32
            elif info["dtype"] in dtypes:
                a = np.frombuffer(raw, dtypes[info["dtype"]])
            else:
                raise FileError(f"{file}: {name}: dtype {info['dtype']} is not one lstmcalc reads")
            out[name] = a.reshape(info["shape"]).copy()
    return out


def _read_npz(file: str) -> list[FoundLayer]:
    """Names, shapes and dtypes from the ``.npy`` headers first (check_npz: a zip of .npy
    members whose declared sizes fit the file), the layers found from them; then only those
    layers' members are inflated, their declared sizes taken from the memory budget first."""
    members = check_npz(file, budget=False)
    if not members:
        raise FileError(f"{file}: holds no arrays")
    declared = {name: declared_array(file, member, shape, dtype) for name, (member, shape, dtype) in members.items()}
    budget = Budget(file)

    def load(names: list[str]) -> dict[str, np.ndarray]:
        for name in names:
            member, shape, dtype = members[name]
            budget.take(member, declared_bytes(shape, dtype.itemsize))
        try:
            with np.load(file, allow_pickle=False) as data:
                return {name: np.asarray(data[name]) for name in names}
        except FileError:
            raise
        except ValueError as e:
            if "pickle" in str(e):
                raise FileError(
                    f"{file}: holds object arrays, which need unpickling; lstmcalc loads .npz with allow_pickle=False"
                ) from None
            raise FileError(f"{file}: damaged .npz archive ({_first_line(e)})") from None
        except (*ZIP_ERRORS, KeyError) as e:
            raise FileError(f"{file}: damaged or truncated .npz archive ({_first_line(e)})") from None

    return _flat_layers(file, declared, load)


def _read_msgpack(file: str) -> list[FoundLayer]:
    """A Flax parameter tree (``flax.serialization.msgpack_serialize``), flattened with
    ``/``; a top-level ``params`` collection is stepped into. Read whole (msgpack has no
    index to read names by), after twice the file's size is taken from the memory budget."""
    try:
        from flax import serialization
    except ImportError:
        raise FileError(f"{file}: reading .msgpack files needs the flax package: pip install flax") from None
    # msgpack is not compressed: what is read is bounded by the file's size. The file's bytes and
    # the arrays restored from them (each a copy of its bytes) are taken from the budget first.
    _, size = regular_file(file)
    Budget(file).take("its msgpack tree (the file's bytes and the arrays restored from them)", 2 * size)
    with open(file, "rb") as fh:
        raw = fh.read()
    try:
        tree = serialization.msgpack_restore(raw)
    except Exception as e:  # msgpack raises ExtraData, UnpackValueError, ValueError, ... for bad bytes
        raise FileError(f"{file}: not a readable Flax msgpack file ({_first_line(e)})") from None
    if not isinstance(tree, Mapping):
        raise FileError(f"{file}: holds a {type(tree).__name__}, not a parameter tree (a dict of arrays)")
    if isinstance(tree.get("params"), Mapping):
        tree = tree["params"]
    flat: dict[str, np.ndarray] = {}

    def flatten(mapping: Mapping, prefix: str):
        for key, value in mapping.items():
            if isinstance(value, Mapping):
                flatten(value, f"{prefix}{key}/")
            else:
                flat[f"{prefix}{key}"] = np.asarray(value)

    flatten(tree, "")
    if not flat:
        raise FileError(f"{file}: the tree holds no arrays")
    return _flat_layers(file, flat)


def _plain(a: np.ndarray) -> np.ndarray:
    """bfloat16 / float8 arrays (ml_dtypes, registered once Keras or JAX is imported) as float32."""
    if a.dtype.kind == "V" or a.dtype.name.startswith(("bfloat16", "float8")):
        try:
            return a.astype(np.float32)
        except (TypeError, ValueError):
            return a
    return a


def _group_spec(names: dict, framework: str):
    """(spec, errors, others): the layer ``names`` hold in the first candidate framework
    whose shapes fit (Keras 3 and Keras 2 CuDNN share their names: the bias shape decides),
    with the other candidates that fit as well (names and shapes that two conventions share
    exactly: never guessed between); else (None, the errors, ())."""
    specs, errors = [], []
    for fw in candidate_frameworks(names) or [framework]:
        try:
            specs.append(_infer_spec(names, framework=fw))
        except (FileError, SpecError) as e:
            errors.append(e)
    if not specs:
        return None, errors, ()
    return specs[0], errors, tuple(s.framework for s in specs[1:])


PATH_SEP = re.compile(r"[/.]")
NAME_PARTS = 4  # no framework's own name has more parts (Keras' layer1/backward/recurrent_kernel has 3)


def _prefix_groups(flat: dict) -> dict[str, dict[str, np.ndarray]]:
    """{module prefix: {name under it: array}} for names that end in a registered
    framework's own names: each name is split at its longest such ending (``params/cell/
    ii/kernel`` → ``params/cell/`` + Flax's ``ii/kernel``, not Keras' ``kernel``; MLX's
    ``lstm.Wx`` → ``lstm.`` + ``Wx``). Names with no such ending are left out."""
    modules = [frameworks.get(n) for n in frameworks.names()]
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key, value in flat.items():
        cuts = [m.end() for m in PATH_SEP.finditer(key)][-NAME_PARTS:]  # bounded work for hostile names
        for cut in cuts:  # the shortest prefix first: the longest recognised ending
            tail = key[cut:]
            if any(m.recognises(tail) for m in modules):
                groups.setdefault(key[:cut], {})[tail] = value
                break
    return groups


def _loaded(weights: dict, location: str, load) -> dict:
    """``weights`` (stand-ins for what a file declares) replaced by the arrays ``load`` reads
    for them, keyed as before; the file names each ``location + key``. Without ``load``,
    ``weights`` already are the arrays."""
    if load is None:
        return weights
    arrays = load([location + key for key in weights])
    return {key: _plain(np.asarray(arrays[location + key])) for key in weights}


def _prefixed_layers(file: str, flat: dict, load=None) -> list[FoundLayer]:
    """The recurrent layers of a model file whose names carry module prefixes: every prefix
    group that is one whole layer of one framework. Groups that are not (a Dense head's
    ``kernel`` and ``bias``) are left out, as PyTorch names that are not RNN names are."""
    found = []
    for prefix, names in _prefix_groups(flat).items():
        try:
            framework = infer_framework(names)
        except FileError:
            continue
        spec, _, others = _group_spec(names, framework)
        if spec is not None:
            found.append((prefix.rstrip("/.") or Path(file).stem, spec, names, prefix, others))
    return [_found(name, spec, _loaded(names, prefix, load), file, prefix, also=others)
            for name, spec, names, prefix, others in found]


def _flat_layers(file: str, flat: dict[str, np.ndarray], load=None) -> list[FoundLayer]:
    """Layers in a flat {name: array}: one layer's own names (any registered framework), the
    layers of a model whose names carry module prefixes (``lstm.Wx``, ``params/RNN_0/cell/
    ii/kernel``: see :func:`_prefix_groups`), or PyTorch names grouped by prefix.

    With ``load``, ``flat`` holds what the file declares (:func:`lstmcalc.limits.declared_array`
    stand-ins): every layer is found, and every name and shape checked, from those alone;
    then ``load(names)`` reads the arrays of the layers found, and nothing else."""
    flat = {k: _plain(np.asarray(v)) for k, v in flat.items()}
    torch_keys = [k for k in flat if TORCH_NAME.match(k)]
    if not torch_keys:
        try:
            framework = infer_framework(flat)
        except FileError:
            found = _prefixed_layers(file, flat, load)
            if found:
                return found
            shown = ", ".join(sorted(flat)[:6]) + (", …" if len(flat) > 6 else "")
            raise FileError(
                f"{file}: no recurrent layer: no PyTorch RNN names (weight_ih_l0, …) or Keras keys "
                f"(kernel, recurrent_kernel, …) among {shown}"
            ) from None
        spec, errors, others = _group_spec(flat, framework)
        if spec is None:
            raise FileError(f"{file}: {errors[0]}") from None
        return [_found(Path(file).stem, spec, _loaded(flat, "", load), file, "", also=others)]
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key in torch_keys:
        m = TORCH_NAME.match(key)
        groups.setdefault(m["prefix"], {})[key[len(m["prefix"]):]] = flat[key]
    found = []
    for prefix, weights in groups.items():
        try:
            spec = _infer_spec(weights, framework="torch")
        except (FileError, SpecError) as e:
            raise FileError(f"{file}: {prefix}{e}") from None
        found.append((prefix.rstrip(".") or spec.cell, spec, weights, prefix))
    found = [_found(name, spec, _loaded(weights, prefix, load), file, prefix) for name, spec, weights, prefix in found]
    # beside nn.LSTM/GRU/RNN modules, cells (nn.LSTMCell's weight_ih, ...) and other
    # conventions' layers under their own prefixes
    rest = {k: v for k, v in flat.items() if not TORCH_NAME.match(k)}
    found += _prefixed_layers(file, rest, load) if rest else []
    return found

