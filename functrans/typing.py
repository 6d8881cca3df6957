"""JAX's `jax.typing`: the annotations code written for JAX imports (`ArrayLike` for what
functions take as arrays, `DTypeLike` for what they take as dtypes)."""
from __future__ import annotations

from typing import Any, Union

import numpy as np

from .array import Array

__all__ = ["ArrayLike", "DTypeLike"]

ArrayLike = Union[Array, np.ndarray, np.bool_, np.number, bool, int, float, complex]
DTypeLike = Union[str, type[Any], np.dtype]
