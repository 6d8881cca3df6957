"""Global settings: `ft.config.update(name, value)`; each also reads an environment variable."""
from __future__ import annotations

import os


def _flag(s):
    return s.lower() in ("1", "true", "yes")


def _auto_or(parse):
    """A parser of "auto" or else what `parse` reads."""
    return lambda s: "auto" if str(s).strip().lower() == "auto" else parse(s)


_SETTINGS = {
    # name: (environment variable, default, parser)
    "default_float_dtype": ("FUNCTRANS_DEFAULT_FLOAT", "float32", str),
    "default_device": ("FUNCTRANS_DEVICE", "cpu", str),
    "log_retraces": ("FUNCTRANS_LOG_RETRACES", False, _flag),
    "jit_cache_size": ("FUNCTRANS_JIT_CACHE_SIZE", 256, int),
    # raise FloatingPointError where a NaN (an infinity) is produced: see functrans.debug
    "debug_nans": ("FUNCTRANS_DEBUG_NANS", False, _flag),
    "debug_infs": ("FUNCTRANS_DEBUG_INFS", False, _flag),
    # compiled functions keep their temporaries' memory for the next call
    "jit_buffer_cache": ("FUNCTRANS_JIT_BUFFER_CACHE", True, _flag),
    # threads a compiled program on the host may split its large kernels over: "auto" (the
    # cores, capped by OMP/OPENBLAS/MKL_NUM_THREADS and the BLAS's limit) or a count (1: off)
    "cpu_threads": ("FUNCTRANS_CPU_THREADS", "auto", _auto_or(int)),
    # compiled numba loops on the host (when installed): "auto" compiles a fixed set of
    # kernels (the float32 special functions, pooling's and scatter-add's loops, outer
    # products, convolution's shifted sums); True also fuses each program's float chains
    # into loops of their own; False compiles nothing (see functrans.backends.numba_jit)
    "jit_numba": ("FUNCTRANS_JIT_NUMBA", "auto", _auto_or(_flag)),
    # from the first compiled program on the host, glibc's malloc keeps freed memory for
    # reuse instead of returning it to the system (see functrans.compiler.executable)
    "cpu_malloc_keep": ("FUNCTRANS_CPU_MALLOC_KEEP", True, _flag),
    # binary functrans.numpy operations on arrays of different ranks (a scalar aside):
    # "allow" broadcasts, "warn" warns and broadcasts, "raise" refuses (as in JAX)
    "numpy_rank_promotion": ("FUNCTRANS_NUMPY_RANK_PROMOTION", "allow", str),
    # "strict": operands of different dtypes (and Python scalars of a higher kind) raise
    # dtypes.TypePromotionError instead of promoting (as in JAX)
    "numpy_dtype_promotion": ("FUNCTRANS_NUMPY_DTYPE_PROMOTION", "standard", str),
    # log every compilation of a jaxpr (function name, argument types, time) at WARNING
    "log_compiles": ("FUNCTRANS_LOG_COMPILES", False, _flag),
    # type-check each traced jaxpr (see functrans.interpreters.checks): slower
    "enable_checks": ("FUNCTRANS_ENABLE_CHECKS", False, _flag),
    # after each trace to a jaxpr, raise if a tracer of it is still alive (leaked)
    "check_tracer_leaks": ("FUNCTRANS_CHECK_TRACER_LEAKS", False, _flag),
    # a jitted function that would trace (a cache miss) raises RuntimeError instead
    "no_tracing": ("FUNCTRANS_NO_TRACING", False, _flag),
    # transfers between the host and a device (see functrans.backends.transfer_guard)
    "transfer_guard_host_to_device": ("FUNCTRANS_TRANSFER_GUARD_HOST_TO_DEVICE", "allow", str),
    "transfer_guard_device_to_device": ("FUNCTRANS_TRANSFER_GUARD_DEVICE_TO_DEVICE", "allow",
                                        str),
    "transfer_guard_device_to_host": ("FUNCTRANS_TRANSFER_GUARD_DEVICE_TO_HOST", "allow", str),
    # CPU devices in this process (None: XLA_FLAGS' --xla_force_host_platform_device_count,
    # else 1); read once, when the first array is made or the devices are first listed
    "num_cpu_devices": ("FUNCTRANS_NUM_CPU_DEVICES", None, int),
}

# the settings that change what tracing a function produces (part of jit's cache key)
TRACE_CONTEXT = ("default_float_dtype", "numpy_rank_promotion", "numpy_dtype_promotion")
TRANSFER_GUARD_LEVELS = ("allow", "log", "disallow", "log_explicit", "disallow_explicit")
TRANSFER_GUARDS = ("transfer_guard_host_to_device", "transfer_guard_device_to_device",
                   "transfer_guard_device_to_host")
_CHOICES = {"numpy_rank_promotion": ("allow", "warn", "raise"),
            "numpy_dtype_promotion": ("standard", "strict"),
            **dict.fromkeys(TRANSFER_GUARDS, TRANSFER_GUARD_LEVELS)}

# JAX's names for settings functrans has: name -> (setting, value to it, value from it)
_JAX_NAMES = {
    "jax_enable_x64": ("default_float_dtype", lambda on: "float64" if on else "float32",
                       lambda dtype: dtype == "float64"),
    "jax_debug_nans": ("debug_nans", bool, bool),
    "jax_debug_infs": ("debug_infs", bool, bool),
    "jax_platform_name": ("default_device", str, str),
    "jax_explain_cache_misses": ("log_retraces", bool, bool),
    "jax_numpy_rank_promotion": ("numpy_rank_promotion", str, str),
    "jax_numpy_dtype_promotion": ("numpy_dtype_promotion", str, str),
    "jax_log_compiles": ("log_compiles", bool, bool),
    "jax_enable_checks": ("enable_checks", bool, bool),
    "jax_check_tracer_leaks": ("check_tracer_leaks", bool, bool),
    "jax_no_tracing": ("no_tracing", bool, bool),
    "jax_transfer_guard_host_to_device": ("transfer_guard_host_to_device", str, str),
    "jax_transfer_guard_device_to_device": ("transfer_guard_device_to_device", str, str),
    "jax_transfer_guard_device_to_host": ("transfer_guard_device_to_host", str, str),
    "jax_num_cpu_devices": ("num_cpu_devices", lambda n: None if n is None or n < 0 else n,
                            lambda n: -1 if n is None else n),
}


class Config:
    """Read settings as attributes (`ft.config.default_float_dtype`), change with `update`.
    JAX's names of the same settings work too: `update("jax_enable_x64", True)` makes
    float64 the default float dtype."""

    def __init__(self):
        self._values = {}
        self._listeners = []
        self._locked = {}
        for name, (env, default, parse) in _SETTINGS.items():
            raw = os.environ.get(env)
            self._values[name] = parse(raw) if raw is not None else default
        self._check("default_float_dtype", self._values["default_float_dtype"])
        for name in ("cpu_threads", "num_cpu_devices", *_CHOICES):
            self._check(name, self._values[name])
        self._context = tuple(self._values[name] for name in TRACE_CONTEXT)
        self.__dict__.update(self._values)      # reading a setting is an attribute lookup

    def __getattr__(self, name):
        if name in _JAX_NAMES:
            setting, _, read = _JAX_NAMES[name]
            return read(self._values[setting])
        raise AttributeError(f"functrans.config has no setting {name!r}; "
                             f"known settings: {sorted(_SETTINGS)}")

    def update(self, name, value):
        if name in ("transfer_guard", "jax_transfer_guard"):     # all three directions
            for guard in TRANSFER_GUARDS:
                self.update(guard, value)
            return
        if name in _JAX_NAMES:
            name, value = _JAX_NAMES[name][0], _JAX_NAMES[name][1](value)
        if name not in _SETTINGS:
            raise AttributeError(f"functrans.config has no setting {name!r}; "
                                 f"known settings: {sorted(_SETTINGS)}")
        self._check(name, value)
        if name in self._locked and value != self._values[name]:
            raise RuntimeError(f"{name} can no longer be changed: {self._locked[name]}")
        self._values[name] = self.__dict__[name] = value
        self._context = tuple(self._values[name] for name in TRACE_CONTEXT)
        for listener in self._listeners:
            listener(name, value)

    def trace_context(self):
        """The values of the TRACE_CONTEXT settings: a function traced under other values may
        trace to another jaxpr."""
        return self._context

    def _check(self, name, value):
        if name in _CHOICES and value not in _CHOICES[name]:
            raise ValueError(f"{name} must be one of {', '.join(map(repr, _CHOICES[name]))}, "
                             f"got {value!r}")
        if name == "cpu_threads" and value != "auto" and \
                (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"cpu_threads must be 'auto' or a thread count >= 1 (1 turns "
                             f"splitting kernels over threads off), got {value!r}")
        if name == "jit_numba" and value not in (True, False, "auto"):
            raise ValueError(f"jit_numba must be True, False or 'auto', got {value!r}")
        if name == "num_cpu_devices" and value is not None and \
                (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"num_cpu_devices must be a count >= 1 (or None), got {value!r}")
        if name == "default_float_dtype" and str(value) not in ("float32", "float64", "float16"):
            raise ValueError(f"default_float_dtype must be 'float32', 'float64' or 'float16', "
                             f"got {value!r}")

    def lock(self, name, why):
        """Refuse later changes of setting `name` (it has been read for good), saying `why`."""
        self._locked[name] = why

    def on_update(self, listener):
        self._listeners.append(listener)

    def __repr__(self):
        return "Config(" + ", ".join(f"{k}={v!r}" for k, v in self._values.items()) + ")"


config = Config()
