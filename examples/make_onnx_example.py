"""Write the small ONNX model the README's `lstmcalc inspect` example reads (needs onnx).

    python examples/make_onnx_example.py

lstm_clip.onnx  one LSTM node (hidden_size 2, input 3) with clip=0.5, W, R, B random
                initializers, sequence_lens a graph input and initial_h a Constant node
"""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
H, X = 2, 3


def main() -> None:
    rng = np.random.default_rng(2024)
    weights = {
        "W": rng.standard_normal((1, 4 * H, X)),  # gates i, o, f, c along axis 1
        "R": rng.standard_normal((1, 4 * H, H)),
        "B": rng.standard_normal((1, 8 * H)),  # Wb then Rb
    }
    initializers = [numpy_helper.from_array(a.astype(np.float32), k) for k, a in weights.items()]
    h0 = numpy_helper.from_array(np.zeros((1, 1, H), np.float32))
    nodes = [
        helper.make_node("Constant", [], ["h0"], value=h0, name="h0"),
        helper.make_node("LSTM", ["X", "W", "R", "B", "lens", "h0"], ["Y", "Y_h", "Y_c"], name="encoder",
                         hidden_size=H, clip=0.5),
    ]
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", 1, X]),
              helper.make_tensor_value_info("lens", TensorProto.INT32, [1])]
    outputs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["T", 1, 1, H])]
    graph = helper.make_graph(nodes, "lstm_clip", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)], producer_name="make_onnx_example")
    model.ir_version = 7
    onnx.checker.check_model(model, full_check=True)
    (HERE / "lstm_clip.onnx").write_bytes(model.SerializeToString())


if __name__ == "__main__":
    main()
