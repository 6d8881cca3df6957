"""Applying a transformation to part of the parameters (Optax's `masked` and
`multi_transform`): masks and labels are pytrees with the structure of the parameters (or a
prefix of it), or functions of the parameters that return one."""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..buffers import is_buffer
from ..tree_util import (keystr, tree_flatten_with_path, tree_leaves_with_path, tree_map,
                         tree_structure, treedef_is_leaf)
from .base import GradientTransformationExtraArgs, displayed, with_extra_args_support

__all__ = ["masked", "multi_transform", "MaskedNode", "MaskedState",
           "MultiTransformState"]


@displayed
class MaskedNode(NamedTuple):
    """Stands where a masked-out subtree was: a pytree node without leaves, so the inner
    transformation neither sees nor keeps state for it."""


@displayed
class MaskedState(NamedTuple):
    inner_state: Any


@displayed
class MultiTransformState(NamedTuple):
    inner_states: Any      # {label: MaskedState}


def is_tree_function(mask) -> bool:
    """Whether `mask` is a function to call on the parameters (a callable pytree, such as a
    module of bools, is a mask itself)."""
    return callable(mask) and treedef_is_leaf(tree_structure(mask))


def split(mask_tree, tree, who, what, noun="the mask"):
    """`(treedef, [(flag, subtree)])`: each leaf of `mask_tree` with the subtree of `tree` it
    covers; errors name the path where the structures part. Buffers (non-trainable state) are
    always masked out, whatever the mask holds there."""
    flat, treedef = tree_flatten_with_path(mask_tree, is_leaf=is_buffer)
    try:
        subtrees = treedef.flatten_up_to(tree)
    except ValueError as e:
        raise ValueError(f"{who}: {noun} does not match the structure of the {what}: {e}. "
                         "Give a pytree with the structure of the params (or a prefix of "
                         f"it), or a function params -> such a pytree") from None
    flags = []
    for path, flag in flat:
        if is_buffer(flag):
            flags.append(False)
            continue
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{who}: the mask has {type(flag).__name__} {flag!r} at "
                            f"{keystr(path) or 'the root'}; its leaves must be Python bools, "
                            "fixed when the optimizer is built (an array would be traced "
                            "under jit)")
        flags.append(bool(flag))
    return treedef, list(zip(flags, subtrees))


def _hide(treedef, pairs):
    return treedef.unflatten([sub if flag else MaskedNode() for flag, sub in pairs])


def _masked(inner, mask, who, noun="the mask"):
    inner = with_extra_args_support(inner)

    def mask_of(tree):
        return mask(tree) if is_tree_function(mask) else mask

    def init(params):
        return MaskedState(inner.init(_hide(*split(mask_of(params), params, who, "params",
                                                   noun))))

    def update(updates, state, params=None, **extra_args):
        treedef, pairs = split(mask_of(updates), updates, who, "updates", noun)
        inner_params = None
        if params is not None:
            flags = [flag for flag, _ in pairs]
            _, param_pairs = split(treedef.unflatten(flags), params, who, "params", noun)
            inner_params = _hide(treedef, param_pairs)
        new, inner_state = inner.update(_hide(treedef, pairs), state.inner_state,
                                        inner_params, **extra_args)
        new_subtrees = treedef.flatten_up_to(new)
        out = treedef.unflatten([n if flag else old
                                 for (flag, old), n in zip(pairs, new_subtrees)])
        return out, MaskedState(inner_state)
    return GradientTransformationExtraArgs(init, update)


def masked(inner, mask):
    """Apply `inner` only where `mask` is True; elsewhere the updates pass through unchanged
    and `inner` keeps no state (Optax's `masked`). `mask` is a pytree of Python bools with the
    structure of the params or a prefix of it (a bool for a whole subtree), or a function
    returning one (called on the params in `init` and on the updates in `update`), e.g.
    `masked(add_decayed_weights(1e-4), lambda p: ft.tree_map(lambda x: x.ndim > 1, p))`."""
    return _masked(inner, mask, "masked")


def multi_transform(transforms, param_labels):
    """A different transformation for each group of parameters (Optax's `multi_transform`,
    PyTorch's parameter groups): `transforms` maps labels to transformations and
    `param_labels` is a pytree of labels with the structure of the params (or a prefix of it),
    or a function params -> such a pytree, e.g.
    `multi_transform({"body": adam(1e-4), "head": adam(1e-3)}, {"body": "body", "head":
    "head"})`. `set_to_zero()` as a group's transformation freezes it."""
    transforms = {label: with_extra_args_support(t) for label, t in transforms.items()}

    def masks(tree):
        labels = param_labels(tree) if is_tree_function(param_labels) else param_labels
        for path, label in tree_leaves_with_path(labels):
            try:
                known = label in transforms
            except TypeError:
                known = False
            if not known:
                raise ValueError(f"multi_transform: the label {label!r} at "
                                 f"{keystr(path) or 'the root'} has no transformation; "
                                 f"the transforms are for {sorted(map(repr, transforms))}")
        return {group: tree_map(lambda label, g=group: label == g, labels)
                for group in transforms}     # in the order of `transforms`

    def groups(tree):
        return {group: _masked(t, mask, "multi_transform", "param_labels")
                for (group, t), mask in zip(transforms.items(), masks(tree).values())}

    def init(params):
        return MultiTransformState({group: t.init(params) for group, t in groups(params).items()})

    def update(updates, state, params=None, **extra_args):
        new_states = {}
        for group, t in groups(updates).items():
            updates, new_states[group] = t.update(updates, state.inner_states[group], params,
                                                  **extra_args)
        return updates, MultiTransformState(new_states)
    return GradientTransformationExtraArgs(init, update)

