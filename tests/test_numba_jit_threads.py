"""`numba_jit.compiled` from several threads at once: a new loop's source file is written and
imported by one thread only. numba itself is replaced by a stand-in whose `njit` returns the
Python function, so this runs without numba."""
import sys
import threading
import time
import types
import uuid

from functrans.backends import numba_jit


def test_threads_compiling_the_same_new_loop_write_its_file_once(monkeypatch, tmp_path):
    monkeypatch.setenv("FUNCTRANS_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(numba_jit, "_numba",
                        [types.SimpleNamespace(njit=lambda **options: lambda f: f)])
    monkeypatch.setattr(numba_jit, "_compiled", {})
    holds = numba_jit._holds

    def slow_holds(path, text):         # widens the window between the check and the write
        time.sleep(0.05)
        return holds(path, text)
    monkeypatch.setattr(numba_jit, "_holds", slow_holds)
    writes = []
    mkstemp = numba_jit.tempfile.mkstemp

    def counting_mkstemp(*args, **kwargs):
        writes.append(1)
        return mkstemp(*args, **kwargs)
    monkeypatch.setattr(numba_jit.tempfile, "mkstemp", counting_mkstemp)

    # a source no earlier test compiled, so the loop is new to this process and the directory
    source = f"def plus_one(x):\n    return x + 1  # {uuid.uuid4().hex}\n"
    start = threading.Barrier(4)
    functions = []

    def compile_it():
        start.wait()
        functions.append(numba_jit.compiled(source, "plus_one"))
    threads = [threading.Thread(target=compile_it) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(writes) == 1
    assert len(functions) == 4 and all(f is functions[0] for f in functions)
    assert functions[0](2) == 3
    assert len(list((tmp_path / "numba").glob("*.py"))) == 1
    for name in [n for n in sys.modules if n.startswith("functrans_numba_plus_one_")]:
        del sys.modules[name]
