"""ft.flatten_util.ravel_pytree: round trips, JAX's dtype rules for mixed leaves, and the
unravel function under jit, vmap and grad."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.flatten_util import ravel_pytree


def _tree():
    return {"w": np.arange(6.0).reshape(2, 3), "b": (np.array([7.0, 8.0]), np.float64(9.0)),
            "empty": np.zeros((0, 4))}


def test_round_trip_and_order():
    tree = _tree()
    flat, unravel = ravel_pytree(tree)
    assert flat.shape == (9,) and flat.dtype == np.float64
    # leaves in tree_flatten order (dict keys sorted): b, empty, w
    np.testing.assert_array_equal(np.asarray(flat), [7, 8, 9, 0, 1, 2, 3, 4, 5])
    back = unravel(flat)
    assert ft.tree_structure(back) == ft.tree_structure(tree)
    for a, b in zip(ft.tree_leaves(back), ft.tree_leaves(tree)):
        assert a.shape == np.shape(b) and a.dtype == np.asarray(b).dtype
        np.testing.assert_array_equal(np.asarray(a), b)
    assert unravel(flat * 2)["w"].shape == (2, 3)


def test_empty_pytree():
    flat, unravel = ravel_pytree({})
    assert flat.shape == (0,) and flat.dtype == np.float32
    assert unravel(flat) == {}


def test_single_dtype_unravel_converts_nothing():
    flat, unravel = ravel_pytree([np.ones(2, np.float32), np.zeros((1, 2), np.float32)])
    assert flat.dtype == np.float32
    out = unravel(np.arange(4.0))                     # float64 in: float64 leaves out
    assert [leaf.dtype for leaf in out] == [np.float64, np.float64]


def test_mixed_dtypes_promote_and_come_back():
    tree = [np.array([1, 2], np.int32), np.array([0.5], np.float32), np.array([True])]
    flat, unravel = ravel_pytree(tree)
    assert flat.dtype == np.float32                   # int32 and bool take the float's width
    np.testing.assert_array_equal(np.asarray(flat), [1, 2, 0.5, 1])
    back = unravel(flat)
    assert [b.dtype for b in back] == [np.int32, np.float32, np.bool_]
    np.testing.assert_array_equal(np.asarray(back[0]), [1, 2])
    flat64, unravel64 = ravel_pytree([np.ones(1, np.float32), np.ones(2, np.float64)])
    assert flat64.dtype == np.float64
    assert [b.dtype for b in unravel64(flat64)] == [np.float32, np.float64]
    with pytest.raises(TypeError, match=r"dtype float32, but the pytree was raveled to "
                                        r"float64.*\.astype\(float64\)"):
        unravel64(flat64.astype(np.float32))
    with pytest.raises(ValueError, match=r"size 3 .* got shape \(4,\)"):
        unravel64(np.zeros(4))
    c, unravel_c = ravel_pytree([np.array([1.0]), np.array([2 + 3j])])
    assert c.dtype == np.complex128
    real, cplx = unravel_c(c)
    assert real.dtype == np.float64 and cplx.dtype == np.complex128


def test_unravel_is_differentiable_jittable_and_mappable():
    tree = {"a": np.array([1.0, 2.0]), "b": np.array([[3.0]])}
    flat, unravel = ravel_pytree(tree)

    def loss(x):
        t = unravel(x)
        return fnp.sum(t["a"] ** 2) * t["b"][0, 0] + fnp.sin(t["b"][0, 0])
    ft.test_util.check_grads(loss, (np.asarray(flat),), order=2, modes=("fwd", "rev"))
    g = ft.grad(loss)(flat)
    np.testing.assert_allclose(np.asarray(g), [2 * 1 * 3, 2 * 2 * 3, 5 + np.cos(3.0)])
    np.testing.assert_allclose(np.asarray(ft.jit(loss)(flat)), np.asarray(loss(flat)))
    xs = np.stack([np.asarray(flat), np.asarray(flat) * 2])
    stacked = ft.vmap(unravel)(xs)
    assert stacked["a"].shape == (2, 2) and stacked["b"].shape == (2, 1, 1)
    # ravel itself under transforms: the flat gradient of a pytree function
    grads = ft.grad(lambda t: ravel_pytree(t)[0] @ ravel_pytree(t)[0])(tree)
    np.testing.assert_allclose(np.asarray(grads["a"]), [2.0, 4.0])
    flat_in_jit = ft.jit(lambda t: ravel_pytree(t)[0])(tree)
    np.testing.assert_array_equal(np.asarray(flat_in_jit), np.asarray(flat))
    # unravel is hashable, so it can be a static argument
    _, again = ravel_pytree({"a": np.zeros(2), "b": np.zeros((1, 1))})
    assert again == unravel and hash(again) == hash(unravel)
    f = ft.jit(lambda x, u: u(x)["b"], static_argnums=1)
    np.testing.assert_array_equal(np.asarray(f(flat, unravel)), [[3.0]])


def test_mixed_dtype_gradient_reaches_only_float_leaves():
    tree = {"n": np.array([2], np.int64), "x": np.array([1.5, -1.0])}
    flat, unravel = ravel_pytree(tree)
    assert flat.dtype == np.float64

    def f(v):
        t = unravel(v)
        return fnp.sum(t["x"] ** 3)
    np.testing.assert_allclose(np.asarray(ft.grad(f)(flat)), [0.0, 3 * 1.5 ** 2, 3.0])


def test_matches_jax():
    jfu = pytest.importorskip("jax.flatten_util")
    tree = {"i": np.array([1, 2], np.int32), "f": np.array([[0.5, 1.5]], np.float32),
            "b": [np.array(True), np.float32(2.0)]}
    ours, ours_un = ravel_pytree(tree)
    theirs, theirs_un = jfu.ravel_pytree(tree)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))
    for a, b in zip(ft.tree_leaves(ours_un(ours)), ft.tree_leaves(theirs_un(theirs))):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
