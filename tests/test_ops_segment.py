"""`functrans.ops` (JAX's `jax.ops`): segment_sum / segment_prod / segment_max / segment_min
against NumPy loops and JAX, over dtypes, trailing shapes, modes, sorted and unsorted ids,
empty segments and out-of-range ids; derivatives against finite differences and JAX's tie
rule, vmap against a Python loop, jit."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.errors import ConcretizationTypeError
from functrans.test_util import check_grads

OPS = ["segment_sum", "segment_prod", "segment_max", "segment_min"]
NUMPY_COMBINE = {"segment_sum": np.add, "segment_prod": np.multiply,
                 "segment_max": np.maximum, "segment_min": np.minimum}


def _identity(name, dtype):
    if name == "segment_sum":
        return 0
    if name == "segment_prod":
        return 1
    low = name == "segment_max"
    if dtype.kind in "fc":
        return -np.inf if low else np.inf
    if dtype.kind == "b":
        return not low
    return np.iinfo(dtype).min if low else np.iinfo(dtype).max


def reference(name, data, ids, n, mode):
    """A Python loop over the rows of `data`."""
    out = np.full((n,) + data.shape[ids.ndim:], _identity(name, data.dtype), data.dtype)
    for pos in np.ndindex(ids.shape):
        i = int(ids[pos])
        if mode == "clip":
            i = min(max(i, 0), n - 1)
        elif not 0 <= i < n:
            continue
        out[i] = NUMPY_COMBINE[name](out[i], data[pos])
    return out


def _data(dtype, shape, rng):
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        return rng.integers(-3 if dtype.kind == "i" else 0, 4, shape).astype(dtype)
    x = rng.uniform(0.5, 1.5, shape) * rng.choice([-1, 1], shape)
    if dtype.kind == "c":
        x = x + 1j * rng.uniform(-1, 1, shape)
    return x.astype(dtype)


def _ids(rows, n, sort, out_of_range, rng):
    """Ids in [0, n - 1) (the last segment stays empty), a few out of range if asked."""
    ids = rng.integers(0, n - 1, rows)
    if out_of_range:
        ids[::3] = rng.choice([-2, -1, n, n + 3], len(ids[::3]))
    return np.sort(ids) if sort else ids


def _same(ours, expected):
    ours = np.asarray(ours)
    assert ours.dtype == expected.dtype, (ours.dtype, expected.dtype)
    assert ours.shape == expected.shape, (ours.shape, expected.shape)
    if expected.dtype.kind in "fc":
        np.testing.assert_allclose(ours, expected, rtol=1e-5)
    else:
        np.testing.assert_array_equal(ours, expected)


# bool data only for max / min (sum and prod refuse it, as JAX); complex data only for sum
# and prod here (NumPy orders complex numbers lexicographically: checked against JAX below)
NAME_DTYPES = [(name, dtype) for name in OPS
               for dtype in ["float32", "float64", "int32", "int64", "uint8", "bool", "complex64"]
               if (dtype == "bool") <= (name in ("segment_max", "segment_min"))
               and (dtype == "complex64") <= (name in ("segment_sum", "segment_prod"))]


@pytest.mark.parametrize("name,dtype", NAME_DTYPES)
@pytest.mark.parametrize("trailing", [(), (2, 3)])
@pytest.mark.parametrize("mode", [None, "drop", "clip", "promise_in_bounds"])
@pytest.mark.parametrize("sort", [False, True])
def test_against_a_numpy_loop(name, dtype, trailing, mode, sort):
    rng = np.random.default_rng(hash((name, dtype, trailing, str(mode), sort)) % 2**32)
    data = _data(dtype, (7,) + trailing, rng)
    ids = _ids(7, 5, sort, mode != "promise_in_bounds", rng)
    f = getattr(ft.ops, name)
    _same(f(data, ids, 5, indices_are_sorted=sort, mode=mode),
          reference(name, data, ids, 5, mode))


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "uint8", "bool", "complex128"])
@pytest.mark.parametrize("mode", [None, "clip"])
@pytest.mark.parametrize("trailing", [(), (2,)])
def test_against_jax(jax_x64, name, dtype, mode, trailing):
    if dtype == "bool" and name in ("segment_sum", "segment_prod"):
        return
    rng = np.random.default_rng(3)
    data = _data(dtype, (9,) + trailing, rng)
    ids = _ids(9, 6, False, True, rng)
    theirs = getattr(jax_x64.ops, name)(data, ids, 6, mode=mode)
    ours = getattr(ft.ops, name)(data, ids, 6, mode=mode)
    _same(ours, np.asarray(theirs))
    # num_segments=None: max(ids) + 1, as JAX
    _same(getattr(ft.ops, name)(data, ids), np.asarray(getattr(jax_x64.ops, name)(data, ids)))


def test_bool_data_is_refused_by_sum_and_prod():
    for name in ("segment_sum", "segment_prod"):
        with pytest.raises(TypeError, match=f"{name}: data of dtype bool"):
            getattr(ft.ops, name)(np.array([True, False]), np.array([0, 1]), 2)


def test_importable_as_jax_ops():
    import functrans as jax
    out = jax.ops.segment_sum(fnp.arange(5.0), fnp.asarray([0, 0, 1, 1, 3]), num_segments=4)
    np.testing.assert_array_equal(np.asarray(out), [1.0, 5.0, 0.0, 4.0])
    assert jax.ops.segment_max.__module__ == "functrans.ops"


def test_num_segments_none():
    data = np.arange(4.0)
    np.testing.assert_array_equal(np.asarray(ft.ops.segment_sum(data, np.array([2, 0, 2, 0]))),
                                  [4.0, 0.0, 2.0])
    assert ft.ops.segment_max(data, np.array([-1, -1, -2, -1])).shape == (0,)
    assert ft.ops.segment_min(np.ones((0, 3)), np.zeros(0, int)).shape == (0, 3)
    # a concrete array is a number of segments too
    assert ft.ops.segment_prod(data, np.array([0, 0, 1, 1]), fnp.asarray(3)).shape == (3,)


def test_num_segments_none_under_jit_names_the_argument():
    f = ft.jit(lambda d, i: ft.ops.segment_sum(d, i))
    with pytest.raises(ConcretizationTypeError, match="num_segments"):
        f(np.arange(3.0), np.array([0, 1, 1]))
    with pytest.raises(ConcretizationTypeError, match="num_segments"):
        ft.vmap(lambda i: ft.ops.segment_max(np.arange(3.0), i))(np.array([[0, 1, 1],
                                                                          [2, 0, 0]]))
    # with the ids closed over (concrete), jit needs no num_segments
    ids = fnp.asarray([0, 2, 2])
    out = ft.jit(lambda d: ft.ops.segment_sum(d, ids))(np.arange(3.0))
    np.testing.assert_array_equal(np.asarray(out), [0.0, 0.0, 3.0])


def test_bad_arguments():
    data, ids = np.arange(3.0), np.array([0, 1, 1])
    with pytest.raises(TypeError, match="segment_ids must be integers.*float64"):
        ft.ops.segment_sum(data, ids.astype(float), 2)
    with pytest.raises(ValueError, match=r"segment_ids of shape \(2,\).*data of shape \(3,\)"):
        ft.ops.segment_sum(data, ids[:2], 2)
    with pytest.raises(ValueError, match="num_segments must be non-negative"):
        ft.ops.segment_max(data, ids, -1)
    with pytest.raises(TypeError, match="num_segments must be an integer"):
        ft.ops.segment_min(data, ids, 2.0)
    with pytest.raises(TypeError, match="num_segments must be an integer.*static argument"):
        ft.jit(lambda d, n: ft.ops.segment_sum(d, ids, n))(data, 3)
    with pytest.raises(ValueError, match="bucket_size"):
        ft.ops.segment_sum(data, ids, 2, bucket_size=0)
    with pytest.raises(ValueError, match="bogus"):
        ft.ops.segment_sum(data, ids, 2, mode="bogus")


@pytest.mark.parametrize("name", OPS)
def test_hints_change_nothing(name):
    rng = np.random.default_rng(1)
    data, ids = rng.normal(size=(8, 2)), np.sort(rng.integers(0, 4, 8))
    f = getattr(ft.ops, name)
    plain = np.asarray(f(data, ids, 4))
    for kw in (dict(indices_are_sorted=True), dict(bucket_size=3), dict(bucket_size=100),
               dict(unique_indices=False), dict(mode="fill")):
        np.testing.assert_allclose(np.asarray(f(data, ids, 4, **kw)), plain, rtol=1e-12)


def test_segment_ids_may_index_several_leading_axes():
    """Ids of shape data.shape[:k] (as TensorFlow's unsorted segment ops allow)."""
    rng = np.random.default_rng(2)
    data, ids = rng.normal(size=(2, 3, 4)), np.array([[0, 2, 2], [1, 0, -1]])
    for name in OPS:
        _same(getattr(ft.ops, name)(data, ids, 3), reference(name, data, ids, 3, None))


# ------------------------------------------------------------------ derivatives
def _distinct(rows, trailing=(), seed=0):
    """float64 data without ties (finite differences of max/min need a margin)."""
    rng = np.random.default_rng(seed)
    size = rows * int(np.prod(trailing))
    return (rng.permutation(size) * 0.37 + 0.5).reshape((rows,) + trailing) * \
        rng.choice([-1.0, 1.0], (rows,) + trailing)


@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("mode", [None, "clip"])
def test_first_order_derivatives(name, mode):
    """No segment empty (an empty max / min is infinite: no finite differences there)."""
    ids = np.array([3, 0, 1, -1, 2, 0, 5, 4])
    data = _distinct(8, (2,))
    f = getattr(ft.ops, name)
    check_grads(lambda d: f(d, ids, 5, mode=mode), (data,), order=1)
    check_grads(ft.jit(lambda d: f(d, ids, 5, mode=mode)), (data,), order=1)


@pytest.mark.parametrize("name", ["segment_sum", "segment_prod"])
def test_second_order_derivatives(name):
    ids = np.array([1, 0, 0, 4, 1, 0])
    f = getattr(ft.ops, name)
    check_grads(lambda d: fnp.sin(f(d, ids, 3)), (_distinct(6, (2,)),), order=2)


def test_segment_prod_derivative_with_zeros():
    """The product of the others, exact with one or several zeros in a segment (JAX raises
    NotImplementedError unless unique_indices=True)."""
    data = np.array([0.0, 2.0, 3.0, 0.0, 0.0, 5.0, 7.0])
    ids = np.array([0, 0, 0, 1, 1, 2, 2])
    g = ft.grad(lambda d: fnp.sum(ft.ops.segment_prod(d, ids, 3)))(data)
    np.testing.assert_allclose(np.asarray(g), [6.0, 0.0, 0.0, 0.0, 0.0, 7.0, 5.0])


@pytest.mark.parametrize("name", ["segment_max", "segment_min"])
def test_ties_share_the_cotangent_as_in_jax(jax_x64, name):
    sign = 1.0 if name == "segment_max" else -1.0
    data = sign * np.array([1.0, 3.0, 3.0, 2.0, 5.0, 5.0, 5.0, -np.inf, 4.0])
    ids = np.array([0, 0, 0, 1, 2, 2, -1, 3, 3])
    weights = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    ours = ft.grad(lambda d: fnp.sum(getattr(ft.ops, name)(d, ids, 5) * weights))(data)
    np.testing.assert_allclose(np.asarray(ours),
                               [0.0, 0.5, 0.5, 2.0, 1.5, 1.5, 0.0, 0.0, 4.0])
    jnp = jax_x64.numpy
    theirs = jax_x64.grad(
        lambda d: jnp.sum(getattr(jax_x64.ops, name)(d, ids, 5) * weights))(data)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs))
    # an element equal to the empty-segment value ties with it, as in JAX
    lone = sign * np.array([-np.inf, -np.inf, 1.0])
    ours = ft.grad(lambda d: fnp.sum(getattr(ft.ops, name)(d, np.array([0, 0, 1]), 2)))(lone)
    theirs = jax_x64.grad(
        lambda d: jnp.sum(getattr(jax_x64.ops, name)(d, np.array([0, 0, 1]), 2)))(lone)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs))
    np.testing.assert_allclose(np.asarray(ours), [1 / 3, 1 / 3, 1.0])


@pytest.mark.parametrize("name", ["segment_sum", "segment_max", "segment_min"])
def test_jvp_against_jax(jax_x64, name):
    data = np.array([1.0, 3.0, 3.0, 2.0, 5.0, 5.0, 0.5])
    ids = np.array([0, 0, 0, 1, 2, 2, 7])
    tangent = np.arange(7.0)
    ours = ft.jvp(lambda d: getattr(ft.ops, name)(d, ids, 4), (data,), (tangent,))
    theirs = jax_x64.jvp(lambda d: getattr(jax_x64.ops, name)(d, ids, 4), (data,), (tangent,))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b))


# ------------------------------------------------------------------ vmap, jit
@pytest.mark.parametrize("name", OPS)
@pytest.mark.parametrize("in_axes", [(0, None), (None, 0), (0, 0), (1, 0)])
def test_vmap_against_a_loop(name, in_axes):
    rng = np.random.default_rng(5)
    f = getattr(ft.ops, name)
    data = rng.normal(size=(4, 6, 2))
    ids = rng.integers(-1, 5, (4, 6))
    if in_axes[0] == 1:
        data = data.transpose(1, 0, 2)
    dat = [data[i] if in_axes[0] == 0 else data[:, i] if in_axes[0] == 1 else data[0]
           for i in range(4)]
    idl = [ids[i] if in_axes[1] == 0 else ids[0] for i in range(4)]
    call_data = data if in_axes[0] is not None else data[0]
    call_ids = ids if in_axes[1] is not None else ids[0]
    out = ft.vmap(lambda d, i: f(d, i, num_segments=4), in_axes=in_axes)(call_data, call_ids)
    expected = np.stack([reference(name, d, i, 4, None) for d, i in zip(dat, idl)])
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-12)
    grads = ft.vmap(ft.grad(lambda d, i: fnp.sum(fnp.tanh(f(d, i, 4)))),
                    in_axes=in_axes)(call_data, call_ids)
    loop = [ft.grad(lambda d: fnp.sum(fnp.tanh(f(d, i, 4))))(d) for d, i in zip(dat, idl)]
    np.testing.assert_allclose(np.asarray(grads), np.stack(loop), rtol=1e-12)


@pytest.mark.parametrize("name", OPS)
def test_jit(name):
    rng = np.random.default_rng(6)
    data, ids = rng.normal(size=(9, 3)), rng.integers(-2, 6, 9)
    f = getattr(ft.ops, name)
    jitted = ft.jit(f, static_argnames=("num_segments", "mode"))
    for mode in (None, "clip"):
        _same(jitted(data, ids, num_segments=5, mode=mode), reference(name, data, ids, 5, mode))
    g = ft.jit(ft.grad(lambda d: fnp.sum(fnp.tanh(f(d, ids, 5)))))(data)
    np.testing.assert_allclose(np.asarray(g),
                               np.asarray(ft.grad(lambda d: fnp.sum(fnp.tanh(f(d, ids, 5))))(data)),
                               rtol=1e-12)


def test_on_the_stand_in_gpu(fake_gpus):
    gpu = fake_gpus[0]
    data = ft.device_put(np.arange(6.0), gpu)
    ids = np.array([0, 1, 1, 3, -1, 0])
    for name in OPS:
        out = getattr(ft.ops, name)(data, ids, 4)
        assert out.device == gpu
        _same(out, reference(name, np.arange(6.0), ids, 4, None))
    g = ft.grad(lambda d: fnp.sum(ft.ops.segment_max(d, ids, 4)))(data)
    assert g.device == gpu
    np.testing.assert_array_equal(np.asarray(g), [0, 0, 1, 1, 0, 1])
