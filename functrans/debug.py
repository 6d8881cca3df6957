"""`ft.debug.print` and `ft.debug.callback`: print values (call a Python function with
them) from inside transformed functions, when they are computed.

    @ft.jit
    def f(x):
        y = fnp.sin(x)
        ft.debug.print("y = {y}, max {m:.3f}", y=y, m=y.max())
        return y * 2

A plain `print` inside `jit` runs once, while tracing, and shows abstract values;
`ft.debug.print` is an effectful primitive: it is staged into the jaxpr, kept by every
compiler pass, and prints the concrete values each time the compiled code runs. Eagerly it
prints at once; under `grad`/`jvp` it prints the primal values (it has no derivative); under
`vmap` it prints once per example. `ft.debug.callback(fn, *args)` is the same for any
function of the values, run for its side effects (logging, collecting values).

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
from . import meshes as _meshes
from .errors import NonFiniteError, format_frame
from .jit import check_outputs_with
from .numpy._conversion import asarray
from .numpy._fast import enable as enable_fast_paths
from .tree_util import tree_flatten, tree_unflatten, tree_flatten_with_path, keystr

__all__ = ["print", "callback"]


def _host_effect(name, run):
    """An effectful primitive with no results that calls `run(values, **params)` with the
    concrete values of its operands (Arrays; Python numbers as they are): eagerly at once,
    under `jit` each time the compiled code runs, under `grad`/`jvp` on the primal values
    (it has no derivative), under `vmap` once per example, in order."""
    p = Primitive(name, multiple_results=True, effectful=True)

    def impl(xp, *leaves, **params):
        run([v if is_python_scalar(v) else wrap(v) for v in leaves], **params)
        return []

    def batch(vals, dims, **params):
        from .primitives._util import bdim_size
        from .primitives.shape_ops import slice_in_dim, squeeze
        for i in range(bdim_size(vals, dims)):
            p.bind(*[v if d is None else squeeze(slice_in_dim(v, i, i + 1, axis=d), (d,))
                     for v, d in zip(vals, dims)], **params)
        return [], []
    p.impl, p.batch = impl, batch
    p.abstract_eval = lambda *avals, **params: []
    p.jvp = lambda primals, tangents, **params: (p.bind(*primals, **params), [])
    p.vjp = lambda primals, needs, **params: (p.bind(*primals, **params), None)
    return p


def _print_values(values, fmt, args_tree):
    args, kwargs = tree_unflatten(args_tree, values)
    builtins.print(fmt.format(*args, **kwargs), flush=True)


debug_print_p = _host_effect("debug_print", _print_values)


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


class _DebugCallback:
    """The user's callback over the flat array operands; the other leaves of its arguments
    (strings, ...) are kept here and passed as they are."""

    def __init__(self, fn, tree, static):
        self.fn, self.tree, self.static = fn, tree, static      # static: {position: value}
        self.__name__ = getattr(fn, "__name__", type(fn).__name__)     # shown in jaxprs

    def __call__(self, values):
        it = iter(values)
        leaves = [self.static[i] if i in self.static else next(it)
                  for i in range(self.tree.num_leaves)]
        args, kwargs = tree_unflatten(self.tree, leaves)
        self.fn(*args, **kwargs)


debug_callback_p = _host_effect("debug_callback", lambda values, callback: callback(values))


def callback(callback, *args, ordered=False, partitioned=False, **kwargs):
    """Call `callback(*args, **kwargs)` for its side effects with the concrete values of the
    arguments (pytrees; array and number leaves arrive as Arrays, other leaves as they are),
    whenever they are computed: eagerly at once, inside `jit` each time the compiled function
    runs, under `grad` on the forward pass, under `vmap` once per example, in loops once per
    iteration. Its result is ignored. Effects always run in program order, so `ordered` is
    accepted and needs nothing more; `partitioned` is accepted for JAX's code (one device)."""
    if not callable(callback):
        raise TypeError(f"ft.debug.callback: the first argument must be callable, got a "
                        f"{type(callback).__name__}")
    leaves, tree = tree_flatten((args, kwargs))
    static, dynamic = {}, []
    for i, x in enumerate(leaves):
        if isinstance(x, (Tracer, Array)):
            dynamic.append(x)
        elif is_python_scalar(x) or hasattr(x, "shape") and hasattr(x, "dtype"):
            dynamic.append(asarray(x))
        else:
            static[i] = x
    debug_callback_p.bind(*dynamic, callback=_DebugCallback(callback, tree, static))


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


visualize_array_sharding = _meshes.visualize_array_sharding     # JAX's jax.debug name
