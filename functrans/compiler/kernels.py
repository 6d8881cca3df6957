"""How each equation runs on NumPy (or CuPy, whose functions have the same names): a
`Kernel` says what the memory planner needs to know and emits the line that runs it.

What a primitive declares (`core.Primitive`) decides: a ufunc, a reduction, `dot` (following
`primitives.dot.dot_plan`), `where`/`copyto`, `astype`, `reshape`/`transpose` become direct
calls of the backend function, taking `out=` when the memory plan gives them a dead buffer;
`slice`, `dynamic_slice` and `broadcast_in_dim` become basic indexing or `broadcast_to`
(views), `pad` a filled array (or buffer) the operand is assigned into; anything else
calls the primitive's kernel (`impl(xp, ...)`). A primitive whose kernel can write its one
result into a given C-contiguous array of the result's shape and dtype
(overlapping no operand) says so with `prim.impl_out = True`: it is then called as
`impl(xp, ..., out=buffer, **params)` when the plan has a buffer for it. An update kernel
(scatter, dynamic_update_slice) also names the operands the buffer may be,
`prim.impl_inplace = (0,)`: when that operand dies there, the kernel gets the operand's own
array (of any layout) and updates it in place.
"""
from __future__ import annotations

import math

import numpy as np

from ..backends import numba_jit
from ..jaxpr import Literal, Var
from ..primitives.dot import dot_plan
from ..primitives.shape_ops import pad_placement
from ..primitives.reductions import (REDUCING_UFUNC, FLOAT32_ACCUMULATED, matvec_plan,
                                     ones_vector, two_step, two_step_plan)
from . import numba_kernels, parallel
from .fusion import fused_p
from .gemm import gemm_emit
from .memory import FRESH, VIEW, OPAQUE


class Kernel:
    """How the backend runs one equation, as much as the memory planner needs to know.

    `kind`: FRESH (returns a new array of the output's shape, C-contiguous when
    `c_layout(inputs_c_contiguous)` says so), VIEW (may share its input's memory) or OPAQUE
    (may share memory with any input). `accepts_out`: can write into a given buffer;
    `inplace`: the operand positions that buffer may be (it then is that operand's array);
    `exact`: the result does not depend on memory layout; `out_c`: the buffer must be
    C-contiguous; `lends`: the primitive's `operand_memory` for this equation; `macs`: the
    multiply-adds of a matrix product split over threads (0 for other kernels).
    """
    __slots__ = ("kind", "emit", "accepts_out", "inplace", "exact", "out_c", "c_layout",
                 "lends", "macs")

    def __init__(self, kind, emit, accepts_out=False, inplace=(), exact=True, out_c=False,
                 c_layout=lambda c: False, lends=None, macs=0):
        self.kind, self.emit, self.accepts_out = kind, emit, accepts_out
        self.inplace, self.exact, self.out_c, self.c_layout = inplace, exact, out_c, c_layout
        self.lends, self.macs = lends, macs


def _same_layout(c):
    return c


def _always_c(c):
    return True


# ufuncs whose result is correctly rounded (or exact), hence independent of the loop NumPy
# picks for a memory layout
_EXACT_UFUNCS = {
    "add", "subtract", "multiply", "divide", "negative", "positive", "absolute", "sign",
    "square", "sqrt", "reciprocal", "maximum", "minimum", "fmax", "fmin", "floor", "ceil",
    "rint", "trunc", "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "logical_and", "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or",
    "bitwise_xor", "invert", "left_shift", "right_shift", "isfinite", "isnan", "isinf",
    "copysign", "nextafter",
}


_PYTHON_TYPE = {"b": bool, "i": int, "u": int, "f": float, "c": complex}


def _weak_or_dtype(a):
    """What NumPy's type resolution sees: a Python type for a (weak) scalar, else a dtype."""
    if type(a) is Literal:
        return type(a.val)
    if a.aval.weak_type and not a.aval.shape:
        return _PYTHON_TYPE.get(a.aval.dtype.kind, a.aval.dtype)
    return a.aval.dtype


def _out_arg(ctx, buf, by_position=True):
    """The argument passing `buf` as the result: by position for NumPy's ufuncs and `dot`
    (0.15-0.5 us less per call than `out=`, which small operations feel), else by name."""
    if not buf:
        return ""
    return f", {buf}" if by_position and ctx.xp is np else f", out={buf}"


def _ufunc_kernel(eqn):
    """An elementwise primitive whose kernel is the ufunc `np_name`, called with `out=`."""
    ufunc = getattr(np, eqn.primitive.np_name, None)
    if not isinstance(ufunc, np.ufunc) or len(eqn.outvars) != 1:
        return None
    name = ufunc.__name__
    positional = name not in ("maximum", "minimum")     # NumPy deprecates their third one
    out_aval = eqn.outvars[0].aval
    try:
        resolved = ufunc.resolve_dtypes(tuple(_weak_or_dtype(a) for a in eqn.invars) + (None,))
        matches = resolved[-1] == out_aval.dtype
    except Exception:
        resolved, matches = (), False

    operator = _scalar_operator(eqn, name, resolved) if matches else None

    def emit(ctx, eqn, ins, outs, buf, indent):
        fn = ctx.kernel(name)
        if matches and ctx.xp is np:
            ins = [ctx.scalar(a.val, dt) if type(a) is Literal and dt.kind in "fc" and
                   type(a.val) in (int, float, complex) else i
                   for a, i, dt in zip(eqn.invars, ins, resolved)]
            if operator is not None:
                ctx.emit(f"{outs[0]} = {ins[0]} {operator} {ins[1]}", indent)
                return
        ctx.emit(f"{outs[0]} = {fn}({', '.join(ins)}{_out_arg(ctx, buf, positional)})",
                 indent)
    if not matches:                 # NumPy's result type differs: run it, plan nothing
        return Kernel(OPAQUE, emit)
    if operator is not None:        # (no buffer: a 0-d one would cost the fast path)
        return Kernel(FRESH, emit, c_layout=_always_c)
    return Kernel(FRESH, emit, accepts_out=True, inplace=tuple(range(len(eqn.invars))),
                  exact=name in _EXACT_UFUNCS, c_layout=_same_layout)


# exactly rounded arithmetic and comparisons, written as Python operators where operands and
# result are 0-d: on NumPy scalars an operator takes NumPy's scalar path (0.1 us, against
# 1.7 us for calling the ufunc), computing the same IEEE operation with the same promotion
_SCALAR_OPERATORS = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/",
                     "less": "<", "less_equal": "<=", "greater": ">", "greater_equal": ">=",
                     "equal": "==", "not_equal": "!="}


def _scalar_operator(eqn, name, resolved):
    """The operator for the binary ufunc `name` on 0-d operands whose loop dtypes are
    `resolved`, or None: real numbers (floats for division; integers wrap on overflow alike
    in the program's quiet error state), and one operand a strongly typed variable (so a
    NumPy value at run time, never two Python numbers)."""
    operator = _SCALAR_OPERATORS.get(name)
    if operator is None or len(eqn.invars) != 2 or eqn.outvars[0].aval.shape or \
            any(a.aval.shape for a in eqn.invars if type(a) is Var):
        return None
    kinds = "f" if operator == "/" else "iuf"
    if any(np.dtype(dt).kind not in kinds for dt in resolved[:2]) or not any(
            type(a) is Var and not a.aval.weak_type for a in eqn.invars):
        return None
    return operator


def _select_kernel(eqn):
    def emit(ctx, eqn, ins, outs, buf, indent):
        c, x, y = ins
        if buf is None:
            ctx.emit(f"{outs[0]} = {ctx.kernel('where')}({c}, {x}, {y})", indent)
            return
        copyto = ctx.kernel("copyto")
        if buf == y:
            ctx.emit(f"{copyto}({buf}, {x}, where={c})", indent)
        elif buf == x:
            ctx.emit(f"{copyto}({buf}, {y}, where={ctx.kernel('logical_not')}({c}))", indent)
        else:
            ctx.emit(f"{copyto}({buf}, {y})", indent)
            ctx.emit(f"{copyto}({buf}, {x}, where={c})", indent)
        ctx.emit(f"{outs[0]} = {buf}", indent)
    aval = eqn.outvars[0].aval
    try:
        matches = np.result_type(*[_weak_or_dtype(a) for a in eqn.invars[1:]]) == aval.dtype
    except Exception:
        matches = False
    if not matches:
        return Kernel(OPAQUE, emit)
    return Kernel(FRESH, emit, accepts_out=True, inplace=(1, 2), c_layout=_same_layout)


def _convert_kernel(eqn):
    dtype = np.dtype(eqn.params["new_dtype"])

    def emit(ctx, eqn, ins, outs, buf, indent):
        if buf is None:
            ctx.emit(f"{outs[0]} = {ins[0]}.astype({ctx.const(dtype, 'dt')})", indent)
        else:
            ctx.emit(f"{ctx.kernel('copyto')}({buf}, {ins[0]}, casting='unsafe')", indent)
            ctx.emit(f"{outs[0]} = {buf}", indent)
    x, = eqn.invars
    if type(x) is not Var or not x.aval.shape or x.aval.dtype == dtype:
        return None
    return Kernel(FRESH, emit, accepts_out=True, c_layout=_same_layout)


def _dot_kernel(eqn):
    """`dot_general` as the one BLAS call of its plan (`primitives.dot.dot_plan`), which the
    eager kernel follows too, writing into a given buffer (products of one-element
    contractions, computed with `multiply`, keep the kernel)."""
    lhs, rhs = eqn.invars
    if type(lhs) is not Var or type(rhs) is not Var:
        return None
    plan = dot_plan(lhs.aval.shape, rhs.aval.shape, eqn.params["dimension_numbers"])
    if plan.fn == "multiply":
        return None
    a = _arranged(plan.lhs_perm, plan.lhs_shape, plan.lhs_swap)
    b = _arranged(plan.rhs_perm, plan.rhs_shape, plan.rhs_swap)
    (lc, _), _ = eqn.params["dimension_numbers"]
    macs = math.prod(plan.product_shape) * math.prod(lhs.aval.shape[i] for i in lc)
    split = macs >= SPLIT_PRODUCT_MACS and plan.product_shape[0] > 1

    def emit(ctx, eqn, ins, outs, buf, indent):
        if split and ctx.splits_kernels and (ctx.pairing is not None or
                                             macs >= SPLIT_ROWS_PRODUCT_MACS):
            _emit_split_product(ctx, eqn, ins, outs, buf, indent)
            return
        call = f"{ctx.kernel(plan.fn)}({ins[0]}{a}, {ins[1]}{b}"
        if buf is None:
            reshaped = "" if plan.out_shape is None else f".reshape({plan.out_shape!r})"
            ctx.emit(f"{outs[0]} = {call}){reshaped}", indent)
            return
        target = buf if plan.out_shape is None else f"{buf}.reshape({plan.product_shape!r})"
        ctx.emit(f"{call}{_out_arg(ctx, target)})", indent)
        ctx.emit(f"{outs[0]} = {buf}", indent)

    def _emit_split_product(ctx, eqn, ins, outs, buf, indent):
        ctx.uses_threads = True
        args = f"{ctx.kernel(plan.fn)}, {ins[0]}{a}, {ins[1]}{b}"
        reshaped = "" if plan.out_shape is None else f".reshape({plan.out_shape!r})"
        if buf is None:
            dtype = ctx.const(np.dtype(eqn.outvars[0].aval.dtype), "dt")
            fresh = f"{ctx.kernel('empty')}({plan.product_shape!r}, {dtype})"
            if ctx.pairing is None:
                product = ctx.const(parallel.product, "par_product")
                ctx.emit(f"{outs[0]} = {product}({args}, {fresh}){reshaped}", indent)
                return
            buf = ctx.fresh("buf")          # paired: its array is named before it runs
            ctx.emit(f"{buf} = {fresh}", indent)
            target, result = buf, f"{buf}{reshaped}"
        else:
            target = buf if plan.out_shape is None else \
                f"{buf}.reshape({plan.product_shape!r})"
            result = buf
        if ctx.pairing is None:
            ctx.emit(f"{ctx.const(parallel.product, 'par_product')}({args}, {target})", indent)
        elif not ctx.pairing:               # the first of a pair runs with the second
            ctx.pairing.append(f"{args}, {target}")
        else:                               # one starts on a worker, the other runs here
            pair = [ctx.pairing.pop(), f"{args}, {target}"]
            run = ctx.fresh("product")
            ctx.emit(f"{run} = {ctx.const(parallel.start_product, 'par_start_product')}"
                     f"({pair[ctx.later]})", indent)
            ctx.emit(f"{ctx.const(parallel.whole_product, 'par_whole')}"
                     f"({pair[1 - ctx.later]})", indent)
            ctx.pairing.append(run)         # waited for where the codegen says
        ctx.emit(f"{outs[0]} = {result}", indent)
    return Kernel(FRESH, emit, accepts_out=True, out_c=True, c_layout=_always_c,
                  macs=macs if split else 0)


# matrix products of at least this many multiply-adds run on a thread of their own beside
# another independent one (a layer's backward pass: the caller goes on meanwhile)...
SPLIT_PRODUCT_MACS = 1 << 21
# ... and a product alone is split by rows from this many, where its halves outweigh waking
# a worker and waiting for it (2-core VM, float32: 64x400x120 took 115 us split against
# 66 us whole, 512x128x128 167 us either way, 6400x150x16 277 against 396 us)
SPLIT_ROWS_PRODUCT_MACS = 1 << 23


def _arranged(perm, shape, swap):
    """Source arranging an operand as a dot plan says: `.transpose(perm).reshape(shape)`,
    then its last two axes swapped if `swap` (`.T` for a matrix), leaving out the steps that
    change nothing."""
    text = "" if perm is None else ".T" if perm == (1, 0) and shape is None else \
        f".transpose({perm!r})"
    text = text if shape is None else f"{text}.reshape({shape!r})"
    if swap:
        text += ".T" if (shape is not None and len(shape) == 2) else ".swapaxes(-1, -2)"
    return text


def _reduce_kernel(eqn):
    np_name = eqn.primitive.np_name
    x, = eqn.invars
    typed = np_name in ("sum", "prod")
    if np_name not in REDUCING_UFUNC or type(x) is not Var or \
            typed and x.aval.dtype in FLOAT32_ACCUMULATED:     # (its impl widens them)
        return None
    axes = eqn.params["axes"]
    shape = x.aval.shape
    split = 0 not in axes and shape and shape[0] > 1 and \
        math.prod(shape) >= SPLIT_REDUCTION_ELEMENTS
    plan = two_step_plan(shape, axes)
    steps = matvec_plan(shape, axes, x.aval.dtype) if np_name == "sum" else None

    def emit(ctx, eqn, ins, outs, buf, indent):
        if steps is not None and ctx.xp is np:      # as the eager kernel does
            _emit_matvec_sum(ctx, ins[0], outs[0], buf, indent)
            return
        dtype = f", dtype={ctx.const(x.aval.dtype, 'dt')}" if typed else ""
        if ctx.xp is np:        # what np.sum etc. call, without their Python wrapper
            fn = f"{ctx.kernel(REDUCING_UFUNC[np_name].__name__)}.reduce"
        else:
            fn = ctx.kernel(np_name)
        if plan is not None and ctx.xp is np:       # as the eager kernel does
            ufunc = ctx.kernel(REDUCING_UFUNC[np_name].__name__)
            out_shape = tuple(eqn.outvars[0].aval.shape)
            dtype = f", {ctx.const(x.aval.dtype, 'dt')}" if typed else ", None"
            extra = f", out={buf}" if buf else ""
            ctx.emit(f"{outs[0]} = {ctx.const(two_step, 'two_step')}({ufunc}, {ins[0]}, "
                     f"{ctx.const(plan, 'plan')}, {out_shape!r}{dtype}{extra})", indent)
            return
        if split and ctx.splits_kernels:     # rows of the result, one piece per thread
            ctx.uses_threads = True
            if buf is None:
                buf = ctx.fresh("buf")
                ctx.emit(f"{buf} = {ctx.kernel('empty')}({tuple(eqn.outvars[0].aval.shape)!r}, "
                         f"{ctx.const(np.dtype(eqn.outvars[0].aval.dtype), 'dt')})", indent)
            rows = ctx.fresh("rows")
            ctx.emit(f"def {rows}(lo, hi):", indent)
            ctx.emit(f"{fn}({ins[0]}[lo:hi], axis={axes!r}{dtype}, out={buf}[lo:hi])",
                     indent + 1)
            ctx.emit(f"{ctx.const(parallel.chunks, 'par_chunks')}({rows}, {shape[0]}, "
                     f"{shape[0]})", indent)
            ctx.emit(f"{outs[0]} = {buf}", indent)
            return
        extra = f", out={buf}" if buf else ""
        ctx.emit(f"{outs[0]} = {fn}({ins[0]}, axis={axes!r}{dtype}{extra})", indent)

    def _emit_matvec_sum(ctx, operand, result, buf, indent):
        """`matvec_sum` written out: its products, the last into `buf`."""
        dot, part, shape = ctx.kernel("dot"), operand, tuple(x.aval.shape)
        for k, (rows, columns, leading) in enumerate(steps):
            ones = ctx.const(ones_vector(rows if leading else columns, x.aval.dtype), "ones")
            matrix = part if shape == (rows, columns) else f"{part}.reshape({rows}, {columns})"
            factors = f"{ones}, {matrix}" if leading else f"{matrix}, {ones}"
            shape = (columns if leading else rows,)
            if k < len(steps) - 1:
                part = ctx.fresh("part")
                ctx.emit(f"{part} = {dot}({factors})", indent)
            elif buf is None:
                out_shape = tuple(eqn.outvars[0].aval.shape)
                reshaped = "" if out_shape == shape else f".reshape({out_shape!r})"
                ctx.emit(f"{result} = {dot}({factors}){reshaped}", indent)
            else:
                flat = buf if len(eqn.outvars[0].aval.shape) == 1 else f"{buf}.reshape(-1)"
                ctx.emit(f"{dot}({factors}, out={flat})", indent)
                ctx.emit(f"{result} = {buf}", indent)
    return Kernel(FRESH, emit, accepts_out=True, out_c=True, c_layout=_always_c)


# reductions keeping their operand's first axis are split by its rows over threads from this
# many elements of operand (as elementwise chains, `codegen.SPLIT_MIN_ELEMENTS`)
SPLIT_REDUCTION_ELEMENTS = 1 << 20


def _view_method_kernel(method, param, c_layout):
    """`x.reshape(new_sizes)` / `x.transpose(permutation)`: a view (or, for reshape, maybe a
    copy)."""
    def kernel(eqn):
        arg = eqn.params[param]

        def emit(ctx, eqn, ins, outs, buf, indent):
            ctx.emit(f"{outs[0]} = {ins[0]}.{method}({arg!r})", indent)
        if type(eqn.invars[0]) is not Var:
            return None
        return Kernel(VIEW, emit, c_layout=c_layout)
    return kernel


def _slice_text(start, size, step, dim):
    """`start:stop:step` for `size` elements from `start`, leaving out what is implied."""
    stop = start + (size - 1) * step + 1 if size else start
    text = f"{start or ''}:{'' if stop == dim else stop}"
    return text if step == 1 else f"{text}:{step}"


def _index_of(parts):
    """Source of basic indexing by the slice texts `parts`, whole axes at the end left out."""
    while parts and parts[-1] == ":":
        parts.pop()
    return f"[{', '.join(parts)}]" if parts else "[...]"


def _index_text(starts, sizes, steps, dims):
    """Source of basic indexing taking `sizes[i]` elements from `starts[i]` by `steps[i]` on
    each axis (`[1:3, ::2]`)."""
    return _index_of([_slice_text(*a) for a in zip(starts, sizes, steps, dims)])


def _sliced_c(sizes, steps, dims):
    """Whether basic indexing of a C-contiguous array keeping `sizes[i]` elements by
    `steps[i]` of each axis gives a C-contiguous array: the axes after the first of more
    than one element are whole, and that one is read by step 1."""
    first = next((i for i, n in enumerate(sizes) if n > 1), None)
    return first is None or steps[first] == 1 and all(
        sizes[i] == dims[i] for i in range(first + 1, len(dims)))


def _slice_kernel(eqn):
    """A static `slice` as basic indexing: a view."""
    x, = eqn.invars
    if type(x) is not Var:
        return None
    p, dims = eqn.params, tuple(x.aval.shape)
    sizes = tuple(eqn.outvars[0].aval.shape)
    index = _index_text(p["start_indices"], sizes, p["strides"], dims)
    c = _sliced_c(sizes, p["strides"], dims)

    def emit(ctx, eqn, ins, outs, buf, indent):
        ctx.emit(f"{outs[0]} = {ins[0]}{index}", indent)
    return Kernel(VIEW, emit, c_layout=lambda c_in: c_in and c)


def _dynamic_slice_kernel(eqn):
    """`dynamic_slice` as basic indexing (a view) from its start indices clamped into the
    operand, as its kernel clamps them."""
    x, *starts = eqn.invars
    if type(x) is not Var:
        return None
    dims, sizes = tuple(x.aval.shape), tuple(eqn.params["slice_sizes"])

    def emit(ctx, eqn, ins, outs, buf, indent):
        parts = []
        for v, name, d, n in zip(starts, ins[1:], dims, sizes):
            if type(v) is Literal or n == d:
                begin = min(max(int(v.val), 0), d - n) if type(v) is Literal else 0
                parts.append(_slice_text(begin, n, 1, d))
                continue
            begin = ctx.fresh("start")
            ctx.emit(f"{begin} = min(max(int({name}), 0), {d - n})", indent)
            parts.append(f"{begin}:{begin} + {n}")
        ctx.emit(f"{outs[0]} = {ins[0]}{_index_of(parts)}", indent)
    c = _sliced_c(sizes, (1,) * len(dims), dims)
    return Kernel(VIEW, emit, c_layout=lambda c_in: c_in and c)


def _pad_kernel(eqn):
    """`pad` as a filled array with the operand assigned into it by basic indexing (a zero
    padding value as `zeros`), written into a given buffer of any layout."""
    x, padval = eqn.invars
    if type(x) is not Var:
        return None
    shape, dst, src = pad_placement(x.aval.shape, eqn.params["padding_config"])
    dtype = np.dtype(eqn.outvars[0].aval.dtype)
    zero = type(padval) is Literal and not np.asarray(padval.val, dtype).tobytes().strip(b"\0")
    dims = tuple(x.aval.shape)
    if dst is not None:
        whole = all(s.start == 0 and s.stop == d for s, d in zip(src, dims))
        into = _index_text([s.start for s in dst], [s.stop - s.start for s in src],
                           [s.step for s in dst], shape)
        part = "" if whole else _index_text([s.start for s in src],
                                            [s.stop - s.start for s in src], [1] * len(src),
                                            dims)

    def emit(ctx, eqn, ins, outs, buf, indent):
        if buf is not None:
            ctx.emit(f"{buf}[...] = {ins[1]}", indent)
            ctx.emit(f"{outs[0]} = {buf}", indent)
        elif zero:
            ctx.emit(f"{outs[0]} = {ctx.kernel('zeros')}({shape!r}, {ctx.const(dtype, 'dt')})",
                     indent)
        else:
            ctx.emit(f"{outs[0]} = {ctx.kernel('full')}({shape!r}, {ins[1]}, "
                     f"{ctx.const(dtype, 'dt')})", indent)
        if dst is not None:
            ctx.emit(f"{outs[0]}{into} = {ins[0]}{part}", indent)
    return Kernel(FRESH, emit, accepts_out=True, c_layout=_always_c)


def _broadcast_kernel(eqn):
    """`broadcast_in_dim` as `broadcast_to` of the operand reshaped to the result's rank (a
    reshape alone where that is the result's shape): a view."""
    x, = eqn.invars
    if type(x) is not Var:
        return None
    shape, dims = tuple(eqn.params["shape"]), eqn.params["broadcast_dimensions"]
    expanded = [1] * len(shape)
    for i, d in enumerate(dims):
        expanded[d] = x.aval.shape[i]
    expanded = tuple(expanded)
    reshaped = "" if expanded == tuple(x.aval.shape) else f".reshape({expanded!r})"

    def emit(ctx, eqn, ins, outs, buf, indent):
        if expanded == shape:
            ctx.emit(f"{outs[0]} = {ins[0]}{reshaped}", indent)
        else:
            ctx.emit(f"{outs[0]} = {ctx.kernel('broadcast_to')}({ins[0]}{reshaped}, "
                     f"{shape!r})", indent)
    return Kernel(VIEW, emit, c_layout=_same_layout if expanded == shape else lambda c: False)


def default_emit(ctx, eqn, ins, outs, buf, indent):
    """Call the primitive's kernel `impl(xp, *ins, **params)` (with `out=buf` if given)."""
    prim = eqn.primitive
    impl = ctx.const(prim.impl, f"{identifier(prim.name)}_")
    args = ", ".join(["xp"] + list(ins))
    if buf is not None:
        args += f", out={buf}"
    if eqn.params:
        args += ", **" + ctx.const(eqn.params, "p")
    call = f"{impl}({args})"
    if prim.multiple_results:
        lhs = ", ".join(outs) + ("," if len(outs) == 1 else "")
        ctx.emit(f"{lhs} = {call}" if outs else call, indent)
    else:
        ctx.emit(f"{outs[0]} = {call}", indent)


def _compiled_chain_kernel(eqn):
    """A `fused` chain of float arithmetic as one compiled loop (`numba_kernels`), or None."""
    source = numba_kernels.chain_source(eqn)
    if source is None:
        return None
    aval = eqn.outvars[0].aval
    shape = tuple(aval.shape)
    full = tuple(i for i, v in enumerate(eqn.invars) if tuple(v.aval.shape) == shape)

    def emit(ctx, eqn, ins, outs, buf, indent):
        members = " -> ".join(e.primitive.name for e in eqn.params["jaxpr"].eqns)
        ctx.emit(f"# fused, one compiled loop: {members}", indent)
        fn = ctx.const(numba_jit.compiled(source), "chain")
        dtype = np.dtype(aval.dtype)
        if buf is None:
            buf = ctx.fresh("buf")
            ctx.emit(f"{buf} = {ctx.kernel('empty')}({shape!r}, {ctx.const(dtype, 'dt')})",
                     indent)
        scalar = ctx.const(dtype.type, "scalar")
        args = [a if v.aval.shape else f"{scalar}({a})" for a, v in zip(ins, eqn.invars)]
        # the kernel returns nothing (an array it returned would pin the arena's memory)
        if ctx.splits_kernels and shape[0] > 1 and \
                math.prod(shape) >= numba_kernels.SPLIT_ELEMENTS:    # rows on the threads
            ctx.uses_threads = True
            rows = ctx.fresh("rows")
            sliced = [f"{a}[lo:hi]" if len(v.aval.shape) == len(shape) and
                      v.aval.shape[0] == shape[0] else a for a, v in zip(args, eqn.invars)]
            ctx.emit(f"def {rows}(lo, hi):", indent)
            ctx.emit(f"{fn}({buf}[lo:hi], {', '.join(sliced)})", indent + 1)
            ctx.emit(f"{ctx.const(parallel.chunks, 'par_chunks')}({rows}, {shape[0]}, "
                     f"{shape[0]})", indent)
        else:
            ctx.emit(f"{fn}({buf}, {', '.join(args)})", indent)
        ctx.emit(f"{outs[0]} = {buf}", indent)
    return Kernel(FRESH, emit, accepts_out=True, inplace=full, out_c=True, c_layout=_always_c)


def _custom_emit(ctx, eqn, ins, outs, buf, indent):
    eqn.primitive.lowering(ctx, eqn, ins, outs, indent)


def numpy_kernel(eqn):
    """The Kernel running `eqn` on NumPy (or CuPy, whose functions have the same names);
    None for a `fused` group, which then runs member by member, in place."""
    prim = eqn.primitive
    if prim is fused_p:
        return _compiled_chain_kernel(eqn) if numba_jit.chains_available() else None
    if prim.lowering is not None:
        return Kernel(OPAQUE, _custom_emit)
    build = KERNELS.get(prim.kernel_kind)
    kernel = build(eqn) if build is not None else None
    if kernel is not None:
        return kernel
    emit = _split_rows_emit(eqn) or default_emit
    if prim.impl_out and len(eqn.outvars) == 1:
        return Kernel(FRESH, emit, accepts_out=True, out_c=True, c_layout=_always_c,
                      inplace=prim.impl_inplace)
    lends = prim.operand_memory(eqn) if prim.operand_memory is not None else None
    return Kernel(VIEW if prim.view and len(eqn.outvars) == 1 else OPAQUE, emit, lends=lends)


# kernels declaring a batch axis (`split_rows`) split it over threads from this many
# elements of result (they make several NumPy calls per piece: max-pooling's backward on
# 301k floats took 1.3x longer on two threads than on one), or from the smaller count
# where the kernel is one compiled loop (`rows_compiled`, numba installed)
SPLIT_ROWS_ELEMENTS = 1 << 20
SPLIT_COMPILED_ROWS_ELEMENTS = 1 << 16


def _split_rows_emit(eqn):
    """For a primitive whose kernel treats the rows of its first axis apart (`split_rows`)
    and a large result: an emitter that runs row ranges of it on the threads, each writing
    its rows of the results (into the planned buffer where there is one). Else None."""
    prim = eqn.primitive
    declared = prim.split_rows(eqn.params) if prim.split_rows is not None else None
    avals = [v.aval for v in eqn.outvars]
    if declared is None or not all(getattr(a, "shape", ()) for a in avals):
        return None
    positions, params_for = declared
    rows = avals[0].shape[0]
    least = SPLIT_COMPILED_ROWS_ELEMENTS if prim.rows_compiled and \
        numba_jit.takes(np, eqn.invars[0].aval.dtype) else SPLIT_ROWS_ELEMENTS
    if rows < 2 or any(a.shape[0] != rows for a in avals) or \
            sum(math.prod(a.shape) for a in avals) < least or \
            any(type(eqn.invars[i]) is not Var or eqn.invars[i].aval.shape[:1] != (rows,)
                for i in positions):
        return None

    def emit(ctx, eqn, ins, outs, buf, indent):
        if not ctx.splits_kernels:
            default_emit(ctx, eqn, ins, outs, buf, indent)
            return
        ctx.uses_threads = True         # on one thread, the kernel runs as it is (no copies)
        ctx.emit(f"if {ctx.const(parallel.threads, 'par_threads')}() > 1:", indent)
        _emit_split_rows(ctx, eqn, ins, outs, buf, indent + 1)
        ctx.emit("else:", indent)
        default_emit(ctx, eqn, ins, outs, buf, indent + 1)

    def _emit_split_rows(ctx, eqn, ins, outs, buf, indent):
        results = []
        for k, a in enumerate(avals):
            if k == 0 and buf is not None:
                results.append(buf)
                continue
            name = ctx.fresh("buf")
            ctx.emit(f"{name} = {ctx.kernel('empty')}({tuple(a.shape)!r}, "
                     f"{ctx.const(np.dtype(a.dtype), 'dt')})", indent)
            results.append(name)
        impl = ctx.const(prim.impl, f"{identifier(prim.name)}_")
        params = ctx.const(params_for, "rows_params")
        args = ", ".join(["xp"] + [f"{a}[lo:hi]" if i in positions else a
                                   for i, a in enumerate(ins)])
        rows_fn = ctx.fresh("rows")
        ctx.emit(f"def {rows_fn}(lo, hi):", indent)
        if prim.impl_out:
            ctx.emit(f"{impl}({args}, out={results[0]}[lo:hi], **{params}(hi - lo))",
                     indent + 1)
        else:
            pieces = [ctx.fresh("piece") for _ in avals]
            ctx.emit(f"{', '.join(pieces)}{',' if prim.multiple_results else ''} = "
                     f"{impl}({args}, **{params}(hi - lo))", indent + 1)
            for piece, result in zip(pieces, results):
                ctx.emit(f"{result}[lo:hi] = {piece}", indent + 1)
        ctx.emit(f"{ctx.const(parallel.chunks, 'par_chunks')}({rows_fn}, {rows}, {rows})",
                 indent)
        for out, result in zip(outs, results):
            ctx.emit(f"{out} = {result}", indent)
    return emit


# how an equation runs, by what its primitive declares its kernel to be (`kernel_kind`)
KERNELS = {
    "ufunc": _ufunc_kernel,
    "select": _select_kernel,
    "convert": _convert_kernel,
    "dot": _dot_kernel,
    "reduction": _reduce_kernel,
    "reshape": _view_method_kernel("reshape", "new_sizes", _same_layout),
    "transpose": _view_method_kernel("transpose", "permutation", lambda c: False),
    "slice": _slice_kernel,
    "dynamic_slice": _dynamic_slice_kernel,
    "pad": _pad_kernel,
    "broadcast_in_dim": _broadcast_kernel,
    "gemm": lambda eqn: Kernel(FRESH, gemm_emit(eqn), accepts_out=True, out_c=True,
                               c_layout=_always_c),
}


def identifier(name):
    """`name` made a Python identifier (other characters become underscores)."""
    return "".join(c if c.isalnum() else "_" for c in name)
