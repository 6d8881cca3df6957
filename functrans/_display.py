"""How arrays look in Jupyter: a compact table for small vectors and matrices, else the text
form, each under a `f32[2,3] · cpu` header."""
from __future__ import annotations

import html

import numpy as np

from . import dtypes

TABLE_MAX_ROWS = 16
TABLE_MAX_COLS = 16

_STYLE_TABLE = "border-collapse:collapse;font-family:monospace;font-size:0.9em"
_STYLE_CELL = "border:1px solid #ccc;padding:1px 6px;text-align:right"
_STYLE_HEADER = "font-family:monospace;font-size:0.85em;color:#666"


def header(a) -> str:
    """`f32[2,3] · cpu`: the dtype, shape and device of `a`."""
    dims = ",".join(map(str, a.shape))
    return f"{dtypes.short_name(a.dtype)}[{dims}] · {a.device}"


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
