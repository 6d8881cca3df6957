"""`functrans.scipy.fft`: the type-2 discrete cosine transform and its inverse (SciPy's
`dct`, `idct`, `dctn`, `idctn`, as jax.scipy.fft offers them), through one FFT of the
reordered signal (Makhoul's method); differentiable and batchable."""
from __future__ import annotations

import math

import numpy as np

from .. import numpy as fnp
from ..numpy import fft as np_fft
from ..numpy._conversion import asarray, promote_inexact
from ..core import place_functions as _place_functions

__all__ = ["dct", "idct", "dctn", "idctn"]

_NORMS = (None, "backward", "ortho", "forward")


def _checked(type, norm, name):
    if type != 2:
        raise NotImplementedError(f"{name}: only type 2 is supported (as in JAX), got {type}")
    if norm not in _NORMS:
        raise ValueError(f"{name}: norm must be one of {_NORMS}, got {norm!r}")


def _resized(x, n, axis):
    """x cut or zero-padded to n along axis (SciPy's `n`)."""
    size = x.shape[axis]
    if n is None or n == size:
        return x
    if n < 1:
        raise ValueError(f"the transform length n must be positive, got {n}")
    if n < size:
        return fnp.take(x, fnp.arange(n), axis=axis)
    pad = [(0, 0)] * x.ndim
    pad[axis] = (0, n - size)
    return fnp.pad(x, pad)


def _scale(n, norm, dtype):
    """The factor per output element that turns SciPy's unnormalized DCT-II into `norm`'s
    (orthonormal: sqrt(1 / 4n) for the first, sqrt(1 / 2n) for the others)."""
    if norm == "ortho":
        f = np.full(n, math.sqrt(1 / (2 * n)))
        f[0] = math.sqrt(1 / (4 * n))
    elif norm == "forward":
        f = np.full(n, 1 / (2 * n))
    else:
        f = np.ones(n)
    return f.astype(dtype)


def _twiddle(n, sign, dtype):
    return np.exp(sign * 1j * math.pi * np.arange(n) / (2 * n)).astype(dtype)


def _complex_dtype(x):
    return np.result_type(x.dtype, np.complex64)


def _dct_last(x, norm):
    """The DCT-II along the last axis of real x."""
    n = x.shape[-1]
    reordered = fnp.concatenate([x[..., 0::2], fnp.flip(x[..., 1::2], -1)], axis=-1)
    spectrum = np_fft.fft(reordered, axis=-1)
    y = 2 * fnp.real(spectrum * _twiddle(n, -1, _complex_dtype(x)))
    return y * _scale(n, norm, x.dtype) if norm not in (None, "backward") else y


def _idct_last(y, norm):
    """The inverse of `_dct_last` along the last axis of real y."""
    n = y.shape[-1]
    if norm not in (None, "backward"):
        y = y / _scale(n, norm, y.dtype)
    shifted = fnp.concatenate([fnp.zeros_like(y[..., :1]), fnp.flip(y[..., 1:], -1)], axis=-1)
    spectrum = (y - 1j * shifted) * _twiddle(n, 1, _complex_dtype(y)) / 2
    v = fnp.real(np_fft.ifft(spectrum, axis=-1))
    half = (n + 1) // 2
    x = fnp.zeros_like(v)
    x = x.at[..., 0::2].set(v[..., :half])
    return x.at[..., 1::2].set(fnp.flip(v[..., half:], -1))


def _along(fn, x, axis, norm):
    """`fn` applied along `axis` (real and imaginary parts apart for complex x)."""
    x = fnp.moveaxis(x, axis, -1)
    if fnp.iscomplexobj(x):
        out = fn(fnp.real(x), norm) + 1j * fn(fnp.imag(x), norm)
    else:
        out = fn(x, norm)
    return fnp.moveaxis(out, -1, axis)


def _prepared(x):
    (x,), _ = promote_inexact(x)
    return asarray(x)


def dct(x, type=2, n=None, axis=-1, norm=None):
    """The type-2 DCT along `axis`: y[k] = 2 sum_n x[n] cos(pi k (2n + 1) / 2N) (norm None),
    orthonormal ("ortho") or divided by 2N ("forward"); `n` cuts or zero-pads x first."""
    _checked(type, norm, "dct")
    x = _resized(_prepared(x), n, axis)
    return _along(_dct_last, x, axis, norm)


def idct(x, type=2, n=None, axis=-1, norm=None):
    """The inverse of `dct` with the same `norm` (SciPy's idct of type 2: a type-3 DCT)."""
    _checked(type, norm, "idct")
    x = _resized(_prepared(x), n, axis)
    return _along(_idct_last, x, axis, norm)


def _each_axis(one, x, s, axes, norm, name):
    """`one` (dct or idct) along each of `axes` (all by default), with lengths `s`."""
    x = _prepared(x)
    s = (s,) if isinstance(s, (int, np.integer)) else s         # SciPy takes one int too
    axes = (axes,) if isinstance(axes, (int, np.integer)) else axes
    if axes is None:
        axes = list(range(x.ndim)) if s is None else list(range(x.ndim - len(s), x.ndim))
    if s is not None and len(s) != len(axes):
        raise ValueError(f"{name}: s and axes must have the same length")
    for axis, n in zip(axes, [None] * len(axes) if s is None else s):
        x = one(x, 2, n, axis, norm)
    return x


def dctn(x, type=2, s=None, axes=None, norm=None):
    """`dct` along each of `axes` (all by default), with lengths `s`."""
    _checked(type, norm, "dctn")
    return _each_axis(dct, x, s, axes, norm, "dctn")


def idctn(x, type=2, s=None, axes=None, norm=None):
    """`idct` along each of `axes` (all by default), with lengths `s`."""
    _checked(type, norm, "idctn")
    return _each_axis(idct, x, s, axes, norm, "idctn")


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
