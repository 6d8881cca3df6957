"""`ft.tree`: the pytree functions under short names, as in `jax.tree` (`ft.tree.map`,
`ft.tree.leaves`, ...). They are `functrans.tree_util`'s functions."""
import dataclasses

from .tree_util import (
    tree_map as map, tree_leaves as leaves, tree_structure as structure,
    tree_flatten as flatten, tree_unflatten as unflatten, tree_transpose as transpose,
    tree_reduce as reduce, tree_reduce_associative as reduce_associative, tree_all as all,
    tree_map_with_path as map_with_path, tree_leaves_with_path as leaves_with_path,
    tree_flatten_with_path as flatten_with_path, tree_broadcast as broadcast,
)

__all__ = ["map", "leaves", "structure", "flatten", "unflatten", "transpose", "reduce",
           "reduce_associative", "all", "map_with_path", "leaves_with_path",
           "flatten_with_path", "broadcast", "static"]


def static(**kwargs):
    """`dataclasses.field(**kwargs)` marked static (`metadata={"static": True}`): a field
    `register_dataclass` keeps in the structure rather than as a leaf."""
    metadata = dict(kwargs.pop("metadata", None) or {})
    metadata["static"] = True
    return dataclasses.field(metadata=metadata, **kwargs)
