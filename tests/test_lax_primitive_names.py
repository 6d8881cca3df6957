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

jax = pytest.importorskip("jax")
jnp, jlax = jax.numpy, jax.lax

# jax.lax's primitive objects that ft.lax does not have (functrans computes these from other
# primitives, or has no such operation); a name leaving JAX or arriving in ft.lax must be
# taken off this list
NOT_IN_FT_LAX = {
    "after_all_p", "approx_top_k_p", "clz_p", "conv_general_dilated_p", "copy_p",
    "create_token_p", "cumlogsumexp_p", "dce_sink_p", "eq_to_p", "igamma_grad_a_p", "iota_p",
    "le_to_p", "lt_to_p", "mulhi_p", "optimization_barrier_p", "ragged_all_to_all_p",
    "reduce_p", "reduce_precision_p", "reduce_window_min_p", "reduce_window_p",
    "scatter_sub_p", "select_and_gather_add_p", "select_and_scatter_add_p",
    "select_and_scatter_p", "select_n_p", "sharding_constraint_p", "shift_right_arithmetic_p",
    "shift_right_logical_p", "split_p", "squeeze_p", "stack_p", "stage_p", "tile_p",
    "unstack_p",
}


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


# ------------------------------------------------------------------ top_k
def test_top_k_jaxpr_as_jax():
    for shape, k, axis in (((5,), 2, -1), ((2, 3), 1, 0), ((2, 3, 4), 3, 1)):
        x = np.ones(shape, np.float32)
        ours = _eqns(ft.make_jaxpr(lambda v: lax.top_k(v, k, axis=axis))(fnp.asarray(x)).jaxpr)
        theirs = _eqns(jax.make_jaxpr(lambda v: jlax.top_k(v, k, axis=axis))(x).jaxpr)
        assert ours == theirs == [("top_k", {"k": k, "axis": axis % len(shape)})]


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
