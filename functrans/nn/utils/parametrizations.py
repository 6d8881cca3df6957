"""`torch.nn.utils.parametrizations`: weight and spectral normalization and orthogonal
matrices as parametrizations (see `parametrize`), PyTorch's newer form. The parametrized module
is a `Parametrized<Layer>` whose `state_dict()` keys are PyTorch's
(`parametrizations.weight.original0` / `original1` for weight_norm's `g` / `v`;
`parametrizations.weight.original`, `parametrizations.weight.0._u`,
`parametrizations.weight.0._v` for spectral_norm; `parametrizations.weight.original` and, with
the trivialization, `parametrizations.weight.0.base` for orthogonal).

As with the original forms, spectral_norm's power method runs on each read of the weight in
training mode and records the new `_u`, `_v` with `update_buffers`: call the model through
`ft.nn.stateful`. Its starting vectors are drawn from `key` and refined by 15 steps of the
power method, as in PyTorch. orthogonal's `base` is found when the parametrization is made,
from the weight then (PyTorch finds it when the weight is assigned, in `right_inverse`); the
columns that complete a non-square weight to a square matrix are drawn from `key`.
"""
from __future__ import annotations

import math

from ... import lax, random
from ... import numpy as fnp
from ...primitives._util import dtype_of, shape_of
from ...scipy.linalg import expm
from ..distance import normalize
from ..module import Module
from .parametrize import register_parametrization
from .spectral_norm import check_settings, random_unit_vectors, spectral_dim, weight_matrix
from .weight_norm import check_dim, norm_except_dim, weight_norm_value

__all__ = ["weight_norm", "spectral_norm", "orthogonal"]


class _WeightNorm(Module):
    """`(g, v) -> g * v / ||v||`, the norm over every axis but `dim` (-1: the whole tensor)."""

    def __init__(self, dim=0):
        self.dim = -1 if dim is None else dim

    def __call__(self, weight_g, weight_v):
        return weight_norm_value(weight_v, weight_g, self.dim)

    def right_inverse(self, weight):
        return norm_except_dim(weight, 2, self.dim), weight


def weight_norm(module, name="weight", dim=0):
    """A copy of `module` whose parameter `name` is `g * v / ||v||`, with `g` (the norms over
    every axis but `dim`; `dim=None` or -1: over the whole tensor) and `v` its originals."""
    weight = getattr(module, name, None)
    if dim is not None and hasattr(weight, "shape"):
        dim = check_dim(dim, shape_of(weight), "weight_norm")
    return register_parametrization(module, name, _WeightNorm(dim), unsafe=True)


class _SpectralNorm(Module):
    """`weight -> weight / sigma`, sigma the power method's estimate of the largest singular
    value of `weight` as a matrix with axis `dim` as rows (1-d: `weight / ||weight||`)."""

    def __init__(self, weight, n_power_iterations=1, dim=0, eps=1e-12, *, key=None):
        self.dim = check_settings(weight, n_power_iterations, dim, "spectral_norm")
        self.eps = float(eps)
        self.training = True
        if len(shape_of(weight)) > 1:
            self.n_power_iterations = int(n_power_iterations)
            weight_mat = weight_matrix(weight, self.dim)
            u, v = random_unit_vectors(key, weight_mat, self.eps, "spectral_norm")
            u, v = self._power_method(weight_mat, u, v, 15)
            self.register_buffer("_u", u)
            self.register_buffer("_v", v)

    def _power_method(self, weight_mat, u, v, n):
        weight_mat = lax.stop_gradient(weight_mat)
        for _ in range(n):
            u = normalize(weight_mat @ v, dim=0, eps=self.eps)
            v = normalize(fnp.conj(weight_mat).T @ u, dim=0, eps=self.eps)
        return u, v

    def __call__(self, weight):
        if len(shape_of(weight)) == 1:
            return normalize(weight, dim=0, eps=self.eps)
        weight_mat = weight_matrix(weight, self.dim)
        u, v = self.get_buffer("_u"), self.get_buffer("_v")
        if self.training:
            u, v = self._power_method(weight_mat, u, v, self.n_power_iterations)
            self.update_buffers(_u=u, _v=v)
        sigma = fnp.vdot(u, weight_mat @ v)
        return weight / sigma

    def right_inverse(self, value):
        return value


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None, *,
                  key=None):
    """A copy of `module` whose parameter `name` is divided by its spectral norm (see the module
    documentation); `key` draws the power method's starting vectors."""
    weight = getattr(module, name, None)
    if weight is None or not hasattr(weight, "shape"):
        raise ValueError(f"spectral_norm: {type(module).__name__} has no parameter or buffer "
                         f"named {name!r}")
    dim = spectral_dim(module, dim)
    return register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps, key=key))


_ORTHOGONAL_MAPS = ("matrix_exp", "cayley", "householder")


def _mH(x):
    return fnp.conj(fnp.swapaxes(x, -1, -2))


def _with_diagonal(x, diagonal):
    """`x` (..., n, k), n >= k, with its main diagonal replaced by `diagonal` (..., k)."""
    n, k = shape_of(x)[-2:]
    return fnp.where(fnp.eye(n, k, dtype=bool), fnp.expand_dims(diagonal, -2), x)


def _qr_positive(a):
    """The Q factor of `a` (..., n, k), n >= k, of the QR factorization whose R has a real,
    non-negative diagonal."""
    h, taus = lax.linalg.geqrf(a)
    q = lax.linalg.householder_product(h, taus)
    return q * fnp.expand_dims(fnp.sign(fnp.diagonal(h, axis1=-2, axis2=-1)), -2)


def _trivialization_base(weight, key):
    """The (..., n, n) unitary `base` for `weight` (n its larger side): the weight itself when
    square and unitary to within 10 n eps (PyTorch's check), else the Q factor of its QR
    factorization, completed by random columns from `key` when not square."""
    q = lax.stop_gradient(weight)
    n, k = shape_of(q)[-2:]
    if n < k:
        q, (n, k) = fnp.swapaxes(q, -1, -2), (k, n)
    if n == k:
        eps = 10.0 * n * float(fnp.finfo(dtype_of(q)).eps)
        eye = fnp.eye(n, dtype=dtype_of(q))
        unitary = fnp.all(fnp.abs(_mH(q) @ q - eye) <= eps + 1e-5 * fnp.abs(eye))
        return fnp.where(unitary, q, _qr_positive(q))
    if key is None:
        raise ValueError("orthogonal: the trivialization of a non-square weight completes it "
                         "with random columns: pass key=ft.random.key(seed) (PyTorch draws them "
                         "from its global generator), or use_trivialization=False")
    shape = tuple(shape_of(q)[:-2]) + (n, n - k)
    dt = dtype_of(q)
    if dt.kind == "c":
        k_re, k_im = random.split(key)
        real = fnp.finfo(dt).dtype
        fill = lax.complex(random.normal(k_re, shape, real),
                           random.normal(k_im, shape, real)) / math.sqrt(2.0)
    else:
        fill = random.normal(key, shape, dt)
    return _qr_positive(fnp.concatenate([q, fill], axis=-1))


class _Orthogonal(Module):
    """`X -> Q`, a matrix (or batch of matrices) with orthonormal columns (rows when wide),
    from the original `X` by `orthogonal_map`, times the unitary `base` with the
    trivialization."""

    def __init__(self, weight, orthogonal_map, *, use_trivialization=True, key=None):
        if dtype_of(weight).kind == "c" and orthogonal_map == "householder":
            raise ValueError("orthogonal: the householder parametrization does not support "
                             "complex tensors; use orthogonal_map='matrix_exp' or 'cayley'")
        self.shape = tuple(shape_of(weight))
        self.orthogonal_map = orthogonal_map
        self.use_trivialization = bool(use_trivialization)
        if use_trivialization:
            self.register_buffer("base", _trivialization_base(weight, key))

    def __call__(self, x):
        n, k = shape_of(x)[-2:]
        transposed = n < k
        if transposed:
            x, (n, k) = fnp.swapaxes(x, -1, -2), (k, n)
        if self.orthogonal_map == "householder":
            a = fnp.tril(x, -1)
            taus = 2.0 / (1.0 + fnp.sum(a * a, axis=-2))
            signs = lax.stop_gradient(fnp.trunc(fnp.diagonal(x, axis1=-2, axis2=-1)))
            q = lax.linalg.householder_product(a, taus) * fnp.expand_dims(signs, -2)
        else:
            x = fnp.tril(x)
            if n != k:                  # the tall n x k as the first columns of an n x n
                x = fnp.concatenate(
                    [x, fnp.zeros(tuple(shape_of(x)[:-2]) + (n, n - k), dtype_of(x))], axis=-1)
            a = x - _mH(x)              # skew-symmetric (skew-Hermitian)
            if self.orthogonal_map == "matrix_exp":
                q = expm(a)
            else:                       # the Cayley map (I + A/2)(I - A/2)^-1
                eye = fnp.eye(n, dtype=dtype_of(a))
                q = fnp.linalg.solve(eye - 0.5 * a, eye + 0.5 * a)
            q = q[..., :k]
        if self.use_trivialization:
            q = self.get_buffer("base") @ q
        return fnp.swapaxes(q, -1, -2) if transposed else q

    def right_inverse(self, q):
        """The original for the weight `q`: with the trivialization, minus the identity (the
        weight is then `base`); else, for householder, the reflectors of `q`'s QR factorization
        with the signs of R's diagonal on theirs."""
        if tuple(shape_of(q)) != self.shape:
            raise ValueError(f"orthogonal: expected a matrix or batch of matrices of shape "
                             f"{self.shape}, got a tensor of shape {tuple(shape_of(q))}")
        n, k = self.shape[-2:]
        if self.use_trivialization:
            return fnp.broadcast_to(-fnp.eye(n, k, dtype=dtype_of(q)), self.shape)
        if self.orthogonal_map != "householder":
            raise NotImplementedError("orthogonal: the matrix_exp and cayley maps have no "
                                      "right inverse when use_trivialization=False")
        transposed = n < k
        q = lax.stop_gradient(fnp.swapaxes(q, -1, -2) if transposed else q)
        h, taus = lax.linalg.geqrf(q)
        signs = fnp.sign(fnp.diagonal(h, axis1=-2, axis2=-1))
        h = _with_diagonal(h, fnp.where(taus == 0.0, -signs, signs))
        return fnp.swapaxes(h, -1, -2) if transposed else h


def orthogonal(module, name="weight", orthogonal_map=None, *, use_trivialization=True,
               key=None):
    """A copy of `module` whose parameter `name` (a matrix or batch of matrices (..., m, n)) is
    orthogonal (unitary when complex): orthonormal columns when m >= n, rows otherwise, by
    `orthogonal_map` ("matrix_exp", "cayley" or "householder"; default "matrix_exp" for square
    or complex weights, else "householder"). With `use_trivialization` (PyTorch's dynamic
    trivialization) the weight is `base @ Q`, `base` a buffer starting from the weight made
    orthogonal; `key` draws the columns completing a non-square weight (see the module
    documentation)."""
    weight = getattr(module, name, None)
    if weight is None or not hasattr(weight, "shape"):
        raise ValueError(f"orthogonal: {type(module).__name__} has no parameter or buffer "
                         f"named {name!r}")
    if len(shape_of(weight)) < 2:
        raise ValueError(f"orthogonal: expected a matrix or batch of matrices, got {name!r} "
                         f"of shape {tuple(shape_of(weight))}")
    if orthogonal_map is None:
        m, n = shape_of(weight)[-2:]
        square_or_complex = m == n or dtype_of(weight).kind == "c"
        orthogonal_map = "matrix_exp" if square_or_complex else "householder"
    if orthogonal_map not in _ORTHOGONAL_MAPS:
        raise ValueError(f"orthogonal: orthogonal_map has to be one of {_ORTHOGONAL_MAPS}, "
                         f"got {orthogonal_map!r}")
    orth = _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization, key=key)
    return register_parametrization(module, name, orth, unsafe=True)
