"""Mutable array references (JAX's `jax.ref`): `new_ref(init)` makes a `Ref`, `ref[idx]`
reads it, `ref[idx] = v` (and `+=`) writes it, `freeze(ref)` ends it and returns its value.

A Ref is a box around an immutable array: a read indexes the array it holds, a write replaces
that array with a new one (`value.at[idx].set(v)`). So the transforms never see a Ref, only
the array operations of its reads and writes, and state is discharged while tracing:

- A Ref belongs to the transform it was made in (its `main`). A function that only uses refs
  it makes is pure: `grad` differentiates through its reads and writes like any others.
- Writing into a Ref made outside a `vmap` from inside it is an error (every batch member
  would write the same place), and so is writing a value being differentiated into a Ref
  made outside the `grad`; reading them is fine.
- `jit` (a staging trace) brings in each outer Ref it touches (`_Imported`): its value is
  an extra input of the jaxpr and, if written, its final value an extra output
  (`partial_eval.trace_to_jaxpr(states=)`); each call reads the Ref before and writes it
  after (`Plan`). `make_jaxpr` and `eval_shape` trace the same way (the refs keep their
  values). A control-flow body's trace that touches outer refs stops its primitive
  (`partial_eval.StateUsed`), which runs again with them threaded (`Threaded`): the written
  ones as extra carries or operands and results, the ones only read closed over;
  `checkpoint` threads them the same way; custom_vjp / custom_jvp functions get them as
  extra operands and results of their primitive, seen inside them and their rules (`Passed`).
- Refs passed as arguments to `jit` or mapped by `vmap` are passed as their values and seen
  inside as new refs around them (`Lent`); what those hold at the end is written back (under
  vmap, into the entries the argument mapped).
"""
from __future__ import annotations

import numpy as np

from .array import Array
from .core import (ShapedArray, Tracer, active_mains, concrete_host_value, device_like,
                   is_python_scalar, staging_main)
from .interpreters.batching import BatchTrace
from .interpreters.partial_eval import note_state_write
from .numpy import asarray, zeros
from .numpy._dslice import has_dslice
from .numpy._indexing import dslice_shape

_SCALAR_KINDS = {bool: "b", int: "i", float: "f", complex: "c"}
_WIDER = {"b": "b", "i": "iufc", "f": "fc", "c": "c"}   # which dtype kinds a Python scalar fits
_NO_MATH = ("can't do math on a Ref: read its value first (ref[...], or ref[idx]) and compute "
            "with that")


class Ref:
    """A mutable array reference (`new_ref`): index it to read (`ref[idx]`) and to write
    (`ref[idx] = v`, `ref[idx] += v`). It has a shape and dtype but is not an array: read it
    to compute with its value."""
    __slots__ = ("_value", "_aval", "_main", "_home", "_lent", "_ended", "__weakref__")

    def __init__(self, value):
        self._value = value
        self._aval = ShapedArray(value.shape, value.dtype)
        self._main = self._home = active_mains()[-1]
        self._lent = None       # the transform it is passed to as an argument, while traced
        self._ended = None      # "frozen" or "freed"

    shape = property(lambda self: self._aval.shape)
    dtype = property(lambda self: self._aval.dtype)
    ndim = property(lambda self: self._aval.ndim)
    size = property(lambda self: self._aval.size)

    def __len__(self):
        if not self._aval.shape:
            raise TypeError("len() of unsized object")
        return self._aval.shape[0]

    def __getitem__(self, idx):
        return get(self, idx)

    def __setitem__(self, idx, value):
        _write(self, idx, value, "ref[idx] = value")

    def __array__(self, dtype=None, copy=None):
        raise TypeError(_NO_MATH)

    __iter__ = None

    def __repr__(self):
        if self._ended:
            return f"Ref({self._ended} {self._aval.str_short()})"
        v = self._value
        return "Ref" + repr(v)[len("Array"):] if type(v) is Array else f"Ref({v!r})"


# =================================================================== the public functions
def new_ref(init_val, *, memory_space=None, kind=None):
    """A new `Ref` holding `init_val` (an array, NumPy data or a Python number)."""
    if memory_space is not None or kind is not None:
        raise NotImplementedError("new_ref: memory_space and kind are not supported (functrans "
                                  "has one kind of memory per device); leave them out")
    if isinstance(init_val, Ref):
        raise TypeError("new_ref: init_val is a Ref, and refs to refs are not allowed; pass "
                        "its value (ref[...]) for a new Ref holding a copy")
    if not isinstance(init_val, (Array, Tracer)):
        try:
            init_val = asarray(init_val)
        except (TypeError, ValueError) as e:
            raise TypeError(f"new_ref: init_val must be an array, NumPy data or a number, not "
                            f"a {type(init_val).__name__} ({e})") from None
    return Ref(init_val)


def empty_ref(ty, *, memory_space=None):
    """A new `Ref` of `ty`'s shape and dtype (a `ShapeDtypeStruct` or an array). JAX leaves
    its contents undefined until written; here they are zeros."""
    return new_ref(zeros(ty.shape, ty.dtype), memory_space=memory_space)


def get(ref, idx=None):
    """`ref[idx]` (the whole value for `idx` None)."""
    value = _here(_checked(ref, "get"), "reading a Ref")
    if _whole(idx):
        return value
    _index_shape(ref, idx, "reading a Ref")
    return value[idx]


def set(ref, idx, value):       # (JAX's name, shadowing the builtin here)
    """`ref[idx] = value` (the whole value for `idx` None)."""
    _write(_checked(ref, "set"), idx, value, "ref_set")


def swap(ref, idx, value):
    """Write `value` at `ref[idx]` and return what was there."""
    old = get(ref, idx)
    _write(ref, idx, value, "ref_swap")
    return old


def addupdate(ref, idx, x):
    """`ref[idx] += x`."""
    _write(_checked(ref, "addupdate"), idx, get(ref, idx) + x, "ref_addupdate")


def freeze(ref):
    """End `ref` (using it afterwards is an error) and return its final value, an
    immutable array. Only where the Ref was made (not inside a transform it was not made in)."""
    return _end(_checked(ref, "freeze"), "freeze", "frozen")


def free_ref(ref):
    """End `ref` (using it afterwards is an error), where it was made."""
    _end(_checked(ref, "free_ref"), "free_ref", "freed")


# =================================================================== reading and writing
def _checked(ref, what):
    if not isinstance(ref, Ref):
        raise TypeError(f"{what}: expected a Ref (made by new_ref), got {type(ref).__name__}")
    return ref


def _whole(idx):
    return idx is None or idx is Ellipsis or (type(idx) is tuple and not idx)


def _here(ref, what):
    """`ref`'s value, as the transform running now sees it: a jit being traced that has not
    seen the Ref yet brings it in (`_Imported`)."""
    if ref._ended:
        raise ValueError(f"{what}: this Ref ({ref._aval.str_short()}) was {ref._ended} and "
                         "cannot be used any more")
    if ref._lent:
        raise ValueError(f"{what}: when tracing {ref._lent}, a Ref of {ref._aval.str_short()} "
                         "was both closed over and passed as an argument; do only one")
    main = ref._main
    if not main.active:
        raise ValueError(
            f"{what}: this Ref ({ref._aval.str_short()}) was made inside {main.name}, which "
            "has finished; a Ref cannot outlive the function that made it. Return its value "
            "(freeze(ref) or ref[...]) instead.")
    staging = staging_main()
    if staging is not None and staging.level > main.level:
        states = staging.payload.states
        if states is None:
            raise NotImplementedError(
                f"{what}: a Ref ({ref._aval.str_short()}) made outside {staging.name} is used "
                f"inside it, and {staging.name} does not support refs (jit and control "
                "flow do): pass its value in and return the new value instead")
        states.append(_Imported(ref, staging))
    return ref._value


def _write(ref, idx, value, what):
    current = _here(ref, what)
    aval = ref._aval
    whole = _whole(idx)
    shape = aval.shape if whole else _index_shape(ref, idx, what)
    if is_python_scalar(value):
        kind = _SCALAR_KINDS[type(value)]
        if aval.dtype.kind not in _WIDER[kind]:
            raise _dtype_error(what, aval, np.asarray(value).dtype)
        value = asarray(value, aval.dtype, device=device_like(current))
    elif not isinstance(value, (Array, Tracer)):
        if isinstance(value, Ref):
            raise TypeError(f"{what}: the value is a Ref; write its value (ref[...]) instead")
        value = asarray(value)
    if value.dtype != aval.dtype:
        raise _dtype_error(what, aval, value.dtype)
    if tuple(value.shape) != shape:
        raise ValueError(
            f"{what}: the value has shape {tuple(value.shape)} but the Ref "
            f"({aval.str_short()}) at this index has shape {shape}; a write to a Ref does not "
            "broadcast: pass a value of exactly that shape")
    _check_writer(ref, value, what)
    note_state_write(ref, "_value")
    ref._value = value if whole else current.at[idx].set(value)


def _dtype_error(what, aval, dtype):
    return ValueError(f"{what}: the value's dtype {np.dtype(dtype).name} is not the Ref's "
                      f"({aval.dtype.name}); cast it first (value.astype({aval.dtype.name}))")


def _check_writer(ref, value, what):
    """Refuse writes that would leave `ref` holding a value of a transform it was not made in
    (JAX's rules: no writes to a Ref closed over by a vmap; no differentiated values into a
    Ref made outside the differentiated function)."""
    level = ref._main.level
    for m in active_mains()[level + 1:]:
        if isinstance(m.trace, BatchTrace):
            raise ValueError(
                f"{what} inside {m.name}: the Ref ({ref._aval.str_short()}) was made outside "
                f"the {m.name}ped function (it closes over it), so every batch member would "
                "write the same place. Pass the Ref as an argument of the mapped function "
                "instead (its entries mapped by in_axes), or return the values.")
    if isinstance(value, Tracer) and value._trace.level > level:
        raise ValueError(
            f"{what}: the value depends on {value._trace.main.name} (it is being differentiated "
            f"or transformed), but the Ref ({ref._aval.str_short()}) was made outside that "
            "transform and would keep the value after it ends. Make the Ref inside the "
            "transformed function, or return the value instead.")


def _index_shape(ref, idx, what):
    """The shape of `ref[idx]`; an index out of bounds is an error when it is known now (an
    Array's reads clamp and writes drop instead)."""
    shape = ref._aval.shape
    if has_dslice(idx):
        shape, idx = dslice_shape(shape, idx)
    probe = []
    for i in (idx if type(idx) is tuple else (idx,)):
        if isinstance(i, (Array, Tracer, np.ndarray, list)):
            known = not isinstance(i, Tracer)
            dtype = np.asarray(i).dtype if isinstance(i, list) else i.dtype
            if dtype.kind not in "iu":
                raise TypeError(f"{what}: a Ref is indexed by integers, slices and integer "
                                f"arrays, not by {np.dtype(dtype).name} arrays")
            probe.append(concrete_host_value(i) if type(i) is Array else np.asarray(i) if known
                         else np.zeros(i.shape, np.intp))
        elif isinstance(i, Ref):
            raise TypeError(f"{what}: the index is a Ref; index by its value (ref[...])")
        else:
            probe.append(i)
    try:
        return np.broadcast_to(np.zeros((), np.bool_), shape)[tuple(probe)].shape
    except IndexError as e:
        raise ValueError(f"{what}: index out of bounds for a Ref of shape "
                         f"{ref._aval.shape}: {e}") from None


def _end(ref, what, how):
    value = _here(ref, what)
    here = active_mains()[-1]
    if ref._home is not here or ref._main is not here:
        raise ValueError(f"{what}: a Ref can only be {how} where it was made (in "
                         f"{ref._home.name}), not inside {here.name}")
    ref._ended, ref._value = how, None
    return value


def _write_whole(ref, value, what):
    """Give `ref` the value a transform computed for it (its aval already checked)."""
    _here(ref, what)
    _check_writer(ref, value, what)
    note_state_write(ref, "_value")
    ref._value = value


# =================================================================== transforms' side
class _Imported:
    """An outer Ref brought into the jaxpr being traced: its value there is a new input of
    the jaxpr; `outputs()` is its final value if written; `restore()` gives it back its value
    outside (see `partial_eval.trace_to_jaxpr`)."""
    __slots__ = ("ref", "outer", "main", "arg", "written")

    def __init__(self, ref, staging):
        self.ref, self.outer, self.main = ref, ref._value, ref._main
        self.arg = staging.trace.new_arg(ref._aval)
        self.written = False
        ref._value, ref._main = self.arg, staging

    def outputs(self):
        value = self.ref._value
        self.written = value is not self.arg
        return [value] if self.written else []

    def restore(self):
        self.ref._value, self.ref._main = self.outer, self.main
        self.arg = self.outer = None        # (no tracer of the finished trace kept)

    @staticmethod
    def threaded(states, what):
        """A `Threaded` for the refs of `states` (of one or more traces)."""
        written, read = [], []
        for s in states:
            if not any(s.ref is r for r in written + read):
                (written if any(t.written for t in states if t.ref is s.ref) else
                 read).append(s.ref)
        return Threaded(written, read, what)

    @staticmethod
    def passed(states, what):
        """A `Passed` for the refs of `states`."""
        return Passed(states, what)


class Threaded:
    """Outer refs a staged body touched, for running it again with them passed through as
    values: the `written` ones go in as `initial` (extra carries or operands) and come out
    of `call` (extra results), to `write_back` after the loop or branch; the ones only
    `read` are seen inside as their values here (closed over). Made, where the body's
    primitive is bound, by `partial_eval.StateUsed.threaded`."""
    __slots__ = ("written", "read", "what", "initial", "read_values")

    def __init__(self, written, read, what):
        self.written, self.read, self.what = written, read, what
        self.initial = [_here(r, what) for r in written]
        self.read_values = [_here(r, what) for r in read]

    def call(self, fun, args, values):
        """`(fun(*args), final values of the written refs)`, with the written refs holding
        `values` as refs of the transform running now (the body's trace)."""
        values = list(values)
        out, finals = _holding(self.written + self.read, values + self.read_values, fun, args)
        if any(a is not b for a, b in zip(finals[len(values):], self.read_values)):
            raise ValueError(f"{self.what}: a Ref is written where it was only read when "
                             "first traced")
        return out, finals[:len(values)]

    def write_back(self, values):
        for r, v in zip(self.written, values):
            _write_whole(r, v, self.what)


def _holding(refs, values, fun, args):
    """`(fun(*args), the refs' final values)`, with `refs` holding `values` meanwhile as refs
    of the transform running now."""
    saved = [(r._value, r._main) for r in refs]
    here = active_mains()[-1]
    for r, v in zip(refs, values):
        r._value, r._main = v, here
    try:
        return fun(*args), [r._value for r in refs]
    finally:
        for r, (v, m) in zip(refs, saved):
            r._value, r._main = v, m


class Passed:
    """Outer refs a custom_vjp / custom_jvp function used, passed to its primitive as extra
    operands (each one's value, `initial`) and results (the final values of the `written`
    ones), so that the function and its rules, run by whatever transform, see them as refs
    holding the operands (`call`). Made from the records of a trace of the function."""
    __slots__ = ("refs", "n_written", "what", "initial")

    def __init__(self, states, what):
        t = _Imported.threaded(states, what)
        self.refs, self.n_written, self.what = t.written + t.read, len(t.written), what
        self.initial = t.initial + t.read_values

    avals = property(lambda self: [r._aval for r in self.refs])

    def call(self, fun, args, values):
        """`(fun(*args), final values of the written refs)`, the refs holding `values`."""
        out, finals = _holding(self.refs, values, fun, args)
        if any(a is not b for a, b in zip(finals[self.n_written:], values[self.n_written:])):
            raise ValueError(f"{self.what}: a Ref is written by a derivative rule but not by "
                             "the function (or where it was only read when first traced); "
                             "the function and its rules must write the same refs")
        return out, finals[:self.n_written]

    def write_back(self, values):
        for r, v in zip(self.refs, values):
            _write_whole(r, v, self.what)

    def live(self):
        """The refs as a `Live`, a param of the primitive that reruns the function."""
        return Live(tuple(self.refs), self.n_written, self.what)


class Live:
    """Outer refs passed to a primitive (as `Passed`) whose rule runs the function again
    later, reading the refs' values then and writing them again (checkpoint's recomputation
    in the backward pass, as JAX does)."""
    __slots__ = ("refs", "n_written", "what")

    def __init__(self, refs, n_written, what):
        self.refs, self.n_written, self.what = refs, n_written, what

    def __repr__(self):
        return f"refs({len(self.refs)}, written={self.n_written})"

    def now(self):
        """The refs' values now, or None where the running transform cannot reach them (a
        staged jaxpr transformed apart from the refs: grad of jit)."""
        staging = staging_main()
        if any(r._ended or r._lent or not r._main.active or
               staging is not None and staging.level > r._main.level for r in self.refs):
            return None
        return [r._value for r in self.refs]

    def write_back(self, values):
        for r, v in zip(self.refs, values):
            _write_whole(r, v, self.what)


class Lent:
    """The Refs among a transform's flat arguments (`lend`): each is passed as its value, and
    the traced function sees a new Ref around what it receives there (`call`)."""
    __slots__ = ("positions", "refs", "written")

    def __init__(self, positions, refs):
        self.positions, self.refs, self.written = tuple(positions), refs, ()

    def call(self, fun, flat, what):
        """`fun(*flat)` with new refs at the lent positions; its outputs followed by the final
        values of the refs it wrote (`written`, in order)."""
        flat = list(flat)
        inner = []
        for i in self.positions:
            inner.append((Ref(flat[i]), flat[i]))
            flat[i] = inner[-1][0]
        for r in self.refs:
            r._lent = what
        try:
            outs = fun(*flat)
        finally:
            for r in self.refs:
                r._lent = None
        self.written = tuple(r._value is not v for r, v in inner)
        return list(outs) + [r._value for (r, _), w in zip(inner, self.written) if w]

    def write_back(self, values, written, what):
        for r, w in zip(self.refs, written):
            if w:
                _write_whole(r, next(values), what)


def lend(leaves, what, dims=None):
    """The Refs among `leaves` (those mapped by `dims`, under vmap) replaced by their values
    (in place) as a `Lent`, or None if there are none."""
    positions, refs = [], []
    for i, x in enumerate(leaves):
        if type(x) is Ref and (dims is None or dims[i] is not None):
            if any(x is r for r in refs):
                raise ValueError(f"{what}: the same Ref ({x._aval.str_short()}) was passed "
                                 "twice; pass it once")
            leaves[i] = _here(x, what)
            positions.append(i)
            refs.append(x)
    return Lent(positions, refs) if refs else None


def refuse_differentiated(leaf, what):
    """Refuse a Ref among the arguments a transform differentiates (`what` names the argument
    and the function), as JAX does (with a ValueError)."""
    if type(leaf) is Ref:
        raise ValueError(f"{what} is a Ref ({leaf._aval.str_short()}), and refs cannot be "
                         "differentiated with respect to: pass its value (ref[...]) in its "
                         "place, or close over the Ref (or leave its argument out of argnums) "
                         "to read and write it in the function")


def check_outputs(outs, what):
    """Refuse a Ref among a traced function's outputs."""
    for o in outs:
        if type(o) is Ref:
            raise ValueError(f"{what} returned a Ref ({o._aval.str_short()}), but refs cannot "
                             "be returned from a transformed function: return its value "
                             "(ref[...] or freeze(ref)) instead")
    return outs


class Plan:
    """What a traced function does with refs: which lent refs it writes, and which outer
    refs it reads (extra inputs, in order) and writes (extra outputs after the lent ones)."""
    __slots__ = ("lent_written", "imported", "imported_written")

    def __init__(self, lent, imported):
        self.lent_written = lent.written if lent else ()
        self.imported = [s.ref for s in imported]
        self.imported_written = [s.written for s in imported]

    def inputs(self, what):
        return [_here(r, what) for r in self.imported]

    def finish(self, outs, lent, what):
        """The function's own outputs, after writing the refs' final values back."""
        n = len(outs) - sum(self.lent_written) - sum(self.imported_written)
        values = iter(outs[n:])
        if lent is not None:
            lent.write_back(values, self.lent_written, what)
        for r, w in zip(self.imported, self.imported_written):
            if w:
                _write_whole(r, next(values), what)
        return outs[:n]


def traced_with_refs(fun, lent, what):
    """`fun` (flat in, flat out), for tracing with refs: lent refs seen as refs, Ref outputs
    refused. Returns `(flat function, imported)`, `imported` to pass to
    `trace_to_jaxpr(states=)`; afterwards `Plan(lent, imported)` (or None: no refs used)."""
    def traced(*flat):
        if lent is None:
            return check_outputs(fun(*flat), what)
        return lent.call(lambda *f: check_outputs(fun(*f), what), flat, what)
    return traced, []


def plan(lent, imported):
    return Plan(lent, imported) if lent is not None or imported else None
