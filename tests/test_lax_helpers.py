"""JAX's lax helpers built on the primitives (`functrans/lax/helpers.py`): values against
`jax.lax` where JAX is installed, closed forms without it, float64 derivatives against finite
differences, jit and vmap against eager, and bad arguments."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads

L = ft.lax
rng = np.random.default_rng(11)
X = rng.standard_normal((3, 4, 5))


@pytest.fixture
def jl(jax_x64):
    return jax_x64.lax


CASES = {
    "broadcast": lambda m, x: m.broadcast(x, (2, 1)),
    "broadcasted_iota": lambda m, x: m.broadcasted_iota(np.int32, (3, 4), 1),
    "collapse": lambda m, x: m.collapse(x, 1),
    "collapse_mid": lambda m, x: m.collapse(x, 0, 2),
    "index_in_dim": lambda m, x: m.index_in_dim(x, -1, axis=1),
    "index_in_dim_drop": lambda m, x: m.index_in_dim(x, 2, axis=2, keepdims=False),
    "dynamic_update_index_in_dim": lambda m, x: m.dynamic_update_index_in_dim(
        x, x[:, 0] * 10, 2, 1),
    "split": lambda m, x: m.split(x, (1, 3, 0, 1), axis=2),
    "tile": lambda m, x: m.tile(x, (2, 1, 3)),
    "stack": lambda m, x: m.stack([x, x * 2], axis=1),
    "unstack": lambda m, x: m.unstack(x, axis=-1),
    "sort_key_val": lambda m, x: m.sort_key_val(x, x * 3, dimension=1),
    "cumlogsumexp": lambda m, x: m.cumlogsumexp(x * 300, axis=1),
    "cumlogsumexp_reverse": lambda m, x: m.cumlogsumexp(x, axis=2, reverse=True),
    "optimization_barrier": lambda m, x: m.optimization_barrier((x, x + 1)),
    "broadcast_to_rank": lambda m, x: m.broadcast_to_rank(x, 5),
}


def _flat(v):
    if isinstance(v, (list, tuple)):
        return [a for item in v for a in _flat(item)]
    return [np.asarray(v)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_helpers_match_jax(jl, name):
    import jax.numpy as jnp
    f = CASES[name]
    got, want = _flat(f(L, fnp.asarray(X))), _flat(f(jl, jnp.asarray(X)))
    assert len(got) == len(want), name
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype, name
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-300, err_msg=name)


def test_shape_helpers_match_jax(jl):
    assert L.broadcast_shapes((3, 1), (1, 4), (4,)) == jl.broadcast_shapes((3, 1), (1, 4), (4,))
    for pad in ("SAME", "SAME_LOWER", "VALID"):
        assert L.padtype_to_pads((7, 8), (3, 2), (2, 3), pad) == \
            [tuple(p) for p in jl.padtype_to_pads((7, 8), (3, 2), (2, 3), pad)]


def test_index_take_matches_jax(jl):
    import jax.numpy as jnp
    idx = (np.array([2, 0, 1, 2]), np.array([4, 4, 0, 1]))
    got = L.index_take(fnp.asarray(X), idx, (0, 2))
    want = jl.index_take(jnp.asarray(X), tuple(jnp.asarray(i) for i in idx), (0, 2))
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint16])
def test_right_shifts_match_jax(jl, dtype):
    import jax.numpy as jnp
    info = np.iinfo(dtype)
    x = np.array([info.min, -7 if info.min < 0 else 7, 0, 5, info.max], dtype)
    y = np.array([1, 2, 3, 8 * x.itemsize, 8 * x.itemsize - 1], dtype)
    for name in ("shift_right_logical", "shift_right_arithmetic"):
        got = getattr(L, name)(fnp.asarray(x), fnp.asarray(y))
        want = getattr(jl, name)(jnp.asarray(x), jnp.asarray(y))
        assert got.dtype == want.dtype, name
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=name)


CONV_TRANSPOSE = [
    dict(strides=(2, 2), padding="SAME"),
    dict(strides=(2, 1), padding="VALID"),
    dict(strides=(3, 2), padding="SAME", rhs_dilation=(2, 1)),
    dict(strides=(2, 2), padding=((1, 2), (0, 1))),
    dict(strides=(2, 2), padding=((1, 1), (0, 2)), use_consistent_padding=True),
    dict(strides=(2, 2), padding="SAME", transpose_kernel=True),
    dict(strides=(2,), padding="VALID", dimension_numbers=("NCH", "OIH", "NCH")),
]


@pytest.mark.parametrize("kwargs", CONV_TRANSPOSE)
def test_conv_transpose_matches_jax(jl, kwargs):
    import jax.numpy as jnp
    one_d = "dimension_numbers" in kwargs
    x = rng.standard_normal((2, 3, 7) if one_d else (2, 5, 6, 3))
    channels = (4, 3) if kwargs.get("transpose_kernel") else (3, 4)   # (the forward's)
    k = rng.standard_normal((4, 3, 3) if one_d else (3, 2) + channels)
    got = L.conv_transpose(fnp.asarray(x), fnp.asarray(k), **kwargs)
    want = jl.conv_transpose(jnp.asarray(x), jnp.asarray(k), **kwargs)
    assert got.shape == want.shape
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-10, atol=1e-12)


def test_conv_wrappers_match_jax(jl):
    import jax.numpy as jnp
    x, k = rng.standard_normal((2, 3, 9, 8)), rng.standard_normal((4, 3, 3, 2))
    np.testing.assert_allclose(
        np.asarray(L.conv(fnp.asarray(x), fnp.asarray(k), (2, 1), "SAME")),
        np.asarray(jl.conv(jnp.asarray(x), jnp.asarray(k), (2, 1), "SAME")), rtol=1e-10)
    args = ((1, 2), ((1, 0), (2, 1)), (2, 1), (1, 2))
    np.testing.assert_allclose(
        np.asarray(L.conv_with_general_padding(fnp.asarray(x), fnp.asarray(k), *args)),
        np.asarray(jl.conv_with_general_padding(jnp.asarray(x), jnp.asarray(k), *args)),
        rtol=1e-10)


def test_closed_forms_without_jax():
    x = fnp.asarray(X)
    np.testing.assert_array_equal(L.tile(x, (2, 1, 1)), np.tile(X, (2, 1, 1)))
    np.testing.assert_array_equal(L.stack([x, x], axis=2), np.stack([X, X], axis=2))
    assert [p.shape for p in L.split(x, (2, 2), axis=1)] == [(3, 2, 5), (3, 2, 5)]
    np.testing.assert_array_equal(L.broadcasted_iota(np.int32, (2, 3), 0), [[0] * 3, [1] * 3])
    big = np.array([-1000.0, 0.0, -1000.0])
    np.testing.assert_allclose(L.cumlogsumexp(fnp.asarray(big)),
                               np.logaddexp.accumulate(big), rtol=1e-15)
    keys, vals = L.sort_key_val(fnp.asarray([3.0, 1.0, 2.0]), fnp.asarray([0, 1, 2]))
    np.testing.assert_array_equal(vals, [1, 2, 0])


@pytest.mark.parametrize("name", ["tile", "stack", "split", "cumlogsumexp", "collapse",
                                  "dynamic_update_index_in_dim", "index_in_dim"])
def test_helpers_derivatives(name):
    f = CASES[name]

    def scalar(x):
        out = f(L, x)
        return sum(fnp.sum(fnp.sin(o)) for o in ft.tree_util.tree_leaves(out))
    check_grads(scalar, (fnp.asarray(X),), order=2, modes=("fwd", "rev"))


def test_conv_transpose_derivatives_jit_and_vmap():
    x, k = rng.standard_normal((1, 4, 5, 2)), rng.standard_normal((3, 3, 2, 3))

    def f(x, k):
        return fnp.sum(fnp.tanh(L.conv_transpose(x, k, (2, 2), "SAME")))
    check_grads(f, (fnp.asarray(x), fnp.asarray(k)), order=1, modes=("fwd", "rev"))
    xs = rng.standard_normal((3, 1, 4, 5, 2))

    def one(x):
        return L.conv_transpose(x, fnp.asarray(k), (2, 2), "VALID")
    batched = ft.vmap(one)(fnp.asarray(xs))
    for i in range(3):
        np.testing.assert_allclose(batched[i], ft.jit(one)(fnp.asarray(xs[i])), rtol=1e-12)


def test_bad_arguments_name_the_function():
    x = fnp.asarray(X)
    with pytest.raises(ValueError, match="split: sizes"):
        L.split(x, (1, 1), axis=1)
    with pytest.raises(IndexError, match="index_in_dim: index 7"):
        L.index_in_dim(x, 7, axis=1)
    with pytest.raises(ValueError, match="tile: 2 repetition counts"):
        L.tile(x, (1, 2))
    with pytest.raises(ValueError, match="collapse: axis|collapse"):
        L.collapse(x, 2, 1)
    with pytest.raises(ValueError, match="broadcast_to_rank"):
        L.broadcast_to_rank(x, 2)
    with pytest.raises(ValueError, match="stack: needs"):
        L.stack([])


def test_reduce_with_monoids_any_computation_and_pytrees():
    x = fnp.asarray(X)
    np.testing.assert_allclose(L.reduce(x, 0.0, L.add, (0, 2)), X.sum((0, 2)), rtol=1e-14)
    np.testing.assert_allclose(L.reduce(x, -np.inf, L.max, (1,)), X.max(1))
    folded = L.reduce(x, 0.0, lambda a, b: a * 0.5 + b, (0,))
    expected = np.zeros((4, 5))
    for row in X:
        expected = expected * 0.5 + row
    np.testing.assert_allclose(folded, expected, rtol=1e-14)
    lanes = fnp.asarray(np.broadcast_to(np.arange(5), X.shape).astype(np.int32))
    _, where = L.reduce((x, lanes), (-np.inf, np.int32(0)),
                        lambda a, b: (fnp.maximum(a[0], b[0]), fnp.where(b[0] > a[0], b[1], a[1])),
                        (2,))
    np.testing.assert_array_equal(where, X.argmax(2))
    check_grads(lambda x: fnp.sum(L.reduce(x, 0.0, lambda a, b: a * 0.5 + fnp.sin(b), (0,))),
                (x,), order=2, modes=("fwd", "rev"))
    with pytest.raises(ValueError, match="initial values"):
        L.reduce((x, x), 0.0, L.add, (0,))


def test_top_k_axis_approx_k_and_axis_size(jl):
    import jax.numpy as jnp
    for axis in (0, 1, -1):
        got = L.top_k(fnp.asarray(X), 2, axis=axis)
        want = jl.top_k(jnp.asarray(X), 2, axis=axis)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
    values, indices = L.approx_min_k(fnp.asarray(X), 2, reduction_dimension=1)
    np.testing.assert_array_equal(values, np.sort(X, 1)[:, :2])
    np.testing.assert_array_equal(indices, np.argsort(X, 1, kind="stable")[:, :2])
    values, _ = L.approx_max_k(fnp.asarray(X), 3)
    np.testing.assert_array_equal(values, -np.sort(-X, -1)[..., :3])
    sized = ft.vmap(lambda v: L.axis_size("i") * v, axis_name="i")(fnp.ones(3))
    np.testing.assert_array_equal(sized, [3.0, 3.0, 3.0])


def test_round_breaks_ties_away_from_zero_by_default_as_jax():
    """lax.round was NumPy's rint (0.5 -> 0, 2.5 -> 2); JAX's default rounds ties away
    from zero. jnp.round and rint keep NumPy's ties to even."""
    x = np.array([-2.5, -1.5, -0.5, -0.49999997, 0.49999997, 0.5, 1.5, 2.5, 3.7, -0.0],
                 np.float32)
    away = np.asarray(L.round(x))
    np.testing.assert_array_equal(away, [-3, -2, -1, 0, 0, 1, 2, 3, 4, 0])
    assert np.signbit(away[-1]) and away.dtype == np.float32
    even = L.round(x, L.RoundingMethod.TO_NEAREST_EVEN)
    np.testing.assert_array_equal(np.asarray(even), np.rint(x))
    np.testing.assert_array_equal(np.asarray(L.round(x, 1)), np.rint(x))
    np.testing.assert_array_equal(np.asarray(ft.jit(L.round)(x)), away)
    np.testing.assert_array_equal(np.asarray(fnp.round(fnp.asarray(x))), np.round(x))
    np.testing.assert_array_equal(np.asarray(ft.vmap(L.round)(x.reshape(2, 5))),
                                  away.reshape(2, 5))
    assert float(ft.grad(lambda t: L.round(t) * t)(2.5)) == 3.0


def test_incomplete_gamma_and_beta_under_jax_names():
    import scipy.special as sp
    a, x = np.array([0.5, 2.0, 7.5]), np.array([0.3, 1.5, 9.0])
    np.testing.assert_allclose(np.asarray(L.igamma(a, x)), sp.gammainc(a, x), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(L.igammac(a, x)), sp.gammaincc(a, x), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(L.betainc(a, x, np.array([0.1, 0.5, 0.9]))),
                               sp.betainc(a, x, [0.1, 0.5, 0.9]), rtol=1e-12)


def test_reduce_precision_rounds_to_the_narrower_format_as_jax():
    """bfloat16 emulation (8, 7): mantissa to nearest (ties to even), overflow to inf, below
    the smallest normal to a signed zero, NaN kept; equal to JAX bit for bit where installed."""
    x = np.array([1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, 1.0 + 2 ** -9, 3.4e38, np.nan, -np.inf,
                  0.1], np.float32)
    got = np.asarray(L.reduce_precision(x, exponent_bits=8, mantissa_bits=7))
    want = [1.0, 1.0 + 2 ** -6, 1.0, np.inf, np.nan, -np.inf, 0.10009765625]
    np.testing.assert_array_equal(got, np.array(want, np.float32))
    tiny = np.asarray(L.reduce_precision(np.float32([-1e-30]), exponent_bits=5, mantissa_bits=7))
    assert tiny[0] == 0 and np.signbit(tiny[0])
    half = np.asarray(ft.jit(lambda v: L.reduce_precision(v, 5, 10))(np.float32([70000.0, 1e-6])))
    np.testing.assert_array_equal(half, [np.inf, 0.0])             # (float16 keeps subnormals)
    try:
        import jax as real_jax
    except ImportError:
        return
    rng = np.random.default_rng(0)
    y = (rng.standard_normal(500) * 10.0 ** rng.uniform(-45, 38, 500)).astype(np.float32)
    for e, m in [(8, 7), (5, 10), (4, 3), (3, 1)]:
        np.testing.assert_array_equal(
            np.asarray(L.reduce_precision(y, e, m)),
            np.asarray(real_jax.lax.reduce_precision(y, exponent_bits=e, mantissa_bits=m)))
