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
import cmd
import inspect
import logging
import os
import pprint
import threading

import numpy as np

from .array import Array, wrap
from .backends import HOST_TYPES, device_of_raw
from .config import config
from .core import (Primitive, Tracer, is_python_scalar, eval_primitive, eval_jaxpr, evaluate_with,
                   current_source, get_aval)
from .jaxpr import ClosedJaxpr
from . import meshes as _meshes
from .errors import NonFiniteError, format_frame, user_frame
from .jit import check_outputs_with
from .numpy._conversion import asarray
from .numpy._fast import enable as enable_fast_paths
from .tree_util import (tree_flatten, tree_unflatten, tree_flatten_with_path, keystr,
                        tree_leaves)

__all__ = ["print", "log", "callback", "breakpoint", "inspect_array_sharding",
           "visualize_array_sharding", "visualize_sharding"]


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
    _bind_formatted(debug_print_p, "print", fmt, args, kwargs)


def _bind_formatted(prim, what, fmt, args, kwargs, **params):
    leaves, tree = tree_flatten((tuple(args), dict(kwargs)))
    for x in leaves:
        if not (isinstance(x, Tracer) or is_python_scalar(x) or hasattr(x, "shape")):
            raise TypeError(
                f"ft.debug.{what}: arguments must be arrays or numbers, got a "
                f"{type(x).__name__}; put other values into the format string itself, e.g. "
                f"ft.debug.{what}(f'{{name}}: {{{{x}}}}', x=x)")
    prim.bind(*leaves, fmt=fmt, args_tree=tree, **params)


_logger = logging.getLogger(__name__)


def _log_values(values, fmt, args_tree, where):
    if _logger.isEnabledFor(logging.INFO):
        args, kwargs = tree_unflatten(args_tree, values)
        path, line, function = where
        _logger.handle(_logger.makeRecord(_logger.name, logging.INFO, path, line,
                                          fmt.format(*args, **kwargs), (), None, function))


debug_log_p = _host_effect("debug_log", _log_values)


def log(fmt, *args, **kwargs):
    """As `print`, but the text is an INFO record of the logger "functrans.debug" (JAX's
    `jax.debug.log`), naming the caller's file, line and function, emitted when the values
    are computed; nothing is formatted while the logger is not enabled for INFO."""
    where = user_frame() or ("(unknown file)", 0, None)
    _bind_formatted(debug_log_p, "log", fmt, args, kwargs, where=tuple(where))


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


# ------------------------------------------------------------------ breakpoints
class DebuggerFrame:
    """One frame of the stack where `breakpoint` was called: its file, line, source and
    variables (under `jit`, the values they have when the compiled code runs)."""

    def __init__(self, filename, lineno, function, source, offset, local_vars, global_vars):
        self.filename, self.lineno, self.function = filename, lineno, function
        self.source, self.offset = source, offset       # the function's lines, ours among them
        self.locals, self.globals = local_vars, global_vars

    @classmethod
    def of(cls, info):
        try:
            source, start = inspect.getsourcelines(info.frame)
            offset = info.lineno - max(start, 1)
            source = [line.rstrip("\n") for line in source]
            if not 0 <= offset < len(source):
                source, offset = [], None
        except (OSError, TypeError):
            source, offset = [], None
        return cls(info.filename, info.lineno, info.function, source, offset,
                   dict(info.frame.f_locals), info.frame.f_globals)


class _Cli(cmd.Cmd):
    """The text debugger (JAX's "cli" backend, prompt `(jdb)`): `p`/`pp` expression, any
    expression, `u(p)`, `d(own)`, `l(ist)`, `w(here)`/`bt`, `c(ontinue)`, `q(uit)`/`exit`."""
    prompt = "(jdb) "
    intro = "Entering jdb:"

    def __init__(self, frames, stdin=None, stdout=None):
        super().__init__(stdin=stdin, stdout=stdout)
        self.use_rawinput = stdin is None
        self.frames, self.at = frames, 0

    def _say(self, text):
        builtins.print(text, file=self.stdout)

    def _value(self, expr, show):
        frame = self.frames[self.at]
        try:
            self._say(show(eval(expr, dict(frame.globals), frame.locals)))
        except Exception as e:      # noqa: BLE001 - shown to the user, as pdb does
            self._say(f"*** {type(e).__name__}: {e}")

    def default(self, line):
        self._value(line, repr)

    def do_p(self, arg):
        """p expression: print its value."""
        self._value(arg, repr)

    def do_pp(self, arg):
        """pp expression: pretty-print its value."""
        self._value(arg, pprint.pformat)

    def _context(self, around=2):
        frame = self.frames[self.at]
        lines = [f"> {frame.filename}({frame.lineno}){frame.function}()"]
        if frame.offset is not None:
            for i in range(max(frame.offset - around, 0),
                           min(frame.offset + around + 1, len(frame.source))):
                lines.append(("->  " if i == frame.offset else "    ") + frame.source[i])
        self._say("\n".join(lines))

    def do_up(self, arg):
        """u(p): move to the caller's frame."""
        if self.at == len(self.frames) - 1:
            self._say("At topmost frame.")
        else:
            self.at += 1
        self._context()
    do_u = do_up

    def do_down(self, arg):
        """d(own): move to the callee's frame."""
        if self.at == 0:
            self._say("At bottommost frame.")
        else:
            self.at -= 1
        self._context()
    do_d = do_down

    def do_list(self, arg):
        """l(ist): show the source around the current line."""
        self._context(5)
    do_l = do_list

    def do_where(self, arg):
        """w(here), bt: the stack, most recent frame last."""
        lines = ["Traceback:"]
        for frame in reversed(self.frames):
            lines.append(f'  File "{frame.filename}", line {frame.lineno}, in '
                         f'{frame.function}')
            lines.append("    " + (frame.source[frame.offset].strip()
                                   if frame.offset is not None else "<no source>"))
        self._say("\n".join(lines))
    do_w = do_bt = do_where

    def do_continue(self, arg):
        """c(ontinue): leave the debugger; the program goes on."""
        return True
    do_c = do_cont = do_continue

    def do_quit(self, arg):
        """q(uit), exit: end the program (SystemExit)."""
        raise SystemExit(0)
    do_q = do_exit = do_EOF = do_quit


def _run_cli(frames, **kwargs):
    cli = _Cli(frames, **kwargs)
    cli._say(cli.intro)
    cli._context()
    cli.cmdloop(intro="")


_debuggers = {"cli": (-1, _run_cli)}       # name: (priority, run(frames, **kwargs))
_debug_lock = threading.Lock()
_INTERNAL = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _debugger(backend):
    if backend in _debuggers:
        return _debuggers[backend][1]
    return max(_debuggers.values(), key=lambda entry: entry[0])[1]


class _Breakpoint:
    """Enters the debugger on `frames`, their traced variables' leaves (at `traced`, in the
    flat leaves of each variable, `cells`) replaced by the values the call brings."""
    __name__ = "breakpoint"

    def __init__(self, frames, cells, leaves, traced, backend, kwargs):
        self.frames, self.cells, self.leaves, self.traced = frames, cells, leaves, traced
        self.backend, self.kwargs = backend, kwargs

    def __call__(self, values):
        if os.environ.get("PYTHONBREAKPOINT") == "0":
            return
        leaves = list(self.leaves)
        for i, v in zip(self.traced, values):
            leaves[i] = v
        frames, start = [], 0
        for frame, cells in zip(self.frames, self.cells):
            local_vars = dict(frame.locals)
            for name, tree, n in cells:
                local_vars[name] = tree_unflatten(tree, leaves[start:start + n])
                start += n
            frames.append(DebuggerFrame(frame.filename, frame.lineno, frame.function,
                                        frame.source, frame.offset, local_vars, frame.globals))
        with _debug_lock:
            _debugger(self.backend)(frames, **self.kwargs)


def breakpoint(*, backend=None, filter_frames=True, num_frames=None, ordered=False,  # noqa: A001
               token=None, **kwargs):
    """Stop at this point of the program in a debugger (JAX's `jax.debug.breakpoint`):
    eagerly at once, inside `jit` each time the compiled code reaches it, with the values
    the variables of the calling frames have then (under `grad` the primal values, under
    `vmap` once per example). The text debugger (`backend="cli"`, prompt `(jdb)`) takes
    `p expr`, `pp expr`, any expression, `up`, `down`, `list`, `where`, `continue` and
    `quit`; `kwargs` go to it (`stdin=`, `stdout=`). `filter_frames` leaves functrans's own
    frames out, `num_frames` keeps that many of the innermost. With `token` (a pytree of
    arrays) it is returned unchanged. Environment variable PYTHONBREAKPOINT=0 skips every
    breakpoint (as for Python's `breakpoint()`; JAX does not read it)."""
    if token is not None and ordered:
        raise ValueError("ft.debug.breakpoint: `ordered` and `token` exclude each other; "
                         "give one of the two")
    stack = inspect.stack()[1:]
    frames = [DebuggerFrame.of(info) for info in stack
              if not (filter_frames and os.path.abspath(info.filename).startswith(_INTERNAL))]
    del stack
    if num_frames is not None:
        frames = frames[:num_frames]
    cells, leaves = [], []
    for frame in frames:
        mine = []
        for name, value in frame.locals.items():
            try:
                flat, tree = tree_flatten(value)
            except Exception:       # noqa: BLE001 - a variable that is no pytree: kept as is
                continue
            if any(isinstance(x, Tracer) for x in flat):
                mine.append((name, tree, len(flat)))
                leaves.extend(flat)
        for name, _, _ in mine:
            del frame.locals[name]          # (the callback keeps no tracers)
        cells.append(mine)
    traced = [i for i, x in enumerate(leaves) if isinstance(x, Tracer)]
    operands = [leaves[i] for i in traced]
    for i in traced:
        leaves[i] = None
    debug_callback_p.bind(*operands, callback=_Breakpoint(frames, cells, leaves, traced,
                                                          backend, kwargs))
    return token


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


visualize_array_sharding = _meshes.visualize_array_sharding     # JAX's jax.debug names
visualize_sharding = _meshes.visualize_sharding


class _InspectSharding:
    """Calls `callback` with the sharding of each value, on the first call only (under `jit`
    once per compilation, as JAX calls it when compiling)."""
    __name__ = "inspect_array_sharding"

    def __init__(self, callback):
        self.callback, self.done = callback, False

    def __call__(self, values):
        if not self.done:
            self.done = True
            for v in values:
                self.callback(v.sharding)


def inspect_array_sharding(value, *, callback):
    """Call `callback(sharding)` for each array of the pytree `value` (JAX's
    `jax.debug.inspect_array_sharding`): eagerly at once, inside `jit` once per compilation,
    when the compiled code first runs, with the sharding the array has there."""
    if not callable(callback):
        raise TypeError(f"ft.debug.inspect_array_sharding: callback must be callable, got a "
                        f"{type(callback).__name__}")
    leaves = [x if isinstance(x, (Tracer, Array)) else asarray(x) for x in tree_leaves(value)]
    debug_callback_p.bind(*leaves, callback=_InspectSharding(callback))
