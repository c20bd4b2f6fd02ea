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

Every file is checked by :mod:`lstmcalc.readers.limits` before it is read: a regular file, declared
sizes (zip members, HDF5 datasets, the safetensors header, ``.npy`` headers) within the file
and the memory budget, bounded JSON; and after: finite floats of one dtype per layer.

Flat files (state_dict, safetensors, npz) hold PyTorch names, grouped into modules by
their prefix (``encoder.lstm.weight_ih_l0``), or our Keras keys
(:func:`lstmcalc.frameworks.weights_key`). The cell follows from the shapes: the
recurrent tensor holds G blocks of H (4 LSTM, 3 GRU, 1 SimpleRNN).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .. import frameworks
from ..tensors import infer_layer_spec as _infer_spec
from ..errors import FileError
from ..frameworks import make_spec
from ..spec import LayerSpec, SpecError
from .flat import read_msgpack, read_npz, read_safetensors
from .found import FILES_EXTRA, FoundLayer, GateStats, Stats, found_layer, gate_stats, label, spec_options
from .keras import read_h5_file, read_keras_archive
from .limits import regular_file
from .torch import read_torch

__all__ = ["EXTENSIONS", "FILES_EXTRA", "RUNNABLE_EXTENSIONS", "FileError", "FoundLayer", "GateStats", "LayerSpec",
           "Stats", "gate_stats", "read_layer", "read_layers"]

EXTENSIONS = (".keras", ".h5", ".hdf5", ".pt", ".pth", ".bin", ".jit", ".safetensors", ".npz", ".msgpack", ".onnx", ".tflite")
# model files whose layer runs from what the reader returns (its options and states included)
RUNNABLE_EXTENSIONS = (".tflite",)


def _read_onnx(file: str) -> list[FoundLayer]:
    """One layer per LSTM / GRU / RNN node, read by :mod:`lstmcalc.readers.onnx` (the onnx package)."""
    from dataclasses import replace

    from .onnx import OnnxFileError, onnx_layers

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
        found = replace(found_layer(name, spec, weights, file, location, unknown={}), attributes=options["attributes"])
        if options["attributes"]["not_modelled"] and options["attributes"]["activations"] is not None \
                and spec.cell == "rnn":
            found = replace(found, reported={"activation": None})  # not tanh or relu: never the placeholder
        out.append(found)
    return out


def _read_tflite(file: str) -> list[FoundLayer]:
    """One layer per fused recurrent op of every subgraph, read by :mod:`lstmcalc.readers.tflite`."""
    from dataclasses import replace

    from .tflite import read_tflite

    out = []
    for name, location, weights, info in read_tflite(file):
        options = {k: v for k, v in info.items() if k != "attributes"}
        try:
            spec = _infer_spec(weights, framework="tflite", cell=options.pop("cell"))
            from ..spec import VARIANTS

            keywords = {**spec_options(spec), "peepholes": spec.peepholes,
                        **{k: getattr(spec, k) for k, v in VARIANTS.items() if getattr(spec, k) != v}, **options}
            if spec.cell == "rnn":
                keywords.pop("cell_clip"), keywords.pop("proj_clip")
            spec = make_spec(**keywords)
        except (FileError, SpecError) as e:
            raise FileError(f"{file}: {name}: {e}") from None
        plain = {k: v for k, v in weights.items() if not frameworks.of(spec).auxiliary(k)}
        found = found_layer(name, spec, plain, file, location, unknown={})
        out.append(replace(found, weights=weights, attributes=info["attributes"]))
    return out


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
        ".keras": read_keras_archive,
        ".h5": read_h5_file,
        ".hdf5": read_h5_file,
        ".pt": read_torch,
        ".pth": read_torch,
        ".bin": read_torch,
        ".jit": read_torch,  # a TorchScript archive (torch.jit.save)
        ".safetensors": read_safetensors,
        ".npz": read_npz,
        ".msgpack": read_msgpack,
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
            raise SpecError("framework", f"{f.file}: {label(f)}: the tensor names {', '.join(f.weights)} and "
                                         f"their shapes are {titles} alike; say which: one of {', '.join(fits)}")
        return f
    if framework in f.also:
        spec = _infer_spec(f.weights, framework=framework, cell=spec.cell)
        return found_layer(f.name, spec, f.weights, f.file, f.location)
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
            f"{path}: holds {len(found)} recurrent layers ({', '.join(label(f) for f in found)}); "
            "choose one with --layer NAME"
        )
    if found[0].refused:
        raise FileError(f"{path}: {label(found[0])}: {'; '.join(found[0].refused)}, so lstmcalc cannot convert "
                        "or run this layer (inspect shows it)")
    unmodelled = (found[0].attributes or {}).get("not_modelled")
    if unmodelled:
        raise FileError(f"{path}: {label(found[0])}: {'; '.join(unmodelled)}, so it cannot convert or run "
                        "this node (inspect shows it)")
    return found[0]


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
    names = ", ".join(label(f) for f in found)
    if prefixed:
        matched = ", ".join(label(f) for f in prefixed)
        raise FileError(f"{file}: layer {layer!r} is ambiguous: it matches {matched}")
    raise FileError(f"{file}: no recurrent layer named {layer!r}; found: {names}")
