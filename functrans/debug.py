"""`ft.debug.print`: print values from inside transformed functions, when they are computed.

    @ft.jit
    def f(x):
        y = fnp.sin(x)
        ft.debug.print("y = {y}, max {m:.3f}", y=y, m=y.max())
        return y * 2

A plain `print` inside `jit` runs once, while tracing, and shows abstract values;
`ft.debug.print` is an effectful primitive: it is staged into the jaxpr, kept by every
compiler pass, and prints the concrete values each time the compiled code runs. Eagerly it
prints at once; under `grad`/`jvp` it prints the primal values (it has no derivative); under
`vmap` it prints once per example.
"""
from __future__ import annotations

import builtins

from .array import wrap
from .core import Primitive, Tracer, is_python_scalar
from .tree_util import tree_flatten, tree_unflatten

__all__ = ["print"]

debug_print_p = Primitive("debug_print", multiple_results=True, effectful=True)


def _print_impl(xp, *leaves, fmt, args_tree):
    values = [v if is_python_scalar(v) else wrap(v) for v in leaves]
    args, kwargs = tree_unflatten(args_tree, values)
    builtins.print(fmt.format(*args, **kwargs), flush=True)
    return []


debug_print_p.impl = _print_impl
debug_print_p.abstract_eval = lambda *avals, fmt, args_tree: []
debug_print_p.jvp = lambda primals, tangents, **params: (debug_print_p.bind(*primals, **params),
                                                         [])
debug_print_p.vjp = lambda primals, needs, **params: (debug_print_p.bind(*primals, **params),
                                                      None)


def _print_batch(vals, dims, **params):
    """Print once per example, in order."""
    from .primitives._util import bdim_size
    from .primitives.shape_ops import slice_in_dim, squeeze
    size = bdim_size(vals, dims)
    for i in range(size):
        debug_print_p.bind(*[v if d is None else squeeze(slice_in_dim(v, i, i + 1, axis=d), (d,))
                             for v, d in zip(vals, dims)], **params)
    return [], []


debug_print_p.batch = _print_batch


def print(fmt, *args, **kwargs):  # noqa: A001 - the public name mirrors jax.debug.print
    """Print `fmt.format(*args, **kwargs)` with the concrete values of the arguments (pytrees
    of arrays), whenever they are computed: eagerly at once, inside `jit` each time the
    compiled function runs."""
    leaves, tree = tree_flatten((tuple(args), dict(kwargs)))
    for x in leaves:
        if not (isinstance(x, Tracer) or is_python_scalar(x) or hasattr(x, "shape")):
            raise TypeError(
                f"ft.debug.print: arguments must be arrays or numbers, got a "
                f"{type(x).__name__}; put other values into the format string itself, e.g. "
                "ft.debug.print(f'{name}: {{x}}', x=x)")
    debug_print_p.bind(*leaves, fmt=fmt, args_tree=tree)
