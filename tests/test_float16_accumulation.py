"""float16 (and bfloat16) sums, means, variances, products, running sums and dot products add
in float32 and round once, as JAX's: a float16 running sum of ones stalls at 2048 (its 11-bit
mantissa), a bfloat16 one at 256. Checked against JAX and against the exact (float64) value on
long vectors where accumulating in the narrow type would visibly lose precision, eagerly and
under jit, at the functrans.numpy level and at the lax (primitive) level."""
from __future__ import annotations

import numpy as np
import pytest

import functrans as ft
import functrans.lax as lax
import functrans.numpy as fnp
from functrans import dtypes

jax = pytest.importorskip("jax")
jnp, jlax = jax.numpy, jax.lax

NARROW = [np.dtype(np.float16)] + [dtypes.ML_DTYPES[n] for n in ("bfloat16",)
                                   if n in dtypes.ML_DTYPES]
ULP = {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7}

# (functrans, JAX): a scalar of a long vector
SCALAR_CASES = {
    "sum": (fnp.sum, jnp.sum),
    "sum_axis": (lambda x: fnp.sum(x.reshape(100, 100), axis=1)[7],
                 lambda x: jnp.sum(x.reshape(100, 100), axis=1)[7]),
    "mean": (fnp.mean, jnp.mean),
    "var": (fnp.var, jnp.var),
    "std": (fnp.std, jnp.std),
    "nansum": (fnp.nansum, jnp.nansum),
    "cumsum": (lambda x: fnp.cumsum(x)[-1], lambda x: jnp.cumsum(x)[-1]),
    "cumsum_reversed": (lambda x: lax.cumsum(x, reverse=True)[0],
                        lambda x: jlax.cumsum(x, reverse=True)[0]),
    "lax.reduce_sum": (lambda x: lax.reduce_sum(x, (0,)), lambda x: jlax.reduce_sum(x, (0,))),
    "lax.cumsum": (lambda x: lax.cumsum(x)[-1], lambda x: jlax.cumsum(x)[-1]),
    "dot": (lambda x: fnp.dot(x, fnp.ones_like(x)), lambda x: jnp.dot(x, jnp.ones_like(x))),
    "matmul": (lambda x: (fnp.ones((3, x.shape[0]), x.dtype) @ x)[1],
               lambda x: (jnp.ones((3, x.shape[0]), x.dtype) @ x)[1]),
    "einsum": (lambda x: fnp.einsum("i,i->", x, fnp.ones_like(x)),
               lambda x: jnp.einsum("i,i->", x, jnp.ones_like(x))),
}
# the exact value of each (from the float64 values of the narrow inputs)
EXACT = {"sum": np.sum, "sum_axis": lambda x: x.reshape(100, 100).sum(1)[7], "mean": np.mean,
         "var": np.var, "std": np.std, "nansum": np.sum, "cumsum": np.sum,
         "cumsum_reversed": np.sum, "lax.reduce_sum": np.sum, "lax.cumsum": np.sum,
         "dot": np.sum, "matmul": np.sum, "einsum": np.sum}


def _inputs(dtype):
    """10,000 values: 0.1 each (a running float16 sum stalls at 256), and uniform ones."""
    rng = np.random.default_rng(0)
    return {"tenths": np.full(10_000, 0.1).astype(dtype),
            "uniform": rng.uniform(0, 1, 10_000).astype(dtype)}


@pytest.mark.parametrize("dtype", NARROW, ids=lambda d: d.name)
@pytest.mark.parametrize("name", sorted(SCALAR_CASES))
def test_long_reductions_round_once_like_jax(name, dtype):
    f, g = SCALAR_CASES[name]
    ulp = ULP[dtype.name]
    for label, x in _inputs(dtype).items():
        exact = float(EXACT[name](x.astype(np.float64)))
        want = np.asarray(g(jnp.asarray(x)))
        for got in (f(fnp.asarray(x)), ft.jit(f)(fnp.asarray(x))):
            assert got.dtype == dtype == want.dtype, (name, label)
            value = float(np.asarray(got, np.float64))
            # one rounding of a float32 result: within an ulp of the exact value (a narrow
            # accumulator misses it by far more: 256 or 2048 in place of 1000)
            assert abs(value - exact) <= 2 * ulp * abs(exact), (name, label, value, exact)
            assert abs(value - float(np.asarray(want, np.float64))) <= 4 * ulp * abs(exact), \
                (name, label, value, float(want))


@pytest.mark.parametrize("dtype", NARROW, ids=lambda d: d.name)
def test_running_sums_do_not_stall(dtype):
    ones = np.ones(5000, dtype)
    stall = 2048.0 if dtype == np.float16 else 256.0
    assert float(np.cumsum(ones, dtype=dtype)[-1]) == stall         # what is avoided
    for f in (fnp.cumsum, lambda x: lax.cumsum(x, axis=0), ft.jit(fnp.cumsum)):
        out = np.asarray(f(fnp.asarray(ones)), np.float64)
        np.testing.assert_array_equal(out, np.arange(1, 5001).astype(dtype))
    # along a kept axis, and reversed, under vmap
    two = fnp.asarray(np.ones((2, 3000), dtype))
    out = ft.vmap(lambda r: lax.cumsum(r, reverse=True))(two)
    assert out.dtype == dtype
    np.testing.assert_array_equal(np.asarray(out[:, 0]), np.full(2, 3000.0).astype(dtype))


def test_products_accumulate_in_float32():
    x = np.full(300, 1.01, np.float16)
    exact = float(np.prod(x.astype(np.float64)))
    for got in (fnp.prod(fnp.asarray(x)), lax.reduce_prod(fnp.asarray(x), (0,)),
                lax.cumprod(fnp.asarray(x))[-1], ft.jit(fnp.prod)(fnp.asarray(x))):
        assert got.dtype == np.float16
        assert abs(float(got) - exact) <= 2 * ULP["float16"] * exact
    # float16 products that each round lose far more
    assert abs(float(np.multiply.accumulate(x)[-1]) - exact) > 4 * ULP["float16"] * exact


def test_float16_sum_jaxpr_widens_as_jax():
    x = fnp.ones(8, fnp.float16)
    text = str(ft.make_jaxpr(fnp.sum)(x))
    assert "f32[8] = convert_element_type" in text and "f16[] = convert_element_type" in text
    want = str(jax.make_jaxpr(jnp.sum)(jnp.ones(8, jnp.float16)))
    assert "f32[8] = convert_element_type" in want
    # float32 and float64 sums stay as they were: no conversions
    for dt in (fnp.float32, fnp.float64):
        assert "convert_element_type" not in str(ft.make_jaxpr(fnp.sum)(fnp.ones(3, dt)))


def test_float16_sum_gradient():
    x = fnp.asarray(np.linspace(0, 1, 4000).astype(np.float16))
    g = ft.grad(lambda v: fnp.sum(v * v))(x)
    assert g.dtype == np.float16
    np.testing.assert_allclose(np.asarray(g, np.float64), 2 * np.asarray(x, np.float64),
                               rtol=2 * ULP["float16"])
    g = ft.grad(lambda v: fnp.cumsum(v)[-1])(x)
    np.testing.assert_array_equal(np.asarray(g), np.ones(4000, np.float16))
