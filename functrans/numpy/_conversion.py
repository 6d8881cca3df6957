"""Getting values into functrans: `asarray`/`array`, and dtype promotion for operations."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..array import Array, wrap
from ..backends import default_device_now, get_device, device_of_raw, is_device_raw, transfer
from ..core import Tracer
from ..lax import convert_element_type
from ..primitives._util import dtype_of, device_like

_SCALARS = (bool, int, float, complex)
_NUMPY_TYPES = (np.ndarray, np.generic)


def _host_to_device(raw, device):
    return raw if device is None or device.platform == "cpu" else transfer(raw, device)


def array(object, dtype=None, copy=True, *, device=None):
    """A new Array from array-like data (nested lists, NumPy arrays, scalars, Arrays).

    Python floats become the default float dtype (float32 unless configured); NumPy values
    keep their dtype. The data is copied, so later changes to a NumPy input do not leak in.
    """
    dev = None if device is None else get_device(device)
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
        if dev is not None and device_of_raw(raw) is not dev:
            raw = transfer(raw, dev)
        return wrap(raw)
    if type(object) not in _SCALARS and is_device_raw(object):                 # a raw array of another backend (CuPy)
        raw = object
        if dtype is not None:
            raw = raw.astype(dtypes.canonicalize(dtype))
        elif copy:
            raw = raw.copy()
        if dev is not None and device_of_raw(raw) is not dev:
            raw = transfer(raw, dev)
        return wrap(raw)
    raw = _to_numpy(object, dtype)
    if copy and isinstance(object, np.ndarray) and raw is object:
        raw = raw.copy()
    target = dev if dev is not None else default_device_now()
    return wrap(_host_to_device(raw, target))


def asarray(a, dtype=None, *, copy=None, device=None):
    """Like `array`, but returns Arrays and traced values unchanged when no conversion is
    needed."""
    if isinstance(a, (Array, Tracer)):
        if dtype is None or dtype_of(a) == dtypes.canonicalize(dtype):
            if device is None or isinstance(a, Tracer) or a.device is get_device(device):
                return a
    return array(a, dtype=dtype, copy=bool(copy) if copy is not None else True,
                 device=device)


def _to_numpy(obj, dtype):
    if dtype is not None:
        dtype = dtypes.canonicalize(dtype)
    if type(obj) in _SCALARS:
        return np.asarray(obj, dtype if dtype is not None else dtypes.scalar_dtype(obj))
    if isinstance(obj, _NUMPY_TYPES):
        out = np.asarray(obj)
        if out.dtype.kind not in "biufc":
            raise TypeError(f"cannot make an array from NumPy data of dtype {out.dtype}; "
                            "functrans arrays hold numbers and booleans only")
        return out if dtype is None else out.astype(dtype)
    if isinstance(obj, (list, tuple)):
        leaves = _flat_list(obj)
        if any(isinstance(x, (Array, Tracer)) for x in leaves):
            raise TypeError("use fnp.stack to build an array from a list of arrays")
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


def as_operand(x, like=None):
    """An Array/tracer/Python scalar for use as an operation input. Other data (NumPy arrays
    and scalars, lists) becomes an Array where `like` lives (see `lax.device_like`; the
    default device without `like`): data that is on no device yet joins the operation's."""
    t = type(x)
    if t is Array or t in _SCALARS or isinstance(x, Tracer):
        return x
    return array(x, copy=False, device=None if like is None else device_like(like))


def asarray_like(x, like, dtype=None):
    """`asarray(x, dtype)`, data on no device yet (NumPy arrays and scalars, lists, Python
    numbers) placed where `like` lives; Arrays and traced values are never moved."""
    if isinstance(x, (Array, Tracer)):
        return asarray(x, dtype=dtype)
    return asarray(x, dtype=dtype, device=device_like(like))


def _placement(args):
    """The first Array or traced operand: where converted operands go."""
    return next((a for a in args if type(a) is Array or isinstance(a, Tracer)), None)


_WEAK_STANDIN = {"b": False, "i": 0, "u": 0, "f": 0.0, "c": 0j}


def _promotion_key(x):
    """A Python scalar stays weak; so does a traced value that came from one (jit passes
    Python scalar arguments as weakly typed inputs), represented by a scalar of its kind."""
    if type(x) in _SCALARS:
        return x
    if isinstance(x, Tracer) and x.aval.weak_type:
        return _WEAK_STANDIN[x.aval.dtype.kind]
    return dtype_of(x)


def result_dtype(*operands):
    return dtypes.result_type(*[_promotion_key(x) for x in operands])


def promote(*args):
    """Operands converted to one dtype (NumPy 2 promotion, weak Python scalars).

    Python scalars stay scalars when the result dtype can hold their kind, so they become
    literals in jaxprs and never allocate.
    """
    like = _placement(args)
    ops = [as_operand(a, like) for a in args]
    keys = [_promotion_key(o) for o in ops]
    first = keys[0]
    if isinstance(first, np.dtype) and all(isinstance(k, np.dtype) and k == first
                                           for k in keys):
        return ops, first                        # one dtype already: nothing to convert
    dt = dtypes.result_type(*keys)
    return _cast_all(ops, dt, like), dt


def _cast_all(ops, dt, like):
    out = []
    all_scalars = all(type(o) in _SCALARS for o in ops)
    for o in ops:
        if type(o) in _SCALARS:
            if all_scalars:
                o = array(o, dtype=dt, device=None if like is None else device_like(like))
        elif dtype_of(o) != dt:
            o = convert_element_type(o, dt)
        out.append(o)
    return out


def promote_inexact(*args):
    """Like `promote`, but integers and booleans become the default float dtype (as for
    exp, true division, mean)."""
    like = _placement(args)
    ops = [as_operand(a, like) for a in args]
    dt = result_dtype(*ops)
    if not dtypes.is_inexact(dt):
        dt = dtypes.default_float_dtype()
    return _cast_all(ops, dt, like), dt


def check_arraylike(name, *args):
    for i, a in enumerate(args):
        if not (isinstance(a, (Array, Tracer, list, tuple)) or type(a) in _SCALARS
                or isinstance(a, _NUMPY_TYPES) or hasattr(a, "__array__")):
            raise TypeError(f"{name}: argument {i} of type {type(a).__name__} is not an array")
