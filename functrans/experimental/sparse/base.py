"""`JAXSparse`, the base class of the sparse array formats (BCOO, BCSR), as in JAX."""
from __future__ import annotations

import math

__all__ = ["JAXSparse"]


class JAXSparse:
    """Base of the sparse arrays: each stores `data` and has a static `shape`;
    `isinstance(x, JAXSparse)` tells a sparse array from a dense one."""
    __array_priority__ = 100

    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: math.prod(self.shape))

    def block_until_ready(self):
        """Wait for the stored arrays' computations; returns `self`."""
        for leaf in vars(self).values():
            if hasattr(leaf, "block_until_ready"):
                leaf.block_until_ready()
        return self
