"""The settings `numpy_rank_promotion` ("allow", "warn", "raise") and `numpy_dtype_promotion`
("standard", "strict"), as in JAX: the rank check of binary operations is here (the dtype
check is in `functrans.dtypes`); while either is not its default the eager NumPy fast paths,
which would skip both, are off."""
from __future__ import annotations

import warnings

from ..config import config
from ..primitives._util import shape_of
from . import _fast


def check_rank_promotion(name, *operands):
    """Warn or raise (as `numpy_rank_promotion` says) where the operands of `name` that are
    not scalars have different ranks, i.e. where broadcasting would add leading axes."""
    mode = config.numpy_rank_promotion
    if mode == "allow":
        return
    shapes = [shape_of(x) for x in operands]
    if len({len(s) for s in shapes if len(s)}) < 2:
        return
    shown = " ".join(str(tuple(s)) for s in shapes)
    if mode == "raise":
        raise ValueError(
            f"{name}: operands of shapes {shown} have different ranks, and implicit rank "
            "promotion is off (numpy_rank_promotion='raise'). Add the missing axes "
            "explicitly (x[None], fnp.expand_dims, fnp.broadcast_to), or allow it with "
            "ft.config.update('numpy_rank_promotion', 'allow').")
    warnings.warn(
        f"{name}: following NumPy's implicit rank promotion for operands of shapes {shown}. "
        "Set numpy_rank_promotion to 'allow' to silence this warning, or to 'raise' to "
        "make it an error.", UserWarning, stacklevel=3)


def _on_config(name=None, value=None):
    if name in (None, "numpy_rank_promotion", "numpy_dtype_promotion"):
        _fast.enable(config.numpy_rank_promotion == "allow" and
                     config.numpy_dtype_promotion == "standard", reason="promotion settings")


config.on_update(_on_config)
_on_config()
