"""PyTorch habits carry over: every argument name of a `torch.nn` layer or a
`torch.nn.functional` function that functrans also has is accepted by functrans's (skipped
without torch). The gaps left are listed here, so that closing one, or opening a new one,
fails this test until the list is brought up to date."""
import inspect

import pytest

import functrans as ft

torch = pytest.importorskip("torch")

# internal or factory arguments (functrans takes `key=` and arrays live on the default device)
IGNORED = {"self", "args", "kwargs", "_stacklevel",
           "_random_samples", "device", "dtype"}
KNOWN_GAPS = {
    "Embedding": {"_weight", "_freeze"},            # use Embedding.from_pretrained
    "EmbeddingBag": {"_weight"},
    "Hardtanh": {"min_value", "max_value"},         # PyTorch's deprecated aliases
}


def _params(fn):
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return None


def _gaps(pairs):
    gaps = {}
    for name, theirs, ours in pairs:
        want, have = _params(theirs), _params(ours)
        if want is None or have is None:
            continue
        missing = want - have - IGNORED
        if missing:
            gaps[name] = missing
    return gaps


def test_layers_accept_pytorchs_arguments():
    pairs = []
    for name in dir(torch.nn):
        theirs, ours = getattr(torch.nn, name), getattr(ft.nn, name, None)
        if isinstance(theirs, type) and issubclass(theirs, torch.nn.Module) and \
                isinstance(ours, type):
            pairs.append((name, theirs.__init__, ours.__init__))
    assert len(pairs) > 50
    assert _gaps(pairs) == KNOWN_GAPS


def test_functional_forms_accept_pytorchs_arguments():
    F, TF = ft.nn.functional, torch.nn.functional
    pairs = [(name, getattr(TF, name), getattr(F, name)) for name in dir(TF)
             if not name.startswith("_") and callable(getattr(TF, name))
             and callable(getattr(F, name, None))]
    assert len(pairs) > 50
    assert _gaps(pairs) == {}


@pytest.mark.parametrize("weight_mean", ["mse_loss", "l1_loss", "huber_loss"])
def test_weighted_regression_losses_match_torch(weight_mean):
    import numpy as np
    rng = np.random.default_rng(0)
    x, t, w = (rng.standard_normal((4, 3)) for _ in range(3))
    w = np.abs(w)
    ours, theirs = getattr(ft.nn.functional, weight_mean), getattr(torch.nn.functional,
                                                                   weight_mean)
    T = torch.from_numpy
    for reduction in ("mean", "sum", "none"):
        np.testing.assert_allclose(np.asarray(ours(x, t, reduction=reduction, weight=w)),
                                   theirs(T(x), T(t), reduction=reduction, weight=T(w)).numpy(),
                                   rtol=1e-13)
    with pytest.raises(ValueError, match="weight of shape"):
        ours(x, t, weight=w[:2])


def test_inplace_and_dtype_arguments_change_nothing_but_the_dtype():
    import numpy as np
    x = np.linspace(-2, 2, 12).reshape(3, 4).astype(np.float32)
    F = ft.nn.functional
    np.testing.assert_array_equal(np.asarray(F.relu(x, inplace=True)), np.maximum(x, 0))
    assert repr(ft.nn.ReLU(inplace=True)) == repr(torch.nn.ReLU(inplace=True))
    assert repr(ft.nn.Dropout(0.2)) == repr(torch.nn.Dropout(0.2))
    np.testing.assert_array_equal(np.asarray(F.dropout(x, 0.5, False, True)), x)
    for name in ("softmax", "log_softmax", "softmin"):
        got = getattr(F, name)(x, 1, dtype=np.float64)
        want = getattr(torch.nn.functional, name)(torch.from_numpy(x), 1, dtype=torch.float64)
        assert got.dtype == np.float64
        np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-13)
