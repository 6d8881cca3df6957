"""PyTorch names closed late: F.linear_cross_entropy and LinearCrossEntropyLoss, NLLLoss2d,
RNNBase / RNNCellBase, F.conv_tbc, F.multi_head_attention_forward and F.grouped_mm. Against
PyTorch in float64 (grouped_mm in float32, the widest dtype PyTorch takes there) where it is
installed (values and gradients; skipped without it), and without it: reference values, finite
differences, jit and vmap."""
import warnings

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads

from torch_port import assert_close, assert_param_grads

F = ft.nn.functional
KEY = ft.random.key(0)


def _parity(ours, theirs, args, diff, rng, rtol=1e-12, atol=1e-13):
    """`ours(*args)` against `theirs(*torch args)`: values, and the gradients of a random
    cotangent with respect to the float arguments at positions `diff`."""
    torch = pytest.importorskip("torch")
    targs = [torch.from_numpy(a).requires_grad_(i in diff) if isinstance(a, np.ndarray) else a
             for i, a in enumerate(args)]
    want = theirs(*targs)
    ct = rng.standard_normal(tuple(want.shape))
    want.backward(torch.from_numpy(np.asarray(ct)))

    def f(*d):
        full = list(args)
        for i, v in zip(diff, d):
            full[i] = v
        return ours(*full)
    got, vjp_fn = ft.vjp(f, *[fnp.asarray(args[i]) for i in diff])
    assert_close(got, want, rtol, atol, "value")
    for i, g in zip(diff, vjp_fn(fnp.asarray(ct))):
        want_g = targs[i].grad                   # None where torch's output does not use it
        assert_close(g, np.zeros(args[i].shape) if want_g is None else want_g, rtol, atol,
                     f"gradient of argument {i}")


# ------------------------------------------------------------------ linear_cross_entropy
def _lce_case(rng, batch, out_features, probs):
    x = rng.standard_normal((batch, 5) if batch else (5,))
    w = rng.standard_normal((4, *out_features, 5))
    b = rng.standard_normal((4, *out_features))
    lead = (batch,) if batch else ()
    if probs:
        t = rng.random(lead + (4, *out_features))
        t /= t.sum(axis=len(lead), keepdims=True)
    else:
        t = rng.integers(0, 4, lead + out_features)
        if batch:
            t.reshape(-1)[1] = -100 if out_features else 7
    return x, w, b, t


@pytest.mark.parametrize("batch, out_features, probs", [
    (3, (), False), (0, (), False), (3, (2, 3), False), (3, (), True), (3, (2,), True)],
    ids=["N", "unbatched", "K-dim", "probs", "K-dim-probs"])
@pytest.mark.parametrize("kw", [
    dict(), dict(reduction="sum"), dict(reduction="none"), dict(label_smoothing=0.2),
    dict(weight=np.array([0.5, 1.0, 2.0, 1.5]))],
    ids=["mean", "sum", "none", "smooth", "weight"])
def test_linear_cross_entropy_matches_torch(batch, out_features, probs, kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, w, b, t = _lce_case(rng, batch, out_features, probs)
    ignore = {} if probs or not batch else {"ignore_index": -100 if out_features else 7}
    kw = dict(kw, **ignore)
    tkw = {n: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for n, v in kw.items()}
    _parity(lambda x, w, b, t: F.linear_cross_entropy(x, w, t, linear_bias=b, **kw),
            lambda x, w, b, t: torch.nn.functional.linear_cross_entropy(
                x, w, t, linear_bias=b, **tkw), [x, w, b, t], (0, 1, 2), rng)


def test_linear_cross_entropy_module_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    cw = np.array([0.5, 1.0, 2.0, 1.5])
    theirs = torch.nn.LinearCrossEntropyLoss(5, 4, out_features=(2, 3), bias=True,
                                             weight=torch.from_numpy(cw),
                                             label_smoothing=0.1).double()
    ours = ft.nn.LinearCrossEntropyLoss(5, 4, out_features=(2, 3), bias=True, weight=cw,
                                        label_smoothing=0.1, key=KEY, dtype=np.float64)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_buffers()] == ["weight"]
    ours = ours.load_state_dict(theirs.state_dict())
    x, t = rng.standard_normal((3, 5)), rng.integers(0, 4, (3, 2, 3))
    tx = torch.from_numpy(x).requires_grad_()
    want = theirs(tx, torch.from_numpy(t))
    want.backward()
    loss, (g_model, g_x) = ft.value_and_grad(lambda m, x: m(x, t), argnums=(0, 1))(ours, x)
    assert_close(loss, want)
    assert_close(g_x, tx.grad)
    assert_param_grads(g_model, theirs)
    assert_close(ft.jit(lambda m, x: m(x, t))(ours, x), want)


def test_linear_cross_entropy_without_torch():
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((3, 5)), rng.standard_normal((4, 2, 5)), \
        rng.standard_normal((4, 2))
    t = rng.integers(0, 4, (3, 2))
    logits = np.einsum("ni,cdi->ncd", x, w) + b
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    want = -np.take_along_axis(logp, t[:, None], axis=1).mean()
    got = F.linear_cross_entropy(x, w, t, linear_bias=b)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-13)
    # the chunking options of PyTorch's kernel change no value
    np.testing.assert_allclose(np.asarray(F.linear_cross_entropy(
        x, w, t, linear_bias=b, options=object())), want, rtol=1e-13)
    check_grads(lambda x, w, b: F.linear_cross_entropy(x, w, t, linear_bias=b,
                                                       label_smoothing=0.1),
                (fnp.asarray(x), fnp.asarray(w), fnp.asarray(b)), order=2)
    f = ft.jit(lambda x, w: F.linear_cross_entropy(x, w, t, reduction="none"))
    np.testing.assert_allclose(np.asarray(f(x, w)), np.asarray(
        F.linear_cross_entropy(x, w, t, reduction="none")), rtol=1e-14)
    per_example = ft.vmap(lambda xi, ti: F.linear_cross_entropy(xi[None], w, ti[None]))(
        fnp.asarray(x), fnp.asarray(t))
    np.testing.assert_allclose(np.asarray(per_example), np.asarray(
        F.linear_cross_entropy(x, w, t, reduction="none")).mean(axis=1), rtol=1e-13)
    # the module's class weight is a buffer: never trained
    m = ft.nn.LinearCrossEntropyLoss(5, 4, weight=np.ones(4), key=KEY, dtype=np.float64)
    g = ft.grad(lambda m: m(x, t[:, 0]))(m)
    assert [n for n, _ in g.named_parameters()] == ["linear.weight"]
    assert m.linear.bias is None and m.linear.weight.shape == (4, 5)


def test_linear_cross_entropy_errors():
    x, w = np.zeros((3, 5)), np.zeros((4, 5))
    with pytest.raises(ValueError, match="last axis"):
        F.linear_cross_entropy(x, np.zeros((4, 6)), np.zeros(3, int))
    with pytest.raises(ValueError, match="batched input"):
        F.linear_cross_entropy(x[0], np.zeros((4, 2, 5)), np.zeros(2, int))
    with pytest.raises(ValueError, match=r"linear_bias must have shape \(4,\)"):
        F.linear_cross_entropy(x, w, np.zeros(3, int), linear_bias=np.zeros(3))
    with pytest.raises(ValueError, match="ignore_index cannot"):
        F.linear_cross_entropy(x, w, np.full((3, 4), 0.25), ignore_index=0)
    with pytest.raises(ValueError, match="input must be"):
        F.linear_cross_entropy(np.zeros((2, 3, 5)), w, np.zeros(2, int))
    with pytest.raises(ValueError, match=r"weight must have shape \(4,\)"):
        ft.nn.LinearCrossEntropyLoss(5, 4, weight=np.ones(3), key=KEY)


# ------------------------------------------------------------------ NLLLoss2d
def test_nll_loss_2d_is_the_deprecated_nll_loss():
    rng = np.random.default_rng(3)
    logp = np.log(rng.dirichlet(np.ones(3), (2, 4, 4)).transpose(0, 3, 1, 2))
    t = rng.integers(0, 3, (2, 4, 4))
    with pytest.warns(FutureWarning, match="NLLLoss2d is deprecated"):
        loss = ft.nn.NLLLoss2d(weight=np.array([1.0, 2.0, 0.5]), ignore_index=1)
    assert isinstance(loss, ft.nn.NLLLoss)
    want = ft.nn.NLLLoss(weight=np.array([1.0, 2.0, 0.5]), ignore_index=1)(logp, t)
    with warnings.catch_warnings():
        warnings.simplefilter("error")               # warns once, when built
        np.testing.assert_allclose(np.asarray(loss(logp, t)), np.asarray(want), rtol=1e-15)
        ft.jit(lambda m: m(logp, t))(loss)
    torch = pytest.importorskip("torch")
    with pytest.warns(FutureWarning):
        theirs = torch.nn.NLLLoss2d(weight=torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64),
                                    ignore_index=1)
    assert_close(loss(logp, t), theirs(torch.from_numpy(logp), torch.from_numpy(t)))


# ------------------------------------------------------------------ RNNBase, RNNCellBase
@pytest.mark.parametrize("mode", ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"])
@pytest.mark.parametrize("kw", [dict(), dict(num_layers=2, bidirectional=True, bias=False),
                                dict(proj_size=2, batch_first=True)],
                         ids=["plain", "2-layers-bidirectional", "proj"])
def test_rnn_base_builds_pytorchs_parameters(mode, kw):
    ours = ft.nn.RNNBase(mode, 3, 4, key=KEY, dtype=np.float64, **kw)
    bound = 1 / np.sqrt(4)
    assert all(np.abs(np.asarray(p)).max() <= bound for p in ours.parameters())
    with pytest.raises(NotImplementedError, match="RNNBase"):
        ours(np.zeros((2, 1, 3)))
    torch = pytest.importorskip("torch")
    theirs = torch.nn.RNNBase(mode, 3, 4, **kw).double()
    assert repr(ours) == repr(theirs)
    assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    ours = ours.load_state_dict(theirs.state_dict())
    assert len(ours.all_weights) == len(theirs.all_weights)
    for mine, their in zip(ours.all_weights, theirs.all_weights):
        assert len(mine) == len(their)
        for a, b in zip(mine, their):
            assert_close(a, b, 0, 0)


def test_rnn_layers_derive_from_the_base_classes():
    for cls in (ft.nn.RNN, ft.nn.LSTM, ft.nn.GRU):
        assert issubclass(cls, ft.nn.RNNBase)
    for cls in (ft.nn.RNNCell, ft.nn.LSTMCell, ft.nn.GRUCell):
        assert issubclass(cls, ft.nn.RNNCellBase)
    lstm = ft.nn.LSTM(3, 4, num_layers=2, key=KEY)
    assert [len(w) for w in lstm.all_weights] == [4, 4]
    assert lstm.all_weights[1][0] is lstm.weight_ih_l1
    with pytest.raises(ValueError, match="unrecognized mode 'SRU'"):
        ft.nn.RNNBase("SRU", 3, 4, key=KEY)
    with pytest.raises(ValueError, match="proj_size"):
        ft.nn.RNNBase("LSTM", 3, 4, proj_size=4, key=KEY)


class _MinimalCell(ft.nn.RNNCellBase):
    """A user's cell on PyTorch's base class: h' = tanh(W_ih x + b_ih) * sigmoid(W_hh h + b_hh)
    with two chunks of which it uses the first."""

    def __init__(self, input_size, hidden_size, *, key):
        super().__init__(input_size, hidden_size, True, 2, key=key, dtype=np.float64)

    def __call__(self, x, h):
        n = self.hidden_size
        a = F.linear(x, self.weight_ih[:n], self.bias_ih[:n])
        b = F.linear(h, self.weight_hh[:n], self.bias_hh[:n])
        return fnp.tanh(a) * ft.nn.sigmoid(b)


def test_rnn_cell_base_builds_pytorchs_parameters_and_subclasses():
    cell = _MinimalCell(3, 4, key=KEY)
    assert [(n, p.shape) for n, p in cell.named_parameters()] == [
        ("weight_ih", (8, 3)), ("weight_hh", (8, 4)), ("bias_ih", (8,)), ("bias_hh", (8,))]
    assert repr(cell) == "_MinimalCell(3, 4)"
    rng = np.random.default_rng(4)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    g = ft.grad(lambda c: fnp.sum(c(x, h)))(cell)
    assert np.count_nonzero(np.asarray(g.weight_ih)[4:]) == 0
    check_grads(lambda x, h: cell(x, h), (fnp.asarray(x), fnp.asarray(h)), order=2)
    np.testing.assert_allclose(np.asarray(ft.jit(lambda c: c(x, h))(cell)),
                               np.asarray(cell(x, h)), rtol=1e-15)
    base = ft.nn.RNNCellBase(3, 4, False, 3, key=KEY)
    assert [n for n, _ in base.named_parameters()] == ["weight_ih", "weight_hh"]
    with pytest.raises(NotImplementedError):
        base(np.zeros(3))
    torch = pytest.importorskip("torch")
    assert repr(base) == repr(torch.nn.RNNCellBase(3, 4, False, 3))
    theirs = torch.nn.RNNCellBase(3, 4, True, 2).double()
    ours = cell.load_state_dict(theirs.state_dict())
    for (n, a), (m, b) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert n == m
        assert_close(a, b, 0, 0)


# ------------------------------------------------------------------ conv_tbc
def _conv_tbc_reference(x, w, b, pad):
    xp = np.pad(x, ((pad, pad), (0, 0), (0, 0))) if pad >= 0 else x[-pad:pad]
    steps = xp.shape[0] - w.shape[0] + 1
    return np.stack([np.einsum("kbi,kio->bo", xp[t:t + w.shape[0]], w)
                     for t in range(steps)]) + b


@pytest.mark.parametrize("pad", [0, 1, 2, -1])
def test_conv_tbc_matches_torch(pad):
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((6, 2, 3)), rng.standard_normal((3, 3, 4)), \
        rng.standard_normal(4)
    np.testing.assert_allclose(np.asarray(F.conv_tbc(x, w, b, pad)),
                               _conv_tbc_reference(x, w, b, pad), rtol=1e-13, atol=1e-14)
    torch = pytest.importorskip("torch")
    _parity(F.conv_tbc, torch.nn.functional.conv_tbc, [x, w, b, pad], (0, 1, 2), rng)


def test_conv_tbc_derivatives_jit_vmap_and_errors():
    rng = np.random.default_rng(6)
    x, w, b = (fnp.asarray(rng.standard_normal(s)) for s in ((5, 2, 3), (2, 3, 4), (4,)))
    check_grads(lambda x, w, b: F.conv_tbc(x, w, b, 1), (x, w, b), order=2)
    np.testing.assert_allclose(np.asarray(ft.jit(F.conv_tbc, static_argnums=3)(x, w, b, 1)),
                               np.asarray(F.conv_tbc(x, w, b, 1)), rtol=1e-15)
    # one sequence at a time along the batch axis (1) gives the batched result
    per_seq = ft.vmap(lambda s: F.conv_tbc(s[:, None], w, b)[:, 0], in_axes=1, out_axes=1)(x)
    np.testing.assert_allclose(np.asarray(per_seq), np.asarray(F.conv_tbc(x, w, b)),
                               rtol=1e-14)
    assert F.conv_tbc(x[:1], w, None).shape == (0, 2, 4)
    assert F.conv_tbc(x, w, None).shape == (4, 2, 4)
    with pytest.raises(ValueError, match="in_channels"):
        F.conv_tbc(x, w[:, :2], b)
    with pytest.raises(ValueError, match=r"bias must have shape \(4,\)"):
        F.conv_tbc(x, w, b[:3])
    with pytest.raises(TypeError, match="pad must be an int"):
        F.conv_tbc(x, w, b, (1,))
    with pytest.raises(ValueError, match="does not fit"):
        F.conv_tbc(x[:1], w, b, -1)


# ------------------------------------------------------------------ multi_head_attention_forward
def _mha_args(rng, separate=False, bias_kv=False, unbatched=False):
    e, n = 8, 2
    lead = (lambda s: (s,)) if unbatched else (lambda s: (s, n))
    q, k, v = rng.standard_normal(lead(4) + (e,)), rng.standard_normal(lead(6) + (
        3 if separate else e,)), rng.standard_normal(lead(6) + (5 if separate else e,))
    args = dict(in_proj_weight=None if separate else rng.standard_normal((3 * e, e)) / 3,
                in_proj_bias=rng.standard_normal(3 * e),
                bias_k=rng.standard_normal((1, 1, e)) if bias_kv else None,
                bias_v=rng.standard_normal((1, 1, e)) if bias_kv else None,
                out_proj_weight=rng.standard_normal((e, e)) / 3,
                out_proj_bias=rng.standard_normal(e))
    if separate:
        args.update(q_proj_weight=rng.standard_normal((e, e)) / 3,
                    k_proj_weight=rng.standard_normal((e, 3)) / 2,
                    v_proj_weight=rng.standard_normal((e, 5)) / 2)
    return q, k, v, args


KPM = np.zeros((2, 6), bool)
KPM[0, 4:] = True
MHA_CASES = {
    "plain": (dict(), dict()),
    "masks-per-head": (dict(), dict(key_padding_mask=KPM, average_attn_weights=False,
                                    attn_mask=np.random.default_rng(7).random((4, 6)) > 0.8)),
    "no-weights-float-masks": (dict(), dict(need_weights=False, key_padding_mask=np.where(
        KPM, -np.inf, 0.0), attn_mask=np.random.default_rng(8).standard_normal((8, 4, 6)))),
    "separate-bias_kv-zero_attn": (dict(separate=True, bias_kv=True),
                                   dict(add_zero_attn=True, key_padding_mask=KPM)),
    "static_k-static_v": (dict(), dict(key_padding_mask=np.zeros((2, 7), bool))),
    "unbatched": (dict(unbatched=True), dict(key_padding_mask=KPM[0])),
    "eval-causal": (dict(), dict(dropout_p=0.5, training=False, is_causal=True,
                                 attn_mask=np.triu(np.full((4, 6), -np.inf), 1))),
}


@pytest.mark.parametrize("case", list(MHA_CASES))
def test_multi_head_attention_forward_matches_torch(case):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    ctor, kw = MHA_CASES[case]
    q, k, v, weights = _mha_args(rng, **ctor)
    if case == "static_k-static_v":
        kw = dict(kw, static_k=rng.standard_normal((8, 7, 2)),
                  static_v=rng.standard_normal((8, 7, 2)))
    kw = dict(dict(add_zero_attn=False, dropout_p=0.0), **kw)
    names = [n for n, a in weights.items() if a is not None]
    statics = [n for n in ("static_k", "static_v") if n in kw]
    diff_names = names + statics
    arrays = [q, k, v] + [weights[n] for n in names] + [kw[n] for n in statics]
    rest = {n: a for n, a in kw.items() if n not in statics}
    fixed = dict(embed_dim_to_check=8, num_heads=4, use_separate_proj_weight="q_proj_weight"
                 in weights)

    def call(fn, conv, cat):
        def f(q, k, v, *ws):
            full = {n: None for n in ("in_proj_weight", "bias_k", "bias_v")}
            full.update(zip(diff_names, ws))
            out, attn = fn(q, k, v, **fixed, **full, **{n: conv(a) for n, a in rest.items()})
            return out if attn is None else cat([out.reshape(-1), attn.reshape(-1)])
        return f
    T = torch.from_numpy
    theirs = call(torch.nn.functional.multi_head_attention_forward,
                  lambda a: T(a) if isinstance(a, np.ndarray) else a, torch.cat)
    ours = call(F.multi_head_attention_forward, lambda a: a, fnp.concatenate)
    _parity(ours, theirs, arrays, tuple(range(len(arrays))), rng, rtol=1e-11, atol=1e-12)


def test_multi_head_attention_forward_is_what_the_module_runs():
    rng = np.random.default_rng(10)
    mha = ft.nn.MultiheadAttention(8, 2, kdim=3, vdim=5, add_bias_kv=True, key=KEY,
                                   dtype=np.float64)
    q, k, v = rng.standard_normal((4, 2, 8)), rng.standard_normal((6, 2, 3)), \
        rng.standard_normal((6, 2, 5))
    want = mha(q, k, v, key_padding_mask=KPM)
    got = F.multi_head_attention_forward(
        q, k, v, 8, 2, None, mha.in_proj_bias, mha.bias_k, mha.bias_v, False, 0.0,
        mha.out_proj.weight, mha.out_proj.bias, key_padding_mask=KPM,
        use_separate_proj_weight=True, q_proj_weight=mha.q_proj_weight,
        k_proj_weight=mha.k_proj_weight, v_proj_weight=mha.v_proj_weight)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_multi_head_attention_forward_derivatives_jit_vmap_dropout_and_errors():
    rng = np.random.default_rng(11)
    q, k, v, w = _mha_args(rng)
    q, k, v = q[:2, :1], k[:3, :1], v[:3, :1]

    def f(q, k, v, w_in, w_out):
        return F.multi_head_attention_forward(q, k, v, 8, 2, w_in, None, None, None, False,
                                              0.0, w_out, None)[0]
    arrays = tuple(fnp.asarray(a) for a in (q, k, v, w["in_proj_weight"],
                                            w["out_proj_weight"]))
    check_grads(f, arrays, order=1)
    np.testing.assert_allclose(np.asarray(ft.jit(f)(*arrays)), np.asarray(f(*arrays)),
                               rtol=1e-13)
    # per-sequence vmap over unbatched inputs gives the batched result
    q2, k2, v2, _ = _mha_args(rng)
    per = ft.vmap(lambda a, b, c: f(a, b, c, *arrays[3:]), in_axes=1, out_axes=1)(q2, k2, v2)
    np.testing.assert_allclose(np.asarray(per), np.asarray(f(q2, k2, v2, *arrays[3:])),
                               rtol=1e-12, atol=1e-14)

    def g(**kw):
        return F.multi_head_attention_forward(q2, k2, v2, 8, 2, w["in_proj_weight"], None,
                                              None, None, False, 0.5, w["out_proj_weight"],
                                              None, **kw)[0]
    with pytest.raises(ValueError, match="dropout_key"):
        g()
    a, b = g(dropout_key=ft.random.key(1)), g(dropout_key=ft.random.key(2))
    assert not np.allclose(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(g(training=False)), np.asarray(g(
        training=False, dropout_key=ft.random.key(1))))
    with pytest.raises(ValueError, match="embed_dim_to_check"):
        F.multi_head_attention_forward(q2, k2, v2, 6, 2, w["in_proj_weight"], None, None, None,
                                       False, 0.0, w["out_proj_weight"], None)
    with pytest.raises(ValueError, match="q_proj_weight, k_proj_weight and v_proj_weight"):
        F.multi_head_attention_forward(q2, k2, v2, 8, 2, None, None, None, None, False, 0.0,
                                       w["out_proj_weight"], None,
                                       use_separate_proj_weight=True)
    with pytest.raises(ValueError, match="both bias_k and bias_v"):
        F.multi_head_attention_forward(q2, k2, v2, 8, 2, w["in_proj_weight"], None,
                                       np.zeros((1, 1, 8)), None, False, 0.0,
                                       w["out_proj_weight"], None)
    with pytest.raises(ValueError, match=r"static_k must be .*\(8, S, 2\)"):
        F.multi_head_attention_forward(q2, k2, v2, 8, 4, w["in_proj_weight"], None, None, None,
                                       False, 0.0, w["out_proj_weight"], None,
                                       static_k=np.zeros((8, 6, 3)))
    with pytest.raises(ValueError, match=r"key_padding_mask must be .*\(2, 6\)"):
        F.multi_head_attention_forward(q2, k2, v2, 8, 2, w["in_proj_weight"], None, None, None,
                                       False, 0.0, w["out_proj_weight"], None,
                                       key_padding_mask=np.zeros((2, 5), bool))


# ------------------------------------------------------------------ grouped_mm
OFFS = np.array([2, 2, 5], np.int32)           # an empty group and a part past offs[-1]
# case: shapes of mat_a and mat_b, offs, and the parts of the output and of each operand's
# gradient that PyTorch defines (past offs[-1] it leaves memory uninitialized; ours is zero)
GMM = {"2d-3d": ((6, 8), (3, 8, 8), OFFS, np.s_[:5], np.s_[:5], np.s_[:]),
       "3d-3d": ((3, 2, 8), (3, 8, 8), None, np.s_[:], np.s_[:], np.s_[:]),
       "2d-2d": ((3, 8), (8, 8), OFFS, np.s_[:], np.s_[:, :5], np.s_[:5]),
       "3d-2d": ((3, 2, 8), (8, 8), OFFS, np.s_[:, :5], np.s_[:], np.s_[:, :5])}


def _gmm_reference(a, b, offs):
    """The grouped product by a loop over the groups, zero past offs[-1]."""
    if offs is None:
        return a @ b
    bounds = list(zip(np.concatenate([[0], offs[:-1]]), offs))
    if b.ndim == 3:
        out = np.zeros((a.shape[0], b.shape[2]))
        for g, (s, e) in enumerate(bounds):
            out[s:e] = a[s:e] @ b[g]
        return out
    if a.ndim == 3:
        out = np.zeros((a.shape[1], b.shape[1]))
        for g, (s, e) in enumerate(bounds):
            out[:, s:e] = a[g] @ b[:, s:e]
        return out
    return np.stack([a[:, s:e] @ b[s:e] for s, e in bounds])


def _zero_outside(x, part):
    rest = np.array(x, copy=True)
    rest[part] = 0
    np.testing.assert_array_equal(rest, 0)


@pytest.mark.parametrize("case", GMM)
def test_grouped_mm_matches_torch(case):
    torch = pytest.importorskip("torch")
    sa, sb, offs, out_part, a_part, b_part = GMM[case]
    rng = np.random.default_rng(5)
    a, b = (rng.standard_normal(s).astype(np.float32) for s in (sa, sb))
    ta, tb = (torch.from_numpy(x).requires_grad_() for x in (a, b))
    want = torch.nn.functional.grouped_mm(ta, tb, offs=None if offs is None else
                                          torch.from_numpy(offs))
    ct = rng.standard_normal(tuple(want.shape)).astype(np.float32)
    want.backward(torch.from_numpy(ct))
    got, vjp_fn = ft.vjp(lambda a, b: F.grouped_mm(a, b, offs=offs), fnp.asarray(a),
                         fnp.asarray(b))
    assert got.dtype == np.float32 and got.shape == tuple(want.shape)
    assert_close(np.asarray(got)[out_part], want.detach().numpy()[out_part], 1e-5, 1e-5)
    _zero_outside(got, out_part)
    for g, t, part in zip(vjp_fn(fnp.asarray(ct)), (ta, tb), (a_part, b_part)):
        assert_close(np.asarray(g)[part], t.grad.numpy()[part], 1e-5, 1e-5)
        _zero_outside(g, part)


@pytest.mark.parametrize("case", GMM)
def test_grouped_mm_reference_derivatives_jit_and_vmap(case):
    sa, sb, offs, *_ = GMM[case]
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    got = F.grouped_mm(a, b, offs=offs)
    np.testing.assert_allclose(np.asarray(got), _gmm_reference(a, b, offs), rtol=1e-13,
                               atol=1e-14)
    check_grads(lambda a, b: F.grouped_mm(a, b, offs=offs), (fnp.asarray(a), fnp.asarray(b)),
                order=2)
    jitted = ft.jit(lambda a, b, o: F.grouped_mm(a, b, offs=o))(a, b, offs)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(got), rtol=1e-14, atol=1e-14)
    # a batch of problems, offs batched too where given
    batch_a, batch_b = rng.standard_normal((2,) + sa), rng.standard_normal((2,) + sb)
    batch_o = None if offs is None else np.stack([offs, np.array([0, 3, 4], np.int32)])
    mapped = ft.vmap(lambda a, b, o: F.grouped_mm(a, b, offs=o),
                     in_axes=(0, 0, None if offs is None else 0))(batch_a, batch_b, batch_o)
    for i in range(2):
        np.testing.assert_allclose(np.asarray(mapped[i]), _gmm_reference(
            batch_a[i], batch_b[i], None if offs is None else batch_o[i]), rtol=1e-13,
            atol=1e-14)


def test_grouped_mm_trains_a_mixture_of_experts_layer_under_jit():
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((6, 4)), rng.standard_normal((3, 4, 2))

    @ft.jit
    def grads(w, offs):
        return ft.grad(lambda w: fnp.sum(F.grouped_mm(x, w, offs=offs) ** 2))(w)
    for offs in (OFFS, np.array([6, 6, 6], np.int32)):
        want = np.zeros_like(w)
        for g, (s, e) in enumerate(zip(np.concatenate([[0], offs[:-1]]), offs)):
            want[g] = 2 * x[s:e].T @ (x[s:e] @ w[g])
        np.testing.assert_allclose(np.asarray(grads(w, offs)), want, rtol=1e-13, atol=1e-14)


def test_grouped_mm_errors():
    a, b = np.zeros((6, 8), np.float32), np.zeros((3, 8, 4), np.float32)
    with pytest.raises(NotImplementedError, match="bias is not supported"):
        F.grouped_mm(a, b, offs=OFFS, bias=np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="out_dtype must be the inputs' dtype float32"):
        F.grouped_mm(a, b, offs=OFFS, out_dtype=np.float64)
    assert F.grouped_mm(a, b, offs=OFFS, out_dtype=np.float32).dtype == np.float32
    with pytest.raises(ValueError, match="offs .* is needed"):
        F.grouped_mm(a, b)
    with pytest.raises(ValueError, match="offs must be None"):
        F.grouped_mm(np.zeros((3, 2, 8)), np.zeros((3, 8, 4)), offs=OFFS)
    with pytest.raises(TypeError, match="1-D integer array"):
        F.grouped_mm(a, b, offs=OFFS.astype(np.float32))
    with pytest.raises(TypeError, match="1-D integer array"):
        F.grouped_mm(a, b, offs=OFFS[None])
    with pytest.raises(ValueError, match="offs has 2 groups but mat_b has 3"):
        F.grouped_mm(a, b, offs=OFFS[:2])
    with pytest.raises(ValueError, match="different numbers of groups"):
        F.grouped_mm(np.zeros((3, 2, 8)), np.zeros((2, 8, 4)))
    with pytest.raises(TypeError, match=r"mat_a \(float32\) and mat_b \(float16\)"):
        F.grouped_mm(a, b.astype(np.float16), offs=OFFS)
    with pytest.raises(TypeError, match="mat_a must be float16, float32 or float64, got int"):
        F.grouped_mm(np.zeros((6, 8), np.int32), b, offs=OFFS)
    with pytest.raises(ValueError, match="mat_a must be 2-D or 3-D"):
        F.grouped_mm(np.zeros(8, np.float32), b, offs=OFFS)
    with pytest.raises(ValueError, match="contracted axes differ"):
        F.grouped_mm(a, np.zeros((3, 4, 4), np.float32), offs=OFFS)
    with pytest.raises(ValueError, match=r"nondecreasing group ends in \[0, 6\]"):
        F.grouped_mm(a, b, offs=np.array([2, 1, 5], np.int32))
    with pytest.raises(ValueError, match=r"in \[0, 8\] \(the K axis\), got \[2, 2, 9\]"):
        F.grouped_mm(np.zeros((3, 8)), np.zeros((8, 4)), offs=np.array([2, 2, 9]))
