"""The jit compiler: a jaxpr becomes a cached Python function over backend kernels.

`compile_jaxpr(closed_jaxpr, device)` runs the optimization passes (`passes`: inlining,
CSE, constant folding, algebraic rules, dead code, elementwise fusion), plans memory by
liveness (`memory`) and generates straight-line code (`codegen`); the result is cached on
the jaxpr per device. Each backend supplies its lowering context: CUDA devices write each
fused group as one CuPy kernel (`cupy_backend`). On the host an executable keeps its
temporaries' memory for the next call (`config.jit_buffer_cache`; `release_buffers(closed)`
drops it).
"""
from .codegen import Executable, LoweringContext, compile_jaxpr, release_buffers
from .passes import optimize

__all__ = ["Executable", "LoweringContext", "compile_jaxpr", "optimize", "release_buffers"]
