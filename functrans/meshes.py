"""Meshes and the shardings over them (JAX's `PartitionSpec`, `Mesh`, `NamedSharding`,
`set_mesh`), below the array API so that every function taking JAX's `out_sharding=` reads it
with one helper, `out_sharding_device`; `ft.sharding` re-exports these names.

A sharding over one device places an array there. A `NamedSharding` over several CPU devices
(`ft.config.update("jax_num_cpu_devices", n)`) places it on the mesh's `DeviceGroup`: the data
is held whole in host memory with its split (`PartitionSpec`), each shard a view of its block;
operations on arrays of one mesh run there, and their results keep the split of an operand of
the same shape (else they are replicated). Shardings over several devices of other platforms
are refused."""
from __future__ import annotations

import abc
import enum
import math
import threading

import numpy as np

from .array import SingleDeviceSharding, wrap
from .backends import (Device, DeviceGroup, HostBuffer, Split, default_device_now,
                       devices as _all_devices,
                       get_backend, get_device, to_host)

__all__ = ["Mesh", "NamedSharding", "PartitionSpec", "Sharding", "SingleDeviceSharding",
           "make_mesh", "placement_device", "set_mesh", "current_mesh", "out_sharding_device",
           "device_or_out_sharding", "Shard", "mesh_place", "sharding_of", "shards_of",
           "visualize_array_sharding", "visualize_sharding", "AxisType", "AbstractMesh",
           "get_abstract_mesh", "use_abstract_mesh", "get_mesh", "make_single_device_sharding"]


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


class AxisType(enum.Enum):
    """How JAX shards along a mesh axis: `Auto` (the compiler decides), `Explicit` (the split
    is part of each value's type) or `Manual` (inside `shard_map`). functrans derives the
    splits of results one way for every axis (JAX's for `Auto`); the types are recorded, and
    `reshard` takes only `Explicit` axes, as JAX's does."""
    Auto = enum.auto()
    Explicit = enum.auto()
    Manual = enum.auto()

    def __repr__(self):
        return self.name


def _axis_types(axis_types, names, what):
    """The tuple of AxisTypes, one per axis of `names` (`axis_types`: None for `Auto`, one
    AxisType for all, or one each)."""
    if axis_types is None:
        return (AxisType.Auto,) * len(names)
    types = (axis_types,) * len(names) if isinstance(axis_types, AxisType) else \
        tuple(axis_types)
    if len(types) != len(names) or not all(isinstance(t, AxisType) for t in types):
        raise ValueError(f"{what}: axis_types must be an AxisType or one per axis "
                         f"{names}, got {axis_types!r}")
    return types


class _MeshShape:
    """What a `Mesh` and an `AbstractMesh` share: axis names, sizes and types."""

    @property
    def shape(self):
        return dict(zip(self.axis_names, self.axis_sizes))

    @property
    def size(self):
        return math.prod(self.axis_sizes) if self.axis_names else 0

    @property
    def empty(self):
        return not self.axis_names

    def _axes_repr(self):
        return ", ".join(f"{n!r}: {s}" for n, s in self.shape.items())


class AbstractMesh(_MeshShape):
    """A mesh's axis names, sizes and types without its devices (JAX's `AbstractMesh`: what
    `get_abstract_mesh` returns, and `Mesh.abstract_mesh`)."""

    def __init__(self, axis_sizes, axis_names, axis_types=None):
        self.axis_sizes = tuple(int(n) for n in axis_sizes)
        self.axis_names = tuple(axis_names)
        if len(self.axis_sizes) != len(self.axis_names):
            raise ValueError(f"AbstractMesh: {len(self.axis_sizes)} axis sizes "
                             f"{self.axis_sizes} for the axis names {self.axis_names}")
        self.axis_types = _axis_types(axis_types, self.axis_names, "AbstractMesh")

    def __eq__(self, other):
        return isinstance(other, AbstractMesh) and \
            (other.axis_sizes, other.axis_names, other.axis_types) == \
            (self.axis_sizes, self.axis_names, self.axis_types)

    def __hash__(self):
        return hash((self.axis_sizes, self.axis_names, self.axis_types))

    def __repr__(self):
        return f"AbstractMesh({self._axes_repr() or '()'}, axis_types={self.axis_types})"


class Mesh(_MeshShape):
    """Devices in an n-dimensional grid with a name for each axis (JAX's `Mesh`; `axis_types`
    as JAX's, default `Auto`). Meshes of the same devices and names are one place, whatever
    their axis types."""

    def __init__(self, devices, axis_names, axis_types=None):
        grid = np.empty(np.shape(devices), dtype=object)
        given = np.asarray(devices, dtype=object)
        for idx in np.ndindex(grid.shape):
            d = given[idx]
            grid[idx] = d if isinstance(d, Device) else get_device(d)
        names = (axis_names,) if isinstance(axis_names, str) else tuple(axis_names)
        if len(names) != grid.ndim and (names or grid.size):
            raise ValueError(f"Mesh: {len(names)} axis names {names} for a device grid of "
                             f"shape {grid.shape}; give one name per axis")
        if len(set(names)) != len(names):
            raise ValueError(f"Mesh: axis names must differ, got {names}")
        self.devices, self.axis_names = grid, names
        self.axis_types = _axis_types(axis_types, names, "Mesh")

    @property
    def axis_sizes(self):
        return self.devices.shape if self.axis_names else ()

    @property
    def abstract_mesh(self):
        return AbstractMesh(self.axis_sizes, self.axis_names, self.axis_types)

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
        return f"Mesh({self._axes_repr()})"


def make_mesh(axis_shapes, axis_names, axis_types=None, *, devices=None):
    """A `Mesh` of the given shape over `devices` (default: the first devices of the
    default device's platform), its axes `Explicit` unless `axis_types` says (as JAX's)."""
    shape = tuple(int(s) for s in axis_shapes)
    pool = list(devices) if devices is not None else \
        _all_devices(default_device_now().platform)
    n = math.prod(shape)
    if len(pool) < n:
        raise ValueError(f"make_mesh: a mesh of shape {shape} needs {n} devices, but "
                         f"{len(pool)} are available: {pool}")
    names = (axis_names,) if isinstance(axis_names, str) else tuple(axis_names)
    if axis_types is None:
        axis_types = (AxisType.Explicit,) * len(names)
    return Mesh(np.array(pool[:n], dtype=object).reshape(shape), names, axis_types)


def make_single_device_sharding(device, *, memory_kind=None):
    """The `SingleDeviceSharding` of `device` (a Device or its name)."""
    del memory_kind
    return SingleDeviceSharding(get_device(device))


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
            n = math.prod(self.mesh.shape[a] for a in _axes_of(p))
            if out[i] % n:
                raise ValueError(f"shard_shape: axis {i} of size {out[i]} cannot be split "
                                 f"evenly over {n} devices ({self.spec!r} on {self.mesh!r})")
            out[i] //= n
        return tuple(out)

    def devices_indices_map(self, global_shape):
        """For each device of the mesh (in its order), the index (a tuple of slices) of the
        block of an array of `global_shape` it holds."""
        shape = tuple(global_shape)
        block = self.shard_shape(shape)
        names = self.mesh.axis_names
        found = {}
        for coords in np.ndindex(self.mesh.devices.shape):
            where = dict(zip(names, coords))
            index = []
            for i in range(len(shape)):
                axes = _axes_of(self.spec[i]) if i < len(self.spec) else ()
                if not axes:
                    index.append(slice(None))
                    continue
                k = 0
                for a in axes:
                    k = k * self.mesh.shape[a] + where[a]
                index.append(slice(k * block[i], (k + 1) * block[i]))
            found[self.mesh.devices[coords]] = tuple(index)
        return found

    addressable_devices_indices_map = devices_indices_map

    def __eq__(self, other):
        return isinstance(other, NamedSharding) and (other.mesh, other.spec) == \
            (self.mesh, self.spec)

    def __hash__(self):
        return hash((self.mesh, self.spec))

    def __repr__(self):
        return f"NamedSharding(mesh={self.mesh!r}, spec={self.spec!r})"


Sharding.register(SingleDeviceSharding)


def _axes_of(entry):
    """The mesh axis names one entry of a PartitionSpec splits over."""
    return tuple(a for a in (entry if isinstance(entry, tuple) else (entry,)) if a)


_groups: dict = {}
_splits: dict = {}


def _split(sharding, what):
    """The place `device_put` lays an array out at for `sharding`, a NamedSharding over
    several devices: its mesh's DeviceGroup with the sharding's split."""
    got = _splits.get(sharding)
    if got is None:
        mesh = sharding.mesh
        if not _on_cpu(mesh):
            raise NotImplementedError(
                f"{what}: {sharding!r} spans {mesh.size} devices of platform "
                f"{mesh.devices.flat[0].platform}; arrays laid out over several devices are "
                "supported on CPU devices only. Use a SingleDeviceSharding (or a device), or "
                "ft.pmap for work over several devices")
        group = _groups.get(mesh)
        if group is None:
            group = _groups[mesh] = DeviceGroup(get_backend("cpu"), mesh.devices.flat, mesh)
        got = _splits[sharding] = Split(group, sharding.spec, sharding)
    return got


def mesh_place(mesh, what):
    """The place of the arrays laid out over `mesh` (its devices as one `DeviceGroup`, or
    its one device)."""
    if mesh.size == 1:
        return mesh.devices.flat[0]
    return _split(NamedSharding(mesh), what).group


def _on_cpu(mesh):
    return all(d.platform == "cpu" for d in mesh.devices.flat)


def sharding_of(raw, device):
    """The sharding of the raw array `raw` living on `device`."""
    if not device.spans:
        return SingleDeviceSharding(device)
    return NamedSharding(device.mesh, raw.spec if raw.spec is not None else PartitionSpec())


class Shard:
    """One device's block of an array of `global_shape` laid out by `sharding` (JAX's `Shard`,
    what `x.addressable_shards` lists): its `device`, `index` (a tuple of slices into the whole
    array), `replica_id` (which copy, where several devices hold the same block, counted in the
    order of the sharding's devices) and `data` (the block, an Array on that device)."""
    __slots__ = ("device", "index", "replica_id", "data")

    def __init__(self, device, sharding, global_shape, data=None):
        self.device, self.data = device, data
        held = _indices_map(sharding, tuple(global_shape))
        self.index = held[device]
        before = list(held.values())[:list(held).index(device)]
        self.replica_id = [_index_key(i) for i in before].count(_index_key(self.index))

    def __repr__(self):
        return (f"Shard(device={self.device!r}, index={self.index}, "
                f"replica_id={self.replica_id}, data={self.data!r})")


def _indices_map(sharding, shape):
    if isinstance(sharding, NamedSharding):
        return sharding.devices_indices_map(shape)
    return {sharding.device: tuple(slice(None) for _ in shape)}


def _index_key(index):
    return tuple((s.start, s.stop) for s in index)


def shards_of(raw, device):
    """The shards of the raw array `raw` living on `device`, in the order of the devices."""
    sharding = sharding_of(raw, device)
    if not device.spans:
        return [Shard(device, sharding, raw.shape, wrap(raw))]
    host = to_host(raw)
    return [Shard(d, sharding, raw.shape, wrap(d.backend.from_host(np.array(host[index]), d)))
            for d, index in sharding.devices_indices_map(raw.shape).items()]


def placement_device(spec, what="device_put") -> Device:
    """The place `spec` (None, a Device or its name, a SingleDeviceSharding, a
    NamedSharding, or a PartitionSpec under `set_mesh`) puts data on: a device, or for a
    NamedSharding over several CPU devices the mesh's devices with the split (a `Split`)."""
    if isinstance(spec, PartitionSpec):
        return out_sharding_device(spec, what, "device")
    if isinstance(spec, SingleDeviceSharding):
        return spec.device
    if isinstance(spec, NamedSharding):
        if spec.num_devices != 1:
            return _split(spec, what)
        return spec.mesh.devices.flat[0]
    if isinstance(spec, Mesh):
        raise TypeError(f"{what}: got a Mesh; pass NamedSharding(mesh, spec) instead")
    return get_device(spec)


_current = threading.local()


def current_mesh():
    """The mesh `set_mesh` made current on this thread (None where none is)."""
    return getattr(_current, "mesh", None)


def get_mesh():
    """The mesh `set_mesh` made current on this thread (an empty `Mesh` where none is)."""
    return current_mesh() or Mesh((), ())


def get_abstract_mesh():
    """This thread's abstract mesh: the one `use_abstract_mesh` set, else that of the mesh
    `set_mesh` made current, else an empty `AbstractMesh`."""
    got = getattr(_current, "abstract", None)
    if got is None:
        mesh = current_mesh()
        got = mesh.abstract_mesh if mesh is not None else AbstractMesh((), ())
    return got


class use_abstract_mesh:
    """`with use_abstract_mesh(mesh):` makes the AbstractMesh `mesh` what `get_abstract_mesh`
    returns on this thread for the block (the concrete mesh stays as it was)."""

    def __init__(self, mesh):
        if not isinstance(mesh, AbstractMesh):
            raise TypeError(f"use_abstract_mesh: mesh must be an AbstractMesh (e.g. "
                            f"mesh.abstract_mesh), got {type(mesh).__name__}")
        self.mesh = mesh

    def __enter__(self):
        self._previous = getattr(_current, "abstract", None)
        _current.abstract = self.mesh

    def __exit__(self, *exc_info):
        _current.abstract = self._previous


class set_mesh:
    """Makes `mesh` (a `Mesh` over one device or several CPU devices, or None for none) this
    thread's current mesh, at once (`ft.set_mesh(mesh)`) or for a block (`with
    ft.set_mesh(mesh): ...`, which restores the previous one on exit), so that a bare
    `PartitionSpec` given as `out_sharding` lays the result out over the mesh (JAX's
    `jax.set_mesh`)."""

    def __init__(self, mesh):
        if mesh is not None and not isinstance(mesh, Mesh):
            raise TypeError(f"set_mesh: mesh must be a Mesh or None, got "
                            f"{type(mesh).__name__}")
        if mesh is not None and mesh.size != 1:
            _split(NamedSharding(mesh), "set_mesh")     # (refuses what cannot hold arrays)
        self.mesh, self._previous = mesh, current_mesh()
        _current.mesh = mesh

    def __enter__(self):
        return None

    def __exit__(self, *exc_info):
        _current.mesh = self._previous


def out_sharding_device(sharding, what, name="out_sharding"):
    """The place JAX's `out_sharding=` (or `sharding=`) argument `sharding` names: None for
    None (the result stays where it is computed), else the device (or `Split`, see
    `placement_device`) of a SingleDeviceSharding, a NamedSharding, or a PartitionSpec under
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
    if isinstance(sharding, NamedSharding) and sharding.num_devices > 1 and \
            not _on_cpu(sharding.mesh):
        raise NotImplementedError(
            f"{what}: {name}={sharding!r} spans {sharding.num_devices} devices of platform "
            f"{sharding.mesh.devices.flat[0].platform}: arrays are laid out over several "
            f"devices of the CPU only, so {name} must name one device (or a mesh of CPU "
            "devices)")
    if isinstance(sharding, (SingleDeviceSharding, NamedSharding)):
        return placement_device(sharding, what)
    raise NotImplementedError(
        f"{what}: {name}={sharding!r} is not supported: {name} must be None, a "
        f"SingleDeviceSharding or a NamedSharding (or a PartitionSpec under set_mesh)")


def device_or_out_sharding(device, out_sharding, what):
    """The `device=` a creation function uses, given JAX's `device` and `out_sharding`
    (at most one of the two; see `out_sharding_device`)."""
    if out_sharding is None:
        return device
    if device is not None:
        raise ValueError(f"{what}: give device or out_sharding, not both (got device="
                         f"{device!r} and out_sharding={out_sharding!r})")
    return out_sharding_device(out_sharding, what)


def visualize_array_sharding(arr, *, use_color=False, scale=1.0, min_width=9, max_width=80):
    """Print which devices hold which block of the 1-D or 2-D array `arr` (JAX's
    `jax.debug.visualize_array_sharding`, as plain text)."""
    visualize_sharding(arr.shape, arr.sharding, min_width=min_width,
                       what="visualize_array_sharding")


def visualize_sharding(shape, sharding, *, use_color=False, scale=1.0, min_width=9,
                       max_width=80, color_map=None, what="visualize_sharding"):
    """Print which devices `sharding` gives which block of a 1-D or 2-D array of `shape`
    (JAX's `jax.debug.visualize_sharding`, as plain text)."""
    del use_color, scale, max_width, color_map
    shape = tuple(shape)
    if len(shape) not in (1, 2):
        raise ValueError(f"{what}: only 1-D and 2-D arrays can be shown, got shape {shape}")
    indices = sharding.devices_indices_map(shape) if isinstance(sharding, NamedSharding) else \
        {sharding.device: tuple(slice(None) for _ in shape)}

    def span(s, n):
        return s.indices(n)[:2]
    cells = {}
    for d, index in indices.items():
        rows = span(index[0], shape[0]) if len(shape) == 2 else (0, 1)
        cols = span(index[-1], shape[-1])
        cells.setdefault((rows, cols), []).append(d)
    rows = sorted({r for r, _ in cells})
    cols = sorted({c for _, c in cells})
    labels = {k: f"{ds[0].platform.upper()} " + ",".join(str(d.id) for d in ds)
              for k, ds in cells.items()}
    width = max(min_width, max(map(len, labels.values())) + 4)
    edge = "─" * width

    def rule(left, mid, right):
        return left + mid.join(edge for _ in cols) + right
    lines = [rule("┌", "┬", "┐")]
    for i, r in enumerate(rows):
        lines.append("│" + "│".join(labels[(r, c)].center(width) for c in cols) + "│")
        lines.append(rule("├", "┼", "┤") if i < len(rows) - 1 else rule("└", "┴", "┘"))
    print("\n".join(lines))


# ------------------------------------------------------------------ how results are split
# An array laid out over a mesh is held whole, so a result's split is a label: it follows
# JAX's propagation for the operations that change axes (reductions, transpose, dot_general,
# reshape, broadcast_in_dim, slices, gather, concatenate); any other result takes the split of
# its first operand of the same shape (elementwise operations), else it is replicated. As in
# JAX, a slice run eagerly keeps the split of its whole axes only, one under jit also that of
# the axes it shortens (where the new size still divides).

def _reduced(entries, shapes, params, out_shape):
    axes = params.get("axes", (params.get("axis"),))
    return [e for i, e in enumerate(entries[0]) if i not in axes]


def _transposed(entries, shapes, params, out_shape):
    return [entries[0][p] for p in params["permutation"]]


def _dot(entries, shapes, params, out_shape):
    (lc, rc), (lb, rb) = params["dimension_numbers"]
    lhs, rhs = entries[:2]
    free_l = [e for d, e in enumerate(lhs) if d not in lc and d not in lb]
    free_r = [e for d, e in enumerate(rhs) if d not in rc and d not in rb]
    out, seen = [], set()
    for e in [lhs[a] or rhs[b] for a, b in zip(lb, rb)] + free_l + free_r:
        out.append(tuple(n for n in e if n not in seen))     # a mesh axis splits one axis
        seen.update(e)
    return out


def _broadcast(entries, shapes, params, out_shape):
    out = [()] * len(out_shape)
    for i, d in enumerate(params["broadcast_dimensions"]):
        out[d] = entries[0][i] if shapes[0][i] == out_shape[d] else ()
    return out


def _reshaped(entries, shapes, params, out_shape, sizes):
    """The split of a reshape: the mesh axes of each group of input axes whose sizes multiply
    to those of a group of output axes, dealt out from the group's first output axis on (a
    group merging several input axes keeps a split of its leading ones only)."""
    (old,), (shape,) = entries, shapes
    out = [()] * len(out_shape)
    i = j = 0
    while i < len(shape) and j < len(out_shape):
        if shape[i] == 1 or out_shape[j] == 1:
            i, j = i + (shape[i] == 1), j + (shape[i] != 1)
            continue
        group_in, group_out, a, b = [i], [j], shape[i], out_shape[j]
        i, j = i + 1, j + 1
        while a != b:
            if a < b:
                group_in.append(i)
                a, i = a * shape[i], i + 1
            else:
                group_out.append(j)
                b, j = b * out_shape[j], j + 1
        split = [k for k in group_in if old[k]]
        if split != group_in[:len(split)]:
            continue
        names = [n for k in group_in for n in old[k]]
        for k in group_out:
            size, took = 1, []
            while names and out_shape[k] % (size * sizes[names[0]]) == 0:
                size *= sizes[names[0]]
                took.append(names.pop(0))
            out[k] = tuple(took)
        if names:
            for k in group_out:
                out[k] = ()
    return out


def _sliced(entries, shapes, params, out_shape):
    return list(entries[0])


def _whole_axes(entries, shapes, params, out_shape):
    return [e if n == m else () for e, n, m in zip(entries[0], shapes[0], out_shape)]


def _gathered(entries, shapes, params, out_shape):
    """gather: the index axes first (not split), then the operand's other axes."""
    axes = params["axes"]
    rest = [e for i, e in enumerate(entries[0]) if i not in axes]
    return [()] * (len(out_shape) - len(rest)) + rest


def _concatenated(entries, shapes, params, out_shape):
    """concatenate: the operands' splits, the first operand's first, each later one's on the
    axes still unsplit (up to its first mesh axis already taken: a mesh axis splits once)."""
    out, seen = [()] * len(out_shape), set()
    for operand in entries:
        for i, e in enumerate(operand):
            taken = [a in seen for a in e]
            e = e[:taken.index(True)] if True in taken else e
            if e and not out[i]:
                out[i] = e
                seen.update(e)
    return out


_SPLIT_RULES = {"transpose": _transposed, "dot_general": _dot,
                "broadcast_in_dim": _broadcast, "reshape": _reshaped, "slice": _sliced,
                "dynamic_slice": _whole_axes, "gather": _gathered,
                "concatenate": _concatenated,
                **{name: _reduced for name in ("reduce_sum", "reduce_max", "reduce_min",
                                               "reduce_prod", "reduce_and", "reduce_or",
                                               "reduce_xor", "argmax", "argmin")}}


def _entries_of(spec, ndim):
    entries = [_axes_of(p) for p in (spec or ())]
    return entries + [()] * (ndim - len(entries))


_EAGER_RULES = {"slice": _whole_axes}


def result_split(name, specs, shapes, params, out_shape, mesh, eager=False):
    """The split (a PartitionSpec, or None: replicated) of the result of shape `out_shape`
    of primitive `name` (run `eager`ly, or in a compiled program) on operands split by
    `specs` (None: replicated) of `shapes`."""
    if name == "device_put":
        target = params["device"]
        return target.spec if type(target) is Split else None
    rule = (eager and _EAGER_RULES.get(name)) or _SPLIT_RULES.get(name)
    if rule is None:
        return next((s for s, shape in zip(specs, shapes)
                     if s is not None and tuple(shape) == tuple(out_shape)), None)
    if all(s is None for s in specs) or not math.prod(out_shape) or \
            not all(math.prod(shape) for shape in shapes):
        return None
    entries = [_entries_of(s, len(shape)) for s, shape in zip(specs, shapes)]
    if rule is _reshaped:
        out = rule(entries, shapes, params, out_shape, mesh.shape)
    else:
        out = rule(entries, shapes, params, out_shape)
    out = [_dividing(e, n, mesh.shape) for e, n in zip(out, out_shape)]
    while out and not out[-1]:
        out.pop()
    if not out:
        return None
    return PartitionSpec(*(None if not e else e[0] if len(e) == 1 else e for e in out))


def _dividing(names, n, sizes):
    """The longest leading part of the mesh axes `names` whose devices split `n` evenly."""
    took, size = [], 1
    for a in names:
        if n % (size * sizes[a]):
            break
        size *= sizes[a]
        took.append(a)
    return tuple(took)


def keep_split(prim, raws, params, out, group):
    """Label the results `out` (one raw array, or a list) of `prim` run eagerly on `raws` on
    `group` (a DeviceGroup) with their split."""
    specs = [getattr(r, "spec", None) for r in raws]
    shapes = [getattr(r, "shape", ()) for r in raws]
    for o in (out if prim.multiple_results else (out,)):
        if type(o) is HostBuffer:
            o.spec = result_split(prim.name, specs, shapes, params, o.shape, group.mesh,
                                  eager=True)
    return out


def keeping_splits(fn, closed, group):
    """`fn`, a program compiled from the jaxpr `closed` for `group` (a DeviceGroup) taking
    the raw inputs first, with its results labelled with the splits their computation gives
    the splits of those inputs (worked out once per combination of input splits)."""
    jaxpr = closed.jaxpr
    n, known = len(jaxpr.invars), {}

    def run(*args):
        outs = fn(*args)
        specs = tuple(getattr(a, "spec", None) for a in args[:n])
        got = known.get(specs)
        if got is None:
            got = known[specs] = _jaxpr_splits(jaxpr, specs, group.mesh)
        placed = []
        for o, s in zip(outs, got):
            if type(o) is HostBuffer and o.spec != s:
                o = o.view(HostBuffer)
                o.spec = s
            placed.append(o)
        return placed
    return run


def _jaxpr_splits(jaxpr, specs, mesh):
    env = dict(zip(jaxpr.invars, specs))
    known = set(jaxpr.constvars)

    def read(v):
        return None if not hasattr(v, "id") else env.get(v)
    for eqn in jaxpr.eqns:
        ins = [read(v) for v in eqn.invars]
        shapes = [v.aval.shape for v in eqn.invars]
        name = eqn.primitive.name
        if name == "dynamic_slice" and \
                all(not hasattr(v, "id") or v in known for v in eqn.invars[1:]):
            name = "slice"          # (start indices known when compiled: a static slice)
        for v in eqn.outvars:
            env[v] = result_split(name, ins, shapes, eqn.params, v.aval.shape, mesh)
    return [read(v) for v in jaxpr.outvars]
