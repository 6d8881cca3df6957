"""JAX's transfer guards: log or refuse copies between the host and a device.

A transfer is explicit when it is a `device_put` or `device_get` (as in JAX), implicit
otherwise: NumPy data joining a device's arrays in an operation or a jitted call or placed by
`asarray(x, device=...)`, an array on a device read as NumPy or Python values (`np.asarray`,
`float`, `.tolist()`, `print`). Each direction (`host_to_device`, `device_to_device`,
`device_to_host`) has its level: "allow" (the default), "log" (log implicit transfers),
"disallow" (refuse implicit ones), "log_explicit" (log all), "disallow_explicit" (refuse all). A CPU device's
memory is the host's, so nothing to or from one is guarded (as JAX always lets a CPU buffer be
fetched). Copies functrans makes for its own reasons (a kernel run on the host for a device's
data, a collective) are not the user's and are not guarded.
"""
from __future__ import annotations

import contextlib
import logging
import threading

from ..config import config, TRANSFER_GUARD_LEVELS as LEVELS

DIRECTIONS = ("host_to_device", "device_to_device", "device_to_host")
log = logging.getLogger("functrans.transfers")


class _Local(threading.local):
    def __init__(self):
        self.levels = {}        # direction -> level set by a context manager in this thread
        self.explicit = 0       # depth of explicit transfers being made


_local = _Local()


def level(direction):
    """The level guarding `direction` now (this thread's context, else the setting)."""
    return _local.levels.get(direction) or getattr(config, "transfer_guard_" + direction)


def check(source, target, what, explicit=False):
    """Apply the guard to copying `what` (a description: shape and dtype) from device `source`
    to device `target`, explicitly asked for (or within `explicit()`) or not."""
    if source.platform == "cpu":
        if target.platform == "cpu":
            return
        direction = "host_to_device"
    else:
        direction = "device_to_host" if target.platform == "cpu" else "device_to_device"
    chosen = level(direction)
    if chosen == "allow":
        return
    explicit = explicit or _local.explicit > 0
    if explicit and chosen in ("log", "disallow"):
        return
    message = (f"{'explicit' if explicit else 'implicit'} {direction.replace('_', '-')} "
               f"transfer of {what} from {source} to {target}")
    if chosen in ("log", "log_explicit"):
        log.warning(message.capitalize())
        return
    advice = ("" if explicit else "; move it explicitly (ft.device_put / ft.device_get) or "
              "relax the guard")
    raise RuntimeError(f"Disallowed {message} (transfer guard level {chosen!r}){advice}")


def described(raw):
    """`float32[2,3]`: a raw array's dtype and shape, for the guard's messages."""
    return f"{raw.dtype}[{','.join(map(str, raw.shape))}]"


@contextlib.contextmanager
def explicit():
    """Within: the transfers made are the user's explicit ones."""
    _local.explicit += 1
    try:
        yield
    finally:
        _local.explicit -= 1


@contextlib.contextmanager
def guarding(new_val, directions=DIRECTIONS):
    """Within (in this thread): `directions` guarded at level `new_val`."""
    if new_val not in LEVELS:
        raise ValueError(f"transfer guard level must be one of {', '.join(map(repr, LEVELS))},"
                         f" got {new_val!r}")
    saved = dict(_local.levels)
    _local.levels.update(dict.fromkeys(directions, new_val))
    try:
        yield
    finally:
        _local.levels = saved
