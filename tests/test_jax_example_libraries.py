"""functrans.example_libraries (stax, optimizers) against jax.example_libraries."""
import contextlib
import itertools

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.example_libraries import optimizers, stax


@pytest.fixture
def jax64():
    """JAX and functrans with float64 the default float for the test's duration."""
    jax = pytest.importorskip("jax")
    with jax.enable_x64(True), ft.enable_x64(True):
        yield jax


def _to_jax(tree):
    import jax.numpy as jnp
    return ft.tree_util.tree_map(lambda x: jnp.asarray(np.asarray(x)), tree)


def _assert_trees_close(ours, theirs, rtol=1e-10, atol=1e-12):
    ours_leaves = ft.tree_util.tree_leaves(ours)
    import jax
    theirs_leaves = jax.tree_util.tree_leaves(theirs)
    assert len(ours_leaves) == len(theirs_leaves)
    for a, b in zip(ours_leaves, theirs_leaves):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


# -- the classic training loop, as written for JAX --------------------------------------

def _synthetic_data(n=128, dim=36, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, dim)) * 2.0
    labels = rng.integers(0, classes, n)
    images = (centers[labels] + rng.standard_normal((n, dim))).astype(np.float32)
    return images, np.eye(classes, dtype=np.float32)[labels]


def _train(jax, jnp, stax, optimizers, net, input_shape, images, targets, steps=40):
    """JAX's mnist_classifier example, shortened: run unchanged with either library."""
    from jax import jit, grad, random
    init_random_params, predict = net

    def loss(params, batch):
        inputs, targets = batch
        preds = predict(params, inputs)
        return -jnp.mean(jnp.sum(preds * targets, axis=1))

    def accuracy(params, batch):
        inputs, targets = batch
        target_class = jnp.argmax(targets, axis=1)
        predicted_class = jnp.argmax(predict(params, inputs), axis=1)
        return jnp.mean(predicted_class == target_class)

    opt_init, opt_update, get_params = optimizers.momentum(0.05, mass=0.9)

    @jit
    def update(i, opt_state, batch):
        params = get_params(opt_state)
        return opt_update(i, grad(loss)(params, batch), opt_state)

    _, init_params = init_random_params(random.PRNGKey(0), input_shape)
    opt_state = opt_init(init_params)
    itercount = itertools.count()
    batch = (jnp.asarray(images), jnp.asarray(targets))
    before = float(loss(init_params, batch))
    for _ in range(steps):
        opt_state = update(next(itercount), opt_state, batch)
    params = get_params(opt_state)
    return before, float(loss(params, batch)), float(accuracy(params, batch))


@contextlib.contextmanager
def _functrans_as_jax():
    import sys
    saved = {k: sys.modules.get(k) for k in ("jax", "jax.numpy")}
    sys.modules["jax"], sys.modules["jax.numpy"] = ft, fnp
    try:
        yield ft, fnp
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def test_mnist_style_training_loop_runs_unchanged():
    images, targets = _synthetic_data()
    net = stax.serial(stax.Dense(32), stax.Relu, stax.Dense(32), stax.Relu, stax.Dense(4),
                      stax.LogSoftmax)
    with _functrans_as_jax() as (jax, jnp):
        before, after, acc = _train(jax, jnp, stax, optimizers, net, (-1, 36), images, targets)
    assert after < 0.2 * before
    assert acc > 0.95


def test_conv_training_loop_runs_unchanged():
    images, targets = _synthetic_data(n=32, dim=36)
    images = images.reshape(-1, 6, 6, 1)
    net = stax.serial(stax.Conv(4, (3, 3), padding="SAME"), stax.BatchNorm(), stax.Relu,
                      stax.MaxPool((2, 2), (2, 2)), stax.Flatten, stax.Dense(4),
                      stax.LogSoftmax)
    with _functrans_as_jax() as (jax, jnp):
        before, after, acc = _train(jax, jnp, stax, optimizers, net, (-1, 6, 6, 1), images,
                                    targets, steps=25)
    assert after < 0.5 * before
    assert acc > 0.9


def test_training_loop_matches_jax(jax64):
    from jax.example_libraries import optimizers as jopt, stax as jstax
    import jax.numpy as jnp
    images, targets = _synthetic_data(n=16, dim=6)
    images, targets = images.astype(np.float64), targets.astype(np.float64)

    def build(s):
        return s.serial(s.Dense(5), s.Tanh, s.Dense(4), s.LogSoftmax)
    ours_init, ours_apply = build(stax)
    theirs_init, theirs_apply = build(jstax)
    _, params = ours_init(ft.random.PRNGKey(0), (-1, 6))
    params = ft.tree_util.tree_map(lambda p: fnp.asarray(p, fnp.float64), params)
    results = []
    for lib, np_, apply, opt, p in ((ft, fnp, ours_apply, optimizers, params),
                                    (jax64, jnp, theirs_apply, jopt, _to_jax(params))):
        def loss(p, apply=apply, np_=np_):
            return -np_.mean(np_.sum(apply(p, images) * targets, axis=1))
        init, update, get_params = opt.adam(0.1)
        state = init(p)
        for i in range(5):
            state = lib.jit(update)(i, lib.grad(loss)(get_params(state)), state)
        results.append(get_params(state))
    _assert_trees_close(*results)


# -- each layer against JAX's, on the same parameters -----------------------------------

def _layer_cases(s):
    conv_nchw = ("NCHW", "OIHW", "NCHW")
    return {
        "dense": (s.Dense(3), (2, 5)),
        "dense_3d": (s.Dense(4), (2, 3, 5)),
        "conv_valid": (s.Conv(3, (3, 2)), (2, 6, 5, 2)),
        "conv_same_strided": (s.Conv(3, (3, 3), (2, 2), "SAME"), (2, 7, 6, 2)),
        "conv_explicit": (s.Conv(2, (2, 2), padding=((1, 0), (2, 1))), (1, 5, 4, 3)),
        "conv_nchw": (s.GeneralConv(conv_nchw, 3, (2, 3), (1, 2), "SAME"), (2, 2, 5, 6)),
        "conv_1d": (s.GeneralConv(("NWC", "WIO", "NWC"), 3, (3,)), (2, 7, 2)),
        "conv_3d": (s.GeneralConv(("NDHWC", "DHWIO", "NDHWC"), 2, (2, 2, 2)),
                    (1, 4, 3, 4, 2)),
        "convT_valid": (s.ConvTranspose(3, (3, 3), (2, 2)), (2, 4, 3, 2)),
        "convT_same": (s.ConvTranspose(2, (3, 2), (2, 1), "SAME"), (2, 4, 3, 2)),
        "convT_1d": (s.Conv1DTranspose(2, (4,), (3,), "SAME"), (2, 5, 3)),
        "batchnorm": (s.BatchNorm(), (3, 4, 4, 2)),
        "batchnorm_axis0_no_center": (s.BatchNorm(axis=0, center=False), (5, 3)),
        "batchnorm_no_scale": (s.BatchNorm(axis=(0, 2), scale=False, epsilon=1e-3),
                               (4, 3, 2)),
        "batchnorm_plain": (s.BatchNorm(axis=(0,), center=False, scale=False), (4, 3)),
        **{name.lower(): (getattr(s, name), (3, 5)) for name in (
            "Tanh", "Relu", "Exp", "LogSoftmax", "Softmax", "Softplus", "Sigmoid", "Elu",
            "LeakyRelu", "Selu", "Gelu")},
        "maxpool": (s.MaxPool((2, 2)), (2, 5, 4, 3)),
        "maxpool_same_strided": (s.MaxPool((3, 2), (2, 2), "SAME"), (2, 5, 4, 3)),
        "sumpool_nchw": (s.SumPool((2, 2), (1, 2), spec="NCHW"), (2, 3, 5, 4)),
        "avgpool": (s.AvgPool((2, 3), (2, 1)), (2, 5, 4, 3)),
        "avgpool_same": (s.AvgPool((3, 3), (2, 2), "SAME"), (2, 5, 4, 3)),
        "avgpool_1d_spec": (s.AvgPool((3,), padding="SAME", spec="NCW"), (2, 3, 6)),
        "flatten": (s.Flatten, (2, 3, 4, 2)),
        "identity": (s.Identity, (2, 3)),
        "dropout_test_mode": (s.Dropout(0.5, mode="test"), (2, 3)),
        "residual": (s.serial(s.FanOut(2), s.parallel(s.Dense(4), s.Identity), s.FanInSum),
                     (2, 4)),
        "concat": (s.serial(s.FanOut(3), s.parallel(s.Dense(2), s.Dense(3), s.Relu),
                            s.FanInConcat()), (2, 4)),
        "concat_axis0": (s.serial(s.FanOut(2), s.FanInConcat(axis=0)), (2, 4)),
        "shape_dependent": (s.shape_dependent(lambda shape: s.Dense(shape[-1] * 2)), (2, 3)),
        "deep": (s.serial(s.Conv(2, (2, 2)), s.Elu, s.AvgPool((2, 2)), s.Flatten,
                          s.Dense(3), s.Softmax), (2, 5, 5, 1)),
    }


CASES = sorted(_layer_cases(stax))


@pytest.mark.parametrize("name", CASES)
def test_layer_matches_jax(name, jax64):
    from jax.example_libraries import stax as jstax
    (init, apply), shape = _layer_cases(stax)[name]
    (jinit, japply), _ = _layer_cases(jstax)[name]
    with jax64.enable_x64(False), ft.enable_x64(False):    # float32 parameters
        out_shape, params = init(ft.random.PRNGKey(1), shape)
        j_out_shape, j_params = jinit(jax64.random.PRNGKey(1), shape)
    assert ft.tree_util.tree_leaves(out_shape) == jax64.tree_util.tree_leaves(j_out_shape)
    params = ft.tree_util.tree_map(lambda p: fnp.asarray(p, fnp.float64), params)
    # initial parameters are JAX's numbers too (same keys, same initializers)
    _assert_trees_close(params, j_params, rtol=1e-6, atol=1e-7)
    x = np.random.default_rng(2).standard_normal(shape)
    ours = apply(params, fnp.asarray(x), rng=ft.random.PRNGKey(3))
    theirs = japply(_to_jax(params), jax64.numpy.asarray(x), rng=jax64.random.PRNGKey(3))
    _assert_trees_close(ours, theirs)


@pytest.mark.parametrize("name", ["conv_same_strided", "convT_valid", "convT_same", "flatten",
                                  "dense", "batchnorm", "maxpool_same_strided",
                                  "avgpool", "deep"])
def test_unknown_batch_dimension_stays_minus_one(name, jax64):
    from jax.example_libraries import stax as jstax
    (init, _), shape = _layer_cases(stax)[name]
    (jinit, _), _ = _layer_cases(jstax)[name]
    shape = (-1,) + shape[1:]
    out_shape, _ = init(ft.random.PRNGKey(0), shape)
    assert out_shape[0] == -1
    j_out_shape = jinit(jax64.random.PRNGKey(0), shape)[0]
    if "pool" in name or name == "deep":    # JAX's pooling shapes turn -1 into 0
        j_out_shape = (-1,) + tuple(j_out_shape[1:])
    assert tuple(out_shape) == tuple(j_out_shape)


def test_unknown_dimensions_stay_minus_one_in_any_layout():
    nchw = stax.GeneralConv(("NCHW", "OIHW", "NCHW"), 3, (2, 3), (1, 2), "SAME")
    assert nchw[0](ft.random.PRNGKey(0), (-1, 2, 5, 6))[0] == (-1, 3, 5, 3)
    convT = stax.GeneralConvTranspose(("HWNC", "HWIO", "NCHW"), 2, (3, 3), (2, 2))
    assert convT[0](ft.random.PRNGKey(0), (4, 3, -1, 2))[0] == (-1, 2, 9, 7)
    pool = stax.MaxPool((2, 2), spec="NCHW")
    assert pool[0](ft.random.PRNGKey(0), (-1, 3, -1, 5))[0] == (-1, 3, -1, 4)


def test_init_output_shape_is_apply_output_shape():
    for name, ((init, apply), shape) in _layer_cases(stax).items():
        out_shape, params = init(ft.random.PRNGKey(0), shape)
        out = apply(params, fnp.ones(shape), rng=ft.random.PRNGKey(1))
        shapes = [tuple(o.shape) for o in out] if isinstance(out, list) else [out.shape]
        expected = out_shape if isinstance(out, list) else [out_shape]
        assert [tuple(s) for s in expected] == shapes, name


def test_conv_transpose_explicit_padding_shape_is_the_applied_shape():
    init, apply = stax.ConvTranspose(2, (3, 3), (2, 2), padding=((1, 0), (0, 2)))
    out_shape, params = init(ft.random.PRNGKey(0), (1, 4, 5, 3))
    assert out_shape == (1, 6, 9, 2)
    assert apply(params, fnp.ones((1, 4, 5, 3))).shape == out_shape


def test_dropout_matches_jax_bits_and_needs_a_key(jax64):
    from jax.example_libraries import stax as jstax
    x = np.random.default_rng(0).standard_normal((4, 50))
    _, apply = stax.Dropout(0.7)
    _, japply = jstax.Dropout(0.7)
    with jax64.enable_x64(False), ft.enable_x64(False):    # float32 uniform bits
        ours = apply((), fnp.asarray(x), rng=ft.random.PRNGKey(5))
        theirs = japply((), jax64.numpy.asarray(x), rng=jax64.random.PRNGKey(5))
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-6)
    kept = np.asarray(ours) != 0
    assert 0.55 < kept.mean() < 0.85
    np.testing.assert_allclose(np.asarray(ours)[kept], x[kept] / 0.7, rtol=1e-6)
    for mode in ("train", "test"):
        with pytest.raises(ValueError, match="rng"):
            stax.Dropout(0.7, mode)[1]((), fnp.asarray(x))


def test_serial_passes_split_keys_to_dropout_under_jit_and_vmap():
    init, apply = stax.serial(stax.Dense(8), stax.Dropout(0.5), stax.Dense(2))
    _, params = init(ft.random.PRNGKey(0), (-1, 3))
    x = fnp.ones((5, 3))
    key = ft.random.PRNGKey(1)
    eager = apply(params, x, rng=key)
    np.testing.assert_allclose(np.asarray(ft.jit(apply)(params, x, rng=key)),
                               np.asarray(eager), rtol=1e-6)
    keys = ft.random.split(key, 3)
    batched = ft.vmap(lambda k: apply(params, x, rng=k))(keys)
    for i in range(3):
        np.testing.assert_allclose(np.asarray(batched[i]),
                                   np.asarray(apply(params, x, rng=keys[i])), rtol=1e-6)
    assert not np.allclose(np.asarray(batched[0]), np.asarray(batched[1]))


def test_grad_through_stax_network_matches_finite_differences():
    with ft.enable_x64():
        init, apply = stax.serial(stax.Conv(2, (2, 2), padding="SAME"), stax.BatchNorm(),
                                  stax.Tanh, stax.AvgPool((2, 2)), stax.Flatten, stax.Dense(2),
                                  stax.LogSoftmax)
        _, params = init(ft.random.PRNGKey(0), (2, 4, 4, 1))
        x = fnp.asarray(np.random.default_rng(0).standard_normal((2, 4, 4, 1)))
        ft.test_util.check_grads(lambda p: fnp.sum(apply(p, x) ** 2), (params,), order=1,
                                 modes=("rev",))


def test_stax_bad_input_errors():
    with pytest.raises(TypeError, match="layer 1 must be an"):
        stax.serial(stax.Relu, stax.FanOut)
    with pytest.raises(ValueError, match="input_shape"):
        stax.Dense(3)[0](ft.random.PRNGKey(0), ())
    _, params = stax.Dense(3)[0](ft.random.PRNGKey(0), (2, 4))
    with pytest.raises(ValueError, match=r"\(2, 5\).*\(4, 3\)"):
        stax.Dense(3)[1](params, fnp.ones((2, 5)))
    with pytest.raises(ValueError, match="2 entries for 3 layers"):
        stax.parallel(stax.Relu, stax.Relu, stax.Relu)[1]((), [fnp.ones(2)] * 2)
    with pytest.raises(ValueError, match="filter_shape"):
        stax.Conv(2, (3,))[0](ft.random.PRNGKey(0), (1, 4, 4, 1))
    with pytest.raises(ValueError, match="dimension_numbers"):
        stax.GeneralConv(("NHWC", "HWIO", "NCW"), 2, (3, 3))
    with pytest.raises(ValueError, match="at least 4"):
        stax.MaxPool((2, 2))[0](ft.random.PRNGKey(0), (4, 4, 1))
    with pytest.raises(ValueError, match="rank"):
        stax.MaxPool((2, 2))[0](ft.random.PRNGKey(0), (4, 4, 1, 1, 1))
    with pytest.raises(ValueError, match="does not fit"):     # at init, as apply would
        stax.Conv(2, (3, 3))[0](ft.random.PRNGKey(0), (1, 2, 2, 1))
    with pytest.raises(ValueError, match="padding must be"):
        stax.ConvTranspose(2, (3, 3), padding="FULL")[0](ft.random.PRNGKey(0), (1, 4, 4, 1))


def test_public_names_match_jax():
    jstax = pytest.importorskip("jax.example_libraries.stax")
    jopt = pytest.importorskip("jax.example_libraries.optimizers")
    for ours, theirs in ((stax, jstax), (optimizers, jopt)):
        public = {n for n in dir(theirs) if not n.startswith("_")
                  and getattr(theirs, n).__class__.__name__ != "module"}
        public -= {"Any", "Callable", "NamedTuple", "namedtuple", "functools", "partial",
                   "math", "annotations", "map", "zip", "safe_map", "safe_zip", "unzip2"}
        assert sorted(public - set(dir(ours))) == []


# -- optimizers: trajectories against JAX's in float64 ----------------------------------

OPTIMIZERS = {
    "sgd": lambda o: o.sgd(0.1),
    "sgd_schedule": lambda o: o.sgd(o.exponential_decay(0.1, 2, 0.5)),
    "momentum": lambda o: o.momentum(0.1, 0.9),
    "nesterov": lambda o: o.nesterov(0.05, mass=0.8),
    "adagrad": lambda o: o.adagrad(0.2),
    "adagrad_no_momentum": lambda o: o.adagrad(0.2, momentum=0.0),
    "rmsprop": lambda o: o.rmsprop(0.01, gamma=0.8),
    "rmsprop_momentum": lambda o: o.rmsprop_momentum(0.01, momentum=0.5),
    "adam": lambda o: o.adam(0.05),
    "adam_schedule": lambda o: o.adam(o.inverse_time_decay(0.1, 2, 0.5, staircase=True)),
    "adamax": lambda o: o.adamax(0.05, b1=0.8),
    "sm3": lambda o: o.sm3(0.1),
    "sm3_no_momentum": lambda o: o.sm3(0.3, momentum=0.0),
}


def _params():
    rng = np.random.default_rng(0)
    return {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4),
            "s": np.float64(0.7), "t": (rng.standard_normal((2, 3, 2)),)}


def _trajectory(lib, np_, opt, params, steps=5):
    init, update, get_params = opt
    grad = lib.grad(lambda p: sum(np_.sum(np_.sin(x) * x ** 2)
                                  for x in lib.tree_util.tree_leaves(p)))
    state = init(params)
    out = []
    for i in range(steps):
        state = update(i, grad(get_params(state)), state)
        out.append(get_params(state))
    return out


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_trajectory_matches_jax(name, jax64):
    from jax.example_libraries import optimizers as jopt
    import jax.numpy as jnp
    params = _params()
    ours = _trajectory(ft, fnp, OPTIMIZERS[name](optimizers),
                       ft.tree_util.tree_map(fnp.asarray, params))
    theirs = _trajectory(jax64, jnp, OPTIMIZERS[name](jopt), _to_jax(params))
    for a, b in zip(ours, theirs):
        _assert_trees_close(a, b, rtol=1e-10, atol=1e-13)
    assert not np.allclose(np.asarray(ours[-1]["w"]), params["w"])


def test_optimizer_update_under_jit_and_vmap():
    init, update, get_params = optimizers.adam(0.1)
    params = {"w": fnp.ones((3, 2)), "b": fnp.zeros(2)}
    grads = {"w": fnp.full((3, 2), 0.5), "b": fnp.ones(2)}
    eager = update(0, grads, init(params))
    jitted = ft.jit(update)(0, grads, init(params))
    _assert_trees_close_ft(get_params(eager), get_params(jitted))
    many = ft.vmap(lambda g: get_params(update(2, g, init(params))))(
        ft.tree_util.tree_map(lambda g: fnp.stack([g, 2 * g]), grads))
    single = get_params(update(2, ft.tree_util.tree_map(lambda g: 2 * g, grads),
                               init(params)))
    _assert_trees_close_ft(ft.tree_util.tree_map(lambda x: x[1], many), single)


def _assert_trees_close_ft(a, b):
    for x, y in zip(ft.tree_util.tree_leaves(a), ft.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6)


SCHEDULES = {
    "constant": lambda o: o.constant(0.3),
    "exponential_decay": lambda o: o.exponential_decay(0.5, 3, 0.7),
    "inverse_time_decay": lambda o: o.inverse_time_decay(0.5, 3, 0.7),
    "inverse_time_decay_staircase": lambda o: o.inverse_time_decay(0.5, 3, 0.7, True),
    "polynomial_decay": lambda o: o.polynomial_decay(0.5, 6, 0.1, power=2.0),
    "piecewise_constant": lambda o: o.piecewise_constant([2, 5], [1.0, 0.5, 0.1]),
    "make_schedule_number": lambda o: o.make_schedule(0.25),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_matches_jax(name, jax64):
    from jax.example_libraries import optimizers as jopt
    ours, theirs = SCHEDULES[name](optimizers), SCHEDULES[name](jopt)
    for i in range(10):
        np.testing.assert_allclose(np.asarray(ours(i)), np.asarray(theirs(i)), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(ft.jit(ours)(i)), np.asarray(theirs(i)),
                                   rtol=1e-6)


def test_l2_norm_and_clip_grads_match_jax(jax64):
    from jax.example_libraries import optimizers as jopt
    tree = _params()
    np.testing.assert_allclose(np.asarray(optimizers.l2_norm(tree)),
                               np.asarray(jopt.l2_norm(_to_jax(tree))), rtol=1e-12)
    for max_norm in (0.5, 100.0):
        _assert_trees_close(optimizers.clip_grads(tree, max_norm),
                            jopt.clip_grads(_to_jax(tree), max_norm))
    ft.test_util.check_grads(lambda t: optimizers.l2_norm(optimizers.clip_grads(t, 1.0)),
                             (ft.tree_util.tree_map(fnp.asarray, tree),), order=1)


def test_pack_unpack_optimizer_state_round_trip():
    init, update, get_params = optimizers.momentum(0.1, 0.9)
    params = {"a": fnp.ones(3), "b": [fnp.zeros((2, 2)), fnp.full((), 2.0)]}
    state = update(0, ft.tree_util.tree_map(fnp.ones_like, params), init(params))
    marked = optimizers.unpack_optimizer_state(state)
    assert isinstance(marked["a"], optimizers.JoinPoint)
    again = optimizers.pack_optimizer_state(marked)
    assert again.tree_def == state.tree_def and again.subtree_defs == state.subtree_defs
    _assert_trees_close_ft(get_params(again), get_params(state))
    with pytest.raises(ValueError, match="JoinPoint"):
        optimizers.pack_optimizer_state({"a": 1.0})


def test_optimizer_decorator_and_errors():
    @optimizers.optimizer
    def halve():
        return (lambda x: x, lambda i, g, x: x / 2 - g, lambda x: x)
    init, update, get_params = halve()
    state = update(0, {"p": fnp.ones(2)}, init({"p": fnp.full(2, 4.0)}))
    np.testing.assert_allclose(np.asarray(get_params(state)["p"]), [1.0, 1.0])
    with pytest.raises(TypeError, match="grad tree"):
        update(0, {"q": fnp.ones(2)}, state)
    with pytest.raises(TypeError, match="OptimizerState"):
        get_params({"p": fnp.ones(2)})
    with pytest.raises(TypeError, match="step_size"):
        optimizers.sgd([0.1, 0.2])
    with pytest.raises(ValueError, match="one shorter"):
        optimizers.piecewise_constant([1, 2], [1.0, 2.0])
    assert isinstance(optimizers.sgd(0.1), optimizers.Optimizer)
