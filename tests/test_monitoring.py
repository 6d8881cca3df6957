"""`ft.monitoring` (JAX's jax.monitoring): the listener API, checked call for call against
JAX's, and the events functrans records for traces and compilations under JAX's names."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp

TRACE = "/jax/core/compile/jaxpr_trace_duration"
COMPILE = "/jax/core/compile/backend_compile_duration"


@pytest.fixture
def recorded():
    """Every record reaching listeners of the four kinds, as (kind, event, values, kwargs)."""
    found = []
    m = ft.monitoring
    m.register_event_listener(lambda e, **kw: found.append(("event", e, (), kw)))
    m.register_event_duration_secs_listener(
        lambda e, d, **kw: found.append(("duration", e, (d,), kw)))
    m.register_event_time_span_listener(
        lambda e, s, t, **kw: found.append(("span", e, (s, t), kw)))
    m.register_scalar_listener(lambda e, v, **kw: found.append(("scalar", e, (v,), kw)))
    yield found
    m.clear_event_listeners()


def _listener_session(m):
    got = []

    def on_event(e, **kw):
        got.append(("event", e, kw))

    def on_duration(e, d, **kw):
        got.append(("duration", e, d, kw))

    def on_span(e, s, t, **kw):
        got.append(("span", e, s, t, kw))

    def on_scalar(e, v, **kw):
        got.append(("scalar", e, v, kw))
    m.register_event_listener(on_event)
    m.register_event_listener(on_event)
    m.register_event_duration_secs_listener(on_duration)
    m.register_event_time_span_listener(on_span)
    m.register_scalar_listener(on_scalar)
    m.record_event("/test/a", step=1, tag="x")
    m.record_event_duration_secs("/test/b", 0.5, step=2)
    m.record_event_time_span("/test/c", 1.0, 3.0)
    m.record_scalar("/test/d", 7)
    m.unregister_event_listener(on_event)
    m.unregister_event_duration_listener(on_duration)
    m.record_event("/test/e")
    m.record_event_duration_secs("/test/f", 1.5)
    m.unregister_event_time_span_listener(on_span)
    m.unregister_scalar_listener(on_scalar)
    m.unregister_event_listener(on_event)
    m.record_event("/test/g")
    m.record_scalar("/test/h", 1)
    return got


def test_listeners_match_jax():
    jax = pytest.importorskip("jax")
    ours = _listener_session(ft.monitoring)
    assert ours == _listener_session(jax.monitoring)
    assert ours[:2] == [("event", "/test/a", {"step": 1, "tag": "x"})] * 2
    assert ours[-1] == ("event", "/test/e", {}) and len(ours) == 6


def test_clear_and_bad_arguments(recorded):
    ft.monitoring.record_scalar("/test/x", 1.0)
    assert len(recorded) == 1
    ft.monitoring.clear_event_listeners()
    ft.monitoring.record_event("/test/y")
    ft.monitoring.record_event_duration_secs("/test/y", 1.0)
    ft.monitoring.record_event_time_span("/test/y", 1.0, 2.0)
    ft.monitoring.record_scalar("/test/y", 2.0)    # (JAX's clear keeps scalar listeners)
    assert len(recorded) == 1
    with pytest.raises(ValueError, match="not a registered event listener"):
        ft.monitoring.unregister_event_listener(print)
    with pytest.raises(TypeError, match="register_scalar_listener: callback must be callable"):
        ft.monitoring.register_scalar_listener(3)


def test_jit_records_traces_and_compilations(recorded):
    def loss(w):
        return fnp.tanh(w).sum()
    f = ft.jit(loss)
    f(np.ones(3))
    first = [(kind, e, kw) for kind, e, _, kw in recorded]
    assert first == [("event", "/functrans/jit/cache_miss", {"fun_name": "loss"}),
                     ("scalar", TRACE, {"fun_name": "loss"}),
                     ("duration", TRACE, {"fun_name": "loss"}),
                     ("span", TRACE, {"fun_name": "loss"}),
                     ("scalar", COMPILE, {"fun_name": "jit(loss)"}),
                     ("duration", COMPILE, {"fun_name": "jit(loss)"}),
                     ("span", COMPILE, {"fun_name": "jit(loss)"})]
    for scalar, duration, span in (recorded[1:4], recorded[4:7]):
        start, end = span[2]
        assert 0 <= duration[2][0] < 60 and scalar[2][0] == start
        assert end - start == pytest.approx(duration[2][0], abs=1e-6)
    f(np.zeros(3))
    assert len(recorded) == 7                  # cached: nothing traced or compiled
    f(np.ones(4))
    assert [e for _, e, _, _ in recorded[7:]] == ["/functrans/jit/cache_miss"] + \
        [TRACE] * 3 + [COMPILE] * 3
    recorded.clear()
    ft.grad(f)(np.ones(4))                     # traced again under grad, compiled once more
    assert TRACE in {e for _, e, _, _ in recorded}


def test_jit_events_match_jax():
    jax = pytest.importorskip("jax")

    def run(lib):
        got = []

        def listen(e, d, **kw):
            if e in (TRACE, COMPILE):
                got.append((e, kw))
        lib.monitoring.register_event_duration_secs_listener(listen)
        try:
            def scaled(x):
                return x * 2.0
            f = lib.jit(scaled)
            f(np.ones(2, np.float32))
            f(np.ones(2, np.float32))
            f(np.ones(3, np.float32))
        finally:
            lib.monitoring.unregister_event_duration_listener(listen)
        return got
    ours = run(ft)
    assert ours == run(jax)
    assert ours == [(TRACE, {"fun_name": "scaled"}), (COMPILE, {"fun_name": "jit(scaled)"})] * 2
