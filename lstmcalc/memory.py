"""How much memory a forward pass needs, checked before anything is allocated (stdlib only).

:func:`estimate_bytes` adds up every array :func:`lstmcalc.cells.forward` keeps alive at its
peak; :func:`check_memory` compares that with what the machine has free and raises
:class:`SizeError` (one line, the estimate in GiB) instead of letting NumPy try, swap, or
die. Sizes are Python integers, so ``--units 200000 --input 200000 --batch 4096 --time 4096``
is refused in microseconds.
"""

from __future__ import annotations

from functools import lru_cache

from .frameworks import all_tensors
from .dtypes import ITEMSIZE as BYTES
from .dtypes import WEIGHT_DTYPES
from .errors import LstmcalcError
from .spec import LayerSpec, SpecError

GIB = 1024**3
FALLBACK_AVAILABLE = 8 * GIB  # when the platform tells nothing (no /proc, no sysconf, no Windows API)
ITEMSIZE = {name: BYTES[name] for name in WEIGHT_DTYPES}  # the floats a forward pass or its weights are in

# Where Linux tells the limits; tests point these at fake trees.
PROC_SELF = "/proc/self"
PROC_MEMINFO = "/proc/meminfo"
CGROUP_ROOT = "/sys/fs/cgroup"
UNLIMITED = 2**62  # cgroup v1 says "no limit" with a number near 2**63


class SizeError(LstmcalcError):
    """A layer, input, weight set or file member too large for the memory this process may
    still use (the CLI's exit code 1: the environment; the same options fit on a larger machine).

    ``needed`` and ``available`` are in bytes; the message is one line.
    """

    def __init__(self, message: str, needed: int = 0, available: int = 0):
        self.needed = needed
        self.available = available
        super().__init__(message)


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read(1 << 16)
    except OSError:
        return None


def _status_bytes(field: str) -> int | None:
    """``VmSize`` / ``VmData`` of this process from /proc/self/status, in bytes."""
    text = _read(f"{PROC_SELF}/status")
    for line in (text or "").splitlines():
        if line.startswith(field + ":"):
            try:
                return int(line.split()[1]) * 1024  # kB, meaning KiB
            except (IndexError, ValueError):
                return None
    return None


def _rlimit_headroom() -> dict[str, int]:
    """RLIMIT_AS minus VmSize and RLIMIT_DATA minus VmData (``ulimit -v`` / ``ulimit -d``)."""
    try:
        import resource
    except ImportError:  # Windows
        return {}
    out = {}
    for name, limit_id, field in (("RLIMIT_AS (ulimit -v)", "RLIMIT_AS", "VmSize"),
                                  ("RLIMIT_DATA (ulimit -d)", "RLIMIT_DATA", "VmData")):
        rid = getattr(resource, limit_id, None)
        if rid is None:
            continue
        try:
            soft, _ = resource.getrlimit(rid)
        except (OSError, ValueError):
            continue
        if soft == resource.RLIM_INFINITY or soft < 0:
            continue
        used = _status_bytes(field)
        if used is None:  # no /proc (macOS): the whole limit, an overestimate of the headroom
            used = 0
        out[name] = max(soft - used, 0)
    return out


def _cgroup_number(path: str) -> int | None:
    text = _read(path)
    if text is None:
        return None
    text = text.strip()
    if text == "max":
        return None
    try:
        value = int(text)
    except ValueError:
        return None
    return None if value >= UNLIMITED else value


def _cgroup_headroom() -> dict[str, int]:
    """Limit minus usage of this process's memory cgroup and of every cgroup above it:
    v2 ``memory.max`` − ``memory.current``, v1 ``memory.limit_in_bytes`` − ``memory.usage_in_bytes``."""
    text = _read(f"{PROC_SELF}/cgroup")
    if not text:
        return {}
    best: int | None = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # v2 unified hierarchy
            base, limit_file, usage_file = CGROUP_ROOT, "memory.max", "memory.current"
        elif "memory" in controllers.split(","):
            base, limit_file, usage_file = f"{CGROUP_ROOT}/memory", "memory.limit_in_bytes", "memory.usage_in_bytes"
        else:
            continue
        parts_path = [p for p in path.strip().split("/") if p and p != ".."]
        for depth in range(len(parts_path), -1, -1):  # this cgroup, then each parent up to the root
            folder = "/".join([base] + parts_path[:depth])
            limit = _cgroup_number(f"{folder}/{limit_file}")
            if limit is None:
                continue
            usage = _cgroup_number(f"{folder}/{usage_file}") or 0
            room = max(limit - usage, 0)
            best = room if best is None else min(best, room)
    return {} if best is None else {"cgroup memory limit": best}


def _system_available() -> dict[str, int]:
    """MemAvailable (Linux), else what the platform offers (sysconf on macOS/BSD, the Windows API)."""
    text = _read(PROC_MEMINFO)
    if text is not None:
        for line in text.splitlines():
            if line.startswith("MemAvailable:"):
                try:
                    return {"MemAvailable": int(line.split()[1]) * 1024}
                except (IndexError, ValueError):
                    break
    import sys

    if sys.platform == "win32":
        return _windows_available()
    import os

    try:  # macOS and the BSDs: free pages (an underestimate of what could be reclaimed)
        pages, size = os.sysconf("SC_AVPHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        if pages > 0 and size > 0:
            return {"free physical memory": pages * size}
    except (ValueError, OSError, AttributeError):
        pass
    return {}


def _windows_available() -> dict[str, int]:
    import ctypes

    class Status(ctypes.Structure):
        _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
                    ("ullTotalPhys", ctypes.c_ulonglong), ("ullAvailPhys", ctypes.c_ulonglong),
                    ("ullTotalPageFile", ctypes.c_ulonglong), ("ullAvailPageFile", ctypes.c_ulonglong),
                    ("ullTotalVirtual", ctypes.c_ulonglong), ("ullAvailVirtual", ctypes.c_ulonglong),
                    ("ullAvailExtendedVirtual", ctypes.c_ulonglong)]

    status = Status()
    status.dwLength = ctypes.sizeof(Status)
    try:
        if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)):  # type: ignore[attr-defined]
            return {"available physical memory": int(status.ullAvailPhys),
                    "available virtual memory": int(status.ullAvailVirtual)}
    except (AttributeError, OSError):
        pass
    return {}


def memory_limits() -> dict[str, int]:
    """Bytes this process may still allocate, by what limits it: ``RLIMIT_AS (ulimit -v)``,
    ``RLIMIT_DATA (ulimit -d)``, ``cgroup memory limit``, ``MemAvailable`` (or the
    platform's free memory). Only the limits that exist here are in the dict."""
    limits: dict[str, int] = {}
    limits.update(_rlimit_headroom())
    limits.update(_cgroup_headroom())
    limits.update(_system_available())
    return limits


def memory_budget() -> tuple[int, str]:
    """The smallest of :func:`memory_limits` and what it is; a fixed 8 GiB when none is known."""
    limits = memory_limits()
    if not limits:
        return FALLBACK_AVAILABLE, "an assumed 8 GiB (this platform reports no limit)"
    name = min(limits, key=limits.get)
    return limits[name], name


def available_bytes() -> int:
    """Bytes this process may still allocate: the smallest of the address-space and data
    limits' headroom (``ulimit -v``, ``ulimit -d``), the memory cgroup's limit minus its
    usage, and the system's available memory (see :func:`memory_limits`)."""
    return memory_budget()[0]


def itemsize(dtype) -> int:
    """Bytes per number: ``"float32"``, ``np.float64``, ``np.dtype(...)`` all work."""
    size = getattr(dtype, "itemsize", None)
    if isinstance(size, int):
        return size
    name = getattr(dtype, "__name__", dtype)
    if name in ITEMSIZE:
        return ITEMSIZE[name]
    raise SpecError("dtype", f"must be float32 or float64, got {dtype!r}")


@lru_cache(maxsize=256)
def weight_elements(spec: LayerSpec) -> int:
    """Numbers in all trainable tensors (from :func:`frameworks.all_tensors`)."""
    return sum(t.count for t in all_tensors(spec))


def estimate_elements(spec: LayerSpec) -> dict[str, int]:
    """Numbers held at the peak of a forward pass, by what holds them.

    B, T, X, H, G, D, L, P as in :class:`LayerSpec`; W = :func:`weight_elements`.

    - ``input``: x (B, T, X), and a contiguous copy of it when x is a view
    - ``projections``: one layer-direction's input projections (B, T, G·H)
    - ``sequences``: the sequence entering a layer and the one leaving it, (B, T, D·H_out)
      each (the last one is the result; a Keras sum/mul/ave merge of the two directions,
      (B, T, H_out), fits in the same room: the merge is made in place)
    - ``states``: final states (D·L, B, H_out + H) and the per-step buffers (B, 3·G·H)
    - ``weights``: the caller's tensors and the prepared, gate-reordered copies (2·W), and
      for a Keras GRU with reset_after=False the contiguous copies of U_zr and U_n it
      multiplies with (H_out·G·H)

    The caller's weights are counted in x's dtype (as ``run`` makes them). Measured with
    tracemalloc over every cell, framework, merge, stacks and projections, and realistic
    shapes (tests/test_memory.py), the peak is at most :func:`estimate_bytes`, which exceeds
    it by at most half plus the copy of x made only for a non-contiguous x; each term is
    needed: without it, some shape there peaks above the estimate.
    """
    b, t, x = spec.batch, spec.time, spec.input_size
    h, g, d, h_out = spec.units, spec.gates, spec.directions, spec.hidden_out
    width = max([d * h_out] + [spec.layer_input_size(k) for k in range(1, spec.layers)])
    return {
        "input": 2 * b * t * x,
        "projections": b * t * g * h,
        "sequences": 2 * b * t * width,
        "states": d * spec.layers * b * (h_out + h) + 3 * b * g * h,
        "weights": 2 * weight_elements(spec) + (h_out * g * h if spec.cell == "gru" and not spec.reset_after else 0),
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


ALWAYS_FITS = 64 * 1024**2  # below this, the limits are not even read
SIZES_HINT = "use smaller --units, --input, --batch, --time or --layers"


def check_bytes(needed: int, what: str, available: int | None = None, hint: str = SIZES_HINT) -> None:
    """:class:`SizeError` when ``needed`` bytes exceed the memory budget (:func:`memory_budget`)."""
    if available is None and needed <= ALWAYS_FITS:
        return
    if available is None:
        free, source = memory_budget()
    else:
        free, source = available, "given"
    if needed > free:
        raise SizeError(
            f"{what} needs about {needed / GIB:,.2f} GiB, more than the {free / GIB:,.2f} GiB of memory available"
            f" (limited by {source}); {hint}",
            needed,
            free,
        )


def check_memory(spec: LayerSpec, dtype="float32", available: int | None = None) -> int:
    """The estimate of :func:`estimate_bytes`, or :class:`SizeError` when it does not fit."""
    needed = estimate_bytes(spec, dtype)
    check_bytes(needed, f"a forward pass of this layer (batch {spec.batch}, time {spec.time})", available)
    return needed
