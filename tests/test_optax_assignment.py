"""functrans.optim.optax.assignment (Optax's Hungarian algorithm): the least total cost of
scipy's linear_sum_assignment on random square and rectangular matrices (ties included), the
very pairs and order of Optax 0.2.8's two functions where the optimum is unique, jit, vmap."""
import numpy as np
import pytest

import functrans as ft
from functrans.optim import optax as fo

SHAPES = [(1, 1), (1, 4), (4, 1), (3, 3), (6, 6), (3, 5), (5, 3), (2, 7), (7, 2), (9, 12)]
FUNCTIONS = ["hungarian_algorithm", "base_hungarian_algorithm"]


def _check_assignment(cost, rows, cols):
    from scipy.optimize import linear_sum_assignment
    rows, cols = np.asarray(rows), np.asarray(cols)
    k = min(cost.shape)
    assert rows.shape == cols.shape == (k,)
    assert len(set(rows.tolist())) == len(set(cols.tolist())) == k
    best_rows, best_cols = linear_sum_assignment(cost)
    np.testing.assert_allclose(cost[rows, cols].sum(), cost[best_rows, best_cols].sum(),
                               rtol=1e-12, atol=1e-12)


def test_importable_as_optaxs():
    import functrans.optim.optax.assignment as assignment
    assert assignment is fo.assignment
    assert callable(assignment.hungarian_algorithm)


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_least_cost_against_scipy(name, shape):
    pytest.importorskip("scipy")
    solve = getattr(fo.assignment, name)
    rng = np.random.default_rng(sum(shape))
    for cost in (rng.standard_normal(shape), rng.integers(0, 3, shape).astype(float),
                 np.zeros(shape), rng.uniform(0, 1e6, shape)):
        _check_assignment(cost, *solve(cost))
        _check_assignment(cost, *ft.jit(solve)(cost))
    ints = rng.integers(-5, 5, shape)
    _check_assignment(ints.astype(float), *solve(ints))
    _check_assignment(cost.astype(np.float32), *solve(cost.astype(np.float32)))


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_pairs_and_order_match_optax(name, shape):
    optax = pytest.importorskip("optax")
    import jax.numpy as jnp
    cost = np.random.default_rng(len(shape) + shape[0] * 10 + shape[1]).standard_normal(shape)
    ours = getattr(fo.assignment, name)(cost)
    theirs = getattr(optax.assignment, name)(jnp.asarray(cost, jnp.float32))
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_vmap_empty_and_bad_input():
    from scipy.optimize import linear_sum_assignment
    costs = np.random.default_rng(0).standard_normal((4, 3, 5))
    rows, cols = ft.vmap(fo.assignment.base_hungarian_algorithm)(costs)
    for cost, r, c in zip(costs, np.asarray(rows), np.asarray(cols)):
        best_rows, best_cols = linear_sum_assignment(cost)
        np.testing.assert_array_equal(r, best_rows)
        np.testing.assert_array_equal(c, best_cols)
    for solve in (fo.assignment.hungarian_algorithm, fo.assignment.base_hungarian_algorithm):
        rows, cols = solve(np.zeros((0, 3)))
        assert rows.shape == cols.shape == (0,)
        with pytest.raises(ValueError, match=r"cost_matrix must be 2-D, got shape \(3,\)"):
            solve(np.zeros(3))
