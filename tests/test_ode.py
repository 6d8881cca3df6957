"""functrans.experimental.ode.odeint against jax.experimental.ode, SciPy and finite
differences."""
import numpy as np
import pytest
import scipy.integrate

import functrans as ft
import functrans.numpy as fnp
from functrans.experimental.ode import odeint


@pytest.fixture(autouse=True)
def x64():
    with ft.enable_x64():
        yield


@pytest.fixture
def jax64():
    jax = pytest.importorskip("jax")
    with jax.enable_x64(True):
        yield jax


def decay(y, t, k):
    return -k * y


def oscillator(y, t, omega, damping):
    """A damped harmonic oscillator, written once for both libraries."""
    return y[1] * np.array([1.0, 0.0]) + (-omega ** 2 * y[0] - damping * y[1]) * np.array(
        [0.0, 1.0])


def pytree_dynamics(state, t, a):
    """A pytree state: a dict of a vector and a tuple holding a matrix."""
    pos, (mat,) = state["pos"], state["rest"]
    return {"pos": -a * pos + mat.sum(axis=1), "rest": (-0.5 * mat * (1 + 0.1 * t),)}


T = np.linspace(0., 3., 7)
Y0_OSC = np.array([1.0, -0.3])
TREE_Y0 = {"pos": np.array([1.0, -2.0, 0.5]),
           "rest": (np.arange(6.0).reshape(3, 2) / 5,)}

CASES = {
    "decay": (decay, np.array([1.0, 2.0, -0.5]), T, (0.8,)),
    "oscillator": (oscillator, Y0_OSC, T, (2.0, 0.3)),
    "pytree": (pytree_dynamics, TREE_Y0, T, (0.4,)),
    "uneven_times": (decay, np.array([1.5]), np.array([0.2, 0.25, 1.0, 4.0]), (1.3,)),
}


def _scipy_solution(func, y0, t, args):
    import jax
    import jax.numpy as jnp
    flat, unravel = jax.flatten_util.ravel_pytree(
        jax.tree_util.tree_map(jnp.asarray, y0))

    def rhs(time, y):
        out = func(unravel(jnp.asarray(y)), time, *args)
        return np.asarray(jax.flatten_util.ravel_pytree(out)[0])
    sol = scipy.integrate.solve_ivp(rhs, (t[0], t[-1]), np.asarray(flat), t_eval=t,
                                    rtol=1e-11, atol=1e-12, method="DOP853")
    return jax.vmap(unravel)(jnp.asarray(sol.y.T))


def _as_ft(tree):
    return ft.tree_util.tree_map(fnp.asarray, tree)


def _as_jax(tree):
    import jax.numpy as jnp
    return ft.tree_util.tree_map(lambda x: jnp.asarray(np.asarray(x)), tree)


def _close(ours, theirs, rtol, atol):
    import jax
    a, b = ft.tree_util.tree_leaves(ours), jax.tree_util.tree_leaves(theirs)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert np.shape(x) == np.shape(y)
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_jax_and_scipy(name, jax64):
    from jax.experimental.ode import odeint as jodeint
    func, y0, t, args = CASES[name]
    ours = odeint(func, _as_ft(y0), fnp.asarray(t), *args)
    theirs = jodeint(func, _as_jax(y0), _as_jax(t), *args)
    _close(ours, theirs, rtol=1e-11, atol=1e-12)     # the same algorithm, step for step
    _close(ours, _scipy_solution(func, y0, t, args), rtol=1e-6, atol=1e-7)


def test_exponential_decay_is_exact_to_tolerance():
    y = odeint(decay, fnp.asarray([2.0]), fnp.asarray(T), 0.5, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(np.asarray(y)[:, 0], 2.0 * np.exp(-0.5 * T), rtol=1e-8)


def test_tolerances_and_hmax_match_jax(jax64):
    from jax.experimental.ode import odeint as jodeint
    func, y0, t, args = CASES["oscillator"]
    # mxstep=3 stops short of the output times and extrapolates, which magnifies rounding
    for kw, rtol in (({"rtol": 1e-4, "atol": 1e-5}, 1e-10), ({"hmax": 0.05}, 1e-10),
                     ({"mxstep": 3}, 1e-7)):
        ours = odeint(func, fnp.asarray(y0), fnp.asarray(t), *args, **kw)
        theirs = jodeint(func, _as_jax(y0), _as_jax(t), *args, **kw)
        _close(ours, theirs, rtol=rtol, atol=1e-12)
    far = odeint(func, fnp.asarray(y0), fnp.asarray(t), *args, mxstep=3)
    full = odeint(func, fnp.asarray(y0), fnp.asarray(t), *args)
    assert not np.allclose(np.asarray(far), np.asarray(full))


GRAD_CASES = ["decay", "oscillator", "pytree"]


def _scalar_loss(odeint_fn, np_, func):
    def loss(y0, t, *args):
        ys = odeint_fn(func, y0, t, *args)
        return sum(np_.sum(np_.sin(leaf) * np_.arange(leaf.size).reshape(leaf.shape))
                   for leaf in ft.tree_util.tree_leaves(ys))
    return loss


@pytest.mark.parametrize("name", GRAD_CASES)
def test_gradients_match_jax(name, jax64):
    from jax.experimental.ode import odeint as jodeint
    import jax.numpy as jnp
    func, y0, t, args = CASES[name]
    argnums = tuple(range(2 + len(args)))
    ours = ft.grad(_scalar_loss(odeint, fnp, func), argnums)(
        _as_ft(y0), fnp.asarray(t), *map(fnp.asarray, args))
    theirs = jax64.grad(_scalar_loss(jodeint, jnp, func), argnums)(
        _as_jax(y0), _as_jax(t), *map(jnp.asarray, args))
    _close(ours, theirs, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name", GRAD_CASES)
def test_gradients_match_finite_differences(name):
    func, y0, t, args = CASES[name]
    t = t[:4]

    def f(y0, t, *args):
        return odeint(func, y0, t, *args, rtol=1e-11, atol=1e-11)
    ft.test_util.check_grads(f, (_as_ft(y0), fnp.asarray(t), *map(fnp.asarray, args)),
                             order=1, modes=("rev",), atol=1e-5, rtol=1e-5)


def test_gradient_through_closed_over_values():
    def solve(k, y0):
        return odeint(lambda y, t: -k * y * fnp.cos(t), y0, fnp.asarray([0.0, 0.5, 1.0]))
    k, y0 = fnp.asarray(0.7), fnp.asarray([1.0, 3.0])
    ft.test_util.check_grads(solve, (k, y0), order=1, modes=("rev",), atol=1e-6, rtol=1e-6)
    # exact: y(1) = y0 exp(-k sin 1)
    g = ft.grad(lambda k: solve(k, y0)[-1, 0])(k)
    np.testing.assert_allclose(float(g), -np.sin(1.0) * np.exp(-0.7 * np.sin(1.0)),
                               rtol=1e-7)


def test_jit_matches_eager_and_grad_under_jit():
    func, y0, t, args = CASES["oscillator"]
    y0, t = fnp.asarray(y0), fnp.asarray(t)
    eager = odeint(func, y0, t, *args)
    jitted = ft.jit(lambda y0, t, w: odeint(func, y0, t, w, 0.3))(y0, t, 2.0)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-12)

    def loss(y0, w):
        return fnp.sum(odeint(func, y0, t, w, 0.3) ** 2)
    np.testing.assert_allclose(np.asarray(ft.jit(ft.grad(loss, (0, 1)))(y0, 2.0)[1]),
                               np.asarray(ft.grad(loss, (0, 1))(y0, 2.0)[1]), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(ft.grad(ft.jit(loss))(y0, 2.0)),
                               np.asarray(ft.grad(loss)(y0, 2.0)), rtol=1e-10)


def test_vmap_over_initial_states_and_parameters():
    t = fnp.asarray(T)
    y0s = fnp.asarray([[1.0, 0.0], [0.5, -0.2], [2.0, 1.0]])
    omegas = fnp.asarray([1.0, 2.0, 0.5])
    batched = ft.vmap(lambda y0, w: odeint(oscillator, y0, t, w, 0.1))(y0s, omegas)
    for i in range(3):
        one = odeint(oscillator, y0s[i], t, omegas[i], 0.1)
        np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(one), rtol=1e-9,
                                   atol=1e-12)
    grads = ft.vmap(ft.grad(lambda w: odeint(oscillator, y0s[0], t, w, 0.1)[-1, 0]))(omegas)
    for i in range(3):
        one = ft.grad(lambda w: odeint(oscillator, y0s[0], t, w, 0.1)[-1, 0])(omegas[i])
        np.testing.assert_allclose(float(grads[i]), float(one), rtol=1e-7)


def test_float32_and_integer_initial_state():
    with ft.enable_x64(False):
        y = odeint(decay, fnp.asarray([1.0, 2.0], fnp.float32),
                   fnp.asarray([0.0, 1.0], fnp.float32), 1.0)
        assert y.dtype == fnp.float32
        np.testing.assert_allclose(np.asarray(y[-1]), np.exp(-1.0) * np.array([1., 2.]),
                                   rtol=1e-5)
    y = odeint(decay, fnp.asarray([1, 2]), fnp.asarray([0.0, 1.0]), 1.0)
    assert fnp.issubdtype(y.dtype, fnp.floating)


def test_bad_input_errors():
    t = fnp.asarray([0.0, 1.0])
    with pytest.raises(TypeError, match="t must be a 1-d array of floats"):
        odeint(decay, fnp.ones(2), fnp.asarray([0, 1]), 1.0)
    with pytest.raises(TypeError, match=r"shape \(2, 2\)"):
        odeint(decay, fnp.ones(2), fnp.ones((2, 2)), 1.0)
    with pytest.raises(TypeError, match="args"):
        odeint(decay, fnp.ones(2), t, "fast")
    with pytest.raises(TypeError, match="callable"):
        odeint(None, fnp.ones(2), t)
    with pytest.raises(ValueError, match="structure and shapes of y0"):
        odeint(lambda y, t: fnp.ones(3), fnp.ones(2), t)
