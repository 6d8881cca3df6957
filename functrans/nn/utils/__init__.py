"""`ft.nn.utils`: helpers around the layers, as in `torch.nn.utils`. `rnn` batches
variable-length sequences for the recurrent layers (packed sequences). Gradient clipping
lives in `ft.optim` (`clip_by_global_norm`), not here."""
from . import rnn

__all__ = ["rnn"]
