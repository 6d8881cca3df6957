"""The shape of a gradient transformation (Optax's): `init(params) -> state` and
`update(updates, state, params=None) -> (updates, state)`; states are pytrees (NamedTuples of
arrays) that print compactly."""
from __future__ import annotations

from typing import Callable, NamedTuple

from .._display import tree_pformat, tree_summary
from ..core import on_operand_device
from ..tree_util import tree_leaves

__all__ = ["GradientTransformation", "GradientTransformationExtraArgs",
           "with_extra_args_support", "EmptyState"]


def require_params(params, name, hint=""):
    """Raise the one error of every transformation whose `update` needs the parameters
    (`name` says which, `hint` may add a way out) when `params` is None."""
    if params is None:
        raise ValueError(f"{name} needs the parameters: call opt.update(grads, state, "
                         f"params){hint}")


class _InitUpdate(NamedTuple):
    init: Callable
    update: Callable


def _leaves(args, kwargs):
    return tree_leaves((args, kwargs))


def on_params_device(f):
    """`f` run with the device of the first array among its arguments' leaves as the default
    device (see `GradientTransformation`)."""
    return on_operand_device(f, _leaves)


class GradientTransformation(_InitUpdate):
    """`init(params) -> state` and `update(grads, state, params=None) -> (updates, state)`.

    Both run with the device of the first array among their arguments as the default
    device, so the states and constants they create (step counts, moments, learning rates)
    sit with parameters put on a GPU while the default device stays the CPU (PyTorch's
    `model.to("cuda")` habit)."""
    __slots__ = ()

    def __new__(cls, init, update):
        return super().__new__(cls, on_params_device(init), on_params_device(update))


class GradientTransformationExtraArgs(GradientTransformation):
    """A GradientTransformation whose `update` also takes keyword arguments
    (`update(grads, state, params=None, **extra_args)`), such as the `value=` that
    `reduce_on_plateau` needs. Combinators (`chain`, `masked`, `multi_transform`,
    `inject_hyperparams`) pass them on to the transformations that take them."""


def with_extra_args_support(tx):
    """`tx` itself if its update takes extra keyword arguments, else a wrapper that drops
    them."""
    if isinstance(tx, GradientTransformationExtraArgs):
        return tx

    def update(updates, state, params=None, **extra_args):
        return tx.update(updates, state, params)
    return GradientTransformationExtraArgs(tx.init, update)


def displayed(cls):
    """Give a state class a compact repr (arrays as `f32[5,3]`, scalars with their value) and a
    Jupyter table of its leaves (`ft.tree_summary`)."""
    cls.__repr__ = tree_pformat
    cls._repr_html_ = lambda self: tree_summary(self, title=type(self).__name__)._repr_html_()
    return cls


@displayed
class EmptyState(NamedTuple):
    pass
