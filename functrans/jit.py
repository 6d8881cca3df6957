"""`ft.jit`: trace once per input signature, compile, cache, and call the compiled code.

A jitted call is the `jit` call primitive (`compiler.jit_call`): it carries the staged jaxpr,
and the transforms recurse into that jaxpr, so `grad(jit(f))` differentiates the staged
function, `vmap(jit(f))` batches it and `jit(grad(f))` stages the derivative.

Called with concrete arrays, a `Jitted` function looks its executable up in a bounded LRU
cache keyed by the argument structure, shapes, dtypes, devices, static values and the settings
tracing depends on (`config.TRACE_CONTEXT`; misses and why they happened are recorded,
`ft.config.update("log_retraces", True)` logs them: see `jit_explain`), and
runs the generated code (`functrans.compiler`). Arguments that are pytrees of Arrays or
NumPy arrays (containers, modules, optimizer states, data batches) take a fast path: one
pass over them builds the key, one lookup, one call of generated code that also builds the
output pytree.

The caches belong to the function, not to the wrapper: `jit(f)` made again for the same
Python function (with the same static and donated arguments) finds what earlier wrappers
traced, as in JAX. They are safe to use from several threads at once; a cache hit takes no
lock (see `_Cache`).
"""
from __future__ import annotations

import collections
import contextlib
import functools
import logging
import sys
import threading
import time
import types
import warnings
import weakref

import numpy as np

from . import dtypes
from .array import Array, join_committed, wrap
from .backends import HOST_TYPES, device_of_raw, default_device, default_device_now, cpu, \
    get_device, get_backend, transfer_guard
from .compiler import compile_jaxpr, release_buffers
from .api import fun_name, param_names
from .errors import ArgumentError
from .compiler.executable import detach_from
from .compiler.jit_call import jit_p, wrap_outputs
from .compiler.kernels import identifier
from .config import config, TRACE_CONTEXT
from .core import (Tracer, ShapedArray, ShapeDtypeStruct, ConcretizationError,
                   is_python_scalar, axis_env, jaxpr_axis_names, mixed_devices_error,
                   operand_device, jit_off, jit_disabled)
from .interpreters.partial_eval import trace_to_jaxpr
from .jit_explain import WEAK, retrace_reason
from .jit_stages import Traced
from .numpy import asarray
from .primitives.transfer import device_put
from .ref import lend, plan, traced_with_refs
from .tree_util import (tree_flatten, tree_unflatten, tree_flatten_with_path, keystr,
                        node_kind, tree_map)

log = logging.getLogger("functrans.jit")

# =================================================================== the user-facing wrapper
CacheInfo = collections.namedtuple("CacheInfo", "hits misses size maxsize")


class _Entry:
    """One specialization: the traced jaxpr, closed-over tracers, output structure, which
    leaves are donated, whether it uses the names of enclosing vmaps (`named`: it must then
    run under them even when no argument is mapped), what it does with refs (`state`, a
    `ref.Plan`, or None), (once compiled) the executable, and when it was last used (a tick
    of its `_Cache`)."""
    __slots__ = ("jaxpr", "hoisted", "out_tree", "donated", "named", "state", "executable",
                 "used")

    def __init__(self, jaxpr, hoisted, out_tree, donated, named=False, state=None):
        self.jaxpr, self.hoisted, self.out_tree = jaxpr, hoisted, out_tree
        self.donated, self.named, self.state = donated, named, state
        self.executable = None
        self.used = 0


class _Cache:
    """The specializations of one function under one set of jit options, and its
    fast-dispatch table (fast key -> (generated function, entry)).

    Several threads may use it at once. A hit only reads the dicts (`dict.get`, atomic) and
    stamps the entry's `used` with the next tick: no lock. Every change of which keys the
    dicts hold (insertion, eviction of the least recently used, clearing) happens under
    `lock`, which is never held while user code runs, a function is traced or compiled, so
    a miss in one thread never waits for another thread's trace. Counters may miss an
    increment when threads race; they are statistics."""
    __slots__ = ("entries", "fast", "lock", "tick", "misses", "retrace_reasons", "__weakref__")

    def __init__(self, fast):
        _ALL_CACHES.add(self)
        self.entries = {}
        self.fast = {} if fast else None
        self.lock = threading.Lock()
        self.tick = 0           # hits and traces so far: the clock of `_Entry.used`
        self.misses = 0
        self.retrace_reasons = collections.deque(maxlen=64)

    def insert(self, key, entry):
        """Store `entry` under `key` (or return the one another thread stored first),
        evicting the least recently used entries beyond `jit_cache_size`."""
        with self.lock:
            got = self.entries.get(key)
            if got is not None:
                return got
            self.entries[key] = entry
            dropped = []
            while len(self.entries) > max(config.jit_cache_size, 1):
                oldest = min(self.entries, key=lambda k: self.entries[k].used)
                dropped.append(self.entries.pop(oldest))
            if dropped and self.fast:
                for k in [k for k, (_, e) in self.fast.items() if e in dropped]:
                    del self.fast[k]
        return entry

    def keys_by_use(self):
        """The keys, least recently used first."""
        with self.lock:
            items = list(self.entries.items())
        return [k for k, _ in sorted(items, key=lambda kv: kv[1].used)]

    def clear(self):
        with self.lock:
            entries = list(self.entries.values())
            self.entries.clear()
            if self.fast is not None:
                self.fast.clear()
        return entries


_SHARED = weakref.WeakKeyDictionary()   # Python function -> {jit options: _Cache}
_ALL_CACHES = weakref.WeakSet()          # every _Cache alive, for clear_caches
_SHARED_LOCK = threading.Lock()


def _cache_for(fun, options, fast):
    """The cache of `fun` under `options`, shared by every `jit` of a plain Python function
    (held weakly: it goes when the function goes). Other callables get their own: a bound
    method is a new object at each attribute access and sees its object's current state,
    and a callable object may change between two `jit`s of it."""
    if type(fun) is not types.FunctionType:
        return _Cache(fast)
    with _SHARED_LOCK:
        per_options = _SHARED.get(fun)
        if per_options is None:
            per_options = _SHARED[fun] = {}
        cache = per_options.get(options)
        if cache is None:
            cache = per_options[options] = _Cache(fast)
    return cache


def _signature(x):
    """What a leaf contributes to the cache key: `(shape, dtype, place)`, the place being
    its device, `Tracer`, or WEAK for a Python scalar (None: not an array)."""
    t = type(x)
    if t is Array:
        v = x._value
        return (v.shape, v.dtype, cpu if type(v) in HOST_TYPES else device_of_raw(v))
    if isinstance(x, Tracer):
        a = x.aval
        return (a.shape, a.dtype, Tracer)
    if t in (float, int, bool, complex):
        return ((), dtypes.scalar_dtype(x), WEAK)
    return None


def _program_device(sigs):
    """The device a program on arguments of these signatures (None for data not yet
    placed) runs on: that of its first array, else the default device."""
    return next((s[2] for s in sigs if s is not None and s[2] not in (Tracer, WEAK)),
                default_device_now())


def _raw(x):
    return x if type(x) in (float, int, bool, complex) else x._value


class _Donated:
    """Stands in for the buffer of an array donated to a jitted function."""
    __slots__ = ("what",)

    def __init__(self, what):
        self.what = what

    def __getattr__(self, name):
        raise RuntimeError(
            f"this array was donated to {self.what} (donate_argnums), which reused its "
            "memory for its results; it cannot be used any more. Keep a copy (x.copy()) "
            "before the call, or do not donate it.")


class _NotFast(Exception):
    pass


def _fast_key(v):
    """What an Array's buffer contributes to the fast-path key: its shape and dtype (a NumPy
    array), or its type, shape, dtype and device."""
    if v.__class__ is np.ndarray:
        return (v.shape, v.dtype)
    return (v.__class__, v.shape, v.dtype, device_of_raw(v))


def _fast_flatten(x, leaves, key, host):
    """Append the leaves of `x` (a pytree of Arrays and NumPy arrays: tuples, lists, dicts,
    None, modules, any registered node) and a description of its structure and leaves; the
    positions of NumPy leaves go to `host`. Raise _NotFast for anything else (tracers,
    Python scalars). Leaves come in `tree_flatten` order."""
    t = type(x)
    if t is Array:
        key.append(_fast_key(x._value))
        leaves.append(x)
    elif t is tuple or t is list:
        key.append((t, len(x)))
        for c in x:
            if type(c) is Array:            # (the common leaf, without a call for it)
                v = c._value
                key.append((v.shape, v.dtype) if v.__class__ is np.ndarray else _fast_key(v))
                leaves.append(c)
            else:
                _fast_flatten(c, leaves, key, host)
    elif t is np.ndarray:
        key.append((x.shape, x.dtype, np.ndarray))
        host.append(len(leaves))
        leaves.append(x)
    elif x is None:
        key.append(None)
    else:
        kind = node_kind(t)
        if kind is None:
            raise _NotFast
        children, aux = kind.flatten(x)
        key.append((t, len(children), aux))
        for c in children:
            _fast_flatten(c, leaves, key, host)


def _numpy_leaf(x):
    """Whether `x` is NumPy data a call may read in place (when the program runs on the
    host): a plain ndarray of numbers."""
    return type(x) is np.ndarray and x.dtype.kind in "biufc"


class Jitted:
    """A function compiled per input signature. Call it like the original function."""

    def __init__(self, fun, static_argnums=(), static_argnames=(), donate_argnums=(),
                 device=None):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.static_argnums = _as_tuple(static_argnums)
        self.static_argnames = _as_tuple(static_argnames)
        self.donate_argnums = _as_tuple(donate_argnums)
        self._device = device       # where `jit(device=...)` runs it (see `_OnDevice`)
        self._params = param_names(fun, self.static_argnums, self.static_argnames)
        fast = not (self.static_argnums or self.static_argnames or self.donate_argnums)
        self._c = _cache_for(fun, (self.static_argnums, self.static_argnames,
                                   self.donate_argnums, device), fast)
        self._cache, self._fast = self._c.entries, self._c.fast
        self.retrace_reasons = self._c.retrace_reasons
        self._name = getattr(fun, "__name__", "jitted")

    # -- calling
    def _dispatch(self, *args, **kwargs):
        fast = self._fast
        if fast is not None and not kwargs:
            # the common case: arguments are pytrees of Arrays and NumPy arrays; one pass for
            # the leaves and the key, one lookup, one call of the generated function
            leaves, key, host = [], [], []
            try:
                for a in args:
                    if type(a) is Array:
                        v = a._value
                        key.append((v.shape, v.dtype) if v.__class__ is np.ndarray else
                                   _fast_key(v))
                        leaves.append(a)
                    elif type(a) is np.ndarray:
                        key.append((a.shape, a.dtype, np.ndarray))
                        host.append(len(leaves))
                        leaves.append(a)
                    else:
                        _fast_flatten(a, leaves, key, host)
                if host and default_device_now() is not cpu:
                    raise _NotFast
                hit = fast.get(tuple(key))
            except (_NotFast, TypeError):       # TypeError: unhashable static data
                pass
            else:
                if hit is not None:
                    c = self._c
                    hit[1].used = c.tick = c.tick + 1
                    return hit[0](*leaves)
        return self._call(args, kwargs)

    __call__ = _dispatch

    def _call_unless_disabled(self, *args, **kwargs):
        """`__call__` while some thread is inside `disable_jit`."""
        if jit_disabled():
            return self.fun(*args, **kwargs)
        if _output_check is not None:
            return self._call(args, kwargs)
        return self._dispatch(*args, **kwargs)

    def _checked_call(self, *args, **kwargs):
        """`__call__` while an output check is set (`check_outputs_with`): no fast path."""
        return self._call(args, kwargs)

    def _timed_call(self, *args, **kwargs):
        """`__call__` while a timer is set (`time_calls_with`): no fast path."""
        if jit_disabled():
            return self.fun(*args, **kwargs)
        return _call_timer(f"jit({self._name})", self._call, args, kwargs)

    def _call(self, args, kwargs):
        if kwargs or self.static_argnums or self.static_argnames:
            dyn, statics = self._split_args(args, kwargs)
        else:
            dyn, statics = args, ()
        leaves, treedef = tree_flatten(dyn)
        lent = lend(leaves, f"jit({self._name})")   # Ref arguments: passed as their values
        if lent is not None:
            statics += (("Ref arguments", lent.positions),)
        sigs = []
        host = []           # positions of NumPy leaves passed as they are (never copied)
        loose = []          # positions of data on no device yet (NumPy data): placed below
        has_tracer = spread = False
        device = None       # the device of the first Array argument
        for i, x in enumerate(leaves):
            s = _signature(x)
            if s is None:
                loose.append(i)
            elif s[2] is Tracer:
                has_tracer = True
                if device is None:      # the array under an eager transform's tracer
                    device = operand_device((x,))
            elif device is None and s[2] is not WEAK:
                device = s[2]
            elif s[2] is not device and s[2] is not WEAK:
                spread = True
            sigs.append(s)
        if spread:      # uncommitted Arrays join the committed ones (JAX's rule)
            try:            # (else `_trace` names the arguments on different devices)
                device, raws = join_committed(
                    leaves, [x._value if type(x) is Array else x for x in leaves],
                    lambda devs: _NotFast())
                leaves = [x if type(x) is not Array or x._value is r else wrap(r)
                          for x, r in zip(leaves, raws)]
                sigs = [s and _signature(x) for x, s in zip(leaves, sigs)]
            except _NotFast:
                pass
        if loose:
            # as in eager code, NumPy arguments are uncommitted: they join the Array
            # arguments' device, or the default device when there are none
            target = device or default_device_now()
            for i in loose:
                x = leaves[i]
                if target is cpu and _numpy_leaf(x):
                    sigs[i] = (x.shape, x.dtype, cpu)
                    host.append(i)
                else:
                    x = leaves[i] = self._to_array(x, i, dyn, target)
                    sigs[i] = _signature(x)
        key = (treedef, tuple(sigs), statics, axis_env(), config.trace_context())
        c = self._c
        entry = c.entries.get(key)
        if entry is None:
            entry = self._trace(key, leaves, treedef, statics, args, kwargs, dyn, lent)
        else:
            entry.used = c.tick = c.tick + 1
        state = entry.state
        if host and (has_tracer or entry.hoisted or entry.donated or state):
            # the arguments may be kept (by an enclosing transform) or overwritten: copies
            for i in host:
                leaves[i] = asarray(leaves[i], device=cpu)
            host = []
        if has_tracer or entry.hoisted or entry.named or state:
            what = f"jit({self._name})"
            outs = jit_p.bind(*entry.hoisted, *leaves, *(state.inputs(what) if state else ()),
                              jaxpr=entry.jaxpr, name=self._name)
            return tree_unflatten(entry.out_tree,
                                  state.finish(outs, lent, what) if state else outs)
        exe = entry.executable
        if exe is None:
            device = _program_device(sigs)
            exe = entry.executable = compile_jaxpr(entry.jaxpr, device, self._name,
                                                   entry.donated)
        check = _output_check
        if entry.donated:
            give = self._donatable(leaves, entry.donated) if check is None else \
                [False] * len(entry.donated)    # a check may run the function again
            raws = [_raw(x) for x in leaves]
            outs = exe(*raws, *[raws[j] if ok else None for j, ok in zip(entry.donated, give)])
            for j, ok in zip(entry.donated, give):
                if ok:
                    leaves[j]._value = _Donated(f"jit({self._name})")
        else:
            raws = [x if type(x) is np.ndarray else _raw(x) for x in leaves]
            outs = exe(*raws)
            if host:
                kept = [raws[i] for i in host]
                outs = [detach_from(o, kept) for o in outs]
        if check is not None:
            check(f"jit({self._name})", entry.jaxpr, raws, outs, entry.out_tree)
        if self._fast is not None and not kwargs and not key[3] and not spread and \
                all(s[2] is not WEAK for s in sigs):
            self._remember_fast(args, exe, key, entry, host)
        return tree_unflatten(entry.out_tree, wrap_outputs(exe.device, outs,
                                                            entry.jaxpr.out_avals))

    def _remember_fast(self, args, exe, key, entry, host):
        """Let `__call__` find this executable directly for arguments like `args` (whose
        NumPy leaves at `host` were read in place)."""
        leaves, fast_key, fast_host = [], [], []
        try:
            _fast_flatten(args, leaves, fast_key, fast_host)
            hash(fast_key_tuple := tuple(fast_key[1:]))   # without the marker of `args`
        except (_NotFast, TypeError):
            return
        if fast_host != host:       # NumPy leaves were copied: to another default device
            return
        fn = exe.array_function(entry.out_tree,
                                f"{identifier(self._name) or 'jitted'}_arrays", tuple(host))
        c = self._c
        with c.lock:
            # not evicted meanwhile, nor traced under settings changed since
            if c.entries.get(key) is entry and key[4] == config.trace_context():
                c.fast[fast_key_tuple] = (fn, entry)

    def _donatable(self, leaves, donated):
        """For each donated leaf, whether nothing but its Array sees its memory (then the
        code may overwrite it, and the Array is marked as donated)."""
        give = []
        for j in donated:
            leaf = leaves[j]
            raw = leaf._value
            # references: the Array, `raw` and getrefcount's argument; more is someone else
            give.append(device_of_raw(raw).backend.owns_memory(raw)
                        and sys.getrefcount(raw) <= 3
                        and not any(k != j and getattr(x, "_value", None) is raw
                                    for k, x in enumerate(leaves)))
            del raw
        return give

    def _to_array(self, x, i, dyn, device):
        if isinstance(x, (np.ndarray, np.generic)) or is_python_scalar(x):
            transfer_guard.check(cpu, device, transfer_guard.described(np.asarray(x)))
            return asarray(x, device=device)
        if hasattr(x, "__cuda_array_interface__"):
            return asarray(x)
        raise TypeError(
            f"jit: argument {self._leaf_label(dyn, i)} of {self._name} is a "
            f"{type(x).__name__}, not an array. Pass non-array arguments as static "
            "(static_argnums / static_argnames), or close over them.")

    def _leaf_label(self, dyn, i):
        path = tree_flatten_with_path(dyn)[0][i][0]
        if isinstance(dyn, tuple) and len(dyn) == 2 and isinstance(dyn[1], dict) and \
                (self.static_argnums or self.static_argnames or dyn[1]):
            return "".join(str(k) for k in path[1:]) or keystr(path)   # (args, kwargs) split
        text = keystr(path)
        idx = getattr(path[0], "idx", None) if path else None
        if idx is not None and idx < len(self._params):
            return f"{self._params[idx]!r} ({'args' + text})"
        return "args" + text

    def _split_args(self, args, kwargs):
        statics = []
        dyn_args = []
        for i, a in enumerate(args):
            if self._is_static(i):
                statics.append((i, _hashable_static(a, f"argument {i}")))
            else:
                dyn_args.append(a)
        dyn_kwargs = {}
        for k, v in sorted(kwargs.items()):
            if k in self.static_argnames or (k in self._params and
                                             self._params.index(k) in self.static_argnums):
                statics.append((k, _hashable_static(v, f"argument {k!r}")))
            else:
                dyn_kwargs[k] = v
        return (tuple(dyn_args), dyn_kwargs), tuple(statics)

    def _is_static(self, i):
        return i in self.static_argnums or (i < len(self._params) and
                                            self._params[i] in self.static_argnames)

    def _rebuild(self, args, kwargs, dyn):
        """The full argument list with traced dynamic parts in place."""
        if not kwargs and not self.static_argnums and not self.static_argnames:
            return dyn, {}
        dyn_args, dyn_kwargs = dyn
        it = iter(dyn_args)
        full = [a if self._is_static(i) else next(it) for i, a in enumerate(args)]
        kw = dict(kwargs)
        kw.update(dyn_kwargs)
        return tuple(full), kw

    def _donated_leaves(self, args, dyn):
        """Flat indices of the leaves of the donated positional arguments."""
        if not self.donate_argnums:
            return ()
        dyn_args = dyn[0] if (isinstance(dyn, tuple) and len(dyn) == 2 and
                              isinstance(dyn[1], dict) and dyn is not args) else dyn
        out, start, j = [], 0, 0
        for i in range(len(args)):
            if self._is_static(i):
                continue
            n = len(tree_flatten(dyn_args[j])[0])
            if i in self.donate_argnums:
                out.extend(range(start, start + n))
            start += n
            j += 1
        return tuple(out)

    def _trace(self, key, leaves, treedef, statics, args, kwargs, dyn, lent=None):
        if config.no_tracing:
            raise RuntimeError(f"jit would trace {fun_name(self.fun)} again (no compiled "
                               "program for these arguments), but 'no_tracing' is set")
        c = self._c
        c.misses += 1
        c.tick += 1
        known = c.keys_by_use()
        if known:
            reason = retrace_reason(key, known, lambda i: self._leaf_label(dyn, i))
            c.retrace_reasons.append(reason)
            if config.log_retraces:
                log.warning("jit(%s): retracing (miss %d, %d cached): %s", self._name,
                            c.misses, len(known), reason)
        avals = [ShapedArray(s[0], s[1], weak_type=s[2] is WEAK) for s in key[1]]
        device = self._device_of(key[1], dyn)
        box = {}

        def flat_fun(*flat):
            dyn = tree_unflatten(treedef, flat)
            a, kw = self._rebuild(args, kwargs, dyn)
            outs, box["tree"] = tree_flatten(self.fun(*a, **kw))
            return outs
        name = f"jit({self._name})"
        flat_fun, imported = traced_with_refs(flat_fun, lent, name)
        start = time.perf_counter()
        try:
            # arrays created while tracing go where the arguments live (they become constants
            # of a program that runs there)
            with default_device(device or default_device_now()):
                closed, hoisted = trace_to_jaxpr(flat_fun, avals, name, imported)
        except ConcretizationError as e:
            raise type(e)(self._explain_concretization(e, dyn)).with_traceback(
                e.__traceback__) from None
        for observe in trace_observers:
            observe(self._name, start)
        entry = _Entry(closed, hoisted, box["tree"], self._donated_leaves(args, dyn),
                       named=bool(key[3] and jaxpr_axis_names(closed)),
                       state=plan(lent, imported))
        entry.used = c.tick
        if not hoisted:       # closures over outer tracers must be retraced each call
            entry = c.insert(key, entry)
        return entry

    def _device_of(self, sigs, dyn):
        """The one device the array arguments live on (None if there are none); an error
        naming the arguments if they live on several."""
        places = {}
        for i, s in enumerate(sigs):
            if s[2] is not WEAK and s[2] is not Tracer:
                places.setdefault(s[2], i)
        if len(places) > 1:
            where = "; ".join(f"{self._leaf_label(dyn, i)} is on {d}" for d, i in places.items())
            raise mixed_devices_error(f"jit({self._name}) ({where})", places)
        return next(iter(places), None)

    def _explain_concretization(self, err, dyn):
        """The error, plus which arguments the offending traced value was computed from."""
        tracer = None
        tb = err.__traceback__
        while tb is not None:
            obj = tb.tb_frame.f_locals.get("self")
            if isinstance(obj, Tracer) and getattr(obj._trace.main, "name", "") == \
                    f"jit({self._name})":
                tracer = obj
            tb = tb.tb_next
        message = str(err)
        if tracer is None or not hasattr(tracer, "var"):
            return message
        builder = tracer._trace.main.payload
        deps = {tracer.var}
        for eqn in reversed(builder.eqns):
            if any(v in deps for v in eqn.outvars):
                deps.update(eqn.invars)
        labels = [self._leaf_label(dyn, i) for i, v in enumerate(builder.invars) if v in deps]
        if not labels:
            return message
        return (f"{message}\nThe traced value was computed from the argument(s) "
                f"{', '.join(labels)} of {self._name}.")

    # -- introspection
    def cache_info(self):
        """Hits, misses (each a trace), entries cached and the bound (`jit_cache_size`), of
        the cache this function shares with every `jit` of it."""
        c = self._c
        return CacheInfo(c.tick - c.misses, c.misses, len(c.entries), config.jit_cache_size)

    def clear_cache(self):
        """Forget every specialization (for every `jit` of this function), and the memory
        their compiled code kept for the next call."""
        for entry in self._c.clear():
            release_buffers(entry.jaxpr)

    def trace(self, *args, **kwargs):
        """A `Traced`: staged for these arguments (arrays, Python scalars or
        `ShapeDtypeStruct`s: nothing is computed), not compiled."""
        key, leaves, dyn, lent = self._lower_key(args, kwargs)
        treedef, sigs, statics = key[:3]
        with default_device(self._device or default_device_now()):
            entry = self._c.entries.get(key) or self._trace(key, leaves, treedef, statics,
                                                            args, kwargs, dyn, lent)
            return Traced(self, args, kwargs, key, entry, _program_device(sigs))

    def lower(self, *args, **kwargs):
        """Trace and compile for these arguments (arrays, or `ShapeDtypeStruct`s: nothing is
        computed, so a program for a device can be lowered without touching it);
        `.as_text()` shows the jaxpr, the optimized jaxpr and the generated code (and, for
        CUDA devices, the kernels it launches)."""
        return self.trace(*args, **kwargs).lower()

    def eval_shape(self, *args, **kwargs):
        """The outputs for these arguments as `ShapeDtypeStruct`s (as `ft.eval_shape`)."""
        return self.trace(*args, **kwargs).out_info

    def _lower_key(self, args, kwargs):
        """The cache key `lower` traces for, with the flat dynamic leaves (Refs replaced by
        their values), the dynamic arguments and the Ref arguments (a `ref.Lent` or None)."""
        def signature(x):
            if isinstance(x, ShapeDtypeStruct):
                return (x.shape, x.dtype, WEAK if x.weak_type else get_device(x.device))
            return _signature(x)
        if kwargs or self.static_argnums or self.static_argnames:
            dyn, statics = self._split_args(args, kwargs)
        else:
            dyn, statics = args, ()
        leaves, treedef = tree_flatten(dyn)
        lent = lend(leaves, f"jit({self._name})")
        if lent is not None:
            statics += (("Ref arguments", lent.positions),)
        sigs = [signature(x) for x in leaves]
        device = _program_device(sigs)      # NumPy data joins it, as when called (`_call`)
        sigs = tuple(s if s is not None else _signature(asarray(x, device=device))
                     for s, x in zip(sigs, leaves))
        if self._device is not None:        # `jit(device=...)`: every array goes there
            sigs = tuple(s if s[2] in (WEAK, Tracer) else s[:2] + (self._device,) for s in sigs)
        return (treedef, sigs, statics, axis_env(), config.trace_context()), leaves, dyn, lent

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return functools.partial(self, obj)

    def __repr__(self):
        return f"<jitted {self._name}>"


class _OnDevice(Jitted):
    """`jit(f, device=...)` (or `backend=...`): runs on `_device` wherever the arguments
    live, Arrays elsewhere being copied there first (as JAX does). Under a transform's
    tracers the program runs where their data is."""

    def _call(self, args, kwargs):
        dev = self._device
        args, kwargs = tree_map(
            lambda x: device_put(x, dev) if type(x) is Array and x.device is not dev else x,
            (args, kwargs))
        with default_device(dev):       # for NumPy data, Python scalars and constants
            return super()._call(args, kwargs)


_output_check = None


def check_outputs_with(check):
    """Have every jitted call pass its results to `check(name, closed_jaxpr, raw_args,
    raw_outs, out_tree)` (None: stop). While one is set, calls take the general path and
    nothing is donated (a check may run the function again); `ft.debug` sets one for
    `debug_nans` / `debug_infs`."""
    global _output_check
    _output_check = check
    _choose_call()


_call_timer = None
# called as `observe(name, start)` after each trace of a jitted function (`start`: its
# time.perf_counter() when it began); `ft.monitoring` adds one
trace_observers = []


def time_calls_with(timer):
    """Have every jitted call run as `timer(label, call, args, kwargs)`, which must return
    `call(args, kwargs)` (None: stop). Meanwhile calls take the general path, whose compiled
    programs run through `Executable.__call__`; `ft.profiler` sets one while it traces."""
    global _call_timer
    _call_timer = timer
    _choose_call()


def _choose_call():
    """Point `Jitted.__call__` at the fast dispatch, unless a call timer or an output check
    is set or some thread is inside `disable_jit`: then at the general paths (the fast one
    stays free of these checks)."""
    if _call_timer is not None:
        Jitted.__call__ = Jitted._timed_call
    elif _jit_off_threads:
        Jitted.__call__ = Jitted._call_unless_disabled
    elif _output_check is not None:
        Jitted.__call__ = Jitted._checked_call
    else:
        Jitted.__call__ = Jitted._dispatch


_jit_off_threads = 0                    # threads inside some disable_jit context
_jit_off_lock = threading.Lock()


@contextlib.contextmanager
def disable_jit(disable=True):
    """Within this context (in this thread), jitted and pmapped functions run their Python
    code op by op instead of compiling: `print` shows values and a debugger can step through
    them (JAX's `jax.disable_jit`). `disable_jit(False)` inside turns compilation back on.
    (A pmap in a job of several processes still compiles: its processes check that they run
    the same collectives from the whole program, before any data moves.)"""
    global _jit_off_threads
    state = jit_off.stack
    state.append(bool(disable))
    if len(state) == 1:
        with _jit_off_lock:
            _jit_off_threads += 1
            _choose_call()
    try:
        yield
    finally:
        state.pop()
        if not state:
            with _jit_off_lock:
                _jit_off_threads -= 1
                _choose_call()


def _on_config(name, value):
    """The fast dispatch tables are keyed without the trace context: a change of it clears
    them (the entries stay, keyed with it)."""
    if name in TRACE_CONTEXT:
        for cache in list(_ALL_CACHES):
            with cache.lock:
                if cache.fast:
                    cache.fast.clear()


config.on_update(_on_config)


def clear_caches():
    """Forget the compiled specializations of every jitted function (JAX's
    `jax.clear_caches`), with the memory their code kept: each traces again on its next
    call."""
    for cache in list(_ALL_CACHES):
        for entry in cache.clear():
            release_buffers(entry.jaxpr)


def _as_tuple(x):
    if x is None:
        return ()
    return (x,) if isinstance(x, (int, str)) else tuple(x)


class _Static:
    """A static argument in a cache key: equal to another of the same type and value only
    (2 == 2.0 and 1 == True, but they trace different programs)."""
    __slots__ = ("value", "hash")

    def __init__(self, value):
        self.value, self.hash = value, hash(value)

    def __eq__(self, other):
        return type(other) is _Static and type(self.value) is type(other.value) and \
            self.value == other.value

    def __hash__(self):
        return self.hash

    def __repr__(self):
        return repr(self.value)


def _hashable_static(value, label):
    try:
        return _Static(value)
    except TypeError:
        raise ArgumentError(f"jit: static {label} has unhashable type {type(value).__name__}; "
                        "static arguments are part of the cache key, so they must be hashable "
                        "(use a tuple instead of a list, or make it a dynamic array "
                        "argument)") from None


def jit(fun=None, *, in_shardings=None, out_shardings=None, static_argnums=(),
        static_argnames=(), donate_argnums=(), donate_argnames=(), keep_unused=False,
        device=None, backend=None, inline=False, compiler_options=None):
    """Compile `fun`: traced once per input signature (pytree structure, shapes, dtypes,
    static values, device), optimized and lowered to NumPy/CuPy code, cached.

    The cache belongs to the function (held weakly), so `jit(f)(x)` in a loop traces once:
    every `jit` of the same Python function with the same static and donated arguments
    shares it. A function's traces bake in what it reads besides its arguments (globals,
    closed-over values) at trace time, as in JAX: pass values that change as arguments. A
    new function object (a lambda or closure made anew, a `functools.partial`) traces anew;
    so does a bound method (`jit(obj.method)`) and any other callable object, since they
    may change between two `jit`s: make that wrapper once, or jit a function taking `obj`.

    `static_argnums` / `static_argnames` name arguments that are settings rather than data
    (hashable; each value compiles separately). `donate_argnums` names arguments whose
    memory the compiled code may reuse for its results, when nothing else refers to it (the
    caller's Array is then marked as donated and cannot be used again). NumPy arrays may be
    passed where Arrays go; they are read in place, never copied, and never seen by the
    results (a result that would share their memory is a copy). Composes with every
    transform in both orders. Usable as `@ft.jit` or `@ft.jit(static_argnums=...)`;
    `ft.jit(f).lower(*args).as_text()` shows the optimized jaxpr and the generated code.
    Safe to call from several threads at once. `donate_argnames` donates the parameters so
    named (when passed by position); `keep_unused` and `inline` are accepted for JAX's code
    and do not change results. `device` (a Device or "cuda:1"-style name) or `backend` (a
    platform: "cpu", "cuda") run the function there, copying arguments that live elsewhere;
    deprecated, as in JAX: `ft.device_put` the arguments instead. `compiler_options` is
    ignored; `in_shardings` / `out_shardings` must be None (arrays are not sharded).
    """
    for name, value in (("in_shardings", in_shardings), ("out_shardings", out_shardings)):
        if value is not None:
            raise NotImplementedError(f"jit: {name}={value!r}: functrans does not shard "
                                      "arrays; leave it out (ft.pmap maps over devices)")
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums,
                                 static_argnames=static_argnames,
                                 donate_argnums=donate_argnums,
                                 donate_argnames=donate_argnames, device=device,
                                 backend=backend)
    if donate_argnames:
        params = param_names(fun)
        donate_argnums = _as_tuple(donate_argnums) + tuple(
            params.index(n) for n in _as_tuple(donate_argnames) if n in params)
    if device is not None or backend is not None:
        warnings.warn("jit: the device and backend arguments are deprecated (as in JAX): "
                      "ft.device_put the arguments instead", DeprecationWarning, stacklevel=2)
        if device is not None and backend is not None:
            raise ValueError("jit: can't specify both a device and a backend, got "
                             f"device={device} and backend={backend!r}")
        device = get_device(device if backend is None else get_backend(backend).platform)
    return (Jitted if device is None else _OnDevice)(fun, static_argnums, static_argnames,
                                                     donate_argnums, device)
