"""JAX's `jax.sharding` names: `SingleDeviceSharding`, `Mesh`, `NamedSharding` and
`PartitionSpec` (see `functrans.meshes`: arrays are laid out over several devices on a mesh of
CPU devices, `ft.config.update("jax_num_cpu_devices", n)`), the constructors of arrays from
per-device data, `shard_map`, and JAX's explicit-sharding names (`AxisType`, `AbstractMesh`,
`get_abstract_mesh`, `use_abstract_mesh`, `get_mesh`, `reshard`, `auto_axes`, `explicit_axes`,
`make_single_device_sharding`).

`placement_device(spec)` reads a device, device name, or one of these shardings, as
`device_put`, `make_array_from_callback` and friends take them. The classes live in
`functrans.meshes`, below the array API that reads `out_sharding=`."""
from __future__ import annotations

import functools
import math

import numpy as np

from .api import vmap
from .array import Array
from .backends import default_device
from .core import Tracer
from .meshes import (AbstractMesh, AxisType, Mesh, NamedSharding, P, PartitionSpec, Sharding,
                     SingleDeviceSharding, Shard, current_mesh, get_abstract_mesh, get_mesh,
                     make_mesh, make_single_device_sharding, mesh_place, out_sharding_device,
                     placement_device, set_mesh, use_abstract_mesh, visualize_array_sharding)
from .numpy import asarray, reshape, transpose
from .primitives.transfer import device_put
from .tree_util import tree_flatten, tree_leaves, tree_unflatten

__all__ = ["Mesh", "NamedSharding", "P", "PartitionSpec", "Sharding", "SingleDeviceSharding",
           "Shard", "make_mesh", "placement_device", "set_mesh", "shard_map",
           "visualize_array_sharding", "AbstractMesh", "AxisType", "get_abstract_mesh",
           "get_mesh", "make_single_device_sharding", "use_abstract_mesh", "reshard",
           "auto_axes", "explicit_axes"]


def _on(x, device):
    return device_put(asarray(x, device=device), device)


def make_array_from_callback(shape, sharding, data_callback, dtype=None):
    """An array of `shape` laid out by `sharding`, built from `data_callback(index)`, called
    for each distinct block (`index`: a tuple of slices) the sharding's devices hold."""
    device = placement_device(sharding, "make_array_from_callback")
    shape = tuple(shape)
    if not device.spans:
        data = data_callback(tuple(slice(None) for _ in shape))
        out = _on(data if dtype is None else np.asarray(data, dtype=dtype), device)
        if out.shape != shape:
            raise ValueError(f"make_array_from_callback: the callback returned shape "
                             f"{out.shape} for the whole array of shape {shape}")
        return out
    blocks = {}
    for index in sharding.devices_indices_map(shape).values():
        key = tuple((s.start, s.stop) for s in index)
        if key not in blocks:
            blocks[key] = (index, np.asarray(data_callback(index), dtype=dtype))
    return _assembled(shape, sharding, device, blocks.values(), "make_array_from_callback")


def _assembled(shape, sharding, device, blocks, what):
    """The array of `shape` on `device` (a Split) whose blocks are `(index, data)`."""
    whole = None
    for index, data in blocks:
        want = np.empty(shape, dtype=bool)[index].shape
        if data.shape != want:
            raise ValueError(f"{what}: the block at {index} of {sharding!r} has shape "
                             f"{want}, got data of shape {data.shape}")
        if whole is None:
            whole = np.empty(shape, dtype=data.dtype)
        whole[index] = data
    return device_put(whole, device)


def make_array_from_single_device_arrays(shape, sharding, arrays, *, dtype=None):
    """The array of `shape` whose shards are `arrays`, one per device of `sharding` in its
    order (each on its device)."""
    device = placement_device(sharding, "make_array_from_single_device_arrays")
    arrays = list(arrays)
    indices = sharding.devices_indices_map(tuple(shape)) if device.spans else \
        {device: tuple(slice(None) for _ in shape)}
    if len(arrays) != len(indices):
        n = len(indices)
        need = "one device, so one array is" if n == 1 else f"{n} devices, so {n} arrays are"
        raise ValueError(f"make_array_from_single_device_arrays: {sharding!r} has {need} "
                         f"needed, got {len(arrays)}")
    for a, (d, index) in zip(arrays, indices.items()):
        if not isinstance(a, Array):
            raise TypeError(f"make_array_from_single_device_arrays: arrays must be functrans "
                            f"Arrays, got {type(a).__name__}")
        if dtype is not None and a.dtype != np.dtype(dtype):
            raise ValueError(f"make_array_from_single_device_arrays: an array has dtype "
                             f"{a.dtype}, expected {np.dtype(dtype)}")
        if a.device != d:
            raise ValueError(f"make_array_from_single_device_arrays: the array is on "
                             f"{a.device}, but the sharding's device is {d}")
    if not device.spans:
        (a,) = arrays
        if a.shape != tuple(shape):
            raise ValueError(f"make_array_from_single_device_arrays: the array has shape "
                             f"{a.shape}, expected {tuple(shape)}")
        return a
    return _assembled(tuple(shape), sharding, device,
                      [(i, np.asarray(a)) for a, i in zip(arrays, indices.values())],
                      "make_array_from_single_device_arrays")


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


def shard_map(f=None, /, *, out_specs, in_specs=None, mesh=None, axis_names=frozenset(),
              check_vma=True):
    """`f` applied to each device's block of its arguments (JAX's `jax.shard_map`): the
    arguments are split over `mesh` (default: the one `set_mesh` made current) as `in_specs`
    says (a PartitionSpec, or a pytree prefix of the arguments of them; default: each
    argument's own split on the mesh, else whole), `f` sees one block and may combine blocks
    with collectives over the mesh's axis names (`ft.lax.psum(x, "x")`, `all_gather`,
    `axis_index`, ...), and its results' blocks are joined as `out_specs` says (a mesh axis
    an out spec leaves out must hold the same value on all its devices: the first is kept).
    Each mesh axis is a named `vmap` over the blocks, so it composes with jit and grad.
    `axis_names` and `check_vma` are accepted; every mesh axis is mapped."""
    del axis_names, check_vma
    if f is None:
        return functools.partial(shard_map, out_specs=out_specs, in_specs=in_specs,
                                 mesh=mesh)

    @functools.wraps(f)
    def mapped(*args):
        m = mesh if mesh is not None else current_mesh()
        if not isinstance(m, Mesh):
            raise ValueError("shard_map: give mesh=, or call it under `with ft.set_mesh(mesh):`")
        leaves, tree = tree_flatten(args)
        specs = _leaf_specs(in_specs, args, "in_specs") if in_specs is not None else \
            [_own_spec(x, m) for x in leaves]
        with default_device(mesh_place(m, "shard_map")):
            return _run_blocks(f, m, leaves, tree, specs, out_specs)
    return mapped


def _run_blocks(f, m, leaves, tree, specs, out_specs):
    """shard_map's work, on the mesh's devices: `f` over the blocks of `leaves`."""
    leaves = [x if isinstance(x, Tracer) else
              device_put(asarray(x), placement_device(NamedSharding(m, s), "shard_map"))
              for x, s in zip(leaves, specs)]
    blocks = [_split_blocks(x, spec, m) for x, spec in zip(leaves, specs)]
    box = {}

    def body(*xs):
        out = f(*tree_unflatten(tree, list(xs)))
        outs, box["tree"] = tree_flatten(out)
        return outs
    fn = body
    for name in reversed(m.axis_names):
        fn = vmap(fn, in_axes=tuple(0 if name in s.axis_names() else None for s in specs),
                  out_axes=0, axis_name=name, axis_size=m.shape[name])
    outs = fn(*blocks)
    out_tree = box["tree"]
    ospecs = _leaf_specs(out_specs, tree_unflatten(out_tree, list(outs)), "out_specs")
    joined = [_join_blocks(o, spec, m) for o, spec in zip(outs, ospecs)]
    joined = [device_put(o, placement_device(NamedSharding(m, spec), "shard_map"))
              for o, spec in zip(joined, ospecs)]
    return tree_unflatten(out_tree, joined)


def _own_spec(x, mesh):
    sharding = getattr(x, "sharding", None)
    if isinstance(sharding, NamedSharding) and sharding.mesh == mesh:
        return sharding.spec
    return PartitionSpec()


def _leaf_specs(specs, tree, what):
    """One PartitionSpec per leaf of `tree`, from `specs`, a pytree prefix of it."""
    if specs is None or isinstance(specs, PartitionSpec):
        return [specs or PartitionSpec()] * len(tree_leaves(tree))
    if isinstance(specs, (tuple, list)) and isinstance(tree, (tuple, list)) and \
            len(specs) == len(tree):
        return [s for sub, t in zip(specs, tree) for s in _leaf_specs(sub, t, what)]
    if isinstance(specs, dict) and isinstance(tree, dict) and specs.keys() == tree.keys():
        return [s for k in tree for s in _leaf_specs(specs[k], tree[k], what)]
    raise ValueError(f"shard_map: {what} {specs!r} does not match the structure of "
                     f"{type(tree).__name__} {tree!r}: give a PartitionSpec, or a pytree "
                     "prefix of it with PartitionSpecs at its leaves")


def _check_spec(spec, shape, mesh):
    if len(spec) > len(shape):
        raise ValueError(f"shard_map: the spec {spec!r} has {len(spec)} entries for an "
                         f"array of shape {shape}")
    NamedSharding(mesh, spec).shard_shape(shape)     # (raises where an axis does not split)


def _split_blocks(x, spec, mesh):
    """`x` with one leading axis per mesh axis `spec` splits it over (in the mesh's order),
    indexing the blocks, followed by the block's axes."""
    shape = x.shape
    _check_spec(spec, shape, mesh)
    sizes, split_shape, lead = mesh.shape, [], {}
    for i, n in enumerate(shape):
        axes = _entry_axes(spec, i)
        for a in axes:
            lead[a] = len(split_shape)
            split_shape.append(sizes[a])
        split_shape.append(n // math.prod(sizes[a] for a in axes))
    firsts = [lead[a] for a in mesh.axis_names if a in lead]
    rest = [d for d in range(len(split_shape)) if d not in firsts]
    return transpose(reshape(x, split_shape), firsts + rest)


def _join_blocks(x, spec, mesh):
    """The inverse of `_split_blocks` for a result with one leading axis per mesh axis: the
    axes `spec` does not name dropped (their first entry kept), the others joined into the
    block's axes."""
    names = mesh.axis_names
    kept = [a for a in names if a in spec.axis_names()]
    x = x[tuple(slice(None) if a in kept else 0 for a in names)]
    r = len(kept)
    block = x.shape[r:]
    _check_spec(spec, tuple(n * math.prod(mesh.shape[a] for a in _entry_axes(spec, i))
                            for i, n in enumerate(block)), mesh)
    order, shape = [], []
    for i, n in enumerate(block):
        axes = _entry_axes(spec, i)
        order += [kept.index(a) for a in axes] + [r + i]
        shape.append(n * math.prod(mesh.shape[a] for a in axes))
    return reshape(transpose(x, order), shape)


def _entry_axes(spec, i):
    p = spec[i] if i < len(spec) else None
    return tuple(a for a in (p if isinstance(p, tuple) else (p,)) if a)


def _placed(xs, shardings, what, name, explicit_only=False):
    """The pytree `xs` with its leaves put where `shardings` says: a sharding, a PartitionSpec
    (over the current mesh), or a pytree of them with the structure of `xs`."""
    leaves, tree = tree_flatten(xs)
    if isinstance(shardings, (Sharding, PartitionSpec)):
        targets = [shardings] * len(leaves)
    else:
        targets, _ = tree_flatten(shardings,
                                  is_leaf=lambda s: isinstance(s, (Sharding, PartitionSpec)))
        if len(targets) != len(leaves):
            raise ValueError(f"{what}: {name} has {len(targets)} shardings for "
                             f"{len(leaves)} arrays; give one sharding, or a pytree of them "
                             f"with the structure of the arrays")
    out = []
    for x, target in zip(leaves, targets):
        if explicit_only:
            _check_explicit(target, what)
        out.append(device_put(x, out_sharding_device(target, what, name)))
    return tree_unflatten(tree, out)


def _check_explicit(target, what):
    """Refuse a spec naming mesh axes of another type than Explicit (as JAX's reshard)."""
    mesh = current_mesh() if isinstance(target, PartitionSpec) else \
        getattr(target, "mesh", None)
    if mesh is None:
        return
    spec = target if isinstance(target, PartitionSpec) else target.spec
    loose = [a for a, t in zip(mesh.axis_names, mesh.axis_types)
             if a in spec.axis_names() and t is not AxisType.Explicit]
    if loose:
        raise ValueError(f"{what}: {target!r} names mesh axes {loose} that are not of type "
                         f"AxisType.Explicit; make the mesh with axis_types="
                         f"AxisType.Explicit (make_mesh's default), or use ft.device_put")


def reshard(xs, out_shardings):
    """The arrays of the pytree `xs` laid out as `out_shardings` says (JAX's `jax.reshard`: a
    NamedSharding, or a PartitionSpec under `set_mesh`, or a pytree of them); the specs may
    name only mesh axes of type `AxisType.Explicit`."""
    return _placed(xs, out_shardings, "reshard", "out_shardings", explicit_only=True)


def auto_axes(f=None, /, *, axes=None, out_sharding=None):
    """`f` with its results laid out as `out_sharding` says (JAX's `auto_axes`; functrans
    derives splits the same way for every axis type, so `axes` changes nothing)."""
    del axes
    if f is None:
        return functools.partial(auto_axes, out_sharding=out_sharding)

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        out = f(*args, **kwargs)
        return out if out_sharding is None else \
            _placed(out, out_sharding, "auto_axes", "out_sharding")
    return wrapped


def explicit_axes(f=None, /, *, axes=None, in_sharding=None):
    """`f` called on its positional arguments laid out as `in_sharding` says (JAX's
    `explicit_axes`; `axes` changes nothing in functrans, see `auto_axes`)."""
    del axes
    if f is None:
        return functools.partial(explicit_axes, in_sharding=in_sharding)

    @functools.wraps(f)
    def wrapped(*args, **kwargs):
        if in_sharding is not None:
            args = _placed(args, in_sharding, "explicit_axes", "in_sharding")
        return f(*args, **kwargs)
    return wrapped
