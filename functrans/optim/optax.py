"""Optax's API under its names and signatures, for code written for Optax:
`from functrans.optim import optax` in place of `import optax`.

`ft.optim` itself follows PyTorch where the two disagree: `ft.optim.adam(lr, betas=...)`
is torch.optim.Adam, and `ft.optim.adamw(1e-3)` decays weights by 1e-2 where Optax's
`adamw(1e-3)` decays them by 1e-4. Here `sgd`, `adam`, `adamw`, `nadam`, `nadamw`,
`rmsprop`, `adagrad`, `adamax`, `adamaxw`, `lion`, `radam`, `adadelta` and `rprop` take
Optax's arguments and defaults and are Optax's chains of building blocks, with its state
structure (`state[0]` of `adam` is a `ScaleByAdamState(count, mu, nu)`); `ft.optim.adagrad`
etc. remain PyTorch's. `contrib.reduce_on_plateau` is Optax's (`ft.optim.reduce_on_plateau`
is PyTorch's ReduceLROnPlateau). The schedules here give their values in the default float
dtype, as Optax's do (`ft.optim`'s give float64, as PyTorch's Python floats).

Optax's submodules `tree_utils`, `tree` (its functions without the `tree_` prefix),
`transforms`, `losses`, `schedules`, `contrib`, `projections`, `second_order`,
`perturbations`, `assignment`, `microbatching`, `experimental` (`.aggregating`) and the
private `_src.base` import as theirs do:
`import functrans.optim.optax.tree_utils as otu` for `import optax.tree_utils as otu`.
"""
from __future__ import annotations

import functools
import sys
import types
from typing import Any, Callable, Union

from .. import dtypes, lax
from ..array import Array
from . import (assignment, blocks, contrib, experimental, extras, losses, microbatching,
               perturbations, projections, schedules, second_order, tree_utils)
from .base import (EmptyState, GradientTransformation, GradientTransformationExtraArgs,
                   with_extra_args_support)
from .extras import *  # noqa: F401,F403  (more optimizers, transformations and helpers)
from .factorized import (adafactor, clip_by_block_rms, FactoredState, scale_by_factored_rms,
                         scale_by_param_block_rms)
from .blocks import *  # noqa: F401,F403  (the building blocks, under Optax's names)
from .blocks import (clip, ema, identity, keep_params_nonnegative, scale_by_adadelta,
                     scale_by_adam, scale_by_adamax, scale_by_learning_rate, scale_by_lion,
                     scale_by_optimistic_gradient, scale_by_radam, scale_by_rms, scale_by_rprop,
                     scale_by_rss, scale_by_stddev, trace, zero_nans, EmaState,
                     NonNegativeParamsState, TraceState, ZeroNansState)
from .inject import (inject_hyperparams, inject_stateful_hyperparams, InjectHyperparamsState,
                     InjectStatefulHyperparamsState, Schedule, StatefulSchedule,
                     WrappedSchedule)
from .linalg import matrix_inverse_pth_root, multi_normal, nnls
from .linesearch import (lbfgs, scale_by_backtracking_linesearch, scale_by_lbfgs,
                         scale_by_zoom_linesearch, value_and_grad_from_state,
                         ScaleByBacktrackingLinesearchState, ScaleByLBFGSState,
                         ScaleByZoomLinesearchState, ZoomLinesearchInfo)
from .losses import *  # noqa: F401,F403
from .masking import masked, multi_transform, MaskedNode, MaskedState, MultiTransformState
from .transforms import (chain, clip_by_global_norm, apply_updates, global_norm, scale,
                         scale_by_schedule, add_decayed_weights, set_to_zero, freeze,
                         selective_transform, ScaleByScheduleState, AddDecayedWeightsState,
                         WeightDecaySchedule)
from .tree_utils import tree, tree_map_params
from .wrappers import (MultiSteps, MultiStepsState, apply_if_finite, ApplyIfFiniteState, flatten,
                       lookahead, LookaheadParams, LookaheadState)

__all__ = [*blocks.__all__, *extras.__all__, *losses.__all__, "bias_correction",
           "update_moment", "update_moment_per_elem_norm", "update_infinity_moment",
           "tree_map_params", "with_extra_args_support", "adafactor", "adadelta", "adagrad",
           "adam", "adamax", "adamaxw", "adamw", "add_decayed_weights", "AddDecayedWeightsState",
           "apply_if_finite", "apply_updates", "ApplyIfFiniteState", "chain",
           "clip_by_global_norm", "constant_schedule", "contrib", "cosine_decay_schedule",
           "cosine_onecycle_schedule", "EmptyState", "exponential_decay", "global_norm",
           "GradientTransformation", "GradientTransformationExtraArgs", "inject_hyperparams",
           "InjectHyperparamsState", "join_schedules", "linear_onecycle_schedule",
           "linear_schedule", "lion", "losses", "masked", "MaskedNode", "MaskedState",
           "multi_transform", "MultiSteps", "MultiStepsState", "MultiTransformState", "nadam",
           "nadamw", "piecewise_constant_schedule", "piecewise_interpolate_schedule",
           "polynomial_schedule", "radam", "rmsprop", "rprop", "scale", "scale_by_schedule",
           "ScaleByScheduleState", "set_to_zero", "sgd", "sgdr_schedule",
           "warmup_constant_schedule", "warmup_cosine_decay_schedule",
           "warmup_exponential_decay_schedule", "WeightDecaySchedule", "tree_utils", "tree",
           "transforms", "ArrayTree", "Params", "Updates", "OptState", "Schedule",
           "ScalarOrSchedule", "TransformInitFn", "TransformUpdateFn", "partition",
           "PartitionState", "flatten", "freeze", "selective_transform", "lookahead",
           "LookaheadParams", "LookaheadState", "optimistic_gradient_descent",
           "scale_by_factored_rms", "FactoredState", "clip_by_block_rms",
           "scale_by_param_block_rms", "lbfgs", "scale_by_lbfgs", "ScaleByLBFGSState",
           "scale_by_backtracking_linesearch", "ScaleByBacktrackingLinesearchState",
           "scale_by_zoom_linesearch", "ScaleByZoomLinesearchState", "ZoomLinesearchInfo",
           "value_and_grad_from_state", "TransformUpdateExtraArgsFn", "MaskOrFn",
           "ShouldSkipUpdateFunction", "projections", "second_order", "perturbations",
           "inject_stateful_hyperparams", "InjectStatefulHyperparamsState", "WrappedSchedule",
           "matrix_inverse_pth_root", "multi_normal", "nnls", "assignment", "microbatching",
           "microbatch", "experimental"]

# Optax's type annotations (`def fit(params: optax.Params, ...)`)
ArrayTree = Union[Array, Any]
Params = Updates = OptState = ArrayTree
ScalarOrSchedule = Union[float, Array, Schedule]
TransformInitFn = Callable[[Params], OptState]
TransformUpdateFn = Callable[..., tuple]
TransformUpdateExtraArgsFn = Callable[..., tuple]
MaskOrFn = Union[Any, Callable[[Params], Any]]
ShouldSkipUpdateFunction = Callable[[Updates, Any, Params], tuple]
ConditionFn = Callable[..., Any]

partition = multi_transform
PartitionState = MultiTransformState
bias_correction = tree_utils.tree_bias_correction
update_moment = tree_utils.tree_update_moment
update_moment_per_elem_norm = tree_utils.tree_update_moment_per_elem_norm
update_infinity_moment = tree_utils.tree_update_infinity_moment
microbatch = microbatching.microbatch

transforms = types.ModuleType("transforms", "Optax's `optax.transforms`: the transformations "
                              "that combine, mask, clip, accumulate or wrap others.")
transforms.__dict__.update(
    ApplyIfFiniteState=ApplyIfFiniteState, EmaState=EmaState, MaskedNode=MaskedNode,
    MaskedState=MaskedState, MultiSteps=MultiSteps, MultiStepsState=MultiStepsState,
    NonNegativeParamsState=NonNegativeParamsState, PartitionState=PartitionState,
    TraceState=TraceState, ZeroNansState=ZeroNansState, add_decayed_weights=add_decayed_weights,
    apply_if_finite=apply_if_finite, chain=chain, clip=clip, clip_by_block_rms=clip_by_block_rms,
    clip_by_global_norm=clip_by_global_norm, ema=ema, flatten=flatten, freeze=freeze,
    keep_params_nonnegative=keep_params_nonnegative, masked=masked, partition=partition,
    selective_transform=selective_transform, trace=trace, zero_nans=zero_nans,
    **{name: globals()[name] for name in (
        "AddNoiseState", "ConditionFn", "ConditionallyMaskState", "ConditionallyTransformState",
        "MonitorState", "ShouldSkipUpdateFunction", "SnapshotState", "adaptive_grad_clip",
        "add_noise", "conditionally_mask", "conditionally_transform", "measure_with_ema",
        "monitor", "named_chain", "per_example_global_norm_clip", "per_example_layer_norm_clip",
        "skip_large_updates", "skip_not_finite", "snapshot", "unitwise_clip", "unitwise_norm")})

# Optax's private `optax._src.base`, which some of its examples import
_src = types.ModuleType("_src", "Optax's private package; only `base` is mirrored.")
_src.base = types.ModuleType("base", "Optax's `optax._src.base`: the transformation types, "
                             "EmptyState, identity, set_to_zero and the stateless builders.")
_src.base.__dict__.update(StatefulSchedule=StatefulSchedule, **{name: globals()[name] for name in (
    "ArrayTree", "EmptyState", "GradientTransformation", "GradientTransformationExtraArgs",
    "OptState", "Params", "ScalarOrSchedule", "Schedule", "TransformInitFn",
    "TransformUpdateExtraArgsFn", "TransformUpdateFn", "Updates", "identity", "init_empty_state",
    "set_to_zero", "stateless", "stateless_with_tree_map", "with_extra_args_support")})


def _in_default_float(make_schedule):
    """`make_schedule` whose schedules return the default float dtype (float32 unless
    configured), so that `params - lr(step) * g` keeps float32 params float32."""
    @functools.wraps(make_schedule)
    def make(*args, **kwargs):
        schedule = make_schedule(*args, **kwargs)

        def rounded(count):
            return lax.convert_element_type(schedule(count), dtypes.default_float_dtype())
        return rounded
    return make


constant_schedule = _in_default_float(schedules.constant_schedule)
linear_schedule = _in_default_float(schedules.linear_schedule)
join_schedules = _in_default_float(schedules.join_schedules)
warmup_cosine_decay_schedule = _in_default_float(schedules.warmup_cosine_decay_schedule)
cosine_decay_schedule = _in_default_float(schedules.cosine_decay_schedule)
exponential_decay = _in_default_float(schedules.exponential_decay)
polynomial_schedule = _in_default_float(schedules.polynomial_schedule)
piecewise_constant_schedule = _in_default_float(schedules.piecewise_constant_schedule)
piecewise_interpolate_schedule = _in_default_float(schedules.piecewise_interpolate_schedule)
warmup_constant_schedule = _in_default_float(schedules.warmup_constant_schedule)
warmup_exponential_decay_schedule = _in_default_float(
    schedules.warmup_exponential_decay_schedule)
sgdr_schedule = _in_default_float(schedules.sgdr_schedule)
cosine_onecycle_schedule = _in_default_float(schedules.cosine_onecycle_schedule)
linear_onecycle_schedule = _in_default_float(schedules.linear_onecycle_schedule)


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


def adagrad(learning_rate, initial_accumulator_value=0.1, eps=1e-7):
    """Optax's adagrad: `scale_by_rss`, then the learning rate (unlike PyTorch's, the
    accumulator starts at 0.1 and `eps` is inside the square root)."""
    return chain(scale_by_rss(initial_accumulator_value=initial_accumulator_value, eps=eps),
                 scale_by_learning_rate(learning_rate))


def adamax(learning_rate, b1=0.9, b2=0.999, eps=1e-8):
    """Optax's adamax: `scale_by_adamax`, then the learning rate."""
    return chain(scale_by_adamax(b1=b1, b2=b2, eps=eps), scale_by_learning_rate(learning_rate))


def adamaxw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, mask=None):
    """Optax's adamaxw: `scale_by_adamax`, decoupled weight decay (`mask` limits it), then the
    learning rate."""
    return chain(scale_by_adamax(b1=b1, b2=b2, eps=eps),
                 add_decayed_weights(weight_decay, mask),
                 scale_by_learning_rate(learning_rate))


def lion(learning_rate, b1=0.9, b2=0.99, mu_dtype=None, weight_decay=1e-3, mask=None):
    """Optax's lion: `scale_by_lion`, decoupled weight decay (`mask` limits it), then the
    learning rate."""
    return chain(scale_by_lion(b1=b1, b2=b2, mu_dtype=mu_dtype),
                 add_decayed_weights(weight_decay, mask),
                 scale_by_learning_rate(learning_rate))


def radam(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, threshold=5.0, *,
          nesterov=False):
    """Optax's radam: `scale_by_radam`, then the learning rate."""
    return chain(scale_by_radam(b1=b1, b2=b2, eps=eps, eps_root=eps_root, threshold=threshold,
                                nesterov=nesterov),
                 scale_by_learning_rate(learning_rate))


def adadelta(learning_rate=None, rho=0.9, eps=1e-6, weight_decay=0.0, weight_decay_mask=None):
    """Optax's adadelta: weight decay added to the gradient first (`weight_decay_mask` limits
    it), then `scale_by_adadelta` and the learning rate (none when it is None)."""
    return chain(add_decayed_weights(weight_decay, mask=weight_decay_mask),
                 scale_by_adadelta(rho=rho, eps=eps),
                 scale_by_learning_rate(learning_rate))


def rprop(learning_rate, eta_minus=0.5, eta_plus=1.2, min_step_size=1e-6, max_step_size=50.0):
    """Optax's rprop: `scale_by_rprop` (`learning_rate` is the initial step size), then
    `scale(-1)`."""
    return chain(scale_by_rprop(learning_rate=learning_rate, eta_minus=eta_minus,
                                eta_plus=eta_plus, min_step_size=min_step_size,
                                max_step_size=max_step_size),
                 scale(-1.0))


def optimistic_gradient_descent(learning_rate, alpha=1.0, beta=1.0):
    """Optax's optimistic_gradient_descent: `scale_by_optimistic_gradient(alpha, beta)`, then
    the learning rate."""
    return chain(scale_by_optimistic_gradient(alpha=alpha, beta=beta),
                 scale_by_learning_rate(learning_rate))


# importable under this module's name, as `os.path` is under `os`'s
for _name in ("tree_utils", "tree", "transforms", "losses", "schedules", "contrib",
              "projections", "second_order", "perturbations", "assignment", "microbatching",
              "experimental", "_src"):
    sys.modules.setdefault(f"{__name__}.{_name}", globals()[_name])
sys.modules.setdefault(f"{__name__}.experimental.aggregating", experimental.aggregating)
sys.modules.setdefault(f"{__name__}._src.base", _src.base)
