"""The library's error for files and tensors (stdlib only). Options that describe no real
layer raise :class:`lstmcalc.spec.SpecError`; the CLI maps both to exit codes at the edge."""

from __future__ import annotations


class FileError(ValueError):
    """A weights file, or a tensor in it, that does not describe a recurrent layer.

    ``code`` is the command-line exit status (1: bad file). The message is one line and
    names the file or the tensor.
    """

    code = 1
