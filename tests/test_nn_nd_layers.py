"""The 1-d and 3-d convolution, pooling and normalization layers (Conv3d, ConvTranspose3d,
MaxPool1d/3d, AvgPool1d/3d, AdaptiveAvg/MaxPool3d, MaxUnpool1d/2d/3d, BatchNorm3d,
InstanceNorm1d/3d, RMSNorm, LocalResponseNorm) and MaxPool's `return_indices`: against
PyTorch in float64 (outputs, indices, input and parameter gradients, updated buffers,
printing, state_dict keys; skipped without torch), under `jit` and `vmap`, and their
functional forms against finite differences."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads

from layer_cases import Case, normal

F = ft.nn


def unpool_inputs(pooled_shape, kernel):
    """(values, indices) as MaxPool with stride = kernel would give them: one distinct
    position inside each window of a (N, C, *spatial) input."""
    def draw(rng):
        nd = len(kernel)
        spatial = [o * k for o, k in zip(pooled_shape[2:], kernel)]
        flat = np.zeros(pooled_shape, np.int64)
        for i in range(nd):
            grid = np.arange(pooled_shape[2 + i]).reshape(
                (-1,) + (1,) * (nd - 1 - i)) * kernel[i]
            pos = grid + rng.integers(0, kernel[i], pooled_shape)
            flat = flat * spatial[i] + pos
        return [rng.standard_normal(pooled_shape), flat]
    return draw


CASES = [
    # ---- convolutions
    Case("Conv3d", lambda k, d: F.Conv3d(2, 3, (2, 3, 2), stride=(1, 2, 1), padding=1, key=k,
                                         dtype=d),
         lambda t: t.nn.Conv3d(2, 3, (2, 3, 2), stride=(1, 2, 1), padding=1),
         normal(2, 2, 4, 5, 4)),
    Case("Conv3d-same-groups-dilated",
         lambda k, d: F.Conv3d(4, 4, 3, padding="same", dilation=(1, 2, 1), groups=2,
                               bias=False, key=k, dtype=d),
         lambda t: t.nn.Conv3d(4, 4, 3, padding="same", dilation=(1, 2, 1), groups=2,
                               bias=False), normal(2, 4, 4, 5, 3)),
    Case("Conv3d-unbatched-circular",
         lambda k, d: F.Conv3d(2, 2, 2, padding=(1, 0, 1), padding_mode="circular", key=k,
                               dtype=d),
         lambda t: t.nn.Conv3d(2, 2, 2, padding=(1, 0, 1), padding_mode="circular"),
         normal(2, 3, 4, 3), batched=False),
    Case("Conv3d-reflect-strided",
         lambda k, d: F.Conv3d(1, 2, 3, stride=2, padding=1, padding_mode="reflect", key=k,
                               dtype=d),
         lambda t: t.nn.Conv3d(1, 2, 3, stride=2, padding=1, padding_mode="reflect"),
         normal(2, 1, 5, 4, 5)),
    Case("ConvTranspose3d",
         lambda k, d: F.ConvTranspose3d(4, 2, (2, 3, 2), stride=2, padding=(0, 1, 0),
                                        output_padding=(1, 0, 1), groups=2,
                                        dilation=(1, 1, 2), key=k, dtype=d),
         lambda t: t.nn.ConvTranspose3d(4, 2, (2, 3, 2), stride=2, padding=(0, 1, 0),
                                        output_padding=(1, 0, 1), groups=2,
                                        dilation=(1, 1, 2)), normal(2, 4, 3, 3, 2)),
    Case("ConvTranspose3d-unbatched-nobias",
         lambda k, d: F.ConvTranspose3d(2, 3, 2, bias=False, key=k, dtype=d),
         lambda t: t.nn.ConvTranspose3d(2, 3, 2, bias=False), normal(2, 2, 3, 2),
         batched=False),
    # ---- max pooling (with and without indices) and unpooling
    Case("MaxPool1d-ceil-dilated", lambda k, d: F.MaxPool1d(3, 2, 1, dilation=2,
                                                            ceil_mode=True),
         lambda t: t.nn.MaxPool1d(3, 2, 1, dilation=2, ceil_mode=True), normal(2, 3, 11)),
    Case("MaxPool1d-indices-unbatched", lambda k, d: F.MaxPool1d(2, return_indices=True),
         lambda t: t.nn.MaxPool1d(2, return_indices=True), normal(3, 9), batched=False),
    Case("MaxPool2d-indices", lambda k, d: F.MaxPool2d((3, 2), (2, 1), (1, 0),
                                                       return_indices=True, ceil_mode=True),
         lambda t: t.nn.MaxPool2d((3, 2), (2, 1), (1, 0), return_indices=True,
                                  ceil_mode=True), normal(2, 2, 6, 5)),
    Case("MaxPool3d", lambda k, d: F.MaxPool3d((2, 3, 2), stride=(1, 2, 2),
                                               padding=(1, 1, 0), ceil_mode=True),
         lambda t: t.nn.MaxPool3d((2, 3, 2), stride=(1, 2, 2), padding=(1, 1, 0),
                                  ceil_mode=True), normal(2, 2, 4, 6, 5)),
    Case("MaxPool3d-indices-dilated", lambda k, d: F.MaxPool3d(2, 1, 1, dilation=(2, 1, 2),
                                                               return_indices=True),
         lambda t: t.nn.MaxPool3d(2, 1, 1, dilation=(2, 1, 2), return_indices=True),
         normal(2, 2, 4, 3, 5)),
    Case("MaxUnpool1d", lambda k, d: F.MaxUnpool1d(2), lambda t: t.nn.MaxUnpool1d(2),
         unpool_inputs((2, 3, 4), (2,)), batched=False),
    Case("MaxUnpool2d", lambda k, d: F.MaxUnpool2d((2, 3)), lambda t: t.nn.MaxUnpool2d((2, 3)),
         unpool_inputs((2, 2, 3, 2), (2, 3)), batched=False),
    Case("MaxUnpool3d", lambda k, d: F.MaxUnpool3d(2), lambda t: t.nn.MaxUnpool3d(2),
         unpool_inputs((1, 2, 2, 3, 2), (2, 2, 2)), batched=False),
    Case("MaxUnpool2d-output-size", lambda k, d: F.MaxUnpool2d(2),
         lambda t: t.nn.MaxUnpool2d(2), unpool_inputs((2, 1, 2, 3), (2, 2)), batched=False,
         kwargs={"output_size": (5, 7)}),
    # ---- average pooling
    Case("AvgPool1d", lambda k, d: F.AvgPool1d(3), lambda t: t.nn.AvgPool1d(3),
         normal(2, 3, 10)),
    Case("AvgPool1d-ceil-no-pad-count",
         lambda k, d: F.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False),
         lambda t: t.nn.AvgPool1d(3, 2, 1, ceil_mode=True, count_include_pad=False),
         normal(2, 3, 10)),
    Case("AvgPool3d-ceil", lambda k, d: F.AvgPool3d(3, 2, 1, ceil_mode=True),
         lambda t: t.nn.AvgPool3d(3, 2, 1, ceil_mode=True), normal(2, 2, 4, 6, 5)),
    Case("AvgPool3d-divisor", lambda k, d: F.AvgPool3d((2, 3, 2), (1, 2, 2), (1, 1, 0),
                                                       count_include_pad=False,
                                                       divisor_override=5),
         lambda t: t.nn.AvgPool3d((2, 3, 2), (1, 2, 2), (1, 1, 0), count_include_pad=False,
                                  divisor_override=5), normal(2, 2, 3, 5, 4)),
    Case("AvgPool3d-unbatched-no-pad-count",
         lambda k, d: F.AvgPool3d(2, 2, 1, count_include_pad=False),
         lambda t: t.nn.AvgPool3d(2, 2, 1, count_include_pad=False), normal(2, 3, 4, 5),
         batched=False),
    # ---- adaptive pooling
    Case("AdaptiveAvgPool3d", lambda k, d: F.AdaptiveAvgPool3d((2, None, 3)),
         lambda t: t.nn.AdaptiveAvgPool3d((2, None, 3)), normal(2, 2, 5, 4, 7)),
    Case("AdaptiveAvgPool3d-global", lambda k, d: F.AdaptiveAvgPool3d(1),
         lambda t: t.nn.AdaptiveAvgPool3d(1), normal(2, 3, 3, 2, 4)),
    Case("AdaptiveMaxPool3d-indices", lambda k, d: F.AdaptiveMaxPool3d((2, 3, 2), True),
         lambda t: t.nn.AdaptiveMaxPool3d((2, 3, 2), True), normal(2, 2, 5, 4, 7)),
    Case("AdaptiveMaxPool3d-unbatched", lambda k, d: F.AdaptiveMaxPool3d(2),
         lambda t: t.nn.AdaptiveMaxPool3d(2), normal(2, 3, 5, 4), batched=False),
    # ---- normalization
    Case("BatchNorm3d", lambda k, d: F.BatchNorm3d(3, momentum=0.2, dtype=d),
         lambda t: t.nn.BatchNorm3d(3, momentum=0.2), normal(4, 3, 2, 3, 2), batched=False),
    Case("BatchNorm3d-cumulative-no-affine",
         lambda k, d: F.BatchNorm3d(2, momentum=None, affine=False, dtype=d),
         lambda t: t.nn.BatchNorm3d(2, momentum=None, affine=False), normal(3, 2, 2, 2, 3),
         batched=False),
    Case("BatchNorm3d-untracked",
         lambda k, d: F.BatchNorm3d(2, track_running_stats=False, dtype=d),
         lambda t: t.nn.BatchNorm3d(2, track_running_stats=False), normal(3, 2, 2, 2, 2),
         batched=False),
    Case("InstanceNorm1d", lambda k, d: F.InstanceNorm1d(3, dtype=d),
         lambda t: t.nn.InstanceNorm1d(3), normal(2, 3, 6)),
    Case("InstanceNorm1d-unbatched-affine",
         lambda k, d: F.InstanceNorm1d(3, affine=True, dtype=d),
         lambda t: t.nn.InstanceNorm1d(3, affine=True), normal(3, 6), batched=False),
    Case("InstanceNorm1d-tracked",
         lambda k, d: F.InstanceNorm1d(3, momentum=0.3, track_running_stats=True, dtype=d),
         lambda t: t.nn.InstanceNorm1d(3, momentum=0.3, track_running_stats=True),
         normal(4, 3, 5), batched=False),
    Case("InstanceNorm3d-tracked-affine",
         lambda k, d: F.InstanceNorm3d(2, affine=True, track_running_stats=True, dtype=d),
         lambda t: t.nn.InstanceNorm3d(2, affine=True, track_running_stats=True),
         normal(2, 2, 3, 4, 3), batched=False),
    Case("InstanceNorm3d-unbatched", lambda k, d: F.InstanceNorm3d(2, eps=1e-3, dtype=d),
         lambda t: t.nn.InstanceNorm3d(2, eps=1e-3), normal(2, 3, 2, 4), batched=False),
    Case("RMSNorm", lambda k, d: F.RMSNorm(4, dtype=d), lambda t: t.nn.RMSNorm(4),
         normal(3, 5, 4)),
    Case("RMSNorm-2d-eps-no-affine",
         lambda k, d: F.RMSNorm((5, 4), eps=1e-3, elementwise_affine=False, dtype=d),
         lambda t: t.nn.RMSNorm((5, 4), eps=1e-3, elementwise_affine=False), normal(3, 5, 4)),
    Case("LocalResponseNorm", lambda k, d: F.LocalResponseNorm(3),
         lambda t: t.nn.LocalResponseNorm(3), normal(2, 5, 4)),
    Case("LocalResponseNorm-5d", lambda k, d: F.LocalResponseNorm(4, 0.1, 0.6, 2.0),
         lambda t: t.nn.LocalResponseNorm(4, 0.1, 0.6, 2.0), normal(2, 6, 3, 2, 2)),
    Case("LocalResponseNorm-4d-wide", lambda k, d: F.LocalResponseNorm(7, 0.5, 1.2),
         lambda t: t.nn.LocalResponseNorm(7, 0.5, 1.2), normal(2, 3, 4, 2)),
]
IDS = [c.name for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_layer_matches_torch(case):
    """Printing, state_dict keys, outputs (and indices), input and parameter gradients and
    updated buffers, in training and eval mode over two steps (the shared parity check of
    tests/test_nn_layers_torch.py)."""
    pytest.importorskip("torch")
    from test_nn_layers_torch import test_layer_matches_torch as parity
    parity(case)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_layer_under_jit_and_checkpoints(case, tmp_path):
    from test_nn_layers_transforms import test_layer_under_jit_and_checkpoints as under_jit
    under_jit(case, tmp_path)


BATCHED = [c for c in CASES if c.batched]


@pytest.mark.parametrize("case", BATCHED, ids=[c.name for c in BATCHED])
def test_per_example_gradients_match_a_loop(case):
    from test_nn_layers_transforms import test_per_example_gradients_match_a_loop as per_ex
    per_ex(case)


@pytest.mark.parametrize("case", BATCHED, ids=[c.name for c in BATCHED])
def test_vmap_over_examples_matches_the_batched_layer(case):
    """`vmap` of the layer over single examples equals the batched call, under `jit` too."""
    rng = np.random.default_rng(3)
    model = case.ours(ft.random.key(0), np.float64).eval()
    x, = [fnp.asarray(a) for a in case.inputs(rng)]
    want = model(x)
    one = ft.vmap(lambda xi: ft.tree_map(lambda o: o[0], model(xi[None])))
    for f in (one, ft.jit(one)):
        got = f(x)
        for g, w in zip(ft.tree_util.tree_leaves(got), ft.tree_util.tree_leaves(want)):
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_pooling_geometry_sweep_matches_torch(nd):
    """max_pool (values and indices) and avg_pool over kernel, stride, padding, dilation,
    ceil_mode, count_include_pad and divisor_override: the same outputs as PyTorch, and an
    error exactly where PyTorch refuses the geometry."""
    torch = pytest.importorskip("torch")
    import itertools
    TF = torch.nn.functional
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 2) + (7, 6, 5)[:nd])
    tx = torch.from_numpy(x)
    checked = 0
    for k, s, p, d, ceil in itertools.product((2, 3), (1, 2, 3), (0, 1), (1, 2), (False, True)):
        kw = dict(kernel_size=k, stride=s, padding=p, ceil_mode=ceil)
        try:
            tv, ti = getattr(TF, f"max_pool{nd}d")(tx, dilation=d, return_indices=True, **kw)
        except RuntimeError:
            with pytest.raises(ValueError):
                getattr(F, f"max_pool{nd}d")(x, dilation=d, **kw)
            continue
        v, i = getattr(F, f"max_pool{nd}d")(x, dilation=d, return_indices=True, **kw)
        np.testing.assert_array_equal(np.asarray(v), tv.numpy(), err_msg=f"{kw} d={d}")
        np.testing.assert_array_equal(np.asarray(i), ti.numpy(), err_msg=f"{kw} d={d}")
        for include, divisor in ((True, None), (False, None), (False, 3)):
            if nd == 1 and divisor is not None:
                continue                    # avg_pool1d has no divisor_override
            extra = {} if divisor is None else {"divisor_override": divisor}
            want = getattr(TF, f"avg_pool{nd}d")(tx, count_include_pad=include, **kw, **extra)
            got = getattr(F, f"avg_pool{nd}d")(x, count_include_pad=include, **kw, **extra)
            np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-13,
                                       err_msg=f"{kw} include={include} divisor={divisor}")
        checked += 1
    assert checked > 20


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_pool_indices_of_windows_of_only_minus_inf_match_torch(nd):
    """A window holding nothing but -inf (and padding) reports its first position inside
    the input, as PyTorch does, never a padding position."""
    torch = pytest.importorskip("torch")
    x = np.full((1, 2) + (6, 5, 7)[:nd], -np.inf)
    x[(0, 1) + (-1,) * nd] = 1.0
    for kw in (dict(kernel_size=3, stride=2, padding=1, dilation=2),
               dict(kernel_size=2, stride=1, padding=1, ceil_mode=True)):
        v, i = getattr(F, f"max_pool{nd}d")(x, return_indices=True, **kw)
        tv, ti = getattr(torch.nn.functional, f"max_pool{nd}d")(
            torch.from_numpy(x), return_indices=True, **kw)
        np.testing.assert_array_equal(np.asarray(v), tv.numpy())
        np.testing.assert_array_equal(np.asarray(i), ti.numpy(), err_msg=str(kw))


def test_conv3d_and_transpose_sweep_match_torch():
    """F.conv3d and F.conv_transpose3d over strides, paddings, dilations, output paddings and
    groups, against PyTorch's functional forms."""
    torch = pytest.importorskip("torch")
    import itertools
    TF = torch.nn.functional
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 4, 5, 4, 6))
    for s, p, d, g in itertools.product((1, (2, 1, 3)), (0, (1, 2, 0)), (1, (2, 1, 1)), (1, 2)):
        w = rng.standard_normal((6, 4 // g, 2, 3, 2))
        b = rng.standard_normal(6)
        want = TF.conv3d(*map(torch.from_numpy, (x, w, b)), s, p, d, g)
        np.testing.assert_allclose(np.asarray(F.conv3d(x, w, b, s, p, d, g)), want.numpy(),
                                   rtol=1e-12, atol=1e-12, err_msg=f"{s} {p} {d} {g}")
        wt = rng.standard_normal((4, 6 // g, 2, 3, 2))
        for op in (0, 1):
            try:
                want = TF.conv_transpose3d(*map(torch.from_numpy, (x, wt, b)), s, p, op, g, d)
            except RuntimeError:            # output_padding not below stride or dilation
                with pytest.raises(ValueError, match="output_padding"):
                    F.conv_transpose3d(x, wt, b, s, p, op, g, d)
                continue
            got = F.conv_transpose3d(x, wt, b, s, p, op, g, d)
            np.testing.assert_allclose(np.asarray(got), want.numpy(), rtol=1e-12, atol=1e-12,
                                       err_msg=f"{s} {p} {op} {d} {g}")


# ------------------------------------------------------------------ functional forms
def r(*shape, seed=0):
    return fnp.asarray(np.random.default_rng(seed).standard_normal(shape))


FUNCTIONAL = [
    ("conv3d", lambda x, w, b: F.conv3d(x, w, b, stride=(2, 1, 1), padding=(1, 0, 1),
                                        dilation=(1, 1, 2)),
     [r(1, 2, 3, 3, 4), r(2, 2, 2, 2, 2, seed=1), r(2, seed=2)]),
    ("conv_transpose3d", lambda x, w: F.conv_transpose3d(x, w, stride=2, padding=1,
                                                        output_padding=1, groups=2),
     [r(1, 2, 2, 2, 2), r(2, 1, 2, 3, 2, seed=1)]),
    ("max_pool1d", lambda x: F.max_pool1d(x, 3, 2, 1, ceil_mode=True), [r(2, 2, 8)]),
    ("max_pool3d", lambda x: F.max_pool3d(x, 2, (1, 2, 2), 1, dilation=(1, 1, 2)),
     [r(1, 2, 3, 4, 5)]),
    ("max_pool3d-indices", lambda x: F.max_pool3d(x, 2, return_indices=True)[0],
     [r(1, 1, 4, 2, 4)]),
    ("avg_pool1d", lambda x: F.avg_pool1d(x, 3, 2, 1, True, False), [r(2, 2, 8)]),
    ("avg_pool3d", lambda x: F.avg_pool3d(x, 3, 2, 1, ceil_mode=True), [r(1, 2, 4, 3, 5)]),
    ("adaptive_avg_pool3d", lambda x: F.adaptive_avg_pool3d(x, (2, 3, 2)),
     [r(1, 2, 5, 4, 3)]),
    ("adaptive_max_pool3d", lambda x: F.adaptive_max_pool3d(x, (2, 3, 2)),
     [r(1, 2, 5, 4, 3)]),
    ("max_unpool2d", lambda v: F.max_unpool2d(v, np.array([[[[1, 6], [9, 15]]]]), 2),
     [r(1, 1, 2, 2)]),
    ("batch_norm-5d", lambda x, w, b: F.batch_norm(x, None, None, w, b, True),
     [r(2, 2, 2, 3, 2), r(2, seed=1), r(2, seed=2)]),
    ("instance_norm-1d", lambda x, w: F.instance_norm(x, weight=w), [r(2, 3, 4), r(3, seed=1)]),
    ("rms_norm", lambda x, w: F.rms_norm(x, (3, 2), w), [r(2, 3, 2), r(3, 2, seed=1)]),
    ("local_response_norm", lambda x: F.local_response_norm(x, 3, 0.3, 0.7, 1.5),
     [r(2, 5, 3)]),
]


@pytest.mark.parametrize("fn,args", [c[1:] for c in FUNCTIONAL], ids=[c[0] for c in FUNCTIONAL])
def test_functional_derivatives(fn, args):
    check_grads(fn, tuple(args), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("fn,args", [c[1:] for c in FUNCTIONAL], ids=[c[0] for c in FUNCTIONAL])
def test_functional_forms_batch_along_a_middle_axis(fn, args):
    """`vmap` over a new axis 1 of every argument equals a Python loop."""
    rng = np.random.default_rng(4)
    stacked = [fnp.asarray(np.stack([np.asarray(a) + 0.1 * rng.standard_normal(a.shape)
                                     for _ in range(3)], axis=min(1, a.ndim))) for a in args]
    axes = [min(1, a.ndim) for a in args]
    got = ft.vmap(fn, in_axes=tuple(axes))(*stacked)
    for i in range(3):
        want = fn(*[fnp.take(s, i, axis=ax) for s, ax in zip(stacked, axes)])
        np.testing.assert_allclose(np.asarray(got[i]), np.asarray(want), rtol=1e-12,
                                   atol=1e-12)


# ------------------------------------------------------------------ without torch
def test_pool_indices_round_trip_through_unpool():
    """max_pool(return_indices) then max_unpool puts each maximum back where it was and
    zeros elsewhere, in 1, 2 and 3 spatial dimensions."""
    rng = np.random.default_rng(5)
    for nd, shape in ((1, (2, 3, 8)), (2, (2, 3, 4, 6)), (3, (1, 2, 4, 2, 6))):
        x = rng.standard_normal(shape)
        values, indices = getattr(F, f"max_pool{nd}d")(x, 2, return_indices=True)
        back = np.asarray(getattr(F, f"max_unpool{nd}d")(values, indices, 2))
        assert back.shape == shape
        kept = back != 0
        np.testing.assert_array_equal(back[kept], x[kept])
        assert kept.sum() == np.asarray(values).size
        blocks = x.reshape(shape[:2] + sum(((s // 2, 2) for s in shape[2:]), ()))
        axes = tuple(range(3, 3 + 2 * nd, 2))
        np.testing.assert_array_equal(np.asarray(values), blocks.max(axis=axes))


def test_max_unpool_checks_indices_and_batches_them():
    v = np.ones((1, 1, 2))
    with ft.default_device("cpu"):         # (on a GPU, no host sync: dropped, as under jit)
        with pytest.raises(IndexError,
                           match=r"index 9 is outside the output's spatial size \(4,\)"):
            F.max_unpool1d(v, np.array([[[0, 9]]]), 2)
        with pytest.raises(IndexError, match="index -1"):
            F.MaxUnpool1d(2)(v, np.array([[[0, -1]]]))
    # traced, an index outside the output is dropped (no host check inside jit)
    got = ft.jit(lambda v, i: F.max_unpool1d(v, i, 2))(v, np.array([[[-1, 9]]]))
    np.testing.assert_array_equal(np.asarray(got), np.zeros((1, 1, 4)))
    # vmap over values and indices together, at a middle axis
    rng = np.random.default_rng(6)
    values, indices = unpool_inputs((2, 3, 2, 3), (2, 2))(rng)
    f = ft.vmap(lambda v, i: F.max_unpool2d(v, i, 2), in_axes=1, out_axes=1)
    got = np.asarray(f(values, indices))
    for c in range(3):
        want = F.max_unpool2d(values[:, c], indices[:, c], 2)
        np.testing.assert_array_equal(got[:, c], np.asarray(want))


def test_conv3d_default_init_and_shapes():
    conv = F.Conv3d(4, 6, (3, 2, 1), groups=2, key=ft.random.key(1))
    assert conv.weight.shape == (6, 2, 3, 2, 1) and conv.bias.shape == (6,)
    bound = 1 / np.sqrt(2 * 3 * 2 * 1)
    assert np.abs(np.asarray(conv.weight)).max() <= bound
    assert np.abs(np.asarray(conv.bias)).max() <= bound
    tconv = F.ConvTranspose3d(4, 6, 2, stride=2, groups=2, key=ft.random.key(1))
    assert tconv.weight.shape == (4, 3, 2, 2, 2)
    out = tconv(np.zeros((1, 4, 3, 3, 3), np.float32), output_size=(7, 6, 7))
    assert out.shape == (1, 6, 7, 6, 7)
    with pytest.raises(TypeError, match="key"):
        F.Conv3d(1, 1, 1)


def test_rms_norm_default_eps_is_the_dtypes_epsilon():
    x = np.full((2, 3), 1e-5, np.float32)
    got = np.asarray(F.rms_norm(x, 3))
    want = x / np.sqrt(np.mean(x ** 2, axis=-1, keepdims=True) + np.finfo(np.float32).eps)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert repr(F.RMSNorm([2, 3])) == "RMSNorm((2, 3), eps=None, elementwise_affine=True)"


@pytest.mark.parametrize("call,match", [
    (lambda: F.conv3d(np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 1, 1, 1))[0]),
     r"5-d kernel .*shape \(2, 1, 1, 1\)"),
    (lambda: F.conv3d(np.zeros((2, 3)), np.zeros((1, 1, 1, 1, 1))),
     r"4-d \(unbatched\) or 5-d \(batched\) input, got shape \(2, 3\)"),
    (lambda: F.conv_transpose3d(np.zeros((1, 3, 2, 2, 2)), np.zeros((2, 1, 1, 1, 1))),
     r"input has 3 channels .*takes 2 input channels"),
    (lambda: F.Conv3d(3, 4, 2, groups=2, key=ft.random.key(0)), "divisible by groups"),
    (lambda: F.max_pool3d(np.zeros((4, 4, 4)), 2), r"\(N, C, D, H, W\) or \(C, D, H, W\) "
                                                   r"input .*shape \(4, 4, 4\)"),
    (lambda: F.max_pool1d(np.zeros((1, 1, 4)), 2, padding=2), "padding .* at most half"),
    (lambda: F.avg_pool1d(np.zeros((1, 1, 2)), 5), r"kernel \(5,\) .*larger than"),
    (lambda: F.avg_pool3d(np.zeros((1, 1, 2, 2, 2)), 2, divisor_override=0),
     "divisor_override must be non-zero"),
    (lambda: F.max_pool3d(np.zeros((1, 1, 2, 2, 2)), (2, 2)), "kernel_size must be .*3 ints"),
    (lambda: F.max_unpool2d(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 2, 3), int), 2),
     r"same shape .*\(1, 1, 2, 2\) and \(1, 1, 2, 3\)"),
    (lambda: F.max_unpool1d(np.zeros((1, 1, 2)), np.zeros((1, 1, 2), int), 2, output_size=[7]),
     r"output_size \(7,\) must lie strictly between \(2,\) and \(6,\)"),
    (lambda: F.adaptive_avg_pool3d(np.zeros((2, 2, 2)), 1), "4-d or 5-d input"),
    (lambda: F.rms_norm(np.zeros((2, 3)), 4), r"shape \(2, 3\) does not end with .*\(4,\)"),
    (lambda: F.rms_norm(np.zeros((2, 3)), 3, np.ones(2)), r"weight has shape \(2,\)"),
    (lambda: F.local_response_norm(np.zeros((2, 3)), 2), r"3-d or higher .*shape \(2, 3\)"),
    (lambda: F.BatchNorm3d(2)(np.zeros((2, 2, 3, 3))), r"expected 5D input .*\(2, 2, 3, 3\)"),
    (lambda: F.BatchNorm3d(2)(np.zeros((2, 3, 1, 2, 2))), "has 3 channels .*expected 2"),
    (lambda: F.InstanceNorm1d(2)(np.zeros((2, 2, 3, 3))), "expected 2D or 3D input"),
    (lambda: F.InstanceNorm3d(2, affine=True)(np.zeros((1, 3, 2, 2, 2))),
     r"match num_features \(2\), but got: 3"),
])
def test_errors_name_the_argument_and_shapes(call, match):
    with pytest.raises(ValueError, match=match):
        call()
