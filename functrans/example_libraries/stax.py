"""`ft.example_libraries.stax`: JAX's small neural-network specification library.

A layer is an `(init_fun, apply_fun)` pair:

- `init_fun(rng, input_shape) -> (output_shape, params)` with an `ft.random` key; a shape may
  have `-1` for a dimension not known yet (the batch), which stays `-1` in the output shape.
- `apply_fun(params, inputs, **kwargs) -> outputs`; `rng=key` reaches the layers that need
  randomness (`Dropout`).

Layer constructors are CamelCase (`Dense`, `Conv`, `Relu`); combinators (`serial`,
`parallel`, `shape_dependent`) build layers from layers.
"""
import functools
import math

from .. import lax, random
from .. import numpy as fnp
from ..errors import ArgumentError
from ..nn import (relu, log_softmax, softmax, softplus, sigmoid, elu, leaky_relu, selu, gelu,
                  standardize)
from ..nn.initializers import glorot_normal, normal, ones, zeros

__all__ = [
    "Dense", "GeneralConv", "Conv", "GeneralConvTranspose", "Conv1DTranspose", "ConvTranspose",
    "BatchNorm", "elementwise", "Tanh", "Relu", "Exp", "LogSoftmax", "Softmax", "Softplus",
    "Sigmoid", "Elu", "LeakyRelu", "Selu", "Gelu", "MaxPool", "SumPool", "AvgPool", "Flatten",
    "Identity", "FanOut", "FanInSum", "FanInConcat", "Dropout", "serial", "parallel",
    "shape_dependent", "relu", "log_softmax", "softmax", "softplus", "sigmoid", "elu",
    "leaky_relu", "selu", "gelu", "standardize", "glorot_normal", "normal", "ones", "zeros",
    "glorot", "randn", "logsoftmax",
]

# JAX's older spellings
glorot = glorot_normal
randn = normal
logsoftmax = log_softmax


def _check_shape(name, input_shape, min_ndim):
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) < min_ndim:
        raise ArgumentError(f"{name}: input_shape must be a tuple of at least {min_ndim} "
                            f"integers (use -1 for an unknown batch size); got {input_shape!r}")
    return tuple(input_shape)


def Dense(out_dim, W_init=glorot_normal(), b_init=normal()):
    """A fully connected layer: `inputs @ W + b`, W of shape `(in_dim, out_dim)`."""
    def init_fun(rng, input_shape):
        input_shape = _check_shape("Dense", input_shape, 1)
        k1, k2 = random.split(rng)
        W = W_init(k1, (input_shape[-1], out_dim))
        b = b_init(k2, (out_dim,))
        return input_shape[:-1] + (out_dim,), (W, b)

    def apply_fun(params, inputs, **kwargs):
        W, b = params
        if fnp.ndim(inputs) < 1 or inputs.shape[-1] != W.shape[0]:
            raise ArgumentError(f"Dense: inputs of shape {fnp.shape(inputs)} do not match the "
                                f"weight W of shape {W.shape}: the last axis of inputs must "
                                f"have length {W.shape[0]}")
        return fnp.dot(inputs, W) + b
    return init_fun, apply_fun


def _spatial(dimension_numbers):
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    if not (sorted(lhs_spec) == sorted(out_spec) and len(lhs_spec) == len(rhs_spec)
            and {"N", "C"} <= set(lhs_spec) and {"I", "O"} <= set(rhs_spec)):
        raise ArgumentError(f"dimension_numbers must be three layout strings such as "
                            f"('NHWC', 'HWIO', 'NHWC'); got {dimension_numbers!r}")
    return [c for c in rhs_spec if c not in "IO"]


def _kernel_shape(dimension_numbers, out_chan, filter_shape, input_shape):
    lhs_spec, rhs_spec, _ = dimension_numbers
    spatial = _spatial(dimension_numbers)
    if len(filter_shape) != len(spatial):
        raise ArgumentError(f"filter_shape {tuple(filter_shape)} must have one entry per "
                            f"spatial dimension of {dimension_numbers!r}")
    if len(input_shape) != len(lhs_spec):
        raise ArgumentError(f"input_shape {tuple(input_shape)} does not have the rank of the "
                            f"input layout {lhs_spec!r}")
    filters = dict(zip(spatial, filter_shape))
    return tuple(out_chan if c == "O" else input_shape[lhs_spec.index("C")] if c == "I"
                 else filters[c] for c in rhs_spec)


def _keeping_unknown(input_shape, out_axes, stand_ins, shape_fn):
    """`shape_fn(shape)` for `input_shape` with each -1 (a dimension not known yet) at axis i
    replaced by `stand_ins[i]`; the output has -1 again at axis `out_axes[i]` (None: none)."""
    known = tuple(k if n == -1 else n for n, k in zip(input_shape, stand_ins))
    out = list(shape_fn(known))
    for n, axis in zip(input_shape, out_axes):
        if n == -1 and axis is not None:
            out[axis] = -1
    return tuple(out)


def _conv_out_shape(input_shape, kernel_shape, strides, padding, dimension_numbers,
                    transpose):
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    shape_tuple = lax.conv_transpose_shape_tuple if transpose else lax.conv_general_shape_tuple
    out_axes = [None if c == "C" else out_spec.index(c) for c in lhs_spec]
    stand_ins = [kernel_shape[rhs_spec.index(c)] if c in rhs_spec else 1 for c in lhs_spec]
    return _keeping_unknown(input_shape, out_axes, stand_ins, lambda shape: shape_tuple(
        shape, kernel_shape, strides, padding, dimension_numbers))


def _conv_layer(name, dimension_numbers, out_chan, filter_shape, strides, padding, W_init,
                b_init, transpose):
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    _spatial(dimension_numbers)
    one = (1,) * len(filter_shape)
    strides = tuple(strides or one)
    W_init = W_init or glorot_normal(rhs_spec.index("I"), rhs_spec.index("O"))

    def init_fun(rng, input_shape):
        input_shape = _check_shape(name, input_shape, len(lhs_spec))
        kernel_shape = _kernel_shape(dimension_numbers, out_chan, filter_shape, input_shape)
        output_shape = _conv_out_shape(input_shape, kernel_shape, strides, padding,
                                       dimension_numbers, transpose=transpose)
        bias_shape = tuple(out_chan if c == "C" else 1 for c in out_spec)
        k1, k2 = random.split(rng)
        return output_shape, (W_init(k1, kernel_shape), b_init(k2, bias_shape))

    def apply_fun(params, inputs, **kwargs):
        W, b = params
        if transpose:
            out = lax.conv_transpose(inputs, W, strides, padding,
                                     dimension_numbers=dimension_numbers)
        else:
            out = lax.conv_general_dilated(inputs, W, strides, padding, one, one,
                                           dimension_numbers=dimension_numbers)
        return out + b
    return init_fun, apply_fun


def GeneralConv(dimension_numbers, out_chan, filter_shape, strides=None, padding='VALID',
                W_init=None, b_init=normal(1e-6)):
    """A convolution layer with layouts `dimension_numbers = (lhs, rhs, out)` strings."""
    return _conv_layer("GeneralConv", dimension_numbers, out_chan, filter_shape, strides,
                       padding, W_init, b_init, transpose=False)


Conv = functools.partial(GeneralConv, ("NHWC", "HWIO", "NHWC"))


def GeneralConvTranspose(dimension_numbers, out_chan, filter_shape, strides=None,
                         padding='VALID', W_init=None, b_init=normal(1e-6)):
    """A transposed-convolution layer (`lax.conv_transpose`) with layouts
    `dimension_numbers`."""
    return _conv_layer("GeneralConvTranspose", dimension_numbers, out_chan, filter_shape,
                       strides, padding, W_init, b_init, transpose=True)


Conv1DTranspose = functools.partial(GeneralConvTranspose, ("NHC", "HIO", "NHC"))
ConvTranspose = functools.partial(GeneralConvTranspose, ("NHWC", "HWIO", "NHWC"))


def BatchNorm(axis=(0, 1, 2), epsilon=1e-5, center=True, scale=True, beta_init=zeros,
              gamma_init=ones):
    """Normalizes over `axis` with the batch's own statistics (no running averages), then
    scales by `gamma` and shifts by `beta`, parameters over the remaining axes."""
    axis = (axis,) if fnp.isscalar(axis) else tuple(axis)

    def init_fun(rng, input_shape):
        input_shape = _check_shape("BatchNorm", input_shape, 1)
        bad = [a for a in axis if not -len(input_shape) <= a < len(input_shape)]
        if bad:
            raise ArgumentError(f"BatchNorm: axis {axis} is out of range for input_shape "
                                f"{input_shape}")
        shape = tuple(d for i, d in enumerate(input_shape) if i not in axis)
        k1, k2 = random.split(rng)
        beta = beta_init(k1, shape) if center else ()
        gamma = gamma_init(k2, shape) if scale else ()
        return input_shape, (beta, gamma)

    def apply_fun(params, x, **kwargs):
        beta, gamma = params
        expand = tuple(None if i in axis else slice(None) for i in range(fnp.ndim(x)))
        z = standardize(x, axis, epsilon=epsilon)
        if center and scale:
            return gamma[expand] * z + beta[expand]
        if center:
            return z + beta[expand]
        if scale:
            return gamma[expand] * z
        return z
    return init_fun, apply_fun


def elementwise(fun, **fun_kwargs):
    """A layer without parameters applying `fun(inputs, **fun_kwargs)`."""
    def init_fun(rng, input_shape):
        return input_shape, ()

    def apply_fun(params, inputs, **kwargs):
        return fun(inputs, **fun_kwargs)
    return init_fun, apply_fun


Tanh = elementwise(fnp.tanh)
Relu = elementwise(relu)
Exp = elementwise(fnp.exp)
LogSoftmax = elementwise(log_softmax, axis=-1)
Softmax = elementwise(softmax, axis=-1)
Softplus = elementwise(softplus)
Sigmoid = elementwise(sigmoid)
Elu = elementwise(elu)
LeakyRelu = elementwise(leaky_relu)
Selu = elementwise(selu)
Gelu = elementwise(gelu, approximate=True)    # jax.nn.gelu's default, the tanh form


def _window(window_shape, strides, spec):
    """Window and strides over every axis: 1 on the batch and channel axes."""
    window_shape = tuple(window_shape)
    strides = tuple(strides or (1,) * len(window_shape))
    if len(strides) != len(window_shape):
        raise ArgumentError(f"strides {strides} must have one entry per window dimension "
                            f"{window_shape}")
    if spec is None:
        non_spatial = (0, len(window_shape) + 1)
    else:
        if len(spec) != len(window_shape) + 2 or "N" not in spec or "C" not in spec:
            raise ArgumentError(f"spec {spec!r} must name N, C and one axis per window "
                                f"dimension {window_shape}")
        non_spatial = (spec.index("N"), spec.index("C"))
    for i in sorted(non_spatial):
        window_shape = window_shape[:i] + (1,) + window_shape[i:]
        strides = strides[:i] + (1,) + strides[i:]
    return window_shape, strides, non_spatial


def _pool_out_shape(name, input_shape, window, strides, padding):
    input_shape = _check_shape(name, input_shape, len(window))
    if len(input_shape) != len(window):
        raise ArgumentError(f"{name}: input_shape {input_shape} must have rank "
                            f"{len(window)} (batch, spatial dimensions and channels)")

    def shape_fn(shape):
        pads = (lax.padtype_to_pads(shape, window, strides, padding)
                if isinstance(padding, str) else padding)
        return lax.reduce_window_shape_tuple(shape, window, strides, pads)
    return _keeping_unknown(input_shape, range(len(window)), window, shape_fn)


def _pooling_layer(name, reducer, init_val, average=False):
    def PoolingLayer(window_shape, strides=None, padding='VALID', spec=None):
        window, all_strides, non_spatial = _window(window_shape, strides, spec)

        def init_fun(rng, input_shape):
            return _pool_out_shape(name, input_shape, window, all_strides, padding), ()

        def apply_fun(params, inputs, **kwargs):
            out = lax.reduce_window(inputs, init_val, reducer, window, all_strides, padding)
            if not average:
                return out
            spatial_shape = tuple(n for i, n in enumerate(inputs.shape) if i not in non_spatial)
            spatial_window = tuple(w for i, w in enumerate(window) if i not in non_spatial)
            spatial_strides = tuple(s for i, s in enumerate(all_strides) if i not in non_spatial)
            counts = lax.reduce_window(fnp.ones(spatial_shape, inputs.dtype), 0., lax.add,
                                       spatial_window, spatial_strides, padding)
            for i in sorted(non_spatial):
                counts = fnp.expand_dims(counts, i)
            return out / counts
        return init_fun, apply_fun
    PoolingLayer.__name__ = name
    PoolingLayer.__doc__ = (f"A pooling layer ({name}) over `window_shape` with `strides` and "
                            f"`padding`; `spec` (e.g. 'NHWC') places the batch and channel "
                            f"axes (default: first and last).")
    return PoolingLayer


MaxPool = _pooling_layer("MaxPool", lax.max, -fnp.inf)
SumPool = _pooling_layer("SumPool", lax.add, 0.)
AvgPool = _pooling_layer("AvgPool", lax.add, 0., average=True)


def _flatten():
    def init_fun(rng, input_shape):
        input_shape = _check_shape("Flatten", input_shape, 1)
        return (input_shape[0], math.prod(input_shape[1:])), ()

    def apply_fun(params, inputs, **kwargs):
        return fnp.reshape(inputs, (inputs.shape[0], -1))
    return init_fun, apply_fun


Flatten = _flatten()   # flattens all but the leading axis


def _identity():
    def init_fun(rng, input_shape):
        return input_shape, ()

    def apply_fun(params, inputs, **kwargs):
        return inputs
    return init_fun, apply_fun


Identity = _identity()


def FanOut(num):
    """A layer copying its input into a list of `num` outputs."""
    def init_fun(rng, input_shape):
        return [input_shape] * num, ()

    def apply_fun(params, inputs, **kwargs):
        return [inputs] * num
    return init_fun, apply_fun


def _fan_in_sum():
    def init_fun(rng, input_shape):
        return input_shape[0], ()

    def apply_fun(params, inputs, **kwargs):
        return sum(inputs)
    return init_fun, apply_fun


FanInSum = _fan_in_sum()   # sums a list of inputs


def FanInConcat(axis=-1):
    """A layer concatenating a list of inputs along `axis`."""
    def init_fun(rng, input_shape):
        ax = axis % len(input_shape[0])
        size = sum(shape[ax] for shape in input_shape)
        return tuple(input_shape[0][:ax]) + (size,) + tuple(input_shape[0][ax + 1:]), ()

    def apply_fun(params, inputs, **kwargs):
        return fnp.concatenate(inputs, axis)
    return init_fun, apply_fun


def Dropout(rate, mode='train'):
    """Dropout as JAX's stax: `rate` is the probability of KEEPING an element (kept ones are
    divided by `rate`); `mode` other than 'train' passes inputs through. `apply_fun` needs
    `rng=key` in every mode."""
    def init_fun(rng, input_shape):
        return input_shape, ()

    def apply_fun(params, inputs, **kwargs):
        rng = kwargs.get("rng", None)
        if rng is None:     # in every mode, as JAX's
            raise ArgumentError("Dropout: apply_fun needs a PRNG key: call "
                                "apply_fun(params, inputs, rng=key) with a key from "
                                "functrans.random.key, not apply_fun(params, inputs)")
        if mode != "train":
            return inputs
        keep = random.bernoulli(rng, rate, inputs.shape)
        return fnp.where(keep, inputs / rate, 0)
    return init_fun, apply_fun


def _unzip_layers(combinator, layers):
    for i, layer in enumerate(layers):
        if not (isinstance(layer, (tuple, list)) and len(layer) == 2
                and all(callable(f) for f in layer)):
            hint = (" (a constructor such as FanOut or Dense must be called first)"
                    if callable(layer) else "")
            raise ArgumentError(f"{combinator}: layer {i} must be an (init_fun, apply_fun) "
                                f"pair; got {layer!r}{hint}")
    if not layers:
        return (), ()
    return tuple(zip(*layers))


def serial(*layers):
    """Composes layers one after another: a new `(init_fun, apply_fun)` pair."""
    nlayers = len(layers)
    init_funs, apply_funs = _unzip_layers("serial", layers)

    def init_fun(rng, input_shape):
        params = []
        for init in init_funs:
            rng, layer_rng = random.split(rng)
            input_shape, param = init(layer_rng, input_shape)
            params.append(param)
        return input_shape, params

    def apply_fun(params, inputs, **kwargs):
        rng = kwargs.pop("rng", None)
        rngs = random.split(rng, nlayers) if rng is not None else (None,) * nlayers
        for fun, param, r in zip(apply_funs, params, rngs):
            inputs = fun(param, inputs, rng=r, **kwargs)
        return inputs
    return init_fun, apply_fun


def parallel(*layers):
    """Applies the i-th layer to the i-th of a sequence of inputs (often between `FanOut`
    and `FanInSum`/`FanInConcat`)."""
    nlayers = len(layers)
    init_funs, apply_funs = _unzip_layers("parallel", layers)

    def _check_count(what, seq):
        if len(seq) != nlayers:
            raise ArgumentError(f"parallel: {what} has {len(seq)} entries for {nlayers} "
                                f"layers; pass one per layer")

    def init_fun(rng, input_shape):
        _check_count("input_shape", input_shape)
        rngs = random.split(rng, nlayers)
        return tuple(zip(*[init(r, shape)
                           for init, r, shape in zip(init_funs, rngs, input_shape)]))

    def apply_fun(params, inputs, **kwargs):
        _check_count("inputs", inputs)
        rng = kwargs.pop("rng", None)
        rngs = random.split(rng, nlayers) if rng is not None else (None,) * nlayers
        return [f(p, x, rng=r, **kwargs)
                for f, p, x, r in zip(apply_funs, params, inputs, rngs)]
    return init_fun, apply_fun


def shape_dependent(make_layer):
    """Delays building a layer until the input shape is known: `make_layer(input_shape)`
    returns the `(init_fun, apply_fun)` pair."""
    def init_fun(rng, input_shape):
        return make_layer(input_shape)[0](rng, input_shape)

    def apply_fun(params, inputs, **kwargs):
        return make_layer(inputs.shape)[1](params, inputs, **kwargs)
    return init_fun, apply_fun
