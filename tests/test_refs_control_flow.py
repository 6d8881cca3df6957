"""Refs (ft.new_ref) used inside lax control flow (scan, fori_loop, while_loop, cond, switch,
map), checkpoint, make_jaxpr / eval_shape and jit's ahead-of-time stages: run with
functrans and with JAX and compared, eagerly and under jit, grad (float64 finite
differences) and vmap, and the errors JAX raises too."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads


@pytest.fixture
def jax():
    return pytest.importorskip("jax")


def _both(jax, cell):
    """`cell(m, mnp)` over functrans and over JAX, each result as NumPy."""
    ours = ft.tree.map(np.asarray, cell(ft, fnp))
    theirs = jax.tree.map(np.asarray, cell(jax, jax.numpy))
    ft.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5), ours, theirs)
    return ours


# ------------------------------------------------------------------ each construct, as JAX
def _scan_cell(m, mnp):
    r = m.new_ref(mnp.zeros(()))

    def body(c, x):
        r[...] += x
        return c + 1, r[...] * 2
    eager = m.lax.scan(body, 0, mnp.arange(3.))
    after_eager = r[...]
    staged = m.jit(lambda xs: m.lax.scan(body, 0, xs))(mnp.arange(3.))
    return eager, after_eager, staged, r[...]


def test_scan_accumulates_into_a_closed_over_ref_like_jax(jax):
    ours = _both(jax, _scan_cell)
    np.testing.assert_array_equal(ours[2][1], [6., 8., 12.])
    assert float(ours[3]) == 6.


def _fori_cell(m, mnp):
    count = m.new_ref(0)

    def body(i, c):
        count[...] += i
        return c + 1.
    a = m.lax.fori_loop(0, 4, body, 0.)
    b = m.jit(lambda n: m.lax.fori_loop(0, n, body, 0.))(3)        # traced bound: a while
    c = m.jit(lambda: m.lax.fori_loop(1, 3, body, 0.))()            # concrete: a scan
    return a, b, c, count[...]


def test_fori_loop_counter_in_a_ref_like_jax(jax):
    assert int(_both(jax, _fori_cell)[3]) == 6 + 3 + 3


def _cond_cell(m, mnp):
    w = m.new_ref(mnp.zeros(3))

    def first(x):
        w[0] = x
        return x + 1

    def second(x):
        w[1] = x * w[2]         # reads one entry, writes another
        return x - 1

    def third(x):
        return x * w[0]         # reads only
    outs = [m.lax.cond(True, first, second, 5.)]
    w[2] = 2.
    outs.append(m.jit(lambda p, x: m.lax.cond(p, first, second, x))(False, 7.))
    outs.append(m.lax.switch(1, [first, second, third], 3.))
    outs.append(m.jit(lambda i: m.lax.switch(i, [first, second, third], 4.))(2))
    outs.append(m.jit(lambda i: m.lax.switch(i, [first, second, third], 4.))(0))
    return outs, w[...]


def test_cond_and_switch_branches_write_refs_like_jax(jax):
    outs, w = _both(jax, _cond_cell)
    np.testing.assert_array_equal(w, [4., 6., 2.])
    np.testing.assert_array_equal(outs, [6., 6., 2., 20., 5.])


def _while_cell(m, mnp):
    k = m.new_ref(0)

    def body(c):
        k[...] += 10
        return c + 1
    a = m.lax.while_loop(lambda c: c < 5, body, 0)
    b = m.jit(lambda n: m.lax.while_loop(lambda c: c < n, body, 0))(3)
    c = m.jit(lambda: m.lax.while_loop(lambda c: c < k[...], lambda c: c + 7, 0))()
    return a, b, c, k[...]


def test_while_loop_body_writes_and_cond_reads_like_jax(jax):
    ours = _both(jax, _while_cell)
    assert int(ours[3]) == 80 and int(ours[2]) == 84


def _map_cell(m, mnp):
    s = m.new_ref(0.)

    def f(x):
        s[...] += x
        return x * s[...]
    return m.lax.map(f, mnp.arange(1., 4.)), m.jit(lambda xs: m.lax.map(f, xs))(
        mnp.arange(3.)), s[...]


def test_map_like_jax(jax):
    assert float(_both(jax, _map_cell)[2]) == 9.


def _nested_cell(m, mnp):
    acc = m.new_ref(mnp.zeros(2))
    seen = m.new_ref(0.)

    def inner(c, x):
        acc[...] += x
        return c + acc[0], None

    def outer(p, xs):
        def yes():
            seen[...] += 1.
            return m.lax.scan(inner, 0., xs)[0]
        return m.lax.cond(p, yes, lambda: seen[...])
    return (m.jit(outer)(True, mnp.ones((3, 2))), outer(True, mnp.ones((3, 2))),
            m.jit(outer)(False, mnp.ones((3, 2))), acc[...], seen[...])


def test_nested_control_flow_threads_refs_like_jax(jax):
    ours = _both(jax, _nested_cell)
    np.testing.assert_array_equal(ours[3], [6., 6.])


def test_a_ref_made_inside_jit_is_threaded_through_a_loop():
    @ft.jit
    def f(x):
        q = ft.new_ref(fnp.zeros(3))

        def body(i, c):
            q[i] = c
            return c * x
        ft.lax.fori_loop(0, 3, body, 1.)
        return ft.freeze(q)
    np.testing.assert_array_equal(f(2.), [1., 2., 4.])


# ------------------------------------------------------------------ grad
def _scan_local(m, mnp):
    def h(x):
        q = m.new_ref(mnp.zeros_like(x))

        def body(c, xi):
            q[...] += mnp.sin(xi * x)
            return c * x, q[...]
        c, ys = m.lax.scan(body, x, mnp.arange(1., 4.))
        return (q[...] ** 2).sum() + c + ys.sum()
    return h


def test_grad_through_a_scan_accumulating_into_a_local_ref_like_jax(jax):
    def cell(m, mnp):
        h = _scan_local(m, mnp)
        return m.grad(h)(0.7), m.jit(m.grad(h))(0.7), m.vmap(m.grad(h))(mnp.array([.3, .7]))
    _both(jax, cell)


def _fori_local(x):
    q = ft.new_ref(fnp.zeros(3, x.dtype))

    def body(i, c):
        q[i] = fnp.sin(x * i) + c
        return c * x
    return (q[...] ** 2).sum() + ft.lax.fori_loop(0, 3, body, x)


def _while_local(x):
    q = ft.new_ref(x)

    def body(c):
        q[...] = q[...] * fnp.cos(x) + c
        return c + 1.
    ft.lax.while_loop(lambda c: c < 3., body, 0.)
    return q[...]


def _cond_local(x):
    q = ft.new_ref(x)
    ft.lax.cond(x > 0., lambda: q.__setitem__(..., fnp.sin(q[...]) * x), lambda: None)
    return q[...] * 2.


def _checkpoint_local(x):
    q = ft.new_ref(x)

    def body(y):
        q[...] = fnp.sin(q[...]) * y
        return y
    ft.checkpoint(body)(x)
    return q[...]


@pytest.mark.parametrize("fun", [_scan_local(ft, fnp), _fori_local, _cond_local,
                                 _checkpoint_local])
def test_derivatives_through_local_refs_in_control_flow_match_finite_differences(fun):
    with ft.enable_x64():
        x = fnp.asarray(0.7, np.float64)
        check_grads(fun, (x,), order=2)
        check_grads(ft.jit(fun), (x,), order=1)


def test_forward_mode_through_a_while_loop_writing_a_local_ref():
    with ft.enable_x64():
        x = fnp.asarray(0.7, np.float64)
        check_grads(_while_local, (x,), order=2, modes=("fwd",))
        check_grads(ft.jit(_while_local), (x,), order=1, modes=("fwd",))


def test_writing_a_differentiated_value_into_an_outer_ref_in_a_scan_raises(jax):
    for m, mnp in ((ft, fnp), (jax, jax.numpy)):
        z = m.new_ref(0.)

        def g(x):
            def body(c, xi):
                z[...] = xi * x
                return c, None
            m.lax.scan(body, 0., mnp.arange(3.))
            return x
        with pytest.raises(Exception):
            m.grad(g)(1.)
        with pytest.raises(Exception):
            m.jit(m.grad(g))(1.)
        assert float(z[...]) == 0.
    z = ft.new_ref(0.)
    with pytest.raises(ValueError, match="scan: the value depends on grad"):
        ft.jit(ft.grad(lambda x: ft.lax.scan(
            lambda c, xi: (z.__setitem__(..., xi * x), (c, None))[1], 0.,
            fnp.arange(3.))[0] + x))(1.)


# ------------------------------------------------------------------ vmap
def _scan_into(m, mnp):
    def f(x, r):
        def body(c, xi):
            r[...] += xi
            return c, None
        m.lax.scan(body, 0., x)
    return f


def test_vmap_over_a_ref_argument_written_in_a_scan_like_jax(jax):
    def cell(m, mnp):
        f = _scan_into(m, mnp)
        a, b = m.new_ref(mnp.zeros(3)), m.new_ref(mnp.zeros(3))
        m.vmap(f)(mnp.arange(12.).reshape(3, 4), a)
        m.jit(m.vmap(f))(mnp.ones((3, 4)), b)
        return a[...], b[...]
    _both(jax, cell)


def test_vmap_of_a_scan_writing_a_closed_over_ref_raises_like_jax(jax):
    for m, mnp in ((ft, fnp), (jax, jax.numpy)):
        z = m.new_ref(0.)

        def g(x):
            return m.lax.scan(lambda c, xi: (z.__setitem__(..., z[...] + xi), (c, None))[1],
                              0., x)[0]
        for t in (m.vmap(g), m.jit(m.vmap(g))):
            with pytest.raises(Exception):
                t(mnp.ones((3, 4)))
        assert float(z[...]) == 0.
    z = ft.new_ref(0.)
    with pytest.raises(ValueError, match="scan inside vmap"):
        ft.jit(ft.vmap(lambda x: ft.lax.scan(
            lambda c, xi: (z.__setitem__(..., z[...] + xi), (c, None))[1], 0., x)[0]))(
            fnp.ones((3, 4)))


def test_vmap_of_a_scan_reading_a_closed_over_ref_like_jax(jax):
    def cell(m, mnp):
        z = m.new_ref(2.)

        def g(x):
            return m.lax.scan(lambda c, xi: (c + xi * z[...], None), 0., x)[0]
        return m.vmap(g)(mnp.arange(12.).reshape(3, 4)), m.jit(m.vmap(g))(mnp.ones((3, 4)))
    _both(jax, cell)


def test_vmap_of_a_cond_reading_a_closed_over_ref():
    # (JAX: "State effect not supported in vmap-of-cond")
    z = ft.new_ref(2.)
    g = ft.vmap(lambda s: ft.lax.cond(s > 5., lambda: s * z[...], lambda: s))
    np.testing.assert_array_equal(g(fnp.array([4., 6.])), [4., 12.])
    np.testing.assert_array_equal(ft.jit(g)(fnp.array([4., 6.])), [4., 12.])


def test_vmap_of_a_cond_per_example_writing_a_local_ref():
    # (JAX: "State effect not supported in vmap-of-cond"; here each example keeps its own)
    g = ft.vmap(lambda x, p: ft.grad(lambda y: (lambda q: (ft.lax.cond(
        p, lambda: q.__setitem__(..., fnp.sin(q[...])), lambda: None), q[...] * 2)[1])(
        ft.new_ref(y)))(x))
    np.testing.assert_allclose(g(fnp.array([0.7, 0.3]), fnp.array([True, False])),
                               [2 * np.cos(0.7), 2.], rtol=1e-6)


# ------------------------------------------------------------------ checkpoint
def test_checkpoint_reads_and_writes_outer_refs():
    r = ft.new_ref(fnp.full((), 6.))

    def g(x):
        r[...] += 1.
        return fnp.sin(x) * r[...]
    np.testing.assert_allclose(ft.checkpoint(g)(1.), 7 * np.sin(1.), rtol=1e-6)
    np.testing.assert_allclose(ft.jit(ft.checkpoint(g))(1.), 8 * np.sin(1.), rtol=1e-6)
    assert float(r[...]) == 8.
    np.testing.assert_allclose(ft.grad(ft.checkpoint(lambda x: x * r[...]))(2.), 8.)


# ------------------------------------------------------------------ staging only
def test_make_jaxpr_passes_outer_refs_as_extra_inputs_and_outputs(jax):
    r = ft.new_ref(fnp.zeros(()))

    def f(x):
        r[...] += x
        return r[...] * 2
    closed = ft.make_jaxpr(f)(1.)
    j = closed.jaxpr
    assert len(j.invars) == 2 and len(j.outvars) == 2      # x, r's value -> out, r's new value
    np.testing.assert_allclose(ft.core.eval_jaxpr(j, closed.consts, 1., 3.), [8., 4.])
    assert len(ft.make_jaxpr(lambda x: r[...] * x)(1.).jaxpr.outvars) == 1     # only read
    assert ft.make_jaxpr(f, return_shape=True)(1.)[1] == ft.ShapeDtypeStruct((), np.float32)
    assert float(r[...]) == 0.
    jr = jax.new_ref(jax.numpy.zeros(()))
    jax.make_jaxpr(lambda x: jr.__setitem__(..., jr[...] + x))(1.)
    assert float(jr[...]) == 0.                             # JAX's tracing leaves it too


def test_make_jaxpr_of_a_scan_writing_an_outer_ref():
    r = ft.new_ref(fnp.zeros(()))

    def f():
        return ft.lax.scan(lambda c, x: (r.__setitem__(..., r[...] + x), (c, None))[1], 0.,
                           fnp.arange(3.))[0]
    closed = ft.make_jaxpr(f)()
    assert [e.primitive.name for e in closed.jaxpr.eqns][-1] == "scan"
    np.testing.assert_allclose(ft.core.eval_jaxpr(closed.jaxpr, closed.consts, 5.), [0., 8.])
    assert float(r[...]) == 0.


def test_eval_shape_leaves_refs_as_they_were_like_jax(jax):
    def cell(m, mnp):
        r = m.new_ref(mnp.zeros(2))

        def k(rr, x):
            rr[...] += x
            r[...] += x
            return x.sum()
        s = m.eval_shape(k, m.new_ref(mnp.zeros(2)), mnp.ones(2))
        return s.shape, s.dtype == np.float32, r[...]
    _both(jax, cell)


def test_jit_trace_lower_and_compile_with_ref_arguments_like_jax(jax):
    def cell(m, mnp):
        r, c = m.new_ref(mnp.zeros(())), m.new_ref(mnp.zeros(()))

        def kk(rr, x):
            rr[...] += x
            c[...] += 1.
            return x * 2
        t = m.jit(kk).trace(r, 1.)
        compiled = m.jit(kk).lower(r, 1.).compile()
        return (t.out_info.shape, r[...], compiled(r, 3.), compiled(r, 3.), r[...], c[...])
    ours = _both(jax, cell)
    assert float(ours[4]) == 6.
    r = ft.new_ref(fnp.zeros(()))
    assert len(ft.jit(lambda rr: rr.__setitem__(..., rr[...] + 1.)).trace(r).jaxpr.jaxpr
               .outvars) == 1


def test_custom_vjp_reads_outer_refs_under_jit_and_grad():
    """(More in test_refs_transforms.py.)"""
    r = ft.new_ref(fnp.ones(()))

    @ft.custom_vjp
    def f(x):
        return x * r[...]
    f.defvjp(lambda x: (x * r[...], x), lambda x, g: (g * 2,))
    assert float(ft.jit(f)(2.)) == 2. and float(ft.grad(ft.jit(f))(2.)) == 2.


def test_a_scan_writing_a_ref_on_the_stand_in_gpu(fake_gpus):
    gpu = fake_gpus[0]
    r = ft.new_ref(ft.device_put(fnp.zeros(3), gpu))

    @ft.jit
    def f(xs):
        return ft.lax.scan(lambda c, x: (r.__setitem__(..., r[...] + x), (c, None))[1], 0.,
                           xs)[0]
    f(ft.device_put(fnp.ones((2, 3)), gpu))
    assert r[...].device is gpu
    np.testing.assert_array_equal(np.asarray(r[...]), 2.)
