"""``lstmcalc run``: a forward pass on a random batch or on given weights and inputs, timed.

The library side of the command: it builds the weights and inputs, checks the memory
estimate before allocating anything, runs :func:`lstmcalc.cells.forward` and returns a
:class:`RunReport`. It never prints.
"""

from __future__ import annotations

import os

import time as _time
from dataclasses import dataclass, replace

import numpy as np

from . import frameworks
from .cells import forward as _forward, numba_refusal
from .conventions import all_tensors, weights_key
from .memory import check_memory
from .spec import LayerSpec, SpecError, refuse_shaped_only

RUN_DTYPES = ("float32", "float64")


@dataclass(frozen=True, eq=False)
class RunReport:
    """One timed forward pass and every tensor that took part in it."""

    spec: LayerSpec
    dtype: str
    seed: int
    weights_from: str  # "initialised (keras defaults)" or the file name
    inputs_from: str  # "N(0, 1), seed 0" or the file name
    tensors: tuple[tuple[str, str, tuple[int, ...]], ...]  # (role, name, shape), in flow order
    result: object  # cells.ForwardResult
    run_ms: float  # wall time of the pass, Numba compilation excluded
    compile_ms: float  # Numba's first-call cost: compile or cache load, thread start (0.0 on NumPy)
    matmul_flops: int  # 2 × MACs of the pass (all layers, directions, B and T)
    initial_state_from: str = "zeros"  # or the .npz file the states came from
    lengths: tuple[int, ...] | None = None  # (B,) each row's real length; None: all T
    wall_ms: float | None = None  # the command's: since its process started (set by the CLI)
    backend_note: str | None = None  # why "auto" ran NumPy where Numba cannot run the layer (cells.numba_refusal)

    @property
    def gflops_per_s(self) -> float:
        return self.matmul_flops / (self.run_ms * 1e6) if self.run_ms > 0 else float("inf")

    def to_dict(self) -> dict:
        h = np.asarray(self.result.h)
        out = np.asarray(self.result.output)  # (B, ·) or (B, T, ·)
        return {
            "config": self.spec.to_dict(),
            "dtype": self.dtype,
            "seed": self.seed,
            "backend": self.result.backend,
            "backend_note": self.backend_note,
            "weights": self.weights_from,
            "inputs": self.inputs_from,
            "run_ms": self.run_ms,
            "compile_ms": self.compile_ms,
            "wall_ms": self.wall_ms,
            "matmul_flops": self.matmul_flops,
            "gflops_per_s": self.gflops_per_s,
            "initial_state": self.initial_state_from,
            "lengths": None if self.lengths is None else list(self.lengths),
            "tensors": [{"role": r, "name": n, "shape": list(s)} for r, n, s in self.tensors],
            "returned": [{"name": n, "shape": list(a.shape)} for n, a in self.result.returned],
            "h_sample": [float(v) for v in h.reshape(-1, h.shape[-1])[0][:6]],
            "output_sample": self.output_sample()[1],
        }

    def output_sample(self) -> tuple[str, list[float]]:
        """(where, up to 6 values): the first sample's last step of the output, in the
        framework's shape: ``output[0]`` (B, ·), ``output[0, -1]`` (B, T, ·), and for ONNX's Y
        the first index of every axis (``output[0, 0, 0]``: step 0, direction 0, sample 0)."""
        out = np.asarray(self.result.output)
        index = {2: (0,), 3: (0, -1)}.get(out.ndim, (0,) * (out.ndim - 1))
        where = "output[" + ", ".join(map(str, index)) + "]"
        return where, [float(v) for v in out[index][:6]]

    def __repr__(self) -> str:
        from .render import summary_line

        returned = ", ".join(f"{n} {tuple(a.shape)}" for n, a in self.result.returned)
        return (f"<RunReport {summary_line(self.spec)}, {self.dtype}, {self.result.backend}: {returned}; "
                f"{self.run_ms:,.3f} ms>")

    def __str__(self) -> str:  # print(report): the plain-text rendering, 80 columns
        from .render import plain_text

        return plain_text(self)

    def __rich__(self):
        from .render import run_view

        return run_view(self)


def _returned_tensors(result) -> list[tuple[str, str, tuple[int, ...]]]:
    """What the layer returns, in the framework's order (see ForwardResult.returned)."""
    return [("output" if name == "output" else "state", name, tuple(a.shape)) for name, a in result.returned]


def process_elapsed_ms() -> float | None:
    """Wall ms since this process started (Linux: ``/proc/self/stat`` field 22, the start in
    clock ticks since boot, against ``/proc/uptime``; 10 ms resolution); None elsewhere."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # fields from 3 on after "(comm)"
        with open("/proc/uptime") as f:
            uptime_s = float(f.read().split()[0])
        return max(0.0, (uptime_s - start_ticks / os.sysconf("SC_CLK_TCK")) * 1e3)
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def run_layer(
    spec: LayerSpec,
    *,
    seed: int = 0,
    dtype: str = "float32",
    backend: str = "numpy",  # lstmcalc.forward's and the CLI's default
    weights: dict | None = None,
    x: np.ndarray | None = None,
    weights_from: str | None = None,
    inputs_from: str | None = None,
    initial_state=None,
    initial_state_from: str | None = None,
    lengths=None,
) -> RunReport:
    """Run ``spec`` once. Without ``weights``, the framework's default initialisation
    (seeded); without ``x``, a N(0, 1) batch (B, T, X) from ``seed``.

    ``x``: (B, T, X) when given, and then B and T come from it. The memory estimate is
    checked before any array of the layer's size is made. ``initial_state`` and
    ``lengths``: as :func:`lstmcalc.cells.forward` takes them.
    """
    from .costing import cost_spec
    from .weights import init_weights

    refuse_shaped_only(spec.cell, "run")

    if dtype not in RUN_DTYPES:
        raise SpecError("dtype", f"must be one of {', '.join(RUN_DTYPES)}, got {dtype!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SpecError("seed", f"must be a whole number >= 0, got {seed!r}")
    if x is not None:
        spec = replace(spec, batch=int(x.shape[0]), time=int(x.shape[1]))
    check_memory(spec, dtype)  # before allocating inputs, weights or buffers

    rng = np.random.default_rng(seed)
    if x is None:
        x = rng.standard_normal((spec.batch, spec.time, spec.input_size)).astype(dtype)  # (B, T, X)
        inputs_from = inputs_from or f"N(0, 1), seed {seed}"
    else:
        x = np.asarray(x, dtype=dtype)
    if weights is None:
        weights = init_weights(spec, seed=seed, dtype=dtype)
        weights_from = weights_from or f"{spec.framework} default initialisation, seed {seed}"

    def once():
        start = _time.perf_counter()
        out = _forward(
            x, weights, cell=spec.cell, framework=spec.framework, backend=backend,
            bidirectional=spec.bidirectional, layers=spec.layers, proj_size=spec.proj_size,
            reset_after=spec.reset_after, activation=spec.activation, bias=spec.bias,
            merge_mode=spec.merge_mode, return_sequences=spec.return_sequences,
            return_state=spec.return_state, recurrent_activation=spec.recurrent_activation,
            initial_state=initial_state, lengths=lengths,
        )
        return out, (_time.perf_counter() - start) * 1000.0

    result, elapsed_ms = once()
    compile_ms = 0.0
    if result.backend == "numba":
        # The first Numba call of a process also compiles or loads the cached kernels and
        # starts its thread pool: time a second, warm call and report the difference apart.
        result, warm_ms = once()
        compile_ms, elapsed_ms = max(elapsed_ms - warm_ms, 0.0), warm_ms
    tensors = [("input", "x", tuple(x.shape))]
    if lengths is not None:
        tensors.append(("input", "lengths", (spec.batch,)))
    shapes = getattr(frameworks.of(spec), "initial_state_shapes", None)  # optional in a framework module
    tensors += [("initial state", o.name, o.shape) for o in (shapes(spec) if shapes else [])]
    tensors += [("weight", weights_key(spec, t), t.shape) for t in all_tensors(spec)]
    tensors += _returned_tensors(result)
    return RunReport(
        spec=spec,
        dtype=dtype,
        seed=seed,
        weights_from=weights_from or "given",
        inputs_from=inputs_from or "given",
        tensors=tuple(tensors),
        result=result,
        run_ms=elapsed_ms,
        compile_ms=compile_ms,
        matmul_flops=cost_spec(spec).flops.matmul,
        initial_state_from=initial_state_from or ("given" if initial_state is not None else "zeros"),
        lengths=None if result.lengths is None else tuple(int(n) for n in result.lengths),
        backend_note=f"auto ran NumPy: {numba_refusal(spec)}" if backend == "auto" and numba_refusal(spec) else None,
    )
