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

NaN and infinity checks: with `ft.config.update("debug_nans", True)` (or "debug_infs", or
the environment variables FUNCTRANS_DEBUG_NANS=1 / FUNCTRANS_DEBUG_INFS=1) the operation that
produces a NaN (an infinity) raises a `FloatingPointError` (`ft.errors.NonFiniteError`),
naming itself, its operands' shapes and the user's source line. Eagerly every primitive's
results are checked (the NumPy fast paths step aside); a jitted function checks its results,
and on a hit runs its jaxpr again one operation at a time, unoptimized, to find the
operation and its line (JAX's approach; nothing is donated meanwhile). Off by default, and
then nothing is checked: the checks are installed when the setting turns on.
"""
from __future__ import annotations

import builtins

import numpy as np

from .array import Array, wrap
from .backends import HOST_TYPES, device_of_raw
from .config import config
from .core import (Primitive, Tracer, is_python_scalar, eval_primitive, eval_jaxpr, evaluate_with,
                   current_source, get_aval)
from .jaxpr import ClosedJaxpr
from .errors import NonFiniteError, format_frame
from .jit import check_outputs_with
from .numpy._fast import enable as enable_fast_paths
from .tree_util import tree_flatten, tree_unflatten, tree_flatten_with_path, keystr

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


# ------------------------------------------------------------------ NaN and infinity checks
def _bad(raw):
    """"NaN" or "inf" if the raw value holds one that a check on looks for, else None."""
    if type(raw) is float or type(raw) is complex:
        raw = np.asarray(raw)
    dtype = getattr(raw, "dtype", None)
    if dtype is None or dtype.kind not in "fc":
        return None
    xp = np if type(raw) in HOST_TYPES else device_of_raw(raw).xp
    if config.debug_nans and bool(xp.isnan(raw).any()):
        return "NaN"
    if config.debug_infs and bool(xp.isinf(raw).any()):
        return "inf"
    return None


def _raw(x):
    return x._value if type(x) is Array else x


def _evaluate_checked(prim, args, params):
    out = eval_primitive(prim, args, params)
    for o in (out if prim.multiple_results else (out,)):
        what = _bad(_raw(o))
        if what is not None:
            _raise_where(what, prim, args, params)
    return out


def _raise_where(what, prim, args, params):
    callee = params.get(prim.callee) if prim.callee else None
    if isinstance(callee, ClosedJaxpr):
        # compiled code (a jit call): run its operations one by one, the culprit raises
        eval_jaxpr(callee.jaxpr, callee.consts, *args)
    shapes = ", ".join(_describe(a) for a in args)
    held = [i for i, a in enumerate(args) if _bad(_raw(a)) == what]
    before = (f"; operand(s) {', '.join(map(str, held))} already held {what}, so it was made "
              "before (in NumPy, or with the check off)") if held else ""
    raise NonFiniteError(
        f"{prim.name} produced {what} from operands ({shapes}), at "
        f"{format_frame(current_source())}{before}. {_setting(what)}")


def _describe(x):
    try:
        return get_aval(x).str_short()
    except TypeError:
        return type(x).__name__


def _setting(what):
    name = "debug_nans" if what == "NaN" else "debug_infs"
    return f"(ft.config {name} is on; ft.config.update({name!r}, False) turns it off.)"


def _check_jit_outputs(name, closed, raws, outs, out_tree):
    """A jitted call's results: on a NaN or infinity, run the function again one operation at
    a time to name the operation that made it."""
    for i, o in enumerate(outs):
        what = _bad(o)
        if what is None:
            continue
        eval_jaxpr(closed.jaxpr, closed.consts,
                   *[r if is_python_scalar(r) else wrap(r) for r in raws])
        paths = tree_flatten_with_path(tree_unflatten(out_tree, [0] * out_tree.num_leaves))[0]
        held = [i for i, r in enumerate(raws) if _bad(r) == what]
        why = (f"its argument(s) {', '.join(map(str, held))} (flat) already held {what}"
               if held else "the optimized code computes it differently")
        raise NonFiniteError(
            f"{name} returned {what} in its result{keystr(paths[i][0])}, but no operation "
            "produced it when the function ran again one operation at a time without "
            f"optimization: {why}. {_setting(what)}")


def _apply_checks(name=None, value=None):
    if name not in (None, "debug_nans", "debug_infs"):
        return
    on = bool(config.debug_nans or config.debug_infs)
    evaluate_with(_evaluate_checked if on else None)
    check_outputs_with(_check_jit_outputs if on else None)
    enable_fast_paths(not on)


config.on_update(_apply_checks)
_apply_checks()
