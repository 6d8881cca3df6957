"""The layers of tests/layer_cases.py under the transforms, without torch: `jit` agrees with
eager (outputs and updated buffers), per-example gradients from `vmap(grad)` agree with a
Python loop, and `ft.save`/`ft.load` round-trip every layer (buffers included). Plus the
functional forms' derivatives against finite differences (float64, order 2, both modes)."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads

from layer_cases import CASES, ours_forward

F = ft.nn


def first(out):
    return out[0] if isinstance(out, tuple) else out


def assert_trees_close(a, b, rtol=1e-12, atol=1e-12):
    la, ta = ft.tree_util.tree_flatten(a)
    lb, tb = ft.tree_util.tree_flatten(b)
    assert ta == tb
    for x, y in zip(la, lb):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_layer_under_jit_and_checkpoints(case, tmp_path):
    rng = np.random.default_rng(0)
    model = case.ours(ft.random.key(0), np.float64)
    inputs = [fnp.asarray(a) for a in case.inputs(rng)]
    step = ft.jit(lambda m, *xs: ours_forward(case, m, xs))
    for mode in case.modes:
        m = model.train(mode == "train")
        out, new = ours_forward(case, m, inputs)
        j_out, j_new = step(m, *inputs)
        assert_trees_close(j_out, out)
        assert_trees_close(j_new, new)
        ft.save(tmp_path / "layer.ftz", new)
        loaded = ft.load(tmp_path / "layer.ftz", like=m)
        assert_trees_close(loaded, new, rtol=0, atol=0)
        assert repr(loaded) == repr(new)


@pytest.mark.parametrize("case", [c for c in CASES if c.batched], ids=lambda c: c.name)
def test_per_example_gradients_match_a_loop(case):
    rng = np.random.default_rng(1)
    model = case.ours(ft.random.key(0), np.float64)
    model = ft.tree_map(lambda p: p + 0.1 * rng.standard_normal(p.shape)
                        if np.issubdtype(p.dtype, np.floating) else p, model)
    x, = [fnp.asarray(a) for a in case.inputs(rng)]
    wrt_input = case.float_args == (0,)
    argnums = (0, 1) if wrt_input else 0

    def loss(m, xb):
        out = first(ours_forward(case, m.eval(), [xb])[0])
        return fnp.sum(fnp.sin(out))
    per_example = ft.vmap(ft.grad(lambda m, xi: loss(m, xi[None]), argnums=argnums),
                          in_axes=(None, 0))(model, x)
    for i in range(x.shape[0]):
        want = ft.grad(loss, argnums=argnums)(model, x[i:i + 1])
        got = ft.tree_map(lambda g: g[i], per_example)
        assert_trees_close(got, want if not wrt_input else (want[0], want[1][0]), rtol=1e-10,
                           atol=1e-12)


def test_batchnorm_statistics_over_a_vmap_axis_equal_the_whole_batch():
    """BatchNorm2d(axis_name=...) under vmap with one example per lane computes the batch
    statistics across lanes (pmean): outputs, new buffers and gradients equal the batched
    layer's."""
    rng = np.random.default_rng(2)
    x = fnp.asarray(rng.standard_normal((6, 3, 4, 4)))
    bn = F.BatchNorm2d(3, momentum=None, axis_name="batch", dtype=np.float64)
    whole = F.BatchNorm2d(3, momentum=None, dtype=np.float64)

    def lane(m, xi):
        out, new = ft.nn.stateful(m)(xi[None])
        return out[0], new
    out, new = ft.vmap(lane, in_axes=(None, 0), out_axes=(0, None), axis_name="batch")(bn, x)
    want, want_new = ft.nn.stateful(whole)(x)
    np.testing.assert_allclose(np.asarray(out), np.asarray(want), rtol=1e-12, atol=1e-12)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(np.asarray(getattr(new, name)),
                                   np.asarray(getattr(want_new, name)), rtol=1e-12)

    def loss(m, xb, lanes):
        if lanes:
            out = ft.vmap(lambda xi: ft.nn.stateful(m)(xi[None])[0][0], axis_name="batch")(xb)
        else:
            out = ft.nn.stateful(m)(xb)[0]
        return fnp.sum(fnp.sin(out) * fnp.arange(out.size).reshape(out.shape))
    g_lanes = ft.grad(loss, argnums=(0, 1))(bn, x, True)
    g_whole = ft.grad(loss, argnums=(0, 1))(whole, x, False)
    np.testing.assert_allclose(np.asarray(g_lanes[1]), np.asarray(g_whole[1]), rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(np.asarray(g_lanes[0].weight), np.asarray(g_whole[0].weight),
                               rtol=1e-10)


# ------------------------------------------------------------------ derivatives
def r(*shape, seed=0):
    return fnp.asarray(np.random.default_rng(seed).standard_normal(shape))


FUNCTIONAL = [
    ("batch_norm-train", lambda x, w, b: F.batch_norm(x, None, None, w, b, True),
     [r(4, 2, 3), r(2, seed=1), r(2, seed=2)]),
    ("batch_norm-eval", lambda x, w, rm: F.batch_norm(x, rm, fnp.exp(w), w, None, False),
     [r(3, 2, 2, 2), r(2, seed=1), r(2, seed=2)]),
    ("group_norm", lambda x, w: F.group_norm(x, 2, w, w * 2), [r(2, 4, 3), r(4, seed=1)]),
    ("instance_norm", lambda x: F.instance_norm(x), [r(2, 2, 3, 2)]),
    ("conv1d", lambda x, w: F.conv1d(x, w, stride=2, padding=1, dilation=2),
     [r(2, 2, 7), r(3, 2, 2, seed=1)]),
    ("conv_transpose1d", lambda x, w: F.conv_transpose1d(x, w, stride=2, padding=1,
                                                        output_padding=1, groups=2),
     [r(2, 4, 3), r(4, 1, 3, seed=1)]),
    ("conv_transpose2d", lambda x, w: F.conv_transpose2d(x, w, stride=(2, 1), padding=(0, 1)),
     [r(1, 2, 2, 3), r(2, 3, 2, 3, seed=1)]),
    ("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [r(1, 2, 5, 4)]),
    ("adaptive_max_pool2d", lambda x: F.adaptive_max_pool2d(x, (2, 3)), [r(1, 2, 5, 4)]),
    ("interpolate-bilinear", lambda x: F.interpolate(x, scale_factor=1.5, mode="bilinear"),
     [r(1, 2, 3, 3)]),
    ("interpolate-nearest", lambda x: F.interpolate(x, size=(4, 5)), [r(1, 1, 3, 2)]),
    ("embedding_bag-sum", lambda w, psw: F.embedding_bag(
        np.array([1, 2, 2, 0, 4]), w, np.array([0, 2]), mode="sum", per_sample_weights=psw),
     [r(5, 3), r(5, seed=1)]),
    ("embedding_bag-max", lambda w: F.embedding_bag(np.array([[1, 2, 4], [0, 3, 3]]), w,
                                                    mode="max"), [r(5, 3)]),
]


def test_batchnorm_statistics_over_a_pmap_axis_equal_the_whole_batch():
    """BatchNorm1d(axis_name=...) in float32 under pmap (over this process's devices) gives
    the whole batch's statistics, as under vmap."""
    rng = np.random.default_rng(3)
    n = ft.local_device_count()
    x = rng.standard_normal((n, 8, 3)).astype(np.float32)
    out, new = ft.pmap(lambda m, xi: ft.nn.stateful(m)(xi), axis_name="batch",
                       in_axes=(None, 0))(F.BatchNorm1d(3, axis_name="batch"), x)
    want, want_new = ft.nn.stateful(F.BatchNorm1d(3))(fnp.asarray(x.reshape(n * 8, 3)))
    np.testing.assert_allclose(np.asarray(out).reshape(n * 8, 3), np.asarray(want), rtol=1e-5,
                               atol=1e-6)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(np.asarray(getattr(new, name))[0],
                                   np.asarray(getattr(want_new, name)), rtol=1e-5)


@pytest.mark.parametrize("fn,args", [c[1:] for c in FUNCTIONAL], ids=[c[0] for c in FUNCTIONAL])
def test_functional_derivatives(fn, args):
    check_grads(fn, tuple(args), order=2, modes=("fwd", "rev"))
