"""`x[idx]` and `x.at[idx]` against NumPy: basic, advanced (integer arrays with NumPy's
placement rule), boolean masks, traced integer scalars; eagerly, under jit (indices traced)
and under grad/vmap."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from hypothesis.extra import numpy as hnp

import functrans as ft
import functrans.numpy as fnp
from functrans import testing as ftst
from functrans.numpy._at import _traced_update
from functrans.numpy._indexing import _getitem
from functrans.test_util import check_grads

SETTINGS = settings(max_examples=max(10, settings().max_examples), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mixed_indices(draw, shape):
    """Index tuples mixing integers, slices, None, Ellipsis, integer arrays and masks."""
    entries = []
    axis = 0
    used_ellipsis = False
    while axis < len(shape):
        d = shape[axis]
        kind = draw(st.sampled_from(["slice", "int", "array", "none", "mask", "ellipsis"]))
        if kind == "slice":
            entries.append(slice(draw(st.none() | st.integers(-d - 1, d + 1)),
                                 draw(st.none() | st.integers(-d - 1, d + 1)),
                                 draw(st.none() | st.sampled_from([1, 2, -1, -2]))))
        elif kind == "int":
            entries.append(draw(st.integers(-d, d - 1)))
        elif kind == "array":
            entries.append(draw(hnp.arrays(np.int64, draw(ftst.shapes(max_dims=2)),
                                           elements=st.integers(-d, d - 1))))
        elif kind == "none":
            entries.append(None)
            continue
        elif kind == "mask":
            entries.append(draw(hnp.arrays(np.bool_, (d,))))
        elif not used_ellipsis:
            entries.append(Ellipsis)
            used_ellipsis = True
            axis = len(shape) - draw(st.integers(0, len(shape) - axis))
            continue
        else:
            continue
        axis += 1
    if not used_ellipsis:           # (after an Ellipsis, dropping entries would move the rest)
        entries = entries[:draw(st.integers(0, len(entries)))]
    return tuple(entries)


def _broadcastable(idx):
    arrays = [np.asarray(e) for e in idx if isinstance(e, np.ndarray) and e.dtype != bool]
    masks = [np.nonzero(e)[0] for e in idx if isinstance(e, np.ndarray) and e.dtype == bool]
    try:
        np.broadcast_shapes(*[a.shape for a in arrays + masks])
        return True
    except ValueError:
        return False


@SETTINGS
@given(data=st.data())
def test_getitem_matches_numpy(data):
    x = data.draw(ftst.arrays(np.float64, ftst.shapes(min_dims=1), as_numpy=True))
    idx = data.draw(mixed_indices(x.shape))
    try:
        expected = x[idx]
    except IndexError:
        with pytest.raises(IndexError):
            _getitem(fnp.asarray(x), idx)
        return
    a = fnp.asarray(x)
    np.testing.assert_array_equal(np.asarray(a[idx]), expected)          # eager fast path
    np.testing.assert_array_equal(np.asarray(_getitem(a, idx)), expected)  # primitives
    np.testing.assert_array_equal(np.asarray(ft.jit(lambda a: a[idx])(a)), expected)


@SETTINGS
@given(data=st.data())
def test_traced_integer_array_indices_under_jit(data):
    x = data.draw(ftst.arrays(np.float64, ftst.shapes(min_dims=2, max_dims=3), as_numpy=True))
    i = data.draw(hnp.arrays(np.int64, data.draw(ftst.shapes(max_dims=2)),
                             elements=st.integers(-x.shape[0], x.shape[0] - 1)))
    j = data.draw(hnp.arrays(np.int64, data.draw(ftst.shapes(max_dims=1)),
                             elements=st.integers(-x.shape[-1], x.shape[-1] - 1)))
    if not _broadcastable((i, j)):
        return
    for f in (lambda a, i, j: a[i, ..., j], lambda a, i, j: a[..., j],
              lambda a, i, j: a[i, 1:], lambda a, i, j: a[..., None, j]):
        np.testing.assert_array_equal(np.asarray(ft.jit(f)(fnp.asarray(x), i, j)), f(x, i, j))


def test_traced_out_of_bounds_indices_are_clamped():
    x = fnp.asarray(np.arange(5.0))
    f = ft.jit(lambda a, i: a[i])
    assert float(f(x, 7)) == 4.0 and float(f(x, -9)) == 0.0 and float(f(x, -2)) == 3.0
    g = ft.jit(lambda a, i: a[i])
    np.testing.assert_array_equal(np.asarray(g(x, np.array([0, 9, -1, -7]))), [0, 4, 4, 0])
    h = ft.jit(lambda a, i: a.at[i].add(10.0))          # updates out of bounds are dropped
    np.testing.assert_array_equal(np.asarray(h(x, np.array([9]))), [0, 1, 2, 3, 4])


def test_concrete_out_of_bounds_reads_clamp_like_jax():
    x = fnp.asarray(np.arange(6.0).reshape(2, 3))
    expected = [((2,), [3, 4, 5]), ((0, 3), 2.0), ((np.array([0, 3]),), [[0, 1, 2], [3, 4, 5]]),
                ((slice(None), np.array([-4])), [[0], [3]])]
    for idx, want in expected:
        np.testing.assert_array_equal(np.asarray(x[idx]), want)
        np.testing.assert_array_equal(np.asarray(ft.jit(lambda a: a[idx])(x)), want)
    with pytest.raises(IndexError, match="out of bounds"):
        fnp.zeros((2, 0))[0, 0]                             # nothing to clamp to


def test_traced_scalar_index_uses_dynamic_slice():
    x = fnp.asarray(np.arange(12.0).reshape(3, 4))
    jaxpr = ft.make_jaxpr(lambda a, i: a[i, 1:3])(x, 1)
    assert "dynamic_slice" in str(jaxpr) and "gather" not in str(jaxpr)
    jaxpr = ft.make_jaxpr(lambda a, i: a[i])(x, np.array([0, 2]))
    assert "gather" in str(jaxpr)
    out = ft.vmap(lambda i: x[i, -1])(np.array([0, 2, -1]))
    np.testing.assert_array_equal(np.asarray(out), [3.0, 11.0, 11.0])


UPDATES = {"set": None, "add": np.add, "multiply": np.multiply, "min": np.minimum,
           "max": np.maximum}


@pytest.mark.parametrize("kind", list(UPDATES))
@SETTINGS
@given(data=st.data())
def test_at_updates_match_numpy(kind, data):
    x = data.draw(ftst.arrays(np.float64, ftst.shapes(min_dims=1), as_numpy=True))
    idx = data.draw(mixed_indices(x.shape))
    try:
        target = x[idx]
    except IndexError:
        return
    v = data.draw(ftst.arrays(np.float64, st.sampled_from([target.shape, ()]),
                              as_numpy=True))
    expected = x.copy()
    if kind == "set":
        expected[idx] = v
    else:
        UPDATES[kind].at(expected, idx, v)
    a = fnp.asarray(x)
    np.testing.assert_array_equal(np.asarray(getattr(a.at[idx], kind)(v)), expected)
    np.testing.assert_array_equal(np.asarray(_traced_update(a, idx, fnp.asarray(v), kind)),
                                  expected)
    jitted = ft.jit(lambda a, v: getattr(a.at[idx], kind)(v))(a, v)
    np.testing.assert_array_equal(np.asarray(jitted), expected)


def test_at_add_accumulates_duplicates_and_set_takes_the_last():
    x = fnp.zeros(4)
    idx = np.array([1, 1, 3, 1])
    np.testing.assert_array_equal(np.asarray(x.at[idx].add(1.0)), [0, 3, 0, 1])
    np.testing.assert_array_equal(np.asarray(x.at[idx].set(np.array([5.0, 6.0, 7.0, 8.0]))),
                                  [0, 8, 0, 7])
    jitted = ft.jit(lambda x, i: x.at[i].add(1.0))(x, idx)
    np.testing.assert_array_equal(np.asarray(jitted), [0, 3, 0, 1])


def test_at_other_methods():
    x = fnp.asarray(np.array([1.0, 2.0, 4.0, 8.0]))
    np.testing.assert_allclose(np.asarray(x.at[1:3].divide(2.0)), [1, 1, 2, 8])
    np.testing.assert_allclose(np.asarray(x.at[::2].power(2)), [1, 2, 16, 8])
    np.testing.assert_allclose(np.asarray(x.at[np.array([0, 3])].apply(fnp.sqrt)),
                               [1, 2, 4, np.sqrt(8)])
    np.testing.assert_array_equal(np.asarray(x.at[-1].get()), 8.0)
    i = fnp.asarray(np.array([1, 2, 3]))
    with pytest.raises(TypeError, match="floating-point"):
        i.at[0].divide(2)
    np.testing.assert_array_equal(np.asarray(i.at[0].set(7.9)), [7, 2, 3])   # cast like NumPy


def test_gradients_through_indexing_and_updates():
    x = fnp.asarray(np.linspace(0.5, 2.0, 12).reshape(3, 4))
    idx = np.array([2, 0, 2])

    def f(x):
        y = x[idx, 1:] * x[:, np.array([3, 3])][idx[:1]].sum()
        z = x.at[idx, 0].add(y[:, 0] ** 2).at[1].multiply(x[0])
        return z.at[:, ::2].max(y[:, :2]).at[np.array([0, 0]), 1].set(x[2, :2])
    check_grads(f, (x,), order=2, modes=("fwd", "rev"))
    check_grads(lambda x: ft.jit(f)(x), (x,), order=1, modes=("rev",))


def test_gradient_of_set_with_duplicates_follows_the_winner():
    x = fnp.zeros(3)
    u = fnp.asarray(np.array([1.0, 2.0, 3.0]))
    g = ft.grad(lambda u: (x.at[np.array([1, 1, 2])].set(u) * np.array([1.0, 10.0, 100.0]))
                .sum())(u)
    np.testing.assert_array_equal(np.asarray(g), [0.0, 10.0, 100.0])


def test_boolean_masks_under_jit_point_to_where():
    x = fnp.asarray(np.arange(4.0))
    with pytest.raises(IndexError, match="fnp.where"):
        ft.jit(lambda a: a[a > 1])(x)
    with pytest.raises(IndexError, match="fnp.where"):
        ft.jit(lambda a: a.at[a > 1].set(0.0))(x)
    np.testing.assert_array_equal(np.asarray(x[x > 1]), [2.0, 3.0])
    np.testing.assert_array_equal(np.asarray(x.at[x > 1].set(0.0)), [0, 1, 0, 0])


def test_indexing_under_vmap_and_grad():
    x = fnp.asarray(np.arange(24.0).reshape(2, 3, 4))
    out = ft.vmap(lambda m, i: m[i, ::-1])(x, np.array([2, 0]))
    host = np.asarray(x)
    np.testing.assert_array_equal(np.asarray(out), np.stack([host[0, 2, ::-1],
                                                             host[1, 0, ::-1]]))
    out = ft.vmap(lambda m, i: m.at[:, i].set(-1.0))(x, np.array([1, 3]))
    expected = host.copy()
    expected[0, :, 1] = -1
    expected[1, :, 3] = -1
    np.testing.assert_array_equal(np.asarray(out), expected)
    g = ft.grad(lambda m: m[np.array([0, 0]), 1, 2].sum())(x)
    assert float(g[0, 1, 2]) == 2.0 and float(g.sum()) == 2.0
