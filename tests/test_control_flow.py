"""Structured control flow (ft.lax.cond/switch/while_loop/fori_loop/scan/map): values eagerly
and under jit, derivatives against finite differences (forward and reverse, eagerly and under
jit), batching against Python loops, and the generated code."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.test_util import check_grads

RNG = np.random.default_rng(0)


def arr(*shape, scale=1.0):
    return fnp.asarray(RNG.standard_normal(shape) * scale)


def close(a, b, **kw):
    kw.setdefault("rtol", 1e-10)
    kw.setdefault("atol", 1e-12)
    for x, y in zip(ft.tree_leaves(a), ft.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), **kw)


def both(f):
    """`f` eagerly and under jit."""
    return [f, ft.jit(f)]


# =================================================================== functions under test
W = arr(3, 3, scale=0.5)


def cond_fn(x):
    return lax.cond(fnp.sum(x) > 0, lambda v: fnp.sin(v @ W) * v, lambda v: v ** 2 + 1.0, x)


def switch_fn(x, i):
    return lax.switch(i, [lambda v: fnp.sin(v), lambda v: v ** 3, lambda v: fnp.exp(-v) * v], x)


def fori_static(x):
    return lax.fori_loop(0, 3, lambda i, h: fnp.tanh(h @ W) + 0.1 * h * i, x)


def fori_dynamic(x, n):
    return lax.fori_loop(0, n, lambda i, h: fnp.tanh(h @ W) + 0.1 * h, x)


def while_fn(x):
    # a data-dependent trip count: halve until small
    def body(c):
        k, v = c
        return k + 1, fnp.sin(v) * 0.5 + 0.1 * v
    return lax.while_loop(lambda c: (c[0] < 20) & (fnp.sum(c[1] ** 2) > 0.05), body, (0, x))[1]


XS = arr(3, 3)


def scan_fn(x, xs):
    def step(h, xt):
        h = fnp.tanh(h @ W + xt)
        return h, fnp.sum(h * xt)
    return lax.scan(step, x, xs)


def unrolled(x, n):
    h = x
    for _ in range(n):
        h = fnp.tanh(h @ W) + 0.1 * h
    return h


# =================================================================== values
@pytest.mark.parametrize("jitted", [False, True])
def test_values_match_python(jitted):
    wrap = ft.jit if jitted else (lambda f: f)
    x, xs = arr(3), arr(4, 3)
    close(wrap(cond_fn)(x), fnp.sin(x @ W) * x if float(x.sum()) > 0 else x ** 2 + 1)
    close(wrap(cond_fn)(-x), fnp.sin(-x @ W) * -x if float(-x.sum()) > 0 else x ** 2 + 1)
    for i, want in [(-3, fnp.sin(x)), (1, x ** 3), (2, fnp.exp(-x) * x), (7, fnp.exp(-x) * x)]:
        close(wrap(switch_fn)(x, i), want)
    close(wrap(fori_dynamic)(x, 4), unrolled(x, 4))
    close(wrap(fori_dynamic)(x, 0), x)
    h = x
    for i in range(3):
        h = fnp.tanh(h @ W) + 0.1 * h * i
    close(wrap(fori_static)(x), h)
    carry, ys = wrap(scan_fn)(x, xs)
    h, want_ys = x, []
    for t in range(4):
        h = fnp.tanh(h @ W + xs[t])
        want_ys.append(fnp.sum(h * xs[t]))
    close(carry, h)
    close(ys, fnp.stack(want_ys))


def test_while_data_dependent_trip_count():
    x = arr(3) * 3
    v, k = x, 0
    while k < 20 and float(fnp.sum(v ** 2)) > 0.05:
        v, k = fnp.sin(v) * 0.5 + 0.1 * v, k + 1
    for f in both(while_fn):
        close(f(x), v)


def test_scan_options():
    xs = arr(5, 2)
    f = lambda c, x: (c + x, c * x)  # noqa: E731
    for g in both(lambda xs: lax.scan(f, fnp.zeros(2, fnp.float64), xs, reverse=True)):
        c, ys = g(xs)
        acc, want = np.zeros(2), []
        for t in reversed(range(5)):
            want.append(acc * np.asarray(xs[t]))
            acc = acc + np.asarray(xs[t])
        close(c, acc)
        close(ys, np.stack(want[::-1]))
    # no xs: a length; pytrees in carry and outputs; a None output
    for g in both(lambda a: lax.scan(lambda c, _: ((c[0] * 2, c[1] + 1), None),
                                     (a, 0), None, length=3)):
        (a, k), ys = g(fnp.asarray(1.5))
        assert float(a) == 12.0 and int(k) == 3 and ys is None
    # zero-length scans keep the shapes of their outputs
    for g in both(lambda xs: lax.scan(lambda c, x: (c + x, x * 2), fnp.zeros(3), xs)):
        c, ys = g(fnp.zeros((0, 3)))
        assert ys.shape == (0, 3) and c.shape == (3,)


def test_map():
    xs = arr(4, 3)
    for g in both(lambda xs: lax.map(lambda v: fnp.sum(v ** 2), xs)):
        close(g(xs), fnp.sum(xs ** 2, axis=1))


def test_weakly_typed_carry_takes_the_body_dtype():
    xs = fnp.asarray(np.arange(4.0))           # float64
    for g in both(lambda xs: lax.scan(lambda c, x: (c * 0.5 + x, c), 1.0, xs)):
        c, ys = g(xs)
        assert c.dtype == np.float64 and ys.dtype == np.float64
    for g in both(lambda x: lax.fori_loop(0, 3, lambda i, c: c + x, 0.0)):
        assert g(fnp.asarray(np.float64(2.0))).dtype == np.float64


def test_eager_loops_are_plain_python_for_every_transform():
    # staged (make_jaxpr, jit) a loop with concrete bounds is one scan equation ...
    jaxpr = ft.make_jaxpr(ft.grad(lambda x: fori_dynamic(x, 3).sum()))(arr(3))
    assert str(jaxpr).count("scan[") == 2 and "tanh" not in str(jaxpr).split("scan[")[0]
    # ... eagerly it is a Python loop, and grad records ordinary operations
    x = arr(3)
    close(ft.grad(lambda x: fori_dynamic(x, 3).sum())(x),
          ft.grad(lambda x: unrolled(x, 3).sum())(x))


# =================================================================== generated code
def test_loops_are_lowered_to_python_control_flow_not_unrolled():
    code = ft.jit(fori_dynamic).lower(arr(3), 5).executable.source
    assert "while True:" in code and code.count("tanh(") == 1
    text = ft.jit(fori_static).lower(arr(3)).as_text()
    assert "for i" in text and "scan[" in text
    text = ft.jit(cond_fn).lower(arr(3)).as_text()
    assert "if i" in text and "else:" in text
    text = ft.jit(ft.grad(lambda x, n: fori_dynamic(x, n).sum())).lower(arr(3), 2).as_text()
    assert "LoopRecord" in text and "reversed(" in text


def test_dynamic_trip_count_under_jit_grad_traces_once():
    g = ft.jit(ft.grad(lambda x, n: fori_dynamic(x, n).sum()))
    x = arr(3)
    for n in [0, 3, 1, 5]:
        close(g(x, n), ft.grad(lambda x: unrolled(x, n).sum())(x))
    assert g.cache_info().misses == 1


# =================================================================== derivatives
STATIC = [("cond", cond_fn, lambda: (arr(3),)),
          ("cond_other_branch", cond_fn, lambda: (-fnp.abs(arr(3)),)),
          ("switch", lambda x: switch_fn(x, 2), lambda: (arr(3),)),
          ("fori_static", fori_static, lambda: (arr(3),)),
          ("scan", scan_fn, lambda: (arr(3), arr(4, 3))),
          ("map", lambda xs: lax.map(lambda v: fnp.sin(v) * v, xs), lambda: (arr(4, 2),)),
          ("while_eager_only", while_fn, lambda: (arr(3) * 3,))]


@pytest.mark.parametrize("name,f,args", STATIC, ids=[s[0] for s in STATIC])
def test_grads_static_and_eager(name, f, args):
    a = args()
    check_grads(f, a, order=2, modes=("fwd", "rev"))
    if name != "while_eager_only":
        check_grads(ft.jit(f), a, order=2, modes=("fwd", "rev"))


def test_grads_while_under_jit():
    # a traced predicate: forward mode to any order, reverse mode (record), and
    # forward-over-reverse
    x = arr(3) * 3
    check_grads(ft.jit(while_fn), (x,), order=2, modes=("fwd",))
    check_grads(ft.jit(while_fn), (x,), order=1, modes=("rev",))
    hess = ft.jit(ft.hessian(lambda x: while_fn(x).sum()))(x)
    close(hess, ft.hessian(lambda x: while_fn(x).sum())(x), rtol=1e-9)


@pytest.mark.parametrize("n", [0, 1, 3])
def test_grads_fori_dynamic_under_jit(n):
    f = ft.jit(lambda x: fori_dynamic(x, fnp.asarray(n)))
    check_grads(f, (arr(3),), order=2, modes=("fwd",))
    check_grads(f, (arr(3),), order=1, modes=("rev",))


def test_forward_over_reverse_through_dynamic_loops_under_jit():
    x = arr(3)

    def loss(x, n):
        return fnp.sum(fori_dynamic(x, n) ** 2)
    want = ft.hessian(lambda x: fnp.sum(unrolled(x, 3) ** 2))(x)
    close(ft.jit(ft.hessian(loss))(x, 3), want, rtol=1e-9)
    close(ft.hessian(ft.jit(loss))(x, 3), want, rtol=1e-9)
    # the Hessian-vector product, directly
    t = arr(3)
    hvp = ft.jit(lambda x, t, n: ft.jvp(lambda x: ft.grad(loss)(x, n), (x,), (t,))[1])
    close(hvp(x, t, 3), np.asarray(want) @ np.asarray(t), rtol=1e-9)


def test_reverse_over_reverse_through_dynamic_loops_under_jit_is_refused_clearly():
    loss = ft.jit(lambda x, n: fnp.sum(fori_dynamic(x, n) ** 2))
    with pytest.raises(NotImplementedError, match="static trip count"):
        ft.jacrev(ft.grad(loss))(arr(3), 2)


@pytest.mark.parametrize("f,args", [(cond_fn, lambda: (arr(3),)),
                                    (fori_static, lambda: (arr(3),)),
                                    (lambda x: fori_dynamic(x, 2), lambda: (arr(3),)),
                                    (while_fn, lambda: (arr(3) * 3,)),
                                    (lambda x: scan_fn(x, XS)[0], lambda: (arr(3),))])
def test_jacfwd_equals_jacrev(f, args):
    a = args()
    want = ft.jacfwd(f)(*a)
    close(ft.jacrev(f)(*a), want)
    close(ft.jit(ft.jacfwd(f))(*a), want)
    close(ft.jit(ft.jacrev(f))(*a), want)


def test_checkpointed_scan_body_saves_only_the_carry():
    # the residuals of a checkpointed body are its inputs: the carry is stacked, the slices
    # of xs are read from xs again
    from functrans.interpreters.ad import vjp_split

    @ft.checkpoint
    def step(h, x):
        return fnp.sin(fnp.sin(h * x) * 2.0), None

    def f(h, xs):
        return fnp.sum(lax.scan(step, h, xs)[0])
    h, xs = arr(3), arr(5, 3)
    close(ft.grad(ft.jit(f))(h, xs), ft.grad(f)(h, xs))
    check_grads(ft.jit(f), (h, xs), order=2, modes=("fwd", "rev"))
    split = vjp_split(ft.make_jaxpr(f)(h, xs), (True, True))
    # the forward scan stacks one residual per iteration: the carry (the checkpoint's input)
    scan_eqn = next(e for e in split.fwd.eqns if e.primitive.name == "scan")
    assert len(scan_eqn.outvars) == 2, scan_eqn


# =================================================================== vmap
def test_vmap_cond_batched_predicate_is_a_select():
    xs = arr(6, 3)
    want = fnp.stack([cond_fn(x) for x in xs])
    for f in [ft.vmap(cond_fn), ft.jit(ft.vmap(cond_fn)), ft.vmap(ft.jit(cond_fn))]:
        close(f(xs), want)
    # unbatched predicate, batched operands
    g = ft.vmap(lambda x, p: lax.cond(p, lambda v: v * 2, lambda v: v - 1, x), in_axes=(0, None))
    close(g(xs, True), xs * 2)


def test_vmap_switch():
    xs, idx = arr(5, 3), fnp.asarray(np.array([0, 2, 1, 5, -1]))
    want = fnp.stack([switch_fn(x, int(i)) for x, i in zip(xs, idx)])
    close(ft.vmap(switch_fn)(xs, idx), want)
    close(ft.jit(ft.vmap(switch_fn))(xs, idx), want)


def test_vmap_while_runs_until_every_lane_is_done():
    xs = arr(5, 3) * np.array([[0.1], [1.0], [3.0], [10.0], [0.01]])
    want = fnp.stack([while_fn(x) for x in xs])
    for f in [ft.vmap(while_fn), ft.jit(ft.vmap(while_fn)), ft.vmap(ft.jit(while_fn))]:
        close(f(xs), want)
    ns = fnp.asarray(np.array([0, 3, 1, 2, 5]))
    want = fnp.stack([unrolled(x, int(n)) for x, n in zip(xs, ns)])
    close(ft.vmap(fori_dynamic)(xs, ns), want)
    close(ft.vmap(fori_dynamic, in_axes=(0, None))(xs, 2),
          fnp.stack([unrolled(x, 2) for x in xs]))


def test_vmap_scan_over_a_middle_axis():
    x, xs = arr(3), arr(4, 2, 3)      # batch on axis 1 of xs
    f = ft.vmap(scan_fn, in_axes=(None, 1))
    want = [scan_fn(x, xs[:, b]) for b in range(2)]
    got = f(x, xs)
    close(got[0], fnp.stack([w[0] for w in want]))
    close(got[1], fnp.stack([w[1] for w in want]))
    close(ft.jit(f)(x, xs)[1], fnp.stack([w[1] for w in want]))


@pytest.mark.parametrize("wrap", ["eager", "jit_inside", "jit_outside", "grad_of_jit"])
def test_per_example_gradients_with_per_example_trip_counts(wrap):
    xs, ns = arr(4, 3), fnp.asarray(np.array([0, 1, 3, 2]))

    def loss(w, x, n):
        return fnp.sum(lax.fori_loop(0, n, lambda i, h: fnp.tanh(h @ w), x) ** 2)
    g = ft.grad(loss)
    f = {"eager": ft.vmap(g, in_axes=(None, 0, 0)),
         "jit_inside": ft.vmap(ft.jit(g), in_axes=(None, 0, 0)),
         "jit_outside": ft.jit(ft.vmap(g, in_axes=(None, 0, 0))),
         "grad_of_jit": ft.vmap(ft.grad(ft.jit(loss)), in_axes=(None, 0, 0))}[wrap]

    def ref(w, x, n):
        h = x
        for _ in range(n):
            h = fnp.tanh(h @ w)
        return fnp.sum(h ** 2)
    want = fnp.stack([ft.grad(ref)(W, x, int(n)) for x, n in zip(xs, ns)])
    close(f(W, xs, ns), want)


def test_jacrev_of_a_jitted_while_loop_batches_the_backward_pass():
    x = arr(3) * 3
    close(ft.jacrev(ft.jit(while_fn))(x), ft.jacfwd(while_fn)(x))


# =================================================================== errors
def test_errors_name_what_is_wrong():
    with pytest.raises(TypeError,
                       match="false_fun returns f64\\[2\\].*true_fun returns f64\\[3\\]"):
        ft.jit(lambda x: lax.cond(x[0] > 0, lambda v: v, lambda v: v[:2], x))(arr(3))
    with pytest.raises(TypeError, match="dtype of carry\\[1\\] from i64\\[\\] to f64\\[\\]"):
        ft.jit(lambda x: lax.fori_loop(0, 2, lambda i, c: (c[0], c[1] * x),
                                       (x, fnp.asarray(1))))(arr())
    with pytest.raises(TypeError, match="must be a scalar"):
        lax.cond(fnp.ones(3) > 0, lambda: 1.0, lambda: 2.0)
    with pytest.raises(TypeError, match="structure"):
        lax.while_loop(lambda c: c[0] < 3, lambda c: c[0] + 1, (0, 1))
    with pytest.raises(ValueError, match="leading axes"):
        lax.scan(lambda c, x: (c, x), 0.0, (arr(3), arr(4)))
    with pytest.raises(TypeError, match="integer scalar"):
        lax.fori_loop(0, 2.5, lambda i, c: c, 0.0)


# =================================================================== property tests
@given(n=st.integers(0, 4), k=st.integers(0, 3), reverse=st.booleans(),
       seed=st.integers(0, 1000))
def test_property_loops_match_python(n, k, reverse, seed):
    rng = np.random.default_rng(seed)
    x = fnp.asarray(rng.standard_normal(2))
    xs = fnp.asarray(rng.standard_normal((n, 2)))

    def body(c, xt):
        c = fnp.cos(c) * xt + 0.5 * c
        return c, c[0] * xt

    def ref(x, xs):
        c, ys = x, []
        order = reversed(range(n)) if reverse else range(n)
        for t in order:
            c, y = body(c, xs[t])
            ys.append(y)
        if reverse:
            ys = ys[::-1]
        return c, (fnp.stack(ys) if ys else fnp.zeros((0, 2)))
    f = lambda x, xs: lax.scan(body, x, xs, reverse=reverse)  # noqa: E731
    for g in both(f):
        close(g(x, xs), ref(x, xs))
    gf = ft.grad(lambda x: fnp.sum(f(x, xs)[0]) + fnp.sum(f(x, xs)[1]))
    gr = ft.grad(lambda x: fnp.sum(ref(x, xs)[0]) + fnp.sum(ref(x, xs)[1]))
    close(ft.jit(gf)(x), gr(x), rtol=1e-9)
    h = lambda x, m: lax.fori_loop(0, m, lambda i, c: fnp.sin(c) * 1.5, x)  # noqa: E731
    want = x
    for _ in range(k):
        want = fnp.sin(want) * 1.5
    close(ft.jit(h)(x, k), want)
    close(ft.jit(ft.jacrev(h))(x, k), ft.jacfwd(h)(x, k))


# =================================================================== checkpoint policies
POLICIES = [None, ft.checkpoint_policies.nothing_saveable,
            ft.checkpoint_policies.everything_saveable, ft.checkpoint_policies.dots_saveable,
            ft.checkpoint_policies.dots_with_no_batch_dims_saveable,
            ft.checkpoint_policies.save_only_these_names("hidden"),
            ft.checkpoint_policies.save_anything_except_these_names("hidden")]


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: getattr(p, "__name__", str(p)))
def test_checkpoint_policies_give_the_same_derivatives(policy):
    w1, w2 = arr(3, 4), arr(4, 2)

    def block(x, w1, w2):
        h = ft.checkpoint_name(fnp.tanh(x @ w1), "hidden")
        return fnp.sin(h @ w2)
    f = ft.checkpoint(block, policy=policy)
    x = arr(5, 3)
    close(ft.grad(lambda *a: fnp.sum(f(*a)))(x, w1, w2),
          ft.grad(lambda *a: fnp.sum(block(*a)))(x, w1, w2))
    check_grads(f, (x, w1, w2), order=2, modes=("fwd", "rev"))
    check_grads(ft.jit(f), (x, w1, w2), order=2, modes=("fwd", "rev"))
    xs = arr(4, 5, 3)
    close(ft.vmap(ft.grad(lambda x: fnp.sum(f(x, w1, w2))))(xs),
          fnp.stack([ft.grad(lambda x: fnp.sum(block(x, w1, w2)))(x) for x in xs]))


def test_checkpoint_policy_decides_what_the_forward_pass_saves():
    from functrans.interpreters.ad import vjp_split
    w1, w2 = arr(3, 4), arr(4, 2)

    def saved_by(policy):
        def block(x):
            h = ft.checkpoint_name(fnp.tanh(x @ w1), "hidden")
            return fnp.sin(h @ w2)
        f = ft.checkpoint(block, policy=policy)
        split = vjp_split(ft.make_jaxpr(lambda x: fnp.sum(f(x)))(arr(5, 3)), (True,))
        fwd = next(e for e in split.fwd.eqns if e.primitive.name == "checkpoint")
        return [v.aval.shape for v in fwd.outvars[1:]]
    assert saved_by(None) == []                                   # inputs only
    assert sorted(saved_by(ft.checkpoint_policies.dots_saveable)) == [(5, 2), (5, 4)]
    assert saved_by(ft.checkpoint_policies.save_only_these_names("hidden")) == [(5, 4)]
    pol = ft.checkpoint_policies            # JAX's other names for these
    assert sorted(saved_by(pol.checkpoint_dots)) == [(5, 2), (5, 4)]
    assert sorted(saved_by(pol.offload_dot_with_no_batch_dims("device", "pinned_host"))) == \
        [(5, 2), (5, 4)]
    assert saved_by(pol.save_from_both_policies(pol.nothing_saveable,
                                                pol.save_only_these_names("hidden"))) == [(5, 4)]
    assert saved_by(pol.save_and_offload_only_these_names(
        names_which_can_be_saved=[], names_which_can_be_offloaded=["hidden"],
        offload_src="device", offload_dst="pinned_host")) == [(5, 4)]


def test_nested_vmaps_of_reverse_and_forward_over_reverse_through_dynamic_loops():
    def loss(w, x, n):
        return fnp.sum(lax.fori_loop(0, n, lambda i, h: fnp.tanh(h @ w), x) ** 2)

    def ref(w, x, n):
        h = x
        for _ in range(n):
            h = fnp.tanh(h @ w)
        return fnp.sum(h ** 2)
    xs, ns = arr(2, 3, 3), fnp.asarray(np.array([[0, 2, 1], [3, 1, 2]]))
    want = np.stack([[np.asarray(ft.grad(ref)(W, xs[i, j], int(ns[i, j]))) for j in range(3)]
                     for i in range(2)])
    per_example = ft.vmap(ft.grad(loss), in_axes=(None, 0, 0))
    close(ft.vmap(per_example, in_axes=(None, 0, 0))(W, xs, ns), want)
    close(ft.jit(ft.vmap(per_example, in_axes=(None, 0, 0)))(W, xs, ns), want)
    hess = ft.jit(ft.vmap(ft.hessian(loss, argnums=1), in_axes=(None, 0, 0)))
    close(hess(W, xs[1], ns[1]),
          np.stack([np.asarray(ft.hessian(ref, argnums=1)(W, xs[1, j], int(ns[1, j])))
                    for j in range(3)]), rtol=1e-9)


def _optimized(f, *args):
    return ft.jit(f).lower(*args).compile().jaxpr


def test_dead_code_narrows_scan_cond_and_calls():
    """An unused stacked output of a scan is not computed, nor are unused outputs of cond's
    branches or of a nested call, nor the inputs only they read."""
    w = fnp.asarray(np.array([0.5, -1.0, 2.0]))

    def f(c, xs, y):
        def body(c, x):
            return c + x, (fnp.sin(x) * c, fnp.exp(x) * y)
        c, (a, _) = lax.scan(body, c, xs)
        b, _ = lax.cond(c > 0, lambda v: (v * 2, fnp.cos(y)), lambda v: (v + 1, fnp.tan(y)), a)
        d, _ = ft.jit(lambda v: (v * 3, fnp.log(y)))(b)
        return fnp.sum(d)

    args = (fnp.asarray(np.float64(1.0)), w, fnp.asarray(np.float64(0.3)))
    opt = _optimized(f, *args)
    scan_eqn = next(e for e in opt.eqns if e.primitive.name == "scan")
    assert len(scan_eqn.outvars) == 2 and len(scan_eqn.invars) == 2      # y is not read
    body_prims = {e.primitive.name for e in scan_eqn.params["jaxpr"].eqns}
    assert "exp" not in body_prims
    cond_eqn = next(e for e in opt.eqns if e.primitive.name == "cond")
    assert len(cond_eqn.outvars) == 1 and len(cond_eqn.invars) == 2
    assert not any(e.primitive.name in ("cos", "tan") for br in cond_eqn.params["branches"]
                   for e in br.eqns)
    assert not any(e.primitive.name == "log" for e in opt.eqns)
    close(ft.jit(f)(*args), f(*args))
    close(ft.jit(ft.grad(f, argnums=(0, 1)))(*args), ft.grad(f, argnums=(0, 1))(*args))


def test_concrete_cond_and_switch_return_arrays():
    """With a concrete predicate only one branch runs; its Python scalars still come back as
    arrays of the default dtype, as under jit and in JAX."""
    out = ft.lax.cond(True, lambda x: x, lambda x: x, 1.0)
    assert isinstance(out, ft.Array) and out.dtype == np.float32 and float(out) == 1.0
    out = ft.lax.switch(1, [lambda x: (x, 1), lambda x: (x * 2, 7)], 3)
    assert all(isinstance(o, ft.Array) for o in out) and [int(o) for o in out] == [6, 7]
    jitted = ft.jit(lambda p: ft.lax.cond(p, lambda x: x, lambda x: x, 1.0))(True)
    assert jitted.dtype == ft.lax.cond(True, lambda x: x, lambda x: x, 1.0).dtype
