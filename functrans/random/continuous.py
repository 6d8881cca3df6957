"""Continuous distributions of `ft.random` beyond uniform and normal: the gamma family (with
reparameterized derivatives in the shape parameters), location-scale and inverse-CDF samplers,
and the multivariate ones. Signatures are JAX's."""
from __future__ import annotations

import numpy as np

from .. import dtypes, lax
from .. import numpy as fnp
from ..core import Tracer
from ..higher_order.custom_derivatives import custom_jvp
from ..primitives.transfer import takes_out_sharding
from ..primitives._util import shape_of, dtype_of
from ..primitives.special import random_gamma_grad
from ..numpy._conversion import asarray_like
from .basic import (check_key, shape_arg, float_dtype, split, uniform, normal, bernoulli,
                    broadcasts_to)

__all__ = ["gamma", "loggamma", "beta", "dirichlet", "exponential", "laplace", "logistic",
           "cauchy", "lognormal", "pareto", "weibull_min", "rayleigh", "maxwell",
           "double_sided_maxwell", "t", "chisquare", "f", "generalized_normal", "triangular",
           "wald", "multivariate_normal", "orthogonal", "rademacher", "ball"]


# ------------------------------------------------------------------ parameters
def _is_weak(x):
    return type(x) in (bool, int, float, complex) or (
        isinstance(x, Tracer) and getattr(x.aval, "weak_type", False))


def result_dtype(fn, dtype, *params):
    """`dtype`, else the float dtype of the (non-Python-scalar) float parameters, else the
    default float dtype: float64 parameters give float64 samples."""
    if dtype is not None:
        return float_dtype(fn, dtype)
    found = []
    for p in params:
        if not _is_weak(p):
            d = dtype_of(p)
            if d.kind == "f":
                found.append(d)
    return float_dtype(fn, np.result_type(*found) if found else None)


def params_shape(fn, shape, *named):
    """The sample shape: `shape`, which every parameter must broadcast to, or (None) the
    parameters' broadcast shape. `named` holds (name, array) pairs."""
    shapes = [shape_of(v) for _, v in named]
    if shape is None:
        try:
            return tuple(np.broadcast_shapes(*shapes))
        except ValueError:
            detail = ", ".join(f"{n} {shape_of(v)}" for n, v in named)
            raise ValueError(f"ft.random.{fn}: the parameters' shapes do not broadcast "
                             f"({detail})") from None
    shape = shape_arg(fn, shape)
    for name, v in named:
        if not broadcasts_to(shape_of(v), shape):
            raise ValueError(f"ft.random.{fn}: {name} of shape {shape_of(v)} does not "
                             f"broadcast to the requested shape {shape}; pass a shape that "
                             "ends with the parameter's shape, or shape=None")
    return shape


def _param(x, key, dtype, name, fn):
    x = asarray_like(x, key)
    if dtype_of(x).kind not in "biuf":
        raise TypeError(f"ft.random.{fn}: {name} must be real, got {dtype_of(x)}")
    return lax.convert_element_type(x, dtype) if dtype_of(x) != dtype else x


def _prepare(fn, key, shape, dtype, **params):
    """Checks the key, converts the parameters to the sample dtype and broadcasts them to
    the sample shape; returns (shape, dtype, parameters in the given order)."""
    check_key(fn, key)
    dtype = result_dtype(fn, dtype, *params.values())
    arrays = {n: _param(v, key, dtype, n, fn) for n, v in params.items()}
    shape = params_shape(fn, shape, *arrays.items())
    return shape, dtype, [lax.broadcast_to(v, shape) for v in arrays.values()]


# ------------------------------------------------------------------ gamma family
def _marsaglia_tsang(key, a, log_space):
    """Gamma(a) samples (their logs if `log_space`) for an array `a` > 0: Marsaglia and
    Tsang's squeeze-and-reject method, every element redrawn until it is accepted (about 1.05
    rounds on average); a < 1 is boosted to a + 1 and scaled by u**(1/a)."""
    shape, dtype = shape_of(a), dtype_of(a)
    boost = lax.lt(a, 1.0)
    a1 = lax.select(boost, lax.add(a, 1.0), a)
    d = lax.sub(a1, 1.0 / 3.0)
    c = lax.rsqrt(lax.mul(d, 9.0))
    zero = lax.full_like(a, 0.0)

    def body(state):
        k, done, value = state
        k, kz, ku = split(k, 3)
        z = normal(kz, shape, dtype)
        log_u = lax.log(uniform(ku, shape, dtype, float(np.finfo(dtype).tiny), 1.0))
        t = lax.add(lax.mul(c, z), 1.0)
        positive = lax.gt(t, 0.0)
        log_v = lax.mul(lax.log(lax.select(positive, t, lax.full_like(t, 1.0))), 3.0)
        v = lax.exp(log_v)
        bound = lax.add(lax.mul(lax.mul(z, z), 0.5),
                        lax.mul(d, lax.add(lax.sub(1.0, v), log_v)))
        ok = lax.bitwise_and(positive, lax.lt(log_u, bound))
        new = lax.bitwise_and(ok, lax.bitwise_not(done))
        sample = lax.add(lax.log(d), log_v) if log_space else lax.mul(d, v)
        return k, lax.bitwise_or(done, ok), lax.select(new, sample, value)

    def cond(state):
        return lax.bitwise_not(lax.reduce_and(state[1], tuple(range(len(shape)))))

    loop_key, boost_key = split(key)
    done = lax.ne(a, a)                                   # all False (a nan never runs)
    _, _, x = lax.while_loop(cond, body, (loop_key, done, zero))
    u = uniform(boost_key, shape, dtype, float(np.finfo(dtype).tiny), 1.0)
    safe_a = lax.select(boost, a, lax.full_like(a, 1.0))
    if log_space:
        return lax.select(boost, lax.add(x, lax.div(lax.log(u), safe_a)), x)
    return lax.select(boost, lax.mul(x, lax.pow(u, lax.div(1.0, safe_a))), x)


def _draw_gamma(log_space, key, a):
    """Computed in float64 whatever the dtype: in float32 the acceptance test loses
    d * (1 - v + log v) to cancellation for large a (KS p < 0.01 at a = 1e7)."""
    dtype = dtype_of(a)
    a = lax.convert_element_type(lax.stop_gradient(a), np.float64)
    bad = lax.bitwise_not(lax.gt(a, 0.0))
    x = _marsaglia_tsang(key, lax.select(bad, lax.full_like(a, 1.0), a), log_space)
    limit = lax.full_like(a, -np.inf if log_space else 0.0)    # the limit as a -> 0
    x = lax.select(bad, lax.select(lax.eq(a, 0.0), limit, lax.full_like(a, np.nan)), x)
    return lax.convert_element_type(x, dtype)


_draw_gamma = custom_jvp(_draw_gamma, nondiff_argnums=(0,))


@_draw_gamma.defjvp
def _draw_gamma_jvp(log_space, primals, tangents):
    key, a = primals
    da = tangents[1]
    out = _draw_gamma(log_space, key, a)
    if log_space:                   # d log x / da, with x in float64 (it may underflow)
        wide = lax.convert_element_type(a, np.float64)
        x = lax.exp(lax.convert_element_type(out, np.float64))
        slope = lax.convert_element_type(lax.div(random_gamma_grad(wide, x), x), dtype_of(a))
    else:
        slope = random_gamma_grad(a, out)
    return out, lax.mul(slope, da)


@takes_out_sharding
def gamma(key, a, shape=None, dtype=None):
    """Gamma(a, 1) samples (shape parameter `a` >= 0: 0 where a == 0, nan where a < 0, as
    JAX's), differentiable in `a` by implicit reparameterization
    (dx/da = -(dF/da) / (dF/dx), F the CDF)."""
    shape, dtype, (a,) = _prepare("gamma", key, shape, dtype, a=a)
    return _draw_gamma(False, key, a)


@takes_out_sharding
def loggamma(key, a, shape=None, dtype=None):
    """log of Gamma(a, 1) samples, accurate for small `a` where the samples underflow
    (-inf where a == 0, nan where a < 0)."""
    shape, dtype, (a,) = _prepare("loggamma", key, shape, dtype, a=a)
    return _draw_gamma(True, key, a)


@takes_out_sharding
def beta(key, a, b, shape=None, dtype=None):
    """Beta(a, b) samples (ratios of gamma samples, formed in log space), differentiable in
    `a` and `b`; 0 where a == 0 < b, 1 where b == 0 < a, nan where both are 0 or one is
    negative."""
    shape, dtype, (a, b) = _prepare("beta", key, shape, dtype, a=a, b=b)
    ka, kb = split(key)
    log_x, log_y = loggamma(ka, a), loggamma(kb, b)
    return lax.exp(lax.sub(log_x, lax.logaddexp(log_x, log_y)))


@takes_out_sharding
def dirichlet(key, alpha, shape=None, dtype=None):
    """Dirichlet(alpha) samples along the last axis of `alpha` (concentrations, shape
    (..., K)); `shape` is the batch shape, the result has shape `shape + (K,)`. A zero
    concentration gets 0 and the others a sample of the rest; a distribution whose
    concentrations are all 0, or one negative, is nan throughout."""
    check_key("dirichlet", key)
    dtype = result_dtype("dirichlet", dtype, alpha)
    alpha = _param(alpha, key, dtype, "alpha", "dirichlet")
    if not shape_of(alpha):
        raise ValueError("ft.random.dirichlet: alpha must have at least one axis (the K "
                         "concentrations), got a scalar")
    batch = shape_of(alpha)[:-1]
    if shape is not None:
        shape = shape_arg("dirichlet", shape)
        if not broadcasts_to(batch, shape):
            raise ValueError(f"ft.random.dirichlet: alpha's batch shape {batch} (alpha "
                             f"{shape_of(alpha)} without its last axis) does not broadcast to "
                             f"shape {shape}")
        batch = shape
    log_g = loggamma(key, lax.broadcast_to(alpha, tuple(batch) + shape_of(alpha)[-1:]))
    scaled = fnp.exp(log_g - lax.stop_gradient(fnp.max(log_g, axis=-1, keepdims=True)))
    return scaled / fnp.sum(scaled, axis=-1, keepdims=True)


@takes_out_sharding
def chisquare(key, df, shape=None, dtype=None):
    """Chi-square samples with `df` degrees of freedom (2 * Gamma(df / 2))."""
    shape, dtype, (df,) = _prepare("chisquare", key, shape, dtype, df=df)
    return lax.mul(lax.exp(loggamma(key, lax.mul(df, 0.5))), 2.0)


@takes_out_sharding
def f(key, dfnum, dfden, shape=None, dtype=None):
    """F-distribution samples: (chi2(dfnum) / dfnum) / (chi2(dfden) / dfden)."""
    shape, dtype, (dfnum, dfden) = _prepare("f", key, shape, dtype, dfnum=dfnum, dfden=dfden)
    kd, kn = split(key)
    num = lax.div(chisquare(kn, dfnum), dfnum)
    return lax.div(num, lax.div(chisquare(kd, dfden), dfden))


@takes_out_sharding
def t(key, df, shape=None, dtype=None):
    """Student's t samples with `df` degrees of freedom: z / sqrt(chi2(df) / df)."""
    shape, dtype, (df,) = _prepare("t", key, shape, dtype, df=df)
    kn, kg = split(key)
    half = lax.mul(df, 0.5)
    return lax.mul(normal(kn, shape, dtype), lax.sqrt(lax.div(half, gamma(kg, half))))


# ------------------------------------------------------------------ inverse-CDF samplers
def _standard(fn, key, shape, dtype):
    check_key(fn, key)
    return shape_arg(fn, shape), float_dtype(fn, dtype)


@takes_out_sharding
def exponential(key, shape=(), dtype=None):
    """Exponential(1) samples, -log(1 - u)."""
    shape, dtype = _standard("exponential", key, shape, dtype)
    return lax.neg(lax.log1p(lax.neg(uniform(key, shape, dtype))))


@takes_out_sharding
def laplace(key, shape=(), dtype=None):
    """Laplace(0, 1) samples."""
    shape, dtype = _standard("laplace", key, shape, dtype)
    lowest = float(np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype)))
    u = uniform(key, shape, dtype, lowest, 1.0)
    return lax.mul(lax.sign(u), lax.log1p(lax.neg(lax.abs(u))))


@takes_out_sharding
def logistic(key, shape=(), dtype=None):
    """Standard logistic samples, log(u / (1 - u))."""
    shape, dtype = _standard("logistic", key, shape, dtype)
    u = uniform(key, shape, dtype, float(np.finfo(dtype).tiny), 1.0)
    return lax.sub(lax.log(u), lax.log1p(lax.neg(u)))


@takes_out_sharding
def cauchy(key, shape=(), dtype=None):
    """Standard Cauchy samples, tan(pi (u - 1/2))."""
    shape, dtype = _standard("cauchy", key, shape, dtype)
    u = uniform(key, shape, dtype, float(np.finfo(dtype).eps), 1.0)
    return lax.tan(lax.mul(lax.sub(u, 0.5), float(np.pi)))


_UNIT_SIGMA = np.float32(1.0)


@takes_out_sharding
def lognormal(key, sigma=_UNIT_SIGMA, shape=None, dtype=None):
    """exp(sigma * z) for standard normal z."""
    if sigma is _UNIT_SIGMA:                # JAX's default, weak like a Python 1.0
        sigma = 1.0
    shape, dtype, (sigma,) = _prepare("lognormal", key, shape, dtype, sigma=sigma)
    return lax.exp(lax.mul(normal(key, shape, dtype), sigma))


@takes_out_sharding
def pareto(key, b, shape=None, dtype=None):
    """Pareto samples with shape `b` (support x >= 1): exp(E / b), E exponential."""
    shape, dtype, (b,) = _prepare("pareto", key, shape, dtype, b=b)
    return lax.exp(lax.div(exponential(key, shape, dtype), b))


@takes_out_sharding
def rayleigh(key, scale, shape=None, dtype=None):
    """Rayleigh samples, scale * sqrt(-2 log u)."""
    shape, dtype, (scale,) = _prepare("rayleigh", key, shape, dtype, scale=scale)
    u = uniform(key, shape, dtype)
    return lax.mul(scale, lax.sqrt(lax.mul(lax.log(u), -2.0)))


def weibull_min(key, scale, concentration, shape=(), dtype=None):
    """Weibull samples, scale * (-log(1 - u)) ** (1 / concentration); the result has the
    broadcast shape of `shape` and the parameters (as JAX's)."""
    check_key("weibull_min", key)
    dtype = result_dtype("weibull_min", dtype, scale, concentration)
    scale = _param(scale, key, dtype, "scale", "weibull_min")
    conc = _param(concentration, key, dtype, "concentration", "weibull_min")
    e = exponential(key, shape_arg("weibull_min", shape), dtype)
    return fnp.power(e, 1.0 / conc) * scale


@takes_out_sharding
def triangular(key, left, mode, right, shape=None, dtype=None):
    """Triangular samples on [left, right] peaking at `mode` (inverse CDF)."""
    shape, dtype, (lo, mode, hi) = _prepare("triangular", key, shape, dtype, left=left,
                                            mode=mode, right=right)
    width = lax.sub(hi, lo)
    u = uniform(key, shape, dtype)
    below = lax.add(lo, lax.sqrt(lax.mul(lax.mul(u, width), lax.sub(mode, lo))))
    above = lax.sub(hi, lax.sqrt(lax.mul(lax.mul(lax.sub(1.0, u), width), lax.sub(hi, mode))))
    return lax.select(lax.lt(u, lax.div(lax.sub(mode, lo), width)), below, above)


@takes_out_sharding
def wald(key, mean, shape=None, dtype=None):
    """Wald (inverse Gaussian with unit shape) samples with mean `mean`
    (Michael, Schucany and Haas's transformation)."""
    shape, dtype, (mu,) = _prepare("wald", key, shape, dtype, mean=mean)
    kv, kz = split(key)
    y = lax.square(normal(kv, shape, dtype))
    mu2 = lax.square(mu)
    root = lax.sqrt(lax.add(lax.mul(lax.mul(mu, y), 4.0), lax.mul(mu2, lax.square(y))))
    x = lax.sub(lax.add(mu, lax.mul(lax.mul(mu2, y), 0.5)), lax.mul(lax.mul(mu, 0.5), root))
    z = uniform(kz, shape, dtype)
    return lax.select(lax.le(z, lax.div(mu, lax.add(mu, x))), x, lax.div(mu2, x))


@takes_out_sharding
def maxwell(key, shape=(), dtype=None):
    """Maxwell samples: the length of a standard normal vector in three dimensions."""
    shape, dtype = _standard("maxwell", key, shape, dtype)
    z = normal(key, shape + (3,), dtype)
    return lax.sqrt(lax.reduce_sum(lax.square(z), (len(shape),)))


@takes_out_sharding
def rademacher(key, shape=(), dtype=None):
    """-1 or +1 with equal probability (default dtype the default integer), converted to
    `dtype` as JAX converts them (255 for -1 in uint8, True for both in bool)."""
    check_key("rademacher", key)
    shape = shape_arg("rademacher", shape)
    dtype = dtypes.default_int_dtype() if dtype is None else np.dtype(dtype)
    signs = lax.convert_element_type(bernoulli(key, 0.5, shape), np.int32)
    signs = lax.sub(lax.mul(signs, lax.full_like(signs, 2)), lax.full_like(signs, 1))
    return lax.convert_element_type(signs, dtype)


def double_sided_maxwell(key, loc, scale, shape=(), dtype=None):
    """Symmetric Maxwell samples about `loc`, scaled by `scale`. As in JAX, the result's
    shape is `shape` followed by the parameters' broadcast shape."""
    check_key("double_sided_maxwell", key)
    dtype = result_dtype("double_sided_maxwell", dtype, loc, scale)
    loc = _param(loc, key, dtype, "loc", "double_sided_maxwell")
    scale = _param(scale, key, dtype, "scale", "double_sided_maxwell")
    full = shape_arg("double_sided_maxwell", shape) + tuple(
        np.broadcast_shapes(shape_of(loc), shape_of(scale)))
    km, ks = split(key)
    return maxwell(km, full, dtype) * rademacher(ks, full, dtype) * scale + loc


@takes_out_sharding
def generalized_normal(key, p, shape=(), dtype=None):
    """Samples with density proportional to exp(-|x|**p) (p = 2: normal with variance 1/2;
    p = 1: Laplace)."""
    check_key("generalized_normal", key)
    dtype = result_dtype("generalized_normal", dtype, p)
    shape = shape_arg("generalized_normal", shape)
    p = _param(p, key, dtype, "p", "generalized_normal")
    kg, ks = split(key)
    g = gamma(kg, lax.div(1.0, p), shape, dtype)
    return rademacher(ks, shape, dtype) * fnp.power(g, 1.0 / p)


@takes_out_sharding
def ball(key, d, p=2, shape=(), dtype=None):
    """Points uniform in the unit `p`-norm ball of dimension `d` (shape `shape + (d,)`)."""
    check_key("ball", key)
    if not isinstance(d, (int, np.integer)) or d < 0:
        raise ValueError(f"ft.random.ball: d must be a non-negative int, got {d!r}")
    shape = shape_arg("ball", shape)
    dtype = float_dtype("ball", dtype)
    kg, ke = split(key)
    g = generalized_normal(kg, p, shape + (int(d),), dtype)
    e = exponential(ke, shape, dtype)
    norm = fnp.power(fnp.sum(fnp.power(fnp.abs(g), p), axis=-1) + e, 1.0 / p)
    return g / norm[..., None]


# ------------------------------------------------------------------ multivariate
@takes_out_sharding
def multivariate_normal(key, mean, cov, shape=None, dtype=None, method="cholesky"):
    """Samples from N(mean, cov) (mean (..., n), cov (..., n, n)); `method` factors `cov`:
    "cholesky" (positive definite), "eigh" or "svd" (positive semi-definite)."""
    check_key("multivariate_normal", key)
    if method not in ("cholesky", "eigh", "svd"):
        raise ValueError(f"ft.random.multivariate_normal: method must be 'cholesky', 'eigh' "
                         f"or 'svd', got {method!r}")
    dtype = result_dtype("multivariate_normal", dtype, mean, cov)
    mean = _param(mean, key, dtype, "mean", "multivariate_normal")
    cov = _param(cov, key, dtype, "cov", "multivariate_normal")
    ms, cs = shape_of(mean), shape_of(cov)
    if len(ms) < 1 or len(cs) < 2 or cs[-2:] != ms[-1:] * 2:
        raise ValueError(f"ft.random.multivariate_normal: mean must have shape (..., n) and "
                         f"cov (..., n, n), got mean {ms} and cov {cs}")
    batch = np.broadcast_shapes(ms[:-1], cs[:-2])
    if shape is None:
        shape = tuple(batch)
    else:
        shape = shape_arg("multivariate_normal", shape)
        if not broadcasts_to(batch, shape):
            raise ValueError(f"ft.random.multivariate_normal: the parameters' batch shape "
                             f"{tuple(batch)} (from mean {ms} and cov {cs}) does not "
                             f"broadcast to shape {shape}")
    if method == "cholesky":
        factor = fnp.linalg.cholesky(cov)
    elif method == "eigh":
        w, v = fnp.linalg.eigh(cov)
        factor = v * fnp.sqrt(fnp.maximum(w, 0.0))[..., None, :]
    else:
        u, s, _ = fnp.linalg.svd(cov)
        factor = u * fnp.sqrt(s)[..., None, :]
    z = normal(key, shape + ms[-1:], dtype)
    return mean + fnp.einsum("...ij,...j->...i", factor, z)


@takes_out_sharding
def orthogonal(key, n, shape=(), dtype=None, m=None):
    """Random matrices of shape `shape + (n, m)` (m defaults to n) with orthonormal columns
    (or rows, when n < m), Haar-distributed: QR of a Gaussian matrix with R's diagonal signs
    moved into Q."""
    check_key("orthogonal", key)
    m = n if m is None else m
    for name, v in (("n", n), ("m", m)):
        if not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"ft.random.orthogonal: {name} must be a non-negative int, "
                             f"got {v!r}")
    shape = shape_arg("orthogonal", shape)
    dtype = float_dtype("orthogonal", dtype)
    wide = n < m
    z = normal(key, shape + ((m, n) if wide else (n, m)), dtype)
    q, r = fnp.linalg.qr(z)
    signs = fnp.sign(fnp.diagonal(r, axis1=-2, axis2=-1))
    q = q * fnp.where(signs == 0, 1.0, signs)[..., None, :]
    return fnp.swapaxes(q, -1, -2) if wide else q
