"""`Module`: neural-network layers as immutable pytrees (the Equinox design with PyTorch's
names and printing).

Subclass `Module`, declare fields with annotations (or simply assign attributes in
`__init__`, as in PyTorch) and define `__call__` (or `forward`). Each subclass becomes a
dataclass registered as a pytree node:

- fields holding arrays, modules, None, or containers of those are *children* (so
  `grad`/`jit`/`vmap` and the optimizers see the arrays as leaves);
- everything else (ints, floats, strings, functions, tuples of ints) is *static*: part of
  the tree structure, hashed into `jit`'s cache key, never traced;
- `field(static=True)` forces a field static.

Leaves flatten in field order (declared fields first, then attributes in the order `__init__`
assigned them), so `tree_leaves(model)` lines up with PyTorch's `model.parameters()` for the
same network. After `__init__` a module is frozen; build changed copies with `replace`.
"""
from __future__ import annotations

import dataclasses
import inspect
import threading

import numpy as np

from ..array import Array
from ..core import Tracer
from ..tree_util import (register_pytree_node, tree_flatten, tree_unflatten, tree_map,
                         tree_flatten_with_path, GetAttrKey, SequenceKey)

__all__ = ["Module", "field", "partition", "combine", "Sequential", "Lambda"]


def field(*, static=False, **kwargs):
    """A dataclass field; `static=True` keeps its value out of the pytree's leaves."""
    metadata = dict(kwargs.pop("metadata", {}) or {})
    if static:
        metadata["static"] = True
    return dataclasses.field(metadata=metadata, **kwargs)


_state = threading.local()


def _building():
    ids = getattr(_state, "ids", None)
    if ids is None:
        ids = _state.ids = set()
    return ids


class _ModuleMeta(type):
    """Runs `__init__` with attribute assignment allowed, then freezes the instance."""

    def __call__(cls, *args, **kwargs):
        self = cls.__new__(cls)
        building = _building()
        building.add(id(self))
        try:
            self.__init__(*args, **kwargs)
        finally:
            building.discard(id(self))
        missing = [f.name for f in dataclasses.fields(cls)
                   if f.init and f.name not in self.__dict__ and
                   f.default is dataclasses.MISSING and
                   f.default_factory is dataclasses.MISSING]
        if missing:
            raise TypeError(f"{cls.__name__}.__init__ did not set the declared field(s) "
                            f"{', '.join(missing)}")
        _classify(self, self.__dict__)
        return self


_DYNAMIC = "__dynamic__"   # instance entry: the names of the fields that are children
_STRUCTURE = "__structure__"   # instance entry: its pytree aux data, once worked out
_PRIVATE = (_DYNAMIC, _STRUCTURE)


def _classify(module, names, previous=frozenset()):
    """Record which of `names` are children: decided by value when a module is built (or a
    field replaced), then carried through flatten/unflatten, so trees with placeholder leaves
    (ints, None, ...) keep the module's structure."""
    _, static_names = _declared(type(module))
    state = module.__dict__
    dynamic = set(state.get(_DYNAMIC, ()))
    for n in names:
        if n in _PRIVATE:
            continue
        if n not in static_names and (n in previous or _is_dynamic(state[n])):
            dynamic.add(n)
        else:
            dynamic.discard(n)
    object.__setattr__(module, _DYNAMIC, frozenset(dynamic))
    state.pop(_STRUCTURE, None)         # (a copy's) structure is worked out afresh


def _is_dynamic(value):
    """Whether a field's value belongs among the pytree's children."""
    if value is None or isinstance(value, (Module, Array, Tracer, np.ndarray)) or \
            hasattr(value, "__cuda_array_interface__"):
        return True
    if isinstance(value, (list, tuple)):
        return any(_is_dynamic(v) for v in value)
    if isinstance(value, dict):
        return any(_is_dynamic(v) for v in value.values())
    return False


class Module(metaclass=_ModuleMeta):
    """Base class of layers and models: an immutable, callable pytree.

        class Net(ft.nn.Module):
            fc1: ft.nn.Linear
            fc2: ft.nn.Linear

            def __init__(self, key):
                k1, k2 = ft.random.split(key)
                self.fc1 = ft.nn.Linear(4, 8, key=k1)
                self.fc2 = ft.nn.Linear(8, 1, key=k2)

            def __call__(self, x):
                return self.fc2(ft.nn.relu(self.fc1(x)))
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(cls, eq=False, repr=False)
        register_pytree_node(cls, _flatten, cls._tree_build, _flatten_with_keys)

    def __setattr__(self, name, value):
        if id(self) in _building():
            object.__setattr__(self, name, value)
            return
        raise AttributeError(
            f"{type(self).__name__} is immutable (modules are pytrees, shared by every "
            f"transform); build a changed copy instead: model = model.replace({name}=...)")

    def __delattr__(self, name):
        raise AttributeError(f"{type(self).__name__} is immutable; use .replace()")

    def __call__(self, *args, **kwargs):
        forward = getattr(self, "forward", None)
        if forward is None:
            raise NotImplementedError(f"{type(self).__name__} defines neither __call__ nor "
                                      "forward")
        return forward(*args, **kwargs)

    # -- structure (the pytree hooks; Sequential overrides them)
    def _tree_fields(self):
        """`(dynamic field names, static (name, value) pairs)` in field order: the pytree aux
        data, worked out once (modules are immutable)."""
        state = self.__dict__
        got = state.get(_STRUCTURE)
        if got is None:
            declared, _ = _declared(type(self))
            children = state[_DYNAMIC]
            names = [n for n in declared if n in state]
            names += [n for n in state if n not in declared and n not in _PRIVATE]
            got = (tuple(n for n in names if n in children),
                   tuple((n, state[n]) for n in names if n not in children))
            object.__setattr__(self, _STRUCTURE, got)
        return got

    def _tree_flatten(self):
        """`([child], aux)`: the pytree view of this module."""
        aux = self._tree_fields()
        state = self.__dict__
        return [state[n] for n in aux[0]], aux

    def _tree_children(self):
        """`([(key, child)], aux)`: the pytree view with keys."""
        children, aux = self._tree_flatten()
        return [(GetAttrKey(n), c) for n, c in zip(aux[0], children)], aux

    @classmethod
    def _tree_build(cls, aux, children):
        dynamic, static = aux
        values = dict(zip(dynamic, children))
        values.update(static)
        obj = object.__new__(cls)
        state = obj.__dict__
        for n in _field_order(cls, dynamic, static):
            state[n] = values[n]
        state[_DYNAMIC] = frozenset(dynamic)
        state[_STRUCTURE] = aux
        return obj

    def replace(self, **changes):
        """A copy with some fields replaced (the PyTorch `model.fc = ...` of this world)."""
        unknown = [n for n in changes if n not in self.__dict__ or n in _PRIVATE]
        if unknown:
            raise AttributeError(f"{type(self).__name__} has no field(s) {unknown}; its fields "
                                 f"are {[n for n in self.__dict__ if n not in _PRIVATE]}")
        return _copy_with(self, changes)

    def parameters(self):
        """The array leaves, in order (PyTorch's `list(model.parameters())`)."""
        return [leaf for leaf in tree_flatten(self)[0] if leaf is not None]

    def named_parameters(self):
        """`[(name, array)]` with PyTorch's dotted names, e.g. `("conv1.weight", ...)`."""
        return [(_dotted(path), leaf) for path, leaf in tree_flatten_with_path(self)[0]]

    def train(self, mode=True):
        """A copy with every submodule's `training` flag set to `mode` (affects Dropout)."""
        return _set_training(self, mode)

    def eval(self):
        """A copy in inference mode (`train(False)`)."""
        return self.train(False)

    # -- printing, PyTorch style
    def extra_repr(self):
        return ""

    def _submodules(self):
        out = []
        for name in self._tree_fields()[0]:
            value = self.__dict__[name]
            if isinstance(value, Module):
                out.append((name, value))
            elif isinstance(value, (list, tuple)) and value and \
                    all(isinstance(v, Module) for v in value):
                out.append((name, _ModuleListView(value)))
        return out

    def __repr__(self):
        subs = self._submodules()
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not subs:
            return head + ")"
        lines = [f"  ({name}): " + repr(m).replace("\n", "\n  ") for name, m in subs]
        return head + "\n" + "\n".join(lines) + "\n)"


class _ModuleListView:
    """Prints a list of modules as PyTorch prints a ModuleList."""

    def __init__(self, modules):
        self.modules = modules

    def __repr__(self):
        lines = [f"  ({i}): " + repr(m).replace("\n", "\n  ") for i, m in enumerate(self.modules)]
        return "ModuleList(\n" + "\n".join(lines) + "\n)"


def _dotted(path):
    parts = []
    for k in path:
        if isinstance(k, GetAttrKey):
            parts.append(k.name)
        elif isinstance(k, SequenceKey):
            parts.append(str(k.idx))
        else:
            parts.append(str(getattr(k, "key", k)))
    return ".".join(parts)


def _copy_with(module, changes):
    """A copy with `changes`; a field that was a child stays one, others are reclassified."""
    new = object.__new__(type(module))
    state = dict(module.__dict__)
    state.update(changes)
    for n, v in state.items():
        object.__setattr__(new, n, v)
    _classify(new, changes, module.__dict__[_DYNAMIC])
    return new


def _set_training(tree, mode):
    def visit(x):
        if not isinstance(x, Module):
            return x
        changes = {n: tree_map(visit, x.__dict__[n], is_leaf=_is_module)
                   for n in x._tree_fields()[0]}
        if "training" in x.__dict__:
            changes["training"] = mode
        return _copy_with(x, changes)
    return visit(tree)


def _is_module(x):
    return isinstance(x, Module)


# ------------------------------------------------------------------ pytree registration
_DECLARED = {}


def _declared(cls):
    """(declared field names in order, names marked static), cached per class."""
    got = _DECLARED.get(cls)
    if got is None:
        fields = dataclasses.fields(cls)
        got = _DECLARED[cls] = (tuple(f.name for f in fields),
                                frozenset(f.name for f in fields if f.metadata.get("static")))
    return got


_FIELD_ORDER = {}


def _field_order(cls, dynamic, static):
    """The field names of a `cls` with these children and static fields, in field order."""
    key = (cls, dynamic, tuple(n for n, _ in static))
    got = _FIELD_ORDER.get(key)
    if got is None:
        declared, _ = _declared(cls)
        names = set(key[1]) | set(key[2])
        got = _FIELD_ORDER[key] = [n for n in declared if n in names] + \
            [n for n in dynamic + key[2] if n not in declared]
    return got


def _flatten(module):
    return module._tree_flatten()


def _flatten_with_keys(module):
    return module._tree_children()


# ------------------------------------------------------------------ filtering
def partition(tree, predicate, is_leaf=None):
    """Split `tree` into `(selected, rest)` of the same structure: `predicate(path, leaf)`
    chooses each leaf's side (`path` is its key path; `ft.tree_util.keystr(path)` renders it,
    e.g. '.fc.weight'); the other side holds None there. `combine` undoes it.

    Freeze all but the classifier:

        train, frozen = ft.nn.partition(model, lambda p, _: keystr(p).startswith(".fc"))
        grads = ft.grad(lambda t: loss(ft.nn.combine(t, frozen), x, y))(train)
    """
    pairs, treedef = tree_flatten_with_path(tree, is_leaf)
    chosen = [bool(predicate(path, leaf)) for path, leaf in pairs]
    selected = [leaf if c else None for (_, leaf), c in zip(pairs, chosen)]
    rest = [None if c else leaf for (_, leaf), c in zip(pairs, chosen)]
    return tree_unflatten(treedef, selected), tree_unflatten(treedef, rest)


def combine(*trees):
    """Merge trees of the same structure leaf by leaf, taking the first non-None."""
    if not trees:
        raise TypeError("combine needs at least one tree")
    flat = [tree_flatten(t, is_leaf=_is_none) for t in trees]
    treedef = flat[0][1]
    for i, (_, td) in enumerate(flat[1:], 1):
        if td != treedef:
            raise ValueError(f"combine: tree {i} has a different structure from tree 0 "
                             f"({td} vs {treedef}); combine the two halves of one partition")
    leaves = [next((x for x in column if x is not None), None)
              for column in zip(*(leaves for leaves, _ in flat))]
    return tree_unflatten(treedef, leaves)


def _is_none(x):
    return x is None


# ------------------------------------------------------------------ containers
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
        seq = object.__new__(cls)
        object.__setattr__(seq, "layers", tuple(children))
        object.__setattr__(seq, _DYNAMIC, frozenset({"layers"}))
        return seq


class Lambda(Module):
    """Wraps a plain function (e.g. `ft.nn.relu`) as a layer without parameters."""
    fn: object = field(static=True)

    def __call__(self, x, *, key=None):
        return self.fn(x)

    def extra_repr(self):
        return getattr(self.fn, "__name__", repr(self.fn))
