"""How arrays and pytrees of arrays look: in Jupyter a compact table for small vectors and
matrices, else the text form, each under a `f32[2,3] · cpu` header; `tree_pformat` (a
pytree's structure with arrays as `f32[2,3]`) and `tree_summary` (a table of its leaves with
statistics, as text and HTML)."""
from __future__ import annotations

import html

import numpy as np

from . import dtypes
from .core import Tracer
from .tree_util import GetAttrKey, keystr, tree_flatten_with_path, treedef_is_leaf

TABLE_MAX_ROWS = 16
TABLE_MAX_COLS = 16

_STYLE_TABLE = "border-collapse:collapse;font-family:monospace;font-size:0.9em"
_STYLE_CELL = "border:1px solid #ccc;padding:1px 6px;text-align:right"
_STYLE_LEFT = "border:1px solid #ccc;padding:1px 6px;text-align:left"
_STYLE_HEADER = "font-family:monospace;font-size:0.85em;color:#666"


def header(a) -> str:
    """`f32[2,3] · cpu`: the dtype, shape and device of `a`."""
    return f"{label(a)} · {a.device}"


def _cell(value, kind) -> str:
    return format(value, ".6g") if kind in "fc" else str(value)


def array_html(a) -> str:
    """HTML for an `Array`: a table when it is 1-D or 2-D and at most
    TABLE_MAX_ROWS x TABLE_MAX_COLS, otherwise NumPy's text form (summarized when large) in a
    <pre> block."""
    host = np.asarray(a)
    top = f'<div style="{_STYLE_HEADER}">Array {html.escape(header(a))}</div>'
    rows = host.reshape(1, -1) if host.ndim == 1 else host
    if host.ndim in (1, 2) and host.size and rows.shape[0] <= TABLE_MAX_ROWS \
            and rows.shape[1] <= TABLE_MAX_COLS:
        kind = host.dtype.kind
        body = "".join(
            "<tr>" + "".join(f'<td style="{_STYLE_CELL}">{html.escape(_cell(v, kind))}</td>'
                             for v in row.tolist()) + "</tr>"
            for row in rows)
        return f'{top}<table style="{_STYLE_TABLE}">{body}</table>'
    text = np.array2string(host, separator=", ")
    return f"{top}<pre>{html.escape(text)}</pre>"


# ------------------------------------------------------------------ pytrees of arrays
TREE_VALUES_MAX = 8       # arrays with at most this many elements show their values


def _is_array(x) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, type)


def _is_traced(x) -> bool:
    return isinstance(x, Tracer)


def label(x) -> str:
    """`f32[2,3]`: the dtype and shape of an array (or traced value)."""
    dt = np.dtype(x.dtype)
    name = dtypes.short_name(dt) if dt.kind in "biufc" else dt.name
    return f"{name}[{','.join(map(str, x.shape))}]"


def _scalar_text(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (complex, np.complexfloating)):
        return format(complex(v), ".4g")
    if isinstance(v, (float, np.floating)):
        return format(float(v), ".4g")
    return str(v)


def _values_text(host) -> str:
    if host.ndim == 0:
        return _scalar_text(host.item())
    text = np.array2string(host, separator=", ", max_line_width=10_000, threshold=10_000,
                           formatter={"float_kind": _scalar_text, "complex_kind": _scalar_text,
                                      "bool": str})
    return text.replace("\n", "")


# -- compact structure: tree_pformat
def _children(node):
    """`(node type, [(key, child)])`, or None when `node` is a leaf."""
    pairs, td = tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
    if treedef_is_leaf(td):
        return None
    return td.node_type, [(path[0], child) for path, child in pairs]


def _leaf_text(x) -> str:
    if _is_array(x):
        if x.ndim == 0 and not _is_traced(x):
            return f"{label(x)}({_scalar_text(np.asarray(x).item())})"
        return label(x)
    return repr(x)


def _brackets(node_type, items):
    """`(open, close, [(prefix, child)])` for a node's one-line or multi-line form."""
    if node_type is dict or issubclass(node_type, dict):
        return "{", "}", [(f"{key.key!r}: ", child) for key, child in items]
    if node_type is list:
        return "[", "]", [("", child) for _, child in items]
    if node_type is tuple:
        return "(", ",)" if len(items) == 1 else ")", [("", child) for _, child in items]
    named = [(f"{key.name}=" if isinstance(key, GetAttrKey) else "", child)
             for key, child in items]
    return f"{node_type.__name__}(", ")", named


def _pformat(x, width, indent, level) -> str:
    parts = _children(x)
    if parts is None:
        return _leaf_text(x)
    node_type, items = parts
    if node_type is type(None):
        return "None"
    open_, close, named = _brackets(node_type, items)
    flat = open_ + ", ".join(p + _pformat(c, 10 ** 9, indent, 0) for p, c in named) + close
    if not named or len(flat) + level * indent <= width:
        return flat
    pad = " " * ((level + 1) * indent)
    body = ",\n".join(pad + p + _pformat(c, width, indent, level + 1) for p, c in named)
    return f"{open_}\n{body},\n{' ' * (level * indent)}{close.lstrip(',')}"


def tree_pformat(tree, width=80, indent=2) -> str:
    """A pytree's structure with each array shown as its dtype and shape (`f32[5,3]`) and each
    0-d array with its value (`i32[](3)`), on one line when it fits in `width` characters,
    else one child per line. Optimizer states print this way."""
    return _pformat(tree, width, indent, 0)


# -- a table of the leaves: tree_summary
_COLUMNS = ("path", "array", "mean", "std", "min", "max")


def _stats(host):
    """`(mean, std, min, max, non-finite)` texts of an array's finite values."""
    kind = host.dtype.kind
    bad = ""
    values = host
    if kind in "fc":
        finite = np.isfinite(host)
        if not finite.all():
            nan = int(np.isnan(host).sum())
            pos = int((np.isposinf(host.real) | np.isposinf(host.imag)).sum()) \
                if kind == "c" else int(np.isposinf(host).sum())
            neg = int(host.size - finite.sum() - nan - pos)
            bad = ", ".join(f"{n} {what}" for n, what in ((nan, "nan"), (pos, "+inf"),
                                                          (neg, "-inf")) if n)
            values = host[finite]
    if values.size == 0:
        return ("-",) * 4 + (bad,)
    if kind == "b":
        values = values.astype(np.int8)
    wide = values.astype(np.complex128 if kind == "c" else np.float64)
    mean, std = _scalar_text(wide.mean()), _scalar_text(wide.std())
    if kind == "c":
        mags = np.abs(values)
        return mean, std, f"|{_scalar_text(mags.min())}|", f"|{_scalar_text(mags.max())}|", bad
    return mean, std, _scalar_text(values.min()), _scalar_text(values.max()), bad


def _human_bytes(n) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


class TreeSummary:
    """The leaves of a pytree as a table (see `tree_summary`): `str()`/`repr()` give text,
    Jupyter shows HTML. `rows` holds one dict per leaf."""

    def __init__(self, tree, title=None):
        self.title = title
        self.rows = []
        self.arrays = self.elements = self.nbytes = 0
        devices = set()
        for path, leaf in tree_flatten_with_path(tree)[0]:
            row = {"path": keystr(path) or "(root)"}
            if _is_array(leaf):
                self.arrays += 1
                size = int(np.prod(leaf.shape, dtype=np.int64))
                self.elements += size
                self.nbytes += size * np.dtype(leaf.dtype).itemsize
                row["array"] = label(leaf)
                device = getattr(leaf, "device", None)
                row["device"] = "" if device is None or callable(device) else str(device)
                devices.add(row["device"])
                if _is_traced(leaf):
                    row["values"] = "(traced)"
                else:
                    host = np.asarray(leaf)
                    if host.size <= TREE_VALUES_MAX:
                        row["values"] = _values_text(host)
                    else:
                        row.update(zip(_COLUMNS[2:] + ("non-finite",), _stats(host)))
            else:
                text = repr(leaf)
                row["array"] = type(leaf).__name__
                row["values"] = text if len(text) <= 60 else text[:57] + "..."
            self.rows.append(row)
        self.columns = list(_COLUMNS)
        devices.discard("")
        self.device = devices.pop() if len(devices) == 1 else None
        if devices:          # more than one: say where each leaf lives
            self.columns.insert(2, "device")
        if any(r.get("non-finite") for r in self.rows):
            self.columns.append("non-finite")

    def headline(self) -> str:
        total = (f"{self.arrays} array{'' if self.arrays == 1 else 's'}, {self.elements} "
                 f"element{'' if self.elements == 1 else 's'}, {_human_bytes(self.nbytes)}")
        if self.device:
            total += f" on {self.device}"
        return f"{self.title}: {total}" if self.title else total

    def __str__(self):
        if not self.rows:
            return (f"{self.title}: " if self.title else "") + "a pytree without leaves"
        cols = self.columns
        first_stat = cols.index("mean")
        grid = [(cols, False)]
        for r in self.rows:
            if "values" in r:     # the values take the place of the statistics
                line = [r.get(c, "") for c in cols[:first_stat]] + [r["values"]]
                grid.append((line + [""] * (len(cols) - len(line)), True))
            else:
                grid.append(([r.get(c, "") for c in cols], False))
        widths = [max(len(line[i]) for line, spans in grid if not (spans and i == first_stat))
                  for i in range(len(cols))]
        text = [self.headline()]
        for line, _ in grid:
            text.append("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip())
        return "\n".join(text)

    __repr__ = __str__

    def _repr_html_(self):
        top = f'<div style="{_STYLE_HEADER}">{html.escape(self.headline())}</div>'
        if not self.rows:
            return top
        cols = self.columns
        first_stat = cols.index("mean")
        head = "".join(f'<th style="{_STYLE_LEFT if i < first_stat else _STYLE_CELL}">'
                       f'{html.escape(c)}</th>' for i, c in enumerate(cols))
        body = []
        for r in self.rows:
            cells = [f'<td style="{_STYLE_LEFT}">{html.escape(r.get(c, ""))}</td>'
                     for c in cols[:first_stat]]
            if "values" in r:
                cells.append(f'<td style="{_STYLE_LEFT}" colspan="{len(cols) - first_stat}">'
                             f'{html.escape(r["values"])}</td>')
            else:
                cells += [f'<td style="{_STYLE_CELL}">{html.escape(r.get(c, ""))}</td>'
                          for c in cols[first_stat:]]
            body.append("<tr>" + "".join(cells) + "</tr>")
        return (f'{top}<table style="{_STYLE_TABLE}"><tr>{head}</tr>{"".join(body)}'
                "</table>")


def tree_summary(tree, title=None) -> TreeSummary:
    """A table of a pytree's leaves (parameters, gradients, optimizer states): each leaf's
    key path, dtype and shape (`f32[5,3]`), and the mean, std, min and max of its finite values
    with counts of NaN and ±inf (complex arrays: min and max of |x|), or the values themselves
    for arrays of at most TREE_VALUES_MAX elements; a headline counts arrays, elements and
    bytes (and names the device, or adds a device column when the leaves live on several).
    `print(ft.tree_summary(grads))` for text; in Jupyter it displays as an HTML table.
    Traced values (under jit) show only their dtype and shape."""
    return TreeSummary(tree, title)
