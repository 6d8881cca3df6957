"""The jit compiler: a jaxpr becomes a cached Python function over backend kernels.

`compile_jaxpr(closed_jaxpr, device)` runs the optimization passes (`passes`: inlining,
CSE, constant folding, algebraic rules, dead code, elementwise fusion), plans memory by
liveness (`memory`) and generates straight-line code (`codegen`, over `kernels`) for an
`Executable` (`executable`); the result is cached on
the jaxpr per device. The compiler reads what primitives declare about their kernels
(`core.Primitive`), never their names. Each platform may register its lowering context
(`register_lowering`): CUDA devices write each fused group as one CuPy kernel
(`cupy_backend`). On the host an executable keeps its temporaries' memory for the next call
(`config.jit_buffer_cache`; `release_buffers(closed)` drops it). The `jit` call primitive
(`jit_call`) runs its jaxpr through here.
"""
from .codegen import LoweringContext, register_lowering
from .executable import Executable, compile_jaxpr, release_buffers
from .passes import optimize
from . import cupy_backend  # noqa: F401  (registers the CUDA lowering; imports no CuPy)
from . import loops  # noqa: F401  (loop primitives run compiled outside jit)
from .jit_call import jit_p

__all__ = ["Executable", "LoweringContext", "compile_jaxpr", "optimize", "release_buffers",
           "register_lowering", "jit_p"]
