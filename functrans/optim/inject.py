"""Hyperparameters held in the optimizer state (Optax's `inject_hyperparams`), where a
training loop can read them (`state.hyperparams["lr"]`, e.g. to log the learning rate) and
change them between steps."""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, NamedTuple, Protocol, runtime_checkable

import numpy as np

from .. import dtypes, lax
from .. import numpy as fnp
from ..primitives._util import dtype_of
from ..tree_util import tree_leaves
from .base import GradientTransformationExtraArgs, displayed, with_extra_args_support

__all__ = ["inject_hyperparams", "InjectHyperparamsState", "inject_stateful_hyperparams",
           "InjectStatefulHyperparamsState", "Schedule", "StatefulSchedule", "WrappedSchedule",
           "WrappedScheduleState"]

Schedule = Callable[[Any], Any]


@displayed
class InjectHyperparamsState(NamedTuple):
    count: Any
    hyperparams: Any       # {name: array}: the values the last update used
    inner_state: Any


@displayed
class InjectStatefulHyperparamsState(NamedTuple):
    count: Any
    hyperparams: Any
    hyperparams_states: Any    # {name: the state of its StatefulSchedule}
    inner_state: Any


@runtime_checkable
class StatefulSchedule(Protocol):
    """A schedule with a state of its own (Optax's): `init() -> state`,
    `update(state, **extra_args) -> state` and `__call__(state, **extra_args) -> value`; the
    extra arguments are those given to the optimizer's update (a loss `value=`, say)."""

    def init(self):
        ...

    def update(self, state, **extra_args):
        ...

    def __call__(self, state, **extra_args):
        ...


@displayed
class WrappedScheduleState(NamedTuple):
    count: Any


class WrappedSchedule:
    """A schedule of the step count `schedule_fn(count)` as a StatefulSchedule whose state is
    the count."""

    def __init__(self, schedule_fn):
        self.schedule_fn = schedule_fn

    def init(self):
        return WrappedScheduleState(fnp.zeros((), np.int32))

    def update(self, state, **extra_args):
        return WrappedScheduleState(state.count + 1)

    def __call__(self, state, **extra_args):
        return self.schedule_fn(state.count)


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
    `jit`: the factory is called with arrays. For schedules with a state of their own, see
    `inject_stateful_hyperparams`."""
    return _injector(inner_factory, static_args, hyperparam_dtype, stateful=False,
                     who="inject_hyperparams")


def inject_stateful_hyperparams(inner_factory, static_args=(), hyperparam_dtype=None):
    """`inject_hyperparams` that also takes StatefulSchedules (objects with `init`, `update`
    and `__call__`, fed the optimizer's extra arguments such as `value=`); the state is an
    InjectStatefulHyperparamsState, with each schedule's state in `hyperparams_states` (a
    plain schedule's is its WrappedSchedule's count). Optax 0.2.8 deprecates this name in
    favour of its `inject_hyperparams`, which does the same; functrans's `inject_hyperparams`
    keeps the lighter InjectHyperparamsState and takes plain schedules only."""
    return _injector(inner_factory, static_args, hyperparam_dtype, stateful=True,
                     who="inject_stateful_hyperparams")


def _injector(inner_factory, static_args, hyperparam_dtype, stateful, who):
    static_args = {static_args} if isinstance(static_args, str) else set(static_args)
    signature = inspect.signature(inner_factory)
    name = getattr(inner_factory, "__name__", repr(inner_factory))
    unknown = static_args - set(signature.parameters)
    if unknown:
        raise ValueError(f"{who}: static_args {sorted(unknown)} are not arguments of {name}; "
                         f"it takes {list(signature.parameters)}")
    if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in signature.parameters.values()):
        raise TypeError(f"{who}: {name} takes *args or **kwargs; wrap it in a function with "
                        "named arguments")

    @functools.wraps(inner_factory)
    def wrapped(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        schedules, numbers, fixed = {}, {}, {}
        for arg, value in bound.arguments.items():
            if arg in static_args or isinstance(value, bool):
                fixed[arg] = value
            elif stateful and isinstance(value, StatefulSchedule):
                schedules[arg] = value
            elif callable(value):
                schedules[arg] = WrappedSchedule(value)
            elif isinstance(value, (int, float)) or hasattr(value, "dtype"):
                numbers[arg] = value
            else:
                fixed[arg] = value

        def current(values, schedule_states, dtype, extra_args):
            out = {k: _convert(v, dtype) for k, v in values.items()}
            out.update({k: _convert(f(schedule_states[k], **extra_args), dtype)
                        for k, f in schedules.items()})
            return out

        def init(params):
            count = fnp.zeros((), np.int32)
            schedule_states = {k: f.init() for k, f in schedules.items()}
            hyperparams = current(numbers, schedule_states,
                                  hyperparam_dtype or _float_dtype(params), {})
            inner_state = inner_factory(**fixed, **hyperparams).init(params)
            if stateful:
                return InjectStatefulHyperparamsState(count, hyperparams, schedule_states,
                                                      inner_state)
            return InjectHyperparamsState(count, hyperparams, inner_state)

        def update(updates, state, params=None, **extra_args):
            # a plain schedule's state is the step count, kept once in the lighter state
            schedule_states = state.hyperparams_states if stateful else {
                k: WrappedScheduleState(state.count) for k in schedules}
            hyperparams = current(state.hyperparams, schedule_states,
                                  hyperparam_dtype or _float_dtype(updates), extra_args)
            inner = with_extra_args_support(inner_factory(**fixed, **hyperparams))
            updates, inner_state = inner.update(updates, state.inner_state, params,
                                                **extra_args)
            if stateful:
                schedule_states = {k: f.update(schedule_states[k], **extra_args)
                                   for k, f in schedules.items()}
                return updates, InjectStatefulHyperparamsState(
                    state.count + 1, hyperparams, schedule_states, inner_state)
            return updates, InjectHyperparamsState(state.count + 1, hyperparams, inner_state)
        return GradientTransformationExtraArgs(init, update)
    return wrapped
