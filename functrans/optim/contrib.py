"""Optax's `contrib` transformations under their names and arguments (`optax.contrib` in
`functrans.optim.optax`): `reduce_on_plateau` with Optax's rules, `normalize` and
sharpness-aware minimization (`sam`). `ft.optim.reduce_on_plateau`
keeps PyTorch's ReduceLROnPlateau (mode, threshold, `patience` exceeded rather than reached,
a new scale from the next update on)."""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .. import lax
from .. import numpy as fnp
from ..primitives._util import dtype_of
from ..tree_util import tree_leaves, tree_map
from .base import (EmptyState, GradientTransformation, GradientTransformationExtraArgs,
                   displayed)
from .leafwise import pick
from .plateau import ReduceLROnPlateauState
from .transforms import apply_updates
from .tree_utils import tree_norm

__all__ = ["reduce_on_plateau", "ReduceLROnPlateauState", "normalize", "NormalizeState", "sam",
           "SAMState"]

NormalizeState = EmptyState


def _float_dtypes(params):
    """The lowest and the highest floating dtype of the leaves (float32 where none is)."""
    found = sorted({np.dtype(dtype_of(p)) for p in tree_leaves(params)
                    if np.dtype(dtype_of(p)).kind == "f"}, key=lambda d: d.itemsize)
    return (found[0], found[-1]) if found else (np.dtype(np.float32),) * 2


def reduce_on_plateau(factor=0.1, patience=10, rtol=1e-4, atol=0.0, cooldown=0,
                      accumulation_size=1, min_scale=0.0):
    """Optax's `contrib.reduce_on_plateau`: scales the updates by a factor that shrinks by
    `factor` when the mean of `accumulation_size` monitored values
    (`update(..., value=loss)`) has not fallen below `(1 - rtol) * best - atol` for
    `patience` decisions in a row, then rests `cooldown` decisions; never below
    `min_scale`. The new scale applies to the update that decided it, as in Optax. The
    scale has the lowest floating dtype of the parameters, the best and mean values the
    highest."""
    if not 0.0 < factor < 1.0:
        raise ValueError(f"reduce_on_plateau: factor must be in (0, 1), got {factor}")
    if rtol < 0.0 or atol < 0.0:
        raise ValueError(f"reduce_on_plateau: rtol and atol must be non-negative, got "
                         f"rtol={rtol}, atol={atol}")
    if rtol == 0.0 and atol == 0.0:
        raise ValueError("reduce_on_plateau: rtol or atol must be positive, got both 0")
    if rtol > 1.0:
        raise ValueError(f"reduce_on_plateau: rtol must be <= 1, got {rtol}")

    def init(params):
        lowest, highest = _float_dtypes(params)
        return ReduceLROnPlateauState(
            fnp.ones((), lowest), fnp.asarray(np.inf, dtype=highest),
            fnp.zeros((), np.int32), fnp.zeros((), np.int32), fnp.zeros((), np.int32),
            fnp.zeros((), highest))

    def decide(s):
        better = s.avg_value < (1 - rtol) * s.best_value - atol
        best = fnp.where(better, s.avg_value, s.best_value)
        plateau = fnp.where(better, 0, s.plateau_count + 1)
        resting = s.cooldown_count > 0
        reduce = (plateau == patience) & ~resting
        scale = fnp.where(reduce, s.scale * factor, s.scale)
        scale = fnp.where(resting, s.scale, fnp.maximum(scale, min_scale))
        cooldown_count = fnp.where(resting, s.cooldown_count - 1,
                                   fnp.where(reduce, cooldown, 0))
        plateau = fnp.where(resting | reduce, 0, plateau)
        return ReduceLROnPlateauState(
            scale.astype(dtype_of(s.scale)), best, plateau.astype(np.int32),
            cooldown_count.astype(np.int32), fnp.zeros((), np.int32),
            fnp.zeros((), dtype_of(s.avg_value)))

    def update(updates, state, params=None, *, value=None, **extra_args):
        if value is None:
            raise ValueError("reduce_on_plateau needs the monitored value: "
                             "opt.update(grads, state, params, value=loss)")
        count = state.count + 1
        avg = ((state.count * state.avg_value + fnp.asarray(value).astype(
            dtype_of(state.avg_value))) / count).astype(dtype_of(state.avg_value))
        accumulated = state._replace(count=count, avg_value=avg)
        decided = decide(accumulated)
        ready = count == accumulation_size
        new_state = ReduceLROnPlateauState(*(fnp.where(ready, d, a)
                                             for d, a in zip(decided, accumulated)))
        return tree_map(lambda g: new_state.scale * g, updates), new_state
    return GradientTransformationExtraArgs(init, update)


def normalize():
    """Optax's `contrib.normalize`: the updates divided by their global L2 norm."""
    def update(updates, state, params=None):
        norm = tree_norm(updates)
        return tree_map(lambda g: g / norm, updates), state
    return GradientTransformation(lambda params: NormalizeState(), update)


@displayed
class SAMState(NamedTuple):
    steps_since_sync: Any
    opt_state: Any
    adv_state: Any
    cache: Any          # the parameters before the adversarial steps (None when opaque)


def sam(optimizer, adv_optimizer, sync_period=2, reset_state=True, opaque_mode=False,
        batch_axis_name=None):
    """Optax's `contrib.sam` (sharpness-aware minimization). Transparent mode: of every
    `sync_period` updates, the first `sync_period - 1` are ascent steps of `adv_optimizer`
    (give it a normalized step, e.g. `chain(normalize(), sgd(rho))`) and the last returns
    the parameters to where they were and applies `optimizer`'s step, taken with the
    gradient at the perturbed point. Opaque mode does the whole cycle in one update, calling
    `update(grads, state, params, grad_fn=lambda params, i: grads_at(params))`."""
    if sync_period < 1:
        raise ValueError(f"sam: sync_period must be >= 1, got {sync_period}")

    def init(params):
        return SAMState(fnp.zeros((), np.int32), optimizer.init(params),
                        adv_optimizer.init(params), None if opaque_mode else params)

    def transparent(updates, state, params=None, *, grad_fn=None):
        first = state.steps_since_sync == 0
        last = state.steps_since_sync == sync_period - 1
        adv_updates, adv_state = adv_optimizer.update(updates, state.adv_state, params)
        adv_updates = tree_map(lambda x: -x, adv_updates)
        opt_updates, opt_state = optimizer.update(updates, state.opt_state, state.cache)
        opt_updates = tree_map(lambda c, p, u: c - p + u, state.cache, params, opt_updates)
        fresh = adv_optimizer.init(params) if reset_state else state.adv_state
        return pick(last, opt_updates, adv_updates), SAMState(
            (state.steps_since_sync + 1) % sync_period, pick(last, opt_state, state.opt_state),
            pick(last, fresh, adv_state), pick(first, params, state.cache))

    def opaque(updates, state, params=None, *, grad_fn=None):
        if grad_fn is None:
            raise ValueError("sam(opaque_mode=True): update needs grad_fn=lambda params, i: "
                             "the gradients at params")
        adv_params, adv_updates, adv_state = params, updates, state.adv_state
        for i in range(sync_period - 1):
            adv_updates, adv_state = adv_optimizer.update(adv_updates, adv_state, adv_params)
            adv_params = apply_updates(adv_params, tree_map(lambda x: -x, adv_updates))
            adv_updates = grad_fn(adv_params, i)
            if batch_axis_name is not None:
                adv_updates = lax.pmean(adv_updates, axis_name=batch_axis_name)
        if reset_state:
            adv_state = adv_optimizer.init(params)
        updates, opt_state = optimizer.update(adv_updates, state.opt_state, params)
        return updates, SAMState(fnp.zeros((), np.int32), opt_state, adv_state, None)
    return GradientTransformationExtraArgs(init, opaque if opaque_mode else transparent)


# the rest of Optax's contrib, in modules of their own
from . import contrib_free, contrib_moments       # noqa: E402

for _module in (contrib_free, contrib_moments):
    globals().update({_name: getattr(_module, _name) for _name in _module.__all__})
    __all__ += _module.__all__
