"""The discrete Fourier transform primitive `fft` over the last `len(fft_lengths)` axes.

`fft_type` is one of
- "fft" / "ifft": complex to complex, forward or inverse (the inverse scaled by 1/N);
- "rfft": real to complex, the non-negative frequencies of the forward transform (the last
  axis of length n becomes n // 2 + 1);
- "irfft": the inverse of "rfft", complex to real, with `fft_lengths` the lengths of the
  real output (the last axis's n cannot be told from the n // 2 + 1 input values).

All four are linear, so a tangent goes through the same transform. Cotangents pair with
values as Re(sum(ct * value)) (JAX's convention): the DFT matrix is symmetric, so "fft" and
"ifft" are their own transposes; "rfft" transposes to the real part of an "fft" of the
zero-padded cotangent; "irfft" to the conjugated "rfft" of the cotangent, scaled by 1/N and
doubled for the frequencies that stand for two (all but 0 and, for even n, n / 2).
"""
from __future__ import annotations

import math

import numpy as np

from ..core import ShapedArray
from ._util import primitive, shape_of, dtype_of, moveaxis_to_front
from .elementwise import convert_element_type, mul, real_p, conj_p
from .shape_ops import pad, constant

FFT_TYPES = ("fft", "ifft", "rfft", "irfft")


def _complex_of(dtype):
    return np.result_type(dtype, np.complex64)


def _real_of(dtype):
    return np.finfo(dtype).dtype


def _fft_impl(xp, x, fft_type, fft_lengths):
    k = len(fft_lengths)
    axes = tuple(range(-k, 0))
    if fft_type == "fft":
        out = xp.fft.fftn(x, axes=axes)
    elif fft_type == "ifft":
        out = xp.fft.ifftn(x, axes=axes)
    elif fft_type == "rfft":
        out = xp.fft.rfftn(x, axes=axes)
    else:
        out = xp.fft.irfftn(x, s=fft_lengths, axes=axes)
    return out.astype(_fft_out_dtype(x.dtype, fft_type), copy=False)


def _fft_out_dtype(dtype, fft_type):
    return _real_of(dtype) if fft_type == "irfft" else _complex_of(dtype)


def _fft_aval(x, fft_type, fft_lengths):
    if fft_type not in FFT_TYPES:
        raise ValueError(f"fft: fft_type must be one of {FFT_TYPES}, got {fft_type!r}")
    k = len(fft_lengths)
    if not 1 <= k <= len(x.shape):
        raise ValueError(f"fft: {k} transform axes for an operand of shape {x.shape}")
    if x.dtype.kind not in "fc":
        raise TypeError(f"fft: needs a floating-point or complex operand, got {x.dtype}")
    if fft_type == "rfft" and x.dtype.kind == "c":
        raise TypeError(f"rfft: needs a real operand, got {x.dtype}")
    lead, last = tuple(x.shape[:-k]), tuple(x.shape[-k:])
    if fft_type == "irfft":
        expected = tuple(fft_lengths[:-1]) + (fft_lengths[-1] // 2 + 1,)
        if last != expected:
            raise ValueError(f"irfft: an input of shape {x.shape} does not hold the spectrum "
                             f"of outputs of lengths {fft_lengths} (expected the last axes "
                             f"{expected})")
        return ShapedArray(lead + tuple(fft_lengths), _fft_out_dtype(x.dtype, fft_type))
    if last != tuple(fft_lengths):
        raise ValueError(f"{fft_type}: fft_lengths {fft_lengths} differ from the operand's "
                         f"last axes {last}")
    if fft_type == "rfft":
        last = last[:-1] + (last[-1] // 2 + 1,)
    return ShapedArray(lead + last, _fft_out_dtype(x.dtype, fft_type))


fft_p = primitive("fft", _fft_impl, _fft_aval)


def _fft_jvp(primals, tangents, fft_type, fft_lengths):
    x, = primals
    t, = tangents
    out = fft_p.bind(x, fft_type=fft_type, fft_lengths=fft_lengths)
    if t is None:
        return out, None
    return out, fft_p.bind(t, fft_type=fft_type, fft_lengths=fft_lengths)


def _transpose(ct, x, fft_type, fft_lengths):
    if fft_type in ("fft", "ifft"):
        out = fft_p.bind(ct, fft_type=fft_type, fft_lengths=fft_lengths)
        return out if dtype_of(x).kind == "c" else real_p.bind(out)
    if fft_type == "rfft":
        n = fft_lengths[-1]
        have = shape_of(ct)[-1]
        config = [(0, 0, 0)] * (len(shape_of(ct)) - 1) + [(0, n - have, 0)]
        padded = pad(ct, 0, config)
        return real_p.bind(fft_p.bind(padded, fft_type="fft", fft_lengths=fft_lengths))
    # irfft
    n = fft_lengths[-1]
    m = n // 2 + 1
    weights = np.full(m, 2.0)
    weights[0] = 1.0
    if n % 2 == 0:
        weights[-1] = 1.0
    weights /= math.prod(fft_lengths)
    spectrum = conj_p.bind(fft_p.bind(ct, fft_type="rfft", fft_lengths=fft_lengths))
    return mul(spectrum, constant(weights.astype(dtype_of(spectrum)), like=ct))


def _fft_vjp(primals, needs, fft_type, fft_lengths):
    x, = primals
    out = fft_p.bind(x, fft_type=fft_type, fft_lengths=fft_lengths)

    def backward(ct):
        return (convert_element_type(_transpose(ct, x, fft_type, fft_lengths), dtype_of(x)),)
    return out, backward


def _fft_batch(vals, dims, fft_type, fft_lengths):
    x, = vals
    d, = dims
    return fft_p.bind(moveaxis_to_front(x, d), fft_type=fft_type, fft_lengths=fft_lengths), 0


fft_p.jvp, fft_p.vjp, fft_p.batch = _fft_jvp, _fft_vjp, _fft_batch


def fft(x, fft_type, fft_lengths):
    """The `fft_type` transform ("fft", "ifft", "rfft", "irfft") over the last
    `len(fft_lengths)` axes of `x` (see the module docstring)."""
    return fft_p.bind(x, fft_type=fft_type, fft_lengths=tuple(int(n) for n in fft_lengths))


__all__ = ["fft", "FFT_TYPES"]
