"""`ft.nn.utils`: helpers around the layers, as in `torch.nn.utils`: gradient clipping and flat
parameter vectors (returning new trees; see `clip`), and `rnn`, which batches variable-length
sequences for the recurrent layers (packed sequences). Weight and spectral normalization,
`parametrize`, BatchNorm fusion, `stateless.functional_call` and `skip_init` return new modules.
"""
from . import rnn, parametrize, parametrizations, stateless, fusion, clip_grad, convert_parameters
from .weight_norm import weight_norm, remove_weight_norm
from .spectral_norm import spectral_norm, remove_spectral_norm
from .fusion import (fuse_conv_bn_eval, fuse_conv_bn_weights, fuse_linear_bn_eval,
                     fuse_linear_bn_weights)
from .init import skip_init
from .clip import (clip_grad_norm, clip_grad_value, clip_grads_with_norm, get_total_norm,
                   parameters_to_vector, vector_to_parameters, clip_grad_norm_,
                   clip_grad_value_, clip_grads_with_norm_)

__all__ = ["rnn", "clip_grad_norm", "clip_grad_value", "clip_grads_with_norm", "get_total_norm",
           "parameters_to_vector", "vector_to_parameters", "clip_grad_norm_",
           "clip_grad_value_", "clip_grads_with_norm_", "parametrize", "parametrizations",
           "stateless", "fusion", "clip_grad", "convert_parameters", "weight_norm",
           "remove_weight_norm", "spectral_norm", "remove_spectral_norm", "fuse_conv_bn_eval",
           "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights", "skip_init"]
