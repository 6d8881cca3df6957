"""ft.nn.Module: pytree structure (leaf order = PyTorch's parameters()), static fields,
immutability, PyTorch-style printing, transforms over modules, partition/combine, train/eval."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.tree_util import keystr, tree_flatten, tree_leaves, tree_map

from lenet import Net, torch_net


def test_leaves_follow_field_order_with_pytorch_names():
    net = Net(ft.random.key(0))
    names = [n for n, _ in net.named_parameters()]
    assert names == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight",
                     "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]
    shapes = [p.shape for p in tree_leaves(net)]
    assert shapes == [(6, 3, 5, 5), (6,), (16, 6, 5, 5), (16,), (120, 400), (120,), (84, 120),
                      (84,), (10, 84), (10,)]
    assert [p.shape for p in net.parameters()] == shapes
    seq = ft.nn.Sequential(ft.nn.Linear(3, 4, key=ft.random.key(1)), ft.nn.ReLU(),
                           ft.nn.Linear(4, 2, bias=False, key=ft.random.key(2)))
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight"]
    assert seq[0].weight.shape == (4, 3) and seq[2].bias is None and len(seq) == 3
    assert isinstance(seq[1:], ft.nn.Sequential) and len(seq[1:]) == 2
    paths = [keystr(p) for p, _ in ft.tree_util.tree_flatten_with_path(seq)[0]]
    assert paths == ["[0].weight", "[0].bias", "[2].weight"]


def test_names_and_printing_match_pytorch():
    torch = pytest.importorskip("torch")
    tnn = torch.nn
    net, tnet = Net(ft.random.key(0)), torch_net()
    assert repr(net) == repr(tnet)
    assert [n for n, _ in net.named_parameters()] == [n for n, _ in tnet.named_parameters()]
    k = ft.random.key(0)
    pairs = [
        (ft.nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False, key=k),
         tnn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False)),
        (ft.nn.Conv2d(4, 8, (3, 5), dilation=2, groups=2, key=k),
         tnn.Conv2d(4, 8, (3, 5), dilation=2, groups=2)),
        (ft.nn.Linear(5, 2, key=k), tnn.Linear(5, 2)),
        (ft.nn.AvgPool2d(2), tnn.AvgPool2d(2)), (ft.nn.ReLU(), tnn.ReLU()),
        (ft.nn.Tanh(), tnn.Tanh()), (ft.nn.Sigmoid(), tnn.Sigmoid()),
        (ft.nn.GELU(), tnn.GELU()), (ft.nn.Softmax(dim=1), tnn.Softmax(dim=1)),
        (ft.nn.Flatten(), tnn.Flatten()), (ft.nn.LayerNorm(7), tnn.LayerNorm(7)),
        (ft.nn.Embedding(10, 3, key=k), tnn.Embedding(10, 3)),
    ]
    for ours, theirs in pairs:
        assert repr(ours) == repr(theirs)
    seq = ft.nn.Sequential(ft.nn.Linear(3, 4, key=k), ft.nn.ReLU(), ft.nn.Linear(4, 1, key=k))
    assert repr(seq) == repr(tnn.Sequential(tnn.Linear(3, 4), tnn.ReLU(), tnn.Linear(4, 1)))


def test_static_and_dynamic_fields():
    class Scaled(ft.nn.Module):
        weight: object
        scale: float = 2.0
        name: str = "s"
        table: object = ft.nn.field(static=True, default=(1, 2))

        def __call__(self, x):
            return x * self.weight * self.scale

    m = Scaled(fnp.ones(3))
    leaves, treedef = tree_flatten(m)
    assert len(leaves) == 1 and leaves[0].shape == (3,)
    rebuilt = ft.tree_util.tree_unflatten(treedef, [fnp.zeros(3)])
    assert isinstance(rebuilt, Scaled) and rebuilt.scale == 2.0 and rebuilt.table == (1, 2)
    # static values are part of the structure, so jit retraces when they change
    f = ft.jit(lambda m, x: m(x))
    np.testing.assert_array_equal(np.asarray(f(m, fnp.ones(3))), [2, 2, 2])
    np.testing.assert_array_equal(np.asarray(f(m.replace(scale=3.0), fnp.ones(3))), [3, 3, 3])
    assert f.cache_info().misses == 2
    assert tree_structure_equal(m, m.replace(weight=fnp.ones(3) * 5))
    assert not tree_structure_equal(m, m.replace(scale=3.0))


def tree_structure_equal(a, b):
    return ft.tree_util.tree_structure(a) == ft.tree_util.tree_structure(b)


def test_modules_are_immutable_and_replace_builds_copies():
    lin = ft.nn.Linear(2, 3, key=ft.random.key(0))
    with pytest.raises(AttributeError, match=r"immutable.*replace\(weight=\.\.\.\)"):
        lin.weight = fnp.zeros((3, 2))
    new = lin.replace(bias=None)
    assert new.bias is None and lin.bias is not None and new.weight is lin.weight
    with pytest.raises(AttributeError, match="no field"):
        lin.replace(bais=None)

    class Needs(ft.nn.Module):
        a: object
        b: object

        def __init__(self):
            self.a = 1

    with pytest.raises(TypeError, match="did not set the declared field.*b"):
        Needs()


def test_pytorch_style_module_without_annotations_and_forward():
    class Tiny(ft.nn.Module):
        def __init__(self, key):
            super().__init__()
            self.fc = ft.nn.Linear(2, 2, key=key)
            self.act = ft.nn.Tanh()
            self.hidden = 5

        def forward(self, x):
            return self.act(self.fc(x))

    m = Tiny(ft.random.key(0))
    x = fnp.ones((4, 2))
    assert m(x).shape == (4, 2)
    assert [n for n, _ in m.named_parameters()] == ["fc.weight", "fc.bias"]
    g = ft.grad(lambda m: fnp.sum(m(x)))(m)
    assert isinstance(g, Tiny) and g.hidden == 5 and g.fc.weight.shape == (2, 2)
    assert repr(m) == "Tiny(\n  (fc): Linear(in_features=2, out_features=2, bias=True)\n" \
                      "  (act): Tanh()\n)"


def test_vmap_builds_an_ensemble_of_modules():
    keys = ft.random.split(ft.random.key(0), 4)
    models = ft.vmap(lambda k: ft.nn.Linear(3, 2, key=k))(keys)
    assert models.weight.shape == (4, 2, 3)
    x = fnp.ones((5, 3))
    out = ft.vmap(lambda m: m(x))(models)
    for i in range(4):
        single = ft.nn.Linear(3, 2, key=keys[i])
        np.testing.assert_allclose(np.asarray(out[i]), np.asarray(single(x)), rtol=1e-6)


def test_partition_freezes_all_but_the_classifier():
    net = Net(ft.random.key(0), dtype=np.float64)
    x = fnp.asarray(np.random.default_rng(0).standard_normal((2, 3, 32, 32)))
    y = fnp.asarray([1, 2])

    def loss(model):
        return ft.nn.cross_entropy(model(x), y)
    trainable, frozen = ft.nn.partition(net, lambda path, _: keystr(path).startswith(".fc3"))
    assert [p.shape for p in tree_leaves(trainable)] == [(10, 84), (10,)]
    assert len(tree_leaves(frozen)) == 8
    grads = ft.grad(lambda t: loss(ft.nn.combine(t, frozen)))(trainable)
    full = ft.grad(loss)(net)
    np.testing.assert_allclose(np.asarray(grads.fc3.weight), np.asarray(full.fc3.weight))
    assert grads.conv1.weight is None
    opt = ft.optim.sgd(0.1, momentum=0.9)
    state = opt.init(trainable)
    updates, state = opt.update(grads, state, trainable)
    stepped = ft.nn.combine(ft.optim.apply_updates(trainable, updates), frozen)
    assert stepped.conv1.weight is net.conv1.weight
    assert not np.allclose(np.asarray(stepped.fc3.weight), np.asarray(net.fc3.weight))
    with pytest.raises(ValueError, match="different structure"):
        ft.nn.combine(trainable, {"a": 1})


def test_partition_takes_equinox_filter_specs():
    net = Net(ft.random.key(0), dtype=np.float64)
    arrays, rest = ft.nn.partition(net, ft.nn.is_array)        # a predicate of the leaf
    assert len(tree_leaves(arrays)) == 10 and tree_leaves(rest) == []
    tree = {"w": fnp.ones(2), "n": 3, "sub": {"x": fnp.zeros(1), "y": 2.0},
            "i": fnp.arange(2)}
    # a pytree prefix of bools and predicates, and Equinox's replace=
    spec = {"w": True, "n": False, "sub": lambda leaf: isinstance(leaf, float),
            "i": ft.nn.is_inexact_array}
    chosen, others = ft.nn.partition(tree, spec, replace=None)
    assert chosen["w"] is tree["w"] and chosen["sub"] == {"x": None, "y": 2.0}
    assert chosen["i"] is None and others["i"] is tree["i"] and others["n"] == 3
    assert ft.nn.combine(chosen, others) == tree
    with pytest.raises(ValueError, match="filter spec must be a prefix"):
        ft.nn.partition(tree, {"w": True, "n": False, "sub": True, "i": [True, False]})
    assert not ft.nn.is_inexact_array(fnp.arange(2)) and not ft.nn.is_array(2.0)


def test_train_and_eval_switch_dropout():
    seq = ft.nn.Sequential(ft.nn.Linear(4, 4, key=ft.random.key(0)), ft.nn.Dropout(0.5))
    x = fnp.ones((8, 4))
    with pytest.raises(ValueError, match="key"):
        seq(x)
    a = seq(x, key=ft.random.key(1))
    assert np.mean(np.asarray(a) == 0) > 0.2
    ev = seq.eval()
    assert ev[1].training is False and seq[1].training is True
    np.testing.assert_allclose(np.asarray(ev(x)), np.asarray(seq[0](x)))
    assert ev.train()[1].training is True
    rebuilt = tree_map(lambda p: p, seq)           # through flatten/unflatten
    assert rebuilt.eval()[1].training is False and repr(rebuilt) == repr(seq)


def test_lambda_and_sequential_errors():
    seq = ft.nn.Sequential(ft.nn.Lambda(ft.nn.relu), ft.nn.Identity())
    np.testing.assert_array_equal(np.asarray(seq(fnp.asarray([-1.0, 2.0]))), [0.0, 2.0])
    assert repr(seq) == "Sequential(\n  (0): Lambda(relu)\n  (1): Identity()\n)"
    with pytest.raises(TypeError, match="Lambda"):
        ft.nn.Sequential(ft.nn.relu)
    with pytest.raises(TypeError, match="key"):
        ft.nn.Linear(2, 3)


def test_optimizer_state_over_modules_is_a_pytree():
    net = Net(ft.random.key(0))
    opt = ft.optim.adam(1e-3)
    state = opt.init(net)
    assert isinstance(state.exp_avg, Net)
    zeros = tree_map(lambda p: fnp.zeros_like(p), net)
    updates, state = ft.jit(opt.update)(zeros, state, net)
    assert int(state.count) == 1
