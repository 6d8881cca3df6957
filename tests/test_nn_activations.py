"""The activation functions and layers of ft.nn (LeakyReLU ... Softmin): values against NumPy
formulas, derivatives against finite differences (float64, first and second order, forward
and reverse) and against PyTorch's, including PyTorch's choice at every kink; printing,
parameters, jit, vmap and checkpoints."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads

from torch_port import assert_close, from_torch

F = ft.nn.functional
rng = np.random.default_rng(0)
SELU_A, SELU_S = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _sp(x):
    return np.logaddexp(x, 0)


def _sig(x):
    return 1 / (1 + np.exp(-x))


# (name, ours, NumPy formula, torch call, kinks)
CASES = [
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x),
     lambda tf, x: tf.leaky_relu(x, 0.2), [0.0]),
    ("elu", lambda x: F.elu(x, 1.5), lambda x: np.where(x > 0, x, 1.5 * np.expm1(x)),
     lambda tf, x: tf.elu(x, 1.5), [0.0]),
    ("selu", F.selu, lambda x: SELU_S * np.where(x > 0, x, SELU_A * np.expm1(x)),
     lambda tf, x: tf.selu(x), [0.0]),
    ("celu", lambda x: F.celu(x, 0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x / 0.7)),
     lambda tf, x: tf.celu(x, 0.7), [0.0]),
    ("silu", F.silu, lambda x: x * _sig(x), lambda tf, x: tf.silu(x), []),
    ("mish", F.mish, lambda x: x * np.tanh(_sp(x)), lambda tf, x: tf.mish(x), []),
    ("softplus", lambda x: F.softplus(x, 2.0, 3.0),
     lambda x: np.where(2 * x > 3, x, _sp(2 * x) / 2), lambda tf, x: tf.softplus(x, 2.0, 3.0),
     [1.5]),
    ("softsign", F.softsign, lambda x: x / (1 + np.abs(x)), lambda tf, x: tf.softsign(x), [0.0]),
    ("hardtanh", lambda x: F.hardtanh(x, -2.0, 1.5), lambda x: np.clip(x, -2, 1.5),
     lambda tf, x: tf.hardtanh(x, -2.0, 1.5), [-2.0, 1.5]),
    ("relu6", F.relu6, lambda x: np.clip(x, 0, 6), lambda tf, x: tf.relu6(x), [0.0, 6.0]),
    ("hardsigmoid", F.hardsigmoid, lambda x: np.clip(x / 6 + 0.5, 0, 1),
     lambda tf, x: tf.hardsigmoid(x), [-3.0, 3.0]),
    ("hardswish", F.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6,
     lambda tf, x: tf.hardswish(x), [-3.0, 3.0]),
    ("logsigmoid", F.logsigmoid, lambda x: -_sp(-x), lambda tf, x: tf.logsigmoid(x), []),
    ("softmin", lambda x: F.softmin(x, 0),
     lambda x: np.exp(-x - np.log(np.exp(-x).sum(0))), lambda tf, x: tf.softmin(x, 0), []),
]
IDS = [c[0] for c in CASES]


def _points(kinks):
    return np.concatenate([rng.standard_normal(20) * 4, kinks, [25.0, -25.0]])


@pytest.mark.parametrize("name, ours, formula, theirs, kinks", CASES, ids=IDS)
def test_values_and_derivatives(name, ours, formula, theirs, kinks):
    x = _points(kinks)
    np.testing.assert_allclose(np.asarray(ours(fnp.asarray(x))), formula(x), rtol=1e-13,
                               atol=1e-15)
    smooth = fnp.asarray(np.round(rng.standard_normal(6) * 2, 1) + 0.05)   # off the kinks
    check_grads(ours, (smooth,), order=2, modes=("fwd", "rev"))
    ct = rng.standard_normal(x.shape)
    _, vjp = ft.vjp(ours, fnp.asarray(x))
    _, jvp_t = ft.jvp(ours, (fnp.asarray(x),), (fnp.asarray(ct),))
    torch = pytest.importorskip("torch")
    tx = torch.from_numpy(x).requires_grad_()
    out = theirs(torch.nn.functional, tx)
    out.backward(torch.from_numpy(ct))
    # PyTorch's derivatives of celu and hardsigmoid use 1/alpha and 1/6 rounded to float32
    rtol = 1e-6 if name in ("celu", "hardsigmoid") else 1e-13
    assert_close(ours(fnp.asarray(x)), out, rtol=1e-13, atol=1e-15)
    assert_close(vjp(fnp.asarray(ct))[0], tx.grad, rtol=rtol, atol=1e-15, what="vjp")
    if name != "softmin":                      # elementwise: the jvp is the same diagonal
        _, t_jvp = torch.func.jvp(lambda v: theirs(torch.nn.functional, v),
                                  (torch.from_numpy(x),), (torch.from_numpy(ct),))
        assert_close(jvp_t, t_jvp, rtol=rtol, atol=1e-15, what="jvp")


def test_derivatives_at_the_kinks_are_pytorchs():
    def d(f, points):
        return np.asarray(ft.vmap(ft.grad(f))(fnp.asarray(np.asarray(points, np.float64))))
    np.testing.assert_array_equal(d(lambda x: F.leaky_relu(x, 0.1), [0.0]), [0.1])
    np.testing.assert_array_equal(d(lambda x: F.elu(x, 2.0), [0.0]), [2.0])
    np.testing.assert_allclose(d(F.selu, [0.0]), [SELU_S * SELU_A])
    np.testing.assert_array_equal(d(lambda x: F.hardtanh(x, -1.0, 2.0), [-1.0, 2.0, 0.5]),
                                  [0, 0, 1])
    np.testing.assert_array_equal(d(F.relu6, [0.0, 6.0, 3.0]), [0, 0, 1])
    np.testing.assert_array_equal(d(F.hardsigmoid, [-3.0, 3.0, 0.0]), [0, 0, 1 / 6])
    np.testing.assert_array_equal(d(F.hardswish, [-3.0, 3.0, -4.0, 4.0, 0.0]), [0, 1, 0, 1, 0.5])
    np.testing.assert_array_equal(d(lambda x: F.softplus(x, 1.0, 20.0), [20.5]), [1.0])
    w = fnp.asarray(np.array([0.3]))
    np.testing.assert_allclose(d(lambda x: F.prelu(x, w), [0.0, -1.0, 1.0]), [0.3, 0.3, 1])
    gw = ft.grad(lambda w: fnp.sum(F.prelu(fnp.asarray(np.array([0.0, -2.0, 3.0])), w)))(w)
    np.testing.assert_array_equal(np.asarray(gw), [-2.0])
    np.testing.assert_array_equal(np.asarray(F.hardtanh(np.array([np.nan]))), [np.nan])


LAYERS = [
    (lambda: ft.nn.LeakyReLU(), "LeakyReLU()"), (lambda: ft.nn.LeakyReLU(0.2, True), None),
    (lambda: ft.nn.ELU(alpha=0.5), "ELU(alpha=0.5)"), (lambda: ft.nn.SELU(), "SELU()"),
    (lambda: ft.nn.CELU(), "CELU()"), (lambda: ft.nn.SiLU(), "SiLU()"),
    (lambda: ft.nn.Mish(), "Mish()"), (lambda: ft.nn.Softplus(beta=2.0), "Softplus(beta=2.0)"),
    (lambda: ft.nn.Softsign(), "Softsign()"),
    (lambda: ft.nn.Hardtanh(-2.0, 2.0), "Hardtanh(-2.0, 2.0)"), (lambda: ft.nn.ReLU6(), "ReLU6()"),
    (lambda: ft.nn.Hardsigmoid(), "Hardsigmoid()"), (lambda: ft.nn.Hardswish(), "Hardswish()"),
    (lambda: ft.nn.LogSigmoid(), "LogSigmoid()"), (lambda: ft.nn.Softmin(dim=1), "Softmin(dim=1)"),
    (lambda: ft.nn.Softmin(), "Softmin()"),
    (lambda: ft.nn.PReLU(), "PReLU()"), (lambda: ft.nn.PReLU(3, init=0.1), "PReLU(3, init=0.1)"),
]


@pytest.mark.parametrize("make, torch_ctor", LAYERS, ids=[r or "LeakyReLU(0.2, True)"
                                                           for _, r in LAYERS])
def test_layers_match_torch_under_jit_and_vmap(make, torch_ctor):
    layer = make()
    x = rng.standard_normal((4, 3, 5))
    eager = np.asarray(layer(fnp.asarray(x)))
    np.testing.assert_allclose(np.asarray(ft.jit(lambda m, v: m(v))(layer, fnp.asarray(x))),
                               eager, rtol=1e-6)
    if not isinstance(layer, (ft.nn.Softmin, ft.nn.PReLU)):      # elementwise layers
        per_row = ft.vmap(lambda v: layer(v))(fnp.asarray(x))
        np.testing.assert_allclose(np.asarray(per_row), eager, rtol=1e-6)
    torch = pytest.importorskip("torch")
    theirs = eval("torch.nn." + (torch_ctor or "LeakyReLU(0.2, True)")).double()
    assert repr(layer) == repr(theirs)
    layer = from_torch(layer, theirs)
    tx = torch.from_numpy(x).requires_grad_()
    out = theirs(tx.clone())
    ct = rng.standard_normal(x.shape)
    out.backward(torch.from_numpy(ct))
    got, vjp = ft.vjp(lambda m, v: m(v), layer, fnp.asarray(x))
    assert_close(got, out)
    g_layer, g_x = vjp(fnp.asarray(ct))
    assert_close(g_x, tx.grad, rtol=1e-6 if isinstance(layer, ft.nn.Hardsigmoid) else 1e-10)
    for g, p in zip(g_layer.parameters(), theirs.parameters()):
        assert_close(g, p.grad)


def test_prelu_channels_vmap_checkpoint_and_errors(tmp_path):
    layer = ft.nn.PReLU(3, dtype=np.float64)
    assert layer.weight.shape == (3,) and layer.weight.dtype == np.float64
    np.testing.assert_array_equal(np.asarray(layer.weight), [0.25] * 3)
    layer = layer.replace(weight=fnp.asarray(np.array([0.1, 0.2, 0.3])))
    x = fnp.asarray(rng.standard_normal((5, 3, 2)))
    check_grads(lambda w, v: F.prelu(v, w), (layer.weight, x + 0.01), order=2,
                modes=("fwd", "rev"))
    per_example = ft.vmap(ft.grad(lambda m, v: fnp.sum(m(v[None]) ** 2)), (None, 0))(layer, x)
    loop = [ft.grad(lambda m, v: fnp.sum(m(v[None]) ** 2))(layer, x[i]).weight
            for i in range(5)]
    np.testing.assert_allclose(np.asarray(per_example.weight), np.stack(loop), rtol=1e-12)
    ft.save(tmp_path / "prelu.ftz", layer)
    back = ft.load(tmp_path / "prelu.ftz", like=ft.nn.PReLU(3, dtype=np.float64))
    np.testing.assert_array_equal(np.asarray(back.weight), [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"3 entries.*\(5,\).*1 channel"):
        layer(fnp.ones(5))
    with pytest.raises(ValueError, match="min_val"):
        ft.nn.Hardtanh(2.0, 1.0)
    with pytest.raises(ValueError, match="alpha"):
        F.celu(x, 0.0)
