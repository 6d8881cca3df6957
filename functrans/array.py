"""`ft.Array`: an immutable n-dimensional array on a device (a NumPy or CuPy buffer inside),
and `ShapeDtypeStruct`, a stand-in for one (its shape and dtype only).

Every Array knows its device (`x.device`); `np.asarray(x)` copies it to the host when it lives
elsewhere.

Arithmetic, indexing and the NumPy-style methods are installed by `functrans.numpy`, shared
with tracers, so the same code runs eagerly and under every transform.
"""
from __future__ import annotations

import math

import numpy as np

from . import dtypes
from .backends import (HOST_TYPES, configured_device, cpu, device_of_raw, is_device_raw,
                       to_host, transfer, transfer_guard)


class Array:
    """An immutable array. Create with `functrans.numpy` (`fnp.asarray`, `fnp.zeros`, …).

    Item assignment is refused; use the functional form `x.at[idx].set(v)`, which returns a
    new array.
    """
    __slots__ = ("_value", "_committed", "__weakref__")
    __array_priority__ = 100

    def __init__(self, value):
        self._value = value

    # -- attributes
    @property
    def shape(self):
        return self._value.shape

    @property
    def dtype(self):
        return self._value.dtype

    @property
    def ndim(self):
        return self._value.ndim

    @property
    def size(self):
        return self._value.size

    @property
    def nbytes(self):
        return self._value.nbytes

    @property
    def itemsize(self):
        return self._value.dtype.itemsize

    @property
    def device(self):
        """The device holding the array (for one laid out over a mesh of CPU devices, the
        mesh's devices as one place, a `DeviceGroup`; its `.sharding` says how)."""
        return device_of_raw(self._value)

    def devices(self):
        d = device_of_raw(self._value)
        return set(d.members) if d.spans else {d}

    @property
    def sharding(self):
        """How the array is laid out over devices: a SingleDeviceSharding, or a NamedSharding
        for an array laid out over a mesh of CPU devices."""
        from .meshes import sharding_of
        return sharding_of(self._value, device_of_raw(self._value))

    @property
    def addressable_shards(self):
        """Each device's block of the array (`Shard`s: device, index, replica_id, data)."""
        from .meshes import shards_of
        return shards_of(self._value, device_of_raw(self._value))

    global_shards = addressable_shards

    def addressable_data(self, index):
        """The block held by the `index`-th device (an Array on it)."""
        return self.addressable_shards[index].data

    is_fully_addressable = True

    @property
    def committed(self):
        """Whether the array stays where it is when it meets arrays placed elsewhere (JAX's
        rule): True where it was placed explicitly (`device_put` with a device or sharding)
        or lives off the `default_device` setting's device (placed there, or computed from
        such arrays). Arrays made without a placement on that device (`fnp.ones`, `device_put(x)`,
        results of operations on those) are uncommitted: they move to join the committed
        arrays they meet, as NumPy data does."""
        return is_committed(self)

    @property
    def is_fully_replicated(self):
        return self.sharding.is_fully_replicated

    @property
    def aval(self):
        from .core import ShapedArray
        return ShapedArray(self._value.shape, self._value.dtype)

    # -- conversion to Python and NumPy
    def item(self, *args):
        return self._host().item(*args)

    def tolist(self):
        return self._host().tolist()

    def _host(self):
        """The value as NumPy (the buffer itself on the cpu, a copy from other devices)."""
        v = self._value
        if type(v) in HOST_TYPES:
            return v
        if is_device_raw(v):        # (not a donated array's stand-in)
            transfer_guard.check(device_of_raw(v), cpu, transfer_guard.described(v))
        return to_host(v)

    def __array__(self, dtype=None, copy=None):
        host = np.asarray(self._host())
        if host is self._value:              # share the buffer, but read-only
            host = host.view()
            host.flags.writeable = False
        if dtype is not None and np.dtype(dtype) != host.dtype:
            return host.astype(dtype)
        return host.copy() if copy else host

    def __dlpack__(self, *, stream=None, max_version=None, dl_device=None, copy=None):
        v = self._value
        kwargs = {k: a for k, a in (("stream", stream), ("max_version", max_version),
                                    ("dl_device", dl_device), ("copy", copy)) if a is not None}
        return (np.asarray(v) if type(v) in HOST_TYPES else v).__dlpack__(**kwargs)

    def __dlpack_device__(self):
        v = self._value
        return (np.asarray(v) if type(v) in HOST_TYPES else v).__dlpack_device__()

    def block_until_ready(self):
        """Wait for the computation producing this array (a no-op on the CPU)."""
        v = self._value
        if type(v) not in HOST_TYPES:
            device_of_raw(v).backend.synchronize(v)
        return self

    def copy_to_host_async(self):
        """JAX's hint to start copying to the host: functrans copies when the value is read,
        so nothing changes (see `ft.copy_to_host_async`)."""

    def copy(self):
        return Array(self._value.copy())

    def __bool__(self):
        if self._value.size != 1:
            raise ValueError(f"the truth value of an array of shape {self.shape} is ambiguous; "
                             "use .any() or .all()")
        return bool(self._host())

    def __int__(self):
        return int(self._host())

    def __float__(self):
        return float(self._host())

    def __complex__(self):
        return complex(self._host())

    def __index__(self):
        if not dtypes.is_integer(self.dtype) and self.dtype != dtypes.bool_:
            raise TypeError(f"only integer arrays can be used as an index, got {self.dtype}")
        return int(self._host())

    def __len__(self):
        if self._value.ndim == 0:
            raise TypeError("len() of a 0-d array")
        return self._value.shape[0]

    def __iter__(self):
        # explicit: indexing clamps out-of-bounds indices, so Python's fallback iteration
        # by indexing until IndexError would never stop
        if self._value.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (wrap(v) for v in self._value)

    __hash__ = None

    def __setitem__(self, idx, value):
        raise TypeError(
            "functrans arrays are immutable: item assignment is not supported. Use the "
            "functional form instead, which returns a new array: x = x.at[idx].set(value) "
            "(also .add, .multiply, .min, .max)")

    def __reduce__(self):
        return Array, (self._host(),)

    # -- printing
    def __repr__(self):
        host = np.asarray(self._host())
        prefix = "Array("
        body = np.array2string(host, separator=", ", prefix=prefix)
        dev = self.device
        suffix = f", dtype={host.dtype.name}" + ("" if dev.platform == "cpu" else f", device={dev}")
        return f"{prefix}{body}{suffix})"

    def __str__(self):
        return str(np.asarray(self._host()))

    def __format__(self, spec):
        if self._value.ndim == 0:
            return format(self._host().item(), spec)
        return format(str(self), spec)

    def _repr_html_(self):
        from ._display import array_html
        return array_html(self)


class SingleDeviceSharding:
    """The layout of an array held whole by one device (JAX's name and attributes)."""
    __slots__ = ("device",)
    is_fully_replicated = True
    is_fully_addressable = True
    num_devices = 1
    memory_kind = "device"

    def __init__(self, device):
        self.device = device

    @property
    def device_set(self):
        return {self.device}

    addressable_devices = device_set

    def shard_shape(self, global_shape):
        """The shape of the one shard: the whole array's."""
        return tuple(global_shape)

    def __eq__(self, other):
        return type(other) is SingleDeviceSharding and other.device == self.device

    def __hash__(self):
        return hash(("SingleDeviceSharding", self.device))

    def __repr__(self):
        return f"SingleDeviceSharding(device={self.device!r}, memory_kind={self.memory_kind})"


def is_committed(x):
    """`x.committed` for the Array `x` (see `Array.committed`)."""
    return getattr(x, "_committed", False) or device_of_raw(x._value) is not configured_device()


def committed(x):
    """`x` (an Array: marked as placed explicitly, committed to its device; a traced value
    as it is)."""
    if type(x) is Array:
        x._committed = True
    return x


def join_committed(values, raws, error):
    """`(device, raws)` for operands `values` (their raw arrays `raws`) that live on several
    devices: the one device of their committed Arrays (and raw device arrays given as they
    are), with the raws of the uncommitted Arrays elsewhere moved there, from any platform
    (to the default device when none is committed: JAX's rule). Raises `error(devices)` where
    the committed ones are several."""
    fixed = {device_of_raw(r) for v, r in zip(values, raws)
             if (type(v) is Array and is_committed(v)) or
             (v is r and type(r) not in HOST_TYPES and hasattr(r, "dtype"))}
    if len(fixed) > 1:
        raise error(fixed)
    target = next(iter(fixed)) if fixed else configured_device()
    moved = []
    for v, r in zip(values, raws):
        if type(v) is Array and device_of_raw(r) is not target:
            transfer_guard.check(device_of_raw(r), target, transfer_guard.described(r))
            r = transfer(r, target)
        moved.append(r)
    return target, moved


def wrap(raw) -> Array:
    """An Array around a freshly computed raw buffer (no copy)."""
    a = Array.__new__(Array)
    a._value = raw
    return a


class ShapeDtypeStruct:
    """A stand-in for an array of a given shape and dtype (for eval_shape, .lower() and
    .trace()), optionally on a given device (None: the default device) and weakly typed (as
    a Python scalar is: `weak_type=True`). `sharding` is accepted for JAX's code and ignored
    (functrans has no sharding; `.sharding` is None); so are JAX's `manual_axis_type=None`
    and `is_ref=False` (other values raise NotImplementedError)."""
    __slots__ = ("shape", "dtype", "device", "weak_type")

    def __init__(self, shape, dtype, device=None, *, sharding=None, weak_type=False,
                 manual_axis_type=None, is_ref=False):
        for name, value, default in (("manual_axis_type", manual_axis_type, None),
                                     ("is_ref", is_ref, False)):
            if value is not default:
                raise NotImplementedError(f"ShapeDtypeStruct: {name}={value!r} is not "
                                          f"supported; leave it out")
        self.shape, self.dtype, self.device = tuple(shape), np.dtype(dtype), device
        self.weak_type = bool(weak_type)

    @classmethod
    def like(cls, x):
        """The shape and dtype of `x`: an array, tracer, NumPy data, number or ShapeDtypeStruct."""
        from .core import abstractify      # (core builds on this module)
        a = abstractify(x)
        return cls(a.shape, a.dtype, weak_type=a.weak_type and a.dtype != np.bool_)

    def __repr__(self):
        where = "" if self.device is None else f", device={self.device}"
        weak = ", weak_type=True" if self.weak_type else ""
        return f"ShapeDtypeStruct(shape={self.shape}, dtype={self.dtype.name}{where}{weak})"

    def __eq__(self, other):
        return isinstance(other, ShapeDtypeStruct) and (self.shape, self.dtype, self.weak_type) \
            == (other.shape, other.dtype, other.weak_type)

    def __hash__(self):
        return hash((self.shape, self.dtype, self.weak_type))

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    sharding = None         # JAX's attribute: functrans has no sharding
    ndim = property(lambda self: len(self.shape))
    size = property(lambda self: math.prod(self.shape))
