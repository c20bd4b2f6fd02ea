"""Write the small weight files the README's `lstmcalc diff` examples compare (NumPy only).

    python examples/make_diff_examples.py

lstm_keras.npz       a Keras LSTM (units 4, input 3): kernel, recurrent_kernel, bias, random
lstm_torch.npz       the same layer converted to PyTorch names by lstmcalc.convert
lstm_torch_icfo.npz  a hand port that read Keras' i, f, c, o blocks as i, c, f, o
"""

from pathlib import Path

import numpy as np

from lstmcalc import convert

HERE = Path(__file__).resolve().parent
H, X = 4, 3


def main() -> None:
    rng = np.random.default_rng(2024)
    keras = {
        "kernel": rng.standard_normal((X, 4 * H)).astype(np.float32),
        "recurrent_kernel": rng.standard_normal((H, 4 * H)).astype(np.float32),
        "bias": rng.standard_normal(4 * H).astype(np.float32),
    }
    torch = convert(keras, cell="lstm", source="keras", target="torch")
    wrong = {}
    for name, a in torch.items():
        i, f, g, o = np.split(a, 4)  # PyTorch rows: i, f, g, o
        wrong[name] = np.concatenate([i, g, f, o])
    np.savez(HERE / "lstm_keras.npz", **keras)
    np.savez(HERE / "lstm_torch.npz", **torch)
    np.savez(HERE / "lstm_torch_icfo.npz", **wrong)


if __name__ == "__main__":
    main()
