"""`ft.nn.utils`: helpers around the layers, as in `torch.nn.utils`: gradient clipping and flat
parameter vectors (returning new trees; see `clip`), and `rnn`, which batches variable-length
sequences for the recurrent layers (packed sequences)."""
from . import rnn
from .clip import (clip_grad_norm, clip_grad_value, clip_grads_with_norm, get_total_norm,
                   parameters_to_vector, vector_to_parameters, clip_grad_norm_,
                   clip_grad_value_, clip_grads_with_norm_)

__all__ = ["rnn", "clip_grad_norm", "clip_grad_value", "clip_grads_with_norm", "get_total_norm",
           "parameters_to_vector", "vector_to_parameters", "clip_grad_norm_",
           "clip_grad_value_", "clip_grads_with_norm_"]
