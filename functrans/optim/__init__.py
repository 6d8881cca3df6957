"""`ft.optim`: optimizers with PyTorch's math in Optax's functional shape, combinators,
learning-rate schedules and reduce-on-plateau."""
from .base import GradientTransformation, GradientTransformationExtraArgs, \
    with_extra_args_support, EmptyState
from .transforms import (sgd, adam, adamw, rmsprop, adagrad, adamax, nadam, radam, adadelta,
                         rprop, lion, chain,
                         clip_by_global_norm, apply_updates, global_norm, scale,
                         scale_by_schedule, add_decayed_weights, set_to_zero, SGDState,
                         AdamState, RMSpropState, AdagradState, AdamaxState, NAdamState,
                         RAdamState, AdadeltaState, RpropState, LionState,
                         ScaleByScheduleState, AddDecayedWeightsState)
from .masking import masked, multi_transform, MaskedNode, MaskedState, MultiTransformState
from .inject import inject_hyperparams, InjectHyperparamsState
from .wrappers import MultiSteps, MultiStepsState, apply_if_finite, ApplyIfFiniteState
from .plateau import reduce_on_plateau, ReduceLROnPlateauState
from .schedules import (constant_schedule, step_schedule, multi_step_schedule,
                        exponential_schedule, cosine_annealing_schedule, linear_schedule,
                        join_schedules, warmup_cosine_decay_schedule, one_cycle_schedule,
                        one_cycle_momentum_schedule, cosine_decay_schedule, exponential_decay,
                        polynomial_schedule, piecewise_constant_schedule)
from . import schedules
