"""Random straight-line programs, run three ways: NumPy (the reference), functrans eagerly
and jitted. Compiled code fuses elementwise chains and products with their scaling and
addition, takes views for reshapes, transposes and slices, and lets the memory planner write
results in place of dead values; a mistake in any of these shows as a wrong value, a second
call that differs from the first (a reused buffer), or an input changed by the call. The
gradient of a weighted sum of the outputs is checked too, jitted against eager."""
from __future__ import annotations

import math

import numpy as np
from hypothesis import given, strategies as st

import functrans as ft
import functrans.numpy as fnp
from fuzzing import fuzz_settings


def _unary(m):
    return {
        "tanh": m.tanh, "sin": m.sin, "negative": m.negative, "square": m.square,
        "cube": lambda x: x ** 3, "exp_tamed": lambda x: m.exp(m.tanh(x)),
        "log1p_sq": lambda x: m.log(1.0 + x * x), "sqrt_pos": lambda x: m.sqrt(x * x + 0.5),
        "relu": lambda x: m.maximum(x, 0.0), "recip": lambda x: 1.0 / (1.0 + x * x),
        "scaled": lambda x: 0.5 * x - 2.0,
    }


def _binary(m):
    return {
        "add": m.add, "subtract": m.subtract, "multiply": m.multiply,
        "maximum": m.maximum, "minimum": m.minimum,
        "where": lambda a, b: m.where(a > b, a, 2.0 * b),
        "axpby": lambda a, b: 0.25 * a - 3.0 * b,
        "div_tamed": lambda a, b: a / (1.0 + b * b),
    }


def _apply(m, step, values):
    """One program step over module `m` (NumPy or functrans.numpy); `values` by name."""
    op, args, p = step
    xs = [values[name] for name in args]
    if op in _UNARY:
        return _unary(m)[op](xs[0])
    if op in _BINARY:
        return _binary(m)[op](*xs)
    if op == "reduce":
        fn = {"sum": m.sum, "max": m.max, "mean": m.mean}[p["kind"]]
        return fn(xs[0], axis=p["axis"], keepdims=p["keepdims"])
    if op == "transpose":
        return m.transpose(xs[0], p["perm"])
    if op == "reshape":
        return m.reshape(xs[0], p["shape"])
    if op == "slice":
        return xs[0][p["index"]]
    if op == "matmul":
        a, b = xs
        return (a.T if p["ta"] else a) @ (b.T if p["tb"] else b)
    if op == "matmul_add":         # the product fusion's pattern: scale * (a @ b) + c
        a, b, c = xs
        return c - p["scale"] * (a @ b)
    if op == "concatenate":
        return m.concatenate(xs, axis=p["axis"])
    if op == "pad":
        return m.pad(xs[0], p["widths"])
    if op == "broadcast":
        return m.broadcast_to(xs[0], p["shape"])
    if op == "cumsum":
        return m.cumsum(xs[0], axis=p["axis"])
    if op == "take":
        return m.take(xs[0], m.asarray(p["indices"]), axis=p["axis"])
    if op == "sort":
        return m.sort(xs[0], axis=p["axis"])
    if op == "softmax":            # max-shifted, as written by hand
        z = xs[0] - m.max(xs[0], axis=-1, keepdims=True)
        e = m.exp(z)
        return e / m.sum(e, axis=-1, keepdims=True)
    raise AssertionError(op)


_UNARY = tuple(_unary(np))
_BINARY = tuple(_binary(np))


@st.composite
def programs(draw, max_steps=9):
    """(input shapes, steps, outputs): each step names the values it reads as ("in", k),
    the k-th input, or ("step", k), the k-th step's result."""
    shapes = [draw(st.sampled_from([(3, 4), (4, 3), (4,), (3, 1), (2, 3, 4), (4, 4)]))
              for _ in range(draw(st.integers(1, 3)))]
    names = [("in", k) for k in range(len(shapes))]
    known = list(shapes)                    # the shape of each of `names`
    steps = []

    def fresh(shape):                       # a new input of `shape`
        shapes.append(shape)
        names.append(("in", len(shapes) - 1))
        known.append(shape)
        return len(known) - 1

    for _ in range(draw(st.integers(1, max_steps))):
        i = draw(st.integers(0, len(known) - 1))
        s = known[i]
        op = draw(st.sampled_from(_UNARY + _BINARY + (
            "reduce", "transpose", "reshape", "slice", "matmul", "matmul_add", "concatenate",
            "pad", "broadcast", "cumsum", "take", "sort", "softmax")))
        p, args = {}, [i]
        if op in _BINARY:
            partners = [j for j, t in enumerate(known) if _broadcasts(s, t)]
            args.append(draw(st.sampled_from(partners)))
            out = np.broadcast_shapes(s, known[args[1]])
        elif op in _UNARY:
            out = s
        elif op == "reduce" and s:
            axis = draw(st.sampled_from([None] + list(range(len(s)))))
            p = dict(kind=draw(st.sampled_from(["sum", "max", "mean"])), axis=axis,
                     keepdims=draw(st.booleans()))
            out = np.sum(np.zeros(s), axis=axis, keepdims=p["keepdims"]).shape
        elif op == "transpose" and len(s) >= 2:
            p = dict(perm=tuple(draw(st.permutations(range(len(s))))))
            out = tuple(s[k] for k in p["perm"])
        elif op == "reshape" and s:
            n = math.prod(s)
            p = dict(shape=draw(st.sampled_from([(n,), (-1, s[-1]), (1, n)])))
            out = np.zeros(s).reshape(p["shape"]).shape
        elif op == "slice" and s and s[0] > 1:
            p = dict(index=draw(st.sampled_from([np.s_[1:], np.s_[::2], np.s_[::-1],
                                                 np.s_[..., :-1], np.s_[0]])))
            out = np.zeros(s)[p["index"]].shape
        elif op in ("matmul", "matmul_add") and len(s) == 2:
            ta = draw(st.booleans()) if op == "matmul" else False
            tb = draw(st.booleans()) if op == "matmul" else False
            k = s[0] if ta else s[1]
            n = draw(st.sampled_from([2, 3, 4]))
            args.append(fresh((n, k) if tb else (k, n)))
            out = ((s[1] if ta else s[0]), n)
            p = dict(ta=ta, tb=tb)
            if op == "matmul_add":
                row = draw(st.booleans())
                args.append(fresh((n,) if row else out))
                p["scale"] = draw(st.sampled_from([1.0, 0.1, -2.0]))
        elif op == "concatenate" and s:
            p = dict(axis=0)
            args.append(i if draw(st.booleans()) else fresh((2,) + s[1:]))
            out = (s[0] + known[args[1]][0],) + s[1:]
        elif op == "pad" and s:
            p = dict(widths=[(draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in s])
            out = tuple(d + lo + hi for d, (lo, hi) in zip(s, p["widths"]))
        elif op == "broadcast":
            p = dict(shape=(2,) + s)
            out = p["shape"]
        elif op in ("cumsum", "sort") and s:
            p = dict(axis=draw(st.integers(0, len(s) - 1)))
            out = s
        elif op == "take" and s:
            axis = draw(st.integers(0, len(s) - 1))
            indices = draw(st.lists(st.integers(0, s[axis] - 1), min_size=1, max_size=5))
            p = dict(axis=axis, indices=tuple(indices))
            out = s[:axis] + (len(indices),) + s[axis + 1:]
        elif op == "softmax" and s:
            out = s
        else:
            op, out = "tanh", s
        steps.append((op, tuple(names[j] for j in args), p))
        names.append(("step", len(steps) - 1))
        known.append(out)
    outs = sorted(set(draw(st.lists(st.sampled_from(names), min_size=1, max_size=3))))
    return shapes, steps, outs


def _broadcasts(s, t):
    try:
        np.broadcast_shapes(s, t)
        return True
    except ValueError:
        return False


def _program(m, steps, outs):
    def f(*inputs):
        values = {("in", k): x for k, x in enumerate(inputs)}
        for k, step in enumerate(steps):
            values["step", k] = _apply(m, step, values)
        return [values[name] for name in outs]
    return f


def _inputs(shapes, dtype, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


FUZZ = fuzz_settings(60)


@FUZZ
@given(programs(max_steps=16), st.integers(0, 2 ** 16))
def test_jit_equals_eager_and_numpy_float64(program, seed):
    shapes, steps, outs = program
    raw = _inputs(shapes, np.float64, seed)
    expected = _program(np, steps, outs)(*raw)
    args = [fnp.asarray(a) for a in raw]
    eager = _program(fnp, steps, outs)(*args)
    jitted = ft.jit(_program(fnp, steps, outs))
    first = jitted(*args)
    second = jitted(*args)                  # a reused arena must not leak into results
    for e, a, b, c in zip(expected, eager, first, second):
        np.testing.assert_allclose(np.asarray(a), e, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(np.asarray(b), e, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(np.asarray(c), np.asarray(b))
    for a, r in zip(args, raw):             # no input written in place
        np.testing.assert_array_equal(np.asarray(a), r)
    donating = ft.jit(_program(fnp, steps, outs), donate_argnums=tuple(range(len(raw))))
    for e, d in zip(expected, donating(*[fnp.array(a) for a in raw])):
        np.testing.assert_allclose(np.asarray(d), e, rtol=1e-12, atol=1e-12)


@FUZZ
@given(programs(max_steps=6), st.integers(0, 2 ** 16))
def test_jit_equals_eager_float32(program, seed):
    shapes, steps, outs = program
    raw = _inputs(shapes, np.float32, seed)
    expected = _program(np, steps, outs)(*raw)
    jitted = ft.jit(_program(fnp, steps, outs))
    for _ in range(2):
        got = jitted(*raw)                  # NumPy inputs: the fast path must not write them
        for e, g in zip(expected, got):
            assert g.dtype == np.float32
            np.testing.assert_allclose(np.asarray(g), e, rtol=2e-5, atol=2e-5)
    for a, r in zip(raw, _inputs(shapes, np.float32, seed)):
        np.testing.assert_array_equal(a, r)


@FUZZ
@given(programs(max_steps=6), st.integers(0, 2 ** 16))
def test_jitted_gradient_equals_eager(program, seed):
    shapes, steps, outs = program
    raw = _inputs(shapes, np.float64, seed)
    f = _program(fnp, steps, outs)
    weights = [fnp.asarray(w) for w in _inputs(
        [np.shape(o) for o in _program(np, steps, outs)(*raw)], np.float64, seed + 1)]

    def loss(*inputs):
        return sum(fnp.sum(o * w) for o, w in zip(f(*inputs), weights))
    argnums = tuple(range(len(raw)))
    args = [fnp.asarray(a) for a in raw]
    eager = ft.grad(loss, argnums)(*args)
    jitted = ft.jit(ft.grad(loss, argnums))
    for _ in range(2):
        for e, g in zip(eager, jitted(*args)):
            np.testing.assert_allclose(np.asarray(g), np.asarray(e), rtol=1e-10, atol=1e-10)


@FUZZ
@given(programs(max_steps=6), st.integers(0, 2 ** 16))
def test_jitted_vmap_equals_loop(program, seed):
    """The first input batched (3 examples), the others shared."""
    shapes, steps, outs = program
    raw = _inputs(shapes, np.float64, seed)
    batch = np.random.default_rng(seed + 2).standard_normal((3,) + raw[0].shape)
    per_example = [_program(np, steps, outs)(x, *raw[1:]) for x in batch]
    in_axes = (0,) + (None,) * (len(raw) - 1)
    got = ft.jit(ft.vmap(_program(fnp, steps, outs), in_axes))(batch, *raw[1:])
    for k, g in enumerate(got):
        expected = np.stack([np.broadcast_to(e[k], np.shape(per_example[0][k]))
                             for e in per_example])
        np.testing.assert_allclose(np.asarray(g), expected, rtol=1e-12, atol=1e-12)
