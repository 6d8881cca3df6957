"""Gradient checks over the NumPy functions HIPS autograd differentiates (the functions its
`numpy_vjps`/`numpy_jvps` cover, as its test suite checks them): each through
`check_grads(order=2, modes=("fwd", "rev"))` in float64, on inputs inside the function's
domain and away from its kinks."""
from __future__ import annotations

import zlib

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads

RNG = np.random.default_rng(0)


@pytest.fixture
def seeded(request):
    """Each test's inputs from its own seed, whichever tests ran before it in this process
    (pytest-xdist hands them out in no fixed order): pinv of an unlucky, nearly singular
    draw once disagreed with finite differences."""
    global RNG
    RNG = np.random.default_rng(zlib.crc32(request.node.name.encode()))


def _r(*shape):
    return RNG.standard_normal(shape)


def _pos(*shape):
    return RNG.uniform(0.5, 2.0, shape)


def _unit(*shape):
    return RNG.uniform(-0.8, 0.8, shape)


UNARY = {
    "abs": _r, "absolute": _r, "fabs": _r, "negative": _r, "exp": _r, "exp2": _r,
    "expm1": _r, "log": _pos, "log2": _pos, "log10": _pos, "log1p": _pos, "sqrt": _pos,
    "cbrt": _pos, "square": _r, "reciprocal": _pos, "sin": _r, "cos": _r, "tan": _unit,
    "arcsin": _unit, "arccos": _unit, "arctan": _r, "sinh": _r, "cosh": _r, "tanh": _r,
    "arcsinh": _r, "arccosh": lambda *s: 1.5 + _pos(*s), "arctanh": _unit, "sinc": _r,
    "deg2rad": _r, "rad2deg": _r, "radians": _r, "degrees": _r, "real": _r, "imag": _r,
    "conj": _r, "conjugate": _r, "angle": _pos, "i0": _r, "sum": _r, "mean": _r, "prod": _r,
    "var": _r, "std": _r, "max": _r, "min": _r, "amax": _r, "amin": _r, "cumsum": _r,
    "cumprod": _pos, "ravel": _r, "transpose": _r, "squeeze": _r, "fliplr": _r, "flipud": _r,
    "rot90": _r, "trace": _r, "diagonal": _r, "tril": _r, "triu": _r, "sort": _r,
    "atleast_1d": _r, "atleast_2d": _r, "atleast_3d": _r, "nan_to_num": _r, "median": _r,
    "average": _r, "ptp": _r, "diff": _r, "logsumexp": _r, "linalg.det": _r,
    "linalg.inv": lambda *s: _r(*s) + 3 * np.eye(s[-1]), "linalg.slogdet": _r,
    "linalg.norm": _r, "linalg.pinv": lambda *s: _r(*s) + 3 * np.eye(s[-1]),
    "fft.fft": _r, "fft.rfft": _r,
    "linalg.cholesky": lambda *s: (lambda a: a @ a.T + np.eye(s[-1]))(_r(*s)),
    "linalg.eigh": lambda *s: (lambda a: a + a.T)(_r(*s)),
}

BINARY = {
    "add": (_r, _r), "subtract": (_r, _r), "multiply": (_r, _r), "divide": (_r, _pos),
    "true_divide": (_r, _pos), "power": (_pos, _r), "maximum": (_r, _r),
    "minimum": (_r, _r), "fmax": (_r, _r), "fmin": (_r, _r), "hypot": (_r, _r),
    "arctan2": (_r, _pos), "logaddexp": (_r, _r), "logaddexp2": (_r, _r),
    "mod": (_pos, _pos), "remainder": (_pos, _pos), "fmod": (_pos, _pos), "dot": (_r, _r),
    "inner": (_r, _r), "outer": (_r, _r), "matmul": (_r, _r), "kron": (_r, _r),
    "cross": (_r, _r), "tensordot": (_r, _r), "vdot": (_r, _r), "copysign": (_r, _pos),
    "where": (_r, _r), "linalg.solve": (lambda *s: _r(*s) + 3 * np.eye(s[-1]), _r),
    "concatenate": (_r, _r), "stack": (_r, _r), "hstack": (_r, _r), "vstack": (_r, _r),
    "dstack": (_r, _r), "column_stack": (_r, _r),
}

_SHAPES = {"linalg.solve": ((3, 3), (3,)), "cross": ((2, 3), (2, 3)),
           "kron": ((2, 2), (2, 3)), "dot": ((2, 3), (3, 2)), "matmul": ((2, 3), (3, 2)),
           "tensordot": ((2, 3), (3, 2)), "inner": ((2, 3), (2, 3)), "outer": ((3,), (2,))}


def _fn(name):
    obj = fnp
    for part in name.split("."):
        obj = getattr(obj, part) if part != "logsumexp" else ft.scipy.special.logsumexp
    return obj


def _scalarize(out):
    """A scalar of every output leaf, weighted so no symmetry hides an error."""
    total = 0.0
    for leaf in ft.tree.leaves(out):
        leaf = fnp.real(leaf) if fnp.iscomplexobj(leaf) else leaf
        w = fnp.linspace(0.5, 1.5, leaf.size).reshape(leaf.shape) if leaf.ndim else 1.0
        total = total + fnp.sum(fnp.sin(leaf * w))
    return total


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name, seeded):
    shape = (3, 3) if name.startswith("linalg") else (2, 3)
    x = UNARY[name](*shape)
    fn = _fn(name)
    check_grads(lambda x: _scalarize(fn(x)), (x,), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary(name, seeded):
    gen_a, gen_b = BINARY[name]
    sa, sb = _SHAPES.get(name, ((2, 3), (2, 3)))
    a, b = gen_a(*sa), gen_b(*sb)
    fn = _fn(name)
    if name in ("concatenate", "stack", "hstack", "vstack", "dstack", "column_stack"):
        call = lambda a, b: fn([a, b])                     # noqa: E731
    elif name == "tensordot":
        call = lambda a, b: fn(a, b, axes=1)               # noqa: E731
    elif name == "where":
        cond = a > 0
        call = lambda a, b: fn(cond, a, b)                 # noqa: E731
    else:
        call = fn
    check_grads(lambda a, b: _scalarize(call(a, b)), (a, b), order=2, modes=("fwd", "rev"))


def test_shape_functions_with_arguments():
    x = _r(2, 3, 4)
    for f in (lambda x: fnp.reshape(x, (4, 6)), lambda x: fnp.swapaxes(x, 0, 2),
              lambda x: fnp.moveaxis(x, 0, -1), lambda x: fnp.rollaxis(x, 2),
              lambda x: fnp.expand_dims(x, 1), lambda x: fnp.tile(x, (2, 1, 1)),
              lambda x: fnp.repeat(x, 2, axis=1), lambda x: fnp.roll(x, 2, axis=2),
              lambda x: fnp.flip(x, 1), lambda x: fnp.split(x, 2, axis=2),
              lambda x: fnp.array_split(x, 3, axis=2), lambda x: fnp.pad(x, 1),
              lambda x: fnp.clip(x, -0.5, 0.5), lambda x: fnp.partition(x, 1, axis=2),
              lambda x: fnp.einsum("ijk,ilk->ijl", x, x ** 2),
              lambda x: fnp.select([x > 0, x < -1], [x ** 2, x], 0.0),
              lambda x: fnp.percentile(x, 30.0), lambda x: fnp.var(x, axis=1, ddof=1),
              lambda x: fnp.sum(x, axis=(0, 2), keepdims=True), lambda x: x[:, ::2, 1:] ** 2,
              lambda x: x[np.array([1, 0, 1])], lambda x: fnp.diag(x[0, :, 0])):
        check_grads(lambda x: _scalarize(f(x)), (x,), order=2, modes=("fwd", "rev"))


def test_hypot_at_the_origin_has_a_finite_derivative():
    # x / hypot(x, y) was 0 / 0 there: NaN (JAX gives a finite subgradient too)
    g = ft.grad(lambda a, b: fnp.hypot(a, b), (0, 1))
    for fn in (g, ft.jit(g)):
        assert [float(v) for v in fn(0.0, 0.0)] == [0.0, 0.0]
        np.testing.assert_allclose([float(v) for v in fn(3.0, -4.0)], [0.6, -0.8], rtol=1e-6)
    assert np.isfinite(float(ft.hessian(lambda a: fnp.hypot(a, 0.0))(0.0)))
