"""The README's code runs, its links resolve, and CI can find its test command."""
import pathlib
import re
import subprocess

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_tour_runs_and_trains(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert blocks, "the README has no python code block"
    namespace = {}
    exec(compile(blocks[0], "README.md (tour)", "exec"), namespace)
    assert "(256, 3)" in capsys.readouterr().out
    np.testing.assert_allclose(np.asarray(namespace["w"]), [1.0, -2.0, 0.5], atol=0.05)


def test_local_links_exist():
    targets = re.findall(r"\]\(((?:examples|notebooks|benchmarks)/[^)#]+)\)", README)
    assert targets
    missing = [t for t in targets if not (ROOT / t).exists()]
    assert not missing, f"README links to missing files: {missing}"


def test_ci_finds_the_test_command():
    # .ci/run takes the line after the code fence that follows the marker
    cmd = subprocess.run(["awk", "/<!-- test-command -->/{getline; getline; print; exit}",
                          str(ROOT / "README.md")], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert cmd.startswith('pip install -e ".[test]"') and "python -m pytest" in cmd
