"""Differential tests of the transforms against JAX: the same program runs once with
`functrans` and once with `jax` (x64 on; functrans' default float type float64) and the
results must agree in pytree structure, shape, dtype and value, or both must raise the same
kind of error (ours with a message naming the culprit).

`FUNCTIONS` is a table of differentiable functions of the numpy / lax / scipy.special /
nn-functional namespaces, put through the transforms in `TRANSFORMS` (jvp, vjp, jacfwd,
jacrev, hessian, vmap with various axes, jit, and their compositions): by default each
function meets a rotating share of them, with FUNCTRANS_JAX_PARITY=full every one (JAX
needs minutes to compile the whole table). `PROGRAMS` are whole programs about the
transforms themselves: argnums, has_aux, pytrees, control flow, custom rules, checkpoint,
integer inputs, API arguments, and the errors JAX raises. Where functrans differs on
purpose, `DELIBERATE` says why and asserts both sides. Nothing is skipped.
"""

from __future__ import annotations

import collections
import functools
import os
import re
import types
import zlib

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.ad_checkpoint  # noqa: E402
import jax.nn  # noqa: E402
import jax.numpy  # noqa: E402
import jax.scipy.special  # noqa: E402

import functrans as ft  # noqa: E402
import functrans.numpy  # noqa: E402,F401
import functrans.scipy.special  # noqa: E402,F401


def _namespace(lib, nn, checkpoint_name):
    return types.SimpleNamespace(
        name=lib.__name__,
        api=lib,
        np=lib.numpy,
        lax=lib.lax,
        sp=lib.scipy.special,
        nn=nn,
        tree=lib.tree_util,
        checkpoint_name=checkpoint_name,
    )


def _ft_nn():
    n = ft.nn
    return types.SimpleNamespace(
        relu=n.relu,
        gelu=lambda x, approximate=True: n.gelu(x, "tanh" if approximate else "none"),
        softplus=n.softplus,
        silu=n.silu,
        sigmoid=n.sigmoid,
        elu=n.elu,
        leaky_relu=n.leaky_relu,
        softmax=lambda x, axis=-1: n.softmax(x, axis=axis),
        log_softmax=lambda x, axis=-1: n.log_softmax(x, axis=axis),
    )


FT = _namespace(ft, _ft_nn(), ft.checkpoint_name)
JX = _namespace(jax, jax.nn, jax.ad_checkpoint.checkpoint_name)


@pytest.fixture(autouse=True)
def _float64():
    """x64 in JAX, float64 as functrans' default float type, for this module's tests only."""
    old = ft.config.default_float_dtype
    ft.config.update("default_float_dtype", "float64")
    try:
        with jax.enable_x64(True):
            yield
    finally:
        ft.config.update("default_float_dtype", old)


# ------------------------------------------------------------------ running and comparing
def _run(program, L):
    try:
        return program(L), None
    except Exception as e:  # noqa: BLE001 - compared against the oracle's outcome
        return None, e


def _skeleton(L, tree):
    """The pytree's structure as plain nested containers (leaves -> 0), comparable across
    libraries."""
    return L.tree.tree_map(lambda _: 0, tree)


def _leaves(L, tree):
    return [np.asarray(leaf) for leaf in L.tree.tree_leaves(tree)]


def assert_same(ours, theirs, rtol=1e-7, atol=1e-9, what=""):
    s_ours, s_theirs = _skeleton(FT, ours), _skeleton(JX, theirs)
    assert repr(s_ours) == repr(s_theirs), f"{what}structure {s_ours!r} != JAX's {s_theirs!r}"
    for i, (a, b) in enumerate(zip(_leaves(FT, ours), _leaves(JX, theirs))):
        where = f"{what}leaf {i}: "
        assert a.shape == b.shape, f"{where}shape {a.shape} != JAX's {b.shape}"
        assert a.dtype == b.dtype, f"{where}dtype {a.dtype} != JAX's {b.dtype}"
        if b.dtype == jax.dtypes.float0:
            continue
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=where)


def _run_jax(program):
    """JAX's result, staged in one jit where the program allows (JAX compiles every op it
    runs eagerly, many times slower), else eagerly."""
    try:
        return jax.jit(lambda: program(JX))(), None
    except Exception:  # noqa: BLE001 - Python control on values, leaked tracers, ...
        return _run(program, JX)


def compare(program, rtol=1e-7, atol=1e-9, error=None):
    """Run `program(L)` with both libraries; same result, or, where `error` (a regex for our
    message) is given, the same kind of error as JAX's."""
    theirs, their_err = _run(program, JX) if error is not None else _run_jax(program)
    ours, our_err = _run(program, FT)
    if (their_err is None) != (error is None):
        raise AssertionError(
            f"the program is wrong: JAX was {'not ' * (error is not None)}expected to raise"
        ) from their_err
    if their_err is not None:
        assert our_err is not None, f"JAX raised {their_err!r}; functrans returned {ours!r}"
        kind = next(c for c in type(their_err).__mro__ if c.__module__ == "builtins")
        assert isinstance(our_err, kind), (
            f"JAX raised {type(their_err).__name__} ({kind.__name__}); functrans raised {our_err!r}"
        )
        assert re.search(error, str(our_err)), (
            f"functrans' message {str(our_err)!r} does not match {error!r}"
        )
        return our_err
    if our_err is not None:
        raise AssertionError(f"functrans raised where JAX returned {theirs!r}") from our_err
    assert_same(ours, theirs, rtol, atol)
    return ours


def _rng(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def _weights(shape, dtype=np.float64, phase=1.0):
    """Deterministic, asymmetric weights (no cancellation as sum() has on softmax)."""
    w = np.cos(np.arange(int(np.prod(shape))) * 0.7 + phase).reshape(shape)
    return w.astype(dtype) if np.issubdtype(dtype, np.inexact) else w


def _weighted_sum(L, out):
    """A scalar that depends on every leaf of `out` with distinct weights."""
    total = 0.0
    for i, leaf in enumerate(L.tree.tree_leaves(out)):
        w = _weights(np.shape(leaf), phase=1.0 + i)
        if L.np.iscomplexobj(leaf):
            total = total + L.np.sum(L.np.real(leaf) * w) + 0.5 * L.np.sum(L.np.imag(leaf) * w)
        elif L.np.issubdtype(leaf.dtype, L.np.inexact):
            total = total + L.np.sum(leaf * w)
    return total


# ------------------------------------------------------------------ the function table
Fn = collections.namedtuple("Fn", "name f args hessian vmap rtol", defaults=(True, True, 1e-7))


def _x(shape, lo=-1.0, hi=1.0, seed="x"):
    return _rng(seed + str(shape)).uniform(lo, hi, shape)


X = _x((3, 4))
Y = _x((3, 4), seed="y")
POS = _x((3, 4), 0.5, 2.0)
UNIT = _x((3, 4), -0.8, 0.8)
TIES = np.array([[1.0, 3.0, 3.0, -2.0], [0.5, 0.5, 0.5, 0.5], [-1.0, 2.0, -1.0, 2.0]])
ZEROS_IN = np.array([[1.5, 0.0, 2.0, -0.5], [0.0, 0.0, 3.0, 1.0], [2.0, -1.0, 0.5, 0.0]])
SPD = (lambda a: a @ a.T + 3 * np.eye(3))(_x((3, 3), seed="spd"))
SQ = _x((3, 3), seed="sq") + 2 * np.eye(3)
TALL = _x((5, 3), seed="tall")
V = _x((6,), seed="v")
IDX = np.array([2, -1, 0, 2])  # negative and repeated
IMG = _x((2, 3, 6, 6), seed="img")
KER = _x((4, 3, 3, 3), seed="ker")
GKER = _x((6, 1, 3, 3), seed="gker")


def _parts(L, z):
    """A complex result as real values (jacrev, like JAX's, wants real outputs)."""
    return L.np.real(z), L.np.imag(z)


def _sym(L, a):
    return 0.5 * (a + L.np.swapaxes(a, -1, -2))


FUNCTIONS = [
    # elementwise
    Fn("sin", lambda L, x: L.np.sin(x), (X,)),
    Fn("tan", lambda L, x: L.np.tan(x), (UNIT,)),
    Fn("exp_log1p", lambda L, x: L.np.exp(x) + L.np.log1p(x), (UNIT,)),
    Fn("log_sqrt", lambda L, x: L.np.log(x) * L.np.sqrt(x), (POS,)),
    Fn("expm1_cbrt", lambda L, x: L.np.expm1(x) * L.np.cbrt(x), (POS,)),
    Fn("arc", lambda L, x: L.np.arcsin(x) + L.np.arccos(x) * L.np.arctan(x) + L.np.arctanh(x), (UNIT,)),
    Fn("hyperbolic", lambda L, x: L.np.sinh(x) * L.np.cosh(x) + L.np.tanh(x) + L.np.arcsinh(x), (X,)),
    Fn("arccosh", lambda L, x: L.np.arccosh(x + 1.5), (POS,)),
    Fn("pow_int", lambda L, x: x ** 3 + L.np.power(x, 2) + L.np.square(x) ** -2, (X,)),
    Fn("pow_real", lambda L, x, y: L.np.power(x, y), (POS, Y)),
    Fn("pow_zero_base", lambda L, x: L.np.power(x, 2.0), (ZEROS_IN,)),
    Fn("reciprocal_abs", lambda L, x: 1 / x + L.np.abs(x), (POS - 1.25,)),
    Fn("sign_floor_round", lambda L, x: L.np.sign(x) * x + L.np.floor(x) + L.np.round(x * 3), (X,)),
    Fn("binary", lambda L, x, y: L.np.arctan2(x, y) + L.np.hypot(x, y) + L.np.logaddexp(x, y), (X, Y)),
    Fn("maximum_ties", lambda L, x, y: L.np.maximum(x, y) - L.np.minimum(x, 2 * y), (TIES, TIES), False),
    Fn("maximum_self", lambda L, x: L.np.maximum(x, x) + L.np.fmax(x, 0.55) - L.np.fmin(x, 0.45), (TIES,), False),
    Fn("clip", lambda L, x: L.np.clip(x, -0.5, 0.5), (X,), False),
    Fn("where", lambda L, x, y: L.np.where(x > 0, x * y, y ** 2), (X, Y)),
    Fn("remainder", lambda L, x, y: L.np.remainder(x, y) + L.np.fmod(x, 0.3), (X, POS)),
    Fn("sinc_exp2_log2", lambda L, x: L.np.sinc(x) + L.np.exp2(x) + L.np.log2(x + 2) + L.np.log10(x + 2), (X,)),
    Fn("erf_family", lambda L, x: L.sp.erf(x) + L.sp.erfc(x) + L.sp.erfinv(x * 0.9), (UNIT,)),
    Fn("gamma_family", lambda L, x: L.sp.gammaln(x) + L.sp.digamma(x) + L.sp.polygamma(1, x), (POS,)),
    Fn("xlogy", lambda L, x, y: L.sp.xlogy(x, y) + L.sp.xlog1py(x, y), (X, POS)),
    Fn("xlogy_zero", lambda L, x, y: L.sp.xlogy(x, y), (ZEROS_IN, POS), False),
    Fn("ndtr", lambda L, x: L.sp.ndtr(x) + L.sp.log_ndtr(x) + L.sp.ndtri(L.sp.expit(x)), (X,)),
    Fn("logit_entr", lambda L, x: L.sp.logit(x / 2.5) + L.sp.entr(x), (POS,)),
    Fn("i0_i1", lambda L, x: L.sp.i0(x) + L.sp.i1(x), (X,)),
    Fn("gammainc", lambda L, x: L.sp.gammainc(2.5, x) + L.sp.gammaincc(1.5, x), (POS,)),
    Fn("logsumexp", lambda L, x: L.sp.logsumexp(x, axis=1), (X,)),
    Fn("logsumexp_b", lambda L, x, b: L.sp.logsumexp(x, b=b), (X, POS)),
    Fn("softmax", lambda L, x: L.nn.softmax(x, axis=0) + L.nn.log_softmax(x), (X,)),
    Fn("activations", lambda L, x: L.nn.gelu(x) + L.nn.softplus(x) + L.nn.silu(x) + L.nn.sigmoid(x)
       + L.nn.elu(x), (X,)),
    Fn("relu_at_zero", lambda L, x: L.nn.relu(x) + L.nn.leaky_relu(x + 0.25), (ZEROS_IN,), False),
    # reductions
    Fn("sum_mean", lambda L, x: L.np.sum(x, axis=0) + L.np.mean(x ** 2, axis=0), (X,)),
    Fn("var_std", lambda L, x: L.np.var(x, axis=1) + L.np.std(x, axis=1, ddof=1), (X,)),
    Fn("prod", lambda L, x: L.np.prod(x, axis=1), (X,)),
    Fn("prod_zeros", lambda L, x: L.np.prod(x, axis=1), (ZEROS_IN,)),
    Fn("max_ties", lambda L, x: L.np.max(x, axis=1) + L.np.min(x, axis=0).sum(), (TIES,), False),
    Fn("max_all_ties", lambda L, x: L.np.max(x) * L.np.amin(x, keepdims=True), (TIES,), False),
    Fn("argmax_take", lambda L, x: L.np.take_along_axis(x, L.np.argmax(x, axis=1)[:, None], axis=1), (X,), False),
    Fn("cumsum", lambda L, x: L.np.cumsum(x, axis=1) + L.lax.cumsum(x, axis=0, reverse=True), (X,)),
    Fn("cumprod", lambda L, x: L.np.cumprod(x, axis=1), (X,)),
    Fn("cumprod_zeros", lambda L, x: L.np.cumprod(x, axis=1), (ZEROS_IN,)),
    Fn("cummax", lambda L, x: L.lax.cummax(x, axis=1) + L.lax.cummin(x, axis=0, reverse=True), (X,), False),
    Fn("sort", lambda L, x: L.np.sort(x, axis=0) * _weights((3, 4)), (X,)),
    Fn("sort_ties", lambda L, x: L.np.sort(x, axis=1) * _weights((3, 4)), (TIES,), False),
    Fn("argsort_take", lambda L, x: L.np.take_along_axis(x, L.np.argsort(x, axis=1), axis=1) ** 2, (X,)),
    Fn("median_quantile", lambda L, x: L.np.median(x, axis=1) + L.np.quantile(x, 0.3, axis=0).sum(), (X,)),
    Fn("norms", lambda L, x: L.np.linalg.norm(x) + L.np.linalg.norm(x, ord=1, axis=1)
       + L.np.linalg.norm(x, ord=np.inf, axis=0)[:3], (X,), False),
    Fn("vector_norm_2", lambda L, v: L.np.linalg.norm(v), (V,)),
    # indexing, gather, scatter
    Fn("index_neg_repeated", lambda L, x: x[IDX] * 2 + x[:, IDX].sum(), (X,)),
    Fn("index_slices", lambda L, x: x[1:, ::-1] + x[None, -1, ..., 1:].sum(), (X,)),
    Fn("index_pairs", lambda L, x: x[np.array([0, 2, 2]), np.array([-1, 1, 1])], (X,)),
    Fn("take", lambda L, x: L.np.take(x, IDX, axis=1), (X,)),
    Fn("at_set", lambda L, x, y: L.np.asarray(x).at[np.array([0, -1]), 1:3].set(y[:2, :2] ** 2), (X, Y)),
    Fn("at_add_repeated", lambda L, x, y: L.np.asarray(x).at[IDX].add(y[0] * y[1:2]), (X, Y)),
    Fn("at_mul_unique", lambda L, x, y: L.np.asarray(x).at[np.array([0, -1])].mul(y[0], unique_indices=True), (X, Y)),
    Fn("at_min_max", lambda L, x, y: L.np.asarray(x).at[IDX].min(y[0]) + L.np.asarray(x).at[IDX].max(y[1]), (X, Y), False),
    Fn("at_max_ties", lambda L, x, y: L.np.asarray(x).at[np.array([0, 0])].max(y[:2]), (TIES, TIES), False),
    Fn("at_get_modes", lambda L, x: L.np.asarray(x).at[np.array([0, 5, -9])].get(mode="clip")
       + L.np.asarray(x).at[np.array([1, 7, 2])].get(mode="fill", fill_value=0.0), (X,)),
    Fn("dynamic_slice", lambda L, x: L.lax.dynamic_slice(x, (1, 2), (2, 2)), (X,)),
    Fn("dynamic_slice_clamped", lambda L, x: L.lax.dynamic_slice(x, (2, 3), (2, 2)), (X,)),
    Fn("dynamic_update_slice", lambda L, x, y: L.lax.dynamic_update_slice(x, y[:2, :2] * y[0, 0], (2, 3)), (X, Y)),
    # shapes
    Fn("concat_stack", lambda L, x, y: L.np.concatenate([x, y ** 2], axis=1).sum(0)
       + L.np.stack([x, y], axis=-1).sum(), (X, Y)),
    Fn("pad_modes", lambda L, x: L.np.pad(x, ((1, 2), (0, 1))).sum() + L.np.pad(x, 1, mode="reflect")
       + L.np.pad(x, ((1, 1), (2, 1)), mode="edge")[:, :6] + L.np.pad(x, 1, mode="wrap"), (X,)),
    Fn("lax_pad_negative", lambda L, x: L.lax.pad(x, 0.5, ((1, -1, 1), (-1, 2, 0))), (X,)),
    Fn("roll_flip", lambda L, x: L.np.roll(x, 2, axis=1) * L.np.flip(x, 0) + L.np.roll(x, -1), (X,)),
    Fn("reshape_transpose", lambda L, x: L.np.moveaxis(x.reshape(2, 3, 2), 0, -1).T * 2, (X,)),
    Fn("tile_repeat", lambda L, x: L.np.tile(x, (2, 1)).sum(0) + L.np.repeat(x, 2, axis=1)[0, ::2], (X,)),
    Fn("diag_tri", lambda L, a: L.np.triu(a) - L.np.tril(a, -1) + L.np.diag(L.np.diag(a))
       + L.np.trace(a), (SQ,)),
    Fn("select", lambda L, x, y: L.lax.select(x > y, x, y * 2), (X, Y)),
    Fn("split", lambda L, x: L.np.split(x, [1, 3], axis=1)[1] * L.np.array_split(x, 3)[0].sum(), (X,)),
    Fn("broadcast", lambda L, v: L.np.broadcast_to(v[:3, None], (3, 4)) * L.np.expand_dims(v[2:], 0)[:, :4], (V,)),
    # lax functions built from primitives
    Fn("clamp", lambda L, x: L.lax.clamp(-0.5, x, 0.5), (X,), False),
    Fn("integer_pow", lambda L, x: L.lax.integer_pow(x, 3) + L.lax.integer_pow(x + 2, -2) + L.lax.integer_pow(x, 0), (X,)),
    Fn("select_n", lambda L, x, y: L.lax.select_n(np.arange(12).reshape(3, 4) % 3, x, y, x * y), (X, Y)),
    Fn("dynamic_in_dim", lambda L, x, y: L.lax.dynamic_slice_in_dim(x, 1, 2, axis=1)
       * L.lax.dynamic_index_in_dim(y, 2, 0, keepdims=False)[:2]
       + L.lax.dynamic_update_slice_in_dim(x, y[:, :2] ** 2, 3, axis=-1)[:, 2:], (X, Y)),
    Fn("top_k", lambda L, x: tuple(L.lax.top_k(x, 3))[0] * _weights((3, 3)), (X,)),
    Fn("lax_sort_tuple", lambda L, x, y: L.lax.sort((x, y), dimension=1, num_keys=1)[1], (X, Y)),
    Fn("batch_matmul", lambda L, a, b: L.lax.batch_matmul(a, b), (_x((2, 3, 4)), _x((2, 4, 3), seed="bm"))),
    # products
    Fn("matmul", lambda L, x, y: x @ y.T + L.np.dot(x[0], y[1]), (X, Y)),
    Fn("einsum", lambda L, x, y: L.np.einsum("ij,kj->ik", x, y) + L.np.einsum("ij,ij->i", x, y), (X, Y)),
    Fn("outer_kron", lambda L, v: L.np.outer(v, v[:3]) + L.np.kron(v[:2], v[:3])[:3], (V,)),
    Fn("tensordot", lambda L, x, y: L.np.tensordot(x, y, axes=([1], [1])), (X, Y)),
    Fn("dot_general_batch", lambda L, a, b: L.lax.dot_general(a, b, (((2,), (1,)), ((0,), (0,)))),
       (_x((2, 3, 4)), _x((2, 4, 3), seed="b"))),
    # linalg
    Fn("solve", lambda L, a, b: L.np.linalg.solve(a, b), (SQ, _x((3, 2), seed="rhs"))),
    Fn("inv", lambda L, a: L.np.linalg.inv(a), (SQ,)),
    Fn("det", lambda L, a: L.np.linalg.det(a), (SQ,)),
    Fn("slogdet", lambda L, a: L.np.linalg.slogdet(a)[1] * L.np.linalg.slogdet(a)[0], (SQ,)),
    Fn("cholesky", lambda L, a: L.np.linalg.cholesky(_sym(L, a)), (SPD,)),
    Fn("qr", lambda L, a: (lambda q, r: q * L.np.sign(L.np.diag(r)) @ L.np.abs(r))(*L.np.linalg.qr(a)), (TALL,)),
    Fn("qr_r", lambda L, a: L.np.abs(L.np.linalg.qr(a)[1]), (TALL,)),
    Fn("eigh", lambda L, a: (lambda w, v: (w, (v * w) @ v.T))(*L.np.linalg.eigh(_sym(L, a))), (SPD,)),
    Fn("eigvalsh", lambda L, a: L.np.linalg.eigvalsh(_sym(L, a)), (SPD,)),
    Fn("svd_values", lambda L, a: L.np.linalg.svd(a, compute_uv=False), (TALL,)),
    Fn("svd_reconstruct", lambda L, a: (lambda u, s, vt: (u * s ** 2) @ u.T)(
        *L.np.linalg.svd(a, full_matrices=False)), (TALL,)),
    Fn("pinv", lambda L, a: L.np.linalg.pinv(a), (TALL,)),
    Fn("matrix_power", lambda L, a: L.np.linalg.matrix_power(a, 3) + L.np.linalg.matrix_power(a, -2), (SQ,)),
    Fn("matrix_norms", lambda L, a: L.np.linalg.norm(a, "fro") + L.np.linalg.norm(a, "nuc")
       + L.np.linalg.norm(a, 2), (TALL,)),
    Fn("lstsq", lambda L, a, b: L.np.linalg.lstsq(a, b)[0], (TALL, _x((5,), seed="lb"))),
    Fn("triangular_solve", lambda L, a, b: L.np.linalg.solve(L.np.tril(a), b), (SQ, _x((3,), seed="tb"))),
    # fft
    Fn("fft", lambda L, x: _parts(L, L.np.fft.fft(x)), (X,)),
    Fn("ifft_axis0", lambda L, x: _parts(L, L.np.fft.ifft(x, axis=0, n=5)), (X,)),
    Fn("rfft", lambda L, x: _parts(L, L.np.fft.rfft(x)), (X,)),
    Fn("irfft", lambda L, x: L.np.fft.irfft(L.np.fft.rfft(x) * (1 + 0.5j)), (X,)),
    Fn("fft2_shift", lambda L, x: _parts(L, L.np.fft.fftshift(L.np.fft.fft2(x))), (X,)),
    Fn("rfftn_norm", lambda L, x: _parts(L, L.np.fft.rfftn(x, norm="ortho")), (X,)),
    Fn("ifft_of_complex_input", lambda L, x, y: _parts(L, L.np.fft.ifft(x + 1j * y)), (X, Y)),
    # convolution, windows
    Fn("conv", lambda L, x, k: L.lax.conv_general_dilated(x, k, (1, 2), ((1, 1), (0, 2))), (IMG, KER)),
    Fn("conv_dilated", lambda L, x, k: L.lax.conv_general_dilated(
        x, k, (1, 1), ((1, 1), (2, 0)), lhs_dilation=(2, 1), rhs_dilation=(1, 2)), (IMG, KER)),
    Fn("conv_groups", lambda L, x, k: L.lax.conv_general_dilated(
        x, k, (2, 1), "VALID", feature_group_count=3), (IMG, GKER)),
    Fn("conv_nhwc", lambda L, x, k: L.lax.conv_general_dilated(
        x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")),
       (_x((1, 5, 5, 2), seed="nhwc"), _x((3, 3, 2, 3), seed="hwio"))),
    Fn("reduce_window_sum", lambda L, x: L.lax.reduce_window(x, 0.0, L.lax.add, (1, 1, 2, 2), (1, 1, 2, 1), "SAME"), (IMG,)),
    Fn("reduce_window_max", lambda L, x: L.lax.reduce_window(x, -np.inf, L.lax.max, (1, 1, 3, 3), (1, 1, 2, 2), "VALID"), (IMG,)),
    Fn("reduce_window_max_ties", lambda L, x: L.lax.reduce_window(x, -np.inf, L.lax.max, (2, 2), (1, 1), "VALID"), (TIES,), False),
]
FN_BY_NAME = {fn.name: fn for fn in FUNCTIONS}


# ------------------------------------------------------------------ the transforms
# Each transform takes the library, the function and its arguments (arrays, traced when
# JAX runs the whole table row under one jit) and returns a pytree.
def _all(args):
    return tuple(range(len(args)))


def _scalar(L, f):
    return lambda *a: _weighted_sum(L, f(*a))


def _tangents(args, phase=0.3):
    return tuple(_weights(np.shape(a), phase=phase + i) for i, a in enumerate(args))


def _batch(L, a, n=3):
    return L.np.stack([a * (1 + 0.05 * k) + 0.01 * k for k in range(n)])


def t_value(L, f, args):
    return f(*args)


def t_jit(L, f, args):
    return L.api.jit(f)(*args)


def t_jvp(L, f, args):
    return L.api.jvp(f, tuple(args), _tangents(args))


def t_vjp(L, f, args):
    out, pull = L.api.vjp(f, *args)
    return out, pull(L.tree.tree_map(lambda o: _weights(o.shape, o.dtype, phase=2.0), out))


def t_jacfwd(L, f, args):
    return L.api.jacfwd(f, argnums=_all(args))(*args)


def t_jacrev(L, f, args):
    return L.api.jacrev(f, argnums=_all(args))(*args)


def t_jit_grad(L, f, args):
    return L.api.jit(L.api.value_and_grad(_scalar(L, f), argnums=_all(args)))(*args)


def t_hessian(L, f, args):
    return L.api.hessian(_scalar(L, f))(*args)


def t_jvp_of_vjp(L, f, args):
    """Forward over reverse: the Hessian-vector product of the scalarized function."""
    g = L.api.grad(_scalar(L, f), argnums=_all(args))
    return L.api.jvp(g, tuple(args), _tangents(args, phase=1.7))


def t_vmap(L, f, args):
    in_axes = (0,) + (None,) * (len(args) - 1)
    return L.api.vmap(f, in_axes=in_axes)(_batch(L, args[0]), *args[1:])


def t_vmap_axis1_out_last(L, f, args):
    """The batch axis in the middle of the last argument, moved to the end of the outputs."""
    *rest, last = args
    in_axes = (None,) * len(rest) + (1,)
    return L.api.vmap(f, in_axes=in_axes, out_axes=-1)(
        *rest, L.np.moveaxis(_batch(L, last, 2), 0, 1 if last.ndim else 0)
    )


def t_jit_vmap_grad(L, f, args):
    in_axes = (0,) + (None,) * (len(args) - 1)
    g = L.api.grad(_scalar(L, f), argnums=_all(args))
    return L.api.jit(L.api.vmap(g, in_axes=in_axes))(_batch(L, args[0]), *args[1:])


def t_grad_of_vmap(L, f, args):
    def batched(*a):
        return _weighted_sum(L, L.api.vmap(f)(*a))

    return L.api.grad(batched, argnums=_all(args))(*(_batch(L, a, 2) for a in args))


def t_jacfwd_jit_jacrev(L, f, args):
    return L.api.jacfwd(L.api.jit(L.api.jacrev(_scalar(L, f))))(*args)


TRANSFORMS = {
    "value": (t_value, False),
    "jit": (t_jit, False),
    "jvp": (t_jvp, False),
    "vjp": (t_vjp, False),
    "jacfwd": (t_jacfwd, False),
    "jacrev": (t_jacrev, False),
    "jit_grad": (t_jit_grad, False),
    "vmap": (t_vmap, False),
    "vmap_axis1_out_last": (t_vmap_axis1_out_last, False),
    "jit_vmap_grad": (t_jit_vmap_grad, False),
    "grad_of_vmap": (t_grad_of_vmap, False),
    # second order: only where the function is twice differentiable at its inputs
    "hessian": (t_hessian, True),
    "jvp_of_vjp": (t_jvp_of_vjp, True),
    "jacfwd_jit_jacrev": (t_jacfwd_jit_jacrev, True),
}


# Every function under every transform takes JAX minutes to compile. By default each
# function runs under `value` and a rotating share of the other transforms, so that every
# transform meets a spread of functions; FUNCTRANS_JAX_PARITY=full runs the whole table.
FULL = os.environ.get("FUNCTRANS_JAX_PARITY") == "full"
SHARE = 2


def _transforms_for(fn):
    names = [t for t, (_, second_order) in TRANSFORMS.items() if fn.hessian or not second_order]
    if FULL:
        return names
    i, rest = FUNCTIONS.index(fn), names[1:]
    return names[:1] + sorted({rest[(i * SHARE + j) % len(rest)] for j in range(SHARE)})


def _oracle(fn, names):
    """JAX's results for one row of the table, all staged in one jit (JAX compiles each op
    it runs eagerly, which is many times slower)."""

    def run(args):
        return {t: TRANSFORMS[t][0](JX, functools.partial(fn.f, JX), args) for t in names}

    return jax.jit(run)(fn.args)


@pytest.mark.parametrize("fname", [fn.name for fn in FUNCTIONS])
def test_function_under_every_transform(fname):
    fn = FN_BY_NAME[fname]
    names = _transforms_for(fn)
    theirs = _oracle(fn, names)
    failures = []
    for t in names:
        try:
            ours = TRANSFORMS[t][0](FT, functools.partial(fn.f, FT), fn.args)
            assert_same(ours, theirs[t], fn.rtol, 1e-9)
        except Exception as e:  # noqa: BLE001 - all transforms are reported together
            failures.append(f"{t}: {type(e).__name__}: {e}")
    assert not failures, f"{fname} differs from JAX under " + "\n\n".join(failures)


# ------------------------------------------------------------------ deliberate differences
# Where functrans differs from JAX on purpose. Each entry runs its program with both
# libraries and asserts both results, so a change on either side shows up here. `theirs` is
# a value, a dtype, or the exception class JAX raises; `ours` a value or a dtype.
Deliberate = collections.namedtuple("Deliberate", "name why program ours theirs")
_CUM = np.array([1.0, 3.0, 3.0, 2.0, 3.0])
DELIBERATE = [
    Deliberate(
        "abs_at_zero",
        "d|x|/dx at 0 is sign(0) = 0 (PyTorch's choice; a subgradient); JAX takes 1",
        lambda L: L.api.grad(L.np.abs)(0.0),
        0.0,
        1.0,
    ),
    Deliberate(
        "leaky_relu_at_zero",
        "ft.nn follows PyTorch's functional API: the slope at 0 "
        "is negative_slope; jax.nn.leaky_relu takes 1",
        lambda L: L.api.grad(L.nn.leaky_relu)(0.0),
        0.01,
        1.0,
    ),
    Deliberate(
        "scatter_mul_repeated_indices",
        "functrans differentiates .at[].mul with "
        "repeated indices (checked against finite differences in "
        "test_scatter_mul_with_repeated_indices_has_exact_derivatives); JAX refuses",
        lambda L: L.api.grad(lambda x: x.at[np.array([0, 0])].mul(x[1:3]).sum())(_CUM),
        [9.0, 4.0, 4.0, 1.0, 1.0],
        NotImplementedError,
    ),
    Deliberate(
        "conv_string_padding_with_lhs_dilation",
        "functrans resolves 'SAME' padding "
        "for a dilated input as for any other; JAX asks for explicit pads",
        lambda L: L.lax.conv_general_dilated(
            np.ones((1, 1, 3)), np.ones((1, 1, 2)), (1,), "SAME", lhs_dilation=(2,)
        ),
        [[[1.0, 1.0, 1.0, 1.0, 1.0]]],
        ValueError,
    ),
    Deliberate(
        "custom_vjp_forward_mode",
        "functrans runs a custom_vjp function in forward "
        "mode by transposing the user's backward map (linear in the cotangent); JAX "
        "refuses jvp of a custom_vjp function",
        lambda L: L.api.jvp(_linear_bwd(L), (_CUM, 1.5), (np.ones(5), 2.0))[1],
        2 * 1.5 + 2.0 * _CUM,
        TypeError,
    ),
    Deliberate(
        "jacrev_allow_int_block",
        "jacrev's block for an integer input is float0, as "
        "grad's is; JAX turns it into zeros of the input's integer type (and fails for "
        "bool inputs)",
        lambda L: L.api.jacrev(lambda x, k: x * k, argnums=(0, 1), allow_int=True)(
            _CUM[:3], np.arange(3)
        )[1],
        ft.float0,
        np.dtype(np.int64),
    ),
    Deliberate(
        "while_loop_reverse_mode",
        "reverse mode records the loop as it runs, so grad "
        "of a while_loop works; JAX refuses it (forward mode only)",
        lambda L: L.api.grad(lambda x: L.lax.while_loop(lambda c: c < 3.0, lambda c: c * 2.0, x))(
            1.0
        ),
        4.0,
        ValueError,
    ),
    Deliberate(
        "float_of_a_value_under_autodiff",
        "autodiff runs on concrete values, so "
        "float(x) works under grad, vjp, jacrev and jvp; JAX refuses float() of a traced "
        "value (a Python `if` on one works in both)",
        lambda L: L.api.jacrev(lambda x: x * 2 if float(x[0]) > 0 else x)(_CUM[:2]),
        2 * np.eye(2),
        TypeError,
    ),
]


def _linear_bwd(L):
    @L.api.custom_vjp
    def f(x, k):
        return x * k

    f.defvjp(lambda x, k: (f(x, k), (x, k)), lambda res, g: (2 * g * res[1], (g * res[0]).sum()))
    return f


@pytest.mark.parametrize("case", DELIBERATE, ids=lambda c: c.name)
def test_deliberate_difference(case):
    if isinstance(case.theirs, type):
        with pytest.raises(case.theirs):
            case.program(JX)
    else:
        _assert_equal(jax.jit(lambda: case.program(JX))(), case.theirs)
    _assert_equal(case.program(FT), case.ours)


def _assert_equal(got, want):
    if isinstance(want, np.dtype):
        assert np.asarray(got).dtype == want and np.asarray(got).shape == (3, 3)
    else:
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12)


# ------------------------------------------------------------------ whole programs
PROGRAMS = {}
ERRORS = {}  # program name -> regex functrans' message must match (JAX raises too)
RTOL = {}  # program name -> rtol, where it computes in float32


def program(error=None, rtol=None):
    def register(fun):
        name = fun.__name__.removeprefix("p_")
        PROGRAMS[name] = fun
        for table, value in ((ERRORS, error), (RTOL, rtol)):
            if value is not None:
                table[name] = value
        return fun

    return register


Point = collections.namedtuple("Point", "x y")
A3, B3, C3 = _x((3,), seed="a"), _x((3,), seed="b"), _x((3,), seed="c")
M34 = _x((3, 4), seed="m")


def _poly(a, b, c):
    return (a**2 * b).sum() + (b * c**3).sum()


# --- argnums, has_aux, value_and_grad
@program()
def p_argnums_tuple(L):
    return L.api.grad(_poly, argnums=(0, 2))(A3, B3, C3)


@program()
def p_argnums_negative(L):
    return L.api.grad(_poly, argnums=-1)(A3, B3, C3), L.api.jacrev(_poly, argnums=(-3, -1))(
        A3, B3, C3
    )


@program()
def p_value_and_grad_has_aux(L):
    def f(a, b):
        return (a * b).sum(), {"double": 2 * a, "n": 3}

    return L.api.value_and_grad(f, argnums=(0, 1), has_aux=True)(A3, B3)


@program()
def p_jacobians_has_aux(L):
    f = lambda a: (L.np.sin(a) * a[0], {"aux": a**2})  # noqa: E731
    return L.api.jacfwd(f, has_aux=True)(A3), L.api.jacrev(f, has_aux=True)(A3)


@program()
def p_hessian_argnums(L):
    return L.api.hessian(_poly, argnums=(1, 2))(A3, B3, C3)


@program()
def p_vjp_has_aux(L):
    out, pull, aux = L.api.vjp(lambda a: (L.np.sin(a), a.sum()), A3, has_aux=True)
    return out, pull(B3), aux


@program()
def p_jvp_has_aux(L):
    return L.api.jvp(lambda a: (L.np.cos(a) * a, {"s": a.sum()}), (A3,), (B3,), has_aux=True)


@program()
def p_linearize(L):
    out, f_jvp = L.api.linearize(lambda a, b: L.np.sin(a) * b, A3, B3)
    return out, f_jvp(C3, A3), f_jvp(B3, B3)


# --- pytrees
@program()
def p_dict_key_order(L):
    f = lambda d: (d["b"] * L.np.sin(d["a"])).sum() + d["c"][0] ** 2  # noqa: E731
    return L.api.grad(f)({"b": B3, "a": A3, "c": [A3[0], B3]})


@program()
def p_namedtuple_and_none_leaves(L):
    f = lambda p, extra: (p.x * p.y).sum() + (0.0 if extra[0] is None else 1.0)  # noqa: E731
    return L.api.grad(f)(Point(A3, B3), (None, C3))


@program()
def p_jvp_pytree(L):
    f = lambda p: {"s": p.x * p.y, "t": (p.x.sum(), None)}  # noqa: E731
    return L.api.jvp(f, (Point(A3, B3),), (Point(C3, A3),))


@program()
def p_vjp_pytree(L):
    out, pull = L.api.vjp(
        lambda d: [d["u"] * 2, (d["v"] ** 2, d["u"] @ d["v"])], {"v": B3, "u": A3}
    )
    return pull([C3, (A3, 1.5)])


@program()
def p_jacrev_pytree_in_out(L):
    return L.api.jacrev(lambda d: {"p": d["x"] * d["y"][0], "q": d["x"].sum()})(
        {"x": A3, "y": (B3, C3)}
    )


@program()
def p_tree_map_is_leaf(L):
    g = L.api.grad(lambda t: (t[0] * t[1][0]).sum() + t[1][1].sum())((A3, (B3, C3)))
    return L.tree.tree_map(
        lambda x: x if isinstance(x, tuple) else 2 * x,
        g,
        is_leaf=lambda x: isinstance(x, tuple) and len(x) == 2 and x is not g,
    )


# --- vmap axes
@program()
def p_vmap_in_axes_none_negative(L):
    return L.api.vmap(lambda a, b, c: a * b.sum() + c[:3], in_axes=(None, -1, 0))(
        A3, M34.T, _x((3, 5))
    )


@program()
def p_vmap_in_axes_pytree(L):
    f = lambda d, s: d["w"] * d["b"] + s  # noqa: E731
    return L.api.vmap(f, in_axes=({"w": 1, "b": None}, None))(
        {"b": A3[:3], "w": M34[:, :3].T.T}, 2.0
    )


@program()
def p_vmap_out_axes(L):
    f = lambda a: (a * 2, a.sum(), {"k": a[:2]})  # noqa: E731
    return L.api.vmap(f, in_axes=1, out_axes=(1, 0, {"k": -1}))(M34)


@program()
def p_vmap_out_axes_none(L):
    return L.api.vmap(lambda a, b: (a * b, b.sum()), in_axes=(0, None), out_axes=(0, None))(
        M34, A3[:1]
    )


@program()
def p_vmap_axis_size_unmapped(L):
    return L.api.vmap(lambda a: a * 2, in_axes=None, axis_size=3)(A3)


@program()
def p_vmap_kwargs_mapped(L):
    return L.api.vmap(lambda a, scale=1.0: a * scale)(M34, scale=A3)


@program()
def p_vmap_nested_axis_names(L):
    f = lambda x: x / L.lax.psum(x, "i") + L.lax.pmax(x, "j")  # noqa: E731
    return L.api.vmap(L.api.vmap(f, axis_name="j"), axis_name="i")(M34)


@program()
def p_vmap_scalar_output_and_int_input(L):
    return L.api.vmap(lambda i, x: x[i] * 2)(np.array([0, 2, 1]), M34)


@program()
def p_vmap_of_grad_argnums(L):
    return L.api.vmap(L.api.grad(_poly, argnums=(0, 1)), in_axes=(0, None, 1))(
        M34.T[:, :3], B3, M34[:, :4]
    )


@program()
def p_grad_of_vmap_pytree(L):
    f = lambda p: L.np.tanh(p.x) * p.y  # noqa: E731
    return L.api.grad(lambda p: (L.api.vmap(f)(p) ** 2).sum())(Point(M34, M34 + 1))


# --- jit
@program()
def p_jit_static_args(L):
    def f(x, n, *, mode):
        return x**n if mode == "pow" else x * n

    g = L.api.jit(f, static_argnums=1, static_argnames="mode")
    return g(A3, 3, mode="pow"), g(A3, 2, mode="mul"), L.api.grad(g)(1.5, 3, mode="pow")


@program()
def p_jit_pytree_out_with_none(L):
    return L.api.jit(lambda d: {"a": d["x"] * 2, "none": None, "t": (d["x"].sum(),)})({"x": A3})


@program()
def p_jit_of_everything(L):
    f = lambda a, b: L.np.sin(a) @ L.np.cos(b)  # noqa: E731
    j = L.api.jit
    return (
        j(L.api.grad(f))(A3, B3),
        j(L.api.jacfwd(f, argnums=1))(A3, B3),
        j(L.api.hessian(f))(A3, B3),
        j(lambda a, b: L.api.jvp(f, (a, b), (b, a)))(A3, B3),
        j(L.api.vmap(L.api.grad(f), in_axes=(0, None)))(M34.T[:, :3], B3),
        L.api.grad(j(f))(A3, B3),
        L.api.vmap(j(f), (None, 0))(A3, M34.T[:, :3]),
    )


# --- higher order
@program()
def p_grad_of_grad_of_grad(L):
    f = lambda x: L.np.sin(x) * x**3  # noqa: E731
    return L.api.grad(L.api.grad(L.api.grad(f)))(0.7)


@program()
def p_jvp_of_vjp(L):
    def pulled(a):
        return L.api.vjp(lambda u: L.np.sin(u) * u.sum(), a)[1](C3)[0]

    return L.api.jvp(pulled, (A3,), (B3,))


@program()
def p_jacfwd_of_jacrev_of_jit(L):
    return L.api.jacfwd(L.api.jacrev(L.api.jit(lambda a: L.np.exp(a) * a.prod())))(A3)


@program()
def p_vmap_of_jvp_of_grad(L):
    g = L.api.grad(lambda a: (L.np.sin(a) ** 2).sum())
    return L.api.vmap(lambda t: L.api.jvp(g, (A3,), (t,))[1])(M34.T[:, :3])


# --- stop_gradient, custom rules, checkpoint
@program()
def p_stop_gradient(L):
    f = lambda a, b: (
        (a * L.lax.stop_gradient(a * b)).sum() + L.lax.stop_gradient({"k": a})["k"].sum()
    )  # noqa: E731
    return L.api.grad(f, argnums=(0, 1))(A3, B3), L.api.hessian(f)(A3, B3)


def _softclip(L):
    @L.api.custom_jvp
    def f(x, lim):
        return lim * L.np.tanh(x / lim)

    @f.defjvp
    def f_jvp(primals, tangents):
        x, lim = primals
        dx, dlim = tangents
        y = f(x, lim)
        return y, dx * (1 - (y / lim) ** 2) + dlim * 0.5

    return f


@program()
def p_custom_jvp_all_transforms(L):
    f = _softclip(L)
    s = lambda x, lim: f(x, lim).sum()  # noqa: E731
    return (
        L.api.grad(s, argnums=(0, 1))(A3, 2.0),
        L.api.jvp(f, (A3, 2.0), (B3, 1.0)),
        L.api.vmap(f, in_axes=(0, None))(M34, 2.0),
        L.api.jit(L.api.grad(s))(A3, 2.0),
        L.api.hessian(s)(A3, 2.0),
        L.api.jacrev(f)(A3, 2.0),
    )


@program()
def p_custom_jvp_nondiff_argnums(L):
    @functools.partial(L.api.custom_jvp, nondiff_argnums=(0,))
    def f(fn, x):
        return fn(x) * 2

    @f.defjvp
    def f_jvp(fn, primals, tangents):
        (x,), (dx,) = primals, tangents
        return f(fn, x), dx * 10.0

    return L.api.grad(lambda x: f(L.np.sin, x).sum())(A3), L.api.vmap(
        L.api.grad(lambda x: f(L.np.cos, x))
    )(A3)


@program()
def p_custom_jvp_defjvps(L):
    @L.api.custom_jvp
    def f(x, y):
        return x * y

    f.defjvps(lambda dx, ans, x, y: dx * y * 3, None)
    return L.api.grad(lambda x, y: f(x, y).sum(), argnums=(0, 1))(A3, B3)


def _clip_grad(L):
    @L.api.custom_vjp
    def f(x, scale):
        return x * scale

    def fwd(x, scale):
        return f(x, scale), (x, scale)

    def bwd(res, g):
        x, scale = res
        return L.np.clip(g * scale, -0.1, 0.1), (g * x).sum()

    f.defvjp(fwd, bwd)
    return f


@program()
def p_custom_vjp_transforms(L):
    f = _clip_grad(L)
    s = lambda x, k: (f(x, k) ** 2).sum()  # noqa: E731
    return (
        L.api.grad(s, argnums=(0, 1))(A3, 1.5),
        L.api.jit(L.api.grad(s))(A3, 1.5),
        L.api.vmap(L.api.grad(s), in_axes=(0, None))(M34, 1.5),
        L.api.grad(lambda x: L.api.vmap(f, in_axes=(0, None))(x, 1.5).sum())(M34),
        L.api.jacrev(f)(A3, 1.5),
    )


@program()
def p_custom_vjp_nondiff_argnums(L):
    @functools.partial(L.api.custom_vjp, nondiff_argnums=(1,))
    def f(x, power):
        return x**power

    f.defvjp(lambda x, power: (f(x, power), x), lambda power, x, g: (g * power * 100.0,))
    return L.api.grad(lambda x: f(x, 3).sum())(A3)


@program()
def p_custom_vjp_none_cotangent(L):
    @L.api.custom_vjp
    def f(x, y):
        return x * y

    f.defvjp(lambda x, y: (x * y, y), lambda y, g: (g * y, None))
    return L.api.grad(lambda x, y: f(x, y).sum(), argnums=(0, 1))(A3, B3)


@program()
def p_custom_vjp_pytree(L):
    @L.api.custom_vjp
    def f(p):
        return p["a"] * p["b"]

    f.defvjp(lambda p: (f(p), p), lambda p, g: ({"a": g * p["b"], "b": -g},))
    return L.api.grad(lambda p: f(p).sum())({"b": B3, "a": A3})


@program()
def p_checkpoint_policies(L):
    def block(w, x):
        return L.np.tanh(w @ x) * L.np.sin(x).sum()

    pol = L.api.checkpoint_policies
    out = []
    for policy in (None, pol.dots_saveable, pol.nothing_saveable, pol.everything_saveable):
        f = L.api.checkpoint(block, policy=policy)
        out.append(L.api.grad(lambda w, x: f(w, f(w, x)).sum(), argnums=(0, 1))(M34[:, :3], A3))
    return out


@program()
def p_checkpoint_names(L):
    def block(x):
        y = L.checkpoint_name(L.np.sin(x), "s")
        return (y * L.np.cos(y)).sum()

    f = L.api.checkpoint(block, policy=L.api.checkpoint_policies.save_only_these_names("s"))
    return L.api.grad(f)(A3), L.api.jit(L.api.hessian(f))(A3)


@program()
def p_remat_static_argnums(L):
    f = L.api.remat(lambda x, n: L.np.sin(x) ** n, static_argnums=(1,))
    return L.api.grad(lambda x: f(x, 3).sum())(A3)


# --- integer inputs, float0, holomorphic
@program()
def p_allow_int(L):
    f = lambda x, n: (x**2).sum() * n  # noqa: E731
    return L.api.grad(f, argnums=(0, 1), allow_int=True)(A3, 3)


@program()
def p_vjp_of_int_input(L):
    out, pull = L.api.vjp(lambda x, i: x[i] * 2.0, A3, np.array([2, 0]))
    return pull(np.array([1.0, 5.0]))


@program()
def p_jvp_with_float0_tangent(L):
    f = lambda x, i: x[i] * x  # noqa: E731
    return L.api.jvp(f, (A3, np.array(1)), (B3, np.zeros((), dtype=jax.dtypes.float0)))


@program()
def p_bool_inputs_through_transforms(L):
    f = lambda x, m: L.np.where(m, x**2, -x).sum()  # noqa: E731
    mask = np.array([True, False, True])
    return (
        L.api.grad(f)(A3, mask),
        L.api.vmap(L.api.grad(f), (0, None))(M34.T[:, :3], mask),
        L.api.jit(f)(A3, mask),
    )


@program()
def p_holomorphic(L):
    z = A3 + 1j * B3
    f = lambda z: (z**2 * L.np.sin(z)).sum()  # noqa: E731
    return (
        L.api.grad(f, holomorphic=True)(z),
        L.api.jacfwd(lambda z: z**3, holomorphic=True)(z),
        L.api.jacrev(lambda z: L.np.exp(z), holomorphic=True)(z),
    )


@program()
def p_grad_of_real_function_of_complex_input(L):
    z = A3 + 1j * B3
    return L.api.grad(lambda z: (L.np.abs(z) ** 2 + L.np.real(z * z)).sum())(z)


# --- control flow
def _scan_loss(L, c0, xs, reverse=False):
    def body(c, x):
        c = L.np.sin(c) * x["w"] + c * x["b"]
        return c, (c**2, x["w"].sum())

    c, (ys, ws) = L.lax.scan(body, c0, {"w": xs, "b": xs[:, :1] * 0.5}, reverse=reverse)
    return c.sum() + (ys * _weights(ys.shape)).sum() + ws.sum()


@program()
def p_scan_grad_and_hessian(L):
    g = L.api.grad(_scan_loss, argnums=(1, 2))
    return (
        g(L, A3, M34.T[:, :3]),
        g(L, A3, M34.T[:, :3], True),
        L.api.hessian(_scan_loss, argnums=1)(L, A3[:2], M34[:2, :2]),
    )


@program()
def p_scan_jvp_vmap_jit(L):
    f = functools.partial(_scan_loss, L)
    return (
        L.api.jvp(f, (A3, M34.T[:, :3]), (B3, M34.T[:, :3] * 0.1)),
        L.api.vmap(f, in_axes=(0, None))(M34.T[:, :3], M34.T[:, :3]),
        L.api.jit(L.api.vmap(L.api.grad(f), in_axes=(None, 0)))(A3, _x((2, 4, 3))),
    )


@program()
def p_scan_length_no_xs_and_unbatched_carry(L):
    def f(a):
        c, ys = L.lax.scan(lambda c, _: (c * a + 1.0, c.sum()), L.np.zeros(3), None, length=4)
        return ys

    return L.api.jacrev(f)(A3), L.api.vmap(f)(M34.T[:, :3])


@program()
def p_fori_loop_grad(L):
    def f(x, w):
        return L.lax.fori_loop(0, 4, lambda i, c: L.np.tanh(c @ w) + i * c, x).sum()

    return L.api.grad(f, argnums=(0, 1))(A3, M34[:, :3]), L.api.vmap(L.api.grad(f), (0, None))(
        M34.T[:, :3], M34[:, :3]
    )


@program()
def p_while_loop_forward_mode(L):
    def f(x):
        return L.lax.while_loop(
            lambda c: c[0] < 5, lambda c: (c[0] + 1, L.np.sin(c[1]) * 1.5), (0, x)
        )[1]

    return L.api.jvp(f, (A3,), (B3,)), L.api.jacfwd(f)(A3), L.api.vmap(f)(M34.T[:, :3])


@program()
def p_while_loop_batched_predicate(L):
    def f(x):
        return L.lax.while_loop(lambda c: c.sum() < 10.0, lambda c: c * 1.7 + 0.1, x)

    return L.api.vmap(f)(np.abs(M34.T[:, :3]) + 0.1), L.api.vmap(
        lambda x: L.api.jvp(f, (x,), (x,))
    )(np.abs(M34.T[:, :3]) + 0.1)


@program()
def p_cond_grad_vmap(L):
    def f(p, x, y):
        return L.lax.cond(p > 0, lambda a, b: L.np.sin(a) * b, lambda a, b: a - b**2, x, y).sum()

    g = L.api.grad(f, argnums=(1, 2))
    return (
        g(1.0, A3, B3),
        g(-1.0, A3, B3),
        L.api.vmap(g, in_axes=(0, 0, None))(np.array([1.0, -1.0, 0.5]), M34.T[:3, :3], B3),
        L.api.jacfwd(f, argnums=1)(0.5, A3, B3),
        L.api.jit(g)(-2.0, A3, B3),
    )


@program()
def p_cond_pytree_operands(L):
    def f(d):
        return L.lax.cond(
            d["flag"], lambda d: {"o": d["x"] * 2}, lambda d: {"o": L.np.exp(d["x"])}, d
        )["o"].sum()

    return L.api.grad(f, allow_int=True)({"flag": True, "x": A3}), L.api.grad(f, allow_int=True)(
        {"flag": False, "x": A3}
    )


@program()
def p_switch_grad_vmap_clamped(L):
    branches = [lambda x: x**2, lambda x: L.np.sin(x), lambda x: -x]
    f = lambda i, x: L.lax.switch(i, branches, x).sum()  # noqa: E731
    g = L.api.grad(f, argnums=1)
    return (
        g(1, A3),
        g(7, A3),
        g(-3, A3),
        L.api.vmap(g, in_axes=(0, None))(np.array([0, 2, 5, -1]), A3),
        L.api.jit(g)(1, A3),
    )


@program()
def p_lax_map_grad(L):
    f = lambda w: L.lax.map(lambda r: L.np.tanh(r * w).sum(), M34).sum()  # noqa: E731
    return L.api.grad(f)(A3[:1]), L.api.vmap(L.api.grad(f))(M34[:, :1])


@program()
def p_associative_scan(L):
    def f(x):
        return L.lax.associative_scan(L.lax.add, x) * L.lax.associative_scan(
            L.np.multiply, x, reverse=True, axis=0
        )

    return (
        f(M34),
        L.api.jacrev(f)(A3),
        L.api.jvp(f, (M34,), (M34 * 0.5,)),
        L.api.vmap(f, in_axes=1)(M34),
    )


@program()
def p_associative_scan_pytree(L):
    def combine(a, b):
        return (a[0] * b[0], a[1] * b[0] + b[1])  # first-order linear recurrence

    def f(a, b):
        return (
            L.lax.associative_scan(combine, (a, b))[1]
            + L.lax.associative_scan(combine, (a, b), reverse=True)[1] * 0.5
        )

    a, b = _x((7,), seed="as_a"), _x((7,), seed="as_b")
    return (
        f(a, b),
        L.api.grad(lambda a, b: (f(a, b) * _weights(7)).sum(), argnums=(0, 1))(a, b),
        L.api.jit(L.api.vmap(f))(M34, M34[::-1]),
    )


# --- batched indices, integer outputs, dtypes
I3 = np.array([[0, 2, 1], [2, 2, 0], [-1, 0, 1]])


@program()
def p_vmap_gather_scatter_batched_indices(L):
    def f(x, i):
        x = L.np.asarray(x)
        return (
            x[i] * 2
            + x.at[i].add(x[:3] ** 2)[:3]
            + x.at[i].set(1.0)[1:4]
            + L.np.take(x, i, mode="clip")
        )

    return (
        L.api.vmap(f)(M34, I3),
        L.api.vmap(f, in_axes=(None, 0))(M34[0], I3),
        L.api.vmap(f, in_axes=(0, None))(M34, I3[0]),
        L.api.jacrev(lambda x: L.api.vmap(f, in_axes=(None, 0))(x, I3))(M34[0]),
    )


@program()
def p_vmap_dynamic_slice_batched_starts(L):
    def f(x, i, u):
        return (
            L.lax.dynamic_slice(x, (i, 1), (2, 2)),
            L.lax.dynamic_update_slice(x, u, (1, i)),
            L.lax.dynamic_slice_in_dim(x, i, 2, axis=0)
            if hasattr(L.lax, "dynamic_slice_in_dim")
            else L.lax.dynamic_slice(x, (i, 0), (2, 4)),
        )

    starts = np.array([0, 2, 5])
    upd = _x((3, 2, 2), seed="upd")
    out = L.api.vmap(f, in_axes=(None, 0, 0))(M34, starts, upd)
    g = L.api.grad(
        lambda x, u: _weighted_sum(L, L.api.vmap(f, in_axes=(None, 0, 0))(x, starts, u)),
        argnums=(0, 1),
    )
    return out, g(M34, upd)


@program()
def p_vmap_take_along_axis_and_sort(L):
    def f(x, i):
        return L.np.take_along_axis(x, i, axis=0) * L.np.sort(x, axis=0)

    idx = np.stack([I3 % 3, I3[::-1] % 3], axis=1)  # (3, 2, 3): batch axis 1
    out = L.api.vmap(f, in_axes=(1, 1), out_axes=-1)(_x((3, 2, 3)), idx)
    return out, L.api.grad(lambda x: _weighted_sum(L, L.api.vmap(f, in_axes=(1, 1))(x, idx)))(
        _x((3, 2, 3))
    )


@program()
def p_integer_outputs_get_float0_tangents(L):
    f = lambda x: (L.np.argmax(x), x * 2, L.np.argsort(x))  # noqa: E731
    return L.api.jvp(f, (A3,), (B3,)), L.api.vjp(f, A3)[1](
        (np.zeros((), jax.dtypes.float0), C3, np.zeros(3, jax.dtypes.float0))
    )


@program(rtol=1e-5)
def p_mixed_precision_cotangent_dtypes(L):
    w32, x64 = A3.astype(np.float32), B3
    f = lambda w, x: (L.np.sin(w) * x).sum()  # noqa: E731
    return (
        L.api.grad(f, argnums=(0, 1))(w32, x64),
        L.api.jvp(f, (w32, x64), (w32, x64)),
        L.api.vjp(lambda w: w * 2, w32)[1](np.ones(3, np.float32)),
        L.api.jacfwd(lambda w: L.np.cos(w) * x64)(w32),
        L.api.hessian(f)(w32, x64),
    )


@program(rtol=1e-5)
def p_float32_throughout(L):
    w = M34.astype(np.float32)
    f = lambda w: L.nn.softmax(w @ w.T).sum(0)  # noqa: E731
    return L.api.jacrev(f)(w), L.api.vmap(L.api.grad(lambda r: f(r[None])[0]))(w)


@program()
def p_complex_jvp_vjp(L):
    z = A3 + 1j * B3
    f = lambda z: L.np.exp(z) * L.np.conj(z)  # noqa: E731
    out, pull = L.api.vjp(f, z)
    return L.api.jvp(f, (z,), (C3 + 0.5j,)), pull(C3 - 2j), L.api.vmap(f)(M34 * (1 + 1j))


@program()
def p_jvp_vjp_python_scalars(L):
    f = lambda x, y: x * y + L.np.sin(x)  # noqa: E731
    return (
        L.api.jvp(f, (1.5, 2.0), (1.0, 0.5)),
        L.api.vjp(f, 1.5, 2.0)[1](1.0),
        L.api.grad(f)(1.5, 2),
    )


# --- API arguments JAX code passes
@program()
def p_scan_unroll_and_fori_unroll(L):
    f = lambda c: L.lax.scan(lambda c, x: (c * x + 1, c), c, M34, unroll=2)  # noqa: E731
    g = lambda c: L.lax.fori_loop(0, 3, lambda i, c: c * 1.5 + i, c, unroll=True)  # noqa: E731
    return (
        f(A3[0] + M34[0]),
        L.api.grad(lambda c: f(c)[0].sum())(M34[0]),
        L.api.grad(lambda c: g(c).sum())(A3),
    )


@program()
def p_lax_map_batch_size(L):
    return L.lax.map(lambda r: L.np.sin(r).sum(), M34, batch_size=2), L.api.grad(
        lambda m: L.lax.map(lambda r: (r**2).sum(), m, batch_size=2).sum()
    )(M34)


@program()
def p_jit_donate_and_inline(L):
    f = L.api.jit(lambda x, y: x * 2 + y, donate_argnums=0, inline=True)
    g = L.api.jit(lambda x, y: x - y, donate_argnames="y", keep_unused=True)
    return f(A3, B3), g(A3, y=B3)


@program()
def p_custom_jvp_symbolic_zeros(L):
    @L.api.custom_jvp
    def f(x, y):
        return x * y

    def f_jvp(primals, tangents):
        x, y = primals
        dx, dy = tangents
        dx = 0.0 if type(dx) is L.api.custom_derivatives.SymbolicZero else dx
        dy = 0.0 if type(dy) is L.api.custom_derivatives.SymbolicZero else dy
        return f(x, y), dx * y + x * dy

    f.defjvp(f_jvp, symbolic_zeros=True)
    return L.api.grad(lambda x, y: f(x, y).sum())(A3, B3), L.api.jvp(
        lambda x: f(x, B3), (A3,), (C3,)
    )


@program()
def p_custom_vjp_symbolic_zeros(L):
    @L.api.custom_vjp
    def f(x, y):
        return x * y

    def fwd(x, y):
        return f(x.value, y.value), (x.value, y.value, x.perturbed, y.perturbed)

    def bwd(res, g):
        x, y, px, py = res
        return (g * y if px else None), (g * x if py else None)

    f.defvjp(fwd, bwd, symbolic_zeros=True)
    return L.api.grad(lambda x, y: f(x, y).sum(), argnums=(0, 1))(A3, B3)


@program()
def p_vmap_spmd_axis_name_and_tuple_in_axes_list(L):
    return L.api.vmap(lambda a, b: a + b, in_axes=[0, None])(M34, A3[:1])


@program()
def p_checkpoint_prevent_cse(L):
    f = L.api.checkpoint(lambda x: L.np.sin(L.np.sin(x)), prevent_cse=False)
    return L.api.grad(lambda x: f(x).sum())(A3), L.api.jit(L.api.grad(lambda x: f(x).sum()))(A3)


@program()
def p_grad_reduce_axes_free_vjp_fn_pytree_ct(L):
    out, pull = L.api.vjp(lambda p: {"y": p["a"] * 2, "z": (p["b"].sum(),)}, {"a": A3, "b": B3})
    return pull({"y": C3, "z": (np.float64(2.0),)})


@program()
def p_eval_shape_and_make_jaxpr_shapes(L):
    s = L.api.eval_shape(lambda x: L.api.grad(lambda y: (y**2).sum())(x) @ x.T, M34)
    return np.zeros(s.shape, s.dtype)


# --- corner cases of the transforms
@program()
def p_constant_and_identity_functions(L):
    return (
        L.api.jvp(lambda x: 1.0 + 0 * x.sum(), (A3,), (B3,)),
        L.api.jvp(lambda x: x, (A3,), (B3,)),
        L.api.grad(lambda x: 3.0 + 0.0 * x[0])(A3),
        L.api.grad(lambda x, y: (y**2).sum())(A3, B3),
        L.api.jacrev(lambda x: B3)(A3),
        L.api.jacfwd(lambda x: B3)(A3),
        L.api.vjp(lambda x: B3 * 2, A3)[1](C3),
    )


@program()
def p_gradient_through_integer_casts(L):
    return L.api.grad(lambda x: (x.astype(np.int64) * x).sum() + L.np.floor(x).sum())(A3 * 3)


@program()
def p_where_nan_trap(L):
    f = lambda x: L.np.where(x > 0, L.np.sqrt(L.np.abs(x)), 0.0).sum()  # noqa: E731
    safe = lambda x: L.np.where(x > 0, L.np.sqrt(L.np.where(x > 0, x, 1.0)), 0.0).sum()  # noqa: E731
    return L.api.grad(f)(A3), L.api.grad(safe)(A3)


@program()
def p_vmap_zero_size_and_size_one(L):
    f = lambda x: L.np.sin(x) @ x  # noqa: E731
    return L.api.vmap(f)(np.ones((0, 3))), L.api.vmap(L.api.grad(f))(np.ones((1, 3)))


@program()
def p_scalar_jacobians(L):
    f = lambda x: L.np.sin(x) * x  # noqa: E731
    return (
        L.api.jacfwd(f)(0.5),
        L.api.jacrev(f)(0.5),
        L.api.hessian(f)(0.5),
        L.api.jacfwd(lambda v: (v**2).sum())(A3),
        L.api.jacrev(lambda s: s * A3)(2.0),
    )


@program()
def p_hessian_of_dict_input(L):
    return L.api.hessian(lambda d: (d["a"] ** 2 * d["b"]).sum() + d["c"] ** 3)(
        {"b": B3, "a": A3, "c": 1.5}
    )


@program()
def p_keyword_arguments_not_differentiated(L):
    def f(x, *, scale, shift=0.0):
        return ((x * scale + shift) ** 2).sum()

    return (
        L.api.grad(f)(A3, scale=2.0, shift=B3),
        L.api.jit(L.api.grad(f))(A3, scale=B3),
        L.api.vmap(f)(M34, scale=M34),
    )


@program()
def p_checkpoint_in_scan_body(L):
    body = L.api.checkpoint(lambda c, x: (L.np.tanh(c * x + 1.0), c.sum()))
    f = lambda c: L.lax.scan(body, c, M34)[0].sum() + L.lax.scan(body, c, M34)[1].sum()  # noqa: E731
    return L.api.grad(f)(M34[0]), L.api.jit(L.api.vmap(L.api.grad(f)))(M34)


@program()
def p_custom_vjp_inside_scan_and_vmap(L):
    f = _clip_grad(L)
    g = lambda c: L.lax.scan(lambda c, x: (f(c, 0.9) * x, c), c, M34[:, :3])[0].sum()  # noqa: E731
    return L.api.grad(g)(A3), L.api.vmap(L.api.grad(g))(M34.T[:, :3])


@program()
def p_custom_jvp_vmap_batched_nondiff_closure(L):
    f = _softclip(L)
    return (
        L.api.vmap(L.api.grad(lambda x, lim: f(x, lim).sum()), in_axes=(0, 0))(
            M34, np.array([1.0, 2.0, 3.0])
        ),
        L.api.jacfwd(lambda x: L.api.vmap(f, in_axes=(0, None))(x, 2.0))(M34[:2]),
    )


@program()
def p_axis_index_and_collectives(L):
    def f(x):
        i = L.lax.axis_index("i")
        return x * i + L.lax.pmean(x, "i") - L.lax.all_gather(x, "i").sum(0)

    return L.api.vmap(f, axis_name="i")(M34), L.api.grad(
        lambda m: L.api.vmap(f, axis_name="i")(m).sum()
    )(M34)


@program()
def p_value_and_grad_has_aux_nested(L):
    def loss(p, x):
        pred = L.np.tanh(x @ p["w"] + p["b"])
        return (pred**2).mean(), {"pred": pred, "n": x.shape[0]}

    params = {"w": M34[:, :2], "b": A3[:2]}
    (val, aux), g = L.api.value_and_grad(loss, has_aux=True)(params, M34.T)
    return val, aux, g, L.api.jit(L.api.grad(loss, has_aux=True))(params, M34.T)


@program()
def p_tree_util_partial_through_jit(L):
    part = L.tree.Partial(lambda x, y: x * y, B3)
    return L.api.jit(lambda p, x: p(x))(part, A3), L.api.grad(
        lambda x: L.api.jit(lambda p, x: p(x).sum())(part, x)
    )(A3)


@program()
def p_jit_lower_compile(L):
    f = L.api.jit(lambda x: L.np.sin(x) * 2)
    return f.lower(A3).compile()(A3)


@program()
def p_linearize_under_jit(L):
    out, f_jvp = L.api.linearize(lambda x: L.np.sin(x) * x, A3)
    return L.api.jit(f_jvp)(B3), L.api.vmap(f_jvp)(M34.T[:, :3])


# --- nestings
@program()
def p_jit_around_and_inside_custom_rules(L):
    f = L.api.jit(_softclip(L))
    g = _clip_grad(L)
    h = L.api.jit(lambda x: g(x, 2.0).sum())
    return (
        L.api.grad(lambda x: f(x, 2.0).sum())(A3),
        L.api.jit(L.api.jacfwd(f))(A3, 2.0),
        L.api.grad(h)(A3),
        L.api.vmap(L.api.grad(h))(M34.T[:, :3]),
    )


@program()
def p_hessian_has_aux_and_dict_outputs(L):
    f = lambda x, y: ((x**2 * y).sum(), {"norm": (x**2).sum()})  # noqa: E731
    g = lambda x, y: {"p": x * y, "q": (L.np.sin(x).sum(), y[0])}  # noqa: E731
    return (
        L.api.hessian(f, has_aux=True)(A3, B3),
        L.api.jacrev(g, argnums=(0, 1))(A3, B3),
        L.api.jacfwd(g, argnums=(1,))(A3, B3),
    )


@program()
def p_vmap_outer_product_nesting(L):
    f = lambda a, b: L.np.tanh(a * b).sum()  # noqa: E731
    pair = L.api.vmap(L.api.vmap(f, in_axes=(None, 0)), in_axes=(0, None))
    return pair(M34, M34[:2]), L.api.grad(lambda m: pair(m, M34[:2]).sum())(M34)


@program()
def p_vmap_out_axes_prefix_with_none(L):
    f = lambda a: {"batched": a * 2, "const": (A3, B3.sum())}  # noqa: E731
    return L.api.vmap(f, out_axes={"batched": 1, "const": None})(M34)


@program()
def p_grad_of_vmap_of_cond_with_batched_predicate(L):
    def f(x):
        return L.lax.cond(x.sum() > 0, lambda v: L.np.sin(v) * 2, lambda v: v**3, x)

    return L.api.grad(lambda m: (L.api.vmap(f)(m) * _weights(m.shape)).sum())(M34), L.api.jacfwd(
        L.api.vmap(f)
    )(M34[:2, :2])


@program()
def p_switch_in_scan_in_jit_in_grad(L):
    def step(c, i):
        c = L.lax.switch(i, [lambda c: c * 1.1, lambda c: L.np.sin(c), lambda c: c - c**2], c)
        return c, c.sum()

    f = L.api.jit(lambda c: L.lax.scan(step, c, np.array([0, 2, 1, 1, 0]))[1].sum())
    return L.api.grad(f)(A3), L.api.vmap(L.api.grad(f))(M34.T[:, :3]), L.api.hessian(f)(A3)


@program()
def p_jvp_of_jit_with_static_args(L):
    f = L.api.jit(lambda x, n, mode: x**n if mode == "pow" else x * n, static_argnums=(1, 2))
    return (
        L.api.jvp(lambda x: f(x, 3, "pow"), (A3,), (B3,)),
        L.api.vmap(lambda x: L.api.jvp(lambda y: f(y, 2, "mul"), (x,), (x,))[1])(M34),
    )


@program()
def p_linear_transpose(L):
    f = lambda x, y: {"a": 2 * x + y[:3], "b": L.np.cumsum(y) * 3}  # noqa: E731
    f_t = L.api.linear_transpose(f, A3, L.api.ShapeDtypeStruct((4,), np.float64))
    return f_t({"a": B3, "b": M34[0]}), L.api.jit(f_t)({"a": C3, "b": M34[1]})



@program()
def p_pmap_over_one_device(L):
    f = lambda x: x / L.lax.psum(x, "d") + L.lax.axis_index("d")               # noqa: E731
    one = L.api.local_devices()[:1]     # (a default platform may have several: --device fakegpu)
    g = L.api.pmap(f, axis_name="d", devices=one)
    xs = M34[:1]
    return (g(xs), L.api.grad(lambda x: g(x).sum())(xs), L.api.vmap(g, in_axes=1, out_axes=1)(xs[:, None]),
            L.api.pmap(L.api.grad(lambda x: (L.np.sin(x) * L.lax.pmean(x, "d")).sum()), axis_name="d",
                       devices=one)(xs))

# --- errors JAX raises clearly; ours must be the same kind and name the culprit
@program(error=r"scalar")
def p_grad_of_nonscalar_output(L):
    return L.api.grad(lambda x: x * 2)(A3)


@program(error=r"(?i)complex|holomorphic")
def p_jacrev_of_complex_output(L):
    return L.api.jacrev(L.np.fft.fft)(A3)


@program(error=r"\['n'\].*int64")
def p_grad_of_int_input(L):
    return L.api.grad(lambda d: d["x"].sum() * d["n"])({"x": A3, "n": 3})


@program(error=r"(?s)size 3: args\[0\]\['a'\].*size 4: args\[0\]\['b'\]")
def p_vmap_axis_size_mismatch(L):
    return L.api.vmap(lambda d: d["a"] + d["b"][:3])({"a": A3, "b": np.ones((4, 3))})


@program(error=r"in_axes 2 for args\[0\]\['w'\]")
def p_vmap_in_axes_out_of_range(L):
    return L.api.vmap(lambda d: d["w"], in_axes=({"w": 2},))({"w": M34})


@program(error=r"in_axes")
def p_vmap_in_axes_wrong_length(L):
    return L.api.vmap(lambda a, b: a + b, in_axes=(0, 0, 0))(A3, B3)


@program(error=r"out_axes|varies")
def p_vmap_out_axes_none_but_batched(L):
    return L.api.vmap(lambda a: a * 2, out_axes=None)(A3)


@program(error=r"(?i)concret|traced|tracer")
def p_concretization_in_if_under_jit(L):
    def f(x):
        return x if x.sum() > 0 else -x

    return L.api.jit(f)(A3)


@program()
def p_python_if_under_grad_is_fine(L):
    def f(x):
        return (x**2).sum() if x.sum() > 0 else (-x).sum()

    return L.api.grad(f)(A3), L.api.jvp(f, (A3,), (B3,))


@program(error=r"(?i)tracer|leak|escaped|outside")
def p_tracer_leak(L):
    box = []
    L.api.jit(lambda x: box.append(x) or x)(A3)
    return box[0] + 1


@program(error=r"\['a'\] has shape \(4,\)")
def p_jvp_tangent_shape_mismatch(L):
    return L.api.jvp(lambda d: L.np.sin(d["a"]), ({"a": A3},), ({"a": np.ones(4)},))


@program(error=r"(?i)dtype|tangent|float0")
def p_jvp_tangent_dtype_mismatch(L):
    return L.api.jvp(L.np.sin, (A3,), (np.ones(3, np.float32),))


@program(error=r"\['o'\]\[1\]\) has shape \(4,\)")
def p_vjp_cotangent_shape_mismatch(L):
    return L.api.vjp(lambda a: {"o": (a, L.np.sin(a))}, A3)[1]({"o": (A3, np.ones(4))})


@program(error=r"\['o'\]\[1\]\) has shape \(3,\) and dtype float64, but the output there "
                r"has shape \(3,\) and dtype float32")
def p_vjp_cotangent_dtype_mismatch(L):
    a = A3.astype(np.float32)
    return L.api.vjp(lambda a: {"o": (a, L.np.sin(a))}, a)[1]({"o": (a, A3)})


# --- derivatives at ties and NaNs
@program()
def p_fmax_fmin_ties_and_nans(L):
    a = np.array([3.0, 3.0, np.nan, 1.0, np.nan, -0.0])
    b = np.array([3.0, 2.0, 1.0, np.nan, np.nan, 0.0])
    f = lambda a, b: L.np.fmax(a, b) * 2.0 + L.np.fmin(a, b) * 5.0  # noqa: E731
    return (f(a, b), L.api.vmap(L.api.grad(f, argnums=(0, 1)))(a, b),
            L.api.jvp(f, (a, b), (np.ones(6), 10 * np.ones(6))))


@program()
def p_running_extremum_ties_and_nans(L):
    x = np.array([[2.0, 2.0, 2.0, 1.0, 2.0, 3.0, 3.0], [1.0, np.nan, 0.0, 1.0, 1.0, 0.0, 0.0]])
    w = _weights(x.shape)

    def f(x):
        return sum((L.lax.cummax(x, axis=1, reverse=r) * w).sum()
                   + (L.lax.cummin(x[:, :6], axis=1, reverse=r) ** 2 * w[:, :6]).sum()
                   for r in (False, True))
    return L.api.grad(f)(x), L.api.jit(L.api.grad(f))(x), L.api.jvp(f, (x,), (w,))[1]


@program(error=r"(?i)carry")
def p_scan_carry_changes_type(L):
    return L.lax.scan(lambda c, x: (c.sum(), x), A3, M34)


@program(error=r"(?i)branch|cond|true_fun|false_fun")
def p_cond_branches_differ(L):
    return L.lax.cond(True, lambda x: x, lambda x: x.sum(), A3)


@program(error=r"(?i)body|carry|while")
def p_while_body_changes_shape(L):
    return L.lax.while_loop(lambda c: c.sum() < 3, lambda c: L.np.concatenate([c, c]), A3)


@program(error=r"(?i)has_aux|pair|tuple")
def p_has_aux_without_pair(L):
    return L.api.grad(lambda x: (x**2).sum(), has_aux=True)(A3)


@program(error=r"(?i)argnums")
def p_argnums_out_of_range(L):
    return L.api.grad(lambda x: x.sum(), argnums=2)(A3)


@program(error=r"(?i)hashable|static")
def p_jit_unhashable_static(L):
    return L.api.jit(lambda x, n: x * len(n), static_argnums=1)(A3, [1, 2])


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_program(name):
    compare(PROGRAMS[name], error=ERRORS.get(name), rtol=RTOL.get(name, 1e-7))
