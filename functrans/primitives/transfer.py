"""`device_put`: the one primitive that moves data between devices.

Every other primitive runs where its operands live and refuses operands on different devices;
moving is always explicit. Its derivative moves the cotangent back to where the value came
from, so `grad` works through a transfer. Inside `jit` a compiled program runs on the device
of its arguments: move arguments before the call rather than inside.
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from ..array import wrap
from ..backends import HOST_TYPES, device_of_raw, transfer, transfer_guard
from ..core import device_like
from ..meshes import out_sharding_device
from ._util import primitive


def _impl(xp, x, device):
    if device_of_raw(x) is not device:
        transfer_guard.check(device_of_raw(x), device, transfer_guard.described(x),
                             explicit=True)
    return transfer(x, device)


device_put_p = primitive("device_put", _impl, lambda x, device: x.strip_weak())


def _jvp(primals, tangents, device):
    x, = primals
    t, = tangents
    return device_put_p.bind(x, device=device), \
        None if t is None else device_put_p.bind(t, device=device)


def _vjp(primals, needs, device):
    x, = primals
    source = device_like(x)
    return device_put_p.bind(x, device=device), \
        lambda ct: (device_put_p.bind(ct, device=source),)


def _batch(vals, dims, device):
    return device_put_p.bind(vals[0], device=device), dims[0]


device_put_p.jvp, device_put_p.vjp, device_put_p.batch = _jvp, _vjp, _batch


def device_put(x, device):
    """`x` (an array or traced value) on `device` (a `Device`); NumPy data is read where it
    is, on the host (rather than joining the default device first, as operands do)."""
    if type(x) in HOST_TYPES:
        x = wrap(np.asarray(x))
    return device_put_p.bind(x, device=device)


def place(x, sharding, what, name="out_sharding"):
    """`x` on the device that JAX's `out_sharding=` argument `sharding` names (see
    `out_sharding_device`; None leaves `x` where it is)."""
    device = out_sharding_device(sharding, what, name)
    return x if device is None else moved(x, device)


def moved(x, device):
    """`x` on `device` (a `Device`), unmoved where it is there already."""
    return x if device_like(x) == device else device_put(x, device)


def takes_out_sharding(f):
    """`f` with JAX's keyword-only `out_sharding=` added: the arrays it returns are placed by
    `place` (for libraries whose functions all take it, such as `ft.random`'s samplers)."""
    @functools.wraps(f)
    def with_out_sharding(*args, out_sharding=None, **kwargs):
        out = f(*args, **kwargs)
        if out_sharding is None:
            return out
        return place(out, out_sharding, f.__name__)

    sig = inspect.signature(f)
    extra = inspect.Parameter("out_sharding", inspect.Parameter.KEYWORD_ONLY, default=None)
    with_out_sharding.__signature__ = sig.replace(parameters=[*sig.parameters.values(), extra])
    return with_out_sharding
