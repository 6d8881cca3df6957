"""The core: abstract values, primitives, the trace stack, the named-axis environment,
tracers, and evaluating jaxprs (their data structures are in `functrans.jaxpr`).

A *primitive* is an operation with rules (kernel, shape rule, derivatives, batching,
lowering) kept beside it (`functrans.primitives`, `functrans.higher_order`). `Primitive.bind`
applies it: with no tracer among the arguments it runs the kernel at once (the eager fast
path); otherwise the innermost trace among the arguments' tracers interprets it. Each transform is a `Trace` subclass pushed onto
a per-thread stack; nesting transforms nests traces, and a tracer of an inner trace may wrap
a tracer of an outer one, which is how every transform composes with every other.

A *jaxpr* (`functrans.jaxpr`) is the staged form of a function; `eval_jaxpr` replays one
through `bind`, so it can itself be transformed.
"""
from __future__ import annotations

import contextlib
import functools
import math
import threading
import types

import numpy as np

from . import dtypes
from .array import Array, ShapeDtypeStruct, join_committed, wrap
from .meshes import keep_split
from .backends import HOST_TYPES, cpu, device_of_raw, default_device, default_device_now, \
    is_device_raw, to_host, transfer, transfer_guard
from .backends.device import BEYOND_HOST
from .errors import (ConcretizationError, UnexpectedTracerError, NonFiniteError, user_frame,
                     format_frame, reraise_with_context, ConcretizationTypeError,
                     TracerBoolConversionError, TracerIntegerConversionError,
                     TracerArrayConversionError, converting)
from .jaxpr import Literal, Jaxpr, ClosedJaxpr, is_effectful, param_jaxprs


# =================================================================== abstract values
class ShapedArray:
    """The abstract value of an array: its shape and dtype (and whether it is a weak scalar)."""
    __slots__ = ("shape", "dtype", "weak_type")

    def __init__(self, shape, dtype, weak_type=False):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.weak_type = weak_type

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return math.prod(self.shape)

    def __eq__(self, other):
        return (type(other) is ShapedArray and self.shape == other.shape
                and self.dtype == other.dtype and self.weak_type == other.weak_type)

    def __hash__(self):
        return hash((self.shape, self.dtype, self.weak_type))

    def str_short(self):
        return f"{dtypes.short_name(self.dtype)}[{','.join(map(str, self.shape))}]"

    __str__ = str_short

    def __repr__(self):
        return f"ShapedArray({self.str_short()}{', weak' if self.weak_type else ''})"

    def update(self, shape=None, dtype=None, weak_type=None):
        return ShapedArray(self.shape if shape is None else shape,
                           self.dtype if dtype is None else dtype,
                           self.weak_type if weak_type is None else weak_type)

    def strip_weak(self):
        return self if not self.weak_type else ShapedArray(self.shape, self.dtype)


class OpaqueAval:
    """The abstract value of a non-array Python object a primitive passes along (e.g. a
    per-iteration record of a loop). It has no shape and is never differentiated."""
    __slots__ = ("kind",)
    shape = ()
    dtype = np.dtype(np.void)
    weak_type = False

    def __init__(self, kind):
        self.kind = kind

    def __eq__(self, other):
        return type(other) is OpaqueAval and other.kind == self.kind

    def __hash__(self):
        return hash(("opaque", self.kind))

    def str_short(self):
        return f"<{self.kind}>"

    __str__ = __repr__ = str_short

    def strip_weak(self):
        return self


class OpaqueValue:
    """Base class of the runtime objects behind `OpaqueAval`s (e.g. a loop's per-iteration
    record). They pass through primitives as they are: never wrapped in an Array, never placed
    on a device of their own. Subclasses set `aval`."""
    __slots__ = ()


def get_aval(x):
    """The abstract value of a tracer, an Array, a NumPy value or a Python scalar."""
    if isinstance(x, Tracer):
        return x.aval
    t = type(x)
    if t is Array:
        v = x._value
        return ShapedArray(v.shape, v.dtype)
    if t in (float, int, bool, complex):
        return ShapedArray((), dtypes.scalar_dtype(x), weak_type=True)
    if t in HOST_TYPES:
        return ShapedArray(x.shape, x.dtype)
    if isinstance(x, OpaqueValue):
        return x.aval
    if is_device_raw(x):
        return ShapedArray(x.shape, x.dtype)
    raise TypeError(f"{t.__name__} object is not a valid functrans value; expected an array, "
                    "a NumPy array or a Python scalar")


def abstractify(x):
    """The aval a transform traces for the argument `x`: an array, a tracer, NumPy data, a
    Python scalar (weakly typed, as jit and eager code take it: `x + 1.0` keeps a float16
    `x`'s dtype) or a `ShapeDtypeStruct`."""
    if isinstance(x, ShapeDtypeStruct):
        return ShapedArray(x.shape, x.dtype, weak_type=x.weak_type)
    if isinstance(x, (np.ndarray, np.generic)) and dtypes.kind_char(x.dtype) not in "biufc":
        raise TypeError(f"cannot make an array from NumPy data of dtype {x.dtype}; "
                        "functrans arrays hold numbers and booleans only")
    aval = get_aval(x)
    return aval if type(x) in (float, int, bool, complex) else aval.strip_weak()


def device_like(x):
    """The device `x` lives on, looking through the tracers of eager transforms (grad, vmap)
    to the array underneath; the default device for abstract values (under jit, where the
    compiled program's constants move to its arguments' device) and for data on no device yet
    (NumPy data and Python scalars given as they are: an operation on those alone runs
    there, see `eval_primitive`). Constants a rule creates go here, so that they meet `x` on
    its device."""
    while isinstance(x, Tracer):
        x = x.underlying()
    return _array_device(x) if type(x) is Array else default_device_now()


def _array_device(x):
    """The device Array `x` lives on."""
    v = x._value
    return cpu if type(v) in HOST_TYPES else device_of_raw(v)


def operand_device(values):
    """The device of the first Array among `values` (looking into lists and tuples, and
    through the tracers of eager transforms to the array underneath), or None when there is
    none (NumPy data, Python scalars, the abstract values of jit)."""
    for a in values:
        if type(a) is list or type(a) is tuple:
            d = operand_device(a)
            if d is not None:
                return d
            continue
        while isinstance(a, Tracer):
            a = a.underlying()
        if type(a) is Array:
            return _array_device(a)
    return None


def on_operand_device(f, operands=None):
    """`f` run with its operands' device as the default device (that of its first Array,
    see `operand_device`), when that is not the default device already. `operands(args,
    kwargs)`, if given, lists the values to look among (the leaves of pytree arguments).

    This is JAX's rule for uncommitted data applied to a whole library function: the NumPy
    data and Python scalars it is given, and the constants and index arrays it creates (which
    go to the default device), are on no device yet, so they join the device of the Arrays
    they meet. A function built from several operations would otherwise make each of them
    an Array on the default device one at a time, and those could no longer meet an operand
    on another device. Arrays are never moved: Arrays on different devices stay an error.
    Under jit the default device is already the program's (`Jitted._trace`)."""
    if getattr(f, "places_operands", False):
        return f

    @functools.wraps(f)
    def placed(*args, **kwargs):
        if not BEYOND_HOST[0]:          # only the host exists: everything is there already
            return f(*args, **kwargs)
        if operands is not None:
            device = operand_device(operands(args, kwargs))
        else:
            device = operand_device(args)
            if device is None and kwargs:
                device = operand_device(kwargs.values())
        if device is None or device is default_device_now():
            return f(*args, **kwargs)
        with default_device(device):
            return f(*args, **kwargs)
    placed.places_operands = True
    return placed


def places_operands(f):
    """Mark `f` as placing its operands itself (it converts them together where the first
    Array lives, as `functrans.numpy`'s `promote` does, or binds one primitive, which
    `eval_primitive` places): `on_operand_device` leaves it as it is."""
    f.places_operands = True
    return f


def place_functions(namespace):
    """Apply `on_operand_device` to the public functions of a module's `namespace` (its
    `globals()`) that functrans defines, so every function users call from it places the
    data it creates with its operands (those marked `places_operands` are left alone)."""
    for name, f in list(namespace.items()):
        if not name.startswith("_") and type(f) is types.FunctionType and \
                (f.__module__ or "").startswith("functrans.") and \
                not getattr(f, "places_operands", False):
            namespace[name] = on_operand_device(f)


def is_python_scalar(x):
    return type(x) in (float, int, bool, complex)


# =================================================================== primitives
class Primitive:
    """An operation the transforms understand. Its rules are attributes, set where it is
    defined (`functrans.primitives`, `functrans.higher_order`):

    - `impl(xp, *raw_args, **params)`: the kernel, on raw NumPy/CuPy arrays; `xp` is the module.
    - `abstract_eval(*avals, **params)`: the output aval (list of avals if multiple_results).
    - `jvp(primals, tangents, **params) -> (out, tangent_out)`; a tangent of None means zero.
    - `vjp(primals, needs, **params) -> (out, backward)`; `backward(ct)` returns one cotangent
      (or None) per input; `needs[i]` says whether input i is being differentiated at all, so
      a rule can skip work for the others. Rules are written with functrans operations, so
      they are traceable: that is what lets derivatives nest and be jitted.
    - `reverse_by_transposing_jvp(primals, **params) -> bool`: where it holds, reverse mode
      transposes the (linear in the tangents) `jvp` rule instead of calling `vjp`.
    - `nonzero_outputs(needs, **params) -> [bool]`: optional, for multiple results; which
      outputs depend on the inputs being differentiated (the others stay untraced in reverse
      mode).
    - `batch(vals, dims, **params) -> (out, out_dim)`: how vmap maps it over an axis.
    - `dce_rule(used_outputs, eqn) -> eqn`: optional; the equation computing only those.
    - `lowering(ctx, eqn, ins, outs, indent)`: optional code of its own for the compiler.

    What the compiler needs to know about the kernel is declared, never guessed from names:
    - `kernel_kind`: None (call `impl`), or the NumPy function `impl` is exactly:
      "ufunc" (the ufunc `np_name` on the operands), "reduction" (`xp.<np_name>(x,
      axis=axes)`), "dot" (the plan of `primitives.dot.dot_plan`), "select" (`xp.where`),
      "convert" (`x.astype(new_dtype)`), "reshape" / "transpose" (the array methods);
    - `elementwise` (fusable), `cuda_expr` (its CUDA C template), `view` (the result may
      share its input's memory), `impl_out` (`impl` can write into `out=`), `impl_inplace`
      (the operands that `out=` buffer may be: an update in place), `split_rows(params)`
      (None, or where the first axis of the results is a batch, each row computed from the
      same row of some operands: `(their positions, params_for)`, `params_for(n)` the params
      for n rows; the compiler may run row ranges on threads, from fewer rows where
      `rows_compiled`: the kernel is one compiled loop where `numba_jit` takes the dtype);
    - `operand_memory(eqn)`: None, or `(positions, lend)` where the kernel offers memory for
      the operands at `positions`: `lend()` returns, at run time, one C-contiguous array per
      position into which the program may compute that operand, saving the kernel a copy
      (the kernel may overwrite it: a collective packing its operands into one buffer);
    - a call primitive names the param holding the ClosedJaxpr it evaluates (`callee`) and
      how the compiler inlines it (`inline`: "early", before common subexpressions are
      merged; "late", after its body is optimized on its own, so that a recomputation is
      never merged with the original).
    """

    def __init__(self, name, *, multiple_results=False, effectful=False):
        self.name = name
        self.multiple_results = multiple_results
        self.effectful = effectful
        self.impl = None
        self.abstract_eval = None
        self.jvp = None
        self.vjp = None
        self.reverse_by_transposing_jvp = None
        self.nonzero_outputs = None
        self.batch = None
        self.dce_rule = None
        self.lowering = None
        self.kernel_kind = None
        self.np_name = None
        self.elementwise = False
        self.cuda_expr = None
        self.view = False
        self.impl_out = False
        self.impl_inplace = ()
        self.split_rows, self.rows_compiled = None, False
        self.operand_memory = None
        self.callee = None
        self.inline = None

    def __repr__(self):
        return self.name

    def bind(self, *args, **params):
        for a in args:
            if isinstance(a, Tracer):
                return _bind_traced(self, args, params)
        if _state.staging and is_effectful(self, params):    # effects happen at run time
            return _state.staging[-1].trace.process_primitive(self, args, params)
        return _evaluate(self, args, params)


def eval_primitive(prim, args, params):
    """Run `prim`'s kernel on concrete values and wrap the result(s) as Arrays.

    Where it runs follows JAX's rule for committed data: an Array lives on its device and
    the operation runs there (Arrays on different devices are an error); NumPy data and
    Python scalars passed as they are live on no device yet: they join the Arrays' device,
    and with no Array among the operands the operation runs on the default device."""
    if args and type(args[0]) in _PYTHON_SCALARS and \
            all(type(a) in _PYTHON_SCALARS for a in args):  # alone: the default dtype, as JAX
        dtype = dtypes.default_dtype_for_kind(max(map(dtypes.scalar_kind, args)))
        args = [np.asarray(a, dtype) for a in args]
    raws = [a._value if type(a) is Array else a for a in args]
    for r in raws:
        if type(r) not in _HOST_OR_SCALAR:
            return _eval_on_device(prim, args, raws, params)
    for a in args:
        if type(a) is Array:        # on the host: every operand runs there
            break
    else:                           # no Array: the default device's (the host, as a rule)
        if default_device_now() is not cpu:
            return _eval_on_device(prim, args, raws, params)
    try:
        out = prim.impl(np, *raws, **params)
    except Exception as e:
        _explain_failure(prim, args, params, e)
    if prim.multiple_results:
        return [o if isinstance(o, OpaqueValue) else wrap(o) for o in out]
    return wrap(out)


_PYTHON_SCALARS = frozenset((float, int, bool, complex))
_HOST_OR_SCALAR = HOST_TYPES | _PYTHON_SCALARS
_evaluate = eval_primitive


def evaluate_with(evaluate):
    """Have `bind` run primitives on concrete values through `evaluate(prim, args, params)`
    (which calls `eval_primitive`), and `eval_jaxpr` note each equation's source line for
    `current_source`; None restores the plain path. `ft.debug`'s NaN checks use this."""
    global _evaluate
    _evaluate = evaluate or eval_primitive


def with_noted_source(fn):
    """`fn`, run with the source line `eval_jaxpr` notes now as the current one (backward rules
    keep the line of the operation they differentiate); `fn` itself when none is noted."""
    return fn if _state.source is None else functools.partial(_run_noted, _state.source, fn)


def _run_noted(source, fn, /, *args, **kwargs):
    outer, _state.source = _state.source, source
    try:
        return fn(*args, **kwargs)
    finally:
        _state.source = outer


def current_source():
    """The user's source line of the operation running: that of the jaxpr equation being
    evaluated (with `evaluate_with` in use, or staging), else the innermost user frame."""
    return _state.source or user_frame()


def _eval_on_device(prim, args, raws, params):
    """`eval_primitive` for operands that are not all on the host: the kernel runs with the
    array module of the one device they live on (NumPy arrays passed as they are copied
    there, see `eval_primitive`)."""
    device, raws = _common_device(prim, args, raws)
    if device is not cpu:
        raws = [joined(r, device) if type(r) is np.ndarray and a is r else r
                for a, r in zip(args, raws)]
    try:
        with device.backend.activate(device):
            out = prim.impl(device.xp, *raws, **params)
    except Exception as e:
        _explain_failure(prim, args, params, e)
    if device.spans:
        keep_split(prim, raws, params, out, device)
    if prim.multiple_results:
        return [o if isinstance(o, OpaqueValue) else wrap(o) for o in out]
    return wrap(out)


def _common_device(prim, args, raws):
    # only the operands' own device arrays and Arrays place the operation: NumPy data passed
    # as it is (not in an Array) is on no device yet (arrays join the operation's device,
    # NumPy scalars are constants like Python scalars: every backend's kernels take them)
    devs = {device_of_raw(r) for a, r in zip(args, raws)
            if type(r) not in (float, int, bool, complex) and r is not None
            and not isinstance(r, OpaqueValue) and (a is not r or type(r) not in HOST_TYPES)}
    if len(devs) > 1:       # uncommitted Arrays join the committed ones (JAX's rule)
        return join_committed(args, raws, lambda devs: mixed_devices_error(prim.name, devs))
    return next(iter(devs)) if devs else default_device_now(), raws


def mixed_devices_error(what, devs):
    """The error for combining arrays that live on different devices."""
    names = sorted(map(str, devs))
    return ValueError(
        f"{what}: arguments live on different devices ({', '.join(names)}), at "
        f"{format_frame(user_frame())}. functrans never copies between devices silently; "
        f"move them to one device first, e.g. ft.device_put(x, '{names[-1]}') (or "
        f"ft.device_put(x, '{names[0]}')), or create them there with "
        f"ft.default_device('{names[-1]}').")


def _explain_failure(prim, args, params, err):
    """Re-raise a kernel failure: the shape rule's message if it objects, else the kernel's."""
    if isinstance(err, NonFiniteError):     # from an operation inside (a loop's body): as is
        raise err
    try:
        avals = [get_aval(a) for a in args]
        prim.abstract_eval(*avals, **params)
    except Exception as rule_err:
        where = format_frame(user_frame())
        try:
            new = type(rule_err)(f"{rule_err} (at {where})")
        except Exception:
            new = ValueError(f"{rule_err} (at {where})")
        raise new.with_traceback(None) from None
    reraise_with_context(err, _describe_failure(prim, args, params))


def _describe_failure(prim, args, params):
    shapes = ", ".join(_describe_arg(a) for a in args)
    where = format_frame(user_frame())
    ps = f" with {_short_params(params)}" if params else ""
    return f"{prim.name} failed on arguments ({shapes}){ps}, called from {where}"


def _describe_arg(a):
    try:
        return get_aval(a).str_short()
    except TypeError:
        return type(a).__name__


def _short_params(params):
    return ", ".join(f"{k}={_short(v)}" for k, v in params.items())


def _short(v):
    if isinstance(v, (Jaxpr, ClosedJaxpr)):
        return "{jaxpr}"
    if callable(v):
        return getattr(v, "__name__", "<function>")
    r = repr(v)
    return r if len(r) < 60 else r[:57] + "..."


# =================================================================== the trace stack
class MainTrace:
    """One active transform: its level on the stack, its Trace and its private payload."""
    __slots__ = ("level", "trace", "payload", "active", "name")

    def __init__(self, level, trace_type, payload, name):
        self.level = level
        self.payload = payload
        self.active = True
        self.name = name
        self.trace = trace_type(self) if trace_type is not None else None

    def __repr__(self):
        return f"MainTrace({self.level}, {self.name})"


class _JitOff(threading.local):
    def __init__(self):
        self.stack = []                 # the disable_jit(disable) values entered, innermost last


jit_off = _JitOff()     # (`jit.disable_jit` enters it)


def jit_disabled():
    """Whether this thread is inside `disable_jit` (and not inside `disable_jit(False)`):
    jitted functions and structured control flow run their Python code on values."""
    state = jit_off.stack
    return bool(state) and state[-1]


class _TraceState(threading.local):
    def __init__(self):
        self.stack = [MainTrace(0, None, None, "eval")]
        self.staging = []       # active staging (jaxpr-building) mains, innermost last
        self.axes = []          # bound named axes, innermost last
        self.source = None      # the source line of the jaxpr equation being evaluated


_state = _TraceState()


def staging_main():
    """The innermost active staging (jaxpr-building) transform, or None: while one is active
    (under jit or make_jaxpr), control flow is staged rather than run."""
    return _state.staging[-1] if _state.staging else None


def active_mains():
    """This thread's active transforms, outermost first (level 0, evaluation, is always
    there; a main's level is its index). Read only."""
    return _state.stack


@contextlib.contextmanager
def compile_time_eval():
    """Within the block no staging transform is reported active (`staging_main()` is None,
    effectful primitives on concrete values run at once): control flow on concrete values runs
    in Python even under jit, as all other operations on concrete values already do. Traced
    values are still staged by their own transforms."""
    saved = _state.staging
    _state.staging = []
    try:
        yield
    finally:
        _state.staging = saved


@contextlib.contextmanager
def new_main(trace_type, payload=None, name=None):
    """Push a new transform onto this thread's trace stack for the duration of the block."""
    stack = _state.stack
    main = MainTrace(len(stack), trace_type, payload, name or trace_type.__name__)
    stack.append(main)
    staging = getattr(trace_type, "is_staging", False)
    if staging:
        _state.staging.append(main)
    try:
        yield main
    finally:
        stack.pop()
        if staging:
            _state.staging.pop()
        main.active = False


def _bind_traced(prim, args, params):
    top = None
    loose = False
    for a in args:
        if isinstance(a, Tracer):
            t = a._trace
            if not t.main.active:
                raise _escaped_tracer_error(a, prim)
            if top is None or t.level > top.level:
                top = t
        elif type(a) is np.ndarray:
            loose = True
    if loose:
        args = _numpy_placed(args)
    if _state.staging and _state.staging[-1].level > top.level and is_effectful(prim, params):
        top = _state.staging[-1].trace
    return top.process_primitive(prim, args, params)


def _numpy_placed(args):
    """`args` with their NumPy arrays (on no device yet, see `eval_primitive`) made Arrays on
    the device of the first concrete value among the others, looking through tracers, when
    that is not the host: a transform's rules handle operands one at a time (a batching rule
    broadcasts an unbatched operand alone), so NumPy data joins the device before they do.
    Otherwise (on the host; abstract values under jit, whose constants move to the program's
    device) the arguments are left as they are."""
    device = operand_device(args)
    if device is None or device is cpu:
        return args
    return tuple(wrap(joined(x, device)) if type(x) is np.ndarray else x for x in args)


def joined(host, device):
    """NumPy data copied to `device` to join its arrays (an implicit transfer)."""
    transfer_guard.check(cpu, device, transfer_guard.described(host))
    return transfer(host, device)


def _escaped_tracer_error(tracer, prim):
    return UnexpectedTracerError(
        f"{prim.name} got a traced value ({tracer.aval.str_short()}) from a "
        f"{tracer._trace.main.name} transform that has already finished, at "
        f"{format_frame(user_frame())}. A value computed inside a transformed function was "
        "kept outside it (in a global, a list, or an attribute such as self.x) and used "
        "later. Return the value from the transformed function instead (with grad, use "
        "has_aux=True to return extra values alongside the loss).")


# =================================================================== named axes
class AxisFrame:
    """A named axis bound by a transform (`vmap(..., axis_name=)`): its name, its size and
    the transform's MainTrace, which processes collectives over it."""
    __slots__ = ("name", "size", "main")

    def __init__(self, name, size, main):
        self.name, self.size, self.main = name, size, main

    def __repr__(self):
        return f"AxisFrame({self.name!r}, size={self.size})"


@contextlib.contextmanager
def bind_axis(name, size, main):
    """Bind the axis `name` of `size`, processed by `main`, for the duration of the block."""
    _state.axes.append(AxisFrame(name, size, main))
    try:
        yield
    finally:
        _state.axes.pop()


def axis_frame(name):
    """The innermost binding of the axis `name`, or None."""
    for frame in reversed(_state.axes):
        if frame.name == name:
            return frame
    return None


def axis_env():
    """The named axes bound here, as `((name, size), ...)`: traced code that uses collectives
    depends on them, so jit's cache key includes them."""
    return tuple((f.name, f.size) for f in _state.axes)


def axis_size(axis_name):
    """The size of the innermost axis called `axis_name`."""
    frame = axis_frame(axis_name)
    if frame is None:
        raise unbound_axis_error(axis_name, "axis_size")
    return frame.size


def unbound_axis_error(name, what):
    bound = [f.name for f in _state.axes]
    have = f"the axis names bound here are {bound}" if bound else "no axis name is bound here"
    return NameError(
        f"{what} uses the axis name {name!r}, but {have}. Call it inside "
        f"ft.vmap(f, axis_name={name!r}) or ft.pmap(f, axis_name={name!r}) (collectives "
        "reduce over the examples of that vmap, or the devices of that pmap).")


def jaxpr_axis_names(jaxpr):
    """The axis names the collectives in `jaxpr` (and the jaxprs nested in it) refer to."""
    j = jaxpr.jaxpr if isinstance(jaxpr, ClosedJaxpr) else jaxpr
    names = j.cache.get("axis_names")
    if names is None:
        found = set()
        for eqn in j.eqns:
            prim = eqn.primitive
            if isinstance(prim, AxisPrimitive):
                found.update(prim.axis_names(eqn.params))
            else:
                for sub in param_jaxprs(eqn.params):
                    found.update(jaxpr_axis_names(sub))
        names = j.cache["axis_names"] = frozenset(found)
    return names


class AxisPrimitive(Primitive):
    """A primitive whose meaning depends on named axes: a collective (its `axis_name` param)
    or control flow whose nested jaxprs use one. `bind` hands it to the transform binding
    each name even when its operands are not mapped there, and to an enclosing staging trace
    (jit) above that transform, so that staged code stays valid for any axis size."""

    def axis_names(self, params):
        name = params.get("axis_name")
        if name is not None:
            return (name,)
        found = set()
        for sub in param_jaxprs(params):
            found.update(jaxpr_axis_names(sub))
        return tuple(found)

    def bind(self, *args, **params):
        names = self.axis_names(params)
        if not names:
            return Primitive.bind(self, *args, **params)
        floor = None
        for name in names:
            frame = axis_frame(name)
            if frame is None:
                raise unbound_axis_error(name, self.name)
            if floor is None or frame.main.level > floor.level:
                floor = frame.main
        if _state.staging and _state.staging[-1].level > floor.level:
            floor = _state.staging[-1]
        if any(isinstance(a, Tracer) and a._trace.level >= floor.level for a in args):
            return Primitive.bind(self, *args, **params)   # the innermost trace among them
        return floor.trace.process_primitive(self, args, params)


class Trace:
    """How one transform interprets primitives applied to its tracers."""
    __slots__ = ("main", "level")

    def __init__(self, main):
        self.main = main
        self.level = main.level

    def process_primitive(self, prim, args, params):
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}(level={self.level})"


class Tracer:
    """A value inside a transform. Subclasses carry what their transform needs (a primal and
    a tangent, a batched value and its axis, a jaxpr variable). Array methods and operators
    are installed by `functrans.numpy`, shared with `Array`."""
    __slots__ = ("_trace",)
    __array_priority__ = 1000

    @property
    def aval(self):
        raise NotImplementedError

    @property
    def shape(self):
        return self.aval.shape

    @property
    def dtype(self):
        return self.aval.dtype

    @property
    def ndim(self):
        return len(self.aval.shape)

    @property
    def size(self):
        return math.prod(self.aval.shape)

    @property
    def device(self):
        """The device of the array underneath (eager grad, vmap), or, for abstract values
        (under jit), the default device, which while tracing is the arguments' device."""
        return device_like(self)

    def concrete_value(self, why):
        """The concrete raw value behind this tracer, or a ConcretizationError."""
        raise ConcretizationTypeError(self._concretization_message(why))

    def underlying(self):
        """The value one level down that holds this tracer's data (an Array or an outer
        transform's tracer: a primal, a batched value), or None when it is abstract."""
        return None

    def _concretization_message(self, why):
        return (f"{why} needs a concrete value, but this is a traced value "
                f"({self.aval.str_short()}) inside {self._trace.main.name}, at "
                f"{format_frame(user_frame())}.")

    def __bool__(self):
        return bool(converting(TracerBoolConversionError, self,
                               "bool() of a traced value (e.g. an `if` or `while`)"))

    def __int__(self):
        return int(self.concrete_value("int() of a traced value"))

    def __float__(self):
        return float(self.concrete_value("float() of a traced value"))

    def __complex__(self):
        return complex(self.concrete_value("complex() of a traced value"))

    def __index__(self):
        return int(converting(TracerIntegerConversionError, self,
                              "using a traced value as an index or size"))

    def item(self):
        return np.asarray(to_host(self.concrete_value(".item() of a traced value"))).item()

    def tolist(self):
        return np.asarray(to_host(self.concrete_value(".tolist() of a traced value"))).tolist()

    def __array__(self, dtype=None, copy=None):
        raise TracerArrayConversionError(
            f"a traced value ({self.aval.str_short()}, inside {self._trace.main.name}) cannot "
            f"be turned into a NumPy array, at {format_frame(user_frame())}. Inside "
            "transformed functions use functrans.numpy (import functrans.numpy as fnp) "
            "instead of numpy, or move the NumPy code outside the transform.")

    def __len__(self):
        if not self.aval.shape:
            raise TypeError("len() of a 0-d array")
        return self.aval.shape[0]

    def __iter__(self):
        if not self.aval.shape:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.aval.shape[0]))

    __hash__ = None

    def __setitem__(self, idx, value):
        raise TypeError(
            "functrans arrays are immutable: item assignment is not supported. Use "
            "x = x.at[idx].set(value) (also .add, .multiply, .min, .max).")

    def __repr__(self):
        return f"Traced<{self.aval.str_short()}>with<{self._trace.main.name}>"


def concrete_value(x, why="this operation"):
    """The raw concrete value of `x` (through tracers that have one), or an error."""
    if isinstance(x, Tracer):
        return x.concrete_value(why)
    if type(x) is Array:
        return x._value
    return x


def concrete_host_value(x, why="this operation"):
    """The concrete value of `x` as NumPy (copied to the host if it lives on a device)."""
    return np.asarray(to_host(concrete_value(x, why)))


def is_concrete(x):
    try:
        concrete_value(x)
        return True
    except ConcretizationError:
        return False


# =================================================================== evaluating jaxprs
def eval_jaxpr(jaxpr: Jaxpr, consts, *args):
    """Replay a jaxpr through `bind`: concrete inputs compute, tracer inputs are transformed."""
    env = {}
    for v, x in zip(jaxpr.constvars, consts):
        env[v] = x
    for v, x in zip(jaxpr.invars, args):
        env[v] = x

    def read(v):
        return v.val if type(v) is Literal else env[v]

    # source lines are noted for the NaN checks, and while staging: derived jaxprs keep them
    noting = _evaluate is not eval_primitive or bool(_state.staging)
    for eqn in jaxpr.eqns:
        args = [read(v) for v in eqn.invars]
        outs = _run_noted(eqn.source_info or _state.source, eqn.primitive.bind, *args,
                          **eqn.params) if noting else eqn.primitive.bind(*args, **eqn.params)
        if eqn.primitive.multiple_results:
            for v, o in zip(eqn.outvars, outs):
                env[v] = o
        else:
            env[eqn.outvars[0]] = outs
    return [read(v) for v in jaxpr.outvars]


def eval_jaxpr_on_raw(jaxpr: Jaxpr, consts, raws):
    """A kernel that evaluates a jaxpr: raw values (NumPy/CuPy arrays, scalars, opaque
    values) in, raw values out, each equation run eagerly through `bind`."""
    outs = eval_jaxpr(jaxpr, consts, *[r if type(r) in (float, int, bool, complex) or
                                       isinstance(r, OpaqueValue) else wrap(r) for r in raws])
    outs = [o._value if type(o) is Array else o for o in outs]
    return [as_declared_dtype(o, v.aval) for o, v in zip(outs, jaxpr.outvars)]


def as_declared_dtype(raw, aval):
    """`raw` in `aval`'s dtype where NumPy gave it another one (a lone Python scalar's
    result: sin(1.0) is float64 there, a weakly typed float32 in the trace)."""
    dtype, declared = getattr(raw, "dtype", None), getattr(aval, "dtype", None)
    if dtype is None or declared is None or isinstance(raw, OpaqueValue) or dtype == declared:
        return raw
    return raw.astype(declared)
