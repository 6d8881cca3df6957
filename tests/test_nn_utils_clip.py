"""`ft.nn.utils` gradient clipping and parameter vectors: PyTorch's math (against torch where
installed), any gradient tree, buffers left alone, under jit and grad, and loud in-place
names."""
import inspect

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp

U = ft.nn.utils
rng = np.random.default_rng(0)
GRADS = [rng.standard_normal((3, 4)), rng.standard_normal(5)]


def _model():
    keys = ft.random.split(ft.random.key(0), 2)
    return ft.nn.Sequential(ft.nn.Linear(3, 4, key=keys[0]), ft.nn.BatchNorm1d(4),
                            ft.nn.Linear(4, 2, key=keys[1]))


@pytest.mark.parametrize("norm_type", [2.0, 1, 3, float("inf"), "inf"])
def test_clip_grad_norm_scales_by_pytorchs_coefficient(norm_type):
    p = float(norm_type)
    flat = np.concatenate([g.ravel() for g in GRADS])
    want_norm = np.abs(flat).max() if p == np.inf else (np.abs(flat) ** p).sum() ** (1 / p)
    for fn in (U.clip_grad_norm, ft.jit(U.clip_grad_norm, static_argnums=(1, 2))):
        clipped, norm = fn(GRADS, 0.5, norm_type)
        np.testing.assert_allclose(float(norm), want_norm, rtol=1e-12)
        for c, g in zip(clipped, GRADS):
            np.testing.assert_allclose(np.asarray(c), g * 0.5 / (want_norm + 1e-6), rtol=1e-12)
    small, norm = U.clip_grad_norm(GRADS, 1e6, norm_type)
    for c, g in zip(small, GRADS):                   # below the limit: unchanged
        np.testing.assert_array_equal(np.asarray(c), g)


def test_against_torch():
    torch = pytest.importorskip("torch")
    params = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in GRADS]
    for p, g in zip(params, GRADS):
        p.grad = torch.tensor(g)
    norm = torch.nn.utils.clip_grad_norm_(params, 0.7, norm_type=3)
    ours, our_norm = U.clip_grad_norm(GRADS, 0.7, norm_type=3)
    np.testing.assert_allclose(float(our_norm), float(norm), rtol=1e-12)
    for o, p in zip(ours, params):
        np.testing.assert_allclose(np.asarray(o), p.grad.numpy(), rtol=1e-12)
    for p, g in zip(params, GRADS):
        p.grad = torch.tensor(g)
    torch.nn.utils.clip_grad_value_(params, 0.4)
    for o, p in zip(U.clip_grad_value(GRADS, 0.4), params):
        np.testing.assert_array_equal(np.asarray(o), p.grad.numpy())
    model, theirs = _model(), torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4),
                                                  torch.nn.Linear(4, 2)).double()
    theirs.load_state_dict({k: torch.tensor(v, dtype=torch.float64)
                            for k, v in model.state_dict().items()})
    np.testing.assert_allclose(np.asarray(U.parameters_to_vector(model)),
                               torch.nn.utils.parameters_to_vector(theirs.parameters()).detach(),
                               rtol=1e-6)
    same = {"get_total_norm": "get_total_norm", "parameters_to_vector": "parameters_to_vector",
            "vector_to_parameters": "vector_to_parameters", "clip_grad_norm": "clip_grad_norm_",
            "clip_grad_value": "clip_grad_value_", "clip_grads_with_norm": "clip_grads_with_norm_"}
    for ours, theirs in same.items():         # the first argument holds the gradients here
        a = list(inspect.signature(getattr(U, ours)).parameters)
        b = list(inspect.signature(getattr(torch.nn.utils, theirs)).parameters)
        assert a[1:] == b[1:], ours


def test_model_gradients_buffers_and_vectors():
    model = _model()
    grads = ft.grad(lambda m: fnp.sum(m(fnp.ones((2, 3)))))(model.eval())
    clipped, norm = ft.jit(lambda g: U.clip_grad_norm(g, 0.1))(grads)
    assert clipped[1].running_mean is None and float(norm) > 0.1
    np.testing.assert_allclose(float(U.get_total_norm(clipped)), 0.1, rtol=1e-5)
    assert isinstance(clipped, ft.nn.Sequential)
    vec = U.parameters_to_vector(model)
    assert vec.shape == (12 + 4 + 4 + 4 + 8 + 2,)
    doubled = U.vector_to_parameters(vec * 2, model)
    np.testing.assert_allclose(np.asarray(doubled[2].bias), 2 * np.asarray(model[2].bias))
    np.testing.assert_array_equal(np.asarray(doubled[1].running_var), np.ones(4))
    f = ft.jit(lambda m: fnp.sum(U.parameters_to_vector(
        U.vector_to_parameters(U.parameters_to_vector(m) ** 2, m))))
    np.testing.assert_allclose(float(f(model)), float(fnp.sum(vec ** 2)), rtol=1e-6)
    tree = {"w": np.ones((2, 2)), "b": np.zeros(3)}
    back = U.vector_to_parameters(np.arange(7.0), tree)
    np.testing.assert_array_equal(np.asarray(back["b"]), [0, 1, 2])   # sorted keys: b, w
    with pytest.raises(ValueError, match="vec has 6 elements but the parameters have 7"):
        U.vector_to_parameters(np.arange(6.0), tree)


def test_errors_and_in_place_names():
    with pytest.raises(TypeError, match=r"grads, norm = ft\.nn\.utils\.clip_grad_norm"):
        U.clip_grad_norm_(GRADS, 1.0)
    with pytest.raises(TypeError, match="clip_grad_value"):
        U.clip_grad_value_(GRADS, 1.0)
    with pytest.raises(RuntimeError, match="non-finite"):
        U.clip_grad_norm([np.array([np.inf, 1.0])], 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="needs concrete values"):
        ft.jit(lambda g: U.clip_grad_norm(g, 1.0, error_if_nonfinite=True))(GRADS)
    with np.errstate(invalid="ignore"):            # inf * 0, as in PyTorch
        clipped, norm = U.clip_grad_norm([np.array([np.inf, 1.0])], 1.0)
    assert np.isinf(float(norm)) and np.asarray(clipped[0])[1] == 0.0
    assert float(U.get_total_norm([])) == 0.0
