"""functrans.experimental.sparse, third part: bcoo_extract, bcoo_multiply_sparse,
bcoo_dot_general_sampled, bcoo_rev and random_bcoo, against JAX (compiled, see
test_sparse2) and dense NumPy, with float64 finite-difference derivatives, jit and vmap."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.experimental import sparse
from functrans.test_util import check_grads
from test_sparse2 import _CompiledJaxSparse, _random


@pytest.fixture
def js(jax_x64):
    from jax.experimental import sparse as jsparse
    return _CompiledJaxSparse(jax_x64, jsparse)


LAYOUTS = [(0, 0), (1, 0), (0, 1)]
DUP = (np.array([1., 2., 3., 4.]), np.array([[0, 0], [0, 0], [1, 1], [3, 0]], np.int32))


# ------------------------------------------------------------------ bcoo_extract
@pytest.mark.parametrize("layout", LAYOUTS)
def test_extract(js, layout):
    rng = np.random.default_rng(0)
    pattern, x = _random(rng, (2, 3, 4)), rng.standard_normal((2, 3, 4))
    nb, nd = layout
    sp = sparse.BCOO.fromdense(pattern, n_batch=nb, n_dense=nd)
    out = sparse.bcoo_extract(sp, x)
    mask = np.asarray(sp._with_data(np.ones(sp.data.shape)).todense())     # whole blocks
    np.testing.assert_allclose(np.asarray(out.todense()), x * mask)
    assert repr(out) == repr(sp) and out.unique_indices
    theirs = js.bcoo_extract(js.BCOO.fromdense(pattern, n_batch=nb, n_dense=nd), x)
    np.testing.assert_allclose(np.asarray(out.data), np.asarray(theirs.data), atol=1e-15)
    jitted = ft.jit(sparse.bcoo_extract)(sp, x)
    np.testing.assert_allclose(np.asarray(jitted.data), np.asarray(out.data))
    check_grads(lambda a: sparse.bcoo_extract(sp, a).data, (x,), order=1, modes=("fwd", "rev"))
    if nb:
        got = ft.vmap(lambda s, a: sparse.bcoo_extract(s, a).todense())(sp, x)
        np.testing.assert_allclose(np.asarray(got), x * mask)


def test_extract_duplicates_and_errors(js):
    x = np.arange(12.).reshape(3, 4) + 1
    dup = sparse.BCOO(DUP, shape=(3, 4))
    jdup = js._sparse.BCOO(DUP, shape=(3, 4))
    for unique in (None, False, True):
        ours = sparse.bcoo_extract(dup, x, assume_unique=unique)
        theirs = js.bcoo_extract(jdup, x, assume_unique=unique)
        np.testing.assert_array_equal(np.asarray(ours.data), np.asarray(theirs.data))
    # without assume_unique the densified result is x on the support, not a multiple of it
    np.testing.assert_allclose(np.asarray(sparse.bcoo_extract(dup, x).todense()),
                               x * np.asarray(dup.todense() != 0))
    with pytest.raises(ValueError, match=r"arr of shape \(4, 3\) must have the shape"):
        sparse.bcoo_extract(dup, x.T)
    with pytest.raises(TypeError, match="sparr must be a BCOO"):
        sparse.bcoo_extract(x, x)


# ------------------------------------------------------------------ bcoo_multiply_sparse
MUL_LAYOUTS = [((0, 0), (0, 0)), ((1, 0), (1, 0)), ((0, 1), (0, 1)), ((1, 0), (0, 0)),
               ((2, 0), (1, 0))]


@pytest.mark.parametrize("layouts", MUL_LAYOUTS)
def test_multiply_sparse(js, layouts):
    rng = np.random.default_rng(1)
    x, y = _random(rng, (2, 3, 4), 0.6), _random(rng, (2, 3, 4), 0.6)
    (lb, ld), (rb, rd) = layouts
    a = sparse.BCOO.fromdense(x, n_batch=lb, n_dense=ld)
    b = sparse.BCOO.fromdense(y, n_batch=rb, n_dense=rd)
    out = sparse.bcoo_multiply_sparse(a, b)
    np.testing.assert_allclose(np.asarray(out.todense()), x * y, atol=1e-15)
    theirs = js.bcoo_multiply_sparse(js.BCOO.fromdense(x, n_batch=lb, n_dense=ld),
                                     js.BCOO.fromdense(y, n_batch=rb, n_dense=rd))
    assert repr(out) == repr(theirs)
    np.testing.assert_allclose(np.asarray(out.data), np.asarray(theirs.data), atol=1e-15)
    jitted = ft.jit(sparse.bcoo_multiply_sparse)(a, b)
    np.testing.assert_allclose(np.asarray(jitted.todense()), x * y, atol=1e-15)

    def f(da, db):
        return sparse.bcoo_multiply_sparse(a._with_data(da), b._with_data(db)).todense()
    check_grads(f, (a.data, b.data), order=1)
    if lb and rb:
        got = ft.vmap(lambda p, q: sparse.bcoo_multiply_sparse(p, q).todense())(a, b)
        np.testing.assert_allclose(np.asarray(got), x * y, atol=1e-15)


def test_multiply_sparse_duplicates_and_errors():
    dup = sparse.BCOO(DUP, shape=(3, 4))
    other = sparse.BCOO((np.array([5., 6., 7.]), np.array([[0, 0], [1, 1], [0, 0]], np.int32)),
                        shape=(3, 4))
    out = sparse.bcoo_multiply_sparse(dup, other)
    assert out.nse == 12 and out.indices_sorted and out.unique_indices
    np.testing.assert_allclose(np.asarray(out.todense()),
                               np.asarray(dup.todense()) * np.asarray(other.todense()))
    with pytest.raises(TypeError, match="same number of dimensions"):
        sparse.bcoo_multiply_sparse(dup, sparse.BCOO.fromdense(np.ones((2, 3, 4))))
    with pytest.raises(ValueError, match=r"shapes \(3, 4\) and \(4, 3\) differ"):
        sparse.bcoo_multiply_sparse(dup, sparse.BCOO.fromdense(np.ones((4, 3))))
    with pytest.raises(NotImplementedError, match="dense dimensions"):
        sparse.bcoo_multiply_sparse(dup, sparse.BCOO.fromdense(np.ones((3, 4)), n_dense=1))
    with pytest.raises(TypeError, match="bcoo_multiply_dense"):
        sparse.bcoo_multiply_sparse(dup, np.ones((3, 4)))


# ------------------------------------------------------------------ bcoo_dot_general_sampled
SAMPLED_CASES = [
    # A shape, B shape, dimension numbers, output n_batch, output n_dense
    ((3, 5), (5, 4), (((1,), (0,)), ((), ())), 0, 0),
    ((2, 3, 5), (2, 5, 4), (((2,), (1,)), ((0,), (0,))), 1, 0),
    ((3, 5), (4, 5), (((1,), (1,)), ((), ())), 0, 1),
]


@pytest.mark.parametrize("case", SAMPLED_CASES)
def test_dot_general_sampled(js, case):
    ashape, bshape, dn, nb, nd = case
    rng = np.random.default_rng(2)
    A, B = rng.standard_normal(ashape), rng.standard_normal(bshape)
    want = np.asarray(lax.dot_general(A, B, dn))
    where = sparse.BCOO.fromdense(_random(rng, want.shape), n_batch=nb, n_dense=nd)
    ours = sparse.bcoo_dot_general_sampled(A, B, where.indices, dimension_numbers=dn)
    theirs = js.bcoo_dot_general_sampled(A, B, np.asarray(where.indices), dimension_numbers=dn)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-12)
    mask = np.asarray(where._with_data(np.ones(where.data.shape)).todense())
    np.testing.assert_allclose(np.asarray(where._with_data(ours).todense()), want * mask,
                               rtol=1e-12)
    jitted = ft.jit(lambda a, b, i: sparse.bcoo_dot_general_sampled(
        a, b, i, dimension_numbers=dn))(A, B, where.indices)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(ours), rtol=1e-12)
    check_grads(lambda a, b: sparse.bcoo_dot_general_sampled(a, b, where.indices,
                                                             dimension_numbers=dn),
                (A, B), order=2)


def test_dot_general_sampled_duplicates_and_errors(js):
    A, B = np.arange(6.).reshape(3, 2), np.arange(8.).reshape(2, 4)
    dn = (((1,), (0,)), ((), ()))
    got = sparse.bcoo_dot_general_sampled(A, B, DUP[1], dimension_numbers=dn)
    want = np.append((A @ B)[[0, 0, 1], [0, 0, 1]], 0.)      # (3, 0) is out of bounds
    np.testing.assert_array_equal(np.asarray(got), want)
    theirs = js.bcoo_dot_general_sampled(A, B, DUP[1], dimension_numbers=dn)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(theirs))
    with pytest.raises(ValueError, match="are not BCOO indices"):
        sparse.bcoo_dot_general_sampled(A, B, np.zeros((3, 3), np.int32), dimension_numbers=dn)


# ------------------------------------------------------------------ bcoo_rev
@pytest.mark.parametrize("layout", LAYOUTS + [(2, 0), (1, 1)])
def test_rev(js, layout):
    x = _random(np.random.default_rng(3), (2, 3, 4))
    nb, nd = layout
    mat = sparse.BCOO.fromdense(x, n_batch=nb, n_dense=nd, nse=None)
    padded = sparse.BCOO.fromdense(x, n_batch=nb, n_dense=nd, nse=mat.nse + 2)
    jmat = js.BCOO.fromdense(x, n_batch=nb, n_dense=nd)
    for dims in [(0,), (1,), (2,), (0, 2), (0, 1, 2)]:
        out = sparse.bcoo_rev(mat, dims)
        np.testing.assert_allclose(np.asarray(out.todense()), np.flip(x, dims))
        np.testing.assert_allclose(np.asarray(sparse.bcoo_rev(padded, dims).todense()),
                                   np.flip(x, dims))
    assert repr(sparse.bcoo_rev(mat, (0, 2))) == repr(js.bcoo_rev(jmat, (0, 2)))
    jitted = ft.jit(lambda m: sparse.bcoo_rev(m, (0, 2)).todense())(mat)
    np.testing.assert_allclose(np.asarray(jitted), x[::-1, :, ::-1])
    check_grads(lambda d: sparse.bcoo_rev(mat._with_data(d), (1, 2)).todense(), (mat.data,),
                order=1, modes=("fwd", "rev"))
    if nb:
        got = ft.vmap(lambda m: sparse.bcoo_rev(m, (1,)).todense())(mat)
        np.testing.assert_allclose(np.asarray(got), x[:, :, ::-1])
    with pytest.raises(ValueError, match="out of range"):
        sparse.bcoo_rev(mat, (3,))


# ------------------------------------------------------------------ random_bcoo
def test_random_bcoo(js):
    key = ft.random.key(0)
    m = sparse.random_bcoo(key, (3, 4))
    theirs = js.run(lambda k: js._sparse.random_bcoo(k, (3, 4), dtype=np.float32),
                    js._jax.random.key(0))
    assert repr(m) == repr(theirs) == "BCOO(float32[3, 4], nse=3)"
    m = sparse.random_bcoo(key, (5, 6, 7), n_batch=1, n_dense=1, nse=0.5,
                           dtype=np.float64, sorted_indices=True)
    assert repr(m) == "BCOO(float64[5, 6, 7], nse=3, n_batch=1, n_dense=1)"
    idx = np.asarray(m.indices)[..., 0]
    assert all(len(set(row)) == 3 and list(row) == sorted(row) for row in idx)
    assert len({tuple(row) for row in idx}) > 1          # batches draw their own positions
    assert ((0 <= idx) & (idx < 6)).all() and m.unique_indices and m.indices_sorted
    data = np.asarray(m.data)
    assert ((0 <= data) & (data < 1)).all() and len(np.unique(data)) == data.size
    m = sparse.random_bcoo(key, (4, 4), nse=10, unique_indices=False,
                           generator=ft.random.normal, indices_dtype=np.int64)
    assert m.nse == 10 and m.indices.dtype == np.int64 and not m.unique_indices
    assert (np.asarray(m.data) < 0).any()
    got = ft.jit(lambda k: sparse.random_bcoo(k, (3, 4), nse=4).todense())(key)
    np.testing.assert_array_equal(np.asarray(got),
                                  np.asarray(sparse.random_bcoo(key, (3, 4), nse=4).todense()))
    assert (np.asarray(got) != 0).sum() == 4
    with pytest.raises(ValueError, match="nse=13 unique indices do not fit"):
        sparse.random_bcoo(key, (3, 4), nse=13)
    with pytest.raises(ValueError, match="n_batch=2 and n_dense=1"):
        sparse.random_bcoo(key, (3, 4), n_batch=2, n_dense=1)


# ------------------------------------------------------------------ BCSR
def _bcsr_pair(js, x, n_batch):
    return (sparse.BCSR.fromdense(x, n_batch=n_batch),
            js.run(js._sparse.BCSR.from_bcoo, js.BCOO.fromdense(x, n_batch=n_batch)))


def _same_bcsr(ours, theirs, want, exact=True):
    np.testing.assert_allclose(np.asarray(ours.todense()), want, atol=1e-15)
    assert repr(ours) == repr(theirs)
    for name in ("data", "indices", "indptr")[:3 if exact else 0]:
        np.testing.assert_array_equal(np.asarray(getattr(ours, name)),
                                      np.asarray(getattr(theirs, name)))


@pytest.mark.parametrize("n_batch", [0, 1])
def test_bcsr_operations(js, n_batch):
    rng = np.random.default_rng(4)
    x = _random(rng, (2, 3, 4)[1 - n_batch:])
    m, jm = _bcsr_pair(js, x, n_batch)
    # dot_general with a dense rhs: values, jit, derivatives, vmap
    rhs = rng.standard_normal((4, 5))
    dn = (((n_batch + 1,), (0,)), ((), ()))
    out = sparse.bcsr_dot_general(m, rhs, dimension_numbers=dn)
    np.testing.assert_allclose(np.asarray(out), x @ rhs, rtol=1e-12)
    theirs = js.bcsr_dot_general(jm, rhs, dimension_numbers=dn)
    np.testing.assert_allclose(np.asarray(out), np.asarray(theirs), rtol=1e-12)
    jitted = ft.jit(lambda p, r: sparse.bcsr_dot_general(p, r, dimension_numbers=dn))(m, rhs)
    np.testing.assert_allclose(np.asarray(jitted), x @ rhs, rtol=1e-12)

    def f(d, r):
        mat = sparse.BCSR((d, m.indices, m.indptr), shape=m.shape)
        return sparse.bcsr_dot_general(mat, r, dimension_numbers=dn)
    check_grads(f, (m.data, rhs), order=1)
    if n_batch:
        got = ft.vmap(lambda p: sparse.bcsr_dot_general(
            p, rhs, dimension_numbers=(((1,), (0,)), ((), ()))))(m)
        np.testing.assert_allclose(np.asarray(got), x @ rhs, rtol=1e-12)
    # extract
    ours = sparse.bcsr_extract(m.indices, m.indptr, x + 1)
    np.testing.assert_array_equal(np.asarray(ours),
                                  np.asarray(js.bcsr_extract(jm.indices, jm.indptr, x + 1)))
    check_grads(lambda a: sparse.bcsr_extract(m.indices, m.indptr, a), (x,), order=1)
    # broadcast_in_dim (a new batch dimension), concatenate along each dimension
    shape, dims = (2,) + x.shape, tuple(range(1, x.ndim + 1))
    _same_bcsr(sparse.bcsr_broadcast_in_dim(m, shape=shape, broadcast_dimensions=dims),
               js.bcsr_broadcast_in_dim(jm, shape=shape, broadcast_dimensions=dims),
               np.broadcast_to(x, shape))
    for dim in range(x.ndim):
        # (batched, JAX leaves padding between the operands' elements; functrans sorts it
        # to the end)
        _same_bcsr(sparse.bcsr_concatenate([m, m], dimension=dim),
                   js.bcsr_concatenate([jm, jm], dimension=dim), np.concatenate([x, x], dim),
                   exact=not n_batch or dim < n_batch)
    jitted = ft.jit(lambda p: sparse.bcsr_concatenate([p, p], dimension=n_batch).todense())(m)
    np.testing.assert_allclose(np.asarray(jitted), np.concatenate([x, x], n_batch))


def test_bcsr_sum_duplicates_and_errors(js):
    args = (np.array([1., 2., 3.]), np.array([1, 1, 0], np.int32),
            np.array([0, 2, 2, 3], np.int32))
    dup, jdup = sparse.BCSR(args, shape=(3, 4)), js._sparse.BCSR(args, shape=(3, 4))
    want = np.asarray(dup.todense())
    # (compiled, JAX's needs nse: 2, the count functrans makes)
    _same_bcsr(sparse.bcsr_sum_duplicates(dup), js.bcsr_sum_duplicates(jdup, nse=2), want)
    _same_bcsr(sparse.bcsr_sum_duplicates(dup, nse=4), js.bcsr_sum_duplicates(jdup, nse=4),
               want)
    with pytest.raises(NotImplementedError, match="BCSR lhs and a dense rhs"):
        sparse.bcsr_dot_general(want, dup, dimension_numbers=(((1,), (0,)), ((), ())))
    with pytest.raises(ValueError, match=r"sequence of BCSR arrays, got \['BCOO'\]"):
        sparse.bcsr_concatenate([sparse.BCOO.fromdense(want)], dimension=0)


# ------------------------------------------------------------------ JAXSparse, vmap out_axes
def test_jaxsparse_base_and_vmap_out_axes():
    x = _random(np.random.default_rng(5), (2, 3, 4))
    a, c = sparse.BCOO.fromdense(x, n_batch=1), sparse.BCSR.fromdense(x, n_batch=1)
    for m in (a, c):
        assert isinstance(m, sparse.JAXSparse) and not isinstance(x, sparse.JAXSparse)
        assert (m.size, m.ndim, m.dtype) == (24, 3, np.float64)
        assert m.block_until_ready() is m
    # out_axes within the batch block: a BCOO with the batch dimensions moved
    got = ft.vmap(lambda m: m, out_axes=1)(sparse.BCOO.fromdense(x, n_batch=2))
    assert got.n_batch == 2
    np.testing.assert_allclose(np.asarray(got.todense()), x.transpose(1, 0, 2))
    # past them (the stored-element axis): refused, naming out_axes
    with pytest.raises(ValueError, match="out_axes for a BCOO must correspond to a batch"):
        ft.vmap(lambda m: m, out_axes=1)(a)


# ------------------------------------------------------------------ sparsify
CONVS = [
    ((1, 1, 8), (1, 1, 3), dict(window_strides=(1,), padding="SAME")),
    ((2, 3, 6, 7), (4, 3, 3, 2), dict(window_strides=(2, 1), padding=((1, 0), (2, 1)),
                                      lhs_dilation=(1, 2), rhs_dilation=(2, 1))),
    ((2, 6, 7, 3), (3, 2, 3, 4), dict(window_strides=(1, 2), padding="VALID",
                                      dimension_numbers=("NHWC", "HWIO", "NCHW"))),
]


@pytest.mark.parametrize("case", CONVS)
def test_sparsify_conv_sparse_input(js, case):
    xshape, wshape, kw = case
    rng = np.random.default_rng(6)
    x, w = _random(rng, xshape), rng.standard_normal(wshape)

    def conv(a, b):
        return lax.conv_general_dilated(a, b, **kw)

    want = np.asarray(js._jax.lax.conv_general_dilated(x, w, **kw))
    mat = sparse.BCOO.fromdense(x)
    for f in (sparse.sparsify(conv), ft.jit(sparse.sparsify(conv))):
        np.testing.assert_allclose(np.asarray(f(mat, w)), want, rtol=1e-12, atol=1e-12)
    check_grads(lambda d, k: sparse.sparsify(conv)(mat._with_data(d), k), (mat.data, w),
                order=1)


def test_sparsify_mul_of_two_sparse():
    rng = np.random.default_rng(7)
    x, y = _random(rng, (3, 4), 0.6), _random(rng, (3, 4), 0.6)
    a, b = sparse.BCOO.fromdense(x), sparse.BCOO.fromdense(y)
    out = sparse.sparsify(lambda p, q: p * q + p)(a, b)
    assert isinstance(out, sparse.BCOO)
    np.testing.assert_allclose(np.asarray(out.todense()), x * y + x)


# ------------------------------------------------------------------ COO, CSR, CSC
LEGACY = [("COO", ("data", "row", "col")), ("CSR", ("data", "indices", "indptr")),
          ("CSC", ("data", "indices", "indptr"))]


@pytest.mark.parametrize("name,fields", LEGACY)
def test_legacy_formats(js, name, fields):
    rng = np.random.default_rng(8)
    x, v, B = _random(rng, (3, 4)), rng.standard_normal(4), rng.standard_normal((4, 2))
    cls = getattr(sparse, name)
    m = cls.fromdense(x)
    nse = int((x != 0).sum())
    for pad in (0, 2):
        ours = cls.fromdense(x, nse=nse + pad)
        theirs = js.run(lambda a: getattr(js._sparse, name).fromdense(a, nse=nse + pad), x)
        assert repr(ours) == repr(theirs) and isinstance(ours, sparse.JAXSparse)
        for f in fields:
            np.testing.assert_array_equal(np.asarray(getattr(ours, f)),
                                          np.asarray(getattr(theirs, f)))
        np.testing.assert_allclose(np.asarray(ours.todense()), x)
    their_t = js.run(lambda a: getattr(js._sparse, name).fromdense(a, nse=nse).T, x)
    assert repr(m.T) == repr(their_t)            # the class too: CSR.T is a CSC
    np.testing.assert_allclose(np.asarray(m.T.todense()), x.T)
    np.testing.assert_allclose(np.asarray(m @ v), x @ v, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(m.T @ B[:3]), x.T @ B[:3], rtol=1e-12)
    prefix = "coo" if name == "COO" else "csr"
    if name != "CSC":
        np.testing.assert_allclose(np.asarray(getattr(sparse, prefix + "_todense")(m)), x)
        np.testing.assert_allclose(
            np.asarray(getattr(sparse, prefix + "_matvec")(m, v[:3], transpose=True)),
            x.T @ v[:3], rtol=1e-12)
        np.testing.assert_allclose(np.asarray(getattr(sparse, prefix + "_matmat")(m, B)),
                                   x @ B, rtol=1e-12)
    got = ft.jit(lambda p, w: p @ w)(m, B)
    np.testing.assert_allclose(np.asarray(got), x @ B, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(ft.vmap(lambda w: m @ w, in_axes=1,
                                                  out_axes=1)(B)), x @ B, rtol=1e-12)

    def f(d, w):
        bufs = [d] + [getattr(m, k) for k in fields[1:]]
        return cls(bufs, shape=m.shape) @ w
    check_grads(f, (m.data, B), order=1)
    with pytest.raises(ValueError, match="expected a 2-D matrix"):
        cls.fromdense(np.ones((2, 3, 4)))


# ------------------------------------------------------------------ sparse-aware derivatives
def test_sparse_grad_and_jacobians(js):
    jnp = js._jax.numpy
    rng = np.random.default_rng(9)
    x, v = _random(rng, (3, 4), 0.6), rng.standard_normal(4)
    M = sparse.BCOO.fromdense(x)
    JM = js.BCOO.fromdense(x)

    def f(m, w, np_):
        return np_.sum((m @ w) ** 2)
    g = sparse.grad(f)(M, v, fnp)
    assert isinstance(g, sparse.BCOO) and repr(g) == repr(M)
    dense_grad = np.asarray(ft.grad(f)(x, v, fnp))          # the pattern's entries of it
    np.testing.assert_allclose(np.asarray(g.data),
                               dense_grad[tuple(np.asarray(M.indices).T)], rtol=1e-12)
    theirs = js.run(lambda m, w: js._sparse.grad(f, argnums=(0, 1))(m, w, jnp), JM, v)
    ours = sparse.grad(f, argnums=(0, 1))(M, v, fnp)
    for a, b in zip((ours[0].data, ours[1]), (theirs[0].data, theirs[1])):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12)
    value, g = sparse.value_and_grad(f)(M, v, fnp)
    np.testing.assert_allclose(float(value), float(f(x, v, np)), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(g.data), np.asarray(ours[0].data))
    (g, aux) = sparse.grad(lambda m: (f(m, v, fnp), 7), has_aux=True)(sparse.BCSR.fromdense(x))
    assert isinstance(g, sparse.BCSR) and aux == 7
    np.testing.assert_allclose(np.asarray(g.todense()), np.asarray(ours[0].todense()))
    for name in ("jacfwd", "jacrev", "jacobian"):
        jac = getattr(sparse, name)(lambda m: m @ v)(M)
        their_jac = js.run(lambda m: getattr(js._sparse, name)(lambda n: n @ v)(m), JM)
        assert repr(jac) == repr(their_jac) == f"BCOO(float64[3, 3, 4], nse={M.nse}, n_batch=1)"
        np.testing.assert_allclose(np.asarray(jac.data), np.asarray(their_jac.data))
        np.testing.assert_array_equal(np.asarray(jac.indices), np.asarray(their_jac.indices))
    jitted = ft.jit(sparse.grad(lambda m: f(m, v, fnp)))(M)
    np.testing.assert_allclose(np.asarray(jitted.data), np.asarray(ours[0].data), rtol=1e-12)
    with pytest.raises(NotImplementedError, match="convert it to a BCOO"):
        sparse.jacfwd(lambda m: m @ v)(sparse.BCSR.fromdense(x))
