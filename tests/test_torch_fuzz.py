"""Property-based parity of functrans.nn.functional against PyTorch in float64: hypothesis
draws random valid configurations (stride, padding, dilation, groups, modes, reductions, ...)
and inputs; forward values and the gradients of input and weights are compared with torch's.
Skipped without torch. HYPOTHESIS_PROFILE=thorough draws 8 times as many examples.
"""
import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import functrans as ft
import functrans.numpy as fnp
import functrans.nn.functional as F
from fuzzing import fuzz_settings

torch = pytest.importorskip("torch")
TF = torch.nn.functional

FUZZ = fuzz_settings(3)


def compare(ours, theirs, arrays, grad=None, rtol=1e-9, atol=1e-10):
    """Run `ours(*arrays)` and `theirs(*tensors)`; compare the output and, for the arrays
    numbered in `grad` (default: every float array), their gradients under one cotangent.
    Where torch refuses the case, functrans must refuse it too."""
    grad = [i for i, a in enumerate(arrays) if a is not None and a.dtype.kind == "f"] \
        if grad is None else grad
    targs = [None if a is None else torch.from_numpy(np.array(a)) for a in arrays]
    for i in grad:
        targs[i].requires_grad_()
    try:
        t_out = theirs(*targs)
    except (RuntimeError, ValueError):
        with pytest.raises((ValueError, TypeError, IndexError)):
            ours(*[None if a is None else fnp.asarray(a) for a in arrays])
        return
    want = t_out.detach().numpy()
    if not grad:
        got = ours(*[None if a is None else fnp.asarray(a) for a in arrays])
        np.testing.assert_allclose(np.asarray(got), want, rtol=rtol, atol=atol, err_msg="output")
        return

    def f(*gs):
        xs = list(arrays)
        for i, g in zip(grad, gs):
            xs[i] = g
        return ours(*[None if a is None else fnp.asarray(a) if i not in grad else a
                      for i, a in enumerate(xs)])
    out, vjp_fn = ft.vjp(f, *[fnp.asarray(arrays[i]) for i in grad])
    np.testing.assert_allclose(np.asarray(out), want, rtol=rtol, atol=atol, err_msg="output")
    if not t_out.requires_grad:
        return
    ct = np.random.default_rng(1).standard_normal(want.shape)
    t_out.backward(torch.from_numpy(ct))
    gs = vjp_fn(fnp.asarray(ct))
    for i, g in zip(grad, gs):
        tg = targs[i].grad
        tg = np.zeros(arrays[i].shape) if tg is None else tg.numpy()
        np.testing.assert_allclose(np.asarray(g), tg, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of argument {i}")


def randn(data, shape):
    seed = data.draw(st.integers(0, 2**16), label="seed")
    return np.random.default_rng(seed).standard_normal(shape)


# ---------------------------------------------------------------- convolution

@st.composite
def conv_case(draw, nd, transpose):
    groups = draw(st.integers(1, 3))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    k = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dil = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    size = tuple(draw(st.integers(dil[i] * (k[i] - 1) + 1, 7)) for i in range(nd))
    n = draw(st.integers(1, 2))
    bias = draw(st.booleans())
    kw = dict(groups=groups, dilation=dil, stride=stride)
    if transpose:
        kw["padding"] = tuple(draw(st.integers(0, dil[i] * (k[i] - 1))) for i in range(nd))
        kw["output_padding"] = tuple(draw(st.integers(0, max(stride[i], dil[i]) - 1))
                                     for i in range(nd))
        wshape = (cin, cout // groups) + k
    else:
        pad = draw(st.sampled_from(["int", "tuple", "valid", "same"]))
        if pad == "same":
            kw["stride"] = 1
            kw["padding"] = "same"
        elif pad == "valid":
            kw["padding"] = "valid"
        elif pad == "int":
            kw["padding"] = draw(st.integers(0, 2))
        else:
            kw["padding"] = tuple(draw(st.integers(0, 2)) for _ in range(nd))
        if draw(st.booleans()):     # plain ints where all equal
            kw["dilation"] = dil[0]
        wshape = (cout, cin // groups) + k
    return (n, cin) + size, wshape, (cout if not transpose else cout), bias, kw


def _run_conv(data, nd, transpose):
    xs, ws, nb, bias, kw = data.draw(conv_case(nd, transpose), label="case")
    name = f"conv_transpose{nd}d" if transpose else f"conv{nd}d"
    arrays = [randn(data, xs), randn(data, ws), randn(data, (nb,)) if bias else None]
    compare(lambda x, w, b: getattr(F, name)(x, w, b, **kw),
            lambda x, w, b: getattr(TF, name)(x, w, b, **kw), arrays)


@pytest.mark.parametrize("nd", [1, 2, 3])
@FUZZ
@given(data=st.data())
def test_conv(nd, data):
    _run_conv(data, nd, False)


@pytest.mark.parametrize("nd", [1, 2, 3])
@FUZZ
@given(data=st.data())
def test_conv_transpose(nd, data):
    _run_conv(data, nd, True)


@FUZZ
@given(data=st.data())
def test_conv_padding_mode(data):
    mode = data.draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    nd = data.draw(st.integers(1, 2))
    k = data.draw(st.integers(1, 3))
    pad = data.draw(st.integers(0, k - 1 if mode != "zeros" else 2))
    stride = data.draw(st.integers(1, 2))
    size = (1, 2) + (data.draw(st.integers(max(k, pad + 1), 6)),) * nd
    x = randn(data, size)
    kw = dict(in_channels=2, out_channels=3, kernel_size=k, stride=stride, padding=pad,
              padding_mode=mode, dtype=torch.float64)
    conv = getattr(torch.nn, f"Conv{nd}d")(**kw)
    kw["dtype"] = np.float64
    ours = getattr(ft.nn, f"Conv{nd}d")(key=ft.random.key(0), **kw)
    ours = ours.load_state_dict(conv.state_dict())
    compare(lambda x: ours(x), lambda x: conv(x), [x])


# ---------------------------------------------------------------- pooling

@st.composite
def pool_case(draw, nd, kind):
    k = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = draw(st.one_of(st.none(), st.tuples(*[st.integers(1, 3)] * nd)))
    pad = tuple(draw(st.integers(0, k[i] // 2)) for i in range(nd))
    kw = dict(kernel_size=k, stride=stride, padding=pad,
              ceil_mode=draw(st.booleans()))
    span = list(k)
    if kind == "max":
        dil = tuple(draw(st.integers(1, 2)) for _ in range(nd))
        kw["dilation"] = dil
        span = [dil[i] * (k[i] - 1) + 1 for i in range(nd)]
    else:
        kw["count_include_pad"] = draw(st.booleans())
        if nd >= 2:
            kw["divisor_override"] = draw(st.one_of(st.none(), st.integers(1, 5)))
    size = (draw(st.integers(1, 2)), draw(st.integers(1, 2))) \
        + tuple(draw(st.integers(span[i], max(span[i], 7 if nd < 3 else 4))) for i in range(nd))
    return size, kw


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("kind", ["max", "avg"])
@FUZZ
@given(data=st.data())
def test_pool(kind, nd, data):
    size, kw = data.draw(pool_case(nd, kind), label="case")
    x = randn(data, size)
    name = f"{kind}_pool{nd}d"
    compare(lambda x: getattr(F, name)(x, **kw), lambda x: getattr(TF, name)(x, **kw), [x])
    if kind == "max":
        _, got = getattr(F, name)(fnp.asarray(x), return_indices=True, **kw)
        _, want = getattr(TF, name)(torch.from_numpy(x), return_indices=True, **kw)
        np.testing.assert_array_equal(np.asarray(got), want.numpy())
        if kw["dilation"] == (1,) * nd and kw["stride"] in (None, kw["kernel_size"]):
            # overlapping windows may repeat an index: torch's gradient then differs
            unpool = f"max_unpool{nd}d"
            ukw = dict(kernel_size=kw["kernel_size"], stride=kw["stride"], padding=kw["padding"])
            y = randn(data, tuple(want.shape))
            compare(lambda y, i: getattr(F, unpool)(y, i, **ukw),
                    lambda y, i: getattr(TF, unpool)(y, i, **ukw), [y, want.numpy()], grad=[0])


@pytest.mark.parametrize("nd", [1, 2])
@FUZZ
@given(data=st.data())
def test_lp_pool(nd, data):
    k = data.draw(st.integers(1, 3))
    p = data.draw(st.sampled_from([1.0, 2.0, 3.0]))
    kw = dict(kernel_size=k, stride=data.draw(st.one_of(st.none(), st.integers(1, 3))),
              ceil_mode=data.draw(st.booleans()))
    x = np.abs(randn(data, (2, 2) + (data.draw(st.integers(k, 6)),) * nd)) + 0.1
    name = f"lp_pool{nd}d"
    compare(lambda x: getattr(F, name)(x, p, **kw), lambda x: getattr(TF, name)(x, p, **kw),
            [x], rtol=1e-8)


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("kind", ["max", "avg"])
@FUZZ
@given(data=st.data())
def test_adaptive_pool(kind, nd, data):
    size = (2, 2) + tuple(data.draw(st.integers(1, 7)) for _ in range(nd))
    out = tuple(data.draw(st.one_of(st.none(), st.integers(1, 5))) for _ in range(nd))
    out = out[0] if nd == 1 else out
    if nd == 1 and out is None:
        out = 3
    x = randn(data, size)
    name = f"adaptive_{kind}_pool{nd}d"
    compare(lambda x: getattr(F, name)(x, out), lambda x: getattr(TF, name)(x, out), [x])
    if kind == "max":
        _, got = getattr(F, name)(fnp.asarray(x), out, return_indices=True)
        _, want = getattr(TF, name)(torch.from_numpy(x), out, return_indices=True)
        np.testing.assert_array_equal(np.asarray(got), want.numpy())


# ---------------------------------------------------------------- resizing, shapes

SCALES = [0.5, 0.7, 1.0, 1.2, 1.4, 1.5, 2.0, 2.5, 3.0]
MODES = {1: ["nearest", "nearest-exact", "linear", "area"],
         2: ["nearest", "nearest-exact", "bilinear", "bicubic", "area"],
         3: ["nearest", "nearest-exact", "trilinear", "area"]}


@pytest.mark.parametrize("nd", [1, 2, 3])
@FUZZ
@given(data=st.data())
def test_interpolate(nd, data):
    mode = data.draw(st.sampled_from(MODES[nd]))
    size = (1, 2) + tuple(data.draw(st.integers(2, 5)) for _ in range(nd))
    kw = dict(mode=mode)
    if data.draw(st.booleans()):
        kw["size"] = tuple(data.draw(st.integers(1, 7)) for _ in range(nd))
    else:
        kw["scale_factor"] = data.draw(st.sampled_from(SCALES))
        if mode != "area":
            kw["recompute_scale_factor"] = data.draw(st.booleans())
    if mode in ("linear", "bilinear", "bicubic", "trilinear"):
        kw["align_corners"] = data.draw(st.booleans())
    if mode in ("bilinear", "bicubic") and data.draw(st.booleans()):
        kw["antialias"] = True
    x = randn(data, size)
    out = TF.interpolate(torch.from_numpy(x), **kw).shape[2:]
    # torch's antialiased kernel repeats the first output row when the output width is 1
    assume(not (kw.get("antialias") and out[-1] == 1 and out[0] > 1))
    # torch's backward (not its forward) takes an axis that keeps its size as a copy there
    torch_bwd_wrong = "scale_factor" in kw and not kw.get("recompute_scale_factor") and \
        kw["scale_factor"] != 1.0 and any(o == s for o, s in zip(out, size[2:])) and \
        (mode == "bicubic" and not kw.get("antialias") or mode == "nearest" and nd != 2)
    compare(lambda x: F.interpolate(x, **kw), lambda x: TF.interpolate(x, **kw), [x],
            grad=[] if torch_bwd_wrong else [0])


@FUZZ
@given(data=st.data())
def test_unfold_fold(data):
    k = tuple(data.draw(st.integers(1, 3)) for _ in range(2))
    dil = tuple(data.draw(st.integers(1, 2)) for _ in range(2))
    pad = tuple(data.draw(st.integers(0, 2)) for _ in range(2))
    stride = tuple(data.draw(st.integers(1, 3)) for _ in range(2))
    hw = tuple(data.draw(st.integers(max(1, dil[i] * (k[i] - 1) + 1 - 2 * pad[i]), 7))
               for i in range(2))
    kw = dict(kernel_size=k, dilation=dil, padding=pad, stride=stride)
    x = randn(data, (2, 2) + hw)
    compare(lambda x: F.unfold(x, **kw), lambda x: TF.unfold(x, **kw), [x])
    blocks = TF.unfold(torch.from_numpy(x), **kw).shape
    y = randn(data, tuple(blocks))
    compare(lambda y: F.fold(y, hw, **kw), lambda y: TF.fold(y, hw, **kw), [y])


@FUZZ
@given(data=st.data())
def test_pixel_shuffle(data):
    r = data.draw(st.integers(1, 3))
    x = randn(data, (2, data.draw(st.integers(1, 2)) * r * r, 2, 3))
    compare(lambda x: F.pixel_shuffle(x, r), lambda x: TF.pixel_shuffle(x, r), [x])
    y = randn(data, (2, 2, 2 * r, 3 * r))
    compare(lambda x: F.pixel_unshuffle(x, r), lambda x: TF.pixel_unshuffle(x, r), [y])


@FUZZ
@given(data=st.data())
def test_pad(data):
    mode = data.draw(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
    nd = data.draw(st.integers(1, 3))
    size = (2, 2) + tuple(data.draw(st.integers(1, 4)) for _ in range(nd))
    lim = {"reflect": lambda s: s - 1, "circular": lambda s: s}.get(mode, lambda s: 3)
    npad = nd if mode != "constant" else data.draw(st.integers(1, nd + 2))
    pads = []
    for i in range(npad):
        s = size[-1 - i]
        lo = -s + 1 if mode == "constant" else 0
        pads += [data.draw(st.integers(min(lo, lim(s)), max(0, lim(s)))) for _ in range(2)]
    kw = dict(mode=mode)
    if mode == "constant":
        kw["value"] = data.draw(st.sampled_from([0.0, 1.5]))
    x = randn(data, size)
    compare(lambda x: F.pad(x, pads, **kw), lambda x: TF.pad(x, pads, **kw), [x])


# ---------------------------------------------------------------- normalization

@FUZZ
@given(data=st.data())
def test_layer_norm(data):
    shape = tuple(data.draw(st.integers(1, 4)) for _ in range(data.draw(st.integers(1, 4))))
    m = data.draw(st.integers(1, len(shape)))
    ns = shape[-m:]
    affine = data.draw(st.booleans())
    eps = data.draw(st.sampled_from([1e-5, 0.1]))
    arrays = [randn(data, shape), randn(data, ns) if affine else None,
              randn(data, ns) if affine and data.draw(st.booleans()) else None]
    compare(lambda x, w, b: F.layer_norm(x, ns, w, b, eps),
            lambda x, w, b: TF.layer_norm(x, ns, w, b, eps), arrays, rtol=1e-8)


@FUZZ
@given(data=st.data())
def test_group_norm(data):
    g = data.draw(st.integers(1, 3))
    c = g * data.draw(st.integers(1, 2))
    shape = (data.draw(st.integers(1, 3)), c) + tuple(
        data.draw(st.integers(1, 3)) for _ in range(data.draw(st.integers(0, 2))))
    assume(math.prod(shape) > g)      # torch refuses one value per group
    affine = data.draw(st.booleans())
    arrays = [randn(data, shape), randn(data, (c,)) if affine else None,
              randn(data, (c,)) if affine else None]
    compare(lambda x, w, b: F.group_norm(x, g, w, b),
            lambda x, w, b: TF.group_norm(x, g, w, b), arrays, rtol=1e-8)


@FUZZ
@given(data=st.data())
def test_batch_norm(data):
    c = data.draw(st.integers(1, 3))
    shape = (data.draw(st.integers(2, 3)), c) + tuple(
        data.draw(st.integers(1, 3)) for _ in range(data.draw(st.integers(0, 2))))
    training = data.draw(st.booleans())
    affine = data.draw(st.booleans())
    momentum = data.draw(st.sampled_from([0.1, 0.5]))
    rm, rv = randn(data, (c,)), np.abs(randn(data, (c,))) + 0.5
    arrays = [randn(data, shape), randn(data, (c,)) if affine else None,
              randn(data, (c,)) if affine else None]
    trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
    compare(lambda x, w, b: F.batch_norm(x, fnp.asarray(rm), fnp.asarray(rv), w, b,
                                         training, momentum)[0 if training else slice(None)],
            lambda x, w, b: TF.batch_norm(x, trm, trv, w, b, training, momentum),
            arrays, rtol=1e-8)
    if training:        # torch updates its running statistics in place
        _, mean, var = F.batch_norm(fnp.asarray(arrays[0]), fnp.asarray(rm), fnp.asarray(rv),
                                    training=True, momentum=momentum)
        np.testing.assert_allclose(np.asarray(mean), trm.numpy(), rtol=1e-10)
        np.testing.assert_allclose(np.asarray(var), trv.numpy(), rtol=1e-10)


@FUZZ
@given(data=st.data())
def test_instance_norm(data):
    c = data.draw(st.integers(1, 3))
    shape = (data.draw(st.integers(1, 3)), c) + tuple(
        data.draw(st.integers(2, 3)) for _ in range(data.draw(st.integers(1, 3))))
    stats = data.draw(st.booleans())
    affine = data.draw(st.booleans())
    rm, rv = randn(data, (c,)), np.abs(randn(data, (c,))) + 0.5
    arrays = [randn(data, shape), randn(data, (c,)) if affine else None,
              randn(data, (c,)) if affine else None]
    trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())

    def ours(x, w, b):
        out = F.instance_norm(x, fnp.asarray(rm), fnp.asarray(rv), w, b, use_input_stats=stats)
        return out[0] if isinstance(out, tuple) else out
    compare(ours, lambda x, w, b: TF.instance_norm(x, trm, trv, w, b, use_input_stats=stats),
            arrays, rtol=1e-8)


@FUZZ
@given(data=st.data())
def test_grid_sample(data):
    nd = data.draw(st.integers(2, 3))
    kw = dict(mode=data.draw(st.sampled_from(["bilinear", "nearest"] + ["bicubic"] * (nd == 2))),
              padding_mode=data.draw(st.sampled_from(["zeros", "border", "reflection"])),
              align_corners=data.draw(st.booleans()))
    x = randn(data, (2, 2) + tuple(data.draw(st.integers(1, 4)) for _ in range(nd)))
    grid = 1.3 * randn(data, (2,) + tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
                       + (nd,))
    grad = [0, 1] if kw["mode"] != "nearest" else [0]
    compare(lambda x, g: F.grid_sample(x, g, **kw), lambda x, g: TF.grid_sample(x, g, **kw),
            [x, grid], grad=grad, rtol=1e-8)


# ---------------------------------------------------------------- embedding

@FUZZ
@given(data=st.data())
def test_embedding(data):
    n, d = data.draw(st.integers(2, 6)), data.draw(st.integers(1, 4))
    ids = np.asarray(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=8)))
    ids = ids.reshape(data.draw(st.sampled_from([(-1,), (1, -1)])))
    padding_idx = data.draw(st.one_of(st.none(), st.integers(-n, n - 1)))
    max_norm = data.draw(st.one_of(st.none(), st.sampled_from([0.5, 1.0, 2.0])))
    kw = dict(padding_idx=padding_idx, max_norm=max_norm,
              scale_grad_by_freq=data.draw(st.booleans()))
    # torch renormalizes (its copy of) the weight in place; the gradient treats it as fixed
    compare(lambda i, w: F.embedding(i, w, **kw), lambda i, w: TF.embedding(i, w, **kw),
            [ids, randn(data, (n, d))], grad=[1])


@FUZZ
@given(data=st.data())
def test_embedding_bag(data):
    n, d = data.draw(st.integers(2, 6)), data.draw(st.integers(1, 3))
    mode = data.draw(st.sampled_from(["sum", "mean", "max"]))
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    ids = rng.integers(0, n, data.draw(st.integers(1, 8)))
    offsets = np.unique(np.concatenate([[0], rng.integers(0, len(ids) + 1, 2)]))
    last = data.draw(st.booleans())
    if last:        # torch reads the final bag up to the end of input, whatever the offset
        offsets = np.unique(np.concatenate([offsets, [len(ids)]]))
    kw = dict(mode=mode, include_last_offset=last,
              padding_idx=data.draw(st.one_of(st.none(), st.integers(0, n - 1))))
    arrays = [ids, randn(data, (n, d)), offsets]
    if mode == "sum" and data.draw(st.booleans()):
        arrays.append(randn(data, ids.shape))
    else:
        arrays.append(None)
    compare(lambda i, w, o, p: F.embedding_bag(i, w, o, per_sample_weights=p, **kw),
            lambda i, w, o, p: TF.embedding_bag(i, w, o, per_sample_weights=p, **kw),
            arrays, grad=[1] + [3] * (arrays[3] is not None))


# ---------------------------------------------------------------- losses

POINTWISE = {
    "mse_loss": {}, "l1_loss": {}, "soft_margin_loss": {},
    "smooth_l1_loss": {"beta": [0.0, 0.5, 1.0]}, "huber_loss": {"delta": [0.5, 1.0, 2.0]},
    "kl_div": {"log_target": [False, True]},
    "poisson_nll_loss": {"log_input": [False, True], "full": [False, True]},
    "binary_cross_entropy": {}, "binary_cross_entropy_with_logits": {},
    "multilabel_soft_margin_loss": {}, "hinge_embedding_loss": {"margin": [0.5, 1.0]},
}

TARGET_GRAD = {"mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "kl_div",
               "binary_cross_entropy_with_logits"}


@pytest.mark.parametrize("name", sorted(POINTWISE))
@FUZZ
@given(data=st.data())
def test_pointwise_loss(name, data):
    shape = tuple(data.draw(st.integers(1, 3)) for _ in range(data.draw(st.integers(1, 3))))
    if name == "multilabel_soft_margin_loss":
        shape = (shape + (2,))[:2]
    kw = {k: data.draw(st.sampled_from(v)) for k, v in POINTWISE[name].items()}
    kw["reduction"] = data.draw(st.sampled_from(["none", "mean", "sum"]))
    x, t = randn(data, shape), randn(data, shape)
    if name in ("binary_cross_entropy", "poisson_nll_loss") and not kw.get("log_input"):
        x = 1 / (1 + np.exp(-x))
    if name in ("binary_cross_entropy", "binary_cross_entropy_with_logits",
                "multilabel_soft_margin_loss"):
        t = 1 / (1 + np.exp(-t))
    elif name in ("soft_margin_loss", "hinge_embedding_loss"):
        t = np.sign(t) + (t == 0)
    elif name == "poisson_nll_loss":
        t = np.round(np.abs(t) * 3)
    elif name == "kl_div" and not kw["log_target"]:
        t = np.abs(t)
    compare(lambda x, t: getattr(F, name)(x, t, **kw),
            lambda x, t: getattr(TF, name)(x, t, **kw), [x, t], rtol=1e-8,
            grad=[0, 1] if name in TARGET_GRAD else [0])


@FUZZ
@given(data=st.data())
def test_cross_entropy(data):
    n, c = data.draw(st.integers(1, 4)), data.draw(st.integers(2, 4))
    extra = tuple(data.draw(st.integers(1, 2)) for _ in range(data.draw(st.integers(0, 2))))
    unbatched = not extra and data.draw(st.booleans())
    shape = (c,) if unbatched else (n, c) + extra
    tshape = shape[:0] if unbatched else (n,) + extra
    kw = dict(reduction=data.draw(st.sampled_from(["none", "mean", "sum"])),
              label_smoothing=data.draw(st.sampled_from([0.0, 0.1, 0.5])))
    weight = np.abs(randn(data, (c,))) + 0.1 if data.draw(st.booleans()) else None
    x = randn(data, shape)
    if data.draw(st.booleans()):    # class indices
        ignore = data.draw(st.sampled_from([-100, 0, 1]))
        kw["ignore_index"] = ignore
        t = np.random.default_rng(data.draw(st.integers(0, 99))).integers(0, c, tshape)
        if ignore >= 0 and (t != ignore).sum() == 0 and kw["reduction"] == "mean":
            t = np.full(tshape, 1 - ignore)
    else:
        t = np.random.default_rng(data.draw(st.integers(0, 99))).random(shape)
        t = t / t.sum(axis=0 if unbatched else 1, keepdims=True)
    compare(lambda x, t, w: F.cross_entropy(x, t, w, **kw),
            lambda x, t, w: TF.cross_entropy(x, t, w, **kw), [x, t, weight], grad=[0])


@FUZZ
@given(data=st.data())
def test_nll_loss(data):
    n, c = data.draw(st.integers(1, 4)), data.draw(st.integers(2, 4))
    extra = tuple(data.draw(st.integers(1, 2)) for _ in range(data.draw(st.integers(0, 2))))
    reduction = data.draw(st.sampled_from(["none", "mean", "sum"]))
    ignore = data.draw(st.sampled_from([-100, 0, 1]))
    weight = np.abs(randn(data, (c,))) + 0.1 if data.draw(st.booleans()) else None
    t = np.random.default_rng(data.draw(st.integers(0, 99))).integers(0, c, (n,) + extra)
    if (t != ignore).sum() == 0:
        t[...] = 1 - ignore
    kw = dict(reduction=reduction, ignore_index=ignore)
    compare(lambda x, t, w: F.nll_loss(x, t, w, **kw),
            lambda x, t, w: TF.nll_loss(x, t, w, **kw),
            [randn(data, (n, c) + extra), t, weight], grad=[0])


@FUZZ
@given(data=st.data())
def test_ctc_loss(data):
    T, n, c = data.draw(st.integers(4, 8)), data.draw(st.integers(1, 3)), data.draw(
        st.integers(2, 4))
    blank = data.draw(st.integers(0, c - 1))
    rng = np.random.default_rng(data.draw(st.integers(0, 99)))
    in_len = rng.integers(T // 2, T + 1, n)
    tgt_len = np.array([rng.integers(1, max(2, L // 2)) for L in in_len])
    labels = [lab for lab in range(c) if lab != blank]
    tgt = rng.choice(labels, (n, int(tgt_len.max())))
    kw = dict(blank=blank, reduction=data.draw(st.sampled_from(["none", "mean", "sum"])),
              zero_infinity=data.draw(st.booleans()))
    lp = randn(data, (T, n, c))
    compare(lambda lp, t, il, tl: F.ctc_loss(ft.nn.log_softmax(lp, -1), t, il, tl, **kw),
            lambda lp, t, il, tl: TF.ctc_loss(lp.log_softmax(-1), t, il, tl, **kw),
            [lp, tgt, in_len, tgt_len], grad=[0], rtol=1e-8)


# ---------------------------------------------------------------- regressions found by the fuzz

@pytest.mark.parametrize("shape", [(1, 1, 2), (1, 1, 2, 2, 2), (1, 1, 3)])
@pytest.mark.parametrize("scale", [1.2, 2.4])
def test_nearest_1d_3d_uses_scale_factor_when_size_keeps_or_doubles(shape, scale):
    """1-d and 3-d "nearest" with scale_factor=1.2 on a length-2 axis (output length 2) read
    source floor(i / 1.2) = [0, 0], not [0, 1]; 2.4 gives [0, 0, 0, 1], not i >> 1."""
    x = np.arange(float(np.prod(shape))).reshape(shape)
    got = F.interpolate(fnp.asarray(x), scale_factor=scale)
    want = TF.interpolate(torch.from_numpy(x), scale_factor=scale)
    np.testing.assert_array_equal(np.asarray(got), want.numpy())


def test_nearest_2d_keeps_torch_shortcut():
    x = np.arange(4.0).reshape(1, 1, 2, 2)
    got = F.interpolate(fnp.asarray(x), scale_factor=1.2)
    np.testing.assert_array_equal(np.asarray(got), x)


@pytest.mark.parametrize("kw", [dict(size=(3, 7), align_corners=False),
                                dict(size=(1, 4), align_corners=True),
                                dict(scale_factor=1.4, align_corners=False),
                                dict(scale_factor=(0.7, 2.5), align_corners=True)])
def test_bicubic(kw):
    """"bicubic" was refused; it now matches torch, with float64 derivatives checked by
    finite differences, under jit and vmap."""
    x = np.random.default_rng(0).standard_normal((2, 2, 2, 3))
    want = TF.interpolate(torch.from_numpy(x), mode="bicubic", **kw).numpy()

    def f(x):
        return F.interpolate(x, mode="bicubic", **kw)
    np.testing.assert_allclose(np.asarray(f(fnp.asarray(x))), want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(ft.jit(f)(fnp.asarray(x))), want, rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(np.asarray(ft.vmap(f)(fnp.asarray(x[:, None]))[:, 0]), want,
                               rtol=1e-12, atol=1e-14)
    ft.test_util.check_grads(f, (fnp.asarray(x),), order=1, modes=("rev",))


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("kw", [dict(size=(2, 9), align_corners=False),
                                dict(scale_factor=0.4, align_corners=True),
                                dict(scale_factor=(0.3, 1.7), align_corners=False)])
def test_antialias(mode, kw):
    """antialias=True was refused; it now matches torch (filter stretched when downscaling,
    normalized weights), with float64 derivatives checked by finite differences."""
    x = np.random.default_rng(0).standard_normal((2, 2, 8, 7))
    want = TF.interpolate(torch.from_numpy(x), mode=mode, antialias=True, **kw).numpy()

    def f(x):
        return F.interpolate(x, mode=mode, antialias=True, **kw)
    np.testing.assert_allclose(np.asarray(f(fnp.asarray(x))), want, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(ft.jit(f)(fnp.asarray(x))), want, rtol=1e-12,
                               atol=1e-14)
    ft.test_util.check_grads(f, (fnp.asarray(x),), order=1, modes=("rev",))
