"""Convolution: `conv_general_dilated` (any number of spatial dimensions, strides, padding,
input and kernel dilation, feature groups, any dimension layout).

NumPy has no convolution kernel, so a convolution is data-movement primitives plus a matrix
product. `conv_patches` (im2col) gathers every kernel window of the padded, dilated input into
a matrix through a strided view and a single copy, laid out as `(C, *window, N, *out_spatial)`;
the product with the kernel then runs per image on strided views of it (BLAS reads them in
place), giving `(N, O, *out_spatial)` directly. Its transpose, `conv_patches_transpose`
(col2im), adds patches back into image layout.

When there are two or more spatial axes and the last has a kernel wider than 1, unit stride
and no input dilation (the common case), the patches cover every axis but the last (row
patches: a window of width 1 there, so rows of the padded input, copied in long runs and a
kernel-width times smaller than full patches); the matrix product runs with the kernel's
columns folded into its output rows, `(KW * O, C * KH)`, and `shifted_sum` adds each column's
partial result, shifted by its offset, into the output. The products are better shaped for
BLAS (KW times more rows), and far less data moves. With few output columns per image (small
feature maps) the row path runs one product over all images at once instead of one per image
(`PER_IMAGE_COLUMNS`), its patches put the images inside the rows (`images_axis`: each
kernel row's patches, and each offset's sum in col2im, become long runs of memory),
consecutive rows share their padding (one gap of zeros is the right padding of a row and the
left of the next, so the products compute fewer columns that are thrown away: `shifted_sum`
runs on across rows), and `shifted_sum` brings the images to the front as it sums; so do
the full patches, whose product is then transposed. With very few input channels (a grey
image) the full patches move less data than the row path's KW-times-larger products
(`ROW_MIN_CONTRACTION`).

With compiled loops (numba installed; `functrans.backends.numba_jit`), `shifted_sum` adds row by
row in one loop, the same sums in the same order.

All three primitives are linear: `conv_patches` and `conv_patches_transpose` are each other's
transpose, as are `shifted_sum` and `shifted_spread`; so every derivative comes from them and
`dot_general`: the kernel cotangent reuses the patches the forward pass built, and the input
cotangent is col2im of a product, which moves far less data than convolving a dilated
cotangent with the flipped kernel. Second derivatives, forward mode and batching (the mapped
axis folds into the batch axis) follow.
"""
from __future__ import annotations

import collections
import itertools
import math


from ..backends import numba_jit
from ..core import ShapedArray, on_operand_device
from ._util import primitive, def_linear, shape_of, dtype_of, moveaxis_to_front
from .dot import dot_general, with_preferred_type
from .precision import check_precision
from .shape_ops import pad_kernel, reshape, transpose, moveaxis, broadcast_in_dim
from .transfer import place


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
    padded buffer of layout (N, C, *padded), or, if `channel_major`, (C, *padded) with the
    images' axis N inserted before padded axis `images_axis` (patches then have N at that
    place among their output axes too)."""

    def __init__(self, n, c, in_spatial, window_shape, window_strides, padding, lhs_dilation,
                 rhs_dilation, channel_major=False, images_axis=0):
        self.n, self.c, self.window_shape = n, c, tuple(window_shape)
        self.padded = tuple((d - 1) * ld + 1 + lo + hi if d else lo + hi
                            for d, (lo, hi), ld in zip(in_spatial, padding, lhs_dilation))
        self.out = _out_spatial(in_spatial, window_shape, window_strides, padding, lhs_dilation,
                                rhs_dilation)
        self.images_axis = a = images_axis
        spatial = list(range(len(self.padded)))
        axes = ["c", *spatial[:a], "n", *spatial[a:]] if channel_major else ["n", "c", *spatial]
        sizes = {"n": n, "c": c, **dict(enumerate(self.padded))}
        self.block = tuple(sizes[ax] for ax in axes)
        strides = {ax: math.prod(self.block[i + 1:]) for i, ax in enumerate(axes)}
        self.c_stride, self.n_stride = strides["c"], strides["n"]
        self.spatial_strides = tuple(strides[d] for d in range(len(self.padded)))
        self.size = math.prod(self.block)
        self.window_strides, self.rhs_dilation = window_strides, rhs_dilation

    def patches_shape(self):
        a = self.images_axis
        return (self.c, *self.window_shape, *self.out[:a], self.n, *self.out[a:])

    def windows(self, xp, flat):
        """The strided view of every window, `patches_shape()`, over the flattened buffer
        `flat`."""
        a = self.images_axis
        window = tuple(s * d for s, d in zip(self.spatial_strides, self.rhs_dilation))
        out = tuple(s * w for s, w in zip(self.spatial_strides, self.window_strides))
        strides = (self.c_stride, *window, *out[:a], self.n_stride, *out[a:])
        e = flat.itemsize
        return xp.lib.stride_tricks.as_strided(flat, self.patches_shape(),
                                               tuple(st * e for st in strides))


def _padded(xp, x, padding, lhs_dilation, images_axis=0):
    """`x` (N, C, *S) with its spatial axes dilated and padded with zeros (a view if neither);
    with `images_axis`, laid out (C, *S) with N before spatial axis `images_axis`."""
    spatial = [(lo, hi, d - 1) for (lo, hi), d in zip(padding, lhs_dilation)]
    if images_axis:
        nd = len(padding)
        x = x.transpose((1, *range(2, 2 + images_axis), 0, *range(2 + images_axis, 2 + nd)))
        spatial.insert(images_axis, (0, 0, 0))
        config = [(0, 0, 0)] + spatial
    else:
        config = [(0, 0, 0), (0, 0, 0)] + spatial
    if all(c == (0, 0, 0) for c in config):
        return x
    return pad_kernel(xp, x, 0, config)


def _window_offsets(window_shape):
    return itertools.product(*[range(k) for k in window_shape])


# ------------------------------------------------------------------ conv_patches (im2col)
def _patches_impl(xp, x, window_shape, window_strides, padding, lhs_dilation, rhs_dilation,
                  images_axis=0, out=None):
    n, c = x.shape[:2]
    lay = _Layout(n, c, x.shape[2:], window_shape, window_strides, padding, lhs_dilation,
                  rhs_dilation, channel_major=bool(images_axis), images_axis=images_axis)
    flat = xp.ascontiguousarray(_padded(xp, x, padding, lhs_dilation, images_axis)).reshape(-1)
    if out is None:
        return xp.ascontiguousarray(lay.windows(xp, flat))
    xp.copyto(out, lay.windows(xp, flat))
    return out


def _patches_aval(x, window_shape, window_strides, padding, lhs_dilation, rhs_dilation,
                  images_axis=0):
    lay = _Layout(x.shape[0], x.shape[1], x.shape[2:], window_shape, window_strides, padding,
                  lhs_dilation, rhs_dilation, channel_major=bool(images_axis),
                  images_axis=images_axis)
    return ShapedArray(lay.patches_shape(), x.dtype)


conv_patches_p = primitive("conv_patches", _patches_impl, _patches_aval)
conv_patches_p.impl_out = True        # the compiler may pass the buffer for the patches


def _patches_batch(vals, dims, window_shape, images_axis=0, **params):
    x, = vals
    x = moveaxis_to_front(x, dims[0])
    b, n = shape_of(x)[:2]
    p = conv_patches(reshape(x, (b * n,) + shape_of(x)[2:]), window_shape,
                     images_axis=images_axis, **params)
    s = shape_of(p)
    at = 1 + len(window_shape) + images_axis      # the images' axis of the patches
    return reshape(p, s[:at] + (b, n) + s[at + 1:]), at


conv_patches_p.batch = _patches_batch


def conv_patches(x, window_shape, window_strides, padding, lhs_dilation, rhs_dilation,
                 images_axis=0):
    """im2col: `x` (N, C, *S) -> `(C, *window_shape, N, *out_spatial)`, every window of the
    padded, dilated input (all arguments per spatial axis; padding as (low, high) pairs); with
    `images_axis`, N comes before output spatial axis `images_axis` instead."""
    return conv_patches_p.bind(x, window_shape=window_shape, window_strides=window_strides,
                               padding=padding, lhs_dilation=lhs_dilation,
                               rhs_dilation=rhs_dilation, images_axis=images_axis)


# ------------------------------------------------------------------ its transpose (col2im)
def _patches_transpose_impl(xp, p, input_shape, window_shape, window_strides, padding,
                            lhs_dilation, rhs_dilation, images_axis=0):
    n, c = input_shape[:2]
    nd = len(window_shape)
    # accumulate channel-major, the patches' own order, so each add walks both arrays alike
    lay = _Layout(n, c, input_shape[2:], window_shape, window_strides, padding, lhs_dilation,
                  rhs_dilation, channel_major=True, images_axis=images_axis)
    # each offset's targets are a plain view (a shifted block of the buffer, sliced): numpy
    # adds into it in place, whereas it copies an as_strided target, unable to rule out overlap
    shifts = [sum(i * d * st for i, d, st in zip(k, rhs_dilation, lay.spatial_strides))
              for k in _window_offsets(window_shape)]
    picks = [slice(0, (o - 1) * st + 1, st) for o, st in zip(lay.out, window_strides)]
    picks = (slice(None), *picks[:images_axis], slice(None), *picks[images_axis:])
    flat = xp.zeros(lay.size + shifts[-1], p.dtype)
    sources = xp.moveaxis(p, 0, nd)          # (*window, C, ...), a view
    for k, shift in zip(_window_offsets(window_shape), shifts):
        target = flat[shift:shift + lay.size].reshape(lay.block)[picks]
        xp.add(target, sources[k], out=target)
    buf = xp.moveaxis(flat[:lay.size].reshape(lay.block), 1 + images_axis, 0)
    # undo the padding (a negative pad crops; a cropped input element gets no cotangent)
    config = [(0, 0, 0), (0, 0, 0)] + [(-lo, -hi, 0) for lo, hi in padding]
    unpadded = pad_kernel(xp, buf, 0, config)
    return unpadded[(slice(None), slice(None)) + tuple(slice(None, None, d)
                                                       for d in lhs_dilation)]


def _patches_transpose_aval(p, input_shape, **params):
    return ShapedArray(input_shape, p.dtype)


conv_patches_transpose_p = primitive("conv_patches_transpose", _patches_transpose_impl,
                                     _patches_transpose_aval)


def _patches_transpose_batch(vals, dims, input_shape, window_shape, images_axis=0, **params):
    p, = vals
    at = 1 + len(window_shape) + images_axis      # the images' axis of the patches
    p = moveaxis(p, dims[0], at)                  # next to it, folded into it
    s = shape_of(p)
    b, n = s[at], s[at + 1]
    x = conv_patches_transpose(reshape(p, s[:at] + (b * n,) + s[at + 2:]),
                               (b * n,) + tuple(input_shape[1:]), window_shape,
                               images_axis=images_axis, **params)
    return reshape(x, (b,) + tuple(input_shape)), 0


conv_patches_transpose_p.batch = _patches_transpose_batch


def conv_patches_transpose(p, input_shape, window_shape, window_strides, padding, lhs_dilation,
                           rhs_dilation, images_axis=0):
    """col2im: the transpose of `conv_patches`; sums patches back into `input_shape`."""
    return conv_patches_transpose_p.bind(
        p, input_shape=tuple(input_shape), window_shape=window_shape,
        window_strides=window_strides, padding=padding, lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation, images_axis=images_axis)


def_linear(conv_patches_p, lambda ct, aval, **params:
           conv_patches_transpose(ct, aval.shape, **params))
def_linear(conv_patches_transpose_p, lambda ct, aval, input_shape, **params:
           conv_patches(ct, **params))


# ------------------------------------------------------------------ shifted_sum (row path)
def _shifted_sum_impl(xp, z, dilation, images_axis, width):
    a, k, *rest = z.shape
    m = math.prod(rest)
    if k == 1:
        acc = z[:, 0]
    else:
        # flattened, each term is one long shifted run; near the end of a row the terms run
        # on into the next row (dropped with the columns past `width`, or, with rows that
        # share their padding, zeros there), and past the end of all rows they are zero
        flat = xp.ascontiguousarray(z).reshape(a, k, m)
        acc = xp.empty((a, m), z.dtype)
        if numba_jit.takes(xp, z.dtype):
            # the same sums row by row, each row's accumulator staying in the cache
            numba_jit.compiled(_SHIFTED_SUM_LOOP, "shifted_sum")(flat, acc, dilation)
        else:
            span = m - dilation
            xp.add(flat[:, 0, :span], flat[:, 1, dilation:], out=acc[:, :span])
            acc[:, span:] = flat[:, 0, span:]
            for j in range(2, k):
                span = m - j * dilation
                xp.add(acc[:, :span], flat[:, j, j * dilation:], out=acc[:, :span])
        acc = acc.reshape(a, *rest)
    if not images_axis:
        return acc[..., :width]
    # images to the front, contiguous: what follows (normalisation, activation) runs far
    # faster on whole rows than on the cropped, transposed view
    out = xp.empty(_shifted_sum_shape(z.shape, images_axis, width), z.dtype)
    xp.copyto(xp.moveaxis(out, 0, images_axis), acc[..., :width])
    return out


_SHIFTED_SUM_LOOP = """
def shifted_sum(z, acc, dilation):
    m = acc.shape[1]
    for r in range(z.shape[0]):
        for i in range(m):
            acc[r, i] = z[r, 0, i]
        for j in range(1, z.shape[1]):
            s = j * dilation
            for i in range(m - s):
                acc[r, i] += z[r, j, i + s]
"""


def _shifted_sum_shape(shape, images_axis, width):
    acc = [shape[0], *shape[2:-1], width]
    return (acc.pop(images_axis), *acc)


def _shifted_sum_aval(z, dilation, images_axis, width):
    if not 0 < width <= z.shape[-1]:
        raise ValueError(f"shifted_sum: width {width} outside 1..{z.shape[-1]} (z shape "
                         f"{z.shape})")
    return ShapedArray(_shifted_sum_shape(z.shape, images_axis, width), z.dtype)


shifted_sum_p = primitive("shifted_sum", _shifted_sum_impl, _shifted_sum_aval)


def _shifted_spread_impl(xp, ct, window, dilation, images_axis, width, out=None):
    acc = xp.moveaxis(ct, 0, images_axis)        # the sums' layout, (A, ..., W)
    wide = xp.zeros((*acc.shape[:-1], width), ct.dtype)
    wide[..., :acc.shape[-1]] = acc
    a, m = wide.shape[0], wide.size // max(wide.shape[0], 1)
    src = wide.reshape(a, m)
    z = (xp.empty((a, window, m), ct.dtype) if out is None else out).reshape(a, window, m)
    for j in range(window):              # columns shifted in from the previous row are zeros
        s = j * dilation
        z[:, j, :s] = 0
        z[:, j, s:] = src[:, :m - s]
    return z.reshape(a, window, *wide.shape[1:])


def _shifted_spread_aval(ct, window, dilation, images_axis, width):
    acc = list(ct.shape[1:])
    acc.insert(images_axis, ct.shape[0])
    if width < acc[-1]:
        raise ValueError(f"shifted_spread: width {width} under the cotangent's {acc[-1]}")
    return ShapedArray((acc[0], window, *acc[1:-1], width), ct.dtype)


shifted_spread_p = primitive("shifted_spread", _shifted_spread_impl, _shifted_spread_aval)
shifted_spread_p.impl_out = True


def _z_images_axis(images_axis):
    """Where the images lie in `shifted_sum`'s operand (the window axis is its axis 1)."""
    return images_axis + 1 if images_axis else 0


def _fold_at(images_axis, runs_on):
    """The axis of `shifted_sum`'s operand a mapped axis folds into: the images', unless the
    sums run on across rows into kept columns (`width` past the default), where images
    side by side would run into each other; then the first axis, whose rows are apart."""
    return 0 if runs_on else _z_images_axis(images_axis)


def _shifted_sum_batch(vals, dims, dilation, images_axis, width):
    z = vals[0]
    shape = shape_of(z)
    k = shape[1 + (dims[0] <= 1)]
    last = shape[-1] if dims[0] != len(shape) - 1 else shape[-2]
    runs_on = width > last - (k - 1) * dilation
    at = _fold_at(images_axis, runs_on)
    z = moveaxis(z, dims[0], at)                  # next to that axis, folded into it
    s = shape_of(z)
    out = shifted_sum(reshape(z, s[:at] + (s[at] * s[at + 1],) + s[at + 2:]), dilation,
                      images_axis, width)
    o = shape_of(out)
    if at == _z_images_axis(images_axis):         # the images lead the result
        return reshape(out, s[at:at + 2] + o[1:]), 0
    return reshape(out, o[:1] + s[:2] + o[2:]), 1


def _shifted_spread_batch(vals, dims, window, dilation, images_axis, width):
    ct = vals[0]
    shape = shape_of(ct)
    last = shape[-1] if dims[0] != len(shape) - 1 else shape[-2]
    runs_on = last > width - (window - 1) * dilation      # as its transpose's
    at = _fold_at(images_axis, runs_on)
    lead = 0 if at == _z_images_axis(images_axis) else 1    # where that axis is in `ct`
    ct = moveaxis(ct, dims[0], lead)
    s = shape_of(ct)
    out = shifted_spread(reshape(ct, s[:lead] + (s[lead] * s[lead + 1],) + s[lead + 2:]),
                         window, dilation, images_axis, width)
    o = shape_of(out)
    return reshape(out, o[:at] + s[lead:lead + 2] + o[at + 1:]), at


shifted_sum_p.batch = _shifted_sum_batch
shifted_spread_p.batch = _shifted_spread_batch


def _shifted_rows(params):
    """`split_rows` of the shifted sums where the images lead both operand and result."""
    return None if params["images_axis"] else ((0,), lambda n: params)


shifted_sum_p.split_rows = shifted_spread_p.split_rows = _shifted_rows
shifted_sum_p.rows_compiled = True


def shifted_sum(z, dilation=1, images_axis=0, width=None):
    """`z` (A, K, ...) -> the sum over k of `z[:, k]` shifted left by k*dilation along its
    trailing axes flattened (terms past the end are zero), cropped to `width` along the last
    axis (default: its size less (K-1)*dilation, where no term runs on into the next row):
    (A, ..., width); then its axis `images_axis` moved to the front (made contiguous)."""
    k, last = shape_of(z)[1], shape_of(z)[-1]
    width = last - (k - 1) * dilation if width is None else int(width)
    return shifted_sum_p.bind(z, dilation=dilation, images_axis=images_axis, width=width)


def shifted_spread(ct, window, dilation=1, images_axis=0, width=None):
    """The transpose of `shifted_sum`: `ct`'s first axis moved back to `images_axis`, then
    (A, ..., W) -> (A, window, ..., width) (default W + (window-1)*dilation), slice k holding
    it zero-padded to `width`, flattened and shifted right by k*dilation, zeros elsewhere."""
    width = shape_of(ct)[-1] + (window - 1) * dilation if width is None else int(width)
    return shifted_spread_p.bind(ct, window=window, dilation=dilation, images_axis=images_axis,
                                 width=width)


def_linear(shifted_sum_p, lambda ct, aval, dilation, images_axis, width:
           shifted_spread(ct, aval.shape[1], dilation, images_axis, aval.shape[-1]))
def_linear(shifted_spread_p, lambda ct, aval, window, dilation, images_axis, width:
           shifted_sum(ct, dilation, images_axis, aval.shape[-1]))


# ------------------------------------------------------------------ dimension numbers
ConvDimensionNumbers = collections.namedtuple("ConvDimensionNumbers",
                                              "lhs_spec rhs_spec out_spec")


def conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers):
    """The `ConvDimensionNumbers` of operands of these shapes (only their ranks matter), as
    JAX's: for each operand, its axes in the order (batch or out-feature, feature or
    in-feature, *spatial). `dimension_numbers`: None (NCHW / OIHW / NCHW for any rank), a
    triple of layout strings such as ("NHWC", "HWIO", "NHWC"), or of axis tuples."""
    return ConvDimensionNumbers(*conv_specs(len(lhs_shape), len(rhs_shape), dimension_numbers))


def conv_specs(lhs_ndim, rhs_ndim, dimension_numbers):
    """`conv_dimension_numbers` from the operands' ranks, as a plain triple."""
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


def padding_pairs(padding, in_spatial, window_shape, window_strides, rhs_dilation):
    """The (low, high) pairs of 'VALID', 'SAME' or 'SAME_LOWER' padding (or the given pairs,
    checked) for a window of `window_shape` dilated by `rhs_dilation` over `in_spatial`."""
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


def per_axis(value, nd, name):
    """`value` (None: all 1) as `nd` positive ints, one per spatial axis (`name` in errors)."""
    if value is None:
        return (1,) * nd
    value = tuple(int(v) for v in value)
    if len(value) != nd or any(v < 1 for v in value):
        raise ValueError(f"conv_general_dilated: {name} must be {nd} positive integers (one per "
                         f"spatial axis), got {value}")
    return value


# ------------------------------------------------------------------ the convolution
# the row path computes one product per image from this many output columns per image (BLAS
# runs those well, and the kernel's cotangent sums few of them); below, one product over all
# images (measured on LeNet and the BatchNorm CNN, one thread: 896 columns ran 1.8x faster
# per image, 24 and 80 columns 1.3-2x faster at once)
PER_IMAGE_COLUMNS = 128


# the row path needs products contracting at least this many (input channels times kernel
# rows); below, the full patches
ROW_MIN_CONTRACTION = 8


def _kernel_products(kernel, patches, n, m):
    """`kernel` (G, R, K) times the patches (G, K, and N images of M columns, in any shape)
    per group. With many columns per image, one product per image, reading each image's
    patches in place (a strided view) with the kernel broadcast over the batch: (N, G, R, M),
    contiguous. With few, one product over every image at once: (G, R, N*M) in the patches'
    order of images and columns; the kernel's cotangent is then one product too, contracting
    images and columns together, where per image it sums N small products."""
    g, r, k = shape_of(kernel)
    if m >= PER_IMAGE_COLUMNS:
        kernel = broadcast_in_dim(kernel, (n, g, r, k), (1, 2, 3))
        return dot_general(kernel, reshape(patches, (g, k, n, m)),
                           (((3,), (1,)), ((0, 1), (2, 0))))
    if g == 1:              # a plain matrix product, its rows split over threads
        z = dot_general(reshape(kernel, (r, k)), reshape(patches, (k, n * m)),
                        (((1,), (0,)), ((), ())))
        return reshape(z, (1, r, n * m))
    return dot_general(kernel, reshape(patches, (g, k, n * m)), (((2,), (1,)), ((0,), (0,))))


@on_operand_device
def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         batch_group_count=1, precision=None, preferred_element_type=None,
                         out_sharding=None):
    """General N-d convolution (cross-correlation, as in every deep-learning library).

    `lhs` is the input, `rhs` the kernel; `window_strides`, `lhs_dilation` (transposed
    convolution) and `rhs_dilation` (atrous) have one entry per spatial axis; `padding` is
    'VALID', 'SAME', 'SAME_LOWER' or one (low, high) pair per spatial axis (negative crops);
    `dimension_numbers` gives the layouts (default NCHW input, OIHW kernel, NCHW output);
    `feature_group_count` splits input and output channels into groups; `batch_group_count`
    splits the input's batch into that many consecutive groups, output-channel group `k`
    seeing batch group `k` (the kernel gradient of a grouped convolution). With
    `preferred_element_type` the result has that dtype, as in `dot_general`; `precision` is
    checked and ignored (the host kernels compute at the operands' precision). JAX's
    `out_sharding` may name the one device the result goes to.
    """
    check_precision(precision, "conv_general_dilated")
    args = (window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers)
    if out_sharding is not None:
        return place(conv_general_dilated(lhs, rhs, *args, feature_group_count,
                                          batch_group_count, precision, preferred_element_type),
                     out_sharding, "conv_general_dilated")
    if preferred_element_type is not None:
        return with_preferred_type(lambda x, w: conv_general_dilated(
            x, w, *args, feature_group_count, batch_group_count), (lhs, rhs),
            preferred_element_type)
    lhs_spec, rhs_spec, out_spec = conv_specs(len(shape_of(lhs)), len(shape_of(rhs)),
                                              dimension_numbers)
    if int(batch_group_count) != 1:
        return _batch_grouped(lhs, rhs, args, lhs_spec, rhs_spec, out_spec,
                              int(feature_group_count), int(batch_group_count))
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
    strides = per_axis(window_strides, nd, "window_strides")
    ld = per_axis(lhs_dilation, nd, "lhs_dilation")
    rd = per_axis(rhs_dilation, nd, "rhs_dilation")
    dilated_in = tuple((d - 1) * dil + 1 for d, dil in zip(in_sp, ld))
    pads = padding_pairs(padding, dilated_in, window, strides, rd)
    out_sp = _out_spatial(in_sp, window, strides, pads, ld, rd)
    if any(s < 1 for s in out_sp):
        raise ValueError(
            f"conv_general_dilated: the kernel window {tuple(window)} (dilation {rd}) does not "
            f"fit the input's spatial shape {tuple(in_sp)} with padding {pads}; the output "
            f"would have spatial shape {out_sp}. Pad the input or use a smaller kernel.")
    og = o // g
    # row patches, then shifted_sum (see top); with a single spatial axis the products would
    # contract over the channels alone, too little for BLAS to run well, and so would they
    # with very few input channels (a grey image), where moving KW times the products' rows
    # costs more than the full patches
    if nd >= 2 and window[-1] > 1 and strides[-1] == 1 and ld[-1] == 1 and \
            i * math.prod(window[:-1]) >= ROW_MIN_CONTRACTION:
        kw = window[-1]
        k = i * math.prod(window[:-1])
        reach = (kw - 1) * rd[-1]
        (lo, hi), width = pads[-1], out_sp[-1] + reach        # padded width
        per_image = math.prod(out_sp[:-1]) * width >= PER_IMAGE_COLUMNS
        if not per_image and lo >= 0 and hi >= 0:
            # over all images, the images lie inside the rows, (..., N, width), and consecutive
            # rows share their padding: one gap of zeros serves as the right padding of a row
            # and the left of the next (the shifted sum runs on across rows), so the products
            # compute fewer columns that are thrown away (8 + 1 per row for 8 + 2)
            width = max(width - min(lo, hi), out_sp[-1])
            pads = pads[:-1] + ((lo, width - in_sp[-1] - lo),)
        cols = tuple(out_sp[:-1]) + (width,)
        m = math.prod(cols)
        patches = conv_patches(x, tuple(window[:-1]) + (1,), strides, pads, ld,
                               rd[:-1] + (1,), images_axis=0 if per_image else nd - 1)
        kernel = transpose(reshape(w, (g, og, i, math.prod(window[:-1]), kw)), (0, 4, 1, 2, 3))
        z = _kernel_products(reshape(kernel, (g, kw * og, k)), patches, n, m)
        if per_image:
            out = shifted_sum(reshape(z, (n * g, kw, og) + cols), rd[-1])
        else:
            out = shifted_sum(reshape(z, (g, kw, og) + cols[:-1] + (n, width)), rd[-1],
                              images_axis=nd + 1, width=out_sp[-1])
    else:
        patches = conv_patches(x, tuple(window), strides, pads, ld, rd)
        m = math.prod(out_sp)
        out = _kernel_products(reshape(w, (g, og, i * math.prod(window))), patches, n, m)
        if m < PER_IMAGE_COLUMNS:                                         # (N, G, OG, M)
            out = transpose(reshape(out, (g, og, n, m)), (2, 0, 1, 3))
    out = reshape(out, (n, o) + out_sp)
    perm = [0] * (nd + 2)
    perm[out_spec[0]], perm[out_spec[1]] = 0, 1
    for d in range(nd):
        perm[out_spec[2 + d]] = 2 + d
    return transpose(out, perm)


def _batch_grouped(lhs, rhs, args, lhs_spec, rhs_spec, out_spec, feature_group_count,
                   batch_group_count):
    """`conv_general_dilated` with `batch_group_count` > 1: the input's batch groups move
    into its channels (group-major), and become feature groups."""
    b = batch_group_count
    xs = shape_of(lhs)
    n, c, o = xs[lhs_spec[0]], xs[lhs_spec[1]], shape_of(rhs)[rhs_spec[0]]
    if feature_group_count != 1 or b < 1 or n % b or o % b:
        raise ValueError(
            f"conv_general_dilated: batch_group_count={b} must divide the input's batch "
            f"({n}, lhs shape {xs}) and the kernel's output channels ({o}, rhs shape "
            f"{shape_of(rhs)}), and feature_group_count must then be 1 (got "
            f"{feature_group_count})")
    x = transpose(lhs, lhs_spec)                                     # (N, C, *S)
    x = reshape(x, (b, n // b) + shape_of(x)[1:])
    x = reshape(moveaxis(x, 0, 1), (n // b, b * c) + shape_of(x)[3:])
    canonical = tuple(range(len(xs)))
    return conv_general_dilated(x, rhs, *args[:4], (canonical, rhs_spec, out_spec),
                                feature_group_count=b)


__all__ = ["conv_general_dilated", "conv_dimension_numbers", "ConvDimensionNumbers",
           "conv_patches", "conv_patches_transpose", "shifted_sum", "shifted_spread"]
