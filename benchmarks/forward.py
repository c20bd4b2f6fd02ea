"""Forward-pass speed: lstmcalc's NumPy and Numba backends against torch.nn.LSTM (not pytest).

Float32 inference of one PyTorch-convention LSTM layer (Keras' LSTM does the same work)
on the shapes below; median of repeated runs, warm (Numba compile and cache load
excluded, reported apart). Torch runs under ``torch.no_grad()`` with
``torch.set_num_threads`` equal to the BLAS thread count NumPy uses, printed in the header.

    python benchmarks/forward.py [--repeat N] [--threads N] [--cells lstm,gru,rnn]

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, when set, are printed with the BLAS kernel that
threadpoolctl reports; compare a run with both unset (in that command alone):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/forward.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from lstmcalc.cells import _run, forward, prefers_numba, prepare  # noqa: E402
from lstmcalc.spec import make_spec  # noqa: E402
from lstmcalc.weights import init_weights  # noqa: E402

SHAPES = [(1, 1, 32, 1000), (32, 64, 32, 100), (128, 256, 64, 100), (512, 512, 64, 50), (64, 128, 1, 500)]


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    rows = [d for d in threadpool_info() if d.get("user_api") == "blas"]
    return ", ".join(f"{d.get('internal_api')} {d.get('version')} kernel {d.get('architecture')}, "
                     f"{d.get('num_threads')} threads" for d in rows) or "no BLAS found"


def blas_threads() -> int:
    try:
        from threadpoolctl import threadpool_info
        rows = [d for d in threadpool_info() if d.get("user_api") == "blas"]
        if rows:
            return int(rows[0]["num_threads"])
    except ImportError:
        pass
    return os.cpu_count() or 1


def median_ms(fn, repeat: int, budget_s: float = 3.0) -> float:
    fn()  # warm-up
    times = []
    start = time.perf_counter()
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
        if time.perf_counter() - start > budget_s and len(times) >= 5:
            break
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: NumPy's BLAS threads)")
    ap.add_argument("--cells", default="lstm")
    args = ap.parse_args(argv)

    try:
        from lstmcalc import _numba  # noqa: F401
        have_numba = True
    except ImportError:
        have_numba = False
    try:
        import torch
    except ImportError:
        torch = None
    threads = args.threads or blas_threads()
    if torch is not None:
        torch.set_num_threads(threads)

    env = {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    print(f"numpy {np.__version__}; BLAS: {blas_info()}")
    print("environment: " + ", ".join(f"{k}={v if v is not None else '(unset)'}" for k, v in env.items()))
    if torch is not None:
        print(f"torch {torch.__version__}: {torch.get_num_threads()} threads")
    print("float32, median ms of warm runs (Numba compile/cache load excluded)")
    print()
    head = f"{'cell':4} {'X':>4} {'H':>4} {'B':>3} {'T':>5} | {'numpy':>8} {'numba':>8} {'torch':>8} | " \
           f"{'numpy/torch':>11} {'best/torch':>10} {'auto':>6} | {'compile ms':>10}"
    print(head)
    print("-" * len(head))
    rng = np.random.default_rng(0)
    for cell in args.cells.split(","):
        for x_size, h, b, t in SHAPES:
            spec = make_spec(h, x_size, cell=cell, framework="torch", batch=b, time=t)
            weights = init_weights(spec, seed=1, dtype="float32")
            x = rng.standard_normal((b, t, x_size)).astype(np.float32)
            opts = {"cell": cell, "framework": "torch"}
            # forward() as a user calls it (validation, weight preparation, the pass)
            t_numpy = median_ms(lambda: forward(x, weights, backend="numpy", **opts), args.repeat)
            t_numba = compile_ms = float("nan")
            if have_numba:
                compile_ms = forward(x, weights, backend="numba", **opts).compile_ms
                t_numba = median_ms(lambda: forward(x, weights, backend="numba", **opts), args.repeat)
            t_torch = float("nan")
            if torch is not None:
                cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
                module = cls(x_size, h, batch_first=True)
                xt = torch.from_numpy(x)

                def run_torch():
                    with torch.no_grad():
                        module(xt)

                t_torch = median_ms(run_torch, args.repeat)
            best = min(t_numpy, t_numba) if have_numba else t_numpy
            auto = "numba" if have_numba and prefers_numba(spec) else "numpy"
            print(f"{cell:4} {x_size:>4} {h:>4} {b:>3} {t:>5} | {t_numpy:8.2f} {t_numba:8.2f} {t_torch:8.2f} | "
                  f"{t_numpy / t_torch:11.2f} {best / t_torch:10.2f} {auto:>6} | {compile_ms:10.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
