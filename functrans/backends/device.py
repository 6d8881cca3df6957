"""What a device is, and what a backend (one kind of device) must provide."""
from __future__ import annotations

import contextlib

import numpy as np

# The exact types of host values: NumPy arrays and NumPy scalars (never a subclass of
# ndarray: another backend may build its arrays on one).
HOST_TYPES = frozenset({np.ndarray, *np.sctypeDict.values()})

# [True] once a device other than the host exists in this process (a `Device` of another
# platform, or another CPU device, was made). Until then every array lives on the host and
# is the default device's, so nothing needs placing (`core.on_operand_device` reads this to
# stay cheap on the host).
BEYOND_HOST = [False]


class Device:
    """A place arrays live: `cpu`, `cuda:0`, … `xp` is its array module, `backend` the
    `Backend` that runs it."""
    __slots__ = ("platform", "id", "backend", "xp")
    spans = False       # whether this place is several devices at once (a `DeviceGroup`)

    def __init__(self, backend, id, xp):
        self.platform, self.id, self.backend, self.xp = backend.platform, id, backend, xp
        if self.platform != "cpu" or id:
            BEYOND_HOST[0] = True

    def __repr__(self):
        return "cpu" if self.platform == "cpu" and not self.id else f"{self.platform}:{self.id}"

    __str__ = __repr__

    def __reduce__(self):
        from . import get_device        # pickled by name: unpickling looks the device up
        return get_device, (repr(self),)

    @property
    def process_index(self):
        """The index of the process this device belongs to (this one)."""
        from .processes import process_index
        return process_index()


class RemoteDevice(Device):
    """A device of another process of the job: listed by `ft.devices()`, never holding this
    process's arrays."""
    __slots__ = ("_process",)

    def __init__(self, backend, platform, id, process):
        self.platform, self.id, self.backend, self.xp = platform, id, backend, None
        self._process = process

    @property
    def process_index(self):
        return self._process

    def __repr__(self):
        local = "cpu" if self.platform == "cpu" and not self.id else \
            f"{self.platform}:{self.id}"
        return f"{local} (process {self._process})"

    __str__ = __repr__

    def __eq__(self, other):
        return type(other) is RemoteDevice and (other.platform, other.id, other._process) == (
            self.platform, self.id, self._process)

    def __hash__(self):
        return hash((self.platform, self.id, self._process))

    def __reduce__(self):
        return RemoteDevice, (None, self.platform, self.id, self._process)


class Backend:
    """One kind of device. Subclasses set `platform` and implement the methods below that
    raise NotImplementedError; the defaults describe a backend without devices."""
    platform: str = ""

    def devices(self) -> list[Device]:
        """This backend's devices (discovered on first call; empty when unavailable)."""
        raise NotImplementedError

    def unavailable_reason(self) -> str:
        """Why `devices()` is empty, for error messages."""
        return f"no {self.platform} device is visible"

    def owns(self, raw) -> bool:
        """Whether `raw` is one of this backend's arrays (asked once per Python type)."""
        raise NotImplementedError

    def device_of(self, raw) -> Device:
        """The device holding `raw`, one of this backend's arrays."""
        raise NotImplementedError

    def to_host(self, raw) -> np.ndarray:
        """A NumPy copy of `raw`."""
        raise NotImplementedError

    def from_host(self, host, device: Device):
        """`host` (NumPy) copied to `device`."""
        raise NotImplementedError

    def move(self, raw, device: Device):
        """`raw` (on another of this backend's devices) copied to `device`."""
        return self.from_host(self.to_host(raw), device)

    def synchronize(self, raw):
        """Wait until the computation producing `raw` has finished."""

    def owns_memory(self, raw):
        """Whether `raw` is a C-contiguous array owning its memory (so that compiled code
        may overwrite it when it is donated)."""
        return False

    def activate(self, device):
        """A context manager under which kernels run on `device` (for backends with a
        notion of a current device)."""
        return contextlib.nullcontext()

    def communicator(self, devices, world):
        """A `processes.Group` connecting `devices` (this process's, of this backend) with
        those of every other process of `world` for collectives, or None to use the generic
        ones (host memory between threads in one process; MPI on host copies between
        processes)."""
        return None

    def scatter_combine(self, xp, ufunc_name, target, positions, updates):
        """Combine `updates` into `target` in place at `positions` with the binary ufunc
        `ufunc_name` (repeated positions combine one after another), as NumPy's
        `ufunc.at`."""
        getattr(xp, ufunc_name).at(target, positions, updates)

    def scipy(self, name):
        """The SciPy-style submodule `name` ("special", "linalg") for this backend's arrays."""
        raise NotImplementedError

    def __repr__(self):
        return f"<{type(self).__name__} {self.platform!r}>"
