"""The byte format of `ft.export` (see `functrans.export` for what it holds and why reading it
is safe): `write` turns an Exported's levels (the function, then its VJPs) into bytes, `read`
turns bytes back into levels, looking names up only among functrans's own primitives, enums
and named tuples."""
from __future__ import annotations

import enum
import math
import struct
import sys

import numpy as np

from ..backends import transfer_guard
from ..compiler.jit_call import jit_p
from ..core import Primitive, ShapedArray, abstractify
from ..jaxpr import Var, Literal, Jaxpr, JaxprEqn, ClosedJaxpr
from ..serialization import array_spec_problem
from ..tree_util import PyTreeDef

SERIALIZATION_VERSION = 1
MAGIC = b"FTEXPORT"
MAX_DEPTH = 100                 # nesting of values and jaxprs in a blob


class DeserializationError(ValueError):
    """Bytes `deserialize` cannot read as an exported function (not one, damaged, a newer
    format version, or naming primitives this functrans lacks)."""


_tables = {}


def _tables_now():
    """Functrans's primitives (by serialized name, both ways) and its enum and named-tuple
    classes (by module.qualname): the only things a blob can name. Built from the functrans
    modules loaded; a primitive name two primitives share is qualified by the first module
    (in sorted order) holding each."""
    loaded = sorted(m for m in sys.modules if m == "functrans" or m.startswith("functrans."))
    if _tables.get("modules") == loaded:
        return _tables
    holders, classes = {}, {}
    for mod_name in loaded:
        for v in list(vars(sys.modules[mod_name]).values()):
            if isinstance(v, Primitive):
                holders.setdefault(v.name, {}).setdefault(id(v), (v, mod_name))
            elif isinstance(v, type) and (v.__module__ or "").startswith("functrans") and (
                    issubclass(v, enum.Enum) or issubclass(v, tuple) and hasattr(v, "_fields")):
                classes[f"{v.__module__}.{v.__qualname__}"] = v
    by_name, by_id = {}, {}
    for name, objs in holders.items():
        for prim, mod_name in objs.values():
            key = name if len(objs) == 1 else f"{name}@{mod_name}"
            by_name[key], by_id[id(prim)] = prim, key
    _tables.update(modules=loaded, by_name=by_name, by_id=by_id, classes=classes)
    return _tables


_custom_nodes = {}        # node type -> (serialized name, serialize_auxdata)
_custom_names = {}        # serialized name -> (node type, deserialize_auxdata)


def register_pytree_node_serialization(nodetype, *, serialized_name, serialize_auxdata,
                                       deserialize_auxdata, from_children=None):
    """Let Exporteds whose argument or result structures hold `nodetype` (a registered
    pytree node) be serialized: its aux data as the bytes `serialize_auxdata(aux)` returns,
    read back by `deserialize_auxdata(bytes)`, under `serialized_name`. `from_children` is
    accepted for JAX's code (functrans structures keep the node type). Returns `nodetype`."""
    if nodetype in _custom_nodes:
        raise ValueError(f"Duplicate serialization registration for type `{nodetype}`. "
                         f"Previous registration was with serialized_name "
                         f"`{_custom_nodes[nodetype][0]}`.")
    if serialized_name in _custom_names:
        raise ValueError(f"Duplicate serialization registration for serialized_name "
                         f"`{serialized_name}`. Previous registration was for type "
                         f"`{_custom_names[serialized_name][0]}`.")
    _custom_nodes[nodetype] = (serialized_name, serialize_auxdata)
    _custom_names[serialized_name] = (nodetype, deserialize_auxdata)
    return nodetype


def register_namedtuple_serialization(nodetype, *, serialized_name):
    """`register_pytree_node_serialization` for a namedtuple class (no aux data)."""
    if not (isinstance(nodetype, type) and issubclass(nodetype, tuple)
            and hasattr(nodetype, "_fields")):
        raise ValueError(f"Cannot register {nodetype} as a namedtuple: it is not one")
    return register_pytree_node_serialization(
        nodetype, serialized_name=serialized_name, serialize_auxdata=lambda aux: b"",
        deserialize_auxdata=lambda data: None)


# =================================================================== writing
class _Unserializable(TypeError):
    pass


_TREE_KINDS = {tuple: 2, list: 3, dict: 4}


class _Writer:
    def __init__(self):
        self.buf = bytearray()
        self.names = _tables_now()["by_id"]

    def raw(self, b):
        self.buf += b

    def u8(self, n):
        self.buf.append(n)

    def u32(self, n):
        self.buf += struct.pack("<I", n)

    def str(self, s):
        data = s.encode("utf-8")
        self.u32(len(data))
        self.buf += data

    def level(self, name, in_tree, out_tree, platforms, checks, closed):
        self.str(name)
        for v in (in_tree, out_tree, tuple(platforms), tuple(checks), closed):
            self.value(v)

    def value(self, v, where="a param"):
        t = type(v)
        if v is None or t is bool:
            self.raw({None: b"N", True: b"T", False: b"F"}[v])
        elif t is int:
            data = v.to_bytes(v.bit_length() // 8 + 1, "little", signed=True)
            self.raw(b"i")
            self.u32(len(data))
            self.raw(data)
        elif t is float:
            self.raw(b"f" + struct.pack("<d", v))
        elif t is complex:
            self.raw(b"c" + struct.pack("<dd", v.real, v.imag))
        elif t is str:
            self.raw(b"s")
            self.str(v)
        elif t is bytes:
            self.raw(b"B")
            self.u32(len(v))
            self.raw(v)
        elif t in (tuple, list):
            self.raw(b"t" if t is tuple else b"l")
            self.u32(len(v))
            for u in v:
                self.value(u, where)
        elif isinstance(v, np.dtype):
            self.raw(b"d")
            self.dtype(v)
        elif isinstance(v, type) and issubclass(v, np.generic):
            self.raw(b"y")
            self.dtype(np.dtype(v))
        elif isinstance(v, (enum.Enum, tuple)) and self.class_name(v):
            self.raw(b"e" if isinstance(v, enum.Enum) else b"n")
            self.str(self.class_name(v))
            self.value(v.name if isinstance(v, enum.Enum) else tuple(v), where)
        elif t is ShapedArray:
            self.raw(b"a")
            self.aval(v)
        elif t is PyTreeDef:
            self.raw(b"P")
            self.treedef(v)
        elif t is Jaxpr:
            self.raw(b"J")
            self.jaxpr(v)
        elif t is ClosedJaxpr:
            self.raw(b"C")
            self.jaxpr(v.jaxpr)
            self.u32(len(v.consts))
            for c in v.consts:
                self.value(c if type(c) in (bool, int, float, complex) else _host(c),
                           "a constant")
        elif isinstance(v, (np.ndarray, np.generic)):
            self.raw(b"A")
            self.array(np.asarray(v))
        else:
            raise _Unserializable(f"{where} is a {t.__module__}.{t.__qualname__}, which "
                                  "is not data that can be serialized")

    def class_name(self, v):
        return self.class_name_of(type(v))

    @staticmethod
    def class_name_of(cls):
        name = f"{cls.__module__}.{cls.__qualname__}"
        return name if _tables_now()["classes"].get(name) is cls else None

    def dtype(self, dt):
        problem = array_spec_problem(dt.name, [])
        if problem:
            raise _Unserializable(f"a value {problem}")
        self.str(dt.name)

    def aval(self, a):
        if type(a) is not ShapedArray:
            raise _Unserializable(f"a value of type {a} (not an array) flows through the jaxpr")
        self.dtype(a.dtype)
        self.u8(len(a.shape))
        self.raw(struct.pack(f"<{len(a.shape)}Q", *a.shape))
        self.u8(bool(a.weak_type))

    def array(self, x):
        self.aval(ShapedArray(x.shape, x.dtype))
        data = np.ascontiguousarray(x, x.dtype.newbyteorder("<")).tobytes()
        self.raw(struct.pack("<Q", len(data)))
        self.raw(data)

    def treedef(self, t):
        if t.node_type is None:
            kind, aux = 0, None
        elif t.node_type is type(None):
            kind, aux = 1, None
        elif t.node_type in _TREE_KINDS:
            kind, aux = _TREE_KINDS[t.node_type], t.node_data
            if kind == 4 and not all(type(k) in (str, int) for k in aux):
                raise _Unserializable(f"the structure holds a dict with keys {aux!r:.100}; "
                                      "only string and int keys are serialized")
        elif t.node_type in _custom_nodes:
            name, ser = _custom_nodes[t.node_type]
            kind, aux = 5, (name, bytes(ser(t.node_data)))
        elif t.node_data is None and self.class_name_of(t.node_type):
            kind, aux = 6, self.class_name_of(t.node_type)       # functrans's named tuples
        else:
            raise _Unserializable(
                f"the structure holds a {t.node_type.__qualname__} node; register it with "
                "ft.export.register_pytree_node_serialization (or "
                "register_namedtuple_serialization) to serialize it")
        self.u8(kind)
        if kind >= 4:
            self.value(aux)
        self.u32(len(t.children))
        for c in t.children:
            self.treedef(c)

    def jaxpr(self, j):
        index = {}
        for v in (*j.constvars, *j.invars):
            index[v] = len(index)
        for group in (j.constvars, j.invars):
            self.u32(len(group))
            for v in group:
                self.aval(v.aval)
        self.u32(len(j.eqns))
        for eqn in j.eqns:
            self.eqn(eqn, index)
            for v in eqn.outvars:
                index[v] = len(index)
        self.atoms(j.outvars, index)

    def atoms(self, atoms, index):
        self.u32(len(atoms))
        for a in atoms:
            if type(a) is Literal:
                self.u8(1)
                self.value(a.val, "a literal")
                self.aval(a.aval)
            else:
                self.u8(0)
                self.u32(index[a])

    def eqn(self, eqn, index):
        prim, params = eqn.primitive, eqn.params
        sub = _Writer()
        try:
            sub.params(prim, params)
        except _Unserializable:
            if prim.callee is None or not isinstance(params.get(prim.callee), ClosedJaxpr):
                raise
            # a call whose functions only shape derivatives or batching: its values are its
            # jaxpr's (the derivatives travel as the serialized VJPs)
            prim, params = jit_p, {"jaxpr": params[prim.callee],
                                   "name": str(params.get("name", prim.name))}
            sub = _Writer()
            sub.params(prim, params)
        key = self.names.get(id(prim))
        if key is None or _tables_now()["by_name"].get(key) is not prim:
            raise TypeError(f"serialize: primitive '{prim.name}' is not one of functrans's "
                            "own (defined in a functrans module), so deserialize could not "
                            "find it")
        self.str(key)
        self.atoms(eqn.invars, index)
        self.u32(len(eqn.outvars))
        for v in eqn.outvars:
            self.aval(v.aval)
        self.raw(sub.buf)

    def params(self, prim, params):
        self.u32(len(params))
        for k, v in sorted(params.items()):
            self.str(k)
            try:
                self.value(v, f"param '{k}'")
            except _Unserializable as e:
                if isinstance(v, (Jaxpr, ClosedJaxpr)) or \
                        isinstance(v, tuple) and any(isinstance(u, ClosedJaxpr) for u in v):
                    raise                               # names the innermost primitive
                raise _Unserializable(f"cannot serialize primitive '{prim.name}': "
                                      f"{e}; such functions cannot be exported") from None


def _host(c):
    with transfer_guard.explicit():
        return np.asarray(c)


# =================================================================== reading
class _Reader:
    def __init__(self, blob):
        self.mv, self.at, self.depth = memoryview(blob).cast("B"), 0, 0
        self.tables = _tables_now()

    def fail(self, message):
        raise DeserializationError(f"ft.export.deserialize: at byte {self.at}: {message}")

    def take(self, n, what):
        if n > len(self.mv) - self.at:
            self.fail(f"{what} needs {n} bytes but only {len(self.mv) - self.at} are left; the "
                      "data is truncated or damaged")
        out = self.mv[self.at:self.at + n]
        self.at += n
        return out

    def u8(self, what):
        return self.take(1, what)[0]

    def u32(self, what):
        return struct.unpack("<I", self.take(4, what))[0]

    def count(self, what, min_bytes=1):
        """A count of items each taking at least `min_bytes` of what is left."""
        n = self.u32(what)
        if n * min_bytes > len(self.mv) - self.at:
            self.fail(f"{what}: {n} items cannot fit in the {len(self.mv) - self.at} bytes left")
        return n

    def str(self, what):
        n = self.count(what)
        try:
            return str(self.take(n, what), "utf-8")
        except UnicodeDecodeError:
            self.fail(f"{what} is not UTF-8 text")

    def nested(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.fail(f"values nest more than {MAX_DEPTH} deep")

    def level(self):
        """(name, in_tree, out_tree, platforms, disabled checks, closed jaxpr)."""
        name = self.str("the function name")
        in_tree = self.value_of(PyTreeDef, "in_tree")
        out_tree = self.value_of(PyTreeDef, "out_tree")
        platforms = self.value_of(tuple, "platforms")
        checks = self.value_of(tuple, "disabled checks")
        if not all(type(p) is str for p in platforms + checks):
            self.fail("platforms and disabled checks must be strings")
        closed = self.value_of(ClosedJaxpr, "the jaxpr")
        if in_tree.num_leaves != len(closed.in_avals) or \
                out_tree.num_leaves != len(closed.out_avals):
            self.fail(f"the structures have {in_tree.num_leaves} inputs and "
                      f"{out_tree.num_leaves} outputs but the jaxpr has "
                      f"{len(closed.in_avals)} and {len(closed.out_avals)}")
        if in_tree.node_type is not tuple or [c.node_type for c in in_tree.children] != \
                [tuple, dict]:
            self.fail(f"in_tree is {in_tree}; expected the structure of (args, kwargs)")
        return name, in_tree, out_tree, platforms, checks, closed

    def value_of(self, kind, what):
        v = self.value(what)
        if type(v) is not kind:
            self.fail(f"{what}: expected a {kind.__name__}, found a {type(v).__name__}")
        return v

    def value(self, what="a value"):
        tag = bytes(self.take(1, what))
        simple = {b"N": None, b"T": True, b"F": False}
        if tag in simple:
            return simple[tag]
        if tag == b"i":
            n = self.count(what)
            if n > 1024:
                self.fail(f"{what}: an int of {n} bytes; expected at most 1024")
            return int.from_bytes(self.take(n, what), "little", signed=True)
        if tag == b"f":
            return struct.unpack("<d", self.take(8, what))[0]
        if tag == b"c":
            return complex(*struct.unpack("<dd", self.take(16, what)))
        if tag == b"s":
            return self.str(what)
        if tag == b"B":
            return bytes(self.take(self.count(what), what))
        if tag in (b"d", b"y"):
            dt = self.dtype(what)
            return dt if tag == b"d" else dt.type
        self.nested()
        if tag in (b"t", b"l"):
            items = [self.value(what) for _ in range(self.count(what))]
            out = tuple(items) if tag == b"t" else items
        elif tag in (b"e", b"n"):
            out = self.named(tag, what)
        elif tag == b"a":
            out = self.aval(what)
        elif tag == b"P":
            out = self.treedef()
        elif tag == b"J":
            out = self.jaxpr()
        elif tag == b"C":
            jaxpr = self.jaxpr()
            consts = [self.value("a constant") for _ in range(self.count("constants"))]
            if len(consts) != len(jaxpr.constvars):
                self.fail(f"a jaxpr has {len(jaxpr.constvars)} constants but {len(consts)} "
                          "values for them")
            for c, v in zip(consts, jaxpr.constvars):
                self.check_type(abstractify(c), v.aval, "a constant")
            out = ClosedJaxpr(jaxpr, consts)
        elif tag == b"A":
            out = self.array(what)
        else:
            self.fail(f"{what}: unknown tag {tag!r}; the data is damaged, or was written by "
                      f"a newer functrans")
        self.depth -= 1
        return out

    def named(self, tag, what):
        name = self.str(what)
        cls = self.tables["classes"].get(name)
        if cls is None or issubclass(cls, enum.Enum) != (tag == b"e"):
            self.fail(f"{what} names {'enum' if tag == b'e' else 'named tuple'} "
                      f"{name[:100]!r}, which this functrans does not have")
        if tag == b"e":
            member = self.value(what)
            if type(member) is not str or member not in cls.__members__:
                self.fail(f"{what}: {cls.__name__} has no member {member!r:.100}")
            return cls[member]
        fields = self.value_of(tuple, what)
        if len(fields) != len(cls._fields):
            self.fail(f"{what}: {cls.__name__} has {len(cls._fields)} fields, the data "
                      f"{len(fields)}")
        return cls(*fields)

    def dtype(self, what, shape=()):
        name = self.str(what)
        problem = array_spec_problem(name, list(shape))
        if problem:
            self.fail(f"{what} {problem}")
        return np.dtype(name)

    def aval(self, what="an abstract value"):
        name = self.str(what)
        ndim = self.u8(what)
        shape = struct.unpack(f"<{ndim}Q", self.take(8 * ndim, what))
        problem = array_spec_problem(name, list(shape))
        if problem:
            self.fail(f"{what} {problem}")
        return ShapedArray(shape, np.dtype(name), weak_type=bool(self.u8(what)))

    def array(self, what):
        a = self.aval(what)
        n = struct.unpack("<Q", self.take(8, what))[0]
        need = math.prod(a.shape) * a.dtype.itemsize
        if n != need:
            self.fail(f"{what}: {a.dtype.name}{a.shape} needs {need} bytes; the data says {n}")
        data = self.take(n, what)
        x = np.frombuffer(data, a.dtype.newbyteorder("<")).astype(a.dtype).reshape(a.shape)
        return x[()] if x.ndim == 0 else x

    def treedef(self):
        kind = self.u8("a tree structure")
        aux = self.value("a tree's keys") if kind >= 4 else None
        if kind > 6:
            self.fail(f"unknown tree node kind {kind}")
        children = []
        for _ in range(self.count("a tree's children", 5)):
            self.nested()
            children.append(self.treedef())
            self.depth -= 1
        node_type = [None, type(None), tuple, list, dict][kind] if kind < 5 else None
        if kind == 6:
            node_type = self.tables["classes"].get(aux) if type(aux) is str else None
            if node_type is None or not issubclass(node_type, tuple) or \
                    len(node_type._fields) != len(children):
                self.fail(f"a tree node names named tuple {str(aux)[:100]!r} with "
                          f"{len(children)} fields, which this functrans does not have")
            aux = None
        elif kind == 5:
            if not (type(aux) is tuple and len(aux) == 2 and type(aux[0]) is str
                    and type(aux[1]) is bytes and aux[0] in _custom_names):
                self.fail(f"a tree node of unregistered kind {str(aux)[:100]}; register its "
                          "type with ft.export.register_pytree_node_serialization")
            node_type, read_aux = _custom_names[aux[0]]
            aux = read_aux(aux[1])
        elif kind == 4:
            if type(aux) is not tuple or len(aux) != len(children) or \
                    not all(type(k) in (str, int) for k in aux):
                self.fail("a dict node's keys must be a tuple of strings or ints, one per child")
        elif kind < 2 and children:
            self.fail("a leaf or None node with children")
        return PyTreeDef(node_type, aux, tuple(children))

    def jaxpr(self):
        env = []
        groups = []
        for what in ("constants", "inputs"):
            vs = [Var(self.aval(f"the type of a jaxpr's {what}"))
                  for _ in range(self.count(what))]
            env += vs
            groups.append(vs)
        eqns = [self.eqn(env) for _ in range(self.count("equations", 16))]
        return Jaxpr(groups[0], groups[1], self.atoms(env, "a jaxpr's outputs"), eqns)

    def atoms(self, env, what):
        out = []
        for _ in range(self.count(what, 5)):
            if self.u8(what):
                val = self.value(f"a literal of {what}")
                aval = self.aval(f"a literal of {what}")
                if not isinstance(val, (bool, int, float, complex, np.generic)):
                    self.fail(f"a literal of {what} is a {type(val).__name__}; expected a "
                              "number")
                out.append(Literal(val, aval))
            else:
                i = self.u32(what)
                if i >= len(env):
                    self.fail(f"{what} read variable {i} before it is defined")
                out.append(env[i])
        return out

    def eqn(self, env):
        key = self.str("a primitive name")
        prim = self.tables["by_name"].get(key)
        if prim is None:
            self.fail(f"unknown primitive {key[:100]!r}: it is not among this functrans's "
                      "primitives (the data was written by another version, or is damaged)")
        where = f"the inputs of '{key}'"
        invars = self.atoms(env, where)
        out_avals = [self.aval(f"an output of '{key}'")
                     for _ in range(self.count(f"the outputs of '{key}'"))]
        params = {}
        for _ in range(self.count(f"the params of '{key}'")):
            name = self.str(f"a param name of '{key}'")
            params[name] = self.value(f"param '{name}' of '{key}'")
        if prim.abstract_eval is not None:
            try:
                got = prim.abstract_eval(*[v.aval for v in invars], **params)
            except Exception as e:          # the rule's complaint about the blob's values
                self.fail(f"primitive '{key}' rejects its inputs and params "
                          f"({type(e).__name__}: {str(e)[:300]})")
            got = list(got) if prim.multiple_results else [got]
            if len(got) != len(out_avals):
                self.fail(f"'{key}' gives {len(got)} outputs; the data declares "
                          f"{len(out_avals)}")
            for g, a in zip(got, out_avals):
                self.check_type(g, a, f"an output of '{key}'")
        outvars = [Var(a) for a in out_avals]
        env += outvars
        return JaxprEqn(prim, invars, params, outvars)

    def check_type(self, got, declared, what):
        if tuple(got.shape) != declared.shape or np.dtype(got.dtype) != declared.dtype:
            self.fail(f"{what} is {declared.str_short()} in the data but "
                      f"{ShapedArray(got.shape, got.dtype).str_short()} by its definition")


def write(levels):
    """The bytes of an Exported: `levels` are (name, in_tree, out_tree, platforms, disabled
    checks as strings, closed jaxpr) of the function and then of each VJP kept."""
    w = _Writer()
    w.raw(MAGIC + struct.pack("<HI", SERIALIZATION_VERSION, len(levels) - 1))
    try:
        for level in levels:
            w.level(*level)
    except _Unserializable as e:
        raise TypeError(f"Exported.serialize: {e}") from None
    return w.buf


def read(blob):
    """The levels `write` wrote as `blob`; DeserializationError where it cannot."""
    r = _Reader(blob)
    head = bytes(r.take(len(MAGIC) + 2, "the header"))
    if head[:len(MAGIC)] != MAGIC:
        r.fail(f"expected the header {MAGIC!r}, found {head[:len(MAGIC)]!r}: these bytes "
               "are not an Exported serialized by functrans")
    version = struct.unpack("<H", head[len(MAGIC):])[0]
    if version != SERIALIZATION_VERSION:
        r.fail(f"format version {version}; this functrans reads version "
               f"{SERIALIZATION_VERSION}")
    levels = [r.level() for _ in range(1 + r.count("vjp_order", 32))]
    if r.at != len(r.mv):
        r.fail(f"{len(r.mv) - r.at} bytes follow the end of the data")
    return levels
