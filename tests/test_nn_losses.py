"""The losses added for sequence models and embeddings (BCELoss, HuberLoss, SmoothL1Loss,
KLDivLoss, CosineEmbeddingLoss, MarginRankingLoss, TripletMarginLoss, pairwise_distance) and
NLLLoss/CrossEntropyLoss's weight and ignore_index on K-dimensional input: values against NumPy
formulas, derivatives against finite differences (float64, order 2, both modes) and values
and gradients against PyTorch's (including its clamping at the edges)."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads

from torch_port import assert_close

F = ft.nn.functional
rng = np.random.default_rng(1)
REDUCTIONS = ["mean", "sum", "none"]


def _reduce(v, reduction):
    return v.mean() if reduction == "mean" else v.sum() if reduction == "sum" else v


def _data():
    x = rng.standard_normal((5, 4))
    return {
        "x": x, "t": rng.standard_normal((5, 4)), "p": rng.uniform(0.05, 0.95, (5, 4)),
        "q": rng.uniform(0.0, 1.0, (5, 4)), "w": rng.uniform(0.5, 2.0, (5, 4)),
        "logp": x - np.log(np.exp(x).sum(1, keepdims=True)),
        "y": np.array([1, -1, 1, -1, -1]), "a": rng.standard_normal(5),
        "b": rng.standard_normal(5), "pn": rng.standard_normal((5, 4)),
        "ng": rng.standard_normal((5, 4)),
    }


D = _data()
D["pt"] = np.exp(rng.standard_normal((5, 4)))
D["pt"] /= D["pt"].sum(1, keepdims=True)
D["pt"][0, 1] = 0.0                        # kl_div: 0·log 0 = 0
D["t"][0] = D["x"][0] + np.array([1.0, -1.0, 0.5, 0.0])   # huber/smooth-l1 edges


def _cos(a, b):
    return (a * b).sum(1) / np.sqrt(((a * a).sum(1) + 1e-12) * ((b * b).sum(1) + 1e-12))


def _dist(a, b, p):
    return (np.abs(a - b + 1e-6) ** p).sum(-1) ** (1 / p)


# (name, ours(reduction), NumPy elementwise loss, torch(F, T, reduction), differentiable args)
CASES = [
    ("bce", lambda r, p, q, w: F.binary_cross_entropy(p, q, w, reduction=r),
     lambda p, q, w: -w * (q * np.log(p) + (1 - q) * np.log1p(-p)),
     lambda tf, r, p, q, w: tf.binary_cross_entropy(p, q, w, reduction=r), ("p", "q")),
    ("huber", lambda r, x, t: F.huber_loss(x, t, r, delta=1.0),
     lambda x, t: np.where(np.abs(x - t) < 1.0, 0.5 * (x - t) ** 2, np.abs(x - t) - 0.5),
     lambda tf, r, x, t: tf.huber_loss(x, t, reduction=r, delta=1.0), ("x", "t")),
    ("huber_delta", lambda r, x, t: F.huber_loss(x, t, r, delta=0.5),
     lambda x, t: np.where(np.abs(x - t) < 0.5, 0.5 * (x - t) ** 2,
                           0.5 * (np.abs(x - t) - 0.25)),
     lambda tf, r, x, t: tf.huber_loss(x, t, reduction=r, delta=0.5), ("x", "t")),
    ("smooth_l1", lambda r, x, t: F.smooth_l1_loss(x, t, reduction=r, beta=0.5),
     lambda x, t: np.where(np.abs(x - t) < 0.5, (x - t) ** 2, np.abs(x - t) - 0.25),
     lambda tf, r, x, t: tf.smooth_l1_loss(x, t, reduction=r, beta=0.5), ("x", "t")),
    ("smooth_l1_beta0", lambda r, x, t: F.smooth_l1_loss(x, t, reduction=r, beta=0.0),
     lambda x, t: np.abs(x - t),
     lambda tf, r, x, t: tf.smooth_l1_loss(x, t, reduction=r, beta=0.0), ("x", "t")),
    ("kl_div", lambda r, logp, pt: F.kl_div(logp, pt, reduction=r),
     lambda logp, pt: np.where(pt > 0, pt * np.log(np.where(pt > 0, pt, 1)), 0) - pt * logp,
     lambda tf, r, logp, pt: tf.kl_div(logp, pt, reduction=r), ("logp",)),
    ("kl_div_log_target", lambda r, logp, x: F.kl_div(logp, x, reduction=r, log_target=True),
     lambda logp, x: np.exp(x) * (x - logp),
     lambda tf, r, logp, x: tf.kl_div(logp, x, reduction=r, log_target=True), ("logp", "x")),
    ("cosine_embedding", lambda r, x, t, y: F.cosine_embedding_loss(x, t, y, 0.1, reduction=r),
     lambda x, t, y: np.where(y == 1, 1 - _cos(x, t), np.maximum(_cos(x, t) - 0.1, 0)),
     lambda tf, r, x, t, y: tf.cosine_embedding_loss(x, t, y, 0.1, reduction=r), ("x", "t")),
    ("margin_ranking", lambda r, a, b, y: F.margin_ranking_loss(a, b, y, 0.3, reduction=r),
     lambda a, b, y: np.maximum(-y * (a - b) + 0.3, 0),
     lambda tf, r, a, b, y: tf.margin_ranking_loss(a, b, y, 0.3, reduction=r), ("a", "b")),
    ("triplet", lambda r, x, pn, ng: F.triplet_margin_loss(x, pn, ng, 1.0, 2, 1e-6, False,
                                                           reduction=r),
     lambda x, pn, ng: np.maximum(_dist(x, pn, 2) - _dist(x, ng, 2) + 1.0, 0),
     lambda tf, r, x, pn, ng: tf.triplet_margin_loss(x, pn, ng, reduction=r), ("x", "pn", "ng")),
    ("triplet_p1_swap", lambda r, x, pn, ng: F.triplet_margin_loss(x, pn, ng, 2.0, 1, 1e-6, True,
                                                                   reduction=r),
     lambda x, pn, ng: np.maximum(_dist(x, pn, 1) - np.minimum(_dist(x, ng, 1),
                                                                 _dist(pn, ng, 1)) + 2.0, 0),
     lambda tf, r, x, pn, ng: tf.triplet_margin_loss(x, pn, ng, 2.0, 1, swap=True, reduction=r),
     ("x", "pn", "ng")),
    ("triplet_p3", lambda r, x, pn, ng: F.triplet_margin_loss(x, pn, ng, 1.5, 3, 1e-6, False,
                                                              reduction=r),
     lambda x, pn, ng: np.maximum(_dist(x, pn, 3) - _dist(x, ng, 3) + 1.5, 0),
     lambda tf, r, x, pn, ng: tf.triplet_margin_loss(x, pn, ng, 1.5, 3, reduction=r),
     ("x", "pn", "ng")),
]


def _args(fn):
    import inspect
    return [n for n in inspect.signature(fn).parameters if n != "r"]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, ours, formula, theirs, diff", CASES, ids=[c[0] for c in CASES])
def test_loss(name, ours, formula, theirs, diff, reduction):
    names = _args(ours)
    vals = [D[n] for n in names]
    np.testing.assert_allclose(np.asarray(ours(reduction, *[fnp.asarray(v) for v in vals])),
                               _reduce(formula(*vals), reduction), rtol=1e-12, atol=1e-14)
    idx = [names.index(n) for n in diff]

    def loss_of(vals):
        def f(*d):
            args = [fnp.asarray(v) for v in vals]
            for i, a in zip(idx, d):
                args[i] = a
            return ours(reduction, *args)
        return f
    f = loss_of(vals)
    if reduction == "sum":                 # row 0 holds points on kinks: not for differences
        check_grads(loss_of([v[1:] for v in vals]), tuple(fnp.asarray(vals[i][1:]) for i in idx),
                    order=2, modes=("fwd", "rev"), eps=1e-6)
    torch = pytest.importorskip("torch")
    targs = [torch.from_numpy(v).requires_grad_(n in diff) for n, v in zip(names, vals)]
    want = theirs(torch.nn.functional, reduction, *targs)
    got, vjp = ft.vjp(f, *[fnp.asarray(vals[i]) for i in idx])
    assert_close(got, want, rtol=1e-12, atol=1e-14)
    ct = rng.standard_normal(tuple(want.shape))
    want.backward(torch.from_numpy(ct))
    for g, i in zip(vjp(fnp.asarray(ct)), idx):
        assert_close(g, targs[i].grad, rtol=1e-10, atol=1e-13, what=names[i])


def test_bce_clamps_logs_and_matches_torch_gradients_at_0_and_1():
    p = np.array([0.0, 0.0, 1.0, 1.0, 0.5, 1e-50])
    q = np.array([0.0, 1.0, 0.0, 1.0, 0.5, 1.0])
    loss = np.asarray(F.binary_cross_entropy(p, q, reduction="none"))
    np.testing.assert_allclose(loss, [0, 100, 100, 0, np.log(2), 100], rtol=1e-14)
    g = ft.grad(lambda p: F.binary_cross_entropy(p, q, reduction="sum"))(fnp.asarray(p))
    np.testing.assert_allclose(np.asarray(g), [0, -1e12, 1e12, 0, 0, -1e12], rtol=1e-8)
    torch = pytest.importorskip("torch")
    tp = torch.from_numpy(p).requires_grad_()
    torch.nn.functional.binary_cross_entropy(tp, torch.from_numpy(q), reduction="sum").backward()
    assert_close(g, tp.grad)


def test_kl_div_batchmean_divides_by_the_batch():
    logp, pt = D["logp"], D["pt"]
    total = np.asarray(F.kl_div(logp, pt, reduction="sum"))
    np.testing.assert_allclose(np.asarray(F.kl_div(logp, pt, reduction="batchmean")), total / 5)
    np.testing.assert_allclose(np.asarray(ft.nn.KLDivLoss(reduction="batchmean")(logp, pt)),
                               total / 5)
    torch = pytest.importorskip("torch")
    T = torch.from_numpy
    assert_close(F.kl_div(logp, pt, reduction="batchmean"),
                 torch.nn.functional.kl_div(T(logp), T(pt), reduction="batchmean"))


@pytest.mark.parametrize("ignore", [7, 1], ids=["outside", "a-class"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_and_cross_entropy_weight_and_ignore_index_on_k_dim_input(reduction, ignore):
    x = rng.standard_normal((4, 3, 5))
    y = rng.integers(0, 3, (4, 5))
    y[0, 0] = y[2, 3] = ignore
    w = rng.uniform(0.5, 2.0, 3)

    def ce(z):
        return F.cross_entropy(z, y, fnp.asarray(w), ignore_index=ignore, reduction=reduction,
                               label_smoothing=0.1)

    def nll(z):
        return F.nll_loss(z, y, fnp.asarray(w), ignore_index=ignore, reduction=reduction)
    # an ignored label adds nothing, also when it names a class
    if reduction == "none":
        for f in (ce, nll):
            np.testing.assert_array_equal(np.asarray(f(fnp.asarray(x)))[y == ignore], 0.0)
    torch = pytest.importorskip("torch")
    T = torch.from_numpy
    for ours, theirs in [(ce, lambda z: torch.nn.functional.cross_entropy(
            z, T(y), T(w), ignore_index=ignore, reduction=reduction, label_smoothing=0.1)),
            (nll, lambda z: torch.nn.functional.nll_loss(z, T(y), T(w), ignore_index=ignore,
                                                         reduction=reduction))]:
        tx = T(x).requires_grad_()
        want = theirs(tx)
        ct = rng.standard_normal(tuple(want.shape))
        want.backward(T(ct))
        got, vjp = ft.vjp(ours, fnp.asarray(x))
        assert_close(got, want, rtol=1e-12)
        assert_close(vjp(fnp.asarray(ct))[0], tx.grad, rtol=1e-11, atol=1e-14)


MODULES = [
    (lambda: ft.nn.BCELoss(), "BCELoss()", ("p", "q")),
    (lambda: ft.nn.BCELoss(fnp.asarray(D["w"]), reduction="sum"), None, ("p", "q")),
    (lambda: ft.nn.HuberLoss(delta=2.0), "HuberLoss(delta=2.0)", ("x", "t")),
    (lambda: ft.nn.SmoothL1Loss(beta=0.5), "SmoothL1Loss(beta=0.5)", ("x", "t")),
    (lambda: ft.nn.KLDivLoss(reduction="batchmean", log_target=True),
     "KLDivLoss(reduction='batchmean', log_target=True)", ("logp", "x")),
    (lambda: ft.nn.CosineEmbeddingLoss(margin=0.2), "CosineEmbeddingLoss(margin=0.2)",
     ("x", "t", "y")),
    (lambda: ft.nn.MarginRankingLoss(0.5), "MarginRankingLoss(0.5)", ("a", "b", "y")),
    (lambda: ft.nn.TripletMarginLoss(p=1.0, swap=True),
     "TripletMarginLoss(p=1.0, swap=True)", ("x", "pn", "ng")),
]


@pytest.mark.parametrize("make, torch_ctor, names", MODULES,
                         ids=[m[1] or "BCELoss(weight, 'sum')" for m in MODULES])
def test_loss_modules_under_jit_and_vmap(make, torch_ctor, names):
    loss = make()
    args = [fnp.asarray(D[n]) for n in names]
    eager = np.asarray(loss(*args))
    np.testing.assert_allclose(np.asarray(ft.jit(lambda m, *a: m(*a))(loss, *args)), eager,
                               rtol=1e-12)
    per_example = ft.vmap(lambda *a: loss.replace(reduction="none")(*a))(*args) \
        if not isinstance(loss, (ft.nn.BCELoss, ft.nn.KLDivLoss)) else None
    if per_example is not None:
        loop = [np.asarray(loss.replace(reduction="none")(*[a[i] for a in args]))
                for i in range(5)]
        np.testing.assert_allclose(np.asarray(per_example), np.stack(loop), rtol=1e-12)
    if torch_ctor is None:
        return
    torch = pytest.importorskip("torch")
    theirs = eval("torch.nn." + torch_ctor)
    assert repr(loss).split("(")[0] == repr(theirs).split("(")[0]
    assert_close(eager, theirs(*[torch.from_numpy(D[n]) for n in names]), rtol=1e-12)


def test_unbatched_inputs_and_errors():
    a, b = D["x"][0], D["t"][0]
    np.testing.assert_allclose(np.asarray(F.cosine_embedding_loss(a, b, np.array(1))),
                               1 - _cos(a[None], b[None])[0], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(F.triplet_margin_loss(a, b, D["pn"][0])),
                               max(_dist(a, b, 2) - _dist(a, D["pn"][0], 2) + 1, 0), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(F.pairwise_distance(D["x"], D["t"], keepdim=True)),
                               _dist(D["x"], D["t"], 2)[:, None], rtol=1e-12)
    if ft.backends.default_device_now().platform == "cpu":
        with pytest.raises(ValueError, match=r"probability in \[0, 1\]"):
            F.binary_cross_entropy(np.array([1.5]), np.array([1.0]))
    else:                                  # checked only where it costs no device sync
        assert np.isnan(np.asarray(F.binary_cross_entropy(np.array([1.5]), np.array([1.0]))))
    with pytest.raises(ValueError, match="batchmean"):
        F.kl_div(D["logp"], D["pt"], reduction="avg")
    with pytest.raises(ValueError, match="delta"):
        F.huber_loss(D["x"], D["t"], delta=0.0)
    with pytest.raises(ValueError, match="beta"):
        F.smooth_l1_loss(D["x"], D["t"], beta=-1.0)
    with pytest.raises(ValueError, match=r"target of shape \(4,\) must have shape \(5,\)"):
        F.cosine_embedding_loss(D["x"], D["t"], np.ones(4))
    with pytest.raises(ValueError, match="same shape"):
        F.margin_ranking_loss(D["a"], D["b"], np.ones(4))


def test_cross_entropy_promotes_float32_scores_with_float64_probabilities():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    p = rng.dirichlet(np.ones(3), 4)
    w = np.array([0.5, 1.0, 2.0], np.float32)
    logp = x.astype(np.float64) - np.log(np.exp(x.astype(np.float64)).sum(1, keepdims=True))
    want = -(p * logp * w).sum(1).mean()
    for fn in (F.cross_entropy, ft.jit(F.cross_entropy)):
        got = fn(x, p, w)
        assert got.dtype == np.float64
        np.testing.assert_allclose(float(got), want, rtol=1e-6)
    assert ft.grad(lambda s: F.cross_entropy(s, p))(x).dtype == np.float32


@pytest.mark.parametrize("loss", [
    lambda x, t: F.huber_loss(x, t), lambda x, t: F.smooth_l1_loss(x, t),
    lambda x, t: F.smooth_l1_loss(x, t, beta=0.0),
    lambda x, t: ft.optim.losses.huber_loss(x, t)])
@pytest.mark.parametrize("jit", [False, True])
def test_huber_losses_refuse_complex_values_eagerly_and_under_jit(loss, jit):
    # eagerly they returned complex numbers, under jit select refused the mixed dtypes;
    # PyTorch and Optax refuse complex inputs
    x = np.array([0.3 + 0.4j, 2.0 + 1.0j])
    with pytest.raises(TypeError, match="complex"):
        (ft.jit(loss) if jit else loss)(x, np.zeros(2))
