"""Keys, the generator and the basic samplers of `ft.random`.

The generator is Threefry-2x32 (20 rounds) over 64-bit counters, the same construction and
counter layout as JAX's default ("partitionable") threefry, so `key`, `split`, `fold_in`,
`bits` and `uniform` give bit-for-bit the numbers JAX gives; samplers built on special
functions (`normal`, `truncated_normal`) agree to the last few ulps, except far in
`truncated_normal`'s tails, where erf_inv magnifies a one-ulp difference of erf (between 5
and 6 standard deviations, draws differ in the fourth digit). The hash is one primitive,
`threefry2x32`, whose kernel is written once with `xp` uint32 arithmetic (wrapping add,
rotate, xor; `primitives.rng`, shared with `lax.rng_bit_generator`), hence the same bits on
every backend.
"""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes, lax
from ..core import ShapedArray, get_aval, device_like
from ..primitives.transfer import takes_out_sharding
from ..primitives._util import primitive, def_nondiff, shape_of, dtype_of, moveaxis_to_front, \
    as_shape
from ..numpy._conversion import as_floating, asarray, asarray_like
from ..primitives.rng import threefry2x32_rounds

__all__ = ["key", "PRNGKey", "split", "fold_in", "bits", "uniform", "normal",
           "truncated_normal", "randint", "bernoulli", "categorical", "gumbel", "permutation",
           "choice"]

_U32 = np.dtype(np.uint32)


# ------------------------------------------------------------------ the hash primitive
def _threefry_impl(xp, key, offset, shape):
    """Threefry-2x32 of the counters `offset + arange(prod(shape))` (high words 0) under each
    key in `key` (..., 2); returns the two output words, each of shape batch + shape."""
    extra = (Ellipsis,) + (None,) * len(shape)
    k0, k1 = key[..., 0][extra], key[..., 1][extra]
    counts = xp.arange(math.prod(shape), dtype=_U32).reshape(shape)
    x1 = xp.asarray(offset, dtype=_U32)[extra] + counts
    x0, x1 = xp.broadcast_arrays(xp.zeros(x1.shape, _U32), x1, k0, k1)[:2]
    return list(threefry2x32_rounds(xp, k0, k1, x0.copy(), x1.copy()))


def _threefry_aval(key, offset, shape):
    if key.dtype != _U32 or offset.dtype != _U32 or not key.shape or key.shape[-1] != 2:
        raise TypeError(f"threefry2x32 needs uint32 keys of shape (..., 2) and uint32 "
                        f"offsets, got {key.str_short()} and {offset.str_short()}")
    batch = np.broadcast_shapes(key.shape[:-1], offset.shape)
    out = ShapedArray(tuple(batch) + tuple(shape), _U32)
    return [out, out]


threefry2x32_p = primitive("threefry2x32", _threefry_impl, _threefry_aval,
                           multiple_results=True)
def_nondiff(threefry2x32_p)


def _threefry_batch(vals, dims, shape):
    """Mapped axes go in front; the other leading axes of key and offset are aligned so that
    they broadcast as the primitive's unbatched form does."""
    key, offset = vals
    dk, do = dims
    if dk is not None:
        key = moveaxis_to_front(key, dk)
        size = shape_of(key)[0]
    if do is not None:
        offset = moveaxis_to_front(offset, do)
        size = shape_of(offset)[0]
    key_batch = list(shape_of(key)[int(dk is not None):-1])
    offset_batch = list(shape_of(offset)[int(do is not None):])
    rank = max(len(key_batch), len(offset_batch))

    def aligned(x, inner, mapped, tail):
        lead = (size,) if mapped else (1,)
        return lax.reshape(x, lead + (1,) * (rank - len(inner)) + tuple(inner) + tail)
    key = aligned(key, key_batch, dk is not None, (2,))
    offset = aligned(offset, offset_batch, do is not None, ())
    return threefry2x32_p.bind(key, offset, shape=shape), [0, 0]


threefry2x32_p.batch = _threefry_batch


def _hash(key, shape, offset=None):
    """The two threefry words for the counters of `shape` (starting at `offset`)."""
    shape = tuple(int(d) for d in shape)
    if math.prod(shape) >= 2 ** 32:
        raise ValueError(f"ft.random: {math.prod(shape)} numbers from one key exceeds the "
                         "2**32 counter range; split the key and draw in pieces")
    if offset is None:                        # a zero counter where the key lives
        offset = lax.full_like(key, 0, dtype=_U32, shape=())
    return threefry2x32_p.bind(key, offset, shape=shape)


# ------------------------------------------------------------------ keys
def check_impl(fn, impl, dtype=None):
    """The error for a generator (`impl`) or key dtype other than functrans's one."""
    if impl is not None and dtype is not None:
        raise ValueError(f"ft.random.{fn}: give impl or dtype, not both")
    if impl not in (None, "threefry2x32"):
        raise ValueError(f"ft.random.{fn}: functrans has one generator, 'threefry2x32'; got "
                         f"impl={impl!r}")
    if dtype is not None and np.dtype(dtype) != _U32:
        raise ValueError(f"ft.random.{fn}: functrans keys are uint32 words (key_dtype()); got "
                         f"dtype={dtype!r}")


def key(seed, *, impl=None, dtype=None):
    """A key from an integer seed: the seed's two 32-bit words (high, low), as JAX's
    threefry key. `seed` may be a Python int, a NumPy integer or an integer array (also
    traced, e.g. under vmap); `impl` may only name "threefry2x32" (`dtype`: uint32)."""
    check_impl("key", impl, dtype)
    if isinstance(seed, (bool, np.bool_, float, np.floating)):
        raise TypeError(f"ft.random.key needs an integer seed, got {seed!r}")
    if isinstance(seed, (int, np.integer)):
        s = int(seed)
        if not -2 ** 63 <= s < 2 ** 64:
            raise ValueError(f"ft.random.key: seed {s} does not fit in 64 bits")
        s %= 2 ** 64
        return asarray(np.array([s >> 32, s & 0xFFFFFFFF], dtype=_U32))
    seed = asarray(seed)
    if shape_of(seed) != () or not dtypes.is_integer(dtype_of(seed)):
        raise TypeError(f"ft.random.key needs a scalar integer seed, got "
                        f"{get_aval(seed).str_short()}; for many keys use ft.vmap(ft.random.key)"
                        " or ft.random.split")
    wide = lax.convert_element_type(seed, np.int64)
    hi = lax.convert_element_type(lax.shift_right(wide, 32), _U32)
    lo = lax.convert_element_type(wide, _U32)
    return lax.concatenate([lax.reshape(hi, (1,)), lax.reshape(lo, (1,))], 0)


PRNGKey = key


def check_key(fn, k):
    try:
        aval = get_aval(k)
    except TypeError:
        aval = None
    if aval is None or aval.shape != (2,) or aval.dtype != _U32:
        got = aval.str_short() if aval is not None else type(k).__name__
        hint = (" For a batch of keys, map over them with ft.vmap." if aval is not None and
                aval.shape[-1:] == (2,) and aval.dtype == _U32 else
                " Make one with ft.random.key(seed) and derive more with ft.random.split.")
        raise TypeError(f"ft.random.{fn} needs a key (a uint32 array of shape (2,)), got "
                        f"{got}.{hint}")
    return k


def shape_arg(fn, shape):
    dims = as_shape(shape, f"ft.random.{fn}: shape")
    if any(d < 0 for d in dims):
        raise ValueError(f"ft.random.{fn}: shape {dims} has a negative size")
    return dims


def split(key, num=2):
    """`num` new keys (or an array of keys of shape `num` + (2,) if `num` is a tuple)."""
    check_key("split", key)
    shape = shape_arg("split", num)
    b1, b2 = _hash(key, shape)
    return lax.concatenate([lax.expand_dims(b1, (-1,)), lax.expand_dims(b2, (-1,))],
                           len(shape))


def fold_in(key, data):
    """A new key from `key` and an integer (e.g. a step number), without splitting; a float
    or bool is converted to uint32 first, as JAX does."""
    check_key("fold_in", key)
    data = asarray_like(data, key)
    if shape_of(data) != () or dtype_of(data).kind not in "biuf":
        raise TypeError(f"ft.random.fold_in needs a scalar integer, got "
                        f"{get_aval(data).str_short()}; map over several with ft.vmap")
    if dtype_of(data).kind == "f":           # truncated and saturated to uint32, as JAX's
        data = lax.clamp(0.0, lax.convert_element_type(data, np.float64), float(2 ** 32 - 1))
    b1, b2 = _hash(key, (), lax.convert_element_type(data, _U32))
    return lax.concatenate([lax.reshape(b1, (1,)), lax.reshape(b2, (1,))], 0)


# ------------------------------------------------------------------ raw bits
_UINT = {8: np.dtype(np.uint8), 16: np.dtype(np.uint16), 32: _U32,
         64: np.dtype(np.uint64)}


def random_bits(key, nbits, shape):
    b1, b2 = _hash(key, shape)
    if nbits == 64:
        u64 = _UINT[64]
        hi = lax.convert_element_type(b1, u64)
        return lax.bitwise_or(lax.shift_left(hi, 32), lax.convert_element_type(b2, u64))
    bits = lax.bitwise_xor(b1, b2)
    return bits if nbits == 32 else lax.convert_element_type(bits, _UINT[nbits])


@takes_out_sharding
def bits(key, shape=(), dtype=None):
    """Uniformly random unsigned integers of `dtype` (default uint32)."""
    check_key("bits", key)
    dtype = _U32 if dtype is None else np.dtype(dtype)
    if dtype.kind != "u":
        raise TypeError(f"ft.random.bits needs an unsigned integer dtype, got {dtype}")
    return random_bits(key, dtype.itemsize * 8, shape_arg("bits", shape))


# ------------------------------------------------------------------ continuous samplers
def float_dtype(fn, dtype):
    dtype = dtypes.default_float_dtype() if dtype is None else np.dtype(dtype)
    if dtypes.kind_char(dtype) != "f" or dtype.itemsize not in (2, 4, 8):
        raise TypeError(f"ft.random.{fn} needs a float16/32/64 or bfloat16 dtype, got {dtype}")
    return dtype


def _unit_floats(key, shape, dtype):
    """Uniform floats in [0, 1): the top mantissa-many random bits times 2**-nmant (the same
    values JAX gets by setting the mantissa bits of 1.0 and subtracting 1)."""
    info = np.finfo(dtype)
    nbits = dtype.itemsize * 8 if info.nmant >= 8 else 8    # bfloat16: 8 bits, as JAX's
    mantissa = lax.shift_right(random_bits(key, nbits, shape), nbits - info.nmant)
    return lax.mul(lax.convert_element_type(mantissa, dtype), float(2.0 ** -info.nmant))


def broadcasts_to(s, shape):
    """Whether shape `s` broadcasts to `shape` (without growing it)."""
    try:
        return np.broadcast_shapes(s, shape) == tuple(shape)
    except ValueError:
        return False


def param_as(x, dtype, shape, fn, name, key):
    """`x` as `dtype` (Python numbers converted exactly, placed where `key` lives), checked
    to broadcast to `shape`."""
    x = asarray_like(x, key, dtype)
    s = shape_of(x)
    if not broadcasts_to(s, shape):
        raise ValueError(f"ft.random.{fn}: {name} of shape {s} does not broadcast to the "
                         f"requested shape {tuple(shape)}")
    return x


@takes_out_sharding
def uniform(key, shape=(), dtype=None, minval=0.0, maxval=1.0):
    """Uniform floats in [minval, maxval)."""
    check_key("uniform", key)
    dtype = float_dtype("uniform", dtype)
    shape = shape_arg("uniform", shape)
    lo = param_as(minval, dtype, shape, "uniform", "minval", key)
    hi = param_as(maxval, dtype, shape, "uniform", "maxval", key)
    u = _unit_floats(key, shape, dtype)
    return lax.max(lo, lax.add(lax.mul(u, lax.sub(hi, lo)), lo))


@takes_out_sharding
def normal(key, shape=(), dtype=None):
    """Standard normal floats (inverse-erf transform of uniforms on (-1, 1)); for a complex
    dtype, real and imaginary parts each of variance 1/2 from the two halves of the key, as
    JAX draws them."""
    check_key("normal", key)
    if dtype is not None and np.dtype(dtype).kind == "c":
        part = np.dtype(np.finfo(np.dtype(dtype)).dtype)
        k_real, k_imag = _two_halves(split(key))
        return lax.mul(lax.complex(normal(k_real, shape, part), normal(k_imag, shape, part)),
                       float(np.sqrt(0.5)))
    dtype = float_dtype("normal", dtype)
    shape = shape_arg("normal", shape)
    lowest = float(np.nextafter(np.array(-1.0, dtype), np.array(0.0, dtype)))
    u = uniform(key, shape, dtype, lowest, 1.0)
    return lax.mul(lax.erf_inv(u), float(np.sqrt(2.0)))


@takes_out_sharding
def truncated_normal(key, lower, upper, shape=None, dtype=None):
    """Standard normal floats conditioned on lying in (lower, upper)."""
    check_key("truncated_normal", key)
    dtype = float_dtype("truncated_normal", dtype)
    lower, upper = asarray_like(lower, key, dtype), asarray_like(upper, key, dtype)
    if shape is None:
        shape = np.broadcast_shapes(shape_of(lower), shape_of(upper))
    shape = shape_arg("truncated_normal", shape)
    root2 = float(np.sqrt(2.0))
    a = lax.erf(lax.div(lower, root2))
    b = lax.erf(lax.div(upper, root2))
    out = lax.mul(lax.erf_inv(uniform(key, shape, dtype, a, b)), root2)
    lo = lax.nextafter(lax.stop_gradient(lower), lax.full_like(lower, np.inf))
    hi = lax.nextafter(lax.stop_gradient(upper), lax.full_like(upper, -np.inf))
    return lax.min(lax.max(out, lo), hi)


def _two_halves(x):
    """`x[0]` and `x[1]` of an array with a leading axis of 2."""
    return lax.index_in_dim(x, 0, 0, False), lax.index_in_dim(x, 1, 0, False)


@takes_out_sharding
def gumbel(key, shape=(), dtype=None, mode=None):
    """Standard Gumbel floats. `mode` is JAX's: "low" (the default) maps one uniform per
    value (largest float32 value about 16); "high" adds a second uniform's bits below the
    first's where it is under 1/2 (about 32, at twice the cost); "highest" draws float32
    values from 64 random bits (as "high" for other dtypes)."""
    check_key("gumbel", key)
    dtype = float_dtype("gumbel", dtype)
    shape = shape_arg("gumbel", shape)
    if mode not in (None, "low", "high", "highest"):
        raise ValueError(f"ft.random.gumbel: mode must be 'low', 'high' or 'highest', got "
                         f"{mode!r}")
    if mode == "highest" and dtype == np.float32:
        return _gumbel_highest(key, shape)
    if mode in ("high", "highest"):
        info = np.finfo(dtype)
        high, low = _two_halves(uniform(key, (2,) + shape, dtype))
        fine = lax.add(lax.add(high, lax.mul(low, float(2.0 ** -info.nmant))), float(info.tiny))
        u = lax.select(lax.ge(high, 0.5), high, fine)
        return lax.neg(lax.log(lax.neg(lax.log1p(lax.neg(u)))))
    u = uniform(key, shape, dtype, float(np.finfo(dtype).tiny), 1.0)
    return lax.neg(lax.log(lax.neg(lax.log(u))))


def _fixed_point_to_float32(high, low):
    """The float32 nearest below the 64-bit fraction `high:low` (in (0, 1)), keeping the
    precision of its leading bits however small it is."""
    info = np.finfo(np.float32)
    high_zeros, low_zeros = lax.clz(high), lax.clz(low)
    all_low = lax.eq(high_zeros, lax.full_like(high_zeros, 32))
    lead = lax.bitwise_or(lax.shift_left(high, high_zeros), lax.select(
        all_low, lax.shift_left(low, low_zeros),
        lax.shift_right(low, lax.sub(lax.full_like(high_zeros, 32), high_zeros))))
    mantissa = lax.bitwise_and(lax.shift_right(lead, lax.full_like(lead, 32 - info.nmant - 1)),
                               lax.full_like(lead, (1 << info.nmant) - 1))
    zeros = lax.select(all_low, lax.add(low_zeros, lax.full_like(low_zeros, 32)), high_zeros)
    exponent = lax.shift_left(lax.sub(lax.full_like(zeros, -info.minexp), zeros),
                              lax.full_like(zeros, info.nmant))
    return lax.bitcast_convert_type(lax.bitwise_or(exponent, mantissa), np.float32)


def _gumbel_highest(key, shape):
    """Float32 Gumbel values from 64-bit uniforms u: -log(-log1p(-u)) for u below 1/2, else
    -log(-log(v)) with v = 1 - u, formed exactly in 64 bits."""
    high, low = _two_halves(random_bits(key, 32, (2,) + shape))
    neg_high, neg_low = lax.bitwise_not(high), lax.bitwise_not(low)
    carry = lax.convert_element_type(lax.eq(neg_low, lax.full_like(neg_low, 2 ** 32 - 1)),
                                     _U32)
    neg_high, neg_low = lax.add(neg_high, carry), lax.add(neg_low, lax.full_like(neg_low, 1))
    below_half = lax.lt(high, lax.full_like(high, 2 ** 31))
    x = _fixed_point_to_float32(lax.select(below_half, high, neg_high),
                                lax.select(below_half, low, neg_low))
    return lax.select(below_half, lax.neg(lax.log(lax.neg(lax.log1p(lax.neg(x))))),
                      lax.neg(lax.log(lax.neg(lax.log(x)))))


# ------------------------------------------------------------------ discrete samplers
@takes_out_sharding
def bernoulli(key, p=0.5, shape=None, mode="low"):
    """Booleans that are True with probability `p`. `mode` is JAX's: "low" compares one
    uniform with `p`; "high" adds a second uniform below the first's resolution, for
    correct draws at tiny `p` (below about 1e-7 in float32), at twice the cost."""
    check_key("bernoulli", key)
    if mode not in ("low", "high"):
        raise ValueError(f"ft.random.bernoulli: mode must be 'low' or 'high', got {mode!r}")
    p = as_floating(p, like=key)
    shape = shape_of(p) if shape is None else shape_arg("bernoulli", shape)
    if mode == "high":
        coarse, fine = _two_halves(uniform(key, (2,) + shape, dtype_of(p)))
        fine = lax.mul(fine, float(2.0 ** -np.finfo(dtype_of(p)).nmant))
        return lax.lt(fine, lax.sub(p, coarse))
    return lax.lt(uniform(key, shape, dtype_of(p)), p)


def _int_bound(fn, v, key):
    """A bound as int64; floats are truncated (as JAX casts them)."""
    v = asarray_like(v, key)
    if dtype_of(v).kind not in "biuf":
        raise TypeError(f"ft.random.{fn} needs real bounds, got {dtype_of(v)}")
    return lax.convert_element_type(v, np.int64)


@takes_out_sharding
def randint(key, shape, minval, maxval, dtype=None):
    """Integers uniform on [minval, maxval) (default dtype int64; float bounds truncated).
    Two random words per value are reduced modulo the span, which keeps the bias negligible
    for any span. As in JAX, 8- and 16-bit integers are drawn as int32 on the bounds clipped
    to the dtype's range, then cast."""
    check_key("randint", key)
    shape = shape_arg("randint", shape)
    dtype = dtypes.default_int_dtype() if dtype is None else np.dtype(dtype)
    if dtype.kind not in "iu":
        raise TypeError(f"ft.random.randint needs an integer dtype, got {dtype}")
    info = np.iinfo(dtype)
    lo, hi = _int_bound("randint", minval, key), _int_bound("randint", maxval, key)
    if info.bits < 32:
        lo = lax.min(lax.max(lo, int(info.min)), int(info.max))
        hi = lax.min(lax.max(hi, int(info.min)), int(info.max) + 1)
        return lax.convert_element_type(_randint(key, shape, lo, hi, np.dtype(np.int32)),
                                        dtype)
    return _randint(key, shape, lo, hi, dtype)


def _randint(key, shape, lo, hi, dtype):
    """randint for 32- and 64-bit `dtype`, with int64 bounds `lo` and `hi`."""
    info = np.iinfo(dtype)
    nbits = info.bits
    udt = _UINT[nbits]
    top = min(int(info.max), 2 ** 63 - 1)
    hi_out_of_range = lax.gt(hi, top)    # e.g. maxval=2**32 for uint32: one more value
    lo = lax.convert_element_type(lax.min(lax.max(lo, int(info.min)), top), dtype)
    hi = lax.convert_element_type(lax.min(lax.max(hi, int(info.min)), top), dtype)
    k1, k2 = split(key)
    higher, lower = random_bits(k1, nbits, shape), random_bits(k2, nbits, shape)
    span = lax.convert_element_type(lax.sub(hi, lo), udt)
    one = lax.full_like(span, 1)
    span = lax.select(lax.le(hi, lo), one, span)
    span = lax.select(lax.bitwise_and(hi_out_of_range, lax.gt(hi, lo)), lax.add(span, one),
                      span)
    # the span wraps to 0 when it is the whole range: then a remainder must leave its
    # operand alone (XLA's rule for x % 0, which JAX's algorithm relies on)
    full_range = lax.eq(span, lax.full_like(span, 0))
    safe = lax.select(full_range, one, span)

    def rem(a):
        return lax.select(full_range, a, lax.rem(a, safe))
    multiplier = rem(lax.full_like(span, 2 ** (nbits // 2)))
    multiplier = rem(lax.mul(multiplier, multiplier))
    offset = rem(lax.add(lax.mul(rem(higher), multiplier), rem(lower)))
    return lax.add(lo, lax.convert_element_type(offset, dtype))


@takes_out_sharding
def categorical(key, logits, axis=-1, shape=None, replace=True, mode=None):
    """Class indices drawn with probabilities softmax(logits) along `axis` (Gumbel-max).
    With `replace=False` the leading dimensions of `shape` (before the batch shape) hold
    distinct classes per distribution, the top ones of a single Gumbel perturbation
    (Gumbel top-k, as JAX's). `mode` is `gumbel`'s."""
    check_key("categorical", key)
    logits = as_floating(logits, like=key)
    ls = shape_of(logits)
    axis = axis % len(ls)
    batch = ls[:axis] + ls[axis + 1:]
    if shape is None:
        shape = batch
    shape = shape_arg("categorical", shape)
    if shape[len(shape) - len(batch):] != batch:
        raise ValueError(f"ft.random.categorical: shape {shape} must end with the logits' "
                         f"batch shape {batch}")
    prefix = shape[:len(shape) - len(batch)]
    if not replace:
        draws = math.prod(prefix)
        if draws > ls[axis]:
            raise ValueError(f"ft.random.categorical: cannot take {draws} samples without "
                             f"replacement from {ls[axis]} categories")
        scores = lax.add(logits, gumbel(key, ls, dtype_of(logits), mode))
        top = lax.moveaxis(lax.top_k(scores, draws, axis=axis)[1], axis, 0)
        return lax.convert_element_type(lax.reshape(top, shape), dtypes.default_int_dtype())
    sample_shape = prefix + ls
    noise = gumbel(key, sample_shape, dtype_of(logits), mode)
    scores = lax.add(noise, lax.broadcast_to(logits, sample_shape))
    return lax.argmax(scores, len(prefix) + axis)


# ------------------------------------------------------------------ permutations
def _shuffle(key, x, axis):
    """Sort `x` along `axis` by fresh random 32-bit keys, in enough rounds that all sort keys
    are distinct with high probability (JAX's construction; stable sorts keep it unbiased)."""
    size = math.prod(shape_of(x))
    rounds = math.ceil(3 * math.log(max(1, size)) / math.log(2 ** 32 - 1))
    for _ in range(rounds):
        key, sub = split(key)
        _, x = lax.sort_multiple((random_bits(sub, 32, shape_of(x)), x), axis)
    return x


@takes_out_sharding
def permutation(key, x, axis=0, independent=False):
    """A random permutation of `x` along `axis` (of `arange(x)` for an integer or a 0-d
    integer array). With `independent`, each slice along the other axes is shuffled
    separately."""
    from .. import numpy as fnp
    check_key("permutation", key)
    if not isinstance(x, (int, np.integer)):
        x = asarray_like(x, key)
        if not shape_of(x):
            if dtype_of(x).kind not in "iu":
                raise TypeError("ft.random.permutation needs an integer or an array with an "
                                f"axis, got a scalar array of {dtype_of(x)}")
            x = int(x)                         # a concrete 0-d integer array is an int
    if isinstance(x, (int, np.integer)):
        return _shuffle(key, fnp.arange(int(x), device=device_like(key)), 0)
    axis = axis % len(shape_of(x))
    if independent or len(shape_of(x)) == 1:
        return _shuffle(key, x, axis)
    order = _shuffle(key, fnp.arange(shape_of(x)[axis], device=device_like(key)), 0)
    return fnp.take(x, order, axis=axis)


def choice(key, a, shape=(), replace=True, p=None, axis=0, mode=None):
    """Samples from `a` (an array, along `axis`, or `arange(a)` for a scalar), with or
    without replacement, uniformly or with probabilities `p`. `mode` is `gumbel`'s, used
    (as in JAX) when `p` is given and `replace` is False."""
    from .. import numpy as fnp
    check_key("choice", key)
    shape = shape_arg("choice", shape)
    arr = asarray_like(a, key)
    scalar = not shape_of(arr)
    if scalar:
        n = int(arr)                 # a concrete scalar (also a float or 0-d array), as JAX
    else:
        axis = axis % len(shape_of(arr))
        n = shape_of(arr)[axis]
    draws = math.prod(shape)
    if n <= 0 and draws:
        raise ValueError("ft.random.choice: a must be positive (or a non-empty array)")
    if not replace and draws > n:
        raise ValueError(f"ft.random.choice: cannot take {draws} samples from {n} without "
                         "replacement")
    if p is None:
        index = randint(key, shape, 0, n) if replace else \
            lax.reshape(lax.slice_in_dim(permutation(key, n), 0, draws), shape)
    else:
        p = as_floating(p, like=key)
        if shape_of(p) != (n,):
            raise ValueError(f"ft.random.choice: p must have shape ({n},), got {shape_of(p)}")
        if replace:
            cumulative = lax.cumsum(p, 0)
            total = lax.slice_in_dim(cumulative, n - 1, n)
            u = lax.sub(1.0, uniform(key, shape, dtype_of(p)))
            index = lax.searchsorted(cumulative, lax.mul(u, lax.reshape(total, ())))
        else:                                     # Gumbel top-k; p == 0 is never picked
            possible = lax.gt(p, 0.0)
            log_p = lax.log(lax.select(possible, p, lax.full_like(p, 1.0)))
            scores = lax.select(possible, lax.add(gumbel(key, (n,), dtype_of(p), mode), log_p),
                                lax.full_like(p, -np.inf))
            order = lax.argsort(lax.neg(scores), 0)
            index = lax.reshape(lax.slice_in_dim(order, 0, draws), shape)
    if scalar:
        return index
    return fnp.take(arr, index, axis=axis)
