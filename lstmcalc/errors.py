"""The library's error classes (stdlib only): every error meant for the user derives from
:class:`LstmcalcError`. They name the parameter (Python spelling) or the file, never a
command-line flag or an exit code: the CLI maps them to both at the edge.

The command line turns these, and only these, into one ``lstmcalc: error: ...`` line; any
other exception is a bug and surfaces as one (a traceback in tests). Each class is also a
``ValueError``, so ``except ValueError`` in callers' code keeps working.
"""

from __future__ import annotations


class LstmcalcError(ValueError):
    """A problem with what the user gave: an option, a file or the environment. The message
    is one line."""


class FileError(LstmcalcError):
    """A file that cannot be read or written as asked: missing, not a regular file, damaged,
    too large, holding no recurrent layer or bad numbers, or an output path that would lose
    data. The message is one line and names the file, member or tensor."""
