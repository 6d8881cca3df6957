"""Gaussian kernel density estimation (SciPy's and JAX's `gaussian_kde`): an immutable
pytree of the data, weights and kernel covariance, so it passes through jit, grad and vmap."""
from __future__ import annotations

import math

import numpy as np

from ... import numpy as fnp
from ... import random
from ...core import on_operand_device
from ...tree_util import register_pytree_node_class, tree_leaves
from .. import special
from ..linalg import cho_factor, cho_solve, cholesky, solve_triangular

__all__ = ["gaussian_kde"]


def _placed_method(f):
    """A method run where the kde's arrays (or its other Array arguments) live."""
    return on_operand_device(f, lambda args, kwargs: tree_leaves((args, kwargs)))


def _placed_init(f):
    return on_operand_device(f, lambda args, kwargs: args[1:] + tuple(kwargs.values()))


@register_pytree_node_class
class gaussian_kde:
    """A Gaussian kernel density estimate of the `dataset` (d, n) (n points of dimension
    d; a 1-d array is n points of one variable), optionally `weights`ed. `bw_method` sets the
    bandwidth factor: "scott" (the default), "silverman", a number, or a function of the
    kde. The kernel covariance is the (weighted) data covariance times the factor squared.

    Attributes as SciPy's: dataset, weights, neff, covariance, inv_cov, d, n. Immutable:
    `set_bandwidth` (which changes the kde in place in SciPy) is not available, as in JAX."""

    @_placed_init
    def __init__(self, dataset, bw_method=None, weights=None):
        dataset = fnp.atleast_2d(dataset)
        if fnp.iscomplexobj(dataset):
            raise NotImplementedError("gaussian_kde: complex data is not supported")
        if dataset.size <= 1:
            raise ValueError(f"gaussian_kde: the dataset needs more than one element, got "
                             f"shape {dataset.shape}")
        d, n = dataset.shape
        if weights is None:
            dataset = fnp.asarray(dataset, dtype=fnp.result_type(dataset, 1.0))
            weights = fnp.full(n, 1.0 / n, dtype=dataset.dtype)
        else:
            weights = fnp.atleast_1d(weights)
            if weights.shape != (n,):
                raise ValueError(f"gaussian_kde: weights must be 1-d of length n = {n} (one "
                                 f"per data point), got shape {weights.shape}")
            dtype = fnp.result_type(dataset, weights, 1.0)
            dataset = fnp.asarray(dataset, dtype=dtype)
            weights = fnp.asarray(weights, dtype=dtype)
            weights = weights / fnp.sum(weights)
        self._set(dataset, weights, 1 / fnp.sum(weights ** 2))
        if bw_method is None or (isinstance(bw_method, str) and bw_method == "scott"):
            factor = self.neff ** (-1.0 / (d + 4))
        elif isinstance(bw_method, str) and bw_method == "silverman":
            factor = (self.neff * (d + 2) / 4.0) ** (-1.0 / (d + 4))
        elif callable(bw_method):
            factor = bw_method(self)
        elif not isinstance(bw_method, str) and fnp.ndim(bw_method) == 0:
            factor = bw_method
        else:
            raise ValueError(f"gaussian_kde: bw_method must be 'scott', 'silverman', a "
                             f"scalar or a function of the kde, got {bw_method!r}")
        data_cov = fnp.atleast_2d(fnp.cov(dataset, rowvar=True, bias=False, aweights=weights))
        object.__setattr__(self, "covariance", data_cov * factor ** 2)
        object.__setattr__(self, "inv_cov", fnp.linalg.inv(data_cov) / factor ** 2)

    def _set(self, dataset, weights, neff):
        object.__setattr__(self, "dataset", dataset)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "neff", neff)

    def __setattr__(self, name, value):
        raise AttributeError(f"gaussian_kde is immutable: cannot set {name!r}; make a new "
                             "gaussian_kde instead")

    def tree_flatten(self):
        return (self.neff, self.dataset, self.weights, self.covariance, self.inv_cov), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        kde = cls.__new__(cls)
        neff, dataset, weights, covariance, inv_cov = children
        kde._set(dataset, weights, neff)
        object.__setattr__(kde, "covariance", covariance)
        object.__setattr__(kde, "inv_cov", inv_cov)
        return kde

    @property
    def d(self):
        """The dimension of the data."""
        return self.dataset.shape[0]

    @property
    def n(self):
        """The number of data points."""
        return self.dataset.shape[1]

    def _points(self, points):
        """`points` as (d, m): a 1-d array of d values is one point (when d > 1)."""
        points = fnp.atleast_2d(points)
        if fnp.iscomplexobj(points):
            raise NotImplementedError("gaussian_kde: complex points are not supported")
        if points.shape[0] != self.d:
            if points.shape == (1, self.d):
                return points.reshape(self.d, 1)
            raise ValueError(f"gaussian_kde: points of shape {points.shape} do not have the "
                             f"dimension {self.d} of the dataset on their first axis")
        return points

    def _log_kernels(self, points):
        """log N(point_j; data_i, covariance) as (m, n)."""
        points = self._points(points)
        chol = cholesky(self.covariance, lower=True)
        white_data = solve_triangular(chol, self.dataset, lower=True)
        white_points = solve_triangular(chol, fnp.asarray(points, self.dataset.dtype),
                                        lower=True)
        sq = fnp.sum((white_points[:, :, None] - white_data[:, None, :]) ** 2, axis=0)
        log_norm = -fnp.sum(fnp.log(fnp.diagonal(chol))) - 0.5 * self.d * math.log(2 * math.pi)
        return log_norm - 0.5 * sq

    @_placed_method
    def evaluate(self, points):
        """The estimated density at `points` (d, m): shape (m,)."""
        return fnp.sum(self.weights * fnp.exp(self._log_kernels(points)), axis=1)

    __call__ = evaluate

    @_placed_method
    def pdf(self, x):
        """The estimated density at `x` (d, m), as `evaluate`."""
        return self.evaluate(x)

    @_placed_method
    def logpdf(self, x):
        """The log of the estimated density at `x` (d, m), accurate far from the data."""
        return special.logsumexp(self._log_kernels(x), axis=1, b=self.weights)

    def _gaussian_overlaps(self, cov, centres):
        """sum_i weight_i N(data_i; centre_k, covariance + cov) for each centre (d, k)."""
        chol = cho_factor(self.covariance + cov, lower=True)
        diff = self.dataset[:, :, None] - centres[:, None, :]            # (d, n, k)
        flat = diff.reshape(self.d, -1)
        maha = fnp.sum(flat * cho_solve(chol, flat), axis=0).reshape(diff.shape[1:])
        norm = (2 * math.pi) ** (self.d / 2) * fnp.prod(fnp.diagonal(chol[0]))
        return fnp.sum(self.weights[:, None] * fnp.exp(-0.5 * maha), axis=0) / norm

    @_placed_method
    def integrate_gaussian(self, mean, cov):
        """The integral of the density times the Gaussian density N(mean, cov)."""
        mean = fnp.atleast_1d(fnp.squeeze(fnp.asarray(mean)))
        cov = fnp.atleast_2d(cov)
        if mean.shape != (self.d,):
            raise ValueError(f"gaussian_kde.integrate_gaussian: mean of shape {mean.shape} "
                             f"does not have the dimension {self.d} of the data")
        if cov.shape != (self.d, self.d):
            raise ValueError(f"gaussian_kde.integrate_gaussian: cov of shape {cov.shape} is "
                             f"not ({self.d}, {self.d})")
        return self._gaussian_overlaps(cov, mean[:, None])[0]

    @_placed_method
    def integrate_box_1d(self, low, high):
        """The integral of a 1-d density from `low` to `high` (scalars)."""
        if self.d != 1:
            raise ValueError(f"gaussian_kde.integrate_box_1d: only for 1-d data, the data "
                             f"have dimension {self.d}; integrate_box is not available")
        if np.ndim(low) != 0 or np.ndim(high) != 0:
            raise ValueError("gaussian_kde.integrate_box_1d: the limits must be scalars, got "
                             f"shapes {np.shape(low)} and {np.shape(high)}")
        sigma = fnp.sqrt(self.covariance[0, 0])
        data = self.dataset[0]
        return fnp.sum(self.weights * (special.ndtr((high - data) / sigma)
                                       - special.ndtr((low - data) / sigma)))

    @_placed_method
    def integrate_kde(self, other):
        """The integral of the product of this density and `other`'s (a gaussian_kde)."""
        if other.d != self.d:
            raise ValueError(f"gaussian_kde.integrate_kde: the kdes have dimensions "
                             f"{self.d} and {other.d}; they must be the same")
        return fnp.sum(self._gaussian_overlaps(other.covariance, other.dataset)
                       * other.weights)

    @_placed_method
    def resample(self, key, shape=()):
        """Samples from the density, shape (d,) + shape: data points drawn by weight, plus
        Gaussian kernel noise."""
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        pick_key, noise_key = random.split(key)
        picked = random.choice(pick_key, self.n, shape=shape, p=self.weights)
        noise = random.multivariate_normal(noise_key, fnp.zeros(self.d, self.dataset.dtype),
                                           self.covariance, shape=shape,
                                           dtype=self.dataset.dtype)
        return self.dataset[:, picked] + fnp.moveaxis(noise, -1, 0)

    def integrate_box(self, low_bounds, high_bounds, maxpts=None):
        """Not available (as in JAX): use `integrate_box_1d` for 1-d data."""
        raise NotImplementedError("gaussian_kde.integrate_box: only 1-d boxes are supported; "
                                  "use integrate_box_1d")

    def set_bandwidth(self, bw_method=None):
        """Not available (as in JAX): the kde is immutable; make a new one with
        `gaussian_kde(kde.dataset, bw_method, kde.weights)`."""
        raise NotImplementedError("gaussian_kde.set_bandwidth: a gaussian_kde is immutable; "
                                  "make a new one: gaussian_kde(kde.dataset, bw_method, "
                                  "kde.weights)")
