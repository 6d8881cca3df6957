"""Products: matmul, dot, tensordot, outer, inner, vdot, all on `dot_general`."""
from __future__ import annotations

from .. import lax
from ..lax._util import shape_of, broadcast_shapes
from ._conversion import promote


def matmul(x1, x2, /):
    """Matrix product with NumPy's rules (1-D operands promoted, batch axes broadcast)."""
    (a, b), _ = promote(x1, x2)
    a, b = _arr(a), _arr(b)
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
        raise ValueError(f"matmul: the last axis of the left operand (shape {tuple(sa)}) has "
                         f"size {sa[-1]} but the second-to-last axis of the right operand "
                         f"(shape {tuple(sb)}) has size {sb[-2]}")
    if len(sb) == 2:
        # no batch on the right: contract directly (x @ W for any leading axes of x)
        out = lax.dot_general(a, b, (((len(sa) - 1,), (0,)), ((), ())))
    else:
        batch = broadcast_shapes(sa[:-2], sb[:-2], opname="matmul")
        a = lax.broadcast_to(a, batch + sa[-2:])
        b = lax.broadcast_to(b, batch + sb[-2:])
        nb = len(batch)
        bd = tuple(range(nb))
        out = lax.dot_general(a, b, (((nb + 1,), (nb,)), (bd, bd)))
    if squeeze:
        s = shape_of(out)
        drop = {len(s) + d for d in squeeze}
        out = lax.reshape(out, tuple(d for i, d in enumerate(s) if i not in drop))
    return out


def _arr(x):
    from ._conversion import asarray
    return asarray(x)


def dot(a, b):
    """NumPy's dot: scalars multiply, 1-D·1-D is inner, N-D·M-D contracts a's last axis with
    b's second-to-last."""
    (a, b), _ = promote(a, b)
    a, b = _arr(a), _arr(b)
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb:
        return lax.mul(a, b)
    if len(sb) == 1:
        return lax.dot_general(a, b, (((len(sa) - 1,), (0,)), ((), ())))
    return lax.dot_general(a, b, (((len(sa) - 1,), (len(sb) - 2,)), ((), ())))


def tensordot(a, b, axes=2):
    (a, b), _ = promote(a, b)
    a, b = _arr(a), _arr(b)
    na, nb = len(shape_of(a)), len(shape_of(b))
    if isinstance(axes, int):
        ca, cb = tuple(range(na - axes, na)), tuple(range(axes))
    else:
        ca, cb = axes
        ca = (ca,) if isinstance(ca, int) else tuple(ca)
        cb = (cb,) if isinstance(cb, int) else tuple(cb)
        ca, cb = tuple(x % na for x in ca), tuple(x % nb for x in cb)
    return lax.dot_general(a, b, ((ca, cb), ((), ())))


def outer(a, b):
    (a, b), _ = promote(a, b)
    a, b = _arr(a), _arr(b)
    a = lax.reshape(a, (int(_size(a)), 1))
    b = lax.reshape(b, (1, int(_size(b))))
    return lax.mul(a, b)


def _size(x):
    import math
    return math.prod(shape_of(x))


def inner(a, b):
    (a, b), _ = promote(a, b)
    a, b = _arr(a), _arr(b)
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb:
        return lax.mul(a, b)
    return lax.dot_general(a, b, (((len(sa) - 1,), (len(sb) - 1,)), ((), ())))


def vdot(a, b):
    (a, b), _ = promote(a, b)
    a, b = _arr(a), _arr(b)
    return lax.dot_general(lax.reshape(a, (_size(a),)), lax.reshape(b, (_size(b),)),
                           (((0,), (0,)), ((), ())))


def vecdot(x1, x2, /, *, axis=-1):
    (a, b), _ = promote(x1, x2)
    from ._reductions import sum as sum_
    return sum_(lax.mul(_arr(a), _arr(b)), axis=axis)
