"""Reductions over axes (sum, max, min, prod, and / or / xor, argmax, argmin) and cumulative
scans.

`axes` is always a sorted tuple of non-negative axes; the result drops them (functrans.numpy
adds `keepdims` with a reshape, which costs nothing).
"""
from __future__ import annotations

import functools
import math

import numpy as np

from .. import dtypes
from ..core import ShapedArray
from ._util import primitive, def_linear, def_nondiff, shape_of, dtype_of, canonical_axis
from .transfer import place
from .elementwise import (mul, div, eq, convert_element_type, add, exp, sub,
                          max as max_op, min as min_op, max_partial)
from .shape_ops import (broadcast_in_dim, concatenate, pad, reshape, rev, slice_in_dim,
                        transpose)


def _reduced_shape(shape, axes):
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _check_axes(name, x, axes):
    for a in axes:
        if not 0 <= a < len(x.shape):
            raise ValueError(f"{name}: axis {a} is out of bounds for shape {x.shape}")


# NumPy's reducing ufunc of each reduction that `two_step_plan` applies to
REDUCING_UFUNC = {"sum": np.add, "prod": np.multiply, "max": np.maximum, "min": np.minimum}


@functools.lru_cache(maxsize=1024)
def two_step_plan(shape, axes):
    """For a reduction over leading and trailing axes keeping the ones between, size-1 axes
    aside (BatchNorm's sums over N, H, W of NCHW): `(shape without size-1 axes, its leading
    axes, the kept sizes)`, to reduce in two steps: the leading axes first (adding whole rows,
    vectorized), then the trailing ones of the contiguous partial result, 3-6x faster than
    NumPy's one reduction over strided axes. None for any other reduction. Eager calls and
    compiled programs both take this path, so they agree bit for bit."""
    squeezed = tuple(d for d in shape if d != 1)
    picked = [d != 1 and i in axes for i, d in enumerate(shape) if d != 1]
    rank = len(squeezed)
    lead = 0
    while lead < rank and picked[lead]:
        lead += 1
    end = lead
    while end < rank and not picked[end]:
        end += 1
    if not lead or end == lead or end == rank or not all(picked[end:]):
        return None
    return squeezed, tuple(range(lead)), squeezed[lead:end]


def two_step(ufunc, x, plan, out_shape, dtype=None, out=None):
    """The reduction `plan` (from `two_step_plan`) of `x` with `ufunc`, shaped `out_shape`."""
    squeezed, lead, kept = plan
    part = ufunc.reduce(x.reshape(squeezed), axis=lead, dtype=dtype)
    part = part.reshape(kept + (math.prod(squeezed[len(lead) + len(kept):]),))
    if out is None:
        return ufunc.reduce(part, axis=len(kept), dtype=dtype).reshape(out_shape)
    ufunc.reduce(part, axis=len(kept), dtype=dtype, out=out.reshape(kept))
    return out


# (a complex product would spread a NaN or an infinity from a real part into the imaginary one)
_BLAS_DTYPES = frozenset(np.dtype(t) for t in ("float32", "float64"))


@functools.lru_cache(maxsize=1024)
def matvec_plan(shape, axes, dtype):
    """For a float32 or float64 sum over leading axes, trailing axes, or both (keeping those
    between), size-1 axes aside and at least one axis kept: its steps `((rows, columns,
    leading), ...)`. Each step sums the operand (then the previous step's result) seen as a
    rows x columns matrix, along its rows (`leading`) or its columns, as one BLAS
    matrix-vector product with a vector of ones: 2-7x faster than NumPy's reductions, and as
    accurate (more over leading axes, which NumPy adds row after row). None for any other
    sum. Eager calls and compiled programs both take this path, so they agree bit for bit."""
    if np.dtype(dtype) not in _BLAS_DTYPES or 0 in shape:
        return None
    sizes = [d for d in shape if d != 1]
    picked = [i in axes for i, d in enumerate(shape) if d != 1]
    lead = next((k for k, p in enumerate(picked) if not p), len(picked))
    trail = next((k for k, p in enumerate(reversed(picked)) if not p), len(picked))
    if lead + trail != sum(picked) or lead + trail in (0, len(sizes)):
        return None
    kept = math.prod(sizes[lead:len(sizes) - trail])
    steps = []
    if lead:
        steps.append((math.prod(sizes[:lead]), kept * math.prod(sizes[len(sizes) - trail:]),
                      True))
    if trail:
        steps.append((kept, math.prod(sizes[len(sizes) - trail:]), False))
    return tuple(steps)


@functools.lru_cache(maxsize=16)
def ones_vector(n, dtype):
    """A read-only vector of `n` ones, the other factor of `matvec_plan`'s products."""
    ones = np.ones(n, dtype)
    ones.flags.writeable = False
    return ones


def matvec_sum(x, steps, out_shape):
    """The sum `steps` (from `matvec_plan`) of the NumPy array `x`, shaped `out_shape` (the
    compiled kernel writes the same products out)."""
    part = x
    for rows, columns, leading in steps:
        ones = ones_vector(rows if leading else columns, x.dtype)
        matrix = part.reshape(rows, columns)
        part = np.dot(ones, matrix) if leading else np.dot(matrix, ones)
    return part.reshape(out_shape)


# sums and products (also running ones) of these add and multiply in float32, as JAX's
FLOAT32_ACCUMULATED = frozenset(d for d in (dtypes.float16, *dtypes.ML_DTYPES.values())
                                if dtypes.accumulation_dtype(d) != d)


def in_float32(impl, xp, x, *params):
    """`impl(xp, x, *params)` computed on `x` in float32, rounded back to its dtype."""
    return impl(xp, x.astype(np.float32), *params).astype(x.dtype)


def _reduction(name, np_name, *, pass_dtype=False):
    def impl(xp, x, axes):
        steps = matvec_plan(x.shape, axes, x.dtype) if xp is np and np_name == "sum" else None
        if steps is not None:
            return matvec_sum(x, steps, _reduced_shape(x.shape, axes))
        if pass_dtype and x.dtype in FLOAT32_ACCUMULATED:
            return in_float32(impl, xp, x, axes)
        if xp is np and np_name in REDUCING_UFUNC:
            plan = two_step_plan(x.shape, axes)
            if plan is not None:
                return two_step(REDUCING_UFUNC[np_name], x, plan,
                                _reduced_shape(x.shape, axes), x.dtype if pass_dtype else None)
        if pass_dtype:
            return getattr(xp, np_name)(x, axis=axes, dtype=x.dtype)
        return getattr(xp, np_name)(x, axis=axes)

    def abstract_eval(x, axes):
        _check_axes(name, x, axes)
        if np_name in ("max", "min") and x.size == 0 and any(x.shape[a] == 0 for a in axes):
            raise ValueError(f"{name} of an empty axis has no identity; pass initial= or "
                             "use a non-empty array")
        return ShapedArray(_reduced_shape(x.shape, axes), x.dtype)

    p = primitive(name, impl, abstract_eval)
    p.kernel_kind, p.np_name = "reduction", np_name
    p.batch = _batch_reduction(p)
    return p


def _batch_reduction(prim):
    def rule(vals, dims, axes, **params):
        x, = vals
        d, = dims
        # the batch axis stays; shift reduced axes past it
        logical = [a for a in range(len(shape_of(x))) if a != d]
        new_axes = tuple(sorted(logical[a] for a in axes))
        out_dim = d - sum(1 for a in new_axes if a < d)
        return prim.bind(x, axes=new_axes, **params), out_dim
    return rule


reduce_sum_p = _reduction("reduce_sum", "sum", pass_dtype=True)
reduce_max_p = _reduction("reduce_max", "max")
reduce_min_p = _reduction("reduce_min", "min")
reduce_prod_p = _reduction("reduce_prod", "prod", pass_dtype=True)


def _fold(xp, ufunc_name, x, axes, out_shape):
    """`ufunc_name` reduced over `axes` by halving them, for array modules whose ufuncs have
    no `reduce` (CuPy's bitwise ones): ceil(log2 n) whole-array steps."""
    kept = [a for a in range(x.ndim) if a not in axes]
    n = math.prod(x.shape[a] for a in axes)
    y = xp.transpose(x, kept + list(axes)).reshape(out_shape + (n,))
    if n == 0:
        identity = np.array(getattr(np, ufunc_name).identity).astype(x.dtype).item()
        return xp.full(out_shape, identity, x.dtype)
    f = getattr(xp, ufunc_name)
    while n > 1:
        half = n // 2
        folded = f(y[..., :half], y[..., half:2 * half])
        if n % 2:
            folded[..., :1] = f(folded[..., :1], y[..., 2 * half:])
        y, n = folded, half
    return y.reshape(out_shape)


def _bitwise_reduction(name, ufunc, logical=None):
    """reduce_and / reduce_or / reduce_xor as JAX's: bitwise on integers (keeping their
    dtype), logical on bools; other dtypes are refused (functrans.numpy.all / any compare
    with zero first)."""
    def impl(xp, x, axes):
        if logical is not None and x.dtype == np.bool_:
            return getattr(xp, logical)(x, axis=axes)
        if xp is np:
            return ufunc.reduce(x, axis=axes)
        return _fold(xp, ufunc.__name__, x, axes, _reduced_shape(x.shape, axes))

    def abstract_eval(x, axes):
        _check_axes(name, x, axes)
        if np.dtype(x.dtype).kind not in "biu":
            raise TypeError(f"{name} needs a bool or integer operand, got {x.dtype} (for a "
                            "truth test, compare with zero first, or use functrans.numpy.all "
                            "/ any)")
        return ShapedArray(_reduced_shape(x.shape, axes), x.dtype)

    p = primitive(name, impl, abstract_eval)
    p.batch = _batch_reduction(p)
    def_nondiff(p)
    return p


reduce_and_p = _bitwise_reduction("reduce_and", np.bitwise_and, "all")
reduce_or_p = _bitwise_reduction("reduce_or", np.bitwise_or, "any")
reduce_xor_p = _bitwise_reduction("reduce_xor", np.bitwise_xor)


def _expand_to(ct, shape, axes):
    """Broadcast a reduced cotangent back over the reduced axes."""
    kept = tuple(i for i in range(len(shape)) if i not in axes)
    return broadcast_in_dim(ct, tuple(shape), kept)


def_linear(reduce_sum_p, lambda ct, aval, axes: _expand_to(ct, aval.shape, axes))


def _extremum_weights(x, ans, axes):
    """1/k at each of the k positions that attain the extremum, else 0 (ties share)."""
    shape = shape_of(x)
    hit = convert_element_type(eq(x, _expand_to(ans, shape, axes)), dtype_of(x))
    count = reduce_sum(hit, axes)
    return div(hit, _expand_to(count, shape, axes))


def _extremum_rules(prim):
    def jvp(primals, tangents, axes):
        x, = primals
        ans = prim.bind(x, axes=axes)
        t, = tangents
        if t is None:
            return ans, None
        return ans, reduce_sum(mul(t, _extremum_weights(x, ans, axes)), axes)

    def vjp(primals, needs, axes):
        x, = primals
        ans = prim.bind(x, axes=axes)
        return ans, lambda ct: (mul(_expand_to(ct, shape_of(x), axes),
                                    _extremum_weights(x, ans, axes)),)
    prim.jvp, prim.vjp = jvp, vjp


_extremum_rules(reduce_max_p)
_extremum_rules(reduce_min_p)


def _prod_others(x, axes):
    """For each element, the product of the other elements along `axes` (exact with zeros)."""
    shape = shape_of(x)
    kept = [i for i in range(len(shape)) if i not in axes]
    perm = tuple(kept) + tuple(axes)
    xt = transpose(x, perm)
    kept_shape = tuple(shape[i] for i in kept)
    n = int(np.prod([shape[a] for a in axes], dtype=np.int64))
    if n == 0 or 0 in kept_shape:
        return x                            # no elements: any array of x's shape will do
    flat = reshape(xt, kept_shape + (n,))
    last = len(kept_shape)
    one = 1.0
    left = cumprod(pad(slice_in_dim(flat, 0, n - 1, axis=last), one,
                       [(0, 0, 0)] * last + [(1, 0, 0)]), axis=last)
    right = cumprod(pad(slice_in_dim(flat, 1, n, axis=last), one,
                        [(0, 0, 0)] * last + [(0, 1, 0)]), axis=last, reverse=True)
    others = reshape(mul(left, right), tuple(xt_s for xt_s in shape_of(xt)))
    inverse = tuple(np.argsort(perm))
    return transpose(others, inverse)


def _prod_jvp(primals, tangents, axes):
    x, = primals
    ans = reduce_prod_p.bind(x, axes=axes)
    t, = tangents
    if t is None:
        return ans, None
    return ans, reduce_sum(mul(t, _prod_others(x, axes)), axes)


def _prod_vjp(primals, needs, axes):
    x, = primals
    ans = reduce_prod_p.bind(x, axes=axes)
    return ans, lambda ct: (mul(_expand_to(ct, shape_of(x), axes), _prod_others(x, axes)),)


reduce_prod_p.jvp, reduce_prod_p.vjp = _prod_jvp, _prod_vjp


# ------------------------------------------------------------------ argmax / argmin
def _arg_reduction(name, np_name):
    def impl(xp, x, axis, index_dtype):
        return getattr(xp, np_name)(x, axis=axis).astype(index_dtype, copy=False)

    def abstract_eval(x, axis, index_dtype):
        _check_axes(name, x, (axis,))
        if x.shape[axis] == 0:
            raise ValueError(f"{name} of an empty axis")
        return ShapedArray(_reduced_shape(x.shape, (axis,)), index_dtype)

    p = primitive(name, impl, abstract_eval)
    def_nondiff(p)

    def batch(vals, dims, axis, index_dtype):
        x, = vals
        d, = dims
        logical = [a for a in range(len(shape_of(x))) if a != d]
        new_axis = logical[axis]
        return p.bind(x, axis=new_axis, index_dtype=index_dtype), d - (new_axis < d)
    p.batch = batch
    return p


argmax_p = _arg_reduction("argmax", "argmax")
argmin_p = _arg_reduction("argmin", "argmin")


# ------------------------------------------------------------------ cumulative scans
def _scan_by_doubling(xp, ufunc, x, axis):
    """The inclusive scan of `x` along `axis` with an associative ufunc, in ceil(log2 n)
    whole-array steps (element i combines with element i - 2^k at step k)."""
    out = xp.array(x, copy=True)
    n = x.shape[axis]
    shift = 1
    while shift < n:
        head = (slice(None),) * axis + (slice(shift, None),)
        tail = (slice(None),) * axis + (slice(None, n - shift),)
        out[head] = ufunc(out[tail], out[head])
        shift *= 2
    return out


def _cumulative(name, np_name):
    def impl(xp, x, axis, reverse):
        if x.dtype in FLOAT32_ACCUMULATED and np_name in ("cumsum", "cumprod"):
            return in_float32(impl, xp, x, axis, reverse)
        if reverse:
            x = xp.flip(x, axis)
        if np_name in ("cumsum", "cumprod"):
            out = getattr(xp, np_name)(x, axis=axis, dtype=x.dtype)
        elif xp is np:
            out = getattr(xp, np_name).accumulate(x, axis=axis)
        else:                   # CuPy has no maximum.accumulate
            out = _scan_by_doubling(xp, getattr(xp, np_name), x, axis)
        return xp.flip(out, axis) if reverse else out

    def abstract_eval(x, axis, reverse):
        _check_axes(name, x, (axis,))
        return ShapedArray(x.shape, x.dtype)

    p = primitive(name, impl, abstract_eval)

    def batch(vals, dims, axis, reverse):
        x, = vals
        d, = dims
        logical = [a for a in range(len(shape_of(x))) if a != d]
        return p.bind(x, axis=logical[axis], reverse=reverse), d
    p.batch = batch
    return p


cumsum_p = _cumulative("cumsum", "cumsum")
cumprod_p = _cumulative("cumprod", "cumprod")
cummax_p = _cumulative("cummax", "maximum")
cummin_p = _cumulative("cummin", "minimum")
def_linear(cumsum_p, lambda ct, aval, axis, reverse: cumsum(ct, axis, not reverse))


def _shift(x, k, axis, reverse, fill):
    """`x` moved k places along `axis` in the scan direction, the vacated places `fill`."""
    n = shape_of(x)[axis]
    config = [(0, 0, 0)] * len(shape_of(x))
    if reverse:
        config[axis] = (0, k, 0)
        return pad(slice_in_dim(x, k, n, axis=axis), fill, config)
    config[axis] = (k, 0, 0)
    return pad(slice_in_dim(x, 0, n - k, axis=axis), fill, config)


def _doubling_steps(n):
    k = 1
    while k < n:
        yield k
        k *= 2


# cumprod's derivatives follow the log-depth scan y <- y * shift(y, k), k = 1, 2, 4, ...,
# which uses only products, so they are exact when the input has zeros.
def _cumprod_jvp(primals, tangents, axis, reverse):
    x, = primals
    out = cumprod_p.bind(x, axis=axis, reverse=reverse)
    t, = tangents
    if t is None:
        return out, None
    y = x
    for k in _doubling_steps(shape_of(x)[axis]):
        s = _shift(y, k, axis, reverse, 1.0)
        t = add(mul(t, s), mul(y, _shift(t, k, axis, reverse, 0.0)))
        y = mul(y, s)
    return out, t


def _cumprod_vjp(primals, needs, axis, reverse):
    x, = primals
    out = cumprod_p.bind(x, axis=axis, reverse=reverse)

    def backward(ct):
        levels, y = [], x
        for k in _doubling_steps(shape_of(x)[axis]):
            levels.append((y, k))
            y = mul(y, _shift(y, k, axis, reverse, 1.0))
        for y, k in reversed(levels):
            ct = add(mul(ct, _shift(y, k, axis, reverse, 1.0)),
                     _shift(mul(ct, y), k, axis, not reverse, 0.0))
        return (ct,)
    return out, backward


cumprod_p.jvp, cumprod_p.vjp = _cumprod_jvp, _cumprod_vjp


def _interleave(even, odd, axis):
    """even[0], odd[0], even[1], odd[1], ... along `axis` (even has as many or one more)."""
    n_even, n_odd = shape_of(even)[axis], shape_of(odd)[axis]
    ce = [(0, 0, 0)] * len(shape_of(even))
    co = list(ce)
    ce[axis] = (0, n_odd - n_even + 1, 1)
    co[axis] = (1, n_even - n_odd, 1)
    return add(pad(even, 0, ce), pad(odd, 0, co))


def _running_extremum_rules(prim, pairwise):
    """A running max / min is differentiated as JAX does: forward mode through the odd-even
    parallel prefix scan of the binary `pairwise` (max or min), whose ties give each operand
    half the tangent (so a tie's share follows the scan tree); reverse mode transposes that."""
    def combine(a, ta, b, tb):
        ans = pairwise(a, b)
        return ans, add(mul(ta, max_partial(a, b, ans)), mul(tb, max_partial(b, a, ans)))

    def scan(x, t, axis):
        n = shape_of(x)[axis]
        if n < 2:
            return x, t

        def every_other(v, start, limit=None):
            return slice_in_dim(v, start, limit, stride=2, axis=axis)
        odd = scan(*combine(every_other(x, 0, -1), every_other(t, 0, -1),
                            every_other(x, 1), every_other(t, 1)), axis)
        head = odd if n % 2 else [slice_in_dim(v, 0, -1, axis=axis) for v in odd]
        even = combine(head[0], head[1], every_other(x, 2), every_other(t, 2))
        return [_interleave(concatenate([slice_in_dim(v, 0, 1, axis=axis), e], axis), o, axis)
                for v, e, o in zip((x, t), even, odd)]

    def jvp(primals, tangents, axis, reverse):
        x, = primals
        out = prim.bind(x, axis=axis, reverse=reverse)
        t, = tangents
        if t is None:
            return out, None
        if reverse:
            x, t = rev(x, (axis,)), rev(t, (axis,))
        t = scan(x, t, axis)[1]
        return out, rev(t, (axis,)) if reverse else t
    prim.jvp = jvp
    prim.reverse_by_transposing_jvp = lambda primals, **params: True


_running_extremum_rules(cummax_p, max_op)
_running_extremum_rules(cummin_p, min_op)


# ------------------------------------------------------------------ cumlogsumexp
# A primitive, as JAX's: the kernel is NumPy's logaddexp.accumulate (CuPy: a log-depth scan).
# With y = cumlogsumexp(x), the tangent v = d y follows v_i = a_i v_(i-1) + w_i t_i, where
# a_i = exp(y_(i-1) - y_i) and w_i = exp(x_i - y_i) lie in [0, 1] (no overflow); reverse mode
# runs the transposed recurrence the other way.
cumlogsumexp_p = _cumulative("cumlogsumexp", "logaddexp")


def _affine_scan(a, b, axis, reverse):
    """v_i = a_i v_(i-1) + b_i along `axis` in the scan's direction (0 before the first), in
    log2(n) whole-array steps."""
    for k in _doubling_steps(shape_of(b)[axis]):
        b = add(b, mul(a, _shift(b, k, axis, reverse, 0.0)))
        a = mul(a, _shift(a, k, axis, reverse, 0.0))
    return b


def _cumlogsumexp_weights(x, y, axis, reverse):
    return (exp(sub(_shift(y, 1, axis, reverse, -np.inf), y)), exp(sub(x, y)))


def _cumlogsumexp_jvp(primals, tangents, axis, reverse):
    x, = primals
    y = cumlogsumexp_p.bind(x, axis=axis, reverse=reverse)
    t, = tangents
    if t is None:
        return y, None
    a, w = _cumlogsumexp_weights(x, y, axis, reverse)
    return y, _affine_scan(a, mul(w, t), axis, reverse)


def _cumlogsumexp_vjp(primals, needs, axis, reverse):
    x, = primals
    y = cumlogsumexp_p.bind(x, axis=axis, reverse=reverse)

    def backward(ct):
        a, w = _cumlogsumexp_weights(x, y, axis, reverse)
        later = _shift(a, 1, axis, not reverse, 0.0)     # a_(i+1) at i
        return (mul(w, _affine_scan(later, ct, axis, not reverse)),)
    return y, backward


cumlogsumexp_p.jvp, cumlogsumexp_p.vjp = _cumlogsumexp_jvp, _cumlogsumexp_vjp


# ------------------------------------------------------------------ user-facing
def _axes(axes, ndim):
    if axes is None:
        return tuple(range(ndim))
    if isinstance(axes, int):
        axes = (axes,)
    return tuple(sorted(canonical_axis(int(a), ndim, "axes") for a in axes))


def reduce_sum(operand, axes=None, *, out_sharding=None):
    if out_sharding is not None:
        return place(reduce_sum(operand, axes), out_sharding, "reduce_sum")
    return reduce_sum_p.bind(operand, axes=_axes(axes, len(shape_of(operand))))


def reduce_max(operand, axes=None):
    return reduce_max_p.bind(operand, axes=_axes(axes, len(shape_of(operand))))


def reduce_min(operand, axes=None):
    return reduce_min_p.bind(operand, axes=_axes(axes, len(shape_of(operand))))


def reduce_prod(operand, axes=None):
    return reduce_prod_p.bind(operand, axes=_axes(axes, len(shape_of(operand))))


def reduce_and(operand, axes=None):
    return reduce_and_p.bind(operand, axes=_axes(axes, len(shape_of(operand))))


def reduce_or(operand, axes=None):
    return reduce_or_p.bind(operand, axes=_axes(axes, len(shape_of(operand))))


def reduce_xor(operand, axes=None):
    return reduce_xor_p.bind(operand, axes=_axes(axes, len(shape_of(operand))))


def argmax(operand, axis, index_dtype=dtypes.int64):
    return argmax_p.bind(operand, axis=canonical_axis(axis, len(shape_of(operand))),
                         index_dtype=np.dtype(index_dtype))


def argmin(operand, axis, index_dtype=dtypes.int64):
    return argmin_p.bind(operand, axis=canonical_axis(axis, len(shape_of(operand))),
                         index_dtype=np.dtype(index_dtype))


def cumsum(operand, axis=0, reverse=False):
    return cumsum_p.bind(operand, axis=canonical_axis(axis, len(shape_of(operand))),
                         reverse=bool(reverse))


def cumprod(operand, axis=0, reverse=False):
    return cumprod_p.bind(operand, axis=canonical_axis(axis, len(shape_of(operand))),
                          reverse=bool(reverse))


def cummax(operand, axis=0, reverse=False):
    return cummax_p.bind(operand, axis=canonical_axis(axis, len(shape_of(operand))),
                         reverse=bool(reverse))


def cummin(operand, axis=0, reverse=False):
    return cummin_p.bind(operand, axis=canonical_axis(axis, len(shape_of(operand))),
                         reverse=bool(reverse))


def cumlogsumexp(operand, axis=0, reverse=False):
    """log(cumsum(exp(operand))) along `axis`, computed without overflow or underflow (a
    running logaddexp), for floating-point operands."""
    if not dtypes.is_inexact(dtype_of(operand)) or dtype_of(operand).kind == "c":
        raise TypeError(f"cumlogsumexp takes real floating-point operands, got "
                        f"{dtype_of(operand)}; convert with .astype()")
    axis = canonical_axis(axis, len(shape_of(operand)), "cumlogsumexp: axis")
    return cumlogsumexp_p.bind(operand, axis=axis, reverse=bool(reverse))
