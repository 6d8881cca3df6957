"""Folding an eval-mode BatchNorm into the convolution or linear layer before it
(`torch.nn.utils.fusion`): `bn(conv(x)) == fuse_conv_bn_eval(conv, bn)(x)`. The `_eval` forms
return a new layer (the inputs are unchanged); the `_weights` forms return `(weight, bias)`.
"""
from __future__ import annotations

from ... import lax
from ... import numpy as fnp
from ...primitives._util import dtype_of, shape_of

__all__ = ["fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval",
           "fuse_linear_bn_weights"]


def _check_eval(layer, bn, fn):
    for name, m in (("the layer", layer), ("bn", bn)):
        if m.__dict__.get("training", False):
            raise ValueError(f"{fn}: fusion is only for eval mode, but {name} "
                             f"({type(m).__name__}) is in training mode; pass m.eval()")
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError(f"{fn}: bn has no running statistics (track_running_stats=False); "
                         "only a BatchNorm with running_mean and running_var can be folded")


def fuse_conv_bn_weights(conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b, transpose=False):
    """`(weight, bias)` of the convolution equal to the convolution `(conv_w, conv_b)`
    followed by the eval-mode batch norm `(bn_rm, bn_rv, bn_eps, bn_w, bn_b)`; `transpose`:
    the output channels are the weight's axis 1 (transposed convolutions)."""
    bias_dtype = dtype_of(conv_b) if conv_b is not None else dtype_of(conv_w)
    conv_b = fnp.zeros_like(bn_rm) if conv_b is None else conv_b
    bn_w = fnp.ones_like(bn_rm) if bn_w is None else bn_w
    bn_b = fnp.zeros_like(bn_rm) if bn_b is None else bn_b
    rsqrt = lax.rsqrt(bn_rv + bn_eps)
    rest = [1] * (len(shape_of(conv_w)) - 2)
    shape = [1, -1] + rest if transpose else [-1, 1] + rest
    weight = (conv_w * fnp.reshape(bn_w * rsqrt, shape)).astype(dtype_of(conv_w))
    bias = ((conv_b - bn_rm) * rsqrt * bn_w + bn_b).astype(bias_dtype)
    return weight, bias


def fuse_conv_bn_eval(conv, bn, transpose=False):
    """A copy of the convolution `conv` that computes `bn(conv(x))` for the eval-mode
    BatchNorm `bn`."""
    _check_eval(conv, bn, "fuse_conv_bn_eval")
    weight, bias = fuse_conv_bn_weights(conv.weight, conv.bias, bn.running_mean,
                                        bn.running_var, bn.eps, bn.weight, bn.bias, transpose)
    return conv.replace(weight=weight, bias=bias)


def fuse_linear_bn_weights(linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b):
    """`(weight, bias)` of the linear layer equal to `(linear_w, linear_b)` followed by the
    eval-mode batch norm `(bn_rm, bn_rv, bn_eps, bn_w, bn_b)`; `bn_w` / `bn_b` may be None
    (a BatchNorm without affine parameters), where PyTorch's needs them."""
    bias_dtype = dtype_of(linear_b) if linear_b is not None else dtype_of(linear_w)
    linear_b = fnp.zeros_like(bn_rm) if linear_b is None else linear_b
    bn_w = fnp.ones_like(bn_rm) if bn_w is None else bn_w
    bn_b = fnp.zeros_like(bn_rm) if bn_b is None else bn_b
    scale = bn_w * lax.rsqrt(bn_rv + bn_eps)
    weight = linear_w * scale[:, None].astype(dtype_of(linear_w))
    bias = ((linear_b - bn_rm) * scale + bn_b).astype(bias_dtype)
    return weight, bias


def fuse_linear_bn_eval(linear, bn):
    """A copy of the Linear layer `linear` that computes `bn(linear(x))` for the eval-mode
    BatchNorm `bn` (whose num_features must be linear.out_features or 1)."""
    _check_eval(linear, bn, "fuse_linear_bn_eval")
    if linear.out_features != bn.num_features and bn.num_features != 1:
        raise ValueError(f"fuse_linear_bn_eval: linear.out_features ({linear.out_features}) "
                         f"must equal bn.num_features ({bn.num_features}), or bn.num_features "
                         "must be 1")
    weight, bias = fuse_linear_bn_weights(linear.weight, linear.bias, bn.running_mean,
                                          bn.running_var, bn.eps, bn.weight, bn.bias)
    return linear.replace(weight=weight, bias=bias)
