"""Buffers and the habits around immutable modules: running statistics that grad treats as
constants and optimizers never change, `ft.nn.stateful` handing back updated buffers through
grad/jit/vmap, loud failures (a training BatchNorm whose statistics would be dropped,
`model.eval()` as a statement, a module placed twice), real constructor signatures,
ModuleList/ModuleDict, state_dict/load_state_dict and safetensors files."""
import inspect
import json

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.buffers import Buffer
from functrans.core import Tracer

from layer_cases import SmallCNN

F = ft.nn
rng = np.random.default_rng(0)
X = rng.standard_normal((6, 1, 8, 8))
Y = np.arange(6) % 10


def loss_fn(model, x, y):
    out, model = ft.nn.stateful(model)(x)
    return ft.nn.cross_entropy(out, y), model


def buffers_of(model):
    return {n: np.asarray(v) for n, v in model.named_buffers()}


# ------------------------------------------------------------------ grad and optimizers
def test_grad_passes_buffers_as_constants_and_returns_none_for_them():
    net = SmallCNN(key=ft.random.key(0), dtype=np.float64).eval()
    seen = []

    def loss(m):
        seen.append((m.bn1.running_mean, m.bn1.num_batches_tracked, m.conv1.weight))
        return ft.nn.cross_entropy(m(X), Y)
    g = ft.grad(loss)(net)
    running_mean, count, weight = seen[0]
    assert not isinstance(running_mean, Tracer) and not isinstance(count, Tracer)
    assert running_mean is net.bn1.running_mean and isinstance(weight, Tracer)
    assert g.bn1.running_mean is None and g.bn1.num_batches_tracked is None
    assert [n for n, _ in g.named_parameters()] == [n for n, _ in net.named_parameters()]
    flat, _ = ft.tree_util.tree_flatten(g, is_leaf=ft.buffers.is_buffer)
    assert sum(isinstance(x, Buffer) for x in flat) == 6
    # a plain pytree may hold Buffers too
    params = {"w": fnp.ones(3), "steps": Buffer(fnp.zeros((), np.int64))}
    g = ft.grad(lambda p: fnp.sum(p["w"] ** 2) * (p["steps"].value + 1))(params)
    assert isinstance(g["steps"], Buffer) and g["steps"].value is None
    np.testing.assert_array_equal(np.asarray(g["w"]), [2, 2, 2])


@pytest.mark.parametrize("opt", [
    ft.optim.sgd(0.1, momentum=0.9, weight_decay=0.5),
    ft.optim.sgd(0.1, momentum=0.9, nesterov=True, weight_decay=0.5),
    ft.optim.adam(0.1, weight_decay=0.5), ft.optim.adamw(0.1, weight_decay=0.5),
    ft.optim.rmsprop(0.1, momentum=0.5, centered=True, weight_decay=0.5),
    ft.optim.adagrad(0.1, weight_decay=0.5),
    ft.optim.chain(ft.optim.clip_by_global_norm(1.0), ft.optim.adam(0.1)),
    ft.optim.adamax(0.1, weight_decay=0.5), ft.optim.nadam(0.1, weight_decay=0.5),
    ft.optim.radam(0.1, weight_decay=0.5, decoupled_weight_decay=True),
    ft.optim.adamw(0.1, weight_decay=0.5, mask=lambda p: ft.tree_map(lambda a: a.ndim > 1, p)),
    ft.optim.masked(ft.optim.sgd(0.1, weight_decay=0.5),
                    lambda p: ft.tree_map(lambda a: a.ndim > 1, p)),
    ft.optim.multi_transform(
        {"w": ft.optim.sgd(0.1, weight_decay=0.5), "b": ft.optim.adam(0.1)},
        lambda p: ft.tree_map(lambda a: "w" if a.ndim > 1 else "b", p)),
    ft.optim.inject_hyperparams(ft.optim.sgd)(lr=0.1, momentum=0.9, weight_decay=0.5),
    ft.optim.chain(ft.optim.add_decayed_weights(0.5), ft.optim.sgd(0.1)),
], ids=["sgd", "nesterov", "adam", "adamw", "rmsprop", "adagrad", "chain", "adamax", "nadam",
        "radam", "adamw_mask", "masked", "multi_transform", "inject", "decayed_weights"])
def test_optimizers_never_change_buffers(opt):
    net = SmallCNN(key=ft.random.key(0), dtype=np.float64)
    _, net = ft.nn.stateful(net)(X)           # buffers away from their initial values
    before = buffers_of(net)
    ev = net.eval()
    state = opt.init(ev)
    for _ in range(3):
        grads = ft.grad(lambda m: ft.nn.cross_entropy(m(X), Y))(ev)
        updates, state = opt.update(grads, state, ev)
        ev = ft.optim.apply_updates(ev, updates)
    for name, value in buffers_of(ev).items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    assert not np.allclose(np.asarray(ev.conv1.weight), np.asarray(net.conv1.weight))
    # even hand-made "gradients" with arrays where the buffers are leave them alone
    ones = ft.tree_map(lambda p: fnp.ones_like(p), ev)
    updates, _ = opt.update(ones, opt.init(ev), ev)
    stepped = ft.optim.apply_updates(ev, updates)
    for name, value in buffers_of(stepped).items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)


def test_optimizer_state_holds_nothing_for_buffers():
    net = SmallCNN(key=ft.random.key(0))
    state = ft.optim.adam(1e-3).init(net)
    assert state.exp_avg.bn1.running_mean is None and state.exp_avg.bn1.weight.shape == (4,)
    n_params = sum(p.size for p in net.parameters())
    assert sum(x.size for x in ft.tree_util.tree_leaves(state.exp_avg)) == n_params


# ------------------------------------------------------------------ stateful training steps
def reference_batchnorm_update(x, running_mean, running_var, momentum):
    axes = (0,) + tuple(range(2, x.ndim))
    n = x.size // x.shape[1]
    mean, var = x.mean(axes), x.var(axes)
    return ((1 - momentum) * running_mean + momentum * mean,
            (1 - momentum) * running_var + momentum * var * n / (n - 1))


def test_jitted_step_returns_updated_buffers_and_is_compiled_once():
    opt = ft.optim.sgd(0.05, momentum=0.9, weight_decay=1e-3)

    @ft.jit
    def step(model, opt_state, x, y):
        (loss, model), grads = ft.value_and_grad(loss_fn, has_aux=True)(model, x, y)
        updates, opt_state = opt.update(grads, opt_state, model)
        return ft.optim.apply_updates(model, updates), opt_state, loss

    net = SmallCNN(key=ft.random.key(0), dtype=np.float64)
    eager_net, eager_state = net, opt.init(net)
    jit_net, jit_state = net, opt.init(net)
    for i in range(3):
        x = rng.standard_normal((6, 1, 8, 8))
        h = np.asarray(jit_net.conv1(x))
        want_mean, want_var = reference_batchnorm_update(
            h, np.asarray(jit_net.bn1.running_mean), np.asarray(jit_net.bn1.running_var), 0.1)
        jit_net, jit_state, loss = step(jit_net, jit_state, x, Y)
        np.testing.assert_allclose(np.asarray(jit_net.bn1.running_mean), want_mean, rtol=1e-12)
        np.testing.assert_allclose(np.asarray(jit_net.bn1.running_var), want_var, rtol=1e-12)
        assert int(jit_net.bn1.num_batches_tracked) == i + 1
        (e_loss, eager_net), grads = ft.value_and_grad(loss_fn, has_aux=True)(eager_net, x, Y)
        updates, eager_state = opt.update(grads, eager_state, eager_net)
        eager_net = ft.optim.apply_updates(eager_net, updates)
        np.testing.assert_allclose(float(loss), float(e_loss), rtol=1e-12)
    for (n, a), (_, b) in zip(eager_net.state_dict().items(), jit_net.state_dict().items()):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=n)
    assert step.cache_info().misses == 1 and step.cache_info().hits == 2
    assert jit_net.bn1.num_batches_tracked.dtype == np.int64


def test_a_layer_called_twice_updates_its_statistics_twice():
    """A shared BatchNorm called twice in one forward: the second call starts from the first
    call's statistics, as PyTorch's in-place update does."""
    class Twice(ft.nn.Module):
        def __init__(self):
            self.bn = ft.nn.BatchNorm1d(2, momentum=0.5, dtype=np.float64)

        def __call__(self, a, b):
            return self.bn(a) + self.bn(b)
    a, b = rng.standard_normal((5, 2)), rng.standard_normal((5, 2))
    _, m = ft.nn.stateful(Twice())(a, b)
    mean1, var1 = reference_batchnorm_update(a, np.zeros(2), np.ones(2), 0.5)
    mean2, var2 = reference_batchnorm_update(b, mean1, var1, 0.5)
    np.testing.assert_allclose(np.asarray(m.bn.running_mean), mean2, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(m.bn.running_var), var2, rtol=1e-12)
    assert int(m.bn.num_batches_tracked) == 2


def test_stateful_without_updates_returns_the_model_itself():
    net = SmallCNN(key=ft.random.key(0)).eval()
    out, same = ft.nn.stateful(net)(X.astype(np.float32))
    assert same is net and out.shape == (6, 10)
    with pytest.raises(TypeError, match="takes a Module"):
        ft.nn.stateful(lambda x: x)


def test_nested_stateful_calls_pass_updates_up():
    class Outer(ft.nn.Module):
        def __init__(self):
            self.block = ft.nn.Sequential(ft.nn.Linear(3, 3, key=ft.random.key(0)),
                                          ft.nn.BatchNorm1d(3))
            self.bn = ft.nn.BatchNorm1d(3)

        def __call__(self, x):
            h, _ = ft.nn.stateful(self.block)(x)      # its new model is dropped here...
            return self.bn(h)
    _, m = ft.nn.stateful(Outer())(rng.standard_normal((4, 3)))
    assert int(m.bn.num_batches_tracked) == 1
    assert int(m.block[1].num_batches_tracked) == 1    # ...but the outer call keeps it


# ------------------------------------------------------------------ loud failures
def test_training_batchnorm_outside_stateful_raises():
    net = SmallCNN(key=ft.random.key(0), dtype=np.float64)
    hint = r"ft\.nn\.stateful\(model\)\(x\).*model = model\.eval\(\)"
    with pytest.raises(RuntimeError, match="BatchNorm2d.*training mode.*" + hint):
        net(X)
    with pytest.raises(RuntimeError, match=hint):
        ft.grad(lambda m: ft.nn.cross_entropy(m(X), Y))(net)
    with pytest.raises(RuntimeError, match=hint):
        ft.jit(lambda m: m(X))(net)
    net.eval()(X)                      # eval mode updates nothing
    ft.nn.BatchNorm2d(4, track_running_stats=False)(fnp.ones((2, 4, 3, 3)))


def test_statistics_computed_inside_an_inner_transform_raise():
    bn = ft.nn.BatchNorm1d(3)
    model = ft.nn.Sequential(bn)

    class PerExample(ft.nn.Module):
        def __init__(self):
            self.inner = model

        def __call__(self, x):
            return ft.vmap(lambda xi: self.inner(xi[None])[0])(x)
    with pytest.raises(RuntimeError, match=r"inside a transform \(.*\).*vmap"):
        ft.nn.stateful(PerExample())(fnp.ones((4, 3, 2)))


def test_a_module_outside_the_model_cannot_record_updates():
    stray = ft.nn.BatchNorm1d(2)

    class UsesStray(ft.nn.Module):
        def __init__(self):
            self.lin = ft.nn.Linear(2, 2, key=ft.random.key(0))

        def __call__(self, x):
            return stray(self.lin(x))
    with pytest.raises(RuntimeError, match="not part of the UsesStray"):
        ft.nn.stateful(UsesStray())(fnp.ones((3, 2)))


def test_update_buffers_checks_names_and_shapes():
    bn = ft.nn.BatchNorm1d(2)
    with pytest.raises(AttributeError, match=r"\['weight'\] are not buffers"):
        bn.update_buffers(weight=fnp.ones(2))
    with pytest.raises(ValueError, match=r"running_mean has shape \(2,\) but the new value has "
                                         r"shape \(3,\)"):
        with_session = ft.nn.stateful(ft.nn.Lambda(
            lambda x: bn.update_buffers(running_mean=fnp.ones(3))))
        with_session(0)


@pytest.mark.parametrize("method,fix", [
    ("model.eval()", "model = model.eval()"), ("model.train()", "model = model.train()"),
    ("model.train(False)", "model = model.train(False)"),
    ("model.load_state_dict(weights)", "model = model.load_state_dict(state_dict)")])
def test_discarded_eval_train_and_load_state_dict_raise(method, fix):
    model = ft.nn.Sequential(ft.nn.Linear(3, 3, key=ft.random.key(0)), ft.nn.Dropout(0.5))
    weights = model.state_dict()
    env = {"model": model, "weights": weights}
    with pytest.raises(RuntimeError, match=r"returns a new module .* Write `" +
                       fix.replace("(", r"\(").replace(")", r"\)") + "`"):
        exec(method, env)
    with pytest.raises(RuntimeError, match="returns a new module"):    # the REPL's mode
        exec(compile(method, "<stdin>", "single"), env)
    exec(f"model = {method}", env)                 # used: fine
    exec(f"print({method})", env)
    exec(f"copies = [{method} for _ in range(2)]", env)


def test_eval_statement_in_ipython_raises_and_the_assignment_turns_dropout_off():
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell
    shell = InteractiveShell.instance()
    model = ft.nn.Sequential(ft.nn.Linear(4, 4, key=ft.random.key(0)), ft.nn.Dropout(0.5))
    shell.user_ns["model"] = model
    result = shell.run_cell("model.eval()", silent=True)     # a cell's last line: displayed
    assert isinstance(result.error_in_exec, RuntimeError)
    result = shell.run_cell("model.eval()\nx = 1", silent=True)
    assert isinstance(result.error_in_exec, RuntimeError)
    assert shell.run_cell("model = model.eval()", silent=True).success
    ev = shell.user_ns["model"]
    x = fnp.ones((3, 4))
    np.testing.assert_array_equal(np.asarray(ev(x)), np.asarray(ev[0](x)))


def test_a_module_or_array_placed_twice_is_refused_at_construction():
    lin = ft.nn.Linear(3, 3, key=ft.random.key(0))

    class Twice(ft.nn.Module):
        def __init__(self):
            self.encoder = lin
            self.decoder = lin
    with pytest.raises(ValueError, match=r"Twice: the same Linear .* at both 'encoder' and "
                                         r"'decoder'.*call that field"):
        Twice()
    with pytest.raises(ValueError, match=r"at both '0' and '2'"):
        ft.nn.Sequential(lin, ft.nn.ReLU(), lin)
    with pytest.raises(ValueError, match=r"same array is placed at both 'a.weight' and "
                                         r"'b.weight'"):
        class Tied(ft.nn.Module):
            def __init__(self):
                self.a = ft.nn.Linear(3, 3, key=ft.random.key(0))
                self.b = ft.nn.Linear(3, 3, key=ft.random.key(1)).replace(weight=self.a.weight)
        Tied()
    net = ft.nn.Sequential(lin, ft.nn.ReLU(), ft.nn.Linear(3, 3, key=ft.random.key(1)))
    with pytest.raises(ValueError, match="same Linear"):
        ft.nn.ModuleList([net[0], net[0]])
    relu = ft.nn.ReLU()                      # no arrays, nothing to diverge: fine
    ft.nn.Sequential(lin, relu, ft.nn.Linear(3, 3, key=ft.random.key(1)), relu)

    class Holder(ft.nn.Module):
        def __init__(self):
            self.a = ft.nn.Linear(2, 2, key=ft.random.key(0))
            self.b = ft.nn.Linear(2, 2, key=ft.random.key(1))
    h = Holder()
    with pytest.raises(ValueError, match="at both 'a' and 'b'"):
        h.replace(b=h.a)


# ------------------------------------------------------------------ signatures
def module_classes():
    return sorted((name, obj) for name, obj in vars(ft.nn).items()
                  if isinstance(obj, type) and issubclass(obj, ft.nn.Module)
                  and obj is not ft.nn.Module)


@pytest.mark.parametrize("name,cls", module_classes(), ids=[n for n, _ in module_classes()])
def test_every_layer_shows_its_constructor_signature(name, cls):
    sig = inspect.signature(cls)
    init = inspect.signature(cls.__init__)
    assert list(sig.parameters) == list(init.parameters)[1:]
    assert str(sig) != "(*args, **kwargs)" or name == "Identity"
    import pydoc
    assert f"{name}{sig}" in pydoc.render_doc(cls).replace("\n", "")


NEW_LAYERS = ["BatchNorm1d", "BatchNorm2d", "GroupNorm", "InstanceNorm2d", "Conv1d", "Conv2d",
              "ConvTranspose1d", "ConvTranspose2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
              "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "Upsample", "Identity", "Unflatten",
              "ModuleList", "ModuleDict", "Embedding", "EmbeddingBag", "Linear", "LayerNorm",
              "Flatten", "Softmax", "GELU"]


@pytest.mark.parametrize("name", NEW_LAYERS)
def test_constructor_arguments_and_defaults_are_pytorchs(name):
    """PyTorch's positional and keyword arguments, in order, with the same defaults (device,
    dtype and PyTorch's private `_weight`/`_freeze` aside); ours add `key=` and `dtype=`
    (keyword-only), and BatchNorm `axis_name=`."""
    torch = pytest.importorskip("torch")
    theirs = inspect.signature(getattr(torch.nn, name)).parameters
    ours = inspect.signature(getattr(ft.nn, name)).parameters
    want = [(n, p.default, p.kind) for n, p in theirs.items()
            if n not in ("device", "dtype") and not n.startswith("_")]
    got = [(n, p.default, p.kind) for n, p in ours.items()
           if n not in ("key", "dtype", "axis_name")]
    assert got == want


# ------------------------------------------------------------------ containers
def test_module_list_and_dict_behave_like_pytorchs():
    torch = pytest.importorskip("torch")
    k = ft.random.key(0)
    layers = ft.nn.ModuleList([ft.nn.Linear(2, 2, key=k), ft.nn.Linear(2, 2, key=k),
                               ft.nn.ReLU(), ft.nn.BatchNorm1d(2)])
    theirs = torch.nn.ModuleList([torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), torch.nn.ReLU(),
                                  torch.nn.BatchNorm1d(2)])
    assert repr(layers) == repr(theirs)
    assert list(layers.state_dict()) == list(theirs.state_dict())
    assert len(layers) == 4 and isinstance(layers[1:3], ft.nn.ModuleList)
    assert [type(m).__name__ for m in layers] == ["Linear", "Linear", "ReLU", "BatchNorm1d"]
    heads = ft.nn.ModuleDict({"cls": ft.nn.Linear(2, 3, key=k), "box": ft.nn.Linear(2, 4, key=k)})
    t_heads = torch.nn.ModuleDict({"cls": torch.nn.Linear(2, 3), "box": torch.nn.Linear(2, 4)})
    assert repr(heads) == repr(t_heads) and list(heads) == ["cls", "box"]
    assert list(heads.state_dict()) == list(t_heads.state_dict())
    assert "cls" in heads and heads["box"].out_features == 4 and len(heads) == 2
    assert [k for k, _ in heads.items()] == ["cls", "box"]
    paths = [ft.tree_util.keystr(p) for p, _ in ft.tree_util.tree_flatten_with_path(heads)[0]]
    assert paths == ["['cls'].weight", "['cls'].bias", "['box'].weight", "['box'].bias"]
    with pytest.raises(RuntimeError, match=r"self\.layers = self\.layers\.append\(module\)"):
        layers.append(ft.nn.ReLU())
    longer = layers.append(ft.nn.ReLU())
    assert len(longer) == 5 and len(layers) == 4
    with pytest.raises(TypeError, match="not a Module"):
        ft.nn.ModuleList([ft.nn.relu])


def test_containers_in_a_model_train_and_update_their_batchnorms():
    class Net(ft.nn.Module):
        def __init__(self, key):
            keys = ft.random.split(key, 3)
            self.blocks = ft.nn.ModuleList([
                ft.nn.Sequential(ft.nn.Linear(3, 3, key=kk), ft.nn.BatchNorm1d(3),
                                 ft.nn.Dropout(0.2)) for kk in keys[:2]])
            self.heads = ft.nn.ModuleDict({"a": ft.nn.Linear(3, 1, key=keys[2])})

        def __call__(self, x, key=None):
            for block in self.blocks:
                x = block(x, key=key)
            return self.heads["a"](x)
    net = Net(ft.random.key(0))
    names = list(net.state_dict())
    assert names[:7] == ["blocks.0.0.weight", "blocks.0.0.bias", "blocks.0.1.weight",
                         "blocks.0.1.bias", "blocks.0.1.running_mean",
                         "blocks.0.1.running_var", "blocks.0.1.num_batches_tracked"]
    assert names[-2:] == ["heads.a.weight", "heads.a.bias"]
    _, new = ft.nn.stateful(net)(fnp.ones((4, 3)), key=ft.random.key(1))
    assert [int(b[1].num_batches_tracked) for b in new.blocks] == [1, 1]
    ev = new.eval()
    assert all(not b[2].training and not b[1].training for b in ev.blocks)
    g = ft.grad(lambda m: fnp.sum(m(fnp.ones((4, 3)))))(ev)
    assert g.blocks[0][1].running_mean is None and g.heads["a"].weight.shape == (1, 3)


def test_parameter_list_and_dict_train_save_and_print_like_pytorchs():
    class Net(ft.nn.Module):
        def __init__(self):
            self.scales = ft.nn.ParameterList([ft.nn.Parameter(np.full(3, 2.0)), fnp.ones(3)])
            self.extra = ft.nn.ParameterDict({"shift": np.zeros(3), "gain": fnp.ones(1)})

        def __call__(self, x):
            for s in self.scales:
                x = x * s
            return fnp.sum(x * self.extra["gain"] + self.extra["shift"])
    net = Net()
    assert list(net.state_dict()) == ["scales.0", "scales.1", "extra.shift", "extra.gain"]
    g = ft.jit(ft.grad(lambda m: m(fnp.arange(3.0))))(net)
    assert isinstance(g.scales, ft.nn.ParameterList) and isinstance(g.extra, ft.nn.ParameterDict)
    np.testing.assert_allclose(np.asarray(g.scales[1]), [0.0, 2.0, 4.0])
    np.testing.assert_allclose(np.asarray(g.extra["shift"]), [1.0, 1.0, 1.0])
    opt = ft.optim.sgd(0.5)
    updates, _ = opt.update(g, opt.init(net), net)
    stepped = ft.optim.apply_updates(net, updates)
    np.testing.assert_allclose(np.asarray(stepped.scales[1]), [1.0, 0.0, -1.0])
    loaded = Net().load_state_dict(stepped.state_dict())
    np.testing.assert_allclose(np.asarray(loaded.extra["gain"]), np.asarray(stepped.extra["gain"]))
    longer = net.scales.append(fnp.ones(3))
    assert len(longer) == 3 and len(net.scales) == 2
    assert isinstance(longer[1:], ft.nn.ParameterList) and list(net.extra) == ["shift", "gain"]
    with pytest.raises(RuntimeError, match=r"self\.layers = self\.layers\.append\(param\)"):
        net.scales.append(fnp.ones(3))
    with pytest.raises(TypeError, match="entry 0 is a ReLU, not an array"):
        ft.nn.ParameterList([ft.nn.ReLU()])
    with pytest.raises(TypeError, match="keys must be strings"):
        ft.nn.ParameterDict({1: fnp.ones(1)})
    with pytest.raises(ValueError, match="register_buffer"):
        ft.nn.Parameter(fnp.ones(2), requires_grad=False)
    assert repr(ft.nn.ParameterList()) == "ParameterList()"
    assert repr(net.extra) == ("ParameterDict(\n    (shift): Parameter containing: [float64 of "
                               "size 3]\n    (gain): Parameter containing: [float32 of size 1]\n)")
    torch = pytest.importorskip("torch")
    theirs = torch.nn.ParameterList([torch.nn.Parameter(torch.ones(2, 3)),
                                     torch.nn.Parameter(torch.ones(3))])
    ours = ft.nn.ParameterList([fnp.ones((2, 3)), fnp.ones(3)])
    assert repr(ours) == repr(theirs).replace("torch.", "")
    assert list(ours.state_dict()) == list(theirs.state_dict())


# ------------------------------------------------------------------ buffers in user modules
def test_register_buffer_and_buffer_assignment():
    class Counter(ft.nn.Module):
        def __init__(self):
            self.lin = ft.nn.Linear(2, 2, key=ft.random.key(0))
            self.register_buffer("calls", 0)
            self.scale = ft.nn.Buffer(fnp.ones(2), persistent=False)

        def __call__(self, x):
            self.update_buffers(calls=self.get_buffer("calls") + 1)
            return self.lin(x) * self.scale
    c = Counter()
    assert [n for n, _ in c.named_buffers()] == ["calls", "scale"]
    assert list(c.state_dict()) == ["calls", "lin.weight", "lin.bias"]     # PyTorch's order
    assert [n for n, _ in c.named_parameters()] == ["lin.weight", "lin.bias"]
    assert c.calls.dtype == np.int64 and isinstance(c.scale, ft.Array)
    _, c2 = ft.nn.stateful(c)(fnp.ones((1, 2)))
    _, c3 = ft.nn.stateful(c2)(fnp.ones((1, 2)))
    assert int(c3.calls) == 2 and int(c.calls) == 0
    assert c3.get_buffer("calls") is c3.calls
    holder = ft.nn.Sequential(c3)
    assert int(holder.get_buffer("0.calls")) == 2
    with pytest.raises(AttributeError, match="no buffer 'lin'"):
        c.get_buffer("lin")
    with pytest.raises(AttributeError, match="only be called in __init__"):
        c.register_buffer("x", 1)


# ------------------------------------------------------------------ state_dict
def test_state_dict_is_pytorch_named_numpy_and_a_copy():
    net = SmallCNN(key=ft.random.key(0))
    sd = net.state_dict()
    assert list(sd) == ["conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias",
                        "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
                        "conv2.weight", "conv2.bias", "bn2.weight", "bn2.bias",
                        "bn2.running_mean", "bn2.running_var", "bn2.num_batches_tracked",
                        "fc.weight", "fc.bias"]
    assert all(type(v) is np.ndarray for v in sd.values())
    sd["conv1.weight"][...] = 0
    assert np.asarray(net.conv1.weight).any()
    seq = ft.nn.Sequential(ft.nn.Conv2d(1, 2, 3, key=ft.random.key(0)), ft.nn.BatchNorm2d(2))
    assert list(seq.state_dict())[:3] == ["0.weight", "0.bias", "1.weight"]


def test_load_state_dict_checks_everything_in_one_error():
    net = SmallCNN(key=ft.random.key(0))
    other = SmallCNN(key=ft.random.key(1))
    loaded = net.load_state_dict(other.state_dict())
    for (n, a), (_, b) in zip(loaded.state_dict().items(), other.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=n)
    assert loaded is not net and np.asarray(net.conv1.weight).tolist() != \
        np.asarray(loaded.conv1.weight).tolist()
    bad = other.state_dict()
    del bad["fc.bias"], bad["bn1.running_var"]
    bad["extra"] = np.zeros(1)
    bad["conv2.weight"] = np.zeros((8, 4, 5, 5))
    with pytest.raises(RuntimeError) as info:
        _ = net.load_state_dict(bad)
    msg = str(info.value)
    assert msg.startswith("Error(s) in loading state_dict for SmallCNN:")
    assert 'Missing key(s) in state_dict: "bn1.running_var", "fc.bias".' in msg
    assert 'Unexpected key(s) in state_dict: "extra".' in msg
    assert "size mismatch for conv2.weight: copying a param with shape (8, 4, 5, 5) from " \
           "checkpoint, the shape in current model is (8, 4, 3, 3)." in msg
    del bad["conv2.weight"]
    partial = net.load_state_dict(bad, strict=False)
    np.testing.assert_array_equal(np.asarray(partial.fc.bias), np.asarray(net.fc.bias))
    np.testing.assert_array_equal(np.asarray(partial.fc.weight), other.state_dict()["fc.weight"])
    f64 = {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in
           other.state_dict().items()}
    assert net.load_state_dict(f64).conv1.weight.dtype == np.float32
    with pytest.raises(TypeError, match="dict of arrays"):
        _ = net.load_state_dict([1, 2])


# ------------------------------------------------------------------ safetensors
def test_safetensors_round_trip(tmp_path):
    pytest.importorskip("safetensors.numpy")
    net = SmallCNN(key=ft.random.key(0))
    _, net = ft.nn.stateful(net)(X.astype(np.float32))
    path = tmp_path / "net.safetensors"
    ft.nn.save_safetensors(net, path, metadata={"step": "1"})
    loaded = ft.nn.load_safetensors(path)
    assert set(loaded) == set(net.state_dict())
    for name, value in net.state_dict().items():
        assert loaded[name].dtype == value.dtype and loaded[name].shape == value.shape
        np.testing.assert_array_equal(loaded[name], value)
    fresh = SmallCNN(key=ft.random.key(5)).load_state_dict(loaded)
    x = X.astype(np.float32)
    np.testing.assert_array_equal(np.asarray(fresh.eval()(x)), np.asarray(net.eval()(x)))
    arrays = {"b": np.arange(6, dtype=np.int16).reshape(2, 3), "a": np.array(True),
              "c": np.zeros((0, 2), np.float16)}
    ft.nn.save_safetensors(arrays, tmp_path / "misc.safetensors")
    back = ft.nn.load_safetensors(tmp_path / "misc.safetensors")
    for k, v in arrays.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v)


def test_safetensors_refuses_bad_files(tmp_path):
    pytest.importorskip("safetensors.numpy")
    (tmp_path / "short").write_bytes(b"abc")
    with pytest.raises(ValueError, match="short.*not a valid safetensors file"):
        ft.nn.load_safetensors(tmp_path / "short")
    (tmp_path / "huge").write_bytes((10 ** 12).to_bytes(8, "little") + b"{}")
    with pytest.raises(ValueError, match="not a valid safetensors file.*too large"):
        ft.nn.load_safetensors(tmp_path / "huge")
    _write_safetensors(tmp_path / "f8", [("x", "F8_E4M3", [2], b"\0\0")])
    with pytest.raises(ValueError, match="'x' is F8_E4M3.*convert it in PyTorch"):
        ft.nn.load_safetensors(tmp_path / "f8")
    header = b'{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}'
    (tmp_path / "bad").write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 4)
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        ft.nn.load_safetensors(tmp_path / "bad")
    with pytest.raises(TypeError, match="object"):
        ft.nn.save_safetensors({"s": np.array(["a"], object)}, tmp_path / "o")


def _write_safetensors(path, entries):
    """A safetensors file written byte by byte: `entries` are (name, dtype, shape, data)."""
    header, data = {}, b""
    for name, dtype, shape, raw in entries:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text + data)


# bfloat16 bit patterns and their values: 1, -2, 0.5 + 2**-8, the smallest subnormal, -0,
# inf, a NaN, the largest finite value
_BF16_BITS = np.array([0x3F80, 0xC000, 0x3F01, 0x0001, 0x8000, 0x7F80, 0x7FC1, 0x7F7F],
                      np.uint16)


def test_safetensors_bfloat16_loads_as_float32(tmp_path):
    """Written by hand (no PyTorch): bfloat16 is the high half of a float32, bit for bit."""
    pytest.importorskip("safetensors.numpy")
    ints = np.arange(3, dtype=np.int64)
    _write_safetensors(tmp_path / "bf16", [
        ("w", "BF16", [2, 4], _BF16_BITS.astype("<u2").tobytes()),
        ("b", "F32", [1], np.float32(7).tobytes()),
        ("n", "I64", [3], ints.astype("<i8").tobytes()),
        ("empty", "BF16", [0, 2], b"")])
    loaded = ft.nn.load_safetensors(tmp_path / "bf16")
    assert sorted(loaded) == ["b", "empty", "n", "w"]
    w = loaded["w"]
    assert w.dtype == np.float32 and w.shape == (2, 4)
    np.testing.assert_array_equal(w.view(np.uint32).ravel(), _BF16_BITS.astype(np.uint32) << 16)
    np.testing.assert_array_equal(w.ravel()[:6], [1, -2, 0.5 + 2 ** -8, 2.0 ** -133, 0, np.inf])
    assert np.signbit(w[1, 0]) and np.isnan(w[1, 2]) and w[1, 3] == 3.3895314e38
    assert loaded["empty"].shape == (0, 2) and loaded["empty"].dtype == np.float32
    np.testing.assert_array_equal(loaded["n"], ints)
    w[0, 0] = 5.0                                       # writable, as the other arrays are
    net = ft.nn.Linear(4, 2, key=ft.random.key(0)).load_state_dict(
        {"weight": w, "bias": np.zeros(2, np.float32)})
    assert net.weight.dtype == np.float32


def test_safetensors_bfloat16_also_where_numpy_knows_it(tmp_path):
    """(Once ml_dtypes is imported, as importing JAX does, safetensors itself would load
    bfloat16 tensors as its NumPy type, which functrans arrays cannot hold.)"""
    pytest.importorskip("safetensors.numpy")
    pytest.importorskip("ml_dtypes")
    _write_safetensors(tmp_path / "bf16", [("x", "BF16", [8], _BF16_BITS.tobytes())])
    x = ft.nn.load_safetensors(tmp_path / "bf16")["x"]
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x.view(np.uint32), _BF16_BITS.astype(np.uint32) << 16)
    _write_safetensors(tmp_path / "f8", [("x", "F8_E5M2", [2], b"\0\0")])
    with pytest.raises(ValueError, match="'x' is F8_E5M2"):
        ft.nn.load_safetensors(tmp_path / "f8")


def test_safetensors_bfloat16_written_by_pytorch(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    gen = torch.Generator().manual_seed(0)
    tensors = {"weight": torch.randn(5, 3, generator=gen).to(torch.bfloat16),
               "bias": torch.randn(5, generator=gen).to(torch.bfloat16),
               "steps": torch.tensor([3]), "big": torch.tensor([3e38, -1e-40, float("nan")],
                                                              dtype=torch.bfloat16)}
    st_torch.save_file(tensors, str(tmp_path / "torch.safetensors"))
    loaded = ft.nn.load_safetensors(tmp_path / "torch.safetensors")
    for name, t in tensors.items():
        want = t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()
        assert loaded[name].dtype == want.dtype and loaded[name].shape == want.shape
        np.testing.assert_array_equal(loaded[name], want)
    net = ft.nn.Linear(3, 5, key=ft.random.key(0)).load_state_dict(
        {k: loaded[k] for k in ("weight", "bias")})
    x = torch.randn(2, 3, generator=gen)
    want = torch.nn.functional.linear(x, tensors["weight"].float(), tensors["bias"].float())
    np.testing.assert_allclose(net(x.numpy()), want.numpy(), rtol=1e-6, atol=1e-6)


def test_safetensors_bfloat16_headers_are_checked_before_reading(tmp_path):
    """A header declaring more than the file holds is refused before anything is allocated,
    by the library and by functrans' own bfloat16 reader."""
    pytest.importorskip("safetensors.numpy")
    from functrans.nn.state_dict import _read_bfloat16
    huge = 10 ** 12
    header = json.dumps({"x": {"dtype": "BF16", "shape": [huge],
                               "data_offsets": [0, 2 * huge]}}).encode()
    (tmp_path / "lies").write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 4)
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        ft.nn.load_safetensors(tmp_path / "lies")
    with pytest.raises(ValueError, match="changed while it was read"):
        _read_bfloat16(str(tmp_path / "lies"), ["x"])
    (tmp_path / "long").write_bytes((10 ** 12).to_bytes(8, "little") + b"{}")
    with pytest.raises(ValueError, match="changed while it was read"):
        _read_bfloat16(str(tmp_path / "long"), ["x"])


def test_safetensors_without_the_package_names_the_extra(tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r"functrans\[interop\]"):
        ft.nn.load_safetensors(tmp_path / "x.safetensors")
