"""pmap across processes: `mpiexec -n 2` and `-n 3` jobs run the checks of
tests/distributed_checks.py (every collective against NumPy eagerly, under jit and under
grad; data-parallel training equal to whole-batch training with bit-identical parameters in
every process; the helpers; mismatched shapes raising in every process), and a process that
raises ends the whole job. Skipped without mpi4py or mpiexec (`pip install
'functrans[mpi]'`)."""
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

pytest.importorskip("mpi4py")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable) + os.pathsep +
                       os.environ.get("PATH", ""))
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="mpiexec not found (pip install "
                                "'functrans[mpi]' brings MPICH's)")


def _env(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env["FT_CHECK_DIR"] = str(tmp_path)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    # Open MPI refuses root and more processes than cores unless told (MPICH needs neither)
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1", PRTE_MCA_rmaps_default_mapping_policy=
               ":oversubscribe")
    env.pop("FUNCTRANS_DEVICE", None)
    return env


def _launch(n, argv, tmp_path, timeout):
    return subprocess.run([MPIEXEC, "-n", str(n), sys.executable] + argv, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=timeout)


def _run_checks(n, names, tmp_path):
    proc = _launch(n, [os.path.join(HERE, "distributed_checks.py")] + names, tmp_path, 240)
    records = [json.loads(line) for p in range(n) if (tmp_path / f"results-{p}.jsonl").exists()
               for line in (tmp_path / f"results-{p}.jsonl").read_text().splitlines()]
    done = {(r["check"], r["process"]): r for r in records}
    missing = [(c, p) for c in names for p in range(n) if (c, p) not in done]
    failed = [f"{c} in process {p}:\n{r['error']}" for (c, p), r in done.items() if not r["ok"]]
    assert not missing and not failed and proc.returncode == 0, (
        f"exit code {proc.returncode}; missing {missing}\n" + "\n".join(failed) +
        f"\nstderr:\n{proc.stderr[-3000:]}")
    return done


ALL = ["collectives", "derivatives", "training", "helpers", "mismatch"]


def test_two_processes(tmp_path):
    _run_checks(2, ALL, tmp_path)


def test_three_processes(tmp_path):
    _run_checks(3, ALL, tmp_path)


FAILING = """
import time, numpy as np, functrans as ft
from functrans import lax
ft.distributed.initialize()
f = ft.pmap(lambda v: lax.psum(v, "i"), axis_name="i")
f(np.ones((1, 3)))
ft.distributed.barrier()
if ft.process_index() == 1:
    print("RAISED AT", time.time(), flush=True)
    raise RuntimeError("process 1 gives up")
f(np.ones((1, 3)))               # process 0 waits here for process 1, which never comes
time.sleep(120)
"""


def test_a_process_that_raises_ends_the_job(tmp_path):
    script = tmp_path / "failing.py"
    script.write_text(FAILING)
    proc = _launch(2, [str(script)], tmp_path, 90)
    ended = time.time()
    raised = float(next(line.split()[-1] for line in proc.stdout.splitlines()
                        if line.startswith("RAISED AT")))
    assert proc.returncode != 0
    assert "process 1 gives up" in proc.stderr and "aborting the MPI job" in proc.stderr
    assert ended - raised < 30, f"the job took {ended - raised:.1f} s to end"
    print(f"the job ended {ended - raised:.2f} s after process 1 raised")


def _printed_losses(text):
    return [float(line.split("loss:")[1]) for line in text.splitlines() if "] loss: " in line]


def test_the_data_parallel_example_over_two_processes(tmp_path, capsys):
    example = os.path.join(ROOT, "examples", "data_parallel.py")
    args = ["--steps", "30", "--print-every", "10", "--device", "cpu"]
    proc = _launch(2, [example] + args + ["--save", str(tmp_path / "net.ftz")], tmp_path, 180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "training on cpu in each of 2 process(es), data-parallel" in out
    assert out.count("Accuracy of the network on the 359 test images") == 1   # process 0
    assert (tmp_path / "net.ftz").exists()
    # the same global mini-batches as in one process: the same losses, up to rounding
    sys.path.insert(0, os.path.dirname(example))
    try:
        import data_parallel
        data_parallel.main(args + ["--save", str(tmp_path / "single.ftz")])
    finally:
        sys.path.remove(os.path.dirname(example))
    single = _printed_losses(capsys.readouterr().out)
    parallel = _printed_losses(out)
    assert len(parallel) == len(single) == 3
    assert max(abs(a - b) for a, b in zip(parallel, single)) <= 0.0011, (parallel, single)
