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
"""
from .module import Module, field, partition, combine, Sequential, Lambda
from .functional import (relu, gelu, sigmoid, tanh, softmax, log_softmax, one_hot, linear,
                         conv2d, max_pool2d, avg_pool2d, dropout, layer_norm, embedding)
from .losses import (mse_loss, l1_loss, cross_entropy, nll_loss,
                     binary_cross_entropy_with_logits, MSELoss, L1Loss, CrossEntropyLoss,
                     NLLLoss, BCEWithLogitsLoss)
from .layers import (Identity, Linear, MaxPool2d, AvgPool2d, ReLU, Tanh, Sigmoid, GELU,
                     Softmax, LogSoftmax, Flatten, Dropout, Embedding, LayerNorm)
from . import init

# -- buffers, normalization, convolutions, pooling, containers, bags, state_dict interop
from .module import Buffer, stateful
from .functional import (batch_norm, group_norm, instance_norm, conv1d, conv_transpose1d,
                         conv_transpose2d, adaptive_avg_pool1d, adaptive_avg_pool2d,
                         adaptive_max_pool1d, adaptive_max_pool2d, interpolate, embedding_bag)
from .normalization import BatchNorm1d, BatchNorm2d, GroupNorm, InstanceNorm2d
from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from .pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d,
                      AdaptiveMaxPool2d, Upsample)
from .containers import ModuleList, ModuleDict
from .layers import EmbeddingBag, Unflatten
from .state_dict import save_safetensors, load_safetensors
from . import functional
# activations, losses, recurrent and attention layers (issue 15, sequence models)
from .activations import (leaky_relu, elu, selu, celu, silu, mish, softplus, softsign,
                          hardtanh, relu6, hardsigmoid, hardswish, prelu, softmin, logsigmoid,
                          LeakyReLU, ELU, SELU, CELU, SiLU, Mish, Softplus, Softsign, Hardtanh,
                          ReLU6, Hardsigmoid, Hardswish, PReLU, Softmin, LogSigmoid)
from .losses import (binary_cross_entropy, huber_loss, smooth_l1_loss, kl_div,
                     cosine_embedding_loss, margin_ranking_loss, triplet_margin_loss,
                     pairwise_distance, BCELoss, HuberLoss, SmoothL1Loss, KLDivLoss,
                     CosineEmbeddingLoss, MarginRankingLoss, TripletMarginLoss)
from .recurrent import RNN, LSTM, GRU, RNNCell, LSTMCell, GRUCell
from .attention import (scaled_dot_product_attention, MultiheadAttention,
                        TransformerEncoderLayer, TransformerDecoderLayer, TransformerEncoder,
                        TransformerDecoder, Transformer)
