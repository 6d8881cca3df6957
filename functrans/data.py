"""`ft.data`: minibatches and small image datasets that need no download.

    (x_train, y_train), (x_test, y_test) = ft.data.load_digits()
    for epoch in range(10):
        key, sub = ft.random.split(key)
        for x, y in ft.data.batches((x_train, y_train), 32, key=sub):
            ...

or, with PyTorch's names (`torch.utils.data`):

    loader = ft.data.DataLoader(ft.data.TensorDataset(x_train, y_train), batch_size=32,
                                shuffle=True, key=ft.random.key(0))
    for epoch in range(10):
        for x, y in loader:         # a new order each epoch
            ...

Datasets are NumPy arrays in host memory (images NCHW float32, scaled to [-1, 1] as the
blitz's `Normalize((0.5,), (0.5,))` does; labels int64); `batches` hands out `ft.Array`s.
"""
from __future__ import annotations

import os

import numpy as np

from .tree_util import tree_flatten, tree_unflatten

__all__ = ["batches", "DataLoader", "TensorDataset", "Subset", "random_split", "default_collate",
           "load_digits", "read_cifar10_batch", "load_cifar10", "CIFAR10_CLASSES"]

CIFAR10_CLASSES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                   "truck")


def _shuffled_order(key, n):
    from .random import permutation
    return np.asarray(permutation(key, n))


def batches(arrays, batch_size, *, key=None, drop_last=False):
    """Iterate over minibatches of `arrays` (a pytree of arrays sharing their leading axis),
    in order, or shuffled by `key` (pass a fresh key each epoch). The last batch is smaller
    unless `drop_last`. Yields pytrees of `ft.Array`s shaped like `arrays`."""
    from .numpy._conversion import asarray
    if batch_size < 1:
        raise ValueError(f"batches: batch_size must be positive, got {batch_size}")
    leaves, treedef = tree_flatten(arrays)
    if not leaves:
        raise ValueError("batches: no arrays given")
    host = [np.asarray(x) for x in leaves]
    n = host[0].shape[0] if host[0].ndim else None
    for i, a in enumerate(host):
        if not a.ndim or a.shape[0] != n:
            raise ValueError(f"batches: every array needs the same leading (example) axis; "
                             f"array 0 has shape {host[0].shape} but array {i} has {a.shape}")
    order = None if key is None else _shuffled_order(key, n)
    stop = (n // batch_size) * batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        end = min(start + batch_size, n)
        if order is None:
            picked = [a[start:end] for a in host]
        else:
            rows = order[start:end]
            picked = [a[rows] for a in host]
        yield tree_unflatten(treedef, [asarray(p) for p in picked])


class TensorDataset:
    """Examples along the leading axis of arrays of equal length: `dataset[i]` is the tuple
    of the arrays' i-th entries (torch.utils.data.TensorDataset)."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset needs at least one array")
        self.tensors = tuple(np.asarray(t) for t in tensors)
        n = len(self.tensors[0]) if self.tensors[0].ndim else None
        for i, t in enumerate(self.tensors):
            if not t.ndim or len(t) != n:
                raise ValueError(f"TensorDataset: every array needs the same leading (example) "
                                 f"axis; array 0 has shape {self.tensors[0].shape} but array "
                                 f"{i} has {t.shape}")

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self):
        return len(self.tensors[0])


class Subset:
    """The examples of `dataset` at `indices` (torch.utils.data.Subset)."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, np.asarray(indices, dtype=np.int64)

    def __getitem__(self, index):
        picked = self.indices[index]
        if isinstance(self.dataset, (TensorDataset, Subset)):
            return self.dataset[picked]
        if np.ndim(picked):
            return [self.dataset[int(i)] for i in picked]
        return self.dataset[int(picked)]

    def __len__(self):
        return len(self.indices)


def random_split(dataset, lengths, *, key=None):
    """`dataset` split into non-overlapping Subsets of the given `lengths` (counts, or
    fractions summing to 1, the remainder dealt one by one from the first), in an order
    shuffled by `key` (default `ft.random.key(0)`; torch.utils.data.random_split)."""
    if key is None:
        from .random import key as make_key
        key = make_key(0)
    n = len(dataset)
    lengths = list(lengths)
    if all(0 <= f <= 1 for f in lengths) and abs(sum(lengths) - 1) < 1e-9 and \
            sum(lengths) != n:
        counts = [int(np.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if sum(lengths) != n:
        raise ValueError(f"random_split: the lengths {lengths} do not add up to the dataset's "
                         f"{n} examples")
    order = _shuffled_order(key, n)
    bounds = np.cumsum([0] + lengths)
    return [Subset(dataset, order[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def default_collate(examples):
    """A list of examples (arrays, numbers, or tuples/lists/dicts of them) stacked along a
    new leading axis, structure kept (torch's default_collate); arrays stay NumPy arrays."""
    first = examples[0]
    if isinstance(first, dict):
        return {k: default_collate([e[k] for e in examples]) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(default_collate(list(column)) for column in zip(*examples))
    return np.stack([np.asarray(e) for e in examples])


class DataLoader:
    """Minibatches of a dataset (anything with `__getitem__` and `__len__`: a TensorDataset,
    a Subset, your own class) as PyTorch's DataLoader: each iteration is one epoch, shuffled
    afresh when `shuffle` (the orders come from `key`, default `ft.random.key(0)`, so runs
    repeat), batches collated by `collate_fn` (default: stacked) and handed out as
    `ft.Array`s. Examples are read in this process: `num_workers` is accepted and ignored."""

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, collate_fn=None,
                 num_workers=0, *, key=None):
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be positive, got {batch_size}")
        self.dataset, self.batch_size, self.shuffle = dataset, int(batch_size), bool(shuffle)
        self.drop_last, self.collate_fn = bool(drop_last), collate_fn or default_collate
        self.num_workers = num_workers
        if key is None:
            from .random import key as make_key
            key = make_key(0)
        self._key, self._epoch = key, 0

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        from .numpy._conversion import asarray
        from .random import fold_in
        n = len(self.dataset)
        order = _shuffled_order(fold_in(self._key, self._epoch), n) if self.shuffle else \
            np.arange(n)
        self._epoch += 1
        tensors = isinstance(self.dataset, (TensorDataset, Subset)) and \
            self.collate_fn is default_collate
        for b in range(len(self)):
            rows = order[b * self.batch_size:(b + 1) * self.batch_size]
            if tensors:            # whole batches by fancy indexing, not example by example
                picked = self.dataset[rows]       # a tuple, or a Subset's list of examples
                batch = default_collate(picked) if isinstance(picked, list) else picked
            else:
                batch = self.collate_fn([self.dataset[int(i)] for i in rows])
            leaves, treedef = tree_flatten(batch)
            yield tree_unflatten(treedef, [asarray(x) if isinstance(x, np.ndarray) else x
                                           for x in leaves])


def _normalized(images_uint, scale):
    """[0, scale] integers to float32 in [-1, 1]: ToTensor then Normalize(0.5, 0.5)."""
    return (images_uint.astype(np.float32) / np.float32(scale) - np.float32(0.5)) / \
        np.float32(0.5)


def load_digits(test_fraction=0.2, *, key=None):
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes), shuffled by
    `key` (default `ft.random.key(0)`) and split into `((x_train, y_train), (x_test,
    y_test))`; images are float32 (N, 1, 8, 8) in [-1, 1], labels int64."""
    try:
        from sklearn.datasets import load_digits as sk_digits
    except ImportError:
        raise ImportError("ft.data.load_digits needs scikit-learn (pip install scikit-learn)") \
            from None
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"load_digits: test_fraction must be in (0, 1), got {test_fraction}")
    digits = sk_digits()
    images = _normalized(digits.images, 16.0)[:, None, :, :]
    labels = digits.target.astype(np.int64)
    from .random import key as make_key
    order = _shuffled_order(make_key(0) if key is None else key, len(labels))
    n_test = int(round(len(labels) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return (images[train], labels[train]), (images[test], labels[test])


_RECORD = 1 + 3 * 32 * 32


def read_cifar10_batch(path):
    """One file of the CIFAR-10 binary distribution (`data_batch_1.bin`, ..., `test_batch.bin`):
    records of 1 label byte and 3072 pixel bytes (1024 red, 1024 green, 1024 blue, row-major).
    Returns `(images uint8 (N, 3, 32, 32), labels int64 (N,))`."""
    raw = np.fromfile(os.fspath(path), dtype=np.uint8)
    if raw.size == 0 or raw.size % _RECORD:
        raise ValueError(f"read_cifar10_batch: {path} has {raw.size} bytes, not a positive "
                         f"multiple of the {_RECORD}-byte CIFAR-10 record; is it a file of the "
                         "binary version (cifar-10-binary.tar.gz)?")
    records = raw.reshape(-1, _RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise ValueError(f"read_cifar10_batch: {path} has label {labels.max()} > 9; not a "
                         "CIFAR-10 file")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


def load_cifar10(root, train=True, normalize=True):
    """CIFAR-10 from the binary distribution unpacked under `root` (the
    `cifar-10-batches-bin` directory or its parent): the five training batches or the test
    batch. Images are float32 NCHW in [-1, 1] (uint8 if `normalize=False`), labels int64;
    class names are `CIFAR10_CLASSES`."""
    root = os.fspath(root)
    if os.path.isdir(os.path.join(root, "cifar-10-batches-bin")):
        root = os.path.join(root, "cifar-10-batches-bin")
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] if train else ["test_batch.bin"]
    missing = [n for n in names if not os.path.exists(os.path.join(root, n))]
    if missing:
        raise FileNotFoundError(
            f"load_cifar10: {', '.join(missing)} not found in {root}. Download the binary "
            "version (https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz) and unpack it "
            "there; functrans never downloads by itself.")
    parts = [read_cifar10_batch(os.path.join(root, n)) for n in names]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    return (_normalized(images, 255.0) if normalize else images), labels
