"""`ft.image`: JAX's `jax.image` (resizing and scale-and-translate resampling).

    ft.image.resize(image, (64, 64, 3), "linear")
    ft.image.scale_and_translate(image, (32, 32), (0, 1), scale, translation, "cubic")

Both are differentiable (in the image, and in `scale`/`translation` too) and jit-/vmap-able.
Pixels are half-centered: the pixel at integer index `i` covers `[i, i + 1)`, centre `i + 0.5`.
"""
import enum
import operator

import numpy as np

from . import numpy as fnp
from .errors import ArgumentError
from .jit import jit
from .lax import Precision
from .nn._utils import as_floating
from .nn.sampling import cubic_far, cubic_near

__all__ = ["resize", "scale_and_translate", "ResizeMethod"]


class ResizeMethod(enum.Enum):
    """Resampling methods: NEAREST, LINEAR (triangle filter), LANCZOS3, LANCZOS5 (Lanczos of
    radius 3 and 5), CUBIC (Keys' kernel, a = -0.5), CUBIC_PYTORCH (PyTorch's bicubic: a =
    -0.75 with the edges repeated, without antialiasing; CUBIC with it) and AREA (the
    average over each output pixel's footprint)."""
    NEAREST = 0
    LINEAR = 1
    LANCZOS3 = 2
    LANCZOS5 = 3
    CUBIC = 4
    CUBIC_PYTORCH = 5
    AREA = 6

    @staticmethod
    def from_string(s: str):
        """The method a name such as 'bilinear', 'lanczos3' or 'tricubic' stands for."""
        names = {"nearest": "NEAREST", "linear": "LINEAR", "bilinear": "LINEAR",
                 "trilinear": "LINEAR", "triangle": "LINEAR", "lanczos3": "LANCZOS3",
                 "lanczos5": "LANCZOS5", "cubic": "CUBIC", "bicubic": "CUBIC",
                 "tricubic": "CUBIC", "cubic-pytorch": "CUBIC_PYTORCH",
                 "bicubic-pytorch": "CUBIC_PYTORCH", "area": "AREA"}
        if s not in names:
            raise ValueError(f'Unknown resize method "{s}"; use one of {sorted(names)} or a '
                             f'ResizeMethod')
        return ResizeMethod[names[s]]


def _lanczos(radius, x):
    y = radius * fnp.sin(np.pi * x) * fnp.sin(np.pi * x / radius)
    safe = fnp.where(x != 0, np.pi ** 2 * x ** 2, 1)
    out = fnp.where(x > 1e-3, y / safe, 1)
    return fnp.where(x > radius, 0., out)


def _cubic(a, x):
    """Keys' cubic convolution kernel with parameter `a`."""
    return fnp.where(x >= 2., 0., fnp.where(x >= 1., cubic_far(x, a), cubic_near(x, a)))


def _triangle(x):
    return fnp.maximum(0, 1 - fnp.abs(x))


_AREA = "area"
_KERNELS = {
    ResizeMethod.LINEAR: (1, _triangle),
    ResizeMethod.LANCZOS3: (3, lambda x: _lanczos(3., x)),
    ResizeMethod.LANCZOS5: (5, lambda x: _lanczos(5., x)),
    ResizeMethod.CUBIC: (2, lambda x: _cubic(-0.5, x)),
    ResizeMethod.CUBIC_PYTORCH: (2, lambda x: _cubic(-0.75, x)),
    ResizeMethod.AREA: (1, _AREA),
}

# weights summing to less than this leave the output pixel at zero
_MIN_TOTAL_WEIGHT = 1000. * float(np.finfo(np.float32).eps)


def _normalize(weights):
    total = fnp.sum(weights, axis=0, keepdims=True)
    return fnp.where(fnp.abs(total) > _MIN_TOTAL_WEIGHT,
                     weights / fnp.where(total != 0, total, 1), 0)


def _weight_matrix(in_size, out_size, scale, translation, kernel, antialias, edge_padding,
                   radius, dtype):
    """The `(in_size, out_size)` matrix taking one axis of the input to the output."""
    inv_scale = 1. / scale
    out_index = fnp.arange(out_size, dtype=dtype)
    # the input coordinate (in pixel indices) of each output pixel's centre
    sample = (out_index + 0.5) * inv_scale - translation * inv_scale - 0.5
    pad = radius if edge_padding else 0
    expanded = np.arange(-pad, in_size + pad)
    if kernel is _AREA:
        # the overlap of each output pixel's footprint [lo, lo + 1/scale) with each input
        # pixel [j, j + 1)
        lo = out_index * inv_scale - translation * inv_scale
        left = fnp.asarray(expanded, dtype)[:, None]
        weights = fnp.maximum(0.0, fnp.minimum(lo + inv_scale, left + 1.0)
                              - fnp.maximum(lo, left))
    else:
        kernel_scale = fnp.maximum(inv_scale, 1.) if antialias else 1.
        weights = kernel(fnp.abs(sample[None, :] - fnp.asarray(expanded, dtype)[:, None])
                         / kernel_scale)
    if edge_padding:
        # weights of pixels past the edges go to the edge pixels
        onto_edges = np.zeros((in_size, len(expanded)))
        onto_edges[np.clip(expanded, 0, in_size - 1), np.arange(len(expanded))] = 1
        return _normalize(fnp.asarray(onto_edges, dtype) @ weights)
    inside = (sample >= -0.5) & (sample <= in_size - 0.5)
    return fnp.where(inside[None, :], _normalize(weights), 0)


def _method(method, where):
    if isinstance(method, str):
        return ResizeMethod.from_string(method)
    if not isinstance(method, ResizeMethod):
        raise ArgumentError(f"{where}: method must be a ResizeMethod or its name (e.g. "
                            f"'linear'); got {method!r}")
    return method


def _check_shape(image, shape, where):
    try:
        shape = tuple(operator.index(d) for d in shape)
    except TypeError:
        raise ArgumentError(f"{where}: shape must be a sequence of integers; got "
                            f"{shape!r}") from None
    if len(shape) != fnp.ndim(image):
        raise ArgumentError(f"{where}: shape must have length equal to the number of "
                            f"dimensions of image; {shape} vs {fnp.shape(image)}")
    if any(d < 0 for d in shape):
        raise ArgumentError(f"{where}: shape {shape} has a negative size")
    return shape


def _resample(x, shape, spatial_dims, scale, translation, method, antialias):
    if method == ResizeMethod.CUBIC_PYTORCH and antialias:
        method = ResizeMethod.CUBIC
    radius, kernel = _KERNELS[method]
    edge_padding = method == ResizeMethod.CUBIC_PYTORCH and not antialias
    dtype = fnp.result_type(x.dtype, *[fnp.result_type(s) for s in scale],
                            *[fnp.result_type(t) for t in translation])
    if fnp.issubdtype(dtype, fnp.complexfloating):
        dtype = fnp.finfo(dtype).dtype
    for i, d in enumerate(spatial_dims):
        w = _weight_matrix(x.shape[d], shape[d], fnp.asarray(scale[i], dtype),
                           fnp.asarray(translation[i], dtype), kernel, antialias,
                           edge_padding, radius, dtype)
        x = fnp.moveaxis(fnp.tensordot(x, w.astype(x.dtype), axes=[[d], [0]]), -1, d)
    return x


def scale_and_translate(image, shape, spatial_dims, scale, translation, method,
                        antialias=True, precision=Precision.HIGHEST):
    """Resamples `image` to `shape` under the map `x -> x * scale + translation` of the
    `spatial_dims` (sample points come from the inverse map); output pixels whose sample
    point falls outside the input are zero. `method`: a ResizeMethod or its name (not
    NEAREST); `antialias` widens the kernel when downsampling. `precision` is accepted for
    JAX's signature (products are always in full precision)."""
    shape = _check_shape(image, shape, "scale_and_translate")
    method = _method(method, "scale_and_translate")
    if method == ResizeMethod.NEAREST:
        raise ValueError("Nearest neighbor resampling is not currently supported for "
                         "scale_and_translate; use resize(..., 'nearest')")
    spatial_dims = tuple(spatial_dims)
    if not fnp.ndim(scale) <= 1 or not fnp.ndim(translation) <= 1 \
            or fnp.size(scale) != len(spatial_dims) \
            or fnp.size(translation) != len(spatial_dims):
        raise ArgumentError(f"scale_and_translate: scale and translation need one entry per "
                            f"spatial dimension {spatial_dims}; got shapes "
                            f"{fnp.shape(scale)} and {fnp.shape(translation)}")
    ndim = len(shape)
    bad = [d for d in spatial_dims if not -ndim <= d < ndim]
    if bad:
        raise ArgumentError(f"scale_and_translate: spatial_dims {spatial_dims} out of range "
                            f"for an image of {ndim} dimensions")
    spatial_dims = tuple(d % ndim for d in spatial_dims)
    if not spatial_dims:
        return image
    scale, translation = as_floating(scale), as_floating(translation)
    if fnp.ndim(scale) == 0:
        scale, translation = scale[None], translation[None]
    return _resample(as_floating(image), shape, spatial_dims, scale, translation, method,
                     antialias)


def _resize_nearest(x, shape):
    for d in range(len(shape)):
        m, n = x.shape[d], shape[d]
        if m == n:
            continue
        # in float32, as JAX computes them
        offsets = ((np.arange(n, dtype=np.float32) + np.float32(0.5)) * np.float32(m)
                   / np.float32(n))
        x = fnp.take(x, np.floor(offsets).astype(np.int32), axis=d)
    return x


def _resize(image, shape, method, antialias):
    if method == ResizeMethod.NEAREST:
        return _resize_nearest(image, shape)
    image = as_floating(image)
    # interpolating kernels leave an axis of unchanged size as it is
    spatial_dims = tuple(d for d in range(len(shape)) if image.shape[d] != shape[d])
    scale = [1.0 if shape[d] == 0 else shape[d] / image.shape[d] for d in spatial_dims]
    return _resample(image, shape, spatial_dims, scale, [0.] * len(spatial_dims), method,
                     antialias)


_resize_jit = jit(_resize, static_argnums=(1, 2, 3))


def resize(image, shape, method, antialias=True, precision=Precision.HIGHEST):
    """`image` resampled to `shape` (every axis; keep an axis's size to leave it alone) by
    `method`, a ResizeMethod or its name ('nearest', 'linear'/'bilinear'/'trilinear',
    'lanczos3', 'lanczos5', 'cubic'/'bicubic', 'cubic-pytorch', 'area'). `antialias`
    filters when downsampling. NEAREST keeps the dtype; the others give floats. `precision`
    is accepted for JAX's signature."""
    shape = _check_shape(image, shape, "resize")
    method = _method(method, "resize")
    if any(n == 0 and m != 0 for n, m in zip(fnp.shape(image), shape)):
        raise ArgumentError(f"resize: cannot resize an empty axis of image "
                            f"{fnp.shape(image)} to {shape}")
    return _resize_jit(image, shape, method, bool(antialias))
