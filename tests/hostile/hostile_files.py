"""Builders of valid and hostile weight files, with the real writers (zipfile, h5py,
safetensors, numpy, torch.save); shared by the tests in this folder.

The hostile ones: zip bombs (a 3 GiB config.json or .npy member in a ~3 MB archive), an
HDF5 kernel declared 200000 × 800000 but never written, a safetensors header that claims
2**63 bytes, an .npy header that claims 2**30 floats and holds 16 bytes, a config.json
nested 200,000 levels deep, a torch pickle whose ``__reduce__`` would create a marker
file, paths that are no regular file, and bad numbers.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
import zlib

import numpy as np

H, X = 2, 3  # the valid layers: units 2, input 3
RNG = np.random.default_rng(0)


# --- valid files ------------------------------------------------------------------------------


def keras_weights() -> dict[str, np.ndarray]:
    return {"kernel": RNG.standard_normal((X, 4 * H)).astype(np.float32),
            "recurrent_kernel": RNG.standard_normal((H, 4 * H)).astype(np.float32),
            "bias": RNG.standard_normal(4 * H).astype(np.float32)}


def torch_weights() -> dict[str, np.ndarray]:
    return {"weight_ih_l0": RNG.standard_normal((4 * H, X)).astype(np.float32),
            "weight_hh_l0": RNG.standard_normal((4 * H, H)).astype(np.float32),
            "bias_ih_l0": RNG.standard_normal(4 * H).astype(np.float32),
            "bias_hh_l0": RNG.standard_normal(4 * H).astype(np.float32)}


KERAS_CONFIG = {
    "class_name": "Sequential",
    "config": {"name": "seq", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 5, X], "name": "input"}},
        {"class_name": "LSTM", "config": {"name": "lstm", "units": H, "use_bias": True}},
    ]},
}


def weights_h5_bytes(kernel_shape=None) -> bytes:
    """A Keras 3 model.weights.h5 with one LSTM; ``kernel_shape`` declares the kernel
    (never written) instead of storing real numbers."""
    import h5py

    buf = io.BytesIO()
    w = keras_weights()
    with h5py.File(buf, "w") as f:
        f.create_group("layers/lstm/vars").attrs["name"] = "lstm"
        if kernel_shape is None:
            f.create_dataset("layers/lstm/cell/vars/0", data=w["kernel"])
        else:
            f.create_dataset("layers/lstm/cell/vars/0", shape=kernel_shape, dtype="float32")
        f.create_dataset("layers/lstm/cell/vars/1", data=w["recurrent_kernel"])
        f.create_dataset("layers/lstm/cell/vars/2", data=w["bias"])
    return buf.getvalue()


def keras_archive(path, config: bytes | None = None, h5: bytes | None = None) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        z.writestr("config.json", config if config is not None else json.dumps(KERAS_CONFIG))
        z.writestr("model.weights.h5", h5 if h5 is not None else weights_h5_bytes())


def weights_h5(path, kernel_shape=None) -> None:
    with open(path, "wb") as f:
        f.write(weights_h5_bytes(kernel_shape))


def torch_file(path, weights=None) -> None:
    import torch

    torch.save({k: torch.from_numpy(v) for k, v in (weights or torch_weights()).items()}, path)


def safetensors_file(path, weights=None) -> None:
    from safetensors.numpy import save_file

    save_file(weights or torch_weights(), str(path))


def npz_file(path, weights=None) -> None:
    np.savez(path, **(weights or keras_weights()))


def npy_file(path) -> None:
    np.save(path, RNG.standard_normal((2, 4, X)).astype(np.float32))


VALID = {  # extension -> builder of a valid file of one LSTM layer
    ".keras": keras_archive,
    ".weights.h5": weights_h5,
    ".pt": torch_file,
    ".safetensors": safetensors_file,
    ".npz": npz_file,
    ".npy": npy_file,
}


# --- zip bombs --------------------------------------------------------------------------------


def _deflated_zeros(prefix: bytes, zeros: int, chunk: int = 1 << 24) -> bytes:
    """Raw deflate of ``prefix`` + ``zeros`` zero bytes in milliseconds: after a full flush
    each 16 MiB chunk of zeros compresses to the same bytes, so one is repeated."""
    assert zeros % chunk == 0
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    piece = c.compress(bytes(chunk)) + c.flush(zlib.Z_FULL_FLUSH)
    return head + piece * (zeros // chunk) + c.flush(zlib.Z_FINISH)


def _deflated_corrupt(prefix: bytes, valid: int = 1 << 20) -> bytes:
    """Raw deflate of ``prefix`` and ``valid`` zero bytes, then a block of the reserved type
    3: those inflate (a reader of the header asks zipfile for at most 4 KiB), and reading
    past them fails (zlib: invalid block type). A member made of this proves that a reader
    read its header and never inflated its data."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(prefix + bytes(valid)) + c.flush(zlib.Z_FULL_FLUSH) + b"\xff" * 64


def _zip_with_bomb(path, name: str, prefix: bytes, zeros: int, others: dict[str, bytes],
                   corrupt: bool = False) -> None:
    """A zip whose ``name`` inflates to len(prefix) + zeros bytes; written with zipfile for
    the ``others``, then the bomb member appended by hand (zipfile would take seconds to
    compress 3 GiB). Its CRC is left 0: readers must refuse it on its declared size, long
    before they could compare a CRC. ``corrupt``: the member declares the same size, but
    only ``prefix`` inflates (:func:`_deflated_corrupt`)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for member, data in others.items():
            z.writestr(member, data)
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
    data = open(path, "rb").read()
    cd_offset = struct.unpack("<I", data[-6:-2])[0]  # end of central directory: offset of the directory
    body, directory = data[:cd_offset], data[cd_offset:-22]
    compressed = _deflated_corrupt(prefix) if corrupt else _deflated_zeros(prefix, zeros)
    size = len(prefix) + zeros
    raw_name = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, 0, len(compressed), size, len(raw_name), 0)
    offset = len(body)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, 0, len(compressed), size,
                          len(raw_name), 0, 0, 0, 0, 0, offset)
    body += local + raw_name + compressed
    directory += central + raw_name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(infos) + 1, len(infos) + 1, len(directory), len(body), 0)
    with open(path, "wb") as f:
        f.write(body + directory + end)


GIB3 = 3 * 1024**3


def keras_config_bomb(path) -> None:
    """A .keras whose config.json inflates to 3 GiB (the archive is about 3 MB)."""
    _zip_with_bomb(path, "config.json", b"", GIB3, {"metadata.json": b"{}", "model.weights.h5": weights_h5_bytes()})


def npz_bomb(path) -> None:
    """An .npz whose kernel.npy inflates to 3 GiB of float32 zeros (a valid .npy header)."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (GIB3 // 4,)})
    prefix = header.getvalue()
    extra = io.BytesIO()
    np.save(extra, keras_weights()["recurrent_kernel"])
    _zip_with_bomb(path, "kernel.npy", prefix, GIB3, {"recurrent_kernel.npy": extra.getvalue()})


def npy_bytes(a: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, a)
    return out.getvalue()


def npz_with_giant(path, name: str, shape: tuple[int, ...], others: dict[str, np.ndarray]) -> None:
    """An .npz of ``others`` and a float32 member ``name`` whose header declares ``shape``
    (3 GiB or so) and whose data is corrupt past the header: refusing the file by its names
    and shapes never inflates it; inflating it fails with "invalid block type"."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
    nbytes = int(np.prod(shape)) * 4
    _zip_with_bomb(path, name + ".npy", header.getvalue(), nbytes, {k + ".npy": npy_bytes(v) for k, v in others.items()},
                   corrupt=True)


GIANT_X = GIB3 // 4 // (4 * H)  # weight_ih_l0 (4H, GIANT_X) float32: 3 GiB


def npz_giant_missing(path) -> None:
    """PyTorch names without weight_hh_l0; weight_ih_l0 declares (8, 100663296) float32 (3 GiB)."""
    w = torch_weights()
    npz_with_giant(path, "weight_ih_l0", (4 * H, GIANT_X), {"bias_ih_l0": w["bias_ih_l0"], "bias_hh_l0": w["bias_hh_l0"]})


def npz_giant_inconsistent(path) -> None:
    """A PyTorch LSTM whose weight_hh_l0 declares (8, 100663296) float32 (3 GiB) beside a
    (8, 3) weight_ih_l0: no layer has both."""
    w = torch_weights()
    npz_with_giant(path, "weight_hh_l0", (4 * H, GIANT_X), {k: v for k, v in w.items() if k != "weight_hh_l0"})


def npz_giant_extra(path) -> None:
    """A whole Keras LSTM and a member ``embedding`` that declares 3 GiB."""
    npz_with_giant(path, "embedding", (4 * H, GIANT_X), keras_weights())


def npz_giant_beside_torch_layer(path) -> None:
    """A PyTorch LSTM (prefix ``rnn.``) in a model file with a ``head.weight`` that declares
    3 GiB: a module that is no recurrent layer, never read."""
    npz_with_giant(path, "head.weight", (4 * H, GIANT_X), {"rnn." + k: v for k, v in torch_weights().items()})


def npz_giant_layer(path) -> None:
    """A whole, consistent PyTorch LSTM (H = 2) whose weight_ih_l0 declares X = 100663296
    inputs, 3 GiB of float32: only the memory guard, by the declared size, can refuse it."""
    w = torch_weights()
    npz_with_giant(path, "weight_ih_l0", (4 * H, GIANT_X), {k: v for k, v in w.items() if k != "weight_ih_l0"})


def safetensors_sparse_giant(path, names=("weight_ih_l0", "bias_ih_l0", "bias_hh_l0")) -> None:
    """A 3 GiB sparse safetensors file (it takes no disk) whose first tensor, weight_ih_l0
    (8, 100663296) float32, fills it; weight_hh_l0 is missing."""
    w = torch_weights()
    entries, offset = {}, 0
    for name in names:
        shape = (4 * H, GIANT_X) if name == "weight_ih_l0" else w[name].shape
        n = int(np.prod(shape)) * 4
        entries[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(entries).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + offset)


# --- declared sizes that lie ---------------------------------------------------------------------


def h5_never_written(path) -> None:
    """A .weights.h5 of 7 KB whose kernel is declared 200000 × 800000 float32 (596 GiB)."""
    weights_h5(path, kernel_shape=(200_000, 800_000))


def keras_never_written(path) -> None:
    keras_archive(path, h5=weights_h5_bytes(kernel_shape=(200_000, 800_000)))


def safetensors_huge_header(path) -> None:
    """A safetensors file whose 8-byte header length says 2**63."""
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", 2**63) + b'{"a": 1}' + bytes(16))


def safetensors_huge_tensor(path) -> None:
    """A valid safetensors header declaring a 2**40-element tensor, with 16 bytes of data."""
    header = json.dumps({"weight_hh_l0": {"dtype": "F32", "shape": [2**20, 2**20], "data_offsets": [0, 2**42]}})
    raw = header.encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw + bytes(16))


def npy_liar(path) -> None:
    """An .npy whose header claims 2**30 float32 (4 GiB) and which holds 16 bytes."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (1024, 1024, 1024)})
        f.write(bytes(16))


def npz_liar(path) -> None:
    """An .npz whose kernel.npy header claims (2**15, 2**16) float64 and holds 16 bytes."""
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": (2**15, 2**16)})
    member.write(bytes(16))
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("kernel.npy", member.getvalue())


def keras_deep_config(path) -> None:
    """A .keras whose config.json is nested 200,000 levels deep."""
    depth = 200_000
    keras_archive(path, config=b"[" * depth + b"]" * depth)


class Marker:
    """Unpickling this would create the marker file (the attack ``weights_only`` stops)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def torch_pickle_attack(path, marker) -> None:
    import torch

    torch.save({"weight_ih_l0": torch.zeros(8, 3), "payload": Marker(str(marker))}, path)


def torch_storage_liar(path) -> None:
    """A torch.save archive whose first storage member declares 3 GiB (stored, so the bytes
    would have to be in the file)."""
    torch_file(path)
    data = bytearray(open(path, "rb").read())
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as z:
        info = next(i for i in z.infolist() if "/data/" in i.filename)
    name = info.filename.encode()
    # patch the uncompressed and compressed sizes in the central directory entry of this member
    start = 0
    while True:
        k = data.find(b"PK\x01\x02", start)
        assert k >= 0
        n = struct.unpack("<H", data[k + 28:k + 30])[0]
        if data[k + 46:k + 46 + n] == name:
            data[k + 20:k + 28] = struct.pack("<II", GIB3, GIB3)
            break
        start = k + 4
    open(path, "wb").write(bytes(data))


def torch_legacy_huge(path) -> None:
    """A legacy (pre-zip, torch.save(..., _use_new_zipfile_serialization=False)) file whose
    pickle declares a storage of 2**40 floats; the pickle is protocol 2, without frames, so
    the number can be replaced by a longer one."""
    import torch

    torch.save({"weight_ih_l0": torch.zeros(8, 3)}, path, _use_new_zipfile_serialization=False)
    data = open(path, "rb").read()
    at = data.index(b"X\x03\x00\x00\x00cpuq\x06K\x18") + len(b"X\x03\x00\x00\x00cpuq\x06")
    open(path, "wb").write(data[:at] + b"\x8a\x06" + (2**40).to_bytes(6, "little") + data[at + 2:])  # LONG1


def keras_control_names(path) -> None:
    """A .keras whose weights member is named with a newline and a terminal escape."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", json.dumps(KERAS_CONFIG))
        z.writestr("model.weights\n\x1b[31mh5", weights_h5_bytes())


def h5_bytes_names(path) -> None:
    """A .weights.h5 whose cell/vars group holds a dataset named by bytes that are not UTF-8
    (h5py then lists str and bytes names together)."""
    import h5py

    with h5py.File(path, "w") as f:
        group = f.create_group("layers/lstm/cell/vars")
        group.create_dataset("0", data=keras_weights()["kernel"])
        group.create_dataset(b"\xff\xfe", data=keras_weights()["recurrent_kernel"])


# --- bad numbers ------------------------------------------------------------------------------------


def with_nan(weights: dict, key: str, value=np.nan) -> dict:
    w = {k: v.copy() for k, v in weights.items()}
    w[key].flat[1] = value
    return w


def mixed_dtypes(weights: dict, key: str) -> dict:
    w = dict(weights)
    w[key] = w[key].astype(np.float64)
    return w


def integers(weights: dict, key: str) -> dict:
    w = dict(weights)
    w[key] = np.ones(w[key].shape, np.int32)
    return w


def torch_contradicting_shapes() -> dict:
    """A 12 × 5 weight_ih_l0 with an 8 × 2 weight_hh_l0: no one layer has both."""
    w = torch_weights()
    w["weight_ih_l0"] = RNG.standard_normal((12, 5)).astype(np.float32)
    return w


def torch_file_of(weights):
    return lambda path: torch_file(path, weights)


def safetensors_of(weights):
    return lambda path: safetensors_file(path, weights)


def npz_of(weights):
    return lambda path: npz_file(path, weights)


# --- paths that are not regular files ---------------------------------------------------------------


def fifo(path) -> None:
    os.mkfifo(path)


def directory(path) -> None:
    os.mkdir(path)


def link_to(target):
    return lambda path: os.symlink(target, path)


# --- names and headers before data: .pt, .h5/.keras, .msgpack --------------------------------------


def torch_with_giant(path, name: str, shape: tuple[int, ...], others: dict[str, np.ndarray]) -> None:
    """A torch.save zip of ``others`` and a float32 tensor ``name`` of ``shape`` (3 GiB or so)
    whose storage member is deflated and corrupt past its first MiB (:func:`_deflated_corrupt`):
    ``data.pkl`` is what torch.save writes for these tensors (the giant one a FakeTensor,
    saved under ``skip_data``), the small storages hold their real bytes. Refusing the file
    by its names and shapes never reads the giant storage; reading it fails."""
    import tempfile
    import warnings

    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.serialization import skip_data

    with FakeTensorMode():
        giant = torch.empty(*shape)
    state = {name: giant, **{k: torch.from_numpy(v) for k, v in others.items()}}
    with tempfile.TemporaryDirectory() as scratch:
        sparse = os.path.join(scratch, "sparse.pt")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with skip_data(materialize_fake_tensors=True):
                torch.save(state, sparse)  # a sparse file: the storages are holes
        with zipfile.ZipFile(sparse) as z:
            members = {i.filename: z.read(i) for i in z.infolist() if "/data/" not in i.filename}
    root = next(iter(members)).split("/")[0]
    for key, value in enumerate(others.values(), start=1):  # storage keys in pickling order, the giant one 0
        members[f"{root}/data/{key}"] = np.ascontiguousarray(value).tobytes()
    _zip_with_bomb(path, f"{root}/data/0", b"", int(np.prod(shape)) * 4, members, corrupt=True)


def torch_giant_missing(path) -> None:
    """PyTorch names without weight_hh_l0; weight_ih_l0 declares (8, 100663296) float32 (3 GiB)."""
    w = torch_weights()
    torch_with_giant(path, "weight_ih_l0", (4 * H, GIANT_X), {"bias_ih_l0": w["bias_ih_l0"], "bias_hh_l0": w["bias_hh_l0"]})


def torch_giant_inconsistent(path) -> None:
    """weight_hh_l0 declares (8, 100663296) float32 (3 GiB) beside a (8, 3) weight_ih_l0."""
    w = torch_weights()
    torch_with_giant(path, "weight_hh_l0", (4 * H, GIANT_X), {k: v for k, v in w.items() if k != "weight_hh_l0"})


def torch_giant_extra(path) -> None:
    """A whole Keras LSTM under Keras' names and a tensor ``embedding`` that declares 3 GiB."""
    torch_with_giant(path, "embedding", (4 * H, GIANT_X), keras_weights())


def torch_giant_layer(path) -> None:
    """A whole, consistent PyTorch LSTM whose weight_ih_l0 declares X = 100663296 (3 GiB)."""
    w = torch_weights()
    torch_with_giant(path, "weight_ih_l0", (4 * H, GIANT_X), {k: v for k, v in w.items() if k != "weight_ih_l0"})


def torch_deflated(path) -> None:
    """A valid torch.save archive re-zipped with every member deflated."""
    buf = io.BytesIO()
    import torch

    torch.save({k: torch.from_numpy(v) for k, v in torch_weights().items()}, buf)
    with zipfile.ZipFile(buf) as z, zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as out:
        for info in z.infolist():
            out.writestr(info.filename, z.read(info))


def h5_with_giant(path, datasets: dict, giant: str, giant_shape: tuple[int, ...], archive_config=None) -> None:
    """A Keras 3 weights h5 (or, with ``archive_config``, a .keras archive around it) of one
    LSTM ``lstm`` whose ``giant`` dataset declares ``giant_shape`` float32, gzip-chunked and
    never written: its header says 3 GiB, and reading it allocates them."""
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_group("layers/lstm/vars").attrs["name"] = "lstm"
        for key, value in datasets.items():
            f.create_dataset(f"layers/lstm/cell/vars/{key}", data=value)
        f.create_dataset(f"layers/lstm/cell/vars/{giant}", shape=giant_shape, dtype="float32",
                         chunks=(min(giant_shape[0], 1 << 16), giant_shape[1]), compression="gzip")
    if archive_config is None:
        with open(path, "wb") as out:
            out.write(buf.getvalue())
    else:
        keras_archive(path, config=json.dumps(archive_config).encode(), h5=buf.getvalue())


def h5_giant_inconsistent(path) -> None:
    """kernel (100663296, 8) float32 (3 GiB, never written) beside a (2, 8) recurrent_kernel
    and a bias of 12, which no LSTM, GRU or SimpleRNN of 2 units has."""
    w = keras_weights()
    h5_with_giant(path, {"1": w["recurrent_kernel"], "2": RNG.standard_normal(12).astype(np.float32)},
                  "0", (GIANT_X, 4 * H))


def keras_giant_units(path) -> None:
    """A .keras whose config says units=4 while the recurrent_kernel is (2, 8); the kernel
    declares (100663296, 8) float32 (3 GiB)."""
    w = keras_weights()
    config = json.loads(json.dumps(KERAS_CONFIG))
    config["config"]["layers"][1]["config"]["units"] = 4
    h5_with_giant(path, {"1": w["recurrent_kernel"], "2": w["bias"]}, "0", (GIANT_X, 4 * H), archive_config=config)


def h5_giant_layer(path) -> None:
    """A whole, consistent LSTM whose kernel declares (100663296, 8) float32 (3 GiB)."""
    w = keras_weights()
    h5_with_giant(path, {"1": w["recurrent_kernel"], "2": w["bias"]}, "0", (GIANT_X, 4 * H))


def msgpack_sparse_giant(path) -> None:
    """A 3 GiB sparse .msgpack file (a valid map header, then holes)."""
    with open(path, "wb") as f:
        f.write(b"\x81\xa6params")
        f.truncate(GIB3)
