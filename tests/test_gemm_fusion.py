"""Matrix products with their scaling and addition as one BLAS call on the host
(`compiler/gemm.py`): the chains it takes, the ones it must leave, and that results equal
the unfused program's."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.compiler import passes

HOST = ft.backends.default_device_now().xp is np      # where the pass runs


def _names(f, *args):
    return [e.primitive.name for e in ft.jit(f).lower(*args).executable.jaxpr.eqns]


def _unfused(f, *args):
    """`f` jitted with the pass turned off (a fresh compilation)."""
    keep = passes.fuse_products
    passes.fuse_products = lambda jaxpr: jaxpr
    try:
        return ft.jit(lambda *a: f(*a))(*args)
    finally:
        passes.fuse_products = keep


def _data(dtype, *shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [fnp.asarray(rng.standard_normal(s).astype(dtype)) for s in shapes]


def _check(f, args, fused, dtype):
    got = ft.jit(f)(*args)
    want = _unfused(f, *args)
    with ft.disable_jit():
        eager = f(*args)
    tol = 1e-5 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=tol, atol=tol)
    np.testing.assert_allclose(np.asarray(got), np.asarray(eager), rtol=tol, atol=tol)
    assert np.asarray(got).flags.c_contiguous
    if HOST:
        assert ("gemm" in _names(f, *args)) == fused, _names(f, *args)


# the four layouts of a matrix product, as dot_general's contracting dimensions give them
PRODUCTS = {
    "a@b": (lambda a, b: a @ b, (5, 4), (4, 3)),
    "a.T@b": (lambda a, b: a.T @ b, (4, 5), (4, 3)),
    "a@b.T": (lambda a, b: a @ b.T, (5, 4), (3, 4)),
    "a.T@b.T": (lambda a, b: a.T @ b.T, (4, 5), (3, 4)),
}

CHAINS = {
    "c - s*p": lambda p, c: c - 0.1 * p,
    "c + p*s": lambda p, c: c + p * 2.5,
    "p - c": lambda p, c: p - c,
    "c - p": lambda p, c: c - p,
    "s*(p + c)": lambda p, c: -3.0 * (p + c),
    "s*p": lambda p, c: 0.5 * p,
    "s*(s*p) - c": lambda p, c: 2.0 * (0.5 * p) - c,
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("chain", sorted(CHAINS))
@pytest.mark.parametrize("product", sorted(PRODUCTS))
def test_product_chains(product, chain, dtype):
    mul, sa, sb = PRODUCTS[product]
    a, b, c = _data(dtype, sa, sb, (5, 3))
    _check(lambda a, b, c: CHAINS[chain](mul(a, b), c), (a, b, c), True, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("chain", ["c - s*p", "s*p", "p - c", "s*(p + c)"])
def test_leading_sum_chains(chain, dtype):
    g, c = _data(dtype, (6, 4), (4,))
    _check(lambda g, c: CHAINS[chain](g.sum(0), c), (g, c), True, dtype)


def test_an_sgd_step_equals_the_unfused_one():
    w1, b1, w2, b2, x, y = _data(np.float32, (8, 16), (16,), (16, 4), (4,), (32, 8), (32, 4))
    params = [(w1, b1), (w2, b2)]

    def loss(p, x, y):
        for w, b in p:
            x = fnp.tanh(x @ w + b)
        return ((x - y) ** 2).mean()

    def step(p, x, y):
        return ft.tree_util.tree_map(lambda q, g: q - 0.01 * g, p, ft.grad(loss)(p, x, y))

    got, want = ft.jit(step)(params, x, y), _unfused(step, params, x, y)
    for g, w in zip(ft.tree_util.tree_leaves(got), ft.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-6, atol=1e-7)
    if HOST:
        assert _names(step, params, x, y).count("gemm") == 6     # x @ w + b too


def test_chains_it_must_leave():
    a, b, c = _data(np.float64, (5, 4), (4, 3), (5, 3))
    cases = [
        (lambda a, b, c: (c - (a @ b), a @ b * 2.0), (a, b, c)),  # the product used twice
        (lambda a, b, c: c * (a @ b), (a, b, c)),                 # scaled by an array
        (lambda a, b, c: c - 0.0 * (a @ b), (a, b, c)),           # by zero: NaN must show
        (lambda a, b, c: (a @ b) - (a @ b), (a, b, c)),
        (lambda a, b, c: fnp.asarray(a, np.float32) @ fnp.asarray(b, np.float32) - c,
         (a, b, c)),                                              # mixed dtypes
        (lambda a, b, c: a.sum(1) - c[:, 0], (a, b, c)),          # a sum not over rows
    ]
    for f, args in cases:
        got = ft.jit(f)(*args)
        with ft.disable_jit():
            want = f(*args)
        for g, w in zip(ft.tree_util.tree_leaves(got), ft.tree_util.tree_leaves(want)):
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-12, atol=1e-12)
        if HOST:
            names = _names(f, *args)
            assert "gemm" not in names or f is cases[0][0], names


def test_zero_scale_keeps_nan():
    a, b, c = _data(np.float64, (2, 2), (2, 2), (2, 2))
    a = a.at[0, 0].set(np.inf)
    got = ft.jit(lambda a, b, c: c - 0.0 * (a @ b))(a, b, c)
    assert np.isnan(np.asarray(got)[0]).all()


def test_non_contiguous_and_shared_operands():
    a, b, c = _data(np.float32, (6, 8), (8, 8), (6, 4))
    _check(lambda a, b, c: c - 0.3 * (a[:, ::2] @ b[::2, 1::2]), (a, b, c), True,
           np.float32)
    _check(lambda a, b, c: b[:, :4] - 0.3 * (a.T @ a)[:, :4], (a, b, c), False, np.float32)
    x, w = _data(np.float64, (6, 6), (6, 6))
    _check(lambda x, w: w - 0.3 * (x.T @ x), (x, w), True, np.float64)


def test_under_grad_vmap_and_cost_analysis():
    a, b, c = _data(np.float64, (5, 4), (4, 3), (5, 3))

    def f(a, b, c):
        return (c - 0.1 * (a @ b)).sum()

    g = ft.jit(ft.grad(f, argnums=(0, 1, 2)))(a, b, c)
    with ft.disable_jit():
        want = ft.grad(f, argnums=(0, 1, 2))(a, b, c)
    for x, y in zip(g, want):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-12)
    batched = ft.jit(ft.vmap(lambda a, c: c - 0.1 * (a @ b)))(fnp.stack([a, a + 1]),
                                                              fnp.stack([c, c]))
    np.testing.assert_allclose(np.asarray(batched[1]), np.asarray(c - 0.1 * ((a + 1) @ b)),
                               rtol=1e-12)
    lowered = ft.jit(lambda a, b, c: c - 0.1 * (a @ b)).lower(a, b, c)
    flops = lowered.compile().cost_analysis()["flops"]
    assert flops == 2 * 5 * 3 * 4 + 2 * 5 * 3          # the product, the scale, the add


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("product", sorted(PRODUCTS))
def test_a_row_added_as_a_bias(product, dtype):
    mul, sa, sb = PRODUCTS[product]
    a, b, row = _data(dtype, sa, sb, (3,))
    _check(lambda a, b, row: mul(a, b) + row, (a, b, row), True, dtype)
    _check(lambda a, b, row: row - 2.0 * mul(a, b), (a, b, row), True, dtype)
    _check(lambda a, b, row: fnp.tanh(mul(a, b) + row) * 3.0, (a, b, row), True, dtype)


def test_two_products_meeting_in_one_addition():
    a, b, c, d = _data(np.float64, (5, 4), (4, 3), (5, 2), (2, 3))
    _check(lambda a, b, c, d: (a @ b) + (c @ d), (a, b, c, d), True, np.float64)
    _check(lambda a, b, c, d: 0.5 * (a @ b) - 2.0 * (c @ d), (a, b, c, d), True, np.float64)
