"""functrans.scipy.signal's short-time Fourier transforms and spectral densities (stft,
istft, csd, welch) against SciPy's legacy definitions (which JAX follows): every option in
float64 and float32, derivatives against finite differences, jit and vmap."""
import warnings

import numpy as np
import pytest
import scipy.signal as ss

import functrans as ft
import functrans.numpy as fnp
import functrans.scipy.signal as fs
from functrans.test_util import check_grads

rng = np.random.default_rng(7)
X = rng.standard_normal((3, 50)) + np.linspace(0.0, 2.0, 50)
XC = X + 1j * rng.standard_normal((3, 50))


def _same(got, want, rtol=1e-10, atol=1e-12, what=""):
    assert len(got) == len(want), what
    for i, (g, w) in enumerate(zip(got, want)):
        g = np.asarray(g)
        assert g.shape == np.shape(w), (what, i, g.shape, np.shape(w))
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"{what} [{i}]")


def _quiet(f, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*args, **kwargs)


STFT_CASES = [
    dict(nperseg=16),
    dict(),                                                  # nperseg 256 > 50: cut to 50
    dict(nperseg=16, noverlap=5, nfft=20, detrend="linear", boundary="even"),
    dict(nperseg=15, boundary="odd", padded=False, fs=3.0),
    dict(nperseg=8, boundary="constant", detrend="constant", return_onesided=False),
    dict(nperseg=16, boundary=None, padded=False, window="hamming"),
    dict(nperseg=12, window=np.linspace(0.5, 1.0, 12)),
    dict(nperseg=2, axis=0),
    dict(nperseg=1, noverlap=0, boundary=None),
]


def _case_id(case):
    """A stable test id (functions and arrays by name, never by address)."""
    def show(v):
        return getattr(v, "__name__", None) or (f"array{list(v.shape)}"
                                                if isinstance(v, np.ndarray) else repr(v))
    items = case.items() if isinstance(case, dict) else enumerate(case)
    return ",".join(f"{k}={show(v)}" for k, v in items)


@pytest.mark.parametrize("kwargs", STFT_CASES, ids=_case_id)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stft_matches_scipy(kwargs, dtype):
    x = X.astype(dtype)
    got = _quiet(fs.stft, x, **kwargs)
    want = _quiet(ss.stft, x, **kwargs)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-6)
    _same(got, want, what=str(kwargs), **tol)
    real = np.dtype(dtype)
    assert [np.asarray(v).dtype for v in got] == [real, real, np.result_type(real, 1j)]


def test_stft_of_complex_data_is_two_sided():
    with pytest.warns(UserWarning, match="complex"):
        got = fs.stft(XC, nperseg=16)
    _same(got, _quiet(ss.stft, XC, nperseg=16))


def _detrend_first(d):
    return d - d[..., :1]


CSD_CASES = [
    dict(nperseg=16),
    dict(),
    dict(nperseg=16, average="median"),
    dict(nperseg=15, average="median", noverlap=3),         # an even number of segments
    dict(nperseg=16, scaling="spectrum", nfft=21, detrend=False),
    dict(nperseg=10, detrend="linear", return_onesided=False, fs=100.0),
    dict(nperseg=10, detrend=_detrend_first),
    dict(nperseg=2, axis=0, window="boxcar"),
    dict(window=np.hanning(20)),
    dict(nperseg=50),                                        # one segment
]


@pytest.mark.parametrize("kwargs", CSD_CASES, ids=_case_id)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_welch_and_csd_match_scipy(kwargs, dtype):
    x, y = X.astype(dtype), (2 * X[::-1] + X).astype(dtype)
    tol = dict(rtol=1e-10, atol=1e-13) if dtype == np.float64 else dict(rtol=1e-4, atol=2e-6)
    got = _quiet(fs.welch, x, **kwargs)
    _same(got, _quiet(ss.welch, x, **kwargs), what=f"welch {kwargs}", **tol)
    assert np.asarray(got[1]).dtype == dtype
    got = _quiet(fs.csd, x, y, **kwargs)
    _same(got, _quiet(ss.csd, x, y, **kwargs), what=f"csd {kwargs}", **tol)
    assert np.asarray(got[1]).dtype == np.result_type(dtype, np.complex64)


def test_csd_broadcasts_pads_and_takes_complex_data():
    _same(fs.csd(X, X[:, :40], nperseg=16), ss.csd(X, X[:, :40], nperseg=16))
    _same(fs.csd(X, X[:1] * 2 + 1, nperseg=16), ss.csd(X, X[:1] * 2 + 1, nperseg=16))
    # (SciPy's padding fails where the outer shapes differ: padded after broadcasting here)
    _same(fs.csd(X, X[:1, :40], nperseg=16),
          ss.csd(X, np.broadcast_to(X[:1, :40], (3, 40)), nperseg=16))
    _same(_quiet(fs.csd, XC, X, nperseg=16), _quiet(ss.csd, XC, X, nperseg=16))
    _same(fs.csd(X, None, nperseg=16), ss.welch(X, nperseg=16))
    with pytest.raises(ValueError, match="cannot be broadcast"):
        fs.csd(X, X[:2], nperseg=16)


ISTFT_CASES = [
    (dict(nperseg=16), dict()),
    (dict(nperseg=16, noverlap=12, window="hamming"), dict(noverlap=12, window="hamming")),
    (dict(nperseg=15, nfft=16), dict(nperseg=15, nfft=16)),
    (dict(nperseg=16, boundary=None, padded=False), dict(boundary=False)),
    (dict(nperseg=16, return_onesided=False), dict(input_onesided=False)),
]


@pytest.mark.parametrize("fwd,inv", ISTFT_CASES, ids=_case_id)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_istft_matches_scipy_and_inverts_stft(fwd, inv, dtype):
    x = X.astype(dtype)
    Z = ss.stft(x, **fwd)[2]
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    t, got = fs.istft(Z, **inv)
    want = _quiet(ss.istft, Z, **inv)[1]
    _same([got], [want], what=str(inv), **tol)
    assert np.asarray(got).dtype == (dtype if inv.get("input_onesided", True)
                                     else np.result_type(dtype, np.complex64))
    np.testing.assert_allclose(np.asarray(t), np.arange(got.shape[-1]), rtol=0)
    if fwd.get("boundary", "zeros") is not None:
        np.testing.assert_allclose(np.real(np.asarray(got))[:, :50], x, **tol)
    # times of a 1-d input as SciPy's (SciPy counts the first axis of N-d outputs)
    _same(fs.istft(Z[0], fs=2.0, **inv), _quiet(ss.istft, Z[0], fs=2.0, **inv), **tol)


def test_istft_axes():
    Z = np.moveaxis(ss.stft(X, nperseg=16)[2], 0, -1)             # (freq, time, batch)
    got = fs.istft(Z, time_axis=1, freq_axis=0)[1]
    _same([got], [ss.istft(Z, time_axis=1, freq_axis=0)[1]])
    Z = np.moveaxis(ss.stft(X, nperseg=16)[2], -1, 0)             # (time, batch, freq)
    got = fs.istft(Z, time_axis=0, freq_axis=-1)[1]
    _same([got], [ss.istft(Z, time_axis=0, freq_axis=-1)[1]])


def _parts(z):
    return fnp.stack([fnp.real(z), fnp.imag(z)])


def test_spectral_derivatives():
    x = X[0, :24]
    y = X[1, :24]
    check_grads(lambda v: fnp.abs(fs.stft(v, nperseg=8, boundary="even")[2]) ** 2, (x,),
                order=2)
    check_grads(lambda v: fs.welch(v, nperseg=8, detrend="linear")[1], (x,), order=2)
    check_grads(lambda v, w: _parts(fs.csd(v, w, nperseg=8, average="median")[1]), (x, y),
                order=1)
    Z = ss.stft(x, nperseg=8)[2]
    check_grads(lambda re, im: fs.istft(re + 1j * im)[1], (Z.real, Z.imag), order=2)
    check_grads(lambda f: fs.welch(x, fs=f, nperseg=8)[1], (np.float64(2.0),), order=1)


def test_spectral_jit_and_vmap():
    f = ft.jit(lambda v: fs.welch(v, nperseg=16)[1])
    np.testing.assert_allclose(f(X), ss.welch(X, nperseg=16)[1], rtol=1e-10, atol=1e-14)
    g = ft.jit(lambda v: fs.stft(v, nperseg=16)[2])
    np.testing.assert_allclose(g(X), ss.stft(X, nperseg=16)[2], rtol=1e-10, atol=1e-14)
    Z = ss.stft(X, nperseg=16)[2]
    h = ft.jit(lambda z: fs.istft(z)[1])
    np.testing.assert_allclose(h(Z), ss.istft(Z)[1], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ft.vmap(lambda v, w: fs.csd(v, w, nperseg=16)[1])(X, X[::-1]),
                               ss.csd(X, X[::-1], nperseg=16)[1], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(ft.vmap(lambda z: fs.istft(z)[1])(Z), ss.istft(Z)[1],
                               rtol=1e-10, atol=1e-12)


def test_spectral_bad_arguments():
    with pytest.raises(ValueError, match="noverlap = 16 must lie in"):
        fs.welch(X, nperseg=16, noverlap=16)
    with pytest.raises(ValueError, match="nfft = 8 must be at least nperseg = 16"):
        fs.stft(X, nperseg=16, nfft=8)
    with pytest.raises(ValueError, match="differs from the length 12 of the window"):
        fs.welch(X, window=np.ones(12), nperseg=10)
    with pytest.raises(ValueError, match="scaling"):
        fs.csd(X, X, scaling="power")
    with pytest.raises(ValueError, match="average"):
        fs.welch(X, average="mode")
    with pytest.raises(ValueError, match="boundary"):
        fs.stft(X, boundary="wrap")
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        fs.istft(np.ones(5, complex))
    with pytest.raises(ValueError, match="detrend"):
        fs.welch(X, nperseg=16, detrend="quadratic")
    with pytest.warns(UserWarning, match="greater than the input length"):
        fs.welch(X)
