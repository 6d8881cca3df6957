"""The reshaping layers of `ft.nn` (padding, pixel and channel shuffles, the upsampling
aliases, fold / unfold): values, derivatives, errors and printing against PyTorch (skipped
without torch), finite-difference derivatives, and `jit` / `vmap` against eager."""
import inspect

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import functrans as ft
from functrans.test_util import check_grads

F = ft.nn.functional
MODES = ("constant", "reflect", "replicate", "circular")

# (input shape, pad): odd sizes, 1-3 padded axes, batched and unbatched, negative entries
PAD_CASES = [
    ((2, 3, 5), (1, 2)),
    ((3, 7), (3, 0)),
    ((2, 3, 5), (-1, 2)),
    ((2, 3, 5), (4, -2)),
    ((2, 3, 5), (-1, -1)),
    ((2, 3, 4, 5), (1, 2, 3, 0)),
    ((3, 5, 4), (0, 3, 2, 1)),
    ((2, 3, 5, 4), (-1, 2, 1, -2)),
    ((1, 2, 3, 4, 5), (1, 2, 0, 1, 2, 2)),
    ((2, 3, 4, 3), (2, 1, -1, 1, 2, 0)),
]


def _rand(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _torch_vjp(fn, x, ct, torch):
    t = torch.from_numpy(x).requires_grad_()
    (fn(t) * torch.from_numpy(ct)).sum().backward()
    return t.grad.numpy()


def _our_vjp(fn, x, ct):
    out, back = ft.vjp(fn, x)
    return np.asarray(back(ct.astype(x.dtype))[0])


# ------------------------------------------------------------------ F.pad
def _torch_pad_ok(shape, pad, mode, torch):
    try:
        torch.nn.functional.pad(torch.zeros(shape), pad, mode=mode)
        return True
    except (RuntimeError, NotImplementedError):
        return False


def _wraps_past_the_crop(shape, pad):
    pairs = [pad[i:i + 2] for i in range(0, len(pad), 2)]
    return any(max(lo, hi) > n - max(-lo, 0) - max(-hi, 0)
               for n, (lo, hi) in zip(shape[::-1], pairs))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape,pad", PAD_CASES)
def test_pad_values_and_gradients_match_torch(shape, pad, mode):
    torch = pytest.importorskip("torch")
    if mode == "circular" and _wraps_past_the_crop(shape, pad):
        # PyTorch reads memory it never wrote there (see the test below)
        with pytest.raises(ValueError, match="left after cropping"):
            F.pad(np.zeros(shape), pad, mode=mode)
        return
    if not _torch_pad_ok(shape, pad, mode, torch):
        # a combination PyTorch rejects must be rejected here too
        with pytest.raises(ValueError, match="pad"):
            F.pad(np.zeros(shape), pad, mode=mode)
        return
    x = _rand(shape)
    want = torch.nn.functional.pad(torch.from_numpy(x), pad, mode=mode)
    got = F.pad(x, pad, mode=mode)
    assert got.shape == tuple(want.shape)
    np.testing.assert_array_equal(np.asarray(got), want.numpy())
    ct = _rand(want.shape, 1)
    np.testing.assert_allclose(
        _our_vjp(lambda a: F.pad(a, pad, mode=mode), x, ct),
        _torch_vjp(lambda a: torch.nn.functional.pad(a, pad, mode=mode), x, ct, torch),
        rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("case", [
    ((2, 3, 5), (2, 2), 1.5, np.float32),
    ((2, 3, 5), (1, 1), 2.7, np.int64),          # the value is cast to the input's dtype
    ((2, 3, 5), (1, 1, 1, 1, 1, 1), -1.0, np.float64),   # every axis of a 3-d input
    ((5,), (2, 3), 3.0, np.float64),             # constant padding takes any rank
    ((2, 3, 4, 5, 2), (1, 0, 0, 2), None, np.float32),
    ((2, 3, 5), (-2, -3), None, np.float64),     # cropped to nothing
    ((2, 3, 5), [1, 2], 0.0, np.float64),        # a list
])
def test_constant_pad_any_rank_and_value_match_torch(case):
    torch = pytest.importorskip("torch")
    shape, pad, value, dtype = case
    x = (_rand(shape) * 3).astype(dtype)
    want = torch.nn.functional.pad(torch.from_numpy(x), pad, value=value)
    got = F.pad(x, pad, value=value)
    assert got.dtype == dtype
    np.testing.assert_array_equal(np.asarray(got), want.numpy())


# (shape, pad, mode, value, what our message says)
PAD_ERRORS = [
    ((2, 3, 5), (1, 2, 3), "constant", None, "odd length"),
    ((2, 3), (1, 1, 1, 1, 1, 1), "constant", None, r"shape \(2, 3\) has only 2"),
    ((2, 3, 5), (-3, -3), "constant", None, r"crops 6 elements from axis 2"),
    ((2, 3, 1), (-2, 1), "constant", None, r"crops 2 elements from axis 2"),
    ((2, 3, 5), (5, 0), "reflect", None, r"less than its size 5"),
    ((2, 3, 5), (0, 6), "reflect", None, r"less than its size 5"),
    ((2, 3, 5), (-2, 5), "reflect", None, r"less than its size 5"),
    ((2, 3, 5), (-2, -3), "reflect", None, r"sizes \(0,\).*must leave one"),
    ((2, 3, 3, 5), (1, -6, -2, -1), "replicate", None, r"sizes \(0, 0\)"),
    ((2, 3, 5), (-3, -3), "replicate", None, "negative size -1"),
    ((2, 3, 5, 4), (0, 0, -3, -3), "replicate", None, "negative size -1"),
    ((2, 3, 5), (6, 6), "circular", None, "more than once"),
    ((2, 3, 5), (-3, -3), "circular", None, "negative size"),
    ((2, 3, 4, 5), (1, 1), "reflect", None, "3-d input"),
    ((5,), (1, 1), "replicate", None, "2-d or 3-d input"),
    ((2, 3), (1, 1, 1, 1), "circular", None, "3-d or 4-d"),
    ((2, 3, 5), (1, 1), "reflect", 2.0, "takes no value"),
    ((2, 3, 5), (1, 1), "wrap", None, "mode must be"),
    ((2, 3, 0), (1, 1), "replicate", None, "empty"),
]


@pytest.mark.parametrize("shape,pad,mode,value,match", PAD_ERRORS)
def test_pad_errors_name_the_problem(shape, pad, mode, value, match):
    with pytest.raises(ValueError, match=match):
        F.pad(np.zeros(shape), pad, mode=mode, value=value)
    torch = pytest.importorskip("torch")
    with pytest.raises((RuntimeError, NotImplementedError, IndexError)):
        torch.nn.functional.pad(torch.zeros(shape), pad, mode=mode, value=value)


def _pad_reference(x, pairs, mode):
    """NumPy's pad of the positive entries and slicing for the negative ones, in PyTorch's
    order (circular crops first, the others pad first); None where PyTorch refuses (or, for
    circular padding past what cropping left, reads memory it never wrote). `pairs` are the
    padded (last) axes' (low, high)."""
    padded_axes = len(pairs)
    pairs = [(0, 0)] * (x.ndim - padded_axes) + pairs
    out, keep, sizes = [], [], []
    for n, (lo, hi) in zip(x.shape, pairs):
        kept = n - max(-lo, 0) - max(-hi, 0)
        size = n + lo + hi
        if mode == "constant" and kept < 0 or \
                mode == "reflect" and (lo >= n or hi >= n) or \
                mode == "circular" and max(lo, hi) > kept or \
                size < 0:
            return None
        sizes.append(size)
        keep.append(slice(max(-lo, 0), n - max(-hi, 0)))
        out.append((max(lo, 0), max(hi, 0)))
    if mode in ("reflect", "replicate") and not any(sizes[-padded_axes:]):
        return None
    if mode == "circular":
        return np.pad(x[tuple(keep)], out, mode="wrap")
    padded = np.pad(x, out, mode={"constant": "constant", "reflect": "reflect",
                                  "replicate": "edge"}[mode])
    return padded[tuple(slice(max(-lo, 0), padded.shape[i] - max(-hi, 0))
                        for i, (lo, hi) in enumerate(pairs))]


@st.composite
def pad_problems(draw):
    mode = draw(st.sampled_from(MODES))
    k = draw(st.integers(1, 3))
    lead = draw(st.integers(1, 2))
    shape = tuple(draw(st.integers(1, 3)) for _ in range(lead)) + \
        tuple(draw(st.integers(1, 5)) for _ in range(k))
    pairs = [(draw(st.integers(-n, n)), draw(st.integers(-n, n))) for n in shape[lead:]]
    return mode, shape, pairs


@settings(max_examples=150, deadline=None)
@given(pad_problems())
def test_pad_matches_a_numpy_reference_or_refuses(problem):
    mode, shape, pairs = problem
    x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    pad = tuple(v for pair in pairs[::-1] for v in pair)
    want = _pad_reference(x, pairs, mode)
    if want is None:
        with pytest.raises(ValueError, match="pad"):
            F.pad(x, pad, mode=mode)
    else:
        np.testing.assert_array_equal(np.asarray(F.pad(x, pad, mode=mode)), want)


def test_constant_pad_value_may_be_traced_and_differentiated():
    x = np.ones((2, 3))
    got = ft.jit(lambda a, v: F.pad(a, (1, 1), value=v))(x, 2.0)
    np.testing.assert_array_equal(np.asarray(got), np.pad(x, ((0, 0), (1, 1)),
                                                          constant_values=2.0))
    assert float(ft.grad(lambda v: F.pad(x, (1, 2), value=v).sum())(2.0)) == 6.0


def test_pad_rejects_a_non_tuple_pad():
    with pytest.raises(TypeError, match="tuple of ints"):
        F.pad(np.zeros((2, 3)), 1)
    with pytest.raises(TypeError, match="tuple of ints"):
        F.pad(np.zeros((2, 3)), (1.5, 1))


def test_circular_pad_with_cropping_wraps_what_is_left():
    # PyTorch crops first, then wraps around the rest (its kernel reads memory it never
    # wrote when a pad exceeds what is left, which is an error here)
    x = np.arange(5.0).reshape(1, 1, 5)
    np.testing.assert_array_equal(np.asarray(F.pad(x, (-1, 2), mode="circular"))[0, 0],
                                  [1, 2, 3, 4, 1, 2])
    with pytest.raises(ValueError, match="3 left after cropping"):
        F.pad(x, (4, -2), mode="circular")


@pytest.mark.parametrize("mode", MODES)
def test_pad_derivatives_order_two(mode):
    x = _rand((2, 4, 3), 3)
    check_grads(lambda a: F.pad(a, (2, 1, -1, 2), mode=mode), (x,), order=2,
                modes=("fwd", "rev"))
    check_grads(lambda a: F.pad(a, (1, 2), mode=mode) ** 2, (x,), order=2,
                modes=("fwd", "rev"))


@pytest.mark.parametrize("mode", MODES)
def test_pad_jit_and_vmap_agree_with_eager(mode):
    xs = _rand((3, 2, 4, 5), 4)
    pad = (2, 1, 1, -1)
    fn = lambda a: F.pad(a, pad, mode=mode)          # noqa: E731
    np.testing.assert_array_equal(np.asarray(ft.jit(fn)(xs)), np.asarray(fn(xs)))
    # 3-d slices: a batched 2-d padding in every mode
    want = np.stack([np.asarray(fn(a)) for a in xs])
    for axis in (0, 1, 3):
        np.testing.assert_array_equal(
            np.asarray(ft.vmap(fn, in_axes=axis)(np.moveaxis(xs, 0, axis))), want)


# ------------------------------------------------------------------ padding layers
LAYERS = [(kind + str(nd) + "d", nd) for kind in ("ZeroPad", "ConstantPad", "ReflectionPad",
                                                  "ReplicationPad", "CircularPad")
          for nd in (1, 2, 3)]


@pytest.mark.parametrize("name,nd", LAYERS)
def test_padding_layers_match_torch(name, nd):
    torch = pytest.importorskip("torch")
    args = (1.5,) if name.startswith("Constant") else ()
    x = _rand((2, 3) + (5, 4, 3)[:nd], 5)
    for padding in (2, tuple(i % 3 for i in range(1, 2 * nd + 1)), (-1, 2) * nd):
        ours = getattr(ft.nn, name)(padding, *args)
        theirs = getattr(torch.nn, name)(padding, *args)
        assert repr(ours) == repr(theirs)
        np.testing.assert_array_equal(np.asarray(ours(x)), theirs(torch.from_numpy(x)).numpy())
        np.testing.assert_array_equal(np.asarray(ours(x[0])),
                                      theirs(torch.from_numpy(x[0])).numpy())
    assert repr(getattr(ft.nn, name)([1] * (2 * nd), *args)) == \
        repr(getattr(torch.nn, name)([1] * (2 * nd), *args))


def test_padding_layer_checks_its_padding_length():
    with pytest.raises(ValueError, match=r"ReflectionPad2d: padding must be an int or 4 ints "
                                         r"\(left, right, top, bottom\), got \(1, 2\)"):
        ft.nn.ReflectionPad2d((1, 2))


def test_padding_layers_are_static_pytrees_under_jit():
    layer = ft.nn.ConstantPad2d((1, 0, 2, 1), -2.0)
    assert ft.tree_util.tree_leaves(layer) == []
    x = _rand((2, 3, 4))
    np.testing.assert_array_equal(np.asarray(ft.jit(lambda m, a: m(a))(layer, x)),
                                  np.asarray(layer(x)))


# ------------------------------------------------------------------ pixel and channel shuffles
SHUFFLE_SHAPES = [(2, 8, 3, 5), (12, 1, 3), (3, 2, 18, 2, 1)]


@pytest.mark.parametrize("shape", SHUFFLE_SHAPES)
def test_pixel_shuffles_match_torch(shape):
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    x = _rand(shape, 6)
    for r in (1, 2, 3):
        if shape[-3] % (r * r):
            continue
        want = TF.pixel_shuffle(torch.from_numpy(x), r)
        np.testing.assert_array_equal(np.asarray(F.pixel_shuffle(x, r)), want.numpy())
        np.testing.assert_array_equal(np.asarray(ft.nn.PixelShuffle(r)(x)), want.numpy())
        back = TF.pixel_unshuffle(want, r)
        np.testing.assert_array_equal(np.asarray(F.pixel_unshuffle(want.numpy(), r)),
                                      back.numpy())
        ct = _rand(want.shape, 7)
        np.testing.assert_allclose(
            _our_vjp(lambda a: F.pixel_shuffle(a, r), x, ct),
            _torch_vjp(lambda a: TF.pixel_shuffle(a, r), x, ct, torch), rtol=1e-15)
    assert repr(ft.nn.PixelShuffle(2)) == repr(torch.nn.PixelShuffle(2))
    assert repr(ft.nn.PixelUnshuffle(3)) == repr(torch.nn.PixelUnshuffle(3))


@pytest.mark.parametrize("shape", [(2, 6, 3, 5), (1, 12, 2), (2, 4, 1, 2, 3, 1)])
def test_channel_shuffle_matches_torch(shape):
    torch = pytest.importorskip("torch")
    x = _rand(shape, 8)
    for groups in (1, 2, shape[1]):
        want = torch.nn.functional.channel_shuffle(torch.from_numpy(x), groups).numpy()
        np.testing.assert_array_equal(np.asarray(F.channel_shuffle(x, groups)), want)
        np.testing.assert_array_equal(np.asarray(F.native_channel_shuffle(x, groups)), want)
        np.testing.assert_array_equal(np.asarray(ft.nn.ChannelShuffle(groups)(x)), want)
    assert repr(ft.nn.ChannelShuffle(2)) == repr(torch.nn.ChannelShuffle(2))


def test_shuffles_invert_and_differentiate():
    x = _rand((2, 18, 4, 6), 9)
    np.testing.assert_array_equal(np.asarray(F.pixel_unshuffle(F.pixel_shuffle(x, 3), 3)), x)
    # shuffling by g, then by C / g, restores the order
    np.testing.assert_array_equal(np.asarray(F.channel_shuffle(F.channel_shuffle(x, 3), 6)), x)
    for fn in (lambda a: F.pixel_shuffle(a, 3) ** 2, lambda a: F.pixel_unshuffle(a, 2) ** 2,
               lambda a: F.channel_shuffle(a, 3) ** 2):
        check_grads(fn, (x,), order=2, modes=("fwd", "rev"))
        np.testing.assert_array_equal(np.asarray(ft.jit(fn)(x)), np.asarray(fn(x)))
    xs = _rand((3, 2, 18, 2, 4), 10)
    for fn in (lambda a: F.pixel_shuffle(a, 3), lambda a: F.channel_shuffle(a, 2)):
        want = np.stack([np.asarray(fn(a)) for a in xs])
        for axis in (0, 2, 4):
            np.testing.assert_array_equal(
                np.asarray(ft.vmap(fn, in_axes=axis)(np.moveaxis(xs, 0, axis))), want)


@pytest.mark.parametrize("call,match", [
    (lambda: F.pixel_shuffle(np.zeros((2, 8, 3, 5)), 3), r"channel axis \(size 8.*divisible by "
                                                         r"upscale_factor \*\* 2 = 9"),
    (lambda: F.pixel_shuffle(np.zeros((8, 3)), 2), "at least 3 dimensions"),
    (lambda: F.pixel_shuffle(np.zeros((2, 8, 3, 5)), 0), "upscale_factor must be a positive"),
    (lambda: F.pixel_unshuffle(np.zeros((2, 2, 5, 4)), 2), "height 5 and width 4"),
    (lambda: F.channel_shuffle(np.zeros((2, 8)), 2), "more than 2 dimensions"),
    (lambda: F.channel_shuffle(np.zeros((2, 8, 3)), 3), "8 channels.*groups=3"),
    (lambda: ft.nn.ChannelShuffle(0), "groups must be a positive int"),
])
def test_shuffle_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ------------------------------------------------------------------ upsampling aliases
@pytest.mark.filterwarnings("ignore:`nn.functional.upsample` is deprecated")
def test_upsampling_aliases_match_torch():
    torch = pytest.importorskip("torch")
    x = _rand((2, 3, 4, 5), 11)
    T = torch.from_numpy(x)
    for kwargs in ({"scale_factor": 2}, {"size": (7, 3)}, {"size": 5}, {"scale_factor": 1.5}):
        for name, fname in (("UpsamplingNearest2d", "upsample_nearest"),
                            ("UpsamplingBilinear2d", "upsample_bilinear")):
            ours, theirs = getattr(ft.nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
            assert repr(ours) == repr(theirs)
            want = theirs(T).numpy()
            np.testing.assert_allclose(np.asarray(ours(x)), want, rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(np.asarray(getattr(F, fname)(x, **kwargs)), want,
                                       rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(
            np.asarray(F.upsample(x, mode="bilinear", **kwargs)),
            torch.nn.functional.upsample(T, mode="bilinear", **kwargs).numpy(),
            rtol=1e-12, atol=1e-14)
    ct = _rand((2, 3, 9, 4), 12)
    np.testing.assert_allclose(
        _our_vjp(lambda a: ft.nn.UpsamplingBilinear2d((9, 4))(a), x, ct),
        _torch_vjp(lambda a: torch.nn.UpsamplingBilinear2d((9, 4))(a), x, ct, torch),
        rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------ fold / unfold
# (spatial size, kernel_size, dilation, padding, stride)
GEOMETRIES = [
    ((5, 6), 2, 1, 0, 1),
    ((5, 6), (2, 3), 2, 1, (2, 1)),
    ((7, 4), 3, 1, 1, 2),
    ((4, 4), 4, 1, 0, 1),
    ((6, 5), (1, 2), (2, 1), (0, 2), (3, 2)),
]


@pytest.mark.parametrize("spatial,kernel_size,dilation,padding,stride", GEOMETRIES)
def test_unfold_and_fold_match_torch(spatial, kernel_size, dilation, padding, stride):
    torch = pytest.importorskip("torch")
    TF = torch.nn.functional
    args = dict(kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride)
    x = _rand((2, 3) + spatial, 13)
    want = TF.unfold(torch.from_numpy(x), **args)
    np.testing.assert_array_equal(np.asarray(F.unfold(x, **args)), want.numpy())
    np.testing.assert_array_equal(np.asarray(ft.nn.Unfold(**args)(x)), want.numpy())
    np.testing.assert_array_equal(np.asarray(F.unfold(x[0], **args)),
                                  TF.unfold(torch.from_numpy(x[0]), **args).numpy())
    cols = _rand(tuple(want.shape), 14)
    back = TF.fold(torch.from_numpy(cols), spatial, **args).numpy()
    np.testing.assert_allclose(np.asarray(F.fold(cols, spatial, **args)), back, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(ft.nn.Fold(spatial, **args)(cols)), back, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(F.fold(cols[0], spatial, **args)),
                               TF.fold(torch.from_numpy(cols[0]), spatial, **args).numpy(),
                               rtol=1e-14)
    np.testing.assert_allclose(
        _our_vjp(lambda a: F.unfold(a, **args), x, cols),
        _torch_vjp(lambda a: TF.unfold(a, **args), x, cols, torch), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(
        _our_vjp(lambda a: F.fold(a, spatial, **args), cols, x),
        _torch_vjp(lambda a: TF.fold(a, spatial, **args), cols, x, torch), rtol=1e-14)
    assert repr(ft.nn.Unfold(**args)) == repr(torch.nn.Unfold(**args))
    assert repr(ft.nn.Fold(spatial, **args)) == repr(torch.nn.Fold(spatial, **args))


@pytest.mark.parametrize("spatial,kernel_size,dilation,padding,stride", GEOMETRIES)
def test_fold_of_unfold_multiplies_by_the_overlap_count(spatial, kernel_size, dilation,
                                                        padding, stride):
    args = dict(kernel_size=kernel_size, dilation=dilation, padding=padding, stride=stride)
    x = _rand((2, 3) + spatial, 15)
    counts = np.asarray(F.fold(F.unfold(np.ones_like(x), **args), spatial, **args))
    np.testing.assert_allclose(np.asarray(F.fold(F.unfold(x, **args), spatial, **args)),
                               x * counts, rtol=1e-14)
    # the count is the number of blocks covering each pixel, counted directly
    k, d, p, s = (ft.nn._utils.ntuple(v, 2, n) for v, n in
                  ((kernel_size, "k"), (dilation, "d"), (padding, "p"), (stride, "s")))
    direct = np.zeros(spatial)
    blocks = [(n + 2 * pi - di * (ki - 1) - 1) // si + 1
              for n, ki, di, pi, si in zip(spatial, k, d, p, s)]
    for bi in range(blocks[0]):
        for bj in range(blocks[1]):
            for i in range(k[0]):
                for j in range(k[1]):
                    r, c = bi * s[0] - p[0] + i * d[0], bj * s[1] - p[1] + j * d[1]
                    if 0 <= r < spatial[0] and 0 <= c < spatial[1]:
                        direct[r, c] += 1
    np.testing.assert_array_equal(counts[0, 0], direct)


def test_fold_unfold_derivatives_jit_and_vmap():
    args = dict(kernel_size=(2, 3), dilation=(1, 2), padding=1, stride=(2, 1))
    x = _rand((2, 2, 5, 6), 16)
    cols = np.asarray(F.unfold(x, **args))
    check_grads(lambda a: F.unfold(a, **args) ** 2, (x,), order=2, modes=("fwd", "rev"))
    check_grads(lambda a: F.fold(a, (5, 6), **args) ** 2, (cols,), order=2,
                modes=("fwd", "rev"))
    for fn, arg in ((lambda a: F.unfold(a, **args), x), (lambda a: F.fold(a, (5, 6), **args),
                                                         cols)):
        np.testing.assert_array_equal(np.asarray(ft.jit(fn)(arg)), np.asarray(fn(arg)))
    xs = _rand((3, 2, 5, 6), 17)            # vmap over unbatched (C, H, W) images
    cs = np.stack([np.asarray(F.unfold(a, **args)) for a in xs])
    for fn, batch in ((lambda a: F.unfold(a, **args), xs),
                      (lambda a: F.fold(a, (5, 6), **args), cs)):
        want = np.stack([np.asarray(fn(a)) for a in batch])
        for axis in (0, 1, batch.ndim - 1):
            np.testing.assert_allclose(
                np.asarray(ft.vmap(fn, in_axes=axis)(np.moveaxis(batch, 0, axis))), want,
                rtol=1e-14)


@pytest.mark.parametrize("call,match", [
    (lambda: F.unfold(np.zeros((2, 3, 4, 5, 6)), 2), r"4-d \(N, C, H, W\) or 3-d"),
    (lambda: F.unfold(np.zeros((2, 3, 5, 6)), 7), r"holds \(-1, 0\) sliding blocks"),
    (lambda: F.unfold(np.zeros((2, 3, 5, 6)), 0), "kernel_size must be positive"),
    (lambda: F.unfold(np.zeros((2, 3, 5, 6)), 2, stride=0), "stride must be positive"),
    (lambda: F.unfold(np.zeros((2, 3, 5, 6)), 2, padding=-1), "padding must be non-negative"),
    (lambda: F.unfold(np.zeros((2, 3, 5, 6)), (2, 2, 2)), "kernel_size must be an int or 2"),
    (lambda: F.fold(np.zeros((2, 12, 21)), (5, 6), 2), r"4 \* 5 = 20 sliding blocks, but the "
                                                       r"input \(shape \(2, 12, 21\)\) has 21"),
    (lambda: F.fold(np.zeros((2, 13, 20)), (5, 6), 2), r"size 13.*product of kernel_size"),
    (lambda: F.fold(np.zeros((2, 12, 20, 1)), (5, 6), 2), "3-d"),
    (lambda: ft.nn.Fold((5, 6), 2, dilation=0), "Fold: dilation must be positive"),
])
def test_fold_unfold_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


NEW_LAYERS = [name for name, _ in LAYERS] + ["PixelShuffle", "PixelUnshuffle", "ChannelShuffle",
                                             "UpsamplingNearest2d", "UpsamplingBilinear2d",
                                             "Fold", "Unfold"]


@pytest.mark.parametrize("name", NEW_LAYERS)
def test_constructor_arguments_and_defaults_are_pytorchs(name):
    torch = pytest.importorskip("torch")
    theirs = inspect.signature(getattr(torch.nn, name)).parameters
    ours = inspect.signature(getattr(ft.nn, name)).parameters
    assert [(n, p.default, p.kind) for n, p in ours.items()] == \
        [(n, p.default, p.kind) for n, p in theirs.items()]
