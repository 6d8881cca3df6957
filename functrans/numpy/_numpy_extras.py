"""NumPy functions that `jax.numpy` also offers, with JAX's semantics: functional forms of
NumPy's in-place `fill_diagonal` and `put` (`inplace=False`), `piecewise`, the polynomial
`poly`, `polydiv` and `roots`, `packbits` / `unpackbits`, `mask_indices`, and the host-side
helpers that work on NumPy data (`load`, `save`, `frombuffer`, print options, ...)."""
from __future__ import annotations

import numpy as np

from ..core import Tracer
from ..primitives._util import dtype_of, shape_of
from ._conversion import asarray, promote_inexact
from ._creation import ones, zeros
from ._math import bitwise_and, multiply, not_equal, right_shift, where
from ._misc import convolve
from ._reductions import cumsum, sum
from ._shape import concatenate, moveaxis, ravel, reshape, resize
from ._sorting import nonzero

__all__ = ["fill_diagonal", "put", "place", "piecewise", "poly", "polydiv", "roots", "packbits",
           "unpackbits", "mask_indices", "load", "save", "savez", "savez_compressed",
           "frombuffer", "fromiter", "fromstring", "array_repr", "array_str", "get_printoptions",
           "set_printoptions", "printoptions", "iterable", "einsum_path"]


def _functional_only(name, inplace):
    if inplace:
        raise ValueError(f"{name}: functrans arrays are immutable, so it cannot write into its "
                         f"argument; call {name}(..., inplace=False) and use the array it "
                         "returns")


def _cycled(values, count, dtype):
    """`values` flattened and repeated to `count` elements (NumPy's np.resize)."""
    flat = ravel(asarray(values, dtype=dtype))
    if shape_of(flat)[0] == 0:
        raise ValueError("the values to write are empty")
    return resize(flat, count)


def fill_diagonal(a, val, wrap=False, *, inplace=True):
    """`a` with its main diagonal set to `val` (repeated as needed), as NumPy's
    np.fill_diagonal; `wrap` continues the diagonal of a tall matrix below its square."""
    _functional_only("fill_diagonal", inplace)
    a = asarray(a)
    shape = shape_of(a)
    if len(shape) < 2:
        raise ValueError(f"fill_diagonal: the array must have at least 2 dimensions, got shape "
                         f"{shape}")
    if len(shape) > 2 and len(set(shape)) != 1:
        raise ValueError(f"fill_diagonal: all dimensions must be equal beyond 2-d, got {shape}")
    size = int(np.prod(shape))
    if len(shape) == 2:
        step = shape[1] + 1
        end = size if wrap else min(size, shape[1] * shape[1])
    else:
        step = int(np.cumprod((1,) + shape[:-1]).sum())
        end = size
    positions = np.arange(0, end, step)
    values = _cycled(val, len(positions), dtype_of(a))
    return reshape(ravel(a).at[positions].set(values), shape)


def put(a, ind, v, mode=None, *, inplace=True):
    """`a` with the elements at the flat indices `ind` set to `v` (repeated as needed), as
    NumPy's np.put: `mode` None drops indices out of bounds (negative ones count from the
    end, as in JAX), "clip" clips them to the ends, "wrap" wraps them, "raise" (concrete
    indices) raises; a repeated index takes the last value."""
    _functional_only("put", inplace)
    a = asarray(a)
    flat = ravel(a)
    size = shape_of(flat)[0]
    ind = ravel(asarray(ind))
    if mode not in (None, "clip", "wrap", "raise"):
        raise ValueError(f"put: mode must be None, 'clip', 'wrap' or 'raise', got {mode!r}")
    if mode == "wrap":
        ind = ind % size
    elif mode == "clip":            # (negative indices too clip to 0, as NumPy)
        ind = ind.clip(0, size - 1)
    elif mode == "raise":
        if isinstance(ind, Tracer):
            raise ValueError("put: mode='raise' needs concrete indices (under jit use None, "
                             "'clip' or 'wrap')")
        raw = np.asarray(ind)
        if raw.size and (raw.min() < -size or raw.max() >= size):
            raise IndexError(f"put: index out of bounds for an array of {size} elements")
    values = _cycled(v, shape_of(ind)[0], dtype_of(a))
    updated = flat.at[ind].set(values, mode="clip" if mode == "clip" else "drop")
    return reshape(updated, shape_of(a))


def place(arr, mask, vals, *, inplace=True):
    """`arr` with the elements where `mask` holds set to `vals` in order (repeated as
    needed), as NumPy's np.place; a traced mask works (each such element takes the value of
    its rank among them)."""
    _functional_only("place", inplace)
    arr = asarray(arr)
    flat, hit = ravel(arr), ravel(asarray(mask, dtype=bool))
    values = ravel(asarray(vals, dtype=dtype_of(arr)))
    n = shape_of(values)[0]
    if n == 0:
        raise ValueError("place: vals is empty (NumPy needs at least one value when any "
                         "element is masked)")
    rank = cumsum(hit.astype(np.int64)) - 1
    picked = values[rank % n]
    return reshape(where(hit, picked, flat), shape_of(arr))


def piecewise(x, condlist, funclist, *args, **kw):
    """np.piecewise: where `condlist[i]` holds, `funclist[i]` (a function of x, called as
    f(x, *args, **kw), or a constant); one function more than conditions is the default
    where none holds (else 0). Later conditions win where several hold. Every function is
    evaluated on the whole of x; the result has x's dtype."""
    x = asarray(x)
    if not isinstance(condlist, (list, tuple)):
        condlist = [condlist] if len(shape_of(asarray(condlist))) == len(shape_of(x)) else \
            list(condlist)
    n = len(condlist)
    if len(funclist) not in (n, n + 1):
        raise ValueError(f"piecewise: {len(funclist)} functions for {n} conditions (give one "
                         "per condition, and optionally one more for the default)")
    dtype = dtype_of(x)

    def value(f):
        out = f(x, *args, **kw) if callable(f) else f
        return asarray(out).astype(dtype)
    out = value(funclist[n]) if len(funclist) == n + 1 else zeros(shape_of(x), dtype)
    for cond, f in zip(condlist, funclist):
        out = where(asarray(cond), value(f), out)
    return out


def poly(seq_of_zeros):
    """The coefficients (highest power first) of the polynomial with these roots, or the
    characteristic polynomial of a square matrix (complex: from its eigenvalues)."""
    from .linalg import eigvals
    a = asarray(seq_of_zeros)
    shape = shape_of(a)
    if len(shape) == 2 and shape[0] == shape[1] and shape[0] > 0:
        a = eigvals(a)
    elif len(shape) != 1:
        raise ValueError(f"poly: needs a 1-d sequence of roots or a square matrix, got shape "
                         f"{shape}")
    (a,), dt = promote_inexact(a)
    if not shape_of(a)[0]:
        return ones((), dt)                     # no roots: 1.0, as NumPy's
    coeffs = ones((1,), dt)
    for i in range(shape_of(a)[0]):
        coeffs = convolve(coeffs, concatenate([ones((1,), dt), -a[i:i + 1]]))
    return coeffs


def polydiv(u, v, *, trim_leading_zeros=False):
    """Quotient and remainder of the polynomial division u / v (highest power first). The
    remainder keeps u's length unless `trim_leading_zeros` (concrete values) drops its
    leading near-zeros, as NumPy."""
    (u, v), dt = promote_inexact(u, v)
    u, v = asarray(u, dtype=dt), asarray(v, dtype=dt)
    m, n = shape_of(u)[0] - 1, shape_of(v)[0] - 1
    scale = 1.0 / v[0]
    q = zeros((max(m - n + 1, 1),), dt)
    r = u
    for k in range(m - n + 1):
        d = scale * r[k]
        q = q.at[k].set(d)
        r = r.at[k:k + n + 1].add(-d * v)
    if trim_leading_zeros:
        tol = np.sqrt(np.finfo(np.dtype(dt)).eps)
        raw = np.abs(np.asarray(r))
        first = next((i for i, e in enumerate(raw) if e > tol), len(raw) - 1)
        r = r[first:]
    return q, r


def roots(p, *, strip_zeros=True):
    """The roots of the polynomial with coefficients `p` (highest power first), as complex
    eigenvalues of its companion matrix. `strip_zeros` (concrete p) drops leading zero
    coefficients and counts trailing ones as roots at 0."""
    from .linalg import eigvals
    (p,), dt = promote_inexact(p)
    p = asarray(p, dtype=dt)
    if len(shape_of(p)) != 1:
        raise ValueError(f"roots: p must be 1-d, got shape {shape_of(p)}")
    zero_roots = 0
    if strip_zeros:
        if isinstance(p, Tracer):
            raise ValueError("roots: strip_zeros=True needs concrete coefficients; under jit "
                             "pass strip_zeros=False")
        nonzero_at = np.flatnonzero(np.asarray(p))
        if not len(nonzero_at):
            return zeros((0,), np.result_type(np.dtype(dt), np.complex64))
        zero_roots = shape_of(p)[0] - 1 - int(nonzero_at[-1])
        p = p[int(nonzero_at[0]):int(nonzero_at[-1]) + 1]
    if shape_of(p)[0] < 2:
        found = zeros((0,), np.result_type(np.dtype(dt), np.complex64))
    else:
        found = eigvals(companion_matrix(p))
    if zero_roots:
        found = concatenate([found, zeros((zero_roots,), dtype_of(found))])
    return found


def companion_matrix(p):
    """The companion matrix of the polynomial with inexact coefficients `p` (highest power
    first, at least two): first row -p[1:] / p[0], ones below the diagonal (its
    eigenvalues are the roots)."""
    n = shape_of(p)[0] - 1
    first_row = reshape(-p[1:] / p[0], (1, n))
    return concatenate([first_row, np.eye(n - 1, n, dtype=np.dtype(dtype_of(p)))], axis=0)


def _bit_weights(bitorder):
    if bitorder not in ("big", "little"):
        raise ValueError(f"bitorder must be 'big' or 'little', got {bitorder!r}")
    shifts = np.arange(8, dtype=np.uint8)
    return shifts[::-1].copy() if bitorder == "big" else shifts


def packbits(a, axis=None, bitorder="big"):
    """Nonzero elements as 1 bits, packed eight to a uint8 along `axis` (flattened when
    None), padded with zeros."""
    a = asarray(a)
    if np.dtype(dtype_of(a)).kind not in "biu":
        raise TypeError(f"packbits: needs integer or boolean data, got {dtype_of(a)}")
    bits = not_equal(a, 0).astype(np.uint8)
    if axis is None:
        bits, axis = ravel(bits), 0
    bits = moveaxis(bits, axis, -1)
    length = shape_of(bits)[-1]
    pad = -length % 8
    if pad:
        bits = concatenate([bits, zeros(shape_of(bits)[:-1] + (pad,), np.uint8)], axis=-1)
    grouped = reshape(bits, shape_of(bits)[:-1] + ((length + pad) // 8, 8))
    weights = asarray((1 << _bit_weights(bitorder).astype(np.int32)).astype(np.uint8))
    packed = sum(multiply(grouped, weights), axis=-1, dtype=np.uint8)
    return moveaxis(packed, -1, axis)


def unpackbits(a, axis=None, count=None, bitorder="big"):
    """The bits of uint8 `a` along `axis` (flattened when None), eight per element; `count`
    keeps that many (padding with zeros), or drops -count from the end."""
    a = asarray(a)
    if np.dtype(dtype_of(a)) != np.uint8:
        raise TypeError(f"unpackbits: needs uint8 data, got {dtype_of(a)}")
    if axis is None:
        a, axis = ravel(a), 0
    a = moveaxis(a, axis, -1)
    bits = bitwise_and(right_shift(a[..., None], asarray(_bit_weights(bitorder))), 1)
    bits = reshape(bits, shape_of(a)[:-1] + (shape_of(a)[-1] * 8,))
    if count is not None:
        total = shape_of(bits)[-1]
        keep = count if count >= 0 else max(total + count, 0)
        if keep > total:
            bits = concatenate([bits, zeros(shape_of(bits)[:-1] + (keep - total,), np.uint8)],
                               axis=-1)
        bits = bits[..., :keep]
    return moveaxis(bits, -1, axis)


def mask_indices(n, mask_func, k=0, *, size=None):
    """The indices where `mask_func(ones((n, n)), k)` is nonzero (as np.triu: the upper
    triangle from diagonal k)."""
    return nonzero(mask_func(ones((n, n), np.int32), k), size=size)


def load(file, *args, **kwargs):
    """np.load (no pickles unless allow_pickle=True is passed), an array coming back as a
    functrans array (an .npz archive stays NumPy's lazy NpzFile)."""
    out = np.load(file, *args, **kwargs)
    return asarray(out) if isinstance(out, np.ndarray) else out


def frombuffer(buffer, dtype=float, count=-1, offset=0):
    """np.frombuffer, as a functrans array (a copy: the buffer may change)."""
    return asarray(np.frombuffer(buffer, dtype, count, offset).copy())


def fromiter(iterable, dtype, count=-1):
    """np.fromiter, as a functrans array."""
    return asarray(np.fromiter(iterable, dtype, count))


def fromstring(string, dtype=float, count=-1, *, sep):
    """np.fromstring of text separated by `sep`, as a functrans array."""
    return asarray(np.fromstring(string, dtype, count, sep=sep))


def einsum_path(subscripts, *operands, optimize="greedy"):
    """np.einsum_path: the contraction order and its cost report, from the operands'
    shapes."""
    return np.einsum_path(subscripts, *(np.empty(shape_of(o)) if hasattr(o, "shape") else o
                                        for o in operands), optimize=optimize)


# NumPy's own, as in jax.numpy (they take functrans arrays through __array__)
save, savez, savez_compressed = np.save, np.savez, np.savez_compressed
array_repr, array_str, iterable = np.array_repr, np.array_str, np.iterable
get_printoptions, set_printoptions, printoptions = (np.get_printoptions, np.set_printoptions,
                                                    np.printoptions)
