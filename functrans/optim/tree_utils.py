"""Optax's `tree_utils` (and its short-named twin `optax.tree`): arithmetic, norms, casts and
look-ups over pytrees of arrays, with Optax's names, signatures and result dtypes.

    optax.tree.norm(grads)                   # the global L2 norm, a 0-d array
    optax.tree_utils.tree_get(state, "learning_rate")
"""
from __future__ import annotations

import dataclasses
import functools
import operator
import types
import numpy as np

from .. import numpy as fnp
from .. import random
from ..primitives._util import dtype_of, shape_of
from ..tree_util import (DictKey, flatten_one_level_with_keys, is_tree_node,
                         register_pytree_node, tree_leaves, tree_map, tree_reduce,
                         tree_reduce_associative, tree_structure, tree_unflatten)
from .leafwise import abs_sq

__all__ = ["tree_add", "tree_sub", "tree_mul", "tree_div", "tree_scale", "tree_add_scale",
           "tree_vdot", "tree_sum", "tree_max", "tree_min", "tree_size", "tree_conj",
           "tree_real", "tree_norm", "tree_batch_shape", "tree_zeros_like", "tree_ones_like",
           "tree_full_like", "tree_clip", "tree_update_moment", "tree_update_infinity_moment",
           "tree_update_moment_per_elem_norm", "tree_bias_correction", "tree_where",
           "tree_allclose", "tree_cast", "tree_cast_like", "tree_dtype", "tree_split_key_like",
           "tree_random_like", "tree_unwrap_random_key_data", "NamedTupleKey",
           "tree_get_all_with_path", "tree_get", "tree_set", "tree_map_params",
           "tree_scalar_mul", "tree_add_scalar_mul", "tree_l1_norm", "tree_l2_norm",
           "tree_linf_norm"]


# ------------------------------------------------------------------ arithmetic
def tree_add(tree_x, tree_y, *other_trees):
    """The leafwise sum of two or more pytrees."""
    return tree_map(lambda *xs: functools.reduce(operator.add, xs), tree_x, tree_y,
                    *other_trees)


def tree_sub(tree_x, tree_y):
    """`tree_x - tree_y`, leafwise."""
    return tree_map(operator.sub, tree_x, tree_y)


def tree_mul(tree_x, tree_y):
    """`tree_x * tree_y`, leafwise."""
    return tree_map(operator.mul, tree_x, tree_y)


def tree_div(tree_x, tree_y):
    """`tree_x / tree_y`, leafwise."""
    return tree_map(operator.truediv, tree_x, tree_y)


def tree_scale(scalar, tree):
    """`scalar * tree`, leafwise."""
    return tree_map(lambda x: scalar * x, tree)


def tree_add_scale(tree_x, scalar, tree_y):
    """`tree_x + scalar * tree_y`, leafwise (None leaves of `tree_x` stay None)."""
    if not isinstance(scalar, (int, float)):
        scalar = fnp.asarray(scalar)
    return tree_map(lambda x, y: None if x is None else x + scalar * y, tree_x, tree_y,
                    is_leaf=lambda x: x is None)


def tree_vdot(tree_x, tree_y):
    """The inner product of two pytrees: the sum of `vdot` (conjugating `tree_x`) over
    matching leaves; 0 for empty trees."""
    vdots = tree_map(lambda a, b: fnp.vdot(fnp.asarray(a), fnp.asarray(b)), tree_x, tree_y)
    return tree_reduce(operator.add, vdots, 0)


def tree_sum(tree, associative_reduction=False):
    """The sum of all the elements of a pytree (0 for an empty one)."""
    sums = tree_map(fnp.sum, tree)
    if associative_reduction:
        return tree_reduce_associative(operator.add, sums, identity=0)
    return tree_reduce(operator.add, sums, 0)


def _extremum(tree, reduce, combine, start):
    values = [reduce(x) for x in tree_leaves(tree) if fnp.size(x) != 0]
    return functools.reduce(combine, values, start)


def tree_max(tree):
    """The largest element of a pytree (-inf for one without elements)."""
    return _extremum(tree, fnp.max, fnp.maximum, -float("inf"))


def tree_min(tree):
    """The smallest element of a pytree (inf for one without elements)."""
    return _extremum(tree, fnp.min, fnp.minimum, float("inf"))


def tree_size(tree):
    """The number of elements of a pytree (a Python int)."""
    return sum(int(fnp.size(x)) for x in tree_leaves(tree))


def tree_conj(tree):
    """The complex conjugate of each leaf."""
    return tree_map(fnp.conj, tree)


def tree_real(tree):
    """The real part of each leaf."""
    return tree_map(fnp.real, tree)


def tree_norm(tree, ord=None, squared=False):
    """The vector norm of all the elements of a pytree: `ord` None or 2 (Euclidean), 1, or
    `inf` / "inf" / "infinity" (the largest magnitude); `squared` gives its square."""
    if ord is None or ord == 2:
        sqnorm = tree_sum(tree_map(abs_sq, tree))
        return fnp.asarray(sqnorm if squared else fnp.sqrt(sqnorm))
    if ord == 1:
        norm = tree_sum(tree_map(fnp.abs, tree))
    elif ord == float("inf") or ord in ("inf", "infinity"):
        norm = tree_max(tree_map(fnp.abs, tree))
    else:
        raise ValueError(f"tree_norm: unsupported ord {ord!r}; use None, 1, 2 or inf")
    return fnp.asarray(abs_sq(norm) if squared else norm)


def tree_batch_shape(tree, shape=()):
    """Each leaf broadcast to `(*shape, *leaf.shape)`."""
    return tree_map(lambda x: fnp.broadcast_to(x, (*shape, *fnp.shape(x))), tree)


def tree_zeros_like(tree, dtype=None):
    """Zeros shaped like each leaf (in `dtype` when given)."""
    return tree_map(lambda x: fnp.zeros_like(x, dtype=dtype), tree)


def tree_ones_like(tree, dtype=None):
    """Ones shaped like each leaf (in `dtype` when given)."""
    return tree_map(lambda x: fnp.ones_like(x, dtype=dtype), tree)


def tree_full_like(tree, fill_value, dtype=None):
    """`fill_value` shaped like each leaf (in `dtype` when given)."""
    return tree_map(lambda x: fnp.full_like(x, fill_value, dtype=dtype), tree)


def tree_clip(tree, min_value=None, max_value=None):
    """Each leaf clipped to `[min_value, max_value]` (None: no bound on that side)."""
    return tree_map(lambda x: fnp.clip(x, min_value, max_value), tree)


def _is_none(x):
    return x is None


def tree_update_moment(updates, moments, decay, order):
    """The exponential moving average of the `order`-th power of the updates:
    `(1 - decay) * g ** order + decay * moment`."""
    return tree_map(lambda g, t: None if g is None else (1 - decay) * g ** order + decay * t,
                    updates, moments, is_leaf=_is_none)


def tree_update_infinity_moment(updates, moments, decay, eps):
    """The moving infinity norm: `max(|g| + eps, decay * moment)`."""
    return tree_map(lambda g, t: None if g is None else
                    fnp.maximum(fnp.abs(g) + eps, decay * t),
                    updates, moments, is_leaf=_is_none)


def tree_update_moment_per_elem_norm(updates, moments, decay, order):
    """The exponential moving average of `|g| ** order` (`g ** order` for real `g`)."""
    def power(g):
        if not np.issubdtype(dtype_of(g), np.complexfloating):
            return g ** order
        half = order / 2
        return abs_sq(g) ** (int(half) if float(half).is_integer() else half)
    return tree_map(lambda g, t: None if g is None else (1 - decay) * power(g) + decay * t,
                    updates, moments, is_leaf=_is_none)


def tree_bias_correction(moment, decay, count):
    """Each leaf divided by `1 - decay ** count`, computed in the leaf's dtype for a Python
    `decay` (in `decay`'s for an array)."""
    def leaf(t):
        d = fnp.asarray(decay, dtype_of(t)) if isinstance(decay, (int, float)) else decay
        return t / (1 - d ** count).astype(dtype_of(t))
    return tree_map(leaf, moment)


def tree_where(condition, tree_x, tree_y):
    """`where(condition, x, y)` over matching leaves."""
    return tree_map(lambda x, y: fnp.where(condition, x, y), tree_x, tree_y)


def tree_allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Whether every pair of matching leaves is `allclose` (a boolean, True for empty
    trees)."""
    close = tree_map(lambda x, y: fnp.allclose(x, y, rtol=rtol, atol=atol,
                                               equal_nan=equal_nan), a, b)
    return functools.reduce(operator.and_, tree_leaves(close), True)


# ------------------------------------------------------------------ dtypes
def tree_cast(tree, dtype):
    """Every leaf cast to `dtype` (the tree itself when `dtype` is None)."""
    return tree if dtype is None else tree_map(lambda t: t.astype(dtype), tree)


def tree_cast_like(tree, other_tree):
    """Each leaf cast to the dtype of the matching leaf of `other_tree` (leaves without a
    dtype there are left alone)."""
    return tree_map(lambda t, o: t.astype(o.dtype) if hasattr(o, "dtype") else t,
                    tree, other_tree)


def _promotes_to(a, b):
    return fnp.promote_types(a, b) == b


def _extreme_dtype(a, b, highest):
    if _promotes_to(a, b):
        return b if highest else a
    if _promotes_to(b, a):
        return a if highest else b
    raise ValueError(f"tree_dtype: {a} and {b} do not promote to one another, so neither is "
                     f"the {'highest' if highest else 'lowest'}; use "
                     "mixed_dtype_handler='promote'")


def tree_dtype(tree, mixed_dtype_handler=None):
    """The dtype of the leaves. Mixed dtypes raise a ValueError unless `mixed_dtype_handler`
    is "promote" (their promoted dtype), "highest" or "lowest" (by promotion order). An
    empty tree has the default float dtype."""
    dts = [np.dtype(fnp.asarray(x).dtype) for x in tree_leaves(tree)]
    if not dts:
        return fnp.asarray([]).dtype
    if mixed_dtype_handler is None:
        if any(d != dts[0] for d in dts):
            raise ValueError(f"tree_dtype: the leaves have several dtypes "
                             f"({sorted({str(d) for d in dts})}); pass "
                             "mixed_dtype_handler='promote', 'highest' or 'lowest'")
        return dts[0]
    if mixed_dtype_handler == "promote":
        return functools.reduce(fnp.promote_types, dts)
    if mixed_dtype_handler in ("highest", "lowest"):
        return functools.reduce(functools.partial(
            _extreme_dtype, highest=mixed_dtype_handler == "highest"), dts)
    raise ValueError(f"tree_dtype: mixed_dtype_handler={mixed_dtype_handler!r}; use None, "
                     "'promote', 'highest' or 'lowest'")


# ------------------------------------------------------------------ random
def tree_split_key_like(rng_key, target_tree):
    """One key of `random.split(rng_key)` per leaf of `target_tree`, in its structure."""
    treedef = tree_structure(target_tree)
    keys = random.split(rng_key, treedef.num_leaves)
    return tree_unflatten(treedef, list(keys))


def tree_random_like(rng_key, target_tree, sampler=random.normal, dtype=None):
    """A tree shaped like `target_tree` with `sampler(key, leaf.shape, dtype or
    leaf.dtype)` leaves, one split key each."""
    keys = tree_split_key_like(rng_key, target_tree)
    return tree_map(lambda leaf, key: sampler(key, shape_of(leaf), dtype or dtype_of(leaf)),
                    target_tree, keys)


def tree_unwrap_random_key_data(input_tree):
    """The key data of the random keys in `input_tree`: the tree itself, functrans keys being
    raw uint32 words already (what JAX's typed keys unwrap to)."""
    return input_tree


# ------------------------------------------------------------------ look-ups in states
@dataclasses.dataclass(frozen=True)
class NamedTupleKey:
    """A path entry for the field `name` of a NamedTuple named `tuple_name` (what
    `tree_get_all_with_path` puts in its paths, so filters can tell states apart)."""
    tuple_name: str
    name: str

    def __str__(self):
        return f"{self.tuple_name}.{self.name}"


def _is_named_tuple(x):
    return isinstance(x, tuple) and hasattr(x, "_fields")


def _children(node):
    """`[(path entry, child)]` of a pytree node, NamedTuple fields as NamedTupleKeys; [] for a
    leaf."""
    if _is_named_tuple(node):
        return [(NamedTupleKey(type(node).__name__, f), getattr(node, f))
                for f in node._fields]
    if node is None or not is_tree_node(type(node)):
        return []
    return list(flatten_one_level_with_keys(node)[0])


def _entry_name(entry):
    if isinstance(entry, NamedTupleKey):
        return entry.name
    if isinstance(entry, DictKey):
        return entry.key
    return None


def tree_get_all_with_path(tree, key, filtering=None):
    """`[(path, value)]` for every dict entry, NamedTuple field or NamedTuple (by class name)
    of `tree` named `key`, outermost first; `filtering(path, value)` keeps only some. Paths
    name NamedTuple fields with `NamedTupleKey`s."""
    found = []

    def visit(path, node):
        if _is_named_tuple(node) and type(node).__name__ == key:
            found.append((path, node))
        children = _children(node)
        for entry, child in children:
            if _entry_name(entry) == key:
                found.append(((*path, entry), child))
        for entry, child in children:
            visit((*path, entry), child)
    visit((), tree)
    if filtering is not None:
        found = [(p, v) for p, v in found if filtering(p, v)]
    return found


def tree_get(tree, key, default=None, filtering=None):
    """The one value of `tree` named `key` (see `tree_get_all_with_path`); `default` when
    there is none; a KeyError when there are several."""
    found = tree_get_all_with_path(tree, key, filtering)
    if len(found) > 1:
        raise KeyError(f"tree_get: found {len(found)} values for {key!r} in the tree; pass "
                       "filtering=lambda path, value: ... to choose one")
    return found[0][1] if found else default


def _rebuild(node, children):
    if _is_named_tuple(node):
        return type(node)(*children)
    return tree_unflatten(tree_structure(node, is_leaf=lambda x: x is not node),
                          children)


def tree_set(tree, filtering=None, /, **kwargs):
    """A copy of `tree` with the dict entries, NamedTuple fields or NamedTuples (by class
    name) named by the keywords replaced by their values; `filtering(path, value)` limits
    which. A KeyError when a keyword matches nothing."""
    for key in kwargs:
        if not tree_get_all_with_path(tree, key, filtering):
            raise KeyError(f"tree_set: found no value matching {key!r} in the tree"
                           + (" that passes the filtering" if filtering else ""))

    def keep(path, value):
        return filtering is None or filtering(path, value)

    def replace(path, node):
        if _is_named_tuple(node) and type(node).__name__ in kwargs and keep(path, node):
            return kwargs[type(node).__name__]
        children = _children(node)
        if not children:
            return node
        new = []
        for entry, child in children:
            name = _entry_name(entry)
            cpath = (*path, entry)
            new.append(kwargs[name] if name in kwargs and keep(cpath, child)
                       else replace(cpath, child))
        return _rebuild(node, new)
    return replace((), tree)


class _ParamsPlaceholder:
    """Stands for the parameters in `tree_map_params`: a pytree node without leaves, so an
    `init` builds its state with a placeholder wherever it copies the parameters' tree."""


register_pytree_node(_ParamsPlaceholder, lambda p: ((), None),
                     lambda aux, children: _ParamsPlaceholder())


def tree_map_params(initable, f, state, /, *rest, transform_non_params=None, is_leaf=None):
    """`state` with `f(leaf, *rest_leaves)` mapped over every copy of the parameters' tree in
    it (found by running `initable.init` on a placeholder); other fields are passed to
    `transform_non_params` when given."""
    init = initable.init if hasattr(initable, "init") else initable
    placeholders = init(_ParamsPlaceholder())

    def map_params(marker, value):
        if isinstance(marker, _ParamsPlaceholder):
            return tree_map(f, value, *rest, is_leaf=is_leaf)
        return value if transform_non_params is None else transform_non_params(value)
    return tree_map(map_params, placeholders, state,
                    is_leaf=lambda v: isinstance(v, _ParamsPlaceholder))


# ------------------------------------------------------------------ Optax's older names
tree_scalar_mul = tree_scale
tree_add_scalar_mul = tree_add_scale
tree_l1_norm = functools.partial(tree_norm, ord=1)
tree_l2_norm = functools.partial(tree_norm, ord=2)
tree_linf_norm = functools.partial(tree_norm, ord="inf")


tree = types.ModuleType("tree", "Optax's `optax.tree`: the `tree_utils` functions without "
                        "their `tree_` prefix (`tree.norm`, `tree.get`, ...).")
tree.__dict__.update({name[len("tree_"):]: globals()[name] for name in __all__
                      if name.startswith("tree_") and name[len("tree_"):] not in (
                          "scalar_mul", "add_scalar_mul", "l1_norm", "l2_norm", "linf_norm")})
