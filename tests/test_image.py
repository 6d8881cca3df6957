"""functrans.image (resize, scale_and_translate, ResizeMethod) against jax.image."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
import functrans.image

METHODS = ["nearest", "linear", "lanczos3", "lanczos5", "cubic", "cubic-pytorch", "area"]

# (input shape, output shape): up- and down-sampling in 1, 2 and 3 spatial dimensions,
# channels left alone
SHAPES = [
    ((7,), (12,)),
    ((12,), (5,)),
    ((5, 7, 2), (9, 4, 2)),
    ((6, 6, 1), (3, 13, 1)),
    ((2, 4, 5, 6, 3), (2, 6, 3, 9, 3)),
    ((4, 3), (4, 3)),
    ((3, 1), (5, 1)),
]


@pytest.fixture
def jax64():
    jax = pytest.importorskip("jax")
    with jax.enable_x64(True), ft.enable_x64(True):
        yield jax


def _image(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("antialias", [True, False])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_resize_matches_jax(shapes, method, antialias, jax64):
    in_shape, out_shape = shapes
    x = _image(in_shape)
    ours = ft.image.resize(fnp.asarray(x), out_shape, method, antialias=antialias)
    theirs = jax64.image.resize(jax64.numpy.asarray(x), out_shape, method,
                                antialias=antialias)
    assert ours.shape == theirs.shape == out_shape
    assert ours.dtype == theirs.dtype
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("method", METHODS)
def test_resize_float32_and_integer_images_match_jax(method):
    jax = pytest.importorskip("jax")
    x = np.random.default_rng(1).integers(0, 255, (6, 5, 3)).astype(np.uint8)
    for image in (x, x.astype(np.float32)):
        ours = ft.image.resize(fnp.asarray(image), (4, 9, 3), method)
        theirs = jax.image.resize(jax.numpy.asarray(image), (4, 9, 3), method)
        assert ours.dtype == theirs.dtype
        np.testing.assert_allclose(np.asarray(ours, np.float64),
                                   np.asarray(theirs, np.float64), rtol=2e-5, atol=2e-4)


def test_resize_method_enum_and_names(jax64):
    rm = ft.image.ResizeMethod
    assert [m.name for m in rm] == [m.name for m in jax64.image.ResizeMethod]
    assert rm.from_string("bilinear") is rm.LINEAR and rm.from_string("tricubic") is rm.CUBIC
    x = _image((4, 4))
    np.testing.assert_allclose(np.asarray(ft.image.resize(fnp.asarray(x), (6, 3), rm.LANCZOS5)),
                               np.asarray(ft.image.resize(fnp.asarray(x), (6, 3), "lanczos5")))


SCALE_CASES = [
    # shape, out shape, spatial dims, scale, translation
    ((9,), (6,), (0,), [0.7], [0.37]),
    ((5, 7, 2), (6, 6, 2), (0, 1), [1.3, 0.7], [0.37, -0.81]),
    ((5, 7, 2), (6, 6, 2), (1, -3), [0.45, 1.9], [1.2, -0.3]),
    ((2, 4, 5, 3), (2, 6, 4, 3), (1, 2), [1.7, 0.6], [0.0, 0.25]),
    ((4, 4, 4), (5, 3, 6), (0, 1, 2), [1.2, 0.8, 1.5], [-0.4, 0.3, 0.1]),
]


@pytest.mark.parametrize("antialias", [True, False])
@pytest.mark.parametrize("method", [m for m in METHODS if m != "nearest"])
@pytest.mark.parametrize("case", range(len(SCALE_CASES)))
def test_scale_and_translate_matches_jax(case, method, antialias, jax64):
    in_shape, out_shape, dims, scale, translation = SCALE_CASES[case]
    x = _image(in_shape, seed=case)
    jnp = jax64.numpy
    ours = ft.image.scale_and_translate(fnp.asarray(x), out_shape, dims, fnp.asarray(scale),
                                        fnp.asarray(translation), method, antialias)
    theirs = jax64.image.scale_and_translate(jnp.asarray(x), out_shape, dims,
                                             jnp.asarray(scale), jnp.asarray(translation),
                                             method, antialias)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("method", ["linear", "lanczos3", "cubic", "cubic-pytorch", "area"])
def test_scale_and_translate_derivatives_match_finite_differences(method):
    in_shape, out_shape, dims, scale, translation = SCALE_CASES[1]
    with ft.enable_x64():
        def f(s, t, x):
            return ft.image.scale_and_translate(x, out_shape, dims, s, t, method)
        args = (fnp.asarray(scale), fnp.asarray(translation), fnp.asarray(_image(in_shape)))
        ft.test_util.check_grads(f, args, order=2, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_resize_derivatives_match_finite_differences(method):
    with ft.enable_x64():
        x = fnp.asarray(_image((4, 5, 2)))
        ft.test_util.check_grads(lambda x: ft.image.resize(x, (6, 3, 2), method), (x,),
                                 order=2, atol=1e-7, rtol=1e-7)


def test_gradients_match_jax(jax64):
    in_shape, out_shape, dims, scale, translation = SCALE_CASES[3]
    x = _image(in_shape)
    w = _image(out_shape, seed=9)
    jnp = jax64.numpy

    def loss(lib, np_):
        def f(s, t, x):
            return np_.sum(lib.image.scale_and_translate(x, out_shape, dims, s, t, "lanczos3")
                           * w)
        return f
    ours = ft.grad(loss(ft, fnp), (0, 1, 2))(fnp.asarray(scale), fnp.asarray(translation),
                                             fnp.asarray(x))
    theirs = jax64.grad(loss(jax64, jnp), (0, 1, 2))(jnp.asarray(scale),
                                                     jnp.asarray(translation), jnp.asarray(x))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12)


def test_jit_and_vmap():
    x = fnp.asarray(_image((3, 5, 6)))
    for method in METHODS:
        eager = ft.image.resize(x, (3, 8, 4), method)
        jitted = ft.jit(lambda x: ft.image.resize(x, (3, 8, 4), method))(x)
        np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-6)
        batched = ft.vmap(lambda im: ft.image.resize(im, (8, 4), method))(x)
        np.testing.assert_allclose(np.asarray(batched), np.asarray(eager), rtol=1e-6)
    scales = fnp.asarray([[1.0, 1.0], [1.5, 0.5], [0.8, 1.2]])

    def warp(s, im):
        return ft.image.scale_and_translate(im, (5, 6), (0, 1), s, fnp.zeros(2), "cubic")
    batched = ft.vmap(warp)(scales, x)
    jitted = ft.jit(ft.vmap(warp))(scales, x)
    for i in range(3):
        one = warp(scales[i], x[i])
        np.testing.assert_allclose(np.asarray(batched[i]), np.asarray(one), rtol=1e-6)
        np.testing.assert_allclose(np.asarray(jitted[i]), np.asarray(one), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(batched[0]), np.asarray(x[0]), rtol=1e-6)


def test_identity_warp_and_zero_outside():
    x = fnp.asarray(_image((4, 5)))
    same = ft.image.scale_and_translate(x, (4, 5), (0, 1), fnp.ones(2), fnp.zeros(2), "linear")
    np.testing.assert_allclose(np.asarray(same), np.asarray(x), rtol=1e-6, atol=1e-7)
    shifted = ft.image.scale_and_translate(x, (4, 5), (0, 1), fnp.ones(2),
                                           fnp.asarray([10.0, 0.0]), "linear")
    assert np.all(np.asarray(shifted) == 0)


def test_bad_input_errors():
    x = fnp.ones((4, 5))
    with pytest.raises(ValueError, match=r"\(4, 5, 1\) vs \(4, 5\)"):
        ft.image.resize(x, (4, 5, 1), "linear")
    with pytest.raises(ValueError, match='Unknown resize method "bilinearish"'):
        ft.image.resize(x, (2, 2), "bilinearish")
    with pytest.raises(TypeError, match="ResizeMethod"):
        ft.image.resize(x, (2, 2), 3)
    with pytest.raises(TypeError, match="integers"):
        ft.image.resize(x, (2.5, 2), "linear")
    with pytest.raises(ValueError, match="negative"):
        ft.image.resize(x, (-2, 2), "linear")
    with pytest.raises(ValueError, match="Nearest"):
        ft.image.scale_and_translate(x, (2, 2), (0, 1), fnp.ones(2), fnp.zeros(2), "nearest")
    with pytest.raises(ValueError, match=r"one entry per spatial dimension \(0, 1\).*\(3,\)"):
        ft.image.scale_and_translate(x, (2, 2), (0, 1), fnp.ones(3), fnp.zeros(2), "linear")
    with pytest.raises(ValueError, match="out of range"):
        ft.image.scale_and_translate(x, (2, 2), (0, 2), fnp.ones(2), fnp.zeros(2), "linear")
