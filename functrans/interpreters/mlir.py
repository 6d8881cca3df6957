"""`register_lowering`, accepted for code written for JAX's `jax.interpreters.mlir`.

functrans does not lower to MLIR/XLA: its `jit` runs a primitive's `impl` (`def_impl`) inside
the compiled program, so a lowering rule is not needed, and one written for JAX (building
`hlo` operations) could not run here. Registering one is accepted and does nothing."""
from __future__ import annotations

from ..core import Primitive

__all__ = ["register_lowering"]


def register_lowering(prim, rule, platform=None, inline=True, cacheable=True):
    """Accept JAX's lowering rule `rule` for `prim` and ignore it: functrans's `jit` runs the
    primitive's `impl` instead (see the module docstring)."""
    if not isinstance(prim, Primitive):
        raise TypeError(f"register_lowering: prim must be a Primitive, got "
                        f"{type(prim).__name__}")
    if not callable(rule):
        raise TypeError(f"register_lowering: the rule for {prim.name} must be callable, got "
                        f"{type(rule).__name__}")
