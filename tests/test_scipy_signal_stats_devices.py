"""functrans.scipy.signal / stats / special with their operands on a non-default device (the
stand-in GPU of tests/fakegpu.py, the cpu the default): every public function is called with
its first array on the GPU and the other arguments as NumPy data or Python numbers
(uncommitted: they must join it), eagerly and under jit. The results must land on the GPU
and equal those computed on the cpu; a few gradients too."""
from __future__ import annotations

import inspect
import types

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
import functrans.scipy.signal as fsig
import functrans.scipy.special as fspecial
import functrans.scipy.stats as fstats

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

X = np.array([-1.0, 0.0, 0.3, 1.0, 1.7, 2.5, 4.0])
Q = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
K = np.array([-1.0, 0.0, 1.0, 2.0, 3.0, 2.5, 6.0])
U = np.array([0.1, 0.25, 0.5, 0.75, 0.9])

# distribution module -> the arguments after the first (x, k or q)
DIST_ARGS = {
    "norm": (0.5, 2.0), "bernoulli": (0.3,), "poisson": (2.5,), "beta": (2.0, 3.0),
    "gamma": (2.5, 0.1, 1.5), "t": (3.0, 0.2), "uniform": (-0.5, 3.0),
    "logistic": (0.5, 1.5), "expon": (0.1, 2.0), "cauchy": (0.3,), "laplace": (0.2, 1.5),
    "chi2": (3.0,), "geom": (0.3,), "binom": (10.0, 0.35), "nbinom": (3.0, 0.4),
    "betabinom": (10.0, 2.0, 3.5), "pareto": (2.5,), "gumbel_r": (0.5, 2.0),
    "gumbel_l": (-0.5, 1.5), "vonmises": (2.0,), "wrapcauchy": (0.4,),
    "truncnorm": (-1.0, 2.0, 0.1, 1.2), "gennorm": (1.5,),
}
FIRST = {"logpmf": K, "pmf": K, "ppf": Q, "isf": Q}


def _public_functions(module):
    return sorted(n for n, f in vars(module).items() if not n.startswith("_")
                  and inspect.isfunction(f) and f.__module__.startswith(module.__name__))


def _cases():
    """(id, function, args): one call of every public function of the modules."""
    cases = []
    for name, rest in DIST_ARGS.items():
        module = getattr(fstats, name)
        for fn in _public_functions(module):
            first = FIRST.get(fn, X)
            if name in ("bernoulli", "binom", "betabinom") and fn in ("cdf", "sf", "logcdf",
                                                                      "logsf"):
                first = K
            cases.append((f"{name}.{fn}", getattr(module, fn), (first,) + rest))
    cov = np.array([[2.0, 0.3], [0.3, 1.0]])
    pts = np.array([[0.1, -0.4], [1.0, 2.0], [-0.5, 0.3]])
    for fn in ("logpdf", "pdf"):
        cases += [
            (f"multivariate_normal.{fn}", getattr(fstats.multivariate_normal, fn),
             (pts, np.array([0.2, -0.1]), cov)),
            (f"multivariate_normal.{fn}[diag]", getattr(fstats.multivariate_normal, fn),
             (pts, None, np.array([2.0, 0.5]))),
            (f"dirichlet.{fn}", getattr(fstats.dirichlet, fn),
             (np.array([0.2, 0.3, 0.5]), np.array([1.5, 2.0, 3.0]))),
        ]
    for fn in ("logpmf", "pmf"):
        cases.append((f"multinomial.{fn}", getattr(fstats.multinomial, fn),
                      (np.array([1.0, 2.0, 3.0]), 6.0, np.array([0.2, 0.3, 0.5]))))
    data = np.array([[1.0, 3.0, 2.0, 3.0], [0.5, 0.5, 4.0, -1.0], [2.0, 2.0, 2.0, 7.0]])
    cases += [("sem", fstats.sem, (data,)), ("rankdata", fstats.rankdata, (data[0],)),
              ("mode", fstats.mode, (data,))]
    sig = np.sin(np.linspace(0.0, 6.0, 40)) + np.linspace(0.0, 1.0, 40)
    kernel = np.array([0.25, 0.5, 0.25, 0.1])
    spectra = fsig.stft(sig, nperseg=16)[2]
    img, k2 = data, np.array([[1.0, -1.0], [0.5, 2.0]])
    cases += [("signal.convolve", fsig.convolve, (sig, kernel)),
              ("signal.correlate", fsig.correlate, (sig, kernel, "valid")),
              ("signal.convolve2d", fsig.convolve2d, (img, k2, "same")),
              ("signal.correlate2d", fsig.correlate2d, (img, k2, "same")),
              ("signal.fftconvolve", fsig.fftconvolve, (sig, kernel)),
              ("signal.detrend", fsig.detrend, (sig,)),
              ("signal.detrend[bp]", lambda x: fsig.detrend(x, bp=[10, 25]), (sig,)),
              ("signal.detrend[constant]", lambda x: fsig.detrend(x, type="constant"), (sig,)),
              ("signal.stft", lambda x: fsig.stft(x, 2.0, nperseg=16, boundary="odd"), (sig,)),
              ("signal.istft", lambda z: fsig.istft(z, 2.0), (np.asarray(spectra),)),
              ("signal.welch", lambda x: fsig.welch(x, 2.0, nperseg=16, average="median"),
               (sig,)),
              ("signal.csd", lambda x, y: fsig.csd(x, y, nperseg=8), (sig, sig[::-1]))]
    cases += [(f"special.{name}", getattr(fspecial, name), (np.abs(X) + 0.5,))
              for name in ("exp1", "expi", "loggamma")]
    cases += [("special.expn", lambda x: fspecial.expn(2, x), (np.abs(X) + 0.5,)),
              ("special.multigammaln", lambda a: fspecial.multigammaln(a, 3), (X + 2.0,)),
              ("special.comb", lambda n: fspecial.comb(n, 2.0, repetition=True), (X + 2.0,)),
              ("special.boxcox", fspecial.boxcox, (np.abs(X), np.resize([0.0, 0.5], 7))),
              ("special.boxcox1p", fspecial.boxcox1p, (X, 0.0))]
    return cases


CASES = _cases()


def _leaves(out):
    return ft.tree_util.tree_leaves(out)


def _check_on(out, want, device, where):
    for got, ref in zip(_leaves(out), _leaves(want)):
        assert got.device is device, f"{where}: result on {got.device}"
        np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=1e-12, atol=1e-300,
                                   equal_nan=True, err_msg=where)


@pytest.mark.parametrize("cid,f,args", CASES, ids=[c[0] for c in CASES])
def test_operands_on_a_non_default_device(fake_gpus, cid, f, args):
    dev = fake_gpus[0]
    want = f(*args)
    first = ft.device_put(args[0], dev)
    _check_on(f(first, *args[1:]), want, dev, f"{cid} eager")
    rest = args[1:]
    _check_on(ft.jit(lambda a: f(a, *rest))(first), want, dev, f"{cid} jit")


def test_all_cases_cover_every_public_function():
    covered = {c[1] for c in CASES}
    for name in fstats.__all__:
        module = getattr(fstats, name)
        if isinstance(module, types.ModuleType):
            for fn in _public_functions(module):
                assert getattr(module, fn) in covered, f"{name}.{fn}"
    for fn in fsig.__all__:
        assert any(c[0].split("[")[0] == f"signal.{fn}" for c in CASES), fn


GRADS = [
    ("norm.logcdf", lambda x: fnp.sum(fstats.norm.logcdf(x, 0.5, 2.0)), X),
    ("gamma.logpdf", lambda x: fnp.sum(fstats.gamma.logpdf(x, 2.5, -2.0, 1.5)), X),
    ("t.cdf", lambda x: fnp.sum(fstats.t.cdf(x, 3.0)), X),
    ("truncnorm.logcdf", lambda x: fnp.sum(fstats.truncnorm.logcdf(x, -1.0, 2.0)), U),
    ("poisson.logpmf[mu]", lambda mu: fnp.sum(fstats.poisson.logpmf(K, mu)), np.array(2.5)),
    ("multivariate_normal.logpdf", lambda c: fnp.sum(fstats.multivariate_normal.logpdf(
        np.array([[0.1, -0.4], [1.0, 2.0]]), np.array([0.2, -0.1]), c)),
     np.array([[2.0, 0.3], [0.3, 1.0]])),
    ("signal.correlate", lambda x: fnp.sum(fsig.correlate(x, np.array([0.5, 1.0, -1.0])) ** 2),
     X),
    ("signal.detrend", lambda x: fnp.sum(fsig.detrend(x, bp=[3]) ** 2), X),
    ("signal.welch", lambda x: fnp.sum(fsig.welch(x, nperseg=4, detrend="linear")[1]), X),
    ("signal.istft", lambda x: fnp.sum(fsig.istft(fsig.stft(x, nperseg=4)[2])[1] ** 2), X),
    ("special.xlogy", lambda x: fnp.sum(fspecial.xlogy(x, 2.0)), X),
    ("special.expn", lambda x: fnp.sum(fspecial.expn(0, x) + fspecial.expi(x)), np.abs(X) + 1),
    ("special.boxcox", lambda x: fnp.sum(fspecial.boxcox(x, np.array([0.0, 1.5]))), U[:2]),
]


@pytest.mark.parametrize("cid,f,x", GRADS, ids=[c[0] for c in GRADS])
def test_gradients_on_a_non_default_device(fake_gpus, cid, f, x):
    dev = fake_gpus[0]
    want = ft.grad(f)(x)
    _check_on(ft.grad(f)(ft.device_put(x, dev)), want, dev, cid)
    _check_on(ft.jit(ft.grad(f))(ft.device_put(x, dev)), want, dev, f"{cid} jit")


def test_gaussian_kde_on_a_non_default_device(fake_gpus):
    dev = fake_gpus[0]
    data = np.array([[0.1, 0.5, -0.3, 1.2, 0.8, -1.0], [0.3, -0.2, 0.4, 1.0, -0.6, 0.2]])
    pts = np.array([[0.0, 0.5, 1.0], [0.2, -0.1, 0.3]])
    weights = np.array([1.0, 2.0, 1.0, 0.5, 1.0, 1.0])
    kde, ref = (fstats.gaussian_kde(d, "silverman", weights)
                for d in (ft.device_put(data, dev), data))
    assert all(leaf.device is dev for leaf in ft.tree_util.tree_leaves(kde))
    for name in ("evaluate", "logpdf"):
        _check_on(getattr(kde, name)(pts), getattr(ref, name)(pts), dev, name)
        _check_on(ft.jit(lambda k, p: getattr(k, name)(p))(kde, pts),
                  getattr(ref, name)(pts), dev, f"{name} jit")
    _check_on(kde.integrate_gaussian(np.zeros(2), np.eye(2)),
              ref.integrate_gaussian(np.zeros(2), np.eye(2)), dev, "integrate_gaussian")
    _check_on(kde.integrate_kde(fstats.gaussian_kde(ft.device_put(pts, dev))),
              ref.integrate_kde(fstats.gaussian_kde(pts)), dev, "integrate_kde")
    one = fstats.gaussian_kde(ft.device_put(data[0], dev))
    _check_on(one.integrate_box_1d(-0.5, 0.5),
              fstats.gaussian_kde(data[0]).integrate_box_1d(-0.5, 0.5), dev, "box")
    assert kde.resample(ft.device_put(ft.random.key(0), dev), (3,)).device is dev
    g = ft.grad(lambda d: fnp.sum(fstats.gaussian_kde(d).logpdf(pts)))
    _check_on(g(ft.device_put(data, dev)), g(data), dev, "grad")
