"""`ft.extend`, as `jax.extend`: what code extending the library builds on. `core` holds the
jaxpr data structures and the primitive objects, for writing interpreters of jaxprs."""
from . import core

__all__ = ["core"]
