"""Taylor rules of `jet`: how each primitive maps truncated power series.

A series is a primal `x0` and its plain Taylor coefficients `[x1, ..., xK]` (of `t`, `t^2`,
...; the factorials are applied at `jet`'s boundary). A rule `rule(prim, xs, ts, params)`
gets the primals `xs` and, per argument, its coefficients or None (a constant), and returns
`(out, out_terms)`: the primal result (of `prim.bind`, so it equals the primitive's value)
and its coefficients (None where they are zero; a list per output for `multiple_results`),
or None where it does not apply (`jet` then falls back on nested jvps of the primitive).

Products are Cauchy products and the transcendental functions follow from the first-order
equations they satisfy (`y' = y x'` for `exp`, `x y' = p y x'` for `x^p`, ...), solved term by
term, so order `K` costs `O(K^2)` operations per primitive.
"""
from __future__ import annotations

import functools
import math
import operator

from ...core import get_aval, is_python_scalar
from ...lax import primitive_objects as P
from ...higher_order import collectives as C
from ...higher_order.control_flow.associative_scan import associative_scan
from ...higher_order.remat import name_p
from ...primitives.conv import conv_patches_p
from ...primitives.elementwise import (log2_p, log10_p, logaddexp_p, mul, reciprocal_p,
                                       select_p)
from ...primitives.elementwise_more import clamp_p
from ...primitives.reductions import cumlogsumexp_p
from ...primitives.shape_ops import (concatenate, full_like, full_like_p, reshape,
                                     slice_in_dim, transpose)
from ...primitives.sorting import sort_p, top_k_p
from .linalg import LINALG_RULES

__all__ = ["RULES", "COMPOSED", "zero_rule", "integrate", "derivative", "zero_like"]


def _sum(parts):
    return functools.reduce(operator.add, parts)


def zero_like(x):
    return type(x)(0) if is_python_scalar(x) else full_like(x, 0)


def _cauchy(a, b, k, lo=0):
    """Coefficient `k` of the product of series `a` and `b` (full lists), from `i = lo`."""
    return _sum([a[i] * b[k - i] for i in range(lo, k + 1)])


def _times(c, s):
    """`c * s` for a Python number `s`, skipping `s = 1`."""
    return c if s == 1 else c * s


def integrate(dx, u, k):
    """Coefficient `k` of `y` where `y' = u x'`: `(1/k) sum_j j x_j u_(k-j)`, `dx[j] = j x_j`."""
    total = _sum([dx[j] * u[k - j] for j in range(1, k + 1)])
    return total if k == 1 else total / k


def derivative(x):
    """`[j x_j]` (index 0 unused), the factors `integrate` takes."""
    return [None] + [_times(c, j) for j, c in enumerate(x[1:], 1)]


def _quotient(a, b, q0, n):
    """Coefficients `0..n` of `a / b`, with `q0 = a0 / b0` given; `a[m]` may be None (zero)."""
    q = [q0]
    for m in range(1, n + 1):
        s = _cauchy(b, q, m, lo=1)
        q.append(((a[m] - s) if a[m] is not None else -s) / b[0])
    return q


# ------------------------------------------------------------------ rule makers
def zero_rule(prim, xs, ts, params):
    out = prim.bind(*xs, **params)
    return out, ([None] * len(out) if prim.multiple_results else None)


def _linear(positions=None):
    """A rule for a primitive linear jointly in the arguments at `positions` (all of them for
    None): each coefficient is the primitive of the coefficients (zeros for constants there);
    the other arguments (indices, predicates) must be constants."""
    def rule(prim, xs, ts, params):
        lin = range(len(xs)) if positions is None else positions
        if any(t is not None for i, t in enumerate(ts) if i not in lin):
            return None
        out = prim.bind(*xs, **params)
        order = len(next(t for t in ts if t is not None))
        zeros = {i: zero_like(xs[i]) for i in lin if ts[i] is None}
        terms = [prim.bind(*[(ts[i][k] if ts[i] is not None else zeros[i]) if i in lin else x
                             for i, x in enumerate(xs)], **params) for k in range(order)]
        return out, _per_output(prim, terms)
    return rule


def _per_output(prim, terms):
    """Terms listed per order as per output (a list of each output's terms) for a primitive
    with multiple results."""
    return [list(t) for t in zip(*terms)] if prim.multiple_results else terms


def _add(prim, xs, ts, params):
    (a, b), (ta, tb) = xs, ts
    out = prim.bind(a, b, **params)
    sign = operator.neg if prim is P.sub_p else operator.pos
    if ta is None:
        return out, [sign(c) for c in tb]
    if tb is None:
        return out, list(ta)
    return out, [prim.bind(c, d, **params) for c, d in zip(ta, tb)]


def _bilinear(prim, xs, ts, params):
    """`mul`, `dot_general`: the Cauchy product, each part through the primitive."""
    (a, b), (ta, tb) = xs, ts
    out = prim.bind(a, b, **params)
    sa, sb = [a] + list(ta or ()), [b] + list(tb or ())
    order = len(ta or tb)
    terms = []
    for k in range(1, order + 1):
        lo, hi = (0 if tb else k), (k if ta else 0)
        terms.append(_sum([prim.bind(sa[i], sb[k - i], **params) for i in range(lo, hi + 1)]))
    return out, terms


def _by_jvp(prim, xs, ts, params):
    """Piecewise-linear primitives (`max`, `abs` of reals, `reduce_max`, `top_k`, ...): each
    coefficient is the primitive's jvp at the primal, the coefficient as tangent (the masks
    and permutations it applies depend on the primal only, so all higher derivatives of them
    vanish)."""
    if any(get_aval(x).dtype.kind == "c" for x in xs):
        return None
    out = prim.bind(*xs, **params)
    order = len(next(t for t in ts if t is not None))
    outs = out if prim.multiple_results else [out]
    terms = []
    for k in range(order):
        t = prim.jvp(list(xs), [None if c is None else c[k] for c in ts], **params)[1]
        t = t if prim.multiple_results else [t]
        t = [zero_like(o) if c is None else c for o, c in zip(outs, t or [None] * len(outs))]
        terms.append(t if prim.multiple_results else t[0])
    return out, _per_output(prim, terms)


def _sort(prim, xs, ts, params):
    """One sort of the primals with every term as further operands: the first operand's
    order permutes them all."""
    flat = [c for t in ts if t is not None for c in t]
    outs = prim.bind(*xs, *flat, **params)
    rest = iter(outs[len(xs):])
    return outs[:len(xs)], [None if t is None else [next(rest) for _ in t] for t in ts]


def _unary(solve):
    """A rule for an elementwise function of one series argument: `solve(x, y0)` with `x`
    the full input series and `y0` the primal result returns the coefficients `1..K`."""
    def rule(prim, xs, ts, params):
        if len(xs) != 1:
            return None
        out = prim.bind(xs[0], **params)
        return out, solve([xs[0]] + list(ts[0]), out)
    return rule


# ------------------------------------------------------------------ elementwise series
def _exp_series(x, y0):
    dx, y = derivative(x), [y0]
    for k in range(1, len(x)):
        y.append(integrate(dx, y, k))
    return y[1:]


def _expm1(x, y0):
    return _exp_series(x, y0 + 1)


def _sin_cos(x, sign):
    """The coefficients of `(s, c)` with `s' = c x'`, `c' = sign s x'` (sin/cos: -1,
    sinh/cosh: +1), from the primals."""
    def solve(s0, c0, which):
        dx, s, c = derivative(x), [s0], [c0]
        last = len(x) - 1
        for k in range(1, last + 1):
            if k < last or which == 0:
                s.append(integrate(dx, c, k))
            if k < last or which == 1:
                c_k = integrate(dx, s, k)
                c.append(c_k if sign > 0 else -c_k)
        return (s, c)[which][1:]
    return solve


def _trig(which, sign):
    def rule(prim, xs, ts, params):
        x0 = xs[0]
        out = prim.bind(x0, **params)
        other = {P.sin_p: P.cos_p, P.cos_p: P.sin_p, P.sinh_p: P.cosh_p,
                 P.cosh_p: P.sinh_p}[prim].bind(x0)
        s0, c0 = (out, other) if which == 0 else (other, out)
        return out, _sin_cos([x0] + list(ts[0]), sign)(s0, c0, which)
    return rule


def _from_square(shift, sign):
    """`y' = (shift + sign y^2) x'` (tanh: 1, -1; tan: 1, +1) or, with shift None,
    `y' = (y - y^2) x'` (logistic)."""
    def solve(x, y0):
        dx, y, sq = derivative(x), [y0], y0 * y0
        u = [(y0 - sq) if shift is None else (shift + sq if sign > 0 else shift - sq)]
        for k in range(1, len(x)):
            y.append(integrate(dx, u, k))
            if k < len(x) - 1:
                sq = _cauchy(y, y, k)
                u.append((y[k] - sq) if shift is None else (sq if sign > 0 else -sq))
        return y[1:]
    return solve


def _log_like(offset):
    """`y' = x' / (offset + x)` (log: 0, log1p: 1)."""
    def solve(x, y0):
        b = [x[0] + offset if offset else x[0]] + x[1:]
        return _integral_of_quotient(x, b)
    return solve


def _integral_of_quotient(x, b):
    """Coefficients `1..K` of `y` with `y' = x' / b` (`b` a full series)."""
    order = len(x) - 1
    dx = [(m + 1) * x[m + 1] for m in range(order)]
    q = _quotient(dx, b, dx[0] / b[0], order - 1)
    return [q[k - 1] / k for k in range(1, order + 1)]


def _atan(x, y0):
    b = [1 + x[0] * x[0]] + [_cauchy(x, x, m) for m in range(1, len(x))]
    return _integral_of_quotient(x, b)


def _erf(x, y0):
    """`erf' = (2 / sqrt(pi)) exp(-x^2)`."""
    w = [-(x[0] * x[0])] + [-_cauchy(x, x, m) for m in range(1, len(x) - 1)]
    e0 = P.exp_p.bind(w[0])
    u = [(2 / math.sqrt(math.pi)) * c for c in [e0] + _exp_series(w, e0)]
    dx, y = derivative(x), [y0]
    for k in range(1, len(x)):
        y.append(integrate(dx, u, k))
    return y[1:]


def _sqrt_of(w, y0):
    """Coefficients `1..n` of `sqrt(w)` (`w` a full series of length `n + 1`)."""
    y = [y0]
    for k in range(1, len(w)):
        s = w[k] - _sum([y[j] * y[k - j] for j in range(1, k)]) if k > 1 else w[k]
        y.append(s / (2 * y0))
    return y[1:]


def _inverse_trig(offset, sign, root):
    """`y' = x' / b` with `b = offset + sign x^2`, or its square root where `root`: asin
    (1, -1, root), asinh (1, +1, root), acosh (-1, +1, root), atanh (1, -1)."""
    def solve(x, y0):
        sq = [x[0] * x[0]] + [_cauchy(x, x, m) for m in range(1, len(x) - 1)]
        w = [offset + sq[0] if sign > 0 else offset - sq[0]] + [
            c if sign > 0 else -c for c in sq[1:]]
        b = [P.sqrt_p.bind(w[0])] if root else w[:1]
        b += _sqrt_of(w, b[0]) if root else w[1:]
        return _integral_of_quotient(x, b)
    return solve


def _acos(x, y0):
    return [-c for c in _inverse_trig(1, -1, True)(x, y0)]


def _scaled(solve, factor):
    """`solve`'s coefficients times `factor` (log2, log10 from log; exp2 from exp)."""
    def scaled(x, y0):
        return [c * factor for c in solve(x, y0)]
    return scaled


def _exp2(x, y0):
    return _exp_series([x[0]] + [c * math.log(2.0) for c in x[1:]], y0)


def _logaddexp(prim, xs, ts, params):
    """`z' = y' + (x' - y') logistic(x - y)`."""
    (a, b), (ta, tb) = xs, ts
    out = prim.bind(a, b, **params)
    order = len(ta or tb)
    if ta is None:
        d = [a - b] + [-c for c in tb]
    else:
        d = [a - b] + (list(ta) if tb is None else [c - e for c, e in zip(ta, tb)])
    s0 = P.logistic_p.bind(d[0])
    s = [s0] + _from_square(None, 0)(d[:-1], s0)
    dd = derivative(d)
    return out, [(integrate(dd, s, k) if tb is None else tb[k - 1] + integrate(dd, s, k))
                 for k in range(1, order + 1)]


def _atan2(prim, xs, ts, params):
    """`atan2(y, x)' = (x y' - y x') / (x^2 + y^2)`."""
    (a, b), (ta, tb) = xs, ts
    out = prim.bind(a, b, **params)
    order = len(ta or tb)
    y, x = [a] + list(ta or [zero_like(a)] * order), [b] + list(tb or [zero_like(b)] * order)
    dy, dx = ([(m + 1) * v[m + 1] for m in range(order)] for v in (y, x))
    num = [_cauchy(x, dy, m) - _cauchy(y, dx, m) for m in range(order)]
    den = [_cauchy(x, x, m) + _cauchy(y, y, m) for m in range(order)]
    q = _quotient(num, den, num[0] / den[0], order - 1)
    return out, [q[k - 1] if k == 1 else q[k - 1] / k for k in range(1, order + 1)]


def _sqrt(x, y0):
    return _sqrt_of(x, y0)


def _power(p):
    """`y = x^p`: `x y' = p y x'`, so `k x0 y_k = sum_j (p j - (k - j)) x_j y_(k-j)`."""
    def solve(x, y0):
        y = [y0]
        for k in range(1, len(x)):
            y.append(_sum([(p * j - (k - j)) * x[j] * y[k - j] for j in range(1, k + 1)])
                     / (k * x[0]))
        return y[1:]
    return solve


def _product(a, b):
    return [_cauchy(a, b, k) for k in range(len(a))]


def _integer_power(x, n):
    """The series of `x^n`, `n >= 1`, by repeated squaring (exact where `x0 = 0`)."""
    result, base = None, x
    while True:
        if n & 1:
            result = base if result is None else _product(result, base)
        n >>= 1
        if not n:
            return result
        base = _product(base, base)


def _reciprocal(x, y0):
    return _quotient([None] * len(x), x, y0, len(x) - 1)[1:]


def _square(x, y0):
    return [_cauchy(x, x, k) for k in range(1, len(x))]


def _pow(prim, xs, ts, params):
    (a, b), (ta, tb) = xs, ts
    out = prim.bind(a, b, **params)
    x = [a] + list(ta or ())
    if tb is None:
        if isinstance(b, int) and not isinstance(b, bool):
            if b == 0:
                return out, None
            series = _integer_power(x, abs(b))
            if b < 0:
                return out, _quotient([None] * len(x), series, out, len(x) - 1)[1:]
            return out, series[1:]
        return out, _power(b)(x, out)
    log_a = P.log_p.bind(a)               # a^b = exp(b log a)
    if ta is None:
        m = [None] + [c * log_a for c in tb]
    else:
        log_x, y = [log_a] + _log_like(0)(x, log_a), [b] + list(tb)
        m = [None] + [_cauchy(y, log_x, k) for k in range(1, len(x))]
    return out, _exp_series(m, out)


def _div(prim, xs, ts, params):
    (a, b), (ta, tb) = xs, ts
    out = prim.bind(a, b, **params)
    if tb is None:
        return out, [prim.bind(c, b, **params) for c in ta]
    order = len(tb)
    num = [a] + (list(ta) if ta is not None else [None] * order)
    return out, _quotient(num, [b] + list(tb), out, order)[1:]


def _integer_pow(prim, xs, ts, params):
    """`x ** y`: pow's series with the Python int exponent `y`."""
    return _pow(P.pow_p, (xs[0], params["y"]), (ts[0], None), {})


def _select(prim, xs, ts, params):
    return _linear(range(1, len(xs)))(prim, xs, ts, params)


def _tree_prod(x, axes):
    """`reduce_prod` over `axes` as a tree of pairwise products: its series costs O(log n)
    Cauchy products, and zeros in `x` need no care."""
    shape = get_aval(x).shape
    kept = [i for i in range(len(shape)) if i not in axes]
    n = math.prod(shape[i] for i in axes)
    if not n:
        return full_like(P.reduce_sum_p.bind(x, axes=tuple(axes)), 1)
    x = reshape(transpose(x, tuple(axes) + tuple(kept)), (n,) + tuple(shape[i] for i in kept))
    while n > 1:
        half = n // 2
        y = mul(slice_in_dim(x, 0, half), slice_in_dim(x, half, 2 * half))
        x = concatenate([y, slice_in_dim(x, 2 * half, n)], 0) if n % 2 else y
        n = half + n % 2
    return reshape(x, tuple(shape[i] for i in kept))


def _cumulative(pairwise):
    """A running `pairwise` (an associative primitive with a rule) as a parallel prefix
    scan."""
    def scan(x, axis, reverse):
        return associative_scan(pairwise.bind, x, reverse=reverse, axis=axis)
    return scan


# primitives whose series is the jet of an equivalent composition of primitives with rules
COMPOSED = {P.reduce_prod_p: _tree_prod, P.cumprod_p: _cumulative(P.mul_p),
            cumlogsumexp_p: _cumulative(logaddexp_p)}

RULES = {
    P.add_p: _add, P.sub_p: _add, P.mul_p: _bilinear, P.dot_general_p: _bilinear,
    P.div_p: _div, P.pow_p: _pow, P.integer_pow_p: _integer_pow, select_p: _select,
    P.exp_p: _unary(_exp_series), P.expm1_p: _unary(_expm1),
    P.log_p: _unary(_log_like(0)), P.log1p_p: _unary(_log_like(1)),
    P.sin_p: _trig(0, -1), P.cos_p: _trig(1, -1), P.sinh_p: _trig(0, 1), P.cosh_p: _trig(1, 1),
    P.tanh_p: _unary(_from_square(1, -1)), P.tan_p: _unary(_from_square(1, 1)),
    P.logistic_p: _unary(_from_square(None, 0)), P.atan_p: _unary(_atan),
    P.erf_p: _unary(_erf), P.sqrt_p: _unary(_sqrt), P.rsqrt_p: _unary(_power(-0.5)),
    P.cbrt_p: _unary(_power(1 / 3)), P.square_p: _unary(_square),
    reciprocal_p: _unary(_reciprocal), P.asin_p: _unary(_inverse_trig(1, -1, True)),
    P.acos_p: _unary(_acos), P.asinh_p: _unary(_inverse_trig(1, 1, True)),
    P.acosh_p: _unary(_inverse_trig(-1, 1, True)), P.atanh_p: _unary(_inverse_trig(1, -1, False)),
    P.exp2_p: _unary(_exp2), log2_p: _unary(_scaled(_log_like(0), 1 / math.log(2.0))),
    log10_p: _unary(_scaled(_log_like(0), 1 / math.log(10.0))), logaddexp_p: _logaddexp,
    P.atan2_p: _atan2, sort_p: _sort, **LINALG_RULES,
}
for _p in (P.neg_p, P.reduce_sum_p, P.cumsum_p, P.broadcast_in_dim_p, P.reshape_p,
           P.transpose_p, P.slice_p, P.pad_p, P.rev_p, P.concatenate_p, P.real_p, P.imag_p,
           P.conj_p, P.complex_p, P.convert_element_type_p, P.device_put_p, P.fft_p,
           P.reduce_window_sum_p, name_p, conv_patches_p, C.psum_p, C.all_gather_p,
           C.psum_scatter_p, C.ppermute_p, C.all_to_all_p):
    RULES[_p] = _linear()
for _p, _lin in ((P.gather_p, (0,)), (P.dynamic_slice_p, (0,)),
                 (P.dynamic_update_slice_p, (0, 1)), (P.scatter_p, (0, 1)),
                 (P.scatter_add_p, (0, 1))):
    RULES[_p] = _linear(_lin)
for _p in (P.max_p, P.min_p, P.abs_p, P.reduce_max_p, P.reduce_min_p, P.cummax_p,
           P.cummin_p, top_k_p, clamp_p, P.scatter_max_p, P.scatter_min_p,
           P.reduce_window_max_p, C.pmax_p, C.pmin_p):
    RULES[_p] = _by_jvp
for _p in (P.sign_p, P.floor_p, P.ceil_p, P.round_p, P.stop_gradient_p, full_like_p):
    RULES[_p] = zero_rule
del _p, _lin
