"""Keras files: ``.keras`` archives (a zip with ``config.json`` and ``model.weights.h5``) and
``.h5`` / ``.hdf5`` / ``.weights.h5`` files (h5py, imported only here). The recurrent layers
are found from the groups, the datasets' declared shapes and dtypes and the config; only the
datasets of the layers found are read (see :mod:`lstmcalc.readers` for the layouts)."""

from __future__ import annotations

import io
import re
import zipfile
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np

from .. import frameworks
from ..tensors import infer_layer_spec as _infer_spec
from ..tensors import unknown_options
from ..errors import FileError
from ..frameworks import legacy_h5_framework, make_spec
from ..spec import SpecError
from .found import FoundLayer, found_layer, need, plain, spec_options
from .limits import (MAX_JSON_BYTES, ZIP_ERRORS, Budget, check_h5_dataset, check_zip_member, declared_array,
                     declared_bytes, first_line, is_zip, parse_json, regular_file, size_text)

KERAS_RNN_CLASSES = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "rnn"}
KERAS_CELL_CLASSES = {"LSTMCell": "lstm", "GRUCell": "gru", "SimpleRNNCell": "rnn"}



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


def read_keras_archive(file: str) -> list[FoundLayer]:
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
        raise FileError(f"{file}: truncated or damaged archive ({first_line(e)})") from None
    config = parse_json(file, "config.json", config_bytes)
    metadata = parse_json(file, "metadata.json", metadata_bytes) if metadata_bytes is not None else None
    version = _attr_str(metadata.get("keras_version")) if isinstance(metadata, dict) else None
    h5py = need("h5py", file, ".keras files")
    try:
        h5 = h5py.File(io.BytesIO(h5_bytes), "r")
    except (OSError, ValueError) as e:  # h5py raises both for a damaged file image
        raise FileError(
            f"{file}: model.weights.h5 in the archive is not a readable HDF5 file ({first_line(e)})"
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


def read_h5_file(file: str) -> list[FoundLayer]:
    h5py = need("h5py", file, ".h5 files")
    _, size = regular_file(file)
    try:
        if not h5py.is_hdf5(file):
            raise FileError(f"{file}: not an HDF5 file")
        h5 = h5py.File(file, "r")
    except (OSError, ValueError) as e:
        raise FileError(f"{file}: damaged or truncated HDF5 file ({first_line(e)})") from None
    token = _H5_LIMITS.set((size, Budget(file)))
    try:
        with h5:
            return _keras_layers(file, h5, _legacy_config(file, h5), keras_version=_keras_version(h5))
    except (OSError, RuntimeError, KeyError) as e:  # h5py: damaged groups, links or attributes
        raise FileError(f"{file}: damaged HDF5 file ({first_line(e)})") from None
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
        return plain(np.asarray(ds[()]))
    except (OSError, ValueError, TypeError, RuntimeError) as e:
        raise FileError(f"{file}: {ds.name}: unreadable dataset ({first_line(e)})") from None


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
        options = spec_options(spec)
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
        found = found_layer(name, spec, _read_layer_datasets(file, lay, weights), file, lay.path, unknown)
        if bidirectional and item.get("merge_mode") is None:
            found.reported["merge_mode"] = None
        found = _keras_gates(found, conf, version)
        if bidirectional and found.config is not None:
            found.config["merge_mode"] = item.get("merge_mode")
        return found
    return _keras_gates(found_layer(name, spec, _read_layer_datasets(file, lay, weights), file, lay.path), None, version)


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
