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


# ------------------------------------------------------------------ torch.utils.data's names
def test_data_loader_over_a_tensor_dataset():
    x = np.arange(30, dtype=np.float32).reshape(10, 3)
    y = np.arange(10)
    loader = ft.data.DataLoader(ft.data.TensorDataset(x, y), batch_size=4, shuffle=True,
                                num_workers=2)
    epochs = [[(np.asarray(a), np.asarray(b)) for a, b in loader] for _ in range(2)]
    for batches in epochs:
        assert [len(b) for _, b in batches] == [4, 4, 2] and len(loader) == 3
        labels = np.concatenate([b for _, b in batches])
        assert sorted(labels) == list(range(10))                      # a permutation
        for a, b in batches:
            np.testing.assert_array_equal(a, x[b])                    # rows stay together
    assert not np.array_equal(np.concatenate([b for _, b in epochs[0]]),
                              np.concatenate([b for _, b in epochs[1]]))   # reshuffled
    again = ft.data.DataLoader(ft.data.TensorDataset(x, y), batch_size=4, shuffle=True)
    np.testing.assert_array_equal(np.concatenate([np.asarray(b) for _, b in again]),
                                  np.concatenate([b for _, b in epochs[0]]))  # repeatable
    plain = ft.data.DataLoader(ft.data.TensorDataset(x, y), batch_size=4, drop_last=True)
    assert len(plain) == 2 and [np.asarray(b).tolist() for _, b in plain] == [[0, 1, 2, 3],
                                                                              [4, 5, 6, 7]]
    a, _ = next(iter(plain))
    assert isinstance(a, ft.Array) and a.dtype == np.float32
    with pytest.raises(ValueError, match="same leading"):
        ft.data.TensorDataset(x, y[:5])
    with pytest.raises(ValueError, match="batch_size must be positive"):
        ft.data.DataLoader(ft.data.TensorDataset(x), batch_size=0)


def test_random_split_subsets_and_custom_datasets():
    ds = ft.data.TensorDataset(np.arange(10))
    train, test = ft.data.random_split(ds, [0.8, 0.2], key=ft.random.key(1))
    assert (len(train), len(test)) == (8, 2)
    both = np.concatenate([train.indices, test.indices])
    assert sorted(both.tolist()) == list(range(10))
    assert ft.data.random_split(ds, [7, 3])[0].indices.tolist() == \
        ft.data.random_split(ds, [7, 3])[0].indices.tolist()
    assert [len(s) for s in ft.data.random_split(ds, [0.34, 0.33, 0.33])] == [4, 3, 3]
    with pytest.raises(ValueError, match="do not add up"):
        ft.data.random_split(ds, [5, 4])
    got = np.concatenate([np.asarray(b[0]) for b in ft.data.DataLoader(train, batch_size=3)])
    np.testing.assert_array_equal(got, train.indices)

    class Squares:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return {"x": np.full((2,), i, np.float32), "y": i * i}
    batches = list(ft.data.DataLoader(Squares(), batch_size=2))
    assert [b["y"].tolist() for b in batches] == [[0, 1], [4, 9], [16]]
    assert batches[0]["x"].shape == (2, 2) and isinstance(batches[0]["x"], ft.Array)
    sub = ft.data.Subset(Squares(), [4, 0])
    assert [np.asarray(b["y"]).tolist() for b in ft.data.DataLoader(sub, batch_size=2)] == \
        [[16, 0]]
    summed = ft.data.DataLoader(Squares(), batch_size=5,
                                collate_fn=lambda items: sum(i["y"] for i in items))
    assert list(summed) == [30]
