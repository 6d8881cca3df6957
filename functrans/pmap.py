"""`ft.pmap`: map a function over devices, and over the processes of an MPI job.

Each process calls the pmapped function with arrays whose mapped axis has one entry per local
device (`ft.local_device_count()`: one CPU device per process, or this process's GPUs), and
the named axis covers the devices of every process, numbered process by process. Collectives
over it (`ft.lax.psum`, `pmean`, `pmax`, `pmin`, `all_gather`, `psum_scatter`, `ppermute`,
`pshuffle`, `pbroadcast`, `all_to_all`, `pswapaxes`, `axis_index`) combine the values of all of
them: between processes through MPI, between GPUs through NCCL (`all_to_all` as one exchange
of chunks with each other rank, over the permutation call).

How: the program of one device is `vmap` of `f` over that device's lane, with an axis that
spans ranks (`interpreters.batching.Span`), compiled by `jit` once per signature. The
collectives' batching rules combine the device's lane, then call the cross-rank collectives
of `higher_order.cross_rank`, which the compiled code runs as calls of the communicator. The
program begins by checking that every process is about to run the same collectives on the
same shapes (`cross_rank.agree_p`: one small message per call), so a mismatch raises on every
process rather than hanging. Several devices in one process run their programs in one thread
each. Called on traced values (inside `jit`, `grad`, `vmap`), a pmap over one device per
process is a call those transforms process like any jitted function's.
"""
from __future__ import annotations

import functools
import threading

import numpy as np

from . import api
from .array import Array, wrap
from .backends import (get_device, local_devices, transfer, to_host, default_device,
                       default_device_now, processes)
from .backends.host_devices import adopted
from .core import Tracer, get_aval, is_python_scalar, eval_jaxpr
from .higher_order import cross_rank
from .interpreters.batching import Span
from .interpreters.partial_eval import trace_to_jaxpr
from .core import jit_disabled
from .jit import Jitted
from .meshes import Mesh, NamedSharding, P, placement_device
from .numpy import asarray, concatenate
from .primitives._util import shape_of
from .primitives.shape_ops import slice_in_dim
from .tree_util import tree_flatten, tree_unflatten, tree_leaves

__all__ = ["pmap"]


class _Setup:
    """What a pmapped function needs for one world and device list: the communicator and one
    compiled program per local device."""

    def __init__(self, pmapped, key, devices, group):
        self.pmapped, self.key, self.devices, self.group = pmapped, key, devices, group
        self._programs = {}

    def span(self, i):
        return None if self.group is None else Span(self.group, self.group.local_ranks[i])

    def program(self, i):
        got = self._programs.get(i)
        if got is None:
            span, p = self.span(i), self.pmapped

            def program(*args, **kwargs):
                return p.body(span, args, kwargs)
            program.__name__ = f"pmap_{p.name}"
            got = self._programs[i] = Jitted(program, static_argnums=p.static,
                                             donate_argnums=p.donate)
        return got

    def run(self, i, args, kwargs, eager):
        """Device i's computation on `args`: its compiled program, or (`eager`: under
        `disable_jit`) the mapped function op by op."""
        if eager:
            return self.pmapped.body(self.span(i), args, kwargs, eager=True)
        return self.program(i)(*args, **kwargs)


class Pmapped:
    """A function mapped over devices (see `pmap`). Call it like the original function."""

    def __init__(self, fun, axis_name, in_axes, out_axes, static_broadcasted_argnums,
                 donate_argnums, devices, backend=None, axis_size=None):
        functools.update_wrapper(self, fun)
        self.fun, self.axis_name = fun, axis_name
        self.in_axes = tuple(in_axes) if isinstance(in_axes, list) else in_axes
        self.out_axes = out_axes
        self.static = _as_tuple(static_broadcasted_argnums)
        self.donate = _as_tuple(donate_argnums)
        self.name = api.fun_name(fun)
        self._device_spec, self.backend, self.axis_size = devices, backend, axis_size
        self._setups = {}
        self._lock = threading.Lock()

    # -- set up
    def _devices(self):
        if self._device_spec is None:
            return local_devices(backend=self.backend)
        devs = [get_device(d) for d in self._device_spec]
        if not devs or len(set(devs)) != len(devs):
            raise ValueError(f"pmap({self.name}): devices must list distinct devices of this "
                             f"process, got {self._device_spec!r}")
        if len({d.platform for d in devs}) > 1:
            raise ValueError(f"pmap({self.name}): devices {devs} mix platforms; map over the "
                             "devices of one platform")
        if self.backend is not None and devs[0].platform != local_devices(
                backend=self.backend)[0].platform:
            raise ValueError(f"pmap({self.name}): devices {devs} are not of backend "
                             f"{self.backend!r}; give one of the two")
        return devs

    def setup(self, size=None):
        """The `_Setup` for the current world and devices (made once: creating a communicator
        is collective, so every process does it on the same call). In one process, a mapped
        axis of `size` shorter than the list of devices maps over its first `size` devices,
        as JAX does."""
        world = processes.world()
        key = (world.generation, default_device_now() if self._device_spec is None else None)
        whole = self._setup(world, key, None)
        n = len(whole.devices)
        if world.count > 1 or size is None or size == n:
            return whole
        if size > n:
            raise ValueError(f"pmap: {self.name} maps over an axis of size {size}, but this "
                             f"process has only {n} device(s) ({whole.devices}) to map it "
                             "over: give the mapped axis at most that size (vmap maps any "
                             "size on one device)")
        return self._setup(world, key + (size,), whole.devices[:size])

    def _setup(self, world, key, devices):
        got = self._setups.get(key)
        if got is None:
            with self._lock:
                got = self._setups.get(key)
                if got is None:
                    _check_launched(world)
                    devices = devices or self._devices()
                    got = self._setups[key] = _Setup(self, key, devices,
                                                     world.group(devices))
        return got

    def _flat_mapped(self, args, kwargs):
        """`(leaves, treedef, dims)` of this call's arguments but the static ones, as
        `api.in_axes_of_leaves` gives them; None where `in_axes` has another number of entries
        than the arguments (`body` and `_on_devices` say what is wrong)."""
        dyn = tuple(a for i, a in enumerate(args) if i not in self.static)
        in_axes = self.in_axes
        if isinstance(in_axes, tuple):
            if len(in_axes) != len(args):
                return None
            in_axes = tuple(ax for i, ax in enumerate(in_axes) if i not in self.static)
        return api.in_axes_of_leaves(in_axes, dyn, kwargs, self.name, "pmap")

    def _mapped_size(self, flat):
        """The size of the mapped axis of the arguments `flat` (`_flat_mapped`: the first
        mapped one's, or `axis_size`; None where neither says), checked against
        `axis_size`."""
        size = None if flat is None else next(
            (shape_of(x)[d] for x, d in zip(flat[0], flat[2])
             if d is not None and len(shape_of(x)) > d), None)
        if self.axis_size is None:
            return size
        count = processes.process_count()
        if size is not None and size * count != self.axis_size:
            raise ValueError(f"pmap: axis_size={self.axis_size} was given, but {self.name} "
                             f"got a mapped axis of size {size}"
                             + (f" on each of {count} processes" if count > 1 else ""))
        return self.axis_size // count

    # -- calling
    def __call__(self, *args, **kwargs):
        flat = self._flat_mapped(args, kwargs)
        setup = self.setup(self._mapped_size(flat))
        # under disable_jit, op by op (in one process: several check their collectives
        # against each other's from the whole program)
        eager = jit_disabled() and processes.process_count() == 1
        if len(setup.devices) == 1:
            # on traced arguments (inside jit, grad, vmap) the program is a call of the
            # caller's transforms like any jitted function
            dev = setup.devices[0]
            if dev is default_device_now() and dev.platform == "cpu":
                return setup.run(0, args, kwargs, eager)    # host data is where it is wanted
            args, kwargs = self._placed(args, dev), self._placed(kwargs, dev)
            with default_device(dev):
                return setup.run(0, args, kwargs, eager)
        if any(isinstance(x, Tracer) for x in tree_leaves((args, kwargs))):
            raise ValueError(
                f"pmap({self.name}) over {len(setup.devices)} devices got traced arguments "
                "(it is called inside jit, grad or vmap): the devices of one process cannot "
                "run inside another transform. Apply the transform inside pmap "
                "(pmap(grad(f))), or call pmap outside it.")
        return self._on_devices(setup, args, kwargs, flat, eager)

    def _placed(self, tree, device):
        """`tree` with its arrays on `device` (static arguments untouched)."""
        if isinstance(tree, tuple):
            return tuple(a if i in self.static else _on(a, device) for i, a in enumerate(tree))
        return {k: _on(v, device) for k, v in tree.items()}

    def body(self, span, args, kwargs, eager=False):
        """The traced program of one device (rank `span.rank`): the mapped computation,
        preceded by the check that every process runs the same collectives; `eager`: the
        mapped computation run op by op."""
        static = {i: args[i] for i in self.static if i < len(args)}
        positions = [i for i in range(len(args)) if i not in static]
        in_axes = self.in_axes
        if isinstance(in_axes, tuple):
            if len(in_axes) != len(args):
                raise ValueError(
                    f"pmap: in_axes has {len(in_axes)} entries but {self.name} was called with "
                    f"{len(args)} positional argument(s); give one entry per positional "
                    "argument (static ones included; keyword arguments are mapped over axis 0)")
            in_axes = tuple(in_axes[i] for i in positions)

        def call(*dyn, **kw):
            it = iter(dyn)
            return self.fun(*[static[i] if i in static else next(it)
                              for i in range(len(args))], **kw)
        label = ("the devices pmap maps over in this process, one entry per device "
                 "(ft.local_device_count(), or pmap's devices)")
        mapped = api.mapped(call, in_axes, self.out_axes, self.axis_name, 1, span, "pmap",
                            label, name=self.name)
        if eager:
            return mapped(*[args[i] for i in positions], **kwargs)
        leaves, treedef = tree_flatten((tuple(args[i] for i in positions), kwargs))
        leaves = [x if isinstance(x, (Array, Tracer)) or is_python_scalar(x) else asarray(x)
                  for x in leaves]
        box = {}

        def flat(*xs):
            a, kw = tree_unflatten(treedef, list(xs))
            outs, box["tree"] = tree_flatten(mapped(*a, **kw))
            return outs
        closed, hoisted = trace_to_jaxpr(flat, [get_aval(x) for x in leaves],
                                         name=f"pmap({self.name})")
        if span is not None and processes.process_count() > 1:
            collectives = cross_rank.collectives_of(closed)
            if collectives:
                cross_rank.agree(span, collectives)
        outs = eval_jaxpr(closed.jaxpr, closed.consts, *hoisted, *leaves)
        return tree_unflatten(box["tree"], outs)

    def _on_devices(self, setup, args, kwargs, flat, eager):
        """Several local devices: split the mapped axis (the arguments `flat`, as
        `_flat_mapped` gives them), run each device's program in a thread of its own (their
        collectives meet), and join the results (`_joined`)."""
        devices = setup.devices
        n = len(devices)
        if flat is None:                    # in_axes has an entry per dynamic argument only
            dyn = tuple(a for i, a in enumerate(args) if i not in self.static)
            flat = api.in_axes_of_leaves(self.in_axes, dyn, kwargs, self.name, "pmap")
        leaves, treedef, dims = flat
        columns = []                # each leaf's value on each device
        for x, d in zip(leaves, dims):
            x = x if isinstance(x, Array) or is_python_scalar(x) else asarray(x)
            if d is None:
                columns.append(_views(x, devices, lambda i: Ellipsis) or
                               [_on(x, dev) for dev in devices])
                continue
            size = x.shape[d] if x.ndim else None
            if size != n:
                raise ValueError(
                    f"pmap: {self.name} maps over {n} devices ({devices}), so each mapped "
                    f"axis must have size {n}; got an argument of shape {x.shape} mapped "
                    f"over axis {d}")
            columns.append(_blocks(x, d, devices) or
                           [_on(slice_in_dim(x, i, i + 1, axis=d), dev)
                            for i, dev in enumerate(devices)])
        shards = []
        for i in range(n):
            mine = [column[i] for column in columns]
            dyn_i, kw_i = tree_unflatten(treedef, mine)
            it = iter(dyn_i)
            shards.append(([a if j in self.static else next(it) for j, a in enumerate(args)],
                           kw_i))
        results, errors = [None] * n, [None] * n

        def run(i):
            try:
                with default_device(devices[i]):
                    results[i] = setup.run(i, shards[i][0], shards[i][1], eager)
                    for leaf in tree_leaves(results[i]):
                        if isinstance(leaf, Array):
                            leaf.block_until_ready()
            except BaseException as e:      # noqa: BLE001 - re-raised below
                errors[i] = e
                if setup.group is not None:
                    setup.group.cancel()
        threads = [threading.Thread(target=run, args=(i,), name=f"pmap-{devices[i]}")
                   for i in range(1, n)]
        for t in threads:
            t.start()
        run(0)
        for t in threads:
            t.join()
        failed = [e for e in errors if e is not None]
        if failed:
            self._setups.pop(setup.key, None)       # its communicator was cancelled
            real = [e for e in failed if not isinstance(e, threading.BrokenBarrierError)]
            raise (real or failed)[0]
        return self._joined(results, devices)

    def _joined(self, results, devices):
        """The devices' results as one pytree, mapped outputs concatenated along their
        out_axes: on CPU devices laid out over them (JAX's NamedSharding over a mesh with one
        axis, named as the mapped one), so each device holds its block; on other platforms
        whole on the first device."""
        flat = [tree_flatten(r) for r in results]
        tree = flat[0][1]
        first = tree_unflatten(tree, list(range(len(flat[0][0]))))
        axes = api.axes_for_leaves("out_axes", self.out_axes, first,
                                   f"the output of {self.name}", "pmap")
        mesh = None
        if all(d.platform == "cpu" for d in devices):
            name = self.axis_name if isinstance(self.axis_name, str) else \
                "_internal_pmap_axis_name"
            mesh = Mesh(np.array(devices, dtype=object), (name,))
        joined = []
        for j, ax in enumerate(axes):
            parts = [f[0][j] for f in flat]
            if mesh is not None and all(type(p) is Array for p in parts):
                joined.append(_laid_out(parts, ax, mesh))
            elif ax is None:
                joined.append(_on(parts[0], devices[0]))
            else:
                joined.append(concatenate([_on(p, devices[0]) for p in parts], axis=ax))
        return tree_unflatten(tree, joined)

    def cache_info(self):
        """The compilation cache of this process's first device's program (hits, misses:
        each a trace, entries, bound), as `jit`'s `cache_info`."""
        return self.setup().program(0).cache_info()

    def __repr__(self):
        return f"<pmapped {self.name}>"


def _on(x, device):
    """`x` (a pytree) with its concrete arrays moved to `device`."""
    def one(leaf):
        if type(leaf) is Array:
            moved = transfer(leaf._value, device)
            return leaf if moved is leaf._value else wrap(moved)
        return leaf
    leaves, tree = tree_flatten(x)
    return tree_unflatten(tree, [one(leaf) for leaf in leaves])


def _laid_out(parts, axis, mesh):
    """The devices' results `parts` (Arrays, one per device of the one-axis `mesh`) joined
    along `axis` (None: the first, as every device's) and laid out over the mesh's devices,
    each holding its block."""
    name = mesh.axis_names[0]
    if axis is None:
        host, spec = np.array(to_host(parts[0]._value)), P()
    else:
        host = np.concatenate([to_host(p._value) for p in parts], axis=axis)
        spec = P(*[None] * axis, name)
    place = placement_device(NamedSharding(mesh, spec), "pmap")
    return wrap(adopted(host, place.group, place.spec))


def _blocks(x, axis, devices):
    """Each device's block of `x` along its mapped `axis`, as views, where `x` is laid out
    over `devices` so that each holds its own entry (a pmapped function's result: no copy);
    else None."""
    if type(x) is not Array or not x.device.spans:
        return None

    def index(i):
        return tuple(slice(i, i + 1) if a == axis else slice(None) for a in range(x.ndim))
    held = x.sharding.devices_indices_map(x.shape)
    if len(held) != len(devices) or any(held.get(d) != index(i) for i, d in enumerate(devices)):
        return None
    return _views(x, devices, index)


def _views(x, devices, index):
    """The part `index(i)` of `x` as a view on each device `devices[i]`, where `x` is laid
    out over a mesh holding all of them (held whole in host memory: no copy); else None."""
    if type(x) is not Array or not x.device.spans or \
            not set(devices) <= x.sharding.device_set:
        return None
    host = to_host(x._value)
    return [wrap(host[index(i)] if d is d.backend.cpu else adopted(host[index(i)], d))
            for i, d in enumerate(devices)]


def _check_launched(world):
    if world.count == 1 and processes.launcher_size() > 1:
        raise RuntimeError(
            f"this process is one of {processes.launcher_size()} started by mpiexec, but "
            "functrans runs it alone: call ft.distributed.initialize() first (then pmap's "
            "collectives span every process)")


def _as_tuple(x):
    if x is None:
        return ()
    return (x,) if isinstance(x, int) else tuple(x)


def pmap(fun=None, axis_name=None, *, in_axes=0, out_axes=0, static_broadcasted_argnums=(),
         devices=None, backend=None, axis_size=None, donate_argnums=()):
    """Map `fun` over devices, and over the processes of an MPI job.

    Arguments are mapped over axis `in_axes` (as `vmap` takes it), which must have size
    `ft.local_device_count()` (one CPU device per process, or this process's GPUs; `devices`
    picks others); `axis_name` names the axis for collectives, which then span the devices of
    every process (numbered process by process: `axis_index` is the global position).
    Outputs are stacked along `out_axes` (None: an output the same on every device); over
    several CPU devices they are laid out over them (`x.sharding`: a NamedSharding over a
    mesh with the mapped axis; `x.addressable_shards`: each device's block), and such an
    argument of a pmapped function reaches each device without a copy. In one
    process, a mapped axis shorter than the list of devices maps over the first ones;
    `backend` ("cpu", "gpu", ...) picks the devices of that platform; `axis_size` is the size
    of the whole mapped axis (every process's entries), required where no argument is mapped.
    Compiled once per signature like `jit` (under `disable_jit`, in a job of one process,
    each device runs `fun` op by op instead); `static_broadcasted_argnums` are static for every
    device, `donate_argnums` lend their memory to the results. In one process pmap over one
    device is `jit(vmap(fun))`; under `mpiexec`, call `ft.distributed.initialize()` first.
    """
    if fun is None:
        return functools.partial(pmap, axis_name=axis_name, in_axes=in_axes, out_axes=out_axes,
                                 static_broadcasted_argnums=static_broadcasted_argnums,
                                 devices=devices, backend=backend, axis_size=axis_size,
                                 donate_argnums=donate_argnums)
    return Pmapped(fun, axis_name, in_axes, out_axes, static_broadcasted_argnums,
                   donate_argnums, devices, backend, axis_size)
