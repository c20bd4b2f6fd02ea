"""Forward-pass speed: lstmcalc's NumPy and Numba backends against torch.nn.LSTM (not pytest).

Float32 inference of one LSTM layer in the PyTorch convention (the Keras convention does the
same work) on the shapes (X, H, B, T) below, timed through ``lstmcalc.forward`` as a user
calls it (validation, weight preparation and the pass). Each backend runs in its own fresh
process, so that the BLAS, Numba and torch thread pools never spin against each other, and
the processes alternate over several rounds; a figure is the median over rounds of each
round's median, in milliseconds, warm (Numba's compile or cache load is excluded, and shown
apart as the first call's ``compile_ms`` in a fresh process).

Torch runs under ``torch.no_grad()`` with ``torch.set_num_threads`` equal to NumPy's BLAS
thread count, both with its default CPU path (oneDNN, when torch has it) and with
``torch.backends.mkldnn.flags(enabled=False)`` (ATen's own LSTM loop). The 'gemms' column
times only the matrix products on NumPy's BLAS (the input projection and T-1 recurrent
products into preallocated buffers): no implementation on that BLAS can be faster.

The second table ("calls", issue 17) times short calls where the fixed cost per call
matters: T = 1 and T = 10 on three shapes, two longer ones, and a stream (T = 100 fed one
step at a time, the state carried over), each against torch's module call in the same run.
One long-lived process per side (torch; lstmcalc.forward with NumPy and Numba; a layer from
lstmcalc.prepare with NumPy and Numba), driven in alternating order, round after round;
a figure is the best (minimum) over rounds of each round's best of N calls, in ms. 'best'
is the faster of the two prepared layers, the object a caller keeps between calls, as
torch keeps its module. Numba's compile/cache load happens before the first round.

    python benchmarks/forward.py                 # both tables, environment as it is
    python benchmarks/forward.py --table calls   # only the short-call table
    python benchmarks/forward.py --env both      # and again with OPENBLAS_CORETYPE and
                                                 # OPENBLAS_L2_SIZE unset for the children
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHAPES = [(1, 1, 32, 1000), (32, 64, 32, 100), (128, 256, 64, 100), (512, 512, 64, 50), (64, 128, 1, 500)]
BACKENDS = ("numpy", "numba", "torch", "torch-aten", "gemm")
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


# --- worker: one backend, every shape, in a fresh process --------------------------------------


def blas_info() -> dict:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return {}
    rows = [d for d in threadpool_info() if d.get("user_api") == "blas"]
    return rows[0] if rows else {}


def median_ms(fn, repeat: int, budget_s: float) -> float:
    fn()  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < repeat and (len(times) < 5 or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def worker(backend: str, repeat: int, threads: int | None) -> dict:
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from lstmcalc import forward
    from lstmcalc.frameworks import make_spec
    from lstmcalc.weights import init_weights

    info = blas_info()
    threads = threads or int(info.get("num_threads") or os.cpu_count() or 1)
    result = {"blas": {k: info.get(k) for k in ("internal_api", "version", "architecture", "num_threads")},
              "threads": threads, "ms": [], "compile_ms": []}
    torch = None
    if backend.startswith("torch"):
        try:
            import torch
        except ImportError:
            return {**result, "missing": "torch is not installed"}
        torch.set_num_threads(threads)
        result["torch"] = torch.__version__
    elif backend == "numba":
        try:
            import numba

            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        except ImportError:
            return {**result, "missing": "numba is not installed"}
    rng = np.random.default_rng(0)
    for x_size, h, b, t in SHAPES:
        spec = make_spec(h, x_size, framework="torch", batch=b, time=t)
        weights = init_weights(spec, seed=1, dtype="float32")
        x = rng.standard_normal((b, t, x_size)).astype(np.float32)
        if backend == "gemm":  # only the products, on NumPy's BLAS: input projection, T-1 recurrent
            wx, wh = weights["weight_ih_l0"].T.copy(), weights["weight_hh_l0"].T.copy()  # (X, 4H), (H, 4H)
            xp = np.empty((b * t, 4 * h), dtype=np.float32)
            hs, gates = rng.uniform(-1, 1, (b, h)).astype(np.float32), np.empty((b, 4 * h), dtype=np.float32)

            def fn():
                np.matmul(x.reshape(b * t, x_size), wx, out=xp)
                for _ in range(t - 1):
                    np.matmul(hs, wh, out=gates)

        elif torch is None:
            first = forward(x, weights, framework="torch", backend=backend)
            result["compile_ms"].append(first.compile_ms)
            fn = lambda: forward(x, weights, framework="torch", backend=backend)  # noqa: E731
        else:
            module = torch.nn.LSTM(x_size, h, batch_first=True)
            module.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
            xt = torch.from_numpy(x)
            onednn = backend == "torch"

            def fn():
                with torch.no_grad(), torch.backends.mkldnn.flags(enabled=onednn):
                    module(xt)

        result["ms"].append(median_ms(fn, repeat, budget_s=2.0))
    return result


# --- the calls table: long-lived workers, alternating order ------------------------------------

CALL_SHAPES = [  # (X, H, B, T, stream): stream feeds T steps one at a time, state carried over
    (64, 128, 1, 1, False), (64, 128, 1, 10, False), (32, 64, 32, 1, False), (32, 64, 32, 10, False),
    (1, 1, 32, 1, False), (1, 1, 32, 10, False), (32, 64, 32, 100, False), (64, 128, 1, 500, False),
    (64, 128, 1, 100, True), (32, 64, 32, 100, True), (1, 1, 32, 100, True),
]
CALL_SIDES = ("torch", "numpy-forward", "numba-forward", "numpy-layer", "numba-layer", "numba1-layer")
ONE_THREAD = {"numba1-layer": {"NUMBA_NUM_THREADS": "1"}}  # the Numba layer on one thread: no split at all


def serve(side: str, threads: int | None) -> None:
    """A worker: reads shape indices on stdin, answers the best ms of N calls as JSON."""
    sys.path.insert(0, str(ROOT))
    import numpy as np

    import lstmcalc
    from lstmcalc.frameworks import make_spec
    from lstmcalc.weights import init_weights

    info = blas_info()
    threads = threads or int(info.get("num_threads") or os.cpu_count() or 1)
    torch = None
    if side == "torch":
        import torch

        torch.set_num_threads(threads)
    backend = side.split("-")[0].rstrip("1")
    made = {}

    def make(i):
        x_size, h, b, t, streamed = CALL_SHAPES[i]
        spec = make_spec(h, x_size, framework="torch", batch=b, time=t)
        weights = init_weights(spec, seed=1, dtype="float32")
        x = np.random.default_rng(0).standard_normal((b, t, x_size)).astype(np.float32)
        if torch is not None:
            module = torch.nn.LSTM(x_size, h, batch_first=True)
            module.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
            xt = torch.from_numpy(x)
            steps = [xt[:, k : k + 1] for k in range(t)]

            def fn():
                with torch.no_grad():
                    if not streamed:
                        return module(xt)
                    state = None
                    for step in steps:
                        _, state = module(step, state)

        elif side.endswith("layer"):
            layer = lstmcalc.prepare(weights, framework="torch", backend=backend)
            steps = [np.ascontiguousarray(x[:, k : k + 1]) for k in range(t)]

            def fn():
                if not streamed:
                    return layer(x)
                state = None
                for step in steps:
                    state = layer(step, initial_state=state).state

        else:
            steps = [np.ascontiguousarray(x[:, k : k + 1]) for k in range(t)]

            def fn():
                if not streamed:
                    return lstmcalc.forward(x, weights, framework="torch", backend=backend)
                state = None
                for step in steps:
                    state = lstmcalc.forward(step, weights, framework="torch", backend=backend,
                                             initial_state=state).state

        fn()  # warm: Numba compiles or loads its kernels here, before any timing
        fn()
        return fn

    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        i, n = json.loads(line)
        fn = made.get(i) or made.setdefault(i, make(i))
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        print(json.dumps({"ms": min(times)}), flush=True)


def probe_second_core(trials: int = 21) -> tuple[float, float, float, float]:
    """(min, median, max) over ``trials`` of: the time two threads take to do the same
    independent Numba work at once, over the time one thread takes alone (1.0 = a free
    second core; 2.0 = none; lstmcalc's Worker thread runs the second copy); and the
    GMAC/s of lstmcalc's Numba product kernel on one core, for a 32/64/32 step."""
    sys.path.insert(0, str(ROOT))
    import numba
    import numpy as np

    from lstmcalc import _numba

    @numba.njit(nogil=True)
    def work(a, n):  # ~1-2 ms of float arithmetic, no memory traffic
        s = 0.0
        for _ in range(n):
            for j in range(a.shape[0]):
                s += a[j] * 1.0000001
        return s

    h, w = np.ones((32, 64), np.float32), np.full((64, 256), 0.5, np.float32)  # one 32/64/32 step's product
    acc = np.zeros((32, 256), np.float32)
    _numba.matmul_acc(h, w, acc, 0, 32)
    best = min(_timed_ms(lambda: [_numba.matmul_acc(h, w, acc, 0, 32) for _ in range(100)]) for _ in range(20))
    rate = 100 * 32 * 64 * 256 / (best * 1e6)  # GMAC/s
    a = np.ones(1000)
    helper = _numba.workers(1)[0]
    work(a, 1)
    ratios = []
    for _ in range(trials):
        t0 = time.perf_counter()
        work(a, 1500)
        alone = time.perf_counter() - t0
        t0 = time.perf_counter()
        helper.submit(work, (a, 1500))
        work(a, 1500)
        helper.wait()
        ratios.append((time.perf_counter() - t0) / alone)
        time.sleep(0.05)
    return min(ratios), statistics.median(ratios), max(ratios), rate


def _timed_ms(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def calls_table(args, env: dict) -> None:
    procs = {}
    for side in CALL_SIDES:
        cmd = [sys.executable, __file__, "--serve", side] + (["--threads", str(args.threads)] if args.threads else [])
        procs[side] = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                       env={**env, **ONE_THREAD.get(side, {})})
        json.loads(procs[side].stdout.readline())
    best = {side: [float("inf")] * len(CALL_SHAPES) for side in CALL_SIDES}
    per_round = {side: [[] for _ in CALL_SHAPES] for side in CALL_SIDES}
    try:
        for r in range(args.call_rounds):
            order = CALL_SIDES if r % 2 == 0 else CALL_SIDES[::-1]  # alternate who goes first
            for i in range(len(CALL_SHAPES)):
                for side in order:
                    procs[side].stdin.write(json.dumps([i, args.calls]) + "\n")
                    procs[side].stdin.flush()
                    ms = json.loads(procs[side].stdout.readline())["ms"]
                    per_round[side][i].append(ms)
                    best[side][i] = min(best[side][i], ms)
                    # OpenBLAS' idle threads spin ~0.1 s after a product (2**28 cycles) and OpenMP's a
                    # while too: let them stop before the next side, which would lose a core to them
                    time.sleep(args.pause)
    finally:
        for p in procs.values():
            p.stdin.close()
            p.wait()
    print(f"== calls: float32 LSTM, ms, best over {args.call_rounds} alternating rounds of best-of-{args.calls}; "
          "torch.nn.LSTM module call (no_grad) against lstmcalc.forward (fwd) and a prepared layer (layer)")
    print("'stream': T steps fed one at a time, each call starting from the last call's state; "
          "'best' = the faster prepared layer; spread = max/min of the per-round figures of 'best'; "
          "'nb 1 thr': the Numba layer with NUMBA_NUM_THREADS=1 (what one core does alone; not in 'best')")
    head = (f"{'X':>3} {'H':>4} {'B':>3} {'T':>4} {'':>6} | {'torch':>7} | {'fwd np':>7} {'fwd nb':>7} | "
            f"{'layer np':>8} {'layer nb':>8} {'nb 1 thr':>8} | {'best/torch':>10} {'spread':>6} | {'fwd/torch':>9}")
    print(head)
    print("-" * len(head))
    for i, (x_size, h, b, t, streamed) in enumerate(CALL_SHAPES):
        tb, fnp, fnb, lnp, lnb, l1 = (best[s][i] for s in CALL_SIDES)
        win = "numpy-layer" if lnp <= lnb else "numba-layer"
        spread = max(per_round[win][i]) / min(per_round[win][i])
        print(f"{x_size:>3} {h:>4} {b:>3} {t:>4} {'stream' if streamed else '':>6} | {tb:7.3f} | {fnp:7.3f} {fnb:7.3f} | "
              f"{lnp:8.3f} {lnb:8.3f} {l1:8.3f} | {min(lnp, lnb) / tb:10.2f} {spread:6.2f} | {min(fnp, fnb) / tb:9.2f}")
    try:
        lo, mid, hi, rate = probe_second_core()
        print(f"second core: two threads doing the same independent Numba work took {lo:.2f}-{hi:.2f}x "
              f"(median {mid:.2f}x) one thread's time (1.00 = a free second core, 2.00 = none); "
              "the split kernels and torch's threads depend on it")
        print(f"one core: lstmcalc's Numba product kernel runs a 32/64/32 step's (32, 64) @ (64, 256) at "
              f"{rate:.1f} GMAC/s")
    except ImportError:
        print("second core: not probed (numba is not installed)")
    print()


# --- driver --------------------------------------------------------------------------------------


def run_worker(backend: str, args, env: dict) -> dict:
    cmd = [sys.executable, __file__, "--worker", backend, "--repeat", str(args.repeat)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(args, env: dict, label: str) -> None:
    runs = {b: [] for b in BACKENDS}
    for _ in range(args.rounds):
        for backend in BACKENDS:
            runs[backend].append(run_worker(backend, args, env))
    first = runs["numpy"][0]
    blas = first["blas"]
    print(f"== {label}: " + ", ".join(f"{k}={env.get(k, '(unset)')}" for k in OPENBLAS_VARS))
    print(f"numpy BLAS: {blas.get('internal_api')} {blas.get('version')}, kernel {blas.get('architecture')}, "
          f"{blas.get('num_threads')} threads; Numba and torch: {first['threads']} threads"
          + (f"; torch {runs['torch'][0]['torch']}" if "torch" in runs["torch"][0] else ""))
    print(f"float32 LSTM, median ms over {args.rounds} rounds of fresh processes (each a median of up to "
          f"{args.repeat} warm runs); 'torch' is its default (oneDNN) path, 'aten' torch with oneDNN off")
    print("'gemms' times only the matrix products any NumPy-BLAS implementation must do (the input projection "
          "and T-1 recurrent products, nothing else): a floor for the numpy backend")
    print("'auto cold': the backend backend='auto' runs for the call in a fresh process (NumPy unless NumPy's "
          "lower bound exceeds lstmcalc.cells.AUTO_COLD_MS); once the kernels are loaded it runs Numba")
    head = (f"{'X':>4} {'H':>4} {'B':>3} {'T':>5} | {'numpy':>7} {'numba':>7} {'torch':>7} {'aten':>7} {'gemms':>7} | "
            f"{'numpy/torch':>11} {'best/torch':>10} {'best/aten':>9} {'gemms/torch':>11} | {'auto cold':>9} | {'numba load ms':>13}")
    print(head)
    print("-" * len(head))

    def med(backend, i):
        values = [r["ms"][i] for r in runs[backend] if "missing" not in r]
        return statistics.median(values) if values else float("nan")

    sys.path.insert(0, str(ROOT))
    from lstmcalc.cells import AUTO_COLD_MS, numpy_floor_ms
    from lstmcalc.frameworks import make_spec

    for i, (x_size, h, b, t) in enumerate(SHAPES):
        numpy_ms, numba_ms, torch_ms, aten_ms, gemm_ms = (med(k, i) for k in BACKENDS)
        # what "auto" runs in a fresh process (no kernels loaded): NumPy unless even NumPy's lower
        # bound is above AUTO_COLD_MS; with the kernels loaded it runs Numba
        floor = numpy_floor_ms(make_spec(h, x_size, framework="torch", batch=b, time=t))
        auto = "numba" if floor >= AUTO_COLD_MS and "missing" not in runs["numba"][0] else "numpy"
        best = min(v for v in (numpy_ms, numba_ms) if v == v)
        load = statistics.median(r["compile_ms"][i] for r in runs["numba"]) if "missing" not in runs["numba"][0] else float("nan")
        print(f"{x_size:>4} {h:>4} {b:>3} {t:>5} | {numpy_ms:7.2f} {numba_ms:7.2f} {torch_ms:7.2f} {aten_ms:7.2f} "
              f"{gemm_ms:7.2f} | {numpy_ms / torch_ms:11.2f} {best / torch_ms:10.2f} {best / aten_ms:9.2f} "
              f"{gemm_ms / torch_ms:11.2f} | {auto:>9} | {load:13.1f}")
    print()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30, help="warm runs per shape and process (default 30)")
    ap.add_argument("--rounds", type=int, default=3, help="fresh processes per backend (default 3)")
    ap.add_argument("--threads", type=int, default=None, help="Numba and torch threads (default: NumPy's BLAS threads)")
    ap.add_argument("--env", choices=("as-is", "unset", "both"), default="as-is",
                    help="OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE: as they are, unset for the children, or both tables")
    ap.add_argument("--table", choices=("shapes", "calls", "both"), default="both",
                    help="the five long shapes (fresh process per backend), the short calls, or both")
    ap.add_argument("--calls", type=int, default=15, help="calls per round and side in the calls table (default 15)")
    ap.add_argument("--call-rounds", type=int, default=10, help="alternating rounds in the calls table (default 10)")
    ap.add_argument("--pause", type=float, default=0.3, help="seconds between two sides' turns (default 0.3)")
    ap.add_argument("--worker", choices=BACKENDS, help=argparse.SUPPRESS)
    ap.add_argument("--serve", choices=CALL_SIDES, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.repeat, args.threads)))
        return 0
    if args.serve:
        serve(args.serve, args.threads)
        return 0
    if args.table in ("calls", "both"):
        calls_table(args, dict(os.environ))
    if args.table == "calls":
        return 0
    if args.env in ("as-is", "both"):
        table(args, dict(os.environ), "environment as it is")
    if args.env in ("unset", "both"):
        env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}
        table(args, env, "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (this benchmark's processes only)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
