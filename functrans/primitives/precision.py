"""JAX's names for the precision of products and convolutions (`precision=` of `dot_general`,
`conv_general_dilated` and the functions built on them): `Precision`, `DotAlgorithm`,
`DotAlgorithmPreset`, and `check_precision`, which refuses what JAX refuses. The values never
change results: the host kernels compute at the operands' precision."""
from __future__ import annotations

import enum
import typing

__all__ = ["Precision", "DotAlgorithm", "DotAlgorithmPreset", "PrecisionLike",
           "check_precision"]


class Precision(enum.Enum):
    """JAX's precision names for products and convolutions (`precision=`); the host
    kernels compute at the operands' precision whichever is given."""
    DEFAULT = 0
    HIGH = 1
    HIGHEST = 2


class DotAlgorithm(typing.NamedTuple):
    """JAX's description of a dot-product algorithm (operand and accumulation types, ...),
    accepted as `precision=`; the host kernels compute at the operands' precision."""
    lhs_precision_type: typing.Any
    rhs_precision_type: typing.Any
    accumulation_type: typing.Any
    lhs_component_count: int = 1
    rhs_component_count: int = 1
    num_primitive_operations: int = 1
    allow_imprecise_accumulation: bool = False


DotAlgorithmPreset = enum.Enum("DotAlgorithmPreset", [
    "DEFAULT", "ANY_F8_ANY_F8_F32", "ANY_F8_ANY_F8_F32_FAST_ACCUM", "ANY_F8_ANY_F8_ANY",
    "ANY_F8_ANY_F8_ANY_FAST_ACCUM", "F16_F16_F16", "F16_F16_F32", "BF16_BF16_BF16",
    "BF16_BF16_F32", "BF16_BF16_F32_X3", "BF16_BF16_F32_X6", "BF16_BF16_F32_X9",
    "TF32_TF32_F32", "TF32_TF32_F32_X3", "F32_F32_F32", "F64_F64_F64"], module=__name__)
DotAlgorithmPreset.__doc__ = ("JAX's named dot-product algorithms (its names and values), "
                              "accepted as `precision=`; the host kernels compute at the "
                              "operands' precision.")

PrecisionLike = typing.Union[None, str, Precision, tuple[str, str], tuple[Precision, Precision],
                             DotAlgorithm, DotAlgorithmPreset]

_NAMES = {"highest": Precision.HIGHEST, "float32": Precision.HIGHEST, "high": Precision.HIGH,
          "bfloat16_3x": Precision.HIGH, "tensorfloat32": Precision.HIGH,
          "default": Precision.DEFAULT, "bfloat16": Precision.DEFAULT,
          "fastest": Precision.DEFAULT}


def _one(p):
    """`p` as a Precision, or None where it names none."""
    if isinstance(p, Precision):
        return p
    return _NAMES.get(p) if isinstance(p, str) else None


def check_precision(precision, fn):
    """Refuse a `precision=` of `fn` that JAX refuses: anything but None, a `Precision`, one
    of JAX's precision strings, a tuple of two of those (lhs, rhs), a `DotAlgorithmPreset` or
    its name, or a `DotAlgorithm`."""
    if precision is None or isinstance(precision, (DotAlgorithm, DotAlgorithmPreset)) or \
            _one(precision) is not None:
        return
    if isinstance(precision, str) and precision in DotAlgorithmPreset.__members__:
        return
    if type(precision) is tuple and len(precision) == 2 and \
            None not in (_one(precision[0]), _one(precision[1])):
        return
    raise ValueError(
        f"{fn}: precision={precision!r} is not a precision; pass None, a lax.Precision "
        f"(DEFAULT, HIGH, HIGHEST), one of the strings {sorted(_NAMES)}, a tuple of two of "
        "those (one per operand), a lax.DotAlgorithmPreset (or its name, e.g. 'F32_F32_F32') "
        "or a lax.DotAlgorithm")
