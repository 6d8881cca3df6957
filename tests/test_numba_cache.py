"""The `jit_numba` setting and numba's on-disk cache of functrans's loops: "auto" (the default)
compiles the fixed kernels only, True also each program's chains, False nothing; a loop
compiled in one process is loaded, not compiled, in the next; a cache directory that cannot
be written, or a cached source that was changed, never breaks a loop. Skipped without numba."""
import os
import subprocess
import sys

import numpy as np
import pytest

import functrans as ft
from functrans.backends import numba_jit

pytest.importorskip("numba")

_LOOP = """
def twice_plus(x, out):
    for i in range(x.shape[0]):
        out[i] = x[i] * K0 + K1
"""

_RUN = f"""
import numpy as np
from functrans.backends import numba_jit
fn = numba_jit.compiled({_LOOP!r}, "twice_plus",
                        {{"K0": np.float32(2.0), "K1": np.float32(0.1)}})
x = np.arange(4, dtype=np.float32)
out = np.empty_like(x)
fn(x, out)
assert out.tolist() == (x * np.float32(2.0) + np.float32(0.1)).tolist(), out
print(sum(fn.stats.cache_hits.values()), sum(fn.stats.cache_misses.values()))
"""


def _run(cache_dir):
    env = dict(os.environ, FUNCTRANS_CACHE_DIR=str(cache_dir))
    done = subprocess.run([sys.executable, "-c", _RUN], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    hits, misses = map(int, done.stdout.split())
    return hits, misses


def test_a_loop_compiled_in_one_process_is_loaded_in_the_next(tmp_path):
    assert _run(tmp_path) == (0, 1)
    assert _run(tmp_path) == (1, 0)
    sources = [p for p in os.listdir(tmp_path / "numba") if p.endswith(".py")]
    assert len(sources) == 1 and "twice_plus" in sources[0]
    text = (tmp_path / "numba" / sources[0]).read_text()
    assert "K0 = float32(float.fromhex('0x1.0000000000000p+1'))" in text


def test_a_changed_cached_source_is_written_again_not_run(tmp_path):
    _run(tmp_path)
    (source,) = (tmp_path / "numba").glob("*.py")
    source.write_text(source.read_text() + "\nraise SystemExit('tampered')\n")
    assert _run(tmp_path) == (1, 0)         # rewritten as it was: numba stamps by content
    assert "tampered" not in source.read_text()


def test_a_cache_directory_that_cannot_be_made_leaves_loops_uncached(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    assert _run(blocker) == (0, 1)
    assert _run(blocker) == (0, 1)


@pytest.fixture
def restore_setting():
    before = ft.config.jit_numba
    yield
    ft.config.update("jit_numba", before)


def test_the_setting_decides_what_is_compiled(restore_setting):
    ft.config.update("jit_numba", "auto")
    assert numba_jit.available() and not numba_jit.chains_available()
    assert numba_jit.takes(np, np.float32)
    ft.config.update("jit_numba", True)
    assert numba_jit.available() and numba_jit.chains_available()
    ft.config.update("jit_numba", False)
    assert not numba_jit.available() and not numba_jit.chains_available()
    assert not numba_jit.takes(np, np.float32)
    with pytest.raises(ValueError, match="jit_numba must be True, False or 'auto'"):
        ft.config.update("jit_numba", "yes please")


@pytest.mark.parametrize("raw, value", [("auto", "auto"), ("AUTO", "auto"), ("1", True),
                                        ("true", True), ("0", False), ("no", False)])
def test_the_environment_variable(raw, value):
    code = "import functrans as ft; print(repr(ft.config.jit_numba))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, FUNCTRANS_JIT_NUMBA=raw), timeout=120)
    assert done.stdout.strip() == repr(value), done.stderr


def test_auto_leaves_programs_chains_to_numpy(restore_setting):
    x = ft.numpy.ones((4, 5))
    for setting, compiled_chain in (("auto", False), (True, True)):
        ft.config.update("jit_numba", setting)
        source = ft.jit(lambda x, y: (x * y - 0.5 * x) / 3.0).lower(x, x).compile().as_text()
        assert ("one compiled loop" in source) == compiled_chain, source
