"""`ft.experimental`: JAX's `jax.experimental` names that functrans has.

- `io_callback(callback, result_shape_dtypes, *args, ordered=False, **kwargs)`: a host
  callback with side effects (see `functrans.callbacks`).
- `checkify`: JAX's functional error checking (`checkify.checkify`, `checkify.check`, ...).
- `ode.odeint` (`import functrans.experimental.ode`): JAX's adaptive Dormand-Prince solver.
- `sparse` (`from functrans.experimental import sparse`): BCOO arrays and `sparsify`.
- `jet` (`from functrans.experimental.jet import jet, jet2`): Taylor-mode series propagation.
"""
from ..callbacks import io_callback
from . import checkify

__all__ = ["io_callback", "checkify"]
