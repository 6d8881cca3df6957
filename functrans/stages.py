"""JAX's `jax.stages`: the ahead-of-time stages of a jitted function, `jit(f).trace(*args)`
(`Traced`), `.lower()` (`Lowered`) and `.compile()` (`Compiled`), and what they describe."""
from __future__ import annotations

from typing import Any, Protocol

from .jit_stages import ArgInfo, Compiled, Lowered, Traced

__all__ = ["ArgInfo", "Compiled", "CompilerOptions", "Lowered", "Traced", "Wrapped"]

CompilerOptions = dict[str, Any]


class Wrapped(Protocol):
    """A function ready to be traced, lowered and compiled: what `jit` returns."""

    def __call__(self, *args, **kwargs): ...

    def trace(self, *args, **kwargs) -> Traced: ...

    def lower(self, *args, **kwargs) -> Lowered: ...
