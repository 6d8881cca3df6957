"""F.normalize, F.pdist, F.gumbel_softmax, F.triplet_margin_with_distance_loss (and its layer)
and PyTorch's in-place activation names: against PyTorch in float64 where torch is installed
(outputs and derivatives), and without it: known values, finite differences, jit and vmap."""
import math
import warnings

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads

F = ft.nn.functional


def _torch_vjp(torch_fn, args, ct):
    torch = pytest.importorskip("torch")
    targs = [torch.from_numpy(a).requires_grad_() for a in args]
    out = torch_fn(*targs)
    out.backward(torch.from_numpy(np.asarray(ct, dtype=np.float64)))
    return out.detach().numpy(), [t.grad.numpy() for t in targs]


def _ours_vjp(fn, args, ct):
    out, vjp_fn = ft.vjp(fn, *[fnp.asarray(a) for a in args])
    return np.asarray(out), [np.asarray(g) for g in vjp_fn(fnp.asarray(ct))]


def _assert_parity(ours, theirs, args, rng, rtol=1e-12, atol=1e-13):
    out_shape = np.shape(np.asarray(ours(*[fnp.asarray(a) for a in args])))
    ct = rng.standard_normal(out_shape)
    o, go = _ours_vjp(ours, args, ct)
    t, gt = _torch_vjp(theirs, args, ct)
    np.testing.assert_allclose(o, t, rtol=rtol, atol=atol)
    for a, b in zip(go, gt):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# ------------------------------------------------------------------ normalize
@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 0.5, math.inf])
@pytest.mark.parametrize("dim", [1, -1, 0, (0, 2)])
def test_normalize_matches_torch(p, dim):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 2))
    x[0, :, 0] = 0.0                      # a zero vector along dim 1: eps takes over
    x[1, 2, :] = 1e-14                    # a tiny one along dim -1
    _assert_parity(lambda a: F.normalize(a, p, dim),
                   lambda a: torch.nn.functional.normalize(a, p, dim), [x], rng)


def test_normalize_without_torch():
    x = fnp.asarray([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(np.asarray(F.normalize(x, dim=1)), [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(np.asarray(F.normalize(x, p=1, dim=0)),
                               [[1.0, 1.0], [0.0, 0.0]])
    # the derivative of a vector below eps is 1 / eps (none through the clamped norm)
    g = ft.grad(lambda v: fnp.sum(F.normalize(v, dim=0, eps=1e-3)))(fnp.asarray([1e-5, 0.0]))
    np.testing.assert_allclose(np.asarray(g), [1e3, 1e3])
    rng = np.random.default_rng(1)
    for p in (2.0, 3.0, 1.0):
        check_grads(lambda a, p=p: F.normalize(a, p, dim=-1), (fnp.asarray(rng.standard_normal(
            (2, 3))),), order=2, modes=("fwd", "rev"))
    with pytest.raises(TypeError, match="out= writes"):
        F.normalize(x, out=x)
    with pytest.raises(ValueError, match="dim 2 is out of range"):
        F.normalize(x, dim=2)


def test_normalize_jit_and_per_example_vmap():
    x = fnp.asarray(np.random.default_rng(2).standard_normal((4, 5)))
    np.testing.assert_allclose(np.asarray(ft.jit(F.normalize)(x)), np.asarray(F.normalize(x)),
                               rtol=1e-15)
    rows = ft.vmap(lambda r: F.normalize(r[None])[0])(x)
    np.testing.assert_allclose(np.asarray(rows), np.asarray(F.normalize(x)), rtol=1e-15)
    per_example = ft.vmap(ft.grad(lambda r: fnp.sum(fnp.sin(F.normalize(r, dim=0)))))(x)
    for i in range(4):
        want = ft.grad(lambda v: fnp.sum(fnp.sin(F.normalize(v, dim=0))))(x[i])
        np.testing.assert_allclose(np.asarray(per_example[i]), np.asarray(want), rtol=1e-13)


# ------------------------------------------------------------------ pdist
@pytest.mark.parametrize("p", [2, 1, 3.5, 0.7, math.inf, 0])
def test_pdist_matches_torch(p):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 3))
    x[3] = x[1]                                   # a zero distance: derivative 0 there
    _assert_parity(lambda a: F.pdist(a, p), lambda a: torch.nn.functional.pdist(a, p), [x],
                   rng)


def test_pdist_without_torch():
    x = fnp.asarray([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])
    np.testing.assert_allclose(np.asarray(F.pdist(x)), [5.0, 1.0, math.sqrt(9 + 9)])
    np.testing.assert_allclose(np.asarray(F.pdist(x, p=1)), [7.0, 1.0, 6.0])
    assert F.pdist(fnp.ones((1, 3))).shape == (0,)
    check_grads(F.pdist, (fnp.asarray(np.random.default_rng(4).standard_normal((4, 3))),),
                order=2, modes=("fwd", "rev"))
    batch = fnp.asarray(np.random.default_rng(5).standard_normal((3, 4, 2)))
    np.testing.assert_allclose(np.asarray(ft.vmap(F.pdist)(batch)),
                               np.stack([np.asarray(F.pdist(b)) for b in batch]), rtol=1e-15)
    np.testing.assert_allclose(np.asarray(ft.jit(F.pdist)(batch[0])),
                               np.asarray(F.pdist(batch[0])), rtol=1e-15)
    with pytest.raises(ValueError, match="2-d"):
        F.pdist(batch)


# ------------------------------------------------------------------ gumbel_softmax
def test_gumbel_softmax_is_softmax_of_gumbel_perturbed_logits():
    logits = fnp.asarray(np.random.default_rng(6).standard_normal((4, 5)))
    key = ft.random.key(0)
    noise = ft.random.gumbel(key, (4, 5), np.float64)
    soft = F.gumbel_softmax(logits, tau=0.5, key=key)
    np.testing.assert_allclose(np.asarray(soft), np.asarray(F.softmax((logits + noise) / 0.5,
                                                                      -1)), rtol=1e-14)
    hard = F.gumbel_softmax(logits, tau=0.5, hard=True, key=key)
    np.testing.assert_array_equal(np.asarray(hard),
                                  np.eye(5)[np.argmax(np.asarray(soft), -1)])
    # straight-through: the derivative of the hard sample is the soft sample's
    ct = fnp.asarray(np.random.default_rng(7).standard_normal((4, 5)))
    for tau in (0.5, 2.0):
        g_hard = ft.grad(lambda z, t=tau: fnp.sum(F.gumbel_softmax(z, t, True, key=key) * ct))(
            logits)
        g_soft = ft.grad(lambda z, t=tau: fnp.sum(F.gumbel_softmax(z, t, key=key) * ct))(logits)
        np.testing.assert_allclose(np.asarray(g_hard), np.asarray(g_soft), rtol=1e-13)
    # dim picks the axis of the categories
    along0 = F.gumbel_softmax(logits, hard=True, dim=0, key=key)
    np.testing.assert_array_equal(np.asarray(fnp.sum(along0, axis=0)), np.ones(5))
    check_grads(lambda z: F.gumbel_softmax(z, 0.7, key=key), (logits,), order=2,
                modes=("fwd", "rev"))


def test_gumbel_softmax_samples_follow_the_softmax():
    logits = fnp.asarray([0.5, -1.0, 1.5, 0.0])
    keys = ft.random.split(ft.random.key(1), 4000)
    draws = ft.jit(ft.vmap(lambda k: F.gumbel_softmax(logits, hard=True, key=k)))(keys)
    freq = np.asarray(fnp.mean(draws, axis=0))
    np.testing.assert_allclose(freq, np.asarray(F.softmax(logits, 0)), atol=0.03)


def test_gumbel_softmax_needs_a_key_and_warns_on_eps():
    with pytest.raises(ValueError, match="pass key="):
        F.gumbel_softmax(fnp.zeros(3))
    with pytest.warns(UserWarning, match="eps"):
        F.gumbel_softmax(fnp.zeros(3), eps=1e-5, key=ft.random.key(0))


def test_gumbel_softmax_hard_matches_torch_given_the_same_noise():
    """PyTorch draws its own noise: fix torch's sampler to return ours, then compare the
    values and the straight-through derivative."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    logits = rng.standard_normal((3, 4))
    key = ft.random.key(3)
    g = np.asarray(ft.random.gumbel(key, (3, 4), np.float64))
    exp_draw = np.exp(-g)                     # -log(E) = g  <=>  E = exp(-g)
    TF = torch.nn.functional
    for hard in (False, True):
        t = torch.from_numpy(logits).requires_grad_()
        original = torch.Tensor.exponential_
        torch.Tensor.exponential_ = lambda self, *a, **k: self.copy_(torch.from_numpy(exp_draw))
        try:
            want = TF.gumbel_softmax(t, tau=0.7, hard=hard)
        finally:
            torch.Tensor.exponential_ = original
        ct = rng.standard_normal((3, 4))
        want.backward(torch.from_numpy(ct))
        out, vjp_fn = ft.vjp(lambda z, h=hard: F.gumbel_softmax(z, 0.7, h, key=key),
                             fnp.asarray(logits))
        np.testing.assert_allclose(np.asarray(out), want.detach().numpy(), rtol=1e-12,
                                   atol=1e-14)
        np.testing.assert_allclose(np.asarray(vjp_fn(fnp.asarray(ct))[0]), t.grad.numpy(),
                                   rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ triplet with distance
def _cosine_distance(a, b):
    return 1.0 - F.cosine_similarity(a, b)


@pytest.mark.parametrize("swap", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("distance", ["default", "cosine", "layer"])
def test_triplet_margin_with_distance_loss_matches_torch(swap, reduction, distance):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    a, p, n = (rng.standard_normal((6, 4)) for _ in range(3))
    ours_d = {"default": None, "cosine": _cosine_distance,
              "layer": ft.nn.PairwiseDistance(p=1.5)}[distance]
    theirs_d = {"default": None,
                "cosine": lambda x, y: 1.0 - torch.nn.functional.cosine_similarity(x, y),
                "layer": torch.nn.PairwiseDistance(p=1.5)}[distance]
    ours = ft.nn.TripletMarginWithDistanceLoss(distance_function=ours_d, margin=0.8, swap=swap,
                                               reduction=reduction)
    theirs = torch.nn.TripletMarginWithDistanceLoss(distance_function=theirs_d, margin=0.8,
                                                    swap=swap, reduction=reduction)
    assert repr(ours) == repr(theirs)
    _assert_parity(ours, theirs, [a, p, n], rng)
    _assert_parity(lambda *xs: F.triplet_margin_with_distance_loss(
        *xs, distance_function=ours_d, margin=0.8, swap=swap, reduction=reduction),
        lambda *xs: torch.nn.functional.triplet_margin_with_distance_loss(
            *xs, distance_function=theirs_d, margin=0.8, swap=swap, reduction=reduction),
        [a, p, n], rng)


def test_triplet_margin_with_distance_loss_without_torch():
    a, p, n = (fnp.asarray(v) for v in ([[0.0, 0.0]], [[3.0, 4.0]], [[1.0, 0.0]]))
    # d(a, p) = 5, d(a, n) = 1 (pairwise_distance adds eps = 1e-6 to the difference)
    got = F.triplet_margin_with_distance_loss(a, p, n, margin=2.0)
    want = F.pairwise_distance(a, p) - F.pairwise_distance(a, n) + 2.0
    np.testing.assert_allclose(np.asarray(got), np.asarray(want[0]), rtol=1e-15)
    # the default equals triplet_margin_loss
    rng = np.random.default_rng(10)
    xs = [fnp.asarray(rng.standard_normal((5, 3))) for _ in range(3)]
    np.testing.assert_allclose(
        np.asarray(F.triplet_margin_with_distance_loss(*xs, swap=True, reduction="none")),
        np.asarray(F.triplet_margin_loss(*xs, swap=True, reduction="none")), rtol=1e-14)
    loss = ft.nn.TripletMarginWithDistanceLoss(distance_function=_cosine_distance)
    check_grads(lambda *v: loss(*v), xs, order=2, modes=("fwd", "rev"))
    assert np.asarray(ft.jit(loss)(*xs)) == pytest.approx(float(loss(*xs)), rel=1e-14)
    per_example = ft.vmap(ft.grad(lambda x, y, z: loss(x[None], y[None], z[None])))(*xs)
    for i in range(5):
        want = ft.grad(lambda x, i=i: loss(x, xs[1][i:i + 1], xs[2][i:i + 1]))(xs[0][i:i + 1])
        np.testing.assert_allclose(np.asarray(per_example[i]), np.asarray(want[0]),
                                   rtol=1e-13)
    with pytest.raises(ValueError, match="margin must be greater than 0"):
        ft.nn.TripletMarginWithDistanceLoss(margin=0.0)
    with pytest.raises(ValueError, match="same number of dimensions"):
        F.triplet_margin_with_distance_loss(xs[0], xs[1][0], xs[2])
    with pytest.raises(ValueError, match="reduction must be"):
        F.triplet_margin_with_distance_loss(*xs, reduction="batchmean")


# ------------------------------------------------------------------ in-place names
INPLACE = {"relu_": "relu(x)", "elu_": "elu(x, alpha)", "leaky_relu_": "leaky_relu(",
           "hardtanh_": "hardtanh(", "selu_": "selu(x)", "celu_": "celu(x, alpha)",
           "rrelu_": "rrelu(", "threshold_": "threshold(x, threshold, value)"}


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_in_place_names_raise_and_name_the_out_of_place_call(name):
    fn = getattr(F, name)
    assert getattr(ft.nn, name) is fn
    with pytest.raises(TypeError, match=r"immutable.*Use `x = ft\.nn\.functional\." +
                       INPLACE[name].replace("(", r"\(").replace(")", r"\)")):
        fn(fnp.ones(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TypeError, match=name):
            ft.jit(lambda x: fn(x))(fnp.ones(3))
    out_of_place = getattr(F, name[:-1])
    import inspect
    assert "inplace" not in inspect.signature(fn).parameters
    assert [p for p in inspect.signature(fn).parameters] == [
        p for p in inspect.signature(out_of_place).parameters if p != "inplace"]


def test_functional_all_lists_every_function():
    public = {n for n, v in vars(F).items() if not n.startswith("_") and callable(v)}
    assert sorted(F.__all__) == sorted(public)
    assert len(F.__all__) == len(set(F.__all__))
