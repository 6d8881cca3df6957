"""jit's cache belongs to the function: `jit(f)` made again does not trace again (closures
made anew, bound methods and callable objects excepted). NumPy arguments take the fast path
and are read in place, never copied, and no result ever shares their memory."""
import gc
import sys
import tracemalloc
import weakref

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp

jit_module = sys.modules["functrans.jit"]


def _counting():
    calls = []

    def f(x):
        calls.append(1)
        return x * 2 + 1
    return f, calls


# ------------------------------------------------------------------ one cache per function
def test_jit_made_in_a_loop_traces_once():
    f, calls = _counting()
    x = fnp.ones(3)
    for _ in range(5):
        np.testing.assert_array_equal(np.asarray(ft.jit(f)(x)), [3.0, 3.0, 3.0])
    assert len(calls) == 1
    a, b = ft.jit(f), ft.jit(f)
    assert a.cache_info() == b.cache_info() and a.cache_info().misses == 1
    a(fnp.ones(4))                              # a new shape: one trace, seen by both
    b(fnp.ones(4))
    assert len(calls) == 2 and b.cache_info().misses == 2


def test_other_static_or_donated_arguments_have_their_own_cache():
    calls = []

    def f(x, n):
        calls.append(n)
        return x * n
    x = fnp.ones(2)
    ft.jit(f, static_argnums=1)(x, 2)
    ft.jit(f, static_argnums=1)(x, 2)
    ft.jit(f, static_argnames="n")(x, n=2)
    assert calls == [2, 2]
    ft.jit(f)(x, 2)                             # n traced: another cache
    assert len(calls) == 3 and ft.jit(f).cache_info().misses == 1


def test_closures_made_anew_trace_anew_and_see_their_values():
    def scaled(s):
        return ft.jit(lambda x: x * s)
    x = fnp.ones(2)
    assert [float(scaled(s)(x)[0]) for s in (1.0, 2.0, 3.0)] == [1.0, 2.0, 3.0]


def test_bound_methods_see_the_current_object():
    class Model:
        def __init__(self):
            self.w = 1.0

        def forward(self, x):
            return x * self.w
    m, x = Model(), fnp.ones(2)
    got = []
    for w in (1.0, 2.0, 3.0):
        m.w = w
        got.append(float(ft.jit(m.forward)(x)[0]))
    assert got == [1.0, 2.0, 3.0]


def test_callable_objects_are_not_shared():
    class Scale:
        def __init__(self, s):
            self.s = s

        def __call__(self, x):
            return x * self.s
    obj, x = Scale(2.0), fnp.ones(2)
    assert float(ft.jit(obj)(x)[0]) == 2.0
    obj.s = 5.0
    assert float(ft.jit(obj)(x)[0]) == 5.0


def test_the_cache_goes_with_the_function():
    f, _ = _counting()
    ft.jit(f)(fnp.ones(2))
    ref = weakref.ref(f)
    assert f in jit_module._SHARED
    del f
    gc.collect()
    assert ref() is None


def test_clear_cache_clears_it_for_every_wrapper():
    f, calls = _counting()
    a, b = ft.jit(f), ft.jit(f)
    a(fnp.ones(2))
    b.clear_cache()
    a(fnp.ones(2))
    assert len(calls) == 2 and a.cache_info().size == 1


# ------------------------------------------------------------------ NumPy arguments
@pytest.fixture
def on_cpu():
    if ft.backends.default_device_now() is not ft.backends.cpu:
        pytest.skip("NumPy data is copied to another default device")


def test_numpy_arguments_take_the_fast_path(on_cpu):
    jf = ft.jit(lambda p, x: {"y": p["w"] * x})
    p, x = {"w": fnp.ones(3)}, np.arange(3.0)
    for _ in range(4):
        np.testing.assert_array_equal(np.asarray(jf(p, x)["y"]), x)
    info = jf.cache_info()
    assert (info.misses, info.hits) == (1, 3)
    (key,) = jf._fast
    assert key[-1] == ((3,), np.dtype(np.float64), np.ndarray)
    jf(p, fnp.asarray(x))                       # an Array of the same signature: same trace
    assert jf.cache_info().misses == 1


def test_numpy_arguments_of_a_program_splitting_kernels_over_threads(on_cpu):
    # such a program runs as a function of its own (it holds the threads); its fast path
    # read `._value` of NumPy arguments
    jf = ft.jit(lambda a, b: (a @ b, a[0]))
    a = np.arange(512 * 512, dtype=np.float32).reshape(512, 512) % 7
    b = np.ones((512, 256), np.float32)
    assert "par_enter" in jf.lower(a, b).as_text()
    want = a @ b
    for _ in range(4):
        y, row = jf(a, b)
        np.testing.assert_allclose(np.asarray(y), want, rtol=1e-6)
        assert not np.shares_memory(np.asarray(row), a)
    assert jf.cache_info().misses == 1


def test_numpy_arguments_are_not_copied(on_cpu):
    jf = ft.jit(lambda x: fnp.sum(x))
    x = np.ones(1 << 20)                        # 8 MiB
    jf(x), jf(x)
    for call in (lambda: jf(x), lambda: jf((x,)[0])):
        tracemalloc.start()
        try:
            call()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < x.nbytes // 8, peak


@pytest.mark.parametrize("fn", [lambda x: x, lambda x: x.reshape(-1), lambda x: x.T,
                                lambda x: x[1:], lambda x: (x, x[0]),
                                lambda x: fnp.broadcast_to(x, (2, 2, 3)),
                                lambda x: {"a": x.astype(x.dtype)}])
def test_results_never_share_the_callers_memory(on_cpu, fn):
    jf = ft.jit(fn)
    for _ in range(3):                          # the first call, then the fast path
        x = np.arange(6.0).reshape(2, 3)
        want = [np.array(o) for o in ft.tree_leaves(fn(fnp.asarray(x)))]
        out = jf(x)
        x[...] = -7.0
        got = [np.asarray(o) for o in ft.tree_leaves(out)]
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def test_results_never_share_the_memory_of_a_view_passed_in(on_cpu):
    base = np.arange(10.0)
    jf = ft.jit(lambda x: x)
    for _ in range(3):
        out = jf(base[2:5])
        base[:] = 0.0
        np.testing.assert_array_equal(np.asarray(out), [2.0, 3.0, 4.0])
        base[:] = np.arange(10.0)


def test_numpy_arguments_kept_by_a_transform_are_copies():
    jf = ft.jit(lambda w, x: fnp.sum(w * x))
    x = np.ones(3)
    _, pullback = ft.vjp(lambda w: jf(w, x), fnp.ones(3))
    x[:] = 5.0                                  # after the forward pass
    np.testing.assert_array_equal(np.asarray(pullback(1.0)[0]), [1.0, 1.0, 1.0])


def test_donated_numpy_arguments_stay_intact(on_cpu):
    jf = ft.jit(lambda x: x + 1, donate_argnums=0)
    x = np.zeros(4096)
    for _ in range(2):
        np.testing.assert_array_equal(np.asarray(jf(x)), np.ones(4096))
    np.testing.assert_array_equal(x, np.zeros(4096))


def test_numpy_dtypes_kept_and_bad_data_named():
    jf = ft.jit(lambda x, n: x * n)
    out = jf(np.ones(2, np.float64), np.arange(2, dtype=np.int32))
    assert out.dtype == np.float64
    with pytest.raises(TypeError, match="object"):
        jf(np.ones(2), np.array([None, 1], dtype=object))


def test_numpy_arguments_go_to_another_default_device():
    import fakegpu
    backend = fakegpu.register()
    dev = backend.devices()[0]
    jf = ft.jit(lambda x: x * 2)
    x = np.arange(3.0)
    with ft.default_device(dev):
        for _ in range(3):
            out = jf(x)
            assert out.device is dev
    if ft.backends.default_device_now() is ft.backends.cpu:
        assert jf(x).device is ft.backends.cpu


def test_detach_from_sees_every_kind_of_view():
    from functrans.compiler.executable import detach_from
    base = np.arange(12.0)
    x = base[1:10]
    views = [x, x[2:], x.reshape(3, 3).T, base[:2],
             np.lib.stride_tricks.as_strided(x, (3,), (8,)),
             np.lib.stride_tricks.as_strided(x, (3,), (8,))[1:]]
    for v in views:
        got = detach_from(v, (x,))
        assert got is not v and not np.shares_memory(got, base)
        np.testing.assert_array_equal(got, v)
    got = detach_from(base, (x, base))          # an input returned as it is
    assert got is not base and not np.shares_memory(got, base)
    fresh = np.ones(3)
    assert detach_from(fresh, (x,)) is fresh
    assert detach_from(2.5, (x,)) == 2.5


def test_python_number_arguments_keep_their_traced_dtypes_at_run_time():
    """Compiled code computes with a Python number argument as the trace typed it: a weakly
    typed number stays a Python number through arithmetic of such numbers (NumPy would make
    it a float64 NumPy scalar, which promotes float32 arrays), and a strongly typed result of
    one (abs, log) is computed in the traced dtype."""
    for fn in (fnp.geomspace, fnp.logspace, fnp.linspace):
        got = ft.jit(lambda a, b: fn(a, b, 5))(1.0, 2.0)
        assert got.dtype == np.float32
        np.testing.assert_allclose(np.asarray(got), np.asarray(fn(1.0, 2.0, 5)), rtol=1e-6)
    half = fnp.ones(2, dtype=np.float16)
    assert ft.jit(lambda s, y: (s * 2 - 1) * y)(1.5, half).dtype == np.float16
    assert ft.jit(lambda s: fnp.abs(s) + fnp.zeros(2))(-1.5).dtype == np.float32
    assert ft.jit(lambda s: fnp.log(s) * fnp.ones(2))(2.0).dtype == np.float32
