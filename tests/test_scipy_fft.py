"""functrans.scipy.fft (type-2 DCT and its inverse) against scipy.fft, with derivatives."""
import numpy as np
import pytest
import scipy.fft as sf

import functrans as ft
import functrans.numpy as fnp
import functrans.scipy.fft as ff
from functrans.test_util import check_grads

rng = np.random.default_rng(61)


@pytest.mark.parametrize("n", [1, 2, 5, 8])
@pytest.mark.parametrize("norm", [None, "backward", "ortho", "forward"])
def test_dct_and_idct_match_scipy(n, norm):
    x = rng.standard_normal((3, n))
    np.testing.assert_allclose(ff.dct(x, norm=norm), sf.dct(x, norm=norm), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(ff.idct(x, norm=norm), sf.idct(x, norm=norm), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(ff.idct(ff.dct(x, norm=norm), norm=norm), x, rtol=1e-10,
                               atol=1e-12)


def test_lengths_axes_complex_and_nd():
    y = rng.standard_normal((4, 6))
    for n in (3, 9):
        np.testing.assert_allclose(ff.dct(y, n=n), sf.dct(y, n=n), rtol=1e-10, atol=1e-12)
    z = y + 1j * rng.standard_normal((4, 6))
    np.testing.assert_allclose(ff.dct(z, axis=0, norm="ortho"), sf.dct(z, axis=0, norm="ortho"),
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ff.dctn(y, norm="ortho"), sf.dctn(y, norm="ortho"), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(ff.idctn(y, s=(5, 7)), sf.idctn(y, s=(5, 7)), rtol=1e-10,
                               atol=1e-12)
    assert ff.dct(y.astype(np.float32)).dtype == np.float32
    with pytest.raises(NotImplementedError, match="type 2"):
        ff.dct(y, type=3)


def test_dct_derivatives_and_jit():
    x = rng.standard_normal(7)
    check_grads(lambda v: fnp.sum(fnp.sin(ff.dct(v, norm="ortho"))), (x,), order=2,
                modes=("fwd", "rev"))
    check_grads(lambda v: fnp.sum(ff.idct(v) ** 2), (x,), order=2, modes=("fwd", "rev"))
    np.testing.assert_allclose(ft.jit(ff.dct)(x), sf.dct(x), rtol=1e-12)
