"""Test helpers: move a PyTorch module's parameters into the functrans module of the same
configuration by parameter name, and compare outputs and gradients with PyTorch's."""
import numpy as np

import functrans.numpy as fnp
from functrans.tree_util import tree_structure, tree_unflatten


def from_torch(ours, theirs):
    """`ours` with every parameter replaced by the PyTorch parameter of the same name; the two
    must have the same names in the same order (PyTorch's `named_parameters()`)."""
    names = [n for n, _ in ours.named_parameters()]
    their_names = [n for n, _ in theirs.named_parameters()]
    assert names == their_names, f"parameter names differ:\n{names}\n{their_names}"
    params = dict(theirs.named_parameters())
    shapes = [tuple(p.shape) for p in ours.parameters()]
    assert shapes == [tuple(params[n].shape) for n in names], "parameter shapes differ"
    return tree_unflatten(tree_structure(ours),
                          [fnp.asarray(params[n].detach().numpy()) for n in names])


def assert_close(got, want, rtol=1e-10, atol=1e-12, what=""):
    want = want.detach().numpy() if hasattr(want, "detach") else np.asarray(want)
    np.testing.assert_allclose(np.asarray(got), want, rtol=rtol, atol=atol, err_msg=what)


def assert_param_grads(grads, theirs, rtol=1e-10, atol=1e-12):
    """Our gradient module against the `.grad` of each PyTorch parameter, by name."""
    params = dict(theirs.named_parameters())
    named = grads.named_parameters()
    assert [n for n, _ in named] == list(params)
    for name, g in named:
        assert_close(g, params[name].grad, rtol, atol, name)
