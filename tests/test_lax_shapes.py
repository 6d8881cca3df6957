"""JAX's convolution and window shape helpers in functrans.lax, against jax.lax's."""
import numpy as np
import pytest

import functrans as ft

L = ft.lax

CONV_CASES = [  # lhs, rhs, strides, padding, dimension_numbers
    ((2, 3, 8, 8), (4, 3, 3, 3), (1, 1), "SAME", ("NCHW", "OIHW", "NCHW")),
    ((2, 3, 9, 7), (4, 3, 3, 2), (2, 3), "VALID", ("NCHW", "OIHW", "NCHW")),
    ((2, 8, 8, 3), (3, 3, 3, 4), (2, 2), [(1, 1), (0, 0)], ("NHWC", "HWIO", "NHWC")),
    ((2, 8, 8, 3), (3, 3, 3, 4), (2, 2), "SAME", ("NHWC", "HWIO", "NCHW")),
    ((5, 10, 2), (3, 2, 6), (2,), "SAME", ("NHC", "HIO", "NHC")),
    ((1, 6, 5, 4, 2), (2, 3, 2, 2, 3), (1, 2, 1), [(0, 1), (2, 0), (1, 1)],
     ("NDHWC", "DHWIO", "NDHWC")),
]


@pytest.fixture
def jl(jax_x64):
    return jax_x64.lax


def _ints(shape):
    return tuple(int(d) for d in shape)


@pytest.mark.parametrize("lhs, rhs, strides, padding, dn", CONV_CASES)
def test_conv_general_and_transpose_shape_tuples(jl, lhs, rhs, strides, padding, dn):
    assert L.conv_general_shape_tuple(lhs, rhs, strides, padding, dn) == \
        _ints(jl.conv_general_shape_tuple(lhs, rhs, strides, padding, dn))
    assert L.conv_transpose_shape_tuple(lhs, rhs, strides, padding, dn) == \
        _ints(jl.conv_transpose_shape_tuple(lhs, rhs, strides, padding, dn))
    assert L.conv_general_permutations(dn) == jl.conv_general_permutations(dn)


@pytest.mark.parametrize("lhs, rhs, strides, pads, groups", [
    ((2, 3, 8, 8), (4, 3, 3, 3), (1, 1), [(1, 1), (1, 1)], 1),
    ((4, 3, 8, 8), (6, 3, 3, 2), (2, 1), "VALID", 2),
    ((2, 3, 8), (5, 3, 4), (3,), "SAME", 1)])
def test_conv_shape_tuple(jl, lhs, rhs, strides, pads, groups):
    assert L.conv_shape_tuple(lhs, rhs, strides, pads, groups) == \
        _ints(jl.conv_shape_tuple(lhs, rhs, strides, pads, groups))


@pytest.mark.parametrize("shape, dims, strides, padding, base, window", [
    ((2, 8, 8), (1, 2, 2), (1, 2, 2), [(0, 0)] * 3, None, None),
    ((7, 9), (3, 2), (2, 1), [(1, 2), (0, 1)], (2, 1), (1, 3)),
    ((5,), (2,), (3,), [(2, 0)], (3,), None)])
def test_reduce_window_shape_tuple(jl, shape, dims, strides, padding, base, window):
    assert L.reduce_window_shape_tuple(shape, dims, strides, padding, base, window) == \
        _ints(jl.reduce_window_shape_tuple(shape, dims, strides, padding, base, window))


def test_shape_helpers_agree_with_the_operations_and_work_inside_jit():
    x, w = np.ones((2, 3, 9, 7), np.float32), np.ones((4, 3, 3, 2), np.float32)

    @ft.jit
    def f(x, w):
        shape = L.conv_shape_tuple(x.shape, w.shape, (2, 1), "SAME")
        return L.conv_general_dilated(x, w, (2, 1), "SAME"), shape
    out, shape = f(x, w)
    assert out.shape == tuple(int(d) for d in shape) == (2, 4, 5, 7)


def test_conv_general_permutations_refuses_what_is_not_three_layouts():
    with pytest.raises(TypeError, match="three layout strings"):
        L.conv_general_permutations(((0, 1, 2, 3),) * 3)
    with pytest.raises(TypeError, match="exactly once"):
        L.conv_general_permutations(("NHWC", "HWIX", "NHWC"))
