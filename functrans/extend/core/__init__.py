"""`ft.extend.core`, as `jax.extend.core`: the jaxpr data structures (`ClosedJaxpr`,
`Jaxpr`, `JaxprEqn`, `Var`, `Literal`), `Primitive` and the primitive objects (`primitives`),
for interpreters of jaxprs: walk `jaxpr.eqns` and call `eqn.primitive.bind(*values,
**eqn.params)`."""
from ...core import Primitive, eval_jaxpr
from ...interpreters.checks import check_jaxpr as _check
from ...jaxpr import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var
from . import primitives

__all__ = ["ClosedJaxpr", "Jaxpr", "JaxprEqn", "Literal", "Var", "Primitive", "primitives",
           "jaxpr_as_fun", "check_jaxpr"]


def jaxpr_as_fun(closed_jaxpr):
    """The function a ClosedJaxpr computes: its inputs in, the list of its outputs out."""
    def fun(*args):
        return eval_jaxpr(closed_jaxpr.jaxpr, closed_jaxpr.consts, *args)
    return fun


def check_jaxpr(jaxpr):
    """Raise `JaxprTypeError` unless `jaxpr` is well typed (every variable bound once before it
    is read; each equation's outputs as its primitive's rules give them)."""
    _check(jaxpr)
