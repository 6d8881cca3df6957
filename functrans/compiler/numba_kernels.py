"""Optional compiled kernels on the host: with `ft.config.update("jit_numba", True)` (or
FUNCTRANS_JIT_NUMBA=1) and numba installed, a fused chain of float arithmetic (add, subtract,
multiply, divide, negative, square) runs as one numba loop instead of one NumPy call per
member: on small arrays (deep nets of small operations) the calls are what costs, on large
ones the passes over memory (a large result's rows run on the threads).

Each member is computed in the result's dtype exactly as NumPy computes it (IEEE operations,
no contraction into fused multiply-adds), so results equal the unfused chain bit for bit.
Kernels are compiled on first use (`functrans.backends.numba_jit`: a fraction of a second
each, shared by every chain of the same form, kept on disk for later processes) and release
the GIL. Programs compiled before the setting changes keep their code.
"""
from __future__ import annotations

import numpy as np

from ..jaxpr import Literal, Var

# the chains it takes: members by NumPy name, as expressions of their operands
_ARITHMETIC = {"add": "({0} + {1})", "subtract": "({0} - {1})", "multiply": "({0} * {1})",
               "divide": "({0} / {1})", "true_divide": "({0} / {1})", "negative": "(-{0})",
               "square": "({0} * {0})"}
# from this many elements of result, rows of a chain run on the threads (the kernels release
# the GIL)
SPLIT_ELEMENTS = 1 << 15


def chain_source(eqn):
    """The source of a loop computing the `fused` equation `eqn` into its first argument from
    the group's inputs (in order; Literals are folded into the source; 0-d inputs come as
    scalars of the result's dtype), or None where it has members other than float
    arithmetic."""
    body = eqn.params["jaxpr"]
    out = body.outvars[0].aval
    dtype = np.dtype(out.dtype)
    if dtype not in (np.float32, np.float64) or not out.shape:
        return None
    rank = len(out.shape)
    idx = [f"i{d}" for d in range(rank)]
    names, lines, consts = {}, [], {}
    for k, v in enumerate(body.invars):
        shape = v.aval.shape
        if np.dtype(v.aval.dtype) != dtype or len(shape) > rank:
            return None
        if not shape:               # passed as a scalar of the dtype (`scalar_positions`)
            names[v] = f"x{k}"
            continue
        at = []
        for d, size in zip(range(rank - len(shape), rank), shape):
            if size == out.shape[d]:
                at.append(idx[d])
            elif size == 1:
                at.append("0")
            else:
                return None
        names[v] = f"x{k}[{', '.join(at)}]"
    for j, member in enumerate(body.eqns):
        template = _ARITHMETIC.get(member.primitive.np_name)
        if member.primitive.kernel_kind != "ufunc" or template is None or \
                np.dtype(member.outvars[0].aval.dtype) != dtype:
            return None
        args = []
        for a in member.invars:
            if type(a) is Literal:
                if type(a.val) not in (int, float):
                    return None
                c = consts.setdefault(repr(float(a.val)), f"c{len(consts)}")
                args.append(c)
            elif type(a) is Var and a in names:
                args.append(names[a])
            else:
                return None
        lines.append(f"t{j} = {template.format(*args)}")
        names[member.outvars[0]] = f"t{j}"
    params = ", ".join(["o"] + [f"x{k}" for k in range(len(body.invars))])
    src = [f"def kernel({params}):"]
    for d in range(rank):
        src.append("    " * (d + 1) + f"for i{d} in range(o.shape[{d}]):")
    pad = "    " * (rank + 1)
    src += [pad + line for line in lines]
    src.append(pad + f"o[{', '.join(idx)}] = {names[body.outvars[0]]}")
    header = [f"{name} = {dtype.name}({value})" for value, name in consts.items()]
    return "\n".join(header + src)
