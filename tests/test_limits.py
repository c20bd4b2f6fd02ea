"""lstmcalc.readers.limits: each check at its boundary (one under the limit reads, one over refuses)."""

import io
import os

import numpy as np
import pytest

from lstmcalc.readers import limits
from lstmcalc.errors import FileError


def test_json_depth_boundary():
    deep = lambda n: "[" * n + "]" * n  # noqa: E731
    assert limits.parse_json("f", "config.json", deep(limits.MAX_JSON_DEPTH)) is not None
    with pytest.raises(FileError, match="nested more than 256 levels"):
        limits.parse_json("f", "config.json", deep(limits.MAX_JSON_DEPTH + 1))
    with pytest.raises(FileError, match="nested too deeply"):  # json's own recursion limit, caught
        limits.parse_json("f", "config.json", deep(200_000))


def test_json_size_and_parser_failures():
    with pytest.raises(FileError, match=r"config.json is 11 bytes; allowed: at most 10 bytes"):
        limits.parse_json("f", "config.json", b"[" + b" " * 9 + b"]", max_bytes=10)
    with pytest.raises(FileError, match="not valid JSON"):
        limits.parse_json("f", "config.json", b"\xff\xfe{")
    with pytest.raises(FileError, match="not valid JSON"):  # more digits than int() takes
        limits.parse_json("f", "config.json", "1" * 5000)


def _npy(shape, dtype="<f4", data=b""):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    buf.write(data)
    buf.seek(0)
    return buf


def test_npy_header_against_the_bytes_that_follow():
    full = _npy((2, 3), data=bytes(24))
    assert limits.npy_header("f", "x.npy", full, len(full.getvalue())) == ((2, 3), np.dtype("<f4"))
    short = _npy((2, 3), data=bytes(23))
    with pytest.raises(FileError, match=r"declares shape \(2, 3\) of float32 \(24 bytes\) but the data holds 23"):
        limits.npy_header("f", "x.npy", short, len(short.getvalue()))
    with pytest.raises(FileError, match="object arrays"):
        obj = _npy((1,), dtype="|O")
        limits.npy_header("f", "x.npy", obj, 10_000)


def test_budget_counts_what_it_hands_out():
    budget = limits.Budget("f", limit=100)
    budget.take("a", 60)
    budget.take("b", 40)
    with pytest.raises(FileError, match=r"f: c needs 1 bytes \(with the 100 bytes read before it\), more than"):
        budget.take("c", 1)


def test_regular_file_refuses_everything_else(tmp_path):
    (tmp_path / "ok.npz").write_bytes(b"12345")
    assert limits.regular_file(tmp_path / "ok.npz") == (str(tmp_path / "ok.npz"), 5)
    os.mkfifo(tmp_path / "pipe")
    os.symlink("/dev/zero", tmp_path / "zero")
    for name, kind in [("pipe", "a FIFO"), ("zero", "a character device (through a symbolic link)"),
                       (".", "a directory"), ("missing", None)]:
        with pytest.raises(FileError) as e:
            limits.regular_file(tmp_path / name)
        assert (kind or "no such file") in str(e.value)


def test_numbers_are_named():
    good = {"kernel": np.zeros((2, 4), np.float32), "bias": np.zeros(4, np.float32)}
    limits.check_numbers("f", good)
    with pytest.raises(FileError, match=r"f: kernel: holds 1 NaN and 1 infinite value\(s\), the first at index \(0, 1\)"):
        bad = dict(good, kernel=np.array([[0, np.nan, np.inf, 0]], np.float32))
        limits.check_numbers("f", bad)
    with pytest.raises(FileError, match="f: bias: dtype int64 is an integer type"):
        limits.check_numbers("f", dict(good, bias=np.zeros(4, np.int64)))
    with pytest.raises(FileError, match=r"mixed dtypes \(kernel float32, bias float64\)"):
        limits.check_numbers("f", dict(good, bias=np.zeros(4)))
