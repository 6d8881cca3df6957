"""RNN, LSTM, GRU and their cells against PyTorch (float64; outputs, final states, input,
state and parameter gradients; eager and jit; train and eval), their derivatives against
finite differences (order 2, forward and reverse: the hand-written backward and what
differentiates it), dropout between layers, vmap (per-example gradients), checkpoints,
names, printing, initialization and errors."""
import math

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads

from torch_port import assert_close, assert_param_grads, from_torch

rng = np.random.default_rng(2)
KEY = ft.random.key(0)


def _flat(out):
    """[output, h_n] or [output, h_n, c_n] from (output, h_n) / (output, (h_n, c_n))."""
    o, h = out
    return [o] + (list(h) if isinstance(h, tuple) else [h])


CASES = [
    ("LSTM", dict(), (5, 3, 4), None),
    ("LSTM", dict(num_layers=2, bidirectional=True, proj_size=3, batch_first=True),
     (3, 5, 4), ((4, 3, 3), (4, 3, 6))),
    ("LSTM", dict(bias=False), (5, 4), ((1, 6), (1, 6))),
    ("GRU", dict(), (5, 3, 4), None),
    ("GRU", dict(num_layers=2, bidirectional=True, bias=False), (5, 3, 4), (4, 3, 6)),
    ("GRU", dict(batch_first=True), (3, 5, 4), (1, 3, 6)),
    ("RNN", dict(), (5, 3, 4), (1, 3, 6)),
    ("RNN", dict(nonlinearity="relu", num_layers=2, bidirectional=True), (5, 4), None),
]


def _state(shape):
    if shape is None:
        return None
    if isinstance(shape[0], tuple):
        return tuple(rng.standard_normal(s) for s in shape)
    return rng.standard_normal(shape)


@pytest.mark.parametrize("kind, kwargs, x_shape, h_shape", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_layers_match_torch(kind, kwargs, x_shape, h_shape):
    torch = pytest.importorskip("torch")
    theirs = getattr(torch.nn, kind)(4, 6, **kwargs).double()
    ours = getattr(ft.nn, kind)(4, 6, key=KEY, **kwargs)
    assert repr(ours) == repr(theirs)
    ours = from_torch(ours, theirs)
    x, hx = rng.standard_normal(x_shape), _state(h_shape)
    tx = torch.from_numpy(x).requires_grad_()
    th = None if hx is None else tuple(torch.from_numpy(h).requires_grad_() for h in hx) \
        if isinstance(hx, tuple) else torch.from_numpy(hx).requires_grad_()
    want = _flat(theirs(tx, th))
    cts = [rng.standard_normal(tuple(w.shape)) for w in want]
    torch.autograd.backward(want, [torch.from_numpy(c) for c in cts])
    fh = None if hx is None else tuple(fnp.asarray(h) for h in hx) \
        if isinstance(hx, tuple) else fnp.asarray(hx)

    def f(m, x, h):
        return _flat(m(x, h))
    for fn in (f, ft.jit(f)):
        got, vjp = ft.vjp(fn, ours, fnp.asarray(x), fh)
        for g, w in zip(got, want):
            assert_close(g, w)
        g_model, g_x, g_h = vjp([fnp.asarray(c) for c in cts])
        assert_close(g_x, tx.grad)
        assert_param_grads(g_model, theirs)
        if hx is not None:
            for g, t in zip(g_h if isinstance(g_h, tuple) else [g_h],
                            th if isinstance(th, tuple) else [th]):
                assert_close(g, t.grad)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_torch(kind, batched):
    torch = pytest.importorskip("torch")
    extra = {"nonlinearity": "relu", "bias": False} if kind == "RNNCell" else {}
    theirs = getattr(torch.nn, kind)(3, 5, **extra).double()
    ours = getattr(ft.nn, kind)(3, 5, key=KEY, **extra)
    assert repr(ours) == repr(theirs)
    ours = from_torch(ours, theirs)
    x = rng.standard_normal((4, 3) if batched else (3,))
    hshape = (4, 5) if batched else (5,)
    for with_state in (False, True):
        hx = None
        if with_state:
            hx = (rng.standard_normal(hshape), rng.standard_normal(hshape)) \
                if kind == "LSTMCell" else rng.standard_normal(hshape)
        tx = torch.from_numpy(x).requires_grad_()
        th = None if hx is None else tuple(torch.from_numpy(h) for h in hx) \
            if isinstance(hx, tuple) else torch.from_numpy(hx)
        want = theirs(tx, th)
        want = list(want) if isinstance(want, tuple) else [want]
        cts = [rng.standard_normal(tuple(w.shape)) for w in want]
        torch.autograd.backward(want, [torch.from_numpy(c) for c in cts])
        fh = None if hx is None else tuple(fnp.asarray(h) for h in hx) \
            if isinstance(hx, tuple) else fnp.asarray(hx)

        def f(m, x, fh=fh):
            out = m(x, fh)
            return list(out) if isinstance(out, tuple) else [out]
        got, vjp = ft.vjp(ft.jit(f), ours, fnp.asarray(x))
        for g, w in zip(got, want):
            assert_close(g, w)
        g_model, g_x = vjp([fnp.asarray(c) for c in cts])
        assert_close(g_x, tx.grad)
        assert_param_grads(g_model, theirs)
        for p in theirs.parameters():
            p.grad = None


@pytest.mark.parametrize("kind, kwargs", [
    ("LSTM", dict(bidirectional=True)), ("LSTM", dict(proj_size=2)),
    ("GRU", dict(bidirectional=True)), ("RNN", dict(nonlinearity="tanh")),
    ("RNN", dict(nonlinearity="relu")),
])
def test_derivatives_against_finite_differences(kind, kwargs):
    """Checks the hand-written backward scan, and (order 2, forward mode) the derivatives of
    that rule, on a tiny layer in float64."""
    model = getattr(ft.nn, kind)(2, 3, key=KEY, dtype=np.float64, **kwargs)
    x = fnp.asarray(rng.standard_normal((3, 2, 2)))
    h_size = 2 if kwargs.get("proj_size") else 3
    layers = 2 if kwargs.get("bidirectional") else 1
    h0 = fnp.asarray(rng.standard_normal((layers, 2, h_size)))
    c0 = fnp.asarray(rng.standard_normal((layers, 2, 3)))
    w = fnp.asarray(rng.standard_normal((3, 2, h_size * layers)))

    def f(m, x, h0, c0):
        out = m(x, (h0, c0) if kind == "LSTM" else h0)
        return fnp.sum(out[0] * w) + fnp.sum(_flat(out)[1] ** 2)
    check_grads(f, (model, x, h0, c0), order=2, modes=("fwd", "rev"))


def test_dropout_between_layers_in_training_mode_only():
    lstm = ft.nn.LSTM(3, 4, num_layers=2, dropout=0.5, key=KEY)
    x = fnp.asarray(rng.standard_normal((6, 2, 3)).astype(np.float32))
    with pytest.raises(ValueError, match="key"):
        lstm(x)
    k = ft.random.key(7)
    out, (h, _) = lstm(x, key=k)
    # the same as the two layers run one by one with dropout on the first one's output
    names = ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    first = ft.nn.LSTM(3, 4, key=KEY).replace(**{f"{n}_l0": getattr(lstm, f"{n}_l0")
                                                 for n in names})
    second = ft.nn.LSTM(4, 4, key=KEY).replace(**{f"{n}_l0": getattr(lstm, f"{n}_l1")
                                                  for n in names})
    mid, (h0, _) = first(x)
    mid = ft.nn.functional.dropout(mid, 0.5, key=ft.random.split(k, 1)[0])
    want, (h1, _) = second(mid)
    np.testing.assert_allclose(np.asarray(out), np.asarray(want), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(h), np.asarray(fnp.stack([h0[0], h1[0]])), rtol=1e-6)
    evaluated = lstm.eval()
    assert evaluated.training is False and lstm.training is True
    plain, _ = second(first(x)[0])
    np.testing.assert_allclose(np.asarray(evaluated(x)[0]), np.asarray(plain), rtol=1e-6)
    with pytest.warns(UserWarning, match="num_layers=1"):
        ft.nn.GRU(3, 4, dropout=0.2, key=KEY)


def test_jit_makes_one_loop_per_direction():
    lstm = ft.nn.LSTM(3, 4, bidirectional=True, key=KEY)
    x = fnp.ones((5, 2, 3))
    forward = ft.jit(lambda m, x: m(x)[0]).lower(lstm, x).as_text()
    code = forward[forward.index("# generated code"):]
    assert code.count("for ") == 2
    grad = ft.jit(ft.grad(lambda m, x: fnp.sum(m(x)[0] ** 2))).lower(lstm, x).as_text()
    code = grad[grad.index("# generated code"):]
    assert code.count("for ") == 4          # forward and backward scans, two directions


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_per_example_gradients_with_vmap_and_checkpoints(kind, tmp_path):
    model = getattr(ft.nn, kind)(3, 4, key=KEY, dtype=np.float64)
    xs = fnp.asarray(rng.standard_normal((5, 6, 3)))          # 5 unbatched sequences

    def loss(m, x):
        return fnp.mean(m(x)[0] ** 2)
    per_example = ft.jit(ft.vmap(ft.grad(loss), (None, 0)))(model, xs)
    for i in range(5):
        single = ft.grad(loss)(model, xs[i])
        for a, b in zip(per_example.parameters(), single.parameters()):
            np.testing.assert_allclose(np.asarray(a[i]), np.asarray(b), rtol=1e-10, atol=1e-14)
    batched = ft.vmap(lambda x: model(x)[0])(xs)
    np.testing.assert_allclose(np.asarray(batched),
                               np.asarray(fnp.swapaxes(model(fnp.swapaxes(xs, 0, 1))[0], 0, 1)),
                               rtol=1e-12)
    ft.save(tmp_path / "rnn.ftz", model)
    back = ft.load(tmp_path / "rnn.ftz", like=getattr(ft.nn, kind)(3, 4, key=ft.random.key(9),
                                                                    dtype=np.float64))
    np.testing.assert_array_equal(np.asarray(back(xs[0])[0]), np.asarray(model(xs[0])[0]))


def test_names_shapes_initialization_and_dtype():
    lstm = ft.nn.LSTM(10, 20, num_layers=2, bidirectional=True, proj_size=5, key=KEY)
    names = [n for n, _ in lstm.named_parameters()]
    assert names[:5] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                         "weight_hr_l0"]
    assert names[5] == "weight_ih_l0_reverse" and len(names) == 20
    assert lstm.weight_ih_l1.shape == (80, 10) and lstm.weight_hh_l1.shape == (80, 5)
    assert lstm.weight_hr_l1_reverse.shape == (5, 20)
    big = ft.nn.GRU(50, 400, key=KEY)
    bound = 1 / math.sqrt(400)
    for p in big.parameters():
        v = np.asarray(p)
        assert v.dtype == np.float32 and np.abs(v).max() <= bound
        assert abs(v.std() - bound / math.sqrt(3)) < 0.05 * bound
    assert ft.nn.RNN(2, 3, key=KEY, dtype=np.float64).weight_hh_l0.dtype == np.float64
    assert ft.nn.LSTMCell(2, 3, key=KEY).weight_ih.shape == (12, 2)


def test_errors_name_the_problem():
    lstm = ft.nn.LSTM(3, 4, key=KEY)
    with pytest.raises(ValueError, match="input_size=3"):
        lstm(fnp.ones((5, 2, 4)))
    with pytest.raises(ValueError, match=r"h_0 must have shape \(1, 2, 4\)"):
        lstm(fnp.ones((5, 2, 3)), (fnp.ones((1, 3, 4)), fnp.ones((1, 2, 4))))
    with pytest.raises(TypeError, match="pair"):
        lstm(fnp.ones((5, 2, 3)), fnp.ones((1, 2, 4)))
    with pytest.raises(ValueError, match=r"\(L, N, H_in\)"):
        lstm(fnp.ones(3))
    with pytest.raises(ValueError, match="nonlinearity"):
        ft.nn.RNN(3, 4, nonlinearity="sigmoid", key=KEY)
    with pytest.raises(ValueError, match="proj_size"):
        ft.nn.LSTM(3, 4, proj_size=4, key=KEY)
    with pytest.raises(TypeError, match="key"):
        ft.nn.GRU(3, 4, key=None)
    with pytest.raises(ValueError, match=r"\(N, 3\) or unbatched \(3,\)"):
        ft.nn.GRUCell(3, 4, key=KEY)(fnp.ones((2, 2)))


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_per_example_gradients_and_checkpoints(kind, tmp_path):
    cell = getattr(ft.nn, kind)(3, 4, key=KEY, dtype=np.float64)
    xs = fnp.asarray(rng.standard_normal((5, 3)))

    def loss(m, x):
        out = m(x)
        return fnp.sum((out[0] if isinstance(out, tuple) else out) ** 2)
    per_example = ft.jit(ft.vmap(ft.grad(loss), (None, 0)))(cell, xs)
    for i in range(5):
        for a, b in zip(per_example.parameters(), ft.grad(loss)(cell, xs[i]).parameters()):
            np.testing.assert_allclose(np.asarray(a[i]), np.asarray(b), rtol=1e-12)
    ft.save(tmp_path / "cell.ftz", cell)
    back = ft.load(tmp_path / "cell.ftz", like=cell)
    np.testing.assert_array_equal(np.asarray(loss(back, xs)), np.asarray(loss(cell, xs)))


def test_vmap_over_an_ensemble_of_layers():
    keys = ft.random.split(KEY, 3)
    models = ft.vmap(lambda k: ft.nn.GRU(2, 3, key=k, dtype=np.float64))(keys)
    x = fnp.asarray(rng.standard_normal((4, 2)))

    def loss(m):
        return fnp.sum(m(x)[0] ** 2)
    outs, grads = ft.vmap(lambda m: (m(x)[0], ft.grad(loss)(m)))(models)
    for i in range(3):
        single = ft.nn.GRU(2, 3, key=keys[i], dtype=np.float64)
        np.testing.assert_allclose(np.asarray(outs[i]), np.asarray(single(x)[0]), rtol=1e-12)
        for a, b in zip(grads.parameters(), ft.grad(loss)(single).parameters()):
            np.testing.assert_allclose(np.asarray(a[i]), np.asarray(b), rtol=1e-10)
