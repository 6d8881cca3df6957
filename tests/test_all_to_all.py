"""ft.lax.all_to_all, pswapaxes, pshuffle and pbroadcast: against NumPy and JAX under a named
vmap (eagerly, jit outside and inside, nested vmaps of other names), on axes spanning ranks
(threads) and devices, and differentiated (float64 finite differences; vmap of grad is the
transpose of the whole batch, as for the other collectives)."""
import threading

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.backends import processes
from functrans.interpreters.batching import Span, vmap_flat
from functrans.test_util import check_grads

jax = pytest.importorskip("jax")
jlax = jax.lax

RNG = np.random.default_rng(0)


# JAX in float64 (as functrans keeps NumPy's float64) for each test, then restored
pytestmark = pytest.mark.usefixtures("jax_x64")


def arr(*shape):
    return RNG.standard_normal(shape)


def close(a, b, rtol=1e-12, atol=1e-12):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def per_lane(f, x, name="i"):
    """`f` under vmap with an axis name, eagerly, under jit outside and inside."""
    return [ft.vmap(f, axis_name=name)(x), ft.jit(ft.vmap(f, axis_name=name))(x),
            ft.vmap(ft.jit(f), axis_name=name)(x)]


def reference_all_to_all(X, split, concat, tiled=False):
    """NumPy: X holds the lanes on axis 0; lane j's output from each lane's chunk j."""
    n = X.shape[0]
    chunks = np.split(X, n, axis=split + 1)                  # chunk j: (lanes, ...)
    if tiled:
        return np.stack([np.concatenate(list(c), axis=concat) for c in chunks])
    return np.stack([np.stack(list(np.squeeze(c, split + 1)), axis=concat) for c in chunks])


CASES = [((4, 4, 3), 0, 0, False), ((4, 4, 3), 0, 1, False), ((4, 3, 4, 2), 1, 0, False),
         ((4, 3, 4, 2), 1, 2, False), ((4, 3, 4, 2), -2, -1, False),
         ((4, 3, 8, 2), 1, 1, True), ((4, 3, 8, 2), 1, 0, True), ((4, 8, 3), 0, 1, True),
         ((4, 4), 0, 0, True)]


@pytest.mark.parametrize("shape,split,concat,tiled", CASES)
def test_all_to_all_matches_numpy_and_jax(shape, split, concat, tiled):
    X = arr(*shape)
    want = reference_all_to_all(X, split % (len(shape) - 1), concat % (len(shape) - 1), tiled)
    for got in per_lane(lambda v: lax.all_to_all(v, "i", split, concat, tiled=tiled), X):
        assert got.shape == want.shape
        close(got, want)
    if split >= 0 and concat >= 0:          # JAX 0.10.2 mishandles negative axes here
        close(jax.vmap(lambda v: jlax.all_to_all(v, "i", split, concat, tiled=tiled),
                       axis_name="i")(X), want)


def test_pswapaxes_pshuffle_pbroadcast_match_jax():
    X = arr(4, 3, 4)
    perm = [2, 0, 3, 1]
    fns = [lambda m, v: m.pswapaxes(v, "i", 1), lambda m, v: m.pshuffle(v, "i", perm),
           lambda m, v: m.pbroadcast(v, "i", 2)]
    for fn in fns:
        want = jax.vmap(lambda v: fn(jlax, v), axis_name="i")(X)
        for got in per_lane(lambda v: fn(lax, v), X):
            close(got, want)
    close(ft.vmap(lambda v: lax.pshuffle(v, "i", perm), axis_name="i")(X), X[perm])
    close(ft.vmap(lambda v: lax.pbroadcast(v, "i", 3), axis_name="i")(X),
          np.broadcast_to(X[3], X.shape))
    for axis in (1, -1):
        close(ft.vmap(lambda v: lax.pswapaxes(v, "i", axis), axis_name="i")(X),
              X.transpose(2, 1, 0))
    # other dtypes travel unchanged; a lane holding inf does not leak NaN into pbroadcast
    ints = fnp.arange(16, dtype=np.int32).reshape(4, 4)
    got = ft.vmap(lambda v: (lax.pbroadcast(v, "i", 1), lax.pbroadcast(v > 2, "i", 1),
                             lax.all_to_all(v, "i", 0, 0, tiled=True)), axis_name="i")(ints)
    assert [np.asarray(g).dtype for g in got] == [np.int32, np.bool_, np.int32]
    close(got[0], np.broadcast_to([4, 5, 6, 7], (4, 4)))
    close(got[1], np.broadcast_to(True, (4, 4)))
    close(got[2], np.arange(16).reshape(4, 4).T)
    infs = fnp.asarray(np.array([1.0, np.inf, 2.0]))
    close(ft.vmap(lambda v: lax.pbroadcast(v, "i", 0), axis_name="i")(infs), np.ones(3))


def test_pytrees_unbatched_values_and_nested_axes():
    X, Y = arr(3, 3), arr(3, 6, 2)
    got = ft.vmap(lambda a, b: lax.all_to_all({"a": a, "b": (b,)}, "i", 0, 0, tiled=True),
                  axis_name="i")(X, Y)
    close(got["a"], X.T)
    close(got["b"][0], reference_all_to_all(Y, 0, 0, True))
    # a value the same in every lane: lane j gets chunk j of it from every lane
    c = arr(3, 2)
    got = ft.vmap(lambda v, w: lax.all_to_all(w, "i", 0, 1) + 0 * v, in_axes=(0, None),
                  axis_name="i")(X, c)
    close(got, np.broadcast_to(c[:, :, None], (3, 2, 3)))
    got = ft.vmap(lambda v, w: lax.pshuffle(w, "i", [1, 2, 0]) + 0 * v[0], in_axes=(0, None),
                  axis_name="i")(X, c)
    close(got, np.broadcast_to(c, (3, 3, 2)))
    # the collective's axis is the outer or the inner of two named vmaps
    Z = arr(2, 3, 3, 2)
    for name in ("inner", "outer"):
        def f(v, mod):
            return (mod.all_to_all(v, name, 0, 1, tiled=True) if name == "inner" else
                    mod.all_to_all(v, name, 1, 0, tiled=True),
                    mod.pshuffle(v, name, [1, 0] if name == "outer" else [2, 0, 1]))
        want = jax.vmap(jax.vmap(lambda v: f(v, jlax), axis_name="inner"),
                        axis_name="outer")(Z)
        for g in [ft.vmap(ft.vmap(lambda v: f(v, lax), axis_name="inner"), axis_name="outer"),
                  ft.jit(ft.vmap(ft.vmap(lambda v: f(v, lax), axis_name="inner"),
                                 axis_name="outer")),
                  ft.vmap(ft.jit(ft.vmap(lambda v: f(v, lax), axis_name="inner")),
                          axis_name="outer")]:
            for a, b in zip(g(Z), want):
                close(a, b)


def test_derivatives():
    x, w = arr(4, 4, 3), arr(4, 3, 4)

    def h(mod, v, c):
        return (fnp.sum(mod.all_to_all(v ** 2, "i", 0, 1) * c)
                + fnp.sum(mod.pshuffle(fnp.sin(v), "i", [1, 3, 0, 2]) ** 3)
                + fnp.sum(mod.pswapaxes(v, "i", 0) * v))
    # vmap(grad) transposes the whole batch: it equals grad of the sum over lanes (JAX's
    # vmap(grad) of all_to_all fails in 0.10.2, so compare with its grad of the sum)
    lanes = ft.vmap(ft.grad(lambda v: h(lax, v, w[0])), axis_name="i")(x)
    total = ft.grad(lambda v: fnp.sum(ft.vmap(lambda v: h(lax, v, w[0]),
                                              axis_name="i")(v)))(x)
    want = jax.grad(lambda v: jax.vmap(lambda v: _jax_h(v, w[0]), axis_name="i")(v).sum())(x)
    close(lanes, want, rtol=1e-10)
    close(total, want, rtol=1e-10)
    for f in [lambda v: lax.all_to_all(fnp.sin(v), "i", 0, 1),
              lambda v: lax.all_to_all(v ** 3, "i", 0, 1, tiled=True),
              lambda v: lax.pshuffle(fnp.cos(v) * v, "i", [3, 2, 0, 1]),
              lambda v: lax.pbroadcast(v ** 2, "i", 1) * v]:
        check_grads(ft.vmap(f, axis_name="i"), (fnp.asarray(x),), order=2,
                    modes=("fwd", "rev"))
        check_grads(ft.jit(ft.vmap(f, axis_name="i")), (fnp.asarray(x),), order=1,
                    modes=("fwd", "rev"))
    # pbroadcast: lane `source` gets the derivative of every lane's use
    got = ft.vmap(ft.grad(lambda v: lax.pbroadcast(v, "i", 1) * (1.0 + lax.axis_index("i"))),
                  axis_name="i")(fnp.arange(4.0))
    close(got, [0.0, 10.0, 0.0, 0.0])


def _jax_h(v, c):
    return ((jlax.all_to_all(v ** 2, "i", 0, 1) * c).sum()
            + (jlax.pshuffle(jax.numpy.sin(v), "i", [1, 3, 0, 2]) ** 3).sum()
            + (jlax.pswapaxes(v, "i", 0) * v).sum())


def _spanned(v):
    return [lax.all_to_all(v, "i", 0, 1), lax.all_to_all(v, "i", 1, 0, tiled=True),
            lax.pshuffle(v, "i", [5, 3, 1, 0, 2, 4]), lax.pbroadcast(v, "i", 4),
            lax.pswapaxes(v, "i", 0)]


@pytest.mark.parametrize("ranks,lanes", [(3, 2), (6, 1), (2, 3)])
def test_an_axis_spanning_ranks(ranks, lanes):
    """Ranks (threads) of several lanes each map like one vmap over all the lanes."""
    x = fnp.asarray(arr(6, 6, 12))
    want = ft.vmap(_spanned, axis_name="i")(x)
    group = processes.ThreadGroup([ft.backends.default_device_now()] * ranks)
    results = [None] * ranks

    def run(rank):
        results[rank] = vmap_flat(_spanned, [x[lanes * rank:lanes * (rank + 1)]], [0], lanes,
                                  [0] * 5, "i", Span(group, rank))
    threads = [threading.Thread(target=run, args=(r,)) for r in range(ranks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(5):
        close(np.concatenate([np.asarray(results[r][k]) for r in range(ranks)]), want[k])


def test_pmap(fake_gpus):
    def f(v):
        n = lax.axis_size("i")
        return (lax.all_to_all(v, "i", 0, 1), lax.pshuffle(v, "i", list(range(n))[::-1]),
                lax.pbroadcast(v, "i", n - 1))
    x = fnp.asarray(arr(2, 2, 3))
    for devices in (fake_gpus, ft.local_devices()[:1]):
        n = len(devices)
        got = ft.pmap(f, axis_name="i", devices=devices)(x[:n, :n])
        for a, b in zip(got, ft.vmap(f, axis_name="i")(x[:n, :n])):
            assert a.shape == b.shape
            close(a, b)
    weights = fnp.arange(6.0).reshape(3, 2)
    grad = ft.grad(lambda v: fnp.sum(f(v)[0] * weights))
    close(ft.pmap(grad, axis_name="i", devices=fake_gpus)(x),
          ft.vmap(grad, axis_name="i")(x))


def test_errors():
    x = arr(3, 3)
    with pytest.raises(ValueError, match=r"split_axis 0 of shape \(2,\) must be equal to the "
                                         r"size 3 of the axis 'i'"):
        ft.vmap(lambda v: lax.all_to_all(v, "i", 0, 0), axis_name="i")(arr(3, 2))
    with pytest.raises(ValueError, match="must be a multiple of the size 3"):
        ft.vmap(lambda v: lax.all_to_all(v, "i", 0, 0, tiled=True), axis_name="i")(arr(3, 4))
    with pytest.raises(ValueError, match="concat_axis 1 is out of bounds"):
        ft.vmap(lambda v: lax.all_to_all(v, "i", 0, 1), axis_name="i")(x)
    with pytest.raises(NotImplementedError, match="axis_index_groups"):
        ft.vmap(lambda v: lax.all_to_all(v, "i", 0, 0, axis_index_groups=[[0, 1, 2]]),
                axis_name="i")(x)
    with pytest.raises(NotImplementedError, match="pswapaxes: axis_index_groups"):
        ft.vmap(lambda v: lax.pswapaxes(v, "i", 0, axis_index_groups=[[0, 1, 2]]),
                axis_name="i")(x)
    with pytest.raises(NameError, match="all_to_all uses the axis name 'j'"):
        ft.vmap(lambda v: lax.all_to_all(v, "j", 0, 0), axis_name="i")(x)
    with pytest.raises(ValueError, match=r"perm \[0, 0, 1\] must list each lane 0 .. 2"):
        ft.vmap(lambda v: lax.pshuffle(v, "i", [0, 0, 1]), axis_name="i")(x)
    with pytest.raises(ValueError, match="perm"):
        ft.vmap(lambda v: lax.pshuffle(v, "i", [1, 0]), axis_name="i")(x)
    with pytest.raises(TypeError, match="pshuffle: perm must be a sequence"):
        ft.vmap(lambda v: lax.pshuffle(v, "i", 3), axis_name="i")(x)
    with pytest.raises(ValueError, match="pbroadcast: source must be a lane index"):
        ft.vmap(lambda v: lax.pbroadcast(v, "i", 3), axis_name="i")(x)
    with pytest.raises(TypeError, match="axis_name must be"):
        ft.vmap(lambda v: lax.all_to_all(v, 0, 0, 0), axis_name="i")(x)
    with pytest.raises(NotImplementedError, match="all_to_all: axis_name must be one axis"):
        ft.vmap(ft.vmap(lambda v: lax.all_to_all(v, ("i", "j"), 0, 0), axis_name="j"),
                axis_name="i")(arr(2, 2, 4))
