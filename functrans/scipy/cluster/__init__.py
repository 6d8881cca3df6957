"""`functrans.scipy.cluster`: vector quantization (`cluster.vq.vq`)."""
from . import vq

__all__ = ["vq"]
