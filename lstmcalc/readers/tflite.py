"""Read the fused recurrent ops of a ``.tflite`` model without TensorFlow (the ``tflite``
flatbuffer schema package, ``pip install 'lstmcalc[tflite]'``, imported inside the functions).

Every ``UNIDIRECTIONAL_SEQUENCE_LSTM``, ``BIDIRECTIONAL_SEQUENCE_LSTM``, one-step ``LSTM``
(FULL kernel) and ``UNIDIRECTIONAL_SEQUENCE_RNN`` op of every subgraph becomes one layer in
the ``tflite`` convention (:mod:`lstmcalc.frameworks.tflite`): the role of each input is its
position. Constants are read as stored: float32; float16 behind a ``DEQUANTIZE`` op (exact
in float32); int8 with one scale (hybrid: float biases; the weights' scale is kept beside
them, key ``<name>:scale``); full integer (INT32 biases, INT8/INT16 states) dequantized for
counting and statistics, not run. Bounded: the file's size is checked against the memory
budget before it is read, and every buffer's length against its tensor's declared shape
before it is decoded; a malformed flatbuffer is one :class:`FileError` line.
"""

from __future__ import annotations

import math

from ..dtypes import tflite_types
from ..errors import FileError

TFLITE_EXTRA = "pip install 'lstmcalc[tflite]'"
FUSED = {"UNIDIRECTIONAL_SEQUENCE_LSTM": 24, "BIDIRECTIONAL_SEQUENCE_LSTM": 48, "LSTM": 24,
         "UNIDIRECTIONAL_SEQUENCE_RNN": 5}
DTYPES = tflite_types()  # {TensorType name: the NumPy dtype its buffer is read as}: lstmcalc.dtypes' view
STATE_POSITIONS = {"UNIDIRECTIONAL_SEQUENCE_LSTM": (18, 19), "LSTM": (18, 19),
                   "BIDIRECTIONAL_SEQUENCE_LSTM": (35, 36, 37, 38), "UNIDIRECTIONAL_SEQUENCE_RNN": (4,)}
_MALFORMED = (IndexError, ValueError, TypeError, AttributeError, KeyError, OverflowError, __import__("struct").error)


def _need():
    try:
        import tflite
    except ImportError:
        raise FileError(f"reading .tflite files needs the tflite package: {TFLITE_EXTRA}") from None
    return tflite


def _names(enum) -> dict[int, str]:
    return {v: k for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}


def read_tflite(path) -> list[tuple[str, str, dict, dict]]:
    """[(name, location, weights, info)] for every fused recurrent op; ``info`` holds the
    spec options (``cell``, ``bidirectional``, variants, ``layout``, ``batch``, ``time``,
    ``activation``) and ``attributes`` (for inspect). :class:`FileError` for a file that
    is not a TFLite model, is malformed, or has no fused recurrent op (with what it has)."""
    from .limits import Budget, regular_file

    file, size = regular_file(path)
    budget = Budget(file)
    budget.take("the model", size)  # before reading it
    tflite = _need()
    with open(file, "rb") as f:
        buf = f.read()
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise FileError(f"{file}: not a TFLite model (no TFL3 identifier at byte 4)")
    try:
        return _Reader(file, buf, tflite, budget).layers()
    except FileError:
        raise
    except _MALFORMED as e:
        raise FileError(f"{file}: malformed TFLite flatbuffer ({type(e).__name__}: {e})") from None


class _Reader:
    def __init__(self, file, buf, tflite, budget):
        self.file, self.buf, self.tfl, self.budget = file, buf, tflite, budget
        self.model = tflite.Model.GetRootAsModel(buf, 0)
        self.ops = _names(tflite.BuiltinOperator)
        self.types = _names(tflite.TensorType)
        self.acts = _names(tflite.ActivationFunctionType)

    def op_name(self, op) -> str:
        code = self.model.OperatorCodes(op.OpcodeIndex())
        n = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        return self.ops.get(n, f"op {n}")

    def layers(self):
        out, seen_ops = [], {}
        for s in range(self.model.SubgraphsLength()):
            g = self.model.Subgraphs(s)
            producers = {}
            for i in range(g.OperatorsLength()):
                op = g.Operators(i)
                name = self.op_name(op)
                seen_ops[name] = seen_ops.get(name, 0) + 1
                for k in range(op.OutputsLength()):
                    producers[int(op.Outputs(k))] = (name, op)
            for i in range(g.OperatorsLength()):
                op = g.Operators(i)
                name = self.op_name(op)
                if name in FUSED:
                    out.append(self.layer(s, g, i, op, name, producers))
        if not out:
            raise FileError(f"{self.file}: no fused recurrent op, so no layer to count: {self.no_fused(seen_ops)}")
        return out

    def no_fused(self, seen: dict) -> str:
        ops = ", ".join(f"{n} × {c}" for n, c in sorted(seen.items(), key=lambda kv: -kv[1]))
        if "WHILE" in seen and "FULLY_CONNECTED" in seen:
            return (f"a WHILE loop whose body computes the cell with FULLY_CONNECTED ops (a Keras 3 LSTM, any GRU or "
                    f"SimpleRNN, or a torch model: only tf-keras LSTMs convert to a fused op); ops: {ops}")
        return f"ops: {ops or 'none'}"

    # --- tensors ----------------------------------------------------------------------------

    def tensor_info(self, g, index: int) -> dict:
        t = g.Tensors(index)
        shape = tuple(int(n) for n in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        q = t.Quantization()
        scale = [float(v) for v in q.ScaleAsNumpy()] if q is not None and q.ScaleLength() else None
        zero = [int(v) for v in q.ZeroPointAsNumpy()] if q is not None and q.ZeroPointLength() else None
        return {"index": index, "name": (t.Name() or b"").decode("utf-8", "replace"), "shape": shape,
                "dtype": self.types.get(t.Type(), str(t.Type())), "buffer": t.Buffer(), "variable": bool(t.IsVariable()),
                "scale": scale, "zero_point": zero}

    def data(self, info: dict, where: str):
        import numpy as np

        dtype = DTYPES.get(info["dtype"])
        if dtype is None:
            raise FileError(f"{self.file}: {where}: tensor type {info['dtype']} is not a weight type lstmcalc reads")
        nb = self.model.BuffersLength()
        if not 0 < info["buffer"] < nb:
            return None
        b = self.model.Buffers(info["buffer"])
        need = math.prod(info["shape"]) * np.dtype(dtype).itemsize
        offset = b.Offset() if hasattr(b, "Offset") else 0
        if offset > 1:  # data outside the flatbuffer (models over 2 GB)
            size = b.Size()
            if offset + size > len(self.buf):
                raise FileError(f"{self.file}: {where}: buffer at {offset} + {size} bytes runs past the file end")
            raw = self.buf[offset : offset + size]
        else:
            if b.DataLength() == 0:
                return None
            raw = b.DataAsNumpy().tobytes()
        if len(raw) != need:
            raise FileError(f"{self.file}: {where}: shape {info['shape']} {info['dtype']} needs {need:,} bytes, "
                            f"the buffer holds {len(raw):,}")
        self.budget.take(where, need * 2)
        return np.frombuffer(raw, dtype=dtype).reshape(info["shape"])

    # --- one op -----------------------------------------------------------------------------

    def layer(self, s, g, i, op, opname, producers):
        import numpy as np

        from ..frameworks import tflite as fw

        inputs = [int(v) for v in op.InputsAsNumpy()] if op.InputsLength() else []
        where = f"subgraph {s} op {i} {opname}"
        if len(inputs) != FUSED[opname]:
            raise FileError(f"{self.file}: {where}: {len(inputs)} inputs; the op takes {FUSED[opname]}")
        options = self.options(op, opname)
        if opname == "LSTM" and options.get("kernel_type") == "BASIC":
            raise FileError(f"{self.file}: {where}: the BASIC LSTM kernel (5 inputs) is not the 24-input layout")
        x_info = self.tensor_info(g, inputs[0])
        roles = self.roles(opname)
        weights, positions, storage, not_modelled = {}, [], set(), []
        by_tensor: dict = {}
        for pos, key in roles.items():
            ti = inputs[pos]
            if ti < 0:
                continue
            info = self.tensor_info(g, ti)
            source = info
            via = None
            prod = producers.get(ti)
            if prod is not None and prod[0] == "DEQUANTIZE":
                source = self.tensor_info(g, int(prod[1].Inputs(0)))
                via = "DEQUANTIZE"
            if info["variable"]:
                raise FileError(f"{self.file}: {where}: position {pos} ({key}) is the variable tensor {ti}: an "
                                "all-zero weight merged with a state; its values change at run time")
            a = self.data(source, f"{where} position {pos} ({key})")
            if a is None:
                raise FileError(f"{self.file}: {where}: position {pos} ({key}) has no constant data "
                                f"(tensor {ti} {info['name']!r} is computed at run time)")
            kind = source["dtype"]
            if kind in ("INT8", "INT32", "INT16", "UINT8"):
                scale = (source["scale"] or [None])[0]
                zero = (source["zero_point"] or [0])[0]
                if scale is None or (source["scale"] and len(source["scale"]) > 1):
                    raise FileError(f"{self.file}: {where}: position {pos} ({key}) is {kind} with "
                                    f"{'no' if scale is None else len(source['scale'])} scales; lstmcalc reads one")
                f32 = ((a.astype(np.float64) - zero) * np.float64(np.float32(scale))).astype(np.float32)
                if kind == "INT8" and zero == 0 and x_info["dtype"] == "FLOAT32":
                    weights[key + fw.SCALE] = np.float32(scale)
                storage.add(f"{kind.lower()}")
            else:
                f32 = a.astype(np.float32)
                storage.add(kind.lower() + (" (DEQUANTIZE)" if via else ""))
            weights[key] = f32
            positions.append({"position": pos, "key": key, "tensor": ti, "name": source["name"], "dtype": kind,
                              "shape": list(source["shape"]), "scale": source["scale"],
                              "zero_point": source["zero_point"], "via": via})
            by_tensor.setdefault(source["index"], []).append(pos)
        full_int = x_info["dtype"] in ("INT8", "INT16")
        hybrid = not full_int and any(k.endswith(fw.SCALE) for k in weights)
        if hybrid:
            weights[fw.INPUTS_KEY] = np.int8(bool(options.get("asymmetric_quantize_inputs")))
        if full_int:
            not_modelled.append(f"it is full-integer (input {x_info['dtype']}, INT32 biases, integer states and "
                                "intermediates): lstmcalc does not reproduce the integer kernel's fixed-point arithmetic")
        shared = {ti: p for ti, p in by_tensor.items() if len(p) > 1}
        cell = "rnn" if "RNN" in opname else "lstm"
        xs = x_info["shape"]
        time_major = options.get("time_major", opname == "BIDIRECTIONAL_SEQUENCE_LSTM")
        if opname == "LSTM":
            batch, time = (xs[0] if xs else 1), 1
        elif len(xs) == 3:
            batch, time = (xs[1], xs[0]) if time_major else (xs[0], xs[1])
        else:
            raise FileError(f"{self.file}: {where}: input shape {xs} is not 3-D")
        act = options.get("fused_activation_function", "TANH")
        if act not in ("TANH", "RELU") or (cell == "lstm" and act != "TANH"):
            not_modelled.append(f"fused_activation_function={act} (lstmcalc runs TANH{' or RELU' if cell == 'rnn' else ''})")
        if opname == "BIDIRECTIONAL_SEQUENCE_LSTM" and not options.get("merge_outputs"):
            not_modelled.append("merge_outputs=false (two outputs); lstmcalc runs the merged form")
        if opname == "BIDIRECTIONAL_SEQUENCE_LSTM" and any(inputs[k] >= 0 for k in range(39, 48)):
            not_modelled.append("an auxiliary input (39-47)")
        info = {"cell": cell, "layout": 0 if time_major else 1, "batch": max(batch, 1), "time": max(time, 1),
                "activation": "relu" if act == "RELU" else "tanh",
                "cell_clip": float(options.get("cell_clip", 0.0) or 0.0),
                "proj_clip": float(options.get("proj_clip", 0.0) or 0.0)}
        states = [self.tensor_info(g, inputs[p]) for p in STATE_POSITIONS[opname] if inputs[p] >= 0]
        surprises = []
        if info["cell_clip"]:
            surprises.append(f"cell_clip = {info['cell_clip']:g}: c is clipped to ±{info['cell_clip']:g} every step "
                             "(the TFLite converter writes 10 into every Keras LSTM; Keras itself does not clip)")
        if states and all(s["variable"] for s in states):
            pos = ", ".join(str(p) for p in STATE_POSITIONS[opname])
            surprises.append(f"the states (positions {pos}) are variable tensors: the interpreter keeps them between "
                             "invoke() calls, so a second call continues from the first unless reset_all_variables()")
        surprises.append(f"the batch is fixed at {batch}: input shape {list(xs)}")
        storage_text = "hybrid int8 (dynamic range)" if hybrid else "full integer" if full_int else \
            ", ".join(sorted(storage))
        lines = [f"{opname} ({', '.join(f'{k}={v}' for k, v in options.items())}); storage: {storage_text}"]
        for ti, ps in shared.items():
            lines.append(f"tensor {ti} feeds positions {', '.join(map(str, ps))}: stored once, counted once per role")
        lines += [f"surprise: {s}" for s in surprises] + [f"not modelled: {n}" for n in not_modelled]
        attributes = {"op": opname, "subgraph": s, "index": i, "options": options, "storage": storage_text,
                      "input": {"shape": list(xs), "dtype": x_info["dtype"], "scale": x_info["scale"],
                                "zero_point": x_info["zero_point"]},
                      "positions": positions, "shared": {str(k): v for k, v in shared.items()},
                      "states": [{"tensor": st["index"], "shape": list(st["shape"]), "dtype": st["dtype"],
                                  "variable": st["variable"], "scale": st["scale"], "zero_point": st["zero_point"]}
                                 for st in states],
                      "surprises": surprises, "not_modelled": not_modelled, "lines": lines}
        name = f"{opname.lower()}_{s}_{i}" if s else f"{opname.lower()}_{i}"
        return name, where, weights, {**info, "attributes": attributes}

    def roles(self, opname: str) -> dict[int, str]:
        """{position: weights key} of the op's constant inputs (lstm_shared.h)."""
        from ..frameworks.tflite import LSTM_NAMES, RNN_NAMES

        if opname == "UNIDIRECTIONAL_SEQUENCE_RNN":
            return {k + 1: n for k, n in enumerate(RNN_NAMES)}
        if opname == "BIDIRECTIONAL_SEQUENCE_LSTM":
            out = {k + 1: "fw_" + n for k, n in enumerate(LSTM_NAMES[:17])}
            out.update({k + 18: "bw_" + n for k, n in enumerate(LSTM_NAMES[:17])})
            return out
        out = {k + 1: n for k, n in enumerate(LSTM_NAMES[:17])}
        out.update({k + 20: n for k, n in enumerate(LSTM_NAMES[17:])})
        return out

    def options(self, op, opname: str) -> dict:
        tfl = self.tfl
        cls = {"UNIDIRECTIONAL_SEQUENCE_LSTM": tfl.UnidirectionalSequenceLSTMOptions,
               "BIDIRECTIONAL_SEQUENCE_LSTM": tfl.BidirectionalSequenceLSTMOptions,
               "LSTM": tfl.LSTMOptions, "UNIDIRECTIONAL_SEQUENCE_RNN": tfl.SequenceRNNOptions}[opname]
        table = op.BuiltinOptions()
        if table is None:
            return {}
        o = cls()
        o.Init(table.Bytes, table.Pos)
        out = {"fused_activation_function": self.acts.get(o.FusedActivationFunction(), str(o.FusedActivationFunction()))}
        for name, getter in (("cell_clip", "CellClip"), ("proj_clip", "ProjClip"), ("time_major", "TimeMajor"),
                             ("merge_outputs", "MergeOutputs"), ("asymmetric_quantize_inputs", "AsymmetricQuantizeInputs"),
                             ("diagonal_recurrent_tensors", "DiagonalRecurrentTensors"), ("kernel_type", "KernelType")):
            if hasattr(o, getter):
                v = getattr(o, getter)()
                if name == "kernel_type":
                    v = _names(tfl.LSTMKernelType).get(v, str(v))
                elif isinstance(v, float):
                    v = float(v)
                out[name] = v
        return out
