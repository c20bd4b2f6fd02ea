"""Every kind of hostile file, read by every reading command (inspect, convert, run
--weights, run --inputs) in a subprocess under ulimit -v and a timeout: exit 1 or 2, one
`lstmcalc: error:` line, nothing on stdout, no traceback, no file written, the pickle's
marker never created, and no hang."""

from __future__ import annotations

import os

import numpy as np
import pytest

import hostile_files as hf
from conftest import assert_refused, run_capped

pytest.importorskip("h5py")
pytest.importorskip("safetensors")
pytest.importorskip("torch")

MARKER = "pwned.txt"

# file name, builder, the command whose message must name the problem, what it must say
CASES = [
    ("bomb.keras", hf.keras_config_bomb, "inspect", "config.json inflates to 3,221,225,472 bytes"),
    ("deep.keras", hf.keras_deep_config, "inspect", "config.json is nested"),
    ("unwritten.keras", hf.keras_never_written, "inspect", "(200000, 800000)"),
    ("unwritten.weights.h5", hf.h5_never_written, "inspect", "(200000, 800000)"),
    ("control.keras", hf.keras_control_names, "inspect", r"(found: config.json, model.weights\n\x1b[31mh5)"),
    ("bytes_names.weights.h5", hf.h5_bytes_names, "inspect", "no LSTM, GRU or SimpleRNN layer"),
    # names and shapes before data (issue 23): the 3 GiB kernel is a vector, refused unread
    ("bomb.npz", hf.npz_bomb, "inspect", "bomb.npz: kernel: shape (805306368,) is not (X, G·H)"),
    ("liar.npz", hf.npz_liar, "inspect", "kernel.npy: the header declares shape (32768, 65536)"),
    ("bomb_weights.npz", hf.npz_bomb, "weights", "bomb_weights.npz: kernel: shape (805306368,) is not (X, G·H)"),
    ("liar_weights.npz", hf.npz_liar, "weights", "kernel.npy: the header declares shape (32768, 65536)"),
    ("huge_header.safetensors", hf.safetensors_huge_header, "inspect", "the header claims 9,223,372,036,854,775,808"),
    ("huge_tensor.safetensors", hf.safetensors_huge_tensor, "inspect", "weight_hh_l0: data_offsets [0, 4398046511104]"),
    ("liar.npy", hf.npy_liar, "inputs", "declares shape (1024, 1024, 1024) of float32"),
    ("attack.pt", lambda p: hf.torch_pickle_attack(p, MARKER), "inspect", "holds a pickled Python object"),
    ("liar.pt", hf.torch_storage_liar, "inspect", "declares 3,221,225,472 bytes (3.00 GiB) but the whole file"),
    ("legacy_huge.pt", hf.torch_legacy_huge, "inspect", "declares a tensor storage of 4,398,046,511,104 bytes"),
    ("nan.pt", hf.torch_file_of(hf.with_nan(hf.torch_weights(), "weight_hh_l0")), "inspect",
     "weight_hh_l0: holds 1 NaN"),
    ("inf.safetensors", hf.safetensors_of(hf.with_nan(hf.torch_weights(), "bias_ih_l0", np.inf)), "inspect",
     "bias_ih_l0: holds 0 NaN and 1 infinite"),
    ("nan.npz", hf.npz_of(hf.with_nan(hf.keras_weights(), "kernel")), "weights", "kernel: holds 1 NaN"),
    ("mixed.npz", hf.npz_of(hf.mixed_dtypes(hf.keras_weights(), "kernel")), "weights", "mixed dtypes"),
    ("mixed.safetensors", hf.safetensors_of(hf.mixed_dtypes(hf.torch_weights(), "bias_hh_l0")), "inspect",
     "mixed dtypes"),
    ("int.safetensors", hf.safetensors_of(hf.integers(hf.torch_weights(), "weight_ih_l0")), "inspect",
     "weight_ih_l0: dtype int32 is an integer type"),
    ("int.npz", hf.npz_of(hf.integers(hf.keras_weights(), "bias")), "weights", "bias: dtype int32 is an integer type"),
    ("shapes.pt", hf.torch_file_of(hf.torch_contradicting_shapes()), "inspect", "weight_ih_l0: shape (12, 5)"),
    ("fifo.npz", hf.fifo, "weights", "is a FIFO"),
    ("fifo.keras", hf.fifo, "inspect", "is a FIFO"),
    ("fifo.npy", hf.fifo, "inputs", "is a FIFO"),
    ("folder.pt", hf.directory, "inspect", "is a directory"),
    ("zero.pt", hf.link_to("/dev/zero"), "inspect", "is a character device (through a symbolic link)"),
    ("zero.npz", hf.link_to("/dev/zero"), "weights", "is a character device"),
    ("urandom.safetensors", hf.link_to("/dev/urandom"), "inspect", "is a character device"),
    ("zero.npy", hf.link_to("/dev/zero"), "inputs", "is a character device"),
]


def commands(name: str) -> dict[str, list[str]]:
    return {
        "inspect": ["inspect", name],
        "convert": ["convert", name, "-o", "converted.npz"],
        "weights": ["run", "--weights", name, "--save", "saved.npz", "--backend", "numpy"],
        "inputs": ["run", "-u", "2", "-x", "3", "--inputs", name, "--save", "saved.npz", "--backend", "numpy"],
    }


@pytest.fixture(scope="module")
def outcome(tmp_path_factory):
    """Build every hostile file, run every reading command on each in one capped subprocess."""
    folder = tmp_path_factory.mktemp("hostile")
    for name, build, _, _ in CASES:
        build(folder / name)
    before = sorted(os.listdir(folder))
    argvs = [argv for name, *_ in CASES for argv in commands(name).values()]
    results = run_capped(argvs, cwd=folder)
    by_argv = {tuple(r["argv"]): r for r in results}
    return folder, before, by_argv


@pytest.mark.parametrize("name, build, command, needle", CASES, ids=[c[0] for c in CASES])
def test_every_reading_command_refuses(outcome, name, build, command, needle):
    _, _, by_argv = outcome
    for which, argv in commands(name).items():
        assert_refused(by_argv[tuple(argv)], needle if which == command else None)


def test_nothing_written_and_no_pickle_ran(outcome):
    folder, before, _ = outcome
    assert sorted(os.listdir(folder)) == before  # no output, no temporary, no marker
    assert not (folder / MARKER).exists()
