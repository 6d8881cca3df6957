"""`ft.nn.utils` weight/spectral normalization, parametrize, fusion, functional_call and
skip_init without torch: derivatives against finite differences, transforms, caching, and the
errors for bad input. PyTorch parity is in tests/test_nn_utils_parity.py."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.nn import utils as U
from functrans.nn.utils.weight_norm import norm_except_dim, weight_norm_value
from functrans.test_util import check_grads

F64 = np.float64


def linear(seed=0, n_in=3, n_out=4):
    return ft.nn.Linear(n_in, n_out, key=ft.random.key(seed), dtype=F64)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_weight_norm_value_derivatives(dim):
    rng = np.random.default_rng(0)
    v = fnp.asarray(rng.standard_normal((3, 4)))
    g = norm_except_dim(v, 2, dim) * 1.5
    check_grads(lambda v, g: weight_norm_value(v, g, dim), (v, g), order=2)


def test_spectral_norm_forward_derivatives_in_eval_mode():
    model = U.spectral_norm(linear(), key=ft.random.key(1)).eval()
    x = fnp.asarray(np.random.default_rng(1).standard_normal((2, 3)))
    check_grads(lambda w, x: model.replace(weight_orig=w)(x), (model.weight_orig, x), order=2)
    new = U.parametrizations.spectral_norm(linear(), key=ft.random.key(1)).eval()
    plist = new.parametrizations.weight
    check_grads(lambda w: plist.replace(originals=(w,)).value(), (plist.original,), order=1)


def test_weight_norm_keeps_the_weight_and_trains_under_jit():
    model = linear()
    for wn in (U.weight_norm(model), U.parametrizations.weight_norm(model, dim=None)):
        np.testing.assert_allclose(np.asarray(wn.weight), np.asarray(model.weight), rtol=1e-12)
        x = fnp.ones((2, 3), F64)

        @ft.jit
        def step(m):
            grads = ft.grad(lambda m: fnp.sum(m(x) ** 2))(m)
            return ft.tree_util.tree_map(lambda p, g: p - 0.1 * g, m, grads)
        new = step(wn)
        assert type(new) is type(wn)
        assert float(fnp.sum(new(x) ** 2)) < float(fnp.sum(wn(x) ** 2))


def test_vmap_over_examples_of_a_parametrized_layer():
    model = U.parametrizations.spectral_norm(linear(), key=ft.random.key(2)).eval()
    xs = fnp.asarray(np.random.default_rng(2).standard_normal((5, 3)))
    np.testing.assert_allclose(np.asarray(ft.vmap(model)(xs)), np.asarray(model(xs)),
                               rtol=1e-12)


def test_spectral_norm_power_method_converges_to_the_largest_singular_value():
    model = U.spectral_norm(linear(3, 6, 5), n_power_iterations=30, key=ft.random.key(3))
    _, model = ft.nn.stateful(model)(fnp.ones((1, 6), F64))
    top = np.linalg.svd(np.asarray(model.weight_orig), compute_uv=False)[0]
    assert abs(top - 1.0) > 0.1            # the normalization has something to do
    np.testing.assert_allclose(np.linalg.svd(np.asarray(model.eval().weight),
                                             compute_uv=False)[0], 1.0, rtol=1e-4)


class Counting(ft.nn.Module):
    calls = []

    def __call__(self, x):
        Counting.calls.append(1)
        return x * 2.0


def test_cached_computes_a_parametrization_once():
    model = U.parametrize.register_parametrization(linear(), "weight", Counting())
    Counting.calls.clear()
    model.weight, model.weight
    assert len(Counting.calls) == 2
    Counting.calls.clear()
    with U.parametrize.cached():
        a, b = model.weight, model.weight
    assert len(Counting.calls) == 1 and a is b
    assert U.parametrize.is_parametrized(model, "weight")
    assert not U.parametrize.is_parametrized(model, "bias")
    assert not U.parametrize.is_parametrized(linear())


def test_training_mode_spectral_norm_needs_stateful():
    model = U.parametrizations.spectral_norm(linear(), key=ft.random.key(4))
    with pytest.raises(RuntimeError, match="stateful"):
        model(fnp.ones((1, 3), F64))
    out, new = ft.nn.stateful(model)(fnp.ones((1, 3), F64))
    assert not np.array_equal(np.asarray(new.parametrizations.weight[0]._u),
                              np.asarray(model.parametrizations.weight[0]._u))


def test_fused_layers_compute_the_same_as_the_pair():
    conv = ft.nn.Conv1d(2, 3, 2, bias=False, key=ft.random.key(5), dtype=F64)
    bn = ft.nn.BatchNorm1d(3, affine=False, dtype=F64).eval()
    x = fnp.asarray(np.random.default_rng(3).standard_normal((2, 2, 5)))
    np.testing.assert_allclose(np.asarray(U.fuse_conv_bn_eval(conv, bn)(x)),
                               np.asarray(bn(conv(x))), rtol=1e-10, atol=1e-12)
    lin, bn1 = linear(), ft.nn.BatchNorm1d(1, dtype=F64).eval()
    x = fnp.asarray(np.random.default_rng(4).standard_normal((2, 3)))
    np.testing.assert_allclose(np.asarray(U.fuse_linear_bn_eval(lin, bn1)(x)),
                               np.asarray(bn1(lin(x)[:, None, :])[:, 0]), rtol=1e-10)


def test_skip_init_and_the_module_aliases():
    m = U.skip_init(ft.nn.Linear, 3, 4, dtype=F64)
    assert type(m) is ft.nn.Linear and m.weight.shape == (4, 3) and m.weight.dtype == F64
    bn = U.skip_init(ft.nn.BatchNorm2d, 3)
    assert bn.running_mean.shape == (3,) and bn.num_batches_tracked.dtype == np.int64
    assert U.clip_grad.clip_grad_norm is U.clip_grad_norm
    assert U.convert_parameters.vector_to_parameters is U.vector_to_parameters


def test_functional_call_replaces_by_name_and_leaves_the_module():
    model = ft.nn.Sequential(linear(), ft.nn.ReLU(), linear(1, 4, 2))
    x = fnp.ones((1, 3), F64)
    zero = {"2.weight": fnp.zeros((2, 4), F64)}
    np.testing.assert_array_equal(np.asarray(U.stateless.functional_call(model, zero, x)),
                                  np.asarray(model[2].bias)[None])
    assert float(fnp.sum(fnp.abs(model[2].weight))) > 0
    both = ({"2.weight": zero["2.weight"]}, {"2.bias": fnp.ones(2, F64)})
    np.testing.assert_array_equal(np.asarray(U.stateless.functional_call(model, both, (x,))),
                                  [[1.0, 1.0]])


class Scaled(ft.nn.Module):
    def __init__(self):
        self.lin = linear()
        self.scale = ft.nn.Buffer(fnp.ones(4, F64), persistent=False)

    def __call__(self, x):
        return self.lin(x) * self.scale


def test_functional_call_replaces_non_persistent_buffers_too():
    model, x = Scaled(), fnp.ones((1, 3), F64)
    assert "scale" not in model.state_dict()
    twice = U.stateless.functional_call(model, {"scale": fnp.full(4, 2.0, F64)}, x)
    np.testing.assert_allclose(np.asarray(twice), 2 * np.asarray(model(x)), rtol=1e-12)
    assert isinstance(model.scale, ft.Array) and float(model.scale[0]) == 1.0
    with pytest.raises(ValueError, match="Missing key.*'scale'"):
        U.stateless.functional_call(model, dict(model.named_parameters()), x, strict=True)


@pytest.mark.parametrize("orthogonal_map", ["matrix_exp", "cayley", "householder"])
@pytest.mark.parametrize("shape", [(3, 3), (4, 2), (2, 4)])
@pytest.mark.parametrize("trivialization", [True, False])
def test_orthogonal_derivatives_transforms_and_orthogonality(orthogonal_map, shape,
                                                             trivialization):
    model = ft.nn.Linear(shape[1], shape[0], key=ft.random.key(0), dtype=F64)
    model = U.parametrizations.orthogonal(model, orthogonal_map=orthogonal_map,
                                          use_trivialization=trivialization,
                                          key=ft.random.key(1))
    q = np.asarray(model.weight)
    small = min(shape)
    gram = q.T @ q if shape[0] >= shape[1] else q @ q.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-12)
    plist = model.parametrizations.weight
    rng = np.random.default_rng(4)
    start = plist.original + 0.1 * rng.standard_normal(shape)
    check_grads(lambda w: plist.replace(originals=(w,)).value(), (start,), order=2,
                modes=("fwd", "rev"))
    xs = fnp.asarray(rng.standard_normal((5, shape[1])))
    np.testing.assert_allclose(np.asarray(ft.vmap(model)(xs)), np.asarray(model(xs)),
                               rtol=1e-12)
    step = ft.jit(ft.grad(lambda m: fnp.sum(m(xs) ** 2)))(model)
    eager = ft.grad(lambda m: fnp.sum(m(xs) ** 2))(model)
    np.testing.assert_allclose(np.asarray(step.parametrizations.weight.original),
                               np.asarray(eager.parametrizations.weight.original), rtol=1e-10,
                               atol=1e-13)


def test_orthogonal_keeps_an_orthogonal_weight_and_starts_from_it():
    q = np.linalg.qr(np.random.default_rng(5).standard_normal((4, 4)))[0]
    model = ft.nn.Linear(4, 4, key=ft.random.key(0), dtype=F64).replace(weight=fnp.asarray(q))
    model = U.parametrizations.orthogonal(model)           # square: no key needed
    np.testing.assert_array_equal(np.asarray(model.parametrizations.weight[0].base), q)
    np.testing.assert_allclose(np.asarray(model.weight), q, atol=1e-15)
    np.testing.assert_array_equal(np.asarray(model.parametrizations.weight.original),
                                  -np.eye(4))


def test_bad_input_gets_clear_errors():
    m = linear()
    with pytest.raises(ValueError, match="'wieght' is not one of its parameters.*'weight'"):
        U.weight_norm(m, "wieght")
    with pytest.raises(ValueError, match="'running_mean' is a buffer"):
        U.spectral_norm(ft.nn.BatchNorm1d(3), "running_mean", key=ft.random.key(0))
    with pytest.raises(ValueError, match="key="):
        U.spectral_norm(m)
    with pytest.raises(ValueError, match="n_power_iterations"):
        U.spectral_norm(m, n_power_iterations=0, key=ft.random.key(0))
    with pytest.raises(ValueError, match="dim=2 is out of range"):
        U.weight_norm(m, dim=2)
    with pytest.raises(ValueError, match="weight_norm: dim=2 is out of range"):
        U.parametrizations.weight_norm(m, dim=2)
    with pytest.raises(ValueError, match="spectral_norm: dim=-3 is out of range"):
        U.parametrizations.spectral_norm(m, dim=-3, key=ft.random.key(0))
    with pytest.raises(ValueError, match="n_power_iterations=0"):
        U.parametrizations.spectral_norm(m, n_power_iterations=0, key=ft.random.key(0))
    with pytest.raises(ValueError, match="already has a weight_norm"):
        U.weight_norm(U.weight_norm(m))
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found"):
        U.remove_weight_norm(m)
    with pytest.raises(ValueError, match="spectral_norm of 'weight' not found"):
        U.remove_spectral_norm(U.weight_norm(m))
    with pytest.raises(TypeError, match="must be a Module"):
        U.parametrize.register_parametrization(m, "weight", lambda w: w)
    with pytest.raises(ValueError, match="may change neither"):
        U.parametrize.register_parametrization(m, "weight", ft.nn.Lambda(lambda w: w[:2]))
    with pytest.raises(ValueError, match="no parametrization on 'weight'"):
        U.parametrize.remove_parametrizations(m, "weight")
    with pytest.raises(ValueError, match="leave_parametrized=True"):
        U.parametrize.remove_parametrizations(U.parametrizations.weight_norm(m), "weight",
                                              leave_parametrized=False)
    with pytest.raises(ValueError, match="Missing key.*'weight'"):
        U.stateless.functional_call(m, {"bias": m.bias}, fnp.ones((1, 3)), strict=True)
    with pytest.raises(ValueError, match="multiple dictionaries"):
        U.stateless.functional_call(m, ({"bias": m.bias}, {"bias": m.bias}), fnp.ones((1, 3)))
    with pytest.raises(ValueError, match="parametrizations.weight.original"):
        U.stateless.functional_call(U.parametrizations.weight_norm(m), {"weight": m.weight},
                                    fnp.ones((1, 3)))
    with pytest.raises(ValueError, match="training mode"):
        U.fuse_linear_bn_eval(m, ft.nn.BatchNorm1d(4))
    with pytest.raises(ValueError, match="out_features"):
        U.fuse_linear_bn_eval(m, ft.nn.BatchNorm1d(3).eval())
    with pytest.raises(TypeError, match="Module class"):
        U.skip_init(m)
    orthogonal = U.parametrizations.orthogonal
    with pytest.raises(ValueError, match="no parameter or buffer named 'wieght'"):
        orthogonal(m, "wieght")
    with pytest.raises(ValueError, match=r"matrix or batch of matrices, got 'bias' of shape"):
        orthogonal(m, "bias")
    with pytest.raises(ValueError, match="orthogonal_map has to be one of"):
        orthogonal(m, orthogonal_map="qr")
    with pytest.raises(ValueError, match="key="):
        orthogonal(m)                                   # (4, 3): random completion
    with pytest.raises(ValueError, match="householder parametrization does not support"):
        orthogonal(m.replace(weight=fnp.ones((4, 3), np.complex128)),
                   orthogonal_map="householder")
    orth = orthogonal(m, use_trivialization=False)
    with pytest.raises(ValueError, match=r"shape \(4, 3\), got a tensor of shape \(3, 4\)"):
        orth.parametrizations.weight[0].right_inverse(fnp.ones((3, 4), F64))


def test_adaptive_log_softmax_derivatives_and_errors():
    layer = ft.nn.AdaptiveLogSoftmaxWithLoss(4, 6, [2, 4], div_value=2.0,
                                             key=ft.random.key(6), dtype=F64)
    x = fnp.asarray(np.random.default_rng(5).standard_normal((3, 4)))
    y = fnp.asarray(np.array([1, 3, 5]))
    check_grads(lambda x: layer(x, y).loss, (x,), order=2)
    probs = np.exp(np.asarray(layer.log_prob(x)))
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(layer(x, y).output),
                               np.log(probs[np.arange(3), [1, 3, 5]]), rtol=1e-12)
    with pytest.raises(ValueError, match=r"target values should be in \[0, 5\]"):
        layer(x, fnp.asarray(np.array([0, 6, 1])))
    with pytest.raises(ValueError, match="cutoffs"):
        ft.nn.AdaptiveLogSoftmaxWithLoss(4, 6, [4, 2], key=ft.random.key(0))
    with pytest.raises(ValueError, match=r"input should be \(N, 4\)"):
        layer(fnp.ones((3, 5)), y)
