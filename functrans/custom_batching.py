"""`ft.custom_batching`: functions with their own vmap rule (`custom_vmap`) or batched by a
loop (`sequential_vmap`), as `jax.custom_batching`."""
from .higher_order.custom_batching import custom_vmap, sequential_vmap

__all__ = ["custom_vmap", "sequential_vmap"]
