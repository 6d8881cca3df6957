"""`functrans.experimental.sparse`: JAX's `jax.experimental.sparse` core.

- `BCOO`, the batched coordinate format, with `bcoo_fromdense` / `bcoo_todense`, products
  (`bcoo_dot_general`, `@`: with a dense operand a dense result, of two BCOO arrays a BCOO),
  `bcoo_multiply_dense`, `bcoo_reduce_sum`, `bcoo_transpose`, `bcoo_sum_duplicates`,
  `bcoo_sort_indices`; the structural operations `bcoo_reshape`, `bcoo_squeeze`,
  `bcoo_slice`, `bcoo_dynamic_slice`, `bcoo_concatenate`, `bcoo_broadcast_in_dim`,
  `bcoo_gather` (and NumPy indexing, `M[i]`), `bcoo_update_layout`, `bcoo_rev`; `eye`,
  `empty`, `todense`, `fromdense`, `random_bcoo`; `bcoo_extract` (a dense array's entries at
  a BCOO's indices), `bcoo_multiply_sparse` (BCOO * BCOO) and `bcoo_dot_general_sampled`.
  A BCOO is a pytree, so jit, vmap (over its batch dimensions) and grad (with respect to its
  `data` and to dense operands) go through it.
- `grad`, `value_and_grad`, `jacfwd`, `jacrev`, `jacobian`: sparse-aware derivatives
  (with respect to a sparse argument's stored data, in its sparsity pattern).
- `sparsify(f)`: `f` run with BCOO arguments, each primitive it applies to a sparse value
  dispatched to a sparse implementation.
- `JAXSparse`, the base class of the formats; the older unbatched `COO`, `CSR`, `CSC`
  (`fromdense`, `todense`, `@`, `.T`) with `coo_*` / `csr_*` functions.
- `BCSR` (batched compressed rows): `fromdense`, `todense`, `from_bcoo` / `to_bcoo`, `@`;
  `bcsr_dot_general`, `bcsr_extract`, `bcsr_broadcast_in_dim`, `bcsr_concatenate`,
  `bcsr_sum_duplicates`.
"""
from .ad import grad, jacfwd, jacobian, jacrev, value_and_grad
from .base import JAXSparse
from .bcoo import (BCOO, bcoo_dot_general, bcoo_fromdense, bcoo_multiply_dense,
                   bcoo_reduce_sum, bcoo_sort_indices, bcoo_sum_duplicates, bcoo_todense,
                   bcoo_transpose, empty, eye, fromdense, todense)
from .bcoo_extra import (bcoo_dot_general_sampled, bcoo_extract, bcoo_multiply_sparse,
                         bcoo_rev, random_bcoo)
from .bcoo_ops import (SparseEfficiencyError, SparseEfficiencyWarning, bcoo_broadcast_in_dim,
                       bcoo_concatenate, bcoo_dynamic_slice, bcoo_gather, bcoo_reshape,
                       bcoo_slice, bcoo_squeeze, bcoo_update_layout)
from .bcsr import (BCSR, bcsr_broadcast_in_dim, bcsr_concatenate, bcsr_dot_general, bcsr_extract,
                   bcsr_fromdense, bcsr_sum_duplicates, bcsr_todense)
from .legacy import (COO, CSC, CSR, coo_fromdense, coo_matmat, coo_matvec, coo_todense,
                     csr_fromdense, csr_matmat, csr_matvec, csr_todense)
from .transform import sparsify

__all__ = ["BCOO", "BCSR", "COO", "CSC", "CSR", "JAXSparse", "SparseEfficiencyError",
           "SparseEfficiencyWarning",
           "bcoo_broadcast_in_dim", "bcoo_concatenate", "bcoo_dot_general",
           "bcoo_dot_general_sampled", "bcoo_dynamic_slice", "bcoo_extract", "bcoo_fromdense",
           "bcoo_gather", "bcoo_multiply_dense", "bcoo_multiply_sparse", "bcoo_reduce_sum",
           "bcoo_reshape", "bcoo_rev", "bcoo_slice", "bcoo_sort_indices", "bcoo_squeeze",
           "bcoo_sum_duplicates", "bcoo_todense", "bcoo_transpose", "bcoo_update_layout",
           "bcsr_broadcast_in_dim", "bcsr_concatenate", "bcsr_dot_general", "bcsr_extract",
           "bcsr_fromdense", "bcsr_sum_duplicates", "bcsr_todense", "coo_fromdense",
           "coo_matmat", "coo_matvec", "coo_todense", "csr_fromdense", "csr_matmat",
           "csr_matvec", "csr_todense", "empty", "eye", "fromdense", "grad", "jacfwd",
           "jacobian", "jacrev", "random_bcoo", "sparsify", "todense", "value_and_grad"]
