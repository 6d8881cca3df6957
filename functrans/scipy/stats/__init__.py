"""`functrans.scipy.stats`: probability distributions with SciPy's function names and
arguments (`norm.logpdf(x, loc, scale)`, `gamma.cdf(x, a)`, ...), differentiable, batchable
and jittable. Invalid parameters give NaN and points outside the support -inf log-density,
as in SciPy."""
from . import (norm, multivariate_normal, bernoulli, poisson, beta, gamma, t, uniform,
               logistic, expon, cauchy, laplace, chi2, geom, binom, nbinom, betabinom, pareto,
               gumbel_r, gumbel_l, vonmises, wrapcauchy, dirichlet, multinomial, truncnorm,
               gennorm)
from ._descriptive import sem, rankdata, mode, ModeResult
from ._kde import gaussian_kde

__all__ = ["norm", "multivariate_normal", "bernoulli", "poisson", "beta", "gamma", "t",
           "uniform", "logistic", "expon", "cauchy", "laplace", "chi2", "geom", "binom",
           "nbinom", "betabinom", "pareto", "gumbel_r", "gumbel_l", "vonmises", "wrapcauchy",
           "dirichlet", "multinomial", "truncnorm", "gennorm", "sem", "rankdata", "mode",
           "ModeResult", "gaussian_kde"]
