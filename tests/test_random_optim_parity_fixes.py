"""ft.random and ft.optim where they used to differ from JAX and Optax: 8/16-bit randint,
zero gamma parameters, JAX's `mode`/`replace`/scalar arguments, Optax-dtype schedules,
out-of-range integer labels, `inject_hyperparams(inner_factory=...)` and
`MultiSteps(should_skip_update_fn=...)`. The hard-coded numbers come from JAX 0.10.2 and
Optax 0.2.8 (key 42); the direct comparisons run only where they are installed."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.optim import optax as ft_optax

KEY = ft.random.PRNGKey(42)


def _jax():
    jax = pytest.importorskip("jax")
    return jax, jax.random.PRNGKey(42)


# ------------------------------------------------------------------ randint
RANDINT = [   # (minval, maxval, dtype, JAX's first 8 values)
    (0, 10, np.int8, [4, 4, 1, 9, 9, 9, 7, 7]),
    (0, 10, np.uint16, [4, 4, 1, 9, 9, 9, 7, 7]),
    (-10, 5, np.uint8, [4, 4, 1, 4, 4, 4, 2, 2]),
    (-10, 5, np.int8, [-1, -1, -4, -6, 4, -1, -8, 2]),
    (0, 300, np.uint8, [196, 18, 183, 193, 141, 107, 129, 39]),
    (-200, 200, np.int8, [68, -110, 55, 65, 13, -21, 1, -89]),
    (0, 70000, np.uint16, [13508, 45074, 33975, 48321, 49805, 40299, 2433, 43303]),
    (0.0, 10.0, np.int32, [4, 4, 1, 9, 9, 9, 7, 7]),
    (-1.5, 10.9, np.int32, [0, 0, 8, 7, 3, 5, 7, 6]),
]


@pytest.mark.parametrize("lo, hi, dtype, want", RANDINT)
def test_randint_small_dtypes_and_float_bounds_match_jax(lo, hi, dtype, want):
    got = ft.random.randint(KEY, (8,), lo, hi, dtype)
    assert got.dtype == dtype
    np.testing.assert_array_equal(np.asarray(got), want)
    jitted = ft.jit(lambda k: ft.random.randint(k, (8,), lo, hi, dtype))(KEY)
    np.testing.assert_array_equal(np.asarray(jitted), want)


@pytest.mark.parametrize("lo, hi, dtype", [(-128, 128, np.int8), (0, 256, np.uint8),
                                           (-5, 5, np.int16), (3, 3, np.int8),
                                           ([0, -5, 100], [10, 5, 300], np.uint8)])
def test_randint_small_dtypes_match_jax_directly(lo, hi, dtype):
    jax, jk = _jax()
    shape = (64,) if np.ndim(lo) == 0 else (3,)
    np.testing.assert_array_equal(
        np.asarray(ft.random.randint(KEY, shape, np.asarray(lo), np.asarray(hi), dtype)),
        np.asarray(jax.random.randint(jk, shape, np.asarray(lo), np.asarray(hi), dtype)))


# ------------------------------------------------------------------ gamma family at zero
def test_zero_shape_parameters_give_the_limits_and_negative_ones_nan():
    a = np.array([0.0, -1.0, np.nan, 2.0], np.float32)
    g = np.asarray(ft.random.gamma(KEY, a))
    assert g[0] == 0 and np.isnan(g[1:3]).all() and g[3] > 0
    lg = np.asarray(ft.random.loggamma(KEY, a))
    assert lg[0] == -np.inf and np.isnan(lg[1:3]).all() and np.isfinite(lg[3])
    b = np.asarray(ft.random.beta(KEY, np.array([0, 1, 0, -1, 1, 0], np.float32),
                                  np.array([1, 0, 0, 1, -1, 2], np.float32)))
    np.testing.assert_array_equal(b, [0, 1, np.nan, np.nan, np.nan, 0])   # as JAX's
    assert float(ft.random.chisquare(KEY, 0.0)) == 0.0


def test_dirichlet_with_zero_concentrations():
    alpha = np.array([[0.0, 1.0, 2.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0], [-1.0, 1.0, 2.0]],
                     np.float32)
    d = np.asarray(ft.jit(ft.random.dirichlet)(KEY, alpha))
    assert d[0, 0] == 0 and (d[0, 1:] > 0).all() and d[0].sum() == pytest.approx(1, abs=1e-6)
    np.testing.assert_array_equal(d[1], [0, 0, 1])
    assert np.isnan(d[2:]).all()                 # all zero or a negative one: nan, as JAX


# ------------------------------------------------------------------ modes and replace=False
def test_gumbel_modes_match_jax():
    want = {None: [0.33409339, 0.95201945, 0.72553056, 0.54817152],
            "low": [0.33409339, 0.95201945, 0.72553056, 0.54817152],
            "high": [0.39925799, -0.12997562, 0.04309541, 0.19444373],
            "highest": [0.39925781, -0.12997583, 0.04309510, 0.19444339]}
    for mode, values in want.items():
        got = ft.random.gumbel(KEY, (4,), np.float32, mode)
        np.testing.assert_allclose(np.asarray(got), values, rtol=2e-6)
        np.testing.assert_allclose(np.asarray(ft.jit(
            lambda k, m=mode: ft.random.gumbel(k, (4,), np.float32, m))(KEY)), values,
            rtol=2e-6)
    with pytest.raises(ValueError, match="mode must be"):
        ft.random.gumbel(KEY, mode="bad")


def test_gumbel_modes_match_jax_on_many_draws():
    jax, jk = _jax()
    for mode in ("low", "high", "highest"):
        np.testing.assert_allclose(np.asarray(ft.random.gumbel(KEY, (2000,), mode=mode)),
                                   np.asarray(jax.random.gumbel(jk, (2000,), mode=mode)),
                                   rtol=1e-5, atol=1e-6)
    # "highest" is float32's; other dtypes take "high", as in JAX
    np.testing.assert_array_equal(np.asarray(ft.random.gumbel(KEY, (50,), np.float16, "high")),
                                  np.asarray(ft.random.gumbel(KEY, (50,), np.float16,
                                                              "highest")))


def test_bernoulli_high_mode_resolves_below_the_uniforms_spacing():
    p = ft.random.uniform(KEY, (16,)) + 2.0 ** -24     # just above each low-mode uniform
    high = ft.random.bernoulli(KEY, p, mode="high")
    np.testing.assert_array_equal(np.asarray(high).astype(int),
                                  [0, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 1, 0, 0, 0, 1])
    assert np.asarray(ft.random.bernoulli(KEY, p, mode="low")).all()
    with pytest.raises(ValueError, match="mode must be 'low' or 'high'"):
        ft.random.bernoulli(KEY, 0.5, mode="highest")


def test_categorical_mode_and_sampling_without_replacement_match_jax():
    logits = np.array([[0.0, 1.0, 2.0, 3.0], [3.0, 2.0, 1.0, 0.0]], np.float32)
    got = ft.random.categorical(KEY, logits, shape=(3, 2), replace=False)
    np.testing.assert_array_equal(np.asarray(got), [[3, 0], [2, 1], [1, 3]])
    got = ft.random.categorical(KEY, logits.T, axis=0, shape=(3, 2), replace=False)
    np.testing.assert_array_equal(np.asarray(got), [[2, 0], [3, 1], [1, 2]])
    every = ft.random.categorical(KEY, logits[0], shape=(4,), replace=False)
    np.testing.assert_array_equal(np.asarray(every), [3, 2, 1, 0])
    np.testing.assert_array_equal(np.asarray(ft.random.categorical(KEY, logits, replace=False)),
                                  [3, 0])
    batched = ft.vmap(lambda k: ft.random.categorical(k, logits, shape=(4, 2),
                                                      replace=False))(ft.random.split(KEY, 3))
    assert all(sorted(np.asarray(batched)[i, :, j]) == [0, 1, 2, 3]
               for i in range(3) for j in range(2))          # distinct classes per sample
    with pytest.raises(ValueError, match="cannot take 5 samples without replacement"):
        ft.random.categorical(KEY, logits, shape=(5, 2), replace=False)
    high = ft.random.categorical(KEY, logits[0], shape=(8,), mode="high")
    np.testing.assert_array_equal(np.asarray(high), [3, 2, 2, 3, 2, 2, 2, 3])
    p = np.array([0.1, 0.2, 0.3, 0.2, 0.2], np.float32)
    np.testing.assert_array_equal(
        np.asarray(ft.random.choice(KEY, 5, (3,), replace=False, p=p, mode="high")), [4, 2, 3])


def test_categorical_without_replacement_matches_jax_directly():
    jax, jk = _jax()
    logits = np.random.default_rng(0).standard_normal((3, 5, 7)).astype(np.float32)
    np.testing.assert_array_equal(
        np.asarray(ft.random.categorical(KEY, logits, 1, (2, 2, 3, 7), False)),
        np.asarray(jax.random.categorical(jk, logits, 1, (2, 2, 3, 7), False)))


# ------------------------------------------------------------------ scalar arguments
def test_zero_d_arrays_count_as_ints_in_choice_and_permutation():
    for a in (np.array(5), np.int8(5), 5.0, fnp.asarray(5)):
        np.testing.assert_array_equal(np.asarray(ft.random.choice(KEY, a, (3,))),
                                      np.asarray(ft.random.choice(KEY, 5, (3,))))
    np.testing.assert_array_equal(np.asarray(ft.random.permutation(KEY, np.array(5))),
                                  [4, 2, 3, 0, 1])               # JAX's
    with pytest.raises(TypeError, match="needs an integer or an array with an axis"):
        ft.random.permutation(KEY, np.array(5.0))


def test_fold_in_float_and_bool_data_rademacher_dtypes_and_empty_ball():
    np.testing.assert_array_equal(np.asarray(ft.random.fold_in(KEY, 3.0)),
                                  [3134548294, 894150801])
    np.testing.assert_array_equal(np.asarray(ft.random.fold_in(KEY, 3.7)),
                                  np.asarray(ft.random.fold_in(KEY, 3)))
    np.testing.assert_array_equal(np.asarray(ft.random.fold_in(KEY, True)),
                                  [64467757, 2916123636])
    signs = ft.random.rademacher(KEY, (6,), bool)
    assert signs.dtype == np.bool_ and np.asarray(signs).all()   # -1 and 1 are both True
    np.testing.assert_array_equal(np.asarray(ft.random.rademacher(KEY, (6,), np.uint8)),
                                  [1, 255, 255, 255, 1, 255])
    assert ft.random.ball(KEY, 0).shape == (0,)
    assert ft.random.ball(KEY, 0, shape=(2,)).shape == (2, 0)
    assert ft.random.key_dtype() == np.uint32 == ft.random.key(0).dtype


# ------------------------------------------------------------------ optax namespace
def test_optax_schedules_return_the_default_float_dtype():
    for schedule in (ft_optax.linear_schedule(1.0, 0.1, 50), ft_optax.constant_schedule(0.1),
                     ft_optax.cosine_decay_schedule(0.1, 50),
                     ft_optax.warmup_cosine_decay_schedule(0.0, 1.0, 4, 14)):
        assert schedule(3).dtype == np.float32
        assert ft.jit(schedule)(fnp.asarray(3, dtype=np.int32)).dtype == np.float32
        params = fnp.ones(3, dtype=np.float32)
        assert (params - schedule(3) * params).dtype == np.float32
    assert float(ft_optax.linear_schedule(1.0, 0.1, 50)(10)) == pytest.approx(0.82, rel=1e-7)
    previous = ft.config.default_float_dtype
    ft.config.update("default_float_dtype", "float64")
    try:
        assert ft_optax.linear_schedule(1.0, 0.1, 50)(3).dtype == np.float64
    finally:
        ft.config.update("default_float_dtype", previous)


def test_integer_label_cross_entropy_out_of_range_is_nan_eagerly_and_under_jit():
    loss = ft_optax.softmax_cross_entropy_with_integer_labels
    logits = fnp.asarray(np.array([[0, 1, 2], [1, 2, 3], [0, 0, 0]], np.float32))
    want = {(5, 0, 1): [np.nan, 2.4076061, 1.0986123],
            (-1, 0, 1): [0.40760612, 2.4076061, 1.0986123],      # from the end, as Optax
            (-4, 3, 2): [np.nan, np.nan, 1.0986123]}
    for labels, values in want.items():
        labels = fnp.asarray(labels)
        np.testing.assert_allclose(np.asarray(loss(logits, labels)), values, rtol=1e-6)
        np.testing.assert_allclose(np.asarray(ft.jit(loss)(logits, labels)), values, rtol=1e-6)
    grad = ft.grad(lambda x: fnp.sum(loss(x, fnp.asarray([5, 0, 1]))))(logits)
    np.testing.assert_allclose(np.asarray(grad)[0], [0.09003057, 0.24472848, 0.66524094],
                               rtol=1e-6)                     # Optax's: the softmax alone


def test_inject_hyperparams_takes_optax_keyword():
    opt = ft_optax.inject_hyperparams(inner_factory=ft_optax.sgd)(learning_rate=0.1)
    state = opt.init({"w": fnp.ones(2)})
    assert float(state.hyperparams["learning_rate"]) == pytest.approx(0.1)


def _skip_not_finite(updates, gradient_step, params):
    bad = sum(fnp.sum(~fnp.isfinite(x)) for x in ft.tree_util.tree_leaves(updates))
    return bad > 0, {"num_not_finite": bad.astype(np.int32)}


@pytest.mark.parametrize("jit", [False, True])
def test_multi_steps_should_skip_update_fn_as_optax(jit):
    grads = [[1, 2], [np.nan, 1], [3, 1], [1, np.inf], [2, 2], [0.5, 1]]
    opt = ft_optax.MultiSteps(ft_optax.sgd(0.1), every_k_schedule=2,
                              should_skip_update_fn=_skip_not_finite)
    params = {"w": fnp.ones(2)}
    state = opt.init(params)
    assert int(state.skip_state["num_not_finite"]) == 0
    update = ft.jit(opt.update) if jit else opt.update
    got = []
    for g in grads:
        updates, state = update({"w": fnp.asarray(np.array(g, np.float32))}, state, params)
        got.append((np.asarray(updates["w"]).tolist(), int(state.mini_step),
                    int(state.gradient_step), int(state.skip_state["num_not_finite"])))
    want = [([0, 0], 1, 0, 0), ([0, 0], 1, 0, 1), ([-0.2, -0.15], 0, 1, 0),   # Optax's
            ([0, 0], 0, 1, 1), ([0, 0], 1, 1, 0), ([-0.125, -0.15], 0, 2, 0)]
    for (u, *counts), (wu, *wcounts) in zip(got, want):
        np.testing.assert_allclose(u, wu, rtol=1e-6)
        assert counts == wcounts
    bad = ft_optax.MultiSteps(ft_optax.sgd(0.1), 2,
                              should_skip_update_fn=lambda u, s, p: (fnp.asarray(1), ()))
    with pytest.raises(ValueError, match="must return a bool scalar array"):
        bad.update(params, bad.init(params))
