"""Batches of variable-length sequences, with PyTorch's `torch.nn.utils.rnn` names, arguments
and layouts:

    padded = pad_sequence([a, b, c])                       # (L_max, 3, *)
    packed = pack_padded_sequence(padded, [5, 3, 2])       # or pack_sequence([a, b, c])
    out, (h_n, c_n) = ft.nn.LSTM(4, 8, key=key)(packed)    # out is a PackedSequence
    padded_out, lengths = pad_packed_sequence(out, batch_first=True)

A `PackedSequence` holds the steps of all sequences in one array `data`, time-major: the
first step of every sequence, then the second step of those at least two long, and so on;
`batch_sizes[t]` says how many sequences have a step t. With `enforce_sorted=False` the
sequences are first sorted by decreasing length (`sorted_indices`), and `unsorted_indices`
brings them back to the caller's order.

Lengths are concrete, as PyTorch requires them on the CPU: the shapes of everything here
depend on them. A PackedSequence is a pytree whose only leaf is `data`; `batch_sizes` and
the indices are NumPy integer arrays kept in the tree's structure, so `jit` specializes on
them and `grad` of a function of a PackedSequence returns one holding the gradient of `data`.
"""
from __future__ import annotations

import numpy as np

from ... import lax
from ... import numpy as fnp
from ...core import Tracer
from ...errors import ConcretizationError
from ...tree_util import register_pytree_node

__all__ = ["PackedSequence", "pad_sequence", "pack_padded_sequence", "pack_sequence",
           "pad_packed_sequence", "unpack_sequence", "unpad_sequence"]


def _host_ints(value, what, fn):
    """`value` as a 1-d int64 NumPy array; traced values raise (they must be concrete)."""
    if isinstance(value, Tracer) or (isinstance(value, (list, tuple))
                                     and any(isinstance(v, Tracer) for v in value)):
        raise ConcretizationError(
            f"{fn}: {what} must be concrete (a list, a NumPy array or an array computed "
            "outside the transform), not a traced value: the shapes of packed sequences "
            f"depend on it, which is why PyTorch also wants {what} on the CPU. Pass it "
            "outside jit/vmap/grad (e.g. as a closure constant or a static argument)")
    arr = np.asarray(value)
    if arr.ndim != 1 or not (arr.size == 0 or np.issubdtype(arr.dtype, np.integer)):
        if arr.ndim == 1 and np.issubdtype(arr.dtype, np.floating) and \
                np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{fn}: {what} must be a 1-d sequence of integers, got "
                             f"{arr.dtype} of shape {arr.shape}")
    out = arr.astype(np.int64)
    out.flags.writeable = False
    return out


class PackedSequence:
    """Sequences of different lengths packed into one array (see the module's docstring):
    `data` (sum of lengths, *), `batch_sizes` (max length,), `sorted_indices` and
    `unsorted_indices` ((batch,), or None when the input was already sorted). Build one with
    `pack_padded_sequence` or `pack_sequence`. Unpacks like PyTorch's named tuple:
    `data, batch_sizes, sorted_indices, unsorted_indices = packed`."""

    __slots__ = ("data", "batch_sizes", "sorted_indices", "unsorted_indices")

    def __init__(self, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        fn = "PackedSequence"
        if batch_sizes is None:
            raise TypeError("PackedSequence: batch_sizes is required (build packed sequences "
                            "with pack_padded_sequence or pack_sequence)")
        data = fnp.asarray(data)
        bs = _host_ints(batch_sizes, "batch_sizes", fn)
        if bs.size == 0 or bs.min() <= 0 or np.any(np.diff(bs) > 0):
            raise ValueError(f"{fn}: batch_sizes must be positive and non-increasing, got "
                             f"{bs.tolist()}")
        if data.ndim < 1 or data.shape[0] != bs.sum():
            raise ValueError(f"{fn}: data must have sum(batch_sizes) = {bs.sum()} rows, got "
                             f"shape {tuple(data.shape)}")
        si = None if sorted_indices is None else _host_ints(sorted_indices, "sorted_indices",
                                                              fn)
        ui = None if unsorted_indices is None else _host_ints(unsorted_indices,
                                                                "unsorted_indices", fn)
        for what, idx in (("sorted_indices", si), ("unsorted_indices", ui)):
            if idx is not None and sorted(idx.tolist()) != list(range(bs[0])):
                raise ValueError(f"{fn}: {what} must be a permutation of range({bs[0]}) "
                                 f"(batch_sizes[0] sequences), got {idx.tolist()}")
        if ui is None and si is not None:
            ui = _inverse(si)
        _set(self, data, bs, si, ui)

    def __setattr__(self, name, value):
        raise AttributeError(f"PackedSequence is immutable: build a new one instead of "
                             f"setting {name}")

    def __iter__(self):
        return iter((self.data, self.batch_sizes, self.sorted_indices, self.unsorted_indices))

    def __len__(self):
        return 4

    def __repr__(self):
        return (f"PackedSequence(data={self.data!r}, batch_sizes={self.batch_sizes!r}, "
                f"sorted_indices={self.sorted_indices!r}, "
                f"unsorted_indices={self.unsorted_indices!r})")


def _set(p, data, bs, si, ui):
    for name, v in zip(PackedSequence.__slots__, (data, bs, si, ui)):
        object.__setattr__(p, name, v)


def _inverse(perm):
    out = np.empty_like(perm)
    out[perm] = np.arange(len(perm))
    out.flags.writeable = False
    return out


def _flatten(p):
    aux = tuple(None if a is None else tuple(a.tolist())
                for a in (p.batch_sizes, p.sorted_indices, p.unsorted_indices))
    return (p.data,), aux


def _unflatten(aux, children):
    p = object.__new__(PackedSequence)
    arrays = [None if a is None else np.asarray(a, np.int64) for a in aux]
    for a in arrays:
        if a is not None:
            a.flags.writeable = False
    _set(p, children[0], *arrays)
    return p


register_pytree_node(PackedSequence, _flatten, _unflatten)


# ------------------------------------------------------------------ padding
def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack arrays of shapes (L_i, *) into one (L_max, N, *) (or (N, L_max, *) with
    `batch_first`), filling the missing steps with `padding_value` on `padding_side`."""
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'right' or 'left', got "
                         f"{padding_side!r}")
    seqs = [fnp.asarray(s) for s in sequences]
    if not seqs:
        raise ValueError("pad_sequence: got an empty list of sequences")
    rest = tuple(seqs[0].shape[1:]) if seqs[0].ndim else None
    for i, s in enumerate(seqs):
        if s.ndim == 0 or tuple(s.shape[1:]) != rest:
            raise ValueError(f"pad_sequence: every sequence must be (L_i, *) with the same "
                             f"trailing shape; sequences[0] has shape {tuple(seqs[0].shape)}"
                             f" but sequences[{i}] has shape {tuple(s.shape)}")
    longest = max(s.shape[0] for s in seqs)
    out = []
    for s in seqs:
        gap = longest - s.shape[0]
        widths = [(0, gap) if padding_side == "right" else (gap, 0)] + [(0, 0)] * len(rest)
        out.append(fnp.pad(s, widths, constant_values=padding_value) if gap else s)
    return fnp.stack(out, axis=0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first=False):
    """The list of sequences `padded[:lengths[i], i]` (the inverse of `pad_sequence`)."""
    x = fnp.asarray(padded_sequences)
    lengths = _host_ints(lengths, "lengths", "unpad_sequence")
    if x.ndim < 2 or x.shape[0 if batch_first else 1] != len(lengths):
        raise ValueError(f"unpad_sequence: lengths has {len(lengths)} entries but "
                         f"padded_sequences of shape {tuple(x.shape)} has batch axis "
                         f"{0 if batch_first else 1}")
    steps = x.shape[1 if batch_first else 0]
    if len(lengths) and (lengths.min() < 0 or lengths.max() > steps):
        raise ValueError(f"unpad_sequence: lengths {lengths.tolist()} must lie in "
                         f"[0, {steps}] (the padded length of shape {tuple(x.shape)})")
    if not batch_first:
        x = fnp.swapaxes(x, 0, 1)
    return [x[i, :int(n)] for i, n in enumerate(lengths)]


# ------------------------------------------------------------------ packing
def _steps_mask(sorted_lengths, steps):
    """(steps, N) booleans: does the t-th step of the n-th (sorted) sequence exist."""
    return np.arange(steps)[:, None] < sorted_lengths[None, :]


def pack_padded_sequence(input, lengths, batch_first=False, enforce_sorted=True):
    """Pack a padded batch (L, N, *) (or (N, L, *) with `batch_first`) whose n-th sequence
    has `lengths[n]` steps. With `enforce_sorted=True` the lengths must be in decreasing
    order; `enforce_sorted=False` sorts the sequences and records the permutation."""
    fn = "pack_padded_sequence"
    x = fnp.asarray(input)
    lengths = _host_ints(lengths, "lengths", fn)
    if x.ndim < 2:
        raise ValueError(f"{fn}: input must be (L, N, *) or (N, L, *) with batch_first=True,"
                         f" got shape {tuple(x.shape)}")
    shape = tuple(x.shape)
    if batch_first:
        x = fnp.swapaxes(x, 0, 1)
    steps, n = x.shape[:2]
    axes = "(N, L, *)" if batch_first else "(L, N, *)"
    if len(lengths) != n:
        raise ValueError(f"{fn}: lengths has {len(lengths)} entries but input of shape "
                         f"{shape} holds {n} sequences (input is {axes})")
    if n == 0:
        raise ValueError(f"{fn}: input of shape {shape} holds no sequences")
    if lengths.min() <= 0:
        i = int(np.argmin(lengths))
        raise ValueError(f"{fn}: every length must be positive, got lengths[{i}] = "
                         f"{lengths[i]}; drop empty sequences before packing")
    if lengths.max() > steps:
        i = int(np.argmax(lengths))
        raise ValueError(f"{fn}: lengths[{i}] = {lengths[i]} is longer than the padded "
                         f"length {steps} of input of shape {shape} "
                         f"(input is {axes})")
    if enforce_sorted:
        if np.any(np.diff(lengths) > 0):
            raise ValueError(f"{fn}: lengths must be sorted in decreasing order with "
                             f"enforce_sorted=True, got {lengths.tolist()}; sort the batch "
                             "or pass enforce_sorted=False")
        order, sorted_indices = np.arange(n), None
    else:
        order = np.argsort(-lengths, kind="stable")
        sorted_indices = order
    sorted_lengths = lengths[order]
    longest = int(sorted_lengths[0])
    mask = _steps_mask(sorted_lengths, longest)
    rows = (np.arange(longest)[:, None] * n + order[None, :])[mask]
    flat = fnp.reshape(x, (steps * n,) + tuple(x.shape[2:]))
    data = fnp.take(flat, rows, axis=0)
    return PackedSequence(data, mask.sum(axis=1), sorted_indices)


def pack_sequence(sequences, enforce_sorted=True):
    """Pack a list of arrays of shapes (L_i, *) (`pad_sequence` then `pack_padded_sequence`)."""
    seqs = [fnp.asarray(s) for s in sequences]
    lengths = [s.shape[0] if s.ndim else 0 for s in seqs]
    return pack_padded_sequence(pad_sequence(seqs), lengths, enforce_sorted=enforce_sorted)


def sorted_padded(sequence, padding_value=0.0, total_length=None):
    """The padded batch (T, N, *), time-major, with its sequences in sorted order (as
    `sequence.data` holds them), and their lengths in that order."""
    bs = sequence.batch_sizes
    n, longest = int(bs[0]), len(bs)
    steps = longest if total_length is None else total_length
    data = fnp.asarray(sequence.data)
    offsets = np.concatenate([[0], np.cumsum(bs)[:-1]])
    sorted_lengths = (bs[None, :] > np.arange(n)[:, None]).sum(axis=1)
    mask = _steps_mask(sorted_lengths, steps)
    rows = np.full((steps, n), data.shape[0], np.int64)
    t, b = np.nonzero(mask)
    rows[t, b] = offsets[t] + b
    if np.all(mask):
        return fnp.reshape(data, (steps, n) + tuple(data.shape[1:])), sorted_lengths
    fill = lax.full((1,) + tuple(data.shape[1:]), padding_value, data.dtype, like=data)
    padded = fnp.take(fnp.concatenate([data, fill], axis=0), rows.ravel(), axis=0)
    return fnp.reshape(padded, (steps, n) + tuple(data.shape[1:])), sorted_lengths


def packed_like(padded, sequence):
    """Pack a time-major padded batch whose sequences are in `sequence`'s sorted order and
    have its lengths, with `sequence`'s batch_sizes and indices."""
    bs = sequence.batch_sizes
    steps, n = padded.shape[:2]
    sorted_lengths = (bs[None, :] > np.arange(n)[:, None]).sum(axis=1)
    rows = (np.arange(len(bs))[:, None] * n + np.arange(n)[None, :])[
        _steps_mask(sorted_lengths, len(bs))]
    flat = fnp.reshape(padded, (steps * n,) + tuple(padded.shape[2:]))
    out = object.__new__(PackedSequence)
    _set(out, fnp.take(flat, rows, axis=0), bs, sequence.sorted_indices,
         sequence.unsorted_indices)
    return out


def pad_packed_sequence(sequence, batch_first=False, padding_value=0.0, total_length=None):
    """Unpack into `(padded, lengths)`: the padded batch (T, N, *) (or (N, T, *) with
    `batch_first`) in the original order of the sequences, and their lengths (a NumPy int64
    array). `total_length` pads to that many steps instead of the longest length."""
    fn = "pad_packed_sequence"
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"{fn}: sequence must be a PackedSequence, got "
                        f"{type(sequence).__name__}")
    longest = len(sequence.batch_sizes)
    if total_length is not None:
        if not isinstance(total_length, (int, np.integer)) or total_length < longest:
            raise ValueError(f"{fn}: total_length must be an integer at least the longest "
                             f"length {longest} of the packed sequences, got {total_length!r}")
        total_length = int(total_length)
    padded, lengths = sorted_padded(sequence, padding_value, total_length)
    if sequence.unsorted_indices is not None:
        padded = fnp.take(padded, sequence.unsorted_indices, axis=1)
        lengths = lengths[sequence.unsorted_indices]
    if batch_first:
        padded = fnp.swapaxes(padded, 0, 1)
    return padded, lengths.astype(np.int64)


def unpack_sequence(packed_sequences):
    """The list of the packed sequences, each (L_i, *), in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return [padded[i, :int(n)] for i, n in enumerate(lengths)]
