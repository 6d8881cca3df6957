"""A stand-in GPU for testing functrans' device plumbing on machines without one.

This is a test double, not CuPy: it does NOT exercise CuPy or CUDA. It registers a second
backend, platform "fakegpu" (devices `fakegpu:0` and `fakegpu:1`), through the same registry
as the CuPy backend, so that everything functrans does with devices (placement, transfers,
the mixing error, default devices, jit per device, transforms on a non-default device) is
tested. Its arrays are `FakeArray`s, a subclass of `numpy.ndarray` remembering its device,
and its array module `xp` is NumPy restricted the way CuPy restricts it:

- only names CuPy 14 has (`cupy_api_names.txt`, read from the CuPy wheel) exist;
- functions refuse NumPy arrays (host data must be moved explicitly), except the
  constructors `array`/`asarray`/`asanyarray`, and arrays of another device;
- `ufunc.at` exists only for add, subtract, maximum, minimum and the bitwise ufuncs,
  `ufunc.reduce`/`accumulate` only for add and multiply; `sort` is always stable;
- reductions give 0-d arrays, never NumPy scalars.

So a kernel that runs here uses only functions CuPy has, never mixes host and device data
and never depends on NumPy-only ufunc methods; whether CuPy computes the same numbers is
only checked by the `gpu` tests on a real GPU.

    python tests/fakegpu.py      # with CuPy importable: rewrite cupy_api_names.txt
"""
from __future__ import annotations

import functools
import os
import threading

import numpy as np
import scipy.linalg
import scipy.special

from functrans.backends import Backend, Device, backends, register_backend, unregister_backend

PLATFORM = "fakegpu"
_NAMES_FILE = os.path.join(os.path.dirname(__file__), "cupy_api_names.txt")


def _cupy_names():
    with open(_NAMES_FILE) as f:
        return frozenset(line.strip() for line in f if line.strip() and not line.startswith("#"))


CUPY_NAMES = _cupy_names()
_AT_UFUNCS = {"add", "subtract", "maximum", "minimum", "bitwise_and", "bitwise_or",
              "bitwise_xor"}
_REDUCING_UFUNCS = {"add", "multiply"}
_CONSTRUCTORS = {"array", "asarray", "asanyarray"}


class _Current(threading.local):
    def __init__(self):
        self.device = 0


_current = _Current()


class FakeArray(np.ndarray):
    """A NumPy buffer that stands for memory on fake device `fake_device`."""
    fake_device = 0

    def __array_finalize__(self, obj):
        self.fake_device = getattr(obj, "fake_device", _current.device)

    def get(self):
        """A NumPy copy (CuPy's device-to-host copy)."""
        return np.array(self.view(np.ndarray))

    def __getitem__(self, index):
        got = super().__getitem__(_to_base(index, "indexing", True))
        return _to_fake(got) if isinstance(got, np.generic) else got   # 0-d, as CuPy

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # operators and methods (x + y, x.sum()) land here, as CuPy's ndarray dispatches them
        return _run(getattr(ufunc, method), inputs, kwargs, ufunc.__name__)

    def __array_function__(self, func, types, args, kwargs):
        if func.__name__ not in CUPY_NAMES:
            return NotImplemented
        return _run(func, args, kwargs, func.__name__)

    def __reduce__(self):
        raise TypeError("fake device arrays are not picklable (neither are CuPy's without "
                        "a GPU); copy to the host first")


def _to_base(x, name, allow_host):
    """An argument for NumPy: FakeArrays as plain views; host arrays refused unless allowed."""
    if type(x) is FakeArray:
        if x.fake_device != _current.device:
            raise ValueError(f"{name}: array on fakegpu:{x.fake_device} used while "
                             f"fakegpu:{_current.device} is current")
        return x.view(np.ndarray)
    if type(x) is np.ndarray and not allow_host:
        raise TypeError(f"{name}: unsupported type numpy.ndarray (as CuPy: host arrays must "
                        "be moved to the device explicitly)")
    if isinstance(x, (list, tuple)):
        return type(x)(_to_base(e, name, allow_host) for e in x)
    return x


def _to_fake(x):
    if type(x) is np.ndarray or isinstance(x, np.generic):
        out = np.asarray(x).view(FakeArray)
        out.fake_device = _current.device
        return out
    if isinstance(x, tuple):
        return tuple(_to_fake(e) for e in x)
    if isinstance(x, list):
        return [_to_fake(e) for e in x]
    return x


def _run(fn, args, kwargs, name, allow_host=False):
    out = kwargs.get("out")
    args = _to_base(args, name, allow_host)
    kwargs = {k: _to_base(v, name, allow_host) for k, v in kwargs.items()}
    result = fn(*args, **kwargs)
    if out is not None and result is kwargs["out"]:
        return out                  # as CuPy: the given output array itself
    return _to_fake(result)


class _Ufunc:
    """A NumPy ufunc with CuPy's set of methods."""

    def __init__(self, ufunc):
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__
        self.nin, self.nout = ufunc.nin, ufunc.nout

    def __call__(self, *args, **kwargs):
        return _run(self._ufunc, args, kwargs, self.__name__)

    def _method(self, method, allowed):
        if self.__name__ not in allowed:
            raise NotImplementedError(f"`{self.__name__}.{method}` is not supported (as in "
                                      "CuPy)")
        return functools.partial(_run, getattr(self._ufunc, method), name=self.__name__)

    def at(self, *args):
        self._method("at", _AT_UFUNCS)(args, {})

    def reduce(self, *args, **kwargs):
        return self._method("reduce", _REDUCING_UFUNCS)(args, kwargs)

    def accumulate(self, *args, **kwargs):
        return self._method("accumulate", _REDUCING_UFUNCS)(args, kwargs)

    def outer(self, *args, **kwargs):
        return _run(self._ufunc.outer, args, kwargs, self.__name__)


def _stable(fn):
    def sort(a, axis=-1, kind=None):
        if kind is not None:
            raise NotImplementedError("only the default (stable) sort is supported, as in "
                                      "CuPy")
        return _run(fn, (a,), {"axis": axis, "kind": "stable"}, fn.__name__)
    return sort


class _Namespace:
    """NumPy (or a NumPy submodule) offering only what CuPy offers under `prefix`."""

    def __init__(self, module, prefix=""):
        self._module, self._prefix = module, prefix
        self._cache = {}

    def __getattr__(self, name):
        got = self._cache.get(name)
        if got is None:
            got = self._cache[name] = self._lookup(name)
        return got

    def _lookup(self, name):
        full = self._prefix + name
        if full == "ndarray":
            return FakeArray
        if full in ("linalg", "fft", "lib", "lib.stride_tricks"):
            module = np.lib.stride_tricks if full == "lib.stride_tricks" else \
                getattr(self._module, name)
            return _Namespace(module, full + ".")
        if full not in CUPY_NAMES:
            raise AttributeError(f"module 'cupy' has no attribute {full!r} (the fake GPU "
                                 "offers only CuPy's functions)")
        obj = getattr(self._module, name)
        if isinstance(obj, np.ufunc):
            return _Ufunc(obj)
        if full in ("sort", "argsort"):
            return _stable(obj)
        if isinstance(obj, type) or not callable(obj):
            return obj                              # dtypes, constants
        allow_host = full in _CONSTRUCTORS
        return functools.wraps(obj)(
            lambda *args, **kwargs: _run(obj, args, kwargs, full, allow_host))

    def __repr__(self):
        return f"<fake cupy namespace {self._prefix or 'cupy'}>"


xp = _Namespace(np)
special = _Namespace(scipy.special, "scipy.special.")
linalg = _Namespace(scipy.linalg, "scipy.linalg.")


class _Activate:
    def __init__(self, device_id):
        self.device_id = device_id

    def __enter__(self):
        self.previous = _current.device
        _current.device = self.device_id

    def __exit__(self, *exc):
        _current.device = self.previous


class FakeGpuBackend(Backend):
    platform = PLATFORM

    def __init__(self, count=2):
        self._devices = [Device(self, i, xp) for i in range(count)]

    def devices(self):
        return self._devices

    def owns(self, raw):
        return type(raw) is FakeArray

    def device_of(self, raw):
        return self._devices[raw.fake_device]

    def to_host(self, raw):
        return raw.get()

    def from_host(self, host, device):
        out = np.array(host).view(FakeArray)
        out.fake_device = device.id
        return out

    def move(self, raw, device):
        return self.from_host(raw.get(), device)

    def activate(self, device):
        return _Activate(device.id)

    def scatter_combine(self, xp, ufunc_name, target, positions, updates):
        if ufunc_name != "multiply":
            return super().scatter_combine(xp, ufunc_name, target, positions, updates)
        # CuPy has no multiply.at; the CUDA backend runs its own kernel there (compiled by
        # tests/test_cuda_codegen.py, run only on a GPU). Here NumPy stands in for it.
        np.multiply.at(_to_base(target, "scatter_mul", False),
                       _to_base(positions, "scatter_mul", False),
                       _to_base(updates, "scatter_mul", False))

    def owns_memory(self, raw):
        base = raw.base             # the NumPy buffer the FakeArray views
        return type(base) is np.ndarray and base.base is None and raw.flags.c_contiguous \
            and raw.flags.writeable

    def scipy(self, name):
        return {"special": special, "linalg": linalg}[name]


def register():
    """Register the fake GPU backend (once; later calls return the registered one)."""
    for backend in backends():
        if isinstance(backend, FakeGpuBackend):
            return backend
    backend = FakeGpuBackend()
    register_backend(backend)
    return backend


def unregister():
    unregister_backend(PLATFORM)


def write_cupy_names(path=_NAMES_FILE):
    """Record the public names of the installed CuPy (run where CuPy imports)."""
    import cupy
    import cupy.fft
    import cupy.lib.stride_tricks
    import cupy.linalg
    import cupyx.scipy.special
    import ast
    import cupyx.scipy
    lines = [line for line in open(path) if line.startswith("#")]
    for prefix, module in (("", cupy), ("linalg.", cupy.linalg), ("fft.", cupy.fft),
                           ("lib.stride_tricks.", cupy.lib.stride_tricks),
                           ("scipy.special.", cupyx.scipy.special)):
        lines += [prefix + n + "\n" for n in sorted(dir(module)) if not n.startswith("_")]
    # cupyx.scipy.linalg needs cuBLAS to import: read the names its __init__ imports
    init = os.path.join(os.path.dirname(cupyx.scipy.__file__), "linalg", "__init__.py")
    tree = ast.parse(open(init).read())
    names = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
             for a in node.names}
    lines += [f"scipy.linalg.{n}\n" for n in sorted(names) if not n.startswith("_")]
    with open(path, "w") as f:
        f.writelines(lines)


if __name__ == "__main__":
    write_cupy_names()
