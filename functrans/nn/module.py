"""`Module`: neural-network layers as immutable pytrees (the Equinox design with PyTorch's
names, printing, buffers and `state_dict`).

Subclass `Module`, declare fields with annotations (or simply assign attributes in
`__init__`, as in PyTorch) and define `__call__` (or `forward`). Each subclass becomes a
dataclass registered as a pytree node:

- fields holding arrays, modules, None, or containers of those are *children* (so
  `grad`/`jit`/`vmap` and the optimizers see the arrays as leaves);
- everything else (ints, floats, strings, functions, tuples of ints) is *static*: part of
  the tree structure, hashed into `jit`'s cache key, never traced;
- `field(static=True)` forces a field static;
- *buffers* (`self.register_buffer(name, value)` or `self.name = ft.nn.Buffer(value)` in
  `__init__`, as in PyTorch) are children that are state, not parameters (see below).

After `__init__` a module is frozen; build changed copies with `replace`. `parameters()`,
`named_parameters()`, `buffers()` and `state_dict()` list arrays in PyTorch's order and with
its dotted names (`features.0.weight`, `bn.running_mean`).

Buffers: non-trainable state such as BatchNorm's running statistics
------------------------------------------------------------------
PyTorch keeps running statistics in buffers that the forward pass overwrites in place and
that optimizers never see (they are not in `parameters()`). Here modules are immutable values
passed through `grad` and `jit`, so the design has three parts:

1. What a buffer is. A buffer is an ordinary field holding an array (`bn.running_mean` reads
   as one), but when a module is flattened each buffer is wrapped in an
   `ft.buffers.Buffer` node, so the tree *structure* says which leaves are state. Transforms
   that move data (`jit`, `vmap`, `tree_map`, `ft.save`/`ft.load`) see buffers as ordinary
   leaves, so a jitted step takes them in and hands new ones back. `grad`/`value_and_grad`
   stop at Buffer nodes: the values go in as constants (never traced, never differentiated,
   integer counters allowed) and the gradient holds `Buffer(None)` there. The optimizers of
   `ft.optim` give Buffer positions no state and no update, and `apply_updates` never changes
   them, so no mask is needed, even with weight decay.

2. How the forward pass hands back new buffers. A layer in training mode that updates state
   (BatchNorm) calls `self.update_buffers(running_mean=..., ...)`. That does not mutate
   anything: it records the new values in the innermost active `ft.nn.stateful` call, which
   returns the output *and* the model with the recorded buffers put in place:

       def loss_fn(model, x, y):
           logits, model = ft.nn.stateful(model)(x)
           return ft.nn.cross_entropy(logits, y), model

       @ft.jit
       def train_step(model, opt_state, x, y):
           (loss, model), grads = ft.value_and_grad(loss_fn, has_aux=True)(model, x, y)
           updates, opt_state = opt.update(grads, opt_state, model)
           return ft.optim.apply_updates(model, updates), opt_state, loss

   This is Flax's `mutable=["batch_stats"]` idea in a form that keeps PyTorch's forward code
   unchanged (`self.bn1(self.conv1(x))`), rather than Equinox's explicit `State` argument
   threaded through every `__call__`, which would change every user module's signature. A
   layer calling `update_buffers` twice in one pass (a shared BatchNorm) sees its own
   earlier update through `self.get_buffer(name)`, as PyTorch's in-place update would.
   Batch statistics can be averaged over a `vmap` axis: `BatchNorm2d(..., axis_name="batch")`
   reduces them with `ft.lax.pmean` over that named axis.

3. Loud failures. `update_buffers` outside any `stateful` call raises (a BatchNorm in
   training mode called as `model(x)`, inside `grad` or `jit` without `stateful`): the new
   statistics would otherwise be silently dropped; the message says to use `stateful` or
   `model = model.eval()`. A recorded value computed inside a transform that ended within the
   `stateful` call (a `vmap`, `checkpoint` or loop body around the BatchNorm) raises instead
   of leaking a tracer, and so does a module that records updates but is not part of the
   model given to `stateful`.

Other habits made loud: `model.eval()`, `model.train()` and `model.load_state_dict(d)` return
a new model; written as a statement (or as the last line of a Jupyter cell, whose value is only
displayed) they would change nothing, so they raise and say `model = model.eval()`. A module
(or an array) placed in two fields would become two independent copies after the first
optimizer step, where PyTorch shares one; building such a module raises, naming both places
(share a layer by calling the same field twice in `forward`).
"""
from __future__ import annotations

import dataclasses
import inspect
import threading

import numpy as np

from ..array import Array
from ..buffers import Buffer, BufferKey
from ..core import Tracer
from ..tree_util import (register_pytree_node, tree_flatten, tree_map,
                         tree_flatten_with_path, GetAttrKey, SequenceKey, DictKey)
from .discarded import refuse_discarded

__all__ = ["Module", "field", "Buffer", "stateful"]


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
        buffers = self.__dict__.get(_BUFFERS)
        object.__setattr__(self, _BUFFERS, frozenset(buffers.items()) if buffers else
                           frozenset())
        _classify(self, self.__dict__)
        _check_unshared(self)
        return self

    @property
    def __signature__(cls):
        """The constructor's signature, so `help(Layer)`, `inspect.signature(Layer)` and
        Jupyter show `__init__`'s arguments rather than the metaclass's `(*args, **kwargs)`."""
        sig = inspect.signature(cls.__init__)
        return sig.replace(parameters=list(sig.parameters.values())[1:],
                           return_annotation=inspect.Signature.empty)


_DYNAMIC = "__dynamic__"   # instance entry: the names of the fields that are children
_STRUCTURE = "__structure__"   # instance entry: its pytree aux data, once worked out
_BUFFERS = "__buffers__"   # instance entry: frozenset of (buffer name, persistent) pairs
_PRIVATE = (_DYNAMIC, _STRUCTURE, _BUFFERS)


def _classify(module, names, previous=frozenset()):
    """Record which of `names` are children: decided by value when a module is built (or a
    field replaced), then carried through flatten/unflatten, so trees with placeholder leaves
    (ints, None, ...) keep the module's structure. Buffers are always children."""
    _, static_names = _declared(type(module))
    state = module.__dict__
    buffers = {n for n, _ in state.get(_BUFFERS, ())}
    dynamic = set(state.get(_DYNAMIC, ()))
    for n in names:
        if n in _PRIVATE:
            continue
        if n in buffers or (n not in static_names and
                            (n in previous or _is_dynamic(state[n]))):
            dynamic.add(n)
        else:
            dynamic.discard(n)
    object.__setattr__(module, _DYNAMIC, frozenset(dynamic))
    state.pop(_STRUCTURE, None)         # (a copy's) structure is worked out afresh


def is_array(value):
    """Whether `value` is an array (functrans, NumPy, a traced one or a GPU array): Equinox's
    `is_array`, e.g. as `partition`'s filter."""
    return isinstance(value, (Array, Tracer, np.ndarray)) or \
        hasattr(value, "__cuda_array_interface__")


def _is_dynamic(value):
    """Whether a field's value belongs among the pytree's children."""
    if value is None or isinstance(value, (Module, Buffer)) or is_array(value):
        return True
    if isinstance(value, (list, tuple)):
        return any(_is_dynamic(v) for v in value)
    if isinstance(value, dict):
        return any(_is_dynamic(v) for v in value.values())
    return False


def _as_buffer_value(name, value):
    from ..numpy import asarray
    if value is None or is_array(value):
        return value
    try:
        return asarray(value)
    except Exception:
        raise TypeError(f"buffer {name!r} must be an array, a number or None, got "
                        f"{type(value).__name__}") from None


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
        own = "__init__" in cls.__dict__
        inherited = cls.__init__
        # a hand-written __init__ (the class's own or inherited) is kept; otherwise the
        # dataclass writes one from the fields
        generate = not own and (inherited is object.__init__ or
                                getattr(inherited, "_generated", False))
        dataclasses.dataclass(cls, eq=False, repr=False, init=generate)
        if generate:
            cls.__init__._generated = True
        register_pytree_node(cls, _flatten, cls._tree_build, _flatten_with_keys)

    def __setattr__(self, name, value):
        if id(self) in _building():
            if isinstance(value, Buffer):
                self.register_buffer(name, value.value, value.persistent)
                return
            if name in self.__dict__.get(_BUFFERS, {}):
                value = _as_buffer_value(name, value)
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

    # -- buffers
    def register_buffer(self, name, tensor, persistent=True):
        """In `__init__`: add non-trainable state `name` (an array, a number or None), as
        PyTorch's `register_buffer`. `persistent=False` keeps it out of `state_dict()`."""
        if id(self) not in _building():
            raise AttributeError(f"{type(self).__name__}.register_buffer can only be called in "
                                 "__init__ (modules are immutable afterwards)")
        if not isinstance(name, str) or not name.isidentifier():
            raise KeyError(f"buffer name must be an identifier, got {name!r}")
        buffers = self.__dict__.setdefault(_BUFFERS, {})
        buffers[name] = bool(persistent)
        object.__setattr__(self, name, _as_buffer_value(name, tensor))

    def get_buffer(self, target):
        """The buffer at dotted path `target` (e.g. "bn.running_mean"). Inside a
        `stateful` call, the value as updated so far in that call."""
        *path, name = target.split(".")
        module = self
        for part in path:
            module = module._child(part, target)
        if name not in dict(module.__dict__.get(_BUFFERS, ())):
            raise AttributeError(f"{type(module).__name__} has no buffer {name!r} (its buffers: "
                                 f"{sorted(n for n, _ in module.__dict__.get(_BUFFERS, ()))})")
        for session in reversed(_sessions()):
            entry = session.pending.get(id(module))
            if entry is not None and entry[0] is module and name in entry[1]:
                return entry[1][name]
        return module.__dict__[name]

    def update_buffers(self, **values):
        """Record new values for buffers of this module in the innermost `ft.nn.stateful`
        call, which puts them into the model it returns (nothing is mutated). Raises when no
        `stateful` call is active, since the values would be lost."""
        buffers = dict(self.__dict__.get(_BUFFERS, ()))
        unknown = [n for n in values if n not in buffers]
        if unknown:
            raise AttributeError(f"{type(self).__name__}.update_buffers: {unknown} are not "
                                 f"buffers of this module (its buffers: {sorted(buffers)})")
        stack = _sessions()
        if not stack:
            raise RuntimeError(
                f"{_short_repr(self)} is in training mode and updates its buffers "
                f"({', '.join(values)}), but it was called outside ft.nn.stateful, so the new "
                "values would be lost. In a training step call the model as "
                "`out, model = ft.nn.stateful(model)(x)` and keep the returned model (under "
                "ft.grad, return (loss, model) and pass has_aux=True); to evaluate, switch to "
                "inference mode first: `model = model.eval()`.")
        checked = {n: _like_buffer(self, n, v) for n, v in values.items()}
        entry = stack[-1].pending.setdefault(id(self), (self, {}))
        entry[1].update(checked)

    def _child(self, part, target):
        for key, child in self._tree_children()[0]:
            if _key_name(key) == part:
                return child.value if isinstance(child, Buffer) else child
        raise AttributeError(f"{type(self).__name__} has no submodule {part!r} (in "
                             f"{target!r})")

    # -- structure (the pytree hooks; Sequential overrides them)
    def _tree_fields(self):
        """`(dynamic field names, static (name, value) pairs, buffer (name, persistent)
        pairs)` in field order: the pytree aux data, worked out once (modules are
        immutable)."""
        state = self.__dict__
        got = state.get(_STRUCTURE)
        if got is None:
            declared, _ = _declared(type(self))
            children = state[_DYNAMIC]
            names = [n for n in declared if n in state]
            names += [n for n in state if n not in declared and n not in _PRIVATE]
            buffers = dict(state.get(_BUFFERS, ()))
            got = (tuple(n for n in names if n in children),
                   tuple((n, state[n]) for n in names if n not in children),
                   tuple((n, buffers[n]) for n in names if n in buffers))
            object.__setattr__(self, _STRUCTURE, got)
        return got

    def _tree_flatten(self):
        """`([child], aux)`: the pytree view of this module (buffers wrapped in Buffer)."""
        aux = self._tree_fields()
        state = self.__dict__
        if not aux[2]:
            return [state[n] for n in aux[0]], aux
        persistent = dict(aux[2])
        return [Buffer(state[n], persistent[n]) if n in persistent else state[n]
                for n in aux[0]], aux

    def _tree_children(self):
        """`([(key, child)], aux)`: the pytree view with keys."""
        children, aux = self._tree_flatten()
        return [(GetAttrKey(n), c) for n, c in zip(aux[0], children)], aux

    @classmethod
    def _tree_build(cls, aux, children):
        dynamic, static, buffers = aux
        values = dict(zip(dynamic, children))
        values.update(static)
        for n, _ in buffers:
            if type(values[n]) is Buffer:
                values[n] = values[n].value
        obj = object.__new__(cls)
        state = obj.__dict__
        for n in _field_order(cls, dynamic, static):
            state[n] = values[n]
        state[_DYNAMIC] = frozenset(dynamic)
        state[_BUFFERS] = frozenset(buffers)
        state[_STRUCTURE] = aux
        return obj

    def replace(self, **changes):
        """A copy with some fields replaced (the PyTorch `model.fc = ...` of this world)."""
        unknown = [n for n in changes if n not in self.__dict__ or n in _PRIVATE]
        if unknown:
            raise AttributeError(f"{type(self).__name__} has no field(s) {unknown}; its fields "
                                 f"are {[n for n in self.__dict__ if n not in _PRIVATE]}")
        buffers = dict(self.__dict__.get(_BUFFERS, ()))
        changes = {n: _as_buffer_value(n, v) if n in buffers else v for n, v in changes.items()}
        new = _copy_with(self, changes)
        _check_unshared(new)
        return new

    # -- PyTorch's accessors (dotted names, PyTorch's order: a module's own entries, then
    #    its submodules')
    def named_parameters(self):
        """`[(name, array)]` with PyTorch's dotted names, e.g. `("conv1.weight", ...)`;
        buffers are not parameters."""
        return [(n, v) for n, v, kind, _ in named_arrays(self) if kind == "param"]

    def parameters(self):
        """The parameter arrays, in PyTorch's order (`list(model.parameters())`)."""
        return [v for _, v in self.named_parameters()]

    def named_buffers(self):
        """`[(name, array)]` of the buffers (None buffers left out), e.g.
        `("bn.running_mean", ...)`."""
        return [(n, v) for n, v, kind, _ in named_arrays(self) if kind == "buffer"]

    def buffers(self):
        return [v for _, v in self.named_buffers()]

    def named_children(self):
        """`[(name, module)]` of the direct submodules (list and dict entries named
        `layers.0`, `heads.a`)."""
        out = []
        for key, child in self._tree_children()[0]:
            if isinstance(child, Module):
                out.append((_key_name(key), child))
            elif not isinstance(child, Buffer) and not is_array(child) and child is not None:
                pairs, _ = tree_flatten_with_path(child, _is_module)
                out += [(dotted_name((key,) + p), m) for p, m in pairs if isinstance(m, Module)]
        return out

    def children(self):
        return [m for _, m in self.named_children()]

    def named_modules(self, prefix=""):
        """`[(name, module)]` of this module ("") and every submodule, depth first."""
        out = [(prefix, self)]
        for name, child in self.named_children():
            out += child.named_modules(f"{prefix}.{name}" if prefix else name)
        return out

    def modules(self):
        return [m for _, m in self.named_modules()]

    def state_dict(self):
        """A dict from PyTorch's dotted names (`features.0.weight`, `bn.running_mean`,
        `bn.num_batches_tracked`) to NumPy arrays: the parameters and the persistent
        buffers, in PyTorch's order."""
        from .state_dict import state_dict
        return state_dict(self)

    def load_state_dict(self, state_dict, strict=True):
        """A new model with the arrays of `state_dict` (names as `state_dict()` gives them;
        NumPy arrays, functrans arrays, or anything `np.asarray` takes, such as CPU torch
        tensors), cast to each entry's current dtype. With `strict` (the default), missing
        and unexpected keys are errors; shape mismatches always are; all are listed in one
        error. Modules are immutable, so use the result: `model = model.load_state_dict(d)`."""
        refuse_discarded("load_state_dict", "model = model.load_state_dict(state_dict)")
        from .state_dict import load_state_dict
        return load_state_dict(self, state_dict, strict)

    def get_submodule(self, target):
        """The submodule at dotted path `target` (e.g. "features.0"; "" is the model)."""
        module = self
        for part in target.split(".") if target else ():
            module = module._child(part, target)
            if not isinstance(module, Module):
                raise AttributeError(f"{target!r}: {part!r} is not a module")
        return module

    def get_parameter(self, target):
        """The parameter at dotted path `target` (e.g. "fc.weight")."""
        found = dict(self.named_parameters()).get(target)
        if found is None:
            raise AttributeError(f"{type(self).__name__} has no parameter {target!r} (its "
                                 f"parameters: {[n for n, _ in self.named_parameters()]})")
        return found

    def apply(self, fn):
        """A copy in which every submodule, innermost first, then the model itself, is
        replaced by `fn(module)`, which must return a module (PyTorch's `apply` lets `fn`
        change weights in place; here it returns the changed copy):

            def init(m):
                if isinstance(m, ft.nn.Linear):
                    return m.replace(bias=ft.numpy.zeros_like(m.bias))
                return m
            model = model.apply(init)
        """
        refuse_discarded("apply", "model = model.apply(fn)")

        def edit(m, changes):
            new = fn(_copy_with(m, changes) if changes else m)
            if not isinstance(new, Module):
                raise TypeError(f"apply: fn returned {type(new).__name__} for "
                                f"{type(m).__name__}; modules are immutable, so fn must return "
                                "the module, changed (m.replace(weight=...)) or as it was")
            return new
        return _rebuild(self, edit)

    def to(self, *args, device=None, dtype=None, non_blocking=False):
        """A copy with floating-point parameters and buffers cast to `dtype` and every array
        moved to `device`, as PyTorch's `.to(device)`, `.to(dtype)`, `.to(device, dtype)`,
        `.to(other_array)`. Use the result: `model = model.to("cuda")`."""
        refuse_discarded("to", "model = model.to(...)")
        for a in args:
            if not isinstance(a, type) and hasattr(a, "dtype") and hasattr(a, "shape"):
                dtype, device = a.dtype, getattr(a, "device", device)
            elif hasattr(a, "platform") or isinstance(a, str) and not _names_dtype(a):
                device = a
            else:
                dtype = a
        return _converted(self, None if dtype is None else np.dtype(dtype), device)

    def double(self):
        """A copy with floating-point parameters and buffers in float64."""
        refuse_discarded("double", "model = model.double()")
        return _converted(self, np.dtype(np.float64), None)

    def float(self):
        """A copy with floating-point parameters and buffers in float32."""
        refuse_discarded("float", "model = model.float()")
        return _converted(self, np.dtype(np.float32), None)

    def half(self):
        """A copy with floating-point parameters and buffers in float16."""
        refuse_discarded("half", "model = model.half()")
        return _converted(self, np.dtype(np.float16), None)

    def cpu(self):
        """A copy with every array on the CPU."""
        refuse_discarded("cpu", "model = model.cpu()")
        return _converted(self, None, "cpu")

    def cuda(self, device=None):
        """A copy with every array on a GPU (`device`: an index or "cuda:N")."""
        refuse_discarded("cuda", "model = model.cuda()")
        return _converted(self, None, f"cuda:{device}" if isinstance(device, int) else
                          device or "cuda")

    def requires_grad_(self, requires_grad=True):
        """Raises: which parameters train is chosen where gradients are taken or applied."""
        raise TypeError("requires_grad_ has no counterpart: every array of a module is a "
                        "parameter. To freeze part of a model, differentiate only the rest "
                        "(trainable, frozen = ft.nn.partition(model, pick); ft.grad with respect "
                        "to trainable), or give it no updates (ft.optim.multi_transform with "
                        "ft.optim.set_to_zero(), or ft.optim.masked)")

    def zero_grad(self, set_to_none=True):
        """Raises: gradients are values returned by ft.grad, never stored in the module."""
        raise TypeError("zero_grad has nothing to clear: ft.grad returns fresh gradients on "
                        "every call and nothing accumulates in the module (for gradient "
                        "accumulation, see ft.optim.MultiSteps)")

    def train(self, mode=True):
        """A copy with every submodule's `training` flag set to `mode` (affects Dropout and
        BatchNorm). Use the result: `model = model.train()`."""
        refuse_discarded("train" if mode else "train(False)",
                          "model = model.train()" if mode else "model = model.train(False)")
        return _set_training(self, mode)

    def eval(self):
        """A copy in inference mode (`train(False)`). Use the result: `model = model.eval()`
        (as a bare statement it would change nothing, so it raises)."""
        refuse_discarded("eval", "model = model.eval()")
        return _set_training(self, False)

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
        """PyTorch's layout: `Name(extra)` on one line, or the lines of `extra_repr()` and
        then `(name): child` for each submodule, each on its own indented line."""
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        lines += [f"({name}): " + repr(m).replace("\n", "\n  ")
                  for name, m in self._submodules()]
        name = type(self).__name__
        if not lines or lines == [extra]:
            return f"{name}({extra})"
        return f"{name}(\n  " + "\n  ".join(lines) + "\n)"


class _ModuleListView:
    """Prints a list of modules as PyTorch prints a ModuleList."""

    def __init__(self, modules):
        self.modules = modules

    def __repr__(self):
        return list_repr("ModuleList", self.modules)


def list_repr(name, modules):
    """`name(...)` listing `modules` as PyTorch's ModuleList does: runs of modules that print
    alike are shown once, as `(0-2): 3 x Linear(...)`."""
    if not modules:
        return f"{name}()"
    lines, i = [], 0
    reprs = [repr(m) for m in modules]
    while i < len(reprs):
        j = i
        while j + 1 < len(reprs) and reprs[j + 1] == reprs[i]:
            j += 1
        text = reprs[i].replace("\n", "\n  ")
        lines.append(f"  ({i}): {text}" if i == j else f"  ({i}-{j}): {j - i + 1} x {text}")
        i = j + 1
    return f"{name}(\n" + "\n".join(lines) + "\n)"


def _short_repr(module):
    text = repr(module)
    return text if "\n" not in text else f"{type(module).__name__}(...)"


def _key_name(key):
    if isinstance(key, GetAttrKey):
        return key.name
    if isinstance(key, SequenceKey):
        return str(key.idx)
    if isinstance(key, DictKey):
        return str(key.key)
    return str(getattr(key, "key", key))


def dotted_name(path):
    return ".".join(_key_name(k) for k in path if not isinstance(k, BufferKey))


def named_arrays(module, prefix=""):
    """`(name, value, "param" | "buffer", persistent)` for every array of `module`, in
    PyTorch's order: its own parameters, its own buffers, then each submodule's."""
    params, buffers, later = [], [], []
    for key, child in module._tree_children()[0]:
        name = prefix + _key_name(key)
        if isinstance(child, Buffer):
            if child.value is not None:
                buffers.append((name, child.value, "buffer", child.persistent))
        elif is_array(child):
            params.append((name, child, "param", True))
        elif child is not None:
            later.append((name, child))
    out = params + buffers
    for name, child in later:
        if isinstance(child, Module):
            out += named_arrays(child, name + ".")
            continue
        pairs, _ = tree_flatten_with_path(child, lambda x: isinstance(x, (Module, Buffer)))
        for path, leaf in pairs:
            sub = f"{name}.{dotted_name(path)}" if path else name
            if isinstance(leaf, Module):
                out += named_arrays(leaf, sub + ".")
            elif isinstance(leaf, Buffer):
                if leaf.value is not None:
                    out.append((sub, leaf.value, "buffer", leaf.persistent))
            elif is_array(leaf):
                out.append((sub, leaf, "param", True))
    return out


def _copy_with(module, changes):
    """A copy with `changes`; a field that was a child stays one, others are reclassified."""
    new = object.__new__(type(module))
    state = dict(module.__dict__)
    state.update(changes)
    for n, v in state.items():
        object.__setattr__(new, n, v)
    _classify(new, changes, module.__dict__[_DYNAMIC])
    return new


def _rebuild(tree, edit):
    """A copy of `tree` in which every module `m` (innermost first) becomes
    `edit(m, changes)`, where `changes` maps each of `m`'s child fields to its rebuilt value."""
    def visit(x):
        if not isinstance(x, Module):
            return x
        changes = {n: tree_map(visit, x.__dict__[n], is_leaf=_is_module)
                   for n in x._tree_fields()[0]}
        return edit(x, changes)
    return tree_map(visit, tree, is_leaf=_is_module)


def _converted(module, dtype, device):
    """`module` with floating-point arrays cast to `dtype` and all arrays put on `device`."""
    from ..backends import get_device
    from ..numpy import asarray
    from ..primitives.transfer import device_put
    target = None if device is None else get_device(device)

    def convert(x):
        if dtype is not None and np.dtype(x.dtype).kind == "f":
            x = x.astype(dtype)
        return x if target is None else device_put(asarray(x, device=target), target)

    def leaf(x):
        if type(x) is Buffer:
            return x if x.value is None else Buffer(convert(x.value), x.persistent)
        return convert(x) if is_array(x) else x
    return tree_map(leaf, module, is_leaf=lambda x: type(x) is Buffer)


def _names_dtype(text):
    try:
        np.dtype(text)
        return True
    except TypeError:
        return False


def _set_training(tree, mode):
    def edit(x, changes):
        if "training" in x.__dict__:
            changes["training"] = mode
        return _copy_with(x, changes)
    return _rebuild(tree, edit)


def _is_module(x):
    return isinstance(x, Module)


def _like_buffer(module, name, value):
    """`value` as the new content of buffer `name`: same shape, cast to its dtype."""
    from ..numpy import asarray
    old = module.__dict__[name]
    value = value if isinstance(value, (Array, Tracer)) else asarray(value)
    if old is None:
        return value
    if tuple(value.shape) != tuple(old.shape):
        raise ValueError(f"{type(module).__name__}.update_buffers: {name} has shape "
                         f"{tuple(old.shape)} but the new value has shape {tuple(value.shape)}")
    return value if value.dtype == old.dtype else value.astype(old.dtype)


# ------------------------------------------------------------------ stateful calls
def _sessions():
    stack = getattr(_state, "sessions", None)
    if stack is None:
        stack = _state.sessions = []
    return stack


class _Session:
    """The buffer updates recorded during one `stateful` call: id(module) -> (module,
    {buffer name: new value})."""
    __slots__ = ("pending",)

    def __init__(self):
        self.pending = {}


def stateful(model):
    """`stateful(model)(*args, **kwargs)` calls `model` and returns `(output, new_model)`,
    where `new_model` holds the buffers its layers updated in the call (BatchNorm's running
    statistics in training mode); without updates it is `model` itself.

        logits, model = ft.nn.stateful(model)(images)

    Under `grad`, return the new model as auxiliary output (`has_aux=True`); under `jit`,
    return it from the jitted step. See the module documentation for the design.
    """
    if not isinstance(model, Module):
        raise TypeError(f"ft.nn.stateful takes a Module, got {type(model).__name__}")

    def call(*args, **kwargs):
        session = _Session()
        stack = _sessions()
        stack.append(session)
        try:
            out = model(*args, **kwargs)
        finally:
            stack.pop()
        return out, _apply_session(model, session, stack)
    return call


def _apply_session(model, session, stack):
    if not session.pending:
        return model
    for module, values in session.pending.values():
        for name, v in values.items():
            if isinstance(v, Tracer) and not v._trace.main.active:
                raise RuntimeError(
                    f"{_short_repr(module)} updated its buffer {name!r} inside a transform "
                    f"({v._trace.main.name}) that ended within the ft.nn.stateful call (a "
                    "vmap, checkpoint, scan or loop body around the layer); the new value "
                    "cannot leave it. Call ft.nn.stateful inside that transform, or put the "
                    "layer in eval mode there.")
    found = set()

    def edit(m, changes):
        entry = session.pending.get(id(m))
        if entry is not None and entry[0] is m:
            changes.update(entry[1])
            found.add(id(m))
        return _copy_with(m, changes)
    new = _rebuild(model, edit)
    if stack:
        # an enclosing stateful call (e.g. stateful(self.block) inside a model's forward)
        # gets every update too, so the model it returns has them
        for key, (module, values) in session.pending.items():
            stack[-1].pending.setdefault(key, (module, {}))[1].update(values)
    elif len(found) < len(session.pending):
        lost = next(m for key, (m, _) in session.pending.items() if key not in found)
        raise RuntimeError(
            f"{_short_repr(lost)} updated its buffers during ft.nn.stateful(model)(...), but "
            f"it is not part of the {type(model).__name__} given to stateful (it was created "
            "or replaced during the call), so the new values have nowhere to go. Keep the "
            "layer as a field of the model and call it from there.")
    return new


# ------------------------------------------------------------------ one owner per array
def _check_unshared(module):
    """Raise if a module holding arrays, or an array, sits at two places in `module`: as a
    pytree each place would become an independent copy, unlike PyTorch's shared module."""
    seen = {}

    def visit(x, path):
        if isinstance(x, Module):
            if id(x) in seen:
                if any(is_array(leaf) for leaf in tree_flatten(x)[0]):
                    _shared_error(module, x, seen[id(x)][0], path)
                return
            seen[id(x)] = (path, x)
            for key, child in x._tree_children()[0]:
                visit(child, path + (key,))
        elif is_array(x):
            if id(x) in seen:
                _shared_error(module, x, seen[id(x)][0], path)
            seen[id(x)] = (path, x)
        elif x is not None and not isinstance(x, (str, int, float, bool)):
            pairs, _ = tree_flatten_with_path(x, lambda v: v is not x and _is_module(v))
            if len(pairs) == 1 and pairs[0][1] is x:
                return
            for p, leaf in pairs:
                visit(leaf, path + p)
    for key, child in module._tree_children()[0]:
        visit(child, (key,))


def _shared_error(owner, value, first, second):
    a, b = dotted_name(first), dotted_name(second)
    what = (f"the same {type(value).__name__} ({_short_repr(value)})"
            if isinstance(value, Module) else "the same array")
    raise ValueError(
        f"{type(owner).__name__}: {what} is placed at both {a!r} and {b!r}. Modules are "
        "pytrees, so the two places would become independent copies with different weights "
        "after the first optimizer step (PyTorch would share one). To share a layer, keep it "
        f"in one field and call that field at each place in forward (as DynamicNet calls its "
        "middle layer several times); to tie weights, use the one array at both places in "
        "forward; for two independent layers, construct two.")


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
