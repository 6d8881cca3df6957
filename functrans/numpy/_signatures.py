"""Signatures that serve code written for two libraries: `keyword_alias` (a parameter taken
under another library's name as well, such as JAX's `x` for PyTorch's `input`) and
`keywords_too` (positional-only operands, as NumPy's ufuncs have, taken by name as JAX's
functions take them)."""
from __future__ import annotations

import functools
import inspect

__all__ = ["keyword_alias", "keywords_too"]

_KEYWORD_ONLY = inspect.Parameter.KEYWORD_ONLY
_VAR_KEYWORD = inspect.Parameter.VAR_KEYWORD


class _AliasOf:
    """The default an alias shows in the signature: the parameter it stands for."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<alias of {self.name}>"


def keyword_alias(**aliases):
    """Decorator: the function also takes its parameter `name` by the keyword `alias`, for
    each `alias="name"` (another library's name for the same argument). Giving a parameter
    and its alias both is a TypeError. The signature lists each alias as a keyword-only
    parameter whose default names the parameter it stands for.

        @keyword_alias(x="input")
        def relu(input, inplace=False): ...

        relu(v) == relu(input=v) == relu(x=v)
    """
    def decorate(f):
        sig = inspect.signature(f)
        params = list(sig.parameters)
        for alias, name in aliases.items():
            if name not in sig.parameters or alias in sig.parameters:
                raise ValueError(f"keyword_alias: {f.__name__} has no parameter {name!r}, or "
                                 f"has one named {alias!r} already")
        # the index of each aliased parameter when given by position (None: keyword-only)
        position = {name: (params.index(name) if sig.parameters[name].kind < _KEYWORD_ONLY
                           else None) for name in aliases.values()}

        @functools.wraps(f)
        def with_aliases(*args, **kwargs):
            if kwargs:
                for alias, name in aliases.items():
                    if alias in kwargs:
                        at = position[name]
                        if name in kwargs or (at is not None and len(args) > at):
                            raise TypeError(f"{f.__name__}() got {name!r} and its alias "
                                            f"{alias!r}: give one of them")
                        kwargs[name] = kwargs.pop(alias)
            return f(*args, **kwargs)

        shown = [p for p in sig.parameters.values() if p.kind is not _VAR_KEYWORD]
        shown += [inspect.Parameter(alias, _KEYWORD_ONLY, default=_AliasOf(name))
                  for alias, name in aliases.items()]
        shown += [p for p in sig.parameters.values() if p.kind is _VAR_KEYWORD]
        with_aliases.__signature__ = sig.replace(parameters=shown)
        return with_aliases
    return decorate


def keywords_too(f):
    """`f`, whose operands are positional-only (as a NumPy ufunc's), taking them by their
    names as well (as JAX's function of the same name does)."""
    sig = inspect.signature(f)
    named = sig.replace(parameters=[
        p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD)
        if p.kind is inspect.Parameter.POSITIONAL_ONLY else p for p in sig.parameters.values()])

    @functools.wraps(f)
    def by_name(*args, **kwargs):
        if kwargs:
            bound = named.bind(*args, **kwargs)
            args, kwargs = bound.args, bound.kwargs
        return f(*args, **kwargs)
    by_name.__signature__ = named
    return by_name
