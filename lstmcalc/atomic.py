"""The one way lstmcalc writes a file (stdlib only): checked first, then atomically.

:func:`check_target` runs before any work, so a bad path costs nothing and writes nothing:
the target must not be a directory, a FIFO, a device or one of the command's input files,
and its folder must exist and be writable -- tried by creating and removing a file there,
not asked of ``os.access``, which says yes to root everywhere. :func:`write_atomic` writes
into a temporary file in the target's folder, flushes and fsyncs it, and renames it over the
target, so a failure (a full disk, an error half-way) leaves the old file, or no file, never half of
one. A new file gets ``0o666 & ~umask`` like any ordinary tool's; a replaced file keeps its
permission bits, as shell redirection would.

Refusals are :class:`FileError` (exit 1), one line naming the option and the path.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from typing import BinaryIO

from .errors import FileError


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """Permission bits of a new file: ``0o666 & ~umask`` (0644 under the usual umask 022)."""
    return 0o666 & ~_umask()


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_target(path, option: str, inputs: Iterable = ()) -> str:
    """The real path to write for ``path`` (a symbolic link is written through), or
    :class:`FileError` when writing there would fail or lose data: a directory, FIFO or
    device; a missing or unwritable folder; one of ``inputs`` (the same file by any name)."""
    file = os.fspath(path)
    if not file or file.endswith(("/", os.sep)):
        raise FileError(f"{option}: {file!r} names a directory, not a file")
    real = os.path.realpath(file)
    try:
        st = os.stat(real)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise FileError(f"{option}: {file}: cannot write ({e.strerror or e})") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise FileError(f"{option}: {file} is {_kind(st.st_mode)}; allowed: a regular file or a new name")
    for given in inputs:
        if given is not None and os.path.exists(os.fspath(given)) and _same_file(os.fspath(given), real):
            raise FileError(
                f"{option}: {file} is the input file {os.fspath(given)}; writing it would destroy the input, "
                "choose another name"
            )
    folder = os.path.dirname(real)
    if not os.path.isdir(folder):
        raise FileError(f"{option}: {file}: the folder {folder} does not exist")
    _probe_folder(file, folder, option)
    if st is not None:
        _probe_file(file, real, option)
    return real


def _probe_folder(file: str, folder: str, option: str) -> None:
    """Create and remove a temporary file in ``folder``, as :func:`write_atomic` will: the
    one test that holds for root too (``os.access`` says yes to root for /proc and /sys,
    where creating a file then fails)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".lstmcalc-", suffix=".tmp", dir=folder)
    except OSError as e:
        raise FileError(f"{option}: {file}: the folder {folder} is not writable ({e.strerror or e})") from None
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:
        pass


def _probe_file(file: str, real: str, option: str) -> None:
    """Open an existing target for writing (no truncation, nothing written), as shell
    redirection would: refused where that fails (a read-only file for a user other than root,
    an immutable file), rather than asking ``os.access``."""
    try:
        fd = os.open(real, os.O_WRONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as e:
        raise FileError(f"{option}: {file} is read-only ({e.strerror or e})") from None
    os.close(fd)


def write_atomic(path, write: Callable[[BinaryIO], None], option: str, inputs: Iterable = ()) -> None:
    """Write a file through ``write(f)`` (``f`` a binary file) atomically at ``path``.

    Checked again with :func:`check_target`; then a temporary file in the same folder,
    ``write``, flush, fsync, chmod and ``os.replace``. An ``OSError`` (a full disk, a
    quota) becomes :class:`FileError`; any other exception from ``write`` passes through.
    Either way the temporary file is removed and the target is as it was.
    """
    file = os.fspath(path)
    real = check_target(file, option, inputs)
    try:
        mode = stat.S_IMODE(os.stat(real).st_mode)
    except OSError:
        mode = new_file_mode()
    folder = os.path.dirname(real)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".lstmcalc-", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            if hasattr(os, "fchmod"):  # mkstemp made it 0600
                os.fchmod(f.fileno(), mode)
            else:  # Windows
                os.chmod(tmp, mode)
        os.replace(tmp, real)
        tmp = None
    except OSError as e:
        raise FileError(f"{option}: {file}: cannot write ({e.strerror or e})") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
