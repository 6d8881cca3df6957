"""The transforms users call: grad, value_and_grad, vjp, jvp, linearize, jacfwd, jacrev,
hessian, vmap, make_jaxpr, eval_shape. They handle pytrees, argnums and error messages, and
delegate to the interpreters, which work on flat lists.
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from . import dtypes
from .array import Array
from .buffers import Buffer, is_buffer
from .errors import ArgumentError
from .core import (Tracer, ShapeDtypeStruct, get_aval, is_python_scalar,
                   eval_jaxpr, abstractify, staging_main, operand_device)
from .interpreters import ad, batching
from .interpreters.partial_eval import trace_to_jaxpr, dce_closed, JaxprTracer
from .tree_util import (tree_flatten, tree_unflatten, tree_map, tree_structure,
                        tree_flatten_with_path, keystr, tree_leaves)
from .numpy._conversion import asarray, asarray_like
from .primitives._util import shape_of, dtype_of
from .primitives.reductions import reduce_sum
from .primitives.shape_ops import full_like
from .ref import lend, refuse_differentiated, traced_with_refs
from .vjp_function import VjpFunction

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "linearize", "jacfwd",
           "jacrev", "jacobian", "hessian", "vmap", "make_jaxpr", "eval_shape",
           "ShapeDtypeStruct"]


# =================================================================== helpers
def fun_name(fun):
    """`name (file:line)` of a user function, for error messages."""
    name = getattr(fun, "__qualname__", None) or getattr(fun, "__name__", None) or repr(fun)
    code = getattr(fun, "__code__", None)
    if code is not None:
        return f"{name} (defined at {code.co_filename}:{code.co_firstlineno})"
    return name


def param_names(fun, static_argnums=(), static_argnames=()):
    """The names of the parameters `fun` takes by position (none when it has no signature),
    after jit's check: a ValueError for static argument numbers or names `fun` cannot take
    (as JAX: they would otherwise be silently ignored)."""
    try:
        params = inspect.signature(fun).parameters.values()
    except (TypeError, ValueError):
        return []
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    kinds = {p.kind for p in params} if static_argnums or static_argnames else ()
    if static_argnums and inspect.Parameter.VAR_POSITIONAL not in kinds:
        bad = [i for i in static_argnums if not -len(positional) <= i < len(positional)]
        if bad:
            raise ValueError(f"jit: static_argnums={tuple(static_argnums)}, but "
                             f"{fun_name(fun)} takes {len(positional)} positional arguments")
    if static_argnames and inspect.Parameter.VAR_KEYWORD not in kinds:
        names = {p.name for p in params if p.kind != p.POSITIONAL_ONLY}
        bad = sorted(set(static_argnames) - names)
        if bad:
            raise ValueError(f"jit: static_argnames names {bad}, which {fun_name(fun)} does "
                             "not take")
    return [p.name for p in positional]


def _is_array_leaf(x):
    return isinstance(x, (Array, Tracer, np.ndarray, np.generic)) or is_python_scalar(x) \
        or (hasattr(x, "__cuda_array_interface__"))


def _arg_label(argnum, path, fun=None):
    label = f"argument {argnum}"
    if fun is not None:
        try:
            params = list(inspect.signature(fun).parameters)
            if argnum < len(params):
                label += f" ('{params[argnum]}')"
        except (TypeError, ValueError):
            pass
    return label + (keystr(path) and f" at {keystr(path)}" or "")


class _LeafLabel:
    """Names leaf `k` of the differentiated arguments ("argument 0 ('params') at [1]") when
    formatted; computed only when an error message needs it."""
    __slots__ = ("fun", "args", "argnums", "k", "is_leaf")

    def __init__(self, fun, args, argnums, k, is_leaf=None):
        self.fun, self.args, self.argnums, self.k = fun, args, argnums, k
        self.is_leaf = is_leaf

    def __str__(self):
        k = self.k
        for i in self.argnums:
            paths = tree_flatten_with_path(self.args[i], self.is_leaf)[0]
            if k < len(paths):
                return _arg_label(i, paths[k][0], self.fun)
            k -= len(paths)
        return f"leaf {self.k}"

    def __format__(self, spec):
        return format(str(self), spec)


def flatten_args(transform, fun, args, argnums, is_leaf=None):
    """Flatten `args[i] for i in argnums` to array leaves, checking every leaf (leaves that
    `is_leaf` stops at are kept as they are).

    Returns `(leaves, treedef, labels)`; errors name the argument and its pytree path.
    """
    leaves, treedef = tree_flatten(tuple(args[i] for i in argnums), is_leaf)
    labels = [_LeafLabel(fun, args, argnums, k, is_leaf) for k in range(len(leaves))]
    loose = []
    for k, leaf in enumerate(leaves):
        if is_leaf is not None and is_leaf(leaf):
            continue
        if not _is_array_leaf(leaf):
            refuse_differentiated(leaf, f"{transform}: {labels[k]} of {fun_name(fun)}")
            raise TypeError(
                f"{transform}: {labels[k]} of {fun_name(fun)} is a "
                f"{type(leaf).__name__}, not an array. Pytree leaves must be arrays or "
                "numbers; mark non-array arguments static (jit's static_argnums) or leave "
                "them out of argnums.")
        if not isinstance(leaf, (Array, Tracer)):
            loose.append(k)
    if loose:       # NumPy data joins the device of the arguments' Arrays, as operands do
        device = operand_device(tree_leaves(args))
        for k in loose:
            leaves[k] = asarray(leaves[k], device=device)
    return leaves, treedef, labels


def _normalize_argnums(transform, argnums, nargs, fun):
    single = isinstance(argnums, int)
    nums = (argnums,) if single else tuple(argnums)
    for a in nums:
        if not -nargs <= a < nargs:
            raise ArgumentError(f"{transform}: argnums={argnums} but {fun_name(fun)} was called "
                             f"with {nargs} positional argument(s)")
    return tuple(a % nargs for a in nums), single


def _substitute(args, argnums, treedef, leaves):
    new = list(args)
    for i, sub in zip(argnums, tree_unflatten(treedef, leaves)):
        new[i] = sub
    return new


class FlatFun:
    """A user function as a function of flat array leaves returning flat leaves.

    `call(*flat)` runs the user's function; after a call, `out_tree` holds the output
    structure and `aux` the auxiliary value (with `has_aux`); with `note_numbers`, `numbers`
    says which output leaves were Python numbers (weakly typed; staged as arrays).
    """

    def __init__(self, transform, fun, call, has_aux=False, as_arrays=False,
                 note_numbers=False):
        self.transform, self.fun, self.call = transform, fun, call
        self.has_aux, self.as_arrays, self.note_numbers = has_aux, as_arrays, note_numbers
        self.out_tree = self.aux = self.numbers = None

    def __call__(self, *flat):
        out = self.call(*flat)
        if self.has_aux:
            out, self.aux = _split_aux(self.transform, self.fun, out)
        leaves, self.out_tree = tree_flatten(out)
        if self.note_numbers:
            self.numbers = [is_python_scalar(o) for o in leaves]
        if self.as_arrays:
            leaves = [o if isinstance(o, (Array, Tracer)) else asarray(o) for o in leaves]
        return leaves


def _split_aux(transform, fun, out):
    if not (isinstance(out, (tuple, list)) and len(out) == 2):
        raise TypeError(f"{transform}(has_aux=True): {fun_name(fun)} must return a pair "
                        f"(output, aux), got {type(out).__name__}")
    return out


def _lower_aux(aux, trace_types):
    """Replace tracers of finished transforms in `aux` by their values."""
    def lower(x):
        while isinstance(x, trace_types) and not x._trace.main.active:
            x = x.primal
        return x
    return tree_map(lower, aux)


# =================================================================== reverse mode
def value_and_grad(fun, argnums=0, has_aux=False, holomorphic=False, allow_int=False,
                   reduce_axes=()):
    """`fun`'s value and its gradient with respect to the arguments at `argnums`.

    `fun` must return a real scalar (or `(scalar, aux)` with `has_aux=True`); gradients have
    the structure and dtypes of the differentiated arguments. With `holomorphic=True`, `fun`
    maps complex inputs to a complex scalar and the gradient is its complex derivative.
    Values inside `ft.buffers.Buffer` nodes (the buffers of `ft.nn` modules, e.g. running
    statistics) are not differentiated: `fun` gets them unchanged and their gradient is
    `Buffer(None)`. JAX's deprecated `reduce_axes` must be empty, as there.
    """
    _no_reduce_axes(reduce_axes, "grad")

    @functools.wraps(fun)
    def value_and_grad_f(*args, **kwargs):
        nums, single = _normalize_argnums("grad", argnums, len(args), fun)
        leaves, treedef, labels = flatten_args("grad", fun, args, nums, is_buffer)
        held = any(type(leaf) is Buffer for leaf in leaves)
        if held:
            constants, leaves = leaves, [x for x in leaves if type(x) is not Buffer]
            labels = [lb for lb, x in zip(labels, constants) if type(x) is not Buffer]
        for leaf, label in zip(leaves, labels):
            _check_input_dtype("grad", fun, label, dtype_of(leaf), holomorphic, allow_int)
        aux_box = []

        def flat_fun(*flat):
            if held:
                flat = _with_constants(constants, flat)
            out = fun(*_substitute(args, nums, treedef, flat), **kwargs)
            if has_aux:
                out, aux = _split_aux("grad", fun, out)
                aux_box.append(aux)
            _check_scalar_output("grad", fun, out, holomorphic)
            return [out]
        (value,), vjp_fn = ad.vjp_flat(flat_fun, leaves, name="grad")
        value = asarray(value)
        cts = vjp_fn([full_like(value, 1)])
        grads = [_zero_or(ct, leaf) for ct, leaf in zip(cts, leaves)]
        if held:
            grads = _with_constants([Buffer(None, x.persistent) if type(x) is Buffer else x
                                     for x in constants], grads)
        g = tree_unflatten(treedef, grads)
        g = g[0] if single else g
        if has_aux:
            return (value, _lower_aux(aux_box[0], ad.ReverseTracer)), g
        return value, g
    return value_and_grad_f


def _with_constants(template, values):
    """`template` with its non-Buffer entries replaced, in order, by `values`."""
    it = iter(values)
    return [x if type(x) is Buffer else next(it) for x in template]


def grad(fun, argnums=0, has_aux=False, holomorphic=False, allow_int=False, reduce_axes=()):
    """The gradient of scalar-valued `fun` with respect to the arguments at `argnums`
    (`holomorphic=True`: the complex derivative of a complex function of complex inputs)."""
    vg = value_and_grad(fun, argnums, has_aux, holomorphic, allow_int, reduce_axes)

    @functools.wraps(fun)
    def grad_f(*args, **kwargs):
        out, g = vg(*args, **kwargs)
        return (g, out[1]) if has_aux else g
    return grad_f


def _no_reduce_axes(reduce_axes, transform):
    if reduce_axes:
        raise NotImplementedError(f"reduce_axes argument to {transform} is deprecated (as in "
                                  f"JAX, where it is removed): leave it out")


def _check_input_dtype(transform, fun, label, dt, holomorphic, allow_int,
                       complex_ok=True):
    """JAX's rules for what may be differentiated: complex inputs with `holomorphic=True`
    (and only those), integers only with `allow_int`; forward mode (`complex_ok=False`)
    takes complex inputs only as holomorphic."""
    if holomorphic:
        if dt.kind != "c":
            raise TypeError(f"{transform} with holomorphic=True: {label} of {fun_name(fun)} "
                            f"has dtype {dt}; holomorphic differentiation needs complex inputs "
                            "(convert with x.astype(fnp.complex64))")
        return
    if not dtypes.is_inexact(dt):
        if allow_int:
            return
        raise TypeError(
            f"{transform}: {label} of {fun_name(fun)} has dtype {dt}; only floating-point "
            "inputs can be differentiated. Convert it (x.astype(fnp.float32)) or leave "
            "it out of argnums (pass allow_int=True for zero gradients of integers).")
    if dt.kind == "c" and not complex_ok:
        raise TypeError(f"{transform}: {label} of {fun_name(fun)} has complex dtype {dt}; "
                        f"{transform} needs real inputs. For a holomorphic function pass "
                        "holomorphic=True; otherwise use ft.jvp directly.")


def _check_output_dtype(transform, fun, dt, holomorphic):
    if holomorphic:
        if dt.kind != "c":
            raise TypeError(f"{transform} with holomorphic=True: {fun_name(fun)} returned "
                            f"dtype {dt}; a holomorphic function has complex outputs")
    elif dt.kind == "c":
        raise TypeError(f"{transform}: {fun_name(fun)} returned complex dtype {dt}; "
                        f"{transform} needs real outputs. For a holomorphic function pass "
                        "holomorphic=True; otherwise use ft.vjp directly.")


def _check_scalar_output(transform, fun, out, holomorphic=False):
    if not _is_array_leaf(out):
        hint = (" (if it returns (loss, aux), pass has_aux=True)"
                if isinstance(out, (tuple, list)) else "")
        raise TypeError(f"{transform}: {fun_name(fun)} must return a scalar array, got "
                        f"{type(out).__name__}{hint}")
    shape, dt = shape_of(out), dtype_of(out)
    if shape != ():
        raise TypeError(
            f"{transform}: {fun_name(fun)} returned an array of shape {shape}; grad needs a "
            "scalar (shape ()) output. Reduce it (e.g. return loss.sum() or loss.mean()), or "
            "use ft.vjp / ft.jacrev for vector outputs.")
    if not dtypes.is_inexact(dt):
        raise TypeError(f"{transform}: {fun_name(fun)} returned dtype {dt}; grad needs a "
                        "floating-point output")
    _check_output_dtype(transform, fun, dt, holomorphic)


def _zero_or(ct, primal):
    if ct is None:
        if not dtypes.is_inexact(dtype_of(primal)):
            return np.zeros(shape_of(primal), dtypes.float0)
        return ad.zeros_like_aval(primal)
    return ct


def _cotangent_like(c, out, shape, dtype, leaf, i):
    """`c` as the cotangent of the output `out` (shape, dtype): the same shape and, for a
    float or complex output, the same dtype, as JAX asks; a weakly typed number (a Python
    float or complex, or a traced one) takes the dtype of an output of its kind."""
    number = c if is_python_scalar(c) else None
    weak = number is not None or (isinstance(c, Tracer) and c.aval.weak_type)
    # NumPy data joins the output's device, as operands do (core.eval_primitive)
    c = asarray_like(c, out) if not isinstance(c, (Array, Tracer)) else c
    given = dtype_of(c)
    if weak and dtypes.is_inexact(given) and given.kind == np.dtype(dtype).kind:
        given = dtype
        if number is not None:
            c = asarray_like(number, out, dtype=dtype)
    if shape_of(c) != shape or (given != dtype and dtypes.is_inexact(dtype)):
        what = f" (a Python {type(number).__name__})" if number is not None else ""
        hint = (f" (ct.astype({np.dtype(dtype)}))" if shape_of(c) == shape and number is None
                else "")
        raise ValueError(
            f"vjp: {leaf(i)} has shape {shape_of(c)} and dtype {given}{what}, but the output "
            f"there has shape {shape} and dtype {np.dtype(dtype)}; pass a cotangent of the "
            f"output's shape and dtype{hint}")
    return c if dtype_of(c) == dtype or not dtypes.is_inexact(dtype) else c.astype(dtype)


def vjp(fun, *primals, has_aux=False, reduce_axes=(), saveable_args=True):
    """`(fun(*primals), vjp_fn)`, where `vjp_fn(cotangent)` returns one cotangent per primal.

    The cotangent has the structure, shapes and dtypes of `fun`'s output. `vjp_fn` is a
    pytree (a `VjpFunction`), as in JAX: a jitted function can return it and take it.
    `saveable_args` (bools in nested tuples, one per argument; a bool covers a subtree)
    leaves arguments marked False out of `vjp_fn.args_res`, to be restored before the call.
    JAX's deprecated `reduce_axes` must be empty, as there.
    """
    _no_reduce_axes(reduce_axes, "vjp")
    leaves, treedef, _ = flatten_args("vjp", fun, primals, range(len(primals)))
    flat_fun = FlatFun("vjp", fun, lambda *flat: fun(*tree_unflatten(treedef, flat)),
                        has_aux, as_arrays=True)
    out_flat, vjp_flat_fn = ad.vjp_flat(flat_fun, leaves, name="vjp")
    signature = _VjpSignature(flat_fun.out_tree, out_flat, treedef, leaves)

    def backward(cts):
        return [c if c is not None else ad.zeros_like_aval(p) for c, p in
                zip(vjp_flat_fn(cts), leaves) if dtypes.is_inexact(dtype_of(p))]
    out = tree_unflatten(flat_fun.out_tree, out_flat)
    vjp_fn = VjpFunction(signature, backward, out_flat, leaves,
                         None if saveable_args is True else saveable_args)
    if has_aux:
        return out, vjp_fn, _lower_aux(flat_fun.aux, ad.ReverseTracer)
    return out, vjp_fn


class _VjpSignature:
    """What a vjp's pullback takes and gives: the structures, shapes and dtypes of the
    function's outputs (its cotangent) and inputs (what it returns)."""

    def __init__(self, out_tree, outs, in_tree, ins):
        self.out_tree, self.in_tree = out_tree, in_tree
        self.outs = [(shape_of(o), dtype_of(o)) for o in outs]
        self.ins = [(shape_of(x), dtype_of(x)) for x in ins]

    def cotangents(self, ct, place):
        """The flat cotangent `ct` checked against the outputs (None for those of integer
        outputs); NumPy data goes where `place[i]` lives."""
        ct_leaves, ct_tree = tree_flatten(ct)
        if ct_tree != self.out_tree:
            raise ValueError(f"vjp: the cotangent's structure {ct_tree} differs from the "
                             f"output's {self.out_tree}")

        def leaf(i):
            paths = tree_flatten_with_path(tree_unflatten(self.out_tree,
                                                          list(range(len(self.outs)))))[0]
            path = keystr(paths[i][0])
            return f"cotangent leaf {i}" + (f" (at {path})" if path else "")
        checked = []
        for i, (c, (s, d)) in enumerate(zip(ct_leaves, self.outs)):
            if getattr(c, "dtype", None) == dtypes.float0:     # the zero cotangent of an
                if not dtypes.is_inexact(d) and np.shape(c) == s:   # integer or bool output
                    checked.append(None)
                    continue
                raise ValueError(f"vjp: {leaf(i)} is float0{list(np.shape(c))}, the "
                                 f"cotangent type of an integer or bool output, but the output "
                                 f"is {np.dtype(d).name}{list(s)}")
            checked.append(_cotangent_like(c, place[i], s, d, leaf, i))
        return checked

    def inputs(self, grads):
        """The pullback's result from the cotangents of the float inputs, in order."""
        it = iter(grads)
        return tuple(tree_unflatten(self.in_tree, [
            next(it) if dtypes.is_inexact(d) else np.zeros(s, dtypes.float0)
            for s, d in self.ins]))


# =================================================================== forward mode
def jvp(fun, primals, tangents, has_aux=False):
    """`(fun(*primals), J tangents)`: the Jacobian-vector product, by forward mode."""
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("jvp: primals and tangents must be tuples (one entry per argument), "
                        f"got {type(primals).__name__} and {type(tangents).__name__}")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    leaves, treedef, labels = flatten_args("jvp", fun, primals, range(len(primals)))
    t_leaves, t_tree = tree_flatten(tuple(tangents))
    if t_tree != treedef:
        raise ValueError(f"jvp: tangents have structure {t_tree} but primals have {treedef}")
    tans = []
    for p, t, label in zip(leaves, t_leaves, labels):
        if not dtypes.is_inexact(dtype_of(p)):
            tans.append(None)        # integer inputs have float0 (zero) tangents
            continue
        # NumPy data joins the primal's device, as operands do (core.eval_primitive)
        t = asarray_like(t, p) if not isinstance(t, (Array, Tracer)) else t
        if shape_of(t) != shape_of(p):
            raise ValueError(f"jvp: the tangent for {label} has shape {shape_of(t)} but the "
                             f"primal has shape {shape_of(p)}")
        if dtypes.is_inexact(dtype_of(p)):
            if dtype_of(t) != dtype_of(p):
                raise TypeError(f"jvp: the tangent for {label} has dtype {dtype_of(t)} but "
                                f"the primal has dtype {dtype_of(p)}; they must match")
            tans.append(t)
        else:
            tans.append(None)
    flat_fun = FlatFun("jvp", fun, lambda *flat: fun(*tree_unflatten(treedef, flat)), has_aux)
    out_p, out_t = ad.jvp_flat(flat_fun, leaves, tans)
    out_t = [ad.instantiate(t, p) if dtypes.is_inexact(dtype_of(p))
             else np.zeros(shape_of(p), dtypes.float0) for t, p in zip(out_t, out_p)]
    out_tree = flat_fun.out_tree
    res = tree_unflatten(out_tree, out_p), tree_unflatten(out_tree, out_t)
    if has_aux:
        return res + (_lower_aux(flat_fun.aux, ad.JVPTracer),)
    return res


def linearize(fun, *primals, has_aux=False):
    """`(fun(*primals), f_jvp)` (with `has_aux`, `(out, f_jvp, aux)`): `f_jvp(*tangents)` is
    the linear map `tangents -> J tangents`, staged once (the primal computation is not
    repeated)."""
    leaves, treedef, _ = flatten_args("linearize", fun, primals, range(len(primals)))
    flat_fun = FlatFun("linearize", fun, lambda *flat: fun(*tree_unflatten(treedef, flat)),
                       has_aux)
    box = {}

    def tangent_fun(*tans):
        full = [t if dtypes.is_inexact(dtype_of(p)) else None for p, t in zip(leaves, tans)]
        out_p, out_t = ad.jvp_flat(flat_fun, leaves, full)
        aux_leaves, box["aux_tree"] = tree_flatten(_lower_aux(flat_fun.aux, ad.JVPTracer))
        values = box["values"] = list(out_p) + aux_leaves
        # a jit, loop or checkpoint binds one equation on primals and tangents, so the
        # primal values it makes are staged too: they become outputs, computed below
        main = staging_main()
        box["staged"] = [k for k, v in enumerate(values)
                         if isinstance(v, JaxprTracer) and v._trace.main is main]
        return ([ad.instantiate(t, p) for t, p in zip(out_t, out_p)] +
                [values[k] for k in box["staged"]])
    in_avals = [get_aval(x).strip_weak() for x in leaves]
    closed, hoisted = trace_to_jaxpr(tangent_fun, in_avals, name="linearize")
    values, staged = box["values"], box["staged"]
    n_t = len(closed.jaxpr.outvars) - len(staged)
    if staged:
        primal_part, reads = dce_closed(closed, [False] * n_t + [True] * len(staged))
        inputs = list(hoisted) + leaves
        args = [x if k < len(hoisted) else ad.zeros_like_aval(x)
                for k, (x, r) in enumerate(zip(inputs, reads)) if r]
        for k, v in zip(staged, eval_jaxpr(primal_part.jaxpr, primal_part.consts, *args)):
            values[k] = v
        closed, _ = dce_closed(closed, [True] * n_t + [False] * len(staged),
                               [True] * len(inputs))
    n_out = flat_fun.out_tree.num_leaves
    out = tree_unflatten(flat_fun.out_tree, values[:n_out])

    def f_jvp(*tangents):
        t_leaves, t_tree = tree_flatten(tuple(tangents))
        if t_tree != treedef:
            raise ValueError(f"linearize: tangents have structure {t_tree}, expected {treedef}")
        res = eval_jaxpr(closed.jaxpr, closed.consts, *hoisted, *t_leaves)
        return tree_unflatten(flat_fun.out_tree, res)
    if has_aux:
        return out, f_jvp, tree_unflatten(box["aux_tree"], values[n_out:])
    return out, f_jvp


# =================================================================== Jacobians
def _std_basis(leaves):
    """One-hot tangents/cotangents for every element of every leaf, stacked on axis 0."""
    sizes = [int(np.prod(shape_of(x))) for x in leaves]
    total = sum(sizes)
    dt = dtypes.result_type(*[dtype_of(x) for x in leaves])
    eye = np.eye(total, dtype=dt)
    out, start = [], 0
    for x, n in zip(leaves, sizes):
        block = eye[:, start:start + n].reshape((total,) + tuple(shape_of(x)))
        out.append(asarray_like(block.astype(dtype_of(x)), x))
        start += n
    return out, total


def jacfwd(fun, argnums=0, has_aux=False, holomorphic=False):
    """The Jacobian of `fun` by forward mode (one jvp per input element, vectorized by vmap).

    The result nests output structure outside input structure; each leaf has shape
    `out.shape + in.shape`. `holomorphic=True`: complex inputs and outputs, the complex
    derivative.
    """
    @functools.wraps(fun)
    def jacfun(*args):
        nums, single = _normalize_argnums("jacfwd", argnums, len(args), fun)
        leaves, treedef, labels = flatten_args("jacfwd", fun, args, nums)
        for leaf, label in zip(leaves, labels):
            _check_input_dtype("jacfwd", fun, label, dtype_of(leaf), holomorphic, False,
                               complex_ok=False)
        basis, total = _std_basis(leaves)
        flat_fun = FlatFun("jacfwd", fun, lambda *flat: fun(*_substitute(args, nums, treedef,
                                                                         flat)), has_aux)
        box = {}

        def push(*tans):
            out_p, out_t = ad.jvp_flat(flat_fun, leaves, list(tans))
            box["primals"] = out_p
            if holomorphic:
                for o in out_p:
                    _check_output_dtype("jacfwd", fun, dtype_of(o), True)
            return [ad.instantiate(t, p) for t, p in zip(out_t, out_p)]
        jac_t = batching.vmap_flat(push, basis, [0] * len(basis), total,
                                   lambda dims: [-1] * len(dims))
        jac = _reshape_jacobian(jac_t, box["primals"], leaves, treedef, single, last=True)
        res = tree_unflatten(flat_fun.out_tree, jac)
        if has_aux:
            return res, _lower_aux(flat_fun.aux, ad.JVPTracer)
        return res
    return jacfun


def jacrev(fun, argnums=0, has_aux=False, holomorphic=False, allow_int=False):
    """The Jacobian of `fun` by reverse mode (one vjp per output element, vectorized).
    `holomorphic=True`: complex inputs and outputs, the complex derivative."""
    @functools.wraps(fun)
    def jacfun(*args):
        nums, single = _normalize_argnums("jacrev", argnums, len(args), fun)
        leaves, treedef, labels = flatten_args("jacrev", fun, args, nums)
        for leaf, label in zip(leaves, labels):
            _check_input_dtype("jacrev", fun, label, dtype_of(leaf), holomorphic, allow_int)
        flat_fun = FlatFun("jacrev", fun, lambda *flat: fun(*_substitute(args, nums, treedef,
                                                                         flat)),
                            has_aux, as_arrays=True)
        out_p, vjp_fn = ad.vjp_flat(flat_fun, leaves, name="jacrev")
        for o in out_p:
            _check_output_dtype("jacrev", fun, dtype_of(o), holomorphic)
        basis, total = _std_basis(out_p)

        def pull(*cts):
            got = vjp_fn(list(cts))
            return [_zero_or(g, p) for g, p in zip(got, leaves)]
        jac_t = batching.vmap_flat(pull, basis, [0] * len(basis), total, [0] * len(leaves))
        jac = _reshape_jacobian(jac_t, out_p, leaves, treedef, single, last=False)
        res = tree_unflatten(flat_fun.out_tree, jac)
        if has_aux:
            return res, _lower_aux(flat_fun.aux, ad.ReverseTracer)
        return res
    return jacfun


jacobian = jacrev


def _reshape_jacobian(stacked, outs, ins, in_treedef, single, last):
    """Cut the batched Jacobian into blocks `[out_leaf][in_leaf]` of shape out + in."""
    from . import numpy as fnp
    out_sizes = [int(np.prod(shape_of(o))) for o in outs]
    in_sizes = [int(np.prod(shape_of(x))) for x in ins]
    result = []
    if last:   # stacked[j]: out_j.shape + (total_in,)
        for o, block in zip(outs, stacked):
            row, start = [], 0
            for x, n in zip(ins, in_sizes):
                piece = block[..., start:start + n]
                row.append(fnp.reshape(piece, tuple(shape_of(o)) + tuple(shape_of(x))))
                start += n
            result.append(row)
    else:      # stacked[i]: (total_out,) + in_i.shape
        for j, o in enumerate(outs):
            start = sum(out_sizes[:j])
            n = out_sizes[j]
            row = []
            for x, block in zip(ins, stacked):
                piece = block[start:start + n]
                row.append(fnp.reshape(piece, tuple(shape_of(o)) + tuple(shape_of(x))))
            result.append(row)
    packed = []
    for row in result:
        tree = tree_unflatten(in_treedef, row)
        packed.append(tree[0] if single else tree)
    return packed


def hessian(fun, argnums=0, has_aux=False, holomorphic=False):
    """The Hessian of scalar `fun`: forward-over-reverse, `jacfwd(jacrev(fun))`."""
    return jacfwd(jacrev(fun, argnums, has_aux=has_aux, holomorphic=holomorphic), argnums,
                  has_aux=has_aux, holomorphic=holomorphic)


# =================================================================== vmap
def axes_for_leaves(what, axes, tree, labels, transform="vmap"):
    """Broadcast a prefix tree of axes (ints, None = not mapped) to the leaves of `tree`.
    `labels` name the top-level entries (for errors)."""
    proxy = tree_unflatten(tree_structure(tree), list(range(len(tree_leaves(tree)))))
    prefix_leaves, prefix_tree = tree_flatten(axes, is_leaf=lambda x: x is None)
    for ax in prefix_leaves:
        if ax is not None and not isinstance(ax, (int, np.integer)):
            raise TypeError(f"{transform}: {what} entries must be ints or None, got "
                            f"{type(ax).__name__} {ax!r} in {what}={axes!r}")
    try:
        subtrees = prefix_tree.flatten_up_to(proxy)
    except ValueError as e:
        raise ValueError(f"{transform}: {what}={axes!r} does not match the structure of {labels}: "
                         f"{e}. Give {what} as a pytree prefix of {labels}: an int or None "
                         "applies to a whole subtree.") from None
    out = [None] * len(tree_leaves(tree))
    for ax, sub in zip(prefix_leaves, subtrees):
        for i in tree_leaves(sub):
            out[i] = None if ax is None else int(ax)
    return out


def vmap(fun, in_axes=0, out_axes=0, axis_name=None, axis_size=None, spmd_axis_name=None,
         sum_match=False):
    """Vectorize `fun` over an axis of its inputs.

    `in_axes` is an int, None (not mapped) or a tuple with one entry per positional argument,
    each an int, None or a pytree prefix of that argument; keyword arguments are mapped over
    axis 0. `out_axes` is the same for the output. Negative axes count from the end.
    `axis_name` names the mapped axis for collectives (`ft.lax.psum`, `pmean`, `all_gather`,
    …); `axis_size` gives the size when no argument is mapped. An output whose out_axes is
    None must not vary across the batch, unless `sum_match`: then it is summed over the
    mapped axis (the transpose of broadcasting along it). `spmd_axis_name` (in JAX, the mesh
    axis to shard the mapped axis over) is accepted and ignored: functrans has no sharding.
    """
    return mapped(fun, in_axes, out_axes, axis_name, axis_size, sum_match=sum_match)


def mapped(fun, in_axes, out_axes, axis_name, axis_size, span=None, transform="vmap",
           size_label="axis_size", sum_match=False, name=None):
    """`vmap`'s mapping, for the transforms built on it: `span` makes the axis continue on
    other ranks (`batching.Span`, as `pmap` does), `transform` names the transform in errors,
    `size_label` says where a required `axis_size` comes from, `sum_match` is vmap's and
    `name` names the function (by default `fun_name(fun)`)."""
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    name = name or fun_name(fun)

    @functools.wraps(fun)
    def vmapped(*args, **kwargs):
        tree = (tuple(args), kwargs)
        leaves, treedef, dims = in_axes_of_leaves(in_axes, args, kwargs, name, transform)
        labels = [_vmap_arg_label(p) for p, _ in tree_flatten_with_path(tree)[0]]
        lent = lend(leaves, transform, dims)     # mapped Refs: passed as their values
        leaves, dims, size = _mapped_leaves(name, leaves, dims, labels, axis_size, transform,
                                            size_label)
        box = {}

        def flat_fun(*flat):
            a, kw = tree_unflatten(treedef, flat)
            outs, box["tree"] = tree_flatten(fun(*a, **kw))
            box["ranks"] = [len(shape_of(o)) if _is_array_leaf(o) else 0 for o in outs]
            return outs

        def with_refs(*flat):   # the lent Refs' final values follow, mapped as they came in
            outs = lent.call(flat_fun, flat, transform)
            box["ref_dims"] = [dims[i] for i, w in zip(lent.positions, lent.written) if w]
            return outs

        def out_dims(got):
            if lent is not None:
                return own_out_dims(got[:len(got) - len(box["ref_dims"])]) + box["ref_dims"]
            return own_out_dims(got)

        def own_out_dims(got):
            out = tree_unflatten(box["tree"], list(range(len(got))))
            wanted = axes_for_leaves("out_axes", out_axes, out, f"the output of {name}",
                                      transform)
            paths = [keystr(p) for p, _ in tree_flatten_with_path(out)[0]]
            dims, box["summed"] = [], []
            for i, (d, w, rank, path) in enumerate(zip(got, wanted, box["ranks"], paths)):
                if w is None and d is not None and sum_match:
                    box["summed"].append(i)
                    dims.append(0)
                    continue
                if w is None:
                    if d is not None:
                        raise ValueError(
                            f"{transform}: output{path} of {name} varies across the batch, "
                            "but its out_axes is None. Give it a mapped out_axes (e.g. 0), or "
                            "make it independent of the mapped inputs.")
                    dims.append(None)
                    continue
                if not -(rank + 1) <= w <= rank:
                    raise ValueError(f"{transform}: out_axes {w} is out of range for "
                                     f"output{path} of {name}, which has {rank} dimension(s) "
                                     "per example")
                dims.append(w % (rank + 1))
            return dims
        results = batching.vmap_flat(flat_fun if lent is None else with_refs, leaves, dims,
                                     size, out_dims, axis_name, span)
        if lent is not None:
            n = len(results) - len(box["ref_dims"])
            lent.write_back(iter(results[n:]), lent.written, transform)
            results = results[:n]
        for i in box["summed"]:
            results[i] = reduce_sum(results[i], (0,))
        return tree_unflatten(box["tree"], results)
    return vmapped


def in_axes_of_leaves(in_axes, args, kwargs, name, transform="vmap"):
    """The leaves of `(args, kwargs)`, their treedef and the axis each is mapped over
    (`in_axes` as `vmap` takes it; keyword arguments are mapped over axis 0)."""
    if isinstance(in_axes, list):
        in_axes = tuple(in_axes)
    if isinstance(in_axes, tuple):
        if len(in_axes) != len(args):
            raise ValueError(
                f"{transform}: in_axes has {len(in_axes)} entries but {name} was called with "
                f"{len(args)} positional argument(s); give one entry per positional "
                "argument (keyword arguments are always mapped over axis 0)")
        arg_axes = in_axes
    else:
        arg_axes = (in_axes,) * len(args)
    leaves, treedef = tree_flatten((tuple(args), kwargs))
    dims = axes_for_leaves("in_axes", arg_axes, tuple(args),
                           f"the positional arguments of {name}", transform)
    dims += [0] * (len(leaves) - len(dims))
    return leaves, treedef, dims


def _vmap_arg_label(path):
    """`args[1]['w']` for positional arguments, `kwargs['x']` for keyword ones."""
    head, rest = path[0], path[1:]
    return ("args" if head.idx == 0 else "kwargs") + keystr(rest)


def _mapped_leaves(name, leaves, dims, labels, axis_size, transform, size_label):
    """Check the mapped leaves, normalize their axes and find the batch size. NumPy data
    joins the device of the Arrays among them, as operands do."""
    sizes = {}
    out_leaves, out_dims = [], []
    device = operand_device(leaves)
    for x, d, label in zip(leaves, dims, labels):
        if d is None:
            out_leaves.append(x)
            out_dims.append(None)
            continue
        if not _is_array_leaf(x):
            raise TypeError(f"{transform}: {label} of {name} is a {type(x).__name__}, which "
                            "cannot be mapped over; give it in_axes None (or pass it by closure)")
        if not isinstance(x, (Array, Tracer)):
            x = asarray(x, device=device)
        s = shape_of(x)
        if not -len(s) <= d < max(len(s), 1) or not s:
            what = "is a scalar" if not s else f"has shape {s}"
            raise ValueError(f"{transform}: in_axes {d} for {label} of {name}, which {what}: "
                             f"there is no axis {d} to map over. Give it in_axes None if it is "
                             "the same for every example.")
        d %= len(s)
        sizes.setdefault(s[d], []).append(f"{label} (axis {d} of shape {s})")
        out_leaves.append(x)
        out_dims.append(d)
    if axis_size is not None:
        sizes.setdefault(axis_size, []).append(size_label)
    if len(sizes) > 1:
        detail = "; ".join(f"size {n}: {', '.join(who)}" for n, who in sizes.items())
        raise ValueError(f"{transform}: the mapped axes of the arguments of {name} have different "
                         f"sizes ({detail}). All mapped axes must have the same size.")
    if not sizes:
        raise ValueError(f"{transform}: no argument of {name} is mapped (all in_axes are None); "
                         "pass axis_size= to say how many times to map")
    return out_leaves, out_dims, next(iter(sizes))


def make_jaxpr(fun, static_argnums=(), axis_env=None, return_shape=False):
    """`make_jaxpr(f)(*args)` returns the jaxpr `f` stages for arguments like `args`.

    Refs are passed as values (JAX shows them as `Ref` inputs): a Ref argument is an input
    holding its value, and the final values of those `f` writes are extra outputs after its
    results; then the outer refs `f` uses, as under jit: their values are extra inputs
    after the arguments, the final values of those written extra outputs at the end.
    Tracing leaves every Ref as it was. JAX's `axis_env` (named axes bound while tracing)
    is not supported: call `make_jaxpr(ft.vmap(f, axis_name=...))` instead."""
    if axis_env:
        raise NotImplementedError(f"make_jaxpr: axis_env={axis_env!r} is not supported; trace "
                                  f"the function under ft.vmap(f, axis_name=...) (or pmap) to "
                                  f"bind the axis names its collectives use")
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    @functools.wraps(fun)
    def make(*args, **kwargs):
        dyn = [i for i in range(len(args)) if i not in static]
        leaves, treedef = tree_flatten(([args[i] for i in dyn], kwargs))

        def call(*flat):
            dyn_args, kw = tree_unflatten(treedef, flat)
            full = list(args)
            for i, a in zip(dyn, dyn_args):
                full[i] = a
            return fun(*full, **kw)
        flat_fun = FlatFun("make_jaxpr", fun, call, note_numbers=True)
        closed = _trace_with_refs(flat_fun, leaves, "make_jaxpr")
        if return_shape:
            return closed, output_shapes(closed, flat_fun.out_tree, flat_fun.numbers)
        return closed
    return make


def eval_shape(fun, *args, **kwargs):
    """The shapes and dtypes `fun` would return, without computing anything (refs it uses
    or is passed keep their values)."""
    leaves, treedef = tree_flatten((args, kwargs))

    def call(*flat):
        a, kw = tree_unflatten(treedef, flat)
        return fun(*a, **kw)
    flat_fun = FlatFun("eval_shape", fun, call, note_numbers=True)
    closed = _trace_with_refs(flat_fun, leaves, "eval_shape")
    return output_shapes(closed, flat_fun.out_tree, flat_fun.numbers)


def _trace_with_refs(flat_fun, leaves, name):
    """The jaxpr of `flat_fun` on `leaves` (a list, whose Refs are replaced by their
    values): refs handled as `make_jaxpr` says."""
    lent = lend(leaves, name)
    traced, imported = traced_with_refs(flat_fun, lent, name)
    closed, _ = trace_to_jaxpr(traced, [abstractify(x) for x in leaves], name=name,
                               states=imported)
    return closed


def output_shapes(closed, out_tree, numbers=None):
    """The outputs of the jaxpr `closed` as a pytree (`out_tree`) of `ShapeDtypeStruct`s,
    weakly typed where they are or where `numbers` says the function returned a Python
    number (booleans never are, as in JAX)."""
    numbers = numbers or [False] * len(closed.out_avals)
    return tree_unflatten(out_tree, [
        ShapeDtypeStruct(a.shape, a.dtype, weak_type=(a.weak_type or n) and a.dtype != np.bool_)
        for a, n in zip(closed.out_avals, numbers)])
