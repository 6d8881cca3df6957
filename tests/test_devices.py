"""Devices: listing, placement, transfers, default devices, the mixing error, jit per device and
transforms on a non-default device.

A real second device needs CuPy and a GPU; these tests use the stand-in of tests/fakegpu.py
(platform "fakegpu", devices fakegpu:0 and fakegpu:1), registered through the same backend
registry as CUDA. They test functrans' device plumbing, not CuPy (see test_devices_gpu.py).
"""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import lax
from functrans.backends import cpu

import fakegpu
from lenet import classifier_step


@pytest.fixture(autouse=True)
def fake():
    """The stand-in GPU registered, and the cpu the default device, for each test."""
    backend = fakegpu.register()
    before = ft.config.default_device
    ft.config.update("default_device", "cpu")
    try:
        yield backend
    finally:
        ft.config.update("default_device", before)


@pytest.fixture
def dev(fake):
    return fake.devices()[0]


def arr(*shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def on(device, *xs):
    out = tuple(ft.device_put(x, device) for x in xs)
    return out if len(out) > 1 else out[0]


def close(a, b, **kw):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), **({"rtol": 1e-12} | kw))


# ------------------------------------------------------------------ listing and naming
def test_devices_lists_every_registered_backend(fake):
    assert ft.devices()[0] is cpu
    assert ft.devices("fakegpu") == fake.devices()
    assert [str(d) for d in ft.devices("fakegpu")] == ["fakegpu:0", "fakegpu:1"]
    assert ft.devices("gpu") == ft.devices("cuda")          # "gpu" means CUDA only


def test_get_device_parses_names_and_explains_what_is_missing(dev):
    get = ft.backends.get_device
    assert get("cpu") is cpu and get("CPU:0") is cpu
    assert get("fakegpu") is dev and get(dev) is dev
    assert get("fakegpu:1") is ft.devices("fakegpu")[1]
    with pytest.raises(ValueError, match="unknown device 'tpu'.*platforms: .*cpu"):
        get("tpu")
    with pytest.raises(RuntimeError, match="'fakegpu:7' is not available: only 2 fakegpu"):
        get("fakegpu:7")
    with pytest.raises(ValueError, match="must be an integer"):
        get("fakegpu:x")
    if not ft.devices("cuda"):
        with pytest.raises(RuntimeError, match=r"'cuda' is not available: .*(CuPy|GPU).*"
                                               r"Available devices: \[cpu, fakegpu:0"):
            get("cuda")


def test_devices_pickle_by_name(dev):
    import pickle
    assert pickle.loads(pickle.dumps(dev)) is dev


# ------------------------------------------------------------------ placement and transfers
def test_device_put_moves_both_ways_and_every_array_knows_its_device(dev):
    host = arr(3, 4)
    x = ft.device_put(host, dev)
    assert x.device is dev and x.devices() == {dev}
    assert type(x._value) is fakegpu.FakeArray
    back = ft.device_put(x, "cpu")
    assert back.device is cpu and type(back._value) is np.ndarray
    np.testing.assert_array_equal(np.asarray(back), host)
    other = ft.device_put(x, "fakegpu:1")
    assert other.device is ft.devices("fakegpu")[1]
    np.testing.assert_array_equal(np.asarray(other), host)


def test_device_put_takes_pytrees_and_scalars(dev):
    tree = {"w": arr(2, 2), "b": [np.zeros(2), 1.5]}
    moved = ft.device_put(tree, dev)
    assert all(leaf.device is dev for leaf in ft.tree_leaves(moved))
    assert moved["b"][1].dtype == np.float32            # a Python float: the default float


def test_asarray_copies_to_the_host_and_the_copy_is_independent(dev):
    x = on(dev, arr(5))
    host = np.asarray(x)
    assert type(host) is np.ndarray
    host[0] = 123.0
    assert float(x[0]) != 123.0
    assert x.tolist() == list(np.asarray(x)) and float(x.sum()) == pytest.approx(host[1:].sum()
                                                                                  + float(x[0]))


def test_repr_names_the_device(dev):
    assert "device=fakegpu:0" in repr(on(dev, np.ones(2)))
    assert "device=" not in repr(fnp.ones(2))


def test_results_stay_on_the_device_of_their_operands(dev):
    x, y = on(dev, arr(3, 4), arr(4, 2, seed=1))
    for out in (x @ y, fnp.exp(x) + 1.0, x.sum(axis=0), fnp.sort(x, axis=1), x[1:, ::2],
                fnp.where(x > 0, x, 0.0), x.at[0, 1].set(5.0), fnp.concatenate([x, x])):
        assert out.device is dev
    close(x @ y, arr(3, 4) @ arr(4, 2, seed=1))


# ------------------------------------------------------------------ the default device
def test_default_device_context_places_new_arrays(dev):
    assert fnp.zeros(2).device is cpu
    with ft.default_device(dev) as d:
        assert d is dev
        made = [fnp.zeros(2), fnp.ones(2), fnp.full((2,), 3.0), fnp.arange(3), fnp.eye(2),
                fnp.linspace(0, 1, 4), fnp.logspace(0, 1, 3), fnp.tri(3), fnp.asarray([1, 2]),
                fnp.array(np.ones(3)), fnp.zeros_like(np.ones(2)), fnp.empty(3)]
        assert all(a.device is dev for a in made)
        with ft.default_device("cpu"):
            assert fnp.zeros(1).device is cpu
        assert fnp.zeros(1).device is dev
    assert fnp.zeros(1).device is cpu


def test_default_device_is_per_thread(dev):
    seen = {}

    def other():
        seen["device"] = fnp.zeros(1).device
    with ft.default_device(dev):
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert seen["device"] is cpu


def test_default_device_setting(dev):
    ft.config.update("default_device", "fakegpu:1")
    assert fnp.ones(3).device is ft.devices("fakegpu")[1]
    ft.config.update("default_device", "cpu")
    assert fnp.ones(3).device is cpu


def test_environment_variable_sets_the_default_device():
    code = ("import fakegpu, functrans.numpy as fnp; fakegpu.register(); "
            "print(fnp.zeros(2).device)")
    here = os.path.dirname(__file__)
    env = dict(os.environ, FUNCTRANS_DEVICE="fakegpu:1",
               PYTHONPATH=os.pathsep.join([os.path.dirname(here), here]))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "fakegpu:1"


# ------------------------------------------------------------------ mixing is an error
def test_mixing_devices_is_an_error_naming_both_and_the_fix(dev):
    x, y = on(cpu, np.ones(3)), on(dev, np.ones(3))     # both committed (placed explicitly)
    assert (fnp.ones(3) + y).device is dev              # an uncommitted one joins (JAX's rule)
    for op in (lambda: x + y, lambda: fnp.dot(x, y), lambda: lax.add(y, x)):
        with pytest.raises(ValueError, match=r"different devices \(cpu, fakegpu:0\).*"
                                             r"test_devices.py.*ft.device_put\(x, 'fakegpu:0'\)"):
            op()


def test_jit_refuses_arguments_on_different_devices_naming_them(dev):
    f = ft.jit(lambda a, b: a * b)
    with pytest.raises(ValueError, match=r"'a' \(args\[0\]\) is on cpu; 'b' \(args\[1\]\) is "
                                         r"on fakegpu:0.*device_put"):
        f(on(cpu, np.ones(2)), on(dev, np.ones(2)))


def test_nothing_moves_silently_between_the_fake_devices(dev):
    a, b = on(dev, np.ones(2)), on(ft.devices("fakegpu")[1], np.ones(2))
    with pytest.raises(ValueError, match="fakegpu:0, fakegpu:1"):
        a + b


# ------------------------------------------------------------------ NumPy data is uncommitted
# As in JAX, NumPy data (and Python scalars) passed as they are live on no device yet: they
# join the device of the Arrays they meet, or the default device when they meet none. Only
# Arrays are placed, and only Arrays on different devices are an error.
def test_numpy_operands_of_lax_join_the_device_of_the_arrays(dev):
    x_h, k_h = arr(3, 4), arr(3, 4, seed=1)
    x = on(dev, x_h)
    outs = {
        "add": (lax.add(x, k_h), x_h + k_h),
        "select": (lax.select(x_h > k_h, k_h, x), np.where(x_h > k_h, k_h, x_h)),
        "select_n": (lax.select_n(np.arange(12).reshape(3, 4) % 2 == 0, x, k_h),
                     np.where(np.arange(12).reshape(3, 4) % 2 == 0, k_h, x_h)),
        "dynamic_update_slice": (lax.dynamic_update_slice(x, k_h[:2, :2], (1, 2)), None),
        "vmap_dus": (ft.vmap(lambda r: lax.dynamic_update_slice(r, k_h[0, :2], (1,)))(x), None),
        "grad_select": (ft.grad(lambda a: lax.select(x_h > 0, a, k_h * 2).sum())(x),
                        (x_h > 0).astype(float)),
    }
    for name, (out, want) in outs.items():
        assert out.device is dev, name
        if want is not None:
            close(out, want)
    # tangents and cotangents given as NumPy arrays join their primal's (output's) device
    f = ft.custom_jvp(lambda a: fnp.sin(a))
    f.defjvp(lambda p, t: (f(p[0]), fnp.cos(p[0]) * t[0]))
    for g in (f, fnp.sin):
        _, t = ft.jvp(g, (x,), (np.ones((3, 4)),))
        assert t.device is dev
        close(t, np.cos(x_h))
        ct, = ft.vjp(g, x)[1](np.ones((3, 4)))
        assert ct.device is dev
        close(ct, np.cos(x_h))
    jac = ft.jacfwd(fnp.sin)(x[0])
    assert jac.device is dev
    close(jac, np.diag(np.cos(x_h[0])))


def test_numpy_operands_alone_go_to_the_default_device(dev):
    x_h = arr(3, 4)
    assert lax.cumsum(x_h, axis=0).device is cpu
    with ft.default_device(dev):
        for out in (lax.cumsum(x_h, axis=0), lax.add(x_h, 1.0), lax.neg(x_h[0, 0]),
                    lax.select(x_h > 0, x_h, x_h * 2),
                    lax.conv_general_dilated(arr(1, 2, 5, 5), arr(3, 2, 3, 3), (1, 1), "SAME")):
            assert out.device is dev
        # so they meet the default device's arrays (this failed: the lax result was on cpu)
        both = fnp.cumsum(x_h, axis=1) + lax.cumsum(x_h, axis=0, reverse=True)
        assert both.device is dev
        close(both, np.cumsum(x_h, 1) + np.cumsum(x_h[::-1], 0)[::-1])
        # an array placed on the host stays there: the NumPy operand joins it
        assert lax.add(fnp.asarray(x_h, device="cpu"), x_h).device is cpu


def test_library_functions_place_their_data_with_their_operands(dev):
    # functions built from several operations: their NumPy operands, constants and index
    # arrays join the device of the one Array given (they were made on the default device)
    a_h, b_h = arr(3, 3) + 3 * np.eye(3), arr(3, 3, seed=1)
    img, kern = arr(1, 2, 5, 5), arr(3, 2, 3, 3, seed=2)
    which = np.arange(9).reshape(3, 3) % 3
    a = on(dev, a_h)
    conv = lax.conv_general_dilated(on(dev, img), kern, (1, 1), "VALID")
    cases = {
        "inv": (fnp.linalg.inv(a), np.linalg.inv(a_h)),
        "det": (fnp.linalg.det(a), np.linalg.det(a_h)),
        "pad": (fnp.pad(a, ((1, 0), (0, 2)), constant_values=7.0),
                np.pad(a_h, ((1, 0), (0, 2)), constant_values=7.0)),
        "median": (fnp.median(a, axis=0), np.median(a_h, axis=0)),
        "where": (fnp.where(b_h > 0, a, b_h), np.where(b_h > 0, a_h, b_h)),
        "concatenate": (fnp.concatenate([b_h, a, b_h[:1]]),
                        np.concatenate([b_h, a_h, b_h[:1]])),
        "conv": (conv, None),
        "select_n": (lax.select_n(which, a, b_h, 2 * b_h),
                     np.choose(which, [a_h, b_h, 2 * b_h])),
        "dynamic_update_slice": (lax.dynamic_update_slice(a, b_h[:2, :2], (np.int64(1), 1)),
                                 np.block([[a_h[:1]], [a_h[1:, :1], b_h[:2, :2]]])),
        "dynamic_update_slice_of_numpy": (lax.dynamic_update_slice(b_h, a[:1, :2], (2, 1)),
                                          np.block([[b_h[:2]], [b_h[2:, :1], a_h[:1, :2]]])),
        "dynamic_slice": (lax.dynamic_slice(a, (np.array(1), 0), (2, 2)), a_h[1:3, :2]),
        "jit": (ft.jit(lambda x, y: fnp.where(y > 0, x @ y, -y))(a, b_h),
                np.where(b_h > 0, a_h @ b_h, -b_h)),
    }
    for name, (out, want) in cases.items():
        assert out.device is dev, name
        if want is not None:
            close(out, want, err_msg=name)
    windows = np.lib.stride_tricks.sliding_window_view(img, (3, 3), axis=(2, 3))
    close(conv, np.einsum("nchwij,ocij->nohw", windows, kern))
    # grad and vmap of them run there too
    g = ft.grad(lambda x: fnp.linalg.det(fnp.pad(x, 1) + 2 * np.eye(5)))(a)
    assert g.device is dev
    assert ft.vmap(lambda r: fnp.median(fnp.concatenate([r, b_h[0]])))(a).device is dev
    jitted = ft.jit(lambda x, y: (x * y).sum())
    g = ft.grad(lambda x: jitted(x, b_h))(a)
    assert g.device is dev
    close(g, b_h)
    # with the default device there and the Array on the host, they run on the host
    with ft.default_device(dev):
        host = fnp.linalg.inv(fnp.asarray(a_h, device="cpu"))
        assert host.device is cpu
        assert ft.jit(lambda x, y: x + y)(fnp.asarray(a_h, device="cpu"), b_h).device is cpu


def test_library_functions_still_refuse_arrays_on_different_devices(dev):
    a_h = arr(3, 3)
    on_cpu, on_dev = on(cpu, a_h), on(dev, a_h)
    for op in (lambda: fnp.concatenate([on_dev, a_h, on_cpu]),
               lambda: fnp.where(on(cpu, a_h > 0), on_dev, a_h),
               lambda: lax.select_n(np.zeros((3, 3), int), on_dev, on_cpu),
               lambda: lax.dynamic_update_slice(on_dev, on(cpu, a_h[:1]), (0, 0)),
               lambda: fnp.linalg.solve(on_dev, on_cpu),
               lambda: ft.jit(lambda x, y, z: x + y + z)(on_dev, a_h, on_cpu)):
        with pytest.raises(ValueError, match=r"different devices|is on cpu"):
            op()


def test_device_put_reads_numpy_data_where_it_is(dev, fake, monkeypatch):
    moves = []
    real = type(fake).from_host
    monkeypatch.setattr(type(fake), "from_host",
                        lambda self, host, d: moves.append(d) or real(self, host, d))
    with ft.default_device(dev):
        assert ft.primitives.transfer.device_put(arr(3), cpu).device is cpu
    assert moves == []                  # not through the default device on its way


def test_placed_arrays_on_different_devices_are_still_an_error(dev):
    x_h = arr(3)
    on_cpu, on_dev = on(cpu, x_h), on(dev, x_h)
    with ft.default_device(dev):
        for op in (lambda: lax.add(on_cpu, on_dev), lambda: lax.select(x_h > 0, on_cpu, on_dev),
                   lambda: lax.add(on(cpu, lax.add(x_h, on_cpu)), on_dev)):
            with pytest.raises(ValueError, match=r"different devices \(cpu, fakegpu:0\)"):
                op()
    with pytest.raises(ValueError, match="fakegpu:0, fakegpu:1"):
        lax.select(x_h > 0, on_dev, on(ft.devices("fakegpu")[1], x_h))


def test_eager_lax_refuses_mixed_dtypes_on_a_device_as_on_the_host(dev):
    a, b = on(dev, arr(3, dtype=np.float32), arr(3))
    for op in (lax.add, lax.pow, lax.ge, lax.complex):
        with pytest.raises(TypeError, match="mixed dtypes float32 and float64"):
            op(a, b)
    assert lax.add(a, 1.0).dtype == np.float32


# ------------------------------------------------------------------ jit per device
def test_jit_compiles_once_per_device_and_runs_where_the_arguments_are(dev):
    f = ft.jit(lambda x: fnp.tanh(x) * 2.0 + x.sum())
    host = arr(4)
    out_cpu = f(fnp.asarray(host))
    out_dev = f(on(dev, host))
    assert out_cpu.device is cpu and out_dev.device is dev
    close(out_dev, out_cpu)
    assert f.cache_info().misses == 2
    f(on(dev, host))
    assert f.cache_info().misses == 2
    assert "on cpu to f64[4] on fakegpu:0" in f.retrace_reasons[-1]


def test_trace_time_constants_move_to_the_program_device_once(dev, fake, monkeypatch):
    table = fnp.asarray(arr(4, seed=3))                 # a cpu array the function closes over
    f = ft.jit(lambda x: x * table + fnp.arange(4.0))
    x = on(dev, arr(4))
    assert (x * table).device is dev                    # uncommitted: eagerly it joins x
    moves = []
    real = type(fake).from_host
    monkeypatch.setattr(type(fake), "from_host",
                        lambda self, host, d: moves.append(host.shape) or real(self, host, d))
    for _ in range(3):
        out = f(x)
    assert out.device is dev
    close(out, arr(4) * arr(4, seed=3) + np.arange(4.0))
    assert moves.count((4,)) == 1                       # the closed-over table, once


def test_lowering_for_a_device_needs_no_data(dev):
    spec = ft.ShapeDtypeStruct((3,), np.float32, device=dev)
    text = ft.jit(lambda x: fnp.exp(x) + 1.0).lower(spec).as_text()
    assert "exp" in text and "def " in text


def test_donation_on_a_device(dev):
    step = ft.jit(lambda w, g: w - 0.1 * g, donate_argnums=0)
    w, g = on(dev, arr(64, 64), arr(64, 64, seed=1))
    raw = w._value
    want = np.asarray(w) - 0.1 * np.asarray(g)
    del raw
    out = step(w, g)
    close(out, want)
    with pytest.raises(RuntimeError, match="donated"):
        w + 1


# ------------------------------------------------------------------ transforms on a device
def _program(x, w):
    """Something of everything whose rules build constants: matmul, sort, gather, scatter,
    a running maximum, linear algebra, a loop, reductions. Arrays it creates itself go where
    `h` lives (`device=h.device`): new arrays go to the default device, as in PyTorch."""
    h = fnp.tanh(x @ w)
    s = fnp.sort(h, axis=1)[:, ::-1]
    picked = s[np.array([0, 2]), 1:3]
    upd = h.at[np.array([1, 1]), 0].add(picked[:, 0])
    run = lax.cummax(upd, axis=1)
    spd = h.T @ h + 3.0 * fnp.eye(h.shape[1], device=h.device)
    sol = fnp.linalg.solve(spd, fnp.ones(h.shape[1], h.dtype, device=h.device))
    looped = lax.fori_loop(0, 3, lambda i, v: v * 0.5 + i, run)
    return fnp.sum(looped ** 2) + fnp.sum(sol) + fnp.max(picked)


@pytest.mark.parametrize("transform", ["grad", "jit_grad", "vmap_grad", "hessian_vp", "jvp"])
def test_transforms_run_on_a_non_default_device(dev, transform):
    x_h, w_h = arr(5, 3), arr(3, 3, seed=1)

    def run(x, w):
        if transform == "grad":
            return ft.grad(_program, argnums=(0, 1))(x, w)
        if transform == "jit_grad":
            return ft.jit(ft.grad(_program, argnums=(0, 1)))(x, w)
        if transform == "vmap_grad":
            return ft.vmap(ft.grad(_program), in_axes=(0, None))(fnp.stack([x, 2 * x]), w)
        if transform == "hessian_vp":
            return ft.jvp(ft.grad(_program), (x, w), (fnp.ones_like(x), fnp.zeros_like(w)))[1]
        return ft.jvp(_program, (x, w), (fnp.ones_like(x), fnp.ones_like(w)))
    want = run(fnp.asarray(x_h), fnp.asarray(w_h))
    got = run(*on(dev, x_h, w_h))
    for g, c in zip(ft.tree_leaves(got), ft.tree_leaves(want)):
        assert g.device is dev
        close(g, c, rtol=1e-10, atol=1e-12)


def test_grad_through_device_put_moves_the_cotangent_back(dev):
    def f(x):
        return fnp.sum(ft.device_put(x, dev) ** 3)
    x = fnp.asarray(arr(4))
    g = ft.grad(f)(x)
    assert g.device is cpu
    close(g, 3 * arr(4) ** 2)
    t = ft.jvp(f, (x,), (fnp.ones_like(x),))[1]
    close(t, np.sum(3 * arr(4) ** 2))


# ------------------------------------------------------------------ the stand-in is strict
def test_the_stand_in_refuses_what_cupy_refuses(dev):
    xp = dev.xp
    x = on(dev, np.ones(3))._value
    with pytest.raises(TypeError, match="host arrays"):
        xp.add(x, np.ones(3))
    with pytest.raises(NotImplementedError):
        xp.multiply.at(x, np.array([0]), 2.0)
    with pytest.raises(NotImplementedError):
        xp.maximum.accumulate(x)
    with pytest.raises(AttributeError):
        xp.errstate
    assert type(xp.sum(x)) is fakegpu.FakeArray and xp.sum(x).shape == ()


# ------------------------------------------------------------------ the libraries on a device
def test_random_numbers_are_the_same_bits_on_every_device(dev):
    import functrans.random as fr
    for sample in (lambda k: fr.bits(k, (1000,)), lambda k: fr.uniform(k, (500,)),
                   lambda k: fr.split(k, 5), lambda k: fr.fold_in(k, 7),
                   lambda k: fr.randint(k, (100,), 0, 10), lambda k: fr.normal(k, (300,)),
                   lambda k: fr.permutation(k, 20)):
        here = sample(fr.key(3))
        there = sample(on(dev, fr.key(3)))
        assert there.device is dev
        np.testing.assert_array_equal(np.asarray(there), np.asarray(here))
    jitted = ft.jit(lambda k: fr.normal(k, (64,)))(on(dev, fr.key(1)))
    assert jitted.device is dev
    np.testing.assert_array_equal(np.asarray(jitted), np.asarray(fr.normal(fr.key(1), (64,))))


def test_checkpoints_round_trip_from_a_device(dev, tmp_path):
    tree = {"w": on(dev, arr(3, 2)), "step": 4, "b": on(dev, np.arange(3))}
    ft.save(tmp_path / "ckpt.ftz", tree)
    back = ft.load(tmp_path / "ckpt.ftz", like=tree)
    assert back["w"].device is dev and back["b"].device is dev and back["step"] == 4
    np.testing.assert_array_equal(np.asarray(back["w"]), np.asarray(tree["w"]))
    on_cpu = ft.load(tmp_path / "ckpt.ftz", like=dict(tree, w=ft.device_put(tree["w"], "cpu")))
    assert on_cpu["w"].device is cpu and on_cpu["b"].device is dev


def test_a_training_step_runs_on_a_device(dev):
    model = ft.nn.Sequential(ft.nn.Linear(4, 8, key=ft.random.key(0)), ft.nn.ReLU(),
                             ft.nn.Linear(8, 3, key=ft.random.key(1)))
    opt = ft.optim.sgd(0.1, momentum=0.9)

    step = classifier_step(opt)

    x, y = arr(16, 4).astype(np.float32), np.arange(16) % 3
    want = step(model, opt.init(model), fnp.asarray(x), fnp.asarray(y))
    moved = ft.device_put((model, opt.init(model), x, y), dev)
    got = step(*moved)
    for g, c in zip(ft.tree_leaves(got), ft.tree_leaves(want)):
        assert g.device is dev
        close(g, c, rtol=1e-5, atol=1e-6)


def test_device_put_inside_jit_returns_the_value_where_asked(dev):
    f = ft.jit(lambda x: (ft.device_put(x * 2.0, "cpu"), x + 1.0))
    moved, stayed = f(on(dev, arr(3)))
    assert moved.device is cpu and stayed.device is dev
    close(moved, 2 * arr(3))


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw", "clip_adamw", "inject", "lion",
                                  "multisteps", "if_finite"])
def test_optimizer_states_sit_with_parameters_on_a_device(dev, name):
    """PyTorch's habit: the model moved to the GPU with `.to(...)`, the default device left
    on the CPU. The optimizers' states and constants (step counts, moments, learning rates)
    are made where the parameters are, so their updates, eager or jitted, stay there."""
    make = {"sgd": lambda: ft.optim.sgd(0.1, momentum=0.9, weight_decay=1e-4),
            "adam": lambda: ft.optim.adam(1e-2), "adamw": lambda: ft.optim.adamw(1e-2),
            "clip_adamw": lambda: ft.optim.chain(ft.optim.clip_by_global_norm(1.0),
                                                 ft.optim.adamw(1e-2)),
            "inject": lambda: ft.optim.inject_hyperparams(ft.optim.adam)(lr=1e-2),
            "lion": lambda: ft.optim.lion(1e-3),
            "multisteps": lambda: ft.optim.MultiSteps(ft.optim.adam(1e-2), 2),
            "if_finite": lambda: ft.optim.apply_if_finite(ft.optim.adam(1e-2), 3)}[name]
    model = ft.nn.Sequential(ft.nn.Linear(4, 8, key=ft.random.key(0)), ft.nn.ReLU(),
                             ft.nn.Linear(8, 3, key=ft.random.key(1)))
    x, y = arr(16, 4).astype(np.float32), np.arange(16) % 3
    opt = make()
    step = classifier_step(opt)
    want = model, opt.init(model)
    for _ in range(2):
        *want, loss_want = step(*want, fnp.asarray(x), fnp.asarray(y))
    moved = model.to(str(dev))
    assert moved[0].weight.device is dev
    state = opt.init(moved)
    assert {a.device for a in ft.tree_leaves(state) if hasattr(a, "device")} <= {dev}
    got = moved, state
    for _ in range(2):
        *got, loss = step(*got, *on(dev, x, y))
    assert loss.device is dev
    for g, c in zip(ft.tree_leaves(got), ft.tree_leaves(want)):
        assert g.device is dev
        close(g, c, rtol=1e-5, atol=1e-6)
    updates, _ = opt.update(ft.tree_map(fnp.ones_like, moved), state, moved)
    assert {a.device for a in ft.tree_leaves(updates)} == {dev}      # eagerly too


def test_nn_functions_place_numpy_operands_with_the_array(dev):
    """ft.nn and ft.nn.functional follow functrans.numpy: NumPy operands (targets, labels,
    a weight, running statistics) join the Array they are used with."""
    logits = on(dev, arr(4, 3))
    images = on(dev, arr(2, 3, 6, 6))
    labels = np.array([0, 2, 1, 1])
    F = ft.nn.functional
    cases = {
        "cross_entropy": (lambda: F.cross_entropy(logits, labels),
                          lambda: F.cross_entropy(fnp.asarray(np.asarray(logits)), labels)),
        "mse_loss": (lambda: ft.nn.mse_loss(logits, np.zeros((4, 3))),
                     lambda: ft.nn.mse_loss(fnp.asarray(np.asarray(logits)), np.zeros((4, 3)))),
        "conv2d": (lambda: F.conv2d(images, np.ones((2, 3, 3, 3))),
                   lambda: F.conv2d(fnp.asarray(np.asarray(images)), np.ones((2, 3, 3, 3)))),
        "batch_norm": (lambda: F.batch_norm(images, np.zeros(3), np.ones(3)),
                       lambda: F.batch_norm(fnp.asarray(np.asarray(images)), np.zeros(3),
                                            np.ones(3))),
        "one_hot": (lambda: ft.nn.one_hot(on(dev, labels), 3),
                    lambda: ft.nn.one_hot(labels, 3)),
    }
    for name, (got, want) in cases.items():
        out = got()
        assert out.device is dev, name
        close(out, want())


def test_transforms_place_numpy_arguments_with_the_arrays(dev):
    """NumPy arguments are uncommitted: under grad, vjp, jvp, vmap and jit alike they join
    the device of the Arrays among the arguments (they were made on the default device)."""
    x, y = on(dev, fnp.asarray(arr(3))), arr(3, seed=1)

    def f(a, b):
        return (a * b * b).sum()
    for got in (ft.grad(f, argnums=(0, 1))(x, y), ft.grad(f, argnums=1)(x, y),
                ft.vjp(f, x, y)[1](1.0), ft.jvp(f, (x, y), (x, y)),
                ft.vmap(lambda a, b: a * b)(x, y), ft.jacrev(f, argnums=1)(x, y),
                ft.hessian(f, argnums=1)(x, y), ft.jit(ft.grad(f, argnums=1))(x, y)):
        assert {v.device for v in ft.tree_util.tree_leaves(got)} == {dev}
    close(ft.grad(f, argnums=1)(x, y), 2 * arr(3) * y)
