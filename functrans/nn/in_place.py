"""PyTorch's in-place names (`relu_`, `clip_grad_norm_`, `init.xavier_uniform_`, ...) as
functions that refuse: arrays are immutable, so each raises naming the call to use."""
from __future__ import annotations

import inspect

__all__ = ["refuse_in_place"]


def refuse_in_place(name, instead, what, like=None):
    """A function named `name` (PyTorch's in-place form) that raises a TypeError saying that
    it would change `what` in place and naming the call to use instead; `like` (the
    out-of-place function) lends it a signature, so tools see PyTorch's arguments."""
    def refuse(*args, **kwargs):
        raise TypeError(f"{name} changes {what} in place in PyTorch; functrans arrays are "
                        f"immutable, so it is not provided. Use `{instead}`.")
    refuse.__name__ = refuse.__qualname__ = name
    refuse.__doc__ = f"Raises: PyTorch's in-place form; use `{instead}`."
    if like is not None:
        sig = inspect.signature(like)
        refuse.__signature__ = sig.replace(parameters=[
            q for q in sig.parameters.values() if q.name != "inplace"])
    return refuse
