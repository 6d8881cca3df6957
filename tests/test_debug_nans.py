"""`debug_nans` / `debug_infs`: the operation that produces a NaN (an infinity) raises
FloatingPointError naming itself, its operands' shapes and the user's source line; eagerly
every primitive is checked, under jit the results are checked and the jaxpr is run again one
operation at a time. Off by default, and then nothing is checked."""
import inspect
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp


@pytest.fixture
def nans():
    ft.config.update("debug_nans", True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)     # NumPy's own "invalid value"
        try:
            yield
        finally:
            ft.config.update("debug_nans", False)


@pytest.fixture
def infs():
    ft.config.update("debug_infs", True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            yield
        finally:
            ft.config.update("debug_infs", False)


def _x():
    return fnp.asarray(np.array([1.0, -1.0, 2.0], np.float32))


def _line_of(fn, text):
    """`file:line` of the line of `fn`'s source containing `text`."""
    lines, start = inspect.getsourcelines(fn)
    k = next(i for i, line in enumerate(lines) if text in line)
    return f"{inspect.getsourcefile(fn)}:{start + k}"


def _f(x):
    y = x * 2
    z = fnp.log(y)          # the NaN comes from here
    return z + 1


def _raises_at(fn, *args, prim, where, what="NaN"):
    with pytest.raises(FloatingPointError) as info:
        fn(*args)
    msg = str(info.value)
    assert msg.startswith(f"{prim} produced {what} from operands ("), msg
    assert where in msg, msg
    return msg


def test_off_by_default():
    assert ft.config.debug_nans is False and ft.config.debug_infs is False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert np.isnan(np.asarray(_f(_x()))).any()
        assert np.isnan(np.asarray(ft.jit(_f)(_x()))).any()


def test_eager_names_the_primitive_the_shapes_and_the_line(nans):
    msg = _raises_at(_f, _x(), prim="log", where=_line_of(_f, "fnp.log"))
    assert "(f32[3])" in msg and "debug_nans" in msg


def test_eager_operators_skip_the_numpy_fast_path(nans):
    x = _x()
    line = inspect.currentframe().f_lineno + 1
    _raises_at(lambda: (x / 0.0) * 0.0, prim="mul", where=f"{__file__}:{line}")


def test_an_operand_that_already_held_a_nan_is_reported(nans):
    bad = fnp.asarray(np.array([np.nan, 1.0]))
    msg = _raises_at(lambda: bad + 1.0, prim="add", where=__file__)
    assert "operand(s) 0 already held NaN" in msg


def test_jit_reruns_op_by_op_and_names_the_line_inside(nans):
    jf = ft.jit(_f)
    _raises_at(jf, _x(), prim="log", where=_line_of(_f, "fnp.log"))


def test_jit_warmed_up_before_the_checks_is_checked_too():
    jf = ft.jit(lambda x: fnp.log(x))
    x = _x()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(3):                  # the fast path knows this signature now
            jf(x)
    ft.config.update("debug_nans", True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            _raises_at(jf, x, prim="log", where=__file__)
    finally:
        ft.config.update("debug_nans", False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert np.isnan(np.asarray(jf(x))).any()        # off again: no check


def test_under_grad_vmap_and_their_compositions_with_jit(nans):
    where = _line_of(_f, "fnp.log")
    _raises_at(ft.grad(lambda x: _f(x).sum()), _x(), prim="log", where=where)
    _raises_at(ft.vmap(_f), _x(), prim="log", where=where)
    _raises_at(ft.grad(lambda x: ft.jit(_f)(x).sum()), _x(), prim="log", where=where)
    _raises_at(ft.jit(ft.vmap(_f)), _x(), prim="log", where=where)


def test_a_nan_only_in_the_backward_pass(nans):
    def f(x):
        return fnp.sqrt(x).sum()         # d/dx sqrt at 0 is inf, times 0 upstream: fine...
    g = ft.grad(lambda x: fnp.sum(fnp.sqrt(x) * 0.0))
    with pytest.raises(FloatingPointError, match="produced NaN"):
        g(fnp.zeros(3))                  # ... 0 * inf in the backward pass is NaN
    f(fnp.zeros(3))                      # the forward pass alone is fine


def test_eager_loops_name_the_line_in_the_body(nans):
    def body(i, c):
        return fnp.log(c - 3.0)          # NaN at the first step
    _raises_at(ft.lax.fori_loop, 0, 3, body, fnp.ones(2), prim="log",
               where=_line_of(body, "fnp.log"))
    _raises_at(ft.jit(lambda c: ft.lax.fori_loop(0, 3, body, c)), fnp.ones(2), prim="log",
               where=_line_of(body, "fnp.log"))


def test_infs(infs):
    big = fnp.asarray([1000.0, 1.0], dtype=fnp.float32)
    _raises_at(fnp.exp, big, prim="exp", where=__file__, what="inf")
    _raises_at(ft.jit(lambda x: fnp.exp(x) - 1), big, prim="exp", where=__file__, what="inf")
    assert np.isnan(np.asarray(fnp.log(-big))).any()       # NaNs are not looked for


def test_nans_alone_let_infinities_pass(nans):
    assert np.isinf(np.asarray(fnp.exp(fnp.asarray([1000.0], dtype=fnp.float32)))).all()


def test_a_nan_passed_through_jit_names_the_argument(nans):
    jf = ft.jit(lambda x, y: (y, x))
    with pytest.raises(FloatingPointError) as info:
        jf(fnp.ones(2), fnp.asarray([np.nan, 1.0]))
    msg = str(info.value)
    assert "returned NaN in its result[0]" in msg and "argument(s) 1" in msg, msg


def test_no_donation_while_checking(nans):
    jf = ft.jit(lambda x: x + 1, donate_argnums=0)
    x = fnp.ones(1000)
    jf(x)
    np.testing.assert_array_equal(np.asarray(x), np.ones(1000))    # still usable


def test_integers_and_clean_results_pass(nans):
    assert int(ft.jit(lambda a: a // 2)(fnp.arange(4)).sum()) == 2
    np.testing.assert_allclose(np.asarray(ft.jit(_f)(fnp.ones(2))), np.log(2.0) + 1, rtol=1e-6)


def test_from_the_environment():
    code = ("import functrans as ft, functrans.numpy as fnp\n"
            "try:\n"
            "    fnp.log(fnp.asarray([-1.0]))\n"
            "except FloatingPointError as e:\n"
            "    print('raised', e)\n")
    env = dict(os.environ, FUNCTRANS_DEBUG_NANS="1",
               PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(ft.__file__))))
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env,
                         capture_output=True, text=True, timeout=120)
    assert "raised log produced NaN" in out.stdout, out.stdout + out.stderr
