"""`ft.nn`: neural-network layers as pytrees, their functional forms, losses, initializers
and filtering, with PyTorch's names, argument orders and parameter layouts.

    import functrans as ft

    class Net(ft.nn.Module):
        def __init__(self, key):
            k1, k2 = ft.random.split(key)
            self.conv = ft.nn.Conv2d(3, 6, 5, key=k1)
            self.fc = ft.nn.Linear(6 * 28 * 28, 10, key=k2)

        def __call__(self, x):
            return self.fc(ft.nn.relu(self.conv(x)).reshape(x.shape[0], -1))

    model = Net(ft.random.key(0))
    loss, grads = ft.value_and_grad(
        lambda m: ft.nn.cross_entropy(m(images), labels))(model)

Layers with running statistics (BatchNorm) keep them in buffers; in training mode call the
model through `ft.nn.stateful`, which also returns the model with its updated buffers (see
`ft.nn.module` for the design): `logits, model = ft.nn.stateful(model)(images)`.
`model.state_dict()` / `model.load_state_dict(d)` use PyTorch's key names, and
`save_safetensors` / `load_safetensors` move weights to and from PyTorch.

`jax.nn`'s functional names work too: `ft.nn.hard_tanh`, `ft.nn.swish`, `ft.nn.standardize`,
`ft.nn.dot_product_attention` ((B, T, N, H) layout), ... with JAX's semantics where they differ
from PyTorch's spelling (`hardtanh`), and `ft.nn.initializers` is `jax.nn.initializers`.
"""
from .module import Module, field, Buffer, stateful
from .filtering import partition, combine, is_array, is_inexact_array
from . import functional, init, initializers
from .functional import *   # noqa: F401,F403  (ft.nn.relu, ft.nn.cross_entropy, ... as in F)
from .jax_functions import *   # noqa: F401,F403  (jax.nn's names: hard_tanh, swish, ...)
from .activations import (ReLU, Tanh, Sigmoid, GELU, Softmax, LogSoftmax, LeakyReLU, ELU, SELU,
                          CELU, SiLU, Mish, Softplus, Softsign, Hardtanh, ReLU6, Hardsigmoid,
                          Hardswish, PReLU, Softmin, LogSigmoid, Tanhshrink, Hardshrink,
                          Softshrink, Threshold, GLU, Softmax2d, RReLU)
from .layers import (Identity, Linear, Flatten, Unflatten, Dropout, Embedding, EmbeddingBag,
                     Dropout1d, Dropout2d, Dropout3d, AlphaDropout, FeatureAlphaDropout, Bilinear)
from .distance import CosineSimilarity, PairwiseDistance
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .lazy import (init_lazy, LazyLinear, LazyConv1d, LazyConv2d, LazyConv3d,
                   LazyConvTranspose1d, LazyConvTranspose2d, LazyConvTranspose3d,
                   LazyBatchNorm1d, LazyBatchNorm2d, LazyBatchNorm3d, LazyInstanceNorm1d,
                   LazyInstanceNorm2d, LazyInstanceNorm3d)
from .pooling import (MaxPool1d, MaxPool2d, MaxPool3d, MaxUnpool1d, MaxUnpool2d, MaxUnpool3d,
                      AvgPool1d, AvgPool2d, AvgPool3d, AdaptiveAvgPool1d, AdaptiveAvgPool2d,
                      AdaptiveAvgPool3d, AdaptiveMaxPool1d, AdaptiveMaxPool2d,
                      AdaptiveMaxPool3d, Upsample)
from .reshaping import (ZeroPad1d, ZeroPad2d, ZeroPad3d, ConstantPad1d, ConstantPad2d,
                        ConstantPad3d, ReflectionPad1d, ReflectionPad2d, ReflectionPad3d,
                        ReplicationPad1d, ReplicationPad2d, ReplicationPad3d, CircularPad1d,
                        CircularPad2d, CircularPad3d, PixelShuffle, PixelUnshuffle,
                        ChannelShuffle, UpsamplingNearest2d, UpsamplingBilinear2d, Fold, Unfold)
from .normalization import (LayerNorm, RMSNorm, BatchNorm1d, BatchNorm2d, BatchNorm3d,
                            SyncBatchNorm, GroupNorm, InstanceNorm1d, InstanceNorm2d,
                            InstanceNorm3d, LocalResponseNorm)
from .losses import (MSELoss, L1Loss, CrossEntropyLoss, NLLLoss, NLLLoss2d, BCELoss,
                     BCEWithLogitsLoss, HuberLoss, SmoothL1Loss, KLDivLoss, CosineEmbeddingLoss,
                     MarginRankingLoss, TripletMarginLoss, PoissonNLLLoss, GaussianNLLLoss,
                     HingeEmbeddingLoss, SoftMarginLoss, MultiLabelSoftMarginLoss,
                     MultiMarginLoss, MultiLabelMarginLoss)
from .more_losses import CTCLoss, TripletMarginWithDistanceLoss, LinearCrossEntropyLoss
from .adaptive import AdaptiveLogSoftmaxWithLoss
from .more_pooling import (LPPool1d, LPPool2d, LPPool3d, FractionalMaxPool2d,
                           FractionalMaxPool3d)
from .recurrent import RNNBase, RNN, LSTM, GRU, RNNCellBase, RNNCell, LSTMCell, GRUCell
from .attention import (MultiheadAttention, TransformerEncoderLayer, TransformerDecoderLayer,
                        TransformerEncoder, TransformerDecoder, Transformer)
from .containers import (Sequential, Lambda, ModuleList, ModuleDict, ParameterList,
                         ParameterDict, Parameter)
from .state_dict import save_safetensors, load_safetensors
from . import utils

# the functions here place the NumPy data and constants they make with their operands'
# device, as functrans.numpy's (functrans.core.on_operand_device)
from ..core import place_functions as _place_functions  # noqa: E402
_place_functions(globals())
