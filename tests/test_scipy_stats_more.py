"""The distributions added to functrans.scipy.stats in stop 23 against scipy.stats: values
(including points outside the support and invalid parameters), and derivatives."""
import numpy as np
import pytest
import scipy.stats as st

import functrans.numpy as fnp
import functrans.scipy.stats as fs
from functrans.test_util import check_grads

# log(0) and friends inside branches that `where` then discards (as NumPy warns for them)
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

X = np.array([-1.0, 0.0, 0.3, 1.0, 1.7, 2.5, 4.0, 9.0])
K = np.array([-1.0, 0.0, 1.0, 2.0, 3.0, 2.5, 6.0, 11.0])

CONTINUOUS = [  # module name, args, functions
    ("chi2", (3.0,), ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf")),
    ("chi2", (2.0, 0.5, 1.5), ("logpdf", "cdf", "sf")),
    ("pareto", (2.5,), ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf")),
    ("pareto", (1.5, -0.5, 2.0), ("logpdf", "cdf", "sf")),
    ("gumbel_r", (), ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf")),
    ("gumbel_r", (0.5, 2.0), ("logpdf", "cdf", "sf")),
    ("gumbel_l", (), ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf")),
    ("gumbel_l", (-0.5, 1.5), ("logpdf", "cdf", "sf")),
    ("vonmises", (2.0,), ("logpdf", "pdf")),
    ("wrapcauchy", (0.4,), ("logpdf", "pdf")),
]


@pytest.mark.parametrize("name,args,fns", CONTINUOUS, ids=lambda v: str(v))
def test_continuous_match_scipy(name, args, fns):
    x = X if name not in ("vonmises", "wrapcauchy") else np.linspace(-1.0, 7.0, 9)
    for fn in fns:
        got = np.asarray(getattr(getattr(fs, name), fn)(x, *args))
        want = getattr(getattr(st, name), fn)(x, *args)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-300, err_msg=f"{name}.{fn}")
    if hasattr(getattr(fs, name), "ppf"):
        q = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
        np.testing.assert_allclose(getattr(fs, name).ppf(q, *args),
                                   getattr(st, name).ppf(q, *args), rtol=1e-10)


DISCRETE = [("geom", (0.3,)), ("geom", (1.0,)), ("binom", (10.0, 0.35)), ("binom", (5.0, 0.0)),
            ("nbinom", (3.0, 0.4)), ("nbinom", (2.5, 0.7)), ("betabinom", (10.0, 2.0, 3.5))]


@pytest.mark.parametrize("name,args", DISCRETE, ids=lambda v: str(v))
def test_discrete_match_scipy(name, args):
    for fn in ("logpmf", "pmf"):
        got = np.asarray(getattr(getattr(fs, name), fn)(K, *args))
        want = getattr(getattr(st, name), fn)(K, *args)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-300, err_msg=f"{name}.{fn}")


def test_invalid_parameters_give_nan():
    assert np.isnan(float(fs.chi2.logpdf(1.0, -1.0)))
    assert np.isnan(float(fs.geom.pmf(2.0, 1.5)))
    assert np.isnan(float(fs.binom.pmf(2.0, 3.5, 0.5)))
    assert np.isnan(float(fs.vonmises.pdf(0.3, -1.0)))
    assert np.isnan(float(fs.wrapcauchy.pdf(0.3, 1.0)))


def test_dirichlet_and_multinomial_match_scipy():
    alpha = np.array([1.5, 2.0, 0.7])
    x = np.array([[0.2, 0.5, 0.1], [0.3, 0.25, 0.6], [0.5, 0.25, 0.3]])
    for fn in ("logpdf", "pdf"):
        np.testing.assert_allclose(getattr(fs.dirichlet, fn)(x, alpha),
                                   getattr(st.dirichlet, fn)(x, alpha), rtol=1e-10)
    np.testing.assert_allclose(fs.dirichlet.logpdf(x[:2], alpha),
                               st.dirichlet.logpdf(x, alpha), rtol=1e-10)
    assert float(fs.dirichlet.logpdf(np.array([0.5, 0.6, 0.1]), alpha)) == -np.inf
    counts = np.array([[1.0, 2.0, 3.0], [0.0, 6.0, 0.0], [2.0, 2.0, 1.0]])
    p = np.array([0.2, 0.5, 0.3])
    for fn in ("logpmf", "pmf"):
        np.testing.assert_allclose(getattr(fs.multinomial, fn)(counts[:2], 6.0, p),
                                   getattr(st.multinomial, fn)(counts[:2], 6, p), rtol=1e-10)
    assert float(fs.multinomial.logpmf(counts[2], 6.0, p)) == -np.inf


def test_derivatives_in_parameters():
    check_grads(lambda df: fs.chi2.logpdf(fnp.asarray(X[2:]), df), (np.float64(3.5),),
                order=2, modes=("fwd", "rev"))
    check_grads(lambda p: fs.binom.logpmf(fnp.asarray(K[1:5]), 10.0, p), (np.float64(0.3),),
                order=2, modes=("fwd", "rev"))
    check_grads(lambda a: fs.dirichlet.logpdf(np.array([0.2, 0.5, 0.3]), a),
                (np.array([1.5, 2.0, 0.7]),), order=2, modes=("fwd", "rev"))
    check_grads(lambda k: fs.vonmises.logpdf(np.array([0.1, 2.0]), k), (np.float64(1.3),),
                order=2, modes=("fwd", "rev"))
