"""Recurrent layers: `RNN`, `LSTM`, `GRU` and their one-step cells `RNNCell`, `LSTMCell`,
`GRUCell`, with PyTorch's arguments, parameter names and shapes (`weight_ih_l0`,
`weight_hh_l0_reverse`, `weight_hr_l0` for LSTM projections, ...), initialization
(every parameter uniform in ±1/sqrt(hidden_size)), gate order (LSTM i, f, g, o; GRU r, z, n),
call signatures and return structure:

    lstm = ft.nn.LSTM(128, 256, num_layers=2, batch_first=True, key=key)
    out, (h_n, c_n) = lstm(x)                 # x: (N, L, 128), or (L, 128) unbatched
    out, h_n = ft.nn.GRU(128, 256, key=key)(x, h0)

How a layer runs: the input projections of all time steps are one matrix product; the time
loop is one `ft.lax.scan` whose step is one (h @ W_hh^T) product and a few elementwise
operations; the layer's reverse-mode derivative is written out (a `custom_vjp`): a reverse
scan with one (dgates @ W_hh) product per step, after which the weight gradients are single
products over all time steps. Forward mode and higher derivatives differentiate that rule.
Sigmoid gates are computed as 0.5 + 0.5·tanh(x/2), one tanh over all gates at once.

Packed sequences (`ft.nn.utils.rnn.PackedSequence`) run as one padded batch through the same
scans: padding follows each sequence's last step, so it never changes the steps before it;
the final states are gathered at each sequence's own last step, and the reverse direction
runs forward over each sequence reversed within its length. The output is packed again, and
given and returned states follow the caller's order of the sequences, as in PyTorch.
"""
from __future__ import annotations

import math
import warnings

import numpy as np

from .. import dtypes, lax
from .. import numpy as fnp
from ..higher_order.custom_derivatives import custom_vjp
from . import activations
from ._utils import as_floating, float_dtype
from .layers import dropout, linear
from .module import Module
from .utils.rnn import PackedSequence, packed_like, sorted_padded

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]


def _gate_scale(hidden, dtype, per_gate):
    """A constant vector holding each gate's factor `hidden` times."""
    return fnp.asarray(np.repeat(np.asarray(per_gate, dtype), hidden))


def _mm_t(a, w):
    """a @ w.T for a 2-d `a`."""
    return lax.dot_general(a, w, (((1,), (1,)), ((), ())))


def _weight_grad(dz, h):
    """sum over time and batch of dz_t^T h_t, for stacks (T, N, G) and (T, N, H): (G, H)."""
    t, n, g = dz.shape
    return lax.dot_general(lax.reshape(dz, (t * n, g)), lax.reshape(h, (t * n, h.shape[-1])),
                           (((0,), (0,)), ((), ())))


def _previous(stack, first, reverse):
    """The state each step starts from: `first`, then the states the steps before produced."""
    first = lax.expand_dims(first, (0,))
    if reverse:
        return fnp.concatenate([stack[1:], first], axis=0)
    return fnp.concatenate([first, stack[:-1]], axis=0)


# ------------------------------------------------------------------ one step of each cell
def _lstm_update(z, c, hidden):
    """LSTM gates from pre-activations `z` (N, 4H) and the cell state `c`: returns
    (o·tanh(c'), c', t) with t = tanh of the scaled pre-activations (what the derivative
    needs)."""
    t = lax.tanh(lax.mul(z, _gate_scale(hidden, z.dtype, (0.5, 0.5, 1.0, 0.5))))
    a = lax.add(lax.mul(t, 0.5), 0.5)
    i, f, o = a[:, :hidden], a[:, hidden:2 * hidden], a[:, 3 * hidden:]
    g = t[:, 2 * hidden:3 * hidden]
    c = lax.add(lax.mul(f, c), lax.mul(i, g))
    return lax.mul(o, lax.tanh(c)), c, t


def _gru_update(xg, hg, h, hidden):
    """GRU update from input projections `xg` (N, 3H), hidden projections `hg` (N, 3H) and
    the state `h`: returns (h', tanh of the scaled r and z pre-activations, n)."""
    two = 2 * hidden
    rz_t = lax.tanh(lax.mul(lax.add(xg[:, :two], hg[:, :two]), 0.5))
    rz = lax.add(lax.mul(rz_t, 0.5), 0.5)
    r, zg = rz[:, :hidden], rz[:, hidden:]
    n = lax.tanh(lax.add(xg[:, two:], lax.mul(r, hg[:, two:])))
    return lax.add(n, lax.mul(zg, lax.sub(h, n))), rz_t, n


def _rnn_update(z, relu):
    return activations.relu(z) if relu else lax.tanh(z)


# ------------------------------------------------------------------ Elman RNN over time
def _rnn_scan(xg, h0, w_hh, relu, reverse):
    w_t = lax.transpose(w_hh, (1, 0))

    def step(h, zx):
        h = _rnn_update(lax.add(zx, h @ w_t), relu)
        return h, h
    h, hs = lax.scan(step, h0, xg, reverse=reverse)
    return hs, h


def _rnn_recurrence(relu, reverse, xg, h0, w_hh):
    return _rnn_scan(xg, h0, w_hh, relu, reverse)


def _rnn_recurrence_fwd(relu, reverse, xg, h0, w_hh):
    hs, h = _rnn_scan(xg, h0, w_hh, relu, reverse)
    return (hs, h), (hs, h0, w_hh)


def _rnn_recurrence_bwd(relu, reverse, res, cts):
    hs, h0, w_hh = res
    d_hs, d_hn = cts
    w = w_hh.astype(hs.dtype)

    def step(dh, xs):
        dout, h = xs
        dh = lax.add(dh, dout)
        if relu:
            dz = lax.mul(dh, lax.convert_element_type(lax.gt(h, 0.0), h.dtype))
        else:
            dz = lax.mul(dh, lax.sub(1.0, lax.square(h)))
        return dz @ w, dz
    dh0, dz = lax.scan(step, d_hn, (d_hs, hs), reverse=not reverse)
    dw = _weight_grad(dz, _previous(hs, h0, reverse))
    return dz, dh0, dw.astype(w_hh.dtype)


_rnn_recurrence = custom_vjp(_rnn_recurrence, nondiff_argnums=(0, 1))
_rnn_recurrence.defvjp(_rnn_recurrence_fwd, _rnn_recurrence_bwd)


# ------------------------------------------------------------------ LSTM over time
def _lstm_scan(xg, h0, c0, w_hh, w_hr, reverse, keep, cells=False):
    hidden = c0.shape[-1]
    w_t = lax.transpose(w_hh, (1, 0))
    r_t = None if w_hr is None else lax.transpose(w_hr, (1, 0))

    def step(carry, zx):
        h, c = carry
        h, c, t = _lstm_update(lax.add(zx, h @ w_t), c, hidden)
        if r_t is not None:
            h = h @ r_t
        return (h, c), ((h, c, t) if keep else (h, c) if cells else h)
    (h, c), ys = lax.scan(step, (h0, c0), xg, reverse=reverse)
    return ys, h, c


def _lstm_recurrence(reverse, cells, xg, h0, c0, w_hh, w_hr):
    """(hs, h_n, c_n), or (hs, cs, h_n, c_n) with `cells` (the cell state of every step)."""
    ys, h, c = _lstm_scan(xg, h0, c0, w_hh, w_hr, reverse, False, cells)
    return (*ys, h, c) if cells else (ys, h, c)


def _lstm_recurrence_fwd(reverse, cells, xg, h0, c0, w_hh, w_hr):
    (hs, cs, ts), h, c = _lstm_scan(xg, h0, c0, w_hh, w_hr, reverse, True)
    out = (hs, cs, h, c) if cells else (hs, h, c)
    return out, (hs, cs, ts, h0, c0, w_hh, w_hr)


def _lstm_recurrence_bwd(reverse, cells, res, cts):
    hs, cs, ts, h0, c0, w_hh, w_hr = res
    if cells:
        d_hs, d_cs, d_hn, d_cn = cts
    else:
        (d_hs, d_hn, d_cn), d_cs = cts, None
    hidden = c0.shape[-1]
    dt = hs.dtype
    scale = _gate_scale(hidden, dt, (0.25, 0.25, 1.0, 0.25))   # σ'(x) = (1 - tanh²(x/2))/4
    w = w_hh.astype(dt)
    w_r = None if w_hr is None else w_hr.astype(dt)

    def step(carry, xs):
        dh, dc = carry
        dout, t, c, c_prev = xs[:4]
        dh = lax.add(dh, dout)
        if cells:
            dc = lax.add(dc, xs[4])
        dhr = dh if w_r is None else dh @ w_r
        tc = lax.tanh(c)
        a = lax.add(lax.mul(t, 0.5), 0.5)
        i, f, o = a[:, :hidden], a[:, hidden:2 * hidden], a[:, 3 * hidden:]
        g = t[:, 2 * hidden:3 * hidden]
        dc = lax.add(dc, lax.mul(lax.mul(dhr, o), lax.sub(1.0, lax.square(tc))))
        da = fnp.concatenate([lax.mul(dc, g), lax.mul(dc, c_prev), lax.mul(dc, i),
                              lax.mul(dhr, tc)], axis=1)
        dz = lax.mul(lax.mul(da, lax.sub(1.0, lax.square(t))), scale)
        ys = dz if w_r is None else (dz, dh, lax.mul(o, tc))
        return (dz @ w, lax.mul(dc, f)), ys
    xs = (d_hs, ts, cs, _previous(cs, c0, reverse)) + ((d_cs,) if cells else ())
    (dh0, dc0), ys = lax.scan(step, (d_hn, d_cn), xs, reverse=not reverse)
    dz = ys if w_r is None else ys[0]
    dw = _weight_grad(dz, _previous(hs, h0, reverse)).astype(w_hh.dtype)
    dw_r = None if w_r is None else _weight_grad(ys[1], ys[2]).astype(w_hr.dtype)
    return dz, dh0, dc0, dw, dw_r


_lstm_recurrence = custom_vjp(_lstm_recurrence, nondiff_argnums=(0, 1))
_lstm_recurrence.defvjp(_lstm_recurrence_fwd, _lstm_recurrence_bwd)


# ------------------------------------------------------------------ GRU over time
def _gru_scan(xg, h0, w_hh, b_hh, reverse, keep):
    hidden = h0.shape[-1]
    w_t = lax.transpose(w_hh, (1, 0))

    def step(h, x):
        hg = h @ w_t
        if b_hh is not None:
            hg = lax.add(hg, b_hh)
        h, rz_t, n = _gru_update(x, hg, h, hidden)
        return h, ((h, rz_t, n, hg[:, 2 * hidden:]) if keep else h)
    h, ys = lax.scan(step, h0, xg, reverse=reverse)
    return ys, h


def _gru_recurrence(reverse, xg, h0, w_hh, b_hh):
    return _gru_scan(xg, h0, w_hh, b_hh, reverse, False)


def _gru_recurrence_fwd(reverse, xg, h0, w_hh, b_hh):
    (hs, rz_ts, ns, hgns), h = _gru_scan(xg, h0, w_hh, b_hh, reverse, True)
    return (hs, h), (hs, rz_ts, ns, hgns, h0, w_hh, b_hh)


def _gru_recurrence_bwd(reverse, res, cts):
    hs, rz_ts, ns, hgns, h0, w_hh, b_hh = res
    d_hs, d_hn = cts
    hidden = h0.shape[-1]
    w = w_hh.astype(hs.dtype)
    h_prev = _previous(hs, h0, reverse)

    def step(dh, xs):
        dout, rz_t, n, hgn, hp = xs
        dh = lax.add(dh, dout)
        rz = lax.add(lax.mul(rz_t, 0.5), 0.5)
        r, zg = rz[:, :hidden], rz[:, hidden:]
        dn = lax.mul(lax.mul(dh, lax.sub(1.0, zg)), lax.sub(1.0, lax.square(n)))
        drz = fnp.concatenate([lax.mul(dn, hgn), lax.mul(dh, lax.sub(hp, n))], axis=1)
        drz = lax.mul(lax.mul(drz, lax.sub(1.0, lax.square(rz_t))), 0.25)
        dxg = fnp.concatenate([drz, dn], axis=1)
        dhg = fnp.concatenate([drz, lax.mul(dn, r)], axis=1)
        return lax.add(lax.mul(dh, zg), dhg @ w), (dxg, dhg)
    dh0, (dxg, dhg) = lax.scan(step, d_hn, (d_hs, rz_ts, ns, hgns, h_prev),
                               reverse=not reverse)
    dw = _weight_grad(dhg, h_prev).astype(w_hh.dtype)
    db = None if b_hh is None else fnp.sum(dhg, axis=(0, 1)).astype(b_hh.dtype)
    return dxg, dh0, dw, db


_gru_recurrence = custom_vjp(_gru_recurrence, nondiff_argnums=(0,))
_gru_recurrence.defvjp(_gru_recurrence_fwd, _gru_recurrence_bwd)


# ------------------------------------------------------------------ packed sequences
def _per_sequence_indices(lengths):
    """Row indices into a flattened (T, N, ·) stack whose n-th sequence has `lengths[n]`
    steps: `flip` (T, N) reverses each sequence within its length (padding stays put), `last`
    (1, N) picks each sequence's last step."""
    steps, n = int(lengths.max()), len(lengths)
    t = np.arange(steps)[:, None]
    src = np.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)
    return src * n + np.arange(n), ((lengths - 1) * n + np.arange(n))[None, :]


def _gather_steps(stack, rows):
    """`stack` (T, N, F) re-indexed by flat row indices `rows` (T', N): (T', N, F)."""
    t, n, f = stack.shape
    out = fnp.take(lax.reshape(stack, (t * n, f)), rows.ravel(), axis=0)
    return lax.reshape(out, rows.shape + (f,))


# ------------------------------------------------------------------ layers
def _uniform_params(key, shapes, hidden_size, dtype, what):
    """PyTorch's recurrent initialization: every parameter uniform in ±1/sqrt(hidden)."""
    from ..random import split, uniform
    if key is None:
        raise TypeError(f"{what} draws its initial parameters at random: pass key=... (e.g. "
                        "key=ft.random.key(0))")
    bound = 1.0 / math.sqrt(hidden_size)
    keys = split(key, len(shapes))
    return [uniform(k, s, dtype, -bound, bound) for k, s in zip(keys, shapes)]


_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class RNNBase(Module):
    """What RNN, LSTM and GRU share (PyTorch's base class): the parameters of stacked,
    optionally bidirectional layers for `mode` "RNN_TANH", "RNN_RELU", "LSTM" or "GRU", with
    PyTorch's names and shapes. It has no `__call__`, as in PyTorch: subclass it, or use
    RNN, LSTM or GRU."""

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, proj_size=0, *, key,
                 dtype=None):
        name = type(self).__name__
        if mode not in _GATES:
            raise ValueError(f"{name}: unrecognized mode {mode!r}; use one of "
                             f"{', '.join(map(repr, _GATES))}")
        if not (isinstance(hidden_size, (int, np.integer)) and hidden_size > 0):
            raise ValueError(f"{name}: hidden_size must be a positive integer, got "
                             f"{hidden_size!r}")
        if not (isinstance(num_layers, (int, np.integer)) and num_layers > 0):
            raise ValueError(f"{name}: num_layers must be a positive integer, got "
                             f"{num_layers!r}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"{name}: dropout must be a probability in [0, 1], got {dropout}")
        if proj_size < 0 or (proj_size and proj_size >= hidden_size):
            raise ValueError(f"{name}: proj_size must be 0 or in [1, hidden_size), got "
                             f"{proj_size} with hidden_size={hidden_size}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"{name}: dropout={dropout} is applied between layers, so it has no "
                          "effect with num_layers=1", UserWarning, stacklevel=3)
        self.mode = mode
        self.input_size, self.hidden_size = int(input_size), int(hidden_size)
        self.num_layers, self.bias = int(num_layers), bool(bias)
        self.batch_first, self.dropout = bool(batch_first), float(dropout)
        self.bidirectional, self.proj_size = bool(bidirectional), int(proj_size)
        self.training = True
        gate = _GATES[mode] * self.hidden_size
        real_hidden = self.proj_size or self.hidden_size
        directions = 2 if self.bidirectional else 1
        names, shapes = [], []
        for layer in range(self.num_layers):
            for d in range(directions):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                fan_in = self.input_size if layer == 0 else real_hidden * directions
                entries = [("weight_ih", (gate, fan_in)), ("weight_hh", (gate, real_hidden))]
                if self.bias:
                    entries += [("bias_ih", (gate,)), ("bias_hh", (gate,))]
                if self.proj_size:
                    entries += [("weight_hr", (self.proj_size, self.hidden_size))]
                names += [n + sfx for n, _ in entries]
                shapes += [s for _, s in entries]
        values = _uniform_params(key, shapes, self.hidden_size, float_dtype(dtype), name)
        for n, v in zip(names, values):
            setattr(self, n, v)

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s

    @property
    def all_weights(self):
        """The parameters of each layer and direction (layer 0, its reverse, layer 1, ...),
        each a list in PyTorch's order: weight_ih, weight_hh, bias_ih, bias_hh, weight_hr."""
        directions = 2 if self.bidirectional else 1
        return [[w for w in self._params(layer, d) if w is not None]
                for layer in range(self.num_layers) for d in range(directions)]

    # -- running
    def _params(self, layer, d):
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        get = self.__dict__.get
        return (get("weight_ih" + sfx), get("weight_hh" + sfx), get("bias_ih" + sfx),
                get("bias_hh" + sfx), get("weight_hr" + sfx))

    def _state(self, h, n, size, dtype, batched, what):
        """An initial state of shape (layers·directions, n, size) (zeros when None)."""
        layers = self.num_layers * (2 if self.bidirectional else 1)
        want = (layers, n, size) if batched else (layers, size)
        if h is None:
            return fnp.zeros((layers, n, size), dtype)
        h = fnp.asarray(h)
        if tuple(h.shape) != want:
            raise ValueError(f"{type(self).__name__}: {what} must have shape {want} "
                             f"(num_layers·num_directions, {'batch, ' if batched else ''}"
                             f"{'proj_size' if what == 'h_0' and self.proj_size else 'hidden'})"
                             f" for input of this shape, got {tuple(h.shape)}")
        h = h.astype(dtype)
        return h if batched else lax.expand_dims(h, (1,))

    def _run(self, input, hx, key):
        name = type(self).__name__
        packed, lengths = None, None
        if isinstance(input, PackedSequence):
            packed = input
            if fnp.ndim(packed.data) != 2:
                raise ValueError(f"{name}: a PackedSequence input must hold data of shape "
                                 f"(sum of lengths, H_in), got {tuple(packed.data.shape)}")
            x, lengths = sorted_padded(packed)
            x = as_floating(x)
        else:
            x = as_floating(input)
            if x.ndim not in (2, 3):
                raise ValueError(f"{name}: input must be (L, N, H_in), (N, L, H_in) with "
                                 "batch_first=True, unbatched (L, H_in), or a PackedSequence;"
                                 f" got shape {x.shape}")
        batched = x.ndim == 3
        if not batched:
            x = lax.expand_dims(x, (1,))
        elif self.batch_first and packed is None:
            x = fnp.swapaxes(x, 0, 1)
        steps, n, features = x.shape
        if features != self.input_size:
            raise ValueError(f"{name}: input has {features} features on its last axis but "
                             f"input_size={self.input_size}")
        if steps == 0:
            raise ValueError(f"{name}: the input sequence is empty (length 0)")
        dt = dtypes.result_type(x.dtype, self.weight_ih_l0.dtype)
        x = x.astype(dt)
        out_size = self.proj_size or self.hidden_size
        if self.mode == "LSTM":
            h0, c0 = (None, None) if hx is None else hx
            h0 = self._state(h0, n, out_size, dt, batched, "h_0")
            c0 = self._state(c0, n, self.hidden_size, dt, batched, "c_0")
        else:
            h0 = self._state(hx, n, out_size, dt, batched, "h_0")
        order = None if packed is None else packed.sorted_indices
        if order is not None:     # given states follow the caller's order of the sequences
            h0 = fnp.take(h0, order, axis=1)
            if self.mode == "LSTM":
                c0 = fnp.take(c0, order, axis=1)
        if lengths is not None:
            flip, last = _per_sequence_indices(lengths)
        directions = 2 if self.bidirectional else 1
        drop = self.training and self.dropout > 0 and self.num_layers > 1
        if drop:
            if key is None:
                raise ValueError(f"{name} applies dropout={self.dropout} between layers in "
                                 "training mode and needs a random key: pass key=..., or use "
                                 "model.eval() for inference")
            from ..random import split
            keys = split(key, self.num_layers - 1)
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            outs = []
            for d in range(directions):
                w_ih, w_hh, b_ih, b_hh, w_hr = (None if w is None else w.astype(dt)
                                                for w in self._params(layer, d))
                idx = layer * directions + d
                # packed: each sequence runs forward from its first step (and its padding
                # after its last step changes nothing before it); the reverse direction runs
                # forward over each sequence reversed within its own length
                reverse = bool(d) and lengths is None
                xd = _gather_steps(x, flip) if d and lengths is not None else x
                flat = lax.reshape(xd, (steps * n, x.shape[-1]))
                if self.mode == "GRU":
                    xg = linear(flat, w_ih, b_ih)
                else:
                    xg = linear(flat, w_ih, None if b_ih is None else lax.add(b_ih, b_hh))
                xg = lax.reshape(xg, (steps, n, xg.shape[-1]))
                if self.mode == "LSTM" and lengths is not None:
                    hs, cs, h, c = _lstm_recurrence(False, True, xg, h0[idx], c0[idx], w_hh,
                                                    w_hr)
                    c = _gather_steps(cs, last)[0]
                    c_n.append(c)
                elif self.mode == "LSTM":
                    hs, h, c = _lstm_recurrence(reverse, False, xg, h0[idx], c0[idx], w_hh,
                                                w_hr)
                    c_n.append(c)
                elif self.mode == "GRU":
                    hs, h = _gru_recurrence(reverse, xg, h0[idx], w_hh, b_hh)
                else:
                    hs, h = _rnn_recurrence(self.mode == "RNN_RELU", reverse, xg, h0[idx],
                                            w_hh)
                if lengths is not None:
                    h = _gather_steps(hs, last)[0]
                    if d:
                        hs = _gather_steps(hs, flip)
                outs.append(hs)
                h_n.append(h)
            x = outs[0] if directions == 1 else fnp.concatenate(outs, axis=-1)
            if drop and layer < self.num_layers - 1:
                x = dropout(x, self.dropout, True, key=keys[layer])
        h_n = fnp.stack(h_n)
        c_n = fnp.stack(c_n) if c_n else None
        if packed is not None:
            if packed.unsorted_indices is not None:
                h_n = fnp.take(h_n, packed.unsorted_indices, axis=1)
                c_n = None if c_n is None else fnp.take(c_n, packed.unsorted_indices, axis=1)
            return packed_like(x, packed), h_n, c_n
        if not batched:
            x = lax.squeeze(x, (1,))
            h_n = lax.squeeze(h_n, (1,))
            c_n = None if c_n is None else lax.squeeze(c_n, (1,))
        elif self.batch_first:
            x = fnp.swapaxes(x, 0, 1)
        return x, h_n, c_n


class RNN(RNNBase):
    """Elman RNN: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu).

    `rnn(input, h_0=None, *, key=None) -> (output, h_n)`; `key` is needed only for dropout
    between layers in training mode. `input` may be a PackedSequence (then so is `output`,
    and `h_n` holds each sequence's state at its own last step)."""

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, *, key, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got "
                             f"{nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size,
                         hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
                         key=key, dtype=dtype)

    def __call__(self, input, hx=None, *, key=None):
        out, h_n, _ = self._run(input, hx, key)
        return out, h_n


class LSTM(RNNBase):
    """Long short-term memory (Hochreiter & Schmidhuber), optionally with projected hidden
    states (`proj_size`, Sak et al.).

    `lstm(input, (h_0, c_0)=None, *, key=None) -> (output, (h_n, c_n))`."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, proj_size=0, *, key, dtype=None):
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, key=key, dtype=dtype)

    def __call__(self, input, hx=None, *, key=None):
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError("LSTM: hx must be a pair (h_0, c_0)")
        out, h_n, c_n = self._run(input, hx, key)
        return out, (h_n, c_n)


class GRU(RNNBase):
    """Gated recurrent unit (Cho et al.), PyTorch's variant: n = tanh(W_in x + b_in +
    r·(W_hn h + b_hn)).

    `gru(input, h_0=None, *, key=None) -> (output, h_n)`."""

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, key, dtype=None):
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, 0, key=key, dtype=dtype)

    def __call__(self, input, hx=None, *, key=None):
        out, h_n, _ = self._run(input, hx, key)
        return out, h_n


# ------------------------------------------------------------------ cells
class RNNCellBase(Module):
    """What RNNCell, LSTMCell and GRUCell share (PyTorch's base class): `weight_ih`
    (num_chunks·hidden_size, input_size), `weight_hh` (num_chunks·hidden_size, hidden_size)
    and with `bias` `bias_ih`, `bias_hh`, all uniform in ±1/sqrt(hidden_size). It has no
    `__call__`, as in PyTorch."""

    def __init__(self, input_size, hidden_size, bias, num_chunks, *, key, dtype=None):
        name = type(self).__name__
        if not (isinstance(hidden_size, (int, np.integer)) and hidden_size > 0):
            raise ValueError(f"{name}: hidden_size must be a positive integer, got "
                             f"{hidden_size!r}")
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), \
            bool(bias)
        g = int(num_chunks) * self.hidden_size
        shapes = [(g, self.input_size), (g, self.hidden_size)] + ([(g,), (g,)] if bias else [])
        values = _uniform_params(key, shapes, self.hidden_size, float_dtype(dtype), name)
        self.weight_ih, self.weight_hh = values[:2]
        if bias:
            self.bias_ih, self.bias_hh = values[2:]

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")

    def _prepare(self, input, states):
        """The input as (N, H_in), the states as (N, hidden) (zeros when None), the dtype,
        and whether the input was batched."""
        name = type(self).__name__
        x = as_floating(input)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input must be (N, {self.input_size}) or unbatched "
                             f"({self.input_size},), got shape {x.shape}")
        batched = x.ndim == 2
        dt = dtypes.result_type(x.dtype, self.weight_ih.dtype)
        x = (x if batched else lax.expand_dims(x, (0,))).astype(dt)
        n = x.shape[0]
        out = []
        for s in states:
            if s is None:
                out.append(fnp.zeros((n, self.hidden_size), dt))
                continue
            s = fnp.asarray(s)
            want = (n, self.hidden_size) if batched else (self.hidden_size,)
            if tuple(s.shape) != want:
                raise ValueError(f"{name}: the hidden state must have shape {want} for input "
                                 f"of shape {tuple(x.shape)}, got {tuple(s.shape)}")
            out.append((s if batched else lax.expand_dims(s, (0,))).astype(dt))
        return x, out, batched

    def _finish(self, h, batched):
        return h if batched else lax.squeeze(h, (0,))

    def _bias(self, name):
        return self.__dict__.get(name)


class RNNCell(RNNCellBase):
    """One Elman step: h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu)."""

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh", *, key,
                 dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got "
                             f"{nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias, 1, key=key, dtype=dtype)

    def extra_repr(self):
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity={self.nonlinearity}"

    def __call__(self, input, hx=None, *, key=None):
        x, (h,), batched = self._prepare(input, [hx])
        z = lax.add(linear(x, self.weight_ih, self._bias("bias_ih")),
                    linear(h, self.weight_hh, self._bias("bias_hh")))
        return self._finish(_rnn_update(z, self.nonlinearity == "relu"), batched)


class LSTMCell(RNNCellBase):
    """One LSTM step: `cell(input, (h, c)=None) -> (h', c')`."""

    def __init__(self, input_size, hidden_size, bias=True, *, key, dtype=None):
        super().__init__(input_size, hidden_size, bias, 4, key=key, dtype=dtype)

    def __call__(self, input, hx=None, *, key=None):
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError("LSTMCell: hx must be a pair (h, c)")
        x, (h, c), batched = self._prepare(input, [None, None] if hx is None else list(hx))
        z = lax.add(linear(x, self.weight_ih, self._bias("bias_ih")),
                    linear(h, self.weight_hh, self._bias("bias_hh")))
        h, c, _ = _lstm_update(z, c, self.hidden_size)
        return self._finish(h, batched), self._finish(c, batched)


class GRUCell(RNNCellBase):
    """One GRU step: `cell(input, h=None) -> h'`."""

    def __init__(self, input_size, hidden_size, bias=True, *, key, dtype=None):
        super().__init__(input_size, hidden_size, bias, 3, key=key, dtype=dtype)

    def __call__(self, input, hx=None, *, key=None):
        x, (h,), batched = self._prepare(input, [hx])
        xg = linear(x, self.weight_ih, self._bias("bias_ih"))
        hg = linear(h, self.weight_hh, self._bias("bias_hh"))
        h, _, _ = _gru_update(xg, hg, h, self.hidden_size)
        return self._finish(h, batched)
