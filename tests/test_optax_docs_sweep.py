"""What Optax's documentation and examples use that functrans.optim.optax lacked: the
tree_utils / tree namespaces, adafactor and its blocks, optimistic gradient descent,
lookahead, flatten, freeze / selective_transform / partition, contrib.normalize and
contrib.sam. Each against Optax itself over several jitted steps, in float32 and float64."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.optim import optax as fo
from functrans.tree_util import tree_leaves, tree_map

optax = pytest.importorskip("optax")
rng = np.random.default_rng(7)
P0 = {"w": rng.standard_normal((4, 6)), "b": rng.standard_normal(5),
      "t": rng.standard_normal((3, 5, 4))}
GRADS = [{k: rng.standard_normal(v.shape) for k, v in P0.items()} for _ in range(5)]


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
    """The dtype of the parameters; float64 turns on JAX's x64 for Optax's side."""
    import jax
    prev = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", request.param == "float64")
    yield np.dtype(request.param)
    jax.config.update("jax_enable_x64", prev)


def _tol(dtype, name=""):
    if dtype == np.float32 or "factor" in name:
        # Adafactor's decay is float32 in Optax whatever the parameters' dtype
        return dict(rtol=2e-5, atol=1e-6)
    return dict(rtol=1e-10, atol=1e-13)


def run(lib, make, dtype, jit=True, params=P0, grads=GRADS, extra=None):
    """Each step's updates (flattened) and the final state of `make(lib)`, the params moving
    by the updates; jitted with the library's own jit."""
    import jax
    import jax.numpy as jnp
    asarray, jit_fn = (fnp.asarray, ft.jit) if lib is fo else (jnp.asarray, jax.jit)
    tx = make(lib)
    p = {k: asarray(v.astype(dtype)) for k, v in params.items()}
    state = tx.init(p)
    step = jit_fn(tx.update) if jit else tx.update
    out = []
    for g in grads:
        g = {k: asarray(v.astype(dtype)) for k, v in g.items()}
        u, state = step(g, state, p, **(extra or {}))
        p = lib.apply_updates(p, u)
        leaves = [np.asarray(x) for x in (tree_leaves(u) if lib is fo else jax.tree.leaves(u))]
        assert all(x.dtype == dtype for x in leaves)
        out.append(np.concatenate([x.ravel() for x in leaves]))
    return np.array(out), state


def _compare(make, dtype, name="", **kw):
    import jax
    ours, our_state = run(fo, make, dtype, **kw)
    theirs, their_state = run(optax, make, dtype, **kw)
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, theirs, **_tol(dtype, name))
    ol, tl = tree_leaves(our_state), jax.tree.leaves(their_state)
    assert len(ol) == len(tl)
    for a, b in zip(ol, tl):
        assert np.asarray(a).dtype == np.asarray(b).dtype
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), **_tol(dtype, name))
    return our_state, their_state


def _names(state):
    if isinstance(state, tuple) and not hasattr(state, "_fields"):
        return [n for s in state for n in _names(s)]
    name = type(state).__name__
    return ["PartitionState" if name == "MultiTransformState" else name]   # the same class


OPTIMIZERS = [
    ("scale_by_factored_rms", lambda m: m.scale_by_factored_rms(min_dim_size_to_factor=4)),
    ("scale_by_factored_rms_args",
     lambda m: m.scale_by_factored_rms(True, 0.5, -1, 3, 1e-20)),
    ("adafactor", lambda m: m.adafactor(min_dim_size_to_factor=4)),
    ("adafactor_all", lambda m: m.adafactor(0.1, min_dim_size_to_factor=3, momentum=0.9,
                                            weight_decay_rate=0.01, clipping_threshold=0.5)),
    ("adafactor_unfactored", lambda m: m.adafactor(0.05, factored=False,
                                                   multiply_by_parameter_scale=False)),
    ("clip_by_block_rms", lambda m: m.clip_by_block_rms(0.7)),
    ("scale_by_param_block_rms", lambda m: m.scale_by_param_block_rms()),
    ("optimistic_gradient_descent", lambda m: m.optimistic_gradient_descent(0.1, 0.5, 2.0)),
    ("scale_by_optimistic_gradient", lambda m: m.scale_by_optimistic_gradient()),
    ("flatten_adam", lambda m: m.flatten(m.adam(0.1))),
    ("freeze", lambda m: m.chain(m.freeze({"w": True, "b": False, "t": True}), m.sgd(0.1))),
    ("freeze_all", lambda m: m.chain(m.freeze(True), m.adam(0.1))),
    ("selective_transform",
     lambda m: m.selective_transform(m.adam(0.1),
                                     freeze_mask={"w": False, "b": True, "t": False})),
    ("partition", lambda m: m.partition({"a": m.adam(0.1), "s": m.sgd(0.2)},
                                        {"w": "a", "b": "s", "t": "a"})),
    ("transforms_partition",
     lambda m: m.transforms.partition({"a": m.adam(0.1), "s": m.sgd(0.2)},
                                      lambda p: {"w": "s", "b": "a", "t": "a"})),
    ("normalize", lambda m: m.contrib.normalize()),
    ("sam", lambda m: m.contrib.sam(m.sgd(0.1), m.chain(m.contrib.normalize(), m.sgd(0.05)))),
    ("sam_adam_keep_state",
     lambda m: m.contrib.sam(m.adam(0.1), m.chain(m.contrib.normalize(), m.adam(0.05)),
                             sync_period=3, reset_state=False)),
]


@pytest.mark.parametrize("name, make", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_matches_optax(name, make, dtype):
    ours, theirs = _compare(make, dtype, name)
    assert _names(ours) == _names(theirs)


def test_jit_equals_eager():
    for name, make in OPTIMIZERS:
        eager, _ = run(fo, make, np.float64, jit=False)
        jitted, _ = run(fo, make, np.float64, jit=True)
        np.testing.assert_allclose(jitted, eager, rtol=1e-12, atol=1e-15, err_msg=name)


def test_adafactor_state_is_factored():
    state = fo.adafactor(min_dim_size_to_factor=4).init(
        {k: fnp.asarray(v) for k, v in P0.items()})[0]
    assert type(state).__name__ == "FactoredState"
    assert state._fields == ("count", "v_row", "v_col", "v")
    # w (4, 6): rows averaged over the largest axis 1, columns over axis 0
    assert state.v_row["w"].shape == (4,) and state.v_col["w"].shape == (6,)
    assert state.v["w"].shape == (1,) and state.v["b"].shape == (5,)
    assert state.v_row["t"].shape == (3, 4) and state.v_col["t"].shape == (3, 5)


def test_sam_opaque_matches_optax(dtype):
    def grads_at(lib):
        return lambda params, i: lib.tree.scale(2.0, params)     # the gradient of |p|^2
    _compare(
        lambda m: m.contrib.sam(m.sgd(0.1), m.chain(m.contrib.normalize(), m.sgd(0.05)),
                                sync_period=3, opaque_mode=True), dtype, jit=False,
        extra={"grad_fn": grads_at(fo)})
    with pytest.raises(ValueError, match="grad_fn"):
        fo.contrib.sam(fo.sgd(0.1), fo.sgd(0.1), opaque_mode=True).update(
            {"x": fnp.ones(2)}, fo.contrib.sam(fo.sgd(0.1), fo.sgd(0.1), opaque_mode=True)
            .init({"x": fnp.ones(2)}), {"x": fnp.ones(2)})


def _lookahead_run(lib, dtype, reset):
    import jax
    import jax.numpy as jnp
    asarray = fnp.asarray if lib is fo else jnp.asarray
    tx = lib.lookahead(lib.adam(0.1), sync_period=3, slow_step_size=0.5, reset_state=reset)
    params = lib.LookaheadParams.init_synced({"x": asarray(np.array([1.0, -2.0], dtype))})
    state = tx.init(params)
    step = (ft.jit if lib is fo else jax.jit)(tx.update)
    out = []
    for k in range(7):
        g = {"x": asarray(np.array([0.3 * k - 1, 0.5], dtype))}
        u, state = step(g, state, params)      # the fast parameters' gradients
        params = lib.apply_updates(params, u)
        out.append(np.concatenate([np.asarray(params.fast["x"]),
                                   np.asarray(params.slow["x"])]))
    return np.array(out), state


@pytest.mark.parametrize("reset", [False, True])
def test_lookahead_matches_optax(dtype, reset):
    import jax
    ours, s1 = _lookahead_run(fo, dtype, reset)
    theirs, s2 = _lookahead_run(optax, dtype, reset)
    np.testing.assert_allclose(ours, theirs, **_tol(dtype))
    assert type(s1).__name__ == type(s2).__name__ == "LookaheadState"
    assert int(s1.steps_since_sync) == int(s2.steps_since_sync) == 1
    assert len(tree_leaves(s1)) == len(jax.tree.leaves(s2))


def test_bad_arguments():
    with pytest.raises(ValueError, match="sync_period"):
        fo.lookahead(fo.sgd(0.1), sync_period=0, slow_step_size=0.5)
    with pytest.raises(ValueError, match="sync_period"):
        fo.contrib.sam(fo.sgd(0.1), fo.sgd(0.1), sync_period=0)
    p = {"x": fnp.ones((2, 3))}
    for tx in (fo.adafactor(), fo.scale_by_param_block_rms()):
        with pytest.raises(ValueError, match="needs the parameters"):
            tx.update(p, tx.init(p))
    la = fo.lookahead(fo.sgd(0.1), 2, 0.5)
    with pytest.raises(ValueError, match="LookaheadParams"):
        la.update(p, la.init(p), p)


# ------------------------------------------------------------------ tree_utils
def _trees(dtype):
    import jax.numpy as jnp
    a = {"w": np.arange(6.0).reshape(2, 3) - 2.5, "b": np.array([1.0, -2.0]),
         "c": np.array([1 + 2j, -3j])}
    b = {"w": np.ones((2, 3)) * 0.5, "b": np.array([3.0, 4.0]), "c": np.array([2 - 1j, 1j])}
    cd = np.complex64 if dtype == np.float32 else np.complex128

    def cast(t, asarray):
        return {k: asarray(v.astype(cd if k == "c" else dtype)) for k, v in t.items()}
    return (cast(a, fnp.asarray), cast(b, fnp.asarray)), (cast(a, jnp.asarray),
                                                          cast(b, jnp.asarray))


TREE_FUNCS = [
    ("tree_add", lambda m, a, b: m.tree_add(a, b, a)),
    ("tree_sub", lambda m, a, b: m.tree_sub(a, b)),
    ("tree_mul", lambda m, a, b: m.tree_mul(a, b)),
    ("tree_div", lambda m, a, b: m.tree_div(a, b)),
    ("tree_scale", lambda m, a, b: m.tree_scale(0.5, a)),
    ("tree_add_scale", lambda m, a, b: m.tree_add_scale(a, 0.3, b)),
    ("tree_vdot", lambda m, a, b: m.tree_vdot(a, b)),
    ("tree_sum", lambda m, a, b: m.tree_sum(a)),
    ("tree_max", lambda m, a, b: m.tree_max(m.tree_real(a))),
    ("tree_min", lambda m, a, b: m.tree_min(m.tree_real(b))),
    ("tree_conj", lambda m, a, b: m.tree_conj(a)),
    ("tree_norm", lambda m, a, b: m.tree_norm(a)),
    ("tree_norm_squared", lambda m, a, b: m.tree_norm(a, squared=True)),
    ("tree_norm_1", lambda m, a, b: m.tree_norm(a, ord=1)),
    ("tree_norm_inf", lambda m, a, b: m.tree_norm(a, ord="inf", squared=True)),
    ("tree_l2_norm", lambda m, a, b: m.tree_l2_norm(b)),
    ("tree_batch_shape", lambda m, a, b: m.tree_batch_shape(a, (2,))),
    ("tree_zeros_like", lambda m, a, b: m.tree_zeros_like(a)),
    ("tree_ones_like", lambda m, a, b: m.tree_ones_like(a, dtype="float32")),
    ("tree_full_like", lambda m, a, b: m.tree_full_like(a, 3.0)),
    ("tree_clip", lambda m, a, b: m.tree_clip(m.tree_real(a), -1.0, 2.0)),
    ("tree_update_moment", lambda m, a, b: m.tree_update_moment(a, b, 0.9, 2)),
    ("tree_update_infinity_moment",
     lambda m, a, b: m.tree_update_infinity_moment(m.tree_real(a), m.tree_real(b), 0.9, 1e-3)),
    ("tree_update_moment_per_elem_norm",
     lambda m, a, b: m.tree_update_moment_per_elem_norm(a, b, 0.9, 2)),
    ("tree_bias_correction", lambda m, a, b: m.tree_bias_correction(a, 0.9, 3)),
    ("tree_where", lambda m, a, b: m.tree_where(False, a, b)),
    ("tree_cast", lambda m, a, b: m.tree_cast(m.tree_real(a), "float16")),
    ("tree_cast_like", lambda m, a, b: m.tree_cast_like(m.tree_real(a), m.tree_real(b))),
]


@pytest.mark.parametrize("name, f", TREE_FUNCS, ids=[t[0] for t in TREE_FUNCS])
def test_tree_utils_match_optax(name, f, dtype):
    import jax
    (fa, fb), (ja, jb) = _trees(dtype)
    ours = ft.jit(lambda a, b: f(fo.tree_utils, a, b))(fa, fb)
    eager = f(fo.tree_utils, fa, fb)
    theirs = f(optax.tree_utils, ja, jb)
    for x, e, y in zip(tree_leaves(ours), tree_leaves(eager), jax.tree.leaves(theirs),
                       strict=True):
        x, e, y = np.asarray(x), np.asarray(e), np.asarray(y)
        assert x.shape == y.shape and x.dtype == y.dtype == e.dtype
        np.testing.assert_allclose(x, y, **_tol(dtype))
        np.testing.assert_allclose(e, y, **_tol(dtype))


def test_tree_namespace_and_scalars():
    (fa, fb), (ja, jb) = _trees(np.float32)
    assert fo.tree.norm is fo.tree_utils.tree_norm and fo.tree.get is fo.tree_utils.tree_get
    assert fo.tree_utils.tree_size(fa) == optax.tree_utils.tree_size(ja) == 10
    assert bool(fo.tree_utils.tree_allclose(fa, fa)) and not bool(
        fo.tree_utils.tree_allclose(fa, fb))
    assert fo.tree_utils.tree_vdot({}, {}) == 0
    assert float(fo.tree_utils.tree_max({})) == -np.inf
    with pytest.raises(ValueError, match="ord"):
        fo.tree_utils.tree_norm(fa, ord=3)
    mixed = {"a": fnp.ones(2, np.float16), "b": fnp.ones(2, np.float32)}
    assert fo.tree_utils.tree_dtype(mixed, "lowest") == np.float16
    assert fo.tree_utils.tree_dtype(mixed, "highest") == np.float32
    assert fo.tree_utils.tree_dtype(mixed, "promote") == np.float32
    assert fo.tree_utils.tree_dtype({}) == np.float32
    with pytest.raises(ValueError, match="several dtypes"):
        fo.tree_utils.tree_dtype(mixed)
    with pytest.raises(ValueError, match="do not promote"):
        fo.tree_utils.tree_dtype({"a": fnp.ones(2, np.int32), "b": fnp.ones(2, np.uint32)},
                                 "highest")
    keys = fo.tree_utils.tree_split_key_like(ft.random.key(0), fa)
    noise = fo.tree_utils.tree_random_like(ft.random.key(0), {"w": fa["w"], "b": fa["b"]})
    assert noise["w"].shape == (2, 3) and noise["w"].dtype == np.float32
    assert len(tree_leaves(keys)) == 3


def _state_pair():
    import jax.numpy as jnp
    p = {"w": np.ones((2, 3), np.float32), "b": np.zeros(2, np.float32)}

    def make(m):
        return m.chain(m.scale_by_adam(), m.trace(0.9), m.scale_by_learning_rate(0.1))
    return (make(fo).init(tree_map(fnp.asarray, p)),
            make(optax).init({k: jnp.asarray(v) for k, v in p.items()}), make)


def test_tree_get_set_match_optax():
    ours, theirs, make = _state_pair()
    ou, th = fo.tree_utils, optax.tree_utils
    assert int(ou.tree_get(ours, "count")) == int(th.tree_get(theirs, "count")) == 0
    assert ou.tree_get(ours, "missing", default=7) == 7
    assert type(ou.tree_get(ours, "ScaleByAdamState")).__name__ == "ScaleByAdamState"
    paths = [str(p[-1]) for p, _ in ou.tree_get_all_with_path(ours, "mu")]
    assert paths == [str(p[-1]) for p, _ in th.tree_get_all_with_path(theirs, "mu")]
    assert paths == ["ScaleByAdamState.mu"]
    only = ou.tree_get(ours, "trace", filtering=lambda path, v: isinstance(v, dict))
    assert set(only) == {"w", "b"}
    new = ou.tree_set(ours, count=fnp.asarray(5))
    assert int(new[0].count) == 5 and new[1] is not None and int(ours[0].count) == 0
    assert type(new[0]).__name__ == "ScaleByAdamState"
    with pytest.raises(KeyError, match="nope"):
        ou.tree_set(ours, nope=1)
    with pytest.raises(KeyError, match="several|found 2"):
        ou.tree_get({"a": {"x": 1}, "b": {"x": 2}}, "x")
    shapes = ou.tree_map_params(make(fo), lambda p: p.shape, ours,
                                transform_non_params=lambda _: None)
    their_shapes = th.tree_map_params(make(optax), lambda p: p.shape, theirs,
                                      transform_non_params=lambda _: None)
    assert shapes[0].mu == their_shapes[0].mu == {"w": (2, 3), "b": (2,)}
    assert shapes[0].count is None and shapes[1].trace == their_shapes[1].trace


def test_tree_norm_derivative():
    from functrans.test_util import check_grads
    x = {"a": fnp.asarray(np.array([0.3, -1.2])), "b": fnp.asarray(np.array([[2.0, 0.5]]))}
    check_grads(fo.tree.norm, (x,), order=2, modes=("fwd", "rev"))
    check_grads(lambda t: fo.tree.vdot(t, t), (x,), order=1)


def test_types_and_namespaces():
    def fit(params: fo.Params, optimizer: fo.GradientTransformation) -> fo.Params:
        return params
    assert fit({"a": 1}, fo.sgd(0.1)) == {"a": 1}
    assert fo.partition is fo.multi_transform and fo.PartitionState is fo.MultiTransformState
    for name in ("freeze", "selective_transform", "flatten", "partition", "chain", "masked",
                 "clip_by_block_rms", "MultiSteps", "apply_if_finite"):
        assert getattr(fo.transforms, name) is getattr(fo, name)
    assert fo.contrib.NormalizeState is fo.EmptyState
