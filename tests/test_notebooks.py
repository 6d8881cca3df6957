"""Every notebook in notebooks/ runs top to bottom without an error.

The notebooks are stored without outputs; this executes them in a fresh "python3" kernel
whose working directory is the repository root, so `import functrans` finds this checkout.
"""
import os
import pathlib

import pytest

nbformat = pytest.importorskip("nbformat", reason="executing notebooks needs nbformat")
nbclient = pytest.importorskip("nbclient", reason="executing notebooks needs nbclient")
pytest.importorskip("ipykernel", reason="executing notebooks needs ipykernel")

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT_S = 300


def execute(path):
    """Run the notebook at `path` in a fresh kernel; return it with its outputs."""
    nb = nbformat.read(path, as_version=4)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]),
        MPLBACKEND="Agg")
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT_S,
                                     resources={"metadata": {"path": str(ROOT)}})
    client.execute(env=env)
    return nb


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_and_is_stored_without_outputs(path):
    stored = nbformat.read(path, as_version=4)
    nbformat.validate(stored)
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in stored.cells if c.cell_type == "code"), \
        f"{path.name} has stored outputs; clear them before committing"
    executed = execute(path)          # raises CellExecutionError naming the failing cell
    code_cells = [c for c in executed.cells if c.cell_type == "code"]
    assert code_cells and all(c.execution_count for c in code_cells)
