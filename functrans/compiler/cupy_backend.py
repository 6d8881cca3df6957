"""Lowering for CUDA devices: fused groups become single CuPy kernels.

On a CUDA device the generated Python calls CuPy functions of the same names as on NumPy
(`codegen.numpy_kernel`; matmuls through `cupy.dot`/`cupy.matmul`, hence cuBLAS), except for
`fused` equations: a chain of elementwise primitives becomes one `cupy.ElementwiseKernel`, and
a chain ending in a sum, max or min over some axes one `cupy.ReductionKernel` (the reduction
is folded into the group by `fusion.fuse_reductions`, which runs only for this backend). Their
CUDA C is written here from each member's `cuda_expr` (kept beside the primitive in
`functrans.lax`): one `const` temporary per member, so every operand is a plain name. A group
with a member, dtype or operand that has no CUDA form runs member by member instead.

The kernel sources are built without CuPy or a GPU (`kernel_source`), so they can be shown by
`ft.jit(f).lower(...).as_text()` and compiled by nvcc in the tests. Status: the sources
compile (tests/test_cuda_codegen.py); running them and comparing with NumPy needs a GPU (the
`gpu` tests).
"""
from __future__ import annotations

import hashlib
import math

import numpy as np

from ..jaxpr import Literal, Var
from ..primitives.elementwise import CUDA_HELPERS, select_p
from ..primitives.reductions import reduce_sum_p, reduce_max_p, reduce_min_p
from .codegen import LoweringContext, register_lowering
from .kernels import Kernel, numpy_kernel
from .fusion import fused_p
from .memory import FRESH

C_TYPES = {np.dtype(k): v for k, v in (
    (np.float32, "float"), (np.float64, "double"), (np.int8, "signed char"),
    (np.int16, "short"), (np.int32, "int"), (np.int64, "long long"),
    (np.uint8, "unsigned char"), (np.uint16, "unsigned short"), (np.uint32, "unsigned int"),
    (np.uint64, "unsigned long long"), (np.bool_, "bool"))}

# the device functions every fused kernel may call, for float and for double
PREAMBLE = CUDA_HELPERS.format(T="float", f="f") + CUDA_HELPERS.format(T="double", f="")

_REDUCTIONS = {
    # primitive: (reduce_expr for floats, for integers/bool, identity for floats, for ints)
    reduce_sum_p: ("a + b", "a + b", "0", "0"),
    reduce_max_p: ("(a > b || isnan(a)) ? a : b", "a > b ? a : b", "-{INF}", "{MIN}"),
    reduce_min_p: ("(a < b || isnan(a)) ? a : b", "a < b ? a : b", "{INF}", "{MAX}"),
}
REDUCTIONS = frozenset(_REDUCTIONS)


class KernelSource:
    """The pieces of one CuPy kernel: `in_params`/`out_params` in CuPy's syntax
    ("float32 a0, float32 a1"), the `operation` (ElementwiseKernel) or `map_expr`,
    `reduce_expr`, `post_map_expr`, `identity`, `reduce_type` and `axes` (ReductionKernel),
    the `preamble` and the kernel `name`."""

    def __init__(self, kind, inputs, output, body, result, reduction=None):
        self.kind = kind                                  # "elementwise" or "reduction"
        self.inputs = inputs                              # [(name, dtype)]
        self.output = output                              # (name, dtype)
        self.in_params = ", ".join(f"{np.dtype(d).name} {n}" for n, d in inputs)
        self.out_params = f"{np.dtype(output[1]).name} {output[0]}"
        if kind == "elementwise":
            self.operation = "\n".join(body + [f"{output[0]} = {result};"])
            self.preamble = PREAMBLE
            digest = self.operation
        else:
            prim, axes = reduction
            ctype = C_TYPES[np.dtype(output[1])]
            self.axes = axes
            self.reduce_type = ctype
            signature = ", ".join(f"const {C_TYPES[np.dtype(d)]} {n}" for n, d in inputs)
            digest = "\n".join(body + [result, prim.name, str(axes)])
            fn = "ft_map_" + _short_hash(digest)
            self.preamble = PREAMBLE + (
                f"__device__ {ctype} {fn}({signature}) {{\n" +
                "".join(f"    {line}\n" for line in body) + f"    return {result};\n}}\n")
            self.map_expr = f"{fn}({', '.join(n for n, _ in inputs)})"
            self.reduce_expr, self.identity = _reduce_exprs(prim, np.dtype(output[1]))
            self.post_map_expr = f"{output[0]} = a"
        self.name = f"ft_{'fused' if kind == 'elementwise' else 'reduce'}_" + \
            _short_hash(self.in_params + self.out_params + digest)

    def as_text(self):
        """The kernel as it is handed to CuPy (the helpers of the preamble left out)."""
        cls = "ElementwiseKernel" if self.kind == "elementwise" else "ReductionKernel"
        lines = [f"// {self.name}: cupy.{cls}", f"//   in_params:  {self.in_params}",
                 f"//   out_params: {self.out_params}"]
        if self.kind == "elementwise":
            lines += self.operation.splitlines()
        else:
            lines += [f"//   map_expr: {self.map_expr}   reduce_expr: {self.reduce_expr}   "
                      f"identity: {self.identity}   axes: {self.axes}"]
            lines += self.preamble[len(PREAMBLE):].splitlines()
        return "\n".join(lines)


def _short_hash(text):
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def _reduce_exprs(prim, dtype):
    f_expr, i_expr, f_id, i_id = _REDUCTIONS[prim]
    if dtype.kind == "f":
        inf = "CUDART_INF_F" if dtype == np.float32 else "CUDART_INF"
        return f_expr, f_id.format(INF=inf)
    info = np.iinfo(dtype) if dtype.kind in "iu" else None
    lo = "false" if info is None else _int_literal(info.min, dtype)
    hi = "true" if info is None else _int_literal(info.max, dtype)
    return i_expr, i_id.format(MIN=lo, MAX=hi)


# ------------------------------------------------------------------ CUDA C of a fused group
def cuda_template(prim, dtype):
    """The CUDA C template of `prim` for operands of `dtype`, or None."""
    expr = getattr(prim, "cuda_expr", None)
    if expr is None or np.dtype(dtype) not in C_TYPES:
        return None
    if isinstance(expr, str):
        return expr
    kind = np.dtype(dtype).kind
    return next((e for kinds, e in expr.items() if kind in kinds), None)


def _int_literal(value, dtype):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return "true" if value else "false"
    suffix = {8: "LL", 4: ""}.get(dtype.itemsize, "") if dtype.kind == "i" else \
        {8: "ULL", 4: "U"}.get(dtype.itemsize, "")
    if dtype == np.int64 and value == np.iinfo(np.int64).min:      # no such literal in C
        return "(-9223372036854775807LL - 1)"
    return f"(({C_TYPES[dtype]}){int(value)}{suffix})"


def c_literal(value, dtype):
    """A Python scalar as a CUDA C literal of `dtype` (weak scalars take the dtype of the
    array they meet, as in NumPy)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        v = float(dtype.type(value))
        single = dtype == np.float32
        if math.isnan(v):
            return "CUDART_NAN_F" if single else "CUDART_NAN"
        if math.isinf(v):
            inf = "CUDART_INF_F" if single else "CUDART_INF"
            return inf if v > 0 else f"(-{inf})"
        return f"({v!r}{'f' if single else ''})"
    return _int_literal(value, dtype)


def _compute_dtype(eqn):
    """The dtype an elementwise member computes in: its first value operand's (select's
    predicate aside), a weak scalar taking the dtype of the arrays it meets."""
    operands = eqn.invars[1:] if eqn.primitive is select_p else eqn.invars
    strong = [a.aval.dtype for a in operands if not a.aval.weak_type]
    return strong[0] if strong else operands[0].aval.dtype


def kernel_source(eqn):
    """The `KernelSource` for a `fused` equation, or None when some member has no CUDA form
    for its dtypes (the group then runs member by member)."""
    body = eqn.params["jaxpr"]
    members = list(body.eqns)
    reduction = None
    if members and members[-1].primitive in REDUCTIONS:
        last = members.pop()
        reduction = (last.primitive, tuple(last.params["axes"]))
        if not members or last.invars[0] is not members[-1].outvars[0]:
            return None
    names = {v: f"a{i}" for i, v in enumerate(body.invars)}
    inputs = [(names[v], v.aval.dtype) for v in body.invars]
    if any(np.dtype(d) not in C_TYPES for _, d in inputs):
        return None
    lines = []
    for k, member in enumerate(members):
        dtype = _compute_dtype(member)
        template = cuda_template(member.primitive, dtype)
        out_dtype = member.outvars[0].aval.dtype
        if template is None or np.dtype(out_dtype) not in C_TYPES:
            return None
        operands = []
        for a in member.invars:
            if type(a) is Literal:
                is_pred = member.primitive is select_p and a is member.invars[0]
                operands.append(c_literal(a.val, a.aval.dtype if is_pred else dtype))
                continue
            if a.aval.weak_type and np.dtype(a.aval.dtype).kind != np.dtype(dtype).kind and \
                    np.dtype(a.aval.dtype).kind in "fc":
                return None       # a weak float meeting integers: NumPy would promote
            operands.append(names[a])
        t = f"t{k}"
        ctype = C_TYPES[np.dtype(out_dtype)]
        expr = template.format(*operands, T=ctype, f="f" if dtype == np.float32 else "")
        lines.append(f"const {ctype} {t} = {expr};")
        names[member.outvars[0]] = t
    root = members[-1].outvars[0]
    out_shape = root.aval.shape
    if _broadcast_shape([v.aval.shape for v in body.invars]) != tuple(out_shape):
        return None       # the kernel's size comes from its array inputs
    if reduction is None:
        return KernelSource("elementwise", inputs, ("out0", eqn.outvars[0].aval.dtype), lines,
                            names[root])
    return KernelSource("reduction", inputs, ("out0", eqn.outvars[0].aval.dtype), lines,
                        names[root], reduction)


def _broadcast_shape(shapes):
    try:
        return tuple(np.broadcast_shapes(*shapes)) if shapes else None
    except ValueError:
        return None


# ------------------------------------------------------------------ lowering
_KERNELS = {}       # (kind, name) -> the CuPy kernel object, shared by every program


def cupy_kernel(xp, src):
    """The CuPy kernel object for `src` (created once per source)."""
    key = (src.kind, src.name)
    kernel = _KERNELS.get(key)
    if kernel is None:
        if src.kind == "elementwise":
            kernel = xp.ElementwiseKernel(src.in_params, src.out_params, src.operation,
                                          src.name, preamble=src.preamble)
        else:
            kernel = xp.ReductionKernel(src.in_params, src.out_params, src.map_expr,
                                        src.reduce_expr, src.post_map_expr, src.identity,
                                        src.name, reduce_type=src.reduce_type,
                                        preamble=src.preamble)
        kernel = _KERNELS.setdefault(key, kernel)
    return kernel


class CupyLoweringContext(LoweringContext):
    """The lowering context of CUDA devices: one CuPy kernel per fused group."""

    fuses_reductions = True
    keeps_arena = False         # CuPy's memory pool already reuses device memory

    def __init__(self, device):
        super().__init__(device)
        self.sources = []

    def choose_kernel(self, eqn):
        if eqn.primitive is not fused_p:
            return numpy_kernel(eqn)
        src = kernel_source(eqn)
        if src is None:
            return None
        self.sources.append(src)
        return _elementwise_kernel(eqn, src) if src.kind == "elementwise" else \
            _reduction_kernel(src)

    def appendix(self):
        return "\n\n".join(s.as_text() for s in self.sources)


def _elementwise_kernel(eqn, src):
    def emit(ctx, eqn, ins, outs, buf, indent):
        k = ctx.const(cupy_kernel(ctx.xp, src), "ek")
        args = list(ins) + ([buf] if buf else [])
        ctx.emit(f"{outs[0]} = {k}({', '.join(args)})", indent)
    out = eqn.outvars[0].aval
    inplace = tuple(i for i, v in enumerate(eqn.invars) if type(v) is Var and
                    v.aval.shape == out.shape and v.aval.dtype == out.dtype)
    return Kernel(FRESH, emit, accepts_out=True, inplace=inplace, c_layout=lambda c: True)


def _reduction_kernel(src):
    def emit(ctx, eqn, ins, outs, buf, indent):
        k = ctx.const(cupy_kernel(ctx.xp, src), "rk")
        ctx.emit(f"{outs[0]} = {k}({', '.join(ins)}, axis={src.axes!r})", indent)
    return Kernel(FRESH, emit, c_layout=lambda c: True)


register_lowering("cuda", CupyLoweringContext)
