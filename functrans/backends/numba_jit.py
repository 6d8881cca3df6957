"""numba, when installed and asked for (`ft.config.update("jit_numba", True)` or
FUNCTRANS_JIT_NUMBA=1): loops compiled from generated source, shared by source text.

Loops are compiled with NumPy's error model (x / 0 is inf or NaN, never an exception), without
fast-math (each operation is IEEE-rounded as NumPy rounds it, no contraction into fused
multiply-adds) and release the GIL.
"""
from __future__ import annotations

import threading

import numpy as np

from ..config import config

_numba = []
_compiled = {}          # (source, name) -> numba dispatcher
_lock = threading.Lock()


def available():
    """Whether compiled loops are asked for and numba imports."""
    if not config.jit_numba:
        return False
    if not _numba:
        try:
            import numba
            _numba.append(numba)
        except Exception:
            _numba.append(None)
    return _numba[0] is not None


# the dtypes the loops of primitives take (numba has no float16; bools are not summed)
_LOOP_DTYPES = frozenset(map(np.dtype, ("float32", "float64", "complex64", "complex128", "int8",
                                        "int16", "int32", "int64", "uint8", "uint16", "uint32",
                                        "uint64")))


def takes(xp, dtype):
    """Whether a compiled loop should run on arrays of `dtype` of the array module `xp`: loops
    are asked for and numba imports, `xp` is the host's NumPy, and numba takes the dtype."""
    return xp is np and np.dtype(dtype) in _LOOP_DTYPES and available()


def compiled(source, name="kernel", constants=None):
    """The numba function `name` defined by `source` (compiled on its first call, shared by
    every caller of the same source); `constants` are the source's global names."""
    key = (source, name)
    fn = _compiled.get(key)
    if fn is None:
        namespace = {"float32": np.float32, "float64": np.float64, **(constants or {})}
        exec(compile(source, f"<functrans numba {name}>", "exec"), namespace)
        with _lock:
            fn = _compiled.get(key)
            if fn is None:
                fn = _compiled[key] = _numba[0].njit(nogil=True, error_model="numpy")(
                    namespace[name])
    return fn
