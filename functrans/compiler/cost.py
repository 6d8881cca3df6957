"""What a compiled program costs, as JAX's `Compiled.cost_analysis()` and `memory_analysis()`
report it: counted over the optimized jaxpr, kernel by kernel as functrans runs them.

- `flops`: a matrix product 2 per multiply-add (a convolution is the products functrans runs
  for it, which may include a few columns it throws away); an elementwise operation 1 per
  result element, unless it is transcendental; a reduction 1 per element it folds in.
- `transcendentals`: 1 per result element of exp, log, the trigonometric and hyperbolic
  functions, powers, roots, erf and the other special functions.
- `bytes accessed`: the bytes each kernel reads and writes (views such as reshapes count
  nothing), summed: NumPy kernels each pass over memory, fused or not.
A `scan` counts its body once per iteration, a `while_loop` once (its trip count is not known
before it runs, as in XLA's counts), a `cond` its costliest branch. Data movement (gathers,
pads, transposes) counts bytes only.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..jaxpr import ClosedJaxpr, Jaxpr
from ..higher_order.control_flow.scan import scan_p
from ..primitives import elementwise as ew

TRANSCENDENTAL = frozenset({
    ew.exp_p, ew.exp2_p, ew.expm1_p, ew.log_p, ew.log1p_p, ew.logistic_p, ew.pow_p,
    ew.sqrt_p, ew.rsqrt_p, ew.cbrt_p, ew.sin_p, ew.cos_p, ew.tan_p, ew.asin_p, ew.acos_p,
    ew.atan_p, ew.atan2_p, ew.sinh_p, ew.cosh_p, ew.tanh_p, ew.asinh_p, ew.acosh_p,
    ew.atanh_p, ew.erf_p, ew.erfc_p, ew.erf_inv_p, ew.lgamma_p, ew.digamma_p,
    ew.polygamma_p, ew.bessel_i0e_p, ew.bessel_i1e_p})


class CompiledMemoryStats(NamedTuple):
    """Memory a compiled program uses (JAX's field names; the host's are zero: a NumPy
    program's memory is host memory, counted in the others)."""
    generated_code_size_in_bytes: int
    argument_size_in_bytes: int
    output_size_in_bytes: int
    alias_size_in_bytes: int
    temp_size_in_bytes: int
    host_generated_code_size_in_bytes: int = 0
    host_argument_size_in_bytes: int = 0
    host_output_size_in_bytes: int = 0
    host_alias_size_in_bytes: int = 0
    host_temp_size_in_bytes: int = 0


KEYS = ("flops", "transcendentals", "bytes accessed")


def cost_analysis(closed: ClosedJaxpr) -> dict:
    """`{"flops", "transcendentals", "bytes accessed"}` of running `closed` once (floats)."""
    return dict(zip(KEYS, (float(c) for c in _jaxpr_cost(closed.jaxpr))))


def _jaxpr_cost(jaxpr):
    total = np.zeros(3)
    for eqn in jaxpr.eqns:
        total += _eqn_cost(eqn)
    return total


def _open(p):
    """The Jaxpr a param holds (a sub-program: a branch, a loop body, a fused chain)."""
    return p.jaxpr if isinstance(p, ClosedJaxpr) else p if isinstance(p, Jaxpr) else None


def _size(v):
    return math.prod(v.aval.shape)


def _nbytes(v):
    return _size(v) * np.dtype(v.aval.dtype).itemsize


def memory_analysis(closed: ClosedJaxpr, source, temp_bytes) -> CompiledMemoryStats:
    """The memory of a program compiled from `closed` to `source`, with `temp_bytes` of
    temporaries."""
    jaxpr = closed.jaxpr
    return CompiledMemoryStats(len(source.encode()), sum(map(_nbytes, jaxpr.invars)),
                               sum(map(_nbytes, jaxpr.outvars)), 0, temp_bytes)


def _eqn_cost(eqn):
    prim, params = eqn.primitive, eqn.params
    subs = [_jaxpr_cost(_open(p)) for p in params.values() if _open(p) is not None]
    branches = [_jaxpr_cost(_open(b)) for p in params.values() if isinstance(p, (tuple, list))
                and p and all(_open(b) is not None for b in p) for b in p]
    if subs or branches:
        inner = sum(subs, np.zeros(3))
        if branches:
            inner = inner + max(branches, key=lambda c: (c[0] + c[1], c[2]))
        return inner * (params["length"] if prim is scan_p else 1)
    if prim.view:
        return np.zeros(3)
    out = sum(_size(v) for v in eqn.outvars)
    moved = sum(map(_nbytes, eqn.invars)) + sum(map(_nbytes, eqn.outvars))
    if prim.kernel_kind == "dot":
        lhs = eqn.invars[0].aval.shape
        contracted = math.prod(lhs[a] for a in params["dimension_numbers"][0][0])
        return np.array([2.0 * out * contracted, 0, moved])
    if prim.kernel_kind == "reduction":
        return np.array([max(_size(eqn.invars[0]) - out, 0), 0, moved])
    if prim.elementwise:
        return np.array([0, out, moved] if prim in TRANSCENDENTAL else [out, 0, moved])
    return np.array([0, 0, moved])
