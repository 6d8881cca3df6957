"""The generated code's own paths for structural primitives (compiler.kernels): a static
`slice` and `dynamic_slice` as basic indexing (views), `pad` as a filled array with the
operand assigned into it, `broadcast_in_dim` as `broadcast_to`. Results equal eager
evaluation and JAX bit for bit under jit, grad and vmap; the memory planner never writes
into memory a view still sees."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.test_util import check_grads

jax = pytest.importorskip("jax")
jlax = jax.lax


@pytest.fixture(autouse=True)
def _float64_jax(jax_x64):
    """JAX compared in 64 bits (restored after each test)."""


BIG = (64, 64)          # 32 KiB in float64: the planner reuses buffers this large


def _arr(shape=(5, 6), seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, a.dtype, b.shape, b.dtype)
    np.testing.assert_array_equal(a, b)


def _generated(f, *args):
    text = ft.jit(f).lower(*args).as_text()
    return text[text.index("# generated code"):]


def _no_kernel_call(f, *args):
    """The generated code of jit(f) calls no primitive's generic kernel `impl(xp, ...)`."""
    code = _generated(f, *args)
    assert "(xp, " not in code, code


# ------------------------------------------------------------------ slice
SLICES = [((0, 0), (5, 6), (1, 1)), ((1, 2), (4, 5), (1, 1)), ((0, 0), (5, 6), (2, 3)),
          ((1, 1), (5, 6), (3, 2)), ((2, 3), (2, 6), (1, 1)), ((4, 5), (5, 6), (1, 1)),
          ((0, 0), (5, 1), (1, 1)), ((3, 0), (4, 6), (1, 1)), ((0, 5), (5, 6), (2, 4)),
          ((5, 6), (5, 6), (1, 1))]


@pytest.mark.parametrize("start,limit,strides", SLICES)
def test_static_slice_equals_eager_and_jax(start, limit, strides):
    x = _arr()

    def f(v):
        return lax.slice(v, start, limit, strides)
    want = np.asarray(jlax.slice(x, start, limit, strides))
    _same(f(fnp.asarray(x)), want)
    _same(ft.jit(f)(x), want)
    if strides != (1, 1) or start != (0, 0) or limit != (5, 6):
        _no_kernel_call(f, x)


@pytest.mark.parametrize("index", [np.s_[::-1], np.s_[4:0:-2], np.s_[1:-1, ::-2],
                                   np.s_[-3:], np.s_[:, 5:1:-1], np.s_[3:3], np.s_[::2, 1::3],
                                   np.s_[2], np.s_[-1, 2:]])
def test_indexing_grid_under_jit_equals_numpy(index):
    x = _arr()
    _same(ft.jit(lambda v: v[index])(x), x[index])
    _same(ft.jit(lambda v: (v * 2.0)[index] + 1.0)(x), (x * 2.0)[index] + 1.0)


def test_slices_under_grad_and_vmap():
    x = _arr((6, 4))

    def f(v):
        return fnp.sum(fnp.sin(v[1:5:2, ::3]) * v[:2, 1:2]) + v[0, 0] * v[-1, -1]
    check_grads(f, (x,), order=2)
    _same(ft.jit(ft.grad(f))(x), ft.grad(f)(fnp.asarray(x)))
    jg = jax.grad(lambda v: jax.numpy.sum(jax.numpy.sin(v[1:5:2, ::3]) * v[:2, 1:2])
                  + v[0, 0] * v[-1, -1])(x)
    np.testing.assert_allclose(np.asarray(ft.jit(ft.grad(f))(x)), np.asarray(jg), rtol=1e-14)
    xs = _arr((3, 6, 4), seed=1)
    g = ft.vmap(lambda v: v[1:5:2, ::3] * 2.0)
    _same(ft.jit(g)(xs), xs[:, 1:5:2, ::3] * 2.0)
    _same(ft.jit(ft.vmap(ft.grad(f)))(xs), np.stack([ft.grad(f)(fnp.asarray(v)) for v in xs]))


# ------------------------------------------------------------------ pad
PADS = [((0, 1, 0), (0, 0, 0)), ((1, 0, 0), (2, 3, 0)), ((0, 0, 1), (0, 0, 2)),
        ((-1, 0, 0), (0, -2, 0)), ((-2, 1, 1), (1, -3, 1)), ((2, -1, 2), (-1, -1, 0)),
        ((-5, 0, 0), (0, 0, 0)), ((-3, -3, 1), (0, 0, 0)), ((0, 0, 0), (-6, 2, 0)),
        ((3, 3, 0), (-4, -4, 3))]


@pytest.mark.parametrize("config", PADS)
@pytest.mark.parametrize("padval", [0.0, 1.5, -0.0])
def test_pad_equals_eager_and_jax(config, padval):
    x = _arr()
    want = np.asarray(jlax.pad(x, padval, config))

    def f(v):
        return lax.pad(v, padval, config)
    _same(f(fnp.asarray(x)), want)
    _same(ft.jit(f)(x), want)
    _no_kernel_call(f, x)
    # a traced padding value, an integer operand
    _same(ft.jit(lambda v, p: lax.pad(v, p, config))(x, np.float64(padval)), want)
    xi = (x * 10).astype(np.int32)
    _same(ft.jit(lambda v: lax.pad(v, 0, config))(xi),
          np.asarray(jlax.pad(xi, np.int32(0), config)))
    np.testing.assert_array_equal(np.signbit(ft.jit(f)(x)), np.signbit(want))


@pytest.mark.parametrize("config", PADS[:6])
def test_pad_under_grad_and_vmap(config):
    x = _arr()

    def f(v, p):
        return fnp.sum(fnp.tanh(lax.pad(v * v, p, config)) * 1.5)
    check_grads(f, (x, 0.3), order=1, modes=("rev",))
    jitted, eager = ft.jit(ft.grad(f, (0, 1)))(x, 0.3), ft.grad(f, (0, 1))(fnp.asarray(x), 0.3)
    for a, b in zip(jitted, eager):
        _same(a, b)
    xs, ps = _arr((2, 5, 6), seed=2), np.array([0.0, -2.0])
    want = np.stack([np.asarray(jlax.pad(v, p, config)) for v, p in zip(xs, ps)])
    _same(ft.jit(ft.vmap(lambda v, p: lax.pad(v, p, config)))(xs, ps), want)
    _same(ft.jit(ft.vmap(lambda v: lax.pad(v, 0.0, config)))(xs),
          np.stack([np.asarray(jlax.pad(v, 0.0, config)) for v in xs]))


def test_a_pad_into_a_planned_buffer_fills_all_of_it():
    """A pad written into a dead buffer (holding other numbers) fills the padding too."""
    def f(x):
        y = fnp.exp(x) + 2.0                        # dead after z: its buffer is free
        z = fnp.sum(y)
        p = lax.pad(x[1:-1, 2:] * 3.0, 0.0, ((1, 1, 0), (0, 2, 0)))   # BIG again
        q = lax.pad(x[:-2, 1:-1], 7.0, ((-1, 3, 0), (1, 1, 0)))
        return p * 1.0 + z, q + 1.0
    x = _arr(BIG)
    jf = ft.jit(f)
    code = _generated(f, x)
    assert "[...] = " in code, code                # a pad got a planned buffer
    want = f(fnp.asarray(x))
    for _ in range(2):
        for a, b in zip(jf(x), want):
            _same(a, b)


# ------------------------------------------------------------------ dynamic_slice
@pytest.mark.parametrize("i,j", [(0, 0), (2, 1), (-3, 2), (4, 9), (100, -100), (3, 3)])
def test_dynamic_slice_clamps_as_jax(i, j):
    x = _arr()
    for sizes in [(2, 3), (5, 1), (0, 6), (1, 6)]:
        want = np.asarray(jlax.dynamic_slice(x, (i, j), sizes))
        f = ft.jit(lambda v, a, b: lax.dynamic_slice(v, (a, b), sizes))
        _same(f(x, np.int32(i), np.int32(j)), want)
        _same(ft.jit(lambda v: lax.dynamic_slice(v, (i, j), sizes))(x), want)
        _same(lax.dynamic_slice(fnp.asarray(x), (i, j), sizes), want)
    _no_kernel_call(lambda v, a, b: lax.dynamic_slice(v, (a, b), (2, 3)), x, np.int32(i),
                    np.int32(j))


def test_dynamic_slice_under_grad_and_vmap():
    x = _arr((6, 4))

    def f(v, i):
        return fnp.sum(lax.dynamic_slice(v, (i, 1), (3, 2)) ** 2)
    for i in (0, 2, 5):
        _same(ft.jit(ft.grad(f))(x, i), ft.grad(f)(fnp.asarray(x), i))
    xs, idx = _arr((3, 6, 4), seed=3), np.array([0, 4, 9], np.int32)
    want = np.stack([np.asarray(jlax.dynamic_slice(v, (i, np.int32(1)), (3, 2)))
                     for v, i in zip(xs, idx)])
    _same(ft.jit(ft.vmap(lambda v, i: lax.dynamic_slice(v, (i, 1), (3, 2))))(xs, idx), want)


# ------------------------------------------------------------------ broadcast_in_dim
@pytest.mark.parametrize("shape,out,dims", [((3,), (2, 3), (1,)), ((3,), (3, 2), (0,)),
                                            ((1, 3), (4, 3), (0, 1)), ((), (2, 2), ()),
                                            ((3, 1), (3, 1, 5), (0, 1)), ((2, 3), (2, 1, 3),
                                                                          (0, 2))])
def test_broadcast_in_dim_equals_jax(shape, out, dims):
    x = _arr(shape)
    want = np.asarray(jlax.broadcast_in_dim(x, out, dims))

    def f(v):
        return lax.broadcast_in_dim(v * 2.0, out, dims) + 1.0
    _same(ft.jit(f)(x), want * 2.0 + 1.0)
    _same(f(fnp.asarray(x)), want * 2.0 + 1.0)
    _no_kernel_call(lambda v: lax.broadcast_in_dim(v, out, dims), x)
    np.testing.assert_allclose(ft.jit(ft.grad(lambda v: fnp.sum(f(v) ** 2)))(x),
                               jax.grad(lambda v: jax.numpy.sum(
                                   (jlax.broadcast_in_dim(v * 2.0, out, dims) + 1.0) ** 2))(x),
                               rtol=1e-14)


# ------------------------------------------------------------------ memory planning
@pytest.mark.parametrize("view", [
    lambda y: y[1:, ::2],
    lambda y: y[:, 3:4],
    lambda y: lax.dynamic_slice(y, (fnp.asarray(2), fnp.asarray(5)), (30, 40)),
    lambda y: lax.broadcast_in_dim(y[0], (64, 64), (1,)),
])
def test_a_buffer_a_view_still_sees_is_not_reused(view):
    """y dies at its view, whose value is read after z and p (of y's shape and dtype) are
    computed: they must not be written into y's buffer."""
    def f(x):
        y = fnp.exp(x)                              # a fresh buffer
        v = view(y)                                 # shares y's memory
        z = (x + 1.0) * 3.0                         # candidates for y's buffer
        p = lax.pad(x[1:, :] * 2.0, 0.0, ((0, 1, 0), (0, 0, 0)))
        return v * 1.5 + fnp.sum(z) + fnp.sum(p), z, p
    x = _arr(BIG)
    want = f(fnp.asarray(x))
    jf = ft.jit(f)
    for _ in range(2):
        for a, b in zip(jf(x), want):
            _same(a, b)


def test_a_view_of_a_donated_input_is_never_written_in_place():
    """The donated input dies at `exp`, which may write in place into a dying operand; its
    slices are read afterwards, so it must not."""
    def f(x):
        v = x[1:, ::2]
        w = lax.dynamic_slice(x, (fnp.asarray(3),), (20,)) if x.ndim == 1 else x[2]
        y = fnp.exp(x)
        return y, v * 2.0, w + 1.0
    x = _arr(BIG)
    want = [np.asarray(a) for a in f(fnp.asarray(x))]
    got = ft.jit(f, donate_argnums=0)(fnp.asarray(x.copy()))
    for a, b in zip(got, want):
        _same(a, b)
    # the slice of an input is no buffer: nothing is ever written into it
    x0 = x.copy()
    ft.jit(lambda a: (a[2:, :] * 2.0, fnp.exp(a[:, 1:]) + 1.0))(x)
    _same(x, x0)


def test_a_slice_step_in_a_loop_body():
    """An optimizer-like scan body reading elements (their gradient is a pad) equals the
    same loop run in Python."""
    def body(p, _):
        g = ft.grad(lambda q: (1 - q[0]) ** 2 + 100.0 * (q[1] - q[0] ** 2) ** 2)(p)
        p = p - 1e-3 * g
        return p, p[::-1]
    p0 = fnp.asarray(np.array([-1.0, 2.0]))
    got = ft.jit(lambda p: lax.scan(body, p, length=20))(p0)
    with ft.disable_jit():
        want = lax.scan(body, p0, length=20)
    for a, b in zip(ft.tree_leaves(got), ft.tree_leaves(want)):
        _same(a, b)
