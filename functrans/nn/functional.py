"""`ft.nn.functional` (PyTorch's `F`): the functional forms of the layers, activations and
losses, with PyTorch's names and argument order (NCHW images, OIHW kernels). Each is defined
beside its layer (`activations`, `layers`, `distance`, `conv`, `pooling`, `more_pooling`,
`reshaping`, `normalization`, `losses`, `more_losses`, `attention`, `sampling`); this module
only gathers them. PyTorch's in-place names (`relu_`, `elu_`, ...) raise and name the
out-of-place call."""
from .activations import (relu, gelu, sigmoid, tanh, softmax, log_softmax, leaky_relu, elu,
                          selu, celu, silu, mish, softplus, softsign, hardtanh, relu6,
                          hardsigmoid, hardswish, prelu, softmin, logsigmoid, tanhshrink,
                          hardshrink, softshrink, threshold, glu, rrelu, gumbel_softmax, relu_,
                          elu_, leaky_relu_, hardtanh_, selu_, celu_, rrelu_, threshold_)
from .layers import (one_hot, linear, grouped_mm, dropout, embedding, embedding_bag, dropout1d,
                     dropout2d, dropout3d, alpha_dropout, feature_alpha_dropout, bilinear)
from .distance import cosine_similarity, normalize, pdist
from .conv import (conv1d, conv2d, conv3d, conv_tbc, conv_transpose1d, conv_transpose2d,
                   conv_transpose3d, conv_output_padding)
from .pooling import (max_pool1d, max_pool2d, max_pool3d, max_unpool1d, max_unpool2d,
                      max_unpool3d, avg_pool1d, avg_pool2d, avg_pool3d, adaptive_avg_pool1d,
                      adaptive_avg_pool2d, adaptive_avg_pool3d, adaptive_max_pool1d,
                      adaptive_max_pool2d, adaptive_max_pool3d, interpolate)
from .reshaping import (pad, pixel_shuffle, pixel_unshuffle, channel_shuffle,
                        native_channel_shuffle, upsample, upsample_nearest, upsample_bilinear,
                        fold, unfold)
from .normalization import (layer_norm, rms_norm, batch_norm, group_norm, instance_norm,
                            local_response_norm)
from .losses import (mse_loss, l1_loss, cross_entropy, nll_loss, binary_cross_entropy,
                     binary_cross_entropy_with_logits, huber_loss, smooth_l1_loss, kl_div,
                     cosine_embedding_loss, margin_ranking_loss, triplet_margin_loss,
                     pairwise_distance, poisson_nll_loss, gaussian_nll_loss,
                     hinge_embedding_loss, soft_margin_loss, multilabel_soft_margin_loss,
                     multi_margin_loss, multilabel_margin_loss)
from .more_losses import ctc_loss, triplet_margin_with_distance_loss, linear_cross_entropy
from .attention import scaled_dot_product_attention, multi_head_attention_forward
from .sampling import affine_grid, grid_sample
from .more_pooling import (lp_pool1d, lp_pool2d, lp_pool3d, max_pool1d_with_indices,
                           max_pool2d_with_indices, max_pool3d_with_indices,
                           adaptive_max_pool1d_with_indices, adaptive_max_pool2d_with_indices,
                           adaptive_max_pool3d_with_indices, fractional_max_pool2d,
                           fractional_max_pool2d_with_indices, fractional_max_pool3d,
                           fractional_max_pool3d_with_indices)

__all__ = ["relu", "gelu", "sigmoid", "tanh", "softmax", "log_softmax", "leaky_relu", "elu",
           "selu", "celu", "silu", "mish", "softplus", "softsign", "hardtanh", "relu6",
           "hardsigmoid", "hardswish", "prelu", "softmin", "logsigmoid", "tanhshrink",
           "hardshrink", "softshrink", "threshold", "glu", "rrelu", "one_hot", "linear", "dropout",
           "embedding", "embedding_bag", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
           "feature_alpha_dropout", "bilinear", "cosine_similarity", "conv1d", "conv2d",
           "conv_transpose1d", "conv_transpose2d", "conv_output_padding", "max_pool2d",
           "avg_pool2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_max_pool1d",
           "adaptive_max_pool2d", "interpolate", "layer_norm", "batch_norm", "group_norm",
           "instance_norm", "mse_loss", "l1_loss", "cross_entropy", "nll_loss", "conv3d",
           "conv_transpose3d", "max_pool1d", "max_pool3d", "max_unpool1d", "max_unpool2d",
           "max_unpool3d", "avg_pool1d", "avg_pool3d", "adaptive_avg_pool3d",
           "adaptive_max_pool3d", "rms_norm", "local_response_norm", "pad", "pixel_shuffle",
           "pixel_unshuffle", "channel_shuffle", "native_channel_shuffle", "upsample",
           "upsample_nearest", "upsample_bilinear", "fold", "unfold",
           "binary_cross_entropy", "binary_cross_entropy_with_logits", "huber_loss",
           "smooth_l1_loss", "kl_div", "cosine_embedding_loss", "margin_ranking_loss",
           "triplet_margin_loss", "pairwise_distance", "poisson_nll_loss", "gaussian_nll_loss",
           "hinge_embedding_loss", "soft_margin_loss", "multilabel_soft_margin_loss",
           "multi_margin_loss", "multilabel_margin_loss", "ctc_loss",
           "scaled_dot_product_attention", "gumbel_softmax", "relu_", "elu_", "leaky_relu_",
           "hardtanh_", "selu_", "celu_", "rrelu_", "threshold_", "normalize", "pdist",
           "triplet_margin_with_distance_loss", "affine_grid", "grid_sample", "lp_pool1d", "lp_pool2d", "lp_pool3d",
           "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
           "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
           "adaptive_max_pool3d_with_indices", "fractional_max_pool2d",
           "fractional_max_pool2d_with_indices", "fractional_max_pool3d",
           "fractional_max_pool3d_with_indices", "linear_cross_entropy", "conv_tbc",
           "multi_head_attention_forward", "grouped_mm"]

# every function here places the NumPy data and constants it makes with its operands' device
# (functrans.core.on_operand_device)
from ..core import place_functions as _place_functions  # noqa: E402
_place_functions(globals())
