"""Matrix products with their scaling and addition in one BLAS call, on the host.

`alpha * (a @ b) + beta * c` is what BLAS's `gemm` computes; a layer's forward pass
(`x @ W + b`) and an optimizer's update of a weight (`W - lr * (x.T @ g)`) spell it as
two or three NumPy calls, each a pass over memory and a microsecond or two of dispatch that
deep nets of small layers feel (the 128-layer tanh net's step is 1,664 calls). Likewise
`alpha * g.sum(0) + beta * c` (a bias's update) is one `gemv` with a vector of ones.

`fuse_products` finds such chains: a matrix product of two matrices (or a sum over the
leading axis of a matrix), its result used once, by multiplications by constants and one
addition or subtraction of an array of the product's shape or of a row broadcast over it (a
bias), and replaces them by one `gemm` equation carrying the members as its jaxpr (so cost
analysis and any other reader still see what it computes). Only small products are taken
(under `MAX_MACS` multiply-adds): the gain is dispatch, which larger ones do not feel, and
SciPy's wrapper holds the GIL while the BLAS runs, which threads splitting other kernels
would wait on.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import math
import os
import sys

import numpy as np

from ..core import Primitive, eval_jaxpr_on_raw
from ..jaxpr import Jaxpr, JaxprEqn, Literal, Var
from ..primitives.dot import dot_general_p
from ..primitives.elementwise import add_p, mul_p, sub_p
from ..primitives.reductions import ones_vector, reduce_sum_p
from .fusion import readers

gemm_p = Primitive("gemm")
gemm_p.impl = lambda xp, *args, jaxpr, **_: eval_jaxpr_on_raw(jaxpr, [], args)[0]
gemm_p.abstract_eval = lambda *avals, jaxpr, **_: jaxpr.out_avals[0]
gemm_p.kernel_kind = "gemm"

_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_routines = {}


def routines(dtype):
    """`(gemm, gemv)` of SciPy's BLAS wrappers for `dtype`. The wrappers' extension module is
    loaded by itself: importing `scipy.linalg` for it would add about 0.15 s to the first
    compilation in a process (loading the module alone takes 3 ms)."""
    if not _routines:
        blas = sys.modules.get("scipy.linalg.blas") or _load_fblas()
        _routines.update({_DTYPES[0]: (blas.sgemm, blas.sgemv),
                          _DTYPES[1]: (blas.dgemm, blas.dgemv)})
    return _routines[np.dtype(dtype)]


def _load_fblas():
    import scipy
    folder = os.path.join(os.path.dirname(scipy.__file__), "linalg")
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(folder, "_fblas" + suffix)
        if os.path.exists(path):
            spec = importlib.util.spec_from_file_location("scipy.linalg._fblas", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    from scipy.linalg import blas      # laid out differently: the public way
    return blas


# products of at most this many multiply-adds (64x64x64; about 5 us in float32) are fused
MAX_MACS = 1 << 18


def fuse_products(jaxpr: Jaxpr) -> Jaxpr:
    """`jaxpr` with each small product-scale-add chain as one `gemm` equation."""
    eqns = list(jaxpr.eqns)
    uses = readers(jaxpr)
    producer = {v: i for i, eqn in enumerate(eqns) for v in eqn.outvars}
    for i, eqn in enumerate(eqns):
        if eqn is None or not _is_product(eqn):
            continue
        chain, alpha, beta, c = [i], 1.0, 0.0, None
        while True:
            users = uses.get(eqns[chain[-1]].outvars[0], [])
            if len(users) != 1 or users[0] is None or eqns[users[0]] is None:
                break           # (None: an output, or an equation already fused)
            j = users[0]
            step = _step(eqns[chain[-1]].outvars[0], eqns[j], c is None)
            if step is None:
                break
            chain.append(j)
            if step[0] == "scale":
                alpha *= step[1]
                beta *= step[1]
            else:
                sign_product, sign_c, c = step[1:]
                alpha, beta = alpha * sign_product, beta * sign_product + sign_c
        if len(chain) == 1 or not alpha or (c is not None and not beta):
            continue        # (a BLAS skips a term scaled by 0: NaN * 0 would not be NaN)
        members = [eqns[k] for k in chain]
        # where the product was, so that its operands may die there (a weight's gradient
        # is taken during the backward pass, not when the update at the end reads it),
        # unless `c` is computed later
        at = chain[0] if c is None or producer.get(c, -1) < chain[0] else chain[-1]
        for k in chain:
            eqns[k] = None
        eqns[at] = _gemm_eqn(members, alpha, beta, c)
    return Jaxpr(jaxpr.constvars, jaxpr.invars, jaxpr.outvars, [e for e in eqns if e is not None])


def _is_product(eqn):
    """A product `fuse_products` may start from: a plain matrix product or a sum over the
    leading axis of a matrix, in float32 or float64, of operands that are variables."""
    out = eqn.outvars[0].aval if len(eqn.outvars) == 1 else None
    if out is None or np.dtype(out.dtype) not in _DTYPES or 0 in out.shape:
        return False
    if not all(type(v) is Var and v.aval.dtype == out.dtype for v in eqn.invars):
        return False
    if eqn.primitive is reduce_sum_p:
        shape = eqn.invars[0].aval.shape
        return len(shape) == 2 and eqn.params["axes"] == (0,) and shape[0] > 0
    if eqn.primitive is not dot_general_p:
        return False
    lhs, rhs = (v.aval.shape for v in eqn.invars)
    (lc, rc), (lb, _) = eqn.params["dimension_numbers"]
    if lb or len(lhs) != 2 or len(rhs) != 2 or len(lc) != 1:
        return False
    k = lhs[lc[0]]
    return k > 0 and math.prod(out.shape) * k <= MAX_MACS


def _step(v, eqn, may_add):
    """How `eqn` extends a chain ending in `v`: ("scale", s) for a multiplication by a
    constant, ("add", sign of v, sign of c, c) for an addition or subtraction of c, or None."""
    if len(eqn.outvars) != 1 or eqn.outvars[0].aval.dtype != v.aval.dtype or \
            eqn.outvars[0].aval.shape != v.aval.shape:
        return None
    x, y = eqn.invars if len(eqn.invars) == 2 else (None, None)
    other = y if x is v else x if y is v else None
    if other is None or other is v:
        return None
    if eqn.primitive is mul_p:
        if type(other) is Literal and not np.shape(other.val) and \
                np.isreal(other.val) and np.isfinite(other.val):
            return ("scale", float(other.val))
        return None
    if not may_add or eqn.primitive not in (add_p, sub_p) or type(other) is not Var:
        return None
    shape = v.aval.shape
    if other.aval.dtype != v.aval.dtype or other.aval.shape not in (shape, shape[-1:]):
        return None
    if eqn.primitive is add_p:
        return ("add", 1.0, 1.0, other)
    return ("add", 1.0, -1.0, other) if x is v else ("add", -1.0, 1.0, other)


def _gemm_eqn(members, alpha, beta, c):
    """One `gemm` equation computing the last of `members` from the product's operands and
    `c` (or None)."""
    product = members[0]
    outer = list(product.invars) + ([c] if c is not None else [])
    inner = {v: Var(v.aval) for v in dict.fromkeys(outer)}
    body = [e.replace(invars=[inner.get(v, v) if type(v) is Var else v for v in e.invars])
            for e in members]
    root = members[-1].outvars
    jaxpr = Jaxpr([], [inner[v] for v in dict.fromkeys(outer)], list(root), body)
    params = {"jaxpr": jaxpr, "alpha": alpha, "beta": beta,
              "operands": tuple(list(inner).index(v) for v in outer)}
    return JaxprEqn(gemm_p, list(dict.fromkeys(outer)), params, list(root),
                    members[-1].source_info)


def gemm_emit(eqn):
    """How a `gemm` equation runs on the host (its kernel's `emit`): one call of SciPy's BLAS
    wrapper. The wrapper takes Fortran-ordered matrices, so the product `C = A @ B` of
    C-ordered operands is computed as its transpose `B.T @ A.T`, each operand passed as its
    `.T` (the same memory, Fortran-ordered) and the BLAS told whether to transpose it; the
    result, Fortran-ordered, is returned as its `.T`: C-ordered. The added array is copied
    into the result's buffer first (the memory plan's, if it has one), which the BLAS then
    updates in place; a matrix of the result's shape with no buffer to go to is copied by
    the wrapper."""
    params = eqn.params
    product = params["jaxpr"].eqns[0]
    out = eqn.outvars[0].aval
    gemm, gemv = routines(out.dtype)
    alpha, beta, positions = params["alpha"], params["beta"], params["operands"]
    has_c = len(positions) > len(product.invars)
    row = has_c and eqn.invars[positions[-1]].aval.shape != out.shape

    def emit(ctx, eqn, ins, outs, buf, indent):
        operands = [ins[k] for k in positions]
        c = operands[-1] if has_c else None
        if product.primitive is reduce_sum_p:
            ones = ctx.const(ones_vector(product.invars[0].aval.shape[0], out.dtype), "ones")
            args = f"{alpha!r}, {operands[0]}.T, {ones}"
            args += f", {beta!r}, {c}" if has_c else ""
            ctx.emit(f"{outs[0]} = {ctx.const(gemv, 'gemv')}({args})", indent)
            return
        (lc, rc), _ = product.params["dimension_numbers"]
        args = f"{alpha!r}, {operands[1]}.T, {operands[0]}.T"
        if has_c and (row or buf is not None):
            if buf is None:
                buf = ctx.fresh("buf")
                ctx.emit(f"{buf} = {ctx.kernel('empty')}({tuple(out.shape)!r}, "
                         f"{ctx.const(np.dtype(out.dtype), 'dt')})", indent)
            ctx.emit(f"{buf}[...] = {c}", indent)
            args += f", {beta!r}, {buf}.T, overwrite_c=1"
        elif has_c:
            args += f", {beta!r}, {c}.T"
        args += ", trans_a=1" if rc[0] == 1 else ""
        args += ", trans_b=1" if lc[0] == 0 else ""
        ctx.emit(f"{outs[0]} = {ctx.const(gemm, 'gemm')}({args}).T", indent)
    return emit
