"""The chi-squared distribution with `df` degrees of freedom (SciPy's `chi2`): the gamma
distribution with shape df / 2 and scale 2."""
from __future__ import annotations

from . import gamma
from ._common import promote
from ...core import place_functions as _place_functions


def _as_gamma(name):
    of_gamma = getattr(gamma, name)

    def fn(x, df, loc=0, scale=1):
        x, df, loc, scale = promote(x, df, loc, scale)
        return of_gamma(x, df / 2, loc, 2 * scale)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"chi2.{name}(x, df, loc, scale): gamma.{name} with a = df / 2, scale 2 scale."
    return fn


logpdf, pdf, cdf, logcdf, sf, logsf = map(
    _as_gamma, ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf"))

# NumPy data and constants made here join the operands' device (core.on_operand_device)
_place_functions(globals())
