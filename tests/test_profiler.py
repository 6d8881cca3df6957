"""ft.profiler: the trace files it writes, the events in them (jitted calls, compilations,
programs, each kernel line, user annotations), and that profiling changes no result and
leaves dispatch as it found it."""
import glob
import gzip
import json
import os
import threading

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans import profiler
from functrans.compiler.executable import Executable
from functrans.jit import Jitted


def _events(log_dir):
    files = glob.glob(os.path.join(log_dir, "plugins", "profile", "*", "*.trace.json.gz"))
    assert len(files) == 1, files
    with gzip.open(files[0]) as f:
        return [e for e in json.load(f)["traceEvents"] if e["ph"] == "X"]


def _step_fn():
    def loss(w, x):
        return fnp.tanh(x @ w).sum()
    return ft.jit(ft.value_and_grad(loss)), fnp.asarray(np.arange(12.0).reshape(4, 3) / 10), \
        fnp.ones((2, 4))


def test_trace_records_calls_compilations_programs_kernels_and_annotations(tmp_path):
    step, w, x = _step_fn()
    with profiler.trace(tmp_path):
        for i in range(3):
            with profiler.StepTraceAnnotation("train", step_num=i):
                step(w, x)
        with profiler.TraceAnnotation("eval", batch=7):
            pass
    events = _events(tmp_path)
    names = [e["name"] for e in events]
    assert names.count("jit(loss)") == 3
    assert [n for n in names if n.startswith("train")] == ["train 0", "train 1", "train 2"]
    assert sum(n.startswith("compile loss") for n in names) == 1      # the first call only
    assert names.count("trace loss") == 1
    programs = [e for e in events if e["cat"] == "program"]
    assert len(programs) == 3 and programs[0]["name"] == f"loss on {w.device}"
    kernels = [e for e in events if e["cat"] == "kernel"]
    assert len(kernels) % 3 == 0 and {"dot", "tanh"} <= {e["name"] for e in kernels}
    assert any("dot(" in e["args"]["code"] for e in kernels)
    eval_event, = [e for e in events if e["name"] == "eval"]
    assert eval_event["args"] == {"batch": "7"} and eval_event["cat"] == "annotation"
    # each kernel lies inside a program, each program inside its jitted call and step
    for k in kernels:
        assert any(p["ts"] <= k["ts"] and k["ts"] + k["dur"] <= p["ts"] + p["dur"] + 1e-3
                   for p in programs)
    for p in programs:
        assert any(c["name"] == "jit(loss)" and c["ts"] <= p["ts"] and
                   p["ts"] + p["dur"] <= c["ts"] + c["dur"] + 1e-3 for c in events)


def test_results_unchanged_and_dispatch_restored(tmp_path):
    step, w, x = _step_fn()
    plain_value, plain_grad = step(w, x)
    fast, plain = Jitted.__call__, Executable.__call__
    with profiler.trace(tmp_path):
        assert Jitted.__call__ is not fast and Executable.__call__ is not plain
        value, grad = step(w, x)
        loop = ft.jit(lambda v: ft.lax.fori_loop(0, 5, lambda i, a: a * 2 + i, v))(x)
    assert Jitted.__call__ is fast and Executable.__call__ is plain
    np.testing.assert_array_equal(np.asarray(value), np.asarray(plain_value))
    np.testing.assert_array_equal(np.asarray(grad), np.asarray(plain_grad))
    expected = np.ones((2, 4))
    for i in range(5):
        expected = expected * 2 + i
    np.testing.assert_allclose(np.asarray(loop), expected)
    # the fast path works again afterwards
    np.testing.assert_array_equal(np.asarray(step(w, x)[1]), np.asarray(plain_grad))


def test_perfetto_file_and_link(tmp_path, capsys):
    with profiler.trace(tmp_path, create_perfetto_link=True):
        ft.jit(lambda a: a + 1)(fnp.ones(3))
    files = sorted(os.path.basename(f) for f in glob.glob(str(tmp_path / "plugins/profile/*/*")))
    assert files[0] == "perfetto_trace.json.gz" and files[1].endswith(".trace.json.gz")
    assert "ui.perfetto.dev" in capsys.readouterr().out


def test_one_trace_at_a_time_and_stop_needs_a_start(tmp_path):
    with pytest.raises(RuntimeError, match="No profile started"):
        profiler.stop_trace()
    profiler.start_trace(tmp_path)
    try:
        with pytest.raises(RuntimeError, match="already been started"):
            profiler.start_trace(tmp_path)
    finally:
        paths = profiler.stop_trace()
    assert len(paths) == 1 and os.path.exists(paths[0])


def test_annotations_outside_a_trace_record_nothing(tmp_path):
    f = profiler.annotate_function(lambda a: a * 2, name="double")
    with profiler.TraceAnnotation("idle"):
        assert f(3) == 6
    with profiler.trace(tmp_path):
        assert f(4) == 8
    assert [e["name"] for e in _events(tmp_path)] == ["double"]


def test_an_error_in_a_traced_call_propagates_and_is_recorded(tmp_path):
    @ft.jit
    def bad(a):
        return a @ a           # (3,) @ (3,) fine; (2, 3) @ (2, 3) fails while tracing
    with profiler.trace(tmp_path):
        with pytest.raises(Exception):
            bad(fnp.ones((2, 3)))
        assert float(bad(fnp.ones(3))) == 3.0
    names = [e["name"] for e in _events(tmp_path)]
    assert names.count("jit(bad)") == 2


def test_threads_get_their_own_events(tmp_path):
    f = ft.jit(lambda a: fnp.sin(a) * 2)
    x = fnp.ones(5)
    f(x)
    with profiler.trace(tmp_path):
        t = threading.Thread(target=f, args=(x,))
        t.start()
        t.join()
        f(x)
    calls = [e for e in _events(tmp_path) if e["cat"] == "jit"]
    assert len({e["tid"] for e in calls}) == 2


def test_disable_jit_inside_a_trace(tmp_path):
    f = ft.jit(lambda a: a * 3)
    with profiler.trace(tmp_path):
        with ft.disable_jit():
            assert float(f(fnp.float32(2))) == 6.0
    assert not [e for e in _events(tmp_path) if e["cat"] in ("jit", "program")]


def test_kernel_names():
    import ast
    names = {"add", "dot", "par_product64", "par_chunks51", "erf_109"}

    def name(code):
        return profiler._kernel_name(ast.parse(code).body[0].value, names)
    assert name("add.reduce(v1, axis=0)") == "add.reduce"
    assert name("dot(v1, v2).reshape((8, 64))") == "dot"
    assert name("v3.reshape((2, 2))") == "reshape"
    assert name("par_product64(dot, v1, a2, buf3)") == "dot (threads)"
    assert name("erf_109(xp, v1)") == "erf"
    assert name("par_chunks51(rows186, 64, 64)") == "rows (threads)"
