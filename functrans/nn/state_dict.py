"""PyTorch interop: `state_dict` / `load_state_dict` with PyTorch's key names, and safetensors
files (`save_safetensors` / `load_safetensors`), so weights move between the two libraries:

    # PyTorch side
    safetensors.torch.save_file(torch_model.state_dict(), "weights.safetensors")
    # functrans side
    model = model.load_state_dict(ft.nn.load_safetensors("weights.safetensors"))
    ft.nn.save_safetensors(model, "back.safetensors")   # and torch_model.load_state_dict(
                                                         #   safetensors.torch.load_file(...))

Files are read and written with the `safetensors` package (`safetensors.numpy`) when it is
installed, else by the reader and writer here, which follow the same published format (an
8-byte little-endian header length, a JSON header of dtype, shape and byte offsets, then the
raw little-endian data). Nothing is ever unpickled.
"""
from __future__ import annotations

import json
import math
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
_DTYPES = {"BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "U16": np.uint16, "I16": np.int16,
           "F16": np.float16, "U32": np.uint32, "I32": np.int32, "F32": np.float32,
           "U64": np.uint64, "I64": np.int64, "F64": np.float64}
_CODES = {np.dtype(t): code for code, t in _DTYPES.items()}
_MAX_HEADER = 100_000_000


def _library():
    try:
        import safetensors.numpy as st
    except ImportError:
        return None
    return st


def save_safetensors(tensors, path, metadata=None):
    """Write `tensors` (a Module, whose `state_dict()` is written, or a dict from names to
    arrays) to a safetensors file at `path`; `metadata` is an optional dict of strings."""
    arrays = tensors.state_dict() if isinstance(tensors, Module) else dict(tensors)
    out = {}
    for name, value in arrays.items():
        if not isinstance(name, str):
            raise TypeError(f"save_safetensors: tensor names must be strings, got {name!r}")
        arr = np.asarray(value, order="C")
        if arr.dtype not in _CODES:
            raise TypeError(f"save_safetensors: {name} has dtype {arr.dtype}, which safetensors "
                            f"cannot store from NumPy (supported: "
                            f"{sorted(d.name for d in _CODES)})")
        out[name] = arr
    if metadata is not None and not all(isinstance(k, str) and isinstance(v, str)
                                        for k, v in metadata.items()):
        raise TypeError("save_safetensors: metadata must map strings to strings")
    st = _library()
    if st is not None:
        st.save_file(out, os.fspath(path), metadata=metadata)
        return
    _write(out, os.fspath(path), metadata)


def load_safetensors(path):
    """The tensors of the safetensors file at `path`, as a dict from names to NumPy arrays
    (ready for `model.load_state_dict(...)`)."""
    path = os.fspath(path)
    st = _library()
    if st is not None:
        return st.load_file(path)
    return _read(path)


def _write(arrays, path, metadata):
    order = sorted(arrays, key=lambda k: (-arrays[k].dtype.itemsize, k))
    header, offset = {}, 0
    if metadata:
        header["__metadata__"] = dict(metadata)
    for name in order:
        a = arrays[name]
        header[name] = {"dtype": _CODES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for name in order:
            f.write(arrays[name].astype(arrays[name].dtype.newbyteorder("<"), copy=False)
                    .tobytes())


def _read(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"load_safetensors: {path} is too short to be a safetensors file")
    n = int.from_bytes(data[:8], "little")
    if n > _MAX_HEADER or 8 + n > len(data):
        raise ValueError(f"load_safetensors: {path} declares a header of {n} bytes; it is not "
                         "a safetensors file, or it is cut short")
    try:
        header = json.loads(data[8:8 + n])
    except ValueError:
        raise ValueError(f"load_safetensors: {path} has no valid JSON header") from None
    body = memoryview(data)[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        code = info.get("dtype")
        if code not in _DTYPES:
            hint = " (bfloat16: convert to float32 in PyTorch first)" if code == "BF16" else ""
            raise ValueError(f"load_safetensors: {name} in {path} has dtype {code}, which NumPy "
                             f"cannot hold{hint}")
        dtype = np.dtype(_DTYPES[code]).newbyteorder("<")
        shape = tuple(int(d) for d in info["shape"])
        begin, end = (int(v) for v in info["data_offsets"])
        if end - begin != math.prod(shape) * dtype.itemsize or not 0 <= begin <= end <= \
                len(body):
            raise ValueError(f"load_safetensors: {path} is corrupt: the offsets of {name} do "
                             "not match its shape and dtype")
        out[name] = np.frombuffer(body[begin:end], dtype).reshape(shape).astype(
            dtype.newbyteorder("="))
    return out
