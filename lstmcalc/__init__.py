"""lstmcalc: exact parameter counts, tensor shapes, cost and numerics of LSTM, GRU and SimpleRNN
layers, in the Keras and the PyTorch conventions.

Public API: :func:`count`, :func:`breakdown`, :func:`cost`, :func:`forward`. ``count``,
``breakdown`` and ``cost`` use the standard library only; NumPy is imported when
:func:`forward` is first called.
"""

__version__ = "0.1.0"

from .counting import Breakdown, breakdown, count  # noqa: E402
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


__all__ = ["Breakdown", "Cost", "LayerSpec", "SpecError", "breakdown", "cost", "count", "forward", "__version__"]
