"""Module printing as PyTorch's: `Name(extra)` on one line, or the lines of `extra_repr()`
followed by `(name): child` lines, each indented. Every layer class that both libraries have
is built with simple arguments in both and the strings compared; then argument variants and
nested models. Against PyTorch where it is installed (skipped without it)."""
import inspect
import warnings

import numpy as np
import pytest

import functrans as ft

try:
    import torch
except ImportError:                                   # the layout tests below still run
    torch = None

KEY = ft.random.key(0)

# classes of both libraries left out, and why
SKIPPED = {
    "Module": "functrans's Module is an abstract base (each subclass becomes a dataclass), so "
              "Module() itself cannot be built",
}
SHARED = [] if torch is None else sorted(
    n for n in dir(ft.nn) if isinstance(getattr(ft.nn, n), type) and
    issubclass(getattr(ft.nn, n), ft.nn.Module) and hasattr(torch.nn, n) and n not in SKIPPED)

# positional arguments of the classes that need some (the others are built with none, or
# those taking layers as NESTED builds them)
ARGS = {
    "AdaptiveAvgPool1d": (3,), "AdaptiveAvgPool2d": ((3, None),), "AdaptiveAvgPool3d": (2,),
    "AdaptiveMaxPool1d": (3,), "AdaptiveMaxPool2d": (3, True), "AdaptiveMaxPool3d": (2,),
    "AdaptiveLogSoftmaxWithLoss": (8, 10, [4, 7]),
    "AvgPool1d": (3,), "AvgPool2d": (3, 2, 1), "AvgPool3d": (2,),
    "BatchNorm1d": (4,), "BatchNorm2d": (4,), "BatchNorm3d": (4,), "Bilinear": (2, 3, 4),
    "ChannelShuffle": (2,), "CircularPad1d": (1,), "CircularPad2d": (1,), "CircularPad3d": (1,),
    "ConstantPad1d": (1, 0.5), "ConstantPad2d": (1, 0.5), "ConstantPad3d": (1, 0.5),
    "Conv1d": (2, 4, 3), "Conv2d": (2, 4, 3), "Conv3d": (2, 4, 3),
    "ConvTranspose1d": (2, 4, 3), "ConvTranspose2d": (2, 4, 3), "ConvTranspose3d": (2, 4, 3),
    "Embedding": (5, 3), "EmbeddingBag": (5, 3), "Fold": ((4, 5), 2),
    "FractionalMaxPool2d": (2, 3), "FractionalMaxPool3d": (2, 3),
    "GRU": (3, 4), "GRUCell": (3, 4), "LSTM": (3, 4), "LSTMCell": (3, 4), "RNN": (3, 4),
    "RNNCell": (3, 4), "RNNBase": ("LSTM", 3, 4), "RNNCellBase": (3, 4, True, 2),
    "GroupNorm": (2, 4), "InstanceNorm1d": (4,), "InstanceNorm2d": (4,), "InstanceNorm3d": (4,),
    "LPPool1d": (2, 3), "LPPool2d": (2, 3), "LPPool3d": (2, 3), "LayerNorm": (4,),
    "LazyConv1d": (4, 3), "LazyConv2d": (4, 3), "LazyConv3d": (4, 3),
    "LazyConvTranspose1d": (4, 3), "LazyConvTranspose2d": (4, 3), "LazyConvTranspose3d": (4, 3),
    "LazyLinear": (4,), "Linear": (3, 4), "LinearCrossEntropyLoss": (3, 4),
    "LocalResponseNorm": (2,), "MaxPool1d": (3,), "MaxPool2d": (3,), "MaxPool3d": (3,),
    "MaxUnpool1d": (2,), "MaxUnpool2d": (2,), "MaxUnpool3d": (2,),
    "MultiheadAttention": (4, 2), "PixelShuffle": (2,), "PixelUnshuffle": (2,), "RMSNorm": (4,),
    "ReflectionPad1d": (1,), "ReflectionPad2d": (1,), "ReflectionPad3d": (1,),
    "ReplicationPad1d": (1,), "ReplicationPad2d": (1,), "ReplicationPad3d": (1,),
    "SyncBatchNorm": (4,), "Threshold": (0.1, 20.0),
    "Transformer": (8, 2, 1, 1, 16), "TransformerEncoderLayer": (8, 2, 16),
    "TransformerDecoderLayer": (8, 2, 16), "Unflatten": (1, (2, 3)), "Unfold": (2,),
    "Upsample": (None, 2.0), "UpsamplingBilinear2d": (None, 2.0),
    "UpsamplingNearest2d": (None, 2.0), "ZeroPad1d": (1,), "ZeroPad2d": (1,), "ZeroPad3d": (1,),
}

# argument variants that change what extra_repr prints
VARIANTS = [
    ("Conv2d", (2, 4, (3, 1)), dict(stride=2, padding=1, dilation=2, groups=2, bias=False,
                                    padding_mode="reflect")),
    ("Conv1d", (2, 4, 3), dict(padding="same")),
    ("ConvTranspose2d", (2, 4, 3), dict(stride=2, output_padding=1, bias=False)),
    ("Linear", (3, 4), dict(bias=False)), ("Bilinear", (2, 3, 4), dict(bias=False)),
    ("Embedding", (5, 3), dict(padding_idx=0, max_norm=1.0, norm_type=1.0,
                               scale_grad_by_freq=True)),
    ("EmbeddingBag", (5, 3), dict(mode="sum", padding_idx=1, max_norm=2.0)),
    ("MaxPool2d", (3,), dict(stride=1, padding=1, dilation=2, return_indices=True,
                             ceil_mode=True)),
    ("AvgPool2d", (3,), dict(ceil_mode=True, count_include_pad=False, divisor_override=2)),
    ("BatchNorm2d", (4,), dict(affine=False, momentum=None, track_running_stats=False)),
    ("LayerNorm", ((2, 3),), dict(elementwise_affine=False, eps=1e-3)),
    ("LayerNorm", (4,), dict(bias=False)), ("GroupNorm", (2, 4), dict(affine=False)),
    ("RMSNorm", ((2, 3),), dict(eps=1e-3)), ("InstanceNorm2d", (3,), dict(affine=True)),
    ("RNN", (3, 4), dict(num_layers=2, nonlinearity="relu", bias=False, batch_first=True,
                         dropout=0.1, bidirectional=True)),
    ("LSTM", (3, 4), dict(proj_size=2)), ("GRUCell", (3, 4), dict(bias=False)),
    ("RNNCell", (3, 4), dict(nonlinearity="relu")), ("RNNBase", ("GRU", 3, 4), dict(num_layers=2)),
    ("MultiheadAttention", (4, 2), dict(kdim=3, vdim=5, add_bias_kv=True, bias=False,
                                        batch_first=True)),
    ("TransformerEncoderLayer", (8, 2, 16), dict(activation="gelu", norm_first=True,
                                                 bias=False)),
    ("Transformer", (8, 2, 1, 1, 16), dict(batch_first=True)),
    ("Upsample", (), dict(size=(3, 4), mode="bilinear", align_corners=True)),
    ("Upsample", (), dict(scale_factor=2, mode="nearest")),
    ("UpsamplingBilinear2d", (), dict(size=4)),
    ("Softmax", (), dict(dim=1)), ("LogSoftmax", (1,), {}), ("Softmin", (-1,), {}),
    ("Dropout", (0.2,), dict(inplace=True)), ("Dropout2d", (0.3,), {}),
    ("AlphaDropout", (0.1,), {}), ("Hardtanh", (-2.0, 2.0), {}), ("ReLU", (True,), {}),
    ("LeakyReLU", (0.2, True), {}), ("ELU", (0.5,), {}), ("CELU", (2.0,), {}),
    ("GELU", ("tanh",), {}), ("Softplus", (2.0, 10.0), {}), ("Threshold", (0.1, 20.0, True), {}),
    ("RReLU", (0.1, 0.2), {}), ("PReLU", (3, 0.1), {}), ("Hardshrink", (0.3,), {}),
    ("Softshrink", (0.3,), {}), ("GLU", (1,), {}), ("SiLU", (True,), {}), ("Mish", (True,), {}),
    ("Hardswish", (True,), {}), ("Hardsigmoid", (True,), {}), ("SELU", (True,), {}),
    ("ReLU6", (True,), {}), ("Flatten", (0, 2), {}), ("Unflatten", (1, (2, 3)), {}),
    ("Identity", (3,), dict(unused=1)), ("CosineSimilarity", (0, 1e-6), {}),
    ("PairwiseDistance", (1.0, 1e-3, True), {}),
    ("Fold", ((4, 5), (2, 3)), dict(dilation=2, padding=1, stride=2)),
    ("Unfold", (2,), dict(stride=2)), ("PixelShuffle", (3,), {}), ("ChannelShuffle", (3,), {}),
    ("ConstantPad2d", ((1, 2, 3, 4), 1.5), {}), ("ReflectionPad1d", ((1, 2),), {}),
    ("ZeroPad2d", ((1, 2, 0, 1),), {}), ("AdaptiveAvgPool2d", ((3, None),), {}),
    ("AdaptiveMaxPool1d", (3, True), {}),
    ("LPPool2d", (2.0, (2, 3)), dict(stride=1, ceil_mode=True)),
    ("MaxUnpool2d", (2,), dict(stride=1, padding=1)),
    ("FractionalMaxPool2d", (2,), dict(output_ratio=0.5)),
    ("LocalResponseNorm", (3,), dict(alpha=0.1, beta=0.5, k=2.0)),
    ("AdaptiveLogSoftmaxWithLoss", (8, 10, [4, 7]), dict(div_value=2.0, head_bias=True)),
    ("CrossEntropyLoss", (), dict(ignore_index=1, label_smoothing=0.1)),
    ("CTCLoss", (1,), dict(zero_infinity=True)),
    ("LinearCrossEntropyLoss", (3, 4), dict(out_features=(2,), bias=True, ignore_index=1)),
    ("LazyLinear", (4,), dict(bias=False)),
    ("LazyConv2d", (4, 3), dict(padding=1, groups=2, bias=False)),
    ("LazyBatchNorm2d", (), dict(affine=False, momentum=None)),
    ("SyncBatchNorm", (4,), dict(affine=False)),
]


def _make(nn, name, *args, **kwargs):
    """`nn.name(*args, **kwargs)`, with our key where our constructor takes one."""
    cls = getattr(nn, name)
    if nn is ft.nn and "key" in inspect.signature(cls).parameters:
        kwargs["key"] = KEY
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")             # PyTorch's notes on its own arguments
        return cls(*args, **kwargs)


def _parameters(nn, values):
    return values if nn is ft.nn else [torch.from_numpy(v) for v in values]


def _weight_norm(nn):
    return (ft.nn if nn is ft.nn else torch.nn).utils.parametrizations.weight_norm(
        _make(nn, "Linear", 3, 4))


NESTED = {
    "Sequential": lambda nn: nn.Sequential(_make(nn, "Linear", 2, 3), nn.ReLU(),
                                           _make(nn, "Linear", 3, 1)),
    "ModuleList-runs": lambda nn: nn.ModuleList([_make(nn, "Linear", 2, 2) for _ in range(3)] +
                                                [nn.ReLU()]),
    "ModuleDict": lambda nn: nn.ModuleDict({"a": _make(nn, "Linear", 2, 2),
                                            "b": nn.Sequential(nn.Tanh())}),
    "Sequential-nested": lambda nn: nn.Sequential(
        nn.Sequential(_make(nn, "Conv2d", 1, 2, 3), nn.MaxPool2d(2)), nn.Flatten()),
    "TransformerEncoder": lambda nn: _make(nn, "TransformerEncoder", _make(
        nn, "TransformerEncoderLayer", 8, 2, 16), 2, norm=nn.LayerNorm(8),
        enable_nested_tensor=False),
    "TransformerDecoder": lambda nn: nn.TransformerDecoder(
        _make(nn, "TransformerDecoderLayer", 8, 2, 16), 2),
    "weight_norm": _weight_norm,
    "ParameterList-two": lambda nn: nn.ParameterList(_parameters(
        nn, [np.zeros(3, np.float32), np.ones((2, 2))])),
    "ParameterList-one": lambda nn: nn.ParameterList(_parameters(nn, [np.zeros(3, np.float32)])),
    "ParameterDict-one": lambda nn: nn.ParameterDict(dict(zip("w", _parameters(
        nn, [np.zeros(3, np.float32)])))),
}

# PyTorch's names of dtypes in the parameter containers, and ours (NumPy's)
TORCH_DTYPE_NAMES = {"torch.float32": "float32", "torch.float64": "float64",
                     "torch.FloatTensor": "float32"}


def _torch_repr(module):
    text = repr(module)
    for theirs, ours in TORCH_DTYPE_NAMES.items():
        text = text.replace(theirs, ours)
    return text


@pytest.mark.skipif(torch is None, reason="needs torch")
def test_the_shared_classes_are_the_torch_classes_we_print():
    assert len(SHARED) > 150 and set(SKIPPED) <= set(dir(torch.nn)) & set(dir(ft.nn))
    assert set(ARGS) <= set(SHARED) and {v[0] for v in VARIANTS} <= set(SHARED)


@pytest.mark.parametrize("name", SHARED)
def test_repr_of_every_shared_class_equals_torchs(name):
    args = ARGS.get(name, ())
    build = NESTED.get(name, lambda nn: _make(nn, name, *args))
    assert repr(build(ft.nn)) == repr(build(torch.nn))


@pytest.mark.skipif(torch is None, reason="needs torch")
@pytest.mark.parametrize("name, args, kwargs", VARIANTS,
                         ids=[f"{v[0]}-{i}" for i, v in enumerate(VARIANTS)])
def test_repr_of_argument_variants_equals_torchs(name, args, kwargs):
    assert repr(_make(ft.nn, name, *args, **kwargs)) == repr(_make(torch.nn, name, *args,
                                                                   **kwargs))


@pytest.mark.skipif(torch is None, reason="needs torch")
@pytest.mark.parametrize("build", NESTED.values(), ids=NESTED)
def test_repr_of_nested_models_equals_torchs(build):
    assert repr(build(ft.nn)) == _torch_repr(build(torch.nn))


class _Block(ft.nn.Module):
    def __init__(self, extra):
        self.extra = extra
        self.fc = ft.nn.Linear(2, 3, key=KEY)
        self.act = ft.nn.ReLU()

    def extra_repr(self):
        return self.extra


def test_extra_repr_goes_on_its_own_lines_before_the_children():
    fc = "(fc): Linear(in_features=2, out_features=3, bias=True)"
    assert repr(_Block("")) == f"_Block(\n  {fc}\n  (act): ReLU()\n)"
    assert repr(_Block("scale=2")) == f"_Block(\n  scale=2\n  {fc}\n  (act): ReLU()\n)"
    assert repr(_Block("a=1\nb=2")) == f"_Block(\n  a=1\n  b=2\n  {fc}\n  (act): ReLU()\n)"
    # a multi-line extra_repr without children is indented too; one line stays inline
    assert repr(ft.nn.ParameterDict({"u": np.ones(2), "v": np.ones(1)})) == (
        "ParameterDict(\n    (u): Parameter containing: [float64 of size 2]\n"
        "    (v): Parameter containing: [float64 of size 1]\n)")
    assert repr(ft.nn.Linear(2, 3, key=KEY)) == "Linear(in_features=2, out_features=3, bias=True)"
    nested = ft.nn.Sequential(_Block("s=1"))
    assert repr(nested) == ("Sequential(\n  (0): _Block(\n    s=1\n    (fc): Linear(in_features=2, "
                            "out_features=3, bias=True)\n    (act): ReLU()\n  )\n)")


def test_a_lazy_layer_prints_its_layer_with_input_size_0_until_initialized():
    lazy = ft.nn.LazyLinear(4, key=KEY)
    assert repr(lazy) == "LazyLinear(in_features=0, out_features=4, bias=True)"
    assert repr(ft.nn.init_lazy(lazy, np.ones((2, 3), np.float32))) == \
        "Linear(in_features=3, out_features=4, bias=True)"
    assert repr(ft.nn.LazyBatchNorm1d(momentum=None)) == (
        "LazyBatchNorm1d(0, eps=1e-05, momentum=None, affine=True, bias=True, "
        "track_running_stats=True)")
