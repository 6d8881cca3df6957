"""Optax's `optax.microbatching`: a function of a large batch evaluated one microbatch after
another in a `lax.fori_loop` (less memory at once), the results combined by an Accumulator
(sum, mean, running mean, concatenation, or one of your own):

    loss = microbatch(loss_fn, argnums=1, microbatch_size=32,
                      accumulator=AccumulationType.MEAN)(params, batch)
    grads, aux = micro_grad(loss_fn, microbatch_size=32)(params, batch)  # per-example
"""
from __future__ import annotations

import dataclasses
import enum
import functools
from collections import namedtuple
from typing import Callable

import numpy as np

from .. import lax
from .. import numpy as fnp
from ..api import eval_shape, value_and_grad, vmap
from ..primitives._util import dtype_of, shape_of
from ..tree_util import tree_leaves, tree_map

__all__ = ["Accumulator", "AccumulationType", "microbatch", "micro_vmap", "micro_grad",
           "reshape_batch_axis"]

IndividualOutputs = namedtuple("Aux", ["values", "metrics", "aux"])


@dataclasses.dataclass(frozen=True)
class Accumulator:
    """How microbatch results combine: `carry = init(shape_dtype of one result)`, then
    `carry = update(carry, result_i, i)` for each microbatch, and `finalize(carry)`;
    `aggregate(results stacked on axis 0)` does the same at once (micro_vmap uses it)."""
    init: Callable
    update: Callable
    finalize: Callable
    aggregate: Callable


class AccumulationType(enum.Enum):
    """The built-in Accumulators: MEAN and SUM of the results, RUNNING_MEAN (a mean over the
    microbatches run so far, for `num_real_microbatches`), CONCAT along axis 0."""
    MEAN = enum.auto()
    SUM = enum.auto()
    RUNNING_MEAN = enum.auto()
    CONCAT = enum.auto()


def reshape_batch_axis(tree, microbatch_size, axis=0):
    """Each leaf's batch axis `axis` split into (num_microbatches, microbatch_size), in
    column-major order: microbatch k holds the rows k, k + num_microbatches, ..."""
    def split(x):
        shape = shape_of(x)
        return fnp.reshape(x, shape[:axis] + (-1, microbatch_size) + shape[axis + 1:],
                           order="F")
    return tree_map(split, tree)


def _zeros_of(shape_dtype):
    return fnp.zeros(shape_dtype.shape, shape_dtype.dtype)


def _floating(init, name):
    def checked(shape_dtype):
        if np.dtype(shape_dtype.dtype).kind not in "fc":
            raise ValueError(f"microbatch: the {name} accumulator needs floating-point results, "
                             f"got {np.dtype(shape_dtype.dtype)}; use SUM for integers")
        return init(shape_dtype)
    return checked


def _leaf_accumulator(kind, num_microbatches):
    if kind is AccumulationType.SUM:
        return Accumulator(_zeros_of, lambda c, v, i: c + v, lambda c: c,
                           functools.partial(fnp.sum, axis=0))
    if kind in (AccumulationType.MEAN, AccumulationType.CONCAT) and num_microbatches <= 0:
        raise ValueError(f"microbatch: num_microbatches={num_microbatches} must be positive")
    if kind is AccumulationType.MEAN:
        return Accumulator(_floating(_zeros_of, "MEAN"), lambda c, v, i: c + v,
                           lambda c: c / num_microbatches, functools.partial(fnp.mean, axis=0))
    if kind is AccumulationType.RUNNING_MEAN:
        def running(c, v, i):
            i = lax.convert_element_type(i, dtype_of(c))
            kept = i / (i + 1)
            return c * kept + v * (1 - kept)
        return Accumulator(_floating(_zeros_of, "RUNNING_MEAN"), running, lambda c: c,
                           functools.partial(fnp.mean, axis=0))
    if kind is AccumulationType.CONCAT:
        def stack(c):
            return fnp.zeros((num_microbatches,) + tuple(c.shape), c.dtype)

        def unstack(c):
            # back to the batch's order (reshape_batch_axis split it column-major)
            return fnp.reshape(c, (-1,) + shape_of(c)[2:], order="F")
        return Accumulator(stack, lambda c, v, i: c.at[i].set(v), unstack, lambda x: x)
    raise ValueError(f"microbatch: unknown accumulator {kind!r}; use an Accumulator or an "
                     "AccumulationType")


def _is_accumulator(x):
    return isinstance(x, (Accumulator, AccumulationType))


def _combined(spec, num_microbatches):
    """One Accumulator for a pytree of results from `spec`, an Accumulator, an
    AccumulationType or a pytree prefix of the results holding them."""
    def leafwise(acc):
        acc = acc if isinstance(acc, Accumulator) else _leaf_accumulator(acc, num_microbatches)
        return Accumulator(lambda v: tree_map(acc.init, v),
                           lambda c, v, i: tree_map(lambda ci, vi: acc.update(ci, vi, i), c, v),
                           lambda c: tree_map(acc.finalize, c),
                           lambda v: tree_map(acc.aggregate, v))
    accs = tree_map(leafwise, spec, is_leaf=_is_accumulator)

    def each(method, *trees, extra=()):
        return tree_map(lambda acc, *subtrees: getattr(acc, method)(*subtrees, *extra), accs,
                        *trees, is_leaf=lambda x: isinstance(x, Accumulator))
    return Accumulator(functools.partial(each, "init"),
                       lambda c, v, i: each("update", c, v, extra=(i,)),
                       functools.partial(each, "finalize"), functools.partial(each, "aggregate"))


def microbatch(fun, argnums, microbatch_size, accumulator=AccumulationType.SUM, *,
               argnames=(), in_axes=0, num_real_microbatches=None):
    """`fun` evaluated on microbatches of `microbatch_size` rows of its batch arguments (the
    positional ones in `argnums`, the keyword ones in `argnames`, batched along `in_axes`, one
    int or one per argument), one after another in a `lax.fori_loop`, the results combined by
    `accumulator` (SUM by default; see AccumulationType, Accumulator). The batch size must be
    a multiple of `microbatch_size`; None gives `fun` itself. `num_real_microbatches` (may be
    traced) stops the loop early."""
    if microbatch_size is None:
        return fun
    argnums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    argnames = (argnames,) if isinstance(argnames, str) else tuple(argnames)
    in_axes = (in_axes,) * (len(argnums) + len(argnames)) if isinstance(in_axes, int) \
        else tuple(in_axes)

    def microbatched(*args, **kwargs):
        args, kwargs = list(args), dict(kwargs)
        batched = [(args, i) for i in argnums] + [(kwargs, k) for k in argnames]
        sizes = [shape_of(leaf)[ax] for (where, key), ax in zip(batched, in_axes)
                 for leaf in tree_leaves(where[key])]
        if len(set(sizes)) > 1:
            raise ValueError(f"microbatch: the batch arguments' batch axes differ in size: "
                             f"{sizes}")
        if sizes[0] % microbatch_size:
            raise ValueError(f"microbatch: the batch size {sizes[0]} is not a multiple of "
                             f"microbatch_size={microbatch_size}")
        for (where, key), ax in zip(batched, in_axes):
            where[key] = reshape_batch_axis(where[key], microbatch_size, ax)
        num_microbatches = sizes[0] // microbatch_size
        acc = _combined(accumulator, num_microbatches)

        def one(index):
            a, k = list(args), dict(kwargs)
            for (where, key), ax in zip(batched, in_axes):
                target = a if where is args else k
                target[key] = tree_map(lambda x: fnp.take(x, index, axis=ax), where[key])
            return fun(*a, **k)

        steps = num_microbatches if num_real_microbatches is None else num_real_microbatches
        carry = lax.fori_loop(0, steps, lambda i, c: acc.update(c, one(i), i),
                              acc.init(eval_shape(one, 0)))
        return acc.finalize(carry)
    return microbatched


def micro_vmap(fun, in_axes=0, out_axes=0, *, microbatch_size=None, vmap_fn=vmap,
               accumulator=AccumulationType.CONCAT, num_real_microbatches=None):
    """`vmap(fun, in_axes)` computed `microbatch_size` rows at a time; `accumulator` (CONCAT,
    vmap's stacking, by default) may reduce over the batch instead (MEAN, SUM, ...), a pytree
    prefix of the outputs. Keyword arguments are batched along their axis 0; `out_axes` must
    be 0."""
    if out_axes != 0:
        raise NotImplementedError("micro_vmap: out_axes must be 0")
    in_axes = (in_axes,) if isinstance(in_axes, int) else tuple(in_axes)

    def vmapped_and_reduced(*args, kwargs):
        out = vmap_fn(fun, in_axes, out_axes)(*args, **kwargs)
        return _combined(accumulator, shape_of(tree_leaves(out)[0])[0]).aggregate(out)

    mapped = [i for i, ax in enumerate(in_axes) if ax is not None]
    looped = microbatch(vmapped_and_reduced, argnums=tuple(mapped), argnames="kwargs",
                        microbatch_size=microbatch_size, accumulator=accumulator,
                        in_axes=tuple(in_axes[i] for i in mapped) + (0,),
                        num_real_microbatches=num_real_microbatches)
    return lambda *args, **kwargs: looped(*args, kwargs=kwargs)


def micro_grad(fun, has_aux=False, argnums=0, *, batch_argnums=1, keep_batch_dim=True,
               microbatch_size=None, accumulator=AccumulationType.SUM,
               transform_fn=lambda g: g, metrics_fn=lambda g: None,
               num_real_microbatches=None):
    """Per-example gradients of `fun` (with respect to `argnums`) over the batch arguments
    `batch_argnums`, each passed through `transform_fn` (a clipping, say) and combined by
    `accumulator` (SUM by default), computed `microbatch_size` examples at a time. Returns
    `(gradient, Aux(values, metrics, aux))`, the per-example values of `fun`, of
    `metrics_fn(gradient)` and of `fun`'s aux output (with `has_aux`). With
    `keep_batch_dim`, `fun` sees each example with a batch axis of 1."""
    batch_argnums = (batch_argnums,) if isinstance(batch_argnums, int) else tuple(batch_argnums)
    with_aux = fun if has_aux else (lambda *a, **k: (fun(*a, **k), None))
    grad_fn = value_and_grad(with_aux, argnums, has_aux=True)

    def per_example(*args, **kwargs):
        (value, aux), grad = grad_fn(*args, **kwargs)
        return transform_fn(grad), IndividualOutputs(value, metrics_fn(grad), aux)

    in_axes = [None] * (max(batch_argnums) + 1)
    for i in batch_argnums:
        in_axes[i] = 0
    mapped = micro_vmap(per_example, in_axes=in_axes,
                        accumulator=(accumulator, AccumulationType.CONCAT),
                        microbatch_size=microbatch_size,
                        num_real_microbatches=num_real_microbatches)
    if not keep_batch_dim:
        return mapped

    def with_batch_axis(*args, **kwargs):
        args = [tree_map(lambda x: fnp.expand_dims(x, 1), a) if i in batch_argnums else a
                for i, a in enumerate(args)]
        return mapped(*args, **kwargs)
    return with_batch_axis
