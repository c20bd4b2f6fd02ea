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
from .cells import layer_of, numba_refusal
from .frameworks import all_tensors, weights_key
from .dtypes import COMPUTE_DTYPES
from .memory import check_memory
from .spec import LayerSpec, SpecError, refuse_shaped_only

RUN_DTYPES = COMPUTE_DTYPES  # lstmcalc.dtypes


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
    return [("output" if a is result.output else "state", name, tuple(a.shape)) for name, a in result.returned]


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
    from .costing import step_flops
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

    layer = layer_of(spec, weights, backend)  # the spec as it is: never inferred again from the names

    def once():
        start = _time.perf_counter()
        out = layer(x, initial_state=initial_state, lengths=lengths)
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
    tensors += [("initial state", o.name, o.shape) for o in frameworks.of(spec).initial_state_shapes(spec)]
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
        matmul_flops=step_flops(spec).matmul * spec.batch * spec.time,  # every step is computed, padded or not
        initial_state_from=initial_state_from or ("given" if initial_state is not None else "zeros"),
        lengths=None if result.lengths is None else tuple(int(n) for n in result.lengths),
        backend_note=f"auto ran NumPy: {numba_refusal(spec)}" if backend == "auto" and numba_refusal(spec) else None,
    )


# --- what `lstmcalc run` is asked ------------------------------------------------------------


@dataclass(frozen=True)
class RunRequest:
    """Everything ``lstmcalc run`` can be asked, as given: None where not given (then the
    weights file, the inputs, or the framework's default decides)."""

    units: int | None = None
    input_size: int | None = None
    cell: str | None = None  # None: from the weights file, else "lstm"
    framework: str | None = None  # None: from the weights file's names, else frameworks.DEFAULT (Keras 3)
    bias: bool | None = None
    bidirectional: bool | None = None
    merge_mode: str | None = None
    layers: int | None = None
    proj_size: int | None = None
    reset_after: bool | None = None
    activation: str | None = None
    peepholes: bool | None = None
    layout: int | None = None
    direction: str | None = None  # ONNX's: forward, reverse, bidirectional
    recurrent_activation: str | None = None  # Keras' gate function (spec.RECURRENT_ACTIVATIONS)
    batch: int | None = None
    time: int | None = None
    return_sequences: bool = False
    return_state: bool = False
    seed: int = 0
    dtype: str = "float32"
    backend: str = "numpy"
    weights: str | None = None  # any file `inspect` reads
    layer: str | None = None  # which recurrent layer of the weights file
    inputs: str | None = None  # an .npy (B, T, X)
    initial_state: str | None = None  # an .npz of the framework's state names
    lengths: str | None = None  # "5,3,7" or an .npy (B,)
    save: str | None = None  # an .npz to write what the layer returns to


def _whole(param: str, value, minimum: int) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < minimum):
        raise SpecError(param, f"must be a whole number >= {minimum}, got {value!r}")


def _spec_of_file(found, req: RunRequest, batch: int, time: int) -> LayerSpec:
    """The layer a weights file holds, with what the request adds (B, T, Keras' return
    options) and checks (every size or option it gives must be what the file says); what
    the file does not say (``found.unknown``) must be given."""
    from .frameworks import make_spec
    from .frameworks.shared import describe

    s = found.spec
    said = {"units": s.units, "input_size": s.input_size, "cell": s.cell, "bias": s.bias,
            "bidirectional": s.bidirectional, "layers": s.layers, "proj_size": s.proj_size,
            "peepholes": s.peepholes}
    for name, value in said.items():
        asked = getattr(req, name)
        if asked is not None and asked != value and not (name in ("bidirectional", "peepholes") and asked is False):
            shown = {"bias": "has a bias" if value else "has no bias"}.get(name, f"says {name} = {value}")
            raise SpecError(name, f"is {asked!r}, but {found.file} ({describe(s)}) {shown}")
    options = {"reset_after": s.reset_after if s.cell == "gru" else None, "activation": s.activation,
               "recurrent_activation": s.recurrent_activation if s.recurrent_activation != "sigmoid" else None,
               "merge_mode": s.merge_mode if s.bidirectional and "merge_mode" in frameworks.of(s).OPTIONS else None,
               "layout": s.layout if "layout" in frameworks.of(s).OPTIONS else None}
    defaults = {"recurrent_activation": "sigmoid"}  # None above: make_spec's default, which every convention has
    for name in options:
        asked = getattr(req, name)
        if name in found.unknown:
            if asked is None:
                from .tensors import describe_allowed

                raise SpecError(name, f"is needed: {found.file} ({describe(s)}) does not say it; "
                                      f"allowed here: {describe_allowed(found.unknown[name])}")
            options[name] = asked
        elif asked is not None and asked != (options[name] or defaults.get(name)) and name != "layout":
            raise SpecError(name, f"is {asked!r}, but {found.file} says {name} = {options[name] or defaults.get(name)!r}")
        elif name == "layout" and asked is not None:
            options[name] = asked  # how x and the outputs are laid out: the caller's, not the file's
    if "direction" in frameworks.of(s).OPTIONS:  # ONNX: an .onnx node says it; W/R/B/P show only D
        options["direction"] = s.direction
        if req.direction is not None and req.direction != s.direction:
            if found.attributes is not None or (req.direction == "bidirectional") != s.bidirectional:
                said = "node says" if found.attributes is not None else "tensors say"
                raise SpecError("direction", f"is {req.direction}, but {found.file}'s {said} direction = {s.direction}")
            options["direction"] = req.direction  # forward or reverse: one direction's tensors are the same
    elif req.direction is not None:
        options["direction"] = req.direction  # make_spec refuses it with the framework's reason
    from .spec import VARIANTS

    variants = {k: getattr(s, k) for k, v in VARIANTS.items() if getattr(s, k) != v}  # TFLite's, from the file
    return make_spec(s.units, s.input_size, cell=s.cell, framework=s.framework, bias=s.bias,
                     bidirectional=s.bidirectional, layers=s.layers, proj_size=s.proj_size, peepholes=s.peepholes,
                     batch=batch, time=time, return_sequences=req.return_sequences, return_state=req.return_state,
                     **options, **variants)


def run_request(req: RunRequest) -> RunReport:
    """What ``lstmcalc run`` does, as one library call: the output path checked before any
    work; B and T from the inputs or the lengths where not given; the layer from the weights
    file (read by :func:`lstmcalc.readers.read_layer`, the reader ``inspect``, ``convert``
    and ``diff`` use: every format and convention they read) or from the sizes; the states;
    the pass; and ``save`` written. Raises :class:`SpecError` / :class:`FileError`."""
    from .frameworks import make_spec

    refuse_shaped_only(req.cell or "lstm", "run")
    read_from = [p for p in (req.weights, req.inputs, req.initial_state) if p is not None]
    if req.lengths is not None and not req.lengths.replace(",", "").replace(" ", "").isdigit():
        read_from.append(req.lengths)  # an .npy of lengths
    if req.save is not None:
        from .writers import check_output_path

        check_output_path(req.save, "--save", read_from)  # before any work: a bad path writes nothing
    _whole("seed", req.seed, 0)
    for name in ("batch", "time", "layers", "units", "input_size"):
        _whole(name, getattr(req, name), 1)
    batch, time, x_size = req.batch, req.time, req.input_size
    given_lengths = None
    if req.lengths is not None:
        from .readers.states import parse_lengths

        given_lengths = parse_lengths(req.lengths, batch)
        if req.inputs is None and len(given_lengths):  # B and T from the lengths, unless given
            batch = batch or len(given_lengths)
            time = time or int(given_lengths.max())
    x = None
    if req.inputs is not None:
        from .weights import load_inputs

        x = load_inputs(req.inputs, input_size=x_size)
        x_size = x.shape[2]
        for name, given, actual in (("batch", batch, x.shape[0]), ("time", time, x.shape[1])):
            if given is not None and given != actual:
                raise SpecError(name, f"is {given}, but {req.inputs} has shape {x.shape} (batch, time, features)")
    if x is not None:
        batch, time = x.shape[0], x.shape[1]
    weights = None
    if req.weights is not None:
        from .readers import read_layer

        found = read_layer(req.weights, req.layer, framework=req.framework)
        # a model file may fix them (a TFLite model's batch); else the defaults 32 and 1
        batch, time = batch or found.spec.batch, time or found.spec.time
        if x is not None and req.input_size is None and x_size != found.spec.input_size:
            raise SpecError("x", f"{req.inputs} has {x_size} features per step, but {req.weights} holds a layer "
                                 f"with input_size {found.spec.input_size}")
        spec = _spec_of_file(found, req, batch, time)
        weights = found.weights
    else:
        batch, time = batch or 32, time or 1
        if req.layer is not None:
            raise SpecError("layer", "picks a layer of a --weights file; give --weights")
        if req.units is None or x_size is None:
            raise SpecError("units" if req.units is None else "input_size",
                            f"is needed without --weights ({'--units' if req.units is None else '--input'} gives the size)")
        spec = make_spec(req.units, x_size, cell=req.cell or "lstm", framework=req.framework or frameworks.DEFAULT,
                         bias=req.bias if req.bias is not None else True, bidirectional=bool(req.bidirectional),
                         merge_mode=req.merge_mode, layers=req.layers or 1, proj_size=req.proj_size or 0,
                         reset_after=req.reset_after, activation=req.activation, peepholes=bool(req.peepholes),
                         layout=req.layout, direction=req.direction, recurrent_activation=req.recurrent_activation,
                         batch=batch, time=time,
                         return_sequences=req.return_sequences, return_state=req.return_state)
    states = None
    if req.initial_state is not None:
        from .readers.states import load_initial_state

        states = load_initial_state(req.initial_state, spec, req.dtype)
    report = run_layer(spec, seed=req.seed, dtype=req.dtype, backend=req.backend, weights=weights, x=x,
                       weights_from=req.weights, inputs_from=req.inputs, initial_state=states,
                       initial_state_from=req.initial_state, lengths=given_lengths)
    if req.save is not None:
        from .writers import save_npz

        save_npz(req.save, report.result, report.spec, inputs=read_from)
    return report
