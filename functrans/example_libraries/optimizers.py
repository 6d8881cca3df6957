"""`ft.example_libraries.optimizers`: JAX's small optimizer library.

An optimizer is an `(init_fun, update_fun, get_params)` triple:

- `init_fun(params) -> opt_state` for a pytree of arrays,
- `update_fun(step, grads, opt_state) -> opt_state` with the integer step number,
- `get_params(opt_state) -> params`.

    opt_init, opt_update, get_params = optimizers.adam(1e-3)
    opt_state = opt_init(params)
    opt_state = opt_update(i, grad(loss)(get_params(opt_state)), opt_state)

`step_size` is a number or a schedule, a function of the step number. For the
PyTorch-/Optax-style optimizers see `functrans.optim`.
"""
import functools
from collections import namedtuple
from typing import Any, Callable, NamedTuple

from .. import numpy as fnp
from .. import tree_util
from ..errors import ArgumentError

__all__ = [
    "OptimizerState", "Optimizer", "optimizer", "sgd", "momentum", "nesterov", "adagrad",
    "rmsprop", "rmsprop_momentum", "adam", "adamax", "sm3", "constant", "exponential_decay",
    "inverse_time_decay", "polynomial_decay", "piecewise_constant", "make_schedule", "l2_norm",
    "clip_grads", "JoinPoint", "unpack_optimizer_state", "pack_optimizer_state",
]

# The state of a pytree of parameters: the flattened per-leaf states (each itself a flattened
# pytree), the parameters' tree structure and each leaf state's tree structure.
OptimizerState = namedtuple("OptimizerState", ["packed_state", "tree_def", "subtree_defs"])
tree_util.register_pytree_node(
    OptimizerState,
    lambda s: ((s.packed_state,), (s.tree_def, s.subtree_defs)),
    lambda aux, children: OptimizerState(children[0], aux[0], aux[1]))

Array = Any
Params = Any
State = Any
Updates = Params
InitFn = Callable[[Params], OptimizerState]
Step = int
UpdateFn = Callable[[Step, Updates, OptimizerState], OptimizerState]
ParamsFn = Callable[[OptimizerState], Params]
Schedule = Callable[[Step], float]


class Optimizer(NamedTuple):
    """The `(init_fn, update_fn, params_fn)` triple an optimizer constructor returns."""
    init_fn: InitFn
    update_fn: UpdateFn
    params_fn: ParamsFn


def _flatten_all(trees):
    flat = [tree_util.tree_flatten(t) for t in trees]
    return [leaves for leaves, _ in flat], [treedef for _, treedef in flat]


def optimizer(opt_maker):
    """Decorator: turns a maker of `(init, update, get_params)` working on one array into one
    whose functions work on pytrees of arrays (the state is an `OptimizerState`)."""
    @functools.wraps(opt_maker)
    def tree_opt_maker(*args, **kwargs):
        init, update, get_params = opt_maker(*args, **kwargs)

        @functools.wraps(init)
        def tree_init(x0_tree):
            x0_flat, tree = tree_util.tree_flatten(x0_tree)
            states_flat, subtrees = _flatten_all([init(x0) for x0 in x0_flat])
            return OptimizerState(states_flat, tree, subtrees)

        @functools.wraps(update)
        def tree_update(i, grad_tree, opt_state):
            states_flat, tree, subtrees = _unpack(opt_state, "update_fun")
            grad_flat, tree2 = tree_util.tree_flatten(grad_tree)
            if tree2 != tree:
                raise ArgumentError(
                    f"optimizer update function was passed a gradient tree that does not "
                    f"match the parameter tree it was initialized with: parameter tree {tree} "
                    f"and grad tree {tree2}")
            states = [tree_util.tree_unflatten(d, s) for d, s in zip(subtrees, states_flat)]
            new_states = [update(i, g, s) for g, s in zip(grad_flat, states)]
            new_flat, subtrees2 = _flatten_all(new_states)
            for before, after in zip(subtrees, subtrees2):
                if before != after:
                    raise ArgumentError(
                        f"optimizer update function produced an output structure that does "
                        f"not match its input structure: input {before} and output {after}")
            return OptimizerState(new_flat, tree, subtrees)

        @functools.wraps(get_params)
        def tree_get_params(opt_state):
            states_flat, tree, subtrees = _unpack(opt_state, "get_params")
            params = [get_params(tree_util.tree_unflatten(d, s))
                      for d, s in zip(subtrees, states_flat)]
            return tree_util.tree_unflatten(tree, params)

        return Optimizer(tree_init, tree_update, tree_get_params)
    return tree_opt_maker


def _unpack(opt_state, where):
    if not isinstance(opt_state, OptimizerState):
        raise ArgumentError(f"{where}: opt_state must be the OptimizerState that init_fun "
                            f"returned; got {type(opt_state).__name__}")
    return opt_state


def _first(state):
    """`get_params` of the optimizers whose state is (params, *moments)."""
    return state[0]


def _with_zeros(moments):
    """`init` of the optimizers whose state is (params, `moments` moments starting at 0)."""
    def init(x0):
        return (x0,) + tuple(fnp.zeros_like(x0) for _ in range(moments))
    return init


@optimizer
def sgd(step_size):
    """Stochastic gradient descent: `x - step_size(i) * g`."""
    step_size = make_schedule(step_size)

    def init(x0):
        return x0

    def update(i, g, x):
        return x - step_size(i) * g

    def get_params(x):
        return x
    return Optimizer(init, update, get_params)


@optimizer
def momentum(step_size: Schedule, mass: float):
    """SGD with (heavy-ball) momentum `mass`."""
    step_size = make_schedule(step_size)

    def update(i, g, state):
        x, velocity = state
        velocity = mass * velocity + g
        return x - step_size(i) * velocity, velocity

    return _with_zeros(1), update, _first


@optimizer
def nesterov(step_size: Schedule, mass: float):
    """SGD with Nesterov momentum `mass`."""
    step_size = make_schedule(step_size)

    def update(i, g, state):
        x, velocity = state
        velocity = mass * velocity + g
        return x - step_size(i) * (mass * velocity + g), velocity

    return _with_zeros(1), update, _first


@optimizer
def adagrad(step_size, momentum=0.9):
    """Adagrad (Duchi et al. 2011) with momentum on the scaled gradient."""
    step_size = make_schedule(step_size)

    def update(i, g, state):
        x, g_sq, m = state
        g_sq = g_sq + fnp.square(g)
        g_sq_inv_sqrt = fnp.where(g_sq > 0, 1. / fnp.sqrt(g_sq), 0.0)
        m = (1. - momentum) * (g * g_sq_inv_sqrt) + momentum * m
        return x - step_size(i) * m, g_sq, m

    return _with_zeros(2), update, _first


@optimizer
def rmsprop(step_size, gamma=0.9, eps=1e-8):
    """RMSProp: `x - step_size(i) * g / sqrt(avg_sq_grad + eps)`."""
    step_size = make_schedule(step_size)

    def update(i, g, state):
        x, avg_sq_grad = state
        avg_sq_grad = avg_sq_grad * gamma + fnp.square(g) * (1. - gamma)
        return x - step_size(i) * g / fnp.sqrt(avg_sq_grad + eps), avg_sq_grad

    return _with_zeros(1), update, _first


@optimizer
def rmsprop_momentum(step_size, gamma=0.9, eps=1e-8, momentum=0.9):
    """RMSProp with momentum on the scaled step."""
    step_size = make_schedule(step_size)

    def update(i, g, state):
        x, avg_sq_grad, mom = state
        avg_sq_grad = avg_sq_grad * gamma + fnp.square(g) * (1. - gamma)
        mom = momentum * mom + step_size(i) * g / fnp.sqrt(avg_sq_grad + eps)
        return x - mom, avg_sq_grad, mom

    return _with_zeros(2), update, _first


@optimizer
def adam(step_size, b1=0.9, b2=0.999, eps=1e-8):
    """Adam (Kingma & Ba) with bias-corrected moments."""
    step_size = make_schedule(step_size)

    def update(i, g, state):
        x, m, v = state
        m = (1 - b1) * g + b1 * m
        v = (1 - b2) * fnp.square(g) + b2 * v
        mhat = m / (1 - fnp.asarray(b1, m.dtype) ** (i + 1))
        vhat = v / (1 - fnp.asarray(b2, m.dtype) ** (i + 1))
        return x - step_size(i) * mhat / (fnp.sqrt(vhat) + eps), m, v

    return _with_zeros(2), update, _first


@optimizer
def adamax(step_size, b1=0.9, b2=0.999, eps=1e-8):
    """AdaMax: Adam with an exponentially weighted infinity norm."""
    step_size = make_schedule(step_size)

    def update(i, g, state):
        x, m, u = state
        m = (1 - b1) * g + b1 * m
        u = fnp.maximum(b2 * u, fnp.abs(g))
        x = x - (step_size(i) / (1 - fnp.asarray(b1, m.dtype) ** (i + 1))) * m / (u + eps)
        return x, m, u

    return _with_zeros(2), update, _first


def _expand_along(ndim, v, axis):
    """The 1-d `v` shaped to broadcast along `axis` of an `ndim`-d array."""
    index = [None] * ndim
    index[axis] = slice(None)
    return v[tuple(index)]


@optimizer
def sm3(step_size, momentum=0.9):
    """SM3 (Anil et al. 2019): one accumulator per axis instead of one per element."""
    step_size = make_schedule(step_size)

    def init(x0):
        x_shape = fnp.shape(x0)
        x0 = fnp.atleast_1d(x0)
        vs = [fnp.zeros(n, dtype=x0.dtype) for n in x0.shape]
        return x0, fnp.zeros_like(x0), vs, x_shape

    def update(i, g, state):
        x, m, vs, x_shape = state
        g = fnp.reshape(g, x.shape)
        accum = functools.reduce(
            fnp.minimum, [_expand_along(g.ndim, v, a) for a, v in enumerate(vs)])
        accum = accum + fnp.square(g)
        accum_inv_sqrt = fnp.where(accum > 0, 1. / fnp.sqrt(accum), 0)
        m = (1. - momentum) * (g * accum_inv_sqrt) + momentum * m
        x = x - step_size(i) * m
        vs = [accum.max(axis=tuple(a for a in range(x.ndim) if a != j))
              for j in range(x.ndim)]
        return x, m, vs, x_shape

    def get_params(state):
        x, _, _, x_shape = state
        return x.reshape(x_shape)
    return init, update, get_params


# learning-rate schedules: functions of the step number

def constant(step_size) -> Schedule:
    """The schedule `i -> step_size`."""
    def schedule(i):
        return step_size
    return schedule


def exponential_decay(step_size, decay_steps, decay_rate):
    """`step_size * decay_rate ** (i / decay_steps)`."""
    def schedule(i):
        return step_size * decay_rate ** (i / decay_steps)
    return schedule


def inverse_time_decay(step_size, decay_steps, decay_rate, staircase=False):
    """`step_size / (1 + decay_rate * i / decay_steps)` (the quotient floored if
    `staircase`)."""
    if staircase:
        def schedule(i):
            return step_size / (1 + decay_rate * fnp.floor(i / decay_steps))
    else:
        def schedule(i):
            return step_size / (1 + decay_rate * i / decay_steps)
    return schedule


def polynomial_decay(step_size, decay_steps, final_step_size, power=1.0):
    """From `step_size` to `final_step_size` over `decay_steps` steps along
    `(1 - i / decay_steps) ** power`, then constant."""
    def schedule(step_num):
        step_num = fnp.minimum(step_num, decay_steps)
        step_mult = (1 - step_num / decay_steps) ** power
        return step_mult * (step_size - final_step_size) + final_step_size
    return schedule


def piecewise_constant(boundaries: Any, values: Any):
    """`values[k]` for steps `i` with exactly k boundaries below i (`len(values) ==
    len(boundaries) + 1`)."""
    boundaries = fnp.array(boundaries)
    values = fnp.array(values)
    if not boundaries.ndim == values.ndim == 1:
        raise ArgumentError(f"piecewise_constant: boundaries and values must be sequences; "
                            f"got shapes {boundaries.shape} and {values.shape}")
    if not boundaries.shape[0] == values.shape[0] - 1:
        raise ArgumentError(f"piecewise_constant: boundaries must be one shorter than values; "
                            f"got lengths {boundaries.shape[0]} and {values.shape[0]}")

    def schedule(i):
        return values[fnp.sum(i > boundaries)]
    return schedule


def make_schedule(scalar_or_schedule) -> Schedule:
    """A schedule as it is, or a number as a constant schedule."""
    if callable(scalar_or_schedule):
        return scalar_or_schedule
    if fnp.ndim(scalar_or_schedule) == 0:
        return constant(scalar_or_schedule)
    raise ArgumentError(f"step_size must be a scalar or a schedule (a function of the step "
                        f"number); got {type(scalar_or_schedule).__name__} of shape "
                        f"{fnp.shape(scalar_or_schedule)}")


# utilities

def l2_norm(tree):
    """The l2 norm of a pytree of arrays (all leaves together)."""
    leaves = tree_util.tree_leaves(tree)
    return fnp.sqrt(sum(fnp.vdot(x, x) for x in leaves))


def clip_grads(grad_tree, max_norm):
    """Scales a pytree of gradients down to l2 norm `max_norm` when its norm is larger."""
    norm = l2_norm(grad_tree)
    return tree_util.tree_map(
        lambda g: fnp.where(norm < max_norm, g, g * (max_norm / norm)), grad_tree)


# serialization helpers

class JoinPoint:
    """Marks where a leaf of the parameter tree holds that leaf's optimizer-state tree."""
    def __init__(self, subtree):
        self.subtree = subtree

    def __iter__(self):
        yield self.subtree


def unpack_optimizer_state(opt_state):
    """The `OptimizerState` as a pytree of the parameters' structure whose leaves are
    `JoinPoint`s holding each parameter's state (for serialization)."""
    states_flat, tree_def, subtree_defs = _unpack(opt_state, "unpack_optimizer_state")
    subtrees = [tree_util.tree_unflatten(d, s) for d, s in zip(subtree_defs, states_flat)]
    return tree_util.tree_unflatten(tree_def, [JoinPoint(s) for s in subtrees])


def pack_optimizer_state(marked_pytree):
    """The inverse of `unpack_optimizer_state`."""
    sentinels, tree_def = tree_util.tree_flatten(marked_pytree)
    bad = [type(s).__name__ for s in sentinels if not isinstance(s, JoinPoint)]
    if bad:
        raise ArgumentError(f"pack_optimizer_state: every leaf must be a JoinPoint (as "
                            f"unpack_optimizer_state makes); found {bad[:3]}")
    states_flat, subtree_defs = _flatten_all([s.subtree for s in sentinels])
    return OptimizerState(states_flat, tree_def, subtree_defs)
