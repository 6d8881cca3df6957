"""functrans.scipy (linalg, integrate, interpolate, ndimage, optimize, fft, cluster, sparse) on
a non-default device: every public function called with its operands on the stand-in GPU of
tests/fakegpu.py, the cpu being the default device. The constants and index arrays a function
makes, and the NumPy operands it is given (uncommitted data), must join its operands' device;
the result must land there and equal the result computed on the cpu. Derivatives of a few
differentiable functions run there too."""
from __future__ import annotations

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
import functrans.scipy as fsp
from functrans.backends import cpu

rng = np.random.default_rng(5)
A = rng.standard_normal((4, 4))
SPD = A @ A.T + 4 * np.eye(4)
B = rng.standard_normal((4, 2))
V = rng.standard_normal(4)
GRID = (np.sort(rng.uniform(0, 5, 6)), np.sort(rng.uniform(-2, 2, 4)))
VALUES = rng.standard_normal((6, 4))
QUERY = np.stack([rng.uniform(-1, 6, 7), rng.uniform(-3, 3, 7)], -1)
IMAGE = rng.standard_normal((5, 6))
COORDS = (rng.uniform(-1, 5, 8), rng.uniform(-1, 6, 8))

la = fsp.linalg


def _rosen(x):
    return fnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def _interp(values, query, method="linear", fill_value=np.nan):
    return fsp.interpolate.RegularGridInterpolator(GRID, values, method,
                                                   fill_value=fill_value)(query)


# (id, function, NumPy arguments): each public function once (several ways for some)
CASES = [
    ("linalg.cholesky", la.cholesky, (SPD,)),
    ("linalg.cholesky_lower", lambda a: la.cholesky(a, lower=True), (SPD,)),
    ("linalg.cho_factor", la.cho_factor, (SPD,)),
    ("linalg.cho_solve", lambda c, b: la.cho_solve((c, False), b),
     (np.linalg.cholesky(SPD).T, B)),
    ("linalg.solve_triangular", lambda a, b: la.solve_triangular(a, b, trans=2), (A, B)),
    ("linalg.lu", la.lu, (A,)),
    ("linalg.lu_permute_l", lambda a: la.lu(a, permute_l=True), (A,)),
    ("linalg.lu_factor", la.lu_factor, (A,)),
    ("linalg.lu_solve", lambda a, b: la.lu_solve(la.lu_factor(a), b), (A, B)),
    ("linalg.lu_solve_trans", lambda a, b: la.lu_solve(la.lu_factor(a), b, trans=1), (A, V)),
    ("linalg.lu_solve_batched", lambda a, b: la.lu_solve(la.lu_factor(a), b),
     (np.stack([A, SPD]), np.stack([V, V]))),
    ("linalg.solve", la.solve, (A, B)),
    ("linalg.solve_pos", lambda a, b: la.solve(a, b, assume_a="pos"), (SPD, V)),
    ("linalg.solve_lower", lambda a, b: la.solve(a, b, assume_a="lower triangular"), (A, B)),
    ("linalg.inv", la.inv, (A,)),
    ("linalg.det", la.det, (A,)),
    ("linalg.eigh", la.eigh, (SPD,)),
    ("linalg.svd", la.svd, (A,)),
    ("linalg.qr", la.qr, (A[:, :3],)),
    ("linalg.qr_r", lambda a: la.qr(a, mode="r"), (A[:, :3],)),
    ("linalg.expm", la.expm, (A,)),
    ("linalg.expm_triangular", lambda a: la.expm(a, upper_triangular=True), (np.triu(A),)),
    ("linalg.polar", la.polar, (A,)),
    ("linalg.polar_left", lambda a: la.polar(a, side="left"), (A,)),
    ("linalg.block_diag", la.block_diag, (A[:2, :3], V, np.float64(2.0))),
    ("linalg.toeplitz", la.toeplitz, (V, V[::-1])),
    ("linalg.toeplitz_c", la.toeplitz, (V,)),
    ("linalg.circulant", la.circulant, (V,)),
    ("linalg.hankel", la.hankel, (V, V[::-1])),
    ("linalg.hankel_c", la.hankel, (V,)),
    ("linalg.companion", la.companion, (V,)),
    ("linalg.schur", la.schur, (A,)),
    ("linalg.schur_complex", lambda a: la.schur(a, output="complex"), (A,)),
    ("linalg.hessenberg", lambda a: la.hessenberg(a, calc_q=True), (A,)),
    ("linalg.sqrtm", la.sqrtm, (SPD,)),
    ("linalg.expm_frechet", la.expm_frechet, (A, SPD)),
    ("linalg.funm", lambda a: la.funm(a, fnp.exp, disp=False), (A,)),
    ("linalg.solve_sylvester", la.solve_sylvester, (A, SPD, B @ B.T)),
    ("linalg.solve_sylvester_eigen",
     lambda a, b, c: la.solve_sylvester(a, b, c, method="eigen"), (A, SPD, B @ B.T)),
    ("linalg.eigh_tridiagonal",
     lambda d, e: la.eigh_tridiagonal(d, e, select="i", select_range=(1, 2)), (V, V[:3])),
    ("linalg.rsf2csf", la.rsf2csf, tuple(np.asarray(x) for x in la.schur(A))),
    ("linalg.qr_multiply", la.qr_multiply, (A[:, :3], B.T)),
    ("linalg.qr_multiply_left", lambda a, c: la.qr_multiply(a, c, "left"), (A[:, :3], V[:3])),
    ("linalg.leslie", la.leslie, (V, V[:3])),
    ("linalg.fiedler", la.fiedler, (V,)),
    ("linalg.fiedler_companion", la.fiedler_companion, (V,)),
    ("linalg.convolution_matrix", lambda a: la.convolution_matrix(a, 3, "same"), (V,)),
    ("integrate.trapezoid", fsp.integrate.trapezoid, (V,)),
    ("interpolate.linear", _interp, (VALUES, QUERY)),
    ("interpolate.numpy_values", lambda q, v: _interp(v, q), (QUERY, VALUES)),
    ("interpolate.nearest", lambda v, q: _interp(v, q, "nearest"), (VALUES, QUERY)),
    ("interpolate.extrapolate", lambda v, q: _interp(v, q, fill_value=None), (VALUES, QUERY)),
    ("ndimage.map_coordinates", lambda x, i, j: fsp.ndimage.map_coordinates(x, (i, j), 1),
     (IMAGE,) + COORDS),
    ("ndimage.map_coordinates_wrap",
     lambda x, i, j: fsp.ndimage.map_coordinates(x, (i, j), 0, mode="wrap"), (IMAGE,) + COORDS),
    ("ndimage.map_coordinates_int",
     lambda x, i, j: fsp.ndimage.map_coordinates(x, (i, j), 1, mode="mirror"),
     (np.arange(30).reshape(5, 6),) + COORDS),
    ("optimize.minimize", lambda x: fsp.optimize.minimize(_rosen, x, method="BFGS"),
     (np.array([-1.0, 1.5, 0.5]),)),
    ("fft.dct", lambda x: fsp.fft.dct(x, norm="ortho"), (IMAGE,)),
    ("fft.idct", lambda x: fsp.fft.idct(x, n=8, axis=0), (IMAGE,)),
    ("fft.dctn", lambda x: fsp.fft.dctn(x, norm="forward"), (IMAGE,)),
    ("fft.idctn", lambda x: fsp.fft.idctn(x, norm="ortho"), (IMAGE + 1j * IMAGE,)),
    ("cluster.vq", fsp.cluster.vq.vq, (IMAGE, IMAGE[:3])),
    ("sparse.cg", lambda a, b: fsp.sparse.linalg.cg(a, b, tol=1e-12)[0], (SPD, V)),
    ("sparse.cg_pytree", lambda b, a: fsp.sparse.linalg.cg(      # (a function's closure
        lambda t: {"x": a @ t["x"]}, {"x": b}, tol=1e-12)[0], (V, SPD)),   # places nothing)
    ("sparse.bicgstab", lambda a, b: fsp.sparse.linalg.bicgstab(
        a, b, M=lambda r: r / 4, tol=1e-12)[0], (A + 6 * np.eye(4), V)),
]


@pytest.fixture
def gpu(fake_gpus):
    return fake_gpus[0]


def _leaves(out):
    return [leaf for leaf in ft.tree_leaves(out) if isinstance(leaf, ft.Array)]


def _check(got, want, device, tol):
    got_leaves, want_leaves = ft.tree_leaves(got), ft.tree_leaves(want)
    assert len(got_leaves) == len(want_leaves)
    for g, w in zip(got_leaves, want_leaves):
        if isinstance(g, ft.Array):
            assert g.device is device
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=tol, atol=tol)


@pytest.mark.parametrize("placed", ["all", "first"])
@pytest.mark.parametrize("name,f,args", CASES, ids=[c[0] for c in CASES])
def test_results_live_on_the_operands_device(gpu, name, f, args, placed):
    want = f(*args)
    assert all(leaf.device is cpu for leaf in _leaves(want))
    # "all": every operand committed to the device; "first": the others NumPy data
    on_gpu = [ft.device_put(a, gpu) if placed == "all" or i == 0 else a
              for i, a in enumerate(args)]
    _check(f(*on_gpu), want, gpu, 1e-12)
    _check(ft.jit(f)(*on_gpu), want, gpu, 1e-9)


def _sum_of(f):
    return lambda *args: sum(fnp.sum(fnp.real(leaf)) for leaf in ft.tree_leaves(f(*args)))


GRADS = [
    ("expm", la.expm, (A / 2,)),
    ("solve", la.solve, (A, B)),
    ("solve_pos", lambda a, b: la.solve(a, b, assume_a="pos"), (SPD, V)),
    ("cho_solve", lambda a, b: la.cho_solve(la.cho_factor(a, lower=True), b), (SPD, B)),
    ("lu_solve", lambda a, b: la.lu_solve(la.lu_factor(a), b, trans=1), (A, B)),
    ("det", la.det, (A,)),
    ("sqrtm", la.sqrtm, (SPD,)),
    ("solve_sylvester", la.solve_sylvester, (A, SPD, B @ B.T)),
    ("expm_frechet", lambda a, e: la.expm_frechet(a, e, compute_expm=False), (A / 2, SPD)),
    ("polar", la.polar, (A,)),
    ("interpolate", _interp, (VALUES, QUERY[1:3] / 2 + 1)),
    ("map_coordinates", lambda x, i, j: fsp.ndimage.map_coordinates(x, (i, j), 1),
     (IMAGE,) + COORDS),
    ("dct", lambda x: fsp.fft.dct(x, norm="ortho"), (IMAGE,)),
]


@pytest.mark.parametrize("name,f,args", GRADS, ids=[c[0] for c in GRADS])
def test_derivatives_run_on_the_operands_device(gpu, name, f, args):
    loss = _sum_of(f)
    argnums = tuple(range(len(args)))
    want = ft.grad(loss, argnums)(*args)
    on_gpu = [ft.device_put(a, gpu) for a in args]
    _check(ft.grad(loss, argnums)(*on_gpu), want, gpu, 1e-9)
    _check(ft.jit(ft.grad(loss, argnums))(*on_gpu), want, gpu, 1e-9)
    _check(ft.grad(ft.jit(loss), argnums)(*on_gpu), want, gpu, 1e-9)
    tangents = [np.ones_like(a) for a in args]
    _, want_t = ft.jvp(loss, args, tangents)
    _, got_t = ft.jvp(loss, on_gpu, [ft.device_put(t, gpu) for t in tangents])
    _check(got_t, want_t, gpu, 1e-9)
    vmapped = ft.vmap(loss, in_axes=(0,) + (None,) * (len(args) - 1))
    stacked = ft.device_put(np.stack([args[0], args[0]]), gpu)
    _check(vmapped(stacked, *on_gpu[1:]), vmapped(np.stack([args[0], args[0]]), *args[1:]),
           gpu, 1e-9)


POSITIVE_SOLVES = [
    ("solve_pos", lambda a, b: la.solve(a, b, assume_a="pos")),
    ("solve_pos_lower", lambda a, b: la.solve(a, b, assume_a="pos", lower=True)),
    ("cho_solve", lambda a, b: la.cho_solve(la.cho_factor(a), b)),
    ("cho_solve_lower", lambda a, b: la.cho_solve(la.cho_factor(a, lower=True), b)),
]


@pytest.mark.parametrize("argnums", [0, 1, (0, 1)])
@pytest.mark.parametrize("name,f", POSITIVE_SOLVES, ids=[c[0] for c in POSITIVE_SOLVES])
def test_grad_of_jit_of_positive_definite_solves_on_the_operands_device(gpu, name, f, argnums):
    """`_solve_pos`'s jvp rule (and cho_solve's derivatives) make their data where the
    primals are, also when they run outside the jitted function that bound them."""
    def loss(a, b):
        return fnp.sum(f(a, b) ** 2)

    def second(a, b):
        return _sum_of(ft.grad(ft.jit(loss), argnums))(a, b)
    on_gpu = [ft.device_put(x, gpu) for x in (SPD, B)]
    for transform in (lambda g: ft.grad(ft.jit(g), argnums), lambda g: ft.jit(ft.grad(g, argnums)),
                      lambda g: ft.grad(g, argnums)):
        _check(transform(loss)(*on_gpu), transform(loss)(SPD, B), gpu, 1e-9)
    _check(ft.grad(second, argnums)(*on_gpu), ft.grad(second, argnums)(SPD, B), gpu, 1e-8)
    _check(ft.jvp(ft.jit(loss), on_gpu, on_gpu)[1], ft.jvp(ft.jit(loss), (SPD, B), (SPD, B))[1],
           gpu, 1e-9)
