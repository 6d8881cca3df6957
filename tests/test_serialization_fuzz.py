"""ft.save / ft.load round trips of random pytrees: nested dicts (any string keys), lists,
tuples and None around arrays of every dtype functrans has (0-d, empty, non-contiguous, with
NaN, infinities and extremes) and Python scalars; loaded with a template (the same tree
back) and without one (a dict from key paths to leaves), the leaves come back bit for bit,
with their dtypes and types."""
from __future__ import annotations

import numpy as np
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp

import functrans as ft
import functrans.numpy as fnp
from functrans.tree_util import (keystr, tree_flatten_with_path, tree_leaves,
                                 tree_structure)
from fuzzing import fuzz_settings

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64", "complex64", "complex128", "bfloat16"]


@st.composite
def arrays(draw):
    dtype = np.dtype(getattr(fnp, draw(st.sampled_from(DTYPES))))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    if dtype.kind in "biuc" or dtype.itemsize > 2:
        raw = draw(hnp.arrays(dtype, shape))
    else:                                   # float16, bfloat16: drawn as float32 bits
        wide = draw(hnp.arrays(np.float32, shape, elements=st.floats(
            width=32, allow_nan=True, allow_infinity=True)))
        with np.errstate(over="ignore"):    # beyond the narrow range: infinities, as meant
            raw = wide.astype(dtype)
    if raw.ndim >= 1 and draw(st.booleans()):
        raw = raw[::-1]                     # a non-contiguous view
    return fnp.asarray(raw)


SCALARS = st.one_of(st.integers(-2 ** 63, 2 ** 63 - 1), st.floats(), st.booleans(),
                    st.complex_numbers(allow_nan=False))
LEAVES = st.one_of(arrays(), SCALARS)
TREES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3),
        st.just(None)),
    max_leaves=8)


def _same_leaf(a, b):
    if isinstance(a, ft.Array):
        assert isinstance(b, ft.Array) and b.dtype == a.dtype and b.shape == a.shape
        assert np.asarray(b).tobytes() == np.ascontiguousarray(np.asarray(a)).tobytes()
    else:
        assert type(b) is type(a)
        assert a == b or (a != a and b != b)        # NaN equals NaN here


@fuzz_settings(60)
@given(TREES)
def test_random_trees_round_trip(tmp_path_factory, tree):
    path = tmp_path_factory.mktemp("fuzz") / "tree.ftz"
    ft.save(path, tree)
    if tree is not None:                    # like=None means "no template"
        back = ft.load(path, like=tree)
        assert tree_structure(back) == tree_structure(tree)
        for a, b in zip(tree_leaves(tree), tree_leaves(back)):
            _same_leaf(a, b)
    flat = ft.load(path)
    pairs = tree_flatten_with_path(tree)[0]
    assert list(flat) == [keystr(p) or "<root>" for p, _ in pairs]   # a bare leaf's name
    for (_, a), b in zip(pairs, flat.values()):
        _same_leaf(a, b)
