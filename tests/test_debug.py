"""ft.debug.print: prints concrete values eagerly, inside jit at run time on every call, and
under grad / jvp / vmap (per example), in order with the program's other effects."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp


def _lines(capsys):
    return capsys.readouterr().out.splitlines()


def f(x):
    y = fnp.sin(x)
    ft.debug.print("y={y} max={m:.3f}", y=y, m=y.max())
    return (y * 2).sum()


X = fnp.asarray(np.array([0.5, 1.0]))
Y_LINE = f"y={np.sin([0.5, 1.0])} max={np.sin(1.0):.3f}"


def test_eager_prints_at_once(capsys):
    f(X)
    assert _lines(capsys) == [Y_LINE]


def test_jit_prints_at_run_time_every_call_not_at_trace_time(capsys):
    jf = ft.jit(f)
    jf(X)
    jf(X)
    assert _lines(capsys) == [Y_LINE, Y_LINE]
    assert jf.cache_info().misses == 1
    # the values are the new ones, not those seen while tracing
    jf(X * 0)
    assert _lines(capsys) == ["y=[0. 0.] max=0.000"]


@pytest.mark.parametrize("transform", [
    lambda g: ft.grad(g),
    lambda g: ft.jit(ft.grad(g)),
    lambda g: ft.grad(ft.jit(g)),
    lambda g: lambda x: ft.jvp(g, (x,), (fnp.ones_like(x),)),
    lambda g: ft.jit(lambda x: ft.jvp(g, (x,), (fnp.ones_like(x),))),
])
def test_derivatives_print_the_primal_once_and_are_unaffected(transform, capsys):
    out = transform(f)(X)
    assert _lines(capsys) == [Y_LINE]
    plain = transform(lambda x: (fnp.sin(x) * 2).sum())(X)
    for a, b in zip(ft.tree_leaves(out), ft.tree_leaves(plain)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("transform", [ft.vmap, lambda g: ft.jit(ft.vmap(g)),
                                       lambda g: ft.vmap(ft.jit(g))])
def test_vmap_prints_each_example(transform, capsys):
    xs = fnp.asarray(np.array([[0.5, 1.0], [0.0, 0.0]]))
    transform(f)(xs)
    assert _lines(capsys) == [Y_LINE, "y=[0. 0.] max=0.000"]


def test_positional_pytrees_and_numbers(capsys):
    @ft.jit
    def g(params, x):
        ft.debug.print("{} {} {}", params, x, 3)
        return x

    a = fnp.asarray(np.array([1.0]))
    g({"a": a}, fnp.asarray(2.0))
    assert _lines(capsys) == ["{'a': " + repr(a) + "} 2.0 3"]


def test_non_array_argument_is_refused_with_advice():
    with pytest.raises(TypeError, match="format string"):
        ft.debug.print("{}", object())
