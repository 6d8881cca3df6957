"""`custom_linear_solve` and `custom_root`: solvers differentiated implicitly, at their
solution, never through their iterations (which may be a `while_loop`).

The user's functions are traced once, with the traced values they close over made explicit
arguments (consts), so derivatives reach those values.
- A linear solve `x = A^-1 b` is a primitive (as in JAX): forward mode solves again for
  `db - dA x`; reverse mode solves the transposed system (`transpose_solve`, with matvec's
  transpose) for the cotangent; vmap batches the functions it carries. Only matvec's consts
  and `b` get derivatives.
- A root `u` of `f` is found with no derivative, then given `du = -(df/du)^-1 (df/dθ dθ)`
  by an identity `custom_jvp` (the inverse through `tangent_solve`), so reverse mode
  transposes `tangent_solve`.
"""
from __future__ import annotations

from typing import NamedTuple, Any

from ..core import Primitive, Tracer, abstractify, eval_jaxpr
from ..interpreters import ad, batching
from ..interpreters.calls import evaluates_jaxpr
from ..interpreters.partial_eval import trace_to_jaxpr, trace_closed
from ..primitives._util import shape_of, moveaxis_to_front, broadcast_batched, wanted
from ..primitives.conversion import asarray
from ..primitives.elementwise import neg, sub, stop_gradient
from ..tree_util import tree_flatten, tree_unflatten, tree_leaves
from .custom_derivatives import custom_jvp, SymbolicZero

__all__ = ["custom_linear_solve", "custom_root"]


class _Fn:
    """A function of flat leaves as a jaxpr whose first `n_consts` inputs are the traced
    values it closed over: `fn(consts, xs)`."""

    def __init__(self, closed, n_consts):
        self.closed, self.n_consts = closed, n_consts

    @classmethod
    def trace(cls, flat_fun, avals, name):
        """`(fn, consts)` for `flat_fun` traced at `avals`."""
        closed, consts = trace_to_jaxpr(flat_fun, avals, name=name)
        return cls(closed, len(consts)), list(consts)

    def __call__(self, consts, xs):
        return eval_jaxpr(self.closed.jaxpr, self.closed.consts, *consts, *xs)


class _Quad(NamedTuple):
    """One entry per function of a linear system; `transpose()` gives the transposed
    system's (matvec and vecmat swapped, solve and transpose_solve swapped)."""
    matvec: Any
    vecmat: Any
    solve: Any
    transpose_solve: Any

    def transpose(self):
        return _Quad(self.vecmat, self.matvec, self.transpose_solve, self.solve)


def _leaves_as_arrays(tree):
    leaves, treedef = tree_flatten(tree)
    return [x if isinstance(x, Tracer) else asarray(x) for x in leaves], treedef


def _checked(caller, name, expected, fun, has_aux=False):
    """`fun` (pytree to pytree) as a function of flat leaves, its output checked to have
    the structure and shapes of `expected`; with `has_aux` it returns `(out, aux)` and the
    flat result is `out`'s leaves then `aux`'s (aux's structure in `.aux_tree`)."""
    expected_leaves, expected_tree = tree_flatten(expected)
    what = "b" if caller == "custom_linear_solve" else "initial_guess"

    def flat(*xs):
        out = fun(*xs)
        aux_leaves = []
        if has_aux:
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise ValueError(f"{caller}: {name}() must return a pair (solution, aux) "
                                 f"because has_aux=True, got {type(out).__name__}")
            out, aux = out
            aux_leaves, flat.aux_tree = _leaves_as_arrays(aux)
        leaves, tree = _leaves_as_arrays(out)
        if tree != expected_tree:
            raise TypeError(f"{caller}: {name}() output pytree structure must match {what}, "
                            f"got {tree} and {expected_tree}")
        got = [shape_of(x) for x in leaves]
        want = [shape_of(x) for x in expected_leaves]
        if got != want:
            raise ValueError(f"{caller}: {name}() output shapes must match {what}, "
                             f"got {got} and {want}")
        return leaves + aux_leaves
    return flat


def _tangent_of(fn, consts, const_tangents, xs):
    """The tangent of `fn(consts, xs)` for tangents of `consts` (None or SymbolicZero:
    zero), or None when all are zero."""
    tans = [None if t is None or isinstance(t, SymbolicZero) else t for t in const_tangents]
    if all(t is None for t in tans):
        return None
    outs, out_t = ad.jvp_flat(lambda *c: fn(c, xs), list(consts), tans)
    return [ad.instantiate(t, o) for t, o in zip(out_t, outs)]


# =================================================================== custom_linear_solve
class _System:
    """The functions of a linear solve (`fns`, a `_Quad` of `_Fn`s or None), the primitive's
    primal jaxpr (all consts and b in, solve's outputs out) and the number of x leaves."""

    def __init__(self, fns, n_x):
        self.fns, self.n_x = fns, n_x
        self.sizes = _Quad(*[0 if f is None else f.n_consts for f in fns])
        solve = fns.solve
        avals = [a for f in fns if f is not None for a in f.closed.in_avals[:f.n_consts]]
        avals += solve.closed.in_avals[solve.n_consts:]
        start = self.sizes.matvec + self.sizes.vecmat

        def primal(*args):
            return solve(args[start:start + solve.n_consts], args[len(avals) - n_x:])
        self.jaxpr = trace_closed(primal, avals, "custom_linear_solve")
        self._transposed = None

    def split(self, args):
        """`(consts, b)`: a `_Quad` of lists and a list."""
        groups, at = [], 0
        for n in self.sizes:
            groups.append(list(args[at:at + n]))
            at += n
        return _Quad(*groups), list(args[at:])

    def transpose(self):
        if self._transposed is None:
            self._transposed = _System(self.fns.transpose(), self.n_x)
        return self._transposed

    def __call__(self, consts, b):
        return linear_solve_p.bind(*[c for group in consts for c in group], *b,
                                   jaxpr=self.jaxpr, system=self)


def _linear_solve_jvp(primals, tangents, jaxpr, system):
    outs = linear_solve_p.bind(*primals, jaxpr=jaxpr, system=system)
    consts, b = system.split(primals)
    d_consts, d_b = system.split(tangents)
    x = outs[:system.n_x]
    d_matvec = _tangent_of(system.fns.matvec, consts.matvec, d_consts.matvec, x)
    if d_matvec is None and all(t is None for t in d_b):
        return outs, [None] * len(outs)
    # A dx = db - dA x
    rhs = [ad.instantiate(t, p) for t, p in zip(d_b, b)]
    if d_matvec is not None:
        rhs = [sub(r, m) for r, m in zip(rhs, d_matvec)]
    dx = system(consts, rhs)[:system.n_x]
    return outs, dx + [None] * (len(outs) - system.n_x)


def _linear_solve_vjp(primals, needs, jaxpr, system):
    outs = linear_solve_p.bind(*primals, jaxpr=jaxpr, system=system)
    consts, b = system.split(primals)
    want_consts, want_b = system.split(wanted(needs, primals))
    if not any(want_b) and not any(want_consts.matvec):
        return outs, None
    if system.fns.transpose_solve is None:
        raise TypeError("custom_linear_solve: transpose_solve is required for reverse-mode "
                        "differentiation (grad, vjp, jacrev); pass it, or symmetric=True when "
                        "matvec is symmetric")
    x = outs[:system.n_x]

    def backward(cts):
        # A^T y = ct gives b's cotangent y, and matvec's consts get -(d(A x)/d consts)^T y
        ct_x = [ad.instantiate(c, o) for c, o in zip(cts[:system.n_x], x)]
        y = system.transpose()(consts.transpose(), ct_x)[:system.n_x]
        ct_matvec = [None] * len(consts.matvec)
        if any(want_consts.matvec):
            _, pullback = ad.vjp_flat(lambda *c: system.fns.matvec(c, x), consts.matvec)
            ct_matvec = [None if g is None else neg(g) for g in pullback(y)]
        others = sum(system.sizes) - system.sizes.matvec
        return ct_matvec + [None] * others + y
    return outs, backward


@batching.needs_axis
def _linear_solve_batch(axis, vals, dims, jaxpr, system):
    vals = [v if d is None else moveaxis_to_front(v, d) for v, d in zip(vals, dims)]
    consts, b = system.split(vals)
    const_dims, b_dims = system.split(dims)
    # x and b are batched alike (matvec maps one to the other, solve back)
    b = [broadcast_batched(v, None if d is None else 0, axis.size, 0)
         for v, d in zip(b, b_dims)]

    def batched(fn, dims_k):
        if fn is None:
            return None
        in_batched = [d is not None for d in dims_k] + [True] * system.n_x
        return _Fn(batching.batch_jaxpr(fn.closed, axis, in_batched, force_out=True)[0],
                   fn.n_consts)
    fns = _Quad(*[batched(f, d) for f, d in zip(system.fns, const_dims)])
    outs = _System(fns, system.n_x)(consts, b)
    return outs, [0] * len(outs)


linear_solve_p = evaluates_jaxpr(Primitive("custom_linear_solve", multiple_results=True))
linear_solve_p.jvp = _linear_solve_jvp
linear_solve_p.vjp = _linear_solve_vjp
linear_solve_p.batch = _linear_solve_batch


def custom_linear_solve(matvec, b, solve, transpose_solve=None, symmetric=False,
                        has_aux=False):
    """`solve(matvec, b)`, with derivatives defined by `matvec(x) == b` at the solution:
    forward mode solves again for `db - dmatvec(x)`, reverse mode with
    `transpose_solve(vecmat, ct)` (`vecmat`: matvec's transpose; `solve` itself when
    `symmetric=True`). `b` may be a pytree. With `has_aux`, `solve` and `transpose_solve`
    return `(x, aux)`, and so does this (aux gets no derivative)."""
    caller = "custom_linear_solve"
    if transpose_solve is None and symmetric:
        transpose_solve = solve
    b_leaves, b_tree = _leaves_as_arrays(b)
    b = tree_unflatten(b_tree, b_leaves)
    avals = [abstractify(x) for x in b_leaves]

    def tree_fn(fun):
        return lambda *xs: fun(tree_unflatten(b_tree, list(xs)))
    mv = _checked(caller, "matvec", b, tree_fn(matvec))
    solve_flat = _checked(caller, "solve", b, tree_fn(lambda v: solve(matvec, v)), has_aux)
    traced = {"matvec": _Fn.trace(mv, avals, "matvec"),
              "solve": _Fn.trace(solve_flat, avals, "solve")}
    if transpose_solve is not None:
        if symmetric:
            vecmat = matvec
        else:
            # matvec is linear: its pullback (at any point) is its transpose
            _, pullback = ad.vjp_flat(mv, [ad.zeros_like_aval(x) for x in b_leaves])

            def vecmat(v):
                cts = pullback(tree_leaves(v))
                return tree_unflatten(b_tree, [ad.instantiate(c, x)
                                               for c, x in zip(cts, b_leaves)])
        tsolve = _checked(caller, "transpose_solve", b,
                          tree_fn(lambda v: transpose_solve(vecmat, v)), has_aux)
        traced["vecmat"] = _Fn.trace(_checked(caller, "vecmat", b, tree_fn(vecmat)), avals,
                                     "vecmat")
        traced["transpose_solve"] = _Fn.trace(tsolve, avals, "transpose_solve")
    parts = [traced.get(name, (None, [])) for name in _Quad._fields]
    system = _System(_Quad(*[fn for fn, _ in parts]), len(b_leaves))
    out = system(_Quad(*[consts for _, consts in parts]), b_leaves)
    x = tree_unflatten(b_tree, out[:len(b_leaves)])
    if has_aux:
        return x, tree_unflatten(solve_flat.aux_tree, out[len(b_leaves):])
    return x


# =================================================================== custom_root
def _implicit_root(f, tangent_solve, n):
    """`attach(f_consts, ts_consts, u)`: `u`, a root of `f(f_consts, .)`, with its tangent
    by the implicit function theorem (`tangent_solve(ts_consts, u + rhs)` solves the
    linearization of `f` at `u` for `rhs`)."""
    def custom_root(f_consts, ts_consts, u):
        return list(u)
    attach = custom_jvp(custom_root)

    def rule(primals, tangents):
        f_consts, ts_consts, u = primals
        u = attach(f_consts, ts_consts, u)      # the root's derivative one level up
        rhs = _tangent_of(f, f_consts, tangents[0], u)
        if rhs is None:
            return u, [SymbolicZero.of(x) for x in u]
        return u, [neg(t) for t in tangent_solve(ts_consts, list(u) + rhs)]
    attach.defjvp(rule, symbolic_zeros=True)
    return attach


def custom_root(f, initial_guess, solve, tangent_solve, has_aux=False):
    """The root `solve(f, initial_guess)` of `f`, differentiated by the implicit function
    theorem at it: with respect to the values `f` closes over, through
    `tangent_solve(g, y)`, which solves `g(x) == y` for `g` the linearization of `f` at the
    root (`lambda g, y: y / g(1.0)` for scalars). Nothing is differentiated through
    `solve`, and the root does not depend on `initial_guess`. With `has_aux`, `solve`
    returns `(root, aux)` and so does this (aux gets no derivative)."""
    caller = "custom_root"
    g_leaves, g_tree = _leaves_as_arrays(initial_guess)
    guess = tree_unflatten(g_tree, g_leaves)
    avals = [abstractify(x) for x in g_leaves]
    n = len(g_leaves)

    def tree_fn(fun):
        return lambda *xs: fun(tree_unflatten(g_tree, list(xs)))
    f_flat = _checked(caller, "f", guess, tree_fn(f))
    solve_flat = _checked(caller, "solve", guess, tree_fn(lambda g: solve(f, g)), has_aux)

    def linearize_and_solve(*xs_and_ys):
        x = list(xs_and_ys[:n])

        def linearized(t):
            _, out_t = ad.jvp_flat(f_flat, x, tree_leaves(t))
            return tree_unflatten(g_tree, [ad.instantiate(o, p) for o, p in zip(out_t, x)])
        ts_flat = _checked(caller, "tangent_solve", guess,
                           tree_fn(lambda y: tangent_solve(linearized, y)))
        return ts_flat(*xs_and_ys[n:])
    f_fn, f_consts = _Fn.trace(f_flat, avals, "f")
    solve_fn, solve_consts = _Fn.trace(solve_flat, avals, "solve")
    ts_fn, ts_consts = _Fn.trace(linearize_and_solve, avals + avals, "tangent_solve")
    # the root and aux, computed with no derivative; the root then gets its implicit one
    out = solve_fn([stop_gradient(c) for c in solve_consts],
                   [stop_gradient(g) for g in g_leaves])
    root = _implicit_root(f_fn, ts_fn, n)(f_consts, ts_consts, out[:n])
    root = tree_unflatten(g_tree, root)
    if has_aux:
        return root, tree_unflatten(solve_flat.aux_tree, out[n:])
    return root
