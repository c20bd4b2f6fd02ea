"""Assemble small .tflite models with the ``tflite`` package's flatbuffer builder, for the
variants no converter emits (CIFG, peepholes, projection, layer norm, clips, time-major,
diagonal): one UNIDIRECTIONAL_SEQUENCE_LSTM op, float32, random weights."""

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
    """``arrays``: {position: float32 array} for positions 1-17 and 20-23 present."""
    b = flatbuffers.Builder(4096)
    n_out = proj or units
    tensors = []  # (name, shape, buffer index, is_variable)
    buffers = [None]  # buffer 0: empty
    inputs = [-1] * 24

    def add_tensor(name, shape, data=None, variable=False):
        buf = 0
        if data is not None:
            buffers.append(np.ascontiguousarray(data, dtype=np.float32).tobytes())
            buf = len(buffers) - 1
        tensors.append((name, shape, buf, variable))
        return len(tensors) - 1

    x_shape = (time, batch, features) if time_major else (batch, time, features)
    inputs[0] = add_tensor("x", x_shape)
    for pos in sorted(arrays):
        inputs[pos] = add_tensor(f"c{pos}", arrays[pos].shape, arrays[pos])
    inputs[18] = add_tensor("h", (batch, n_out), variable=True)
    inputs[19] = add_tensor("c", (batch, units), variable=True)
    out = add_tensor("y", (time, batch, n_out) if time_major else (batch, time, n_out))

    buf_offsets = []
    for data in buffers:
        if data:
            b.StartVector(1, len(data), 16)
            b.head = b.head - len(data)
            b.Bytes[b.head:b.head + len(data)] = data
            vec = b.EndVector(len(data)) if False else b.EndVector()
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
    tflite.UnidirectionalSequenceLSTMOptionsStart(b)
    tflite.UnidirectionalSequenceLSTMOptionsAddFusedActivationFunction(b, tflite.ActivationFunctionType.TANH)
    tflite.UnidirectionalSequenceLSTMOptionsAddCellClip(b, cell_clip)
    tflite.UnidirectionalSequenceLSTMOptionsAddProjClip(b, proj_clip)
    tflite.UnidirectionalSequenceLSTMOptionsAddTimeMajor(b, time_major)
    tflite.UnidirectionalSequenceLSTMOptionsAddDiagonalRecurrentTensors(b, diagonal)
    opts = tflite.UnidirectionalSequenceLSTMOptionsEnd(b)
    op_in = _vec(b, tflite.OperatorStartInputsVector, inputs, b.PrependInt32)
    op_out = _vec(b, tflite.OperatorStartOutputsVector, [out], b.PrependInt32)
    tflite.OperatorStart(b)
    tflite.OperatorAddOpcodeIndex(b, 0)
    tflite.OperatorAddInputs(b, op_in)
    tflite.OperatorAddOutputs(b, op_out)
    tflite.OperatorAddBuiltinOptionsType(b, Opt.UnidirectionalSequenceLSTMOptions)
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
    tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(Op.UNIDIRECTIONAL_SEQUENCE_LSTM, 127))
    tflite.OperatorCodeAddBuiltinCode(b, Op.UNIDIRECTIONAL_SEQUENCE_LSTM)
    tflite.OperatorCodeAddVersion(b, 1)
    code = tflite.OperatorCodeEnd(b)
    codes = _vec(b, tflite.ModelStartOperatorCodesVector, [code], b.PrependUOffsetTRelative)
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
