"""`functrans.scipy.cluster.vq.vq`: each observation's nearest code in a code book."""
from __future__ import annotations

from ... import numpy as fnp
from ...core import place_functions as _place_functions

__all__ = ["vq"]


def vq(obs, code_book, check_finite=True):
    """`(codes, dists)`: the index of each row of `obs` (N, D) (or of each value, for 1-d
    obs) nearest to the rows of `code_book`, and its Euclidean distance."""
    obs, code_book = fnp.asarray(obs), fnp.asarray(code_book)
    if obs.ndim == 1:
        obs, code_book = obs[:, None], code_book[:, None]
    if obs.shape[1] != code_book.shape[1]:
        raise ValueError(f"vq: observations have {obs.shape[1]} features, the code book "
                         f"{code_book.shape[1]}")
    squared = fnp.sum((obs[:, None, :] - code_book[None, :, :]) ** 2, axis=-1)
    codes = fnp.argmin(squared, axis=1)
    return codes, fnp.sqrt(fnp.take_along_axis(squared, codes[:, None], axis=1)[:, 0])


# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
