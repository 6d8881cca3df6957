"""The shrink, threshold, gated and randomized activations (Tanhshrink ... RReLU), the
channel and alpha dropouts, Bilinear, CosineSimilarity and PairwiseDistance: values and
derivatives against NumPy formulas, finite differences (float64, first and second order,
forward and reverse) and PyTorch (kinks included); printing; jit and vmap against eager; the
statistics and eval-mode identity of the random layers; errors. Torch tests skip without
torch."""
import math

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads

from torch_port import assert_close, from_torch

F = ft.nn.functional
rng = np.random.default_rng(0)
SELU_SAT = 1.0507009873554804934193349852946 * 1.6732632423543772848170429916717


def _fwd_grad(f, x):
    return np.asarray(ft.vmap(ft.grad(f))(fnp.asarray(np.asarray(x, np.float64))))


# (name, ours, NumPy formula, torch call, kinks)
CASES = [
    ("tanhshrink", F.tanhshrink, lambda x: x - np.tanh(x), lambda tf, x: tf.tanhshrink(x), []),
    ("hardshrink", lambda x: F.hardshrink(x, 0.7), lambda x: np.where(np.abs(x) > 0.7, x, 0.0),
     lambda tf, x: tf.hardshrink(x, 0.7), [-0.7, 0.7]),
    ("hardshrink_default", F.hardshrink, lambda x: np.where(np.abs(x) > 0.5, x, 0.0),
     lambda tf, x: tf.hardshrink(x), [-0.5, 0.5]),
    ("softshrink", lambda x: F.softshrink(x, 0.7),
     lambda x: np.where(x > 0.7, x - 0.7, np.where(x < -0.7, x + 0.7, 0.0)),
     lambda tf, x: tf.softshrink(x, 0.7), [-0.7, 0.7]),
    ("softshrink_zero", lambda x: F.softshrink(x, 0.0), lambda x: x,
     lambda tf, x: tf.softshrink(x, 0.0), [0.0]),
    ("threshold", lambda x: F.threshold(x, 0.3, -2.0), lambda x: np.where(x > 0.3, x, -2.0),
     lambda tf, x: tf.threshold(x, 0.3, -2.0), [0.3]),
    ("rrelu_eval", lambda x: F.rrelu(x, 0.1, 0.3), lambda x: np.where(x > 0, x, 0.2 * x),
     lambda tf, x: tf.rrelu(x, 0.1, 0.3), [0.0]),
]
IDS = [c[0] for c in CASES]


def _points(kinks):
    return np.concatenate([rng.standard_normal(20) * 3, kinks, [25.0, -25.0]])


@pytest.mark.parametrize("name, ours, formula, theirs, kinks", CASES, ids=IDS)
def test_values_and_finite_difference_derivatives(name, ours, formula, theirs, kinks):
    x = _points(kinks)
    np.testing.assert_allclose(np.asarray(ours(fnp.asarray(x))), formula(x), rtol=1e-13,
                               atol=1e-15)
    smooth = fnp.asarray(np.round(rng.standard_normal(6) * 2, 1) + 0.05)   # off the kinks
    check_grads(ours, (smooth,), order=2, modes=("fwd", "rev"))
    square = fnp.asarray(np.round(rng.standard_normal((3, 4)) * 2, 1) + 0.05)
    np.testing.assert_allclose(np.asarray(ft.jit(ours)(square)), np.asarray(ours(square)))
    np.testing.assert_allclose(np.asarray(ft.vmap(ours)(square)), np.asarray(ours(square)))


@pytest.mark.parametrize("name, ours, formula, theirs, kinks", CASES, ids=IDS)
def test_values_and_derivatives_match_torch(name, ours, formula, theirs, kinks):
    torch = pytest.importorskip("torch")
    x = _points(kinks)
    ct = rng.standard_normal(x.shape)
    _, vjp = ft.vjp(ours, fnp.asarray(x))
    _, jvp_t = ft.jvp(ours, (fnp.asarray(x),), (fnp.asarray(ct),))
    tx = torch.from_numpy(x).requires_grad_()
    out = theirs(torch.nn.functional, tx)
    out.backward(torch.from_numpy(ct))
    assert_close(ours(fnp.asarray(x)), out, rtol=1e-13, atol=1e-15)
    assert_close(vjp(fnp.asarray(ct))[0], tx.grad, rtol=1e-13, atol=1e-15, what="vjp")
    _, t_jvp = torch.func.jvp(lambda v: theirs(torch.nn.functional, v),
                              (torch.from_numpy(x),), (torch.from_numpy(ct),))
    assert_close(jvp_t, t_jvp, rtol=1e-13, atol=1e-15, what="jvp")
    nan = np.array([np.nan, -np.inf, np.inf])
    assert_close(ours(fnp.asarray(nan)), theirs(torch.nn.functional, torch.from_numpy(nan)),
                 what="NaN and infinities")


def test_derivatives_at_the_kinks_are_pytorchs():
    np.testing.assert_array_equal(_fwd_grad(lambda x: F.hardshrink(x, 0.5), [-0.5, 0.5, 0.6]),
                                  [0, 0, 1])
    np.testing.assert_array_equal(_fwd_grad(lambda x: F.softshrink(x, 0.5), [-0.5, 0.5, -0.6]),
                                  [0, 0, 1])
    np.testing.assert_array_equal(_fwd_grad(lambda x: F.threshold(x, 1.0, 5.0), [1.0, 1.5]),
                                  [0, 1])
    np.testing.assert_array_equal(_fwd_grad(lambda x: F.rrelu(x, 0.1, 0.3), [0.0]), [0.2])
    np.testing.assert_array_equal(_fwd_grad(lambda x: F.rrelu(x, 0.1, 0.3), [-1.0, 1.0]),
                                  [0.2, 1.0])
    # a negative lambd leaves hardshrink the identity, as PyTorch's
    np.testing.assert_array_equal(np.asarray(F.hardshrink(np.array([-0.5, 0.0]), -1.0)),
                                  [-0.5, 0.0])


@pytest.mark.parametrize("shape, dim", [((4, 6), -1), ((6, 3, 2), 0), ((2, 4, 5), 1),
                                        ((2,), 0)])
def test_glu(shape, dim):
    x = rng.standard_normal(shape)
    n = shape[dim] // 2
    a, b = np.split(x, [n], axis=dim)
    np.testing.assert_allclose(np.asarray(F.glu(x, dim)), a / (1 + np.exp(-b)), rtol=1e-13)
    check_grads(lambda v: F.glu(v, dim), (fnp.asarray(x),), order=2, modes=("fwd", "rev"))
    layer = ft.nn.GLU(dim)
    np.testing.assert_allclose(np.asarray(ft.jit(lambda v: layer(v))(x)),
                               np.asarray(layer(x)), rtol=1e-14)
    torch = pytest.importorskip("torch")
    tx = torch.from_numpy(x).requires_grad_()
    out = torch.nn.GLU(dim)(tx)
    ct = rng.standard_normal(out.shape)
    out.backward(torch.from_numpy(ct))
    _, vjp = ft.vjp(layer, fnp.asarray(x))
    assert_close(layer(x), out, rtol=1e-13)
    assert_close(vjp(fnp.asarray(ct))[0], tx.grad, rtol=1e-13)
    assert repr(layer) == repr(torch.nn.GLU(dim))


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 4, 5)])
def test_softmax2d(shape):
    x = rng.standard_normal(shape)
    e = np.exp(x - x.max(axis=-3, keepdims=True))
    layer = ft.nn.Softmax2d()
    np.testing.assert_allclose(np.asarray(layer(x)), e / e.sum(axis=-3, keepdims=True),
                               rtol=1e-13)
    np.testing.assert_allclose(np.asarray(ft.jit(layer)(fnp.asarray(x))), np.asarray(layer(x)),
                               rtol=1e-14)
    torch = pytest.importorskip("torch")
    tx = torch.from_numpy(x).requires_grad_()
    out = torch.nn.Softmax2d()(tx)
    ct = rng.standard_normal(shape)
    out.backward(torch.from_numpy(ct))
    _, vjp = ft.vjp(layer, fnp.asarray(x))
    assert_close(layer(x), out, rtol=1e-13)
    assert_close(vjp(fnp.asarray(ct))[0], tx.grad, rtol=1e-12)
    assert repr(layer) == repr(torch.nn.Softmax2d())


def test_rrelu_training_draws_uniform_slopes():
    lower, upper = 0.1, 0.4
    x = -np.abs(rng.standard_normal(200_000)) - 0.01
    key = ft.random.key(1)
    y = np.asarray(F.rrelu(x, lower, upper, training=True, key=key))
    slopes = y / x
    assert slopes.min() >= lower and slopes.max() < upper
    assert abs(slopes.mean() - (lower + upper) / 2) < 2e-3
    assert abs(slopes.var() - (upper - lower) ** 2 / 12) < 5e-4
    # the derivative of each element is its own slope (at 0 too), 1 on the positive side
    pts = np.concatenate([x[:5], [0.0, 2.0]])
    g = np.asarray(ft.grad(lambda v: fnp.sum(F.rrelu(v, lower, upper, True, key=key)))(
        fnp.asarray(pts)))
    drawn = np.asarray(F.rrelu(-np.ones(7), lower, upper, True, key=key)) * -1
    np.testing.assert_allclose(g, np.concatenate([drawn[:6], [1.0]]), rtol=1e-14)
    # same key, same draw (eager and jit); another key, another draw
    np.testing.assert_array_equal(
        np.asarray(ft.jit(lambda v, k: F.rrelu(v, lower, upper, True, key=k))(x, key)), y)
    assert not np.array_equal(np.asarray(F.rrelu(x, lower, upper, True,
                                                 key=ft.random.key(2))), y)
    pos = np.abs(x[:10])
    np.testing.assert_array_equal(np.asarray(F.rrelu(pos, training=True, key=key)), pos)


def test_rrelu_layer_modes():
    layer = ft.nn.RReLU(0.1, 0.3)
    x = rng.standard_normal((4, 5))
    with pytest.raises(ValueError, match=r"key=.*model\.eval\(\)"):
        layer(x)
    y = np.asarray(layer(x, key=ft.random.key(0)))
    neg = x < 0
    assert np.all((y[neg] / x[neg] >= 0.1) & (y[neg] / x[neg] < 0.3))
    evaluated = layer.eval()
    np.testing.assert_allclose(np.asarray(evaluated(x)), np.where(x > 0, x, 0.2 * x),
                               rtol=1e-15)
    np.testing.assert_allclose(np.asarray(ft.vmap(evaluated)(fnp.asarray(x))),
                               np.asarray(evaluated(x)), rtol=1e-15)
    with pytest.raises(ValueError, match=r"lower \(0.5\) must not exceed upper \(0.1\)"):
        ft.nn.RReLU(0.5, 0.1)
    with pytest.raises(ValueError, match="lower"):
        F.rrelu(x, 0.5, 0.1)


LAYERS = ["Tanhshrink()", "Hardshrink()", "Hardshrink(0.3)", "Softshrink()",
          "Softshrink(lambd=0.2)", "Threshold(0.1, 20)", "Threshold(0.1, 20.0, inplace=True)",
          "GLU()", "GLU(dim=1)", "Softmax2d()", "RReLU()", "RReLU(0.1, 0.3, inplace=True)"]


@pytest.mark.parametrize("ctor", LAYERS)
def test_layers_print_and_run_as_torch(ctor):
    layer = eval("ft.nn." + ctor)
    layer = layer.eval() if "RReLU" in ctor else layer
    x = rng.standard_normal((2, 4, 3, 2))
    eager = np.asarray(layer(fnp.asarray(x)))
    np.testing.assert_allclose(np.asarray(ft.jit(lambda m, v: m(v))(layer, fnp.asarray(x))),
                               eager, rtol=1e-14)
    if ctor not in ("Softmax2d()", "GLU(dim=1)"):     # per-example axes are the same
        np.testing.assert_allclose(np.asarray(ft.vmap(layer)(fnp.asarray(x))), eager,
                                   rtol=1e-14)
    torch = pytest.importorskip("torch")
    theirs = eval("torch.nn." + ctor).eval()
    assert repr(eval("ft.nn." + ctor)) == repr(theirs)
    layer = from_torch(layer, theirs)
    tx = torch.from_numpy(x).requires_grad_()
    out = theirs(tx.clone())
    ct = rng.standard_normal(tuple(out.shape))
    out.backward(torch.from_numpy(ct))
    got, vjp = ft.vjp(lambda v: layer(v), fnp.asarray(x))
    assert_close(got, out, rtol=1e-13)
    assert_close(vjp(fnp.asarray(ct))[0], tx.grad, rtol=1e-12)


def test_activation_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"softshrink: lambd must be >= 0.*-1"):
        F.softshrink(np.ones(3), -1.0)
    with pytest.raises(ValueError, match="Softshrink: lambd"):
        ft.nn.Softshrink(-0.5)
    with pytest.raises(ValueError, match=r"axis 1 of the input of shape \(3, 5\) has odd size 5"):
        F.glu(np.ones((3, 5)), 1)
    with pytest.raises(ValueError, match="scalar"):
        F.glu(np.float64(1.0))
    with pytest.raises(ValueError, match=r"dim 2 is out of range.*\(3, 4\)"):
        F.glu(np.ones((3, 4)), 2)
    with pytest.raises(ValueError, match=r"Softmax2d: expected a 3-d.*got shape \(3, 5\)"):
        ft.nn.Softmax2d()(np.ones((3, 5)))
    with pytest.raises(ValueError, match="rrelu in training mode.*key="):
        F.rrelu(np.ones(3), training=True)


# ------------------------------------------------------------------ dropouts
CHANNEL_DROPOUTS = [  # (functional, layer, input shape, mask shape)
    (F.dropout1d, ft.nn.Dropout1d, (40, 50, 3), (40, 50, 1)),
    (F.dropout1d, ft.nn.Dropout1d, (2000, 3), (2000, 1)),
    (F.dropout2d, ft.nn.Dropout2d, (40, 50, 2, 3), (40, 50, 1, 1)),
    (F.dropout3d, ft.nn.Dropout3d, (20, 50, 2, 1, 3), (20, 50, 1, 1, 1)),
    (F.dropout3d, ft.nn.Dropout3d, (1000, 2, 2, 1), (1000, 1, 1, 1)),
]


@pytest.mark.parametrize("fn, cls, shape, mask", CHANNEL_DROPOUTS,
                         ids=[f"{f.__name__}{s}" for f, _, s, _ in CHANNEL_DROPOUTS])
def test_channel_dropout_drops_whole_channels(fn, cls, shape, mask):
    p = 0.3
    x = rng.uniform(1.0, 2.0, shape)
    key = ft.random.key(3)
    y = np.asarray(fn(x, p, key=key))
    kept = y != 0
    per_channel = kept.reshape(mask + (-1,))
    assert np.all(per_channel == per_channel[..., :1])              # one draw per channel
    scale = 1 / (1 - p)
    np.testing.assert_allclose(y[kept], x[kept] * scale, rtol=1e-15)
    n = math.prod(mask)
    dropped = 1 - np.mean(per_channel[..., 0])
    assert abs(dropped - p) < 4 * math.sqrt(p * (1 - p) / n)
    # the derivative is the same mask, scaled
    g = np.asarray(ft.grad(lambda v: fnp.sum(fn(v, p, key=key)))(fnp.asarray(x)))
    np.testing.assert_allclose(g, np.where(kept, scale, 0.0), rtol=1e-15)
    layer = cls(p)
    np.testing.assert_array_equal(np.asarray(layer(x, key=key)), y)
    np.testing.assert_array_equal(np.asarray(ft.jit(lambda m, v, k: m(v, key=k))(
        layer, fnp.asarray(x), key)), y)
    np.testing.assert_array_equal(np.asarray(layer.eval()(x)), x)
    np.testing.assert_array_equal(np.asarray(fn(x, p, training=False)), x)
    np.testing.assert_array_equal(np.asarray(fn(x, 0.0, key=key)), x)
    np.testing.assert_array_equal(np.asarray(fn(x, 1.0, key=key)), np.zeros(shape))


def test_dropout_vmap_agrees_with_a_loop():
    xs = fnp.asarray(rng.standard_normal((3, 4, 5, 2)))
    key = ft.random.key(4)
    for fn in (lambda v: F.dropout1d(v, 0.5, key=key),
               lambda v: F.feature_alpha_dropout(v, 0.5, True, key=key),
               lambda v: F.alpha_dropout(v, 0.5, True, key=key)):
        np.testing.assert_array_equal(np.asarray(ft.vmap(fn)(xs)),
                                      np.stack([np.asarray(fn(xs[i])) for i in range(3)]))


def test_dropout2d_reads_3d_input_as_n_c_l_as_pytorch():
    x = np.ones((30, 40, 5))
    with pytest.warns(UserWarning, match=r"read as \(N, C, L\)"):
        y = np.asarray(F.dropout2d(x, 0.5, key=ft.random.key(0)))
    assert np.all(y == y[:, :, :1]) and 0 < np.mean(y == 0) < 1


def _alpha_values(p):
    a = 1 / math.sqrt((SELU_SAT ** 2 * p + 1) * (1 - p))
    return a, a * SELU_SAT * p, a * SELU_SAT * (p - 1)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_alpha_dropout_keeps_mean_and_variance(p):
    x = rng.standard_normal(400_000)
    key = ft.random.key(5)
    y = np.asarray(F.alpha_dropout(x, p, True, key=key))
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1) < 0.01
    a, b, dropped = _alpha_values(p)
    hit = np.isclose(y, dropped, rtol=0, atol=1e-15)
    assert abs(hit.mean() - p) < 0.005
    np.testing.assert_allclose(y[~hit], a * x[~hit] + b, rtol=1e-14)
    g = np.asarray(ft.grad(lambda v: fnp.sum(F.alpha_dropout(v, p, True, key=key)))(
        fnp.asarray(x)))
    np.testing.assert_allclose(g, np.where(hit, 0.0, a), rtol=1e-15)
    np.testing.assert_array_equal(np.asarray(F.alpha_dropout(x, p)), x)   # training=False
    np.testing.assert_array_equal(np.asarray(ft.nn.AlphaDropout(p).eval()(x)), x)
    xc = rng.standard_normal((20_000, 8, 3))
    yc = np.asarray(ft.nn.FeatureAlphaDropout(p)(xc, key=key))
    chan_dropped = np.all(np.isclose(yc, dropped, rtol=0, atol=1e-15), axis=2)
    assert abs(chan_dropped.mean() - p) < 0.01
    np.testing.assert_allclose(yc[~chan_dropped], a * xc[~chan_dropped] + b, rtol=1e-14)
    assert abs(yc.mean()) < 0.02 and abs(yc.std() - 1) < 0.02
    np.testing.assert_array_equal(np.asarray(F.feature_alpha_dropout(xc, p)), xc)


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_alpha_dropout_values_are_pytorchs(p):
    torch = pytest.importorskip("torch")
    x = torch.full((1000,), 0.7, dtype=torch.float64)
    theirs = np.unique(torch.nn.functional.alpha_dropout(x, p, True).numpy())
    ours = np.unique(np.asarray(F.alpha_dropout(x.numpy(), p, True, key=ft.random.key(0))))
    np.testing.assert_allclose(ours, theirs, rtol=1e-14)
    xc = torch.full((200, 6, 2), -0.3, dtype=torch.float64)
    theirs = np.unique(torch.nn.functional.feature_alpha_dropout(xc, p, True).numpy())
    ours = np.unique(np.asarray(F.feature_alpha_dropout(xc.numpy(), p, True,
                                                        key=ft.random.key(0))))
    np.testing.assert_allclose(ours, theirs, rtol=1e-14)


@pytest.mark.parametrize("name", ["Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
                                  "FeatureAlphaDropout"])
def test_dropout_layers_print_as_torch(name):
    torch = pytest.importorskip("torch")
    for args in ((), (0.2,), (0.3, True)):
        assert repr(getattr(ft.nn, name)(*args)) == repr(getattr(torch.nn, name)(*args))


def test_dropout_errors_say_what_to_do():
    x3 = np.ones((2, 3, 4))
    with pytest.raises(ValueError, match=r"dropout1d: expected a 2-d \(C, L\) or 3-d.*"
                                         r"\(2, 3, 4, 5\)"):
        F.dropout1d(np.ones((2, 3, 4, 5)), key=ft.random.key(0))
    with pytest.raises(ValueError, match=r"dropout2d: expected a 4-d.*got shape \(2, 3\)"):
        F.dropout2d(np.ones((2, 3)), training=False)
    with pytest.raises(ValueError, match=r"dropout3d: expected a 4-d \(C, D, H, W\).*"
                                         r"\(2, 3, 4\)"):
        F.dropout3d(x3)
    with pytest.raises(ValueError, match=r"feature_alpha_dropout:.*at least 2 axes.*\(3,\)"):
        F.feature_alpha_dropout(np.ones(3), 0.5, True)
    for fn in (F.dropout1d, F.alpha_dropout):
        with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got 1.5"):
            fn(x3, 1.5)
    with pytest.raises(ValueError, match=r"Dropout2d: dropout probability p must be in"):
        ft.nn.Dropout2d(-0.1)
    with pytest.raises(ValueError, match=r"dropout1d in training mode needs a random key: "
                                         r"pass key=.*model\.eval\(\)"):
        ft.nn.Dropout1d()(x3)


# ------------------------------------------------------------------ Bilinear
@pytest.mark.parametrize("s1, s2, bias", [((5, 3), (5, 4), True), ((2, 3, 3), (2, 3, 4), True),
                                          ((3,), (4,), True), ((5, 3), (5, 4), False)])
def test_bilinear_matches_torch(s1, s2, bias):
    x1, x2 = rng.standard_normal(s1), rng.standard_normal(s2)
    layer = ft.nn.Bilinear(3, 4, 2, bias, key=ft.random.key(0), dtype=np.float64)
    want = np.einsum("...i,oij,...j->...o", x1, np.asarray(layer.weight), x2)
    if bias:
        want = want + np.asarray(layer.bias)
    np.testing.assert_allclose(np.asarray(layer(x1, x2)), want, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(ft.jit(lambda m, a, b: m(a, b))(layer, x1, x2)),
                               want, rtol=1e-13)
    if len(s1) > 1:
        np.testing.assert_allclose(np.asarray(ft.vmap(layer)(fnp.asarray(x1),
                                                             fnp.asarray(x2))), want,
                                   rtol=1e-13)
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Bilinear(3, 4, 2, bias).double()
    assert repr(layer) == repr(theirs)
    layer = from_torch(layer, theirs)
    t1, t2 = (torch.from_numpy(v).requires_grad_() for v in (x1, x2))
    out = theirs(t1, t2)
    ct = rng.standard_normal(tuple(out.shape))
    out.backward(torch.from_numpy(ct))
    got, vjp = ft.vjp(lambda m, a, b: m(a, b), layer, fnp.asarray(x1), fnp.asarray(x2))
    assert_close(got, out, rtol=1e-13)
    g_layer, g1, g2 = vjp(fnp.asarray(ct))
    assert_close(g1, t1.grad, rtol=1e-12)
    assert_close(g2, t2.grad, rtol=1e-12)
    for g, p in zip(g_layer.parameters(), theirs.parameters()):
        assert_close(g, p.grad, rtol=1e-12)


def test_bilinear_init_derivatives_and_errors():
    layer = ft.nn.Bilinear(16, 5, 40, key=ft.random.key(7))
    assert layer.weight.shape == (40, 16, 5) and layer.bias.shape == (40,)
    assert layer.weight.dtype == ft.dtypes.default_float_dtype()
    w, b = np.asarray(layer.weight), np.asarray(layer.bias)
    bound = 1 / math.sqrt(16)                 # PyTorch's bound: 1/sqrt(in1_features)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 and abs(w.mean()) < 0.01
    assert ft.nn.Bilinear(2, 2, 2, bias=False, key=ft.random.key(0)).bias is None
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    args = tuple(fnp.asarray(rng.standard_normal(s)) for s in [(2, 3), (2, 4), (5, 3, 4), (5,)])
    check_grads(F.bilinear, args, order=2, modes=("fwd", "rev"))
    a, b, w, bias = args
    with pytest.raises(ValueError, match=r"input2 has 5 features \(shape \(2, 5\)\).*"
                                         r"\(5, 3, 4\) expects in2_features=4"):
        F.bilinear(a, np.ones((2, 5)), w)
    with pytest.raises(ValueError, match=r"input1 of shape \(2, 3\) and input2 of shape "
                                         r"\(1, 4\) must have the same leading"):
        F.bilinear(a, np.ones((1, 4)), w)
    with pytest.raises(ValueError, match=r"weight must be 3-d.*\(3, 4\)"):
        F.bilinear(a, b, np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"bias must have shape \(5,\).*\(4,\)"):
        F.bilinear(a, b, w, np.ones(4))
    with pytest.raises(TypeError, match="key"):
        ft.nn.Bilinear(2, 2, 2)


# ------------------------------------------------------------------ distances
COSINE = [((4, 5), (4, 5), 1, 1e-8), ((3, 4, 5), (3, 4, 5), -1, 1e-8),
          ((4, 1, 3), (5, 1), -1, 1e-8), ((6,), (6,), 0, 1e-8), ((3, 4), (3, 4), 0, 0.5)]


@pytest.mark.parametrize("s1, s2, dim, eps", COSINE)
def test_cosine_similarity(s1, s2, dim, eps):
    x1, x2 = rng.standard_normal(s1), rng.standard_normal(s2)
    a, b = np.broadcast_arrays(x1, x2)
    n1 = np.maximum(np.linalg.norm(a, axis=dim, keepdims=True), eps)
    n2 = np.maximum(np.linalg.norm(b, axis=dim, keepdims=True), eps)
    want = np.sum(a / n1 * (b / n2), axis=dim)
    layer = ft.nn.CosineSimilarity(dim, eps)
    np.testing.assert_allclose(np.asarray(layer(x1, x2)), want, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(ft.jit(layer)(fnp.asarray(x1), fnp.asarray(x2))),
                               want, rtol=1e-13)
    if len(s1) == len(s2) > 1 and dim < 0:     # the same axis of each example
        np.testing.assert_allclose(np.asarray(ft.vmap(layer)(fnp.asarray(x1),
                                                             fnp.asarray(x2))), want,
                                   rtol=1e-13)
    if eps < 0.1:
        check_grads(lambda u, v: F.cosine_similarity(u, v, dim, eps),
                    (fnp.asarray(x1), fnp.asarray(x2)), order=2, modes=("fwd", "rev"))
    torch = pytest.importorskip("torch")
    t1, t2 = (torch.from_numpy(v).requires_grad_() for v in (x1, x2))
    out = torch.nn.CosineSimilarity(dim, eps)(t1, t2)
    ct = rng.standard_normal(tuple(out.shape))
    out.backward(torch.from_numpy(ct))
    _, vjp = ft.vjp(layer, fnp.asarray(x1), fnp.asarray(x2))
    g1, g2 = vjp(fnp.asarray(ct))
    assert_close(layer(x1, x2), out, rtol=1e-13)
    assert_close(g1, t1.grad, rtol=1e-11)
    assert_close(g2, t2.grad, rtol=1e-11)
    assert repr(layer) == repr(torch.nn.CosineSimilarity(dim, eps))


def test_cosine_similarity_of_zero_and_tiny_vectors_as_pytorch():
    """The norms are raised to eps in value only: the gradient is PyTorch's, finite at 0."""
    y = np.array([1.0, 2.0, 3.0])
    for x in (np.zeros(3), np.array([1e-9, 2e-9, 0.0])):
        val, (gx, gy) = ft.value_and_grad(lambda u, v: F.cosine_similarity(u, v, 0),
                                          argnums=(0, 1))(fnp.asarray(x), fnp.asarray(y))
        assert np.all(np.isfinite(np.asarray(gx)))
        torch = pytest.importorskip("torch")
        tx, ty = torch.from_numpy(x).requires_grad_(), torch.from_numpy(y).requires_grad_()
        out = torch.nn.functional.cosine_similarity(tx, ty, dim=0)
        out.backward()
        assert_close(val, out, rtol=1e-13)
        assert_close(gx, tx.grad, rtol=1e-12)
        assert_close(gy, ty.grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, math.inf])
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance_layer(p, keepdim):
    x1, x2 = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    layer = ft.nn.PairwiseDistance(p, 1e-6, keepdim)
    got = layer(x1, x2)
    want = np.linalg.norm(x1 - x2 + 1e-6, ord=p, axis=-1, keepdims=keepdim)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(ft.jit(layer)(fnp.asarray(x1), fnp.asarray(x2))),
                               want, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(ft.vmap(layer)(fnp.asarray(x1), fnp.asarray(x2))),
                               want, rtol=1e-13)
    torch = pytest.importorskip("torch")
    theirs = torch.nn.PairwiseDistance(p, 1e-6, keepdim)
    t1, t2 = (torch.from_numpy(v).requires_grad_() for v in (x1, x2))
    out = theirs(t1, t2)
    ct = rng.standard_normal(tuple(out.shape))
    out.backward(torch.from_numpy(ct))
    g1, g2 = ft.vjp(layer, fnp.asarray(x1), fnp.asarray(x2))[1](fnp.asarray(ct))
    assert_close(got, out, rtol=1e-13)
    assert_close(g1, t1.grad, rtol=1e-11)
    assert_close(g2, t2.grad, rtol=1e-11)
    assert repr(layer) == repr(theirs)


def test_distance_errors():
    with pytest.raises(ValueError, match=r"dim 1 is out of range.*\(3,\) and \(3,\)"):
        F.cosine_similarity(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 3\)|broadcast"):
        F.cosine_similarity(np.ones((2, 3)), np.ones((4, 3)))


@pytest.mark.parametrize("p", [0.0, 1.0, 1.5, 2.0, float("inf")])
def test_pairwise_distance_of_scalars_and_p0_matches_torch(p):
    """PyTorch's p = 0 (the count of nonzero entries, eps included) and 0-d inputs (one
    element's distance)."""
    torch = pytest.importorskip("torch")
    a = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    b = np.array([[1.0, 0.0, 3.0], [1.0, 1.0, 0.0]])
    for eps in (1e-6, 0.0):
        got = F.pairwise_distance(a, b, p=p, eps=eps)
        want = torch.nn.functional.pairwise_distance(torch.from_numpy(a), torch.from_numpy(b),
                                                     p=p, eps=eps)
        np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-13)
    got = F.pairwise_distance(np.float64(1.0), np.float64(3.0), p=p)
    want = torch.nn.functional.pairwise_distance(torch.tensor(1.0, dtype=torch.float64),
                                                 torch.tensor(3.0, dtype=torch.float64), p=p)
    assert np.shape(got) == tuple(want.shape)
    np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-13)
