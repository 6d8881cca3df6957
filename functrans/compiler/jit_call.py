"""The `jit` call primitive: it carries a staged jaxpr, and running it runs that jaxpr
compiled (cached on the jaxpr per device). Its transformation rules are those of every call
primitive (`interpreters.calls`): `grad(jit(f))` differentiates the staged function (a
compiled forward pass saving residuals and a compiled backward pass), `vmap(jit(f))` batches
the jaxpr, and jit inside jit inlines."""
from __future__ import annotations

from ..array import wrap
from ..backends import HOST_TYPES, create, cpu, default_device_now, device_of_raw
from ..core import AxisPrimitive, OpaqueValue, is_python_scalar, as_declared_dtype
from ..interpreters.calls import define_call
from .executable import compile_jaxpr

# an AxisPrimitive: a program using the names of enclosing vmaps runs under them
jit_p = define_call(AxisPrimitive("jit", multiple_results=True), inline="early")


def _jit_impl(xp, *args, jaxpr, name):
    device = device_of_args(args)
    outs = compile_jaxpr(jaxpr, device, name)(*args)
    return [as_declared(device, o, a) for o, a in zip(outs, jaxpr.out_avals)]


jit_p.impl = _jit_impl


def device_of_args(raws):
    """The device a program on these raw arguments runs on: that of its first array."""
    for r in raws:
        if type(r) not in HOST_TYPES and not isinstance(r, OpaqueValue) and \
                not is_python_scalar(r):
            return device_of_raw(r)
    return cpu if raws else default_device_now()


def wrap_outputs(device, outs, avals):
    """Arrays for a compiled program's results (see `as_declared`)."""
    return [wrap(as_declared(device, o, a)) for o, a in zip(outs, avals)]


def as_declared(device, value, aval):
    """A compiled program's result as its aval declares it: a Python scalar it passes through
    becomes an array on its device, and a result NumPy computed in another dtype from Python
    scalars alone (`sin(1.0)` is float64 there, a weakly typed float32 in the trace) is cast
    to the declared dtype. Python scalar arguments stay exact until they meet an array."""
    if is_python_scalar(value):
        return scalar_on(device, value, aval)
    return as_declared_dtype(value, aval)


def scalar_on(device, value, aval):
    """A Python scalar a compiled program passes through, as an array on its device."""
    return create(device, "asarray", value, dtype=aval.dtype)
