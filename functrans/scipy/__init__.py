"""`functrans.scipy`: SciPy-style functions on functrans arrays (differentiable)."""
from . import special, stats

__all__ = ["special", "stats"]
