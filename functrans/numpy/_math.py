"""Elementwise functions with NumPy names and promotion, written on `functrans.lax`."""
from __future__ import annotations

import math

import numpy as np

from .. import dtypes, lax
from ..array import wrap
from ..core import places_operands
from ..primitives._util import dtype_of
from ._conversion import promote, promote_inexact, as_operand, asarray
from ._fast import numpy_value, numpy_pair
from ._promotion_modes import check_rank_promotion
from ._reductions import as_bool, no_out
from ._signatures import keywords_too


def _ufunc_options(name, out, where):
    """JAX's ufunc keywords: `out` (arrays are immutable) and `where` must be None."""
    no_out(out, name)
    if where is not None:
        raise NotImplementedError(f"{name}: where= is not supported (as in JAX); use "
                                  f"fnp.where(mask, {name}(...), fallback)")


def _inexact_unary(lax_fn, name, doc=None):
    ufunc = getattr(np, name)

    def f(x, /):
        v = numpy_value(x, "fc")
        if v is not None:
            return wrap(ufunc(v))
        (x,), _ = promote_inexact(x)
        return lax_fn(x)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = doc or f"Elementwise {name} (integers are converted to the default float)."
    return places_operands(f)


def _same_unary(lax_fn, name, int_identity=False):
    ufunc = getattr(np, name)

    def f(x, /, *, out=None, where=None):
        if out is not None or where is not None:
            _ufunc_options(name, out, where)
        v = numpy_value(x, "fc" if int_identity else None)
        if v is not None:
            try:
                return wrap(ufunc(v))
            except TypeError:
                pass            # let the general path raise a descriptive error
        x = as_operand(x)
        if type(x) in (int, float, bool, complex):
            x = asarray(x)
        if int_identity and not dtypes.is_inexact(dtype_of(x)):
            return x
        return lax_fn(x)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"Elementwise {name}."
    return places_operands(f)


def _binary(lax_fn, name, inexact=False):
    prom = promote_inexact if inexact else promote
    ufunc = getattr(np, name)

    def f(x1, x2, /, *, out=None, where=None):
        if out is not None or where is not None:
            _ufunc_options(name, out, where)
        raw = numpy_pair(x1, x2, float_only=inexact)
        if raw is not None:
            try:
                return wrap(ufunc(*raw))
            except Exception:
                pass            # let the general path raise a descriptive error
        (a, b), dt = prom(x1, x2)
        check_rank_promotion(name, a, b)
        if dt == dtypes.bool_:      # NumPy's integer loops (remainder, power, shifts) on bools
            loop = ufunc.resolve_dtypes((dt, dt, None))[0]
            if loop != dt:
                a, b = lax.convert_element_type(a, loop), lax.convert_element_type(b, loop)
        return lax_fn(a, b)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"Elementwise {name} with NumPy broadcasting and promotion."
    return places_operands(f)


exp = _inexact_unary(lax.exp, "exp")
exp2 = _inexact_unary(lax.exp2, "exp2")
_expm1 = _inexact_unary(lax.expm1, "expm1")


def expm1(x, /):
    """exp(x) - 1, accurate near 0; complex values as (e^a cos b - 1) + i e^a sin b with
    the array API standard's special cases at infinities."""
    x = as_operand(x)
    if dtype_of(x).kind != "c":
        return _expm1(x)
    x = asarray(x)
    a, b = lax.real(x), lax.imag(x)
    half = lax.sin(lax.mul(b, 0.5))
    re = lax.sub(lax.mul(lax.expm1(a), lax.cos(b)), lax.mul(lax.mul(half, half), 2.0))
    re = lax.add(re, 0.0)                  # expm1(-0 + 0j) is +0 + 0j
    im = lax.select(lax.eq(b, 0.0), b, lax.mul(lax.exp(a), lax.sin(b)))
    b_finite = lax.is_finite(b)
    neg_inf = lax.bitwise_and(lax.eq(a, -math.inf), lax.bitwise_not(b_finite))
    pos_inf = lax.bitwise_and(lax.eq(a, math.inf), lax.bitwise_not(b_finite))
    re = lax.select(neg_inf, lax.full_like(re, -1.0),
                    lax.select(pos_inf, lax.full_like(re, math.inf), re))
    im = lax.select(neg_inf, lax.full_like(im, 0.0),
                    lax.select(pos_inf, lax.full_like(im, math.nan), im))
    return lax.complex(re, im)
log = _inexact_unary(lax.log, "log")
log2 = _inexact_unary(lax.log2, "log2")
log10 = _inexact_unary(lax.log10, "log10")
log1p = _inexact_unary(lax.log1p, "log1p")
sqrt = _inexact_unary(lax.sqrt, "sqrt")
cbrt = _inexact_unary(lax.cbrt, "cbrt")
reciprocal = _inexact_unary(lax.reciprocal, "reciprocal")
sin = _inexact_unary(lax.sin, "sin")
cos = _inexact_unary(lax.cos, "cos")
tan = _inexact_unary(lax.tan, "tan")
arcsin = _inexact_unary(lax.asin, "arcsin")
arccos = _inexact_unary(lax.acos, "arccos")
arctan = _inexact_unary(lax.atan, "arctan")
sinh = _inexact_unary(lax.sinh, "sinh")
cosh = _inexact_unary(lax.cosh, "cosh")
tanh = _inexact_unary(lax.tanh, "tanh")
arcsinh = _inexact_unary(lax.asinh, "arcsinh")
arccosh = _inexact_unary(lax.acosh, "arccosh")
arctanh = _inexact_unary(lax.atanh, "arctanh")
_square = _same_unary(lax.square, "square")


def square(x, /):
    """Elementwise x*x (booleans square as int8, as in NumPy)."""
    x = as_operand(x)
    if not isinstance(x, (int, float, bool, complex)) and dtype_of(x) == dtypes.bool_:
        x = lax.convert_element_type(x, np.int8)
    return _square(x)
negative = _same_unary(lax.neg, "negative")
absolute = abs = _same_unary(lax.abs, "absolute")
sign = _same_unary(lax.sign, "sign")
floor = _same_unary(lax.floor, "floor", int_identity=True)
ceil = _same_unary(lax.ceil, "ceil", int_identity=True)
# NumPy's ufunc takes its operands by position only, JAX's function by name too
trunc = fix = keywords_too(_same_unary(lax.trunc, "trunc", int_identity=True))
rint = _inexact_unary(lambda x: lax.round(x, lax.RoundingMethod.TO_NEAREST_EVEN), "rint")
isfinite = _same_unary(
    lambda x: lax.is_finite(x) if dtypes.is_inexact(dtype_of(x)) else
    lax.full_like(x, True, dtype=dtypes.bool_), "isfinite")
isnan = _same_unary(lax.isnan, "isnan")
isinf = _same_unary(lax.isinf, "isinf")

add = _binary(lax.add, "add")
subtract = _binary(lax.sub, "subtract")
multiply = _binary(lax.mul, "multiply")
divide = true_divide = _binary(lax.div, "true_divide", inexact=True)
_floor_divide = _binary(lax.floor_divide, "floor_divide")


def floor_divide(x1, x2, /):
    """Elementwise floor(x1 / x2), NumPy's kernel with the array API standard's preferred
    values where one operand is infinite: inf // 2 is inf (not NaN) and -1 // inf is -0.0
    (not -1.0)."""
    out = _floor_divide(x1, x2)
    if dtype_of(out).kind != "f":
        return out
    (a, b), _ = promote(x1, x2)
    a_inf, b_inf = isinf(a), isinf(b)
    special = logical_xor(a_inf, b_inf) & ~isnan(a) & ~isnan(b)
    return where(special, true_divide(a, b), out)

remainder = mod = _binary(lax.remainder, "remainder")
fmod = _binary(lax.rem, "fmod")
power = pow = _binary(lambda a, b: lax.integer_pow(a, b) if type(b) is int and (
    b >= 0 or dtypes.kind_char(dtype_of(a)) in "fc") else lax.pow(a, b), "power")
power.__doc__ += " A Python int exponent stages JAX's `integer_pow[y=...]`."
maximum = _binary(lax.max, "maximum")
minimum = _binary(lax.min, "minimum")
arctan2 = _binary(lax.atan2, "arctan2", inexact=True)
hypot = _binary(lax.hypot, "hypot", inexact=True)
logaddexp = _binary(lax.logaddexp, "logaddexp", inexact=True)
nextafter = _binary(lax.nextafter, "nextafter", inexact=True)
equal = _binary(lax.eq, "equal")
not_equal = _binary(lax.ne, "not_equal")
less = _binary(lax.lt, "less")
less_equal = _binary(lax.le, "less_equal")
greater = _binary(lax.gt, "greater")
greater_equal = _binary(lax.ge, "greater_equal")
bitwise_and = _binary(lax.bitwise_and, "bitwise_and")
bitwise_or = _binary(lax.bitwise_or, "bitwise_or")
bitwise_xor = _binary(lax.bitwise_xor, "bitwise_xor")
left_shift = _binary(lax.shift_left, "left_shift")
right_shift = _binary(lax.shift_right, "right_shift")
invert = bitwise_not = _same_unary(lax.bitwise_not, "invert")


def positive(x, /):
    return asarray(x)


def logical_and(x1, x2, /, *, out=None, where=None):
    _ufunc_options("logical_and", out, where)
    return lax.bitwise_and(as_bool(x1), as_bool(x2))


def logical_or(x1, x2, /, *, out=None, where=None):
    _ufunc_options("logical_or", out, where)
    return lax.bitwise_or(as_bool(x1), as_bool(x2))


def logical_xor(x1, x2, /, *, out=None, where=None):
    _ufunc_options("logical_xor", out, where)
    return lax.bitwise_xor(as_bool(x1), as_bool(x2))


def logical_not(x, /, *, out=None, where=None):
    _ufunc_options("logical_not", out, where)
    return lax.bitwise_not(as_bool(x))


def where(condition, x=None, y=None, /, *, size=None, fill_value=None):
    """Elementwise choice: `x` where `condition`, else `y` (both broadcast). With neither,
    `nonzero(condition)`, taking JAX's `size` and `fill_value` (a shape known under jit)."""
    if x is None and y is None:
        from ._sorting import nonzero
        return nonzero(condition, size=size, fill_value=fill_value)
    if size is not None or fill_value is not None:
        raise TypeError("where: size and fill_value belong to the one-argument form "
                        "(nonzero); drop them when passing x and y")
    if x is None or y is None:
        raise ValueError("where needs both x and y (or neither, for nonzero)")
    (a, b), _ = promote(x, y)
    return lax.select(as_bool(condition), a, b)


def clip(a, /, min=None, max=None, *, a_min=None, a_max=None):
    """Clamp values into [min, max] (either bound may be None). The bounds may be given by
    position, as `min=`/`max=` (NumPy 2, the array API) or as `a_min=`/`a_max=`."""
    if (a_min is not None and min is not None) or (a_max is not None and max is not None):
        raise TypeError("clip: give each bound once, either as a_min/a_max (or by position) "
                        "or as min/max")
    lo = a_min if a_min is not None else min
    hi = a_max if a_max is not None else max
    out = asarray(a)
    if lo is not None:
        out = maximum(out, lo)
    if hi is not None:
        out = minimum(out, hi)
    return out


def deg2rad(x, /):
    return multiply(promote_inexact(x)[0][0], math.pi / 180.0)


def rad2deg(x, /):
    return multiply(promote_inexact(x)[0][0], 180.0 / math.pi)


radians, degrees = deg2rad, rad2deg


def logaddexp2(x1, x2, /, *, out=None, where=None):
    """log2(2**x1 + 2**x2), without overflow."""
    _ufunc_options("logaddexp2", out, where)
    (a, b), dt = promote_inexact(x1, x2)
    check_rank_promotion("logaddexp2", a, b)
    a, b = asarray(a, dtype=dt), asarray(b, dtype=dt)
    ln2 = math.log(2.0)
    return true_divide(lax.logaddexp(multiply(a, ln2), multiply(b, ln2)), ln2)


def _refuse_complex(name, *xs):
    for x in xs:
        if dtypes.dtype_kind(dtype_of(x)) == 3:
            raise TypeError(f"{name} is not defined for complex values, got {dtype_of(x)}; "
                            f"apply it to the real and imaginary parts (real(x), imag(x))")


def float_power(x1, x2, /):
    """x1 ** x2 computed in float64 (complex128 for complex operands), as NumPy."""
    (a, b), dt = promote(x1, x2)
    check_rank_promotion("float_power", a, b)
    wide = np.complex128 if dtypes.dtype_kind(dt) == 3 else np.float64
    a = lax.convert_element_type(asarray(a), wide)
    b = b if type(b) in (int, float) else lax.convert_element_type(b, wide)
    return lax.pow(a, b)


def sinc(x, /):
    (x,), _ = promote_inexact(x)
    px = multiply(x, math.pi)
    safe = where(equal(x, 0), 1.0, px)
    return where(equal(x, 0), 1.0, true_divide(sin(safe), safe))


signbit = _same_unary(lax.signbit, "signbit")


def copysign(x1, x2, /):
    (a, b), dt = promote_inexact(x1, x2)
    check_rank_promotion("copysign", a, b)
    _refuse_complex("copysign", a, b)
    a = absolute(asarray(a, dtype=dt))
    return where(signbit(b), negative(a), a)


def heaviside(x1, x2, /):
    (a, b), dt = promote_inexact(x1, x2)
    check_rank_promotion("heaviside", a, b)
    _refuse_complex("heaviside", a, b)
    a = asarray(a, dtype=dt)      # the steps are a's dtype (Python scalars stay weak)
    step = where(less(a, 0), lax.full_like(a, 0), where(greater(a, 0), lax.full_like(a, 1), b))
    return where(isnan(a), a, step)       # a NaN x1 stays NaN, as NumPy and JAX


def fmax(x1, x2):
    """Elementwise maximum ignoring NaNs; a tie (and its derivative) goes to x2, as in JAX."""
    (a, b), _ = promote(x1, x2)
    check_rank_promotion("fmax", a, b)
    return where(logical_or(greater(a, b), isnan(b)), a, b)


def fmin(x1, x2):
    """Elementwise minimum ignoring NaNs; a tie (and its derivative) goes to x2, as in JAX."""
    (a, b), _ = promote(x1, x2)
    check_rank_promotion("fmin", a, b)
    return where(logical_or(less(a, b), isnan(b)), a, b)


def divmod(x1, x2, /):
    return floor_divide(x1, x2), remainder(x1, x2)


def round(a, decimals=0, out=None):
    """Round half to even, to `decimals` places."""
    no_out(out, "round")
    a = asarray(a)
    if not dtypes.is_inexact(dtype_of(a)):
        return a if decimals >= 0 or dtype_of(a) == np.bool_ else \
            _round_integers(a, 10 ** -decimals)
    if decimals == 0:
        return rint(a)
    scale = 10.0 ** decimals
    return true_divide(rint(multiply(a, scale)), scale)


def _round_integers(a, m):
    """Integers rounded half to even to multiples of `m`, in 64 bits (as NumPy)."""
    dt = dtype_of(a)
    wide = np.dtype(np.uint64 if dt.kind == "u" else np.int64)
    if m > np.iinfo(wide).max:
        return lax.full_like(a, 0)
    q = floor_divide(lax.convert_element_type(a, wide), m)
    twice_rest = multiply(subtract(lax.convert_element_type(a, wide), multiply(q, m)), 2)
    odd = lax.ne(lax.bitwise_and(q, lax.full_like(q, 1)), lax.full_like(q, 0))
    up = logical_or(greater(twice_rest, m), logical_and(equal(twice_rest, m), odd))
    return lax.convert_element_type(multiply(lax.select(up, add(q, 1), q), m), dt)


around = round


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    x = asarray(x)
    if not dtypes.is_inexact(dtype_of(x)):
        return x
    if iscomplexobj(x):         # each part on its own, as NumPy
        parts = [nan_to_num(part, copy, nan, posinf, neginf) for part in (lax.real(x), lax.imag(x))]
        return lax.complex(*parts)
    info = np.finfo(dtype_of(x))
    posinf = info.max if posinf is None else posinf
    neginf = info.min if neginf is None else neginf
    x = where(isnan(x), nan, x)
    x = where(logical_and(isinf(x), greater(x, 0)), posinf, x)
    return where(logical_and(isinf(x), less(x, 0)), neginf, x)


def real(x, /):
    """The real part (the array itself for real arrays)."""
    x = asarray(x)
    return lax.real(x) if iscomplexobj(x) else x


def conj(x, /):
    """The complex conjugate (the array itself for real arrays)."""
    x = asarray(x)
    return lax.conj(x) if iscomplexobj(x) else x


conjugate = conj


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    (a, b), _ = promote_inexact(a, b)
    within = less_equal(absolute(subtract(a, b)), add(atol, multiply(rtol, absolute(b))))
    close = logical_and(within, isfinite(b))        # an infinity is close only to itself
    exact = equal(a, b)
    out = logical_or(close, exact)
    if equal_nan:
        out = logical_or(out, logical_and(isnan(a), isnan(b)))
    return out


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    from ._reductions import all as all_
    return all_(isclose(a, b, rtol, atol, equal_nan))


# NumPy 2 (array API) spellings
acos, asin, atan, acosh, asinh, atanh = arccos, arcsin, arctan, arccosh, arcsinh, arctanh
atan2 = arctan2
bitwise_invert = invert
bitwise_left_shift, bitwise_right_shift = left_shift, right_shift
# NumPy's gcd and lcm take their operands by position only, JAX's and NumPy's i0 by name too
gcd = keywords_too(_binary(lax.gcd, "gcd"))
lcm = keywords_too(_binary(lax.lcm, "lcm"))
i0 = keywords_too(_inexact_unary(lax.bessel_i0, "i0",
                                 "Modified Bessel function of the first kind, order 0."))


def fabs(x, /):
    """Absolute value as a float (integers become the default float)."""
    (x,), _ = promote_inexact(x)
    _refuse_complex("fabs", x)
    return lax.abs(x)


def bitwise_count(x, /):
    """The number of 1 bits in the absolute value of each integer (uint8)."""
    x = asarray(x)
    if dtypes.is_inexact(dtype_of(x)):
        raise TypeError(f"bitwise_count needs integers, got {dtype_of(x)}")
    return lax.bitwise_count(x)


def spacing(x, /):
    """The distance from each value to the next representable one away from zero."""
    (x,), _ = promote_inexact(x)
    x = asarray(x)
    away = where(less(x, 0), lax.full_like(x, -np.inf), lax.full_like(x, np.inf))
    return subtract(lax.nextafter(x, away), x)


def modf(x, /, out=None):
    """`(fractional part, integral part)`, both with x's sign."""
    no_out(out, "modf")
    (x,), _ = promote_inexact(x)
    whole = lax.trunc(x)
    return lax.sub(x, whole), whole


def ldexp(x1, x2, /):
    """`x1 * 2**x2` (x2 integer)."""
    (x,), _ = promote_inexact(x1)
    e = asarray(x2)
    check_rank_promotion("ldexp", x, e)
    if dtypes.is_inexact(dtype_of(e)):
        raise TypeError(f"ldexp: the exponent must be an integer, got {dtype_of(e)}")
    # in three steps of at most a third of the exponent range each, so that 2**x2 never
    # overflows alone (0 * 2**1024 was NaN, 1e-300 * 2**1100 inf)
    info = np.finfo(dtype_of(x))
    bound = info.maxexp - info.minexp + info.nmant
    e = lax.convert_element_type(lax.clamp(-bound, e, bound), info.dtype)
    third = lax.trunc(lax.div(e, 3.0))
    for step in (third, third, lax.sub(e, lax.mul(third, 2.0))):
        x = multiply(x, lax.exp2(step))
    return x


def frexp(x, /):
    """`(mantissa, exponent)` with `x = mantissa * 2**exponent`, |mantissa| in [0.5, 1)."""
    (x,), _ = promote_inexact(x)
    _refuse_complex("frexp", x)
    finite_nonzero = logical_and(isfinite(x), not_equal(x, 0))
    safe = where(finite_nonzero, absolute(x), 1.0)
    e = add(lax.floor(lax.log2(safe)), 1.0)
    mant = true_divide(x, lax.exp2(e))
    # log2 can be off by one ulp near powers of two: renormalize into [0.5, 1)
    big = greater_equal(absolute(mant), 1.0)
    mant, e = where(big, multiply(mant, 0.5), mant), where(big, add(e, 1.0), e)
    small = logical_and(less(absolute(mant), 0.5), finite_nonzero)
    mant, e = where(small, multiply(mant, 2.0), mant), where(small, subtract(e, 1.0), e)
    return (where(finite_nonzero, mant, x),
            lax.convert_element_type(where(finite_nonzero, e, 0.0), np.int32))


def angle(z, deg=False):
    """The argument of each value, in radians (degrees with `deg`): atan2(imag, real) for
    complex values; 0 for x >= 0 and pi for x < 0 for real ones."""
    (z,), _ = promote_inexact(z)
    if iscomplexobj(z):
        out = arctan2(imag(z), real(z))
    else:
        z = asarray(z)
        out = where(isnan(z), z, where(signbit(z), lax.full_like(z, math.pi), 0.0))
    return multiply(out, 180.0 / math.pi) if deg else out


def imag(val, /):
    """The imaginary part (zeros for real arrays)."""
    val = asarray(val)
    if iscomplexobj(val):
        return lax.imag(val)
    from ._creation import zeros_like
    return zeros_like(val)


def iscomplex(x):
    """Where the imaginary part is nonzero."""
    return lax.ne(imag(x), 0)


def isreal(x):
    """Where the imaginary part is zero."""
    return lax.eq(imag(x), 0)


def iscomplexobj(x):
    return dtypes.dtype_kind(dtype_of(asarray(x))) == 3


def isrealobj(x):
    return not iscomplexobj(x)


def isposinf(x, /, out=None):
    no_out(out, "isposinf")
    x = asarray(x)
    _refuse_complex("isposinf", x)
    return logical_and(isinf(x), greater(x, 0))


def isneginf(x, /, out=None):
    no_out(out, "isneginf")
    x = asarray(x)
    _refuse_complex("isneginf", x)
    return logical_and(isinf(x), less(x, 0))


def array_equal(a1, a2, equal_nan=False):
    """True when the arrays have one shape and equal elements (a 0-d bool array)."""
    from ._reductions import all as all_
    a1, a2 = asarray(a1), asarray(a2)
    if tuple(a1.shape) != tuple(a2.shape):
        return asarray(False)
    same = equal(a1, a2)
    if equal_nan and dtypes.is_inexact(dtype_of(a1)):
        same = logical_or(same, logical_and(isnan(a1), isnan(a2)))
    return all_(same)


def array_equiv(a1, a2):
    """True when the arrays broadcast together and are equal everywhere."""
    from ._reductions import all as all_
    from ..primitives._util import broadcast_shapes
    a1, a2 = asarray(a1), asarray(a2)
    try:
        broadcast_shapes(tuple(a1.shape), tuple(a2.shape))
    except ValueError:
        return asarray(False)
    return all_(equal(a1, a2))


__all__ = [_n for _n, _v in list(globals().items())
           if callable(_v) and not _n.startswith("_") and getattr(_v, "__module__", None) == __name__]
