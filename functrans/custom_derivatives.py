"""`functrans.custom_derivatives`: JAX's module of the same name (custom_jvp, custom_vjp,
linear_call and their helpers) gathered in one place."""
from .extra_transforms import custom_gradient, closure_convert
from .higher_order.custom_derivatives import (custom_jvp, custom_vjp, SymbolicZero,
                                              CustomVJPPrimal, custom_jvp_call_p,
                                              custom_vjp_call_p)
from .higher_order.linear_call import linear_call
from .tree_util import tree_map

__all__ = ["custom_jvp", "custom_vjp", "custom_gradient", "closure_convert", "SymbolicZero",
           "CustomVJPPrimal", "zero_from_primal", "custom_jvp_call_p", "custom_vjp_call_p",
           "linear_call"]


def zero_from_primal(val, symbolic_zeros=False):
    """A zero tangent for each leaf of the pytree `val`: zeros of its shape (float0 zeros for
    integer and boolean leaves), or, with `symbolic_zeros`, `SymbolicZero`s."""
    def zero(x):
        z = SymbolicZero.of(x)
        return z if symbolic_zeros else z.instantiate()
    return tree_map(zero, val)
