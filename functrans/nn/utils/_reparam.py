"""The machinery behind `weight_norm`, `spectral_norm` and `parametrize`: a module whose
parameter `weight` is computed from other arrays (`weight_g` and `weight_v`, or
`parametrizations.weight.original`) is an instance of a subclass of its own class in which
`weight` is a property, so the layer's unchanged forward reads the computed value. Those
subclasses are made once per configuration and registered as pytrees like any module.
"""
from __future__ import annotations

from ..module import Module, is_array

__all__ = ["derived_class", "base_class", "rebuild", "own_parameter", "hooks_of",
           "hooked_class"]

_CLASSES = {}


def base_class(cls):
    """The class a derived class was made from (`cls` itself for an ordinary module)."""
    return cls.__dict__.get("_derived_from", cls)


def hooks_of(module):
    """`{name: (getter, args)}` of the old-style hooks (weight_norm, spectral_norm)."""
    return dict(type(module).__dict__.get("_hooks", ()))


def derived_class(base, hooks, parametrized):
    """The subclass of `base` in which each name of `hooks` (`{name: (getter, args)}`, computed
    as `getter(module, name, *args)`) and of `parametrized` (names in `parametrizations`) is a
    property; `base` itself when there are none."""
    hooks = tuple(sorted(hooks.items()))
    parametrized = tuple(sorted(parametrized))
    if not hooks and not parametrized:
        return base
    key = (base, hooks, parametrized)
    cls = _CLASSES.get(key)
    if cls is None:
        from .parametrize import parametrized_value
        namespace = {"_derived_from": base, "_hooks": hooks, "_parametrized": parametrized,
                     "__module__": base.__module__}
        for name, (getter, args) in hooks:
            namespace[name] = property(lambda self, n=name, g=getter, a=args: g(self, n, *a))
        for name in parametrized:
            namespace[name] = property(lambda self, n=name: parametrized_value(self, n))
        prefix = "Parametrized" if parametrized else ""
        cls = _CLASSES[key] = type(prefix + base.__name__, (base,), namespace)
        cls.__qualname__ = prefix + base.__qualname__
    return cls


def hooked_class(module, hooks):
    """The class for `module` with the old-style hooks `hooks` and its parametrizations."""
    return derived_class(base_class(type(module)), hooks,
                         getattr(type(module), "_parametrized", ()))


def rebuild(module, cls, drop=(), params=(), buffers=(), static=()):
    """A copy of `module` as a `cls`, without the entries named in `drop`, with the parameters
    `params` and the (persistent) buffers `buffers` (`(name, value)` pairs) added after its own,
    as PyTorch's `register_parameter` / `register_buffer` would, and the static entries
    `static` added."""
    dynamic, fixed, persistent = module._tree_fields()
    state = module.__dict__
    names = [n for n in dynamic if n not in drop]
    values = [state[n] for n in names]
    for name, value in list(params) + list(buffers):
        names.append(name)
        values.append(value)
    fixed = tuple((n, v) for n, v in fixed if n not in drop) + tuple(static)
    persistent = tuple((n, p) for n, p in persistent if n not in drop) + \
        tuple((n, True) for n, _ in buffers)
    return cls._tree_build((tuple(names), fixed, persistent), values).replace()


def own_parameter(module, name, fn):
    """The parameter `name` of `module` itself (not a submodule's), or a clear error."""
    if not isinstance(module, Module):
        raise TypeError(f"{fn}: expected a Module, got {type(module).__name__}")
    if not isinstance(name, str):
        raise TypeError(f"{fn}: name must be a string, got {type(name).__name__}")
    dynamic, _, persistent = module._tree_fields()
    value = module.__dict__.get(name)
    if name in dynamic and name not in dict(persistent) and is_array(value):
        return value
    own = [n for n in dynamic if n not in dict(persistent) and is_array(module.__dict__[n])]
    if name in dict(persistent):
        what = "is a buffer, not a parameter"
    elif name in getattr(type(module), "_parametrized", ()):
        what = "is already parametrized"
    elif name in dict(getattr(type(module), "_hooks", ())):
        what = "already has a weight_norm or spectral_norm hook"
    else:
        what = "is not one of its parameters"
    raise ValueError(f"{fn}: {name!r} {what} in {type(module).__name__} (its own parameters: "
                     f"{own})")
