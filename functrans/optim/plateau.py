"""Reduce the step size when a monitored value stops improving (PyTorch's ReduceLROnPlateau
as a gradient transformation, after optax.contrib.reduce_on_plateau)."""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from .. import lax
from .. import numpy as fnp
from ..primitives._util import shape_of
from ..tree_util import tree_map
from .base import GradientTransformationExtraArgs, displayed

__all__ = ["reduce_on_plateau", "ReduceLROnPlateauState"]


@displayed
class ReduceLROnPlateauState(NamedTuple):
    scale: Any             # float64: the factor applied to the updates
    best_value: Any        # float64
    plateau_count: Any     # int32: PyTorch's num_bad_epochs
    cooldown_count: Any    # int32: PyTorch's cooldown_counter
    count: Any             # int32: values accumulated towards the next decision
    avg_value: Any         # float64: their mean


def reduce_on_plateau(mode="min", factor=0.1, patience=10, threshold=1e-4,
                      threshold_mode="rel", cooldown=0, min_scale=0.0, eps=1e-8,
                      accumulation_size=1):
    """Multiply the updates by a scale held in the state, starting at 1, that shrinks by
    `factor` when the monitored value (`update(..., value=loss)`) has not improved for more
    than `patience` decisions, with PyTorch ReduceLROnPlateau's rules: improvement means
    `value < best * (1 - threshold)` (mode "min", threshold_mode "rel"), `< best - threshold`
    ("abs"), or `>` with `1 + threshold` / `+ threshold` in mode "max"; `cooldown` decisions
    after a reduction ignore bad values; the scale never goes below `min_scale` and changes
    only by more than `eps`. Put it after the optimizer: `chain(adam(lr),
    reduce_on_plateau(...))`; PyTorch's `min_lr` and `eps` are `min_scale * lr` and
    `eps * lr`. A decision is made every `accumulation_size` updates on the mean of their
    values (PyTorch steps the scheduler once per epoch: use the number of steps per epoch).
    As in a PyTorch loop that steps the scheduler after the optimizer, a new scale applies
    from the next update on (Optax's version applies it to the current one). Works under jit."""
    if mode not in ("min", "max"):
        raise ValueError(f"reduce_on_plateau: mode must be 'min' or 'max', got {mode!r}")
    if threshold_mode not in ("rel", "abs"):
        raise ValueError(f"reduce_on_plateau: threshold_mode must be 'rel' or 'abs', got "
                         f"{threshold_mode!r}")
    if not 0.0 <= factor < 1.0:
        raise ValueError(f"reduce_on_plateau: factor must be in [0, 1), got {factor}")
    if int(accumulation_size) < 1:
        raise ValueError(f"reduce_on_plateau: accumulation_size must be >= 1, got "
                         f"{accumulation_size}")
    sign = 1.0 if mode == "min" else -1.0

    def init(params):
        f64 = np.float64
        return ReduceLROnPlateauState(
            fnp.ones((), f64), fnp.asarray(sign * math.inf, dtype=f64),
            fnp.zeros((), np.int32), fnp.zeros((), np.int32), fnp.zeros((), np.int32),
            fnp.zeros((), f64))

    def improved(value, best):
        if threshold_mode == "rel":
            return lax.lt(sign * value, sign * best * (1.0 - sign * threshold))
        return lax.lt(sign * value, sign * best - threshold)

    def decide(s, value):
        """One step of PyTorch's scheduler on `value`."""
        better = improved(value, s.best_value)
        best = fnp.where(better, value, s.best_value)
        bad = fnp.where(better, 0, s.plateau_count + 1)
        in_cooldown = s.cooldown_count > 0
        cooldown_count = fnp.where(in_cooldown, s.cooldown_count - 1, s.cooldown_count)
        bad = fnp.where(in_cooldown, 0, bad)
        reduce = bad > patience
        smaller = fnp.maximum(s.scale * factor, min_scale)
        scale = fnp.where(reduce & (s.scale - smaller > eps), smaller, s.scale)
        cooldown_count = fnp.where(reduce, cooldown, cooldown_count)
        bad = fnp.where(reduce, 0, bad)
        return scale, best, bad.astype(np.int32), cooldown_count.astype(np.int32)

    def update(updates, state, params=None, *, value=None, **extra_args):
        if value is None:
            raise ValueError("reduce_on_plateau needs the monitored value: "
                             "opt.update(grads, state, params, value=loss)")
        if shape_of(value) != ():
            raise ValueError(f"reduce_on_plateau: value must be a scalar, got shape "
                             f"{shape_of(value)}")
        value = fnp.asarray(value, dtype=np.float64) if isinstance(value, (int, float)) \
            else lax.convert_element_type(value, np.float64)
        count = state.count + 1
        avg = (lax.convert_element_type(state.count, np.float64) * state.avg_value + value) / \
            lax.convert_element_type(count, np.float64)
        ready = count >= accumulation_size
        decided = decide(state, avg)
        kept = (state.scale, state.best_value, state.plateau_count, state.cooldown_count)
        new = [fnp.where(ready, d, k) for d, k in zip(decided, kept)]
        new_state = ReduceLROnPlateauState(*new, fnp.where(ready, 0, count).astype(np.int32),
                                           fnp.where(ready, 0.0, avg))
        scaled = tree_map(lambda g: g * lax.convert_element_type(state.scale, g.dtype),
                          updates)
        return scaled, new_state
    return GradientTransformationExtraArgs(init, update)
