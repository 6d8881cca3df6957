"""`functrans.errors` and `functrans.dtypes` carry JAX's names: a program that catches
`jax.errors.X` catches what functrans raises for the same mistake, and the dtype helpers
give JAX's answers. Each case runs on JAX too (skipped without it) to confirm the expected
type and values."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import errors

try:
    import jax
    import jax.numpy as jnp
except ImportError:           # pragma: no cover - the comparisons are skipped
    jax = jnp = None

needs_jax = pytest.mark.skipif(jax is None, reason="jax is not installed")

X = np.arange(3.0)

# (name of the error in jax.errors, program taking (jit, vmap, grad, numpy module))
CASES = {
    "bool_under_jit": ("TracerBoolConversionError",
                       lambda t, m: t.jit(lambda x: 1 if x[0] > 0 else 2)(X)),
    "while_under_jit": ("TracerBoolConversionError",
                        lambda t, m: t.jit(lambda x: [v for v in range(2) if x[v]])(X)),
    "bool_under_vmap": ("TracerBoolConversionError",
                        lambda t, m: t.vmap(lambda x: 1 if x > 0 else 2)(X)),
    "int_under_jit": ("ConcretizationTypeError", lambda t, m: t.jit(lambda x: int(x[0]))(X)),
    "float_under_jit": ("ConcretizationTypeError",
                        lambda t, m: t.jit(lambda x: float(x[0]))(X)),
    "item_under_jit": ("ConcretizationTypeError",
                       lambda t, m: t.jit(lambda x: x[0].item())(X)),
    "tolist_under_jit": ("ConcretizationTypeError", lambda t, m: t.jit(lambda x: x.tolist())(X)),
    "int_under_vmap": ("ConcretizationTypeError", lambda t, m: t.vmap(lambda x: int(x))(X)),
    "nonzero_under_jit": ("ConcretizationTypeError",
                          lambda t, m: t.jit(lambda x: m.nonzero(x))(X)),
    "unique_under_jit": ("ConcretizationTypeError", lambda t, m: t.jit(lambda x: m.unique(x))(X)),
    "arange_under_jit": ("ConcretizationTypeError", lambda t, m: t.jit(lambda n: m.arange(n))(3)),
    "list_index_under_jit": ("TracerIntegerConversionError",
                             lambda t, m: t.jit(lambda x: [1, 2, 3][x[0].astype(int)])(X)),
    "range_under_jit": ("TracerIntegerConversionError",
                        lambda t, m: t.jit(lambda x: range(x[0].astype(int)))(X)),
    "asarray_under_jit": ("TracerArrayConversionError",
                          lambda t, m: t.jit(lambda x: np.asarray(x))(X)),
    "numpy_fn_under_jit": ("TracerArrayConversionError",
                           lambda t, m: t.jit(lambda x: np.sin(x))(X)),
    "asarray_under_vmap": ("TracerArrayConversionError",
                           lambda t, m: t.vmap(lambda x: np.asarray(x))(X)),
    "asarray_under_grad": ("TracerArrayConversionError",
                           lambda t, m: t.grad(lambda x: np.asarray(x).sum())(1.0)),
    "mask_under_jit": ("NonConcreteBooleanIndexError", lambda t, m: t.jit(lambda x: x[x > 0])(X)),
    "mask_under_vmap": ("NonConcreteBooleanIndexError",
                        lambda t, m: t.vmap(lambda x: x[x > 0])(X[:, None])),
}

HIERARCHY = {
    "ConcretizationTypeError": ["JAXTypeError", "TypeError"],
    "TracerBoolConversionError": ["ConcretizationTypeError", "JAXTypeError", "TypeError"],
    "TracerIntegerConversionError": ["JAXTypeError", "TypeError"],
    "TracerArrayConversionError": ["JAXTypeError", "TypeError"],
    "NonConcreteBooleanIndexError": ["JAXIndexError", "IndexError"],
    "KeyReuseError": ["JAXTypeError", "TypeError"],
    "UnexpectedTracerError": ["JAXTypeError", "TypeError"],
    "JaxRuntimeError": ["RuntimeError"],
    "JaxprTypeError": ["TypeError"],
    "InconclusiveDimensionOperation": ["Exception"],
}


def _class(module, name):
    return getattr(module, name, None) or getattr(__builtins__, name, None) or \
        __builtins__[name]


@pytest.mark.parametrize("case", sorted(CASES))
def test_functrans_raises_the_jax_named_error(case):
    name, program = CASES[case]
    with pytest.raises(getattr(errors, name)) as info:
        program(ft, fnp)
    # existing functrans `except` clauses keep working
    if name.startswith(("Concretization", "TracerBool", "TracerInteger")):
        assert isinstance(info.value, ft.ConcretizationError)
    # the message still names the user's source line
    if name != "NonConcreteBooleanIndexError" and "vmap" not in case:
        assert __file__ in str(info.value), str(info.value)


@needs_jax
@pytest.mark.parametrize("case", sorted(CASES))
def test_jax_raises_the_same_error(case):
    name, program = CASES[case]
    with pytest.raises(getattr(jax.errors, name)):
        program(jax, jnp)


def test_more_specific_errors_are_not_the_generic_one():
    # as in JAX: __index__ and __array__ conversions are no ConcretizationTypeError
    with pytest.raises(errors.TracerIntegerConversionError) as info:
        CASES["range_under_jit"][1](ft, fnp)
    assert not isinstance(info.value, errors.ConcretizationTypeError)
    with pytest.raises(errors.TracerArrayConversionError) as info:
        CASES["asarray_under_jit"][1](ft, fnp)
    assert not isinstance(info.value, errors.ConcretizationTypeError)


@pytest.mark.parametrize("name", sorted(HIERARCHY))
def test_error_hierarchy(name):
    cls = getattr(errors, name)
    for base in HIERARCHY[name]:
        assert issubclass(cls, getattr(errors, base, None) or _class(errors, base)), base
    if jax is not None:
        jcls = getattr(jax.errors, name)
        for base in HIERARCHY[name]:
            assert issubclass(jcls, getattr(jax.errors, base, None) or _class(errors, base))


def test_every_jax_error_name_exists():
    names = ["ConcretizationTypeError", "TracerBoolConversionError",
             "TracerIntegerConversionError", "TracerArrayConversionError",
             "NonConcreteBooleanIndexError", "KeyReuseError", "JaxRuntimeError", "JAXTypeError",
             "JAXIndexError", "JaxprTypeError", "InconclusiveDimensionOperation",
             "UnexpectedTracerError"]
    assert [n for n in names if not isinstance(getattr(errors, n, None), type)] == []
    if jax is not None:
        public = {n for n in dir(jax.errors) if not n.startswith("_")}
        assert public <= set(dir(errors))


# ------------------------------------------------------------------------- dtypes
from functrans import dtypes  # noqa: E402

NUMPY_DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                "float16", "float32", "float64", "complex64", "complex128"]


@pytest.mark.parametrize("name", NUMPY_DTYPES)
def test_canonicalize_dtype_keeps_numpy_dtypes(name):
    assert dtypes.canonicalize_dtype(name) == np.dtype(name)
    assert dtypes.canonicalize_dtype(np.dtype(name).type) == np.dtype(name)
    if jax is not None:
        with jax.enable_x64(True):     # functrans keeps 64-bit types, as JAX with x64 on
            assert jax.dtypes.canonicalize_dtype(name) == dtypes.canonicalize_dtype(name)


@pytest.mark.parametrize("pytype", [bool, int, float, complex, None])
def test_canonicalize_dtype_of_python_types_is_what_arrays_get(pytype):
    dt = dtypes.canonicalize_dtype(pytype)
    assert dt == fnp.zeros(2, pytype).dtype
    if jax is not None:      # JAX without x64 makes the same 32-bit choices for float/complex
        if pytype in (float, complex, None, bool):
            assert dt == jax.dtypes.canonicalize_dtype(pytype)


def test_canonicalize_dtype_refuses_non_numeric():
    with pytest.raises(TypeError, match="not supported"):
        dtypes.canonicalize_dtype("U")
    assert dtypes.canonicalize_dtype("float32", allow_extended_dtype=True) == np.float32


@pytest.mark.parametrize("arg", ["float16", "float32", "float64", "complex64", float,
                                 np.float32, "array"])
def test_finfo(arg):
    x = fnp.ones(2, np.float32) if arg == "array" else arg
    info = dtypes.finfo(x)
    want = np.finfo(np.float32 if arg == "array" else arg)
    assert (info.dtype, info.eps, info.max, info.tiny, info.bits) == \
        (want.dtype, want.eps, want.max, want.tiny, want.bits)
    if jax is not None:
        jx = jnp.ones(2, np.float32) if arg == "array" else arg
        j = jax.dtypes.finfo(jx)
        assert (j.dtype, j.eps, j.max, j.bits) == (info.dtype, info.eps, info.max, info.bits)


@pytest.mark.parametrize("arg", ["int8", "uint8", "int32", "uint32", "int64", int, "array"])
def test_iinfo(arg):
    x = fnp.ones(2, np.int16) if arg == "array" else arg
    info = dtypes.iinfo(x)
    want = np.iinfo(np.int16 if arg == "array" else arg)
    assert (info.min, info.max, info.bits) == (want.min, want.max, want.bits)
    if jax is not None:
        jx = jnp.ones(2, np.int16) if arg == "array" else arg
        assert (jax.dtypes.iinfo(jx).min, jax.dtypes.iinfo(jx).max) == (info.min, info.max)


def test_finfo_iinfo_errors_as_numpy():
    with pytest.raises(ValueError):
        dtypes.finfo(np.int32)
    with pytest.raises(ValueError):
        dtypes.iinfo(np.float32)
    with pytest.raises(ValueError, match="None"):
        dtypes.itemsize_bits(None)


ISSUBDTYPE = [("float32", np.floating), ("float32", np.integer), (np.int8, np.signedinteger),
              (np.uint8, np.signedinteger), ("int8", "int16"), (float, np.floating),
              (np.complex64, np.inexact), (bool, np.number), ("prng_key", "extended"),
              ("extended", "prng_key"), ("float32", "extended"), ("uint32", "prng_key"),
              ("prng_key", np.floating), ("prng_key", "prng_key")]


@pytest.mark.parametrize("a,b", ISSUBDTYPE)
def test_issubdtype(a, b):
    def resolve(mod, t):
        return getattr(mod, t) if t in ("prng_key", "extended") else t
    got = dtypes.issubdtype(resolve(dtypes, a), resolve(dtypes, b))
    if jax is None:
        pytest.skip("jax is not installed")
    assert got == jax.dtypes.issubdtype(resolve(jax.dtypes, a), resolve(jax.dtypes, b))


def test_issubdtype_of_keys():
    # functrans keys are raw uint32 arrays (as JAX's legacy PRNGKey), never typed keys
    key = ft.random.key(0)
    assert not dtypes.issubdtype(key.dtype, dtypes.prng_key)
    assert not dtypes.issubdtype(key.dtype, dtypes.extended)
    assert dtypes.issubdtype(key.dtype, np.unsignedinteger)
    if jax is not None:
        assert jax.dtypes.issubdtype(jax.random.key(0).dtype, jax.dtypes.prng_key)
        assert not jax.dtypes.issubdtype(jax.random.PRNGKey(0).dtype, jax.dtypes.prng_key)


SCALARS = [True, 3, 2.5, 1j, np.uint8(3), np.float16(1), np.int64(4), np.complex64(1),
           "array_int8", "array_f32", "array_bool"]


def _make(mod, v):
    if isinstance(v, str):
        return mod.ones(2, {"array_int8": "int8", "array_f32": "float32",
                            "array_bool": "bool"}[v])
    return v


@pytest.mark.parametrize("value", SCALARS, ids=str)
def test_scalar_type_of(value):
    got = dtypes.scalar_type_of(_make(fnp, value))
    want = {bool: bool, np.bool_: bool}.get(type(value))
    assert got in (bool, int, float, complex)
    if want is not None:
        assert got is want
    if jax is not None:
        assert got is jax.dtypes.scalar_type_of(_make(jnp, value))


def test_scalar_type_of_refuses_non_numbers():
    with pytest.raises(TypeError, match="not numeric"):
        dtypes.scalar_type_of("a")
    with pytest.raises(TypeError, match="not numeric"):
        dtypes.scalar_type_of(np.array(["a"]))


@pytest.mark.parametrize("dt", NUMPY_DTYPES + [float, int, bool, complex])
def test_itemsize_bits(dt):
    bits = dtypes.itemsize_bits(dt)
    assert bits == np.dtype(dt).itemsize * 8
    if jax is not None:
        assert bits == jax.dtypes.itemsize_bits(dt)
    x = fnp.zeros(1, dt)
    assert dtypes.itemsize_bits(x) == 8 * x.dtype.itemsize


def test_type_promotion_error_and_abstract_types():
    assert issubclass(dtypes.TypePromotionError, ValueError)
    assert issubclass(dtypes.prng_key, dtypes.extended)
    assert issubclass(dtypes.extended, np.generic)
    if jax is not None:
        missing = {n for n in dir(jax.dtypes) if not n.startswith("_")} - set(dir(dtypes))
        assert missing <= {"bfloat16"}     # functrans arrays hold NumPy's dtypes only
