"""The package's version, where JAX keeps its own (`jax.version`): `__version__` and
`__version_info__`, also at the top level (`functrans.__version__`)."""
__version__ = "0.1.0"
__version_info__ = tuple(int(part) for part in __version__.split("."))
