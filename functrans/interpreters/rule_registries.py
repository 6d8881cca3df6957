"""JAX's rule registries, for primitives defined as in JAX's "How JAX primitives work":
`ad.primitive_jvps`, `ad.defjvp`, `ad.primitive_transposes` (with `ad.Zero`,
`ad.UndefinedPrimal`, `ad.is_undefined_primal`, `ad.instantiate_zeros`) and
`batching.primitive_batchers` (with `batching.not_mapped`); `functrans.interpreters.ad` and
`functrans.interpreters.batching` export them under those names.

Registering a rule installs it, adapted, as the primitive's own (see `core.Primitive`):

- a JVP rule `jvp(primals, tangents, **params) -> (out, tangent_out)` sees `Zero(aval)` for a
  zero tangent (functrans's rules see None) and may return one. It becomes the primitive's
  `jvp`, and its reverse mode becomes `transposing_vjp`: the tangent map the JVP rule computes
  is traced to a jaxpr and transposed, equation by equation from the last, with the
  `primitive_transposes` rule of each primitive used linearly (functrans's own primitives
  without one are transposed by their reverse-mode rules, which at zero tangents is the same).
- a transpose rule `transpose(ct, *args, **params)` gets `UndefinedPrimal(aval)` for the
  arguments the tangent map is linear in, the values of the others, and the output's
  cotangent (a list of them for `multiple_results`; `Zero` where one is zero); it returns one
  cotangent per argument (None or `Zero` for the others).
- a batching rule `batch(vector_arg_values, batch_axes, **params) -> (out, out_axis)`, with
  None (`not_mapped`) for the unbatched, is functrans's `batch` convention already.
"""
from __future__ import annotations

import functools

from ..core import get_aval
from ..jaxpr import Literal, Var
from ..primitives._util import wanted
from ..primitives.elementwise import add
from ..primitives.shape_ops import full, zeros_or
from .partial_eval import dce_jaxpr, trace_to_jaxpr

__all__ = ["Zero", "UndefinedPrimal", "is_undefined_primal", "instantiate_zeros",
           "primitive_jvps", "primitive_transposes", "defjvp", "primitive_batchers",
           "not_mapped", "transposing_vjp"]

not_mapped = None       # the batch axis of an unbatched operand (older JAX's name for None)


class Zero:
    """A symbolic zero tangent or cotangent of abstract value `aval`."""
    __slots__ = ("aval",)

    def __init__(self, aval):
        self.aval = aval

    def __repr__(self):
        return f"Zero({self.aval})"

    def instantiate(self):
        """Zeros of the aval's shape and dtype, on the default device."""
        return full(self.aval.shape, 0, self.aval.dtype)


class UndefinedPrimal:
    """What a transpose rule gets for an argument the tangent map is linear in."""
    __slots__ = ("aval",)

    def __init__(self, aval):
        self.aval = aval

    def __repr__(self):
        return f"UndefinedPrimal({self.aval})"


def is_undefined_primal(x):
    """Whether a transpose rule's argument `x` is one the tangent map is linear in."""
    return type(x) is UndefinedPrimal


def instantiate_zeros(tangent):
    """`tangent`, or zeros of its aval where it is a `Zero`."""
    return tangent.instantiate() if type(tangent) is Zero else tangent


def _nonzero(t):
    return None if type(t) is Zero else t


class _Registry(dict):
    """A dict of rules by primitive whose assignment also installs the rule on the primitive."""

    def __init__(self, install):
        super().__init__()
        self._install = install

    def __setitem__(self, prim, rule):
        if not callable(rule):
            raise TypeError(f"the rule registered for {prim!r} must be callable, got "
                            f"{type(rule).__name__}")
        self._install(prim, rule)
        super().__setitem__(prim, rule)


def _install_jvp(prim, rule):
    def jvp(primals, tangents, **params):
        ts = tuple(Zero(get_aval(p)) if t is None else t for p, t in zip(primals, tangents))
        out, t_out = rule(tuple(primals), ts, **params)
        if prim.multiple_results:
            return list(out), [_nonzero(t) for t in t_out]
        return out, _nonzero(t_out)
    prim.jvp = jvp
    prim.vjp, prim.reverse_by_transposing_jvp = transposing_vjp(prim), None


def _install_batch(prim, rule):
    def batch(vals, dims, **params):
        return rule(tuple(vals), tuple(dims), **params)
    prim.batch = batch


primitive_jvps = _Registry(_install_jvp)
primitive_transposes = _Registry(lambda prim, rule: None)      # read by `transpose_jvp`
primitive_batchers = _Registry(_install_batch)


def defjvp(primitive, *jvprules):
    """Register the JVP of a single-result primitive from one rule per argument:
    `rule(tangent, *primals, **params)` is that argument's part of the output tangent (None
    for an argument that is not differentiable)."""
    if primitive.multiple_results:
        raise ValueError(f"defjvp: {primitive.name} has multiple results; register a JVP rule "
                         "in primitive_jvps instead")
    primitive_jvps[primitive] = functools.partial(_standard_jvp, jvprules, primitive)


def _standard_jvp(jvprules, primitive, primals, tangents, **params):
    out = primitive.bind(*primals, **params)
    parts = [rule(t, *primals, **params) for rule, t in zip(jvprules, tangents)
             if rule is not None and type(t) is not Zero]
    parts = [p for p in parts if p is not None and type(p) is not Zero]
    return out, functools.reduce(add, parts) if parts else Zero(get_aval(out))


# =================================================================== reverse by transposing
def transposing_vjp(prim):
    """`prim`'s reverse rule (functrans's `vjp` convention): the transpose of the tangent map
    of its JVP rule, at the primal point."""
    def vjp(primals, needs, **params):
        out = prim.bind(*primals, **params)
        diff = [i for i, w in enumerate(wanted(needs, primals)) if w]
        if not diff:
            return out, None

        def backward(cts):
            return transpose_jvp(prim, primals, diff, params,
                                 cts if prim.multiple_results else [cts])
        return out, backward
    vjp.transposes_jvp = True
    return vjp


def jvp_tangent_map(prim, primals, diff, params):
    """The tangent map of `prim`'s JVP rule at `primals`: a function of the tangents of the
    arguments `diff` (the others zero) giving the list of output tangents (zeros, not None)."""
    def tangent_map(*ts):
        tangents = [None] * len(primals)
        for i, t in zip(diff, ts):
            tangents[i] = t
        out, t_out = prim.jvp(primals, tangents, **params)
        if not prim.multiple_results:
            out, t_out = [out], [t_out]
        return [zeros_or(t, o) for o, t in zip(out, t_out)]
    return tangent_map


def transpose_jvp(prim, primals, diff, params, cts):
    """The cotangents of `primals` (None for those not in `diff`) given the output cotangents
    `cts` (None: zero), by transposing the tangent map of `prim`'s JVP rule."""
    closed, hoisted = trace_to_jaxpr(jvp_tangent_map(prim, primals, diff, params),
                                     [get_aval(primals[i]).strip_weak() for i in diff],
                                     name="transpose")
    jaxpr, _ = dce_jaxpr(closed.jaxpr)
    got = iter(backward_pass(jaxpr, list(closed.consts), hoisted, cts))
    return [next(got) if i in diff else None for i in range(len(primals))]


def backward_pass(jaxpr, consts, known, cts):
    """Transpose `jaxpr`, linear in its inputs after the `known` ones: the cotangents (None:
    zero) of those inputs given the cotangents `cts` of its outputs. Equations that do not
    depend on the linear inputs run forward first."""
    env = dict(zip(jaxpr.constvars, consts))
    env.update(zip(jaxpr.invars, known))
    linear = set(jaxpr.invars[len(known):])

    def read(v):
        return v.val if type(v) is Literal else env[v]

    linear_eqns = []
    for eqn in jaxpr.eqns:
        if any(type(v) is Var and v in linear for v in eqn.invars):
            linear_eqns.append(eqn)
            linear.update(eqn.outvars)
        else:
            out = eqn.primitive.bind(*map(read, eqn.invars), **eqn.params)
            env.update(zip(eqn.outvars, out if eqn.primitive.multiple_results else [out]))
    ct_env = {}

    def accumulate(v, ct):
        if type(v) is Var and v in linear and ct is not None and type(ct) is not Zero:
            ct_env[v] = add(ct_env[v], ct) if v in ct_env else ct
    for v, ct in zip(jaxpr.outvars, cts):
        accumulate(v, ct)
    for eqn in reversed(linear_eqns):
        out_cts = [ct_env.pop(v, None) for v in eqn.outvars]
        if all(c is None for c in out_cts):
            continue
        args = [UndefinedPrimal(v.aval) if type(v) is Var and v in linear else read(v)
                for v in eqn.invars]
        for v, ct in zip(eqn.invars, _transpose(eqn, args, out_cts)):
            accumulate(v, ct)
    return [ct_env.get(v) for v in jaxpr.invars[len(known):]]


def _transpose(eqn, args, out_cts):
    prim = eqn.primitive
    rule = primitive_transposes.get(prim)
    if rule is not None:
        cts = [Zero(v.aval) if c is None else c for v, c in zip(eqn.outvars, out_cts)]
        got = rule(cts if prim.multiple_results else cts[0], *args, **eqn.params)
        if len(got) != len(args):
            raise ValueError(f"the transpose rule of {prim.name} returned {len(got)} "
                             f"cotangents for its {len(args)} arguments; return one per "
                             "argument (None for those not linear)")
        return got
    if getattr(prim.vjp, "transposes_jvp", False):
        raise NotImplementedError(
            f"Transpose rule (for reverse-mode differentiation) for '{prim.name}' not "
            f"implemented: its JVP rule's tangent computation uses {prim.name} linearly; "
            "register one with functrans.interpreters.ad.primitive_transposes[prim] = "
            "transpose_rule")
    from .ad import vjp_flat
    lin = [i for i, a in enumerate(args) if is_undefined_primal(a)]
    like = next(c for c in out_cts if c is not None)

    def f(*xs):
        full_args = list(args)
        for i, x in zip(lin, xs):
            full_args[i] = x
        out = prim.bind(*full_args, **eqn.params)
        return out if prim.multiple_results else [out]
    # a map linear in `xs`: its reverse mode anywhere (at zero) is its transpose
    zeros = [full(args[i].aval.shape, 0, args[i].aval.dtype, like=like) for i in lin]
    _, pullback = vjp_flat(f, zeros, name="transpose")
    got = iter(pullback(out_cts))
    return [next(got) if i in lin else None for i in range(len(args))]
