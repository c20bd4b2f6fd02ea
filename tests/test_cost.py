"""Cost arithmetic: values derived by hand from the cell equations, invariants, bad dtype.

The hand derivations below use the equations (Keras 3 / PyTorch docs), not cost.py:
  LSTM  i, f, o = σ(x·W + h·U + b), g = tanh(...), c = f⊙c_prev + i⊙g, h = o⊙tanh(c)
  GRU   z, r = σ(...), n = tanh(x·W_n + b_in + r⊙(h·U_n + b_hn)), h = (1 − z)⊙n + z⊙h_prev
  RNN   h = tanh(x·W + h_prev·U + b)
"""

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmcalc import count
from lstmcalc.costing import DTYPES, cost
from lstmcalc.spec import SpecError


def test_keras_lstm_one_step_by_hand():
    # Keras LSTM(2) on 1 feature, one sample, one step.
    # MACs: 4 gates × (x·W: 1·2 + h·U: 2·2) = 4 × 6 = 24 -> matmul FLOPs 48.
    # bias: one Keras bias per gate, 4 × 2 = 8 adds.
    # elementwise: x·W + h·U per gate 4 × 2 = 8; c = f⊙c + i⊙g: 2 mul + 1 add = 3 × 2 = 6;
    #   h = o⊙tanh(c): 2 mul -> 8 + 6 + 2 = 16.
    # activations: σ for i, f, o (3 × 2) + tanh for g and c (2 × 2) = 10.
    # total = 48 + 8 + 16 + 10 = 82.
    c = cost(units=2, input_size=1, batch=1, time=1)
    assert c.macs == 24
    f = c.flops.to_dict()
    assert {k: f[k] for k in ("matmul", "bias", "elementwise", "activations", "total")} == {
        "matmul": 48, "bias": 8, "elementwise": 16, "activations": 10, "total": 82,
    }
    assert f["per_step_per_sample"]["total"] == 82
    assert c.formula == "B·T·D·L·G·(X·H + H·H) = 1·1·1·1·4·(1·2 + 2·2) = 24"
    # B = 3, T = 5: every term × 15.
    c = cost(units=2, input_size=1, batch=3, time=5)
    assert (c.macs, c.flops.total) == (24 * 15, 82 * 15)


def test_keras_lstm_memory_by_hand():
    # float32, Keras LSTM(2) on 1 feature, B = T = 1. Parameters: 4 × ((1 + 2) × 2 + 2) = 32.
    # inference, the peak of lstmcalc.forward, in elements: input x and a copy 2 × 1
    #   + x·W_ih buffer B·T·G·H = 8 + input and output sequences 2 × B·T·D·H = 4
    #   + final h, c D·L·B·(H + H) = 4 and step buffers 3·B·G·H = 24
    #   + weights: the caller's 32 and the prepared 32 (tests/test_memory.py measured no
    #     copy of the largest tensor's blocks beside them; issue 23 dropped that term)
    #   -> 106 elements, + 16 KiB + 8 KiB per layer and direction of Python objects.
    # training: 2 × 32 (weights, gradients) + 1 input
    #   + saved per step: gates 8 + h 2 + c 2 = 12 + the same 20 of buffers -> 97.
    c = cost(units=2, input_size=1, batch=1, time=1)
    assert c.memory_bytes.to_dict() == {"parameters": 32 * 4, "inference": 106 * 4 + 24 * 1024, "training": 97 * 4}
    assert cost(units=2, input_size=1, batch=1, dtype="bfloat16").memory_bytes.parameters == 64


def test_torch_gru_by_hand():
    # torch.nn.GRU(2, 3), B = 2, T = 4 (8 sample-steps).
    # MACs per sample-step: 3 × (2·3 + 3·3) = 45.  bias: b_ih and b_hh, 2 × 3 × 3 = 18 adds.
    # elementwise: z, r: x·W + h·U 2 × 3 = 6; n: r⊙(...) 3 mul + add of x·W_n 3 = 6;
    #   h = (1 − z)⊙n + z⊙h_prev: 1 sub + 2 mul + 1 add = 4 × 3 = 12 -> 24.
    # activations: σ for z, r (6) + tanh for n (3) = 9.
    # per sample-step total: 90 + 18 + 24 + 9 = 141.
    c = cost(units=3, input_size=2, cell="gru", framework="torch", batch=2, time=4)
    assert c.macs == 45 * 8
    assert c.flops.per_step_per_sample.to_dict() == {
        "matmul": 90, "bias": 18, "elementwise": 24, "activations": 9, "total": 141,
    }
    assert c.flops.total == 141 * 8
    # The tools, from their formulas (see cost.py's sources):
    # ptflops, per sample: T × [w_ih 9·2 + w_hh 9·3 + 7H 21 + bias 18] = 4 × 84 = 336.
    # thop: cell = 3 × ((2 + 3)·3 + 3 + 2·3) + 3 + 3·3 = 84, × T × B = 672.
    # torchinfo: B·T × parameters 3 × (2·3 + 3·3 + 2·3) = 63 -> 504.
    assert (c.compare.ptflops, c.compare.thop, c.compare.torchinfo) == (336, 672, 504)


def test_torch_lstm_projection_by_hand():
    # torch.nn.LSTM(2, 3, num_layers=2, bidirectional=True, proj_size=1), B = T = 1.
    # Layer 0: 4 × (2·3 + 1·3) + W_hr 1·3 = 39; layer 1 sees D·P = 2 inputs: 39 again.
    # MACs = 2 directions × (39 + 39) = 156.
    c = cost(units=3, input_size=2, framework="torch", layers=2, bidirectional=True, proj_size=1, batch=1)
    assert c.macs == 156
    # ptflops per layer and direction: 12·2 + 12·1 + 10H 30 + bias 24 = 90; × 2 × 2 = 360 (no W_hr).
    # thop ignores P: cell(2, 3) = 4 × (5·3 + 3 + 6) + 12 = 108; layer 1 cell(6, 3) = 4 × (9·3 + 9) + 12
    #   = 156; × 2 directions: 216 + 312 = 528.
    # torchinfo: parameters 4 × (2·3 + 1·3 + 2·3) + 1·3 = 63 per layer and direction, × 4 = 252.
    assert (c.compare.ptflops, c.compare.thop, c.compare.torchinfo) == (360, 528, 252)
    assert "proj_size ignored" in c.compare.to_dict()["notes"]["thop"]["note"]


def test_keras_bidirectional_rnn_sum_merge_by_hand():
    # Bidirectional(SimpleRNN(2), merge_mode="sum") on 1 feature, B = 2, T = 3.
    # Per direction and sample-step: MACs 1·2 + 2·2 = 6, bias 2, add of the products 2, tanh 2.
    # Per sample-step (D = 2): matmul 24, bias 4, elementwise 4, activations 4 = 36.
    # return_sequences=False: the sum merge runs once per sample on (B, H): 2 × 2 = 4 adds.
    c = cost(units=2, input_size=1, cell="rnn", bidirectional=True, merge_mode="sum", batch=2, time=3)
    assert c.macs == 12 * 6
    assert c.flops.per_step_per_sample.to_dict() == {
        "matmul": 24, "bias": 4, "elementwise": 4, "activations": 4, "total": 36,
    }
    assert c.flops.elementwise == 4 * 6 + 4
    assert c.flops.total == 36 * 6 + 4
    # return_sequences=True: the merge runs every step, H = 2 adds per sample-step.
    c = cost(units=2, input_size=1, cell="rnn", bidirectional=True, merge_mode="sum", batch=2, time=3,
             return_sequences=True)
    assert c.flops.per_step_per_sample.elementwise == 6
    assert c.flops.elementwise == 36
    # ave is an add and a divide per unit.
    c = cost(units=2, input_size=1, cell="rnn", bidirectional=True, merge_mode="ave", batch=1, time=1,
             return_sequences=True)
    assert c.flops.per_step_per_sample.elementwise == 4 + 4


def test_keras_stacked_merge_layers_see_h_inputs():
    # Bidirectional(LSTM(3), merge_mode="mul") × 2 on 2 features, B = T = 1.
    # Layer 0: 4 × (2·3 + 3·3) = 60; layer 1 sees the merged H = 3: 4 × (3·3 + 3·3) = 72.
    # MACs = 2 × (60 + 72) = 264; no torch layer stacks this way.
    c = cost(units=3, input_size=2, bidirectional=True, merge_mode="mul", layers=2, batch=1)
    assert c.macs == 264
    assert c.formula.endswith("= 1·1·2·[4·(2·3 + 3·3) + 1·4·(3·3 + 3·3)] = 264")
    assert c.compare.ptflops is None and c.compare.torch_equivalent is None


def test_keras_gru_without_reset_after_has_no_torch_twin():
    # reset_after=False: one bias per gate, 3 × 2 = 6 adds; same MACs 3 × (1·2 + 2·2) = 18.
    c = cost(units=2, input_size=1, cell="gru", reset_after=False, batch=1)
    assert (c.macs, c.flops.bias, c.flops.elementwise) == (18, 6, 16)
    assert (c.compare.ptflops, c.compare.thop, c.compare.torchinfo) == (None, None, None)
    assert "reset_after=False" in c.compare.reason
    # with reset_after (Keras 3 default): input and recurrent bias rows, 2 × 3 × 2 = 12 adds,
    # and the twin is torch.nn.GRU.
    c = cost(units=2, input_size=1, cell="gru", batch=1)
    assert c.flops.bias == 12
    assert c.compare.torch_equivalent == "torch.nn.GRU(input_size=1, hidden_size=2, batch_first=True)"


def test_no_bias_has_no_bias_flops():
    assert cost(units=4, input_size=3, bias=False).flops.bias == 0
    assert cost(units=4, input_size=3, bias=False, framework="torch").flops.bias == 0


@pytest.mark.parametrize("dtype", ["float128", "fp32", "FLOAT32", "", None, 4, []])
def test_bad_dtype(dtype):
    with pytest.raises(SpecError) as err:
        cost(units=2, input_size=1, dtype=dtype)
    assert err.value.param == "dtype"
    assert "float32, float16, bfloat16, float64, int8" in err.value.problem


def test_bad_layer_option_is_a_spec_error():
    with pytest.raises(SpecError) as err:
        cost(units=2, input_size=1, proj_size=1)
    assert err.value.param == "proj_size"


def test_json_keys():
    d = json.loads(json.dumps(cost(units=2, input_size=1).to_dict()))
    assert list(d) == ["config", "dtype", "itemsize", "macs", "formula", "flops", "memory_bytes", "compare", "notes",
                       "lengths", "steps"]
    assert list(d["flops"]) == ["matmul", "bias", "elementwise", "activations", "total", "per_step_per_sample"]
    assert list(d["memory_bytes"]) == ["parameters", "inference", "training"]
    assert list(d["compare"]) == ["torch_equivalent", "ptflops", "thop", "torchinfo", "reason", "notes"]
    assert list(d["compare"]["notes"]) == ["ptflops", "thop", "torchinfo"]


def test_cost_imports_neither_numpy_nor_torch():
    code = "import sys, lstmcalc.costing as c; c.cost(3, 2); print(sorted({'numpy', 'torch'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_huge_sizes_are_exact():
    c = cost(units=10**6, input_size=10**6, batch=10**3, time=10**3)
    assert c.macs == 10**6 * 4 * (10**12 + 10**12)


# --- invariants ----------------------------------------------------------------------

@st.composite
def layer_options(draw):
    framework = draw(st.sampled_from(["keras", "torch"]))
    cell = draw(st.sampled_from(["lstm", "gru", "rnn"]))
    opts = {
        "units": draw(st.integers(1, 64)),
        "input_size": draw(st.integers(1, 64)),
        "cell": cell,
        "framework": framework,
        "bias": draw(st.booleans()),
        "bidirectional": draw(st.booleans()),
        "layers": draw(st.integers(1, 4)),
        "batch": draw(st.integers(1, 16)),
        "time": draw(st.integers(1, 16)),
    }
    if cell == "rnn":
        opts["activation"] = draw(st.sampled_from(["tanh", "relu"]))
    if framework == "keras":
        if opts["bidirectional"]:
            opts["merge_mode"] = draw(st.sampled_from(["concat", "sum", "mul", "ave"]))
        if cell == "gru":
            opts["reset_after"] = draw(st.booleans())
        opts["return_sequences"] = draw(st.booleans())
    elif cell == "lstm" and opts["units"] > 1:
        opts["proj_size"] = draw(st.integers(0, opts["units"] - 1))
    return opts


def _once_per_sample_merge(o):
    """The Keras merge of a last layer without return_sequences: once per sample, B·H × (1 | 2)."""
    if o["framework"] != "keras" or o.get("return_sequences") or not o["bidirectional"]:
        return 0
    return o["batch"] * o["units"] * {"concat": 0, "sum": 1, "mul": 1, "ave": 2}[o.get("merge_mode", "concat")]


@settings(max_examples=300, deadline=None)
@given(layer_options(), st.integers(2, 5), st.sampled_from(sorted(DTYPES)))
def test_invariants(o, k, dtype):
    c = cost(dtype=dtype, **o)
    f = c.flops
    assert f.matmul == 2 * c.macs
    assert f.total == f.matmul + f.bias + f.elementwise + f.activations
    assert c.formula.endswith(f"= {c.macs}")
    # macs scale linearly in B and in T
    assert cost(dtype=dtype, **{**o, "batch": o["batch"] * k}).macs == k * c.macs
    assert cost(dtype=dtype, **{**o, "time": o["time"] * k}).macs == k * c.macs
    # one sample-step times B·T gives the totals (except a once-per-sample Keras merge)
    step, bt = f.per_step_per_sample, o["batch"] * o["time"]
    assert step.matmul * bt == f.matmul
    assert step.bias * bt == f.bias
    assert step.activations * bt == f.activations
    assert step.elementwise * bt + _once_per_sample_merge(o) == f.elementwise
    assert step.total * bt + _once_per_sample_merge(o) == f.total
    # memory
    assert c.memory_bytes.parameters == count(**o) * DTYPES[dtype]
    assert c.memory_bytes.inference > c.memory_bytes.parameters
    assert c.memory_bytes.training >= 2 * c.memory_bytes.parameters  # weights and their gradients
    # torchinfo's number is B·T × the twin's parameters
    if c.compare.torchinfo is not None:
        twin = {**o, "framework": "torch"}
        for key in ("merge_mode", "return_sequences", "reset_after"):
            twin.pop(key, None)
        assert c.compare.torchinfo == bt * count(**twin)
    d = c.to_dict()
    assert d["flops"]["total"] == f.total and d["macs"] == c.macs


def _flops(c) -> dict:
    return {k: getattr(c.flops, k) for k in ("matmul", "bias", "elementwise", "activations")}


def test_tflite_layer_norm_by_hand():
    # TFLite LSTM(4) on 3 features with layer norm, one sample, one step (lstm_eval.cc):
    # matmul: 4 gates × (3·4 + 4·4) = 112 MACs -> 224; bias 4 × 4 = 16 (added after the norm).
    # elementwise: the plain cell's 8H = 32, plus per gate MeanStddevNormalization over H = 4
    #   and the coefficients: sum 4 adds, mean 1 divide, (a − mean)² 4 subtracts + 4 multiplies
    #   + 4 adds, variance 1 divide, 1/sqrt 1 sqrt + 1 divide, (a − mean)·inv 4 subtracts +
    #   4 multiplies, ⊙ coefficients 4 multiplies = 28 + 4 = 32 per gate, × 4 gates = 128 -> 160.
    # activations: 3 × 4 σ + 2 × 4 tanh = 20.
    c = cost(units=4, input_size=3, batch=1, time=1, framework="tflite", layer_norm=True)
    assert _flops(c) == {"matmul": 224, "bias": 16, "elementwise": 160, "activations": 20}
    assert c.flops.total == 420
    # over B = 3, T = 5: every term × 15
    c = cost(units=4, input_size=3, batch=3, time=5, framework="tflite", layer_norm=True)
    assert c.flops.total == 420 * 15


def test_tflite_cifg_layer_norm_by_hand():
    # CIFG: no input gate. matmul 3 × (12 + 16) = 84 MACs -> 168; bias 3 × 4 = 12.
    # elementwise: 3 gates' x·W + h·U adds 12, i = 1 − f 4 subtracts, c = f⊙c + i⊙g 12,
    #   h = o⊙tanh(c) 4 -> 32; layer norm on the 3 gates with weights 3 × 32 = 96 -> 128.
    # activations: σ for f, o (2 × 4) + tanh for g, c (2 × 4) = 16.
    c = cost(units=4, input_size=3, batch=1, time=1, framework="tflite", cifg=True, layer_norm=True)
    assert _flops(c) == {"matmul": 168, "bias": 12, "elementwise": 128, "activations": 16}
    # CIFG with peepholes: p_f⊙c_prev, p_o⊙c and their adds, 2 × 2 × 4 = 16 -> 48
    c = cost(units=4, input_size=3, batch=1, time=1, framework="tflite", cifg=True, peepholes=True)
    assert _flops(c)["elementwise"] == 48


def test_tflite_projection_bias_by_hand():
    # TFLite LSTM(4), 3 features, projection P = 2 with its bias: matmul 4 × (3·4 + 2·4) + 2·4
    # = 88 MACs -> 176; bias: 4 gates × 4 + the projection's 2 = 18; elementwise 8H = 32;
    # activations 20. Without the projection bias the bias term is 16.
    c = cost(units=4, input_size=3, batch=1, time=1, framework="tflite", proj_size=2, proj_bias=True)
    assert _flops(c) == {"matmul": 176, "bias": 18, "elementwise": 32, "activations": 20}
    assert cost(units=4, input_size=3, batch=1, time=1, framework="tflite", proj_size=2).flops.bias == 16
    # bidirectional, 2 layers (layer 1 reads 2·P = 4 features): bias 2 directions × 2 layers × 18
    c = cost(units=4, input_size=3, batch=1, time=1, framework="tflite", proj_size=2, proj_bias=True,
             bidirectional=True, layers=2)
    assert c.flops.bias == 72
