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

import json
import math
import os

import numpy as np

from .. import dtypes
from ..buffers import Buffer, is_buffer
from ..tree_util import tree_flatten_with_path, tree_unflatten
from .module import Module, dotted_name, named_arrays

__all__ = ["state_dict", "load_state_dict", "save_safetensors", "load_safetensors",
           "array_entries"]


def state_dict(module):
    """See `Module.state_dict`."""
    return {name: np.array(value) for name, value, kind, persistent in named_arrays(module)
            if persistent}


def array_entries(module, persistent_only=True):
    """`(leaves, treedef, [(index, name, array)])` for the parameters and buffers (only the
    persistent ones with `persistent_only`) of `module`, leaves flattened up to Buffer nodes."""
    pairs, treedef = tree_flatten_with_path(module, is_buffer)
    leaves = [leaf for _, leaf in pairs]
    named = []
    for i, (path, leaf) in enumerate(pairs):
        if is_buffer(leaf):
            if (leaf.persistent or not persistent_only) and leaf.value is not None:
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
    leaves, treedef, named = array_entries(module)
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
_NUMPY_CAN_HOLD.update(dt for n, dt in dtypes.ML_DTYPES.items() if n == "bfloat16")   # BF16
# the dtypes of safetensors files that load as they are (bfloat16 is widened to float32)
_SAFETENSORS_DTYPES = {"BOOL", "U8", "I8", "U16", "I16", "F16", "U32", "I32", "F32", "U64",
                       "I64", "F64"}


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


def load_safetensors(path, keep_bfloat16=False):
    """The tensors of the safetensors file at `path`, as a dict from names to NumPy arrays
    (ready for `model.load_state_dict(...)`). bfloat16 tensors become float32 (exactly: a
    bfloat16 is the high half of a float32), or with `keep_bfloat16` stay bfloat16 (this needs
    the optional package ml_dtypes)."""
    if keep_bfloat16 and "bfloat16" not in dtypes.ML_DTYPES:
        raise ImportError("load_safetensors(keep_bfloat16=True) needs the optional package "
                          "ml_dtypes: pip install ml_dtypes (or functrans[ml_dtypes])")
    _library("load_safetensors")
    from safetensors import safe_open
    path = os.fspath(path)
    tensors, bfloat16 = {}, []
    try:
        # the library checks the header (its size, and every tensor's offsets against its
        # dtype, shape and the file's size) before anything is read
        with safe_open(path, framework="np") as f:
            names = f.keys()
            for name in names:
                kind = f.get_slice(name).get_dtype()
                if kind == "BF16":
                    bfloat16.append(name)
                elif kind in _SAFETENSORS_DTYPES:
                    tensors[name] = f.get_tensor(name)
                else:
                    raise TypeError(f"{name!r} is {kind}")
    except TypeError as e:          # a dtype functrans arrays cannot hold, such as float8
        raise ValueError(f"load_safetensors: {path} holds a tensor functrans arrays cannot "
                         f"hold ({e}); convert it in PyTorch first, e.g. to float32") from None
    except OSError:
        raise
    except Exception as e:          # safetensors' SafetensorError: a damaged or foreign file
        raise ValueError(f"load_safetensors: {path} is not a valid safetensors file: "
                         f"{e}") from None
    if not bfloat16:
        return tensors
    tensors.update(_read_bfloat16(path, bfloat16, keep_bfloat16))
    return {name: tensors[name] for name in names}


def _read_bfloat16(path, names, keep=False):
    """The bfloat16 tensors `names` of the (checked) safetensors file at `path` as float32:
    each 16-bit pattern shifted into the high half of a 32-bit one (as bfloat16: `keep`)."""
    out = {}
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        n = int.from_bytes(fh.read(8), "little")
        if 8 + n > size:
            raise ValueError(f"load_safetensors: {path} changed while it was read")
        header = json.loads(fh.read(n))
        for name in names:
            entry = header[name]
            start, end = (8 + n + int(o) for o in entry["data_offsets"])
            shape = tuple(int(d) for d in entry["shape"])
            if not 8 + n <= start <= end <= size or end - start != 2 * math.prod(shape):
                raise ValueError(f"load_safetensors: {path} changed while it was read")
            fh.seek(start)
            bits = np.frombuffer(fh.read(end - start), "<u2")
            out[name] = (bits.astype(np.uint16).view(dtypes.ML_DTYPES["bfloat16"]) if keep else
                         (bits.astype(np.uint32) << 16).view(np.float32)).reshape(shape)
    return out
