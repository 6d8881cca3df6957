"""`functrans.scipy.signal`: SciPy's (and jax.scipy.signal's) convolutions and correlations
of N-d arrays (one convolution primitive each: linear memory, differentiable, batchable;
integer and boolean inputs are convolved as floats, as in JAX), `detrend`, and the
short-time Fourier transforms `stft` / `istft` with the spectral densities `csd` / `welch`
(SciPy's legacy definitions, as JAX)."""
from __future__ import annotations

import warnings

import numpy as np

from .. import lax
from .. import numpy as fnp
from ..core import place_functions as _place_functions
from ..numpy._conversion import asarray, promote_inexact
from ..numpy._misc import convolve_nd, valid_swaps
from ..primitives._util import dtype_of, shape_of

__all__ = ["convolve", "correlate", "convolve2d", "correlate2d", "fftconvolve", "detrend",
           "stft", "istft", "csd", "welch"]

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


# ------------------------------------------------------------------ spectral analysis
def _window(window, nperseg, length, name):
    """The window (NumPy data for a named one, made by SciPy's get_window) and the segment
    length, by SciPy's rules: a named window is `nperseg` long (256 by default, at most the
    signal's `length`); an array window sets nperseg."""
    if nperseg is not None:
        nperseg = int(nperseg)
        if nperseg < 1:
            raise ValueError(f"{name}: nperseg must be a positive integer, got {nperseg}")
    if isinstance(window, (str, tuple)):
        from scipy.signal import get_window
        nperseg = 256 if nperseg is None else nperseg
        if nperseg > length:
            warnings.warn(f"{name}: nperseg = {nperseg} is greater than the input length "
                          f"{length}, using nperseg = {length}", stacklevel=3)
            nperseg = length
        return get_window(window, nperseg), nperseg
    win = asarray(window)
    if len(shape_of(win)) != 1:
        raise ValueError(f"{name}: an array window must be 1-d, got shape {shape_of(win)}")
    size = shape_of(win)[0]
    if nperseg is not None and nperseg != size:
        raise ValueError(f"{name}: nperseg = {nperseg} differs from the length {size} of "
                         "the window; leave nperseg out to use the window's length")
    if size > length:
        raise ValueError(f"{name}: the window ({size} points) is longer than the input "
                         f"({length} points)")
    return win, size


def _lengths(nperseg, noverlap, nfft, name):
    nfft = nperseg if nfft is None else int(nfft)
    if nfft < nperseg:
        raise ValueError(f"{name}: nfft = {nfft} must be at least nperseg = {nperseg}")
    noverlap = nperseg // 2 if noverlap is None else int(noverlap)
    if not 0 <= noverlap < nperseg:
        raise ValueError(f"{name}: noverlap = {noverlap} must lie in [0, nperseg = "
                         f"{nperseg})")
    return noverlap, nfft


def _real_dtype(dt):
    return np.dtype(np.empty(0, dt).real.dtype)


def _over_fs(values, fs, dtype):
    """NumPy `values` divided by the sampling frequency `fs` (a number or an Array)."""
    if isinstance(fs, (int, float, np.number)):
        return asarray(np.asarray(values, np.float64) / float(fs), dtype=dtype)
    return lax.div(asarray(values, dtype=dtype), asarray(fs, dtype=dtype))


def _extended(x, n, boundary, name):
    """x (data on its last axis) extended by n points at both ends: SciPy's `zeros`,
    `constant` (edge values), `even` and `odd` (reflections about the edge points)."""
    if n == 0 or boundary is None:
        return x
    length = x.shape[-1]
    if boundary in ("even", "odd") and n >= length:
        raise ValueError(f"{name}: boundary={boundary!r} extends by {n} points, which needs "
                         f"more than {n} input points (got {length}); use 'zeros'")
    first, last = x[..., :1], x[..., -1:]
    if boundary == "zeros":
        pads = [(0, 0)] * (x.ndim - 1) + [(n, n)]
        return fnp.pad(x, pads)
    if boundary == "constant":
        left = fnp.broadcast_to(first, x.shape[:-1] + (n,))
        right = fnp.broadcast_to(last, x.shape[:-1] + (n,))
    else:
        left = fnp.flip(x[..., 1:n + 1], -1)
        right = fnp.flip(x[..., length - n - 1:length - 1], -1)
        if boundary == "odd":
            left, right = 2 * first - left, 2 * last - right
    return fnp.concatenate([left, x, right], axis=-1)


def _detrender(detrend_, axis, name):
    """The function detrending each segment (segments on the last axis), from SciPy's
    `detrend` argument: False, 'constant', 'linear' or a function of a segment array."""
    if detrend_ is False or detrend_ is None:
        return lambda d: d
    if isinstance(detrend_, str):
        if detrend_ not in ("constant", "linear"):
            raise ValueError(f"{name}: detrend must be 'constant', 'linear', False or a "
                             f"function, got {detrend_!r}")
        return lambda d: detrend(d, axis=-1, type=detrend_)
    if not callable(detrend_):
        raise TypeError(f"{name}: detrend must be 'constant', 'linear', False or a "
                        f"function, got {detrend_!r}")
    if axis in (-1, None):
        return detrend_
    return lambda d: fnp.moveaxis(detrend_(fnp.moveaxis(d, -1, axis)), axis, -1)


def _segment_spectra(x, win, nperseg, noverlap, nfft, detrend_func, onesided):
    """The windowed FFTs of the segments of x (data on its last axis): shape (..., segments,
    frequencies)."""
    step = nperseg - noverlap
    count = (x.shape[-1] - noverlap) // step
    starts = np.arange(count) * step
    segments = x[..., starts[:, None] + np.arange(nperseg)]
    segments = detrend_func(segments) * win
    if onesided:
        return fnp.fft.rfft(fnp.real(segments), n=nfft)
    return fnp.fft.fft(segments, n=nfft)


def _spectral_setup(dt, length, window, nperseg, noverlap, nfft, return_onesided, name):
    """The window (in the real dtype of `dt`), nperseg, noverlap, nfft, whether the spectra
    are one-sided (never for complex data, as SciPy) and the real dtype."""
    win, nperseg = _window(window, nperseg, length, name)
    noverlap, nfft = _lengths(nperseg, noverlap, nfft, name)
    real = _real_dtype(dt)
    win = asarray(win)
    if np.dtype(dtype_of(win)).kind != "c":
        win = asarray(win, dtype=real)
    if return_onesided and np.dtype(dt).kind == "c":
        warnings.warn(f"{name}: the input is complex, switching to return_onesided=False",
                      stacklevel=3)
        return_onesided = False
    return win, nperseg, noverlap, nfft, return_onesided, real


def _frequencies(nfft, onesided, fs, real):
    base = np.fft.rfftfreq(nfft) if onesided else np.fft.fftfreq(nfft)
    if isinstance(fs, (int, float, np.number)):
        return asarray(base * float(fs), dtype=real)
    return lax.mul(asarray(base, dtype=real), asarray(fs, dtype=real))


def stft(x, fs=1.0, window="hann", nperseg=256, noverlap=None, nfft=None, detrend=False,
         return_onesided=True, boundary="zeros", padded=True, axis=-1):
    """The short-time Fourier transform of `x` along `axis` (SciPy's legacy `stft`):
    (frequencies, segment times, Zxx), Zxx's frequencies at `axis` and its segments on a
    new last axis, each segment's spectrum scaled by 1 / sum(window). `boundary` extends
    the signal by nperseg // 2 points at each end ('zeros', 'even', 'odd', 'constant' or
    None); `padded` zero-pads it to a whole number of segments."""
    if boundary not in ("zeros", "even", "odd", "constant", None):
        raise ValueError("stft: boundary must be 'zeros', 'even', 'odd', 'constant' or None, "
                         f"got {boundary!r}")
    (x,), dt = promote_inexact(x)
    x = fnp.moveaxis(asarray(x, dtype=dt), axis, -1)
    win, nperseg, noverlap, nfft, onesided, real = _spectral_setup(
        dt, x.shape[-1], window, nperseg, noverlap, nfft, return_onesided, "stft")
    x = _extended(x, nperseg // 2, boundary, "stft")
    step = nperseg - noverlap
    if padded:
        extra = (-(x.shape[-1] - nperseg) % step) % nperseg
        x = fnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, extra)])
    spectra = _segment_spectra(x, win, nperseg, noverlap, nfft,
                               _detrender(detrend, axis, "stft"), onesided)
    spectra = spectra / fnp.abs(fnp.sum(win))
    times = np.arange(nperseg / 2, x.shape[-1] - nperseg / 2 + 1, step)
    if boundary is not None:
        times = times - nperseg / 2
    out_axis = axis - 1 if axis < 0 else axis
    return (_frequencies(nfft, onesided, fs, real), _over_fs(times, fs, real),
            fnp.moveaxis(spectra, -1, out_axis))


def csd(x, y, fs=1.0, window="hann", nperseg=None, noverlap=None, nfft=None,
        detrend="constant", return_onesided=True, scaling="density", axis=-1,
        average="mean"):
    """The cross spectral density of `x` and `y` by Welch's method (SciPy's `csd`):
    (frequencies, Pxy), the average over segments of conj(X) Y with X, Y the windowed
    spectra of the segments, scaled to a density ('density') or a power spectrum
    ('spectrum'). `y` None stands for `x` (the result is then real). The frequencies are
    at `axis`; the other axes of x and y broadcast, the shorter signal is zero-padded."""
    if scaling not in ("density", "spectrum"):
        raise ValueError(f"csd: scaling must be 'density' or 'spectrum', got {scaling!r}")
    if average not in ("mean", "median"):
        raise ValueError(f"csd: average must be 'mean' or 'median', got {average!r}")
    same = y is None or y is x
    if same:
        (x,), dt = promote_inexact(x)
        x = fnp.moveaxis(asarray(x, dtype=dt), axis, -1)
    else:
        (x, y), dt = promote_inexact(x, y)
        x, y = (fnp.moveaxis(asarray(v, dtype=dt), axis, -1) for v in (x, y))
        try:
            outer = np.broadcast_shapes(x.shape[:-1], y.shape[:-1])
        except ValueError:
            raise ValueError(f"csd: x of shape {x.shape} and y of shape {y.shape} (data on "
                             "the last axis) cannot be broadcast together") from None
        n = max(x.shape[-1], y.shape[-1])
        x, y = (fnp.pad(fnp.broadcast_to(v, outer + (v.shape[-1],)),
                        [(0, 0)] * len(outer) + [(0, n - v.shape[-1])]) for v in (x, y))
    win, nperseg, noverlap, nfft, onesided, real = _spectral_setup(
        dt, x.shape[-1], window, nperseg, noverlap, nfft, return_onesided, "csd")
    detrend_func = _detrender(detrend, axis, "csd")
    spectra = _segment_spectra(x, win, nperseg, noverlap, nfft, detrend_func, onesided)
    if same:
        pxy = fnp.real(spectra) ** 2 + fnp.imag(spectra) ** 2
    else:
        pxy = fnp.conj(spectra) * _segment_spectra(y, win, nperseg, noverlap, nfft,
                                                   detrend_func, onesided)
    if scaling == "density":
        scale = 1.0 / (fs * fnp.sum(fnp.abs(win) ** 2))
    else:
        scale = 1.0 / fnp.abs(fnp.sum(win)) ** 2
    pxy = pxy * scale
    if onesided:
        double = np.full(pxy.shape[-1], 2.0)
        double[0] = 1.0
        if nfft % 2 == 0:
            double[-1] = 1.0
        pxy = pxy * asarray(double, dtype=real)
    if pxy.shape[-2] > 1 and average == "median":
        # the median of chi-squared(2) variables is biased: SciPy's correction
        even = 2 * np.arange(1.0, (pxy.shape[-2] - 1) // 2 + 1)
        bias = 1 + float(np.sum(1.0 / (even + 1) - 1.0 / even))
        if fnp.iscomplexobj(pxy):
            pxy = lax.complex(fnp.median(fnp.real(pxy), axis=-2),
                              fnp.median(fnp.imag(pxy), axis=-2))
        else:
            pxy = fnp.median(pxy, axis=-2)
        pxy = pxy / bias
    else:
        pxy = fnp.mean(pxy, axis=-2)
    return _frequencies(nfft, onesided, fs, real), fnp.moveaxis(pxy, -1, axis)


def welch(x, fs=1.0, window="hann", nperseg=None, noverlap=None, nfft=None,
          detrend="constant", return_onesided=True, scaling="density", axis=-1,
          average="mean"):
    """The power spectral density of `x` by Welch's method (SciPy's `welch`): `csd` of x
    with itself, (frequencies, Pxx)."""
    return csd(x, None, fs, window, nperseg, noverlap, nfft, detrend, return_onesided,
               scaling, axis, average)


def istft(Zxx, fs=1.0, window="hann", nperseg=None, noverlap=None, nfft=None,
          input_onesided=True, boundary=True, time_axis=-1, freq_axis=-2):
    """The inverse of `stft` by weighted overlap-add (SciPy's legacy `istft`): (times, x).
    `boundary` says the stft extended the signal (its nperseg // 2 points at each end are
    cut off); x's samples are on the time axis, its times one per sample."""
    (Zxx,), dt = promote_inexact(Zxx)
    Zxx = asarray(Zxx, dtype=np.result_type(dt, np.complex64))
    if Zxx.ndim < 2:
        raise ValueError(f"istft: Zxx must have at least 2 dimensions (frequencies and "
                         f"segments), got shape {Zxx.shape}")
    rank = Zxx.ndim
    time_axis, freq_axis = int(time_axis) % rank, int(freq_axis) % rank
    if time_axis == freq_axis:
        raise ValueError(f"istft: time_axis and freq_axis must differ, both are {time_axis}")
    default = 2 * (Zxx.shape[freq_axis] - 1) if input_onesided else Zxx.shape[freq_axis]
    nperseg = default if nperseg is None else int(nperseg)
    if nperseg < 1:
        raise ValueError(f"istft: nperseg must be a positive integer, got {nperseg}")
    if nfft is None:
        nfft = nperseg if input_onesided and nperseg == default + 1 else default
    noverlap, nfft = _lengths(nperseg, noverlap, nfft, "istft")
    step = nperseg - noverlap
    outer = [a for a in range(rank) if a not in (time_axis, freq_axis)]
    Zxx = fnp.transpose(Zxx, outer + [freq_axis, time_axis])
    count = Zxx.shape[-1]
    win, _ = _window(window, nperseg, nperseg, "istft")
    real = _real_dtype(dtype_of(Zxx))
    win = asarray(win, dtype=real)
    inverse = fnp.fft.irfft if input_onesided else fnp.fft.ifft
    frames = inverse(Zxx, n=nfft, axis=-2)[..., :nperseg, :] * fnp.sum(win)
    # overlap-add of the windowed frames, segments and their points leading
    frames = fnp.moveaxis(frames * win[:, None], (-1, -2), (0, 1))
    length = nperseg + (count - 1) * step
    positions = np.arange(count)[:, None] * step + np.arange(nperseg)
    x = fnp.zeros((length,) + frames.shape[2:], frames.dtype).at[positions].add(frames)
    norm = fnp.zeros(length, real).at[positions].add(
        fnp.broadcast_to(win * win, (count, nperseg)))
    if boundary:
        cut = nperseg // 2
        x, norm = x[cut:length - cut], norm[cut:length - cut]
    norm = fnp.where(norm > 1e-10, norm, 1.0)
    x = x / norm.reshape(norm.shape + (1,) * (x.ndim - 1))
    if input_onesided:
        x = fnp.real(x)
    samples = x.shape[0]
    if x.ndim > 1 and time_axis != rank - 1:
        x = fnp.moveaxis(x, 0, time_axis - 1 if freq_axis < time_axis else time_axis)
    else:
        x = fnp.moveaxis(x, 0, -1)
    return _over_fs(np.arange(samples), fs, real), x


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
