"""`functrans.scipy`: SciPy-style functions on functrans arrays (differentiable)."""
from . import linalg, special, stats

__all__ = ["special", "stats"]
