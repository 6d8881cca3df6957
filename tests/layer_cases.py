"""Layer configurations shared by the PyTorch parity tests and the transform tests: each case
builds a functrans layer and (given torch) the torch layer of the same configuration, and
draws inputs. Small shapes, so every case runs in milliseconds."""
from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

import functrans as ft


@dataclasses.dataclass
class Case:
    name: str
    ours: Callable            # (key, dtype) -> functrans module
    theirs: Callable          # torch -> torch module (float32; made float64 by the test)
    inputs: Callable          # rng -> [NumPy arrays], the call's positional arguments
    float_args: tuple = (0,)  # the inputs to differentiate
    kwargs: dict = dataclasses.field(default_factory=dict)
    modes: tuple = ("train", "eval")
    batched: bool = True      # axis 0 of input 0 is a batch of independent examples


def normal(*shape):
    return lambda rng: [rng.standard_normal(shape)]


def ids(high, *shape):
    return lambda rng: [rng.integers(0, high, shape)]


F = ft.nn
CASES = [
    # ---- normalization (torch's defaults unless stated)
    Case("BatchNorm1d-2d-input", lambda k, d: F.BatchNorm1d(3, dtype=d),
         lambda t: t.nn.BatchNorm1d(3), normal(5, 3), batched=False),
    Case("BatchNorm1d-3d-cumulative", lambda k, d: F.BatchNorm1d(3, momentum=None, dtype=d),
         lambda t: t.nn.BatchNorm1d(3, momentum=None), normal(4, 3, 5), batched=False),
    Case("BatchNorm1d-no-affine", lambda k, d: F.BatchNorm1d(3, affine=False, dtype=d),
         lambda t: t.nn.BatchNorm1d(3, affine=False), normal(4, 3, 2), batched=False),
    Case("BatchNorm2d", lambda k, d: F.BatchNorm2d(3, eps=1e-3, momentum=0.3, dtype=d),
         lambda t: t.nn.BatchNorm2d(3, eps=1e-3, momentum=0.3), normal(4, 3, 5, 4),
         batched=False),
    Case("BatchNorm2d-untracked",
         lambda k, d: F.BatchNorm2d(2, track_running_stats=False, dtype=d),
         lambda t: t.nn.BatchNorm2d(2, track_running_stats=False), normal(3, 2, 3, 3),
         batched=False),
    Case("BatchNorm2d-no-bias", lambda k, d: F.BatchNorm2d(2, bias=False, dtype=d),
         lambda t: t.nn.BatchNorm2d(2, bias=False), normal(3, 2, 3, 3), batched=False),
    Case("SyncBatchNorm-3d", lambda k, d: F.SyncBatchNorm(3, momentum=0.2, dtype=d),
         lambda t: t.nn.SyncBatchNorm(3, momentum=0.2), normal(4, 3, 5), batched=False),
    Case("SyncBatchNorm-5d-cumulative-no-bias",
         lambda k, d: F.SyncBatchNorm(2, momentum=None, bias=False, dtype=d),
         lambda t: t.nn.SyncBatchNorm(2, momentum=None, bias=False), normal(3, 2, 2, 3, 2),
         batched=False),
    Case("GroupNorm", lambda k, d: F.GroupNorm(2, 4, dtype=d), lambda t: t.nn.GroupNorm(2, 4),
         normal(3, 4, 5, 3)),
    Case("GroupNorm-1d-no-affine", lambda k, d: F.GroupNorm(4, 4, eps=1e-3, affine=False,
                                                           dtype=d),
         lambda t: t.nn.GroupNorm(4, 4, eps=1e-3, affine=False), normal(3, 4, 6)),
    Case("InstanceNorm2d", lambda k, d: F.InstanceNorm2d(3, dtype=d),
         lambda t: t.nn.InstanceNorm2d(3), normal(2, 3, 4, 5)),
    Case("InstanceNorm2d-unbatched", lambda k, d: F.InstanceNorm2d(3, affine=True, dtype=d),
         lambda t: t.nn.InstanceNorm2d(3, affine=True), normal(3, 4, 5), batched=False),
    Case("InstanceNorm2d-tracked",
         lambda k, d: F.InstanceNorm2d(3, affine=True, track_running_stats=True, dtype=d),
         lambda t: t.nn.InstanceNorm2d(3, affine=True, track_running_stats=True),
         normal(2, 3, 4, 3), batched=False),
    # ---- convolutions
    Case("Conv1d", lambda k, d: F.Conv1d(4, 6, 3, key=k, dtype=d),
         lambda t: t.nn.Conv1d(4, 6, 3), normal(2, 4, 9)),
    Case("Conv1d-stride-pad", lambda k, d: F.Conv1d(4, 6, 3, stride=2, padding=1, key=k,
                                                   dtype=d),
         lambda t: t.nn.Conv1d(4, 6, 3, stride=2, padding=1), normal(2, 4, 9)),
    Case("Conv1d-same-dilated", lambda k, d: F.Conv1d(4, 6, 3, padding="same", dilation=2,
                                                     key=k, dtype=d),
         lambda t: t.nn.Conv1d(4, 6, 3, padding="same", dilation=2), normal(2, 4, 9)),
    Case("Conv1d-groups-nobias", lambda k, d: F.Conv1d(4, 6, 2, groups=2, bias=False, key=k,
                                                      dtype=d),
         lambda t: t.nn.Conv1d(4, 6, 2, groups=2, bias=False), normal(2, 4, 7)),
    Case("Conv1d-unbatched", lambda k, d: F.Conv1d(4, 3, 3, key=k, dtype=d),
         lambda t: t.nn.Conv1d(4, 3, 3), normal(4, 6), batched=False),
    *[Case(f"Conv1d-{mode}", lambda k, d, m=mode: F.Conv1d(2, 3, 3, padding=2, padding_mode=m,
                                                           key=k, dtype=d),
           lambda t, m=mode: t.nn.Conv1d(2, 3, 3, padding=2, padding_mode=m), normal(2, 2, 6))
      for mode in ("reflect", "replicate", "circular")],
    Case("Conv2d-reflect-same", lambda k, d: F.Conv2d(2, 3, 3, padding="same",
                                                     padding_mode="reflect", key=k, dtype=d),
         lambda t: t.nn.Conv2d(2, 3, 3, padding="same", padding_mode="reflect"),
         normal(2, 2, 5, 4)),
    Case("Conv2d-circular", lambda k, d: F.Conv2d(2, 3, (3, 2), padding=(1, 2),
                                                 padding_mode="circular", key=k, dtype=d),
         lambda t: t.nn.Conv2d(2, 3, (3, 2), padding=(1, 2), padding_mode="circular"),
         normal(2, 2, 5, 4)),
    Case("ConvTranspose1d", lambda k, d: F.ConvTranspose1d(4, 6, 3, stride=2, padding=1,
                                                          output_padding=1, key=k, dtype=d),
         lambda t: t.nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1),
         normal(2, 4, 5)),
    Case("ConvTranspose1d-groups-dilation",
         lambda k, d: F.ConvTranspose1d(4, 6, 3, groups=2, dilation=2, bias=False, key=k,
                                        dtype=d),
         lambda t: t.nn.ConvTranspose1d(4, 6, 3, groups=2, dilation=2, bias=False),
         normal(2, 4, 5)),
    Case("ConvTranspose2d", lambda k, d: F.ConvTranspose2d(4, 6, (3, 2), stride=(2, 1),
                                                          padding=(1, 0),
                                                          output_padding=(1, 0), key=k,
                                                          dtype=d),
         lambda t: t.nn.ConvTranspose2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0),
                                        output_padding=(1, 0)), normal(2, 4, 4, 3)),
    Case("ConvTranspose2d-groups-stride3", lambda k, d: F.ConvTranspose2d(
        4, 2, 3, stride=3, padding=2, groups=2, dilation=(1, 2), key=k, dtype=d),
         lambda t: t.nn.ConvTranspose2d(4, 2, 3, stride=3, padding=2, groups=2,
                                        dilation=(1, 2)), normal(2, 4, 3, 3)),
    Case("ConvTranspose2d-output_size", lambda k, d: F.ConvTranspose2d(3, 2, 3, stride=2,
                                                                      key=k, dtype=d),
         lambda t: t.nn.ConvTranspose2d(3, 2, 3, stride=2), normal(2, 3, 3, 4),
         kwargs={"output_size": (8, 10)}),
    Case("ConvTranspose2d-unbatched", lambda k, d: F.ConvTranspose2d(3, 2, 2, stride=2, key=k,
                                                                    dtype=d),
         lambda t: t.nn.ConvTranspose2d(3, 2, 2, stride=2), normal(3, 3, 2), batched=False),
    # ---- adaptive pooling
    Case("AdaptiveAvgPool1d-uneven", lambda k, d: F.AdaptiveAvgPool1d(3),
         lambda t: t.nn.AdaptiveAvgPool1d(3), normal(2, 3, 7)),
    Case("AdaptiveAvgPool1d-even", lambda k, d: F.AdaptiveAvgPool1d(4),
         lambda t: t.nn.AdaptiveAvgPool1d(4), normal(2, 3, 8)),
    Case("AdaptiveAvgPool2d", lambda k, d: F.AdaptiveAvgPool2d((2, 3)),
         lambda t: t.nn.AdaptiveAvgPool2d((2, 3)), normal(2, 3, 5, 7)),
    Case("AdaptiveAvgPool2d-None", lambda k, d: F.AdaptiveAvgPool2d((3, None)),
         lambda t: t.nn.AdaptiveAvgPool2d((3, None)), normal(2, 2, 7, 4)),
    Case("AdaptiveAvgPool2d-global", lambda k, d: F.AdaptiveAvgPool2d(1),
         lambda t: t.nn.AdaptiveAvgPool2d(1), normal(2, 3, 4, 5)),
    Case("AdaptiveAvgPool2d-upsampling", lambda k, d: F.AdaptiveAvgPool2d(5),
         lambda t: t.nn.AdaptiveAvgPool2d(5), normal(2, 2, 3, 4)),
    Case("AdaptiveMaxPool1d", lambda k, d: F.AdaptiveMaxPool1d(3),
         lambda t: t.nn.AdaptiveMaxPool1d(3), normal(2, 3, 8)),
    Case("AdaptiveMaxPool2d", lambda k, d: F.AdaptiveMaxPool2d((3, 2)),
         lambda t: t.nn.AdaptiveMaxPool2d((3, 2)), normal(2, 3, 7, 5)),
    Case("AdaptiveMaxPool2d-indices", lambda k, d: F.AdaptiveMaxPool2d(3, return_indices=True),
         lambda t: t.nn.AdaptiveMaxPool2d(3, return_indices=True), normal(2, 2, 5, 8)),
    Case("AdaptiveMaxPool2d-unbatched", lambda k, d: F.AdaptiveMaxPool2d((2, None)),
         lambda t: t.nn.AdaptiveMaxPool2d((2, None)), normal(3, 5, 4), batched=False),
    # ---- power-average and fractional max pooling
    Case("LPPool1d-p1.5-ceil", lambda k, d: F.LPPool1d(1.5, 3, 2, ceil_mode=True),
         lambda t: t.nn.LPPool1d(1.5, 3, 2, ceil_mode=True),
         lambda rng: [rng.uniform(0.2, 2.0, (2, 3, 8))]),
    Case("LPPool2d", lambda k, d: F.LPPool2d(2, (3, 2)), lambda t: t.nn.LPPool2d(2, (3, 2)),
         normal(2, 3, 6, 5)),
    Case("LPPool2d-p3-stride", lambda k, d: F.LPPool2d(3.0, 2, stride=(1, 2)),
         lambda t: t.nn.LPPool2d(3.0, 2, stride=(1, 2)),
         lambda rng: [rng.uniform(0.2, 2.0, (2, 2, 4, 5))]),
    Case("LPPool3d-unbatched", lambda k, d: F.LPPool3d(2, 2, ceil_mode=True),
         lambda t: t.nn.LPPool3d(2, 2, ceil_mode=True), normal(2, 3, 5, 4), batched=False),
    Case("FractionalMaxPool2d-indices",
         lambda k, d: F.FractionalMaxPool2d(2, output_size=(4, 3), return_indices=True,
                                            _random_samples=np.full((2, 3, 2), 0.5)),
         lambda t: t.nn.FractionalMaxPool2d(2, output_size=(4, 3), return_indices=True,
                                            _random_samples=t.full((2, 3, 2), 0.5)),
         normal(2, 3, 7, 6), batched=False),
    Case("FractionalMaxPool3d-ratio",
         lambda k, d: F.FractionalMaxPool3d((2, 1, 2), output_ratio=0.6,
                                            _random_samples=np.full((2, 2, 3), 0.3)),
         lambda t: t.nn.FractionalMaxPool3d((2, 1, 2), output_ratio=0.6,
                                            _random_samples=t.full((2, 2, 3), 0.3)),
         normal(2, 2, 5, 4, 6), batched=False),
    # ---- resizing
    Case("Upsample-nearest-2x", lambda k, d: F.Upsample(scale_factor=2),
         lambda t: t.nn.Upsample(scale_factor=2), normal(2, 2, 3, 4)),
    Case("Upsample-nearest-size", lambda k, d: F.Upsample(size=(5, 7)),
         lambda t: t.nn.Upsample(size=(5, 7)), normal(2, 2, 3, 4)),
    Case("Upsample-nearest-1.7", lambda k, d: F.Upsample(scale_factor=1.7),
         lambda t: t.nn.Upsample(scale_factor=1.7), normal(2, 2, 5, 3)),
    Case("Upsample-nearest-down", lambda k, d: F.Upsample(scale_factor=(0.6, 0.5)),
         lambda t: t.nn.Upsample(scale_factor=(0.6, 0.5)), normal(2, 2, 7, 6)),
    Case("Upsample-nearest-exact", lambda k, d: F.Upsample(scale_factor=1.5,
                                                          mode="nearest-exact"),
         lambda t: t.nn.Upsample(scale_factor=1.5, mode="nearest-exact"), normal(2, 2, 5, 3)),
    Case("Upsample-bilinear", lambda k, d: F.Upsample(scale_factor=2, mode="bilinear"),
         lambda t: t.nn.Upsample(scale_factor=2, mode="bilinear"), normal(2, 2, 3, 4)),
    Case("Upsample-bilinear-corners", lambda k, d: F.Upsample(size=(5, 3), mode="bilinear",
                                                             align_corners=True),
         lambda t: t.nn.Upsample(size=(5, 3), mode="bilinear", align_corners=True),
         normal(2, 2, 3, 4)),
    Case("Upsample-bilinear-1.7-recompute",
         lambda k, d: F.Upsample(scale_factor=1.7, mode="bilinear",
                                 recompute_scale_factor=True),
         lambda t: t.nn.Upsample(scale_factor=1.7, mode="bilinear",
                                 recompute_scale_factor=True), normal(2, 2, 4, 3)),
    Case("Upsample-bilinear-down", lambda k, d: F.Upsample(scale_factor=0.7, mode="bilinear"),
         lambda t: t.nn.Upsample(scale_factor=0.7, mode="bilinear"), normal(2, 2, 7, 5)),
    Case("Upsample-linear", lambda k, d: F.Upsample(scale_factor=2.5, mode="linear"),
         lambda t: t.nn.Upsample(scale_factor=2.5, mode="linear"), normal(2, 3, 4)),
    Case("Upsample-linear-corners", lambda k, d: F.Upsample(size=7, mode="linear",
                                                           align_corners=True),
         lambda t: t.nn.Upsample(size=7, mode="linear", align_corners=True), normal(2, 3, 4)),
    Case("Upsample-area", lambda k, d: F.Upsample(size=(2, 3), mode="area"),
         lambda t: t.nn.Upsample(size=(2, 3), mode="area"), normal(2, 2, 5, 7)),
    Case("UpsamplingNearest2d", lambda k, d: F.UpsamplingNearest2d(scale_factor=1.5),
         lambda t: t.nn.UpsamplingNearest2d(scale_factor=1.5), normal(2, 2, 3, 4)),
    Case("UpsamplingBilinear2d", lambda k, d: F.UpsamplingBilinear2d((5, 3)),
         lambda t: t.nn.UpsamplingBilinear2d((5, 3)), normal(2, 2, 3, 4)),
    # ---- padding and rearranging
    Case("ZeroPad2d", lambda k, d: F.ZeroPad2d((1, 0, 2, -1)),
         lambda t: t.nn.ZeroPad2d((1, 0, 2, -1)), normal(2, 2, 3, 4)),
    Case("ConstantPad1d", lambda k, d: F.ConstantPad1d(2, -1.5),
         lambda t: t.nn.ConstantPad1d(2, -1.5), normal(2, 3, 5)),
    Case("ReflectionPad2d", lambda k, d: F.ReflectionPad2d((2, 1, 0, 3)),
         lambda t: t.nn.ReflectionPad2d((2, 1, 0, 3)), normal(2, 2, 4, 3)),
    Case("ReplicationPad3d", lambda k, d: F.ReplicationPad3d((1, 0, 2, 1, 0, 1)),
         lambda t: t.nn.ReplicationPad3d((1, 0, 2, 1, 0, 1)), normal(2, 2, 2, 3, 3)),
    Case("CircularPad1d-unbatched", lambda k, d: F.CircularPad1d((3, 1)),
         lambda t: t.nn.CircularPad1d((3, 1)), normal(3, 5), batched=False),
    Case("PixelShuffle", lambda k, d: F.PixelShuffle(2), lambda t: t.nn.PixelShuffle(2),
         normal(2, 8, 3, 2)),
    Case("PixelUnshuffle", lambda k, d: F.PixelUnshuffle(2), lambda t: t.nn.PixelUnshuffle(2),
         normal(2, 2, 4, 6)),
    Case("ChannelShuffle", lambda k, d: F.ChannelShuffle(3), lambda t: t.nn.ChannelShuffle(3),
         normal(2, 6, 2, 3)),
    Case("Unfold", lambda k, d: F.Unfold((2, 3), dilation=(2, 1), padding=1, stride=2),
         lambda t: t.nn.Unfold((2, 3), dilation=(2, 1), padding=1, stride=2),
         normal(2, 2, 5, 6)),
    Case("Fold", lambda k, d: F.Fold((4, 5), 2, stride=(1, 2)),
         lambda t: t.nn.Fold((4, 5), 2, stride=(1, 2)), normal(2, 8, 6)),
    # ---- shapes
    Case("Unflatten", lambda k, d: F.Unflatten(1, (2, 3)), lambda t: t.nn.Unflatten(1, (2, 3)),
         normal(4, 6, 2)),
    Case("Identity", lambda k, d: F.Identity(54, unused="x"),
         lambda t: t.nn.Identity(54, unused="x"), normal(3, 2)),
    # ---- embeddings
    Case("Embedding-padding", lambda k, d: F.Embedding(7, 3, padding_idx=2, key=k, dtype=d),
         lambda t: t.nn.Embedding(7, 3, padding_idx=2), ids(7, 4, 5), float_args=()),
    Case("Embedding-max_norm", lambda k, d: F.Embedding(7, 3, max_norm=1.0, key=k, dtype=d),
         lambda t: t.nn.Embedding(7, 3, max_norm=1.0), ids(7, 4, 5), float_args=()),
    Case("Embedding-max_norm-p1-freq",
         lambda k, d: F.Embedding(7, 3, max_norm=1.5, norm_type=1.0, scale_grad_by_freq=True,
                                  padding_idx=-1, key=k, dtype=d),
         lambda t: t.nn.Embedding(7, 3, max_norm=1.5, norm_type=1.0, scale_grad_by_freq=True,
                                  padding_idx=-1), ids(7, 3, 6), float_args=()),
    Case("EmbeddingBag-mean-2d", lambda k, d: F.EmbeddingBag(7, 3, key=k, dtype=d),
         lambda t: t.nn.EmbeddingBag(7, 3), ids(7, 4, 5), float_args=()),
    Case("EmbeddingBag-max-2d-padding",
         lambda k, d: F.EmbeddingBag(7, 3, mode="max", padding_idx=0, key=k, dtype=d),
         lambda t: t.nn.EmbeddingBag(7, 3, mode="max", padding_idx=0),
         lambda rng: [np.array([[0, 3, 5], [0, 0, 0], [6, 6, 1]])], float_args=()),
    Case("EmbeddingBag-sum-offsets-weights", lambda k, d: F.EmbeddingBag(7, 3, mode="sum",
                                                                        key=k, dtype=d),
         lambda t: t.nn.EmbeddingBag(7, 3, mode="sum"),
         lambda rng: [rng.integers(0, 7, 9), np.array([0, 2, 2, 6]), rng.standard_normal(9)],
         float_args=(2,), batched=False),
    Case("EmbeddingBag-mean-last-offset-padding",
         lambda k, d: F.EmbeddingBag(7, 3, include_last_offset=True, padding_idx=3, key=k,
                                     dtype=d),
         lambda t: t.nn.EmbeddingBag(7, 3, include_last_offset=True, padding_idx=3),
         lambda rng: [np.array([3, 1, 3, 4, 5, 3, 6]), np.array([0, 2, 3, 7])],
         float_args=(), batched=False),
    Case("EmbeddingBag-max-offsets-max_norm",
         lambda k, d: F.EmbeddingBag(7, 3, mode="max", max_norm=1.2, key=k, dtype=d),
         lambda t: t.nn.EmbeddingBag(7, 3, mode="max", max_norm=1.2),
         lambda rng: [rng.integers(0, 7, 8), np.array([0, 3, 3, 5])], float_args=(),
         batched=False),
]


def case_inputs(case, rng):
    return case.inputs(rng)


def build_pair(case, torch, rng):
    """The torch module (float64, parameters and buffers randomized) and the functrans one
    with the same weights, moved through `load_state_dict`."""
    torch.manual_seed(0)
    theirs = case.theirs(torch).double()
    with torch.no_grad():
        for p in theirs.parameters():
            p.add_(torch.from_numpy(rng.standard_normal(tuple(p.shape)) * 0.5))
        for name, b in theirs.named_buffers():
            if name.endswith("running_var"):
                b.copy_(torch.from_numpy(rng.uniform(0.5, 2.0, tuple(b.shape))))
            elif name.endswith("running_mean"):
                b.copy_(torch.from_numpy(rng.standard_normal(tuple(b.shape))))
    ours = case.ours(ft.random.key(0), np.float64).load_state_dict(theirs.state_dict())
    return ours, theirs


def ours_forward(case, model, xs):
    """`(output, model with updated buffers)`."""
    return ft.nn.stateful(model)(*xs, **case.kwargs)


class SmallCNN(ft.nn.Module):
    """conv(1->4) -> BatchNorm -> relu -> conv(4->8) -> BatchNorm -> relu -> global average
    -> linear(8->10)."""

    def __init__(self, *, key, dtype=None):
        k1, k2, k3 = ft.random.split(key, 3)
        self.conv1 = ft.nn.Conv2d(1, 4, 3, padding=1, key=k1, dtype=dtype)
        self.bn1 = ft.nn.BatchNorm2d(4, dtype=dtype)
        self.conv2 = ft.nn.Conv2d(4, 8, 3, key=k2, dtype=dtype)
        self.bn2 = ft.nn.BatchNorm2d(8, dtype=dtype)
        self.pool = ft.nn.AdaptiveAvgPool2d(1)
        self.fc = ft.nn.Linear(8, 10, key=k3, dtype=dtype)

    def __call__(self, x):
        x = ft.nn.relu(self.bn1(self.conv1(x)))
        x = ft.nn.relu(self.bn2(self.conv2(x)))
        return self.fc(self.pool(x).reshape(x.shape[0], -1))


def TorchSmallCNN(torch):
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
            self.bn1 = nn.BatchNorm2d(4)
            self.conv2 = nn.Conv2d(4, 8, 3)
            self.bn2 = nn.BatchNorm2d(8)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(8, 10)

        def forward(self, x):
            x = torch.relu(self.bn1(self.conv1(x)))
            x = torch.relu(self.bn2(self.conv2(x)))
            return self.fc(self.pool(x).flatten(1))
    return Net()
