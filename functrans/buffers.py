"""`Buffer`: a pytree node that marks the value inside it as non-trainable state.

A buffer is carried like any other leaf by the transforms that move data (`jit`, `vmap`,
`tree_map`, `ft.save`), but it is not a parameter: `grad` and `value_and_grad` pass it to the
function as a constant (no tracer, no derivative) and return `Buffer(None)` in its place, and
the optimizers in `ft.optim` leave it alone (no update, no optimizer state, no weight decay).

`ft.nn` modules wrap their buffers (BatchNorm's running statistics, ...) in this node when they
are flattened, so a model's tree structure says which leaves are buffers while `bn.running_mean`
still reads as a plain array. Other pytrees may use it directly:

    params = {"w": w, "steps": ft.buffers.Buffer(fnp.zeros((), np.int64))}
"""
from __future__ import annotations

from .tree_util import register_pytree_with_keys, tree_map

__all__ = ["Buffer", "BufferKey", "is_buffer", "map_arrays"]


class Buffer:
    """Non-trainable state `value` (an array, a number or None). `persistent=False` keeps it
    out of `state_dict()` (PyTorch's `register_buffer(..., persistent=False)`)."""
    __slots__ = ("value", "persistent")

    def __init__(self, value, persistent=True):
        self.value = value
        self.persistent = bool(persistent)

    def __repr__(self):
        extra = "" if self.persistent else ", persistent=False"
        return f"Buffer({self.value!r}{extra})"


class BufferKey:
    """The key of a Buffer's single child; it renders as nothing, so the key path of a buffer
    is its owner's (`.bn.running_mean`)."""
    __slots__ = ()

    def __str__(self):
        return ""

    def __repr__(self):
        return "BufferKey()"

    def __eq__(self, other):
        return isinstance(other, BufferKey)

    def __hash__(self):
        return hash(BufferKey)


_KEY = BufferKey()


def is_buffer(x):
    """Whether `x` is a Buffer node (use as `is_leaf=` to stop flattening at buffers)."""
    return type(x) is Buffer


def map_arrays(fn, *trees):
    """`fn` over the leaves of `trees` that are not buffers (Buffer nodes and None are kept
    as they are): what an update of a model's parameters or gradients touches."""
    return tree_map(lambda x, *rest: x if _kept(x) else fn(x, *rest), *trees, is_leaf=_kept)


def _kept(x):
    return x is None or is_buffer(x)


register_pytree_with_keys(Buffer, lambda b: ([(_KEY, b.value)], b.persistent),
                          lambda persistent, children: Buffer(children[0], persistent),
                          lambda b: ([b.value], b.persistent))
