"""PyTorch's Module methods beyond parameters and buffers: `to`/`double`/`float`/`half`/`cpu`
(copies), `apply` (fn returns the changed module), `get_submodule`/`get_parameter`, and the
in-place habits that have no counterpart (`requires_grad_`, `zero_grad`) raising with the
functional way, never silently doing nothing."""
import inspect

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp


class Net(ft.nn.Module):
    def __init__(self, key):
        k = ft.random.split(key, 2)
        self.features = ft.nn.Sequential(ft.nn.Conv2d(1, 2, 3, key=k[0]), ft.nn.BatchNorm2d(2))
        self.fc = ft.nn.Linear(2, 3, key=k[1])

    def forward(self, x):
        return self.fc(fnp.mean(self.features(x), axis=(2, 3)))


X = np.ones((1, 1, 5, 5))


def _dtypes(model):
    return {n: np.dtype(v.dtype) for n, v in model.state_dict().items()}


def test_dtype_and_device_conversions_return_copies():
    net = Net(ft.random.key(0)).eval()
    here, cpu = net.fc.weight.device, ft.devices("cpu")[0]
    for convert, want, device in [
            (lambda m: m.double(), np.float64, here), (lambda m: m.half(), np.float16, here),
            (lambda m: m.double().float(), np.float32, here),
            (lambda m: m.to(np.float64), np.float64, here),
            (lambda m: m.to("cpu", dtype="float64"), np.float64, cpu),
            (lambda m: m.to(dtype=np.float16), np.float16, here),
            (lambda m: m.to(np.zeros(2)), np.float64, cpu),         # its device too
            (lambda m: m.cpu(), np.float32, cpu)]:
        got = convert(net)
        dts = _dtypes(got)
        assert dts.pop("features.1.num_batches_tracked") == np.int64      # integers stay
        assert set(dts.values()) == {np.dtype(want)}
        assert got.fc.weight.device == device and got.features[1].running_var.device == device
        tol = 1e-2 if want == np.float16 else 1e-6
        np.testing.assert_allclose(np.asarray(got(ft.device_put(X.astype(want), device))),
                                   np.asarray(net(X.astype(np.float32))), rtol=tol, atol=tol)
    assert set(_dtypes(net).values()) == {np.dtype(np.float32), np.dtype(np.int64)}
    g = ft.jit(ft.grad(lambda m: fnp.sum(m.double()(X))))(net)
    assert g.fc.weight.dtype == np.float32           # gradients of the float32 parameters
    with pytest.raises(RuntimeError, match=r"model = model\.double\(\)"):
        net.double()
    with pytest.raises(RuntimeError, match=r"model = model\.to\(\.\.\.\)"):
        net.to("cpu")


def test_apply_get_submodule_and_get_parameter():
    net = Net(ft.random.key(0))

    def zero_biases(m):
        return m.replace(bias=fnp.zeros_like(m.bias)) if isinstance(m, ft.nn.Linear) else m
    seen = []
    out = net.apply(lambda m: seen.append(type(m).__name__) or m)
    assert seen == ["Conv2d", "BatchNorm2d", "Sequential", "Linear", "Net"]   # innermost first
    assert isinstance(out, Net)
    zeroed = net.apply(zero_biases)
    np.testing.assert_array_equal(np.asarray(zeroed.fc.bias), np.zeros(3))
    assert np.asarray(net.fc.bias).any()
    with pytest.raises(TypeError, match="fn must return the module"):
        zeroed = net.apply(lambda m: None)
    assert net.get_submodule("features.1") is net.features[1]
    assert net.get_submodule("") is net
    assert net.get_parameter("features.0.weight").shape == (2, 1, 3, 3)
    with pytest.raises(AttributeError, match="no parameter 'fc.bias2'"):
        net.get_parameter("fc.bias2")
    with pytest.raises(AttributeError):
        net.get_submodule("features.7")


def test_in_place_habits_raise_with_the_functional_way():
    net = Net(ft.random.key(0))
    with pytest.raises(TypeError, match="ft.nn.partition"):
        net.requires_grad_(False)
    with pytest.raises(TypeError, match="MultiSteps"):
        net.zero_grad()


def test_signatures_match_pytorchs():
    torch = pytest.importorskip("torch")
    for name in ("to", "double", "float", "half", "cpu", "cuda", "apply", "get_submodule",
                 "get_parameter", "requires_grad_", "zero_grad"):
        ours = [p for p in inspect.signature(getattr(ft.nn.Module, name)).parameters
                if p not in ("self", "args")]
        theirs = [p for p in inspect.signature(getattr(torch.nn.Module, name)).parameters
                  if p not in ("self", "args", "kwargs")]
        assert ours == theirs or (name == "to" and not theirs), (name, ours, theirs)
