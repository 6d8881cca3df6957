"""F.affine_grid and F.grid_sample: every mode, padding mode and align_corners value, 4-d and
5-d, against PyTorch in float64 (outputs and the derivatives with respect to the input, the
grid and theta; skipped without torch), and without torch: known values, finite-difference
derivatives, jit and per-example vmap against a loop."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads

F = ft.nn.functional

CONFIGS = [(nd, mode, pad, ac)
           for nd in (2, 3)
           for mode in ("bilinear", "nearest", "bicubic")
           for pad in ("zeros", "border", "reflection")
           for ac in (False, True)
           if not (nd == 3 and mode == "bicubic")]


def _inputs(nd, rng, spread=1.4, batch=2):
    x = rng.standard_normal((batch, 3) + ((5, 4) if nd == 2 else (3, 4, 5)))
    grid = rng.uniform(-spread, spread, (batch,) + ((4, 3) if nd == 2 else (2, 3, 4)) + (nd,))
    return x, grid


@pytest.mark.parametrize("nd,mode,pad,ac", CONFIGS)
@pytest.mark.parametrize("spread", [1.3, 3.7])
def test_grid_sample_matches_torch(nd, mode, pad, ac, spread):
    """Values and both derivatives; spread 3.7 reflects positions several times over."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(nd * 100 + int(spread))
    x, grid = _inputs(nd, rng, spread)
    tx = torch.from_numpy(x).requires_grad_()
    tg = torch.from_numpy(grid).requires_grad_()
    want = torch.nn.functional.grid_sample(tx, tg, mode, pad, ac)
    ct = rng.standard_normal(tuple(want.shape))
    want.backward(torch.from_numpy(ct))
    out, vjp_fn = ft.vjp(lambda a, b: F.grid_sample(a, b, mode, pad, ac), fnp.asarray(x),
                         fnp.asarray(grid))
    gx, gg = vjp_fn(fnp.asarray(ct))
    np.testing.assert_allclose(np.asarray(out), want.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(np.asarray(gx), tx.grad.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(np.asarray(gg), tg.grad.numpy(), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("ac", [False, True])
def test_affine_grid_matches_torch(nd, ac):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(nd)
    theta = rng.standard_normal((2, nd, nd + 1))
    size = (2, 3, 4, 5) if nd == 2 else (2, 3, 3, 4, 2)
    t = torch.from_numpy(theta).requires_grad_()
    want = torch.nn.functional.affine_grid(t, size, align_corners=ac)
    ct = rng.standard_normal(tuple(want.shape))
    want.backward(torch.from_numpy(ct))
    out, vjp_fn = ft.vjp(lambda th: F.affine_grid(th, size, align_corners=ac),
                         fnp.asarray(theta))
    np.testing.assert_allclose(np.asarray(out), want.detach().numpy(), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(np.asarray(vjp_fn(fnp.asarray(ct))[0]), t.grad.numpy(),
                               rtol=1e-12, atol=1e-13)


def test_spatial_transformer_step_matches_torch():
    """The tutorial's core: theta -> affine_grid -> grid_sample, differentiated w.r.t. theta
    and the image."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 1, 6, 7))
    theta = np.array([[1.0, 0.1, 0.05], [-0.2, 0.9, 0.1]]) + 0.05 * rng.standard_normal((2, 2, 3))

    def ours(th, img):
        grid = F.affine_grid(th, img.shape, align_corners=False)
        return fnp.sum(fnp.sin(F.grid_sample(img, grid, align_corners=False)))
    t_th, t_x = torch.from_numpy(theta).requires_grad_(), torch.from_numpy(x).requires_grad_()
    TF = torch.nn.functional
    loss = torch.sin(TF.grid_sample(t_x, TF.affine_grid(t_th, t_x.shape, align_corners=False),
                                    align_corners=False)).sum()
    loss.backward()
    value, (g_th, g_x) = ft.value_and_grad(ours, argnums=(0, 1))(fnp.asarray(theta),
                                                                fnp.asarray(x))
    np.testing.assert_allclose(float(value), loss.item(), rtol=1e-13)
    np.testing.assert_allclose(np.asarray(g_th), t_th.grad.numpy(), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(np.asarray(g_x), t_x.grad.numpy(), rtol=1e-11, atol=1e-12)


# ------------------------------------------------------------------ without torch
def test_identity_grid_reproduces_the_image():
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5))
    for ac in (False, True):
        theta = np.tile(np.eye(2, 3), (2, 1, 1))
        grid = F.affine_grid(theta, x.shape, align_corners=ac)
        for mode in ("bilinear", "nearest", "bicubic"):
            np.testing.assert_allclose(np.asarray(F.grid_sample(x, grid, mode,
                                                                align_corners=ac)),
                                       x, atol=1e-12)
    x3 = np.random.default_rng(1).standard_normal((1, 2, 3, 4, 2))
    grid3 = F.affine_grid(np.eye(3, 4)[None], x3.shape, align_corners=True)
    np.testing.assert_allclose(np.asarray(F.grid_sample(x3, grid3, align_corners=True)), x3,
                               atol=1e-12)


def test_known_values():
    x = np.arange(6.0).reshape(1, 1, 2, 3)          # rows [0 1 2], [3 4 5]
    # align_corners=True: (-1, -1) is pixel (0, 0), (1, 1) pixel (1, 2), (0, 0) the centre
    grid = np.array([[[[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0], [0.0, -1.0]]]])
    got = np.asarray(F.grid_sample(x, grid, align_corners=True))
    np.testing.assert_allclose(got, [[[[0.0, 5.0, 2.5, 1.0]]]])
    # align_corners=False: -1 is the outer edge, half a pixel beyond the first centre; zeros
    # padding halves the value there, border padding keeps it
    edge = np.array([[[[-1.0, 0.0]]]])          # x = column -0.5, y = row 0.5
    np.testing.assert_allclose(np.asarray(F.grid_sample(x, edge)), [[[[0.75]]]])
    np.testing.assert_allclose(np.asarray(F.grid_sample(x, edge, padding_mode="border")),
                               [[[[1.5]]]])
    # reflection: a position beyond the right edge mirrors back inside
    right = np.array([[[[1.0 + 2.0 / 3.0, -0.5]]]])     # x = column 2 + 1 -> mirrored to 1
    got = np.asarray(F.grid_sample(x, right, "nearest", "reflection", align_corners=True))
    np.testing.assert_allclose(got, [[[[1.0]]]])
    # nearest ties go to the even position, as PyTorch's nearbyint
    tie = np.array([[[[-0.5, -1.0], [0.5, -1.0]]]])      # columns 0.5 and 1.5
    np.testing.assert_allclose(np.asarray(F.grid_sample(x, tie, "nearest", align_corners=True)),
                               [[[[0.0, 2.0]]]])


def test_affine_grid_known_values():
    g = np.asarray(F.affine_grid(np.eye(2, 3)[None], (1, 1, 2, 3), align_corners=True))
    np.testing.assert_allclose(g[0, :, :, 0], [[-1, 0, 1], [-1, 0, 1]])
    np.testing.assert_allclose(g[0, :, :, 1], [[-1, -1, -1], [1, 1, 1]])
    g = np.asarray(F.affine_grid(np.eye(2, 3)[None], (1, 1, 1, 2)))
    np.testing.assert_allclose(g[0, 0], [[-0.5, 0.0], [0.5, 0.0]])
    assert F.affine_grid(np.zeros((2, 3, 4)), (2, 1, 2, 3, 4)).shape == (2, 2, 3, 4, 3)


@pytest.mark.parametrize("mode,pad", [("bilinear", "zeros"), ("bilinear", "reflection"),
                                      ("bicubic", "border"), ("bilinear", "border")])
def test_grid_sample_derivatives_match_finite_differences(mode, pad):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 4, 5))
    # positions away from pixel boundaries and clipping points, where the map is smooth
    cols = np.array([0.3, 1.6, 2.45, 3.7])
    rows = np.array([0.35, 2.6, 1.2, 2.8])
    grid = np.stack([(2 * cols + 1) / 5 - 1, (2 * rows + 1) / 4 - 1], -1).reshape(1, 2, 2, 2)
    check_grads(lambda a, g: F.grid_sample(a, g, mode, pad), (fnp.asarray(x), fnp.asarray(grid)),
                order=2, modes=("fwd", "rev"), eps=1e-6)
    check_grads(lambda th: F.affine_grid(th, (1, 2, 3, 4)), (fnp.asarray(rng.standard_normal(
        (1, 2, 3))),), order=1)


@pytest.mark.parametrize("nd,mode,pad,ac", [(2, "bilinear", "zeros", False),
                                            (2, "bicubic", "reflection", True),
                                            (2, "nearest", "border", False),
                                            (3, "bilinear", "reflection", False)])
def test_jit_and_per_example_vmap(nd, mode, pad, ac):
    rng = np.random.default_rng(4)
    x, grid = (fnp.asarray(a) for a in _inputs(nd, rng, 1.5, batch=3))

    def f(a, g):
        return F.grid_sample(a, g, mode, pad, ac)
    np.testing.assert_allclose(np.asarray(ft.jit(f)(x, grid)), np.asarray(f(x, grid)),
                               rtol=1e-14, atol=1e-14)

    def loss(a, g):
        return fnp.sum(fnp.sin(f(a, g)))
    per_example = ft.vmap(ft.grad(lambda a, g: loss(a[None], g[None]), argnums=(0, 1)))(x, grid)
    for i in range(3):
        want = ft.grad(loss, argnums=(0, 1))(x[i:i + 1], grid[i:i + 1])
        for got, w in zip(per_example, want):
            np.testing.assert_allclose(np.asarray(got[i]), np.asarray(w[0]), rtol=1e-12,
                                       atol=1e-13)
    theta = fnp.asarray(rng.standard_normal((3, 2, 3)))
    per_theta = ft.vmap(lambda th: F.affine_grid(th[None], (1, 1, 3, 4))[0])(theta)
    np.testing.assert_allclose(np.asarray(per_theta),
                               np.asarray(F.affine_grid(theta, (3, 1, 3, 4))), rtol=1e-14)


def test_errors_name_the_argument():
    x = np.zeros((2, 3, 4, 5))
    with pytest.raises(ValueError, match="mode must be"):
        F.grid_sample(x, np.zeros((2, 1, 1, 2)), mode="area")
    with pytest.raises(ValueError, match="padding_mode must be"):
        F.grid_sample(x, np.zeros((2, 1, 1, 2)), padding_mode="wrap")
    with pytest.raises(ValueError, match=r"grid must be \(N, Ho, Wo, 2\) with N = 2"):
        F.grid_sample(x, np.zeros((1, 3, 3, 2)))
    with pytest.raises(ValueError, match="bicubic' needs 4-d"):
        F.grid_sample(np.zeros((1, 1, 2, 2, 2)), np.zeros((1, 1, 1, 1, 3)), mode="bicubic")
    with pytest.raises(ValueError, match=r"theta must have shape \(2, 2, 3\)"):
        F.affine_grid(np.zeros((2, 3, 4)), (2, 3, 4, 5))
    with pytest.raises(TypeError, match="floating point"):
        F.affine_grid(np.zeros((1, 2, 3), np.int64), (1, 1, 2, 2))
    with pytest.raises(ValueError, match="size must be"):
        F.affine_grid(np.zeros((1, 2, 3)), (1, 2, 3))


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("pad", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("ac", [False, True])
def test_grid_sample_single_pixel_axis_matches_torch(mode, pad, ac):
    """An axis of size 1 (reflection's span is empty with align_corners=True)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 2, 1, 4))
    grid = rng.uniform(-2.0, 2.0, (1, 3, 2, 2))
    tx, tg = torch.from_numpy(x).requires_grad_(), torch.from_numpy(grid).requires_grad_()
    want = torch.nn.functional.grid_sample(tx, tg, mode, pad, ac)
    want.sum().backward()
    out, (gx, gg) = ft.value_and_grad(
        lambda a, b: fnp.sum(F.grid_sample(a, b, mode, pad, ac)), argnums=(0, 1))(
            fnp.asarray(x), fnp.asarray(grid))
    np.testing.assert_allclose(float(out), want.sum().item(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(np.asarray(gx), tx.grad.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(np.asarray(gg), tg.grad.numpy(), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("ac", [False, True])
def test_non_finite_grid_entries_as_torch_and_without_warnings(ac):
    """NaN and ±inf positions: border clamps them, reflection sends them to 0, zeros reads
    nothing (NaN for bilinear, 0 for nearest), bicubic gives NaN, as PyTorch's CPU kernels;
    no floating-point warnings on the way."""
    import warnings
    x = np.arange(12.0).reshape(1, 1, 3, 4)
    grid = np.array([[[[np.nan, 0.0], [0.2, np.nan], [np.inf, 0.0], [-np.inf, 0.3],
                       [0.1, 0.2]]]])
    want = {("bilinear", "zeros"): [np.nan] * 4, ("bilinear", "border"): [4.0, None, 7.0, None],
            ("nearest", "zeros"): [0.0] * 4, ("nearest", "reflection"): [4.0, 2.0, 4.0, 4.0],
            ("bicubic", "border"): [np.nan] * 4}
    for (mode, pad), first in want.items():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = np.asarray(F.grid_sample(x, grid, mode, pad, ac)).ravel()
        for g, w in zip(got, first):
            if w is not None:
                np.testing.assert_equal(g, w)
        assert np.isfinite(got[4])
    torch = pytest.importorskip("torch")
    for mode in ("bilinear", "nearest", "bicubic"):
        for pad in ("zeros", "border", "reflection"):
            theirs = torch.nn.functional.grid_sample(torch.from_numpy(x),
                                                     torch.from_numpy(grid), mode, pad, ac)
            np.testing.assert_allclose(np.asarray(F.grid_sample(x, grid, mode, pad, ac)),
                                       theirs.numpy(), rtol=1e-13, err_msg=f"{mode} {pad}")


def test_float32_stays_float32_and_jit_agrees_with_eager():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 5, 4)).astype(np.float32)
    theta = (np.eye(2, 3) + 0.1 * rng.standard_normal((2, 2, 3))).astype(np.float32)
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    assert grid.dtype == np.float32
    for mode in ("bilinear", "nearest", "bicubic"):
        out = F.grid_sample(x, grid, mode, "reflection")
        assert out.dtype == np.float32
        jitted = ft.jit(lambda a, g, m=mode: F.grid_sample(a, g, m, "reflection"))(x, grid)
        np.testing.assert_array_equal(np.asarray(jitted), np.asarray(out))
