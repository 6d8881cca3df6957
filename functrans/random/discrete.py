"""Discrete distributions of `ft.random` with parameters (poisson, binomial, geometric,
multinomial), and JAX's functions on key data. Rejection samplers redraw every element of
the array until each is accepted, in one `while_loop`, so they work under jit and vmap."""
from __future__ import annotations

import numpy as np

from .. import dtypes, lax
from ..primitives.transfer import takes_out_sharding
from ..primitives._util import shape_of, dtype_of
from ..numpy._conversion import asarray, asarray_like
from .basic import check_impl, check_key, split, uniform
from .continuous import result_dtype, params_shape

__all__ = ["poisson", "binomial", "geometric", "multinomial", "key_data", "wrap_key_data",
           "clone", "key_impl", "key_dtype"]


def _int_dtype(fn, dtype):
    dtype = dtypes.default_int_dtype() if dtype is None else np.dtype(dtype)
    if dtype.kind not in "iu":
        raise TypeError(f"ft.random.{fn} needs an integer dtype, got {dtype}")
    return dtype


def _float_params(fn, key, shape, **params):
    """The parameters as one float dtype, broadcast to the sample shape."""
    check_key(fn, key)
    ftype = result_dtype(fn, None, *params.values())
    arrays = {}
    for name, v in params.items():
        v = asarray_like(v, key)
        if dtype_of(v).kind not in "biuf":
            raise TypeError(f"ft.random.{fn}: {name} must be real, got {dtype_of(v)}")
        arrays[name] = lax.convert_element_type(v, ftype)
    shape = params_shape(fn, shape, *arrays.items())
    return shape, ftype, [lax.broadcast_to(v, shape) for v in arrays.values()]


def _until_done(key, done, value, step):
    """Runs `step(key, done, value) -> (accepted, new_value)` over the whole array until
    every element has been accepted once; returns the accepted values."""
    axes = tuple(range(len(shape_of(done))))

    def body(state):
        k, done, value = state
        k, sub = split(k)
        accepted, new = step(sub, done, value)
        take = lax.bitwise_and(accepted, lax.bitwise_not(done))
        return k, lax.bitwise_or(done, accepted), lax.select(take, new, value)

    def cond(state):
        return lax.bitwise_not(lax.reduce_and(state[1], axes))
    return lax.while_loop(cond, body, (key, done, value))[2]


def _two_uniforms(key, like):
    ku, kv = split(key)
    return (uniform(ku, shape_of(like), dtype_of(like)),
            uniform(kv, shape_of(like), dtype_of(like)))


# ------------------------------------------------------------------ poisson
def _poisson_knuth(key, lam):
    """Counts uniforms until their product drops below exp(-lam) (small lam)."""
    count = lax.full_like(lam, 0.0)

    def body(state):
        k, log_prod, count, done = state
        k, sub = split(k)
        log_prod = lax.add(log_prod, lax.log(uniform(sub, shape_of(lam), dtype_of(lam))))
        stop = lax.lt(log_prod, lax.neg(lam))
        grow = lax.bitwise_not(lax.bitwise_or(done, stop))
        return k, log_prod, lax.select(grow, lax.add(count, 1.0), count), lax.bitwise_or(
            done, stop)

    def cond(state):
        return lax.bitwise_not(lax.reduce_and(state[3], tuple(range(len(shape_of(lam))))))
    return lax.while_loop(cond, body, (key, count, count, lax.ne(lam, lam)))[2]


def _poisson_ptrs(key, lam):
    """Hoermann's transformed rejection with squeeze (PTRS), for lam >= 10."""
    log_lam = lax.log(lam)
    b = lax.add(lax.mul(lax.sqrt(lam), 2.53), 0.931)
    a = lax.add(lax.mul(b, 0.02483), -0.059)
    inv_alpha = lax.add(lax.div(1.1328, lax.sub(b, 3.4)), 1.1239)
    v_r = lax.sub(0.9277, lax.div(3.6224, lax.sub(b, 2.0)))

    def step(k, done, value):
        u, v = _two_uniforms(k, lam)
        u = lax.sub(u, 0.5)
        us = lax.sub(0.5, lax.abs(u))
        kk = lax.floor(lax.add(lax.mul(lax.add(lax.div(lax.mul(a, 2.0), us), b), u),
                               lax.add(lam, 0.43)))
        quick = lax.bitwise_and(lax.ge(us, 0.07), lax.le(v, v_r))
        safe_k = lax.max(kk, lax.full_like(kk, 0.0))
        lhs = lax.add(lax.log(lax.mul(v, inv_alpha)),
                      lax.neg(lax.log(lax.add(lax.div(a, lax.mul(us, us)), b))))
        rhs = lax.sub(lax.sub(lax.mul(safe_k, log_lam), lam), lax.lgamma(lax.add(safe_k, 1.0)))
        reject = lax.bitwise_or(lax.lt(kk, 0.0),
                                lax.bitwise_and(lax.lt(us, 0.013), lax.gt(v, us)))
        ok = lax.bitwise_or(quick, lax.bitwise_and(lax.bitwise_not(reject), lax.le(lhs, rhs)))
        return ok, kk
    return _until_done(key, lax.ne(lam, lam), lax.full_like(lam, 0.0), step)


@takes_out_sharding
def poisson(key, lam, shape=None, dtype=None):
    """Poisson(lam) counts (default dtype the default integer); -1 where lam < 0 or nan.
    Knuth's product of uniforms for lam < 10, transformed rejection (PTRS) above, both in
    float64."""
    shape, _, (lam,) = _float_params("poisson", key, shape, lam=lam)
    dtype = _int_dtype("poisson", dtype)
    lam = lax.convert_element_type(lam, np.float64)     # float32 lgamma(k) loses large counts
    small = lax.lt(lam, 10.0)
    ks, kl = split(key)
    low = _poisson_knuth(ks, lax.select(small, lam, lax.full_like(lam, 0.0)))
    high = _poisson_ptrs(kl, lax.select(small, lax.full_like(lam, 10.0), lam))
    out = lax.select(small, low, high)
    valid = lax.ge(lam, 0.0)                                # False for nan
    return lax.convert_element_type(lax.select(valid, out, lax.full_like(out, -1.0)), dtype)


# ------------------------------------------------------------------ binomial
def _binomial_inversion(key, n, q):
    """Successes among n trials with success probability q, counted by geometric waiting
    times between successes (small n * q)."""
    done = lax.bitwise_or(lax.le(q, 0.0), lax.le(n, 0.0))
    log_miss = lax.log1p(lax.neg(lax.select(done, lax.full_like(q, 0.5), q)))
    zero = lax.full_like(n, 0.0)

    def body(state):
        k, used, count, done = state
        k, sub = split(k)
        u = uniform(sub, shape_of(n), dtype_of(n), float(np.finfo(dtype_of(n)).tiny), 1.0)
        used = lax.add(used, lax.add(lax.floor(lax.div(lax.log(u), log_miss)), 1.0))
        stop = lax.gt(used, n)
        grow = lax.bitwise_not(lax.bitwise_or(done, stop))
        return k, used, lax.select(grow, lax.add(count, 1.0), count), lax.bitwise_or(done,
                                                                                     stop)

    def cond(state):
        return lax.bitwise_not(lax.reduce_and(state[3], tuple(range(len(shape_of(n))))))
    return lax.while_loop(cond, body, (key, zero, zero, done))[2]


def _binomial_btrs(key, n, q):
    """Hoermann's transformed rejection (BTRS), for n * q >= 10 (q <= 1/2)."""
    stddev = lax.sqrt(lax.mul(lax.mul(n, q), lax.sub(1.0, q)))
    b = lax.add(lax.mul(stddev, 2.53), 1.15)
    a = lax.add(lax.add(lax.mul(b, 0.0248), -0.0873), lax.mul(q, 0.01))
    c = lax.add(lax.mul(n, q), 0.5)
    v_r = lax.sub(0.92, lax.div(4.2, b))
    alpha = lax.mul(lax.add(lax.div(5.1, b), 2.83), stddev)
    log_odds = lax.sub(lax.log(q), lax.log1p(lax.neg(q)))
    m = lax.floor(lax.mul(lax.add(n, 1.0), q))
    h = lax.add(lax.lgamma(lax.add(m, 1.0)), lax.lgamma(lax.add(lax.sub(n, m), 1.0)))

    def step(k, done, value):
        u, v = _two_uniforms(k, n)
        u = lax.sub(u, 0.5)
        us = lax.sub(0.5, lax.abs(u))
        kk = lax.floor(lax.add(lax.mul(lax.add(lax.div(lax.mul(a, 2.0), us), b), u), c))
        inside = lax.bitwise_and(lax.ge(kk, 0.0), lax.le(kk, n))
        quick = lax.bitwise_and(lax.ge(us, 0.07), lax.le(v, v_r))
        safe_k = lax.min(lax.max(kk, lax.full_like(kk, 0.0)), n)
        lhs = lax.log(lax.div(lax.mul(v, alpha), lax.add(lax.div(a, lax.mul(us, us)), b)))
        rhs = lax.add(lax.sub(lax.sub(h, lax.lgamma(lax.add(safe_k, 1.0))),
                              lax.lgamma(lax.add(lax.sub(n, safe_k), 1.0))),
                      lax.mul(lax.sub(safe_k, m), log_odds))
        ok = lax.bitwise_and(inside, lax.bitwise_or(quick, lax.le(lhs, rhs)))
        return ok, kk
    return _until_done(key, lax.ne(n, n), lax.full_like(n, 0.0), step)


def binomial(key, n, p, shape=None, dtype=None):
    """Binomial(n, p) counts as floats (of `dtype`, as JAX's); nan where n < 0 or p is
    outside [0, 1]. Inversion by waiting times for n * min(p, 1 - p) < 10, transformed
    rejection (BTRS) above, both in float64."""
    shape, ftype, (n, p) = _float_params("binomial", key, shape, n=n, p=p)
    dtype = ftype if dtype is None else np.dtype(dtype)
    # computed in float64: float32 lgamma of large counts distorts the acceptance test
    n = lax.floor(lax.convert_element_type(n, np.float64))
    p = lax.convert_element_type(p, np.float64)
    flip = lax.gt(p, 0.5)
    q = lax.select(flip, lax.sub(1.0, p), p)
    small = lax.lt(lax.mul(n, q), 10.0)
    ks, kl = split(key)
    zero = lax.full_like(n, 0.0)
    low = _binomial_inversion(ks, lax.select(small, n, zero), lax.select(small, q, zero))
    high = _binomial_btrs(kl, lax.select(small, lax.full_like(n, 40.0), n),
                          lax.select(small, lax.full_like(q, 0.5), q))
    count = lax.select(small, low, high)
    count = lax.select(flip, lax.sub(n, count), count)
    valid = lax.bitwise_and(lax.ge(n, 0.0), lax.bitwise_and(lax.ge(p, 0.0), lax.le(p, 1.0)))
    return lax.convert_element_type(lax.select(valid, count, lax.full_like(count, np.nan)),
                                    dtype)


# ------------------------------------------------------------------ geometric, multinomial
@takes_out_sharding
def geometric(key, p, shape=None, dtype=None):
    """Number of Bernoulli(p) trials up to and including the first success (>= 1; the
    largest value of `dtype` where p == 0)."""
    shape, ftype, (p,) = _float_params("geometric", key, shape, p=p)
    dtype = _int_dtype("geometric", dtype)
    u = uniform(key, shape, ftype)
    u = lax.select(lax.eq(u, 0.0), lax.full_like(u, 1.0), u)
    never, sure = lax.le(p, 0.0), lax.ge(p, 1.0)
    safe_p = lax.select(lax.bitwise_or(never, sure), lax.full_like(p, 0.5), p)
    trials = lax.add(lax.floor(lax.div(lax.log(u), lax.log1p(lax.neg(safe_p)))), 1.0)
    trials = lax.select(sure, lax.full_like(trials, 1.0), trials)
    fits = lax.bitwise_and(lax.bitwise_not(never), lax.lt(trials, float(2 ** 62)))
    count = lax.convert_element_type(lax.select(fits, trials, lax.full_like(trials, 0.0)),
                                     dtype)
    return lax.select(fits, count, lax.full_like(count, np.iinfo(dtype).max))


def multinomial(key, n, p, *, shape=None, dtype=None, unroll=1):
    """Counts of `n` draws over the categories of the last axis of `p` (float `dtype`).
    `shape` is the whole result shape (ending with p's last axis; default p.shape) and `n`
    broadcasts to it without its last axis. One binomial per category, conditioned on the
    draws left (a scan over the categories; `unroll` is accepted for JAX's signature and
    does not change the numbers)."""
    check_key("multinomial", key)
    if not isinstance(unroll, (bool, int, np.integer)):
        raise TypeError(f"ft.random.multinomial: unroll must be an int or bool, got "
                        f"{unroll!r}")
    ftype = result_dtype("multinomial", None, n, p)
    n = lax.convert_element_type(asarray_like(n, key), ftype)
    p = lax.convert_element_type(asarray_like(p, key), ftype)
    if not shape_of(p):
        raise ValueError("ft.random.multinomial: p must have at least one axis (the "
                         "categories), got a scalar")
    shape = shape_of(p) if shape is None else params_shape("multinomial", shape, ("p", p))
    if shape_of(p)[-1:] != shape[-1:]:
        raise ValueError(f"ft.random.multinomial: shape {shape} must end with p's number of "
                         f"categories {shape_of(p)[-1]}")
    n = lax.broadcast_to(n, params_shape("multinomial", shape[:-1], ("n", n)))
    p = lax.moveaxis(lax.broadcast_to(p, shape), -1, 0)
    left = lax.cumsum(p, 0, reverse=True)
    ratios = lax.div(p, lax.select(lax.eq(left, 0.0), lax.full_like(left, 1.0), left))
    ratios = lax.min(lax.max(ratios, lax.full_like(ratios, 0.0)), lax.full_like(ratios, 1.0))

    def one_category(remaining, ratio_key):
        ratio, k = ratio_key
        count = binomial(k, remaining, ratio)
        return lax.sub(remaining, count), count
    _, counts = lax.scan(one_category, n, (ratios, split(key, shape[-1])))
    return lax.convert_element_type(lax.moveaxis(counts, 0, -1),
                                     ftype if dtype is None else np.dtype(dtype))


# ------------------------------------------------------------------ key data
def key_data(keys):
    """The raw uint32 words of `keys`: functrans keys are already raw (..., 2) arrays, so
    this returns them unchanged (JAX's typed keys unwrap to the same data)."""
    keys = asarray(keys)
    if dtype_of(keys) != np.uint32 or shape_of(keys)[-1:] != (2,):
        raise TypeError(f"ft.random.key_data needs keys (uint32 arrays of shape (..., 2)), "
                        f"got {dtype_of(keys)}{list(shape_of(keys))}")
    return keys


def wrap_key_data(key_bits_array, *, impl=None, dtype=None):
    """Keys from raw uint32 words of shape (..., 2) (the inverse of `key_data`); `impl` may
    only name the one generator, "threefry2x32" (`dtype`, its key dtype, uint32)."""
    check_impl("wrap_key_data", impl, dtype)
    bits = asarray(key_bits_array)
    if dtype_of(bits) != np.uint32 or shape_of(bits)[-1:] != (2,):
        raise TypeError(f"ft.random.wrap_key_data needs uint32 data of shape (..., 2), got "
                        f"{dtype_of(bits)}{list(shape_of(bits))}")
    return bits


def clone(key):
    """The same key (arrays are immutable, so this is the identity, as in JAX without
    key reuse checking)."""
    return key


def key_impl(keys):
    """The name of the generator behind `keys`: always "threefry2x32"."""
    key_data(keys)
    return "threefry2x32"


def key_dtype(impl_spec=None):
    """The dtype of a key's array: uint32, functrans keys being raw words (JAX's typed keys
    have a key dtype of their own); `impl_spec` may only name "threefry2x32"."""
    check_impl("key_dtype", impl_spec)
    return np.dtype(np.uint32)
