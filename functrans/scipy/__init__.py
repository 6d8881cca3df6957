"""`functrans.scipy`: SciPy-style functions on functrans arrays (differentiable)."""
from . import integrate, linalg, signal, special, stats

__all__ = ["integrate", "linalg", "signal", "special", "stats"]
