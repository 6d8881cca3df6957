"""Error messages say what went wrong, where (argument / pytree path / shapes / the user's
source line) and what to do instead."""
from __future__ import annotations

import collections

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp

HERE = __file__.rsplit("/", 1)[-1]


def test_grad_of_a_non_scalar_output():
    with pytest.raises(TypeError) as e:
        ft.grad(lambda x: x * 2)(fnp.ones(3))
    msg = str(e.value)
    assert "shape (3,)" in msg and "scalar" in msg and ".sum()" in msg and "jacrev" in msg
    assert HERE in msg                                     # where the function was defined


def test_grad_with_respect_to_integers():
    def loss(w, n):
        return (w * n).sum()
    with pytest.raises(TypeError) as e:
        ft.grad(loss, argnums=(0, 1))(fnp.ones(2), fnp.asarray(np.array([1, 2])))
    msg = str(e.value)
    assert "argument 1 ('n')" in msg and "int64" in msg and "astype" in msg
    assert "allow_int" in msg


def test_mismatched_shapes_in_a_binary_op_eager():
    with pytest.raises(ValueError) as e:
        fnp.ones((2, 3)) + fnp.ones((4,))
    msg = str(e.value)
    assert "(2, 3)" in msg and "(4,)" in msg and "broadcast" in msg
    assert HERE in msg and "expand_dims" in msg


def test_mismatched_shapes_in_a_binary_op_under_jit():
    def f(a, b):
        return fnp.multiply(a, b)
    with pytest.raises(ValueError) as e:
        ft.jit(f)(fnp.ones((2, 3)), fnp.ones((4,)))
    msg = str(e.value)
    assert "mul" in msg and "(2, 3)" in msg and "(4,)" in msg
    assert HERE in msg and "in f" in msg


def test_a_non_array_leaf_names_its_pytree_path():
    params = {"layer": ({"w": fnp.ones(2)}, "relu")}
    with pytest.raises(TypeError) as e:
        ft.grad(lambda p: p["layer"][0]["w"].sum())(params)
    msg = str(e.value)
    assert "['layer'][1]" in msg and "str" in msg and "static" in msg
    with pytest.raises(TypeError) as e:
        ft.jit(lambda p: p["layer"][0]["w"].sum())(params)
    assert "['layer'][1]" in str(e.value)


def test_an_escaped_tracer_is_named_with_its_origin():
    saved = []

    def f(x):
        saved.append(x * 2)
        return (x ** 2).sum()
    ft.grad(f)(fnp.ones(3))
    with pytest.raises(ft.UnexpectedTracerError) as e:
        fnp.sin(saved[0])
    msg = str(e.value)
    assert "grad" in msg and "already finished" in msg and "has_aux" in msg and HERE in msg


def test_item_assignment_points_to_at():
    x = fnp.zeros(3)
    with pytest.raises(TypeError, match=r"x\.at\[idx\]\.set"):
        x[0] = 1.0

    def f(x):
        x[0] = 1.0
        return x
    with pytest.raises(TypeError, match=r"\.at\[idx\]\.set"):
        ft.jit(f)(x)


def test_python_control_flow_on_a_traced_value_names_the_fixes():
    def f(x):
        if x.sum() > 0:
            return x
        return -x
    with pytest.raises(ft.ConcretizationError) as e:
        ft.jit(f)(fnp.ones(3))
    msg = str(e.value)
    for fix in ("lax.cond", "fnp.where", "static_argnums", "while_loop"):
        assert fix in msg
    assert HERE in msg and "bool[]" in msg and "jit(f)" in msg


def test_index_into_an_empty_axis():
    x = fnp.zeros((2, 0))
    with pytest.raises(IndexError) as e:
        x[0, 5]
    msg = str(e.value)
    assert "index 5" in msg and "axis 1" in msg and "size 0" in msg and HERE in msg


def test_boolean_mask_under_jit_points_to_where():
    with pytest.raises(IndexError) as e:
        ft.jit(lambda a: a[a > 0])(fnp.ones(3))
    assert "fnp.where" in str(e.value) and HERE in str(e.value)


def test_value_dependent_shapes_under_jit_point_to_size():
    with pytest.raises(ft.ConcretizationError) as e:
        ft.jit(lambda a: fnp.nonzero(a))(fnp.ones(3))
    assert "size=" in str(e.value) and "nonzero" in str(e.value)


def test_shapes_must_be_concrete_ints():
    with pytest.raises(ft.ConcretizationError, match=r"index or size .* at .*test_errors"):
        ft.jit(lambda a: fnp.zeros(a.shape[0] + a.sum().astype(int)))(fnp.ones(3))
    for bad in ((2.5, 3), 2.5):         # (2.5, 3) made a (2, 3) array
        with pytest.raises(TypeError, match=r"shape must be an int or a sequence of ints, "
                                            r"got \(?2\.5"):
            fnp.zeros(bad)
    assert fnp.ones(np.array([2, 3])).shape == (2, 3)
    assert fnp.full(fnp.asarray(2), 1.0).shape == (2,)
    assert ft.nn.initializers.ones(None, [np.int32(2)]).shape == (2,)


def test_matmul_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError) as e:
        fnp.ones((2, 3)) @ fnp.ones((2, 3))
    msg = str(e.value)
    assert "(2, 3)" in msg and "size 3" in msg and "size 2" in msg


def test_linalg_input_errors():
    with pytest.raises(ValueError, match="square"):
        fnp.linalg.inv(fnp.ones((2, 3)))
    with pytest.raises(np.linalg.LinAlgError, match="cholesky"):
        fnp.linalg.cholesky(-fnp.eye(2))


def test_vmap_size_mismatch_names_the_arguments():
    Point = collections.namedtuple("Point", "x y")
    with pytest.raises(ValueError) as e:
        ft.vmap(lambda p: p.x + p.y)(Point(fnp.ones(3), fnp.ones(4)))
    assert "size 3" in str(e.value) and "size 4" in str(e.value)


def test_a_forgotten_has_aux_is_named():
    with pytest.raises(TypeError, match=r"got tuple \(if it returns \(loss, aux\), pass has_aux"):
        ft.grad(lambda x: (x ** 2, 1))(fnp.ones(()))


def test_optimizer_state_of_other_parameters_names_the_keys():
    opt = ft.optim.adam(0.1)
    state = opt.init({"b": fnp.ones(2)})
    with pytest.raises(ValueError, match=r"optimizer update.*keys \('b',\) where \('a',\) "
                                         r"were expected.*opt.init\(params\)"):
        opt.update({"a": fnp.ones(2)}, state, {"a": fnp.ones(2)})


def test_a_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "model.ftz"
    path.write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match="is not a functrans checkpoint"):
        ft.load(path, like={"w": fnp.ones(2)})


def test_out_of_range_labels_raise_eagerly_and_give_nan_under_jit():
    with ft.default_device("cpu"):         # (on a GPU, eagerly too, NaN: no host sync)
        scores, labels = fnp.ones((2, 3)), fnp.asarray([0, 5])
        with pytest.raises(IndexError, match="target 5 is out of bounds for 3 classes"):
            ft.nn.cross_entropy(scores, labels)
    scores, labels = fnp.ones((2, 3)), fnp.asarray([0, 5])
    assert np.isnan(float(ft.jit(ft.nn.cross_entropy)(scores, labels)))
    ignored = fnp.asarray([0, -100])                  # ignore_index is not out of range
    assert float(ft.jit(ft.nn.cross_entropy)(scores, ignored)) == pytest.approx(np.log(3))


def test_geometry_and_shape_mistakes_in_nn_optim_and_random():
    with pytest.raises(ValueError, match=r"kernel \(5, 5\).*larger than the input's spatial "
                                         r"shape \(3, 3\)"):
        ft.nn.MaxPool2d(5)(fnp.ones((1, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"apply_updates: at \['a'\] the parameter has shape "
                                         r"\(2,\) but its update \(3,\)"):
        ft.optim.apply_updates({"a": fnp.ones(2)}, {"a": fnp.ones(3)})
    with pytest.raises(ValueError, match=r"ft.random.normal: shape \(-1,\) has a negative"):
        ft.random.normal(ft.random.key(0), (-1,))


def _raised(fn):
    try:
        fn()
    except Exception as e:
        return type(e)
    raise AssertionError("no error raised")


@pytest.mark.parametrize("bad", [lambda m, x: x.reshape(4), lambda m, x: m.reshape(x, (5,)),
                                 lambda m, x: x.reshape(4, -1),
                                 lambda m, x: x[m.asarray([1.0])], lambda m, x: x[1.5]])
def test_reshape_and_float_index_errors_are_what_numpy_and_jax_raise(bad):
    """NumPy raises ValueError (reshape) and IndexError (a float index), JAX TypeError for
    both: functrans's errors are both, so that code written for either catches them."""
    jnp = pytest.importorskip("jax.numpy")
    for expected in (_raised(lambda: bad(np, np.arange(6.0))),
                     _raised(lambda: bad(jnp, jnp.arange(6.0)))):
        with pytest.raises(expected):
            bad(fnp, fnp.arange(6.0))
        with pytest.raises(expected):
            ft.jit(lambda x: bad(fnp, x))(fnp.arange(6.0))
