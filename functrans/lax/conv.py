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
from ._util import primitive, def_linear, shape_of, dtype_of, moveaxis_to_front
from .dot import dot_general
from .shape_ops import _pad_impl, reshape, transpose, moveaxis, slice_in_dim, broadcast_in_dim

_WIDE_BELOW = 16      # output rows shorter than this use the wide patches layout


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

    def windows(self, xp, flat):
        """The strided view of every window, (C, *window, N, *out), over the flattened
        buffer `flat`."""
        window = tuple(s * d for s, d in zip(self.spatial_strides, self.rhs_dilation))
        out = tuple(s * w for s, w in zip(self.spatial_strides, self.window_strides))
        shape = (self.c, *self.window_shape, self.n, *self.out)
        strides = (self.c_stride, *window, self.n_stride, *out)
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


# ------------------------------------------------------------------ conv_patches (im2col)
def _patches_impl(xp, x, window_shape, window_strides, padding, lhs_dilation, rhs_dilation,
                  wide, out=None):
    n, c = x.shape[:2]
    lay = _Layout(n, c, x.shape[2:], window_shape, window_strides, padding, lhs_dilation,
                  rhs_dilation, wide)
    buf = _padded(xp, x, padding, lhs_dilation)
    if lay.tail:
        flat = xp.zeros(lay.size + lay.tail, x.dtype)
        flat[:lay.size] = buf.reshape(-1)
    else:
        flat = xp.ascontiguousarray(buf).reshape(-1)
    if out is None:
        return xp.ascontiguousarray(lay.windows(xp, flat))
    xp.copyto(out, lay.windows(xp, flat))
    return out


def _patches_aval(x, window_shape, window_strides, padding, lhs_dilation, rhs_dilation, wide):
    lay = _Layout(x.shape[0], x.shape[1], x.shape[2:], window_shape, window_strides, padding,
                  lhs_dilation, rhs_dilation, wide)
    return ShapedArray((x.shape[1], *window_shape, x.shape[0], *lay.out), x.dtype)


conv_patches_p = primitive("conv_patches", _patches_impl, _patches_aval)
conv_patches_p.impl_out = True        # the compiler may pass the buffer for the patches


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
    n, c = input_shape[:2]
    nd = len(window_shape)
    # accumulate channel-major, the patches' own order, so each add walks both arrays alike;
    # wide windows wrap across rows and images, so they need the forward's exact layout
    lay = _Layout(n, c, input_shape[2:], window_shape, window_strides, padding, lhs_dilation,
                  rhs_dilation, wide, channel_major=not wide)
    block = ((n, c) if wide else (c, n)) + lay.padded
    # each offset's targets are a plain view (a shifted block of the buffer, sliced): numpy
    # adds into it in place, whereas it copies an as_strided target, unable to rule out overlap
    shifts = [sum(i * d * st for i, d, st in zip(k, rhs_dilation, lay.spatial_strides))
              for k in _window_offsets(window_shape)]
    picks = (slice(None), slice(None)) + tuple(slice(0, (o - 1) * st + 1, st)
                                               for o, st in zip(lay.out, window_strides))
    flat = xp.zeros(lay.size + shifts[-1], p.dtype)
    sources = xp.moveaxis(p, 0, nd)          # (*window, C, N, *out), a view
    for k, shift in zip(_window_offsets(window_shape), shifts):
        target = flat[shift:shift + lay.size].reshape(block)[picks]
        source = sources[k].swapaxes(0, 1) if wide else sources[k]
        xp.add(target, source, out=target)
    buf = flat[:lay.size].reshape(block)
    if not wide:
        buf = buf.swapaxes(0, 1)
    # undo the padding (a negative pad crops; a cropped input element gets no cotangent)
    config = [(0, 0, 0), (0, 0, 0)] + [(-lo, -hi, 0) for lo, hi in padding]
    unpadded = _pad_impl(xp, buf, 0, config)
    return unpadded[(slice(None), slice(None)) + tuple(slice(None, None, d)
                                                       for d in lhs_dilation)]


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
    n, c, in_sp = xs[0], xs[1], xs[2:]
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
    # short output rows copy slowly (one inner loop per row): then take windows at every
    # padded column, so each copy is one long run, and drop the extra columns afterwards
    wide = nd >= 2 and all(s == 1 for s in strides) and out_sp[-1] < _WIDE_BELOW and \
        pads[-1][0] + pads[-1][1] + dilated_in[-1] <= 2 * out_sp[-1]
    patches = conv_patches(x, tuple(window), strides, pads, ld, rd, wide)
    cols = shape_of(patches)[2 + nd:]
    k, m = i * math.prod(window), math.prod(cols)
    # one matrix product per image, reading each image's patches in place (a strided view)
    # and the kernel broadcast over the batch: the output comes out (N, O, ...) contiguous and
    # the cotangent needs no re-layout; the kernel's cotangent sums the per-image products
    dims = (((3,), (1,)), ((0, 1), (2, 0)))
    kernel = broadcast_in_dim(reshape(w, (g, o // g, k)), (n, g, o // g, k), (1, 2, 3))
    out = dot_general(kernel, reshape(patches, (g, k, n, m)), dims)      # (N, G, O/G, M)
    out = reshape(out, (n, o) + cols)
    if wide:
        out = slice_in_dim(out, 0, out_sp[-1], axis=-1)
    perm = [0] * (nd + 2)
    perm[out_spec[0]], perm[out_spec[1]] = 0, 1
    for d in range(nd):
        perm[out_spec[2 + d]] = 2 + d
    return transpose(out, perm)


__all__ = ["conv_general_dilated", "conv_dimension_numbers", "conv_patches",
           "conv_patches_transpose"]
