"""`ft.debug.breakpoint` (JAX's jax.debug.breakpoint), `ft.debug.log`,
`ft.debug.inspect_array_sharding` and `ft.debug.visualize_sharding`. The debugger reads its
commands from a given `stdin` (or the debugger itself is replaced), so nothing waits for a
terminal."""
import importlib
import io
import logging

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.sharding import NamedSharding, P, SingleDeviceSharding
import test_cpu_devices

debug = importlib.import_module("functrans.debug")
four_cpus = test_cpu_devices.four_cpus      # the fixture: four CPU devices for one test


def _answers(text):
    """What the debugger printed for each command (its output split at the prompts)."""
    return [part.strip() for part in text.split("(jdb) ")[1:]]


def _inner(x, commands, out, lib=ft):
    y = lib.numpy.sin(x) * 2
    k = 3
    lib.debug.breakpoint(stdin=io.StringIO(commands), stdout=out)
    return y + k


def _outer(x, commands, out, lib=ft):
    label = "outer"     # read in the debugger
    return _inner(x, commands, out, lib) if label else None


COMMANDS = "p k\np y.shape\np float(y.sum())\npp {'k': k}\nk * 2\nnope\nd\nup\np label\n" \
    "up\nc\n"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")     # JAX flattening the frames
def test_eager_session_matches_jax():
    jax = pytest.importorskip("jax")
    x = np.arange(3.0)
    ours, theirs = io.StringIO(), io.StringIO()
    _outer(x, COMMANDS, ours)
    jax.config.update("jax_enable_x64", True)
    try:
        _outer(x, COMMANDS, theirs, lib=jax)
    finally:
        jax.config.update("jax_enable_x64", False)
    got, want = _answers(ours.getvalue()), _answers(theirs.getvalue())
    total = repr(float((np.sin(x) * 2).sum()))
    assert got[:5] == want[:5] == ["3", "(3,)", total, "{'k': 3}", "6"]
    assert got[5].startswith("*** NameError") and want[5].startswith("*** NameError")
    assert got[6].startswith("At bottommost frame.")
    assert "-> " in got[7] and "return _inner(x, commands, out, lib)" in got[7]
    assert got[8] == want[8] == "'outer'"
    assert "test_eager_session_matches_jax" in got[9]
    assert ours.getvalue().startswith("Entering jdb:\n> ") and "_inner()" in ours.getvalue()


def test_jit_shows_the_values_of_each_run():
    out = io.StringIO()
    f = ft.jit(lambda x: _outer(x, "p float(y[0])\np k\nc\n" * 2, out))
    np.testing.assert_allclose(f(np.array([0.5, 1.0])), np.sin([0.5, 1.0]) * 2 + 3)
    f(np.array([1.5, 1.0]))
    got = _answers(out.getvalue())
    assert got[:2] + got[3:5] == [repr(float(np.sin(0.5) * 2)), "3",
                                  repr(float(np.sin(1.5) * 2)), "3"]
    assert out.getvalue().count("Entering jdb:") == 2


@pytest.fixture
def seen(monkeypatch):
    """The frames each breakpoint enters the debugger with (the debugger replaced)."""
    found = []
    monkeypatch.setitem(debug._debuggers, "cli",
                        (-1, lambda frames, **kw: found.append((frames, kw))))
    return found


def test_transforms_give_concrete_values(seen):
    def f(x):
        y = fnp.cos(x) * x
        ft.debug.breakpoint(num_frames=1)
        return (y ** 2).sum()
    x = np.array([0.3, 0.7])
    g = ft.grad(ft.jit(f))(x)
    np.testing.assert_allclose(g, 2 * np.cos(x) * x * (np.cos(x) - x * np.sin(x)))
    ft.vmap(f)(x)
    ft.jit(ft.vmap(ft.jit(f)))(x)
    assert len(seen) == 5 and all(len(frames) == 1 for frames, _ in seen)
    values = [np.asarray(frames[0].locals["y"]) for frames, _ in seen]
    np.testing.assert_allclose(values[0], np.cos(x) * x)
    for i in range(2):
        np.testing.assert_allclose(values[1 + i], np.cos(x[i]) * x[i])
        np.testing.assert_allclose(values[3 + i], np.cos(x[i]) * x[i])
    assert all(not isinstance(v, ft.core.Tracer) for frames, _ in seen
               for v in frames[0].locals.values())


def test_frames_backend_token_and_environment(seen, monkeypatch):
    def f(x):
        inner_only = x + 1
        ft.debug.breakpoint(backend="web", answer=42)
        return inner_only
    ft.jit(f)(1.0)
    frames, kw = seen[-1]
    assert kw == {"answer": 42} and frames[0].function == "f"
    assert float(frames[0].locals["inner_only"]) == 2.0
    assert frames[1].function == "test_frames_backend_token_and_environment"
    assert not any("/functrans/" in fr.filename for fr in frames)
    ft.jit(lambda x: ft.debug.breakpoint(filter_frames=False) or x)(1.0)
    assert any("/functrans/" in fr.filename for fr in seen[-1][0])
    token = {"a": fnp.ones(2)}
    assert ft.debug.breakpoint(token=token) is token
    with pytest.raises(ValueError, match="`ordered` and `token`"):
        ft.debug.breakpoint(token=token, ordered=True)
    count = len(seen)
    monkeypatch.setenv("PYTHONBREAKPOINT", "0")
    ft.debug.breakpoint()
    ft.jit(f)(2.0)
    assert len(seen) == count


def test_quit_and_end_of_input_exit():
    for commands in ("q\n", ""):
        with pytest.raises(SystemExit):
            ft.debug.breakpoint(stdin=io.StringIO(commands), stdout=io.StringIO())


def test_log(caplog):
    @ft.jit
    def f(x):
        ft.debug.log("x is {x:.2f}, twice {}", x * 2, x=x)
        return x
    with caplog.at_level(logging.INFO, logger="functrans.debug"):
        f(1.5)
        f(0.25)
        ft.debug.log("eager {}", np.arange(2))
    records = [r for r in caplog.records if r.name == "functrans.debug"]
    assert [r.getMessage() for r in records] == ["x is 1.50, twice 3.0", "x is 0.25, twice 0.5",
                                                 "eager [0 1]"]
    assert all(r.levelno == logging.INFO and r.pathname == __file__ for r in records)
    assert [r.funcName for r in records] == ["f", "f", "test_log"]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="functrans.debug"):
        f(1.0)
    assert not caplog.records
    with pytest.raises(TypeError, match="ft.debug.log: arguments must be arrays"):
        ft.debug.log("{}", object())


def test_inspect_array_sharding(four_cpus):
    got = []
    x, y = fnp.ones(4), fnp.ones((2, 2))
    ft.debug.inspect_array_sharding((x, {"a": y}), callback=got.append)
    assert got == [SingleDeviceSharding(ft.backends.cpu)] * 2

    @ft.jit
    def f(a):
        ft.debug.inspect_array_sharding(a * 2, callback=got.append)
        return a
    got.clear()
    f(x)
    f(x + 1)
    assert got == [SingleDeviceSharding(ft.backends.cpu)]
    mesh = ft.make_mesh((4,), ("i",))
    f(ft.device_put(np.ones(8), NamedSharding(mesh, P("i"))))
    assert got[1:] == [NamedSharding(mesh, P("i"))]
    got.clear()
    ft.vmap(lambda a: ft.debug.inspect_array_sharding(a, callback=got.append) or a)(
        fnp.ones((3, 2)))
    assert len(got) == 1
    with pytest.raises(TypeError, match="callback must be callable, got a int"):
        ft.debug.inspect_array_sharding(x, callback=3)


def test_visualize_sharding(four_cpus, capsys):
    mesh = ft.make_mesh((2, 2), ("x", "y"))
    ft.debug.visualize_sharding((4, 4), NamedSharding(mesh, P("x", "y")))
    text = capsys.readouterr().out
    assert text.count("\n") == 5 and all(f"CPU {i}" in text for i in range(4))
    ft.debug.visualize_sharding((4,), SingleDeviceSharding(four_cpus[1]))
    assert "CPU 1" in capsys.readouterr().out
    with pytest.raises(ValueError, match="visualize_sharding: only 1-D and 2-D"):
        ft.debug.visualize_sharding((2, 2, 2), SingleDeviceSharding(four_cpus[0]))
