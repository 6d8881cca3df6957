"""`ft.nn.functional` (PyTorch's `F`): the functional forms of the layers, activations and
losses, with PyTorch's names and argument order (NCHW images, OIHW kernels). Each is defined
beside its layer (`activations`, `layers`, `conv`, `pooling`, `reshaping`, `normalization`,
`losses`, `attention`); this module only gathers them."""
from .activations import (relu, gelu, sigmoid, tanh, softmax, log_softmax, leaky_relu, elu,
                          selu, celu, silu, mish, softplus, softsign, hardtanh, relu6,
                          hardsigmoid, hardswish, prelu, softmin, logsigmoid)
from .layers import one_hot, linear, dropout, embedding, embedding_bag
from .conv import conv1d, conv2d, conv_transpose1d, conv_transpose2d, conv_output_padding
from .pooling import (max_pool2d, avg_pool2d, adaptive_avg_pool1d, adaptive_avg_pool2d,
                      adaptive_max_pool1d, adaptive_max_pool2d, interpolate)
from .reshaping import (pad, pixel_shuffle, pixel_unshuffle, channel_shuffle,
                        native_channel_shuffle, upsample, upsample_nearest, upsample_bilinear,
                        fold, unfold)
from .normalization import layer_norm, batch_norm, group_norm, instance_norm
from .losses import (mse_loss, l1_loss, cross_entropy, nll_loss, binary_cross_entropy,
                     binary_cross_entropy_with_logits, huber_loss, smooth_l1_loss, kl_div,
                     cosine_embedding_loss, margin_ranking_loss, triplet_margin_loss,
                     pairwise_distance)
from .attention import scaled_dot_product_attention

__all__ = ["relu", "gelu", "sigmoid", "tanh", "softmax", "log_softmax", "leaky_relu", "elu",
           "selu", "celu", "silu", "mish", "softplus", "softsign", "hardtanh", "relu6",
           "hardsigmoid", "hardswish", "prelu", "softmin", "logsigmoid", "one_hot", "linear",
           "dropout", "embedding", "embedding_bag", "conv1d", "conv2d", "conv_transpose1d",
           "conv_transpose2d", "conv_output_padding", "max_pool2d", "avg_pool2d",
           "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d",
           "adaptive_max_pool2d", "interpolate", "pad", "pixel_shuffle", "pixel_unshuffle",
           "channel_shuffle", "native_channel_shuffle", "upsample", "upsample_nearest",
           "upsample_bilinear", "fold", "unfold", "layer_norm", "batch_norm", "group_norm",
           "instance_norm", "mse_loss", "l1_loss", "cross_entropy", "nll_loss",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "huber_loss",
           "smooth_l1_loss", "kl_div", "cosine_embedding_loss", "margin_ranking_loss",
           "triplet_margin_loss", "pairwise_distance", "scaled_dot_product_attention"]
