"""Getting values into functrans: `array` / `asarray` make Arrays from NumPy data, Python
numbers, nested lists and raw arrays of any backend (`ft.numpy` re-exports them)."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..array import Array, wrap
from ..backends import (cpu, default_device_now, get_device, device_of_raw, is_device_raw, transfer,
                        transfer_guard, HOST_TYPES)
from ..core import Tracer
from ..meshes import device_or_out_sharding
from ._util import dtype_of, shape_of
from .elementwise import convert_element_type
from .shape_ops import concatenate, reshape, constant

PYTHON_SCALARS = (bool, int, float, complex)
NUMPY_TYPES = (np.ndarray, np.generic)


def _host_to_device(raw, device):
    return raw if device is None or device is cpu else _moved(raw, device)


def _moved(raw, device):
    """`raw` on `device` (None: where it is), under the transfer guard."""
    source = device_of_raw(raw)
    if device is None or source is device:
        return raw
    transfer_guard.check(source, device, transfer_guard.described(raw))
    return transfer(raw, device)


def _check_order(order, name):
    if order not in (None, "K", "A", "C"):
        raise NotImplementedError(f"{name}: order={order!r} is not supported; functrans "
                                  "arrays are row-major (C order): leave order out")


def array(object, dtype=None, copy=True, order="K", ndmin=0, *, device=None,
          out_sharding=None):
    """A new Array from array-like data (nested lists, NumPy arrays, scalars, Arrays).

    Python floats become the default float dtype (float32 unless configured); NumPy values
    keep their dtype. The data is copied, so later changes to a NumPy input do not leak in.
    Lists and tuples may hold arrays and traced values (`array([f(x) for x in xs])`): they
    are stacked, differentiably. `ndmin` prepends axes of size 1 up to that many; `order`
    may only name the row-major layout every Array has ("K", "A", "C"). JAX's `out_sharding`
    may name one device in place of `device`.
    """
    _check_order(order, "array")
    device = device_or_out_sharding(device, out_sharding, "array")
    out = _array(object, dtype, copy, device)
    shape = shape_of(out)
    if len(shape) < ndmin:
        out = reshape(out, (1,) * (ndmin - len(shape)) + tuple(shape))
    return out


def _array(object, dtype, copy, device):
    dev = None if device is None else get_device(device)
    if isinstance(object, (list, tuple)) and _needs_stacking(object):
        out = _stack_nested(object, dtype)
        return wrap(_moved(out._value, dev)) if type(out) is Array else out
    if isinstance(object, Tracer):
        out = object
        if dtype is not None:
            out = convert_element_type(out, dtypes.canonicalize(dtype))
        return out
    if type(object) is Array:
        raw = object._value
        if dtype is not None and raw.dtype != dtypes.canonicalize(dtype):
            raw = raw.astype(dtypes.canonicalize(dtype))
        elif copy:
            raw = raw.copy()
        return wrap(_moved(raw, dev))
    if type(object) not in PYTHON_SCALARS and is_device_raw(object):   # another backend's (CuPy)
        raw = object
        if dtype is not None:
            raw = raw.astype(dtypes.canonicalize(dtype))
        elif copy:
            raw = raw.copy()
        return wrap(_moved(raw, dev))
    raw = _to_numpy(object, dtype)
    if copy and isinstance(object, np.ndarray) and raw is object:
        raw = raw.copy()
    target = dev if dev is not None else default_device_now()
    return wrap(_host_to_device(raw, target))


def asarray(a, dtype=None, order=None, *, copy=None, device=None, out_sharding=None):
    """Like `array`, but returns Arrays and traced values unchanged when no conversion is
    needed."""
    if out_sharding is not None:
        device = device_or_out_sharding(device, out_sharding, "asarray")
    if order is not None:
        _check_order(order, "asarray")
    if isinstance(a, (Array, Tracer)):     # (a weak value given a dtype becomes strong)
        if dtype is None or (dtype_of(a) == dtypes.canonicalize(dtype)
                             and not (isinstance(a, Tracer) and a.aval.weak_type)):
            if device is None or isinstance(a, Tracer) or a.device is get_device(device):
                return a
    return array(a, dtype=dtype, copy=bool(copy) if copy is not None else True,
                 device=device)


def _to_numpy(obj, dtype):
    if dtype is not None:
        dtype = dtypes.canonicalize(dtype)
    if type(obj) in PYTHON_SCALARS:
        return np.asarray(obj, dtype if dtype is not None else dtypes.scalar_dtype(obj))
    if isinstance(obj, NUMPY_TYPES):
        out = np.asarray(obj)
        if dtypes.kind_char(out.dtype) not in "biufc":
            raise TypeError(f"cannot make an array from NumPy data of dtype {out.dtype}; "
                            "functrans arrays hold numbers and booleans only")
        return out if dtype is None else out.astype(dtype)
    if isinstance(obj, (list, tuple)):
        leaves = _flat_list(obj)
        if dtype is None:
            kinds = [dtypes.scalar_kind(x) for x in leaves]
            if leaves and all(k is not None for k in kinds):
                dtype = dtypes.default_dtype_for_kind(max(kinds))
            elif leaves:
                arrays = [np.asarray(x) for x in leaves if dtypes.scalar_kind(x) is None]
                weak = [x for x in leaves if dtypes.scalar_kind(x) is not None]
                dtype = dtypes.result_type(*[a.dtype for a in arrays], *weak)
            else:
                dtype = dtypes.default_float_dtype()
        out = np.array(obj, dtype=dtype)
        return out
    if hasattr(obj, "__array__"):
        out = np.asarray(obj)
        return out if dtype is None else out.astype(dtype)
    raise TypeError(f"cannot convert {type(obj).__name__} to an array")


def _needs_stacking(obj):
    """Whether nested lists hold traced values or arrays that do not live on the host."""
    for x in _flat_list(obj):
        if isinstance(x, Tracer) or (type(x) is Array and type(x._value) not in HOST_TYPES):
            return True
    return False


def _stack_nested(obj, dtype):
    """An array from nested lists holding traced values (or device arrays): every element
    converted to one dtype (Python scalars weak), then stacked level by level where the
    traced values live."""
    leaves = _flat_list(obj)
    like = next(x for x in leaves if isinstance(x, (Array, Tracer)))
    if dtype is None:
        keys = []
        for x in leaves:
            if type(x) in PYTHON_SCALARS:
                keys.append(x)
            elif isinstance(x, (Array, Tracer)):
                keys.append(dtype_of(x))
            else:
                keys.append(np.asarray(x).dtype)
        dt = dtypes.result_type(*keys)
    else:
        dt = dtypes.canonicalize(dtype)

    def element(x):
        if isinstance(x, (Array, Tracer)):
            return x if dtype_of(x) == dt else convert_element_type(x, dt)
        return constant(np.asarray(x, dtype=dt), like=like)

    def build(o):
        if not isinstance(o, (list, tuple)):
            return element(o)
        if not o:
            return constant(np.zeros((0,), dt), like=like)
        parts = [build(e) for e in o]
        shapes = {shape_of(p) for p in parts}
        if len(shapes) > 1:
            raise ValueError(f"array: the elements of a list have different shapes "
                             f"{sorted(shapes)}; an array needs them all alike")
        shape = shape_of(parts[0])
        return concatenate([reshape(p, (1,) + shape) for p in parts], 0)
    return build(obj)


def _flat_list(obj):
    out = []
    stack = [obj]
    while stack:
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(x)
        else:
            out.append(x)
    return out
