"""`functrans.numpy` (import as `fnp`): NumPy's API on immutable functrans arrays.

Every function here is written with `functrans.lax` primitives, so all of it is
differentiable, batchable and jittable. Differences from NumPy: arrays are immutable (use
`x.at[idx].set(v)`), Python floats default to float32 (configurable), and `out=` is refused.
"""
import math as _math_mod
import sys as _sys

import numpy as _np

from .. import dtypes as _dtypes
from ..array import Array as ndarray
from ._conversion import array, asarray, promote as _promote
from ._creation import (full, zeros, ones, empty, zeros_like, ones_like, empty_like, full_like,
                        arange, linspace, logspace, geomspace, eye, identity, tri, meshgrid)
from ._math import *  # noqa: F401,F403
from ._math import round, abs, pow, divmod  # noqa: F401
from ._reductions import (sum, prod, max, min, amax, amin, all, any, mean, var, std, argmax,
                          argmin, cumsum, cumprod, cumulative_sum, cumulative_prod,
                          count_nonzero, ptp, nansum, nanprod, nanmean, nanvar, nanstd, nanmax,
                          nanmin, nanargmax, nanargmin, nancumsum, nancumprod, quantile,
                          nanquantile, percentile, nanpercentile, median, nanmedian, average)
from ._shape import (shape, ndim, size, reshape, ravel, transpose, permute_dims,
                     matrix_transpose, swapaxes, moveaxis, expand_dims, squeeze,
                     broadcast_shapes, broadcast_to, broadcast_arrays, atleast_1d, atleast_2d,
                     atleast_3d, concatenate, concat, stack, hstack, vstack, row_stack, dstack,
                     column_stack, flip, fliplr, flipud, astype, array_split, split, hsplit,
                     vsplit, dsplit, unstack, append, tile, repeat, take, take_along_axis,
                     compress, extract, select, choose, roll, rollaxis, rot90, resize, delete,
                     insert, block, diagonal, diag, diagflat, tril, triu, trace,
                     diff, ediff1d, pad)
from ._sorting import (sort, argsort, lexsort, partition, argpartition, sort_complex,
                       searchsorted, digitize, nonzero, flatnonzero, argwhere, unique,
                       unique_values, unique_counts, unique_inverse, unique_all, intersect1d,
                       union1d, setdiff1d, setxor1d, isin, bincount, histogram,
                       histogram2d, histogramdd)
from ._linalg import (matmul, dot, tensordot, outer, inner, vdot, vecdot, matvec, vecmat, kron,
                      cross, einsum)
from ._misc import *  # noqa: F401,F403
from ._numpy_extras import *  # noqa: F401,F403
from . import linalg, fft
from ._array_methods import install as _install
from ._array_api import (isdtype, from_dlpack, result_type, promote_types, finfo, iinfo, array_namespace_info as __array_namespace_info__,
                         API_VERSION as __array_api_version__, install as _install_array_api)

_install()
_install_array_api(_sys.modules[__name__])


class _ScalarType:
    """`fnp.float32(x)` casts (also traced values); usable wherever a dtype is expected."""

    def __init__(self, np_type):
        self.dtype = _np.dtype(np_type)
        self.__name__ = self.dtype.name

    def __call__(self, x):
        return asarray(x, dtype=self.dtype)

    def __repr__(self):
        return f"functrans.numpy.{self.__name__}"

    def __eq__(self, other):
        if isinstance(other, _ScalarType):
            return self.dtype == other.dtype
        if other is None:
            return False
        try:
            return self.dtype == _np.dtype(other)
        except Exception:
            return False

    def __hash__(self):
        return hash(self.dtype)


bool_ = _ScalarType(_np.bool_)
bool = bool_
int8, int16, int32, int64 = map(_ScalarType, (_np.int8, _np.int16, _np.int32, _np.int64))
uint8, uint16, uint32, uint64 = map(_ScalarType, (_np.uint8, _np.uint16, _np.uint32, _np.uint64))
float16, float32, float64 = map(_ScalarType, (_np.float16, _np.float32, _np.float64))
complex64, complex128 = map(_ScalarType, (_np.complex64, _np.complex128))
# bfloat16, float8_e4m3fn, int4, ...: present where the optional ml_dtypes is installed
globals().update({_n: _ScalarType(_dt) for _n, _dt in _dtypes.ML_DTYPES.items()})
__getattr__ = _dtypes.ml_dtypes_getattr(__name__)
dtype = _np.dtype
integer, floating, inexact, number, signedinteger, unsignedinteger, complexfloating = (
    _np.integer, _np.floating, _np.inexact, _np.number, _np.signedinteger, _np.unsignedinteger,
    _np.complexfloating)
generic = _np.generic
issubdtype = _dtypes.issubdtype
can_cast = _np.can_cast
pi, e, inf, nan, euler_gamma = _math_mod.pi, _math_mod.e, _math_mod.inf, _math_mod.nan, _np.euler_gamma
newaxis = None
Array = ndarray
from ._index_tricks import r_, c_, mgrid, ogrid, s_, index_exp  # noqa: E402
from ._vectorize import vectorize  # noqa: E402
from ._ufunc import ufunc, frompyfunc, fromfile  # noqa: E402
character, flexible, object_ = _np.character, _np.flexible, _np.object_
ComplexWarning = _np.exceptions.ComplexWarning
double, single, cdouble, csingle = float64, float32, complex128, complex64
float_, complex_, int_, uint = float64, complex128, int64, uint64

# every function here places the NumPy data and constants it makes with its operands' device
# (functrans.core.on_operand_device); functions inside functrans call one another unwrapped
from ..core import place_functions as _place_functions  # noqa: E402
_place_functions(globals())
