"""`ft.nn.utils` against `torch.nn.utils` in float64: weight and spectral normalization (both
forms), parametrize, BatchNorm fusion and functional_call. Weights (and the power method's
vectors) move from the torch module through `load_state_dict`; outputs, gradients and updated
buffers are compared, and state_dicts go back to torch. Skipped without torch; the checks that
need no torch are in tests/test_nn_utils_reparam.py."""
import warnings

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.nn import utils as U

torch = pytest.importorskip("torch")
tU = torch.nn.utils
F64 = np.float64

LAYERS = {
    "Linear": (lambda k: ft.nn.Linear(3, 4, key=k, dtype=F64),
               lambda: torch.nn.Linear(3, 4), (5, 3)),
    "Conv2d": (lambda k: ft.nn.Conv2d(2, 3, 2, key=k, dtype=F64),
               lambda: torch.nn.Conv2d(2, 3, 2), (2, 2, 4, 4)),
    "ConvTranspose2d": (lambda k: ft.nn.ConvTranspose2d(2, 3, 2, key=k, dtype=F64),
                        lambda: torch.nn.ConvTranspose2d(2, 3, 2), (2, 2, 3, 3)),
}


def pair(name, apply_ours, apply_theirs):
    make_ours, make_theirs, shape = LAYERS[name]
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        theirs = apply_theirs(make_theirs().double())
    ours = apply_ours(make_ours(ft.random.key(1)))
    ours = ours.load_state_dict(theirs.state_dict())
    return ours, theirs, shape


def close(a, b, what, rtol=1e-10):
    b = b.detach().numpy() if hasattr(b, "detach") else b
    np.testing.assert_allclose(np.asarray(a), b, rtol=rtol, atol=1e-12, err_msg=what)


def torch_grads(theirs, x, ct):
    xt = torch.from_numpy(x).requires_grad_()
    out = theirs(xt)
    out.backward(torch.from_numpy(ct))
    grads = {n: p.grad.clone() for n, p in theirs.named_parameters()}
    theirs.zero_grad()
    return out, xt.grad, grads


def ours_grads(ours, x, ct, stateful=False):
    def loss(m, x):
        if stateful:
            out, new = ft.nn.stateful(m)(x)
        else:
            out, new = m(x), m
        return fnp.sum(out * ct), (out, new)
    (_, (out, new)), (gm, gx) = ft.jit(ft.value_and_grad(loss, argnums=(0, 1), has_aux=True))(
        ours, fnp.asarray(x))
    return out, gx, gm, new


def param_grads(grad_model, names):
    got = dict(grad_model.named_parameters())
    return {n: got[n] for n in names}


WEIGHT_NORM_DIMS = [("Linear", 0), ("Linear", 1), ("Linear", None), ("Linear", -1),
                    ("Conv2d", 0), ("Conv2d", -2), ("ConvTranspose2d", 1)]


@pytest.mark.parametrize("name,dim", WEIGHT_NORM_DIMS)
@pytest.mark.parametrize("form", ["old", "parametrizations"])
def test_weight_norm_matches_torch(name, dim, form):
    ours_fn = U.weight_norm if form == "old" else U.parametrizations.weight_norm
    theirs_fn = tU.weight_norm if form == "old" else tU.parametrizations.weight_norm
    ours, theirs, shape = pair(name, lambda m: ours_fn(m, dim=dim),
                               lambda m: theirs_fn(m, dim=dim))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert type(ours).__name__ == type(theirs).__name__
    close(ours.weight, theirs.weight, "weight")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    t_out, t_gx, t_grads = torch_grads(theirs, x, ct := rng.standard_normal(
        tuple(theirs(torch.from_numpy(x)).shape)))
    out, gx, gm, _ = ours_grads(ours, x, ct)
    close(out, t_out, "output")
    close(gx, t_gx, "input gradient")
    for n, g in param_grads(gm, t_grads).items():
        close(g, t_grads[n], f"gradient of {n}")
    # and back: our state_dict loads into torch and gives the same weight
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    close(ours.weight, theirs.weight, "weight after the round trip")


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("form", ["old", "parametrizations"])
def test_spectral_norm_matches_torch_over_training_steps_and_eval(name, form):
    ours_fn = U.spectral_norm if form == "old" else U.parametrizations.spectral_norm
    theirs_fn = tU.spectral_norm if form == "old" else tU.parametrizations.spectral_norm
    key = ft.random.key(2)
    ours, theirs, shape = pair(name, lambda m: ours_fn(m, n_power_iterations=2, key=key),
                               lambda m: theirs_fn(m, n_power_iterations=2))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    buffers = [n for n, _ in theirs.named_buffers()]
    assert [n for n, _ in ours.named_buffers()] == buffers
    rng = np.random.default_rng(1)
    ct = rng.standard_normal(tuple(ours.eval()(fnp.ones(shape, F64)).shape))
    for step in range(3):
        x = rng.standard_normal(shape)
        t_out, t_gx, t_grads = torch_grads(theirs, x, ct)
        out, gx, gm, ours = ours_grads(ours, x, ct, stateful=True)
        close(out, t_out, f"step {step} output", rtol=1e-9)
        close(gx, t_gx, f"step {step} input gradient", rtol=1e-9)
        for n, g in param_grads(gm, t_grads).items():
            close(g, t_grads[n], f"step {step} gradient of {n}", rtol=1e-9)
        got = dict(ours.named_buffers())
        for n, b in theirs.named_buffers():
            close(got[n], b, f"step {step} buffer {n}", rtol=1e-9)
    ours, _ = ours.eval(), theirs.eval()
    before = {n: np.asarray(b) for n, b in ours.named_buffers()}
    x = rng.standard_normal(shape)
    t_out, t_gx, t_grads = torch_grads(theirs, x, ct)
    out, gx, gm, new = ours_grads(ours, x, ct, stateful=True)
    for n, b in new.named_buffers():                   # eval mode: u and v stay
        np.testing.assert_array_equal(np.asarray(b), before[n])
    close(out, t_out, "eval output", rtol=1e-9)
    for n, g in param_grads(gm, t_grads).items():
        close(g, t_grads[n], f"eval gradient of {n}", rtol=1e-9)
    for n, b in theirs.named_buffers():
        close(before[n], b, f"eval buffer {n}")
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})


def test_spectral_norm_of_a_vector_normalizes_it():
    ours, theirs, shape = pair("Linear",
                               lambda m: U.parametrizations.spectral_norm(m, "bias"),
                               lambda m: tU.parametrizations.spectral_norm(m, "bias"))
    close(ours.bias, theirs.bias, "bias")
    assert list(ours.state_dict()) == list(theirs.state_dict())


@pytest.mark.parametrize("form", ["weight_norm", "spectral_norm"])
def test_removing_matches_torch(form):
    key = ft.random.key(3)
    ours_fn, remove = getattr(U, form), getattr(U, "remove_" + form)
    kw = {"key": key} if form == "spectral_norm" else {}
    ours, theirs, _ = pair("Conv2d", lambda m: ours_fn(m, **kw),
                           lambda m: getattr(tU, form)(m))
    ours, theirs = remove(ours), getattr(tU, "remove_" + form)(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    close(ours.weight, theirs.weight, "weight")
    assert type(ours) is ft.nn.Conv2d


@pytest.mark.parametrize("leave", [True, False])
def test_remove_parametrizations_matches_torch(leave):
    ours, theirs, _ = pair("Linear", lambda m: U.parametrizations.spectral_norm(
        m, key=ft.random.key(4)), tU.parametrizations.spectral_norm)
    theirs.eval()
    ours = U.parametrize.remove_parametrizations(ours.eval(), "weight", leave)
    tU.parametrize.remove_parametrizations(theirs, "weight", leave)
    assert type(ours) is ft.nn.Linear
    assert list(ours.state_dict()) == list(theirs.state_dict())
    close(ours.weight, theirs.weight, "weight")


class Symmetric(ft.nn.Module):
    def __call__(self, x):
        return fnp.triu(x) + fnp.triu(x, 1).T


class TSymmetric(torch.nn.Module):
    def forward(self, x):
        return x.triu() + x.triu(1).transpose(0, 1)


class Scale(ft.nn.Module):
    def __init__(self):
        self.s = fnp.asarray(2.0, dtype=F64)

    def __call__(self, x):
        return x * self.s

    def right_inverse(self, x):
        return x / self.s


class TScale(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.s = torch.nn.Parameter(torch.tensor(2.0, dtype=torch.float64))

    def forward(self, x):
        return x * self.s

    def right_inverse(self, x):
        return x / self.s


def test_register_parametrization_stacks_as_torch():
    mo, mt = ft.nn.Linear(3, 3, key=ft.random.key(5), dtype=F64), torch.nn.Linear(3, 3).double()
    mo = mo.load_state_dict(mt.state_dict())
    for po, pt in ((Scale(), TScale()), (Symmetric(), TSymmetric())):
        mo = U.parametrize.register_parametrization(mo, "weight", po)
        tU.parametrize.register_parametrization(mt, "weight", pt)
    assert list(mo.state_dict()) == list(mt.state_dict())
    close(mo.weight, mt.weight, "weight")
    close(mo.parametrizations.weight.original, mt.parametrizations.weight.original, "original")
    x = np.random.default_rng(2).standard_normal((2, 3))
    ct = np.ones((2, 3))
    t_out, _, t_grads = torch_grads(mt, x, ct)
    out, _, gm, _ = ours_grads(mo, x, ct)
    close(out, t_out, "output")
    for n, g in param_grads(gm, t_grads).items():
        close(g, t_grads[n], f"gradient of {n}")
    assert U.parametrize.type_before_parametrizations(mo) is ft.nn.Linear


@pytest.mark.parametrize("transpose", [False, True])
def test_fuse_conv_bn_matches_torch(transpose):
    conv_t = (torch.nn.ConvTranspose2d if transpose else torch.nn.Conv2d)(2, 3, 2).double()
    conv_o = (ft.nn.ConvTranspose2d if transpose else ft.nn.Conv2d)(
        2, 3, 2, key=ft.random.key(6), dtype=F64).load_state_dict(conv_t.state_dict())
    bn_t = torch.nn.BatchNorm2d(3).double()
    with torch.no_grad():
        for t in (bn_t.weight, bn_t.bias, bn_t.running_mean):
            t.copy_(torch.randn(3))
        bn_t.running_var.copy_(torch.rand(3) + 0.5)
    bn_o = ft.nn.BatchNorm2d(3, dtype=F64).load_state_dict(bn_t.state_dict()).eval()
    conv_t.eval(), bn_t.eval()
    fused_t = tU.fuse_conv_bn_eval(conv_t, bn_t, transpose)
    fused_o = U.fuse_conv_bn_eval(conv_o, bn_o, transpose)
    close(fused_o.weight, fused_t.weight, "weight")
    close(fused_o.bias, fused_t.bias, "bias")
    x = np.random.default_rng(3).standard_normal((2, 2, 4, 4))
    close(fused_o(fnp.asarray(x)), bn_o(conv_o(fnp.asarray(x))), "fused forward", rtol=1e-9)


def test_fuse_linear_bn_matches_torch():
    lin_t, bn_t = torch.nn.Linear(3, 4).double().eval(), torch.nn.BatchNorm1d(4).double().eval()
    with torch.no_grad():
        bn_t.running_mean.copy_(torch.randn(4))
        bn_t.running_var.copy_(torch.rand(4) + 0.5)
        bn_t.weight.copy_(torch.randn(4))
    lin_o = ft.nn.Linear(3, 4, key=ft.random.key(7), dtype=F64).load_state_dict(
        lin_t.state_dict())
    bn_o = ft.nn.BatchNorm1d(4, dtype=F64).load_state_dict(bn_t.state_dict()).eval()
    fused_t, fused_o = tU.fuse_linear_bn_eval(lin_t, bn_t), U.fuse_linear_bn_eval(lin_o, bn_o)
    close(fused_o.weight, fused_t.weight, "weight")
    close(fused_o.bias, fused_t.bias, "bias")
    x = fnp.asarray(np.random.default_rng(4).standard_normal((5, 3)))
    close(fused_o(x), bn_o(lin_o(x)), "fused forward", rtol=1e-9)


def test_functional_call_matches_torch():
    from torch.func import functional_call
    mt = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)).double().eval()
    mo = ft.nn.Sequential(ft.nn.Linear(3, 4, key=ft.random.key(8), dtype=F64),
                          ft.nn.BatchNorm1d(4, dtype=F64)).eval()
    rng = np.random.default_rng(5)
    values = {"0.weight": rng.standard_normal((4, 3)), "1.running_mean": rng.standard_normal(4)}
    x = rng.standard_normal((2, 3))
    t_out = functional_call(mt, {k: torch.from_numpy(v) for k, v in values.items()},
                            (torch.from_numpy(x),))
    mo = mo.load_state_dict(mt.state_dict())
    ours = {k: fnp.asarray(v) for k, v in values.items()}
    close(U.stateless.functional_call(mo, ours, fnp.asarray(x)), t_out, "output")
    # gradients with respect to the dict, as torch.func.grad over functional_call
    t_g = torch.func.grad(lambda p: functional_call(mt, p, (torch.from_numpy(x),)).sum())(
        {"0.weight": torch.from_numpy(values["0.weight"])})
    g = ft.jit(ft.grad(lambda p: U.stateless.functional_call(mo, p, (fnp.asarray(x),)).sum()))(
        {"0.weight": ours["0.weight"]})
    close(g["0.weight"], t_g["0.weight"], "gradient")


@pytest.mark.parametrize("head_bias", [False, True])
def test_adaptive_log_softmax_matches_torch(head_bias):
    theirs = torch.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6], div_value=2.0,
                                                 head_bias=head_bias).double()
    ours = ft.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6], div_value=2.0, head_bias=head_bias,
                                            key=ft.random.key(9), dtype=F64)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours = ours.load_state_dict(theirs.state_dict())
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((7, 8)), np.array([0, 2, 3, 5, 6, 9, 4])
    xt = torch.from_numpy(x).requires_grad_()
    t_res = theirs(xt, torch.from_numpy(y))
    (t_res.loss + t_res.output[1]).backward()

    def f(m, x):
        res = m(x, fnp.asarray(y))
        return res.loss + res.output[1], res.output
    (_, out), (gm, gx) = ft.jit(ft.value_and_grad(f, argnums=(0, 1), has_aux=True))(
        ours, fnp.asarray(x))
    close(out, t_res.output, "output")
    close(gx, xt.grad, "input gradient")
    got = dict(gm.named_parameters())
    for n, p in theirs.named_parameters():
        close(got[n], p.grad, f"gradient of {n}")
    close(ours.log_prob(fnp.asarray(x)), theirs.log_prob(torch.from_numpy(x)), "log_prob")
    np.testing.assert_array_equal(np.asarray(ours.predict(fnp.asarray(x))),
                                  theirs.predict(torch.from_numpy(x)).numpy())
    one = ours(fnp.asarray(x[2]), fnp.asarray(y[2]))
    close(one.output, theirs(torch.from_numpy(x[2]), torch.tensor(y[2])).output, "1-d input")


class Holder(ft.nn.Module):
    """A bare weight (a matrix or a batch of them), the input multiplied by it."""

    def __init__(self, weight):
        self.weight = fnp.asarray(weight)

    def __call__(self, x):
        return x @ self.weight


class THolder(torch.nn.Module):
    def __init__(self, weight):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.from_numpy(weight))

    def forward(self, x):
        return x @ self.weight


ORTHOGONAL_CASES = [  # householder is real only (both refuse complex: see the error tests)
    (shape, dtype, orthogonal_map)
    for shape, dtype in [((4, 4), F64), ((5, 3), F64), ((3, 5), F64), ((2, 4, 3), F64),
                         ((3, 3), np.complex128), ((2, 4), np.complex128)]
    for orthogonal_map in [None, "matrix_exp", "cayley", "householder"]
    if dtype == F64 or orthogonal_map != "householder"]


@pytest.mark.parametrize("shape,dtype,orthogonal_map", ORTHOGONAL_CASES, ids=str)
@pytest.mark.parametrize("trivialization", [True, False])
def test_orthogonal_matches_torch(shape, dtype, orthogonal_map, trivialization):
    rng = np.random.default_rng(7)
    w = rng.standard_normal(shape)
    if dtype == np.complex128:
        w = w + 1j * rng.standard_normal(shape)
    torch.manual_seed(0)
    mt = tU.parametrizations.orthogonal(THolder(w.copy()), orthogonal_map=orthogonal_map,
                                        use_trivialization=trivialization)
    mo = U.parametrizations.orthogonal(Holder(w), orthogonal_map=orthogonal_map,
                                       use_trivialization=trivialization,
                                       key=ft.random.key(3))
    assert list(mo.state_dict()) == list(mt.state_dict())
    # the weight as made (a non-square trivialization's random columns do not reach it)
    close(mo.weight, mt.weight, "weight as made")
    if trivialization and shape[-1] != shape[-2]:
        mo = mo.load_state_dict(mt.state_dict())     # the random half of base
    for name, value in mt.state_dict().items():
        close(mo.state_dict()[name], value, name)
    q = np.asarray(mo.weight)
    gram = np.conj(np.swapaxes(q, -1, -2)) @ q if shape[-2] >= shape[-1] else \
        q @ np.conj(np.swapaxes(q, -1, -2))
    np.testing.assert_allclose(gram, np.broadcast_to(np.eye(min(shape[-2:])), gram.shape),
                               atol=1e-12)
    # outputs and gradients with respect to the original and the input, after a step
    x = rng.standard_normal((2, shape[-2])).astype(dtype)
    ct = np.ones(shape[:-2] + (2, shape[-1]))
    xt = torch.from_numpy(x).requires_grad_()
    out_t = mt(xt)
    out_t.real.backward(torch.from_numpy(ct)) if dtype == np.complex128 else \
        out_t.backward(torch.from_numpy(ct))

    def loss(m, x):
        out = m(x)
        return fnp.sum(fnp.real(out) * ct), out
    (_, out), (gm, gx) = ft.jit(ft.value_and_grad(loss, argnums=(0, 1), has_aux=True))(
        mo, fnp.asarray(x))
    close(out, out_t, "output")
    g_orig = mt.parametrizations.weight.original.grad
    got = dict(gm.named_parameters())["parametrizations.weight.original"]
    # torch's gradient of a real loss in a complex tensor is the conjugate of JAX's
    close(np.conj(np.asarray(got)) if dtype == np.complex128 else got, g_orig,
          "gradient of the original")
    close(np.conj(np.asarray(gx)) if dtype == np.complex128 else gx, xt.grad, "input gradient")


def test_orthogonal_on_a_linear_layer_matches_torch_and_removes_as_torch():
    mo, mt = ft.nn.Linear(3, 5, key=ft.random.key(5), dtype=F64), torch.nn.Linear(3, 5).double()
    mo = mo.load_state_dict(mt.state_dict())
    mo = U.parametrizations.orthogonal(mo, key=ft.random.key(6))
    tU.parametrizations.orthogonal(mt)
    assert list(mo.state_dict()) == list(mt.state_dict()) == [
        "bias", "parametrizations.weight.original", "parametrizations.weight.0.base"]
    mo = mo.load_state_dict(mt.state_dict())
    x = np.random.default_rng(3).standard_normal((4, 3))
    close(mo(fnp.asarray(x)), mt(torch.from_numpy(x)), "output")
    removed = U.parametrize.remove_parametrizations(mo, "weight")
    tU.parametrize.remove_parametrizations(mt, "weight")
    assert type(removed) is ft.nn.Linear
    close(removed.weight, mt.weight, "weight left")
