"""Transfer guards (JAX's `jax.transfer_guard`): implicit copies between the host and a device
are logged or refused by level, explicit ones (`device_put`, `device_get`) only at the
*_explicit levels; the CPU is never guarded. On the stand-in GPU."""
import logging

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp


@pytest.fixture
def gpu(fake_gpus):
    return fake_gpus[0]


def _implicit_cases(gpu):
    x = ft.device_put(fnp.arange(3.0), gpu)
    f = ft.jit(lambda a, b: a + b)
    return {
        "host_to_device": [lambda: x + np.ones(3, np.float32),        # NumPy joins x's device
                           lambda: f(x, np.ones(3, np.float32)),        # a jitted call
                           lambda: ft.lax.add(x, np.ones(3, np.float32))],
        "device_to_host": [lambda: np.asarray(x), lambda: float(x[0]), lambda: x.tolist(),
                           lambda: str(x), lambda: bool(x[1] > 0), lambda: x[0].item()],
    }


def test_disallow_refuses_implicit_transfers_and_allows_explicit(gpu):
    cases = _implicit_cases(gpu)
    with ft.transfer_guard("disallow"):
        for direction, fns in cases.items():
            for fn in fns:
                with pytest.raises(RuntimeError, match=f"Disallowed implicit "
                                   f"{direction.replace('_', '-')} transfer of (float32|bool)"):
                    fn()
        y = ft.device_put(np.ones(3, np.float32), gpu)               # explicit
        assert ft.device_get(y).tolist() == [1, 1, 1]
        with pytest.raises(RuntimeError, match="implicit host-to-device"):
            fnp.asarray(np.zeros(2, np.float32), device=gpu)            # implicit, as in JAX
        assert ft.device_put(y, "cpu").device == ft.devices("cpu")[0]
        # the CPU is never guarded
        assert np.asarray(fnp.ones(2) + np.ones(2)).tolist() == [2, 2]
    # outside the block everything is allowed again
    for fns in cases.values():
        for fn in fns:
            fn()


def test_disallow_explicit_refuses_device_put_and_get(gpu):
    x = ft.device_put(fnp.ones(2), gpu)
    with ft.transfer_guard("disallow_explicit"):
        with pytest.raises(RuntimeError, match="explicit host-to-device"):
            ft.device_put(np.ones(2, np.float32), gpu)
        with pytest.raises(RuntimeError, match="explicit device-to-host"):
            ft.device_get(x)
        with pytest.raises(RuntimeError, match="explicit device-to-device"):
            ft.device_put(x, ft.devices("fakegpu")[1])


def test_per_direction_guards(gpu):
    x = ft.device_put(fnp.ones(2), gpu)
    with ft.transfer_guard_device_to_host("disallow"):
        x + np.ones(2, np.float32)                      # host-to-device: still allowed
        with pytest.raises(RuntimeError, match="device-to-host"):
            np.asarray(x)
    with ft.transfer_guard_host_to_device("disallow"):
        np.asarray(x)
        with pytest.raises(RuntimeError, match="host-to-device"):
            x + np.ones(2, np.float32)


def test_log_levels(gpu, caplog):
    x = ft.device_put(fnp.ones(2), gpu)
    with caplog.at_level(logging.WARNING, logger="functrans.transfers"):
        with ft.transfer_guard("log"):
            np.asarray(x)
            ft.device_get(x)                            # explicit: silent at "log"
        assert len(caplog.records) == 1
        assert "Implicit device-to-host transfer of float32[2]" in caplog.records[0].message
        with ft.transfer_guard("log_explicit"):
            ft.device_get(x)
        assert len(caplog.records) == 2 and "Explicit" in caplog.records[1].message


def test_global_setting_and_bad_level(gpu):
    x = ft.device_put(fnp.ones(2), gpu)
    ft.config.update("jax_transfer_guard", "disallow")
    try:
        assert ft.config.transfer_guard_device_to_device == "disallow"
        with pytest.raises(RuntimeError, match="Disallowed"):
            np.asarray(x)
        with ft.transfer_guard("allow"):                # a context overrides the setting
            np.asarray(x)
    finally:
        ft.config.update("jax_transfer_guard", "allow")
    np.asarray(x)
    with pytest.raises(ValueError, match="transfer guard level"):
        with ft.transfer_guard("never"):
            pass
    with pytest.raises(ValueError, match="must be one of"):
        ft.config.update("transfer_guard_host_to_device", "never")


def test_cpu_only_is_never_guarded():
    with ft.transfer_guard("disallow_explicit"):
        x = ft.device_put(np.arange(3.0), "cpu")
        assert np.asarray(x + np.ones(3)).tolist() == [1, 2, 3]
        assert ft.device_get(x).tolist() == [0, 1, 2]
        assert ft.jit(lambda a: a * 2)(np.ones(2)).tolist() == [2, 2]

