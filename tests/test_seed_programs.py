"""The seed tutorials' autodiff programs, reproduced with ft.grad / ft.vjp / ft.custom_vjp."""
import math

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp


def _two_layer_numpy(x, y, w1, w2, lr, steps):
    """The seed's hand-written backprop, verbatim in NumPy."""
    losses = []
    for _ in range(steps):
        h = x.dot(w1)
        h_relu = np.maximum(h, 0)
        y_pred = h_relu.dot(w2)
        losses.append(np.square(y_pred - y).sum())
        grad_y_pred = 2.0 * (y_pred - y)
        grad_w2 = h_relu.T.dot(grad_y_pred)
        grad_h = grad_y_pred.dot(w2.T)
        grad_h[h < 0] = 0
        grad_w1 = x.T.dot(grad_h)
        w1 = w1 - lr * grad_w1
        w2 = w2 - lr * grad_w2
    return np.array(losses), w1, w2


def test_two_layer_net_matches_manual_backprop_float64():
    rng = np.random.default_rng(0)
    N, D_in, H, D_out = 64, 1000, 100, 10
    x, y = rng.standard_normal((N, D_in)), rng.standard_normal((N, D_out))
    w1, w2 = rng.standard_normal((D_in, H)), rng.standard_normal((H, D_out))
    ref_losses, ref_w1, ref_w2 = _two_layer_numpy(x, y, w1, w2, 1e-6, 500)

    def loss_fn(params, x, y):
        w1, w2 = params
        y_pred = fnp.maximum(x @ w1, 0) @ w2
        return fnp.sum((y_pred - y) ** 2)

    step = ft.jit(ft.value_and_grad(loss_fn))
    params = (fnp.asarray(w1), fnp.asarray(w2))
    xa, ya = fnp.asarray(x), fnp.asarray(y)
    losses = []
    for _ in range(500):
        loss, (g1, g2) = step(params, xa, ya)
        losses.append(float(loss))
        params = (params[0] - 1e-6 * g1, params[1] - 1e-6 * g2)
    assert params[0].dtype == np.float64          # float64 data is never truncated
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-7)
    np.testing.assert_allclose(np.asarray(params[0]), ref_w1, rtol=1e-7, atol=1e-9)
    assert losses[-1] < 1e-6 * losses[0]          # the seed's loss falls from ~3e7 to ~0


def test_two_layer_net_float32_eager_grad_trains():
    rng = np.random.default_rng(1)
    x = fnp.asarray(rng.standard_normal((64, 1000)).astype(np.float32))
    y = fnp.asarray(rng.standard_normal((64, 10)).astype(np.float32))
    w1 = fnp.asarray(rng.standard_normal((1000, 100)).astype(np.float32))
    w2 = fnp.asarray(rng.standard_normal((100, 10)).astype(np.float32))

    def loss_fn(w1, w2):
        return ((fnp.maximum(x @ w1, 0) @ w2 - y) ** 2).sum()

    first = float(loss_fn(w1, w2))
    for _ in range(500):
        g1, g2 = ft.grad(loss_fn, argnums=(0, 1))(w1, w2)
        w1, w2 = w1 - 1e-6 * g1, w2 - 1e-6 * g2
    assert w1.dtype == np.float32 and g1.dtype == np.float32
    assert float(loss_fn(w1, w2)) < 1e-3 * first


def test_sin_cubic_fit_matches_manual_gradients():
    x = np.linspace(-math.pi, math.pi, 2000)
    y = np.sin(x)
    rng = np.random.default_rng(2)
    coeffs0 = rng.standard_normal(4)

    a, b, c, d = coeffs0
    for _ in range(2000):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        g = 2.0 * (y_pred - y)
        a, b, c, d = (a - 1e-6 * g.sum(), b - 1e-6 * (g * x).sum(),
                      c - 1e-6 * (g * x ** 2).sum(), d - 1e-6 * (g * x ** 3).sum())

    def loss(p, x, y):
        a, b, c, d = p
        return fnp.sum((a + b * x + c * x ** 2 + d * x ** 3 - y) ** 2)

    p = tuple(fnp.asarray(v) for v in coeffs0)
    xa, ya = fnp.asarray(x), fnp.asarray(y)
    g = ft.jit(ft.grad(loss))
    for _ in range(2000):
        p = tuple(v - 1e-6 * gv for v, gv in zip(p, g(p, xa, ya)))
    np.testing.assert_allclose([float(v) for v in p], [a, b, c, d], rtol=1e-9)
    assert float(loss(p, xa, ya)) < 50.0


@ft.custom_vjp
def legendre_p3(x):
    return 0.5 * (5 * x ** 3 - 3 * x)


legendre_p3.defvjp(lambda x: (legendre_p3(x), x),
                   lambda x, g: (g * 1.5 * (5 * x ** 2 - 1),))


def test_legendre_p3_custom_vjp_reproduces_seed_output():
    # the seed's deterministic run: a=0, b=-1, c=0, d=0.3, lr 5e-6, 2000 steps, float32
    x = fnp.linspace(-math.pi, math.pi, 2000, dtype=fnp.float32)
    y = fnp.sin(x)
    params = [fnp.full((), v, fnp.float32) for v in (0.0, -1.0, 0.0, 0.3)]

    def loss(params):
        a, b, c, d = params
        return ((a + b * legendre_p3(c + d * x) - y) ** 2).sum()

    grad = ft.jit(ft.value_and_grad(loss))
    seen = {}
    for t in range(2000):
        value, grads = grad(params)
        if t in (88, 1988):
            seen[t] = float(value)
        params = [p - 5e-6 * g for p, g in zip(params, grads)]
    # printed by the seed (PyTorch, float32): 88 -> 218.859, 1988 -> 8.949
    assert seen[88] == pytest.approx(218.8590850830078, rel=1e-3)
    assert seen[1988] == pytest.approx(8.949139595031738, rel=1e-3)
    assert float(params[1]) == pytest.approx(-2.208526849746704, rel=1e-3)
    assert float(params[3]) == pytest.approx(0.2554861009120941, rel=1e-3)


def test_legendre_backward_is_the_custom_rule():
    x = fnp.asarray(np.array([-1.0, 0.2, 2.0]))
    g = ft.grad(lambda x: legendre_p3(x).sum())(x)
    np.testing.assert_allclose(np.asarray(g), 1.5 * (5 * np.asarray(x) ** 2 - 1))


def test_blitz_q_vjp():
    a = fnp.array([2.0, 3.0])
    b = fnp.array([6.0, 4.0])
    Q, vjp_fn = ft.vjp(lambda a, b: 3 * a ** 3 - b ** 2, a, b)
    ga, gb = vjp_fn(fnp.array([1.0, 1.0]))
    np.testing.assert_allclose(np.asarray(ga), 9 * np.asarray(a) ** 2)
    np.testing.assert_allclose(np.asarray(gb), -2 * np.asarray(b))
    np.testing.assert_allclose(np.asarray(Q), [-12.0, 65.0])
