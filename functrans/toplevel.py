"""JAX's smaller top-level names, for code written for JAX: scopes and settings as context
managers (`named_scope`, `default_matmul_precision`, `debug_nans`, `debug_infs`,
`enable_x64`, `numpy_rank_promotion`, `numpy_dtype_promotion`, `log_compiles`,
`explain_cache_misses`, `no_tracing`, `transfer_guard` (and per direction), `enable_checks`,
`check_tracer_leaks`), `live_arrays`, `copy_to_host_async`, `typeof`, `effects_barrier`,
the multi-host aliases (`host_count`, `host_id`, `host_ids`, `process_indices`) and
`print_environment_info`."""
from __future__ import annotations

import contextlib
import gc
import platform
import sys

from .array import Array
from .backends import devices, get_device, process_count, process_index
from .backends import transfer_guard as _transfer_guard
from .config import config
from .core import get_aval
from .tree_util import tree_leaves

__all__ = ["named_scope", "default_matmul_precision", "debug_nans", "debug_infs", "enable_x64",
           "numpy_rank_promotion", "numpy_dtype_promotion", "log_compiles",
           "explain_cache_misses", "no_tracing", "transfer_guard",
           "transfer_guard_host_to_device", "transfer_guard_device_to_device",
           "transfer_guard_device_to_host", "enable_checks", "check_tracer_leaks", "checking_leaks",
           "live_arrays", "copy_to_host_async", "typeof", "effects_barrier", "host_count",
           "host_id", "host_ids", "process_indices", "print_environment_info"]


@contextlib.contextmanager
def named_scope(name):
    """A name for the operations staged inside (JAX attaches it to their metadata for
    profilers; functrans has nothing to attach it to, so the block just runs)."""
    if not isinstance(name, str):
        raise TypeError(f"named_scope: the name must be a string, got {type(name).__name__}")
    yield


@contextlib.contextmanager
def default_matmul_precision(new_val):
    """JAX's matrix product precision setting: functrans computes every product in its
    operands' dtype on the CPU and the GPU alike (no reduced-precision TF32 or bfloat16
    passes), so the block runs as it is."""
    if new_val is not None and str(new_val).lower() not in (
            "default", "high", "highest", "bfloat16", "tensorfloat32", "float32", "fastest"):
        raise ValueError(f"default_matmul_precision: unknown precision {new_val!r}")
    yield


@contextlib.contextmanager
def _setting(name, value):
    before = getattr(config, name)
    config.update(name, value)
    try:
        yield
    finally:
        config.update(name, before)


def debug_nans(new_val=True):
    """`with ft.debug_nans(True):` raises where an operation makes a NaN, inside the block
    (`ft.config.update("debug_nans", True)` for good)."""
    return _setting("debug_nans", bool(new_val))


def debug_infs(new_val=True):
    """`with ft.debug_infs(True):` raises where an operation makes an infinity, inside the
    block."""
    return _setting("debug_infs", bool(new_val))


def enable_x64(new_val=True):
    """`with ft.enable_x64():` makes float64 the default float dtype inside the block (Python
    floats, creation functions, random numbers), `enable_x64(False)` float32; the setting
    `default_float_dtype` is restored after it. Integers are int64 either way in functrans."""
    if not isinstance(new_val, bool):
        raise TypeError(f"enable_x64: new_val must be True or False, got {new_val!r}")
    return _setting("default_float_dtype", "float64" if new_val else "float32")


def numpy_rank_promotion(new_val):
    """`with ft.numpy_rank_promotion("raise"):` binary operations on arrays of different
    ranks (scalars aside) raise inside the block ("warn": warn; "allow": broadcast)."""
    return _setting("numpy_rank_promotion", new_val)


def numpy_dtype_promotion(new_val):
    """`with ft.numpy_dtype_promotion("strict"):` operands of different dtypes raise
    `dtypes.TypePromotionError` inside the block instead of promoting ("standard")."""
    return _setting("numpy_dtype_promotion", new_val)


def log_compiles(new_val=True):
    """`with ft.log_compiles():` each compilation of a jitted function is logged (logger
    "functrans.compiler", at WARNING) inside the block."""
    return _setting("log_compiles", bool(new_val))


def explain_cache_misses(new_val=True):
    """`with ft.explain_cache_misses():` each retrace of a jitted function is logged with its
    reason (which argument's shape, dtype or static value, or which setting, changed)."""
    return _setting("log_retraces", bool(new_val))


def no_tracing(new_val=True):
    """`with ft.no_tracing():` a jitted function that would trace inside the block (no
    compiled program for its arguments yet) raises RuntimeError instead: to check that a loop
    never recompiles. Eager operations run as always (functrans does not trace them)."""
    return _setting("no_tracing", bool(new_val))


def transfer_guard(new_val):
    """`with ft.transfer_guard("disallow"):` (in this thread) transfers between the host and
    a device are guarded at level `new_val`: "allow", "log" (log implicit ones), "disallow"
    (refuse implicit ones: NumPy data joining a device's arrays, reading a device's array as
    NumPy or Python values), "log_explicit", "disallow_explicit" (also `device_put` and
    `device_get`). Nothing to or from a CPU device is guarded (see
    `functrans.backends.transfer_guard`)."""
    return _transfer_guard.guarding(new_val)


def transfer_guard_host_to_device(new_val):
    """`transfer_guard` for NumPy data and Python numbers going to a device only."""
    return _transfer_guard.guarding(new_val, ("host_to_device",))


def transfer_guard_device_to_device(new_val):
    """`transfer_guard` for copies between devices only."""
    return _transfer_guard.guarding(new_val, ("device_to_device",))


def transfer_guard_device_to_host(new_val):
    """`transfer_guard` for a device's arrays read on the host only."""
    return _transfer_guard.guarding(new_val, ("device_to_host",))


def enable_checks(new_val=True):
    """`with ft.enable_checks():` every traced jaxpr is type-checked inside the block."""
    return _setting("enable_checks", bool(new_val))


def check_tracer_leaks(new_val=True):
    """`with ft.check_tracer_leaks():` a trace to a jaxpr (jit, make_jaxpr, the bodies of
    control flow) raises UnexpectedTracerError if one of its tracers outlives it."""
    return _setting("check_tracer_leaks", bool(new_val))


def checking_leaks():
    """`check_tracer_leaks(True)` (JAX's name)."""
    return check_tracer_leaks(True)


def live_arrays(platform=None):
    """The Arrays alive now (on devices of `platform`, e.g. "cpu" or "cuda", when given):
    every one the garbage collector can reach, donated ones aside."""
    out = []
    for obj in gc.get_objects():
        if type(obj) is Array:
            try:
                device = obj.device
            except RuntimeError:            # donated to a jitted function: no memory now
                continue
            if platform is None or device.platform == get_device(platform).platform:
                out.append(obj)
    return out


def copy_to_host_async(x):
    """JAX's hint to start copying the arrays of pytree `x` to the host ahead of reading them.
    functrans copies an array when its value is read (`np.asarray`, printing), so the hint
    changes nothing observable: host arrays need no copy, device arrays copy when read."""
    for leaf in tree_leaves(x):
        if not isinstance(leaf, Array):
            raise TypeError(f"copy_to_host_async: expected Arrays, got {type(leaf).__name__}")


def typeof(x):
    """The abstract value (shape and dtype; weak for a Python scalar) of `x`, as transforms
    trace it."""
    return get_aval(x)


def effects_barrier():
    """Wait for pending effects (debug prints, callbacks): functrans runs them as they come,
    so there is nothing to wait for."""


def host_count(backend=None):
    """The number of processes (JAX's older name for `process_count`)."""
    return process_count(backend)


def host_id(backend=None):
    """This process's index (JAX's older name for `process_index`)."""
    return process_index(backend)


def process_indices(backend=None):
    """The indices of all processes."""
    return list(range(process_count(backend)))


host_ids = process_indices      # (JAX's older name)


def print_environment_info(return_string=False):
    """The versions of functrans, Python, NumPy and SciPy (and CuPy, mpi4py where they
    import), the platform and the devices; printed, or returned with `return_string`."""
    import numpy
    import scipy
    from . import __version__
    lines = [f"functrans: {__version__}", f"numpy:     {numpy.__version__}",
             f"scipy:     {scipy.__version__}"]
    for name in ("cupy", "mpi4py"):
        module = sys.modules.get(name)
        if module is not None:
            lines.append(f"{name + ':':10s} {getattr(module, '__version__', '?')}")
    lines += [f"python:    {sys.version.split()[0]}", f"platform:  {platform.platform()}",
              f"process {process_index()} of {process_count()}; devices: {devices()}"]
    text = "\n".join(lines) + "\n"
    if return_string:
        return text
    print(text, end="")
