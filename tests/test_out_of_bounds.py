"""JAX's out-of-bounds rule, eagerly and under jit, vmap and grad alike: after negative
indices wrap once, reads clamp and updates are dropped (`mode=` selects otherwise). No
out-of-bounds update ever lands in an in-bounds element. JAX is the oracle where
installed."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from hypothesis.extra import numpy as hnp

import functrans as ft
import functrans.numpy as fnp

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
KINDS = ["set", "add", "multiply", "min", "max"]
_COMBINE = {"set": lambda cur, v: v, "add": np.add, "multiply": np.multiply,
            "min": np.minimum, "max": np.maximum}


def _reference_update(x, rows, values, kind):
    """x.at[rows].kind(values) along axis 0 with out-of-bounds rows dropped (NumPy)."""
    out = x.copy()
    n = x.shape[0]
    for r, v in zip(rows, values):
        r = r + n if r < 0 else r
        if 0 <= r < n:
            if kind == "set":
                out[r] = v
            else:
                out[r] = _COMBINE[kind](out[r], v)
    return out


def _ways(kind):
    """The same update eagerly, under jit (index traced), under vmap (over a batch of one)
    and as the primal of grad."""
    def eager(x, rows, v):
        return getattr(x.at[rows], kind)(v)

    def jitted(x, rows, v):
        return ft.jit(lambda x, r, v: getattr(x.at[r], kind)(v))(x, rows, v)

    def vmapped(x, rows, v):
        return ft.vmap(lambda r, v: getattr(x.at[r], kind)(v))(rows[None], v[None])[0]

    def through_grad(x, rows, v):
        def f(x):
            out = getattr(x.at[rows], kind)(v)
            return out.sum(), out
        (_, out), _ = ft.value_and_grad(f, has_aux=True)(x)
        return out

    return {"eager": eager, "jit": jitted, "vmap": vmapped, "grad": through_grad}


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@given(data=st.data())
def test_out_of_bounds_updates_never_land(kind, data):
    n = data.draw(st.integers(1, 5))
    rows = data.draw(hnp.arrays(np.int64, data.draw(st.integers(1, 4)),
                                elements=st.integers(-2 * n - 2, 2 * n + 2)))
    if kind == "set":     # duplicates make "which one wins" unspecified: keep rows distinct
        rows = np.unique(rows)
    x = np.arange(1.0, n + 1) * 10.0
    v = 1000.0 + np.arange(len(rows), dtype=np.float64)    # values nothing else holds
    expected = _reference_update(x, rows, v, kind)
    for way, fn in _ways(kind).items():
        got = np.asarray(fn(fnp.asarray(x), rows, fnp.asarray(v)))
        np.testing.assert_array_equal(got, expected, err_msg=f"{way} {rows}")


@pytest.mark.parametrize("index", [5, -4, 100, -100])
def test_scalar_out_of_bounds_updates_drop_and_reads_clamp_everywhere(index):
    x = fnp.asarray(np.array([1.0, 2.0, 3.0]))
    clamped = float(np.array([1.0, 2.0, 3.0])[min(max(index + 3 if index < 0 else index, 0),
                                                   2)])
    for f in (lambda x, i: x.at[i].set(9.0), lambda x, i: x.at[i].add(9.0),
              lambda x, i: x.at[i, None].set(9.0)):
        for out in (f(x, index), ft.jit(f)(x, index),
                    ft.vmap(lambda i: f(x, i))(np.array([index]))[0]):
            np.testing.assert_array_equal(np.asarray(out).ravel(), [1.0, 2.0, 3.0])
    for read in (lambda x, i: x[i], lambda x, i: x.at[i].get()):
        assert float(read(x, index)) == clamped
        assert float(ft.jit(read)(x, index)) == clamped
    g = ft.grad(lambda v: x.at[index].set(v).sum())(4.0)
    assert float(g) == 0.0                    # a dropped update has no derivative
    g = ft.jit(ft.grad(lambda v, i: x.at[i].set(v).sum()))(4.0, index)
    assert float(g) == 0.0


def test_modes_of_updates_and_reads():
    x = fnp.asarray(np.array([1.0, 2.0, 3.0]))
    idx = np.array([0, 5])
    np.testing.assert_array_equal(np.asarray(x.at[idx].set(9.0, mode="clip")), [9, 2, 9])
    np.testing.assert_array_equal(np.asarray(x.at[5].add(1.0, mode="clip")), [1, 2, 4])
    for mode in (None, "drop", "fill", "promise_in_bounds"):
        np.testing.assert_array_equal(np.asarray(x.at[idx].set(9.0, mode=mode)), [9, 2, 3])
    np.testing.assert_array_equal(np.asarray(x.at[idx].get(mode="fill")), [1, np.nan])
    np.testing.assert_array_equal(np.asarray(x.at[idx].get(mode="fill", fill_value=-1)),
                                  [1, -1])
    np.testing.assert_array_equal(np.asarray(x.at[idx].get(mode="clip")), [1, 3])
    np.testing.assert_array_equal(
        np.asarray(ft.jit(lambda x, i: x.at[i].get(mode="fill", fill_value=7.0))(x, idx)),
        [1, 7])
    i = fnp.arange(3)
    assert int(i.at[7].get(mode="fill")) == np.iinfo(np.int64).min
    assert int(fnp.arange(3, dtype=fnp.uint8).at[7].get(mode="fill")) == 255
    assert bool(fnp.ones(2, dtype=bool).at[3].get(mode="fill"))
    np.testing.assert_array_equal(np.asarray(x.at[1].subtract(1.0)), [1, 1, 3])
    with pytest.raises(ValueError, match="mode"):
        x.at[0].set(1.0, mode="wrap")
    g = ft.grad(lambda x: x.at[idx].get(mode="fill", fill_value=0.0).sum())(x)
    np.testing.assert_array_equal(np.asarray(g), [1, 0, 0])


def test_two_dimensional_indices_drop_whole_rows_and_elements():
    x = np.arange(12.0).reshape(3, 4)
    a = fnp.asarray(x)
    out = a.at[np.array([0, 3]), np.array([1, 9])].set(-1.0)
    expected = x.copy()
    expected[0, 1] = -1.0
    np.testing.assert_array_equal(np.asarray(out), expected)
    out = ft.jit(lambda a, i: a.at[i].set(-1.0))(a, np.array([2, -4]))
    expected = x.copy()
    expected[2] = -1.0
    np.testing.assert_array_equal(np.asarray(out), expected)
    np.testing.assert_array_equal(np.asarray(a[7, 1:3]), x[2, 1:3])


def test_matches_jax():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    x = np.arange(5.0)
    for idx in (7, -8, np.array([1, 7, -8, -1]), (np.array([[0], [9]]),)):
        for kind in KINDS:
            ours = np.asarray(getattr(fnp.asarray(x).at[idx], kind)(3.0))
            theirs = np.asarray(getattr(jnp.asarray(x).at[idx], kind)(3.0))
            np.testing.assert_array_equal(ours, theirs, err_msg=f"{kind} {idx}")
        np.testing.assert_array_equal(np.asarray(fnp.asarray(x)[idx]),
                                      np.asarray(jnp.asarray(x)[idx]))
        np.testing.assert_array_equal(
            np.asarray(fnp.asarray(x).at[idx].get(mode="fill")),
            np.asarray(jnp.asarray(x).at[idx].get(mode="fill")))
