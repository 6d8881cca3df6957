"""`vectorize`: a function of scalars (or of core arrays, with a gufunc `signature`) mapped
over the broadcast leading axes of its arguments, by `vmap` (so it stays differentiable and
jittable)."""
from __future__ import annotations

import functools
import math
import re

from ..interpreters.batching import vmap_flat
from ..primitives._util import shape_of, broadcast_shapes
from .. import lax
from ._conversion import asarray

_DIMS = re.compile(r"\(([^()]*)\)")


def _parse_signature(signature):
    """`"(m,n),(n)->(m)"` as `([("m", "n"), ("n",)], [("m",)])`."""
    try:
        ins, outs = signature.replace(" ", "").split("->")
    except ValueError:
        raise ValueError(f"vectorize: signature {signature!r} is not of the form "
                         "'(m,n),(n)->(m)'") from None

    def terms(text):
        found = _DIMS.findall(text)
        if "".join(f"({t})" for t in found).replace(",", "") != text.replace(",", ""):
            raise ValueError(f"vectorize: cannot parse {text!r} in signature {signature!r}")
        return [tuple(d for d in t.split(",") if d) for t in found]
    return terms(ins), terms(outs)


def vectorize(pyfunc, *, excluded=frozenset(), signature=None):
    """`pyfunc` applied elementwise (or to core sub-arrays given by `signature`, e.g.
    `"(n),(n)->()"`) over the broadcast leading axes of its positional arguments. Arguments
    whose positions or names are in `excluded`, and keyword arguments, pass through
    unchanged."""
    in_core, out_core = _parse_signature(signature) if signature is not None else (None, None)

    @functools.wraps(pyfunc)
    def wrapped(*args, **kwargs):
        mapped = [i for i in range(len(args)) if i not in excluded]
        arrays = [asarray(args[i]) for i in mapped]
        cores = in_core if in_core is not None else [()] * len(arrays)
        if len(cores) != len(arrays):
            raise TypeError(f"vectorize: the signature {signature!r} has {len(cores)} inputs "
                            f"but {len(arrays)} arguments are vectorized")
        sizes, loops = {}, []
        for a, core in zip(arrays, cores):
            s = shape_of(a)
            if len(s) < len(core):
                raise ValueError(f"vectorize: an argument of shape {s} has fewer axes than "
                                 f"its core dimensions {core}")
            for name, d in zip(core, s[len(s) - len(core):]):
                if sizes.setdefault(name, d) != d:
                    raise ValueError(f"vectorize: core dimension {name!r} has sizes "
                                     f"{sizes[name]} and {d}")
            loops.append(s[:len(s) - len(core)])
        batch = broadcast_shapes(*loops, opname="vectorize")
        n = math.prod(batch)
        flat = [lax.reshape(lax.broadcast_to(a, batch + tuple(shape_of(a)[len(lp):])),
                            (n,) + tuple(shape_of(a)[len(lp):]))
                for a, lp in zip(arrays, loops)]
        box = {}

        def call(*xs):
            full = list(args)
            for i, x in zip(mapped, xs):
                full[i] = x
            out = pyfunc(*full, **kwargs)
            box["tuple"] = isinstance(out, tuple)
            return [asarray(o) for o in (out if box["tuple"] else (out,))]
        if not batch:
            outs = call(*[lax.reshape(f, shape_of(f)[1:]) for f in flat])
        else:
            outs = vmap_flat(call, flat, [0] * len(flat), n, lambda dims: [0] * len(dims))
            outs = [lax.reshape(o, batch + tuple(shape_of(o)[1:])) for o in outs]
        if out_core is not None and len(out_core) != len(outs):
            raise TypeError(f"vectorize: the signature {signature!r} has {len(out_core)} "
                            f"outputs but the function returned {len(outs)}")
        return tuple(outs) if box["tuple"] else outs[0]
    return wrapped
