"""NumPy's index tricks: `r_` and `c_` (concatenation by indexing), `mgrid` and `ogrid`
(grids by slices), `s_` and `index_exp` (index expressions)."""
from __future__ import annotations

import numpy as np

from ..core import Tracer
from ..array import Array
from ._conversion import asarray
from ._creation import arange, linspace, meshgrid
from ._shape import concatenate, ndim, reshape, shape, transpose


def _range(s):
    """The values a slice stands for: `arange`, or `linspace` when the step is imaginary
    (`5j`: five points, the stop included)."""
    start = 0 if s.start is None else s.start
    step = 1 if s.step is None else s.step
    if isinstance(step, complex):
        return linspace(start, s.stop, int(abs(step)), endpoint=True)
    return arange(start, s.stop, step)


class _Concatenator:
    """`x_[a, b, 1:4, ...]`: the items as arrays of at least `ndmin` dimensions, joined
    along `axis`. A leading string "axis", "axis,ndmin" or "axis,ndmin,trans1d" changes
    those settings as in NumPy."""

    def __init__(self, axis, ndmin, trans1d, name):
        self.axis, self.ndmin, self.trans1d, self.name = axis, ndmin, trans1d, name

    def __getitem__(self, key):
        items = key if isinstance(key, tuple) else (key,)
        axis, ndmin, trans1d = self.axis, self.ndmin, self.trans1d
        if items and isinstance(items[0], str):
            axis, ndmin, trans1d = self._directive(items[0], ndmin, trans1d)
            items = items[1:]
        parts = []
        for item in items:
            if isinstance(item, str):
                raise ValueError(f"{self.name}: a string directive must come first, got "
                                 f"{item!r} later")
            a = _range(item) if isinstance(item, slice) else asarray(item)
            parts.append(self._expand(a, ndmin, trans1d))
        if not parts:
            return asarray([])
        return concatenate(parts, axis=axis)

    def _directive(self, text, ndmin, trans1d):
        if text in ("r", "c"):
            raise NotImplementedError(f"{self.name}: the matrix directives 'r' and 'c' make "
                                      "np.matrix objects, which functrans does not have")
        try:
            fields = [int(v) for v in text.split(",")]
        except ValueError:
            raise ValueError(f"{self.name}: directive {text!r} is not 'axis', "
                             "'axis,ndmin' or 'axis,ndmin,trans1d'") from None
        axis = fields[0]
        if len(fields) > 1:
            ndmin = fields[1]
        if len(fields) > 2:
            trans1d = fields[2]
        return axis, ndmin, trans1d

    @staticmethod
    def _expand(a, ndmin, trans1d):
        """`a` with leading axes of size 1 up to `ndmin`, then its own axes moved to start
        at `trans1d` (NumPy's rule)."""
        d = ndim(a)
        if d >= ndmin:
            return a
        k2 = ndmin - d
        a = reshape(a, (1,) * k2 + tuple(shape(a)))
        k1 = trans1d + k2 + 1 if trans1d < 0 else trans1d
        order = list(range(ndmin))
        return transpose(a, order[:k1] + order[k2:] + order[k1:k2])


r_ = _Concatenator(0, 1, -1, "r_")
c_ = _Concatenator(-1, 2, 0, "c_")


class _Grid:
    """`mgrid[0:3, 0:4]` (dense, stacked) or `ogrid[...]` (open, broadcastable)."""

    def __init__(self, sparse, name):
        self.sparse, self.name = sparse, name

    def __getitem__(self, key):
        single = isinstance(key, slice)
        slices = (key,) if single else key
        for s in slices:
            if not isinstance(s, slice):
                raise TypeError(f"{self.name}: index with slices, got {type(s).__name__}")
            if isinstance(s.start, (Array, Tracer)) or isinstance(s.stop, (Array, Tracer)):
                raise TypeError(f"{self.name}: slice bounds must be Python numbers")
        axes = [_range(s) for s in slices]
        if single:
            return axes[0]
        grids = meshgrid(*axes, indexing="ij", sparse=self.sparse)
        if self.sparse:
            return list(grids)
        from ._shape import stack
        return stack(grids)


mgrid = _Grid(False, "mgrid")
ogrid = _Grid(True, "ogrid")
s_ = np.s_
index_exp = np.index_exp
