"""Random indices (basic: integers, slices with any step, None, Ellipsis; advanced: integer
arrays, negative ones included, and boolean masks) read and updated through functrans, eagerly
and jitted, against NumPy: `x[idx]`, `x.at[idx].set/add/multiply/min/max/get`, and the
gradient of a read (a scatter-add of the cotangent, NumPy's `np.add.at`)."""
from __future__ import annotations

import numpy as np
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import functrans as ft
import functrans.numpy as fnp
from fuzzing import fuzz_settings

SHAPES = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5)
FUZZ = fuzz_settings(80)


@st.composite
def indexed(draw):
    """(shape, index, has_advanced): an index NumPy accepts for an array of `shape`."""
    shape = draw(SHAPES)
    kind = draw(st.sampled_from(["basic", "integer arrays", "mask", "mixed"]))
    if kind == "basic":
        return shape, draw(hnp.basic_indices(shape, allow_newaxis=True)), False
    if kind == "integer arrays":
        return shape, draw(hnp.integer_array_indices(shape)), True
    if kind == "mask":
        ndim = draw(st.integers(1, len(shape)))
        mask = draw(hnp.arrays(np.bool_, shape[:ndim]))
        return shape, mask, True
    # an integer array on one axis, integers or slices on the axes before it
    axis = draw(st.integers(0, len(shape) - 1))
    entries = [draw(st.one_of(st.integers(-n, n - 1), st.slices(n))) for n in shape[:axis]]
    ids = draw(hnp.arrays(np.int64, draw(st.integers(1, 4)),
                          elements=st.integers(-shape[axis], shape[axis] - 1)))
    return shape, tuple(entries) + (ids,), True


def _values(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


@FUZZ
@given(indexed(), st.integers(0, 2 ** 16))
def test_read_equals_numpy(case, seed):
    shape, index, _ = case
    x = _values(shape, seed)
    expected = x[index]
    got = fnp.asarray(x)[index]
    assert got.shape == expected.shape
    np.testing.assert_array_equal(np.asarray(got), expected)
    jitted = ft.jit(lambda a: a[index])(x)
    np.testing.assert_array_equal(np.asarray(jitted), expected)


@FUZZ
@given(indexed(), st.sampled_from(["set", "add", "multiply", "min", "max"]),
       st.integers(0, 2 ** 16))
def test_updates_equal_numpy(case, method, seed):
    shape, index, advanced = case
    x = _values(shape, seed)
    values = _values(np.shape(x[index]), seed + 1)
    expected = x.copy()
    if method == "set":
        if advanced and _repeats(x, index):
            return      # which of several writes to one place lands is unspecified (as JAX)
        expected[index] = values
    else:
        ufunc = {"add": np.add, "multiply": np.multiply, "min": np.minimum,
                 "max": np.maximum}[method]
        ufunc.at(expected, index, values)
    for update in (lambda a, v: getattr(a.at[index], method)(v),
                   ft.jit(lambda a, v: getattr(a.at[index], method)(v))):
        got = update(fnp.asarray(x), fnp.asarray(values))
        np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-13, atol=0)
    np.testing.assert_array_equal(np.asarray(fnp.asarray(x).at[index].get()), x[index])


@FUZZ
@given(indexed(), st.integers(0, 2 ** 16))
def test_read_gradient_is_scatter_add(case, seed):
    shape, index, _ = case
    x = _values(shape, seed)
    w = _values(np.shape(x[index]), seed + 1)
    expected = np.zeros(shape)
    np.add.at(expected, index, w)

    def loss(a):
        return fnp.sum(a[index] * w)
    for g in (ft.grad(loss), ft.jit(ft.grad(loss))):
        np.testing.assert_allclose(np.asarray(g(fnp.asarray(x))), expected, rtol=1e-13,
                                   atol=1e-13)


def _repeats(x, index):
    """Whether `index` names some element of `x` more than once."""
    places = np.arange(x.size).reshape(x.shape)[index]
    return np.unique(places).size != places.size
