"""`ds` (JAX's `jax.ds`, `dslice`): an index entry picking `size` elements from a start that
may be traced, `x[ds(i, n)]` for `x[i:i + n]` under jit, in `x.at[...]` and `ref[...]` too.
`functrans.numpy._indexing` resolves it (`take_dslices`)."""
from __future__ import annotations

from .. import lax
from ..array import Array
from ..core import Tracer


class Slice:
    """`size` elements (static) from `start` (an int or a traced integer scalar), `stride`
    apart. Read as `x[ds(start, size)]`: a negative start counts from the end and the window
    is moved into range, as `dynamic_slice` (strided: each position clamped, no wrap); with
    `.at[...].get(mode="fill")` and in updates a window that does not fit is filled / dropped
    whole (strided: position by position)."""
    __slots__ = ("start", "size", "stride")

    def __init__(self, start, size, stride=1):
        if isinstance(size, Tracer):
            raise TypeError("ds: size must be a static integer (it is the result's length), "
                            "got a traced value; under jit make it a static argument")
        if int(size) < 0 or int(stride) < 0:
            raise ValueError(f"ds: size and stride must be non-negative, got size={size}, "
                             f"stride={stride}")
        self.start, self.size, self.stride = start, int(size), int(stride)

    @property
    def is_dynamic_start(self):
        return isinstance(self.start, Tracer)

    @property
    def is_dynamic_size(self):
        return False

    @staticmethod
    def from_slice(s, dim):
        """The Slice of Python slice `s` (positive step) over an axis of length `dim`."""
        start, stop, step = s.indices(dim)
        if step < 1:
            raise ValueError(f"Slice.from_slice: the step must be positive, got {step}")
        return Slice(start, len(range(start, stop, step)), step)

    def __eq__(self, other):
        return isinstance(other, Slice) and (self.start, self.size, self.stride) == \
            (other.start, other.size, other.stride)

    __hash__ = None

    def __repr__(self):
        return f"Slice(start={self.start!r}, size={self.size}, stride={self.stride})"


def ds(start, size=None, stride=None):
    """JAX's `jax.ds` / `dslice`, mirroring the builtin `slice`: `ds(None)` is `:`,
    `ds(n)` is `:n`, `ds(i, n)` is `i:i+n`, `ds(i, n, k)` is `i:i+n*k:k` (`n` elements),
    with `i` possibly traced (see `Slice`)."""
    if start is None:
        return slice(None)
    if size is None:
        start, size = 0, start
    return Slice(start, size, 1 if stride is None else stride)


dslice = ds


def has_dslice(idx):
    """Whether index `idx` (an entry or a tuple of them) holds a Slice."""
    return type(idx) is Slice or (type(idx) is tuple and any(type(e) is Slice for e in idx))


def unwrapped(idx):
    """`idx` with the start of each unit-stride Slice raised to 0 if negative: a clipped
    update moves the window into range without wrapping a negative start (as JAX)."""
    def fix(e):
        if type(e) is not Slice or e.stride != 1:
            return e
        start = lax.max(e.start, lax.convert_element_type(0, e.start.dtype)) \
            if isinstance(e.start, (Array, Tracer)) else max(int(e.start), 0)
        return Slice(start, e.size, 1)
    return tuple(fix(e) for e in idx) if type(idx) is tuple else fix(idx)
