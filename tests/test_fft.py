"""`functrans.numpy.fft` against NumPy; derivatives (through real and imaginary parts)
against finite differences in both modes, batching against a loop, jit against eager."""
from __future__ import annotations

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 8))
Y = RNG.standard_normal((3, 8))
Z = X + 1j * Y
REAL_INPUT = {"rfft", "rfftn", "rfft2", "ihfft"}
CASES = [("fft", {}), ("ifft", {"n": 11}), ("fft", {"n": 5, "axis": 0}),
         ("fft", {"norm": "ortho"}), ("fftn", {}), ("ifftn", {"s": (2, 4), "axes": (0, 1)}),
         ("rfft", {}), ("rfft", {"n": 7, "norm": "forward"}), ("irfft", {}),
         ("irfft", {"n": 9}), ("rfftn", {}), ("irfftn", {"s": (3, 6), "axes": (0, 1)}), ("hfft", {}),
         ("ihfft", {}), ("fft2", {}), ("ifft2", {"norm": "forward"}), ("rfft2", {}),
         ("irfft2", {}), ("ifft", {"axis": 0, "norm": "ortho"})]


def _input(name):
    return X if name in REAL_INPUT else Z


@pytest.mark.parametrize("name,kw", CASES)
def test_matches_numpy_eager_and_jit(name, kw):
    x = _input(name)
    want = getattr(np.fft, name)(x, **kw)
    for got in (getattr(fnp.fft, name)(x, **kw),
                ft.jit(lambda a: getattr(fnp.fft, name)(a, **kw))(x)):
        got = np.asarray(got)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, atol=1e-12)
    low = getattr(fnp.fft, name)(x.astype(np.complex64 if x.dtype.kind == "c" else np.float32),
                                 **kw)
    assert low.dtype in (np.complex64, np.float32)


@pytest.mark.parametrize("name,kw", CASES)
def test_derivatives(name, kw):
    real_in = name in REAL_INPUT
    shape = getattr(np.fft, name)(_input(name), **kw).shape
    w = np.linspace(0.5, 2.0, int(np.prod(shape))).reshape(shape)

    def f(a, b):
        out = getattr(fnp.fft, name)(a if real_in else a + 1j * b, **kw)
        if out.dtype.kind == "c":
            return fnp.sum(fnp.real(out) * w) + fnp.sum(fnp.imag(out) ** 2)
        return fnp.sum(out ** 2 * w)
    check_grads(f, (X, Y), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"])
@pytest.mark.parametrize("axis", [0, 1])
def test_batching_matches_a_loop(name, axis):
    x = _input(name)
    got = ft.vmap(lambda a: getattr(fnp.fft, name)(a), in_axes=axis, out_axes=axis)(x)
    want = np.stack([np.asarray(getattr(fnp.fft, name)(np.take(x, i, axis)))
                     for i in range(x.shape[axis])], axis)
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-12)


def test_frequencies_and_shifts():
    np.testing.assert_allclose(np.asarray(fnp.fft.fftfreq(8, 0.1)), np.fft.fftfreq(8, 0.1))
    np.testing.assert_allclose(np.asarray(fnp.fft.rfftfreq(9)), np.fft.rfftfreq(9))
    assert fnp.fft.fftfreq(4).dtype == np.float32
    assert fnp.fft.fftfreq(4, dtype=fnp.float64).dtype == np.float64
    for axes in (None, 1, (0,)):
        np.testing.assert_array_equal(np.asarray(fnp.fft.fftshift(X, axes=axes)),
                                      np.fft.fftshift(X, axes=axes))
        np.testing.assert_array_equal(np.asarray(fnp.fft.ifftshift(X, axes=axes)),
                                      np.fft.ifftshift(X, axes=axes))


def test_errors():
    with pytest.raises(ValueError, match="norm"):
        fnp.fft.fft(Z, norm="unitary")
    with pytest.raises(ValueError, match="data points"):
        fnp.fft.fft(Z, n=0)
    with pytest.raises(ValueError, match="axis"):
        fnp.fft.fft(Z, axis=2)
    with pytest.raises(TypeError, match="real"):
        fnp.fft.rfft(Z)
