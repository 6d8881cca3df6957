"""Uncommitted NumPy data across the functrans.numpy / lax / linalg / fft / special API: every
case of the JAX parity table (tests/test_jax_numpy_parity.py) called with its first array
argument on the stand-in GPU (tests/fakegpu.py) and the others as raw NumPy, the default
device being the cpu. The NumPy operands are uncommitted: they must join the GPU operand's
device, eagerly and under ft.jit, and the results must land there. A mixed-device error is
a failure, except for the few cases listed in `EXPECTED_MIXED`, each with its reason.

Where a case raises on the GPU, it must raise the same way with every array on the host
(errors of the case itself, e.g. arguments JAX refuses too). Survey of this table before the
fix (eager / under jit): 185 / 349 mixed-device errors and 43 results left on the cpu; after:
none. Needs JAX only because the table lives in the parity test (skipped without it);
test_devices.py checks the functions that failed without JAX.

    PYTHONPATH=. python tests/test_devices_survey.py     # print every failing case
"""
from __future__ import annotations

import numpy as np
import pytest

import functrans as ft
from functrans.backends import cpu

import fakegpu
import test_jax_numpy_parity as parity

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

MIXED = "live on different devices"

# (mode, case id) -> why it still mixes devices (none left; a new one fails the test)
EXPECTED_MIXED: dict[tuple[str, str], str] = {}


def _place_first(v, device, done):
    """`v` with its first NumPy array (depth first) put on `device`; done[0] says whether
    one was."""
    if done[0]:
        return v
    if isinstance(v, np.ndarray):
        done[0] = True
        return ft.device_put(v, device)
    if isinstance(v, (list, tuple)):
        return type(v)(_place_first(x, device, done) for x in v)
    return v


def _leaves(out):
    if isinstance(out, (list, tuple)):
        return [leaf for x in out for leaf in _leaves(x)]
    return [out]


def survey(device):
    """{(mode, case id): problem} over the parity table, `mode` "eager" or "jit"; a problem
    is the message of an exception, or where a result landed if not on `device`."""
    found = {}
    seen = set()
    for case in parity.CASES:
        if case.id in seen:
            continue
        seen.add(case.id)
        args, kwargs = case.draw()
        done = [False]
        args = _place_first(args, device, done)
        kwargs = {k: _place_first(v, device, done) for k, v in kwargs.items()}
        if not done[0]:
            continue
        f = case.ours()
        jitted, dyn = parity._jitted(f, args, kwargs)
        calls = [("eager", lambda: f(*args, **kwargs))]
        if any(isinstance(leaf, ft.Array) for leaf in _leaves(dyn)):
            # (else the Array is a constant of the program, which by design runs on the
            # default device: there is no argument to place it)
            calls.append(("jit", lambda: jitted(dyn)))
        for mode, call in calls:
            try:
                out = call()
            except Exception as e:  # noqa: BLE001 - what was raised is what is counted
                found[mode, case.id] = f"{type(e).__name__}: {e}"
                continue
            where = {leaf.device for leaf in _leaves(out) if isinstance(leaf, ft.Array)}
            if where - {device}:
                found[mode, case.id] = f"result on {sorted(map(str, where))}"
    return found


def mixed(found):
    return {k: v for k, v in found.items() if MIXED in v}


@pytest.fixture
def gpu(fake_gpus):
    return fake_gpus[0]


def test_numpy_operands_join_the_device_of_the_first_array(gpu):
    found = survey(gpu)
    got = mixed(found)
    unexpected = {k: v for k, v in got.items() if k not in EXPECTED_MIXED}
    assert not unexpected, "\n".join(f"{m} {i}: {v[:200]}" for (m, i), v in
                                     sorted(unexpected.items()))
    misplaced = {k: v for k, v in found.items() if v.startswith("result on")}
    assert not misplaced, misplaced
    # every other failure is the case's own: it fails alike with all of it on the host
    on_host = survey(cpu)
    kind = {k: v.split(":")[0] for k, v in found.items() if k not in EXPECTED_MIXED}
    assert kind == {k: v.split(":")[0] for k, v in on_host.items()}


if __name__ == "__main__":
    import collections
    dev = fakegpu.register().devices()[0]
    ft.config.update("default_device", "cpu")
    found = survey(dev)
    got = mixed(found)
    for (mode, cid), v in sorted(got.items()):
        print(f"{mode:5} {cid}: {v.splitlines()[0][:160]}")
    for (mode, cid), v in sorted(found.items()):
        if v.startswith("result on"):
            print(f"{mode:5} {cid}: {v}")
    print("mixed-device failures:", len(got), dict(collections.Counter(m for m, _ in got)))
    print("results elsewhere:", sum(v.startswith("result on") for v in found.values()))
    print("other failures:", len(found) - len(got)
          - sum(v.startswith("result on") for v in found.values()))
