"""Algebraic simplification rules, applied by `passes.simplify` to each equation.

A rule is `rule(s, invars, params, out_avals) -> list of output atoms | None` (None: no
change), keyed by primitive name. `s` is the `passes.Simplifier`: `s.scalar_value(a)` is the
number a Literal or uniform constant equals, `s.defined_by(a, name)` the equation producing
`a` if it is a `name`, and `s.bind(prim, invars, **params)` adds a (simplified) equation.

Every rule keeps the value bit for bit, except that `x + 0 -> x` keeps the sign of a zero
`x` (IEEE gives +0 for -0 + 0), as compilers commonly allow.
"""
from __future__ import annotations

from ..core import Var
from ..primitives import elementwise as ew
from ..primitives import shape_ops
from ..primitives._util import broadcast_shapes

RULES = {}

# operands may be swapped without changing a single bit of the result
_COMMUTATIVE = {"add", "mul", "eq", "ne", "and", "or", "xor"}


def canonical_operands(prim, invars):
    """Operands of a commutative primitive in a canonical order, so CSE sees `x*y == y*x`."""
    if prim.name in _COMMUTATIVE and len(invars) == 2:
        a, b = invars
        if _order(b) < _order(a):
            return [b, a]
    return invars


def _order(a):
    return (1, a.id) if type(a) is Var else (0, repr(a.val))


def rule(*names):
    def register(f):
        for n in names:
            RULES[n] = f
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
    broadcast constant becomes its 0-d scalar, and one produced by a NumPy-style
    broadcast_in_dim (leading axes added, sizes kept) becomes the broadcast's input,
    whenever the operands still broadcast to the output's shape."""
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
            eqn = s.defined_by(a, "broadcast_in_dim")
            if eqn is not None:
                src = eqn.invars[0]
                nd, snd = len(a.aval.shape), len(src.aval.shape)
                if type(src) is Var and eqn.params["broadcast_dimensions"] == \
                        tuple(range(nd - snd, nd)):
                    candidate = src
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


def _elementwise_rule(specific):
    """Wrap a rule for an elementwise primitive: implicit broadcasts are removed first."""
    def wrapped(s, invars, params, out_avals):
        shrunk = _implicit_broadcasts(s, invars, out_avals[0])
        if shrunk is not None:
            return [s.bind(_PRIMS[wrapped.name], shrunk, **params)]
        return specific(s, invars, params, out_avals) if specific else None
    return wrapped


_PRIMS = {}


def elementwise_rule(name, prim):
    def register(f):
        w = _elementwise_rule(f)
        w.name = name
        _PRIMS[name] = prim
        RULES[name] = w
        return f
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


for _name, _prim, _element, _commutes in (("add", ew.add_p, 0, True), ("sub", ew.sub_p, 0, False),
                                          ("mul", ew.mul_p, 1, True), ("div", ew.div_p, 1, False)):
    elementwise_rule(_name, _prim)(_neutral(_element, _commutes))


@elementwise_rule("neg", ew.neg_p)
def _neg(s, invars, params, out_avals):
    inner = s.defined_by(invars[0], "neg")
    if inner is not None and _same(inner.invars[0], out_avals[0]):
        return [inner.invars[0]]
    return None


@elementwise_rule("pow", ew.pow_p)
def _pow(s, invars, params, out_avals):
    x, y = invars
    out, = out_avals
    if _is(s, y, 1) and _same(x, out):
        return [x]
    if _is(s, y, 2) and _same(x, out):          # x*x, exactly what pow computes
        return [s.bind(ew.square_p, [x])]
    return None


def _extremum_test(s, invars):
    """`eq(max(x, y), x) -> ge(x, y)` and `eq(min(x, y), x) -> le(x, y)` (also with the
    operands of eq or of max/min swapped): the tie test in max/min derivatives."""
    for ext, other in (invars, invars[::-1]):
        for name, cmp in (("max", ew.ge_p), ("min", ew.le_p)):
            eqn = s.defined_by(ext, name)
            if eqn is None:
                continue
            a, b = eqn.invars
            if other is a:
                return [s.bind(cmp, [a, b])]
            if other is b:
                return [s.bind(cmp, [b, a])]
    return None


@elementwise_rule("eq", ew.eq_p)
def _eq(s, invars, params, out_avals):
    return _extremum_test(s, invars)


@elementwise_rule("select", ew.select_p)
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


@rule("stop_gradient")
def _stop_gradient(s, invars, params, out_avals):
    x, = invars          # compiled code only evaluates: derivatives were taken before
    return [x] if _same(x, out_avals[0]) else None


@rule("convert_element_type")
def _convert(s, invars, params, out_avals):
    x, = invars
    return [x] if _same(x, out_avals[0]) else None


for _name in ("max", "min", "ge", "gt", "le", "lt", "ne", "and", "or", "xor", "atan2",
              "hypot", "logaddexp", "rem", "remainder", "nextafter", "floor_divide"):
    elementwise_rule(_name, getattr(ew, f"{_name}_p"))(None)


# ------------------------------------------------------------------ structure
@rule("transpose")
def _transpose(s, invars, params, out_avals):
    x, = invars
    perm = params["permutation"]
    if perm == tuple(range(len(perm))):
        return [x]
    inner = s.defined_by(x, "transpose")
    if inner is not None:
        p = inner.params["permutation"]
        composed = tuple(p[i] for i in perm)
        src = inner.invars[0]
        if composed == tuple(range(len(composed))):
            return [src]
        return [s.bind(shape_ops.transpose_p, [src], permutation=composed)]
    return None


@rule("reshape")
def _reshape(s, invars, params, out_avals):
    x, = invars
    if _same(x, out_avals[0]):
        return [x]
    inner = s.defined_by(x, "reshape")
    if inner is not None:
        src = inner.invars[0]
        if _same(src, out_avals[0]):
            return [src]
        return [s.bind(shape_ops.reshape_p, [src], **params)]
    return None


@rule("broadcast_in_dim")
def _broadcast(s, invars, params, out_avals):
    x, = invars
    dims = params["broadcast_dimensions"]
    if _same(x, out_avals[0]) and dims == tuple(range(len(dims))):
        return [x]
    inner = s.defined_by(x, "broadcast_in_dim")
    if inner is not None:
        src = inner.invars[0]
        composed = tuple(dims[d] for d in inner.params["broadcast_dimensions"])
        return [s.bind(shape_ops.broadcast_in_dim_p, [src], shape=params["shape"],
                       broadcast_dimensions=composed)]
    return None


@rule("reduce_sum", "reduce_max", "reduce_min", "reduce_prod")
def _reduce(s, invars, params, out_avals):
    x, = invars
    return [x] if not params["axes"] and _same(x, out_avals[0]) else None
