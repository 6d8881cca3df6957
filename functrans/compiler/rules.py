"""Algebraic simplification rules, applied by `passes.simplify` to each equation.

A rule is `rule(s, invars, params, out_avals) -> list of output atoms | None` (None: no
change), keyed by primitive. `s` is the `passes.Simplifier`: `s.scalar_value(a)` is the
number a Literal or uniform constant equals, `s.defined_by(a, prim)` the equation producing
`a` if it is an application of `prim`, and `s.bind(prim, invars, **params)` adds a
(simplified) equation.

Every rule keeps the value bit for bit, except that `x + 0 -> x` keeps the sign of a zero
`x` (IEEE gives +0 for -0 + 0), as compilers commonly allow, and that a transposed matrix
product computed with its operands swapped may round differently where the BLAS sums in
another order (rare: it does not for most shapes).
"""
from __future__ import annotations

from ..core import get_aval
from ..jaxpr import Literal, Var
from ..primitives import elementwise as ew
from ..primitives.elementwise_more import clamp_p, integer_pow_p
from ..primitives.dot import dot_general_p
from ..primitives import reductions
from ..primitives import shape_ops
from ..primitives._util import broadcast_shapes

RULES = {}

# operands may be swapped without changing a single bit of the result
_COMMUTATIVE = {ew.add_p, ew.mul_p, ew.eq_p, ew.ne_p, ew.and_p, ew.or_p,
                ew.xor_p}


def canonical_operands(prim, invars):
    """Operands of a commutative primitive in a canonical order, so CSE sees `x*y == y*x`."""
    if prim in _COMMUTATIVE and len(invars) == 2:
        a, b = invars
        if _order(b) < _order(a):
            return [b, a]
    return invars


def _order(a):
    return (1, a.id) if type(a) is Var else (0, repr(a.val))


def rule(*prims):
    def register(f):
        for p in prims:
            RULES[p] = f
        return f
    return register


def _same(a, aval):
    """`a` can stand for a value of `aval`: a variable of the same shape and dtype."""
    return type(a) is Var and a.aval.shape == aval.shape and a.aval.dtype == aval.dtype \
        and (not a.aval.weak_type or aval.weak_type)


def _is(s, a, number):
    v = s.scalar_value(a)
    return v is not None and type(v) is not bool and v == number


# ------------------------------------------------------------------ elementwise
def _implicit_broadcasts(s, invars, out):
    """Drop broadcasts that an elementwise kernel does by itself: an operand that is a
    broadcast constant becomes its 0-d scalar, and one produced by a broadcast_in_dim that
    keeps the order of its operand's axes becomes the broadcast's input (NumPy-style: only
    leading axes added, sizes kept) or a reshape of it with 1s where axes are added (a
    view), whenever the operands still broadcast to the output's shape."""
    new = list(invars)
    for i, a in enumerate(invars):
        if type(a) is not Var or not a.aval.shape:
            continue
        candidate = None
        value = s.const_of.get(a)
        if value is not None:
            if value.size and all(st == 0 for st in value.strides):
                scalar = s.xp.array(value[(0,) * value.ndim])
                candidate = s.new_const(scalar, a.aval.update(shape=()))
        else:
            eqn = s.defined_by(a, shape_ops.broadcast_in_dim_p)
            if eqn is not None:
                src = eqn.invars[0]
                nd, snd = len(a.aval.shape), len(src.aval.shape)
                dims = eqn.params["broadcast_dimensions"]
                if type(src) is Var and dims == tuple(range(nd - snd, nd)):
                    candidate = src
                elif type(src) is Var and snd and list(dims) == sorted(set(dims)):
                    keep = [1] * nd
                    for d, size in zip(dims, src.aval.shape):
                        keep[d] = size
                    candidate = s.bind(shape_ops.reshape_p, [src],
                                       new_sizes=tuple(keep[dims[0]:]))
        if candidate is None:
            continue
        trial = new[:i] + [candidate] + new[i + 1:]
        try:
            shape = broadcast_shapes(*[t.aval.shape for t in trial])
        except ValueError:
            continue
        if shape == tuple(out.shape) and candidate.aval.dtype == a.aval.dtype:
            new = trial
    return new if new != list(invars) else None


def elementwise_rule(prim):
    """Register a rule for an elementwise primitive: implicit broadcasts are removed first."""
    def register(specific):
        def wrapped(s, invars, params, out_avals):
            shrunk = _implicit_broadcasts(s, invars, out_avals[0])
            if shrunk is not None:
                return [s.bind(prim, shrunk, **params)]
            return specific(s, invars, params, out_avals) if specific else None
        RULES[prim] = wrapped
        return specific
    return register


def _neutral(element, commutes):
    """`x op e -> x` (and `e op x -> x` if op commutes) for the neutral element `e` of op."""
    def rule(s, invars, params, out_avals):
        x, y = invars
        out, = out_avals
        if _is(s, y, element) and _same(x, out):
            return [x]
        if commutes and _is(s, x, element) and _same(y, out):
            return [y]
        return None
    return rule


for _prim, _element, _commutes in ((ew.add_p, 0, True), (ew.sub_p, 0, False),
                                   (ew.mul_p, 1, True), (ew.div_p, 1, False)):
    elementwise_rule(_prim)(_neutral(_element, _commutes))


@elementwise_rule(ew.neg_p)
def _neg(s, invars, params, out_avals):
    inner = s.defined_by(invars[0], ew.neg_p)
    if inner is not None and _same(inner.invars[0], out_avals[0]):
        return [inner.invars[0]]
    return None


@elementwise_rule(ew.pow_p)
def _pow(s, invars, params, out_avals):
    x, y = invars
    out, = out_avals
    if _is(s, y, 1) and _same(x, out):
        return [x]
    if _is(s, y, 2) and _same(x, out):          # x*x, exactly what pow computes
        return [s.bind(ew.square_p, [x])]
    return None


@rule(integer_pow_p)
def _integer_pow(s, invars, params, out_avals):
    """As its kernel computes it: `x` (y = 1), `square(x)` (y = 2), else NumPy's `power`
    with the literal exponent (whose own rule follows)."""
    x, = invars
    y = params["y"]
    if y == 1:
        return [x] if _same(x, out_avals[0]) else None
    if y == 2:
        return [s.bind(ew.square_p, [x])]
    return [s.bind(ew.pow_p, [x, Literal(y, get_aval(y))])]


@rule(clamp_p)
def _clamp(s, invars, params, out_avals):
    """`min(max(x, lo), hi)`, what its kernel computes, so that it fuses as those do."""
    lo, x, hi = invars
    return [s.bind(ew.min_p, [s.bind(ew.max_p, [x, lo]), hi])]


def _extremum_test(s, invars):
    """`eq(max(x, y), x) -> ge(x, y)` and `eq(min(x, y), x) -> le(x, y)` (also with the
    operands of eq or of max/min swapped): the tie test in max/min derivatives."""
    for ext, other in (invars, invars[::-1]):
        for extremum, cmp in ((ew.max_p, ew.ge_p), (ew.min_p, ew.le_p)):
            eqn = s.defined_by(ext, extremum)
            if eqn is None:
                continue
            a, b = eqn.invars
            if other is a:
                return [s.bind(cmp, [a, b])]
            if other is b:
                return [s.bind(cmp, [b, a])]
    return None


@elementwise_rule(ew.eq_p)
def _eq(s, invars, params, out_avals):
    return _extremum_test(s, invars)


@elementwise_rule(ew.select_p)
def _select(s, invars, params, out_avals):
    c, x, y = invars
    out, = out_avals
    if x is y and _same(x, out):
        return [x]
    pred = s.scalar_value(c)
    if type(pred) is bool:
        pick = x if pred else y
        if _same(pick, out):
            return [pick]
    return None


@rule(ew.stop_gradient_p)
def _stop_gradient(s, invars, params, out_avals):
    x, = invars          # compiled code only evaluates: derivatives were taken before
    return [x] if _same(x, out_avals[0]) else None


@rule(ew.convert_element_type_p)
def _convert(s, invars, params, out_avals):
    x, = invars
    return [x] if _same(x, out_avals[0]) else None


for _prim in (ew.max_p, ew.min_p, ew.ge_p, ew.gt_p, ew.le_p, ew.lt_p, ew.ne_p,
              ew.and_p, ew.or_p, ew.xor_p, ew.atan2_p, ew.hypot_p,
              ew.logaddexp_p, ew.rem_p, ew.remainder_p, ew.nextafter_p, ew.floor_divide_p):
    elementwise_rule(_prim)(None)


# ------------------------------------------------------------------ structure
@rule(shape_ops.transpose_p)
def _transpose(s, invars, params, out_avals):
    x, = invars
    perm = params["permutation"]
    if perm == tuple(range(len(perm))):
        return [x]
    inner = s.defined_by(x, shape_ops.transpose_p)
    if inner is not None:
        p = inner.params["permutation"]
        composed = tuple(p[i] for i in perm)
        src = inner.invars[0]
        if composed == tuple(range(len(composed))):
            return [src]
        return [s.bind(shape_ops.transpose_p, [src], permutation=composed)]
    return _swapped_product(s, x, perm)


def _swapped_product(s, x, perm):
    """`transpose(dot_general(a, b))` that swaps the two operands' free axes ->
    `dot_general(b, a)`, which computes the result in C order instead of as a strided view
    (the gradient of `x @ w.T` with respect to `w`), when nothing else reads the product."""
    eqn = s.defined_by(x, dot_general_p)
    if eqn is None or not s.used_once(x):
        return None
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    a, b = eqn.invars
    nb = len(lb)
    nl = len(a.aval.shape) - nb - len(lc)
    nr = len(b.aval.shape) - nb - len(rc)
    swap = tuple(range(nb)) + tuple(range(nb + nl, nb + nl + nr)) + tuple(range(nb, nb + nl))
    if not nl or not nr or perm != swap:
        return None
    return [s.bind(dot_general_p, [b, a], dimension_numbers=((rc, lc), (rb, lb)))]


@rule(shape_ops.reshape_p)
def _reshape(s, invars, params, out_avals):
    x, = invars
    if _same(x, out_avals[0]):
        return [x]
    inner = s.defined_by(x, shape_ops.reshape_p)
    if inner is not None:
        src = inner.invars[0]
        if _same(src, out_avals[0]):
            return [src]
        return [s.bind(shape_ops.reshape_p, [src], **params)]
    return None


@rule(shape_ops.broadcast_in_dim_p)
def _broadcast(s, invars, params, out_avals):
    x, = invars
    dims = params["broadcast_dimensions"]
    if _same(x, out_avals[0]) and dims == tuple(range(len(dims))):
        return [x]
    inner = s.defined_by(x, shape_ops.broadcast_in_dim_p)
    if inner is not None:
        src = inner.invars[0]
        composed = tuple(dims[d] for d in inner.params["broadcast_dimensions"])
        return [s.bind(shape_ops.broadcast_in_dim_p, [src], shape=params["shape"],
                       broadcast_dimensions=composed)]
    return None


@rule(reductions.reduce_sum_p, reductions.reduce_max_p, reductions.reduce_min_p,
      reductions.reduce_prod_p)
def _reduce(s, invars, params, out_avals):
    x, = invars
    return [x] if not params["axes"] and _same(x, out_avals[0]) else None
