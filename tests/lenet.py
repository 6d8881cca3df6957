"""The blitz's LeNet, shared by the tests and bench_lenet: in functrans (also with other input
sizes, kernel sizes and padding) and in PyTorch, and the jitted classifier training step."""
import functrans as ft


class Net(ft.nn.Module):
    """conv(in->6) -> relu -> pool 2 -> conv(6->16) -> relu -> pool 2 -> fc 120 -> 84 -> 10.
    The defaults are the blitz's CIFAR-10 net (3x32x32 input, 5x5 kernels, 16*5*5 features)."""

    def __init__(self, key, in_channels=3, kernel_size=5, padding=0, features=16 * 5 * 5,
                 dtype=None):
        k = ft.random.split(key, 5)
        self.conv1 = ft.nn.Conv2d(in_channels, 6, kernel_size, padding=padding, key=k[0],
                                  dtype=dtype)
        self.pool = ft.nn.MaxPool2d(2, 2)
        self.conv2 = ft.nn.Conv2d(6, 16, kernel_size, padding=padding, key=k[1], dtype=dtype)
        self.fc1 = ft.nn.Linear(features, 120, key=k[2], dtype=dtype)
        self.fc2 = ft.nn.Linear(120, 84, key=k[3], dtype=dtype)
        self.fc3 = ft.nn.Linear(84, 10, key=k[4], dtype=dtype)

    def __call__(self, x):
        x = self.pool(ft.nn.relu(self.conv1(x)))
        x = self.pool(ft.nn.relu(self.conv2(x)))
        x = x.reshape(x.shape[0], -1)
        x = ft.nn.relu(self.fc1(x))
        x = ft.nn.relu(self.fc2(x))
        return self.fc3(x)


def classifier_step(opt):
    """The jitted training step of a classifier with optimizer `opt`:
    `step(model, state, x, labels) -> (model, state, cross-entropy loss)`."""
    @ft.jit
    def step(model, state, x, y):
        loss, grads = ft.value_and_grad(lambda m: ft.nn.cross_entropy(m(x), y))(model)
        updates, state = opt.update(grads, state, model)
        return ft.optim.apply_updates(model, updates), state, loss
    return step


def torch_net():
    """The same network in PyTorch (with PyTorch's own initialization)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 6, 5)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            x = torch.flatten(x, 1)
            x = F.relu(self.fc1(x))
            x = F.relu(self.fc2(x))
            return self.fc3(x)
    return Net()
