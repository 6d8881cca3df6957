"""The float32 host kernels of functrans.backends.special against SciPy, and the primitives
that use them (erf, erfc, erf_inv, lgamma, digamma, logistic): values within stated ulp bounds over
dense sweeps and hypothesis-drawn arrays, special values, dtypes, derivatives, jit vs eager;
the value tests run on the NumPy kernels and on their compiled variants (numba, `jit_numba`),
which must equal them bit for bit."""
from __future__ import annotations

import concurrent.futures
import contextlib

import numpy as np
import pytest
import scipy.special as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import functrans as ft
from functrans import lax
from functrans.backends import special
from functrans.test_util import check_grads

F32 = np.float32
NAMES = ("erf", "erfc", "erfinv", "gammaln", "digamma", "expit")
PRIMITIVES = {"erf": lax.erf, "erfc": lax.erfc, "erfinv": lax.erf_inv,
              "gammaln": lax.lgamma, "digamma": lax.digamma, "expit": lax.logistic}
# Largest error in float32 ulps against SciPy's float64 value (measured maxima over the sweeps
# below: erf 3.3, erfc 3.8, erfinv 2.4, gammaln 4.1, digamma 4.6, expit 3.1; 3.5 on 10**6
# uniform(-100, 100) arguments).
ULPS = {"erf": 4.0, "erfc": 4.5, "erfinv": 3.0, "gammaln": 5.0, "digamma": 5.0, "expit": 4.0}


@contextlib.contextmanager
def kernels_for_all_sizes():
    """Within: every float32 array, however small, takes the kernels."""
    saved = dict(special.MIN_SIZE)
    special.MIN_SIZE.update(dict.fromkeys(NAMES, 0))
    try:
        yield
    finally:
        special.MIN_SIZE.update(saved)


@contextlib.contextmanager
def compiled_kernels(on):
    """Within: the compiled variants (numba) if `on`, else the NumPy kernels."""
    before = ft.config.jit_numba
    ft.config.update("jit_numba", on)
    try:
        yield
    finally:
        ft.config.update("jit_numba", before)


@pytest.fixture(params=["numpy", "numba"])
def kernels(request):
    """The NumPy kernels, or their compiled variants (skipped without numba)."""
    if request.param == "numba":
        pytest.importorskip("numba")
    with compiled_kernels(request.param == "numba"):
        yield request.param


def ulp_errors(got, ref):
    """|got - ref| in float32 ulps at ref (ref in float64); 0 where equal or both NaN."""
    got = np.asarray(got, np.float64).reshape(-1)
    ref = np.asarray(ref, np.float64).reshape(-1)
    with np.errstate(all="ignore"):
        rounded = np.abs(ref).astype(F32)
        err = np.abs(got - ref) / np.spacing(rounded).astype(np.float64)
        same = (got == ref) | (got == np.copysign(rounded.astype(np.float64), ref))
    err[same | (np.isnan(got) & np.isnan(ref))] = 0.0
    err[np.isnan(err)] = np.inf
    return err


def spread(lo, hi, n):
    """About n float32 numbers spread evenly by bit pattern over [lo, hi), 0 <= lo < hi."""
    a, b = np.float32(lo).view(np.int32), np.float32(hi).view(np.int32)
    return np.arange(a, b, max(1, (b - a) // n), dtype=np.int32).view(F32)


def sweep(name):
    """Dense float32 arguments: the whole range (subnormals, huge values), the interesting
    middle, and the neighbourhoods of zeros and poles."""
    n = 60_000
    if name == "erfinv":
        x = np.concatenate([spread(0, 1, 2 * n), spread(0.99, 1, n), spread(0.9999, 1, n)])
        return np.concatenate([x, -x])
    pos = np.concatenate([spread(0, 3.4e38, 2 * n), spread(0.01, 12, 2 * n)])
    if name in ("erf", "erfc", "expit"):
        return np.concatenate([pos, -pos])
    near = [1.0, 2.0] if name == "gammaln" else [1.4616321449683623]
    zeros = [z + d for z in near for d in np.concatenate([spread(1e-30, 1e-3, n // 4),
                                                         -spread(1e-30, 1e-3, n // 4)])]
    return np.concatenate([pos, np.asarray(zeros, F32), -spread(1e-30, 30, n)])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.usefixtures("kernels")
def test_float32_within_ulp_bound_over_dense_sweeps(name):
    x = sweep(name)
    got = getattr(special, name)(x)
    assert got.dtype == F32 and got.shape == x.shape
    err = ulp_errors(got, getattr(sp, name)(x.astype(np.float64)))
    worst = int(err.argmax())
    assert err[worst] <= ULPS[name], (
        f"{name}({x[worst]!r}) = {got[worst]!r}: {err[worst]:.2f} ulps from SciPy's "
        f"{getattr(sp, name)(np.float64(x[worst]))!r}")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.usefixtures("kernels")
@settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_float32_within_ulp_bound_on_drawn_arrays(name, data):
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=6))
    elements = (st.floats(-1.5, 1.5, width=32) if name == "erfinv" else
                st.floats(width=32, allow_nan=True, allow_infinity=True))
    x = data.draw(hnp.arrays(F32, shape, elements=elements))
    with kernels_for_all_sizes():
        got = getattr(special, name)(x)
    assert got.dtype == F32 and got.shape == x.shape
    assert np.all(ulp_errors(got, getattr(sp, name)(x.astype(np.float64))) <= ULPS[name])


SPECIAL_VALUES = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-38, -1e-38,
                           1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 0.5, -0.5, 1.5, -1.5, 1e-7, -1e-7,
                           3.9, -3.9, 4.0, 10.0, -10.0, 10.06, 10.1, 11.0, 1e10, -1e10, 1e30,
                           3.4e38, -3.4e38, 1 - 2 ** -24, -1 + 2 ** -24, 1 + 2 ** -23], F32)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.usefixtures("kernels")
def test_special_values_match_scipy(name):
    # zeros, infinities, NaN, subnormals, the poles of gammaln and digamma at 0 and the
    # negative integers, erfinv at +-1 and beyond, huge arguments: SciPy's float32 results
    with kernels_for_all_sizes():
        got = getattr(special, name)(SPECIAL_VALUES)
    want = getattr(sp, name)(SPECIAL_VALUES)
    assert got.dtype == want.dtype == F32
    err = ulp_errors(got, getattr(sp, name)(SPECIAL_VALUES.astype(np.float64)))
    assert np.all(err <= ULPS[name]), list(zip(SPECIAL_VALUES[err > ULPS[name]],
                                               got[err > ULPS[name]]))
    exact = ~np.isfinite(want) | (want == 0)
    np.testing.assert_array_equal(got[exact], want[exact])


@kernels_for_all_sizes()
@pytest.mark.usefixtures("kernels")
def test_documented_special_points():
    one = np.array([1.0, -1.0, 1.5, -1.0001, np.inf], F32)
    np.testing.assert_array_equal(special.erfinv(one), [np.inf, -np.inf, np.nan, np.nan, np.nan])
    poles = np.array([0.0, -0.0, -1.0, -2.0, -50.0], F32)
    np.testing.assert_array_equal(special.gammaln(poles), np.full(5, np.inf))
    np.testing.assert_array_equal(special.digamma(poles), [-np.inf, np.inf, np.nan, np.nan,
                                                           np.nan])
    big = np.array([1e30, 3e38, np.inf], F32)
    np.testing.assert_array_equal(special.gammaln(big[1:]), [np.inf, np.inf])
    np.testing.assert_allclose(special.gammaln(big[:1]), sp.gammaln(1e30), rtol=1e-6)
    np.testing.assert_allclose(special.digamma(big), sp.digamma(big.astype(np.float64)),
                               rtol=1e-6)
    np.testing.assert_array_equal(special.erf(big), [1, 1, 1])
    np.testing.assert_array_equal(special.erfc(-big), [2, 2, 2])


@pytest.mark.parametrize("name", NAMES)
def test_compiled_variants_equal_the_numpy_kernels_bit_for_bit(name):
    pytest.importorskip("numba")
    rng = np.random.default_rng(3)
    x = np.concatenate([sweep(name), SPECIAL_VALUES, rng.uniform(-100, 100, 50_000).astype(F32)])
    fn = getattr(special, name)
    with compiled_kernels(False):
        want = fn(x)
    with compiled_kernels(True):
        got = fn(x)
    assert got.dtype == F32
    np.testing.assert_array_equal(got.view(np.uint32)[~np.isnan(want)],
                                  want.view(np.uint32)[~np.isnan(want)])
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))


@pytest.mark.usefixtures("kernels")
def test_expit_underflow_beside_nan():
    # a NaN in the same array once hid the underflowed elements from the exp(x) fix-up
    x = np.concatenate([np.full(5000, -95.0), [np.nan]]).astype(F32)
    got = special.expit(x)
    np.testing.assert_array_equal(got[:-1], np.exp(x[:-1]))
    assert got[-1] != got[-1] and got[0] > 0


@pytest.mark.parametrize("name", NAMES)
def test_other_dtypes_and_small_arrays_are_scipys(name):
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.9 if name == "erfinv" else 0.2, 0.9 if name == "erfinv" else 3, 10_000)
    fn, ref = getattr(special, name), getattr(sp, name)
    for arr in (x, x.astype(np.float16), x[:100].astype(F32), np.float32(0.5)):
        got, want = fn(arr), ref(arr)
        assert np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", NAMES)
@kernels_for_all_sizes()
@pytest.mark.usefixtures("kernels")
def test_blocks_layouts_and_threads(monkeypatch, name):
    monkeypatch.setattr(special, "BLOCK", 1000)
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.99 if name == "erfinv" else -5, 0.99 if name == "erfinv" else 5,
                    (37, 91)).astype(F32)
    fn = getattr(special, name)
    want = fn(np.ascontiguousarray(x))
    for arr in (x.T, x[::2, 1::3], np.asfortranarray(x)):
        np.testing.assert_array_equal(fn(arr), fn(np.ascontiguousarray(arr)))
    assert ulp_errors(want, getattr(sp, name)(x.astype(np.float64))).max() <= ULPS[name]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for got in pool.map(lambda _: fn(x), range(8)):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name,regions", [
    ("gammaln", [(-5, 0), (0, 0.5), (0.5, 6), (6, 1e4)]),
    ("digamma", [(-5, 0), (0, 0.5), (0.5, 2), (2, 1e4)]),
    ("erfinv", [(-0.99, 0.99), (0.997, 1.0)])])
@pytest.mark.usefixtures("kernels")
def test_every_mix_of_formulas(name, regions):
    # whichever region most elements fall in is computed over the whole array, the others on
    # the side: each region in turn holds most of the elements
    rng = np.random.default_rng(5)
    for major in range(len(regions)):
        parts = [rng.uniform(lo, hi, 9000 if i == major else 700)
                 for i, (lo, hi) in enumerate(regions)]
        x = rng.permutation(np.concatenate(parts + [[np.nan, np.inf, 0.0, -0.0]])).astype(F32)
        got = getattr(special, name)(x)
        err = ulp_errors(got, getattr(sp, name)(x.astype(np.float64)))
        assert err.max() <= ULPS[name], (major, x[err.argmax()], got[err.argmax()])


@pytest.mark.parametrize("name", NAMES)
def test_primitives_use_the_kernels_eagerly_and_under_jit(name):
    rng = np.random.default_rng(2)
    lo, hi = (-0.999, 0.999) if name == "erfinv" else (0.05, 8) if name in (
        "gammaln", "digamma") else (-4, 4)
    x = rng.uniform(lo, hi, (128, 96)).astype(F32)
    prim = PRIMITIVES[name]
    eager = prim(ft.numpy.asarray(x))
    jitted = ft.jit(prim)(ft.numpy.asarray(x))
    assert eager.dtype == jitted.dtype == F32
    np.testing.assert_array_equal(np.asarray(eager), np.asarray(jitted))
    if ft.backends.default_device_now().platform == "cpu":
        np.testing.assert_array_equal(np.asarray(eager), getattr(special, name)(x))


def test_exact_gelu_jit_equals_eager_and_differentiates():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 32)).astype(F32)
    w = (rng.standard_normal((32, 128)) / 6).astype(F32)

    def loss(w, x):
        return ft.numpy.sum(ft.nn.functional.gelu(x @ w))
    eager = ft.value_and_grad(loss)(w, x)
    jitted = ft.jit(ft.value_and_grad(loss))(w, x)
    for a, b in zip(eager, jitted):
        assert a.dtype == b.dtype == F32
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
    h = x.astype(np.float64) @ w.astype(np.float64)
    dgelu = 0.5 * (1 + sp.erf(h / np.sqrt(2))) + h * np.exp(-h * h / 2) / np.sqrt(2 * np.pi)
    np.testing.assert_allclose(np.asarray(eager[1]), x.T.astype(np.float64) @ dgelu,
                               rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize("name,points", [
    ("erf", [-2.0, -0.3, 0.0, 0.7, 2.5]), ("erfc", [-2.0, -0.3, 0.0, 0.7, 2.5]),
    ("expit", [-30.0, -2.0, 0.0, 0.7, 12.0]),
    ("erfinv", [-0.9, -0.2, 0.0, 0.4, 0.95]), ("gammaln", [0.3, 1.0, 1.7, 2.0, 7.5]),
    ("digamma", [0.3, 1.0, 1.4616321449683623, 2.5, 9.0])])
def test_derivatives_in_float64(name, points):
    x = ft.numpy.asarray(np.array(points))
    check_grads(PRIMITIVES[name], (x,), order=2, modes=("fwd", "rev"))
    check_grads(ft.jit(PRIMITIVES[name]), (x,), order=2, modes=("fwd", "rev"))


def test_float32_gradients_use_float32_kernels_and_agree_with_float64():
    rng = np.random.default_rng(4)
    x = rng.uniform(0.2, 3, 20_000).astype(F32)
    for prim in (lax.erf, lax.lgamma):
        def total(v, prim=prim):
            return ft.numpy.sum(prim(v))
        g32 = ft.grad(total)(x)
        g64 = ft.grad(total)(x.astype(np.float64))
        assert g32.dtype == F32
        np.testing.assert_allclose(np.asarray(g32), np.asarray(g64), rtol=1e-5, atol=1e-6)
