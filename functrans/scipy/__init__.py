"""`functrans.scipy`: SciPy-style functions on functrans arrays (differentiable)."""
from . import fft, integrate, linalg, ndimage, optimize, signal, special, stats

__all__ = ["fft", "integrate", "linalg", "ndimage", "optimize", "signal", "special", "stats"]
