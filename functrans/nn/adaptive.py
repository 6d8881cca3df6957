"""`AdaptiveLogSoftmaxWithLoss` (Grave et al., 2016): a softmax over many classes split into
a head (the frequent classes and one entry per cluster) and tail clusters computed through
smaller projections, with PyTorch's arguments, parameter names and results.

PyTorch runs each tail cluster on the rows whose target falls in it; here every cluster runs
on every row and the rows are picked afterwards, so the call has fixed shapes under `jit` and
`vmap` (the values and gradients are the same).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from .. import numpy as fnp
from ..core import Tracer
from ._utils import split_key
from .activations import log_softmax
from .containers import ModuleList, Sequential
from .layers import Linear
from .module import Module

__all__ = ["AdaptiveLogSoftmaxWithLoss"]

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


class AdaptiveLogSoftmaxWithLoss(Module):
    """Efficient softmax approximation: `(output, loss) = layer(input, target)`, `output` the
    log-probability of each row's target and `loss` the mean negative log-likelihood;
    `log_prob(input)` gives every class's log-probability and `predict(input)` the likeliest."""

    def __init__(self, in_features, n_classes, cutoffs, div_value=4.0, head_bias=False, *,
                 key, dtype=None):
        cutoffs = list(cutoffs)
        if not cutoffs:
            raise ValueError("AdaptiveLogSoftmaxWithLoss: cutoffs should be a sequence of "
                             "length larger than 0")
        if (cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > n_classes - 1
                or len(set(cutoffs)) != len(cutoffs)
                or any(int(c) != c for c in cutoffs)):
            raise ValueError("AdaptiveLogSoftmaxWithLoss: cutoffs should be a sequence of "
                             "unique, positive integers sorted in an increasing order, where "
                             f"each value is between 1 and n_classes-1 (got {cutoffs} for "
                             f"n_classes={n_classes})")
        self.in_features, self.n_classes = int(in_features), int(n_classes)
        self.cutoffs = tuple(int(c) for c in cutoffs) + (self.n_classes,)
        self.div_value, self.head_bias = float(div_value), bool(head_bias)
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        keys = split_key(key, 1 + 2 * self.n_clusters)
        self.head = Linear(in_features, self.head_size, bias=head_bias, key=keys[0],
                           dtype=dtype)
        tail = []
        for i in range(self.n_clusters):
            hidden = int(in_features // (div_value ** (i + 1)))
            size = self.cutoffs[i + 1] - self.cutoffs[i]
            tail.append(Sequential(
                Linear(in_features, hidden, bias=False, key=keys[1 + 2 * i], dtype=dtype),
                Linear(hidden, size, bias=False, key=keys[2 + 2 * i], dtype=dtype)))
        self.tail = ModuleList(tail)

    def _check(self, input, target=None):
        x = fnp.asarray(input)
        if x.ndim not in (1, 2) or x.shape[-1] != self.in_features:
            raise ValueError(f"AdaptiveLogSoftmaxWithLoss: input should be "
                             f"(N, {self.in_features}) or ({self.in_features},), got shape "
                             f"{x.shape}")
        if target is not None:
            t = fnp.asarray(target)
            if t.ndim != x.ndim - 1 or (t.ndim and t.shape[0] != x.shape[0]):
                raise ValueError("AdaptiveLogSoftmaxWithLoss: target should be (N,) for input "
                                 f"(N, in_features), or a scalar for 1-d input; got input "
                                 f"{x.shape} and target {t.shape}")
            if not isinstance(t, Tracer) and t.size:
                values = np.asarray(t)
                if values.min() < 0 or values.max() >= self.n_classes:
                    raise ValueError("AdaptiveLogSoftmaxWithLoss: target values should be in "
                                     f"[0, {self.n_classes - 1}], got {values.tolist()}")
        return x

    def __call__(self, input, target, *, key=None):
        x = self._check(input, target)
        single = x.ndim == 1
        x = x[None] if single else x
        t = fnp.reshape(fnp.asarray(target), (-1,))
        head = log_softmax(self.head(x), 1)
        gather = t
        output = fnp.zeros(t.shape, head.dtype)
        for i, cluster in enumerate(self.tail):
            low, high = self.cutoffs[i], self.cutoffs[i + 1]
            rows = (t >= low) & (t < high)
            local = fnp.clip(t - low, 0, high - low - 1)
            logprob = log_softmax(cluster(x), 1)
            picked = fnp.take_along_axis(logprob, local[:, None], 1)[:, 0]
            output = fnp.where(rows, picked, output)
            gather = fnp.where(rows, self.shortlist_size + i, gather)
        output = output + fnp.take_along_axis(head, gather[:, None], 1)[:, 0]
        loss = fnp.mean(-output)
        return _ASMoutput(output[0] if single else output, loss)

    def _full_log_prob(self, x, head):
        parts = [head[:, :self.shortlist_size]]
        for i, cluster in enumerate(self.tail):
            parts.append(log_softmax(cluster(x), 1) + head[:, self.shortlist_size + i, None])
        return fnp.concatenate(parts, axis=1)

    def log_prob(self, input):
        """Log-probabilities of every class, (N, n_classes) (or (n_classes,) for 1-d input)."""
        x = self._check(input)
        out = self._full_log_prob(x[None] if x.ndim == 1 else x,
                                  log_softmax(self.head(x[None] if x.ndim == 1 else x), 1))
        return out[0] if x.ndim == 1 else out

    def predict(self, input):
        """The likeliest class of each row (the argmax of `log_prob`)."""
        return fnp.argmax(self.log_prob(input), axis=-1)
