"""JAX's smaller top-level names (functrans/toplevel.py): scopes and settings as context
managers, typeof, the multi-host aliases and print_environment_info."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp


def test_named_scope_and_matmul_precision_run_their_blocks():
    with ft.named_scope("encoder"), ft.default_matmul_precision("highest"):
        out = ft.jit(ft.grad(lambda x: fnp.sum(fnp.tanh(x @ x))))(fnp.eye(3))
    assert out.shape == (3, 3)
    with pytest.raises(TypeError, match="must be a string"):
        with ft.named_scope(3):
            pass
    with pytest.raises(ValueError, match="unknown precision"):
        with ft.default_matmul_precision("sloppy"):
            pass


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_debug_nans_is_a_context_manager_that_restores_the_setting():
    before = ft.config.debug_nans
    with ft.debug_nans(True):
        assert ft.config.debug_nans
        with pytest.raises(Exception, match="NaN"):
            fnp.log(fnp.asarray(-1.0))
    assert ft.config.debug_nans == before
    assert np.isnan(float(fnp.log(fnp.asarray(-1.0))))
    with ft.debug_infs(True):
        assert ft.config.debug_infs
    assert not ft.config.debug_infs


def test_typeof_hosts_and_environment_info():
    assert ft.typeof(fnp.ones((2, 3))).shape == (2, 3)
    assert ft.typeof(1.0).weak_type
    assert ft.host_count() == ft.process_count() and ft.host_id() == ft.process_index()
    assert ft.host_ids() == ft.process_indices() == list(range(ft.process_count()))
    assert ft.effects_barrier() is None
    text = ft.print_environment_info(return_string=True)
    assert f"numpy:     {np.__version__}" in text and "devices:" in text


def test_enable_x64_switches_the_default_float_dtype_in_a_block(jax_x64):
    before = ft.config.default_float_dtype
    zeros = ft.jit(lambda x: x + fnp.zeros(3))
    assert zeros(1.0).dtype == np.float32
    with ft.enable_x64():
        assert fnp.zeros(2).dtype == fnp.asarray(1.0).dtype == np.float64
        assert ft.random.normal(ft.random.key(0), (2,)).dtype == np.float64
        with ft.enable_x64(False):
            assert fnp.ones(2).dtype == np.float32
            with jax_x64.enable_x64(False):
                assert jax_x64.numpy.ones(2).dtype == np.float32     # as JAX's
        assert zeros(1.0).dtype == np.float64          # traced again, not the cached one
    assert ft.config.default_float_dtype == before and zeros(1.0).dtype == np.float32
    with pytest.raises(TypeError, match="new_val must be True or False"):
        ft.enable_x64("yes")


def test_config_takes_jax_names_of_its_settings():
    before = ft.config.default_float_dtype
    try:
        ft.config.update("jax_enable_x64", True)
        assert ft.config.jax_enable_x64 and ft.config.default_float_dtype == "float64"
        assert fnp.ones(2).dtype == np.float64 and fnp.asarray(1.5).dtype == np.float64
        ft.config.update("jax_enable_x64", False)
        assert not ft.config.jax_enable_x64 and fnp.ones(2).dtype == np.float32
        ft.config.update("jax_debug_nans", True)
        assert ft.config.debug_nans and ft.config.jax_debug_nans
        ft.config.update("jax_platform_name", "cpu")
        assert ft.config.default_device == "cpu"
    finally:
        ft.config.update("default_float_dtype", before)
        ft.config.update("debug_nans", False)
    with pytest.raises(AttributeError, match="no setting 'jax_unknown'"):
        ft.config.update("jax_unknown", 1)


def test_typing_names_for_annotations():
    import typing
    from functrans.typing import ArrayLike, DTypeLike
    kinds = typing.get_args(ArrayLike)
    assert all(isinstance(v, kinds) for v in (fnp.ones(2), np.ones(2), np.float32(1), 2, 2.5))
    assert not isinstance("x", kinds)
    assert np.dtype in typing.get_args(DTypeLike) and str in typing.get_args(DTypeLike)
