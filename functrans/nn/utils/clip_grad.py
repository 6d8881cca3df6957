"""`torch.nn.utils.clip_grad`'s names (the functions live in `clip`)."""
from .clip import (clip_grad_norm, clip_grad_value, clip_grads_with_norm, get_total_norm,
                   clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_)

__all__ = ["clip_grad_norm", "clip_grad_value", "clip_grads_with_norm", "get_total_norm",
           "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_"]
