"""functrans.experimental.sparse, second part: BCOO @ BCOO (a sparse result), the structural
operations (slice, dynamic_slice, reshape, squeeze, concatenate, broadcast_in_dim,
update_layout, gather, indexing) and sparsify of them, each against JAX's BCOO (same nse and
indices where both store the same elements, equal after todense), under jit and vmap, with
float64 finite-difference derivatives with respect to the stored data; and vmap over an
axis that is not a batch dimension."""
import functools
import math
import operator
import types

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.experimental import sparse
from functrans.test_util import check_grads


class _CompiledJaxSparse:
    """jax.experimental.sparse with each `bcoo_*` and `bcsr_*` function (and `run(f, *args)`)
    traced and compiled as one XLA program at the lowest optimization level: run eagerly,
    JAX compiles every primitive its sparse operations apply (hundreds for one gather), most
    of this file's time."""

    def __init__(self, jax, jsparse):
        self._jax, self._sparse = jax, jsparse

    def __getattr__(self, name):
        value = getattr(self._sparse, name)
        wrap = name.startswith(("bcoo_", "bcsr_"))
        return functools.partial(self.run, value) if wrap else value

    @property
    def BCOO(self):
        return types.SimpleNamespace(fromdense=self._fromdense)

    def _fromdense(self, x, *, nse=None, n_batch=0, n_dense=0):
        """JAX's BCOO.fromdense, with nse (when not given) counted here, so that it compiles
        as one program: the most specified elements of one batch."""
        if nse is None:
            x = np.asarray(x)
            nb, ns = n_batch, x.ndim - n_batch - n_dense
            stored = (x != 0).reshape(x.shape[:nb + ns] + (-1,)).any(-1)
            nse = int(stored.reshape((-1,) + x.shape[nb:nb + ns]).reshape(
                math.prod(x.shape[:nb]), -1).sum(-1).max(initial=0))
        key = (np.shape(x), np.result_type(x).str, nse, n_batch, n_dense)
        if key not in _FROMDENSE:          # (the same few layouts recur across the tests)
            _FROMDENSE[key] = self.compile(functools.partial(
                self._sparse.BCOO.fromdense, nse=nse, n_batch=n_batch, n_dense=n_dense), x)
        return _FROMDENSE[key](x)

    def run(self, f, *args, **kwargs):
        return self.compile(f, *args, **kwargs)(*args, **kwargs)

    def compile(self, f, *args, **kwargs):
        """`f` compiled for arguments like these (its arrays), called with them."""
        jax = self._jax
        leaves, tree = jax.tree_util.tree_flatten((args, kwargs))
        arrays = [i for i, v in enumerate(leaves) if isinstance(v, (np.ndarray, jax.Array))]

        def traced(*values):
            full = list(leaves)
            for i, v in zip(arrays, values):
                full[i] = v
            a, kw = jax.tree_util.tree_unflatten(tree, full)
            return f(*a, **kw)

        compiled = jax.jit(traced).lower(*[leaves[i] for i in arrays]).compile(
            {"xla_backend_optimization_level": 0})

        def call(*args, **kwargs):
            values = jax.tree_util.tree_leaves((args, kwargs))
            return compiled(*[values[i] for i in arrays])
        return call


_FROMDENSE = {}


@pytest.fixture
def js(jax_x64):
    from jax.experimental import sparse as jsparse
    return _CompiledJaxSparse(jax_x64, jsparse)


def _random(rng, shape, density=0.4):
    x = rng.standard_normal(shape)
    return np.where(rng.random(shape) < density, x, 0.)


def _same(ours, theirs, want):
    """Equal to `want` after todense, and JAX's layout, nse and indices."""
    np.testing.assert_allclose(np.asarray(ours.todense()), want, rtol=1e-12, atol=1e-12)
    assert repr(ours) == repr(theirs)
    np.testing.assert_array_equal(np.asarray(ours.indices), np.asarray(theirs.indices))
    np.testing.assert_allclose(np.asarray(ours.data), np.asarray(theirs.data), atol=1e-12)


def _like_jax(ours, jax_result, want):
    """`_same`, or only equal to `want` where JAX fails (`jax_result` a thunk): JAX 0.10's
    bcoo_reshape does not lower for some layouts with dense dimensions."""
    try:
        theirs = jax_result()
    except (ValueError, KeyError):
        np.testing.assert_allclose(np.asarray(ours.todense()), want, atol=1e-12)
        return
    _same(ours, theirs, want)


def _grads(op, mat):
    """float64 finite differences of todense(op(mat with data d)) with respect to d."""
    check_grads(lambda d: op(mat._with_data(d)).todense(), (mat.data,), order=1,
                modes=("fwd", "rev"))


# ------------------------------------------------------------------ BCOO @ BCOO
SPDOT_CASES = [
    # lhs shape, lhs n_batch, rhs shape, rhs n_batch, dimension numbers
    ((3, 4), 0, (4, 5), 0, (((1,), (0,)), ((), ()))),
    ((3, 4), 0, (5, 4), 0, (((1,), (1,)), ((), ()))),
    ((3, 4), 0, (4,), 0, (((1,), (0,)), ((), ()))),
    ((4,), 0, (4,), 0, (((0,), (0,)), ((), ()))),
    ((3, 4), 0, (2, 5), 0, (((), ()), ((), ()))),
    ((2, 3, 4), 0, (3, 4), 0, (((1, 2), (0, 1)), ((), ()))),
    ((2, 3, 4), 1, (2, 4, 5), 1, (((2,), (1,)), ((0,), (0,)))),
    ((2, 3, 4), 1, (4, 5), 0, (((2,), (0,)), ((), ()))),
    ((3, 4), 0, (2, 4), 1, (((1,), (1,)), ((), ()))),     # refused, as in JAX
    ((2, 3, 4), 2, (3, 2, 4), 2, (((2,), (2,)), ((0, 1), (1, 0)))),
]


def _np_dot(a, b, dn):
    return np.asarray(lax.dot_general(a, b, dn))


@pytest.mark.parametrize("case", SPDOT_CASES)
def test_spdot_matches_jax(js, case):
    lshape, lnb, rshape, rnb, dn = case
    rng = np.random.default_rng(0)
    x, y = _random(rng, lshape), _random(rng, rshape)
    if len(lshape) == 2 and lnb == 0 and len(rshape) == 2 and rnb == 1:
        pytest.raises(ValueError, js.bcoo_dot_general, js.BCOO.fromdense(x),
                      js.BCOO.fromdense(y, n_batch=1), dimension_numbers=dn)
        with pytest.raises(ValueError, match="unused batch dims on rhs"):
            sparse.bcoo_dot_general(sparse.BCOO.fromdense(x), sparse.BCOO.fromdense(y, n_batch=1),
                                    dimension_numbers=dn)
        return
    a, b = sparse.BCOO.fromdense(x, n_batch=lnb), sparse.BCOO.fromdense(y, n_batch=rnb)
    out = sparse.bcoo_dot_general(a, b, dimension_numbers=dn)
    assert isinstance(out, sparse.BCOO)
    theirs = js.bcoo_dot_general(js.BCOO.fromdense(x, n_batch=lnb),
                                 js.BCOO.fromdense(y, n_batch=rnb), dimension_numbers=dn)
    _same(out, theirs, _np_dot(x, y, dn))
    # padded operands under jit: the same array
    pa = sparse.BCOO.fromdense(x, n_batch=lnb, nse=a.nse + 2)
    pb = sparse.BCOO.fromdense(y, n_batch=rnb, nse=b.nse + 1)
    jitted = ft.jit(lambda p, q: sparse.bcoo_dot_general(p, q, dimension_numbers=dn))(pa, pb)
    np.testing.assert_allclose(np.asarray(jitted.todense()), _np_dot(x, y, dn), atol=1e-12)
    # derivatives with respect to both data arrays

    def f(da, db):
        return sparse.bcoo_dot_general(a._with_data(da), b._with_data(db),
                                       dimension_numbers=dn).todense()
    check_grads(f, (a.data, b.data), order=2)


def test_spdot_matmul_vmap_and_duplicates(js):
    rng = np.random.default_rng(1)
    x, y = _random(rng, (3, 4)), _random(rng, (4, 5))
    a, b = sparse.BCOO.fromdense(x), sparse.BCOO.fromdense(y)
    _same(a @ b, js.run(operator.matmul, js.BCOO.fromdense(x), js.BCOO.fromdense(y)), x @ y)
    xb, yb = _random(rng, (2, 3, 4)), _random(rng, (2, 4, 5))
    ab, bb = sparse.BCOO.fromdense(xb, n_batch=1), sparse.BCOO.fromdense(yb, n_batch=1)
    _same(ab @ bb, js.run(operator.matmul, js.BCOO.fromdense(xb, n_batch=1),
                          js.BCOO.fromdense(yb, n_batch=1)), xb @ yb)
    out = ft.vmap(lambda p, q: (p @ q).todense())(ab, bb)
    np.testing.assert_allclose(np.asarray(out), xb @ yb, atol=1e-12)
    out = ft.vmap(lambda p: (p @ b).todense())(ab)
    np.testing.assert_allclose(np.asarray(out), xb @ y, atol=1e-12)
    # duplicates and out-of-bounds elements on both sides
    data = np.array([1., 2., 3., 4.])
    idx = np.array([[0, 1], [0, 1], [2, 3], [3, 0]], np.int32)
    dup = sparse.BCOO((data, idx), shape=(3, 4))
    want = np.asarray(dup.todense()) @ np.asarray(dup.todense()).T
    np.testing.assert_allclose(np.asarray((dup @ dup.T).todense()), want)
    g = ft.grad(lambda d: fnp.sum((dup._with_data(d) @ dup.T).todense() ** 2))(data)
    check_grads(lambda d: (dup._with_data(d) @ dup.T).todense(), (data,), order=1)
    assert g[3] == 0                      # the out-of-bounds element contributes nothing


def test_spdot_errors(js):
    rng = np.random.default_rng(2)
    x = _random(rng, (2, 3, 4))
    dense_dim = sparse.BCOO.fromdense(x, n_dense=1)
    with pytest.raises(NotImplementedError, match="dense dimensions"):
        sparse.bcoo_dot_general(dense_dim, dense_dim, dimension_numbers=(((2,), (2,)),
                                                                         ((), ())))
    a = sparse.BCOO.fromdense(x)
    with pytest.raises(NotImplementedError, match="batch_dims must correspond"):
        sparse.bcoo_dot_general(a, a, dimension_numbers=(((2,), (2,)), ((0,), (0,))))
    ja = js.BCOO.fromdense(x)
    pytest.raises(NotImplementedError, js.bcoo_dot_general, ja, ja,
                  dimension_numbers=(((2,), (2,)), ((0,), (0,))))
    b = sparse.BCOO.fromdense(x, n_batch=1)
    with pytest.raises(NotImplementedError, match="contraction of sparse"):
        sparse.bcoo_dot_general(b, b, dimension_numbers=(((0,), (0,)), ((), ())))
    with pytest.raises(TypeError):        # lax.dot_general's own shape check
        sparse.bcoo_dot_general(a, a, dimension_numbers=(((1,), (2,)), ((), ())))


# ------------------------------------------------------------------ structural operations
LAYOUTS = [(0, 0), (1, 0), (0, 1), (1, 1), (2, 0)]
SHAPE = (3, 4, 5)


def _pair(js, layout, seed=3, shape=SHAPE):
    x = _random(np.random.default_rng(seed), shape)
    nb, nd = layout
    return x, sparse.BCOO.fromdense(x, n_batch=nb, n_dense=nd), \
        js.BCOO.fromdense(x, n_batch=nb, n_dense=nd)


def _batched_check(op, x, layout):
    """vmap over the first batch dimension agrees with op applied per example."""
    nb, nd = layout
    if nb == 0:
        return
    mat = sparse.BCOO.fromdense(x, n_batch=nb, n_dense=nd)
    out = ft.vmap(lambda m: op(m).todense())(mat)
    for i in range(x.shape[0]):
        each = sparse.BCOO.fromdense(x[i], n_batch=nb - 1, n_dense=nd)
        np.testing.assert_allclose(np.asarray(out[i]), np.asarray(op(each).todense()))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_slice(js, layout):
    x, mat, jmat = _pair(js, layout)
    kw = dict(start_indices=(0, 1, 1), limit_indices=(3, 4, 5), strides=(2, 2, 3))
    _same(sparse.bcoo_slice(mat, **kw), js.bcoo_slice(jmat, **kw), x[0:3:2, 1:4:2, 1:5:3])
    kw1 = dict(start_indices=(1, 0, 2), limit_indices=(3, 3, 5))
    _same(ft.jit(lambda m: sparse.bcoo_slice(m, **kw1))(mat), js.bcoo_slice(jmat, **kw1),
          x[1:3, 0:3, 2:5])
    _grads(lambda m: sparse.bcoo_slice(m, **kw), mat)
    _batched_check(lambda m: sparse.bcoo_slice(m, start_indices=(1, 1), limit_indices=(3, 5)),
                   x, layout)


def test_slice_errors(js):
    x, mat, jmat = _pair(js, (0, 0))
    for kw in (dict(start_indices=(0, 0, 0), limit_indices=(4, 4, 5)),
               dict(start_indices=(0, 0), limit_indices=(3, 4)),
               dict(start_indices=(0, 0, 0), limit_indices=(3, 4, 5), strides=(1, 0, 1))):
        pytest.raises(ValueError, js.bcoo_slice, jmat, **kw)
        with pytest.raises(ValueError, match="bcoo_slice"):
            sparse.bcoo_slice(mat, **kw)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_dynamic_slice(js, layout):
    x, mat, jmat = _pair(js, layout)
    sizes = (2, 2, 3)
    for start in [(1, 2, 0), (5, -1, 1), (0, 0, 2)]:
        want = np.asarray(lax.dynamic_slice(x, start, sizes))
        _same(sparse.bcoo_dynamic_slice(mat, start, sizes),
              js.bcoo_dynamic_slice(jmat, start, sizes), want)
        got = ft.jit(lambda m, s: sparse.bcoo_dynamic_slice(m, s, sizes))(
            mat, [np.int32(s) for s in start])
        np.testing.assert_allclose(np.asarray(got.todense()), want)
    _grads(lambda m: sparse.bcoo_dynamic_slice(m, (1, 1, 1), sizes), mat)
    starts = np.array([0, 2, 1], np.int32)         # vmap over a traced start
    out = ft.vmap(lambda s: sparse.bcoo_dynamic_slice(mat, (s, s, 0), (1, 2, 5)).todense())(
        starts)
    for s, o in zip(starts, np.asarray(out)):
        np.testing.assert_allclose(o, np.asarray(lax.dynamic_slice(x, (s, s, 0), (1, 2, 5))))
    with pytest.raises(TypeError, match="slice_sizes"):
        sparse.bcoo_dynamic_slice(mat, (0, 0, 0), (4, 1, 1))
    pytest.raises(TypeError, js.bcoo_dynamic_slice, jmat, (0, 0, 0), (4, 1, 1))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_reshape_and_squeeze(js, layout):
    x, mat, jmat = _pair(js, layout, shape=(3, 1, 4, 2))
    for new in [(3, 4, 2), (3, 1, 8) if layout[1] == 0 else (3, 1, 4, 2), (1, 3, 1, 4, 2)]:
        _like_jax(sparse.bcoo_reshape(mat, new_sizes=new),
                  lambda: js.bcoo_reshape(jmat, new_sizes=new), x.reshape(new))
    _same(sparse.bcoo_squeeze(mat, dimensions=(1,)), js.bcoo_squeeze(jmat, dimensions=(1,)),
          x[:, 0])
    np.testing.assert_allclose(np.asarray(ft.jit(lambda m: m.reshape(3, 4, 2))(mat).todense()),
                               x.reshape(3, 4, 2))
    _grads(lambda m: sparse.bcoo_reshape(m, new_sizes=(3, 4, 2)), mat)
    _grads(lambda m: sparse.bcoo_squeeze(m, dimensions=(1,)), mat)
    _batched_check(lambda m: sparse.bcoo_squeeze(m, dimensions=(0,)), x, layout)
    with pytest.raises(ValueError, match="size not equal to one"):
        sparse.bcoo_squeeze(mat, dimensions=(0,))
    pytest.raises(ValueError, js.bcoo_squeeze, jmat, dimensions=(0,))


def test_reshape_layouts_and_errors(js):
    x, mat, jmat = _pair(js, (1, 0), shape=(2, 3, 4))
    _same(sparse.bcoo_reshape(mat, new_sizes=(2, 12)), js.bcoo_reshape(jmat, new_sizes=(2, 12)),
          x.reshape(2, 12))
    with pytest.raises(ValueError, match="cannot mix batch and sparse"):
        sparse.bcoo_reshape(mat, new_sizes=(6, 4))
    pytest.raises(ValueError, js.bcoo_reshape, jmat, new_sizes=(6, 4))
    x, mat, jmat = _pair(js, (0, 1), shape=(2, 3, 4))
    with pytest.raises(ValueError, match="cannot mix sparse and dense"):
        sparse.bcoo_reshape(mat, new_sizes=(3, 8))
    pytest.raises(ValueError, js.bcoo_reshape, jmat, new_sizes=(3, 8))
    _same(sparse.bcoo_reshape(mat, new_sizes=(3, 2, 4), dimensions=(1, 0, 2)),
          js.bcoo_reshape(jmat, new_sizes=(3, 2, 4), dimensions=(1, 0, 2)),
          x.transpose(1, 0, 2).reshape(3, 2, 4))
    # elements out of bounds stay without effect when the sparse axes go away
    data, idx = np.array([[2., 0., 1.], [7., 7., 7.]]), np.array([[0], [1]], np.int32)
    one = sparse.BCOO((data, idx), shape=(1, 3))          # n_dense=1; element 1 is padding
    np.testing.assert_allclose(np.asarray(sparse.bcoo_reshape(one, new_sizes=(3,)).todense()),
                               [2., 0., 1.])


@pytest.mark.parametrize("layout", LAYOUTS[:4])
def test_concatenate(js, layout):
    x, mat, jmat = _pair(js, layout)
    y, other, jother = _pair(js, layout, seed=4, shape=(3, 2, 5))
    _same(sparse.bcoo_concatenate([mat, mat], dimension=0),
          js.bcoo_concatenate([jmat, jmat], dimension=0), np.concatenate([x, x], 0))
    out = sparse.bcoo_concatenate([mat, other], dimension=1)
    want = np.concatenate([x, y], 1)
    np.testing.assert_allclose(np.asarray(out.todense()), want)
    assert repr(out) == repr(js.bcoo_concatenate([jmat, jother], dimension=1))
    out = ft.jit(lambda a, b: sparse.bcoo_concatenate([a, b], dimension=1))(mat, other)
    np.testing.assert_allclose(np.asarray(out.todense()), want)
    check_grads(lambda a, b: sparse.bcoo_concatenate(
        [mat._with_data(a), other._with_data(b)], dimension=1).todense(),
        (mat.data, other.data), order=1)
    _batched_check(lambda m: sparse.bcoo_concatenate([m, m], dimension=0), x, layout)
    if layout[1]:
        with pytest.raises(NotImplementedError, match="dense dimensions"):
            sparse.bcoo_concatenate([mat, mat], dimension=2)


def test_concatenate_padding_and_errors(js):
    # a padding element (index = shape) must not land in the next operand's rows
    data, idx = np.array([1., 5.]), np.array([[0, 0], [2, 0]], np.int32)
    a = sparse.BCOO((data, idx), shape=(2, 2))
    out = sparse.bcoo_concatenate([a, a], dimension=0)
    np.testing.assert_allclose(np.asarray(out.todense()), [[1, 0], [0, 0], [1, 0], [0, 0]])
    x = _random(np.random.default_rng(5), (3, 4))
    with pytest.raises(ValueError, match="matching batch"):
        sparse.bcoo_concatenate([sparse.BCOO.fromdense(x), sparse.BCOO.fromdense(x, n_batch=2)],
                                dimension=0)
    pytest.raises(ValueError, js.bcoo_concatenate,
                  [js.BCOO.fromdense(x), js.BCOO.fromdense(x, n_batch=2)], dimension=0)
    with pytest.raises(ValueError, match="sequence of BCOO"):
        sparse.bcoo_concatenate([sparse.BCOO.fromdense(x), x], dimension=0)
    with pytest.raises(TypeError, match="equal shapes"):
        sparse.bcoo_concatenate([sparse.BCOO.fromdense(x), sparse.BCOO.fromdense(x.T)],
                                dimension=0)
    # a leading size-1 batch axis next to a sparse one (x[None]-style) is aligned
    one = sparse.BCOO.fromdense(x[:1], n_batch=1)
    out = sparse.bcoo_concatenate([one, sparse.BCOO.fromdense(x)], dimension=0)
    np.testing.assert_allclose(np.asarray(out.todense()), np.concatenate([x[:1], x]))


@pytest.mark.parametrize("layout", LAYOUTS[:4])
def test_broadcast_in_dim(js, layout):
    x, mat, jmat = _pair(js, layout)
    for shape, dims in [((2, 3, 4, 5), (1, 2, 3)), ((3, 4, 5, 1), (0, 1, 2)),
                        ((3, 1, 4, 5), (0, 2, 3))]:
        want = np.asarray(lax.broadcast_in_dim(x, shape, dims))
        _same(sparse.bcoo_broadcast_in_dim(mat, shape=shape, broadcast_dimensions=dims),
              js.bcoo_broadcast_in_dim(jmat, shape=shape, broadcast_dimensions=dims), want)
    op = ft.jit(lambda m: sparse.bcoo_broadcast_in_dim(m, shape=(2, 3, 4, 5),
                                                       broadcast_dimensions=(1, 2, 3)))
    np.testing.assert_allclose(np.asarray(op(mat).todense()), np.broadcast_to(x, (2, 3, 4, 5)))
    _grads(op, mat)
    with pytest.raises(ValueError, match="same length"):
        sparse.bcoo_broadcast_in_dim(mat, shape=(3, 4, 5), broadcast_dimensions=(0, 1))
    pytest.raises(ValueError, js.bcoo_broadcast_in_dim, jmat, shape=(3, 4, 5),
                  broadcast_dimensions=(0, 1))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_update_layout(js, layout):
    x, mat, jmat = _pair(js, layout)
    for nb, nd in [(0, 0), (1, 0), (2, 0), (0, 1), (1, 1), (0, 2)]:
        ours = sparse.bcoo_update_layout(mat, n_batch=nb, n_dense=nd, on_inefficient=None)
        _same(ours, js.bcoo_update_layout(jmat, n_batch=nb, n_dense=nd, on_inefficient=None), x)
        _grads(lambda m: m.update_layout(n_batch=nb, n_dense=nd, on_inefficient=None), mat)
    if layout == (0, 0):
        with pytest.raises(sparse.SparseEfficiencyError, match="n_batch from 0 to 1"):
            mat.update_layout(n_batch=1)
        pytest.raises(js.SparseEfficiencyError, jmat.update_layout, n_batch=1)
        with pytest.warns(sparse.SparseEfficiencyWarning, match="n_dense from 0 to 1"):
            mat.update_layout(n_dense=1, on_inefficient="warn")
        with pytest.raises(ValueError, match="n_batch=2 and n_dense=2"):
            mat.update_layout(n_batch=2, n_dense=2)
    jitted = ft.jit(lambda m: m.update_layout(n_batch=0, n_dense=0).todense())(mat)
    np.testing.assert_allclose(np.asarray(jitted), x)


@pytest.mark.parametrize("layout", [(0, 0), (1, 0), (0, 1)])
def test_gather(js, layout):
    import jax
    x, mat, jmat = _pair(js, layout)
    cases = [
        ((1,), (0, 2), (0, 2), (1, 4, 1), [[0, 1], [2, 4], [1, 0]]),
        ((1, 2), (0,), (0,), (1, 4, 5), [[2], [0]]),
        ((0, 1), (2,), (2,), (3, 4, 1), [[3]]),
    ]
    for offset, collapsed, index_map, sizes, starts in cases:
        if layout[1] and 2 in collapsed:
            continue
        starts = np.asarray(starts)
        ours = sparse.bcoo_gather(mat, starts, lax.GatherDimensionNumbers(
            offset_dims=offset, collapsed_slice_dims=collapsed, start_index_map=index_map),
            sizes)
        jdn = jax.lax.GatherDimensionNumbers(offset_dims=offset, collapsed_slice_dims=collapsed,
                                             start_index_map=index_map)
        _like_jax(ours, lambda: js.bcoo_gather(jmat, jax.numpy.asarray(starts), jdn, sizes),
                  np.asarray(jax.lax.gather(x, starts, jdn, sizes)))
    dn = lax.GatherDimensionNumbers(offset_dims=(1,), collapsed_slice_dims=(0, 2),
                                    start_index_map=(0, 2))
    with pytest.raises(NotImplementedError, match="mode"):
        sparse.bcoo_gather(mat, np.zeros((1, 2), np.int32), dn, (1, 4, 1), mode="clip")


INDICES = [-1, (1, slice(None), slice(0, 4, 2)), (Ellipsis, 1), (None, 1),
           (np.array([0, 2]), 1)]


@pytest.mark.parametrize("layout", [(0, 0), (1, 0), (1, 1)])
def test_indexing(js, layout):
    x, mat, jmat = _pair(js, layout)
    for idx in INDICES:
        ours = mat[idx]
        assert isinstance(ours, sparse.BCOO)
        _like_jax(ours, lambda: js.run(lambda m: m[idx], jmat), x[idx])
    # an index array after a slice: JAX keeps no batch dimension, functrans keeps them
    idx = (slice(None), np.array([[3, 0]]))
    np.testing.assert_allclose(np.asarray(mat[idx].todense()), x[idx])
    np.testing.assert_allclose(np.asarray(ft.jit(lambda m, i: m[i].todense())(mat, 2)), x[2])
    if layout == (1, 0):          # iteration stops (indexing clamps, as in JAX)
        rows = [np.asarray(r.todense()) for r in mat]
        np.testing.assert_allclose(np.stack(rows), x)
    _grads(lambda m: m[1, 1:3], mat)
    _batched_check(lambda m: m[1:3], x, layout)


# ------------------------------------------------------------------ sparsify
def test_sparsify_structural(js):
    rng = np.random.default_rng(6)
    x, y = _random(rng, (3, 4)), _random(rng, (3, 4))
    a, b = sparse.BCOO.fromdense(x), sparse.BCOO.fromdense(y)

    def f(p, q):
        both = fnp.concatenate([p, q], axis=0)           # (6, 4)
        part = both[1:5, ::2]                            # (4, 2)
        return fnp.reshape(part.T, (8,))[None] * 2.0     # (1, 8)

    want = f(x, y)
    for g in (sparse.sparsify(f), ft.jit(sparse.sparsify(f))):
        out = g(a, b)
        assert isinstance(out, sparse.BCOO)
        np.testing.assert_allclose(np.asarray(out.todense()), want)
    check_grads(lambda d, e: sparse.sparsify(f)(a._with_data(d), b._with_data(e)).todense(),
                (a.data, b.data), order=1)
    # f closing over a value of an enclosing jit
    got = ft.jit(lambda s: sparse.sparsify(lambda m: m * s)(a).todense())(2.)
    np.testing.assert_allclose(np.asarray(got), 2 * x)
    dyn = sparse.sparsify(lambda m, i: lax.dynamic_slice(m, (i, 0), (2, 4)))
    np.testing.assert_allclose(np.asarray(ft.jit(dyn)(a, 1).todense()), x[1:3])
    with pytest.raises(NotImplementedError, match="concatenate of sparse and dense"):
        sparse.sparsify(lambda p, q: fnp.concatenate([p, q]))(a, y)


def test_sparsify_conv_general_dilated(js):
    """JAX's sparsify runs a 1-d convolution of (1, 1, n) operands (a BCOO result).
    functrans's conv_general_dilated is not one primitive: a sparse kernel goes through
    reshape and dot_general, a sparse input through conv_patches' sparse rule (im2col of the
    stored elements) and dot_general (a dense result either way; see test_sparse3 for more
    convolutions)."""
    rng = np.random.default_rng(7)
    x, w = _random(rng, (1, 1, 8)), rng.standard_normal((1, 1, 3))

    def conv(lhs, rhs):
        return lax.conv_general_dilated(lhs, rhs, window_strides=(1,), padding="SAME")

    want = np.asarray(conv(x, w))
    jax_out = js.sparsify(lambda a, b: __import__("jax").lax.conv_general_dilated(
        a, b, window_strides=(1,), padding="SAME"))(js.BCOO.fromdense(x), w)
    np.testing.assert_allclose(np.asarray(jax_out.todense()), want, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(sparse.sparsify(conv)(x, sparse.BCOO.fromdense(w))),
                               want, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(sparse.sparsify(conv)(sparse.BCOO.fromdense(x), w)),
                               want, rtol=1e-12)


# ------------------------------------------------------------------ vmap and batch axes
def test_vmap_non_batch_axis_with_nse_equal_to_the_batch_size():
    dense = np.array([[1., 0, 2, 0], [0, 3, 0, 0], [4, 0, 0, 5]])
    m = sparse.BCOO.fromdense(dense, n_batch=1, nse=3)      # data (3, 3): axis 1 is nse
    assert m.data.shape == (3, 3)
    with pytest.raises(ValueError, match="must correspond to a batch dimension"):
        ft.vmap(lambda a: a.todense(), in_axes=1)(m)
    np.testing.assert_allclose(np.asarray(ft.vmap(lambda a: a.todense())(m)), dense)
    x = _random(np.random.default_rng(8), (2, 3, 4))
    m2 = sparse.BCOO.fromdense(x, n_batch=2, nse=3)
    x = np.asarray(m2.todense())                             # (nse=3 may drop elements)
    np.testing.assert_allclose(np.asarray(ft.vmap(ft.vmap(lambda a: a.todense()),
                                                  in_axes=1)(m2)), x.transpose(1, 0, 2))
    with pytest.raises(ValueError, match="must correspond to a batch dimension"):
        ft.vmap(ft.vmap(lambda a: a.todense(), in_axes=1))(m2)
    # a BCOO built inside vmap and passed through jit there is unaffected
    out = ft.vmap(lambda a: ft.jit(lambda b: b[1:].todense())(a))(m2)
    np.testing.assert_allclose(np.asarray(out), x[:, 1:])
