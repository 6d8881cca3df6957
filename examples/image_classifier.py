"""Train a small convolutional network to classify images, save it, reload it and test it.

Ports "Training a classifier" from PyTorch's 60-minute blitz (seed 004), step by step: load
and normalize the data; define the network (the blitz's LeNet: two 5x5 convolutions with
max pooling, then three fully connected layers); cross-entropy loss and SGD with momentum
0.9; train, printing the running loss every N mini-batches; save the model, reload it; show
the ground truth and the predictions for four test images; the accuracy on the whole test
set, then per class.

Two datasets:

- By default, scikit-learn's bundled 8x8 handwritten digits (1797 images, no download). The
  blitz's network with 3x3 convolutions padded to keep the size (5x5 ones do not fit twice
  in 8x8), so the two 2x2 poolings take 8x8 to 2x2; mini-batches of 32, learning rate 0.05,
  20 epochs. Takes seconds on a CPU and reaches 93-98% test accuracy (over seeds 0-9).
- `--cifar10 PATH`: CIFAR-10 from its binary distribution (cifar-10-binary.tar.gz unpacked
  under PATH; functrans never downloads), exactly the blitz's program: images normalized to
  [-1, 1] as `Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))` does, the 3x32x32 network
  (conv 3->6 5x5, pool, conv 6->16 5x5, pool, fc 400->120->84->10), mini-batches of 4,
  learning rate 0.001, 2 epochs, running loss every 2000 mini-batches. The blitz reports
  about 53% accuracy after this.

What to notice:
- The training step (forward pass, loss, gradients, optimizer update) is one function of
  (network, optimizer state, images, labels), compiled once by `ft.jit`.
- No `.to(device)`: everything created inside `with ft.default_device(device):` lives there
  (`--device cuda` trains on an NVIDIA GPU through CuPy).
- `torch.save(net.state_dict(), PATH)` is `ft.save(PATH, net)`; loading takes a freshly
  built network as the template, `ft.load(PATH, like=Net(...))`, and checks every weight's
  name, shape and dtype against it.
- Testing needs no `torch.no_grad()`: nothing is recorded unless you ask for a gradient.

    python examples/image_classifier.py [--epochs N] [--batch-size N] [--lr LR]
        [--steps N] [--device cpu|cuda] [--cifar10 PATH] [--save PATH] [--seed N]
"""
import argparse
import itertools
import time
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

import functrans as ft
import functrans.numpy as fnp

MOMENTUM = 0.9
EVAL_BATCH = 500


class Net(ft.nn.Module):
    """conv(in->6) -> relu -> pool 2 -> conv(6->16) -> relu -> pool 2 -> fc 120 -> 84 -> 10.
    The defaults are the blitz's CIFAR-10 network."""

    def __init__(self, in_channels=3, kernel_size=5, padding=0, features=16 * 5 * 5, *, key):
        keys = ft.random.split(key, 5)
        self.conv1 = ft.nn.Conv2d(in_channels, 6, kernel_size, padding=padding, key=keys[0])
        self.pool = ft.nn.MaxPool2d(2, 2)
        self.conv2 = ft.nn.Conv2d(6, 16, kernel_size, padding=padding, key=keys[1])
        self.fc1 = ft.nn.Linear(features, 120, key=keys[2])
        self.fc2 = ft.nn.Linear(120, 84, key=keys[3])
        self.fc3 = ft.nn.Linear(84, 10, key=keys[4])

    def __call__(self, x):
        x = self.pool(ft.nn.relu(self.conv1(x)))
        x = self.pool(ft.nn.relu(self.conv2(x)))
        x = x.reshape(x.shape[0], -1)          # torch.flatten(x, 1)
        x = ft.nn.relu(self.fc1(x))
        x = ft.nn.relu(self.fc2(x))
        return self.fc3(x)


class Dataset(NamedTuple):
    name: str
    train: tuple          # (images, labels), NumPy arrays: images float32 NCHW in [-1, 1]
    test: tuple
    classes: tuple
    build_net: object     # key -> Net
    batch_size: int       # the defaults of the training run
    lr: float
    epochs: int
    print_every: int      # mini-batches per printed running loss


def digits():
    return Dataset(
        "digits", *ft.data.load_digits(), classes=tuple("0123456789"),
        build_net=lambda key: Net(1, kernel_size=3, padding=1, features=16 * 2 * 2, key=key),
        batch_size=32, lr=0.05, epochs=20, print_every=40)


def cifar10(root):
    return Dataset(
        "cifar", ft.data.load_cifar10(root, train=True), ft.data.load_cifar10(root, train=False),
        classes=ft.data.CIFAR10_CLASSES, build_net=lambda key: Net(key=key),
        batch_size=4, lr=0.001, epochs=2, print_every=2000)


def epoch_batches(arrays, batch_size, epochs, key):
    """`(epoch, index within the epoch, mini-batch)` for `epochs` passes over `arrays`,
    shuffled anew each epoch."""
    for epoch in range(epochs):
        key, shuffle_key = ft.random.split(key)
        for i, batch in enumerate(ft.data.batches(arrays, batch_size, key=shuffle_key)):
            yield epoch, i, batch


def make_train_step(optimizer):
    @ft.jit
    def train_step(net, opt_state, images, labels):
        """One optimizer step; returns the new network and state, and the mini-batch loss."""
        loss, grads = ft.value_and_grad(
            lambda net: ft.nn.cross_entropy(net(images), labels))(net)
        updates, opt_state = optimizer.update(grads, opt_state, net)
        return ft.optim.apply_updates(net, updates), opt_state, loss
    return train_step


@ft.jit
def predict(net, images):
    """The class with the highest score (the "energy" in the blitz) for each image."""
    return fnp.argmax(net(images), axis=1)


def predict_all(net, images):
    return np.concatenate([np.asarray(predict(net, batch))
                           for (batch,) in ft.data.batches((images,), EVAL_BATCH)])


def default_device():
    """The first GPU if CuPy sees one, else the CPU."""
    gpus = ft.devices("cuda")
    return gpus[0] if gpus else ft.devices("cpu")[0]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cifar10", metavar="PATH",
                        help="train on CIFAR-10 (binary version) unpacked under PATH")
    parser.add_argument("--epochs", type=int, help="passes over the training set "
                        "(default: 20 for digits, 2 for CIFAR-10)")
    parser.add_argument("--batch-size", type=int,
                        help="mini-batch size (default: 32 for digits, 4 for CIFAR-10)")
    parser.add_argument("--lr", type=float,
                        help="learning rate (default: 0.05 for digits, 0.001 for CIFAR-10)")
    parser.add_argument("--print-every", type=int, help="mini-batches per printed running "
                        "loss (default: 40 for digits, 2000 for CIFAR-10)")
    parser.add_argument("--steps", type=int,
                        help="stop training after this many mini-batches (for quick checks)")
    parser.add_argument("--device", default=None,
                        help="cpu, cuda or cuda:N (default: a GPU if available, else cpu)")
    parser.add_argument("--save", metavar="PATH", help="where to save the trained network "
                        "(default: ./digits_net.ftz or ./cifar_net.ftz)")
    parser.add_argument("--seed", type=int, default=0,
                        help="random seed of the initial weights and the shuffling (default 0)")
    args = parser.parse_args(argv)

    # 1. Load and normalize the data.
    data = digits() if args.cifar10 is None else cifar10(args.cifar10)
    batch_size = args.batch_size or data.batch_size
    epochs = data.epochs if args.epochs is None else args.epochs
    lr = data.lr if args.lr is None else args.lr
    print_every = args.print_every or data.print_every
    checkpoint = args.save or f"{data.name}_net.ftz"
    (x_train, y_train), (x_test, y_test) = data.train, data.test

    with ft.default_device(args.device or default_device()) as device:
        print(f"{data.name}: {len(y_train)} training and {len(y_test)} test images of shape "
              f"{x_train.shape[1:]}; training on {device}")
        # 2. The network; 3. the loss (in train_step) and the optimizer.
        key, init_key = ft.random.split(ft.random.key(args.seed))
        net = data.build_net(init_key)
        print(net)
        optimizer = ft.optim.sgd(lr, momentum=MOMENTUM)
        opt_state = optimizer.init(net)
        train_step = make_train_step(optimizer)

        # 4. Train: loop over the data several times, shuffled anew each epoch.
        start = time.perf_counter()
        total = epochs * -(-len(y_train) // batch_size)
        if args.steps is not None:
            total = min(total, args.steps)
        steps, running_losses = 0, []
        for epoch, i, (images, labels) in tqdm(
                itertools.islice(epoch_batches(data.train, batch_size, epochs, key), total),
                total=total, desc="training", leave=False, disable=None):
            if i == 0:
                running_loss = 0.0
            net, opt_state, loss = train_step(net, opt_state, images, labels)
            running_loss += float(loss)
            steps += 1
            if i % print_every == print_every - 1:
                running_losses.append(running_loss / print_every)
                tqdm.write(f"[{epoch + 1}, {i + 1:5d}] loss: {running_losses[-1]:.3f}")
                running_loss = 0.0
        train_time = time.perf_counter() - start
        print(f"Finished Training ({steps} mini-batches in {train_time:.1f} s)")

        # Save the trained network, then reload it into a freshly built one (the template).
        ft.save(checkpoint, net)
        net = ft.load(checkpoint, like=data.build_net(ft.random.key(1)))
        print(f"saved to and reloaded from {checkpoint}")

        # 5. Test: four images first, then the whole test set, then class by class.
        names = data.classes
        print("GroundTruth: ", " ".join(f"{names[j]:>5}" for j in y_test[:4]))
        predicted = predict_all(net, x_test)
        print("Predicted:   ", " ".join(f"{names[j]:>5}" for j in predicted[:4]))

    correct = predicted == y_test
    accuracy = float(correct.mean())
    print(f"Accuracy of the network on the {len(y_test)} test images: "
          f"{int(100 * accuracy)} %")
    class_accuracy = {}
    for c, name in enumerate(names):
        in_class = y_test == c
        if in_class.any():
            class_accuracy[name] = float(correct[in_class].mean())
            print(f"Accuracy of {name:>5} : {int(100 * class_accuracy[name]):2d} %")

    return {"running_losses": running_losses, "steps": steps, "train_time": train_time,
            "accuracy": accuracy, "class_accuracy": class_accuracy, "predicted": predicted,
            "checkpoint": checkpoint, "net": net}


if __name__ == "__main__":
    main()
