"""ft.vmap: the API (in_axes/out_axes pytrees, None, negative axes, kwargs, axis_size),
nesting, errors, hypothesis-drawn programs against Python loops, per-example gradients and
Jacobians, and the call primitives (jit, custom_vjp, custom_jvp, checkpoint) under vmap."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import functrans as ft
import functrans.numpy as fnp

RNG = np.random.default_rng(0)


def arr(*shape):
    return fnp.asarray(RNG.standard_normal(shape))


def close(a, b, rtol=1e-10, atol=1e-12):
    a_leaves, a_tree = ft.tree_flatten(a)
    b_leaves, b_tree = ft.tree_flatten(b)
    assert a_tree == b_tree, (a_tree, b_tree)
    for x, y in zip(a_leaves, b_leaves):
        assert np.shape(x) == np.shape(y), (np.shape(x), np.shape(y))
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


# =================================================================== API
def test_in_axes_forms():
    x, y = arr(4, 3), arr(3, 4)
    f = lambda a, b: fnp.sin(a) * b  # noqa: E731
    want = fnp.stack([f(x[i], y[:, i]) for i in range(4)])
    close(ft.vmap(f, in_axes=(0, 1))(x, y), want)
    close(ft.vmap(f, in_axes=[0, -1])(x, y), want)           # list, negative axis
    close(ft.vmap(f, in_axes=(0, None))(x, y[:, 0]),
          fnp.stack([f(x[i], y[:, 0]) for i in range(4)]))
    # a pytree prefix: a dict with per-leaf axes
    g = lambda p, z: p["w"] * z + p["b"]  # noqa: E731
    p = {"w": arr(3, 4), "b": arr(3)}
    got = ft.vmap(g, in_axes=({"w": 1, "b": None}, 0))(p, x)
    close(got, fnp.stack([g({"w": p["w"][:, i], "b": p["b"]}, x[i]) for i in range(4)]))
    # keyword arguments are mapped over axis 0
    close(ft.vmap(lambda a, *, b: a + b)(x, b=x), x + x)


def test_out_axes_forms():
    x = arr(4, 3)
    f = lambda a: (a, fnp.sum(a))  # noqa: E731
    a, s = ft.vmap(f, out_axes=(1, 0))(x)
    close(a, x.T)
    close(s, fnp.sum(x, axis=1))
    close(ft.vmap(lambda a: a * 2, out_axes=-1)(x), (x * 2).T)
    b, c = ft.vmap(lambda a, k: (a * k, k * 2), in_axes=(0, None), out_axes=(0, None))(x, 3.0)
    close(b, x * 3.0)
    assert float(c) == 6.0
    # an unmapped output with a mapped out_axes is broadcast
    close(ft.vmap(lambda a: fnp.ones(2), out_axes=1)(x), fnp.ones((2, 4)))


def test_axis_size_when_nothing_is_mapped():
    out = ft.vmap(lambda: fnp.ones(2), in_axes=(), axis_size=3)()
    close(out, fnp.ones((3, 2)))


def test_nested_vmaps():
    x = arr(2, 3, 4)
    f = lambda v: fnp.sum(fnp.sin(v) * v)  # noqa: E731
    close(ft.vmap(ft.vmap(f))(x), fnp.sum(fnp.sin(x) * x, axis=2))
    close(ft.vmap(ft.vmap(f, in_axes=1), in_axes=2)(x),
          np.stack([[f(np.asarray(x)[:, i, k]) for i in range(3)] for k in range(4)]))
    # an inner vmap over an unbatched argument closed over by the outer one
    w = arr(4)
    got = ft.vmap(lambda row: ft.vmap(lambda u: fnp.dot(u, w) * row[0, 0])(row))(x)
    close(got, np.einsum("abk,k->ab", np.asarray(x), np.asarray(w)) * np.asarray(x)[:, :1, 0])


# =================================================================== errors
def test_error_batch_sizes_name_the_arguments():
    with pytest.raises(ValueError, match=r"size 3: args\[0\] \(axis 0.*size 4: args\[1\]\['b'\]"):
        ft.vmap(lambda a, d: a)(arr(3, 2), {"b": arr(4)})


def test_error_in_axes_structure_names_the_path():
    with pytest.raises(ValueError, match=r"in_axes.*does not match.*at \[0\]\[1\]"):
        ft.vmap(lambda p: p, in_axes=((0, (0, 0)),))((arr(2), arr(2)))


def test_error_out_axes_none_for_a_varying_output():
    with pytest.raises(ValueError, match=r"output\[1\]\['y'\] of .* varies across the batch"):
        ft.vmap(lambda a: (a, {"y": a * 2}), out_axes=(0, {"y": None}))(arr(3))


def test_error_axis_out_of_range_and_scalars():
    with pytest.raises(ValueError, match=r"in_axes 2 for args\[0\].*shape \(3, 2\)"):
        ft.vmap(lambda a: a, in_axes=2)(arr(3, 2))
    with pytest.raises(ValueError, match="is a scalar"):
        ft.vmap(lambda a: a)(fnp.asarray(1.0))
    with pytest.raises(ValueError, match="in_axes has 2 entries"):
        ft.vmap(lambda a: a, in_axes=(0, 0))(arr(3))
    with pytest.raises(ValueError, match="out_axes 3 is out of range"):
        ft.vmap(lambda a: a, out_axes=3)(arr(3, 2))


def test_error_data_dependent_python_control_flow_suggests_lax():
    with pytest.raises(ft.ConcretizationError, match="cond"):
        ft.vmap(lambda a: a if a > 0 else -a)(arr(3))


# =================================================================== property tests
UNARY = [fnp.sin, fnp.tanh, lambda v: v * v, lambda v: fnp.exp(fnp.tanh(v)),
         lambda v: fnp.cumsum(v, axis=-1), lambda v: v[..., ::-1],
         lambda v: v - fnp.max(v, axis=-1, keepdims=True),
         lambda v: fnp.concatenate([v, v * 2], axis=-1)[..., 1:1 + v.shape[-1]],
         lambda v: fnp.where(v > 0, v, 0.1 * v), lambda v: v.T.T]


def program(ops, w):
    def f(x, y):
        h = x
        for kind, k in ops:
            if kind == "unary":
                h = UNARY[k](h)
            elif kind == "matmul":
                h = fnp.tanh(h @ w)
            elif kind == "add":
                h = h + y
            elif kind == "reduce":
                h = h - fnp.mean(h, axis=-1, keepdims=True)
        return h, fnp.sum(h * y)
    return f


ops_strategy = st.lists(st.tuples(st.sampled_from(["unary", "matmul", "add", "reduce"]),
                                  st.integers(0, len(UNARY) - 1)), min_size=1, max_size=5)


def stacked(pairs):
    return tuple(fnp.stack([p[k] for p in pairs]) for k in range(2))


@given(ops=ops_strategy, rows=st.integers(1, 3), batch=st.integers(1, 4),
       axis=st.sampled_from([0, 1, 2]), y_mapped=st.booleans(), seed=st.integers(0, 10_000))
def test_property_vmap_equals_loop(ops, rows, batch, axis, y_mapped, seed):
    """An example is a (rows, 3) matrix; the batch axis is first, in the middle or last."""
    rng = np.random.default_rng(seed)
    f = program(ops, fnp.asarray(rng.standard_normal((3, 3)) * 0.5))
    shape = [rows, 3]
    shape.insert(axis, batch)
    x = fnp.asarray(rng.standard_normal(shape))
    y = fnp.asarray(rng.standard_normal((batch, 3) if y_mapped else (3,)))
    in_axes = (axis, 0 if y_mapped else None)
    xb = fnp.moveaxis(x, axis, 0)
    want = stacked([f(xb[b], y[b] if y_mapped else y) for b in range(batch)])
    close(ft.vmap(f, in_axes=in_axes)(x, y), want, rtol=1e-9, atol=1e-10)
    close(ft.jit(ft.vmap(f, in_axes=in_axes))(x, y), want, rtol=1e-9, atol=1e-10)
    # vmap of vmap: the inner one over the rows of each example
    nested = ft.vmap(ft.vmap(f, in_axes=(0, None)), in_axes=in_axes)
    want = [stacked([f(xb[b][r], y[b] if y_mapped else y) for r in range(rows)])
            for b in range(batch)]
    close(nested(x, y), tuple(fnp.stack([w[k] for w in want]) for k in range(2)),
          rtol=1e-9, atol=1e-10)


@given(ops=ops_strategy, batch=st.integers(1, 4), seed=st.integers(0, 10_000))
def test_property_per_example_gradients(ops, batch, seed):
    rng = np.random.default_rng(seed)
    w = fnp.asarray(rng.standard_normal((3, 3)) * 0.5)
    f = program(ops, w)

    def loss(w, x, y):
        return program(ops, w)(x, y)[1]
    xs = fnp.asarray(rng.standard_normal((batch, 3)))
    ys = fnp.asarray(rng.standard_normal((batch, 3)))
    want = fnp.stack([ft.grad(loss)(w, xs[i], ys[i]) for i in range(batch)])
    per_example = ft.vmap(ft.grad(loss), in_axes=(None, 0, 0))
    close(per_example(w, xs, ys), want, rtol=1e-9, atol=1e-10)
    close(ft.jit(per_example)(w, xs, ys), want, rtol=1e-9, atol=1e-10)
    del f


@given(ops=ops_strategy, seed=st.integers(0, 10_000))
def test_property_jacfwd_equals_jacrev(ops, seed):
    rng = np.random.default_rng(seed)
    w = fnp.asarray(rng.standard_normal((3, 3)) * 0.5)
    y = fnp.asarray(rng.standard_normal(3))
    f = lambda x: program(ops, w)(x, y)[0]  # noqa: E731
    x = fnp.asarray(rng.standard_normal((2, 3)))
    close(ft.jacrev(f)(x), ft.jacfwd(f)(x), rtol=1e-9, atol=1e-10)


def test_nested_vmaps_with_axes_and_out_axes():
    x, u = arr(3, 4, 2), arr(4, 5)
    f = lambda v, m: fnp.tanh(v) @ m  # noqa: E731
    got = ft.vmap(ft.vmap(f, in_axes=(1, None)), in_axes=(0, None))(x, u)
    close(got, np.stack([[np.asarray(f(x[i, :, j], u)) for j in range(2)] for i in range(3)]))
    c = arr(5, 2)
    g = lambda v, c: fnp.sum(fnp.tanh(v)) * c  # noqa: E731
    got = ft.vmap(ft.vmap(g, in_axes=(0, None)), in_axes=(2, 1), out_axes=1)(x, c)
    want = np.stack([[np.asarray(g(x[i, :, k], c[:, k])) for k in range(2)] for i in range(3)])
    close(got, want)


# =================================================================== gradients and Jacobians
def test_per_example_gradients_of_the_two_layer_net():
    rng = np.random.default_rng(1)
    x, y = fnp.asarray(rng.standard_normal((8, 10))), fnp.asarray(rng.standard_normal((8, 2)))
    params = (fnp.asarray(rng.standard_normal((10, 5))), fnp.asarray(rng.standard_normal((5, 2))))

    def loss(p, x, y):
        return fnp.sum((fnp.maximum(x @ p[0], 0) @ p[1] - y) ** 2)
    per_ex = ft.jit(ft.vmap(ft.grad(loss), in_axes=(None, 0, 0)))(params, x, y)
    for i in range(8):
        close(tuple(g[i] for g in per_ex), ft.grad(loss)(params, x[i], y[i]))
    # their sum is the gradient of the summed loss
    total = ft.grad(lambda p: sum(loss(p, x[i], y[i]) for i in range(8)))(params)
    close(tuple(g.sum(0) for g in per_ex), total, rtol=1e-9)


def test_jacobians_built_on_vmap():
    x = arr(3)
    f = lambda v: fnp.stack([fnp.sin(v[0]) * v[1], v[2] ** 2, fnp.sum(v)])  # noqa: E731
    j = np.array([[np.cos(x[0]) * x[1], np.sin(x[0]), 0], [0, 0, 2 * x[2]], [1, 1, 1]],
                 dtype=float)
    close(ft.jacfwd(f)(x), j)
    close(ft.jacrev(f)(x), j)
    close(ft.vmap(ft.jacrev(f))(fnp.stack([x, x])), np.stack([j, j]))


# =================================================================== call primitives
@ft.custom_vjp
def clipped_sq(x):
    return x ** 2


clipped_sq.defvjp(lambda x: (x ** 2, x), lambda x, g: (fnp.clip(2 * x * g, -1.0, 1.0),))


@ft.custom_jvp
def soft(x):
    return fnp.log1p(fnp.exp(x))


@soft.defjvp
def _soft_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return soft(x), t / (1 + fnp.exp(-x))


@ft.checkpoint
def remat_block(x, w):
    return fnp.sin(x @ w) * x


CALLS = [("jit", ft.jit(lambda x, w: fnp.tanh(x @ w))),
         ("custom_vjp", lambda x, w: clipped_sq(x @ w)),
         ("custom_jvp", lambda x, w: soft(x @ w)),
         ("checkpoint", remat_block)]


@pytest.mark.parametrize("name,f", CALLS, ids=[c[0] for c in CALLS])
def test_call_primitives_under_vmap(name, f):
    xs, w = arr(4, 3), arr(3, 3)
    want = fnp.stack([f(x, w) for x in xs])
    close(ft.vmap(f, in_axes=(0, None))(xs, w), want)
    close(ft.jit(ft.vmap(f, in_axes=(0, None)))(xs, w), want)
    # batched weights too, and over a non-leading axis
    ws = arr(3, 4, 3)
    close(ft.vmap(f, in_axes=(0, 1))(xs, ws), fnp.stack([f(xs[i], ws[:, i]) for i in range(4)]))
    # per-example gradients through the call
    loss = lambda w, x: fnp.sum(f(x, w))  # noqa: E731
    want_g = fnp.stack([ft.grad(loss)(w, x) for x in xs])
    close(ft.vmap(ft.grad(loss), in_axes=(None, 0))(w, xs), want_g)
    close(ft.jit(ft.vmap(ft.grad(loss), in_axes=(None, 0)))(w, xs), want_g)
    # grad of vmap, and forward mode under vmap
    close(ft.grad(lambda w: fnp.sum(ft.vmap(f, in_axes=(0, None))(xs, w)))(w), want_g.sum(0),
          rtol=1e-9)
    t = arr(3, 3)
    jv = ft.vmap(lambda x: ft.jvp(lambda w: f(x, w), (w,), (t,))[1])(xs)
    close(jv, fnp.stack([ft.jvp(lambda w: f(x, w), (w,), (t,))[1] for x in xs]))
