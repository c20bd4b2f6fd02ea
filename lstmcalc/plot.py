"""Line plots of a size grid; the only module that imports matplotlib (extra ``plot``)."""

from __future__ import annotations

import os

from .atomic import check_target
from .counting import Grid
from .errors import LstmcalcError
from .spec import SpecError

FORMATS = (".png", ".svg")
WIDTH_IN, HEIGHT_IN, DPI = 8.0, 5.0, 100  # a PNG of 800 × 500 pixels


class PlotError(LstmcalcError):
    """A plot that cannot be made here: matplotlib (the ``plot`` extra) is not installed. A
    bad extension is a :class:`~lstmcalc.spec.SpecError`, a path that cannot be written a
    :class:`~lstmcalc.errors.FileError`."""


def check_path(path: str) -> str:
    """Validate the output path before any work: its folder must exist, its extension be known."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise SpecError("plot", f"{path!r} has extension {ext or '(none)'!r}; allowed: .png, .svg")
    check_target(path, "--plot")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PlotError("drawing a plot needs matplotlib: pip install 'lstmcalc[plot]'") from None
    return ext


def plot_grid(grid: Grid, path: str, title: str) -> None:
    """Draw ``grid`` against units, one line per input size and framework; write atomically."""
    ext = check_path(path)
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    ax = fig.add_subplot()
    from . import frameworks

    styles = ("-", "--", "-.", ":")  # one per framework, in the registry's order
    order = frameworks.names()
    conv = grid.options.get("kernel_size") is not None  # a ConvLSTM: filters F, channels C
    x_label, size_label = ("filters F", "channels C") if conv else ("units H", "input X")
    for fw in grid.frameworks:
        for k, x in enumerate(grid.inputs):
            ys = [grid.values[fw][(h, x)] for h in grid.units]
            ax.plot(grid.units, ys, styles[order.index(fw) % len(styles)], color=f"C{k % 10}", marker="o",
                    markersize=3, label=f"{frameworks.get(fw).TITLE}, {size_label} = {x}")
    ax.set_xlabel(x_label)
    ax.set_ylabel(grid.quantity)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()

    from .writers import write_figure

    write_figure(path, fig, ext[1:], DPI, "--plot")
