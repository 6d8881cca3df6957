"""Devices and the backends behind them: a registry of array modules.

A *backend* is one kind of device (`cpu` through NumPy, `cuda` through CuPy): its platform
name, the raw array types it owns, its array module `xp` (NumPy's API; primitive kernels take
it as their first argument, so one kernel serves every device), how raw arrays move to and
from the host, and which of its devices holds a raw array. Backends register themselves with
`register_backend`; `devices()`, `get_device`, `device_of_raw`, `transfer` and
`default_device` only ever ask the registry, so a new kind of device is one `Backend`
subclass (the test suite registers a NumPy-backed stand-in for a GPU this way).

Importing functrans never imports CuPy: GPU devices are discovered on first use of
`devices()` (or of a CuPy array).
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np

from ..config import config

__all__ = ["Backend", "Device", "RemoteDevice", "register_backend", "unregister_backend",
           "backends", "get_backend", "is_device_raw",
           "devices", "local_devices", "device_count", "local_device_count", "configured_device",
           "get_device", "default_device", "default_device_now", "device_of_raw",
           "xp_of_raw", "transfer", "to_host", "HOST_TYPES", "cpu",
           "scipy_module", "create", "process_index", "process_count",
           "DeviceGroup", "HostBuffer", "Split"]

from .cuda import CupyBackend
from .device import HOST_TYPES, Backend, Device, RemoteDevice
from .host_devices import (DeviceGroup, HostBuffer, HostNamespace, Split, host_devices,
                           requested_cpu_devices)
from .processes import process_index, process_count, world
from . import numba_jit


class NumpyBackend(Backend):
    """The host: NumPy arrays and scalars on the `cpu` device; with several CPU devices
    (`ft.config.update("jax_num_cpu_devices", n)` before the first array is made), the
    others' arrays and those laid out over several are `HostBuffer`s (see `host_devices`)."""
    platform = "cpu"

    def __init__(self):
        self.cpu = Device(self, 0, np)
        self._devices = None

    def devices(self):
        found = self._devices
        if found is None:
            found = self.set_device_count(requested_cpu_devices())
            config.lock("num_cpu_devices", "the CPU devices are set up when the first array "
                        "is made or the devices are first listed: set num_cpu_devices (JAX's "
                        "jax_num_cpu_devices) right after importing functrans")
        return found

    def set_device_count(self, n):
        """Make this process's CPU devices `cpu`, `cpu:1`, ..., `cpu:{n-1}` (a fresh set
        each time; arrays on the earlier ones stay where they are). For tests and setup:
        users set `num_cpu_devices`."""
        self._devices = host_devices(self, self.cpu, n)
        _forget_lookups()
        return self._devices

    def owns(self, raw):
        return type(raw) in HOST_TYPES or type(raw) is HostBuffer

    def device_of(self, raw):
        return self.cpu if type(raw) in HOST_TYPES else raw.place

    def to_host(self, raw):
        if type(raw) is HostBuffer:
            host = raw.view(np.ndarray)
            host.flags.writeable = False
            return host
        return raw

    def from_host(self, host, device):
        if device is self.cpu:
            return host
        out = np.array(host).view(HostBuffer)
        if type(device) is Split:
            out.place, out.spec = device.group, device.spec
        else:
            out.place = device
        return out

    def move(self, raw, device):
        if type(device) is Split and type(raw) is HostBuffer and raw.place is device.group \
                and raw.spec == device.spec:
            return raw                      # laid out so already
        if device is self.cpu:
            return np.array(self.to_host(raw))
        return self.from_host(self.to_host(raw), device)

    def owns_memory(self, raw):
        if type(raw) is HostBuffer:
            raw = raw.base
        return type(raw) is np.ndarray and raw.base is None and raw.flags.writeable and \
            raw.flags.c_contiguous

    def scipy(self, name):
        import importlib
        return importlib.import_module(f"scipy.{name}")

    def scatter_combine(self, xp, ufunc_name, target, positions, updates):
        """As `Backend.scatter_combine`; whole rows added at one index array (an embedding's
        gradient) are summed per distinct row first, much faster than `np.add.at`."""
        if ufunc_name == "add" and len(positions) == 1 and target.ndim > 1 and \
                target.dtype.kind in "fc" and updates.shape == \
                np.shape(positions[0]) + target.shape[1:] and np.size(positions[0]) > 1:
            rows = np.asarray(positions[0]).reshape(-1)
            if rows.dtype.kind in "iu" and 0 <= rows.min() and rows.max() < len(target):
                _add_rows(target, rows, updates.reshape((rows.size,) + target.shape[1:]))
                return
        super().scatter_combine(xp, ufunc_name, target, positions, updates)


def _add_rows(target, rows, updates):
    """target[rows[i]] += updates[i] for every i (rows in range, and may repeat): each row's
    updates summed in their order, then added. A sparse (target rows x updates) matrix with
    a one in each column, at row rows[i], times the updates does it in one compiled pass,
    column by column, so in the updates' order (an embedding's gradient, 512 rows of 128
    into 256: 33-70 us, 150-210 us with cold caches as inside a training step; 270 us
    sorted and summed with `reduceat`). With compiled loops (`numba_jit`), one loop adds
    the updates in order, as `np.add.at` does (14 us against 89 us warm)."""
    if numba_jit.takes(np, target.dtype) and target.flags.c_contiguous and \
            updates.flags.c_contiguous:
        numba_jit.compiled(_ADD_ROWS_LOOP, "add_rows")(
            target.reshape(len(target), -1), rows, updates.reshape(len(rows), -1))
        return
    if target.dtype in _SPARSE_DTYPES:
        import scipy.sparse
        ones = scipy.sparse.csc_array(
            (np.ones(len(rows), target.dtype), rows, np.arange(len(rows) + 1)),
            shape=(len(target), len(rows)), copy=False)
        flat = updates.reshape(len(rows), -1)
        target += (ones @ flat).reshape(target.shape)
        return
    order = np.argsort(rows, kind="stable")
    ordered = rows[order]
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    target[ordered[starts]] += np.add.reduceat(updates[order], starts, axis=0)


_SPARSE_DTYPES = tuple(map(np.dtype, ("float32", "float64", "complex64", "complex128")))
_ADD_ROWS_LOOP = """
def add_rows(target, rows, updates):
    for i in range(rows.shape[0]):
        r = rows[i]
        for j in range(updates.shape[1]):
            target[r, j] += updates[i, j]
"""


_numpy_backend = NumpyBackend()
cpu = _numpy_backend.cpu

# ------------------------------------------------------------------ the registry
_backends: list[Backend] = [_numpy_backend]
_owner_of_type: dict[type, Backend] = {t: _numpy_backend for t in (*HOST_TYPES, HostBuffer)}
_backend_of_xp: dict[int, Backend] = {id(np): _numpy_backend}
_parsed_specs: dict[str, Device] = {}
_scipy_modules: dict[tuple, object] = {}
_PLATFORM_ALIASES = {"gpu": "cuda"}


def register_backend(backend: Backend):
    """Add a backend (a later one with the same platform replaces the earlier)."""
    unregister_backend(backend.platform)
    _backends.append(backend)
    _forget_lookups()


def unregister_backend(platform: str):
    """Remove the backend of `platform` (never `cpu`)."""
    if platform == "cpu":
        raise ValueError("the cpu backend cannot be removed")
    _backends[:] = [b for b in _backends if b.platform != platform]
    _forget_lookups()


def _forget_lookups():
    _owner_of_type.clear()
    _owner_of_type.update({t: _numpy_backend for t in (*HOST_TYPES, HostBuffer)})
    _backend_of_xp.clear()
    _backend_of_xp[id(np)] = _numpy_backend
    _parsed_specs.clear()
    _scipy_modules.clear()


def backends() -> list[Backend]:
    """The registered backends, `cpu` first."""
    return list(_backends)


def get_backend(platform: str) -> Backend:
    """The registered backend of `platform` ("cpu", "cuda", …; "gpu" means "cuda")."""
    platform = _PLATFORM_ALIASES.get(platform, platform)
    for b in _backends:
        if b.platform == platform:
            return b
    raise ValueError(f"no backend for platform {platform!r}; registered: "
                     f"{[b.platform for b in _backends]}")


def backend_of_raw(raw) -> Backend:
    """The backend owning a raw array."""
    owner = _owner_of_type.get(type(raw))
    if owner is None:
        owner = next((b for b in reversed(_backends) if b.owns(raw)), None)
        if owner is None:
            raise TypeError(f"no functrans backend holds arrays of type {type(raw).__name__}")
        _owner_of_type[type(raw)] = owner
    return owner


def is_device_raw(obj) -> bool:
    """Whether `obj` is a raw array of a backend other than the host's (a CuPy array)."""
    if type(obj) in HOST_TYPES:
        return False
    try:
        backend_of_raw(obj)
    except TypeError:
        return False
    return True


def backend_of_xp(xp) -> Backend:
    """The backend whose devices use the array module `xp`."""
    got = _backend_of_xp.get(id(xp))
    if got is None and type(xp) is HostNamespace:
        got = _numpy_backend
    if got is None:
        for b in _backends:
            if any(d.xp is xp for d in b.devices()):
                got = _backend_of_xp[id(xp)] = b
                break
        else:
            raise ValueError(f"no functrans backend uses the array module {xp!r}")
    return got


def scipy_module(xp, name):
    """scipy.<name> for NumPy arrays, its counterpart for the backend of `xp` otherwise
    (cupyx.scipy.<name> for CuPy)."""
    key = (id(xp), name)
    got = _scipy_modules.get(key)
    if got is None:
        got = backend_of_xp(xp).scipy(name)
        if type(xp) is HostNamespace:
            got = xp.like(got)
        _scipy_modules[key] = got
    return got


# ------------------------------------------------------------------ devices
def _local(platform):
    return [d for b in _backends if platform is None or b.platform == platform
            for d in b.devices()]


def devices(backend: str | None = None) -> list[Device]:
    """All devices (`cpu` first, then `cuda:0`, …), or those of one platform `backend`
    ("gpu" means "cuda"). With several processes (`ft.distributed.initialize()`), the devices
    of every process, process by process: this process's own, then `RemoteDevice`s for the
    others."""
    platform = backend
    if platform is not None:
        platform = _PLATFORM_ALIASES.get(platform, platform)
    w = world()
    if w.count == 1:
        return _local(platform)
    found = []
    for p in range(w.count):
        if p == w.index:
            found.extend(_local(platform))
            continue
        for plat, i in w.devices_of(p):
            if platform is None or plat == platform:
                backend = next((b for b in _backends if b.platform == plat), None)
                found.append(RemoteDevice(backend, plat, i, p))
    return found


def _pmap_platform(platform):
    if platform is None:
        return default_device_now().platform
    return _PLATFORM_ALIASES.get(platform, platform)


def local_devices(process_index: int | None = None, backend: str | None = None,
                  host_id: int | None = None) -> list[Device]:
    """The devices of platform `backend` (default: the default device's, the devices
    `ft.pmap` maps over) of process `process_index` (`host_id`, JAX's old name; default:
    this process)."""
    process = process_index if process_index is not None else host_id
    if process is None or process == world().index:
        return _local(_pmap_platform(backend))
    if not 0 <= process < world().count:
        raise ValueError(f"local_devices: process_index {process} is not one of the job's "
                         f"{world().count} processes")
    return [d for d in devices(_pmap_platform(backend)) if d.process_index == process]


def local_device_count(backend: str | None = None) -> int:
    """`len(local_devices(backend=backend))`: how many devices `ft.pmap` maps over in this
    process."""
    return len(local_devices(backend=backend))


def device_count(backend: str | None = None) -> int:
    """The number of devices of platform `backend` (default: the default device's) in all
    processes together: the size of a `pmap` axis."""
    return len(devices(_pmap_platform(backend)))


def get_device(spec) -> Device:
    """A `Device` from a Device, `"cpu"`, `"cuda"`, `"gpu"`, `"cuda:1"` (None: the default)."""
    if isinstance(spec, Device):
        if type(spec) is RemoteDevice:
            raise ValueError(f"{spec} belongs to another process; arrays live on this "
                             f"process's devices only: {local_devices(backend=spec.platform)}")
        return spec
    if spec is None:
        return default_device_now()
    got = _parsed_specs.get(spec) if type(spec) is str else None
    if got is None:
        text = str(spec).strip().lower()
        got = _parsed_specs.get(text)
        if got is None:
            got = _parsed_specs[text] = _parse_device(spec, text)
        if type(spec) is str:
            _parsed_specs[spec] = got
    return got


def _parse_device(spec, text):
    name, _, idx = text.partition(":")
    platform = _PLATFORM_ALIASES.get(name, name)
    backend = next((b for b in _backends if b.platform == platform), None)
    if backend is None:
        known = ", ".join(sorted({b.platform for b in _backends} | {"cuda"}))
        raise ValueError(f"unknown device {spec!r}; platforms: {known} (as 'cuda' or "
                         "'cuda:N')")
    try:
        i = int(idx) if idx else 0
    except ValueError:
        raise ValueError(f"unknown device {spec!r}; the index after ':' must be an "
                         "integer, as in 'cuda:1'") from None
    found = backend.devices()
    if 0 <= i < len(found):
        return found[i]
    why = backend.unavailable_reason() if not found else \
        f"only {len(found)} {platform} device(s) are visible"
    raise RuntimeError(f"device {spec!r} is not available: {why}. "
                       f"Available devices: {devices()}")


def device_of_raw(raw) -> Device:
    """The device holding a raw array (NumPy, CuPy, …)."""
    if type(raw) in HOST_TYPES:
        return cpu
    return backend_of_raw(raw).device_of(raw)


def create(device: Device, fn_name, *args, **kwargs):
    """`device.xp.<fn_name>(*args, **kwargs)` run so that its result lands on `device`."""
    with device.backend.activate(device):
        return getattr(device.xp, fn_name)(*args, **kwargs)


def to_host(raw):
    """A raw array as NumPy (returned as it is when it is on the host already, or not an
    array at all)."""
    if type(raw) in HOST_TYPES or not hasattr(raw, "dtype"):
        return raw
    return backend_of_raw(raw).to_host(raw)


def xp_of_raw(raw):
    """The array module for a raw array."""
    return np if type(raw) in HOST_TYPES else device_of_raw(raw).xp


def transfer(raw, device: Device):
    """`raw` copied to `device` (returned as it is if it already lives there)."""
    src = device_of_raw(raw)
    if src is device:
        return raw
    if src.backend is device.backend:
        return device.backend.move(raw, device)
    host = src.backend.to_host(raw)
    return device.backend.from_host(host, device)


# ------------------------------------------------------------------ the default device
class _DeviceState(threading.local):
    def __init__(self):
        self.stack = []


_device_state = _DeviceState()


def default_device_now() -> Device:
    """The device new arrays go to: the innermost `default_device(...)`, else the
    `default_device` setting (`ft.config.update("default_device", "cuda")` or the environment
    variable FUNCTRANS_DEVICE)."""
    stack = _device_state.stack
    if stack:
        return stack[-1]
    spec = config.default_device
    return _parsed_specs.get(spec) or get_device(spec)


def configured_device() -> Device:
    """The `default_device` setting's device (ignoring `default_device(...)` blocks): where
    arrays made without a placement are uncommitted (see `Array.committed`)."""
    spec = config.default_device
    return _parsed_specs.get(spec) or get_device(spec)


@contextlib.contextmanager
def default_device(new_val):
    """`with ft.default_device("cuda"): ...` creates new arrays on that device `new_val` (this
    thread, this block). Committed arrays (`Array.committed`) never move by themselves:
    combining committed arrays that live on different devices is an error; move them with
    `ft.device_put`. Uncommitted ones move to the committed arrays they meet."""
    _device_state.stack.append(get_device(new_val))
    try:
        yield _device_state.stack[-1]
    finally:
        _device_state.stack.pop()


register_backend(CupyBackend())
