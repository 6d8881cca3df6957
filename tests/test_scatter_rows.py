"""The host's fast row scatter-add (`x.at[rows].add(updates)` with whole rows, as in an
embedding's gradient) against NumPy's `np.add.at`, with derivatives; with its compiled loop
(numba, `jit_numba`) too."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.test_util import check_grads


@pytest.fixture(autouse=True, params=["numpy", "numba"])
def kernels(request):
    """The NumPy paths, or the compiled loop (skipped without numba)."""
    if request.param == "numba":
        pytest.importorskip("numba")
    before = ft.config.jit_numba
    ft.config.update("jit_numba", request.param == "numba")
    yield
    ft.config.update("jit_numba", before)


def _host(*arrays):
    return [ft.device_put(a, "cpu") for a in arrays]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64, np.float16])
@pytest.mark.parametrize("shape, index_shape", [((7, 3), (20,)), ((5, 2, 3), (4, 6)),
                                                ((4, 8), (2,))])
def test_rows_added_at_repeated_indices_match_numpy(dtype, shape, index_shape):
    """The host's row scatter-add (an embedding's gradient) against np.add.at, eager and
    jitted; indices repeat."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape).astype(dtype)
    idx = rng.integers(0, shape[0], index_shape)
    u = rng.standard_normal(index_shape + shape[1:]).astype(dtype)
    expected = x.copy()
    np.add.at(expected, idx, u)
    hx, hi, hu = _host(x, idx, u)
    tol = {2: 1e-2, 4: 1e-5, 8: 1e-5}.get(np.dtype(dtype).itemsize, 1e-12)
    np.testing.assert_allclose(hx.at[hi].add(hu), expected, rtol=tol, atol=tol)
    jitted = ft.jit(lambda x, i, u: x.at[i].add(u))
    np.testing.assert_array_equal(jitted(hx, hi, hu), hx.at[hi].add(hu))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rows_added_into_zeros_sum_in_numpys_order(dtype):
    """Into zeros (an embedding's gradient), each row's updates are summed in index order,
    as np.add.at sums them: bit for bit equal; also along a later axis."""
    rng = np.random.default_rng(7)
    idx = rng.integers(0, 50, 600)
    u = rng.standard_normal((600, 16)).astype(dtype)
    expected = np.zeros((50, 16), dtype)
    np.add.at(expected, idx, u)
    got = ft.device_put(np.zeros((50, 16), dtype), "cpu").at[idx].add(ft.device_put(u, "cpu"))
    np.testing.assert_array_equal(got, expected)
    along = ft.device_put(np.zeros((16, 50), dtype), "cpu").at[:, idx].add(
        ft.device_put(u.T, "cpu"))
    np.testing.assert_array_equal(along, expected.T)


def test_rows_added_at_negative_or_bad_indices_keep_numpy_semantics():
    x, u = np.zeros((4, 2)), np.ones((3, 2))
    got = ft.device_put(x, "cpu").at[np.array([-1, 3, 0])].add(ft.device_put(u, "cpu"))
    np.testing.assert_array_equal(got, [[1, 1], [0, 0], [0, 0], [2, 2]])


def test_embedding_gradient_derivatives():
    rng = np.random.default_rng(5)
    table = rng.standard_normal((6, 3))
    tokens = ft.device_put(rng.integers(0, 6, (4, 5)), "cpu")

    def f(table):
        return fnp.sum(fnp.tanh(table[tokens]) * np.arange(3.0))
    check_grads(f, _host(table), order=2, modes=("fwd", "rev"))
    check_grads(ft.jit(f), _host(table), order=2, modes=("fwd", "rev"))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex64])
def test_embedding_gradient_equals_numpy_add_at(dtype):
    """An embedding's gradient (the whole-row scatter-add) with repeated tokens: bit for bit
    np.add.at of the output's cotangent rows, eager and jitted."""
    rng = np.random.default_rng(8)
    tokens = rng.integers(0, 40, (12, 50))
    w = rng.standard_normal((12, 50, 16)).astype(dtype)
    table = np.zeros((40, 16), dtype)
    expected = np.zeros((40, 16), dtype)
    np.add.at(expected, tokens, w)

    def f(table):
        return fnp.sum(fnp.real(table[tokens] * w))
    for g in (ft.grad(f), ft.jit(ft.grad(f))):
        got = np.asarray(g(*_host(table)))
        np.testing.assert_array_equal(got, expected.conj() if np.iscomplexobj(w) else expected)
