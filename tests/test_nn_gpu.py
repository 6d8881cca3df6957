"""The toolkit on a CUDA device (skipped without CuPy and a GPU): the same random bits as on
the CPU, and convolution, pooling, a LeNet training step and checkpoints agreeing with the CPU."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
import functrans.random as fr

from lenet import Net, classifier_step

pytestmark = pytest.mark.gpu

if not ft.devices("gpu"):
    pytest.skip("needs CuPy and an NVIDIA GPU", allow_module_level=True)

GPU = ft.devices("gpu")[0]


def on_gpu(tree):
    return ft.device_put(tree, GPU)


@pytest.fixture
def gpu_default():
    """New arrays (constants, one-hot classes, ...) on the GPU, as a GPU user sets it up."""
    with ft.default_device(GPU):
        yield


def test_same_random_bits_as_the_cpu():
    for sample in (lambda k: fr.bits(k, (1000,)), lambda k: fr.uniform(k, (1000,)),
                   lambda k: fr.split(k, 7), lambda k: fr.fold_in(k, 5),
                   lambda k: fr.randint(k, (100,), 0, 10)):
        cpu = np.asarray(sample(fr.key(3)))
        gpu = sample(on_gpu(fr.key(3)))
        assert gpu.device == GPU
        np.testing.assert_array_equal(np.asarray(gpu), cpu)
    np.testing.assert_allclose(np.asarray(fr.normal(on_gpu(fr.key(3)), (1000,))),
                               np.asarray(fr.normal(fr.key(3), (1000,))), rtol=1e-5, atol=1e-6)


def test_conv_and_pool_agree_with_the_cpu(gpu_default):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((6, 2, 3, 3))

    def f(x, w):
        y = ft.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (0, 2)), None, (1, 2), None, 2)
        return fnp.sum(ft.nn.max_pool2d(ft.nn.relu(y), 2) ** 2) + fnp.sum(
            ft.nn.avg_pool2d(y, 3, 1, 1))
    with ft.default_device("cpu"):
        cpu = ft.value_and_grad(f, argnums=(0, 1))(fnp.asarray(x), fnp.asarray(w))
    gpu = ft.jit(ft.value_and_grad(f, argnums=(0, 1)))(*on_gpu((fnp.asarray(x),
                                                                fnp.asarray(w))))
    for a, b in zip(ft.tree_util.tree_leaves(cpu), ft.tree_util.tree_leaves(gpu)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-10, atol=1e-10)


def test_lenet_step_and_checkpoint_on_the_gpu(tmp_path, gpu_default):
    model = Net(ft.random.key(0))
    opt = ft.optim.sgd(0.01, momentum=0.9)

    step = classifier_step(opt)

    rng = np.random.default_rng(1)
    x = fnp.asarray(rng.standard_normal((4, 3, 32, 32)).astype(np.float32))
    y = fnp.asarray([1, 2, 3, 4])
    with ft.default_device("cpu"):
        cpu = step(*ft.device_put((model, opt.init(model), x, y), "cpu"))
    gpu = step(*on_gpu((model, opt.init(model), x, y)))
    assert gpu[0].fc3.weight.device == GPU
    for a, b in zip(ft.tree_util.tree_leaves(cpu), ft.tree_util.tree_leaves(gpu)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=2e-4, atol=2e-5)
    ft.save(tmp_path / "gpu.ftz", gpu[0])
    back = ft.load(tmp_path / "gpu.ftz", like=gpu[0])
    np.testing.assert_array_equal(np.asarray(back.fc3.bias), np.asarray(gpu[0].fc3.bias))
