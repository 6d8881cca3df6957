"""What used to be accepted silently raises a clear error: a custom_vjp backward of another
structure or shape, eager `cond` / `switch` branches that disagree (jit rejects them), and an
optimizer update with a leaf of the wrong shape."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp


# ------------------------------------------------------------------ custom_vjp cotangents
def _with_bwd(bwd):
    @ft.custom_vjp
    def f(d, s):
        return d["a"] * s

    f.defvjp(lambda d, s: (f(d, s), s), bwd)
    return f


def _grad(f, x):
    return ft.grad(lambda d: f(d, 2.0).sum())(x)


@pytest.mark.parametrize("transform", ["eager", "jit"])
def test_custom_vjp_cotangent_of_another_structure(transform):
    f = _with_bwd(lambda s, g: ({"b": g * s}, None))
    x = {"a": fnp.ones(3)}
    run = _grad if transform == "eager" else ft.jit(_grad, static_argnums=0)
    with pytest.raises(TypeError) as info:
        run(f, x)
    msg = str(info.value)
    assert "structure PyTreeDef({'b': *}) for argument 0" in msg, msg
    assert "structure is PyTreeDef({'a': *})" in msg, msg


def test_custom_vjp_leaf_for_a_subtree_is_refused():
    f = _with_bwd(lambda s, g: (g * s, None))
    with pytest.raises(TypeError, match=r"structure PyTreeDef\(\*\) for argument 0"):
        _grad(f, {"a": fnp.ones(3)})


def test_custom_vjp_wrong_shape_names_the_argument_and_path():
    f = _with_bwd(lambda s, g: ({"a": (g * s)[:2]}, None))
    with pytest.raises(ValueError) as info:
        _grad(f, {"a": fnp.ones(3)})
    msg = str(info.value)
    assert "shape (2,) for argument 0['a'], of shape (3,)" in msg, msg


def test_custom_vjp_wrong_shape_of_a_later_argument():
    @ft.custom_vjp
    def f(x, y):
        return x * y

    f.defvjp(lambda x, y: (f(x, y), (x, y)), lambda r, g: (g * r[1], (g * r[0])[:1]))
    with pytest.raises(ValueError, match=r"for argument 1, of shape \(2,\)"):
        ft.grad(lambda x, y: f(x, y).sum(), argnums=(0, 1))(fnp.ones(2), fnp.ones(2))


def test_custom_vjp_none_stands_for_zeros_of_any_subtree():
    @ft.custom_vjp
    def f(d):
        return d["a"] * d["b"][0]

    f.defvjp(lambda d: (f(d), d), lambda d, g: ({"a": g * d["b"][0], "b": None},))
    d = {"a": fnp.ones(2), "b": (fnp.full(2, 3.0), fnp.ones(2))}
    got = ft.grad(lambda d: f(d).sum())(d)
    np.testing.assert_array_equal(np.asarray(got["a"]), [3.0, 3.0])
    np.testing.assert_array_equal(np.asarray(got["b"][0]), [0.0, 0.0])
    np.testing.assert_array_equal(np.asarray(got["b"][1]), [0.0, 0.0])


# ------------------------------------------------------------------ eager cond / switch
@pytest.mark.parametrize("pred", [True, False])
def test_eager_cond_refuses_branches_of_other_shapes_like_jit(pred):
    x = fnp.ones(3)
    with pytest.raises(TypeError) as eager:
        ft.lax.cond(pred, lambda x: x, lambda x: x[:2], x)
    with pytest.raises(TypeError) as staged:
        ft.jit(lambda p, x: ft.lax.cond(p, lambda x: x, lambda x: x[:2], x))(pred, x)
    for msg in (str(eager.value), str(staged.value)):
        assert "true_fun returns f32[3]" in msg and "false_fun returns f32[2]" in msg, msg


def test_eager_cond_refuses_other_dtypes_and_structures():
    x = fnp.ones(3)
    with pytest.raises(TypeError, match="i32\\[3\\]"):
        ft.lax.cond(True, lambda x: x, lambda x: x.astype(np.int32), x)
    with pytest.raises(TypeError, match="structure"):
        ft.lax.cond(False, lambda x: (x, x), lambda x: x, x)


def test_eager_switch_checks_every_branch():
    x = fnp.ones(3)
    with pytest.raises(TypeError, match=r"branches\[2\] returns f32\[\]"):
        ft.lax.switch(0, [lambda x: x, lambda x: x + 1, lambda x: x.sum()], x)


def test_eager_cond_runs_only_the_chosen_branch(capsys):
    ran = []

    def left(x):
        ran.append("left")
        return x * 2

    def right(x):
        ft.debug.print("right ran {}", x)     # staged while checking: never printed
        return x + 1

    out = ft.lax.cond(True, left, right, fnp.ones(2))
    np.testing.assert_array_equal(np.asarray(out), [2.0, 2.0])
    assert ran == ["left"] and "right ran" not in capsys.readouterr().out
    g = ft.grad(lambda x: ft.lax.cond(x.sum() > 0, left, right, x).sum())(fnp.ones(2))
    np.testing.assert_array_equal(np.asarray(g), [2.0, 2.0])


def test_eager_cond_with_python_scalars_agrees_with_arrays():
    assert float(ft.lax.cond(True, lambda: 1.0, lambda: fnp.zeros((), np.float32))) == 1.0


# ------------------------------------------------------------------ optimizer updates
@pytest.mark.parametrize("make", [lambda: ft.optim.sgd(0.1), lambda: ft.optim.sgd(0.1, 0.9),
                                  lambda: ft.optim.adam(), lambda: ft.optim.rmsprop(),
                                  lambda: ft.optim.adagrad(), lambda: ft.optim.nadam()])
@pytest.mark.parametrize("bad", [(3, 2), (3,)])
def test_optimizer_update_names_the_leaf_of_the_wrong_shape(make, bad):
    opt = make()
    params = {"a": fnp.ones(3), "b": [fnp.ones((2, 3))]}
    state = opt.init(params)
    grads = {"a": fnp.ones(3), "b": [fnp.ones(bad)]}
    for update in (opt.update, ft.jit(opt.update)):
        with pytest.raises(ValueError) as info:
            update(grads, state, params)
        msg = str(info.value)
        assert f"at ['b'][0] the gradient has shape {bad} but the parameter has shape (2, 3)" \
            in msg, msg


def test_optimizer_state_of_the_wrong_shape_is_named():
    opt = ft.optim.adam()
    params = {"w": fnp.ones((2, 2))}
    state = opt.init({"w": fnp.ones(4)})
    with pytest.raises(ValueError, match=r"\['w'\].*optimizer state has shape \(4,\)"):
        opt.update(params, state)
