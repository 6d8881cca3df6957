"""Activation functions: functional forms (re-exported by `ft.nn.functional`) and layers, with
PyTorch's names, arguments, defaults and printing. Derivatives at the kinks are PyTorch's:
relu'(0) = 0, leaky_relu'(0) = negative_slope, elu'(0) = alpha, hardtanh' = 0 at both bounds,
hardsigmoid' = 0 at ±3, hardswish'(-3) = 0 and hardswish'(3) = 1, prelu'(0) = weight, softplus'
= 1 above its threshold, hardshrink' = softshrink' = 0 at ±lambd, threshold' = 0 at the
threshold, and rrelu'(0) = the slope of the negative side (drawn or mean). `inplace=` is
accepted where PyTorch has it, for code ported from PyTorch: arrays are immutable, so every
result is a new array either way.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .. import dtypes, lax
from .. import numpy as fnp
from ..higher_order.custom_derivatives import custom_jvp
from ..numpy._signatures import keyword_alias
from ..primitives._util import dtype_of, shape_of
from ._utils import as_floating, float_dtype
from .in_place import refuse_in_place
from .module import Module, field

__all__ = ['relu', 'gelu', 'sigmoid', 'tanh', 'softmax', 'log_softmax', 'leaky_relu', 'elu', 'selu', 'celu', 'silu', 'mish', 'softplus', 'softsign', 'hardtanh', 'relu6', 'hardsigmoid', 'hardswish', 'prelu', 'softmin', 'logsigmoid', 'LeakyReLU', 'ELU', 'SELU', 'CELU', 'SiLU', 'Mish', 'Softplus', 'Softsign', 'Hardtanh', 'ReLU6', 'Hardsigmoid', 'Hardswish', 'PReLU', 'Softmin', 'LogSigmoid', 'ReLU', 'Tanh', 'Sigmoid', 'GELU', 'Softmax', 'LogSoftmax',
           'tanhshrink', 'hardshrink', 'softshrink', 'threshold', 'glu', 'rrelu', 'Tanhshrink',
           'Hardshrink', 'Softshrink', 'Threshold', 'GLU', 'Softmax2d', 'RReLU', 'gumbel_softmax',
           'relu_', 'elu_', 'leaky_relu_', 'hardtanh_', 'selu_', 'celu_', 'rrelu_', 'threshold_']


@keyword_alias(x="input")     # jax.nn's name
def relu(input, inplace=False):
    """max(x, 0), with derivative 0 at 0 (as PyTorch); NaN stays NaN."""
    return _relu(as_floating(input))


@custom_jvp
def _relu(x):
    return lax.max(x, 0.0)


@_relu.defjvp
def _relu_jvp(primals, tangents):
    # the derivative is the mask x > 0: 0 at 0, unlike max's tie rule; multiplying by the
    # mask is branch-free (select is slow on unpredictable masks)
    x, = primals
    t, = tangents
    return lax.max(x, 0.0), lax.mul(t, lax.convert_element_type(lax.gt(x, 0.0), dtype_of(x)))


def gelu(x, approximate="none"):
    """x·Φ(x) with the exact erf (default) or PyTorch's `approximate="tanh"` form (JAX's
    `approximate=True`; JAX's default is the tanh form, PyTorch's the exact one)."""
    x = as_floating(x)
    if isinstance(approximate, bool):
        approximate = "tanh" if approximate else "none"
    if approximate == "none":
        return lax.mul(lax.mul(x, 0.5), lax.add(lax.erf(lax.mul(x, 1 / math.sqrt(2))), 1.0))
    if approximate == "tanh":
        inner = lax.mul(lax.add(x, lax.mul(lax.mul(lax.square(x), x), 0.044715)),
                        math.sqrt(2 / math.pi))
        return lax.mul(lax.mul(x, 0.5), lax.add(lax.tanh(inner), 1.0))
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


@keyword_alias(x="input")     # jax.nn's name
def sigmoid(input):
    return lax.logistic(as_floating(input))


def tanh(input):
    return lax.tanh(as_floating(input))


class _Unset:
    def __repr__(self):
        return "unset"


_UNSET = _Unset()       # `axis` not given (JAX's axis=None means every axis)


def _axes(x, dim, axis, fn):
    """The sorted axes to normalize over: JAX's `axis` where given (an int, a tuple, or None
    for all), else PyTorch's `dim`."""
    rank = len(shape_of(x))
    if axis is _UNSET:
        if dim is None:
            raise TypeError(f"{fn} needs dim (the axis to normalize over)")
        axis = dim
    if axis is None:
        return tuple(range(rank))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(sorted({a % max(rank, 1) for a in axes}))


def _axis(x, dim, fn):
    return _axes(x, dim, _UNSET, fn)[0]


def _in_dtype(input, dtype):
    """`input` as floats, converted to `dtype` first where one is given (PyTorch's `dtype=`
    of softmax and its kin, against overflow in low precision)."""
    return as_floating(input) if dtype is None else fnp.asarray(input, dtype=dtype)


@keyword_alias(x="input")     # jax.nn's name
def log_softmax(input, dim=-1, *, dtype=None, axis=_UNSET, where=None):
    """log(softmax(x)) along `dim` (JAX's `axis`: an int, a tuple, or None for all), computed
    stably (in `dtype` where given); with JAX's `where`, over the elements it marks only
    (-inf elsewhere)."""
    x = _in_dtype(input, dtype)
    shifted, e, total, mask = _normalizer(x, _axes(x, dim, axis, "log_softmax"), where)
    out = lax.sub(shifted, lax.log(total))
    return out if mask is None else lax.select(mask, out, lax.full_like(out, -math.inf))


@keyword_alias(x="input")     # jax.nn's name
def softmax(input, dim=-1, *, dtype=None, axis=_UNSET, where=None):
    """exp(x) / sum(exp(x)) along `dim` (JAX's `axis`: an int, a tuple, or None for all),
    computed stably (in `dtype` where given); with JAX's `where`, over the elements it marks
    only (0 elsewhere)."""
    x = _in_dtype(input, dtype)
    _, e, total, _ = _normalizer(x, _axes(x, dim, axis, "softmax"), where)
    return lax.div(e, total)


def _normalizer(x, axes, where):
    """`(x - max, exp of it, its sum over axes kept as size-1 axes, the mask)`, over the
    elements `where` marks (None: all). A row with none marked sums to 1, so that its results
    and derivatives stay finite."""
    shape = shape_of(x)
    keep = tuple(1 if i in axes else n for i, n in enumerate(shape))
    mask = None if where is None else fnp.broadcast_to(fnp.asarray(where, dtype=bool), shape)
    marked = x if mask is None else lax.select(mask, x, lax.full_like(x, -math.inf))
    top = lax.reduce_max(marked, axes)
    if mask is not None:
        top = lax.select(lax.is_finite(top), top, lax.full_like(top, 0.0))
    shifted = lax.sub(x, lax.stop_gradient(lax.reshape(top, keep)))
    e = lax.exp(shifted)
    if mask is not None:
        e = lax.select(mask, e, lax.full_like(e, 0.0))
    total = lax.reshape(lax.reduce_sum(e, axes), keep)
    if mask is not None:
        total = lax.select(lax.gt(total, 0.0), total, lax.full_like(total, 1.0))
    return shifted, e, total, mask


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _fill(x, value):
    return lax.full_like(x, value)


# ------------------------------------------------------------------ functional forms
@keyword_alias(x="input")     # jax.nn's name
def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x for x > 0, negative_slope·x otherwise (derivative negative_slope at 0)."""
    x = as_floating(input)
    return lax.select(lax.gt(x, 0.0), x, lax.mul(x, float(negative_slope)))


@keyword_alias(x="input")     # jax.nn's name
def elu(input, alpha=1.0, inplace=False):
    """x for x > 0, alpha·(exp(x) - 1) otherwise."""
    x = as_floating(input)
    return lax.select(lax.gt(x, 0.0), x, lax.mul(lax.expm1(x), float(alpha)))


@keyword_alias(x="input")     # jax.nn's name
def selu(input, inplace=False):
    """scale·elu(x, alpha) with the self-normalizing constants of Klambauer et al."""
    return lax.mul(elu(input, _SELU_ALPHA), _SELU_SCALE)


@keyword_alias(x="input")     # jax.nn's name
def celu(input, alpha=1.0, inplace=False):
    """x for x > 0, alpha·(exp(x/alpha) - 1) otherwise."""
    if alpha == 0:
        raise ValueError("celu: alpha must not be 0 (it divides x)")
    x = as_floating(input)
    return lax.select(lax.gt(x, 0.0), x,
                      lax.mul(lax.expm1(lax.div(x, float(alpha))), float(alpha)))


@keyword_alias(x="input")     # jax.nn's name
def silu(input, inplace=False):
    """x·sigmoid(x) (also called swish)."""
    x = as_floating(input)
    return lax.mul(x, lax.logistic(x))


def _softplus(x):
    return lax.logaddexp(x, lax.full_like(x, 0.0))


@keyword_alias(x="input")     # jax.nn's name
def mish(input, inplace=False):
    """x·tanh(softplus(x))."""
    x = as_floating(input)
    return lax.mul(x, lax.tanh(_softplus(x)))


@keyword_alias(x="input")     # jax.nn's name
def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta·x)) / beta, and x itself where beta·x > threshold."""
    x = as_floating(input)
    bx = lax.mul(x, float(beta))
    return lax.select(lax.gt(bx, float(threshold)), x, lax.div(_softplus(bx), float(beta)))


def softsign(input):
    """x / (1 + |x|)."""
    x = as_floating(input)
    return lax.div(x, lax.add(lax.abs(x), 1.0))


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """x clipped to [min_val, max_val]; the derivative is 0 at and beyond the bounds."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val ({min_val}) must not exceed max_val ({max_val})")
    x = as_floating(input)
    lo, hi = float(min_val), float(max_val)
    return lax.select(lax.le(x, lo), _fill(x, lo),
                      lax.select(lax.ge(x, hi), _fill(x, hi), x))


@keyword_alias(x="input")     # jax.nn's name
def relu6(input, inplace=False):
    """min(max(x, 0), 6) (hardtanh(x, 0, 6))."""
    return hardtanh(input, 0.0, 6.0)


def hardsigmoid(input, inplace=False):
    """0 for x <= -3, 1 for x >= 3, x/6 + 1/2 in between."""
    x = as_floating(input)
    return lax.select(lax.le(x, -3.0), _fill(x, 0.0),
                      lax.select(lax.ge(x, 3.0), _fill(x, 1.0),
                                 lax.add(lax.mul(x, 1 / 6), 0.5)))


def hardswish(input, inplace=False):
    """x·hardsigmoid(x): 0 for x <= -3, x for x >= 3, x·(x + 3)/6 in between (so the
    derivative is 0 at -3 and 1 at 3, as PyTorch's)."""
    x = as_floating(input)
    middle = lax.mul(x, lax.mul(lax.add(x, 3.0), 1 / 6))
    return lax.select(lax.le(x, -3.0), _fill(x, 0.0),
                      lax.select(lax.lt(x, 3.0), middle, x))


def prelu(input, weight):
    """x for x > 0, weight·x otherwise; `weight` has 1 entry or one per channel (axis 1)."""
    x = as_floating(input)
    weight = fnp.asarray(weight)
    dt = dtypes.result_type(x.dtype, weight.dtype)
    x, weight = x.astype(dt), weight.astype(dt)
    if weight.ndim > 1:
        raise ValueError(f"prelu: weight must be 0-d or 1-d, got shape {weight.shape}")
    n = 1 if weight.ndim == 0 else weight.shape[0]
    if n != 1:
        channels = x.shape[1] if x.ndim > 1 else 1
        if channels != n:
            raise ValueError(f"prelu: weight has {n} entries but the input of shape {x.shape} "
                             f"has {channels} channel(s) on axis 1; use one weight or one per "
                             "channel")
        weight = lax.reshape(weight, (n,) + (1,) * (x.ndim - 2))
    elif weight.ndim == 1:
        weight = lax.reshape(weight, ())
    return lax.select(lax.gt(x, 0.0), x, lax.mul(weight, x))


def softmin(input, dim=-1, *, dtype=None, axis=_UNSET):
    """softmax(-x) along `dim` (or JAX-style `axis`; in `dtype` where given)."""
    return softmax(lax.neg(_in_dtype(input, dtype)), dim, axis=axis)


def logsigmoid(input):
    """log(sigmoid(x)) = -softplus(-x), computed stably."""
    x = as_floating(input)
    return lax.neg(_softplus(lax.neg(x)))


def tanhshrink(input):
    """x - tanh(x)."""
    x = as_floating(input)
    return lax.sub(x, lax.tanh(x))


def hardshrink(input, lambd=0.5):
    """x where |x| > lambd, 0 where -lambd <= x <= lambd (NaN stays NaN)."""
    x = as_floating(input)
    return lax.select(lax.le(lax.abs(x), float(lambd)), _fill(x, 0.0), x)


def _check_lambd(lambd, fn):
    if not lambd >= 0:
        raise ValueError(f"{fn}: lambd must be >= 0 (the half-width of the band shrunk to 0), "
                         f"got {lambd}")


def softshrink(input, lambd=0.5):
    """x - lambd above lambd, x + lambd below -lambd, 0 in between (lambd >= 0)."""
    _check_lambd(lambd, "softshrink")
    x = as_floating(input)
    lam = float(lambd)
    # NaN fails both comparisons and lands in x + lambd, so it stays NaN
    return lax.select(lax.gt(x, lam), lax.sub(x, lam),
                      lax.select(lax.ge(x, -lam), _fill(x, 0.0), lax.add(x, lam)))


def threshold(input, threshold, value, inplace=False):
    """x where x > threshold, `value` elsewhere (NaN stays NaN)."""
    x = as_floating(input)
    return lax.select(lax.le(x, float(threshold)), _fill(x, float(value)), x)


@keyword_alias(x="input")     # jax.nn's name
def glu(input, dim=-1, *, axis=None):
    """a·sigmoid(b), where a and b are the first and second halves of `input` along `dim`
    (JAX's `axis`), whose size must be even."""
    dim = dim if axis is None else axis
    x = as_floating(input)
    shape = shape_of(x)
    if not shape:
        raise ValueError("glu: the input is a scalar; it needs an axis of even size (dim) to "
                         "split into the value and gate halves")
    if not -len(shape) <= dim < len(shape):
        raise ValueError(f"glu: dim {dim} is out of range for an input of shape {shape}")
    d = dim % len(shape)
    n = shape[d]
    if n % 2:
        raise ValueError(f"glu: axis {dim} of the input of shape {shape} has odd size {n}; it "
                         "is split into two equal halves (value and gate), so it must be even")
    a = lax.slice_in_dim(x, 0, n // 2, axis=d)
    b = lax.slice_in_dim(x, n // 2, n, axis=d)
    return lax.mul(a, lax.logistic(b))


def _check_bounds(lower, upper, fn):
    if lower > upper:
        raise ValueError(f"{fn}: lower ({lower}) must not exceed upper ({upper})")


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, inplace=False, *, key=None):
    """Randomized leaky ReLU: in training mode each element x <= 0 is scaled by its own slope
    drawn uniformly from [lower, upper) (pass `key=`); otherwise by the mean slope
    (lower + upper) / 2, i.e. leaky_relu. Note `training=False` by default, as PyTorch's."""
    _check_bounds(lower, upper, "rrelu")
    x = as_floating(input)
    if not training:
        return leaky_relu(x, (lower + upper) / 2)
    if key is None:
        raise ValueError("rrelu in training mode draws a random slope for each element: pass "
                         "key=... (split a fresh one each step), or use training=False / "
                         "model.eval() for the mean slope (lower + upper) / 2")
    from ..random import uniform
    slope = uniform(key, shape_of(x), dtype_of(x), float(lower), float(upper))
    return lax.select(lax.gt(x, 0.0), x, lax.mul(x, slope))


def gumbel_softmax(logits, tau=1, hard=False, eps=1e-10, dim=-1, *, key=None):
    """A sample of the Gumbel-softmax (concrete) distribution: softmax((logits + g) / tau)
    along `dim`, with g standard Gumbel noise drawn with `key` (required). `hard=True` gives
    the one-hot vector of each sample's largest entry, whose derivative is the soft sample's
    (straight-through). `eps` is unused (deprecated in PyTorch too)."""
    if eps != 1e-10:
        warnings.warn("gumbel_softmax: `eps` is deprecated and has no effect", stacklevel=2)
    x = as_floating(logits)
    if key is None:
        raise ValueError("gumbel_softmax draws Gumbel noise: pass key=... (split a fresh one "
                         "for each sample)")
    from ..random import gumbel
    d = _axis(x, dim, "gumbel_softmax")
    noisy = fnp.divide(lax.add(x, gumbel(key, shape_of(x), dtype_of(x))), tau)
    soft = softmax(noisy, d)
    if not hard:
        return soft
    shape = shape_of(soft)
    keep = shape[:d] + (1,) + shape[d + 1:]
    index = lax.reshape(lax.argmax(soft, d), keep)
    positions = lax.reshape(lax.iota(shape[d], np.int64, like=soft),
                            (shape[d],) + (1,) * (len(shape) - d - 1))
    one_hot = lax.convert_element_type(lax.eq(positions, index), dtype_of(soft))
    # PyTorch's y_hard - y_soft.detach() + y_soft: the value is one-hot, the derivative soft's
    return lax.add(lax.sub(one_hot, lax.stop_gradient(soft)), soft)


# ------------------------------------------------------------------ layers
def _inplace_repr(inplace):
    return "inplace=True" if inplace else ""


def _with_inplace(s, inplace):
    return s + (", inplace=True" if inplace else "")


class LeakyReLU(Module):
    negative_slope: float = 0.01
    inplace: bool = False

    def __call__(self, x, *, key=None):
        return leaky_relu(x, self.negative_slope)

    def extra_repr(self):
        return _with_inplace(f"negative_slope={self.negative_slope}", self.inplace)


class ELU(Module):
    alpha: float = 1.0
    inplace: bool = False

    def __call__(self, x, *, key=None):
        return elu(x, self.alpha)

    def extra_repr(self):
        return _with_inplace(f"alpha={self.alpha}", self.inplace)


class CELU(ELU):
    def __call__(self, x, *, key=None):
        return celu(x, self.alpha)


class SELU(Module):
    inplace: bool = False

    def __call__(self, x, *, key=None):
        return selu(x)

    def extra_repr(self):
        return _inplace_repr(self.inplace)


class SiLU(SELU):
    def __call__(self, x, *, key=None):
        return silu(x)


class Mish(SELU):
    def __call__(self, x, *, key=None):
        return mish(x)


class _InplaceUnprinted(SELU):
    def extra_repr(self):                 # PyTorch prints no `inplace` for these
        return ""


class Hardswish(_InplaceUnprinted):
    def __call__(self, x, *, key=None):
        return hardswish(x)


class Hardsigmoid(_InplaceUnprinted):
    def __call__(self, x, *, key=None):
        return hardsigmoid(x)


class ReLU6(SELU):
    def __call__(self, x, *, key=None):
        return relu6(x)


class Softplus(Module):
    beta: float = 1.0
    threshold: float = 20.0

    def __call__(self, x, *, key=None):
        return softplus(x, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"


class Softsign(Module):
    def __call__(self, x, *, key=None):
        return softsign(x)


class LogSigmoid(Module):
    def __call__(self, x, *, key=None):
        return logsigmoid(x)


class Hardtanh(Module):
    min_val: float = -1.0
    max_val: float = 1.0
    inplace: bool = False

    def __post_init__(self):
        if self.min_val > self.max_val:
            raise ValueError(f"Hardtanh: min_val ({self.min_val}) must not exceed max_val "
                             f"({self.max_val})")

    def __call__(self, x, *, key=None):
        return hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self):
        return _with_inplace(f"min_val={self.min_val}, max_val={self.max_val}", self.inplace)


class PReLU(Module):
    """Leaky ReLU with a learned slope: one (`num_parameters=1`) or one per channel, all
    starting at `init`."""

    def __init__(self, num_parameters=1, init=0.25, *, dtype=None):
        dt = float_dtype(dtype)
        self.weight = fnp.full((int(num_parameters),), init, dt)
        self.num_parameters = int(num_parameters)

    def __call__(self, x, *, key=None):
        return prelu(x, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class Softmin(Module):
    dim: object = field(default=None)

    def __call__(self, x, *, key=None):
        x = as_floating(x)
        dim = self.dim if self.dim is not None else (0 if x.ndim in (0, 1, 3) else 1)
        return softmin(x, dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class ReLU(Module):
    inplace: bool = False

    def __call__(self, x, *, key=None):
        return relu(x)

    def extra_repr(self):
        return _inplace_repr(self.inplace)


class Tanh(Module):
    def __call__(self, x, *, key=None):
        return tanh(x)


class Sigmoid(Module):
    def __call__(self, x, *, key=None):
        return sigmoid(x)


class GELU(Module):
    approximate: str = "none"

    def __call__(self, x, *, key=None):
        return gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


def _implicit_dim(x):
    """PyTorch's legacy choice of softmax axis when none is given."""
    return 0 if len(shape_of(x)) in (0, 1, 3) else 1


class Softmax(Module):
    dim: object = None
    _fn = staticmethod(softmax)

    def __call__(self, x, *, key=None):
        return self._fn(x, _implicit_dim(x) if self.dim is None else self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    _fn = staticmethod(log_softmax)


class Tanhshrink(Module):
    def __call__(self, x, *, key=None):
        return tanhshrink(x)


class Hardshrink(Module):
    lambd: float = 0.5

    def __call__(self, x, *, key=None):
        return hardshrink(x, self.lambd)

    def extra_repr(self):
        return f"{self.lambd}"


class Softshrink(Hardshrink):
    def __post_init__(self):
        _check_lambd(self.lambd, "Softshrink")

    def __call__(self, x, *, key=None):
        return softshrink(x, self.lambd)


class Threshold(Module):
    """`value` where x <= threshold, x elsewhere."""
    threshold: float
    value: float
    inplace: bool = False

    def __call__(self, x, *, key=None):
        return threshold(x, self.threshold, self.value)

    def extra_repr(self):
        return _with_inplace(f"threshold={self.threshold}, value={self.value}", self.inplace)


class GLU(Module):
    dim: int = -1

    def __call__(self, x, *, key=None):
        return glu(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmax2d(Module):
    """Softmax2d(): softmax over the channels of each pixel, axis -3 of a (C, H, W) or
    (N, C, H, W) input."""

    def __call__(self, x, *, key=None):
        x = as_floating(x)
        if x.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected a 3-d (C, H, W) or 4-d (N, C, H, W) input, "
                             f"got shape {x.shape}; for other ranks use Softmax(dim=...)")
        return softmax(x, -3)


class RReLU(Module):
    """Randomized leaky ReLU: in training mode (the default) call with `key=`; `model.eval()`
    returns a copy that uses the mean slope (lower + upper) / 2."""
    lower: float = 1.0 / 8
    upper: float = 1.0 / 3
    inplace: bool = False
    training: bool = True

    def __post_init__(self):
        _check_bounds(self.lower, self.upper, "RReLU")

    def __call__(self, x, *, key=None):
        return rrelu(x, self.lower, self.upper, self.training, key=key)

    def extra_repr(self):
        return _with_inplace(f"lower={self.lower}, upper={self.upper}", self.inplace)


# ------------------------------------------------------------------ PyTorch's in-place names
# F.relu_(x) and its kin overwrite x in PyTorch; arrays here are immutable, so each raises
# and names the out-of-place call (never computing silently, which would drop the result of
# code written for its side effect).
def _refuse(fn, call):
    return refuse_in_place(fn.__name__ + "_", f"x = ft.nn.functional.{call}", "its input",
                           fn)


relu_ = _refuse(relu, "relu(x)")
elu_ = _refuse(elu, "elu(x, alpha)")
leaky_relu_ = _refuse(leaky_relu, "leaky_relu(x, negative_slope)")
hardtanh_ = _refuse(hardtanh, "hardtanh(x, min_val, max_val)")
selu_ = _refuse(selu, "selu(x)")
celu_ = _refuse(celu, "celu(x, alpha)")
rrelu_ = _refuse(rrelu, "rrelu(x, lower, upper, training, key=key)")
threshold_ = _refuse(threshold, "threshold(x, threshold, value)")
