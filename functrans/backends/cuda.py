"""The CuPy backend: NVIDIA GPUs as devices `cuda:0`, `cuda:1`, …

CuPy is imported on first need (listing devices, or meeting a CuPy array), never when
functrans is imported; without CuPy or without a visible GPU the backend simply has no
devices. Written against CuPy 13/14; exercised only where a GPU is present (the `gpu` tests).
"""
from __future__ import annotations

import importlib

from .device import Backend, Device


class CupyBackend(Backend):
    platform = "cuda"

    def __init__(self):
        self._cupy = None
        self._devices = None
        self._why = None

    def cupy(self):
        """The cupy module, or None (with the reason kept) when it cannot be imported."""
        if self._cupy is None and self._why is None:
            try:
                import cupy
            except Exception as e:          # not installed, or a broken CUDA installation
                self._why = ("CuPy is not installed (pip install 'functrans[cuda13]' or "
                             f"'functrans[cuda12]'): {type(e).__name__}: {e}")
            else:
                self._cupy = cupy
        return self._cupy

    def devices(self):
        if self._devices is None:
            cp = self.cupy()
            count = 0
            if cp is not None:
                try:
                    count = cp.cuda.runtime.getDeviceCount()
                except Exception as e:      # no driver, or no GPU
                    self._why = f"CuPy finds no usable GPU ({type(e).__name__}: {e})"
                if count == 0 and self._why is None:
                    self._why = "CuPy finds no GPU"
            self._devices = [Device(self, i, cp) for i in range(count)]
        return self._devices

    def unavailable_reason(self):
        self.devices()
        return self._why or "no CUDA device is visible"

    def owns(self, raw):
        if type(raw).__module__.partition(".")[0] != "cupy":
            return False
        cp = self.cupy()
        return cp is not None and isinstance(raw, cp.ndarray)

    def device_of(self, raw):
        return self.devices()[raw.device.id]

    def to_host(self, raw):
        return raw.get()

    def from_host(self, host, device):
        with self.activate(device):
            return self._cupy.asarray(host)

    def move(self, raw, device):
        with self.activate(device):
            return raw.copy()           # CuPy copies onto the current device

    def activate(self, device):
        """Make `device` CuPy's current device for a block (kernels run there)."""
        return self._cupy.cuda.Device(device.id)

    def synchronize(self, raw):
        raw.device.synchronize()

    def communicator(self, devices, world):
        """NCCL between these GPUs and those of the other processes (None when CuPy was
        built without NCCL: the generic communicators then stage through the host)."""
        try:
            from cupy.cuda import nccl
        except ImportError:
            return None
        if not getattr(nccl, "available", True):
            return None
        from .nccl import NcclGroup
        cp = self._cupy
        return NcclGroup(devices, world, nccl, lambda: cp.cuda.get_current_stream().ptr,
                         lambda a: a.data.ptr)

    def owns_memory(self, raw):
        return raw.base is None and raw.flags.c_contiguous

    def scipy(self, name):
        return importlib.import_module(f"cupyx.scipy.{name}")

    def scatter_combine(self, xp, ufunc_name, target, positions, updates):
        if ufunc_name == "multiply":        # CuPy has no multiply.at
            from .cuda_kernels import scatter_multiply
            scatter_multiply(xp, target, positions, updates)
        else:
            getattr(xp, ufunc_name).at(target, positions, updates)
