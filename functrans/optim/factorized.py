"""Adafactor (Optax's `adafactor` and its building blocks): second moments kept as a row
and a column average for matrices whose two largest dimensions reach
`min_dim_size_to_factor` (memory linear, not quadratic, in the matrix side), a full
moment for the other leaves; updates clipped by their root mean square and scaled by the
parameters' own."""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .. import numpy as fnp
from ..primitives._util import dtype_of, shape_of
from ..tree_util import tree_flatten, tree_map
from .base import EmptyState, GradientTransformation, displayed, require_params
from .blocks import ema, scale_by_learning_rate
from .extras import safe_increment, safe_root_mean_squares
from .leafwise import abs_sq
from .transforms import add_decayed_weights, chain, scale

__all__ = ["scale_by_factored_rms", "FactoredState", "clip_by_block_rms",
           "scale_by_param_block_rms", "adafactor"]


@displayed
class FactoredState(NamedTuple):
    count: Any
    v_row: Any      # factored leaves: the moment averaged over their largest dimension
    v_col: Any      # ... and over their second largest
    v: Any          # the other leaves: the full moment


def _decay_rate_pow(i, exponent=0.8):
    """Adafactor's default decay `1 - (i + 1) ** -exponent`, in float32 (as Optax's)."""
    return 1.0 - fnp.asarray(i + 1, np.float32) ** (-exponent)


def _factored_dims(shape, factored, min_dim_size_to_factor):
    """`(second largest, largest)` dimension of a leaf whose moment is factored, else None."""
    if not factored or len(shape) < 2:
        return None
    order = np.argsort(shape)
    if shape[order[-2]] < min_dim_size_to_factor:
        return None
    return int(order[-2]), int(order[-1])


def _per_leaf(fn, tree, *others, outputs):
    """`outputs` trees shaped like `tree`, from `fn(leaf, *matching leaves of others)`."""
    leaves, treedef = tree_flatten(tree)
    columns = [treedef.flatten_up_to(t) for t in others]
    results = [fn(*xs) for xs in zip(leaves, *columns)]
    return [treedef.unflatten([r[i] for r in results]) for i in range(outputs)]


def scale_by_factored_rms(factored=True, decay_rate=0.8, step_offset=0,
                          min_dim_size_to_factor=128, epsilon=1e-30,
                          decay_rate_fn=_decay_rate_pow):
    """Optax's `scale_by_factored_rms`: the updates divided by the root of a moving average of
    `|g|**2 + epsilon` (decay `decay_rate_fn(step - step_offset, decay_rate)`), that average
    factored into row and column means for leaves with two dimensions of at least
    `min_dim_size_to_factor` (when `factored`)."""
    def init(params):
        def leaf(p):
            shape, dtype = shape_of(p), dtype_of(p)
            one = fnp.zeros((1,), dtype)
            dims = _factored_dims(shape, factored, min_dim_size_to_factor)
            if dims is None:
                return one, one, fnp.zeros(shape, dtype)
            d1, d0 = dims
            return (fnp.zeros(shape[:d0] + shape[d0 + 1:], dtype),
                    fnp.zeros(shape[:d1] + shape[d1 + 1:], dtype), one)
        return FactoredState(fnp.zeros((), np.int32), *_per_leaf(leaf, params, outputs=3))

    def update(updates, state, params=None):
        require_params(params, "scale_by_factored_rms")
        decay = decay_rate_fn(state.count - step_offset, decay_rate)

        def leaf(g, v_row, v_col, v, p):
            shape, dtype = shape_of(p), dtype_of(p)
            one = fnp.zeros((1,), dtype)
            g_sq = abs_sq(g) + epsilon
            dims = _factored_dims(shape, factored, min_dim_size_to_factor)
            if dims is None:
                v = (decay * v + (1.0 - decay) * g_sq).astype(dtype)
                return g * v ** -0.5, one, one, v
            d1, d0 = dims
            v_row = (decay * v_row + (1.0 - decay) * fnp.mean(g_sq, axis=d0)).astype(dtype)
            v_col = (decay * v_col + (1.0 - decay) * fnp.mean(g_sq, axis=d1)).astype(dtype)
            row_mean = fnp.mean(v_row, axis=d1 - 1 if d1 > d0 else d1, keepdims=True)
            u = (g * fnp.expand_dims((v_row / row_mean) ** -0.5, d0)
                 * fnp.expand_dims(v_col ** -0.5, d1))
            return u, v_row, v_col, one
        u, v_row, v_col, v = _per_leaf(leaf, updates, state.v_row, state.v_col, state.v,
                                       params, outputs=4)
        return u, FactoredState(safe_increment(state.count), v_row, v_col, v)
    return GradientTransformation(init, update)


def clip_by_block_rms(threshold):
    """Optax's `clip_by_block_rms`: each leaf divided by `max(1, rms(leaf) / threshold)`."""
    def update(updates, state, params=None):
        return tree_map(lambda u: u / fnp.maximum(
            1.0, fnp.sqrt(fnp.mean(abs_sq(u))) / threshold), updates), state
    return GradientTransformation(lambda params: EmptyState(), update)


def scale_by_param_block_rms(min_scale=1e-3):
    """Optax's `scale_by_param_block_rms`: each leaf times the root mean square of its
    parameter (at least `min_scale`)."""
    def update(updates, state, params=None):
        require_params(params, "scale_by_param_block_rms")
        return tree_map(lambda u, p: u * safe_root_mean_squares(p, min_scale), updates,
                        params), state
    return GradientTransformation(lambda params: EmptyState(), update)


def adafactor(learning_rate=None, min_dim_size_to_factor=128, decay_rate=0.8, decay_offset=0,
              multiply_by_parameter_scale=True, clipping_threshold=1.0, momentum=None,
              dtype_momentum=np.float32, weight_decay_rate=None, eps=1e-30, factored=True,
              weight_decay_mask=None):
    """Optax's `adafactor`: `scale_by_factored_rms`, then (each unless disabled by None /
    False) `clip_by_block_rms(clipping_threshold)`, the learning rate,
    `scale_by_param_block_rms`, an `ema(momentum)` without debiasing, weight decay, and the
    sign flip of descent."""
    tx = [scale_by_factored_rms(factored, decay_rate, decay_offset, min_dim_size_to_factor,
                                eps)]
    if clipping_threshold is not None:
        tx.append(clip_by_block_rms(clipping_threshold))
    if learning_rate is not None:
        tx.append(scale_by_learning_rate(learning_rate, flip_sign=False))
    if multiply_by_parameter_scale:
        tx.append(scale_by_param_block_rms())
    if momentum is not None:
        tx.append(ema(momentum, debias=False, accumulator_dtype=dtype_momentum))
    if weight_decay_rate is not None:
        tx.append(add_decayed_weights(weight_decay_rate, mask=weight_decay_mask))
    tx.append(scale(-1))
    return chain(*tx)
