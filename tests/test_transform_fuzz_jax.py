"""Random programs under random stacks of transforms (jit, vmap over the first or last axis,
grad, jvp, checkpoint, jacfwd, jacrev) and control flow (cond, scan, fori_loop), run by
functrans and by JAX in float64 and compared: the semantics of every composition, ties of
max/min/sort included, against the library functrans follows."""
from __future__ import annotations

import zlib

import numpy as np
from hypothesis import given, strategies as st

import functrans as ft
import functrans.numpy as fnp
from fuzzing import fuzz_settings
from test_compiler_fuzz import programs, _program, _inputs

TRANSFORMS = ("jit", "vmap", "vmap_last", "grad", "jvp", "checkpoint", "jacfwd", "jacrev",
              "cond", "scan", "fori_loop")


def _constant(shape, salt):
    """The same pseudo-random float64 array of `shape` in every library and call."""
    seed = zlib.crc32(repr((tuple(shape), salt)).encode())
    return np.random.default_rng(seed).standard_normal(shape)


def _stack(lib, m, steps, outs, rest, transforms):
    """`transforms` applied innermost first to the program as a function of its first input
    (the other inputs, `rest`, closed over), its outputs weighted and flattened into one."""
    program = _program(m, steps, outs)

    def flat(x):
        ys = program(x, *rest)
        return m.concatenate([m.ravel(y * _constant(np.shape(y), k)) for k, y in enumerate(ys)])

    fn = flat
    for depth, name in enumerate(transforms):
        fn = _wrap(lib, m, name, fn, depth)
    return fn


def _wrap(lib, m, name, fn, depth):
    if name == "jit":
        return lib.jit(fn)
    if name == "vmap":
        return lib.vmap(fn)
    if name == "vmap_last":
        return lib.vmap(fn, in_axes=-1, out_axes=-1)
    if name == "checkpoint":
        return lib.checkpoint(fn)
    if name == "jacfwd":
        return lib.jacfwd(fn)
    if name == "jacrev":
        return lib.jacrev(fn)
    if name == "grad":
        def weighted(x):
            y = fn(x)
            return m.sum(y * _constant(np.shape(y), ("g", depth)))
        return lib.grad(weighted)
    if name == "cond":
        return lambda x: lib.lax.cond(m.sum(x) > 0, fn, lambda y: 2.0 * fn(y), x)
    if name == "scan":
        def scanned(x):
            _, ys = lib.lax.scan(lambda c, xi: (c, fn(xi)), 0.0, m.stack([x, 0.5 * x]))
            return ys[0] - ys[1]
        return scanned
    if name == "fori_loop":
        return lambda x: lib.lax.fori_loop(0, 2, lambda i, acc: acc + fn(x * (i + 1.0)), fn(x))
    if name == "jvp":
        return lambda x: lib.jvp(fn, (x,), (m.asarray(_constant(np.shape(x), ("t", depth))),))[1]
    raise AssertionError(name)


@fuzz_settings(15)
@given(programs(max_steps=5), st.lists(st.sampled_from(TRANSFORMS), min_size=1, max_size=3),
       st.integers(0, 2 ** 16))
def test_transform_stacks_equal_jax(jax_x64, program, transforms, seed):
    jax, jnp = jax_x64, jax_x64.numpy
    shapes, steps, outs = program
    vmaps = [t for t in transforms if t.startswith("vmap")]
    if len(shapes[0]) + len(vmaps) > 4 or \
            transforms.count("jacfwd") + transforms.count("jacrev") > 1:
        transforms = transforms[:1]
    raw = _inputs(shapes, np.float64, seed)
    x = raw[0]
    for t in transforms:                    # innermost first: its axis is stacked first
        if t.startswith("vmap"):
            x = np.stack([x, 0.5 * x + 0.25], axis=-1 if t == "vmap_last" else 0)
    ours = _stack(ft, fnp, steps, outs, [fnp.asarray(r) for r in raw[1:]], transforms)(
        fnp.asarray(x))
    theirs = _stack(jax, jnp, steps, outs, [jnp.asarray(r) for r in raw[1:]], transforms)(
        jnp.asarray(x))
    assert np.shape(ours) == np.shape(theirs)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-9, atol=1e-9)
