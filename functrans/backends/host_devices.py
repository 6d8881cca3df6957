"""CPU devices beyond the first (JAX's `jax_num_cpu_devices`), and arrays laid out over
several CPU devices at once.

Device `cpu` holds plain NumPy arrays, so the host's hot paths never see anything else. An
array on another CPU device (`cpu:1`, ...) or laid out over a mesh of them is a
`HostBuffer`: NumPy memory that remembers its `place` (the `Device` it is on) and, when the
place spans several devices, its `spec` (how it is split over them; opaque here, read by
`functrans.meshes`). Kernels on such a place run with a `HostNamespace` as their array module:
NumPy's API whose results land on the same place, so a computation stays where its operands
live, exactly as on another kind of device.
"""
from __future__ import annotations

import os
import re

import numpy as np

from ..config import config
from .device import BEYOND_HOST, Device


class HostBuffer(np.ndarray):
    """NumPy memory standing for an array on `place`, a CPU device other than the first (or
    a layout over several, with the split `spec`; None: whole on each)."""
    place = None
    spec = None

    def __array_finalize__(self, obj):
        self.place = getattr(obj, "place", None)
        # a view of another shape (a slice, a reshape) is not split the same way
        if obj is not None and getattr(obj, "shape", None) == self.shape:
            self.spec = getattr(obj, "spec", None)

    def __getitem__(self, index):
        got = super().__getitem__(index)
        return _placed(got, self.place, ()) if isinstance(got, np.generic) else got

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _run(_place_of(inputs), getattr(ufunc, method), inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _run(_place_of(args), func, args, kwargs)

    def __reduce__(self):
        return _rebuild, (np.array(self.view(np.ndarray)), self.place, self.spec)


def _rebuild(host, place, spec):
    out = host.view(HostBuffer)
    out.place, out.spec = place, spec
    return out


def _place_of(values):
    for v in values:
        if type(v) is HostBuffer:
            return v.place
        if type(v) in (list, tuple):
            got = _place_of(v)
            if got is not None:
                return got
    return None


def _plain(x):
    """An argument for NumPy: HostBuffers as plain views (lists and tuples looked into)."""
    if type(x) is HostBuffer:
        return x.view(np.ndarray)
    if type(x) in (list, tuple):
        return type(x)(_plain(e) for e in x)
    return x


def _spec_for(shape, sources):
    """The split of a result of `shape`: that of the first operand of the same shape."""
    for s in sources:
        if type(s) is HostBuffer and s.spec is not None and s.shape == shape:
            return s.spec
        if type(s) in (list, tuple):
            got = _spec_for(shape, s)
            if got is not None:
                return got
    return None


def _placed(x, place, sources):
    """NumPy results (arrays, scalars, in tuples and lists) as HostBuffers on `place`."""
    if type(x) is np.ndarray or isinstance(x, np.generic):
        out = np.asarray(x).view(HostBuffer)
        out.place = place
        if place.spans:
            out.spec = _spec_for(out.shape, sources)
        return out
    if type(x) in (list, tuple):
        return type(x)(_placed(e, place, sources) for e in x)
    return x


def _run(place, fn, args, kwargs):
    plain = {k: _plain(v) for k, v in kwargs.items()}
    result = fn(*_plain(args), **plain)
    out = kwargs.get("out")
    if out is not None:
        given, base = (out[0], plain["out"][0]) if type(out) is tuple else (out, plain["out"])
        if result is base and type(given) is HostBuffer:
            if place.spans:
                given.spec = _spec_for(given.shape, args)
            return given            # as NumPy: the given output array itself
    return _placed(result, place, args)


class _Ufunc:
    """A NumPy ufunc whose results (of calls and of its methods) land on `place`."""

    def __init__(self, ufunc, place):
        self._ufunc, self._place = ufunc, place
        self.__name__ = ufunc.__name__

    def __call__(self, *args, **kwargs):
        return _run(self._place, self._ufunc, args, kwargs)

    def __getattr__(self, name):
        got = getattr(self._ufunc, name)
        if name in ("at", "reduce", "accumulate", "reduceat", "outer"):
            place = self._place
            return lambda *args, **kwargs: _run(place, got, args, kwargs)
        return got


class HostNamespace:
    """NumPy (or one of its submodules) as the array module of `place`: every function's
    NumPy results are HostBuffers there."""

    def __init__(self, place, module=np):
        self._place, self._module, self._cache = place, module, {}

    def __getattr__(self, name):
        got = self._cache.get(name)
        if got is None:
            got = self._cache[name] = self._lookup(name)
        return got

    def _lookup(self, name):
        obj = getattr(self._module, name)
        if obj is np.ndarray or isinstance(obj, type) or not callable(obj):
            if type(obj).__name__ == "module":
                return HostNamespace(self._place, obj)
            return obj                              # dtypes, constants, the array type
        if isinstance(obj, np.ufunc):
            return _Ufunc(obj, self._place)
        place = self._place

        def placed(*args, **kwargs):
            return _run(place, obj, args, kwargs)
        placed.__name__ = placed.__qualname__ = name
        return placed

    def like(self, module):
        """`module` (SciPy's, say) with its results on this namespace's place."""
        return HostNamespace(self._place, module)

    def __repr__(self):
        return f"<numpy for {self._place}: {self._module.__name__}>"


class DeviceGroup(Device):
    """Several CPU devices (a mesh's, in its order) as one place: the arrays laid out over
    them live here, each held whole in host memory with its split (`HostBuffer.spec`)."""
    __slots__ = ("members", "mesh")
    spans = True

    def __init__(self, backend, members, mesh):
        self.platform, self.id, self.backend = backend.platform, -1, backend
        self.members, self.mesh = tuple(members), mesh
        self.xp = HostNamespace(self)
        BEYOND_HOST[0] = True

    def __repr__(self):
        return repr(self.mesh)

    __str__ = __repr__


class Split(Device):
    """Where `device_put` lays an array out over a `DeviceGroup`: the group, the split `spec`
    and the sharding they stand for."""
    __slots__ = ("group", "spec", "sharding")
    spans = True

    def __init__(self, group, spec, sharding):
        self.platform, self.id, self.backend, self.xp = "cpu", -1, group.backend, group.xp
        self.group, self.spec, self.sharding = group, spec, sharding

    def __repr__(self):
        return repr(self.sharding)

    __str__ = __repr__


def adopted(host, place, spec=None):
    """The NumPy array `host` (memory nothing else writes) as an array on `place`, a CPU device
    other than the first or a `DeviceGroup` with the split `spec`, without a copy."""
    out = host.view(HostBuffer)
    out.place, out.spec = place, spec
    return out


def requested_cpu_devices():
    """How many CPU devices this process has: the `num_cpu_devices` setting (JAX's
    `jax_num_cpu_devices`), else XLA's `--xla_force_host_platform_device_count=N` in the
    environment variable XLA_FLAGS, else one."""
    n = config.num_cpu_devices
    if n is None:
        found = re.findall(r"--xla_force_host_platform_device_count=(\d+)",
                           os.environ.get("XLA_FLAGS", ""))
        n = int(found[-1]) if found else 1
    if n < 1:
        raise ValueError(f"the number of CPU devices must be at least 1, got {n}")
    return n


def host_devices(backend, first, n):
    """Devices `first` (the host's, holding plain NumPy arrays) and cpu:1 ... cpu:n-1."""
    found = [first]
    for i in range(1, n):
        d = Device(backend, i, None)
        d.xp = HostNamespace(d)
        found.append(d)
    return found
