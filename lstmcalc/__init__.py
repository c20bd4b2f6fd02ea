"""lstmcalc: exact parameter counts, tensor shapes, cost and numerics of LSTM, GRU and SimpleRNN
layers, in the conventions of every framework in :data:`FRAMEWORKS`.

Public API: :func:`count`, :func:`breakdown`, :func:`cost`, :func:`forward`, :func:`prepare`, :func:`convert`,
:func:`read_layers` and :data:`FRAMEWORKS`. ``count``, ``breakdown`` and ``cost`` use the
standard library only; NumPy is imported when a function that handles weights is first called.
"""

from ._version import __version__

from .counting import Breakdown, breakdown, count  # noqa: E402
from .errors import FileError  # noqa: E402
from .frameworks import FRAMEWORKS  # noqa: E402
from .spec import LayerSpec, SpecError  # noqa: E402


def cost(units, input_size, **options):
    """MACs, FLOPs by kind, memory and what FLOP counters report; see
    :func:`lstmcalc.costing.cost`. (Imported on first use: ``count`` does not pay for it.)"""
    from .costing import cost as _cost

    return _cost(units, input_size, **options)


def __getattr__(name):
    if name == "Cost":
        from .costing import Cost

        return Cost
    raise AttributeError(f"module 'lstmcalc' has no attribute {name!r}")


def forward(x, weights, **options):
    """Run the layer described by ``options`` on ``x`` (B, T, X) with ``weights``.

    See :func:`lstmcalc.cells.forward` for the keywords and the result.
    """
    from .cells import forward as _forward  # NumPy is imported here, not at package import

    return _forward(x, weights, **options)


def prepare(weights, **options):
    """A layer object with ``weights`` checked and prepared once, called as ``layer(x)``
    (like ``torch.nn.LSTM``); ``layer(x)`` equals ``forward(x, weights, **options)``. See
    :func:`lstmcalc.cells.prepare` and :class:`lstmcalc.cells.Layer`."""
    from .cells import prepare as _prepare

    return _prepare(weights, **options)


def convert(weights, *, cell, source, target, **options):
    """The same layer's weights in another framework's names, shapes and gate order
    (source → canonical form → target); see :func:`lstmcalc.converting.convert_weights`.

    >>> import numpy as np
    >>> w = {"kernel": np.ones((1, 8)), "recurrent_kernel": np.ones((2, 8)), "bias": np.zeros(8)}
    >>> sorted(convert(w, cell="lstm", source="keras", target="torch"))
    ['bias_hh_l0', 'bias_ih_l0', 'weight_hh_l0', 'weight_ih_l0']
    """
    from .converting import convert_weights

    return convert_weights(weights, cell=cell, source=source, target=target, **options)


def read_layers(path, layer=None, framework=None):
    """Every recurrent layer in a saved model or weights file (what ``lstmcalc inspect``
    shows), each a ``FoundLayer`` with its spec, weights and per-gate statistics; ``layer``
    picks one by name. See :func:`lstmcalc.readers.read_layers`."""
    from .readers import read_layers as _read_layers

    return _read_layers(path, layer, framework)


__all__ = [
    "FRAMEWORKS", "Breakdown", "Cost", "FileError", "LayerSpec", "SpecError", "breakdown", "convert", "cost",
    "count", "forward", "prepare", "read_layers", "__version__",
]
