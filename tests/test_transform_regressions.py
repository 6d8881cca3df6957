"""Regression tests for transform bugs found by differential testing against JAX
(tests/test_jax_transform_parity.py); these run without JAX."""
from __future__ import annotations

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
import functrans.scipy.special as fsp
from functrans.test_util import check_grads

A = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])


def test_jacfwd_keeps_every_output_when_there_are_more_outputs_than_inputs():
    # the Jacobian's batched outputs were cut to the number of input leaves
    jac = ft.jacfwd(lambda a: (a[0], 2 * a[1], a))(A)
    assert [j.shape for j in jac] == [(3, 3, 3), (3, 3, 3), (3, 3, 3, 3)]
    np.testing.assert_allclose(np.asarray(jac[2]).reshape(9, 9), np.eye(9))
    w_jac, v_jac = ft.jacfwd(lambda a: fnp.linalg.eigh(a))(A)
    w_rev, v_rev = ft.jacrev(lambda a: fnp.linalg.eigh(a))(A)
    np.testing.assert_allclose(np.asarray(w_jac), np.asarray(w_rev), atol=1e-12)


def test_xlogy_derivative_in_x_at_zero_is_log_y():
    # x * log(y) is linear in x wherever y > 0; the derivative at x == 0 was 0
    x, y = np.array([0.0, 0.0, 1.5]), np.array([2.0, 0.5, 3.0])
    np.testing.assert_allclose(np.asarray(ft.grad(lambda x: fsp.xlogy(x, y).sum())(x)), np.log(y))
    np.testing.assert_allclose(np.asarray(ft.grad(lambda x: fsp.xlog1py(x, y).sum())(x)),
                               np.log1p(y))
    for f in (fsp.xlogy, fsp.xlog1py):
        check_grads(f, (np.array([0.0, 0.5, 0.0]), np.array([2.0, 1.0, 3.0])), order=2)
    # where y is at the singularity the value and both derivatives stay 0
    zero, sing = np.zeros(2), np.array([0.0, -1.0])
    assert np.asarray(fsp.xlogy(zero, sing)).tolist() == [0.0, 0.0]
    for g in ft.grad(lambda x, y: fsp.xlogy(x, y).sum(), argnums=(0, 1))(zero, sing):
        assert np.asarray(g).tolist() == [0.0, 0.0]


def test_scatter_mul_with_repeated_indices_has_exact_derivatives():
    check_grads(lambda x, y: fnp.asarray(x).at[np.array([0, 2, 0, -1])].mul(y),
                (A[0] + 1, np.array([0.5, -1.5, 2.0, 0.75])),
                order=2)


def test_error_types_are_the_ones_jax_code_catches():
    # JAX raises TypeError for a leaked tracer and for argnums past the arguments, ValueError
    # for an unhashable static argument; functrans raised Exception, ValueError, TypeError
    box = []
    ft.jit(lambda x: box.append(x) or x)(A[0])
    with pytest.raises(TypeError, match="already finished"):
        box[0] + 1
    for err in (TypeError, ValueError):
        with pytest.raises(err, match="argnums=2"):
            ft.grad(lambda x: x.sum(), argnums=2)(A[0])
        with pytest.raises(err, match="unhashable type list"):
            ft.jit(lambda x, n: x * len(n), static_argnums=1)(A[0], [1, 2])


def _prefix_loop(fn, xs, reverse):
    xs = xs[::-1] if reverse else xs
    out = [xs[0]]
    for x in xs[1:]:
        out.append(fn(out[-1], x))
    return out[::-1] if reverse else out


def test_associative_scan_matches_a_loop_for_every_length():
    # lax.associative_scan was missing
    def affine(p, q):       # composing maps x -> a x + b: associative, not commutative
        return (p[0] * q[0], p[1] * q[0] + q[1])
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 5, 8):
        a, b = rng.normal(size=(2, n, 3))
        for reverse in (False, True):
            got = ft.lax.associative_scan(affine, (fnp.asarray(a.T), fnp.asarray(b.T)),
                                          reverse=reverse, axis=-1)
            want = _prefix_loop(affine, list(zip(a, b)), reverse)
            np.testing.assert_allclose(np.asarray(got[0]).T, [w[0] for w in want], rtol=1e-12)
            np.testing.assert_allclose(np.asarray(got[1]).T, [w[1] for w in want], rtol=1e-12)
    f = lambda a, b: ft.lax.associative_scan(affine, (a, b), reverse=True)[1]   # noqa: E731
    check_grads(f, (rng.normal(size=5), rng.normal(size=5)), order=2)
    np.testing.assert_allclose(np.asarray(ft.jit(ft.vmap(f))(A, A)),
                               np.stack([np.asarray(f(r, r)) for r in A]), rtol=1e-12)
    with pytest.raises(ValueError, match="same length along axis 0"):
        ft.lax.associative_scan(ft.lax.add, (np.ones(3), np.ones(4)))


def test_vjp_takes_float0_cotangents_for_integer_outputs():
    # JAX code passes float0 zeros as the cotangent of an integer output; they were refused
    f = lambda x: (fnp.argmax(x), x * 2, fnp.argsort(x))                  # noqa: E731
    _, pull = ft.vjp(f, A[0])
    ct = (np.zeros((), ft.float0), np.ones(3), np.zeros(3, ft.float0))
    np.testing.assert_allclose(np.asarray(pull(ct)[0]), [2.0, 2.0, 2.0])
    with pytest.raises(ValueError,
                       match=r"cotangent leaf 1 \(at \[1\]\) is float0\[3\].*float64\[3\]"):
        pull((ct[0], np.zeros(3, ft.float0), ct[2]))


def test_loop_and_jit_arguments_jax_code_passes():
    # scan(unroll=), fori_loop(unroll=), lax.map(batch_size=), jit(donate_argnames=,
    # keep_unused=, inline=) were refused as unexpected keyword arguments
    xs = fnp.asarray(A)
    body = lambda c, x: (c * x + 1.0, c)                                  # noqa: E731
    want = ft.lax.scan(body, xs[0], xs)
    for unroll in (2, True):
        got = ft.jit(lambda c: ft.lax.scan(body, c, xs, unroll=unroll))(xs[0])
        np.testing.assert_allclose(np.asarray(got[1]), np.asarray(want[1]))
    assert float(ft.lax.fori_loop(0, 3, lambda i, c: c * 2.0, 1.0, unroll=True)) == 8.0
    np.testing.assert_allclose(np.asarray(ft.lax.map(fnp.sum, xs, batch_size=2)), A.sum(1))
    for bad in ((ft.lax.scan, (body, xs[0], xs), {"unroll": 0}),
                (ft.lax.map, (fnp.sum, xs), {"batch_size": 0})):
        with pytest.raises(TypeError, match="unroll|batch_size"):
            bad[0](*bad[1], **bad[2])
    f = ft.jit(lambda x, y: x + y, donate_argnames="x", keep_unused=True, inline=True)
    x = fnp.ones(3)
    np.testing.assert_allclose(np.asarray(f(x, np.ones(3))), [2.0, 2.0, 2.0])
    with pytest.raises(RuntimeError, match="donated"):
        np.asarray(x)


def test_vjp_cotangent_errors_name_the_output_path():
    _, pull = ft.vjp(lambda a: {"o": (a, fnp.sin(a))}, A[0])
    with pytest.raises(ValueError, match=r"cotangent leaf 1 \(at \['o'\]\[1\]\) has shape \(4,\)"):
        pull({"o": (A[0], np.ones(4))})


def test_vjp_refuses_a_cotangent_of_another_dtype():
    # as JAX's: a float64 or integer cotangent for a float32 output was silently cast
    x32 = A[0].astype(np.float32)
    _, pull = ft.vjp(lambda a: {"o": (a, fnp.sin(a))}, x32)
    for bad, given in ((np.ones(3), "float64"), (np.ones(3, np.int64), "int64")):
        with pytest.raises(ValueError, match=r"leaf 1 \(at \['o'\]\[1\]\) has shape \(3,\) "
                           rf"and dtype {given}, but the output there has shape \(3,\) and "
                           r"dtype float32"):
            pull({"o": (x32, bad)})
    _, pull64 = ft.vjp(lambda a: fnp.sin(a).sum(), A[0])
    for bad in (1, True, 1j, np.float32(1.0)):
        with pytest.raises(ValueError, match="dtype float64"):
            pull64(bad)
    # a Python float (or a traced weakly typed one) takes a real output's dtype, whole
    g = pull64(0.1)[0]
    assert g.dtype == np.float64 and np.asarray(g)[0] == np.cos(A[0, 0]) * 0.1
    assert ft.jit(pull64)(0.1)[0].dtype == np.float64
    _, pullc = ft.vjp(lambda a: (a * 1j).sum(), A[0])
    np.testing.assert_allclose(np.asarray(pullc(1j)[0]), [-1.0, -1.0, -1.0])   # as JAX


def test_lowered_and_compiled_jit_is_called_like_the_function():
    # jit(f).lower(x).compile() returned the raw executable: called with pytree arguments
    # it failed, and it returned a flat list of NumPy arrays
    g = ft.jit(lambda d, n: {"y": d["x"] * n}, static_argnums=1)
    compiled = g.lower({"x": A[0]}, 3).compile()
    out = compiled({"x": A[1]})
    assert isinstance(out["y"], ft.Array)
    np.testing.assert_allclose(np.asarray(out["y"]), 3 * A[1])
    assert "mul" in str(compiled.jaxpr)
    for bad in (({"x": A[1]}, 3), ({"x": np.ones(4)},), ()):
        with pytest.raises(TypeError, match="differ from the ones it was compiled for"):
            compiled(*bad)


def test_linear_transpose():
    # ft.linear_transpose was missing
    f = lambda x, y: {"a": 2 * x + y[:3], "b": fnp.cumsum(y) * 3}          # noqa: E731
    f_t = ft.linear_transpose(f, A[0], ft.ShapeDtypeStruct((4,), np.float64))
    ct = {"a": A[1], "b": np.arange(4.0)}
    got = f_t(ct)
    np.testing.assert_allclose(np.asarray(got[0]), 2 * A[1])
    reverse_cumsum = np.cumsum(np.arange(4.0)[::-1])[::-1]
    np.testing.assert_allclose(np.asarray(got[1]), np.r_[A[1], 0.0] + 3 * reverse_cumsum)
    with pytest.raises(TypeError, match=r"argument 0 \('x'\).*int64"):
        ft.linear_transpose(lambda x: x, np.arange(3))


def test_custom_jvp_with_symbolic_zeros():
    # defjvp(symbolic_zeros=True) was refused; the rule sees SymbolicZero for the arguments
    # not being differentiated and may return one
    seen = []

    @ft.custom_jvp
    def f(x, y):
        return x * y, x + 0 * y

    def f_jvp(primals, tangents):
        x, y = primals
        dx, dy = tangents
        seen.append(tuple(type(t).__name__ for t in tangents))
        zero = ft.custom_derivatives.SymbolicZero
        tx = 0.0 if isinstance(dx, zero) else dx
        ty = 0.0 if isinstance(dy, zero) else dy
        return f(x, y), (3 * (tx * y + x * ty), dx if not isinstance(dx, zero) else dx)
    f.defjvp(f_jvp, symbolic_zeros=True)
    x, y = A[0], A[1]
    out, t = ft.jvp(lambda x: f(x, y), (x,), (np.ones(3),))
    np.testing.assert_allclose(np.asarray(t[0]), 3 * y)
    assert seen[-1][1] == "SymbolicZero"
    g = ft.grad(lambda y: f(x, y)[0].sum())(y)
    np.testing.assert_allclose(np.asarray(g), 3 * x)
    _, t = ft.jvp(lambda y: f(x, y), (y,), (np.ones(3),))
    np.testing.assert_allclose(np.asarray(t[1]), np.zeros(3))     # SymbolicZero returned
    np.testing.assert_allclose(np.asarray(ft.jit(ft.vmap(ft.grad(lambda y: f(x, y)[0].sum())))(A)),
                               np.broadcast_to(3 * x, (3, 3)))
    z = ft.custom_derivatives.SymbolicZero.of(fnp.ones((2,), dtype=np.float32))
    assert (z.shape, z.dtype) == ((2,), np.float32) and np.asarray(z.instantiate()).sum() == 0


def test_lax_functions_jax_code_calls():
    # lax.clamp, integer_pow, select_n, top_k, batch_matmul, dynamic_*_in_dim and sort of a
    # tuple of operands were missing
    x = np.array([[3.0, 1.0, 3.0, 2.0], [0.0, 5.0, -1.0, 5.0]])
    lax = ft.lax
    np.testing.assert_array_equal(np.asarray(lax.clamp(1.0, x, 3.0)), np.clip(x, 1, 3))
    # the derivative goes to x strictly inside the bounds only, as in JAX
    np.testing.assert_array_equal(np.asarray(ft.grad(lambda x: lax.clamp(1.0, x, 3.0).sum())(x)),
                                  [[0, 0, 0, 1], [0, 0, 0, 0]])
    check_grads(lambda x: lax.clamp(-0.5, x, 0.5), (A[0] - 2.5,), order=2)
    for y in (3, -2, 1):
        np.testing.assert_allclose(np.asarray(lax.integer_pow(x + 2, y)), (x + 2.0) ** y)
        check_grads(lambda x: lax.integer_pow(x, y), (A[0],), order=2)
    assert np.asarray(ft.grad(lambda x: lax.integer_pow(x, 0).sum())(x)).tolist() == \
        [[0.0] * 4] * 2
    np.testing.assert_array_equal(np.asarray(lax.select_n(np.array([0, 2, 1]), np.zeros(3),
                                                          np.ones(3), np.full(3, 2.0))), [0, 2, 1])
    values, idx = lax.top_k(x, 3)
    np.testing.assert_array_equal(np.asarray(values), [[3, 3, 2], [5, 5, 0]])
    assert np.asarray(idx).tolist() == [[0, 2, 3], [1, 3, 0]] and idx.dtype == np.int32
    assert lax.top_k(np.array([3, 1, -2 ** 63]), 2)[0].tolist() == [3, 1]
    np.testing.assert_array_equal(np.asarray(lax.dynamic_index_in_dim(x, 1, 0, keepdims=False)),
                                  x[1])
    np.testing.assert_array_equal(np.asarray(lax.dynamic_slice_in_dim(x, 3, 2, axis=1)), x[:, 2:])
    np.testing.assert_array_equal(
        np.asarray(lax.dynamic_update_slice_in_dim(x, np.ones((2, 1)), 3, axis=1))[:, 3], [1, 1])
    keys, vals = lax.sort((x[0], x[1]), num_keys=1)
    assert np.asarray(vals).tolist() == [5.0, 5.0, 0.0, -1.0]
    assert lax.batch_matmul(np.ones((2, 3, 4)), np.ones((2, 4, 2))).shape == (2, 3, 2)


def test_custom_vjp_with_symbolic_zeros():
    # defvjp(symbolic_zeros=True) was refused; fwd now gets CustomVJPPrimal arguments telling
    # which ones are differentiated
    seen = []

    @ft.custom_vjp
    def f(x, y):
        return x * y

    def fwd(x, y):
        seen.append((x.perturbed, y.perturbed))
        return f(x.value, y.value), (x.value, y.value)

    def bwd(res, g):
        x, y = res
        return g * y * 10.0, g * x
    f.defvjp(fwd, bwd, symbolic_zeros=True, optimize_remat=True)
    x, y = A[0], A[1]
    np.testing.assert_allclose(np.asarray(ft.grad(lambda x: f(x, y).sum())(x)), 10 * y)
    assert seen[-1] == (True, False)
    np.testing.assert_allclose(np.asarray(ft.grad(lambda y: f(x, y).sum())(y)), x)
    assert seen[-1] == (False, True)
    np.testing.assert_allclose(np.asarray(ft.jit(ft.vmap(ft.grad(lambda x: f(x, y).sum())))(A)),
                               np.broadcast_to(10 * y, (3, 3)))
    _, t = ft.jvp(lambda x: f(x, y), (x,), (np.ones(3),))     # the transposed bwd
    np.testing.assert_allclose(np.asarray(t), 10 * y)
