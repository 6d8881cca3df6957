"""Imports run one way. The package is parsed (ast; nothing imported), and every module is
placed in a layer; a module may import only from its own layer or the ones below it.

Fails on
- an import cycle among modules at module level (importing `a.b.c` runs the package
  `a.b` first, so a sub-package's `__init__` counts as imported too),
- an import from a lower layer into a higher one (imports inside functions included),
- `from module import _name` across modules (a private name belongs to its module),
- a module that no layer claims.
"""
import ast
import os

import functrans

PACKAGE_DIR = os.path.dirname(functrans.__file__)
ROOT = "functrans"

# lowest first; a module belongs to the layer of the longest prefix naming it
LAYERS = [
    ("foundation", ["functrans.config", "functrans.dtypes", "functrans.tree_util",
                    "functrans.tree", "functrans.errors", "functrans.buffers",
                    "functrans.version"]),
    ("backends", ["functrans.backends"]),
    ("core", ["functrans.core", "functrans.jaxpr", "functrans.array", "functrans._display",
              "functrans.meshes"]),
    ("primitives", ["functrans.primitives"]),
    ("interpreters", ["functrans.interpreters"]),
    ("higher-order primitives", ["functrans.higher_order"]),
    ("the lax namespace", ["functrans.lax"]),
    ("compiler", ["functrans.compiler"]),
    ("numpy", ["functrans.numpy"]),
    ("transforms", ["functrans.vjp_function", "functrans.api", "functrans.jit", "functrans.pmap",
                    "functrans.jit_explain", "functrans.jit_stages", "functrans.ref",
                    "functrans.extra_transforms", "functrans.custom_batching",
                    "functrans.custom_derivatives"]),
    ("libraries", ["functrans.nn", "functrans.optim", "functrans.random", "functrans.data",
                   "functrans.flatten_util", "functrans.callbacks",
                   "functrans.serialization", "functrans.debug", "functrans.scipy",
                   "functrans.test_util", "functrans.testing", "functrans.distributed",
                   "functrans.ops"]),
    ("the package", ["functrans"]),
]


def _modules():
    mods = {}
    for directory, _, files in os.walk(PACKAGE_DIR):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(directory, f)
                rel = os.path.relpath(path, os.path.dirname(PACKAGE_DIR))[:-3]
                name = rel.replace(os.sep, ".")
                if name.endswith(".__init__"):
                    name = name[:-len(".__init__")]
                mods[name] = path
    return mods


MODULES = _modules()


def _imports(name, path):
    """`(target module, imported name or None, lazy, line)` for each functrans import."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    top = {id(node) for node in tree.body}
    is_package = path.endswith("__init__.py")
    found = []
    for node in ast.walk(tree):
        lazy = id(node) not in top
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = name.split(".")
                if not is_package:
                    parts = parts[:-1]
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base != ROOT and not base.startswith(ROOT + "."):
                continue
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in MODULES:
                    found.append((full, None, lazy, node.lineno))
                else:
                    found.append((base, alias.name, lazy, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == ROOT or alias.name.startswith(ROOT + "."):
                    found.append((alias.name, None, lazy, node.lineno))
    return found


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def layer_of(module):
    best = None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if module == p or module.startswith(p + "."):
                if best is None or len(p) > best[1]:
                    best = (rank, len(p))
    return None if best is None else best[0]


def _executed_by(target):
    """The modules importing `target` runs: it and its enclosing sub-packages (the root
    package is always running already)."""
    parts = target.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts) + 1)
            if ".".join(parts[:i]) in MODULES]


def test_every_module_has_a_layer():
    assert [m for m in MODULES if layer_of(m) is None] == []


def test_no_upward_imports():
    bad = []
    for src, imports in IMPORTS.items():
        for target, _, lazy, line in imports:
            if layer_of(target) > layer_of(src):
                bad.append(f"{src}:{line} imports {target}{' (lazily)' if lazy else ''}: "
                           f"{LAYERS[layer_of(src)][0]} -> {LAYERS[layer_of(target)][0]}")
    assert bad == []


def test_no_private_names_across_modules():
    bad = [f"{src}:{line} imports {name} from {target}"
           for src, imports in IMPORTS.items() for target, name, _, line in imports
           if name is not None and name.startswith("_") and not name.startswith("__")
           and target != src]
    assert bad == []


def test_no_import_cycles():
    graph = {m: set() for m in MODULES}
    for src, imports in IMPORTS.items():
        for target, name, lazy, _ in imports:
            if lazy:
                continue
            # a module's enclosing packages are running already when it runs, unless it
            # takes a name from one (that name must have been defined by then)
            graph[src].update(t for t in _executed_by(target) if t != src and (
                not src.startswith(t + ".") or (t == target and name is not None)))
    cycles = _strongly_connected(graph)
    assert cycles == []


def _strongly_connected(graph):
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_file_over_900_lines():
    lengths = {m: sum(1 for _ in open(p, encoding="utf-8")) for m, p in MODULES.items()}
    assert {m: n for m, n in lengths.items() if n > 900} == {}


def test_the_checks_find_what_they_look_for():
    assert _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == \
        [["a", "b", "c"]]
    assert _executed_by("functrans.primitives.elementwise") == [
        "functrans.primitives", "functrans.primitives.elementwise"]
    assert layer_of("functrans.lax") > layer_of("functrans.higher_order.scan") > \
        layer_of("functrans.interpreters.ad") > layer_of("functrans.primitives.dot")
