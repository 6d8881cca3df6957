"""Errors that say where: the user's source line (the innermost frame outside functrans) and
the error types the transforms raise."""
from __future__ import annotations

import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class JAXTypeError(TypeError):
    """The base of the TypeErrors named as in `jax.errors`."""


class JAXIndexError(IndexError):
    """The base of the IndexErrors named as in `jax.errors`."""


class ConcretizationError(JAXTypeError):
    """A traced value was used where a concrete Python value is needed: the base of the
    JAX-named concretization errors below, which functrans raises."""


class ConcretizationTypeError(ConcretizationError):
    """A traced value was used where a concrete value is needed: `int()`, `float()`,
    `.item()` of a traced value, or an operation whose output shape depends on values."""


class TracerBoolConversionError(ConcretizationTypeError):
    """`bool()` of a traced value: Python control flow (`if`, `while`, `and`) on data."""


class TracerIntegerConversionError(ConcretizationError):
    """`__index__` of a traced value: a traced value used as a list index, a `range` bound or
    a size. (Unlike the other conversions it is no ConcretizationTypeError, as in JAX.)"""


class TracerArrayConversionError(JAXTypeError):
    """A traced value turned into a NumPy array (`np.asarray(x)`, a NumPy function on it)."""


class NonConcreteBooleanIndexError(JAXIndexError):
    """Indexing with a traced boolean mask (`x[x > 0]` under jit or vmap): the result's shape
    would depend on the mask's values."""


class KeyReuseError(JAXTypeError):
    """A PRNG key consumed twice (JAX's optional key-reuse checker; functrans does not check
    key reuse, so it never raises this)."""


class JaxRuntimeError(RuntimeError):
    """An error raised while a compiled program runs."""


class JaxprTypeError(TypeError):
    """A jaxpr whose equations do not type-check."""


class InconclusiveDimensionOperation(Exception):
    """A comparison of symbolic dimensions that cannot be decided (functrans has no symbolic
    shapes, so it never raises this)."""


def converting(error, tracer, why):
    """The concrete value of `tracer` (for `why`); when there is none, the error as an
    instance of `error` (a ConcretizationError subclass) with the same message."""
    try:
        return tracer.concrete_value(why)
    except ConcretizationError as e:
        if isinstance(e, error):
            raise
        raise error(str(e)).with_traceback(e.__traceback__) from None


class ShapeMismatchError(TypeError, ValueError):
    """Operand shapes that do not fit an operation such as a matrix product: a TypeError
    where JAX raises one, and a ValueError where NumPy does, so that either `except`
    catches it."""


class IndexTypeError(IndexError, TypeError):
    """An index of a type arrays cannot be indexed with (a float): an IndexError where NumPy
    raises one and a TypeError where JAX does, so that either `except` catches it."""


class UnexpectedTracerError(JAXTypeError):
    """A tracer was used after the transform that created it had finished (a TypeError, as
    JAX's is)."""


class ArgumentError(TypeError, ValueError):
    """A transform's argument it cannot use (argnums past the arguments given, an unhashable
    static argument): a TypeError where JAX or Python raises one and a ValueError where the
    other does, so that either `except` catches it."""


class NonFiniteError(FloatingPointError):
    """An operation produced a NaN or an infinity while `debug_nans` / `debug_infs` is on."""


def user_frame(skip_package=True):
    """`(filename, lineno, function)` of the innermost frame outside functrans, or None."""
    f = sys._getframe(1)
    while f is not None:
        fn = f.f_code.co_filename
        if not (skip_package and fn.startswith(_PACKAGE_DIR)) and not fn.startswith("<frozen"):
            return (fn, f.f_lineno, f.f_code.co_name)
        f = f.f_back
    return None


def format_frame(frame):
    """`file:line (in function)` for a frame from `user_frame`."""
    if frame is None:
        return "<unknown location>"
    fn, line, func = frame
    return f"{fn}:{line} (in {func})"


def reraise_with_context(err, message):
    """Raise `err` again, of the same type where possible, with `message` in front."""
    text = f"{message}\n  {type(err).__name__}: {err}"
    try:
        new = type(err)(text)
    except Exception:
        new = ValueError(text)
    raise new.with_traceback(None) from err
