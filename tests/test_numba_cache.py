"""Numba kernels are cached on disk: a second process loads them instead of compiling."""

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json
import numpy as np
import lstmcalc
from lstmcalc import _numba
from lstmcalc.frameworks import make_spec
from lstmcalc.weights import init_weights

spec = make_spec(3, 2, cell="rnn", framework="torch", batch=2, time=4)
x = np.random.default_rng(0).standard_normal((2, 4, 2)).astype("float64")
r = lstmcalc.forward(x, init_weights(spec, seed=0, dtype="float64"), cell="rnn", framework="torch", backend="numba")
kernels = [_numba.rnn_direction, _numba.project]
print(json.dumps({"backend": r.backend,
                  "hits": sum(sum(k.stats.cache_hits.values()) for k in kernels),
                  "misses": sum(sum(k.stats.cache_misses.values()) for k in kernels)}))
"""


def test_second_process_loads_cached_kernels(tmp_path):
    pytest.importorskip("numba")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}  # a cold cache of this test's own

    def run():
        out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    first, second = run(), run()
    assert first["backend"] == second["backend"] == "numba"
    assert first["misses"] > 0  # compiled, and written to the cache
    assert second["misses"] == 0 and second["hits"] > 0  # loaded, nothing compiled
    assert any(name.endswith(".nbi") for _, _, files in os.walk(tmp_path) for name in files)
