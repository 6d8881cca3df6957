"""`ft.lax.linalg`: the linear-algebra primitives on stacks of matrices (defined, with their
rules, in `functrans.primitives.linalg`, `linalg_eig` and `linalg_more`), JAX's names
for them (`*_p`), and the functions `functrans.lax.linalg_jax` and `linalg_qdwh` build from them."""
from ..primitives.linalg import (cholesky, triangular_solve, lu, lu_solve, qr, geqrf,
                                 cholesky_p, triangular_solve_p, lu_p, eigh_p, svd_p, qr_p,
                                 geqrf_p)
from ..primitives.linalg_eig import eig, eig_p
from ..primitives.linalg_more import (hessenberg, tridiagonal, schur, tridiagonal_solve,
                                      lu_pivots_to_permutation, hessenberg_p, tridiagonal_p,
                                      schur_p, tridiagonal_solve_p, lu_pivots_to_permutation_p)
from .linalg_jax import (eigh, svd, householder_product, ormqr, cholesky_update,
                         symmetric_product, EigImplementation, EighImplementation,
                         SvdAlgorithm)
from .linalg_qdwh import qdwh

__all__ = ["cholesky", "triangular_solve", "lu", "lu_solve", "eigh", "eig", "svd", "qr", "geqrf",
           "hessenberg", "tridiagonal", "schur", "tridiagonal_solve", "lu_pivots_to_permutation",
           "householder_product", "ormqr", "cholesky_update", "symmetric_product", "qdwh",
           "EigImplementation", "EighImplementation", "SvdAlgorithm",
           "cholesky_p", "triangular_solve_p", "lu_p", "eigh_p", "eig_p", "svd_p", "qr_p",
           "geqrf_p", "hessenberg_p", "tridiagonal_p", "schur_p", "tridiagonal_solve_p",
           "lu_pivots_to_permutation_p"]
