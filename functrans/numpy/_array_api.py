"""What the Python array API standard (2025.12) asks of a namespace beyond NumPy's names:
`isdtype`, `__array_namespace_info__`, `from_dlpack`, and the `__array_namespace__` and
`to_device` methods of arrays."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..array import Array
from ..backends import devices as _devices, default_device_now, get_device
from ..core import Tracer
from ..primitives.conversion import asarray
from ..primitives.transfer import device_put
from ._conversion import result_dtype

API_VERSION = "2025.12"
_KNOWN_VERSIONS = ("2021.12", "2022.12", "2023.12", "2024.12", "2025.12")

_KINDS = {   # the kind characters of each kind (dtypes.kind_char: ml_dtypes' types as well)
    "bool": "b", "signed integer": "i", "unsigned integer": "u", "integral": "iu",
    "real floating": "f", "complex floating": "c", "numeric": "iufc",
}


def result_type(*arrays_and_dtypes):
    """The dtype operations on these arrays, dtypes and Python scalars (weak) give: integers
    and bools meeting floats keep the float's width (JAX's and PyTorch's rule), NumPy's
    table within a kind."""
    keys = []
    for x in arrays_and_dtypes:
        if type(x) in (bool, int, float, complex):
            keys.append(x)
        elif isinstance(x, (Array, Tracer, np.ndarray, np.generic)):
            keys.append(result_dtype(x))
        else:
            keys.append(dtypes.canonicalize(x))
    if not keys:
        raise ValueError("result_type: at least one array or dtype is required")
    return dtypes.result_type(*keys)


def promote_types(a, b):
    """The dtype two dtypes promote to (see `result_type`)."""
    return dtypes.promote_types(dtypes.canonicalize(a), dtypes.canonicalize(b))


class finfo:
    """Machine limits of a floating-point (or complex: its real part's) dtype, NumPy's
    `finfo` with the array API's Python floats for `eps`, `max`, `min`, `smallest_normal`
    (and `tiny`, `resolution`, `epsneg`)."""

    def __init__(self, dtype):
        dt = dtype.dtype if isinstance(dtype, (Array, Tracer)) else dtypes.canonicalize(dtype)
        info = dtypes.finfo(dt)
        self._info = info
        self.dtype = info.dtype
        self.bits = int(info.bits)
        for name in ("eps", "max", "min", "smallest_normal", "tiny", "resolution",
                     "epsneg"):
            setattr(self, name, float(getattr(info, name)))

    def __getattr__(self, name):
        return getattr(self.__dict__["_info"], name)

    def __repr__(self):
        return repr(self._info)


class iinfo:
    """Machine limits of an integer dtype (NumPy's `iinfo`; `bits`, `max`, `min` are Python
    ints)."""

    def __init__(self, int_type):
        dt = int_type.dtype if isinstance(int_type, (Array, Tracer)) else \
            dtypes.canonicalize(int_type)
        info = dtypes.iinfo(dt)
        self._info = info
        self.dtype = info.dtype
        self.bits, self.max, self.min = int(info.bits), int(info.max), int(info.min)

    def __getattr__(self, name):
        return getattr(self.__dict__["_info"], name)

    def __repr__(self):
        return repr(self._info)


def _as_dtype(dtype, name):
    if isinstance(dtype, (Array, Tracer)) or dtype is None:
        raise TypeError(f"isdtype: {name} must be a dtype, got {type(dtype).__name__}")
    return dtypes.canonicalize(dtype)


def isdtype(dtype, kind):
    """Whether `dtype` is of `kind`: a dtype, one of "bool", "signed integer", "unsigned
    integer", "integral", "real floating", "complex floating", "numeric", or a tuple of
    those (any of them)."""
    dt = _as_dtype(dtype, "dtype")
    if isinstance(kind, tuple):
        return any(isdtype(dt, k) for k in kind)
    if isinstance(kind, str):
        try:
            return dtypes.kind_char(dt) in _KINDS[kind]
        except KeyError:
            raise ValueError(f"isdtype: unknown kind {kind!r}; use a dtype or one of "
                             f"{sorted(_KINDS)}") from None
    return dt == _as_dtype(kind, "kind")


_ALL_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
               "uint64", "float32", "float64", "complex64", "complex128")


class ArrayNamespaceInfo:
    """`fnp.__array_namespace_info__()`: the namespace's capabilities, devices and dtypes."""

    def capabilities(self):
        return {"boolean indexing": True, "data-dependent shapes": True,
                "max dimensions": 64}

    def default_device(self):
        return default_device_now()

    def devices(self):
        return tuple(_devices())

    def default_dtypes(self, *, device=None):
        if device is not None:
            get_device(device)
        return {"real floating": dtypes.default_float_dtype(),
                "complex floating": dtypes.default_complex_dtype(),
                "integral": dtypes.default_int_dtype(),
                "indexing": dtypes.default_int_dtype()}

    def dtypes(self, *, device=None, kind=None):
        if device is not None:
            get_device(device)
        return {name: np.dtype(name) for name in _ALL_DTYPES
                if kind is None or isdtype(np.dtype(name), kind)}

    def __repr__(self):
        return "functrans.numpy.__array_namespace_info__()"


def array_namespace_info():
    return ArrayNamespaceInfo()


def from_dlpack(x, /, *, device=None, copy=None):
    """An Array from any object with `__dlpack__` (NumPy, CuPy, PyTorch, JAX arrays). The
    data is shared where possible, unless `copy=True`."""
    if isinstance(x, (Array, Tracer)):
        out = x
    else:
        if not hasattr(x, "__dlpack__"):
            raise TypeError(f"from_dlpack: {type(x).__name__} has no __dlpack__ method")
        raw = _dlpack_raw(x, copy)
        out = asarray(raw, copy=False, device=device)
    if device is not None:
        out = to_device(out, device)
    elif copy:
        out = asarray(out, copy=True)
    return out


def _dlpack_raw(x, copy):
    dev_type, _ = x.__dlpack_device__()
    if int(dev_type) == 1:                             # kDLCPU
        return np.from_dlpack(x, copy=copy)
    import cupy
    return cupy.from_dlpack(x)


def to_device(x, device, /, *, stream=None):
    """`x` on `device` (a copy where it lives elsewhere; differentiable)."""
    if stream is not None:
        raise ValueError("to_device: streams are not supported; pass stream=None")
    dev = get_device(device)
    if type(x) is Array and x.device is dev:
        return x
    return device_put(x, dev)


def install(namespace):
    """Give arrays and traced values `__array_namespace__` (returning `namespace`) and
    `to_device`."""
    def __array_namespace__(self, /, *, api_version=None):
        if api_version is not None and api_version not in _KNOWN_VERSIONS:
            raise ValueError(f"__array_namespace__: api_version {api_version!r} is not "
                             f"supported; functrans follows {API_VERSION}")
        return namespace
    for cls in (Array, Tracer):
        cls.__array_namespace__ = __array_namespace__
        cls.to_device = to_device
