"""Optax's `optax.experimental`: `aggregating`, transformations that take per-example
gradients (a leading batch axis on every leaf) and aggregate them, accumulate them over
microbatches, or track their mean and variance.

    from functrans.optim.experimental import aggregating
"""
from . import aggregating

__all__ = ["aggregating"]
