"""Hyperparameters held in the optimizer state (Optax's `inject_hyperparams`), where a
training loop can read them (`state.hyperparams["lr"]`, e.g. to log the learning rate) and
change them between steps."""
from __future__ import annotations

import functools
import inspect
from typing import Any, NamedTuple

import numpy as np

from .. import dtypes, lax
from .. import numpy as fnp
from ..primitives._util import dtype_of
from ..tree_util import tree_leaves
from .base import GradientTransformationExtraArgs, displayed, with_extra_args_support

__all__ = ["inject_hyperparams", "InjectHyperparamsState"]


@displayed
class InjectHyperparamsState(NamedTuple):
    count: Any
    hyperparams: Any       # {name: array}: the values the last update used
    inner_state: Any


def _float_dtype(tree):
    """The widest float dtype among the leaves (the default float dtype if there is none)."""
    found = [np.dtype(dtype_of(x)) for x in tree_leaves(tree) if hasattr(x, "dtype")]
    floats = [d for d in found if d.kind == "f"]
    return max(floats, key=lambda d: d.itemsize) if floats else dtypes.default_float_dtype()


def _convert(value, dtype):
    """Float hyperparameters as arrays of `dtype`; integers as integer arrays."""
    if isinstance(value, float):
        return fnp.asarray(value, dtype=dtype)
    if hasattr(value, "dtype") and np.dtype(dtype_of(value)).kind == "f":
        return lax.convert_element_type(fnp.asarray(value), dtype)
    return fnp.asarray(value)


def inject_hyperparams(inner_factory, static_args=(), hyperparam_dtype=None):
    """Wrap an optimizer factory so that its numeric arguments live in the state:
    `opt = inject_hyperparams(ft.optim.adam)(lr=schedule)` makes `state.hyperparams` a dict
    of arrays (`lr`, `eps`, `weight_decay`, ... with defaults included) holding the values the
    last update used; a schedule (any callable argument) is evaluated at each step, and a
    number may be changed between steps by replacing it:
    `state = state._replace(hyperparams={**state.hyperparams, "lr": 1e-4})` (a scheduled
    value is recomputed instead). Bools, tuples (`betas`), strings, pytrees (a mask) and the
    arguments named in `static_args` stay fixed; name there any callable that is not a
    schedule (a mask function) and any number that decides the state's structure or whether
    a term exists (weight decay at 0 then needs no params). Float values take
    `hyperparam_dtype`, by default the widest float dtype of the parameters. Works under
    `jit`: the factory is called with arrays."""
    static_args = {static_args} if isinstance(static_args, str) else set(static_args)
    signature = inspect.signature(inner_factory)
    name = getattr(inner_factory, "__name__", repr(inner_factory))
    unknown = static_args - set(signature.parameters)
    if unknown:
        raise ValueError(f"inject_hyperparams: static_args {sorted(unknown)} are not "
                         f"arguments of {name}; it takes {list(signature.parameters)}")
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in signature.parameters.values()):
        raise TypeError(f"inject_hyperparams: {name} takes *args or **kwargs; wrap it in a "
                        "function with named arguments")

    @functools.wraps(inner_factory)
    def wrapped(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        schedules, numbers, fixed = {}, {}, {}
        for arg, value in bound.arguments.items():
            if arg in static_args or isinstance(value, bool):
                fixed[arg] = value
            elif callable(value):
                schedules[arg] = value
            elif isinstance(value, (int, float)) or hasattr(value, "dtype"):
                numbers[arg] = value
            else:
                fixed[arg] = value

        def current(values, count, dtype):
            out = {k: _convert(v, dtype) for k, v in values.items()}
            out.update({k: _convert(f(count), dtype) for k, f in schedules.items()})
            return out

        def init(params):
            count = fnp.zeros((), np.int32)
            hyperparams = current(numbers, count, hyperparam_dtype or _float_dtype(params))
            return InjectHyperparamsState(
                count, hyperparams, inner_factory(**fixed, **hyperparams).init(params))

        def update(updates, state, params=None, **extra_args):
            hyperparams = current(state.hyperparams, state.count,
                                  hyperparam_dtype or _float_dtype(updates))
            inner = with_extra_args_support(inner_factory(**fixed, **hyperparams))
            updates, inner_state = inner.update(updates, state.inner_state, params,
                                                **extra_args)
            return updates, InjectHyperparamsState(state.count + 1, hyperparams, inner_state)
        return GradientTransformationExtraArgs(init, update)
    return wrapped
