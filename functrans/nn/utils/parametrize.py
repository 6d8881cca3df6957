"""`torch.nn.utils.parametrize` for immutable modules: a parameter computed by modules from
other arrays (`weight = parametrization(original)`), with PyTorch's names:

    model = parametrize.register_parametrization(model, "weight", Symmetric())
    model.weight                     # Symmetric()(model.parametrizations.weight.original)
    model.state_dict()               # bias, parametrizations.weight.original

The parametrized module is an instance of `Parametrized<Layer>`, a subclass of its class in
which `weight` is a property; its `parametrizations` entry is a `ModuleDict` of
`ParametrizationList`s, so `state_dict()` keys and gradients (with respect to the originals)
are PyTorch's. What differs: `register_parametrization` and `remove_parametrizations` return a
new module (use the result); a parametrization that updates buffers in training mode (as
`spectral_norm`'s does) must be called under `ft.nn.stateful`, like BatchNorm; buffers cannot be
parametrized; `cached()` caches per module object within the `with` block and drops values of
transformations that have ended.
"""
from __future__ import annotations

import contextlib
import threading

from ...core import Tracer
from ..containers import ModuleDict
from ..module import Module, is_array, stateful
from ._reparam import base_class, derived_class, hooks_of, own_parameter, rebuild

__all__ = ["register_parametrization", "remove_parametrizations", "is_parametrized", "cached",
           "type_before_parametrizations", "ParametrizationList"]


class ParametrizationList(Module):
    """The parametrizations of one tensor (`module.parametrizations.weight`): the original
    array(s) (`original`, or `original0`, `original1`, ... when the first parametrization's
    `right_inverse` returns several) and the parametrization modules, named `0`, `1`, ..."""

    def __init__(self, modules, original, unsafe=False):
        first = modules[0]
        if hasattr(first, "right_inverse"):
            try:
                original = first.right_inverse(original)
            except NotImplementedError:     # as PyTorch: the original is then the value
                pass
        self.is_tensor = is_array(original)
        self.originals = (original,) if self.is_tensor else tuple(original)
        self.modules_ = tuple(modules)
        self.unsafe = bool(unsafe)

    def __getattr__(self, name):
        originals = self.__dict__.get("originals")
        if originals is not None and name.startswith("original"):
            index = name[len("original"):]
            if self.is_tensor and not index:
                return originals[0]
            if not self.is_tensor and index.isdigit() and int(index) < len(originals):
                return originals[int(index)]
        raise AttributeError(f"ParametrizationList has no attribute {name!r}")

    def __getitem__(self, i):
        return self.modules_[i]

    def __len__(self):
        return len(self.modules_)

    def __iter__(self):
        return iter(self.modules_)

    def value(self):
        """The parametrized tensor: the parametrizations applied in order to the originals."""
        first, *rest = self.modules_
        x = first(*self.originals)
        for m in rest:
            x = m(x)
        return x

    def _submodules(self):
        return [(str(i), m) for i, m in enumerate(self.modules_)]

    def _names(self):
        if self.is_tensor:
            return ["original"]
        return [f"original{i}" for i in range(len(self.originals))]

    def _tree_flatten(self):
        return (list(self.originals) + list(self.modules_),
                (len(self.originals), self.is_tensor, self.unsafe))

    def _tree_children(self):
        from ...tree_util import GetAttrKey, SequenceKey
        children, aux = self._tree_flatten()
        keys = [GetAttrKey(n) for n in self._names()] + \
            [SequenceKey(i) for i in range(len(self.modules_))]
        return list(zip(keys, children)), aux

    @classmethod
    def _tree_build(cls, aux, children):
        n, is_tensor, unsafe = aux
        return super()._tree_build(
            (("originals", "modules_"), (("is_tensor", is_tensor), ("unsafe", unsafe)), ()),
            [tuple(children[:n]), tuple(children[n:])])


_CACHE = threading.local()


@contextlib.contextmanager
def cached():
    """Within the block, each parametrized tensor is computed once per module object (PyTorch's
    `parametrize.cached()`), e.g. for a weight used at every step of a recurrent loop."""
    stack = _cache_stack()
    stack.append({})
    try:
        yield
    finally:
        stack.pop()


def _cache_stack():
    stack = getattr(_CACHE, "stack", None)
    if stack is None:
        stack = _CACHE.stack = []
    return stack


def _live(value):
    return not isinstance(value, Tracer) or value._trace.main.active


def parametrized_value(module, name):
    """`module.<name>` of a parametrized module (the property's getter)."""
    plist = module.__dict__["parametrizations"][name]
    stack = _cache_stack()
    if not stack:
        return plist.value()
    entry = stack[-1].get((id(plist), name))
    if entry is not None and entry[0] is plist and _live(entry[1]):
        return entry[1]
    value = plist.value()
    stack[-1][(id(plist), name)] = (plist, value)
    return value


def is_parametrized(module, tensor_name=None):
    """Whether `module` has a parametrization (on `tensor_name`, when given)."""
    names = getattr(type(module), "_parametrized", ())
    return bool(names) if tensor_name is None else tensor_name in names


def type_before_parametrizations(module):
    """The class `module` had before its first parametrization."""
    return base_class(type(module)) if is_parametrized(module) else type(module)


def _check_value(got, like, what, fn):
    if not is_array(got):
        raise ValueError(f"{fn}: {what} must return an array, got {type(got).__name__}")
    if got.dtype != like.dtype or tuple(got.shape) != tuple(like.shape):
        raise ValueError(f"{fn}: {what} returned {got.dtype}{list(got.shape)} for a tensor of "
                         f"{like.dtype}{list(like.shape)}; a parametrization may change neither "
                         "unless unsafe=True")


def _with_training(parametrization, module):
    training = module.__dict__.get("training")
    if training is None or "training" not in parametrization.__dict__:
        return parametrization
    return parametrization.train(training)


class _Run(Module):
    """`module.method(*args)` as a module, to call under `stateful`: parametrizations that
    update buffers in training mode (spectral_norm's) can then be evaluated outside a training
    step, their updates dropped."""

    def __init__(self, module, method, args):
        self.module = module
        self.method = method
        self.args = tuple(args)

    def __call__(self):
        return getattr(self.module, self.method)(*self.args)


def _run(module, method, *args):
    return stateful(_Run(module, method, args))()[0]


def register_parametrization(module, tensor_name, parametrization, *, unsafe=False):
    """A copy of `module` whose `tensor_name` is `parametrization(original)` (on top of the
    parametrizations it has already). The original is `right_inverse(weight)` when the
    parametrization defines `right_inverse` (which may return several arrays), else the
    current value. Unless `unsafe`, the parametrization may change neither shape nor dtype."""
    fn = "register_parametrization"
    if not isinstance(parametrization, Module):
        raise TypeError(f"{fn}: parametrization must be a Module (with a forward and, "
                        f"optionally, right_inverse), got {type(parametrization).__name__}")
    parametrization = _with_training(parametrization, module)
    names = getattr(type(module), "_parametrized", ())
    if tensor_name in names:
        plist = module.parametrizations[tensor_name]
        if not unsafe:
            current = _run(plist, "value")
            out = _run(parametrization, "__call__", current)
            _check_value(out, current, "the parametrization", fn)
            if hasattr(parametrization, "right_inverse"):
                _check_value(parametrization.right_inverse(out), current, "right_inverse", fn)
        plist = plist.replace(modules_=plist.modules_ + (parametrization,),
                              unsafe=plist.unsafe or bool(unsafe))
        entries = dict(module.parametrizations.items())
        entries[tensor_name] = plist
        return module.replace(parametrizations=ModuleDict(entries))
    original = own_parameter(module, tensor_name, fn)
    plist = ParametrizationList([parametrization], original, unsafe)
    if not unsafe:
        _check_value(_run(plist, "value"), original, "the parametrization", fn)
        if plist.is_tensor:
            _check_value(plist.originals[0], original, "right_inverse", fn)
    cls = derived_class(base_class(type(module)), hooks_of(module), names + (tensor_name,))
    if names:
        entries = dict(module.parametrizations.items())
        entries[tensor_name] = plist
        return rebuild(module, cls, drop=(tensor_name, "parametrizations"),
                       params=[("parametrizations", ModuleDict(entries))])
    return rebuild(module, cls, drop=(tensor_name,),
                   params=[("parametrizations", ModuleDict({tensor_name: plist}))])


def remove_parametrizations(module, tensor_name, leave_parametrized=True):
    """A copy of `module` without the parametrizations of `tensor_name`: the parameter becomes
    its current parametrized value (`leave_parametrized=True`) or the original. With no
    parametrizations left, the module has its original class again."""
    fn = "remove_parametrizations"
    names = getattr(type(module), "_parametrized", ())
    if tensor_name not in names:
        raise ValueError(f"{fn}: {type(module).__name__} has no parametrization on "
                         f"{tensor_name!r} (parametrized: {list(names)})")
    plist = module.parametrizations[tensor_name]
    if leave_parametrized:
        value = _run(plist, "value")
        if plist.is_tensor and value.dtype != plist.originals[0].dtype:
            raise ValueError(f"{fn}: the parametrization changed the dtype of {tensor_name!r} "
                             f"from {plist.originals[0].dtype} to {value.dtype}; pass "
                             "leave_parametrized=False to keep the original")
    elif plist.is_tensor:
        value = plist.originals[0]
    else:
        raise ValueError(f"{fn}: {tensor_name!r} is parametrized in terms of "
                         f"{len(plist.originals)} arrays, so it cannot be left unparametrized "
                         "(leave_parametrized=False); use leave_parametrized=True")
    rest = tuple(n for n in names if n != tensor_name)
    cls = derived_class(base_class(type(module)), hooks_of(module), rest)
    entries = {k: v for k, v in module.parametrizations.items() if k != tensor_name}
    extra = [("parametrizations", ModuleDict(entries))] if entries else []
    return rebuild(module, cls, drop=("parametrizations",), params=extra + [(tensor_name, value)])
