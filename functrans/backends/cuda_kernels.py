"""Hand-written CUDA kernels for what CuPy lacks: `multiply.at` (scatter with products).

The kernel is an ElementwiseKernel over the updates: each thread multiplies its update into
the target element at its linear position with an atomic compare-and-swap loop, so repeated
positions combine correctly (in an unspecified order: floating-point products may differ from
NumPy's sequential order in the last bits). Unverified on a GPU so far: its source compiles
with nvcc (tests/test_cuda_codegen.py); running it needs the `gpu` tests.
"""
from __future__ import annotations

import math

import numpy as np

# dtypes the atomic loop supports (4- and 8-byte words, and bool, where a product is an
# AND that only ever writes false)
SCATTER_MULTIPLY_DTYPES = tuple(np.dtype(t) for t in (
    np.float32, np.float64, np.int32, np.int64, np.uint32, np.uint64, np.bool_))

SCATTER_MULTIPLY_PREAMBLE = r"""
__device__ void ft_atomic_mul(float* a, float v) {
    unsigned int* p = reinterpret_cast<unsigned int*>(a);
    unsigned int old = *p, assumed;
    do {
        assumed = old;
        old = atomicCAS(p, assumed, __float_as_uint(__uint_as_float(assumed) * v));
    } while (assumed != old);
}
__device__ void ft_atomic_mul(double* a, double v) {
    unsigned long long* p = reinterpret_cast<unsigned long long*>(a);
    unsigned long long old = *p, assumed;
    do {
        assumed = old;
        old = atomicCAS(p, assumed, (unsigned long long)__double_as_longlong(
            __longlong_as_double((long long)assumed) * v));
    } while (assumed != old);
}
__device__ void ft_atomic_mul(unsigned int* a, unsigned int v) {
    unsigned int old = *a, assumed;
    do { assumed = old; old = atomicCAS(a, assumed, assumed * v); } while (assumed != old);
}
__device__ void ft_atomic_mul(int* a, int v) {
    ft_atomic_mul(reinterpret_cast<unsigned int*>(a), (unsigned int)v);
}
__device__ void ft_atomic_mul(unsigned long long* a, unsigned long long v) {
    unsigned long long old = *a, assumed;
    do { assumed = old; old = atomicCAS(a, assumed, assumed * v); } while (assumed != old);
}
__device__ void ft_atomic_mul(long long* a, long long v) {
    ft_atomic_mul(reinterpret_cast<unsigned long long*>(a), (unsigned long long)v);
}
__device__ void ft_atomic_mul(bool* a, bool v) {
    if (!v) *a = false;
}
"""

# the ElementwiseKernel: `pos` is the linear (C-order) position in `target` of each update
SCATTER_MULTIPLY_PARAMS = ("int64 pos, T u", "raw T target")
SCATTER_MULTIPLY_OPERATION = "ft_atomic_mul(&target[pos], u)"

_kernel = None


def scatter_multiply(xp, target, positions, updates):
    """`target[positions] *= updates` in place, repeated positions multiplying in turn
    (NumPy's `np.multiply.at`). `positions` index the leading axes of `target`; `updates`
    has the shape of the indexed positions followed by the remaining axes."""
    global _kernel
    if target.dtype not in SCATTER_MULTIPLY_DTYPES:
        raise NotImplementedError(
            f"scatter_mul of {target.dtype} is not supported on CUDA devices (supported: "
            f"{', '.join(d.name for d in SCATTER_MULTIPLY_DTYPES)}); convert the operand, "
            "or move it to the cpu with ft.device_put")
    if _kernel is None:
        _kernel = xp.ElementwiseKernel(*SCATTER_MULTIPLY_PARAMS, SCATTER_MULTIPLY_OPERATION,
                                       "functrans_scatter_multiply",
                                       preamble=SCATTER_MULTIPLY_PREAMBLE)
    k = len(positions)
    front, rest = target.shape[:k], target.shape[k:]
    batch = updates.shape[:updates.ndim - len(rest)]
    linear = xp.zeros(batch, np.int64)
    for index, size in zip(positions, front):
        index = index.astype(np.int64, copy=False)
        linear = linear * size + xp.where(index < 0, index + size, index)
    inner = math.prod(rest)
    linear = linear.reshape(batch + (1,) * len(rest)) * inner + \
        xp.arange(inner, dtype=np.int64).reshape(rest)
    _kernel(linear, updates, target)
