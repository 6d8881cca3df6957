"""Property tests: for hypothesis-drawn programs over the primitives, the compiled function
equals the eager one bit for bit (with buffer reuse switched on for every array size, so the
memory planner is exercised), leaves its inputs alone, and its compositions with grad, vjp
and jvp agree with the eager derivatives."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import functrans as ft
import functrans.numpy as fnp
from functrans.compiler import memory

SHAPE = (3, 4)

UNARY = {
    "neg": lambda x: -x,
    "sin": fnp.sin,
    "exp": lambda x: fnp.exp(x * 0.5),
    "tanh": fnp.tanh,
    "square": lambda x: x ** 2,
    "abs": fnp.abs,
    "relu": lambda x: fnp.maximum(x, 0.0),
    "sqrt": lambda x: fnp.sqrt(fnp.abs(x) + 1.0),
    "log": lambda x: fnp.log(fnp.abs(x) + 1.0),
    "scale": lambda x: x * 1.0 + 0.0,
    "transpose_op": lambda x: fnp.transpose(fnp.sin(x.T) * 2.0),
    "reverse": lambda x: x[::-1],
    "roll": lambda x: fnp.concatenate([x[1:], x[:1]]),
    "flat_reverse": lambda x: x.reshape(-1)[::-1].reshape(SHAPE),
    "center": lambda x: x - x.mean(axis=0),
    "row_scale": lambda x: x * x.sum(axis=1, keepdims=True),
    "max_norm": lambda x: x / (fnp.max(fnp.abs(x)) + 1.0),
    "ones": lambda x: fnp.ones_like(x) * 2.0 + x,
    "broadcast_row": lambda x: fnp.broadcast_to(x[0], SHAPE) * x,
}
BINARY = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / (fnp.abs(y) + 1.0),
    "max": fnp.maximum,
    "min": fnp.minimum,
    "where": lambda x, y: fnp.where(x > y, x, y * 2.0),
    "matmul": lambda x, y: x @ (y.T @ y) * 0.1,
    "pow": lambda x, y: fnp.abs(x) ** 2 + y,
}


@st.composite
def programs(draw):
    """`(steps, outputs)`: each step applies an op to earlier values (two inputs first)."""
    n_steps = draw(st.integers(1, 8))
    steps = []
    for i in range(n_steps):
        avail = 2 + i
        if draw(st.booleans()):
            name = draw(st.sampled_from(sorted(UNARY)))
            steps.append((name, (draw(st.integers(0, avail - 1)),)))
        else:
            name = draw(st.sampled_from(sorted(BINARY)))
            steps.append((name, (draw(st.integers(0, avail - 1)),
                                 draw(st.integers(0, avail - 1)))))
    total = 2 + n_steps
    outs = draw(st.lists(st.integers(0, total - 1), min_size=1, max_size=3))
    if total - 1 not in outs:
        outs.append(total - 1)
    return steps, outs


def build(program):
    steps, outs = program

    def f(x, y):
        pool = [x, y]
        for name, args in steps:
            op = UNARY.get(name) or BINARY[name]
            pool.append(op(*[pool[a] for a in args]))
        return tuple(pool[i] for i in outs)
    return f


def loss_of(f):
    def loss(x, y):
        return sum(fnp.sum(o * (k + 1.0)) for k, o in enumerate(f(x, y)))
    return loss


values = st.one_of(st.floats(-3, 3, allow_nan=False, width=32),
                   st.sampled_from([0.0, 1.0, -1.0, 0.5]))


def inputs(dtype):
    return st.tuples(hnp.arrays(dtype, SHAPE, elements=values),
                     hnp.arrays(dtype, SHAPE, elements=values))


@pytest.fixture(autouse=True, scope="module")
def reuse_every_buffer():
    """Small arrays are planned into buffers too, so small programs exercise the planner."""
    old = memory.REUSE_MIN_BYTES
    memory.REUSE_MIN_BYTES = 0
    yield
    memory.REUSE_MIN_BYTES = old


def _equal(a, b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@given(programs(), st.sampled_from([np.float32, np.float64]), st.data())
def test_jit_equals_eager_bitwise(program, dtype, data):
    xs, ys = data.draw(inputs(dtype))
    f = build(program)
    x, y = fnp.asarray(xs.copy()), fnp.asarray(ys.copy())
    with np.errstate(all="ignore"):
        want = f(x, y)
        jf = ft.jit(f)
        for _ in range(2):                        # nothing the code reads was overwritten
            got = jf(x, y)
            for a, b in zip(got, want):
                assert a.dtype == b.dtype and a.shape == b.shape
                _equal(a, b)
    _equal(x, xs)                                 # inputs untouched
    _equal(y, ys)


def _close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-9, atol=1e-12,
                               equal_nan=True)


@given(programs(), st.data())
def test_derivatives_of_jit_agree_with_eager(program, data):
    xs, ys = data.draw(inputs(np.float64))
    f = build(program)
    loss = loss_of(f)
    x, y = fnp.asarray(xs), fnp.asarray(ys)
    with np.errstate(all="ignore"):
        want = ft.grad(loss, argnums=(0, 1))(x, y)
        for got in (ft.jit(ft.grad(loss, argnums=(0, 1)))(x, y),
                    ft.grad(ft.jit(loss), argnums=(0, 1))(x, y)):
            for a, b in zip(got, want):
                _close(a, b)
        tx, ty = fnp.ones_like(x), fnp.asarray(ys[::-1].copy())
        out, tan = ft.jvp(f, (x, y), (tx, ty))
        jout, jtan = ft.jvp(ft.jit(f), (x, y), (tx, ty))
        for a, b in zip(jout + jtan, out + tan):
            _close(a, b)
        _, pull = ft.vjp(f, x, y)
        _, jpull = ft.vjp(ft.jit(f), x, y)
        cts = tuple(fnp.full_like(o, 0.5) for o in out)
        for a, b in zip(jpull(cts), pull(cts)):
            _close(a, b)


# ------------------------------------------------------------------ loop bodies
LOOP_STEPS = {     # (carries, i, a, b) -> carries: each rewrites carry a from carries a and b
    "add": lambda c, i, a, b: _put(c, a, c[a] + c[b]),
    "affine": lambda c, i, a, b: _put(c, a, c[a] * 0.5 + 1.0),
    "keep_first": lambda c, i, a, b: _put(c, a, fnp.where(c[b] > 0.2, c[a], c[b] * 2.0)),
    "keep_second": lambda c, i, a, b: _put(c, a, fnp.where(c[a] > 0.1, c[b], c[a] - 1.0)),
    "set_row": lambda c, i, a, b: _put(c, a, c[a].at[i % 3].set(c[b][(i + 1) % 3] * 0.3)),
    "add_column": lambda c, i, a, b: _put(c, a, c[a].at[:, i % 4].add(1.0)),
    "swap": lambda c, i, a, b: _put(_put(c, a, c[b]), b, c[a]),
    "sin": lambda c, i, a, b: _put(c, a, fnp.sin(c[a])),
    "through_view": lambda c, i, a, b: _put(c, a, (c[a].T + c[b].T).T),
}


def _put(carries, k, value):
    return carries[:k] + (value,) + carries[k + 1:]


def loop_programs():
    step = st.tuples(st.sampled_from(sorted(LOOP_STEPS)), st.integers(0, 2), st.integers(0, 2))
    return st.tuples(st.lists(step, min_size=1, max_size=5),
                     st.sampled_from(["fori", "scan", "while"]), st.integers(1, 4))


def build_loop(program):
    """A loop over three carries (two of them the caller's array) running `program`."""
    steps, kind, n = program

    def body(i, carries):
        for name, a, b in steps:
            carries = LOOP_STEPS[name](carries, i, a, b)
        return carries

    def f(x):
        init = (x, x * 2.0, x)
        if kind == "fori":
            return ft.lax.fori_loop(0, n, body, init)
        if kind == "scan":
            return ft.lax.scan(lambda c, i: (body(i, c), c[0][0] + 0.0), init, fnp.arange(n))
        return ft.lax.while_loop(lambda c: c[0] < n, lambda c: (c[0] + 1,) + body(c[0], c[1:]),
                                 (0,) + init)
    return f


@settings(max_examples=max(settings().max_examples, 60))
@given(loop_programs(), st.data())
def test_loops_updating_carries_in_place_equal_eager(program, data):
    """Loop bodies get their carries donated (updates and selects write into them): jit
    equals eager, twice in a row, the caller's array is untouched, and so are gradients."""
    xs, _ = data.draw(inputs(np.float64))
    f = build_loop(program)
    x = fnp.asarray(xs.copy())
    with np.errstate(all="ignore"):
        want = f(x)
        for _ in range(2):
            for a, b in zip(ft.tree_leaves(ft.jit(f)(x)), ft.tree_leaves(want)):
                _equal(a, b)
        _equal(x, xs)

        def loss(x):
            return sum(fnp.sum(fnp.sin(v)) for v in ft.tree_leaves(f(x))
                       if v.dtype.kind == "f")
        _close(ft.jit(ft.grad(loss))(x), ft.grad(loss)(x))
