"""Elementwise primitives: unary math, binary arithmetic with NumPy broadcasting, comparisons,
select, dtype conversion and stop_gradient.

Each is defined once by a table row: its NumPy name (the kernel on every backend is
`xp.<name>`), and for differentiable ones the partial derivative(s) as functrans expressions.
Forward mode (tangent * partial) and reverse mode (cotangent * partial, summed back over
broadcast axes) are both built from that one partial.
"""
from __future__ import annotations

import builtins
import math

import numpy as np

from .. import dtypes
from ..array import wrap
from ..backends import create, default_device_now, scipy_module
from ..backends import special as host_special
from ..core import ShapedArray, get_aval, is_python_scalar, on_operand_device
from ._util import (primitive, elementwise_aval, ufunc_impl, PYTHON_SCALARS, select_dtype,
                    def_nondiff, shape_of, dtype_of, is_differentiable, wanted,
                    broadcast_shapes)

def special_module(xp):
    """scipy.special for NumPy, cupyx.scipy.special for CuPy (the backend's counterpart)."""
    return scipy_module(xp, "special")


# How fused GPU kernels compute each elementwise primitive (functrans.compiler.cupy_backend):
# `cuda_expr` is a CUDA C expression over the operands {0}, {1}, {2}, with {T} the C type of
# the result and {f} the suffix of single-precision math functions ("f" for float32, "" for
# float64). A string serves every dtype the primitive takes; a dict maps dtype kinds ("f"
# floating, "i" signed, "u" unsigned, "b" bool) to expressions, and a kind it lacks (complex,
# float16 always) keeps the primitive out of fused kernels. The ft_* helpers are defined in
# CUDA_HELPERS, once for float and once for double; results follow NumPy's (NaN propagation,
# signed zeros, Python-style remainder), unverified on a GPU beyond compiling.
CUDA_HELPERS = r"""
__device__ {T} ft_logaddexp({T} x, {T} y) {{
    if (x == y) return x + ({T})0.6931471805599453;
    {T} d = x - y;
    if (d > 0) return x + log1p{f}(exp{f}(-d));
    if (d <= 0) return y + log1p{f}(exp{f}(d));
    return d;
}}
__device__ {T} ft_remainder({T} a, {T} b) {{
    {T} mod = fmod{f}(a, b);
    if (!b) return mod;
    if (mod) {{
        if ((b < 0) != (mod < 0)) mod += b;
    }} else {{
        mod = copysign{f}(({T})0, b);
    }}
    return mod;
}}
__device__ {T} ft_floor_divide({T} a, {T} b) {{
    if (!b) return a / b;
    {T} mod = fmod{f}(a, b);
    {T} div = (a - mod) / b;
    if (mod && ((b < 0) != (mod < 0))) div -= ({T})1;
    if (!div) return copysign{f}(({T})0, a / b);
    {T} floordiv = floor{f}(div);
    if (div - floordiv > ({T})0.5) floordiv += ({T})1;
    return floordiv;
}}
"""


def _rows_apart(params):
    """`split_rows` of an elementwise unary kernel: any range of rows is computed alone."""
    return (0,), lambda n: params


def in_operand_dtype(out, args):
    """`out` in the dtype of the first floating-point array among `args`, as tracing says: SciPy
    computes float16 (and more) wider and returns that."""
    for a in args:
        dtype = getattr(a, "dtype", None)
        if dtype is not None and dtypes.kind_char(dtype) in "fc":
            return out.astype(dtype, copy=False)
    return out


def _special_impl(name):
    host = getattr(host_special, name, None)    # faster float32 kernels for NumPy arrays

    def impl(xp, *args):
        if xp is np and host is not None:
            return in_operand_dtype(host(*args), args)
        return in_operand_dtype(getattr(special_module(xp), name)(*args), args)
    impl.__name__ = name
    return impl


# =============================================================== batching
def batch_elementwise(prim):
    """vmap rule for any elementwise primitive: batch axes to the front, aligned ranks."""
    def rule(vals, dims, **params):
        from .shape_ops import moveaxis, reshape
        out_rank = builtins.max(len(shape_of(v)) - (d is not None) for v, d in zip(vals, dims))
        args = []
        for v, d in zip(vals, dims):
            if d is None:
                args.append(v)
                continue
            if d != 0:
                v = moveaxis(v, d, 0)
            s = shape_of(v)
            missing = out_rank - (len(s) - 1)
            if missing:
                v = reshape(v, (s[0],) + (1,) * missing + tuple(s[1:]))
            args.append(v)
        return prim.bind(*args, **params), 0
    prim.batch = rule


# =============================================================== unary primitives
def unary(name, np_name=None, deriv=None, *, float_only=True, nondiff=False,
          out_dtype=None, impl=None, cuda=None):
    """Define an elementwise unary primitive.

    `deriv(x, ans)` is d ans / d x as a functrans expression; `nondiff` marks ops whose
    derivative is zero (floor, sign, comparisons…). `cuda` is its CUDA C template for fused
    GPU kernels (see the note above `CUDA_HELPERS`).
    """
    np_name = np_name or name
    generic = impl is None
    kernel = ufunc_impl(np_name) if generic else impl

    def impl(xp, x, accuracy=None):     # JAX's `accuracy` (lax.Tolerance, ...): all kernels
        return kernel(xp, x)            # compute at full accuracy

    def abstract_eval(x, accuracy=None):
        if float_only and not dtypes.is_inexact(x.dtype):
            raise TypeError(f"{name} needs a floating-point input, got {x.dtype}; "
                            "functrans.numpy converts integers for you")
        return ShapedArray(x.shape, out_dtype or x.dtype)

    p = primitive(name, impl, abstract_eval)
    p.elementwise = True
    p.np_name = np_name
    p.arity, p.float_only = 1, float_only
    p.kernel_kind = "ufunc" if generic else None
    if not generic:             # (a ufunc joins fused chains, which are split as a whole)
        p.split_rows = _rows_apart
    p.cuda_expr = cuda
    if nondiff or deriv is None:
        def_nondiff(p)
    else:
        def jvp(primals, tangents, **params):
            x, = primals
            ans = p.bind(x, **params)
            t, = tangents
            return ans, None if t is None else mul(t, deriv(x, ans))

        def vjp(primals, needs, **params):
            x, = primals
            ans = p.bind(x, **params)
            return ans, lambda ct: (mul(ct, deriv(x, ans)),)
        p.jvp, p.vjp = jvp, vjp
    batch_elementwise(p)
    return p


neg_p = unary("neg", "negative", float_only=False, cuda={"fiu": "(-{0})"})
neg_p.jvp = lambda primals, tangents: (neg(primals[0]),
                                       None if tangents[0] is None else neg(tangents[0]))
neg_p.vjp = lambda primals, needs: (neg(primals[0]), lambda ct: (neg(ct),))

exp_p = unary("exp", deriv=lambda x, ans: ans, cuda="exp{f}({0})")
exp2_p = unary("exp2", deriv=lambda x, ans: mul(ans, math.log(2.0)), cuda="exp2{f}({0})")
log_p = unary("log", deriv=lambda x, ans: reciprocal(x), cuda="log{f}({0})")
log2_p = unary("log2", deriv=lambda x, ans: reciprocal(mul(x, math.log(2.0))),
               cuda="log2{f}({0})")
log10_p = unary("log10", deriv=lambda x, ans: reciprocal(mul(x, math.log(10.0))),
                cuda="log10{f}({0})")
log1p_p = unary("log1p", deriv=lambda x, ans: reciprocal(add(x, 1.0)), cuda="log1p{f}({0})")
expm1_p = unary("expm1", deriv=lambda x, ans: add(ans, 1.0), cuda="expm1{f}({0})")
sin_p = unary("sin", deriv=lambda x, ans: cos(x), cuda="sin{f}({0})")
cos_p = unary("cos", deriv=lambda x, ans: neg(sin(x)), cuda="cos{f}({0})")
tan_p = unary("tan", deriv=lambda x, ans: add(square(ans), 1.0), cuda="tan{f}({0})")
asin_p = unary("arcsin", deriv=lambda x, ans: rsqrt(sub(1.0, square(x))), cuda="asin{f}({0})")
acos_p = unary("arccos", deriv=lambda x, ans: neg(rsqrt(sub(1.0, square(x)))),
               cuda="acos{f}({0})")
atan_p = unary("arctan", deriv=lambda x, ans: reciprocal(add(square(x), 1.0)),
               cuda="atan{f}({0})")
sinh_p = unary("sinh", deriv=lambda x, ans: cosh(x), cuda="sinh{f}({0})")
cosh_p = unary("cosh", deriv=lambda x, ans: sinh(x), cuda="cosh{f}({0})")
tanh_p = unary("tanh", deriv=lambda x, ans: sub(1.0, square(ans)), cuda="tanh{f}({0})")
asinh_p = unary("arcsinh", deriv=lambda x, ans: rsqrt(add(square(x), 1.0)),
                cuda="asinh{f}({0})")
acosh_p = unary("arccosh", deriv=lambda x, ans: rsqrt(sub(square(x), 1.0)),
                cuda="acosh{f}({0})")
atanh_p = unary("arctanh", deriv=lambda x, ans: reciprocal(sub(1.0, square(x))),
                cuda="atanh{f}({0})")
sqrt_p = unary("sqrt", deriv=lambda x, ans: div(0.5, ans), cuda="sqrt{f}({0})")
rsqrt_p = unary("rsqrt", impl=lambda xp, x: xp.reciprocal(xp.sqrt(x)),
                deriv=lambda x, ans: mul(-0.5, div(ans, x)), cuda="(({T})1 / sqrt{f}({0}))")
cbrt_p = unary("cbrt", deriv=lambda x, ans: div(1.0, mul(3.0, square(ans))), cuda="cbrt{f}({0})")
square_p = unary("square", deriv=lambda x, ans: mul(2.0, x), float_only=False,
                 cuda={"fiu": "({0} * {0})"})
reciprocal_p = unary("reciprocal", deriv=lambda x, ans: neg(square(ans)), cuda="(({T})1 / {0})")
abs_p = unary("abs", "absolute", deriv=lambda x, ans: sign(x), float_only=False,
              cuda={"f": "fabs{f}({0})", "i": "({0} < 0 ? ({T})-{0} : {0})", "ub": "{0}"})


# |z| of a complex z is real; its derivative is Re(conj(z) / |z| * dz) (0 at z = 0).
_real_abs_jvp, _real_abs_vjp = abs_p.jvp, abs_p.vjp


def _abs_aval(x):
    real_dtype = np.finfo(x.dtype).dtype if x.dtype.kind == "c" else x.dtype
    return ShapedArray(x.shape, real_dtype)


def _safe_abs(x, ans):
    """|x| = ans in x's (complex) dtype, 1 where it is 0: safe to divide by."""
    return convert_element_type(select_p.bind(eq(ans, 0.0), add(ans, 1.0), ans), dtype_of(x))


def _abs_slope(x, ans):
    """conj(x) / |x| (0 where x is 0), as a complex array."""
    return div(conj_p.bind(x), _safe_abs(x, ans))


def _abs_jvp(primals, tangents):
    x, = primals
    if dtype_of(x).kind != "c":
        return _real_abs_jvp(primals, tangents)
    ans, t = abs_p.bind(x), tangents[0]
    return ans, None if t is None else real_p.bind(mul(t, _abs_slope(x, ans)))


def _abs_vjp(primals, needs):
    x, = primals
    if dtype_of(x).kind != "c":
        return _real_abs_vjp(primals, needs)
    ans = abs_p.bind(x)
    return ans, lambda ct: (mul(convert_element_type(ct, dtype_of(x)), _abs_slope(x, ans)),)


abs_p.abstract_eval, abs_p.jvp, abs_p.vjp = _abs_aval, _abs_jvp, _abs_vjp


sign_p = unary("sign", nondiff=True, float_only=False, cuda={
    "f": "({0} > 0 ? ({T})1 : {0} < 0 ? ({T})-1 : {0} == 0 ? ({T})0 : {0})",
    "i": "({T})(({0} > 0) - ({0} < 0))", "u": "({T})({0} > 0)"})

# sign(z) = z / |z| of a complex z is not piecewise constant: with s = sign(z), r = |z|,
# ds = (dz - s Re(conj(s) dz)) / r (0 at z = 0), and the cotangent is the transpose of that.
_real_sign_jvp, _real_sign_vjp = sign_p.jvp, sign_p.vjp


def _over_abs(x, v):
    """v / |x|, and 0 where x is 0."""
    r = abs_p.bind(x)
    return select(eq(r, 0.0), _full_like_ans(v, 0.0), div(v, _safe_abs(x, r)))


def _sign_jvp(primals, tangents):
    x, = primals
    if dtype_of(x).kind != "c":
        return _real_sign_jvp(primals, tangents)
    s, t = sign_p.bind(x), tangents[0]
    if t is None:
        return s, None
    along = convert_element_type(real_p.bind(mul(conj_p.bind(s), t)), dtype_of(x))
    return s, _over_abs(x, sub(t, mul(s, along)))


def _sign_vjp(primals, needs):
    x, = primals
    if dtype_of(x).kind != "c":
        return _real_sign_vjp(primals, needs)
    s = sign_p.bind(x)

    def back(ct):
        along = convert_element_type(real_p.bind(mul(ct, s)), dtype_of(x))
        return (_over_abs(x, sub(ct, mul(along, conj_p.bind(s)))),)
    return s, back


sign_p.jvp, sign_p.vjp = _sign_jvp, _sign_vjp
floor_p = unary("floor", nondiff=True, cuda="floor{f}({0})")
ceil_p = unary("ceil", nondiff=True, cuda="ceil{f}({0})")
round_p = unary("round", "rint", nondiff=True, cuda="rint{f}({0})")
trunc_p = unary("trunc", nondiff=True, cuda="trunc{f}({0})")
_expit = _special_impl("expit")


def _logistic_impl(xp, x):
    if x.dtype.kind != "c":
        return _expit(xp, x)
    # expit has no complex loop: 1 / (1 + exp(-x)) as JAX, written exp(x) / (1 + exp(x)) for
    # Re x < 0 so that exp never overflows (1 / (1 + inf - inf j) would be nan, not 0)
    right = xp.real(x) >= 0
    e = xp.exp(xp.where(right, -x, x))
    return xp.where(right, 1, e) / (1 + e)


logistic_p = unary("logistic", impl=_logistic_impl,
                   deriv=lambda x, ans: mul(ans, sub(1.0, ans)),
                   cuda="(({T})1 / (({T})1 + exp{f}(-{0})))")
erf_p = unary("erf", impl=_special_impl("erf"),
              deriv=lambda x, ans: mul(2.0 / math.sqrt(math.pi), exp(neg(square(x)))),
              cuda="erf{f}({0})")
erfc_p = unary("erfc", impl=_special_impl("erfc"),
               deriv=lambda x, ans: mul(-2.0 / math.sqrt(math.pi), exp(neg(square(x)))),
               cuda="erfc{f}({0})")
erf_inv_p = unary("erf_inv", impl=_special_impl("erfinv"),
                  deriv=lambda x, ans: mul(math.sqrt(math.pi) / 2.0, exp(square(ans))),
                  cuda="erfinv{f}({0})")
lgamma_p = unary("lgamma", impl=_special_impl("gammaln"), deriv=lambda x, ans: digamma(x),
                 cuda="lgamma{f}({0})")
digamma_p = unary("digamma", impl=_special_impl("digamma"),
                  deriv=lambda x, ans: polygamma(1, x))
is_finite_p = unary("is_finite", "isfinite", nondiff=True, out_dtype=dtypes.bool_,
                    cuda="isfinite({0})")
isnan_p = unary("isnan", nondiff=True, out_dtype=dtypes.bool_, float_only=False,
                cuda={"f": "isnan({0})", "iub": "false"})
isinf_p = unary("isinf", nondiff=True, out_dtype=dtypes.bool_, float_only=False,
                cuda={"f": "isinf({0})", "iub": "false"})
not_p = unary("not", "invert", nondiff=True, float_only=False,
              cuda={"b": "(!{0})", "iu": "({T})(~{0})"})
signbit_p = unary("signbit", nondiff=True, float_only=False, out_dtype=dtypes.bool_,
                  cuda={"f": "signbit({0})", "i": "({0} < 0)", "ub": "false"})
population_count_p = unary(
    "population_count", "bitwise_count", nondiff=True, float_only=False, out_dtype=dtypes.uint8,
    cuda={"i": "__popcll({0} < 0 ? 0ULL - (unsigned long long){0} : (unsigned long long){0})",
          "ub": "__popcll((unsigned long long){0})"})
bessel_i0_p = unary("bessel_i0", impl=_special_impl("i0"), deriv=lambda x, ans: bessel_i1(x),
                    cuda="cyl_bessel_i0{f}({0})")
bessel_i1_p = unary("bessel_i1", impl=_special_impl("i1"),
                    deriv=lambda x, ans: _bessel_i1_deriv(x, ans), cuda="cyl_bessel_i1{f}({0})")


bessel_i0e_p = unary("bessel_i0e", impl=_special_impl("i0e"),
                     deriv=lambda x, ans: sub(bessel_i1e(x), mul(sign(x), ans)))
bessel_i1e_p = unary("bessel_i1e", impl=_special_impl("i1e"),
                     deriv=lambda x, ans: _bessel_i1e_deriv(x, ans))
erfcx_p = unary("erfcx", impl=_special_impl("erfcx"),
                deriv=lambda x, ans: sub(mul(mul(x, 2.0), ans), 2.0 / math.sqrt(math.pi)),
                cuda="erfcx{f}({0})")


def _bessel_i1e_deriv(x, ans):
    """(e^-|x| I1(x))' = i0e(x) - i1e(x) / x - sign(x) i1e(x); near 0 its series
    1/2 - |x| + 15 x^2 / 16 (the quotient would lose all precision)."""
    small = lt(abs(x), 1e-3)
    safe = select(small, _full_like_ans(x, 1.0), x)
    series = add(sub(mul(square(x), 15.0 / 16.0), abs(x)), 0.5)
    exact = sub(sub(bessel_i0e(safe), div(bessel_i1e(safe), safe)),
                mul(sign(safe), bessel_i1e(safe)))
    return select(small, series, exact)


def _bessel_i1_deriv(x, ans):
    """I1'(x) = I0(x) - I1(x) / x; near 0 its series 1/2 + 3 x^2 / 16 (the quotient would
    lose all precision, in its own derivative most of all)."""
    small = lt(abs(x), 1e-3)
    safe = select(small, _full_like_ans(x, 1.0), x)
    series = add(mul(square(x), 3.0 / 16.0), 0.5)
    return select(small, series, sub(bessel_i0(safe), div(bessel_i1(safe), safe)))


def _polygamma_impl(xp, n, x):
    return in_operand_dtype(special_module(xp).polygamma(n, x), (x,))


polygamma_p = primitive("polygamma", _polygamma_impl,
                        lambda n, x: ShapedArray(x.shape, x.dtype))
polygamma_p.elementwise = True
polygamma_p.cuda_expr = None


def _polygamma_vjp(primals, needs):
    n, x = primals
    ans = polygamma_p.bind(n, x)
    return ans, lambda ct: (None, mul(ct, polygamma(n + 1, x)))


def _polygamma_jvp(primals, tangents):
    n, x = primals
    ans = polygamma_p.bind(n, x)
    t = tangents[1]
    return ans, None if t is None else mul(t, polygamma(n + 1, x))


polygamma_p.vjp, polygamma_p.jvp = _polygamma_vjp, _polygamma_jvp
batch_elementwise(polygamma_p)


# =============================================================== binary primitives
def unbroadcast(ct, shape):
    """Sum `ct` down to `shape` (undoing NumPy broadcasting)."""
    from .reductions import reduce_sum
    from .shape_ops import reshape
    cshape = shape_of(ct)
    if cshape == tuple(shape):
        return ct
    lead = len(cshape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and cshape[lead + i] != 1)
    if axes:
        ct = reduce_sum(ct, axes)
    return reshape(ct, tuple(shape)) if shape_of(ct) != tuple(shape) else ct


def _bcast_to(t, shape):
    from .shape_ops import broadcast_to
    return t if shape_of(t) == tuple(shape) else broadcast_to(t, shape)


def binary(name, np_name=None, partials=None, *, nondiff=False, out_dtype=None,
           float_only=False, impl=None, cuda=None):
    """Define an elementwise binary primitive with NumPy broadcasting.

    `partials = (d_dx, d_dy)`, each `f(x, y, ans)` or None when that operand's derivative is
    zero. Python-scalar operands are weak constants and never differentiated. `cuda` is its
    CUDA C template for fused GPU kernels (see the note above `CUDA_HELPERS`).
    """
    np_name = np_name or name
    generic = impl is None
    if generic:
        impl = ufunc_impl(np_name, name)

    def abstract_eval(x, y):
        aval = elementwise_aval(name, x, y, out_dtype=out_dtype)
        if float_only and not dtypes.is_inexact(aval.dtype):
            raise TypeError(f"{name} needs floating-point inputs, got {aval.dtype}")
        return aval

    p = primitive(name, impl, abstract_eval)
    p.elementwise = True
    p.arity, p.float_only = 2, float_only
    p.np_name = np_name
    p.kernel_kind = "ufunc" if generic else None
    p.cuda_expr = cuda
    if nondiff:
        def_nondiff(p)
    else:
        def jvp(primals, tangents):
            x, y = primals
            ans = p.bind(x, y)
            out = None
            for i, (t, d) in enumerate(zip(tangents, partials)):
                if t is None or d is None:
                    continue
                term = t if d == 1 else mul(t, d(x, y, ans))
                out = term if out is None else add(out, term)
            if out is not None:
                out = _bcast_to(out, shape_of(ans))
            return ans, out

        def vjp(primals, needs):
            x, y = primals
            ans = p.bind(x, y)
            want = wanted(needs, primals)

            def backward(ct):
                cts = []
                for arg, d, w in zip(primals, partials, want):
                    if d is None or not w:
                        cts.append(None)
                        continue
                    c = ct if d == 1 else mul(ct, d(x, y, ans))
                    cts.append(unbroadcast(c, shape_of(arg)))
                return tuple(cts)
            return ans, backward
        p.jvp, p.vjp = jvp, vjp
    batch_elementwise(p)
    return p


def max_partial(x, y, ans):
    """1 where x wins, 1/2 at ties (as JAX), 0 where y wins: for maximum and minimum alike."""
    return select(eq(x, y), _full_like_ans(ans, 0.5),
                  convert_element_type(eq(ans, x), dtype_of(ans)))


def _full_like_ans(ans, value):
    from .shape_ops import full_like
    return full_like(ans, value)


add_p = binary("add", partials=(1, 1), cuda="({0} + {1})")
sub_p = binary("sub", "subtract", partials=(1, lambda x, y, ans: -1.0), cuda={"fiu": "({0} - {1})"})
mul_p = binary("mul", "multiply", partials=(lambda x, y, ans: y, lambda x, y, ans: x),
               cuda="({0} * {1})")
div_p = binary("div", "true_divide",
               partials=(lambda x, y, ans: reciprocal(y) if not is_python_scalar(y) else 1.0 / y,
                         lambda x, y, ans: neg(div(ans, y))), cuda={"f": "({0} / {1})"})
pow_p = binary("pow", "power", partials=(
    lambda x, y, ans: _pow_dx(x, y), lambda x, y, ans: _pow_dy(x, ans)), cuda={"f": "pow{f}({0}, {1})"})
max_p = binary("max", "maximum", partials=(
    lambda x, y, ans: max_partial(x, y, ans), lambda x, y, ans: max_partial(y, x, ans)),
    cuda={"f": "(({0} > {1} || isnan({0})) ? {0} : {1})", "iub": "({0} > {1} ? {0} : {1})"})
min_p = binary("min", "minimum", partials=(
    lambda x, y, ans: max_partial(x, y, ans), lambda x, y, ans: max_partial(y, x, ans)),
    cuda={"f": "(({0} < {1} || isnan({0})) ? {0} : {1})", "iub": "({0} < {1} ? {0} : {1})"})


def _squared(v):
    """v * v; a Python number stays one (weak), where `square` of it alone would be an array
    of the default dtype, which then meets the other operand's."""
    return v * v if is_python_scalar(v) else square(v)


atan2_p = binary("atan2", "arctan2", float_only=True, partials=(
    lambda x, y, ans: div(y, add(_squared(x), _squared(y))),
    lambda x, y, ans: neg(div(x, add(_squared(x), _squared(y))))),
    cuda="atan2{f}({0}, {1})")
# d hypot = (x dx + y dy) / hypot, 0 at the origin (0/0 there)
hypot_p = binary("hypot", float_only=True, partials=(
    lambda x, y, ans: div(x, _safe_abs(x, ans)), lambda x, y, ans: div(y, _safe_abs(y, ans))),
    cuda="hypot{f}({0}, {1})")
logaddexp_p = binary("logaddexp", float_only=True, partials=(
    lambda x, y, ans: exp(sub(x, ans)), lambda x, y, ans: exp(sub(y, ans))),
    cuda="ft_logaddexp({0}, {1})")
rem_p = binary("rem", "fmod", partials=(1, lambda x, y, ans: neg(trunc(div(x, y)))),
               cuda={"f": "fmod{f}({0}, {1})"})
remainder_p = binary("remainder", partials=(1, lambda x, y, ans: neg(floor(div(x, y)))),
                     cuda={"f": "ft_remainder({0}, {1})"})
floor_divide_p = binary("floor_divide", nondiff=True, cuda={"f": "ft_floor_divide({0}, {1})"})
nextafter_p = binary("nextafter", nondiff=True, float_only=True, cuda="nextafter{f}({0}, {1})")
eq_p = binary("eq", "equal", nondiff=True, out_dtype=dtypes.bool_, cuda="({0} == {1})")
ne_p = binary("ne", "not_equal", nondiff=True, out_dtype=dtypes.bool_, cuda="({0} != {1})")
lt_p = binary("lt", "less", nondiff=True, out_dtype=dtypes.bool_, cuda="({0} < {1})")
le_p = binary("le", "less_equal", nondiff=True, out_dtype=dtypes.bool_, cuda="({0} <= {1})")
gt_p = binary("gt", "greater", nondiff=True, out_dtype=dtypes.bool_, cuda="({0} > {1})")
ge_p = binary("ge", "greater_equal", nondiff=True, out_dtype=dtypes.bool_, cuda="({0} >= {1})")
and_p = binary("and", "bitwise_and", nondiff=True, cuda={"iub": "({T})({0} & {1})"})
or_p = binary("or", "bitwise_or", nondiff=True, cuda={"iub": "({T})({0} | {1})"})
xor_p = binary("xor", "bitwise_xor", nondiff=True, cuda={"iub": "({T})({0} ^ {1})"})
shift_left_p = binary("shift_left", "left_shift", nondiff=True)
shift_right_p = binary("shift_right", "right_shift", nondiff=True)
gcd_p = binary("gcd", nondiff=True)
lcm_p = binary("lcm", nondiff=True)


def _pow_dx(x, y):
    if is_python_scalar(y):
        if y == 0:
            return _full_like_ans(x, 0.0)
        if y == 1:
            return _full_like_ans(x, 1.0)
        if y == 2:
            return mul(2.0, x)
        return mul(y, pow(x, y - 1))
    return mul(y, pow(x, sub(y, 1.0)))


def _pow_dy(x, ans):
    """d x**y / dy = x**y log x, taken as 0 where x == 0 (the limit from the right)."""
    if is_python_scalar(x):
        return mul(ans, math.log(x)) if x > 0 else _full_like_ans(ans, 0.0)
    safe = select(eq(x, 0.0), _full_like_ans(x, 1.0), x)
    return mul(ans, log(safe))


# =============================================================== select
def _select_aval(pred, x, y):
    dtype = select_dtype("select", pred, (x, y))
    shape = broadcast_shapes(pred.shape, x.shape, y.shape, opname="select")
    return ShapedArray(shape, dtype, weak_type=x.weak_type and y.weak_type)


def _select_impl(xp, c, x, y):
    if type(x) in PYTHON_SCALARS or type(y) in PYTHON_SCALARS or \
            getattr(c, "dtype", None) != np.bool_ or x.dtype != y.dtype:
        dtype = _select_aval(get_aval(c), get_aval(x), get_aval(y)).dtype    # or raises
        return xp.where(c, x, y).astype(dtype, copy=False)
    return xp.where(c, x, y)


select_p = primitive("select", _select_impl, _select_aval)
select_p.elementwise = True
select_p.kernel_kind = "select"
select_p.cuda_expr = "({0} ? {1} : {2})"


def _select_jvp(primals, tangents):
    c, x, y = primals
    ans = select_p.bind(c, x, y)
    _, tx, ty = tangents
    if tx is None and ty is None:
        return ans, None
    zeros = _full_like_ans(ans, 0.0)
    return ans, select(c, zeros if tx is None else tx, zeros if ty is None else ty)


def _select_vjp(primals, needs):
    c, x, y = primals
    ans = select_p.bind(c, x, y)
    _, want_x, want_y = wanted(needs, primals)

    def backward(ct):
        zeros = _full_like_ans(ct, 0.0)
        return (None,
                unbroadcast(select(c, ct, zeros), shape_of(x)) if want_x else None,
                unbroadcast(select(c, zeros, ct), shape_of(y)) if want_y else None)
    return ans, backward


select_p.jvp, select_p.vjp = _select_jvp, _select_vjp
batch_elementwise(select_p)


# =============================================================== dtype conversion
def _convert_impl(xp, x, new_dtype, weak_type=False):
    # (not `getattr(x, "dtype", None) == new_dtype`: NumPy reads None as float64, so a Python
    # scalar converted to float64 stayed a Python scalar)
    if hasattr(x, "dtype") and x.dtype == new_dtype:
        return x
    return xp.asarray(x).astype(new_dtype)


# `weak_type`: whether the result is weakly typed, as JAX's parameter (promotion of weak
# values of different kinds: `x + y` of a jitted function's Python int and float arguments)
convert_element_type_p = primitive(
    "convert_element_type", _convert_impl,
    lambda x, new_dtype, weak_type=False: ShapedArray(x.shape, new_dtype, weak_type=weak_type))
convert_element_type_p.elementwise = True
convert_element_type_p.kernel_kind = "convert"
convert_element_type_p.cuda_expr = "({T}){0}"


def _convert_jvp(primals, tangents, new_dtype, weak_type=False):
    x, = primals
    ans = convert_element_type_p.bind(x, new_dtype=new_dtype, weak_type=weak_type)
    t, = tangents
    if t is None or not dtypes.is_inexact(new_dtype):
        return ans, None
    return ans, convert_element_type(t, new_dtype, weak_type=weak_type)


def _convert_vjp(primals, needs, new_dtype, weak_type=False):
    x, = primals
    ans = convert_element_type_p.bind(x, new_dtype=new_dtype, weak_type=weak_type)
    old = dtype_of(x)
    if not (dtypes.is_inexact(old) and dtypes.is_inexact(new_dtype)):
        return ans, None
    if old.kind != "c" and np.dtype(new_dtype).kind == "c":     # the real part goes back
        return ans, lambda ct: (convert_element_type(real_p.bind(ct), old),)
    return ans, lambda ct: (convert_element_type(ct, old),)


convert_element_type_p.jvp, convert_element_type_p.vjp = _convert_jvp, _convert_vjp
batch_elementwise(convert_element_type_p)


# =============================================================== parts of complex numbers
# Derivatives follow JAX's convention for complex values: a cotangent pairs with its value
# through Re(sum(ct * value)), so real's transpose is complex(ct, 0), imag's complex(0, -ct)
# and conj's conj(ct).
def _part_aval(name, real_result):
    def aval(x):
        if x.dtype.kind != "c":
            raise TypeError(f"{name} takes a complex array, got {x.dtype} (functrans.numpy's "
                            f"{name} handles real arrays without it)")
        return ShapedArray(x.shape, np.finfo(x.dtype).dtype if real_result else x.dtype)
    return aval


def _linear_part(prim, transpose):
    prim.jvp = lambda primals, tangents: (
        prim.bind(primals[0]), None if tangents[0] is None else prim.bind(tangents[0]))
    prim.vjp = lambda primals, needs: (prim.bind(primals[0]),
                                       lambda ct: (transpose(ct, dtype_of(primals[0])),))
    batch_elementwise(prim)


real_p = primitive("real", lambda xp, x: xp.real(x), _part_aval("real", True))
imag_p = primitive("imag", lambda xp, x: xp.imag(x), _part_aval("imag", True))
conj_p = primitive("conj", lambda xp, x: xp.conj(x), _part_aval("conj", False))
_linear_part(real_p, lambda ct, dtype: convert_element_type(ct, dtype))
_linear_part(imag_p, lambda ct, dtype: mul(convert_element_type(neg(ct), dtype), 1j))
_linear_part(conj_p, lambda ct, dtype: conj_p.bind(ct))


def _complex_impl(xp, re, im):
    t = type(re)
    if t is type(im) and t not in PYTHON_SCALARS and (
            re.dtype != im.dtype or re.dtype.kind != "f"):    # as tracing does
        _complex_aval(ShapedArray(re.shape, re.dtype), ShapedArray(im.shape, im.dtype))
    re, im = xp.asarray(re), xp.asarray(im)
    dtype = np.result_type(re.dtype, im.dtype, np.complex64)
    out = xp.empty(xp.broadcast_shapes(re.shape, im.shape), dtype)
    out.real, out.imag = re, im            # exact, also for infinite and NaN parts
    return out


def _complex_aval(re, im):
    aval = elementwise_aval("complex", re, im)
    if aval.dtype.kind != "f":
        raise TypeError(f"complex takes real floating-point parts, got {aval.dtype}")
    return ShapedArray(aval.shape, np.result_type(aval.dtype, np.complex64))


# complex(re, im) = re + i im, linear; its transpose is (real(ct), -imag(ct))
complex_p = primitive("complex", _complex_impl, _complex_aval)
complex_p.arity = 2


def _complex_jvp(primals, tangents):
    out = complex_p.bind(*primals)
    tr, ti = tangents
    if tr is None and ti is None:
        return out, None
    from .shape_ops import full
    zero = full(shape_of(out), 0.0, np.finfo(dtype_of(out)).dtype, like=out)
    t = complex_p.bind(zero if tr is None else tr, zero if ti is None else ti)
    return out, t


def _complex_vjp(primals, needs):
    out = complex_p.bind(*primals)
    want = wanted(needs, primals)

    def backward(ct):
        return (unbroadcast(real_p.bind(ct), shape_of(primals[0])) if want[0] else None,
                unbroadcast(neg(imag_p.bind(ct)), shape_of(primals[1])) if want[1] else None)
    return out, backward


complex_p.jvp, complex_p.vjp = _complex_jvp, _complex_vjp
batch_elementwise(complex_p)


# =============================================================== stop_gradient
stop_gradient_p = primitive("stop_gradient", lambda xp, x: x, lambda x: x.strip_weak())
stop_gradient_p.elementwise = True
stop_gradient_p.cuda_expr = "{0}"
def_nondiff(stop_gradient_p)
batch_elementwise(stop_gradient_p)


# =============================================================== user-facing functions
# JAX's keyword options: mul's `out_dtype` (the operands are converted to it first); `accuracy`
# is ft.lax's (functrans.lax.accuracy)
_OPTIONS = {"mul": ("out_dtype",)}


def _fn(prim):
    arity, floats_only = prim.arity, getattr(prim, "float_only", False)
    options = _OPTIONS.get(prim.name, ())

    def f(*args, **kw):
        if len(args) != arity:      # (eagerly, NumPy would take an extra one as `out`)
            raise TypeError(f"lax.{prim.name} takes {arity} operand"
                            f"{'s' if arity > 1 else ''}, got {len(args)}")
        if kw:
            unknown = set(kw) - set(options)
            if unknown:
                raise TypeError(f"lax.{prim.name} got unexpected keyword argument(s) "
                                f"{sorted(unknown)}; it takes {list(options) or 'none'}")
            if kw.get("out_dtype") is not None:
                args = tuple(convert_element_type(a, kw["out_dtype"]) for a in args)
        if floats_only and all(dtype_of(a).kind not in "fc" for a in args):
            prim.abstract_eval(*[ShapedArray(shape_of(a), dtype_of(a),     # raises, as traced
                                             weak_type=type(a) in (bool, int)) for a in args])
        return prim.bind(*args)
    f.__name__ = prim.name
    f.__doc__ = f"Elementwise `{prim.name}` (the `{getattr(prim, 'np_name', prim.name)}` kernel)."
    return f


neg, exp, exp2, log, log2, log10, log1p, expm1 = map(
    _fn, (neg_p, exp_p, exp2_p, log_p, log2_p, log10_p, log1p_p, expm1_p))
sin, cos, tan, asin, acos, atan = map(_fn, (sin_p, cos_p, tan_p, asin_p, acos_p, atan_p))
sinh, cosh, tanh, asinh, acosh, atanh = map(
    _fn, (sinh_p, cosh_p, tanh_p, asinh_p, acosh_p, atanh_p))
sqrt, rsqrt, cbrt, square, reciprocal, abs, sign = map(
    _fn, (sqrt_p, rsqrt_p, cbrt_p, square_p, reciprocal_p, abs_p, sign_p))
floor, ceil, round, trunc, logistic = map(_fn, (floor_p, ceil_p, round_p, trunc_p, logistic_p))
erf, erfc, erf_inv, lgamma, digamma = map(_fn, (erf_p, erfc_p, erf_inv_p, lgamma_p, digamma_p))
is_finite, isnan, isinf, bitwise_not = map(_fn, (is_finite_p, isnan_p, isinf_p, not_p))
bitwise_count, bessel_i0, bessel_i1, signbit = map(
    _fn, (population_count_p, bessel_i0_p, bessel_i1_p, signbit_p))
bessel_i0e, bessel_i1e, erfcx = map(_fn, (bessel_i0e_p, bessel_i1e_p, erfcx_p))
bitwise_count.__doc__ = "The number of 1 bits in each integer's absolute value (uint8, NumPy's)."
add, sub, mul, pow, max, min = map(_fn, (add_p, sub_p, mul_p, pow_p, max_p, min_p))
atan2, hypot, logaddexp, rem, remainder, floor_divide, nextafter = map(
    _fn, (atan2_p, hypot_p, logaddexp_p, rem_p, remainder_p, floor_divide_p, nextafter_p))
eq, ne, lt, le, gt, ge = map(_fn, (eq_p, ne_p, lt_p, le_p, gt_p, ge_p))
bitwise_and, bitwise_or, bitwise_xor, shift_left, shift_right, gcd, lcm = map(
    _fn, (and_p, or_p, xor_p, shift_left_p, shift_right_p, gcd_p, lcm_p))


def select(pred, on_true, on_false):
    """`on_true` where the bool `pred` holds, else `on_false` (elementwise, broadcasting), of
    one dtype (Python scalars take it): lax does not promote, functrans.numpy.where does."""
    if type(pred) is bool:      # (Python scalars alone would all become the widest's dtype)
        pred = np.bool_(pred)
    return select_p.bind(pred, on_true, on_false)


def population_count(x):
    """The number of 1 bits in each integer's two's-complement pattern, in x's dtype (as
    JAX's; `bitwise_count` counts those of the absolute value, as NumPy's)."""
    dt = dtype_of(x)
    count = convert_element_type(bitwise_count(x), dt)
    if dt.kind != "i":
        return count
    # a negative x has the bits of ~x = -x - 1 >= 0 flipped
    flipped = sub(dt.itemsize * 8, convert_element_type(bitwise_count(bitwise_not(x)), dt))
    return select(lt(x, 0), flipped, count)


def div(x, y):
    """Elementwise `x / y`; integers divide rounding toward zero (as C and JAX's `lax.div`).
    Booleans are refused, as by JAX (eagerly NumPy would give 0.5 for `div(True, 2)`)."""
    for i, a in enumerate((x, y)):
        if dtype_of(a) == np.bool_:
            raise TypeError(f"lax.div does not take bool operands (operand {i} is bool); "
                            "convert it to an integer or float dtype first")
    if dtypes.is_integer(dtype_of(x)) and dtypes.is_integer(dtype_of(y)):
        return floor_divide(sub(x, rem(x, y)), y)     # exact: x - rem(x, y) is a multiple of y
    return div_p.bind(x, y)


make_complex = _fn(complex_p)


def _complex_part(prim):
    def f(x):
        if dtype_of(x).kind != "c":         # eager binds skip the aval rule: check here too
            prim.abstract_eval(ShapedArray(shape_of(x), dtype_of(x)))
        return prim.bind(x)
    f.__name__ = prim.name
    f.__doc__ = f"The `{prim.name}` of a complex array, elementwise."
    return f


real, imag, conj = map(_complex_part, (real_p, imag_p, conj_p))


def polygamma(m, x):
    """The `m`-th derivative of the digamma function at `x`."""
    return polygamma_p.bind(m, x)


def convert_element_type(operand, new_dtype, *, weak_type=False):
    """`operand` as `new_dtype` (a no-op when it already is); a Python scalar becomes an
    array on the default device, as `functrans.numpy.asarray` makes it. The result is strongly
    typed, as JAX's: a weak value (a jitted function's Python-number argument) converted to
    its own dtype stops taking the dtype of the arrays it meets, as eagerly. `weak_type=True`
    keeps a traced result weak (promotion of weak values to a wider kind does)."""
    new_dtype = np.dtype(new_dtype)
    if is_python_scalar(operand):
        return wrap(create(default_device_now(), "asarray", operand, dtype=new_dtype))
    if dtype_of(operand) == new_dtype and get_aval(operand).weak_type == weak_type:
        return operand
    return convert_element_type_p.bind(operand, new_dtype=new_dtype, weak_type=bool(weak_type))


def stop_gradient(x):
    """The value of `x`, with no derivative flowing through it (works on pytrees)."""
    from ..tree_util import tree_map
    return tree_map(lambda leaf: stop_gradient_p.bind(leaf)
                    if is_differentiable(leaf) else leaf, x)


@on_operand_device
def select_n(which, *cases):
    """`cases[which]` elementwise: `which` a bool (two cases: false, true) or an integer
    array of indices into `cases` (clamped into range, as JAX's CPU and GPU lowering does)."""
    if not cases:
        raise ValueError("select_n: needs at least one case")
    select_dtype("select_n", get_aval(which), [get_aval(c) for c in cases])   # or raises
    if dtype_of(which) == np.bool_:
        if len(cases) > 2:
            raise ValueError(f"select_n: a bool `which` picks from 2 cases, got {len(cases)}")
        return select(which, cases[-1], cases[0])
    out = cases[0]
    for i, case in enumerate(cases[1:], 1):
        out = select((ge if i == len(cases) - 1 else eq)(which, i), case, out)
    return out
