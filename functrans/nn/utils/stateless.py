"""`functional_call`: a module called with some of its arrays replaced, by name
(`torch.func.functional_call` / `torch.nn.utils.stateless.functional_call`). The module itself is
unchanged (modules are immutable); the values may be traced, so

    params = dict(model.named_parameters())
    grads = ft.grad(lambda p: loss(functional_call(model, p, (x,))))(params)

differentiates with respect to a dict of parameters.
"""
from __future__ import annotations

from ...buffers import Buffer, is_buffer
from ...tree_util import tree_unflatten
from ..module import Module
from ..state_dict import array_entries

__all__ = ["functional_call"]


def _merged(parameters_and_buffers):
    dicts = parameters_and_buffers
    if hasattr(dicts, "items"):
        return dict(dicts.items())
    if not isinstance(dicts, (tuple, list)) or not all(hasattr(d, "items") for d in dicts):
        raise TypeError("functional_call: parameters_and_buffers must be a dict from names to "
                        f"arrays, or a tuple of such dicts; got {type(dicts).__name__}")
    merged = {}
    for d in dicts:
        repeated = sorted(k for k in d if k in merged)
        if repeated:
            raise ValueError(f"functional_call: {repeated} appeared in multiple dictionaries; "
                             "which value to use is ambiguous")
        merged.update(d)
    return merged


def _parametrized_names(module):
    return {f"{prefix}.{n}" if prefix else n for prefix, m in module.named_modules()
            for n in getattr(type(m), "_parametrized", ())}


def functional_call(module, parameters_and_buffers, args=None, kwargs=None, *,
                    tie_weights=True, strict=False):
    """`module(*args, **kwargs)` with the parameters and buffers named in
    `parameters_and_buffers` (a dict, or a tuple of dicts, from `state_dict`-style names to
    arrays) in place of its own. `args` that is not a tuple is the single argument. With
    `strict`, the names must be exactly the module's. Names the module does not have are
    ignored otherwise. `tie_weights` has nothing to do: a module holds no array twice."""
    if not isinstance(module, Module):
        raise TypeError(f"functional_call: expected a Module, got {type(module).__name__}")
    values = _merged(parameters_and_buffers)
    leaves, treedef, named = array_entries(module, persistent_only=False)
    known = {name for _, name, _ in named}
    for i, name, _ in named:
        if name in values:
            leaf = leaves[i]
            leaves[i] = Buffer(values[name], leaf.persistent) if is_buffer(leaf) else values[name]
    unexpected = [k for k in values if k not in known]
    clash = sorted(set(unexpected) & _parametrized_names(module))
    if clash:
        head, _, last = clash[0].rpartition(".")
        raise ValueError(f"functional_call: {clash} are parametrized (computed from their "
                         "originals); pass the originals instead, e.g. "
                         f"'{head + '.' if head else ''}parametrizations.{last}.original'")
    if strict:
        missing = [k for k in sorted(known) if k not in values]
        if unexpected or missing:
            lines = [f"Unexpected key(s): {', '.join(map(repr, unexpected))}."] * bool(unexpected)
            lines += [f"Missing key(s): {', '.join(map(repr, missing))}."] * bool(missing)
            raise ValueError(f"functional_call (strict=True): error(s) in reparametrizing for "
                             f"{type(module).__name__}:\n\t" + "\n\t".join(lines))
    args = () if args is None else args if isinstance(args, tuple) else (args,)
    return tree_unflatten(treedef, leaves)(*args, **(kwargs or {}))
