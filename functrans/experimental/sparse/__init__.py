"""`functrans.experimental.sparse`: JAX's `jax.experimental.sparse` core.

- `BCOO`, the batched coordinate format, with `bcoo_fromdense` / `bcoo_todense`, products
  with dense arrays (`bcoo_dot_general`, `@`), `bcoo_multiply_dense`, `bcoo_reduce_sum`,
  `bcoo_transpose`, `bcoo_sum_duplicates`, `bcoo_sort_indices`, `bcoo_reshape`; `eye`,
  `empty`, `todense`, `fromdense`. A BCOO is a pytree, so jit, vmap (over its batch
  dimensions) and grad (with respect to its `data` and to dense operands) go through it.
- `sparsify(f)`: `f` run with BCOO arguments, each primitive it applies to a sparse value
  dispatched to a sparse implementation.
- `BCSR` (batched compressed rows): `fromdense`, `todense`, `from_bcoo` / `to_bcoo`, `@`.
"""
from .bcoo import (BCOO, bcoo_dot_general, bcoo_fromdense, bcoo_multiply_dense,
                   bcoo_reduce_sum, bcoo_reshape, bcoo_sort_indices, bcoo_sum_duplicates,
                   bcoo_todense, bcoo_transpose, empty, eye, fromdense, todense)
from .bcsr import BCSR, bcsr_fromdense, bcsr_todense
from .transform import sparsify

__all__ = ["BCOO", "BCSR", "bcoo_dot_general", "bcoo_fromdense", "bcoo_multiply_dense",
           "bcoo_reduce_sum", "bcoo_reshape", "bcoo_sort_indices", "bcoo_sum_duplicates",
           "bcoo_todense", "bcoo_transpose", "bcsr_fromdense", "bcsr_todense", "empty", "eye",
           "fromdense", "sparsify", "todense"]
