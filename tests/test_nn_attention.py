"""scaled_dot_product_attention, MultiheadAttention and the transformer layers against
PyTorch (float64; outputs, attention weights, input and parameter gradients; eager and jit;
train and eval), derivatives against finite differences, mask conventions, dropout keys,
vmap, checkpoints, printing and errors."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads

from torch_port import assert_close, assert_param_grads, from_torch

F = ft.nn.functional
rng = np.random.default_rng(3)
KEY = ft.random.key(0)


def _sdpa_inputs():
    return (rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 6, 5)),
            rng.standard_normal((2, 3, 6, 7)))


BOOL_MASK = rng.random((4, 6)) > 0.3
BOOL_MASK[1] = False                       # a query that may attend to nothing


@pytest.mark.parametrize("kwargs", [{}, {"attn_mask": BOOL_MASK},
                                    {"attn_mask": rng.standard_normal((2, 1, 4, 6))},
                                    {"scale": 0.3}], ids=["plain", "bool", "float", "scale"])
def test_sdpa_matches_torch(kwargs):
    q, k, v = _sdpa_inputs()

    def f(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, **kwargs)
    out = np.asarray(f(q, k, v))
    if kwargs.get("attn_mask") is BOOL_MASK:
        np.testing.assert_array_equal(out[:, :, 1], 0)          # PyTorch's safe softmax
    check_grads(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **kwargs),
                tuple(fnp.asarray(a[:1, :2]) for a in (q, k, v)), order=2,
                modes=("fwd", "rev"))
    torch = pytest.importorskip("torch")
    T = torch.from_numpy
    tq, tk, tv = (T(a).requires_grad_() for a in (q, k, v))
    want = torch.nn.functional.scaled_dot_product_attention(
        tq, tk, tv, **{n: T(m) if isinstance(m, np.ndarray) else m for n, m in kwargs.items()})
    ct = rng.standard_normal(tuple(want.shape))
    want.backward(T(ct))
    got, vjp = ft.vjp(ft.jit(f), *(fnp.asarray(a) for a in (q, k, v)))
    assert_close(got, want)
    for g, t in zip(vjp(fnp.asarray(ct)), (tq, tk, tv)):
        assert_close(g, t.grad)


def test_sdpa_causal_gqa_dropout_and_errors():
    x = rng.standard_normal((2, 5, 4))
    got = np.asarray(F.scaled_dot_product_attention(x, x, x, is_causal=True))
    np.testing.assert_allclose(got[:, 0], x[:, 0], rtol=1e-12)     # the first sees itself only
    mask = np.tril(np.ones((5, 5), bool))
    np.testing.assert_allclose(got, np.asarray(F.scaled_dot_product_attention(x, x, x, mask)),
                               rtol=1e-12)
    q, k = rng.standard_normal((2, 4, 5, 3)), rng.standard_normal((2, 2, 6, 3))
    gqa = np.asarray(F.scaled_dot_product_attention(q, k, k, enable_gqa=True))
    rep = np.repeat(k, 2, axis=1)
    np.testing.assert_allclose(gqa, np.asarray(F.scaled_dot_product_attention(q, rep, rep)),
                               rtol=1e-12)
    with pytest.raises(ValueError, match="dropout"):
        F.scaled_dot_product_attention(x, x, x, dropout_p=0.5)
    dropped = np.asarray(F.scaled_dot_product_attention(x, x, x, dropout_p=0.5,
                                                        dropout_key=ft.random.key(1)))
    assert dropped.shape == x.shape and not np.allclose(dropped, got)
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(x, x, x, mask, is_causal=True)
    with pytest.raises(ValueError, match=r"\(2, 5, 4\).*\(2, 5, 3\)"):
        F.scaled_dot_product_attention(x, x[..., :3], x)
    torch = pytest.importorskip("torch")
    T = torch.from_numpy
    assert_close(got, torch.nn.functional.scaled_dot_product_attention(T(x), T(x), T(x),
                                                                       is_causal=True))
    assert_close(gqa, torch.nn.functional.scaled_dot_product_attention(T(q), T(k), T(k),
                                                                       enable_gqa=True))


def _run_against_torch(ours, theirs, args, kwargs, train=True):
    torch = pytest.importorskip("torch")
    theirs = theirs.double()
    assert repr(ours) == repr(theirs)
    ours = from_torch(ours, theirs)
    if not train:
        ours, theirs = ours.eval(), theirs.eval()
    T = torch.from_numpy
    targs = [T(a).requires_grad_() for a in args]
    want = theirs(*targs, **{n: T(m) if isinstance(m, np.ndarray) else m
                             for n, m in kwargs.items()})
    want = [w for w in (want if isinstance(want, tuple) else (want,)) if w is not None]
    cts = [rng.standard_normal(tuple(w.shape)) for w in want]
    torch.autograd.backward(want, [T(c) for c in cts])

    def f(m, *a):
        out = m(*a, **kwargs)
        return [o for o in (out if isinstance(out, tuple) else (out,)) if o is not None]
    for fn in (f, ft.jit(f)):
        got, vjp = ft.vjp(fn, ours, *(fnp.asarray(a) for a in args))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert_close(g, w)
        grads = vjp([fnp.asarray(c) for c in cts])
        for g, t in zip(grads[1:], targs):
            assert_close(g, t.grad)
        assert_param_grads(grads[0], theirs)


X = rng.standard_normal((4, 2, 8))
MEM = rng.standard_normal((6, 2, 8))
KPM = np.zeros((2, 6), bool)
KPM[0, 4:] = True
ATTN = rng.random((4, 6)) > 0.8
CAUSAL = np.triu(np.full((4, 4), -np.inf), 1)


@pytest.mark.parametrize("ctor, args, kwargs, train", [
    (dict(), (X, MEM, MEM), {}, True),
    (dict(), (X, MEM, MEM), {"key_padding_mask": KPM, "attn_mask": ATTN,
                             "average_attn_weights": False}, True),
    (dict(), (X, MEM, MEM), {"key_padding_mask": KPM, "need_weights": False}, True),
    (dict(add_bias_kv=True, add_zero_attn=True, kdim=3, vdim=5, batch_first=True),
     (rng.standard_normal((2, 4, 8)), rng.standard_normal((2, 6, 3)),
      rng.standard_normal((2, 6, 5))), {"key_padding_mask": KPM}, True),
    (dict(bias=False), (X[:, 0], MEM[:, 0], MEM[:, 0]),
     {"attn_mask": rng.standard_normal((4, 6))}, True),
    (dict(dropout=0.5), (X, X, X), {"attn_mask": CAUSAL, "is_causal": True}, False),
], ids=["plain", "masks", "no-weights", "kdim-bias_kv-zero_attn", "unbatched", "eval"])
def test_multihead_attention_matches_torch(ctor, args, kwargs, train):
    torch = pytest.importorskip("torch")
    _run_against_torch(ft.nn.MultiheadAttention(8, 2, key=KEY, **ctor),
                       torch.nn.MultiheadAttention(8, 2, **ctor), args, kwargs, train)


@pytest.mark.parametrize("kind, ctor, args, kwargs, train", [
    ("TransformerEncoderLayer", dict(dropout=0.0), (X,), {"src_mask": CAUSAL,
                                                           "is_causal": True}, True),
    ("TransformerEncoderLayer", dict(activation="gelu", norm_first=True, batch_first=True),
     (np.swapaxes(X, 0, 1),), {"src_key_padding_mask": KPM[:, :4]}, False),
    ("TransformerDecoderLayer", dict(dropout=0.0), (X, MEM),
     {"tgt_mask": CAUSAL, "memory_key_padding_mask": KPM}, True),
    ("TransformerDecoderLayer", dict(norm_first=True, bias=False), (X, MEM), {}, False),
], ids=["encoder", "encoder-gelu-norm_first", "decoder", "decoder-norm_first-no_bias"])
def test_transformer_layers_match_torch(kind, ctor, args, kwargs, train):
    torch = pytest.importorskip("torch")
    _run_against_torch(getattr(ft.nn, kind)(8, 2, 16, key=KEY, **ctor),
                       getattr(torch.nn, kind)(8, 2, 16, **ctor), args, kwargs, train)


def test_transformer_model_matches_torch():
    torch = pytest.importorskip("torch")
    ours = ft.nn.Transformer(8, 2, 2, 1, 16, dropout=0.0, key=KEY)
    theirs = torch.nn.Transformer(8, 2, 2, 1, 16, dropout=0.0)
    names = [n for n, _ in ours.named_parameters()]
    assert names == [n for n, _ in theirs.named_parameters()]
    enc = dict(ours.named_parameters())
    assert not np.array_equal(np.asarray(enc["encoder.layers.0.linear1.weight"]),
                              np.asarray(enc["encoder.layers.1.linear1.weight"]))
    mask = ft.nn.Transformer.generate_square_subsequent_mask(4)
    np.testing.assert_array_equal(np.asarray(mask),
                                  torch.nn.Transformer.generate_square_subsequent_mask(4))
    ours = from_torch(ours, theirs.double())
    src, tgt = rng.standard_normal((6, 2, 8)), rng.standard_normal((4, 2, 8))
    T = torch.from_numpy
    want = theirs(T(src), T(tgt), tgt_mask=T(CAUSAL), tgt_is_causal=True)
    assert_close(ours(src, tgt, tgt_mask=CAUSAL, tgt_is_causal=True), want)


def test_mask_conventions_dropout_keys_train_and_eval():
    mha = ft.nn.MultiheadAttention(8, 2, dropout=0.5, key=KEY, dtype=np.float64)
    x = fnp.asarray(X)
    with pytest.raises(ValueError, match="dropout_key"):
        mha(x, x, x)
    out, w = mha(x, x, x, dropout_key=ft.random.key(1))
    assert out.shape == (4, 2, 8) and w.shape == (2, 4, 4)
    ev = mha.eval()
    assert ev.training is False and mha.training is True
    # boolean masks are True where attending is NOT allowed (the opposite of sdpa's)
    allowed = np.tril(np.ones((4, 4), bool))
    _, w = ev(x, x, x, attn_mask=~allowed)
    np.testing.assert_array_equal(np.asarray(w)[:, ~allowed], 0)
    _, w2 = ev(x, x, x, attn_mask=np.where(allowed, 0.0, -np.inf))
    np.testing.assert_allclose(np.asarray(w), np.asarray(w2), rtol=1e-12)
    layer = ft.nn.TransformerEncoderLayer(8, 2, 16, key=KEY)
    with pytest.raises(ValueError, match="key="):
        layer(x)
    a, b = layer(x, key=ft.random.key(2)), layer(x, key=ft.random.key(3))
    assert not np.allclose(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(layer.eval()(x)), np.asarray(layer.eval()(x)))
    seq = ft.nn.Sequential(layer, ft.nn.Linear(8, 3, key=KEY))     # keys flow through
    assert seq(x, key=ft.random.key(4)).shape == (4, 2, 3)
    with pytest.raises(ValueError, match="is_causal"):
        ev(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match="multiple of num_heads"):
        ft.nn.MultiheadAttention(8, 3, key=KEY)
    with pytest.raises(ValueError, match=r"key_padding_mask must be .*\(2, 4\)"):
        ev(x, x, x, key_padding_mask=np.zeros((2, 5), bool))
    with pytest.raises(ValueError, match="activation"):
        ft.nn.TransformerEncoderLayer(8, 2, activation="swish", key=KEY)


def test_vmap_per_example_gradients_and_checkpoints(tmp_path):
    layer = ft.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True, key=KEY,
                                          dtype=np.float64)
    xs = fnp.asarray(rng.standard_normal((3, 5, 8)))           # 3 unbatched sequences

    def loss(m, x):
        return fnp.mean(m(x) ** 2)
    per_example = ft.jit(ft.vmap(ft.grad(loss), (None, 0)))(layer, xs)
    for i in range(3):
        single = ft.grad(loss)(layer, xs[i])
        for a, b in zip(per_example.parameters(), single.parameters()):
            np.testing.assert_allclose(np.asarray(a[i]), np.asarray(b), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(np.asarray(ft.vmap(layer)(xs)), np.asarray(layer(xs)),
                               rtol=1e-12)
    decoder = ft.nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True, key=KEY,
                                            dtype=np.float64)
    memory = fnp.asarray(rng.standard_normal((3, 4, 8)))

    def decoder_loss(m, x, mem):
        return fnp.mean(m(x, mem) ** 2)
    per_example = ft.vmap(ft.grad(decoder_loss), (None, 0, 0))(decoder, xs, memory)
    single = ft.grad(decoder_loss)(decoder, xs[1], memory[1])
    for a, b in zip(per_example.parameters(), single.parameters()):
        np.testing.assert_allclose(np.asarray(a[1]), np.asarray(b), rtol=1e-10, atol=1e-13)
    mha = ft.nn.MultiheadAttention(8, 2, kdim=3, vdim=5, add_bias_kv=True, key=KEY)
    for module in (layer, mha):
        ft.save(tmp_path / "m.ftz", module)
        back = ft.load(tmp_path / "m.ftz", like=module)
        for a, b in zip(back.parameters(), module.parameters()):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert [n for n, _ in mha.named_parameters()] == [
        "q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias", "bias_k", "bias_v",
        "out_proj.weight", "out_proj.bias"]
    np.testing.assert_array_equal(np.asarray(mha.in_proj_bias), 0)
    np.testing.assert_array_equal(np.asarray(mha.out_proj.bias), 0)
