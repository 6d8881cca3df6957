"""The jit compiler: a jaxpr becomes a cached Python function over backend kernels.

`compile_jaxpr(closed_jaxpr, device)` runs the optimization passes (`passes`) and generates
straight-line code (`codegen`); the result is cached on the jaxpr per device.
"""
from .codegen import Executable, compile_jaxpr

__all__ = ["Executable", "compile_jaxpr"]
