"""ft.load on damaged and hostile files, ft.save killed mid-write.

Every failure to read a file is an ft.CheckpointError naming the file, the member or pytree
path, and what was expected and found; loading allocates no more than the template (or the
file's size) allows, checked under an address-space limit; a save killed at any point leaves
the previous file intact, and the next save removes the temporary it left."""
import io
import json
import os
import pathlib
import re
import select
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHILD_ENV = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
posix_only = pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals and flock")


# ---------------------------------------------------------------- crafting files
def npy(arr):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=arr.dtype.hasobject)
    return buf.getvalue()


def npy_header(descr, shape, fortran=False):
    """A version-1 .npy header as NumPy writes it, for any descr and shape."""
    text = repr({"descr": descr, "fortran_order": fortran, "shape": tuple(shape)}).encode()
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


def zip_bytes(members, cd_size=None):
    """A zip archive written by hand so that its directory can lie. `members` holds
    (name, data, options): `method` (8: `data` is a raw deflate stream), `size` (the claimed
    uncompressed size), `csize` (the claimed compressed size), `crc`, `flags`."""
    out, central = bytearray(), bytearray()
    for name, data, opt in members:
        n = name.encode()
        head = (opt.get("flags", 0), opt.get("method", 0), 0, 33,
                opt.get("crc", zlib.crc32(data)), opt.get("csize", len(data)),
                opt.get("size", len(data)), len(n))
        central += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, *head, 0, 0, 0, 0, 0,
                               len(out)) + n
        out += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, *head, 0) + n + data
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members),
                      len(central) if cd_size is None else cd_size, len(out), 0)
    return bytes(out + central + end)


def manifest(*leaves, **top):
    doc = {"format": "functrans-checkpoint", "version": 1, "leaves": list(leaves)}
    doc.update(top)
    return json.dumps(doc).encode()


def leaf(path, i, dtype="float32", shape=(3,)):
    return {"path": path, "kind": "array", "file": f"arrays/{i}.npy", "dtype": dtype,
            "shape": list(shape)}


W = leaf("['w']", 0)                             # what the small cases declare: float32 (3,)
W_DATA = npy(np.arange(3, dtype=np.float32))     # 128 header bytes + 12 data bytes


def archive(leaves, arrays, **manifest_top):
    return zip_bytes([("manifest.json", manifest(*leaves, **manifest_top), {})]
                     + [(name, data, {}) for name, data in arrays])


def bomb(header, zeros_mib):
    """A raw deflate stream of `header` and `zeros_mib` MiB of zeros (~1 KiB per MiB), and
    the CRC of all of it, built without compressing every MiB."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = c.compress(header) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(bytes(1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)     # state is reset after
    crc = zlib.crc32(header)
    for _ in range(zeros_mib):
        crc = zlib.crc32(bytes(1 << 20), crc)
    return start + block * zeros_mib + c.flush(), crc


def bomb_archive(declared_shape, claimed_size):
    """512 MiB of zeros behind a header declaring float32 `declared_shape`, in a 0.5 MB file;
    the zip directory claims `claimed_size` uncompressed bytes (None: the true 512 MiB+)."""
    header = npy_header("<f4", declared_shape)
    stream, crc = bomb(header, 512)
    size = len(header) + (512 << 20) if claimed_size is None else claimed_size
    return zip_bytes([("manifest.json", manifest(leaf("['w']", 0, shape=declared_shape)), {}),
                      ("arrays/0.npy", stream, {"method": 8, "size": size, "crc": crc})])


def zip64_claiming_directory(cd_size):
    """An empty archive whose ZIP64 end record claims a `cd_size`-byte directory."""
    record = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, 0, 0, cd_size, 0)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, 0, 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                      0xFFFFFFFF, 0)
    return record + locator + end


class Evil:
    """Unpickling this creates the directory `marker`."""
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (self.marker,)


MARKER = "pwned"        # relative: the tests run the loads in a fresh working directory


def pickled_array():
    return npy(np.array([Evil(MARKER)], dtype=object))


def raw_npy(header_text, data):
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header_text)) + header_text + data


# name -> (file bytes, template spec or None, pattern the message must match after the file
# name). A template spec maps keys to [shape, dtype] (a ShapeDtypeStruct) or a Python scalar.
SMALL = {"w": [[3], "float32"]}
CASES = {
    # sizes the file cannot back: refused before anything is allocated
    "huge manifest shape": (
        archive([leaf("['w']", 0, shape=[1 << 40])], [("arrays/0.npy", W_DATA)]), None,
        r"member arrays/0\.npy \(leaf \['w'\]\): float32\(1099511627776,\) needs "
        r"4398046511104 bytes plus a \.npy header, but the zip directory says the member "
        r"holds 140 bytes"),
    "huge manifest shape, template": (
        archive([leaf("['w']", 0, shape=[1 << 40])], [("arrays/0.npy", W_DATA)]), SMALL,
        r"leaf \['w'\]: the file has float32\(1099511627776,\) but the template expects "
        r"float32\(3,\)"),
    "2 GiB npy header": (
        archive([W], [("arrays/0.npy", b"\x93NUMPY\x02\x00" + struct.pack("<I", 1 << 31)
                       + bytes(16))]), None,
        r"member arrays/0\.npy \(leaf \['w'\]\): its \.npy header claims 2147483648 bytes; "
        r"expected at most 4096"),
    "npy header shape lies": (
        archive([W], [("arrays/0.npy", npy_header("<f4", (1 << 31,)) + bytes(12))]), SMALL,
        r"\(leaf \['w'\]\): the manifest says float32\(3,\) but the \.npy header says "
        r"float32\(2147483648,\)"),
    "zip bomb": (bomb_archive((1 << 27,), None), None,
                 r"zip directory: deflated members expand from \d+ to 536871040 bytes, more "
                 r"than 64 times \(plus 1 MiB\); refusing a possible zip bomb"),
    "zip bomb, template": (bomb_archive((1 << 27,), None), {"w": [[4], "float32"]},
                           r"leaf \['w'\]: the file has float32\(134217728,\) but the "
                           r"template expects float32\(4,\)"),
    "zip bomb, small header": (
        bomb_archive((4,), None), {"w": [[4], "float32"]},
        r"member arrays/0\.npy \(leaf \['w'\]\): float32\(4,\) needs 16 bytes plus a \.npy "
        r"header, but the zip directory says the member holds 536871040 bytes"),
    "zip bomb, small header and size": (
        bomb_archive((4,), 128 + 16), None,
        r"member arrays/0\.npy \(leaf \['w'\]\): the file is damaged .*Bad CRC-32"),
    "zip64 directory of 1 TiB": (
        zip64_claiming_directory(1 << 40), None,
        r"zip directory: is 1099511627776 bytes; expected at most 4194304 \(pass like= a "
        r"template to load larger checkpoints\)"),
    "directory of 5 MiB": (
        zip_bytes([("manifest.json", manifest(), {})], cd_size=5 << 20), SMALL,
        r"zip directory: is 5242880 bytes; expected at most 4194304 for the template's "
        r"leaves"),
    "manifest of 9 MiB": (
        zip_bytes([("manifest.json", zlib.compress(b" " * 1000)[2:-4],
                    {"method": 8, "size": 9 << 20})]), None,
        r"manifest\.json: is 9437184 bytes; expected at most 8388608"),
    "members overlap": (
        zip_bytes([("manifest.json", manifest(W), {}),
                   ("arrays/0.npy", W_DATA, {"csize": 1 << 20})]), None,
        r"zip directory: its members claim 1048\d+ bytes of data but the file has \d+"),
    # objects and code
    "pickled object array": (
        archive([leaf("['w']", 0, shape=[1])], [("arrays/0.npy", pickled_array())]), None,
        r"\(leaf \['w'\]\): holds dtype \|O; checkpoints hold only numeric and bool arrays "
        r"\(never pickled Python objects\)"),
    "manifest declares object": (
        archive([leaf("['w']", 0, dtype="object", shape=[1])],
                [("arrays/0.npy", pickled_array())]), None,
        r"manifest\.json leaf 0 \(\['w'\]\): declares dtype 'object'; only numeric and bool "
        r"arrays are loaded"),
    "string array": (
        archive([W], [("arrays/0.npy", npy(np.array(["abc", "def", "ghi"])))]), None,
        r"\(leaf \['w'\]\): holds dtype <U3; checkpoints hold only numeric and bool"),
    "code in npy header": (
        archive([W], [("arrays/0.npy", raw_npy(b"{'descr': __import__('os').mkdir('pwned'), "
                                               b"'fortran_order': False, 'shape': (3,), }\n",
                                               bytes(12)))]),
        None, r"\(leaf \['w'\]\): expected the \.npy header of a numeric or bool array, "
              r"found b\"\{'descr': __import__"),
    "not npy": (archive([W], [("arrays/0.npy", b"PK" + bytes(138))]), None,
                r"\(leaf \['w'\]\): expected a \.npy header \(b'\\x93NUMPY', version 1, 2 "
                r"or 3\), found b'PK"),
    # damaged manifests
    "manifest not json": (zip_bytes([("manifest.json", b'{"format": ', {})]), None,
                          r"manifest\.json: expected JSON, found text that does not parse"),
    "manifest nested deeply": (zip_bytes([("manifest.json", b"[" * 100_000, {})]), None,
                               r"manifest\.json: expected JSON.*RecursionError"),
    "manifest of another format": (
        zip_bytes([("manifest.json", manifest(format="other"), {})]), None,
        r'manifest\.json: expected "format": "functrans-checkpoint"; this is not a '
        r"functrans checkpoint"),
    "leaves not a list": (zip_bytes([("manifest.json", manifest(leaves={}), {})]), None,
                          r'manifest\.json: expected a list of "leaves", found dict'),
    "leaf without path": (archive([{"kind": "array"}], []), None,
                          r'manifest\.json leaf 0: expected an object with a string "path"'),
    "unknown kind": (archive([{"path": "['w']", "kind": "tensor"}], []), None,
                     r"manifest\.json leaf 0 \(\['w'\]\): expected \"kind\" \"array\" or "
                     r"\"scalar\", found 'tensor'"),
    "negative dimension": (archive([leaf("['w']", 0, shape=[-1])], []), None,
                           r"leaf 0 \(\['w'\]\): expected a shape of at most 64 non-negative "
                           r"ints, found \[-1\]"),
    "too many dimensions": (archive([leaf("['w']", 0, shape=[1] * 65)], []), None,
                            r"leaf 0 \(\['w'\]\): expected a shape of at most 64"),
    "scalar of the wrong type": (
        archive([{"path": "['n']", "kind": "scalar", "type": "int", "value": "3"}], []), None,
        r"leaf 0 \(\['n'\]\): expected a Python bool, int, float or complex \(\[re, im\]\) "
        r"scalar, found type 'int' with value '3'"),
    "int beyond 4300 digits": (
        zip_bytes([("manifest.json", b'{"format": "functrans-checkpoint", "version": 1, '
                    b'"leaves": [{"path": "n", "kind": "scalar", "type": "int", "value": '
                    + b"9" * 5000 + b"}]}", {})]), None,
        r"manifest\.json: expected JSON.*ValueError: Exceeds the limit \(4300"),
    "path twice": (archive([W, leaf("['w']", 1)], [("arrays/0.npy", W_DATA),
                                                   ("arrays/1.npy", W_DATA)]), None,
                   r"leaf 1 \(\['w'\]\): the path occurs twice"),
    "file twice": (archive([W, dict(leaf("['v']", 0))], [("arrays/0.npy", W_DATA)]), None,
                   r"leaf 1 \(\['v'\]\): expected a \"file\" naming a member of its own, found "
                   r"'arrays/0\.npy'"),
    "manifest names the manifest": (archive([dict(W, file="manifest.json")], []), None,
                                    r"leaf 0 \(\['w'\]\): expected a \"file\" naming a member "
                                    r"of its own"),
    "newer version": (zip_bytes([("manifest.json", manifest(version=2), {})]), None,
                      r"manifest\.json: has format version 2; this functrans reads version 1"),
    # the manifest and the archive disagree
    "member missing": (archive([W, leaf("['v']", 1)], [("arrays/0.npy", W_DATA)]), None,
                       r"member arrays/1\.npy \(leaf \['v'\]\): expected by the manifest, "
                       r"missing from the archive"),
    "member extra": (archive([W], [("arrays/0.npy", W_DATA), ("arrays/9.npy", W_DATA)]), None,
                     r"member arrays/9\.npy: no manifest entry names it \(1 such members\)"),
    "member twice": (archive([W], [("arrays/0.npy", W_DATA), ("arrays/0.npy", W_DATA)]), None,
                     r"member arrays/0\.npy: occurs twice in the archive"),
    "no manifest": (zip_bytes([("arrays/0.npy", W_DATA, {})]), None,
                    r"manifest\.json: missing; this is not a functrans checkpoint"),
    "extra leaf vs template": (archive([W, leaf("['v']", 1)], [("arrays/0.npy", W_DATA),
                                                               ("arrays/1.npy", W_DATA)]),
                               SMALL, r"manifest\.json: holds 2 leaves but the template has 1"),
    "npy dtype differs": (archive([W], [("arrays/0.npy", npy(np.zeros(3)))]), None,
                          r"\(leaf \['w'\]\): the manifest says float32\(3,\) but the \.npy "
                          r"header says float64\(3,\)"),
    "npy data short": (archive([W], [("arrays/0.npy", W_DATA[:-4])]), None,
                       r"\(leaf \['w'\]\): expected 128 header bytes and 12 data bytes, but the "
                       r"zip directory says the member holds 136"),
    "stored sizes differ": (
        zip_bytes([("manifest.json", manifest(W), {}), ("arrays/0.npy", W_DATA, {"size": 141})]),
        None, r"\(leaf \['w'\]\): is stored uncompressed, so 141 bytes need as many in the "
              r"file, but the zip directory says 140"),
    "bad crc": (zip_bytes([("manifest.json", manifest(W), {}),
                           ("arrays/0.npy", W_DATA, {"crc": 1})]), None,
                r"\(leaf \['w'\]\): the file is damaged or not a functrans checkpoint "
                r"\(BadZipFile: Bad CRC-32"),
    "encrypted": (zip_bytes([("manifest.json", manifest(), {"flags": 1})]), None,
                  r"manifest\.json: is encrypted"),
    "bzip2": (zip_bytes([("manifest.json", manifest(W), {}),
                         ("arrays/0.npy", W_DATA, {"method": 12})]), None,
              r"member arrays/0\.npy: uses zip compression method 12; expected stored \(0\) or "
              r"deflated \(8\)"),
    # not a zip archive
    "empty file": (b"", None, r"zip end record: expected a zip archive \(what ft\.save "
                              r"writes\), found none: the file is not a functrans checkpoint"),
    "npy file": (W_DATA, None, "zip end record: expected a zip archive"),
    "text": (b"step = 3\n" * 10, None, "zip end record: expected a zip archive"),
    "end record alone": (b"PK\x05\x06" + bytes(18), None,
                         r"manifest\.json: missing; this is not a functrans checkpoint"),
}


def template(spec):
    if spec is None:
        return None
    return {k: ft.ShapeDtypeStruct(*v) if isinstance(v, list) else v for k, v in spec.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_crafted_file_raises_checkpoint_error(tmp_path, monkeypatch, name):
    data, spec, pattern = CASES[name]
    path = tmp_path / "bad.ftz"
    path.write_bytes(data)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ft.CheckpointError) as info:
        ft.load(path, like=template(spec))
    message = str(info.value)
    assert message.startswith(f"ft.load: {path}: "), message
    assert re.search(pattern, message), message
    assert not os.path.exists(MARKER)                 # no code ran


def test_pickle_payload_really_runs_when_unpickled(tmp_path, monkeypatch):
    # the "pickled object array" cases hold working code: NumPy with allow_pickle runs it
    monkeypatch.chdir(tmp_path)
    np.lib.format.read_array(io.BytesIO(pickled_array()), allow_pickle=True)
    assert os.path.isdir(MARKER)


LIMITED_LOAD = """
import json, resource, sys
limit = int(sys.argv[1])
try:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
except (ValueError, OSError) as e:
    print(json.dumps(f"skip: setrlimit(RLIMIT_AS) failed: {e}"))
    sys.exit()
import numpy as np
import functrans as ft
try:
    np.ones(limit, np.uint8)
    print(json.dumps("skip: the address-space limit does not stop an allocation"))
    sys.exit()
except MemoryError:
    pass
out = []
for path, spec in json.loads(sys.argv[2]):
    like = None if spec is None else {
        k: ft.ShapeDtypeStruct(*v) if isinstance(v, list) else v for k, v in spec.items()}
    try:
        ft.load(path, like=like)
        out.append(["loaded", ""])
    except Exception as e:
        out.append([type(e).__name__, str(e)])
print(json.dumps(out))
"""

OVERSIZED = ["huge manifest shape", "huge manifest shape, template", "2 GiB npy header",
             "npy header shape lies", "zip bomb", "zip bomb, template", "zip bomb, small header",
             "zip bomb, small header and size", "zip64 directory of 1 TiB", "directory of 5 MiB",
             "manifest of 9 MiB", "members overlap"]


def test_oversized_claims_under_an_address_space_limit(tmp_path):
    resource = pytest.importorskip("resource")
    if not hasattr(resource, "RLIMIT_AS"):
        pytest.skip("no RLIMIT_AS on this platform")
    jobs = []
    for i, name in enumerate(OVERSIZED):
        path = tmp_path / f"{i}.ftz"
        path.write_bytes(CASES[name][0])
        jobs.append([str(path), CASES[name][1]])
    limit = 400 << 20                 # each hostile file claims 512 MiB or more
    proc = subprocess.run([sys.executable, "-c", LIMITED_LOAD, str(limit), json.dumps(jobs)],
                          capture_output=True, text=True, timeout=60, env=CHILD_ENV, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    if isinstance(results, str):
        pytest.skip(results)
    for name, (kind, message) in zip(OVERSIZED, results):
        assert kind == "CheckpointError", (name, kind, message)
        assert re.search(CASES[name][2], message), (name, message)


# ---------------------------------------------------------------- damage to real files
def small_checkpoint(tmp_path):
    tree = {"w": fnp.arange(6.0).reshape(2, 3), "b": fnp.asarray([True, False]), "n": 3,
            "lr": 0.5}
    path = tmp_path / "good.ftz"
    ft.save(path, tree)
    return tree, path.read_bytes()


def assert_same(a, b):
    for x, y in zip(ft.tree_leaves(a), ft.tree_leaves(b)):
        assert np.asarray(x).dtype == np.asarray(y).dtype
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_every_truncation_is_a_checkpoint_error(tmp_path):
    tree, data = small_checkpoint(tmp_path)
    path = tmp_path / "cut.ftz"
    for n in range(len(data)):
        path.write_bytes(data[:n])
        for like in (None, tree) if n % 7 == 0 else (None,):
            with pytest.raises(ft.CheckpointError, match=re.escape(str(path))):
                ft.load(path, like=like)


def test_every_flipped_byte_is_an_error_or_harmless(tmp_path):
    # a flip the format cannot notice (a timestamp, a field zipfile ignores) still loads
    # the original values; every other flip is a CheckpointError
    tree, data = small_checkpoint(tmp_path)
    path = tmp_path / "flipped.ftz"
    errors = 0
    for i in range(len(data)):
        path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:])
        try:
            back = ft.load(path, like=tree)
        except ft.CheckpointError:
            errors += 1
        else:
            assert_same(back, tree)
    assert errors > len(data) // 2


# ---------------------------------------------------------------- formats still read
def test_files_written_before_hardening_still_load(tmp_path):
    # what ft.save wrote before: stored members written whole, manifest first
    w, ids = np.arange(6, dtype=np.float32).reshape(2, 3), np.arange(4)
    doc = {"format": "functrans-checkpoint", "version": 1, "leaves": [
        {"path": "['ids']", "kind": "array", "file": "arrays/0.npy", "dtype": "int64",
         "shape": [4]},
        {"path": "['step']", "kind": "scalar", "type": "int", "value": 7},
        {"path": "['w']", "kind": "array", "file": "arrays/2.npy", "dtype": "float32",
         "shape": [2, 3]},
        {"path": "['z']", "kind": "scalar", "type": "complex", "value": [1.0, -2.0]}]}
    path = tmp_path / "old.ftz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("manifest.json", json.dumps(doc, indent=1))
        zf.writestr("arrays/0.npy", npy(ids))
        zf.writestr("arrays/2.npy", npy(w))
    like = {"ids": ft.ShapeDtypeStruct((4,), np.int64), "step": 0, "w": fnp.zeros((2, 3)),
            "z": 0j}
    back = ft.load(path, like=like)
    assert back["step"] == 7 and back["z"] == 1 - 2j
    np.testing.assert_array_equal(np.asarray(back["w"]), w)
    np.testing.assert_array_equal(np.asarray(back["ids"]), ids)
    assert set(ft.load(path)) == {"['ids']", "['step']", "['w']", "['z']"}


def test_deflated_big_endian_and_fortran_members_load(tmp_path):
    # archives repacked by other tools: deflated members, arrays NumPy wrote big-endian or
    # in Fortran order
    a = np.arange(12, dtype=">f8").reshape(3, 4)
    b = np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3))
    doc = manifest(leaf("['a']", 0, "float64", (3, 4)), leaf("['b']", 1, "int32", (2, 3)))
    path = tmp_path / "repacked.ftz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", doc)
        zf.writestr("arrays/0.npy", npy(a))
        zf.writestr("arrays/1.npy", npy(b))
    for back in (ft.load(path), ft.load(path, like={"a": ft.ShapeDtypeStruct((3, 4), "float64"),
                                                    "b": ft.ShapeDtypeStruct((2, 3), "int32")})):
        back = {k.strip("[']"): v for k, v in back.items()}
        assert back["a"].dtype == np.float64 and back["b"].dtype == np.int32
        np.testing.assert_array_equal(np.asarray(back["a"]), a)
        np.testing.assert_array_equal(np.asarray(back["b"]), b)


def test_zero_filled_deflated_member_needs_a_template(tmp_path):
    # 8 MiB of zeros deflate to ~8 KiB: beyond the ratio allowed without a template, which
    # then bounds the allocation instead
    zeros = np.zeros(1 << 21, np.float32)
    path = tmp_path / "zeros.ftz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", manifest(leaf("['z']", 0, shape=zeros.shape)))
        zf.writestr("arrays/0.npy", npy(zeros))
    with pytest.raises(ft.CheckpointError, match="pass like= a template to load it anyway"):
        ft.load(path)
    back = ft.load(path, like={"z": ft.ShapeDtypeStruct(zeros.shape, np.float32)})
    assert not np.asarray(back["z"]).any()


def test_shape_dtype_struct_templates_allocate_nothing_first(tmp_path):
    model = ft.nn.Linear(3, 2, key=ft.random.key(0))
    path = tmp_path / "m.ftz"
    ft.save(path, {"model": model, "step": 5})
    like = {"model": ft.eval_shape(lambda: ft.nn.Linear(3, 2, key=ft.random.key(1))),
            "step": 0}
    assert isinstance(like["model"].weight, ft.ShapeDtypeStruct)
    back = ft.load(path, like=like)
    assert back["step"] == 5 and isinstance(back["model"].weight, ft.Array)
    np.testing.assert_array_equal(np.asarray(back["model"].weight), np.asarray(model.weight))


def test_template_leaves_that_are_not_arrays(tmp_path):
    path = tmp_path / "c.ftz"
    ft.save(path, {"f": 1})
    with pytest.raises(ft.CheckpointError, match=rf"ft.load: {re.escape(str(path))}: the "
                                                 r"template's leaf \['f'\] is a function; a "
                                                 r"template holds arrays"):
        ft.load(path, like={"f": lambda: None})


def test_missing_file_is_the_operating_systems_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        ft.load(tmp_path / "nope.ftz")


# ---------------------------------------------------------------- killed saves
def temporaries(directory, name="ckpt.ftz"):
    pattern = re.compile(re.escape(f".{name}.") + r"[a-z0-9_]{8}\.tmp")
    return sorted(p for p in os.listdir(directory) if pattern.fullmatch(p))


# The hooks live here, in the test: ft.save has none. "mid-write" blocks after part of the
# first array is written, "before-rename" once the temporary is complete and fsync'ed.
BLOCKED_SAVE = """
import os, sys, time
import numpy as np
import functrans as ft

def block(*args, **kwargs):
    print("blocked", flush=True)
    time.sleep(60)

def half_write_array(fp, array, **kwargs):
    fp.write(b"\\x93NUMPY" + bytes(1 << 16))
    block()

if sys.argv[2] == "mid-write":
    np.lib.format.write_array = half_write_array
else:
    os.fsync = block
ft.save(sys.argv[1], {"w": np.ones(1 << 18, np.float32), "step": 99})
"""


def start_blocked_save(target, mode):
    proc = subprocess.Popen([sys.executable, "-c", BLOCKED_SAVE, str(target), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=CHILD_ENV,
                            cwd=ROOT)
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    if not ready or proc.stdout.readline() != b"blocked\n":
        proc.kill()
        pytest.fail(f"the saving process did not block: {proc.communicate()[1][-2000:]}")
    return proc


def size(path):
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def kill(proc):
    proc.kill()                       # SIGKILL: no cleanup runs in the saving process
    proc.communicate()


@posix_only
@pytest.mark.parametrize("mode,existed", [("mid-write", True), ("before-rename", False)])
def test_killed_save_leaves_the_target_and_the_next_save_cleans_up(tmp_path, mode, existed):
    target = tmp_path / "ckpt.ftz"
    if existed:
        ft.save(target, {"w": fnp.zeros(2), "step": 1})
        before = target.read_bytes()
    lookalikes = [".ckpt.ftz.abcdefg.tmp", ".ckpt.ftz.abcdefghi.tmp", "ckpt.ftz.abcdefgh.tmp",
                  ".ckpt.ftz.abcdefgh.tmp.keep", ".ckpt.ftzz.abcdefgh.tmp",
                  ".other.ftz.abcdefgh.tmp", ".ckpt.ftz.ABCDEFGH.tmp", "ckpt.ftz.bak"]
    for name in lookalikes:
        (tmp_path / name).write_bytes(b"not ours")
    (tmp_path / ".ckpt.ftz.dir00000.tmp").mkdir()
    (tmp_path / ".ckpt.ftz.link0000.tmp").symlink_to(tmp_path / "ckpt.ftz.bak")
    kill(start_blocked_save(target, mode))
    stale = [t for t in temporaries(tmp_path) if t.endswith(".tmp") and
             (tmp_path / t).is_file() and not (tmp_path / t).is_symlink()]
    assert len(stale) == 1 and (tmp_path / stale[0]).stat().st_size > 0
    if existed:
        assert target.read_bytes() == before
        assert ft.load(target)["['step']"] == 1
    else:
        assert not target.exists()
    ft.save(target, {"w": fnp.ones(2), "step": 2})
    assert ft.load(target)["['step']"] == 2
    assert not (tmp_path / stale[0]).exists()
    for name in lookalikes:
        assert (tmp_path / name).read_bytes() == b"not ours"
    assert (tmp_path / ".ckpt.ftz.dir00000.tmp").is_dir()
    assert (tmp_path / ".ckpt.ftz.link0000.tmp").is_symlink()


@posix_only
def test_a_running_saves_temporary_is_not_removed(tmp_path):
    target = tmp_path / "ckpt.ftz"
    proc = start_blocked_save(target, "before-rename")
    try:
        running = temporaries(tmp_path)
        assert len(running) == 1
        ft.save(target, {"step": 3})                  # another writer of the same target
        assert temporaries(tmp_path) == running
        assert ft.load(target) == {"['step']": 3}
    finally:
        kill(proc)
    ft.save(target, {"step": 4})
    assert temporaries(tmp_path) == [] and ft.load(target) == {"['step']": 4}


RACING_SAVES = """
import sys
import numpy as np
import functrans as ft
w = np.arange(1 << 22, dtype=np.float32)
for i in range(1000):
    ft.save(sys.argv[1], {"w": w + i, "step": i})
"""


@posix_only
def test_save_killed_at_an_unprepared_moment(tmp_path):
    # no hook: kill once a temporary has 1 MiB, wherever the 16 MiB write has got to
    target = tmp_path / "ckpt.ftz"
    w = np.arange(1 << 22, dtype=np.float32)
    ft.save(target, {"w": w - 1, "step": -1})
    proc = subprocess.Popen([sys.executable, "-c", RACING_SAVES, str(target)],
                            stderr=subprocess.PIPE, env=CHILD_ENV, cwd=ROOT)
    try:
        for _ in range(200_000):
            if proc.poll() is not None or any(
                    size(tmp_path / t) > 1 << 20 for t in temporaries(tmp_path)):
                break
    finally:
        kill(proc)
    assert proc.returncode == -9
    like = {"w": ft.ShapeDtypeStruct(w.shape, np.float32), "step": 0}
    back = ft.load(target, like=like)                 # whichever save last completed
    np.testing.assert_array_equal(np.asarray(back["w"]), w + back["step"])
    ft.save(target, {"w": w, "step": 0})
    assert temporaries(tmp_path) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/fd")
def test_save_replaces_a_temporary_removed_before_it_was_locked(tmp_path, monkeypatch):
    # another save's cleanup may take a just-made temporary for a stale one before it is
    # locked; the save notices and writes a fresh one
    fcntl = pytest.importorskip("fcntl")
    real_flock, stolen = fcntl.flock, []

    def flock(fd, op):
        if op == fcntl.LOCK_EX and not stolen:
            stolen.append(os.readlink(f"/proc/self/fd/{fd}"))
            os.unlink(stolen[0])
        return real_flock(fd, op)
    monkeypatch.setattr(fcntl, "flock", flock)
    ft.save(tmp_path / "ckpt.ftz", {"step": 5})
    assert stolen and ft.load(tmp_path / "ckpt.ftz") == {"['step']": 5}
    assert os.listdir(tmp_path) == ["ckpt.ftz"]


@posix_only
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.ftz"
    os.mkfifo(fifo)
    with pytest.raises(ft.CheckpointError, match="pipe.ftz: expected a regular file"):
        ft.load(fifo)


def test_strings_from_the_file_are_cut_short_in_messages(tmp_path):
    path = tmp_path / "long.ftz"
    path.write_bytes(archive([{"path": "x" * 100_000, "kind": "tensor"}], []))
    with pytest.raises(ft.CheckpointError, match=r"\(x{200}\.\.\.\): expected \"kind\"") as e:
        ft.load(path)
    assert len(str(e.value)) < 600


@pytest.mark.skipif(os.name != "posix", reason="flock is POSIX")
def test_saves_work_where_the_file_system_has_no_flock(tmp_path, monkeypatch):
    fcntl = pytest.importorskip("fcntl")

    def no_flock(fd, op):
        raise OSError(95, "Operation not supported")
    monkeypatch.setattr(fcntl, "flock", no_flock)
    stale = tmp_path / ".ckpt.ftz.abcdefgh.tmp"
    stale.write_bytes(b"left by a killed save")
    ft.save(tmp_path / "ckpt.ftz", {"step": 1})
    ft.save(tmp_path / "ckpt.ftz", {"step": 2})
    assert ft.load(tmp_path / "ckpt.ftz") == {"['step']": 2}
    # without locks a dead save cannot be told from a running one: its temporary stays
    assert sorted(os.listdir(tmp_path)) == [".ckpt.ftz.abcdefgh.tmp", "ckpt.ftz"]


def test_arrays_load_onto_the_template_leafs_device(tmp_path):
    fakegpu = pytest.importorskip("fakegpu")
    gpu = fakegpu.register().devices()[1]
    path = tmp_path / "d.ftz"
    ft.save(path, {"a": ft.device_put(fnp.arange(3.0), gpu), "b": fnp.ones(2)})
    like = {"a": ft.device_put(fnp.zeros(3), gpu),
            "b": ft.ShapeDtypeStruct((2,), np.float32, device=gpu)}
    back = ft.load(path, like=like)
    assert back["a"].device is gpu and back["b"].device is gpu
    np.testing.assert_array_equal(np.asarray(back["a"]), [0.0, 1.0, 2.0])
    cpu_like = {"a": fnp.zeros(3), "b": ft.ShapeDtypeStruct((2,), np.float32)}
    assert ft.load(path, like=cpu_like)["a"].device is ft.backends.default_device_now()
