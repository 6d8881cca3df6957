"""Pytrees: nested containers of arrays that transforms flatten to leaves and rebuild.

None, tuples, lists, dicts (keys sorted), OrderedDicts, defaultdicts and namedtuples are
pytrees out of the box; `register_pytree_node`, `register_pytree_with_keys` and
`register_dataclass` add your own classes. Key paths (`tree_flatten_with_path`, `keystr`) name
where a leaf lives, and every error in functrans that concerns a leaf names its path.
"""
from __future__ import annotations

import collections
import dataclasses
import functools
from typing import Any, Callable, Hashable, NamedTuple, TypeVar

__all__ = [
    "PyTreeDef", "tree_flatten", "tree_unflatten", "tree_leaves", "tree_structure", "tree_map",
    "tree_map_with_path", "tree_flatten_with_path", "tree_leaves_with_path", "tree_reduce",
    "tree_all", "tree_transpose", "tree_broadcast", "tree_reduce_associative",
    "treedef_is_leaf", "treedef_children", "all_leaves", "register_pytree_node",
    "register_pytree_node_class", "register_pytree_with_keys", "register_dataclass",
    "register_static", "register_pytree_with_keys_class", "keystr", "is_tree_node",
    "flatten_one_level", "flatten_one_level_with_keys", "treedef_tuple", "default_registry",
    "KeyEntry", "KeyPath",
    "SequenceKey", "DictKey", "GetAttrKey", "FlattenedIndexKey", "Partial",
]


# ---------------------------------------------------------------- key path entries
class SequenceKey(NamedTuple):
    idx: int

    def __str__(self):
        return f"[{self.idx}]"


class DictKey(NamedTuple):
    key: Any

    def __str__(self):
        return f"[{self.key!r}]"


class GetAttrKey(NamedTuple):
    name: str

    def __str__(self):
        return f".{self.name}"


class FlattenedIndexKey(NamedTuple):
    key: int

    def __str__(self):
        return f"[<flat index {self.key}>]"


def keystr(keys, *, simple=False, separator="") -> str:
    """Render a key path as a string, e.g. `['layers'][0].weight`; `simple`: each key's bare
    value (`layers/0/weight` with `separator="/"`)."""
    return separator.join(str(getattr(k, k._fields[0]) if simple and isinstance(k, _KEYS)
                              else k) for k in keys)


_KEYS = (SequenceKey, DictKey, GetAttrKey, FlattenedIndexKey)
KeyEntry = TypeVar("KeyEntry", bound=Hashable)
KeyPath = tuple[KeyEntry, ...]


# ---------------------------------------------------------------- registry
class _NodeKind(NamedTuple):
    flatten: Callable        # node -> (children, aux)
    unflatten: Callable      # (aux, children) -> node
    keys: Callable | None    # (node, aux) -> tuple of key entries, one per child


_registry: dict[type, _NodeKind] = {}
_flatten_cache: dict[type, "_NodeKind | None"] = {}


def register_pytree_node(nodetype, flatten_func, unflatten_func, flatten_with_keys_func=None):
    """Register `nodetype` as an internal pytree node.

    `flatten_func(node) -> (children, aux_data)`; `unflatten_func(aux_data, children) -> node`.
    `aux_data` must be hashable and comparable: it is part of the tree structure (and of jit's
    cache key). With `flatten_with_keys_func(node) -> ([(key, child), ...], aux)` leaves get
    readable key paths; otherwise children are named by flat index.
    """
    if nodetype in _registry:
        raise ValueError(f"{nodetype.__qualname__} is already registered as a pytree node")
    keys = None
    if flatten_with_keys_func is not None:
        def keys(node, _aux, _f=flatten_with_keys_func):
            return tuple(k for k, _ in _f(node)[0])
    _registry[nodetype] = _NodeKind(flatten_func, unflatten_func, keys)
    _flatten_cache.clear()
    return nodetype


def register_pytree_node_class(cls):
    """Class decorator: register `cls` with its `tree_flatten(self) -> (children, aux)`
    method and `tree_unflatten(aux, children)` classmethod."""
    register_pytree_node(cls, lambda node: node.tree_flatten(), cls.tree_unflatten)
    return cls


def register_pytree_with_keys(nodetype, flatten_with_keys, unflatten_func, flatten_func=None):
    """Like `register_pytree_node`, but the flatten function returns `(key, child)` pairs."""
    if flatten_func is None:
        def flatten_func(node, _f=flatten_with_keys):
            kids, aux = _f(node)
            return [c for _, c in kids], aux
    return register_pytree_node(nodetype, flatten_func, unflatten_func, flatten_with_keys)


def register_pytree_with_keys_class(cls):
    """Class decorator: register `cls` with its `tree_flatten_with_keys(self) -> ([(key,
    child), ...], aux)` method and `tree_unflatten(aux, children)` classmethod (and its
    `tree_flatten(self)` method, if it has one, for flattening without keys)."""
    missing = [m for m in ("tree_flatten_with_keys", "tree_unflatten") if not hasattr(cls, m)]
    if missing:
        raise TypeError(f"register_pytree_with_keys_class: {cls.__qualname__} lacks "
                        f"{' and '.join(missing)}; define tree_flatten_with_keys(self) -> "
                        "([(key, child), ...], aux) and a tree_unflatten(aux, children) "
                        "classmethod")
    flatten = (lambda node: node.tree_flatten()) if hasattr(cls, "tree_flatten") else None
    return register_pytree_with_keys(cls, lambda node: node.tree_flatten_with_keys(),
                                     cls.tree_unflatten, flatten)


def register_dataclass(nodetype=None, data_fields=None, meta_fields=None, drop_fields=()):
    """Register a dataclass as a pytree: `data_fields` are children, `meta_fields` static,
    `drop_fields` neither; a node is rebuilt by calling `nodetype(**fields)`.

    Without explicit lists, fields marked `dataclasses.field(metadata={"static": True})` are
    static and all others are data. Usable as a decorator.
    """
    if nodetype is None:
        return functools.partial(register_dataclass, data_fields=data_fields,
                                 meta_fields=meta_fields, drop_fields=drop_fields)
    name = getattr(nodetype, "__qualname__", nodetype)
    if (data_fields is None) != (meta_fields is None):
        raise TypeError(f"register_dataclass({name}): give both data_fields and meta_fields, "
                        f"or neither; got data_fields={data_fields!r}, "
                        f"meta_fields={meta_fields!r}")
    is_dataclass = dataclasses.is_dataclass(nodetype)
    if data_fields is None:
        if not is_dataclass:
            raise TypeError(f"register_dataclass: {name} is not a dataclass; pass "
                            "data_fields= and meta_fields= explicitly")
        fields = [f for f in dataclasses.fields(nodetype) if f.name not in drop_fields]
        meta_fields = [f.name for f in fields if f.metadata.get("static", False)]
        data_fields = [f.name for f in fields if not f.metadata.get("static", False)]
    data_fields, meta_fields = tuple(data_fields), tuple(meta_fields)
    listed = {*data_fields, *meta_fields}
    if is_dataclass:
        init = {f.name for f in dataclasses.fields(nodetype) if f.init} - set(drop_fields)
        if listed != init:
            missing, extra = sorted(init - listed), sorted(listed - init)
            raise ValueError(
                f"register_dataclass({name}): data_fields and meta_fields must list every "
                "field with init=True and only those:"
                + (f" missing {missing} (add them to drop_fields to leave them out)"
                   if missing else "")
                + (f" unexpected {extra} (init=False fields go in drop_fields)"
                   if extra else ""))
    if len(listed) != len(data_fields) + len(meta_fields):
        raise ValueError(f"register_dataclass({name}): data_fields and meta_fields overlap "
                         f"in {sorted(set(data_fields) & set(meta_fields))}")
    keys = tuple(GetAttrKey(n) for n in data_fields)

    def flatten(node):
        return [getattr(node, n) for n in data_fields], tuple(getattr(node, n) for n in meta_fields)

    def unflatten(aux, children):
        return nodetype(**dict(zip(meta_fields, aux)), **dict(zip(data_fields, children)))

    _registry[nodetype] = _NodeKind(flatten, unflatten, lambda node, aux: keys)
    _flatten_cache.clear()
    return nodetype


def register_static(cls):
    """Register `cls` as a node with no children: its instances are part of the structure."""
    register_pytree_node(cls, lambda x: ((), x), lambda aux, _: aux)
    return cls


def _seq_keys(node, aux):
    return tuple(SequenceKey(i) for i in range(len(node)))


def _dict_flatten(d):
    keys = _sorted_keys(d)
    return [d[k] for k in keys], keys


def _sorted_keys(d):
    try:
        return tuple(sorted(d))
    except TypeError:
        return tuple(d)


register_pytree_node(tuple, lambda t: (t, None), lambda _, c: tuple(c))
register_pytree_node(list, lambda l: (l, None), lambda _, c: list(c))
register_pytree_node(dict, _dict_flatten, lambda keys, c: dict(zip(keys, c)))
register_pytree_node(type(None), lambda n: ((), None), lambda _, c: None)
register_pytree_node(collections.OrderedDict, lambda d: (list(d.values()), tuple(d)),
                     lambda keys, c: collections.OrderedDict(zip(keys, c)))
register_pytree_node(
    collections.defaultdict,
    lambda d: ([d[k] for k in _sorted_keys(d)], (d.default_factory, _sorted_keys(d))),
    lambda aux, c: collections.defaultdict(aux[0], zip(aux[1], c)))
for _t in (tuple, list):
    _registry[_t] = _registry[_t]._replace(keys=_seq_keys)
_registry[dict] = _registry[dict]._replace(keys=lambda node, aux: tuple(DictKey(k) for k in aux))
_registry[collections.OrderedDict] = _registry[collections.OrderedDict]._replace(
    keys=lambda node, aux: tuple(DictKey(k) for k in aux))
_registry[collections.defaultdict] = _registry[collections.defaultdict]._replace(
    keys=lambda node, aux: tuple(DictKey(k) for k in aux[1]))


def _namedtuple_kind(cls):
    return _NodeKind(lambda t: (t, None), lambda _, c, _cls=cls: _cls(*c),
                     lambda node, aux: tuple(GetAttrKey(f) for f in node._fields))


def node_kind(typ):
    """How nodes of type `typ` flatten and unflatten (`.flatten(node) -> (children, aux)`,
    `.unflatten(aux, children)`), or None for a leaf (cached per type)."""
    try:
        return _flatten_cache[typ]
    except KeyError:
        kind = _registry.get(typ)
        if kind is None and issubclass(typ, tuple) and hasattr(typ, "_fields"):
            kind = _namedtuple_kind(typ)
        _flatten_cache[typ] = kind
        return kind


def is_tree_node(typ):
    """Whether the type `typ` is a pytree node (built in, registered or a namedtuple); False
    for leaf types (and for anything that is not a type)."""
    return isinstance(typ, type) and node_kind(typ) is not None


def flatten_one_level(tree):
    """The children of the pytree node `tree` and its static data: `(children, aux)`. A
    leaf raises ValueError."""
    kind = node_kind(type(tree))
    if kind is None:
        raise ValueError(f"flatten_one_level: can't tree-flatten type {type(tree).__name__}: "
                         "it is a leaf, not a pytree node")
    return kind.flatten(tree)


def flatten_one_level_with_keys(tree):
    """Like `flatten_one_level`, with each child's key: `([(key, child), ...], aux)`."""
    children, aux = flatten_one_level(tree)
    td = PyTreeDef(type(tree), aux, (_LEAF,) * len(children))
    return list(zip(_child_keys(tree, td), children)), aux


# ---------------------------------------------------------------- tree definitions
class PyTreeDef:
    """The structure of a pytree: node types, static data and where the leaves go."""
    __slots__ = ("node_type", "node_data", "children", "num_leaves", "num_nodes", "_hash")

    def __init__(self, node_type, node_data, children):
        self.node_type = node_type
        self.node_data = node_data
        self.children = children
        if node_type is None:
            self.num_leaves, self.num_nodes = 1, 1
        else:
            self.num_leaves = sum(c.num_leaves for c in children)
            self.num_nodes = 1 + sum(c.num_nodes for c in children)
        self._hash = None

    def __hash__(self):
        if self._hash is None:
            self._hash = hash((self.node_type, _hashable(self.node_data), self.children))
        return self._hash

    def __eq__(self, other):
        if self is other:
            return True
        if not isinstance(other, PyTreeDef):
            return NotImplemented
        return (self.node_type is other.node_type and self.num_leaves == other.num_leaves
                and _data_eq(self.node_data, other.node_data) and self.children == other.children)

    def unflatten(self, leaves):
        return tree_unflatten(self, leaves)

    def flatten_up_to(self, tree):
        """Leaves of `tree` cut at the leaves of this structure (subtrees stay whole)."""
        out = []
        _flatten_up_to(self, tree, out, ())
        return out

    @property
    def num_children(self):
        return len(self.children)

    def __repr__(self):
        return f"PyTreeDef({self._str()})"

    def _str(self):
        if self.node_type is None:
            return "*"
        kids = ", ".join(c._str() for c in self.children)
        t = self.node_type
        if t is tuple:
            return f"({kids}{',' if len(self.children) == 1 else ''})"
        if t is list:
            return f"[{kids}]"
        if t is dict:
            return "{" + ", ".join(f"{k!r}: {c._str()}"
                                   for k, c in zip(self.node_data, self.children)) + "}"
        if t is type(None):
            return "None"
        return f"CustomNode({t.__name__}[{self.node_data!r}], [{kids}])"


def _hashable(x):
    try:
        hash(x)
        return x
    except TypeError:
        return id(x)


def _data_eq(a, b):
    try:
        return bool(a == b)
    except Exception:       # e.g. arrays as aux data: compare by identity
        return a is b


_LEAF = PyTreeDef(None, None, ())


def _flatten(tree, leaves, is_leaf):
    if is_leaf is not None and is_leaf(tree):
        leaves.append(tree)
        return _LEAF
    kind = node_kind(type(tree))
    if kind is None:
        leaves.append(tree)
        return _LEAF
    children, aux = kind.flatten(tree)
    return PyTreeDef(type(tree), aux, tuple(_flatten(c, leaves, is_leaf) for c in children))


def tree_flatten(tree, is_leaf=None):
    """Flatten `tree` to `(leaves, treedef)`. `is_leaf(x)` may stop the recursion early."""
    leaves = []
    treedef = _flatten(tree, leaves, is_leaf)
    return leaves, treedef


def tree_leaves(tree, is_leaf=None):
    leaves = []
    _flatten(tree, leaves, is_leaf)
    return leaves


def tree_structure(tree, is_leaf=None):
    return _flatten(tree, [], is_leaf)


def tree_unflatten(treedef: PyTreeDef, leaves):
    """Rebuild a pytree of structure `treedef` from an iterable of leaves."""
    leaves = list(leaves)
    if len(leaves) != treedef.num_leaves:
        raise ValueError(f"tree_unflatten: the structure {treedef} has {treedef.num_leaves} "
                         f"leaves but {len(leaves)} were given")
    it = iter(leaves)
    return _unflatten(treedef, it)


def _unflatten(td, it):
    if td.node_type is None:
        return next(it)
    kind = node_kind(td.node_type)
    return kind.unflatten(td.node_data, [_unflatten(c, it) for c in td.children])


def treedef_is_leaf(treedef):
    return treedef.node_type is None


def all_leaves(iterable, is_leaf=None):
    return all(treedef_is_leaf(tree_structure(x, is_leaf)) for x in iterable)


# ---------------------------------------------------------------- key paths
def _child_keys(node, td):
    kind = node_kind(td.node_type)
    if kind.keys is not None:
        return kind.keys(node, td.node_data)
    return tuple(FlattenedIndexKey(i) for i in range(len(td.children)))


def _flatten_with_path(tree, path, out, is_leaf):
    if (is_leaf is not None and is_leaf(path, tree)) or node_kind(type(tree)) is None:
        out.append((path, tree))
        return _LEAF
    kind = node_kind(type(tree))
    children, aux = kind.flatten(tree)
    keys = (kind.keys(tree, aux) if kind.keys is not None
            else tuple(FlattenedIndexKey(i) for i in range(len(children))))
    kids = tuple(_flatten_with_path(c, path + (k,), out, is_leaf)
                 for k, c in zip(keys, children))
    return PyTreeDef(type(tree), aux, kids)


def tree_flatten_with_path(tree, is_leaf=None, is_leaf_takes_path=False):
    """Flatten to `([(key_path, leaf), ...], treedef)`; `is_leaf(x)`, or
    `is_leaf(key_path, x)` with `is_leaf_takes_path`, stops at the nodes it is true for."""
    out = []
    if is_leaf is not None and not is_leaf_takes_path:
        leaf, is_leaf = is_leaf, lambda path, x: leaf(x)
    td = _flatten_with_path(tree, (), out, is_leaf)
    return out, td


def tree_leaves_with_path(tree, is_leaf=None, is_leaf_takes_path=False):
    return tree_flatten_with_path(tree, is_leaf, is_leaf_takes_path)[0]


# ---------------------------------------------------------------- maps and reductions
def tree_map(f, tree, *rest, is_leaf=None):
    """Apply `f` to the leaves of `tree` (and the matching leaves of `rest`)."""
    leaves, td = tree_flatten(tree, is_leaf)
    if not rest:
        return td.unflatten([f(x) for x in leaves])
    others = [_leaves_like(td, r, i + 1) for i, r in enumerate(rest)]
    return td.unflatten([f(*xs) for xs in zip(leaves, *others)])


def _leaves_like(td, tree, argnum):
    try:
        return td.flatten_up_to(tree)
    except ValueError as e:
        raise ValueError(f"tree_map: tree argument {argnum} does not match the structure of "
                         f"the first: {e}") from None


def _flatten_up_to(td, tree, out, path):
    if td.node_type is None:
        out.append(tree)
        return
    if type(tree) is not td.node_type:
        raise ValueError(f"at {keystr(path) or 'the root'} expected {td.node_type.__name__}, "
                         f"got {type(tree).__name__}")
    kind = node_kind(td.node_type)
    children, aux = kind.flatten(tree)
    if len(children) != len(td.children) or not _data_eq(aux, td.node_data):
        if td.node_type is dict:
            what = f"keys {aux!r} where {td.node_data!r} were expected"
        elif _data_eq(aux, td.node_data):
            what = f"{len(children)} children where {len(td.children)} were expected"
        else:
            what = (f"{len(children)} children and data {aux!r} where {len(td.children)} and "
                    f"{td.node_data!r} were expected")
        raise ValueError(f"at {keystr(path) or 'the root'} the {td.node_type.__name__} has "
                         f"{what}")
    keys = _child_keys(tree, td)
    for k, c, ctd in zip(keys, children, td.children):
        _flatten_up_to(ctd, c, out, path + (k,))


def tree_map_with_path(f, tree, *rest, is_leaf=None, is_leaf_takes_path=False):
    """Like `tree_map`, but `f(path, leaf, *others)` also gets each leaf's key path."""
    pairs, td = tree_flatten_with_path(tree, is_leaf, is_leaf_takes_path)
    others = [_leaves_like(td, r, i + 1) for i, r in enumerate(rest)]
    return td.unflatten([f(p, x, *xs) for (p, x), *xs in zip(pairs, *others)])


_NO_INITIALIZER = object()


def tree_reduce(function, tree, initializer=_NO_INITIALIZER, is_leaf=None):
    """`functools.reduce(function, leaves[, initializer])` over the leaves of `tree`."""
    leaves = tree_leaves(tree, is_leaf)
    if initializer is _NO_INITIALIZER:
        if not leaves:
            raise TypeError("tree_reduce of a tree with no leaves needs an initializer")
        return functools.reduce(function, leaves)
    return functools.reduce(function, leaves, initializer)


def tree_reduce_associative(operation, tree, *, identity=_NO_INITIALIZER, is_leaf=None):
    """Reduce the leaves with associative `operation`, pairwise (a balanced tree of calls);
    `identity` is the result for a tree with no leaves."""
    leaves = tree_leaves(tree, is_leaf)
    if not leaves:
        if identity is _NO_INITIALIZER:
            raise TypeError("tree_reduce_associative of a tree with no leaves needs identity=")
        return identity
    while len(leaves) > 1:
        pairs = [operation(a, b) for a, b in zip(leaves[::2], leaves[1::2])]
        leaves = pairs + ([leaves[-1]] if len(leaves) % 2 else [])
    return leaves[0]


def tree_all(tree, *, is_leaf=None):
    """Whether every leaf is truthy."""
    return all(tree_leaves(tree, is_leaf))


def tree_broadcast(prefix_tree, full_tree, is_leaf=None):
    """`prefix_tree` with each of its leaves repeated over the subtree of `full_tree` it
    stands for, so that the result has `full_tree`'s structure."""
    prefix_leaves, prefix_def = tree_flatten(prefix_tree, is_leaf)
    subtrees = prefix_def.flatten_up_to(full_tree)
    return prefix_def.unflatten([tree_map(lambda _, v=leaf: v, sub)
                                 for leaf, sub in zip(prefix_leaves, subtrees)])


def treedef_children(treedef):
    """The structures of the children of `treedef`'s root."""
    return list(treedef.children)


def treedef_tuple(treedefs):
    """The structure of a tuple whose children have the structures `treedefs`."""
    treedefs = tuple(treedefs)
    bad = [i for i, t in enumerate(treedefs) if not isinstance(t, PyTreeDef)]
    if bad:
        raise TypeError(f"treedef_tuple: treedefs must be PyTreeDefs (from tree_structure), "
                        f"but entry {bad[0]} is {type(treedefs[bad[0]]).__name__}")
    return PyTreeDef(tuple, None, treedefs)


def tree_transpose(outer_treedef, inner_treedef, pytree_to_transpose):
    """Turn a tree of trees (outer of inner) into a tree of trees (inner of outer); with
    `inner_treedef` None it is the structure of the first inner tree."""
    flat = outer_treedef.flatten_up_to(pytree_to_transpose)
    if inner_treedef is None:
        if not flat:
            raise ValueError("tree_transpose: cannot infer the inner structure of an empty "
                             "outer tree; pass inner_treedef")
        inner_treedef = tree_structure(flat[0])
    inner = [inner_treedef.flatten_up_to(x) for x in flat]
    columns = [outer_treedef.unflatten(col) for col in zip(*inner)]
    return inner_treedef.unflatten(columns)


class Partial(functools.partial):
    """A `functools.partial` that is a pytree: bound arguments are leaves, the function static.

    Lets a function with bound arrays cross transform boundaries (e.g. be returned from jit).
    """

    def __new__(cls, func, *args, **kw):
        if isinstance(func, functools.partial):
            original = func
            func = functools.partial(original.func)
            args = original.args + args
            kw = {**original.keywords, **kw}
        return super().__new__(cls, func, *args, **kw)


register_pytree_node(
    Partial,
    lambda p: ((p.args, p.keywords), p.func),
    lambda func, c: Partial(func, *c[0], **c[1]))


class _Registry:
    """The pytree registry as an object (JAX's `default_registry`): its methods are this
    module's functions."""

    def flatten(self, tree, leaf_predicate=None):
        return tree_flatten(tree, leaf_predicate)

    def flatten_one_level(self, tree):
        """`(children, aux)` of a node; None for a leaf."""
        return flatten_one_level(tree) if node_kind(type(tree)) is not None else None

    def flatten_one_level_with_keys(self, tree):
        return (flatten_one_level_with_keys(tree) if node_kind(type(tree)) is not None
                else None)

    def flatten_with_path(self, tree):
        return tree_flatten_with_path(tree)

    def is_node(self, type):
        return is_tree_node(type)

    def register_node(self, type, to_iterable, from_iterable, to_iterable_with_keys=None):
        return register_pytree_node(type, to_iterable, from_iterable, to_iterable_with_keys)

    def register_dataclass_node(self, type, data_fields, meta_fields, drop_fields=()):
        return register_dataclass(type, data_fields, meta_fields, drop_fields)

    def __repr__(self):
        return "functrans.tree_util.default_registry"


default_registry = _Registry()
