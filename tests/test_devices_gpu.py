"""CUDA devices through CuPy: placement, every fused-kernel primitive against NumPy, fused
reductions, the hand-written scatter kernel, a training step, and kernel launch counts.

Skipped without CuPy and an NVIDIA GPU (the `gpu` marker). These are the tests that check what
the stand-in GPU (test_devices.py) and the nvcc compile tests (test_cuda_codegen.py) cannot:
that CuPy and the generated CUDA kernels compute NumPy's numbers.
"""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.backends import cpu
from functrans.compiler.cupy_backend import cuda_template

pytestmark = pytest.mark.gpu

if not ft.devices("cuda"):
    pytest.skip("needs CuPy and an NVIDIA GPU", allow_module_level=True)

GPU = ft.devices("cuda")[0]

# special values every float test meets
_SPECIAL = [0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.0, 1e-30, -1e30, np.inf, -np.inf, np.nan]


def _values(dtype, n=64, seed=0):
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        x = rng.standard_normal(n) * 3
        k = min(n, len(_SPECIAL))
        x[:k] = _SPECIAL[:k]
        return x.astype(dtype)
    if dtype.kind == "b":
        return rng.integers(0, 2, n).astype(bool)
    info = np.iinfo(dtype)
    lo, hi = max(info.min, -100), min(info.max, 100)
    return rng.integers(lo, hi, n, endpoint=True).astype(dtype)


def _same(got, want, dtype, exact):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    if exact or np.dtype(dtype).kind != "f" or got.dtype.kind != "f":
        np.testing.assert_array_equal(got, want)
    else:       # CUDA's math functions are within a few ulp of NumPy's, not bit for bit
        rtol, atol = (1e-5, 1e-6) if np.dtype(dtype) == np.float32 else (1e-12, 1e-14)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)


def test_cuda_devices_are_listed_and_arrays_move_both_ways():
    assert ft.devices()[0] is cpu and GPU in ft.devices()
    assert str(GPU) == "cuda:0" and ft.backends.get_device("gpu") is GPU
    host = np.arange(6.0).reshape(2, 3)
    x = ft.device_put(host, GPU)
    assert x.device is GPU and "device=cuda:0" in repr(x)
    assert type(np.asarray(x)) is np.ndarray
    np.testing.assert_array_equal(np.asarray(ft.device_put(x, "cpu")), host)
    with pytest.raises(ValueError, match=r"different devices \(cpu, cuda:0\)"):
        x + ft.device_put(np.ones((2, 3)), "cpu")
    assert (x + fnp.ones((2, 3))).device is GPU         # uncommitted: it joins x
    with ft.default_device(GPU):
        assert fnp.zeros(3).device is GPU


# ------------------------------------------------------------------ fused kernels vs NumPy
_EXACT = {"add", "sub", "mul", "neg", "abs", "sign", "square", "max", "min", "floor", "ceil",
          "round", "trunc", "eq", "ne", "lt", "le", "gt", "ge", "and", "or", "xor", "not",
          "select", "convert_element_type", "stop_gradient", "isnan", "isinf", "is_finite",
          "signbit", "population_count", "sqrt", "div", "rem", "remainder", "floor_divide",
          "nextafter"}


def _cases():
    from test_cuda_codegen import single_member_group, _elementwise_prims, _arity
    for prim in _elementwise_prims():
        for dtype in map(np.dtype, (np.float32, np.float64, np.int32, np.int64, np.uint8,
                                    np.bool_)):
            if cuda_template(prim, dtype) is None or \
                    single_member_group(prim, dtype) is None:     # not a dtype it takes
                continue
            params = {"new_dtype": np.dtype(np.float64 if dtype == np.float32 else
                                            np.float32), "weak_type": False} \
                if prim.name == "convert_element_type" else {}
            yield pytest.param(prim, dtype, params, _arity(prim, params),
                               id=f"{prim.name}-{dtype.name}")


@pytest.mark.parametrize("prim,dtype,params,arity", list(_cases()))
def test_every_fused_primitive_matches_numpy(prim, dtype, params, arity):
    """`prim` after a stop_gradient (so the two fuse into one generated kernel), on the GPU
    against the same jitted function on the CPU (NumPy)."""
    args = [_values(dtype, seed=i) for i in range(arity)]
    if prim.name == "select":
        args[0] = _values(np.bool_)
    if prim.name in ("floor_divide", "rem", "remainder") and dtype.kind != "f":
        pytest.skip("integer division has no fused form")

    def f(*xs):
        first = lax.stop_gradient(xs[0]) if prim.name != "select" else xs[0]
        rest = [lax.stop_gradient(x) for x in xs[1:]]
        return prim.bind(first, *rest, **params)
    try:
        want = ft.jit(f)(*[fnp.asarray(a) for a in args])
    except (TypeError, ValueError):
        pytest.skip(f"{prim.name} does not take {dtype}")
    got_f = ft.jit(f)
    got = got_f(*[ft.device_put(a, GPU) for a in args])
    assert got.device is GPU
    text = got_f.lower(*[ft.device_put(a, GPU) for a in args]).as_text()
    assert "cupy.ElementwiseKernel" in text, "the group was not fused into one kernel"
    _same(got, want, dtype, prim.name in _EXACT)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduce", ["sum", "max", "min"])
def test_fused_reductions_match_numpy(dtype, reduce):
    x, y = _values(dtype, 256).reshape(16, 16), _values(dtype, 256, seed=1).reshape(16, 16)
    x[3, 4] = np.nan if reduce != "sum" else x[3, 4]
    fn = {"sum": fnp.sum, "max": fnp.max, "min": fnp.min}[reduce]

    def f(x, y):
        return fn(fnp.tanh(x) * y + 1.0, axis=1), fn(x * y, axis=0)
    want = ft.jit(f)(fnp.asarray(x), fnp.asarray(y))
    jf = ft.jit(f)
    got = jf(*ft.device_put((x, y), GPU))
    assert "cupy.ReductionKernel" in jf.lower(*ft.device_put((x, y), GPU)).as_text()
    for g, w in zip(got, want):
        _same(g, w, dtype, exact=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, np.bool_])
def test_scatter_multiply_kernel_matches_numpy(dtype):
    x = _values(dtype, 10)
    if dtype != np.bool_:
        x = np.where(np.isfinite(x), x, 1).astype(dtype) if x.dtype.kind == "f" else x
    idx = np.array([1, 3, 3, 7, 1, 1])
    upd = _values(dtype, 6, seed=2)
    if x.dtype.kind == "f":
        upd = np.where(np.isfinite(upd), upd, 2).astype(dtype)
    want = x.copy()
    np.multiply.at(want, idx, upd)
    got = lax.scatter_mul_axes(ft.device_put(x, GPU), ft.device_put(upd, GPU), idx, axes=(0,))
    _same(got, want, dtype, exact=np.dtype(dtype).kind != "f")   # products in any order


def test_running_maximum_without_ufunc_accumulate():
    x = _values(np.float64, 100).reshape(10, 10)
    for axis in (0, 1):
        got = lax.cummax(ft.device_put(x, GPU), axis)
        np.testing.assert_array_equal(np.asarray(got), np.maximum.accumulate(x, axis=axis))


# ------------------------------------------------------------------ programs
def test_the_seed_training_step_matches_the_cpu_with_fused_kernels():
    from test_cuda_codegen import two_layer_step
    rng = np.random.default_rng(0)
    shapes = ((1000, 100), (100, 10), (64, 1000), (64, 10))
    step = ft.jit(two_layer_step)
    for dtype, tol in ((np.float64, 1e-10), (np.float32, 2e-4)):
        args = [rng.standard_normal(s).astype(dtype) for s in shapes]
        want = step(*[fnp.asarray(a) for a in args])
        got = step(*ft.device_put(args, GPU))
        for g, w in zip(got, want):
            assert g.device is GPU
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=tol, atol=tol)
    code = step.lower(*ft.device_put(args, GPU)).as_text().split("# generated code")[1]
    assert "ElementwiseKernel" in code and "ReductionKernel" in code


def test_lowering_reads_the_kernel_sources_and_no_host_sync_in_a_step():
    spec = ft.ShapeDtypeStruct((64, 10), np.float32, device=GPU)
    text = ft.jit(lambda x, y: fnp.sum(fnp.exp(x - y) * x, axis=1)).lower(spec, spec).as_text()
    assert "expf(" in text and "ReductionKernel" in text
    code = text.split("# generated code")[1].split("# the kernels")[0]
    assert ".get(" not in code and "asnumpy" not in code
