"""ft.random: the Threefry hash (known answer), determinism eagerly / under jit / under vmap,
agreement with JAX's bits when JAX is installed, distributions, and key validation."""
import math

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
import functrans.random as fr


def test_threefry_known_answer():
    """Random123's known answer for Threefry-2x32-20 with zero key and zero counter."""
    b1, b2 = fr.threefry2x32_p.bind(fnp.asarray(np.zeros(2, np.uint32)),
                                    fnp.asarray(np.uint32(0)), shape=())
    assert (int(b1), int(b2)) == (0x6B200159, 0x99BA4EFE)


def test_keys_are_uint32_pairs():
    assert np.asarray(fr.key(42)).tolist() == [0, 42]
    assert np.asarray(fr.PRNGKey(2 ** 40 + 7)).tolist() == [256, 7]
    assert np.asarray(fr.key(np.int32(5))).tolist() == [0, 5]
    assert np.asarray(fr.key(fnp.asarray(5))).tolist() == [0, 5]
    k = fr.key(0)
    assert k.dtype == np.uint32 and k.shape == (2,)
    traced = ft.vmap(fr.key)(fnp.arange(3))
    np.testing.assert_array_equal(np.asarray(traced), [[0, 0], [0, 1], [0, 2]])


def test_split_and_fold_in_give_distinct_keys():
    k = fr.key(0)
    keys = np.asarray(fr.split(k, 8))
    assert keys.shape == (8, 2)
    assert len({tuple(r) for r in keys}) == 8
    assert np.asarray(fr.split(k, (2, 3))).shape == (2, 3, 2)
    folded = {tuple(np.asarray(fr.fold_in(k, i))) for i in range(8)}
    assert len(folded) == 8
    np.testing.assert_array_equal(np.asarray(fr.fold_in(k, 3)), np.asarray(fr.fold_in(k, 3)))


SAMPLERS = {
    "bits": lambda k: fr.bits(k, (3, 4)),
    "uniform": lambda k: fr.uniform(k, (3, 4), minval=-2.0, maxval=5.0),
    "normal": lambda k: fr.normal(k, (5,)),
    "normal64": lambda k: fr.normal(k, (5,), np.float64),
    "truncated_normal": lambda k: fr.truncated_normal(k, -1.0, 0.5, (6,)),
    "randint": lambda k: fr.randint(k, (7,), -3, 9),
    "bernoulli": lambda k: fr.bernoulli(k, 0.3, (7,)),
    "categorical": lambda k: fr.categorical(k, fnp.asarray([0.1, 2.0, -1.0]), shape=(4,)),
    "gumbel": lambda k: fr.gumbel(k, (3,)),
    "split": lambda k: fr.split(k, 3),
    "fold_in": lambda k: fr.fold_in(k, 11),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_same_numbers_eagerly_under_jit_and_vmap(name):
    sample = SAMPLERS[name]
    keys = fr.split(fr.key(7), 4)
    eager = np.stack([np.asarray(sample(keys[i])) for i in range(4)])
    np.testing.assert_array_equal(np.asarray(ft.jit(sample)(keys[2])), eager[2])
    np.testing.assert_array_equal(np.asarray(ft.vmap(sample)(keys)), eager)
    np.testing.assert_array_equal(np.asarray(ft.jit(ft.vmap(sample))(keys)), eager)
    np.testing.assert_array_equal(np.asarray(ft.vmap(sample, in_axes=1, out_axes=0)(
        fnp.transpose(keys))), eager)


def test_nested_vmap_over_keys():
    keys = fr.split(fr.key(3), (2, 3))
    got = ft.vmap(ft.vmap(lambda k: fr.normal(k, (2,))))(keys)
    want = [[np.asarray(fr.normal(keys[i, j], (2,))) for j in range(3)] for i in range(2)]
    np.testing.assert_array_equal(np.asarray(got), np.array(want))
    data = fnp.arange(3)
    got = ft.vmap(lambda k: ft.vmap(lambda d: fr.fold_in(k, d))(data))(keys[0])
    want = [[np.asarray(fr.fold_in(keys[0, i], d)) for d in range(3)] for i in range(3)]
    np.testing.assert_array_equal(np.asarray(got), np.array(want))


def test_bits_match_jax():
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    for seed in (0, 42, 2 ** 31 - 1):
        k, jk = fr.key(seed), jax.random.PRNGKey(seed)
        np.testing.assert_array_equal(np.asarray(k), np.asarray(jk))
        np.testing.assert_array_equal(np.asarray(fr.split(k, (2, 3))),
                                      np.asarray(jax.random.split(jk, (2, 3))))
        np.testing.assert_array_equal(np.asarray(fr.fold_in(k, 12345)),
                                      np.asarray(jax.random.fold_in(jk, 12345)))
        np.testing.assert_array_equal(np.asarray(fr.bits(k, (7, 5))),
                                      np.asarray(jax.random.bits(jk, (7, 5))))
        np.testing.assert_array_equal(np.asarray(fr.uniform(k, (1000,))),
                                      np.asarray(jax.random.uniform(jk, (1000,))))
        np.testing.assert_array_equal(
            np.asarray(fr.randint(k, (100,), -5, 17, dtype=np.int32)),
            np.asarray(jax.random.randint(jk, (100,), -5, 17)))
        np.testing.assert_array_equal(np.asarray(fr.bernoulli(k, 0.3, (100,))),
                                      np.asarray(jax.random.bernoulli(jk, 0.3, (100,))))
        # XLA fuses the scaling multiply-add and has its own erf_inv: a few ulps apart
        np.testing.assert_allclose(np.asarray(fr.uniform(k, (100,), minval=-2., maxval=3.)),
                                   np.asarray(jax.random.uniform(jk, (100,), minval=-2.,
                                                                 maxval=3.)), atol=3e-7)
        np.testing.assert_allclose(np.asarray(fr.normal(k, (1000,))),
                                   np.asarray(jax.random.normal(jk, (1000,))), atol=1e-4)
        assert jnp is not None


def test_uniform_and_normal_statistics():
    k1, k2 = fr.split(fr.key(0))
    u = np.asarray(fr.uniform(k1, (20000,)))
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 4 * math.sqrt(1 / 12 / 20000)
    assert abs(u.var() - 1 / 12) < 0.005
    n = np.asarray(fr.normal(k2, (20000,), np.float64))
    assert n.dtype == np.float64
    assert abs(n.mean()) < 4 / math.sqrt(20000) and abs(n.std() - 1) < 0.02
    assert np.mean(np.abs(n) < 1.96) == pytest.approx(0.95, abs=0.01)
    u64 = np.asarray(fr.uniform(k1, (1000,), np.float64))
    assert np.any(u64 * 2 ** 23 != np.floor(u64 * 2 ** 23))   # more than float32's bits
    lo = np.asarray(fr.uniform(k1, (4, 1000), minval=fnp.asarray([[0.0], [1.0], [2.0], [3.0]]),
                               maxval=fnp.asarray([[1.0], [1.5], [2.5], [10.0]])))
    assert np.all((lo[1] >= 1.0) & (lo[1] < 1.5)) and np.all((lo[3] >= 3) & (lo[3] < 10))


def test_discrete_samplers():
    k = fr.key(1)
    r = np.asarray(fr.randint(k, (5000,), 3, 10))
    assert r.dtype == np.int64 and r.min() == 3 and r.max() == 9
    assert np.all(np.bincount(r - 3) > 500)
    full = np.asarray(fr.randint(k, (5000,), 0, 256, dtype=np.uint8))
    assert full.dtype == np.uint8 and full.max() == 255 and full.min() == 0
    assert np.all(np.asarray(fr.randint(k, (10,), 5, 5)) == 5)
    b = np.asarray(fr.bernoulli(k, 0.25, (20000,)))
    assert b.dtype == np.bool_ and abs(b.mean() - 0.25) < 0.015
    p = np.array([0.2, 0.5, 0.3])
    c = np.asarray(fr.categorical(k, fnp.log(fnp.asarray(p)), shape=(20000,)))
    np.testing.assert_allclose(np.bincount(c, minlength=3) / 20000, p, atol=0.015)
    rows = np.asarray(fr.categorical(k, fnp.asarray([[0.0, 50.0], [50.0, 0.0]])))
    np.testing.assert_array_equal(rows, [1, 0])
    t = np.asarray(fr.truncated_normal(k, -0.5, 1.5, (5000,)))
    assert t.min() > -0.5 and t.max() < 1.5
    g = np.asarray(fr.gumbel(k, (20000,)))
    assert abs(g.mean() - np.euler_gamma) < 0.03


def test_bad_keys_and_arguments_are_explained():
    with pytest.raises(TypeError, match=r"needs a key .*ft\.random\.key\(seed\)"):
        fr.normal(3, (2,))
    with pytest.raises(TypeError, match="vmap"):
        fr.normal(fr.split(fr.key(0), 4), (2,))
    with pytest.raises(TypeError, match="integer seed"):
        fr.key(1.5)
    with pytest.raises(TypeError, match="float16/32/64"):
        fr.uniform(fr.key(0), (2,), np.int32)
    with pytest.raises(ValueError, match="does not broadcast"):
        fr.uniform(fr.key(0), (3,), minval=fnp.zeros(4))
    with pytest.raises(TypeError, match="scalar integer"):
        fr.fold_in(fr.key(0), fnp.arange(3))


def test_permutation_and_choice():
    k = fr.key(0)
    p = np.asarray(fr.permutation(k, 2000))
    assert sorted(p.tolist()) == list(range(2000))
    x = np.arange(12).reshape(3, 4)
    cols = np.asarray(fr.permutation(k, fnp.asarray(x), axis=1))
    assert sorted(cols[0].tolist()) == [0, 1, 2, 3] and np.all(cols - cols[:, :1] ==
                                                               (cols[0] - cols[0, 0]))
    ind = np.asarray(fr.permutation(k, fnp.asarray(x), axis=1, independent=True))
    assert all(sorted(r.tolist()) == x[i].tolist() for i, r in enumerate(ind))
    np.testing.assert_array_equal(np.asarray(ft.jit(lambda k: fr.permutation(k, 50))(k)),
                                  np.asarray(fr.permutation(k, 50)))
    without = np.asarray(fr.choice(k, 10, (10,), replace=False))
    assert sorted(without.tolist()) == list(range(10))
    picks = np.asarray(fr.choice(k, fnp.asarray([10.0, 20.0, 30.0]), (5000,),
                                 p=fnp.asarray([0.2, 0.0, 0.8])))
    assert set(np.unique(picks)) == {10.0, 30.0} and abs(np.mean(picks == 30.0) - 0.8) < 0.02
    top = np.asarray(fr.choice(k, 5, (2,), replace=False, p=fnp.asarray([0, 0, 0.5, 0.5, 0])))
    assert sorted(top.tolist()) == [2, 3]
    rows = np.asarray(fr.choice(k, fnp.asarray(x), (2,), axis=0))
    assert rows.shape == (2, 4) and all(r.tolist() in x.tolist() for r in rows)
    with pytest.raises(ValueError, match="without replacement"):
        fr.choice(k, 3, (4,), replace=False)


def test_permutation_matches_jax():
    jax = pytest.importorskip("jax")
    for n in (10, 2000):
        np.testing.assert_array_equal(np.asarray(fr.permutation(fr.key(3), n)),
                                      np.asarray(jax.random.permutation(jax.random.PRNGKey(3),
                                                                        n)))
