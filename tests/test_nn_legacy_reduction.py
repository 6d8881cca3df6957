"""PyTorch's signatures of every loss: each loss module of torch.nn and each loss function of
torch.nn.functional has functrans's counterpart with the same parameter names, order, kinds and
defaults (deprecated `size_average`/`reduce` included, so positional calls mean the same), and
those legacy arguments choose the reduction as in PyTorch, with its warning. Skipped without
torch."""
import inspect
import itertools
import warnings

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp

torch = pytest.importorskip("torch")
TF, F = torch.nn.functional, ft.nn.functional
_EMPTY = inspect.Parameter.empty

# torch's factory argument `device` is functrans's `key` (arrays live on the default device;
# parameters are drawn from a key), which makes the arguments after it keyword-only
_FACTORY = {"device", "key"}


def _parameters(fn, drop=()):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()
            if p.name not in drop]


def _same(theirs, ours):
    """The differences between two signatures' parameters (name, kind, default)."""
    factory = any(n in _FACTORY for n, _, _ in theirs + ours)
    theirs = [t for t in theirs if t[0] not in _FACTORY]
    ours = [o for o in ours if o[0] not in _FACTORY]
    diffs = []
    if [t[0] for t in theirs] != [o[0] for o in ours]:
        return [("names", [t[0] for t in theirs], [o[0] for o in ours])]
    for (name, kind, default), (_, our_kind, our_default) in zip(theirs, ours):
        if kind != our_kind and not (factory and our_kind is inspect.Parameter.KEYWORD_ONLY):
            diffs.append((name, "kind", kind, our_kind))
        if (default is _EMPTY) != (our_default is _EMPTY) or (
                default is not _EMPTY and not default == our_default):
            diffs.append((name, "default", default, our_default))
    return diffs


def _loss_modules():
    return sorted(n for n in dir(torch.nn)
                  if "Loss" in n and isinstance(getattr(torch.nn, n), type))


def _loss_functions():
    return sorted(n for n in dir(TF) if not n.startswith("_") and callable(getattr(TF, n)) and
                  ("loss" in n or "entropy" in n or n == "kl_div"))


def test_the_comparison_sees_names_order_kinds_and_defaults():
    def theirs(a, b=None, size_average=None, reduce=None, reduction="mean"):
        pass

    def reordered(a, b=None, reduce=None, size_average=None, reduction="mean"):
        pass

    def other_default(a, b=None, size_average=None, reduce=None, reduction="sum"):
        pass

    def keyword_only(a, b=None, *, size_average=None, reduce=None, reduction="mean"):
        pass

    base = _parameters(theirs)
    assert _same(base, _parameters(theirs)) == []
    assert _same(base, _parameters(reordered))[0][0] == "names"
    assert _same(base, _parameters(other_default)) == [("reduction", "default", "mean", "sum")]
    assert [d[:2] for d in _same(base, _parameters(keyword_only))] == [
        ("size_average", "kind"), ("reduce", "kind"), ("reduction", "kind")]


def test_every_loss_module_has_torchs_signature():
    names = _loss_modules()
    assert len(names) >= 24 and "NLLLoss2d" in names and "BCELoss" in names
    missing = [n for n in names if not hasattr(ft.nn, n)]
    assert missing == []
    diffs = {n: _same(_parameters(getattr(torch.nn, n).__init__),
                      _parameters(getattr(ft.nn, n).__init__)) for n in names}
    assert {n: d for n, d in diffs.items() if d} == {}


def test_every_loss_function_has_torchs_signature():
    names = _loss_functions()
    assert len(names) >= 22 and "cross_entropy" in names and "kl_div" in names
    missing = [n for n in names if not hasattr(F, n)]
    assert missing == []
    diffs = {n: _same(_parameters(getattr(TF, n)), _parameters(getattr(F, n))) for n in names}
    assert {n: d for n, d in diffs.items() if d} == {}
    for n in names:                         # ft.nn's names are the functional ones
        assert getattr(ft.nn, n) is getattr(F, n)


rng = np.random.default_rng(0)
_X, _Y = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
_P = 1 / (1 + np.exp(-_X))
_PM = np.where(rng.standard_normal((4, 3)) > 0, 1.0, -1.0)
_LABELS = np.array([0, 2, 1, 2])
_LOGP = _X - np.log(np.exp(_X).sum(1, keepdims=True))
_ML = np.array([[2, 0, -1], [1, -1, 0], [0, 1, 2], [1, -1, -1]])

# functional name: (module name, the operands)
LEGACY = {
    "mse_loss": ("MSELoss", (_X, _Y)),
    "l1_loss": ("L1Loss", (_X, _Y)),
    "smooth_l1_loss": ("SmoothL1Loss", (_X, _Y)),
    "soft_margin_loss": ("SoftMarginLoss", (_X, _PM)),
    "kl_div": ("KLDivLoss", (_LOGP, np.exp(_LOGP[::-1]))),
    "binary_cross_entropy": ("BCELoss", (_P, (_PM + 1) / 2)),
    "binary_cross_entropy_with_logits": ("BCEWithLogitsLoss", (_X, (_PM + 1) / 2)),
    "cross_entropy": ("CrossEntropyLoss", (_X, _LABELS)),
    "nll_loss": ("NLLLoss", (_LOGP, _LABELS)),
    "poisson_nll_loss": ("PoissonNLLLoss", (_X, np.abs(np.round(_Y * 3)))),
    "hinge_embedding_loss": ("HingeEmbeddingLoss", (_X, _PM)),
    "multilabel_soft_margin_loss": ("MultiLabelSoftMarginLoss", (_X, (_PM + 1) / 2)),
    "multi_margin_loss": ("MultiMarginLoss", (_X, _LABELS)),
    "multilabel_margin_loss": ("MultiLabelMarginLoss", (_X, _ML)),
    "cosine_embedding_loss": ("CosineEmbeddingLoss", (_X, _Y, _PM[:, 0])),
    "margin_ranking_loss": ("MarginRankingLoss", (_X, _Y, _PM)),
    "triplet_margin_loss": ("TripletMarginLoss", (_X, _Y, _Y[::-1])),
}
_LEGACY_VALUES = (None, True, False)


def test_every_loss_with_legacy_arguments_is_covered():
    with_legacy = {n for n in _loss_functions() if "size_average" in
                   inspect.signature(getattr(TF, n)).parameters}
    assert with_legacy == set(LEGACY)
    modules = {n for n in _loss_modules() if "size_average" in
               inspect.signature(getattr(torch.nn, n).__init__).parameters}
    assert modules - {"NLLLoss2d"} == {m for m, _ in LEGACY.values()}


def _torch_args(args):
    return [torch.from_numpy(a.copy()) if a.dtype.kind == "f" else
            torch.from_numpy(a.copy()).long() for a in args]


def _record(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = call()
    return out, [w for w in caught if "size_average" in str(w.message)]


@pytest.mark.parametrize("name", sorted(LEGACY))
def test_legacy_arguments_choose_the_reduction_as_torch(name):
    module_name, args = LEGACY[name]
    ours, theirs = getattr(F, name), getattr(TF, name)
    targs = _torch_args(args)
    for size_average, reduce in itertools.product(_LEGACY_VALUES, _LEGACY_VALUES):
        for reduction in ("mean", "sum", "none"):
            kw = dict(size_average=size_average, reduce=reduce, reduction=reduction)
            want, their_warnings = _record(lambda: theirs(*targs, **kw))
            got, our_warnings = _record(lambda: ours(*[fnp.asarray(a) for a in args], **kw))
            np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-12, atol=1e-15,
                                       err_msg=f"{name}({kw})")
            assert len(our_warnings) == len(their_warnings) == (
                size_average is not None or reduce is not None)
            for w in our_warnings:
                legacy = ("mean" if size_average in (None, True) else "sum") \
                    if reduce in (None, True) else "none"
                assert f"reduction='{legacy}'" in str(w.message)
                assert w.category is UserWarning and w.filename == __file__
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                their_module = getattr(torch.nn, module_name)(**kw)
                our_module = getattr(ft.nn, module_name)(**kw)
            assert our_module.reduction == their_module.reduction
            np.testing.assert_allclose(np.asarray(our_module(*args)),
                                       their_module(*targs).numpy(), rtol=1e-12, atol=1e-15)


def test_positional_arguments_mean_what_they_mean_in_torch():
    w = np.array([[0.5, 2.0, 1.0]] * 4)
    p, t = LEGACY["binary_cross_entropy"][1]
    ours = ft.nn.BCELoss(w, None, None, "sum")
    theirs = torch.nn.BCELoss(torch.from_numpy(w), None, None, "sum")
    assert ours.reduction == theirs.reduction == "sum"
    np.testing.assert_allclose(float(ours(p, t)),
                               float(theirs(torch.from_numpy(p), torch.from_numpy(t))),
                               rtol=1e-13)
    with pytest.warns(UserWarning, match="reduction='none'") as record:
        ours = ft.nn.CrossEntropyLoss(None, True, 1, False)
    assert record[0].filename == __file__
    assert (ours.reduction, ours.ignore_index) == ("none", 1)
    x, labels = LEGACY["cross_entropy"][1]
    with pytest.warns(UserWarning, match="reduction='sum'"):
        got = F.nll_loss(_LOGP, labels, None, False, 2, True)
    want = TF.nll_loss(torch.from_numpy(_LOGP), torch.from_numpy(labels), None, False, 2,
                       True)
    np.testing.assert_allclose(float(got), float(want), rtol=1e-13)
    rate, counts = np.abs(x) + 0.1, np.round(np.abs(x) * 3)
    got = F.poisson_nll_loss(rate, counts, False, True, None, 0.5)      # eps after them
    want = TF.poisson_nll_loss(torch.from_numpy(rate), torch.from_numpy(counts), False, True,
                               None, 0.5)
    assert np.isfinite(float(got))
    np.testing.assert_allclose(float(got), float(want), rtol=1e-13)
    with pytest.raises(TypeError, match=r"keyword\b.*reduction='sum'"):
        F.mse_loss(x, x, "sum")             # an old positional reduction
    with pytest.raises(TypeError, match="reduce is PyTorch's deprecated bool"):
        ft.nn.KLDivLoss(None, "batchmean")
    with pytest.raises(TypeError):
        ft.nn.GaussianNLLLoss(True)         # keyword-only, as in PyTorch


def test_legacy_modules_under_jit_vmap_and_grad():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = ft.nn.MSELoss(size_average=False)
    assert loss.reduction == "sum"
    got = ft.jit(loss)(_X, _Y)
    np.testing.assert_allclose(float(got), ((_X - _Y) ** 2).sum(), rtol=1e-13)
    per_row = ft.vmap(loss)(_X, _Y)
    np.testing.assert_allclose(np.asarray(per_row), ((_X - _Y) ** 2).sum(1), rtol=1e-13)
    np.testing.assert_allclose(np.asarray(ft.grad(loss)(_X, _Y)), 2 * (_X - _Y), rtol=1e-13)
