"""JAX's `accuracy=` option of the transcendental `lax` functions (`exp`, `log`, `sin`, `tanh`,
`logistic`, `sqrt`, ...): `Tolerance` and `AccuracyMode`. functrans's kernels compute every
one at full accuracy, so the option changes no value; it is checked as JAX checks it and
recorded on the equation (`exp[accuracy=...]` in `make_jaxpr`), as JAX records it."""
from __future__ import annotations

import enum
import numbers

from ..core import get_aval
from ..primitives import elementwise as _ew

__all__ = ["Tolerance", "AccuracyMode", "exp", "exp2", "log", "log1p", "expm1", "sin", "cos",
           "tan", "tanh", "logistic", "sqrt", "rsqrt", "cbrt"]


class AccuracyMode(enum.Enum):
    """JAX's accuracy modes for `accuracy=`: the backend's most accurate or default kernel."""
    HIGHEST = 1
    DEFAULT = 2

    def __repr__(self):                 # as JAX's jaxprs show it
        return f"AccuracyMode.{self.name}"


class Tolerance:
    """The error a result of a transcendental function may have (`accuracy=`): absolute
    `atol`, relative `rtol` and `ulps` units in the last place, none negative and not all
    zero."""
    __slots__ = ("atol", "rtol", "ulps")

    def __init__(self, atol=0.0, rtol=0.0, ulps=0):
        for name, v in (("atol", atol), ("rtol", rtol), ("ulps", ulps)):
            if not isinstance(v, numbers.Real) or isinstance(v, bool):
                raise TypeError(f"Tolerance: {name} must be a real number, got "
                                f"{type(v).__name__}")
        if atol < 0 or rtol < 0 or ulps < 0:
            raise ValueError(f"Tolerances must be non-negative (got atol={atol}, rtol={rtol}, "
                             f"ulps={ulps}).")
        if atol == 0 and rtol == 0 and ulps == 0:
            raise ValueError("At least one of atol, rtol, or ulps must be set.")
        self.atol, self.rtol, self.ulps = atol, rtol, ulps

    def _key(self):
        return self.atol, self.rtol, self.ulps

    def __eq__(self, other):
        return type(other) is Tolerance and self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        return f"Tolerance(atol={self.atol}, rtol={self.rtol}, ulps={self.ulps})"


def _with_accuracy(fn, prim):
    """`lax.<name>(x, *, accuracy=None)`: `fn(x)`, or with an accuracy, `prim` bound with it
    after both are checked."""
    name = prim.name

    def f(x, *, accuracy=None):
        if accuracy is None:
            return fn(x)
        if not isinstance(accuracy, (Tolerance, AccuracyMode)):
            raise NotImplementedError(
                f"Accuracy {accuracy!r} not supported by lax.{name}: pass a lax.Tolerance("
                "atol=..., rtol=..., ulps=...), lax.AccuracyMode.HIGHEST or .DEFAULT, or None")
        prim.abstract_eval(get_aval(x))             # refuses integers, as fn(x) does
        return prim.bind(x, accuracy=accuracy)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = (f"Elementwise `{name}`; `accuracy` (a `Tolerance` or `AccuracyMode`, JAX's) "
                 "is recorded on the equation: the kernel is at full accuracy anyway.")
    return f


exp, exp2, log, log1p, expm1, sin, cos, tan, tanh, logistic, sqrt, rsqrt, cbrt = (
    _with_accuracy(getattr(_ew, n), getattr(_ew, n + "_p")) for n in __all__[2:])
