"""The pullback `vjp` returns, as JAX's VJP objects: a callable pytree whose saved state can be
passed through jit, inspected and edited.

Its state is three lists: `args_res`, mirroring the arguments, holds the argument values the
backward pass reads as they were (`NotNeeded()` where it reads none, `NotSaveable()` where
`vjp(..., saveable_args=...)` left one out); `opaque_residuals` the values the forward pass
computed; `structured_residuals` is empty (no rule here saves structured residuals). Assign
into `args_res` (or `replace(args_res=...)`) to restore a value left out before calling.
"""
from __future__ import annotations

from .core import ShapedArray, eval_jaxpr
from .jaxpr import Jaxpr
from .interpreters.partial_eval import trace_to_jaxpr
from . import dtypes
from .tree_util import (flatten_one_level, register_pytree_node, tree_flatten, tree_leaves,
                        tree_unflatten)

__all__ = ["NotNeeded", "NotSaveable", "VjpFunction"]


class _Sentinel:
    """An empty pytree node standing in for an argument value in `args_res`."""
    __slots__ = ()

    def __repr__(self):
        return f"{type(self).__name__}()"

    def __eq__(self, other):
        return type(other) is type(self)

    def __hash__(self):
        return hash(type(self))


class NotNeeded(_Sentinel):
    """In `args_res`: the backward pass does not read this argument."""
    __slots__ = ()


class NotSaveable(_Sentinel):
    """In `args_res`: a value `saveable_args` left out; restore it before calling."""
    __slots__ = ()


for _kind in (NotNeeded, NotSaveable):
    register_pytree_node(_kind, lambda s: ((), None), lambda aux, children, k=_kind: k())


def _is_sentinel(x):
    return isinstance(x, _Sentinel)


class VjpFunction:
    """The pullback `vjp` returns: `vjp_fn(cotangent)`. A pytree, as JAX's: its leaves are
    the arrays its backward pass reads, so a jitted function can return it and another take
    it as an argument (`jit(fwd)` and `jit(bwd)` on one's own schedule); see the module."""
    __slots__ = ("_signature", "_backward", "_place", "_inputs", "_saveable", "_staged",
                 "_args_res", "opaque_residuals", "structured_residuals")

    def __init__(self, signature, backward, place, inputs, saveable=None):
        self._signature, self._backward, self._place = signature, backward, place
        self._inputs, self._saveable = inputs, saveable     # (until staged)
        self._staged = self._args_res = self.opaque_residuals = None
        self.structured_residuals = []
        if saveable is not None:
            self._stage()               # left out now: the pullback no longer holds them

    def __call__(self, ct):
        sig = self._signature
        cts = sig.cotangents(ct, self._place)
        if self._staged is None:
            return sig.inputs(self._backward(cts))
        return sig.inputs(self._staged.run(self._residuals(), cts))

    @property
    def args_res(self):
        self._stage()
        return self._args_res

    @args_res.setter
    def args_res(self, value):
        self._stage()
        self._args_res = list(value)

    def replace(self, **changes):
        """A copy with `args_res`, `opaque_residuals` or `structured_residuals` replaced."""
        staged = self._stage()
        unknown = set(changes) - {"args_res", "opaque_residuals", "structured_residuals"}
        if unknown:
            raise TypeError(f"VjpFunction.replace: unknown fields {sorted(unknown)}; it takes "
                            "args_res, opaque_residuals and structured_residuals")
        state = {"args_res": self._args_res, "opaque_residuals": self.opaque_residuals,
                 "structured_residuals": self.structured_residuals, **changes}
        return VjpFunction._from_state(staged, [list(state[k]) for k in (
            "args_res", "opaque_residuals", "structured_residuals")])

    def _stage(self):
        """Trace the backward pass once, and split what it reads into the state lists."""
        if self._staged is None:
            staged, leaves = _StagedBackward.trace(self, self._inputs, self._saveable)
            self._staged = staged
            self._args_res, self.opaque_residuals = staged.split(leaves, self._inputs)
            self._backward = self._inputs = self._saveable = None
        return self._staged

    def _residuals(self):
        """The staged backward's leaves, from the state lists (checking restored values)."""
        staged = self._staged
        flat = tree_flatten(tuple(self._args_res), is_leaf=_is_sentinel)[0]
        if len(flat) != len(staged.needed):
            raise ValueError(f"vjp: args_res holds {len(flat)} values where the arguments "
                             f"have {len(staged.needed)}; assign values of the arguments' "
                             "structure")
        missing = sorted({staged.arg_of[i] for i, v in enumerate(flat)
                          if staged.needed[i] and _is_sentinel(v)})
        if missing:
            raise ValueError(
                f"vjp: the backward pass needs argument{'s' if len(missing) > 1 else ''} "
                f"{', '.join(map(str, missing))}, left out by saveable_args and not restored; "
                f"assign it first, e.g. f_vjp.args_res[{missing[0]}] = value")
        return [flat[i] if from_arg else self.opaque_residuals[i]
                for from_arg, i in staged.slots]

    def _flatten(self):
        self._stage()
        return [self._args_res, self.opaque_residuals, self.structured_residuals], self._staged

    @staticmethod
    def _from_state(staged, state):
        leaves = tree_leaves(state)          # (the sentinels are nodes without leaves)
        fn = VjpFunction(staged.signature, None,
                         [leaves[0] if leaves else None] * len(staged.signature.outs), None)
        fn._staged = staged
        fn._args_res, fn.opaque_residuals, fn.structured_residuals = map(list, state)
        return fn


class _StagedBackward:
    """A pullback traced to a jaxpr of (its residuals, the float cotangents): the static part
    of a flattened `VjpFunction`, with where each residual comes from (`slots`: an input leaf
    read as it was, or an opaque residual), which input leaves the backward pass reads
    (`needed`), each input leaf's argument (`arg_of`) and which may be saved."""

    def __init__(self, signature, jaxpr, uses, slots, needed, arg_of, saveable):
        self.signature, self.jaxpr, self.uses = signature, jaxpr, uses
        self.slots, self.needed, self.arg_of, self.saveable = slots, needed, arg_of, saveable

    @classmethod
    def trace(cls, fn, inputs, saveable_args):
        sig = fn._signature
        uses = [dtypes.is_inexact(d) for _, d in sig.outs]
        avals = [ShapedArray(s, d) for (s, d), u in zip(sig.outs, uses) if u]

        def flat(*cts):
            it = iter(cts)
            return fn._backward([next(it) if u else None for u in uses])
        closed, hoisted = trace_to_jaxpr(flat, avals, name="vjp backward")
        j = closed.jaxpr
        n = len(hoisted)
        jaxpr = Jaxpr([], j.invars[:n] + j.constvars + j.invars[n:], j.outvars, j.eqns)
        leaves = list(hoisted) + list(closed.consts)
        raw = {id(getattr(x, "_value", x)): i for i, x in enumerate(inputs)}
        slots, opaque, needed = [], 0, [False] * len(inputs)
        for leaf in leaves:
            i = raw.get(id(getattr(leaf, "_value", leaf)))
            if i is None:
                slots.append((False, opaque))
                opaque += 1
            else:
                slots.append((True, i))
                needed[i] = True
        args = tree_unflatten(sig.in_tree, list(range(len(inputs))))
        arg_of = [a for a, arg in enumerate(args) for _ in tree_leaves(arg)]
        saveable = _saveable_leaves(saveable_args, args)
        return cls(sig, jaxpr, uses, slots, needed, arg_of, saveable), leaves

    def split(self, leaves, inputs):
        """(args_res, opaque residuals) of the traced `leaves`."""
        flat = [(x if ok else NotSaveable()) if need else NotNeeded()
                for x, need, ok in zip(inputs, self.needed, self.saveable)]
        opaque = [leaf for leaf, (from_arg, _) in zip(leaves, self.slots) if not from_arg]
        return list(tree_unflatten(self.signature.in_tree, flat)), opaque

    def run(self, leaves, cts):
        return eval_jaxpr(self.jaxpr, [], *leaves, *[c for c in cts if c is not None])


def _saveable_leaves(spec, args):
    """One bool per input leaf from `saveable_args`: a tree of bools matching the arguments
    loosely (a container by its number of children; a bool covers a whole subtree)."""
    out = []

    def walk(s, tree, where):
        if s is None or isinstance(s, bool):
            out.extend([s is not False] * len(tree_leaves(tree)))
            return
        if not isinstance(s, (tuple, list)):
            raise TypeError(f"vjp: saveable_args{where} is {type(s).__name__}; it takes bools "
                            "in nested tuples, one entry per argument (or per child)")
        try:
            children = flatten_one_level(tree)[0]
        except ValueError:
            children = None
        if children is None or len(children) != len(s):
            got = "a leaf" if children is None else f"{len(children)} children"
            raise ValueError(f"vjp: saveable_args{where} has {len(s)} entries but the argument "
                             f"there has {got}")
        for k, (si, child) in enumerate(zip(s, children)):
            walk(si, child, f"{where}[{k}]")
    walk(True if spec is None else spec, args, "")
    return out


register_pytree_node(VjpFunction, VjpFunction._flatten, VjpFunction._from_state)
