"""The framework registry: one module per framework convention (stdlib at import).

Each module (``keras.py``, ``torch.py``, ...) says, as data where it can, how its framework
names, shapes and orders a recurrent layer's tensors, what the layer returns, which options
it has, and converts its weights to and from :mod:`lstmcalc.canonical`. Nothing outside
this package names a framework module: callers look one up with :func:`get`.

A framework module provides:

- ``NAME`` (the ``--framework`` value), ``TITLE`` (for headings), ``SHORT`` (in running
  text), ``CELLS``, ``CELL_TITLES`` ({cell: class name}), ``GATE_ORDER`` ({cell: our gate
  letters in its tensor order}), ``LETTERS`` ({(cell, gate): its own letter} where it
  differs from ours), ``NAMES_HINT`` (its weights keys, for messages);
- ``OPTIONS``: the layer options it has beyond the common ones (``merge_mode``,
  ``proj_size``, ``reset_before``, ``return_sequences``, ``return_state``, ``peepholes``,
  ``layout``, ``recurrent_activation``: gate functions other than sigmoid), and ``WHY_NOT``
  ({option: why it has no such thing}; also ``no_bias``,
  ``bidirectional``, ``layers`` for a convention that has no bias-free, bidirectional or
  stacked form, which :func:`make_spec` then refuses);
- optional: ``SHAPED_CELLS``, cells it counts and shapes only (``count``, ``breakdown``; Keras'
  ConvLSTM1D/2D/3D), with the same layout functions; ``input_shapes(spec)`` ([Output], the
  input's shape where ``breakdown`` shows it);
- the arithmetic and the words (stdlib): ``layer_tensors(spec, layer, direction)``,
  ``weights_key(spec, tensor)``, ``biases_per_gate(spec)``, ``formula(spec, layer)``,
  ``outputs(spec)``, ``constructor(spec)``, ``recognises(key)``, ``parse_name(key)``;
- weights (NumPy, imported inside the functions): ``describe_names(names)``,
  ``infer_options(weights, parsed, cell)``, ``to_canonical(weights, spec)``,
  ``from_canonical(canonical, spec)``, ``init_weights(spec, rng, dtype)``,
  ``forward_result(spec, output, h_n, c_n)``;
- optional: ``gate_biases(spec, gate)`` (bias vectors of length H of one gate, where they
  differ between gates; else ``biases_per_gate``), ``claims_h5(arrays)`` (a legacy Keras
  ``.h5`` layer's datasets {kernel, recurrent_kernel, bias} are this convention's),
  ``bias_note(spec)`` (the sentence ``breakdown`` says about its biases).
- initial states and padded batches (optional: without them, ``breakdown`` lists no
  initial states and ``forward`` refuses ``initial_state``/``lengths``):
  ``initial_state_shapes(spec)`` (stdlib; [Output], the names and shapes the layer takes,
  in its order), ``initial_state_from(spec, given, dtype)`` -> (h0 (D·L, B, H_out),
  c0 (D·L, B, H) or None) from the framework's own form or a mapping by name (SpecError
  naming the state and the expected shape), ``initial_state_to(spec, h_n, c_n)`` (the
  inverse, for streaming), ``masked_output(spec)`` -> "zero" | "hold" (what the output
  holds at steps past a sequence's length; the states are held there either way).

Adding a framework: its module, one line in :data:`MODULES`, its reader if it brings a new
file format, tests and docs; nothing else.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..spec import ACTIVATIONS, CELLS, RECURRENT_ACTIVATIONS, CONV_CELLS, MERGE_MODES, LayerSpec, SpecError

# The registry: --framework value -> module. Order is the order in help and messages.
MODULES = {
    "keras": "lstmcalc.frameworks.keras",
    "torch": "lstmcalc.frameworks.torch",
    "onnx": "lstmcalc.frameworks.onnx",
    "keras2": "lstmcalc.frameworks.keras2",
    "mlx": "lstmcalc.frameworks.mlx",
    "equinox": "lstmcalc.frameworks.equinox",
    "flax": "lstmcalc.frameworks.flax",
    "flax_nnx": "lstmcalc.frameworks.flax_nnx",
    "flax_nnx_opt": "lstmcalc.frameworks.flax_nnx_opt",
}

FRAMEWORKS = tuple(MODULES)


def names() -> tuple[str, ...]:
    """Every registered framework's ``--framework`` value."""
    return FRAMEWORKS


def get(name: str) -> ModuleType:
    """The framework module registered as ``name``; :class:`SpecError` for another name."""
    module = _LOADED.get(name)
    if module is None:
        if name not in MODULES:
            raise SpecError("framework", f"must be one of {', '.join(FRAMEWORKS)}, got {name!r}")
        module = _LOADED[name] = importlib.import_module(MODULES[name])
    return module


_LOADED: dict = {}  # name -> module: import_module costs ~6 µs even for a loaded module


def of(spec: LayerSpec) -> ModuleType:
    """The framework module of ``spec``."""
    return get(spec.framework)


def legacy_h5_framework(arrays: dict) -> str:
    """The framework whose layer a legacy Keras ``.h5`` holds, from its datasets: the first
    module whose ``claims_h5`` says so, else ``keras``."""
    for name in FRAMEWORKS:
        claims = getattr(get(name), "claims_h5", None)
        if claims is not None and claims(arrays):
            return name
    return "keras"


def gate_biases(spec: LayerSpec, gate: str) -> int:
    """Bias vectors of length H that gate ``gate`` has (per layer and direction)."""
    fw = of(spec)
    per_gate = getattr(fw, "gate_biases", None)
    return per_gate(spec, gate) if per_gate is not None else fw.biases_per_gate(spec)


def cells_of(fw: ModuleType) -> tuple[str, ...]:
    """Every cell ``fw`` has: its ``CELLS``, then those it counts and shapes only."""
    return tuple(fw.CELLS) + tuple(getattr(fw, "SHAPED_CELLS", ()))


def having(option: str) -> list[ModuleType]:
    """The framework modules that have ``option``."""
    return [m for m in map(get, FRAMEWORKS) if option in m.OPTIONS]


# --- validation -------------------------------------------------------------------------------


def _size(param: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(param, f"must be a whole number >= {minimum}, got {value!r}")
    if value < minimum:
        raise SpecError(param, f"must be a whole number >= {minimum}, got {value}")
    return value


def _choice(param: str, value, allowed: tuple) -> object:
    if value not in allowed:
        raise SpecError(param, f"must be one of {', '.join(map(str, allowed))}, got {value!r}")
    return value


def _flag(param: str, value) -> bool:
    if not isinstance(value, bool):
        raise SpecError(param, f"must be True or False, got {value!r}")
    return value


def _only(option: str) -> str:
    """'Keras and ONNX': the frameworks that have ``option``."""
    return " and ".join(m.SHORT for m in having(option)) or "no framework"


def _refuse(fw: ModuleType, option: str, param: str | None = None, default: str = "") -> None:
    raise SpecError(param or option, fw.WHY_NOT.get(option) or default or f"is not a {fw.TITLE} option; it is {_only(option)} only")


def make_spec(
    units,
    input_size,
    *,
    cell="lstm",
    framework="keras",
    bias=True,
    bidirectional=False,
    merge_mode=None,
    layers=1,
    proj_size=0,
    reset_after=None,
    batch=32,
    time=1,
    return_sequences=False,
    return_state=False,
    activation=None,
    peepholes=False,
    layout=None,
    recurrent_activation=None,
    kernel_size=None,
    strides=None,
    padding=None,
    dilation_rate=None,
    data_format=None,
    spatial=None,
) -> LayerSpec:
    """Validate keywords as the CLI and the API take them and return a :class:`LayerSpec`.

    ``None`` for ``merge_mode``, ``reset_after``, ``activation`` and ``layout`` means "not
    given": the framework default applies, and giving them where they mean nothing is an
    error, with the reason the framework module gives. ``kernel_size`` (needed), ``strides``,
    ``padding``, ``dilation_rate``, ``data_format`` and ``spatial`` (the input's spatial size,
    for shapes) belong to the ConvLSTM cells (:mod:`lstmcalc.convlstm`) and to no other.
    """
    units = _size("units", units)
    input_size = _size("input_size", input_size)
    cell = _choice("cell", cell, CELLS + CONV_CELLS)
    fw = get(framework)
    if cell not in cells_of(fw):
        owners = [m.NAME for m in map(get, FRAMEWORKS) if cell in cells_of(m)]
        raise SpecError("cell", f"{fw.TITLE} has no {cell} layer; it has {', '.join(cells_of(fw))}; "
                                f"{cell} is in --framework {', '.join(owners)}")
    bias = _flag("bias", bias)
    bidirectional = _flag("bidirectional", bidirectional)
    layers = _size("layers", layers)
    batch = _size("batch", batch)
    time = _size("time", time)
    return_sequences = _flag("return_sequences", return_sequences)
    return_state = _flag("return_state", return_state)
    peepholes = _flag("peepholes", peepholes)
    conv_options = dict(kernel_size=kernel_size, strides=strides, padding=padding, dilation_rate=dilation_rate,
                        data_format=data_format, spatial=spatial)
    conv = None
    if cell in CONV_CELLS:
        from ..convlstm import make_conv

        conv = make_conv(cell, **conv_options)
        if layers != 1:
            raise SpecError("layers", "a ConvLSTM is counted one layer at a time (each layer of a stack has its own "
                                      "--input channels and --spatial size); give one layer's sizes")
    else:
        for option, value in conv_options.items():
            if value is not None:
                raise SpecError(option, f"applies to --cell {', '.join(CONV_CELLS)} only, not {cell}")
    # what some conventions cannot have at all (WHY_NOT "no_bias", "bidirectional", "layers")
    for wanted, option, param in ((not bias, "no_bias", "bias"), (bidirectional, "bidirectional", None),
                                  (layers > 1, "layers", None)):
        if wanted and option in fw.WHY_NOT:
            raise SpecError(param or option, fw.WHY_NOT[option])

    if merge_mode is not None:
        merge_mode = _choice("merge_mode", merge_mode, MERGE_MODES)
        if "merge_mode" not in fw.OPTIONS:
            _refuse(fw, "merge_mode")
        if not bidirectional:
            raise SpecError("merge_mode", "needs --bidirectional (it says how the two directions merge)")
    else:
        merge_mode = "concat"

    if isinstance(proj_size, bool) or not isinstance(proj_size, int):
        raise SpecError("proj_size", f"must be a whole number 0 < P < units, got {proj_size!r}")
    if proj_size != 0:
        if "proj_size" not in fw.OPTIONS or cell != "lstm":
            owners = having("proj_size")
            where = " or ".join(f"{m.TITLE} LSTM (--framework {m.NAME} --cell lstm)" for m in owners)
            raise SpecError("proj_size", f"exists only for {where}, not {framework} {cell}")
        if not 0 < proj_size < units:
            raise SpecError("proj_size", f"must be 0 < P < units ({units}), got {proj_size}")

    if reset_after is not None:
        reset_after = _flag("reset_after", reset_after)
        if cell != "gru":
            raise SpecError("reset_after", f"applies to --cell gru only, not {cell}")
        if not reset_after and "reset_before" not in fw.OPTIONS:
            raise SpecError(
                "reset_after", f"{fw.WHY_NOT['reset_before']}; --no-reset-after is {_only('reset_before')} only"
            )
    else:
        reset_after = True

    if activation is not None:
        activation = _choice("activation", activation, ACTIVATIONS)
        if cell != "rnn" and activation != "tanh":
            raise SpecError("activation", f"relu applies to --cell rnn only; {cell} gates use sigmoid and tanh")
    else:
        activation = "tanh"

    if recurrent_activation is not None:
        recurrent_activation = _choice("recurrent_activation", recurrent_activation, RECURRENT_ACTIVATIONS)
        if recurrent_activation != "sigmoid":
            if cell not in ("lstm", "gru"):
                raise SpecError("recurrent_activation", f"is the gate function of an LSTM or GRU; a {cell} has no gates")
            if "recurrent_activation" not in fw.OPTIONS:
                _refuse(fw, "recurrent_activation", default=f"{recurrent_activation}: {fw.TITLE} {cell} gates use "
                                                            "sigmoid only; other gate functions are Keras only")
    else:
        recurrent_activation = "sigmoid"

    if peepholes:
        if "peepholes" not in fw.OPTIONS:
            _refuse(fw, "peepholes")
        if cell != "lstm":
            raise SpecError("peepholes", f"are LSTM connections from the cell state; a {cell} has no cell state")
    if layout is not None:
        layout = _choice("layout", layout, (0, 1))
        if "layout" not in fw.OPTIONS:
            _refuse(fw, "layout")
    else:
        layout = 0
    for option, value in (("return_sequences", return_sequences), ("return_state", return_state)):
        if value and option not in fw.OPTIONS:
            _refuse(fw, option)

    return LayerSpec(
        units=units,
        input_size=input_size,
        cell=cell,
        framework=framework,
        bias=bias,
        bidirectional=bidirectional,
        merge_mode=merge_mode,
        layers=layers,
        proj_size=proj_size,
        reset_after=reset_after,
        batch=batch,
        time=time,
        return_sequences=return_sequences,
        return_state=return_state,
        activation=activation,
        recurrent_activation=recurrent_activation,
        peepholes=peepholes,
        layout=layout,
        conv=conv,
    )
