"""The normalization, convolution, pooling, resizing, embedding and shape layers against
PyTorch in float64: weights moved from a torch module of the same configuration through
`load_state_dict`, then outputs, input and parameter gradients and updated buffers, in
training and in eval mode, over two steps. Skipped without torch.

The same cases run without torch under `jit`, `vmap` (per-example gradients) and
`ft.save`/`ft.load` in tests/test_nn_layers_transforms.py.
"""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp

from layer_cases import CASES, case_inputs, build_pair, ours_forward

torch = pytest.importorskip("torch")


def torch_forward(module, inputs, float_args, kwargs):
    args = [torch.from_numpy(a).requires_grad_() if i in float_args else torch.from_numpy(a)
            for i, a in enumerate(inputs)]
    out = module(*args, **kwargs)
    return out, args


def first(out):
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_layer_matches_torch(case):
    rng = np.random.default_rng(0)
    ours, theirs = build_pair(case, torch, rng)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for mode in case.modes:
        ours = ours.train(mode == "train")
        theirs.train(mode == "train")
        for step in range(2):
            inputs = case_inputs(case, rng)
            t_out, t_args = torch_forward(theirs, inputs, case.float_args, case.kwargs)
            ct = rng.standard_normal(tuple(first(t_out).shape))
            first(t_out).backward(torch.from_numpy(ct))

            def f(model, *xs):
                out, new = ours_forward(case, model, xs)
                return first(out), new
            (out, new), vjp_fn = _vjp(f, ours, inputs)
            np.testing.assert_allclose(np.asarray(out), first(t_out).detach().numpy(),
                                       rtol=1e-10, atol=1e-12, err_msg=f"{mode} output")
            if isinstance(t_out, tuple):            # (values, indices)
                got = ours_forward(case, ours, [fnp.asarray(a) for a in inputs])[0][1]
                np.testing.assert_array_equal(np.asarray(got), t_out[1].numpy())
            grads = vjp_fn(fnp.asarray(ct))
            g_model, g_inputs = grads[0], grads[1:]
            for i in case.float_args:
                np.testing.assert_allclose(np.asarray(g_inputs[i]), t_args[i].grad.numpy(),
                                           rtol=1e-9, atol=1e-11,
                                           err_msg=f"{mode} input {i} gradient")
            ours_grads = dict(g_model.named_parameters())
            for name, p in theirs.named_parameters():
                want = np.zeros(p.shape) if p.grad is None else p.grad.numpy()
                np.testing.assert_allclose(np.asarray(ours_grads[name]), want, rtol=1e-9,
                                           atol=1e-11, err_msg=f"{mode} gradient of {name}")
                p.grad = None
            # the buffers as updated by the step (PyTorch's max_norm also rewrites rows of
            # an embedding's weight in place, which here stays as it was)
            new_buffers = dict(new.named_buffers())
            assert list(new_buffers) == [n for n, _ in theirs.named_buffers()]
            for name, value in theirs.named_buffers():
                np.testing.assert_allclose(np.asarray(new_buffers[name]), value.numpy(),
                                           rtol=1e-12, atol=1e-14,
                                           err_msg=f"{mode} step {step}: {name}")
            ours = new


def _vjp(f, model, inputs):
    args = [fnp.asarray(a) for a in inputs]
    out, vjp_fn, new = ft.vjp(lambda m, *xs: f(m, *xs), model, *args, has_aux=True)
    return (out, new), vjp_fn


def test_weights_move_both_ways_through_safetensors(tmp_path):
    """A torch CNN with BatchNorm saved with safetensors.torch loads into the same functrans
    model and gives the same outputs; and back."""
    st_torch = pytest.importorskip("safetensors.torch")
    from layer_cases import TorchSmallCNN, SmallCNN
    tnet = TorchSmallCNN(torch).double()
    with torch.no_grad():
        for b in tnet.buffers():
            if b.dtype.is_floating_point:
                b.copy_(torch.rand_like(b) + 0.5)
    tnet.train()
    x = np.random.default_rng(1).standard_normal((4, 1, 8, 8))
    tnet(torch.from_numpy(x))                      # one step moves the running statistics
    tnet.eval()
    st_torch.save_file(tnet.state_dict(), str(tmp_path / "t.safetensors"))
    net = SmallCNN(key=ft.random.key(0), dtype=np.float64)
    net = net.load_state_dict(ft.nn.load_safetensors(tmp_path / "t.safetensors")).eval()
    np.testing.assert_allclose(np.asarray(net(x)), tnet(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-12, atol=1e-12)
    assert int(net.bn1.num_batches_tracked) == 1
    # back: train ours one step, save, load into a fresh torch net, same outputs
    _, net = ft.nn.stateful(net.train())(x)
    net = net.eval()
    ft.nn.save_safetensors(net, tmp_path / "f.safetensors")
    back = TorchSmallCNN(torch).double()
    back.load_state_dict(st_torch.load_file(str(tmp_path / "f.safetensors")))
    back.eval()
    np.testing.assert_allclose(back(torch.from_numpy(x)).detach().numpy(), np.asarray(net(x)),
                               rtol=1e-12, atol=1e-12)
    assert int(back.bn1.num_batches_tracked) == 2
    # torch tensors go straight into load_state_dict, and the float32 model keeps float32
    net32 = SmallCNN(key=ft.random.key(0)).load_state_dict(back.state_dict())
    assert net32.conv1.weight.dtype == np.float32 and net32.bn1.num_batches_tracked.dtype == \
        np.int64
