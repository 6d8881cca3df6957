"""CuPy's own source for our kernels compiles, and a CUDA lowering can be produced without a
GPU (skipped unless CuPy imports and nvcc is present; no GPU is needed or used).

With CuPy importable (it imports without a GPU; only device calls fail), the CuPy kernel
objects the CUDA lowering creates are built for real, CuPy's code generator writes the
complete CUDA module it would compile for them (its parameter binding, indexing, reduction
loop and headers around our expressions), and nvcc compiles the modules to PTX. That is as
close as one gets without a GPU; whether the kernels compute NumPy's numbers is left to the
`gpu` tests. This reaches into CuPy internals (`cupy._core._kernel`, `cupy._core._reduction`,
checked against CuPy 14.2), hence the guard below.
"""
import contextlib
import shutil
import subprocess

import numpy as np
import pytest

cupy = pytest.importorskip("cupy")
kernel_internals = pytest.importorskip("cupy._core._kernel")
if shutil.which("nvcc") is None:
    pytest.skip("needs nvcc (the CUDA compiler)", allow_module_level=True)

import functrans as ft                                         # noqa: E402
import functrans.numpy as fnp                                  # noqa: E402
from functrans.backends import Device                          # noqa: E402
from functrans.backends import cuda_kernels                    # noqa: E402
from functrans.backends.cuda import CupyBackend                # noqa: E402
from functrans.compiler.cupy_backend import cupy_kernel        # noqa: E402

import test_cuda_codegen as programs                           # noqa: E402

from cupy._core import _carray, _scalar                        # noqa: E402
from cupy._core import _reduction                              # noqa: E402
from cupy._core import core as cupy_core                       # noqa: E402

K = kernel_internals
NDARRAY, INDEXER, SCALAR = 1, 2, 3          # CuPy's _ArgKind values


def _array(dtype, ndim=2):
    return K._ArgInfo(NDARRAY, cupy.ndarray, np.dtype(dtype), ndim, True, True)


def _types(kernel, in_dtypes, out_dtypes):
    _, _, type_map = K._decide_params_type(kernel.in_params, kernel.out_params,
                                           tuple(np.dtype(d).type for d in in_dtypes),
                                           tuple(np.dtype(d).type for d in out_dtypes))
    return type_map


def elementwise_module(kernel, in_dtypes, out_dtypes):
    """The CUDA module CuPy writes for an ElementwiseKernel called on 2-D arrays."""
    infos = tuple(_array(d) for d in list(in_dtypes) + list(out_dtypes)) + (
        K._ArgInfo(INDEXER, _carray.Indexer, None, 2, True, True),)
    return K._get_elementwise_kernel_code(infos, _types(kernel, in_dtypes, out_dtypes),
                                          kernel.params, kernel.operation, kernel.name,
                                          kernel.preamble)


def reduction_module(kernel, in_dtypes, out_dtype):
    """The CUDA module CuPy writes for a ReductionKernel reducing 2-D arrays to 1-D."""
    infos = tuple(_array(d) for d in in_dtypes) + (_array(out_dtype, 1),) + (
        K._ArgInfo(INDEXER, _carray.Indexer, None, 2, True, True),
        K._ArgInfo(INDEXER, _carray.Indexer, None, 1, True, True),
        K._ArgInfo(SCALAR, _scalar.CScalar, np.dtype(np.int32), 0, True, True))
    type_map = K._TypeMap(_types(kernel, in_dtypes, [out_dtype])._pairs + (("IndexT", "int32"),))
    return _reduction._ReductionKernel_get_cached_function_code(
        kernel.nin, kernel.nout, kernel._params, infos, type_map, kernel.name, 512,
        kernel.reduce_type, kernel.identity, kernel.map_expr, kernel.reduce_expr,
        kernel.post_map_expr, kernel.preamble, ())


def module_of(src):
    kernel = cupy_kernel(cupy, src)
    in_dtypes = [d for _, d in src.inputs]
    if src.kind == "elementwise":
        return elementwise_module(kernel, in_dtypes, [src.output[1]])
    return reduction_module(kernel, in_dtypes, src.output[1])


def compile_modules(modules, tmp_path):
    """Compile CuPy modules (each as CuPy would, with its headers and options) to PTX in one
    nvcc run: each module in a namespace of its own, its macros undefined after it."""
    head = "".join(f"#include <{h}>\n" for h in cupy_core._cupy_header_list)
    body = "".join(f"namespace module{i} {{\n{m}\n}}\n#undef REDUCE\n#undef POST_MAP\n"
                   "#undef _REDUCE\n" for i, m in enumerate(modules.values()))
    cu, ptx = tmp_path / "cupy_modules.cu", tmp_path / "cupy_modules.ptx"
    cu.write_text(head + body)
    options = cupy_core.assemble_cupy_compiler_options(())
    run = subprocess.run(["nvcc", "--ptx", "-arch=sm_90", *options, str(cu), "-o", str(ptx)],
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, f"nvcc failed on {cu}:\n{run.stderr[-4000:]}"
    text = ptx.read_text()
    for name in modules:
        assert f".entry {name}(" in text, f"{name} missing from the PTX"


def test_cupy_writes_compilable_modules_for_the_program_kernels(tmp_path):
    modules = {}
    for dtype in (np.float32, np.float64):
        for f, shapes in ((programs.two_layer_step, [(1000, 100), (100, 10), (64, 1000),
                                                     (64, 10)]),
                          (ft.value_and_grad(programs.cross_entropy), [(64, 10), (64, 10)])):
            _, srcs = programs.program_sources(f, *shapes, dtype=dtype)
            modules.update({s.name: module_of(s) for s in srcs})
    compile_modules(modules, tmp_path)


def test_cupy_writes_compilable_modules_for_every_primitive(tmp_path):
    modules = {s.name: module_of(s) for *_, s in programs.primitive_sources()}
    assert len(modules) > 300
    compile_modules(modules, tmp_path)


def test_the_scatter_multiply_kernel_compiles_for_its_dtypes(tmp_path):
    kernel = cupy.ElementwiseKernel(*cuda_kernels.SCATTER_MULTIPLY_PARAMS,
                                    cuda_kernels.SCATTER_MULTIPLY_OPERATION,
                                    "functrans_scatter_multiply",
                                    preamble=cuda_kernels.SCATTER_MULTIPLY_PREAMBLE)
    modules = {}
    for dtype in cuda_kernels.SCATTER_MULTIPLY_DTYPES:
        code = elementwise_module(kernel, [np.int64, dtype], [dtype])
        modules[f"functrans_scatter_multiply_{dtype.name}"] = code.replace(
            "functrans_scatter_multiply(", f"functrans_scatter_multiply_{dtype.name}(")
    compile_modules(modules, tmp_path)


def _gpu_less_cuda_device():
    """A CUDA Device object for lowering only: without a GPU CuPy cannot make a device
    current, so activation is a no-op here. Nothing may run on it."""
    backend = CupyBackend()
    backend.cupy()
    backend.activate = lambda device: contextlib.nullcontext()
    return Device(backend, 0, cupy)


def test_a_cuda_lowering_is_produced_without_running_anything():
    device = _gpu_less_cuda_device()

    def f(x, y):
        return fnp.sum(fnp.exp(x - y) * x, axis=1), fnp.tanh(x) * y + x

    spec = ft.ShapeDtypeStruct((64, 10), np.float32, device=device)
    text = ft.jit(f).lower(spec, spec).as_text()
    # two launches for seven operations: one reduction kernel, one elementwise kernel
    code = text.split("# generated code")[1].split("# the kernels it launches")[0]
    assert code.count("rk") >= 1 and code.count("ek") >= 1
    assert "cupy.ReductionKernel" in text and "cupy.ElementwiseKernel" in text
    assert "expf(" in text and "tanhf(" in text
