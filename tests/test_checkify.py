"""ft.experimental.checkify: checks, the automatic error sets, and their composition with jit,
vmap, grad and control flow; messages compared with JAX's where it is installed."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.experimental import checkify
from functrans.test_util import check_grads


def _module(name):
    """(ft or jax, its numpy, its lax, its checkify)."""
    if name == "ft":
        return ft, fnp, lax, checkify
    jax = pytest.importorskip("jax")
    from jax.experimental import checkify as jcheckify
    return jax, jax.numpy, jax.lax, jcheckify


def _message(fn):
    try:
        return fn()
    except Exception as e:              # what a case raises is compared too
        return f"{type(e).__name__}: {e}"


# each case: (mod, np, lax, ck) -> the message of the error of one checkified call
def _user(m, np_, lx, ck):
    def f(x, i):
        ck.check(i >= 0, "index needs to be non-negative, got {i}", i=i)
        return np_.sin(x[i])
    return m.jit(ck.checkify(f))(np_.ones(5), np_.asarray(-2)), None


def _auto(args):
    def case(m, np_, lx, ck):
        def f(x, i):
            ck.check(i >= 0, "index needs to be non-negative!")
            return np_.sin(x[i])
        return ck.checkify(f, errors=ck.all_checks)(np_.asarray(args[0], np_.float32),
                                                    np_.asarray(args[1])), None
    return case


def _unary(fn_name, x, errors="float_checks"):
    def case(m, np_, lx, ck):
        fn = {"div00": lambda v: v / v, "inv": lambda v: 1. / v, "sub": lambda v: v - v,
              "mul": lambda v: 0. * v, "sum": lambda v: np_.sum(np_.stack([v, -v])),
              "dot": lambda v: np_.dot(np_.stack([v, v]), np_.asarray([0., 1.])),
              "pow": lambda v: v ** 0.5, "max": lambda v: np_.maximum(v, 1.),
              "rem": lambda v: np_.remainder(v, 0.)}.get(fn_name) or getattr(np_, fn_name)
        return ck.checkify(fn, errors=getattr(ck, errors))(np_.float32(x)), None
    return case


def _index(kind, idx):
    def case(m, np_, lx, ck):
        x = np_.ones((2, 5))
        i = np_.asarray(idx)
        fn = {"row": lambda x, i: x[i], "col": lambda x, i: x[:, i],
              "set": lambda x, i: x.at[0, i].set(1.),
              "ds": lambda x, i: lx.dynamic_slice(x, (0, i), (2, 2)),
              "dus": lambda x, i: lx.dynamic_update_slice(x, np_.ones((1, 2)), (1, i)),
              "take": lambda x, i: np_.take(x[0], i)}[kind]
        return ck.checkify(fn, errors=ck.index_checks)(x, i), None
    return case


def _int_div(b):
    def case(m, np_, lx, ck):
        return ck.checkify(lambda a, b: (a // b, lx.div(a, b)), errors=ck.div_checks)(
            np_.asarray([6, 3], np_.int32), np_.asarray(b, np_.int32)), None
    return case


def _two_checks(x):
    def case(m, np_, lx, ck):
        def g(v):
            ck.check(v > 10, "first {}", v)
            ck.check(v > 5, "second {}", v)
            return v
        return ck.checkify(g)(np_.asarray(x)), None
    return case


def _order(m, np_, lx, ck):
    def g(x):
        y = np_.log(x)
        ck.check(x > 0, "negative")       # a check's code is taken when it is traced: first
        return y
    return ck.checkify(g, errors=ck.all_checks)(np_.asarray(-1.)), None


def _not_enabled(m, np_, lx, ck):
    def g(x):
        ck.check(x > 0, "dropped")
        return np_.log(x)
    return ck.checkify(g, errors=ck.index_checks)(np_.asarray(-1.)), None


def _cond(x):
    def case(m, np_, lx, ck):
        def c(v):
            return lx.cond(v > 0, lambda a: np_.log(a - 2), lambda a: np_.sin(a), v)
        return ck.checkify(c, errors=ck.nan_checks)(np_.asarray(x)), None
    return case


def _while(x, limit=10):
    def case(m, np_, lx, ck):
        def w(v):
            def body(s):
                ck.check(s[1] < 5., "too big {}", s[1])
                return s[0] + 1, s[1] * 2

            def cond(s):
                ck.check(s[0] < limit, "cond check {}", s[0])
                return s[0] < 4
            return lx.while_loop(cond, body, (np_.asarray(0), v))
        return ck.checkify(w)(np_.asarray(x)), None
    return case


def _scan(xs):
    def case(m, np_, lx, ck):
        def s(v):
            def body(c, a):
                ck.check(a > 0, "bad elem {}", a)
                return c + np_.log(a), c
            return lx.scan(body, np_.asarray(0.), v)
        return ck.checkify(s, errors=ck.all_checks)(np_.asarray(xs)), None
    return case


def _grad_nan(m, np_, lx, ck):
    g = m.grad(lambda x: x / (1 + np_.sqrt(x)))
    return ck.checkify(g, errors=ck.nan_checks)(np_.asarray(0.)), None


def _grad_check(m, np_, lx, ck):
    def f(x):
        ck.check(x > 0, "pos {}", x)
        return x ** 2
    return ck.checkify(m.grad(f))(np_.asarray(-1.)), None


def _jit_inside(m, np_, lx, ck):
    return ck.checkify(m.jit(lambda x, i: x[i]), errors=ck.index_checks)(
        np_.ones(5), np_.asarray(100)), None


CASES = {
    "user under jit": _user,
    "oob": _auto(([1.] * 5, 100)), "user": _auto(([1.] * 5, -1)),
    "nan": _auto(([np.inf, 1.], 0)), "none": _auto(([1., 2.], 1)),
    **{f"nan {n}": _unary(n, x) for n, x in [
        ("log", -1.), ("sqrt", -1.), ("sin", np.nan), ("arccos", 2.), ("sub", np.inf),
        ("mul", np.inf), ("sum", np.inf), ("dot", np.inf), ("pow", -1.), ("max", 1.),
        ("exp", 1000.), ("rem", 1.), ("div00", 0.), ("inv", 0.), ("cos", 1.)]},
    "nan only": _unary("inv", 0., "nan_checks"),
    **{f"index {k} {i}": _index(k, i) for k, i in [
        ("row", 2), ("row", -1), ("row", -3), ("row", [0, 5]), ("col", [1, 7]),
        ("col", [-9, 1]), ("set", [1, 7]), ("set", 7), ("ds", 4), ("ds", 3), ("dus", 4),
        ("take", [4, 9])]},
    "int div": _int_div(0), "int div ok": _int_div(2),
    "first of two": _two_checks(1.), "second": _two_checks(7.), "none of two": _two_checks(11.),
    "trace order": _order, "not enabled": _not_enabled,
    "cond": _cond(1.), "cond ok": _cond(3.),
    "while": _while(1.), "while ok": _while(0.1), "while cond": _while(0.1, 3),
    "scan": _scan([1., 2., -1., -2.]), "scan ok": _scan([1., 2.]),
    "grad nan": _grad_nan, "grad check": _grad_check, "checkify of jit": _jit_inside,
}

EXPECTED = {
    "oob": "out-of-bounds indexing for array of shape (5,): index 100 is out of bounds for "
           "axis 0 with size 5. ",
    "user": "index needs to be non-negative! (`check` failed)",
    "nan": "nan generated by primitive: sin.", "none": None,
    "nan log": "nan generated by primitive: log.", "nan max": None,
    "nan div00": "division by zero", "nan only": None,
    "index row -3": "out-of-bounds indexing for array of shape (2, 5): index -1 is out of "
                    "bounds for axis 0 with size 2. ",
    "int div": "division by zero", "int div ok": None, "first of two": "first 1.0 (`check` "
    "failed)", "trace order": "negative (`check` failed)", "not enabled": None,
    "while": "too big 8.0 (`check` failed)", "while ok": None,
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_message(name):
    (err, _), _ = CASES[name](*_module("ft"))
    got = _message(err.get)
    if name in EXPECTED:
        assert got == EXPECTED[name]
    (jerr, _), _ = CASES[name](*_module("jax"))
    assert got == _message(jerr.get)


@pytest.mark.parametrize("name", ["oob", "user", "nan", "cond", "while", "scan", "grad nan",
                                  "index col [1, 7]", "int div"])
def test_jit_of_checkify_agrees(name, monkeypatch):
    # the same cases, with checkify jitted: wrap checkify so its result is jitted
    real = checkify.checkify
    monkeypatch.setattr(checkify, "checkify", lambda f, errors=checkify.user_checks:
                        ft.jit(real(f, errors=errors)))
    (err, _), _ = CASES[name](ft, fnp, lax, checkify)
    monkeypatch.undo()
    (eager, _), _ = CASES[name](ft, fnp, lax, checkify)
    assert err.get() == eager.get() is not None


def test_outputs_unchanged():
    def f(x, i):
        checkify.check(i >= 0, "neg")
        return fnp.sin(x[i]) * 2, {"a": x + 1}
    x = fnp.arange(5.)
    for g in (checkify.checkify(f, errors=checkify.all_checks),
              ft.jit(checkify.checkify(f, errors=checkify.all_checks)),
              checkify.checkify(ft.jit(f), errors=checkify.all_checks)):
        err, (y, d) = g(x, 3)
        assert err.get() is None and err.get_exception() is None
        err.throw()                                    # nothing failed: nothing raised
        np.testing.assert_allclose(np.asarray(y), np.sin(3.) * 2, rtol=1e-6)
        np.testing.assert_allclose(np.asarray(d["a"]), np.arange(5.) + 1)


def test_eager_check():
    checkify.check(fnp.asarray(True), "fine")
    with pytest.raises(checkify.JaxRuntimeError, match=r"^a 1.5 b \[0 1 2\] \(`check` failed"):
        checkify.check(False, "a {} b {}", fnp.asarray(1.5), fnp.arange(3))
    with pytest.raises(ValueError):                    # a ValueError, as JAX's
        checkify.check(fnp.asarray(False), "x")
    with pytest.raises(ft.errors.JaxRuntimeError):
        checkify.check(fnp.asarray(False), "x")
    with pytest.raises(TypeError, match="scalar pred"):
        checkify.check(fnp.asarray([True, False]), "v")
    with pytest.raises(TypeError, match="PyTrees of arrays"):
        checkify.check(False, "x {}", "s")
    with pytest.raises(TypeError, match="set of error categories"):
        checkify.checkify(lambda x: x, errors=3)


def test_unfunctionalized_check_under_jit():
    def f(x):
        checkify.check(x > 0, "must be positive")
        return x
    with pytest.raises(ValueError, match="not functionalized"):
        ft.jit(f)(1.)
    with pytest.raises(checkify.JaxRuntimeError, match="must be positive"):
        ft.grad(f)(-1.)                                # eager transforms check at once
    with pytest.raises(checkify.JaxRuntimeError, match=r"pos -3.0"):   # the last, as JAX
        ft.vmap(lambda x: checkify.check(x > 0, "pos {}", x))(fnp.asarray([1., -2., -3.]))


def test_debug_check():
    def f(x):
        checkify.debug_check(x > 0, "dbg {x}", x=x)
        return x * 2
    assert float(f(fnp.asarray(-1.))) == -2.
    assert float(ft.jit(f)(-1.)) == -2.
    err, out = checkify.checkify(f)(-1.)
    assert err.get() == "dbg -1.0 (`check` failed)" and float(out) == -2.
    assert checkify.checkify(f)(1.)[0].get() is None


def test_check_error():
    inner = checkify.checkify(lambda y: (checkify.check(y > 0, "inner {}", y), y)[1])
    with pytest.raises(checkify.JaxRuntimeError, match="inner -1.0"):
        checkify.check_error(inner(-1.)[0])
    checkify.check_error(inner(1.)[0])

    def outer(x):
        err, y = ft.jit(inner)(x)
        checkify.check_error(err)
        return y
    assert checkify.checkify(outer)(-1.)[0].get() == "inner -1.0 (`check` failed)"
    assert checkify.checkify(outer)(1.)[0].get() is None
    with pytest.raises(TypeError, match="takes an Error"):
        checkify.check_error(3)


def test_vmap_of_checkify():
    def f(x, i):
        checkify.check(i >= 0, "index needs to be non-negative!")
        return x[i]
    cf = checkify.checkify(f, errors=checkify.all_checks)
    errs, out = ft.vmap(cf)(fnp.ones((3, 5)), fnp.asarray([-1, 2, 100]))
    assert errs.get() == (
        "at mapped index 0: index needs to be non-negative! (`check` failed)\n"
        "at mapped index 2: out-of-bounds indexing for array of shape (5,): index 100 is out "
        "of bounds for axis 0 with size 5. ")
    exc = errs.get_exception()
    assert isinstance(exc, checkify.BatchedError) and sorted(exc.error_mapping) == [(0,), (2,)]
    assert repr(exc.error_mapping[(0,)]) == \
        "FailedCheckError('index needs to be non-negative! (`check` failed)')"
    with pytest.raises(checkify.JaxRuntimeError, match="^index needs to be non-negative"):
        errs.throw()
    assert out.shape == (3,)
    errs, _ = ft.vmap(ft.vmap(cf))(fnp.ones((2, 3, 5)), fnp.asarray([[1, 2, 3], [-1, 1, 9]]))
    assert errs.get().splitlines()[0] == \
        "at mapped index 1, 0: index needs to be non-negative! (`check` failed)"
    assert ft.vmap(cf)(fnp.ones((3, 5)), fnp.asarray([0, 1, 2]))[0].get() is None
    errs, _ = ft.jit(ft.vmap(cf))(fnp.ones((3, 5)), fnp.asarray([1, -1, 1]))
    assert errs.get() == "at mapped index 1: index needs to be non-negative! (`check` failed)"


def test_checkify_of_vmap():
    @ft.vmap
    def f(x, i):
        checkify.check(i >= 0, "index needs to be non-negative!")
        return x[i[None]]
    cf = checkify.checkify(f, errors=checkify.all_checks)
    err, out = cf(fnp.ones((3, 5)), fnp.asarray([1, 100, -1]))
    assert out.shape == (3, 1)
    assert err.get() == "index needs to be non-negative! (`check` failed)"
    err, _ = cf(fnp.ones((3, 5)), fnp.asarray([1, 100, 1]))
    assert err.get().startswith("out-of-bounds indexing for array of shape (3, 5)")


def test_vmap_batched_messages_match_jax():
    jax, jnp, _, jck = _module("jax")

    def make(m, np_, ck):
        def f(x, i):
            ck.check(i >= 0, "neg {}", i)
            return np_.log(x[i])
        return m.vmap(ck.checkify(f, errors=ck.all_checks))
    x, i = np.array([[1., -1., 2.]] * 4), np.array([0, 1, -1, 7])
    got = make(ft, fnp, checkify)(fnp.asarray(x), fnp.asarray(i))[0].get()
    want = make(jax, jnp, jck)(jnp.asarray(x), jnp.asarray(i))[0].get()
    assert got == want


def test_grad_through_checkify():
    def f(x):
        checkify.check(fnp.all(x > 0), "positive")
        return fnp.sum(fnp.log(x) * fnp.sin(x[1:2]))
    checked = checkify.checkify(f, errors=checkify.all_checks)
    x = fnp.asarray([1.5, 2.0, 0.7], dtype=fnp.float64)
    check_grads(lambda v: checked(v)[1], (x,), order=2)
    g = ft.grad(lambda v: checked(v)[1])(x)
    np.testing.assert_allclose(np.asarray(g), np.asarray(ft.grad(f)(x)))
    err, gx = checkify.checkify(ft.grad(f), errors=checkify.all_checks)(x)
    assert err.get() is None
    np.testing.assert_allclose(np.asarray(gx), np.asarray(g))
    assert checked(-x)[0].get() == "positive (`check` failed)"
    np.testing.assert_allclose(np.asarray(ft.jit(ft.grad(lambda v: checked(v)[1]))(x)),
                               np.asarray(g))


def test_jit_and_control_flow_nested():
    @ft.jit
    def step(c, a):
        checkify.check(a < 10, "big {}", a)
        return c + fnp.sqrt(a), c

    def f(xs):
        return lax.scan(step, fnp.asarray(0.), xs)
    cf = ft.jit(checkify.checkify(f, errors=checkify.all_checks))
    assert cf(fnp.asarray([1., 4.]))[0].get() is None
    assert cf(fnp.asarray([1., 11.]))[0].get() == "big 11.0 (`check` failed)"
    assert cf(fnp.asarray([1., -1.]))[0].get() == "nan generated by primitive: sqrt."

    def g(x):
        return lax.fori_loop(0, 3, lambda i, v: lax.cond(
            i == 2, lambda u: u / (v - v), lambda u: u + 1, v), x)
    err, _ = checkify.checkify(g, errors=checkify.div_checks)(1.)
    assert err.get() == "division by zero"


def test_custom_jvp_inside():
    @ft.custom_jvp
    def safe_log(x):
        return fnp.log(x)
    safe_log.defjvp(lambda p, t: (safe_log(p[0]), t[0] * 7.))   # recognizable rule
    cf = checkify.checkify(safe_log, errors=checkify.nan_checks)
    assert cf(-1.)[0].get() == "nan generated by primitive: log."
    assert cf(2.)[0].get() is None
    assert float(ft.grad(lambda x: cf(x)[1])(2.)) == 7.


def test_error_is_a_pytree():
    err, _ = checkify.checkify(lambda x: (checkify.check(x > 0, "p {}", x), x)[1])(-1.)
    leaves, tree = ft.tree_util.tree_flatten(err)
    again = ft.tree_util.tree_unflatten(tree, leaves)
    assert again.get() == err.get() == "p -1.0 (`check` failed)"
    assert str(err) == "Error(p -1.0 (`check` failed))"
    assert checkify.init_error.get() is None and str(checkify.init_error) == "Error(None)"
    assert checkify.all_checks == checkify.user_checks | checkify.automatic_checks
    assert checkify.float_checks == checkify.nan_checks | checkify.div_checks


def test_on_the_stand_in_gpu(fake_gpus):
    gpu = fake_gpus[0]
    x = ft.device_put(fnp.asarray([1., -1.]), gpu)
    f = checkify.checkify(lambda v: fnp.log(v) + v[fnp.asarray(3)], errors=checkify.all_checks)
    for g in (f, ft.jit(f)):
        err, out = g(x)
        assert err.get() == "nan generated by primitive: log."
        assert out.device == gpu
