"""`ufunc` (JAX's `jnp.ufunc`): a function of scalars with NumPy's ufunc methods
(`reduce`, `accumulate`, `at`, `outer`, `reduceat`), written with `vectorize` and
`lax.scan`, so every method is differentiable, jittable and batchable; and `frompyfunc`."""
from __future__ import annotations

import operator

import numpy as np

from .. import lax
from ..core import Tracer
from ..primitives._util import shape_of
from ._conversion import asarray
from ._creation import arange
from ._math import where as select, equal, less, logical_and
from ._reductions import no_out
from ._shape import moveaxis, reshape, ravel, expand_dims, broadcast_to
from ._vectorize import vectorize


class ufunc:
    """A function of `nin` scalars returning `nout` (one value, or a tuple), with NumPy's
    ufunc methods. `func` is applied elementwise over broadcast arguments (through
    `vectorize`) unless `call` is given; `reduce`, `accumulate`, `at` and `reduceat` may be
    given faster implementations of their own. `identity` is what a reduction of nothing
    gives."""

    def __init__(self, func, /, nin, nout, *, name=None, nargs=None, identity=None, call=None,
                 reduce=None, accumulate=None, at=None, reduceat=None):
        self.nin, self.nout = operator.index(nin), operator.index(nout)
        if self.nin < 1 or self.nout < 1:
            raise ValueError(f"ufunc: nin and nout must be at least 1, got {nin} and {nout}")
        self._func = func
        self.__name__ = name or getattr(func, "__name__", "ufunc")
        self.nargs = self.nin if nargs is None else operator.index(nargs)
        self.identity = identity
        self._call = call or vectorize(func)
        self._reduce, self._accumulate, self._at, self._reduceat = \
            reduce, accumulate, at, reduceat

    def __repr__(self):
        return f"<fnp.ufunc {self.__name__!r}>"

    def __call__(self, *args, out=None, where=None):
        no_out(out, self.__name__)
        if where is not None:
            raise NotImplementedError(f"{self.__name__}: where= is not supported (as in JAX)")
        if len(args) != self.nin:
            raise TypeError(f"{self.__name__} takes {self.nin} arguments, got {len(args)}")
        return self._call(*args)

    def _binary(self, method):
        if self.nin != 2 or self.nout != 1:
            raise ValueError(f"{self.__name__}.{method}: only for ufuncs of two inputs and one "
                             f"output, this one has nin={self.nin}, nout={self.nout}")

    def reduce(self, a, axis=0, dtype=None, out=None, keepdims=False, initial=None,
               where=None):
        """`a` folded along `axis` (None: all axes, flattened) from the left:
        `f(...f(f(initial, a[0]), a[1])..., a[n-1])`, `initial` defaulting to the identity
        (without either, the fold starts from `a[0]`). Elements where `where` is False are
        skipped (then an identity or `initial` is needed)."""
        self._binary("reduce")
        no_out(out, f"{self.__name__}.reduce")
        if self._reduce is not None and where is None:
            return self._reduce(a, axis=axis, dtype=dtype, keepdims=keepdims, initial=initial)
        a = asarray(a, dtype=dtype)
        if initial is None:
            initial = self.identity             # (JAX's rule: the fold starts from it)
        if where is not None and initial is None:
            raise ValueError(f"{self.__name__}.reduce: where= needs an identity or initial= "
                             "to start from")
        if isinstance(axis, tuple):
            raise NotImplementedError(f"{self.__name__}.reduce: a tuple of axes; reduce one "
                                      "axis at a time")
        mask = None if where is None else broadcast_to(asarray(where, dtype=bool), a.shape)
        if axis is None:
            shape = (1,) * a.ndim
            a, axis = ravel(a), 0
            mask = None if mask is None else ravel(mask)
        else:
            axis = _axis(axis, a.ndim, f"{self.__name__}.reduce")
            shape = a.shape[:axis] + (1,) + a.shape[axis + 1:]
        x = moveaxis(a, axis, 0)
        if initial is None:
            if x.shape[0] == 0:
                raise ValueError(f"{self.__name__}.reduce: zero-size array to a reduction "
                                 "with no identity; pass initial=")
            initial, x = x[0], x[1:]
        init = broadcast_to(asarray(initial, dtype=a.dtype), x.shape[1:])

        def step(c, vm):
            new = asarray(self._call(c, vm[0]), dtype=a.dtype)
            return (new if mask is None else select(vm[1], new, c)), None
        res, _ = lax.scan(step, init, (x, x if mask is None else moveaxis(mask, axis, 0)))
        return reshape(res, shape) if keepdims else res

    def accumulate(self, a, axis=0, dtype=None, out=None):
        """The running `reduce` along `axis`: `out[i] = f(out[i-1], a[i])`, `out[0] = a[0]`."""
        self._binary("accumulate")
        no_out(out, f"{self.__name__}.accumulate")
        if self._accumulate is not None:
            return self._accumulate(a, axis=axis, dtype=dtype)
        a = asarray(a, dtype=dtype)
        axis = _axis(axis, a.ndim, f"{self.__name__}.accumulate")
        x = moveaxis(a, axis, 0)
        if x.shape[0] == 0:
            return a

        def step(c, v):
            c = asarray(self._call(c, v), dtype=a.dtype)
            return c, c
        _, rest = lax.scan(step, x[0], x[1:])
        return moveaxis(lax.concatenate([x[:1], rest], 0), 0, axis)

    def at(self, a, indices, b=None, /, *, inplace=True):
        """`a` with `f(a[i], b)` (or `f(a[i])` for one input) at `indices`, repeated indices
        applied one after another. Arrays are immutable: pass `inplace=False` and use the
        result."""
        if inplace:
            raise NotImplementedError(
                f"{self.__name__}.at: functrans arrays are immutable, so at() cannot work in "
                f"place; pass inplace=False and use the result: a = f.at(a, i, v, "
                "inplace=False)")
        if self.nout != 1 or self.nin not in (1, 2) or (b is None) != (self.nin == 1):
            raise ValueError(f"{self.__name__}.at: needs one output and b for a two-input "
                             f"ufunc (none for one input); nin={self.nin}, nout={self.nout}")
        if self._at is not None:
            return self._at(a, indices, b)
        a = asarray(a)
        chosen = reshape(arange(a.size), a.shape)[indices]      # flat positions
        args = () if b is None else \
            (ravel(broadcast_to(asarray(b, dtype=a.dtype), shape_of(chosen))),)

        def step(flat, xs):
            i, *v = xs
            new = asarray(self._call(flat[i], *v), dtype=a.dtype)
            return flat.at[i].set(new), None
        flat, _ = lax.scan(step, ravel(a), (ravel(chosen), *args))
        return reshape(flat, a.shape)

    def outer(self, A, B, /):
        """`f(A[i..., None...], B[j...])`: the shape is `A.shape + B.shape`."""
        if self.nin != 2:
            raise ValueError(f"{self.__name__}.outer: only for ufuncs of two inputs, this one "
                             f"has nin={self.nin}")
        A, B = asarray(A), asarray(B)
        return self._call(reshape(A, A.shape + (1,) * B.ndim), B)

    def reduceat(self, a, indices, axis=0, dtype=None, out=None):
        """For each `i`: `reduce(a[indices[i]:indices[i+1]])` along `axis` (to the end for the
        last), or `a[indices[i]]` where `indices[i] >= indices[i+1]` (NumPy's rule)."""
        self._binary("reduceat")
        no_out(out, f"{self.__name__}.reduceat")
        if self._reduceat is not None:
            return self._reduceat(a, indices, axis=axis, dtype=dtype)
        a = asarray(a, dtype=dtype)
        axis = _axis(axis, a.ndim, f"{self.__name__}.reduceat")
        x = moveaxis(a, axis, 0)
        n = x.shape[0]
        idx = asarray(indices)
        if idx.ndim != 1 or idx.dtype.kind not in "iu":
            raise ValueError(f"{self.__name__}.reduceat: indices must be a 1-d integer array, "
                             f"got {idx.dtype}{list(idx.shape)}")
        if not isinstance(idx, Tracer):        # (traced indices cannot be checked)
            known = np.asarray(idx)
            if ((known < 0) | (known >= n)).any():
                raise IndexError(f"{self.__name__}.reduceat: indices {known.tolist()} out of "
                                 f"range for an axis of size {n}")
        start = idx
        end = lax.concatenate([idx[1:], asarray([n], dtype=idx.dtype)], 0)
        bshape = (idx.shape[0],) + (1,) * (x.ndim - 1)
        s, e = reshape(start, bshape), reshape(end, bshape)

        def step(c, jv):
            j, v = jv
            v = broadcast_to(v, c.shape)
            inside = logical_and(less(s, j), less(j, e))
            c = select(equal(s, j), v, select(inside, asarray(self._call(c, v), dtype=a.dtype), c))
            return c, None
        init = broadcast_to(expand_dims(x[0], 0), (idx.shape[0],) + x.shape[1:])
        res, _ = lax.scan(step, init, (arange(n), x))
        return moveaxis(res, 0, axis)


def _axis(axis, ndim, name):
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(f"{name}: axis {axis} is out of bounds for an array of {ndim} "
                         "dimensions")
    return axis % ndim


def frompyfunc(func, /, nin, nout, *, identity=None):
    """`func` (of `nin` scalars, returning `nout` values) as a `ufunc`."""
    return ufunc(func, nin, nout, identity=identity)


def fromfile(file, dtype=float, count=-1, sep="", offset=0, *, like=None):
    """np.fromfile: an array read from a file on the host (binary, or text separated by
    `sep`). A read from a file is not a pure function: under jit it happens once, at trace
    time, and its values become constants. (JAX leaves jnp.fromfile unimplemented.)"""
    if like is not None:
        raise NotImplementedError("fromfile: like= is not supported")
    return asarray(np.fromfile(file, dtype=dtype, count=count, sep=sep, offset=offset))
