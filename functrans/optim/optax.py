"""Optax's API under its names and signatures, for code written for Optax:
`from functrans.optim import optax` in place of `import optax`.

`ft.optim` itself follows PyTorch where the two disagree: `ft.optim.adam(lr, betas=...)`
is torch.optim.Adam, and `ft.optim.adamw(1e-3)` decays weights by 1e-2 where Optax's
`adamw(1e-3)` decays them by 1e-4. Here `sgd`, `adam`, `adamw`, `nadam`, `nadamw` and
`rmsprop` take Optax's arguments and defaults and are Optax's chains of building blocks, with
its state structure (`state[0]` of `adam` is a `ScaleByAdamState(count, mu, nu)`). Optimizers
whose Optax form is not built here (adagrad, adamax, adadelta, lion, radam, rprop, ...) raise
an AttributeError naming `ft.optim`'s PyTorch version.
"""
from __future__ import annotations

from . import blocks, losses
from .base import EmptyState, GradientTransformation, GradientTransformationExtraArgs
from .blocks import *  # noqa: F401,F403  (the building blocks, under Optax's names)
from .blocks import (identity, scale_by_adam, scale_by_learning_rate, scale_by_rms,
                     scale_by_stddev, trace)
from .inject import inject_hyperparams, InjectHyperparamsState
from .losses import *  # noqa: F401,F403
from .masking import masked, multi_transform, MaskedNode, MaskedState, MultiTransformState
from .schedules import (constant_schedule, linear_schedule, join_schedules,
                        warmup_cosine_decay_schedule, cosine_decay_schedule, exponential_decay,
                        polynomial_schedule, piecewise_constant_schedule,
                        piecewise_interpolate_schedule, warmup_constant_schedule,
                        warmup_exponential_decay_schedule, sgdr_schedule,
                        cosine_onecycle_schedule, linear_onecycle_schedule)
from .transforms import (chain, clip_by_global_norm, apply_updates, global_norm, scale,
                         scale_by_schedule, add_decayed_weights, set_to_zero,
                         ScaleByScheduleState, AddDecayedWeightsState)
from .wrappers import MultiSteps, MultiStepsState, apply_if_finite, ApplyIfFiniteState

__all__ = [*blocks.__all__, *losses.__all__, "adam", "adamw", "add_decayed_weights",
           "AddDecayedWeightsState", "apply_if_finite", "apply_updates", "ApplyIfFiniteState",
           "chain", "clip_by_global_norm", "constant_schedule", "cosine_decay_schedule",
           "cosine_onecycle_schedule", "EmptyState", "exponential_decay", "global_norm",
           "GradientTransformation", "GradientTransformationExtraArgs", "inject_hyperparams",
           "InjectHyperparamsState", "join_schedules", "linear_onecycle_schedule",
           "linear_schedule", "losses", "masked", "MaskedNode", "MaskedState", "multi_transform",
           "MultiSteps", "MultiStepsState", "MultiTransformState", "nadam", "nadamw",
           "piecewise_constant_schedule", "piecewise_interpolate_schedule", "polynomial_schedule",
           "rmsprop", "scale", "scale_by_schedule", "ScaleByScheduleState", "set_to_zero", "sgd",
           "sgdr_schedule", "warmup_constant_schedule", "warmup_cosine_decay_schedule",
           "warmup_exponential_decay_schedule"]


def sgd(learning_rate, momentum=None, nesterov=False, accumulator_dtype=None):
    """Optax's sgd: `trace(momentum)` (none when `momentum` is None), then the learning
    rate."""
    return chain(identity() if momentum is None else
                 trace(decay=momentum, nesterov=nesterov, accumulator_dtype=accumulator_dtype),
                 scale_by_learning_rate(learning_rate))


def adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype=None, *,
         nesterov=False):
    """Optax's adam: `scale_by_adam`, then the learning rate."""
    return chain(scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
                 scale_by_learning_rate(learning_rate))


def adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype=None,
          weight_decay=1e-4, mask=None, *, nesterov=False):
    """Optax's adamw: `scale_by_adam`, decoupled weight decay (`mask` limits it), then the
    learning rate."""
    return chain(scale_by_adam(b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov),
                 add_decayed_weights(weight_decay, mask),
                 scale_by_learning_rate(learning_rate))


def nadam(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype=None, *,
          nesterov=True):
    """Optax's nadam: `adam` with Nesterov's look-ahead mean."""
    return adam(learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov)


def nadamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype=None,
           weight_decay=1e-4, mask=None, *, nesterov=True):
    """Optax's nadamw: `adamw` with Nesterov's look-ahead mean."""
    return adamw(learning_rate, b1, b2, eps, eps_root, mu_dtype, weight_decay, mask,
                 nesterov=nesterov)


def rmsprop(learning_rate, decay=0.9, eps=1e-8, initial_scale=0.0, eps_in_sqrt=True,
            centered=False, momentum=None, nesterov=False, bias_correction=False):
    """Optax's rmsprop: `scale_by_rms` (`scale_by_stddev` when centered), the learning rate,
    then `trace(momentum)` (none when `momentum` is None)."""
    scaling = scale_by_stddev if centered else scale_by_rms
    return chain(scaling(decay=decay, eps=eps, initial_scale=initial_scale,
                         eps_in_sqrt=eps_in_sqrt, bias_correction=bias_correction),
                 scale_by_learning_rate(learning_rate),
                 identity() if momentum is None else trace(decay=momentum, nesterov=nesterov))


_PYTORCH_ONLY = ("adagrad", "adamax", "adadelta", "lion", "radam", "rprop")


def __getattr__(name):
    if name in _PYTORCH_ONLY:
        raise AttributeError(
            f"functrans.optim.optax has no {name} with Optax's arguments; ft.optim.{name} is "
            "PyTorch's (its arguments and math), or build Optax's chain from the building "
            "blocks here")
    raise AttributeError(f"module 'functrans.optim.optax' has no attribute {name!r}")
