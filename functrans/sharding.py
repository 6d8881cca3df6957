"""JAX's `jax.sharding` names for the layouts functrans can hold: an array lives whole on one
device, so a sharding is honest here when it names exactly one device (`SingleDeviceSharding`,
or a `NamedSharding` over a one-device `Mesh`, whatever its `PartitionSpec`). Meshes and
named shardings over several devices can be built and inspected, but placing data with them
raises NotImplementedError (use `pmap` for work over several devices).

`placement_device(spec)` reads a device, device name, or one of these shardings, as
`device_put`, `make_array_from_callback` and friends take them."""
from __future__ import annotations

import abc
import math

import numpy as np

from .array import Array, SingleDeviceSharding
from .backends import Device, default_device_now, devices as _all_devices, get_device
from .numpy import asarray
from .primitives.transfer import device_put

__all__ = ["Mesh", "NamedSharding", "PartitionSpec", "Sharding", "SingleDeviceSharding",
           "make_mesh", "placement_device"]


class PartitionSpec(tuple):
    """For each array axis, the mesh axis name (or tuple of names, or None: not split) it is
    split over. `P("x", None)` splits the first axis over mesh axis "x"."""

    def __new__(cls, *partitions):
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


def _on(x, device):
    return device_put(asarray(x, device=device), device)


def make_array_from_callback(shape, sharding, data_callback, dtype=None):
    """An array of `shape` built from `data_callback(index)`, called once for each device of
    `sharding` (here: one) with the index (a tuple of slices) of the part it holds."""
    device = placement_device(sharding, "make_array_from_callback")
    shape = tuple(shape)
    data = data_callback(tuple(slice(None) for _ in shape))
    out = _on(data if dtype is None else np.asarray(data, dtype=dtype), device)
    if out.shape != shape:
        raise ValueError(f"make_array_from_callback: the callback returned shape {out.shape} "
                         f"for the whole array of shape {shape}")
    return out


def make_array_from_single_device_arrays(shape, sharding, arrays, *, dtype=None):
    """The array of `shape` whose shards (here: one, on the sharding's device) are
    `arrays`."""
    device = placement_device(sharding, "make_array_from_single_device_arrays")
    arrays = list(arrays)
    if len(arrays) != 1:
        raise ValueError(f"make_array_from_single_device_arrays: {sharding!r} has one device, "
                         f"so one array is needed, got {len(arrays)}")
    (a,) = arrays
    if not isinstance(a, Array):
        raise TypeError(f"make_array_from_single_device_arrays: arrays must be functrans "
                        f"Arrays, got {type(a).__name__}")
    if a.shape != tuple(shape) or (dtype is not None and a.dtype != np.dtype(dtype)):
        raise ValueError(f"make_array_from_single_device_arrays: the array has shape "
                         f"{a.shape} and dtype {a.dtype}, expected {tuple(shape)}"
                         + ("" if dtype is None else f" and {np.dtype(dtype)}"))
    if a.device != device:
        raise ValueError(f"make_array_from_single_device_arrays: the array is on {a.device}, "
                         f"but the sharding's device is {device}")
    return a


def make_array_from_process_local_data(sharding, local_data, global_shape=None):
    """The global array whose part on this process is `local_data` (one process, one device:
    the data itself, placed on the sharding's device)."""
    device = placement_device(sharding, "make_array_from_process_local_data")
    out = _on(local_data, device)
    if global_shape is not None and tuple(global_shape) != out.shape:
        raise ValueError(f"make_array_from_process_local_data: with one process the local "
                         f"data is the whole array, but its shape {out.shape} differs from "
                         f"global_shape {tuple(global_shape)}")
    return out
