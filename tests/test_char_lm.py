"""examples/char_lm.py: the character-level language model trains (LSTM and transformer),
saves its loss curve, and samples text from its vocabulary; its pieces behave."""
import importlib.util
import math
import pathlib

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def char_lm():
    spec = importlib.util.spec_from_file_location("examples_char_lm",
                                                  ROOT / "examples" / "char_lm.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _printed_losses(text):
    return {int(a): float(b) for a, b in (line.split() for line in text.splitlines()
                                          if len(line.split()) == 2 and line.split()[0].isdigit())}


@pytest.mark.parametrize("model", ["lstm", "transformer"])
def test_trains_plots_and_samples(char_lm, model, tmp_path, capsys):
    plot = tmp_path / "loss.png"
    result = char_lm.main(["--steps", "100", "--model", model, "--hidden", "32", "--layers",
                           "1", "--seq-len", "24", "--batch-size", "16", "--lr", "1e-2",
                           "--sample-length", "40", "--plot", str(plot)])
    out = capsys.readouterr().out
    losses = result["losses"]
    assert len(losses) == 100
    assert abs(losses[0] - math.log(len(result["vocab"]))) < 0.5      # starts near uniform
    assert np.mean(losses[-10:]) < losses[0] - 1.0                    # and learns
    assert _printed_losses(out) == {99: pytest.approx(losses[99], rel=1e-6)}
    assert math.isfinite(result["validation_loss"]) and "held-out loss" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    sample = result["sample"]
    assert sample.startswith("The ") and len(sample) == 4 + 40
    assert set(sample) <= set(result["vocab"].chars) and sample in out


def test_lstm_sampling_scan_matches_a_python_loop(char_lm):
    vocab = char_lm.Vocabulary("abcdefgh ")
    model = char_lm.LSTMLanguageModel(len(vocab), hidden=8, embed=4, key=ft.random.key(0))
    prompt = fnp.asarray(vocab.encode("abc"))
    key = ft.random.key(5)
    got = np.asarray(char_lm.sample_lstm(model, prompt, key, 12, 0.7))
    logits, state = model(prompt[None])
    chars = [int(ft.random.categorical(key, logits[0, -1] / 0.7))]
    for k in ft.random.split(ft.random.fold_in(key, 1), 11):
        logits, state = model(fnp.asarray([[chars[-1]]]), state)
        chars.append(int(ft.random.categorical(k, logits[0, -1] / 0.7)))
    np.testing.assert_array_equal(got, chars)
    assert vocab.decode(vocab.encode("bad cafe")) == "bad cafe"


def test_random_windows_are_consecutive_text(char_lm):
    data = fnp.arange(1000)
    x, y = char_lm.random_windows(data, ft.random.key(1), 6, 10)
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == y.shape == (6, 10)
    np.testing.assert_array_equal(np.diff(x, axis=1), 1)
    np.testing.assert_array_equal(y, x + 1)
    assert x.min() >= 0 and y.max() < 1000
