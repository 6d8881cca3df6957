"""Fast host kernels for erf, erfc, erfinv, gammaln (log|Gamma|), digamma and expit (the
logistic sigmoid).

`erf(x)`, `erfc(x)`, `erfinv(x)`, `gammaln(x)`, `digamma(x)` and `expit(x)` take NumPy arrays
and return
what `scipy.special` returns, with the same dtype. float32 arrays of at least
`MIN_SIZE[name]` elements are computed here in float32 from rational approximations evaluated
with Horner's scheme, a few dozen whole-array NumPy operations into temporaries that each
thread keeps between calls: SciPy computes float32 through float64 element by element, four
to nine times slower on large arrays. Everything else (float64, other dtypes, small arrays,
where SciPy's lower overhead per call wins) goes to `scipy.special`, and so do the negative
arguments of gammaln and digamma (reflection in float32 would lose the relative accuracy near
their zeros on the negative axis; they are computed on the side, like the other rarely taken
branches). erfinv(-0.0) is -0.0 here (SciPy gives +0.0).

The float32 results agree with SciPy's (correctly rounded float32 of float64 values) within
a few units in the last place: `tests/test_special_kernels.py` states the bounds and
`benchmarks/bench_special.py` measures the errors and the speed. The coefficients were fitted
by `benchmarks/fit_special.py` (near-minimax rational fits against SciPy in float64), which
also checks them. Where a function has two formulas, the one most elements need runs over the
whole array and the other over the gathered rest (`np.where` on both would cost as much as ten
multiplications, on top of computing both everywhere).

With numba installed (`functrans.backends.numba_jit`), compiled variants run the same
formulas in the same order of operations (the same results, bit for bit) as a few loops per
array instead of dozens of NumPy calls: 2-4x faster again.
"""
from __future__ import annotations

import threading

import numpy as np

from . import numba_jit

__all__ = ["MIN_SIZE", "digamma", "erf", "erfc", "erfinv", "expit", "gammaln"]

# Below these many elements SciPy's per-call overhead (about a microsecond) beats the dozens of
# NumPy calls a kernel makes (measured crossovers: about 1000 for expit, 3000 for erf and
# erfinv, 5000-6000 for the others).
MIN_SIZE = {"expit": 2048, "erf": 4096, "erfinv": 4096, "erfc": 8192, "gammaln": 8192,
            "digamma": 8192}
# Kernels run over blocks of this many elements with temporaries kept per thread between calls:
# fresh megabyte-sized temporaries cost more in page faults than the arithmetic, and smaller
# blocks more in calls than they save in cache misses.
BLOCK = 262144

_F32 = np.dtype(np.float32)
_SIGN = np.uint32(0x80000000)

# Coefficients, lowest degree first, from benchmarks/fit_special.py (fit errors in 2**-24).
# erf(x) = tanh(x P(x^2) / Q(x^2)) for |x| <= 4 (0.10); x is clipped to 4.5, where the tanh
# argument passes 10, from which NumPy's float32 tanh is exactly 1 (erf rounds to 1 from 3.92).
_ERF_P = (3501.290771484375, 867.6390380859375, 131.96461486816406, 6.720616340637207)
_ERF_Q = (3102.938232421875, 486.3103332519531, 73.23147583007812, 1.0)
# erfc(a) = exp(-a^2) h / (a + h + a P(a) / Q(a)), h = 1/sqrt(pi), for 0 <= a <= 10.5 (0.24).
_ERFC_P = (-9.651476860046387, -8.299369812011719, -3.2823760509490967, -0.5641024112701416)
_ERFC_Q = (26.560306549072266, 34.1065559387207, 20.709400177001953, 6.6993608474731445, 1.0)
_INV_SQRT_PI = 0.5641895835477563
# erfinv(x) = x P(log(1 - x^2)) while log(1 - x^2) >= -5 (0.09) ...
_ERFINV_CENTRAL = (0.8862268924713135, -0.23201382160186768, 0.011548656038939953,
                   0.002334300661459565, -0.00012747629079967737, -4.4561784307006747e-05,
                   3.984508111898322e-06, 1.9767319372476777e-06, 2.2106132746557705e-07,
                   8.792467198759368e-09)
# ... and x P(sqrt(-log(1 - x^2)) - 3) beyond (0.16).
_ERFINV_TAIL = (2.832976818084717, 1.001675009727478, 0.00944533757865429,
                -0.007637485396116972, 0.005686516873538494, -0.003596467664465308,
                0.0014863290125504136, -5.8556626754580066e-05, -0.0003105892683379352,
                0.00011691230611177161)
_ERFINV_SPLIT = -5.0
# gammaln(x) = (x - 1)(x - 2) (A / (x + B) + P(x) / Q(x)) for 0.5 <= x <= 6 (0.45) ...
_LGAMMA_POLE = (1.7756776809692383, 2.009999990463257)
_LGAMMA_P = (0.6934995651245117, 1.5102442502975464, -3.472092866897583, 0.6862891316413879,
             0.037249911576509476, -0.00048361989320255816)
_LGAMMA_Q = (0.5697510242462158, 9.366764068603516, 21.532520294189453, 10.432082176208496, 1.0)
# ... and (x - 1/2)(log x - 1) + (log(2 pi) - 1)/2 + c / (x + k / x) beyond (0.01).
_LGAMMA_STIRLING = (0.08333306759595871, 0.03299659490585327)
_LGAMMA_SPLIT = 6.0
_HALF_LOG_2PI_MINUS_HALF = 0.4189385332046727
# digamma(z) = (z - x0) P(z) / Q(z) for 0.5 <= z <= 2, x0 its zero (0.34) ...
_DIGAMMA_P = (4.107693672180176, 9.491724967956543, 3.0586464405059814, 0.0460539273917675)
_DIGAMMA_Q = (0.001306999591179192, 5.990273952484131, 6.367651462554932, 1.0)
# ... and log x - u/2 - u^2 P(u^2), u = 1/x, for x >= 2 (0.08).
_DIGAMMA_ASYMPTOTIC = (0.08333238959312439, -0.00830012746155262, 0.003561418503522873,
                       -0.0018287814455106854)
_DIGAMMA_SPLIT = 2.0
_DIGAMMA_ROOT = 1.4616321449683623
_DIGAMMA_ROOT_HI = float(np.float32(_DIGAMMA_ROOT))
_DIGAMMA_ROOT_LO = float(np.float32(_DIGAMMA_ROOT - _DIGAMMA_ROOT_HI))


def _horner(coefs, t, out):
    """sum(coefs[k] t**k) into `out` (float32 arithmetic: Python floats are weak scalars)."""
    if coefs[-1] == 1.0:
        np.add(t, coefs[-2], out=out)
    else:
        np.multiply(t, coefs[-1], out=out)
        out += coefs[-2]
    for c in coefs[-3::-1]:
        out *= t
        out += c
    return out


# Each kernel writes f(x) into `out`, using the float32 scratch rows `t` (all of x's length);
# those that compute parts on the side (`_on_part`) leave the last two rows to it.
def _erf32(x, out, t):
    a = np.clip(x, -4.5, 4.5, out=t[0])
    tt = np.multiply(a, a, out=t[1])
    p = _horner(_ERF_P, tt, out)
    p *= a
    p /= _horner(_ERF_Q, tt, a)
    np.tanh(p, out=p)


def _expit32(x, out, t):
    # 1 / (1 + exp(-x)); where exp(-x) overflows (x < -88.7) the sigmoid is exp(x), a
    # subnormal, to float32 precision: those rare elements are computed on the side
    np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)
    if np.fmin.reduce(out) == 0.0:           # NaN arguments left out (min would be NaN)
        tail = np.flatnonzero(out == 0.0)
        out[tail] = np.exp(x[tail])


def _erfc32(x, out, t):
    # erfc(|x|) = exp(-x^2) erfcx(|x|) with exp(-x^2) from float64 (x^2 is exact there; in
    # float32 its rounding would cost up to 100 ulps at x = 10); erfc(x) = 2 - erfc(|x|), x < 0.
    xc = np.clip(x, -10.5, 10.5, out=t[0])
    a = np.abs(xc, out=t[1])
    g = _scratch(1, x.size, np.float64)[0, :x.size]
    np.copyto(g, a)
    g *= g
    np.negative(g, out=g)
    np.exp(g, out=g)
    e = t[3]
    np.copyto(e, g, casting="same_kind")
    # erfcx(a) = h / (a + h + a P(a)/Q(a)): the rational is a correction, damped where it
    # is large against a + h, and 0 at a = 0.
    r = _horner(_ERFC_P, a, out)
    r /= _horner(_ERFC_Q, a, t[2])
    r *= a
    r += a
    r += _INV_SQRT_PI
    np.divide(_INV_SQRT_PI, r, out=r)
    r *= e
    sign = np.bitwise_and(xc.view(np.uint32), _SIGN, out=t[2].view(np.uint32))
    rb = r.view(np.uint32)
    rb ^= sign
    sign >>= 1                               # the sign bit moved onto 2.0's exponent
    r += t[2]


def _erfinv32(x, out, t):
    lg = np.subtract(1.0, x, out=t[0])
    lg *= np.add(x, 1.0, out=t[1])
    np.log(lg, out=lg)                       # log(1 - x^2): -inf at +-1, NaN beyond
    p = _horner(_ERFINV_CENTRAL, lg, out)
    p *= x
    tail = np.less(lg, _ERFINV_SPLIT)
    if tail.any():
        _on_part(x, np.flatnonzero(tail), out, t, _erfinv_tail)


def _erfinv_tail(x, out, t):
    """erfinv for 0.99662 <= |x| <= 1."""
    s = np.subtract(1.0, x, out=t[0])
    s *= np.add(x, 1.0, out=t[1])
    np.log(s, out=s)
    np.negative(s, out=s)
    np.sqrt(s, out=s)
    top = np.isinf(s)
    s -= 3.0
    p = _horner(_ERFINV_TAIL, s, out)
    p *= x
    p[top] = np.inf                          # erfinv(+-1)
    np.copysign(p, x, out=p)


def _lgamma_ratio(z, out, t):
    """R(z) = gammaln(z) / ((z - 1)(z - 2)) into `out`, 0.5 <= z <= 6."""
    pole = np.add(z, _LGAMMA_POLE[1], out=t[0])
    np.divide(_LGAMMA_POLE[0], pole, out=pole)
    r = _horner(_LGAMMA_P, z, out)
    r /= _horner(_LGAMMA_Q, z, t[1])
    r += pole                                # corrected by 8% at most: its errors are damped
    return r


def _lgamma_mid(x, out, t):
    """(x - 1)(x - 2) R(x): the factor keeps the relative accuracy at the zeros 1 and 2."""
    r = _lgamma_ratio(x, out, t)
    ab = np.subtract(x, 1.0, out=t[0])
    ab *= np.subtract(x, 2.0, out=t[1])
    r *= ab


def _lgamma_stirling(x, out, t):
    """Stirling's series, for x >= 6."""
    s = np.log(x, out=out)
    s -= 1.0
    s *= np.subtract(x, 0.5, out=t[0])
    s += _HALF_LOG_2PI_MINUS_HALF
    c = np.divide(_LGAMMA_STIRLING[1], x, out=t[0])
    c += x
    s += np.divide(_LGAMMA_STIRLING[0], c, out=c)


def _gammaln32(x, out, t):
    _by_region(x, out, t, (0.5, _LGAMMA_SPLIT), (_gammaln_small, _lgamma_mid, _lgamma_stirling))


def _gammaln_small(x, out, t):
    """gammaln(x + 1) - log x for 0 <= x < 1/2 (and -0); SciPy's values below 0."""
    r = _lgamma_ratio(np.add(x, 1.0, out=t[2]), out, t)
    f = np.subtract(x, 1.0, out=t[0])
    f *= x
    r *= f
    r -= np.log(x, out=t[1])
    _negative_by_scipy(x, out, "gammaln")


def _digamma_near_root(z, d, out, t):
    """(z - x0) R(z) into `out` for 0.5 <= z <= 2, x0 the zero (split in two floats: `d`
    holds z minus its high part); the factor keeps the relative accuracy at the zero."""
    d -= _DIGAMMA_ROOT_LO
    r = _horner(_DIGAMMA_P, z, out)
    r /= _horner(_DIGAMMA_Q, z, t)
    r *= d
    return r


def _digamma_mid(x, out, t):
    _digamma_near_root(x, np.subtract(x, _DIGAMMA_ROOT_HI, out=t[0]), out, t[1])


def _digamma_asymptotic(x, out, t):
    """log x - 1/(2x) - P(1/x^2) / x^2, for x >= 2."""
    u = np.reciprocal(x, out=t[0])
    uu = np.multiply(u, u, out=t[1])
    s = _horner(_DIGAMMA_ASYMPTOTIC, uu, out)
    s *= uu
    u *= 0.5
    s += u
    lg = np.log(x, out=t[1])
    np.subtract(lg, s, out=out)


def _digamma32(x, out, t):
    _by_region(x, out, t, (0.5, _DIGAMMA_SPLIT), (_digamma_small, _digamma_mid,
                                                   _digamma_asymptotic))


def _digamma_small(x, out, t):
    """digamma(x + 1) - 1/x for 0 <= x < 1/2 (and -0); SciPy's values below 0."""
    z = np.add(x, 1.0, out=t[0])
    r = _digamma_near_root(z, np.subtract(z, _DIGAMMA_ROOT_HI, out=t[1]), out, t[2])
    r -= np.reciprocal(x, out=t[0])
    _negative_by_scipy(x, out, "digamma")


def _on_part(x, at, out, t, kernel):
    """`kernel` over x[at] into out[at]. `t` holds the caller's scratch rows, free by now: the
    last two take the gathered arguments and the values, the others are the kernel's."""
    n = at.size
    vals = t[-1, :n]
    kernel(np.take(x, at, out=t[-2, :n]), vals, t[:-2, :n])
    out[at] = vals


def _by_region(x, out, t, splits, kernels):
    """kernels[0] over x < splits[0], kernels[1] over splits[0] <= x < splits[1], kernels[2]
    over the rest (NaN included), into `out`. The region most elements fall in is computed
    over the whole array, the others over their gathered elements, the same way (which costs
    less than computing every formula everywhere and blending)."""
    low, below = np.less(x, splits[0]), np.less(x, splits[1])
    n_low, n_below = np.count_nonzero(low), np.count_nonzero(below)
    sizes = (n_low, n_below - n_low, x.size - n_below)
    major = sizes.index(max(sizes))
    kernels[major](x, out, t)
    if sizes[major] < x.size:
        rest = (np.logical_not(low) if major == 0 else below if major == 2 else
                np.logical_or(low, np.logical_not(below)))
        _on_part(x, np.flatnonzero(rest), out, t,
                 lambda part, vals, tt: _by_region(part, vals, tt, splits, kernels))


def _negative_by_scipy(x, out, name):
    """SciPy's values at x < 0: reflection in float32 would lose the relative accuracy near the
    zeros on the negative axis."""
    neg = np.flatnonzero(np.less(x, 0.0))
    if neg.size:
        out[neg] = getattr(_scipy(), name)(x[neg])


def _scipy():
    import scipy.special  # imported on first use: importing functrans stays fast
    return scipy.special


_local = threading.local()


def _scratch(count, length, dtype=np.float32):
    """At least `count` rows of at least `length` elements, this thread's, reused between
    calls."""
    name = f"scratch_{np.dtype(dtype).name}"
    buf = getattr(_local, name, None)
    if buf is None or buf.shape[0] < count or buf.shape[1] < length:
        rows = max(count, 1, 0 if buf is None else buf.shape[0])
        buf = np.empty((rows, max(length, 0 if buf is None else buf.shape[1])), dtype)
        setattr(_local, name, buf)
    return buf


# Compiled variants (numba installed, `jit_numba` not False): the formulas above in
# the same order of operations, so the same float32 results bit for bit, with each stretch of
# arithmetic one loop instead of one NumPy call per operation; exp, log and tanh stay NumPy's
# vectorized calls (numba's would be scalar calls into libm).
def _loop_sources():
    """{name: source} of the loops, and the float32 constants they name."""
    consts = {}

    def k(value):
        return consts.setdefault(float(value), f"K{len(consts)}")

    def poly(coefs, t):             # as `_horner` computes it
        c = [k(v) for v in coefs]
        e = f"({t} + {c[-2]})" if coefs[-1] == 1.0 else f"({t} * {c[-1]} + {c[-2]})"
        for ci in c[-3::-1]:
            e = f"({e} * {t} + {ci})"
        return e

    def clip(v, bound):             # np.clip: NaN stays NaN
        hi, lo = k(bound), k(-bound)
        return f"({hi} if {v} > {hi} else ({lo} if {v} < {lo} else {v}))"

    def lgamma_ratio(z):            # `_lgamma_ratio`
        pole = f"{k(_LGAMMA_POLE[0])} / ({z} + {k(_LGAMMA_POLE[1])})"
        return f"({poly(_LGAMMA_P, z)} / {poly(_LGAMMA_Q, z)} + {pole})"

    def digamma_near_root(z):       # `_digamma_near_root`
        d = f"(({z} - {k(_DIGAMMA_ROOT_HI)}) - {k(_DIGAMMA_ROOT_LO)})"
        return f"({poly(_DIGAMMA_P, z)} / {poly(_DIGAMMA_Q, z)} * {d})"

    one, half, zero = k(1.0), k(0.5), k(0.0)
    bodies = {
        "erf_ratio": ("x, out", f"""
        a = {clip("x[i]", 4.5)}
        tt = a * a
        out[i] = {poly(_ERF_P, "tt")} * a / {poly(_ERF_Q, "tt")}"""),
        "erfc_gauss": ("x, g", f"""
        a = float64(abs({clip("x[i]", 10.5)}))
        g[i] = -(a * a)"""),
        "erfc_rest": ("x, g, out", f"""
        xc = {clip("x[i]", 10.5)}
        a = abs(xc)
        r = {poly(_ERFC_P, "a")} / {poly(_ERFC_Q, "a")} * a + a + {k(_INV_SQRT_PI)}
        r = {k(_INV_SQRT_PI)} / r * float32(g[i])
        out[i] = {k(2.0)} - r if xc < {zero} else r"""),
        "erfinv_log_arg": ("x, lg", f"""
        lg[i] = ({one} - x[i]) * (x[i] + {one})"""),
        "erfinv_central": ("x, lg, out", f"""
        out[i] = {poly(_ERFINV_CENTRAL, "lg[i]")} * x[i]
        count += lg[i] < {k(_ERFINV_SPLIT)}"""),
        "gammaln": ("x, lg, out", f"""
        v = x[i]
        if v < {half}:
            z = v + {one}
            r = {lgamma_ratio("z")} * ((v - {one}) * v) - lg[i]
        elif v < {k(_LGAMMA_SPLIT)}:
            r = {lgamma_ratio("v")} * ((v - {one}) * (v - {k(2.0)}))
        else:
            r = ((lg[i] - {one}) * (v - {half}) + {k(_HALF_LOG_2PI_MINUS_HALF)} +
                 {k(_LGAMMA_STIRLING[0])} / ({k(_LGAMMA_STIRLING[1])} / v + v))
        out[i] = r
        count += v < {zero}"""),
        "digamma": ("x, lg, out", f"""
        v = x[i]
        if v < {half}:
            z = v + {one}
            r = {digamma_near_root("z")} - {one} / v
        elif v < {k(_DIGAMMA_SPLIT)}:
            r = {digamma_near_root("v")}
        else:
            u = {one} / v
            uu = u * u
            r = lg[i] - ({poly(_DIGAMMA_ASYMPTOTIC, "uu")} * uu + u * {half})
        out[i] = r
        count += v < {zero}"""),
        "expit_rest": ("out", f"""
        out[i] = {one} / (out[i] + {one})
        count += out[i] == {zero}"""),
    }
    sources = {}
    for name, (params, body) in bodies.items():
        first = params.split(",")[0]
        sources[name] = (f"def {name}({params}):\n    count = 0\n"
                         f"    for i in range({first}.shape[0]):{body}\n    return count\n")
    return sources, {name: np.float32(value) for value, name in consts.items()}


_LOOPS = []


def _loop(name):
    """The compiled loop `name` (returning how many elements it counted)."""
    if not _LOOPS:
        _LOOPS.append(_loop_sources())
    sources, consts = _LOOPS[0]
    return numba_jit.compiled(sources[name], name, consts)


def _erf32_compiled(x, out, t):
    _loop("erf_ratio")(x, out)
    np.tanh(out, out=out)


def _erfc32_compiled(x, out, t):
    g = _scratch(1, x.size, np.float64)[0, :x.size]
    _loop("erfc_gauss")(x, g)
    np.exp(g, out=g)
    _loop("erfc_rest")(x, g, out)


def _erfinv32_compiled(x, out, t):
    lg = t[0]
    _loop("erfinv_log_arg")(x, lg)
    np.log(lg, out=lg)
    if _loop("erfinv_central")(x, lg, out):
        _on_part(x, np.flatnonzero(np.less(lg, _ERFINV_SPLIT)), out, t, _erfinv_tail)


def _gammaln32_compiled(x, out, t):
    lg = np.log(x, out=t[0])
    if _loop("gammaln")(x, lg, out):
        _negative_by_scipy(x, out, "gammaln")


def _digamma32_compiled(x, out, t):
    lg = np.log(x, out=t[0])
    if _loop("digamma")(x, lg, out):
        _negative_by_scipy(x, out, "digamma")


def _expit32_compiled(x, out, t):
    np.negative(x, out=out)
    np.exp(out, out=out)
    if _loop("expit_rest")(out):
        tail = np.flatnonzero(out == 0.0)
        out[tail] = np.exp(x[tail])


def _dispatch(name, kernel, compiled, temporaries):
    def fn(x):
        x = np.asarray(x)
        if x.dtype != _F32 or x.size < MIN_SIZE[name]:
            return getattr(_scipy(), name)(x)
        run = compiled if numba_jit.available() else kernel
        flat = x.reshape(-1)
        out = np.empty(flat.shape, _F32)
        scratch = _scratch(temporaries, min(flat.size, BLOCK))
        with np.errstate(all="ignore"):
            for start in range(0, flat.size, BLOCK):
                stop = min(start + BLOCK, flat.size)
                run(flat[start:stop], out[start:stop], scratch[:, :stop - start])
        return out.reshape(x.shape)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"scipy.special.{name}(x), computed here in float32 for large float32 "
                  "arrays.")
    return fn


erf = _dispatch("erf", _erf32, _erf32_compiled, 2)
erfc = _dispatch("erfc", _erfc32, _erfc32_compiled, 4)
erfinv = _dispatch("erfinv", _erfinv32, _erfinv32_compiled, 4)
gammaln = _dispatch("gammaln", _gammaln32, _gammaln32_compiled, 7)
digamma = _dispatch("digamma", _digamma32, _digamma32_compiled, 7)
expit = _dispatch("expit", _expit32, _expit32_compiled, 0)
