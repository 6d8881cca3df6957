"""`ft.nn.utils.rnn` (packed sequences) and RNN/LSTM/GRU on PackedSequence input: packing,
padding and their round trips; batch_sizes and indices, outputs, final states and gradients
against PyTorch in float64 (skipped without torch); against running each sequence alone;
jit, grad and finite differences through a packed layer; errors."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.errors import ConcretizationError
from functrans.test_util import check_grads
from functrans.tree_util import tree_flatten

from torch_port import assert_close, assert_param_grads, from_torch

R = ft.nn.utils.rnn
KEY = ft.random.key(0)
rng = np.random.default_rng(3)


def _seqs(lengths, features=3):
    return [rng.standard_normal((n, features)) for n in lengths]


# ------------------------------------------------------------------ utilities, no torch
def test_pack_then_unpack_round_trips():
    seqs = _seqs([2, 5, 3, 5, 1])
    for enforce_sorted, given in ((False, seqs), (True, sorted(seqs, key=len, reverse=True))):
        packed = R.pack_sequence(given, enforce_sorted=enforce_sorted)
        assert packed.batch_sizes.tolist() == [5, 4, 3, 2, 2]
        assert packed.data.shape == (16, 3)
        for got, want in zip(R.unpack_sequence(packed), given):
            np.testing.assert_array_equal(np.asarray(got), want)


def test_pad_unpad_and_pad_packed_round_trip():
    seqs = _seqs([4, 2, 3])
    for batch_first in (False, True):
        padded = R.pad_sequence(seqs, batch_first=batch_first, padding_value=-7.0)
        assert padded.shape == ((3, 4, 3) if batch_first else (4, 3, 3))
        for got, want in zip(R.unpad_sequence(padded, [4, 2, 3], batch_first), seqs):
            np.testing.assert_array_equal(np.asarray(got), want)
        packed = R.pack_padded_sequence(padded, [4, 2, 3], batch_first, enforce_sorted=False)
        again, lengths = R.pad_packed_sequence(packed, batch_first, padding_value=-7.0)
        np.testing.assert_array_equal(np.asarray(again), np.asarray(padded))
        assert lengths.tolist() == [4, 2, 3] and lengths.dtype == np.int64
    longer, _ = R.pad_packed_sequence(R.pack_sequence(seqs, False), total_length=6)
    assert longer.shape == (6, 3, 3) and not np.asarray(longer)[4:].any()


def test_packed_sequence_is_a_pytree_with_static_sizes():
    packed = R.pack_sequence(_seqs([3, 1, 2]), enforce_sorted=False)
    leaves, _ = tree_flatten(packed)
    assert len(leaves) == 1 and leaves[0] is packed.data
    data, batch_sizes, sorted_indices, unsorted_indices = packed
    assert batch_sizes.tolist() == [3, 2, 1] and sorted_indices.tolist() == [0, 2, 1]
    assert unsorted_indices.tolist() == [0, 2, 1]
    doubled = ft.jit(lambda p: ft.tree.map(lambda d: d * 2, p))(packed)
    assert isinstance(doubled, R.PackedSequence)
    assert doubled.batch_sizes.tolist() == [3, 2, 1]
    np.testing.assert_allclose(np.asarray(doubled.data), 2 * np.asarray(data))
    g = ft.grad(lambda p: fnp.sum(R.pad_packed_sequence(p)[0] ** 2))(packed)
    np.testing.assert_allclose(np.asarray(g.data), 2 * np.asarray(data))
    with pytest.raises(AttributeError, match="immutable"):
        packed.data = data


@pytest.mark.parametrize("kind, kwargs", [
    ("LSTM", dict(num_layers=2, bidirectional=True)),
    ("GRU", dict(bidirectional=True, batch_first=True)),
    ("RNN", dict(num_layers=2)),
])
def test_packed_layer_equals_each_sequence_alone(kind, kwargs):
    layer = getattr(ft.nn, kind)(3, 4, key=KEY, **kwargs)
    seqs = _seqs([2, 5, 3])
    out, h_n = layer(R.pack_sequence(seqs, enforce_sorted=False))
    h_n = h_n[0] if kind == "LSTM" else h_n
    for i, (got, s) in enumerate(zip(R.unpack_sequence(out), seqs)):
        want, h = layer(s)                                   # unbatched (L, H_in)
        h = h[0] if kind == "LSTM" else h
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(np.asarray(h_n[:, i]), np.asarray(h), rtol=1e-12,
                                   atol=1e-14)


# ------------------------------------------------------------------ utilities vs PyTorch
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("padding_side", ["right", "left"])
def test_pad_sequence_matches_torch(batch_first, padding_side):
    torch = pytest.importorskip("torch")
    seqs = [rng.standard_normal((n, 2, 3)) for n in (3, 5, 1)]
    got = R.pad_sequence(seqs, batch_first, 1.5, padding_side)
    want = torch.nn.utils.rnn.pad_sequence([torch.from_numpy(s) for s in seqs], batch_first,
                                           1.5, padding_side)
    assert_close(got, want, 0, 0)


@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_and_pad_packed_match_torch(enforce_sorted, batch_first):
    torch = pytest.importorskip("torch")
    TR = torch.nn.utils.rnn
    lengths = [6, 4, 4, 2, 1] if enforce_sorted else [2, 6, 1, 4, 4]
    x = rng.standard_normal((5, 7, 2) if batch_first else (7, 5, 2))
    ours = R.pack_padded_sequence(x, lengths, batch_first, enforce_sorted)
    theirs = TR.pack_padded_sequence(torch.from_numpy(x), torch.tensor(lengths), batch_first,
                                     enforce_sorted)
    assert_close(ours.data, theirs.data, 0, 0)
    for name in ("batch_sizes", "sorted_indices", "unsorted_indices"):
        a, b = getattr(ours, name), getattr(theirs, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert a.tolist() == b.tolist(), name
    for total in (None, 9):
        got, got_len = R.pad_packed_sequence(ours, batch_first, -1.0, total)
        want, want_len = TR.pad_packed_sequence(theirs, batch_first, -1.0, total)
        assert_close(got, want, 0, 0)
        assert got_len.tolist() == want_len.tolist()
    seqs = _seqs([3, 5, 2])
    packed = TR.pack_sequence([torch.from_numpy(s) for s in seqs], enforce_sorted=False)
    assert_close(R.pack_sequence(seqs, enforce_sorted=False).data, packed.data, 0, 0)


# ------------------------------------------------------------------ layers vs PyTorch
CASES = [
    ("LSTM", dict(), True, False),
    ("LSTM", dict(num_layers=2, bidirectional=True), False, True),
    ("LSTM", dict(bidirectional=True, proj_size=2, batch_first=True), False, True),
    ("GRU", dict(), False, False),
    ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True), False, True),
    ("RNN", dict(bidirectional=True), True, True),
    ("RNN", dict(num_layers=2, nonlinearity="relu"), False, False),
]


@pytest.mark.parametrize("kind, kwargs, enforce_sorted, with_state", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_packed_layers_match_torch(kind, kwargs, enforce_sorted, with_state):
    torch = pytest.importorskip("torch")
    TR = torch.nn.utils.rnn
    theirs = getattr(torch.nn, kind)(3, 4, **kwargs).double()
    ours = from_torch(getattr(ft.nn, kind)(3, 4, key=KEY, **kwargs), theirs)
    lengths = [5, 4, 2, 1] if enforce_sorted else [2, 5, 1, 4]
    batch_first = kwargs.get("batch_first", False)
    x = rng.standard_normal((4, 5, 3) if batch_first else (5, 4, 3))
    directions = 2 if kwargs.get("bidirectional") else 1
    layers = directions * kwargs.get("num_layers", 1)
    h_size = kwargs.get("proj_size") or 4
    hx = None
    if with_state:
        hx = rng.standard_normal((layers, 4, h_size))
        if kind == "LSTM":
            hx = (hx, rng.standard_normal((layers, 4, 4)))
    tx = torch.from_numpy(x).requires_grad_()
    thx = None if hx is None else tuple(torch.from_numpy(h).requires_grad_() for h in hx) \
        if kind == "LSTM" else torch.from_numpy(hx).requires_grad_()

    def flat(out):
        o, h = out
        return [o.data] + (list(h) if isinstance(h, tuple) else [h])

    want = flat(theirs(TR.pack_padded_sequence(tx, lengths, batch_first, enforce_sorted), thx))
    weights = [rng.standard_normal(tuple(w.shape)) for w in want]
    sum(((w * torch.from_numpy(c)).sum() for w, c in zip(want, weights))).backward()

    def loss(model, x, hx):
        packed = R.pack_padded_sequence(x, lengths, batch_first, enforce_sorted)
        got = flat(model(packed, hx))
        return sum(fnp.sum(g * c) for g, c in zip(got, weights)), got

    argnums = (0, 1, 2) if with_state else (0, 1)
    (_, got), grads = ft.value_and_grad(loss, argnums=argnums, has_aux=True)(ours, x, hx)
    assert isinstance(ours(R.pack_padded_sequence(x, lengths, batch_first, enforce_sorted),
                           hx)[0], R.PackedSequence)
    for g, w, name in zip(got, want, ["output", "h_n", "c_n"]):
        assert_close(g, w, what=name)
    assert_param_grads(grads[0], theirs)
    assert_close(grads[1], tx.grad, what="input grad")
    if with_state:
        their_h = thx if kind == "LSTM" else (thx,)
        our_h = grads[2] if kind == "LSTM" else (grads[2],)
        for g, t in zip(our_h, their_h):
            assert_close(g, t.grad, what="state grad")


# ------------------------------------------------------------------ transforms
def test_jit_and_grad_through_a_packed_lstm():
    lstm = ft.nn.LSTM(3, 4, num_layers=2, bidirectional=True, key=KEY, dtype=np.float64)
    x = rng.standard_normal((5, 3, 3))
    lengths = np.array([3, 5, 2])

    def loss(model, x):
        out, (h, c) = model(R.pack_padded_sequence(x, lengths, enforce_sorted=False))
        padded, _ = R.pad_packed_sequence(out)
        return fnp.sum(padded ** 2) + fnp.sum(h * c)

    eager = ft.value_and_grad(loss, argnums=(0, 1))(lstm, x)
    jitted = ft.jit(ft.value_and_grad(loss, argnums=(0, 1)))(lstm, x)
    for a, b in zip(tree_flatten(eager)[0], tree_flatten(jitted)[0]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-14)
    # a PackedSequence as an argument of jit: data traced, batch_sizes and indices static
    packed = R.pack_padded_sequence(x, lengths, enforce_sorted=False)
    out, (h, _) = ft.jit(lambda m, p: m(p))(lstm, packed)
    want, (h_want, _) = lstm(packed)
    assert isinstance(out, R.PackedSequence) and out.batch_sizes.tolist() == [3, 3, 2, 1, 1]
    assert out.sorted_indices.tolist() == [1, 0, 2]
    np.testing.assert_allclose(np.asarray(out.data), np.asarray(want.data), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(h), np.asarray(h_want), rtol=1e-12)
    # padded steps get no gradient
    gx = np.asarray(eager[1][1])
    assert not gx[3:, 0].any() and not gx[2:, 2].any() and gx[:3, 0].any()


def test_check_grads_packed_rnn():
    rnn = ft.nn.RNN(2, 3, bidirectional=True, key=KEY, dtype=np.float64)
    lstm = ft.nn.LSTM(2, 2, key=KEY, dtype=np.float64)
    x = rng.standard_normal((4, 3, 2))
    h0 = rng.standard_normal((2, 3, 3))

    def f(x, h0):
        out, h = rnn(R.pack_padded_sequence(x, [2, 4, 1], enforce_sorted=False), h0)
        return out.data, h

    def g(x):
        out, (h, c) = lstm(R.pack_padded_sequence(x, [4, 3, 3]))
        return out.data, c

    check_grads(f, (x, h0), order=2, modes=("fwd", "rev"))
    check_grads(g, (x,), order=1, modes=("fwd", "rev"))


# ------------------------------------------------------------------ errors
def test_bad_lengths_raise_clear_errors():
    x = np.zeros((5, 3, 2))
    with pytest.raises(ValueError, match=r"decreasing order.*\[2, 5, 1\].*enforce_sorted=False"):
        R.pack_padded_sequence(x, [2, 5, 1])
    with pytest.raises(ValueError, match=r"positive, got lengths\[1\] = 0"):
        R.pack_padded_sequence(x, [3, 0, 1], enforce_sorted=False)
    with pytest.raises(ValueError, match=r"lengths\[0\] = 6 is longer than the padded length "
                                         r"5 of input of shape \(5, 3, 2\)"):
        R.pack_padded_sequence(x, [6, 2, 1])
    with pytest.raises(ValueError, match=r"lengths has 2 entries but input of shape "
                                         r"\(3, 5, 2\) holds 3 sequences \(input is \(N, L"):
        R.pack_padded_sequence(np.zeros((3, 5, 2)), [2, 1], batch_first=True)
    with pytest.raises(ConcretizationError, match="lengths must be concrete"):
        ft.jit(lambda x, n: R.pack_padded_sequence(x, n).data)(x, np.array([3, 2, 1]))
    packed = R.pack_padded_sequence(x, [3, 2, 1])
    with pytest.raises(ValueError, match="total_length must be .* at least the longest "
                                         "length 3"):
        R.pad_packed_sequence(packed, total_length=2)
    with pytest.raises(ValueError, match=r"sequences\[1\] has shape \(2, 3\)"):
        R.pad_sequence([np.zeros((2, 2)), np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"h_0 must have shape \(1, 3, 4\)"):
        ft.nn.GRU(2, 4, key=KEY)(packed, np.zeros((1, 2, 4)))
    with pytest.raises(ValueError, match="non-increasing"):
        R.PackedSequence(np.zeros((4, 2)), [1, 3])
