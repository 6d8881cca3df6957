"""jit's caches under concurrent use: threads calling one jitted function with new shapes
through a tiny cache (traces, evictions, fast-path hits and the executables' arenas all
racing), its derivatives, and clearing the cache meanwhile. Results are checked; every
thread must finish in bounded time."""
import sys
import threading

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp

THREADS = 8
TIMEOUT_S = 60


@pytest.fixture
def racy():
    """Switch threads as often as possible, and a cache of two entries."""
    interval, size = sys.getswitchinterval(), ft.config.jit_cache_size
    sys.setswitchinterval(1e-6)
    ft.config.update("jit_cache_size", 2)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)
        ft.config.update("jit_cache_size", size)


def _run_threads(work, n=THREADS):
    errors = []

    def guarded(t):
        try:
            work(t)
        except BaseException as e:          # reported by the main thread
            errors.append(f"thread {t}: {type(e).__name__}: {e}")
    threads = [threading.Thread(target=guarded, args=(t,), daemon=True) for t in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT_S)
    assert not any(t.is_alive() for t in threads), "a thread did not finish in time"
    assert errors == []


def test_shared_function_new_shapes_tiny_cache(racy):
    f = ft.jit(lambda x, d: (x * 2 + 1, d["w"] @ x))

    def work(t):
        rng = np.random.default_rng(t)
        for i in range(40):
            n = 1 + (i * 7 + t) % 5
            x_np = rng.standard_normal(n).astype(np.float32)
            w_np = rng.standard_normal((3, n)).astype(np.float32)
            x = x_np if (i + t) % 3 == 0 else fnp.asarray(x_np)     # NumPy and Arrays
            y, z = f(x, {"w": fnp.asarray(w_np)})
            np.testing.assert_allclose(np.asarray(y), x_np * 2 + 1, rtol=1e-6)
            np.testing.assert_allclose(np.asarray(z), w_np @ x_np, rtol=1e-5, atol=1e-5)
    _run_threads(work)
    info = f.cache_info()
    assert info.size <= 2 and info.misses >= 5


def test_arenas_are_never_shared_by_two_calls(racy):
    """Temporaries large enough to live in the executable's arena, one shape for all: every
    thread takes an arena at once."""
    f = ft.jit(lambda x, w: fnp.tanh(x @ w) @ w.T + x)
    rng = np.random.default_rng(0)
    w = fnp.asarray(rng.standard_normal((64, 64)))

    def work(t):
        x_np = np.random.default_rng(t).standard_normal((32, 64))
        want = np.tanh(x_np @ np.asarray(w)) @ np.asarray(w).T + x_np
        for _ in range(30):
            np.testing.assert_allclose(np.asarray(f(fnp.asarray(x_np), w)), want, rtol=1e-12)
    _run_threads(work)


def test_derivatives_and_vmap_of_a_shared_function(racy):
    f = ft.jit(lambda x: fnp.sum(fnp.sin(x) ** 2))
    g = ft.jit(ft.grad(f))

    def work(t):
        for i in range(15):
            x_np = np.linspace(0.0, 1.0, 2 + (i + t) % 4)
            np.testing.assert_allclose(np.asarray(ft.grad(f)(fnp.asarray(x_np))),
                                       np.sin(2 * x_np), rtol=1e-12)
            np.testing.assert_allclose(np.asarray(g(x_np)), np.sin(2 * x_np), rtol=1e-12)
            xs = np.stack([x_np, 2 * x_np])
            np.testing.assert_allclose(np.asarray(ft.vmap(f)(fnp.asarray(xs))),
                                       (np.sin(xs) ** 2).sum(1), rtol=1e-12)
    _run_threads(work)


def test_clearing_the_cache_while_others_call(racy):
    f = ft.jit(lambda x: x - 1)
    stop = threading.Event()

    def work(t):
        if t == 0:
            while not stop.is_set():
                f.clear_cache()
            return
        try:
            for i in range(50):
                x = fnp.arange(1 + i % 3, dtype=fnp.float32)
                np.testing.assert_array_equal(np.asarray(f(x)), np.asarray(x) - 1)
        finally:
            if t == 1:
                stop.set()
    _run_threads(work, n=4)


def test_one_trace_per_signature_when_threads_agree():
    """Threads calling with one signature after it is cached never trace again."""
    f = ft.jit(lambda x: x * 3)
    x = fnp.ones(4)
    f(x)

    def work(t):
        for _ in range(200):
            f(x)
    _run_threads(work)
    assert f.cache_info().misses == 1
