"""Fused float chains compiled as one numba loop (`ft.config.update("jit_numba", True)`):
results equal the NumPy chain bit for bit, eager and jitted code agree, and derivatives
through them check out in float64. Skipped without numba."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads

pytest.importorskip("numba")


@pytest.fixture(autouse=True)
def compiled_chains():
    before = ft.config.jit_numba
    ft.config.update("jit_numba", True)
    yield
    ft.config.update("jit_numba", before)


def _host(*arrays):
    return [ft.device_put(a, "cpu") for a in arrays]


def _chain(x, y, s):
    """Arithmetic only: every member becomes part of one compiled loop."""
    return -((x * (1.0 - y * y) - 0.5 * x / 3.0) * s) + 2


SHAPES = [((6, 5), (6, 5), ()), ((6, 5), (5,), ()), ((4, 1, 3), (2, 3), (1, 1)),
          ((7,), (7,), (1,))]


@pytest.mark.parametrize("dtype, xs, ys, ss", [(np.float32,) + SHAPES[0], (np.float32,) + SHAPES[2],
                                               (np.float64,) + SHAPES[1],
                                               (np.float64,) + SHAPES[3]])
def test_compiled_chain_equals_numpy_bit_for_bit(dtype, xs, ys, ss):
    rng = np.random.default_rng(0)
    x, y, s = (rng.standard_normal(sh).astype(dtype) for sh in (xs, ys, ss))
    f = ft.jit(lambda x, y, s: fnp.sum(_chain(x, y, s) * 1.0, axis=-1))
    text = f.lower(*_host(x, y, s)).as_text()
    assert "one compiled loop" in text, text
    got = f(*_host(x, y, s))
    np.testing.assert_array_equal(got, fnp.sum(_chain(*_host(x, y, s)) * 1.0, axis=-1))
    np.testing.assert_array_equal(got, ft.jit(lambda *a: fnp.sum(_chain(*a) * 1.0, axis=-1))(
        *_host(x, y, s)))


def test_compiled_chain_writes_in_place_into_a_dying_operand():
    x = np.arange(12.0).reshape(3, 4)
    f = ft.jit(lambda x: ((x @ x.T) * 2.0 - 1.0) * 0.5)      # the product dies in the chain
    text = f.lower(*_host(x)).as_text()
    assert "one compiled loop" in text, text
    np.testing.assert_array_equal(f(*_host(x)), ((x @ x.T) * 2.0 - 1.0) * 0.5)


def test_division_by_zero_gives_inf_and_nan_as_numpy():
    x = np.array([[1.0, -1.0, 0.0, 2.0]], np.float32)
    y = np.array([0.0, 0.0, 0.0, 4.0], np.float32)
    f = ft.jit(lambda x, y: (x / y + 1.0) * 2.0)
    assert "one compiled loop" in f.lower(*_host(x, y)).as_text()
    with np.errstate(divide="ignore", invalid="ignore"):
        np.testing.assert_array_equal(f(*_host(x, y)), (x / y + 1.0) * 2.0)


def test_chains_with_other_members_stay_numpy():
    x = np.linspace(-1, 1, 12).reshape(3, 4)
    f = ft.jit(lambda x: fnp.tanh(x * 2.0) + 1.0)
    assert "one compiled loop" not in f.lower(*_host(x)).as_text()
    np.testing.assert_array_equal(f(*_host(x)), np.tanh(x * 2.0) + 1.0)


def test_integer_chains_stay_numpy():
    x = np.arange(12).reshape(3, 4)
    f = ft.jit(lambda x: (x * 3 - 1) * x)
    assert "one compiled loop" not in f.lower(*_host(x)).as_text()
    np.testing.assert_array_equal(f(*_host(x)), (x * 3 - 1) * x)


def test_compiled_chain_derivatives():
    rng = np.random.default_rng(1)
    args = _host(rng.standard_normal((4, 3)), rng.standard_normal(3))
    check_grads(ft.jit(lambda x, y: x * (2.0 - y * y) - x / 3.0), args, order=2,
                modes=("fwd", "rev"))


def test_a_deep_tanh_net_step_agrees_with_eager():
    rng = np.random.default_rng(2)
    ws = [(rng.standard_normal((8, 8)) / 3, rng.standard_normal(8) / 3) for _ in range(4)]
    x, y = rng.standard_normal((5, 8)), rng.standard_normal((5, 8))

    def loss(ws, x, y):
        h = x
        for w, b in ws:
            h = fnp.tanh(h @ w + b)
        return fnp.mean((h - y) ** 2)

    def step(ws, x, y):
        value, g = ft.value_and_grad(loss)(ws, x, y)
        return ft.tree_util.tree_map(lambda p, d: p - 0.1 * d, ws, g), value
    ws, x, y = ft.tree_util.tree_map(lambda a: ft.device_put(a, "cpu"), (ws, x, y))
    jitted = ft.jit(step)
    assert "one compiled loop" in jitted.lower(ws, x, y).as_text()
    got, want = jitted(ws, x, y), step(ws, x, y)
    for a, b in zip(ft.tree_util.tree_leaves(got), ft.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("n", [1, 2])
def test_compiled_chain_rows_on_threads(monkeypatch, n):
    from functrans.compiler import numba_kernels
    monkeypatch.setattr(numba_kernels, "SPLIT_ELEMENTS", 1)
    before = ft.config.cpu_threads
    ft.config.update("cpu_threads", n)
    try:
        rng = np.random.default_rng(3)
        x, y, s = rng.standard_normal((9, 5)), rng.standard_normal(5), rng.standard_normal(())
        f = ft.jit(lambda x, y, s: fnp.sum(_chain(x, y, s) * 1.0, axis=-1))
        text = f.lower(*_host(x, y, s)).as_text()
        assert "one compiled loop" in text and "[lo:hi]" in text, text
        np.testing.assert_array_equal(f(*_host(x, y, s)), fnp.sum(_chain(*_host(x, y, s)) * 1.0,
                                                                 axis=-1))
    finally:
        ft.config.update("cpu_threads", before)


WINDOWS = [((5, 3, 12, 12), (1, 1, 2, 2), (1, 1, 2, 2), ((0, 0),) * 4, (1, 1, 1, 1)),
           ((4, 3, 9, 8), (1, 1, 3, 3), (1, 1, 2, 2), ((0, 0), (0, 0), (1, 1), (1, 2)),
            (1, 1, 1, 1)),
           ((4, 3, 9, 8), (1, 1, 3, 2), (1, 1, 1, 2), ((0, 0), (0, 0), (1, 1), (0, 1)),
            (1, 1, 2, 1)),
           ((7, 11), (3, 3), (2, 1), ((1, 1), (2, 0)), (1, 2)),
           ((6, 4), (2, 2), (2, 2), ((1, 1), (0, 0)), (1, 1)),
           ((3, 9), (1, 2), (1, 2), ((0, 0), (0, -1)), (1, 1)),       # the last one cropped
           ((3, 9), (1, 2), (1, 2), ((0, 0), (-1, 0)), (1, 1))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.complex64])
@pytest.mark.parametrize("shape, window, strides, padding, dilation", WINDOWS)
def test_pooling_gather_and_scatter_loops_equal_numpy_bit_for_bit(
        dtype, shape, window, strides, padding, dilation):
    """Max pooling's derivative kernels (gather and scatter at the argmax, overlapping,
    padded, dilated and tiling windows) against their NumPy kernels; NaN, infinities and
    signed zeros included."""
    from functrans.primitives import windowed
    rng = np.random.default_rng(4)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    ct = None
    if dtype != np.int32:
        x.flat[rng.integers(0, x.size, 4)] = [np.nan, -np.inf, np.inf, -0.0]
    geometry = dict(window_dimensions=window, window_strides=strides, padding=padding,
                    window_dilation=dilation)
    results = {}
    for on in (False, True):
        ft.config.update("jit_numba", on)
        with np.errstate(invalid="ignore"):         # NaN compared, as in compiled code
            best, idx = windowed._max_argmax_impl(np, x, **geometry)
        if ct is None:
            ct = (rng.standard_normal(best.shape) * 3).astype(dtype)
            if dtype != np.int32:
                ct.flat[:3] = [-0.0, np.nan, np.inf]
        results[on] = (windowed._gather_impl(np, x, idx, **geometry),
                       windowed._scatter_impl(np, ct, idx, operand_shape=shape, **geometry))
    for numpy_result, loop_result in zip(results[False], results[True]):
        assert loop_result.dtype == numpy_result.dtype
        np.testing.assert_array_equal(loop_result.view(np.uint8), numpy_result.view(np.uint8))


def test_max_pool_derivatives_with_compiled_loops():
    rng = np.random.default_rng(6)
    x = _host(rng.standard_normal((2, 3, 6, 6)))
    pool = ft.nn.MaxPool2d(2)
    padded = ft.nn.MaxPool2d(3, stride=2, padding=1)
    for f in (pool, padded, ft.jit(padded)):
        check_grads(lambda x: fnp.sum(f(x) ** 2), x, order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, kernel, dilation", [((2, 3, 10, 12), (4, 3, 3, 3), (1, 1)),
                                                     ((3, 2, 6, 7), (5, 2, 2, 4), (1, 2)),
                                                     ((1, 1, 5, 9), (2, 1, 1, 5), (1, 1))])
def test_convolution_sums_with_compiled_loops_equal_numpy_bit_for_bit(dtype, shape, kernel,
                                                                      dilation):
    """The row path's shifted sums (forward) and their spread (backward) as loops: the
    convolution and its gradients equal the NumPy kernels' bit for bit."""
    rng = np.random.default_rng(7)
    x, w = (rng.standard_normal(s).astype(dtype) for s in (shape, kernel))

    def loss(x, w):
        y = ft.lax.conv_general_dilated(x, w, (1, 1), "SAME", rhs_dilation=dilation)
        return fnp.sum(y * y), y
    results = []
    for on in (False, True):
        ft.config.update("jit_numba", on)
        (_, y), grads = ft.value_and_grad(loss, argnums=(0, 1), has_aux=True)(*_host(x, w))
        results.append([np.asarray(a) for a in (y, *grads)])
    for numpy_result, loop_result in zip(*results):
        np.testing.assert_array_equal(loop_result, numpy_result)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64])
def test_outer_products_with_compiled_loops_equal_numpy_bit_for_bit(monkeypatch, dtype):
    """Products with a one-element contraction (per-example gradients, outer products) as
    one loop: the same products as NumPy's broadcasting multiply, batched, transposed."""
    from functrans.primitives import dot
    monkeypatch.setattr(dot, "OUTER_LOOP_ELEMENTS", 1)
    rng = np.random.default_rng(9)
    a, b = (rng.standard_normal(s).astype(dtype) for s in ((3, 4, 5), (3, 6)))
    if dtype == np.complex64:
        a = a * (1 + 2j)
    cases = [lambda a, b: fnp.einsum("bij,bk->bijk", a, b),
             lambda a, b: fnp.einsum("bij,bk->bkji", a, b),
             lambda a, b: fnp.outer(a[0, 0], b[1]),
             lambda a, b: ft.vmap(lambda u, v: fnp.outer(u.ravel(), v))(a, b)]
    for f in cases:
        results = []
        for on in (False, True):
            ft.config.update("jit_numba", on)
            results.append([np.asarray(f(*_host(a, b))), np.asarray(ft.jit(f)(*_host(a, b)))])
        for numpy_result, loop_result in zip(*results):
            np.testing.assert_array_equal(loop_result, numpy_result)


def test_per_example_gradients_with_compiled_loops(monkeypatch):
    from functrans.primitives import dot
    monkeypatch.setattr(dot, "OUTER_LOOP_ELEMENTS", 1)
    rng = np.random.default_rng(10)
    w, x = rng.standard_normal((5, 3)), rng.standard_normal((4, 5))

    def loss(w, x):
        return fnp.sum(fnp.tanh(x @ w) ** 2)
    per_example = ft.jit(ft.vmap(ft.grad(loss), in_axes=(None, 0)))
    got = per_example(*_host(w, x))
    for i in range(4):
        np.testing.assert_allclose(got[i], ft.grad(loss)(*_host(w, x[i])), rtol=1e-13)
    check_grads(lambda w: per_example(w, _host(x)[0]).sum(), _host(w), order=2,
                modes=("fwd", "rev"))
