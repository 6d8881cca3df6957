"""ft.tree_util's flatten_one_level(_with_keys), is_tree_node, treedef_tuple,
register_pytree_with_keys_class, default_registry, KeyEntry/KeyPath and ft.tree.static,
against jax.tree_util and jax.tree."""
import collections
import dataclasses
import typing

import numpy as np
import pytest

import functrans as ft
from functrans import tree_util as tu

jax = pytest.importorskip("jax")
jtu = jax.tree_util

Point = collections.namedtuple("Point", "x y")
TREES = [{"b": [1, 2], "a": {"c": 3}}, (1, [2]), None, [], [4, (5,)],
         collections.OrderedDict(b=1, a=2), {"k": None}]


def _keys(pairs):
    return [(str(k), c) for k, c in pairs]


@pytest.mark.parametrize("tree", TREES)
def test_flatten_one_level_matches_jax(tree):
    children, aux = tu.flatten_one_level(tree)
    want_children, want_aux = jtu.flatten_one_level(tree)
    assert list(children) == list(want_children) and aux == want_aux
    pairs, aux = tu.flatten_one_level_with_keys(tree)
    want_pairs, want_aux = jtu.flatten_one_level_with_keys(tree)
    assert _keys(pairs) == _keys(want_pairs) and aux == want_aux


def test_flatten_one_level_of_namedtuples_leaves_and_registered_classes():
    pairs, _ = tu.flatten_one_level_with_keys(Point(1, 2))
    assert _keys(pairs) == [(".x", 1), (".y", 2)]
    for f in (tu.flatten_one_level, tu.flatten_one_level_with_keys):
        with pytest.raises(ValueError, match="can't tree-flatten type int"):
            f(3)
        with pytest.raises(ValueError, match="ndarray"):
            f(np.ones(2))
    assert tu.default_registry.flatten_one_level(3) is None
    assert tu.default_registry.flatten_one_level_with_keys(3) is None
    assert tu.default_registry.flatten_one_level({"a": 1}) == ([1], ("a",))

    @tu.register_pytree_with_keys_class
    class Pair:
        def __init__(self, a, b):
            self.a, self.b = a, b

        def tree_flatten_with_keys(self):
            return ((tu.GetAttrKey("a"), self.a), (tu.GetAttrKey("b"), self.b)), "aux"

        @classmethod
        def tree_unflatten(cls, aux, children):
            return cls(*children)
    pairs, td = tu.tree_flatten_with_path(Pair(1, [2]))
    assert [(tu.keystr(p), v) for p, v in pairs] == [(".a", 1), (".b[0]", 2)]
    assert list(tu.flatten_one_level(Pair(1, 2))[0]) == [1, 2]
    assert tu.flatten_one_level(Pair(1, 2))[1] == "aux"
    back = tu.tree_unflatten(td, [10, 20])
    assert (back.a, back.b) == (10, [20])
    doubled = ft.jit(lambda p: ft.tree.map(lambda v: v * 2, p))(Pair(1.0, [2.0]))
    assert (float(doubled.a), float(doubled.b[0])) == (2.0, 4.0)

    class NoKeys:
        def tree_flatten(self):
            return (), None
    with pytest.raises(TypeError, match="lacks tree_flatten_with_keys and tree_unflatten"):
        tu.register_pytree_with_keys_class(NoKeys)


def test_is_tree_node_matches_jax():
    for typ in (dict, list, tuple, type(None), collections.OrderedDict, Point, int, float,
                np.ndarray):
        assert tu.is_tree_node(typ) == jtu.is_tree_node(typ), typ
    assert tu.is_tree_node(tu.Partial) and jtu.is_tree_node(jtu.Partial)
    assert not tu.is_tree_node(ft.Array)
    assert tu.is_tree_node({}) is False and jtu.is_tree_node({}) is False   # not a type
    assert tu.default_registry.is_node(dict) and not tu.default_registry.is_node(int)


def test_treedef_tuple():
    x, y = [1, 2, 3], {"a": 4, "b": 5}
    got = tu.treedef_tuple([tu.tree_structure(x), tu.tree_structure(y)])
    assert got == tu.tree_structure((x, y))
    assert repr(got) == repr(jtu.treedef_tuple([jtu.tree_structure(x),
                                                jtu.tree_structure(y)]))
    assert tu.treedef_tuple([]) == tu.tree_structure(())
    assert tu.treedef_tuple(iter([tu.tree_structure(1)])) == tu.tree_structure((1,))
    with pytest.raises(TypeError, match="treedefs must be PyTreeDefs.*entry 1 is int"):
        tu.treedef_tuple([tu.tree_structure(1), 1])


def test_default_registry():
    tree = {"a": 1, "b": (2, 3)}
    reg = tu.default_registry
    leaves, td = reg.flatten(tree)
    assert leaves == [1, 2, 3] and td == tu.tree_structure(tree)
    assert reg.flatten([1, (2, 3)], lambda x: isinstance(x, tuple))[0] == [1, (2, 3)]
    pairs, _ = reg.flatten_with_path(tree)
    assert [(tu.keystr(p), v) for p, v in pairs] == [
        (jtu.keystr(p), v) for p, v in jtu.default_registry.flatten_with_path(tree)[0]]

    class Box:
        def __init__(self, v):
            self.v = v
    reg.register_node(Box, lambda b: ((b.v,), None), lambda _, c: Box(*c))
    assert tu.tree_leaves([Box(1), Box(2)]) == [1, 2]

    class Meta:
        def __init__(self, v, name):
            self.v, self.name = v, name
    reg.register_dataclass_node(Meta, ["v"], ["name"])
    leaves, td = tu.tree_flatten(Meta(3, "n"))
    assert leaves == [3] and tu.tree_unflatten(td, [4]).name == "n"


def test_key_aliases_and_tree_static():
    assert tu.KeyEntry.__bound__ is typing.Hashable
    assert typing.get_args(tu.KeyPath) == (tu.KeyEntry, Ellipsis)

    @tu.register_dataclass
    @dataclasses.dataclass
    class Op:
        x: object
        y: object
        op: str = ft.tree.static(default="add")
        tag: str = ft.tree.static(default="t", metadata={"doc": "kept"})
    leaves, td = ft.tree.flatten(Op(1.0, 2.0))
    assert leaves == [1.0, 2.0]
    assert ft.tree.unflatten(td, [3.0, 4.0]) == Op(3.0, 4.0, "add", "t")
    field = {f.name: f for f in dataclasses.fields(Op)}["tag"]
    assert dict(field.metadata) == {"doc": "kept", "static": True}
    jfield = {f.name: f for f in dataclasses.fields(
        dataclasses.make_dataclass("J", [("s", str, jax.tree.static(default="a"))]))}["s"]
    assert dict(jfield.metadata) == {"static": True}


def test_keystr_simple_and_separator_as_jax():
    tree = {"foo": {"bar": [2, 3], "baz": Point(1, 2)}, "q": (4,)}
    paths = [p for p, _ in tu.tree_leaves_with_path(tree)]
    jpaths = [p for p, _ in jtu.tree_leaves_with_path(tree)]
    for p, jp in zip(paths, jpaths):
        for kw in ({}, {"simple": True}, {"separator": "/"}, {"simple": True, "separator": "/"}):
            assert tu.keystr(p, **kw) == jtu.keystr(jp, **kw), (p, kw)
    assert tu.keystr((tu.FlattenedIndexKey(3), tu.GetAttrKey("w")), simple=True,
                     separator=".") == "3.w"


def test_is_leaf_takes_path_as_jax():
    tree = {"a": [1, [2, 3]], "b": [4, 5]}

    def stop(path, x):
        return len(path) == 2 and isinstance(x, list)
    for fn in ("tree_flatten_with_path", "tree_leaves_with_path"):
        ours = getattr(tu, fn)(tree, stop, is_leaf_takes_path=True)
        theirs = getattr(jtu, fn)(tree, stop, is_leaf_takes_path=True)
        ours, theirs = (ours[0], theirs[0]) if fn == "tree_flatten_with_path" else (ours,
                                                                                   theirs)
        assert [(tu.keystr(p), x) for p, x in ours] == \
            [(jtu.keystr(p), x) for p, x in theirs]
    got = tu.tree_map_with_path(lambda p, x: len(p), tree, is_leaf=stop, is_leaf_takes_path=True)
    assert got == jtu.tree_map_with_path(lambda p, x: len(p), tree, is_leaf=stop,
                                         is_leaf_takes_path=True) == {"a": [2, 2], "b": [2, 2]}
    # a one-argument is_leaf still takes the node alone
    assert tu.tree_leaves_with_path(tree, is_leaf=lambda x: x == [2, 3])[1][1] == [2, 3]


def test_register_dataclass_drop_fields_and_rebuilding_through_init():
    for reg in (tu.register_dataclass, jtu.register_dataclass):
        @dataclasses.dataclass
        class Scaled:
            x: object
            scale: float = dataclasses.field(default=2.0, metadata={"static": True})
            cache: object = dataclasses.field(default=None, init=False)
            derived: object = dataclasses.field(default=None)

            def __post_init__(self):
                self.cache = "built"
        with pytest.raises(ValueError, match="(?i)unexpected.*cache"):
            reg(Scaled)
        if reg is tu.register_dataclass:
            reg(Scaled, drop_fields=["derived", "cache"])
        else:       # JAX 0.10.2 lists dropped fields when it finds the fields itself
            reg(Scaled, ["x"], ["scale"], ["derived"])
        leaves, td = (ft.tree if reg is tu.register_dataclass else jax.tree).flatten(
            Scaled(1.0, 3.0, 9))
        assert leaves == [1.0]
        back = td.unflatten([5.0])
        assert (back.x, back.scale, back.cache, back.derived) == (5.0, 3.0, "built", None)
        with pytest.raises(ValueError, match="derived"):      # neither listed nor dropped
            @dataclasses.dataclass
            class Missing:
                x: object
                derived: object = None
            reg(Missing, data_fields=["x"], meta_fields=[])
    with pytest.raises(TypeError, match="both data_fields and meta_fields"):
        tu.register_dataclass(Point, data_fields=["x", "y"])
    with pytest.raises(ValueError, match="overlap"):
        class Plain:
            pass
        tu.register_dataclass(Plain, data_fields=["x"], meta_fields=["x"])
