"""The primitive objects under JAX's names (`jax.extend.core.primitives`): those of `ft.lax`,
`ft.lax.linalg`'s and the call primitives."""
from ...lax.primitive_objects import *      # noqa: F401,F403
from ...lax.primitive_objects import __all__ as _lax_names
from ...lax.linalg import (cholesky_p, eig_p, eigh_p, hessenberg_p, lu_p, qr_p, schur_p,
                           svd_p, triangular_solve_p, tridiagonal_p, tridiagonal_solve_p)
from ...higher_order.custom_derivatives import custom_jvp_call_p, custom_vjp_call_p
from ...higher_order.remat import name_p
from ...jit import jit_p
from ...random.basic import threefry2x32_p

__all__ = _lax_names + [
    "cholesky_p", "eig_p", "eigh_p", "hessenberg_p", "lu_p", "qr_p", "schur_p", "svd_p",
    "triangular_solve_p", "tridiagonal_p", "tridiagonal_solve_p", "custom_jvp_call_p",
    "custom_vjp_call_p", "name_p", "jit_p", "threefry2x32_p"]
