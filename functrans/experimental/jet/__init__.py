"""`functrans.experimental.jet`: Taylor-mode propagation of truncated power series, JAX's
`jax.experimental.jet` (`jet`, `jet2`).

Given the primal `x0` and the terms `(x1, ..., xK)` of each argument, `jet` returns the value
and the first `K` terms of `f` along the curve `x(t) = x0 + x1 t + x2 t^2/2! + ... +
xK t^K/K!`: the `k`-th output term is the `k`-th derivative of `f(x(t))` at `t = 0`. With
`factorial_scaled=False` (`jet2`) the terms are the plain Taylor coefficients of both curves
(`x(t) = x0 + x1 t + ... + xK t^K`, output term `k` is the derivative over `k!`).

    >>> y0, (y1, y2) = jet(fnp.sin, (0.125,), ((0.75, 3.0),))   # sin(z^3) at z = 0.5

`jet` is a transform (a trace, as `jvp`): each primitive maps the truncated series of its
inputs to its output's by a Taylor rule (`rules.py`: linear maps per coefficient, Cauchy
products, the recurrences of `exp`, `log`, `x^p`, ...), at a cost quadratic in `K`. Calls
(`jit`, `checkpoint`, `custom_vjp` functions) are entered; `cond`, `scan` and `while_loop`
jet their branches and bodies; a `custom_jvp` function follows its rule (the jet of the
rule's tangent along the curve), so its terms are those nested jvps give. An elementwise
primitive without a rule of its own (special functions) integrates the jet of its
derivative; `reduce_prod` and `cumprod` jet a tree of products; the factorizations follow
their identities (`jet/linalg.py`). Any other primitive without a rule (`eig`, `scatter_mul`,
the SVD of a wide matrix) gets its terms by `K` nested forward-mode passes (`ft.jvp`) along
`t` on that one primitive, so every differentiable function jets, at a cost that grows about
threefold per order for those primitives. `jet` composes with `jit`,
`vmap` and `grad` in turn.
"""
from __future__ import annotations

import functools
import math
import operator
import threading

from ... import dtypes
from ... import numpy as fnp
from ...api import jvp
from ...compiler.jit_call import jit_p
from ...core import Trace, eval_jaxpr, get_aval, new_main
from ...higher_order.control_flow.cond import cond_p, switch
from ...higher_order.control_flow.scan import scan, scan_p
from ...higher_order.control_flow.while_loop import while_loop, while_p
from ...higher_order.custom_derivatives import custom_jvp_call_p, custom_vjp_call_p
from ...higher_order.named_call import named_call_p
from ...higher_order.remat import checkpoint_p
from ...interpreters.ad import PrimalTracer
from ...numpy._conversion import asarray_like
from ...tree_util import tree_flatten, tree_unflatten
from .rules import COMPOSED, RULES, derivative, integrate, zero_like, zero_rule

__all__ = ["jet", "jet2"]


def jet(fun, primals, series, factorial_scaled=True):
    """Taylor-mode differentiation: `(fun(*primals), series_out)`, where `series_out` has the
    structure of the output with a list of the `K` output terms at each leaf.

    `primals` is a tuple of arrays (one per positional argument of `fun`) and `series` a tuple
    of as many lists, each holding the `K` terms of its argument (arrays of its shape).
    """
    primals, series, order = _check(primals, series)
    coeffs = series if not factorial_scaled else [
        [c if k == 1 else c / math.factorial(k) for k, c in enumerate(terms, 1)]
        for terms in series]
    out_tree = []

    def flat(*xs):
        leaves, tree = tree_flatten(fun(*xs))
        out_tree.append(tree)
        return [fnp.asarray(y) for y in leaves]
    outs, out_coeffs = jet_flat(flat, primals, coeffs, order)
    terms = []
    for y, cs in zip(outs, out_coeffs):
        if cs is None:
            terms.append([fnp.zeros_like(y)] * order)
        elif factorial_scaled:
            terms.append([c if k == 1 else c * math.factorial(k) for k, c in enumerate(cs, 1)])
        else:
            terms.append(list(cs))
    return tree_unflatten(out_tree[0], outs), tree_unflatten(out_tree[0], terms)


class JetTracer(PrimalTracer):
    """A value inside `jet`: its primal and its Taylor coefficients (a list of `K`)."""
    __slots__ = ("terms",)

    def __init__(self, trace, primal, terms):
        self._trace = trace
        self.primal = primal
        self.terms = terms
        self._aval = None

    def underlying(self):
        return self.primal


class JetTrace(Trace):
    """Each primitive on `JetTracer`s maps their series by its Taylor rule."""

    def process_primitive(self, prim, args, params):
        xs, ts = [], []
        for a in args:
            mine = type(a) is JetTracer and a._trace is self
            xs.append(a.primal if mine else a)
            ts.append(a.terms if mine else None)
        if prim in _CALLS:
            closed = params[prim.callee]
            if closed is None:              # an eager custom_vjp: its Python function
                return list(params["fun"](*args))
            if len(closed.jaxpr.invars) == len(args):
                return eval_jaxpr(closed.jaxpr, closed.consts, *args)
        result = (_LOOPS.get(prim) or RULES.get(prim) or
                  (_composed_rule if prim in COMPOSED else
                   _derivative_rule if prim.elementwise else _no_rule))
        result = result(prim, xs, ts, params)
        if result is None:
            avals = prim.abstract_eval(*[get_aval(x) for x in xs], **params)
            exact = all(not dtypes.is_inexact(a.dtype) for a in
                        (avals if prim.multiple_results else [avals]))
            result = (zero_rule if exact else _nested_rule)(prim, xs, ts, params)
        out, terms = result
        if prim.multiple_results:
            return [_tracer(self, o, t) for o, t in zip(out, terms)]
        return _tracer(self, out, terms)


def _tracer(trace, out, terms):
    """`out` with its terms (none for integer or boolean results: a conversion's)."""
    if terms is None or not dtypes.is_inexact(get_aval(out).dtype):
        return out
    return JetTracer(trace, out, terms)


_CALLS = frozenset((jit_p, checkpoint_p, named_call_p, custom_vjp_call_p))


def jet_flat(fun, primals, coeffs, order):
    """`fun` (flat list in, flat list out) on the series `primals` with coefficient lists
    `coeffs` (None for a constant): `(outputs, their coefficient lists or None)`."""
    if not order:
        outs = fun(*primals)
        return outs, [None] * len(outs)
    with new_main(JetTrace, None, "jet") as main:
        ins = [x if cs is None else JetTracer(main.trace, x, list(cs))
               for x, cs in zip(primals, coeffs)]
        outs = fun(*ins)
        values, terms = [], []
        for o in outs:
            mine = type(o) is JetTracer and o._trace is main.trace
            values.append(o.primal if mine else o)
            terms.append(o.terms if mine else None)
    return values, terms


def _no_rule(prim, xs, ts, params):
    return None


def _cond_rule(prim, xs, ts, params):
    """`cond` of the jets of its branches (each output's terms instantiated, so that the
    branches agree)."""
    if ts[0] is not None:
        return None
    ops, op_terms = xs[1:], ts[1:]
    moving = [i for i, t in enumerate(op_terms) if t is not None]
    order = _order(op_terms)
    inexact = [dtypes.is_inexact(v.aval.dtype) for v in params["branches"][0].jaxpr.outvars]

    def branch(closed):
        def run(*flat):
            coeffs = [None] * len(ops)
            for n, i in enumerate(moving):
                coeffs[i] = flat[len(ops) + n * order:len(ops) + (n + 1) * order]
            outs, terms = jet_flat(lambda *a: eval_jaxpr(closed.jaxpr, closed.consts, *a),
                                   flat[:len(ops)], coeffs, order)
            extra = [c for y, cs, keep in zip(outs, terms, inexact) if keep
                     for c in (cs if cs is not None else [fnp.zeros_like(y)] * order)]
            return list(outs) + extra
        return run
    flat = list(ops) + [c for i in moving for c in op_terms[i]]
    res = switch(xs[0], [branch(b) for b in params["branches"]], *flat)
    n_out = len(inexact)
    outs, extra, terms = res[:n_out], iter(res[n_out:]), []
    for keep in inexact:
        terms.append([next(extra) for _ in range(order)] if keep else None)
    return outs, terms


def _run(closed):
    return lambda *args: eval_jaxpr(closed.jaxpr, closed.consts, *args)


def _order(ts):
    return len(next(t for t in ts if t is not None))


def _filled(values, terms, order):
    """The terms of each floating value (zeros where it has none; None for the others): what
    a loop carries, the same in every iteration."""
    return [(t if t is not None else [fnp.zeros_like(v)] * order)
            if dtypes.is_inexact(get_aval(v).dtype) else None for v, t in zip(values, terms)]


def _scan_rule(prim, xs, ts, params):
    """`scan` of the jet of its body, carrying the terms of the carry; the terms of the
    scanned inputs and outputs are scanned along with them."""
    nc, nk, order, run = params["num_consts"], params["num_carry"], _order(ts), _run(
        params["jaxpr"])

    def body(carry, x):
        outs, terms = jet_flat(run, xs[:nc] + carry[0] + x[0], ts[:nc] + carry[1] + x[1],
                               order)
        return ((outs[:nk], _filled(outs[:nk], terms[:nk], order)),
                (outs[nk:], _filled(outs[nk:], terms[nk:], order)))
    init = (xs[nc:nc + nk], _filled(xs[nc:nc + nk], ts[nc:nc + nk], order))
    (carry, carry_terms), (ys, y_terms) = scan(
        body, init, (xs[nc + nk:], ts[nc + nk:]), length=params["length"],
        reverse=params["reverse"])
    return list(carry) + list(ys), list(carry_terms) + list(y_terms)


def _while_rule(prim, xs, ts, params):
    """`while_loop` of the jet of its body, carrying the terms; the predicate sees the
    primals."""
    nc, nb, order = params["cond_nconsts"], params["body_nconsts"], _order(ts)
    cond, body = _run(params["cond_jaxpr"]), _run(params["body_jaxpr"])

    def step(carry):
        outs, terms = jet_flat(body, xs[nc:nc + nb] + carry[0], ts[nc:nc + nb] + carry[1],
                               order)
        return outs, _filled(outs, terms, order)
    init = (xs[nc + nb:], _filled(xs[nc + nb:], ts[nc + nb:], order))
    values, terms = while_loop(lambda carry: cond(*xs[:nc], *carry[0])[0], step, init)
    return list(values), list(terms)


def _custom_jvp_rule(prim, xs, ts, params):
    """A `custom_jvp` function by its rule, as nested jvps would see it: along `x(t)` the rule
    gives `y'(t)` from `x(t)` and `x'(t)`, so the jet of order `K - 1` of the rule's tangent
    gives the terms `2..K` of `y` (the rule may call the function: that jet recurses)."""
    order, n = _order(ts), len(xs)
    moving = [i for i, t in enumerate(ts) if t is not None]

    def rule(*flat):
        tangents = [None] * n
        for i, t in zip(moving, flat[n:]):
            tangents[i] = t
        out, t_out = params["jvp"](list(flat[:n]), tangents)
        return list(out) + [fnp.zeros_like(o) if t is None else t for o, t in zip(out, t_out)]
    primals = list(xs) + [ts[i][0] for i in moving]
    coeffs = [None if t is None else t[:-1] for t in ts] + [
        [(m + 1) * ts[i][m] for m in range(1, order)] for i in moving]
    outs, terms = jet_flat(rule, primals, coeffs, order - 1)
    n_out = len(outs) // 2
    y_terms = []
    for y, dy, dy_terms in zip(outs[:n_out], outs[n_out:], terms[n_out:]):
        if not dtypes.is_inexact(get_aval(y).dtype):
            y_terms.append(None)
            continue
        rest = dy_terms if dy_terms is not None else [fnp.zeros_like(dy)] * (order - 1)
        y_terms.append([dy] + [c / k for k, c in enumerate(rest, 2)])
    return outs[:n_out], y_terms


def _composed_rule(prim, xs, ts, params):
    """The jet of the primitive's equivalent composition (`rules.COMPOSED`)."""
    outs, terms = jet_flat(lambda *a: [COMPOSED[prim](*a, **params)], xs, ts, _order(ts))
    return outs[0], terms[0]


def _derivative_rule(prim, xs, ts, params):
    """An elementwise primitive of real arguments by its partial derivatives: along `x(t)`,
    `y' = sum_i d_i f(x) x_i'`, where each `d_i f` (the primitive's jvp with a unit tangent)
    is jetted to order `K - 1`, so its own primitives follow their rules (a special
    function's derivative is often another one, or itself: the orders fall to 0).

    The jvp also computes `f` itself, of the series truncated to order `K - 1`: the terms up
    to `K - 1`, computed first and remembered while the outermost such rule runs, serve it
    (else each order would compute the function twice over)."""
    if prim.multiple_results or any(get_aval(x).dtype.kind == "c" for x in xs):
        return None
    try:
        key = (prim, tuple(params.items()), tuple(map(id, xs)),
               tuple(None if t is None else tuple(map(id, t)) for t in ts))
        hash(key)
    except TypeError:               # unhashable params: nothing remembered
        key = None
    outermost = getattr(_MEMO, "table", None) is None
    if outermost:
        _MEMO.table = {}
    try:
        if key in _MEMO.table:
            return _MEMO.table[key][0]
        result = _derivative_terms(prim, xs, ts, params)
        if key is not None:
            _MEMO.table[key] = (result, xs, ts)     # (keeping the keys' objects alive)
        return result
    finally:
        if outermost:
            _MEMO.table = None


_MEMO = threading.local()   # .table: the outermost derivative rule's {key: (result, inputs)}


def _derivative_terms(prim, xs, ts, params):
    order = _order(ts)
    if order > 1:                   # terms 1..K-1, remembered for the jvp's f below
        out, lower = _derivative_rule(prim, xs, [None if t is None else t[:-1] for t in ts],
                                      params)
    else:
        out, lower = prim.bind(*xs, **params), []
    if not dtypes.is_inexact(get_aval(out).dtype):
        return out, None
    moving = [i for i, t in enumerate(ts) if t is not None]

    def slopes(*args):
        res = []
        for i in moving:
            tangents = [None] * len(args)
            tangents[i] = fnp.ones_like(args[i])
            d = prim.jvp(list(args), tangents, **params)[1]
            res.append(fnp.zeros_like(out) if d is None else d)
        return res
    us, u_terms = jet_flat(slopes, list(xs), [None if t is None else t[:-1] for t in ts],
                           order - 1)
    last = []
    for i, u0, u_rest in zip(moving, us, u_terms):
        u = [u0] + (list(u_rest) if u_rest is not None else [zero_like(u0)] * (order - 1))
        last.append(integrate(derivative([xs[i]] + list(ts[i])), u, order))
    return out, list(lower) + [functools.reduce(operator.add, last)]


_LOOPS = {cond_p: _cond_rule, scan_p: _scan_rule, while_p: _while_rule,
          custom_jvp_call_p: _custom_jvp_rule}


def _nested_rule(prim, xs, ts, params):
    """A primitive without a rule: nested jvps of it along the curve of its inputs."""
    moving = [i for i, t in enumerate(ts) if t is not None]

    def apply(*vs):
        args = list(xs)
        for i, v in zip(moving, vs):
            args[i] = v
        out = prim.bind(*args, **params)
        return list(out) if prim.multiple_results else [out]
    outs, terms = nested_jvp(apply, [xs[i] for i in moving], [ts[i] for i in moving])
    return (outs, terms) if prim.multiple_results else (outs[0], terms[0])


def nested_jvp(fun, primals, coeffs):
    """`jet_flat` by nested forward-mode passes: the `k`-th derivative of `fun(x(t))` at
    `t = 0`, `x(t) = x0 + c1 t + c2 t^2 + ...`, is `k!` times the `k`-th coefficient. The
    work grows about threefold per order."""
    order = len(coeffs[0])
    real = [dtypes.finfo(x.dtype).dtype for x in primals]
    t_dtype = dtypes.result_type(*real)

    def along(t):           # x(t) in Horner form
        xs = []
        for x, cs in zip(primals, coeffs):
            tt = t.astype(x.dtype)
            acc = None
            for c in reversed(cs):
                acc = c if acc is None else c + tt * acc
            xs.append(x + tt * acc)
        return [[fnp.asarray(y) for y in fun(*xs)]]

    def derive(h):          # t -> [f, f', ..., f^(k)] gives t -> [f, ..., f^(k+1)]
        def h_next(t):
            values, tangents = jvp(h, (t,), (asarray_like(1, t, t_dtype),))
            return values + [tangents[-1]]
        return h_next

    h = along
    for _ in range(order):
        h = derive(h)
    first, *rest = h(asarray_like(0, primals[0], t_dtype))
    terms = [[r[j] if k == 1 else r[j] / math.factorial(k) for k, r in enumerate(rest, 1)]
             if dtypes.is_inexact(y.dtype) else None for j, y in enumerate(first)]
    return first, terms


def jet2(fun, primals, series):
    """`jet` with plain Taylor coefficients: `jet(fun, primals, series, factorial_scaled=False)`.
    """
    return jet(fun, primals, series, factorial_scaled=False)


def _check(primals, series):
    """The primals and series as lists of arrays, and the order; clear errors for bad input."""
    for name, v in (("primals", primals), ("series", series)):
        if not isinstance(v, (tuple, list)):
            raise TypeError(f"jet: {name} must be a tuple or list with one entry per argument, "
                            f"got {type(v).__name__}")
    if len(primals) != len(series):
        raise ValueError(f"jet: {len(primals)} primals but {len(series)} series; give one "
                         "list of terms per primal")
    for i, terms in enumerate(series):
        if not isinstance(terms, (tuple, list)):
            raise TypeError(f"jet: series[{i}] must be a tuple or list of terms, got "
                            f"{type(terms).__name__}")
    orders = {len(terms) for terms in series}
    if len(orders) > 1:
        raise ValueError("jet: the series have inconsistent lengths "
                         f"{[len(terms) for terms in series]}; every argument needs as many terms")
    xs, out = [], []
    for i, (x, terms) in enumerate(zip(primals, series)):
        if not _is_leaf(x):
            raise ValueError(f"jet: the primal at position {i} is not an array (got a "
                             f"{type(x).__name__}); pass arrays, one per argument")
        x = fnp.asarray(x)
        if not dtypes.is_inexact(x.dtype):
            raise TypeError(f"jet: the primal at position {i} has dtype {x.dtype}; jet needs "
                            "floating or complex primals (convert it with .astype)")
        cs = []
        for j, c in enumerate(terms):
            if not _is_leaf(c):
                raise ValueError(f"jet: term {j} for argument {i} is not an array")
            c = fnp.asarray(c)
            if c.shape != x.shape:
                raise ValueError(f"jet: term {j} for argument {i} has shape {c.shape} but the "
                                 f"primal has shape {x.shape}; terms take the primal's shape")
            cs.append(c.astype(x.dtype))
        xs.append(x)
        out.append(cs)
    return xs, out, orders.pop() if orders else 0


def _is_leaf(x):
    leaves = tree_flatten(x)[0]
    return len(leaves) == 1 and leaves[0] is x
