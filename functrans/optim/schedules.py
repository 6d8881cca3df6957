"""Learning-rate schedules: functions from the optimizer's step count (0 for the first
update; an integer array under jit) to a learning rate, computed in float64. Each mirrors a
`torch.optim.lr_scheduler` stepped once per optimizer step, or one of Optax's schedules
under its name."""
from __future__ import annotations

import math

import numpy as np

from .. import lax
from .. import numpy as fnp
from .inject import (inject_hyperparams, inject_stateful_hyperparams, InjectHyperparamsState,
                     InjectStatefulHyperparamsState, Schedule, StatefulSchedule,
                     WrappedSchedule)

__all__ = ["constant_schedule", "step_schedule", "multi_step_schedule", "exponential_schedule",
           "cosine_annealing_schedule", "linear_schedule", "join_schedules",
           "warmup_cosine_decay_schedule", "one_cycle_schedule", "one_cycle_momentum_schedule",
           "cosine_decay_schedule", "exponential_decay", "polynomial_schedule",
           "piecewise_constant_schedule", "warmup_constant_schedule",
           "warmup_exponential_decay_schedule", "sgdr_schedule", "piecewise_interpolate_schedule",
           "cosine_onecycle_schedule", "linear_onecycle_schedule",
           # Optax's `optax.schedules` also holds these
           "inject_hyperparams", "inject_stateful_hyperparams", "InjectHyperparamsState",
           "InjectStatefulHyperparamsState", "Schedule", "StatefulSchedule", "WrappedSchedule"]


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


def multi_step_schedule(init_value, milestones, gamma=0.1):
    """MultiStepLR: `init_value * gamma ** n`, n being the number of milestones at or before
    `count` (a milestone listed twice counts twice)."""
    milestones = sorted(int(m) for m in milestones)
    if milestones and milestones[0] < 0:
        raise ValueError(f"multi_step_schedule: milestones must be >= 0, got {milestones}")

    def schedule(count):
        step = _step(count)
        passed = lax.full_like(step, 0.0)
        for m in milestones:
            passed = lax.add(passed, lax.convert_element_type(lax.ge(step, float(m)),
                                                              np.float64))
        return lax.mul(lax.pow(float(gamma), passed), float(init_value))
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


def linear_schedule(init_value, end_value, transition_steps, transition_begin=0):
    """Linear interpolation from `init_value` to `end_value` over `transition_steps` that
    start after `transition_begin` steps (Optax's), then constant: a linear warmup with
    `init_value` 0 (LinearLR with absolute values). `transition_steps <= 0` gives the
    constant `init_value`, as Optax's does."""
    if transition_steps <= 0:
        return constant_schedule(init_value)
    begin = float(transition_begin)

    def schedule(count):
        done = lax.max(lax.sub(_step(count), begin), 0.0)
        frac = lax.min(lax.div(done, float(transition_steps)), 1.0)
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


def warmup_cosine_decay_schedule(init_value, peak_value, warmup_steps, decay_steps,
                                 end_value=0.0, exponent=1.0):
    """Optax's warmup_cosine_decay_schedule: linear from `init_value` to `peak_value` over
    `warmup_steps`, then `end_value + (peak_value - end_value) * c ** exponent` with
    `c = (1 + cos(pi * s / (decay_steps - warmup_steps))) / 2` at `s` steps after the warmup,
    held at `end_value` from `decay_steps` on (`decay_steps` counts the warmup). With
    exponent 1 this is PyTorch's `SequentialLR([LinearLR(...), CosineAnnealingLR(...)])`."""
    if warmup_steps < 0 or decay_steps - warmup_steps <= 0:
        raise ValueError(f"warmup_cosine_decay_schedule: needs 0 <= warmup_steps < "
                         f"decay_steps, got warmup_steps={warmup_steps}, "
                         f"decay_steps={decay_steps}")
    alpha = 0.0 if peak_value == 0 else end_value / peak_value
    decay = cosine_decay_schedule(peak_value, decay_steps - warmup_steps, alpha, exponent)
    return join_schedules([linear_schedule(init_value, peak_value, warmup_steps), decay],
                          [warmup_steps])


def cosine_decay_schedule(init_value, decay_steps, alpha=0.0, exponent=1.0):
    """Optax's cosine_decay_schedule: `init_value * ((1 - alpha) * c ** exponent + alpha)`
    with `c = (1 + cos(pi * min(count, decay_steps) / decay_steps)) / 2`, so from
    `init_value` down to `alpha * init_value` at `decay_steps`, then constant."""
    if decay_steps <= 0:
        raise ValueError(f"cosine_decay_schedule: decay_steps must be positive, got "
                         f"{decay_steps}")
    span = float(decay_steps)

    def schedule(count):
        s = lax.min(_step(count), span)
        c = lax.mul(lax.add(lax.cos(lax.mul(s, math.pi / span)), 1.0), 0.5)
        return lax.mul(lax.add(lax.mul(lax.pow(c, float(exponent)), 1.0 - alpha), alpha),
                       float(init_value))
    return schedule


def exponential_decay(init_value, transition_steps, decay_rate, transition_begin=0,
                      staircase=False, end_value=None):
    """Optax's exponential_decay: `init_value` until `transition_begin`, then
    `init_value * decay_rate ** p` with `p = (count - transition_begin) / transition_steps`
    (floored with `staircase`), bounded by `end_value` (below when decaying, above when
    growing). `transition_steps <= 0` gives the constant `init_value`."""
    if transition_steps <= 0:
        return constant_schedule(init_value)
    if decay_rate == 0:
        raise ValueError("exponential_decay: decay_rate must not be 0")
    if transition_begin < 0:
        raise ValueError(f"exponential_decay: transition_begin must be >= 0, got "
                         f"{transition_begin}")

    def schedule(count):
        s = lax.sub(_step(count), float(transition_begin))
        p = lax.div(s, float(transition_steps))
        if staircase:
            p = lax.floor(p)
        value = lax.select(lax.le(s, 0.0), lax.full_like(s, float(init_value)),
                           lax.mul(lax.pow(float(decay_rate), p), float(init_value)))
        if end_value is not None:
            bound = lax.max if decay_rate < 1 else lax.min
            value = bound(value, lax.full_like(value, float(end_value)))
        return value
    return schedule


def polynomial_schedule(init_value, end_value, power, transition_steps, transition_begin=0):
    """Optax's polynomial_schedule: `(init_value - end_value) * (1 - t) ** power + end_value`
    with `t = clip(count - transition_begin, 0, transition_steps) / transition_steps`.
    `transition_steps <= 0` gives the constant `init_value`."""
    if transition_steps <= 0:
        return constant_schedule(init_value)
    if transition_begin < 0:
        raise ValueError(f"polynomial_schedule: transition_begin must be >= 0, got "
                         f"{transition_begin}")

    def schedule(count):
        s = lax.clamp(0.0, lax.sub(_step(count), float(transition_begin)),
                      float(transition_steps))
        frac = lax.sub(1.0, lax.div(s, float(transition_steps)))
        return lax.add(lax.mul(lax.pow(frac, float(power)), float(init_value - end_value)),
                       float(end_value))
    return schedule


def _boundaries_and_scales(name, boundaries_and_scales):
    """Optax's {step: scale} as sorted (step, scale) pairs; scales must be non-negative."""
    pieces = sorted((int(b), float(v)) for b, v in (boundaries_and_scales or {}).items())
    if any(v < 0 for _, v in pieces):
        raise ValueError(f"{name}: scales must be non-negative, got {dict(pieces)}")
    return pieces


def piecewise_constant_schedule(init_value, boundaries_and_scales=None):
    """Optax's piecewise_constant_schedule: `init_value` times the scale of every boundary
    at or before `count` (`boundaries_and_scales`: {step: scale})."""
    pieces = _boundaries_and_scales("piecewise_constant_schedule", boundaries_and_scales)

    def schedule(count):
        step = _step(count)
        value = lax.full_like(step, float(init_value))
        for boundary, scale in pieces:
            value = lax.select(lax.lt(step, float(boundary)), value, lax.mul(value, scale))
        return value
    return schedule


def _one_cycle(name, total_steps, pct_start, anneal_strategy, three_phase, points):
    """A schedule through `points` (the values at the phase boundaries) with OneCycleLR's
    phases: the first ends at step `pct_start * total_steps - 1`, (three-phase) the second at
    `2 * pct_start * total_steps - 2`, the last at `total_steps - 1`."""
    if not isinstance(total_steps, int) or total_steps <= 0:
        raise ValueError(f"{name}: total_steps must be a positive integer, got {total_steps!r}")
    if not 0.0 <= pct_start <= 1.0:
        raise ValueError(f"{name}: pct_start must be in [0, 1], got {pct_start!r}")
    if anneal_strategy not in ("cos", "linear"):
        raise ValueError(f"{name}: anneal_strategy must be 'cos' or 'linear', got "
                         f"{anneal_strategy!r}")
    if float(pct_start * total_steps) - 1 == 0:
        raise ValueError(f"{name}: pct_start * total_steps == 1 leaves the first phase "
                         "without length (PyTorch divides by zero there); change pct_start")
    ends = [float(pct_start * total_steps) - 1]
    if three_phase:
        ends.append(float(2 * pct_start * total_steps) - 2)
    ends.append(float(total_steps - 1))
    starts = [0.0] + ends[:-1]

    def anneal(begin, end, pct):
        if anneal_strategy == "cos":
            return lax.add(lax.mul(lax.add(lax.cos(lax.mul(pct, math.pi)), 1.0),
                                   (begin - end) / 2.0), end)
        return lax.add(lax.mul(pct, end - begin), begin)

    def schedule(count):
        step = lax.min(_step(count), float(total_steps - 1))
        phase_values = []
        for i, (start, end) in enumerate(zip(starts, ends)):
            width = end - start if end != start else 1.0      # a phase never reached
            pct = lax.div(lax.sub(step, start), width)
            phase_values.append(anneal(points[i], points[i + 1], pct))
        out = phase_values[-1]
        for end, value in zip(ends[-2::-1], phase_values[-2::-1]):
            out = lax.select(lax.le(step, end), value, out)
        return out
    return schedule


def one_cycle_schedule(max_lr, total_steps, pct_start=0.3, anneal_strategy="cos",
                       div_factor=25.0, final_div_factor=1e4, three_phase=False):
    """OneCycleLR's learning rate: from `max_lr / div_factor` up to `max_lr` over the first
    `pct_start` of `total_steps` (cosine or linear annealing), then down to
    `max_lr / div_factor / final_div_factor` (with `three_phase`, first back to the initial
    value, then to the final one); held at the final value after `total_steps` (PyTorch
    raises there). PyTorch also cycles the momentum by default (`cycle_momentum=True`): give
    the optimizer `one_cycle_momentum_schedule` through `inject_hyperparams` for that."""
    initial = max_lr / div_factor
    points = [initial, max_lr, initial / final_div_factor]
    if three_phase:
        points = [initial, max_lr, initial, initial / final_div_factor]
    return _one_cycle("one_cycle_schedule", total_steps, pct_start, anneal_strategy,
                      three_phase, points)


def one_cycle_momentum_schedule(total_steps, pct_start=0.3, anneal_strategy="cos",
                                base_momentum=0.85, max_momentum=0.95, three_phase=False):
    """OneCycleLR's momentum (`cycle_momentum=True`): from `max_momentum` down to
    `base_momentum` while the learning rate rises, then back up (three-phase: back up, then
    held), e.g. `inject_hyperparams(ft.optim.sgd)(lr=one_cycle_schedule(0.1, n),
    momentum=one_cycle_momentum_schedule(n))`."""
    points = [max_momentum, base_momentum, max_momentum]
    if three_phase:
        points = [max_momentum, base_momentum, max_momentum, max_momentum]
    return _one_cycle("one_cycle_momentum_schedule", total_steps, pct_start,
                      anneal_strategy, three_phase, points)


def warmup_constant_schedule(init_value, peak_value, warmup_steps):
    """Optax's warmup_constant_schedule: linear from `init_value` to `peak_value` over
    `warmup_steps`, then `peak_value` (`warmup_steps <= 0`: the constant `init_value`, as
    Optax gives)."""
    if warmup_steps <= 0:
        return constant_schedule(init_value)
    return linear_schedule(init_value, peak_value, warmup_steps)


def warmup_exponential_decay_schedule(init_value, peak_value, warmup_steps, transition_steps,
                                      decay_rate, transition_begin=0, staircase=False,
                                      end_value=None):
    """Optax's warmup_exponential_decay_schedule: linear from `init_value` to `peak_value`
    over `warmup_steps`, then `exponential_decay(peak_value, ...)` counted from there."""
    decay = exponential_decay(peak_value, transition_steps, decay_rate, transition_begin,
                              staircase, end_value)
    return join_schedules([linear_schedule(init_value, peak_value, warmup_steps), decay],
                          [warmup_steps])


def sgdr_schedule(cosine_kwargs):
    """Optax's sgdr_schedule (warm restarts): one `warmup_cosine_decay_schedule(**kwargs)`
    after the other, each lasting its `decay_steps`."""
    schedules, boundaries, step = [], [], 0
    for kwargs in cosine_kwargs:
        schedules.append(warmup_cosine_decay_schedule(**kwargs))
        step += kwargs["decay_steps"]
        boundaries.append(step)
    if not schedules:
        raise ValueError("sgdr_schedule needs at least one dict of cosine arguments")
    return join_schedules(schedules, boundaries[:-1])


def piecewise_interpolate_schedule(interpolate_type, init_value, boundaries_and_scales=None):
    """Optax's piecewise_interpolate_schedule: at each boundary the value is `init_value`
    times the scales of it and all earlier boundaries ({step: scale}); in between it moves
    from one such value to the next ('linear' or 'cosine'), constant after the last."""
    if interpolate_type not in ("linear", "cosine"):
        raise ValueError("piecewise_interpolate_schedule: interpolate_type must be 'linear' "
                         f"or 'cosine', got {interpolate_type!r}")
    pieces = _boundaries_and_scales("piecewise_interpolate_schedule", boundaries_and_scales)
    bounds = [0] + [b for b, _ in pieces]
    values = [float(init_value)]
    for _, v in pieces:
        values.append(values[-1] * v)

    def interpolate(start, end, pct):
        if interpolate_type == "linear":
            return lax.add(lax.mul(pct, end - start), start)
        return lax.add(lax.mul(lax.add(lax.cos(lax.mul(pct, math.pi)), 1.0), (start - end) / 2),
                       end)

    def schedule(count):
        step = _step(count)
        zero = lax.full_like(step, 0.0)
        out = lax.select(lax.ge(step, float(bounds[-1])), lax.full_like(step, values[-1]), zero)
        for i in range(len(pieces)):
            lo, hi = float(bounds[i]), float(bounds[i + 1])
            pct = lax.div(lax.sub(step, lo), max(hi - lo, 1.0))
            inside = lax.bitwise_and(lax.ge(step, lo), lax.lt(step, hi))
            out = lax.add(out, lax.select(inside, interpolate(values[i], values[i + 1], pct),
                                          zero))
        return out
    return schedule


def _check_transition_steps(name, transition_steps):
    if transition_steps <= 0:
        raise ValueError(f"{name}: transition_steps must be positive, got {transition_steps}")


def cosine_onecycle_schedule(transition_steps, peak_value, pct_start=0.3, div_factor=25.0,
                             final_div_factor=1e4):
    """Optax's cosine_onecycle_schedule: cosine from `peak_value / div_factor` up to
    `peak_value` at step `int(pct_start * transition_steps)`, then down to
    `peak_value / div_factor / final_div_factor` at `transition_steps`."""
    _check_transition_steps("cosine_onecycle_schedule", transition_steps)
    return piecewise_interpolate_schedule(
        "cosine", peak_value / div_factor,
        {int(pct_start * transition_steps): div_factor,
         int(transition_steps): 1.0 / (div_factor * final_div_factor)})


def linear_onecycle_schedule(transition_steps, peak_value, pct_start=0.3, pct_final=0.85,
                             div_factor=25.0, final_div_factor=1e4):
    """Optax's linear_onecycle_schedule: linear from `peak_value / div_factor` up to
    `peak_value` at `int(pct_start * transition_steps)`, back down at
    `int(pct_final * transition_steps)`, then to `1 / final_div_factor` of that at
    `transition_steps`."""
    _check_transition_steps("linear_onecycle_schedule", transition_steps)
    return piecewise_interpolate_schedule(
        "linear", peak_value / div_factor,
        {int(pct_start * transition_steps): div_factor,
         int(pct_final * transition_steps): 1.0 / div_factor,
         transition_steps: 1.0 / final_div_factor})
