"""ft.ad_checkpoint: JAX's module of that name (checkpoint, names, policies) and
print_saved_residuals, which lists what reverse mode saves for the backward pass. The
residuals of JAX's gradient-checkpointing examples are compared against JAX's own list."""
import re

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.ad_checkpoint import (checkpoint_name, checkpoint_policies, print_saved_residuals,
                                     saved_residuals)

jax = pytest.importorskip("jax")
import jax.ad_checkpoint  # noqa: E402


def _programs(m, mnp, name):
    """name -> (f, args) of the JAX docs' gradient-checkpointing examples over library `m`."""
    def g(W, x):
        return mnp.sin(mnp.dot(W, x))

    def f(W1, W2, W3, x):
        return g(W3, g(W2, g(W1, x)))

    def f2(W1, W2, W3, x):
        return m.checkpoint(g)(W3, m.checkpoint(g)(W2, m.checkpoint(g)(W1, x)))

    def f4(W1, W2, W3, x):
        x = name(g(W1, x), name="a")
        x = name(g(W2, x), name="b")
        return name(g(W3, x), name="c")

    def recursive_checkpoint(funs):
        if len(funs) == 1:
            return funs[0]
        if len(funs) == 2:
            return lambda x: funs[0](funs[1](x))
        f1 = recursive_checkpoint(funs[:len(funs) // 2])
        f2 = recursive_checkpoint(funs[len(funs) // 2:])
        return lambda x: f1(m.checkpoint(f2)(x))

    args = (mnp.ones((5, 4)), mnp.ones((6, 5)), mnp.ones((7, 6)), mnp.ones(4))
    pol = m.checkpoint_policies
    return {
        "plain": (f, args),
        "checkpointed layers": (f2, args),
        "dots saveable": (m.checkpoint(f, policy=pol.dots_with_no_batch_dims_saveable), args),
        "names": (m.checkpoint(f4, policy=pol.save_only_these_names("a")), args),
        "everything saveable": (m.checkpoint(f, policy=pol.everything_saveable), args),
        "chain of sins": (lambda x: mnp.sin(mnp.sin(mnp.sin(x))), (3.0,)),
        "recursive checkpoint": (recursive_checkpoint([mnp.sin] * 8), (3.0,)),
    }


def _what(description):
    """A residual's description without its source location."""
    return re.sub(r" from /.*$", "", description)


@pytest.mark.parametrize("name", list(_programs(ft, fnp, checkpoint_name)))
def test_residuals_match_jax(name):
    from jax._src.ad_checkpoint import saved_residuals as jax_saved_residuals
    f, args = _programs(ft, fnp, checkpoint_name)[name]
    jf, jargs = _programs(jax, jax.numpy, jax.ad_checkpoint.checkpoint_name)[name]
    got = sorted((a.str_short(), _what(w)) for a, w in saved_residuals(f, *args))
    want = sorted((a.str_short(short_dtypes=True), _what(w))
                  for a, w in jax_saved_residuals(jf, *jargs))
    assert got == want


def test_printed_lines_name_arguments_operations_and_user_lines(capsys):
    def g(W, x):
        y = fnp.dot(W, x)
        return fnp.sin(y)                                   # the line of sin and of its cos
    line = g.__code__.co_firstlineno + 2
    print_saved_residuals(lambda W, x: g(W, g(W, x)), fnp.ones((3, 3)), fnp.ones(3))
    here = f"{__file__}:{line} (g)"
    assert capsys.readouterr().out.splitlines() == [
        "f32[3,3] from the argument W", "f32[3] from the argument x",
        f"f32[3] output of sin from {here}", f"f32[3] output of cos from {here}",
        f"f32[3] output of cos from {here}"]


def test_pytree_arguments_keywords_constants_and_integers():
    c = fnp.arange(3.0)

    def f(params, n, *, scale):
        return fnp.sum(fnp.sin(params["w"] * c) * scale) * params["b"][0] + n
    got = [w for _, w in saved_residuals(f, {"w": fnp.ones(3), "b": [fnp.ones(())]}, 2,
                                         scale=fnp.ones(()))]
    assert "from the argument params['b'][0]" in got and "from the argument scale" in got
    assert "from a constant" in got and not any("argument n" in w for w in got)


def test_a_value_of_an_enclosing_transform_is_a_constant():
    seen = []

    def outer(y):
        seen.extend(w for _, w in saved_residuals(lambda x: fnp.sin(x * y), 1.0))
        return y
    ft.grad(outer)(2.0)
    assert seen[0] == "from a constant" and seen[1].startswith("output of cos")   # (y, cos)


def test_nothing_to_save():
    assert saved_residuals(lambda x: 2.0 * x + 1.0, 1.0) == []
    assert saved_residuals(lambda x: fnp.sin(x), np.int32(1)) == []


def test_module_names():
    import functrans.ad_checkpoint as adc
    assert ft.ad_checkpoint is adc
    assert adc.checkpoint is ft.checkpoint and adc.remat is ft.remat
    assert adc.checkpoint_name is ft.checkpoint_name
    assert adc.checkpoint_policies is ft.checkpoint_policies is checkpoint_policies
