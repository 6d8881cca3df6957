"""`functrans.ds` (JAX's `jax.ds`): reads, `.at[...]` updates and Ref reads and writes with a
start that may be traced, against JAX; derivatives, vmap, jit."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.numpy._dslice import Slice
from functrans.test_util import check_grads

X = np.arange(10) * 10 + 1
STARTS = [-20, -12, -10, -3, 0, 3, 7, 8, 12]
SIZES_STRIDES = [(0, 1), (1, 1), (3, 1), (10, 1), (3, 2), (5, 3), (3, 0), (12, 2)]


def test_construction():
    assert ft.ds(None) == slice(None)
    assert ft.ds(3) == Slice(0, 3, 1)
    s = ft.ds(2, 3, 2)
    assert (s.start, s.size, s.stride, s.is_dynamic_start, s.is_dynamic_size) == \
        (2, 3, 2, False, False)
    assert Slice.from_slice(slice(1, 8, 3), 10) == Slice(1, 3, 3)
    with pytest.raises(ValueError, match="non-negative"):
        ft.ds(0, 2, -1)
    with pytest.raises(ValueError, match="non-negative"):
        ft.ds(0, -2)
    with pytest.raises(TypeError, match="size must be a static integer"):
        ft.jit(lambda n: fnp.arange(5)[ft.ds(0, n)])(2)


def _same(ours, theirs):
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


@pytest.mark.parametrize("size,stride", SIZES_STRIDES)
def test_reads_against_jax(jax_x64, size, stride):
    jit_ours = ft.jit(lambda x, i: x[ft.ds(i, size, stride)])
    jit_theirs = jax_x64.jit(lambda x, i: x[jax_x64.ds(i, size, stride)])
    for start in STARTS:
        expected = jit_theirs(X, start)
        _same(fnp.asarray(X)[ft.ds(start, size, stride)], expected)
        _same(jit_ours(X, start), expected)
        # .at[].get(mode="fill") fills a window that does not fit (strided: a position)
        got = ft.jit(lambda x, i: x.at[ft.ds(i, size, stride)].get(
            mode="fill", fill_value=-1))(X, start)
        _same(got, jax_x64.numpy.asarray(X).at[jax_x64.ds(start, size, stride)].get(
            mode="fill", fill_value=-1))


def test_a_window_larger_than_the_axis_is_an_error():
    with pytest.raises(IndexError, match="window of size 11 does not fit an axis of length 10"):
        fnp.asarray(X)[ft.ds(0, 11)]


@pytest.mark.parametrize("size,stride", [(3, 1), (10, 1), (3, 2), (3, 0), (5, 3)])
@pytest.mark.parametrize("op", ["set", "add", "multiply", "max"])
@pytest.mark.parametrize("mode", [None, "clip"])
def test_updates_against_jax(jax_x64, size, stride, op, mode):
    values = np.arange(size) + 100
    theirs = jax_x64.jit(lambda x, i: getattr(x.at[jax_x64.ds(i, size, stride)], op)(
        values, mode=mode))
    ours = ft.jit(lambda x, i: getattr(x.at[ft.ds(i, size, stride)], op)(values, mode=mode))
    for start in STARTS:
        expected = theirs(X, start)
        _same(ours(X, start), expected)
        _same(getattr(fnp.asarray(X).at[ft.ds(start, size, stride)], op)(values, mode=mode),
              expected)


INDICES = [
    lambda ds, i: (ds(i, 2), ds(1, 3)),
    lambda ds, i: (None, ds(i, 2), Ellipsis, ds(3, 2)),
    lambda ds, i: (np.array([0, 3]), ds(i, 2)),
    lambda ds, i: (ds(i, 2), np.array([0, 3, 4])),
    lambda ds, i: (ds(i, 2), 2),
    lambda ds, i: (1, ds(i, 3, 2), None),
    lambda ds, i: (Ellipsis, ds(i, 2)),
    lambda ds, i: (ds(i, 3), np.array([True, False, True, True, False, True])),
]


@pytest.mark.parametrize("index", range(len(INDICES)))
def test_with_other_index_entries(jax_x64, index):
    m = np.arange(24.0).reshape(4, 6)
    make = INDICES[index]
    for i in (-1, 0, 1, 3):
        expected = jax_x64.jit(lambda m, i: m[make(jax_x64.ds, i)])(m, i)
        _same(fnp.asarray(m)[make(ft.ds, i)], expected)
        _same(ft.jit(lambda m, i: m[make(ft.ds, i)])(m, i), expected)
        theirs = jax_x64.numpy.asarray(m).at[make(jax_x64.ds, i)].add(1.0)
        _same(ft.jit(lambda m, i: m.at[make(ft.ds, i)].add(1.0))(m, i), theirs)


def test_derivatives():
    x = np.linspace(0.5, 2.0, 8)
    for start in (2, -3, 7):
        check_grads(lambda x: fnp.sin(fnp.asarray(x)[ft.ds(start, 3)]), (x,), order=2)
        check_grads(lambda x: fnp.asarray(x).at[ft.ds(start, 3, 2)].multiply(x[:3]), (x,),
                    order=2)
    i = fnp.asarray(2)
    g = ft.jit(ft.grad(lambda x, i: fnp.sum(x[ft.ds(i, 3)] ** 2)))(x, i)
    np.testing.assert_allclose(np.asarray(g), np.where((np.arange(8) >= 2) & (np.arange(8) < 5),
                                                       2 * x, 0.0))


def test_vmap_over_the_start_against_a_loop():
    x = np.arange(40.0).reshape(4, 10)
    starts = np.array([0, 3, 8, -2])
    out = ft.vmap(lambda row, i: row[ft.ds(i, 3)])(x, starts)
    _same(out, np.stack([np.asarray(fnp.asarray(r)[ft.ds(int(i), 3)])
                         for r, i in zip(x, starts)]))
    upd = ft.vmap(lambda row, i: row.at[ft.ds(i, 3, 2)].set(-1.0))(x, starts)
    _same(upd, np.stack([np.asarray(fnp.asarray(r).at[ft.ds(int(i), 3, 2)].set(-1.0))
                         for r, i in zip(x, starts)]))


def test_refs(jax_x64):
    def ours(i):
        r = ft.new_ref(fnp.arange(10.0))
        r[ft.ds(i, 2)] = fnp.ones(2)
        r[ft.ds(i, 3, 2)] += fnp.full(3, 10.0)
        return r[ft.ds(i, 3)], ft.freeze(r)

    def theirs(i):
        jnp = jax_x64.numpy
        r = jax_x64.new_ref(jnp.arange(10.0))
        r[jax_x64.ds(i, 2)] = jnp.ones(2)
        r[jax_x64.ds(i, 3, 2)] += jnp.full(3, 10.0)
        return r[jax_x64.ds(i, 3)], jax_x64.ref.freeze(r)

    for i in (0, 3, 5):
        for a, b in zip(ft.jit(ours)(i), jax_x64.jit(theirs)(i)):
            _same(a, b)
        for a, b in zip(ours(i), jax_x64.jit(theirs)(i)):
            _same(a, b)
    r = ft.new_ref(fnp.zeros(4))
    with pytest.raises(ValueError, match=r"has shape \(3,\).*at this index has shape \(2,\)"):
        r[ft.ds(1, 2)] = fnp.ones(3)


def test_on_the_stand_in_gpu(fake_gpus):
    x = ft.device_put(np.arange(10.0), fake_gpus[0])
    out = ft.jit(lambda x, i: x[ft.ds(i, 3, 2)] + x.at[ft.ds(i, 3)].get(mode="fill"))(x, 2)
    assert out.device == fake_gpus[0]
    _same(out, [4.0, 7.0, 10.0])
    y = x.at[ft.ds(fnp.asarray(8, device=fake_gpus[0]), 2)].set(0.0)
    assert y.device == fake_gpus[0]
    _same(y, [0, 1, 2, 3, 4, 5, 6, 7, 0, 0])
