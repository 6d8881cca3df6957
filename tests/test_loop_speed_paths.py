"""The fast paths of loops with small bodies: `scan` and `fori_loop` called outside jit run
their body traced once and compiled (`compiler.loops`), `while_loop` after its first
iterations in Python; short loops and bodies needing
concrete values or outer refs still run in Python; under jit, carries nothing reads are
dropped. Values against the Python loop, JAX and finite differences; grad, vmap, refs,
debug.print, disable_jit, NaN checks and the stand-in GPU on each path."""
import contextlib
import io

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.higher_order.control_flow.common import (EAGER_STAGING_MIN_LENGTH,
                                                        KEPT_STAGING_MIN_LENGTH)
from functrans.higher_order.control_flow.while_loop import PYTHON_ITERATIONS
from functrans.test_util import check_grads

LONG = 4 * EAGER_STAGING_MIN_LENGTH
SHORT = EAGER_STAGING_MIN_LENGTH - 1


def close(a, b, rtol=1e-6, atol=1e-7):
    la, lb = ft.tree_leaves(a), ft.tree_leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


class Counted:
    """`fn`, counting its calls (a traced body is called once per trace, a Python loop's
    once per iteration)."""
    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args):
        self.calls += 1
        return self.fn(*args)


def adam_body(np_):
    def body(carry, x):
        p, m, v, t = carry
        g = 2.0 * p - 1.0 + (0.0 if x is None else x)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        t = t + 1
        p = p - 0.01 * (m / (1 - 0.9 ** t)) / (np_.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
        return (p, m, v, t), p
    return body


def adam_init(np_):
    z = np_.zeros(2)
    return (np_.asarray([-3.0, 5.0]), z, z, np_.asarray(0.0))


def python_scan(f, init, xs, n, reverse=False):
    carry, ys = init, [None] * n
    for i in (range(n - 1, -1, -1) if reverse else range(n)):
        carry, ys[i] = f(carry, None if xs is None else xs[i])
    return carry, ft.tree.map(lambda *c: np.stack([np.asarray(v) for v in c]), *ys)


# ------------------------------------------------------------------ scan outside jit
@pytest.mark.parametrize("reverse", [False, True])
def test_long_eager_scan_traces_once_and_matches_python_and_jit(reverse):
    xs = fnp.asarray(np.linspace(-1, 1, LONG).astype(np.float32))
    body = Counted(lambda c, x: adam_body(fnp)(c, fnp.stack([x, -x])))
    got = lax.scan(body, adam_init(fnp), xs, reverse=reverse)
    assert body.calls <= 2          # traced (once more to settle a weak carry at most)
    want = python_scan(lambda c, x: adam_body(fnp)(c, fnp.stack([x, -x])), adam_init(fnp),
                       xs, LONG, reverse)
    close(got, want, rtol=1e-5)
    close(got, ft.jit(lambda i, x: lax.scan(body, i, x, reverse=reverse))(adam_init(fnp), xs))


def test_eager_scan_matches_jax():
    jax = pytest.importorskip("jax")
    got = lax.scan(adam_body(fnp), adam_init(fnp), None, length=LONG)
    want = jax.lax.scan(adam_body(jax.numpy), adam_init(jax.numpy), None, length=LONG)
    close(got, want, rtol=1e-5, atol=1e-6)
    assert [np.asarray(v).dtype for v in ft.tree_leaves(got)] == \
        [np.asarray(v).dtype for v in jax.tree.leaves(want)]


def test_short_eager_scan_runs_in_python():
    body = Counted(lambda c, x: (c + x, c * x))
    xs = fnp.arange(SHORT, dtype="float32")
    got = lax.scan(body, fnp.asarray(1.0), xs)
    assert body.calls == SHORT
    close(got, python_scan(lambda c, x: (c + x, c * x), fnp.asarray(1.0), xs, SHORT))


def test_body_needing_concrete_values_falls_back_to_python():
    def body(c, x):
        step = 1.0 if float(c) < 5 else -1.0        # Python control flow on a value
        return c + step * x, c
    xs = fnp.ones(LONG)
    got = lax.scan(body, fnp.asarray(0.0), xs)
    close(got, python_scan(body, fnp.asarray(0.0), xs, LONG))
    with pytest.raises(ft.errors.ConcretizationError):
        ft.jit(lambda x: lax.scan(body, fnp.asarray(0.0), x))(xs)


def test_body_with_numpy_on_values_falls_back_to_python():
    def body(c, x):
        return c + float(np.asarray(x)), c
    got = lax.scan(body, fnp.asarray(0.0), fnp.arange(LONG, dtype="float32"))
    assert float(got[0]) == sum(range(LONG))


def test_weak_python_scalar_carry_settles_as_under_jit():
    jax = pytest.importorskip("jax")

    def body(c, x):
        return c + x, c
    xs = np.arange(LONG, dtype=np.float32)
    got = lax.scan(body, 0, fnp.asarray(xs))
    want = jax.lax.scan(body, 0, jax.numpy.asarray(xs))
    close(got, want)
    assert np.asarray(got[0]).dtype == np.asarray(want[0]).dtype == np.float32


def test_pytree_carries_and_outputs():
    def body(c, x):
        a, (b, k) = c
        return (a + x["u"], (b * 0.5 + x["v"].sum(), k + 1)), {"s": a * b, "k": k}
    xs = {"u": fnp.ones((LONG, 3)), "v": fnp.arange(LONG * 2.0).reshape(LONG, 2)}
    init = (fnp.zeros(3), (fnp.asarray(1.0), fnp.asarray(0, dtype="int32")))
    got = lax.scan(body, init, xs)
    want = python_scan(body, init, [{"u": xs["u"][i], "v": xs["v"][i]} for i in range(LONG)],
                       LONG)
    close(got, want)


def test_disable_jit_runs_python():
    body = Counted(lambda c, x: (c + x, c))
    with ft.disable_jit():
        got = lax.scan(body, fnp.asarray(0.0), fnp.ones(LONG))
    assert body.calls == LONG and float(got[0]) == LONG


def test_debug_nans_names_the_operation_inside_the_body():
    def body(c, x):
        return fnp.log(c - x), c
    ft.config.update("debug_nans", True)
    try:
        with pytest.raises(FloatingPointError, match="log"):
            lax.scan(body, fnp.asarray(3.0), fnp.arange(LONG, dtype="float32"))
    finally:
        ft.config.update("debug_nans", False)


def test_closed_over_ref_falls_back_and_writes():
    total = ft.new_ref(fnp.zeros(()))

    def body(c, x):
        total[...] += x
        return c + 1.0, total[...]
    got = lax.scan(body, fnp.asarray(0.0), fnp.ones(LONG))
    assert float(total[...]) == LONG and float(got[0]) == LONG
    close(got[1], np.arange(1, LONG + 1))


def test_debug_print_in_a_cond_prints_when_it_fires():
    def body(i, _):
        lax.cond(i % 10 == 0, lambda: (ft.debug.print("at {}", i), 0)[1], lambda: 0)
        return i + 1, i
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        lax.scan(body, fnp.asarray(0, dtype="int32"), None, length=LONG)
    assert out.getvalue().split("\n")[:-1] == [f"at {i}" for i in range(0, LONG, 10)]


# ------------------------------------------------------------------ transforms of eager loops
def loss(w, xs):
    def body(c, x):
        c = fnp.tanh(c * w + x)
        return c, c ** 2
    c, ys = lax.scan(body, fnp.zeros(2), xs)
    return fnp.sum(c) + fnp.sum(ys)


def test_grad_through_eager_scan_against_jax_and_finite_differences(jax_x64):
    jax = jax_x64
    ft.config.update("default_float_dtype", "float64")
    try:
        w = fnp.asarray([0.3, -0.7])
        xs = fnp.asarray(np.random.default_rng(1).standard_normal((LONG, 2)))
        check_grads(lambda w: loss(w, xs), (w,), order=2, modes=("fwd", "rev"))

        def jloss(w, xs):
            def body(c, x):
                c = jax.numpy.tanh(c * w + x)
                return c, c ** 2
            c, ys = jax.lax.scan(body, jax.numpy.zeros(2), xs)
            return jax.numpy.sum(c) + jax.numpy.sum(ys)
        close(ft.grad(loss)(w, xs), jax.grad(jloss)(np.asarray(w), np.asarray(xs)),
              rtol=1e-10, atol=1e-12)
    finally:
        ft.config.update("default_float_dtype", "float32")


def test_vmap_of_eager_scan_against_a_python_loop():
    ws = fnp.asarray(np.linspace(-1, 1, 6).reshape(3, 2).astype(np.float32))
    xs = fnp.asarray(np.random.default_rng(2).standard_normal((LONG, 2)).astype(np.float32))
    got = ft.vmap(loss, in_axes=(0, None))(ws, xs)
    close(got, np.array([float(loss(w, xs)) for w in ws]), rtol=1e-5)


# ------------------------------------------------------------------ fori_loop
def test_long_eager_fori_loop_traces_once_and_matches_jax():
    jax = pytest.importorskip("jax")
    w = np.random.default_rng(3).standard_normal((8, 8)).astype(np.float32) / 3
    x = np.eye(8, dtype=np.float32)
    body = Counted(lambda i, v: fnp.tanh(fnp.asarray(w) @ v) + i)
    got = lax.fori_loop(0, LONG, body, fnp.asarray(x))
    assert body.calls <= 2
    want = jax.lax.fori_loop(0, LONG, lambda i, v: jax.numpy.tanh(w @ v) + i, x)
    close(got, want, rtol=1e-5, atol=1e-6)


def test_short_eager_fori_loop_runs_in_python():
    body = Counted(lambda i, v: v + i)
    assert float(lax.fori_loop(0, SHORT, body, fnp.asarray(0.0))) == sum(range(SHORT))
    assert body.calls == SHORT


def test_unused_fori_index_is_not_carried_under_jit():
    f = ft.jit(lambda v: lax.fori_loop(0, LONG, lambda i, v: v * 0.5, v))
    text = f.lower(fnp.ones(3)).as_text()
    optimized = text.split("# optimized jaxpr")[1].split("# generated code")[0]
    assert "num_carry=1" in optimized
    close(f(fnp.ones(3)), np.full(3, 0.5 ** LONG))


def test_dropped_carries_keep_what_kept_outputs_read():
    def body(c, _):
        a, b, k = c
        return (a + 1.0, b * 2.0 + a, k + 1), a * k
    f = ft.jit(lambda x: lax.scan(body, (x, x, 0), None, length=5)[1])
    close(f(1.0), np.arange(1.0, 6.0) * np.arange(5))
    optimized = f.lower(1.0).as_text().split("# optimized jaxpr")[1].split("# generated")[0]
    assert "num_carry=2" in optimized           # a and k; b is read by nothing kept


# ------------------------------------------------------------------ devices
def test_eager_scan_on_the_stand_in_gpu(fake_gpus):
    gpu = fake_gpus[0]
    init = ft.device_put(fnp.asarray([1.0, 2.0]), gpu)
    xs = ft.device_put(fnp.ones((LONG, 2)), gpu)
    carry, ys = lax.scan(lambda c, x: (c * 0.5 + x, c), init, xs)
    assert carry.devices() == {gpu} and ys.devices() == {gpu}
    want = python_scan(lambda c, x: (c * 0.5 + x, c), fnp.asarray([1.0, 2.0]),
                       fnp.ones((LONG, 2)), LONG)
    close((carry, ys), want)


# ------------------------------------------------------------------ 0-d arithmetic as operators
def test_scalar_arithmetic_is_written_as_operators_with_the_ufuncs_results():
    def f(a, b, k):
        return a * b + 1.5 - a / b, k * k + 7 - k, a < b, k >= 3, (a * 0.1) / (b - b)
    a, b, k = np.float32(1.7), np.float32(-0.3), np.int32(2 ** 31 - 1)
    jf = ft.jit(f)
    with ft.default_device(ft.devices("cpu")[0]):     # (NumPy's scalars: the host's code)
        src = jf.lower(a, b, k).as_text().split("# generated code")[1]
        got = jf(a, b, k)
    assert " * " in src and " < " in src and "multiply(" not in src
    with np.errstate(all="ignore"):
        want = (np.subtract(np.add(np.multiply(a, b), np.float32(1.5)), np.divide(a, b)),
                np.subtract(np.add(np.multiply(k, k), 7), k), np.less(a, b),
                np.greater_equal(k, 3), np.divide(np.multiply(a, np.float32(0.1)), b - b))
    for g, w in zip(got, want):
        assert np.asarray(g).dtype == w.dtype
        np.testing.assert_array_equal(np.asarray(g), w)
    for g, w in zip(jf(a, b, k), want):      # on the default device
        np.testing.assert_array_equal(np.asarray(g), w)


# ------------------------------------------------------------------ while_loop outside jit
WHILE_LONG = 3 * PYTHON_ITERATIONS


def test_long_eager_while_compiles_the_rest_and_matches_python_and_jax():
    jax = pytest.importorskip("jax")
    body = Counted(lambda c: (c[0] + 1, 0.5 * c[1] + 0.1 * fnp.sin(c[1]) + 0.01))
    init = (0, fnp.linspace(-1, 1, 4, dtype="float32"))
    got = lax.while_loop(lambda c: c[0] < WHILE_LONG, body, init)
    assert body.calls <= PYTHON_ITERATIONS + 2      # the rest traced (once more to settle)
    with ft.disable_jit():
        want = lax.while_loop(lambda c: c[0] < WHILE_LONG, body.fn, init)
    close(got, want, rtol=0, atol=0)
    jwant = jax.lax.while_loop(lambda c: c[0] < WHILE_LONG,
                               lambda c: (c[0] + 1, 0.5 * c[1] + 0.1 * jax.numpy.sin(c[1]) + 0.01),
                               (0, jax.numpy.linspace(-1, 1, 4, dtype="float32")))
    close(got, jwant, rtol=1e-6)
    assert np.asarray(got[1]).dtype == np.asarray(jwant[1]).dtype == np.float32


def test_short_eager_while_runs_in_python():
    body = Counted(lambda c: c + 1.0)
    n = PYTHON_ITERATIONS - 1
    assert float(lax.while_loop(lambda c: c < n, body, fnp.asarray(0.0))) == n
    assert body.calls == n


def test_while_body_needing_concrete_values_stays_in_python():
    body = Counted(lambda c: c + (1.0 if float(c) >= 0 else 2.0))
    assert float(lax.while_loop(lambda c: c < WHILE_LONG, body, fnp.asarray(0.0))) == WHILE_LONG
    assert body.calls == WHILE_LONG + 1         # (one failed trace)


def test_long_while_writing_a_closed_over_ref():
    total = ft.new_ref(fnp.zeros(()))

    def body(c):
        total[...] += c
        return c + 1.0
    got = lax.while_loop(lambda c: c < WHILE_LONG, body, fnp.asarray(0.0))
    assert float(got) == WHILE_LONG and float(total[...]) == sum(range(WHILE_LONG))


def test_eager_grad_of_a_long_while_any_order():
    def f(w):
        c = lax.while_loop(lambda c: c[0] < WHILE_LONG,
                           lambda c: (c[0] + 1, fnp.sin(c[1] * w) * 0.9 + w), (0, w * 0.5))
        return c[1]
    ft.config.update("default_float_dtype", "float64")
    try:
        w = fnp.asarray(0.7)
        check_grads(f, (w,), order=2, modes=("fwd", "rev"))
        close(ft.jit(ft.jacfwd(f))(w), ft.grad(f)(w), rtol=1e-12)
    finally:
        ft.config.update("default_float_dtype", "float32")


def test_long_eager_while_prints_and_checks():
    def body(i):
        ft.debug.print("at {}", i)
        return i + 1
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        lax.while_loop(lambda i: i < WHILE_LONG, body, fnp.asarray(0, dtype="int32"))
    assert out.getvalue().split("\n")[:-1] == [f"at {i}" for i in range(WHILE_LONG)]
    ft.config.update("debug_nans", True)
    try:
        with pytest.raises(FloatingPointError, match="log"):
            lax.while_loop(lambda c: c[0] < WHILE_LONG,
                           lambda c: (c[0] + 1, fnp.log(c[1] - 1.0)), (0, fnp.asarray(60.0)))
    finally:
        ft.config.update("debug_nans", False)


def test_long_eager_while_on_the_stand_in_gpu(fake_gpus):
    gpu = fake_gpus[0]
    v = ft.device_put(fnp.asarray([1.0, 2.0]), gpu)
    i, got = lax.while_loop(lambda c: c[0] < WHILE_LONG, lambda c: (c[0] + 1, c[1] * 0.5 + 1.0),
                            (0, v))
    assert got.devices() == {gpu}
    with ft.disable_jit():
        want = lax.while_loop(lambda c: c[0] < WHILE_LONG,
                              lambda c: (c[0] + 1, c[1] * 0.5 + 1.0), (0, fnp.asarray([1.0, 2.0])))
    close((i, got), want)


# ------------------------------------------------------------------ traces kept across calls
CALLS = 4


def test_repeated_eager_scan_traces_once():
    body = Counted(lambda c, x: (fnp.tanh(c * x + 1.0), c.sum()))
    c0 = fnp.ones(3)
    xs = fnp.asarray(np.linspace(0, 1, 3 * LONG, dtype=np.float32).reshape(LONG, 3))
    want = python_scan(lambda c, x: (fnp.tanh(c * x + 1.0), c.sum()), c0, xs, LONG)
    for _ in range(CALLS):
        close(lax.scan(body, c0, xs), want, rtol=1e-5)
    assert body.calls == 1
    xs1 = fnp.ones((LONG + 1, 3))
    close(lax.scan(body, c0, xs1), python_scan(body.fn, c0, xs1, LONG + 1), rtol=1e-5)
    assert body.calls == 1              # the body's trace does not depend on the length
    lax.scan(body, c0.astype("float64"), xs.astype("float64"))
    assert body.calls == 2


def test_repeated_eager_fori_and_weak_carry_trace_once():
    body = Counted(lambda i, v: fnp.sin(v) + i)
    for _ in range(CALLS):
        got = lax.fori_loop(0, LONG, body, fnp.ones(2))
    assert body.calls == 1
    want = np.ones(2, np.float32)
    for i in range(LONG):
        want = np.sin(want) + np.float32(i)
    close(got, want, rtol=1e-5)
    short = Counted(lambda i, v: v * 2 + i)     # a Python scalar carry is settled by a trace
    for _ in range(CALLS):
        got = lax.fori_loop(0, SHORT, short, 1.0)
    assert short.calls - CALLS * SHORT <= 2      # traced at most twice to settle, once
    assert float(got) == python_scan(lambda c, i: (c * 2 + i, None), 1.0, range(SHORT),
                                     SHORT)[0]


def test_repeated_eager_while_and_cond_trace_once():
    cond_fun = Counted(lambda c: c[0] < LONG * 4)
    body_fun = Counted(lambda c: (c[0] + 1, fnp.cos(c[1])))
    for _ in range(CALLS):
        n, v = lax.while_loop(cond_fun, body_fun, (fnp.asarray(0), fnp.zeros(2)))
    assert int(n) == LONG * 4
    # the first call runs PYTHON_ITERATIONS in Python, the next ones (traces kept) fewer
    again = (CALLS - 1) * EAGER_STAGING_MIN_LENGTH
    assert body_fun.calls == PYTHON_ITERATIONS + 1 + again
    assert cond_fun.calls == PYTHON_ITERATIONS + 1 + again
    true_fun, false_fun = Counted(lambda x: x + 1.0), Counted(lambda x: x * 2.0)
    for _ in range(CALLS):              # the branch not taken is traced to check it agrees
        assert float(lax.cond(True, true_fun, false_fun, fnp.asarray(3.0))) == 4.0
    assert (true_fun.calls, false_fun.calls) == (CALLS, 1)


def test_short_scan_with_a_kept_trace_runs_compiled():
    body = Counted(lambda c, x: (c * 0.5 + x, c + x))
    lax.scan(body, fnp.asarray(0.0), fnp.ones(LONG))
    assert body.calls == 1
    for n in (1, KEPT_STAGING_MIN_LENGTH, SHORT):
        before = body.calls
        xs = fnp.arange(n, dtype="float32")
        got = lax.scan(body, fnp.asarray(0.0), xs)
        assert body.calls - before == (n if n < KEPT_STAGING_MIN_LENGTH else 0)
        close(got, python_scan(body.fn, fnp.asarray(0.0), xs, n))


def test_a_short_loop_called_again_runs_compiled_unless_its_trace_fails():
    body = Counted(lambda c, x: (c * 0.5 + x, c + x))
    xs = fnp.arange(SHORT, dtype="float32")
    want = python_scan(body.fn, fnp.asarray(0.0), xs, SHORT)
    calls = []
    for _ in range(3):
        close(lax.scan(body, fnp.asarray(0.0), xs), want)
        calls.append(body.calls)
    assert calls == [SHORT, SHORT + 1, SHORT + 1]       # Python, traced, kept

    def needs_values(c, x):
        return c + (x if float(c) < 3 else -x), c
    body = Counted(needs_values)
    want = python_scan(needs_values, fnp.asarray(0.0), xs, SHORT)
    calls = []
    for _ in range(3):
        close(lax.scan(body, fnp.asarray(0.0), xs), want)
        calls.append(body.calls)
    assert calls == [SHORT, 2 * SHORT + 1, 3 * SHORT + 1]   # the failed trace is not retried

    cond_fun = Counted(lambda c: c[0] < PYTHON_ITERATIONS - 1)
    body_fun = Counted(lambda c: (c[0] + 1, c[1] * 0.5))
    for _ in range(3):
        got = lax.while_loop(cond_fun, body_fun, (fnp.asarray(0), fnp.ones(2)))
        assert int(got[0]) == PYTHON_ITERATIONS - 1
        close(got[1], np.full(2, 0.5 ** (PYTHON_ITERATIONS - 1)))
    assert body_fun.calls == PYTHON_ITERATIONS - 1 + 2 * EAGER_STAGING_MIN_LENGTH + 1


@pytest.mark.parametrize("n", [0, EAGER_STAGING_MIN_LENGTH - 1, EAGER_STAGING_MIN_LENGTH,
                               PYTHON_ITERATIONS - 1, PYTHON_ITERATIONS + 5])
def test_while_with_kept_traces_compiles_early_and_agrees(n):
    def cond_fun(c):
        return c[0] < c[2]

    def body_fun(c):
        return c[0] + 1, c[1] * 0.5 + 1.0, c[2]
    lax.while_loop(cond_fun, body_fun, (0, fnp.zeros(2), 2 * PYTHON_ITERATIONS))
    got = lax.while_loop(cond_fun, body_fun, (0, fnp.zeros(2), n))
    want = np.zeros(2, np.float32)
    for _ in range(n):
        want = want * np.float32(0.5) + np.float32(1.0)
    assert int(got[0]) == n
    close(got[1], want)


def test_under_jit_a_body_is_traced_once_for_several_jitted_functions():
    body = Counted(lambda c, x: (c + x, c))
    first = ft.jit(lambda xs: lax.scan(body, fnp.zeros(()), xs)[0])
    second = ft.jit(lambda xs: lax.scan(body, fnp.zeros(()), xs)[1].sum())
    assert float(first(fnp.ones(3))) == 3.0 and float(second(fnp.ones(3))) == 3.0
    assert body.calls == 1


def test_a_new_closure_is_traced_again_with_its_own_values():
    def make(k):
        return lambda c, x: (c + k * x, c)
    for k in (1.0, 2.0, 3.0):
        got = lax.scan(make(k), fnp.asarray(0.0), fnp.ones(LONG))
        assert float(got[0]) == k * LONG


def test_a_body_closing_over_a_traced_value_is_not_kept():
    """Under an eager grad the body reads the differentiated value (a tracer of that call):
    each call must trace with its own."""
    box = {}

    def body(c, x):
        return c * box["w"] + x, c

    def loss(w):
        box["w"] = w
        return lax.scan(body, 0.0, fnp.ones(LONG) * 0.1)[0]

    def python_loss(w):
        c = 0.0
        for _ in range(LONG):
            c = c * w + 0.1
        return c
    for w in (0.5, 0.9):
        close(ft.grad(loss)(w), (python_loss(w + 1e-3) - python_loss(w - 1e-3)) / 2e-3,
              rtol=1e-2)
        close(ft.vmap(loss)(fnp.asarray([w, w / 2])),
              np.asarray([python_loss(w), python_loss(w / 2)]), rtol=1e-5)


def test_traces_do_not_keep_the_function_alive():
    import gc
    import weakref
    from functrans.higher_order.control_flow import common

    def run():
        scale = fnp.ones(3) * 2.0

        def body(c, x):
            return c + scale * x, c
        lax.scan(body, fnp.zeros(3), fnp.ones((LONG, 3)))
        lax.cond(True, body, body, fnp.zeros(3), fnp.ones(3))
        assert body in common._TRACES
        return weakref.ref(body)
    ref = run()
    gc.collect()
    assert ref() is None


def test_disable_jit_and_back_and_nan_checks_use_their_own_paths():
    body = Counted(lambda c, x: (c + x, c))
    lax.scan(body, fnp.asarray(0.0), fnp.ones(LONG))
    with ft.disable_jit():
        got = lax.scan(body, fnp.asarray(0.0), fnp.ones(LONG))
    assert body.calls == 1 + LONG and float(got[0]) == LONG
    ft.config.update("debug_nans", True)
    try:
        got = lax.scan(body, fnp.asarray(0.0), fnp.ones(LONG))
    finally:
        ft.config.update("debug_nans", False)
    assert body.calls == 1 + 2 * LONG and float(got[0]) == LONG
    lax.scan(body, fnp.asarray(0.0), fnp.ones(LONG))
    assert body.calls == 1 + 2 * LONG


def test_default_float_switch_traces_again():
    """The arguments' types are the same (int32); what the body makes is not."""
    body = Counted(lambda c, x: (c + 1, fnp.zeros(2) + c))
    old = ft.config.default_float_dtype
    dtypes = []
    try:
        for name in ("float32", "float64", "float32"):
            ft.config.update("default_float_dtype", name)
            carry, ys = lax.scan(body, fnp.asarray(0, dtype="int32"), None, length=LONG)
            dtypes.append((carry.dtype.name, ys.dtype.name))
            assert int(carry) == LONG and float(ys[-1, 0]) == LONG - 1
    finally:
        ft.config.update("default_float_dtype", old)
    assert dtypes == [("int32", "float32"), ("int32", "float64"), ("int32", "float32")]
    assert body.calls == 2


def test_repeated_loops_with_refs_and_debug_print_run_their_effects_each_call():
    total = ft.new_ref(fnp.zeros(()))

    def body(c, x):
        total[...] += x
        return c + 1.0, c
    for _ in range(CALLS):
        lax.scan(body, fnp.asarray(0.0), fnp.ones(LONG))
    assert float(total[...]) == CALLS * LONG
    printing = Counted(lambda c, x: (ft.debug.print("{}", x) or c + x, c))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for _ in range(CALLS):
            lax.scan(printing, fnp.asarray(0.0), fnp.arange(LONG, dtype="float32"))
        ft.effects_barrier()
    assert printing.calls == 1
    assert out.getvalue().split() == [str(float(i)) for i in range(LONG)] * CALLS


def test_loop_primitives_declare_their_compiled_body():
    from functrans.compiler import loops
    from functrans.higher_order.control_flow import common
    from functrans.higher_order.control_flow.cond import cond_p
    from functrans.higher_order.control_flow.scan import scan_p
    from functrans.higher_order.control_flow.while_loop import while_p
    assert (scan_p.compiled_body, while_p.compiled_body, cond_p.compiled_body) == \
        ("jaxpr", "body_jaxpr", None)
    assert common._LOOP_RUNNER[0] is loops.run_compiled
