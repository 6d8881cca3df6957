"""Checkpoints: `ft.save(path, tree)` and `ft.load(path, like=template)` for any pytree of
arrays and Python scalars (models, optimizer states, step counters). No pickle anywhere.

File format (version 1): a ZIP archive (stored, not compressed) containing

- `manifest.json`: `{"format": "functrans-checkpoint", "version": 1, "leaves": [...]}` with one
  entry per leaf in flattening order: `{"path": "<key path, e.g. .fc1.weight>", "kind":
  "array", "file": "arrays/<i>.npy", "dtype": "<NumPy dtype name>", "shape": [...]}` for
  arrays, or `{"path": ..., "kind": "scalar", "type": "bool" | "int" | "float" | "complex",
  "value": ...}` for Python scalars (complex as [re, im]);
- `arrays/<i>.npy`: each array in NumPy's .npy format (numeric and bool dtypes only).

Only leaf values are stored; the tree's structure comes from the template at load time, and
each leaf is checked against it (path, kind, shape, dtype), so a mismatch is an error naming
the path. Loading reads .npy files with `allow_pickle=False` and refuses any dtype that is not
a number or bool, so opening a checkpoint never runs code.

Writes are atomic: the archive goes to a temporary file in the target's directory, is flushed
and fsync'ed, then renamed over the target with `os.replace`. If the process dies mid-save,
the previous file is intact.
"""
from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile

import numpy as np

from .array import Array
from .backends import process_index
from .core import Tracer
from .tree_util import tree_flatten_with_path, tree_unflatten, keystr

__all__ = ["save", "load"]

FORMAT = "functrans-checkpoint"
VERSION = 1
_SCALAR_TYPES = {bool: "bool", int: "int", float: "float", complex: "complex"}


def _describe(path):
    return keystr(path) or "<root>"


def _leaf_record(i, path, leaf):
    where = _describe(path)
    if isinstance(leaf, Tracer):
        raise TypeError(f"ft.save: leaf {where} is a traced value; save concrete arrays (call "
                        "ft.save outside jit/grad/vmap)")
    t = type(leaf)
    if t in _SCALAR_TYPES:
        value = [leaf.real, leaf.imag] if t is complex else leaf
        return {"path": where, "kind": "scalar", "type": _SCALAR_TYPES[t], "value": value}, None
    if isinstance(leaf, (Array, np.ndarray, np.generic)) or hasattr(leaf, "__array__"):
        arr = np.asarray(leaf)
        if arr.dtype.kind not in "biufc":
            raise TypeError(f"ft.save: leaf {where} has dtype {arr.dtype}; checkpoints hold "
                            "numeric and bool arrays only")
        return ({"path": where, "kind": "array", "file": f"arrays/{i}.npy",
                 "dtype": arr.dtype.name, "shape": list(arr.shape)}, arr)
    raise TypeError(f"ft.save: leaf {where} is a {t.__name__}; checkpoints hold arrays and "
                    "Python scalars (mark other values static in your module, or leave them "
                    "out of the saved tree)")


def save(path, tree):
    """Write the arrays and scalars of pytree `tree` to `path` atomically (see module doc).
    In a job of several processes (`ft.distributed.initialize()`) only process 0 writes; the
    others return at once (data-parallel processes hold the same parameters)."""
    path = os.fspath(path)
    if process_index() != 0:
        return
    pairs, _ = tree_flatten_with_path(tree)
    records, arrays = [], []
    for i, (p, leaf) in enumerate(pairs):
        record, arr = _leaf_record(i, p, leaf)
        records.append(record)
        arrays.append(arr)
    manifest = {"format": FORMAT, "version": VERSION, "leaves": records}
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
                zf.writestr("manifest.json", json.dumps(manifest, indent=1))
                for record, arr in zip(records, arrays):
                    if arr is not None:
                        buf = io.BytesIO()
                        np.lib.format.write_array(buf, np.asarray(arr, order="C"),
                                                  allow_pickle=False)
                        zf.writestr(record["file"], buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _file_mode(path):
    """The existing file's permissions, else the default for a new file (0666 & ~umask)."""
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:                     # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _read_manifest(zf, path):
    try:
        manifest = json.loads(zf.read("manifest.json"))
    except KeyError:
        raise ValueError(f"ft.load: {path} has no manifest.json; it is not a functrans "
                         "checkpoint") from None
    if manifest.get("format") != FORMAT:
        raise ValueError(f"ft.load: {path} is not a functrans checkpoint")
    if manifest.get("version") != VERSION:
        raise ValueError(f"ft.load: {path} has format version {manifest.get('version')}; this "
                         f"functrans reads version {VERSION}")
    return manifest["leaves"]


def _read_array(zf, record, path):
    where = record["path"]
    dtype = np.dtype(record["dtype"])
    if dtype.kind not in "biufc":
        raise ValueError(f"ft.load: {path} declares dtype {dtype} for {where}; only numeric and "
                         "bool arrays are loaded")
    with zf.open(record["file"]) as f:
        arr = np.lib.format.read_array(f, allow_pickle=False)
    if arr.dtype != dtype or list(arr.shape) != list(record["shape"]):
        raise ValueError(f"ft.load: {path} is corrupt: {where} holds {arr.dtype}{arr.shape} "
                         f"but its manifest says {dtype}{tuple(record['shape'])}")
    return arr


def _scalar(record):
    kind, value = record["type"], record["value"]
    if kind == "complex":
        return complex(*value)
    return {"bool": bool, "int": int, "float": float}[kind](value)


def load(path, like=None):
    """Read a checkpoint written by `save`.

    With `like` (a pytree of the expected structure, e.g. a freshly initialized model and
    optimizer state) the result has that structure, and every leaf must match the
    template's path, kind (array or scalar), shape and dtype. Without it, a dict from key
    path strings to values is returned. Arrays come back as `ft.Array`s on the device of the
    template's leaf where that is an Array, else on the default device.
    """
    from .numpy._conversion import asarray
    path = os.fspath(path)
    try:
        archive = zipfile.ZipFile(path, "r")
    except zipfile.BadZipFile:
        raise ValueError(f"ft.load: {path} is not a functrans checkpoint (it is not the zip "
                         "archive ft.save writes); was it written by another program, or cut "
                         "short?") from None
    with archive as zf:
        records = _read_manifest(zf, path)
        values = [_read_array(zf, r, path) if r["kind"] == "array" else _scalar(r)
                  for r in records]
    if like is None:
        return {r["path"]: asarray(v) if r["kind"] == "array" else v
                for r, v in zip(records, values)}
    pairs, treedef = tree_flatten_with_path(like)
    if len(pairs) != len(records):
        raise ValueError(f"ft.load: {path} holds {len(records)} leaves but the template has "
                         f"{len(pairs)}; first paths: file {[r['path'] for r in records[:3]]}, "
                         f"template {[_describe(p) for p, _ in pairs[:3]]}")
    for (p, template), record in zip(pairs, records):
        where = _describe(p)
        if record["path"] != where:
            raise ValueError(f"ft.load: the template has a leaf at {where} where {path} has "
                             f"{record['path']}; the structures differ")
        if record["kind"] == "scalar":
            if type(template) not in _SCALAR_TYPES:
                raise ValueError(f"ft.load: {where} is a Python {record['type']} in {path} but "
                                 f"the template has a {type(template).__name__}")
            continue
        if type(template) in _SCALAR_TYPES:
            raise ValueError(f"ft.load: {where} is an array in {path} but the template has a "
                             f"Python {type(template).__name__}")
        t = template if hasattr(template, "shape") and hasattr(template, "dtype") else \
            np.asarray(template)
        if tuple(t.shape) != tuple(record["shape"]) or np.dtype(t.dtype) != \
                np.dtype(record["dtype"]):
            raise ValueError(f"ft.load: {where} is {record['dtype']}{tuple(record['shape'])} in "
                             f"{path} but the template expects "
                             f"{np.dtype(t.dtype).name}{tuple(t.shape)}")
    return tree_unflatten(treedef, [
        asarray(v, device=template.device if isinstance(template, Array) else None)
        if r["kind"] == "array" else v for (_, template), r, v in zip(pairs, records, values)])
