"""Operators and NumPy-style methods, installed on `Array` and on every `Tracer`.

The same methods serve eager arrays and traced values. For eager NumPy-backed arrays the
arithmetic operators take a fast path straight to the NumPy ufunc whenever NumPy's result is
exactly functrans' (same promotion), skipping the primitive machinery; anything else (tracers,
promotion that differs, errors) goes through `functrans.numpy`.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes, lax
from ..array import Array, wrap
from ..core import Tracer
from . import _math, _reductions, _shape, _linalg, _indexing, _sorting
from . import _fast
from ._fast import numpy_pair


def _fast_binop(ufunc, slow, *, float_only=False, reflected=False):
    """Array operator with the NumPy fast path (see `_fast.numpy_pair`)."""
    def op(self, other):
        raw = numpy_pair(self, other, float_only)
        if raw is not None:
            try:
                return wrap(ufunc(raw[1], raw[0]) if reflected else ufunc(raw[0], raw[1]))
            except Exception:
                pass            # let the general path raise a descriptive error
        try:
            return slow(other, self) if reflected else slow(self, other)
        except TypeError:
            if not _is_operand(other):
                return NotImplemented
            raise
    return op


def _is_operand(x):
    return isinstance(x, (Array, Tracer, np.ndarray, np.generic, list, tuple, int, float,
                          bool, complex)) or hasattr(x, "__array__")


def _binop(slow, reflected=False):
    def op(self, other):
        if not _is_operand(other):
            return NotImplemented
        return slow(other, self) if reflected else slow(self, other)
    return op


_BINOPS = {
    # name: (numpy ufunc, functrans.numpy function, float_only for the fast path)
    "add": (np.add, _math.add, False),
    "sub": (np.subtract, _math.subtract, False),
    "mul": (np.multiply, _math.multiply, False),
    "truediv": (np.true_divide, _math.true_divide, True),
    "floordiv": (_fast.floor_divide, _math.floor_divide, False),
    "mod": (np.remainder, _math.remainder, False),
    "pow": (np.power, _math.power, True),
    "matmul": (np.matmul, _linalg.matmul, False),
    "and": (np.bitwise_and, _math.bitwise_and, False),
    "or": (np.bitwise_or, _math.bitwise_or, False),
    "xor": (np.bitwise_xor, _math.bitwise_xor, False),
    "lshift": (np.left_shift, _math.left_shift, False),
    "rshift": (np.right_shift, _math.right_shift, False),
}
_COMPARISONS = {
    "eq": (np.equal, _math.equal), "ne": (np.not_equal, _math.not_equal),
    "lt": (np.less, _math.less), "le": (np.less_equal, _math.less_equal),
    "gt": (np.greater, _math.greater), "ge": (np.greater_equal, _math.greater_equal),
}


def _methods():
    """Methods shared by Array and Tracer (array-valued, NumPy signatures)."""
    def reshape(self, *shape, order="C", copy=None):
        if len(shape) == 1 and not isinstance(shape[0], int):
            shape = shape[0]
        return _shape.reshape(self, shape, order)

    def transpose(self, *axes):
        if len(axes) == 1 and not isinstance(axes[0], int):
            axes = axes[0]
        return _shape.transpose(self, axes or None)

    def astype(self, dtype, copy=False, device=None):
        return _shape.astype(self, dtype, device=device)

    def flatten(self, order="C"):
        return _shape.ravel(self, order)

    def view(self, dtype=None, type=None):
        """The same bits read as `dtype` (NumPy's and JAX's rule: a narrower dtype makes the
        last axis longer, a wider one shorter)."""
        if type is not None:
            raise TypeError("Array.view takes a dtype only (functrans arrays have one type)")
        if dtype is None:
            return self
        dtype = dtypes.canonicalize(dtype)
        old = np.dtype(self.dtype)
        shape = tuple(self.shape)
        if dtype.itemsize == old.itemsize:
            return lax.bitcast_convert_type(self, dtype)
        if not shape:
            raise ValueError(f"a 0-d array of {old} cannot be viewed as {dtype} (the widths "
                             "differ); reshape it to (1,) first")
        if dtype.itemsize < old.itemsize:
            longer = shape[-1] * (old.itemsize // dtype.itemsize)
            return lax.reshape(lax.bitcast_convert_type(self, dtype), shape[:-1] + (longer,))
        ratio = dtype.itemsize // old.itemsize
        if shape[-1] % ratio:
            raise ValueError(f"cannot view {old} of shape {shape} as {dtype}: the last axis "
                             f"must be a multiple of {ratio}")
        return lax.bitcast_convert_type(
            lax.reshape(self, shape[:-1] + (shape[-1] // ratio, ratio)), dtype)

    def clip(self, min=None, max=None):
        return _math.clip(self, min, max)

    def round(self, decimals=0, out=None):
        return _math.round(self, decimals, out)

    def dot(self, b, *, precision=None, preferred_element_type=None):
        return _linalg.dot(self, b, precision=precision,
                           preferred_element_type=preferred_element_type)

    def at_property(self):
        from ._at import IndexUpdateHelper
        return IndexUpdateHelper(self)

    return {
        "reshape": reshape,
        "transpose": transpose,
        "astype": astype,
        "flatten": flatten,
        "view": view,
        "ravel": lambda self, order="C": _shape.ravel(self, order),
        "swapaxes": lambda self, axis1, axis2: _shape.swapaxes(self, axis1, axis2),
        "squeeze": lambda self, axis=None: _shape.squeeze(self, axis),
        "sum": lambda self, axis=None, dtype=None, out=None, keepdims=False, **kw:
            _reductions.sum(self, axis, dtype, out, keepdims, **kw),
        "mean": lambda self, axis=None, dtype=None, out=None, keepdims=False, **kw:
            _reductions.mean(self, axis, dtype, out, keepdims, **kw),
        "prod": lambda self, axis=None, dtype=None, out=None, keepdims=False, **kw:
            _reductions.prod(self, axis, dtype, out, keepdims, **kw),
        "max": lambda self, axis=None, out=None, keepdims=False, **kw:
            _reductions.max(self, axis, out, keepdims, **kw),
        "min": lambda self, axis=None, out=None, keepdims=False, **kw:
            _reductions.min(self, axis, out, keepdims, **kw),
        "all": lambda self, axis=None, out=None, keepdims=False, *, where=None:
            _reductions.all(self, axis, out, keepdims, where=where),
        "any": lambda self, axis=None, out=None, keepdims=False, *, where=None:
            _reductions.any(self, axis, out, keepdims, where=where),
        "argmax": lambda self, axis=None, out=None, keepdims=False:
            _reductions.argmax(self, axis, out, keepdims),
        "argmin": lambda self, axis=None, out=None, keepdims=False:
            _reductions.argmin(self, axis, out, keepdims),
        "var": lambda self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw:
            _reductions.var(self, axis, dtype, out, ddof, keepdims, **kw),
        "std": lambda self, axis=None, dtype=None, out=None, ddof=0, keepdims=False, **kw:
            _reductions.std(self, axis, dtype, out, ddof, keepdims, **kw),
        "cumsum": lambda self, axis=None, dtype=None, out=None:
            _reductions.cumsum(self, axis, dtype, out),
        "cumprod": lambda self, axis=None, dtype=None, out=None:
            _reductions.cumprod(self, axis, dtype, out),
        "ptp": lambda self, axis=None, out=None, keepdims=False:
            _reductions.ptp(self, axis, out, keepdims),
        "sort": lambda self, axis=-1, **kw: _sorting.sort(self, axis, **kw),
        "argsort": lambda self, axis=-1, **kw: _sorting.argsort(self, axis, **kw),
        "argpartition": lambda self, kth, axis=-1: _sorting.argpartition(self, kth, axis),
        "searchsorted": lambda self, v, side="left", sorter=None, *, method=None:
            _sorting.searchsorted(self, v, side, sorter, method=method),
        "nonzero": lambda self, **kw: _sorting.nonzero(self, **kw),
        "take": lambda self, indices, axis=None, out=None, mode=None, **kw:
            _shape.take(self, indices, axis, out, mode, **kw),
        "repeat": lambda self, repeats, axis=None, **kw: _shape.repeat(self, repeats, axis, **kw),
        "compress": lambda self, condition, axis=None, **kw: _shape.compress(condition, self, axis,
                                                                             **kw),
        "choose": lambda self, choices, out=None, mode="raise":
            _shape.choose(self, choices, out, mode),
        "diagonal": lambda self, offset=0, axis1=0, axis2=1:
            _shape.diagonal(self, offset, axis1, axis2),
        "trace": lambda self, offset=0, axis1=0, axis2=1, dtype=None, out=None:
            _shape.trace(self, offset, axis1, axis2, dtype, out),
        "clip": clip,
        "round": round,
        "dot": dot,
        "conj": lambda self: _math.conj(self),
        "conjugate": lambda self: _math.conj(self),
        "real": property(lambda self: _math.real(self)),
        "imag": property(lambda self: _math.imag(self)),
        "T": property(lambda self: _shape.transpose(self)),
        "mT": property(lambda self: _shape.matrix_transpose(self)),
        "at": property(at_property),
        "__getitem__": _indexing.getitem,
        "__neg__": lambda self: _math.negative(self),
        "__pos__": lambda self: self,
        "__abs__": lambda self: _math.absolute(self),
        "__invert__": lambda self: _math.invert(self),
        "__round__": lambda self, ndigits=None: _math.round(self, ndigits or 0),
        "__divmod__": lambda self, other: _math.divmod(self, other),
        "__rdivmod__": lambda self, other: _math.divmod(other, self),
    }


def install():
    shared = _methods()
    for cls in (Array, Tracer):
        for name, fn in shared.items():
            setattr(cls, name, fn)
        for name, (ufunc, slow, float_only) in _BINOPS.items():
            if cls is Array:
                setattr(cls, f"__{name}__", _fast_binop(ufunc, slow, float_only=float_only))
                setattr(cls, f"__r{name}__",
                        _fast_binop(ufunc, slow, float_only=float_only, reflected=True))
            else:
                setattr(cls, f"__{name}__", _binop(slow))
                setattr(cls, f"__r{name}__", _binop(slow, reflected=True))
        for name, (ufunc, slow) in _COMPARISONS.items():
            op = _fast_binop(ufunc, slow) if cls is Array else _binop(slow)
            setattr(cls, f"__{name}__", op)
    Array.__hash__ = None
    Tracer.__hash__ = None
