"""Counter-based random bits: the Threefry-2x32 and Philox-4x32 kernels, and XLA's
`rng_bit_generator` built on them; `rng_uniform`, XLA's stateful generator.

`rng_bit_generator(key, shape, dtype, algorithm)` takes a key of four uint32 words: words 0-1
are the cipher key, words 2-3 a 64-bit counter (low word first). Each block of the cipher
hashes the next counter value (Threefry: the counter as its two input words; Philox: the
counter as the low half of a 128-bit counter whose high half is the key). The new key is the
old one with its counter moved past the blocks used. A narrow type (8 to 32 bits) takes the low
bits of one output word: Philox's words in block order, Threefry's laid out as two halves of
the shape side by side (`_threefry_halves`); a uint64 takes two words (low first): Threefry's
one block, Philox's consecutive words. These are XLA's layouts, so the bits equal JAX's on
the CPU (whose default algorithm is Philox).
"""
from __future__ import annotations

import enum
import math

import numpy as np

from ..core import ShapedArray, get_aval
from ._util import (primitive, def_nondiff, elementwise_aval, moveaxis_to_front, shape_of,
                    dtype_of)
from .elementwise import convert_element_type
from .shape_ops import reshape
from .transfer import place

_U32, _U64 = np.dtype(np.uint32), np.dtype(np.uint64)
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = 0x1BD11BDA
_PHILOX_MUL = (0xD2511F53, 0xCD9E8D57)
_PHILOX_WEYL = (0x9E3779B9, 0xBB67AE85)


def threefry2x32_rounds(xp, k0, k1, x0, x1):
    """Threefry-2x32 (20 rounds) of the uint32 words `x0`, `x1` (fresh arrays of one shape,
    overwritten) under the key words `k0`, `k1` (broadcasting against them)."""
    ks = (k0, k1, k0 ^ k1 ^ _U32.type(_PARITY))
    xp.add(x0, k0, out=x0)
    xp.add(x1, k1, out=x1)
    tmp = xp.empty_like(x1)
    for group in range(5):
        for r in _ROTATIONS[group % 2]:
            xp.add(x0, x1, out=x0)
            xp.left_shift(x1, _U32.type(r), out=tmp)
            xp.right_shift(x1, _U32.type(32 - r), out=x1)
            xp.bitwise_or(x1, tmp, out=x1)
            xp.bitwise_xor(x1, x0, out=x1)
        xp.add(x0, ks[(group + 1) % 3], out=x0)
        xp.add(x1, ks[(group + 2) % 3], out=x1)
        xp.add(x1, _U32.type(group + 1), out=x1)
    return x0, x1


def _mulhilo(xp, a, x):
    product = x.astype(_U64) * _U64.type(a)
    return (product >> _U64.type(32)).astype(_U32), product.astype(_U32)


def philox4x32_rounds(xp, k0, k1, c):
    """Philox-4x32 (10 rounds) of the four uint32 counter words `c` under the key words."""
    for _ in range(10):
        hi0, lo0 = _mulhilo(xp, _PHILOX_MUL[0], c[0])
        hi1, lo1 = _mulhilo(xp, _PHILOX_MUL[1], c[2])
        c = [hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0]
        k0 = k0 + _U32.type(_PHILOX_WEYL[0])
        k1 = k1 + _U32.type(_PHILOX_WEYL[1])
    return c


class RandomAlgorithm(enum.IntEnum):
    """The bit generator of `rng_bit_generator` (JAX's names and values); the default is
    Philox, as XLA's on CPUs and GPUs."""
    RNG_DEFAULT = 0
    RNG_THREE_FRY = 1
    RNG_PHILOX = 2


def _words64(xp, lo, hi):
    return lo.astype(_U64) | (hi.astype(_U64) << _U64.type(32))


def _split64(xp, v):
    return v.astype(_U32), (v >> _U64.type(32)).astype(_U32)


def _threefry_halves(shape):
    """XLA's layout of 32-bit Threefry draws: the axis split in two halves (the first of even
    size, else the first longest) and the shape of each half, one block per element."""
    shape = shape or (1,)
    even = [i for i, d in enumerate(shape) if d % 2 == 0]
    axis = even[0] if even else shape.index(max(shape))
    return axis, shape[:axis] + (-(-shape[axis] // 2),) + shape[axis + 1:]


def _bit_generator_impl(xp, key, shape, dtype, algorithm):
    dtype = np.dtype(dtype)
    batch, shape = key.shape[:-1], tuple(shape)
    wide = dtype.itemsize == 8
    threefry = algorithm == RandomAlgorithm.RNG_THREE_FRY
    if threefry:
        axis, half = _threefry_halves(shape)
        blocks = math.prod(shape) if wide else math.prod(half)
    else:
        blocks = -(-math.prod(shape) * (2 if wide else 1) // 4)
    k0, k1 = key[..., 0, None], key[..., 1, None]
    start = _words64(xp, key[..., 2], key[..., 3])
    with np.errstate(over="ignore"):
        counter = start[..., None] + xp.arange(blocks, dtype=_U64)     # (wraps, as XLA's)
        lo, hi = _split64(xp, counter)
        if threefry:
            y0, y1 = threefry2x32_rounds(xp, k0, k1, lo.copy(), hi.copy())
            if wide:
                bits = _words64(xp, y0, y1)
            else:                    # the halves side by side along `axis`, cut to its size
                at = len(batch) + axis
                pair = xp.stack([y0.reshape(batch + half), y1.reshape(batch + half)], at + 1)
                pair = pair.reshape(batch + half[:axis] + (2 * half[axis],) + half[axis + 1:])
                bits = xp.take(pair, xp.arange((shape or (1,))[axis]), axis=at)
        else:                                          # the key is the counter's high half
            high = _words64(xp, k0, k1) + (counter < start[..., None]).astype(_U64)
            words = philox4x32_rounds(xp, k0, k1, [lo, hi, *_split64(xp, high)])
            stream = xp.stack(words, axis=-1).reshape(batch + (4 * blocks,))
            n = math.prod(shape)
            bits = _words64(xp, stream[..., 0:2 * n:2], stream[..., 1:2 * n:2]) if wide else \
                stream[..., :n]
        new_lo, new_hi = _split64(xp, start + _U64.type(blocks))
    new_key = xp.concatenate([key[..., :2], new_lo[..., None], new_hi[..., None]], axis=-1)
    return [new_key, bits.astype(dtype).reshape(batch + shape)]


def _bit_generator_aval(key, shape, dtype, algorithm):
    if key.dtype != _U32 or key.shape[-1:] != (4,):
        raise TypeError(f"rng_bit_generator needs a key of four uint32 words, shape (4,), got "
                        f"{key.str_short()}")
    return [ShapedArray(key.shape, _U32), ShapedArray(key.shape[:-1] + tuple(shape), dtype)]


rng_bit_generator_p = primitive("rng_bit_generator", _bit_generator_impl, _bit_generator_aval,
                                multiple_results=True)
def_nondiff(rng_bit_generator_p)


def _bit_generator_batch(vals, dims, **params):
    key, = vals
    return rng_bit_generator_p.bind(moveaxis_to_front(key, dims[0]), **params), [0, 0]


rng_bit_generator_p.batch = _bit_generator_batch


def rng_bit_generator(key, shape, dtype=np.uint32, algorithm=RandomAlgorithm.RNG_DEFAULT, *,
                      out_sharding=None):
    """`(new_key, bits)`: uniformly random unsigned integers of `shape` and `dtype` from a
    key of four uint32 words, and the key advanced past them (see the module docstring).
    `algorithm` is a `RandomAlgorithm` (its default is Philox); JAX's `out_sharding` may name
    the one device the bits go to."""
    if out_sharding is not None:
        new_key, bits = rng_bit_generator(key, shape, dtype, algorithm)
        return new_key, place(bits, out_sharding, "rng_bit_generator")
    dtype = np.dtype(dtype)
    if dtype.kind != "u":
        raise TypeError(f"rng_bit_generator: unsupported dtype {dtype}; it draws unsigned "
                        "integers (uint8, uint16, uint32, uint64): bitcast or convert them")
    algorithm = RandomAlgorithm(algorithm)
    if algorithm == RandomAlgorithm.RNG_DEFAULT:
        algorithm = RandomAlgorithm.RNG_PHILOX
    shape = tuple(int(d) for d in shape)
    if shape_of(key) != (4,) or dtype_of(key) != _U32:
        raise TypeError(f"rng_bit_generator needs a key of four uint32 words, shape (4,), got "
                        f"{dtype_of(key)}{list(shape_of(key))}; map over several keys with "
                        "ft.vmap")
    return tuple(rng_bit_generator_p.bind(key, shape=shape, dtype=dtype,
                                          algorithm=int(algorithm)))


# ------------------------------------------------------------------ rng_uniform (stateful)
_host_generator = np.random.default_rng()


def _uniform_impl(xp, a, b, shape):
    a, b = np.asarray(a), np.asarray(b)      # (scalars, or a batch of them under vmap)
    dtype = a.dtype
    if dtype.kind in "iu":
        out = _host_generator.integers(a, b, size=shape, dtype=dtype)
    else:
        u = _host_generator.random(shape, dtype=np.float64)
        out = (a + (b - a) * u).astype(dtype)
        out = np.where(out < b, out, np.nextafter(b, a).astype(dtype))    # [a, b), as XLA's
    return xp.asarray(out.astype(dtype, copy=False))


def _uniform_aval(a, b, shape):
    aval = elementwise_aval("rng_uniform", a, b)
    if aval.dtype.kind not in "iuf":
        raise TypeError(f"rng_uniform draws integers or real floats, got {aval.dtype}")
    return ShapedArray(tuple(shape), aval.dtype)


rng_uniform_p = primitive("rng_uniform", _uniform_impl, _uniform_aval, effectful=True)


def _uniform_not_differentiable(*args, **params):
    raise NotImplementedError("rng_uniform is not differentiable (nor is JAX's); draw with "
                              "ft.random.uniform and scale the result, which is")


def _uniform_batch(vals, dims, shape):
    size = next(shape_of(v)[d] for v, d in zip(vals, dims) if d is not None)
    ranks = (1,) * len(shape)
    a, b = (v if d is None else reshape(moveaxis_to_front(v, d), (size,) + ranks)
            for v, d in zip(vals, dims))
    return rng_uniform_p.bind(a, b, shape=(size,) + tuple(shape)), 0


rng_uniform_p.jvp = rng_uniform_p.vjp = _uniform_not_differentiable
rng_uniform_p.batch = _uniform_batch


def rng_uniform(a, b, shape):
    """Uniform random numbers in [a, b) of `shape`, in the dtype of the scalars `a` and `b`
    (integer or real float) from a generator held by the process: each call, and each run
    of a jitted function, draws new numbers. Prefer `ft.random`, whose keys make draws
    reproducible."""
    if shape_of(a) != () or shape_of(b) != ():
        raise TypeError(f"Arguments to rng_uniform must be scalars; got shapes "
                        f"{shape_of(a)} and {shape_of(b)}")
    dtype = _uniform_aval(get_aval(a), get_aval(b), ()).dtype
    a, b = convert_element_type(a, dtype), convert_element_type(b, dtype)
    return rng_uniform_p.bind(a, b, shape=tuple(int(d) for d in shape))


__all__ = ["RandomAlgorithm", "rng_bit_generator", "rng_uniform", "threefry2x32_rounds",
           "philox4x32_rounds"]
