"""What the Python array API standard (2025.12) asks beyond NumPy's names: the namespace's
version and info, `isdtype`, `from_dlpack`, arrays' `__array_namespace__` and `to_device`,
dtype objects that compare with anything, and the functions whose signatures or results the
standard fixes. The official suite (data-apis/array-api-tests) is run separately."""
from __future__ import annotations

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp


def test_namespace_version_and_info():
    assert fnp.__array_api_version__ == "2025.12"
    x = fnp.ones(3)
    assert x.__array_namespace__() is fnp
    assert x.__array_namespace__(api_version="2023.12") is fnp
    with pytest.raises(ValueError, match="api_version"):
        x.__array_namespace__(api_version="1999.01")
    info = fnp.__array_namespace_info__()
    assert info.default_device() in info.devices()
    assert info.default_dtypes()["real floating"] == fnp.float32
    assert info.default_dtypes()["indexing"] == fnp.int64
    assert set(info.dtypes(kind="unsigned integer")) == {"uint8", "uint16", "uint32", "uint64"}
    assert set(info.dtypes(kind=("bool", "complex floating"))) == {"bool", "complex64",
                                                                    "complex128"}
    assert info.capabilities()["max dimensions"] >= 8
    assert ft.jit(lambda a: a.__array_namespace__().sum(a))(x) == 3


def test_dtype_objects_compare_with_anything_and_never_equal_none():
    for dt in (fnp.bool, fnp.int8, fnp.uint64, fnp.float32, fnp.float64, fnp.complex128):
        assert dt == dt and not (dt != dt)
        assert dt != None and not (dt == None)                 # noqa: E711
        assert dt != object() and dt != "not a dtype" and dt != 3.5 and dt != [1]
        assert dt == np.dtype(dt.dtype)
    assert fnp.float32 != fnp.float64 and fnp.int32 != fnp.uint32
    assert fnp.bool is fnp.bool_
    assert fnp.ones(2).dtype == fnp.float32


def test_isdtype():
    assert fnp.isdtype(fnp.float32, "real floating")
    assert fnp.isdtype(fnp.int8, ("bool", "signed integer"))
    assert not fnp.isdtype(fnp.uint8, "signed integer")
    assert fnp.isdtype(fnp.uint8, "integral") and fnp.isdtype(fnp.complex64, "numeric")
    assert fnp.isdtype(fnp.bool, fnp.bool) and not fnp.isdtype(fnp.bool, "numeric")
    assert fnp.isdtype(fnp.ones(2).dtype, fnp.float32)
    with pytest.raises(ValueError, match="kind"):
        fnp.isdtype(fnp.float32, "floating")
    with pytest.raises(TypeError):
        fnp.isdtype(fnp.ones(2), "numeric")


def test_from_dlpack_and_to_device():
    host = np.arange(4.0)
    x = fnp.from_dlpack(host)
    np.testing.assert_array_equal(np.asarray(x), host)
    assert fnp.from_dlpack(x) is x
    torch = pytest.importorskip("torch")
    t = fnp.from_dlpack(torch.arange(3))
    np.testing.assert_array_equal(np.asarray(t), [0, 1, 2])
    y = x.to_device("cpu")
    assert y.device == ft.devices()[0]
    with pytest.raises(ValueError, match="stream"):
        x.to_device("cpu", stream=1)
    g = ft.grad(lambda v: v.to_device("cpu").sum())(x)
    np.testing.assert_array_equal(np.asarray(g), np.ones(4))
    assert fnp.astype(fnp.arange(3), fnp.float32, device="cpu").dtype == np.float32
    assert fnp.arange(6).reshape((2, 3), copy=True).shape == (2, 3)
    assert fnp.reshape(fnp.arange(6), (3, 2), copy=False).shape == (3, 2)


def test_cumulative_functions_with_include_initial():
    x = fnp.asarray(np.array([[1, 2, 3], [4, 5, 6]]))
    np.testing.assert_array_equal(np.asarray(fnp.cumulative_sum(x, axis=1, include_initial=True)),
                                  np.cumulative_sum(np.asarray(x), axis=1, include_initial=True))
    np.testing.assert_array_equal(
        np.asarray(fnp.cumulative_prod(x, axis=0, include_initial=True)),
        np.cumulative_prod(np.asarray(x), axis=0, include_initial=True))
    assert fnp.cumulative_sum(fnp.arange(3, dtype=fnp.int8)).dtype == np.int64
    with pytest.raises(ValueError, match="axis"):
        fnp.cumulative_sum(x)
    g = ft.grad(lambda v: fnp.cumulative_sum(v, include_initial=True).sum())(fnp.ones(3))
    np.testing.assert_array_equal(np.asarray(g), [3, 2, 1])


def test_tuples_and_named_tuples():
    assert isinstance(fnp.meshgrid(fnp.arange(2), fnp.arange(3)), tuple)
    assert isinstance(fnp.broadcast_arrays(fnp.ones(2), fnp.ones(1)), tuple)
    x = fnp.asarray(np.array([[3, 1], [3, 2]]))
    res = fnp.unique_all(x)
    assert res._fields == ("values", "indices", "inverse_indices", "counts")
    assert res.inverse_indices.shape == (2, 2)
    np.testing.assert_array_equal(np.asarray(res.values[res.inverse_indices]), np.asarray(x))
    assert fnp.unique_counts(x)._fields == ("values", "counts")
    assert fnp.unique_inverse(x)._fields == ("values", "inverse_indices")
    np.testing.assert_array_equal(np.asarray(fnp.unique_counts(x).counts), [1, 1, 2])


def test_vecdot_conjugates_its_first_argument_and_keeps_integers():
    a = np.array([1 + 2j, 3 - 1j])
    b = np.array([2 - 1j, 1j])
    np.testing.assert_allclose(np.asarray(fnp.vecdot(a, b)), np.vecdot(a, b))
    np.testing.assert_allclose(np.asarray(fnp.vecmat(a, np.eye(2) * 1j)),
                               np.vecmat(a, np.eye(2) * 1j))
    i = fnp.arange(3, dtype=fnp.int16)
    assert fnp.vecdot(i, i).dtype == np.int16 and int(fnp.vecdot(i, i)) == 5
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(np.asarray(fnp.vecdot(x, x[0], axis=-1)), np.vecdot(x, x[0]))
    with pytest.raises(ValueError):
        fnp.vecdot(np.ones(3), np.ones(4))


def test_ieee_special_cases():
    inf, nan = np.inf, np.nan
    a = fnp.asarray(np.array([inf, -inf, inf, 1.0, -1.0, 1.0, -1.0, inf, nan, 7.0]))
    b = fnp.asarray(np.array([2.0, 2.0, -2.0, inf, inf, -inf, -inf, inf, 1.0, 2.0]))
    want = np.array([inf, -inf, -inf, 0.0, -0.0, -0.0, 0.0, nan, nan, 3.0])
    for got in (fnp.floor_divide(a, b), a // b, ft.jit(lambda a, b: a // b)(a, b)):
        got = np.asarray(got)
        np.testing.assert_array_equal(got, want)
        signed = ~np.isnan(want)                      # the sign of a NaN means nothing
        np.testing.assert_array_equal(np.signbit(got)[signed], np.signbit(want)[signed])
    z = np.array([complex(inf, 0.0), complex(0.0, inf), complex(-0.0, 0.0),
                  complex(inf, nan), complex(nan, 0.0), complex(-inf, 0.0)])
    spec = np.array([complex(inf, 0.0), complex(nan, nan), complex(-0.0, 0.0),
                     complex(inf, nan), complex(nan, 0.0), complex(-1.0, 0.0)])
    for got in (fnp.expm1(z), ft.jit(fnp.expm1)(z)):      # the standard's, not NumPy's
        np.testing.assert_array_equal(np.asarray(got), spec)
    for fn in ("tanh", "exp", "log1p", "sinh"):
        with np.errstate(all="ignore"):
            want = getattr(np, fn)(z)
            for got in (getattr(fnp, fn)(z), ft.jit(getattr(fnp, fn))(z)):
                got = np.asarray(got)
                np.testing.assert_array_equal(got, want)
                for part in ("real", "imag"):
                    g, w = getattr(got, part), getattr(want, part)
                    signed = ~np.isnan(w)
                    np.testing.assert_array_equal(np.signbit(g)[signed], np.signbit(w)[signed])


def test_empty_matrices_in_linalg():
    e = fnp.zeros((0, 0))
    assert fnp.linalg.inv(e).shape == (0, 0)
    assert fnp.linalg.solve(e, fnp.zeros((0, 2))).shape == (0, 2)
    assert float(fnp.linalg.det(e)) == 1.0
    assert fnp.linalg.inv(fnp.zeros((3, 0, 0))).shape == (3, 0, 0)


def test_boolean_scalar_indices_expand_dims_and_vector_norm():
    x = np.arange(6.0).reshape(2, 3)
    for idx in (True, False, (Ellipsis, True), (0, True), (np.array(True), 1)):
        np.testing.assert_array_equal(np.asarray(fnp.asarray(x)[idx]), x[idx])
        np.testing.assert_array_equal(np.asarray(ft.jit(lambda v: v[idx])(x)), x[idx])
    assert fnp.asarray(False)[fnp.asarray(False)].shape == (0,)
    with pytest.raises(IndexError):
        fnp.expand_dims(fnp.ones(2), 3)
    with pytest.raises(ValueError):
        fnp.expand_dims(fnp.ones(2), (0, 0))
    assert fnp.broadcast_shapes() == ()
    for kw in ({"keepdims": True}, {"axis": (), "keepdims": True}, {"ord": 0}, {"axis": 1,
                                                                              "ord": 3}):
        np.testing.assert_allclose(np.asarray(fnp.linalg.vector_norm(x, **kw)),
                                   np.linalg.vector_norm(x, **kw))
    assert fnp.linalg.vector_norm(np.ones(2, np.complex64), ord=0).dtype == np.float32
    assert fnp.copysign(0, fnp.ones(2)).dtype == np.float32
    assert fnp.finfo(fnp.float32).eps == float(np.finfo(np.float32).eps)
    assert isinstance(fnp.finfo(fnp.complex64).max, float) and fnp.iinfo(fnp.int8).min == -128
