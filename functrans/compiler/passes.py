"""Optimization passes over jaxprs, run before code generation."""
from __future__ import annotations

from ..core import ClosedJaxpr
from ..interpreters.partial_eval import dce_jaxpr


def optimize(closed: ClosedJaxpr) -> ClosedJaxpr:
    jaxpr, _ = dce_jaxpr(closed.jaxpr)
    return ClosedJaxpr(jaxpr, closed.consts)
