"""Random programs under random stacks of transforms (jit, vmap, grad, jvp, checkpoint,
jacfwd, jacrev), run by functrans and by JAX in float64 and compared: the semantics of every
composition, ties of max/min/sort included, against the library functrans follows."""
from __future__ import annotations

import zlib

import numpy as np
from hypothesis import given, settings, strategies as st, HealthCheck

import functrans as ft
import functrans.numpy as fnp
from test_compiler_fuzz import programs, _program, _inputs

TRANSFORMS = ("jit", "vmap", "grad", "jvp", "checkpoint", "jacfwd", "jacrev")


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
    if name == "jvp":
        return lambda x: lib.jvp(fn, (x,), (m.asarray(_constant(np.shape(x), ("t", depth))),))[1]
    raise AssertionError(name)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs(max_steps=5), st.lists(st.sampled_from(TRANSFORMS), min_size=1, max_size=3),
       st.integers(0, 2 ** 16))
def test_transform_stacks_equal_jax(jax_x64, program, transforms, seed):
    jax, jnp = jax_x64, jax_x64.numpy
    shapes, steps, outs = program
    if len(shapes[0]) + transforms.count("vmap") > 4 or \
            transforms.count("jacfwd") + transforms.count("jacrev") > 1:
        transforms = transforms[:1]
    raw = _inputs(shapes, np.float64, seed)
    x = raw[0]
    for _ in range(transforms.count("vmap")):
        x = np.stack([x, 0.5 * x + 0.25])
    ours = _stack(ft, fnp, steps, outs, [fnp.asarray(r) for r in raw[1:]], transforms)(
        fnp.asarray(x))
    theirs = _stack(jax, jnp, steps, outs, [jnp.asarray(r) for r in raw[1:]], transforms)(
        jnp.asarray(x))
    assert np.shape(ours) == np.shape(theirs)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-9, atol=1e-9)
