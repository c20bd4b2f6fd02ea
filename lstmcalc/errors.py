"""The library's error classes (stdlib only): every error meant for the user derives from
:class:`LstmcalcError` and carries its command-line exit code.

The command line turns these, and only these, into one ``lstmcalc: error: ...`` line; any
other exception is a bug and surfaces as one (a traceback in tests). Each class is also a
``ValueError``, so ``except ValueError`` in callers' code keeps working.
"""

from __future__ import annotations


class LstmcalcError(ValueError):
    """A problem with what the user gave: options (exit 2), files or the environment (exit 1).

    The message is one line.
    """

    code = 1


class FileError(LstmcalcError):
    """A file that cannot be read or written as asked: missing, not a regular file, damaged,
    too large, holding no recurrent layer or bad numbers, or an output path that would lose
    data. ``code`` 1. The message is one line and names the file, member or tensor."""

    code = 1
