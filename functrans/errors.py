"""Errors that say where: the user's source line (the innermost frame outside functrans) and
the error types the transforms raise."""
from __future__ import annotations

import os
import sys

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class ConcretizationError(TypeError):
    """A traced value was used where a concrete Python value is needed."""


class ShapeMismatchError(TypeError, ValueError):
    """Operand shapes that do not fit an operation such as a matrix product: a TypeError
    where JAX raises one, and a ValueError where NumPy does, so that either `except`
    catches it."""


class UnexpectedTracerError(TypeError):
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
