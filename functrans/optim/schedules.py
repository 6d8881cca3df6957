"""Learning-rate schedules: functions from the optimizer's step count (0 for the first
update; an integer array under jit) to a learning rate, computed in float64. Each mirrors a
`torch.optim.lr_scheduler` stepped once per optimizer step."""
from __future__ import annotations

import math

import numpy as np

from .. import lax
from .. import numpy as fnp

__all__ = ["constant_schedule", "step_schedule", "exponential_schedule",
           "cosine_annealing_schedule", "linear_schedule", "join_schedules"]


def _step(count):
    return lax.convert_element_type(fnp.asarray(count), np.float64)


def constant_schedule(value):
    """Always `value`."""
    def schedule(count):
        return lax.full_like(_step(count), float(value))
    return schedule


def step_schedule(init_value, step_size, gamma=0.1):
    """StepLR: `init_value * gamma ** (count // step_size)`."""
    if step_size < 1:
        raise ValueError(f"step_schedule: step_size must be >= 1, got {step_size}")

    def schedule(count):
        return lax.mul(lax.pow(float(gamma), lax.floor(lax.div(_step(count), float(step_size)))),
                       float(init_value))
    return schedule


def exponential_schedule(init_value, gamma):
    """ExponentialLR: `init_value * gamma ** count`."""
    def schedule(count):
        return lax.mul(lax.pow(float(gamma), _step(count)), float(init_value))
    return schedule


def cosine_annealing_schedule(init_value, T_max, eta_min=0.0):
    """CosineAnnealingLR (closed form):
    `eta_min + (init_value - eta_min) * (1 + cos(pi * count / T_max)) / 2`."""
    if T_max <= 0:
        raise ValueError(f"cosine_annealing_schedule: T_max must be positive, got {T_max}")

    def schedule(count):
        phase = lax.cos(lax.mul(_step(count), math.pi / T_max))
        return lax.add(lax.mul(lax.add(phase, 1.0), (init_value - eta_min) / 2), float(eta_min))
    return schedule


def linear_schedule(init_value, end_value, transition_steps):
    """Linear interpolation from `init_value` to `end_value` over `transition_steps`, then
    constant: a linear warmup with `init_value` 0 (LinearLR with absolute values)."""
    if transition_steps <= 0:
        return constant_schedule(end_value)

    def schedule(count):
        frac = lax.min(lax.div(_step(count), float(transition_steps)), 1.0)
        return lax.add(lax.mul(frac, float(end_value - init_value)), float(init_value))
    return schedule


def join_schedules(schedules, boundaries):
    """`schedules[i]` from `boundaries[i-1]` on, each restarted at 0 there (SequentialLR):
    e.g. `join_schedules([linear_schedule(0, lr, 100), cosine_annealing_schedule(lr, 900)],
    [100])` warms up, then anneals."""
    schedules, boundaries = list(schedules), [int(b) for b in boundaries]
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(f"join_schedules needs one boundary fewer than schedules, got "
                         f"{len(schedules)} schedules and {len(boundaries)} boundaries")

    def schedule(count):
        step = _step(count)
        out = schedules[0](step)
        for boundary, s in zip(boundaries, schedules[1:]):
            out = lax.select(lax.lt(step, float(boundary)), out, s(lax.sub(step, float(boundary))))
        return out
    return schedule
