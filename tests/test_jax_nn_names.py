"""jax.nn's names in ft.nn: the activations PyTorch spells differently (with JAX's derivatives
at the kinks), logsumexp/logmeanexp/standardize, dot_product_attention in JAX's (B, T, N, H)
layout, and ft.nn.initializers. Core checks run without JAX; with JAX installed, values,
derivatives and signatures are compared with it."""
import inspect
import math

import numpy as np
import pytest

import functrans as ft
import functrans.nn as nn
import functrans.nn.initializers as init


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


REFERENCE = {       # NumPy formulas
    "swish": lambda x: x * _sigmoid(x),
    "hard_tanh": lambda x: np.clip(x, -1, 1),
    "hard_sigmoid": lambda x: np.clip(x + 3, 0, 6) / 6,
    "hard_silu": lambda x: x * np.clip(x + 3, 0, 6) / 6,
    "hard_swish": lambda x: x * np.clip(x + 3, 0, 6) / 6,
    "log_sigmoid": lambda x: -np.logaddexp(0, -x),
    "soft_sign": lambda x: x / (np.abs(x) + 1),
    "identity": lambda x: x,
    "squareplus": lambda x: (x + np.sqrt(x * x + 4)) / 2,
    "sparse_plus": lambda x: np.where(x <= -1, 0, np.where(x >= 1, x, (x + 1) ** 2 / 4)),
    "sparse_sigmoid": lambda x: np.clip((x + 1) / 2, 0, 1),
}
# away from every kink (-3, -1, 0, 1, 3)
SMOOTH_POINTS = np.array([-4.2, -2.5, -1.5, -0.6, -0.2, 0.3, 0.7, 1.6, 2.4, 3.7])
# derivative at the kinks, by JAX's definitions
KINKS = {
    "hard_tanh": {-1.0: 1.0, 1.0: 1.0},
    "hard_sigmoid": {-3.0: 0.0, 3.0: 0.0},
    "hard_silu": {-3.0: 0.0, 3.0: 1.0},
    "sparse_plus": {-1.0: 0.0, 1.0: 1.0},
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_activation_values_dtypes_and_derivatives(name):
    fn = getattr(nn, name)
    x = np.linspace(-5, 5, 41)
    np.testing.assert_allclose(np.asarray(fn(x)), REFERENCE[name](x), rtol=1e-12, atol=1e-15)
    assert fn(x).dtype == np.float64
    assert fn(x.astype(np.float32)).dtype == np.float32
    if name != "identity":                                      # integers become floats
        assert fn(np.arange(3)).dtype == np.float32
    ft.test_util.check_grads(fn, (SMOOTH_POINTS,), order=2, modes=("fwd", "rev"))
    for point, slope in KINKS.get(name, {}).items():
        assert float(ft.grad(fn)(np.float64(point))) == slope, (name, point)
    np.testing.assert_array_equal(np.asarray(ft.jit(fn)(x)), np.asarray(fn(x)))


def test_pytorch_spellings_keep_their_own_semantics():
    assert "min_val" in inspect.signature(nn.hardtanh).parameters
    assert list(inspect.signature(nn.hard_tanh).parameters) == ["x"]
    np.testing.assert_allclose(np.asarray(nn.hardtanh(np.array([-2.0, 0.5, 3.0]), -0.5, 2.0)),
                               [-0.5, 0.5, 2.0])
    # at the kinks PyTorch's hardtanh has derivative 0, JAX's hard_tanh 1
    assert float(ft.grad(nn.hardtanh)(np.float64(1.0))) == 0.0
    assert float(ft.grad(nn.hard_tanh)(np.float64(1.0))) == 1.0


def test_log1mexp_logmeanexp_logsumexp():
    x = np.array([1e-8, 1e-3, 0.5, math.log(2), 2.0, 40.0])
    expected = np.log(-np.expm1(-x))
    np.testing.assert_allclose(np.asarray(nn.log1mexp(x)), expected, rtol=1e-13, atol=1e-17)
    ft.test_util.check_grads(nn.log1mexp, (np.array([0.3, 1.2, 5.0]),), order=2,
                             modes=("fwd", "rev"))
    a = np.random.default_rng(0).normal(size=(3, 4))
    np.testing.assert_allclose(np.asarray(nn.logmeanexp(a, 1)),
                               np.log(np.mean(np.exp(a), 1)), rtol=1e-13)
    np.testing.assert_allclose(np.asarray(nn.logmeanexp(a)), np.log(np.mean(np.exp(a))),
                               rtol=1e-13)
    w = a > 0
    got = np.asarray(nn.logmeanexp(a, 0, where=w, keepdims=True))
    want = np.log(np.sum(np.exp(a) * w, 0, keepdims=True) / w.sum(0, keepdims=True))
    np.testing.assert_allclose(got, want, rtol=1e-13)
    assert nn.logsumexp is ft.scipy.special.logsumexp
    ft.test_util.check_grads(lambda a: nn.logmeanexp(a, 1), (a,), order=2, modes=("fwd", "rev"))


def test_standardize():
    x = np.random.default_rng(1).normal(3.0, 2.0, size=(4, 6))
    for algorithm in ("fast", "stable"):
        y = np.asarray(nn.standardize(x, algorithm=algorithm))
        want = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
        np.testing.assert_allclose(y, want, rtol=1e-9)
    y = np.asarray(nn.standardize(x, axis=0, mean=1.0, variance=4.0, epsilon=0.0))
    np.testing.assert_allclose(y, (x - 1.0) / 2.0)
    where = x > 2.0
    y = np.asarray(nn.standardize(x, axis=None, where=where))
    sel = x[where]
    np.testing.assert_allclose(y, (x - sel.mean()) / np.sqrt(sel.var() + 1e-5), rtol=1e-9)
    ft.test_util.check_grads(lambda x: nn.standardize(x, algorithm="stable"), (x,), order=2,
                             modes=("fwd", "rev"))
    with pytest.raises(ValueError, match="algorithm must be 'fast' or 'stable'"):
        nn.standardize(x, algorithm="two-pass")


# ------------------------------------------------------------------ attention
def _attention_reference(q, k, v, bias=None, keep=None, scale=None):
    """Loops over batch and heads; keep: bool (B, N, T, S) or None."""
    b, t, n, h = q.shape
    s, kh = k.shape[1], k.shape[2]
    scale = 1 / math.sqrt(h) if scale is None else scale
    out = np.zeros_like(q)
    for i in range(b):
        for j in range(n):
            kv = j // (n // kh)
            scores = q[i, :, j] @ k[i, :, kv].T * scale
            if bias is not None:
                scores = scores + np.broadcast_to(bias, (b, n, t, s))[i, j]
            if keep is not None:
                scores = np.where(keep[i, j], scores, -0.7 * np.finfo(np.float32).max)
            w = np.exp(scores - scores.max(-1, keepdims=True))
            out[i, :, j] = (w / w.sum(-1, keepdims=True)) @ v[i, :, kv]
    return out


def _qkv(dtype=np.float64, b=2, t=4, s=5, n=4, k=2, h=3, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(b, t, n, h)).astype(dtype), rng.normal(size=(b, s, k, h)).astype(
        dtype), rng.normal(size=(b, s, k, h)).astype(dtype))


def test_dot_product_attention_against_a_loop():
    q, k, v = _qkv()
    b, t, n, _ = q.shape
    s = k.shape[1]
    rng = np.random.default_rng(1)
    bias = rng.normal(size=(1, n, t, s))
    mask = rng.random((b, 1, t, s)) > 0.3
    np.testing.assert_allclose(np.asarray(nn.dot_product_attention(q, k, v)),
                               _attention_reference(q, k, v), rtol=1e-12)
    np.testing.assert_allclose(
        np.asarray(nn.dot_product_attention(q, k, v, bias, mask, scale=0.4)),
        _attention_reference(q, k, v, bias, np.broadcast_to(mask, (b, n, t, s)), 0.4),
        rtol=1e-12)
    causal = np.broadcast_to(np.tril(np.ones((t, s), bool)), (b, n, t, s))
    np.testing.assert_allclose(np.asarray(nn.dot_product_attention(q, k, v, is_causal=True)),
                               _attention_reference(q, k, v, keep=causal), rtol=1e-12)
    rows, cols = np.arange(t)[:, None], np.arange(s)[None, :]
    window = np.broadcast_to((cols >= rows - 1) & (cols <= rows + 2), (b, n, t, s))
    np.testing.assert_allclose(
        np.asarray(nn.dot_product_attention(q, k, v, local_window_size=(1, 2))),
        _attention_reference(q, k, v, keep=window), rtol=1e-12)
    q_len, kv_len = np.array([2, 4]), np.array([3, 5])
    pad = (rows[None] < q_len[:, None, None]) & (cols[None] < kv_len[:, None, None])
    want = _attention_reference(q, k, v, keep=np.broadcast_to(pad[:, None], (b, n, t, s)))
    want[0, 2:] = 0.0                                    # padded queries give zeros
    got = nn.dot_product_attention(q, k, v, query_seq_lengths=q_len,
                                   key_value_seq_lengths=kv_len)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)
    dead = np.zeros((1, 1, t, s), bool)                  # masked rows average the values
    averaged = np.asarray(nn.dot_product_attention(q, k, v, mask=dead))[:, :, 0]   # head 0
    np.testing.assert_allclose(averaged, np.repeat(v.mean(1)[:, None, 0], t, 1), rtol=1e-12)
    unbatched = nn.dot_product_attention(q[0], k[0], v[0], mask=mask[0])
    np.testing.assert_allclose(np.asarray(unbatched), _attention_reference(
        q[:1], k[:1], v[:1], keep=np.broadcast_to(mask[:1], (1, n, t, s)))[0], rtol=1e-12)
    out, lse = nn.dot_product_attention(q, k, v, is_causal=True, return_residual=True)
    assert lse.shape == (b, t, n)
    scores = np.einsum("btnh,bsnh->bnts", q, np.repeat(k, 2, axis=2)) / math.sqrt(3)
    scores = np.where(causal, scores, -0.7 * np.finfo(np.float32).max)
    np.testing.assert_allclose(np.asarray(lse), np.log(np.exp(scores).sum(-1)).transpose(
        0, 2, 1), rtol=1e-12)


def test_dot_product_attention_transforms_and_dtypes():
    q, k, v = _qkv(b=2, t=3, s=3, n=2, k=1, h=2)

    def f(q, k, v):
        return nn.dot_product_attention(q, k, v, is_causal=True)
    ft.test_util.check_grads(f, (q, k, v), order=2, modes=("fwd", "rev"))
    np.testing.assert_allclose(np.asarray(ft.jit(f)(q, k, v)), np.asarray(f(q, k, v)),
                               rtol=1e-13)
    per_example = ft.vmap(lambda q, k, v: nn.dot_product_attention(q, k, v, is_causal=True))
    np.testing.assert_allclose(np.asarray(per_example(q, k, v)), np.asarray(f(q, k, v)),
                               rtol=1e-13)
    q32, k32, v32 = (a.astype(np.float32) for a in (q, k, v))
    assert nn.dot_product_attention(q32, k32, v32).dtype == np.float32
    assert nn.dot_product_attention(q, k, v).dtype == np.float64
    with pytest.raises(ValueError, match=r"multiple of the key/value heads K"):
        nn.dot_product_attention(np.zeros((1, 2, 3, 2)), k, v)
    with pytest.raises(ValueError, match=r"query must be \(B, T, N, H\)"):
        nn.dot_product_attention(np.zeros((2, 2)), k, v)
    with pytest.raises(TypeError, match="mask must be boolean"):
        nn.dot_product_attention(q, k, v, mask=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="not available in functrans"):
        nn.dot_product_attention(q, k, v, implementation="cudnn")


# ------------------------------------------------------------------ initializers
FAMILIES = [("glorot_uniform", 1.0, "avg"), ("glorot_normal", 1.0, "avg"),
            ("xavier_uniform", 1.0, "avg"), ("xavier_normal", 1.0, "avg"),
            ("lecun_uniform", 1.0, "in"), ("lecun_normal", 1.0, "in"),
            ("he_uniform", 2.0, "in"), ("he_normal", 2.0, "in"),
            ("kaiming_uniform", 2.0, "in"), ("kaiming_normal", 2.0, "in")]


@pytest.mark.parametrize("name,scale,mode", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_variance_scaling_families(name, scale, mode):
    shape = (3, 3, 40, 60)                     # HWIO: receptive field 9, fan_in 360
    fan_in, fan_out = 9 * 40, 9 * 60
    fan = fan_in if mode == "in" else (fan_in + fan_out) / 2
    w = getattr(init, name)()(ft.random.key(0), shape)
    assert w.shape == shape and w.dtype == np.float32
    w = np.asarray(w, np.float64)
    assert abs(w.var() / (scale / fan) - 1) < 0.03 and abs(w.mean()) < 3e-3
    bound = math.sqrt(3 * scale / fan) if "uniform" in name else 2 * math.sqrt(
        scale / fan) / 0.87962566103423978
    assert np.abs(w).max() <= bound * (1 + 1e-6)
    assert getattr(init, name)(dtype=np.float64)(ft.random.key(0), (4, 5)).dtype == np.float64


def test_variance_scaling_axes_modes_and_errors():
    key = ft.random.key(1)
    w = np.asarray(init.variance_scaling(2.0, "fan_out", "normal", in_axis=0, out_axis=1,
                                         batch_axis=2)(key, (50, 80, 30)), np.float64)
    assert abs(w.var() / (2.0 / 80) - 1) < 0.03
    w = np.asarray(init.variance_scaling(1.0, "fan_geo_avg", "uniform")(key, (100, 400)))
    assert abs(w.var() / (1.0 / 200) - 1) < 0.03
    with pytest.raises(ValueError, match="has no input axis -2"):
        init.glorot_normal()(key, (5,))
    with pytest.raises(ValueError, match="mode must be one of"):
        init.variance_scaling(1.0, "fan_max", "normal")
    with pytest.raises(ValueError, match="distribution must be one of"):
        init.variance_scaling(1.0, "fan_in", "cauchy")
    with pytest.raises(TypeError, match="real floating dtype, got complex64"):
        init.normal()(key, (2, 2), np.complex64)


def test_simple_initializers():
    key = ft.random.key(2)
    assert np.all(np.asarray(init.zeros(key, (2, 3))) == 0)
    assert init.ones(key, (2,), np.float64).dtype == np.float64
    np.testing.assert_array_equal(np.asarray(init.constant(-0.5)(key, (2, 2))), -0.5)
    u = np.asarray(init.uniform(0.3)(key, (5000,)))
    assert u.min() >= 0 and u.max() < 0.3 and abs(u.mean() - 0.15) < 0.01
    n = np.asarray(init.normal(0.2)(key, (5000,)))
    assert abs(n.std() - 0.2) < 0.01
    t = np.asarray(init.truncated_normal(1.0, lower=-1.0, upper=0.5)(key, (5000,)))
    assert t.min() >= -1.0 and t.max() <= 0.5
    np.testing.assert_array_equal(np.asarray(init.normal()(key, (3,))),
                                  np.asarray(init.normal()(key, (3,))))


def test_orthogonal_initializers():
    key = ft.random.key(3)
    w = np.asarray(init.orthogonal(scale=2.0)(key, (6, 4)), np.float64)
    np.testing.assert_allclose(w.T @ w, 4 * np.eye(4), atol=1e-5)
    w = np.asarray(init.orthogonal(column_axis=0)(key, (3, 2, 4)), np.float64)
    flat = np.moveaxis(w, 0, -1).reshape(8, 3)
    np.testing.assert_allclose(flat.T @ flat, np.eye(3), atol=1e-5)
    d = np.asarray(init.delta_orthogonal()(key, (3, 3, 4, 6)), np.float64)
    centre = d[1, 1]
    np.testing.assert_allclose(centre @ centre.T, np.eye(4), atol=1e-5)
    d[1, 1] = 0
    assert np.all(d == 0)
    with pytest.raises(ValueError, match="in <= out"):
        init.delta_orthogonal()(key, (3, 6, 4))
    with pytest.raises(ValueError, match="3-D, 4-D or 5-D"):
        init.delta_orthogonal()(key, (6, 4))


# ------------------------------------------------------------------ against JAX
@pytest.mark.parametrize("name", sorted(REFERENCE) + ["log1mexp"])
def test_activations_match_jax(name):
    jax = pytest.importorskip("jax")
    x = np.linspace(0.05, 5, 12) if name == "log1mexp" else np.linspace(-4, 4, 17)
    x = x.astype(np.float32)                 # the grid holds every kink
    ours, theirs = getattr(nn, name), getattr(jax.nn, name)
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(theirs(x)), rtol=1e-6,
                               atol=1e-6)
    np.testing.assert_allclose(np.asarray(ft.vmap(ft.grad(ours))(x)),
                               np.asarray(jax.vmap(jax.grad(theirs))(x)), rtol=1e-6,
                               atol=1e-6)


JAX_SIGNATURES = sorted(REFERENCE) + ["log1mexp", "logmeanexp", "logsumexp", "standardize",
                                      "dot_product_attention"]


def _params(fn):
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()
            if p.name != "out_sharding"]


@pytest.mark.parametrize("name", JAX_SIGNATURES)
def test_signatures_match_jax(name):
    jax = pytest.importorskip("jax")
    assert _params(getattr(nn, name)) == _params(getattr(jax.nn, name))


INIT_NAMES = ["zeros", "ones", "constant", "uniform", "normal", "truncated_normal",
              "variance_scaling", "orthogonal", "delta_orthogonal"] + [f[0] for f in FAMILIES]


@pytest.mark.parametrize("name", INIT_NAMES)
def test_initializers_match_jax(name):
    jax = pytest.importorskip("jax")
    ji = jax.nn.initializers
    assert _params(getattr(init, name)) == _params(getattr(ji, name))
    args = {"constant": (0.25,), "variance_scaling": (0.5, "fan_avg", "normal")}.get(name, ())
    shape = (3, 3, 4, 5)
    if name in ("zeros", "ones"):
        ours, theirs = getattr(init, name), getattr(ji, name)
    else:
        ours, theirs = getattr(init, name)(*args), getattr(ji, name)(*args)
    np.testing.assert_allclose(np.asarray(ours(ft.random.key(5), shape)),
                               np.asarray(theirs(jax.random.PRNGKey(5), shape)), rtol=2e-5,
                               atol=2e-6)


def test_dot_product_attention_matches_jax():
    jax = pytest.importorskip("jax")
    q, k, v = _qkv(np.float32, b=2, t=5, s=6, n=4, k=2, h=3)
    rng = np.random.default_rng(2)
    bias = rng.normal(size=(1, 4, 5, 6)).astype(np.float32)
    mask = rng.random((2, 1, 5, 6)) > 0.3
    cases = [{}, {"bias": bias, "mask": mask, "scale": 0.3}, {"is_causal": True},
             {"local_window_size": 1},
             {"query_seq_lengths": np.array([3, 5], np.int32),
              "key_value_seq_lengths": np.array([2, 6], np.int32)},
             {"mask": np.zeros((1, 1, 5, 6), bool)}]
    for case in cases:
        np.testing.assert_allclose(np.asarray(nn.dot_product_attention(q, k, v, **case)),
                                   np.asarray(jax.nn.dot_product_attention(q, k, v, **case)),
                                   rtol=1e-5, atol=1e-6)
    ours = nn.dot_product_attention(q, k, v, is_causal=True, return_residual=True)
    theirs = jax.nn.dot_product_attention(q, k, v, is_causal=True, return_residual=True)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
