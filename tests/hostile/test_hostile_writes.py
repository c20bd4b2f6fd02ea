"""Output is never lost: every refused write leaves the target and the inputs byte for byte
as they were, and nothing else in the folder; every write is atomic, with one file mode."""

from __future__ import annotations

import errno
import os
import stat

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import hostile_files as hf
from lstmcalc import atomic
from lstmcalc.cli import app
from lstmcalc.errors import FileError

runner = CliRunner()


def snapshot(folder) -> dict:
    """{name: bytes, or the kind of a non-regular entry} of everything in ``folder``."""
    out = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        st_ = os.lstat(path)
        if stat.S_ISLNK(st_.st_mode):
            out[name] = ("link", os.readlink(path))
        elif stat.S_ISREG(st_.st_mode):
            out[name] = open(path, "rb").read()
        else:
            out[name] = ("kind", stat.S_IFMT(st_.st_mode))
    return out


def one_line_error(result, code=1, needle=None):
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == code, (result.exit_code, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstmcalc: error: "), result.stderr
    if needle:
        assert needle in lines[0], lines[0]


# --- every kind of bad target, for every command that writes -------------------------------------


def _targets(d):
    """name -> (setup, the path to write): each must be refused."""
    return {
        "directory": (lambda: os.mkdir(d / "out.npz"), d / "out.npz"),
        "trailing slash": (lambda: None, str(d / "newdir") + "/"),
        "missing folder": (lambda: None, d / "nofolder" / "out.npz"),
        "fifo": (lambda: os.mkfifo(d / "out.npz"), d / "out.npz"),
        "device": (lambda: None, "/dev/null"),
        "unwritable folder": (lambda: None, "/proc/self/out.npz"),
    }


def _commands(d, target):
    return {
        "convert": ["convert", str(d / "in.npz"), "-o", str(target)],
        "run --save": ["run", "--weights", str(d / "in.npz"), "--inputs", str(d / "x.npy"), "--save", str(target),
                       "--backend", "numpy"],
    }


def _inputs(d):
    hf.npz_file(d / "in.npz")
    hf.npy_file(d / "x.npy")


@pytest.mark.parametrize("kind", ["directory", "trailing slash", "missing folder", "fifo", "device",
                                  "unwritable folder"])
@pytest.mark.parametrize("command", ["convert", "run --save"])
def test_bad_targets_are_refused_and_nothing_changes(tmp_path, kind, command):
    _inputs(tmp_path)
    setup, target = _targets(tmp_path)[kind]
    setup()
    before = snapshot(tmp_path)
    result = runner.invoke(app, _commands(tmp_path, target)[command])
    one_line_error(result, 1, "--output" if command == "convert" else "--save")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", ["in.npz", "hard.npz", "soft.npz", "./in.npz"])
def test_convert_onto_its_input_is_refused(tmp_path, name, monkeypatch):
    """Today (before this fix) `convert in.npz -o in.npz` silently replaced the input."""
    monkeypatch.chdir(tmp_path)
    hf.npz_file(tmp_path / "in.npz")
    os.link(tmp_path / "in.npz", tmp_path / "hard.npz")
    os.symlink("in.npz", tmp_path / "soft.npz")
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["convert", "in.npz", "-o", name])
    one_line_error(result, 1, "is the input file")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("which", ["--weights", "--inputs"])
def test_run_save_onto_an_input_is_refused(tmp_path, which):
    np.savez(tmp_path / "w.npz", **hf.keras_weights())
    np.save(tmp_path / "x.npy", np.zeros((2, 3, hf.X), np.float32))
    target = tmp_path / ("w.npz" if which == "--weights" else "x.npy")
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["run", "--weights", str(tmp_path / "w.npz"), "--inputs", str(tmp_path / "x.npy"),
                                 "--save", str(target)])
    one_line_error(result, 1, "is the input file")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("name", ["s.npz", "hard.npz", "soft.npz"])
def test_run_save_onto_its_initial_state_is_refused(tmp_path, name):
    """Before issue 23, `run --initial-state s.npz --save s.npz` exited 0 and s.npz then held
    only `output`: the states it was read for were gone."""
    made = runner.invoke(app, ["run", "-u", "2", "-x", "1", "-b", "2", "-t", "3", "--return-state",
                               "--save", str(tmp_path / "s.npz"), "--backend", "numpy"])
    assert made.exit_code == 0, made.stderr
    os.link(tmp_path / "s.npz", tmp_path / "hard.npz")
    os.symlink("s.npz", tmp_path / "soft.npz")
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["run", "-u", "2", "-x", "1", "-b", "2", "-t", "3", "--backend", "numpy",
                                 "--initial-state", str(tmp_path / "s.npz"), "--save", str(tmp_path / name)])
    one_line_error(result, 1, f"is the input file {tmp_path / 's.npz'}")
    assert snapshot(tmp_path) == before


def test_run_save_onto_its_lengths_file_is_refused(tmp_path):
    """--lengths reads any .npy by its content, whatever the name: one saved as l.npz is read,
    and was overwritten by --save l.npz."""
    with open(tmp_path / "l.npz", "wb") as f:
        np.save(f, np.array([3, 1], np.int64))
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["run", "-u", "2", "-x", "1", "--backend", "numpy",
                                 "--lengths", str(tmp_path / "l.npz"), "--save", str(tmp_path / "l.npz")])
    one_line_error(result, 1, "is the input file")
    assert snapshot(tmp_path) == before


# --- writability is tried, not asked: os.access says yes to root for /proc and /sys -----------------


def _refused_before_any_work(monkeypatch, argv, option):
    import lstmcalc.running

    calls = []

    def run_layer(*args, **kwargs):  # the forward pass: must not start for a path that cannot be written
        calls.append(args)
        raise AssertionError("the forward pass ran before the --save path was checked")

    monkeypatch.setattr(lstmcalc.running, "run_layer", run_layer)
    result = runner.invoke(app, argv)
    one_line_error(result, 1, option)
    assert "not writable" in result.stderr, result.stderr
    assert calls == []


@pytest.mark.parametrize("target", ["/proc/out.npz", "/sys/out.npz"])
def test_run_save_into_an_unwritable_folder_is_refused_before_the_pass(monkeypatch, target):
    """As root (CI and this machine), os.access('/proc', W_OK) is True: `run --save
    /proc/x.npz` computed the whole pass and only then failed to write."""
    _refused_before_any_work(monkeypatch, ["run", "-u", "2", "-x", "1", "--backend", "numpy", "--save", target],
                             "--save")


@pytest.mark.parametrize("target", ["/proc/out.npz", "/sys/out.npz"])
def test_check_target_does_not_trust_os_access(monkeypatch, target):
    """os.access answering yes (as it does for root) changes nothing: the folder is tried."""
    monkeypatch.setattr(os, "access", lambda *a, **k: True)
    with pytest.raises(FileError, match="not writable"):
        atomic.check_target(target, "--output")


def test_check_target_leaves_the_folder_as_it_was(tmp_path):
    (tmp_path / "old.npz").write_bytes(b"old bytes")
    before = snapshot(tmp_path)
    assert atomic.check_target(tmp_path / "new.npz", "--output") == str(tmp_path / "new.npz")
    assert atomic.check_target(tmp_path / "old.npz", "--output") == str(tmp_path / "old.npz")
    assert snapshot(tmp_path) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write a file of mode 0444: run the tests as another user")
def test_a_read_only_target_is_refused_for_a_user(tmp_path):
    (tmp_path / "ro.npz").write_bytes(b"old bytes")
    os.chmod(tmp_path / "ro.npz", 0o444)
    with pytest.raises(FileError, match="read-only"):
        atomic.check_target(tmp_path / "ro.npz", "--output")


@pytest.mark.parametrize("kind", ["directory", "missing folder", "fifo"])
def test_plot_targets(tmp_path, kind):
    pytest.importorskip("matplotlib")
    target = {"directory": tmp_path / "p.png", "missing folder": tmp_path / "no" / "p.png",
              "fifo": tmp_path / "p.png"}[kind]
    if kind == "directory":
        os.mkdir(target)
    if kind == "fifo":
        os.mkfifo(target)
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["count", "-u", "1,2", "-x", "1", "--plot", str(target)])
    one_line_error(result, 1, "--plot")
    assert snapshot(tmp_path) == before


# --- a write that fails half-way (a full disk) ---------------------------------------------------------


def test_full_disk_leaves_the_old_file(tmp_path, monkeypatch):
    _inputs(tmp_path)
    (tmp_path / "out.npz").write_bytes(b"the previous output")

    def full(f, **arrays):
        f.write(b"PK\x03\x04 half an archive")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", full)
    before = snapshot(tmp_path)
    result = runner.invoke(app, ["convert", str(tmp_path / "in.npz"), "-o", str(tmp_path / "out.npz")])
    one_line_error(result, 1, "No space left on device")
    assert snapshot(tmp_path) == before


# --- the property ----------------------------------------------------------------------------------

KINDS = ["directory", "missing folder", "fifo", "same as input", "hard link to input", "symlink to input",
         "disk full after some bytes", "writer raises"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(KINDS), old=st.one_of(st.none(), st.binary(max_size=64)), cut=st.integers(0, 64))
def test_refused_writes_change_no_byte(tmp_path_factory, kind, old, cut):
    """For any refused write through atomic.write_atomic, the target (if it existed) and the
    input are byte-identical to before, and no other file appears."""
    d = tmp_path_factory.mktemp("w")
    (d / "input.npz").write_bytes(b"input bytes \x00\x01")
    target = d / "target.npz"
    if old is not None and kind not in ("directory", "fifo", "same as input", "hard link to input",
                                        "symlink to input"):
        target.write_bytes(old)
    if kind == "directory":
        os.mkdir(target)
    elif kind == "missing folder":
        target = d / "missing" / "target.npz"
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "same as input":
        target = d / "input.npz"
    elif kind == "hard link to input":
        os.link(d / "input.npz", target)
    elif kind == "symlink to input":
        os.symlink(d / "input.npz", target)
    payload = bytes(range(256)) * 4

    def write(f):
        f.write(payload[:cut])
        if kind == "disk full after some bytes":
            raise OSError(errno.ENOSPC, "No space left on device")
        if kind == "writer raises":
            raise RuntimeError("a bug half-way")

    before = snapshot(d)
    with pytest.raises((FileError, RuntimeError)):
        atomic.write_atomic(target, write, "--output", inputs=[d / "input.npz"])
    assert snapshot(d) == before


# --- one file mode, following the umask ---------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_every_writer_uses_the_umask(tmp_path, umask):
    pytest.importorskip("matplotlib")
    _inputs(tmp_path)
    old = os.umask(umask)
    try:
        r1 = runner.invoke(app, ["convert", str(tmp_path / "in.npz"), "-o", str(tmp_path / "c.npz")])
        r2 = runner.invoke(app, ["run", "-u", "2", "-x", "1", "--save", str(tmp_path / "s.npz"),
                                 "--backend", "numpy"])
        r3 = runner.invoke(app, ["count", "-u", "1,2", "-x", "1", "--plot", str(tmp_path / "p.png")])
    finally:
        os.umask(old)
    assert (r1.exit_code, r2.exit_code, r3.exit_code) == (0, 0, 0), (r1.stderr, r2.stderr, r3.stderr)
    for name in ("c.npz", "s.npz", "p.png"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o666 & ~umask, name


def test_a_replaced_file_keeps_its_mode(tmp_path):
    _inputs(tmp_path)
    (tmp_path / "c.npz").write_bytes(b"old")
    os.chmod(tmp_path / "c.npz", 0o640)
    result = runner.invoke(app, ["convert", str(tmp_path / "in.npz"), "-o", str(tmp_path / "c.npz")])
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(os.stat(tmp_path / "c.npz").st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["c.npz", "in.npz", "x.npy"]
