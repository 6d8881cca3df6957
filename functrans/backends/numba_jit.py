"""numba, when installed: loops compiled from generated source, shared by source text.

`ft.config.update("jit_numba", ...)` (or FUNCTRANS_JIT_NUMBA) decides what is compiled:
- "auto" (the default): a fixed set of kernels (the float32 special functions, pooling's
  gather and scatter, whole-row scatter-adds, outer products, convolution's shifted sums);
- True: these, and each compiled program's chains of float arithmetic (compiler/numba_kernels);
- False: nothing.
Every loop gives the NumPy kernel's results bit for bit, so the setting changes speed only.

Loops are compiled with NumPy's error model (x / 0 is inf or NaN, never an exception), without
fast-math (each operation is IEEE-rounded as NumPy rounds it, no contraction into fused
multiply-adds) and release the GIL. Each loop's source is written to a file of its own in the
cache directory (FUNCTRANS_CACHE_DIR, else $XDG_CACHE_HOME/functrans or ~/.cache/functrans),
so that numba keeps its machine code beside it and later processes load it instead of
compiling again (where the directory cannot be written, loops compile in each process).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import tempfile
import threading

import numpy as np

from ..config import config

_numba = []
_compiled = {}          # (source, name) -> numba dispatcher
_lock = threading.Lock()


def _imported():
    if not _numba:
        try:
            import numba
            _numba.append(numba)
        except Exception:
            _numba.append(None)
    return _numba[0] is not None


def available():
    """Whether the fixed kernels' compiled loops run: numba imports and `jit_numba` is not
    False."""
    return bool(config.jit_numba) and _imported()


def chains_available():
    """Whether compiled programs fuse their float chains into loops: `jit_numba` is True and
    numba imports."""
    return config.jit_numba not in ("auto", False) and _imported()


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
    every caller of the same source); `constants` are the source's global names, NumPy
    float scalars."""
    key = (source, name)
    fn = _compiled.get(key)
    if fn is None:
        if not _imported():
            raise ImportError("compiled loops need numba: pip install 'functrans[fast]'")
        text = "".join(f"{k} = {type(v).__name__}(float.fromhex({float(v).hex()!r}))\n"
                       for k, v in sorted((constants or {}).items()))
        text = "from numpy import float32, float64\n" + text + "\n" + source
        with _lock:         # one thread writes and imports a new loop's file
            fn = _compiled.get(key)
            if fn is None:
                py_func, cache = _defined(text, name)
                fn = _compiled[key] = _numba[0].njit(nogil=True, error_model="numpy",
                                                     cache=cache)(py_func)
    return fn


def cache_dir():
    """Where loops' sources and numba's machine code for them are kept."""
    root = os.environ.get("FUNCTRANS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "functrans")
    return os.path.join(root, "numba")


def _defined(text, name):
    """The function `name` that `text` defines, and whether numba may cache it: from a file
    in `cache_dir()` named by the text's digest (written once, atomically), imported as a
    module of its own; where that fails, from the text itself, uncached."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:20]
    module_name = f"functrans_numba_{name}_{digest}"
    module = sys.modules.get(module_name)
    if module is not None:
        return getattr(module, name), True
    try:
        directory = cache_dir()
        os.makedirs(directory, mode=0o700, exist_ok=True)
        path = os.path.join(directory, module_name + ".py")
        if not _holds(path, text):
            fd, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(temporary, path)
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except OSError:
        namespace = {}
        exec(compile(text, f"<functrans numba {name}>", "exec"), namespace)
        return namespace[name], False
    sys.modules[module_name] = module       # numba's cache finds the module by name
    return getattr(module, name), True


def _holds(path, text):
    try:
        with open(path) as f:
            return f.read() == text
    except OSError:
        return False
