"""`skip_init`: a layer whose arrays are allocated but not initialized
(`torch.nn.utils.skip_init`), for weights about to be loaded or set by hand."""
from __future__ import annotations

import inspect

from ... import numpy as fnp
from ...api import eval_shape
from ...tree_util import tree_map
from ..module import Module

__all__ = ["skip_init"]


def skip_init(module_cls, *args, **kwargs):
    """`module_cls(*args, **kwargs)` with its parameters and buffers uninitialized (their
    values unspecified: `fnp.empty`): the initializers only run abstractly, for the shapes. A
    layer that takes a `key` needs none here."""
    if not (isinstance(module_cls, type) and issubclass(module_cls, Module)):
        raise TypeError(f"skip_init: expected a Module class, got {module_cls!r} (pass the "
                        "class and its arguments: skip_init(ft.nn.Linear, 4, 8))")
    if "key" not in kwargs and "key" in inspect.signature(module_cls).parameters:
        from ...random import key
        kwargs["key"] = key(0)
    shapes = eval_shape(lambda: module_cls(*args, **kwargs))
    return tree_map(lambda s: fnp.empty(s.shape, s.dtype), shapes)
