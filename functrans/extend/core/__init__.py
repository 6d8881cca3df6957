"""`ft.extend.core`, as `jax.extend.core`: the jaxpr data structures (`ClosedJaxpr`,
`Jaxpr`, `JaxprEqn`, `Var`, `Literal`), `Primitive` and the primitive objects (`primitives`),
for interpreters of jaxprs: walk `jaxpr.eqns` and call `eqn.primitive.bind(*values,
**eqn.params)`; and for defining primitives as in JAX's "How JAX primitives work"
(`Primitive(name)` with `def_impl` / `def_abstract_eval`, and the rule registries of
`functrans.interpreters.ad`, `.batching` and `.mlir`)."""
from typing import AbstractSet

from ... import core as _core
from ...array import Array, wrap
from ...core import eval_jaxpr
from ...interpreters.checks import check_jaxpr as _check
from ...interpreters.rule_registries import transposing_vjp
from ...jaxpr import ClosedJaxpr, Jaxpr, JaxprEqn, Literal, Var
from . import primitives

__all__ = ["ClosedJaxpr", "Jaxpr", "JaxprEqn", "Literal", "Var", "Primitive", "primitives",
           "jaxpr_as_fun", "check_jaxpr", "Effect", "Effects", "no_effects"]


class Effect:
    """The base class of the effects a primitive's `def_effectful_abstract_eval` rule reports
    (subclass it; instances should be hashable). functrans runs every equation with effects
    in program order, so JAX's ordered and unordered effects behave alike here."""


Effects = AbstractSet[Effect]
no_effects: Effects = frozenset()


class _PrimitiveType(type):
    def __instancecheck__(cls, obj):     # as in JAX, every primitive is a Primitive
        return isinstance(obj, _core.Primitive) if cls is Primitive else \
            super().__instancecheck__(obj)


class Primitive(_core.Primitive, metaclass=_PrimitiveType):
    """A primitive defined as in JAX: `Primitive(name)`, then rules registered with
    `def_impl`, `def_abstract_eval`, `functrans.interpreters.ad.primitive_jvps` /
    `.primitive_transposes` and `functrans.interpreters.batching.primitive_batchers`; set
    `multiple_results = True` before binding for a primitive with several outputs. Its rules
    are installed as those of `functrans.core.Primitive`, so every transform applies; a rule
    not registered raises NotImplementedError naming the primitive and the rule. Reverse mode
    transposes the JVP rule. There is no lowering: `jit` runs the `def_impl` rule.

    `impl` and `abstract_eval` are functrans's conventions (`impl(xp, *raw_arrays)`); call
    the functions given to `def_impl` / `def_abstract_eval` directly instead."""

    def __init__(self, name):
        super().__init__(name)
        self.impl, self.abstract_eval = self._no_impl, self._no_abstract_eval
        self.jvp, self.vjp = self._no_jvp, transposing_vjp(self)
        self.batch = self._no_batch

    def def_impl(self, impl):
        """Register `impl(*args, **params)`, computing the output(s) on concrete values: it
        gets functrans Arrays (Python scalars as they are) and returns arrays (NumPy or
        functrans) or, with `multiple_results`, a sequence of them."""
        def kernel(xp, *raws, **params):
            args = [r if _core.is_python_scalar(r) else wrap(r) for r in raws]
            out = impl(*args, **params)
            if self.multiple_results:
                return [_raw(xp, o) for o in out]
            return _raw(xp, out)
        self.impl = kernel
        return impl

    def def_abstract_eval(self, abstract_eval):
        """Register `abstract_eval(*avals, **params)`: from avals with `.shape` and `.dtype`,
        the `ShapedArray` (`functrans.core.ShapedArray`) of the output, or a list of them with
        `multiple_results`."""
        self.abstract_eval = abstract_eval
        return abstract_eval

    def def_effectful_abstract_eval(self, effectful_abstract_eval):
        """Register a rule returning `(avals, effects)`, `effects` a set of `Effect`s. The
        primitive then has side effects: `jit` and dead-code elimination keep its equations
        even when their results are unused, and run them in program order, never at trace
        time; `make_jaxpr(f)(...).effects` (and `eqn.effects`) gathers the effects."""
        def abstract_eval(*avals, **params):
            return effectful_abstract_eval(*avals, **params)[0]

        def effects_rule(*avals, **params):
            effects = effectful_abstract_eval(*avals, **params)[1]
            try:
                return frozenset(effects)
            except TypeError:
                raise TypeError(f"the effectful abstract evaluation rule of '{self.name}' must "
                                "return (avals, effects) with effects a set of Effects, got "
                                f"{type(effects).__name__}") from None
        self.abstract_eval, self.effects_rule = abstract_eval, effects_rule
        self.effectful = True
        return effectful_abstract_eval

    def _no_impl(self, xp, *raws, **params):
        raise NotImplementedError(
            f"Evaluation rule for '{self.name}' not implemented: register one with the "
            "primitive's def_impl(f)")

    def _no_abstract_eval(self, *avals, **params):
        if self.impl == self._no_impl:
            raise NotImplementedError(
                f"Neither the evaluation rule nor the abstract evaluation rule of '{self.name}' "
                "is implemented: register them with the primitive's def_impl(f) and "
                "def_abstract_eval(f)")
        raise NotImplementedError(
            f"Abstract evaluation for '{self.name}' not implemented: register one with the "
            "primitive's def_abstract_eval(f) (jit and the transforms that trace need it)")

    def _no_jvp(self, primals, tangents, **params):
        raise NotImplementedError(
            f"Differentiation rule for '{self.name}' not implemented: register one with "
            "functrans.interpreters.ad.primitive_jvps[prim] = jvp_rule (or ad.defjvp); "
            "reverse mode transposes it")

    def _no_batch(self, vals, dims, **params):
        raise NotImplementedError(
            f"Batching rule for '{self.name}' not implemented: register one with "
            "functrans.interpreters.batching.primitive_batchers[prim] = batch_rule")


def _raw(xp, out):
    """The raw array of an output of a `def_impl` rule (moved to `xp`'s device if it is not
    there)."""
    return out._value if type(out) is Array else xp.asarray(out)


def jaxpr_as_fun(closed_jaxpr):
    """The function a ClosedJaxpr computes: its inputs in, the list of its outputs out."""
    def fun(*args):
        return eval_jaxpr(closed_jaxpr.jaxpr, closed_jaxpr.consts, *args)
    return fun


def check_jaxpr(jaxpr):
    """Raise `JaxprTypeError` unless `jaxpr` is well typed (every variable bound once before it
    is read; each equation's outputs as its primitive's rules give them)."""
    _check(jaxpr)
