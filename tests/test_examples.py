"""The example scripts run, print like the seed tutorials, and actually train.

Each example is imported from examples/ and its `main(argv)` called with a small `--steps`,
so the suite stays fast; one test also runs every script as a program.
"""
import importlib.util
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def printed_losses(text):
    """{step: loss} from the `t loss` lines an example prints."""
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            out[int(parts[0])] = float(parts[1])
    return out


@pytest.fixture(scope="module")
def numpy_run():
    return load("two_layer_net_numpy").main(["--steps", "200"])


def test_two_layer_net_numpy_trains_and_prints_every_100_steps(numpy_run, capsys):
    losses = numpy_run["losses"]
    assert len(losses) == 200
    assert losses[199] < 1e-4 * losses[0]
    assert numpy_run["w1"].dtype == np.float64
    load("two_layer_net_numpy").main(["--steps", "100"])      # same seed, same run
    printed = printed_losses(capsys.readouterr().out)
    assert printed == {99: pytest.approx(losses[99], rel=1e-12)}


def test_two_layer_net_arrays_follows_the_numpy_run_in_float32(numpy_run, capsys):
    result = load("two_layer_net_arrays").main(["--steps", "200", "--device", "cpu"])
    out = capsys.readouterr().out
    assert "running on cpu" in out
    assert result["w1"].dtype == np.float32 and isinstance(result["w1"], ft.Array)
    # same data (cast to float32), same arithmetic: the loss curves agree to float32 accuracy
    np.testing.assert_allclose(result["losses"][:150], numpy_run["losses"][:150], rtol=2e-3)
    assert sorted(printed_losses(out)) == [99, 199]


@pytest.fixture(scope="module")
def autograd_run():
    return load("two_layer_net_autograd").main(["--steps", "150"])


def test_two_layer_net_autograd_matches_manual_backprop(autograd_run):
    manual = load("two_layer_net_arrays").main(["--steps", "150", "--device", "cpu"])
    np.testing.assert_allclose(autograd_run["losses"], manual["losses"], rtol=2e-3)
    np.testing.assert_allclose(np.asarray(autograd_run["w2"]), np.asarray(manual["w2"]),
                               rtol=1e-3, atol=1e-4)


def test_two_layer_net_autograd_eager_equals_jit(autograd_run):
    eager = load("two_layer_net_autograd").main(["--steps", "20", "--eager"])
    np.testing.assert_allclose(eager["losses"], autograd_run["losses"][:20], rtol=1e-5)


def test_two_layer_net_custom_function_uses_its_rule_and_trains(autograd_run):
    module = load("two_layer_net_custom_function")
    # the custom rule gives slope 1 at x == 0 (the gradient passes unless x < 0), where
    # differentiating fnp.maximum would split it 0.5/0.5
    g = ft.grad(lambda x: module.relu(x).sum())(fnp.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(np.asarray(g), [0.0, 1.0, 1.0])
    result = module.main(["--steps", "150"])
    np.testing.assert_allclose(result["losses"], autograd_run["losses"], rtol=2e-3)


@pytest.fixture(scope="module")
def polynomial_fit():
    return load("polynomial_fit")


def test_polynomial_fit_sections_agree_and_decrease(polynomial_fit, capsys):
    fits = polynomial_fit.main(["--steps", "300"])
    assert list(fits) == ["numpy", "arrays", "grad", "legendre"]
    out = capsys.readouterr().out
    assert out.count("Result: y = ") == 4 and "* P3(" in out
    for name, fit in fits.items():
        assert len(fit.losses) == 300
        assert fit.losses[-1] < 0.5 * fit.losses[0], name
    # the same random start and learning rate: by hand (float64 / float32) and ft.grad agree
    np.testing.assert_allclose(fits["arrays"].losses, fits["numpy"].losses, rtol=1e-4)
    np.testing.assert_allclose(fits["grad"].losses, fits["arrays"].losses, rtol=1e-4)
    np.testing.assert_allclose(fits["grad"].params, fits["numpy"].params, rtol=1e-3)


def test_polynomial_fit_legendre_reproduces_the_seed_run(polynomial_fit):
    # deterministic start (a=0, b=-1, c=0, d=0.3): the seed printed 88 -> 218.859,
    # 1988 -> 8.949 and ended at b = -2.2085, d = 0.25549 (PyTorch, float32)
    fit = polynomial_fit.main(["--section", "legendre"])["legendre"]
    assert fit.losses[88] == pytest.approx(218.8590850830078, rel=1e-3)
    assert fit.losses[1988] == pytest.approx(8.949139595031738, rel=1e-3)
    assert fit.params[1] == pytest.approx(-2.208526849746704, rel=1e-3)
    assert fit.params[3] == pytest.approx(0.2554861009120941, rel=1e-3)


def test_polynomial_fit_legendre_derivative_is_p3_prime(polynomial_fit):
    x = fnp.asarray(np.array([-1.0, 0.2, 2.0]))
    g = ft.grad(lambda x: polynomial_fit.legendre_p3(x).sum())(x)
    np.testing.assert_allclose(np.asarray(g), 1.5 * (5 * np.asarray(x) ** 2 - 1))


def test_per_example_gradients(capsys):
    result = load("per_example_gradients").main([])
    out = capsys.readouterr().out
    assert "'w': (256, 10)" in out and "'b': (256,)" in out
    assert result["sum_error"] < 1e-5 and result["loop_error"] < 1e-5
    assert result["found"] == 12                  # every corrupted label is flagged
    assert result["clipped"]["distance_to_w_true"] < 0.1 < result["plain"]["distance_to_w_true"]
    assert result["clipped"]["clean_loss"] < 0.1 * result["plain"]["clean_loss"]
    clipped = result["losses"]["clipped"]
    assert clipped[-1] < clipped[0]


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("[!_]*.py")))
def test_example_runs_as_a_script(script):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), "--steps", "100"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert any(line.startswith("99 ") for line in proc.stdout.splitlines()), proc.stdout
