"""Splitting a model's leaves in two and merging them back (Equinox's `partition` and
`combine`): freeze part of a model by differentiating only the other part."""
from __future__ import annotations

import inspect

from .. import dtypes
from ..tree_util import tree_flatten, tree_flatten_with_path, tree_unflatten, tree_map
from .module import is_array

__all__ = ["partition", "combine", "is_array", "is_inexact_array"]


def is_inexact_array(value):
    """Whether `value` is an array of floats or complex numbers (the leaves a derivative is
    taken for): Equinox's `is_inexact_array`."""
    return is_array(value) and dtypes.is_inexact(value.dtype)


def partition(tree, predicate, replace=None, is_leaf=None):
    """Split `tree` into `(selected, rest)` of the same structure; the other side holds
    `replace` (None) at each leaf. `combine` undoes it. `predicate` chooses each leaf's side:
    - `predicate(path, leaf)` (`path` is its key path; `ft.tree_util.keystr(path)` renders
      it, e.g. '.fc.weight'), or
    - as Equinox's `filter_spec`: `predicate(leaf)` (e.g. `ft.nn.is_array`), or a pytree
      prefix of `tree` holding bools or such functions for its subtrees.

    Freeze all but the classifier:

        train, frozen = ft.nn.partition(model, lambda p, _: keystr(p).startswith(".fc"))
        grads = ft.grad(lambda t: loss(ft.nn.combine(t, frozen), x, y))(train)
    """
    if callable(predicate) and _takes_path(predicate):
        pairs, treedef = tree_flatten_with_path(tree, is_leaf)
        leaves = [leaf for _, leaf in pairs]
        chosen = [bool(predicate(path, leaf)) for path, leaf in pairs]
    else:
        # a filter spec: broadcast over the subtree below each of its leaves
        try:
            per_leaf = tree_map(lambda spec, sub: tree_map(
                lambda leaf: bool(spec(leaf) if callable(spec) else spec), sub,
                is_leaf=is_leaf), predicate, tree, is_leaf=lambda x: x is None)
        except ValueError as e:
            raise ValueError(f"partition: the filter spec must be a prefix of the tree's "
                             f"structure, with bools or predicates at its leaves ({e})") from None
        chosen = tree_flatten(per_leaf)[0]
        leaves, treedef = tree_flatten(tree, is_leaf)
    selected = [leaf if c else replace for leaf, c in zip(leaves, chosen)]
    rest = [replace if c else leaf for leaf, c in zip(leaves, chosen)]
    return tree_unflatten(treedef, selected), tree_unflatten(treedef, rest)


def _takes_path(f):
    """Whether the predicate `f` takes (path, leaf) rather than a leaf alone."""
    try:
        params = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind is p.VAR_POSITIONAL for p in params)


def combine(*trees):
    """Merge trees of the same structure leaf by leaf, taking the first non-None."""
    if not trees:
        raise TypeError("combine needs at least one tree")
    flat = [tree_flatten(t, is_leaf=_is_none) for t in trees]
    treedef = flat[0][1]
    for i, (_, td) in enumerate(flat[1:], 1):
        if td != treedef:
            raise ValueError(f"combine: tree {i} has a different structure from tree 0 "
                             f"({td} vs {treedef}); combine the two halves of one partition")
    leaves = [next((x for x in column if x is not None), None)
              for column in zip(*(leaves for leaves, _ in flat))]
    return tree_unflatten(treedef, leaves)


def _is_none(x):
    return x is None
