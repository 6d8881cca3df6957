"""Gaps against the APIs functrans follows (JAX, NumPy, PyTorch), each closed with its tests:
bitwise lax reductions, qr(mode='raw'), the logistic of complex values, bfloat16 in safetensors
files, disable_jit over pmap and PyTorch's lazy layers. Peers are compared where installed
(skipped otherwise); the rest runs without them."""
from __future__ import annotations

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import lax

import fakegpu


@pytest.fixture
def fake_device():
    """A stand-in GPU (NumPy restricted to what CuPy has), unregistered afterwards unless
    the run registered it (`pytest --device fakegpu`)."""
    registered = bool(ft.devices("fakegpu"))
    if not registered:
        fakegpu.register()
    try:
        yield ft.devices("fakegpu")[0]
    finally:
        if not registered:
            fakegpu.unregister()


# ------------------------------------------------------------------ bitwise reductions
_BITWISE = {"reduce_and": np.bitwise_and, "reduce_or": np.bitwise_or,
            "reduce_xor": np.bitwise_xor}


def _operand(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.random(shape) < 0.6
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


@pytest.mark.parametrize("name", sorted(_BITWISE))
@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint8, np.int32, np.uint32, np.int64])
@pytest.mark.parametrize("shape, axes", [((5,), (0,)), ((3, 4, 5), (0, 2)), ((3, 4), (1,)),
                                         ((3, 4), ()), ((2, 0, 3), (1,)), ((3, 7), (0, 1))])
def test_bitwise_reductions_are_numpys_bitwise_reductions(name, dtype, shape, axes):
    x = _operand(dtype, shape)
    want = _BITWISE[name].reduce(x, axis=axes)
    for f in (getattr(lax, name), ft.jit(getattr(lax, name), static_argnums=1)):
        got = np.asarray(f(x, axes))
        assert got.dtype == x.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", sorted(_BITWISE))
def test_bitwise_reductions_batch_and_have_no_derivative(name):
    x = _operand(np.int16, (4, 3, 5), seed=1)
    f = getattr(lax, name)
    got = ft.vmap(lambda r: f(r, (1,)), in_axes=1)(x)
    np.testing.assert_array_equal(got, _BITWISE[name].reduce(x, axis=2).T)
    _, t = ft.jvp(lambda v: f(lax.convert_element_type(v, np.int32)),
                  (np.ones(3),), (np.ones(3),))
    assert t.dtype == ft.dtypes.float0


@pytest.mark.parametrize("name", sorted(_BITWISE))
@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_bitwise_reductions_refuse_inexact_operands(name, dtype):
    with pytest.raises(TypeError, match=f"{name} needs a bool or integer operand"):
        getattr(lax, name)(np.ones(3, dtype))


def test_all_and_any_stay_truth_tests_of_integers():
    x = np.array([[6, 3, 0], [7, 1, 2]], np.int32)
    np.testing.assert_array_equal(fnp.all(x, axis=1), [False, True])
    np.testing.assert_array_equal(fnp.any(x, axis=0), [True, True, True])
    assert lax.reduce_and(x[1]) == 0 and lax.reduce_or(x[0]) == 7    # bitwise: 7&1&2, 6|3|0


@pytest.mark.parametrize("name", sorted(_BITWISE))
@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.int64])
@pytest.mark.parametrize("shape, axes", [((7, 3), (0,)), ((2, 5, 3), (0, 2)), ((0, 3), (0,)),
                                         ((4,), ())])
def test_bitwise_reductions_on_an_array_module_without_ufunc_reduce(name, dtype, shape, axes,
                                                                    fake_device):
    """CuPy's bitwise ufuncs have no `reduce`; the stand-in GPU refuses it as CuPy does."""
    dev = fake_device
    x = _operand(dtype, shape, seed=2)
    got = getattr(lax, name)(ft.device_put(x, dev), axes)
    assert got.device is dev
    np.testing.assert_array_equal(np.asarray(ft.device_put(got, "cpu")),
                                  _BITWISE[name].reduce(x, axis=axes))


@pytest.mark.parametrize("name", ["bitwise_and", "bitwise_or", "bitwise_xor"])
@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint8, np.int64])
def test_bitwise_ops_against_jax(name, dtype):
    jax = pytest.importorskip("jax")
    x, y = _operand(dtype, (3, 4), seed=3), _operand(dtype, (3, 4), seed=4)
    with jax.enable_x64(True):
        want = np.asarray(getattr(jax.lax, name)(x, y))
        want_not = np.asarray(jax.lax.bitwise_not(x))
        reductions = {r: np.asarray(getattr(jax.lax, r)(x, (1,))) for r in _BITWISE}
    for got, expected in [(getattr(lax, name)(x, y), want), (lax.bitwise_not(x), want_not)] + \
            [(getattr(lax, r)(x, (1,)), reductions[r]) for r in _BITWISE]:
        got = np.asarray(got)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)


# ------------------------------------------------------------------ qr(mode='raw')
def _householder_q(h, tau):
    """Q (m x m) from NumPy's raw QR of one m x n matrix: the product of the reflectors."""
    a = h.T
    m = a.shape[0]
    q = np.eye(m, dtype=a.dtype)
    for i, t in enumerate(tau):
        v = np.concatenate([np.zeros(i), [1.0], a[i + 1:, i]]).astype(a.dtype)
        q = q @ (np.eye(m, dtype=a.dtype) - t * np.outer(v, v.conj()))
    return q


@pytest.mark.parametrize("shape, dtype", [((4, 3), np.float64), ((3, 5), np.float64),
                                          ((3, 3), np.float32), ((2, 4, 3), np.float64),
                                          ((4, 2), np.complex128), ((0, 3), np.float64)])
def test_qr_raw_is_numpys(shape, dtype):
    rng = np.random.default_rng(5)
    a = rng.standard_normal(shape).astype(dtype)
    if np.dtype(dtype).kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    want_h, want_tau = np.linalg.qr(a, mode="raw")
    for f in (fnp.linalg.qr, ft.jit(fnp.linalg.qr, static_argnums=1)):
        h, tau = f(a, "raw")
        assert h.shape == want_h.shape and tau.shape == want_tau.shape
        assert h.dtype == want_h.dtype and tau.dtype == want_tau.dtype
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(h, want_h, rtol=tol, atol=tol)
        np.testing.assert_allclose(tau, want_tau, rtol=tol, atol=tol)
    if len(shape) == 2 and 0 not in shape:          # the reflectors rebuild a = Q R
        h, tau = np.asarray(h), np.asarray(tau)
        q = _householder_q(h, tau)
        r = np.triu(h.T)
        np.testing.assert_allclose(q @ r, a, atol=1e-5 if dtype == np.float32 else 1e-12)


def test_qr_raw_batches_and_runs_on_another_device(fake_device):
    a = np.random.default_rng(6).standard_normal((3, 5, 4))
    h, tau = ft.vmap(lambda x: fnp.linalg.qr(x, mode="raw"), in_axes=2, out_axes=1)(
        a.transpose(1, 2, 0))
    want_h, want_tau = np.linalg.qr(a, mode="raw")
    np.testing.assert_allclose(h, want_h.transpose(1, 0, 2), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tau, want_tau.T, rtol=1e-12, atol=1e-12)
    dev = fake_device
    h, tau = fnp.linalg.qr(ft.device_put(a, dev), mode="raw")
    assert h.device is dev
    np.testing.assert_allclose(np.asarray(ft.device_put(h, "cpu")), want_h, atol=1e-12)


_DERIVATIVES = {"grad": ft.grad, "jacfwd": ft.jacfwd, "jacrev": ft.jacrev, "hessian": ft.hessian,
                "grad_jit": lambda f: ft.grad(ft.jit(f)), "jit_grad": lambda f: ft.jit(ft.grad(f)),
                "vmap_grad": lambda f: ft.vmap(ft.grad(f), in_axes=2)}


@pytest.mark.parametrize("transform", sorted(_DERIVATIVES))
@pytest.mark.parametrize("part", [0, 1])
def test_qr_raw_refuses_derivatives(transform, part):
    a = np.random.default_rng(7).standard_normal((4, 3, 2))
    if transform != "vmap_grad":
        a = a[..., 0]

    def f(x):
        return fnp.sum(fnp.linalg.qr(x, mode="raw")[part] ** 2)
    with pytest.raises(NotImplementedError, match=r"qr with mode='raw'.*has no derivative"):
        _DERIVATIVES[transform](f)(a)


def test_qr_raw_under_stop_gradient_and_other_modes_keep_derivatives():
    a = np.random.default_rng(8).standard_normal((4, 3))
    g = ft.grad(lambda x: fnp.sum(lax.stop_gradient(fnp.linalg.qr(x, mode="raw")[0])) +
                fnp.sum(x))(a)
    np.testing.assert_array_equal(g, np.ones_like(a))
    ft.test_util.check_grads(lambda x: fnp.linalg.qr(x, mode="r"), (a,), order=1)
    with pytest.raises(ValueError, match="'reduced', 'complete', 'r' or 'raw'"):
        fnp.linalg.qr(a, mode="economic")


def test_qr_raw_against_jax():
    jnp = pytest.importorskip("jax.numpy")
    jax = pytest.importorskip("jax")
    a = np.random.default_rng(9).standard_normal((2, 5, 3))
    with jax.enable_x64(True):
        want = [np.asarray(v) for v in jnp.linalg.qr(a, mode="raw")]
    for got, w in zip(fnp.linalg.qr(a, mode="raw"), want):
        assert got.dtype == w.dtype and got.shape == w.shape
        np.testing.assert_allclose(got, w, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ logistic of complex values
_Z = np.array([0j, 1 + 2j, -3 + 0.5j, 0.25 - 4j, 30 - 1j, -30 + 1j, 2j], np.complex128)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("name", ["lax.logistic", "nn.sigmoid", "nn.functional.sigmoid",
                                  "jit"])
def test_logistic_of_complex_values_is_one_over_one_plus_exp(name, dtype):
    f = {"lax.logistic": lax.logistic, "nn.sigmoid": ft.nn.sigmoid,
         "nn.functional.sigmoid": ft.nn.functional.sigmoid, "jit": ft.jit(lax.logistic)}[name]
    z = _Z.astype(dtype)
    got = np.asarray(f(z))
    assert got.dtype == dtype
    tol = 2e-6 if dtype == np.complex64 else 1e-14
    np.testing.assert_allclose(got, 1 / (1 + np.exp(-_Z)), rtol=tol, atol=tol)


def test_complex_logistic_saturates_without_nan():
    z = np.array([-800 + 1j, 800 - 1j, -np.inf + 0j, np.inf + 0j, -1e300 + 3j])
    np.testing.assert_array_equal(lax.logistic(z), [0, 1, 0, 1, 0])


def test_complex_logistic_derivative_is_holomorphic():
    z = _Z[:5]
    s = 1 / (1 + np.exp(-z))
    _, t = ft.jvp(lax.logistic, (z,), (np.ones_like(z),))
    np.testing.assert_allclose(t, s * (1 - s), rtol=1e-12)
    h = 1e-6                                    # the derivative is the complex difference
    np.testing.assert_allclose(t, (np.asarray(lax.logistic(z + h)) -
                                   np.asarray(lax.logistic(z - h))) / (2 * h), rtol=1e-7,
                               atol=1e-10)
    g = ft.grad(lambda v: fnp.sum(fnp.real(ft.nn.sigmoid(v))))(z)
    np.testing.assert_allclose(g, s * (1 - s), rtol=1e-12)    # JAX's convention, as for exp


def test_complex_logistic_against_jax():
    jax = pytest.importorskip("jax")
    with jax.enable_x64(True):
        for z in (_Z, _Z.astype(np.complex64)):
            for ours, theirs in [(lax.logistic, jax.lax.logistic), (ft.nn.silu, jax.nn.silu),
                                 (ft.nn.sigmoid, jax.nn.sigmoid)]:
                want = np.asarray(theirs(z))
                got = np.asarray(ours(z))
                assert got.dtype == want.dtype
                np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-7)
            want_t = jax.jvp(jax.nn.sigmoid, (z,), (np.ones_like(z),))[1]
            np.testing.assert_allclose(ft.jvp(ft.nn.sigmoid, (z,), (np.ones_like(z),))[1],
                                       want_t, rtol=2e-6, atol=1e-7)


# ------------------------------------------------------------------ lazy layers
_LAZY = [  # lazy layer, its arguments, the ordinary layer's leading argument, an example input
    (ft.nn.LazyLinear, (5,), {}, (2, 7)),
    (ft.nn.LazyLinear, (3,), dict(bias=False), (4, 2, 6)),
    (ft.nn.LazyConv1d, (4, 3), dict(stride=2, padding=1), (2, 3, 9)),
    (ft.nn.LazyConv2d, (6, 3), dict(padding="same", groups=2, padding_mode="reflect"),
     (2, 4, 5, 5)),
    (ft.nn.LazyConv2d, (2, (3, 1)), {}, (3, 6, 5)),                 # unbatched
    (ft.nn.LazyConv3d, (2, 2), dict(bias=False), (1, 3, 4, 4, 4)),
    (ft.nn.LazyConvTranspose1d, (3, 3), dict(stride=2, output_padding=1), (2, 4, 5)),
    (ft.nn.LazyConvTranspose2d, (4, 2), dict(dilation=2), (1, 2, 3, 3)),
    (ft.nn.LazyConvTranspose3d, (2, 2), {}, (1, 2, 2, 2, 2)),
]


@pytest.mark.parametrize("lazy_cls, args, kwargs, shape", _LAZY,
                         ids=[f"{c.__name__}{i}" for i, (c, *_) in enumerate(_LAZY)])
def test_init_lazy_gives_the_layer_for_the_input(lazy_cls, args, kwargs, shape):
    key = ft.random.key(3)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    lazy = lazy_cls(*args, **kwargs, key=key)
    assert lazy.parameters() == [] and lazy.state_dict() == {}
    layer = ft.nn.init_lazy(lazy, x)
    cls = lazy_cls.cls_to_become
    in_size = shape[-1] if cls is ft.nn.Linear else shape[-cls._nd - 1]
    want = cls(in_size, *args, **kwargs, key=key)          # the same key: the same weights
    assert type(layer) is cls and repr(layer) == repr(want)
    for (n, a), (m, b) in zip(layer.named_parameters(), want.named_parameters()):
        assert n == m
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(layer(x), want(x))


def test_lazy_layers_refuse_to_run_before_init_lazy():
    lazy = ft.nn.LazyLinear(4, key=ft.random.key(0))
    for call in (lazy, ft.jit(lazy), ft.vmap(lazy)):
        with pytest.raises(RuntimeError, match=r"LazyLinear\(out_features=4, bias=True\) has "
                           r"no parameters yet.*ft\.nn\.init_lazy\(model, x\).*ft\.nn\.Linear "
                           r"with the input size"):
            call(np.ones((2, 3)))
    with pytest.raises(TypeError, match="init_lazy takes a Module"):
        ft.nn.init_lazy(lambda x: x, np.ones(3))
    with pytest.raises(RuntimeError, match=r"Write `model = ft\.nn\.init_lazy\(model, x\)`"):
        ft.nn.init_lazy(lazy, np.ones((2, 3)))          # PyTorch's habit: the result dropped


class _LazyNet(ft.nn.Module):
    def __init__(self, key):
        k1, k2, k3 = ft.random.split(key, 3)
        self.conv = ft.nn.LazyConv2d(4, 3, key=k1)
        self.bn = ft.nn.BatchNorm2d(4)
        self.fc = ft.nn.LazyLinear(8, key=k2)
        self.head = ft.nn.LazyLinear(2, key=k3)
        self.unused = ft.nn.LazyLinear(2, key=k3)         # the same key: no sharing error

    def __call__(self, x):
        h = ft.nn.relu(self.bn(self.conv(x))).reshape(x.shape[0], -1)
        h = ft.vmap(self.fc)(h)                 # materialized inside a transform
        return self.head(ft.nn.relu(h))


def test_init_lazy_on_a_model_then_train_it():
    x = np.random.default_rng(1).standard_normal((3, 2, 6, 6)).astype(np.float32)
    y = np.array([0, 1, 1])
    model = ft.nn.init_lazy(_LazyNet(ft.random.key(0)), x[:1])
    assert [type(m).__name__ for m in (model.conv, model.fc, model.head, model.unused)] == \
        ["Conv2d", "Linear", "Linear", "LazyLinear"]       # the unused layer stays lazy
    assert model.fc.in_features == 64 and not isinstance(model.fc.weight, ft.core.Tracer)
    np.testing.assert_array_equal(model.bn.running_mean, np.zeros(4))  # init's call discarded
    opt = ft.optim.sgd(0.1)

    @ft.jit
    def step(model, state):
        def loss(m):
            out, m = ft.nn.stateful(m)(x)
            return ft.nn.cross_entropy(out, y), m
        (value, model), grads = ft.value_and_grad(loss, has_aux=True)(model)
        updates, state = opt.update(grads, state, model)
        return ft.optim.apply_updates(model, updates), state, value
    state = opt.init(model)
    losses = []
    for _ in range(5):
        model, state, value = step(model, state)
        losses.append(float(value))
    assert losses[-1] < losses[0]
    assert sorted(model.state_dict()) == sorted(
        ["conv.weight", "conv.bias", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
         "bn.num_batches_tracked", "fc.weight", "fc.bias", "head.weight", "head.bias"])


def test_init_lazy_against_pytorch():
    torch = pytest.importorskip("torch")
    tnet = torch.nn.Sequential(torch.nn.LazyConv1d(4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                               torch.nn.LazyLinear(5))
    x = np.random.default_rng(2).standard_normal((2, 3, 10)).astype(np.float32)
    want = tnet(torch.from_numpy(x))                      # PyTorch's first call initializes
    net = ft.nn.init_lazy(ft.nn.Sequential(ft.nn.LazyConv1d(4, 3, key=ft.random.key(0)),
                                           ft.nn.ReLU(), ft.nn.Flatten(),
                                           ft.nn.LazyLinear(5, key=ft.random.key(1))), x)
    theirs = {k: v.detach().numpy() for k, v in tnet.state_dict().items()}
    assert {k: v.shape for k, v in net.state_dict().items()} == \
        {k: v.shape for k, v in theirs.items()}
    assert [type(m).__name__ for m in tnet] == [type(m).__name__ for m in net]
    net = net.load_state_dict(theirs)
    np.testing.assert_allclose(net(x), want.detach().numpy(), rtol=1e-5, atol=1e-6)


_LAZY_NORMS = [  # lazy norm, its keyword arguments, an example input, the channel axis
    (ft.nn.LazyBatchNorm1d, {}, (4, 3), 1),
    (ft.nn.LazyBatchNorm1d, dict(momentum=None), (4, 3, 5), 1),
    (ft.nn.LazyBatchNorm2d, dict(affine=False), (2, 5, 3, 3), 1),
    (ft.nn.LazyBatchNorm3d, dict(eps=1e-3), (2, 2, 2, 3, 3), 1),
    (ft.nn.LazyInstanceNorm1d, {}, (3, 6), 0),                      # unbatched
    (ft.nn.LazyInstanceNorm2d, dict(track_running_stats=False), (2, 4, 3, 3), 1),
    (ft.nn.LazyInstanceNorm3d, dict(bias=False), (1, 2, 3, 3, 3), 1),
]


@pytest.mark.parametrize("lazy_cls, kwargs, shape, axis", _LAZY_NORMS,
                         ids=[f"{c.__name__}{i}" for i, (c, *_) in enumerate(_LAZY_NORMS)])
def test_init_lazy_norms(lazy_cls, kwargs, shape, axis):
    """PyTorch's lazy norms take no key and default to affine=True, track_running_stats=True
    (the instance norms too); num_features is the input's channel axis."""
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    layer = ft.nn.init_lazy(lazy_cls(**kwargs), x)
    want = lazy_cls.cls_to_become(shape[axis], **{"affine": True, "track_running_stats": True,
                                                  **kwargs})
    assert type(layer) is type(want) and repr(layer) == repr(want)
    assert sorted(layer.state_dict()) == sorted(want.state_dict())
    got, layer = ft.nn.stateful(layer)(x)                 # trains: statistics from 0 and 1
    ref, want = ft.nn.stateful(want)(x)
    np.testing.assert_array_equal(got, ref)
    for (n, a), (m, b) in zip(layer.named_buffers(), want.named_buffers()):
        assert n == m
        np.testing.assert_array_equal(a, b)


def test_lazy_norms_in_a_model_keep_its_mode_and_match_pytorch():
    x = np.random.default_rng(3).standard_normal((4, 3, 5, 5)).astype(np.float32)
    net = ft.nn.Sequential(ft.nn.LazyConv2d(2, 3, key=ft.random.key(0)),
                           ft.nn.LazyBatchNorm2d(), ft.nn.LazyInstanceNorm2d())
    model = ft.nn.init_lazy(net, x)
    assert [type(m).__name__ for m in model] == ["Conv2d", "BatchNorm2d", "InstanceNorm2d"]
    np.testing.assert_array_equal(model[1].running_mean, np.zeros(2))  # init's call discarded
    evaluating = ft.nn.init_lazy(net.eval(), x)
    assert not evaluating[1].training and not evaluating[2].training
    with pytest.raises(ValueError, match=r"LazyBatchNorm2d needs an input of rank 4, got "
                       r"shape \(3, 5\)"):
        _ = ft.nn.init_lazy(ft.nn.LazyBatchNorm2d(), np.ones((3, 5), np.float32))
    with pytest.raises(RuntimeError, match=r"LazyBatchNorm1d\(.*\) has no parameters yet"):
        ft.nn.LazyBatchNorm1d()(np.ones((4, 3), np.float32))
    torch = pytest.importorskip("torch")
    tnet = torch.nn.Sequential(torch.nn.LazyConv2d(2, 3), torch.nn.LazyBatchNorm2d(),
                               torch.nn.LazyInstanceNorm2d())
    want = tnet(torch.from_numpy(x))
    theirs = {k: v.detach().numpy() for k, v in tnet.state_dict().items()}
    assert {k: v.shape for k, v in model.state_dict().items()} == \
        {k: v.shape for k, v in theirs.items()}
    model = model.load_state_dict({k: v for k, v in theirs.items() if "running" not in k
                                   and "num_batches" not in k}, strict=False)
    got, _ = ft.nn.stateful(model)(x)
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-5, atol=1e-5)
