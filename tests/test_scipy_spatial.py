"""Item 4 of the JAX-names work: `functrans.custom_derivatives` as JAX's module and
`functrans.distributed.shutdown`. (`functrans.scipy.spatial.transform`:
tests/test_scipy_spatial_transform.py.)"""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp

try:
    import jax
    import jax.numpy as jnp
except ImportError:           # pragma: no cover
    jax = jnp = None


def test_custom_derivatives_module():
    import functrans.custom_derivatives as cd
    assert ft.custom_derivatives is cd
    for name in ("custom_jvp", "custom_vjp", "custom_gradient", "closure_convert",
                 "SymbolicZero", "CustomVJPPrimal", "zero_from_primal", "custom_jvp_call_p",
                 "custom_vjp_call_p"):
        assert hasattr(cd, name), name

    @cd.custom_jvp
    def f(x):
        return fnp.sin(x)
    f.defjvp(lambda p, t: (fnp.sin(p[0]), 2.0 * t[0]))
    assert float(ft.grad(f)(1.0)) == 2.0


def test_zero_from_primal():
    from functrans.custom_derivatives import zero_from_primal, SymbolicZero
    tree = (fnp.ones(2), 3, fnp.arange(2))
    z = zero_from_primal(tree)
    np.testing.assert_array_equal(z[0], np.zeros(2, np.float32))
    assert z[0].dtype == np.float32
    assert z[1].dtype == ft.dtypes.float0 and z[2].shape == (2,)
    assert z[2].dtype == ft.dtypes.float0
    s = zero_from_primal(fnp.ones(2), symbolic_zeros=True)
    assert isinstance(s, SymbolicZero) and s.shape == (2,)
    if jax is not None:
        j = jax.custom_derivatives.zero_from_primal((jnp.ones(2), 3, jnp.arange(2)))
        assert [np.shape(v) for v in j] == [np.shape(v) for v in z]
        assert str(j[0].dtype) == str(z[0].dtype)


def test_shutdown_without_initialize_is_a_no_op():
    assert not ft.distributed.is_initialized()
    assert ft.distributed.shutdown() is None
    assert ft.process_count() == 1


MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep +
                       os.environ.get("PATH", ""))

SCRIPT = """
import sys
import functrans as ft
hook = sys.excepthook
ft.distributed.initialize()
assert ft.process_count() == 2 and sys.excepthook is not hook
ft.distributed.shutdown()
assert ft.process_count() == 1 and ft.process_index() == 0 and sys.excepthook is hook
assert not ft.distributed.is_initialized()
ft.distributed.initialize()
assert ft.process_count() == 2
ft.distributed.shutdown()
print("ok")
"""


@pytest.mark.skipif(MPIEXEC is None, reason="mpiexec not found")
def test_shutdown_leaves_the_mpi_world(tmp_path):
    pytest.importorskip("mpi4py")
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    out = subprocess.run([MPIEXEC, "-n", "2", sys.executable, str(script)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("ok") == 2
