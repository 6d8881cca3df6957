"""`fori_loop`: a Python loop eagerly; under jit a `scan` when the bounds are concrete and a
`while_loop` when they are traced."""
from __future__ import annotations

import functools

import numpy as np

from ... import dtypes
from ...core import (ShapedArray, get_aval, is_concrete, concrete_value, staging_main,
                     on_operand_device)
from ...primitives._util import shape_of, dtype_of
from ...primitives.elementwise import add, lt, convert_element_type
from ...primitives.shape_ops import constant
from ...tree_util import tree_flatten, tree_unflatten
from .common import (check_unroll, as_value, carry_leaves, carry_arrays, conform_carry,
                     trace_carry_body, eager_carry, stage_eagerly, settle_carry, traced)
from .scan import scan_of
from .while_loop import while_loop


@on_operand_device
def fori_loop(lower, upper, body_fun, init_val, *, unroll=None):
    """`val = init_val; for i in range(lower, upper): val = body_fun(i, val)`; returns `val`.

    With concrete bounds this is a `scan` (differentiable in every mode; called outside jit, a
    short loop, or one whose body needs concrete values, runs in Python). With a traced
    bound it is a `while_loop` (reverse mode keeps a record of the iterations, so it works
    under jit without retracing for each trip count). `unroll` is accepted for JAX's code
    and does not change the results.
    """
    if unroll is not None:
        check_unroll("fori_loop", unroll)
    lower, upper = as_value(lower, "fori_loop"), as_value(upper, "fori_loop")
    for b, name in ((lower, "lower"), (upper, "upper")):
        if shape_of(b) != () or not dtypes.is_integer(dtype_of(b)):
            raise TypeError(f"fori_loop: {name} must be an integer scalar, got "
                            f"{get_aval(b).str_short()}")
    index_dtype = np.promote_types(dtype_of(lower), dtype_of(upper))
    if is_concrete(lower) and is_concrete(upper):
        lo, hi = int(concrete_value(lower)), int(concrete_value(upper))
        if staging_main() is None and not stage_eagerly(hi - lo):
            leaves, tree, avals = carry_leaves(init_val, "fori_loop")
            lead = (ShapedArray((), index_dtype),)
            trace_body = functools.partial(trace_carry_body, "fori_loop", body_fun, tree,
                                           lead_avals=lead)
            settle = functools.partial(
                traced, body_fun, ("fori_loop", tree, tuple(avals), lead),
                functools.partial(settle_carry, trace_body, avals))
            leaves, avals = eager_carry(settle, leaves, avals)
            for i in range(lo, hi):
                val = tree_unflatten(tree, leaves)
                out, out_tree = tree_flatten(body_fun(_index(i, index_dtype, leaves), val))
                out = [as_value(x, "fori_loop") for x in out]
                leaves, avals = conform_carry("fori_loop", out, out_tree, avals, tree,
                                              "body_fun")
            return tree_unflatten(tree, carry_arrays(leaves, avals))

        def step(carry, _):
            i, val = carry
            leaves, tree, avals = carry_leaves(val, "fori_loop")
            out, out_tree = tree_flatten(body_fun(i, val))
            out, _ = conform_carry("fori_loop", [as_value(x, "fori_loop") for x in out],
                                   out_tree, avals, tree, "body_fun")
            return (add(i, index_dtype.type(1)), tree_unflatten(tree, out)), None
        (_, val), _ = scan_of(step, (_index(lo, index_dtype, init_val), init_val), None,
                              max(hi - lo, 0), False, (body_fun, "fori_loop scan"))
        return val
    lower = convert_element_type(lower, index_dtype)
    upper = convert_element_type(upper, index_dtype)

    def keep_going(carry):
        return lt(carry[0], carry[1])

    def step(carry):
        i, hi, val = carry
        return add(i, index_dtype.type(1)), hi, body_fun(i, val)
    return while_loop(keep_going, step, (lower, upper, init_val))[2]


def _index(i, dtype, carry):
    """The loop index `i` as an array where the carry's arrays live."""
    leaves = [x for x in tree_flatten(carry)[0] if hasattr(x, "shape")]
    return constant(np.asarray(i, dtype), like=leaves[0] if leaves else None)
