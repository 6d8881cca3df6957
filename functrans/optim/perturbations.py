"""Optax's `optax.perturbations`: a smooth, differentiable stand-in for a function that may be
piecewise constant (an argmax, a ranking), by averaging it over random perturbations of its
input (Berthet et al. 2020, "Learning with Differentiable Perturbed Optimizers"):

    smooth = make_perturbed_fun(hard_fn, num_samples=1000, sigma=0.1)
    y, g = smooth(key, x), ft.grad(lambda x: fnp.sum(smooth(key, x)))(x)
"""
from __future__ import annotations

from .. import lax, random
from .. import numpy as fnp
from ..api import vmap
from ..tree_util import tree_map
from .tree_utils import tree_add_scale, tree_random_like, tree_scale, tree_sum

__all__ = ["Normal", "Gumbel", "make_perturbed_fun"]


class Normal:
    """The standard normal noise: `sample` draws it, `log_prob` is its log-density up to a
    constant, `-x**2 / 2`."""

    def sample(self, key, sample_shape=(), dtype=None):
        return random.normal(key, sample_shape, dtype)

    def log_prob(self, inputs):
        return -0.5 * inputs ** 2


class Gumbel:
    """The standard Gumbel noise: `sample` draws it, `log_prob` is its log-density,
    `-x - exp(-x)`."""

    def sample(self, key, sample_shape=(), dtype=None):
        return random.gumbel(key, sample_shape, dtype)

    def log_prob(self, inputs):
        return -inputs - fnp.exp(-inputs)


def _magic_box(x):
    """1 in value, with the derivatives of exp(x) (DiCE's operator, Foerster et al. 2018)."""
    return fnp.exp(x - lax.stop_gradient(x))


def make_perturbed_fun(fun, num_samples=1000, sigma=0.1, noise=Gumbel(), use_baseline=True):
    """`f(key, x)`: a Monte-Carlo estimate, over `num_samples` draws `z` of `noise` (an object
    with `sample(key, shape, dtype)` and `log_prob(z)`, such as `Gumbel()` or `Normal()`), of
    `E[fun(x + sigma * z)]` for a pytree `x`. Its derivatives of every order are the score-
    function estimates of those of the expectation, so `fun` needs values only, never
    derivatives. With `use_baseline`, `fun(x)` is subtracted inside the estimate of the
    derivatives (lower variance, same mean)."""
    def estimate(key, x):
        baseline = fun(lax.stop_gradient(x)) if use_baseline else None

        def one_sample(key):
            z = tree_random_like(key, x, sampler=noise.sample)
            shifted = lax.stop_gradient(tree_map(lambda xi, zi: xi + sigma * zi, x, z))
            # the noise recovered from the fixed shifted point: a function of x for the
            # derivatives
            z = tree_map(lambda xi, yi: (yi - xi) / sigma, x, shifted)
            box = _magic_box(tree_sum(tree_map(noise.log_prob, z)))
            out = tree_scale(box, fun(shifted))
            return tree_add_scale(out, 1 - box, baseline) if use_baseline else out

        outs = vmap(one_sample)(random.split(key, num_samples))
        return tree_map(lambda o: fnp.mean(o, axis=0), outs)
    return estimate
