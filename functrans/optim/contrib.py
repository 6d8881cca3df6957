"""Optax's `contrib` transformations under their names and arguments (`optax.contrib` in
`functrans.optim.optax`): `reduce_on_plateau` with Optax's rules. `ft.optim.reduce_on_plateau`
keeps PyTorch's ReduceLROnPlateau (mode, threshold, `patience` exceeded rather than reached,
a new scale from the next update on)."""
from __future__ import annotations

import numpy as np

from .. import numpy as fnp
from ..primitives._util import dtype_of
from ..tree_util import tree_leaves, tree_map
from .base import GradientTransformationExtraArgs
from .plateau import ReduceLROnPlateauState

__all__ = ["reduce_on_plateau", "ReduceLROnPlateauState"]


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
