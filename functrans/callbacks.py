"""`ft.pure_callback` and `ft.experimental.io_callback`: call a host Python function (on NumPy
arrays) from inside transformed code, as JAX's `jax.pure_callback` / `io_callback`.

    def host_fn(x):                       # any NumPy / SciPy code
        return np.sinc(x)

    @ft.jit
    def f(x):
        return ft.pure_callback(host_fn, ft.ShapeDtypeStruct(x.shape, x.dtype), x) * 2

The callback is a primitive: eagerly it runs at once; under `jit` it is staged and runs each
time the compiled code runs (a pure function: the compiler may drop it when its result is
unused, or merge two identical calls). Under `vmap`, `vmap_method` says how: "sequential"
(one call per example), "expand_dims" (one call; unbatched arguments get a leading axis of
size 1) or "broadcast_all" (one call; every argument broadcast to the batch). It has no
derivative: wrap it in `ft.custom_jvp` / `ft.custom_vjp` to differentiate.

`io_callback` is for callbacks with side effects (reading or writing outside data): it is
effectful, so it runs exactly as often as the code says, in program order, even when its
results are unused. Under `vmap` it runs once per example (an `ordered` one is refused); it
cannot be differentiated.
"""
from __future__ import annotations

import functools

import numpy as np

from .backends import to_host
from .array import Array
from .core import Primitive, ShapedArray, Tracer
from .numpy._conversion import asarray, asarray_like
from .primitives._util import bdim_size, moveaxis_to_front, shape_of
from .primitives.shape_ops import broadcast_to, expand_dims
from .tree_util import tree_flatten, tree_unflatten

__all__ = ["pure_callback", "io_callback"]

_VMAP_METHODS = (None, "sequential", "expand_dims", "broadcast_all")


class _FlatCallback:
    """The user's callback over flat lists of NumPy arrays (hashed by identity)."""

    def __init__(self, fn, in_tree, out_tree, name, kind):
        self.fn, self.in_tree, self.out_tree, self.name = fn, in_tree, out_tree, name
        self.kind = kind        # "pure_callback" or "io_callback", for messages

    def __call__(self, *flat):
        args, kwargs = tree_unflatten(self.in_tree, list(flat))
        out = self.fn(*args, **kwargs)
        leaves, tree = tree_flatten(out)
        if tree != self.out_tree:
            raise TypeError(f"{self.kind}: {self.name} returned a {tree}, but "
                            f"result_shape_dtypes describes a {self.out_tree}")
        return [np.asarray(leaf) for leaf in leaves]


def _result_avals(batch_shape, result_avals):
    return [ShapedArray(tuple(batch_shape) + a.shape, a.dtype) for a in result_avals]


def _check_results(callback, outs, expected):
    for i, (o, a) in enumerate(zip(outs, expected)):
        if o.shape != a.shape or o.dtype != a.dtype:
            raise TypeError(f"{callback.kind}: {callback.name} returned {o.dtype}{list(o.shape)} "
                            f"as result {i}, but result_shape_dtypes says "
                            f"{a.dtype}{list(a.shape)}; return arrays of exactly that shape and "
                            "dtype (e.g. np.asarray(out, dtype))")


def _impl(xp, *raws, callback, result_avals, vmap_method, batch_shape, mapped, **_):
    host = [np.asarray(to_host(r)) for r in raws]
    expected = _result_avals(batch_shape, result_avals)
    if vmap_method == "sequential" and batch_shape:
        outs = [np.empty(a.shape, a.dtype) for a in expected]
        for index in np.ndindex(*batch_shape):
            args = [np.asarray(h[tuple(i for i, m in zip(index, flags) if m)])
                    for h, flags in zip(host, mapped)]
            res = callback(*args)
            _check_results(callback, res, _result_avals((), result_avals))
            for o, r in zip(outs, res):
                o[index] = r
    else:
        outs = callback(*host)
        _check_results(callback, outs, expected)
    return outs if xp is np else [xp.asarray(o) for o in outs]


def _abstract_eval(*avals, result_avals, batch_shape, **_):
    return _result_avals(batch_shape, result_avals)


def _no_derivative(*args, **params):
    raise TypeError("pure_callback has no derivative (functrans cannot look inside the host "
                    "function): wrap the call in ft.custom_jvp or ft.custom_vjp and give the "
                    "derivative yourself")


def _batch(prim, vals, dims, *, callback, result_avals, vmap_method, batch_shape, mapped,
           **params):
    if vmap_method is None:
        raise NotImplementedError(
            f"pure_callback: {callback.name} is called under vmap, but no vmap_method was "
            "given; pass vmap_method='sequential' (one call per example), 'expand_dims' or "
            "'broadcast_all' (one call on the whole batch)")
    size = bdim_size(vals, dims)
    new_vals, new_mapped = [], []
    for v, d, flags in zip(vals, dims, mapped):
        if d is not None:
            new_vals.append(moveaxis_to_front(v, d))
            new_mapped.append((True,) + flags)
        elif vmap_method == "sequential":
            new_vals.append(v)
            new_mapped.append((False,) + flags)
        elif vmap_method == "expand_dims":
            new_vals.append(expand_dims(v, (0,)))
            new_mapped.append((True,) + flags)
        else:
            new_vals.append(broadcast_to(v, (size,) + tuple(shape_of(v))))
            new_mapped.append((True,) + flags)
    outs = prim.bind(*new_vals, callback=callback, result_avals=result_avals,
                     vmap_method=vmap_method, batch_shape=(size,) + batch_shape,
                     mapped=tuple(new_mapped), **params)
    return outs, [0] * len(outs)


pure_callback_p = Primitive("pure_callback", multiple_results=True)
pure_callback_p.impl = _impl
pure_callback_p.abstract_eval = _abstract_eval
pure_callback_p.jvp = _no_derivative
pure_callback_p.vjp = _no_derivative
pure_callback_p.batch = functools.partial(_batch, pure_callback_p)


def pure_callback(callback, result_shape_dtypes, *args, sharding=None, vmap_method=None,
                  **kwargs):
    """`callback(*args, **kwargs)` run on the host with NumPy arrays, its results (a pytree
    like `result_shape_dtypes`, whose leaves have `.shape` and `.dtype`, e.g.
    `ft.ShapeDtypeStruct`) returned as arrays. `callback` must be pure: functrans may call it
    fewer or more times than the code says. See the module docstring for `vmap_method`."""
    if vmap_method not in _VMAP_METHODS:
        raise ValueError(f"pure_callback: vmap_method must be one of {_VMAP_METHODS}, got "
                         f"{vmap_method!r}")
    flat, params, out_tree = _prepare("pure_callback", callback, result_shape_dtypes, args,
                                      kwargs, sharding)
    outs = pure_callback_p.bind(*flat, vmap_method=vmap_method, **params)
    return tree_unflatten(out_tree, outs)


def _prepare(kind, callback, result_shape_dtypes, args, kwargs, sharding):
    """The flat operands, the primitive's parameters and the results' tree of a call of
    `pure_callback` or `io_callback`."""
    if sharding is not None:
        raise ValueError(f"{kind}: sharding is not supported by functrans; leave it None")
    out_specs, out_tree = tree_flatten(result_shape_dtypes)
    result_avals = []
    for i, spec in enumerate(out_specs):
        if not (hasattr(spec, "shape") and hasattr(spec, "dtype")):
            raise TypeError(f"{kind}: result_shape_dtypes leaf {i} is a "
                            f"{type(spec).__name__}; give objects with .shape and .dtype, "
                            "e.g. ft.ShapeDtypeStruct(shape, dtype)")
        result_avals.append(ShapedArray(tuple(spec.shape), np.dtype(spec.dtype)))
    flat, in_tree = tree_flatten((args, kwargs))
    place = next((x for x in flat if isinstance(x, (Array, Tracer))), None)
    flat = [x if isinstance(x, (Array, Tracer)) else
            asarray(x) if place is None else asarray_like(x, place) for x in flat]
    name = getattr(callback, "__name__", type(callback).__name__)
    params = dict(callback=_FlatCallback(callback, in_tree, out_tree, name, kind),
                  result_avals=tuple(result_avals), batch_shape=(), mapped=((),) * len(flat))
    return flat, params, out_tree


# =================================================================== io_callback
def _io_no_derivative(*args, **params):
    raise ValueError("io_callback has no derivative (its callback may have side effects, and "
                     "functrans cannot look inside it); apply ft.lax.stop_gradient to its "
                     "inputs, or for a pure function use ft.pure_callback inside "
                     "ft.custom_jvp / ft.custom_vjp")


def _io_batch(vals, dims, *, ordered, **params):
    if ordered:
        raise ValueError(f"io_callback: {params['callback'].name} is ordered and cannot run "
                         "under vmap (the order of its calls per example is not defined); "
                         "pass ordered=False to call it once per example, in turn")
    return _batch(io_callback_p, vals, dims, ordered=ordered, **params)


io_callback_p = Primitive("io_callback", multiple_results=True, effectful=True)
io_callback_p.impl = _impl
io_callback_p.abstract_eval = _abstract_eval
io_callback_p.jvp = _io_no_derivative
io_callback_p.vjp = _io_no_derivative
io_callback_p.batch = _io_batch


def io_callback(callback, result_shape_dtypes, *args, sharding=None, ordered=False, **kwargs):
    """`callback(*args, **kwargs)` run on the host with NumPy arrays, for its side effects and
    its results (a pytree like `result_shape_dtypes`, or None), exactly as often as the code
    says: eagerly at once, under `jit` each time the compiled code runs (even when its results
    are unused), under `vmap` once per example. Effects run in program order whether or not
    `ordered` is set; an ordered callback cannot be vmapped. Not differentiable."""
    flat, params, out_tree = _prepare("io_callback", callback, result_shape_dtypes, args,
                                      kwargs, sharding)
    outs = io_callback_p.bind(*flat, vmap_method="sequential", ordered=bool(ordered), **params)
    return tree_unflatten(out_tree, outs)
