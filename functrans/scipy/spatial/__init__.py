"""`ft.scipy.spatial`: as `jax.scipy.spatial`, the `transform` module (Rotation, Slerp)."""
from . import transform

__all__ = ["transform"]
