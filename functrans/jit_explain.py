"""Why a jitted function traced again: `retrace_reason` compares a cache key that missed
with the keys cached (`ft.config.update("explain_cache_misses", True)`, JAX's
`jax_explain_cache_misses`, logs it; `Jitted.retrace_reasons` keeps the last ones).

A key is `(argument structure, leaf signatures, static arguments, named vmap axes, trace
context)`; a leaf signature is `(shape, dtype, place)`, the place being a device, `Tracer`
or WEAK (a Python scalar); the trace context is `config.trace_context()`.
"""
from __future__ import annotations

from . import dtypes
from .config import TRACE_CONTEXT
from .core import Tracer

WEAK = "weak"       # the place of a Python scalar: a weakly typed value, as in eager code


def sig_str(sig, show_device):
    """`f32[2,3]`, with where it lives when `show_device`."""
    shape, dtype, place = sig
    where = " (a Python scalar)" if place is WEAK else \
        f" on {place}" if show_device and place is not Tracer else ""
    return f"{dtypes.short_name(dtype)}[{','.join(map(str, shape))}]{where}"


def _statics_str(statics):
    return "(" + ", ".join(f"{k}={v!r}" for k, v in statics) + ")"


def retrace_reason(key, known, label):
    """Why `key` missed, against the `known` keys (least recently used first); `label(i)`
    names the i-th flat argument."""
    treedef, sigs, statics, axes, context = key
    if all(k[4] != context for k in known):
        last = known[-1][4]
        changed = [f"{name} from {a!r} to {b!r}"
                   for name, a, b in zip(TRACE_CONTEXT, last, context) if a != b]
        return f"the settings that tracing depends on changed: {', '.join(changed)}"
    known = [k for k in known if k[4] == context]
    if all(k[3] != axes for k in known):
        return f"the named vmap axes changed to {axes}"
    same = [k for k in reversed(known) if k[0] == treedef]
    if not same:
        last = known[-1][0]
        return f"the argument structure changed from {last} to {treedef}"
    for k in same:
        if k[1] == sigs and k[2] != statics:
            return f"static arguments changed from {_statics_str(k[2])} to " \
                   f"{_statics_str(statics)}"
    prev = next((k for k in same if k[2] == statics), same[0])
    changes = []
    for i, (a, b) in enumerate(zip(prev[1], sigs)):
        if a != b:
            moved = a[2] != b[2]
            changes.append(f"{label(i)} changed from {sig_str(a, moved)} to "
                           f"{sig_str(b, moved)}")
    if prev[2] != statics:
        changes.append(f"static arguments changed from {_statics_str(prev[2])} to "
                       f"{_statics_str(statics)}")
    return "; ".join(changes) or "of a new signature"
