"""Profiling, as JAX's `jax.profiler`: a timeline of what ran, in the Chrome trace-event
format that Perfetto (https://ui.perfetto.dev), chrome://tracing and TensorBoard's profile
plugin open.

While a trace runs (`start_trace` ... `stop_trace`, or `with trace(log_dir):`) it records
- each call of a jitted function (`jit(name)`: tracing and compiling included, when the call
  needed them), each trace and compilation, and each run of a compiled program (`loss on cpu`),
- each line of a compiled program's generated code that calls a kernel, named by the NumPy
  or CuPy function it calls (a split kernel by the function its pieces run, with
  "(threads)"), the line itself in the event's arguments,
- the regions user code marks with `TraceAnnotation`, `StepTraceAnnotation` and
  `annotate_function`.
Meanwhile jitted calls take the general dispatch path and programs run an instrumented copy
of their code, which costs about a microsecond per kernel; outside a trace nothing changes.
Eager operations are not recorded one by one. On a GPU a kernel's event times its launch
(CuPy returns before the kernel has run); the program's event ends when its results exist.

`stop_trace` writes `<log_dir>/plugins/profile/<run>/<host>.trace.json.gz`, where `<run>` is
the start time (`2026_12_07_18_30_00`), and with `create_perfetto_trace=True` also
`perfetto_trace.json.gz` beside it.
"""
from __future__ import annotations

import ast
import contextlib
import datetime
import functools
import gzip
import json
import os
import re
import socket
import threading
import time
import weakref

from .compiler.executable import Executable, compile_observers
from .jit import time_calls_with, trace_observers

__all__ = ["start_trace", "stop_trace", "trace", "TraceAnnotation", "StepTraceAnnotation",
           "annotate_function"]

_clock = time.perf_counter_ns


class _Trace:
    """The events of the running trace: (name, category, start ns, duration ns, thread,
    arguments) each."""

    def __init__(self, log_dir, create_perfetto_link, create_perfetto_trace):
        self.log_dir = os.fspath(log_dir)
        self.perfetto = create_perfetto_trace or create_perfetto_link
        self.link = create_perfetto_link
        self.started = datetime.datetime.now()
        self.origin = _clock()
        self.events = []
        self.programs = weakref.WeakKeyDictionary()     # Executable -> (its variant, lines)

    def add(self, name, category, start, args=None):
        self.events.append((name, category, start, _clock() - start,
                            threading.get_ident(), args))

    def write(self):
        run = self.started.strftime("%Y_%m_%d_%H_%M_%S")
        directory = os.path.join(self.log_dir, "plugins", "profile", run)
        os.makedirs(directory, exist_ok=True)
        pid = os.getpid()
        threads = {tid for *_, tid, _ in self.events}
        events = [{"name": "process_name", "ph": "M", "pid": pid,
                   "args": {"name": f"functrans (process {pid})"}}]
        events += [{"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                    "args": {"name": _thread_name(tid)}} for tid in sorted(threads)]
        for name, category, start, duration, tid, args in self.events:
            event = {"name": name, "cat": category, "ph": "X", "pid": pid, "tid": tid,
                     "ts": (start - self.origin) / 1e3, "dur": duration / 1e3}
            if args:
                event["args"] = {"code": args} if isinstance(args, str) else args
            events.append(event)
        data = json.dumps({"traceEvents": events, "displayTimeUnit": "ns"}).encode()
        paths = [os.path.join(directory, f"{socket.gethostname()}.trace.json.gz")]
        if self.perfetto:
            paths.append(os.path.join(directory, "perfetto_trace.json.gz"))
        for path in paths:
            with gzip.open(path, "wb") as f:
                f.write(data)
        return paths


def _thread_name(tid):
    for t in threading.enumerate():
        if t.ident == tid:
            return t.name
    return f"thread {tid}"


_current = None
_lock = threading.Lock()


def start_trace(log_dir, create_perfetto_link=False, create_perfetto_trace=False,
                profiler_options=None):
    """Start recording a trace, to be written under `log_dir` by `stop_trace`.
    `create_perfetto_link` prints where to open the trace (nothing is served or awaited);
    `profiler_options` is accepted for JAX's signature and unused."""
    global _current
    with _lock:
        if _current is not None:
            raise RuntimeError("Profile has already been started. Only one profile may be "
                               "run at a time.")
        _current = _Trace(log_dir, create_perfetto_link, create_perfetto_trace)
        Executable.__call__ = _profiled_program
        compile_observers.append(_compiled)
        trace_observers.append(_traced)
        time_calls_with(_timed_jit_call)


def stop_trace():
    """Stop the trace `start_trace` began and write it; returns the files written."""
    global _current
    with _lock:
        if _current is None:
            raise RuntimeError("No profile started")
        done, _current = _current, None
        time_calls_with(None)
        compile_observers.remove(_compiled)
        trace_observers.remove(_traced)
        Executable.__call__ = _plain_program
    paths = done.write()
    if done.link:
        print(f"functrans trace written to {paths[-1]}: open it at https://ui.perfetto.dev "
              "(Open trace file)")
    return paths


@contextlib.contextmanager
def trace(log_dir, create_perfetto_link=False, create_perfetto_trace=False,
          profiler_options=None):
    """Record a trace of the block (`start_trace` on entry, `stop_trace` on exit)."""
    start_trace(log_dir, create_perfetto_link, create_perfetto_trace, profiler_options)
    try:
        yield
    finally:
        stop_trace()


class TraceAnnotation:
    """Mark a region in the trace (a context manager): `with TraceAnnotation("data"): ...`.
    Keyword arguments become the event's arguments. Costs nothing measurable when no trace
    runs."""

    def __init__(self, name, **kwargs):
        self.name, self.kwargs = name, kwargs
        self._starts = []

    def __enter__(self):
        self._starts.append((_current, _clock()))
        return self

    def __exit__(self, *exc):
        recording, start = self._starts.pop()
        if recording is not None and recording is _current:
            recording.add(self.name, "annotation", start,
                          {k: str(v) for k, v in self.kwargs.items()} or None)
        return False


class StepTraceAnnotation(TraceAnnotation):
    """Mark one step of a training loop: `with StepTraceAnnotation("train", step_num=i):`."""

    def __init__(self, name, **kwargs):
        super().__init__(name, **kwargs)
        if "step_num" in kwargs:
            self.name = f"{name} {kwargs['step_num']}"


def annotate_function(func, name=None, **kwargs):
    """`func` with each call marked in the trace (as `TraceAnnotation(name or its name)`)."""
    label = name or getattr(func, "__qualname__", None) or repr(func)

    @functools.wraps(func)
    def annotated(*args, **kw):
        with TraceAnnotation(label, **kwargs):
            return func(*args, **kw)
    return annotated


# ------------------------------------------------------------------ jitted calls, programs
_plain_program = Executable.__call__


def _timed_jit_call(label, call, args, kwargs):
    recording, start = _current, _clock()
    try:
        return call(args, kwargs)
    finally:
        if recording is not None:
            recording.add(label, "jit", start)


def _compiled(name, device, start):
    recording = _current
    if recording is not None:
        recording.add(f"compile {name} for {device}", "compile", int(start * 1e9))


def _traced(name, start):
    recording = _current
    if recording is not None:
        recording.add(f"trace {name}", "trace", int(start * 1e9))


def _profiled_program(exe, *args):
    recording = _current
    if recording is None:            # stopped meanwhile, by another thread
        return exe.run(exe.fn, args)
    fn = recording.programs.get(exe)
    if fn is None:
        fn = recording.programs.setdefault(exe, _instrumented(exe, recording))
    start = _clock()
    try:
        return exe.run(fn, args)
    finally:
        recording.add(f"{exe.fn.__name__} on {exe.device}", "program", start)


def _instrumented(exe, recording):
    """`exe`'s code with each line that calls a kernel timed into `recording`."""
    tree = ast.parse(exe.source)
    func = tree.body[0]
    kernels = []            # (name, line of code) of each timed line
    _time_lines(func, kernels, exe.fn.__globals__)
    ast.fix_missing_locations(tree)
    events, ident = recording.events, threading.get_ident

    def record(k, start):
        name, code = kernels[k]
        events.append((name, "kernel", start, _clock() - start, ident(), code))
    return exe.variant(ast.unparse(tree), func.name, {"_clock": _clock, "_record": record})


_UNTIMED = {"fp_quiet", "fp_restore"}
_SIMPLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr)


def _time_lines(node, kernels, names):
    """Wrap each statement under `node` that calls a kernel in `_t = _clock()` ...
    `_record(k, _t)`."""
    for field in ("body", "orelse", "finalbody"):
        statements = getattr(node, field, None)
        if not statements:
            continue
        timed = []
        for stmt in statements:
            call = _first_call(stmt) if isinstance(stmt, _SIMPLE) else None
            name = None if call is None else _kernel_name(call, names)
            if name is None or name in _UNTIMED:
                _time_lines(stmt, kernels, names)
                timed.append(stmt)
                continue
            kernels.append((name, ast.unparse(stmt)))
            timed += [ast.parse("_t = _clock()").body[0], stmt,
                      ast.parse(f"_record({len(kernels) - 1}, _t)").body[0]]
        setattr(node, field, timed)
    for handler in getattr(node, "handlers", ()):
        _time_lines(handler, kernels, names)


def _first_call(stmt):
    if isinstance(stmt.value, ast.Call):
        return stmt.value
    return next((n for n in ast.walk(stmt) if isinstance(n, ast.Call)), None)


_NUMBERED = re.compile(r"_\d+$|\d+$")


def _kernel_name(call, names):
    """What a line's call runs: `add`, `add.reduce`, `dot (threads)` for a split product,
    `erf` for a generated kernel `erf_109`, `dot` for `dot(a, b).reshape(...)`, `reshape`
    for a method of a local array. `names`: the program's global names."""
    f = call.func
    if isinstance(f, ast.Attribute):
        if isinstance(f.value, ast.Call):
            return _kernel_name(f.value, names)
        if isinstance(f.value, ast.Name) and f.value.id in names:
            return f"{_NUMBERED.sub('', f.value.id)}.{f.attr}"
        return f.attr
    if not isinstance(f, ast.Name):
        return ast.unparse(f)
    name = _NUMBERED.sub("", f.id)
    if name.startswith("par_") and call.args and isinstance(call.args[0], ast.Name):
        return f"{_NUMBERED.sub('', call.args[0].id)} (threads)"
    return name
