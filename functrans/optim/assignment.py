"""Optax's `optax.assignment`: the linear assignment problem (scipy's
`linear_sum_assignment`) by the Hungarian algorithm, as a `lax` loop that runs under jit.

    rows, cols = hungarian_algorithm(cost)     # cost[rows, cols].sum() is the least
"""
from __future__ import annotations

import numpy as np

from .. import dtypes, lax
from .. import numpy as fnp
from ..primitives._util import dtype_of, shape_of

__all__ = ["hungarian_algorithm", "base_hungarian_algorithm"]


def _col_for_row(cost):
    """The column assigned to each row of `cost` (n, m), n <= m, minimising the total cost:
    shortest augmenting paths with row and column potentials (Kuhn-Munkres in O(n^2 m)), one
    row added at a time. Columns are numbered from 1 inside, 0 being the virtual column a new
    row's search starts from; `assigned[j]` is the row (from 1) holding column j (0: none)."""
    n, m = shape_of(cost)
    dtype = dtype_of(cost)
    inf = fnp.full((1,), np.inf, dtype)
    no_row = n + 1                     # a spare potential the unused columns write into
    columns = fnp.arange(m + 1)

    def add_row(row, carry):
        u, v, assigned = carry
        assigned = assigned.at[0].set(row + 1)

        def searching(state):
            assigned, j = state[2], state[-1]
            return assigned[j] != 0

        def search(state):
            u, v, assigned, way, min_reduced, used, j = state
            used = used.at[j].set(True)
            i = assigned[j]
            reduced = fnp.concatenate([inf, cost[i - 1]]) - u[i] - v
            better = ~used & (reduced < min_reduced)
            min_reduced = fnp.where(better, reduced, min_reduced)
            way = fnp.where(better, j, way)
            candidates = fnp.where(used, np.inf, min_reduced)
            j_next = fnp.argmin(candidates)
            delta = candidates[j_next]
            u = u.at[fnp.where(used, assigned, no_row)].add(delta)
            v = fnp.where(used, v - delta, v)
            min_reduced = fnp.where(used, min_reduced, min_reduced - delta)
            return u, v, assigned, way, min_reduced, used, j_next

        start = (u, v, assigned, fnp.zeros(m + 1, dtype_of(columns)),
                 fnp.full(m + 1, np.inf, dtype), fnp.zeros(m + 1, bool), columns[0])
        u, v, assigned, way, _, _, free = lax.while_loop(searching, search, start)

        def augment(state):
            assigned, j = state
            before = way[j]
            return assigned.at[j].set(assigned[before]), before
        assigned, _ = lax.while_loop(lambda state: state[1] != 0, augment, (assigned, free))
        return u, v, assigned

    init = (fnp.zeros(n + 2, dtype), fnp.zeros(m + 1, dtype), fnp.zeros_like(columns))
    _, _, assigned = lax.fori_loop(0, n, add_row, init)
    # row r + 1 holds column j: col_for_row[r] = j - 1 (unassigned columns land in slot 0)
    return fnp.zeros(n + 1, dtype_of(columns)).at[assigned[1:]].set(columns[:-1])[1:]


def _solve(cost_matrix, who):
    cost = fnp.asarray(cost_matrix)
    if cost.ndim != 2:
        raise ValueError(f"{who}: cost_matrix must be 2-D, got shape {shape_of(cost)}")
    if np.dtype(dtype_of(cost)).kind != "f":
        cost = cost.astype(dtypes.default_float_dtype())
    transpose = shape_of(cost)[0] > shape_of(cost)[1]
    return _col_for_row(cost.T if transpose else cost), transpose


def _empty():
    return fnp.zeros(0, dtype_of(fnp.arange(0))), fnp.zeros(0, dtype_of(fnp.arange(0)))


def base_hungarian_algorithm(cost_matrix):
    """The assignment of least total cost for an (n, m) `cost_matrix`: `(rows, cols)`, min(n,
    m) pairs, rows in increasing order (as scipy's `linear_sum_assignment`), each row and
    column used at most once; the cost is `cost_matrix[rows, cols].sum()`."""
    if 0 in shape_of(fnp.asarray(cost_matrix)):
        return _empty()
    matched, transpose = _solve(cost_matrix, "base_hungarian_algorithm")
    if not transpose:
        return fnp.arange(shape_of(matched)[0]), matched
    order = fnp.argsort(matched)
    return matched[order], order


def hungarian_algorithm(cost_matrix):
    """The same assignment as `base_hungarian_algorithm`, its pairs in Optax's order for this
    function: by increasing column for a square matrix, else by decreasing index along the
    shorter side."""
    if 0 in shape_of(fnp.asarray(cost_matrix)):
        return _empty()
    matched, transpose = _solve(cost_matrix, "hungarian_algorithm")
    n = shape_of(matched)[0]
    if shape_of(fnp.asarray(cost_matrix)) == (n, n):
        return fnp.zeros_like(matched).at[matched].set(fnp.arange(n)), fnp.arange(n)
    longer_side, shorter_side = matched[::-1], fnp.arange(n)[::-1]
    return (longer_side, shorter_side) if transpose else (shorter_side, longer_side)
