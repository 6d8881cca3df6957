"""`ft.flatten_util.ravel_pytree` (JAX's `jax.flatten_util`): a pytree of arrays as one 1-D
array, and the function that splits such an array back into the pytree."""
from __future__ import annotations

import numpy as np

from . import dtypes, lax
from .numpy._conversion import asarray
from .primitives._util import shape_of, dtype_of
from .tree_util import tree_flatten, tree_unflatten

__all__ = ["ravel_pytree"]


class _Unravel:
    """flat (n,) -> the pytree. Hashable and comparable (by structure, shapes and dtypes),
    so it can be a static argument of `jit`."""

    def __init__(self, treedef, shapes, from_dtypes, to_dtype):
        self.treedef, self.shapes = treedef, shapes
        self.from_dtypes, self.to_dtype = from_dtypes, to_dtype
        self.size = sum(int(np.prod(s)) for s in shapes)

    def _key(self):
        return (self.treedef, self.shapes, self.from_dtypes, self.to_dtype)

    def __hash__(self):
        return hash(self._key())

    def __eq__(self, other):
        return isinstance(other, _Unravel) and self._key() == other._key()

    def __repr__(self):
        return f"unravel_pytree({self.treedef}, size={self.size})"

    def __call__(self, flat):
        flat = asarray(flat)
        if shape_of(flat) != (self.size,):
            raise ValueError(f"unravel_pytree: expected a 1-D array of size {self.size} (the "
                             f"raveled pytree's length), got shape {shape_of(flat)}")
        mixed = self.to_dtype is not None
        if mixed and dtype_of(flat) != self.to_dtype:
            raise TypeError(f"unravel_pytree: got an array of dtype {dtype_of(flat)}, but the "
                            f"pytree was raveled to {self.to_dtype} (its leaves have mixed "
                            f"dtypes); convert with .astype({self.to_dtype.name}) first")
        leaves, start = [], 0
        for shape, dtype in zip(self.shapes, self.from_dtypes):
            size = int(np.prod(shape))
            piece = lax.reshape(lax.slice_in_dim(flat, start, start + size), shape)
            if mixed and dtype != self.to_dtype:
                if dtype_of(piece).kind == "c" and dtype.kind != "c":
                    piece = lax.real(piece)           # as JAX: the imaginary part is dropped
                piece = lax.convert_element_type(piece, dtype)
            leaves.append(piece)
            start += size
        return tree_unflatten(self.treedef, leaves)


def ravel_pytree(pytree):
    """`(flat, unravel)`: the leaves of `pytree` raveled and concatenated into one 1-D array
    (of their promoted dtype; an empty float32 array for a pytree without leaves), and
    `unravel(flat)` giving back the pytree, each leaf with its shape and dtype. Where all
    leaves share one dtype, `unravel` takes any dtype (it converts nothing); with mixed
    dtypes it needs the promoted one. Both directions work under jit, vmap and grad."""
    leaves, treedef = tree_flatten(pytree)
    arrays = [asarray(leaf) for leaf in leaves]
    if not arrays:
        return asarray(np.zeros((0,), np.float32)), _Unravel(treedef, (), (), None)
    from_dtypes = tuple(dtype_of(a) for a in arrays)
    to_dtype = dtypes.result_type(*from_dtypes)
    shapes = tuple(shape_of(a) for a in arrays)
    mixed = any(d != to_dtype for d in from_dtypes)
    pieces = [lax.reshape(a, (int(np.prod(shape_of(a))),)) for a in arrays]
    if mixed:
        pieces = [lax.convert_element_type(p, to_dtype) for p in pieces]
    flat = pieces[0] if len(pieces) == 1 else lax.concatenate(pieces, 0)
    return flat, _Unravel(treedef, shapes, from_dtypes, to_dtype if mixed else None)
