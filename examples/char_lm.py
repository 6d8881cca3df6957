"""A character-level language model that learns to write like Python's reference manual.

The text is the Python Language Reference topics that ship with the standard library (module
`pydoc_data.topics`: what `help("if")` prints), about 450,000 characters: no download. The
model reads a window of characters and predicts each next one:

    Embedding(vocab, 64) -> LSTM(64, hidden, batch_first=True) -> Linear(hidden, vocab)

(`--model transformer`: Embedding plus learned positions -> `--layers` causal
TransformerEncoderLayers -> LayerNorm -> Linear). Training draws random windows of
`--seq-len` characters, minimizes the cross-entropy of the next character with Adam and
gradient clipping, prints the loss every 100 steps and the held-out loss at the end, saves the
loss curve (`--plot`), then samples text at `--temperature` with `ft.random` keys.

What to notice:
- The whole training step (drawing the batch, forward, backward, clipping, Adam) is one
  function compiled by `ft.jit`; the random batch and the dropout masks come from an explicit
  key split each step.
- The LSTM's time loop is one `ft.lax.scan` (forward and backward); its parameters have
  PyTorch's names (`lstm.weight_ih_l0`, ...).
- Sampling 400 characters from the LSTM is one jitted `ft.lax.scan` over the characters,
  carrying the LSTM state: no Python loop per character.

    python examples/char_lm.py [--steps 2000] [--model lstm|transformer] [--hidden 256]
        [--layers 1] [--seq-len 64] [--batch-size 32] [--lr 3e-3] [--dropout 0.0]
        [--temperature 0.8] [--sample-length 400] [--prompt TEXT] [--plot char_lm_loss.png]
"""
import argparse
import time

import numpy as np
from tqdm import tqdm

import functrans as ft
import functrans.numpy as fnp

VALIDATION_FRACTION = 0.1
VALIDATION_BATCHES = 8


def load_text():
    """The reference manual's topics in a fixed order, without the lines that only draw
    table borders (runs of "+", "-", "=")."""
    from pydoc_data.topics import topics
    text = "\n\n".join(topics[name] for name in sorted(topics))
    return "\n".join(line for line in text.split("\n")
                     if not (line.strip() and set(line.strip()) <= set("+-=| ")))


class Vocabulary:
    """Characters <-> integer ids."""

    def __init__(self, text):
        self.chars = sorted(set(text))
        self.index = {c: i for i, c in enumerate(self.chars)}

    def __len__(self):
        return len(self.chars)

    def encode(self, text):
        return np.array([self.index[c] for c in text], np.int32)

    def decode(self, ids):
        return "".join(self.chars[int(i)] for i in ids)


class LSTMLanguageModel(ft.nn.Module):
    def __init__(self, vocab_size, hidden=256, layers=1, dropout=0.0, embed=64, *, key):
        k1, k2, k3 = ft.random.split(key, 3)
        self.embedding = ft.nn.Embedding(vocab_size, embed, key=k1)
        self.lstm = ft.nn.LSTM(embed, hidden, num_layers=layers, dropout=dropout,
                               batch_first=True, key=k2)
        self.head = ft.nn.Linear(hidden, vocab_size, key=k3)

    def __call__(self, ids, state=None, *, key=None):
        """Logits for the next character at every position, and the final LSTM state."""
        out, state = self.lstm(self.embedding(ids), state, key=key)
        return self.head(out), state


class TransformerLanguageModel(ft.nn.Module):
    def __init__(self, vocab_size, hidden=128, layers=2, dropout=0.0, context=64, heads=4, *,
                 key):
        keys = ft.random.split(key, layers + 3)
        self.embedding = ft.nn.Embedding(vocab_size, hidden, key=keys[0])
        self.positions = 0.02 * ft.random.normal(keys[1], (context, hidden))
        self.blocks = [ft.nn.TransformerEncoderLayer(hidden, heads, 4 * hidden, dropout,
                                                     activation="gelu", batch_first=True,
                                                     norm_first=True, key=k)
                       for k in keys[2:-1]]
        self.norm = ft.nn.LayerNorm(hidden)
        self.head = ft.nn.Linear(hidden, vocab_size, key=keys[-1])

    def __call__(self, ids, state=None, *, key=None):
        length = ids.shape[-1]
        x = self.embedding(ids) + self.positions[:length]
        causal = ft.nn.Transformer.generate_square_subsequent_mask(length)
        keys = [None] * len(self.blocks) if key is None else \
            ft.random.split(key, len(self.blocks))
        for block, k in zip(self.blocks, keys):
            x = block(x, src_mask=causal, is_causal=True, key=k)
        return self.head(self.norm(x)), None


def build_model(name, vocab_size, args, key):
    if name == "lstm":
        return LSTMLanguageModel(vocab_size, args.hidden, args.layers, args.dropout, key=key)
    return TransformerLanguageModel(vocab_size, args.hidden, args.layers, args.dropout,
                                    args.seq_len, key=key)


def random_windows(data, key, batch_size, seq_len):
    """`batch_size` random windows of the text: inputs and the characters that follow."""
    starts = ft.random.randint(key, (batch_size, 1), 0, data.shape[0] - seq_len - 1)
    idx = starts + fnp.arange(seq_len)
    return data[idx], data[idx + 1]


def next_char_loss(model, x, y, key=None):
    """Mean cross-entropy (nats per character) of the next-character predictions."""
    logits, _ = model(x, key=key)
    return ft.nn.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def make_train_step(optimizer, batch_size, seq_len):
    @ft.jit
    def train_step(model, opt_state, data, key):
        batch_key, dropout_key = ft.random.split(key)
        x, y = random_windows(data, batch_key, batch_size, seq_len)
        loss, grads = ft.value_and_grad(next_char_loss)(model, x, y, dropout_key)
        updates, opt_state = optimizer.update(grads, opt_state, model)
        return ft.optim.apply_updates(model, updates), opt_state, loss
    return train_step


@ft.jit
def validation_loss(model, x, y):
    return next_char_loss(model, x, y)


def sample_lstm(model, prompt_ids, key, length, temperature):
    """`length` characters drawn one at a time after `prompt_ids`: one scan over the
    characters, carrying the LSTM state and the last character."""
    model = model.eval()
    logits, state = model(prompt_ids[None])                  # read the prompt
    first = ft.random.categorical(key, logits[0, -1] / temperature)

    def step(carry, k):
        state, char = carry
        logits, state = model(char.reshape(1, 1), state)
        nxt = ft.random.categorical(k, logits[0, -1] / temperature)
        return (state, nxt), nxt
    _, chars = ft.lax.scan(step, (state, first), ft.random.split(ft.random.fold_in(key, 1),
                                                                 length - 1))
    return fnp.concatenate([first[None], chars])


def sample_transformer(model, prompt_ids, key, length, temperature, context):
    """`length` characters, each from the logits at the end of the last `context` ones."""
    model = model.eval()

    @ft.jit
    def next_char(window, k):
        logits, _ = model(window[None])
        return ft.random.categorical(k, logits[0, -1] / temperature)
    ids = list(np.asarray(prompt_ids))
    pad = max(0, context - len(ids))
    window = fnp.asarray(np.array([ids[0]] * pad + ids[-context:], np.int32))
    out = []
    for k in ft.random.split(key, length):
        c = next_char(window, k)
        out.append(int(c))
        window = fnp.concatenate([window[1:], c[None].astype(window.dtype)])
    return out


def plot_losses(losses, validation, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 3.5))
    steps = np.arange(1, len(losses) + 1)
    ax.plot(steps, losses, alpha=0.35, label="training batch")
    window = min(50, len(losses))
    ax.plot(steps[window - 1:], np.convolve(losses, np.ones(window) / window, "valid"),
            label=f"running mean ({window})")
    ax.axhline(validation, color="k", ls="--", lw=1, label=f"held out: {validation:.3f}")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats / char)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="training steps (default 2000)")
    parser.add_argument("--model", choices=["lstm", "transformer"], default="lstm")
    parser.add_argument("--hidden", type=int, default=None,
                        help="LSTM hidden size / transformer width (default 256 / 128)")
    parser.add_argument("--layers", type=int, default=None,
                        help="LSTM or transformer layers (default 1 / 2)")
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--sample-length", type=int, default=400)
    parser.add_argument("--prompt", default="The ")
    parser.add_argument("--plot", default="char_lm_loss.png",
                        help="where to save the loss curve ('' for none)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.hidden is None:
        args.hidden = 256 if args.model == "lstm" else 128
    if args.layers is None:
        args.layers = 1 if args.model == "lstm" else 2

    text = load_text()
    vocab = Vocabulary(text)
    ids = vocab.encode(text)
    split = int(len(ids) * (1 - VALIDATION_FRACTION))
    train_data, held_out = fnp.asarray(ids[:split]), fnp.asarray(ids[split:])
    print(f"{len(text):,} characters of Python's reference manual, {len(vocab)} distinct; "
          f"{split:,} for training")

    key = ft.random.key(args.seed)
    key, init_key, val_key, sample_key = ft.random.split(key, 4)
    model = build_model(args.model, len(vocab), args, init_key)
    print(model)
    print(f"{sum(p.size for p in model.parameters()):,} parameters")
    optimizer = ft.optim.chain(ft.optim.clip_by_global_norm(1.0), ft.optim.adam(args.lr))
    opt_state = optimizer.init(model)
    train_step = make_train_step(optimizer, args.batch_size, args.seq_len)

    losses = []
    start = time.perf_counter()
    for t in tqdm(range(args.steps), desc="training", disable=None):
        key, step_key = ft.random.split(key)
        model, opt_state, loss = train_step(model, opt_state, train_data, step_key)
        losses.append(float(loss))
        if t % 100 == 99:
            tqdm.write(f"{t} {losses[-1]}")
    seconds = time.perf_counter() - start

    evaluator = model.eval()
    val_losses = [float(validation_loss(evaluator, *random_windows(held_out, k, 64,
                                                                     args.seq_len)))
                  for k in ft.random.split(val_key, VALIDATION_BATCHES)]
    val = float(np.mean(val_losses))
    print(f"{args.steps} steps in {seconds:.1f} s; held-out loss {val:.3f} nats/char "
          f"({val / np.log(2):.3f} bits/char)")
    if args.plot:
        plot_losses(losses, val, args.plot)
        print(f"loss curve saved to {args.plot}")

    prompt = fnp.asarray(vocab.encode(args.prompt))
    if args.model == "lstm":
        sampled = sample_lstm(model, prompt, sample_key, args.sample_length, args.temperature)
    else:
        sampled = sample_transformer(model, prompt, sample_key, args.sample_length,
                                     args.temperature, args.seq_len)
    sample = args.prompt + vocab.decode(np.asarray(sampled))
    print(f"--- sample (temperature {args.temperature}) ---")
    print(sample)
    return {"losses": losses, "validation_loss": val, "sample": sample, "model": model,
            "vocab": vocab}


if __name__ == "__main__":
    main()
