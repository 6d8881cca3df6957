"""The leaf-by-leaf machinery the optimizers share: moments shaped like the parameters,
hyperparameters in each leaf's dtype, and `leafwise`, which maps a function over matching
leaves of gradients, parameters and states (buffers skipped, shapes checked)."""
from __future__ import annotations

import numpy as np

from .. import dtypes, lax
from .. import numpy as fnp
from ..buffers import is_buffer
from ..primitives._util import dtype_of, shape_of
from ..tree_util import keystr, tree_flatten, tree_flatten_with_path, tree_map

__all__ = ["zero_count", "zeros_like", "is_number", "as_dtype", "leafwise", "step_number",
           "step_like", "debiased", "mean_hat", "abs_sq", "pick", "no_update", "buffers_to_none"]


def zero_count():
    """A step count of 0 (int32)."""
    return fnp.zeros((), np.int32)


def zeros_like(params, fill=0.0, dtype=None):
    """A moment shaped like `params` and on their devices, filled with `fill` (None for
    buffers), in `dtype` where given (a Python type meaning the default of its kind, as in
    `astype`), else in each parameter's."""
    dtype = None if dtype is None else dtypes.canonicalize(dtype)

    def leaf(p):
        if is_number(fill):
            return lax.full_like(p, fill, dtype)
        z = lax.full_like(p, 0, dtype)
        return z + as_dtype(fill, z)
    return tree_map(lambda p: None if is_buffer(p) else leaf(p), params, is_leaf=is_buffer)


def is_number(x):
    """Whether `x` is a Python int or float (not a bool)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def as_dtype(value, like):
    """A hyperparameter in the leaf's dtype (Python numbers stay weak scalars)."""
    if isinstance(value, (int, float)):
        return value
    return lax.convert_element_type(value, dtype_of(like))


def leafwise(fn, grads, *trees, outputs, same_shape=True):
    """Apply `fn(g, *others)` to matching leaves; returns `outputs` trees shaped like grads
    (trees given as None are passed as None); buffers, and gradients of None (a buffer's after
    a leafwise transformation), get None in every output whatever the other trees hold there.
    With `same_shape` the other leaves must have their gradient's shape."""
    leaves, treedef = tree_flatten(grads, no_update)
    try:
        others = [[None] * len(leaves) if t is None else treedef.flatten_up_to(t)
                  for t in trees]
    except ValueError as e:
        raise ValueError(f"optimizer update: the parameters or the optimizer state do not "
                         f"have the structure of the gradients: {e}. Pass params shaped like "
                         "grads, and a state made by opt.init(params).") from None
    for i, xs in enumerate(zip(leaves, *others)):
        if same_shape and not no_update(xs[0]) and any(
                x is not None and type(x) is not bool and shape_of(x) != shape_of(xs[0])
                for x in xs[1:]):
            _raise_shape_mismatch(grads, i, xs)
    results = [(None,) * outputs if no_update(xs[0]) else fn(*xs)
               for xs in zip(leaves, *others)]
    return [treedef.unflatten([r[i] for r in results]) for i in range(outputs)]


def no_update(x):
    """Whether an update leaf carries no update: None or a buffer (`is_leaf=` for trees of
    updates)."""
    return x is None or is_buffer(x)


def _raise_shape_mismatch(grads, i, xs):
    path = keystr(tree_flatten_with_path(grads, no_update)[0][i][0]) or "the root"
    k, x = next((k, x) for k, x in enumerate(xs[1:]) if x is not None and type(x) is not bool
                and shape_of(x) != shape_of(xs[0]))
    raise ValueError(f"optimizer update: at {path} the gradient has shape {shape_of(xs[0])} "
                     f"but {'the parameter' if k == 0 else 'the optimizer state'} has shape "
                     f"{shape_of(x)}. Pass gradients of these params, and a state made by "
                     "opt.init(params).")


def step_number(count):
    """The 1-based step number of an update, in float64."""
    return lax.convert_element_type(count + 1, np.float64)


def abs_sq(x):
    """`|x| ** 2` elementwise (`real(conj(x) * x)` for complex `x`)."""
    return fnp.real(fnp.conj(x) * x) if fnp.iscomplexobj(x) else x * x


def step_like(t, x):
    """The step number `t` in the dtype Optax computes its corrections in for a leaf `x`: the
    default float dtype (float32 unless configured), or x's real dtype where that is wider."""
    dtype = dtypes.promote_types(dtypes.default_float_dtype(), dtypes.finfo(dtype_of(x)).dtype)
    return lax.convert_element_type(t, dtype)


def debiased(x, decay, t):
    """`x / (1 - decay ** t)`, the correction computed in `step_like(t, x)`'s dtype (as
    Optax's), divided in x's dtype."""
    t = step_like(t, x)
    return x / as_dtype(1.0 - lax.pow(as_dtype(decay, t), t), x)


def mean_hat(g, m, b1, t, nesterov):
    """The bias-corrected first moment `m` after step `t` (a `step_number`), or with
    `nesterov` Nesterov's look-ahead mean, one step further."""
    if not nesterov:
        return debiased(m, b1, t)
    b = as_dtype(b1, g)
    return b * debiased(m, b1, t + 1.0) + (1.0 - b) * debiased(g, b1, t)


def pick(cond, if_true, if_false):
    """`cond * t + (1 - cond) * f` over matching leaves (Optax's arithmetic select: a NaN in
    the tree not chosen still spreads), `cond` in each leaf's dtype."""
    def leaf(t, f):
        c = fnp.asarray(cond).astype(dtype_of(t))
        return c * t + (1 - c) * f
    return tree_map(leaf, if_true, if_false)


def buffers_to_none(updates):
    """`updates` with None at its buffers, as `leafwise` leaves them: the one structure that
    both branches of a `lax.cond` over updates must share, whichever transformation made
    them."""
    return tree_map(lambda u: None if is_buffer(u) else u, updates, is_leaf=is_buffer)
