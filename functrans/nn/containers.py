"""`ModuleList` and `ModuleDict`: PyTorch's module containers as immutable pytrees.

Their entries are the pytree's children, named as in PyTorch (`layers.0.weight`,
`heads.cls.bias`). Being immutable, they are built whole (`ModuleList([...])`); `append`,
`extend`, `insert` and `update` return a new container, and raise when their result is thrown
away, where PyTorch would have changed the container in place.
"""
from __future__ import annotations

from ..tree_util import DictKey, SequenceKey
from .module import Module, list_repr, refuse_discarded

__all__ = ["ModuleList", "ModuleDict"]

def _check_module(value, where):
    if not isinstance(value, Module):
        raise TypeError(f"{where} is a {type(value).__name__}, not a Module; wrap plain "
                        "functions with ft.nn.Lambda(fn)")
    return value


class ModuleList(Module):
    """A list of modules: `ModuleList([Linear(...) for _ in range(3)])`. Indexing (slices give
    a ModuleList), iteration and `len` as in PyTorch; call the entries yourself in forward."""
    modules_: tuple

    def __init__(self, modules=None):
        self.modules_ = tuple(_check_module(m, f"ModuleList entry {i}")
                              for i, m in enumerate(modules or ()))

    def __getitem__(self, i):
        if isinstance(i, slice):
            return ModuleList(self.modules_[i])
        return self.modules_[i]

    def __len__(self):
        return len(self.modules_)

    def __iter__(self):
        return iter(self.modules_)

    def append(self, module):
        """A new ModuleList with `module` added at the end (use the result)."""
        refuse_discarded("ModuleList.append", "self.layers = self.layers.append(module)")
        return ModuleList(self.modules_ + (module,))

    def extend(self, modules):
        """A new ModuleList with `modules` added at the end (use the result)."""
        refuse_discarded("ModuleList.extend", "self.layers = self.layers.extend(modules)")
        return ModuleList(self.modules_ + tuple(modules))

    def insert(self, index, module):
        """A new ModuleList with `module` inserted before `index` (use the result)."""
        refuse_discarded("ModuleList.insert", "self.layers = self.layers.insert(index, module)")
        items = list(self.modules_)
        items.insert(index, module)
        return ModuleList(items)

    def __call__(self, *args, **kwargs):
        raise NotImplementedError("ModuleList has no forward; iterate over it in your "
                                  "module's forward (for layer in self.layers: x = layer(x))")

    def __repr__(self):
        return list_repr("ModuleList", self.modules_)

    def _submodules(self):
        return [(str(i), m) for i, m in enumerate(self.modules_)]

    def _tree_flatten(self):
        return list(self.modules_), None

    def _tree_children(self):
        return [(SequenceKey(i), m) for i, m in enumerate(self.modules_)], None

    @classmethod
    def _tree_build(cls, aux, children):
        return super()._tree_build((("modules_",), (), ()), [tuple(children)])


class ModuleDict(Module):
    """A dict of modules in insertion order: `ModuleDict({"conv": Conv2d(...), ...})`.
    Indexing by key, `keys()`, `values()`, `items()`, `in`, `len` and iteration over the keys,
    as in PyTorch."""
    modules_: dict

    def __init__(self, modules=None):
        items = modules.items() if hasattr(modules, "items") else (modules or ())
        entries = {}
        for k, m in items:
            if not isinstance(k, str):
                raise TypeError(f"ModuleDict keys must be strings, got {k!r}")
            entries[k] = _check_module(m, f"ModuleDict entry {k!r}")
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
        """A new ModuleDict with the entries of `modules` added or replaced (use the
        result)."""
        refuse_discarded("ModuleDict.update", "self.heads = self.heads.update(modules)")
        merged = dict(self.modules_)
        merged.update(modules.items() if hasattr(modules, "items") else modules)
        return ModuleDict(merged)

    def __call__(self, *args, **kwargs):
        raise NotImplementedError("ModuleDict has no forward; call its entries in your "
                                  "module's forward (self.heads['name'](x))")

    def _submodules(self):
        return list(self.modules_.items())

    def _tree_flatten(self):
        return list(self.modules_.values()), tuple(self.modules_)

    def _tree_children(self):
        return [(DictKey(k), m) for k, m in self.modules_.items()], tuple(self.modules_)

    @classmethod
    def _tree_build(cls, aux, children):
        return super()._tree_build((("modules_",), (), ()), [dict(zip(aux, children))])
