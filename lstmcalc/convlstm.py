"""Keras 3's ConvLSTM1D/2D/3D: the convolution options and their arithmetic (stdlib only).

Source (read, not guessed): ``keras/src/layers/rnn/conv_lstm.py`` (``ConvLSTMCell``,
``ConvLSTM``), ``conv_lstm1d.py``, ``conv_lstm2d.py``, ``conv_lstm3d.py`` and
``keras/src/ops/operation_utils.py`` (``compute_conv_output_shape``), Keras 3.15.1.

A ConvLSTM layer is an LSTM whose four gate products are convolutions: with F filters
(``units`` here), C input channels (``input_size``) and a window of k = k_1 · … · k_n
positions (``kernel_size``), ``kernel`` is kernel_size + (C, 4F), ``recurrent_kernel``
kernel_size + (F, 4F) and ``bias`` (4F,), gate order i, f, c, o along the last axis:

    params = 4 × (k × (C + F) × F + F)          (without use_bias: 4 × k × (C + F) × F)

The count does not depend on the input's spatial size. The input convolution uses the
layer's ``strides``, ``padding`` and ``dilation_rate``; the recurrent one always strides 1
and padding "same" (``ConvLSTMCell.recurrent_conv``), so h and c keep the output's spatial
size, per dimension (``compute_conv_output_shape``):

    valid: floor((S − d·(k − 1) − 1) / s) + 1        same: floor((S − 1) / s) + 1

Keras refuses ``strides > 1`` together with ``dilation_rate > 1`` (ConvLSTMCell.__init__),
a kernel_size or dilation_rate of 0 (``standardize_tuple``), a padding other than valid or
same, and a valid output size below 1 (when the layer is called); it builds strides = 0 but
fails when called (a division by zero). lstmcalc refuses all of these up front.
"""

from __future__ import annotations


from .spec import CONV_CELLS, ConvSpec, SpecError, check_digits

PADDINGS = ("valid", "same")
DATA_FORMATS = ("channels_last", "channels_first")
RANKS = {cell: int(cell[-2]) for cell in CONV_CELLS}  # convlstm2d -> 2
AXES = {1: ("S",), 2: ("S1", "S2"), 3: ("S1", "S2", "S3")}  # spatial axis names in shapes


def parse_ints(param: str, text) -> tuple[int, ...] | None:
    """``"3"`` or ``"3,5"`` (the CLI's form), an int or a sequence of ints (the API's), as a
    tuple; None stays None."""
    if text is None:
        return None
    if isinstance(text, bool):
        raise SpecError(param, f"must be whole numbers, got {text!r}")
    if isinstance(text, int):
        return (text,)
    if isinstance(text, str):
        items = [p.strip() for p in text.split(",")]
        if not text.strip() or not all(p.lstrip("-").isdecimal() and p.isascii() for p in items):
            raise SpecError(param, f"{text!r} is not a whole number or a comma-separated list of them, like 3 or 3,5")
        check_digits(param, items)
        return tuple(int(p) for p in items)
    try:
        values = tuple(text)
    except TypeError:
        raise SpecError(param, f"must be an int or a sequence of ints, got {text!r}") from None
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise SpecError(param, f"must be an int or a sequence of ints, got {text!r}")
    return values


def _per_dim(param: str, value, rank: int, cell: str, default: int | None) -> tuple[int, ...]:
    """One int for every dimension, or one per dimension, each >= 1 (Keras' standardize_tuple)."""
    values = parse_ints(param, value)
    if values is None:
        if default is None:
            raise SpecError(param, f"is needed for --cell {cell}: one whole number, or {rank} (one per spatial dimension)")
        values = (default,)
    if len(values) == 1:
        values = values * rank
    if len(values) != rank:
        raise SpecError(param, f"{cell} takes 1 value or {rank} (one per spatial dimension), got {len(values)}")
    if min(values) < 1:
        raise SpecError(param, f"must be whole numbers >= 1, got {min(values)}")
    return values


def make_conv(cell: str, *, kernel_size=None, strides=None, padding=None, dilation_rate=None,
              data_format=None, spatial=None) -> ConvSpec:
    """Validate a ConvLSTM's options as Keras 3.15.1 does, and the output size when ``spatial``
    is given; :class:`SpecError` naming the option and what is allowed."""
    rank = RANKS[cell]
    kernel = _per_dim("kernel_size", kernel_size, rank, cell, None)
    strides = _per_dim("strides", strides, rank, cell, 1)
    dilation = _per_dim("dilation_rate", dilation_rate, rank, cell, 1)
    padding = "valid" if padding is None else padding
    if padding not in PADDINGS:
        raise SpecError("padding", f"must be one of {', '.join(PADDINGS)}, got {padding!r}")
    data_format = "channels_last" if data_format is None else data_format
    if data_format not in DATA_FORMATS:
        raise SpecError("data_format", f"must be one of {', '.join(DATA_FORMATS)}, got {data_format!r}")
    if max(strides) > 1 and max(dilation) > 1:  # ConvLSTMCell.__init__ raises ValueError
        raise SpecError(
            "strides",
            f"{_tuple(strides)} with dilation_rate {_tuple(dilation)}: Keras refuses strides > 1 together with "
            "dilation_rate > 1 (\"Specifying `strides > 1` is not compatible with `dilation_rate > 1`\")",
        )
    if spatial is not None:
        spatial = parse_ints("spatial", spatial)
        if len(spatial) != rank:
            raise SpecError("spatial", f"{cell} takes {rank} spatial size{'s' if rank > 1 else ''}, got {len(spatial)}")
        if min(spatial) < 1:
            raise SpecError("spatial", f"must be whole numbers >= 1, got {min(spatial)}")
    conv = ConvSpec(rank, kernel, strides, padding, dilation, data_format, spatial)
    if spatial is not None:
        for axis, (s, k, d, out) in enumerate(zip(spatial, kernel, dilation, conv.output_spatial())):
            if out < 1:  # compute_conv_output_shape: "Computed output size would be zero or negative"
                span = d * (k - 1) + 1
                raise SpecError(
                    "kernel_size",
                    f"{k} (dilation {d}, a span of {span}) is larger than the spatial size {s} of dimension {axis} "
                    "with padding valid: the output would have no positions (Keras: \"Computed output size would "
                    "be zero or negative\"); use a smaller kernel or --padding same",
                )
    return conv


def _tuple(values: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, values)) + ("," if len(values) == 1 else "") + ")"


def describe(conv: ConvSpec) -> str:
    """'kernel 3×3, strides 1×1, padding valid' (and dilation, data format where not default)."""
    parts = [f"kernel {'×'.join(map(str, conv.kernel_size))}"]
    if max(conv.strides) > 1:
        parts.append(f"strides {'×'.join(map(str, conv.strides))}")
    if max(conv.dilation_rate) > 1:
        parts.append(f"dilation {'×'.join(map(str, conv.dilation_rate))}")
    parts.append(f"padding {conv.padding}")
    if conv.data_format != "channels_last":
        parts.append(conv.data_format)
    return ", ".join(parts)
