"""`functrans.scipy`: SciPy-style functions on functrans arrays (differentiable)."""
from . import special

__all__ = ["special"]
