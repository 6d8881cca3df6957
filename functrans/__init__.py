"""functrans: composable function transformations (grad, jit, vmap, …) over immutable
NumPy/CuPy arrays, with a PyTorch-familiar neural-network toolkit on top.

    import functrans as ft
    import functrans.numpy as fnp

    loss_grad = ft.jit(ft.grad(loss))
"""
from . import version
from .version import __version__, __version_info__

from .config import config
from . import dtypes
from .array import Array
from .backends import (devices, default_device, Device, local_devices, device_count,
                       local_device_count, process_index, process_count)
from . import backends
from . import tree_util, tree
from . import numpy
from . import lax
from .api import (grad, value_and_grad, vjp, jvp, linearize, jacfwd, jacrev, jacobian, hessian,
                  vmap, make_jaxpr, eval_shape, ShapeDtypeStruct)
from .jit import jit, disable_jit, clear_caches
from . import ref
from .ref import Ref, new_ref, empty_ref, free_ref, freeze
from .extra_transforms import (custom_gradient, linear_transpose, closure_convert, fwd_and_bwd,
                               ensure_compile_time_eval)
from .pmap import pmap
from . import custom_derivatives
from . import custom_batching
from .higher_order.custom_derivatives import custom_vjp, custom_jvp
from .higher_order.remat import checkpoint, remat, checkpoint_name, checkpoint_policies
from .higher_order.named_call import named_call
from .lax import stop_gradient
from .core import ConcretizationError, UnexpectedTracerError
from .errors import ArgumentError
from .tree_util import tree_map, tree_leaves, tree_flatten, tree_unflatten, tree_structure
from . import test_util
from . import debug, monitoring
from . import random, nn, optim, data, distributed, scipy, flatten_util
from .callbacks import pure_callback
from . import ad_checkpoint, experimental, typing, image, ops
from .numpy._dslice import ds
from .serialization import save, load, CheckpointError
from ._display import tree_summary, tree_pformat
from . import sharding, dlpack, extend, profiler, stages, export
from .sharding import (NamedSharding, P, make_mesh, set_mesh, shard_map, reshard, Shard,
                       make_array_from_callback,
                       make_array_from_single_device_arrays, make_array_from_process_local_data)
from .toplevel import (named_scope, default_matmul_precision, debug_nans, debug_infs,
                       enable_x64, numpy_rank_promotion, numpy_dtype_promotion, log_compiles,
                       explain_cache_misses, no_tracing, transfer_guard,
                       transfer_guard_host_to_device, transfer_guard_device_to_device,
                       transfer_guard_device_to_host, enable_checks, check_tracer_leaks,
                       checking_leaks, live_arrays, copy_to_host_async, typeof, effects_barrier,
                       host_count, host_id, host_ids, process_indices, print_environment_info)


def device_put(x, device=None, *, src=None, donate=False, may_alias=None):
    """The arrays of pytree `x` on `device` ("cpu", "cuda", "cuda:1", a Device, a one-device
    sharding; None: the default device), copied where they live elsewhere. With a device
    given, the results are committed to it (`x.committed`). NumPy arrays and
    Python scalars become Arrays there. Differentiable: the cotangent moves back to where the
    value came from. JAX's `src`, `donate` and `may_alias` are accepted: with immutable
    arrays, whether the result shares the input's memory cannot be observed."""
    from .primitives.transfer import device_put as put
    from .numpy._conversion import asarray
    from .array import committed
    dev = sharding.placement_device(device)
    mark = committed if device is not None else (lambda leaf: leaf)   # (JAX's x.committed)
    with backends.transfer_guard.explicit():
        return tree_map(lambda leaf: mark(put(asarray(leaf, device=dev), dev)), x)


float0 = dtypes.float0


def device_get(x):
    """The arrays of pytree `x` as NumPy arrays on the host (other leaves unchanged)."""
    import numpy as _np
    with backends.transfer_guard.explicit():
        return tree_map(lambda leaf: _np.asarray(leaf) if isinstance(leaf, Array) else leaf, x)


def default_backend():
    """The platform new arrays go to ("cpu" or "cuda")."""
    from .backends import default_device_now
    return default_device_now().platform


def block_until_ready(x):
    for leaf in tree_leaves(x):
        if isinstance(leaf, Array):
            leaf.block_until_ready()
    return x
