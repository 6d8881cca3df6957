"""Refs (ft.new_ref) where functrans and JAX 0.10 used to differ, each run with both and
compared (results, the refs' final values, so the number of writes, and the error types):
refs as differentiated arguments, custom_jvp rules writing refs under reverse mode,
checkpointed functions writing refs under reverse mode, while_loop cond_funs writing refs,
and a grid of ref uses under jit / grad / vmap / scan / cond / custom_vjp."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp


@pytest.fixture
def jax():
    return pytest.importorskip("jax")


def _as_np(m, tree):
    return m.tree.map(np.asarray, tree)


def _both(jax, cell, rtol=1e-6):
    """`cell(m, mnp)` over functrans and over JAX, compared; functrans's result as NumPy."""
    ours = _as_np(ft, cell(ft, fnp))
    theirs = _as_np(jax, cell(jax, jax.numpy))
    assert ft.tree.structure(ours) == ft.tree.structure(theirs)
    ft.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=rtol), ours, theirs)
    return ours


def _raise_alike(jax, cell, match):
    """`cell(m, mnp)` raises the same exception type with functrans and with JAX; functrans's
    message matches `match`."""
    with pytest.raises(Exception) as theirs:
        cell(jax, jax.numpy)
    with pytest.raises(theirs.type, match=match):
        cell(ft, fnp)


# ------------------------------------------------------------------ refs as differentiated args
_DIFF = {
    "grad": lambda m, f, r: m.grad(f)(r),
    "value_and_grad": lambda m, f, r: m.value_and_grad(f)(r),
    "jacrev": lambda m, f, r: m.jacrev(f)(r),
    "jacfwd": lambda m, f, r: m.jacfwd(f)(r),
    "hessian": lambda m, f, r: m.hessian(f)(r),
    "jvp": lambda m, f, r: m.jvp(f, (r,), (1.,)),
    "vjp": lambda m, f, r: m.vjp(f, r)[1](1.),
    "linearize": lambda m, f, r: m.linearize(f, r)[1](1.),
    "grad_argnums": lambda m, f, r: m.grad(lambda x, s: f(s) * x, argnums=1)(1., r),
    "grad_in_a_dict": lambda m, f, r: m.grad(lambda d: f(d["w"]))({"w": r}),
}


@pytest.mark.parametrize("how", sorted(_DIFF))
def test_a_ref_as_a_differentiated_argument_is_a_value_error_like_jax(jax, how):
    def cell(m, mnp):
        r = m.new_ref(2.)
        return _DIFF[how](m, lambda s: s[...] * 3., r)
    _raise_alike(jax, cell, r"argument \d \('(s|r|d)'\)( at \['w'\])? .* is a Ref \(f32\[\]\).*"
                 r"pass its value \(ref\[...\]\)")


def test_a_ref_argument_left_out_of_argnums_is_read_and_written_like_jax(jax):
    def cell(m, mnp):
        r = m.new_ref(2.)

        def f(x, s):
            s[...] = s[...] + 1.
            return s[...] * mnp.sin(x)
        g = m.grad(f)(1., r)
        h = m.jit(m.grad(f))(1., r)
        return g, h, r[...]
    assert float(_both(jax, cell)[2]) == 4.


# ------------------------------------------------------------------ custom_jvp under reverse mode
def _custom_jvp_writer(m, r):
    """A custom_jvp function whose body adds 1 to `r` and whose rule adds 100."""
    @m.custom_jvp
    def f(x):
        r[...] += 1.
        return x * r[...]

    @f.defjvp
    def f_jvp(primals, tangents):
        r[...] += 100.
        return primals[0] * r[...], tangents[0] * r[...]
    return f


_REVERSE = {
    "grad": lambda m, f: m.grad(f)(3.),
    "value_and_grad": lambda m, f: m.value_and_grad(f)(3.),
    "jit_grad": lambda m, f: m.jit(m.grad(f))(3.),
    "jit_value_and_grad": lambda m, f: m.jit(m.value_and_grad(f))(3.),
    "grad_jit": lambda m, f: m.grad(m.jit(f))(3.),
    "vjp": lambda m, f: m.vjp(f, 3.)[0],
    "vjp_called": lambda m, f: m.vjp(f, 3.)[1](1.),
    "grad_of_square": lambda m, f: m.grad(lambda x: f(x) ** 2)(3.),
    "jvp": lambda m, f: m.jvp(f, (3.,), (1.,)),
    "eager": lambda m, f: f(3.),
}


@pytest.mark.parametrize("how", sorted(_REVERSE))
def test_custom_jvp_rule_runs_once_under_reverse_mode_like_jax(jax, how):
    """Reverse mode runs the rule once (its primal output is the result, its writes the ones
    made) and not the function; eagerly the function runs (one write each)."""
    def cell(m, mnp):
        r = m.new_ref(2.)
        return _REVERSE[how](m, _custom_jvp_writer(m, r)), r[...]
    ours = _both(jax, cell)
    assert float(ours[1]) == (3. if how == "eager" else 102.)


def test_custom_jvp_with_a_ref_under_reverse_mode_on_the_stand_in_gpu(fake_gpus):
    gpu = fake_gpus[0]
    r = ft.new_ref(ft.device_put(fnp.asarray(2.), gpu))
    x = ft.device_put(fnp.asarray(3.), gpu)
    np.testing.assert_allclose(ft.grad(_custom_jvp_writer(ft, r))(x), 102.)
    np.testing.assert_allclose(ft.jit(ft.grad(_custom_jvp_writer(ft, r)))(x), 202.)
    assert r[...].device is gpu and float(r[...]) == 202.


# ------------------------------------------------------------------ while_loop cond_fun writes
_STAGE = {"eager": lambda m, f: f(), "jit": lambda m, f: m.jit(f)()}


@pytest.mark.parametrize("stage", sorted(_STAGE))
@pytest.mark.parametrize("n", [0, 1, 4])
def test_while_loop_cond_fun_writes_are_kept_when_it_returns_true_like_jax(jax, stage, n):
    """JAX keeps the writes of each cond_fun evaluation that continues the loop, not those of
    the last one (which ends it): n iterations count n."""
    def cell(m, mnp):
        k, other = m.new_ref(0), m.new_ref(0.)

        def cond_fun(c):
            k[...] += 1
            return c < n

        def body_fun(c):
            other[...] += 2.
            return c + 1
        out = _STAGE[stage](m, lambda: m.lax.while_loop(cond_fun, body_fun, 0))
        return out, k[...], other[...]
    ours = _both(jax, cell)
    assert int(ours[1]) == n and float(ours[2]) == 2. * n


@pytest.mark.parametrize("stage", sorted(_STAGE))
def test_while_loop_cond_fun_reading_its_own_writes_like_jax(jax, stage):
    def cell(m, mnp):
        k, seen = m.new_ref(0), m.new_ref(mnp.zeros(4))

        def cond_fun(c):
            k[...] = k[...] + 2
            seen[c] = k[...].astype(seen.dtype)
            return k[...] < 7
        out = _STAGE[stage](m, lambda: m.lax.while_loop(cond_fun, lambda c: c + 1, 0))
        return out, k[...], seen[...]
    ours = _both(jax, cell)
    assert int(ours[1]) == 6
    np.testing.assert_array_equal(ours[2], [2., 4., 6., 0.])


@pytest.mark.parametrize("stage", sorted(_STAGE))
def test_while_loop_body_sees_the_cond_funs_writes(stage):
    """(JAX 0.10 loses the cond_fun's writes to a Ref the body reads: 0 here.)"""
    k = ft.new_ref(0)

    def cond_fun(c):
        k[...] += 10
        return c < 30

    out = _STAGE[stage](ft, lambda: ft.lax.while_loop(cond_fun, lambda c: c + k[...], 0))
    assert int(out) == 10 + 20 and int(k[...]) == 20


@pytest.mark.parametrize("stage", sorted(_STAGE))
def test_while_loop_cond_and_body_writing_one_ref_raise_like_jax(jax, stage):
    def cell(m, mnp):
        k = m.new_ref(0)

        def cond_fun(c):
            k[...] += 10
            return c < 3

        def body_fun(c):
            k[...] += 1
            return c + 1
        try:
            return _STAGE[stage](m, lambda: m.lax.while_loop(cond_fun, body_fun, 0))
        finally:
            if m is ft:
                assert int(k[...]) == 0
    if stage == "jit":
        _raise_alike(jax, cell, "cond_fun and body_fun both write one Ref")
    else:           # (JAX raises a ValueError about aliased arguments)
        with pytest.raises(NotImplementedError, match="write it in only one of them"):
            cell(ft, fnp)


@pytest.mark.parametrize("wrap", ["jvp", "grad", "jit_grad", "vmap"])
def test_while_loop_cond_fun_writes_under_transforms(jax, wrap):
    """Counted as JAX counts them under jvp; functrans also differentiates while_loop in
    reverse mode, where JAX refuses; under vmap the Ref is closed over, so writing it is an
    error in both."""
    def run(m, f):
        return {"jvp": lambda: m.jvp(f, (2.,), (1.,)), "grad": lambda: m.grad(f)(2.),
                "jit_grad": lambda: m.jit(m.grad(f))(2.),
                "vmap": lambda: m.vmap(f)(m.numpy.arange(1., 4.))}[wrap]()

    def cell(m, mnp):
        k = m.new_ref(0.)

        def cond_fun(c):
            k[...] += 1.
            return c[0] < 3

        def f(x):
            return m.lax.while_loop(cond_fun, lambda c: (c[0] + 1, c[1] * x), (0, x))[1]
        return run(m, f), k[...]
    if wrap == "vmap":
        _raise_alike(jax, cell, "inside vmap: the Ref .* was made outside")
        return
    if wrap in ("grad", "jit_grad"):
        out, k = cell(ft, fnp)
        np.testing.assert_allclose(out, 4 * 2. ** 3)
        assert float(k) == 3.
        return
    assert float(_both(jax, cell)[1]) == 3.


# ------------------------------------------------------------------ checkpoint's recomputation
def _sin_times_count(m, mnp, c, policy=None):
    """A checkpointed function adding 1 to `c` and returning sin(y) times it."""
    return m.checkpoint(lambda y: (c.__setitem__(..., c[...] + 1.), mnp.sin(y) * c[...])[1],
                        policy=policy)


def _vjp_twice(m, f):
    out, pullback = m.vjp(f, 2.)
    return out, pullback(1.), pullback(1.)


_CKPT = {
    "grad": lambda m, f: m.grad(f)(2.),
    "value_and_grad": lambda m, f: m.value_and_grad(f)(2.),
    "jit_grad": lambda m, f: m.jit(m.grad(f))(2.),
    "vjp_uncalled": lambda m, f: m.vjp(f, 2.)[0],
    "vjp_called_twice": _vjp_twice,
    "jvp": lambda m, f: m.jvp(f, (2.,), (1.,)),
    "eager": lambda m, f: f(2.),
    "jit": lambda m, f: m.jit(f)(2.),
    "twice_grad": lambda m, f: m.grad(lambda x: f(f(x)))(2.),
    "scan_grad": lambda m, f: m.grad(
        lambda x: m.lax.scan(lambda a, _: (f(a), None), x, None, length=3)[0])(2.),
}
_CKPT_WRITES = {"grad": 2, "value_and_grad": 2, "jit_grad": 2, "vjp_called_twice": 3,
                "twice_grad": 4, "scan_grad": 6}


@pytest.mark.parametrize("how", sorted(_CKPT))
def test_checkpoint_recomputation_writes_refs_again_like_jax(jax, how):
    """JAX's backward pass reruns the checkpointed function: it reads the refs' values then
    (the derivative uses them) and writes them again; forward mode and the forward pass
    alone write once."""
    def cell(m, mnp):
        c = m.new_ref(0.)
        return _CKPT[how](m, _sin_times_count(m, mnp, c)), c[...]
    ours = _both(jax, cell, rtol=1e-5)
    assert float(ours[1]) == _CKPT_WRITES.get(how, 1)


@pytest.mark.parametrize("policy", ["everything_saveable", "nothing_saveable"])
def test_checkpoint_policy_decides_whether_the_writes_are_repeated_like_jax(jax, policy):
    def cell(m, mnp):
        c = m.new_ref(0.)
        f = _sin_times_count(m, mnp, c, getattr(m.checkpoint_policies, policy))
        return m.grad(f)(2.), c[...]
    assert float(_both(jax, cell)[1]) == (1. if policy == "everything_saveable" else 2.)


@pytest.mark.parametrize("stage", ["grad", "jit_grad"])
def test_checkpoint_recomputation_reads_refs_written_after_it_like_jax(jax, stage):
    def cell(m, mnp):
        r, s = m.new_ref(1.), m.new_ref(1.)

        def g(x):
            y = m.checkpoint(lambda y: (r.__setitem__(..., r[...] * 2.),
                                        mnp.sin(y) * r[...] * s[...])[1])(x)
            r[...] = 5.
            s[...] = 3.
            return y
        d = m.grad(g)(2.) if stage == "grad" else m.jit(m.grad(g))(2.)
        return d, r[...], s[...]
    ours = _both(jax, cell, rtol=1e-5)
    assert float(ours[1]) == 10.


def test_grad_of_jit_of_a_checkpoint_writing_a_ref_writes_once():
    """(JAX writes twice here too; functrans's jit splits its jaxpr apart from the refs, so
    the recomputation there runs on the values of the forward pass and writes nothing.)"""
    c = ft.new_ref(0.)
    d = ft.grad(ft.jit(_sin_times_count(ft, fnp, c)))(2.)
    np.testing.assert_allclose(d, np.cos(2.), rtol=1e-6)
    assert float(c[...]) == 1.


def test_checkpoint_recomputation_on_the_stand_in_gpu(fake_gpus):
    gpu = fake_gpus[0]
    c = ft.new_ref(ft.device_put(fnp.asarray(0.), gpu))
    x = ft.device_put(fnp.asarray(2.), gpu)
    np.testing.assert_allclose(ft.grad(_sin_times_count(ft, fnp, c))(x), 2 * np.cos(2.),
                               rtol=1e-6)
    assert c[...].device is gpu and float(c[...]) == 2.
