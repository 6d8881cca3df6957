"""Derive the float32 approximations used by `functrans/backends/special.py`.

Each kernel there evaluates rational functions (or polynomials) whose coefficients were fitted
by this script and pasted in, rounded to float32. Run it to re-derive them (about 20 s), or to
check that the module's constants are what it derives:

    python benchmarks/fit_special.py [--check]

The fit is a near-minimax rational approximation on a dense grid: the linearized least-squares
problem  w(x) (P(x) - f(x) Q(x)) / Q_prev(x) ~ 0  is solved repeatedly (the Sanathanan-Koerner
iteration), with Lawson's reweighting pushing the weights towards the points of largest error.
Reference values come from SciPy in float64, far more accurate than the float32 targets. Only
NumPy and SciPy are used. `tests/test_special_kernels.py` checks the resulting kernels against
SciPy (the errors in ulps are what matters; this script prints the fit errors in units of
2**-24, i.e. half a float32 ulp at 1).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import scipy.special as sc

EPS32 = 2.0 ** -24
# The positive zero of the digamma function (x0 with psi(x0) = 0), to 25 digits.
DIGAMMA_ROOT = 1.4616321449683623412626595
HALF_LOG_2PI = 0.5 * np.log(2 * np.pi)


def fit_rational(t, f, p_deg, q_deg, weight=None, iters=300, lawson=0.3):
    """Near-minimax P(t)/Q(t) ~ f(t) on the points `t` with Q(0) = 1; `weight` scales the error
    (1/|f| for relative error). Returns (p, q, max weighted error), coefficients lowest first."""
    t = np.asarray(t, np.float64)
    f = np.asarray(f, np.float64)
    w = np.ones_like(t) if weight is None else np.asarray(weight, np.float64)
    scale = max(1.0, np.abs(t).max())
    ts = t / scale
    vp = ts[:, None] ** np.arange(p_deg + 1)
    vq = ts[:, None] ** np.arange(1, q_deg + 1)
    lw = np.ones_like(t)
    q_prev = np.ones_like(t)
    best = None
    for _ in range(iters):
        rw = w * np.sqrt(lw) / np.abs(q_prev)
        a = np.hstack([vp, -f[:, None] * vq]) * rw[:, None]
        sol = np.linalg.lstsq(a, f * rw, rcond=None)[0]
        pc, qc = sol[:p_deg + 1], np.concatenate([[1.0], sol[p_deg + 1:]])
        q_prev = np.hstack([np.ones((len(t), 1)), vq]) @ qc
        err = w * ((vp @ pc) / q_prev - f)
        m = np.abs(err).max()
        if best is None or m < best[2]:
            best = (pc / scale ** np.arange(p_deg + 1), qc / scale ** np.arange(q_deg + 1), m)
        lw = np.maximum(lw * (np.abs(err) / m) ** lawson, 1e-12)
        lw /= lw.max()
    return best


def best_pole(t, f):
    """(a, b), float32-representable, with a / (t + b) closest to f in relative terms."""
    best = None
    for b in np.linspace(0.01, 10, 1000):
        basis = 1 / (t + b)
        a = np.sum(basis / f) / np.sum((basis / f) ** 2)
        err = np.abs(a * basis / f - 1).max()
        if best is None or err < best[2]:
            best = (a, b, err)
    return float(np.float32(best[0])), float(np.float32(best[1]))


def monic(p, q):
    """The same rational with the denominator's leading coefficient 1 (saves a multiply)."""
    return p / q[-1], q / q[-1]


def fits():
    """{module constant name: (coefficients lowest first, fit error in units of 2**-24)}."""
    out = {}

    # erf(x) = tanh(x P(x^2) / Q(x^2)) on |x| <= 4: g = atanh(erf) grows smoothly, and tanh
    # damps g's error where erf approaches 1. Weight: erf's relative error per g's. (The kernel
    # clips x to 4.5, where the extrapolated g passes 10 and NumPy's float32 tanh gives 1.)
    x = np.concatenate([np.linspace(0, 4, 6000)[1:], np.linspace(1e-4, 0.05, 200)])
    e = sc.erf(x)
    g = np.arctanh(e)
    p, q, m = fit_rational(x * x, g / x, 3, 3, weight=(1 - e * e) * g / e)
    p, q = monic(p, q)
    out["_ERF_P"], out["_ERF_Q"] = (p, m), (q, m)

    # erfc(a) = exp(-a^2) erfcx(a) for a >= 0, with erfcx(a) = h / (a + h + a P(a) / Q(a)) and
    # h = 1/sqrt(pi): the rational is a correction that vanishes at 0 and is small against
    # a + h for large a, so its rounding errors are damped. Up to a = 10.5 (erfc underflows
    # float32 beyond); weight: erfc's relative error where it is normal, absolute below.
    h = 1 / np.sqrt(np.pi)
    a = np.linspace(0, 10.5, 12000)[1:]
    s = h / sc.erfcx(a)
    tiny = 2.0 ** -126
    w = np.where(sc.erfc(a) > tiny, a / s, a / s * sc.erfc(a) / tiny)
    p, q, m = fit_rational(a, (s - a - h) / a, 3, 4, weight=w)
    p, q = monic(p, q)
    out["_ERFC_P"], out["_ERFC_Q"] = (p, m), (q, m)

    # erfinv(x) = x P(log(1 - x^2)) for -log(1 - x^2) <= 5 (|x| <= 0.99662), and
    # x P(sqrt(-log(1 - x^2)) - 3) beyond (up to the float32 number below 1).
    xmax = np.sqrt(1 - np.exp(-5.0))
    x = np.linspace(1e-4, xmax, 8000)
    lg = np.log((1 - x) * (1 + x))
    f = sc.erfinv(x) / x
    p, _, m = fit_rational(lg, f, 9, 0, weight=1 / f)
    out["_ERFINV_CENTRAL"] = (p, m)
    x = np.concatenate([np.linspace(xmax, 0.99999, 3000), 1 - np.geomspace(1e-5, 2 ** -25, 3000)])
    s = np.sqrt(-np.log((1 - x) * (1 + x)))
    f = sc.erfinv(x) / x
    p, _, m = fit_rational(s - 3, f, 9, 0, weight=1 / f)
    out["_ERFINV_TAIL"] = (p, m)

    # lgamma(z) = (z - 1)(z - 2) R(z) on 0.5 <= z <= 6 (the factor keeps the relative accuracy
    # at the zeros 1 and 2), R(z) = A / (z + B) + P(z) / Q(z): the best single pole leaves a
    # rational correction within 8% of R, whose rounding errors are damped accordingly.
    z = np.linspace(0.5, 6.0, 8000)
    z = z[(np.abs(z - 1) > 1e-6) & (np.abs(z - 2) > 1e-6)]
    r = sc.gammaln(z) / ((z - 1) * (z - 2))
    pole_a, pole_b = best_pole(z, r)
    p, q, m = fit_rational(z, r - pole_a / (z + pole_b), 5, 4, weight=1 / r)
    p, q = monic(p, q)
    out["_LGAMMA_POLE"] = ((pole_a, pole_b), m)
    out["_LGAMMA_P"], out["_LGAMMA_Q"] = (p, m), (q, m)
    # Stirling beyond: lgamma(x) - ((x - 1/2)(log x - 1) + (log(2 pi) - 1)/2) ~ c / (x + k/x).
    x = np.concatenate([np.linspace(6, 40, 4000), np.geomspace(40, 1e6, 1000)])
    u = 1 / x
    stirling = (x - 0.5) * (np.log(x) - 1) + (HALF_LOG_2PI - 0.5)
    binet = np.where(x > 30, u * (1 / 12 - u * u / 360 + u ** 4 / 1260 - u ** 6 / 1680),
                     sc.gammaln(x) - stirling)
    p, q, m = fit_rational(u * u, binet / u, 0, 1, weight=u / sc.gammaln(x))
    out["_LGAMMA_STIRLING"] = ((p[0], q[1]), m)

    # digamma(z) = (z - x0) P(z) / Q(z) on 0.5 <= z <= 2 (x0: the zero), and for x >= 2
    # log x - 1/(2x) - u^2 P(u^2), u = 1/x.
    z = np.linspace(0.5, 2.0, 8000)
    z = z[np.abs(z - DIGAMMA_ROOT) > 1e-7]
    f = sc.digamma(z) / (z - DIGAMMA_ROOT)
    p, q, m = fit_rational(z, f, 3, 3, weight=1 / np.abs(f))
    p, q = monic(p, q)
    out["_DIGAMMA_P"], out["_DIGAMMA_Q"] = (p, m), (q, m)
    x = np.concatenate([np.linspace(2, 40, 4000), np.geomspace(40, 1e6, 1000)])
    u2 = 1 / (x * x)
    series = u2 * (1 / 12 - u2 / 120 + u2 ** 2 / 252 - u2 ** 3 / 240 + u2 ** 4 / 132)
    rest = np.where(x > 30, series, np.log(x) - 0.5 / x - sc.digamma(x))
    p, _, m = fit_rational(u2, rest / u2, 3, 0, weight=u2 / np.abs(sc.digamma(x)))
    out["_DIGAMMA_ASYMPTOTIC"] = (p, m)
    return {name: (tuple(float(np.float32(v)) for v in c), err)
            for name, (c, err) in out.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with functrans.backends.special's constants")
    args = parser.parse_args(argv)
    derived = fits()
    if args.check:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
        from functrans.backends import special
        differ = [n for n, (c, _) in derived.items() if tuple(getattr(special, n)) != c]
        print("constants differ: " + ", ".join(differ) if differ else
              f"all {len(derived)} constants match")
        return 1 if differ else 0
    for name, (c, err) in derived.items():
        print(f"# fit error {err / EPS32:.3f} x 2**-24")
        print(f"{name} = ({', '.join(repr(v) for v in c)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
