"""Assemble small .tflite models with the ``tflite`` package's flatbuffer builder, for the
variants and ops no converter emits (CIFG, peepholes, projection, layer norm, clips,
time-major, diagonal; BIDIRECTIONAL_SEQUENCE_LSTM, the one-step LSTM op,
UNIDIRECTIONAL_SEQUENCE_RNN): one op, float32, random weights."""

import flatbuffers
import numpy as np
import tflite
from tflite import BuiltinOperator as Op, BuiltinOptions as Opt, TensorType as TT


def _vec(b, start, items, add):
    start(b, len(items))
    for v in reversed(items):
        add(v)
    return b.EndVector()


def lstm_model(arrays: dict, *, units, batch, time, features, proj=0, time_major=False, cell_clip=0.0,
               proj_clip=0.0, diagonal=False) -> bytes:
    """One UNIDIRECTIONAL_SEQUENCE_LSTM op; ``arrays``: {position: float32 array} for
    positions 1-17 and 20-23 present."""
    n_out = proj or units

    def options(b):
        tflite.UnidirectionalSequenceLSTMOptionsStart(b)
        tflite.UnidirectionalSequenceLSTMOptionsAddFusedActivationFunction(b, tflite.ActivationFunctionType.TANH)
        tflite.UnidirectionalSequenceLSTMOptionsAddCellClip(b, cell_clip)
        tflite.UnidirectionalSequenceLSTMOptionsAddProjClip(b, proj_clip)
        tflite.UnidirectionalSequenceLSTMOptionsAddTimeMajor(b, time_major)
        tflite.UnidirectionalSequenceLSTMOptionsAddDiagonalRecurrentTensors(b, diagonal)
        return tflite.UnidirectionalSequenceLSTMOptionsEnd(b)

    seq = (time, batch) if time_major else (batch, time)
    return op_model(Op.UNIDIRECTIONAL_SEQUENCE_LSTM, 24, arrays, x_shape=(*seq, features), out_shape=(*seq, n_out),
                    states={18: (batch, n_out), 19: (batch, units)},
                    options=(Opt.UnidirectionalSequenceLSTMOptions, options))


def step_lstm_model(arrays: dict, *, units, batch, features, proj=0, cell_clip=0.0, proj_clip=0.0) -> bytes:
    """One one-step ``LSTM`` op (FULL kernel, 24 inputs): input (B, X), output (B, H_out)."""
    n_out = proj or units

    def options(b):
        tflite.LSTMOptionsStart(b)
        tflite.LSTMOptionsAddFusedActivationFunction(b, tflite.ActivationFunctionType.TANH)
        tflite.LSTMOptionsAddCellClip(b, cell_clip)
        tflite.LSTMOptionsAddProjClip(b, proj_clip)
        tflite.LSTMOptionsAddKernelType(b, tflite.LSTMKernelType.FULL)
        return tflite.LSTMOptionsEnd(b)

    return op_model(Op.LSTM, 24, arrays, x_shape=(batch, features), out_shape=(batch, n_out),
                    states={18: (batch, n_out), 19: (batch, units)}, options=(Opt.LSTMOptions, options))


def bidirectional_lstm_model(fw: dict, bw: dict, *, units, batch, time, features, proj=0, time_major=True,
                             cell_clip=0.0, proj_clip=0.0) -> bytes:
    """One BIDIRECTIONAL_SEQUENCE_LSTM op (48 inputs, merge_outputs): ``fw``/``bw``:
    {position 1-17: array} of each direction (backward stored at position + 17); states
    35-38; no auxiliary input (39-47 absent). Output (T, B, 2·H_out) time-major."""
    n_out = proj or units
    arrays = {**fw, **{p + 17: a for p, a in bw.items()}}

    def options(b):
        tflite.BidirectionalSequenceLSTMOptionsStart(b)
        tflite.BidirectionalSequenceLSTMOptionsAddFusedActivationFunction(b, tflite.ActivationFunctionType.TANH)
        tflite.BidirectionalSequenceLSTMOptionsAddCellClip(b, cell_clip)
        tflite.BidirectionalSequenceLSTMOptionsAddProjClip(b, proj_clip)
        tflite.BidirectionalSequenceLSTMOptionsAddMergeOutputs(b, True)
        tflite.BidirectionalSequenceLSTMOptionsAddTimeMajor(b, time_major)
        return tflite.BidirectionalSequenceLSTMOptionsEnd(b)

    seq = (time, batch) if time_major else (batch, time)
    return op_model(Op.BIDIRECTIONAL_SEQUENCE_LSTM, 48, arrays, x_shape=(*seq, features),
                    out_shape=(*seq, 2 * n_out),
                    states={35: (batch, n_out), 36: (batch, units), 37: (batch, n_out), 38: (batch, units)},
                    options=(Opt.BidirectionalSequenceLSTMOptions, options))


def rnn_model(arrays: dict, *, units, batch, time, features, relu=False, time_major=False) -> bytes:
    """One UNIDIRECTIONAL_SEQUENCE_RNN op: {1: W (H, X), 2: R (H, H), 3: b (H,)}, state 4."""
    act = tflite.ActivationFunctionType.RELU if relu else tflite.ActivationFunctionType.TANH

    def options(b):
        tflite.SequenceRNNOptionsStart(b)
        tflite.SequenceRNNOptionsAddTimeMajor(b, time_major)
        tflite.SequenceRNNOptionsAddFusedActivationFunction(b, act)
        return tflite.SequenceRNNOptionsEnd(b)

    seq = (time, batch) if time_major else (batch, time)
    return op_model(Op.UNIDIRECTIONAL_SEQUENCE_RNN, 5, arrays, x_shape=(*seq, features), out_shape=(*seq, units),
                    states={4: (batch, units)}, options=(Opt.SequenceRNNOptions, options))


def op_model(code, n_inputs, arrays: dict, *, x_shape, out_shape, states: dict, options) -> bytes:
    """A model of one op: input 0 ``x_shape``, constant inputs ``arrays`` {position: float32
    array}, variable state tensors ``states`` {position: shape}, every other input -1, one
    output; ``options`` (BuiltinOptions type, builder function)."""
    b = flatbuffers.Builder(4096)
    tensors = []  # (name, shape, buffer index, is_variable)
    buffers = [None]  # buffer 0: empty
    inputs = [-1] * n_inputs

    def add_tensor(name, shape, data=None, variable=False):
        buf = 0
        if data is not None:
            buffers.append(np.ascontiguousarray(data, dtype=np.float32).tobytes())
            buf = len(buffers) - 1
        tensors.append((name, shape, buf, variable))
        return len(tensors) - 1

    inputs[0] = add_tensor("x", x_shape)
    for pos in sorted(arrays):
        inputs[pos] = add_tensor(f"c{pos}", arrays[pos].shape, arrays[pos])
    for pos, shape in states.items():
        inputs[pos] = add_tensor(f"state{pos}", shape, variable=True)
    out = add_tensor("y", out_shape)

    buf_offsets = []
    for data in buffers:
        if data:
            b.StartVector(1, len(data), 16)
            b.head = b.head - len(data)
            b.Bytes[b.head:b.head + len(data)] = data
            vec = b.EndVector()
            tflite.BufferStart(b)
            tflite.BufferAddData(b, vec)
        else:
            tflite.BufferStart(b)
        buf_offsets.append(tflite.BufferEnd(b))
    t_offsets = []
    for name, shape, buf, variable in tensors:
        n = b.CreateString(name)
        s = _vec(b, tflite.TensorStartShapeVector, list(shape), b.PrependInt32)
        tflite.TensorStart(b)
        tflite.TensorAddShape(b, s)
        tflite.TensorAddType(b, TT.FLOAT32)
        tflite.TensorAddBuffer(b, buf)
        tflite.TensorAddName(b, n)
        tflite.TensorAddIsVariable(b, variable)
        t_offsets.append(tflite.TensorEnd(b))
    opts_type, build_options = options
    opts = build_options(b)
    op_in = _vec(b, tflite.OperatorStartInputsVector, inputs, b.PrependInt32)
    op_out = _vec(b, tflite.OperatorStartOutputsVector, [out], b.PrependInt32)
    tflite.OperatorStart(b)
    tflite.OperatorAddOpcodeIndex(b, 0)
    tflite.OperatorAddInputs(b, op_in)
    tflite.OperatorAddOutputs(b, op_out)
    tflite.OperatorAddBuiltinOptionsType(b, opts_type)
    tflite.OperatorAddBuiltinOptions(b, opts)
    op = tflite.OperatorEnd(b)
    tvec = _vec(b, tflite.SubGraphStartTensorsVector, t_offsets, b.PrependUOffsetTRelative)
    ivec = _vec(b, tflite.SubGraphStartInputsVector, [inputs[0]], b.PrependInt32)
    ovec = _vec(b, tflite.SubGraphStartOutputsVector, [out], b.PrependInt32)
    opvec = _vec(b, tflite.SubGraphStartOperatorsVector, [op], b.PrependUOffsetTRelative)
    tflite.SubGraphStart(b)
    tflite.SubGraphAddTensors(b, tvec)
    tflite.SubGraphAddInputs(b, ivec)
    tflite.SubGraphAddOutputs(b, ovec)
    tflite.SubGraphAddOperators(b, opvec)
    sg = tflite.SubGraphEnd(b)
    tflite.OperatorCodeStart(b)
    tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
    tflite.OperatorCodeAddBuiltinCode(b, code)
    tflite.OperatorCodeAddVersion(b, 1)
    opcode = tflite.OperatorCodeEnd(b)
    codes = _vec(b, tflite.ModelStartOperatorCodesVector, [opcode], b.PrependUOffsetTRelative)
    sgs = _vec(b, tflite.ModelStartSubgraphsVector, [sg], b.PrependUOffsetTRelative)
    bufs = _vec(b, tflite.ModelStartBuffersVector, buf_offsets, b.PrependUOffsetTRelative)
    tflite.ModelStart(b)
    tflite.ModelAddVersion(b, 3)
    tflite.ModelAddOperatorCodes(b, codes)
    tflite.ModelAddSubgraphs(b, sgs)
    tflite.ModelAddBuffers(b, bufs)
    model = tflite.ModelEnd(b)
    b.Finish(model, file_identifier=b"TFL3")
    return bytes(b.Output())


def random_lstm(rng, *, units, features, proj=0, cifg=False, peepholes=False, proj_bias=False, layer_norm=False,
                diagonal=False) -> dict:
    """{position: array} of one LSTM op, every tensor random (U(-0.8, 0.8); coefficients U(0.5, 1.5))."""
    h, n_out = units, proj or units
    u = lambda *s: rng.uniform(-0.8, 0.8, s).astype(np.float32)  # noqa: E731
    out = {}
    for k in range(4):
        if cifg and k == 0:
            continue
        out[1 + k] = u(h, features)
        out[5 + k] = u(h) if diagonal else u(h, n_out)
        out[12 + k] = u(h)
        if layer_norm:
            out[20 + k] = rng.uniform(0.5, 1.5, h).astype(np.float32)
    if peepholes:
        for k in range(3):
            if not (cifg and k == 0):
                out[9 + k] = u(h)
    if proj:
        out[16] = u(proj, h)
        if proj_bias:
            out[17] = u(proj)
    return out


def random_rnn(rng, *, units, features) -> dict:
    """{1: W (H, X), 2: R (H, H), 3: b (H,)}, U(-0.8, 0.8)."""
    u = lambda *s: rng.uniform(-0.8, 0.8, s).astype(np.float32)  # noqa: E731
    return {1: u(units, features), 2: u(units, units), 3: u(units)}
