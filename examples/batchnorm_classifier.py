"""A convolutional network with BatchNorm on the bundled 8x8 digits: buffers in a jitted step.

Three 3x3 convolutions (1 -> 16 -> 32 -> 64 channels), each followed by BatchNorm2d and
ReLU, a 2x2 max-pooling after the second, global average pooling (AdaptiveAvgPool2d(1)) and
a linear classifier; cross-entropy, SGD with momentum 0.9 and weight decay 5e-4, mini-batches
of 32. Prints the loss every 100 steps, then the test accuracy in eval mode, saves the
weights as a safetensors file (PyTorch's state_dict names) and reloads them into a fresh
network.

What to notice:
- BatchNorm's running statistics are *buffers*: not parameters, so `ft.grad` treats them as
  constants and the optimizer (weight decay included) never changes them.
- In training mode the forward pass computes new running statistics. Modules are immutable,
  so `ft.nn.stateful(net)(images)` returns the output and the network holding the new
  statistics; the loss returns that network as auxiliary output (`has_aux=True`), and the
  jitted step hands it back. Calling a training-mode BatchNorm any other way raises, rather
  than silently dropping the statistics.
- `net = net.eval()` switches to the running statistics for testing. (`net.eval()` alone
  would change nothing, since it returns a new network; it raises instead.)
- `ft.nn.save_safetensors(net, path)` writes `net.state_dict()`; PyTorch reads it with
  `model.load_state_dict(safetensors.torch.load_file(path))`, and
  `net.load_state_dict(ft.nn.load_safetensors(path))` reads it back here.

    python examples/batchnorm_classifier.py [--epochs 15] [--steps N] [--seed 0]
        [--lr 0.05] [--batch-size 32] [--device cpu|cuda] [--save PATH]
"""
import argparse
import itertools
import time

import numpy as np

import functrans as ft
import functrans.numpy as fnp

MOMENTUM, WEIGHT_DECAY = 0.9, 5e-4


class Net(ft.nn.Module):
    def __init__(self, *, key):
        keys = ft.random.split(key, 4)
        self.conv1 = ft.nn.Conv2d(1, 16, 3, padding=1, bias=False, key=keys[0])
        self.bn1 = ft.nn.BatchNorm2d(16)
        self.conv2 = ft.nn.Conv2d(16, 32, 3, padding=1, bias=False, key=keys[1])
        self.bn2 = ft.nn.BatchNorm2d(32)
        self.pool = ft.nn.MaxPool2d(2)
        self.conv3 = ft.nn.Conv2d(32, 64, 3, padding=1, bias=False, key=keys[2])
        self.bn3 = ft.nn.BatchNorm2d(64)
        self.gap = ft.nn.AdaptiveAvgPool2d(1)
        self.fc = ft.nn.Linear(64, 10, key=keys[3])

    def __call__(self, x):
        x = ft.nn.relu(self.bn1(self.conv1(x)))
        x = self.pool(ft.nn.relu(self.bn2(self.conv2(x))))
        x = ft.nn.relu(self.bn3(self.conv3(x)))
        return self.fc(self.gap(x).reshape(x.shape[0], -1))


def loss_fn(net, images, labels):
    """The mini-batch loss, and the network with its updated running statistics."""
    logits, net = ft.nn.stateful(net)(images)
    return ft.nn.cross_entropy(logits, labels), net


def make_train_step(optimizer):
    @ft.jit
    def train_step(net, opt_state, images, labels):
        (loss, net), grads = ft.value_and_grad(loss_fn, has_aux=True)(net, images, labels)
        updates, opt_state = optimizer.update(grads, opt_state, net)
        return ft.optim.apply_updates(net, updates), opt_state, loss
    return train_step


@ft.jit
def predict(net, images):
    return fnp.argmax(net(images), axis=1)


def accuracy(net, images, labels):
    """Test accuracy of `net` in eval mode (batches of 500)."""
    predicted = np.concatenate([np.asarray(predict(net, batch))
                                for (batch,) in ft.data.batches((images,), 500)])
    return float((predicted == labels).mean()), predicted


def train(seed=0, epochs=15, steps=None, lr=0.05, batch_size=32, log=print):
    """Train from `seed` (initialization and shuffling); returns the network (in training
    mode), the per-step losses and the training time. Deterministic for a given seed."""
    (x_train, y_train), _ = ft.data.load_digits()
    key, init_key = ft.random.split(ft.random.key(seed))
    net = Net(key=init_key)
    optimizer = ft.optim.sgd(lr, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    opt_state = optimizer.init(net)
    train_step = make_train_step(optimizer)

    def batches():
        for epoch in itertools.count() if steps is not None else range(epochs):
            epoch_key = ft.random.fold_in(key, epoch)
            for batch in ft.data.batches((x_train, y_train), batch_size, key=epoch_key):
                yield batch
    total = epochs * -(-len(y_train) // batch_size) if steps is None else steps
    losses = []
    start = time.perf_counter()
    for t, (images, labels) in enumerate(itertools.islice(batches(), total)):
        net, opt_state, loss = train_step(net, opt_state, images, labels)
        losses.append(float(loss))
        if t % 100 == 99:
            log(f"{t} {losses[-1]:.4f}")
    return net, losses, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15, help="passes over the training set")
    parser.add_argument("--steps", type=int, help="train for this many mini-batches instead")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cpu)")
    parser.add_argument("--save", metavar="PATH", default="digits_bn.safetensors",
                        help="where to write the trained weights (safetensors)")
    args = parser.parse_args(argv)

    with ft.default_device(args.device or "cpu"):
        net, losses, seconds = train(args.seed, args.epochs, args.steps, args.lr,
                                     args.batch_size)
        print(f"Finished training: {len(losses)} steps in {seconds:.1f} s")
        print(net.bn1)
        print(f"bn1 has seen {int(net.bn1.num_batches_tracked)} batches; running_mean[:4] = "
              f"{np.round(np.asarray(net.bn1.running_mean[:4]), 3)}")

        net = net.eval()               # running statistics from here on
        _, (x_test, y_test) = ft.data.load_digits()
        acc, predicted = accuracy(net, x_test, y_test)
        print(f"Accuracy of the network on the {len(y_test)} test images: {100 * acc:.1f} %")

        ft.nn.save_safetensors(net, args.save)
        fresh = Net(key=ft.random.key(123)).eval()
        fresh = fresh.load_state_dict(ft.nn.load_safetensors(args.save))
        same = np.array_equal(accuracy(fresh, x_test, y_test)[1], predicted)
        print(f"saved to {args.save}; reloaded into a fresh network: same predictions: {same}")
    return {"net": net, "losses": losses, "accuracy": acc, "train_time": seconds,
            "predicted": predicted, "reloaded_same": same}


if __name__ == "__main__":
    main()
