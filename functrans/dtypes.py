"""Dtype rules: the default float, canonical dtypes, and promotion (JAX's and PyTorch's rule
for mixed kinds, NumPy 2's within a kind, weak Python scalars).

Python scalars are *weak*: they take the dtype of the array they meet when their kind allows
(`float32_array * 2.0` stays float32). A Python float meeting integer or bool arrays gives the
default float dtype (float32 unless `ft.config.update("default_float_dtype", "float64")`).
Arrays of one kind promote with NumPy 2's table (int8 + uint8 -> int16, float32 + float64 ->
float64); when integer or bool arrays meet floating or complex ones, the result is the
inexact operands' dtype (float32 / int64 -> float32, as in JAX and PyTorch, where NumPy would
give float64). Values that come from NumPy keep their dtype.

With the optional package ml_dtypes installed (`pip install functrans[ml_dtypes]`), its NumPy
types are dtypes here too, under JAX's names and with JAX's promotion: bfloat16 sits between the
weak float and float32 (bfloat16 with float16 gives float32; integers and bools take it), the
8-, 6- and 4-bit floats take integers and bools but no other float, and the 1-, 2- and 4-bit
integers take only bools; anything else raises TypePromotionError (as in JAX).
"""
from __future__ import annotations

import numpy as np

from .config import config

try:
    import ml_dtypes as _ml_dtypes
except ImportError:     # an optional dependency: without it these names are absent
    _ml_dtypes = None

float0 = np.dtype([("float0", np.void, 0)])   # tangent dtype of integer values (as in JAX)
bool_ = np.dtype(np.bool_)
int32, int64 = np.dtype(np.int32), np.dtype(np.int64)
uint8, uint32 = np.dtype(np.uint8), np.dtype(np.uint32)
float16, float32, float64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
complex64, complex128 = np.dtype(np.complex64), np.dtype(np.complex128)

_SCALAR_KIND = {bool: 0, int: 1, float: 2, complex: 3}
_DTYPE_KIND = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}

# ml_dtypes' types that JAX has, by name; the NumPy kind character each acts as ("V" in NumPy)
_ML_NAMES = {**dict.fromkeys((
    "bfloat16", "float8_e3m4", "float8_e4m3", "float8_e4m3b11fnuz", "float8_e4m3fn",
    "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "float8_e8m0fnu", "float6_e2m3fn",
    "float6_e3m2fn", "float4_e2m1fn"), "f"),
    "int1": "i", "int2": "i", "int4": "i", "uint1": "u", "uint2": "u", "uint4": "u"}
ML_DTYPES = {n: np.dtype(getattr(_ml_dtypes, n)) for n in _ML_NAMES
             if _ml_dtypes is not None and hasattr(_ml_dtypes, n)}
_ML_KIND = {dt: _ML_NAMES[n] for n, dt in ML_DTYPES.items()}
globals().update(ML_DTYPES)


def ml_dtypes_getattr(module: str):
    """A module `__getattr__` for `module` that says how to get ml_dtypes' names where that
    optional package is not installed."""
    def __getattr__(name):
        if name in _ML_NAMES:
            raise AttributeError(f"{module}.{name} needs the optional package ml_dtypes: "
                                 "pip install ml_dtypes (or functrans[ml_dtypes])")
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    return __getattr__


__getattr__ = ml_dtypes_getattr(__name__)


def kind_char(dtype) -> str:
    """NumPy's kind character of `dtype` ("b", "i", "u", "f", "c"), with ml_dtypes' types
    (kind "V" in NumPy) as the float or integer kind they are."""
    dt = np.dtype(dtype)
    return _ML_KIND.get(dt, dt.kind)


def is_ml_dtype(dtype) -> bool:
    """Whether `dtype` is one of ml_dtypes' (bfloat16, float8_*, int4, ...)."""
    return np.dtype(dtype) in _ML_KIND


# sums, products, means and variances of these compute in float32, then round (as JAX's)
_ACCUMULATE_IN_FLOAT32 = frozenset(
    [float16] + [ML_DTYPES[n] for n in ("bfloat16",) if n in ML_DTYPES])


def accumulation_dtype(dtype) -> np.dtype:
    """The dtype a reduction of `dtype` values accumulates in: float32 for float16 and
    bfloat16, whose 11- and 8-bit mantissas would stall a running sum at 2048 and 256 ones;
    `dtype` itself otherwise."""
    dt = np.dtype(dtype)
    return float32 if dt in _ACCUMULATE_IN_FLOAT32 else dt


def default_float_dtype() -> np.dtype:
    return np.dtype(config.default_float_dtype)


def default_int_dtype() -> np.dtype:
    return int64


def default_complex_dtype() -> np.dtype:
    return complex128 if default_float_dtype() == float64 else complex64


def default_dtype_for_kind(kind: int) -> np.dtype:
    return (bool_, default_int_dtype(), default_float_dtype(), default_complex_dtype())[kind]


def canonicalize(dtype) -> np.dtype:
    """`float`/`int`/`complex`/`bool` (the Python types) mean the default dtype of that kind."""
    if dtype in _SCALAR_KIND and isinstance(dtype, type):
        return default_dtype_for_kind(_SCALAR_KIND[dtype])
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{dtype!r} is not a dtype") from None
    if kind_char(dt) not in "biufc":
        raise TypeError(f"functrans arrays hold numbers and booleans only; dtype {dt} is not "
                        "supported (object and string arrays are refused)")
    return dt


def scalar_kind(x) -> int | None:
    """The kind of a Python scalar (0 bool, 1 int, 2 float, 3 complex), or None."""
    return _SCALAR_KIND.get(type(x))


def kinds_holding(scalar_type) -> str:
    """The dtype kind characters whose arrays take a Python scalar of `scalar_type` (bool,
    int, float, complex) without losing its kind: "fc" for float."""
    return "".join(c for c, k in _DTYPE_KIND.items() if k >= _SCALAR_KIND[scalar_type])


def dtype_kind(dtype) -> int:
    return _DTYPE_KIND[kind_char(dtype)]


def is_inexact(dtype) -> bool:
    return kind_char(dtype) in "fc"


def is_integer(dtype) -> bool:
    return kind_char(dtype) in "iu"


def scalar_dtype(x) -> np.dtype:
    """The dtype a lone Python scalar becomes."""
    return default_dtype_for_kind(_SCALAR_KIND[type(x)])


def promote_types(a, b) -> np.dtype:
    """The dtype two array dtypes promote to (see the module docstring)."""
    dts = [np.dtype(a), np.dtype(b)]
    if config.numpy_dtype_promotion == "strict":
        _check_strict(dts, ())
    return _promote_arrays(dts)


# with numpy_dtype_promotion "strict", the array kinds a weak Python scalar may join (as JAX)
_STRICT_WEAK = {0: "b", 1: "iufc", 2: "fc", 3: "c"}


def _check_strict(dts, weak_kinds):
    """Raise TypePromotionError unless the array dtypes `dts` are one dtype that each weak
    scalar kind joins without changing it (`numpy_dtype_promotion` "strict")."""
    first = dts[0] if dts else None
    if all(d == first for d in dts) and all(first is None or kind_char(first) in _STRICT_WEAK[k]
                                            for k in weak_kinds):
        return
    names = [str(d) for d in dts] + [("bool", "int", "float", "complex")[k] + " (a Python "
                                     "scalar)" for k in sorted(set(weak_kinds))]
    raise TypePromotionError(
        f"the dtypes {', '.join(names)} have no implicit promotion path with "
        "numpy_dtype_promotion='strict': convert the operands to one dtype explicitly "
        "(x.astype(...)), or allow promotion with "
        "ft.config.update('numpy_dtype_promotion', 'standard').")


def _promote_arrays(dts):
    first = dts[0]
    for d in dts:
        if d != first:
            break
    else:
        return first
    if any(d in _ML_KIND for d in dts):
        return _promote_ml(dts)
    inexact = [d for d in dts if d.kind in "fc"]
    if inexact and len(inexact) < len(dts):
        return np.result_type(*inexact)   # integers and bools take the inexact dtype
    return np.result_type(*dts)


def _promote_ml(dts):
    """JAX's promotion of array dtypes among which are ml_dtypes' (see the module docstring)."""
    bf16 = ML_DTYPES["bfloat16"]
    narrow = {d for d in dts if d in _ML_KIND and d != bf16}
    std = [d for d in dts if d not in _ML_KIND]
    if narrow:
        (n,) = narrow if len(narrow) == 1 else (None,)
        takes = "biu" if n is not None and _ML_KIND[n] == "f" else "b"
        if n is None or bf16 in dts or any(d.kind not in takes for d in std):
            raise _no_promotion(dts)
        return n
    if not std:
        return bf16
    dt = _promote_arrays(std)
    return bf16 if dt.kind in "biu" else float32 if dt == float16 else dt


def _no_promotion(names):
    return TypePromotionError(
        f"the dtypes {', '.join(map(str, names))} have no implicit promotion path: as in JAX, "
        "bfloat16 promotes only with the standard types, the 8-, 6- and 4-bit floats only with "
        "integers and bools, and the 1-, 2- and 4-bit integers only with bools. Convert the "
        "operands explicitly, e.g. x.astype('float32').")


def result_type(*dtypes_or_scalars, return_weak_type_flag=False):
    """Promote array dtypes (see the module docstring) and weak Python scalars (NEP 50 + the
    default float). With `return_weak_type_flag` (JAX's keyword), `(dtype, weak)`: the result
    is weak when every operand is a Python scalar (`3 + 1.5` takes a float16 array's dtype
    later, as in JAX); arrays of any dtype make it strong (functrans's Arrays are never weak,
    where JAX's lattice keeps `int8_array + 1.5` weak)."""
    dt = _result_type(dtypes_or_scalars)
    if return_weak_type_flag:
        return dt, all(type(x) in _SCALAR_KIND for x in dtypes_or_scalars)
    return dt


def _result_type(dtypes_or_scalars) -> np.dtype:
    dts = []
    weak = 0 - 1
    for x in dtypes_or_scalars:
        k = _SCALAR_KIND.get(type(x))
        if k is None:
            dts.append(np.dtype(x))
        elif k > weak:
            weak = k
    if config.numpy_dtype_promotion == "strict" and dts:
        _check_strict(dts, [_SCALAR_KIND[type(x)] for x in dtypes_or_scalars
                            if type(x) in _SCALAR_KIND])
    if not dts:
        return default_dtype_for_kind(weak)
    dt = dts[0] if len(dts) == 1 else _promote_arrays(dts)
    if weak > dtype_kind(dt):
        if dt in _ML_KIND and dt != ML_DTYPES["bfloat16"]:
            raise _no_promotion([dt, ("bool", "int", "float", "complex")[weak] + " (a Python "
                                 "scalar)"])
        if weak == 3 and kind_char(dt) == "f":
            return np.result_type(dt if dt not in _ML_KIND else float32, np.complex64)
        return default_dtype_for_kind(weak)
    return dt


def short_name(dtype) -> str:
    """`f32`, `i64`, `bool`, … as printed in jaxprs."""
    dt = np.dtype(dtype)
    if dt == bool_:
        return "bool"
    if dt == float0:
        return "float0"
    if dt in _ML_KIND:      # bf16, f8_e4m3fn, i4, ... (as JAX prints them)
        return dt.name.replace("float", "f").replace("uint", "u").replace("int", "i")
    return {"f": "f", "i": "i", "u": "u", "c": "c"}[dt.kind] + str(dt.itemsize * 8)


# ------------------------------------------------------------- JAX's `jax.dtypes` names
class TypePromotionError(ValueError):
    """Operand dtypes that promotion refuses to combine: raised with the setting
    `numpy_dtype_promotion` "strict" for operands of different dtypes (JAX's name)."""


class extended(np.generic):
    """The abstract type of JAX's extended dtypes (typed PRNG keys, ...), for `issubdtype`.
    functrans keys are plain uint32 arrays, so no functrans dtype is a subtype of it."""


class prng_key(extended):
    """The abstract type of JAX's typed PRNG key dtypes, for `issubdtype`; functrans keys are
    raw uint32 arrays (as from `jax.random.PRNGKey`), so no functrans dtype is one."""


_PY_SCALAR = {"b": bool, "i": int, "u": int, "f": float, "c": complex}


def _dtype_of(x):
    """The dtype of a dtype-like, an array (anything with `.dtype`) or a scalar."""
    if x is None:
        raise ValueError("dtype cannot be None")
    dt = getattr(x, "dtype", None)
    return np.dtype(dt) if isinstance(dt, np.dtype) else np.dtype(x)


def canonicalize_dtype(dtype, allow_extended_dtype=False) -> np.dtype:
    """The dtype functrans makes of `dtype`: NumPy dtypes as they are (functrans keeps 64-bit
    types, like JAX with x64 on), the Python types `float`/`int`/`complex` the default dtype
    of their kind. `allow_extended_dtype` is accepted for JAX's signature (functrans has no
    extended dtypes)."""
    del allow_extended_dtype
    if dtype is None:
        return default_float_dtype()
    return canonicalize(dtype)


def finfo(dtype):
    """NumPy's `finfo` of a floating or complex dtype, or of an array's dtype (ml_dtypes'
    `finfo` for its floats)."""
    dt = _dtype_of(dtype)
    return _ml_dtypes.finfo(dt) if dt in _ML_KIND else np.finfo(dt)


def iinfo(dtype):
    """NumPy's `iinfo` of an integer dtype, or of an array's dtype (ml_dtypes' `iinfo` for
    its integers)."""
    dt = _dtype_of(dtype)
    return _ml_dtypes.iinfo(dt) if dt in _ML_KIND else np.iinfo(dt)


# the abstract type each kind of ml_dtypes' types is a subtype of (JAX's hierarchy)
_ML_ABSTRACT = {"f": np.floating, "i": np.signedinteger, "u": np.unsignedinteger}
_NUMPY_ABSTRACT = (np.generic, np.number, np.inexact, np.floating, np.complexfloating,
                   np.integer, np.signedinteger, np.unsignedinteger, np.flexible, np.character)


def issubdtype(arg1, arg2) -> bool:
    """`np.issubdtype`, knowing the abstract `extended` and `prng_key` types, and placing
    ml_dtypes' floats under `np.floating` and its integers under `np.(un)signedinteger`."""
    a, b = arg1, arg2
    if a is None or b is None:
        return False
    a_ext = isinstance(a, type) and issubclass(a, extended)
    if isinstance(b, type) and issubclass(b, extended):
        return a_ext and issubclass(a, b)
    if a_ext:
        return False
    if _ML_KIND and _is_ml_like(a):
        dt = np.dtype(a)
        if isinstance(b, type) and b in _NUMPY_ABSTRACT:
            return issubclass(_ML_ABSTRACT[_ML_KIND[dt]], b)
        return _is_ml_like(b) and dt == np.dtype(b)
    return bool(np.issubdtype(a, b))


def _is_ml_like(x) -> bool:
    try:
        return np.dtype(x) in _ML_KIND
    except TypeError:
        return False


def scalar_type_of(x) -> type:
    """The Python scalar type (bool, int, float or complex) of `x`'s dtype."""
    if type(x) in _SCALAR_KIND or isinstance(x, (str, bytes)):
        x = np.asarray(x)
    dt = _dtype_of(x)
    if kind_char(dt) not in _PY_SCALAR:
        raise TypeError(f"scalar_type_of: {x!r} has dtype {dt}, which is not numeric; only "
                        "booleans, integers, floats and complex numbers have a scalar type")
    return _PY_SCALAR[kind_char(dt)]


def itemsize_bits(dtype) -> int:
    """The number of bits one element of `dtype` takes (8 for bool, 4 for int4)."""
    dt = _dtype_of(dtype)
    if dt in _ML_KIND:
        return (finfo if _ML_KIND[dt] == "f" else iinfo)(dt).bits
    return dt.itemsize * 8


def default_fill_value(dtype):
    """What `mode="fill"` reads out of bounds by default (JAX's choice): NaN for inexact
    dtypes, the most negative value for signed integers, the largest for unsigned, True."""
    kind = kind_char(dtype)
    if kind in "fc":
        return float("nan")
    if kind == "i":
        return int(iinfo(dtype).min)
    if kind == "u":
        return int(iinfo(dtype).max)
    return True
