"""Products: matmul, dot, tensordot, outer, inner, vdot, all on `dot_general`."""
from __future__ import annotations

import operator


from .. import lax
from ..errors import ShapeMismatchError
from ..primitives._util import shape_of, dtype_of, broadcast_shapes
from ..primitives.dot import computes_in, with_preferred_type
from ..primitives.precision import check_precision
from ..primitives.transfer import place
from ._conversion import promote
from ._reductions import no_out


def matmul(a, b, *, precision=None, preferred_element_type=None, out_sharding=None):
    """Matrix product with NumPy's rules (1-D operands promoted, batch axes broadcast); JAX's
    `preferred_element_type` is the result's dtype (`precision` is checked and ignored), and
    its `out_sharding` may name the one device the result goes to."""
    check_precision(precision, "matmul")
    (a, b), dt = promote(a, b)
    a, b = _arr(a, dt), _arr(b, dt)
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb:
        raise ValueError("matmul: operands must be at least 1-D (use * for scalars)")
    squeeze = []
    if len(sa) == 1:
        a = lax.reshape(a, (1, sa[0]))
        squeeze.append(-2)
    if len(sb) == 1:
        b = lax.reshape(b, (sb[0], 1))
        squeeze.append(-1)
    sa, sb = shape_of(a), shape_of(b)
    if sa[-1] != sb[-2]:
        raise ShapeMismatchError(f"matmul: the last axis of the left operand (shape {tuple(sa)}) has "
                         f"size {sa[-1]} but the second-to-last axis of the right operand "
                         f"(shape {tuple(sb)}) has size {sb[-2]}")
    if len(sb) == 2:
        # no batch on the right: contract directly (x @ W for any leading axes of x)
        out = lax.dot_general(a, b, (((len(sa) - 1,), (0,)), ((), ())),
                              preferred_element_type=preferred_element_type)
    else:
        batch = broadcast_shapes(sa[:-2], sb[:-2], opname="matmul")
        a = lax.broadcast_to(a, batch + sa[-2:])
        b = lax.broadcast_to(b, batch + sb[-2:])
        nb = len(batch)
        bd = tuple(range(nb))
        out = lax.dot_general(a, b, (((nb + 1,), (nb,)), (bd, bd)),
                              preferred_element_type=preferred_element_type)
    if squeeze:
        s = shape_of(out)
        drop = {len(s) + d for d in squeeze}
        out = lax.reshape(out, tuple(d for i, d in enumerate(s) if i not in drop))
    return place(out, out_sharding, "matmul")


def _arr(x, dtype):
    """`x` as an array of the operands' promoted `dtype` (a Python scalar takes it too)."""
    from ._conversion import asarray
    return asarray(x, dtype=dtype)


def dot(a, b, *, precision=None, preferred_element_type=None, out_sharding=None):
    """NumPy's dot: scalars multiply, 1-D·1-D is inner, N-D·M-D contracts a's last axis with
    b's second-to-last (JAX's keywords as in `matmul`)."""
    check_precision(precision, "dot")
    (a, b), dt = promote(a, b)
    a, b = _arr(a, dt), _arr(b, dt)
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb:
        return place(_as(lax.mul(a, b), preferred_element_type), out_sharding, "dot")
    contract = len(sb) - 1 if len(sb) == 1 else len(sb) - 2
    return place(lax.dot_general(a, b, (((len(sa) - 1,), (contract,)), ((), ())),
                                 preferred_element_type=preferred_element_type),
                 out_sharding, "dot")


def _as(x, dtype):
    return x if dtype is None else lax.convert_element_type(x, dtype)


def tensordot(a, b, axes=2, *, precision=None, preferred_element_type=None,
              out_sharding=None):
    check_precision(precision, "tensordot")
    (a, b), dt = promote(a, b)
    a, b = _arr(a, dt), _arr(b, dt)
    na, nb = len(shape_of(a)), len(shape_of(b))
    if isinstance(axes, int):
        ca, cb = tuple(range(na - axes, na)), tuple(range(axes))
    else:
        ca, cb = axes
        ca = (ca,) if isinstance(ca, int) else tuple(ca)
        cb = (cb,) if isinstance(cb, int) else tuple(cb)
        ca, cb = tuple(x % na for x in ca), tuple(x % nb for x in cb)
    return place(lax.dot_general(a, b, ((ca, cb), ((), ())),
                                 preferred_element_type=preferred_element_type),
                 out_sharding, "tensordot")


def outer(a, b, out=None):
    """The product of every element of `a` (flattened) with every element of `b`."""
    no_out(out, "outer")
    (a, b), dt = promote(a, b)
    a, b = _arr(a, dt), _arr(b, dt)
    a = lax.reshape(a, (int(_size(a)), 1))
    b = lax.reshape(b, (1, int(_size(b))))
    return lax.mul(a, b)


def _size(x):
    import math
    return math.prod(shape_of(x))


def inner(a, b, *, precision=None, preferred_element_type=None):
    check_precision(precision, "inner")
    (a, b), dt = promote(a, b)
    a, b = _arr(a, dt), _arr(b, dt)
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb:
        return _as(lax.mul(a, b), preferred_element_type)
    return lax.dot_general(a, b, (((len(sa) - 1,), (len(sb) - 1,)), ((), ())),
                           preferred_element_type=preferred_element_type)


def vdot(a, b, *, precision=None, preferred_element_type=None):
    """The dot product of the flattened arrays, conjugating a complex `a` first."""
    check_precision(precision, "vdot")
    (a, b), dt = promote(a, b)
    a, b = _arr(a, dt), _arr(b, dt)
    if dtype_of(a).kind == "c":
        a = lax.conj(a)
    return lax.dot_general(lax.reshape(a, (_size(a),)), lax.reshape(b, (_size(b),)),
                           (((0,), (0,)), ((), ())),
                           preferred_element_type=preferred_element_type)


def _conj(x):
    return lax.conj(x) if dtype_of(x).kind == "c" else x


def vecdot(x1, x2, /, *, axis=-1, precision=None, preferred_element_type=None):
    """The dot product of vectors along `axis` (after broadcasting), conjugating `x1` (as
    the array API standard and NumPy 2 do); the result keeps the operands' dtype, or has
    `preferred_element_type` (as `lax.dot_general`; `precision` is checked and ignored)."""
    check_precision(precision, "vecdot")
    (a, b), dt = promote(x1, x2)
    a, b = _arr(a, dt), _arr(b, dt)
    if preferred_element_type is not None:
        return with_preferred_type(lambda a, b: vecdot(a, b, axis=axis), (a, b),
                                   preferred_element_type)
    sa, sb = shape_of(a), shape_of(b)
    shape = broadcast_shapes(sa, sb, opname="vecdot")
    if not shape:
        raise ValueError("vecdot: needs arrays of at least one dimension")
    ax = axis % len(shape) if -len(shape) <= axis < len(shape) else None
    if ax is None:
        raise ValueError(f"vecdot: axis {axis} is out of bounds for shape {shape}")
    sizes = [s[ax - len(shape) + len(s)] for s in (sa, sb) if ax - len(shape) + len(s) >= 0]
    if len(set(sizes)) > 1:
        raise ShapeMismatchError(f"vecdot: the vectors along axis {axis} have sizes "
                                 f"{sizes[0]} and {sizes[1]} (shapes {sa} and {sb})")
    a, b = lax.broadcast_to(a, shape), lax.broadcast_to(b, shape)
    return lax.reduce_sum(lax.mul(_conj(a), b), (ax,))


def matvec(x1, x2, /):
    """Matrix-vector product over the last axes: (..., m, n) x (..., n) -> (..., m)."""
    (a, b), dt = promote(x1, x2)
    return lax.squeeze(matmul(a, lax.expand_dims(_arr(b, dt), (-1,))), (-1,))


def vecmat(x1, x2, /):
    """Vector-matrix product over the last axes: (..., n) x (..., n, m) -> (..., m)."""
    (a, b), dt = promote(x1, x2)
    return lax.squeeze(matmul(lax.expand_dims(_conj(_arr(a, dt)), (-2,)), b), (-2,))


def kron(a, b):
    """The Kronecker product: blocks `a[i, j] * b`."""
    (a, b), dt = promote(a, b)
    a, b = _arr(a, dt), _arr(b, dt)
    na, nb = len(shape_of(a)), len(shape_of(b))
    nd = max(na, nb)
    sa = (1,) * (nd - na) + tuple(shape_of(a))
    sb = (1,) * (nd - nb) + tuple(shape_of(b))
    a = lax.reshape(a, tuple(x for d in sa for x in (d, 1)))
    b = lax.reshape(b, tuple(x for d in sb for x in (1, d)))
    return lax.reshape(lax.mul(a, b), tuple(x * y for x, y in zip(sa, sb)))


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """The cross product of 3-vectors (or the z component for 2-vectors) along the axes."""
    from ._shape import moveaxis, stack
    from ._math import subtract, multiply
    if axis is not None:
        axisa = axisb = axisc = axis
    (a, b), dt = promote(a, b)
    a, b = moveaxis(_arr(a, dt), axisa, -1), moveaxis(_arr(b, dt), axisb, -1)
    na, nb = shape_of(a)[-1], shape_of(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ValueError(f"cross: vectors must have 2 or 3 components, got {na} and {nb}")

    def comp(x, i, n):
        return x[..., i] if i < n else lax.full_like(x[..., 0], 0)
    a0, a1, a2 = (comp(a, i, na) for i in range(3))
    b0, b1, b2 = (comp(b, i, nb) for i in range(3))
    z = subtract(multiply(a0, b1), multiply(a1, b0))
    if na == 2 and nb == 2:
        return z
    out = stack([subtract(multiply(a1, b2), multiply(a2, b1)),
                 subtract(multiply(a2, b0), multiply(a0, b2)), z], axis=-1)
    return moveaxis(out, -1, axisc)


# ------------------------------------------------------------------ einsum
def einsum(subscripts, *operands, out=None, optimize="greedy", precision=None,
           preferred_element_type=None, out_sharding=None):
    """Einstein summation (NumPy's notation, with '...' and implicit output), also in the
    operand-sublist form `einsum(a, [0, 1], b, [1, 2], [0, 2])`. With JAX's
    `preferred_element_type` the result is of that dtype, computed in it where it holds the
    operands' values (as `lax.dot_general`).

    Repeated indices within one operand take diagonals; indices used by one operand only are
    summed first; the operands are then contracted pairwise (greedily, smallest
    intermediate first) with `dot_general`, and the result transposed to the output order.
    """
    check_precision(precision, "einsum")
    no_out(out, "einsum")
    if not isinstance(subscripts, str):
        subscripts, operands = _sublists_to_subscripts((subscripts,) + operands)
    if len(operands) > 1:
        promoted, dt = promote(*operands)
        ops = [_arr(x, dt) for x in promoted]
    else:
        ops = [_arr(operands[0], None)]
    if preferred_element_type is not None and computes_in(dtype_of(ops[0]),
                                                          preferred_element_type):
        ops = [lax.convert_element_type(x, preferred_element_type) for x in ops]
    inputs, output = _parse_einsum(subscripts, [shape_of(x) for x in ops])
    sizes = {}
    for term, x in zip(inputs, ops):
        for c, d in zip(term, shape_of(x)):
            if sizes.get(c, 1) != d and d != 1 and c in sizes and sizes[c] != 1:
                raise ValueError(f"einsum: index '{c}' has sizes {sizes[c]} and {d}")
            sizes[c] = d if sizes.get(c, 1) == 1 else sizes[c]     # 1 broadcasts, 0 not
    terms = []
    for term, x in zip(inputs, ops):
        x, term = _einsum_diagonals(x, term)
        x = lax.broadcast_in_dim(x, tuple(sizes[c] for c in term), tuple(range(len(term)))) \
            if tuple(shape_of(x)) != tuple(sizes[c] for c in term) else x
        terms.append((x, term))
    terms = [_einsum_sum_unique(x, t, [u for k, (_, u) in enumerate(terms) if k != i] +
                                [output]) for i, (x, t) in enumerate(terms)]
    while len(terms) > 1:
        i, j = _einsum_pick_pair(terms, output, sizes)
        (x, tx), (y, ty) = terms[i], terms[j]
        rest = [t for k, (_, t) in enumerate(terms) if k not in (i, j)] + [output]
        merged = _einsum_contract(x, tx, y, ty, rest)
        terms = [t for k, t in enumerate(terms) if k not in (i, j)] + [merged]
    x, term = terms[0]
    x, term = _einsum_sum_unique(x, term, [output])
    return place(_as(lax.transpose(x, tuple(term.index(c) for c in output)),
                     preferred_element_type), out_sharding, "einsum")


_EINSUM_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _sublist_term(sublist):
    out = []
    for k in sublist:
        if k is Ellipsis:
            out.append("...")
            continue
        try:
            k = operator.index(k)
        except TypeError:
            raise TypeError(f"einsum: sublist entries must be integers or Ellipsis, got "
                            f"{k!r}") from None
        if not 0 <= k < len(_EINSUM_LETTERS):
            raise ValueError(f"einsum: sublist index {k} is outside [0, "
                             f"{len(_EINSUM_LETTERS)})")
        out.append(_EINSUM_LETTERS[k])
    return "".join(out)


def _sublists_to_subscripts(args):
    """`(a, [0, 1], b, [1, 2], [0, 2])` as `("ab,bc->ac", (a, b))`."""
    ops, terms = list(args[0::2]), [_sublist_term(t) for t in args[1::2]]
    output = None
    if len(args) % 2:                       # a trailing output sublist
        output = _sublist_term(ops.pop())
    if len(terms) != len(ops):
        raise TypeError("einsum: the sublist form alternates operands and sublists: "
                        "einsum(a, [0, 1], b, [1, 2], [0, 2])")
    subscripts = ",".join(terms) + ("" if output is None else "->" + output)
    return subscripts, tuple(ops)


def _parse_einsum(subscripts, shapes):
    s = subscripts.replace(" ", "")
    lhs, arrow, out = s.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(shapes):
        raise ValueError(f"einsum: {len(inputs)} terms in {subscripts!r} for {len(shapes)} "
                         "operands")
    used = set(c for c in s if c.isalpha())
    spare = iter(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                 if c not in used)
    ell_len = max([len(sh) - len(t.replace("...", "")) for t, sh in zip(inputs, shapes)
                   if "..." in t] or [0])
    ell = "".join(next(spare) for _ in range(ell_len))
    expanded = []
    for t, sh in zip(inputs, shapes):
        if "..." in t:
            n = len(sh) - len(t.replace("...", ""))
            t = t.replace("...", ell[ell_len - n:])
        if len(t) != len(sh) or not all(c.isalpha() for c in t):
            raise ValueError(f"einsum: term {t!r} does not match an operand of shape {sh}")
        expanded.append(t)
    if arrow:
        out = out.replace("...", ell)
    else:
        counts = {}
        for t in expanded:
            for c in t:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    for c in out:
        if not any(c in t for t in expanded):
            raise ValueError(f"einsum: output index '{c}' appears in no input")
    return expanded, out


def _einsum_diagonals(x, term):
    """Take the diagonal for indices repeated within one term."""
    from ._shape import diagonal
    while len(set(term)) < len(term):
        c = next(c for c in term if term.count(c) > 1)
        i = term.index(c)
        j = term.index(c, i + 1)
        x = diagonal(x, 0, i, j)
        term = "".join(t for k, t in enumerate(term) if k not in (i, j)) + c
    return x, term


def _einsum_sum_unique(x, term, others):
    """Sum out the indices no other term (nor the output) uses."""
    keep = set("".join(others))
    axes = tuple(i for i, c in enumerate(term) if c not in keep)
    if not axes:
        return x, term
    return lax.reduce_sum(x, axes), "".join(c for c in term if c in keep)


def _einsum_pick_pair(terms, output, sizes):
    best, best_cost = (0, 1), None
    for i in range(len(terms)):
        for j in range(i + 1, len(terms)):
            rest = set("".join(t for k, (_, t) in enumerate(terms) if k not in (i, j)) + output)
            kept = (set(terms[i][1]) | set(terms[j][1])) & rest
            cost = 1
            for c in kept:
                cost *= sizes[c]
            if best_cost is None or cost < best_cost:
                best, best_cost = (i, j), cost
    return best


def _einsum_contract(x, tx, y, ty, rest):
    needed = set("".join(rest))
    shared = [c for c in tx if c in ty]
    batch = [c for c in shared if c in needed]
    contract = [c for c in shared if c not in needed]
    x, tx = _einsum_sum_unique(x, tx, [ty] + rest)
    y, ty = _einsum_sum_unique(y, ty, [tx] + rest)
    dn = ((tuple(tx.index(c) for c in contract), tuple(ty.index(c) for c in contract)),
          (tuple(tx.index(c) for c in batch), tuple(ty.index(c) for c in batch)))
    out = lax.dot_general(x, y, dn)
    term = "".join(batch) + "".join(c for c in tx if c not in shared) + \
        "".join(c for c in ty if c not in shared)
    return out, term


def multi_dot(arrays, *, precision=None):
    """The product of a chain of matrices, multiplied in the cheapest order (first and last
    may be vectors); `precision` (JAX's) is checked and ignored."""
    check_precision(precision, "multi_dot")
    arrays = [_arr(a, None) for a in arrays]
    if len(arrays) < 2:
        raise ValueError("multi_dot needs at least two arrays")
    first_vec = len(shape_of(arrays[0])) == 1
    last_vec = len(shape_of(arrays[-1])) == 1
    if first_vec:
        arrays[0] = lax.reshape(arrays[0], (1, shape_of(arrays[0])[0]))
    if last_vec:
        arrays[-1] = lax.reshape(arrays[-1], (shape_of(arrays[-1])[0], 1))
    dims = [shape_of(a)[0] for a in arrays] + [shape_of(arrays[-1])[1]]
    n = len(arrays)
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = None
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if cost[i][j] is None or c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k

    def product(i, j):
        if i == j:
            return arrays[i]
        k = split[i][j]
        return matmul(product(i, k), product(k + 1, j))
    out = product(0, n - 1)
    if first_vec:
        out = lax.squeeze(out, (0,))
    if last_vec:
        out = lax.squeeze(out, (-1,))
    return out
