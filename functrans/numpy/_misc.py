"""Index helpers, statistics, signal and polynomial functions, written on the rest of
functrans.numpy (so all of it is differentiable where that means something)."""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes, lax
from ..core import Tracer, concrete_host_value
from ..interpreters.batching import vmap_flat
from ..primitives._util import shape_of, dtype_of
from ..primitives.dot import with_preferred_type
from ..primitives.precision import check_precision
from ..primitives.linalg import adjoint
from ._conversion import asarray, array, promote, promote_inexact
from ._creation import zeros
from ._linalg import matmul
from ._math import (add, subtract, multiply, true_divide, where, less, greater, remainder,
                    absolute, floor_divide)
from ._reductions import sum, mean, normalize_axes
from ._shape import (moveaxis, reshape, concatenate, take, flip, ravel, expand_dims,
                     diff, integer_indices)
from ._sorting import searchsorted


# ------------------------------------------------------------------ copies and conversion
def copy(a, order="K"):
    """A new array with a's values (arrays are immutable, so this is `asarray`)."""
    return array(a, copy=True)


def asanyarray(a, dtype=None):
    return asarray(a, dtype)


def ascontiguousarray(a, dtype=None):
    return asarray(a, dtype)


def isscalar(element):
    return isinstance(element, (int, float, complex, bool, np.generic))


# ------------------------------------------------------------------ index arrays
def indices(dimensions, dtype=int, sparse=False):
    """Arrays of coordinates over a grid of `dimensions` (stacked, or broadcastable when
    sparse)."""
    raw = np.indices(tuple(dimensions), dtypes.canonicalize(dtype), sparse)
    return tuple(asarray(r) for r in raw) if sparse else asarray(raw)


def ix_(*args):
    """Open-mesh index arrays: the i-th has shape 1 except on axis i."""
    out = []
    n = len(args)
    for i, a in enumerate(args):
        a = asarray(a)
        if dtype_of(a) == np.bool_:
            a = asarray(np.nonzero(np.asarray(a))[0])
        out.append(reshape(a, (1,) * i + (shape_of(a)[0],) + (1,) * (n - i - 1)))
    return tuple(out)


def fromfunction(function, shape, *, dtype=float, **kwargs):
    """`function(*coordinate_arrays)` over a grid of `shape`."""
    return function(*indices(shape, dtype), **kwargs)


def tril_indices(n, k=0, m=None):
    return tuple(asarray(i) for i in np.tril_indices(n, k, m))


def triu_indices(n, k=0, m=None):
    return tuple(asarray(i) for i in np.triu_indices(n, k, m))


def tril_indices_from(arr, k=0):
    s = shape_of(asarray(arr))
    return tril_indices(s[-2], k, s[-1])


def triu_indices_from(arr, k=0):
    s = shape_of(asarray(arr))
    return triu_indices(s[-2], k, s[-1])


def diag_indices(n, ndim=2):
    return tuple(asarray(i) for i in np.diag_indices(n, ndim))


def diag_indices_from(arr):
    s = shape_of(asarray(arr))
    if len(set(s)) != 1:
        raise ValueError("diag_indices_from: all dimensions of arr must be equal")
    return diag_indices(s[0], len(s))


def unravel_index(indices, shape):
    """The coordinates in an array of `shape` of flat `indices` (traced indices work).
    Negative indices count from the end; out-of-range ones clamp, as JAX (NumPy raises)."""
    idx = asarray(indices)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)   # (NumPy's)
    size = math.prod(shape)
    dt = dtype_of(idx)
    if dt == np.bool_:                          # booleans are indices 0 and 1, as JAX's
        idx = lax.convert_element_type(idx, dtypes.default_int_dtype())
        dt = dtype_of(idx)
    if dt.kind in "iu" and dt.itemsize < 8:     # sizes beyond int8's range: computed wide,
        idx = lax.convert_element_type(idx, dtypes.int64)   # returned in the index's dtype
    if size:
        idx = lax.select(lax.lt(idx, 0), lax.add(idx, size), idx)
        idx = lax.min(lax.max(idx, 0), size - 1)
    out = []
    for d in reversed(tuple(shape)):
        out.append(remainder(idx, d))
        idx = floor_divide(idx, d)
    if dt.kind in "iu":
        out = [lax.convert_element_type(o, dt) for o in out]
    return tuple(reversed(out))


def ravel_multi_index(multi_index, dims, mode="raise", order="C", *, dtype=None):
    """Flat indices of coordinates `multi_index` in an array of shape `dims` (C order), of
    `dtype` when given."""
    if order != "C":
        raise NotImplementedError("ravel_multi_index: only order='C' is supported")
    flat = None
    for i, d in zip(multi_index, dims):
        i = asarray(i)      # JAX's errors: TypeError for booleans, ValueError for floats
        i = integer_indices("ravel_multi_index", i,
                            TypeError if dtype_of(i) == np.bool_ else ValueError)
        if mode == "clip":
            i = lax.min(lax.max(i, 0), d - 1)
        elif mode == "wrap":
            i = remainder(i, d)
        elif not isinstance(i, Tracer) and ((np.asarray(i) < 0) | (np.asarray(i) >= d)).any():
            raise ValueError("ravel_multi_index: invalid entry in coordinates array")
        flat = i if flat is None else add(multiply(flat, d), i)
    return flat if dtype is None else lax.convert_element_type(flat, dtypes.canonicalize(dtype))


def put_along_axis(arr, indices, values, axis, inplace=True, *, mode=None):
    """`arr` with `values` written where `take_along_axis(arr, indices, axis)` reads. Arrays
    are immutable: pass inplace=False (the new array is returned)."""
    if inplace:
        raise TypeError("put_along_axis: functrans arrays are immutable; pass inplace=False "
                        "and use the returned array")
    arr = asarray(arr)
    if axis is None:
        arr, axis = ravel(arr), 0
    ax = normalize_axes(axis, len(shape_of(arr)))[0]
    idx = lax.wrap_negative(integer_indices("put_along_axis", indices), shape_of(arr)[ax])
    from ..primitives.indexing import along_axis_indices
    pos = along_axis_indices(shape_of(arr), idx, ax)
    vals = lax.broadcast_to(lax.convert_element_type(asarray(values), dtype_of(arr)),
                            shape_of(pos[0]))
    return lax.scatter_axes(arr, vals, *pos, axes=tuple(range(len(shape_of(arr)))), mode="drop")


def apply_along_axis(func1d, axis, arr, *args, **kwargs):
    """`func1d` applied to every 1-D slice along `axis` (vectorized with vmap); its output
    axes take the place of `axis`."""
    arr = asarray(arr)
    ax = normalize_axes(axis, len(shape_of(arr)))[0]
    moved = moveaxis(arr, ax, -1)
    lead = shape_of(moved)[:-1]
    flat = reshape(moved, (math.prod(lead), shape_of(moved)[-1]))
    res, = vmap_flat(lambda row: [asarray(func1d(row, *args, **kwargs))], [flat], [0],
                     math.prod(lead), [0])
    out_axes = shape_of(res)[1:]
    res = reshape(res, lead + out_axes)
    return moveaxis(res, tuple(range(len(lead), len(lead) + len(out_axes))),
                    tuple(range(ax, ax + len(out_axes)))) if out_axes else res


def apply_over_axes(func, a, axes):
    """`func(a, axis)` applied for each axis in turn, keeping the rank."""
    a = asarray(a)
    for ax in (axes,) if isinstance(axes, int) else axes:
        res = asarray(func(a, ax))
        a = res if len(shape_of(res)) == len(shape_of(a)) else expand_dims(res, ax)
    return a


# ------------------------------------------------------------------ statistics
def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None,
        *, dtype=None):
    """The covariance matrix of the variables (rows, or columns with rowvar=False)."""
    (m,), dt = promote_inexact(m)
    if dtype is not None:
        m = lax.convert_element_type(m, dtypes.canonicalize(dtype))
    m = reshape(m, (1, -1)) if len(shape_of(m)) == 1 else m
    if not rowvar:
        m = lax.transpose(m, (1, 0))
    if y is not None:
        (y,), _ = promote_inexact(y)
        y = reshape(y, (1, -1)) if len(shape_of(y)) == 1 else y
        if not rowvar:
            y = lax.transpose(y, (1, 0))
        (m, y), _ = promote_inexact(m, y)
        m = concatenate([m, y], axis=0)
    n = shape_of(m)[1]
    ddof = (0 if bias else 1) if ddof is None else ddof
    w = None
    if fweights is not None:
        w = asarray(fweights)
    if aweights is not None:
        aw = asarray(aweights)
        w = aw if w is None else multiply(w, aw)
    if w is None:
        avg = mean(m, axis=1, keepdims=True)
        fact = float(n - ddof)
        xc = subtract(m, avg)
        c = true_divide(matmul(xc, adjoint(xc)), fact)
    else:
        w = lax.convert_element_type(w, dtype_of(m))
        w_sum = sum(w)
        avg = true_divide(sum(multiply(m, w), axis=1, keepdims=True), w_sum)
        if ddof == 0:
            fact = w_sum
        elif aweights is None:
            fact = subtract(w_sum, ddof)
        else:
            aw = lax.convert_element_type(asarray(aweights), dtype_of(m))
            fact = subtract(w_sum, true_divide(multiply(ddof, sum(multiply(w, aw))), w_sum))
        xc = subtract(m, avg)
        c = true_divide(matmul(multiply(xc, w), adjoint(xc)), fact)
    return reshape(c, ()) if shape_of(c) == (1, 1) else c


def corrcoef(x, y=None, rowvar=True, *, dtype=None):
    """Pearson correlation coefficients (cov normalized by the standard deviations)."""
    from ._math import sqrt, clip
    c = cov(x, y, rowvar, dtype=dtype)
    if len(shape_of(c)) == 0:
        return true_divide(c, c)
    d = sqrt(_diag(c))
    c = true_divide(true_divide(c, d[:, None]), d[None, :])
    if dtype_of(c).kind == "c":           # NumPy clips the real and imaginary parts
        return add(clip(lax.real(c), -1, 1), multiply(1j, clip(lax.imag(c), -1, 1)))
    return clip(c, -1, 1)


def _diag(c):
    from ._shape import diagonal
    return diagonal(c)


# ------------------------------------------------------------------ signals
def convolve(a, v, mode="full", *, precision=None, preferred_element_type=None):
    """Discrete linear convolution of 1-D sequences; mode 'full', 'same' or 'valid'. With
    `preferred_element_type` the result has that dtype (as `lax.dot_general`; `precision` is
    checked and ignored)."""
    check_precision(precision, "convolve")
    (a, v), _ = promote_inexact(a, v) if _any_float(a, v) else \
        ((asarray(a), asarray(v)), None)
    a, v = asarray(a), asarray(v)
    if preferred_element_type is not None:
        return with_preferred_type(lambda a, v: convolve(a, v, mode), (a, v),
                                   preferred_element_type)
    if len(shape_of(a)) != 1 or len(shape_of(v)) != 1:
        raise ValueError("convolve: both inputs must be 1-D")
    if shape_of(v)[0] > shape_of(a)[0]:
        a, v = v, a
    return convolve_nd(a, v, mode, "convolve")


def convolve_nd(a, v, mode, name):
    """The linear convolution of two arrays of one rank: 'full', 'same' (a's shape, centred
    in the full result, as SciPy) or 'valid' (where they overlap completely; either may be
    the larger). One convolution primitive, so memory stays linear in the inputs."""
    (a, v), _ = promote(a, v)
    a, v = asarray(a), asarray(v)
    sa, sv = tuple(shape_of(a)), tuple(shape_of(v))
    if len(sa) != len(sv):
        raise ValueError(f"{name}: the inputs must have the same number of dimensions, got "
                         f"shapes {sa} and {sv}")
    if 0 in sa or 0 in sv:
        raise ValueError(f"{name}: inputs cannot be empty, got shapes {sa} and {sv}")
    if mode not in ("full", "same", "valid"):
        raise ValueError(f"{name}: mode must be 'full', 'same' or 'valid', got {mode!r}")
    if mode == "valid" and not all(x >= y for x, y in zip(sa, sv)):
        if not valid_swaps(sa, sv):
            raise ValueError(f"{name}: for mode 'valid' one input must be at least as large "
                             f"as the other in every dimension, got shapes {sa} and {sv}")
        a, v, sa, sv = v, a, sv, sa
    axes = tuple(range(len(sa)))
    kernel = lax.rev(v, axes) if axes else v
    pad = ((0, 0),) * len(sa) if mode == "valid" else tuple((m - 1, m - 1) for m in sv)
    lhs, rhs = lax.expand_dims(a, (0, 1)), lax.expand_dims(kernel, (0, 1))
    out = lax.squeeze(lax.conv_general_dilated(lhs, rhs, (1,) * len(sa), pad), (0, 1))
    if mode == "same":
        starts = [(m - 1) // 2 for m in sv]
        out = lax.slice(out, starts, [st + n for st, n in zip(starts, sa)])
    return out


def valid_swaps(sa, sv):
    """Whether a 'valid' convolution of shapes sa and sv swaps its inputs: the first is
    nowhere larger and somewhere smaller than the second."""
    return not all(x >= y for x, y in zip(sa, sv)) and all(y >= x for x, y in zip(sa, sv))


def _any_float(*xs):
    return any(isinstance(x, float) or dtypes.is_inexact(dtype_of(asarray(x))) for x in xs)


def correlate(a, v, mode="valid", *, precision=None, preferred_element_type=None):
    """Cross-correlation of 1-D sequences: `c[k] = sum_n a[n + k] * conj(v[n])`
    (`precision` and `preferred_element_type` as in `convolve`)."""
    check_precision(precision, "correlate")
    a, v = asarray(a), asarray(v)
    if dtype_of(v).kind == "c":
        v = lax.conj(v)
    kw = dict(preferred_element_type=preferred_element_type)
    if shape_of(v)[0] > shape_of(a)[0]:
        return flip(convolve(flip(a), v, mode, **kw), 0)
    return convolve(a, flip(v), mode, **kw)


def interp(x, xp, fp, left=None, right=None, period=None):
    """Piecewise-linear interpolation of (xp, fp) at x (xp increasing)."""
    (x, xp, fp), _ = promote_inexact(x, xp, fp)
    x, xp, fp = asarray(x), asarray(xp), asarray(fp)
    if period is not None:
        x = remainder(x, period)
        xp = remainder(xp, period)
        order = np.argsort(np.asarray(xp)) if not isinstance(xp, Tracer) else None
        if order is None:
            raise NotImplementedError("interp with period= needs concrete xp")
        xp, fp = take(xp, order), take(fp, order)
        xp = concatenate([subtract(xp[-1:], period), xp, add(xp[0:1], period)])
        fp = concatenate([fp[-1:], fp, fp[0:1]])
    n = shape_of(xp)[0]
    if n == 1:
        i = lax.full(shape_of(x), 0, np.int64)
        y = lax.broadcast_to(fp[0], shape_of(x))
    else:
        i = lax.min(lax.max(lax.sub(searchsorted(xp, x, side="right"), 1), 0), n - 2)
        x0, x1, f0, f1 = take(xp, i), take(xp, lax.add(i, 1)), take(fp, i), \
            take(fp, lax.add(i, 1))
        t = true_divide(subtract(x, x0), subtract(x1, x0))
        step = subtract(f1, f0)     # from the nearer end: exact at both knots
        y = where(less(t, 0.5), add(f0, multiply(t, step)),
                  subtract(f1, multiply(subtract(1.0, t), step)))
    if period is None:
        y = where(less(x, xp[0]), fp[0] if left is None else left, y)
        y = where(greater(x, xp[-1]), fp[-1] if right is None else right, y)
    return y


def gradient(f, *varargs, axis=None, edge_order=1):
    """Second-order central differences inside, first- or second-order one-sided at the
    edges, for uniform spacing (scalars in varargs) or coordinate arrays."""
    (f,), _ = promote_inexact(f)
    rank = len(shape_of(f))
    axes = tuple(range(rank)) if axis is None else \
        tuple(normalize_axes(axis, rank)) if not isinstance(axis, int) else \
        (normalize_axes(axis, rank)[0],)
    if len(varargs) == 0:
        spacing = [1.0] * len(axes)
    elif len(varargs) == 1 and len(axes) > 1:
        spacing = list(varargs) * len(axes)
    else:
        spacing = list(varargs)
    if len(spacing) != len(axes):
        raise TypeError("gradient: invalid number of arguments")
    out = []
    for ax, h in zip(axes, spacing):
        out.append(_gradient_1d(f, ax, h, edge_order))
    return out[0] if len(out) == 1 else out


def _gradient_1d(f, ax, h, edge_order):
    n = shape_of(f)[ax]
    if n < edge_order + 1:
        raise ValueError("gradient: an axis needs at least edge_order + 1 points")

    def sl(a, b):
        return lax.slice_in_dim(f, a, b, axis=ax)
    h_arr = asarray(h)
    if len(shape_of(h_arr)) == 0:
        if not isinstance(h, (int, float)):     # (a Python number stays weak: f's dtype)
            h = h_arr
        interior = true_divide(subtract(sl(2, n), sl(0, n - 2)), 2.0 * h)
        if edge_order == 1:
            first = true_divide(subtract(sl(1, 2), sl(0, 1)), h)
            last = true_divide(subtract(sl(n - 1, n), sl(n - 2, n - 1)), h)
        else:
            first = true_divide(add(add(multiply(-1.5, sl(0, 1)), multiply(2.0, sl(1, 2))),
                                    multiply(-0.5, sl(2, 3))), h)
            last = true_divide(add(add(multiply(0.5, sl(n - 3, n - 2)),
                                       multiply(-2.0, sl(n - 2, n - 1))),
                                   multiply(1.5, sl(n - 1, n))), h)
        return concatenate([first, interior, last], axis=ax)
    # coordinates: non-uniform spacing (second order inside)
    x = h_arr
    dx = diff(x)
    shape = [1] * len(shape_of(f))
    shape[ax] = n - 2
    dx1 = reshape(dx[:-1], shape)
    dx2 = reshape(dx[1:], shape)
    a = true_divide(lax.neg(dx2), multiply(dx1, add(dx1, dx2)))
    b = true_divide(subtract(dx2, dx1), multiply(dx1, dx2))
    c = true_divide(dx1, multiply(dx2, add(dx1, dx2)))
    interior = add(add(multiply(a, sl(0, n - 2)), multiply(b, sl(1, n - 1))),
                   multiply(c, sl(2, n)))
    if edge_order != 1:
        raise NotImplementedError("gradient: edge_order=2 with coordinate arrays")
    first = true_divide(subtract(sl(1, 2), sl(0, 1)), dx[0])
    last = true_divide(subtract(sl(n - 1, n), sl(n - 2, n - 1)), dx[-1])
    return concatenate([first, interior, last], axis=ax)


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """The integral of y by the trapezoidal rule (sample points x, or spacing dx)."""
    (y,), _ = promote_inexact(y)
    ax = normalize_axes(axis, len(shape_of(y)))[0]
    n = shape_of(y)[ax]
    avg = multiply(add(lax.slice_in_dim(y, 1, n, axis=ax), lax.slice_in_dim(y, 0, n - 1, axis=ax)),
                   0.5)
    if x is None:
        return multiply(sum(avg, axis=ax), dx)
    d = diff(asarray(x), axis=-1 if len(shape_of(asarray(x))) == 1 else ax)
    if len(shape_of(d)) == 1:
        shape = [1] * len(shape_of(y))
        shape[ax] = n - 1
        d = reshape(d, shape)
    return sum(multiply(avg, d), axis=ax)


def unwrap(p, discont=None, axis=-1, *, period=2 * math.pi):
    """Phases with jumps larger than `discont` (default period/2) unwrapped."""
    (p,), _ = promote_inexact(p)
    ax = normalize_axes(axis, len(shape_of(p)))[0]
    discont = period / 2 if discont is None else discont
    dd = diff(p, axis=ax)
    half = period / 2
    ddmod = subtract(remainder(add(dd, half), period), half)
    ddmod = where((ddmod == -half) & (dd > 0), half, ddmod)
    correction = where(absolute(dd) < discont, 0, subtract(ddmod, dd))
    n = shape_of(p)[ax]
    head = lax.slice_in_dim(p, 0, 1, axis=ax)
    rest = add(lax.slice_in_dim(p, 1, n, axis=ax), lax.cumsum(correction, ax))
    return concatenate([head, rest], axis=ax)


# ------------------------------------------------------------------ windows
def _window(np_fn):
    def f(M, *args):
        return asarray(np_fn(M, *args).astype(dtypes.default_float_dtype()))
    f.__name__ = np_fn.__name__
    f.__doc__ = f"NumPy's {np_fn.__name__} window (in the default float dtype)."
    return f


bartlett, blackman, hamming, hanning = map(
    _window, (np.bartlett, np.blackman, np.hamming, np.hanning))


def kaiser(M, beta):
    """NumPy's Kaiser window of `M` points with shape `beta` (concrete), in the default float
    dtype."""
    return _window(np.kaiser)(M, concrete_host_value(beta, "kaiser's beta"))


# ------------------------------------------------------------------ polynomials
def vander(x, N=None, increasing=False):
    """The Vandermonde matrix: columns are powers of x (decreasing unless `increasing`)."""
    x = asarray(x)
    n = shape_of(x)[0] if N is None else int(N)
    powers = np.arange(n) if increasing else np.arange(n)[::-1]
    from ._math import power
    return power(x[:, None], asarray(powers.copy()))


def polyval(p, x, *, unroll=16):
    """The polynomial with coefficients p (highest power first) at x, by Horner's rule
    (unrolled in full: `unroll`, JAX's scan option, changes nothing here)."""
    (p, x), dt = promote(p, x)                   # (a Python number x stays weak)
    p = asarray(p)
    out = zeros(shape_of(x), dt)
    for i in range(shape_of(p)[0]):
        out = add(multiply(out, x), p[i])
    return out


def polyfit(x, y, deg, rcond=None, full=False, w=None, cov=False):
    """Least-squares polynomial coefficients (highest power first)."""
    from .linalg import lstsq
    if full or cov:
        raise NotImplementedError("polyfit: full= and cov= are not supported")
    (x, y), _ = promote_inexact(x, y)
    a = vander(x, int(deg) + 1)
    if w is not None:
        w = asarray(w)
        a = multiply(a, w[:, None])
        y = multiply(y, w if len(shape_of(y)) == 1 else w[:, None])
    return lstsq(a, y, rcond)[0]


def _pad_to(a, n):
    m = shape_of(a)[0]
    return concatenate([zeros((n - m,), dtype_of(a)), a]) if m < n else a


def polyadd(a1, a2):
    (a1, a2), _ = _promote_poly(a1, a2)
    n = max(shape_of(a1)[0], shape_of(a2)[0])
    return add(_pad_to(a1, n), _pad_to(a2, n))


def polysub(a1, a2):
    (a1, a2), _ = _promote_poly(a1, a2)
    n = max(shape_of(a1)[0], shape_of(a2)[0])
    return subtract(_pad_to(a1, n), _pad_to(a2, n))


def trim_zeros(filt, trim="fb", axis=None):
    """The (concrete) `filt` without leading ('f') and/or trailing ('b') zeros along `axis`
    (None: every axis, leaving the box that holds the nonzero entries)."""
    filt = asarray(filt)
    raw = concrete_host_value(filt, "trim_zeros")
    nonzero = np.nonzero(raw)
    index = [slice(None)] * raw.ndim
    for ax in range(raw.ndim) if axis is None else normalize_axes(axis, raw.ndim):
        at = nonzero[ax]
        lo = int(at.min()) if at.size and "f" in trim.lower() else 0
        hi = int(at.max()) + 1 if at.size and "b" in trim.lower() else raw.shape[ax]
        index[ax] = slice(lo, hi if at.size else 0)
    return filt[tuple(index)]


def polymul(a1, a2, *, trim_leading_zeros=False):
    """The product of two polynomials (highest power first); `trim_leading_zeros` drops
    their leading zeros first (concrete coefficients only)."""
    (a1, a2), _ = _promote_poly(a1, a2)
    if trim_leading_zeros:
        a1, a2 = trim_zeros(a1, "f"), trim_zeros(a2, "f")
    # an empty polynomial is the zero polynomial, as NumPy's poly1d makes it
    a1, a2 = (a if shape_of(a)[0] else zeros((1,), dtype_of(a)) for a in (a1, a2))
    return convolve(a1, a2)


def _promote_poly(a1, a2):
    from ._conversion import promote
    (a1, a2), dt = promote(a1, a2)
    return (asarray(a1), asarray(a2)), dt


def polyder(p, m=1):
    """The m-th derivative's coefficients."""
    p = asarray(p)
    for _ in range(m):          # (a constant's derivative is empty, as NumPy's)
        n = shape_of(p)[0] - 1
        p = multiply(p[:-1], asarray(np.arange(n, 0, -1)))
    return p


def polyint(p, m=1, k=None):
    """The m-th antiderivative's coefficients (integration constants k, default 0)."""
    (p,), _ = promote_inexact(p)
    k = asarray(0.0 if k is None else k)
    ks = [k] * m if not shape_of(k) else [k[i] for i in range(shape_of(k)[0])]
    if len(ks) < m:
        raise ValueError(f"polyint: k must give one integration constant per order "
                         f"(m={m}), got {len(ks)}")
    for i in range(m):
        n = shape_of(p)[0]
        p = concatenate([true_divide(p, asarray(np.arange(n, 0, -1), dtype=dtype_of(p))),
                         reshape(lax.convert_element_type(asarray(ks[i]), dtype_of(p)), (1,))])
    return p


def histogram_bin_edges(a, bins=10, range=None, weights=None):
    from ._sorting import histogram
    return histogram(a, bins, range, weights)[1]


__all__ = [n for n, v in list(globals().items()) if callable(v) and not n.startswith("_")
           and getattr(v, "__module__", None) == __name__]
