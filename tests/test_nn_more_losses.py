"""PoissonNLLLoss, GaussianNLLLoss, HingeEmbeddingLoss, SoftMarginLoss,
MultiLabelSoftMarginLoss, MultiMarginLoss, MultiLabelMarginLoss and CTCLoss: values against
NumPy formulas (CTC: against summing every alignment), derivatives against finite differences
(float64, order 2, both modes, away from the kinks), values and gradients against PyTorch's
for every reduction, the modules' printing, jit and vmap, and the errors."""
import math

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads

from torch_port import assert_close

F = ft.nn.functional
rng = np.random.default_rng(7)
REDUCTIONS = ["mean", "sum", "none"]
N, C = 5, 4


def _reduce(v, reduction):
    return v.mean() if reduction == "mean" else v.sum() if reduction == "sum" else v


def _log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def _multi_margin(x, y, p, margin, w):
    out = np.zeros(len(y))
    for n, (row, k) in enumerate(zip(x, y)):
        z = np.maximum(margin - row[k] + np.delete(row, k), 0.0) ** p
        out[n] = z.sum() * (1.0 if w is None else w[k]) / len(row)
    return out


def _multilabel_margin(x, y):
    out = np.zeros(len(y))
    for n, (row, tgt) in enumerate(zip(x, y)):
        listed = list(tgt[:list(tgt).index(-1)] if -1 in tgt else tgt)
        others = [i for i in range(len(row)) if i not in listed]
        out[n] = sum(max(1 - row[j] + row[i], 0.0) for j in listed for i in others) / len(row)
    return out


def _data():
    d = {
        "x": rng.standard_normal((N, C)), "t": rng.standard_normal((N, C)),
        "pos": rng.uniform(0.2, 3.0, (N, C)),
        # counts on both sides of 1 (the Stirling term's switch), away from it
        "cnt": rng.choice([0.3, 0.6, 1.5, 2.5, 4.0], (N, C)) + rng.uniform(0, 0.2, (N, C)),
        "var": rng.uniform(0.5, 2.0, (N, C)), "vrow": rng.uniform(0.5, 2.0, N),
        "vcol": rng.uniform(0.5, 2.0, (N, 1)), "w": rng.uniform(0.5, 2.0, C),
        "pm": rng.choice([-1.0, 1.0], (N, C)), "bits": rng.integers(0, 2, (N, C)) * 1.0,
        "y": np.array([0, 3, 1, 2, 3]),
        "ml": np.array([[1, 3, -1, 0], [0, -1, -1, -1], [2, 2, 1, -1], [0, 1, 2, 3],
                        [-1, 2, 0, 1]]),
    }
    return d


D = _data()
# every hinge of D["x"] is away from its kink, for finite differences
_picked = D["x"][np.arange(N), D["y"]][:, None]
assert min(np.abs(m - _picked + D["x"]).min() for m in (1.0, 0.5)) > 1e-3
assert np.abs(0.7 - D["x"]).min() > 1e-3
assert np.abs(1 - D["x"][:, :, None] + D["x"][:, None, :]).min() > 1e-3


# (name, ours(reduction, *args), NumPy per-sample loss, torch(F, reduction, *args),
#  differentiable args)
CASES = [
    ("poisson_log", lambda r, x, cnt: F.poisson_nll_loss(x, cnt, reduction=r),
     lambda x, cnt: np.exp(x) - cnt * x,
     lambda tf, r, x, cnt: tf.poisson_nll_loss(x, cnt, reduction=r), ("x", "cnt")),
    ("poisson_full", lambda r, pos, cnt: F.poisson_nll_loss(pos, cnt, False, True,
                                                            eps=1e-3, reduction=r),
     lambda pos, cnt: pos - cnt * np.log(pos + 1e-3) + np.where(
         cnt > 1, cnt * np.log(cnt) - cnt + 0.5 * np.log(2 * np.pi * cnt), 0.0),
     lambda tf, r, pos, cnt: tf.poisson_nll_loss(pos, cnt, False, True, eps=1e-3, reduction=r),
     ("pos", "cnt")),
    ("poisson_log_full", lambda r, x, cnt: F.poisson_nll_loss(x, cnt, full=True, reduction=r),
     lambda x, cnt: np.exp(x) - cnt * x + np.where(
         cnt > 1, cnt * np.log(cnt) - cnt + 0.5 * np.log(2 * np.pi * cnt), 0.0),
     lambda tf, r, x, cnt: tf.poisson_nll_loss(x, cnt, full=True, reduction=r), ("x", "cnt")),
    ("gaussian", lambda r, x, t, var: F.gaussian_nll_loss(x, t, var, reduction=r),
     lambda x, t, var: 0.5 * (np.log(var) + (x - t) ** 2 / var),
     lambda tf, r, x, t, var: tf.gaussian_nll_loss(x, t, var, reduction=r), ("x", "t", "var")),
    ("gaussian_full_row", lambda r, x, t, vrow: F.gaussian_nll_loss(x, t, vrow, True,
                                                                    reduction=r),
     lambda x, t, vrow: 0.5 * (np.log(vrow[:, None]) + (x - t) ** 2 / vrow[:, None]
                               + np.log(2 * np.pi)),
     lambda tf, r, x, t, vrow: tf.gaussian_nll_loss(x, t, vrow, True, reduction=r),
     ("x", "t", "vrow")),
    ("gaussian_col", lambda r, x, t, vcol: F.gaussian_nll_loss(x, t, vcol, reduction=r),
     lambda x, t, vcol: 0.5 * (np.log(vcol) + (x - t) ** 2 / vcol),
     lambda tf, r, x, t, vcol: tf.gaussian_nll_loss(x, t, vcol, reduction=r),
     ("x", "t", "vcol")),
    ("hinge_embedding", lambda r, x, pm: F.hinge_embedding_loss(x, pm, 0.7, reduction=r),
     lambda x, pm: np.where(pm == 1, x, np.maximum(0.7 - x, 0.0)),
     lambda tf, r, x, pm: tf.hinge_embedding_loss(x, pm, 0.7, reduction=r), ("x",)),
    ("soft_margin", lambda r, x, pm: F.soft_margin_loss(x, pm, reduction=r),
     lambda x, pm: np.log1p(np.exp(-pm * x)),
     lambda tf, r, x, pm: tf.soft_margin_loss(x, pm, reduction=r), ("x",)),
    ("multilabel_soft_margin", lambda r, x, bits: F.multilabel_soft_margin_loss(
        x, bits, reduction=r),
     lambda x, bits: -(bits * _log_sigmoid(x) + (1 - bits) * _log_sigmoid(-x)).mean(1),
     lambda tf, r, x, bits: tf.multilabel_soft_margin_loss(x, bits, reduction=r),
     ("x", "bits")),
    ("multilabel_soft_margin_weight", lambda r, x, t, w: F.multilabel_soft_margin_loss(
        x, t, w, reduction=r),
     lambda x, t, w: -(w * (t * _log_sigmoid(x) + (1 - t) * _log_sigmoid(-x))).mean(1),
     lambda tf, r, x, t, w: tf.multilabel_soft_margin_loss(x, t, w, reduction=r),
     ("x", "t", "w")),
    ("multi_margin", lambda r, x, y: F.multi_margin_loss(x, y, reduction=r),
     lambda x, y: _multi_margin(x, y, 1, 1.0, None),
     lambda tf, r, x, y: tf.multi_margin_loss(x, y, reduction=r), ("x",)),
    ("multi_margin_p2_weight", lambda r, x, y, w: F.multi_margin_loss(x, y, 2, 0.5, w, reduction=r),
     lambda x, y, w: _multi_margin(x, y, 2, 0.5, w),
     lambda tf, r, x, y, w: tf.multi_margin_loss(x, y, 2, 0.5, w, reduction=r), ("x", "w")),
    ("multilabel_margin", lambda r, x, ml: F.multilabel_margin_loss(x, ml, reduction=r),
     _multilabel_margin,
     lambda tf, r, x, ml: tf.multilabel_margin_loss(x, ml, reduction=r), ("x",)),
]
IDS = [c[0] for c in CASES]
NOT_IN_TORCH = {("multi_margin_p2_weight", "w")}   # derivatives PyTorch does not implement


def _args(fn):
    import inspect
    return [n for n in inspect.signature(fn).parameters if n != "r"]


def _with(vals, idx, ours, reduction):
    def f(*d):
        args = [fnp.asarray(v) for v in vals]
        for i, a in zip(idx, d):
            args[i] = a
        return ours(reduction, *args)
    return f


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, ours, formula, theirs, diff", CASES, ids=IDS)
def test_values_match_formulas(name, ours, formula, theirs, diff, reduction):
    vals = [D[n] for n in _args(ours)]
    np.testing.assert_allclose(np.asarray(ours(reduction, *[fnp.asarray(v) for v in vals])),
                               _reduce(formula(*vals), reduction), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name, ours, formula, theirs, diff", CASES, ids=IDS)
def test_derivatives_match_finite_differences(name, ours, formula, theirs, diff):
    names = _args(ours)
    vals = [D[n] for n in names]
    idx = [names.index(n) for n in diff]
    check_grads(_with(vals, idx, ours, "sum"), tuple(fnp.asarray(vals[i]) for i in idx),
                order=2, modes=("fwd", "rev"), eps=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name, ours, formula, theirs, diff", CASES, ids=IDS)
def test_values_and_gradients_match_torch(name, ours, formula, theirs, diff, reduction):
    torch = pytest.importorskip("torch")
    names = _args(ours)
    vals = [D[n] for n in names]
    diff = [n for n in diff if (name, n) not in NOT_IN_TORCH]
    idx = [names.index(n) for n in diff]
    targs = [torch.from_numpy(v).requires_grad_(n in diff) for n, v in zip(names, vals)]
    want = theirs(torch.nn.functional, reduction, *targs)
    got, vjp = ft.vjp(_with(vals, idx, ours, reduction), *[fnp.asarray(vals[i]) for i in idx])
    assert tuple(got.shape) == tuple(want.shape)
    assert_close(got, want, rtol=1e-12, atol=1e-14)
    ct = rng.standard_normal(tuple(want.shape))
    want.backward(torch.from_numpy(ct))
    for g, i in zip(vjp(fnp.asarray(ct)), idx):
        assert_close(g, targs[i].grad, rtol=1e-10, atol=1e-13, what=names[i])


@pytest.mark.parametrize("name, ours, formula, theirs, diff", CASES, ids=IDS)
def test_jit_agrees_with_eager(name, ours, formula, theirs, diff):
    vals = [fnp.asarray(D[n]) for n in _args(ours)]
    for reduction in REDUCTIONS:
        eager = np.asarray(ours(reduction, *vals))
        jitted = ft.jit(lambda *a: ours(reduction, *a))(*vals)
        np.testing.assert_allclose(np.asarray(jitted), eager, rtol=1e-13, atol=1e-15)


# (our module, torch's constructor call, argument names)
MODULES = [
    (ft.nn.PoissonNLLLoss(), "PoissonNLLLoss()", ("x", "cnt")),
    (ft.nn.PoissonNLLLoss(log_input=False, full=True, eps=1e-4), "PoissonNLLLoss(log_input="
     "False, full=True, eps=1e-4)", ("pos", "cnt")),
    (ft.nn.GaussianNLLLoss(full=True, eps=1e-3), "GaussianNLLLoss(full=True, eps=1e-3)",
     ("x", "t", "var")),
    (ft.nn.HingeEmbeddingLoss(margin=0.5), "HingeEmbeddingLoss(margin=0.5)", ("x", "pm")),
    (ft.nn.SoftMarginLoss(), "SoftMarginLoss()", ("x", "pm")),
    (ft.nn.MultiLabelSoftMarginLoss(fnp.asarray(D["w"])),
     "MultiLabelSoftMarginLoss(torch.from_numpy(D['w']))", ("x", "bits")),
    (ft.nn.MultiMarginLoss(p=2, margin=0.5, weight=fnp.asarray(D["w"])),
     "MultiMarginLoss(p=2, margin=0.5, weight=torch.from_numpy(D['w']))", ("x", "y")),
    (ft.nn.MultiLabelMarginLoss(), "MultiLabelMarginLoss()", ("x", "ml")),
]


@pytest.mark.parametrize("loss, torch_ctor, names", MODULES, ids=[m[1] for m in MODULES])
def test_modules_jit_vmap_and_printing(loss, torch_ctor, names):
    args = [fnp.asarray(D[n]) for n in names]
    eager = np.asarray(loss(*args))
    np.testing.assert_allclose(np.asarray(ft.jit(lambda m, *a: m(*a))(loss, *args)), eager,
                               rtol=1e-13)
    each = loss.replace(reduction="none")
    # one sample at a time: the unbatched (C,) forms for the class losses
    per_example = ft.vmap(each)(*args)
    loop = np.stack([np.asarray(each(*[a[i] for a in args])) for i in range(N)])
    np.testing.assert_allclose(np.asarray(per_example), loop.reshape(per_example.shape),
                               rtol=1e-12)
    np.testing.assert_allclose(np.asarray(loss.replace(reduction="sum")(*args)),
                               np.asarray(each(*args)).sum(), rtol=1e-12)
    torch = pytest.importorskip("torch")
    theirs = eval("torch.nn." + torch_ctor)
    assert repr(loss) == repr(theirs)
    assert_close(eager, theirs(*[torch.from_numpy(D[n]) for n in names]), rtol=1e-12)


def test_unbatched_class_losses_match_torch():
    torch = pytest.importorskip("torch")
    T, TF = torch.from_numpy, torch.nn.functional
    x, y, ml = D["x"][1], D["y"][1], D["ml"][2]
    for r in REDUCTIONS:
        assert_close(F.multi_margin_loss(x, np.array(y), reduction=r),
                     TF.multi_margin_loss(T(x), torch.tensor(y), reduction=r), rtol=1e-13)
        assert_close(F.multilabel_margin_loss(x, ml, reduction=r),
                     TF.multilabel_margin_loss(T(x), T(ml), reduction=r), rtol=1e-13)
        assert_close(F.multilabel_soft_margin_loss(x, D["bits"][1], reduction=r),
                     TF.multilabel_soft_margin_loss(T(x), T(D["bits"][1]), reduction=r),
                     rtol=1e-13)


def test_multilabel_margin_ignores_entries_after_the_first_minus_one():
    x = fnp.asarray(D["x"][:2])
    a = np.array([[2, -1, 0, 1], [1, 3, -1, 3]])
    b = np.array([[2, -1, -1, -1], [1, 3, -1, 0]])
    np.testing.assert_allclose(np.asarray(F.multilabel_margin_loss(x, a, reduction="none")),
                               np.asarray(F.multilabel_margin_loss(x, b, reduction="none")),
                               rtol=1e-15)


def test_hinge_embedding_targets_other_than_plus_minus_one_take_both_terms():
    x = np.array([0.3, 0.3, 2.0, -0.5])
    y = np.array([0.0, 1.0, -1.0, 0.0])
    np.testing.assert_allclose(np.asarray(F.hinge_embedding_loss(x, y, reduction="none")),
                               [1.0, 0.3, 0.0, 1.0], rtol=1e-15)


def test_gaussian_variance_is_clamped_with_the_derivative_passed_through():
    x, t = np.zeros(3), np.ones(3)
    var = np.array([1e-9, 0.0, 2.0])

    def loss(v):
        return F.gaussian_nll_loss(x, t, v, eps=1e-6, reduction="sum")
    want = 0.5 * (np.log(1e-6) + 1e6) * 2 + 0.5 * (np.log(2.0) + 0.5)
    np.testing.assert_allclose(np.asarray(loss(fnp.asarray(var))), want, rtol=1e-14)
    g = np.asarray(ft.grad(loss)(fnp.asarray(var)))
    np.testing.assert_allclose(g, [0.5e6 - 0.5e12, 0.5e6 - 0.5e12, 0.25 - 0.125], rtol=1e-12)
    np.testing.assert_allclose(np.asarray(F.gaussian_nll_loss(x, t, 2.0, reduction="none")),
                               np.full(3, 0.5 * (np.log(2.0) + 0.5)), rtol=1e-14)
    torch = pytest.importorskip("torch")
    tv = torch.from_numpy(var).requires_grad_()
    torch.nn.functional.gaussian_nll_loss(torch.zeros(3, dtype=torch.float64),
                                          torch.ones(3, dtype=torch.float64), tv,
                                          reduction="sum").backward()
    assert_close(g, tv.grad, rtol=1e-12)


def test_gaussian_broadcasts_the_target_as_pytorch():
    x, var = D["x"], D["var"]
    t = D["t"][:1]
    got = F.gaussian_nll_loss(x, t, var, reduction="none")
    np.testing.assert_allclose(np.asarray(got), 0.5 * (np.log(var) + (x - t) ** 2 / var),
                               rtol=1e-13)
    torch = pytest.importorskip("torch")
    T = torch.from_numpy
    assert_close(got, torch.nn.functional.gaussian_nll_loss(T(x), T(t), T(var),
                                                            reduction="none"), rtol=1e-13)


def test_traced_bad_labels_and_variances_give_nan():
    x = fnp.asarray(D["x"][:2])
    mm = ft.jit(lambda y: F.multi_margin_loss(x, y, reduction="none"))(np.array([1, 4]))
    assert np.isfinite(np.asarray(mm)[0]) and np.isnan(np.asarray(mm)[1])
    ml = ft.jit(lambda y: F.multilabel_margin_loss(x, y, reduction="none"))(
        np.array([[0, -1, 9, 9], [0, -2, -1, 0]]))
    assert np.isnan(np.asarray(ml)).all()
    g = ft.jit(lambda v: F.gaussian_nll_loss(x, x, v, reduction="none"))(
        fnp.asarray(np.array([[1.0, -1.0, 1.0, 1.0], [1.0] * 4])))
    assert np.isnan(np.asarray(g)).sum() == 1 and np.isnan(np.asarray(g)[0, 1])


def test_errors_name_the_argument_and_shapes():
    x, y = D["x"], D["y"]
    with pytest.raises(ValueError, match=r"var of shape \(4,\) does not fit input of shape "
                                         r"\(5, 4\)"):
        F.gaussian_nll_loss(x, x, D["w"])
    with pytest.raises(ValueError, match=r"var of shape \(5, 2\)"):
        F.gaussian_nll_loss(x, x, np.ones((5, 2)))
    with pytest.raises(ValueError, match="var must not be negative"):
        F.gaussian_nll_loss(x, x, -1.0)
    with pytest.raises(ValueError, match=r"target of shape \(3, 4\) does not broadcast"):
        F.gaussian_nll_loss(x, np.ones((3, 4)), 1.0)
    with pytest.raises(ValueError, match="gaussian_nll_loss: reduction must be"):
        F.gaussian_nll_loss(x, x, 1.0, reduction="avg")
    with pytest.raises(ValueError, match=r"poisson_nll_loss: input of shape \(5, 4\) and "
                                         r"target of shape \(4,\) differ"):
        F.poisson_nll_loss(x, D["w"])
    with pytest.raises(ValueError, match="multi_margin_loss: p must be 1 or 2, got 3"):
        F.multi_margin_loss(x, y, p=3)
    with pytest.raises(ValueError, match=r"weight must have one entry per class \(4,\)"):
        F.multi_margin_loss(x, y, weight=np.ones(5))
    with pytest.raises(ValueError, match=r"needs a target of shape \(5,\), got \(4,\)"):
        F.multi_margin_loss(x, y[:4])
    with pytest.raises(TypeError, match="integer class indices"):
        F.multi_margin_loss(x, y * 1.0)
    with pytest.raises(ValueError, match=r"\(N, C\) or \(C,\), got shape \(2, 2, 2\)"):
        F.multi_margin_loss(np.ones((2, 2, 2)), np.zeros((2, 2), int))
    with pytest.raises(ValueError, match=r"needs a target of shape \(5, 4\)"):
        F.multilabel_margin_loss(x, D["ml"][:, :3])
    with pytest.raises(ValueError, match=r"weight of shape \(3,\) does not broadcast"):
        F.multilabel_soft_margin_loss(x, D["bits"], np.ones(3))
    with pytest.raises(ValueError, match="needs a class axis"):
        F.multilabel_soft_margin_loss(np.float64(1.0), np.float64(1.0))
    for fn, args in [(F.hinge_embedding_loss, (x, D["pm"])), (F.soft_margin_loss, (x, D["pm"])),
                     (F.multilabel_margin_loss, (x, D["ml"])), (F.poisson_nll_loss, (x, x))]:
        with pytest.raises(ValueError, match=fn.__name__ + ": reduction must be"):
            fn(*args, reduction="avg")
    assert math.isfinite(float(F.soft_margin_loss(np.array([-800.0]), np.array([1.0]))))


def test_bad_values_raise_where_checking_them_costs_no_device_sync():
    x = D["x"]
    cases = [(ValueError, "var has negative entries", lambda: F.gaussian_nll_loss(
                 x, x, -D["var"], reduction="none")),
             (IndexError, r"target 4 is out of range; .* in \[0, 4\)",
              lambda: F.multi_margin_loss(x, np.array([0, 1, 4, 0, 0]), reduction="none")),
             (IndexError, r"target -2 is out of range; .* in \[-1, 4\)",
              lambda: F.multilabel_margin_loss(x, np.where(D["ml"] == 3, -2, D["ml"]),
                                               reduction="none"))]
    for error, message, call in cases:
        if ft.backends.default_device_now().platform == "cpu":
            with pytest.raises(error, match=message):
                call()
        else:                              # on a GPU the loss becomes NaN instead
            assert np.isnan(np.asarray(call())).any()


# ------------------------------------------------------------------ CTC
CT, CN, CC = 5, 3, 3                       # frames, batch, classes
CZ = rng.standard_normal((CT, CN, CC))
CLP = CZ - np.log(np.exp(CZ).sum(2, keepdims=True))
CY = np.array([[1, 2, 0], [2, 2, 9], [1, 0, 0]])       # padded rows (9, 0: padding)
CIL, CTL = np.array([5, 4, 5]), np.array([2, 2, 0])
CCAT = np.array([1, 2, 2, 2])                          # the same targets concatenated


def _ctc_brute_force(lp, y, blank):
    """-log of the summed probability of every path over the frames whose collapse (repeats
    merged, then blanks dropped) is `y`."""
    import itertools
    total = 0.0
    for path in itertools.product(range(lp.shape[1]), repeat=lp.shape[0]):
        merged = [k for i, k in enumerate(path) if i == 0 or k != path[i - 1]]
        if [k for k in merged if k != blank] == list(y):
            total += np.exp(sum(lp[t, k] for t, k in enumerate(path)))
    return -np.log(total) if total > 0 else np.inf


def _swap_0_2(y):
    """The labels with 0 and 2 swapped: targets for blank=2 that never hold the blank."""
    return np.where(y == 2, 0, np.where(y == 0, 2, y))


@pytest.mark.parametrize("blank", [0, 2])
def test_ctc_matches_summing_every_alignment(blank):
    y = CY if blank == 0 else _swap_0_2(CY)
    want = np.array([_ctc_brute_force(CLP[:CIL[n], n], y[n, :CTL[n]], blank)
                     for n in range(CN)])
    got = F.ctc_loss(CLP, y, CIL, CTL, blank=blank, reduction="none")
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(F.ctc_loss(CLP, y, CIL, CTL, blank, "mean")),
                               (want / np.maximum(CTL, 1)).mean(), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(F.ctc_loss(CLP, y, CIL, CTL, blank, "sum")),
                               want.sum(), rtol=1e-12)


def test_ctc_forms_of_targets_and_lengths_agree():
    want = np.asarray(F.ctc_loss(CLP, CY, CIL, CTL, reduction="none"))
    for y, il, tl in [(CCAT, CIL, CTL), (CY, tuple(CIL), list(CTL))]:
        np.testing.assert_allclose(np.asarray(F.ctc_loss(CLP, y, il, tl, reduction="none")),
                                   want, rtol=1e-14)
    traced = ft.jit(lambda *a: F.ctc_loss(*a, reduction="none"))
    for y in (CY, CCAT):                   # traced lengths: concatenated rows padded to S
        np.testing.assert_allclose(np.asarray(traced(CLP, y, CIL, CTL)), want, rtol=1e-13)
    for n in range(CN):                    # unbatched (T, C)
        one = F.ctc_loss(CLP[:, n], CY[n], CIL[n], np.array([CTL[n]]), reduction="none")
        assert one.shape == ()
        np.testing.assert_allclose(np.asarray(one), want[n], rtol=1e-14)
    empty = F.ctc_loss(CLP, np.zeros(0, int), np.array([0, 2, 5]), np.zeros(3, int), 0, "none")
    np.testing.assert_allclose(np.asarray(empty), [0.0, -CLP[:2, 1, 0].sum(),
                                                   -CLP[:, 2, 0].sum()], rtol=1e-14)


def test_ctc_impossible_alignments_and_zero_infinity():
    y, il, tl = np.array([[1, 1, 1], [1, 2, 0]]), np.array([4, 5]), np.array([3, 2])
    lp = CLP[:, :2]
    loss = np.asarray(F.ctc_loss(lp, y, il, tl, reduction="none"))     # 1 _ 1 _ 1: 5 frames
    assert loss[0] == np.inf and np.isfinite(loss[1])
    zeroed = ft.value_and_grad(lambda l: F.ctc_loss(l, y, il, tl, reduction="sum",
                                                    zero_infinity=True))
    value, g = zeroed(fnp.asarray(lp))
    np.testing.assert_allclose(np.asarray(value), loss[1], rtol=1e-14)
    assert np.all(np.asarray(g)[:, 0] == 0) and np.all(np.isfinite(np.asarray(g)))


def test_ctc_derivatives_match_finite_differences():
    def loss(z):
        return F.ctc_loss(ft.nn.log_softmax(z, 2), CY, CIL, CTL, reduction="mean")
    check_grads(loss, (fnp.asarray(CZ),), order=2, modes=("fwd", "rev"), eps=1e-6)
    check_grads(lambda lp: F.ctc_loss(lp, CY, CIL, CTL, reduction="sum"),
                (fnp.asarray(CLP),), order=1, modes=("fwd", "rev"), eps=1e-6)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("blank, zero_infinity", [(0, False), (2, True)])
def test_ctc_matches_torch(reduction, blank, zero_infinity):
    torch = pytest.importorskip("torch")
    T, TF = torch.from_numpy, torch.nn.functional
    y, il, tl = np.where(CY == 9, 0, CY), CIL, CTL
    if blank == 2:             # sequence 1 (0, 0 in two frames) has no alignment: loss inf
        y, il, tl = _swap_0_2(y), np.array([5, 2, 5]), np.array([2, 2, 1])

    def ours(z):
        return F.ctc_loss(ft.nn.log_softmax(z, 2), y, il, tl, blank, reduction, zero_infinity)
    tz = T(CZ).requires_grad_()
    want = TF.ctc_loss(tz.log_softmax(2), T(y), T(il), T(tl), blank, reduction, zero_infinity)
    got, vjp = ft.vjp(ours, fnp.asarray(CZ))
    assert_close(got, want, rtol=1e-12)
    ct = rng.standard_normal(tuple(want.shape))
    want.backward(T(ct))
    assert_close(vjp(fnp.asarray(ct))[0], tz.grad, rtol=1e-10, atol=1e-13)
    # the derivative with respect to log_probs itself is the exact one: PyTorch's adds
    # exp(log_probs) on the frames within each (finite-loss) sequence
    lp = T(CLP).requires_grad_()
    TF.ctc_loss(lp, T(y), T(il), T(tl), blank, "sum", zero_infinity).backward()
    g = ft.grad(lambda l: F.ctc_loss(l, y, il, tl, blank, "sum", zero_infinity))(
        fnp.asarray(CLP))
    finite = np.isfinite(np.asarray(F.ctc_loss(CLP, y, il, tl, blank, "none")))
    assert finite.sum() == (2 if zero_infinity else 3)
    inside = (np.arange(CT)[:, None] < il[None]) & finite[None]
    assert_close(np.asarray(g) + inside[:, :, None] * np.exp(CLP), lp.grad, rtol=1e-10,
                 atol=1e-13)


def test_ctc_module_jit_and_printing():
    loss = ft.nn.CTCLoss(blank=1, zero_infinity=True)
    y = np.where(CY == 1, 2, CY)
    eager = np.asarray(loss(CLP, y, CIL, CTL))
    np.testing.assert_allclose(np.asarray(ft.jit(lambda m, *a: m(*a))(loss, CLP, y, CIL, CTL)),
                               eager, rtol=1e-13)
    torch = pytest.importorskip("torch")
    T = torch.from_numpy
    theirs = torch.nn.CTCLoss(blank=1, zero_infinity=True)
    assert repr(loss) == repr(theirs)
    assert_close(eager, theirs(T(CLP), T(np.where(y == 9, 0, y)), T(CIL), T(CTL)), rtol=1e-12)


def test_ctc_errors():
    with pytest.raises(ValueError, match=r"log_probs must be \(T, N, C\) or unbatched \(T, C\), "
                                         r"got shape \(5,\)"):
        F.ctc_loss(CLP[:, 0, 0], CY, CIL, CTL)
    with pytest.raises(ValueError, match=r"blank=3 must be a class index in \[0, 3\)"):
        F.ctc_loss(CLP, CY, CIL, CTL, blank=3)
    with pytest.raises(ValueError, match=r"input_lengths must have shape \(3,\)"):
        F.ctc_loss(CLP, CY, CIL[:2], CTL)
    with pytest.raises(TypeError, match="target_lengths must be integers"):
        F.ctc_loss(CLP, CY, CIL, CTL * 1.0)
    with pytest.raises(TypeError, match="targets must be integer class indices"):
        F.ctc_loss(CLP, CY * 1.0, CIL, CTL)
    with pytest.raises(ValueError, match=r"targets must be \(N, S\) = \(3, S\)"):
        F.ctc_loss(CLP, CY[:2], CIL, CTL)
    with pytest.raises(ValueError, match="reduction must be"):
        F.ctc_loss(CLP, CY, CIL, CTL, reduction="batchmean")
    with pytest.raises(ValueError, match=r"unbatched log_probs \(T, C\) need targets \(S,\)"):
        F.ctc_loss(CLP[:, 0], CY, 5, 2)
    if ft.backends.default_device_now().platform != "cpu":
        return                             # the checks below need the values on the host
    with pytest.raises(ValueError, match=r"input_lengths must be in \[0, 5\] .*got 6"):
        F.ctc_loss(CLP, CY, np.array([5, 6, 5]), CTL)
    with pytest.raises(ValueError, match=r"target_lengths must be in \[0, 3\] .*got 4"):
        F.ctc_loss(CLP, CY, CIL, np.array([4, 1, 1]))
    with pytest.raises(ValueError, match="concatenated targets hold 4 labels but "
                                         "target_lengths add up to 5"):
        F.ctc_loss(CLP, CCAT, CIL, np.array([2, 2, 1]))
    with pytest.raises(IndexError, match=r"target 9 is out of range; .* in \[0, 3\)"):
        F.ctc_loss(CLP, CY, CIL, np.array([2, 3, 0]))
