"""Jaxprs, the staged form of a function: typed input variables (`Var`), one equation
(`JaxprEqn`) per primitive application, and outputs; a `ClosedJaxpr` also holds values for
its constants. `functrans.interpreters.partial_eval` builds them, `core.eval_jaxpr` replays
one through `bind` (so it can itself be transformed), and `functrans.compiler` lowers them to
cached kernels. Printed as `{ lambda consts ; args . let eqns in (outs) }`.
"""
from __future__ import annotations

import itertools

import numpy as np

_var_ids = itertools.count()


class Var:
    """A jaxpr variable: an abstract value and an identity."""
    __slots__ = ("aval", "id")

    def __init__(self, aval):
        self.aval = aval
        self.id = next(_var_ids)

    def __repr__(self):
        return f"Var({self.id}:{self.aval.str_short()})"


class Literal:
    """A constant written inline in a jaxpr (Python scalars)."""
    __slots__ = ("val", "aval")

    def __init__(self, val, aval):
        self.val, self.aval = val, aval

    def __repr__(self):
        return f"Literal({self.val!r})"


class JaxprEqn:
    __slots__ = ("primitive", "invars", "params", "outvars", "source_info")

    def __init__(self, primitive, invars, params, outvars, source_info=None):
        self.primitive, self.invars, self.params = primitive, invars, params
        self.outvars, self.source_info = outvars, source_info

    @property
    def effects(self):
        """Its effects (JAX's `JaxprEqn.effects`), a frozenset: those its primitive's
        `effects_rule` (from `extend.core.Primitive.def_effectful_abstract_eval`) reports, and
        those of the jaxprs among its params."""
        rule = getattr(self.primitive, "effects_rule", None)
        own = rule(*[v.aval for v in self.invars], **self.params) if rule else frozenset()
        return own.union(*[j.effects for j in param_jaxprs(self.params)])

    def replace(self, **kw):
        fields = {s: getattr(self, s) for s in self.__slots__}
        fields.update(kw)
        return JaxprEqn(**fields)

    def __repr__(self):
        return PrettyPrinter().eqn(self, 0)


class Jaxpr:
    """A staged function: `constvars` and `invars` in, `eqns` in order, `outvars` out."""
    __slots__ = ("constvars", "invars", "outvars", "eqns", "cache", "__weakref__")

    def __init__(self, constvars, invars, outvars, eqns):
        self.constvars, self.invars = list(constvars), list(invars)
        self.outvars, self.eqns = list(outvars), list(eqns)
        self.cache = {}           # derived jaxprs and compiled code, keyed by transform

    @property
    def in_avals(self):
        return [v.aval for v in self.invars]

    @property
    def out_avals(self):
        return [v.aval for v in self.outvars]

    @property
    def effectful(self):
        got = self.cache.get("effectful")
        if got is None:
            got = self.cache["effectful"] = any(is_effectful(e.primitive, e.params)
                                                for e in self.eqns)
        return got

    @property
    def effects(self):
        """The effects of its equations (JAX's `Jaxpr.effects`), a frozenset."""
        got = self.cache.get("effects")
        if got is None:
            got = self.cache["effects"] = frozenset().union(*[e.effects for e in self.eqns])
        return got

    def __str__(self):
        return PrettyPrinter().jaxpr(self, 0)

    __repr__ = __str__

    def _repr_html_(self):
        import html
        return f"<pre>{html.escape(str(self))}</pre>"


def is_effectful(prim, params):
    """Whether applying `prim` with `params` has side effects (it is effectful, or a jaxpr it
    carries is): such equations are never removed, merged, reordered or hoisted."""
    return prim.effectful or any(j.effectful for j in param_jaxprs(params))


def param_jaxprs(params):
    """The jaxprs (Jaxpr or ClosedJaxpr) among an equation's parameters, tuples included."""
    for v in params.values():
        if isinstance(v, (Jaxpr, ClosedJaxpr)):
            yield v
        elif isinstance(v, tuple):
            for u in v:
                if isinstance(u, (Jaxpr, ClosedJaxpr)):
                    yield u


class ClosedJaxpr:
    """A jaxpr with values for its constvars."""
    __slots__ = ("jaxpr", "consts", "cache", "__weakref__")

    def __init__(self, jaxpr, consts):
        assert len(jaxpr.constvars) == len(consts)
        self.jaxpr, self.consts = jaxpr, list(consts)
        self.cache = {}

    in_avals = property(lambda self: self.jaxpr.in_avals)
    out_avals = property(lambda self: self.jaxpr.out_avals)
    literals = property(lambda self: self.consts)       # JAX's name
    eqns = property(lambda self: self.jaxpr.eqns)
    effectful = property(lambda self: self.jaxpr.effectful)
    effects = property(lambda self: self.jaxpr.effects)

    def __str__(self):
        return str(self.jaxpr)

    __repr__ = __str__

    def _repr_html_(self):
        return self.jaxpr._repr_html_()


# =================================================================== pretty-printing
class PrettyPrinter:
    """Readable jaxprs: `{ lambda consts ; args . let eqns in (outs) }`, names a, b, …"""

    def __init__(self):
        self.names = {}

    def name(self, v):
        if type(v) is Literal:
            return repr(v.val)
        n = self.names.get(v)
        if n is None:
            n = self.names[v] = _nth_name(len(self.names))
        return n

    def binder(self, v):
        return f"{self.name(v)}:{v.aval.str_short()}"

    def jaxpr(self, jaxpr, indent):
        pad = " " * indent
        consts = " ".join(self.binder(v) for v in jaxpr.constvars)
        args = " ".join(self.binder(v) for v in jaxpr.invars)
        lines = [f"{{ lambda {consts}{'; ' if consts else ''}{args}. let"]
        for eqn in jaxpr.eqns:
            lines.append(self.eqn(eqn, indent + 4))
        outs = ", ".join(self.name(v) for v in jaxpr.outvars)
        lines.append(f"{pad}  in ({outs}{',' if len(jaxpr.outvars) == 1 else ''}) }}")
        return "\n".join(lines)

    def eqn(self, eqn, indent):
        pad = " " * indent
        lhs = " ".join(self.binder(v) for v in eqn.outvars) or "_"
        params, nested = [], []
        for k, v in sorted(eqn.params.items()):
            if isinstance(v, (Jaxpr, ClosedJaxpr)):
                nested.append((k, v.jaxpr if isinstance(v, ClosedJaxpr) else v))
            elif isinstance(v, tuple) and v and all(isinstance(u, (Jaxpr, ClosedJaxpr)) for u in v):
                for i, u in enumerate(v):
                    nested.append((f"{k}[{i}]", u.jaxpr if isinstance(u, ClosedJaxpr) else u))
            else:
                params.append(f"{k}={_param_str(v)}")
        head = eqn.primitive.name + (f"[{' '.join(params)}]" if params else "")  # (as JAX)
        args = " ".join(self.name(v) for v in eqn.invars)
        text = f"{pad}{lhs} = {head} {args}".rstrip()
        for k, j in nested:
            text += f"\n{pad}  {k}=" + PrettyPrinter().jaxpr(j, indent + 2)
        return text


def _param_str(v):
    if isinstance(v, np.dtype):
        return v.name
    if isinstance(v, type) and issubclass(v, np.generic):
        return np.dtype(v).name
    if callable(v) and not isinstance(v, (tuple, list)):
        return getattr(v, "__name__", type(v).__name__)
    r = repr(v)
    return r if len(r) <= 80 else r[:77] + "..."


def _nth_name(n):
    letters = "abcdefghijklmnopqrstuvwxyz"
    s = ""
    while True:
        s = letters[n % 26] + s
        n //= 26
        if n == 0:
            return s
