"""The framework registry: one module per convention (stdlib at import), each exporting one
:class:`~lstmcalc.frameworks.base.Convention` instance as ``CONVENTION`` (of its family's class,
``Fused``, ``FlaxTree`` or ``Keras``, where it has one).

Each module (``keras.py``, ``torch.py``, ...) says, as data where it can, how its framework
names, shapes and orders a recurrent layer's tensors, what the layer returns, which options
it has, and converts its weights to and from :mod:`lstmcalc.canonical`; the contract, with
what a module must define and the defaults for the rest, is :mod:`lstmcalc.frameworks.base`.
Nothing outside this package names a framework module: callers look a convention up with
:func:`get` (or :func:`of` a spec) and ask it.

Adding a convention: its module, one line in :data:`MODULES`, its reader if it brings a new
file format, and its test file; nothing else.
"""

from __future__ import annotations

import importlib

from ..spec import ACTIVATIONS, CELLS, CONV_CELLS, MERGE_MODES, RECURRENT_ACTIVATIONS, VARIANT_WORDS, VARIANTS, LayerSpec, SpecError
from ..canonical import DIRECTIONS, GATE_NAMES, GateSlice, Output, TensorLayout  # noqa: F401  (the vocabulary)
from .base import Convention

DIRECTION_WORDS = ("forward", "reverse", "bidirectional")  # ONNX's direction attribute, as make_spec takes it

# The registry: --framework value -> module. Order is the order in help and messages.
MODULES = {
    "keras": "lstmcalc.frameworks.keras",
    "torch": "lstmcalc.frameworks.torch",
    "torch_cell": "lstmcalc.frameworks.torch_cell",
    "onnx": "lstmcalc.frameworks.onnx",
    "keras2": "lstmcalc.frameworks.keras2",
    "mlx": "lstmcalc.frameworks.mlx",
    "equinox": "lstmcalc.frameworks.equinox",
    "flax": "lstmcalc.frameworks.flax",
    "flax_nnx": "lstmcalc.frameworks.flax_nnx",
    "flax_nnx_opt": "lstmcalc.frameworks.flax_nnx_opt",
    "tflite": "lstmcalc.frameworks.tflite",
}

FRAMEWORKS = tuple(MODULES)
DEFAULT = FRAMEWORKS[0]  # the convention a layer has when none is given (--framework's default): Keras 3
MAX_LAYERS = 1_000  # stacked layers a spec may have: breakdown draws every one (16 s for 1,000 here)


def names() -> tuple[str, ...]:
    """Every registered framework's ``--framework`` value."""
    return FRAMEWORKS


def get(name: str) -> Convention:
    """The convention registered as ``name`` (its module's ``CONVENTION``); :class:`SpecError`
    for another name."""
    conv = _LOADED.get(name)
    if conv is None:
        if name not in MODULES:
            raise SpecError("framework", f"must be one of {', '.join(FRAMEWORKS)}, got {name!r}")
        conv = _LOADED[name] = importlib.import_module(MODULES[name]).CONVENTION
    return conv


_LOADED: dict = {}  # name -> Convention: import_module costs ~6 µs even for a loaded module


def of(spec: LayerSpec) -> Convention:
    """The convention of ``spec``."""
    return get(spec.framework)


def legacy_h5_framework(arrays: dict) -> str:
    """The framework whose layer a legacy Keras ``.h5`` holds, from its datasets: the first
    convention whose ``claims_h5`` says so, else ``keras``."""
    return next((name for name in FRAMEWORKS if get(name).claims_h5(arrays)), "keras")


def gate_biases(spec: LayerSpec, gate: str) -> int:
    """Bias vectors of length H that gate ``gate`` has (per layer and direction)."""
    return of(spec).gate_biases(spec, gate)


def cells_of(fw: Convention) -> tuple[str, ...]:
    """Every cell ``fw`` has: its ``CELLS``, then those it counts and shapes only."""
    return fw.cells


def having(option: str) -> list[Convention]:
    """The conventions that have ``option``."""
    return [m for m in map(get, FRAMEWORKS) if option in m.OPTIONS]


def writing(extension: str) -> tuple[str, ...]:
    """The conventions ``convert`` writes an ``extension`` file for (".onnx": a runnable model,
    ".msgpack": a Flax tree; :attr:`Convention.WRITES`)."""
    return tuple(name for name in FRAMEWORKS if extension in get(name).WRITES)


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


def _not_an_option(fw: Convention, option: str) -> str:
    """'is not an option of MLX layers; only TFLite has it': the sentence where a convention
    gives no reason of its own."""
    owners = [m.SHORT for m in having(option)]
    who = f"only {' and '.join(owners)} {'has' if len(owners) == 1 else 'have'} it" if owners else "no framework has it"
    return f"is not an option of {fw.TITLE} layers; {who}"


def _refuse(fw: Convention, option: str, param: str | None = None, default: str = "") -> None:
    raise SpecError(param or option, fw.WHY_NOT.get(option) or default or _not_an_option(fw, option))


def make_spec(
    units,
    input_size,
    *,
    cell="lstm",
    framework=DEFAULT,
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
    direction=None,
    recurrent_activation=None,
    kernel_size=None,
    strides=None,
    padding=None,
    dilation_rate=None,
    data_format=None,
    spatial=None,
    **variants,
) -> LayerSpec:
    """Validate keywords as the CLI and the API take them and return a :class:`LayerSpec`.

    ``None`` for ``merge_mode``, ``reset_after``, ``activation``, ``layout`` and ``direction``
    means "not given": the framework default applies, and giving them where they mean nothing is an
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
        why = f"{fw.WHY_NOT[cell]}; " if cell in fw.WHY_NOT else ""
        raise SpecError("cell", f"{why}{fw.TITLE} has no {cell} layer; it has {', '.join(cells_of(fw))}; "
                                f"{cell} is in --framework {', '.join(owners)}")
    bias = _flag("bias", bias)
    bidirectional = _flag("bidirectional", bidirectional)
    layers = _size("layers", layers)
    if layers > MAX_LAYERS:
        raise SpecError("layers", f"must be at most {MAX_LAYERS:,} (a breakdown lists every layer), got {layers:,}")
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
        if "proj_size" not in fw.OPTIONS:  # the convention's own reason, then where a projection exists
            owners = " or ".join(m.NAME for m in having("proj_size"))
            raise SpecError("proj_size", f"{fw.WHY_NOT['proj_size']}; a projection exists for --framework {owners} "
                                         "--cell lstm")
        if cell != "lstm":
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
        layout = fw.DEFAULT_LAYOUT
    reverse = False
    if direction is not None:  # ONNX's attribute: forward, reverse (D = 1, run backwards), bidirectional
        direction = _choice("direction", direction, DIRECTION_WORDS)
        if direction != "forward" and "direction" not in fw.OPTIONS:
            _refuse(fw, "direction")
        if bidirectional and direction != "bidirectional":
            raise SpecError("direction", f"is {direction}, but the layer is bidirectional (--bidirectional, or D = 2 "
                                         "in its weights): that is direction bidirectional")
        if direction == "bidirectional" and cell in CONV_CELLS:
            raise SpecError("direction", f"{cell}: a ConvLSTM has one direction")
        bidirectional = direction == "bidirectional" or bidirectional
        reverse = direction == "reverse"
    variants = _variants(fw, cell, proj_size, peepholes, variants)
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
        reverse=reverse,
        conv=conv,
        **variants,
    )


def _variants(fw: Convention, cell: str, proj_size: int, peepholes: bool, given: dict) -> dict:
    """The LSTM variants given (keywords of :data:`VARIANTS`), checked against ``fw``."""
    out = {}
    for name, value in given.items():
        if name not in VARIANTS:
            raise TypeError(f"make_spec() got an unexpected keyword argument {name!r}")
        default = VARIANTS[name]
        if isinstance(default, bool):
            value = _flag(name, value)
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or value == float("inf"):
            raise SpecError(name, f"must be a finite number >= 0 (0: no clip), got {value!r}")
        else:
            value = float(value)
        if value == default:
            continue
        if name not in fw.OPTIONS:
            raise SpecError("variant", f"{name}: " + (fw.WHY_NOT.get(name) or f"{VARIANT_WORDS[name]} "
                                                      + _not_an_option(fw, name)))
        if cell != "lstm":
            raise SpecError("variant", f"{name} is an LSTM option ({VARIANT_WORDS[name]}); a {cell} has none")
        out[name] = value
    if out.get("proj_bias") and not proj_size:
        raise SpecError("proj_bias", "is the projection's bias; it needs proj_size > 0")
    if out.get("proj_clip") and not proj_size:
        raise SpecError("proj_clip", "clips the projection's output; it needs proj_size > 0")
    if out.get("diagonal") and proj_size:
        raise SpecError("diagonal", "diagonal recurrent weights (H,) multiply h elementwise, so h must be H wide; "
                                    "a projection makes it P wide")
    return out


# --- what every other module asks of a spec's convention (stdlib) ------------------------------


def gate_order(spec: LayerSpec) -> tuple[str, ...]:
    """Our gate letters in the order the framework's fused tensors hold them."""
    return of(spec).GATE_ORDER[spec.cell]


def framework_letter(spec: LayerSpec, gate: str) -> str:
    """What the framework's own source calls ``gate`` (Keras ``c`` for our ``g``)."""
    return of(spec).LETTERS.get((spec.cell, gate), gate)


def framework_title(spec: LayerSpec) -> str:
    """'Keras 3', 'PyTorch', ..."""
    return of(spec).TITLE


def cell_title(spec: LayerSpec) -> str:
    """The framework's class name of the cell: 'SimpleRNN' in Keras, 'RNN' in PyTorch."""
    return of(spec).CELL_TITLES[spec.cell]


def layer_tensors(spec: LayerSpec, layer: int, direction: str) -> list[TensorLayout]:
    """The tensors of one layer and direction, in the framework's own order."""
    return of(spec).layer_tensors(spec, layer, direction)


def all_tensors(spec: LayerSpec) -> list[TensorLayout]:
    """Every trainable tensor, in the order the framework lists them: layer by layer,
    forward then backward."""
    fw = of(spec)
    return [
        t
        for layer in range(spec.layers)
        for direction in DIRECTIONS[: spec.directions]
        for t in fw.layer_tensors(spec, layer, direction)
    ]


def weights_key(spec: LayerSpec, tensor: TensorLayout) -> str:
    """The name a tensor has in an ``.npz`` weights file."""
    return of(spec).weights_key(spec, tensor)


def constructor(spec: LayerSpec) -> list[str]:
    """Python lines that build the same layer in the framework itself."""
    return of(spec).constructor(spec)


def outputs(spec: LayerSpec) -> list[Output]:
    """What the layer returns, in the framework's return order."""
    return of(spec).outputs(spec)


def layer_formula(spec: LayerSpec, layer: int) -> tuple[str, str]:
    """One direction of ``layer``'s count as a formula, symbolic and with numbers."""
    return of(spec).formula(spec, layer)


def biases_per_gate(spec: LayerSpec) -> int:
    """nb: bias vectors of length H per gate (0, 1 or 2)."""
    return of(spec).biases_per_gate(spec)


# The Keras class names: the cell's usual title in tables and plots.
KERAS_CLASSES = {"lstm": "LSTM", "gru": "GRU", "rnn": "SimpleRNN",
                 "convlstm1d": "ConvLSTM1D", "convlstm2d": "ConvLSTM2D", "convlstm3d": "ConvLSTM3D"}
