"""How much memory a forward pass needs, checked before anything is allocated (stdlib only).

:func:`estimate_bytes` adds up every array :func:`lstmcalc.cells.forward` keeps alive at its
peak; :func:`check_memory` compares that with what the machine has free and raises
:class:`SizeError` (one line, the estimate in GiB) instead of letting NumPy try, swap, or
die. Sizes are Python integers, so ``--units 200000 --input 200000 --batch 4096 --time 4096``
is refused in microseconds.
"""

from __future__ import annotations

from functools import lru_cache

from .conventions import all_tensors
from .spec import LayerSpec

GIB = 1024**3
FALLBACK_AVAILABLE = 8 * GIB  # when /proc/meminfo is absent (macOS, Windows)
ITEMSIZE = {"float16": 2, "float32": 4, "float64": 8}


class SizeError(ValueError):
    """A layer, input or weight set too large for the memory this machine has free.

    ``needed`` and ``available`` are in bytes; the message is one line.
    """

    code = 2

    def __init__(self, message: str, needed: int = 0, available: int = 0):
        self.needed = needed
        self.available = available
        super().__init__(message)


def available_bytes() -> int:
    """``MemAvailable`` from ``/proc/meminfo`` when there is one, else a fixed 8 GiB."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024  # the file says kB and means KiB
    except (OSError, ValueError, IndexError):
        pass
    return FALLBACK_AVAILABLE


def itemsize(dtype) -> int:
    """Bytes per number: ``"float32"``, ``np.float64``, ``np.dtype(...)`` all work."""
    size = getattr(dtype, "itemsize", None)
    if isinstance(size, int):
        return size
    name = getattr(dtype, "__name__", dtype)
    if name in ITEMSIZE:
        return ITEMSIZE[name]
    raise ValueError(f"dtype: must be float32 or float64, got {dtype!r}")


@lru_cache(maxsize=256)
def weight_elements(spec: LayerSpec) -> int:
    """Numbers in all trainable tensors (from :func:`conventions.all_tensors`)."""
    return sum(t.count for t in all_tensors(spec))


def estimate_elements(spec: LayerSpec) -> dict[str, int]:
    """Numbers held at the peak of a forward pass, by what holds them.

    B, T, X, H, G, D, L, P as in :class:`LayerSpec`; W = :func:`weight_elements`.

    - ``input``: x (B, T, X), and a contiguous copy of it when x is a view
    - ``projections``: one layer-direction's input projections (B, T, G·H)
    - ``sequences``: the sequence entering a layer and the one leaving it, (B, T, D·H_out)
      each (the last one is the result); per direction (B, T, H_out) more when Keras
      merges by sum/mul/ave
    - ``states``: final states (D·L, B, H_out + H) and the per-step buffers (B, 3·G·H)
    - ``weights``: the caller's tensors and the prepared, gate-reordered copies (2·W), the
      gate blocks of the largest tensor while it is copied, and for a Keras GRU with
      reset_after=False the contiguous copies of U_zr and U_n it multiplies with (H_out·G·H)

    The caller's weights are counted in x's dtype (as ``run`` makes them). Measured with
    tracemalloc over every cell, framework, merge, stacks and projections
    (tests/test_memory.py), the peak is at most :func:`estimate_bytes`, which exceeds it by
    at most half plus the copy of x made only for a non-contiguous x.
    """
    b, t, x = spec.batch, spec.time, spec.input_size
    h, g, d, h_out = spec.units, spec.gates, spec.directions, spec.hidden_out
    width = max([d * h_out] + [spec.layer_input_size(k) for k in range(1, spec.layers)])
    sequences = 2 * b * t * width
    if spec.framework == "keras" and spec.bidirectional and spec.merge_mode != "concat":
        sequences += d * b * t * h_out
    return {
        "input": 2 * b * t * x,
        "projections": b * t * g * h,
        "sequences": sequences,
        "states": d * spec.layers * b * (h_out + h) + 3 * b * g * h,
        "weights": 2 * weight_elements(spec) + max(t.count for t in all_tensors(spec))
        + (h_out * g * h if spec.cell == "gru" and spec.framework == "keras" and not spec.reset_after else 0),
    }


def overhead_bytes(spec: LayerSpec) -> int:
    """Python objects, NumPy array headers and small temporaries of one call, whatever the
    sizes: 16 KiB + 8 KiB per layer and direction. Measured (tracemalloc, H = 2, X = 1,
    B = T = 1, where the arrays are negligible): 9-14 KiB for one layer and direction, about
    4-5 KiB more per further layer and direction (78 KiB for a bidirectional 8-layer LSTM)."""
    return (16 + 8 * spec.layers * spec.directions) * 1024


def estimate_bytes(spec: LayerSpec, dtype="float32") -> int:
    """Peak bytes of :func:`lstmcalc.cells.forward` for ``spec`` (its batch and time) in
    ``dtype``: :func:`estimate_elements` × the item size, plus :func:`overhead_bytes`."""
    return sum(estimate_elements(spec).values()) * itemsize(dtype) + overhead_bytes(spec)


ALWAYS_FITS = 64 * 1024**2  # below this, /proc/meminfo is not even read


def check_bytes(needed: int, what: str, available: int | None = None) -> None:
    """:class:`SizeError` when ``needed`` bytes exceed the free memory."""
    if available is None and needed <= ALWAYS_FITS:
        return
    free = available_bytes() if available is None else available
    if needed > free:
        raise SizeError(
            f"{what} needs about {needed / GIB:,.2f} GiB, more than the {free / GIB:,.2f} GiB of memory available; "
            "use smaller --units, --input, --batch, --time or --layers",
            needed,
            free,
        )


def check_memory(spec: LayerSpec, dtype="float32", available: int | None = None) -> int:
    """The estimate of :func:`estimate_bytes`, or :class:`SizeError` when it does not fit."""
    needed = estimate_bytes(spec, dtype)
    check_bytes(needed, f"a forward pass of this layer (batch {spec.batch}, time {spec.time})", available)
    return needed
