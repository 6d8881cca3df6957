"""Meshes and the shardings over them (JAX's `PartitionSpec`, `Mesh`, `NamedSharding`,
`set_mesh`), below the array API so that every function taking JAX's `out_sharding=` reads it
with one helper, `out_sharding_device`. A functrans array lives whole on one device: a
sharding is honest when it names exactly one device; `ft.sharding` re-exports these names."""
from __future__ import annotations

import abc
import math
import threading

import numpy as np

from .array import SingleDeviceSharding
from .backends import Device, default_device_now, devices as _all_devices, get_device

__all__ = ["Mesh", "NamedSharding", "PartitionSpec", "Sharding", "SingleDeviceSharding",
           "make_mesh", "placement_device", "set_mesh", "current_mesh", "out_sharding_device",
           "device_or_out_sharding"]


class PartitionSpec(tuple):
    """For each array axis, the mesh axis name (or tuple of names, or None: not split) it is
    split over. `P("x", None)` splits the first axis over mesh axis "x"."""

    def __new__(cls, *partitions, unreduced=frozenset(), reduced=frozenset()):
        for name, axes in (("unreduced", unreduced), ("reduced", reduced)):
            if axes:
                raise NotImplementedError(
                    f"PartitionSpec: {name}={set(axes)} (mesh axes holding partial sums) is "
                    f"not supported: functrans arrays are never split over devices")
        for p in partitions:
            names = p if isinstance(p, tuple) else (p,)
            if not all(n is None or isinstance(n, str) for n in names):
                raise TypeError(f"PartitionSpec: each entry must be a mesh axis name, a tuple "
                                f"of names or None, got {p!r}")
        return super().__new__(cls, partitions)

    def __repr__(self):
        return "P(" + "".join(f"{p!r}, " for p in self).rstrip(", ") + \
            ("," if len(self) == 1 else "") + ")"

    def axis_names(self):
        """The mesh axis names this spec splits over."""
        return {n for p in self for n in (p if isinstance(p, tuple) else (p,)) if n}


P = PartitionSpec


class Mesh:
    """Devices in an n-dimensional grid with a name for each axis (JAX's `Mesh`)."""

    def __init__(self, devices, axis_names, axis_types=None):
        del axis_types      # (JAX's explicit/auto axes: functrans shards nothing itself)
        grid = np.empty(np.shape(devices), dtype=object)
        given = np.asarray(devices, dtype=object)
        for idx in np.ndindex(grid.shape):
            d = given[idx]
            grid[idx] = d if isinstance(d, Device) else get_device(d)
        names = (axis_names,) if isinstance(axis_names, str) else tuple(axis_names)
        if len(names) != grid.ndim:
            raise ValueError(f"Mesh: {len(names)} axis names {names} for a device grid of "
                             f"shape {grid.shape}; give one name per axis")
        if len(set(names)) != len(names):
            raise ValueError(f"Mesh: axis names must differ, got {names}")
        self.devices, self.axis_names = grid, names

    @property
    def shape(self):
        return dict(zip(self.axis_names, self.devices.shape))

    @property
    def size(self):
        return self.devices.size

    @property
    def device_ids(self):
        return np.vectorize(lambda d: d.id, otypes=[int])(self.devices)

    def __eq__(self, other):
        return isinstance(other, Mesh) and other.axis_names == self.axis_names and \
            other.devices.shape == self.devices.shape and \
            all(a == b for a, b in zip(other.devices.flat, self.devices.flat))

    def __hash__(self):
        return hash((self.axis_names, tuple(self.devices.flat)))

    def __repr__(self):
        return "Mesh(" + ", ".join(f"{n!r}: {s}" for n, s in self.shape.items()) + ")"


def make_mesh(axis_shapes, axis_names, axis_types=None, *, devices=None):
    """A `Mesh` of the given shape over `devices` (default: the first devices of the
    default device's platform)."""
    shape = tuple(int(s) for s in axis_shapes)
    pool = list(devices) if devices is not None else \
        _all_devices(default_device_now().platform)
    n = math.prod(shape)
    if len(pool) < n:
        raise ValueError(f"make_mesh: a mesh of shape {shape} needs {n} devices, but "
                         f"{len(pool)} are available: {pool}")
    return Mesh(np.array(pool[:n], dtype=object).reshape(shape), axis_names, axis_types)


class Sharding(abc.ABC):
    """The base of the shardings (for isinstance checks)."""


class NamedSharding(Sharding):
    """A layout given by a `Mesh` and a `PartitionSpec` (JAX's `NamedSharding`)."""

    def __init__(self, mesh, spec=PartitionSpec(), *, memory_kind=None):
        if not isinstance(mesh, Mesh):
            raise TypeError(f"NamedSharding: mesh must be a Mesh, got {type(mesh).__name__}")
        spec = spec if isinstance(spec, PartitionSpec) else PartitionSpec(*spec)
        unknown = spec.axis_names() - set(mesh.axis_names)
        if unknown:
            raise ValueError(f"NamedSharding: the spec {spec!r} names mesh axes "
                             f"{sorted(unknown)} that the mesh {mesh!r} does not have")
        self.mesh, self.spec = mesh, spec
        self.memory_kind = memory_kind or "device"

    @property
    def device_set(self):
        return set(self.mesh.devices.flat)

    addressable_devices = device_set
    num_devices = property(lambda self: self.mesh.size)
    is_fully_addressable = True

    @property
    def is_fully_replicated(self):
        return all(self.mesh.shape[n] == 1 for n in self.spec.axis_names())

    def shard_shape(self, global_shape):
        """The shape of each shard: the axes split over mesh axes divided by their sizes."""
        out = list(global_shape)
        if len(self.spec) > len(out):
            raise ValueError(f"shard_shape: the spec {self.spec!r} has more entries than the "
                             f"shape {tuple(global_shape)} has axes")
        for i, p in enumerate(self.spec):
            n = math.prod(self.mesh.shape[a] for a in (p if isinstance(p, tuple) else (p,))
                          if a)
            if out[i] % n:
                raise ValueError(f"shard_shape: axis {i} of size {out[i]} cannot be split "
                                 f"evenly over {n} devices ({self.spec!r} on {self.mesh!r})")
            out[i] //= n
        return tuple(out)

    def __eq__(self, other):
        return isinstance(other, NamedSharding) and (other.mesh, other.spec) == \
            (self.mesh, self.spec)

    def __hash__(self):
        return hash((self.mesh, self.spec))

    def __repr__(self):
        return f"NamedSharding(mesh={self.mesh!r}, spec={self.spec!r})"


Sharding.register(SingleDeviceSharding)


def placement_device(spec, what="device_put") -> Device:
    """The one device `spec` (None, a Device or its name, a SingleDeviceSharding, or a
    NamedSharding over one device) puts data on."""
    if isinstance(spec, SingleDeviceSharding):
        return spec.device
    if isinstance(spec, NamedSharding):
        if spec.num_devices != 1:
            raise NotImplementedError(
                f"{what}: {spec!r} spans {spec.num_devices} devices; a functrans array lives "
                "whole on one device, so only shardings over one device are supported. Use a "
                "SingleDeviceSharding (or a device), or ft.pmap for work over several devices")
        return spec.mesh.devices.flat[0]
    if isinstance(spec, Mesh):
        raise TypeError(f"{what}: got a Mesh; pass NamedSharding(mesh, spec) instead")
    return get_device(spec)


_current = threading.local()


def current_mesh():
    """The mesh `set_mesh` made current on this thread (None where none is)."""
    return getattr(_current, "mesh", None)


class set_mesh:
    """Makes `mesh` (a one-device `Mesh`, or None for none) this thread's current mesh, at
    once (`ft.set_mesh(mesh)`) or for a block (`with ft.set_mesh(mesh): ...`, which restores
    the previous one on exit), so that a bare `PartitionSpec` given as `out_sharding` names
    the mesh's device (JAX's `jax.set_mesh`)."""

    def __init__(self, mesh):
        if mesh is not None and not isinstance(mesh, Mesh):
            raise TypeError(f"set_mesh: mesh must be a Mesh or None, got "
                            f"{type(mesh).__name__}")
        if mesh is not None and mesh.size != 1:
            raise NotImplementedError(
                f"set_mesh: {mesh!r} spans {mesh.size} devices; a functrans array lives whole "
                "on one device, so only meshes over one device are supported (use ft.pmap "
                "for work over several devices)")
        self.mesh, self._previous = mesh, current_mesh()
        _current.mesh = mesh

    def __enter__(self):
        return None

    def __exit__(self, *exc_info):
        _current.mesh = self._previous


def out_sharding_device(sharding, what, name="out_sharding"):
    """The device JAX's `out_sharding=` (or `sharding=`) argument `sharding` names: None for
    None (the result stays where it is computed), else the one device of a
    SingleDeviceSharding, of a NamedSharding over one device, or of a PartitionSpec under
    `set_mesh`. Any other value raises NotImplementedError naming `what` and `name`."""
    if sharding is None:
        return None
    if isinstance(sharding, PartitionSpec):
        mesh = current_mesh()
        if mesh is None:
            raise ValueError(f"{what}: {name}={sharding!r} is a PartitionSpec, which needs a "
                             f"mesh: call it under `with ft.set_mesh(mesh):` or pass "
                             f"NamedSharding(mesh, spec)")
        sharding = NamedSharding(mesh, sharding)
    if isinstance(sharding, (SingleDeviceSharding, NamedSharding)) and \
            sharding.num_devices == 1:
        return placement_device(sharding, what)
    raise NotImplementedError(
        f"{what}: {name}={sharding!r} is not supported: a functrans array lives whole on one "
        f"device, so {name} must be None or a sharding over one device (a "
        f"SingleDeviceSharding, or a NamedSharding over a one-device mesh); use ft.pmap for "
        f"work over several devices")


def device_or_out_sharding(device, out_sharding, what):
    """The `device=` a creation function uses, given JAX's `device` and `out_sharding`
    (at most one of the two; see `out_sharding_device`)."""
    if out_sharding is None:
        return device
    if device is not None:
        raise ValueError(f"{what}: give device or out_sharding, not both (got device="
                         f"{device!r} and out_sharding={out_sharding!r})")
    return out_sharding_device(out_sharding, what)
