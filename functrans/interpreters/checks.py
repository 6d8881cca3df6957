"""Checks run after a function is traced to a jaxpr, when their settings are on:
`enable_checks` type-checks the jaxpr (`check_jaxpr`) and `check_tracer_leaks` raises where
a tracer of the finished trace is still alive (`check_no_leaks`): JAX's
`jax_enable_checks` and `jax_check_tracer_leaks`. Both are slow; they are for debugging."""
from __future__ import annotations

import gc

from ..core import Tracer
from ..errors import UnexpectedTracerError
from ..jaxpr import ClosedJaxpr, Var, param_jaxprs


class JaxprTypeError(TypeError):
    """A jaxpr that breaks its invariants (JAX's name)."""


def _same_type(a, b):
    if hasattr(a, "shape") and hasattr(b, "shape"):
        return tuple(a.shape) == tuple(b.shape) and a.dtype == b.dtype
    return a == b


def check_jaxpr(jaxpr, where="jaxpr"):
    """Raise JaxprTypeError unless every variable of `jaxpr` (a Jaxpr or ClosedJaxpr) is
    bound once before it is read, each equation's outputs have the shapes and dtypes its
    primitive's `abstract_eval` gives for its inputs, and the jaxprs in its equations'
    parameters check too."""
    if isinstance(jaxpr, ClosedJaxpr):
        jaxpr = jaxpr.jaxpr
    bound = set()

    def bind(v, what):
        if v in bound:
            raise JaxprTypeError(f"{where}: variable {v} is bound twice ({what})")
        bound.add(v)

    def read(v, what):
        if isinstance(v, Var) and v not in bound:
            raise JaxprTypeError(f"{where}: variable {v} is read before it is bound ({what})")

    for v in jaxpr.constvars + jaxpr.invars:
        bind(v, "an input")
    for i, eqn in enumerate(jaxpr.eqns):
        what = f"equation {i}, {eqn.primitive.name}"
        for v in eqn.invars:
            read(v, what)
        for sub in param_jaxprs(eqn.params):
            check_jaxpr(sub, f"{where}, {what}")
        rule = eqn.primitive.abstract_eval
        if rule is not None:
            want = rule(*[v.aval for v in eqn.invars], **eqn.params)
            want = list(want) if eqn.primitive.multiple_results else [want]
            got = [v.aval for v in eqn.outvars]
            if len(want) != len(got) or not all(map(_same_type, want, got)):
                raise JaxprTypeError(
                    f"{where}: {what} has outputs ({', '.join(a.str_short() for a in got)}) "
                    f"but its inputs give ({', '.join(a.str_short() for a in want)})")
        for v in eqn.outvars:
            bind(v, what)
    for v in jaxpr.outvars:
        read(v, "an output")


def check_no_leaks(trace, name):
    """Raise UnexpectedTracerError if a tracer of `trace` (whose transform `name` has just
    finished) is still referenced from anywhere."""
    gc.collect()
    leaked = [r for r in gc.get_referrers(trace) if isinstance(r, Tracer)]
    if leaked:
        shown = ", ".join(t.aval.str_short() for t in leaked[:5])
        raise UnexpectedTracerError(
            f"{name} leaked {len(leaked)} tracer(s) ({shown}): a traced value is still "
            "referenced after the transform finished (kept in a global, a list, an attribute "
            "such as self.x, or a closure). Return it from the function instead.")
