"""Helpers of the discrete distributions: the points a probability mass function is
defined at."""
from __future__ import annotations

from ... import numpy as fnp


def integer_in(k, low, high=None):
    """Where `k` is an integer in [low, high] (no upper bound when high is None)."""
    ok = (k == fnp.floor(k)) & (k >= low)
    return ok if high is None else ok & (k <= high)
