"""functrans.optim.optax's L-BFGS and line searches (lbfgs, scale_by_lbfgs,
scale_by_zoom_linesearch, scale_by_backtracking_linesearch, value_and_grad_from_state):
iterates step by step against Optax in float64 on the Rosenbrock function and a strongly
convex quadratic, Optax's documented examples, jit, pytrees of params, the states' fields,
devices and wrong use."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.optim import optax as fo

rng = np.random.default_rng(7)
X0 = np.array([-1.2, 1.0, -0.5, 0.8, 1.5])
_M = rng.standard_normal((6, 6))
A = _M @ _M.T + 0.5 * np.eye(6)            # symmetric positive definite
B = rng.standard_normal(6)
Q0 = rng.standard_normal(6)


def rosenbrock(xp):
    return lambda x: xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def quadratic(xp):
    return lambda x: 0.5 * x @ (xp.asarray(A) @ x) - xp.asarray(B) @ x


def tree_quadratic(xp):
    """A strongly convex quadratic of params {"w": (2, 3), "b": (3,)}."""
    def f(p):
        x = xp.concatenate([p["b"], p["w"].reshape(-1)])[:6]
        return 0.5 * x @ (xp.asarray(A) @ x) - xp.asarray(B) @ x + xp.sum(p["w"] ** 2)
    return f


PROBLEMS = {"rosenbrock": (rosenbrock, X0, 30), "quadratic": (quadratic, Q0, 12)}
SOLVERS = {
    "zoom": lambda o: o.lbfgs(),
    "zoom-memory3-keep": lambda o: o.lbfgs(memory_size=3, linesearch=o.scale_by_zoom_linesearch(
        max_linesearch_steps=10, initial_guess_strategy="keep", max_learning_rate=2.0)),
    "backtracking": lambda o: o.lbfgs(linesearch=o.scale_by_backtracking_linesearch(
        max_backtracking_steps=30, store_grad=True)),
    "backtracking-nostore": lambda o: o.lbfgs(
        scale_init_precond=False,
        linesearch=o.scale_by_backtracking_linesearch(max_backtracking_steps=30,
                                                      decrease_factor=0.5, rtol=1e-3)),
    "no-linesearch": lambda o: o.chain(o.scale_by_lbfgs(memory_size=3), o.scale(-1e-3)),
    "no-linesearch-unscaled": lambda o: o.lbfgs(learning_rate=1e-3, memory_size=4,
                                                scale_init_precond=False, linesearch=None),
}


def _value_and_grad(lib):
    if lib is fo:
        return ft.value_and_grad
    import jax
    return jax.value_and_grad


def run(lib, xp, make, f, x0, steps):
    """The params after each step and each step's line-search learning rate and trial
    count (None without a line search). functrans runs eagerly; Optax's step is jitted
    (eagerly JAX would compile its line-search loop anew at every step)."""
    solver = make(lib)
    params = ft.tree_map(xp.asarray, x0)
    state = solver.init(params)
    search = state[-1]
    from_state = isinstance(search, (lib.ScaleByZoomLinesearchState,
                                     lib.ScaleByBacktrackingLinesearchState))
    value_and_grad = (lib.value_and_grad_from_state(f) if from_state and
                      search.grad is not None else None)

    def step(params, state):
        if value_and_grad is not None:
            value, grad = value_and_grad(params, state=state)
        else:
            value, grad = _value_and_grad(lib)(f)(params)
        updates, state = solver.update(grad, state, params, value=value, grad=grad,
                                       value_fn=f)
        return lib.apply_updates(params, updates), state
    if lib is not fo:
        import jax
        step = jax.jit(step)
    iterates, searches = [], []
    for _ in range(steps):
        params, state = step(params, state)
        iterates.append(ft.tree_map(np.asarray, params))
        searches.append((float(state[-1].learning_rate),
                         int(state[-1].info.num_linesearch_steps)) if from_state else None)
    return iterates, searches, state


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("solver", sorted(SOLVERS))
def test_iterates_match_optax(optax64, problem, solver):
    import jax.numpy as jnp
    make_f, x0, steps = PROBLEMS[problem]
    got, got_search, _ = run(fo, fnp, SOLVERS[solver], make_f(fnp), x0, steps)
    want, want_search, _ = run(optax64, jnp, SOLVERS[solver], make_f(jnp), x0, steps)
    for k, (g, w) in enumerate(zip(got, want)):
        assert g.dtype == np.float64
        # rounding differences grow along Rosenbrock's valley to ~1e-10 by step 30
        np.testing.assert_allclose(g, w, rtol=1e-8, atol=1e-9, err_msg=f"step {k}")
    for k, (g, w) in enumerate(zip(got_search, want_search)):
        if w is not None:
            assert g[1] == w[1], f"step {k}: {g[1]} line-search trials, Optax {w[1]}"
            np.testing.assert_allclose(g[0], w[0], rtol=1e-6, err_msg=f"step {k}")


def test_pytree_params_match_optax(optax64):
    import jax.numpy as jnp
    x0 = {"w": rng.standard_normal((2, 3)), "b": rng.standard_normal(3)}
    for solver in ("zoom", "backtracking", "no-linesearch"):
        got, _, state = run(fo, fnp, SOLVERS[solver], tree_quadratic(fnp), x0, 10)
        want, _, _ = run(optax64, jnp, SOLVERS[solver], tree_quadratic(jnp), x0, 10)
        for g, w in zip(got, want):
            assert set(g) == {"w", "b"}
            for key in g:
                np.testing.assert_allclose(g[key], w[key], rtol=1e-9, atol=1e-11)
        memory = 3 if solver == "no-linesearch" else 10
        assert state[0].diff_params_memory["w"].shape == (memory, 2, 3)


def test_not_a_descent_direction_matches_optax(optax64):
    """The zoom search along an ascent direction falls back as Optax's does."""
    import jax.numpy as jnp

    def one_step(lib, xp):
        f = quadratic(xp)
        solver = lib.chain(lib.scale(1.0), lib.scale_by_zoom_linesearch(5))
        params = xp.asarray(Q0)
        value, grad = _value_and_grad(lib)(f)(params)
        updates, state = solver.update(grad, solver.init(params), params, value=value,
                                       grad=grad, value_fn=f)
        info = state[-1].info
        return (np.asarray(updates), float(state[-1].learning_rate),
                int(info.num_linesearch_steps), float(info.decrease_error))
    got, want = one_step(fo, fnp), one_step(optax64, jnp)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    assert got[1:3] == want[1:3] and np.isclose(got[3], want[3], rtol=1e-12)


def test_converges_to_the_minimizer():
    """No Optax needed: L-BFGS with each line search finds the quadratic's minimizer
    A^-1 B and Rosenbrock's (1, ..., 1)."""
    for solver in ("zoom", "backtracking"):
        got, _, _ = run(fo, fnp, SOLVERS[solver], quadratic(fnp), Q0, 30)
        np.testing.assert_allclose(got[-1], np.linalg.solve(A, B), rtol=1e-7, atol=1e-9)
    got, _, _ = run(fo, fnp, SOLVERS["zoom"], rosenbrock(fnp), X0, 60)
    np.testing.assert_allclose(got[-1], np.ones(5), atol=1e-7)


def test_optax_documented_examples():
    """Optax's docstring examples, in float32, print Optax's numbers."""
    def f(x):
        return fnp.sum(x ** 2)
    solver = fo.lbfgs()
    params = fnp.asarray([1., 2., 3.])
    state = solver.init(params)
    value_and_grad = fo.value_and_grad_from_state(f)
    printed = []
    for _ in range(2):
        value, grad = value_and_grad(params, state=state)
        updates, state = solver.update(grad, state, params, value=value, grad=grad,
                                       value_fn=f)
        params = fo.apply_updates(params, updates)
        printed.append(float(f(params)))
        assert params.dtype == np.float32
    assert f"{printed[0]:.2E}" == "7.52E+00" and printed[1] < 1e-12

    # the backtracking search with value_fn's extra arguments passed through update
    def fn(params, x, y):
        return fo.l2_loss(x.dot(params), y)
    solver = fo.chain(fo.sgd(learning_rate=1.),
                      fo.scale_by_backtracking_linesearch(max_backtracking_steps=15))
    params = fnp.asarray([1., 2., 3.])
    state = solver.init(params)
    x, y = fnp.asarray([3., 2., 1.]), fnp.asarray(0.)
    printed = []
    for _ in range(5):
        value, grad = ft.value_and_grad(fn)(params, x, y)
        updates, state = solver.update(grad, state, params, value=value, grad=grad,
                                       value_fn=fn, x=x, y=y)
        params = fo.apply_updates(params, updates)
        printed.append(f"{float(fn(params, x, y)):.2E}")
    assert printed == ["3.86E+01", "2.50E+01", "1.34E+01", "5.87E+00", "5.81E+00"]


@pytest.mark.parametrize("solver", ["zoom", "backtracking", "no-linesearch"])
def test_jit_step_matches_eager(solver):
    f = rosenbrock(fnp)
    opt = SOLVERS[solver](fo)

    def step(params, state):
        value, grad = ft.value_and_grad(f)(params)
        updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=f)
        return fo.apply_updates(params, updates), state

    jitted = ft.jit(step)
    eager_p = jit_p = fnp.asarray(X0)
    eager_s = jit_s = opt.init(eager_p)
    for _ in range(12):
        eager_p, eager_s = step(eager_p, eager_s)
        jit_p, jit_s = jitted(jit_p, jit_s)
        np.testing.assert_allclose(np.asarray(jit_p), np.asarray(eager_p), rtol=1e-12,
                                   atol=1e-14)
    assert ft.tree_structure(jit_s) == ft.tree_structure(eager_s)
    for a, b in zip(ft.tree_leaves(jit_s), ft.tree_leaves(eager_s)):
        assert a.dtype == b.dtype
    # the update itself jitted, value_fn static (as Optax users write it)
    update = ft.jit(opt.update, static_argnames="value_fn")
    params, state = fnp.asarray(X0), opt.init(fnp.asarray(X0))
    value, grad = ft.value_and_grad(f)(params)
    got = update(grad, state, params, value=value, grad=grad, value_fn=f)
    want = opt.update(grad, state, params, value=value, grad=grad, value_fn=f)
    np.testing.assert_allclose(np.asarray(got[0]), np.asarray(want[0]), rtol=1e-12)


def test_linesearch_state_fields():
    f = quadratic(fnp)
    value_and_grad = ft.value_and_grad(f)
    for opt in (fo.lbfgs(), fo.lbfgs(linesearch=fo.scale_by_backtracking_linesearch(
            15, store_grad=True))):
        params = fnp.asarray(Q0)
        state = opt.init(params)
        search = state[-1]
        assert np.isinf(float(search.value)) and float(search.learning_rate) == 1.0
        assert search.value.dtype == np.float64 and search.grad.shape == (6,)
        # before the first step value_and_grad_from_state computes them
        from_state = fo.value_and_grad_from_state(f)
        value, grad = from_state(params, state=state)
        want_value, want_grad = value_and_grad(params)
        np.testing.assert_allclose(float(value), float(want_value), rtol=1e-14)
        np.testing.assert_allclose(np.asarray(grad), np.asarray(want_grad), rtol=1e-14)
        updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=f)
        new = fo.apply_updates(params, updates)
        search = state[-1]
        assert type(search).__name__ in ("ScaleByZoomLinesearchState",
                                         "ScaleByBacktrackingLinesearchState")
        new_value, new_grad = value_and_grad(new)
        np.testing.assert_allclose(float(search.value), float(new_value), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(search.grad), np.asarray(new_grad), rtol=1e-10,
                                   atol=1e-12)
        assert int(search.info.num_linesearch_steps) >= 1
        assert float(search.info.decrease_error) == 0.0
        assert float(search.value) < float(value)
        # and afterwards it hands back the stored ones
        value, grad = from_state(new, state=state)
        assert float(value) == float(search.value)
        np.testing.assert_array_equal(np.asarray(grad), np.asarray(search.grad))
        assert fo.tree_utils.tree_get(state, "value") is search.value
    assert float(state[-1].learning_rate) > 0
    lbfgs_state = state[0]
    assert type(lbfgs_state).__name__ == "ScaleByLBFGSState"
    assert lbfgs_state._fields == ("count", "params", "updates", "diff_params_memory",
                                   "diff_updates_memory", "weights_memory")
    assert int(lbfgs_state.count) == 1 and lbfgs_state.count.dtype == np.int32


def test_float32_params_keep_float32():
    f = rosenbrock(fnp)
    opt = fo.lbfgs()
    params = fnp.asarray(X0, dtype=np.float32)
    state = opt.init(params)
    value, grad = ft.value_and_grad(f)(params)
    updates, new_state = opt.update(grad, state, params, value=value, grad=grad, value_fn=f)
    assert updates.dtype == np.float32
    for a, b in zip(ft.tree_leaves(new_state), ft.tree_leaves(state)):
        assert a.dtype == b.dtype
    assert state[-1].value.dtype == np.float32 and state[0].weights_memory.dtype == np.float32


def test_params_on_a_device(fake_gpus):
    gpu = fake_gpus[0]
    f = quadratic(fnp)
    opt = fo.lbfgs()
    params = ft.device_put(fnp.asarray(Q0), gpu)
    state = opt.init(params)
    value_and_grad = fo.value_and_grad_from_state(f)
    for _ in range(3):
        value, grad = value_and_grad(params, state=state)
        updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=f)
        params = fo.apply_updates(params, updates)
    assert params.device is gpu and updates.device is gpu
    assert state[0].weights_memory.device is gpu and state[-1].value.device is gpu
    want, _, _ = run(fo, fnp, SOLVERS["zoom"], f, Q0, 3)
    np.testing.assert_allclose(np.asarray(params), want[-1], rtol=1e-12)


def test_wrong_use_errors():
    f = quadratic(fnp)
    params = fnp.asarray(Q0)
    value, grad = ft.value_and_grad(f)(params)
    for opt in (fo.lbfgs(), fo.chain(fo.sgd(1.0), fo.scale_by_backtracking_linesearch(10))):
        state = opt.init(params)
        with pytest.raises(TypeError, match=r"missing value, grad, value_fn.*value_fn=f"):
            opt.update(grad, state, params)
        with pytest.raises(TypeError, match=r"missing value_fn:"):
            opt.update(grad, state, params, value=value, grad=grad)
        with pytest.raises(TypeError, match=r"missing params"):
            opt.update(grad, state, value=value, grad=grad, value_fn=f)
        with pytest.raises(TypeError, match=r"keyword argument\(s\) \['data'\]"):
            opt.update(grad, state, params, value=value, grad=grad, value_fn=f, data=1.0)
    with pytest.raises(TypeError, match="scale_by_lbfgs.update: missing params"):
        fo.scale_by_lbfgs().update(grad, fo.scale_by_lbfgs().init(params))
    with pytest.raises(ValueError, match="memory_size must be an int >= 1"):
        fo.scale_by_lbfgs(memory_size=0)
    with pytest.raises(ValueError, match="initial_guess_strategy must be 'one' or 'keep'"):
        fo.scale_by_zoom_linesearch(10, initial_guess_strategy="two")
    # value_and_grad_from_state needs a line search that stores both
    stateless = fo.lbfgs(linesearch=None)
    with pytest.raises(ValueError, match="holds no value"):
        fo.value_and_grad_from_state(f)(params, state=stateless.init(params))
    no_grad = fo.lbfgs(linesearch=fo.scale_by_backtracking_linesearch(10))
    with pytest.raises(ValueError, match="holds no grad.*store_grad=True"):
        fo.value_and_grad_from_state(f)(params, state=no_grad.init(params))


def test_optax_namespace_lists_them():
    for name in ("lbfgs", "scale_by_lbfgs", "ScaleByLBFGSState", "scale_by_zoom_linesearch",
                 "ScaleByZoomLinesearchState", "ZoomLinesearchInfo",
                 "scale_by_backtracking_linesearch", "ScaleByBacktrackingLinesearchState",
                 "value_and_grad_from_state"):
        assert name in fo.__all__ and callable(getattr(fo, name))
    assert isinstance(fo.lbfgs(), fo.GradientTransformationExtraArgs)


def test_verbose_reports_a_failed_search(capsys):
    """Along an ascent direction both searches fail and, with verbose=True, say so (eagerly
    and under jit); a successful search prints nothing."""
    def f(x):
        return fnp.sum(x ** 2)
    params = fnp.asarray([1.0, 2.0])
    value, grad = ft.value_and_grad(f)(params)
    for ls, says in ((fo.scale_by_zoom_linesearch(3, verbose=True), "misses the conditions"),
                     (fo.scale_by_backtracking_linesearch(3, verbose=True),
                      "no learning rate with sufficient decrease")):
        for sign, fails in ((1.0, True), (-1.0, False)):
            opt = fo.chain(fo.scale(sign), ls)

            def update(p, s):
                return opt.update(grad, s, p, value=value, grad=grad, value_fn=f)[0]
            for step in (update, ft.jit(update)):
                step(params, opt.init(params))
                assert (says in capsys.readouterr().out) == fails
