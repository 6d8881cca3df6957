"""`ft.random`: stateless, counter-based pseudo-random numbers (JAX's API and algorithms).

A key is a plain `uint32` array of shape (2,), so it is a pytree leaf that can be passed
through `jit`, `vmap` and `grad` like any array. Nothing is hidden state: the same key always
gives the same numbers, eagerly, under `jit`, per example under `vmap`, on NumPy and CuPy.
Use a key once; derive fresh keys with `split` (or `fold_in` for a step number).

    key = ft.random.key(0)
    key, sub = ft.random.split(key)
    w = ft.random.normal(sub, (3, 4))

`basic` holds the generator, keys and the uniform/normal/discrete basics; `continuous` and
`discrete` the other distributions (gamma, beta, dirichlet, ..., poisson, binomial, ...).
"""
from .basic import *                    # noqa: F401,F403
from .basic import __all__ as _basic_all
from .basic import threefry2x32_p       # noqa: F401
from .continuous import *               # noqa: F401,F403
from .continuous import __all__ as _continuous_all
from .discrete import *                 # noqa: F401,F403
from .discrete import __all__ as _discrete_all

__all__ = list(_basic_all) + list(_continuous_all) + list(_discrete_all)
