"""Mutable array references (ft.new_ref, ft.Ref, ft.freeze; functrans.ref): the cells of
JAX's "Stateful computations" page that use refs, run with functrans and with JAX and
compared, then reads and writes under jit, grad and vmap and their compositions, and the
errors (JAX raises them too where it is named)."""
import re

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads


@pytest.fixture
def jax():
    return pytest.importorskip("jax")


def _both(jax, cell):
    """`cell(m, mnp)` run over functrans and over JAX: the two results, as NumPy."""
    ours = cell(ft, fnp)
    theirs = cell(jax, jax.numpy)
    return ft.tree.map(np.asarray, ours), jax.tree.map(np.asarray, theirs)


def _on_host(text):
    """An Array's or Ref's repr without the device (shown when it is not the host's)."""
    return re.sub(r", device=[^)]*", "", text)


def _assert_same(ours, theirs, rtol=1e-6):
    ft.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=rtol), ours, theirs)


# ------------------------------------------------------------------ the doc's cells
def _jit_counter_cell(m, mnp):
    x_ref = m.new_ref(mnp.zeros(3))

    @m.jit
    def f():
        x_ref[1] += 1.

    before = _on_host(str(x_ref))
    out = f()
    f()
    return before, out, _on_host(str(x_ref)), x_ref[...]


def test_jit_writes_back_each_call_like_jax(jax):
    ours = _jit_counter_cell(ft, fnp)
    theirs = _jit_counter_cell(jax, jax.numpy)
    assert ours[0] == theirs[0] == "Ref([0., 0., 0.], dtype=float32)"
    assert ours[1] is None and theirs[1] is None
    assert ours[2] == theirs[2] == "Ref([0., 2., 0.], dtype=float32)"
    np.testing.assert_array_equal(ours[3], [0., 2., 0.])


def _sin_through_ref(m, mnp):
    def g(x):
        x_ref = m.new_ref(0.)
        x_ref[...] = mnp.sin(x)
        return x_ref[...]
    return g


def test_grad_through_a_local_ref_like_jax(jax):
    ours, theirs = _both(jax, lambda m, mnp: m.grad(_sin_through_ref(m, mnp))(1.0))
    _assert_same(ours, theirs)
    np.testing.assert_allclose(ours, np.cos(1.0), rtol=1e-6)


def test_math_on_a_ref_is_a_type_error(jax):
    for m, mnp in ((ft, fnp), (jax, jax.numpy)):
        x_ref = m.new_ref(1.0)
        with pytest.raises(TypeError):
            mnp.sin(x_ref)
        with pytest.raises(TypeError):
            x_ref + 1
    with pytest.raises(TypeError, match="can't do math on a Ref"):
        fnp.sin(ft.new_ref(1.0))
    with pytest.raises(TypeError, match="can't do math on a Ref"):
        fnp.ones(3) * ft.new_ref(fnp.ones(3))


def _indexing_cell(m, mnp):
    x_ref = m.new_ref(mnp.arange(12.).reshape(3, 4))
    row = x_ref[0]
    x_ref[1] = row
    val = x_ref[1, 2]
    x_ref[2, 3] = val
    col = x_ref[:, 1]
    x_ref[0, :3] = col
    vals = x_ref[mnp.array([0, 0, 1]), mnp.array([1, 2, 3])]
    x_ref[mnp.array([1, 2, 1]), mnp.array([0, 0, 1])] = vals
    final = m.freeze(x_ref)
    return row, val, col, vals, final


def test_indexing_reads_and_writes_like_jax(jax):
    ours, theirs = _both(jax, _indexing_cell)
    _assert_same(ours, theirs)
    assert [a.shape for a in ours] == [a.shape for a in theirs]


def test_freeze_returns_the_value_and_ends_the_ref():
    x_ref = ft.new_ref(fnp.arange(3.))
    x_ref[0] = 5.
    final = ft.freeze(x_ref)
    assert type(final) is ft.Array
    np.testing.assert_array_equal(final, [5., 1., 2.])
    # the doc's rule (the installed JAX does not enforce it eagerly)
    with pytest.raises(ValueError, match="was frozen"):
        x_ref[...]
    with pytest.raises(ValueError, match="was frozen"):
        x_ref[0] = 1.
    assert "frozen" in repr(x_ref)


def _normalize_cell(m, mnp):
    def normalize(x):
        acc = m.new_ref(0.0)
        acc[...] = mnp.sum(x)
        return x / acc[...]
    return m.grad(lambda x: normalize(x).sum())(mnp.arange(1.0, 4.0))


def test_grad_of_a_function_pure_from_outside_like_jax(jax):
    ours, theirs = _both(jax, _normalize_cell)
    _assert_same(ours, theirs)


def _scale_into_cell(m, mnp):
    def scale_into(x, out_ref):
        out_ref[...] = 2.0 * x
    xs = mnp.arange(3.0)
    out_ref = m.new_ref(mnp.zeros(3))
    out = m.vmap(scale_into)(xs, out_ref)
    return out, out_ref[...]


def test_vmap_writes_each_members_entry_like_jax(jax):
    ours = _scale_into_cell(ft, fnp)
    theirs = _scale_into_cell(jax, jax.numpy)
    assert ours[0] is None and theirs[0] is None
    np.testing.assert_array_equal(ours[1], theirs[1])
    np.testing.assert_array_equal(ours[1], [0., 2., 4.])


def test_vmap_of_a_function_writing_a_closed_over_ref_raises(jax):
    for m, mnp in ((ft, fnp), (jax, jax.numpy)):
        r = m.new_ref(0.0)

        def write_shared(x):
            r[...] = x
        with pytest.raises(Exception):
            m.vmap(write_shared)(mnp.arange(3.0))
    r = ft.new_ref(0.0)

    def write_shared(x):
        r[...] = x
    with pytest.raises(ValueError, match="closes over it.*Pass the Ref as an argument"):
        ft.vmap(write_shared)(fnp.arange(3.0))
    np.testing.assert_array_equal(r[...], 0.)      # nothing was written


# ------------------------------------------------------------------ eager
def test_attributes_repr_and_leaves(jax):
    r = ft.new_ref(fnp.ones((2, 3)))
    assert (r.shape, r.dtype, r.ndim, r.size, len(r)) == ((2, 3), np.float32, 2, 6, 2)
    assert _on_host(repr(r)) == str(jax.new_ref(jax.numpy.ones((2, 3))))
    assert repr(r) == "Ref" + repr(r[...])[len("Array"):]
    assert isinstance(r, ft.Ref) and not isinstance(r, ft.Array)
    assert ft.tree.leaves([r, 1]) == [r, 1]
    with pytest.raises(TypeError):
        len(ft.new_ref(1.))
    with pytest.raises(TypeError):
        float(ft.new_ref(1.))


def test_writes_replace_the_array_functionally():
    r = ft.new_ref(fnp.zeros(3))
    before = r[...]
    r[1] = 4.
    r[...] += fnp.ones(3)
    np.testing.assert_array_equal(before, [0., 0., 0.])        # arrays stay immutable
    np.testing.assert_array_equal(r[...], [1., 5., 1.])
    np.testing.assert_array_equal(r[-1], 1.)


def test_get_set_swap_addupdate_and_empty_ref():
    q = ft.new_ref(fnp.arange(4.))
    assert float(ft.ref.swap(q, 1, fnp.float32(9.))) == 1.
    np.testing.assert_array_equal(ft.ref.get(q), [0., 9., 2., 3.])
    assert float(ft.ref.get(q, 2)) == 2.
    ft.ref.addupdate(q, slice(0, 2), fnp.ones(2))
    np.testing.assert_array_equal(q[...], [1., 10., 2., 3.])
    ft.ref.set(q, None, fnp.zeros(4))
    np.testing.assert_array_equal(q[...], 0.)
    e = ft.empty_ref(ft.ShapeDtypeStruct((2,), np.float32))
    e[...] = fnp.ones(2)
    np.testing.assert_array_equal(e[...], 1.)
    ft.free_ref(e)
    with pytest.raises(ValueError, match="was freed"):
        e[...]


@pytest.mark.parametrize("write", [
    lambda r: r.__setitem__(..., fnp.ones(4)),          # shape: no broadcasting
    lambda r: r.__setitem__(..., 1.),
    lambda r: r.__setitem__(slice(0, 2), fnp.ones(1)),
    lambda r: r.__setitem__(0, fnp.int32(1)),          # dtype must be the Ref's
    lambda r: r.__setitem__(0, True),
    lambda r: r.__setitem__(0, 1 + 2j),
    lambda r: r.__setitem__(5, 1.),                     # out of bounds (known now)
    lambda r: r[5],
    lambda r: r[fnp.array([0, 5])],
])
def test_bad_reads_and_writes_raise_value_errors(write, jax):
    with pytest.raises(ValueError):
        write(ft.new_ref(fnp.zeros(3)))


def test_bad_writes_raise_in_jax_too(jax):
    jr = jax.new_ref(jax.numpy.zeros(3))
    for bad in (lambda: jr.__setitem__(..., jax.numpy.ones(4)),
                lambda: jr.__setitem__(0, jax.numpy.int32(1)),
                lambda: jr.__setitem__(0, True),
                lambda: jr.__setitem__(5, 1.)):
        with pytest.raises(ValueError):
            bad()


def test_python_scalars_are_written_where_they_fit():
    r = ft.new_ref(fnp.zeros(3))
    r[0] = 2                                    # an int fits a float Ref
    np.testing.assert_array_equal(r[...], [2., 0., 0.])
    i = ft.new_ref(fnp.zeros((), np.int32))
    i[...] = 7
    assert i[...].dtype == np.int32 and int(i[...]) == 7
    with pytest.raises(ValueError, match="dtype float"):
        i[...] = 2.5


def test_refs_of_refs_and_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="refs to refs"):
        ft.new_ref(ft.new_ref(1.))
    with pytest.raises(TypeError, match="a dict"):
        ft.new_ref({"a": 1.})
    with pytest.raises(TypeError, match="expected a Ref"):
        ft.freeze(fnp.ones(2))
    with pytest.raises(TypeError, match="not by bool"):
        ft.new_ref(fnp.zeros(3))[fnp.array([True, False, True])]


# ------------------------------------------------------------------ jit
def test_jit_with_a_ref_argument_like_jax(jax):
    def cell(m, mnp):
        r = m.new_ref(mnp.zeros(3))

        def k(rr, x):
            rr[...] += x
            return rr[...] * 2
        f = m.jit(k)
        return f(r, 1.), f(r, 2.), r[...]
    ours, theirs = _both(jax, cell)
    _assert_same(ours, theirs)
    np.testing.assert_array_equal(ours[2], [3., 3., 3.])


def test_jit_traces_once_for_refs_of_one_shape():
    @ft.jit
    def inc(r):
        r[...] += 1.
    a, b = ft.new_ref(fnp.zeros(2)), ft.new_ref(fnp.ones(2))
    inc(a)
    inc(b)
    inc(a)
    np.testing.assert_array_equal(a[...], 2.)
    np.testing.assert_array_equal(b[...], 2.)
    assert inc.cache_info().misses == 1
    inc(ft.new_ref(fnp.zeros(5)))
    assert inc.cache_info().misses == 2


def test_jit_reads_a_closed_over_ref_at_each_call():
    r = ft.new_ref(fnp.ones(2))
    f = ft.jit(lambda x: x * r[...])
    np.testing.assert_array_equal(f(fnp.ones(2)), 1.)
    r[...] = fnp.full(2, 3.)
    np.testing.assert_array_equal(f(fnp.ones(2)), 3.)       # not baked in at trace time
    assert f.cache_info().misses == 1


def test_jit_local_ref_and_freeze():
    @ft.jit
    def f(x):
        q = ft.new_ref(fnp.zeros(2))
        q[0] = x
        return ft.freeze(q)
    np.testing.assert_array_equal(f(5.), [5., 0.])
    np.testing.assert_array_equal(f(6.), [6., 0.])


def test_jit_ref_errors_like_jax(jax):
    for m, mnp in ((ft, fnp), (jax, jax.numpy)):
        z = m.new_ref(mnp.zeros(2))
        with pytest.raises(ValueError):
            m.jit(lambda r: r)(z)                       # returning a Ref
        with pytest.raises(ValueError):
            m.jit(lambda a, b: None)(z, z)              # the same Ref twice

        def both(a):
            a[...] += z[...]
        with pytest.raises(ValueError):
            m.jit(both)(z)                              # passed and closed over
    z = ft.new_ref(fnp.zeros(2))
    with pytest.raises(ValueError, match="returned a Ref"):
        ft.jit(lambda: ft.new_ref(1.))()
    with pytest.raises(ValueError, match="passed twice"):
        ft.jit(lambda a, b: None)(z, z)
    with pytest.raises(ValueError, match="only be frozen where it was made"):
        ft.jit(lambda: ft.freeze(z))()
    np.testing.assert_array_equal(z[...], 0.)           # still usable


def test_nested_jits_thread_a_closed_over_ref():
    acc = ft.new_ref(fnp.zeros(2))

    @ft.jit
    def inner(x):
        acc[...] += x

    @ft.jit
    def outer(x):
        inner(x)
        inner(2 * x)
        return acc[...]
    np.testing.assert_array_equal(outer(fnp.ones(2)), 3.)
    np.testing.assert_array_equal(outer(fnp.ones(2)), 6.)
    np.testing.assert_array_equal(acc[...], 6.)


def test_a_failing_trace_leaves_the_ref_as_it_was():
    r = ft.new_ref(fnp.zeros(2))

    @ft.jit
    def f(x):
        r[...] = x
        raise RuntimeError("boom")
    with pytest.raises(RuntimeError, match="boom"):
        f(fnp.ones(2))
    np.testing.assert_array_equal(r[...], 0.)
    r[0] = 1.
    np.testing.assert_array_equal(r[...], [1., 0.])


def test_a_failing_control_flow_body_leaves_the_ref_as_it_was():
    s = ft.new_ref(0.)

    def body(c, x):
        s[...] += x
        if isinstance(x, ft.core.Tracer):
            raise RuntimeError("boom")
        return c, None
    for run in (lambda: ft.jit(lambda: ft.lax.scan(body, 0., fnp.arange(3.)))(),
                lambda: ft.make_jaxpr(lambda: ft.lax.scan(body, 0., fnp.arange(3.)))()):
        with pytest.raises(RuntimeError, match="boom"):
            run()
        np.testing.assert_array_equal(s[...], 0.)
    ft.lax.scan(body, fnp.zeros(()), fnp.arange(3.))      # (eagerly it sees arrays)
    np.testing.assert_array_equal(s[...], 3.)


def test_jit_on_the_stand_in_gpu(fake_gpus):
    gpu = fake_gpus[0]
    r = ft.new_ref(ft.device_put(fnp.zeros(3), gpu))

    @ft.jit
    def f(x):
        r[...] += x
    f(ft.device_put(fnp.ones(3), gpu))
    f(ft.device_put(fnp.ones(3), gpu))
    assert r[...].device is gpu
    np.testing.assert_array_equal(np.asarray(r[...]), 2.)


# ------------------------------------------------------------------ grad
def test_grad_with_a_closed_over_ref_like_jax(jax):
    def cell(m, mnp):
        c = m.new_ref(0.)

        def h(x):
            c[...] = 3.             # not differentiated: allowed
            return x * c[...]
        return m.grad(h)(2.), c[...]
    ours, theirs = _both(jax, cell)
    _assert_same(ours, theirs)


def test_writing_a_differentiated_value_into_an_outer_ref_raises(jax):
    for m, mnp in ((ft, fnp), (jax, jax.numpy)):
        z = m.new_ref(mnp.zeros(2))

        def f(x):
            z[...] = mnp.full(2, x)
            return x
        with pytest.raises(Exception):
            m.grad(f)(1.)
    z = ft.new_ref(fnp.zeros(2))
    with pytest.raises(ValueError, match="depends on grad"):
        ft.grad(lambda x: (z.__setitem__(..., fnp.full(2, x)), x)[1])(1.)
    np.testing.assert_array_equal(z[...], 0.)


def _uses_refs(x):
    q = ft.new_ref(fnp.zeros(3))
    _put(x, q)
    q[1] += x ** 2
    q[fnp.array([0, 2])] = q[fnp.array([2, 0])] * fnp.sin(x)
    return q[...].sum()


@ft.jit
def _put(x, r):
    r[...] = x * fnp.arange(3.)


def _uses_refs_np(x):
    q = x * np.arange(3.)
    q[1] += x ** 2
    q[[0, 2]] = q[[2, 0]] * np.sin(x)
    return q.sum()


def test_derivatives_through_refs_match_finite_differences():
    with ft.enable_x64():
        x = fnp.asarray(0.7, np.float64)
        np.testing.assert_allclose(_uses_refs(x), _uses_refs_np(0.7), rtol=1e-12)
        check_grads(_uses_refs, (x,), order=2)
        check_grads(_sin_through_ref(ft, fnp), (x,), order=2)


def test_transforms_compose_through_local_refs():
    d = ft.grad(_uses_refs)
    xs = fnp.arange(3.)
    expected = [float(d(x)) for x in xs]
    np.testing.assert_allclose(ft.jit(d)(1.), expected[1], rtol=1e-6)
    np.testing.assert_allclose(ft.vmap(d)(xs), expected, rtol=1e-6)
    np.testing.assert_allclose(ft.jit(ft.vmap(d))(xs), expected, rtol=1e-6)
    np.testing.assert_allclose(ft.jvp(_uses_refs, (1.,), (1.,))[1], expected[1], rtol=1e-6)
    np.testing.assert_allclose(ft.vmap(ft.jit(_uses_refs))(xs),
                               [_uses_refs_np(float(x)) for x in xs], rtol=1e-6)


def test_grad_of_a_jitted_function_counting_its_calls():
    calls = ft.new_ref(fnp.zeros((), np.int32))

    @ft.jit
    def loss(w):
        calls[...] += 1
        return (w ** 2).sum()
    np.testing.assert_array_equal(ft.grad(loss)(fnp.ones(3)), 2.)
    np.testing.assert_array_equal(ft.jit(ft.grad(loss))(fnp.ones(3)), 2.)
    np.testing.assert_array_equal(ft.jit(ft.grad(loss))(fnp.ones(3)), 2.)
    assert int(calls[...]) == 3


# ------------------------------------------------------------------ vmap
def test_vmap_over_another_axis_of_a_ref():
    o = ft.new_ref(fnp.zeros((2, 3)))

    def add(x, r):
        r[...] = r[...] + x * fnp.arange(1., 3.)
    assert ft.vmap(add, in_axes=(0, 1))(fnp.arange(3.), o) is None
    np.testing.assert_array_equal(o[...], np.arange(1., 3.)[:, None] * np.arange(3.))


def test_vmap_reads_of_a_closed_over_ref_like_jax(jax):
    def cell(m, mnp):
        rr = m.new_ref(mnp.ones(3))
        return m.vmap(lambda x: x * rr[...].sum())(mnp.arange(3.))
    ours, theirs = _both(jax, cell)
    _assert_same(ours, theirs)


def test_vmap_with_an_unmapped_ref_argument_raises_on_write(jax):
    def sc(x, o):
        o[...] = 2.0 * x
    for m, mnp in ((ft, fnp), (jax, jax.numpy)):
        with pytest.raises(Exception):
            m.vmap(sc, in_axes=(0, None))(mnp.arange(3.), m.new_ref(0.))
    with pytest.raises(ValueError, match="inside vmap"):
        ft.vmap(sc, in_axes=(0, None))(fnp.arange(3.), ft.new_ref(0.))


def test_vmap_and_jit_with_ref_arguments_compose():
    @ft.jit
    def put(x, r):
        r[...] = x * 3
    o = ft.new_ref(fnp.zeros(3))
    ft.vmap(put)(fnp.arange(3.), o)
    np.testing.assert_array_equal(o[...], [0., 3., 6.])
    g = ft.jit(lambda xs, r: ft.vmap(put)(xs, r))
    g(fnp.arange(3.) + 1, o)
    np.testing.assert_array_equal(o[...], [3., 6., 9.])
    acc = ft.new_ref(fnp.zeros(2))

    @ft.jit
    def inner(x):
        acc[...] += x
    with pytest.raises(ValueError, match="inside vmap"):
        ft.vmap(inner)(fnp.ones((3, 2)))
    np.testing.assert_array_equal(acc[...], 0.)
