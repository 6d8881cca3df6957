"""bfloat16 and ml_dtypes' other types (float8_*, float6_*, float4_e2m1fn, int4/uint4, int2,
int1, ...) through the optional package ml_dtypes: names, JAX's promotion lattice, finfo/iinfo,
creation, math, float32 accumulation of bfloat16 reductions, matmul, random numbers,
transforms, mixed precision and serialization, with JAX (x64 on) as the oracle; and functrans
without ml_dtypes."""
from __future__ import annotations

import importlib.util
import itertools
import subprocess
import sys

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import dtypes

HAVE_ML = importlib.util.find_spec("ml_dtypes") is not None
needs_ml = pytest.mark.skipif(not HAVE_ML, reason="needs the optional package ml_dtypes")

STANDARD = ["bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
            "float16", "float32", "float64", "complex64", "complex128"]
ML_NAMES = sorted(dtypes.ML_DTYPES)
BF16 = dtypes.ML_DTYPES.get("bfloat16")
# one bfloat16 ulp relative: what rounding a float32 result once more may change
BF16_RTOL = 2.0 ** -7


@pytest.fixture
def jnp():
    """jax.numpy with 64-bit types on (functrans keeps them, as JAX with x64)."""
    jax = pytest.importorskip("jax")
    prev = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    import jax.numpy
    yield jax.numpy
    jax.config.update("jax_enable_x64", prev)


def _f64(x):
    return np.asarray(x).astype(np.float64)


def _same(got, want, rtol=0.0):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype)
    np.testing.assert_allclose(_f64(got), _f64(want), rtol=rtol, atol=0, equal_nan=True)


def _bf16(x):
    return fnp.asarray(np.asarray(x, np.float32), fnp.bfloat16)


# ------------------------------------------------------------------ names and dtype rules
@needs_ml
def test_names_are_ml_dtypes_types():
    import ml_dtypes
    for name in ML_NAMES:
        dt = np.dtype(getattr(ml_dtypes, name))
        assert getattr(fnp, name).dtype == dt == getattr(dtypes, name)
        assert fnp.zeros(2, getattr(fnp, name)).dtype == dt
        assert getattr(fnp, name)(1).dtype == dt            # the scalar type casts
    assert {"bfloat16", "float8_e4m3fn", "float8_e5m2", "float4_e2m1fn", "int4",
            "uint4", "int2", "uint2"} <= set(ML_NAMES)
    assert ft.make_jaxpr(lambda x: x * 2)(fnp.ones(3, fnp.bfloat16)).jaxpr.invars[0].aval \
        .str_short() == "bf16[3]"


@needs_ml
def test_issubdtype_isdtype_match_jax(jnp):
    abstract = ["generic", "number", "inexact", "floating", "complexfloating", "integer",
                "signedinteger", "unsignedinteger"]
    for name in ML_NAMES:
        for a in abstract:
            want = jnp.issubdtype(getattr(jnp, name), getattr(jnp, a))
            assert fnp.issubdtype(getattr(fnp, name), getattr(fnp, a)) == want, (name, a)
        for kind in ("bool", "signed integer", "unsigned integer", "integral", "real floating",
                     "complex floating", "numeric"):
            assert fnp.isdtype(getattr(fnp, name), kind) == \
                jnp.isdtype(getattr(jnp, name), kind), (name, kind)
    assert not fnp.issubdtype(fnp.bfloat16, fnp.float16)
    assert not fnp.issubdtype(fnp.float32, fnp.bfloat16)
    assert fnp.issubdtype(fnp.bfloat16, fnp.bfloat16)
    assert dtypes.itemsize_bits(fnp.int4) == 4 and dtypes.itemsize_bits(fnp.bfloat16) == 16


@needs_ml
def test_promote_types_table_matches_jax(jnp):
    """Every pair of standard and ml_dtypes types, compared mechanically with JAX."""
    import jax
    names = STANDARD + ML_NAMES
    mismatches = []
    for a, b in itertools.product(names, repeat=2):
        try:
            want = str(np.dtype(jnp.promote_types(getattr(jnp, a), getattr(jnp, b))))
        except jax.dtypes.TypePromotionError:
            want = "TypePromotionError"
        try:
            got = str(fnp.promote_types(getattr(fnp, a), getattr(fnp, b)))
        except dtypes.TypePromotionError:
            got = "TypePromotionError"
        if got != want:
            mismatches.append((a, b, got, want))
    assert not mismatches
    assert fnp.promote_types(fnp.bfloat16, fnp.float16) == np.float32
    assert fnp.promote_types(fnp.bfloat16, fnp.int64) == BF16


@needs_ml
@pytest.mark.parametrize("scalar", [True, 3, 2.5, 1j])
def test_weak_python_scalars_match_jax(jnp, scalar):
    import jax
    for name in ML_NAMES:
        try:
            want = str(np.dtype(jnp.result_type(getattr(jnp, name), scalar)))
        except jax.dtypes.TypePromotionError:
            want = "TypePromotionError"
        try:
            got = str(fnp.result_type(getattr(fnp, name), scalar))
        except dtypes.TypePromotionError:
            got = "TypePromotionError"
        assert got == want, (name, scalar)


@needs_ml
def test_operators_promote_eagerly_and_under_jit():
    x = fnp.ones(3, fnp.bfloat16)
    add = ft.jit(lambda a, b: a + b)
    for name in STANDARD:
        y = fnp.ones(3, getattr(fnp, name))
        want = fnp.promote_types(fnp.bfloat16, y.dtype)
        assert (x + y).dtype == (y + x).dtype == add(x, y).dtype == want, name
    for s in (2, 2.5, True):
        assert (x * s).dtype == (s - x).dtype == add(x, s).dtype == BF16
    assert (x + 1j).dtype == np.complex64
    assert (x + fnp.arange(3)).dtype == BF16           # integers take bfloat16
    with pytest.raises(dtypes.TypePromotionError, match="float8_e4m3fn, bfloat16"):
        fnp.ones(3, fnp.float8_e4m3fn) + x
    with pytest.raises(dtypes.TypePromotionError, match="int4, float"):
        fnp.ones(3, fnp.int4) + 1.5
    assert (fnp.ones(3, fnp.int4) + 1).dtype == np.dtype(fnp.int4.dtype)
    assert (fnp.ones(3, fnp.float8_e5m2) * fnp.arange(3)).dtype == fnp.float8_e5m2.dtype


@needs_ml
def test_strict_promotion_takes_weak_floats():
    with ft.numpy_dtype_promotion("strict"):
        assert (fnp.ones(2, fnp.bfloat16) * 2.0).dtype == BF16
        with pytest.raises(dtypes.TypePromotionError):
            fnp.ones(2, fnp.bfloat16) * fnp.ones(2, fnp.float32)


@needs_ml
def test_finfo_iinfo_match_jax(jnp):
    for name in ML_NAMES:
        if dtypes.is_inexact(getattr(fnp, name).dtype):
            got, want = fnp.finfo(getattr(fnp, name)), jnp.finfo(getattr(jnp, name))
            for attr in ("bits", "eps", "max", "min", "tiny", "nmant", "nexp"):
                assert float(getattr(got, attr)) == float(getattr(want, attr)) or \
                    np.isnan(float(getattr(want, attr))), (name, attr)
            assert got.dtype == np.dtype(getattr(fnp, name).dtype)
        else:
            got, want = fnp.iinfo(getattr(fnp, name)), jnp.iinfo(getattr(jnp, name))
            assert (got.min, got.max, got.bits) == (want.min, want.max, want.bits), name
    assert fnp.finfo(fnp.ones(2, fnp.bfloat16)).eps == 2.0 ** -7
    assert ft.dtypes.finfo(fnp.bfloat16).max == jnp.finfo(jnp.bfloat16).max


# ------------------------------------------------------------------ values
@needs_ml
def test_creation_and_conversion_match_jax(jnp):
    cases = {
        "zeros": lambda m: m.zeros((2, 3), m.bfloat16),
        "ones_like": lambda m: m.ones_like(m.zeros(3, m.bfloat16)),
        "full": lambda m: m.full(3, 1.1, m.bfloat16),
        "arange": lambda m: m.arange(0, 2, 0.25, dtype=m.bfloat16),
        "linspace": lambda m: m.linspace(0, 1, 7, dtype=m.bfloat16),
        "eye": lambda m: m.eye(3, dtype=m.bfloat16),
        "asarray": lambda m: m.asarray([0.1, 1e30, -3.3], m.bfloat16),
        "astype": lambda m: m.asarray([0.1, 1e30, -3.3, 1e-30]).astype(m.bfloat16),
        "to_int": lambda m: m.asarray([1.7, -2.5, 300.0], m.bfloat16).astype(m.int32),
        "to_f32": lambda m: m.asarray([1.7, -2.5], m.bfloat16).astype(m.float32),
        "from_int": lambda m: m.arange(300, 310).astype(m.bfloat16),
        "f8": lambda m: m.asarray([0.3, 17.0, -500.0], m.float8_e4m3fn),
        "int4": lambda m: (m.arange(6) - 3).astype(m.int4),
    }
    for name, f in cases.items():
        _same(f(fnp), f(jnp))
    x = _bf16([1.5, -2.25])
    assert x.tolist() == [1.5, -2.25] and float(x[0]) == 1.5
    assert np.asarray(x).dtype == BF16


ELEMENTWISE = {
    "exp": lambda m, x: m.exp(x), "log1p": lambda m, x: m.log1p(m.abs(x)),
    "sqrt": lambda m, x: m.sqrt(m.abs(x)), "tanh": lambda m, x: m.tanh(x),
    "sin": lambda m, x: m.sin(x), "mul": lambda m, x: x * x - 0.5 * x,
    "div": lambda m, x: x / 3, "where": lambda m, x: m.where(x > 0, x, 0.1 * x),
    "maximum": lambda m, x: m.maximum(x, 0), "clip": lambda m, x: m.clip(x, -0.5, 0.5),
    "round": lambda m, x: m.round(x * 4), "floor": lambda m, x: m.floor(x * 4),
    "sign": lambda m, x: m.sign(x), "pow": lambda m, x: m.abs(x) ** 1.5,
    "sort": lambda m, x: m.sort(x, axis=-1), "max": lambda m, x: m.max(x, axis=0),
    "argmax": lambda m, x: m.argmax(x), "isnan": lambda m, x: m.isnan(m.where(x > 0, x, m.nan)),
    "concat": lambda m, x: m.concatenate([x, -x]), "cumprod": lambda m, x: m.cumprod(x, 0),
}


@needs_ml
@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
def test_math_matches_jax(jnp, name):
    """NumPy's ufuncs on bfloat16 (ml_dtypes' loops) against XLA's: equal, or one ulp apart
    where the two round a float32 result differently."""
    data = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    f = ELEMENTWISE[name]
    want = f(jnp, jnp.asarray(data, jnp.bfloat16))
    _same(f(fnp, _bf16(data)), want, rtol=BF16_RTOL)
    _same(ft.jit(lambda x: f(fnp, x))(_bf16(data)), want, rtol=BF16_RTOL)


@needs_ml
def test_special_functions_keep_bfloat16():
    """SciPy has no bfloat16 kernels: its wider results come back as bfloat16, as traced."""
    x = _bf16([0.1, 0.5, 0.9])
    for f in (ft.lax.erf, ft.lax.erf_inv, ft.lax.lgamma, ft.lax.digamma, ft.lax.logistic,
              ft.scipy.special.ndtri, ft.lax.bessel_i0e):
        got = f(x)
        assert got.dtype == BF16 == ft.eval_shape(f, x).dtype == ft.jit(f)(x).dtype
        want = f(x.astype(fnp.float32)).astype(fnp.bfloat16)
        _same(got, want)


@needs_ml
def test_reductions_accumulate_in_float32_as_jax(jnp):
    """A bfloat16 running sum stalls at 256 (its 8-bit mantissa); JAX sums in float32 and
    rounds once, and so does functrans."""
    big = np.ones(1000, np.float32)
    data = np.random.default_rng(1).normal(size=(64, 33)).astype(np.float32)
    for f in (lambda m, x: m.sum(x), lambda m, x: m.mean(x), lambda m, x: m.var(x),
              lambda m, x: m.std(x, axis=0), lambda m, x: m.sum(x, axis=-1, keepdims=True),
              lambda m, x: m.mean(x, axis=0), lambda m, x: m.nansum(x),
              lambda m, x: m.average(x, axis=-1)):
        for d in (big, data):
            want = f(jnp, jnp.asarray(d, jnp.bfloat16))
            _same(f(fnp, _bf16(d)), want, rtol=BF16_RTOL)
            _same(ft.jit(lambda x: f(fnp, x))(_bf16(d)), want, rtol=BF16_RTOL)
    assert float(fnp.sum(_bf16(big))) == 1000.0
    assert float(fnp.cumsum(_bf16(big))[-1]) == 1000.0
    assert float(np.cumsum(np.ones(1000, BF16))[-1]) == 256.0      # what is avoided
    text = str(ft.make_jaxpr(fnp.sum)(_bf16(big)))
    assert "f32[1000] = convert_element_type" in text and "bf16[] = convert_element_type" in text
    assert "convert_element_type" not in str(ft.make_jaxpr(fnp.sum)(fnp.ones(3)))


@needs_ml
def test_matmul_computes_in_float32_and_rounds(jnp):
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(6, 40)), rng.normal(size=(40, 3))
    want32 = (_bf16(a).astype(fnp.float32) @ _bf16(b).astype(fnp.float32)).astype(fnp.bfloat16)
    jax_out = jnp.asarray(a, jnp.bfloat16) @ jnp.asarray(b, jnp.bfloat16)
    for f in (fnp.matmul, fnp.dot, lambda x, y: x @ y, lambda x, y: fnp.einsum("ij,jk", x, y),
              lambda x, y: fnp.tensordot(x, y, 1), ft.jit(fnp.matmul)):
        got = f(_bf16(a), _bf16(b))
        _same(got, want32)
        _same(got, jax_out, rtol=BF16_RTOL)
    assert ft.vmap(lambda r: r @ _bf16(b))(_bf16(a)).dtype == BF16


@needs_ml
@pytest.mark.parametrize("sampler", ["uniform", "normal", "exponential", "gumbel", "laplace",
                                     "logistic", "cauchy"])
def test_random_bfloat16_equals_jax(sampler):
    jax = pytest.importorskip("jax")
    want = getattr(jax.random, sampler)(jax.random.PRNGKey(3), (50,), dtype=jax.numpy.bfloat16)
    got = getattr(ft.random, sampler)(ft.random.PRNGKey(3), (50,), dtype=fnp.bfloat16)
    _same(got, want)


@needs_ml
def test_narrow_types_match_jax(jnp):
    i = np.arange(-4, 4)
    for f in (lambda m, x: x * 3, lambda m, x: x + 1, lambda m, x: -x, lambda m, x: x // 2):
        want = f(jnp, jnp.asarray(i).astype(jnp.int4))
        _same(f(fnp, fnp.asarray(i).astype(fnp.int4)), want)
        _same(ft.jit(lambda x: f(fnp, x))(fnp.asarray(i).astype(fnp.int4)), want)
    v = np.array([0.3, -1.7, 4.0, 100.0])
    for name in ("float8_e4m3fn", "float8_e5m2", "float4_e2m1fn"):
        for f in (lambda m, x: x * 2, lambda m, x: x + x, lambda m, x: m.abs(x)):
            _same(f(fnp, fnp.asarray(v, getattr(fnp, name))),
                  f(jnp, jnp.asarray(v, getattr(jnp, name))))


# ------------------------------------------------------------------ transforms
def _loss(w, x):
    return fnp.sum(fnp.tanh(x @ w) ** 2) / 4


def _data():
    rng = np.random.default_rng(4)
    return rng.normal(size=(3, 4)).astype(np.float32) * 0.5, \
        rng.normal(size=(5, 3)).astype(np.float32)


@needs_ml
def test_grad_in_bfloat16_against_float32_finite_differences():
    w, x = _data()
    g = ft.grad(_loss)(_bf16(w), _bf16(x))
    assert g.dtype == BF16
    eps, fd = 1e-3, np.zeros_like(w, dtype=np.float64)
    for idx in np.ndindex(w.shape):
        e = np.zeros_like(w)
        e[idx] = eps
        up = float(_loss(fnp.asarray(w + e), fnp.asarray(x)))
        down = float(_loss(fnp.asarray(w - e), fnp.asarray(x)))
        fd[idx] = (up - down) / (2 * eps)
    np.testing.assert_allclose(_f64(g), fd, rtol=0.05, atol=0.05 * np.abs(fd).max())
    assert not np.allclose(_f64(g), -fd, rtol=0.05, atol=0.05 * np.abs(fd).max())
    _same(ft.jit(ft.grad(_loss))(_bf16(w), _bf16(x)), g)
    per_row = ft.vmap(ft.grad(_loss), in_axes=(None, 0))(_bf16(w), _bf16(x)[:, None])
    assert per_row.dtype == BF16
    np.testing.assert_allclose(_f64(per_row.sum(0)), _f64(g), rtol=0.05, atol=0.02)


@needs_ml
def test_tangents_and_cotangents_are_bfloat16():
    w, x = _data()
    f = ft.jit(lambda w: fnp.sin(_bf16(x) @ w))
    out, t = ft.jvp(f, (_bf16(w),), (fnp.ones_like(_bf16(w)),))
    assert out.dtype == t.dtype == BF16
    out, back = ft.vjp(f, _bf16(w))
    (ct,) = back(fnp.ones_like(out))
    assert ct.dtype == BF16
    assert ft.hessian(lambda a: fnp.sum(a ** 3))(_bf16([1.0, 2.0])).dtype == BF16
    carry, ys = ft.lax.scan(lambda c, v: (c + v, c * v), fnp.zeros((), fnp.bfloat16),
                            fnp.ones(4, fnp.bfloat16))
    assert carry.dtype == ys.dtype == BF16 and float(carry) == 4


@needs_ml
def test_check_grads_in_bfloat16_passes_and_can_fail():
    x = _bf16(np.linspace(-1, 1, 6))
    ft.test_util.check_grads(lambda a: fnp.sin(a) * a, (x,), order=2)

    @ft.custom_jvp
    def wrong(a):
        return fnp.sin(a)
    wrong.defjvp(lambda p, t: (fnp.sin(p[0]), 2 * fnp.cos(p[0]) * t[0]))
    with pytest.raises(AssertionError):
        ft.test_util.check_grads(wrong, (x,), order=1, modes=["fwd"])


@needs_ml
def test_mixed_precision_params_float32_compute_bfloat16():
    w, x = _data()

    def loss(p, x):
        h = fnp.tanh(x.astype(fnp.bfloat16) @ p.astype(fnp.bfloat16))
        return fnp.mean(h.astype(fnp.float32) ** 2)

    step = ft.jit(lambda p, x: p - 0.1 * ft.grad(loss)(p, x))
    p = fnp.asarray(w)
    g = ft.grad(loss)(p, fnp.asarray(x))
    assert g.dtype == np.float32
    g32 = ft.grad(lambda p, x: fnp.mean(fnp.tanh(x @ p) ** 2))(p, fnp.asarray(x))
    np.testing.assert_allclose(g, g32, rtol=0.05, atol=0.01)
    before = float(loss(p, fnp.asarray(x)))
    for _ in range(5):
        p = step(p, fnp.asarray(x))
    assert p.dtype == np.float32 and float(loss(p, fnp.asarray(x))) < before


# ------------------------------------------------------------------ files and devices
@needs_ml
def test_checkpoint_round_trip(tmp_path):
    tree = {"w": _bf16([1.5, -2.0, 3.0e38]), "i": (fnp.arange(4) - 2).astype(fnp.int4),
            "f8": fnp.asarray([0.5, -448.0], fnp.float8_e4m3fn), "x": fnp.ones(2)}
    ft.save(tmp_path / "ck", tree)
    back = ft.load(tmp_path / "ck", like=tree)
    for k in tree:
        _same(back[k], tree[k])


@needs_ml
def test_safetensors_round_trip(tmp_path):
    pytest.importorskip("safetensors.numpy")
    w = _bf16([1.0, -2.0, 0.5 + 2 ** -8, np.inf])
    ft.nn.save_safetensors({"w": w, "n": fnp.arange(3)}, tmp_path / "t.safetensors")
    kept = ft.nn.load_safetensors(tmp_path / "t.safetensors", keep_bfloat16=True)
    _same(kept["w"], w)
    assert kept["n"].dtype == np.int64
    widened = ft.nn.load_safetensors(tmp_path / "t.safetensors")
    _same(widened["w"], w.astype(fnp.float32))


@needs_ml
def test_on_the_stand_in_gpu(fake_gpus):
    gpu = ft.devices("fakegpu")[0]
    x = ft.device_put(_bf16(np.linspace(-1, 1, 300)), gpu)
    total = fnp.sum(x * 2)
    assert total.dtype == BF16 and total.device == gpu
    g = ft.jit(ft.grad(lambda a: fnp.sum(fnp.sin(a))))(x)
    assert g.dtype == BF16 and g.device == gpu
    _same(g, fnp.cos(_bf16(np.linspace(-1, 1, 300))))


def test_without_ml_dtypes_the_names_say_how_to_get_them():
    code = (
        "import sys; sys.modules['ml_dtypes'] = None\n"
        "import numpy as np, functrans as ft, functrans.numpy as fnp, functrans.dtypes as d\n"
        "assert d.ML_DTYPES == {} and not hasattr(fnp, 'bfloat16')\n"
        "for mod in (fnp, d):\n"
        "    try:\n"
        "        mod.bfloat16\n"
        "    except AttributeError as e:\n"
        "        assert 'pip install ml_dtypes' in str(e), e\n"
        "    else:\n"
        "        raise SystemExit('no error')\n"
        "x = fnp.arange(3.0)\n"
        "assert float(ft.grad(lambda a: fnp.sum(a * a))(x)[2]) == 4.0\n"
        "assert fnp.promote_types(fnp.float16, fnp.int8) == np.float16\n"
        "assert fnp.issubdtype(fnp.float32, fnp.floating)\n"
        "try:\n"
        "    fnp.nonexistent_name\n"
        "except AttributeError as e:\n"
        "    assert 'nonexistent_name' in str(e)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
