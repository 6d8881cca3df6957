"""The ahead-of-time stages of a jitted function (JAX's `jit(f).trace(*args)`,
`.lower()` and `.compile()`): `Traced`, `Lowered` and `Compiled`, made by `Jitted.trace`."""
from __future__ import annotations

import numpy as np

from .api import output_shapes
from .compiler import compile_jaxpr
from .core import ShapeDtypeStruct
from .jit_explain import sig_str
from .tree_util import tree_map, tree_structure, tree_unflatten


class Traced:
    """`jit(f).trace(*args)`: `f` staged for such arguments, not compiled yet: the `jaxpr`,
    its outputs `out_info` (`ShapeDtypeStruct`s, weakly typed where they are), the
    structures `in_tree` (of the dynamic `(args, kwargs)`) and `out_tree`, and `lower()`."""

    def __init__(self, jitted, args, kwargs, key, entry, device):
        self._jitted, self._args, self._kwargs, self._key = jitted, args, kwargs, key
        self._entry, self._device = entry, device

    jaxpr = property(lambda self: self._entry.jaxpr)
    out_tree = property(lambda self: self._entry.out_tree)
    out_info = property(lambda self: output_shapes(       # (not the refs' final values)
        self._entry.jaxpr, self._entry.out_tree, [False] * self._entry.out_tree.num_leaves))
    in_tree = property(lambda self: tree_structure(
        self._jitted._split_args(self._args, self._kwargs)[0]))

    @property
    def args_info(self):
        """The dynamic arguments as a pytree (`in_tree`) of `ArgInfo`s."""
        donated = set(self._entry.donated)
        return tree_unflatten(self.in_tree, [ArgInfo(s[0], s[1], i in donated)
                                             for i, s in enumerate(self._key[1])])

    def lower(self):
        e = self._entry
        return Lowered(e.jaxpr, compile_jaxpr(e.jaxpr, self._device, self._jitted._name,
                                              e.donated), self)


class Lowered:
    """A traced and compiled function: its jaxpr, optimized jaxpr and generated code;
    `in_tree`, `out_tree` and `out_info` (as the Arrays it returns: never weakly typed)."""

    def __init__(self, jaxpr, executable, traced):
        self.jaxpr, self.executable, self._traced = jaxpr, executable, traced

    in_tree = property(lambda self: self._traced.in_tree)
    out_tree = property(lambda self: self._traced.out_tree)
    args_info = property(lambda self: self._traced.args_info)
    out_info = property(lambda self: tree_map(
        lambda s: ShapeDtypeStruct(s.shape, s.dtype, self.executable.device),
        self._traced.out_info))

    def as_text(self):
        return (f"# jaxpr\n{self.jaxpr}\n\n" + self.executable.as_text())

    def compile(self, compiler_options=None):
        """The compiled function: call it as the jitted one, without the static arguments,
        with arguments of the shapes and dtypes it was lowered for. Its attributes are the
        executable's (`jaxpr`, `source`, `as_text()`, `cost_analysis()`,
        `memory_analysis()`). `compiler_options` (XLA's flags in JAX) must be empty."""
        if compiler_options:
            raise ValueError(f"compile(compiler_options={compiler_options!r}): functrans "
                             "compiles to NumPy/CuPy code and takes no compiler options")
        return Compiled(self.executable, self._traced)

    def cost_analysis(self):
        """The program's `flops`, `transcendentals` and `bytes accessed` (as `Compiled`'s)."""
        return self.executable.cost_analysis()

    def __str__(self):
        return self.as_text()

    def _repr_html_(self):
        import html
        return f"<pre>{html.escape(self.as_text())}</pre>"


class Compiled:
    """`jit(f).lower(*args).compile()`: called like `f` without its static arguments."""

    def __init__(self, executable, traced):
        self._executable, self._traced = executable, traced

    in_tree = property(lambda self: self._traced.in_tree)
    out_tree = property(lambda self: self._traced.out_tree)
    args_info = property(lambda self: self._traced.args_info)

    def __getattr__(self, name):
        return getattr(self._executable, name)

    def __call__(self, *args, **kwargs):
        t = self._traced
        jitted, low_args, low_kwargs, key = t._jitted, t._args, t._kwargs, t._key
        it = iter(args)
        full = tuple(a if jitted._is_static(i) else next(it, _MISSING)
                     for i, a in enumerate(low_args))
        kw = {k: v for k, v in low_kwargs.items() if k not in kwargs}
        kw.update(kwargs)
        complete = all(a is not _MISSING for a in full) and next(it, _MISSING) is _MISSING
        if not complete or jitted._lower_key(full, kw)[0] != key:
            want = ", ".join(sig_str(s, False) for s in key[1])
            raise TypeError(f"jit({jitted._name}).lower(...).compile(): called with arguments "
                            f"that differ from the ones it was compiled for ({want}; static "
                            f"arguments left out); lower it again for these")
        return jitted(*full, **kw)


_MISSING = object()


class ArgInfo:
    """One dynamic argument of a traced function: its `shape`, `dtype` and whether it is
    `donated`."""
    __slots__ = ("shape", "dtype", "donated")

    def __init__(self, shape, dtype, donated):
        self.shape, self.dtype, self.donated = tuple(shape), dtype, donated

    def __repr__(self):
        return (f"ArgInfo(shape={self.shape}, dtype={np.dtype(self.dtype).name}, "
                f"donated={self.donated})")
