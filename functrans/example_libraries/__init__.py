"""`ft.example_libraries`: JAX's `jax.example_libraries`, the small example neural-network
(`stax`) and optimizer (`optimizers`) libraries, with JAX's names, signatures and semantics.

    from functrans.example_libraries import stax, optimizers
"""
