"""Convolution: `conv_general_dilated` (any number of spatial dimensions, strides, padding,
input and kernel dilation, feature groups, any dimension layout).

NumPy has no convolution kernel, so a convolution is one data-movement primitive plus a
matrix product. `conv_patches` (im2col) gathers every kernel window of the padded, dilated
input into a matrix through a strided view and a single copy, laid out as
`(C, *window, N, *out_spatial)`; the product with the kernel then runs per image on strided
views of it (BLAS reads them in place), giving `(N, O, *out_spatial)` directly. Its transpose,
`conv_patches_transpose` (col2im), adds patches back into image layout.

Both primitives are linear and each is the other's transpose, so every derivative comes from
them and `dot_general`: the kernel cotangent is `cotangent · patchesᵀ`, reusing the patches the
forward pass already built, and the input cotangent is `col2im(kernelᵀ · cotangent)`, which
moves far less data than convolving a dilated cotangent with the flipped kernel. Second
derivatives, forward mode and batching (the mapped axis folds into the batch axis) follow.
"""
from __future__ import annotations

import itertools
import math

from ..core import ShapedArray
from ._util import (primitive, def_linear, shape_of, dtype_of, moveaxis_to_front, wanted,
                    bdim_size)
from .dot import dot_general
from .elementwise import add
from .shape_ops import _pad_impl, reshape, transpose, moveaxis


# ------------------------------------------------------------------ geometry
def _out_spatial(in_spatial, window_shape, window_strides, padding, lhs_dilation,
                 rhs_dilation):
    """Output spatial sizes (may be < 1 for an impossible geometry; callers check)."""
    out = []
    for d, k, s, (lo, hi), ld, rd in zip(in_spatial, window_shape, window_strides, padding,
                                        lhs_dilation, rhs_dilation):
        dilated = (d - 1) * ld + 1 if d else 0
        span = dilated + lo + hi - ((k - 1) * rd + 1)
        out.append(span // s + 1 if span >= 0 else 0)
    return tuple(out)


class _Layout:
    """Where each window of the padded input lies, as element strides into the flattened
    padded buffer of layout (N, C, *padded), or (C, N, *padded) if `channel_major`.

    `wide` layouts put a window at every column of the last padded axis (stride 1 only):
    windows near the right edge run on into the next row, so that, with unit strides, one
    image's windows for a kernel offset are a single contiguous run and copies stream at
    memory speed. The caller drops the extra columns. Reading past the last row needs
    `tail` spare elements after the buffer."""

    def __init__(self, n, c, in_spatial, window_shape, window_strides, padding, lhs_dilation,
                 rhs_dilation, wide, channel_major=False):
        self.n, self.c, self.window_shape = n, c, tuple(window_shape)
        self.channel_major = channel_major
        self.padded = tuple((d - 1) * ld + 1 + lo + hi if d else lo + hi
                            for d, (lo, hi), ld in zip(in_spatial, padding, lhs_dilation))
        out = _out_spatial(in_spatial, window_shape, window_strides, padding, lhs_dilation,
                           rhs_dilation)
        self.out = out[:-1] + (self.padded[-1],) if wide else out
        self.tail = (window_shape[-1] - 1) * rhs_dilation[-1] if wide else 0
        image = math.prod(self.padded)
        self.spatial_strides = tuple(math.prod(self.padded[d + 1:])
                                     for d in range(len(self.padded)))
        self.n_stride, self.c_stride = (image, n * image) if channel_major else (c * image,
                                                                                  image)
        self.size = n * c * image
        self.window_strides, self.rhs_dilation = window_strides, rhs_dilation

    def windows(self, xp, flat, window_axes_first=False):
        """The strided view of every window: (C, *window, N, *out), or (*window, C, N, *out)
        with `window_axes_first`, over the flattened buffer `flat`."""
        window = tuple(s * d for s, d in zip(self.spatial_strides, self.rhs_dilation))
        out = tuple(s * w for s, w in zip(self.spatial_strides, self.window_strides))
        k = len(window)
        shape = (self.c, *self.window_shape, self.n, *self.out)
        strides = (self.c_stride, *window, self.n_stride, *out)
        if window_axes_first:
            order = [*range(1, 1 + k), 0, *range(1 + k, len(shape))]
            shape, strides = [shape[i] for i in order], [strides[i] for i in order]
        e = flat.itemsize
        return xp.lib.stride_tricks.as_strided(flat, tuple(shape), tuple(st * e for st in strides))


def _padded(xp, x, padding, lhs_dilation):
    """`x` (N, C, *S) with its spatial axes dilated and padded with zeros (a view if neither)."""
    if all(p == (0, 0) for p in padding) and all(d == 1 for d in lhs_dilation):
        return x
    config = [(0, 0, 0), (0, 0, 0)] + [(lo, hi, d - 1) for (lo, hi), d in
                                       zip(padding, lhs_dilation)]
    return _pad_impl(xp, x, 0, config)


def _window_offsets(window_shape):
    return itertools.product(*[range(k) for k in window_shape])


def _windows_of(xp, x, lay, padding, lhs_dilation):
    """The strided view `lay.windows` over the padded, dilated `x` (copied only if needed)."""
    buf = _padded(xp, x, padding, lhs_dilation)
    if lay.tail:
        flat = xp.zeros(lay.size + lay.tail, x.dtype)
        flat[:lay.size] = buf.reshape(-1)
    else:
        flat = xp.ascontiguousarray(buf).reshape(-1)
    return lay.windows(xp, flat)


def _scatter_layout(n, c, in_spatial, window_shape, window_strides, padding, lhs_dilation,
                    rhs_dilation, wide):
    """The layout col2im accumulates in: channel-major, the patches' own order, so each add
    walks both arrays alike; wide windows wrap across rows and images, so they need the
    forward's exact layout."""
    return _Layout(n, c, in_spatial, window_shape, window_strides, padding, lhs_dilation,
                   rhs_dilation, wide, channel_major=not wide)


def _images(xp, flat, lay, padding, lhs_dilation):
    """The (N, C, *S) view of the images col2im accumulated in `flat` (laid out by `lay`):
    the padding undone (a negative pad crops; a cropped element gets no cotangent) and the
    dilation's holes skipped."""
    buf = flat[:lay.size].reshape((lay.c, lay.n) + lay.padded if lay.channel_major
                                  else (lay.n, lay.c) + lay.padded)
    if lay.channel_major:
        buf = buf.swapaxes(0, 1)
    config = [(0, 0, 0), (0, 0, 0)] + [(-lo, -hi, 0) for lo, hi in padding]
    unpadded = _pad_impl(xp, buf, 0, config)
    return unpadded[(slice(None), slice(None)) + tuple(slice(None, None, d)
                                                       for d in lhs_dilation)]


# ------------------------------------------------------------------ conv_patches (im2col)
def _patches_impl(xp, x, window_shape, window_strides, padding, lhs_dilation, rhs_dilation,
                  wide, out=None):
    n, c = x.shape[:2]
    lay = _Layout(n, c, x.shape[2:], window_shape, window_strides, padding, lhs_dilation,
                  rhs_dilation, wide)
    windows = _windows_of(xp, x, lay, padding, lhs_dilation)
    if out is None:
        return xp.ascontiguousarray(windows)
    xp.copyto(out, windows)
    return out


def _patches_aval(x, window_shape, window_strides, padding, lhs_dilation, rhs_dilation, wide):
    lay = _Layout(x.shape[0], x.shape[1], x.shape[2:], window_shape, window_strides, padding,
                  lhs_dilation, rhs_dilation, wide)
    return ShapedArray((x.shape[1], *window_shape, x.shape[0], *lay.out), x.dtype)


conv_patches_p = primitive("conv_patches", _patches_impl, _patches_aval)
conv_patches_p.impl_out = True        # the compiler may pass a buffer for the patches


def _patches_batch(vals, dims, window_shape, **params):
    x, = vals
    x = moveaxis_to_front(x, dims[0])
    b, n = shape_of(x)[:2]
    p = conv_patches(reshape(x, (b * n,) + shape_of(x)[2:]), window_shape, **params)
    s = shape_of(p)
    nd = len(window_shape)
    return reshape(p, s[:1 + nd] + (b, n) + s[2 + nd:]), 1 + nd


conv_patches_p.batch = _patches_batch


def conv_patches(x, window_shape, window_strides, padding, lhs_dilation, rhs_dilation,
                 wide=False):
    """im2col: `x` (N, C, *S) -> `(C, *window_shape, N, *out_spatial)`, every window of the
    padded, dilated input (all arguments per spatial axis; padding as (low, high) pairs).
    With `wide`, the last output axis has one window per padded column (see `_Layout`)."""
    return conv_patches_p.bind(x, window_shape=window_shape, window_strides=window_strides,
                               padding=padding, lhs_dilation=lhs_dilation,
                               rhs_dilation=rhs_dilation, wide=wide)


# ------------------------------------------------------------------ its transpose (col2im)
def _patches_transpose_impl(xp, p, input_shape, window_shape, window_strides, padding,
                            lhs_dilation, rhs_dilation, wide):
    lay = _scatter_layout(*input_shape[:2], input_shape[2:], window_shape, window_strides,
                          padding, lhs_dilation, rhs_dilation, wide)
    flat = xp.zeros(lay.size + lay.tail, p.dtype)
    _accumulate(xp, lay.windows(xp, flat, window_axes_first=True), p, slice(None),
                window_shape)
    return _images(xp, flat, lay, padding, lhs_dilation)


def _accumulate(xp, targets, p, images, window_shape):
    """Add patches `p` (C, *window, N', *out) into the windows `targets` (*window, C, N, *out)
    of the images `images` (a slice of N)."""
    sources = xp.moveaxis(p, 0, len(window_shape))     # (*window, C, N', *out), a view
    for k in _window_offsets(window_shape):
        t = targets[k][:, images]
        xp.add(t, sources[k], out=t)


def _patches_transpose_aval(p, input_shape, **params):
    return ShapedArray(input_shape, p.dtype)


conv_patches_transpose_p = primitive("conv_patches_transpose", _patches_transpose_impl,
                                     _patches_transpose_aval)


def _patches_transpose_batch(vals, dims, input_shape, window_shape, **params):
    p, = vals
    nd = len(window_shape)
    p = moveaxis(p, dims[0], 1 + nd)              # next to the batch axis N
    s = shape_of(p)
    b, n = s[1 + nd], s[2 + nd]
    x = conv_patches_transpose(reshape(p, s[:1 + nd] + (b * n,) + s[3 + nd:]),
                               (b * n,) + tuple(input_shape[1:]), window_shape, **params)
    return reshape(x, (b,) + tuple(input_shape)), 0


conv_patches_transpose_p.batch = _patches_transpose_batch


def conv_patches_transpose(p, input_shape, window_shape, window_strides, padding, lhs_dilation,
                           rhs_dilation, wide=False):
    """col2im: the transpose of `conv_patches`; sums patches back into `input_shape`."""
    return conv_patches_transpose_p.bind(
        p, input_shape=tuple(input_shape), window_shape=window_shape,
        window_strides=window_strides, padding=padding, lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation, wide=wide)


def_linear(conv_patches_p, lambda ct, aval, **params:
           conv_patches_transpose(ct, aval.shape, **params))
def_linear(conv_patches_transpose_p, lambda ct, aval, input_shape, **params:
           conv_patches(ct, **params))


# ------------------------------------------------------------------ dimension numbers
def conv_dimension_numbers(lhs_ndim, rhs_ndim, dimension_numbers):
    """`(lhs_spec, rhs_spec, out_spec)`: for each operand, the axis of (batch or out-feature,
    feature or in-feature, *spatial). Accepts None (NCHW / OIHW / NCHW for any rank), a triple
    of layout strings such as ("NHWC", "HWIO", "NHWC"), or a triple of axis tuples."""
    if lhs_ndim != rhs_ndim or lhs_ndim < 2:
        raise ValueError(f"conv_general_dilated: lhs and rhs must have the same rank >= 2, got "
                         f"ranks {lhs_ndim} and {rhs_ndim}")
    nd = lhs_ndim - 2
    if dimension_numbers is None:
        canonical = tuple(range(lhs_ndim))
        return canonical, canonical, canonical
    if len(dimension_numbers) != 3:
        raise ValueError("conv_general_dilated: dimension_numbers must be (lhs_spec, rhs_spec, "
                         f"out_spec), got {dimension_numbers!r}")
    lhs, rhs, out = dimension_numbers
    if all(isinstance(s, str) for s in dimension_numbers):
        for spec, name in ((lhs, "lhs"), (rhs, "rhs"), (out, "out")):
            if len(spec) != lhs_ndim or len(set(spec)) != lhs_ndim:
                raise ValueError(f"conv_general_dilated: {name} layout {spec!r} must name each "
                                 f"of the {lhs_ndim} axes once")
        spatial = [ch for ch in rhs if ch not in "OI"]
        if len(spatial) != nd or set(spatial) != set(lhs) - {"N", "C"} or \
                set(spatial) != set(out) - {"N", "C"}:
            raise ValueError(f"conv_general_dilated: layouts {dimension_numbers!r} do not name "
                             "the same spatial axes (use N and C for lhs/out, O and I for rhs)")
        return (tuple([lhs.index("N"), lhs.index("C")] + [lhs.index(ch) for ch in spatial]),
                tuple([rhs.index("O"), rhs.index("I")] + [rhs.index(ch) for ch in spatial]),
                tuple([out.index("N"), out.index("C")] + [out.index(ch) for ch in spatial]))
    specs = tuple(tuple(int(a) for a in s) for s in dimension_numbers)
    for s in specs:
        if sorted(s) != list(range(lhs_ndim)):
            raise ValueError(f"conv_general_dilated: {s} is not a permutation of the "
                             f"{lhs_ndim} axes")
    return specs


def _padding_pairs(padding, in_spatial, window_shape, window_strides, rhs_dilation):
    if isinstance(padding, str):
        mode = padding.upper()
        if mode == "VALID":
            return ((0, 0),) * len(in_spatial)
        if mode not in ("SAME", "SAME_LOWER"):
            raise ValueError(f"conv padding must be 'VALID', 'SAME', 'SAME_LOWER' or (low, high) "
                             f"pairs, got {padding!r}")
        pairs = []
        for d, k, s, rd in zip(in_spatial, window_shape, window_strides, rhs_dilation):
            out = -(-d // s)
            total = max((out - 1) * s + (k - 1) * rd + 1 - d, 0)
            small, big = total // 2, total - total // 2
            pairs.append((small, big) if mode == "SAME" else (big, small))
        return tuple(pairs)
    pairs = tuple((int(lo), int(hi)) for lo, hi in padding)
    if len(pairs) != len(in_spatial):
        raise ValueError(f"conv padding has {len(pairs)} (low, high) pairs for "
                         f"{len(in_spatial)} spatial axes")
    return pairs


def _per_axis(value, nd, name):
    if value is None:
        return (1,) * nd
    value = tuple(int(v) for v in value)
    if len(value) != nd or any(v < 1 for v in value):
        raise ValueError(f"conv_general_dilated: {name} must be {nd} positive integers (one per "
                         f"spatial axis), got {value}")
    return value


# ------------------------------------------------------------------ the blocked kernels
_CHUNK_BYTES = 1 << 19          # patches taken this many bytes at a time stay in cache
_SCATTER_CHUNK_BYTES = 1 << 22  # col2im: fewer, larger chunks (one add per window offset each)


class _Geometry:
    """One convolution, for its three kernels: input (N, C, *S), kernel (O, I, *K) in
    `groups` groups, output (N, O, *out). Its patches (G, k, N * m), k = I * prod(K), are
    built `chunk` images at a time, while they are in cache (all at once on backends other
    than NumPy, where one large product beats many small ones); `cols` (m in all) are the
    output positions of one image, wide ones (see `_Layout`) for short output rows."""

    def __init__(self, input_shape, kernel_shape, strides, padding, lhs_dilation,
                 rhs_dilation, groups, itemsize, whole):
        n, c, in_sp = input_shape[0], input_shape[1], input_shape[2:]
        self.n, self.c, self.o, self.g = n, c, kernel_shape[0], groups
        self.window = window = tuple(kernel_shape[2:])
        self.padding, self.lhs_dilation = padding, lhs_dilation
        self.out = _out_spatial(in_sp, window, strides, padding, lhs_dilation, rhs_dilation)
        # output rows copy slowly (one inner loop per row): take windows at every padded
        # column instead, so each copy is one long run, and drop the extra columns afterwards
        # (when they are fewer than the real ones)
        padded_last = padding[-1][0] + padding[-1][1] + (in_sp[-1] - 1) * lhs_dilation[-1] + 1 \
            if in_sp else 0
        self.wide = len(window) >= 2 and all(s == 1 for s in strides) and \
            padded_last <= 2 * self.out[-1]
        self.lay = _Layout(n, c, in_sp, window, strides, padding, lhs_dilation, rhs_dilation,
                           self.wide)
        self.scatter = _scatter_layout(n, c, in_sp, window, strides, padding, lhs_dilation,
                                       rhs_dilation, self.wide)
        self.cols = self.lay.out
        self.m = math.prod(self.cols)
        self.k = c // groups * math.prod(window)
        per_image = max(c * math.prod(window) * self.m * itemsize, 1)
        self.chunk, self.scatter_chunk = (
            max(1, n) if whole else max(1, min(n, limit // per_image))
            for limit in (_CHUNK_BYTES, _SCATTER_CHUNK_BYTES))

    def chunks(self, size):
        return [(n0, min(size, self.n - n0)) for n0 in range(0, self.n, size)]

    def patches(self, xp, windows, n0, nb, scratch):
        """The patches of images n0 .. n0+nb as (G, k, nb * m), copied into `scratch`."""
        p = scratch[:self.g * self.k * nb * self.m].reshape(
            (self.c,) + self.window + (nb,) + self.cols)
        xp.copyto(p, windows[(slice(None),) * (1 + len(self.window)) + (slice(n0, n0 + nb),)])
        return p.reshape(self.g, self.k, nb * self.m)

    def columns(self, xp, y, n0, nb, scratch):
        """Images n0 .. n0+nb of `y` (N, O, *out) as (G, O/G, nb * m) in `scratch`, zero in
        the extra wide columns."""
        d = scratch[:self.o * nb * self.m].reshape((self.o, nb) + self.cols)
        images = y[n0:n0 + nb].swapaxes(0, 1)
        if self.wide:
            d[..., self.out[-1]:] = 0
            d = d[..., :self.out[-1]]
        xp.copyto(d, images)
        return scratch[:self.o * nb * self.m].reshape(self.g, self.o // self.g, nb * self.m)

    def store(self, xp, r, out, n0, nb):
        """Products `r` (G, O/G, nb * m) into images n0 .. n0+nb of `out` (N, O, *out)."""
        images = r.reshape((self.o, nb) + self.cols).swapaxes(0, 1)
        if self.wide:
            images = images[..., :self.out[-1]]
        xp.copyto(out[n0:n0 + nb], images)


_geometries = {}


def _geometry(xp, input_shape, kernel_shape, dtype, window_strides, padding, lhs_dilation,
              rhs_dilation, feature_group_count):
    key = (xp.__name__, tuple(input_shape), tuple(kernel_shape), dtype.itemsize,
           window_strides, padding, lhs_dilation, rhs_dilation, feature_group_count)
    geo = _geometries.get(key)
    if geo is None:
        if len(_geometries) > 256:
            _geometries.clear()
        geo = _geometries[key] = _Geometry(input_shape, kernel_shape, window_strides, padding,
                                           lhs_dilation, rhs_dilation, feature_group_count,
                                           dtype.itemsize, xp.__name__ != "numpy")
    return geo


def _conv_impl(xp, x, w, out=None, **geometry):
    geo = _geometry(xp, x.shape, w.shape, x.dtype, **geometry)
    if out is None:
        out = xp.empty((geo.n, geo.o) + geo.out, x.dtype)
    windows = _windows_of(xp, x, geo.lay, geo.padding, geo.lhs_dilation)
    kernel = w.reshape(geo.g, geo.o // geo.g, geo.k)
    patches = xp.empty(geo.g * geo.k * geo.chunk * geo.m, x.dtype)
    products = xp.empty(geo.o * geo.chunk * geo.m, x.dtype)
    for n0, nb in geo.chunks(geo.chunk):
        p = geo.patches(xp, windows, n0, nb, patches)
        r = products[:geo.o * nb * geo.m].reshape(geo.g, geo.o // geo.g, nb * geo.m)
        xp.matmul(kernel, p, out=r)
        geo.store(xp, r, out, n0, nb)
    return out


def _kernel_grad_impl(xp, x, dy, kernel_shape, out=None, **geometry):
    geo = _geometry(xp, x.shape, kernel_shape, x.dtype, **geometry)
    if out is None:
        out = xp.empty(kernel_shape, x.dtype)
    total = out.reshape(geo.g, geo.o // geo.g, geo.k)
    windows = _windows_of(xp, x, geo.lay, geo.padding, geo.lhs_dilation)
    patches = xp.empty(geo.g * geo.k * geo.chunk * geo.m, x.dtype)
    columns = xp.empty(geo.o * geo.chunk * geo.m, x.dtype)
    part = xp.empty_like(total)
    total[...] = 0
    for n0, nb in geo.chunks(geo.chunk):
        p = geo.patches(xp, windows, n0, nb, patches)
        d = geo.columns(xp, dy, n0, nb, columns)
        xp.matmul(d, p.swapaxes(1, 2), out=part)
        xp.add(total, part, out=total)
    return out


def _input_grad_impl(xp, dy, w, input_shape, out=None, **geometry):
    geo = _geometry(xp, input_shape, w.shape, dy.dtype, **geometry)
    lay = geo.scatter
    flat = xp.zeros(lay.size + lay.tail, dy.dtype)
    targets = lay.windows(xp, flat, window_axes_first=True)
    kernel_t = w.reshape(geo.g, geo.o // geo.g, geo.k).swapaxes(1, 2)     # (G, k, O/G)
    columns = xp.empty(geo.o * geo.scatter_chunk * geo.m, dy.dtype)
    patches = xp.empty(geo.g * geo.k * geo.scatter_chunk * geo.m, dy.dtype)
    for n0, nb in geo.chunks(geo.scatter_chunk):
        d = geo.columns(xp, dy, n0, nb, columns)
        p = patches[:geo.g * geo.k * nb * geo.m].reshape(geo.g, geo.k, nb * geo.m)
        xp.matmul(kernel_t, d, out=p)
        _accumulate(xp, targets, p.reshape((geo.c,) + geo.window + (nb,) + geo.cols),
                    slice(n0, n0 + nb), geo.window)
    images = _images(xp, flat, lay, geo.padding, geo.lhs_dilation)
    if out is None:
        return xp.ascontiguousarray(images)
    xp.copyto(out, images)
    return out


def _conv_aval(x, w, window_strides, padding, lhs_dilation, rhs_dilation,
               feature_group_count):
    out = _out_spatial(x.shape[2:], w.shape[2:], window_strides, padding, lhs_dilation,
                       rhs_dilation)
    return ShapedArray((x.shape[0], w.shape[0]) + out, x.dtype)


conv_p = primitive("conv_general_dilated", _conv_impl, _conv_aval)
conv_input_grad_p = primitive("conv_input_grad", _input_grad_impl,
                              lambda dy, w, input_shape, **geometry:
                              ShapedArray(input_shape, dy.dtype))
conv_kernel_grad_p = primitive("conv_kernel_grad", _kernel_grad_impl,
                               lambda x, dy, kernel_shape, **geometry:
                               ShapedArray(kernel_shape, x.dtype))
for _p in (conv_p, conv_input_grad_p, conv_kernel_grad_p):
    _p.impl_out = True            # the compiler may pass the buffer for the result


# ------------------------------------------------------------------ their rules
# Each primitive is bilinear in its two operands, and their transposes are each other:
# conv(x, w) -> y; input_grad(dy, w) -> x; kernel_grad(x, dy) -> w.
def _conv(x, w, **geometry):
    return conv_p.bind(x, w, **geometry)


def _input_grad(dy, w, input_shape, **geometry):
    return conv_input_grad_p.bind(dy, w, input_shape=tuple(input_shape), **geometry)


def _kernel_grad(x, dy, kernel_shape, **geometry):
    return conv_kernel_grad_p.bind(x, dy, kernel_shape=tuple(kernel_shape), **geometry)


def _bilinear(prim, transpose_left, transpose_right):
    """Forward and reverse rules of `prim`, bilinear in its operands (a, b), from the
    cotangents `transpose_left(ct, a, b, **params)` of a and `transpose_right` of b."""
    def jvp(primals, tangents, **params):
        a, b = primals
        ta, tb = tangents
        terms = []
        if ta is not None:
            terms.append(prim.bind(ta, b, **params))
        if tb is not None:
            terms.append(prim.bind(a, tb, **params))
        return prim.bind(a, b, **params), (add(*terms) if len(terms) == 2 else
                                           terms[0] if terms else None)

    def vjp(primals, needs, **params):
        a, b = primals
        want_a, want_b = wanted(needs, primals)
        return prim.bind(a, b, **params), lambda ct: (
            transpose_left(ct, a, b, **params) if want_a else None,
            transpose_right(ct, a, b, **params) if want_b else None)
    prim.jvp, prim.vjp = jvp, vjp


_bilinear(conv_p,
          lambda ct, x, w, **g: _input_grad(ct, w, shape_of(x), **g),
          lambda ct, x, w, **g: _kernel_grad(x, ct, shape_of(w), **g))
_bilinear(conv_input_grad_p,
          lambda ct, dy, w, input_shape, **g: _conv(ct, w, **g),
          lambda ct, dy, w, input_shape, **g: _kernel_grad(ct, dy, shape_of(w), **g))
_bilinear(conv_kernel_grad_p,
          lambda ct, x, dy, kernel_shape, **g: _input_grad(dy, ct, shape_of(x), **g),
          lambda ct, x, dy, kernel_shape, **g: _conv(x, ct, **g))


# ------------------------------------------------------------------ batching
# A batch of images with one kernel folds into the image axis N. Anything else (a batch of
# kernels, per-example kernel gradients) runs as the same linear maps written with patches
# and matrix products, which batch.
def _patch_params(geometry):
    return {k: v for k, v in geometry.items() if k != "feature_group_count"}


def _patches_matrix(x, window, geometry):
    """im2col of `x` as (G, k, N * m)."""
    g = geometry["feature_group_count"]
    p = conv_patches(x, tuple(window), wide=False, **_patch_params(geometry))
    s = shape_of(p)
    return reshape(p, (g, s[0] // g * math.prod(window), math.prod(s[1 + len(window):])))


def _columns(y, g):
    """(N, O, *out) -> (G, O/G, N * m)."""
    s = shape_of(y)
    return reshape(moveaxis(y, 0, 1), (g, s[1] // g, s[0] * math.prod(s[2:])))


def _conv_by_patches(x, w, **geometry):
    g, (n, o) = geometry["feature_group_count"], (shape_of(x)[0], shape_of(w)[0])
    p = _patches_matrix(x, shape_of(w)[2:], geometry)
    y = dot_general(reshape(w, (g, o // g, shape_of(p)[1])), p, (((2,), (1,)), ((0,), (0,))))
    out = _out_spatial(shape_of(x)[2:], shape_of(w)[2:], geometry["window_strides"],
                       geometry["padding"], geometry["lhs_dilation"], geometry["rhs_dilation"])
    return moveaxis(reshape(y, (o, n) + out), 0, 1)


def _input_grad_by_patches(dy, w, input_shape, **geometry):
    g, ws = geometry["feature_group_count"], shape_of(w)
    window = tuple(ws[2:])
    p = dot_general(reshape(w, (g, ws[0] // g, ws[1] * math.prod(window))), _columns(dy, g),
                    (((1,), (1,)), ((0,), (0,))))
    p = reshape(p, (input_shape[1],) + window + (input_shape[0],) + tuple(shape_of(dy)[2:]))
    return conv_patches_transpose(p, input_shape, window, wide=False,
                                  **_patch_params(geometry))


def _kernel_grad_by_patches(x, dy, kernel_shape, **geometry):
    g = geometry["feature_group_count"]
    p = _patches_matrix(x, kernel_shape[2:], geometry)
    return reshape(dot_general(_columns(dy, g), p, (((2,), (2,)), ((0,), (0,)))), kernel_shape)


def _folded(x, d):
    """`x` with its batch axis `d` merged into its leading axis N, and (B, N)."""
    x = moveaxis_to_front(x, d)
    s = shape_of(x)
    return reshape(x, (s[0] * s[1],) + tuple(s[2:])), s[:2]


def _batched_by_patches(by_patches):
    def rule(vals, dims, **params):
        from ..interpreters.batching import vmap_flat
        out, = vmap_flat(lambda a, b: [by_patches(a, b, **params)], list(vals), list(dims),
                         bdim_size(vals, dims), [0])
        return out, 0
    return rule


def _conv_batch(vals, dims, **geometry):
    (x, w), (dx, dw) = vals, dims
    if dw is not None:
        return _batched_by_patches(_conv_by_patches)(vals, dims, **geometry)
    x, (b, n) = _folded(x, dx)
    y = _conv(x, w, **geometry)
    return reshape(y, (b, n) + tuple(shape_of(y)[1:])), 0


def _input_grad_batch(vals, dims, input_shape, **geometry):
    (dy, w), (ddy, dw) = vals, dims
    if dw is not None:
        return _batched_by_patches(_input_grad_by_patches)(vals, dims, input_shape=input_shape,
                                                           **geometry)
    dy, (b, n) = _folded(dy, ddy)
    x = _input_grad(dy, w, (b * n,) + tuple(input_shape[1:]), **geometry)
    return reshape(x, (b,) + tuple(input_shape)), 0


conv_p.batch = _conv_batch
conv_input_grad_p.batch = _input_grad_batch
conv_kernel_grad_p.batch = _batched_by_patches(_kernel_grad_by_patches)


# ------------------------------------------------------------------ the convolution
def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1):
    """General N-d convolution (cross-correlation, as in every deep-learning library).

    `lhs` is the input, `rhs` the kernel; `window_strides`, `lhs_dilation` (transposed
    convolution) and `rhs_dilation` (atrous) have one entry per spatial axis; `padding` is
    'VALID', 'SAME', 'SAME_LOWER' or one (low, high) pair per spatial axis (negative crops);
    `dimension_numbers` gives the layouts (default NCHW input, OIHW kernel, NCHW output);
    `feature_group_count` splits input and output channels into groups.
    """
    lhs_spec, rhs_spec, out_spec = conv_dimension_numbers(
        len(shape_of(lhs)), len(shape_of(rhs)), dimension_numbers)
    x = transpose(lhs, lhs_spec)                 # (N, C, *S)
    w = transpose(rhs, rhs_spec)                 # (O, I, *K)
    xs, ws = shape_of(x), shape_of(w)
    nd = len(xs) - 2
    c, in_sp = xs[1], xs[2:]
    o, i, window = ws[0], ws[1], ws[2:]
    g = int(feature_group_count)
    if g < 1 or c != i * g or o % g:
        raise ValueError(
            f"conv_general_dilated: the input has {c} feature channels (lhs shape "
            f"{shape_of(lhs)}) but the kernel (rhs shape {shape_of(rhs)}) takes {i} input "
            f"channels per group and has {o} output channels with feature_group_count={g}; "
            "need input channels == kernel input channels * groups and output channels "
            "divisible by groups")
    if dtype_of(lhs) != dtype_of(rhs):
        raise TypeError(f"conv_general_dilated: lhs is {dtype_of(lhs)} but rhs is "
                        f"{dtype_of(rhs)}; convert one with .astype()")
    strides = _per_axis(window_strides, nd, "window_strides")
    ld = _per_axis(lhs_dilation, nd, "lhs_dilation")
    rd = _per_axis(rhs_dilation, nd, "rhs_dilation")
    dilated_in = tuple((d - 1) * dil + 1 for d, dil in zip(in_sp, ld))
    pads = _padding_pairs(padding, dilated_in, window, strides, rd)
    out_sp = _out_spatial(in_sp, window, strides, pads, ld, rd)
    if any(s < 1 for s in out_sp):
        raise ValueError(
            f"conv_general_dilated: the kernel window {tuple(window)} (dilation {rd}) does not "
            f"fit the input's spatial shape {tuple(in_sp)} with padding {pads}; the output "
            f"would have spatial shape {out_sp}. Pad the input or use a smaller kernel.")
    out = _conv(x, w, window_strides=strides, padding=pads, lhs_dilation=ld,
                rhs_dilation=rd, feature_group_count=g)
    perm = [0] * (nd + 2)
    perm[out_spec[0]], perm[out_spec[1]] = 0, 1
    for d in range(nd):
        perm[out_spec[2 + d]] = 2 + d
    return transpose(out, perm)


__all__ = ["conv_general_dilated", "conv_dimension_numbers", "conv_patches",
           "conv_patches_transpose"]
