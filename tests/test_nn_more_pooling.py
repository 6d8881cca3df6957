"""lp_pool1d/2d/3d, the max-pooling `*_with_indices` names, fractional max pooling and
SyncBatchNorm: against PyTorch in float64 (values, indices, derivatives; the layers are also
in tests/layer_cases.py), and without torch: known values, finite differences, jit, vmap and
SyncBatchNorm's statistics over a vmap axis."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads

F = ft.nn.functional


# ------------------------------------------------------------------ lp_pool
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("p", [1, 2, 2.5, float("inf")])
@pytest.mark.parametrize("ceil_mode", [False, True])
def test_lp_pool_matches_torch(nd, p, ceil_mode):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(nd)
    x = rng.uniform(0.2, 2.0, (2, 2) + (7, 6, 5)[:nd])
    k, s = (3, 2, 2)[:nd], (2, 1, 2)[:nd]
    ours = getattr(F, f"lp_pool{nd}d")
    theirs = getattr(torch.nn.functional, f"lp_pool{nd}d")
    if nd == 1:
        k, s = k[0], s[0]                   # PyTorch's lp_pool1d takes ints
    tx = torch.from_numpy(x).requires_grad_()
    want = theirs(tx, p, k, s, ceil_mode)
    ct = rng.standard_normal(tuple(want.shape))
    want.backward(torch.from_numpy(ct))
    out, vjp_fn = ft.vjp(lambda a: ours(a, p, k, s, ceil_mode), fnp.asarray(x))
    np.testing.assert_allclose(np.asarray(out), want.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(vjp_fn(fnp.asarray(ct))[0]), tx.grad.numpy(),
                               rtol=1e-11, atol=1e-13)


def test_lp_pool_without_torch():
    x = fnp.asarray(np.array([[[3.0, 4.0, 1.0, 2.0]]]))
    np.testing.assert_allclose(np.asarray(F.lp_pool1d(x, 2, 2)), [[[5.0, np.sqrt(5.0)]]])
    np.testing.assert_allclose(np.asarray(F.lp_pool1d(x, 1, 2)), [[[7.0, 3.0]]])
    np.testing.assert_allclose(np.asarray(F.lp_pool1d(-x, float("inf"), 2)), [[[4.0, 2.0]]])
    img = fnp.asarray(np.random.default_rng(0).uniform(0.5, 2.0, (2, 2, 4, 6)))
    check_grads(lambda a: F.lp_pool2d(a, 3, (2, 3)), (img,), order=2, modes=("fwd", "rev"))
    layer = ft.nn.LPPool2d(2, 2, stride=(2, 1))
    assert repr(layer) == "LPPool2d(norm_type=2, kernel_size=2, stride=(2, 1), ceil_mode=False)"
    np.testing.assert_allclose(np.asarray(ft.jit(layer)(img)), np.asarray(layer(img)),
                               rtol=1e-15)
    per_example = ft.vmap(lambda a: layer(a[None])[0])(img)
    np.testing.assert_allclose(np.asarray(per_example), np.asarray(layer(img)), rtol=1e-15)


# ------------------------------------------------------------------ *_with_indices
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_with_indices_names_match_torch(nd):
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    x = np.random.default_rng(nd).standard_normal((2, 3) + (7, 6, 5)[:nd])
    pairs = [(f"max_pool{nd}d_with_indices", (2,), {"stride": 1, "padding": 1}),
             (f"max_pool{nd}d_with_indices", (3,), {"ceil_mode": True}),
             (f"adaptive_max_pool{nd}d_with_indices", (3,), {})]
    for name, args, kwargs in pairs:
        v, i = getattr(F, name)(x, *args, **kwargs)
        tv, ti = getattr(TF, name)(torch.from_numpy(x), *args, **kwargs)
        np.testing.assert_array_equal(np.asarray(v), tv.numpy())
        np.testing.assert_array_equal(np.asarray(i), ti.numpy())


def test_with_indices_without_torch():
    x = fnp.asarray(np.array([[[1.0, 5.0, 2.0, 0.0, 7.0, 3.0]]]))
    v, i = F.max_pool1d_with_indices(x, 2)
    np.testing.assert_array_equal(np.asarray(v), [[[5.0, 2.0, 7.0]]])
    np.testing.assert_array_equal(np.asarray(i), [[[1, 2, 4]]])
    v, i = F.adaptive_max_pool1d_with_indices(x, 2, return_indices=False)   # still a pair
    np.testing.assert_array_equal(np.asarray(i), [[[1, 4]]])
    img = fnp.asarray(np.arange(16.0).reshape(1, 1, 4, 4))
    v, i = F.max_pool2d_with_indices(img, 2)
    np.testing.assert_array_equal(np.asarray(i), [[[[5, 7], [13, 15]]]])


# ------------------------------------------------------------------ fractional max pooling
@pytest.mark.parametrize("nd,kernel,size", [(2, 2, (4, 3)), (2, (3, 2), (3, 4)),
                                            (3, 2, (3, 2, 3)), (3, (1, 2, 2), (4, 3, 2))])
def test_fractional_max_pool_matches_torch(nd, kernel, size):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(nd)
    x = rng.standard_normal((2, 3) + (6, 5, 7)[:nd])
    samples = rng.uniform(0.0, 1.0, (2, 3, nd))
    ours = getattr(F, f"fractional_max_pool{nd}d")
    theirs = getattr(torch.nn.functional, f"fractional_max_pool{nd}d")
    tx = torch.from_numpy(x).requires_grad_()
    tv, ti = theirs(tx, kernel, size, return_indices=True,
                    _random_samples=torch.from_numpy(samples))
    ct = rng.standard_normal(tuple(tv.shape))
    tv.backward(torch.from_numpy(ct))
    v, i = ours(x, kernel, size, return_indices=True, _random_samples=samples)
    np.testing.assert_array_equal(np.asarray(v), tv.detach().numpy())
    np.testing.assert_array_equal(np.asarray(i), ti.numpy())
    _, vjp_fn = ft.vjp(lambda a: ours(a, kernel, size, _random_samples=samples),
                       fnp.asarray(x))
    g, = vjp_fn(fnp.asarray(ct))
    np.testing.assert_allclose(np.asarray(g), tx.grad.numpy(), rtol=1e-14)


def test_fractional_max_pool_without_torch():
    x = fnp.asarray(np.random.default_rng(0).standard_normal((2, 3, 9, 8)))
    key = ft.random.key(0)
    out = F.fractional_max_pool2d(x, 2, output_ratio=0.5, key=key)
    assert out.shape == (2, 3, 4, 4)
    # each output is the maximum of a 2 x 2 window: it is one of the input's values, and at
    # least three others of the plane are at most it
    v, i = F.fractional_max_pool2d(x, 2, (5, 4), return_indices=True, key=key)
    flat = np.asarray(x).reshape(2, 3, -1)
    np.testing.assert_array_equal(np.take_along_axis(flat, np.asarray(i).reshape(2, 3, -1), 2),
                                  np.asarray(v).reshape(2, 3, -1))
    # the same key places the same windows, under jit too; a new key moves them
    np.testing.assert_array_equal(np.asarray(ft.jit(lambda a, k: F.fractional_max_pool2d(
        a, 2, (5, 4), key=k))(x, key)), np.asarray(v))
    layer = ft.nn.FractionalMaxPool2d(2, output_size=5)
    assert layer(x, key=key).shape == (2, 3, 5, 5)
    check_grads(lambda a: F.fractional_max_pool2d(a, 2, (5, 4), key=key), (x,), order=1)
    with pytest.raises(ValueError, match="pass key="):
        layer(x)
    with pytest.raises(ValueError, match="either an output_size or an output_ratio"):
        F.fractional_max_pool2d(x, 2, key=key)
    with pytest.raises(ValueError, match="does not fit"):
        F.fractional_max_pool2d(x, 3, (8, 2), key=key)
    with pytest.raises(ValueError, match="output_ratio must be between 0 and 1"):
        ft.nn.FractionalMaxPool2d(2, output_ratio=1.5)


# ------------------------------------------------------------------ SyncBatchNorm
def test_sync_batchnorm_over_a_vmap_axis_equals_the_whole_batch():
    rng = np.random.default_rng(2)
    x = fnp.asarray(rng.standard_normal((6, 3, 4)))
    sync = ft.nn.SyncBatchNorm(3, momentum=0.3, process_group="batch", dtype=np.float64)
    whole = ft.nn.BatchNorm1d(3, momentum=0.3, dtype=np.float64)
    assert sync.process_group == "batch"

    def lane(m, xi):
        out, new = ft.nn.stateful(m)(xi[None])
        return out[0], new
    out, new = ft.vmap(lane, in_axes=(None, 0), out_axes=(0, None), axis_name="batch")(sync, x)
    want, want_new = ft.nn.stateful(whole)(x)
    np.testing.assert_allclose(np.asarray(out), np.asarray(want), rtol=1e-12, atol=1e-12)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(np.asarray(getattr(new, name)),
                                   np.asarray(getattr(want_new, name)), rtol=1e-12)
    # eval mode does not synchronize, even without running statistics (as PyTorch)
    untracked = ft.nn.SyncBatchNorm(3, track_running_stats=False, process_group="batch",
                                    dtype=np.float64).eval()
    lanes = ft.vmap(lambda xi: untracked(xi[None])[0], axis_name="batch")(x[:, :, :3])
    alone = [np.asarray(ft.nn.BatchNorm1d(3, track_running_stats=False, dtype=np.float64)(
        x[i:i + 1, :, :3]))[0] for i in range(6)]
    np.testing.assert_allclose(np.asarray(lanes), np.stack(alone), rtol=1e-12, atol=1e-12)
    # without a process group it is plain batch normalization of any rank >= 2
    plain = ft.nn.SyncBatchNorm(3, dtype=np.float64)
    np.testing.assert_allclose(np.asarray(ft.nn.stateful(plain)(x)[0]), np.asarray(want),
                               rtol=1e-12, atol=1e-12)
    assert ft.nn.stateful(plain)(x[:, :, :2, None, None])[0].shape == (6, 3, 2, 1, 1)
    with pytest.raises(ValueError, match="at least 2D input"):
        ft.nn.stateful(plain)(x[0, 0])


def test_convert_sync_batchnorm_returns_a_new_model():
    key = ft.random.key(0)
    f64 = np.float64
    net = ft.nn.Sequential(ft.nn.Conv2d(2, 4, 3, key=key, dtype=f64),
                           ft.nn.BatchNorm2d(4, dtype=f64), ft.nn.ReLU(),
                           ft.nn.Sequential(ft.nn.BatchNorm2d(4, affine=False, dtype=f64)))
    net = net.eval()
    x = fnp.asarray(np.random.default_rng(3).standard_normal((2, 2, 5, 5)))
    synced = ft.nn.SyncBatchNorm.convert_sync_batchnorm(net, process_group="batch")
    assert type(net[1]).__name__ == "BatchNorm2d"             # the original is unchanged
    assert type(synced[1]).__name__ == type(synced[3][0]).__name__ == "SyncBatchNorm"
    assert synced[1].process_group == "batch" and not synced[1].training
    assert list(synced.state_dict()) == list(net.state_dict())
    np.testing.assert_allclose(np.asarray(synced(x)), np.asarray(net(x)), rtol=1e-15)
    one = ft.nn.SyncBatchNorm.convert_sync_batchnorm(ft.nn.BatchNorm1d(3))
    assert repr(one) == ("SyncBatchNorm(3, eps=1e-05, momentum=0.1, affine=True, bias=True, "
                         "track_running_stats=True)")


def test_convert_sync_batchnorm_matches_torch():
    torch = pytest.importorskip("torch")
    tnet = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3)).double()
    net = ft.nn.Sequential(ft.nn.Conv2d(2, 3, 3, key=ft.random.key(0), dtype=np.float64),
                           ft.nn.BatchNorm2d(3, dtype=np.float64))
    net = net.load_state_dict(tnet.state_dict())
    synced = ft.nn.SyncBatchNorm.convert_sync_batchnorm(net)
    tsynced = torch.nn.SyncBatchNorm.convert_sync_batchnorm(tnet)
    assert repr(synced) == repr(tsynced)
    x = np.random.default_rng(4).standard_normal((4, 2, 5, 5))
    out, new = ft.nn.stateful(synced)(x)
    want = tsynced(torch.from_numpy(x))
    np.testing.assert_allclose(np.asarray(out), want.detach().numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(np.asarray(new[1].running_var),
                               tsynced[1].running_var.numpy(), rtol=1e-13)
