"""Differential tests against JAX: each case calls one function of `jax.numpy` (or
`jax.lax`, `jax.scipy.special`, `jax.numpy.linalg`, `jax.numpy.fft`) and its functrans
namesake with the same arguments; they must agree on values, dtypes and shapes, or both raise.
`difference` says what it checks: JAX with x64 against functrans with default float64 (the
same types), functrans with its default float32 against JAX's result narrowed (DESIGN.md:
default-created floats are float32), and ft.jit against eager. Skipped without JAX (CI).
Differences kept on purpose are listed in `DELIBERATE`, each with its reason."""
from __future__ import annotations

import re
import zlib

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
import functrans.scipy.special as fsp

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
jsp = pytest.importorskip("jax.scipy.special")

# functrans's eager kernels are NumPy's, which warn where values leave a function's domain
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

NAMESPACES = {"np": (jnp, fnp), "linalg": (jnp.linalg, fnp.linalg), "fft": (jnp.fft, fnp.fft),
              "lax": (jax.lax, ft.lax), "special": (jsp, fsp)}


# ------------------------------------------------------------------------- argument specs
class A:
    """An array argument, drawn when the case runs: `kind` picks the values."""

    def __init__(self, shape, dtype="float32", kind="normal"):
        self.shape, self.dtype, self.kind = tuple(shape), np.dtype(dtype), kind

    def draw(self, rng):
        d, shape = self.dtype, self.shape
        if d == np.bool_:
            return rng.random(shape) < 0.5
        if d.kind in "iu":       # never 0: integer division by zero has no defined value
            if self.kind == "positive" or d.kind == "u":
                return rng.integers(1, 10, shape).astype(d)
            return (rng.integers(1, 6, shape) * rng.choice([-1, 1], shape)).astype(d)
        real = np.float64 if d.kind == "c" else d
        if self.kind == "positive":
            v = rng.uniform(0.1, 3.0, shape)
        elif self.kind == "unit":
            v = rng.uniform(-0.9, 0.9, shape)
        elif self.kind == "nan":
            v = rng.standard_normal(shape)
            v[rng.random(shape) < 0.3] = np.nan
        else:
            v = rng.standard_normal(shape)
        out = v.astype(real)
        if d.kind == "c":
            out = (out + 1j * rng.standard_normal(shape)).astype(d)
        return out.astype(d)

    def __repr__(self):
        kind = "" if self.kind == "normal" else f"{self.kind}:"
        return f"{kind}{_short(self.dtype)}{list(self.shape)}".replace(" ", "")


class C:
    """A fixed array argument (a NumPy value given in full)."""

    def __init__(self, value, dtype=None):
        self.value = np.asarray(value, dtype)

    def draw(self, rng):
        return self.value

    def __repr__(self):
        return f"{_short(self.value.dtype)}{self.value.tolist()}".replace(" ", "")


_SHORT = {"bool": "b", "int8": "i8", "int16": "i16", "int32": "i32", "int64": "i64",
          "uint8": "u8", "uint32": "u32", "float16": "f16", "float32": "f32", "float64": "f64",
          "complex64": "c64", "complex128": "c128"}


def _short(d):
    return _SHORT.get(np.dtype(d).name, np.dtype(d).name)


def _draw(v, rng):
    if isinstance(v, (A, C)):
        return v.draw(rng)
    if isinstance(v, tuple):
        return tuple(_draw(x, rng) for x in v)
    if isinstance(v, list):
        return [_draw(x, rng) for x in v]
    return v


def _show(v):
    if isinstance(v, (list, tuple)):
        inner = ",".join(_show(x) for x in v)
        return f"[{inner}]" if isinstance(v, list) else f"({inner}{',' if len(v) == 1 else ''})"
    if callable(v) and not isinstance(v, (A, C)):
        return getattr(v, "__name__", type(v).__name__)
    return repr(v).replace(" ", "")


class Case:
    def __init__(self, ns, name, args, kwargs=None, tol=None, label=None):
        self.ns, self.name, self.args, self.kwargs = ns, name, tuple(args), dict(kwargs or {})
        self.tol, self.label = tol, label

    @property
    def id(self):
        if self.label:
            inner = self.label
        else:
            inner = ",".join([_show(a) for a in self.args] +
                             [f"{k}={_show(v)}" for k, v in self.kwargs.items()])
        prefix = "" if self.ns == "np" else self.ns + "."
        return f"{prefix}{self.name}({inner})"

    def draw(self):
        rng = np.random.default_rng(zlib.crc32(self.id.encode()))
        return _draw(self.args, rng), {k: _draw(v, rng) for k, v in self.kwargs.items()}

    def functions(self):
        theirs, ours = NAMESPACES[self.ns]
        return getattr(theirs, self.name), getattr(ours, self.name)

    def ours(self):
        """The functrans function called."""
        return getattr(NAMESPACES[self.ns][1], self.name)


CASES: list[Case] = []


# groups of several functions that make `pick` of their calls each (see `add`)
_THIN = {"median nanmedian": 3, "quantile nanquantile": 2, "var std mean": 2,
         "cumsum cumprod": 1, "cumulative_sum cumulative_prod": 1, "all any": 1,
         "max min": 1, "sum prod max min amax amin": 1, "concatenate concat": 3,
         "atleast_1d atleast_2d atleast_3d": 3, "sort argsort": 4,
         "split array_split": 3, "matmul dot": 5, "inner outer vdot kron": 3,
         "fft ifft rfft ihfft": 3, "zeros_like ones_like empty_like": 3,
         "bartlett blackman hamming hanning": 2, "nonzero flatnonzero argwhere": 2,
         "unique_values unique_counts unique_inverse unique_all": 1,
         "intersect1d union1d setdiff1d setxor1d": 1, "corrcoef cov": 2,
         "det slogdet inv eigvalsh cholesky matrix_rank pinv svdvals cond qr eigvals": 1,
         "cross outer vecdot matmul tensordot trace diagonal matrix_transpose": 1,
         "betaln xlogy xlog1py": 2, "isclose allclose": 2, "array_equal array_equiv": 2,
         "reduce_sum reduce_prod reduce_max reduce_min": 3, "cumsum cumprod cummax cummin": 2,
         "softmax log_softmax": 3, "fft2 ifft2 rfft2 fftn ifftn rfftn": 1, "tril triu": 2,
         "hsplit vsplit dsplit": 1, "fliplr flipud": 1, "diag_indices tril_indices triu_indices": 1,
         "bitwise_and bitwise_or bitwise_xor shift_left": 2, "squeeze expand_dims": 1}


def add(ns, names, calls, pick=None, **kw):
    """Cases calling each of `names` (space separated) with each of `calls` (`K(...)`), or
    with `pick` of them, rotating through the list from one name to the next (so that every
    call is made by some names, and the module stays fast)."""
    pick = pick or _THIN.get(names)
    for k, name in enumerate(names.split()):
        chosen = calls if pick is None else \
            [calls[(k * pick + j) % len(calls)] for j in range(min(pick, len(calls)))]
        for args, kwargs in chosen:
            CASES.append(Case(ns, name, args, kwargs, **kw))


def K(*args, **kwargs):
    """One call's arguments: positional ones and keywords."""
    return args, kwargs


DTYPES = ["bool", "int32", "int64", "uint8", "float32", "float64", "complex64", "complex128"]
REAL = ["bool", "int32", "int64", "uint8", "float32", "float64"]
SHAPES = [(), (4,), (2, 3), (2, 0), (2, 3, 2)]


# ------------------------------------------------------------------------- elementwise
UNARY_MATH = ("abs absolute fabs negative positive sign square reciprocal exp exp2 expm1 log "
              "log2 log10 log1p sqrt cbrt sin cos tan arcsin arccos arctan sinh cosh tanh "
              "arcsinh arccosh arctanh asin acos atan asinh acosh atanh deg2rad rad2deg "
              "degrees radians sinc i0 floor ceil trunc rint around round signbit spacing "
              "isfinite isinf isnan isneginf isposinf iscomplex isreal real imag conj conjugate "
              "angle logical_not frexp modf nan_to_num")
UNARY_INT = "invert bitwise_not bitwise_invert bitwise_count"
BINARY = ("add subtract multiply divide true_divide floor_divide mod remainder fmod divmod "
          "power pow float_power maximum minimum fmax fmin arctan2 atan2 hypot copysign "
          "nextafter logaddexp logaddexp2 heaviside ldexp equal not_equal less less_equal "
          "greater greater_equal logical_and logical_or logical_xor isclose")
BINARY_INT = ("bitwise_and bitwise_or bitwise_xor left_shift right_shift bitwise_left_shift "
              "bitwise_right_shift gcd lcm")

add("np", UNARY_MATH, [K(A((2, 3), d)) for d in DTYPES], pick=1)
add("np", UNARY_MATH, [K(A(s, "float32")) for s in SHAPES if s != (2, 3)] + [K(2.5), K(3)] +
    [K(A((5,), "float64", "nan"))] * 2, pick=1)
add("np", UNARY_INT, [K(A((2, 3), d)) for d in ["bool", "int32", "int64", "uint8", "float32"]]
    + [K(A((), "int32")), K(7)])
add("np", "around round", [K(A((2, 3), "float64"), 1), K(A((2, 3), "float32"), decimals=-1),
                           K(A((4,), "int32"), decimals=-1), K(A((4,), "int32"), 2)])
add("np", "nan_to_num", [K(C([np.nan, np.inf, -np.inf, 1.0]), nan=-1.0, posinf=9.0),
                         K(C([np.nan, np.inf, -np.inf, 1.0], "float32"), copy=False, neginf=0),
                         K(C([np.nan + 1j * np.inf, 1.0], "complex64"))])
add("np", "angle", [K(A((3,), "complex64"), deg=True), K(A((3,), "float32"), True)])

_PAIRS = [(d, d) for d in DTYPES] + [
    ("int32", "float32"), ("uint8", "int32"), ("bool", "float32"), ("float32", "float64"),
    ("int64", "float32"), ("float32", "complex64"), ("uint8", "float32"), ("int32", "int64"),
    ("bool", "int32"), ("float64", "complex64")]
_SHAPE_PAIRS = [((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (2, 3)), ((0,), (1,))]
add("np", BINARY, [K(A((2, 3), d1), A((3,), d2)) for d1, d2 in _PAIRS], pick=1)
add("np", BINARY, [K(A(s1, "float32"), A(s2, "float32")) for s1, s2 in _SHAPE_PAIRS] +
    [K(A((3,), "float32"), 2), K(A((3,), "int32"), 2.5), K(1.5, A((3,), "float32")),
     K(A((3,), "int32"), 3), K(A((3,), "bool"), True), K(2, 3), K(A((3,), "uint8"), 3)], pick=1)
add("np", BINARY_INT, [K(A((2, 3), d), A((3,), d)) for d in ["bool", "int32", "int64", "uint8"]]
    + [K(A((3,), "int32"), 2), K(A((3,), "uint8"), A((3,), "int32")),
       K(A((3,), "int32", "positive"), A((3,), "int32", "positive")),
       K(A((3,), "float32"), A((3,), "float32"))], pick=2)
add("np", "isclose allclose", [K(A((3,), "float32"), A((3,), "float32"), rtol=10.0),
                               K(C([1.0, np.nan]), C([1.0, np.nan]), equal_nan=True),
                               K(C([1.0, np.inf]), C([1.0, np.inf])),
                               K(A((3,), "int32"), A((3,), "int32"))])
add("np", "array_equal array_equiv", [K(A((3,), "int32"), A((3,), "int32")),
                                      K(C([1, 2]), C([[1, 2], [1, 2]])),
                                      K(C([1.0, np.nan]), C([1.0, np.nan])),
                                      K(C([1, 2]), C([1, 2, 3]))])
add("np", "array_equal", [K(C([1.0, np.nan]), C([1.0, np.nan]), equal_nan=True)])
add("np", "clip", [K(A((2, 3), "float32"), -0.5, 0.5), K(A((2, 3), "int32"), 0, 3.5),
                   K(A((2, 3), "float64"), min=A((3,), "float64")), K(A((4,), "int32"), max=2),
                   K(A((4,), "uint8"), 2, 5)])
add("np", "where", [K(A((2, 3), "bool"), A((2, 3), "float32"), A((3,), "float32")),
                    K(A((2, 3), "bool"), 1, 2.5), K(A((3,), "int32"), A((3,), "int32"), 0.5),
                    K(A((3,), "bool"))])
add("np", "heaviside", [K(C([-1.0, 0.0, 2.0]), 0.5)])
add("np", "interp", [K(A((5,), "float32"), C([-1.0, 0.0, 1.0]), C([0.0, 2.0, 1.0])),
                     K(C([-2.0, 0.5, 3.0]), C([-1.0, 0.0, 1.0]), C([0.0, 2.0, 1.0]),
                       left=-9.0, right=9.0),
                     K(C([0.5, 7.0]), C([0.0, 1.0, 2.0]), C([1.0, 2.0, 3.0]), period=3.0),
                     K(A((3,), "float64"), C([0, 1, 2]), C([1, 2, 3]))])
add("np", "unwrap", [K(C([0.0, 3.0, 6.5, 1.0, -6.0])), K(A((2, 5), "float32"), axis=0),
                     K(C([0, 3, 7, 1]), period=4)])

# ------------------------------------------------------------------------- reductions
REDUCE = "sum prod max min amax amin all any mean var std ptp count_nonzero argmax argmin"
NANREDUCE = "nansum nanprod nanmax nanmin nanmean nanvar nanstd nanargmax nanargmin"
_AXES = [K(axis=None), K(axis=0), K(axis=-1), K(axis=(0, 2)), K(axis=1, keepdims=True),
         K(axis=(0, -1), keepdims=True)]
add("np", REDUCE, [K(A((2, 3, 2), d)) for d in DTYPES], pick=1)
add("np", REDUCE, [K(A((2, 3, 2), "float32"), **kw) for _, kw in _AXES], pick=1)
add("np", REDUCE, [K(A((2, 3), "int32"), axis=1, keepdims=True), K(A((), "float32")),
                   K(A((0, 3), "float32")), K(A((0, 3), "float32"), axis=0),
                   K(A((0, 3), "float32"), axis=1), K(4.0), K(A((2, 3), "float32"), axis=2),
                   K(A((2, 3), "float32"), axis=(0, 0))], pick=1)
add("np", "sum prod mean", [K(A((2, 3), d), dtype=t) for d in ["int32", "bool", "uint8",
                                                                 "float32"]
                            for t in ["float64", "int64", "float32"]] +
    [K(A((2, 3), "float32"), where=A((2, 3), "bool")),
     K(A((2, 3), "int32"), axis=1, where=A((3,), "bool"))], pick=2)
add("np", "sum prod max min amax amin", [K(A((2, 3), "float32"), initial=1.5),
                                        K(A((2, 3), "int32"), axis=0, initial=2),
                                        K(A((0,), "float32"), initial=3.0)], pick=2)
add("np", "max min", [K(A((2, 3), "float32"), where=A((2, 3), "bool"), initial=-1.0),
                      K(A((2, 3), "float32"), where=A((2, 3), "bool"))])
add("np", "all any", [K(A((2, 3), "float32"), where=A((2, 3), "bool"), axis=0),
                      K(A((2, 3), "bool"), axis=(0, 1), keepdims=True)])
add("np", "var std nanvar nanstd", [K(A((2, 3), "float32"), ddof=1),
                                    K(A((2, 3), "float32"), axis=0, ddof=2),
                                    K(A((2, 3), "complex64"), axis=1),
                                    K(A((2, 3), "float32"), correction=1),
                                    K(A((2, 3), "int32"), dtype="float64")], pick=2)
add("np", "var std mean", [K(A((2, 3), "float32"), where=A((2, 3), "bool"), axis=1)])
add("np", "argmax argmin nanargmax nanargmin", [K(A((2, 3), "float32"), axis=1, keepdims=True),
                                                K(C([[np.nan, 1.0], [2.0, 1.0]]), axis=0),
                                                K(A((0,), "float32")),
                                                K(C([1, 3, 3, 1]))], pick=1)
add("np", NANREDUCE + " nancumsum nancumprod", [K(A((2, 4), "float64", "nan")),
                                                K(A((2, 4), "float32", "nan"), axis=0),
                                                K(A((2, 4), "int32"), axis=-1),
                                                K(C([[np.nan, np.nan], [1.0, 2.0]]), axis=1)],
    pick=1)
add("np", "nansum nanprod nanmean nanmax nanmin",
    [K(A((2, 4), "float32", "nan"), axis=1, keepdims=True)])
add("np", "cumsum cumprod nancumsum nancumprod cumulative_sum cumulative_prod",
    [K(A((2, 3), d), axis=1) for d in ["bool", "int32", "uint8", "float32", "complex64"]] +
    [K(A((2, 3), "float32"), axis=-2), K(A((2, 3), "int32"), axis=0, dtype="float32"),
     K(A((4,), "float32"))], pick=1)
add("np", "cumsum cumprod", [K(A((2, 3), "float32")), K(A((), "float32"))])
add("np", "cumulative_sum cumulative_prod", [K(A((2, 3), "float32"), axis=1,
                                                 include_initial=True),
                                               K(A((3,), "int32"), include_initial=True)])
add("np", "median nanmedian", [K(A((3, 4), "float32")), K(A((3, 4), "float64"), axis=1),
                               K(A((3, 4), "int32"), axis=0, keepdims=True),
                               K(A((3, 5), "float64", "nan"), axis=-1),
                               K(A((2, 3, 2), "float32"), axis=(0, 2))])
for _m in ["linear", "lower", "higher", "midpoint", "nearest"]:
    add("np", "quantile nanquantile", [K(A((3, 5), "float64"), 0.3, axis=1, method=_m)])
    add("np", "percentile" if _m in ("lower", "nearest") else "percentile nanpercentile",
        [K(A((3, 5), "float32"), C([10.0, 50.0, 95.0]), method=_m)])
add("np", "quantile nanquantile", [K(A((6,), "int32"), 0.5), K(A((3, 4), "float32"),
                                                               C([0.1, 0.9]), axis=0,
                                                               keepdims=True),
                                   K(A((6,), "float64", "nan"), 0.25),
                                   K(A((3,), "float32"), 1.5)])
add("np", "average", [K(A((2, 3), "float32")), K(A((2, 3), "int32"), axis=1),
                      K(A((2, 3), "float64"), axis=1, weights=A((3,), "float64", "positive")),
                      K(A((2, 3), "float32"), weights=A((2, 3), "float32", "positive"),
                        returned=True),
                      K(A((2, 3), "float32"), axis=0, keepdims=True)])


# ------------------------------------------------------------------------- shapes, indexing
X23, X234 = A((2, 3), "float32"), A((2, 3, 4), "float32")
add("np", "reshape", [K(X23, (3, 2)), K(X23, -1), K(X23, (-1, 2)), K(X23, (4, 2)),
                      K(X23, (3, -1), order="F"), K(X23, shape=(6,))])
add("np", "ravel", [K(X23), K(X234, order="F")])
add("np", "transpose permute_dims", [K(X234, (2, 0, 1)), K(X234, (0, 1))])
add("np", "transpose", [K(X234), K(X234, axes=(-1, 0, 1))])
add("np", "matrix_transpose", [K(X234), K(A((3,)))])
add("np", "swapaxes", [K(X234, 0, -1), K(X234, 1, 3)])
add("np", "moveaxis", [K(X234, 0, -1), K(X234, (0, 1), (2, 0)), K(X234, 0, 3)])
add("np", "rollaxis", [K(X234, 2), K(X234, 2, 1), K(X234, -1, 0)])
add("np", "expand_dims", [K(X23, 0), K(X23, -1), K(X23, (0, 3)), K(X23, 4), K(X23, (1, 1))])
add("np", "squeeze", [K(A((1, 3, 1))), K(A((1, 3, 1)), 0), K(A((1, 3, 1)), (0, -1)),
                      K(A((1, 3, 1)), 1)])
add("np", "broadcast_to", [K(A((3,)), (2, 3)), K(A((2, 1)), (2, 4)), K(A((3,)), (4,)),
                           K(2.0, (2,))])
add("np", "broadcast_arrays", [K(A((3,)), A((2, 1), "int32")), K(A((3,)), A((2,)))])
add("np", "broadcast_shapes", [K((2, 1), (3,)), K((2,), (3,)), K((), (0, 4))])
add("np", "atleast_1d atleast_2d atleast_3d", [K(A(())), K(A((3,))), K(X23), K(X234),
                                               K(A(()), A((2,)))])
add("np", "concatenate concat", [K([X23, A((1, 3), "float64")]), K([X23, X23], axis=1),
                                  K([X23, X23], axis=None), K([X23, A((2, 2))], axis=-1),
                                  K([X23, A((2, 2))]), K((A((2,), "int32"), A((3,), "uint8")))])
add("np", "concatenate", [K([X23, X23], axis=0, dtype="float64")])
add("np", "stack", [K([X23, X23]), K([X23, X23], axis=-1), K([X23, A((3, 2))]),
                    K([A((3,), "int32"), A((3,), "float32")], 1)])
add("np", "hstack vstack dstack column_stack",
    [K([A((3,)), A((3,))]), K([X23, X23]), K((A(()), A(()))), K([A((3,), "int32"), A((3,))])],
    pick=3)
add("np", "flip", [K(X234), K(X234, 1), K(X234, (0, 2)), K(X234, axis=-1)])
add("np", "fliplr flipud", [K(X23), K(X234)])
add("np", "rot90", [K(X23), K(X234, 2), K(X234, -1, axes=(1, 2)), K(X23, k=5)])
add("np", "roll", [K(X23, 1), K(X23, -2, axis=1), K(X234, (1, 2), axis=(0, 2)), K(X23, 7, 0)])
add("np", "split array_split", [K(A((6, 2)), 3), K(A((6, 2)), [1, 4]), K(A((6, 2)), 2, axis=1),
                                K(A((7,)), 3)])
add("np", "hsplit vsplit dsplit", [K(A((4, 4, 4)), 2), K(A((4, 4, 4)), [1, 3])])
add("np", "unstack", [K(X234), K(X234, axis=-1)])
add("np", "tile", [K(A((3,)), 2), K(X23, (2, 1)), K(X23, (2, 1, 2)), K(A(()), (0, 2))])
add("np", "repeat", [K(A((3,)), 2), K(X23, 2, axis=1), K(X23, C([1, 0, 2]), axis=1),
                     K(X23, C([1, 2]), axis=0, total_repeat_length=3),
                     K(X23, 3, axis=None)])
add("np", "append", [K(A((3,)), A((2,))), K(X23, A((1, 3)), axis=0), K(X23, 5.0)])
add("np", "insert", [K(A((4,)), 1, 9.0), K(X23, 1, A((2,)), axis=1), K(A((4,)), [0, 2], 7.0),
                     K(A((4,)), -1, 3.0)])
add("np", "delete", [K(A((4,)), 1), K(X23, [0, 2], axis=1), K(A((5,)), slice(1, 4)),
                     K(X23, -1, axis=0)])
add("np", "take", [K(A((5,)), C([0, 4, 2])), K(X23, C([1, 0]), axis=1),
                   K(X23, C([[0, 1], [1, 2]]), axis=1), K(X23, 2), K(A((5,)), C([7]), mode="clip"),
                   K(A((5,)), C([7, -7]), mode="wrap"), K(A((5,)), C([7]), mode="fill",
                                                          fill_value=-1.0)])
add("np", "take_along_axis", [K(X23, C([[0, 2], [1, 0]]), axis=1),
                              K(X23, C([[1, 0, 1]]), axis=0), K(A((4,)), C([3, 0]), axis=None)])
add("np", "put_along_axis", [K(X23, C([[0], [2]]), 9.0, axis=1, inplace=False)])
add("np", "compress", [K(C([True, False, True]), X23, axis=1), K(C([0, 1]), X23, axis=0),
                       K(C([1, 0, 1]), X23)])
add("np", "extract", [K(C([[True, False, True], [False, False, True]]), X23)])
add("np", "select", [K([A((3,), "bool"), A((3,), "bool")], [A((3,)), A((3,))], 9.0),
                     K([A((3,), "bool")], [A((3,), "int32")])])
add("np", "choose", [K(C([0, 1, 2, 1]), [A((4,)), A((4,)), A((4,))]),
                     K(C([0, 3]), [A((2,)), A((2,))], mode="clip"),
                     K(C([0, 3]), [A((2,)), A((2,))], mode="wrap")])
add("np", "resize", [K(A((3,)), (2, 4)), K(X23, 4), K(A((3,)), (0,))])
add("np", "trim_zeros", [K(C([0, 0, 1, 2, 0])), K(C([0, 1, 0]), "f"), K(C([0, 1, 0]), trim="b")])
add("np", "block", [K([[A((2, 2)), A((2, 1))], [A((1, 2)), A((1, 1))]]), K([A((2,)), A((3,))])])
add("np", "diagonal", [K(A((3, 4))), K(A((3, 4)), 1), K(A((3, 4)), -2), K(A((2, 3, 4)), 0, 2, 1),
                       K(A((3, 4)), 5)])
add("np", "diag", [K(A((3,))), K(A((3,)), 1), K(A((3, 4)), -1), K(A((3, 4)), k=7)])
add("np", "diagflat", [K(X23), K(A((2,)), -1)])
add("np", "tril triu", [K(A((3, 4))), K(A((3, 4)), 1), K(A((2, 3, 4)), -1), K(A((4,)))])
add("np", "trace", [K(A((3, 4))), K(A((3, 4)), 1), K(A((2, 3, 4)), 0, 1, 2),
                    K(A((3, 3), "int32")), K(A((3, 3), "int32"), dtype="float32")])
add("np", "diff", [K(A((5,))), K(A((5,)), 2), K(X23, axis=0), K(A((5,), "int32"), prepend=1),
                   K(A((5,)), append=C([0.0, 1.0])), K(A((5,), "bool")), K(A((5,)), 0)])
add("np", "ediff1d", [K(X23), K(A((4,)), to_begin=-1.0, to_end=C([9.0, 8.0]))])
add("np", "pad", [K(X23, 1), K(X23, ((1, 0), (0, 2))), K(X23, 1, mode="edge"),
                  K(X23, 2, mode="reflect"), K(X23, 2, mode="symmetric"), K(X23, 2, mode="wrap"),
                  K(X23, 1, constant_values=7), K(X23, (1, 2), mode="linear_ramp",
                                                   end_values=3.0),
                  K(X23, 2, mode="maximum"), K(X23, 1, mode="mean"),
                  K(A((4,), "int32"), 3, mode="reflect", reflect_type="odd"),
                  K(X23, 1, mode="empty")])
add("np", "shape ndim size", [K(X23), K(3.0), K([1, 2])])
add("np", "size", [K(X23, 1), K(X23, axis=-1)])
add("np", "astype", [K(X23, "int32"), K(A((3,), "int32"), "float32"), K(A((3,)), "bool"),
                     K(A((3,), "complex64"), "float32")])
add("np", "copy", [K(X23), K(A((3,), "int32"))])

# ------------------------------------------------------------------------- sorting, sets
add("np", "sort argsort", [K(A((3, 4))), K(A((3, 4)), axis=0), K(A((3, 4)), axis=None),
                           K(A((5,), "int32"), descending=True), K(A((6,), "float64", "nan")),
                           K(A((4,), "bool")), K(A((3, 4)), stable=True, axis=-1)])
add("np", "sort_complex", [K(A((5,), "complex64")), K(A((5,), "int32"))])
add("np", "lexsort", [K((C([1, 1, 0, 0]), C([2, 1, 2, 1]))), K(C([[1, 0, 1], [0, 0, 1]])),
                      K((C([1, 1, 0]), C([2, 1, 2])), axis=0)])
add("np", "partition argpartition", [K(C([5, 1, 4, 2, 3]), 2), K(A((3, 5)), 1, axis=0),
                                     K(A((3, 5)), -1)])
add("np", "searchsorted", [K(C([1.0, 2.0, 2.0, 5.0]), C([0.0, 2.0, 6.0])),
                           K(C([1.0, 2.0, 2.0, 5.0]), C([2.0, 3.0]), side="right"),
                           K(C([1, 2, 3]), 2), K(C([3, 1, 2]), C([2, 3]), sorter=C([1, 2, 0])),
                           K(C([1, 2, 3]), C([[1, 4]]), side="left", method="compare_all")])
add("np", "digitize", [K(C([0.5, 1.5, 3.0]), C([1.0, 2.0])),
                       K(C([0.5, 1.0, 3.0]), C([1.0, 2.0]), right=True),
                       K(C([0.5, 1.5]), C([2.0, 1.0]))])
add("np", "nonzero flatnonzero argwhere", [K(C([[0, 1], [2, 0]])), K(C([0.0, 1.5])),
                                           K(C([True, False]))])
add("np", "nonzero", [K(C([0, 3, 1]), size=4, fill_value=-1), K(C([0, 3, 1]), size=1)])
add("np", "argwhere flatnonzero", [K(C([0, 3, 1]), size=3, fill_value=9)])
add("np", "count_nonzero", [K(C([[0, 1], [2, 0]]), axis=0, keepdims=True)])
add("np", "unique", [K(C([3, 1, 3, 2])), K(C([3, 1, 3, 2]), return_counts=True),
                     K(C([3, 1, 3, 2]), return_index=True, return_inverse=True),
                     K(C([[1, 2], [1, 2], [0, 5]]), axis=0), K(C([1.0, np.nan, np.nan])),
                     K(C([1.0, np.nan, np.nan]), equal_nan=False),
                     K(C([3, 1, 3]), size=4, fill_value=0), K(C([[3, 1], [3, 0]]))])
add("np", "unique_values unique_counts unique_inverse unique_all",
    [K(C([3, 1, 3, 2])), K(C([[3, 1], [1, 1]]))])
add("np", "intersect1d union1d setdiff1d setxor1d", [K(C([1, 3, 4, 3]), C([3, 1, 2, 1])),
                                                     K(C([1.0, 2.0]), C([2, 5]))])
add("np", "intersect1d", [K(C([1, 3, 4, 3]), C([3, 1, 2, 1]), return_indices=True)])
add("np", "setdiff1d", [K(C([1, 2, 3]), C([2]), assume_unique=True)])
add("np", "isin", [K(C([1, 2, 3]), C([2, 5])), K(C([[1, 2], [3, 4]]), C([4, 1]), invert=True),
                   K(C([1.0, 2.0]), 2)])
add("np", "bincount", [K(C([0, 1, 1, 3])), K(C([0, 1, 1, 3]), weights=C([0.5, 1.0, 1.0, 2.0])),
                       K(C([0, 1]), minlength=4), K(C([0, 1, 3]), length=2)])
add("np", "histogram", [K(C([0.1, 0.5, 0.7, 2.0])), K(C([0.1, 0.5, 0.7, 2.0]), bins=3),
                        K(C([0.1, 0.5, 0.7, 2.0]), bins=C([0.0, 0.5, 1.0]), density=True),
                        K(C([0.1, 0.5, 2.0]), bins=2, range=(0.0, 1.0),
                          weights=C([1.0, 2.0, 3.0]))])
add("np", "histogram_bin_edges", [K(C([0.1, 0.5, 2.0]), 4), K(C([0.1, 0.5, 2.0]), 2,
                                                               range=(0, 1))])

# ------------------------------------------------------------------------- products, linalg
add("np", "matmul dot", [K(A((2, 3)), A((3, 4))), K(A((3,)), A((3,))), K(A((2, 3)), A((3,))),
                         K(A((2, 2, 3)), A((3, 2))), K(A((2, 3), "int32"), A((3, 2), "int32")),
                         K(A((2, 3), "float32"), A((3,), "float64")),
                         K(A((2, 3), "complex64"), A((3, 2))), K(A((2, 3)), A((4, 2))),
                         K(A((2, 3), "bool"), A((3,), "bool"))])
add("np", "matmul", [K(A((2, 1, 2, 3)), A((3, 3, 2))), K(A((2, 3)), 2.0)])
add("np", "dot", [K(A((2, 3)), 2.0), K(A((2, 3, 4)), A((5, 4, 2)))])
add("np", "inner outer vdot kron", [K(A((3,)), A((3,))), K(A((2, 3)), A((2, 3))),
                                    K(A((3,), "int32"), A((3,))), K(A((3,), "complex64"),
                                                                    A((3,), "complex64"))])
add("np", "tensordot", [K(A((2, 3, 4)), A((4, 3)), 2), K(A((2, 3)), A((3, 2)), axes=1),
                        K(A((2, 3, 4)), A((3, 2)), axes=([1, 0], [0, 1])), K(A((2,)), A((3,)), 0)])
add("np", "vecdot", [K(A((2, 3)), A((3,))), K(A((2, 3)), A((2, 3)), axis=0),
                     K(A((3,), "complex64"), A((3,), "complex64"))])
add("np", "matvec", [K(A((2, 3)), A((3,))), K(A((4, 2, 3)), A((4, 3)))])
add("np", "vecmat", [K(A((2,)), A((2, 3))), K(A((4, 2)), A((2, 3)))])
add("np", "cross", [K(A((3,)), A((3,))), K(A((2, 3)), A((3,))), K(A((2,)), A((3,))),
                    K(A((3, 2)), A((3, 2)), axis=0), K(A((2,)), A((2,)))])
add("np", "einsum", [K("ij,jk->ik", A((2, 3)), A((3, 4))), K("ii", A((3, 3))),
                     K("i,i", A((3,)), A((3,), "int32")), K("...ij->...ji", A((2, 3, 4))),
                     K("ij->", A((2, 3))), K("bij,bjk->bik", A((2, 2, 3)), A((2, 3, 2))),
                     K("i,j->ij", A((2,)), A((3,))), K("ij,jk", A((2, 3)), A((3, 2)))])
_SQ = A((3, 3), "float64")
add("linalg", "det slogdet inv eigvalsh cholesky matrix_rank pinv svdvals cond qr eigvals",
    [K(C([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])),
     K(C([[[2.0, 1.0], [1.0, 2.0]], [[3.0, 0.5], [0.5, 1.0]]], "float32"))], tol=(1e-4, 1e-5))
add("linalg", "det slogdet inv", [K(_SQ), K(A((3, 3), "complex64"))], tol=(1e-4, 1e-5))
add("linalg", "qr", [K(A((4, 3), "float64"), mode="r"), K(A((3, 4), "float64"), mode="complete"),
                     K(A((4, 3), "float64"), "raw")], tol=(1e-8, 1e-10))
add("linalg", "solve", [K(_SQ, A((3,), "float64")), K(_SQ, A((3, 2), "float64")),
                        K(A((2, 3, 3), "float64"), A((2, 3), "float64")),
                        K(A((2, 3, 3), "float64"), A((3,), "float64"))], tol=(1e-8, 1e-10))
add("linalg", "lstsq", [K(A((4, 2), "float64"), A((4,), "float64")),
                        K(A((4, 2), "float64"), A((4, 3), "float64"), rcond=None)],
    tol=(1e-8, 1e-10))
add("linalg", "norm", [K(A((3, 4))), K(A((4,)), 1), K(A((4,)), np.inf), K(A((4,)), -np.inf),
                       K(A((4,)), 0), K(A((4,)), 3), K(A((3, 4)), "fro"), K(A((3, 4)), "nuc"),
                       K(A((3, 4)), 1), K(A((3, 4)), -1), K(A((3, 4)), 2), K(A((3, 4)), -2),
                       K(A((3, 4)), np.inf), K(A((3, 4)), axis=1), K(A((2, 3, 4)), axis=(1, 2)),
                       K(A((3, 4)), keepdims=True), K(A((3, 4), "int32")),
                       K(A((3,), "complex64")), K(A((2, 3, 4))), K(A((3, 4)), ord=3)],
    pick=8, tol=(1e-5, 1e-6))
add("linalg", "vector_norm", [K(A((3, 4))), K(A((3, 4)), axis=0, ord=1),
                              K(A((3, 4)), ord=0.5, keepdims=True), K(A((3, 4), "int32"))],
    tol=(1e-5, 1e-6))
add("linalg", "matrix_norm", [K(A((3, 4))), K(A((2, 3, 4)), ord="nuc"), K(A((3, 4)), ord=1)],
    tol=(1e-5, 1e-6))
add("linalg", "matrix_power", [K(A((3, 3)), 3), K(A((3, 3), "int32"), 2),
                               K(C([[2.0, 1.0], [0.5, 3.0]]), -2), K(A((3, 3)), 0)],
    tol=(1e-4, 1e-6))
add("linalg", "eigh", [K(C([[2.0, 1.0], [1.0, 3.0]])), K(C([[2.0, 1.0], [1.0, 3.0]]), UPLO="U")],
    tol=(1e-8, 1e-10))
add("linalg", "svd", [K(A((3, 2), "float64"), compute_uv=False),
                      K(A((3, 2), "float64"), full_matrices=False, compute_uv=False)])
add("linalg", "multi_dot", [K([A((2, 3)), A((3, 4)), A((4,))]), K([A((3,)), A((3, 2))])])
add("linalg", "tensorinv", [K(A((4, 2, 2), "float64"), ind=1)], tol=(1e-8, 1e-10))
add("linalg", "tensorsolve", [K(A((2, 2, 4), "float64"), A((2, 2), "float64"))],
    tol=(1e-8, 1e-10))
add("linalg", "cross outer vecdot matmul tensordot trace diagonal matrix_transpose",
    [K(A((2, 3)), A((2, 3))), K(A((3,)), A((3,)))])
add("linalg", "trace diagonal matrix_transpose", [K(A((2, 3, 3))), K(A((3, 4)), offset=1)])

# ------------------------------------------------------------------------- fft
_F = A((4, 6), "float64")
add("fft", "fft ifft rfft ihfft", [K(_F), K(_F, 8), K(_F, 3, axis=0), K(_F, norm="ortho"),
                                   K(_F, norm="forward"), K(A((5,), "float32")),
                                   K(A((5,), "int32"))], pick=4, tol=(1e-5, 1e-9))
add("fft", "fft ifft", [K(A((5,), "complex64")), K(A((4,), "complex128"), n=6)],
    tol=(1e-5, 1e-6))
add("fft", "irfft hfft", [K(A((4, 4), "complex128")), K(A((4, 4), "complex128"), 6),
                          K(A((4,), "complex64"), norm="ortho"), K(A((4,), "float64"))],
    tol=(1e-5, 1e-9))
add("fft", "fft2 ifft2 rfft2 fftn ifftn rfftn", [K(_F), K(A((2, 4, 6), "float64"), axes=(0, 2)),
                                                  K(_F, s=(3, 8)), K(_F, norm="ortho")],
    pick=2, tol=(1e-8, 1e-9))
add("fft", "irfft2 irfftn", [K(A((4, 4), "complex128")), K(A((4, 4), "complex128"), s=(4, 6))],
    tol=(1e-8, 1e-9))
add("fft", "fftfreq rfftfreq", [K(8), K(7, 0.5), K(4, d=2.0), K(5, dtype="float32")])
add("fft", "fftshift ifftshift", [K(A((5,))), K(_F, axes=0), K(_F, axes=(0, 1))])

# ------------------------------------------------------------------------- creation, misc
add("np", "zeros ones empty", [K(3), K((2, 3)), K((2,), "int32"), K((2,), dtype=bool),
                               K(()), K((0, 2))], pick=2)
add("np", "full", [K((2,), 3), K((2,), 3.5), K((2, 2), 1, "float32"), K((2,), A((2,))),
                   K((2, 3), A((3,), "int32")), K(3, True)])
add("np", "zeros_like ones_like empty_like", [K(X23), K(A((2,), "int32")),
                                              K(A((2,), "int32"), dtype="float32"),
                                              K(X23, shape=(4,)), K(3)])
add("np", "full_like", [K(X23, 2), K(A((2,), "int32"), 2.7), K(A((2,), "bool"), 5, "float64"),
                        K(X23, A((3,)), shape=(4, 3))])
add("np", "arange", [K(5), K(5.0), K(1, 7, 2), K(0.5, 3), K(5, dtype="float32"), K(0),
                     K(3, 0), K(0, 1, 0.1), K(10, 0, -3), K(2, dtype="bool"),
                     K(1, 2.5, 0.5, "float64")])
add("np", "linspace", [K(0, 1, 5), K(0, 10, 4, endpoint=False), K(0, 1, 5, retstep=True),
                       K(0, 5, 6, dtype="int32"), K(C([0.0, 1.0]), 2.0, 3),
                       K(C([0.0, 1.0]), 2.0, 3, axis=1), K(0, 1, 1), K(0, 1, 0), K(1, 2)])
add("np", "logspace", [K(0, 2, 3), K(0, 2, 3, base=2.0), K(0, 1, 4, endpoint=False)])
add("np", "geomspace", [K(1, 100, 3), K(1, 1000, 4, endpoint=False), K(-1, -100, 3)])
add("np", "eye", [K(3), K(2, 3), K(3, k=1), K(3, 2, -1, "int32"), K(0)])
add("np", "identity", [K(3), K(2, "int32")])
add("np", "tri", [K(3), K(3, 4, 1), K(3, dtype="int32")])
add("np", "meshgrid", [K(A((3,)), A((2,))), K(A((3,)), A((2,)), indexing="ij"),
                       K(A((3,)), A((2,)), sparse=True), K(A((3,)))])
add("np", "indices", [K((2, 3)), K((2, 3), sparse=True), K((2,), dtype="int32")])
add("np", "diag_indices tril_indices triu_indices", [K(3), K(3, 1)])
add("np", "tril_indices triu_indices", [K(3, 0, 4), K(3, -1), K(4, k=1, m=2)])
add("np", "diag_indices_from tril_indices_from triu_indices_from", [K(A((3, 3)))])
add("np", "tril_indices_from triu_indices_from", [K(A((3, 4)), 1), K(A((3, 4)), k=-1)])
add("np", "unravel_index", [K(C([1, 5]), (2, 3)), K(4, (2, 3)), K(C([-1, 6]), (2, 3))])
add("np", "ravel_multi_index", [K((C([0, 1]), C([2, 0])), (2, 3)),
                                 K((C([0, 3]), C([2, 0])), (2, 3), mode="clip"),
                                 K((C([0, 3]), C([2, 0])), (2, 3), mode="wrap")])
add("np", "ix_", [K(C([0, 1]), C([2, 0, 1]))])
add("np", "bartlett blackman hamming hanning", [K(5), K(1), K(0)])
add("np", "kaiser", [K(5, 3.0), K(1, 1.0)])
add("np", "vander", [K(C([1, 2, 3])), K(C([1.0, 2.0]), 3), K(C([1, 2]), increasing=True)])
add("np", "polyval", [K(C([1.0, 2.0, 3.0]), A((4,))), K(C([1, 2]), 3), K(C([2.0]), A((2, 2)))])
add("np", "polyadd polysub polymul", [K(C([1.0, 2.0]), C([3.0, 4.0, 5.0])),
                                       K(C([1, 2]), C([3]))])
add("np", "polyder", [K(C([1.0, 2.0, 3.0])), K(C([1, 2, 3, 4]), 2)])
add("np", "polyint", [K(C([1.0, 2.0, 3.0])), K(C([3.0, 6.0]), 2, k=C([1.0, 2.0]))])
add("np", "polyfit", [K(C([0.0, 1.0, 2.0, 3.0]), C([1.0, 3.0, 7.0, 13.0]), 2)],
    tol=(1e-6, 1e-8))
add("np", "convolve correlate", [K(C([1.0, 2.0, 3.0]), C([0.0, 1.0, 0.5])),
                                 K(C([1.0, 2.0, 3.0, 4.0]), C([1.0, -1.0]), "same"),
                                 K(C([1, 2, 3]), C([1, 1]), mode="valid"),
                                 K(C([1.0, 2.0]), C([1.0, 2.0, 3.0, 4.0]), "same"),
                                 K(C([1j, 2.0]), C([1.0, 1j]))])
add("np", "corrcoef cov", [K(A((3, 5), "float64")), K(A((5,), "float64"), A((5,), "float64")),
                           K(A((5, 3), "float64"), rowvar=False)], tol=(1e-8, 1e-10))
add("np", "cov", [K(A((3, 5), "float64"), bias=True), K(A((3, 5), "float64"), ddof=2),
                  K(A((2, 4), "float64"), fweights=C([1, 2, 1, 3]),
                    aweights=C([0.5, 1.0, 1.0, 2.0]))], tol=(1e-8, 1e-10))
add("np", "gradient", [K(C([1.0, 4.0, 9.0, 16.0])), K(C([1.0, 4.0, 9.0]), 2.0),
                       K(A((3, 4), "float64")), K(A((3, 4), "float64"), axis=1),
                       K(C([1.0, 4.0, 9.0]), C([0.0, 1.0, 3.0])),
                       K(C([1.0, 4.0, 9.0, 3.0]), edge_order=2)])
add("np", "trapezoid", [K(C([1.0, 2.0, 4.0])), K(C([1.0, 2.0, 4.0]), dx=0.5),
                        K(C([1.0, 2.0, 4.0]), C([0.0, 1.0, 3.0])), K(A((3, 4)), axis=0)])
add("np", "iscomplexobj isrealobj isscalar", [K(X23), K(A((2,), "complex64")), K(3.0),
                                              K(A(())), K([1, 2])])
add("np", "result_type", [K("int32", "float32"), K(A((2,), "uint8"), 3), K(1.0, "int32"),
                          K("int64", "uint64")])
add("np", "promote_types", [K("int32", "float32"), K("uint8", "int8"), K("bool", "complex64")])
add("np", "can_cast", [K("int32", "float32"), K("float64", "float32"),
                       K("float64", "float32", "same_kind")])
add("np", "array asarray", [K([1, 2]), K([1.0, 2]), K([[1, 2], [3, 4]], dtype="float32"),
                            K(X23), K(3), K(2.5), K(True), K([]), K([1, 2.5j]),
                            K((A(()), A((), "float64")))], pick=3)
add("np", "apply_along_axis", [K(np.sum, 1, X23), K(np.cumsum, 0, X23)])
add("np", "fromfunction", [K(lambda i, j: i + j, (2, 3)), K(lambda i: i * 2, (3,),
                                                             dtype="float32")])
add("np", "ldexp", [K(A((3,)), C([1, 2, -1]))])
add("np", "frexp", [K(C([0.0, 1.5, -8.0, np.inf]))])
add("np", "divmod floor_divide remainder fmod", [K(C([-7, 7, -7, 7]), C([2, 2, -2, -2])),
                                                 K(C([-7.5, 7.0, -0.0]), C([2.0, -2.0, 3.0]))])
add("np", "gcd lcm", [K(C([12, -18, 0]), C([8, 12, 5])), K(C([4, 6]), 0)])

# ------------------------------------------------------------------------- lax
LAX_UNARY = ("abs acos acosh asin asinh atan atanh cbrt ceil conj cos cosh exp exp2 expm1 "
             "floor imag is_finite log log1p logistic neg real reciprocal round rsqrt sign sin "
             "sinh sqrt square tan tanh erf erfc erf_inv lgamma digamma")
add("lax", LAX_UNARY, [K(A((2, 3), d)) for d in ["float32", "float64", "complex64", "int32"]] +
    [K(A((2, 3), "float64", "unit"))], pick=1, tol=(1e-5, 1e-6))
add("lax", "bitwise_not population_count", [K(A((3,), d)) for d in ["int8", "int32", "uint8",
                                                                     "bool", "float32"]])
LAX_BINARY = "add sub mul div rem pow max min atan2 nextafter eq ne lt le gt ge complex"
add("lax", LAX_BINARY, [K(A((2, 3), d), A((2, 3), d)) for d in ["float32", "float64", "int32",
                                                                 "complex64", "bool"]] +
    [K(A((2, 3)), A((2, 3), "float64")), K(A((2, 3)), A((3,))), K(A((2, 3)), 2.0),
     K(A((2, 3), "int32"), 2), K(A((2, 3), "int32"), 2.5)], pick=1, tol=(1e-5, 1e-6))
add("lax", "bitwise_and bitwise_or bitwise_xor shift_left",
    [K(A((3,), d), A((3,), d, "positive")) for d in ["int32", "uint8", "bool"]] +
    [K(A((3,), "int32"), A((3,), "int64"))])
add("lax", "convert_element_type", [K(A((3,)), "int32"), K(A((3,), "float64"), "float32"),
                                    K(A((3,), "complex64"), "float32"),
                                    K(A((3,), "int32"), "bool"), K(2.5, "int32"),
                                    K(A((3,)), new_dtype="float16")])
add("lax", "reduce_sum reduce_prod reduce_max reduce_min",
    [K(A((2, 3, 2), d), (0, 2)) for d in ["float32", "int32", "float64"]] +
    [K(A((2, 3)), ()), K(A((2, 3)), axes=(1,)), K(A((2, 3)), (2,))], tol=(1e-5, 1e-6))
add("lax", "reduce_and reduce_or reduce_xor",
    [K(A((2, 3), "bool"), (0,)), K(A((2, 3), "int32"), (1,))])
add("lax", "argmax argmin", [K(A((2, 3)), 1, "int32"), K(A((2, 3)), axis=0, index_dtype="int64"),
                             K(A((2, 3), "int32"), 0, "int32")])
add("lax", "cumsum cumprod cummax cummin", [K(A((2, 3))), K(A((2, 3)), axis=1),
                                            K(A((2, 3), "int32"), 1, reverse=True),
                                            K(A((2, 3), "bool"), 0)])
add("lax", "broadcast_in_dim", [K(A((3,)), (2, 3), (1,)), K(A((1, 3)), (2, 4, 3), (0, 2)),
                                K(A((3,)), (2, 3), (0,))])
add("lax", "reshape", [K(A((2, 3)), (3, 2)), K(A((2, 3)), (3, 2), (1, 0)), K(A((2, 3)), (4,))])
add("lax", "transpose", [K(A((2, 3, 4)), (2, 0, 1)), K(A((2, 3)), (0,))])
add("lax", "squeeze expand_dims", [K(A((1, 3, 1)), (0,)), K(A((1, 3, 1)), (0, 2))])
add("lax", "rev", [K(A((2, 3)), (0,)), K(A((2, 3)), (0, 1)), K(A((2, 3)), ())])
add("lax", "concatenate", [K([A((2, 3)), A((1, 3))], 0), K([A((2, 3)), A((2, 1))], 1),
                           K([A((2, 3)), A((2, 3), "float64")], 0)])
add("lax", "pad", [K(A((2, 3)), 0.0, ((1, 0, 0), (0, 2, 1))), K(A((3,)), 1.0, ((-1, 1, 0),)),
                   K(A((3,), "int32"), 0, ((1, 1, 1),))])
add("lax", "slice", [K(A((4, 5)), (1, 0), (3, 5)), K(A((4, 5)), (0, 0), (4, 5), (2, 3)),
                     K(A((4, 5)), (0, 0), (5, 5))])
add("lax", "slice_in_dim", [K(A((4, 5)), 1, 3), K(A((4, 5)), 0, 5, 2, 1), K(A((4, 5)), -3, None)])
add("lax", "dynamic_slice", [K(A((4, 5)), (1, 2), (2, 2)), K(A((4, 5)), (3, 4), (2, 2)),
                             K(A((4, 5)), (-1, 0), (2, 2))])
add("lax", "dynamic_update_slice", [K(A((4, 5)), A((2, 2)), (1, 2)),
                                    K(A((4, 5)), A((2, 2)), (3, 4)),
                                    K(A((4, 5)), A((2, 2), "float64"), (0, 0))])
add("lax", "select", [K(A((3,), "bool"), A((3,)), A((3,)))])
add("lax", "iota", [K("int32", 4), K("float32", 3), K(np.int64, 0)])
add("lax", "full", [K((2,), 3.0), K((2, 3), 1, "int32"), K((), True)])
add("lax", "full_like", [K(A((2,)), 3), K(A((2,), "int32"), 1.5), K(A((2,)), 1, "int32", (3,))])
add("lax", "dot", [K(A((2, 3)), A((3, 4))), K(A((3,)), A((3,))),
                   K(A((2, 3)), A((3, 4)), preferred_element_type="float64"),
                   K(A((2, 3), "int32"), A((3,), "int32")), K(A((2, 3)), A((3,), "float64"))],
    tol=(1e-5, 1e-6))
add("lax", "dot_general", [K(A((2, 3, 4)), A((2, 4, 5)), (((2,), (1,)), ((0,), (0,)))),
                           K(A((3, 4)), A((4, 3)), (((1, 0), (0, 1)), ((), ()))),
                           K(A((3, 4), "int32"), A((4,), "int32"), (((1,), (0,)), ((), ()))),
                           K(A((3, 4)), A((5, 4)), (((1,), (1,)), ((), ())),
                             preferred_element_type="float64")], tol=(1e-5, 1e-6))
add("lax", "sort", [K(A((3, 4))), K(A((3, 4)), dimension=0), K(A((5,), "float64", "nan")),
                    K(A((3, 4)), is_stable=True, dimension=-1)])
add("lax", "polygamma", [K(C([1.0, 2.0]), C([0.5, 2.5]))], tol=(1e-6, 1e-8))
add("lax", "stop_gradient", [K(A((3,))), K(A((3,), "int32"))])

# ------------------------------------------------------------------------- scipy.special
SPECIAL_UNARY = "erf erfc erfinv expit logit gamma gammaln digamma ndtr ndtri log_ndtr i0 i1 entr"
add("special", SPECIAL_UNARY, [K(A((2, 3), "float64")), K(A((2, 3), "float32")),
                               K(A((5,), "float64", "unit")), K(A((5,), "float64", "positive")),
                               K(A((3,), "int32")), K(C([0.0, np.inf, -np.inf, np.nan]))],
    pick=1, tol=(1e-5, 1e-6))
add("special", "gamma gammaln digamma entr", [K(C([0.0, -0.0, -1.0, -2.5, np.inf, -np.inf,
                                                 np.nan]))], tol=(1e-12, 0))
add("special", "gammainc gammaincc", [K(A((4,), "float64", "positive"),
                                        A((4,), "float64", "positive")),
                                      K(A((4,), "float32", "positive"), 1.5),
                                      K(C([0.0, 1.0, -1.0]), C([1.0, 0.0, 1.0]))],
    tol=(1e-5, 1e-7))
add("special", "betaln xlogy xlog1py", [K(A((4,), "float64", "positive"),
                                         A((4,), "float64", "positive")),
                                       K(C([0.0, 0.0, 1.0]), C([0.0, -1.0, 2.0])),
                                       K(A((4,), "float32", "positive"), 2)], tol=(1e-5, 1e-7))
add("special", "betainc", [K(C([0.5, 2.0]), C([1.5, 3.0]), C([0.3, 0.9]))], tol=(1e-6, 1e-8))
add("special", "polygamma", [K(C([0, 1, 2]), C([0.5, 1.5, 3.0]))], tol=(1e-6, 1e-8))
add("special", "logsumexp", [K(A((2, 3), "float64")), K(A((2, 3)), axis=1),
                             K(A((2, 3)), axis=(0, 1), keepdims=True),
                             K(A((2, 3), "float64"), b=A((3,), "float64")),
                             K(A((3,), "float64"), b=C([1.0, -1.0, 0.5]), return_sign=True),
                             K(C([-np.inf, -np.inf])), K(A((3,), "int32")),
                             K(A((2, 3)), where=A((2, 3), "bool"))], tol=(1e-5, 1e-7))
add("special", "softmax log_softmax", [K(A((2, 3))), K(A((2, 3), "float64"), axis=0),
                                       K(A((2, 3)), axis=(0, 1)),
                                       K(A((2, 3)), where=C([[True, False, True]] * 2))],
    tol=(1e-5, 1e-7))


# ------------------------------------------------------------------------- fixed here
# calls that once differed (and one deliberate difference), kept out of the rotations above
add("lax", "div rem", [K(A((2, 3), "int32"), A((2, 3), "int32"))])
add("np", "fabs frexp isposinf isneginf", [K(A((3,), "complex64"))])
add("np", "angle median", [K(A((5,), "float64", "nan"))])
add("np", "argmax argmin", [K(A((2, 3, 2)), axis=(0, 2))])
add("np", "nanargmax nanargmin", [K(C([[np.nan, np.nan], [1.0, 2.0]]), axis=1)])
add("np", "mean", [K(A((2, 3), "int32"), axis=1, dtype="int32")])
add("np", "power", [K(A((2, 3), "int32"), A((3,), "int64"))])      # a deliberate difference
add("lax", "logistic", [K(A((2, 3), "complex64")), K(A((3,), "complex128")),
                       K(C([0j, 800 + 0j, -800 + 1j, 1j * np.pi, np.inf + 0j]))])
add("linalg", "qr", [K(A((3, 5), "float64"), mode="raw"), K(A((2, 4, 3)), mode="raw"),
                     K(A((4, 3), "complex128"), mode="raw"), K(A((3, 3), "int64"), "raw")],
    tol=(1e-5, 1e-6))
add("lax", "reduce_and reduce_or reduce_xor",
    [K(A((2, 3, 2), d), axes) for d in ("bool", "int8", "uint8", "int64")
     for axes in ((0, 2), (1,), ())] +
    [K(A((0, 3), d), (0,)) for d in ("bool", "int8", "uint8", "uint32")] +
    [K(A((3,)), (0,)), K(A((3,), "complex64"), (0,))])
add("lax", "bitwise_and bitwise_or bitwise_xor",
    [K(A((2, 3), d), A((2, 3), d)) for d in ("bool", "int8", "uint8", "int32", "int64")])
add("lax", "bitwise_not", [K(A((2, 3), d)) for d in ("bool", "int8", "uint8", "int64")])


# ------------------------------------------------------------------------- comparing
TOL = {"float16": (1e-3, 1e-3), "float32": (2e-5, 1e-6), "complex64": (2e-5, 1e-6),
       "float64": (1e-9, 1e-12), "complex128": (1e-9, 1e-12)}
NARROW = {np.dtype("float64"): np.dtype("float32"), np.dtype("complex128"): np.dtype("complex64")}


def _leaves(out):
    """A result as a flat list of (kind, value), arrays as NumPy arrays."""
    if isinstance(out, (tuple, list)):
        return [leaf for x in out for leaf in _leaves(x)]
    if isinstance(out, np.dtype) or (isinstance(out, type) and issubclass(out, np.generic)):
        return [("dtype", np.dtype(out))]
    if isinstance(out, (bool, int, float, complex)) and not isinstance(out, np.generic):
        return [(type(out).__name__, out)]
    return [("array", np.asarray(out))]


def _call(f, args, kwargs):
    try:
        return _leaves(f(*args, **kwargs)), None
    except Exception as e:      # noqa: BLE001 - what was raised is what is compared
        return None, e


def _asks_for_64_bits(args, kwargs):
    """Whether a float64/complex128 dtype is passed as an argument (dtype=, astype, ...)."""
    for v in list(args) + list(kwargs.values()):
        if isinstance(v, (list, tuple)) and _asks_for_64_bits(v, {}):
            return True
        if isinstance(v, (str, type, np.dtype)) and not isinstance(v, bool):
            try:
                if np.dtype(v) in NARROW:
                    return True
            except (TypeError, ValueError):
                pass
    return False


def _input_dtypes(args, kwargs):
    found = set()
    for v in list(args) + list(kwargs.values()):
        if isinstance(v, (list, tuple)):
            found |= _input_dtypes(v, {})
        elif isinstance(v, np.ndarray):
            found.add(v.dtype)
    return found


def _differ(ours, theirs, tol, expect_dtype=lambda d: d):
    """'' when the two flat results agree; `expect_dtype` maps JAX's dtype to the one
    functrans should give."""
    if len(ours) != len(theirs):
        return f"{len(ours)} results, JAX {len(theirs)}"
    for i, ((ok, o), (tk, t)) in enumerate(zip(ours, theirs)):
        where = f"result {i}: " if len(ours) > 1 else ""
        if ok == tk == "dtype":
            t = expect_dtype(t)
        if ok != "array" or tk != "array":
            if (ok, o) != (tk, t) and not (ok == tk == "float" and np.isnan(o) and np.isnan(t)):
                return f"{where}{ok} {o!r}, JAX {tk} {t!r}"
            continue
        want = expect_dtype(t.dtype)
        if o.dtype != want or o.shape != t.shape:
            return f"{where}{o.dtype}{list(o.shape)}, expected {want}{list(t.shape)} " \
                   f"(JAX {t.dtype})"
        rtol, atol = tol or max(TOL.get(o.dtype.name, (0, 0)), TOL.get(t.dtype.name, (0, 0)))
        try:
            np.testing.assert_allclose(o, t.astype(o.dtype) if want != t.dtype else t,
                                       rtol=rtol, atol=atol, equal_nan=True)
        except AssertionError as e:
            return where + " ".join(str(e).split())[:500]
    return ""


def _one_or_both_raised(ours_err, their_err, who="functrans"):
    if their_err is None:
        return f"{who} raised {type(ours_err).__name__}: {ours_err}"
    if ours_err is None:
        return f"JAX raised {type(their_err).__name__} ({their_err}); {who} returned"
    return ""


def _with_default_float(dtype, f, *args):
    old = ft.config.default_float_dtype
    ft.config.update("default_float_dtype", dtype)
    try:
        return f(*args)
    finally:
        ft.config.update("default_float_dtype", old)


def _jitted(f, args, kwargs):
    """f under ft.jit, its array arguments (alone or in lists) traced, the others static."""
    def traced(v):
        return isinstance(v, (np.ndarray, ft.Array)) or (
            isinstance(v, (list, tuple)) and v and
            all(isinstance(x, (np.ndarray, ft.Array)) for x in v))
    dyn = {i: v for i, v in enumerate(args) if traced(v)}
    dyn.update({k: v for k, v in kwargs.items() if traced(v)})

    def g(values):
        bound = dict(zip(dyn, values))
        return f(*[bound.get(i, v) for i, v in enumerate(args)],
                 **{k: bound.get(k, v) for k, v in kwargs.items()})
    return ft.jit(g), list(dyn.values())


def difference(case):
    """'' where functrans agrees with JAX on `case`, else the first thing that differs:
    1. functrans with default float64 against JAX with x64 (the same types; integers and
       bools that become floats take the default float, see `_x64_dtype`);
    2. with default float32 (no float64 input): JAX's dtype with float64 read as float32;
    3. ft.jit of the call against the eager call (values and dtypes), or both raise."""
    args, kwargs = case.draw()
    theirs_f, ours_f = case.functions()
    with jax.enable_x64(True):
        theirs, their_err = _call(theirs_f, args, kwargs)
    ours, our_err = _with_default_float("float64", _call, ours_f, args, kwargs)
    if their_err is not None or our_err is not None:
        return _one_or_both_raised(our_err, their_err)
    inputs = _input_dtypes(args, kwargs)
    narrow_inputs = inputs & {np.dtype(d) for d in ("float16", "float32", "complex64")}

    def x64_dtype(d):
        # functrans turns integers and bools into the default float whatever their width;
        # JAX turns int32 and narrower into float32 even with x64
        if d in (np.dtype("float32"), np.dtype("complex64")) and not narrow_inputs:
            got = {np.dtype(o.dtype) for k, o in ours if k == "array"}
            wide = {v: k for k, v in NARROW.items()}[d]
            return wide if wide in got and d not in got else d
        return d
    problem = _differ(ours, theirs, case.tol, x64_dtype)
    if problem:
        return problem
    if not inputs & set(NARROW) and not _asks_for_64_bits(args, kwargs):
        ours32, err32 = _with_default_float("float32", _call, ours_f, args, kwargs)
        if err32 is not None:
            return f"with default float32: raised {type(err32).__name__}: {err32}"
        tol32 = tuple(max(a, b) for a, b in zip(case.tol or (0, 0), TOL["float32"]))
        problem = _differ(ours32, theirs, tol32, lambda d: NARROW.get(d, d))
        if problem:
            return "with default float32: " + problem
    if any(kind != "array" for kind, _ in ours):
        return ""                    # Python values (shapes, dtypes, flags) are static
    jitted, dyn = _jitted(ours_f, args, kwargs)
    out, jit_err = _with_default_float("float64", _call, jitted, (dyn,), {})
    if isinstance(jit_err, ft.errors.ConcretizationError):
        return ""                    # the result's shape depends on values: eager only
    if jit_err is not None:
        return f"under jit: raised {type(jit_err).__name__}: {jit_err}"
    problem = _differ(out, ours, None)
    return "under jit: " + problem if problem else ""


# ------------------------------------------------------------------------- deliberate
# Differences kept on purpose: (patterns of case ids, "*" the only wildcard; why). A case
# matching one is expected to differ (a strict xfail): when functrans comes to agree with JAX
# there, the entry must go. Every entry must match some case (a test checks).
_BOOL_ARITHMETIC = ("mod remainder fmod floor_divide divmod pow power square left_shift "
                    "right_shift bitwise_left_shift bitwise_right_shift")
DELIBERATE = [
    # ---- ft.lax is the layer functrans.numpy is written in: it is more permissive than JAX's
    (" ".join(f"lax.*(*,{v})" for v in ("2.0", "2")) + " lax.*(f32[2,3],f32[3]) "
     "lax.pad(*,0.0,* lax.pad(*,1.0,* lax.pad(*,0,* !lax.atan2(i32*",
     "ft.lax binary ops take Python scalars as weak constants and broadcast operands of "
     "different ranks (JAX's lax wants equal shapes and dtypes; mixed array dtypes are refused "
     "by both)"),
    (" ".join(f"lax.{n}(b[2,3],b[2,3])" for n in ("add", "mul", "div", "rem", "pow", "atan2",
                                                   "nextafter")) + " " +
     " ".join(f"lax.{n}(c64[2,3])" for n in ("is_finite", "round", "erf", "erfc", "digamma")) +
     " lax.cum*(b[2,3],0) lax.population_count(b[3]) "
     "lax.shift_left(b[3],* "
     "lax.ge(c64* lax.gt(c64* lax.le(c64* lax.lt(c64*",
     "ft.lax binary ops compute on bool operands (atan2, nextafter: in the default float; "
     "integers they refuse, as JAX), unary ones on complex operands where SciPy/NumPy define them (erf, "
     "digamma, round, is_finite), and order complex numbers as NumPy does; JAX's lax refuses "
     "these (float-only unary ops refuse integers in both)"),
    ("lax.conj(f32[2,3]) lax.conj(*f64[2,3])",
     "lax.conj of a real array raises, pointing to functrans.numpy.conj (JAX returns a "
     "complex array)"),
    ("lax.dot(f32[2,3],f64[3])",
     "lax products never promote mixed operands (they raise, naming .astype); JAX's promote"),
    # ---- dtypes: NumPy's choices where JAX picks others
    ("argpartition(* searchsorted(* digitize(*",
     "indices are int64 (NumPy's intp, as argsort and argmax give in both); JAX returns int32 "
     "from these"),
    (" ".join(f"{f}({d}[*],{end})" for f in ("cumsum", "cumprod", "nancumsum", "nancumprod",
                                              "cumulative_prod")
              for d in ("i32", "u8") for end in ("axis=1", "axis=-1", "include_initial=True")),
     "cumulative sums and products of narrow integers accumulate in (u)int64 as NumPy's do and "
     "as sum/prod do in both; JAX keeps the input's integer type"),
    (" ".join(f"{n}(b[2,3],b[3]) {n}(b[3],True)" for n in _BOOL_ARITHMETIC.split()),
     "integer arithmetic on two bools gives int8 (NumPy's loops); JAX gives int32"),
    ("convolve(i64* correlate(i64* polyder(i64* polymul(i64* histogram(f64[0.1,0.5,0.7,2.0]) "
     "histogram(f64[0.1,0.5,0.7,2.0],bins=3)",
     "integer inputs give exact integer results (convolution, polynomial products and "
     "derivatives, histogram counts) as NumPy; JAX converts to float"),
    ("float_power(b* float_power(i* float_power(u8* float_power(f32* float_power(c64* "
     "float_power(2,3)",
     "float_power computes in float64 (complex128), NumPy's meaning of it; JAX keeps the "
     "promoted input type"),
    ("result_type('int64','uint64')",
     "int64 with uint64 promotes to float64 (NumPy) whatever the default float type"),
    # ---- values
    ("pow(*[2,3],i32[3]) pow(*[2,3],i64[3]) power(*[2,3],i32[3]) power(*[2,3],i64[3])",
     "integers to negative integer powers raise ValueError as NumPy; JAX returns "
     "meaningless values (2 ** -1 gave the minimum int64)"),
    ("percentile(*method='higher') percentile(*method='midpoint') "
     "nanpercentile(*method='higher') nanpercentile(*method='midpoint')",
     "JAX picks the next order statistic where q lands exactly on one (its position is "
     "rounded); functrans agrees with NumPy"),
    ("partition(i64[5,1,4,2,3],2)",
     "partition only orders the kth element: both results are valid partitions"),
    ("special.digamma(f64[0.0,-0.0,-1.0,-2.5,inf,-inf,nan]) "
     "special.gammaln(f64[0.0,-0.0,-1.0,-2.5,inf,-inf,nan]) special.digamma(f64[0.0,inf,*",
     "SciPy's values at the poles: digamma(0) = -inf, gammaln(-inf) = -inf (JAX: nan, inf)"),
    ("special.ndtr(i32[3]) special.ndtri(i32[3]) special.log_ndtr(i32[3])",
     "functrans.scipy.special converts integers to the default float (module docstring); "
     "JAX refuses them here"),
    ("argmax(c64* argmin(c64* argmax(c128* argmin(c128*",
     "argmax/argmin of complex values order them as NumPy does (real, then imaginary part); "
     "JAX refuses complex operands"),
    ("isscalar(f32[])",
     "isscalar of a 0-d array is False, as NumPy (JAX says True)"),
    # ---- NumPy behaviour functrans keeps where JAX refuses
    ("around(i32[4],decimals=-1) round(i32[4],decimals=-1) around(b[2,3]) round(b[2,3]) "
     "array_equiv(i64[1,2],i64[1,2,3]) delete(*,[0,2],* insert(*,[0,2],* "
     "gradient(*edge_order=2) arange(2,dtype='bool') nanstd(*correction=1) "
     "nanvar(*correction=1) arctan2(*c64* arctan2(*c128* atan2(*c64* atan2(*c128* "
     "lax.atan2(c64* logaddexp(*c64* logaddexp(*c128* logaddexp2(*c64* logaddexp2(*c128*",
     "NumPy's behaviour: rounding integers to tens and bools, array_equiv False for shapes "
     "that do not broadcast, lists as indices, gradient's edge_order, bool aranges, the array "
     "API's correction=; arctan2 and logaddexp of complex values are refused as NumPy does "
     "(JAX defines them)"),
    ("repeat(f32[2,3],i64[1,0,2],axis=1) interp(*period=3.0)",
     "under jit these need concrete arguments (repeats without total_repeat_length; interp's "
     "period sorts xp by value) and say so"),
    # ---- noticed, not fixed
    ("unwrap(i64* ediff1d(*to_end=f64*",
     "not fixed: unwrap of integers gives floats, ediff1d promotes to_begin/to_end instead of "
     "casting them to the array's type"),
]


def _matches(pattern, case_id):
    """"*" matches anything; every other character itself."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), case_id)


def _deliberate(case):
    for patterns, why in DELIBERATE:     # (a "!pattern" leaves its cases out of the entry)
        patterns = patterns.split()
        if any(_matches(p[1:], case.id) for p in patterns if p.startswith("!")):
            continue
        if any(_matches(p, case.id) for p in patterns if not p.startswith("!")):
            return why
    return None


def _params():
    seen = set()
    for case in CASES:
        if case.id in seen:
            continue
        seen.add(case.id)
        why = _deliberate(case)
        marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
        yield pytest.param(case, id=case.id, marks=marks)


@pytest.mark.parametrize("case", list(_params()))
def test_agrees_with_jax(case):
    problem = difference(case)
    assert not problem, problem


def test_every_deliberate_difference_names_a_case():
    ids = [case.id for case in CASES]
    for patterns, why in DELIBERATE:
        assert any(_matches(p, i) for p in patterns.split() if not p.startswith("!")
                   for i in ids), why


class _Swapped(Case):
    """A case whose functrans side is replaced, to check that differences are seen."""

    def __init__(self, ours):
        super().__init__("np", "sin", [A((2, 3), "float32")])
        self.ours = ours

    def functions(self):
        return jnp.sin, self.ours


@pytest.mark.parametrize("ours, says", [
    (fnp.cos, "Mismatched elements"),
    (lambda x: fnp.sin(x).astype(np.float64), "float64[2, 3], expected float32"),
    (lambda x: fnp.sin(x[0]), "float32[3], expected float32[2, 3]"),
    (lambda x: fnp.sin(x, 1), "functrans raised TypeError"),
    (lambda x: fnp.cos(x) if isinstance(x, ft.core.Tracer) else fnp.sin(x), "under jit"),
], ids=["value", "dtype", "shape", "raises", "jit"])
def test_the_comparison_reports_what_differs(ours, says):
    assert says in difference(_Swapped(ours))
    assert difference(_Swapped(fnp.sin)) == ""
