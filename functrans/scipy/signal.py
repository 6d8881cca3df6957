"""`functrans.scipy.signal`: SciPy's (and jax.scipy.signal's) convolutions and correlations
of N-d arrays (one convolution primitive each: linear memory, differentiable, batchable;
integer and boolean inputs are convolved as floats, as in JAX) and `detrend`."""
from __future__ import annotations

import numpy as np

from .. import lax
from ..core import place_functions as _place_functions
from ..numpy._conversion import asarray, promote_inexact
from ..numpy._misc import convolve_nd, valid_swaps
from ..primitives._util import dtype_of, shape_of

__all__ = ["convolve", "correlate", "convolve2d", "correlate2d", "fftconvolve", "detrend"]

_METHODS = ("auto", "direct", "fft")


def _inexact(in1, in2):
    """Both inputs as one floating-point or complex dtype (integers and booleans become
    floats, as in JAX)."""
    (in1, in2), dt = promote_inexact(in1, in2)
    return asarray(in1, dtype=dt), asarray(in2, dtype=dt)


def _reversed_conj(x):
    x = asarray(x)
    axes = tuple(range(len(shape_of(x))))
    x = lax.rev(x, axes) if axes else x
    return lax.conj(x) if np.dtype(dtype_of(x)).kind == "c" else x


def convolve(in1, in2, mode="full", method="auto", precision=None):
    """The N-d linear convolution of `in1` and `in2` (same rank): 'full', 'same' (in1's
    shape, centred) or 'valid'. `method` is accepted for SciPy's sake; the result is the
    same."""
    if method not in _METHODS:
        raise ValueError(f"convolve: method must be one of {_METHODS}, got {method!r}")
    return convolve_nd(*_inexact(in1, in2), mode, "convolve")


def correlate(in1, in2, mode="full", method="auto", precision=None):
    """The N-d cross-correlation `z[k] = sum_l in1[l + k] conj(in2[l])`, modes as
    `convolve` (in 'valid' mode either input may be the larger, as SciPy)."""
    if method not in _METHODS:
        raise ValueError(f"correlate: method must be one of {_METHODS}, got {method!r}")
    in1, in2 = _inexact(in1, in2)
    s1, s2 = shape_of(in1), shape_of(in2)
    if mode == "valid" and len(s1) == len(s2) and valid_swaps(s1, s2):
        return _reversed_conj(convolve_nd(in2, _reversed_conj(in1), mode, "correlate"))
    return convolve_nd(in1, _reversed_conj(in2), mode, "correlate")


def _two_d(in1, in2, boundary, fillvalue, name):
    if len(shape_of(asarray(in1))) != 2 or len(shape_of(asarray(in2))) != 2:
        raise ValueError(f"{name}: needs 2-d inputs, got shapes {shape_of(asarray(in1))} and "
                         f"{shape_of(asarray(in2))}")
    if boundary != "fill" or fillvalue != 0:
        raise NotImplementedError(f"{name}: only boundary='fill' with fillvalue=0 is supported "
                                  f"(got {boundary!r}, {fillvalue!r}); pad the input yourself "
                                  "for 'wrap' or 'symm'")


def convolve2d(in1, in2, mode="full", boundary="fill", fillvalue=0, precision=None):
    """The 2-d convolution (zero boundary), modes as `convolve`."""
    _two_d(in1, in2, boundary, fillvalue, "convolve2d")
    return convolve(in1, in2, mode)


def correlate2d(in1, in2, mode="full", boundary="fill", fillvalue=0, precision=None):
    """The 2-d cross-correlation (zero boundary), modes as `correlate`, except that 'same'
    centres as SciPy's correlate2d does: from row m // 2 of the full result, where
    `correlate` starts at (m - 1) // 2 (they differ for kernels of even size)."""
    _two_d(in1, in2, boundary, fillvalue, "correlate2d")
    if mode != "same":
        return correlate(in1, in2, mode)
    full = correlate(in1, in2, "full")
    starts = [m // 2 for m in shape_of(asarray(in2))]
    return lax.slice(full, starts, [st + n for st, n in zip(starts, shape_of(asarray(in1)))])


def fftconvolve(in1, in2, mode="full", axes=None):
    """The N-d convolution, as `convolve` (computed directly, to the same result up to
    rounding). `axes` (convolving along some axes only) is not supported."""
    if axes is not None:
        raise NotImplementedError("fftconvolve: axes= is not supported; convolve the whole "
                                  "arrays or vmap over the other axes")
    return convolve_nd(*_inexact(in1, in2), mode, "fftconvolve")


def detrend(data, axis=-1, type="linear", bp=0, overwrite_data=None):
    """`data` less its mean ("constant") or its least-squares line ("linear", fitted on
    each piece between the breakpoints `bp`) along `axis`."""
    if type not in ("linear", "l", "constant", "c"):
        raise ValueError(f"detrend: type must be 'linear' or 'constant', got {type!r}")
    (data,), _ = promote_inexact(data)
    data = asarray(data)
    rank = len(shape_of(data))
    axis = axis % rank
    if type in ("constant", "c"):
        return lax.sub(data, lax.expand_dims(lax.div(lax.reduce_sum(data, (axis,)),
                                                     float(shape_of(data)[axis])), (axis,)))
    n = shape_of(data)[axis]
    cuts = sorted({0, n, *(int(b) for b in np.atleast_1d(bp))})
    if cuts[0] < 0 or cuts[-1] > n:
        raise ValueError(f"detrend: breakpoints must lie in [0, {n}], got {bp!r}")
    x = lax.moveaxis(data, axis, 0)
    pieces = []
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        seg = lax.slice_in_dim(x, lo, hi, axis=0)
        length = hi - lo
        centred = np.arange(length, dtype=np.float64) - (length - 1) / 2.0
        shape = (length,) + (1,) * (rank - 1)
        t = lax.convert_element_type(asarray(centred.reshape(shape)), dtype_of(data))
        mean = lax.div(lax.reduce_sum(seg, (0,)), float(length))
        denom = float(np.sum(centred ** 2)) or 1.0
        slope = lax.div(lax.reduce_sum(lax.mul(seg, t), (0,)), denom)
        pieces.append(lax.sub(lax.sub(seg, lax.expand_dims(mean, (0,))),
                              lax.mul(t, lax.expand_dims(slope, (0,)))))
    return lax.moveaxis(lax.concatenate(pieces, 0), 0, axis)


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
