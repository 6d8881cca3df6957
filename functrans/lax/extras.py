"""More of `jax.lax` built on the primitives: integer bit operations (`clz`, `mulhi`), `empty`,
`broadcast_like`, `fft` under JAX's `FftType`, `platform_dependent`, tokens (`create_token`,
`after_all`), `composite`, `with_sharding_constraint` (one device: checked, then the value
itself) and `DotDimensionNumbers`."""
from __future__ import annotations

import enum
import functools
from collections.abc import Sequence

import numpy as np

from ..array import SingleDeviceSharding
from ..backends import default_device_now
from ..core import get_aval, operand_device
from ..higher_order.control_flow import switch
from ..meshes import out_sharding_device
from ..primitives._util import as_shape, dtype_of, elementwise_aval, shape_of
from ..primitives.elementwise import (add, bitwise_and, convert_element_type, lt, mul, select,
                                      shift_right, sub, unary)
from ..primitives.fft import fft as _fft
from ..primitives.shape_ops import bitcast_convert_type, broadcast_to, full
from ..tree_util import register_pytree_node, tree_broadcast, tree_flatten, tree_leaves

__all__ = ["clz", "mulhi", "empty", "broadcast_like", "FftType", "fft", "platform_dependent",
           "Token", "create_token", "after_all", "composite", "with_sharding_constraint",
           "DotDimensionNumbers"]


# ------------------------------------------------------------------ integer bits
def _integer_dtype(fn, x, position=""):
    dtype = np.dtype(dtype_of(x))
    if dtype.kind not in "iu":
        raise TypeError(f"{fn} does not accept dtype {dtype}{position}: it takes integers "
                        "(signed or unsigned); convert with .astype()")
    return dtype


def _unsigned(dtype):
    return np.dtype(f"u{dtype.itemsize}")


def _as_unsigned(x, dtype):
    return x if dtype.kind == "u" else bitcast_convert_type(x, _unsigned(dtype))


def _clz_impl(xp, x):
    x = xp.asarray(x)       # (a jitted function's Python int argument: the default int)
    dtype = x.dtype
    word, width = _unsigned(dtype), 8 * dtype.itemsize
    bits = x.view(word)
    shift = 1
    while shift < width:                    # set every bit below the highest set one
        bits = bits | (bits >> word.type(shift))
        shift *= 2
    return (width - xp.bitwise_count(bits).astype(dtype)).astype(dtype, copy=False)


# a primitive, as JAX's (elementwise, not differentiable)
clz_p = unary("clz", impl=_clz_impl, float_only=False, nondiff=True)


def clz(x):
    """The number of leading zero bits of each integer (its bit width for 0), in x's dtype."""
    _integer_dtype("clz", x)
    return clz_p.bind(x)


def mulhi(x, y, /):
    """The high half of each product `x * y` of integers of one dtype (computed at twice the
    width: for 64-bit integers from their 32-bit halves), in that dtype."""
    dtype = elementwise_aval("mulhi", get_aval(x), get_aval(y)).dtype
    _integer_dtype("mulhi", np.empty(0, dtype))
    x, y = convert_element_type(x, dtype), convert_element_type(y, dtype)
    width = 8 * dtype.itemsize
    if width <= 32:
        wide = np.dtype(f"{dtype.kind}{2 * dtype.itemsize}")
        product = mul(convert_element_type(x, wide), convert_element_type(y, wide))
        return convert_element_type(shift_right(product, np.asarray(width, wide)), dtype)
    word = _unsigned(dtype)
    low, half = np.asarray(0xFFFFFFFF, word), np.asarray(32, word)
    a, b = _as_unsigned(x, dtype), _as_unsigned(y, dtype)
    a0, a1, b0, b1 = bitwise_and(a, low), shift_right(a, half), bitwise_and(b, low), \
        shift_right(b, half)
    cross0, cross1 = mul(a0, b1), mul(a1, b0)
    middle = add(add(shift_right(mul(a0, b0), half), bitwise_and(cross0, low)),
                 bitwise_and(cross1, low))
    high = add(add(add(mul(a1, b1), shift_right(cross0, half)), shift_right(cross1, half)),
               shift_right(middle, half))
    if dtype == word:
        return high
    # two's complement: x = a - 2^64 [x < 0], so x y = a b - 2^64 (b [x < 0] + a [y < 0])
    zero = np.asarray(0, word)
    high = sub(sub(high, select(lt(x, 0), b, zero)), select(lt(y, 0), a, zero))
    return bitcast_convert_type(high, dtype)


# ------------------------------------------------------------------ shapes
def empty(shape, dtype, *, out_sharding=None):
    """An array of `shape` and `dtype` whose values are not to be relied on (zeros here)."""
    return full(as_shape(shape, "empty: shape"), 0, np.dtype(dtype),
                device=out_sharding_device(out_sharding, "empty"))


def broadcast_like(arr, like_arr):
    """`arr` broadcast (NumPy's rules) to the shape of `like_arr`."""
    return broadcast_to(arr, shape_of(like_arr))


# ------------------------------------------------------------------ fft
class FftType(enum.IntEnum):
    """The transform of `fft` (JAX's names and values)."""
    FFT = 0
    IFFT = 1
    RFFT = 2
    IRFFT = 3


def fft(x, fft_type, fft_lengths):
    """The `fft_type` transform (an `FftType` or its name, any case) over the last
    `len(fft_lengths)` axes of `x`: FFT / IFFT complex to complex, RFFT real to the
    non-negative frequencies, IRFFT back to reals of the lengths `fft_lengths`."""
    if isinstance(fft_type, str):
        try:
            fft_type = FftType[fft_type.upper()]
        except KeyError:
            raise ValueError(f"Unknown FFT type '{fft_type}'; use one of "
                             f"{[t.name for t in FftType]}") from None
    elif not isinstance(fft_type, FftType):
        raise ValueError(f"Unknown FFT type value '{fft_type}'; pass an FftType or its name")
    return _fft(x, fft_type.name.lower(), fft_lengths)


# ------------------------------------------------------------------ platforms
def platform_dependent(*args, default=None, **per_platform):
    """`per_platform[p](*args)` for the platform `p` of the device the computation runs on
    (that of the first array among `args`, else the default device: "cpu", "cuda", ...), or
    `default(*args)`. As in JAX, every branch is traced (as by `switch`, so all must return
    the same structure and types) and only the chosen one runs."""
    if "gpu" in per_platform:
        raise ValueError("Use 'cuda' or 'rocm' for lax.platform_dependent (functrans's CuPy "
                         "devices are 'cuda')")
    platform = (operand_device(tree_leaves(args)) or default_device_now()).platform
    names = list(per_platform)
    branches = [per_platform[name] for name in names] + ([default] if default else [])
    if platform in per_platform:
        index = names.index(platform)
    elif default is not None:
        index = len(names)
    else:
        raise ValueError(f"platform_dependent: no branch for platform {platform!r} (branches "
                         f"for {names}); add one, or pass default=")
    return switch(index, branches, *args)


# ------------------------------------------------------------------ tokens
class Token:
    """An ordering token (JAX's). It holds no data: functrans runs operations in program
    order, so a token orders nothing; it is an empty pytree, so that it passes through jit
    and every transform."""
    __slots__ = ()

    def __repr__(self):
        return "Token()"


register_pytree_node(Token, lambda token: ((), None), lambda aux, children: Token())


def create_token(_=None):
    """A new `Token` (the argument, as JAX's, is ignored)."""
    return Token()


def after_all(*operands):
    """A `Token` standing after all of the tokens `operands`."""
    for i, t in enumerate(operands):
        if not isinstance(t, Token):
            raise TypeError(f"Arguments to after_all must be tokens; argument {i} is a "
                            f"{type(t).__name__}. Make one with lax.create_token()")
    return Token()


# ------------------------------------------------------------------ composites
def composite(decomposition, name, version=0):
    """`decomposition` as a named composite operation (JAX's, for compilers that recognize
    `name` and `version`): here calling it runs `decomposition`, which defines its meaning,
    so it composes with every transform (JAX's has no derivative rule)."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"composite: name must be a non-empty string, got {name!r}")
    if isinstance(version, bool) or not isinstance(version, (int, np.integer)) or version < 0:
        raise ValueError(f"composite: version must be a non-negative integer, got {version!r}")

    @functools.wraps(decomposition)
    def composite_op(*args, **kwargs):
        return decomposition(*args, **kwargs)
    return composite_op


# ------------------------------------------------------------------ sharding
def with_sharding_constraint(x, shardings):
    """`x` itself, once `shardings` (one sharding, or a pytree of them that is a prefix of
    `x`'s) is checked: functrans holds an array whole on one device, so the only layout is a
    `SingleDeviceSharding` (an array's `.sharding`) of the device each array is on."""
    def is_leaf(s):
        return s is None or isinstance(s, SingleDeviceSharding)
    for s in tree_leaves(shardings, is_leaf=is_leaf):
        if s is None:
            raise ValueError("with_sharding_constraint got sharding None, which is not "
                             "allowed; pass a SingleDeviceSharding (e.g. an array's .sharding)")
        if not isinstance(s, SingleDeviceSharding):
            raise TypeError(f"with_sharding_constraint: functrans arrays live whole on one "
                            f"device, so a sharding must be a SingleDeviceSharding (an array's "
                            f".sharding), got {s!r}")
    try:
        each = tree_flatten(tree_broadcast(shardings, x, is_leaf=is_leaf), is_leaf=is_leaf)[0]
    except (ValueError, TypeError) as e:
        raise ValueError(f"with_sharding_constraint: shardings must be a tree prefix of x "
                         f"({e})") from None
    for value, s in zip(tree_leaves(x), each):
        device = operand_device((value,))
        if device is not None and device != s.device:
            raise ValueError(f"with_sharding_constraint: an array on {device} cannot be held by "
                             f"{s}; move it with ft.device_put first")
    return x


# ------------------------------------------------------------------ dot dimension numbers
DotDimensionNumbers = tuple[tuple[Sequence[int], Sequence[int]],
                            tuple[Sequence[int], Sequence[int]]]
