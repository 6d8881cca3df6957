"""`ft.export`: JAX's `jax.export`. `export(jit(f))(*args_specs)` stages `f` for arguments of
those shapes and dtypes into an `Exported`, which can be called (`exp.call`, under jit, grad,
vmap), serialized to bytes (`exp.serialize(vjp_order=0)`) and read back, in another process
too, with `deserialize(blob)`.

What is exported is the jaxpr (JAX exports StableHLO). `Exported.mlir_module()` shows that
jaxpr as text. Shape polymorphism (`symbolic_shape`) is not implemented: export for concrete
shapes, once per shape you need.

Serialized format (version `SERIALIZATION_VERSION`): the bytes `b"FTEXPORT"`, the version as
a little-endian u16, the vjp_order as a u32, then for the function and each VJP kept its
name, structures, platforms, disabled checks and closed jaxpr as tagged values: one tag byte,
then the value (lengths and counts as little-endian u32, array dimensions as u64).
Equations name their primitive; params are Python values (None, bools, ints, floats,
complex numbers, strings, bytes, tuples, lists, NumPy dtypes and scalar types, functrans's
enums and named tuples, abstract values, tree structures, nested jaxprs); constants are raw
little-endian C-order bytes with their dtype and shape. A call primitive whose params hold
Python functions (custom derivative rules, `checkpoint` policies, custom batching rules) is
written as a plain `jit` call of its jaxpr: the values are the same, and the derivatives
those functions defined travel as the serialized VJPs (`vjp_order`). Any other param that is
not data (a callback's Python function, ...) makes `serialize` raise, naming the primitive
and the param.

`deserialize` never runs code from the blob (no pickle, no eval, no import): primitives,
enums and named tuples are looked up among functrans's own by name. Every length is checked
against the bytes left before anything is allocated, so no allocation exceeds what the blob's
size justifies; array dtypes and shapes get `ft.load`'s checks; each equation is typed with its
primitive's shape rule and must agree with the types the blob declares. Unknown versions,
tags, primitives, truncated or trailing data raise `DeserializationError` (a ValueError)
saying where and what. Calling a deserialized function runs its equations as any jaxpr.
"""
from __future__ import annotations

from ..api import vjp, ShapeDtypeStruct
from ..backends import default_device_now
from ..compiler.jit_call import jit_p
from ..core import ShapedArray, abstractify, operand_device
from ..higher_order.custom_derivatives import custom_vjp
from ..interpreters.ad import inexact_aval
from ..jit import jit, Jitted
from ..lax import convert_element_type
from ..numpy import zeros
from ..tree_util import tree_flatten_with_path, tree_unflatten, keystr
from . import wire
from .wire import (DeserializationError, SERIALIZATION_VERSION, register_namedtuple_serialization,
                   register_pytree_node_serialization)

__all__ = ["export", "Exported", "deserialize", "DisabledSafetyCheck", "DeserializationError",
           "default_export_platform", "symbolic_shape", "symbolic_args_specs",
           "is_symbolic_dim", "SymbolicScope", "register_namedtuple_serialization",
           "register_pytree_node_serialization", "minimum_supported_calling_convention_version",
           "maximum_supported_calling_convention_version", "SERIALIZATION_VERSION"]

# JAX's calling convention versions (how `call` passes arguments), for code that reads them.
minimum_supported_calling_convention_version = 9
maximum_supported_calling_convention_version = 10


class DisabledSafetyCheck:
    """A safety check `export` skips: `DisabledSafetyCheck.platform()` lets an Exported run
    on a platform it was not exported for; `custom_call(target)` is accepted for JAX's code
    (functrans exports no custom calls)."""

    def __init__(self, kind, target=None):
        self._kind, self._target = kind, target

    @classmethod
    def platform(cls):
        return cls("platform")

    @classmethod
    def custom_call(cls, target_name):
        return cls("custom_call", str(target_name))

    def is_custom_call(self):
        """The target name of a custom_call check, else None."""
        return self._target if self._kind == "custom_call" else None

    def _text(self):
        return self._kind if self._target is None else f"{self._kind}:{self._target}"

    def __eq__(self, other):
        return isinstance(other, DisabledSafetyCheck) and other._text() == self._text()

    def __hash__(self):
        return hash(self._text())

    def __repr__(self):
        return f"DisabledSafetyCheck({self._text()!r})"


def default_export_platform():
    """The platform `export` exports for by default: the default device's ("cpu", ...)."""
    return default_device_now().platform


# =================================================================== shape polymorphism
def _no_shape_polymorphism(what):
    raise NotImplementedError(
        f"ft.export.{what}: shape polymorphism (symbolic dimensions) is not implemented in "
        "functrans; export with concrete shapes (ShapeDtypeStructs or arrays), once per shape "
        "you need")


def symbolic_shape(shape_spec, *, constraints=(), scope=None, like=None):
    """Not implemented (JAX's symbolic dimensions): raises NotImplementedError."""
    _no_shape_polymorphism(f"symbolic_shape({shape_spec!r})")


def symbolic_args_specs(args, shapes_specs, constraints=(), scope=None):
    """Not implemented (JAX's symbolic dimensions): raises NotImplementedError."""
    _no_shape_polymorphism("symbolic_args_specs")


class SymbolicScope:
    """Not implemented (JAX's scope of symbolic dimensions): raises NotImplementedError."""

    def __init__(self, constraints_str=()):
        _no_shape_polymorphism("SymbolicScope")


def is_symbolic_dim(p):
    """Whether `p` is a symbolic dimension: never, in functrans (dimensions are ints)."""
    return False


# =================================================================== export
def export(fun_jit, *, platforms=None, disabled_checks=()):
    """JAX's `jax.export.export`: a function taking arguments (pytrees of ShapeDtypeStructs
    or arrays, as `fun_jit` takes them; nothing is computed) and returning the `Exported` of
    `fun_jit` staged for them. `fun_jit` is a `ft.jit` function (a plain callable is jitted
    first: functrans's NumPy functions are not jit objects, JAX's are). `platforms`: the
    platforms the result may run on (default: `default_export_platform()`); the jaxpr is the
    same for all. `disabled_checks`: `DisabledSafetyCheck`s."""
    if not isinstance(fun_jit, Jitted):
        if not callable(fun_jit):
            raise TypeError(f"ft.export.export: expected a function (the result of ft.jit), "
                            f"got a {type(fun_jit).__name__}")
        fun_jit = jit(fun_jit)
    if platforms is None:
        platforms = (default_export_platform(),)
    elif isinstance(platforms, str) or not all(isinstance(p, str) for p in platforms) \
            or not platforms:
        raise ValueError(f"ft.export.export: platforms={platforms!r}; expected a non-empty "
                         "sequence of platform names such as ['cpu', 'cuda']")
    platforms = tuple(p.lower() for p in platforms)
    disabled_checks = tuple(disabled_checks)
    bad = [c for c in disabled_checks if not isinstance(c, DisabledSafetyCheck)]
    if bad:
        raise TypeError(f"ft.export.export: disabled_checks holds {bad[0]!r}; expected "
                        "DisabledSafetyCheck.platform() or .custom_call(name) values")
    name = getattr(fun_jit, "__name__", "<unnamed>")

    def do_export(*args_specs, **kwargs_specs):
        traced = fun_jit.trace(*args_specs, **kwargs_specs)
        return Exported(name, traced.in_tree, traced.jaxpr, traced.out_tree, platforms,
                        disabled_checks, _in_process_vjp)
    return do_export


def _strip_weak(aval):
    return ShapedArray(aval.shape, aval.dtype)


class Exported:
    """A staged function with what calling it needs (JAX's `jax.export.Exported`):
    `fun_name`, `in_tree` (the structure of `(args, kwargs)`), `in_avals`, `out_tree`,
    `out_avals`, `platforms`, `nr_devices` (1), `in_shardings_hlo`/`out_shardings_hlo` (None
    each: unspecified), `calling_convention_version`, `module_kept_var_idx` (the arguments
    the computation reads), `disabled_safety_checks`; `call`, `vjp`, `has_vjp`,
    `serialize`, and `mlir_module()` (the jaxpr as text: functrans exports jaxprs, not
    StableHLO)."""

    ordered_effects = unordered_effects = ()
    nr_devices = 1
    uses_global_constants = False
    calling_convention_version = maximum_supported_calling_convention_version

    def __init__(self, fun_name, in_tree, jaxpr, out_tree, platforms, disabled_checks,
                 get_vjp, vjp_order=None):
        self.fun_name, self.in_tree, self.out_tree = fun_name, in_tree, out_tree
        self._jaxpr = jaxpr
        self.in_avals = tuple(jaxpr.in_avals)
        self.out_avals = tuple(_strip_weak(a) for a in jaxpr.out_avals)
        self.platforms = tuple(platforms)
        self.disabled_safety_checks = tuple(disabled_checks)
        self.in_shardings_hlo = (None,) * len(self.in_avals)
        self.out_shardings_hlo = (None,) * len(self.out_avals)
        self._get_vjp, self._vjp_order, self._vjp, self._flat = get_vjp, vjp_order, None, None

    @property
    def module_kept_var_idx(self):
        j = self._jaxpr.jaxpr
        used = {id(v) for e in j.eqns for v in e.invars} | {id(v) for v in j.outvars}
        return tuple(i for i, v in enumerate(j.invars) if id(v) in used)

    def mlir_module(self):
        """The exported computation as text: its jaxpr (functrans has no MLIR)."""
        return f"# jaxpr of {self.fun_name}\n{self._jaxpr}\n"

    def in_shardings_jax(self, mesh):
        """The input shardings: None each (unspecified: functrans exports no shardings)."""
        return self.in_shardings_hlo

    def out_shardings_jax(self, mesh):
        """The output shardings: None each (unspecified)."""
        return self.out_shardings_hlo

    def has_vjp(self):
        """Whether `vjp()` is available (always, unless deserialized without that order)."""
        return self._get_vjp is not None

    def vjp(self):
        """The Exported VJP: it takes the primal arguments flat, then one cotangent per
        floating-point output, and returns the cotangents of the floating-point inputs
        (JAX also passes float0 cotangents for the others; functrans arrays hold no float0).
        ValueError where the Exported was deserialized without it (`vjp_order`)."""
        if self._get_vjp is None:
            top, order = self._vjp_order
            raise ValueError(
                f"No VJP is available for the Exported '{self.fun_name}': '{top}' was "
                f"serialized with vjp_order={order}, which keeps {order} order(s) of "
                "reverse-mode derivatives; serialize it with a larger vjp_order "
                "(exp.serialize(vjp_order=n) keeps n orders)")
        if self._vjp is None:
            self._vjp = self._get_vjp(self)
        return self._vjp

    def serialize(self, vjp_order=0):
        """The Exported as bytes (a bytearray; see the module doc for the format), with its
        VJPs up to order `vjp_order`, so `deserialize(blob).call` can be differentiated that
        many times in reverse mode (0: not at all)."""
        if type(vjp_order) is not int or vjp_order < 0:
            raise ValueError(f"serialize: vjp_order={vjp_order!r}; expected an int >= 0")
        levels, exp = [], self
        for i in range(vjp_order + 1):
            levels.append((exp.fun_name, exp.in_tree, exp.out_tree, exp.platforms,
                           [c._text() for c in exp.disabled_safety_checks], exp._jaxpr))
            exp = exp.vjp() if i < vjp_order else None
        return wire.write(levels)

    # -- calling
    def call(self, *args, **kwargs):
        """Call the exported function on arguments of the structure, shapes and dtypes it
        was exported for (under jit, vmap and reverse-mode differentiation too)."""
        leaves_paths, tree = tree_flatten_with_path((args, kwargs))
        if tree != self.in_tree:
            raise ValueError(
                "The invocation args and kwargs must have the same pytree structure as when "
                f"the function '{self.fun_name}' was exported: called with {tree}, exported "
                f"with {self.in_tree}")
        leaves = [x for _, x in leaves_paths]
        for (path, x), want in zip(leaves_paths, self.in_avals):
            self._check_arg(path, abstractify(x), want)
        if DisabledSafetyCheck.platform() not in self.disabled_safety_checks:
            device = operand_device(leaves) or default_device_now()
            if device.platform not in self.platforms:
                raise ValueError(f"Function '{self.fun_name}' was exported for platforms "
                                 f"'{self.platforms}' but it is used on "
                                 f"'{(device.platform,)}'.")
        if self._flat is None:
            self._flat = self._flat_function()
        return tree_unflatten(self.out_tree, self._flat(*leaves))

    def _check_arg(self, path, got, want):
        where = ("args" if path[0].idx == 0 else "kwargs") + keystr(path[1:])
        if len(got.shape) != len(want.shape):
            raise ValueError(f"Rank mismatch for {where}: expected {want.shape} and called "
                             f"with {got.shape}")
        if got.dtype != want.dtype:
            raise ValueError(f"Dtype mismatch for {where}: expected {want.dtype} and called "
                             f"with {got.dtype}")
        for i, (g, w) in enumerate(zip(got.shape, want.shape)):
            if g != w:
                raise ValueError(f"Shape mismatch for {where}.shape[{i}] (expected same "
                                 f"constant): expected {want.shape} and called with "
                                 f"{got.shape}")

    def _flat_function(self):
        """The flat call: the jaxpr run as a jit call, differentiated by `vjp()`."""
        closed, name = self._jaxpr, self.fun_name

        @custom_vjp
        def flat(*args):
            return jit_p.bind(*args, jaxpr=closed, name=name)

        def fwd(*args):
            return flat(*args), args

        def bwd(primals, cts):
            given = []
            for ct, aval in zip(cts, self.out_avals):
                if inexact_aval(aval):
                    if ct is None:
                        ct = zeros(aval.shape, aval.dtype)
                    elif ct.dtype != aval.dtype:
                        ct = convert_element_type(ct, aval.dtype)
                    given.append(ct)
            in_cts = iter(self.vjp().call(*primals, *given))
            return tuple(next(in_cts) if inexact_aval(a) else None for a in self.in_avals)
        flat.defvjp(fwd, bwd)
        return flat

    def __repr__(self):
        return (f"Exported(fun_name={self.fun_name!r}, in_tree={self.in_tree}, "
                f"in_avals={self.in_avals}, out_tree={self.out_tree}, "
                f"out_avals={self.out_avals}, platforms={self.platforms}, "
                f"nr_devices={self.nr_devices}, "
                f"disabled_safety_checks={self.disabled_safety_checks})")


def _in_process_vjp(exp):
    """The Exported VJP of `exp`, staged from its jaxpr (whose custom derivative rules, remat
    policies, ... are all there, in this process)."""
    n = len(exp.in_avals)
    diff_in = [inexact_aval(a) for a in exp.in_avals]
    diff_out = [inexact_aval(a) for a in exp.out_avals]
    closed, name = exp._jaxpr, exp.fun_name

    def fun_vjp(*flat):
        primals, cts = flat[:n], flat[n:]
        if not any(diff_in):
            return ()

        def differentiable(*diff_args):
            it = iter(diff_args)
            args = [next(it) if d else p for p, d in zip(primals, diff_in)]
            outs = jit_p.bind(*args, jaxpr=closed, name=name)
            return [o for o, d in zip(outs, diff_out) if d]
        _, pull = vjp(differentiable, *[p for p, d in zip(primals, diff_in) if d])
        return tuple(pull(list(cts)))
    fun_vjp.__name__ = f"vjp_{name}"
    specs = [ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type) for a in exp.in_avals]
    specs += [ShapeDtypeStruct(a.shape, a.dtype) for a, d in zip(exp.out_avals, diff_out) if d]
    traced = jit(fun_vjp).trace(*specs)
    return Exported(fun_vjp.__name__, traced.in_tree, traced.jaxpr, traced.out_tree,
                    exp.platforms, exp.disabled_safety_checks, _in_process_vjp)


def deserialize(blob):
    """The `Exported` that `Exported.serialize` wrote as `blob` (bytes, a bytearray or a
    memoryview). Safe on any input: see the module doc; problems raise
    `DeserializationError`."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        raise TypeError(f"ft.export.deserialize: expected bytes or a bytearray, got a "
                        f"{type(blob).__name__}")
    levels = wire.read(blob)
    exp = None
    for name, in_tree, out_tree, platforms, checks, closed in reversed(levels):
        exp = Exported(name, in_tree, closed, out_tree, platforms,
                       [DisabledSafetyCheck(c.partition(":")[0], c.partition(":")[2] or None)
                        for c in checks],
                       None if exp is None else (lambda _, vjp=exp: vjp),
                       (levels[0][0], len(levels) - 1))
    return exp
