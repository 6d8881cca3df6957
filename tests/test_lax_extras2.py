"""More `jax.lax` names (`functrans/lax/extras.py`, `functrans/lax/products.py`,
`functrans/primitives/rng.py`, `igamma_grad_a`): values against JAX where it is installed and
against closed forms or loops without it, float64 derivatives against finite differences,
jit and vmap against eager code and Python loops, and bad arguments."""
import math

import numpy as np
import pytest
import scipy.special

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads

L = ft.lax
rng = np.random.default_rng(7)
UINTS = [np.uint8, np.uint16, np.uint32, np.uint64]
INTS = [np.int8, np.int16, np.int32, np.int64] + UINTS
M32 = 2 ** 32


def _close(got, want, **kw):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape,
                                                                 got.dtype, want.dtype)
    np.testing.assert_allclose(got, want, **kw)


# ------------------------------------------------------------------ rng_bit_generator
KEYS = [[11, 22, 33, 44], [11, 22, M32 - 1, 44], [M32 - 1, M32 - 1, M32 - 2, M32 - 1]]
SHAPES = [(), (3,), (2, 3), (3, 5), (4, 6), (2, 2, 3), (3, 7, 5), (1, 1), (0,), (3, 0, 5)]


@pytest.mark.parametrize("algorithm", list(L.RandomAlgorithm))
@pytest.mark.parametrize("dtype", UINTS)
def test_rng_bit_generator_matches_jax(jax_x64, algorithm, dtype):
    jl = jax_x64.lax
    for key in KEYS:
        for shape in SHAPES:
            new, bits = L.rng_bit_generator(np.array(key, np.uint32), shape, dtype, algorithm)
            jnew, jbits = jl.rng_bit_generator(np.array(key, np.uint32), shape, dtype,
                                               jl.RandomAlgorithm(int(algorithm)))
            np.testing.assert_array_equal(np.asarray(new), np.asarray(jnew))
            _close(bits, jbits, rtol=0)


@pytest.mark.parametrize("algorithm, per_block", [(1, 2), (2, 4), (0, 4)])
def test_rng_bit_generator_advances_the_counter_past_its_blocks(algorithm, per_block):
    key = np.array([5, 6, M32 - 1, 9], np.uint32)
    for shape, dtype in [((7,), np.uint32), ((7,), np.uint8), ((3,), np.uint64), ((), np.uint16)]:
        new, bits = L.rng_bit_generator(key, shape, dtype, algorithm)
        n = math.prod(shape) * (2 if np.dtype(dtype).itemsize == 8 else 1)
        if algorithm == 1:              # Threefry: one block per uint64, halves of the shape
            blocks = math.prod(shape) if dtype == np.uint64 else \
                -(-math.prod(shape or (1,)) // 2) if len(shape) < 2 else None
        else:
            blocks = -(-n // per_block)
        counter = (int(key[3]) << 32 | int(key[2])) + blocks
        assert np.asarray(new).tolist() == [5, 6, counter % M32, (counter >> 32) % M32]
        assert bits.shape == shape and bits.dtype == dtype
    # different keys, different bits; a key gives the same bits again
    a = L.rng_bit_generator(key, (64,))[1]
    np.testing.assert_array_equal(a, L.rng_bit_generator(key, (64,))[1])
    assert np.mean(np.asarray(a) == np.asarray(L.rng_bit_generator(new, (64,))[1])) < 0.1


def test_rng_bit_generator_jit_and_vmap():
    keys = rng.integers(0, M32, (4, 4), dtype=np.uint32)
    for algorithm in (1, 2):
        def f(k):
            return L.rng_bit_generator(k, (3, 2), np.uint16, algorithm)
        loop = [f(k) for k in keys]
        for got in (ft.vmap(f)(keys), ft.jit(ft.vmap(f))(keys)):
            for i, want in enumerate(loop):
                np.testing.assert_array_equal(got[0][i], want[0])
                np.testing.assert_array_equal(got[1][i], want[1])
        np.testing.assert_array_equal(ft.jit(f)(keys[0])[1], loop[0][1])


def test_rng_bit_generator_bad_arguments():
    key = np.arange(4, dtype=np.uint32)
    with pytest.raises(TypeError, match="unsupported dtype int32"):
        L.rng_bit_generator(key, (3,), np.int32)
    with pytest.raises(TypeError, match=r"shape \(4,\)"):
        L.rng_bit_generator(np.arange(2, dtype=np.uint32), (3,))
    with pytest.raises(TypeError, match="uint32"):
        L.rng_bit_generator(np.arange(4, dtype=np.int32), (3,))
    with pytest.raises(ValueError):
        L.rng_bit_generator(key, (3,), algorithm=7)


# ------------------------------------------------------------------ rng_uniform
def test_rng_uniform_draws_in_range_each_call():
    a = L.rng_uniform(2.0, 5.0, (1000,))
    assert a.dtype == np.float32 and a.shape == (1000,)
    assert 2.0 <= float(a.min()) and float(a.max()) < 5.0 and abs(float(a.mean()) - 3.5) < 0.2
    assert not np.array_equal(a, L.rng_uniform(2.0, 5.0, (1000,)))
    i = L.rng_uniform(np.int32(-3), np.int32(4), (2000,))
    assert i.dtype == np.int32 and set(np.asarray(i).tolist()) == set(range(-3, 4))
    f = ft.jit(lambda lo: L.rng_uniform(lo, np.float64(1.0), (50,)))
    first, second = f(np.float64(0.5)), f(np.float64(0.5))
    assert first.dtype == np.float64 and not np.array_equal(first, second)
    assert 0.5 <= float(fnp.min(first)) and float(fnp.max(second)) < 1.0
    lows = np.array([0.0, 10.0, 20.0])
    got = np.asarray(ft.vmap(lambda lo: L.rng_uniform(lo, lo + 1.0, (4,)))(lows))
    assert got.shape == (3, 4) and np.all((got >= lows[:, None]) & (got < lows[:, None] + 1))


def test_rng_uniform_bad_arguments():
    with pytest.raises(TypeError, match="must be scalars"):
        L.rng_uniform(np.zeros(3), np.ones(3), (3,))
    with pytest.raises(TypeError, match="mixed dtypes"):
        L.rng_uniform(np.float32(0), np.float64(1), (3,))
    with pytest.raises(NotImplementedError, match="not differentiable"):
        ft.grad(lambda a: L.rng_uniform(a, 2.0, ()))(1.0)


# ------------------------------------------------------------------ clz, mulhi
def _ints(dtype, n=40):
    info = np.iinfo(dtype)
    edges = [0, 1, info.max, info.min, info.max - 1, info.min + 1]
    return np.concatenate([np.array(edges, dtype),
                           rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True)])


@pytest.mark.parametrize("dtype", INTS)
def test_clz_and_mulhi_match_python_integers(dtype):
    width = 8 * np.dtype(dtype).itemsize
    x, y = _ints(dtype), _ints(dtype)[::-1].copy()
    want = [width - (int(v) % 2 ** width).bit_length() for v in x]
    _close(L.clz(x), np.array(want, dtype), rtol=0)
    want = [(int(a) * int(b)) >> width for a, b in zip(x, y)]
    _close(L.mulhi(x, y), np.array(want).astype(dtype), rtol=0)
    # jit and vmap against eager
    np.testing.assert_array_equal(ft.jit(L.mulhi)(x, y), L.mulhi(x, y))
    np.testing.assert_array_equal(ft.vmap(L.clz)(x.reshape(2, -1)), L.clz(x).reshape(2, -1))
    np.testing.assert_array_equal(ft.vmap(L.mulhi, (0, None))(x[:4], y[0]),
                                  [L.mulhi(v, y[0]) for v in x[:4]])


@pytest.mark.parametrize("dtype", INTS)
def test_clz_and_mulhi_match_jax(jax_x64, dtype):
    x, y = _ints(dtype), _ints(dtype)[::-1].copy()
    _close(L.clz(x), jax_x64.lax.clz(x), rtol=0)
    _close(L.mulhi(x, y), jax_x64.lax.mulhi(x, y), rtol=0)


def test_clz_and_mulhi_bad_arguments():
    for bad in (np.ones(2), np.array([True])):
        with pytest.raises(TypeError, match="clz does not accept dtype"):
            L.clz(bad)
        with pytest.raises(TypeError, match="mulhi does not accept dtype"):
            L.mulhi(bad, bad)
    with pytest.raises(TypeError, match="mixed dtypes"):
        L.mulhi(np.int32(2), np.int64(3))


# ------------------------------------------------------------------ igamma_grad_a
A = np.array([0.3, 0.7, 1.0, 2.5, 9.0, 30.0])
XS = np.array([0.05, 2.0, 1.0, 0.7, 12.0, 25.0])


def test_igamma_grad_a_against_finite_differences_of_scipy():
    h = 1e-6
    want = (scipy.special.gammainc(A + h, XS) - scipy.special.gammainc(A - h, XS)) / (2 * h)
    _close(L.igamma_grad_a(A, XS), want, rtol=1e-6)
    edge = np.asarray(L.igamma_grad_a(np.array([2.0, 2.0, 0.0, -1.0]),
                                      np.array([0.0, -1.0, 1.0, 1.0])))
    assert edge[0] == 0 and np.isnan(edge[1:]).all()


def test_igamma_grad_a_matches_jax(jax_x64):
    a = np.exp(rng.uniform(np.log(0.05), np.log(50), 300))
    x = np.exp(rng.uniform(np.log(1e-3), np.log(100), 300))
    _close(L.igamma_grad_a(a, x), jax_x64.lax.igamma_grad_a(a, x), rtol=1e-10, atol=1e-14)
    a32, x32 = a.astype(np.float32), x.astype(np.float32)
    _close(L.igamma_grad_a(a32, x32), jax_x64.lax.igamma_grad_a(a32, x32), rtol=1e-4,
           atol=1e-6)


def test_igamma_grad_a_derivatives_jit_vmap():
    check_grads(lambda x: L.igamma_grad_a(A, x), (XS,), order=2)
    with pytest.raises(NotImplementedError, match="shape parameter"):
        ft.grad(lambda a: L.igamma_grad_a(a, 1.5))(2.0)
    # (the series stop once every element has converged: a few ulps from element to element)
    _close(ft.jit(L.igamma_grad_a)(A, XS), L.igamma_grad_a(A, XS), rtol=1e-10)
    _close(ft.vmap(L.igamma_grad_a)(A, XS),
           np.array([float(L.igamma_grad_a(a, x)) for a, x in zip(A, XS)]), rtol=1e-10)


def test_igamma_and_igammac_are_differentiable_in_a(jax_x64):
    for ours, theirs in ((L.igamma, jax_x64.lax.igamma), (L.igammac, jax_x64.lax.igammac)):
        got = ft.vmap(ft.grad(ours, 0))(A, XS)
        _close(got, jax_x64.vmap(jax_x64.grad(theirs, 0))(A, XS), rtol=1e-9, atol=1e-14)
        _close(ft.jit(ft.vmap(ft.grad(ours, 0)))(A, XS), got, rtol=1e-10)
        check_grads(ours, (A, XS), order=1)
        # the mixed second derivative comes from igamma_grad_a's derivative in x
        check_grads(lambda x: ft.vmap(ft.grad(ours, 0))(A, x), (XS,), order=1)


# ------------------------------------------------------------------ ragged products
RDN = L.RaggedDotDimensionNumbers
RAGGED = {      # lhs shape, rhs shape, group sizes, dimension numbers
    "rows": ((7, 3), (3, 3, 4), [2, 4, 0], RDN((((1,), (1,)), ((), ())), (0,), (0,))),
    "rows_batched_sizes": ((2, 7, 3), (3, 2, 3, 4), [[2, 3, 1], [0, 4, 3]],
                           RDN((((2,), (2,)), ((0,), (1,))), (1,), (0,))),
    "rows_outer_axis": ((2, 5, 3), (3, 3, 4), [[2, 3, 0], [1, 1, 1]],
                        RDN((((2,), (1,)), ((), ())), (1,), (0,))),
    "rows_group_axis_last": ((3, 7), (3, 4, 2), [3, 4],
                             RDN((((0,), (0,)), ((), ())), (1,), (2,))),
    "contracted": ((2, 5), (5, 3), [2, 2, 0], RDN((((1,), (0,)), ((), ())), (1,), ())),
    "contracted_batched": ((2, 3, 6), (2, 6, 4), [[2, 4], [3, 1]],
                           RDN((((2,), (1,)), ((0,), (0,))), (2,), ())),
    "batch": ((4, 2, 3), (4, 3, 5), [1, 2], RDN((((2,), (1,)), ((0,), (0,))), (0,), ())),
}


def _ragged_args(name):
    ls, rs, sizes, dn = RAGGED[name]
    return rng.standard_normal(ls), rng.standard_normal(rs), np.array(sizes, np.int32), dn


def test_ragged_dot_against_a_loop():
    lhs, rhs, sizes, _ = _ragged_args("rows")
    want = np.zeros((7, 4))
    start = 0
    for g, size in enumerate(sizes):
        want[start:start + size] = lhs[start:start + size] @ rhs[g]
        start += size
    _close(L.ragged_dot(lhs, rhs, sizes), want, rtol=1e-12, atol=1e-14)
    lhs, rhs, sizes, dn = _ragged_args("contracted")
    got = L.ragged_dot_general(lhs, rhs, sizes, dn)
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    want = [lhs[:, a:b] @ rhs[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    _close(got, np.array(want), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(RAGGED))
def test_ragged_dot_general_matches_jax(jax_x64, name):
    lhs, rhs, sizes, dn = _ragged_args(name)
    jl = jax_x64.lax
    jdn = jl.RaggedDotDimensionNumbers(*dataclass_fields(dn))
    _close(L.ragged_dot_general(lhs, rhs, sizes, dn), jl.ragged_dot_general(lhs, rhs, sizes, jdn),
           rtol=1e-12, atol=1e-14)
    f32 = lhs.astype(np.float32), rhs.astype(np.float32)
    _close(L.ragged_dot_general(*f32, sizes, dn, preferred_element_type=np.float64),
           jl.ragged_dot_general(*f32, sizes, jdn, preferred_element_type=np.float64),
           rtol=1e-6)


def dataclass_fields(dn):
    return dn.dot_dimension_numbers, dn.lhs_ragged_dimensions, dn.rhs_group_dimensions


@pytest.mark.parametrize("name", ["rows", "rows_batched_sizes", "contracted_batched"])
def test_ragged_dot_general_derivatives_jit_vmap(name):
    lhs, rhs, sizes, dn = _ragged_args(name)

    def f(a, b):
        return L.ragged_dot_general(a, b, sizes, dn)
    check_grads(f, (lhs, rhs), order=2)
    _close(ft.jit(f)(lhs, rhs), f(lhs, rhs), rtol=1e-14)
    stacked = np.stack([lhs, 2 * lhs, -lhs])
    _close(ft.vmap(f, (0, None))(stacked, rhs), np.stack([f(a, rhs) for a in stacked]),
           rtol=1e-12, atol=1e-14)
    many = np.stack([sizes, sizes[..., ::-1]])
    _close(ft.vmap(lambda s: L.ragged_dot_general(lhs, rhs, s, dn))(many),
           np.stack([L.ragged_dot_general(lhs, rhs, s, dn) for s in many]), rtol=1e-12,
           atol=1e-14)


def test_ragged_dot_bad_arguments():
    lhs, rhs, sizes, _ = _ragged_args("rows")
    with pytest.raises(TypeError, match="group_sizes.dtype"):
        L.ragged_dot(lhs, rhs, sizes.astype(float))
    with pytest.raises(TypeError, match="expected rhs group dimension size to be 2"):
        L.ragged_dot(lhs, rhs, sizes[:2])
    with pytest.raises(TypeError, match=r"lhs \(m, k\)"):
        L.ragged_dot(lhs[None], rhs, sizes)
    with pytest.raises(NotImplementedError, match="group_offset"):
        L.ragged_dot(lhs, rhs, sizes, group_offset=np.array([1]))
    with pytest.raises(ValueError, match="group_sizes has shape"):
        lhs2, rhs2, _, dn = _ragged_args("rows_batched_sizes")
        L.ragged_dot_general(lhs2, rhs2, np.ones((3, 3), np.int32), dn)


# ------------------------------------------------------------------ patches, local convolution
X = rng.standard_normal((2, 3, 7, 6))
PATCH_CASES = {
    "valid": ((3, 2), (1, 1), "VALID", {}),
    "same_strided": ((3, 3), (2, 1), "SAME", {}),
    "dilated_pairs": ((2, 2), (1, 2), ((1, 0), (2, 1)),
                      dict(lhs_dilation=(2, 1), rhs_dilation=(1, 2))),
}


def _patches_by_loop(x, window, pads):
    n, c = x.shape[:2]
    padded = np.pad(x, [(0, 0), (0, 0)] + list(pads))
    oh, ow = padded.shape[2] - window[0] + 1, padded.shape[3] - window[1] + 1
    out = np.empty((n, c * window[0] * window[1], oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = padded[:, :, i:i + window[0], j:j + window[1]].reshape(n, -1)
    return out


def test_patches_and_local_against_loops():
    got = L.conv_general_dilated_patches(X, (3, 2), (1, 1), ((1, 1), (0, 2)))
    want = _patches_by_loop(X, (3, 2), ((1, 1), (0, 2)))
    _close(got, want, rtol=0)
    w = rng.standard_normal((4, 18, 7, 7))
    got = L.conv_general_dilated_local(X, w, (1, 1), ((1, 1), (0, 2)), (3, 2))
    _close(got, np.einsum("nkhw,okhw->nohw", want, w), rtol=1e-12)


@pytest.mark.parametrize("name", sorted(PATCH_CASES))
def test_patches_and_local_match_jax(jax_x64, name):
    jl = jax_x64.lax
    window, strides, padding, kw = PATCH_CASES[name]
    got = L.conv_general_dilated_patches(X, window, strides, padding, **kw)
    _close(got, jl.conv_general_dilated_patches(X, window, strides, padding, **kw), rtol=0)
    w = rng.standard_normal((4, got.shape[1]) + got.shape[2:])
    _close(L.conv_general_dilated_local(X, w, strides, padding, window, **kw),
           jl.conv_general_dilated_local(X, w, strides, padding, window, **kw), rtol=1e-12)
    dn = ("NHWC", "OIWH", "CNHW")
    xh = np.moveaxis(X, 1, -1)
    got = L.conv_general_dilated_patches(xh, window, strides, padding, dimension_numbers=dn,
                                         **kw)
    _close(got, jl.conv_general_dilated_patches(xh, window, strides, padding,
                                                dimension_numbers=dn, **kw), rtol=0)
    dn = ("NHWC", "HWIO", "NHWC")
    got = L.conv_general_dilated_patches(xh, window, strides, padding, dimension_numbers=dn,
                                         **kw)
    wh = rng.standard_normal(got.shape[1:] + (5,))
    _close(L.conv_general_dilated_local(xh, wh, strides, padding, window, dimension_numbers=dn,
                                        **kw),
           jl.conv_general_dilated_local(xh, wh, strides, padding, window,
                                         dimension_numbers=dn, **kw), rtol=1e-12)
    x32 = X.astype(np.float32)
    _close(L.conv_general_dilated_patches(x32, window, strides, padding,
                                          preferred_element_type=np.float64, **kw),
           jl.conv_general_dilated_patches(x32, window, strides, padding,
                                           preferred_element_type=np.float64, **kw), rtol=0)


def test_patches_and_local_derivatives_jit_vmap():
    x = X[:, :, :4, :4]
    w = rng.standard_normal((2, 12, 4, 2))

    def patches(v):
        return L.conv_general_dilated_patches(v, (2, 2), (1, 2), "SAME", rhs_dilation=(1, 2))

    def local(v, k):
        return L.conv_general_dilated_local(v, k, (1, 2), "SAME", (2, 2), rhs_dilation=(1, 2))
    check_grads(patches, (x,), order=2)
    check_grads(local, (x, w), order=2)
    _close(ft.jit(local)(x, w), local(x, w), rtol=1e-14)
    _close(ft.vmap(local, (None, 0))(x, np.stack([w, -2 * w])),
           np.stack([local(x, w), local(x, -2 * w)]), rtol=1e-12)
    _close(ft.vmap(patches)(np.stack([x, x + 1])), np.stack([patches(x), patches(x + 1)]),
           rtol=0)


def test_patches_and_local_bad_arguments():
    with pytest.raises(ValueError, match="filter_shape"):
        L.conv_general_dilated_patches(X, (3,), (1,), "VALID")
    with pytest.raises(ValueError, match="does not fit"):
        L.conv_general_dilated_patches(X, (9, 2), (1, 1), "VALID")
    with pytest.raises(ValueError, match="18 input features"):
        L.conv_general_dilated_local(X, np.ones((4, 17, 5, 5)), (1, 1), "VALID", (3, 2))


# ------------------------------------------------------------------ fft, empty, broadcast_like
def test_fft_names_empty_broadcast_like_match_jax(jax_x64):
    jl = jax_x64.lax
    x = rng.standard_normal((3, 8)) + 1j * rng.standard_normal((3, 8))
    for t, v, n in [("fft", x, (8,)), ("IFFT", x, (3, 8)), (L.FftType.RFFT, x.real, (8,)),
                    ("irfft", x[:, :5], (8,))]:
        jt = t if isinstance(t, str) else jl.FftType(int(t))
        _close(L.fft(v, t, n), jl.fft(v, jt, n), rtol=1e-12, atol=1e-12)
    assert [(m.name, m.value) for m in L.FftType] == [(m.name, m.value) for m in jl.FftType]
    _close(L.empty((2, 3), np.int16), jl.empty((2, 3), np.int16), rtol=0)
    assert L.empty(3, "float32").shape == (3,)
    for arr, like in [(np.arange(3.0), np.zeros((2, 3))), (np.ones((2, 1)), np.zeros((4, 2, 3))),
                      (np.float32(2), np.zeros(2))]:
        _close(L.broadcast_like(arr, like), jl.broadcast_like(arr, like), rtol=0)
    assert [(m.name, m.value) for m in L.RandomAlgorithm] == \
        [(m.name, m.value) for m in jl.RandomAlgorithm]
    assert [(m.name, m.value) for m in L.DotAlgorithmPreset] == \
        [(m.name, m.value) for m in jl.DotAlgorithmPreset]
    assert L.DotAlgorithm._fields == jl.DotAlgorithm._fields


def test_fft_empty_broadcast_like_bad_arguments():
    with pytest.raises(ValueError, match="Unknown FFT type 'jax_fft'"):
        L.fft(np.ones(4), "jax_fft", (4,))
    with pytest.raises(ValueError, match="Unknown FFT type value '1'"):
        L.fft(np.ones(4), 1, (4,))
    with pytest.raises(TypeError, match="empty: shape"):
        L.empty(2.5, np.float32)
    with pytest.raises(ValueError):
        L.broadcast_like(np.ones(3), np.zeros((3, 2)))


def test_dot_algorithms_are_accepted_as_precision():
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    for p in [L.DotAlgorithmPreset.F64_F64_F64, L.DotAlgorithmPreset.DEFAULT,
              L.DotAlgorithm(np.float64, np.float64, np.float64)]:
        _close(L.dot(a, b, precision=p), a @ b, rtol=1e-14)
        _close(L.dot_general(a, b, (((1,), (0,)), ((), ())), precision=p), a @ b, rtol=1e-14)


# ------------------------------------------------------------------ platform_dependent
def test_platform_dependent_picks_the_branch_of_the_device(fake_gpus):
    def f(x):
        return L.platform_dependent(x, cpu=lambda v: v + 1, fakegpu=lambda v: v * 10,
                                    default=lambda v: v - 1)
    assert float(f(fnp.asarray(2.0))) == 3.0
    assert float(ft.jit(f)(2.0)) == 3.0
    on_gpu = ft.device_put(fnp.asarray(2.0), fake_gpus[0])
    assert float(f(on_gpu)) == 20.0 and float(ft.jit(f)(on_gpu)) == 20.0
    assert float(L.platform_dependent(2.0, cuda=lambda v: v * 3, default=lambda v: -v)) == -2.0
    assert float(ft.grad(f)(2.0)) == 1.0
    _close(ft.vmap(f)(np.arange(3.0)), np.arange(3.0) + 1, rtol=0)
    assert L.platform_dependent(cpu=lambda: 3, default=lambda: 4) == 3


def test_platform_dependent_bad_arguments():
    with pytest.raises(ValueError, match=r"no branch for platform '\w+' \(branches for "
                                         r"\['rocm'\]\)"):
        L.platform_dependent(1.0, rocm=lambda v: v)
    with pytest.raises(ValueError, match="Use 'cuda' or 'rocm'"):
        L.platform_dependent(1.0, gpu=lambda v: v, default=lambda v: v)
    with pytest.raises(TypeError, match="same structure"):
        L.platform_dependent(1.0, cpu=lambda v: v, default=lambda v: (v, v))


# ------------------------------------------------------------------ tokens, composite
def test_tokens_pass_through_transforms():
    t = L.create_token()
    assert isinstance(L.after_all(t, L.create_token(fnp.ones(2))), type(t))
    assert isinstance(L.after_all(), type(t))
    x, t2 = ft.jit(lambda v, tok: (v * 2, L.after_all(tok)))(fnp.ones(2), t)
    assert isinstance(t2, type(t)) and float(x[0]) == 2.0
    assert float(ft.grad(lambda v, tok: v * 3)(1.0, t)) == 3.0
    assert ft.tree_util.tree_leaves([t, 1.0]) == [1.0]
    with pytest.raises(TypeError, match="must be tokens"):
        L.after_all(t, fnp.ones(2))


def test_composite_runs_its_decomposition():
    def scaled(x, *, scale):
        return L.sin(x) * scale
    op = L.composite(scaled, name="my.scaled_sin", version=1)
    assert op.__name__ == "scaled"
    x = np.linspace(-1, 1, 5)
    _close(op(x, scale=2.0), 2 * np.sin(x), rtol=1e-14)
    _close(ft.jit(lambda v: op(v, scale=2.0))(x), 2 * np.sin(x), rtol=1e-14)
    _close(ft.vmap(lambda v: op(v, scale=3.0))(x), 3 * np.sin(x), rtol=1e-14)
    check_grads(lambda v: op(v, scale=2.0), (x,), order=2)
    with pytest.raises(TypeError, match="name"):
        L.composite(scaled, name=3)
    with pytest.raises(ValueError, match="version"):
        L.composite(scaled, name="a", version=-1)


def test_composite_matches_jax(jax_x64):
    jl = jax_x64.lax
    x = np.linspace(-1, 1, 5)
    got = L.composite(lambda v, *, k: v ** 2 * k, name="sq")(x, k=3.0)
    _close(got, jl.composite(lambda v, *, k: v ** 2 * k, name="sq")(x, k=3.0), rtol=1e-14)


# ------------------------------------------------------------------ with_sharding_constraint
def test_with_sharding_constraint_checks_and_returns_its_argument(fake_gpus):
    x = fnp.arange(4.0)
    s = x.sharding
    assert L.with_sharding_constraint(x, s) is x
    tree = {"a": x, "b": (x, x)}
    assert L.with_sharding_constraint(tree, s) is tree
    assert L.with_sharding_constraint(tree, {"a": s, "b": s}) is tree
    want = np.arange(4.0, dtype=np.float32) * 2
    _close(ft.jit(lambda v: L.with_sharding_constraint(v * 2, s))(x), want, rtol=0)
    _close(ft.grad(lambda v: fnp.sum(L.with_sharding_constraint(v, s) ** 2))(x), want, rtol=0)
    with pytest.raises(ValueError, match="not allowed"):
        L.with_sharding_constraint(x, None)
    with pytest.raises(TypeError, match="SingleDeviceSharding"):
        L.with_sharding_constraint(x, "x")
    with pytest.raises(ValueError, match="tree prefix"):
        L.with_sharding_constraint((x, x), (s,))
    on_gpu = ft.device_put(x, fake_gpus[0])
    with pytest.raises(ValueError, match="device_put"):
        L.with_sharding_constraint(on_gpu, s)
    assert L.with_sharding_constraint(on_gpu, on_gpu.sharding) is on_gpu
