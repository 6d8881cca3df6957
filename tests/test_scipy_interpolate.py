"""functrans.scipy.interpolate.RegularGridInterpolator against SciPy's: linear and nearest,
fill values and extrapolation, trailing value axes, derivatives and jit."""
import numpy as np
import pytest
import scipy.interpolate as si

import functrans as ft
import functrans.numpy as fnp
from functrans.scipy.interpolate import RegularGridInterpolator
from functrans.test_util import check_grads

rng = np.random.default_rng(81)
X = np.sort(rng.uniform(0, 5, 6))
Y = np.sort(rng.uniform(-2, 2, 4))
Q = np.stack([rng.uniform(-1, 6, 10), rng.uniform(-3, 3, 10)], -1)


@pytest.mark.parametrize("method", ["linear", "nearest"])
@pytest.mark.parametrize("fill", [np.nan, None, 0.5])
@pytest.mark.parametrize("trailing", [(), (2,)])
def test_matches_scipy(method, fill, trailing):
    v = rng.standard_normal((6, 4) + trailing)
    got = RegularGridInterpolator((X, Y), v, method, fill_value=fill)(Q)
    want = si.RegularGridInterpolator((X, Y), v, method, bounds_error=False,
                                      fill_value=fill)(Q)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, equal_nan=True)


def test_derivatives_jit_and_errors():
    v = rng.standard_normal((6, 4))
    inside = np.stack([rng.uniform(X[0], X[-1], 5), rng.uniform(Y[0], Y[-1], 5)], -1)
    check_grads(lambda v: RegularGridInterpolator((X, Y), v)(inside), (v,), order=2,
                modes=("fwd", "rev"))
    check_grads(lambda q: fnp.sum(RegularGridInterpolator((X, Y), v)(q)), (inside,), order=1,
                modes=("fwd", "rev"))
    interp = RegularGridInterpolator((X, Y), v)
    np.testing.assert_allclose(ft.jit(interp)(Q), interp(Q), rtol=1e-14, equal_nan=True)
    with pytest.raises(NotImplementedError, match="bounds_error"):
        RegularGridInterpolator((X, Y), v, bounds_error=True)
    with pytest.raises(ValueError, match="coordinates"):
        interp(Q[:, :1])


def _leaves_close(got, want):
    import jax
    got, want = ft.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-12, atol=1e-14)


def test_a_pytree_as_jax_s_through_jit_vmap_and_grad(jax_x64):
    import jax
    import jax.numpy as jnp
    from jax.scipy.interpolate import RegularGridInterpolator as JaxInterpolator
    v = rng.standard_normal((6, 4))
    interp = RegularGridInterpolator((X, Y), v, fill_value=0.5)
    theirs = JaxInterpolator((X, Y), v, fill_value=0.5)
    # children (grid, values, fill_value), method and bounds_error in the structure
    assert str(ft.tree_util.tree_structure(interp)) == str(jax.tree_util.tree_structure(theirs))
    _leaves_close(interp, theirs)
    assert len(ft.tree_util.tree_leaves(RegularGridInterpolator((X, Y), v, fill_value=None))) == 3
    call = ft.jit(lambda interp, q: interp(q))
    np.testing.assert_allclose(call(interp, Q), theirs(Q), rtol=1e-13)
    other = RegularGridInterpolator((X, Y), 2 * v, "nearest")   # another method: a retrace
    np.testing.assert_allclose(call(other, Q), JaxInterpolator((X, Y), 2 * v, "nearest")(Q),
                               rtol=1e-13, equal_nan=True)
    batch = np.stack([Q, Q[::-1]])
    np.testing.assert_allclose(ft.vmap(lambda i, q: i(q), in_axes=(None, 0))(interp, batch),
                               [theirs(Q), theirs(Q[::-1])], rtol=1e-13)
    # derivatives in every leaf (grids, values, fill value), eagerly and through jit

    def loss(interp):
        return fnp.sum(interp(Q) ** 2)
    want = jax.grad(lambda i: jnp.sum(i(Q) ** 2))(theirs)
    for grad in (ft.grad(loss), ft.grad(ft.jit(loss)), ft.jit(ft.grad(loss))):
        got = grad(interp)
        assert isinstance(got, RegularGridInterpolator) and got.method == "linear"
        _leaves_close(got, want)
    # rebuilt from its children without checking them (tree_map to other leaves)
    shapes = ft.tree_util.tree_map(np.shape, interp)
    assert shapes.values == (6, 4) and shapes.grid == ((6,), (4,))


def test_integer_values_become_floats_and_fill_value_dtype(jax_x64):
    from jax.scipy.interpolate import RegularGridInterpolator as JaxInterpolator
    v = np.arange(24).reshape(6, 4)
    interp = RegularGridInterpolator((X, Y), v)
    assert interp.values.dtype == fnp.zeros(()).dtype           # the default float
    np.testing.assert_allclose(interp(Q), JaxInterpolator((X, Y), v)(Q), rtol=1e-6,
                               equal_nan=True)
    near = RegularGridInterpolator((X, Y), v.astype(np.int32), "nearest", fill_value=-1)
    assert near(Q).dtype == interp.values.dtype
    np.testing.assert_array_equal(near(Q), JaxInterpolator((X, Y), v, "nearest",
                                                           fill_value=-1)(Q))
    with pytest.raises(ValueError, match="fill_value must be None or of a dtype"):
        RegularGridInterpolator((X, Y), v, fill_value=1j)


def test_an_interpolator_on_another_device_as_an_argument(fake_gpus):
    gpu = fake_gpus[0]
    v = rng.standard_normal((6, 4))
    interp = RegularGridInterpolator(tuple(ft.device_put(g, gpu) for g in (X, Y)),
                                     ft.device_put(v, gpu))
    want = RegularGridInterpolator((X, Y), v)(Q)
    got = ft.jit(lambda interp, q: interp(q))(interp, Q)
    assert got.device == gpu
    np.testing.assert_allclose(got, want, rtol=1e-13, equal_nan=True)
    inside = Q[1:3] / 2 + 1
    grads = ft.grad(ft.jit(lambda interp: fnp.sum(interp(inside) ** 2)))(interp)
    assert {leaf.device for leaf in ft.tree_util.tree_leaves(grads)} == {gpu}
    np.testing.assert_allclose(grads.values, ft.grad(
        lambda v: fnp.sum(RegularGridInterpolator((X, Y), v)(inside) ** 2))(v), rtol=1e-13)
