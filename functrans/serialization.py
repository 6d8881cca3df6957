"""Checkpoints: `ft.save(path, tree)` and `ft.load(path, like=template)` for any pytree of
arrays and Python scalars (models, optimizer states, step counters). No pickle anywhere.

File format (version 1): a ZIP archive (ft.save stores its members uncompressed) containing

- `manifest.json`: `{"format": "functrans-checkpoint", "version": 1, "leaves": [...]}` with one
  entry per leaf in flattening order: `{"path": "<key path, e.g. .fc1.weight>", "kind":
  "array", "file": "arrays/<i>.npy", "dtype": "<NumPy dtype name>", "shape": [...]}` for
  arrays, or `{"path": ..., "kind": "scalar", "type": "bool" | "int" | "float" | "complex",
  "value": ...}` for Python scalars (complex as [re, im]);
- `arrays/<i>.npy`: each array in NumPy's .npy format, C order (numeric and bool dtypes only).

Only leaf values are stored; the tree's structure comes from the template at load time.
Archives repacked by other tools also load: deflated members, and .npy data that NumPy wrote
big-endian or in Fortran order.

Loading is safe on any file, damaged or hostile: it never unpickles, evaluates or runs
anything from the file, and it allocates no more than the checkpoint can legitimately need.
In order, `load`

1. bounds the zip directory and `manifest.json` before reading them: to `MAX_DIRECTORY_BYTES`
   (about 65,000 arrays) and `MAX_MANIFEST_BYTES` (about 50,000 leaves), or with a template to
   what its leaves need where that is more; then checks the manifest (types and keys of
   every record, dtypes among NumPy's numeric and bool ones, at most 64 dimensions, paths and
   files unique) and compares it with the template (paths, kinds, dtypes, shapes);
2. checks the members against the manifest before reading any: exactly one per array plus
   the manifest, stored or deflated, not encrypted; each member's uncompressed size must be
   its .npy header plus dtype size * prod(shape) bytes, a stored member's compressed size
   the same; the members may not claim more compressed bytes than the file has; without a
   template, deflated members may not expand more than `MAX_COMPRESSION_RATIO` times in all
   (plus 1 MiB), so a zip bomb needs a template that asks for its size;
3. reads each member's .npy header itself (at most `MAX_NPY_HEADER_BYTES`, parsed as text,
   never evaluated) and checks its dtype, shape and length against the manifest;
4. only then allocates the array and fills it in chunks of at most 1 MiB, refusing a member
   that ends early, would produce more than it declared, or fails its CRC.

So array memory never exceeds what the template's arrays take, or without a template the
manifest's declared total (at most `MAX_COMPRESSION_RATIO` times the file size plus 1 MiB);
besides, the directory and manifest at their limits take about 40 and 60 MiB of Python
objects. Every problem with the file raises `CheckpointError` (a `ValueError`) naming the
file, the member or pytree path, and what was expected and found; only failing to open the
file (missing, no permission) raises the operating system's `OSError`.

Writes are atomic: the archive goes to a temporary `.NAME.XXXXXXXX.tmp` in the target's
directory, is fsync'ed, renamed over the target with `os.replace`, and the directory is
fsync'ed, so a save that dies at any point leaves the previous file (or none) intact. A
running save holds an exclusive `flock` on its temporary; each save first removes the
temporaries of its own target that nobody holds (left by killed saves), and no other file.
Where the file system has no flock, saves still work but leave such leftovers in place.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import stat
import struct
import tempfile
import zipfile
import zlib

import numpy as np

try:
    import fcntl
except ImportError:                     # Windows: an open file cannot be deleted there
    fcntl = None

from . import dtypes, numpy as fnp
from .api import ShapeDtypeStruct
from .array import Array
from .backends import process_index
from .core import Tracer
from .tree_util import tree_flatten_with_path, tree_unflatten, keystr

__all__ = ["save", "load", "CheckpointError"]

FORMAT = "functrans-checkpoint"
VERSION = 1
MAX_DIRECTORY_BYTES = 4 << 20       # the zip's central directory: ~65,000 arrays
MAX_MANIFEST_BYTES = 8 << 20        # manifest.json: ~50,000 leaves
MAX_NPY_HEADER_BYTES = 4096         # a 64-dimensional shape needs ~1,500
MAX_COMPRESSION_RATIO = 64          # deflated members, when no template bounds them
_RATIO_SLACK = 1 << 20              # small deflated members compress better
_CHUNK = 1 << 20
_MAX_NDIM = 64

_SCALAR_TYPES = {bool: "bool", int: "int", float: "float", complex: "complex"}
_DTYPE_NAMES = frozenset(np.dtype(c).name for c in "?bBhHiIlLqQefdgFDG") | set(dtypes.ML_DTYPES)


class CheckpointError(ValueError):
    """A file `ft.load` cannot read as a checkpoint (not one, damaged, or not matching the
    template); the message names the file, the member or pytree path, and what was expected
    and found."""


def _describe(path):
    return keystr(path) or "<root>"


def _short(text):
    """A string read from a file, cut to a length fit for an error message."""
    return text if len(text) <= 200 else text[:200] + "..."


# ---------------------------------------------------------------- save
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
        if arr.dtype.name not in _DTYPE_NAMES:
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
    name = os.path.basename(path)
    _remove_stale_temporaries(directory, name)
    mode = _file_mode(path)
    f, tmp = _locked_temporary(directory, name)
    try:
        with f:
            with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
                zf.writestr("manifest.json", json.dumps(manifest, indent=1))
                for record, arr in zip(records, arrays):
                    if arr is not None:
                        arr = np.asarray(arr, order="C")
                        with zf.open(record["file"], "w",
                                     force_zip64=arr.nbytes >= 1 << 30) as member:
                            np.lib.format.write_array(member, arr, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
            os.chmod(tmp, mode)
            if fcntl is None:
                f.close()               # Windows cannot rename an open file
            os.replace(tmp, path)       # on POSIX still locked, so no cleaner takes it
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def _temporary_pattern(name):
    # tempfile.mkstemp's names: prefix, 8 characters of [a-z0-9_], suffix
    return re.compile(re.escape(f".{name}.") + r"[a-z0-9_]{8}\.tmp")


def _locked_temporary(directory, name):
    """A new temporary file next to the target, opened for writing and (where the platform
    has flock) locked for as long as it is open."""
    while True:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
        f = os.fdopen(fd, "wb")
        if fcntl is None:
            return f, tmp
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:                 # a file system without flock: no cleanup either
            return f, tmp
        try:
            if os.path.samestat(os.fstat(fd), os.stat(tmp)):
                return f, tmp
        except FileNotFoundError:
            pass
        f.close()       # another save removed it before we locked it: make a fresh one


def _remove_stale_temporaries(directory, name):
    """Delete the temporaries of saves of `name` that died: those no live save holds."""
    pattern = _temporary_pattern(name)
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        if pattern.fullmatch(entry):
            _remove_if_stale(os.path.join(directory, entry))


def _remove_if_stale(candidate):
    if fcntl is None:
        with contextlib.suppress(OSError):      # fails while the saving process has it open
            if stat.S_ISREG(os.lstat(candidate).st_mode):
                os.unlink(candidate)
        return
    try:
        fd = os.open(candidate, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return                      # a save in progress holds it
        if os.path.samestat(st, os.lstat(candidate)):
            os.unlink(candidate)
    except OSError:
        pass
    finally:
        os.close(fd)


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


# ---------------------------------------------------------------- load
# Anything a damaged or crafted archive can make zipfile, zlib or struct raise.
_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, struct.error, EOFError,
                OSError, ValueError, OverflowError, NotImplementedError, RuntimeError)


class _Reader:
    """Reads one checkpoint file; every complaint becomes a CheckpointError naming it."""

    def __init__(self, path, f, size):
        self.path, self.f, self.size = path, f, size

    def fail(self, where, message):
        raise CheckpointError(f"ft.load: {self.path}: {where}: {message}")

    @contextlib.contextmanager
    def reading(self, where):
        try:
            yield
        except CheckpointError:
            raise
        except _READ_ERRORS as e:
            raise CheckpointError(f"ft.load: {self.path}: {where}: the file is damaged or not "
                                  f"a functrans checkpoint ({type(e).__name__}: {e})") from e

    def directory_size(self):
        """The byte size of the zip central directory, as zipfile will find it."""
        eocd = struct.Struct("<4s4H2LH")
        tail_len = min(self.size, eocd.size + 0xFFFF)
        self.f.seek(self.size - tail_len)
        tail = self.f.read(tail_len)
        at = len(tail) - eocd.size
        if not (at >= 0 and tail[at:at + 4] == b"PK\x05\x06" and tail[-2:] == b"\0\0"):
            at = tail.rfind(b"PK\x05\x06")
            if at < 0 or len(tail) - at < eocd.size:
                self.fail("zip end record", "expected a zip archive (what ft.save writes), "
                          "found none: the file is not a functrans checkpoint, or was cut short")
        cd_size = eocd.unpack_from(tail, at)[5]
        end = self.size - tail_len + at
        if end >= 76:                   # a ZIP64 locator (20 bytes) and end record (56 bytes)
            self.f.seek(end - 76)
            records = self.f.read(76)
            if records[56:60] == b"PK\x06\x07" and records[:4] == b"PK\x06\x06":
                cd_size = struct.unpack_from("<Q", records, 40)[0]
        return cd_size

    def read_exact(self, fp, nbytes, where, into=None):
        """The next `nbytes` bytes of open member `fp`, read in chunks (into `into`, a byte
        view of that length, when given), refusing a member with fewer or more."""
        out = bytearray() if into is None else into
        done = 0
        while done < nbytes:
            data = fp.read(min(_CHUNK, nbytes - done))
            if not data:
                self.fail(where, f"expected {nbytes} bytes of data, found {done}; the file is "
                          "truncated or damaged")
            if into is None:
                out += data
            else:
                into[done:done + len(data)] = data
            done += len(data)
        if fp.read(1):
            self.fail(where, f"expected {nbytes} bytes of data, found more")
        return out


def _template_leaf(p, leaf, file):
    """(path, None) for a scalar, else (path, (shape, dtype name, device))."""
    where = _describe(p)
    if type(leaf) in _SCALAR_TYPES:
        return where, None
    if not (hasattr(leaf, "shape") and hasattr(leaf, "dtype")):
        if not hasattr(leaf, "__array__"):
            raise CheckpointError(f"ft.load: {file}: the template's leaf {where} is a "
                                  f"{type(leaf).__name__}; a template holds arrays, "
                                  "ShapeDtypeStructs and Python scalars")
        leaf = np.asarray(leaf)
    try:
        shape = tuple(int(d) for d in leaf.shape)
        dtype = np.dtype(leaf.dtype).name
    except (TypeError, ValueError):
        raise CheckpointError(f"ft.load: {file}: the template's leaf {where} has shape "
                              f"{leaf.shape!r} and dtype {leaf.dtype!r}, which are not an "
                              "array's") from None
    device = leaf.device if isinstance(leaf, (Array, ShapeDtypeStruct)) else None
    return where, (shape, dtype, device)


def _member(rec):
    return f"member {_short(rec['file'])} (leaf {_short(rec['path'])})"


def _fmt(dtype, shape):
    return f"{dtype}{tuple(shape)}"


def _manifest_limit(expected):
    """Bytes of manifest.json the template's leaves can need (ft.save's JSON, with room for
    escaped non-ASCII paths and 4300-digit ints), at least MAX_MANIFEST_BYTES."""
    need = 1024
    for where, spec in expected:
        need += 256 + 12 * len(where) + (4400 if spec is None else 32 * len(spec[0]))
    return max(need, MAX_MANIFEST_BYTES)


def _check_manifest(r, manifest):
    """The manifest's leaf records, each checked for the keys and types ft.save writes."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        r.fail("manifest.json", f'expected "format": "{FORMAT}"; this is not a functrans '
               "checkpoint")
    if manifest.get("version") != VERSION:
        r.fail("manifest.json", f"has format version {manifest.get('version')!r}; this "
               f"functrans reads version {VERSION}")
    leaves = manifest.get("leaves")
    if not isinstance(leaves, list):
        r.fail("manifest.json", f'expected a list of "leaves", found {type(leaves).__name__}')
    paths, files = set(), {"manifest.json"}
    for i, rec in enumerate(leaves):
        if not isinstance(rec, dict) or not isinstance(rec.get("path"), str):
            r.fail(f"manifest.json leaf {i}", 'expected an object with a string "path", found '
                   f"{rec!r:.200}")
        problem = _record_problem(rec, paths, files)
        if problem:
            r.fail(f"manifest.json leaf {i} ({_short(rec['path'])})", problem)
    return leaves


def _record_problem(rec, paths, files):
    """What is wrong with manifest leaf record `rec`, or None."""
    if rec["path"] in paths:
        return "the path occurs twice"
    paths.add(rec["path"])
    kind = rec.get("kind")
    if kind == "array":
        file, dtype, shape = rec.get("file"), rec.get("dtype"), rec.get("shape")
        if not isinstance(file, str) or file in files:
            return f'expected a "file" naming a member of its own, found {file!r:.200}'
        files.add(file)
        return array_spec_problem(dtype, shape)
    elif kind == "scalar":
        t, value = rec.get("type"), rec.get("value")
        if not (t == "bool" and type(value) is bool
                or t == "int" and type(value) is int
                or t == "float" and type(value) in (int, float)
                or t == "complex" and type(value) is list and len(value) == 2
                and all(type(v) in (int, float) for v in value)):
            return (f"expected a Python bool, int, float or complex ([re, im]) scalar, found "
                    f"type {t!r:.50} with value {value!r:.100}")
    else:
        return f'expected "kind" "array" or "scalar", found {kind!r:.100}'
    return None


def array_spec_problem(dtype, shape):
    """What is wrong with an array's declared dtype (a name) and shape (a list) read from a
    file, or None: only numeric and bool dtypes, at most 64 non-negative int dimensions.
    (`ft.load` and `ft.export.deserialize` share it.)"""
    if dtype not in _DTYPE_NAMES:
        return (f"declares dtype {dtype!r:.100}; only numeric and bool arrays are loaded "
                f"({', '.join(sorted(_DTYPE_NAMES))})")
    if not (isinstance(shape, list) and len(shape) <= _MAX_NDIM
            and all(type(d) is int and d >= 0 for d in shape)):
        return (f"expected a shape of at most {_MAX_NDIM} non-negative ints, found "
                f"{shape!r:.200}")
    return None


def _scalar(record):
    kind, value = record["type"], record["value"]
    if kind == "complex":
        return complex(*value)
    return {"bool": bool, "int": int, "float": float}[kind](value)


def _check_against_template(r, records, expected):
    if len(records) != len(expected):
        r.fail("manifest.json", f"holds {len(records)} leaves but the template has "
               f"{len(expected)}; first paths: file {[_short(x['path']) for x in records[:3]]}, "
               f"template {[w for w, _ in expected[:3]]}")
    for rec, (where, spec) in zip(records, expected):
        found = "a Python " + rec["type"] if rec["kind"] == "scalar" else \
            _fmt(rec["dtype"], rec["shape"])
        want = "a Python scalar" if spec is None else _fmt(spec[1], spec[0])
        if rec["path"] != where:
            r.fail(f"leaf {where}", f"the file has leaf {_short(rec['path'])} where the "
                   f"template has {where}; the structures differ")
        if (rec["kind"] == "scalar") != (spec is None) or spec is not None and \
                (spec[1], spec[0]) != (rec["dtype"], tuple(rec["shape"])):
            r.fail(f"leaf {where}", f"the file has {found} but the template expects {want}")


def _check_members(r, zf, records, templated):
    """The zip member of each array record, after checking the archive holds exactly those
    members plus the manifest, with sizes the records can account for."""
    infos = {}
    for info in zf.infolist():
        if info.filename in infos:
            r.fail(f"member {_short(info.filename)}", "occurs twice in the archive")
        infos[info.filename] = info
    arrays = [rec for rec in records if rec["kind"] == "array"]
    extra = set(infos) - {"manifest.json"} - {rec["file"] for rec in arrays}
    if extra:
        r.fail(f"member {_short(sorted(extra)[0])}", f"no manifest entry names it ({len(extra)} "
               "such members); the manifest and the archive disagree")
    if sum(info.compress_size for info in infos.values()) > r.size:
        r.fail("zip directory", f"its members claim {sum(i.compress_size for i in infos.values())}"
               f" bytes of data but the file has {r.size}")
    members, inflated, deflated = [], 0, 0
    for rec in arrays:
        info = infos.get(rec["file"])
        where = _member(rec)
        if info is None:
            r.fail(where, "expected by the manifest, missing from the archive")
        nbytes = math.prod(rec["shape"]) * np.dtype(rec["dtype"]).itemsize
        lo, hi = nbytes + 10, nbytes + 12 + MAX_NPY_HEADER_BYTES
        if not lo <= info.file_size <= hi:
            r.fail(where, f"{_fmt(rec['dtype'], rec['shape'])} needs {nbytes} bytes plus a "
                   f".npy header, but the zip directory says the member holds "
                   f"{info.file_size} bytes")
        if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
            r.fail(where, f"is stored uncompressed, so {info.file_size} bytes need as many "
                   f"in the file, but the zip directory says {info.compress_size}")
        if info.compress_type == zipfile.ZIP_DEFLATED:
            inflated += info.file_size
            deflated += info.compress_size
        members.append(info)
    bound = MAX_COMPRESSION_RATIO * deflated + _RATIO_SLACK
    if not templated and inflated > bound:
        r.fail("zip directory", f"deflated members expand from {deflated} to {inflated} bytes, "
               f"more than {MAX_COMPRESSION_RATIO} times (plus 1 MiB); refusing a possible zip "
               "bomb (pass like= a template to load it anyway)")
    return members


def _check_storage(r, info, what):
    if info.flag_bits & 0x1:
        r.fail(what, "is encrypted; checkpoints are not")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        r.fail(what, f"uses zip compression method {info.compress_type}; expected stored (0) "
               "or deflated (8)")


_NPY_HEADER = re.compile(r"\{\s*'descr'\s*:\s*'([<>|=]?)([a-zA-Z?])(\d*)'\s*,"
                         r"\s*'fortran_order'\s*:\s*(True|False)\s*,"
                         r"\s*'shape'\s*:\s*\(([\d\s,]*)\)\s*,?\s*\}\s*")


def _read_npy_header(r, fp, info, rec, where):
    """(fortran order, byte-swapped) of the member's .npy data, after reading its header
    from `fp` and checking it against the manifest record and the member's size."""
    start = fp.read(10)
    if len(start) < 10 or start[:6] != b"\x93NUMPY" or start[6] not in (1, 2, 3):
        r.fail(where, f"expected a .npy header (b'\\x93NUMPY', version 1, 2 or 3), found "
               f"{start!r}")
    if start[6] == 1:
        header_len, offset = struct.unpack_from("<H", start, 8)[0], 10
    else:
        start += fp.read(2)
        if len(start) < 12:
            r.fail(where, "its .npy header is cut short")
        header_len, offset = struct.unpack_from("<I", start, 8)[0], 12
    if header_len > MAX_NPY_HEADER_BYTES:
        r.fail(where, f"its .npy header claims {header_len} bytes; expected at most "
               f"{MAX_NPY_HEADER_BYTES}")
    header = fp.read(header_len)
    if len(header) != header_len:
        r.fail(where, f"its .npy header is cut short ({len(header)} of {header_len} bytes)")
    m = _NPY_HEADER.fullmatch(header.decode("latin1"))
    if m is None:
        r.fail(where, f"expected the .npy header of a numeric or bool array, found "
               f"{header[:120]!r}")
    order, kind, size, fortran, dims = m.groups()
    want = np.dtype(rec["dtype"])
    try:
        if kind == "V" and dtypes.is_ml_dtype(want) and size == str(want.itemsize):
            dtype = want        # NumPy writes ml_dtypes' types (bfloat16, ...) as raw "V" data
        elif kind not in "biufc" or not size:
            raise TypeError
        else:
            dtype = np.dtype(kind + size)
    except (TypeError, ValueError, OverflowError):
        dtype = None
    if dtype is None or dtype.name not in _DTYPE_NAMES:
        r.fail(where, f"holds dtype {order}{kind}{size}; checkpoints hold only numeric and "
               "bool arrays (never pickled Python objects)")
    shape = [int(d) for d in dims.replace(",", " ").split()]
    if dtype != want or shape != rec["shape"]:
        r.fail(where, f"the manifest says {_fmt(want.name, rec['shape'])} but the .npy header "
               f"says {_fmt(dtype.name, shape)}")
    nbytes = want.itemsize * math.prod(shape)
    if offset + header_len + nbytes != info.file_size:
        r.fail(where, f"expected {offset + header_len} header bytes and {nbytes} data bytes, "
               f"but the zip directory says the member holds {info.file_size}")
    swapped = dtype.itemsize > 1 and order == (">" if np.little_endian else "<")
    return fortran == "True", swapped


def _read_array(r, zf, info, rec):
    where = _member(rec)
    with r.reading(where), zf.open(info) as fp:
        fortran, swapped = _read_npy_header(r, fp, info, rec, where)
        shape = tuple(rec["shape"])
        arr = np.empty(shape[::-1] if fortran else shape, np.dtype(rec["dtype"]))
        r.read_exact(fp, arr.nbytes, where, memoryview(arr.reshape(-1).view(np.uint8)))
    if swapped:
        arr.byteswap(inplace=True)
    return arr.T if fortran else arr


def load(path, like=None):
    """Read a checkpoint written by `save`.

    With `like` (a pytree of the expected structure: e.g. a freshly initialized model and
    optimizer state, or `ft.eval_shape` of the function making them, which allocates
    nothing) the result has that structure, and every leaf must match the template's path,
    kind (array or scalar), shape and dtype. Without it, a dict from key path strings to
    values is returned. Arrays come back as `ft.Array`s on the device of the template's
    leaf where that is an Array or a ShapeDtypeStruct with a device, else on the default
    device. Any problem with the file raises `CheckpointError`; see the module doc for the
    limits that keep loading safe on hostile files.
    """
    path = os.fspath(path)
    expected = treedef = None
    if like is not None:
        pairs, treedef = tree_flatten_with_path(like)
        expected = [_template_leaf(p, leaf, path) for p, leaf in pairs]
    if not stat.S_ISREG(os.stat(path).st_mode):         # a FIFO or device would block or
        raise CheckpointError(f"ft.load: {path}: expected a regular file")    # never end
    with open(path, "rb") as f:
        r = _Reader(path, f, os.fstat(f.fileno()).st_size)
        records, values = _read_checkpoint(r, expected)
    if expected is None:
        return {rec["path"]: fnp.array(v, copy=False) if rec["kind"] == "array" else v
                for rec, v in zip(records, values)}
    return tree_unflatten(treedef, [
        fnp.array(v, copy=False, device=spec[2]) if spec is not None else v
        for (_, spec), v in zip(expected, values)])


def _read_checkpoint(r, expected):
    directory_limit, manifest_limit = MAX_DIRECTORY_BYTES, MAX_MANIFEST_BYTES
    if expected is not None:
        arrays = sum(spec is not None for _, spec in expected)
        directory_limit = max(directory_limit, 1024 * (arrays + 1))
        manifest_limit = _manifest_limit(expected)
    with r.reading("zip directory"):
        cd_size = r.directory_size()
        if cd_size > directory_limit:
            r.fail("zip directory", f"is {cd_size} bytes; expected at most {directory_limit} "
                   + ("for the template's leaves" if expected is not None else
                      "(pass like= a template to load larger checkpoints)"))
        zf = zipfile.ZipFile(r.f)
    with zf:
        with r.reading("manifest.json"):
            if "manifest.json" not in zf.namelist():
                r.fail("manifest.json", "missing; this is not a functrans checkpoint")
            info = zf.getinfo("manifest.json")
            _check_storage(r, info, "manifest.json")
            if info.file_size > manifest_limit:
                r.fail("manifest.json", f"is {info.file_size} bytes; expected at most "
                       f"{manifest_limit}")
            with zf.open(info) as fp:
                text = r.read_exact(fp, info.file_size, "manifest.json")
            try:
                manifest = json.loads(text)
            except (ValueError, RecursionError) as e:
                r.fail("manifest.json", f"expected JSON, found text that does not parse "
                       f"({type(e).__name__}: {e})")
        records = _check_manifest(r, manifest)
        if expected is not None:
            _check_against_template(r, records, expected)
        for info in zf.infolist():
            _check_storage(r, info, f"member {_short(info.filename)}")
        members = iter(_check_members(r, zf, records, expected is not None))
        values = [_read_array(r, zf, next(members), rec) if rec["kind"] == "array"
                  else _scalar(rec) for rec in records]
    return records, values
