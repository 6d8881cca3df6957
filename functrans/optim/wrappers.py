"""Wrappers that decide when an inner optimizer steps (Optax's): `MultiSteps` accumulates
gradients over several calls (gradient accumulation: a large batch in small pieces), and
`apply_if_finite` skips updates whose gradients hold a NaN or an infinity. Both run under
`jit`: the decision is a `lax.cond`, not Python control flow."""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .. import lax
from .. import numpy as fnp
from ..buffers import Buffer, is_buffer, map_arrays
from ..tree_util import tree_flatten, tree_leaves, tree_map
from .base import (GradientTransformation, GradientTransformationExtraArgs, displayed,
                   on_params_device, with_extra_args_support)
from .leafwise import buffers_to_none, pick

__all__ = ["MultiSteps", "MultiStepsState", "apply_if_finite", "ApplyIfFiniteState", "flatten",
           "lookahead", "LookaheadState", "LookaheadParams"]


@displayed
class MultiStepsState(NamedTuple):
    mini_step: Any          # calls since the inner optimizer last stepped
    gradient_step: Any      # inner optimizer steps so far
    inner_opt_state: Any
    acc_grads: Any
    skip_state: Any = ()    # what should_skip_update_fn last reported


@displayed
class ApplyIfFiniteState(NamedTuple):
    notfinite_count: Any    # consecutive updates skipped
    last_finite: Any
    total_notfinite: Any
    inner_state: Any


def _zeros(tree):
    """Zeros shaped like the array leaves of `tree`; buffers become empty, as in gradients."""
    return tree_map(lambda x: Buffer(None, x.persistent) if is_buffer(x) else
                    None if x is None else lax.full_like(x, 0), tree, is_leaf=is_buffer)


class MultiSteps:
    """Accumulate gradients over `every_k_schedule` calls (an int, or a function of the number
    of inner steps so far) and step the inner optimizer `opt` on their mean (`use_grad_mean`)
    or sum; the calls in between return zero updates. As in Optax:

        opt = ft.optim.MultiSteps(ft.optim.adam(1e-3), every_k_schedule=4)
        state = opt.init(params)
        updates, state = opt.update(grads, state, params)   # zeros 3 times, then a step

    The PyTorch habit it replaces: `loss.backward()` k times, then `opt.step()`.

    `should_skip_update_fn(updates, gradient_step, params) -> (skip, skip_state)` (Optax's)
    may reject a call: `skip` a bool scalar array; a rejected call returns zero updates and
    leaves the state as it was but for `skip_state`, as if it never happened."""

    def __init__(self, opt, every_k_schedule, use_grad_mean=True, should_skip_update_fn=None):
        if isinstance(every_k_schedule, int) and every_k_schedule < 1:
            raise ValueError(f"MultiSteps: every_k_schedule must be >= 1, got "
                             f"{every_k_schedule}")
        self._opt = with_extra_args_support(opt)
        self._every_k = every_k_schedule if callable(every_k_schedule) else \
            (lambda step, k=int(every_k_schedule): k)
        self._mean = use_grad_mean
        self._should_skip = should_skip_update_fn

    @on_params_device
    def init(self, params):
        count = fnp.zeros((), np.int32)
        skip_state = () if self._should_skip is None else \
            self._should_skip(_zeros(params), count, params)[1]
        return MultiStepsState(count, count, self._opt.init(params), _zeros(params),
                               skip_state)

    @on_params_device
    def update(self, updates, state, params=None, **extra_args):
        if self._should_skip is None:
            return self._accumulate(updates, state, params, state.skip_state, extra_args)
        skip, skip_state = self._should_skip(updates, state.gradient_step, params)
        skip = fnp.asarray(skip)
        if (skip.dtype, skip.shape) != (np.bool_, ()):
            raise ValueError(f"MultiSteps: should_skip_update_fn must return a bool scalar "
                             f"array first, got {skip.dtype}{list(skip.shape)}")

        def rejected(updates, state):
            return buffers_to_none(_zeros(updates)), state._replace(skip_state=skip_state)

        def accepted(updates, state):
            return self._accumulate(updates, state, params, skip_state, extra_args)
        return lax.cond(skip, rejected, accepted, updates, state)

    def _accumulate(self, updates, state, params, skip_state, extra_args):
        k = self._every_k(state.gradient_step)
        n = state.mini_step + 1
        if self._mean:
            acc = map_arrays(lambda a, g: a + (g - a) / n.astype(a.dtype), state.acc_grads,
                             updates)
        else:
            acc = map_arrays(lambda a, g: a + g, state.acc_grads, updates)

        def step(acc, inner):
            new, inner = self._opt.update(acc, inner, params, **extra_args)
            return (buffers_to_none(new), inner, _zeros(acc), lax.full_like(n, 0),
                    state.gradient_step + 1)

        def wait(acc, inner):
            return buffers_to_none(_zeros(updates)), inner, acc, n, state.gradient_step
        new, inner, acc, mini, grad_step = lax.cond(n >= k, step, wait, acc,
                                                    state.inner_opt_state)
        return new, MultiStepsState(mini, grad_step, inner, acc, skip_state)

    def has_updated(self, state):
        """Whether the last `update` stepped the inner optimizer."""
        return fnp.logical_and(state.mini_step == 0, state.gradient_step > 0)

    def gradient_transformation(self):
        """This wrapper as a GradientTransformation (for `chain`, `masked`, ...)."""
        return GradientTransformationExtraArgs(self.init, self.update)


def apply_if_finite(inner, max_consecutive_errors):
    """`inner`, except that an update whose incoming gradients hold a NaN or an infinity is
    replaced by zeros and leaves `inner`'s state unchanged, up to `max_consecutive_errors`
    times in a row (after that the update goes through, non-finite values and all)."""
    inner = with_extra_args_support(inner)

    def init(params):
        zero = fnp.zeros((), np.int32)
        return ApplyIfFiniteState(zero, fnp.asarray(True), zero, inner.init(params))

    def update(updates, state, params=None, **extra_args):
        checks = [fnp.all(fnp.isfinite(x)) for x in tree_leaves(updates, is_buffer)
                  if not is_buffer(x)]
        finite = fnp.all(fnp.stack(checks)) if checks else fnp.asarray(True)
        count = fnp.where(finite, 0, state.notfinite_count + 1).astype(np.int32)

        def apply(inner_state):
            new, inner_state = inner.update(updates, inner_state, params, **extra_args)
            return buffers_to_none(new), inner_state

        def skip(inner_state):
            return buffers_to_none(_zeros(updates)), inner_state
        new, inner_state = lax.cond(fnp.logical_or(finite, count > max_consecutive_errors),
                                    apply, skip, state.inner_state)
        total = state.total_notfinite + fnp.logical_not(finite).astype(np.int32)
        return new, ApplyIfFiniteState(count, finite, total, inner_state)
    return GradientTransformationExtraArgs(init, update)


def flatten(inner):
    """Optax's `flatten`: `inner` run on all the leaves concatenated into one vector (its
    state is that of one vector: fewer, larger arrays), the updates split back into the
    gradients' structure."""
    inner = with_extra_args_support(inner)

    def concat(tree):
        return fnp.concatenate([fnp.reshape(x, (-1,)) for x in tree_leaves(tree)])

    def init(params):
        return inner.init(concat(params))

    def update(updates, state, params=None, **extra_args):
        flat, state = inner.update(concat(updates), state,
                                   None if params is None else concat(params), **extra_args)
        leaves, treedef = tree_flatten(updates)
        ends = np.cumsum([int(np.size(x)) for x in leaves])
        pieces = fnp.split(flat, [int(e) for e in ends[:-1]])
        return treedef.unflatten([fnp.reshape(piece, fnp.shape(x))
                                  for piece, x in zip(pieces, leaves)]), state
    return GradientTransformationExtraArgs(init, update)


@displayed
class LookaheadState(NamedTuple):
    fast_state: Any
    steps_since_sync: Any


class LookaheadParams(NamedTuple):
    """The fast and the slow copy of the parameters that `lookahead` updates."""
    fast: Any
    slow: Any

    @classmethod
    def init_synced(cls, params):
        """Both copies equal to `params`."""
        return cls(fast=params, slow=params)


def lookahead(fast_optimizer, sync_period, slow_step_size, reset_state=False):
    """Optax's `lookahead`: `fast_optimizer` moves the fast parameters; every `sync_period`
    steps the slow ones move `slow_step_size` of the way to them and the fast ones are reset
    to the slow (`reset_state` also resets `fast_optimizer`'s state). Parameters and updates
    are `LookaheadParams(fast, slow)`."""
    if sync_period < 1:
        raise ValueError(f"lookahead: sync_period must be >= 1, got {sync_period}")

    def init(params):
        fast = getattr(params, "fast", params)
        return LookaheadState(fast_optimizer.init(fast), fnp.zeros((), np.int32))

    def update(updates, state, params=None):
        if not isinstance(params, LookaheadParams):
            raise ValueError("lookahead: update needs the parameters as LookaheadParams(fast, "
                             "slow): opt.update(grads, state, params) with params = "
                             "LookaheadParams.init_synced(initial_params)")
        updates, fast_state = fast_optimizer.update(updates, state.fast_state, params.fast)
        sync = state.steps_since_sync == sync_period - 1
        diff = tree_map(lambda f, u, s: f + u - s, params.fast, updates, params.slow)
        slow_updates = tree_map(lambda d: slow_step_size * sync * d, diff)
        fast_updates = tree_map(lambda u, d: u - sync * (1 - slow_step_size) * d, updates, diff)
        if reset_state:
            fast_state = pick(sync, fast_optimizer.init(params.fast), fast_state)
        return (LookaheadParams(fast=fast_updates, slow=slow_updates),
                LookaheadState(fast_state, (state.steps_since_sync + 1) % sync_period))
    return GradientTransformation(init, update)
