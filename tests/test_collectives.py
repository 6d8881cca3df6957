"""Collectives over named vmap axes: ft.lax.psum/pmean/pmax/pmin/all_gather/psum_scatter/
axis_index, with nested vmaps, tuples of names, jit on either side, and derivatives."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.test_util import check_grads

RNG = np.random.default_rng(0)


def arr(*shape):
    return fnp.asarray(RNG.standard_normal(shape))


def close(a, b, rtol=1e-10, atol=1e-12):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def per_lane(f, x, name="i"):
    """`f` under vmap with an axis name, eagerly, under jit outside and inside."""
    return [ft.vmap(f, axis_name=name)(x), ft.jit(ft.vmap(f, axis_name=name))(x),
            ft.vmap(ft.jit(f), axis_name=name)(x)]


def test_reductions():
    x = arr(5, 3)
    X = np.asarray(x)
    for got in per_lane(lambda v: lax.psum(v, "i"), x):
        close(got, np.broadcast_to(X.sum(0), X.shape))
    for got in per_lane(lambda v: v - lax.pmean(v, "i"), x):
        close(got, X - X.mean(0))
    for got in per_lane(lambda v: lax.pmax(v, "i") + lax.pmin(v, "i"), x):
        close(got, np.broadcast_to(X.max(0) + X.min(0), X.shape))
    for got in per_lane(lambda v: v * lax.axis_index("i"), x):
        close(got, X * np.arange(5)[:, None])


def test_pytrees_and_unbatched_values():
    x = arr(4, 2)
    out = ft.vmap(lambda v: lax.psum({"a": v, "b": (1.0, v * 2)}, "i"), axis_name="i")(x)
    close(out["a"][0], np.asarray(x).sum(0))
    close(out["b"][0], np.full(4, 4.0))             # an unbatched value: size * value
    close(out["b"][1][2], 2 * np.asarray(x).sum(0))
    # a value the same in every lane, under jit inside the vmap
    c = arr(2)
    got = ft.vmap(lambda v, w: ft.jit(lambda w: lax.psum(w, "i"))(w) + 0 * v,
                  in_axes=(0, None), axis_name="i")(x, c)
    close(got, np.broadcast_to(4 * np.asarray(c), (4, 2)))
    # and inside a custom_vjp function
    total = ft.custom_vjp(lambda w: lax.psum(w, "i"))
    total.defvjp(lambda w: (total(w), None), lambda _, ct: (ct,))
    got = ft.vmap(lambda v, w: total(w) + 0 * v, in_axes=(0, None), axis_name="i")(x, c)
    close(got, np.broadcast_to(4 * np.asarray(c), (4, 2)))


def test_gather_and_scatter():
    x = arr(3, 2)
    X = np.asarray(x)
    for got in per_lane(lambda v: lax.all_gather(v, "i"), x):
        close(got, np.broadcast_to(X, (3, 3, 2)))
    got = ft.vmap(lambda v: lax.all_gather(v, "i", axis=1), axis_name="i")(x)
    close(got[0], X.T)
    got = ft.vmap(lambda v: lax.all_gather(v, "i", tiled=True), axis_name="i")(x)
    close(got[1], X.reshape(-1))
    # psum_scatter: lane i gets block i of the total
    y = arr(3, 3, 2)
    for got in per_lane(lambda v: lax.psum_scatter(v, "i"), y):
        close(got, np.asarray(y).sum(0))
    got = ft.vmap(lambda v: lax.psum_scatter(v, "i", scatter_dimension=1, tiled=True),
                  axis_name="i")(arr(3, 2, 6))
    assert got.shape == (3, 2, 2)
    # all_gather then psum_scatter is the sum over lanes (size * x for each lane)
    got = ft.vmap(lambda v: lax.psum_scatter(lax.all_gather(v, "i"), "i"), axis_name="i")(x)
    close(got, 3 * X)


def test_nested_vmaps_with_different_names_and_tuples():
    x = arr(2, 3, 4)
    X = np.asarray(x)

    def f(v):
        return (lax.psum(v, "inner"), lax.psum(v, "outer"), lax.psum(v, ("outer", "inner")),
                lax.all_gather(v, ("outer", "inner")), lax.axis_index("outer"))
    for g in [ft.vmap(ft.vmap(f, axis_name="inner"), axis_name="outer"),
              ft.jit(ft.vmap(ft.vmap(f, axis_name="inner"), axis_name="outer")),
              ft.vmap(ft.jit(ft.vmap(f, axis_name="inner")), axis_name="outer")]:
        inner, outer, both, gathered, idx = g(x)
        close(inner, np.broadcast_to(X.sum(1, keepdims=True), X.shape))
        close(outer, np.broadcast_to(X.sum(0, keepdims=True), X.shape))
        close(both, np.broadcast_to(X.sum((0, 1), keepdims=True), X.shape))
        close(gathered[1, 2], X.reshape(6, 4))       # outer-major order
        close(idx, np.broadcast_to(np.arange(2)[:, None], (2, 3)))


def test_collectives_inside_control_flow():
    x = arr(4, 3)
    X = np.asarray(x)

    def f(v):
        # the loop body normalizes across lanes each iteration
        return lax.fori_loop(0, 3, lambda i, h: h - lax.pmean(h, "i") + 1.0, v)
    want = X - X.mean(0) + 1.0
    for g in [ft.vmap(f, axis_name="i"), ft.jit(ft.vmap(f, axis_name="i"))]:
        close(g(x), want)
    # the body uses a collective on a value that is the same in every lane
    c = arr(3)
    g = ft.jit(ft.vmap(lambda v: lax.scan(lambda h, _: (h + lax.psum(c, "i"), None), v, None,
                                          length=2)[0], axis_name="i"))
    close(g(x), X + 2 * 4 * np.asarray(c))


def test_derivatives_transpose_the_whole_batch():
    x = arr(4)

    # grad inside vmap differentiates the sum over lanes (psum transposes to psum), as JAX's
    # vmap does
    close(ft.vmap(ft.grad(lambda v: lax.psum(v, "i")), axis_name="i")(x), np.full(4, 4.0))
    close(ft.vmap(ft.grad(lambda v: lax.psum(v ** 2, "i")), axis_name="i")(x),
          4 * 2 * np.asarray(x))

    def f(v):
        return fnp.sin(v) * lax.pmean(v ** 2, "i") + lax.pmax(v, "i") * v

    batched = ft.vmap(f, axis_name="i")
    check_grads(batched, (x,), order=2, modes=("fwd", "rev"))
    check_grads(ft.jit(batched), (x,), order=2, modes=("fwd", "rev"))
    # vmap of vjp is the transpose of vmap of jvp: <J t, c> == <t, J^T c> lane by lane summed
    t, c = arr(4), arr(4)
    jt = ft.vmap(lambda v, tv: ft.jvp(f, (v,), (tv,))[1], axis_name="i")(x, t)
    jtc = ft.vmap(lambda v, cv: ft.vjp(f, v)[1](cv)[0], axis_name="i")(x, c)
    close(np.dot(np.asarray(jt), np.asarray(c)), np.dot(np.asarray(t), np.asarray(jtc)))
    # all_gather / psum_scatter
    g = ft.vmap(lambda v: fnp.sum(lax.all_gather(v, "i") ** 2 * fnp.arange(4.0)), axis_name="i")
    check_grads(g, (x,), order=2, modes=("fwd", "rev"))
    s = ft.vmap(lambda v: lax.psum_scatter(fnp.sin(v), "i"), axis_name="i")
    check_grads(s, (arr(4, 4),), order=1, modes=("fwd", "rev"))


def test_data_parallel_training_step_matches_the_full_batch_gradient():
    rng = np.random.default_rng(3)
    w = fnp.asarray(rng.standard_normal((5, 2)))
    x, y = fnp.asarray(rng.standard_normal((8, 5))), fnp.asarray(rng.standard_normal((8, 2)))

    def loss(w, x, y):
        return fnp.mean((x @ w - y) ** 2)

    @ft.jit
    def step(w, x, y):
        grads = ft.vmap(lambda xb, yb: lax.pmean(ft.grad(loss)(w, xb, yb), "batch"),
                        axis_name="batch")(x, y)
        return grads[0]
    full = ft.grad(lambda w: fnp.mean(ft.vmap(lambda a, b: loss(w, a, b))(x, y)))(w)
    close(step(w, x, y), full)


def test_jit_retraces_for_a_new_axis_size():
    f = ft.jit(lambda v: lax.pmean(v, "i") + lax.all_gather(v, "i").shape[0])
    g = ft.vmap(lambda v: f(v), axis_name="i")
    close(g(fnp.arange(4.0)), np.full(4, 1.5 + 4))
    close(g(fnp.arange(6.0)), np.full(6, 2.5 + 6))
    assert f.cache_info().misses == 2


def test_jit_with_no_mapped_argument_still_runs_in_each_lane():
    """A jitted function whose arguments are all the same in every lane still runs under
    the vmap whose name it uses (JAX's behaviour): its collectives see the lanes."""
    x = fnp.arange(3.0)
    lane = ft.jit(lambda y: lax.axis_index("i") + y)
    total = ft.jit(lambda y: lax.psum(y, "i"))
    shuffled = ft.jit(lambda y: lax.pshuffle(y * lax.axis_index("i"), "i", [1, 2, 0]))
    for outer in (ft.vmap, lambda f, **kw: ft.jit(ft.vmap(f, **kw))):
        close(outer(lambda a, y: lane(y) + a, in_axes=(0, None), axis_name="i")(x, 1.0),
              [1.0, 3.0, 5.0])
        close(outer(lambda a, y: total(y) + a, in_axes=(0, None), axis_name="i")(x, 2.0),
              [6.0, 7.0, 8.0])
        close(outer(lambda a, y: shuffled(y) + a, in_axes=(0, None), axis_name="i")(x, 2.0),
              [2.0, 5.0, 2.0])       # lane i gets lane perm[i]'s value
    # the derivative of psum(y) * a in y, summed over the lanes: 3 * sum(a)
    close(ft.grad(lambda y: ft.vmap(lambda a: total(y) * a, axis_name="i")(x).sum())(2.0),
          9.0)
    # a jitted function using no axis name keeps running once, unbatched
    plain = ft.jit(lambda y: y * 2)
    close(ft.vmap(lambda a, y: plain(y) + a, in_axes=(0, None), axis_name="i")(x, 1.0),
          [2.0, 3.0, 4.0])


def test_errors():
    with pytest.raises(NameError, match="axis name 'j'.*bound here are \\['i'\\]"):
        ft.vmap(lambda v: lax.psum(v, "j"), axis_name="i")(arr(3))
    with pytest.raises(NameError, match="no axis name is bound"):
        lax.psum(arr(3), "i")
    with pytest.raises(TypeError, match="axis_name must be"):
        ft.vmap(lambda v: lax.psum(v, 0), axis_name="i")(arr(3))
    with pytest.raises(ValueError, match="psum_scatter: axis 0 of shape"):
        ft.vmap(lambda v: lax.psum_scatter(v, "i"), axis_name="i")(arr(3, 2))
