"""`functrans.version` (as `jax.version`): the version string and tuple, at the top level too,
and the same as the installed package's metadata (pyproject.toml)."""
import importlib.metadata

import functrans as ft


def test_version_attributes():
    assert ft.version.__version__ == ft.__version__
    assert ft.__version_info__ == ft.version.__version_info__
    assert ft.__version_info__ == tuple(int(p) for p in ft.__version__.split("."))
    assert all(type(p) is int for p in ft.__version_info__)


def test_version_matches_the_package_metadata():
    assert importlib.metadata.version("functrans") == ft.__version__
