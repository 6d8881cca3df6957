"""Compiled functions keep their temporaries' memory (an arena) for the next call: results are
bit for bit those with the cache off and those of eager code, call after call; outputs the
caller holds are never written again; threads and nested calls get arenas of their own; a
view that outlives a call keeps its arena from being reused; the arena's layout keeps slots
alive at the same time apart; `clear_cache` and the config setting release the memory."""
import gc
import threading
import weakref

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import functrans as ft
import functrans.numpy as fnp
from functrans.array import wrap
from functrans.core import ShapedArray
from functrans.compiler import memory
from functrans.primitives._util import primitive

# small arrays get slots too (the autouse fixture), so hypothesis' programs use the arena
from test_compiler_properties import build, inputs, programs, reuse_every_buffer  # noqa: F401

BIG = (64, 64)          # 32 KiB in float64: above memory.REUSE_MIN_BYTES


def _arr(seed=0, shape=BIG):
    return fnp.asarray(np.random.default_rng(seed).standard_normal(shape))


def _same(a, b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def _executable(jf, *args):
    return jf.lower(*args).executable


@pytest.fixture
def cache_setting():
    """Restores `jit_buffer_cache` after a test that changes it."""
    old = ft.config.jit_buffer_cache
    yield
    ft.config.update("jit_buffer_cache", old)


def _mlp(x, w):
    """Temporaries of several shapes, in slots, and outputs that are not."""
    h = fnp.tanh(x @ w)
    g = fnp.exp(-h * h) * 2.0 + h
    s = fnp.sum(g * g, axis=0)
    return s, (g @ w.T)[:8] * 0.5


def test_the_executable_keeps_an_arena_and_reuses_it():
    jf = ft.jit(_mlp)
    x, w = _arr(0), _arr(1) / 8
    exe = _executable(jf, x, w)
    assert exe.arena_bytes > 0 and "pool" in exe.source
    jf(x, w)
    kept, = exe._free
    jf(x, w)
    assert list(exe._free) == [kept]    # the same arena, taken and given back


@settings(max_examples=40, deadline=None)
@given(programs(), st.sampled_from([np.float32, np.float64]), st.data())
def test_cache_on_and_off_agree_bitwise_call_after_call(program, dtype, data):
    f = build(program)
    draws = [data.draw(inputs(dtype)) for _ in range(3)]
    old = ft.config.jit_buffer_cache
    results = {}
    try:
        with np.errstate(all="ignore"):
            for flag in (True, False):
                ft.config.update("jit_buffer_cache", flag)
                jf = ft.jit(f)
                results[flag] = [jf(fnp.asarray(x), fnp.asarray(y)) for x, y in draws * 2]
            want = [f(fnp.asarray(x), fnp.asarray(y)) for x, y in draws * 2]
    finally:
        ft.config.update("jit_buffer_cache", old)
    for on, off, eager in zip(results[True], results[False], want):
        for a, b, c in zip(on, off, eager):
            _same(a, b)
            _same(a, c)


@settings(max_examples=25, deadline=None)
@given(programs(), st.data())
def test_outputs_held_from_earlier_calls_stay_unchanged(program, data):
    f = build(program)
    jf = ft.jit(f)
    draws = [data.draw(inputs(np.float64)) for _ in range(4)]
    held = []
    with np.errstate(all="ignore"):
        for x, y in draws:
            held.append(jf(fnp.asarray(x), fnp.asarray(y)))
        for (x, y), outs in zip(draws, held):
            for a, b in zip(outs, f(fnp.asarray(x), fnp.asarray(y))):
                _same(a, b)


def test_outputs_and_their_views_never_live_in_the_arena():
    def f(x, w):
        t = fnp.tanh(x @ w)             # temporaries, in slots
        u = t * t + 1.0
        return u.T * 2.0, (u @ w).reshape(-1)[::2], t[:3]
    jf = ft.jit(f)
    x, w = _arr(0), _arr(1)
    first = jf(x, w)
    copies = [np.asarray(o).copy() for o in first]
    for seed in range(2, 6):
        jf(_arr(seed), _arr(seed + 10))
    for o, c in zip(first, copies):
        _same(o, c)
    exe = _executable(jf, x, w)
    assert exe.arena_bytes > 0
    block = exe._free[0][0]
    for o in first:
        assert not np.shares_memory(o._value, block)    # the raw buffers, on any device


def test_threads_calling_at_once_get_their_own_buffers():
    jf = ft.jit(_mlp)
    w = _arr(99) / 8
    xs = [_arr(seed) for seed in range(4)]
    want = [_mlp(x, w) for x in xs]
    errors = []
    start = threading.Barrier(4)

    def work(i):
        start.wait()
        for _ in range(30):
            got = jf(xs[i], w)
            for a, b in zip(got, want[i]):
                if not np.array_equal(np.asarray(a), np.asarray(b)):
                    errors.append(i)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(_executable(jf, xs[0], w)._free) <= 1       # one arena kept while idle


# a kernel that calls a jitted function, to run it while that function's own call is running
_inner = {}


def _reenter_impl(xp, x):
    fn = _inner.pop("fn", None)
    if fn is not None:                  # once: the nested call does not nest again
        fn(wrap(x * 3.0), wrap(x))
    return x + 1.0


reenter_p = primitive("reenter_for_test", _reenter_impl, lambda x: ShapedArray(x.shape, x.dtype))


def test_a_nested_call_does_not_clobber_its_callers_buffers():
    def f(x, w):
        t = fnp.tanh(x @ w)             # in a slot, read again after the nested call
        u = reenter_p.bind(t * 2.0)
        return fnp.sum(t * u, axis=0), u @ w

    jf = ft.jit(f)
    x, w = _arr(0), _arr(1) / 8
    want = f(x, w)
    jf(x, w)                            # the arena now waits for the next call
    _inner["fn"] = jf
    got = jf(x, w)                      # ... which calls jf again from inside
    assert "fn" not in _inner
    for a, b in zip(got, want):
        _same(a, b)


# a kernel that keeps what it is given, as a user's callback might
_kept = []
keep_p = primitive("keep_for_test", lambda xp, x: _kept.append(x) or [], lambda x: [],
                   multiple_results=True, effectful=True)


def test_a_view_kept_by_a_kernel_is_never_overwritten():
    def f(x, w):
        t = fnp.tanh(x @ w)
        keep_p.bind(t)
        return fnp.sum(t, axis=0)

    jf = ft.jit(f)
    _kept.clear()
    w = _arr(1) / 8
    jf(_arr(0), w)
    first = np.array(_kept[0])
    for seed in range(2, 5):
        jf(_arr(seed), w)
    _same(_kept[0], first)
    assert len({id(k) for k in _kept}) == len(_kept)
    _kept.clear()


def _arena_ref(jf, *args):
    exe = _executable(jf, *args)
    return weakref.ref(exe._free[0][0])


def test_clear_cache_releases_the_arena():
    jf = ft.jit(_mlp)
    x, w = _arr(0), _arr(1)
    jf(x, w)
    block = _arena_ref(jf, x, w)
    jf.clear_cache()
    gc.collect()
    assert block() is None


def test_clear_cache_releases_the_arenas_of_derived_functions():
    jf = ft.jit(lambda x, w: fnp.sum(_mlp(x, w)[1]))
    x, w = _arr(0), _arr(1)
    ft.grad(jf, argnums=1)(x, w)        # compiles a forward and a backward pass
    from functrans.compiler import Executable
    split = next(v for k, v in next(iter(jf._cache.values())).jaxpr.cache.items()
                 if k[0] == "vjp")
    exes = [v for j in (split.fwd, split.bwd) for v in j.cache.values()
            if isinstance(v, Executable)]
    assert exes and any(e._free for e in exes)
    jf.clear_cache()
    assert not any(e._free for e in exes)


def test_turning_the_cache_off_releases_and_stops_keeping(cache_setting):
    jf = ft.jit(_mlp)
    x, w = _arr(0), _arr(1)
    want = jf(x, w)
    block = _arena_ref(jf, x, w)
    ft.config.update("jit_buffer_cache", False)
    gc.collect()
    assert block() is None
    got = jf(x, w)
    assert not _executable(jf, x, w)._free
    for a, b in zip(got, want):
        _same(a, b)


def test_setting_is_read_from_the_environment(monkeypatch):
    from functrans.config import Config
    monkeypatch.setenv("FUNCTRANS_JIT_BUFFER_CACHE", "0")
    assert Config().jit_buffer_cache is False
    monkeypatch.setenv("FUNCTRANS_JIT_BUFFER_CACHE", "1")
    assert Config().jit_buffer_cache is True


# ------------------------------------------------------------------ the arena's layout
class _Slot:
    def __init__(self, nbytes, start, stop):
        self.nbytes, self.start, self.stop = nbytes, start, stop


@given(st.lists(st.tuples(st.integers(1, 5000), st.integers(0, 20), st.integers(0, 8)),
                min_size=1, max_size=12))
def test_slots_alive_together_get_disjoint_memory(specs):
    slots = [_Slot(n, a, a + d) for n, a, d in specs]
    offsets, size = memory.arena_layout(slots)
    for i, (s, o) in enumerate(zip(slots, offsets)):
        assert o % memory.ALIGN == 0 and o + s.nbytes <= size
        for t, p in zip(slots[i + 1:], offsets[i + 1:]):
            if s.start <= t.stop and t.start <= s.stop:
                assert o + s.nbytes <= p or p + t.nbytes <= o
    rounded = [-(-s.nbytes // memory.ALIGN) * memory.ALIGN for s in slots]
    peak = max(sum(r for r, s in zip(rounded, slots) if s.start <= k <= s.stop)
               for k in range(0, 30))
    assert peak <= size <= sum(rounded)


def test_the_arena_holds_about_the_peak_not_the_sum():
    def f(x):
        a = fnp.sin(x) * 2.0                        # 32 KiB
        b = fnp.sum(a, axis=1)                      # a dies here
        c = fnp.outer(b, b) @ x                     # 32 KiB, may take a's place
        d = fnp.concatenate([x, x]) * 3.0           # 64 KiB
        return fnp.sum(c) + fnp.sum(d @ x)
    exe = _executable(ft.jit(f), _arr())
    sizes = [hi - lo for lo, hi, _, _ in exe._views]
    assert exe.arena_bytes < sum(sizes)
    want = f(_arr())
    for _ in range(2):
        np.testing.assert_array_equal(np.asarray(ft.jit(f)(_arr())), np.asarray(want))


def test_loop_and_branch_bodies_share_the_arena_safely():
    """Slots of nested blocks (a loop body, the branches of a cond) get regions apart from the
    caller's slots alive across them; the loop runs its body's slots again each iteration."""
    w = _arr(7) / 8

    def f(x, flag):
        outer = fnp.tanh(x @ w)                         # alive across the loop and the cond

        def body(i, c):
            t = fnp.sin(c @ w) * 0.5                    # temporaries of the body
            return fnp.tanh(t @ w + c) * 0.9

        c = ft.lax.fori_loop(0, 3, body, outer * 0.5)
        d = ft.lax.cond(flag > 0, lambda v: fnp.exp(-(v @ w) ** 2) @ w,
                        lambda v: fnp.cos(v @ w) @ w, c)
        return fnp.sum(outer * d, axis=0), d + outer

    jf = ft.jit(f)
    x = _arr(3)
    for flag in (1.0, -1.0, 1.0):
        flag = fnp.asarray(flag)
        want = f(x, flag)
        for _ in range(2):
            for a, b in zip(jf(x, flag), want):
                _same(a, b)
    exe = _executable(jf, x, fnp.asarray(1.0))
    assert exe.arena_bytes > 0 and "for " in exe.source


def test_host_programs_have_malloc_keep_freed_memory(monkeypatch):
    """Memory NumPy frees stays with glibc's malloc for the next allocation (a page fault per
    4 KiB otherwise): set at the first program compiled for the host, undone and redone by
    the `cpu_malloc_keep` setting, never touched while it is off."""
    from functrans.compiler import executable

    class FakeLibc:
        calls = []
        gnu_get_libc_version = object()

        def mallopt(self, param, value):
            self.calls.append((param, value))
    monkeypatch.setattr(executable.ctypes, "CDLL", lambda name: FakeLibc())
    monkeypatch.setattr(executable, "_host_compiled", [])
    before = ft.config.cpu_malloc_keep
    try:
        ft.config.update("cpu_malloc_keep", False)
        on_host = ft.device_put(np.ones(3), "cpu")
        ft.jit(lambda x: x * 3.0 + 1.0)(on_host)
        assert FakeLibc.calls == []
        ft.config.update("cpu_malloc_keep", True)
        assert sorted(FakeLibc.calls) == [(-3, 32 << 20), (-2, 64 << 20)]
        FakeLibc.calls.clear()
        ft.config.update("cpu_malloc_keep", False)
        assert sorted(FakeLibc.calls) == [(-3, 128 << 10), (-2, 128 << 10)]
        FakeLibc.calls.clear()
        monkeypatch.setattr(executable, "_host_compiled", [])
        ft.config.update("cpu_malloc_keep", True)
        ft.jit(lambda x: x * 5.0 - 1.0)(on_host)
        assert sorted(FakeLibc.calls) == [(-3, 32 << 20), (-2, 64 << 20)]
    finally:
        ft.config.update("cpu_malloc_keep", before)
