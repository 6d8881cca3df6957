"""functrans.experimental.sparse (JAX's jax.experimental.sparse): BCOO against dense NumPy
and against JAX's BCOO (same data and indices), products for many dimension numbers and
layouts, duplicates and padding, jit / vmap / grad (float64 finite differences with respect
to data and dense operands), and sparsify, with the cells of JAX's docs page."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.experimental import sparse
from functrans.test_util import check_grads

M = np.array([[0., 1., 0., 2.],
              [3., 0., 0., 0.],
              [0., 0., 4., 0.]], np.float32)


@pytest.fixture
def jsparse():
    pytest.importorskip("jax")
    from jax.experimental import sparse as js
    return js


def _random(rng, shape, density=0.4, dtype=np.float64):
    x = rng.standard_normal(shape).astype(dtype)
    return np.where(rng.random(shape) < density, x, 0).astype(dtype)


def _close(a, b, **kw):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), **{"rtol": 1e-6, **kw})


# ------------------------------------------------------------------ the docs page's cells
def test_docs_cells_bcoo():
    M_sp = sparse.BCOO.fromdense(fnp.asarray(M))
    assert repr(M_sp) == "BCOO(float32[3, 4], nse=4)"
    _close(M_sp.todense(), M)
    _close(M_sp.data, [1., 2., 3., 4.])
    np.testing.assert_array_equal(M_sp.indices, [[0, 1], [0, 3], [1, 0], [2, 2]])
    assert M_sp.indices.dtype == np.int32 and M_sp.dtype == np.float32
    assert (M_sp.ndim, M_sp.shape, M_sp.nse) == (2, (3, 4), 4)
    y = fnp.asarray([3., 6., 5.])
    _close(M_sp.T @ y, [18., 3., 20., 6.])

    def f(y):
        return (M_sp.T @ y).sum()
    _close(ft.jit(ft.grad(f))(y), [3., 3., 4.])


def test_docs_cells_sparsify():
    def f(M, v):
        return 2 * fnp.dot(fnp.log1p(M.T), v) + 1
    M_sp, y = sparse.BCOO.fromdense(fnp.asarray(M)), fnp.asarray([3., 6., 5.])
    want = [17.635532, 5.158883, 17.09438, 7.591674]
    _close(f(fnp.asarray(M), y), want)
    _close(sparse.sparsify(f)(M_sp, y), want)
    _close(ft.jit(sparse.sparsify(f))(M_sp, y), want)


def test_sparsify_logistic_regression_gradient_descent():
    """The docs page's sparse logistic regression: a loss written for dense X, its gradient
    taken inside, iterated by fori_loop, run with a sparse X."""
    rng = np.random.default_rng(0)
    X, y = _random(rng, (30, 5)), (rng.random(30) > 0.5).astype(np.float64)

    def loss(params, X, y):
        y_hat = 0.5 * (fnp.tanh((fnp.dot(X, params[1:]) + params[0]) / 2) + 1)
        return -fnp.mean(y * fnp.log(y_hat) + (1 - y) * fnp.log(1 - y_hat))

    def fit(X, y):
        step = ft.grad(loss)
        return lax.fori_loop(0, 20, lambda i, p: p - 0.5 * step(p, X, y), fnp.zeros(6))

    _close(sparse.sparsify(fit)(sparse.BCOO.fromdense(X), y), fit(X, y), rtol=1e-10)


# ------------------------------------------------------------------ layout, vs JAX
@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), data=st.data())
def test_fromdense_todense_roundtrip(shape, data):
    n_batch = data.draw(st.integers(0, len(shape)))
    n_dense = data.draw(st.integers(0, len(shape) - n_batch))
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    x = _random(rng, tuple(shape))
    mat = sparse.bcoo_fromdense(x, n_batch=n_batch, n_dense=n_dense)
    assert (mat.n_batch, mat.n_dense, mat.shape) == (n_batch, n_dense, tuple(shape))
    _close(mat.todense(), x)
    padded = sparse.bcoo_fromdense(x, nse=mat.nse + 2, n_batch=n_batch, n_dense=n_dense)
    _close(sparse.todense(padded), x)


@pytest.mark.parametrize("shape,n_batch,n_dense", [
    ((3, 4), 0, 0), ((2, 3, 4), 1, 0), ((3, 4, 2), 0, 1), ((2, 3, 4, 2), 1, 1),
    ((5,), 0, 0), ((2, 3), 2, 0), ((2, 3), 0, 2)])
def test_fromdense_matches_jax(jsparse, shape, n_batch, n_dense):
    x = _random(np.random.default_rng(1), shape).astype(np.float32)
    ours = sparse.BCOO.fromdense(x, n_batch=n_batch, n_dense=n_dense)
    theirs = jsparse.BCOO.fromdense(x, n_batch=n_batch, n_dense=n_dense)
    assert repr(ours) == repr(theirs)
    _close(ours.data, theirs.data)
    np.testing.assert_array_equal(ours.indices, theirs.indices)
    padded = sparse.BCOO.fromdense(x, nse=ours.nse + 2, n_batch=n_batch, n_dense=n_dense)
    theirs = jsparse.BCOO.fromdense(x, nse=ours.nse + 2, n_batch=n_batch, n_dense=n_dense)
    np.testing.assert_array_equal(padded.indices, theirs.indices)
    _close(padded.data, theirs.data)


def _with_duplicates():
    data = np.array([1., 0., 2., 3., 5., 7.])
    indices = np.array([[0, 1], [1, 1], [0, 1], [2, 0], [3, 2], [2, 3]], np.int32)
    return data, indices          # [3, 2] is out of bounds (padding): dropped


def test_duplicates_and_out_of_bounds(jsparse):
    data, indices = _with_duplicates()
    mat = sparse.BCOO((data, indices), shape=(3, 4))
    want = np.zeros((3, 4))
    want[0, 1], want[2, 0], want[2, 3] = 3., 3., 7.
    _close(mat.todense(), want)
    theirs = jsparse.BCOO((data, indices), shape=(3, 4))
    for kw in ({}, {"remove_zeros": False}):
        ours, ref = mat.sum_duplicates(**kw), theirs.sum_duplicates(**kw)
        assert ours.nse == ref.nse
        _close(ours.data, ref.data)
        np.testing.assert_array_equal(ours.indices, ref.indices)
        _close(ours.todense(), want)
    padded = mat.sum_duplicates(nse=6)     # JAX keeps the out-of-bounds element; we drop it
    assert padded.nse == 6 and padded.unique_indices
    _close(padded.todense(), want)
    ours, ref = mat.sort_indices(), theirs.sort_indices()
    _close(ours.data, ref.data)
    np.testing.assert_array_equal(ours.indices, ref.indices)


def test_sum_duplicates_batched_and_jit():
    data = np.array([[1., 2., 3.], [4., 5., 6.]])
    indices = np.array([[[0], [0], [2]], [[1], [3], [1]]], np.int32)
    mat = sparse.BCOO((data, indices), shape=(2, 3))
    out = mat.sum_duplicates()
    assert out.nse == 2
    _close(out.todense(), mat.todense())
    _close(out.todense(), [[3., 0., 3.], [0., 10., 0.]])
    jitted = ft.jit(lambda m: m.sum_duplicates(nse=3))(mat)
    _close(jitted.todense(), mat.todense())
    with pytest.raises(ft.errors.ConcretizationTypeError, match="nse="):
        ft.jit(lambda m: m.sum_duplicates())(mat)


def test_transpose(jsparse):
    x = _random(np.random.default_rng(2), (2, 3, 4, 5))
    mat = sparse.BCOO.fromdense(x, n_batch=1, n_dense=1)
    _close(mat.transpose((0, 2, 1, 3)).todense(), x.transpose(0, 2, 1, 3))
    _close(sparse.BCOO.fromdense(x[0, :, :, 0]).T.todense(), x[0, :, :, 0].T)
    theirs = jsparse.BCOO.fromdense(x[0, :, :, 0]).T
    np.testing.assert_array_equal(sparse.BCOO.fromdense(x[0, :, :, 0]).T.indices,
                                  theirs.indices)
    with pytest.raises(ValueError, match="batch"):
        mat.transpose((1, 0, 2, 3))


def test_astype_reshape_eye_empty(jsparse):
    mat = sparse.BCOO.fromdense(M)
    assert mat.astype(np.int32).dtype == np.int32
    _close(mat.reshape(2, 6).todense(), M.reshape(2, 6))
    _close(mat.reshape(12).todense(), M.reshape(12))
    np.testing.assert_array_equal(mat.reshape(2, 6).indices,
                                  jsparse.BCOO.fromdense(M).reshape(2, 6).indices)
    for args in [(3,), (3, 4), (3, 4, 1), (4, 3, -2)]:
        ours, theirs = sparse.eye(*args), jsparse.eye(*args)
        assert repr(ours) == repr(theirs)
        _close(ours.todense(), theirs.todense())
        np.testing.assert_array_equal(ours.indices, theirs.indices)
    e = sparse.empty((2, 3, 4), n_batch=1, n_dense=1)
    assert repr(e) == repr(jsparse.empty((2, 3, 4), n_batch=1, n_dense=1))
    _close(e.todense(), np.zeros((2, 3, 4)))


def test_bad_input():
    with pytest.raises(ValueError, match="data of shape"):
        sparse.BCOO((np.ones(3), np.zeros((4, 2), np.int32)), shape=(3, 4))
    with pytest.raises(ValueError, match="indices"):
        sparse.BCOO((np.ones(3), np.zeros((3, 2))), shape=(3, 4))
    with pytest.raises(ValueError, match="n_dense"):
        sparse.bcoo_fromdense(M, n_batch=2, n_dense=1)
    with pytest.raises(ft.errors.ConcretizationTypeError, match="nse="):
        ft.jit(sparse.BCOO.fromdense)(M)
    with pytest.raises(NotImplementedError, match="n_dense=0"):
        sparse.bcoo_dot_general(sparse.BCOO.fromdense(M, n_dense=1), sparse.BCOO.fromdense(M.T),
                                dimension_numbers=(((1,), (0,)), ((), ())))


# ------------------------------------------------------------------ products
DOT_CASES = [
    # lhs shape, n_batch, n_dense, rhs shape, dimension numbers
    ((3, 4), 0, 0, (4,), (((1,), (0,)), ((), ()))),
    ((3, 4), 0, 0, (3,), (((0,), (0,)), ((), ()))),
    ((3, 4), 0, 0, (4, 5), (((1,), (0,)), ((), ()))),
    ((3, 4), 0, 0, (5, 3), (((0,), (1,)), ((), ()))),
    ((3, 4), 0, 1, (4, 5), (((1,), (0,)), ((), ()))),
    ((3, 4), 0, 2, (4, 5), (((1,), (0,)), ((), ()))),
    ((2, 3, 4), 1, 0, (2, 4, 5), (((2,), (1,)), ((0,), (0,)))),
    ((2, 3, 4), 1, 0, (4, 5), (((2,), (0,)), ((), ()))),
    ((2, 3, 4), 1, 0, (2, 5), (((0,), (0,)), ((), ()))),
    ((2, 3, 4), 0, 1, (5, 4, 2), (((2,), (1,)), ((0,), (2,)))),
    ((2, 3, 4, 2), 1, 1, (2, 4, 2), (((2, 3), (1, 2)), ((0,), (0,)))),
    ((2, 3, 4), 0, 0, (3, 2), (((0, 1), (1, 0)), ((), ()))),
    ((3, 4), 0, 0, (6,), (((), ()), ((), ()))),
]


def _dense_dot(lhs, rhs, dn):
    return np.asarray(lax.dot_general(lhs, rhs, dn))


@pytest.mark.parametrize("case", DOT_CASES)
def test_dot_general_sparse_dense(case):
    lshape, n_batch, n_dense, rshape, dn = case
    rng = np.random.default_rng(3)
    x, r = _random(rng, lshape), rng.standard_normal(rshape)
    mat = sparse.BCOO.fromdense(x, n_batch=n_batch, n_dense=n_dense)
    _close(sparse.bcoo_dot_general(mat, r, dimension_numbers=dn), _dense_dot(x, r, dn),
           atol=1e-12)
    padded = sparse.BCOO.fromdense(x, nse=mat.nse + 3, n_batch=n_batch, n_dense=n_dense)
    _close(ft.jit(lambda m, r: sparse.bcoo_dot_general(m, r, dimension_numbers=dn))(
        padded, r), _dense_dot(x, r, dn), atol=1e-12)
    (lc, rc), (lb, rb) = dn
    swapped = ((rc, lc), (rb, lb))
    _close(sparse.bcoo_dot_general(r, mat, dimension_numbers=swapped),
           _dense_dot(r, x, swapped), atol=1e-12)


@pytest.mark.parametrize("case", [c for c in DOT_CASES if c[1] == 0][:6] + [DOT_CASES[6]])
def test_dot_general_derivatives(case):
    """float64 finite differences with respect to the stored data and the dense operand,
    first and second order, forward and reverse."""
    lshape, n_batch, n_dense, rshape, dn = case
    rng = np.random.default_rng(4)
    mat = sparse.BCOO.fromdense(_random(rng, lshape), n_batch=n_batch, n_dense=n_dense)
    r = rng.standard_normal(rshape)

    def f(data, r):
        return fnp.sin(sparse.bcoo_dot_general(mat._with_data(data), r,
                                               dimension_numbers=dn))
    check_grads(f, (mat.data, r), order=2)


def test_duplicates_in_products_and_grad():
    data, indices = _with_duplicates()
    mat = sparse.BCOO((data, indices), shape=(3, 4))
    dense = np.asarray(mat.todense())
    v = np.arange(1., 5.)
    _close(mat @ v, dense @ v)
    _close(v[:3] @ mat, v[:3] @ dense)
    check_grads(lambda d, v: (mat._with_data(d) @ v) ** 2, (data, v), order=2)
    check_grads(lambda d: sparse.bcoo_todense(mat._with_data(d)) ** 2, (data,), order=1)
    g = ft.grad(lambda d: fnp.sum(mat._with_data(d).todense() * np.arange(12.).reshape(3, 4)))
    _close(g(data), [1., 5., 1., 8., 0., 11.])         # the padding element gets none


def test_matmul_forms():
    rng = np.random.default_rng(5)
    x = _random(rng, (3, 4))
    mat = sparse.BCOO.fromdense(x)
    for other in (rng.standard_normal(4), rng.standard_normal((4, 2))):
        _close(mat @ other, x @ other)
    for other in (rng.standard_normal(3), rng.standard_normal((2, 3))):
        _close(other @ mat, other @ x)
    xb = _random(rng, (2, 3, 4))
    b = sparse.BCOO.fromdense(xb, n_batch=1)
    rb = rng.standard_normal((2, 4, 5))
    _close(b @ rb, xb @ rb)
    lb = rng.standard_normal((2, 5, 3))
    _close(lb @ b, lb @ xb)
    with pytest.raises(NotImplementedError, match="batched"):
        b @ rng.standard_normal((4, 5))


def test_multiply_reduce_add():
    rng = np.random.default_rng(6)
    x = _random(rng, (2, 3, 4, 2))
    mat = sparse.BCOO.fromdense(x, n_batch=1, n_dense=1)
    d = rng.standard_normal((3, 4, 2))
    out = sparse.bcoo_multiply_dense(mat, d)
    assert out.indices is mat.indices
    _close(out.todense(), x * d)
    _close((mat * d).todense(), x * d)
    _close((2 * mat).todense(), 2 * x)
    _close((-mat).todense(), -x)
    _close((mat / 4).todense(), x / 4)
    _close((mat + mat).todense(), 2 * x)
    _close(mat + d, x + d)
    for axes in [(0,), (1,), (3,), (1, 2), (0, 3), (0, 1, 2, 3)]:
        red = sparse.bcoo_reduce_sum(mat, axes=axes)
        _close(red.todense(), x.sum(axes), atol=1e-12)
    _close(mat.sum(), x.sum())
    with pytest.raises(ValueError, match="broadcast"):
        sparse.bcoo_multiply_dense(mat, np.ones(5))
    check_grads(lambda data, d: sparse.bcoo_multiply_dense(mat._with_data(data), d).data,
                (mat.data, d), order=2)


def test_fromdense_derivative():
    x = _random(np.random.default_rng(7), (3, 4))
    mask, nse = x != 0, int((x != 0).sum())
    # the pattern is held fixed (finite differences must not make zeros nonzero)
    check_grads(lambda x: sparse.bcoo_fromdense(x * mask, nse=nse).data, (x,), order=2)


# ------------------------------------------------------------------ transforms
def test_pytree_jit_vmap():
    rng = np.random.default_rng(8)
    xb = _random(rng, (3, 4, 5))
    b = sparse.BCOO.fromdense(xb, n_batch=1)
    leaves, tree = ft.tree_util.tree_flatten(b)
    assert len(leaves) == 2
    assert ft.tree_util.tree_unflatten(tree, leaves).shape == (3, 4, 5)
    out = ft.jit(lambda m: m * 2)(b)
    assert isinstance(out, sparse.BCOO) and out.shape == (3, 4, 5)
    _close(out.todense(), 2 * xb)
    v = rng.standard_normal(5)
    _close(ft.vmap(lambda m: m @ v)(b), xb @ v)
    _close(ft.vmap(lambda m: m.todense())(b), xb)
    per = ft.vmap(lambda x: sparse.bcoo_fromdense(x, nse=20))(xb)
    assert per.n_batch == 1 and per.shape == (3, 4, 5)
    _close(per.todense(), xb)
    mat = sparse.BCOO.fromdense(xb[0])
    vs = rng.standard_normal((6, 5))
    _close(ft.vmap(lambda v: mat @ v)(vs), vs @ xb[0].T)
    _close(ft.vmap(ft.grad(lambda v: fnp.sum((mat @ v) ** 2)))(vs),
           2 * (vs @ xb[0].T) @ xb[0])


def test_sparsify_rules():
    rng = np.random.default_rng(9)
    x = _random(rng, (4, 3))
    mat = sparse.BCOO.fromdense(x)
    v = rng.standard_normal(3)
    out = sparse.sparsify(lambda m: fnp.sin(m) * 2 - m)(mat)
    assert isinstance(out, sparse.BCOO)
    _close(out.todense(), np.sin(x) * 2 - x)
    _close(sparse.sparsify(lambda m, v: (m + 1.0) @ v)(mat, v), (x + 1.) @ v)
    _close(sparse.sparsify(lambda m: fnp.sum(m, 0))(mat).todense(), x.sum(0))
    _close(sparse.sparsify(lambda m: m.T.astype(np.float32))(mat).todense(),
           x.T.astype(np.float32))
    _close(sparse.sparsify(lambda m, v: ft.jit(lambda a, b: a @ b)(m, v))(mat, v), x @ v)
    # a nonlinear map of an array with duplicates sums them first
    data, indices = _with_duplicates()
    dup = sparse.BCOO((data, indices), shape=(3, 4))
    _close(sparse.sparsify(fnp.square)(dup).todense(), np.asarray(dup.todense()) ** 2)
    with pytest.raises(NotImplementedError, match="primitive 'exp'"):
        sparse.sparsify(fnp.exp)(mat)
    with pytest.raises(NotImplementedError, match="carry"):
        sparse.sparsify(lambda m: lax.fori_loop(0, 2, lambda i, c: c * 2, m))(mat)


def test_sparsify_control_flow_and_grad():
    rng = np.random.default_rng(10)
    x, v = _random(rng, (4, 3)), rng.standard_normal(3)
    mat = sparse.BCOO.fromdense(x)

    def f(m, v):
        def body(c, _):
            return c + m @ v, fnp.sum(m.T @ c)
        c, ys = lax.scan(body, fnp.zeros(4, np.float64), None, length=3)
        w = lax.while_loop(lambda s: s[0] < 2, lambda s: (s[0] + 1, s[1] + m @ v),
                           (0, c))[1]
        return lax.cond(fnp.sum(v) > 0, lambda a: a @ m, lambda a: -(a @ m), w) + ys.sum()

    _close(sparse.sparsify(f)(mat, v), f(x, v), rtol=1e-10)
    _close(ft.jit(sparse.sparsify(f))(mat, v), f(x, v), rtol=1e-10)
    check_grads(lambda v: sparse.sparsify(f)(mat, v), (v,), order=1)
    _close(ft.vmap(sparse.sparsify(f), (None, 0))(mat, np.stack([v, -v])),
           np.stack([f(x, v), f(x, -v)]), rtol=1e-10)


# ------------------------------------------------------------------ BCSR
@pytest.mark.parametrize("shape,n_batch,n_dense,extra", [
    ((3, 4), 0, 0, 0), ((3, 4), 0, 0, 2), ((2, 3, 4), 1, 0, 1), ((3, 4, 2), 0, 1, 0)])
def test_bcsr_matches_jax(jsparse, shape, n_batch, n_dense, extra):
    x = _random(np.random.default_rng(11), shape).astype(np.float32)
    x[..., 1, :] = 0                           # an empty row
    nse = sparse.BCOO.fromdense(x, n_batch=n_batch, n_dense=n_dense).nse + extra
    ours = sparse.BCSR.fromdense(x, nse=nse, n_batch=n_batch, n_dense=n_dense)
    theirs = jsparse.BCSR.fromdense(x, nse=nse, n_batch=n_batch, n_dense=n_dense)
    assert repr(ours) == repr(theirs)
    for a in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(ours, a), getattr(theirs, a))
    _close(sparse.bcsr_todense(ours), x)
    _close(ft.jit(lambda m: m.todense())(ours), x)
    _close(ours.to_bcoo().todense(), x)


def test_bcsr_matmul_grad_vmap():
    rng = np.random.default_rng(12)
    x, v = _random(rng, (4, 3)), rng.standard_normal(3)
    mat = sparse.bcsr_fromdense(x)
    _close(mat @ v, x @ v)
    w = rng.standard_normal((2, 4))
    _close(w @ mat, w @ x)
    check_grads(lambda d, v: sparse.BCSR((d, mat.indices, mat.indptr), shape=mat.shape) @ v,
                (mat.data, v), order=2)
    xb = _random(rng, (2, 4, 3))
    b = sparse.BCSR.fromdense(xb, n_batch=1)
    _close(ft.vmap(lambda m: m @ v)(b), xb @ v)
    with pytest.raises(ValueError, match="two sparse"):
        sparse.bcsr_fromdense(np.ones((2, 3, 4)))


def test_vmap_over_a_non_batch_dimension_raises():
    dense = fnp.asarray(np.array([[1., 0, 2, 0], [0, 3, 0, 0], [4, 0, 0, 5]]))
    m0 = sparse.BCOO.fromdense(dense)
    with pytest.raises(ValueError, match="must correspond to a batch dimension"):
        ft.vmap(lambda m: m.todense())(m0)
    m1 = sparse.BCOO.fromdense(dense, n_batch=1)         # 3 rows, nse 2
    np.testing.assert_array_equal(np.asarray(ft.vmap(lambda m: m.todense())(m1)),
                                  np.asarray(dense))
    with pytest.raises(ValueError, match="must correspond to a batch dimension"):
        ft.vmap(lambda m: m.todense(), in_axes=1)(m1)
