"""JAX's rule registries, for primitives defined as in JAX's "How JAX primitives work":
`ad.primitive_jvps`, `ad.defjvp`, `ad.primitive_transposes` (with `ad.Zero`,
`ad.UndefinedPrimal`, `ad.is_undefined_primal`, `ad.instantiate_zeros`) and
`batching.primitive_batchers` (with `batching.not_mapped`); `functrans.interpreters.ad` and
`functrans.interpreters.batching` export them under those names.

Registering a rule installs it, adapted, as the primitive's own (see `core.Primitive`):

- a JVP rule `jvp(primals, tangents, **params) -> (out, tangent_out)` sees `Zero(aval)` for a
  zero tangent (functrans's rules see None) and may return one. It becomes the primitive's
  `jvp`, and its reverse mode becomes `transposing_vjp`: the tangent map the JVP rule computes
  is traced to a jaxpr (once per primitive, params, and the primals' shapes and dtypes) and
  transposed, equation by equation from the last, with the `primitive_transposes` rule of each
  primitive used linearly (functrans's own primitives without one are transposed by their
  reverse-mode rules, which at zero tangents is the same). `defjvp`, `defjvp2`, `defjvp_zero`,
  `deflinear`, `deflinear2` and `defbilinear` register common kinds of rules.
- a transpose rule `transpose(ct, *args, **params)` gets `UndefinedPrimal(aval)` for the
  arguments the tangent map is linear in, the values of the others, and the output's
  cotangent (a list of them for `multiple_results`; `Zero` where one is zero); it returns one
  cotangent per argument (None or `Zero` for the others).
- a batching rule `batch(vector_arg_values, batch_axes, **params) -> (out, out_axis)`, with
  None (`not_mapped`) for the unbatched, is functrans's `batch` convention already.
"""
from __future__ import annotations

import functools
import weakref

from ..core import get_aval, is_python_scalar
from ..errors import ConcretizationError, TracerArrayConversionError
from ..jaxpr import Literal, Var
from ..primitives._util import wanted
from ..primitives.elementwise import add
from ..primitives.shape_ops import full, zeros_or
from .partial_eval import dce_jaxpr, trace_to_jaxpr

__all__ = ["Zero", "UndefinedPrimal", "is_undefined_primal", "instantiate_zeros",
           "primitive_jvps", "primitive_transposes", "defjvp", "defjvp2", "defjvp_zero",
           "deflinear", "deflinear2", "defbilinear", "get_primitive_transpose",
           "primitive_batchers", "not_mapped", "transposing_vjp"]

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
    _single_result("defjvp", primitive)
    primitive_jvps[primitive] = functools.partial(_standard_jvp, jvprules, primitive, False)


def defjvp2(primitive, *jvprules):
    """As `defjvp`, but each rule also gets the primal output: `rule(tangent, out, *primals,
    **params)`."""
    _single_result("defjvp2", primitive)
    primitive_jvps[primitive] = functools.partial(_standard_jvp, jvprules, primitive, True)


def _single_result(what, primitive):
    if primitive.multiple_results:
        raise ValueError(f"{what}: {primitive.name} has multiple results; register a JVP rule "
                         "in primitive_jvps instead")


def _standard_jvp(jvprules, primitive, with_out, primals, tangents, **params):
    out = primitive.bind(*primals, **params)
    lead = (out,) if with_out else ()
    parts = [rule(t, *lead, *primals, **params) for rule, t in zip(jvprules, tangents)
             if rule is not None and type(t) is not Zero]
    parts = [p for p in parts if p is not None and type(p) is not Zero]
    return out, functools.reduce(add, parts) if parts else Zero(get_aval(out))


def defjvp_zero(primitive):
    """Register a JVP for a primitive whose outputs do not vary with its inputs (their
    tangents are zero)."""
    def jvp(primals, tangents, **params):
        out = primitive.bind(*primals, **params)
        if primitive.multiple_results:
            return out, [Zero(get_aval(o)) for o in out]
        return out, Zero(get_aval(out))
    primitive_jvps[primitive] = jvp


def deflinear(primitive, transpose_rule):
    """Register a primitive linear in all its arguments jointly: its JVP applies it to the
    tangents, and its transpose is `transpose_rule(cotangent, **params)`, returning one
    cotangent per argument."""
    _deflinear(primitive, lambda ct, *args, **params: transpose_rule(ct, **params))


def deflinear2(primitive, transpose_rule):
    """As `deflinear`, but `transpose_rule(cotangent, *args, **params)` also gets the
    arguments (`UndefinedPrimal`s, whose `aval` gives the shape and dtype)."""
    _deflinear(primitive, transpose_rule)


def _deflinear(primitive, transpose_rule):
    def jvp(primals, tangents, **params):
        out = primitive.bind(*primals, **params)
        if all(type(t) is Zero for t in tangents):
            zero = [Zero(get_aval(o)) for o in out] if primitive.multiple_results \
                else Zero(get_aval(out))
            return out, zero
        return out, primitive.bind(*map(instantiate_zeros, tangents), **params)

    def transpose(ct, *args, **params):
        cts = ct if primitive.multiple_results else [ct]
        if all(type(c) is Zero for c in cts):
            return [None] * len(args)
        return transpose_rule(ct, *args, **params)
    primitive_jvps[primitive] = jvp
    primitive_transposes[primitive] = transpose


def defbilinear(primitive, lhs_rule, rhs_rule):
    """Register a primitive of two arguments linear in each: its JVP is `prim(x', y) +
    prim(x, y')`, and its transpose, used with one argument known, is `lhs_rule(ct, x, y,
    **params)` for the cotangent of x (y known), `rhs_rule(ct, x, y, **params)` for y's."""
    defjvp(primitive, lambda g, x, y, **params: primitive.bind(g, y, **params),
           lambda g, x, y, **params: primitive.bind(x, g, **params))

    def transpose(ct, x, y, **params):
        if is_undefined_primal(x) == is_undefined_primal(y):
            raise ValueError(f"the transpose of bilinear {primitive.name} needs exactly one "
                             "of its two arguments known")
        if type(ct) is Zero:
            return None, None
        if is_undefined_primal(x):
            return lhs_rule(ct, x, y, **params), None
        return None, rhs_rule(ct, x, y, **params)
    primitive_transposes[primitive] = transpose


def get_primitive_transpose(primitive):
    """The transpose rule registered for `primitive` in `primitive_transposes`."""
    try:
        return primitive_transposes[primitive]
    except KeyError:
        raise NotImplementedError(
            f"Transpose rule (for reverse-mode differentiation) for '{primitive.name}' not "
            "implemented: register one with functrans.interpreters.ad.primitive_transposes"
            "[prim] = transpose_rule") from None


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
    jaxpr, consts, known = tangent_map_jaxpr(prim, primals, diff, params)
    got = iter(backward_pass(jaxpr, consts, known, cts))
    return [next(got) if i in diff else None for i in range(len(primals))]


_tangent_maps = weakref.WeakKeyDictionary()     # prim -> {key: (jaxpr, consts) or _CONCRETE}
_CONCRETE = "the JVP rule needs concrete primals"


def tangent_map_jaxpr(prim, primals, diff, params):
    """The tangent map of `prim`'s JVP rule at `primals` as `(jaxpr, consts, known)`: a jaxpr
    linear in its inputs after the `known` values. Its inputs are the array primals (Python
    scalars are baked in), so it is traced once per primitive, params and shapes and dtypes;
    a rule that needs the primals' values (Python control flow on them) is traced at them, on
    every call."""
    arrays = [i for i, p in enumerate(primals) if not is_python_scalar(p)]
    avals = [get_aval(p).strip_weak() for p in primals]
    key = _tangent_map_key(primals, avals, diff, params)
    table = _tangent_maps.setdefault(prim, {})
    got = table.get(key) if key is not None else None
    if got is None:
        def tangent_map(*args):
            full_primals = list(primals)
            for i, a in zip(arrays, args):
                full_primals[i] = a
            return jvp_tangent_map(prim, full_primals, diff, params)(*args[len(arrays):])
        try:
            closed, hoisted = trace_to_jaxpr(tangent_map, [avals[i] for i in arrays] +
                                             [avals[i] for i in diff], name="transpose")
        except (ConcretizationError, TracerArrayConversionError):
            closed, hoisted = None, ()
        got = _CONCRETE if closed is None else (dce_jaxpr(closed.jaxpr)[0], closed.consts)
        if key is not None and not hoisted:     # hoisted: the rule closed over outer tracers
            table[key] = got
    else:
        hoisted = ()
    if got is not _CONCRETE:
        return got[0], got[1], list(hoisted) + [primals[i] for i in arrays]
    closed, hoisted = trace_to_jaxpr(jvp_tangent_map(prim, primals, diff, params),
                                     [avals[i] for i in diff], name="transpose")
    return dce_jaxpr(closed.jaxpr)[0], closed.consts, hoisted


def _tangent_map_key(primals, avals, diff, params):
    """What a tangent map's jaxpr depends on, or None where it cannot be a dict key."""
    key = (tuple(diff), tuple(sorted(params.items())),
           tuple((type(p), p) if is_python_scalar(p) else (a.shape, a.dtype)
                 for p, a in zip(primals, avals)))
    try:
        hash(key)
    except TypeError:
        return None
    return key


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
