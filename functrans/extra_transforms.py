"""JAX's smaller top-level transforms: `custom_gradient`, `linear_transpose`,
`closure_convert`, `fwd_and_bwd`, `ensure_compile_time_eval` (`disable_jit` and
`clear_caches` live with `jit`)."""
from __future__ import annotations

import contextlib
import functools

from . import dtypes
from .api import vjp, FlatFun, ShapeDtypeStruct, flatten_args, fun_name
from .array import Array
from .core import Tracer, abstractify, compile_time_eval, eval_jaxpr, get_aval
from .higher_order.custom_derivatives import custom_vjp
from .interpreters.partial_eval import trace_to_jaxpr
from .jit import jit
from .numpy import zeros, asarray
from .primitives._util import dtype_of, shape_of
from .tree_util import tree_flatten, tree_unflatten

__all__ = ["custom_gradient", "linear_transpose", "closure_convert", "fwd_and_bwd",
           "ensure_compile_time_eval"]


def custom_gradient(fun):
    """`fun(*args) -> (out, vjp_fn)` becomes a function returning `out` whose reverse-mode
    derivative is `vjp_fn(cotangent) -> one cotangent per argument` (a tuple; a lone value
    for one argument). The backward pass runs `fun` again to get `vjp_fn` (the forward value
    is not recomputed when nothing is differentiated). Forward mode is not supported, as in
    JAX."""
    name = getattr(fun, "__name__", "custom_gradient")

    def primal(*args):
        return fun(*args)[0]
    primal.__name__ = name
    wrapped = custom_vjp(primal)

    def fwd(*args):
        return fun(*args)[0], args

    def bwd(args, ct):
        cts = fun(*args)[1](ct)
        if not isinstance(cts, (tuple, list)):
            cts = (cts,)
        if len(cts) != len(args):
            raise TypeError(f"custom_gradient {name}: the vjp function returned "
                            f"{len(cts)} cotangents for {len(args)} arguments; return a tuple "
                            "with one per positional argument")
        return tuple(cts)
    wrapped.defvjp(fwd, bwd)
    return functools.wraps(fun)(lambda *args: wrapped(*args))


# primitives linear in each of their operands (any number of them may carry the input)...
_LINEAR = frozenset(["add", "sub", "neg", "convert_element_type", "conj", "real", "imag",
                     "complex", "stop_gradient"])
# ... linear in each operand alone (at most one may carry the input) ...
_BILINEAR = frozenset(["mul", "dot_general", "shifted_sum", "shifted_spread"])
# ... linear in the operands at these positions only
_LINEAR_AT = {"div": (0,), "select": (1, 2, 3, 4), "triangular_solve": (1,),
              "gather": (0,), "dynamic_slice": (0,), "dynamic_update_slice": (0, 1),
              "scatter": (0, 2), "scatter_add": (0, 2)}
# and these are not linear at all (the elementwise ones not named above are not either)
_NONLINEAR = frozenset(["argmax", "argmin", "bitcast_convert_type", "cholesky", "cummax",
                        "cummin", "cumprod", "eig", "eigh", "geqrf", "lu", "pmax", "pmin",
                        "qr", "reduce_and", "reduce_max", "reduce_min", "reduce_or",
                        "reduce_prod", "reduce_window_max", "reduce_window_max_argmax",
                        "reduce_xor", "scatter_max", "scatter_min", "scatter_mul",
                        "searchsorted", "sort", "svd", "threefry2x32"])


def _check_linear(jaxpr, linear, name):
    """Raise a TypeError if an equation of `jaxpr` applies a non-linear operation to a
    value computed from the variables in `linear` (the function's input): JAX refuses to
    transpose those. Call primitives are checked inside; other control flow is trusted."""
    for eqn in jaxpr.eqns:
        at = [i for i, v in enumerate(eqn.invars) if v in linear]
        if not at:
            continue
        prim = eqn.primitive
        if prim.callee is not None:
            inner = eqn.params[prim.callee]
            inner = getattr(inner, "jaxpr", inner)
            _check_linear(inner, {inner.invars[i] for i in at if i < len(inner.invars)}, name)
        elif prim.name in _LINEAR:
            pass
        elif prim.name in _BILINEAR and len(at) == 1:
            pass
        elif prim.name in _LINEAR_AT and set(at) <= set(_LINEAR_AT[prim.name]):
            pass
        elif prim.name in _NONLINEAR or prim.elementwise or prim.name in _BILINEAR or \
                prim.name in _LINEAR_AT:
            what = f"{prim.name} of two values" if len(at) > 1 and prim.name in _BILINEAR \
                else f"{prim.name} to a value"
            raise TypeError(f"linear_transpose: {name} is not linear: it applies {what} "
                            "computed from its input (only linear functions can be "
                            "transposed)")
        linear.update(v for v in eqn.outvars)


def linear_transpose(fun, *primals, reduce_axes=()):
    """The transpose of the linear function `fun`: `transpose(cotangent)` with `cotangent`
    shaped like `fun`'s output, returning a tuple with one array per primal. `primals` give
    only shapes and dtypes (arrays or `ShapeDtypeStruct`s). A non-linear `fun` (one applying
    sin, or multiplying its input by itself, or mapping zeros to nonzeros) raises."""
    if reduce_axes:
        raise NotImplementedError("linear_transpose: reduce_axes is deprecated in JAX and not "
                                  "supported; leave it empty")
    leaves, in_tree = tree_flatten(primals)
    avals = [abstractify(x) for x in leaves]
    _, _, labels = flatten_args("linear_transpose", fun, primals, range(len(primals)),
                                lambda x: isinstance(x, ShapeDtypeStruct))
    for a, label in zip(avals, labels):
        if not dtypes.is_inexact(a.dtype):
            raise TypeError(f"linear_transpose: {label} of {fun_name(fun)} has dtype "
                            f"{a.dtype}; a linear function maps float or complex arrays")
    flat_fun = FlatFun("linear_transpose", fun,
                       lambda *flat: fun(*tree_unflatten(in_tree, list(flat))))
    closed, hoisted = trace_to_jaxpr(flat_fun, avals, name="linear_transpose")
    jaxpr = closed.jaxpr
    _check_linear(jaxpr, set(jaxpr.invars[len(hoisted):]), fun_name(fun))
    zero_leaves = [zeros(a.shape, a.dtype) for a in avals]
    out, pullback = vjp(fun, *tree_unflatten(in_tree, zero_leaves))
    out_leaves, out_tree = tree_flatten(out)
    for i, o in enumerate(out_leaves):
        if bool((asarray(o) != 0).any()):
            raise TypeError(f"linear_transpose: fun is not linear (output leaf {i} is nonzero "
                            "at zero input: an affine offset or a constant)")
    out_avals = [(shape_of(o), dtype_of(o)) for o in out_leaves]

    def transpose(out_cotangent):
        cts, tree = tree_flatten(out_cotangent)
        if tree != out_tree:
            raise TypeError(f"linear_transpose: the cotangent's structure {tree} differs from "
                            f"fun's output structure {out_tree}")
        for i, (c, (s, d)) in enumerate(zip(cts, out_avals)):
            weak = type(c) in (int, float, complex)         # a Python number takes d
            if shape_of(c) != s or (not weak and dtype_of(c) != d):
                raise TypeError(f"linear_transpose: cotangent leaf {i} is "
                                f"{get_aval(asarray(c)).str_short()}, but fun's output there "
                                f"is {d.name}{list(s)}")
        return pullback(out_cotangent)
    return transpose


def closure_convert(fun, *example_args):
    """`(converted, consts)`: `converted(*args, *consts)` computes `fun(*args)`, with the
    traced float values `fun` closes over (from enclosing transforms, e.g. grad) passed
    explicitly as `consts`, so they can go through `custom_vjp` as arguments. Values that
    are not traced, or cannot carry a derivative (integers), stay closed over (an empty
    `consts` outside transforms)."""
    leaves, in_tree = tree_flatten(example_args)
    avals = [abstractify(x) for x in leaves]
    flat_fun = FlatFun("closure_convert", fun,
                        lambda *flat: fun(*tree_unflatten(in_tree, list(flat))))
    closed, hoisted = trace_to_jaxpr(flat_fun, avals, name="closure_convert")
    out_tree = flat_fun.out_tree
    name = getattr(fun, "__name__", "fun")
    # as JAX: traced values that can carry a derivative (inexact dtypes) become arguments;
    # integer and boolean ones stay closed over
    perturbable = [dtypes.is_inexact(dtype_of(h)) for h in hoisted]
    consts = [h for h, p in zip(hoisted, perturbable) if p]
    kept = [h for h, p in zip(hoisted, perturbable) if not p]
    n = len(consts)

    def converted(*args_and_consts):
        args = args_and_consts[:len(args_and_consts) - n]
        given = iter(args_and_consts[len(args_and_consts) - n:])
        flat, tree = tree_flatten(args)
        if tree != in_tree or len(args_and_consts) - len(args) != n:
            raise TypeError(f"closure_convert({name}): call with arguments structured like "
                            f"the examples ({in_tree}) followed by the {n} consts, got {tree}")
        closed_over = iter(kept)
        leading = [next(given) if p else next(closed_over) for p in perturbable]
        flat = [x if isinstance(x, (Array, Tracer)) else asarray(x) for x in flat]
        return tree_unflatten(out_tree, eval_jaxpr(closed.jaxpr, closed.consts, *leading,
                                                   *flat))
    converted.__name__ = f"closure_converted_{name}"
    return converted, consts


def fwd_and_bwd(fun, argnums, has_aux=False, jitted=True):
    """`(fwd, bwd)`, reverse mode split in two, as JAX's: `fwd(*primals)` returns
    `(fun(*primals), residuals)` (and `aux` third with `has_aux`); `bwd(residuals,
    cotangent)` the cotangents of the arguments `argnums` (one array for an int, a tuple for
    a sequence). The residuals are a pytree; both are jitted unless `jitted=False`."""
    many = not isinstance(argnums, int)
    positions = tuple(argnums) if many else (argnums,)

    def fwd(*primals):
        def of_chosen(*chosen):
            full = list(primals)
            for i, x in zip(positions, chosen):
                full[i] = x
            return fun(*full)
        return vjp(of_chosen, *[primals[i] for i in positions], has_aux=has_aux)

    def bwd(residuals, cotangent):
        cts = residuals(cotangent)
        return cts if many else cts[0]
    return (jit(fwd), jit(bwd)) if jitted else (fwd, bwd)


@contextlib.contextmanager
def ensure_compile_time_eval():
    """Operations on concrete values in this block run at once, also under jit; the block
    also runs `lax.cond`/`while_loop`/`fori_loop`/`scan` on concrete values in Python (under
    jit they are staged otherwise) and effectful ones (`debug.print`) at once. Traced values
    are staged as usual."""
    with compile_time_eval():
        yield
