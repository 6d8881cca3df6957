"""Properties of the transforms on hypothesis-drawn programs: random compositions of
primitives (elementwise, broadcasting, reductions, products, indexing, scans, updates) on an
(n, m) input, checked for

    jacfwd == jacrev, <J t, c> == <t, J^T c>, grad and hessian vs finite differences,
    vmap(f)(xs) == stack(f(x)), vmap(grad) == loop of grads, jit(f) == f,
    grad(jit(f)) == grad(f), jit(grad(f)) == grad(f),

and the same with pytree (dict / tuple / namedtuple) arguments through every transform.
"""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st, HealthCheck

import functrans as ft
import functrans.numpy as fnp
import functrans.scipy.special as fsp
from functrans import testing as ftst
from functrans.test_util import check_grads, numerical_jvp

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOL = dict(rtol=1e-9, atol=1e-10)

# every step maps (n, m) arrays to an (n, m) array, so steps compose freely
UNARY = {
    "sin": fnp.sin, "tanh": fnp.tanh, "expit": fsp.expit,
    "half_square": lambda x: 0.5 * x * x, "softplus": lambda x: fnp.logaddexp(x, 0.0),
    "exp_tanh": lambda x: fnp.exp(fnp.tanh(x)), "cos": fnp.cos,
    "centered": lambda x: x - fnp.mean(x, axis=-1, keepdims=True),
    "softmax": lambda x: fsp.softmax(x, axis=0),
    "cumsum": lambda x: 0.3 * fnp.cumsum(x, axis=1),
    "cumprod": lambda x: fnp.cumprod(fnp.tanh(x), axis=0),
    "flip": lambda x: x[::-1, ::-1],
    "roll": lambda x: fnp.roll(x, 1, axis=1),
    "gather": lambda x: x[np.array([-1] + list(range(x.shape[0] - 1)))],
    "row_norm": lambda x: x / fnp.sqrt(1.0 + fnp.sum(x * x, axis=1, keepdims=True)),
    "matmul": lambda x: fnp.tanh(x @ np.linspace(-1, 1, x.shape[1] ** 2).reshape(
        x.shape[1], x.shape[1])),
    "einsum": lambda x: 0.5 * fnp.einsum("ij,kj->ik", x, x)[:, :1] * x,
    "pad_slice": lambda x: fnp.pad(x, ((1, 1), (0, 0)), mode="reflect")[1:-1] * 0.9,
    "prod": lambda x: fnp.prod(fnp.tanh(x), axis=0, keepdims=True) + x,
}
BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "scatter_add": lambda a, b: a.at[0].add(b[-1]),
    "update": lambda a, b: a.at[:, :1].set(b[:, -1:] * 0.5),
    "hypot": lambda a, b: fnp.hypot(a, 1.0 + 0.1 * b),
}


@st.composite
def programs(draw):
    """A list of steps `(name, operand indices)`; value 0 is the input."""
    steps = []
    for k in range(draw(st.integers(1, 5))):
        if draw(st.booleans()):
            steps.append((draw(st.sampled_from(sorted(UNARY))), (draw(st.integers(0, k)),)))
        else:
            steps.append((draw(st.sampled_from(sorted(BINARY))),
                          (draw(st.integers(0, k)), draw(st.integers(0, k)))))
    return steps


def run(steps, x):
    values = [x]
    for name, args in steps:
        fn = UNARY.get(name) or BINARY[name]
        values.append(fn(*[values[i] for i in args]))
    return values[-1]


@st.composite
def cases(draw):
    n, m = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    steps = draw(programs())
    x = draw(ftst.arrays(np.float64, (n, m), -1.5, 1.5))
    return steps, x


def scalar(steps):
    return lambda x: fnp.sum(run(steps, x) * np.linspace(0.5, 1.5, x.size).reshape(x.shape))


def close(a, b, **tol):
    ft.tree_map(lambda u, v: np.testing.assert_allclose(np.asarray(u), np.asarray(v),
                                                        **(tol or TOL)), a, b)


@SETTINGS
@given(case=cases())
def test_jacfwd_equals_jacrev(case):
    steps, x = case
    f = lambda x: run(steps, x)                                 # noqa: E731
    close(ft.jacfwd(f)(x), ft.jacrev(f)(x))


@SETTINGS
@given(case=cases(), seed=st.integers(0, 2**16))
def test_vjp_is_the_transpose_of_jvp(case, seed):
    steps, x = case
    f = lambda x: run(steps, x)                                 # noqa: E731
    rng = np.random.default_rng(seed)
    t = rng.standard_normal(x.shape)
    out, jt = ft.jvp(f, (x,), (t,))
    c = rng.standard_normal(np.shape(out))
    _, pullback = ft.vjp(f, x)
    jtc, = pullback(c)
    np.testing.assert_allclose(np.sum(np.asarray(jt) * c), np.sum(t * np.asarray(jtc)),
                               rtol=1e-9, atol=1e-10)


@SETTINGS
@given(case=cases())
def test_grad_and_hessian_match_finite_differences(case):
    steps, x = case
    g = scalar(steps)
    check_grads(g, (x,), order=2, modes=("fwd", "rev"))
    h = np.asarray(ft.hessian(g)(x)).reshape(x.size, x.size)
    eye = np.eye(x.size)
    numeric = np.stack([np.asarray(numerical_jvp(ft.grad(g), (x,),
                                                 (eye[i].reshape(x.shape),), 1e-5)).ravel()
                        for i in range(x.size)])
    np.testing.assert_allclose(h, numeric, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, h.T, rtol=1e-9, atol=1e-10)
    close(ft.jacrev(ft.grad(g))(x), ft.hessian(g)(x))
    along_first = lambda s: g(x.at[0, 0].set(s))                # noqa: E731
    close(ft.grad(ft.grad(along_first))(x[0, 0]), h[0, 0])


@SETTINGS
@given(case=cases(), batch=st.integers(1, 3), data=st.data())
def test_vmap_equals_a_loop(case, batch, data):
    steps, x = case
    xs = [x] + [data.draw(ftst.arrays(np.float64, x.shape, -1.5, 1.5)) for _ in range(batch - 1)]
    f = lambda x: run(steps, x)                                 # noqa: E731
    axis = data.draw(st.integers(0, 2))
    stacked = fnp.stack(xs, axis=axis)
    close(ft.vmap(f, in_axes=axis)(stacked), np.stack([np.asarray(f(v)) for v in xs]))
    g = scalar(steps)
    close(ft.vmap(ft.grad(g), in_axes=axis)(stacked),
          np.stack([np.asarray(ft.grad(g)(v)) for v in xs]))
    # an unbatched operand mixed in
    h = lambda x, y: run(steps, x) * y                          # noqa: E731
    close(ft.vmap(h, in_axes=(axis, None))(stacked, xs[0]),
          np.stack([np.asarray(h(v, xs[0])) for v in xs]))


@SETTINGS
@given(case=cases())
def test_jit_commutes_with_grad(case):
    steps, x = case
    f = lambda x: run(steps, x)                                 # noqa: E731
    g = scalar(steps)
    close(ft.jit(f)(x), f(x))
    close(ft.grad(ft.jit(g))(x), ft.grad(g)(x))
    close(ft.jit(ft.grad(g))(x), ft.grad(g)(x))
    close(ft.jit(ft.vmap(ft.grad(g)))(fnp.stack([x, -x])),
          fnp.stack([ft.grad(g)(x), ft.grad(g)(-x)]))


# ------------------------------------------------------------------ pytrees
def tree_fn(steps):
    """A scalar function of a pytree of (n, m) arrays: the program on each leaf, summed."""
    def f(tree):
        total = 0.0
        for k, leaf in enumerate(ft.tree_leaves(tree)):
            total = total + (k + 1.0) * fnp.sum(run(steps, leaf))
        return total
    return f


@st.composite
def tree_cases(draw):
    n, m = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    steps = draw(programs())
    tree = draw(ftst.pytrees(ftst.arrays(np.float64, (n, m), -1.5, 1.5), max_leaves=4))
    return steps, tree


@SETTINGS
@given(case=tree_cases())
def test_pytrees_through_every_transform(case):
    steps, tree = case
    f = tree_fn(steps)
    g = ft.grad(f)(tree)
    assert ft.tree_structure(g) == ft.tree_structure(tree)
    leaves = ft.tree_leaves(tree)
    treedef = ft.tree_structure(tree)
    flat = lambda *ls: f(ft.tree_unflatten(treedef, list(ls)))       # noqa: E731
    check_grads(flat, leaves, order=1, modes=("fwd", "rev"))
    close(ft.jit(ft.grad(f))(tree), g)
    close(ft.grad(ft.jit(f))(tree), g)
    value, g2 = ft.value_and_grad(f)(tree)
    close(g2, g)
    close(value, f(tree))
    tangents = ft.tree_map(lambda x: fnp.ones_like(x), tree)
    _, t_out = ft.jvp(f, (tree,), (tangents,))
    close(t_out, sum(float(np.sum(np.asarray(v))) for v in ft.tree_leaves(g)))
    out, pullback = ft.vjp(f, tree)
    close(pullback(1.0)[0], g)
    batched = ft.tree_map(lambda x: fnp.stack([x, 0.5 * x]), tree)
    per = ft.vmap(ft.grad(f))(batched)
    close(ft.tree_map(lambda b: b[1], per), ft.grad(f)(ft.tree_map(lambda x: 0.5 * x, tree)))
    close(ft.jacrev(f)(tree), g)
    close(ft.jacfwd(f)(tree), g)
