"""`functrans.scipy.sparse`: iterative linear solvers (`sparse.linalg`)."""
from . import linalg

__all__ = ["linalg"]
