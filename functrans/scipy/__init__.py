"""`functrans.scipy`: SciPy-style functions on functrans arrays (differentiable)."""
from . import integrate, linalg, ndimage, signal, special, stats

__all__ = ["integrate", "linalg", "ndimage", "signal", "special", "stats"]
