"""`ft.monitoring` (JAX's `jax.monitoring`): named events, durations, time spans and
scalars, passed to the listeners registered for them (to send to a metrics collector).

functrans records, under JAX's names (with `fun_name=` as JAX gives it):
- each trace of a jitted (or pmapped) function: "/jax/core/compile/jaxpr_trace_duration"
  (`fun_name`: the function's name), as a duration, a time span and, as a scalar, its start;
- each compilation of a traced program for a device: "/jax/core/compile/
  backend_compile_duration" (`fun_name`: "jit(name)"), the same three ways;
and, where JAX has no name for it, the miss of a jitted function's cache of traced programs
(which JAX does not report): the event "/functrans/jit/cache_miss" (`fun_name`).
"""
from __future__ import annotations

import time

from .compiler.executable import compile_observers
from .jit import trace_observers

__all__ = ["record_event", "record_event_duration_secs", "record_event_time_span",
           "record_scalar", "register_event_listener", "register_event_duration_secs_listener",
           "register_event_time_span_listener", "register_scalar_listener",
           "unregister_event_listener", "unregister_event_duration_listener",
           "unregister_event_time_span_listener", "unregister_scalar_listener",
           "clear_event_listeners"]

JAXPR_TRACE_EVENT = "/jax/core/compile/jaxpr_trace_duration"
BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"
CACHE_MISS_EVENT = "/functrans/jit/cache_miss"

_listeners = {"event": [], "duration": [], "time span": [], "scalar": []}


def record_event(event, **kwargs):
    """Call each event listener with `(event, **kwargs)`."""
    for listener in list(_listeners["event"]):
        listener(event, **kwargs)


def record_event_duration_secs(event, duration, **kwargs):
    """Call each duration listener with `(event, duration, **kwargs)` (seconds)."""
    for listener in list(_listeners["duration"]):
        listener(event, duration, **kwargs)


def record_event_time_span(event, start_time, end_time, **kwargs):
    """Call each time span listener with `(event, start_time, end_time, **kwargs)` (seconds
    since the epoch, as `time.time()`)."""
    for listener in list(_listeners["time span"]):
        listener(event, start_time, end_time, **kwargs)


def record_scalar(event, value, **kwargs):
    """Call each scalar listener with `(event, value, **kwargs)`."""
    for listener in list(_listeners["scalar"]):
        listener(event, value, **kwargs)


def _register(kind, callback, what):
    if not callable(callback):
        raise TypeError(f"ft.monitoring.{what}: callback must be callable, got a "
                        f"{type(callback).__name__}")
    _listeners[kind].append(callback)


def _unregister(kind, callback, what):
    if callback not in _listeners[kind]:
        raise ValueError(f"ft.monitoring.{what}: {callback!r} is not a registered {kind} "
                         "listener")
    _listeners[kind].remove(callback)


def register_event_listener(callback):
    """Have `callback(event, **kwargs)` called by `record_event`."""
    _register("event", callback, "register_event_listener")


def register_event_duration_secs_listener(callback):
    """Have `callback(event, duration_secs, **kwargs)` called by
    `record_event_duration_secs`."""
    _register("duration", callback, "register_event_duration_secs_listener")


def register_event_time_span_listener(callback):
    """Have `callback(event, start_time, end_time, **kwargs)` called by
    `record_event_time_span`."""
    _register("time span", callback, "register_event_time_span_listener")


def register_scalar_listener(callback):
    """Have `callback(event, value, **kwargs)` called by `record_scalar`."""
    _register("scalar", callback, "register_scalar_listener")


def unregister_event_listener(callback):
    """Stop calling `callback` (registered with `register_event_listener`)."""
    _unregister("event", callback, "unregister_event_listener")


def unregister_event_duration_listener(callback):
    """Stop calling `callback` (registered with `register_event_duration_secs_listener`)."""
    _unregister("duration", callback, "unregister_event_duration_listener")


def unregister_event_time_span_listener(callback):
    """Stop calling `callback` (registered with `register_event_time_span_listener`)."""
    _unregister("time span", callback, "unregister_event_time_span_listener")


def unregister_scalar_listener(callback):
    """Stop calling `callback` (registered with `register_scalar_listener`)."""
    _unregister("scalar", callback, "unregister_scalar_listener")


def clear_event_listeners():
    """Remove every listener, of every kind."""
    for found in _listeners.values():
        found.clear()


def _timed(event, fun_name, start):
    """Record `event`, which began at `start` (`time.perf_counter()`) and ends now, as JAX
    records a timed step: its start as a scalar, its duration, its time span."""
    if not (_listeners["scalar"] or _listeners["duration"] or _listeners["time span"]):
        return
    duration = time.perf_counter() - start
    end = time.time()
    record_scalar(event, end - duration, fun_name=fun_name)
    record_event_duration_secs(event, duration, fun_name=fun_name)
    record_event_time_span(event, end - duration, end, fun_name=fun_name)


def _traced(name, start):
    record_event(CACHE_MISS_EVENT, fun_name=name)
    _timed(JAXPR_TRACE_EVENT, name, start)


def _compiled(name, device, start):
    _timed(BACKEND_COMPILE_EVENT, f"jit({name})", start)


trace_observers.append(_traced)
compile_observers.append(_compiled)
