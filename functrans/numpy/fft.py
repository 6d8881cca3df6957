"""`functrans.numpy.fft`: discrete Fourier transforms with NumPy's (and the array API
standard's) signatures, on the `fft` primitive: differentiable in both modes, batched by
vmap, jittable.

`n` / `s` crop or zero-pad the transformed axes first; `norm` is "backward" (the inverse
scaled by 1/N, the default), "ortho" (both by 1/sqrt(N)) or "forward" (the forward one by
1/N). Real inputs of the complex transforms become complex; integers become the default
float first. For `rfftn`/`irfftn` the last of `axes` is the real one. As in JAX, empty
input gives empty output, `axes=()` (or 0-d input to the n-dimensional transforms) transforms
nothing, `fftfreq(0)` is empty and `rfftfreq(0)` is `[nan]` (NumPy raises for all of these).
"""
from __future__ import annotations

import math
import operator

import numpy as np

from .. import dtypes, lax
from ..core import place_functions as _place_functions
from ..primitives.fft import fft as _fft_prim
from ..primitives._util import shape_of, dtype_of
from ._conversion import asarray, promote_inexact
from ..backends import default_device_now, get_device
from ._shape import moveaxis, roll

__all__ = ["fft", "ifft", "fftn", "ifftn", "rfft", "irfft", "rfftn", "irfftn", "hfft", "ihfft",
           "fft2", "ifft2", "rfft2", "irfft2", "fftfreq", "rfftfreq", "fftshift", "ifftshift"]

_NORMS = ("backward", "ortho", "forward")


def _inexact(x, complex_):
    (x,), dt = promote_inexact(asarray(x))
    if complex_ and dt.kind != "c":
        x = lax.convert_element_type(x, np.result_type(dt, np.complex64))
    return x


def _axes_and_sizes(name, x, s, axes, kind, last_from=None):
    """The transform axes (in order, non-negative) and their lengths."""
    nd = len(shape_of(x))
    if axes is None:
        if s is not None and len(s) > nd:
            raise ValueError(f"fft.{name}: s={tuple(s)} has more entries than the input of "
                             f"shape {shape_of(x)} has axes")
        axes = list(range(nd - len(s), nd)) if s is not None else list(range(nd))
    else:
        axes = [operator.index(a) for a in axes]
        for a in axes:
            if not -nd <= a < nd:
                raise ValueError(f"fft.{name}: axis {a} is out of bounds for an array of "
                                 f"dimension {nd}")
        axes = [a % nd for a in axes]
        if len(set(axes)) != len(axes):
            raise ValueError(f"fft.{name}: repeated axes {axes}")
    if s is None:
        # lengths taken from the input may be 0 (empty input, empty output, as JAX)
        sizes = [shape_of(x)[a] for a in axes]
        if last_from is not None and axes:
            sizes[-1] = max(last_from(sizes[-1]), 0)
        least = 1 if kind == "rfft" else 0
    else:
        sizes = [operator.index(n) for n in s]
        if len(sizes) != len(axes):
            raise ValueError(f"fft.{name}: s has {len(sizes)} entries for {len(axes)} axes")
        least = 1
    for n in sizes:
        if n < least:
            raise ValueError(f"fft.{name}: invalid number of data points {n}; it must be "
                             f"at least {least}")
    return axes, sizes


def _fit(x, axis, n):
    """`x` cropped or zero-padded to length n along `axis`."""
    have = shape_of(x)[axis]
    if have > n:
        return lax.slice_in_dim(x, 0, n, axis=axis)
    if have < n:
        config = [(0, 0, 0)] * len(shape_of(x))
        config[axis] = (0, n - have, 0)
        return lax.pad(x, lax.full((), 0, dtype_of(x), like=x), config)
    return x


def _scale(x, norm, n, inverse, name):
    if norm is None:
        norm = "backward"
    if norm not in _NORMS:
        raise ValueError(f"fft.{name}: norm must be one of {_NORMS}, got {norm!r}")
    if norm == "backward" or n == 0:
        return x
    if norm == "ortho":
        factor = math.sqrt(n) if inverse else 1 / math.sqrt(n)
    else:
        factor = n if inverse else 1 / n
    return lax.mul(x, lax.full((), factor, dtype_of(x), like=x))


def _transform(name, x, s, axes, norm, kind, last_from=None):
    complex_in = kind in ("fft", "ifft", "irfft")
    x = _inexact(x, complex_in)
    axes, sizes = _axes_and_sizes(name, x, s, axes, kind, last_from)
    if not axes:                                    # nothing to transform (as JAX)
        return x
    k = len(axes)
    nd = len(shape_of(x))
    ends = list(range(nd - k, nd))
    x = moveaxis(x, axes, ends)
    for i, (ax, n) in enumerate(zip(ends, sizes)):
        target = n // 2 + 1 if kind == "irfft" and i == k - 1 else n
        x = _fit(x, ax, target)
    if 0 in sizes:                                  # an empty transform of empty input
        out_dtype = np.finfo(dtype_of(x)).dtype if kind == "irfft" else dtype_of(x)
        out = lax.full(shape_of(x)[:nd - k] + tuple(sizes), 0, out_dtype, like=x)
        return moveaxis(out, ends, axes)
    out = _fft_prim(x, kind, sizes)
    out = _scale(out, norm, math.prod(sizes), kind in ("ifft", "irfft"), name)
    return moveaxis(out, ends, axes)


def _swap(norm):
    return {None: "forward", "backward": "forward", "forward": "backward"}.get(norm, norm)


def fft(a, n=None, axis=-1, norm=None):
    """The one-dimensional DFT along `axis`."""
    return _transform("fft", a, None if n is None else [n], [axis], norm, "fft")


def ifft(a, n=None, axis=-1, norm=None):
    """The inverse of `fft`."""
    return _transform("ifft", a, None if n is None else [n], [axis], norm, "ifft")


def fftn(a, s=None, axes=None, norm=None):
    """The n-dimensional DFT over `axes` (all, or the last len(s))."""
    return _transform("fftn", a, s, axes, norm, "fft")


def ifftn(a, s=None, axes=None, norm=None):
    """The inverse of `fftn`."""
    return _transform("ifftn", a, s, axes, norm, "ifft")


def rfft(a, n=None, axis=-1, norm=None):
    """The DFT of real input along `axis`: the n // 2 + 1 non-negative frequencies."""
    return _transform("rfft", a, None if n is None else [n], [axis], norm, "rfft")


def irfft(a, n=None, axis=-1, norm=None):
    """The inverse of `rfft`: real output of length `n` (default 2 * (m - 1) for m
    input values)."""
    return _transform("irfft", a, None if n is None else [n], [axis], norm, "irfft",
                      last_from=lambda m: 2 * (m - 1))


def rfftn(a, s=None, axes=None, norm=None):
    """The n-dimensional DFT of real input (the last of `axes` halved)."""
    return _transform("rfftn", a, s, axes, norm, "rfft")


def irfftn(a, s=None, axes=None, norm=None):
    """The inverse of `rfftn`."""
    return _transform("irfftn", a, s, axes, norm, "irfft", last_from=lambda m: 2 * (m - 1))


def fft2(a, s=None, axes=(-2, -1), norm=None):
    return fftn(a, s, axes, norm)


def ifft2(a, s=None, axes=(-2, -1), norm=None):
    return ifftn(a, s, axes, norm)


def rfft2(a, s=None, axes=(-2, -1), norm=None):
    return rfftn(a, s, axes, norm)


def irfft2(a, s=None, axes=(-2, -1), norm=None):
    return irfftn(a, s, axes, norm)


def hfft(a, n=None, axis=-1, norm=None):
    """The DFT of a signal with Hermitian symmetry given by its first half: real output of
    length `n` (default 2 * (m - 1))."""
    return irfft(lax.conj(_inexact(a, True)), n, axis, _swap(norm))


def ihfft(a, n=None, axis=-1, norm=None):
    """The inverse of `hfft`: the first half of the spectrum of real input."""
    return lax.conj(rfft(a, n, axis, _swap(norm)))


def _freq_dtype(dtype):
    dt = dtypes.default_float_dtype() if dtype is None else dtypes.canonicalize(dtype)
    if dt.kind != "f":
        raise TypeError(f"fftfreq: dtype must be a real floating dtype, got {dt}")
    return dt


def fftfreq(n, d=1.0, *, dtype=None, device=None):
    """The sample frequencies of an `n`-point DFT with sample spacing `d`."""
    n = operator.index(n)
    vals = (np.fft.fftfreq(n, d) if n else np.zeros(0)).astype(_freq_dtype(dtype))
    return asarray(vals, device=default_device_now() if device is None else get_device(device))


def rfftfreq(n, d=1.0, *, dtype=None, device=None):
    """The sample frequencies of an `n`-point `rfft` with sample spacing `d`."""
    n = operator.index(n)
    vals = (np.fft.rfftfreq(n, d) if n else np.full(1, np.nan)).astype(_freq_dtype(dtype))
    return asarray(vals, device=default_device_now() if device is None else get_device(device))


def _shift(x, axes, sign):
    x = asarray(x)
    nd = len(shape_of(x))
    axes = list(range(nd)) if axes is None else \
        [a % nd for a in ((axes,) if isinstance(axes, int) else axes)]
    shifts = [sign * (shape_of(x)[a] // 2) for a in axes]
    return roll(x, shifts, axes) if axes else x


def fftshift(x, axes=None):
    """The zero frequency moved to the center (along `axes`, default all)."""
    return _shift(x, axes, 1)


def ifftshift(x, axes=None):
    """The inverse of `fftshift`."""
    return _shift(x, axes, -1)


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
