"""Advanced (integer-array and boolean-mask) indexing."""
from __future__ import annotations


def advanced_getitem(x, idx):
    raise NotImplementedError("advanced (array) indexing is being implemented")
