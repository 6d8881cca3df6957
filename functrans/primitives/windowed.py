"""Windowed reductions (pooling): `reduce_window` with `max` or `add` over windows that slide
along every axis (window 1 on axes not pooled).

The kernels never build a patches array: they walk the handful of window offsets and combine
strided views of the padded operand with one ufunc each, so a 2x2 pool is three
`xp.maximum` calls on output-sized views.

Derivatives:
- `reduce_window_sum` is linear; its transpose `reduce_window_sum_transpose` adds each output
  cotangent to every element of its window, and vice versa.
- `reduce_window_max` routes derivatives through the position of each window's maximum:
  when differentiated, the forward pass runs `reduce_window_max_argmax`, which returns the
  maxima and their positions in one sweep (the first maximum in row-major window order, so
  ties go to the earliest element, as in PyTorch; a NaN counts as the maximum). The tangent is
  `window_gather(tangent, argmax)`; the cotangent is `window_scatter_add(cotangent, argmax)`;
  these two are linear and each other's transpose, and the argmax is piecewise constant, so
  every order of derivative follows.

With compiled loops (numba installed; `functrans.backends.numba_jit`), the gather and scatter
kernels on the host run as one loop each over the windows (`_compiled_loop`), with the same
results bit for bit. (The argmax stays NumPy's: its passes over the offsets vectorize, a
loop over the windows does not, and took twice as long.)
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from .. import dtypes
from ..backends import numba_jit
from ..core import ShapedArray
from ._util import primitive, def_linear, shape_of, dtype_of, broadcast_batched, bdim_size
from .shape_ops import pad, pad_kernel


# ------------------------------------------------------------------ geometry and kernels
def _out_shape(shape, window_dimensions, window_strides, padding, window_dilation):
    out = []
    for d, k, s, (lo, hi), wd in zip(shape, window_dimensions, window_strides, padding,
                                     window_dilation):
        span = d + lo + hi - ((k - 1) * wd + 1)
        out.append(span // s + 1 if span >= 0 else 0)
    return tuple(out)


def _views(buf, out_shape, window_dimensions, window_strides, window_dilation):
    """`(flat offset index, strided view of buf)` for each position in the window."""
    ranges = [range(k) for k in window_dimensions]
    for flat, k in enumerate(itertools.product(*ranges)):
        yield flat, buf[tuple(slice(i * wd, i * wd + (o - 1) * s + 1, s) for i, wd, o, s in
                              zip(k, window_dilation, out_shape, window_strides))]


def _pad(xp, x, padding, value):
    if all(p == (0, 0) for p in padding):
        return x
    return pad_kernel(xp, x, value, [(lo, hi, 0) for lo, hi in padding])


def _unpad(xp, buf, padding):
    if all(p == (0, 0) for p in padding):
        return buf
    return pad_kernel(xp, buf, 0, [(-lo, -hi, 0) for lo, hi in padding])


def _lowest(dtype):
    dtype = np.dtype(dtype)
    if dtypes.is_inexact(dtype):
        return -np.inf
    if dtype == dtypes.bool_:
        return False
    return np.iinfo(dtype).min


def _index_dtype(window_dimensions):
    return np.dtype(np.int8 if math.prod(window_dimensions) <= 127 else np.int32)


def _geometry_aval(x, window_dimensions, window_strides, padding, window_dilation):
    if not len(window_dimensions) == len(window_strides) == len(padding) == \
            len(window_dilation) == len(x.shape):
        raise ValueError(f"reduce_window: window_dimensions {window_dimensions}, strides "
                         f"{window_strides}, padding {padding} and window_dilation "
                         f"{window_dilation} need one entry per axis of the operand of shape "
                         f"{x.shape}")
    out = _out_shape(x.shape, window_dimensions, window_strides, padding, window_dilation)
    if any(o < 1 for o in out) and x.size:
        raise ValueError(f"reduce_window: window {window_dimensions} (dilation "
                         f"{window_dilation}) does not fit the operand of shape {x.shape} "
                         f"with padding {padding}")
    return out


# ------------------------------------------------------------------ sum
def _fold_impl(name, identity):
    """A kernel folding `xp.<name>` over the window offsets, padding with `identity(dtype)`."""
    def impl(xp, x, window_dimensions, window_strides, padding, window_dilation):
        buf = _pad(xp, x, padding, identity(x.dtype))
        out_shape = _out_shape(x.shape, window_dimensions, window_strides, padding,
                               window_dilation)
        views = _views(buf, out_shape, window_dimensions, window_strides, window_dilation)
        _, first = next(views)
        out = first.copy()
        combine = getattr(xp, name)
        for _, v in views:
            combine(out, v, out=out)
        return out
    return impl


def _window_aval(x, **params):
    return ShapedArray(_geometry_aval(x, **params), x.dtype)


reduce_window_sum_p = primitive("reduce_window_sum", _fold_impl("add", lambda dt: 0),
                                _window_aval)


def _spread_impl(xp, ct, operand_shape, window_dimensions, window_strides, padding,
                 window_dilation):
    padded = tuple(d + lo + hi for d, (lo, hi) in zip(operand_shape, padding))
    buf = xp.zeros(padded, ct.dtype)
    for _, v in _views(buf, ct.shape, window_dimensions, window_strides, window_dilation):
        xp.add(v, ct, out=v)
    return _unpad(xp, buf, padding)


reduce_window_sum_transpose_p = primitive(
    "reduce_window_sum_transpose", _spread_impl,
    lambda ct, operand_shape, **params: ShapedArray(operand_shape, ct.dtype))

def_linear(reduce_window_sum_p, lambda ct, aval, **params:
           reduce_window_sum_transpose_p.bind(ct, operand_shape=aval.shape, **params))
def_linear(reduce_window_sum_transpose_p, lambda ct, aval, operand_shape, **params:
           reduce_window_sum_p.bind(ct, **params))


# ------------------------------------------------------------------ compiled loops
def _compiled_loop(xp, kind, dtype, rank, window_dimensions, window_strides, padding,
                   window_dilation):
    """The compiled loop of `kind` for this geometry, or None (numba not asked for or not
    installed, not the host, or a dtype it does not take). Window w's element at offset k
    (row-major over the window, as the NumPy kernels number them) is p = w * strides +
    k * dilation - low padding:
    - gather(a, idx, out): out[w] = a[p] at offset idx[w], where p is inside a (`out` zeros
      where a is padded);
    - scatter(a, idx, out): out[p] += a[w] at offset idx[w], offset by offset (the NumPy
      kernel's order of additions), `out` zeros;
    - scatter_tiles(a, idx, out, zero): the same where the windows tile the padded operand,
      each element of `out` written once (but those a negative padding crops)."""
    if not rank or not numba_jit.takes(xp, dtype):
        return None
    dims = range(rank)
    src = [f"def {kind}({'a, idx, out, zero' if kind == 'scatter_tiles' else 'a, idx, out'}):"]
    operand = "a" if kind == "gather" else "out"
    w_idx = ", ".join(f"w{d}" for d in dims)
    p_idx = ", ".join(f"p{d}" for d in dims)
    depth = [1]

    def line(text):
        src.append("    " * depth[0] + text)

    def loop(var, bound):
        line(f"for {var} in range({bound}):")
        depth[0] += 1

    def position():
        """p{d}; the condition that p is inside the operand ("" where it always is)."""
        for d in dims:
            line(f"p{d} = w{d} * {window_strides[d]} + k{d} * {window_dilation[d]} - "
                 f"{padding[d][0]}")
        return " and ".join(f"0 <= p{d} < {operand}.shape[{d}]" for d in dims
                            if tuple(padding[d]) != (0, 0))

    def offsets():
        line("k = 0")
        for d in dims:
            loop(f"k{d}", window_dimensions[d])

    if kind == "scatter":                       # offsets outermost: NumPy's order of sums
        offsets()
        for d in dims:
            loop(f"w{d}", f"idx.shape[{d}]")
        inside = position()
        line(f"if idx[{w_idx}] == k{' and ' + inside if inside else ''}:")
        line(f"    out[{p_idx}] += a[{w_idx}]")
        depth[0] = 1 + rank
        line("k += 1")
    elif kind == "gather":
        for d in dims:
            loop(f"w{d}", f"idx.shape[{d}]")
        line(f"k = idx[{w_idx}]")              # the offset's coordinates
        for d in reversed(dims):
            line(f"k{d} = k % {window_dimensions[d]}")
            line(f"k //= {window_dimensions[d]}")
        inside = position()
        line(f"if {inside or True}:")
        line(f"    out[{w_idx}] = a[{p_idx}]")
    else:
        for d in dims:
            loop(f"w{d}", f"idx.shape[{d}]")
        line(f"hit = idx[{w_idx}]")
        line(f"v = a[{w_idx}]")
        offsets()
        inside = position()
        line(f"if {inside or True}:")
        line(f"    out[{p_idx}] = v if k == hit else zero")
        line("k += 1")
    return numba_jit.compiled("\n".join(src) + "\n", kind)


# ------------------------------------------------------------------ max and its argmax
reduce_window_max_p = primitive("reduce_window_max", _fold_impl("maximum", _lowest),
                                _window_aval)


def _max_argmax_impl(xp, x, window_dimensions, window_strides, padding, window_dilation):
    buf = _pad(xp, x, padding, _lowest(x.dtype))
    out_shape = _out_shape(x.shape, window_dimensions, window_strides, padding, window_dilation)
    views = list(_views(buf, out_shape, window_dimensions, window_strides, window_dilation))
    idx_dtype = _index_dtype(window_dimensions)
    best = views[0][1].copy()
    idx = xp.zeros(out_shape, idx_dtype)
    beats = xp.empty(out_shape, bool)
    moved = xp.empty(out_shape, idx_dtype)
    v = xp.empty(out_shape, x.dtype)
    for k, view in views[1:]:
        xp.copyto(v, view)          # read twice below: contiguous, 25-30 % faster in all
        # offsets only grow, so "move the argmax to k where v beats the best" is a maximum
        # (branch-free; xp.where is several times slower on unpredictable masks)
        xp.greater(v, best, out=beats)
        xp.multiply(beats, idx_dtype.type(k), out=moved)
        xp.maximum(idx, moved, out=idx)
        xp.maximum(best, v, out=best)
    if dtypes.is_inexact(x.dtype):
        nan = xp.isnan(best)
        if nan.any():                        # rare: the first NaN of each window wins
            first_nan = xp.zeros(out_shape, idx_dtype)
            for k, v in reversed(views):
                first_nan = xp.where(xp.isnan(v), idx_dtype.type(k), first_nan)
            idx = xp.where(nan, first_nan, idx)
    return [best, idx]


def _max_argmax_aval(x, **params):
    shape = _geometry_aval(x, **params)
    return [ShapedArray(shape, x.dtype),
            ShapedArray(shape, _index_dtype(params["window_dimensions"]))]


reduce_window_max_argmax_p = primitive("reduce_window_max_argmax", _max_argmax_impl,
                                       _max_argmax_aval, multiple_results=True)


def _bits(a):
    """`a`'s bit pattern as unsigned integers (floats), so that masking with & selects
    values exactly, inf and NaN included."""
    return a.view(np.dtype(f"u{a.dtype.itemsize}"))


def _mask(hit, like):
    """All-ones bits where `hit`, zeros elsewhere, in `like`'s unsigned dtype."""
    u = np.dtype(f"u{like.dtype.itemsize}")
    return hit * u.type(np.iinfo(u).max)


def _gather_impl(xp, t, idx, window_dimensions, window_strides, padding, window_dilation):
    loop = _compiled_loop(xp, "gather", t.dtype, t.ndim, window_dimensions, window_strides,
                          padding, window_dilation)
    if loop is not None:
        padded = any(tuple(p) != (0, 0) for p in padding)
        out = (np.zeros if padded else np.empty)(idx.shape, t.dtype)
        loop(t, idx, out)
        return out
    buf = _pad(xp, t, padding, 0)
    views = _views(buf, idx.shape, window_dimensions, window_strides, window_dilation)
    if t.dtype.kind != "f":
        out = xp.zeros(idx.shape, t.dtype)
        for k, v in views:
            out = xp.where(idx == k, v, out)
        return out
    bits = xp.zeros(idx.shape, np.dtype(f"u{t.dtype.itemsize}"))
    for k, v in views:                       # exactly one offset is selected per window
        xp.bitwise_or(bits, _bits(v) & _mask(idx == k, v), out=bits)
    return bits.view(t.dtype)


window_gather_p = primitive("window_gather", _gather_impl,
                            lambda t, idx, **params: ShapedArray(idx.shape, t.dtype))


def _scatter_impl(xp, ct, idx, operand_shape, window_dimensions, window_strides, padding,
                  window_dilation):
    padded = tuple(d + lo + hi for d, (lo, hi) in zip(operand_shape, padding))
    # windows that tile the operand exactly (pooling with stride == window) each own their
    # elements: write every offset's share once, with no zero fill and no accumulation
    tiles = all(k == s and dl == 1 and p == k * o for k, s, dl, p, o in zip(
        window_dimensions, window_strides, window_dilation, padded, ct.shape))
    loop = _compiled_loop(xp, "scatter_tiles" if tiles else "scatter", ct.dtype, ct.ndim,
                          window_dimensions, window_strides, padding, window_dilation)
    if loop is not None:
        # tiles write every element, but those cropped off by a negative padding
        covered = tiles and all(lo >= 0 and hi >= 0 for lo, hi in padding)
        out = (np.empty if covered else np.zeros)(operand_shape, ct.dtype)
        loop(ct, idx, out, ct.dtype.type(0)) if tiles else loop(ct, idx, out)
        return out
    buf = (xp.empty if tiles else xp.zeros)(padded, ct.dtype)
    floating = ct.dtype.kind == "f"
    for k, v in _views(buf, ct.shape, window_dimensions, window_strides, window_dilation):
        hit = idx == k
        if floating:                 # select by bit masks: exact for inf and NaN
            if tiles:
                xp.bitwise_and(_bits(ct), _mask(hit, ct), out=_bits(v))
                continue
            picked = (_bits(ct) & _mask(hit, ct)).view(ct.dtype)
        else:
            picked = xp.where(hit, ct, ct.dtype.type(0))
        if tiles:
            v[...] = picked
        else:
            xp.add(v, picked, out=v)
    return _unpad(xp, buf, padding)


window_scatter_add_p = primitive(
    "window_scatter_add", _scatter_impl,
    lambda ct, idx, operand_shape, **params: ShapedArray(operand_shape, ct.dtype))


# gather and scatter take the argmax as a second (integer, non-differentiable) operand, so
# their linear rules are written out here rather than with def_linear.
def _gather_jvp(primals, tangents, **params):
    t, idx = primals
    out = window_gather_p.bind(t, idx, **params)
    dt = tangents[0]
    return out, None if dt is None else window_gather_p.bind(dt, idx, **params)


def _gather_vjp(primals, needs, **params):
    t, idx = primals
    out = window_gather_p.bind(t, idx, **params)
    shape = shape_of(t)
    return out, lambda ct: (window_scatter_add_p.bind(ct, idx, operand_shape=shape, **params),
                            None)


def _scatter_jvp(primals, tangents, **params):
    ct, idx = primals
    out = window_scatter_add_p.bind(ct, idx, **params)
    dt = tangents[0]
    return out, None if dt is None else window_scatter_add_p.bind(dt, idx, **params)


def _scatter_vjp(primals, needs, operand_shape, **params):
    ct, idx = primals
    out = window_scatter_add_p.bind(ct, idx, operand_shape=operand_shape, **params)
    return out, lambda g: (window_gather_p.bind(g, idx, **params), None)


window_gather_p.jvp, window_gather_p.vjp = _gather_jvp, _gather_vjp
window_scatter_add_p.jvp, window_scatter_add_p.vjp = _scatter_jvp, _scatter_vjp


def _max_jvp(primals, tangents, **params):
    x, = primals
    t, = tangents
    if t is None:
        return reduce_window_max_p.bind(x, **params), None
    out, idx = reduce_window_max_argmax_p.bind(x, **params)
    return out, window_gather_p.bind(t, idx, **params)


def _max_vjp(primals, needs, **params):
    x, = primals
    out, idx = reduce_window_max_argmax_p.bind(x, **params)
    shape = shape_of(x)
    return out, lambda ct: (window_scatter_add_p.bind(ct, idx, operand_shape=shape, **params),)


def _max_argmax_jvp(primals, tangents, **params):
    x, = primals
    out, idx = reduce_window_max_argmax_p.bind(x, **params)
    t, = tangents
    return [out, idx], [None if t is None else window_gather_p.bind(t, idx, **params), None]


def _max_argmax_vjp(primals, needs, **params):
    x, = primals
    out, idx = reduce_window_max_argmax_p.bind(x, **params)
    shape = shape_of(x)

    def backward(cts):
        ct = cts[0]
        return (None if ct is None else
                window_scatter_add_p.bind(ct, idx, operand_shape=shape, **params),)
    return [out, idx], backward


reduce_window_max_p.jvp, reduce_window_max_p.vjp = _max_jvp, _max_vjp
reduce_window_max_argmax_p.jvp = _max_argmax_jvp
reduce_window_max_argmax_p.vjp = _max_argmax_vjp


def _rows_apart(positions, resized=False):
    """`split_rows` of a windowed primitive: its first axis is a batch where the window
    neither spans, strides, dilates nor pads it (`resized`: `operand_shape` names its size)."""
    def split(params):
        if any(params[k][0] != 1 for k in ("window_dimensions", "window_strides",
                                           "window_dilation")) or \
                tuple(params["padding"][0]) != (0, 0):
            return None
        if resized:
            rest = tuple(params["operand_shape"][1:])
            return positions, lambda n: dict(params, operand_shape=(n,) + rest)
        return positions, lambda n: params
    return split


for _p in (reduce_window_sum_p, reduce_window_max_p, reduce_window_max_argmax_p):
    _p.split_rows = _rows_apart((0,))
reduce_window_sum_transpose_p.split_rows = _rows_apart((0,), resized=True)
window_gather_p.split_rows = _rows_apart((0, 1))
window_scatter_add_p.split_rows = _rows_apart((0, 1), resized=True)
window_gather_p.rows_compiled = window_scatter_add_p.rows_compiled = True


# ------------------------------------------------------------------ batching
def _with_unit_window(params, axis):
    """Params with a size-1, stride-1, unpadded window inserted at `axis` (a mapped axis)."""
    out = dict(params)
    for name, unit in (("window_dimensions", 1), ("window_strides", 1), ("padding", (0, 0)),
                       ("window_dilation", 1)):
        v = list(params[name])
        v.insert(axis, unit)
        out[name] = tuple(v)
    return out


def _batch_one(prim):
    def rule(vals, dims, **params):
        x, = vals
        d, = dims
        new = _with_unit_window(params, d)
        if "operand_shape" in params:
            s = list(params["operand_shape"])
            s.insert(d, shape_of(x)[d])
            new["operand_shape"] = tuple(s)
        out = prim.bind(x, **new)
        return out, [d] * len(out) if prim.multiple_results else d
    prim.batch = rule


def _batch_two(prim):
    """Batching for (values, argmax) primitives: both operands get the mapped axis in front."""
    def rule(vals, dims, **params):
        size = bdim_size(vals, dims)
        a, idx = (broadcast_batched(v, d, size) for v, d in zip(vals, dims))
        new = _with_unit_window(params, 0)
        if "operand_shape" in params:
            new["operand_shape"] = (size,) + tuple(params["operand_shape"])
        return prim.bind(a, idx, **new), 0
    prim.batch = rule


for _p in (reduce_window_sum_p, reduce_window_sum_transpose_p, reduce_window_max_p,
           reduce_window_max_argmax_p):
    _batch_one(_p)
for _p in (window_gather_p, window_scatter_add_p):
    _batch_two(_p)


# ------------------------------------------------------------------ user-facing
def _normalize(shape, window_dimensions, window_strides, padding, window_dilation):
    nd = len(shape)
    window_dimensions = tuple(int(k) for k in window_dimensions)
    window_strides = (1,) * nd if window_strides is None else \
        tuple(int(s) for s in window_strides)
    window_dilation = (1,) * nd if window_dilation is None else \
        tuple(int(d) for d in window_dilation)
    for name, v in (("window_dimensions", window_dimensions), ("window_strides", window_strides),
                    ("window_dilation", window_dilation)):
        if len(v) != nd or any(e < 1 for e in v):
            raise ValueError(f"reduce_window: {name} must be {nd} positive integers (one per "
                             f"axis of the operand of shape {tuple(shape)}), got {v}")
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "VALID":
            padding = ((0, 0),) * nd
        elif mode == "SAME":
            pairs = []
            for d, k, s, wd in zip(shape, window_dimensions, window_strides, window_dilation):
                total = max((-(-d // s) - 1) * s + (k - 1) * wd + 1 - d, 0)
                pairs.append((total // 2, total - total // 2))
            padding = tuple(pairs)
        else:
            raise ValueError(f"reduce_window: padding must be 'VALID', 'SAME' or (low, high) "
                             f"pairs, got {padding!r}")
    else:
        padding = tuple((int(lo), int(hi)) for lo, hi in padding)
        if len(padding) != nd:
            raise ValueError(f"reduce_window: padding needs {nd} (low, high) pairs, got "
                             f"{padding}")
    out = _out_shape(shape, window_dimensions, window_strides, padding, window_dilation)
    if any(o < 1 for o in out) and math.prod(shape):
        raise ValueError(f"reduce_window: window {window_dimensions} (dilation "
                         f"{window_dilation}) does not fit the operand of shape {tuple(shape)} "
                         f"with padding {padding}")
    return dict(window_dimensions=window_dimensions, window_strides=window_strides,
                padding=padding, window_dilation=window_dilation)


def reduce_window_max(operand, window_dimensions, window_strides=None, padding="VALID",
                      window_dilation=None):
    """Maximum over sliding windows (max pooling); padding counts as -inf."""
    return reduce_window_max_p.bind(operand, **_normalize(
        shape_of(operand), window_dimensions, window_strides, padding, window_dilation))


def reduce_window_sum(operand, window_dimensions, window_strides=None, padding="VALID",
                      window_dilation=None):
    """Sum over sliding windows (sum/average pooling); padding counts as 0."""
    return reduce_window_sum_p.bind(operand, **_normalize(
        shape_of(operand), window_dimensions, window_strides, padding, window_dilation))


def reduce_window(operand, init_value, computation, window_dimensions, window_strides=None,
                  padding="VALID", base_dilation=None, window_dilation=None):
    """`computation` (`lax.max` or `lax.add`) folded over sliding windows, starting from
    `init_value`, which must be that computation's identity (-inf or 0). `base_dilation`
    spreads the operand's elements apart first (the gaps hold `init_value`, so they count
    for nothing); padding then applies to the dilated operand."""
    from .elementwise import max as max_, add
    if computation in (max_, "max"):
        if init_value != _lowest(np.asarray(init_value).dtype) and init_value != -np.inf:
            raise ValueError(f"reduce_window with max needs init_value -inf, got {init_value}")
        reduce_fn = reduce_window_max
    elif computation in (add, "add"):
        if init_value != 0:
            raise ValueError(f"reduce_window with add needs init_value 0, got {init_value}")
        reduce_fn = reduce_window_sum
    else:
        raise NotImplementedError(f"reduce_window supports lax.max and lax.add, got "
                                  f"{computation!r}")
    if base_dilation is not None:
        base_dilation = tuple(int(d) for d in base_dilation)
        if len(base_dilation) != len(shape_of(operand)) or min(base_dilation, default=1) < 1:
            raise ValueError(f"reduce_window: base_dilation must be one positive integer per "
                             f"axis of the operand (shape {shape_of(operand)}), got "
                             f"{base_dilation}")
        identity = 0 if reduce_fn is reduce_window_sum else _lowest(dtype_of(operand))
        operand = pad(operand, np.asarray(identity, dtype_of(operand)),
                      [(0, 0, d - 1) for d in base_dilation])
    return reduce_fn(operand, window_dimensions, window_strides, padding, window_dilation)


__all__ = ["reduce_window", "reduce_window_max", "reduce_window_sum"]
