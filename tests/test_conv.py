"""conv_general_dilated: values against a direct NumPy reference (and PyTorch when installed),
derivatives against finite differences (orders 1 and 2, forward and reverse), batching against
a Python loop, the patches primitives' transposition, layouts and errors."""
import contextlib
import itertools
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.primitives import conv as conv_module
from functrans.primitives.conv import (conv_patches, conv_patches_transpose, shifted_spread,
                                       shifted_sum)
from functrans.test_util import check_grads


def conv_reference(x, w, strides, padding, lhs_dilation, rhs_dilation, groups):
    """NCHW/OIHW convolution by summing shifted slices (N-d, float64)."""
    nd = x.ndim - 2
    if any(d > 1 for d in lhs_dilation):
        dil = np.zeros(x.shape[:2] + tuple((s - 1) * d + 1 for s, d in
                                           zip(x.shape[2:], lhs_dilation)))
        dil[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in lhs_dilation)] = x
        x = dil
    for axis, (lo, hi) in enumerate(padding, start=2):
        if lo < 0:
            x = np.take(x, range(-lo, x.shape[axis]), axis=axis)
            lo = 0
        if hi < 0:
            x = np.take(x, range(0, x.shape[axis] + hi), axis=axis)
            hi = 0
        widths = [(0, 0)] * x.ndim
        widths[axis] = (lo, hi)
        x = np.pad(x, widths)
    o, cg = w.shape[:2]
    og = o // groups
    window = w.shape[2:]
    out_sp = tuple((x.shape[2 + d] - (window[d] - 1) * rhs_dilation[d] - 1) // strides[d] + 1
                   for d in range(nd))
    out = np.zeros((x.shape[0], o) + out_sp)
    for k in itertools.product(*[range(s) for s in window]):
        region = tuple(slice(k[d] * rhs_dilation[d],
                             k[d] * rhs_dilation[d] + (out_sp[d] - 1) * strides[d] + 1,
                             strides[d]) for d in range(nd))
        for g in range(groups):
            xs = x[(slice(None), slice(g * cg, (g + 1) * cg)) + region]
            ws = w[(slice(g * og, (g + 1) * og), slice(None)) + k]
            out[:, g * og:(g + 1) * og] += np.einsum("nc...,oc->no...", xs, ws)
    return out


@st.composite
def geometries(draw, max_nd=2):
    nd = draw(st.integers(1, max_nd))
    groups = draw(st.sampled_from([1, 2]))
    cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    window = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    strides = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    lhs_dil = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    rhs_dil = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    padding = tuple((draw(st.integers(-1, 2)), draw(st.integers(-1, 2))) for _ in range(nd))
    spatial = []
    for k, ld, rd, (lo, hi) in zip(window, lhs_dil, rhs_dil, padding):
        need = max(1, -(-((k - 1) * rd + 1 - lo - hi - 1) // ld) + 1)
        spatial.append(draw(st.integers(need, need + 3)))
    n = draw(st.integers(1, 2))
    return dict(x_shape=(n, cg * groups) + tuple(spatial), w_shape=(og * groups, cg) + window,
                strides=strides, padding=padding, lhs_dilation=lhs_dil, rhs_dilation=rhs_dil,
                groups=groups)


def _conv(g):
    return lambda x, w: lax.conv_general_dilated(x, w, g["strides"], g["padding"],
                                                 g["lhs_dilation"], g["rhs_dilation"], None,
                                                 g["groups"])


# the lowering's four forms: row patches (from ROW_MIN_CONTRACTION) or full patches, each with
# one product per image (from PER_IMAGE_COLUMNS output columns per image) or over all images
FORMS = pytest.mark.parametrize("form", [(0, 0), (0, 10 ** 9), (10 ** 9, 0), (10 ** 9, 10 ** 9)],
                                ids=["rows-per-image", "rows-all-images", "full-per-image",
                                     "full-all-images"])


def _lowered_as(form):
    row_min, per_image = form
    stack = contextlib.ExitStack()
    stack.enter_context(mock.patch.object(conv_module, "ROW_MIN_CONTRACTION", row_min))
    stack.enter_context(mock.patch.object(conv_module, "PER_IMAGE_COLUMNS", per_image))
    return stack


@FORMS
@settings(max_examples=40, deadline=None)
@given(geometries(max_nd=3), st.integers(0, 2 ** 31 - 1))
def test_matches_reference(form, g, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(g["x_shape"]), rng.standard_normal(g["w_shape"])
    with _lowered_as(form):
        got = np.asarray(_conv(g)(fnp.asarray(x), fnp.asarray(w)))
    want = conv_reference(x, w, g["strides"], g["padding"], g["lhs_dilation"],
                          g["rhs_dilation"], g["groups"])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@FORMS
@settings(max_examples=6, deadline=None)
@given(geometries(), st.integers(0, 2 ** 31 - 1))
def test_derivatives_order_two(form, g, seed):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(g["x_shape"]), rng.standard_normal(g["w_shape"])
    with _lowered_as(form):
        check_grads(_conv(g), (fnp.asarray(x), fnp.asarray(w)), order=2,
                    modes=("fwd", "rev"))


@pytest.mark.parametrize("shape,window,images_axis", [
    ((2, 3, 9, 12), (3, 4), 0), ((1, 2, 5, 6, 7), (2, 3, 2), 0), ((2, 3, 9, 12), (3, 4), 1),
    ((1, 2, 5, 6, 7), (2, 3, 2), 1), ((2, 2, 5, 6, 7), (2, 1, 2), 2)])
def test_patches_primitives_are_transposes(shape, window, images_axis):
    """<patches(x), p> == <x, patches_transpose(p)>; with the images' axis moved inside the
    output axes, the patches are the default ones with that axis moved; batching and jit."""
    rng = np.random.default_rng(0)
    nd = len(window)
    params = dict(window_shape=window, window_strides=(1,) * (nd - 1) + (2,),
                  padding=((1, 0),) * (nd - 1) + ((0, 2),), lhs_dilation=(1,) * nd,
                  rhs_dilation=(2,) + (1,) * (nd - 1), images_axis=images_axis)
    x = rng.standard_normal(shape)
    p = np.asarray(conv_patches(fnp.asarray(x), **params))
    at = 1 + nd + images_axis
    default = dict(params, images_axis=0)
    np.testing.assert_array_equal(
        p, np.moveaxis(np.asarray(conv_patches(fnp.asarray(x), **default)), 1 + nd, at))
    ct = rng.standard_normal(p.shape)
    back = np.asarray(conv_patches_transpose(fnp.asarray(ct), shape, **params))
    assert back.shape == shape
    np.testing.assert_allclose(np.sum(p * ct), np.sum(x * back), rtol=1e-12)
    for fn, arg in ((lambda a: conv_patches(a, **params), x),
                    (lambda a: conv_patches_transpose(a, shape, **params), ct)):
        batch = np.stack([arg, 2 * arg + 1], axis=arg.ndim)
        got = np.asarray(ft.vmap(fn, in_axes=arg.ndim)(fnp.asarray(batch)))
        want = np.stack([np.asarray(fn(fnp.asarray(batch[..., b]))) for b in range(2)])
        np.testing.assert_allclose(got, want, rtol=1e-13)
        np.testing.assert_allclose(ft.jit(fn)(fnp.asarray(arg)), fn(fnp.asarray(arg)),
                                   rtol=1e-13)


def _shifted_sum_reference(z, dilation, images_axis, width):
    """Each slice z[:, k] flattened past its first axis, shifted left by k*dilation (zeros
    coming in at the end), summed; cropped to `width`; the images' axis moved to the front."""
    a, k, *rest = z.shape
    flat = z.reshape(a, k, -1)
    acc = np.zeros_like(flat[:, 0])
    for j in range(k):
        s = j * dilation
        acc[:, :acc.shape[1] - s] += flat[:, j, s:]
    return np.moveaxis(acc.reshape(a, *rest)[..., :width], images_axis, 0)


@pytest.mark.parametrize("shape,dilation,images_axis,width", [
    ((2, 3, 4, 9), 1, 0, None), ((1, 4, 11), 2, 0, None), ((3, 1, 2, 2, 5), 1, 0, None),
    ((1, 3, 2, 4, 9), 1, 2, None), ((2, 2, 3, 1, 11), 2, 2, None),
    ((2, 3, 1, 2, 2, 2, 7), 1, 2, None), ((2, 3, 4, 5, 6), 1, 1, None),
    ((3, 1, 2, 5), 1, 1, None), ((1, 3, 2, 4, 9), 1, 2, 8), ((2, 3, 4, 5, 6), 2, 1, 6),
    ((2, 2, 3, 4), 1, 0, 3)])
def test_shifted_sum_matches_loop_and_spread_is_its_transpose(shape, dilation, images_axis,
                                                              width):
    """(A, K, ...) -> shifted sums over K along the flattened trailing axes, cropped to
    `width`, then the images axis in front; shifted_spread is its transpose."""
    rng = np.random.default_rng(7)
    z = rng.standard_normal(shape)
    k = shape[1]
    want = _shifted_sum_reference(z, dilation, images_axis,
                                  width or shape[-1] - (k - 1) * dilation)
    got = np.asarray(shifted_sum(fnp.asarray(z), dilation, images_axis, width))
    np.testing.assert_allclose(got, want, rtol=1e-13)
    ct = rng.standard_normal(got.shape)
    back = np.asarray(shifted_spread(fnp.asarray(ct), k, dilation, images_axis, shape[-1]))
    assert back.shape == shape
    np.testing.assert_allclose(np.sum(got * ct), np.sum(z * back), rtol=1e-12)
    check_grads(lambda z: shifted_sum(z, dilation, images_axis, width) ** 2, (fnp.asarray(z),),
                order=2, modes=("fwd", "rev"))
    check_grads(lambda c: shifted_spread(c, k, dilation, images_axis, shape[-1]) ** 2,
                (fnp.asarray(ct),), order=2, modes=("fwd", "rev"))
    for fn, arg in ((lambda a: shifted_sum(a, dilation, images_axis, width), z),
                    (lambda a: shifted_spread(a, k, dilation, images_axis, shape[-1]), ct)):
        for axis in (0, 1, arg.ndim):
            batch = np.stack([arg, 2 * arg + 1], axis=axis)
            got = np.asarray(ft.vmap(fn, in_axes=axis)(fnp.asarray(batch)))
            want = np.stack([np.asarray(fn(fnp.asarray(np.take(batch, b, axis))))
                             for b in range(2)])
            np.testing.assert_allclose(got, want, rtol=1e-13)
        np.testing.assert_allclose(ft.jit(fn)(fnp.asarray(arg)), fn(fnp.asarray(arg)),
                                   rtol=1e-13)


def test_lenet_layers_agree_with_the_reference():
    """conv1 and conv2 of the blitz's LeNet (the row-patches path) against the reference,
    values and gradients."""
    rng = np.random.default_rng(1)
    for x_shape, w_shape in [((3, 3, 32, 32), (6, 3, 5, 5)), ((3, 6, 14, 14), (16, 6, 5, 5))]:
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        got = lax.conv_general_dilated(fnp.asarray(x), fnp.asarray(w), (1, 1), "VALID")
        want = conv_reference(x, w, (1, 1), ((0, 0), (0, 0)), (1, 1), (1, 1), 1)
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-11, atol=1e-11)
        ct = rng.standard_normal(want.shape)
        gx, gw = ft.vjp(lambda x, w: lax.conv_general_dilated(x, w, (1, 1), "VALID"),
                        fnp.asarray(x), fnp.asarray(w))[1](fnp.asarray(ct))
        k, (ho, wo) = w.shape[2], want.shape[2:]
        want_gw = np.array([[np.einsum("noyx,ncyx->oc", ct, x[:, :, i:i + ho, j:j + wo])
                             for j in range(k)] for i in range(k)]).transpose(2, 3, 0, 1)
        np.testing.assert_allclose(np.asarray(gw), want_gw, rtol=1e-10)
        probe = rng.standard_normal(x.shape)
        np.testing.assert_allclose(np.sum(np.asarray(gx) * probe),
                                   np.sum(ct * conv_reference(probe, w, (1, 1), ((0, 0), (0, 0)),
                                                              (1, 1), (1, 1), 1)), rtol=1e-10)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 4, 11, 9)), rng.standard_normal((6, 2, 3, 3))
    got = lax.conv_general_dilated(fnp.asarray(x), fnp.asarray(w), (2, 1), ((1, 1), (2, 2)),
                                   None, (1, 2), None, 2)
    want = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=(2, 1),
                                      padding=(1, 2), dilation=(1, 2), groups=2)
    np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-12, atol=1e-12)


def test_same_padding_and_layouts():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 7, 8, 3))                 # NHWC
    w = rng.standard_normal((3, 2, 3, 5))                 # HWIO
    got = lax.conv_general_dilated(fnp.asarray(x), fnp.asarray(w), (2, 1), "SAME",
                                   dimension_numbers=("NHWC", "HWIO", "NHWC"))
    assert got.shape == (2, 4, 8, 5)
    x_nchw, w_oihw = x.transpose(0, 3, 1, 2), w.transpose(3, 2, 0, 1)
    want = conv_reference(x_nchw, w_oihw, (2, 1), ((1, 1), (0, 1)), (1, 1), (1, 1), 1)
    np.testing.assert_allclose(np.asarray(got), want.transpose(0, 2, 3, 1), rtol=1e-12,
                               atol=1e-12)
    tuple_spec = lax.conv_general_dilated(fnp.asarray(x), fnp.asarray(w), (2, 1), "SAME",
                                          dimension_numbers=((0, 3, 1, 2), (3, 2, 0, 1),
                                                             (0, 3, 1, 2)))
    np.testing.assert_array_equal(np.asarray(tuple_spec), np.asarray(got))
    # JAX's conv_dimension_numbers takes the operands' shapes and gives a namedtuple
    dn = lax.conv_dimension_numbers(x.shape, w.shape, ("NHWC", "HWIO", "NHWC"))
    assert dn == lax.ConvDimensionNumbers((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))
    assert dn.rhs_spec == (3, 2, 0, 1)
    by_numbers = lax.conv_general_dilated(fnp.asarray(x), fnp.asarray(w), (2, 1), "SAME",
                                          dimension_numbers=dn)
    np.testing.assert_array_equal(np.asarray(by_numbers), np.asarray(got))
    # the spatial axes in the order the kernel's layout names them, as JAX
    assert lax.conv_dimension_numbers((1, 20, 19, 3), (3, 3, 3, 4),
                                      ("NHWC", "IWHO", "NWHC")) == \
        ((0, 3, 2, 1), (3, 0, 1, 2), (0, 3, 1, 2))


@FORMS
@pytest.mark.parametrize("strides", [(1, 2), (1, 1)])
@pytest.mark.parametrize("in_axes", [(0, None), (None, 0), (0, 0), (2, None), (4, 3)])
def test_vmap_matches_loop(in_axes, strides, form):
    rng = np.random.default_rng(4)
    b = 3
    x_shape, w_shape = [2, 2, 6, 5], [4, 1, 3, 2]
    if in_axes[0] is not None:
        x_shape.insert(in_axes[0], b)
    if in_axes[1] is not None:
        w_shape.insert(in_axes[1], b)
    x, w = fnp.asarray(rng.standard_normal(x_shape)), fnp.asarray(rng.standard_normal(w_shape))

    def f(x, w):
        return lax.conv_general_dilated(x, w, strides, ((1, 0), (1, 1)), None, None, None, 2)
    with _lowered_as(form):
        got = ft.vmap(f, in_axes=in_axes)(x, w)
    take = [lambda a, i, ax=ax: a if ax is None else fnp.moveaxis(a, ax, 0)[i]
            for ax in in_axes]
    want = np.stack([np.asarray(f(take[0](x, i), take[1](w, i))) for i in range(b)])
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-12)


@FORMS
def test_vmap_of_grad_matches_loop(form):
    """Per-example gradients with respect to a shared kernel."""
    rng = np.random.default_rng(5)
    xs = fnp.asarray(rng.standard_normal((3, 1, 2, 7, 7)))
    w = fnp.asarray(rng.standard_normal((3, 2, 3, 3)))

    def loss(w, x):
        return fnp.sum(lax.conv_general_dilated(x, w, (1, 1), "VALID") ** 2)
    with _lowered_as(form):
        got = ft.vmap(ft.grad(loss), in_axes=(None, 0))(w, xs)
        want = np.stack([np.asarray(ft.grad(loss)(w, xs[i])) for i in range(3)])
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-11)


def test_jit_matches_eager_and_grad_of_jit():
    rng = np.random.default_rng(6)
    x, w = fnp.asarray(rng.standard_normal((2, 3, 8, 8))), fnp.asarray(
        rng.standard_normal((4, 3, 3, 3)))

    def loss(x, w):
        return fnp.sum(fnp.tanh(lax.conv_general_dilated(x, w, (1, 1), "SAME")))
    np.testing.assert_allclose(np.asarray(ft.jit(loss)(x, w)), np.asarray(loss(x, w)),
                               rtol=1e-12)
    for a, b in zip(ft.grad(ft.jit(loss), argnums=(0, 1))(x, w),
                    ft.jit(ft.grad(loss, argnums=(0, 1)))(x, w)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12)


def test_errors_name_shapes():
    x, w = fnp.zeros((1, 3, 8, 8)), fnp.zeros((6, 2, 3, 3))
    with pytest.raises(ValueError, match=r"3 feature channels.*\(6, 2, 3, 3\)"):
        lax.conv_general_dilated(x, w, (1, 1), "VALID")
    with pytest.raises(ValueError, match="does not fit"):
        lax.conv_general_dilated(x, fnp.zeros((6, 3, 9, 9)), (1, 1), "VALID")
    with pytest.raises(TypeError, match="float32.*float64|lhs is float32"):
        lax.conv_general_dilated(x, fnp.zeros((6, 3, 3, 3), dtype=np.float64), (1, 1), "VALID")
    with pytest.raises(ValueError, match="window_strides"):
        lax.conv_general_dilated(x, fnp.zeros((6, 3, 3, 3)), (1,), "VALID")
