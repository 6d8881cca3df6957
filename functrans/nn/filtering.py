"""Splitting a model's leaves in two and merging them back (Equinox's `partition` and
`combine`): freeze part of a model by differentiating only the other part."""
from __future__ import annotations

from ..tree_util import tree_flatten, tree_flatten_with_path, tree_unflatten

__all__ = ["partition", "combine"]


def partition(tree, predicate, is_leaf=None):
    """Split `tree` into `(selected, rest)` of the same structure: `predicate(path, leaf)`
    chooses each leaf's side (`path` is its key path; `ft.tree_util.keystr(path)` renders it,
    e.g. '.fc.weight'); the other side holds None there. `combine` undoes it.

    Freeze all but the classifier:

        train, frozen = ft.nn.partition(model, lambda p, _: keystr(p).startswith(".fc"))
        grads = ft.grad(lambda t: loss(ft.nn.combine(t, frozen), x, y))(train)
    """
    pairs, treedef = tree_flatten_with_path(tree, is_leaf)
    chosen = [bool(predicate(path, leaf)) for path, leaf in pairs]
    selected = [leaf if c else None for (_, leaf), c in zip(pairs, chosen)]
    rest = [None if c else leaf for (_, leaf), c in zip(pairs, chosen)]
    return tree_unflatten(treedef, selected), tree_unflatten(treedef, rest)


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
