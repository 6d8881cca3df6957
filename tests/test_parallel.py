"""Compiled programs that split large kernels over threads (functrans.compiler.parallel): the
thread policy, and split matrix products and elementwise chains agreeing with eager code and
with NumPy, with derivatives, on one thread and on several."""
import importlib.util
import threading

import numpy as np
import pytest
import threadpoolctl

import functrans as ft
import functrans.numpy as fnp
from functrans.compiler import codegen, gemm, kernels, parallel
from functrans.test_util import check_grads


@pytest.fixture
def threads(monkeypatch):
    """Split even small kernels (chains into blocks of a few rows; no product joins its
    scaling and addition in one BLAS call, which is never split), and run programs on `n`
    threads (`threads(n)`; the BLAS's limit, which caps them, raised to `n` meanwhile)."""
    monkeypatch.setattr(gemm, "MAX_MACS", 0)
    monkeypatch.setattr(kernels, "SPLIT_PRODUCT_MACS", 1)
    monkeypatch.setattr(kernels, "SPLIT_ROWS_PRODUCT_MACS", 1)
    monkeypatch.setattr(kernels, "SPLIT_REDUCTION_ELEMENTS", 1)
    monkeypatch.setattr(kernels, "SPLIT_ROWS_ELEMENTS", 1)
    monkeypatch.setattr(kernels, "SPLIT_COMPILED_ROWS_ELEMENTS", 1)
    monkeypatch.setattr(codegen, "SPLIT_MIN_ELEMENTS", 1)
    monkeypatch.setattr(codegen, "SPLIT_MIN_WORK", 1)
    monkeypatch.setattr(codegen, "CHAIN_BLOCK_BYTES", 500)
    before = ft.config.cpu_threads
    limits = []

    def use(n):
        ft.config.update("cpu_threads", n)
        if n > 1:
            limits.append(threadpoolctl.threadpool_limits(n, user_api="blas"))
    yield use
    for limit in reversed(limits):
        limit.restore_original_limits()
    ft.config.update("cpu_threads", before)


def _net(w1, w2, x):
    h = fnp.tanh(x @ w1 + 0.5) * 2.0 - x[:, :1]
    return fnp.sum(fnp.exp(-(h @ w2) ** 2) + h.mean())


def _host(*arrays):
    """The arrays on the host, where programs split kernels (whatever the default device)."""
    return [ft.device_put(a, "cpu") for a in arrays]


def _data(dtype, rng=None):
    rng = rng or np.random.default_rng(0)
    return _host(*[(rng.standard_normal(s) * 0.3).astype(dtype)
                   for s in ((40, 32), (32, 8), (48, 40))])


@pytest.mark.parametrize("n", [1, 2, 3])
def test_split_program_equals_eager_and_numpy(threads, n):
    threads(n)
    w1, w2, x = _data(np.float64)
    f = ft.jit(ft.value_and_grad(_net, argnums=(0, 1)))
    text = f.lower(w1, w2, x).as_text()
    assert "par_product" in text and "par_chunks" in text, text
    value, grads = f(w1, w2, x)
    eager_value, eager_grads = ft.value_and_grad(_net, argnums=(0, 1))(w1, w2, x)
    np.testing.assert_allclose(value, eager_value, rtol=1e-13)
    for g, e in zip(grads, eager_grads):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-14)
    w1, w2, x = map(np.asarray, (w1, w2, x))
    h = np.tanh(x @ w1 + 0.5) * 2.0 - x[:, :1]
    np.testing.assert_allclose(value, np.sum(np.exp(-(h @ w2) ** 2) + h.mean()), rtol=1e-13)


def test_split_elementwise_chain_is_exact(threads):
    """A chain split by rows computes every element as the unsplit chain does."""
    threads(2)
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((64, 8)).astype(np.float32), np.eye(8, 33, dtype=np.float32)
    hx, hw = _host(x, w)

    def f(x, w):
        h = x @ w                   # a C-contiguous array, so that the chain gets buffers
        return (fnp.sin(h * 3.0 + 1.0) * fnp.exp(h) - fnp.tanh(h)).sum(1)
    jitted = ft.jit(f)
    assert "def rows" in jitted.lower(hx, hw).as_text()
    np.testing.assert_array_equal(jitted(hx, hw), f(hx, hw))
    h = x @ w
    np.testing.assert_allclose(jitted(hx, hw),
                               (np.sin(h * 3.0 + 1.0) * np.exp(h) - np.tanh(h)).sum(1), rtol=1e-5)


@pytest.mark.parametrize("n", [1, 2])
@pytest.mark.parametrize("op, axes", [("sum", (1,)), ("max", (2,)), ("min", (1, 2)),
                                      ("prod", (2,)), ("sum", (0, 2))])
def test_split_reductions_are_exact(threads, n, op, axes):
    threads(n)
    x = np.random.default_rng(3).standard_normal((6, 5, 7)).astype(np.float32)

    def f(x):
        return getattr(fnp, op)(x * 1.5, axis=axes) + 1.0
    jitted = ft.jit(f)
    text = jitted.lower(*_host(x)).as_text()
    split = any(".reduce(" in line and "[lo:hi]" in line for line in text.splitlines())
    assert split == (0 not in axes), text
    np.testing.assert_array_equal(jitted(*_host(x)), f(*_host(x)))
    np.testing.assert_allclose(jitted(*_host(x)), getattr(np, op)(x * 1.5, axis=axes) + 1.0,
                               rtol=1e-6)


def test_split_batched_matmul(threads):
    threads(2)
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((5, 7, 4)), rng.standard_normal((5, 4, 3))
    f = ft.jit(lambda a, b: fnp.matmul(a, b) * 2.0)
    assert "par_product" in f.lower(*_host(a, b)).as_text()
    np.testing.assert_allclose(f(*_host(a, b)), np.matmul(a, b) * 2.0, rtol=1e-14)


@pytest.mark.parametrize("n", [1, 2])
def test_split_program_derivatives(threads, n):
    threads(n)
    w1, w2, x = _data(np.float64)
    check_grads(ft.jit(_net), (w1, w2, x), order=2, modes=("fwd", "rev"))


def _conv_pool_net(w, x):
    """Convolution (stride 1, padding 1), max-pooling 2x2, average pooling 3x3 stride 1."""
    h = ft.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)))
    h = ft.nn.functional.max_pool2d(fnp.tanh(h), 2)
    h = ft.nn.functional.avg_pool2d(h, 3, stride=1)
    return fnp.sum(h ** 2)


@pytest.mark.parametrize("n", [1, 2])
def test_split_batched_windowed_kernels(threads, n):
    """The batch axis of convolutions (per-image products: 16 rows of 18 columns) and pooling
    (and their derivatives) split over threads: equal to eager code, and derivatives check
    out."""
    threads(n)
    rng = np.random.default_rng(6)
    w, x = _host(rng.standard_normal((3, 3, 3, 3)) * 0.3, rng.standard_normal((5, 3, 16, 16)))
    f = ft.jit(ft.value_and_grad(_conv_pool_net, argnums=(0, 1)))
    text = f.lower(w, x).as_text()
    for name in ("shifted_sum", "reduce_window_max_argmax", "window_scatter_add",
                 "shifted_spread", "reduce_window_sum"):
        assert any(name in line and "[lo:hi]" in line for line in text.splitlines()), name
    value, grads = f(w, x)
    eager_value, eager_grads = ft.value_and_grad(_conv_pool_net, argnums=(0, 1))(w, x)
    np.testing.assert_allclose(value, eager_value, rtol=1e-13)
    for g, e in zip(grads, eager_grads):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-13)
    check_grads(ft.jit(_conv_pool_net), (w, x), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_split_special_functions_are_exact(threads, n):
    """Special functions (their own kernels, not ufuncs) split by rows over the threads give
    the eager result bit for bit, in float32 (functrans's kernels) and float64 (SciPy's)."""
    threads(n)
    funcs = {"erf": ft.scipy.special.erf, "erfc": ft.scipy.special.erfc,
             "erfinv": lambda x: ft.scipy.special.erfinv(fnp.tanh(x)),
             "gammaln": lambda x: ft.scipy.special.gammaln(x * x + 0.1),
             "digamma": lambda x: ft.scipy.special.digamma(x * x + 0.1),
             "sigmoid": ft.nn.sigmoid}
    rng = np.random.default_rng(7)
    for dtype in (np.float32, np.float64):
        # (pieces above the host kernels' MIN_SIZE, as the real thresholds keep them)
        x, = _host((rng.standard_normal((120, 300)) * 2).astype(dtype))
        for name, f in funcs.items():
            jf = ft.jit(f)
            if n > 1:
                text = jf.lower(x).as_text()
                assert any("[lo:hi]" in line and "par_chunks" not in line and "piece" in line
                           for line in text.splitlines()), name
            np.testing.assert_array_equal(np.asarray(jf(x)), np.asarray(f(x)), err_msg=name)


def test_split_program_in_concurrent_threads(threads):
    """Programs called from several threads at once: one owns the workers, the others run
    on their own thread; every result is right."""
    threads(2)
    f = ft.jit(_net)
    cases = [_data(np.float64, np.random.default_rng(i)) for i in range(6)]
    expected = [float(_net(*c)) for c in cases]
    got = [None] * len(cases)

    def call(i):
        for _ in range(5):
            got[i] = float(f(*cases[i]))
    ts = [threading.Thread(target=call, args=(i,)) for i in range(len(cases))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    np.testing.assert_allclose(got, expected, rtol=1e-13)


def test_an_error_in_a_piece_reaches_the_caller(threads):
    threads(2)
    parallel.pool.size = 2
    try:
        def piece(i):
            if i == 1:
                raise ValueError("piece 1 failed")
        with pytest.raises(ValueError, match="piece 1 failed"):
            parallel.pool.run(piece, [(0,), (1,), (2,)])
        done = []
        parallel.pool.run(done.append, [(0,), (1,)])      # still usable
        assert sorted(done) == [0, 1]
    finally:
        parallel.pool.size = 1


# ------------------------------------------------------------------ the policy
def test_cpu_threads_setting_is_checked():
    for bad in (0, -1, 1.5, True, "many"):
        with pytest.raises(ValueError, match="cpu_threads"):
            ft.config.update("cpu_threads", bad)


def test_policy_respects_the_thread_variables(monkeypatch):
    before = ft.config.cpu_threads
    monkeypatch.setattr(parallel, "_available_cores", lambda: 8)
    try:
        ft.config.update("cpu_threads", "auto")
        for var in parallel._ENV_LIMITS:
            monkeypatch.delenv(var, raising=False)
        parallel._policy.clear()
        assert parallel.policy_threads() == 8
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
        monkeypatch.setenv("OMP_NUM_THREADS", "5")
        parallel._policy.clear()
        assert parallel.policy_threads() == 3
        ft.config.update("cpu_threads", 6)       # an explicit count wins
        assert parallel.policy_threads() == 6
        ft.config.update("cpu_threads", 1)
        assert parallel.program_threads() == 1
    finally:
        ft.config.update("cpu_threads", before)


def test_blas_is_held_at_one_thread_and_restored(threads):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    libs = parallel._blas.controllers()
    if not libs:
        pytest.skip("threadpoolctl finds no BLAS")
    threads(2)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        saved = parallel.enter()
        try:
            assert saved is not None and all(lib.get_num_threads() == 1 for lib in libs)
            assert parallel.pool.size == 2 and parallel.pool.blas_split
        finally:
            parallel.leave(saved)
        assert libs[0].get_num_threads() == 2 and parallel.pool.size == 1
        threads(1)                 # one thread in all: the BLAS's too, while a program runs
        saved = parallel.enter()
        try:
            assert parallel.pool.size == 1 and libs[0].get_num_threads() == 1
        finally:
            parallel.leave(saved)
        assert libs[0].get_num_threads() == 2
        with threadpoolctl.threadpool_limits(1, user_api="blas"):   # the user's limit
            ft.config.update("cpu_threads", "auto")
            parallel._policy.clear()
            assert parallel.program_threads() == 1


def test_large_matrix_products_stay_on_one_blas_thread(threads):
    """While a program holds the BLAS at one thread, a large product is split over
    functrans's threads (by rows, or by its first batch axis), each piece on one BLAS thread:
    the BLAS's own threads stall whole time slices when another process takes a core."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    libs = parallel._blas.controllers()
    if not libs:
        pytest.skip("threadpoolctl finds no BLAS")
    threads(2)

    def recording(fn, seen):
        def run(a, b, out):
            seen.append((libs[0].get_num_threads(), out.shape[0]))
            return fn(a, b, out=out)
        return run
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((512, 256)), rng.standard_normal((256, 128))
    stack_a, stack_b = rng.standard_normal((4, 64, 32)), rng.standard_normal((4, 32, 16))
    large, stacked = np.empty((512, 128)), np.empty((4, 64, 16))
    seen_large, seen_stacked = [], []
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        saved = parallel.enter()
        try:
            parallel.product(recording(np.dot, seen_large), a, b, large)
            parallel.product(recording(np.matmul, seen_stacked), stack_a, stack_b, stacked)
            assert libs[0].get_num_threads() == 1
        finally:
            parallel.leave(saved)
        assert libs[0].get_num_threads() == 2
    assert seen_large == [(1, 256), (1, 256)] and seen_stacked == [(1, 2), (1, 2)]
    np.testing.assert_allclose(large, a @ b)
    np.testing.assert_allclose(stacked, stack_a @ stack_b)


def test_split_chain_keeps_the_slots_it_reads_alive(threads):
    """A chain runs block of rows by block: a slot that dies in it (here the row sums `s`,
    read by every block) must not share memory with a slot written later in the chain."""
    threads(1)
    rng = np.random.default_rng(7)
    x, w = _host(rng.standard_normal((2048, 4)), rng.standard_normal((4, 8)))

    def f(x, w):
        h = x @ w
        s = fnp.sum(h, axis=1, keepdims=True) + 10.0
        return fnp.sum((h / s) * 3.0 + h * 2.0, axis=1), fnp.sum(h)
    got = ft.jit(f)(x, w)
    x, w = np.asarray(x), np.asarray(w)
    h = x @ w
    s = h.sum(1, keepdims=True) + 10.0
    np.testing.assert_allclose(got[0], ((h / s) * 3.0 + h * 2.0).sum(1), rtol=1e-12)


@pytest.mark.parametrize("n", [1, 2])
def test_backward_products_run_as_a_pair(threads, n):
    """A linear layer's backward pass: the input's and the weight's gradients are two
    independent products of equal size; the weight's starts on a worker (`par_start`) while
    the input's runs, and is waited for where it is read (`par_finish`); equal to one
    thread's."""
    threads(n)
    rng = np.random.default_rng(3)
    x, w = _host(rng.standard_normal((64, 32)), rng.standard_normal((32, 48)))
    f = ft.jit(ft.grad(lambda x, w: fnp.sum(fnp.tanh(x @ w) ** 2), argnums=(0, 1)))
    text = f.lower(x, w).as_text()
    assert text.count("par_start") == text.count("par_finish") == 1
    assert text.index("par_start") < text.index("par_finish")
    gx, gw = f(x, w)
    threads(1)
    ref = ft.jit(ft.grad(lambda x, w: fnp.sum(fnp.tanh(x @ w) ** 2) + 0.0, argnums=(0, 1)))
    rx, rw = ref(x, w)
    np.testing.assert_array_equal(gx, rx)
    np.testing.assert_array_equal(gw, rw)
    t = np.tanh(np.asarray(x) @ np.asarray(w))
    g = 2 * t * (1 - t ** 2)
    np.testing.assert_allclose(gx, g @ np.asarray(w).T, rtol=1e-12)
    np.testing.assert_allclose(gw, np.asarray(x).T @ g, rtol=1e-12)


def _together_up_to_pairs(monkeypatch, keeps):
    """memory.plan told only that a pair's products run at once (`keeps[0]` False), or all
    of what the code generator says (True)."""
    plan = codegen.memory.plan

    def planning(*args, together=(), **kwargs):
        return plan(*args, together=together if keeps[0] else {k: k + 1 for k in together},
                    **kwargs)
    monkeypatch.setattr(codegen.memory, "plan", planning)


def test_a_pair_never_writes_into_the_other_products_operands(threads, monkeypatch):
    """The two products of a pair run at the same time: the one started on a worker may not
    take the memory of an operand of the other that dies there (it would, run one after the
    other)."""
    threads(2)
    rng = np.random.default_rng(4)
    x, y, w = _host(*[rng.standard_normal((32, 32)) for _ in range(3)])

    def f(x, y, w):
        a, b = x * 2.0, y * 3.0
        return (a @ w) - (b @ w)
    emitted, keeps = [], [True]
    start, whole = parallel.start_product, parallel.whole_product

    def recording(record):
        def call(*args):
            if threading.current_thread() is threading.main_thread():
                emitted.append(args)
            return record(*args)
        return call
    monkeypatch.setattr(parallel, "start_product", recording(start))
    monkeypatch.setattr(parallel, "whole_product", recording(whole))
    plan = codegen.memory.plan

    def planning(*args, together=(), **kwargs):
        return plan(*args, together=together if keeps[0] else {}, **kwargs)
    monkeypatch.setattr(codegen.memory, "plan", planning)

    def started_writes_into_other_operand():
        emitted.clear()
        ft.clear_caches()
        out = ft.jit(f)(x, y, w)
        if keeps[0]:            # (the other plan may race)
            x_, y_, w_ = (np.asarray(v) for v in (x, y, w))
            np.testing.assert_allclose(out, x_ * 2 @ w_ - y_ * 3 @ w_, rtol=1e-12)
        (_, _, _, started), (_, a, b, _) = emitted[:2]     # (then maybe the started one)
        return any(np.shares_memory(started, v) for v in (a, b))
    assert not started_writes_into_other_operand()
    keeps[0] = False
    assert started_writes_into_other_operand()       # the hazard the plan avoids


def test_a_started_product_reads_its_operands_unchanged_until_waited_for(threads,
                                                                         monkeypatch):
    """A weight's gradient started on a worker runs while the caller goes on: no later
    instruction may write into its operands (the backward pass squares a tanh's output in
    place) or its result before it is waited for. Here the worker is as slow as can be: the
    product runs only when waited for."""
    threads(2)
    rng = np.random.default_rng(5)
    x, w1, w2 = _host(rng.standard_normal((128, 128)), rng.standard_normal((128, 128)) / 12,
                      rng.standard_normal((128, 128)) / 12)

    def loss(w1, w2, x):
        return fnp.sum(fnp.tanh(fnp.tanh(x @ w1) @ w2) ** 2)
    monkeypatch.setattr(parallel.pool, "start",
                        lambda fn, args, here=False: parallel._Run(fn, [args]))
    keeps = [True]
    _together_up_to_pairs(monkeypatch, keeps)
    x_, a, b = (np.asarray(v) for v in (x, w1, w2))
    h = np.tanh(x_ @ a)
    t = np.tanh(h @ b)
    g2 = 2 * t * (1 - t ** 2)
    g1 = (g2 @ b.T) * (1 - h ** 2)
    expected = (x_.T @ g1, h.T @ g2)

    def gradients():
        ft.clear_caches()
        f = ft.jit(ft.grad(loss, argnums=(0, 1)))
        assert f.lower(w1, w2, x).as_text().count("par_start") == 1
        return f(w1, w2, x)
    for got, want in zip(gradients(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-10)
    keeps[0] = False            # the operands kept only through the pair: overwritten
    assert not all(np.allclose(got, want, rtol=1e-10)
                   for got, want in zip(gradients(), expected))


def test_a_kernels_gradient_sum_runs_after_its_product_on_the_worker(threads, monkeypatch):
    """A convolution's kernel gradient: its product, then its sum over images and arranging
    views, start on the worker (`def later...`) and are waited for where the gradient is
    read; equal to one thread's, also when the worker runs them only when waited for."""
    rng = np.random.default_rng(6)
    x, w = _host(rng.standard_normal((4, 3, 16, 16)), rng.standard_normal((5, 3, 3, 3)) / 5)

    def loss(x, w):
        y = ft.lax.conv_general_dilated(x, w, (1, 1), "SAME")
        return fnp.sum(fnp.tanh(y) ** 2)
    threads(1)
    expected = ft.jit(ft.grad(lambda x, w: loss(x, w) + 0.0, argnums=(0, 1)))(x, w)
    threads(2)
    f = ft.jit(ft.grad(loss, argnums=(0, 1)))
    assert "def later" in f.lower(x, w).as_text()
    for got, want in zip(f(x, w), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    monkeypatch.setattr(parallel.pool, "start",
                        lambda fn, args, here=False: parallel._Run(fn, [args]))
    ft.clear_caches()
    for got, want in zip(ft.jit(ft.grad(loss, argnums=(0, 1)))(x, w), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("numba_setting", ["auto", False])
def test_compiled_row_kernels_split_from_fewer_elements(numba_setting):
    """Max pooling's derivative on LeNet's first layer (301k elements) splits over the
    threads only where its kernel is one compiled loop (numba installed), and equals eager."""
    numba_on = bool(numba_setting) and importlib.util.find_spec("numba") is not None
    before = ft.config.cpu_threads, ft.config.jit_numba
    ft.config.update("cpu_threads", 2)
    ft.config.update("jit_numba", numba_setting)
    try:
        with threadpoolctl.threadpool_limits(2, user_api="blas"):
            x, = _host(np.random.default_rng(3).standard_normal((64, 6, 28, 28))
                       .astype(np.float32))

            def f(x):
                return fnp.sum(ft.nn.functional.max_pool2d(x, 2) ** 2)
            g = ft.jit(ft.grad(f))
            text = g.lower(x).as_text()
            split = any("window_scatter_add" in line and "[lo:hi]" in line
                        for line in text.splitlines())
            assert split == bool(numba_on), text
            np.testing.assert_array_equal(np.asarray(g(x)), np.asarray(ft.grad(f)(x)))
    finally:
        ft.config.update("cpu_threads", before[0])
        ft.config.update("jit_numba", before[1])
