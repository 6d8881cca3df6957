"""Train the digits classifier of image_classifier.py data-parallel, over MPI processes.

    mpiexec -n 2 python examples/data_parallel.py      # two processes, one core each
    python examples/data_parallel.py                   # one process works too

The same network, data, hyper-parameters (mini-batches of 32, learning rate 0.05, SGD with
momentum 0.9, 20 epochs) and report as `examples/image_classifier.py`; the same global
mini-batches, shuffled by the same key. Each process computes the gradient on its share of
every mini-batch, `ft.lax.psum` adds the shares over the processes (one MPI all-reduce for
all the gradients), and every process applies the same update, so the processes hold the same
network throughout and the training equals the single-process one up to rounding (in one
process, bit for bit; over several, the order of the additions differs, and like any
perturbation of SGD those last-bit differences grow over hundreds of steps: the weights part,
the accuracy ends up alike).

What to notice:
- `ft.distributed.initialize()` joins the MPI world (and does nothing in a plain process);
  an uncaught exception in any process aborts the whole job.
- `ft.pmap(step, axis_name="batch", devices=[device])` maps the step over this process's
  device (leading axis of size 1, `ft.distributed.replicate`) and makes the axis "batch" span
  every process: the collectives inside are MPI calls, compiled once per signature like
  `ft.jit`.
- Each process's share of a mini-batch may differ in size (32 examples over 3 processes), so
  the loss is summed over the process's examples and divided by the global batch size: its
  sum over processes is the mean over the mini-batch.
- `ft.distributed.broadcast` starts every process from process 0's initial weights, and
  `ft.save` writes from process 0 only.

    python examples/data_parallel.py [--epochs N] [--batch-size N] [--lr LR] [--steps N]
        [--print-every N] [--seed S] [--device cpu|cuda:N] [--save PATH]
"""
import argparse
import itertools
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import functrans as ft  # noqa: E402
import image_classifier as ic  # noqa: E402   the network, the data and the evaluation


def shares(n, count):
    """The rows of a mini-batch of `n` examples each process takes (near-equal parts)."""
    bounds = np.linspace(0, n, count + 1).round().astype(int)
    return [slice(bounds[p], bounds[p + 1]) for p in range(count)]


def make_train_step(optimizer, device):
    def train_step(net, opt_state, images, labels, batch_size):
        """One optimizer step on this process's share of a mini-batch of `batch_size`."""
        def share_of_loss(net):
            return ft.nn.cross_entropy(net(images), labels, reduction="sum") / batch_size
        loss, grads = ft.value_and_grad(share_of_loss)(net)
        loss, grads = ft.lax.psum((loss, grads), "batch")     # one all-reduce for all
        updates, opt_state = optimizer.update(grads, opt_state, net)
        return ft.optim.apply_updates(net, updates), opt_state, loss
    return ft.pmap(train_step, axis_name="batch", static_broadcasted_argnums=(4,),
                   devices=[device])          # one device per process


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, help="passes over the training set (default 20)")
    parser.add_argument("--batch-size", type=int,
                        help="global mini-batch size, over all processes (default 32)")
    parser.add_argument("--lr", type=float, help="learning rate (default 0.05)")
    parser.add_argument("--print-every", type=int,
                        help="mini-batches per printed running loss (default 40)")
    parser.add_argument("--steps", type=int,
                        help="stop training after this many mini-batches (for quick checks)")
    parser.add_argument("--seed", type=int, default=0, help="initialization and shuffling")
    parser.add_argument("--device", default=None,
                        help="this process's device: cpu, cuda:N (default: the default device)")
    parser.add_argument("--save", metavar="PATH",
                        help="where to save the trained network (default ./digits_net.ftz)")
    args = parser.parse_args(argv)

    ft.distributed.initialize()
    rank, count = ft.process_index(), ft.process_count()
    say = print if rank == 0 else (lambda *a, **k: None)

    data = ic.digits()
    batch_size = args.batch_size or data.batch_size
    epochs = data.epochs if args.epochs is None else args.epochs
    print_every = args.print_every or data.print_every
    (x_train, y_train), (x_test, y_test) = data.train, data.test
    if count > min(batch_size, len(y_train) % batch_size or batch_size):
        raise ValueError(f"{count} processes need mini-batches of at least {count} examples")
    device = ft.backends.get_device(args.device)
    say(f"{data.name}: {len(y_train)} training and {len(y_test)} test images of shape "
        f"{x_train.shape[1:]}; training on {device} in each of {count} process(es), "
        f"data-parallel")

    with ft.default_device(device):
        key, init_key = ft.random.split(ft.random.key(args.seed))
        net = ft.distributed.broadcast(data.build_net(init_key))   # process 0's weights
        say(net)
        optimizer = ft.optim.sgd(data.lr if args.lr is None else args.lr, momentum=ic.MOMENTUM)
        opt_state = optimizer.init(net)
        train_step = make_train_step(optimizer, device)
        net, opt_state = ft.distributed.replicate((net, opt_state), devices=[device])

        start = time.perf_counter()
        total = epochs * -(-len(y_train) // batch_size)
        if args.steps is not None:
            total = min(total, args.steps)
        steps, running_losses = 0, []
        for epoch, i, (images, labels) in itertools.islice(
                ic.epoch_batches(data.train, batch_size, epochs, key), total):
            if i == 0:
                running_loss = 0.0
            mine = shares(len(labels), count)[rank]
            net, opt_state, loss = train_step(net, opt_state, images[mine][None],
                                              labels[mine][None], len(labels))
            running_loss += float(loss[0])
            steps += 1
            if i % print_every == print_every - 1:
                running_losses.append(running_loss / print_every)
                say(f"[{epoch + 1}, {i + 1:5d}] loss: {running_losses[-1]:.3f}")
                running_loss = 0.0
        train_time = time.perf_counter() - start
        say(f"Finished Training ({steps} mini-batches in {train_time:.1f} s)")

        checkpoint = args.save or f"{data.name}_net.ftz"
        net = ft.distributed.unreplicate(net)
        ft.save(checkpoint, net)                 # process 0 writes
        ft.distributed.barrier()                 # ... before anyone reads
        net = ft.load(checkpoint, like=data.build_net(ft.random.key(1)))
        say(f"saved to and reloaded from {checkpoint}")

        names = data.classes
        predicted = ic.predict_all(net, x_test)
    say("GroundTruth: ", " ".join(f"{names[j]:>5}" for j in y_test[:4]))
    say("Predicted:   ", " ".join(f"{names[j]:>5}" for j in predicted[:4]))
    correct = predicted == y_test
    accuracy = float(correct.mean())
    say(f"Accuracy of the network on the {len(y_test)} test images: {int(100 * accuracy)} %")
    class_accuracy = {}
    for c, name in enumerate(names):
        in_class = y_test == c
        if in_class.any():
            class_accuracy[name] = float(correct[in_class].mean())
            say(f"Accuracy of {name:>5} : {int(100 * class_accuracy[name]):2d} %")
    return {"running_losses": running_losses, "steps": steps, "train_time": train_time,
            "accuracy": accuracy, "class_accuracy": class_accuracy, "predicted": predicted,
            "net": net, "processes": count}


if __name__ == "__main__":
    main()
