"""Keras 3 ``ConvLSTM1D``/``2D``/``3D``: tensors, formula, shapes and constructor (stdlib).

Part of the Keras convention (:mod:`lstmcalc.frameworks.keras` hands its ConvLSTM cells
here); the convolution arithmetic is :mod:`lstmcalc.convlstm`. Source (read, not guessed):
``keras/src/layers/rnn/conv_lstm.py`` (``ConvLSTMCell.build``: ``kernel`` kernel_size +
(C, 4F), ``recurrent_kernel`` kernel_size + (F, 4F), ``bias`` (4F,); ``call``: the four
blocks split along the last axis, i, f, c, o; ``ConvLSTM.compute_output_shape``) and
``bidirectional.py`` (the merge: ``concat`` joins the two outputs along the last axis, which
is the filters with channels_last but the last spatial axis with channels_first).
"""

from __future__ import annotations

from ..canonical import GateSlice, Output, TensorLayout
from ..spec import LayerSpec

CELL_TITLES = {"convlstm1d": "ConvLSTM1D", "convlstm2d": "ConvLSTM2D", "convlstm3d": "ConvLSTM3D"}
GATE_ORDER = ("i", "f", "g", "o")  # Keras i, f, c, o


def _slices(spec: LayerSpec, axis: int) -> tuple[GateSlice, ...]:
    f = spec.units
    return tuple(GateSlice(g, axis, k * f, (k + 1) * f) for k, g in enumerate(GATE_ORDER))


def layer_tensors(spec: LayerSpec, layer: int, direction: str) -> list[TensorLayout]:
    """kernel kernel_size + (C, 4F), recurrent_kernel kernel_size + (F, 4F), bias (4F,)."""
    k, c, f = spec.conv.kernel_size, spec.input_size, spec.units
    last = len(k) + 1  # the gate axis: the last of kernel_size + (·, 4F)
    out = [
        TensorLayout("kernel", layer, direction, k + (c, 4 * f), "input", _slices(spec, last)),
        TensorLayout("recurrent_kernel", layer, direction, k + (f, 4 * f), "recurrent", _slices(spec, last)),
    ]
    if spec.bias:
        out.append(TensorLayout("bias", layer, direction, (4 * f,), "bias", _slices(spec, 0)))
    return out


def formula(spec: LayerSpec) -> tuple[str, str]:
    """``4 × (k_1·k_2 × (C + F) × F + F)`` and the same with numbers."""
    k = spec.conv.kernel_size
    k_sym = "k" if len(k) == 1 else "·".join(f"k_{n + 1}" for n in range(len(k)))
    k_num = "·".join(map(str, k))
    c, f = spec.input_size, spec.units
    if spec.bias:
        return f"4 × ({k_sym} × (C + F) × F + F)", f"4 × ({k_num} × ({c} + {f}) × {f} + {f})"
    return f"4 × {k_sym} × (C + F) × F", f"4 × {k_num} × ({c} + {f}) × {f}"


def _step_shape(spec: LayerSpec, channels: int, spatial: tuple[int, ...]) -> tuple[int, ...]:
    """One step's (·, channels) array without batch and time, in the layer's data format."""
    if spec.conv.data_format == "channels_first":
        return (channels,) + spatial
    return spatial + (channels,)


def _state_shape(spec: LayerSpec) -> tuple[int, ...]:
    return (spec.batch,) + _step_shape(spec, spec.units, spec.conv.output_spatial())


def input_shapes(spec: LayerSpec) -> list[Output]:
    """The input sequence (B, T, *S, C) or (B, T, C, *S); none without ``spatial``."""
    conv = spec.conv
    if conv.spatial is None:
        return []
    shape = (spec.batch, spec.time) + _step_shape(spec, spec.input_size, conv.spatial)
    return [Output("inputs", shape, f"T steps of {spec.input_size} channels over {'×'.join(map(str, conv.spatial))}")]


def outputs(spec: LayerSpec) -> list[Output]:
    """What the layer returns, in Keras' order (output, then h, c with return_state); none
    without ``spatial`` (the shapes need the input's size)."""
    conv = spec.conv
    out_spatial = conv.output_spatial()
    if out_spatial is None:
        return []
    state = _state_shape(spec)
    merged = state
    merge = ""
    if spec.bidirectional:
        merge = f", {spec.merge_mode} of both directions"
        if spec.merge_mode == "concat":  # Bidirectional concatenates along the last axis
            merged = state[:-1] + (2 * state[-1],)
            if conv.data_format == "channels_first":
                merge += " along the last axis (a spatial one: Keras concatenates axis -1)"
    where = f"{spec.units} filters over {'×'.join(map(str, out_spatial))}"
    if spec.return_sequences:
        out = [Output("output", (spec.batch, spec.time) + merged[1:], f"h_t at every step, {where}{merge}")]
    else:
        out = [Output("output", merged, f"h_T, the last step only, {where}{merge}")]
    if spec.return_state:
        words = {"h": "final hidden state", "c": "final cell state"}
        if spec.bidirectional:
            for suffix, side in (("fw", "forward"), ("bw", "backward")):
                out += [Output(f"{s}_{suffix}", state, f"{words[s]}, {side} layer") for s in ("h", "c")]
        else:
            out += [Output(s, state, words[s]) for s in ("h", "c")]
    return out


def initial_state_shapes(spec: LayerSpec) -> list[Output]:
    """What ``layer(x, initial_state=[...])`` takes: h and c with the output's spatial size
    (Bidirectional: h_fw, c_fw, h_bw, c_bw); none without ``spatial``."""
    if spec.conv.spatial is None:
        return []
    state = _state_shape(spec)
    words = {"h": "initial hidden state", "c": "initial cell state"}
    if spec.bidirectional:
        return [Output(f"{s}_{suffix}", state, f"{words[s]}, {side} layer")
                for suffix, side in (("fw", "forward"), ("bw", "backward")) for s in ("h", "c")]
    return [Output(s, state, words[s]) for s in ("h", "c")]


def _value(values: tuple[int, ...]) -> str:
    """Keras' argument: one int where every dimension has it, else a tuple."""
    if len(set(values)) == 1:
        return str(values[0])
    return "(" + ", ".join(map(str, values)) + ")"


def constructor(spec: LayerSpec) -> list[str]:
    """The Python line that builds the same layer in Keras 3."""
    conv = spec.conv
    args = [str(spec.units), _value(conv.kernel_size)]
    if max(conv.strides) > 1:
        args.append(f"strides={_value(conv.strides)}")
    if conv.padding != "valid":
        args.append(f'padding="{conv.padding}"')
    if conv.data_format != "channels_last":
        args.append(f'data_format="{conv.data_format}"')
    if max(conv.dilation_rate) > 1:
        args.append(f"dilation_rate={_value(conv.dilation_rate)}")
    if not spec.bias:
        args.append("use_bias=False")
    if spec.return_sequences:
        args.append("return_sequences=True")
    if spec.return_state:
        args.append("return_state=True")
    line = f"keras.layers.{CELL_TITLES[spec.cell]}({', '.join(args)})"
    if spec.bidirectional:
        merge = f', merge_mode="{spec.merge_mode}"' if spec.merge_mode != "concat" else ""
        line = f"keras.layers.Bidirectional({line}{merge})"
    return [line]
