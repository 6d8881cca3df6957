"""JAX's primitive objects in ft.lax: which of `jax.lax.*_p` exist, and the primitives users see
in `make_jaxpr` output: `integer_pow[y=...]` (what `x ** 2` stages), `clamp` and `top_k`, with their
values against JAX, derivatives against finite differences (float64, first and second order,
forward and reverse), batching against a Python loop, jit (rewritten to the kernels they
compute, so `x ** 2` chains still fuse) and jet."""
from __future__ import annotations

import numpy as np
import pytest

import functrans as ft
import functrans.lax as lax
import functrans.numpy as fnp
from functrans.test_util import check_grads

try:
    import jax
    jnp, jlax = jax.numpy, jax.lax
except ImportError:         # the tests comparing with JAX skip; the others run
    jax = jnp = jlax = None
needs_jax = pytest.mark.skipif(jax is None, reason="compares with JAX, which is not installed")

# jax.lax's primitive objects that ft.lax does not have (functrans computes these from other
# primitives, or has no such operation); a name leaving JAX or arriving in ft.lax must be
# taken off this list
NOT_IN_FT_LAX = {
    "after_all_p", "approx_top_k_p", "conv_general_dilated_p", "copy_p",
    "create_token_p", "dce_sink_p", "eq_to_p", "igamma_grad_a_p",
    "le_to_p", "lt_to_p", "mulhi_p", "optimization_barrier_p", "ragged_all_to_all_p",
    "reduce_p", "reduce_precision_p", "reduce_window_min_p", "reduce_window_p",
    "scatter_sub_p", "select_and_gather_add_p", "select_and_scatter_add_p",
    "select_and_scatter_p", "select_n_p", "sharding_constraint_p", "shift_right_arithmetic_p",
    "shift_right_logical_p", "split_p", "squeeze_p", "stack_p", "stage_p", "tile_p",
    "unstack_p",
}


@needs_jax
def test_primitive_objects_against_jax():
    theirs = {n for n in dir(jlax) if n.endswith("_p")}
    ours = {n for n in dir(lax) if n.endswith("_p")}
    assert theirs - ours == NOT_IN_FT_LAX
    assert {"integer_pow_p", "clamp_p", "top_k_p"} <= ours
    assert lax.integer_pow_p.name == "integer_pow" and lax.clamp_p.name == "clamp"
    from functrans.extend.core import primitives
    assert primitives.integer_pow_p is lax.integer_pow_p


def _eqns(jaxpr):
    """(primitive name, params without JAX's sharding) of each equation."""
    return [(e.primitive.name, {k: v for k, v in e.params.items() if k != "sharding"})
            for e in jaxpr.eqns]


@needs_jax
@pytest.mark.parametrize("f", [
    lambda m, lx, x: x ** 2, lambda m, lx, x: x ** -3, lambda m, lx, x: x ** 0,
    lambda m, lx, x: m.power(x, 5), lambda m, lx, x: lx.integer_pow(x, 7),
    lambda m, lx, x: lx.clamp(0.0, x, 1.0), lambda m, lx, x: lx.clamp(x[1], x, 2.0)],
    ids=["square", "cube_inverse", "zero", "power5", "integer_pow7", "clamp", "clamp_traced"])
def test_make_jaxpr_shows_jax_primitives(f):
    """`f(numpy module, lax module, x)` stages the same last equation in both libraries (the
    traced bound: functrans slices and reshapes where JAX slices and squeezes)."""
    x = np.linspace(0.5, 1.5, 3).astype(np.float32)
    ours = _eqns(ft.make_jaxpr(lambda v: f(fnp, lax, v))(fnp.asarray(x)).jaxpr)
    theirs = _eqns(jax.make_jaxpr(lambda v: f(jnp, jlax, v))(x).jaxpr)
    assert ours[-1] == theirs[-1]
    assert len(ours) == 1 or ours[0][0] == "slice"


def test_clip_stages_max_and_min_as_jax():
    names = [e.primitive.name for e in ft.make_jaxpr(
        lambda x: fnp.clip(x, 0.0, 1.0))(fnp.ones(3)).jaxpr.eqns]
    assert names == ["max", "min"]


@needs_jax
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "complex64"])
@pytest.mark.parametrize("y", [-3, -1, 0, 1, 2, 3, 4, 7])
def test_integer_pow_values_against_jax(dtype, y, jax_x64):
    if np.dtype(dtype).kind in "iu" and y < 0:
        with pytest.raises(ValueError, match="negative power"):
            lax.integer_pow(fnp.arange(3, dtype=dtype), y)
        return
    x = (np.linspace(-2.5, 2.5, 10) + (0.5j if dtype.startswith("complex") else 0)).astype(dtype)
    want = np.asarray(jlax.integer_pow(jnp.asarray(x), y))
    for f in (lambda v: lax.integer_pow(v, y), ft.jit(lambda v: lax.integer_pow(v, y)),
              lambda v: v ** y, ft.jit(lambda v: v ** y)):
        got = f(fnp.asarray(x))
        assert got.dtype == want.dtype
        np.testing.assert_allclose(np.asarray(got), want, rtol=4 * np.finfo(
            np.result_type(want.dtype, np.float32)).eps)


def test_integer_pow_eager_and_jit_agree_bit_for_bit():
    x = fnp.asarray(np.random.default_rng(0).normal(size=1000).astype(np.float32))
    for y in (-2, -1, 2, 3, 5):
        eager = np.asarray(lax.integer_pow(x, y))
        np.testing.assert_array_equal(np.asarray(ft.jit(lambda v: lax.integer_pow(v, y))(x)),
                                      eager)
        np.testing.assert_array_equal(np.asarray(x ** y), eager)


def test_integer_pow_bad_input():
    with pytest.raises(TypeError, match="bool"):
        lax.integer_pow(fnp.ones(3, bool), 2)
    with pytest.raises(TypeError):
        lax.integer_pow(fnp.ones(3), 2.5)
    with pytest.raises(ValueError, match="negative power"):
        ft.jit(lambda v: lax.integer_pow(v, -2))(fnp.arange(3))


@needs_jax
@pytest.mark.parametrize("y", [-2, 0, 1, 2, 3, 5])
def test_integer_pow_derivatives(y):
    x = np.linspace(0.6, 1.9, 4)
    check_grads(lambda v: lax.integer_pow(v, y), (x,), order=2, modes=("fwd", "rev"))
    check_grads(lambda v: v ** y, (x,), order=2, modes=("fwd", "rev"))
    want = jax.grad(lambda v: jnp.sum(v ** y))(x.astype(np.float32))
    got = ft.grad(lambda v: fnp.sum(v ** y))(fnp.asarray(x.astype(np.float32)))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)


def test_integer_pow_derivative_jaxpr_as_jax():
    text = str(ft.make_jaxpr(ft.grad(lambda v: v ** 3))(2.0))
    assert "integer_pow[y=2]" in text and "mul 3.0" in text
    assert "integer_pow[y=1]" not in str(ft.make_jaxpr(ft.grad(lambda v: v ** 2))(2.0))


def test_integer_pow_batching_against_loop():
    x = np.random.default_rng(1).normal(size=(4, 3))
    for y in (-1, 2, 3):
        for axis in (0, 1):
            got = ft.vmap(lambda v: lax.integer_pow(v, y), in_axes=axis)(fnp.asarray(x))
            want = np.stack([np.asarray(lax.integer_pow(fnp.asarray(r), y))
                             for r in np.moveaxis(x, axis, 0)])
            np.testing.assert_array_equal(np.asarray(got), want)


@needs_jax
def test_clamp_values_against_jax(jax_x64):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 4))
    lo, hi = rng.normal(size=(5, 4)) - 1, rng.normal(size=(5, 4)) + 1
    x[0, 0], lo[1, 1], hi[1, 1] = np.nan, 2.0, 1.0     # NaN kept; min > max gives max
    for args in ((lo, x, hi), (-0.5, x, 0.5), (lo[0, 0], x, hi)):
        want = np.asarray(jlax.clamp(*args))
        for f in (lax.clamp, ft.jit(lax.clamp)):
            got = f(*[fnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args])
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(np.asarray(got), want)
    ints = np.arange(9, dtype=np.int32)
    got = lax.clamp(2, fnp.asarray(ints), 4)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(np.asarray(got), np.clip(ints, 2, 4))
    with pytest.raises(TypeError, match="clamp"):       # as JAX's: no promotion
        lax.clamp(0.5, fnp.arange(3), 2)
    with pytest.raises(TypeError, match="clamp"):
        lax.clamp(fnp.zeros(3, fnp.float32), fnp.ones(3, fnp.float64), 2.0)


@needs_jax
def test_clamp_derivatives_against_jax_and_finite_differences(jax_x64):
    lo = np.array([0.0, 0.0, 0.0, 2.0, 2.0, 1.0, 1.0])
    x = np.array([-1.0, 0.5, 0.0, 1.5, 3.0, 1.0, 2.0])    # at and across the bounds,
    hi = np.ones(7)                                          # min above max
    for i in range(3):
        want = jax.grad(lambda *a: jlax.clamp(*a).sum(), argnums=i)(lo, x, hi)
        got = ft.grad(lambda *a: lax.clamp(*a).sum(), argnums=i)(lo, x, hi)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
        args = (lo, x, hi)
        _, t = ft.jvp(lambda v: lax.clamp(*args[:i], v, *args[i + 1:]), (args[i],),
                      (np.ones(7),))
        np.testing.assert_array_equal(np.asarray(t), np.asarray(want))
    # away from the kinks, against finite differences; scalar bounds get summed cotangents
    xs = np.array([-0.9, -0.3, 0.2, 0.7, 1.4])
    check_grads(lambda a, v, b: lax.clamp(a, v, b) ** 2, (np.full(5, -0.5), xs, np.ones(5)),
                order=2, modes=("fwd", "rev"))
    check_grads(lambda a, v, b: lax.clamp(a, v, b) * v, (np.float64(-0.5), xs, np.float64(1.0)),
                order=2, modes=("fwd", "rev"))


def test_clamp_batching_against_loop():
    rng = np.random.default_rng(3)
    lo, x, hi = rng.normal(size=4) - 1, rng.normal(size=(4, 6)), rng.normal(size=4) + 1
    for in_axes in ((0, 0, 0), (None, 0, None), (0, None, 0), (0, 1, None)):
        args = [lo[0] if a is None and k != 1 else (x[:, 0] if a is None else
                (x.T if (k == 1 and a == 1) else v))
                for k, (a, v) in enumerate(zip(in_axes, (lo, x, hi)))]
        got = ft.vmap(lax.clamp, in_axes=in_axes)(*args)
        n = got.shape[0]
        want = [np.asarray(lax.clamp(*[a if ax is None else np.take(a, i, axis=ax)
                                       for a, ax in zip(args, in_axes)])) for i in range(n)]
        np.testing.assert_array_equal(np.asarray(got), np.stack(want))


def test_compiled_chains_still_fuse():
    """`integer_pow` and `clamp` become the kernels they compute, in one fused chain."""
    text = ft.jit(lambda v: lax.clamp(0.0, v ** 2 * 3.0 + v ** 3, 1.0)).lower(
        fnp.ones(8)).as_text()
    optimized = text.split("# optimized jaxpr")[1].split("# generated code")[0]
    assert "integer_pow" not in optimized and "clamp" not in optimized
    assert optimized.count("= fused") == 1
    assert "square" in optimized and "pow" in optimized
    # the seed's sum-of-squares loss and its gradient: no integer_pow left to run
    step = ft.jit(ft.grad(lambda w, x: fnp.sum((x @ w) ** 2)))
    text = step.lower(fnp.ones((5, 2)), fnp.ones((3, 5))).as_text()
    assert "integer_pow" not in text.split("# optimized jaxpr")[1]


def test_jet_of_integer_pow():
    from functrans.experimental.jet import jet
    out, series = jet(lambda v: v ** 3, (2.0,), ((1.0, 0.0, 0.0),))
    assert float(out) == 8.0
    # derivatives 12, 12, 6 of x^3 at 2 along x(t) = 2 + t
    np.testing.assert_allclose([float(s) for s in series], [12.0, 12.0, 6.0])


@needs_jax
# ------------------------------------------------------------------ top_k
def test_top_k_jaxpr_as_jax():
    for shape, k, axis in (((5,), 2, -1), ((2, 3), 1, 0), ((2, 3, 4), 3, 1)):
        x = np.ones(shape, np.float32)
        ours = _eqns(ft.make_jaxpr(lambda v: lax.top_k(v, k, axis=axis))(fnp.asarray(x)).jaxpr)
        theirs = _eqns(jax.make_jaxpr(lambda v: jlax.top_k(v, k, axis=axis))(x).jaxpr)
        assert ours == theirs == [("top_k", {"k": k, "axis": axis % len(shape)})]


@needs_jax
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int8", "uint8"])
def test_top_k_values_against_jax(dtype, jax_x64):
    rng = np.random.default_rng(4)
    x = rng.integers(0, 5, size=(4, 6, 5)).astype(dtype)       # many ties
    if dtype.startswith("float"):
        x[0, 0, :2] = np.nan
        x[1, 1, 1], x[2, 2, 2] = np.inf, -np.inf
    for axis in (0, 1, -1):
        for k in (0, 1, 3, x.shape[axis]):
            want = jlax.top_k(jnp.asarray(x), k, axis=axis)
            for f in (lax.top_k, ft.jit(lax.top_k, static_argnums=1, static_argnames="axis")):
                got = f(fnp.asarray(x), k, axis=axis)
                for g, w in zip(got, want):
                    assert g.dtype == w.dtype
                    np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


def test_top_k_bad_input():
    with pytest.raises(ValueError, match="k=4"):
        lax.top_k(fnp.ones(3), 4)
    with pytest.raises(TypeError, match="real"):
        lax.top_k(fnp.ones(3, fnp.complex64), 1)
    with pytest.raises(ValueError, match="axis"):
        lax.top_k(fnp.ones(3), 1, axis=1)


@needs_jax
def test_top_k_derivatives():
    x = np.random.default_rng(5).permutation(12).reshape(3, 4) / 3.0      # no ties
    for axis in (0, 1):
        check_grads(lambda v: lax.top_k(v, 2, axis=axis)[0] ** 2, (x,), order=2,
                    modes=("fwd", "rev"))
    want = jax.grad(lambda v: jnp.sum(jlax.top_k(v, 2)[0] ** 3))(x.astype(np.float32))
    got = ft.grad(lambda v: fnp.sum(lax.top_k(v, 2)[0] ** 3))(fnp.asarray(x, fnp.float32))
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)


def test_top_k_batching_against_loop():
    x = np.random.default_rng(6).normal(size=(3, 4, 5))
    for in_axis in (0, 1, 2):
        for axis in (0, -1):
            got = ft.vmap(lambda v: lax.top_k(v, 2, axis=axis), in_axes=in_axis)(x)
            rows = [lax.top_k(fnp.asarray(r), 2, axis=axis) for r in np.moveaxis(x, in_axis, 0)]
            for g, part in zip(got, zip(*rows)):
                np.testing.assert_array_equal(np.asarray(g), np.stack([np.asarray(p)
                                                                       for p in part]))


# ------------------------------------------------------------------ clz, cumlogsumexp, iota
def test_new_primitive_objects_are_what_jaxprs_hold():
    assert (lax.clz_p.name, lax.cumlogsumexp_p.name, lax.iota_p.name) == (
        "clz", "cumlogsumexp", "iota")
    x = fnp.arange(3, dtype=fnp.int32)
    assert [e.primitive for e in ft.make_jaxpr(lax.clz)(x).jaxpr.eqns] == [lax.clz_p]
    assert [e.primitive for e in ft.make_jaxpr(lax.cumlogsumexp)(
        fnp.ones(3)).jaxpr.eqns] == [lax.cumlogsumexp_p]
    assert [e.primitive for e in ft.make_jaxpr(
        lambda: lax.iota(fnp.int32, 4))().jaxpr.eqns] == [lax.iota_p]


@needs_jax
@pytest.mark.parametrize("make", [
    lambda L, N: (lambda x: L.clz(x), np.arange(4, dtype=np.int32)),
    lambda L, N: (lambda x: L.cumlogsumexp(x, axis=1, reverse=True), np.ones((2, 3), np.float32)),
    lambda L, N: (lambda x: L.iota(np.int32, 4) + x, np.int32(1)),
    lambda L, N: (lambda x: L.broadcasted_iota(np.float32, (2, 3), 1) + x, np.float32(2))],
    ids=["clz", "cumlogsumexp", "iota", "broadcasted_iota"])
def test_new_primitives_stage_as_jax(make):
    f_ft, x = make(lax, fnp)
    f_jax, _ = make(jlax, jnp)
    ours = _eqns(ft.make_jaxpr(f_ft)(x).jaxpr)
    theirs = _eqns(jax.make_jaxpr(f_jax)(x).jaxpr)
    assert ours == theirs
    np.testing.assert_allclose(np.asarray(f_ft(x)), np.asarray(f_jax(x)), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "uint16", "int32", "uint32",
                                   "int64", "uint64"])
def test_clz_values_eager_jit_vmap(dtype):
    info = np.iinfo(dtype)
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.integers(info.min, info.max, 40, dtype=dtype, endpoint=True),
                        np.array([0, 1, 2, info.max, info.min, info.max // 2 + 1], dtype)])
    width = 8 * x.itemsize
    want = np.array([width - (int(v) % (1 << width)).bit_length() for v in x], dtype)
    for got in (lax.clz(x), ft.jit(lax.clz)(x),
                ft.vmap(lax.clz)(x.reshape(2, -1)).reshape(-1),
                ft.vmap(lax.clz, in_axes=1)(x.reshape(-1, 2)).T.reshape(-1)):
        assert got.dtype == x.dtype
        np.testing.assert_array_equal(np.asarray(got), want)
    if jax is not None and width <= 32:
        np.testing.assert_array_equal(np.asarray(jlax.clz(x)), want)


def test_clz_of_python_ints_and_bad_input():
    assert int(lax.clz(1)) == int(ft.jit(lax.clz)(1)) == 63       # the default int, int64
    for bad in (1.5, np.ones(2, np.float32), np.ones(2, bool)):
        with pytest.raises(TypeError, match="clz"):
            lax.clz(bad)
    assert ft.grad(lambda v: fnp.sum(v * lax.clz(fnp.arange(1, 4))))(fnp.ones(3)).tolist() \
        == [63.0, 62.0, 62.0]


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumlogsumexp_values_derivatives(axis, reverse):
    x = np.random.default_rng(8).normal(size=(3, 5)) * 4
    want = np.logaddexp.accumulate(np.flip(x, axis) if reverse else x, axis=axis)
    want = np.flip(want, axis) if reverse else want
    for f in (lax.cumlogsumexp, ft.jit(lax.cumlogsumexp, static_argnums=(1, 2))):
        np.testing.assert_allclose(np.asarray(f(x, axis, reverse)), want, rtol=1e-12)
    check_grads(lambda v: lax.cumlogsumexp(v, axis, reverse), (x,), order=2,
                modes=("fwd", "rev"))
    if jax is not None:
        x32 = x.astype(np.float32)
        theirs = jax.grad(lambda v: jnp.sum(jnp.sin(jlax.cumlogsumexp(v, axis % 2, reverse))))(x32)
        ours = ft.grad(lambda v: fnp.sum(fnp.sin(lax.cumlogsumexp(v, axis, reverse))))(x32)
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=2e-4, atol=1e-6)


def test_cumlogsumexp_wide_range_and_batching():
    """No overflow or underflow where exp would (the tangent's weights lie in [0, 1])."""
    x = np.array([-1000.0, 0.0, 1000.0, 999.0])
    np.testing.assert_allclose(np.asarray(lax.cumlogsumexp(x)),
                               [-1000.0, 0.0, 1000.0, np.logaddexp(1000.0, 999.0)])
    g = ft.grad(lambda v: lax.cumlogsumexp(v)[-1])(x)
    want = [0.0, 0.0, 1 / (1 + np.exp(-1.0)), 1 / (1 + np.exp(1.0))]
    np.testing.assert_allclose(np.asarray(g), want, rtol=1e-12)
    y = np.random.default_rng(9).normal(size=(4, 3, 5))
    for in_axis in (0, 1, 2):
        got = ft.vmap(lambda v: lax.cumlogsumexp(v, 1, True), in_axes=in_axis)(y)
        want = np.stack([np.asarray(lax.cumlogsumexp(r, 1, True))
                         for r in np.moveaxis(y, in_axis, 0)])
        np.testing.assert_array_equal(np.asarray(got), want)
    with pytest.raises(TypeError, match="floating"):
        lax.cumlogsumexp(np.arange(3))
    with pytest.raises(ValueError, match="axis"):
        lax.cumlogsumexp(np.ones(3), axis=1)


def test_iota_is_an_equation_folded_by_the_compiler():
    """`iota` stages an equation (as JAX's) and compiled code still reads a constant for a
    small one; eagerly it is an Array; inside loops and vmap it stays unbatched."""
    f = ft.jit(lambda x: lax.iota(np.int32, 4) * x)
    text = f.lower(np.int32(3)).as_text()
    assert "iota[" in text.split("# optimized jaxpr")[0]
    assert "iota" not in text.split("# optimized jaxpr")[1]
    np.testing.assert_array_equal(np.asarray(f(np.int32(3))), [0, 3, 6, 9])
    assert type(lax.iota(np.int32, 3)) is ft.Array
    assert [e.primitive.name for e in ft.make_jaxpr(fnp.argsort)(fnp.ones(3)).jaxpr.eqns] == [
        "iota", "sort"]
    np.testing.assert_array_equal(np.asarray(lax.broadcasted_iota(np.int8, (2, 3), 0)),
                                  [[0, 0, 0], [1, 1, 1]])
    step = ft.jit(lambda c, x: (c + lax.iota(np.float32, 3) * x, None))
    out, _ = lax.scan(step, fnp.zeros(3), fnp.arange(4.0))
    np.testing.assert_array_equal(np.asarray(out), [0.0, 6.0, 12.0])
    got = ft.jit(ft.vmap(lambda x: lax.broadcasted_iota(np.float32, (2, 2), 1) + x))(
        fnp.arange(3.0))
    np.testing.assert_array_equal(np.asarray(got), np.arange(3.0)[:, None, None] + [[0, 1]] * 2)
    assert float(ft.grad(lambda x: fnp.sum(lax.iota(np.float32, 3) * x))(2.0)) == 3.0


@pytest.mark.parametrize("which, cases", [
    (np.array([True, False, True]), (np.array([1, 2, 3]), np.array([4, 5, 6]))),
    (np.array([0, 1, 2, 1]), (np.arange(4.0), np.arange(4.0) + 10, np.arange(4.0) + 20)),
    (np.array([0, 1, 2], np.uint8), (np.arange(3), np.arange(3) + 10, np.arange(3) + 20)),
    (np.array([-1, 5, 1]), (np.arange(3), np.arange(3) + 10)),      # clamped into range
    (True, (1.0, 2.0))])
def test_select_n_order_and_semantics(which, cases):
    """`cases[which]`: a bool picks cases[0] where false, cases[1] where true (JAX's order,
    unlike `select(pred, on_true, on_false)`); integers index, out of range clamped (as JAX's
    CPU lowering)."""
    idx = np.clip(np.asarray(which).astype(np.int64), 0, len(cases) - 1)
    want = np.choose(idx, np.broadcast_arrays(*cases))
    for f in (lax.select_n, ft.jit(lax.select_n)):
        got = f(which, *cases)
        np.testing.assert_array_equal(np.asarray(got), want)
    if jax is not None:
        np.testing.assert_array_equal(np.asarray(jlax.select_n(which, *cases)), want)
    with pytest.raises(ValueError, match="2 cases"):
        lax.select_n(np.array([True]), np.ones(1), np.ones(1), np.ones(1))
