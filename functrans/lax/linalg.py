"""`ft.lax.linalg`: the linear-algebra primitives on stacks of matrices (defined, with their
rules, in `functrans.primitives.linalg`)."""
from ..primitives.linalg import cholesky, triangular_solve, lu, lu_solve, eigh, eig, svd, qr, geqrf

__all__ = ["cholesky", "triangular_solve", "lu", "lu_solve", "eigh", "eig", "svd", "qr", "geqrf"]
