"""Executables: a compiled jaxpr's generated function with the memory it keeps between calls,
and `compile_jaxpr`, which optimizes, generates and caches one per jaxpr and device.

Everything here may be used by several threads at once without a lock: caches are filled
with `dict.setdefault` (two threads compiling the same jaxpr both finish, and both use the
first executable stored), and an idle arena is handed out by an atomic `pop`.
"""
from __future__ import annotations

import collections
import ctypes
import logging
import sys
import time
import weakref

import numpy as np

from ..array import wrap
from ..config import config
from ..jaxpr import ClosedJaxpr
from ..meshes import keeping_splits
from ..tree_util import node_kind
from . import memory
from .codegen import generate, compile_source, quiet_lines
from .cost import cost_analysis, memory_analysis
from .passes import optimize

log = logging.getLogger("functrans.compiler")


class Executable:
    """A compiled jaxpr: call it with raw arrays (and, for donated inputs, their arrays or
    None), get a list of raw arrays back.

    Its temporaries (`slots`) live in one block of memory (the arena) that the executable
    keeps for the next call when `config.jit_buffer_cache` is on: a call checks an arena
    out (or makes one, when none is free: the first call, another thread's call or a
    nested one is running) and checks it back in when it returns, unless a view of it
    outlived the call. At most one arena is kept while idle (checking one in while another
    is idle drops the other); `release_buffers()` drops it.
    """

    def __init__(self, fn, source, jaxpr, device, namespace, signature, slots=()):
        self.fn, self.source, self.jaxpr, self.device = fn, source, jaxpr, device
        self._namespace, self._signature = namespace, signature
        self._array_fns = {}
        self._on_host = device.platform == "cpu"
        offsets, self.arena_bytes = memory.arena_layout(slots)
        self._views = [(o, o + s.nbytes, s.dtype, s.shape) for o, s in zip(offsets, slots)]
        self._free = collections.deque(maxlen=1)    # the idle arena
        self._counts = None         # reference counts of a fresh arena's arrays
        if slots:
            _WITH_ARENAS.add(self)

    def __call__(self, *args):
        return self.run(self.fn, args)

    def run(self, fn, args):
        """Run `fn` (this program's function `fn`, or a `variant` of it) on `args`."""
        if self._on_host:
            return self._run(fn, args)
        with self.device.backend.activate(self.device):
            return self._run(fn, args)

    def _run(self, fn, args):
        if not self._views:
            return fn(*args)
        pool = self.take_arena()
        outs = fn(*args, pool)
        self.give_arena(pool)
        return outs

    def variant(self, source, name, names):
        """The function `name` that `source` (a rewrite of this program's code) defines, with
        this program's names and `names` (a dict) in scope."""
        return compile_source(source, name, dict(self._namespace, **names))

    def take_arena(self):
        """The arrays of an idle arena (the block first, then one view per slot), or of a new
        one."""
        try:
            return self._free.pop()
        except IndexError:
            pass
        pool = _new_arena(self.device.xp, self.arena_bytes, self._views)
        if self._counts is None:
            self._counts = _refcounts(pool)
        return pool

    def give_arena(self, pool):
        """Keep `pool` for the next call, if caching is on and nothing but `pool` refers to
        its arrays (no view of them outlived the call)."""
        if config.jit_buffer_cache and _refcounts(pool) == self._counts:
            self._free.append(pool)

    def release_buffers(self):
        """Drop the arena kept between calls."""
        self._free.clear()

    def as_text(self):
        return f"# optimized jaxpr\n{self.jaxpr}\n\n# generated code\n{self.source}"

    def cost_analysis(self):
        """The `flops`, `transcendentals` and `bytes accessed` of one run (`compiler.cost`)."""
        return cost_analysis(self.jaxpr)

    def memory_analysis(self):
        """The bytes of the arguments, results, temporaries (the arena) and generated code."""
        return memory_analysis(self.jaxpr, self.source, self.arena_bytes)

    def array_function(self, out_tree, name, host_inputs=()):
        """A variant taking `ft.Array`s and returning the output pytree of Arrays (the
        dispatch fast path: no list of raw values in between). The inputs at the positions
        `host_inputs` are the caller's NumPy arrays themselves, read without a copy: an
        output that may share memory with one of them is copied (see `detach_from`)."""
        key = (out_tree, host_inputs)
        fn = self._array_fns.get(key)
        if fn is None:
            arg_names, body, outs = self._signature
            params = [f"x{i}" for i in range(len(arg_names))]
            raws = [p if i in host_inputs else f"{p}._value" for i, p in enumerate(params)]
            lines = [f"def {name}({', '.join(params)}):"]
            if self._views:         # the arena goes back once the body's frame is gone
                lines += ["    pool = take_arena()",
                          f"    outs = fn({''.join(r + ', ' for r in raws)}pool)",
                          "    give_arena(pool)"]
                outs = [f"outs[{i}]" for i in range(len(outs))]
            elif body is None:
                lines.append(f"    outs = fn({', '.join(raws)})")
                outs = [f"outs[{i}]" for i in range(len(outs))]
            if host_inputs:
                guarded = "".join(params[i] + ", " for i in host_inputs)
                outs = [f"detach_from({o}, ({guarded}))" for o in outs]
            nodes = {}
            ret = f"    return {_tree_expression(out_tree, outs, nodes)}"
            namespace = dict(self._namespace, wrap=wrap, fn=self.fn, take_arena=self.take_arena,
                             give_arena=self.give_arena, detach_from=detach_from, **nodes)
            if body is not None and not self._views:     # the body inlined here
                inlined = [f"    {a} = {r}" for a, r in zip(arg_names, raws)] + body + [ret]
                lines += quiet_lines(namespace, inlined) if self._on_host else inlined
            else:
                lines.append(ret)
            fn = compile_source("\n".join(lines), name, namespace)
            if not self._on_host:
                fn = self._on_device(fn)
            fn = self._array_fns.setdefault(key, fn)
        return fn

    def _on_device(self, fn):
        device = self.device

        def run(*args):
            with device.backend.activate(device):
                return fn(*args)
        return run


def release_buffers(closed):
    """Drop the arenas kept by the executables compiled from `closed` and from the jaxprs
    derived from it and cached on it (its derivatives, batched forms, ...)."""
    seen, todo = set(), [closed]
    while todo:
        c = todo.pop()
        if id(c) in seen:
            continue
        seen.add(id(c))
        for value in list(c.cache.values()):    # at once: other threads may add entries
            if isinstance(value, Executable):
                value.release_buffers()
            elif isinstance(value, ClosedJaxpr):
                todo.append(value)
            else:           # e.g. a vjp split, holding its forward and backward jaxprs
                todo.extend(v for v in getattr(value, "__dict__", {}).values()
                            if isinstance(v, ClosedJaxpr))


def detach_from(raw, inputs):
    """`raw`, or a copy of it if it may share memory with one of `inputs` (NumPy arrays the
    caller owns and may change later, which an immutable Array must never see)."""
    if type(raw) is np.ndarray:
        if raw.base is None:        # its own memory: shared only if it is an input itself
            for x in inputs:
                if raw is x:
                    return raw.copy()
            return raw
        owner = _owner(raw)
        for x in inputs:
            if owner is x or owner is _owner(x):
                return raw.copy()
    return raw


def _owner(a):
    """The object at the end of `a`'s chain of bases (NumPy shortens chains of plain views,
    not those through other objects, such as as_strided's)."""
    while True:
        base = getattr(a, "base", None)
        if base is None:
            return a
        a = base


def _new_arena(xp, nbytes, views):
    block = xp.empty(nbytes, np.uint8)
    return (block,) + tuple(block[lo:hi].view(dtype).reshape(shape)
                            for lo, hi, dtype, shape in views)


def _refcounts(pool):
    return [sys.getrefcount(a) for a in pool]


_WITH_ARENAS = weakref.WeakSet()     # executables with slots, to release when caching stops


def _on_config(name, value):
    if name == "jit_buffer_cache" and not value:
        while True:
            try:
                exes = list(_WITH_ARENAS)
                break
            except RuntimeError:        # another thread compiled meanwhile: look again
                continue
        for exe in exes:
            exe.release_buffers()


config.on_update(_on_config)


# glibc's mallopt parameters, and what `cpu_malloc_keep` sets them to (or back to: glibc's
# defaults, though its adaptive mmap threshold, once fixed, stays fixed)
_M_TOP_PAD, _M_MMAP_THRESHOLD = -2, -3
_KEEP = {_M_TOP_PAD: 64 << 20, _M_MMAP_THRESHOLD: 32 << 20}
_GLIBC_DEFAULTS = {_M_TOP_PAD: 128 << 10, _M_MMAP_THRESHOLD: 128 << 10}
_host_compiled = []     # [True] once a program has been compiled for the host


def keep_host_memory(keep):
    """Have glibc's malloc keep freed memory (`keep` True: blocks under 32 MiB come from its
    heap, and 64 MiB of free memory at the heap's top stay mapped) or return it as it does
    by default. NumPy allocates every result and every kernel's temporaries afresh; memory
    given back to the system and taken again costs a page fault per 4 KiB on its first
    write (a BatchNorm CNN training step at batch 128: 1350 faults, about 11 % of its time).
    Returns whether malloc is glibc's (elsewhere this does nothing)."""
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version        # glibc's own symbol
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    for param, value in (_KEEP if keep else _GLIBC_DEFAULTS).items():
        mallopt(param, value)
    return True


def _host_program_compiled():
    if not _host_compiled:
        _host_compiled.append(True)
        if config.cpu_malloc_keep:
            keep_host_memory(True)


def _on_malloc_config(name, value):
    if name == "cpu_malloc_keep" and _host_compiled:
        keep_host_memory(bool(value))


config.on_update(_on_malloc_config)


def _tree_expression(tree, names, namespace):
    """Python source building the pytree `tree` of Arrays wrapping `names`; the unflatten
    functions and static data of other node types go into `namespace`."""
    it = iter(names)

    def build(td):
        if td.node_type is None:
            return f"wrap({next(it)})"
        if td.node_type is type(None):
            return "None"
        kids = [build(c) for c in td.children]
        if td.node_type is tuple:
            return f"({', '.join(kids)}{',' if len(kids) == 1 else ''})"
        if td.node_type is list:
            return f"[{', '.join(kids)}]"
        node = f"out_node{len(namespace)}"
        namespace[node] = (node_kind(td.node_type).unflatten, td.node_data)
        return f"{node}[0]({node}[1], [{', '.join(kids)}])"
    return build(tree)


# called as `observe(name, device, start)` after each compilation (`start`: its
# time.perf_counter() when it began); `ft.profiler` adds one while it traces
compile_observers = []


def compile_jaxpr(closed: ClosedJaxpr, device, name="jitted", donated=()) -> Executable:
    """Optimize and compile `closed` for `device` (cached on the jaxpr). `donated` lists the
    inputs whose arrays the code may overwrite; the executable then takes one extra
    argument per donated input: its array, or None when it must not be overwritten."""
    key = ("compiled", device, tuple(donated))
    exe = closed.cache.get(key)
    if exe is None:
        if device.platform == "cpu":
            _host_program_compiled()
        start = time.perf_counter()
        with device.backend.activate(device):
            optimized = optimize(closed, device)
            fn, source, namespace, signature, slots = generate(optimized, device, name, donated)
            if device.spans:    # results labelled with their split; no inlined variant
                fn, signature = keeping_splits(fn, closed, device), (signature[0], None,
                                                                     signature[2])
        if config.log_compiles:
            log.warning("Compiled %s for %s with input types (%s) in %.4f s (%d equations "
                        "after optimization)", name, device,
                        ", ".join(v.aval.str_short() for v in closed.jaxpr.invars),
                        time.perf_counter() - start, len(optimized.jaxpr.eqns))
        for observe in compile_observers:
            observe(name, device, start)
        exe = closed.cache.setdefault(key, Executable(fn, source, optimized, device, namespace,
                                                      signature, slots))
    return exe
