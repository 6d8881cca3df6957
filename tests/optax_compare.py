"""Comparing functrans's Optax API with Optax's, for the tests."""
import numpy as np

import functrans as ft
import functrans.numpy as fnp


def assert_gradients_match_jax(ours, theirs, floats, rng, rtol, atol):
    """`ours` (functrans) and `theirs` (the same function in JAX), differentiated at the
    arrays `floats` in every argument under one random cotangent, agree within rtol/atol."""
    import jax
    import jax.numpy as jnp
    weights = rng.standard_normal(np.shape(theirs(*map(jnp.asarray, floats))))
    argnums = tuple(range(len(floats)))
    our_grads = ft.grad(lambda *xs: fnp.sum(ours(*xs) * weights), argnums)(
        *map(fnp.asarray, floats))
    their_grads = jax.grad(lambda *xs: jnp.sum(theirs(*xs) * weights), argnums)(
        *map(jnp.asarray, floats))
    for a, b in zip(our_grads, their_grads, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)
