import os

# Two test workers share the machine's cores: one BLAS thread each avoids oversubscription,
# which otherwise slows matmul-heavy tests several-fold.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile("ci", max_examples=25, deadline=None)
settings.register_profile("thorough", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

try:        # numpy may have been imported (and BLAS started) before this file ran
    from threadpoolctl import threadpool_limits
    threadpool_limits(1)
except ImportError:
    pass


def pytest_addoption(parser):
    parser.addoption(
        "--device", default=None,
        help="run the suite with this default device ('cpu', 'cuda', 'cuda:1', or 'fakegpu' "
             "for the NumPy-backed stand-in of tests/fakegpu.py); default: the "
             "FUNCTRANS_DEVICE environment variable, else cpu")


def pytest_configure(config):
    import functrans as ft
    device = config.getoption("--device") or os.environ.get("FUNCTRANS_DEVICE")
    if not device:
        return
    if device.startswith("fakegpu"):
        import fakegpu
        fakegpu.register()
    try:
        ft.config.update("default_device", str(ft.backends.get_device(device)))
    except (RuntimeError, ValueError) as e:
        pytest.exit(f"--device {device}: {e}", returncode=pytest.ExitCode.USAGE_ERROR)


def pytest_report_header(config):
    import functrans as ft
    return f"functrans default device: {ft.backends.default_device_now()}; " \
           f"devices: {ft.devices()}"


def pytest_collection_modifyitems(config, items):
    import functrans as ft
    if ft.devices("cuda"):
        return
    why = ft.backends.get_backend("cuda").unavailable_reason()
    reason = f"needs CuPy and an NVIDIA GPU ({why})"
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def fake_gpus():
    """The stand-in GPU of tests/fakegpu.py registered, cpu the default device: its two
    devices."""
    import fakegpu
    import functrans as ft
    backend = fakegpu.register()
    before = ft.config.default_device
    ft.config.update("default_device", "cpu")
    try:
        yield backend.devices()
    finally:
        ft.config.update("default_device", before)


@pytest.fixture(autouse=True)
def _jax_x64_restored():
    """JAX's x64 flag as it was before each test: one left on changes what later tests in
    the same worker compare against (float64 draws where float32 ones are expected)."""
    import sys
    jax = sys.modules.get("jax")
    before = jax.config.jax_enable_x64 if jax is not None else None
    yield
    jax = sys.modules.get("jax")
    if jax is not None and jax.config.jax_enable_x64 != bool(before):
        jax.config.update("jax_enable_x64", bool(before))


@pytest.fixture
def jax_x64():
    """JAX with 64-bit types on for one test (restored afterwards)."""
    jax = pytest.importorskip("jax")
    prev = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield jax
    jax.config.update("jax_enable_x64", prev)


@pytest.fixture
def optax64(jax_x64):
    """Optax with JAX in float64 (restored afterwards); skipped without Optax."""
    return pytest.importorskip("optax")


@pytest.fixture
def optax64_f64(optax64):
    """`optax64`, and functrans's default float float64 for the test (restored)."""
    import functrans as ft
    old = ft.config.default_float_dtype
    ft.config.update("default_float_dtype", "float64")
    yield optax64
    ft.config.update("default_float_dtype", old)
