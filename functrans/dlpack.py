"""JAX's `jax.dlpack`: arrays from other libraries through the DLPack protocol (NumPy, CuPy,
PyTorch, JAX arrays; `np.from_dlpack(x)` and friends read functrans Arrays the same way)."""
from __future__ import annotations

import numpy as np

from .numpy import from_dlpack as _from_dlpack
from .sharding import placement_device

__all__ = ["from_dlpack", "is_supported_dtype"]

_DLPACK_CPU = 1     # DLPack's device type of host memory (kDLCPU)


def from_dlpack(external_array, device=None, copy=None):
    """An Array sharing `external_array`'s memory where it can (unless `copy=True`), on
    `device` (a device, its name or a one-device sharding); by default where the data is
    (host data on the cpu device, whatever the default device)."""
    if device is not None:
        device = placement_device(device, "from_dlpack")
    elif hasattr(external_array, "__dlpack_device__") and \
            int(external_array.__dlpack_device__()[0]) == _DLPACK_CPU:
        device = "cpu"
    return _from_dlpack(external_array, device=device, copy=copy)


def is_supported_dtype(dtype):
    """Whether arrays of `dtype` can pass through DLPack (booleans and numbers)."""
    return np.dtype(dtype).kind in "biufc"
