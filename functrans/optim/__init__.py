"""`ft.optim`: optimizers with PyTorch's math in Optax's functional shape, combinators,
learning-rate schedules and reduce-on-plateau; Optax's building blocks, optimizers without a
PyTorch namesake (amsgrad, adabelief, lamb, lars, novograd) and losses under Optax's names."""
from .base import GradientTransformation, GradientTransformationExtraArgs, \
    with_extra_args_support, EmptyState
from .transforms import (sgd, adam, adamw, rmsprop, adagrad, adamax, nadam, radam, adadelta,
                         rprop, asgd, lion, chain,
                         clip_by_global_norm, apply_updates, global_norm, scale,
                         scale_by_schedule, add_decayed_weights, set_to_zero, SGDState,
                         AdamState, RMSpropState, AdagradState, AdamaxState, NAdamState,
                         RAdamState, AdadeltaState, RpropState, ASGDState, LionState,
                         ScaleByScheduleState, AddDecayedWeightsState,
                         WeightDecaySchedule)
from .masking import masked, multi_transform, MaskedNode, MaskedState, MultiTransformState
from .inject import inject_hyperparams, InjectHyperparamsState
from .wrappers import MultiSteps, MultiStepsState, apply_if_finite, ApplyIfFiniteState
from .plateau import reduce_on_plateau, ReduceLROnPlateauState
from .schedules import (constant_schedule, step_schedule, multi_step_schedule,
                        exponential_schedule, cosine_annealing_schedule, linear_schedule,
                        join_schedules, warmup_cosine_decay_schedule, one_cycle_schedule,
                        one_cycle_momentum_schedule, cosine_decay_schedule, exponential_decay,
                        polynomial_schedule, piecewise_constant_schedule,
                        warmup_constant_schedule, warmup_exponential_decay_schedule,
                        sgdr_schedule, piecewise_interpolate_schedule, cosine_onecycle_schedule,
                        linear_onecycle_schedule)
from .blocks import (identity, scale_by_adam, scale_by_amsgrad, scale_by_belief, scale_by_rms,
                     scale_by_stddev, scale_by_trust_ratio, trace, scale_by_learning_rate, clip,
                     scale_by_sign, ema, zero_nans, keep_params_nonnegative, scale_by_novograd,
                     scale_by_rss, scale_by_adamax, scale_by_lion, scale_by_radam,
                     scale_by_adadelta, scale_by_rprop, amsgrad, adabelief, lamb, lars,
                     novograd, ScaleByAdamState,
                     ScaleByAmsgradState, ScaleByBeliefState, ScaleByRmsState,
                     ScaleByRmsWithCountState, ScaleByRStdDevState, ScaleByRStdDevWithCountState,
                     TraceState, EmaState, ZeroNansState, NonNegativeParamsState,
                     ScaleByNovogradState, ScaleByRssState, ScaleByLionState,
                     ScaleByAdaDeltaState, ScaleByRpropState)
from .losses import (softmax_cross_entropy, softmax_cross_entropy_with_integer_labels,
                     sigmoid_binary_cross_entropy, l2_loss, squared_error, huber_loss, log_cosh,
                     hinge_loss, cosine_similarity, cosine_distance, kl_divergence, smooth_labels)
from . import schedules, losses, optax
