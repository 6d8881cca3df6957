"""ft.nn layers, functional forms, losses and initializers: values and gradients against
NumPy formulas (always) and PyTorch (when installed), in float64."""
import math

import numpy as np
import pytest
from scipy.special import erf, log_softmax as np_log_softmax

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads

rng = np.random.default_rng(0)


def torch_or_skip():
    return pytest.importorskip("torch")


# ------------------------------------------------------------------ activations
def test_activations_match_formulas():
    x = rng.standard_normal((4, 5)) * 3
    a = fnp.asarray(x)
    np.testing.assert_allclose(np.asarray(ft.nn.relu(a)), np.maximum(x, 0))
    np.testing.assert_allclose(np.asarray(ft.nn.sigmoid(a)), 1 / (1 + np.exp(-x)), rtol=1e-14)
    np.testing.assert_allclose(np.asarray(ft.nn.tanh(a)), np.tanh(x))
    np.testing.assert_allclose(np.asarray(ft.nn.gelu(a)), 0.5 * x * (1 + erf(x / math.sqrt(2))),
                               rtol=1e-14)
    tanh_form = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(np.asarray(ft.nn.gelu(a, approximate="tanh")), tanh_form,
                               rtol=1e-14)
    np.testing.assert_allclose(np.asarray(ft.nn.log_softmax(a, 1)), np_log_softmax(x, axis=1),
                               rtol=1e-13)
    np.testing.assert_allclose(np.asarray(ft.nn.softmax(a, axis=0)),
                               np.exp(np_log_softmax(x, axis=0)), rtol=1e-13)
    for f in (ft.nn.relu, ft.nn.sigmoid, ft.nn.tanh, ft.nn.gelu,
              lambda x: ft.nn.gelu(x, "tanh"), lambda x: ft.nn.softmax(x, 1),
              lambda x: ft.nn.log_softmax(x, 0)):
        check_grads(f, (a + 0.1,), order=2, modes=("fwd", "rev"))


def test_relu_derivative_is_zero_at_zero_and_nan_propagates():
    x = fnp.asarray([-1.0, 0.0, 2.0, np.nan, -np.inf, np.inf])
    np.testing.assert_array_equal(np.asarray(ft.nn.relu(x)), [0, 0, 2, np.nan, 0, np.inf])
    g = ft.grad(lambda x: fnp.sum(ft.nn.relu(x)))(x)
    np.testing.assert_array_equal(np.asarray(g), [0, 0, 1, 0, 0, 1])
    _, t = ft.jvp(ft.nn.relu, (x,), (fnp.ones(6),))
    np.testing.assert_array_equal(np.asarray(t), [0, 0, 1, 0, 0, 1])
    vg = ft.vmap(ft.grad(lambda v: fnp.sum(ft.nn.relu(v))))(fnp.asarray([[-1.0, 0.0, 3.0]]))
    np.testing.assert_array_equal(np.asarray(vg), [[0, 0, 1]])
    h = ft.hessian(lambda v: fnp.sum(ft.nn.relu(v) ** 2))(fnp.asarray([-1.0, 2.0]))
    np.testing.assert_array_equal(np.asarray(h), [[0, 0], [0, 2]])


def test_one_hot():
    y = fnp.asarray([0, 2, -100, 1])
    np.testing.assert_array_equal(np.asarray(ft.nn.one_hot(y, 3)),
                                  [[1, 0, 0], [0, 0, 1], [0, 0, 0], [0, 1, 0]])
    assert ft.nn.one_hot(y, 3, axis=0).shape == (3, 4)
    assert ft.nn.one_hot(y, 3, dtype=np.int32).dtype == np.int32


# ------------------------------------------------------------------ layers vs PyTorch
@pytest.mark.parametrize("kwargs", [
    {}, {"stride": 2, "padding": 1}, {"padding": "same", "dilation": 2},
    {"groups": 2, "bias": False}, {"kernel_size": (3, 1), "stride": (1, 2), "padding": (2, 0)},
])
def test_conv2d_layer_matches_torch(kwargs):
    torch = torch_or_skip()
    kwargs = dict(kwargs)
    k = kwargs.pop("kernel_size", 3)
    ours = ft.nn.Conv2d(4, 6, k, key=ft.random.key(0), dtype=np.float64, **kwargs)
    theirs = torch.nn.Conv2d(4, 6, k, **kwargs).double()
    with torch.no_grad():
        for p, leaf in zip(theirs.parameters(), ours.parameters()):
            p.copy_(torch.from_numpy(np.array(leaf)))
    x = rng.standard_normal((2, 4, 9, 8))
    tx = torch.from_numpy(x).requires_grad_()
    out = theirs(tx)
    ct = rng.standard_normal(tuple(out.shape))
    out.backward(torch.from_numpy(ct))
    got, vjp = ft.vjp(lambda m, x: m(x), ours, fnp.asarray(x))
    np.testing.assert_allclose(np.asarray(got), out.detach().numpy(), rtol=1e-12, atol=1e-12)
    g_model, g_x = vjp(fnp.asarray(ct))
    np.testing.assert_allclose(np.asarray(g_x), tx.grad.numpy(), rtol=1e-11, atol=1e-11)
    for leaf, p in zip(g_model.parameters(), theirs.parameters()):
        np.testing.assert_allclose(np.asarray(leaf), p.grad.numpy(), rtol=1e-11, atol=1e-11)


def test_linear_layernorm_embedding_flatten_match_torch():
    torch = torch_or_skip()
    tnn = torch.nn
    x = rng.standard_normal((3, 2, 5))
    cases = [
        (ft.nn.Linear(5, 4, key=ft.random.key(1), dtype=np.float64), tnn.Linear(5, 4), x),
        (ft.nn.LayerNorm(5, dtype=np.float64), tnn.LayerNorm(5), x),
        (ft.nn.LayerNorm((2, 5), dtype=np.float64), tnn.LayerNorm((2, 5)), x),
        (ft.nn.Flatten(), tnn.Flatten(), x),
        (ft.nn.Flatten(0, 1), tnn.Flatten(0, 1), x),
        (ft.nn.Softmax(dim=1), tnn.Softmax(dim=1), x),
        (ft.nn.LogSoftmax(dim=-1), tnn.LogSoftmax(dim=-1), x),
        (ft.nn.GELU("tanh"), tnn.GELU("tanh"), x),
    ]
    for ours, theirs, inp in cases:
        theirs = theirs.double()
        with torch.no_grad():
            for p, leaf in zip(theirs.parameters(), ours.parameters()):
                p.copy_(torch.from_numpy(np.asarray(leaf) + rng.standard_normal(leaf.shape)))
        ours = ft.tree_util.tree_unflatten(ft.tree_util.tree_structure(ours),
                                           [fnp.asarray(p.detach().numpy())
                                            for p in theirs.parameters()])
        tx = torch.from_numpy(inp).requires_grad_()
        out = theirs(tx)
        ct = rng.standard_normal(tuple(out.shape))
        out.backward(torch.from_numpy(ct))
        got, vjp = ft.vjp(lambda m, v: m(v), ours, fnp.asarray(inp))
        np.testing.assert_allclose(np.asarray(got), out.detach().numpy(), rtol=1e-12,
                                   atol=1e-12)
        g_model, g_x = vjp(fnp.asarray(ct))
        np.testing.assert_allclose(np.asarray(g_x), tx.grad.numpy(), rtol=1e-11, atol=1e-12)
        for leaf, p in zip(g_model.parameters(), theirs.parameters()):
            np.testing.assert_allclose(np.asarray(leaf), p.grad.numpy(), rtol=1e-11,
                                       atol=1e-12)
    emb = ft.nn.Embedding(7, 3, key=ft.random.key(2), dtype=np.float64)
    ids = np.array([[0, 6, 2], [2, 2, 5]])
    np.testing.assert_array_equal(np.asarray(emb(ids)), np.asarray(emb.weight)[ids])
    g = ft.grad(lambda m: fnp.sum(m(ids) ** 2))(emb)
    want = np.zeros((7, 3))
    np.add.at(want, ids, 2 * np.asarray(emb.weight)[ids])
    np.testing.assert_allclose(np.asarray(g.weight), want)


def test_dropout_scales_survivors_and_needs_a_key():
    x = fnp.ones((200, 50))
    out = np.asarray(ft.nn.dropout(x, 0.3, key=ft.random.key(0)))
    kept = out != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(out[kept], 1 / 0.7, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(ft.nn.dropout(x, 0.3, training=False)),
                                  np.asarray(x))
    assert not np.asarray(ft.nn.dropout(x, 1.0, key=ft.random.key(0))).any()
    with pytest.raises(ValueError, match="key"):
        ft.nn.dropout(x, 0.5)
    g = ft.grad(lambda x: fnp.sum(ft.nn.dropout(x, 0.5, key=ft.random.key(1))))(x)
    np.testing.assert_array_equal(np.asarray(g) != 0, np.asarray(
        ft.nn.dropout(x, 0.5, key=ft.random.key(1))) != 0)


# ------------------------------------------------------------------ losses
def _np_cross_entropy(logits, target, weight, ignore_index, reduction, smoothing):
    """PyTorch's documented formula, class axis 1."""
    logp = np_log_softmax(logits, axis=1)
    c = logits.shape[1]
    w = np.ones(c) if weight is None else weight
    wshape = (1, c) + (1,) * (logits.ndim - 2)
    if target.dtype.kind in "iu":
        valid = target != ignore_index
        safe = np.where(valid, target, 0)
        picked = np.take_along_axis(logp, safe[:, None], 1)[:, 0]
        wy = w[safe] * valid
        nll = -wy * picked
        smooth = -(logp * w.reshape(wshape)).sum(1) * valid
        loss = (1 - smoothing) * nll + smoothing / c * smooth
        if reduction == "mean":
            return loss.sum() / wy.sum()
    else:
        q = target * (1 - smoothing) + smoothing / c
        loss = -(q * logp * w.reshape(wshape)).sum(1)
        if reduction == "mean":
            return loss.mean()
    return loss.sum() if reduction == "sum" else loss


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("probs", [False, True])
def test_cross_entropy(reduction, weighted, smoothing, probs):
    logits = rng.standard_normal((6, 4, 3))
    if probs:
        target = np.exp(np_log_softmax(rng.standard_normal((6, 4, 3)), axis=1))
    else:
        target = rng.integers(0, 4, (6, 3))
        target[0, 1] = target[4, 2] = -100
    weight = rng.uniform(0.5, 2.0, 4) if weighted else None
    want = _np_cross_entropy(logits, target, weight, -100, reduction, smoothing)

    def loss(z):
        return ft.nn.cross_entropy(z, target, None if weight is None else fnp.asarray(weight),
                                   reduction=reduction, label_smoothing=smoothing)
    np.testing.assert_allclose(np.asarray(loss(fnp.asarray(logits))), want, rtol=1e-12)
    check_grads(loss, (fnp.asarray(logits),), order=2, modes=("fwd", "rev"))
    torch = pytest.importorskip("torch")
    tl = torch.from_numpy(logits).requires_grad_()
    tw = None if weight is None else torch.from_numpy(weight)
    tt = torch.from_numpy(target)
    t_loss = torch.nn.functional.cross_entropy(tl, tt, tw, reduction=reduction,
                                               label_smoothing=smoothing)
    np.testing.assert_allclose(np.asarray(loss(fnp.asarray(logits))), t_loss.detach().numpy(),
                               rtol=1e-12)
    t_loss.sum().backward()
    g = ft.grad(lambda z: fnp.sum(loss(z)))(fnp.asarray(logits))
    np.testing.assert_allclose(np.asarray(g), tl.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_other_losses_match_formulas_and_torch():
    x, t = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    b = rng.uniform(0, 1, (5, 3))
    w, pw = rng.uniform(0.5, 1.5, (5, 3)), rng.uniform(0.5, 3.0, 3)
    sp = np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0)
    bce = ((1 - b) * x + (1 + (pw - 1) * b) * sp) * w
    logp = np_log_softmax(x, axis=1)
    y = np.array([0, 2, 1, 1, 0])
    checks = [
        (ft.nn.mse_loss(x, t), ((x - t) ** 2).mean()),
        (ft.nn.mse_loss(x, t, reduction="sum"), ((x - t) ** 2).sum()),
        (ft.nn.l1_loss(x, t, reduction="none"), np.abs(x - t)),
        (ft.nn.nll_loss(logp, y), -logp[np.arange(5), y].mean()),
        (ft.nn.binary_cross_entropy_with_logits(x, b, w, pos_weight=pw), bce.mean()),
        (ft.nn.MSELoss()(x, t), ((x - t) ** 2).mean()),
        (ft.nn.L1Loss(reduction="sum")(x, t), np.abs(x - t).sum()),
        (ft.nn.CrossEntropyLoss()(x, y), -logp[np.arange(5), y].mean()),
        (ft.nn.NLLLoss(reduction="sum")(logp, y), -logp[np.arange(5), y].sum()),
        (ft.nn.BCEWithLogitsLoss()(x, b), ((1 - b) * x + sp).mean()),
    ]
    for got, want in checks:
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    T = torch.from_numpy
    np.testing.assert_allclose(
        np.asarray(ft.nn.binary_cross_entropy_with_logits(x, b, w, pos_weight=pw)),
        F.binary_cross_entropy_with_logits(T(x), T(b), T(w), pos_weight=T(pw)).numpy(),
        rtol=1e-12)
    np.testing.assert_allclose(np.asarray(ft.nn.nll_loss(logp, y, fnp.asarray(w[0]))),
                               F.nll_loss(T(logp), T(y), T(w[0])).numpy(), rtol=1e-12)


def test_loss_errors_name_shapes():
    with pytest.raises(ValueError, match=r"\(5, 3\).*\(5, 2\)"):
        ft.nn.mse_loss(np.zeros((5, 3)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"integer targets of shape \(5,\)"):
        ft.nn.cross_entropy(np.zeros((5, 3)), np.zeros((4,), np.int64))
    with pytest.raises(ValueError, match="reduction"):
        ft.nn.mse_loss(np.zeros(3), np.zeros(3), reduction="avg")


# ------------------------------------------------------------------ initializers
def test_default_initialization_is_pytorchs():
    lin = ft.nn.Linear(400, 300, key=ft.random.key(0))
    bound = 1 / math.sqrt(400)
    for p in (lin.weight, lin.bias):
        v = np.asarray(p)
        assert v.dtype == np.float32 and np.abs(v).max() <= bound
        assert abs(v.std() - bound / math.sqrt(3)) < 0.05 * bound
    conv = ft.nn.Conv2d(6, 16, 5, groups=2, key=ft.random.key(1), dtype=np.float64)
    assert conv.weight.dtype == np.float64 and conv.weight.shape == (16, 3, 5, 5)
    assert np.abs(np.asarray(conv.weight)).max() <= 1 / math.sqrt(3 * 25)


def test_initializers():
    init = ft.nn.init
    k = ft.random.key(3)
    fan_in, fan_out = 200 * 9, 100 * 9
    w = np.asarray(init.xavier_uniform(k, (100, 200, 3, 3)))
    assert np.abs(w).max() <= math.sqrt(6 / (fan_in + fan_out))
    w = np.asarray(init.xavier_normal(k, (100, 200, 3, 3), gain=2.0))
    assert abs(w.std() - 2 * math.sqrt(2 / (fan_in + fan_out))) < 0.002
    w = np.asarray(init.kaiming_normal(k, (300, 400), nonlinearity="relu"))
    assert abs(w.std() - math.sqrt(2 / 400)) < 0.002
    w = np.asarray(init.kaiming_uniform(k, (300, 400), mode="fan_out", nonlinearity="relu"))
    assert np.abs(w).max() <= math.sqrt(6 / 300)
    w = np.asarray(init.normal(k, (1000,), mean=3.0, std=0.5, dtype=np.float64))
    assert abs(w.mean() - 3) < 0.05 and abs(w.std() - 0.5) < 0.05 and w.dtype == np.float64
    for shape in [(5, 8), (8, 5), (4, 2, 3)]:
        q = np.asarray(init.orthogonal(k, shape, gain=1.5), np.float64).reshape(shape[0], -1)
        small = min(q.shape)
        gram = q @ q.T if q.shape[0] == small else q.T @ q
        np.testing.assert_allclose(gram, 2.25 * np.eye(small), atol=1e-5)
    np.testing.assert_array_equal(np.asarray(init.zeros((2, 3))), np.zeros((2, 3)))
    np.testing.assert_array_equal(np.asarray(init.ones((2,))), np.ones(2))
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    with pytest.raises(ValueError, match="2 dimensions"):
        init.xavier_uniform(k, (5,))


def test_more_initializers_and_the_in_place_names():
    init = ft.nn.init
    k = ft.random.key(4)
    w = np.asarray(init.trunc_normal(k, (20000,), 0.5, 2.0, -1.0, 3.0, dtype=np.float64))
    assert w.min() >= -1.0 and w.max() <= 3.0 and w.dtype == np.float64
    # mean and sd of N(0.5, 2) truncated to [-1, 3], from the standard formulas
    alpha, beta = -0.75, 1.25
    pdf = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)        # noqa: E731
    cdf = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))               # noqa: E731
    mass = cdf(beta) - cdf(alpha)
    mean = 0.5 + 2 * (pdf(alpha) - pdf(beta)) / mass
    sd = 2 * math.sqrt(1 + (alpha * pdf(alpha) - beta * pdf(beta)) / mass -
                       ((pdf(alpha) - pdf(beta)) / mass) ** 2)
    assert abs(w.mean() - mean) < 0.03 and abs(w.std() - sd) < 0.03
    np.testing.assert_array_equal(np.asarray(init.eye((2, 3))), np.eye(2, 3))
    d = np.asarray(init.dirac((4, 2, 3, 3), groups=2))
    assert d.sum() == 4 and d[0, 0, 1, 1] == d[1, 1, 1, 1] == d[2, 0, 1, 1] == d[3, 1, 1, 1] == 1
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 5)).astype(np.float32)
    conv = ft.nn.Conv2d(2, 2, 3, padding=1, bias=False, key=k)
    conv = conv.replace(weight=init.dirac(conv.weight.shape))
    np.testing.assert_allclose(np.asarray(conv(x)), x, atol=1e-6)     # passes its input on
    s = np.asarray(init.sparse(k, (10, 6), 0.3, std=0.1))
    assert ((s == 0).sum(0) == 3).all() and 0.03 < s[s != 0].std() < 0.3
    for name in ("xavier_uniform_", "kaiming_normal_", "zeros_", "trunc_normal_", "dirac_"):
        with pytest.raises(TypeError, match="layer.replace"):
            getattr(init, name)(np.ones((2, 2)))
    torch = pytest.importorskip("torch")
    theirs = torch.empty(4, 2, 3, 3)
    torch.nn.init.dirac_(theirs, 2)
    np.testing.assert_array_equal(d, theirs.numpy())
    assert {n for n in dir(torch.nn.init) if n.endswith("_") and not n.startswith("_")} <= \
        set(dir(init))


@pytest.mark.parametrize("make, x_shape", [
    (lambda k: ft.nn.Linear(0, 3, key=k), (2, 0)),
    (lambda k: ft.nn.Conv2d(0, 3, 3, key=k), (1, 0, 5, 5)),
    (lambda k: ft.nn.Linear(4, 0, key=k), (2, 4))])
def test_layers_with_no_inputs_or_outputs_build_and_run_as_pytorch_s(make, x_shape):
    """A layer with no input features has a zero bias (PyTorch's bound is 0 there) and
    computes it; one with no outputs gives an empty result."""
    layer = make(ft.random.key(0))
    out = np.asarray(layer(fnp.ones(x_shape)))
    assert layer.weight.size == 0 and not out.any()
    np.testing.assert_array_equal(np.asarray(layer.bias), np.zeros(layer.bias.shape))
    for init in (ft.nn.init.xavier_uniform, ft.nn.init.xavier_normal,
                 ft.nn.init.kaiming_uniform, ft.nn.init.kaiming_normal):
        assert init(ft.random.key(0), layer.weight.shape).shape == layer.weight.shape
