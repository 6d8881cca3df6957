"""`functrans.scipy.integrate`: `trapezoid` (the trapezoidal rule, as numpy.trapezoid)."""
from ..numpy import trapezoid

__all__ = ["trapezoid"]
