"""Structured control flow: `cond`, `switch`, `while_loop`, `fori_loop`, `scan`, `map`
(and `associative_scan`, built from slices without a primitive of its own), one
module per primitive (`cond`, `while_loop` with the record primitives of its reverse mode,
`scan`), what they share in `common`.

Run eagerly (no jit) with a concrete predicate or trip count, they are plain Python control
flow: every transform then sees ordinary operations (grad records them on its tape). Under jit
(a staging trace is active), or when the predicate differs across a vmap, they bind primitives
carrying the traced bodies as jaxprs; each primitive has its rules beside it (kernel, jvp,
vjp, batching, lowering to Python `if`/`while`/`for` in the generated code). The kernel that
runs such a primitive eagerly evaluates its jaxprs equation by equation; the loops declare
their body (`compiled_body`) and run compiled where the compiler has registered its runner.
A traced body is kept per function object and argument types (`common.traced`), as JAX
keeps it, so calling a loop again with the same function does not trace it again.
"""
from .cond import cond, switch
from .while_loop import while_loop
from .scan import scan, map
from .fori_loop import fori_loop
from .associative_scan import associative_scan

__all__ = ["cond", "switch", "while_loop", "fori_loop", "scan", "map", "associative_scan"]
