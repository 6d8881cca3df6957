"""JAX's `jax.sharding` names for the layouts functrans can hold: an array lives whole on one
device, so a sharding is honest here when it names exactly one device (`SingleDeviceSharding`,
or a `NamedSharding` over a one-device `Mesh`, whatever its `PartitionSpec`). Meshes and
named shardings over several devices can be built and inspected, but placing data with them
raises NotImplementedError (use `pmap` for work over several devices).

`placement_device(spec)` reads a device, device name, or one of these shardings, as
`device_put`, `make_array_from_callback` and friends take them. The classes live in
`functrans.meshes`, below the array API that reads `out_sharding=`."""
from __future__ import annotations

import numpy as np

from .array import Array
from .meshes import (Mesh, NamedSharding, P, PartitionSpec, Sharding, SingleDeviceSharding,
                     make_mesh, placement_device, set_mesh)
from .numpy import asarray
from .primitives.transfer import device_put

__all__ = ["Mesh", "NamedSharding", "P", "PartitionSpec", "Sharding", "SingleDeviceSharding",
           "make_mesh", "placement_device", "set_mesh"]


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
