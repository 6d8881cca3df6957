"""Devices and their array modules: NumPy for `cpu`, CuPy for `cuda:N` (optional).

A backend is an array module `xp` with NumPy's API; primitive kernels take it as their first
argument, so one kernel serves every device. Importing functrans never imports CuPy: GPU
devices are discovered on first use of `devices()`.
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np

from ..config import config

__all__ = ["Device", "devices", "get_device", "default_device", "device_of_raw", "xp_of_raw",
           "cpu"]

NUMPY_TYPES = (np.ndarray, np.generic)


class Device:
    """A place arrays live: `cpu` or `cuda:N`. `xp` is its array module."""
    __slots__ = ("platform", "id", "xp")

    def __init__(self, platform, id, xp):
        self.platform, self.id, self.xp = platform, id, xp

    def __repr__(self):
        return "cpu" if self.platform == "cpu" else f"{self.platform}:{self.id}"

    __str__ = __repr__

    def __reduce__(self):
        return get_device, (repr(self),)


cpu = Device("cpu", 0, np)
_gpus: list[Device] | None = None


def _cupy():
    try:
        import cupy
    except Exception:
        return None
    return cupy


def _gpu_devices() -> list[Device]:
    global _gpus
    if _gpus is None:
        _gpus = []
        cp = _cupy()
        if cp is not None:
            try:
                n = cp.cuda.runtime.getDeviceCount()
            except Exception:
                n = 0
            _gpus = [Device("cuda", i, cp) for i in range(n)]
    return _gpus


def devices(platform: str | None = None) -> list[Device]:
    """All devices (`cpu` first, then `cuda:0`, …), or those of one platform."""
    all_devices = [cpu] + _gpu_devices()
    if platform is None:
        return all_devices
    platform = "cuda" if platform == "gpu" else platform
    return [d for d in all_devices if d.platform == platform]


def get_device(spec) -> Device:
    """A `Device` from a Device, `"cpu"`, `"cuda"`, `"gpu"` or `"cuda:1"`."""
    if isinstance(spec, Device):
        return spec
    if spec is None:
        return default_device_now()
    text = str(spec).lower()
    if text == "cpu" or text == "cpu:0":
        return cpu
    name, _, idx = text.partition(":")
    if name in ("cuda", "gpu"):
        gpus = _gpu_devices()
        i = int(idx) if idx else 0
        if i < len(gpus):
            return gpus[i]
        why = ("CuPy is not installed (pip install 'functrans[cuda13]' or 'functrans[cuda12]')"
               if _cupy() is None else f"only {len(gpus)} CUDA device(s) are visible")
        raise RuntimeError(f"device {spec!r} is not available: {why}. "
                           f"Available devices: {devices()}")
    raise ValueError(f"unknown device {spec!r}; use 'cpu', 'cuda' or 'cuda:N'")


def device_of_raw(raw) -> Device:
    """The device holding a raw NumPy/CuPy array."""
    if isinstance(raw, NUMPY_TYPES):
        return cpu
    dev = getattr(raw, "device", None)
    if dev is not None and hasattr(dev, "id"):
        return _gpu_devices()[dev.id]
    return cpu


def xp_of_raw(raw):
    return np if isinstance(raw, NUMPY_TYPES) else device_of_raw(raw).xp


class _DeviceState(threading.local):
    def __init__(self):
        self.stack = []


_device_state = _DeviceState()


def default_device_now() -> Device:
    """The device new arrays go to: the innermost `default_device(...)`, else the config."""
    if _device_state.stack:
        return _device_state.stack[-1]
    return get_device(config.default_device)


@contextlib.contextmanager
def default_device(device):
    """`with ft.default_device("cuda"): ...` creates new arrays on that device."""
    _device_state.stack.append(get_device(device))
    try:
        yield _device_state.stack[-1]
    finally:
        _device_state.stack.pop()


def transfer(raw, device: Device):
    """Copy a raw array to `device` (a no-op if it is already there)."""
    src = device_of_raw(raw)
    if src is device:
        return raw
    if device.platform == "cpu":
        return raw.get()
    with device.xp.cuda.Device(device.id):
        return device.xp.asarray(raw)
