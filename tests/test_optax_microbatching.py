"""functrans.optim.optax.microbatching (and top-level `microbatch`): microbatch with each
AccumulationType (and pytree prefixes of them, early stops), micro_vmap, micro_grad,
reshape_batch_axis; against Optax 0.2.8 in float64 (JAX x64 on for the test only), against
the unbatched computation, under jit; bad input."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.optim import optax as fo
from functrans.tree_util import tree_leaves

M = fo.microbatching
RTOL, ATOL = 1e-12, 1e-13


def _data():
    rng = np.random.default_rng(0)
    return rng.standard_normal(3), rng.standard_normal((8, 3)), rng.standard_normal(8)


def _fun(xp):
    return lambda w, x, y: (xp.sum((x @ w - y) ** 2), x @ w)


def _close(ours, theirs):
    import jax
    for a, b in zip(tree_leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=RTOL, atol=ATOL)


def test_importable_as_optaxs():
    import functrans.optim.optax.microbatching as microbatching
    assert microbatching is M and fo.microbatch is M.microbatch


@pytest.mark.parametrize("kind", ["SUM", "MEAN", "RUNNING_MEAN"])
@pytest.mark.parametrize("real", [None, 3])
@pytest.mark.parametrize("jit", [False, True])
def test_microbatch_matches_optax(optax64, kind, real, jit):
    import jax.numpy as jnp
    w, x, y = _data()

    def make(m, xp):
        acc = (getattr(m.microbatching.AccumulationType, kind),
               m.microbatching.AccumulationType.CONCAT)
        return m.microbatch(_fun(xp), argnums=(1, 2), microbatch_size=2, accumulator=acc,
                            num_real_microbatches=real)
    ours = make(fo, fnp)
    _close((ft.jit(ours) if jit else ours)(w, x, y),
           make(optax64, jnp)(jnp.asarray(w), jnp.asarray(x), jnp.asarray(y)))


def test_microbatch_equals_the_whole_batch_and_takes_keywords():
    w, x, y = _data()
    total, outputs = fo.microbatch(_fun(fnp), argnums=1, argnames="y", microbatch_size=4,
                                   accumulator=(M.AccumulationType.SUM,
                                                M.AccumulationType.CONCAT))(w, x, y=y)
    np.testing.assert_allclose(float(total), np.sum((x @ w - y) ** 2), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(outputs), x @ w, rtol=1e-12)
    mean = fo.microbatch(lambda x: fnp.mean(x, axis=1), argnums=0, microbatch_size=2,
                         in_axes=1, accumulator=M.AccumulationType.MEAN)(x.T)
    np.testing.assert_allclose(np.asarray(mean), x.mean(0), rtol=1e-12)
    fun = _fun(fnp)
    assert fo.microbatch(fun, 1, None) is fun
    custom = M.Accumulator(init=lambda s: fnp.full(s.shape, -np.inf, s.dtype),
                           update=lambda c, v, i: fnp.maximum(c, v), finalize=lambda c: c,
                           aggregate=lambda v: fnp.max(v, axis=0))
    biggest = fo.microbatch(lambda x: fnp.max(x), 0, 2, custom)(x.ravel())
    assert float(biggest) == x.max()


def test_microbatch_bad_input():
    w, x, y = _data()
    with pytest.raises(ValueError, match="batch size 8 is not a multiple of microbatch_size=3"):
        fo.microbatch(_fun(fnp), (1, 2), 3)(w, x, y)
    with pytest.raises(ValueError, match=r"batch axes differ in size: \[8, 7\]"):
        fo.microbatch(_fun(fnp), (1, 2), 2)(w, x, y[:7])
    with pytest.raises(ValueError, match="the MEAN accumulator needs floating-point results"):
        fo.microbatch(lambda i: fnp.sum(i), 0, 2, M.AccumulationType.MEAN)(fnp.arange(4))
    with pytest.raises(NotImplementedError, match="out_axes must be 0"):
        M.micro_vmap(fnp.sum, out_axes=1)


def test_micro_vmap_is_vmap():
    _, x, _ = _data()
    out = M.micro_vmap(lambda v, s: fnp.sum(v ** 2) * s, in_axes=(0, None),
                       microbatch_size=4)(x, 2.0)
    np.testing.assert_allclose(np.asarray(out), 2 * np.sum(x ** 2, 1), rtol=1e-12)
    mean = ft.jit(M.micro_vmap(lambda v: fnp.sum(v ** 2), microbatch_size=2,
                               accumulator=M.AccumulationType.MEAN))(x)
    np.testing.assert_allclose(float(mean), np.sum(x ** 2, 1).mean(), rtol=1e-12)


@pytest.mark.parametrize("keep_batch_dim", [True, False])
def test_micro_grad_matches_optax(optax64, keep_batch_dim):
    import jax.numpy as jnp
    w, x, y = _data()
    batch = np.concatenate([x, y[:, None]], 1)

    def make(m, xp):
        if keep_batch_dim:
            def loss(w, b):
                return xp.mean((b[:, :3] @ w - b[:, 3]) ** 2), b[:, 3]
        else:
            def loss(w, b):
                return (b[:3] @ w - b[3]) ** 2, b[3]
        return m.microbatching.micro_grad(
            loss, has_aux=True, microbatch_size=2, keep_batch_dim=keep_batch_dim,
            transform_fn=lambda g: m.projections.projection_l2_ball(g, 1.0),
            metrics_fn=lambda g: xp.linalg.norm(g))
    ours = ft.jit(make(fo, fnp))(w, batch)
    theirs = make(optax64, jnp)(jnp.asarray(w), jnp.asarray(batch))
    _close(ours, theirs)
    per_example = [2 * (r[:3] @ w - r[3]) * r[:3] for r in batch]
    clipped = [g * min(1.0, 1.0 / np.linalg.norm(g)) for g in per_example]
    np.testing.assert_allclose(np.asarray(ours[0]), np.sum(clipped, 0), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(ours[1].metrics),
                               [np.linalg.norm(g) for g in per_example], rtol=1e-12)


def test_reshape_batch_axis_is_column_major(optax64):
    import jax.numpy as jnp
    x = np.arange(24.0).reshape(2, 12)
    _close(M.reshape_batch_axis({"x": x}, 3, axis=1),
           optax64.microbatching.reshape_batch_axis({"x": jnp.asarray(x)}, 3, axis=1))
    np.testing.assert_array_equal(np.asarray(M.reshape_batch_axis(fnp.arange(6), 3)),
                                  [[0, 2, 4], [1, 3, 5]])
