"""reduce_window (max and sum) and the pooling functions: values against NumPy and PyTorch,
derivatives (orders 1 and 2, both modes), argmax routing of ties and NaN, batching, errors."""
import itertools

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.test_util import check_grads


def window_reference(x, op, window, strides, padding, dilation):
    fill = -np.inf if op is np.maximum else 0.0
    xp = np.pad(x.astype(np.float64), padding, constant_values=fill)
    out_shape = tuple((xp.shape[d] - (window[d] - 1) * dilation[d] - 1) // strides[d] + 1
                      for d in range(x.ndim))
    out = None
    for k in itertools.product(*[range(w) for w in window]):
        v = xp[tuple(slice(k[d] * dilation[d], k[d] * dilation[d] + (out_shape[d] - 1) *
                           strides[d] + 1, strides[d]) for d in range(x.ndim))]
        out = v.copy() if out is None else op(out, v)
    return out


@st.composite
def windows(draw):
    nd = draw(st.integers(1, 3))
    window = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    strides = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    # at most half the window in padding (PyTorch's rule), so no window is padding only
    padding = tuple((draw(st.integers(0, (w - 1) * d // 2)), draw(st.integers(0, (w - 1) * d // 2)))
                    for w, d in zip(window, dilation))
    shape = tuple(draw(st.integers(max(1, (w - 1) * d + 1 - lo - hi), 5))
                  for w, d, (lo, hi) in zip(window, dilation, padding))
    return shape, window, strides, padding, dilation


@settings(max_examples=40, deadline=None)
@given(windows(), st.integers(0, 2 ** 31 - 1))
def test_values_match_reference(geometry, seed):
    shape, window, strides, padding, dilation = geometry
    x = np.random.default_rng(seed).standard_normal(shape)
    for fn, op in ((lax.reduce_window_max, np.maximum), (lax.reduce_window_sum, np.add)):
        got = fn(fnp.asarray(x), window, strides, padding, dilation)
        np.testing.assert_allclose(np.asarray(got),
                                   window_reference(x, op, window, strides, padding, dilation),
                                   rtol=1e-12, atol=1e-12)


@settings(max_examples=8, deadline=None)
@given(windows(), st.integers(0, 2 ** 31 - 1))
def test_derivatives_order_two(geometry, seed):
    shape, window, strides, padding, dilation = geometry
    # distinct values, so no window has a tie (the max is not differentiable at ties)
    x = np.random.default_rng(seed).permutation(np.prod(shape)).reshape(shape) * 0.1
    # a window over padding alone has max -inf, whose finite differences are NaN
    assume(np.isfinite(np.asarray(lax.reduce_window_max(fnp.asarray(x), window, strides,
                                                          padding, dilation))).all())
    for fn in (lax.reduce_window_max, lax.reduce_window_sum):
        check_grads(lambda x: fn(x, window, strides, padding, dilation), (fnp.asarray(x),),
                    order=2, modes=("fwd", "rev"))


def test_ties_go_to_the_first_maximum_like_torch():
    torch = pytest.importorskip("torch")
    x = np.array([[[[1.0, 3.0, 3.0, 0.0],
                    [3.0, 2.0, 0.0, 0.0],
                    [5.0, 5.0, 7.0, 7.0],
                    [5.0, 5.0, 7.0, 7.0]]]])
    tx = torch.from_numpy(x).requires_grad_()
    torch.nn.functional.max_pool2d(tx, 2).sum().backward()
    g = ft.grad(lambda x: fnp.sum(ft.nn.max_pool2d(x, 2)))(fnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(g), tx.grad.numpy())
    # overlapping windows accumulate, in forward mode too
    tx.grad = None
    torch.nn.functional.max_pool2d(tx, 3, 1).sum().backward()
    g = ft.grad(lambda x: fnp.sum(ft.nn.max_pool2d(x, 3, 1)))(fnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(g), tx.grad.numpy())
    t = np.arange(16.0).reshape(x.shape)
    _, tangent = ft.jvp(lambda x: ft.nn.max_pool2d(x, 2), (fnp.asarray(x),), (fnp.asarray(t),))
    np.testing.assert_array_equal(np.asarray(tangent)[0, 0], [[1.0, 2.0], [8.0, 10.0]])


def test_nan_is_the_maximum_and_infinities_stay_exact():
    x = fnp.asarray(np.array([[1.0, np.nan, 2.0, 4.0], [np.inf, 0.0, -np.inf, 3.0]]))
    out = lax.reduce_window_max(x, (2, 2), (2, 2))
    np.testing.assert_array_equal(np.asarray(out), [[np.nan, 4.0]])
    g = ft.grad(lambda x: fnp.sum(lax.reduce_window_max(x, (2, 2), (2, 2))))(x)
    np.testing.assert_array_equal(np.asarray(g), [[0, 1, 0, 1], [0, 0, 0, 0]])
    # a tangent with inf/nan at unselected positions does not leak into the selected ones
    t = fnp.asarray(np.array([[np.inf, 1.0, np.nan, 2.0], [3.0, 4.0, 5.0, 6.0]]))
    _, tangent = ft.jvp(lambda x: lax.reduce_window_max(x, (2, 2), (2, 2)), (x,), (t,))
    np.testing.assert_array_equal(np.asarray(tangent), [[1.0, 2.0]])


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=2), dict(kernel_size=3, stride=2), dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), dilation=(2, 1)),
    dict(kernel_size=3, stride=2, ceil_mode=True), dict(kernel_size=2, stride=2, ceil_mode=True),
])
def test_max_pool2d_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 8))
    ct = None
    tx = torch.from_numpy(x).requires_grad_()
    want = torch.nn.functional.max_pool2d(tx, **kwargs)
    ct = np.random.default_rng(1).standard_normal(tuple(want.shape))
    want.backward(torch.from_numpy(ct))
    out, vjp = ft.vjp(lambda x: ft.nn.max_pool2d(x, **kwargs), fnp.asarray(x))
    np.testing.assert_array_equal(np.asarray(out), want.detach().numpy())
    np.testing.assert_allclose(np.asarray(vjp(fnp.asarray(ct))[0]), tx.grad.numpy(),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kwargs", [
    dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=3, stride=2, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=2, divisor_override=3),
])
def test_avg_pool2d_matches_torch(kwargs):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 9, 8))
    tx = torch.from_numpy(x).requires_grad_()
    want = torch.nn.functional.avg_pool2d(tx, **kwargs)
    ct = np.random.default_rng(1).standard_normal(tuple(want.shape))
    want.backward(torch.from_numpy(ct))
    out, vjp = ft.vjp(lambda x: ft.nn.avg_pool2d(x, **kwargs), fnp.asarray(x))
    np.testing.assert_allclose(np.asarray(out), want.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(vjp(fnp.asarray(ct))[0]), tx.grad.numpy(),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("axis", [0, 1, 3])
@pytest.mark.parametrize("fn", [lax.reduce_window_max, lax.reduce_window_sum])
def test_vmap_matches_loop(fn, axis):
    rng = np.random.default_rng(2)
    shape = [5, 6, 4]
    shape.insert(axis, 3)
    x = fnp.asarray(rng.standard_normal(shape))

    def f(x):
        return fn(x, (2, 2, 1), (2, 1, 1), ((0, 1), (1, 0), (0, 0)))
    want = np.stack([np.asarray(f(fnp.moveaxis(x, axis, 0)[i])) for i in range(3)])
    np.testing.assert_allclose(np.asarray(ft.vmap(f, in_axes=axis)(x)), want, rtol=1e-12)
    grads = ft.vmap(ft.grad(lambda x: fnp.sum(f(x) ** 2)), in_axes=axis)(x)
    want_g = np.stack([np.asarray(ft.grad(lambda x: fnp.sum(f(x) ** 2))(
        fnp.moveaxis(x, axis, 0)[i])) for i in range(3)])
    np.testing.assert_allclose(np.asarray(grads), want_g, rtol=1e-12)


def test_jit_and_generic_reduce_window():
    x = fnp.asarray(np.random.default_rng(3).standard_normal((4, 6)))
    f = ft.jit(lambda x: lax.reduce_window(x, -np.inf, lax.max, (2, 3), (2, 3), "VALID"))
    np.testing.assert_array_equal(np.asarray(f(x)),
                                  np.asarray(lax.reduce_window_max(x, (2, 3), (2, 3))))
    s = lax.reduce_window(x, 0.0, lax.add, (2, 2), (1, 1), "SAME")
    assert s.shape == (4, 6)
    with pytest.raises(ValueError, match="init_value"):
        lax.reduce_window(x, 1.0, lax.add, (2, 2))


def test_errors():
    x = fnp.zeros((1, 1, 4, 4))
    with pytest.raises(ValueError, match="one per axis|4 positive"):
        lax.reduce_window_max(x, (2, 2))
    with pytest.raises(ValueError, match="does not fit"):
        lax.reduce_window_max(x, (1, 1, 5, 5))
    with pytest.raises(ValueError, match="at most half"):
        ft.nn.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match="NCHW"):
        ft.nn.max_pool2d(fnp.zeros((4, 4)), 2)
