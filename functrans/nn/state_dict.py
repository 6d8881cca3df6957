"""PyTorch interop: `state_dict` / `load_state_dict` with PyTorch's key names, and safetensors
files (`save_safetensors` / `load_safetensors`), so weights move between the two libraries:

    # PyTorch side
    safetensors.torch.save_file(torch_model.state_dict(), "weights.safetensors")
    # functrans side
    model = model.load_state_dict(ft.nn.load_safetensors("weights.safetensors"))
    ft.nn.save_safetensors(model, "back.safetensors")   # and torch_model.load_state_dict(
                                                         #   safetensors.torch.load_file(...))

Files are read and written by the `safetensors` package (`safetensors.numpy`; the `interop`
extra installs it): a JSON header of names, dtypes, shapes and offsets, then the raw data.
Nothing is ever unpickled.
"""
from __future__ import annotations

import os

import numpy as np

from ..buffers import Buffer, is_buffer
from ..tree_util import tree_flatten_with_path, tree_unflatten
from .module import Module, dotted_name, named_arrays

__all__ = ["state_dict", "load_state_dict", "save_safetensors", "load_safetensors"]


def state_dict(module):
    """See `Module.state_dict`."""
    return {name: np.array(value) for name, value, kind, persistent in named_arrays(module)
            if persistent}


def _entries(module):
    """`(leaves, treedef, [(index, name, persistent buffer?)])` for the parameters and
    persistent buffers of `module`, leaves flattened up to Buffer nodes."""
    pairs, treedef = tree_flatten_with_path(module, is_buffer)
    leaves = [leaf for _, leaf in pairs]
    named = []
    for i, (path, leaf) in enumerate(pairs):
        if is_buffer(leaf):
            if leaf.persistent and leaf.value is not None:
                named.append((i, dotted_name(path), leaf.value))
        elif leaf is not None and hasattr(leaf, "shape"):
            named.append((i, dotted_name(path), leaf))
    return leaves, treedef, named


def load_state_dict(module, state_dict, strict=True):
    """See `Module.load_state_dict`."""
    from ..array import Array
    from ..numpy import asarray
    if not hasattr(state_dict, "items"):
        raise TypeError(f"load_state_dict expects a dict of arrays, got "
                        f"{type(state_dict).__name__}")
    leaves, treedef, named = _entries(module)
    expected = {name for _, name, _ in named}
    missing = [name for _, name, _ in named if name not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    problems, new = [], list(leaves)
    for i, name, current in named:
        if name not in state_dict:
            continue
        try:
            value = np.asarray(state_dict[name])
        except Exception as e:
            problems.append(f"{name}: cannot be read as an array ({e}); pass NumPy arrays "
                            "(torch tensors: .detach().cpu())")
            continue
        shape = tuple(current.shape)
        if value.shape != shape:
            problems.append(f"size mismatch for {name}: copying a param with shape "
                            f"{value.shape} from checkpoint, the shape in current model is "
                            f"{shape}.")
            continue
        value = asarray(value.astype(np.dtype(current.dtype), copy=False),
                        device=current.device if isinstance(current, Array) else None)
        new[i] = Buffer(value, True) if is_buffer(leaves[i]) else value
    if strict:
        if missing:
            problems.insert(0, "Missing key(s) in state_dict: " +
                            ", ".join(f'"{k}"' for k in missing) + ".")
        if unexpected:
            problems.insert(1 if missing else 0, "Unexpected key(s) in state_dict: " +
                            ", ".join(f'"{k}"' for k in unexpected) + ".")
    if problems:
        raise RuntimeError(f"Error(s) in loading state_dict for {type(module).__name__}:\n\t" +
                           "\n\t".join(problems))
    return tree_unflatten(treedef, new)


# ------------------------------------------------------------------ safetensors
_NUMPY_CAN_HOLD = {np.dtype(t) for t in (np.bool_, np.uint8, np.int8, np.uint16, np.int16,
                                          np.float16, np.uint32, np.int32, np.float32,
                                          np.uint64, np.int64, np.float64)}


def _library(what):
    try:
        import safetensors.numpy as st
    except ImportError:
        raise ImportError(f"{what} needs the safetensors package: pip install "
                          "'functrans[interop]' (or pip install safetensors)") from None
    return st


def save_safetensors(tensors, path, metadata=None):
    """Write `tensors` (a Module, whose `state_dict()` is written, or a dict from names to
    arrays) to a safetensors file at `path`; `metadata` is an optional dict of strings."""
    st = _library("save_safetensors")
    arrays = tensors.state_dict() if isinstance(tensors, Module) else dict(tensors)
    out = {}
    for name, value in arrays.items():
        if not isinstance(name, str):
            raise TypeError(f"save_safetensors: tensor names must be strings, got {name!r}")
        arr = np.asarray(value, order="C")
        if arr.dtype not in _NUMPY_CAN_HOLD:
            raise TypeError(f"save_safetensors: {name} has dtype {arr.dtype}; safetensors "
                            "files hold booleans, integers and floats")
        out[name] = arr
    if metadata is not None and not all(isinstance(k, str) and isinstance(v, str)
                                        for k, v in metadata.items()):
        raise TypeError("save_safetensors: metadata must map strings to strings")
    st.save_file(out, os.fspath(path), metadata=metadata)


def load_safetensors(path):
    """The tensors of the safetensors file at `path`, as a dict from names to NumPy arrays
    (ready for `model.load_state_dict(...)`)."""
    st = _library("load_safetensors")
    path = os.fspath(path)
    try:
        tensors = st.load_file(path)
    except TypeError as e:          # a dtype NumPy has not, such as bfloat16
        raise ValueError(f"load_safetensors: {path} holds a tensor NumPy cannot ({e}); "
                         "convert it in PyTorch first, e.g. to float32") from None
    except OSError:
        raise
    except Exception as e:          # safetensors' SafetensorError: a damaged or foreign file
        raise ValueError(f"load_safetensors: {path} is not a valid safetensors file: "
                         f"{e}") from None
    for name, arr in tensors.items():
        # bfloat16 and the like load as NumPy extension types once a package such as
        # ml_dtypes (imported by JAX) has registered them; functrans arrays cannot hold them
        if arr.dtype not in _NUMPY_CAN_HOLD:
            raise ValueError(f"load_safetensors: {path} holds {name!r} as {arr.dtype}, "
                             "which functrans arrays cannot hold; convert it in PyTorch first, "
                             "e.g. to float32")
    return tensors
