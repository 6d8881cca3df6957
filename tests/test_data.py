"""ft.data: minibatching (order, shuffling by key, drop_last, pytrees), the digits dataset,
and the CIFAR-10 binary reader on small files written in that format."""
import os

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp


def test_batches_in_order_and_with_drop_last():
    x = np.arange(10 * 2).reshape(10, 2)
    y = np.arange(10)
    got = list(ft.data.batches((x, y), 4))
    assert [b[1].tolist() for b in got] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert isinstance(got[0][0], ft.Array) and got[0][0].shape == (4, 2)
    got = list(ft.data.batches({"x": x, "y": fnp.asarray(y)}, 4, drop_last=True))
    assert len(got) == 2 and set(got[0]) == {"x", "y"}


def test_shuffling_is_a_permutation_fixed_by_the_key():
    y = np.arange(103)
    key = ft.random.key(5)
    first = np.concatenate([np.asarray(b) for b in ft.data.batches(y, 10, key=key)])
    again = np.concatenate([np.asarray(b) for b in ft.data.batches(y, 10, key=key)])
    other = np.concatenate([np.asarray(b) for b in ft.data.batches(y, 10,
                                                                  key=ft.random.key(6))])
    np.testing.assert_array_equal(first, again)
    assert sorted(first.tolist()) == y.tolist() and not np.array_equal(first, y)
    assert not np.array_equal(first, other)
    np.testing.assert_array_equal(first, np.asarray(ft.random.permutation(key, 103)))
    pairs = list(ft.data.batches((y, y * 10), 7, key=key))
    for a, b in pairs:
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a) * 10)


def test_batches_errors():
    with pytest.raises(ValueError, match="same leading"):
        list(ft.data.batches((np.zeros(3), np.zeros(4)), 2))
    with pytest.raises(ValueError, match="positive"):
        list(ft.data.batches(np.zeros(3), 0))


def test_load_digits():
    pytest.importorskip("sklearn")
    (x_tr, y_tr), (x_te, y_te) = ft.data.load_digits()
    assert x_tr.shape == (1438, 1, 8, 8) and x_te.shape == (359, 1, 8, 8)
    assert x_tr.dtype == np.float32 and y_tr.dtype == np.int64
    assert x_tr.min() == -1.0 and x_tr.max() == 1.0
    assert set(np.unique(y_te)) == set(range(10))
    from sklearn.datasets import load_digits
    raw = load_digits()
    # the split is a permutation of the whole set, images scaled from [0, 16] to [-1, 1]
    all_x = np.concatenate([x_tr, x_te])[:, 0]
    order = np.lexsort(all_x.reshape(len(all_x), -1).T)
    ref = raw.images / 8.0 - 1.0
    ref_order = np.lexsort(ref.reshape(len(ref), -1).T)
    np.testing.assert_allclose(all_x[order], ref[ref_order], atol=1e-6)
    (x2, _), _ = ft.data.load_digits(key=ft.random.key(1))
    assert not np.array_equal(x2, x_tr)


def write_cifar_file(path, images, labels):
    records = np.concatenate([labels.astype(np.uint8)[:, None],
                              images.reshape(len(labels), -1).astype(np.uint8)], axis=1)
    records.tofile(path)


def test_cifar10_reader(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    parts = []
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        images = rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, 3)
        write_cifar_file(folder / name, images, labels)
        parts.append((images, labels))
    images, labels = ft.data.read_cifar10_batch(folder / "data_batch_2.bin")
    np.testing.assert_array_equal(images, parts[1][0])
    np.testing.assert_array_equal(labels, parts[1][1])
    # channel planes are red, green, blue, each row-major
    raw = np.fromfile(folder / "data_batch_2.bin", np.uint8)
    assert raw[1 + 1024 + 32 * 5 + 7] == images[0, 1, 5, 7]
    x, y = ft.data.load_cifar10(tmp_path)
    assert x.shape == (15, 3, 32, 32) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(x[:3], parts[0][0] / 127.5 - 1.0, atol=1e-6)
    x_test, y_test = ft.data.load_cifar10(folder, train=False, normalize=False)
    np.testing.assert_array_equal(x_test, parts[5][0])
    assert ft.data.CIFAR10_CLASSES[3] == "cat"


def test_cifar10_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_batch_1.bin.*cifar-10-binary"):
        ft.data.load_cifar10(tmp_path)
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="3073-byte"):
        ft.data.read_cifar10_batch(bad)
    assert os.path.exists(bad)
