"""Forward passes of LSTM, GRU and SimpleRNN layers in NumPy, in the Keras 3 and PyTorch
conventions (the optional Numba kernels live in :mod:`lstmcalc._numba`).

Equations (one layer, one direction; x_t (B, X), h_{t-1} (B, H_out), c_{t-1} (B, H); W the
input weights, U the recurrent weights, one block per gate; σ the logistic sigmoid;
⊙ elementwise; h_0 = c_0 = 0):

    LSTM  (Hochreiter & Schmidhuber 1997, "Long Short-Term Memory", with the forget gate of
           Gers, Schmidhuber & Cummins 2000, "Learning to Forget"; ONNX peepholes p ⊙ c: see _lstm_peephole_numpy)
        i = σ(W_i x_t + U_i h_{t-1} + b_i)        input gate
        f = σ(W_f x_t + U_f h_{t-1} + b_f)        forget gate
        g = tanh(W_g x_t + U_g h_{t-1} + b_g)     cell candidate
        o = σ(W_o x_t + U_o h_{t-1} + b_o)        output gate
        c_t = f ⊙ c_{t-1} + i ⊙ g
        h_t = o ⊙ tanh(c_t)                       PyTorch proj_size P: h_t = W_hr (o ⊙ tanh(c_t))
      PyTorch has two biases, b = b_ih + b_hh (torch/nn/modules/rnn.py, LSTM docstring).

    GRU   (Cho et al. 2014, "Learning Phrase Representations using RNN Encoder-Decoder")
        z = σ(W_z x_t + U_z h_{t-1} + b_z)        update gate
        r = σ(W_r x_t + U_r h_{t-1} + b_r)        reset gate
        n = tanh(W_n x_t + b_in + r ⊙ (U_n h_{t-1} + b_hn))     reset-after: PyTorch, Keras
                                                                  reset_after=True (default)
        n = tanh(W_n x_t + U_n (r ⊙ h_{t-1}) + b_n)             Keras reset_after=False
        h_t = z ⊙ h_{t-1} + (1 − z) ⊙ n
      Reset-after biases: b_z, b_r are the sums of the input and recurrent rows
      (Keras bias (2, 3H), PyTorch bias_ih + bias_hh); b_in and b_hn stay apart.

    SimpleRNN / torch.nn.RNN (Elman 1990)
        h_t = act(W x_t + U h_{t-1} + b),  act = tanh or relu

How it is computed (both backends):
- Each layer and direction projects the inputs of all time steps with one matrix product,
  ``x.reshape(B·T, X) @ (X, G·H)`` → (B, T, G·H), biases added then; the loop over time
  does only the recurrent product (into a preallocated buffer) and the elementwise gate
  math, in place. Outputs are written straight into the batch-first result: no transposes.
- Weights are prepared once per call: transposed to (X, G·H) / (H_out, G·H), and their
  gate blocks reordered to an internal order with every sigmoid gate first, LSTM
  ``[i, f, o | g]`` and GRU ``[z, r | n]``, so that one ``tanh`` call covers all gates.
- σ(a) = ½·tanh(½·a) + ½: it never overflows (no ``exp`` of a large number), and scaling
  the sigmoid gates' weight and bias columns by ½ when preparing them is exact in binary
  floating point, so ``tanh`` of the pre-activation buffer gives tanh(½·a) directly.
- A backward direction reads the sequence from t = T−1 down to 0 and writes its output at
  the same t: the same as running on the reversed sequence and flipping the output back
  (Keras ``Bidirectional``, PyTorch ``bidirectional=True``).
"""

from __future__ import annotations

import sys
from time import perf_counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from . import frameworks, loops
from .dtypes import COMPUTE_DTYPES
from .canonical import merge_directions
from .frameworks import layer_tensors, weights_key
from .memory import SizeError, check_memory, estimate_bytes  # noqa: F401  (re-exported)
from .prepared import Prepared, input_projections, prepare_canonical
from .spec import VARIANTS, LayerSpec, SpecError
from .weights import infer_spec


def has_variants(spec: LayerSpec) -> bool:
    """Whether ``spec`` has an LSTM variant (spec.VARIANTS), which runs on NumPy only."""
    return any(getattr(spec, k) != v for k, v in VARIANTS.items())

BACKENDS = ("numpy", "numba", "auto")
DTYPES = COMPUTE_DTYPES  # the precisions a pass computes in (lstmcalc.dtypes)
NUMBA_EXTRA = "pip install 'lstmcalc[numba]'"


@dataclass(frozen=True, eq=False)
class ForwardResult:
    """What a forward pass returns.

    ``output``: what the framework returns as its output. PyTorch: the whole sequence
    (B, T, D·H_out). Keras: with ``return_sequences`` the whole sequence (B, T, D·H) under
    concat, (B, T, H) under sum/mul/ave; without it (Keras' default) the last step,
    (B, D·H) or (B, H) (for a Bidirectional layer: the merge of both directions' final h).
    ``h``, ``c``: PyTorch h_n (D·L, B, H_out) and c_n (D·L, B, H), as torch returns them;
    Keras (B, H), the last layer's forward-direction final states, with the backward
    direction's in ``h_backward``/``c_backward``. ``c`` and ``c_backward`` are None for GRU
    and SimpleRNN. Keras returns the states only with ``return_state``; :attr:`returned`
    lists exactly what the framework returns, in its order.
    ``backend``: "numpy" or "numba", the one that ran. ``compile_ms``: time this call spent
    compiling Numba kernels or loading them from the cache (0.0 when none).
    ``state``: every layer and direction's final states in the form ``initial_state=``
    takes (PyTorch ``(h_n, c_n)``; Keras ``[h, c]``, a list per layer for a stack): pass it
    to the next call to continue a stream. ``lengths``: the (B,) lengths the pass used.
    """

    output: np.ndarray
    h: np.ndarray
    c: np.ndarray | None
    backend: str
    compile_ms: float
    spec: LayerSpec
    h_backward: np.ndarray | None = None
    c_backward: np.ndarray | None = None
    state: object = None  # every layer's final states in the form initial_state= takes
    lengths: np.ndarray | None = None  # (B,) the lengths the pass used, None for full length
    # what the framework returns under its own names where they are not the fields above
    # (MLX hidden, cell (B, T, H); Flax outputs): name -> array
    named: dict | None = None
    # every layer and direction's final (h_n (D·L, B, H_out), c_n (D·L, B, H) or None) as the pass
    # keeps them, whatever the convention returns or takes: what stream() carries to the next chunk
    final: tuple | None = field(default=None, repr=False)

    @property
    def returned(self) -> tuple[tuple[str, np.ndarray], ...]:
        """(name, array) of what the real layer returns, in its order and under its names
        (the convention's ``returned_fields``, as ``breakdown`` lists them). PyTorch: output,
        h_n (and c_n for LSTM), as ``output, (h_n, c_n)`` / ``output, h_n``. ONNX: Y, Y_h
        (and Y_c). Keras: output alone, or with ``return_state`` output, h, c (LSTM) and for
        a Bidirectional layer output, h_fw, c_fw, h_bw, c_bw, here named h, c, h_backward,
        c_backward."""
        names = frameworks.of(self.spec).returned_fields(self.spec)
        named = self.named or {}
        values = ((n, named[n] if n in named else getattr(self, n)) for n in names)
        return tuple((n, a) for n, a in values if a is not None)

    def __repr__(self) -> str:
        from .render import summary_line

        parts = ", ".join(f"{n} {tuple(a.shape)}" for n, a in self.returned)
        return f"<ForwardResult {summary_line(self.spec)}, {self.output.dtype}, {self.backend}: {parts}>"

    def __str__(self) -> str:  # print(r): the plain-text rendering, 80 columns
        from .render import plain_text

        return plain_text(self)

    def __rich__(self):
        from .render import forward_view  # rich only when rendering

        return forward_view(self)

    def _repr_html_(self) -> str:
        from .render import forward_html

        return forward_html(self)


# --- validation -------------------------------------------------------------------------------


def _check_input(x) -> np.ndarray:
    """x as an ndarray (B, T, X) of float32 or float64, finite, or a one-line SpecError."""
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except (ValueError, TypeError) as e:
            raise SpecError("x", f"is not an array of numbers ({e})") from None
    if x.dtype.name not in DTYPES:
        raise SpecError("x", f"has dtype {x.dtype}; allowed: float32 or float64")
    if x.ndim != 3:
        raise SpecError("x", f"has shape {x.shape}; allowed: (batch, time, features), 3 dimensions")
    if 0 in x.shape:
        raise SpecError("x", f"has shape {x.shape}; batch, time and features must all be >= 1")
    _check_finite("x", x)
    return x


def _check_finite(name: str, a: np.ndarray) -> None:
    if a.size == 0 or a.dtype.kind in "iu":
        return
    if np.isfinite(a.min()) and np.isfinite(a.max()):  # min/max propagate NaN; no temporary array
        return
    finite = np.isfinite(a)
    if not finite.all():
        bad = np.argwhere(~finite)
        first = tuple(int(i) for i in bad[0])
        raise SpecError(
            "x" if name == "x" else "weights",
            f"{name} holds {len(bad)} NaN or inf value(s), the first at index {first} ({a[first]}); "
            "every value must be finite",
        )


def _choice(param: str, value, allowed) -> str:
    if value not in allowed:
        raise SpecError(param, f"must be one of {', '.join(map(str, allowed))}, got {value!r}")
    return value


def _given_options(cell, framework, bidirectional, proj_size, reset_after, activation, bias, merge_mode,
                   recurrent_activation="sigmoid") -> dict:
    """The options to check against the weights: each one that means something for this
    cell/framework, and any other that differs from its default (make_spec refuses those)."""
    given = {"bias": bias, "proj_size": proj_size}
    if recurrent_activation != "sigmoid":
        given["recurrent_activation"] = recurrent_activation
    if cell == "gru" or reset_after is not True:
        given["reset_after"] = reset_after
    if cell == "rnn" or activation != "tanh":
        given["activation"] = activation
    if (bidirectional is True and "merge_mode" in frameworks.get(framework).OPTIONS) or merge_mode != "concat":
        given["merge_mode"] = merge_mode
    return given


# --- backends ---------------------------------------------------------------------------------

# "auto" runs Numba only where the wait cannot exceed NumPy's: when this process already has
# the kernels the call needs (compiled or loaded by an earlier "numba" call, or by
# Layer.compile()), or when even a lower bound of the NumPy time is far above the worst
# first-call cost measured for Numba (importing it and compiling the kernels one call needs,
# with no cache: see AUTO_COLD_MS). NumPy's lower bound: NUMPY_STEP_MS per step and direction
# (its ~10 calls a step; benchmarks/forward.py measured 9.5-17 µs a step on 64/128/1/500 and
# 1/1/32/1000) plus the multiply-adds at NUMPY_MACS_PER_MS (100 GMAC/s: above the 84 GMAC/s
# that 2 cores' BLAS reached on 512/512/64/50's products alone, the 'gemms' column).
NUMPY_STEP_MS = 0.005
NUMPY_MACS_PER_MS = 1e8
AUTO_COLD_MS = 60_000.0  # 4× the 12-15 s a cold first Numba call took (issue 17; 12.2 s measured here)


def numpy_floor_ms(spec: LayerSpec) -> float:
    """A lower bound of the NumPy backend's time for ``spec`` (its batch and time), in ms."""
    steps = spec.time * spec.layers * spec.directions
    macs = 0
    for layer in range(spec.layers):
        macs += spec.batch * spec.time * spec.gates * spec.units * (spec.layer_input_size(layer) + spec.hidden_out)
    return steps * NUMPY_STEP_MS + spec.directions * macs / NUMPY_MACS_PER_MS


def _import_numba(backend: str):
    """lstmcalc._numba, or None when it does not import (a SpecError for backend="numba")."""
    try:
        from . import _numba
    except ImportError as e:
        if backend == "numba":
            why = "is not installed" if e.name == "numba" else f"failed to import ({e})"
            raise SpecError("backend", f"numba {why}; install it with {NUMBA_EXTRA}") from None
        return None
    return _numba


def numba_refusal(spec: LayerSpec) -> str | None:
    """Why the Numba kernels cannot run ``spec`` (then "numba" is refused and "auto" runs
    NumPy), or None: they compute sigmoid gates and no peepholes."""
    if spec.peepholes:
        return "numba has no peephole kernel"
    if spec.recurrent_activation != "sigmoid":
        return f"numba computes sigmoid gates only, not {spec.recurrent_activation}"
    if has_variants(spec):
        return "numba has no kernel for LSTM variants (CIFG, layer norm, clips, ...)"
    fw = frameworks.of(spec)
    if spec.cell == "lstm" and fw.CELL_SEQUENCE:
        return f"numba keeps the final cell state only, and {fw.TITLE}'s LSTM returns every step's"
    return None


def _pick_backend(backend: str, spec: LayerSpec, dtype, masked: bool = False) -> str:
    """The backend that runs: "numpy" or "numba" (see the AUTO_* notes above for "auto")."""
    if backend == "numpy" or numba_refusal(spec):  # forward refuses numba for these before this
        return "numpy"
    if backend == "numba":
        _import_numba(backend)
        return "numba"
    loaded = sys.modules.get(f"{__package__}._numba")  # auto never imports Numba for a small call
    if loaded is not None and loaded.is_warm(spec, dtype, masked):
        return "numba"
    if numpy_floor_ms(spec) >= AUTO_COLD_MS and _import_numba(backend) is not None:
        return "numba"
    return "numpy"


# --- the layer object ---------------------------------------------------------------------------


class Layer:
    """A recurrent layer (or a stack) with its weights checked and prepared once, called as
    ``layer(x)`` like ``torch.nn.LSTM``: the result equals ``forward(x, weights, ...)`` with the
    options it was prepared with (tests/test_layer.py), without re-validating and
    re-arranging the weights on every call. Make one with :func:`lstmcalc.prepare`.

    ``spec``: the layer (batch and time are each call's). ``backend``: as prepared.
    """

    def __init__(self, spec: LayerSpec, canonical, backend: str):
        self.spec = spec
        self.backend = backend
        self._canonical = canonical
        self._fw = frameworks.of(spec)
        self._params: dict = {}  # dtype char -> [layer][direction] Prepared
        self._specs: dict = {}  # (B, T) -> spec with them, memory checked (at most _SPECS_KEPT)

    def __repr__(self) -> str:
        from .render import summary_line

        return f"<lstmcalc.Layer {summary_line(self.spec)}, backend {self.backend}>"

    def params(self, dtype) -> list[list[Prepared]]:
        """The prepared weights in ``dtype`` (made on first use, then kept)."""
        dtype = np.dtype(dtype)
        params = self._params.get(dtype.char)
        if params is None:
            params = self._params[dtype.char] = prepare_canonical(self._canonical, self.spec, dtype)
        return params

    def _spec_for(self, b: int, t_len: int, dtype) -> LayerSpec:
        key = (b, t_len, dtype.char)
        spec = self._specs.get(key)
        if spec is None:
            spec = replace(self.spec, batch=b, time=t_len)
            check_memory(spec, dtype)
            if len(self._specs) >= _SPECS_KEPT:
                self._specs.clear()
            self._specs[key] = spec
        return spec

    def compile(self, batch: int = 1, time: int = 1, dtype="float32") -> float:
        """Compile (or load from Numba's cache) the kernels this layer needs for calls of
        ``batch`` rows and ``time`` steps in ``dtype``, now: the moment the caller chooses,
        so that later calls of that size, and "auto", use them (the kernels differ by size:
        see lstmcalc._numba.run_direction). Runs the layer once on zeros of that size.
        Returns the ms it took. Needs ``lstmcalc[numba]``."""
        _import_numba("numba")
        dtype = np.dtype(_choice("dtype", getattr(dtype, "__name__", str(dtype)), DTYPES))
        for name, value in (("batch", batch), ("time", time)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SpecError(name, f"must be a whole number >= 1, got {value!r}")
        start = perf_counter()
        spec = self._spec_for(batch, time, dtype)  # the memory check comes before the zeros
        x = np.zeros((batch, time, self.spec.input_size), dtype=dtype)  # (B, T, X)
        _run(spec, self._fw, self.params(dtype), x, "numba")
        return (perf_counter() - start) * 1e3

    def __call__(self, x, initial_state=None, lengths=None) -> ForwardResult:
        """The layer on ``x`` (B, T, X); ``initial_state`` and ``lengths`` as
        :func:`forward` takes them. Returns a :class:`ForwardResult`."""
        return self._call(x, initial_state, lengths)

    def _call(self, x, initial_state=None, lengths=None, final=None) -> ForwardResult:
        """``__call__``, or with ``final`` (a previous result's :attr:`ForwardResult.final`)
        from those states, in any convention: how :func:`stream` continues."""
        if not (type(x) is np.ndarray and x.dtype in _FLOATS and x.ndim == 3 and 0 not in x.shape):
            x = _check_input(x)  # the slow path: converts or says what is wrong
        else:
            _check_finite("x", x)
        if x.shape[2] != self.spec.input_size:
            first = weights_key(self.spec, layer_tensors(self.spec, 0, "forward")[0])
            raise SpecError("x", f"has {x.shape[2]} features per step (shape {x.shape}), but {first} takes "
                                 f"input_size {self.spec.input_size}")
        b, t_len = x.shape[0], x.shape[1]
        spec = self._spec_for(b, t_len, x.dtype)
        h0 = c0 = lens = None
        if final is not None:
            h0, c0 = (None if a is None else a.astype(x.dtype, copy=False) for a in final)
        elif initial_state is not None or lengths is not None:
            fw = self._fw
            for param, value, takes in (("initial_state", initial_state, fw.takes_initial_state),
                                        ("lengths", lengths, fw.takes_lengths)):
                if value is not None and not takes:
                    raise SpecError(param, f"is not implemented for {fw.TITLE} layers yet")
            if spec.peepholes or has_variants(spec):
                raise SpecError("initial_state" if initial_state is not None else "lengths",
                                "is not implemented for LSTM layers with peepholes or variants yet")
            if initial_state is not None:
                h0, c0 = fw.initial_state_from(spec, initial_state, x.dtype)
            lens = _check_lengths(lengths, b, t_len)
        chosen = _pick_backend(self.backend, spec, x.dtype, lens is not None)
        return _run(spec, self._fw, self.params(x.dtype), x, chosen, h0=h0, c0=c0, lens=lens)


_FLOATS = tuple(np.dtype(name) for name in COMPUTE_DTYPES)
_SPECS_KEPT = 64


def _layer(weights, *, cell, framework, backend, bidirectional, layers, proj_size, reset_after, activation,
           bias, merge_mode, return_sequences, return_state, layout, peepholes=None, direction=None,
           recurrent_activation="sigmoid", batch=1, time=1, copy=False, variants=None) -> Layer:
    """A :class:`Layer` from framework-named ``weights`` (checked: names, shapes, finite)."""
    _choice("cell", cell, ("lstm", "gru", "rnn"))
    frameworks.get(framework)  # SpecError naming the registered frameworks
    _choice("backend", backend, BACKENDS)
    if not isinstance(weights, Mapping):
        raise SpecError("weights", f"must be a mapping of tensor names to arrays, got {type(weights).__name__}")
    given = _given_options(cell, framework, bidirectional, proj_size, reset_after, activation, bias, merge_mode,
                           recurrent_activation)
    if direction == "bidirectional":  # ONNX's word for bidirectional=True
        bidirectional = True
    for option, value in (("layout", layout), ("peepholes", peepholes), ("direction", direction)):
        if value is not None:  # ONNX's; None: the tensors (P present or not) or the default say
            given[option] = value
    given.update(variants or {})  # LSTM variants (spec.VARIANTS) the tensors cannot show: the clips
    spec = infer_spec(weights, cell=cell, framework=framework, bidirectional=bidirectional, layers=layers,
                      batch=batch, time=time, return_sequences=return_sequences, return_state=return_state,
                      **given)
    return _checked_layer(spec, weights, backend, copy)


def _checked_layer(spec: LayerSpec, weights: Mapping[str, np.ndarray], backend: str, copy: bool = False) -> Layer:
    """The :class:`Layer` of weights whose names and shapes fit ``spec``: Numba refused where it
    cannot run the layer, every value checked finite, the arrays copied with ``copy``."""
    if backend == "numba" and numba_refusal(spec):
        what = "peepholes" if spec.peepholes else "them"
        raise SpecError("backend", f"{numba_refusal(spec)}; use numpy, or auto (which runs NumPy for {what})")
    for key, value in weights.items():
        _check_finite(key, np.asarray(value))
    if copy:  # the layer keeps its own copies: the caller may change its arrays afterwards
        weights = {k: np.array(v, copy=True) for k, v in weights.items()}
    return Layer(spec, frameworks.of(spec).to_canonical(weights, spec), backend)


def layer_of(spec: LayerSpec, weights: Mapping[str, np.ndarray], backend: str = "numpy") -> Layer:
    """A :class:`Layer` for a layer already known (a file read by :mod:`lstmcalc.readers`,
    or initialised weights): ``weights`` are checked against ``spec`` (names, shapes, every
    value finite), never used to infer it again."""
    from .tensors import check_tensors

    _choice("backend", backend, BACKENDS)
    check_tensors(weights, spec, SpecError)
    return _checked_layer(spec, weights, backend)


def prepare(
    weights: Mapping[str, np.ndarray],
    *,
    cell: str = "lstm",
    framework: str = frameworks.DEFAULT,
    backend: str = "numpy",
    bidirectional: bool = False,
    layers: int = 1,
    proj_size: int = 0,
    reset_after: bool = True,
    activation: str = "tanh",
    bias: bool = True,
    merge_mode: str = "concat",
    return_sequences: bool = False,
    return_state: bool = False,
    layout: int | None = None,
    peepholes: bool | None = None,
    direction: str | None = None,
    recurrent_activation: str = "sigmoid",
    **variants,
) -> Layer:
    """A :class:`Layer`: ``weights`` checked (names, shapes, every value finite) and converted
    once, to be called as ``layer(x)``, ``layer(x, initial_state=...)``, ``layer(x,
    lengths=...)``. The keywords are :func:`forward`'s, with the same defaults; the result
    of a call equals ``forward(x, weights, **keywords)``. The weights are copied: changing
    the caller's arrays afterwards does not change the layer."""
    return _layer(weights, cell=cell, framework=framework, backend=backend, bidirectional=bidirectional,
                  layers=layers, proj_size=proj_size, reset_after=reset_after, activation=activation, bias=bias,
                  merge_mode=merge_mode, return_sequences=return_sequences, return_state=return_state, layout=layout,
                  peepholes=peepholes, direction=direction, recurrent_activation=recurrent_activation, copy=True,
                  variants=variants)


# --- forward ----------------------------------------------------------------------------------


def forward(
    x,
    weights: Mapping[str, np.ndarray],
    *,
    cell: str = "lstm",
    framework: str = frameworks.DEFAULT,
    backend: str = "numpy",
    bidirectional: bool = False,
    layers: int = 1,
    proj_size: int = 0,
    reset_after: bool = True,
    activation: str = "tanh",
    bias: bool = True,
    merge_mode: str = "concat",
    return_sequences: bool = False,
    return_state: bool = False,
    layout: int | None = None,
    peepholes: bool | None = None,
    direction: str | None = None,
    recurrent_activation: str = "sigmoid",
    initial_state=None,
    lengths=None,
    **variants,
) -> ForwardResult:
    """Run a recurrent layer (or a stack) on ``x`` with ``weights``; see the module docstring.

    ``x``: (B, T, X), float32 or float64; the pass is computed in x's dtype and the weights
    are cast to it. ``weights``: the framework's tensors under
    :func:`lstmcalc.frameworks.weights_key` names — PyTorch ``weight_ih_l{k}`` (G·H, X_k),
    ``weight_hh_l{k}`` (G·H, H_out), ``bias_ih_l{k}``/``bias_hh_l{k}`` (G·H,),
    ``weight_hr_l{k}`` (P, H), suffix ``_reverse``; Keras ``kernel`` (X, G·H),
    ``recurrent_kernel`` (H, G·H), ``bias`` (G·H,) or GRU reset-after (2, 3H), under
    ``layer{k}/{forward|backward}/`` for a stack or a bidirectional layer. Units and input
    size come from the shapes; the keywords must agree with the tensors.

    ``backend``: "numpy", "numba" (needs ``lstmcalc[numba]``) or "auto" (Numba when it
    imports, else NumPy). ``return_sequences``, ``return_state``: Keras' options (of the last
    layer; PyTorch always returns the sequence and the states), with Keras' defaults: the
    result's ``output`` and :attr:`ForwardResult.returned` are what Keras returns for them.
    imports, else NumPy). LSTM peepholes (ONNX ``P``) and gates other than sigmoid run on
    NumPy: "auto" picks it, "numba" is refused (:func:`numba_refusal` says why).

    ``recurrent_activation``: the LSTM / GRU gate function σ (Keras ``recurrent_activation``;
    Keras weights only): "sigmoid", "hard_sigmoid_keras2" clip(0.2·a + 0.5, 0, 1) (Keras 2's
    hard_sigmoid, the default of its LSTM and GRU before 2.3) or "hard_sigmoid_keras3"
    relu6(a + 3) / 6 (Keras 3's hard_sigmoid).

    ONNX (``framework="onnx"``): weights ``W`` [D, G·H, X], ``R`` [D, G·H, H], ``B``
    [D, 2·G·H], ``P`` [D, 3H] (``layer{k}/W``, ... for a stack); ``reset_after`` is
    ``linear_before_reset`` (True: 1); ``x`` is (B, T, X) as for every framework (the
    node's X with layout 1; transpose a layout-0 [T, B, X]), and the result is in the
    node's shapes for ``layout`` (default 0): Y [T, D, B, H], Y_h [D, B, H]. ``peepholes``:
    None reads them from the weights (``P`` present or not), True/False must agree with them.
    ``direction``: the node's attribute, "forward" (default), "reverse" (D = 1, run from
    t = T−1 down to 0, Y in input order, Y_h the state after step 0) or "bidirectional"
    (as ``bidirectional=True``).

    ``initial_state``: the states to start from, in the framework's form (zeros when None).
    PyTorch: ``hx`` as the module takes it, ``h0`` (D·L, B, H_out), LSTM ``(h0, c0)`` with
    ``c0`` (D·L, B, H) (``batch_first`` does not apply to states). Keras: the list the
    layer's ``initial_state`` takes, ``[h, c]`` ((B, H) each; GRU/SimpleRNN ``[h]``),
    ``Bidirectional`` ``[h_fw, c_fw, h_bw, c_bw]``; a stack is L separate Keras layers, so
    a list of L entries, each that layer's list or None. Either framework: or a mapping by
    the names :func:`lstmcalc.frameworks.keras.initial_state_shapes` /
    ``...torch.initial_state_shapes`` list (``h0``, ``c0``; ``h``, ``c``, ``h_fw``...).

    ``lengths``: (B,) whole numbers 1 ≤ length ≤ T, each row's real length in a padded
    batch. The states are held over the steps t ≥ length (so h_n/c_n are each sequence's
    states at its own last step, and a backward direction starts at the sequence's own
    last step), as PyTorch ``pack_padded_sequence(x, lengths, batch_first=True,
    enforce_sorted=False)`` and Keras masking (``Masking`` / ``mask_zero``) do; the output
    there is the framework's: PyTorch ``pad_packed_sequence`` zeros; Keras the last
    unmasked step's output for one direction, zeros under ``Bidirectional``.

    Raises :class:`SpecError` for a bad option, a tensor that is missing, extra or of the
    wrong shape, a bad ``x``, or NaN/inf in ``x`` or a weight; :class:`SizeError` when
    :func:`estimate_bytes` exceeds the memory available (checked before allocating).
    """
    _choice("cell", cell, ("lstm", "gru", "rnn"))
    frameworks.get(framework)  # SpecError naming the registered frameworks
    _choice("backend", backend, BACKENDS)
    x = _check_input(x)
    layer = _layer(weights, cell=cell, framework=framework, backend=backend, bidirectional=bidirectional,
                   layers=layers, proj_size=proj_size, reset_after=reset_after, activation=activation, bias=bias,
                   merge_mode=merge_mode, return_sequences=return_sequences, return_state=return_state,
                   layout=layout, peepholes=peepholes, direction=direction, recurrent_activation=recurrent_activation,
                   batch=x.shape[0], time=x.shape[1], variants=variants)
    return layer(x, initial_state=initial_state, lengths=lengths)


def _check_lengths(lengths, batch: int, t_len: int):
    """lengths as an int64 array (B,) with 1 ≤ length ≤ T, or a one-line SpecError; None
    when not given."""
    if lengths is None:
        return None
    allowed = f"allowed: {batch} whole number(s), one per batch row, each 1 <= length <= T = {t_len}"
    try:
        a = np.asarray(lengths)
    except (ValueError, TypeError):
        raise SpecError("lengths", f"is not a list of whole numbers; {allowed}") from None
    if a.dtype.kind not in "iu" or a.dtype == np.bool_:
        if a.dtype.kind == "f" and a.size and np.isfinite(a).all() and (a == np.round(a)).all():
            a = a.astype(np.int64)
        else:
            raise SpecError("lengths", f"has dtype {a.dtype}; {allowed}")
    if a.shape != (batch,):
        raise SpecError("lengths", f"has shape {a.shape}; {allowed}")
    bad = np.flatnonzero((a < 1) | (a > t_len))
    if bad.size:
        raise SpecError("lengths", f"lengths[{bad[0]}] = {a[bad[0]]}; {allowed}")
    return np.ascontiguousarray(a, dtype=np.int64)


WHY_NO_STREAM = (
    "a bidirectional layer cannot stream: its backward direction starts at the last step and runs back "
    "to step 0, so its output at every step depends on inputs that have not arrived yet; chunks run one "
    "by one would restart the backward direction at each chunk's end"
)


def stream(chunks, weights: Mapping[str, np.ndarray], *, initial_state=None, **options):
    """Run chunks of one sequence batch, (B, T_k, X) each, one after another, each from
    the previous chunk's final states (``initial_state`` for the first): yields one
    :class:`ForwardResult` per chunk. Their outputs, joined along time, and the last
    chunk's states equal one :func:`forward` over the whole sequence, in every convention
    (tests/test_states.py): the states travel in the pass's own form (``result.final``).
    Refuses a bidirectional layer (:data:`WHY_NO_STREAM`), ``lengths`` (a stream has no
    padding) and an LSTM with peepholes or variants before running anything."""
    if options.get("bidirectional"):
        raise SpecError("bidirectional", WHY_NO_STREAM)
    if options.get("lengths") is not None:
        raise SpecError("lengths", "a stream has no padding: each chunk runs every row for all of its steps")

    layer = prepare(weights, **options)  # checked and prepared once, before any chunk runs
    if layer.spec.peepholes or has_variants(layer.spec):
        raise SpecError("peepholes" if layer.spec.peepholes else "variant",
                        "a stream starts each chunk from the previous one's states, which is not implemented for "
                        "LSTM layers with peepholes or variants yet")

    def steps():
        # the states travel in the pass's own form (result.final), so every convention streams,
        # including those whose initial_state= lstmcalc does not take yet (MLX, Flax, Keras 2, ...)
        result = None
        for x in chunks:
            result = layer(x, initial_state=initial_state) if result is None else layer._call(x, final=result.final)
            yield result

    return steps()


def _run(spec: LayerSpec, fw, params: list[list[Prepared]], x: np.ndarray, backend: str,
         h0=None, c0=None, lens=None) -> ForwardResult:
    """The stack of layers on x (B, T, X), with prepared weights, on one backend.
    h0 (D·L, B, H_out), c0 (D·L, B, H): initial states (None: zeros); lens (B,) int64 or
    None: each row's length (see :func:`forward`)."""
    dt = x.dtype
    b, t_len, _ = x.shape
    h, h_out, d = spec.units, spec.hidden_out, spec.directions
    merged = spec.bidirectional and spec.merge_mode != "concat"
    given_lens = lens
    if lens is not None and (lens == t_len).all():
        lens = None  # full length: nothing is held
    zero_fill = lens is not None and fw.masked_output(spec) == "zero"
    h_n = np.zeros((d * spec.layers, b, h_out), dtype=dt)  # (D·L, B, H_out)
    c_n = np.zeros((d * spec.layers, b, h), dtype=dt) if spec.cell == "lstm" else None  # (D·L, B, H)
    compile_ms = 0.0
    if backend == "numba":
        from . import _numba
    cells = None  # every step's c (B, T, H) of the last layer, where the framework returns it
    if c_n is not None and fw.CELL_SEQUENCE and d == 1:
        cells = np.empty((b, t_len, h), dtype=dt)

    seq = np.ascontiguousarray(x)  # (B, T, X)
    for layer in range(spec.layers):
        width = h_out if merged else d * h_out
        layer_out = np.empty((b, t_len, width), dtype=dt)  # (B, T, D·H_out) or (B, T, H)
        halves = [np.empty((b, t_len, h_out), dtype=dt) for _ in range(d)] if merged else None
        for k in range(d):
            p = params[layer][k]
            out = halves[k] if merged else layer_out[:, :, k * h_out : (k + 1) * h_out]  # (B, T, H_out)
            state = layer * d + k
            c_final = c_n[state] if c_n is not None else None
            h_init = None if h0 is None else h0[state]  # (B, H_out)
            c_init = None if c0 is None else c0[state]  # (B, H)
            reverse = k == 1 or spec.reverse  # the backward direction, or ONNX's direction="reverse"
            if backend == "numba":  # its own loops, or stepwise for large steps (see _numba.run_direction)
                compile_ms += _numba.run_direction(spec, p, seq, out, reverse, h_n[state], c_final, h_init, c_init, lens)
            else:
                xp = seq if p.variant is not None else input_projections(p, seq)  # (B, T, G·H); variants: x
                if spec.cell == "lstm":
                    c_out = cells if layer == spec.layers - 1 else None
                    loops.lstm_numpy(p, xp, out, reverse, h_n[state], c_final, h_init, c_init, lens, c_out)
                elif spec.cell == "gru":
                    loops.gru_numpy(p, xp, out, reverse, h_n[state], spec.reset_after, h_init, lens)
                else:
                    loops.rnn_numpy(p, xp, out, reverse, h_n[state], spec.activation == "relu", h_init, lens)
                del xp
            if zero_fill:
                _zero_padding(out, lens)
        if merged:
            merge_directions(spec.merge_mode, halves[0], halves[1], layer_out)
            del halves
        seq = layer_out
    output = seq  # (B, T, D·H_out) or (B, T, H)
    extra = {} if cells is None else {"cells": cells}
    returned = fw.forward_result(spec, output, h_n, c_n, **extra)  # the framework's own shapes
    return ForwardResult(backend=backend, compile_ms=compile_ms, spec=spec, lengths=given_lens, final=(h_n, c_n),
                         state=fw.initial_state_to(spec, h_n, c_n), **returned)


def _zero_padding(out: np.ndarray, lens: np.ndarray) -> None:
    """out[r, t] ← 0 for t ≥ lens[r]: out (B, T, ·)."""
    for r in np.flatnonzero(lens < out.shape[1]):
        out[r, lens[r] :] = 0
