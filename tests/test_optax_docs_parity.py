"""What running Optax's own documentation and examples with functrans in place of jax and
optax turned up: the bias corrections (and RAdam's rectification) computed in Optax's dtype,
so that float32 training follows Optax's (examples/freezing_parameters.ipynb asserts where
Adam has got to after 199 steps), second moments and norms of complex parameters taken of
|g|**2, and Optax's private `optax._src.base`, which examples/contrib/rosenbrock_ademamix.ipynb
imports. Against Optax 0.2.8 + JAX."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.optim import optax as fo


@pytest.fixture
def optax32():
    """Optax with JAX's x64 off (restored afterwards): Optax's float32 arithmetic."""
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    prev = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)
    yield optax
    jax.config.update("jax_enable_x64", prev)


def _lib(lib):
    """The library's asarray and jit."""
    import jax
    import jax.numpy as jnp
    return (fnp.asarray, ft.jit) if lib is fo else (jnp.asarray, jax.jit)


def _freeze_swap(lib):
    """freezing_parameters.ipynb: loss |p0| + |p1| from (10, 10), Adam(0.1) with p1 frozen
    for 199 steps, then a fresh Adam with p0 frozen for 201; each step's params."""
    asarray, jit = _lib(lib)
    params = {"p0": asarray(np.float32([10.0])), "p1": asarray(np.float32([10.0]))}
    history = []
    for steps, mask in ((199, {"p0": False, "p1": True}), (201, {"p0": True, "p1": False})):
        tx = lib.transforms.selective_transform(lib.adam(0.1), freeze_mask=mask)
        state = tx.init(params)
        update = jit(tx.update)
        for _ in range(steps):
            grads = {k: asarray(np.sign(np.asarray(v))) for k, v in params.items()}
            updates, state = update(grads, state, params)
            params = lib.apply_updates(params, updates)
            history.append([np.asarray(params["p0"])[0], np.asarray(params["p1"])[0]])
    return np.array(history)


def test_float32_adam_follows_optax_where_the_example_asserts(optax32):
    ours, theirs = _freeze_swap(fo), _freeze_swap(optax32)
    assert ours.dtype == theirs.dtype == np.float32
    # the example's own checks: p0 trained to ~0 then frozen, p1 moved afterwards
    assert abs(ours[-1, 0]) < 1e-2 and ours[-1, 1] != 10.0
    # Adam on |p| keeps crossing 0; a bias correction rounded differently from Optax's sent
    # the float64-corrected run 0.16 away from it within 124 steps
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)


ADAPTIVE = [
    ("scale_by_adam", lambda m: m.scale_by_adam(b2=0.9999), "ScaleByAdamState", 2),
    ("nesterov", lambda m: m.scale_by_adam(b2=0.9999, nesterov=True), "ScaleByAdamState", 2),
    ("scale_by_amsgrad", lambda m: m.scale_by_amsgrad(b2=0.9999), "ScaleByAmsgradState", 3),
    ("scale_by_radam", lambda m: m.scale_by_radam(b2=0.9999), "ScaleByAdamState", 2),
    ("scale_by_belief", lambda m: m.scale_by_belief(b2=0.9999), "ScaleByBeliefState", 2),
]


def _updates_at_counts(lib, make, state_name, n_moments, dtype):
    """The jitted updates of `make(lib)` from states at large step counts (where `1 - b2**t`
    with b2 rounded to float32 and with b2 in float64 differ by ~1e-4)."""
    asarray, jit = _lib(lib)
    moments = [dtype([0.3, -0.2]), dtype([0.5, 0.01]), dtype([0.6, 0.02])][:n_moments]
    update = jit(make(lib).update)
    out = []
    for count in (999, 54320):
        state = getattr(lib, state_name)(asarray(np.int32(count)), *map(asarray, moments))
        out.append(np.asarray(update(asarray(dtype([1.0, -2.0])), state)[0]))
    return np.array(out)


@pytest.mark.parametrize("name,make,state_name,n", ADAPTIVE, ids=[a[0] for a in ADAPTIVE])
def test_float32_bias_corrections_are_optaxs(name, make, state_name, n, optax32):
    ours = _updates_at_counts(fo, make, state_name, n, np.float32)
    theirs = _updates_at_counts(optax32, make, state_name, n, np.float32)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


@pytest.mark.parametrize("name,make,state_name,n", ADAPTIVE, ids=[a[0] for a in ADAPTIVE])
def test_float64_bias_corrections_are_optaxs(name, make, state_name, n, optax64):
    # float64 leaves are corrected in float64 whatever functrans's default float dtype
    ours = _updates_at_counts(fo, make, state_name, n, np.float64)
    theirs = _updates_at_counts(optax64, make, state_name, n, np.float64)
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, theirs, rtol=1e-11)


def test_float32_bias_correction_in_float64_when_that_is_the_default(optax64_f64):
    # Optax under x64 corrects float32 leaves in float64 (its default float), as here
    ours = _updates_at_counts(fo, ADAPTIVE[0][1], "ScaleByAdamState", 2, np.float32)
    theirs = _updates_at_counts(optax64_f64, ADAPTIVE[0][1], "ScaleByAdamState", 2,
                                np.float32)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=1e-7)


COMPLEX = {
    "adam": lambda m: m.adam(0.1), "nadam": lambda m: m.nadam(0.1),
    "amsgrad": lambda m: m.amsgrad(0.1), "rmsprop": lambda m: m.rmsprop(0.1),
    "rmsprop_centered": lambda m: m.rmsprop(0.1, centered=True),
    "adagrad": lambda m: m.adagrad(0.1), "adabelief": lambda m: m.adabelief(0.1),
    "lamb": lambda m: m.lamb(0.1), "lars": lambda m: m.lars(0.1),
    "novograd": lambda m: m.novograd(0.1), "fromage": lambda m: m.fromage(0.1),
    "schedule_free_adamw": lambda m: m.contrib.schedule_free_adamw(0.1),
}


@pytest.mark.parametrize("name", COMPLEX)
def test_complex_parameters_use_squared_moduli(name, optax64):
    # Optax's second moments and norms take |g|**2 of complex leaves, not g**2
    rng = np.random.default_rng(5)
    grads = rng.standard_normal((4, 3, 5, 2)) @ np.array([1, 1j])
    p0 = rng.standard_normal((3, 5, 2)) @ np.array([1, 1j])

    def run(lib):
        asarray, jit = _lib(lib)
        tx = COMPLEX[name](lib)
        params = asarray(p0)
        state = tx.init(params)
        for g in grads:
            updates, state = jit(tx.update)(asarray(g), state, params)
            params = lib.apply_updates(params, updates)
        return np.asarray(params)
    ours, theirs = run(fo), run(optax64)
    assert ours.dtype == np.complex128
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-13)


def test_radam_jits_and_vmaps_over_step_counts(optax32):
    import jax
    import jax.numpy as jnp
    counts = np.array([0, 3, 5, 999, 54320], np.int32)

    def updates(lib, asarray, vmap):
        tx = lib.scale_by_radam(b2=0.99)

        def one(count):
            state = lib.ScaleByAdamState(count, asarray(np.float32([0.3, -0.2])),
                                         asarray(np.float32([0.5, 0.01])))
            return tx.update(asarray(np.float32([1.0, -2.0])), state)[0]
        return np.asarray(vmap(one)(asarray(counts)))
    ours = updates(fo, fnp.asarray, lambda f: ft.jit(ft.vmap(f)))
    theirs = updates(optax32, jnp.asarray, lambda f: jax.jit(jax.vmap(f)))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


BASE_NAMES = ["ArrayTree", "EmptyState", "GradientTransformation",
              "GradientTransformationExtraArgs", "OptState", "Params", "ScalarOrSchedule",
              "Schedule", "StatefulSchedule", "TransformInitFn", "TransformUpdateExtraArgsFn",
              "TransformUpdateFn", "Updates", "identity", "init_empty_state", "set_to_zero",
              "stateless", "stateless_with_tree_map", "with_extra_args_support"]


def test_private_src_base_imports_as_optaxs():
    optax_base = pytest.importorskip("optax._src.base")
    import functrans.optim.optax._src.base as base
    from functrans.optim.optax._src import base as same
    assert same is base
    for name in BASE_NAMES:
        assert hasattr(optax_base, name), name
        assert getattr(base, name) is getattr(fo, name)


def test_src_base_transformation_runs():
    from functrans.optim.optax._src import base
    tx = base.stateless(lambda g, p: fnp.asarray(g) * 2.0)
    assert isinstance(tx, base.GradientTransformation)
    assert isinstance(tx.init(fnp.zeros(2)), base.EmptyState)
    np.testing.assert_array_equal(np.asarray(tx.update(fnp.ones(2), tx.init(None))[0]), 2.0)


@pytest.mark.parametrize("axis", [(1, 2), (2, 1), (-3, 2), (3,)])
def test_integer_label_cross_entropy_over_a_tuple_of_axes(axis, optax64):
    # the docstring example of optax.softmax_cross_entropy_with_integer_labels (axis=(2, 3))
    import jax
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((2, 3, 4, 5))
    n_classes = int(np.prod([logits.shape[a] for a in axis]))
    batch = tuple(n for a, n in enumerate(logits.shape) if a % 4 not in [b % 4 for b in axis])
    labels = rng.integers(-n_classes, n_classes, batch)
    where = rng.random(logits.shape) > 0.3

    def ours(x, w=None):
        return fo.softmax_cross_entropy_with_integer_labels(
            x, fnp.asarray(labels), axis=axis, where=w)

    def theirs(x, w=None):
        return optax64.softmax_cross_entropy_with_integer_labels(x, labels, axis=axis, where=w)
    np.testing.assert_allclose(ft.jit(ours)(fnp.asarray(logits)), theirs(logits), rtol=1e-13)
    np.testing.assert_allclose(ours(fnp.asarray(logits), fnp.asarray(where)),
                               theirs(logits, where), rtol=1e-13)
    np.testing.assert_allclose(ft.grad(lambda x: fnp.sum(ours(x)))(fnp.asarray(logits)),
                               jax.grad(lambda x: theirs(x).sum())(logits), rtol=1e-12)


def test_integer_label_cross_entropy_names_a_bad_axis():
    with pytest.raises(TypeError, match="axis must be an int or a tuple of ints, got 1.5"):
        fo.softmax_cross_entropy_with_integer_labels(fnp.zeros((2, 3)), fnp.zeros(2, int),
                                                     axis=1.5)
