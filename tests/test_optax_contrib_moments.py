"""functrans.optim.optax.contrib's moment-based optimizers (functrans/optim/contrib_moments.py):
adopt, ademamix, simplified_ademamix, madgrad, acprop, sophia (with Hutchinson's estimator),
muon, galore and split_real_and_imaginary. Against Optax 0.2.8 in float64 over several steps,
under jit, with a model holding buffers, and on bad arguments."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.optim import optax as fo
from functrans.buffers import is_buffer
from functrans.tree_util import tree_flatten, tree_leaves

RTOL, ATOL = 1e-10, 1e-13
rng = np.random.default_rng(7)
PARAMS = {"w": rng.standard_normal((3, 4)), "v": rng.standard_normal((5, 3)),
          "b": rng.standard_normal(4)}
GRADS = [{k: rng.standard_normal(np.shape(p)) * 10.0 ** rng.integers(-1, 2)
          for k, p in PARAMS.items()} for _ in range(6)]
STACK = {"k": rng.standard_normal((2, 3, 4)), "b": rng.standard_normal(3)}
STACK_GRADS = [{k: rng.standard_normal(np.shape(p)) for k, p in STACK.items()}
               for _ in range(6)]


def _decay(lr):
    return lambda count: lr / (1.0 + count.astype(np.float64))


def _objective(xnp):
    """A smooth, non-quadratic loss of the params (Sophia's Hessian estimates)."""
    def loss(params):
        return sum(xnp.sum(xnp.cos(p) * p ** 2 + 0.1 * p ** 4) for p in tree_leaves(params))
    return loss


def run(lib, make, asarray, params=PARAMS, grads=GRADS, jit=False, extra=None):
    """The params after each step and the final state of `make(lib)` over `grads`;
    `extra(lib)` gives keyword arguments of update."""
    tx = make(lib)
    params = {k: asarray(v) for k, v in params.items()}
    state = tx.init(params)
    kwargs = extra(lib) if extra else {}

    def step(g, s, p):
        return tx.update(g, s, p, **kwargs)
    if lib is not fo:
        import jax
        step = jax.jit(step)          # Optax's muon runs op by op for seconds otherwise
    elif jit:
        step = ft.jit(step)
    out = []
    for g in grads:
        updates, state = step({k: asarray(v) for k, v in g.items()}, state, params)
        params = lib.apply_updates(params, updates)
        out.append(np.concatenate([np.asarray(params[k]).ravel() for k in sorted(params)]))
    return np.array(out), state


_SAME_CLASS = {"PartitionState": "MultiTransformState"}    # Optax's name for the class


def _structure(state):
    """The state's NamedTuple classes and fields, dict keys and sequence lengths, in order,
    with its array leaves."""
    if hasattr(state, "_fields"):
        name = type(state).__name__
        head = [(_SAME_CLASS.get(name, name), state._fields)]
        parts = [_structure(x) for x in state]
    elif isinstance(state, dict):
        head = [sorted(state)]
        parts = [_structure(state[k]) for k in sorted(state)]
    elif isinstance(state, (tuple, list)):
        head = [len(state)]
        parts = [_structure(x) for x in state]
    else:
        return [], [] if state is None else [state]
    return head + [h for p in parts for h in p[0]], [x for p in parts for x in p[1]]


def _compare_states(ours, theirs, rtol=RTOL, atol=ATOL):
    (our_names, a), (their_names, b) = _structure(ours), _structure(theirs)
    assert our_names == their_names
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert np.shape(x) == np.shape(y)
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def _c(m):
    return m.contrib


def _dims(m, **kw):
    return m.contrib.MuonDimensionNumbers(**kw)


CASES = [
    ("adopt", lambda m: _c(m).adopt(0.1)),
    ("adopt_nesterov_schedule", lambda m: _c(m).adopt(_decay(0.1), 0.8, 0.99, 1e-4,
                                                      nesterov=True)),
    ("adopt_no_clipping", lambda m: _c(m).adopt(0.1, use_clipping=False)),
    ("scale_by_adopt_clip_fn", lambda m: _c(m).scale_by_adopt(
        clip_value_fn=lambda c: 0.5 + c.astype(np.float64))),
    ("scale_by_ademamix", lambda m: _c(m).scale_by_ademamix()),
    ("scale_by_ademamix_args", lambda m: _c(m).scale_by_ademamix(0.8, 0.9, 0.99, 2.0, 1e-6,
                                                                 1e-8)),
    ("ademamix", lambda m: _c(m).ademamix(0.1)),
    ("ademamix_schedules_decay", lambda m: _c(m).ademamix(
        _decay(0.1), b3=lambda c: 0.99 - 0.01 / (1.0 + c.astype(np.float64)),
        alpha=lambda c: 1.0 + c.astype(np.float64), weight_decay=0.1,
        mask={"w": True, "v": False, "b": True})),
    ("scale_by_simplified_ademamix", lambda m: _c(m).scale_by_simplified_ademamix()),
    ("scale_by_simplified_ademamix_args",
     lambda m: _c(m).scale_by_simplified_ademamix(0.9, 0.8, 2.0, 1e-6, 1e-8)),
    ("simplified_ademamix", lambda m: _c(m).simplified_ademamix(0.1)),
    ("simplified_ademamix_schedules", lambda m: _c(m).simplified_ademamix(
        _decay(0.1), alpha=lambda c: 0.5 * c.astype(np.float64), weight_decay=0.05)),
    ("scale_by_madgrad", lambda m: _c(m).scale_by_madgrad(0.05)),
    ("madgrad", lambda m: _c(m).madgrad(0.1)),
    ("madgrad_args", lambda m: _c(m).madgrad(_decay(0.1), 0.5, 0.01, 1e-5)),
    ("scale_by_acprop", lambda m: _c(m).scale_by_acprop()),
    ("acprop", lambda m: _c(m).acprop(0.1)),
    ("acprop_args", lambda m: _c(m).acprop(_decay(0.1), 0.8, 0.9, 1e-8, 1e-10, 0.01,
                                           {"w": True, "v": True, "b": False})),
    ("muon", lambda m: _c(m).muon(0.1)),
    ("muon_dion_decay", lambda m: _c(m).muon(0.1, "dion", weight_decay=0.1,
                                             adam_weight_decay=0.01, adam_learning_rate=0.05)),
    ("muon_plain_adaptive_spectral", lambda m: _c(m).muon(
        _decay(0.1), beta=0.9, nesterov=False, adaptive=True, preconditioning="spectral")),
    ("muon_aol", lambda m: _c(m).muon(0.1, preconditioning="aol", consistent_rms=0.2)),
    ("muon_schatten", lambda m: _c(m).muon(0.1, preconditioning="schatten", ns_steps=3)),
    ("muon_coefficient_rows", lambda m: _c(m).muon(
        0.1, ((3.0, -3.2, 1.2), (2.5, -2.0, 0.5), (2.0, -1.5, 0.5)), ns_steps=4)),
    ("muon_dimension_tree", lambda m: _c(m).muon(0.1, muon_weight_dimension_numbers={
        "w": _dims(m, reduction_axis=1, output_axis=0), "v": None, "b": None})),
    ("scale_by_muon_tree", lambda m: m.chain(_c(m).scale_by_muon(
        beta=0.8, weight_dimension_numbers={"w": _dims(m), "v": _dims(m)}), m.sgd(0.1))),
    ("scale_by_muon_function", lambda m: _c(m).scale_by_muon(
        ns_steps=4, weight_dimension_numbers=lambda u: {"w": _dims(m), "v": _dims(m)})),
]
# scale_by_muon works on matrices only: its case runs on the 2-d params
ONLY_MATRICES = {"scale_by_muon_tree", "scale_by_muon_function"}
STACK_CASES = [
    ("muon_stacked_matrices", lambda m: _c(m).muon(0.1, muon_weight_dimension_numbers={
        "k": _dims(m, reduction_axis=(1,), output_axis=(2,)), "b": None})),
    ("muon_stacked_two_axes", lambda m: _c(m).muon(0.1, muon_weight_dimension_numbers=(
        lambda p: {"k": _dims(m, reduction_axis=(0, 1), output_axis=-1), "b": None}))),
]
SOPHIA_CASES = [
    ("sophia", lambda m: _c(m).sophia(0.1)),
    ("sophia_every_2_unclipped", lambda m: _c(m).sophia(
        _decay(0.1), 0.9, 0.9, 1e-6, 0.01, {"w": True, "v": False, "b": True}, gamma=0.05,
        clip_threshold=None, update_interval=2)),
    ("sophia_seed", lambda m: _c(m).sophia(
        0.1, update_interval=3, clip_threshold=0.5,
        hessian_diagonal_fn=_c(m).hutchinson_estimator_diag_hessian(_key(m, 5)))),
]


def _key(m, seed):
    return ft.random.PRNGKey(seed) if m is fo else __import__("jax").random.PRNGKey(seed)


def _params_for(name):
    if name in ONLY_MATRICES:
        return ({k: v for k, v in PARAMS.items() if k != "b"},
                [{k: v for k, v in g.items() if k != "b"} for g in GRADS])
    return PARAMS, GRADS


@pytest.mark.parametrize("name, make", CASES, ids=[c[0] for c in CASES])
def test_matches_optax(name, make, optax64_f64):
    import jax.numpy as jnp
    params, grads = _params_for(name)
    ours, our_state = run(fo, make, fnp.asarray, params, grads)
    theirs, their_state = run(optax64_f64, make, jnp.asarray, params, grads)
    assert np.isfinite(ours).all() and not np.allclose(ours[-1], ours[0])
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)
    _compare_states(our_state, their_state)


@pytest.mark.parametrize("name, make", STACK_CASES, ids=[c[0] for c in STACK_CASES])
def test_muon_stacked_matrices_match_optax(name, make, optax64_f64):
    import jax.numpy as jnp
    ours, our_state = run(fo, make, fnp.asarray, STACK, STACK_GRADS)
    theirs, their_state = run(optax64_f64, make, jnp.asarray, STACK, STACK_GRADS)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)
    _compare_states(our_state, their_state)


def _obj_fn(m):
    return {"obj_fn": _objective(fnp if m is fo else __import__("jax").numpy)}


@pytest.mark.parametrize("name, make", SOPHIA_CASES, ids=[c[0] for c in SOPHIA_CASES])
def test_sophia_matches_optax(name, make, optax64_f64):
    """The Hutchinson estimates draw the same signs (functrans's keys are JAX's)."""
    import jax.numpy as jnp
    ours, our_state = run(fo, make, fnp.asarray, extra=_obj_fn)
    theirs, their_state = run(optax64_f64, make, jnp.asarray, extra=_obj_fn)
    assert np.abs(np.asarray(our_state[0].nu["w"])).max() > 0
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=ATOL)
    _compare_states(our_state, their_state)


def test_hutchinson_estimates_the_hessian_diagonal():
    """Averaged over many draws, `z * (H z)` approaches the Hessian's diagonal."""
    est = fo.contrib.hutchinson_estimator_diag_hessian(ft.random.PRNGKey(1))
    x = {"a": fnp.asarray([0.3, -1.2, 2.0])}
    loss = _objective(fnp)
    state, total = est.init(x), 0.0
    for _ in range(400):
        d, state = est.update(None, state, x, obj_fn=loss)
        total = total + np.asarray(d["a"])
    exact = np.diag(np.asarray(ft.hessian(lambda a: loss({"a": a}))(x["a"])))
    np.testing.assert_allclose(total / 400, exact, rtol=0.2, atol=0.2)
    with pytest.raises(ValueError, match="obj_fn"):
        est.update(None, state, x)
    with pytest.raises(ValueError, match="needs the parameters"):
        est.update(None, state, obj_fn=loss)


GALORE_CASES = [
    ("galore", lambda m: _c(m).galore(0.1, rank=2, update_proj_gap=4)),
    ("galore_args", lambda m: _c(m).galore(
        _decay(0.1), rank=1, update_proj_gap=3, scale=0.5, base_optimizer=m.scale_by_adam(0.8),
        weight_decay=0.01, mask={"w": True, "v": False, "b": True})),
    ("scale_by_galore_dimension_tree", lambda m: _c(m).scale_by_galore(
        rank=2, weight_dimension_numbers={
            "w": _c(m).GaLoreDimensionNumbers(1, 0), "v": None, "b": None})),
]


@pytest.mark.parametrize("name, make", GALORE_CASES, ids=[c[0] for c in GALORE_CASES])
def test_galore_matches_optax(name, make, optax64_f64):
    """GaLore takes its projectors from a float32 SVD, as Optax's: the two agree to float32's
    precision (the singular vectors of one sign here)."""
    import jax.numpy as jnp
    ours, our_state = run(fo, make, fnp.asarray)
    theirs, their_state = run(optax64_f64, make, jnp.asarray)
    assert not np.allclose(ours[-1], ours[0])
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    _compare_states(our_state, their_state, rtol=1e-4, atol=1e-5)


def test_galore_stacked_axes_and_projector_shapes(optax64_f64):
    import jax.numpy as jnp

    def make(m):
        return _c(m).galore(0.1, rank=2, weight_dimension_numbers=_c(m).GaLoreDimensionNumbers(
            reduction_axis=(0, 1), output_axis=2))
    ours, state = run(fo, make, fnp.asarray, STACK, STACK_GRADS)
    theirs, _ = run(optax64_f64, make, jnp.asarray, STACK, STACK_GRADS)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    galore_state = state[0]
    assert np.shape(galore_state.projector["k"]) == (6, 2)     # (2*3) x 4 is tall: left
    assert np.shape(galore_state.projector["b"]) == (0, 0)     # 1-d: passed whole
    assert np.shape(galore_state.base_optimizer_state.mu["k"]) == (2, 4)


def test_split_real_and_imaginary_matches_optax(optax64_f64):
    import jax.numpy as jnp
    z0 = rng.standard_normal((3, 2)) + 1j * rng.standard_normal((3, 2))
    zs = [rng.standard_normal((3, 2)) + 1j * rng.standard_normal((3, 2)) for _ in range(4)]
    r0 = rng.standard_normal(3)

    def trajectory(m, asarray):
        tx = _c(m).split_real_and_imaginary(m.adam(0.1))
        p = {"z": asarray(z0), "r": asarray(r0)}
        s = tx.init(p)
        for z in zs:
            u, s = tx.update({"z": asarray(z), "r": asarray(z.real[:, 0])}, s, p)
            p = m.apply_updates(p, u)
        return p, s
    (ours, our_state), (theirs, their_state) = (trajectory(fo, fnp.asarray),
                                                trajectory(optax64_f64, jnp.asarray))
    assert np.asarray(ours["z"]).dtype == np.complex128
    for k in ours:
        np.testing.assert_allclose(np.asarray(ours[k]), np.asarray(theirs[k]), rtol=RTOL)
    _compare_states(our_state, their_state)
    # Adam on the two parts apart: the real part moves as Adam on the real parts alone
    inner = fo.adam(0.1)
    p, s = {"x": fnp.asarray(z0.real)}, None
    s = inner.init(p)
    for z in zs:
        u, s = inner.update({"x": fnp.asarray(z.real)}, s, p)
        p = fo.apply_updates(p, u)
    np.testing.assert_allclose(np.asarray(ours["z"]).real, np.asarray(p["x"]), rtol=1e-12)


JIT_CASES = [c for c in CASES if c[0] in {
    "adopt_nesterov_schedule", "ademamix_schedules_decay", "simplified_ademamix", "madgrad",
    "acprop", "muon", "muon_aol", "muon_schatten", "muon_plain_adaptive_spectral"}]


@pytest.mark.parametrize("name, make", JIT_CASES, ids=[c[0] for c in JIT_CASES])
def test_jit_equals_eager(name, make):
    eager, s1 = run(fo, make, fnp.asarray)
    jitted, s2 = run(fo, make, fnp.asarray, jit=True)
    np.testing.assert_allclose(jitted, eager, rtol=1e-12, atol=1e-15)
    _compare_states(s2, s1, rtol=1e-12, atol=1e-15)


def test_sophia_and_galore_jit_equal_eager():
    for make, extra in ((dict(SOPHIA_CASES)["sophia_every_2_unclipped"], _obj_fn),
                        (dict(GALORE_CASES)["galore"], None)):
        eager, _ = run(fo, make, fnp.asarray, extra=extra)
        jitted, _ = run(fo, make, fnp.asarray, jit=True, extra=extra)
        np.testing.assert_allclose(jitted, eager, rtol=1e-6, atol=1e-7)


def test_float32_params_stay_float32():
    p32 = {k: v.astype(np.float32) for k, v in PARAMS.items()}
    g32 = [{k: v.astype(np.float32) for k, v in g.items()} for g in GRADS[:3]]
    for _, make in CASES[:-2] + GALORE_CASES[:1]:
        tx = make(fo)
        params = {k: fnp.asarray(v) for k, v in p32.items()}
        state = tx.init(params)
        for g in g32:
            u, state = ft.jit(tx.update)({k: fnp.asarray(v) for k, v in g.items()}, state,
                                         params)
            params = fo.apply_updates(params, u)
        assert all(np.asarray(x).dtype == np.float32 for x in tree_leaves(params))
        assert all(np.isfinite(np.asarray(x)).all() for x in tree_leaves(params))


STATE_FIELDS = [
    (lambda c: c.scale_by_adopt(), "ScaleByAdamState", ("count", "mu", "nu")),
    (lambda c: c.scale_by_ademamix(), "ScaleByAdemamixState",
     ("count", "count_m2", "m1", "m2", "nu")),
    (lambda c: c.scale_by_simplified_ademamix(), "ScaleBySimplifiedAdEMAMixState",
     ("t", "m", "n")),
    (lambda c: c.scale_by_madgrad(0.1), "MadgradState", ("count", "grad_sum_sq", "s", "x0")),
    (lambda c: c.scale_by_acprop(), "ScaleByBeliefState", ("count", "mu", "nu")),
    (lambda c: c.scale_by_muon(), "MuonState", ("count", "mu", "ns_coeffs")),
    (lambda c: c.hutchinson_estimator_diag_hessian(), "HutchinsonState", ("key",)),
    (lambda c: c.scale_by_galore(), "GaLoreState",
     ("count", "base_optimizer_state", "projector")),
    (lambda c: c.split_real_and_imaginary(c.scale_by_adopt()), "SplitRealAndImaginaryState",
     ("inner_state",)),
]


@pytest.mark.parametrize("make, name, fields", STATE_FIELDS, ids=[s[1] for s in STATE_FIELDS])
def test_states_are_optax_named_tuples(make, name, fields):
    state = make(fo.contrib).init({"w": fnp.ones((2, 3))})
    assert type(state).__name__ == name and state._fields == fields
    assert getattr(fo.contrib, name, type(state)) is type(state)
    assert repr(state).startswith(name + "(")


def test_state_classes_have_optax_fields():
    optax = pytest.importorskip("optax")
    from functrans.optim import contrib_moments
    classes = [n for n in contrib_moments.__all__ if n[0].isupper()]
    assert len(classes) == 10
    for n in classes:
        ours, theirs = getattr(fo.contrib, n), getattr(optax.contrib, n)
        assert ours._fields == theirs._fields, n
        assert ours._field_defaults == theirs._field_defaults, n


def test_mu_dtype_keeps_the_momentum_in_it():
    params = {"w": fnp.asarray(PARAMS["w"])}
    for tx, field in ((fo.contrib.scale_by_adopt(mu_dtype=np.float32), "mu"),
                      (fo.contrib.scale_by_ademamix(mu_dtype=np.float32), "m2"),
                      (fo.contrib.scale_by_muon(mu_dtype=np.float32), "mu"),
                      (fo.contrib.sophia(0.1, mu_dtype=np.float32), "mu")):
        state = tx.init(params)
        for g in GRADS[:2]:
            u, state = fo.with_extra_args_support(tx).update(
                {"w": fnp.asarray(g["w"])}, state, params, obj_fn=_objective(fnp))
        inner = state[0] if isinstance(state, tuple) and not hasattr(state, "_fields") \
            else state
        assert np.asarray(getattr(inner, field)["w"]).dtype == np.float32
        assert np.asarray(u["w"]).dtype == np.float64


BUFFER_CASES = [c for c in CASES if c[0] in {
    "adopt", "ademamix", "simplified_ademamix", "madgrad", "acprop", "muon"}] + [
    ("galore", lambda m: _c(m).galore(0.1, rank=1)),
    ("sophia", lambda m: _c(m).sophia(0.1, update_interval=2)),
    ("split_real_and_imaginary", lambda m: _c(m).split_real_and_imaginary(_c(m).adopt(0.1)))]


@pytest.mark.parametrize("name, make", BUFFER_CASES, ids=[c[0] for c in BUFFER_CASES])
def test_model_with_buffers(name, make):
    """A model with BatchNorm (buffers: running statistics) steps under jit: the buffers get
    no update and no state, and the weights move as they do in a plain dict of them."""
    net = ft.nn.Sequential(ft.nn.Linear(3, 4, key=ft.random.PRNGKey(0)),
                           ft.nn.BatchNorm1d(4)).eval()
    x = fnp.asarray(rng.standard_normal((5, 3)))

    def loss(m):
        return fnp.sum(fnp.tanh(m(x)) ** 2)

    def plain_loss(p):
        return loss(_with(net, p))
    tx, plain_tx = make(fo), make(fo)
    extra = {"obj_fn": loss} if name == "sophia" else {}
    plain_extra = {"obj_fn": plain_loss} if name == "sophia" else {}
    plain = start = _weights(net)
    state, plain_state = tx.init(net), plain_tx.init(plain)
    step = ft.jit(lambda g, s, p: tx.update(g, s, p, **extra))
    for _ in range(3):
        u, state = step(ft.grad(loss)(net), state, net)
        net = fo.apply_updates(net, u)
        pu, plain_state = plain_tx.update(ft.grad(plain_loss)(plain), plain_state, plain,
                                          **plain_extra)
        plain = fo.apply_updates(plain, pu)
    np.testing.assert_array_equal(np.asarray(net[1].running_var), np.ones(4))
    for a, b in zip(tree_leaves(_weights(net)), tree_leaves(plain)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    assert not np.allclose(np.asarray(plain["p0"]), np.asarray(start["p0"]))


def _weights(net):
    """The trainable leaves of `net` (not its buffers), as a dict."""
    leaves = tree_flatten(net, is_buffer)[0]
    return {f"p{i}": x for i, x in enumerate(x for x in leaves if not is_buffer(x))}


def _with(net, p):
    """`net` with the trainable leaves `p` (from `_weights`)."""
    leaves, treedef = tree_flatten(net, is_buffer)
    new = iter(p[k] for k in sorted(p, key=lambda k: int(k[1:])))
    return treedef.unflatten([x if is_buffer(x) else next(new) for x in leaves])


def _asarray(m):
    return fnp.asarray if m is fo else __import__("jax").numpy.asarray


def _init_update(m, tx, params):
    params = {k: _asarray(m)(v) for k, v in params.items()}
    return tx.update(params, tx.init(params), params)


def _update_without_params(m, tx):
    params = {"w": _asarray(m)(np.ones(2))}
    return tx.update(params, tx.init(params))


BAD = [
    ("muon_preset", lambda m: _c(m).muon(0.1, "fast"), ValueError, "preset"),
    ("muon_coeff_shape", lambda m: _init_update(m, _c(m).muon(0.1, (1.0, 2.0)), PARAMS),
     ValueError, r"ns_coeffs must have shape \(3,\) or \(n, 3\)"),
    ("muon_too_many_rows", lambda m: _init_update(m, _c(m).muon(0.1, "dion", ns_steps=3),
                                                  PARAMS), ValueError, "at most one row"),
    ("muon_vector", lambda m: _init_update(m, _c(m).muon(
        0.1, muon_weight_dimension_numbers={"w": None, "v": None, "b": _dims(m)}), PARAMS),
     ValueError, "2 or more dimensions, got shape"),
    ("muon_overlapping_axes", lambda m: _init_update(m, _c(m).muon(
        0.1, muon_weight_dimension_numbers={"w": _dims(m, reduction_axis=0, output_axis=-2),
                                            "v": None, "b": None}), PARAMS),
     ValueError, "must be disjoint"),
    ("scale_by_muon_3d_without_dims", lambda m: _init_update(m, _c(m).scale_by_muon(),
                                                             {"k": STACK["k"]}),
     ValueError, "needs weight_dimension"),
    ("galore_rank_type", lambda m: _c(m).galore(0.1, rank=2.0), TypeError, "rank must be an int"),
    ("galore_rank_value", lambda m: _c(m).galore(0.1, rank=0), ValueError, "rank must be pos"),
    ("galore_axes_left_out", lambda m: _init_update(m, _c(m).scale_by_galore(
        rank=1, weight_dimension_numbers=_c(m).GaLoreDimensionNumbers(1, 2)), STACK),
     ValueError, "name all the axes"),
    ("madgrad_without_params", lambda m: _update_without_params(m, _c(m).madgrad(0.1)), ValueError,
     "needs the parameters"),
    ("sophia_without_params", lambda m: _update_without_params(m, _c(m).sophia(0.1)), ValueError,
     "needs the parameters"),
    ("sophia_without_obj_fn", lambda m: _init_update(m, _c(m).sophia(0.1), {"w": np.ones(2)}),
     ValueError, "obj_fn"),
]


OPTAX_DIFFERS = {
    "scale_by_muon_3d_without_dims": "Optax's scale_by_muon takes no dict of params without "
                                     "dimension numbers at all",
    "muon_overlapping_axes": "Optax orthogonalizes a 2-d parameter without looking at its "
                             "dimension numbers"}


@pytest.mark.parametrize("name, call, error, match", BAD, ids=[b[0] for b in BAD])
def test_bad_arguments(name, call, error, match):
    with pytest.raises(error, match=match):
        call(fo)


@pytest.mark.parametrize("name, call, error, match", BAD, ids=[b[0] for b in BAD])
def test_optax_raises_there_too(name, call, error, match):
    optax = pytest.importorskip("optax")
    if name in OPTAX_DIFFERS:
        pytest.skip(OPTAX_DIFFERS[name])
    with pytest.raises(error):
        call(optax)


def test_scale_by_muon_one_dimension_numbers_for_all():
    """Where Optax's scale_by_muon fails on a dict of params with one MuonDimensionNumbers
    (or none), here each matrix gets it."""
    params = {k: fnp.asarray(PARAMS[k]) for k in ("w", "v")}
    tx = fo.contrib.scale_by_muon(weight_dimension_numbers=fo.contrib.MuonDimensionNumbers())
    u, _ = tx.update(params, tx.init(params))
    per_leaf = fo.contrib.scale_by_muon(weight_dimension_numbers={
        k: fo.contrib.MuonDimensionNumbers() for k in params})
    v, _ = per_leaf.update(params, per_leaf.init(params))
    w, _ = fo.contrib.scale_by_muon().update(params, tx.init(params))
    for k in params:
        np.testing.assert_array_equal(np.asarray(u[k]), np.asarray(v[k]))
        np.testing.assert_array_equal(np.asarray(u[k]), np.asarray(w[k]))
    # the Newton-Schulz iterate is roughly orthogonal: singular values near 1
    s = np.linalg.svd(np.asarray(u["v"]), compute_uv=False)
    assert np.all((s > 0.5) & (s < 1.5))


def test_sophia_verbose_prints_win_rate(capfd):
    tx = fo.contrib.sophia(0.1, verbose=True, print_win_rate_every_n_steps=1)
    p = {"w": fnp.asarray([0.5, -1.0, 2.0])}
    tx.update(p, tx.init(p), p, obj_fn=_objective(fnp))
    assert "Sophia optimizer win rate:" in capfd.readouterr().out


DEVICE_CASES = [c for c in CASES if c[0] in {
    "adopt", "ademamix", "simplified_ademamix", "madgrad", "acprop", "muon"}] + [
    GALORE_CASES[0], SOPHIA_CASES[0]]


@pytest.mark.parametrize("name, make", DEVICE_CASES, ids=[c[0] for c in DEVICE_CASES])
def test_params_on_a_device(name, make, fake_gpus):
    """Params on the stand-in GPU (the default device the CPU): updates and states stay
    with them, and the steps equal those on the CPU."""
    gpu = fake_gpus[0]
    tx = make(fo)
    extra = _obj_fn(fo) if name == "sophia" else {}
    params = ft.device_put({k: fnp.asarray(v) for k, v in PARAMS.items()}, gpu)
    state = tx.init(params)
    for g in GRADS[:3]:
        g = ft.device_put({k: fnp.asarray(v) for k, v in g.items()}, gpu)
        updates, state = tx.update(g, state, params, **extra)
        params = fo.apply_updates(params, updates)
    assert {x.device for x in tree_leaves((params, updates, state))} == {gpu}
    want, _ = run(fo, make, fnp.asarray, grads=GRADS[:3],
                  extra=_obj_fn if name == "sophia" else None)
    got = np.concatenate([np.asarray(params[k]).ravel() for k in sorted(params)])
    np.testing.assert_allclose(got, want[2], rtol=1e-12)
