"""Holding every library to `n` threads, for benchmarks that compare them at a thread count.

Call `limit(n)` before NumPy, SciPy, JAX or PyTorch is imported (they read their settings
then). Environment variables alone are not enough: XLA's CPU runtime (JAX 0.4.3x and later)
runs independent operations of a program on its own thread pool whatever
`--xla_cpu_multi_thread_eigen` and `intra_op_parallelism_threads` say, and took 1.8 cores in a
"one-thread" run here. So `limit` also pins the process to `n` of its CPUs: the threads any
library starts later inherit that set, so no library uses more than `n` cores.
"""
from __future__ import annotations

import os

_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def limit(n):
    """Set the thread variables, XLA's flags and this process's CPU set for `n` threads (the
    CPU set where the platform can pin)."""
    for var in _VARS:
        os.environ[var] = str(n)
    flags = os.environ.get("XLA_FLAGS", "")
    os.environ["XLA_FLAGS"] = (f"{flags} --xla_cpu_multi_thread_eigen={str(n > 1).lower()} "
                               f"intra_op_parallelism_threads={n}").strip()
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        if n < len(cpus):
            os.sched_setaffinity(0, cpus[:n])
