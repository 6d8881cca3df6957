"""PyTorch's containers as immutable pytrees: `Sequential`, `ModuleList`, `ModuleDict`,
`ParameterList`, `ParameterDict` (and `Lambda`, a plain function as a layer, and `Parameter`
for code that wraps its arrays in one).

Their entries are the pytree's children, named as in PyTorch (`layers.0.weight`,
`heads.cls.bias`, `scales.0`). Being immutable, they are built whole (`ModuleList([...])`);
`append`, `extend`, `insert` and `update` return a new container, and raise when their result
is thrown away, where PyTorch would have changed the container in place.
"""
from __future__ import annotations

import inspect

from ..tree_util import DictKey, SequenceKey
from .discarded import refuse_discarded
from .module import Module, field, list_repr, is_array

__all__ = ["Sequential", "Lambda", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict",
           "Parameter", "call_layer"]


def Parameter(data, requires_grad=True):
    """`data` as an array: functrans has no parameter type, since every array in a module is a
    parameter (what `grad` differentiates and optimizers update) unless it is a buffer."""
    from ..numpy import asarray
    if not requires_grad:
        raise ValueError("Parameter(requires_grad=False) has no counterpart: an array in a "
                         "module is trained unless it is a buffer. Use "
                         "self.register_buffer(name, data) for state that is not trained, or "
                         "keep it a parameter and freeze it with ft.optim.masked(...)")
    return asarray(data)


def _check_module(value, where):
    if not isinstance(value, Module):
        raise TypeError(f"{where} is a {type(value).__name__}, not a Module; wrap plain "
                        "functions with ft.nn.Lambda(fn)")
    return value


def _check_parameter(value, where):
    from ..numpy import asarray
    if isinstance(value, Module) or value is None:
        raise TypeError(f"{where} is a {type(value).__name__}, not an array; put modules in a "
                        "ModuleList or ModuleDict")
    try:
        return value if is_array(value) else asarray(value)
    except Exception:
        raise TypeError(f"{where} is a {type(value).__name__}, not an array") from None


def _parameter_lines(items):
    """PyTorch's `extra_repr` of its parameter containers (with NumPy's dtype names where
    PyTorch writes torch.float32 or torch.FloatTensor)."""
    return "\n".join(f"  ({k}): Parameter containing: [{v.dtype} of size "
                     f"{'x'.join(map(str, v.shape))}]" for k, v in items)


def _accepts_key(layer):
    cache = _accepts_key.cache
    t = type(layer)
    if t not in cache:
        try:
            params = inspect.signature(layer.__call__).parameters
            cache[t] = "key" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
        except (TypeError, ValueError):
            cache[t] = False
    return cache[t]


_accepts_key.cache = {}


def call_layer(layer, x, key):
    """`layer(x)`, passing `key` on to layers that take one (as Sequential does)."""
    return layer(x, key=key) if key is not None and _accepts_key(layer) else layer(x)


class Sequential(Module):
    """Layers applied in order: `Sequential(Linear(...), ReLU(), Linear(...))`.

    Indexable (`model[0].weight`, slices give a Sequential) and iterable. A `key` passed to
    the call is split among the layers that take one (e.g. Dropout).
    """
    layers: tuple

    def __init__(self, *layers):
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential layer {i} is a {type(layer).__name__}, not a "
                                "Module; wrap plain functions with ft.nn.Lambda(fn)")
        self.layers = tuple(layers)

    def __call__(self, x, *, key=None):
        from ..random import split
        keys = [None] * len(self.layers) if key is None else list(split(key, len(self.layers)))
        for layer, k in zip(self.layers, keys):
            x = layer(x, key=k) if _accepts_key(layer) else layer(x)
        return x

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Sequential(*self.layers[i])
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def _submodules(self):
        return [(str(i), m) for i, m in enumerate(self.layers)]

    def _tree_flatten(self):
        return list(self.layers), None

    def _tree_children(self):      # the layers are the direct children: paths `[0].weight`
        return [(SequenceKey(i), layer) for i, layer in enumerate(self.layers)], None

    @classmethod
    def _tree_build(cls, aux, children):
        return super()._tree_build((("layers",), (), ()), [tuple(children)])


class Lambda(Module):
    """Wraps a plain function (e.g. `ft.nn.relu`) as a layer without parameters."""
    fn: object = field(static=True)

    def __call__(self, x, *, key=None):
        return self.fn(x)

    def extra_repr(self):
        return getattr(self.fn, "__name__", repr(self.fn))


class _ListContainer(Module):
    """A tuple of entries behaving like PyTorch's list containers."""
    modules_: tuple

    def __init__(self, modules=None):
        self.modules_ = tuple(self._check(m, f"{type(self).__name__} entry {i}")
                              for i, m in enumerate(modules or ()))

    def __getitem__(self, i):
        if isinstance(i, slice):
            return type(self)(self.modules_[i])
        return self.modules_[i]

    def __len__(self):
        return len(self.modules_)

    def __iter__(self):
        return iter(self.modules_)

    def append(self, value):
        """A new container with `value` added at the end (use the result)."""
        refuse_discarded(f"{type(self).__name__}.append",
                         f"self.layers = self.layers.append({self._noun})")
        return type(self)(self.modules_ + (value,))

    def extend(self, values):
        """A new container with `values` added at the end (use the result)."""
        refuse_discarded(f"{type(self).__name__}.extend",
                         f"self.layers = self.layers.extend({self._noun}s)")
        return type(self)(self.modules_ + tuple(values))

    def insert(self, index, value):
        """A new container with `value` inserted before `index` (use the result)."""
        refuse_discarded(f"{type(self).__name__}.insert",
                         f"self.layers = self.layers.insert(index, {self._noun})")
        items = list(self.modules_)
        items.insert(index, value)
        return type(self)(items)

    def __call__(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward; iterate over it in "
                                  "your module's forward (for layer in self.layers: x = "
                                  "layer(x))")

    def _tree_flatten(self):
        return list(self.modules_), None

    def _tree_children(self):
        return [(SequenceKey(i), m) for i, m in enumerate(self.modules_)], None

    @classmethod
    def _tree_build(cls, aux, children):
        return super()._tree_build((("modules_",), (), ()), [tuple(children)])


class ModuleList(_ListContainer):
    """A list of modules: `ModuleList([Linear(...) for _ in range(3)])`. Indexing (slices give
    a ModuleList), iteration and `len` as in PyTorch; call the entries yourself in forward."""
    _check, _noun = staticmethod(_check_module), "module"

    def __repr__(self):
        return list_repr("ModuleList", self.modules_)

    def _submodules(self):
        return [(str(i), m) for i, m in enumerate(self.modules_)]


class ParameterList(_ListContainer):
    """A list of parameter arrays: `ParameterList([fnp.ones(3) for _ in range(4)])`, named
    `name.0`, `name.1`, ... in `state_dict()`. Indexing, iteration and `len` as in PyTorch."""
    _check, _noun = staticmethod(_check_parameter), "param"

    def __init__(self, values=None):
        super().__init__(values)

    def extra_repr(self):
        return _parameter_lines(enumerate(self.modules_))


class _DictContainer(Module):
    """A str-keyed dict of entries behaving like PyTorch's dict containers."""
    modules_: dict

    def __init__(self, modules=None):
        items = modules.items() if hasattr(modules, "items") else (modules or ())
        entries = {}
        for k, m in items:
            if not isinstance(k, str):
                raise TypeError(f"{type(self).__name__} keys must be strings, got {k!r}")
            entries[k] = self._check(m, f"{type(self).__name__} entry {k!r}")
        self.modules_ = entries

    def __getitem__(self, key):
        return self.modules_[key]

    def __contains__(self, key):
        return key in self.modules_

    def __len__(self):
        return len(self.modules_)

    def __iter__(self):
        return iter(self.modules_)

    def keys(self):
        return self.modules_.keys()

    def values(self):
        return self.modules_.values()

    def items(self):
        return self.modules_.items()

    def update(self, modules):
        """A new container with the entries of `modules` added or replaced (use the
        result)."""
        refuse_discarded(f"{type(self).__name__}.update",
                         f"self.heads = self.heads.update({self._noun}s)")
        merged = dict(self.modules_)
        merged.update(modules.items() if hasattr(modules, "items") else modules)
        return type(self)(merged)

    def __call__(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward; use its entries in "
                                  "your module's forward (self.heads['name'](x))")

    def _tree_flatten(self):
        return list(self.modules_.values()), tuple(self.modules_)

    def _tree_children(self):
        return [(DictKey(k), m) for k, m in self.modules_.items()], tuple(self.modules_)

    @classmethod
    def _tree_build(cls, aux, children):
        return super()._tree_build((("modules_",), (), ()), [dict(zip(aux, children))])


class ModuleDict(_DictContainer):
    """A dict of modules in insertion order: `ModuleDict({"conv": Conv2d(...), ...})`.
    Indexing by key, `keys()`, `values()`, `items()`, `in`, `len` and iteration over the keys,
    as in PyTorch."""
    _check, _noun = staticmethod(_check_module), "module"

    def __getattr__(self, name):      # `heads.cls`, as PyTorch's ModuleDict allows
        entries = self.__dict__.get("modules_")
        if entries is not None and name in entries:
            return entries[name]
        raise AttributeError(f"ModuleDict has no attribute or entry {name!r}")

    def _submodules(self):
        return list(self.modules_.items())


class ParameterDict(_DictContainer):
    """A dict of parameter arrays in insertion order: `ParameterDict({"scale": fnp.ones(3)})`,
    named `name.scale` in `state_dict()`. Indexing by key, `keys()`, `values()`, `items()`,
    `in`, `len` and iteration over the keys, as in PyTorch."""
    _check, _noun = staticmethod(_check_parameter), "param"

    def __init__(self, parameters=None):
        super().__init__(parameters)

    def extra_repr(self):
        return _parameter_lines(self.modules_.items())
