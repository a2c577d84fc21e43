"""The thread pool with more threads than cores: most workers arrive after the caller has taken
every task, so a job ends without them, but not before the tasks they did take are written."""
import os

import numpy as np

from granite_native import _native as N

CHUNK = 16384  # add_scaled's task size (csrc/activation.c)


def test_consecutive_jobs_are_exact_when_threads_outnumber_cores():
    rng = np.random.default_rng(11)
    pool = N.ThreadPool(min(4 * (os.cpu_count() or 1) + 1, 129))
    try:
        for i in range(400):
            n = int(rng.integers(1, 12 * CHUNK))  # one task to twelve
            h = rng.standard_normal((1, n)).astype(np.float32)
            y = rng.standard_normal((1, n)).astype(np.float32)
            alpha = np.float32(rng.standard_normal())
            want = h + alpha * y
            N.add_scaled(pool, h, y, float(alpha))
            assert np.array_equal(h, want), f"job {i}, {n} values"
    finally:
        pool.close()
