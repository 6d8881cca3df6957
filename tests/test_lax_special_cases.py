"""Behaviour of the primitives at the edges the table-driven tests avoid: exact derivatives
with zeros, out-of-bounds modes, clamping, ties, degenerate spectra, and the documented
limits."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.test_util import check_grads


def _grads(f, *args, order=2):
    check_grads(f, args, order=order, modes=("fwd", "rev"))


@pytest.mark.parametrize("x", [[2.0, 0.0, 3.0, -1.0], [0.0, 0.0, 1.5, 2.0], [0.0, 1.0],
                               [0.0]])
def test_products_differentiate_exactly_through_zeros(x):
    x = fnp.asarray(np.array(x))
    _grads(lambda x: lax.reduce_prod(x), x)
    _grads(lambda x: lax.cumprod(x), x)
    _grads(lambda x: lax.cumprod(x, reverse=True), x)
    g = ft.grad(lambda x: lax.reduce_prod(x))(x)
    expected = [np.prod(np.delete(np.asarray(x), i)) for i in range(len(x._value))]
    np.testing.assert_array_equal(np.asarray(g), expected)


@pytest.mark.parametrize("shape, axes", [((0,), (0,)), ((2, 0), (1,)), ((2, 0), (0,)),
                                         ((0, 3), (1,))])
def test_products_of_empty_axes_differentiate(shape, axes):
    """The product over no elements is 1 and its derivative is 0 (jvp raised: the
    products-of-the-others helper padded an empty axis to length 1)."""
    x = fnp.zeros(shape, fnp.float64)
    value, tangent = ft.jvp(lambda a: lax.reduce_prod(a, axes), (x,), (x,))
    np.testing.assert_array_equal(np.asarray(value), np.prod(np.zeros(shape), axis=axes))
    np.testing.assert_array_equal(np.asarray(tangent), np.zeros(np.shape(value)))
    for grad in (ft.grad(lambda a: lax.reduce_prod(a, axes).sum()),
                 ft.jit(ft.grad(lambda a: lax.reduce_prod(a, axes).sum()))):
        assert grad(x).shape == shape


@pytest.mark.parametrize("shape", [(0, 0, 0), (0, 3, 2), (2, 0, 3), (2, 3, 0)])
def test_sums_over_leading_and_trailing_axes_of_empty_arrays(shape):
    """The two-step sum over leading and trailing axes (keeping the middle one) reshaped an
    empty partial result with -1 and raised (found by helper-98's NumPy fuzz)."""
    x = np.zeros(shape)
    expected = x.sum(axis=(0, 2))
    for f in (lambda a: lax.reduce_sum(a, (0, 2)), ft.jit(lambda a: lax.reduce_sum(a, (0, 2)))):
        np.testing.assert_array_equal(np.asarray(f(x)), expected)
    assert float(fnp.einsum("acb,c->", fnp.zeros(shape), fnp.zeros(shape[1]))) == 0.0


def test_reduce_prod_hessian_with_two_zeros():
    x = fnp.asarray(np.array([0.0, 0.0, 3.0]))
    h = ft.hessian(lambda x: lax.reduce_prod(x))(x)
    np.testing.assert_array_equal(np.asarray(h), [[0, 3, 0], [3, 0, 0], [0, 0, 0]])


def test_scatter_mul_first_derivatives_are_exact_with_zero_updates():
    x = fnp.asarray(np.array([1.5, -2.0, 3.0]))
    u = fnp.asarray(np.array([0.0, 2.0, 0.0, 4.0, -1.0]))
    idx = np.array([0, 0, 1, 1, 2])
    f = lambda x, u: lax.scatter_mul_axes(x, u, idx, axes=(0,))   # noqa: E731
    _grads(f, x, u, order=1)
    gu = ft.grad(lambda u: f(x, u).sum())(u)
    # d out[0] / d u[0] = x[0] * u[1]; d out[0] / d u[1] = x[0] * u[0] = 0; ...
    np.testing.assert_allclose(np.asarray(gu), [3.0, 0.0, -8.0, 0.0, 3.0])


def test_scatter_extremum_ties_share_the_derivative():
    x = fnp.asarray(np.array([1.0, 5.0]))
    u = fnp.asarray(np.array([1.0, 2.0]))
    gx, gu = ft.grad(lambda x, u: lax.scatter_max_axes(x, u, np.array([0, 1]), axes=(0,)).sum(),
                     argnums=(0, 1))(x, u)
    np.testing.assert_allclose(np.asarray(gx), [0.5, 1.0])
    np.testing.assert_allclose(np.asarray(gu), [0.5, 0.0])


def test_gather_modes():
    x = fnp.asarray(np.arange(5.0))
    idx = np.array([-2, 0, 4, 7])
    np.testing.assert_array_equal(np.asarray(lax.gather_axes(x, idx, axes=(0,), mode="clip")),
                                  [0, 0, 4, 4])
    np.testing.assert_array_equal(np.asarray(lax.gather_axes(x, idx, axes=(0,), mode="fill")),
                                  [0, 0, 4, 0])
    ct = ft.grad(lambda x: lax.gather_axes(x, idx, axes=(0,), mode="fill").sum())(x)
    np.testing.assert_array_equal(np.asarray(ct), [1, 0, 0, 0, 1])
    out = lax.scatter_add_axes(x, fnp.ones(4), idx, axes=(0,), mode="drop")
    np.testing.assert_array_equal(np.asarray(out), [1, 1, 2, 3, 5])
    out = lax.scatter_add_axes(x, fnp.ones(4), idx, axes=(0,), mode="clip")
    np.testing.assert_array_equal(np.asarray(out), [2, 1, 2, 3, 6])


def test_dynamic_slices_clamp_the_start():
    x = fnp.asarray(np.arange(10.0).reshape(2, 5))
    np.testing.assert_array_equal(np.asarray(lax.dynamic_slice(x, (1, 4), (1, 3))),
                                  [[7, 8, 9]])
    # negative starts count from the end first (as JAX), then clamp
    np.testing.assert_array_equal(np.asarray(lax.dynamic_slice(x, (-3, -1), (2, 2))),
                                  [[3, 4], [8, 9]])
    np.testing.assert_array_equal(np.asarray(lax.dynamic_slice(x, (-9, -9), (2, 2))),
                                  [[0, 1], [5, 6]])
    out = lax.dynamic_update_slice(x, -fnp.ones((1, 2), x.dtype), (5, 4))
    np.testing.assert_array_equal(np.asarray(out)[1], [5, 6, 7, -1, -1])
    f = ft.jit(lambda x, i: lax.dynamic_slice(x, (0, i), (2, 2)))
    np.testing.assert_array_equal(np.asarray(f(x, 9)), [[3, 4], [8, 9]])


def test_pad_negative_and_interior():
    x = fnp.asarray(np.arange(1.0, 5.0))
    np.testing.assert_array_equal(np.asarray(lax.pad(x, 0.0, [(-1, 2, 1)])),
                                  [0, 2, 0, 3, 0, 4, 0, 0])
    per_example = ft.vmap(lambda v: lax.pad(x, v, [(1, 1, 0)]))(fnp.asarray([7.0, 8.0]))
    np.testing.assert_array_equal(np.asarray(per_example),
                                  [[7, 1, 2, 3, 4, 7], [8, 1, 2, 3, 4, 8]])


def _pad_reference(x, padval, config):
    """lax.pad element by element: x[i] lands at low + (interior + 1) * i where that fits."""
    shape = [lo + hi + d + max(d - 1, 0) * it for (lo, hi, it), d in zip(config, x.shape)]
    out = np.full(shape, padval, x.dtype)
    for idx in itertools.product(*[range(d) for d in x.shape]):
        pos = tuple(lo + (it + 1) * i for (lo, _, it), i in zip(config, idx))
        if all(0 <= p < n for p, n in zip(pos, shape)):
            out[pos] = x[idx]
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(-6, 3), st.integers(-6, 3),
                          st.integers(0, 2)), min_size=1, max_size=3))
def test_pad_matches_an_element_by_element_reference(axes):
    """Negative (cropping), interior and empty padding, eager and jitted."""
    shape = tuple(a[0] for a in axes)
    config = [a[1:] for a in axes]
    if any(lo + hi + d + max(d - 1, 0) * it < 0 for d, lo, hi, it in axes):
        return
    x = np.arange(1.0, 1.0 + math.prod(shape)).reshape(shape)
    want = _pad_reference(x, -1.0, config)
    np.testing.assert_array_equal(np.asarray(lax.pad(fnp.asarray(x), -1.0, config)), want)
    np.testing.assert_array_equal(
        np.asarray(ft.jit(lambda v: lax.pad(v, -1.0, config))(fnp.asarray(x))), want)


def test_sort_is_stable_and_puts_nans_last():
    keys = fnp.asarray(np.array([2.0, np.nan, 1.0, 2.0, 1.0]))
    vals = fnp.asarray(np.arange(5.0))
    k, v = lax.sort_multiple([keys, vals], 0)
    np.testing.assert_array_equal(np.asarray(v), [2, 4, 0, 3, 1])
    assert np.isnan(np.asarray(k)[-1])
    np.testing.assert_array_equal(np.asarray(lax.argsort(keys)), [2, 4, 0, 3, 1])


def test_cummax_derivative_follows_the_running_maximum():
    x = fnp.asarray(np.array([1.0, 3.0, 2.0, 5.0, 4.0]))
    j = ft.jacrev(lambda x: lax.cummax(x))(x)
    expected = np.zeros((5, 5))
    for i, k in enumerate([0, 1, 1, 3, 3]):
        expected[i, k] = 1.0
    np.testing.assert_array_equal(np.asarray(j), expected)
    np.testing.assert_array_equal(np.asarray(ft.jacfwd(lambda x: lax.cummax(x))(x)), expected)


def test_cummax_derivative_at_ties_and_nans_is_jaxs():
    # JAX's values: a tie's share follows its odd-even scan tree; a NaN output passes none on
    w = np.arange(1.0, 6.0)
    x = fnp.asarray(np.array([1.0, 3.0, 3.0, 2.0, 3.0]))
    for reverse, want in [(False, [1.0, 6.75, 4.75, 0.0, 2.5]),
                          (True, [0.0, 0.75, 2.25, 0.0, 12.0])]:
        g = ft.grad(lambda x: (lax.cummax(x, reverse=reverse) * w).sum())(x)
        np.testing.assert_array_equal(np.asarray(g), want)
    np.testing.assert_array_equal(np.asarray(ft.jvp(lax.cummax, (x,), (w,))[1]),
                                  [1.0, 2.0, 2.5, 2.5, 3.75])
    g = ft.grad(lambda x: (lax.cummin(x) * w[:3]).sum())(fnp.asarray(np.array([2.0, np.nan, 1.0])))
    np.testing.assert_array_equal(np.asarray(g), [1.0, 0.0, 0.0])


def test_fmax_fmin_give_a_tie_to_the_second_operand():
    g = ft.grad(lambda a, b: fnp.fmax(a, b) + 2.0 * fnp.fmin(a, b), argnums=(0, 1))(3.0, 3.0)
    assert (float(g[0]), float(g[1])) == (0.0, 3.0)
    assert float(fnp.fmax(-0.0, 0.0)) == 0.0 and math.copysign(1, fnp.fmax(0.0, -0.0)) == -1


def test_linalg_primitives_match_numpy_on_stacks():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 3, 4, 4))
    spd = a @ np.swapaxes(a, -1, -2) + 4 * np.eye(4)
    w = lax.linalg.eigh(fnp.asarray(spd))[1]
    np.testing.assert_allclose(np.asarray(w), np.linalg.eigvalsh(spd), rtol=1e-10)
    np.testing.assert_allclose(np.asarray(lax.linalg.cholesky(fnp.asarray(spd))),
                               np.linalg.cholesky(spd), rtol=1e-10)
    lu, piv, perm = lax.linalg.lu(fnp.asarray(a))
    lu_, perm_ = np.asarray(lu), np.asarray(perm)
    L = np.tril(lu_, -1) + np.eye(4)
    U = np.triu(lu_)
    np.testing.assert_allclose(L @ U, np.take_along_axis(a, perm_[..., None], axis=-2),
                               rtol=1e-10, atol=1e-12)
    u, s, vt = lax.linalg.svd(fnp.asarray(a[..., :3]), full_matrices=False)
    np.testing.assert_allclose(np.asarray(s), np.linalg.svd(a[..., :3], compute_uv=False),
                               rtol=1e-10)
    q, r = lax.linalg.qr(fnp.asarray(a))
    np.testing.assert_allclose(np.asarray(q) @ np.asarray(r), a, rtol=1e-10, atol=1e-12)
    x = lax.linalg.triangular_solve(fnp.asarray(np.tril(spd)), fnp.asarray(a), left_side=True,
                                    lower=True)
    np.testing.assert_allclose(np.tril(spd) @ np.asarray(x), a, rtol=1e-9, atol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")    # the eigenvector gaps are 0
def test_eigh_degenerate_eigenvalues():
    """Repeated eigenvalues: eigenvalue derivatives are fine, eigenvector derivatives are
    not defined (documented limitation)."""
    eye = fnp.asarray(np.eye(3))
    g = ft.grad(lambda a: lax.linalg.eigh(a)[1].sum())(eye)
    np.testing.assert_allclose(np.asarray(g), np.eye(3), atol=1e-12)
    gv = ft.grad(lambda a: lax.linalg.eigh(a)[0][0, 0])(eye)
    assert not np.all(np.isfinite(np.asarray(gv)))


def test_full_matrices_derivatives_of_nonsquare_inputs_are_refused():
    a = fnp.asarray(np.random.default_rng(1).standard_normal((4, 2)))
    with pytest.raises(NotImplementedError, match="full_matrices=False"):
        ft.grad(lambda a: lax.linalg.svd(a, full_matrices=True)[0].sum())(a)
    with pytest.raises(NotImplementedError, match="full_matrices=False"):
        ft.jvp(lambda a: lax.linalg.qr(a, full_matrices=True)[0], (a,), (a,))
    ft.grad(lambda a: lax.linalg.svd(a, full_matrices=True, compute_uv=False).sum())(a)


def test_pinv_derivative_holds_for_rank_deficient_matrices():
    """pinv is smooth along directions that keep the rank: b @ c stays rank 2."""
    rng = np.random.default_rng(2)
    b = fnp.asarray(rng.standard_normal((4, 2)))
    c = fnp.asarray(rng.standard_normal((2, 3)))
    check_grads(lambda b, c: fnp.linalg.pinv(b @ c), (b, c), order=2, modes=("fwd", "rev"))


def test_rules_nest_under_jit_and_vmap():
    rng = np.random.default_rng(3)
    a = fnp.asarray(rng.standard_normal((3, 4, 4)) + 4 * np.eye(4))
    f = lambda a: fnp.linalg.slogdet(a)[1]                       # noqa: E731
    g_loop = np.stack([np.asarray(ft.grad(f)(m)) for m in a])
    np.testing.assert_allclose(np.asarray(ft.vmap(ft.grad(f))(a)), g_loop, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(ft.jit(ft.vmap(ft.grad(f)))(a)), g_loop,
                               rtol=1e-10)
    np.testing.assert_allclose(g_loop, np.linalg.inv(np.asarray(a)).transpose(0, 2, 1),
                               rtol=1e-10)
