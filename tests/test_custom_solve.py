"""ft.lax.custom_linear_solve and ft.lax.custom_root: values against NumPy, derivatives
(implicit, never through the solver's iterations) against closed forms and finite
differences, under jit, vmap, grad, jvp, jacrev and nested derivatives; JAX cross-checks."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.test_util import check_grads

RNG = np.random.default_rng(0)
N = 4
M0 = RNG.standard_normal((N, N))
B0 = RNG.standard_normal(N)
W0 = RNG.standard_normal(N)


def f64(x):
    return fnp.asarray(np.asarray(x, np.float64))


def close(a, b, tol=1e-9):
    for x, y in zip(ft.tree_leaves(a), ft.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol, atol=tol)


def spd(m):
    """A symmetric positive definite matrix from any square `m` (NumPy or functrans)."""
    return m + m.T + 2 * N * (fnp.eye(N) if not isinstance(m, np.ndarray) else np.eye(N))


def cg_aux(matvec, b):
    """Conjugate gradients in a while_loop (reverse mode cannot go through it): the solution
    and the iterations taken."""
    def cond(s):
        return (fnp.vdot(s[1], s[1]) > 1e-28) & (s[3] < 10 * N)

    def body(s):
        x, r, p, k = s
        ap = matvec(p)
        rr = fnp.vdot(r, r)
        alpha = rr / fnp.vdot(p, ap)
        x, r_new = x + alpha * p, r - alpha * ap
        return x, r_new, r_new + (fnp.vdot(r_new, r_new) / rr) * p, k + 1
    x, _, _, k = lax.while_loop(cond, body, (fnp.zeros_like(b), b, b, 0))
    return x, k


def cg(matvec, b):
    return cg_aux(matvec, b)[0]


def spd_solve(m, b):
    a = spd(m)
    return lax.custom_linear_solve(lambda x: a @ x, b, cg, symmetric=True)


def dense_solver(a):
    """A solve that ignores matvec and cannot be differentiated (stop_gradient): correct
    derivatives can only come from the implicit rule."""
    return lambda matvec, b: lax.stop_gradient(fnp.linalg.solve(a, b))


def general_solve(a, b):
    return lax.custom_linear_solve(lambda x: a @ x, b, dense_solver(a),
                                   transpose_solve=dense_solver(a.T))


# =================================================================== custom_linear_solve
def test_cg_value_and_derivatives_match_closed_forms():
    m, b, w = f64(M0), f64(B0), f64(W0)
    a = spd(M0)
    x = np.linalg.solve(a, B0)
    close(spd_solve(m, b), x)
    # loss = w . x: d/db = A^-T w, d/dA = -(A^-T w) x^T, symmetrized through A = M + M^T
    lam = np.linalg.solve(a.T, W0)
    g_m, g_b = ft.grad(lambda m, b: fnp.vdot(w, spd_solve(m, b)), argnums=(0, 1))(m, b)
    close(g_b, lam)
    close(g_m, -np.outer(lam, x) - np.outer(lam, x).T)
    dm, db = f64(RNG.standard_normal((N, N))), f64(RNG.standard_normal(N))
    _, t = ft.jvp(spd_solve, (m, b), (dm, db))
    da = np.asarray(dm) + np.asarray(dm).T
    close(t, np.linalg.solve(a, np.asarray(db) - da @ x))


def test_cg_finite_differences_to_second_order():
    check_grads(spd_solve, (f64(M0), f64(B0)), order=2, eps=1e-5)


def test_derivatives_do_not_retrace_or_differentiate_solve():
    calls = {"solve": 0, "transpose_solve": 0}
    a = f64(spd(M0))

    def counted(name, solver):
        def run(matvec, b):
            calls[name] += 1
            return solver(matvec, b)
        return run

    def f(a, b):
        return lax.custom_linear_solve(lambda x: a @ x, b, counted("solve", cg),
                                       counted("transpose_solve", dense_solver(a.T)))
    g = ft.grad(lambda a, b: fnp.sum(f(a, b) ** 2), argnums=(0, 1))(a, f64(B0))
    assert calls == {"solve": 1, "transpose_solve": 1}
    x = np.linalg.solve(np.asarray(a), B0)
    lam = np.linalg.solve(np.asarray(a).T, 2 * x)
    close(g, (-np.outer(lam, x), lam))


def test_transpose_solve_nonsymmetric():
    a, b = f64(M0 + 3 * np.eye(N)), f64(B0)
    close(general_solve(a, b), np.linalg.solve(np.asarray(a), B0))
    check_grads(general_solve, (a, b), order=2, eps=1e-5)
    jac = ft.jacrev(general_solve, argnums=1)(a, b)
    close(jac, np.linalg.inv(np.asarray(a)))
    close(ft.jacfwd(general_solve, argnums=1)(a, b), np.linalg.inv(np.asarray(a)))


def test_pytree_b():
    a1, a2 = f64(spd(M0)), f64(spd(M0.T))
    b = {"u": f64(B0), "v": (f64(W0),)}

    def matvec(x):
        return {"u": a1 @ x["u"], "v": (a2 @ x["v"][0] + 0.5 * x["u"],)}

    def solve(mv, b):        # block lower-triangular system, solved blockwise
        u = fnp.linalg.solve(a1, b["u"])
        return {"u": u, "v": (fnp.linalg.solve(a2, b["v"][0] - 0.5 * u),)}

    def transpose_solve(vm, c):
        v = fnp.linalg.solve(a2.T, c["v"][0])
        return {"u": fnp.linalg.solve(a1.T, c["u"] - 0.5 * v), "v": (v,)}

    def f(b):
        return lax.custom_linear_solve(matvec, b, solve, transpose_solve)
    x = f(b)
    close(matvec(x), b)
    big = np.block([[np.asarray(a1), np.zeros((N, N))], [0.5 * np.eye(N), np.asarray(a2)]])
    w = RNG.standard_normal(2 * N)
    g = ft.grad(lambda b: fnp.vdot(f64(w[:N]), f(b)["u"]) + fnp.vdot(f64(w[N:]),
                                                                      f(b)["v"][0]))(b)
    lam = np.linalg.solve(big.T, w)
    close((g["u"], g["v"][0]), (lam[:N], lam[N:]))
    check_grads(f, (b,), order=2, eps=1e-5)


def test_has_aux():
    a = f64(spd(M0))
    x, k = lax.custom_linear_solve(lambda v: a @ v, f64(B0), cg_aux, symmetric=True,
                                   has_aux=True)
    close(x, np.linalg.solve(np.asarray(a), B0))
    assert 0 < int(k) <= 10 * N
    g = ft.grad(lambda b: fnp.sum(lax.custom_linear_solve(
        lambda v: a @ v, b, cg_aux, symmetric=True, has_aux=True)[0]))(f64(B0))
    close(g, np.linalg.solve(np.asarray(a), np.ones(N)))


def test_forward_mode_without_transpose_solve_and_reverse_mode_error():
    a, b = f64(M0 + 3 * np.eye(N)), f64(B0)

    def f(a, b):
        return lax.custom_linear_solve(lambda x: a @ x, b, dense_solver(a))
    da = f64(RNG.standard_normal((N, N)))
    _, t = ft.jvp(f, (a, b), (da, b))
    x = np.linalg.solve(np.asarray(a), B0)
    close(t, np.linalg.solve(np.asarray(a), B0 - np.asarray(da) @ x))
    check_grads(f, (a, b), order=2, modes=["fwd"], eps=1e-5)
    with pytest.raises(TypeError, match="transpose_solve is required"):
        ft.grad(lambda b: fnp.sum(f(a, b)))(b)


def test_vmap_and_grad_of_vmap_with_shared_matrix():
    m = f64(M0)
    bs = f64(RNG.standard_normal((3, N)))
    a = spd(M0)
    close(ft.vmap(spd_solve, (None, 0))(m, bs), np.linalg.solve(a, np.asarray(bs).T).T)
    ms = f64(RNG.standard_normal((3, N, N)))
    close(ft.vmap(spd_solve)(ms, bs),
          np.stack([np.linalg.solve(spd(np.asarray(mi)), np.asarray(bi))
                    for mi, bi in zip(ms, bs)]))

    def loss(m):
        return fnp.sum(ft.vmap(lambda b: spd_solve(m, b))(bs) ** 2)

    def reference(m):
        return fnp.sum(fnp.linalg.solve(spd(m), bs.T) ** 2)
    close(ft.grad(loss)(m), ft.grad(reference)(m))
    close(ft.jvp(loss, (m,), (m,))[1], ft.jvp(reference, (m,), (m,))[1])
    close(ft.vmap(ft.grad(lambda b: fnp.sum(spd_solve(m, b))))(bs),
          np.tile(np.linalg.solve(a, np.ones(N)), (3, 1)))


def test_jit():
    m, b = f64(M0), f64(B0)
    close(ft.jit(spd_solve)(m, b), np.linalg.solve(spd(M0), B0))
    loss = lambda m, b: fnp.sum(spd_solve(m, b) ** 2)     # noqa: E731
    g = ft.grad(loss, argnums=(0, 1))(m, b)
    close(ft.jit(ft.grad(loss, argnums=(0, 1)))(m, b), g)
    close(ft.grad(ft.jit(loss), argnums=(0, 1))(m, b), g)
    close(ft.jit(lambda m, b: ft.jvp(spd_solve, (m, b), (m, b))[1])(m, b),
          ft.jvp(spd_solve, (m, b), (m, b))[1])


def test_nested_derivatives():
    m, b = f64(M0), f64(B0)
    h = ft.hessian(lambda b: fnp.sum(spd_solve(m, b) ** 3))(b)
    a_inv = np.linalg.inv(spd(M0))
    x = a_inv @ B0
    close(h, a_inv.T @ np.diag(6 * x) @ a_inv)
    gg = ft.grad(lambda m: fnp.sum(ft.grad(lambda m: fnp.sum(spd_solve(m, b) ** 3))(m)))(m)
    close(gg, ft.grad(lambda m: fnp.sum(ft.grad(
        lambda m: fnp.sum(fnp.linalg.solve(spd(m), b) ** 3))(m)))(m))


def test_shape_and_structure_errors():
    a, b = f64(spd(M0)), f64(B0)
    with pytest.raises(ValueError, match=r"matvec\(\) output shapes must match b"):
        lax.custom_linear_solve(lambda x: a[:2] @ x, b, cg, symmetric=True)
    with pytest.raises(TypeError, match=r"matvec\(\) output pytree structure must match b"):
        lax.custom_linear_solve(lambda x: (a @ x,), b, cg, symmetric=True)
    with pytest.raises(ValueError, match=r"solve\(\) output shapes must match b"):
        lax.custom_linear_solve(lambda x: a @ x, b, lambda mv, v: v[:2], symmetric=True)
    with pytest.raises(ValueError, match=r"transpose_solve\(\) output shapes must match b"):
        lax.custom_linear_solve(lambda x: a @ x, b, cg, lambda vm, v: fnp.sum(v))
    with pytest.raises(ValueError, match="has_aux=True"):
        lax.custom_linear_solve(lambda x: a @ x, b, cg, symmetric=True, has_aux=True)


# =================================================================== custom_root
def newton(f, x0):
    return lax.fori_loop(0, 30, lambda _, x: x - f(x) / ft.grad(f)(x), x0)


def scalar_tangent_solve(g, y):
    return y / g(1.0)


def sqrt_cubed(x):
    """The positive root of y^2 = x^3 (JAX's docs example)."""
    return lax.custom_root(lambda y: y ** 2 - x ** 3, f64(1.0), newton, scalar_tangent_solve)


def test_root_scalar_newton():
    x = f64(2.0)
    close(sqrt_cubed(x), 2.0 ** 1.5)
    close(ft.grad(sqrt_cubed)(x), 1.5 * 2.0 ** 0.5)
    close(ft.grad(ft.grad(sqrt_cubed))(x), 0.75 * 2.0 ** -0.5)
    close(ft.jvp(sqrt_cubed, (x,), (f64(1.0),))[1], 1.5 * 2.0 ** 0.5)
    close(ft.jit(ft.grad(sqrt_cubed))(x), 1.5 * 2.0 ** 0.5)
    xs = f64([1.0, 2.0, 3.0])
    close(ft.vmap(sqrt_cubed)(xs), np.asarray(xs) ** 1.5)
    close(ft.vmap(ft.grad(sqrt_cubed))(xs), 1.5 * np.asarray(xs) ** 0.5)
    close(ft.grad(lambda x: fnp.sum(ft.vmap(lambda c: sqrt_cubed(x * c))(xs)))(x),
          np.sum(1.5 * np.asarray(xs) ** 1.5 * 2.0 ** 0.5))
    check_grads(sqrt_cubed, (x,), order=2, eps=1e-5)


def test_root_is_not_differentiated_through_solve():
    def solve(f, x0):          # exact but non-differentiable; only the implicit rule helps
        return lax.stop_gradient(newton(f, x0))
    x = f64(2.0)
    g = ft.grad(lambda x: lax.custom_root(lambda y: y ** 2 - x ** 3, f64(1.0), solve,
                                          scalar_tangent_solve))(x)
    close(g, 1.5 * 2.0 ** 0.5)
    # nor does the root depend on the initial guess
    close(ft.grad(lambda g0: lax.custom_root(lambda y: y ** 2 - x ** 3, g0, newton,
                                             scalar_tangent_solve))(f64(1.0)), 0.0)


def vector_root(c, s):
    """The root u of u + s * tanh(u) = c (a pytree root: (u, scale))."""
    def f(u):
        return u[0] + s * fnp.tanh(u[0]) - c, u[1] * 2.0 - s

    def solve(f, u0):
        def step(_, u):
            jac = ft.jacfwd(lambda v: f((v, u[1]))[0])(u[0])
            return u[0] - fnp.linalg.solve(jac, f(u)[0]), s / 2.0
        return lax.fori_loop(0, 40, step, u0)

    def tangent_solve(g, y):
        jac = ft.jacfwd(lambda v: g((v, fnp.zeros_like(y[1])))[0])(y[0])
        return fnp.linalg.solve(jac, y[0]), y[1] / 2.0
    return lax.custom_root(f, (fnp.zeros_like(c), fnp.zeros_like(s)), solve, tangent_solve)


def test_root_vector_pytree():
    c, s = f64(RNG.standard_normal(N)), f64(0.7)
    u, half = vector_root(c, s)
    close(np.asarray(u) + 0.7 * np.tanh(np.asarray(u)), c)
    close(half, 0.35)
    d = 1 + 0.7 / np.cosh(np.asarray(u)) ** 2
    close(ft.jacrev(lambda c: vector_root(c, s)[0])(c), np.diag(1 / d))
    close(ft.jacfwd(lambda c: vector_root(c, s)[0])(c), np.diag(1 / d))
    close(ft.grad(lambda s: fnp.sum(vector_root(c, s)[0]))(s),
          -np.sum(np.tanh(np.asarray(u)) / d))
    check_grads(lambda c, s: vector_root(c, s), (c, s), order=2, eps=1e-5)


def test_root_has_aux_and_errors():
    x = f64(2.0)

    def solve_aux(f, x0):
        return newton(f, x0), 30
    root, aux = lax.custom_root(lambda y: y ** 2 - x ** 3, f64(1.0), solve_aux,
                                scalar_tangent_solve, has_aux=True)
    close(root, 2.0 ** 1.5)
    assert int(aux) == 30
    with pytest.raises(ValueError, match=r"f\(\) output shapes must match initial_guess"):
        lax.custom_root(lambda y: fnp.stack([y, y]), f64(1.0), newton, scalar_tangent_solve)
    with pytest.raises(TypeError, match=r"solve\(\) output pytree structure must match"):
        lax.custom_root(lambda y: y - 1.0, f64(1.0), lambda f, g: (g, g),
                        scalar_tangent_solve)
    with pytest.raises(ValueError, match=r"tangent_solve\(\) output shapes must match"):
        lax.custom_root(lambda y: y - 1.0, f64(1.0), newton, lambda g, y: fnp.stack([y, y]))


# =================================================================== against JAX
@pytest.fixture
def jax(jax_x64):
    return jax_x64


def test_against_jax(jax):
    jnp = jax.numpy

    def jax_solver(a):
        return lambda matvec, b: jax.lax.stop_gradient(jnp.linalg.solve(a, b))

    def jax_general(a, b):
        return jax.lax.custom_linear_solve(lambda x: a @ x, b, jax_solver(a),
                                           transpose_solve=jax_solver(a.T))
    a, b = M0 + 3 * np.eye(N), B0
    loss = lambda a, b: jnp.sum(jax_general(a, b) ** 3)               # noqa: E731
    ft_loss = lambda a, b: fnp.sum(general_solve(a, b) ** 3)          # noqa: E731
    close(ft.grad(ft_loss, argnums=(0, 1))(f64(a), f64(b)),
          jax.grad(loss, argnums=(0, 1))(a, b))
    close(ft.hessian(ft_loss)(f64(a), f64(b)), jax.hessian(loss)(a, b))
    close(ft.jacfwd(ft.jacrev(general_solve))(f64(a), f64(b)),
          jax.jacfwd(jax.jacrev(jax_general))(a, b))

    def jax_sqrt_cubed(x):
        def newton_j(f, x0):
            return jax.lax.fori_loop(0, 30, lambda _, x: x - f(x) / jax.grad(f)(x), x0)
        return jax.lax.custom_root(lambda y: y ** 2 - x ** 3, 1.0, newton_j,
                                   scalar_tangent_solve)
    for x in (0.5, 2.0):
        close(ft.grad(ft.grad(sqrt_cubed))(f64(x)), jax.grad(jax.grad(jax_sqrt_cubed))(x))
