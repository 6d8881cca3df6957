"""ft.save / ft.load: round trips of models, optimizer states and scalars; the documented
format; template checks that name the path; no pickle; atomic replacement."""
import io
import json
import os
import zipfile

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.tree_util import tree_leaves, tree_structure


def model_and_state():
    model = ft.nn.Sequential(ft.nn.Conv2d(1, 2, 3, key=ft.random.key(0)), ft.nn.ReLU(),
                             ft.nn.Flatten(), ft.nn.Linear(2 * 4 * 4, 3, key=ft.random.key(1)))
    opt = ft.optim.adam(1e-3)
    return {"model": model, "opt": opt.init(model), "step": 7, "lr": 0.5, "done": False,
            "ids": fnp.arange(4), "mask": fnp.asarray([True, False]),
            "f64": fnp.asarray(np.linspace(0, 1, 3))}


def test_round_trip(tmp_path):
    tree = model_and_state()
    path = tmp_path / "ckpt.ftz"
    ft.save(path, tree)
    back = ft.load(path, like=tree)
    assert tree_structure(back) == tree_structure(tree)
    for a, b in zip(tree_leaves(tree), tree_leaves(back)):
        if isinstance(a, (int, float, bool)):
            assert type(a) is type(b) and a == b
        else:
            assert isinstance(b, ft.Array) and b.dtype == a.dtype
            np.testing.assert_array_equal(np.asarray(b), np.asarray(a))
    assert back["step"] == 7 and back["done"] is False
    x = fnp.ones((2, 1, 6, 6))
    np.testing.assert_array_equal(np.asarray(back["model"](x)), np.asarray(tree["model"](x)))
    assert repr(back["model"]) == repr(tree["model"])


def test_documented_format(tmp_path):
    path = tmp_path / "ckpt.ftz"
    ft.save(path, {"w": fnp.ones((2, 3)), "n": 3, "c": 1 + 2j})
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["format"] == "functrans-checkpoint" and manifest["version"] == 1
        leaves = manifest["leaves"]
        assert [r["path"] for r in leaves] == ["['c']", "['n']", "['w']"]
        assert leaves[2] == {"path": "['w']", "kind": "array", "file": "arrays/2.npy",
                             "dtype": "float32", "shape": [2, 3]}
        assert leaves[1] == {"path": "['n']", "kind": "scalar", "type": "int", "value": 3}
        arr = np.lib.format.read_array(io.BytesIO(zf.read("arrays/2.npy")), allow_pickle=False)
        np.testing.assert_array_equal(arr, np.ones((2, 3), np.float32))
    flat = ft.load(path)
    assert flat["['n']"] == 3 and flat["['c']"] == 1 + 2j and flat["['w']"].shape == (2, 3)


def test_template_mismatches_name_the_path(tmp_path):
    path = tmp_path / "ckpt.ftz"
    tree = {"layer": {"weight": fnp.ones((2, 3)), "bias": fnp.zeros(2)}, "step": 1}
    ft.save(path, tree)
    wrong_shape = {"layer": {"weight": fnp.ones((3, 3)), "bias": fnp.zeros(2)}, "step": 1}
    with pytest.raises(ft.CheckpointError, match=r"ckpt.ftz: leaf \['layer'\]\['weight'\]: the "
                       r"file has float32\(2, 3\) but the template expects float32\(3, 3\)"):
        ft.load(path, like=wrong_shape)
    wrong_dtype = {"layer": {"weight": fnp.ones((2, 3)), "bias": fnp.zeros(2, np.int32)},
                   "step": 1}
    with pytest.raises(ft.CheckpointError, match=r"\['layer'\]\['bias'\]: the file has "
                                                 r"float32\(2,\) but the template expects "
                                                 r"int32\(2,\)"):
        ft.load(path, like=wrong_dtype)
    with pytest.raises(ft.CheckpointError, match="holds 3 leaves but the template has 2"):
        ft.load(path, like={"layer": {"weight": fnp.ones((2, 3)), "bias": fnp.zeros(2)}})
    with pytest.raises(ft.CheckpointError, match=r"\['step'\]: the file has a Python int but "
                                                 r"the template expects float32\(\)"):
        ft.load(path, like={"layer": tree["layer"], "step": fnp.zeros(())})
    with pytest.raises(ft.CheckpointError, match="structures differ"):
        ft.load(path, like={"layer": tree["layer"], "stop": 1})
    assert issubclass(ft.CheckpointError, ValueError)


def test_refuses_pickles_and_foreign_files(tmp_path):
    with pytest.raises(TypeError, match=r"\['f'\] is a function"):
        ft.save(tmp_path / "x.ftz", {"f": lambda: None})
    with pytest.raises(TypeError, match="numeric and bool"):
        ft.save(tmp_path / "x.ftz", {"s": np.array(["a", "b"])})
    # a hand-made archive whose array member is a pickled object array
    evil = tmp_path / "evil.ftz"
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    manifest = {"format": "functrans-checkpoint", "version": 1,
                "leaves": [{"path": "['a']", "kind": "array", "file": "arrays/0.npy",
                            "dtype": "float32", "shape": [1]}]}
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        zf.writestr("arrays/0.npy", buf.getvalue())
    with pytest.raises(ft.CheckpointError, match="pickle"):
        ft.load(evil)
    manifest["leaves"][0]["dtype"] = "object"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        zf.writestr("arrays/0.npy", buf.getvalue())
    with pytest.raises(ft.CheckpointError, match="only numeric and bool"):
        ft.load(evil)
    not_ours = tmp_path / "other.zip"
    with zipfile.ZipFile(not_ours, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(ft.CheckpointError, match="not a functrans checkpoint"):
        ft.load(not_ours)
    newer = tmp_path / "newer.ftz"
    with zipfile.ZipFile(newer, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"format": "functrans-checkpoint",
                                                 "version": 99, "leaves": []}))
    with pytest.raises(ft.CheckpointError, match="version 99"):
        ft.load(newer)


def test_failed_save_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.ftz"
    old = {"w": fnp.ones(3)}
    ft.save(path, old)
    before = path.read_bytes()

    def dying_write_array(fp, array, *args, **kwargs):
        fp.write(b"\x93NUMPY")              # the manifest is in, the first array is not
        raise OSError("disk full (simulated)")
    monkeypatch.setattr(np.lib.format, "write_array", dying_write_array)
    with pytest.raises(OSError, match="simulated"):
        ft.save(path, {"w": fnp.zeros(3), "v": fnp.zeros(2)})
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.ftz"]          # no temporary file left behind
    np.testing.assert_array_equal(np.asarray(ft.load(path, like=old)["w"]), np.ones(3))


def test_atomic_replace_keeps_permissions(tmp_path):
    path = tmp_path / "ckpt.ftz"
    ft.save(path, {"a": 1})
    os.chmod(path, 0o640)
    ft.save(path, {"a": 2})
    assert os.stat(path).st_mode & 0o777 == 0o640 and ft.load(path)["['a']"] == 2


def test_traced_values_cannot_be_saved(tmp_path):
    def f(x):
        ft.save(tmp_path / "t.ftz", {"x": x})
        return x
    with pytest.raises(TypeError, match="traced value"):
        ft.jit(f)(fnp.ones(2))
