"""`ft.optim`: optimizers with PyTorch's math in Optax's functional shape, combinators and
learning-rate schedules."""
from .transforms import (GradientTransformation, sgd, adam, adamw, rmsprop, adagrad, chain,
                         clip_by_global_norm, apply_updates, global_norm, SGDState, AdamState,
                         RMSpropState, AdagradState, EmptyState)
from .schedules import (constant_schedule, step_schedule, exponential_schedule,
                        cosine_annealing_schedule, linear_schedule, join_schedules)
from . import schedules
