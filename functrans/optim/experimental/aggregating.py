"""Optax's `optax.experimental.aggregating`: gradient transformations over per-example
gradients (each leaf (*batch, *param_shape), as `ft.vmap(ft.grad(loss), (None, 0))` gives
them). `process(preprocessor, aggregator, postprocessor)` maps per-example gradients through
a preprocessor, an `Aggregator` that reduces them to one update (averaging, accumulating
microbatches), and an ordinary optimizer, which runs only when the aggregator's state says
`ready`:

    opt = aggregating.process(ft.optim.identity(),
                              aggregating.average_incrementally_updates(0, 4),
                              ft.optim.optax.adam(1e-3))
    per_example = ft.vmap(ft.grad(loss), (None, 0, 0))(params, xs, ys)
    updates, state = opt.update(per_example, state, params)   # zeros 3 times, then a step

`add_mean_variance_to_opt` also tracks EMAs of the gradients' mean and variance, read back
with `get_unbiased_mean_and_variance_ema(state)`. Buffers of a model get None updates, as
after the leafwise transformations of `ft.optim`."""
from __future__ import annotations

import math
from typing import Any, NamedTuple, Protocol, Sequence, Union

from ... import lax
from ... import numpy as fnp
from ...primitives._util import dtype_of, shape_of
from ...tree_util import tree_leaves, tree_map
from ..base import GradientTransformation, GradientTransformationExtraArgs, displayed, \
    with_extra_args_support
from ..blocks import identity
from ..extras import init_empty_state, safe_increment
from ..leafwise import buffers_to_none, zero_count, zeros_like
from ..transforms import chain
from ..tree_utils import tree_get, tree_where, tree_zeros_like

__all__ = ["Aggregator", "AggregatorUpdateFn", "PerElementUpdates", "AggregatedUpdates",
           "MaybeAxis", "process", "average_per_element_updates", "AccumulateAvgUpdatesState",
           "accumulate_avg_updates", "average_incrementally_updates",
           "get_batch_size_from_per_elt_updates", "PerElementMeanAndSumSqDiffGradsState",
           "get_per_element_mean_and_sum_sq_diff_grads", "PerElementMeanAndVarianceEMAState",
           "track_per_element_mean_and_variance_with_ema",
           "get_unbiased_mean_and_variance_ema", "add_mean_variance_to_opt"]

PerElementUpdates = AggregatedUpdates = Any
MaybeAxis = Union[int, Sequence[int], None]


class AggregatorUpdateFn(Protocol):
    """`update(per_elt_updates, state, params=None, **extra_args) -> (aggregated, state)`."""

    def __call__(self, per_elt_updates, state, params=None, **extra_args):
        ...


class Aggregator(GradientTransformationExtraArgs):
    """A transformation whose `update` takes per-example updates (*batch, *param_shape) and
    returns one update shaped like the parameters."""
    __slots__ = ()


def process(preprocessor, aggregator, postprocessor, aggregator_has_aux=False):
    """Per-example gradients through `preprocessor` (per example), `aggregator` (to one
    update; with `aggregator_has_aux` it returns `(update, aux)` and the dict `aux` joins the
    extra arguments of the postprocessor) and `postprocessor`, which runs when the
    aggregator's state has no `ready` field or it is True (else zero updates and its state
    unchanged). An Aggregator when `aggregator` is one."""
    pre, agg, post = (with_extra_args_support(t)
                      for t in (preprocessor, aggregator, postprocessor))

    def init(params):
        return pre.init(params), agg.init(params), post.init(params)

    def update(indiv_grads, states, params=None, **extra_args):
        pre_state, agg_state, post_state = states
        indiv, pre_state = pre.update(indiv_grads, pre_state, params, **extra_args)
        aggregated, agg_state = agg.update(indiv, agg_state, params, **extra_args)
        if aggregator_has_aux:
            aggregated, aux = aggregated
            extra_args = {**extra_args, **aux}
        aggregated = buffers_to_none(aggregated)

        def run(g, s, p, kw):
            new, s = post.update(g, s, p, **kw)
            return buffers_to_none(new), s

        def wait(g, s, p, kw):
            return tree_zeros_like(aggregated), s
        updates, post_state = lax.cond(tree_get(agg_state, "ready", True), run, wait,
                                       aggregated, post_state, params, extra_args)
        return updates, (pre_state, agg_state, post_state)
    return (Aggregator if isinstance(aggregator, Aggregator) else
            GradientTransformationExtraArgs)(init, update)


def _axis(per_elt_axis):
    return tuple(per_elt_axis) if isinstance(per_elt_axis, (list, tuple)) else per_elt_axis


def average_per_element_updates(per_elt_axis=0):
    """An Aggregator averaging the per-example updates over `per_elt_axis` (an int or
    several)."""
    axis = _axis(per_elt_axis)

    def update(per_elt_updates, state, params=None):
        return tree_map(lambda x: fnp.mean(x, axis=axis), buffers_to_none(per_elt_updates)), \
            state
    return Aggregator(init_empty_state, update)


@displayed
class AccumulateAvgUpdatesState(NamedTuple):
    micro_step: Any     # microbatches averaged so far in this round
    ready: Any          # whether the last update finished a round
    avg_grad: Any


def _check_steps(accumulation_steps, fn):
    if not (isinstance(accumulation_steps, int) and accumulation_steps >= 1):
        raise ValueError(f"{fn}: accumulation_steps must be an integer >= 1, got "
                         f"{accumulation_steps!r}")


def accumulate_avg_updates(accumulation_steps):
    """Average the updates of `accumulation_steps` calls (microbatches): zero updates until
    the last of them, which returns the average and sets `ready`. One step is `identity()`."""
    _check_steps(accumulation_steps, "accumulate_avg_updates")
    if accumulation_steps == 1:
        return identity()

    def init(params):
        return AccumulateAvgUpdatesState(zero_count(), fnp.asarray(False), zeros_like(params))

    def update(updates, state, params=None):
        step = state.micro_step + 1
        avg = tree_map(lambda u, a: a + (u - a) / step, buffers_to_none(updates),
                       state.avg_grad)
        done = AccumulateAvgUpdatesState(lax.full_like(step, 0), fnp.asarray(True),
                                         tree_zeros_like(avg))
        going = AccumulateAvgUpdatesState(step, fnp.asarray(False), avg)
        return tree_where(step == accumulation_steps, (avg, done),
                          (tree_zeros_like(avg), going))
    return GradientTransformation(init, update)


def average_incrementally_updates(per_elt_axis, accumulation_steps):
    """Average over `per_elt_axis` (None: the updates have no per-example axis) and over
    `accumulation_steps` calls: an Aggregator, or with `per_elt_axis=None` the
    `accumulate_avg_updates` transformation."""
    if per_elt_axis is None:
        return accumulate_avg_updates(accumulation_steps)
    agg = chain(average_per_element_updates(per_elt_axis),
                accumulate_avg_updates(accumulation_steps))
    return Aggregator(agg.init, agg.update)


def get_batch_size_from_per_elt_updates(per_elt_updates, per_elt_axis):
    """The number of examples along `per_elt_axis` (an int or several), the same for every
    leaf (else a ValueError)."""
    def size(x):
        shape = shape_of(x)
        if isinstance(per_elt_axis, int):
            return shape[per_elt_axis]
        return math.prod(shape[i] for i in per_elt_axis)
    sizes = [size(x) for x in tree_leaves(buffers_to_none(per_elt_updates))]
    if any(s != sizes[0] for s in sizes):
        raise ValueError(f"Per-element updates must have the same batch size along axis "
                         f"{per_elt_axis} in every leaf, got {sizes}")
    return sizes[0]


@displayed
class PerElementMeanAndSumSqDiffGradsState(NamedTuple):
    micro_step: Any
    ready: Any
    mean_grads: Any
    sum_sq_diff_grads: Any


def _mean_and_sum_sq_diff(per_elt_updates, axis):
    """Per leaf: the mean over `axis` and the sum over it of squared deviations from it."""
    means = tree_map(lambda x: fnp.mean(x, axis=axis, keepdims=True), per_elt_updates)
    sq = tree_map(lambda x, m: fnp.sum(fnp.square(x - m), axis=axis), per_elt_updates, means)
    return tree_map(lambda m: fnp.squeeze(m, axis=axis), means), sq


def get_per_element_mean_and_sum_sq_diff_grads(per_elt_axis=0, accumulation_steps=1):
    """An Aggregator returning `(mean, {"sum_sq_diff_grads": ..., "sample_size": n})` of the
    per-example updates, pooled over `accumulation_steps` calls (Chan et al.'s parallel
    update of the sum of squared deviations); until the last call of a round the outputs are
    zeros and `ready` is False."""
    _check_steps(accumulation_steps, "get_per_element_mean_and_sum_sq_diff_grads")
    axis = _axis(per_elt_axis)

    def single(per_elt_updates, state, params=None):
        per_elt_updates = buffers_to_none(per_elt_updates)
        n = get_batch_size_from_per_elt_updates(per_elt_updates, axis)
        mean, sq = _mean_and_sum_sq_diff(per_elt_updates, axis)
        return (mean, {"sum_sq_diff_grads": sq, "sample_size": n}), state

    if accumulation_steps == 1:
        return Aggregator(init_empty_state, single)

    def init(params):
        return PerElementMeanAndSumSqDiffGradsState(zero_count(), fnp.asarray(False),
                                                    zeros_like(params), zeros_like(params))

    def update(per_elt_updates, state, params=None):
        per_elt_updates = buffers_to_none(per_elt_updates)
        n = get_batch_size_from_per_elt_updates(per_elt_updates, axis)
        step = state.micro_step + 1
        batch_mean, batch_sq = _mean_and_sum_sq_diff(per_elt_updates, axis)
        delta = tree_map(lambda b, a: b - a, batch_mean, state.mean_grads)
        mean = tree_map(lambda a, d: a + d / step, state.mean_grads, delta)

        def pooled(a, s, d):
            factor = (state.micro_step * n).astype(dtype_of(d)) / step.astype(dtype_of(d))
            return a + s + d ** 2 * factor
        sq = tree_map(pooled, state.sum_sq_diff_grads, batch_sq, delta)
        outputs = (mean, {"sum_sq_diff_grads": sq, "sample_size": n * step})
        done = PerElementMeanAndSumSqDiffGradsState(lax.full_like(step, 0), fnp.asarray(True),
                                                    tree_zeros_like(mean), tree_zeros_like(sq))
        going = PerElementMeanAndSumSqDiffGradsState(step, fnp.asarray(False), mean, sq)
        return tree_where(step == accumulation_steps, (outputs, done),
                          (tree_zeros_like(outputs), going))
    return Aggregator(init, update)


@displayed
class PerElementMeanAndVarianceEMAState(NamedTuple):
    count: Any
    ema_decay: Any
    mean_grads_ema: Any
    variance_grads_ema: Any


def track_per_element_mean_and_variance_with_ema(ema_decay=0.9):
    """Pass the updates through, keeping EMAs (decay `ema_decay`) of the gradients' mean (the
    updates) and variance (`sum_sq_diff_grads / (sample_size - 1)`, the extra arguments that
    `get_per_element_mean_and_sum_sq_diff_grads` hands on through `process`)."""
    def init(params):
        return PerElementMeanAndVarianceEMAState(zero_count(), fnp.asarray(ema_decay),
                                                 zeros_like(params), zeros_like(params))

    def ema(x, y):
        return (1.0 - ema_decay) * x + ema_decay * y

    def update(updates, state, params=None, *, sum_sq_diff_grads, sample_size):
        def variance(s, v):
            scale = 1 / lax.convert_element_type(fnp.asarray(sample_size) - 1, dtype_of(s))
            return ema(scale * s, v)
        mean = tree_map(ema, buffers_to_none(updates), state.mean_grads_ema)
        variance = tree_map(variance, sum_sq_diff_grads, state.variance_grads_ema)
        return updates, state._replace(count=safe_increment(state.count),
                                       mean_grads_ema=mean, variance_grads_ema=variance)
    return GradientTransformationExtraArgs(init, update)


def get_unbiased_mean_and_variance_ema(state):
    """The bias-corrected EMAs `(mean, variance)` of the PerElementMeanAndVarianceEMAState
    within `state` (an optimizer state from `add_mean_variance_to_opt`)."""
    found = tree_get(state, "PerElementMeanAndVarianceEMAState", None)
    if found is None:
        raise ValueError("get_unbiased_mean_and_variance_ema: the state holds no "
                         "PerElementMeanAndVarianceEMAState; pass the state of an optimizer "
                         "made by add_mean_variance_to_opt (or that chains "
                         "track_per_element_mean_and_variance_with_ema)")
    correction = 1 - found.ema_decay ** found.count
    return tuple(tree_map(lambda x: x / correction, t)
                 for t in (found.mean_grads_ema, found.variance_grads_ema))


def add_mean_variance_to_opt(opt, ema_decay=0.9, per_elt_axis=0, accumulation_steps=1):
    """`opt` stepping on the mean of per-example gradients (pooled over `accumulation_steps`
    calls), with EMAs of their mean and variance kept in the state."""
    return process(identity(),
                   get_per_element_mean_and_sum_sq_diff_grads(per_elt_axis, accumulation_steps),
                   chain(track_per_element_mean_and_variance_with_ema(ema_decay), opt),
                   aggregator_has_aux=True)
