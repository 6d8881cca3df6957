"""functrans.scipy.ndimage.map_coordinates against SciPy (modes whose conventions agree) and
JAX (all modes), with derivatives and jit."""
import numpy as np
import pytest
import scipy.ndimage as sn

import functrans as ft
import functrans.numpy as fnp
import functrans.scipy.ndimage as fn
from functrans.test_util import check_grads

rng = np.random.default_rng(51)
IMG = rng.standard_normal((5, 7))
COORDS = [rng.uniform(-3, 8, (4, 6)), rng.uniform(-3, 10, (4, 6))]


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("mode", ["nearest", "mirror", "reflect"])
def test_map_coordinates_matches_scipy(order, mode):
    np.testing.assert_allclose(fn.map_coordinates(IMG, COORDS, order, mode),
                               sn.map_coordinates(IMG, COORDS, order=order, mode=mode),
                               rtol=1e-12)


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("mode", ["constant", "nearest", "wrap", "mirror", "reflect"])
def test_map_coordinates_matches_jax(order, mode):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    import jax.scipy.ndimage as jn
    prev = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        want = jn.map_coordinates(jnp.asarray(IMG), [jnp.asarray(c) for c in COORDS], order,
                                  mode, cval=1.5)
        ints = rng.integers(0, 100, (5, 7))
        want_int = jn.map_coordinates(jnp.asarray(ints), [jnp.asarray(c) for c in COORDS],
                                      order, mode)
    finally:
        jax.config.update("jax_enable_x64", prev)
    np.testing.assert_allclose(fn.map_coordinates(IMG, COORDS, order, mode, cval=1.5),
                               np.asarray(want), rtol=1e-12)
    np.testing.assert_array_equal(fn.map_coordinates(ints, COORDS, order, mode),
                                  np.asarray(want_int))


def test_map_coordinates_derivatives_jit_and_errors():
    coords = [fnp.asarray(np.array([0.3, 1.7, 3.2])), fnp.asarray(np.array([2.4, 0.6, 5.5]))]
    check_grads(lambda img: fn.map_coordinates(img, coords, 1, "nearest"), (IMG,), order=2,
                modes=("fwd", "rev"))
    check_grads(lambda c: fn.map_coordinates(IMG, [c, coords[1]], 1), (coords[0],), order=1,
                modes=("fwd", "rev"))
    np.testing.assert_allclose(
        ft.jit(lambda img: fn.map_coordinates(img, COORDS, 1, "wrap"))(IMG),
        fn.map_coordinates(IMG, COORDS, 1, "wrap"), rtol=1e-14)
    with pytest.raises(NotImplementedError, match="order 3"):
        fn.map_coordinates(IMG, COORDS, 3)
    with pytest.raises(ValueError, match="one per axis"):
        fn.map_coordinates(IMG, COORDS[:1], 1)
