"""functrans.optim.optax's submodules `projections`, `second_order` and `perturbations`:
importable as Optax's, values and derivatives against Optax 0.2.8 in float64 (JAX x64 on for
the test only), float64 finite-difference checks, jit, float32 dtypes; the random estimates
of `perturbations` by their moments, their deterministic part against Optax's with a noise
that ignores the key."""
import importlib
import warnings

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.flatten_util import ravel_pytree
from functrans.optim import optax as fo
from functrans.test_util import check_grads
from functrans.tree_util import tree_leaves, tree_map

RTOL, ATOL = 1e-10, 1e-13


def _tree(rng, scale=1.0):
    return {"a": scale * rng.standard_normal((3, 2)), "b": scale * rng.standard_normal(4)}


def _ours(tree):
    return tree_map(lambda v: fnp.asarray(np.asarray(v)), tree)     # Python floats as float64


def _theirs(tree):
    import jax
    return jax.tree.map(jax.numpy.asarray, tree)


def _flat(tree):
    return np.asarray(ravel_pytree(tree)[0])


def _assert_trees_close(ours, theirs, rtol=RTOL, atol=ATOL):
    import jax
    our_leaves, their_leaves = tree_leaves(ours), jax.tree.leaves(theirs)
    assert len(our_leaves) == len(their_leaves)
    for a, b in zip(our_leaves, their_leaves):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", ["projections", "second_order", "perturbations"])
def test_submodules_import_as_optaxs(name):
    module = importlib.import_module(f"functrans.optim.optax.{name}")
    assert getattr(fo, name) is module
    pytest.importorskip("optax")
    theirs = importlib.import_module(f"optax.{name}")
    missing = [n for n in dir(theirs) if not n.startswith("_") and not hasattr(module, n)]
    assert missing == []


# ------------------------------------------------------------------ projections
# (name, extra arguments as a function of (rng, tree), then the same for Optax)
PROJECTIONS = [
    ("projection_non_negative", lambda r, x: ()),
    ("projection_box", lambda r, x: ({"a": -0.5, "b": -0.2}, {"a": 0.4, "b": 0.8})),
    ("projection_box_trees", lambda r, x: (tree_map(lambda v: -abs(v), _tree(r, 0.3)),
                                           tree_map(abs, _tree(r, 0.3)))),
    ("projection_hypercube", lambda r, x: (0.7,)),
    ("projection_simplex", lambda r, x: ()),
    ("projection_simplex_scaled", lambda r, x: (2.5,)),
    ("projection_l1_sphere", lambda r, x: (1.5,)),
    ("projection_l1_ball", lambda r, x: (1.5,)),
    ("projection_l1_ball_inside", lambda r, x: (100.0,)),
    ("projection_l2_sphere", lambda r, x: (1.5,)),
    ("projection_l2_ball", lambda r, x: (1.5,)),
    ("projection_l2_ball_inside", lambda r, x: (100.0,)),
    ("projection_linf_ball", lambda r, x: (0.3,)),
    ("projection_vector", lambda r, x: (_tree(r),)),
    ("projection_hyperplane", lambda r, x: (_tree(r), 0.3)),
    ("projection_halfspace", lambda r, x: (_tree(r), 0.3)),
    ("projection_halfspace_inside", lambda r, x: (_tree(r), 30.0)),
]


def _projection(name):
    for suffix in ("_trees", "_scaled", "_inside"):
        name = name.removesuffix(suffix)
    return name


def _convert(args, convert):
    return tuple(convert(a) if isinstance(a, dict) else a for a in args)


@pytest.mark.parametrize("case,args", PROJECTIONS, ids=[c for c, _ in PROJECTIONS])
def test_projections_match_optax_values_and_gradients(optax64, case, args):
    import jax
    import jax.numpy as jnp
    rng = np.random.default_rng(len(case))
    # Optax's box takes no scalar bound for a tree of several leaves: one array there
    x = _tree(rng)["a"] if case == "projection_hypercube" else _tree(rng)
    extra = args(rng, x)
    name = _projection(case)
    ours = getattr(fo.projections, name)
    theirs = getattr(optax64.projections, name)
    out = ours(_ours(x), *_convert(extra, _ours))
    assert ft.tree_util.tree_structure(out) == ft.tree_util.tree_structure(x)
    _assert_trees_close(out, theirs(_theirs(x), *_convert(extra, _theirs)))
    _assert_trees_close(ft.jit(lambda t: ours(t, *_convert(extra, _ours)))(_ours(x)),
                        theirs(_theirs(x), *_convert(extra, _theirs)))
    weights = rng.standard_normal(np.size(_flat(_ours(x))))

    def our_loss(t):
        return fnp.sum(ravel_pytree(ours(t, *_convert(extra, _ours)))[0] ** 3 * weights)

    def their_loss(t):
        flat = jax.flatten_util.ravel_pytree(theirs(t, *_convert(extra, _theirs)))[0]
        return jnp.sum(flat ** 3 * weights)
    _assert_trees_close(ft.grad(our_loss)(_ours(x)), jax.grad(their_loss)(_theirs(x)))


@pytest.mark.parametrize("case,args", PROJECTIONS, ids=[c for c, _ in PROJECTIONS])
def test_projections_finite_differences(case, args):
    rng = np.random.default_rng(1)
    x = _tree(rng)
    extra = _convert(args(rng, x), _ours)
    ours = getattr(fo.projections, _projection(case))
    check_grads(lambda t: ours(t, *extra), (_ours(x),), order=1, rtol=1e-6, atol=1e-6)


def test_projections_hold_their_constraints_and_keep_float32():
    rng = np.random.default_rng(2)
    x = tree_map(lambda v: fnp.asarray(v, np.float32), _tree(rng))
    P = fo.projections
    simplex = _flat(P.projection_simplex(x, 2.0))
    assert simplex.min() >= 0 and abs(simplex.sum() - 2.0) < 1e-5
    assert abs(np.abs(_flat(P.projection_l1_sphere(x, 1.5))).sum() - 1.5) < 1e-5
    assert np.abs(_flat(P.projection_l1_ball(x, 1.5))).sum() <= 1.5 + 1e-5
    assert abs(np.linalg.norm(_flat(P.projection_l2_ball(x, 0.5))) - 0.5) < 1e-5
    assert np.abs(_flat(P.projection_linf_ball(x, 0.3))).max() <= 0.3
    cube = _flat(P.projection_hypercube(x))
    assert cube.min() >= 0 and cube.max() <= 1
    a = _tree(rng)
    h = P.projection_hyperplane(x, _ours(a), 0.3)
    assert abs(float(np.dot(_flat(h), _flat(a))) - 0.3) < 1e-4
    assert float(np.dot(_flat(P.projection_halfspace(x, _ours(a), -1.0)), _flat(a))) < -1 + 1e-4
    for name in fo.projections.__all__:
        args = {"projection_box": (0.0, 1.0), "projection_vector": (x,),
                "projection_hyperplane": (x, 1.0), "projection_halfspace": (x, 1.0)}.get(name, ())
        out = getattr(P, name)(x, *args)
        assert {leaf.dtype for leaf in tree_leaves(out)} == {np.dtype(np.float32)}, name


def test_projection_simplex_of_a_single_array_against_a_sort_free_reference():
    """A brute-force projection onto the simplex (the best threshold among all candidate
    supports), on vectors with ties and with all entries negative."""
    rng = np.random.default_rng(3)
    for v in [rng.standard_normal(7), np.array([0.3, 0.3, 0.3, -1.0]), -np.ones(5) * 4,
              np.array([5.0])]:
        best = None
        for k in range(1, len(v) + 1):
            tau = (np.sort(v)[::-1][:k].sum() - 1) / k
            p = np.maximum(v - tau, 0)
            if abs(p.sum() - 1) < 1e-12 and (best is None or
                                             np.sum((p - v) ** 2) < np.sum((best - v) ** 2)):
                best = p
        np.testing.assert_allclose(np.asarray(fo.projections.projection_simplex(fnp.asarray(v))),
                                   best, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ second_order
def _loss(p, x, y):
    return fnp.sum((fnp.tanh(x @ p["w"]) + p["b"] - y) ** 2)


def _jax_loss(p, x, y):
    import jax.numpy as jnp
    return jnp.sum((jnp.tanh(x @ p["w"]) + p["b"] - y) ** 2)


def _second_order_case():
    rng = np.random.default_rng(4)
    return ({"w": rng.standard_normal(4), "b": rng.standard_normal(())},
            rng.standard_normal((6, 4)), rng.standard_normal(6), rng.standard_normal(5))


def test_second_order_matches_optax(optax64):
    import jax
    p, x, y, v = _second_order_case()
    S, T = fo.second_order, optax64.second_order
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        _assert_trees_close(S.hvp(_loss, fnp.asarray(v), _ours(p), x, y),
                            T.hvp(_jax_loss, jax.numpy.asarray(v), _theirs(p), x, y))
        _assert_trees_close(S.hessian_diag(_loss, _ours(p), x, y),
                            T.hessian_diag(_jax_loss, _theirs(p), x, y))
        _assert_trees_close(S.fisher_diag(_loss, _ours(p), x, y),
                            T.fisher_diag(_jax_loss, _theirs(p), x, y))


def test_second_order_against_the_full_hessian_and_under_jit():
    p, x, y, v = _second_order_case()
    flat, unravel = ravel_pytree(_ours(p))
    full = np.asarray(ft.hessian(lambda f: _loss(unravel(f), x, y))(flat))
    S = fo.second_order
    with pytest.warns(DeprecationWarning, match="hessian_diag is deprecated"):
        diag = S.hessian_diag(_loss, _ours(p), x, y)
    np.testing.assert_allclose(np.asarray(diag), np.diag(full), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        np.testing.assert_allclose(np.asarray(ravel_pytree(S.hvp(_loss, fnp.asarray(v),
                                                                 _ours(p), x, y))[0]),
                                   full @ v, rtol=1e-12)
        jitted = ft.jit(lambda q: S.hessian_diag(_loss, q, x, y))(_ours(p))
        np.testing.assert_allclose(np.asarray(jitted), np.diag(full), rtol=1e-12)
        g = np.asarray(ravel_pytree(ft.grad(_loss)(_ours(p), x, y))[0])
        np.testing.assert_allclose(np.asarray(S.fisher_diag(_loss, _ours(p), x, y)), g ** 2,
                                   rtol=1e-12)


# ------------------------------------------------------------------ perturbations
class _FixedNoise:
    """A noise that ignores the key: the same draws in functrans and JAX, so the estimator's
    deterministic arithmetic can be compared with Optax's."""

    def __init__(self, xp):
        self.xp = xp

    def sample(self, key, sample_shape=(), dtype=None):
        n = int(np.prod(sample_shape))
        return self.xp.sin(self.xp.arange(n, dtype=np.float64).reshape(sample_shape) + 1.0)

    def log_prob(self, inputs):
        return -0.5 * inputs ** 2 - 0.1 * inputs ** 3


def _hard(xp):
    return lambda x: xp.stack([xp.max(x), xp.sum(xp.where(x > 0, x ** 2, 0.0))])


@pytest.mark.parametrize("use_baseline", [True, False])
def test_make_perturbed_fun_matches_optax_with_a_fixed_noise(optax64, use_baseline):
    import jax
    import jax.numpy as jnp
    x = np.random.default_rng(5).standard_normal(4)
    ours = fo.perturbations.make_perturbed_fun(_hard(fnp), 3, 0.5, _FixedNoise(fnp), use_baseline)
    theirs = optax64.perturbations.make_perturbed_fun(_hard(jnp), 3, 0.5, _FixedNoise(jnp),
                                                      use_baseline)
    key, jkey = ft.random.key(0), jax.random.key(0)
    np.testing.assert_allclose(np.asarray(ours(key, fnp.asarray(x))),
                               np.asarray(theirs(jkey, jnp.asarray(x))), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(np.asarray(ft.jit(ours)(key, fnp.asarray(x))),
                               np.asarray(theirs(jkey, jnp.asarray(x))), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(
        np.asarray(ft.jacrev(lambda v: ours(key, v))(fnp.asarray(x))),
        np.asarray(jax.jacrev(lambda v: theirs(jkey, v))(jnp.asarray(x))), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(
        np.asarray(ft.hessian(lambda v: ours(key, v)[1])(fnp.asarray(x))),
        np.asarray(jax.hessian(lambda v: theirs(jkey, v)[1])(jnp.asarray(x))),
        rtol=1e-9, atol=1e-12)


def test_make_perturbed_fun_differentiates_the_smoothed_step():
    """f = the number of positive entries (piecewise constant, zero derivative): with normal
    noise its smoothed version is sum(Phi(x / sigma)), whose gradient phi(x / sigma) / sigma
    the estimate's gradient approaches (finite differences of the estimate itself do not
    apply: for a fixed key it is piecewise constant in x)."""
    from scipy.stats import norm
    x = np.array([-0.3, 0.05, 0.2, 0.6])
    sigma, n = 0.5, 40000
    f = fo.perturbations.make_perturbed_fun(lambda v: fnp.sum((v > 0).astype(v.dtype)), n,
                                            sigma, fo.perturbations.Normal())
    value = float(f(ft.random.key(4), fnp.asarray(x)))
    assert abs(value - norm.cdf(x / sigma).sum()) < 0.03
    grad = np.asarray(ft.jit(ft.grad(f, argnums=1))(ft.random.key(4), fnp.asarray(x)))
    np.testing.assert_allclose(grad, norm.pdf(x / sigma) / sigma, atol=0.06)


@pytest.mark.parametrize("noise,mean,var", [("Normal", 0.0, 1.0),
                                            ("Gumbel", np.euler_gamma, np.pi ** 2 / 6)])
def test_make_perturbed_fun_moments(noise, mean, var):
    """For a linear f, the estimate of f's expectation and of its gradient (a) are unbiased:
    within 5 standard errors over 20000 draws."""
    rng = np.random.default_rng(7)
    a, x = rng.standard_normal(4), rng.standard_normal(4)
    n, sigma = 20000, 0.5
    f = fo.perturbations.make_perturbed_fun(lambda v: fnp.vdot(fnp.asarray(a), v), n, sigma,
                                            getattr(fo.perturbations, noise)())
    value = float(ft.jit(f)(ft.random.key(1), fnp.asarray(x)))
    stderr = sigma * np.sqrt(var * np.sum(a ** 2) / n)
    assert abs(value - (a @ x + sigma * mean * a.sum())) < 5 * stderr
    grad = np.asarray(ft.grad(lambda v: f(ft.random.key(1), v))(fnp.asarray(x)))
    np.testing.assert_allclose(grad, a, atol=0.1)
    sampler = getattr(fo.perturbations, noise)()
    draws = np.asarray(sampler.sample(ft.random.key(2), (n,), np.float64))
    assert abs(draws.mean() - mean) < 5 * np.sqrt(var / n)
    assert abs(draws.var() - var) < 0.1 * var
    assert sampler.sample(ft.random.key(2), (3,)).dtype == np.float32


def test_perturbed_fun_keeps_float32_and_pytrees():
    x = {"u": fnp.ones(3, np.float32), "v": fnp.zeros((2, 2), np.float32)}
    f = fo.perturbations.make_perturbed_fun(
        lambda t: {"s": fnp.sum(t["u"]) * fnp.max(t["v"])}, 16, 0.1)
    out = f(ft.random.key(0), x)
    assert out["s"].dtype == np.float32 and out["s"].shape == ()
    g = ft.grad(lambda t: f(ft.random.key(0), t)["s"])(x)
    assert {leaf.dtype for leaf in tree_leaves(g)} == {np.dtype(np.float32)}
