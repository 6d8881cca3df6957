"""The compiler's passes do what they say, and memory planning never clobbers a live value:
CSE, dead code, constant folding, algebraic rules, fusion, buffer reuse (views, outputs,
constants, inputs, donation), rematerialization, effects, and nested-block lowering."""
import ast
import re

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.core import ShapedArray
from functrans.backends import processes
from functrans.compiler import memory
from functrans.higher_order.cross_rank import allreduce
from functrans.interpreters.batching import Span
from functrans.primitives._util import primitive

BIG = (64, 64)          # 32 KiB in float64: above memory.REUSE_MIN_BYTES


# a primitive that counts how often its kernel runs
_runs = []


def _counted_impl(xp, x):
    _runs.append(1)
    return xp.sin(x)


counted_p = primitive("counted_sin", _counted_impl, lambda x: ShapedArray(x.shape, x.dtype))
counted_p.jvp = lambda primals, tangents: (counted_p.bind(*primals),
                                           None if tangents[0] is None
                                           else tangents[0] * fnp.cos(primals[0]))
counted_p.vjp = lambda primals, needs: (counted_p.bind(*primals),
                                        lambda ct: (ct * fnp.cos(primals[0]),))


def counted(x):
    return counted_p.bind(x)


def runs(fn, *args):
    _runs.clear()
    out = fn(*args)
    return out, len(_runs)


def _arr(shape=BIG, seed=0):
    return fnp.asarray(np.random.default_rng(seed).standard_normal(shape))


def _optimized(f, *args):
    return ft.jit(f).lower(*args).executable


def _prims(exe):
    names = []
    for e in exe.jaxpr.eqns:
        if e.primitive.name == "fused":
            names += [m.primitive.name for m in e.params["jaxpr"].eqns]
        else:
            names.append(e.primitive.name)
    return names


def _code(exe):
    """The generated source, with the host's named number constants (`f64_1_0`, `f32_m0_5`)
    written as the numbers they hold (other devices' code has the numbers themselves)."""
    return re.sub(r"\b[fc]\d+_(m?)(\d+)_(\d+)\b",
                  lambda m: ("-" if m[1] else "") + m[2] + "." + m[3], exe.source)


def _into(line):
    """The buffer a generated call writes its result into: its `out=` or, for NumPy's ufuncs
    and `dot`, the argument after the inputs; None where it allocates or is no call."""
    try:
        body = ast.parse(line.strip()).body
    except SyntaxError:
        return None
    call = body[0].value if body and isinstance(body[0], (ast.Assign, ast.Expr)) else None
    if not isinstance(call, ast.Call):
        return None
    for kw in call.keywords:
        if kw.arg == "out":
            return ast.unparse(kw.value)
    fn = getattr(np, ast.unparse(call.func), None)
    inputs = fn.nin if isinstance(fn, np.ufunc) else 2 if fn is np.dot else None
    return ast.unparse(call.args[inputs]) if inputs and len(call.args) > inputs else None


def _reusing(code):
    """The lines of `code` that write into a buffer."""
    return [ln for ln in code.splitlines() if _into(ln)]


def _same(a, b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# ------------------------------------------------------------------ CSE and dead code
def test_cse_computes_a_duplicate_once():
    def f(x):
        return counted(x) * 2 + counted(x)

    x = _arr((3,))
    want, n_eager = runs(f, x)
    got, n_jit = runs(ft.jit(f), x)
    _same(got, want)
    assert (n_eager, n_jit) == (2, 1)


def test_cse_sees_through_operand_order():
    exe = _optimized(lambda x, y: x * y + y * x, _arr((3,)), _arr((3,), 1))
    assert _prims(exe).count("mul") == 1


def test_dead_code_is_not_executed():
    def f(x):
        unused = counted(x) + 1         # noqa: F841
        return x * 2

    _, n = runs(ft.jit(f), _arr((3,)))
    assert n == 0


# ------------------------------------------------------------------ folding and algebra
def test_gradient_seed_folds_away():
    # grad of a sum: the ones cotangent is a constant; nothing runs but the output
    exe = _optimized(ft.grad(lambda x: (x * 3.0).sum()), _arr((4,)))
    assert exe.jaxpr.eqns == []
    _same(ft.jit(ft.grad(lambda x: (x * 3.0).sum()))(_arr((4,))), np.full(4, 3.0))


def test_full_like_folds_to_a_broadcast_scalar():
    exe = _optimized(lambda x: fnp.ones_like(x) * x + fnp.zeros_like(x), _arr((1000,)))
    assert _prims(exe) == []                                      # 1*x + 0 -> x


def test_algebraic_rules():
    x = _arr((3, 4))
    cases = [
        (lambda x: x * 1.0 + 0.0 - 0.0, []),
        (lambda x: -(-x), []),
        (lambda x: x.T.T, []),
        (lambda x: x.reshape(12).reshape(3, 4), []),
        (lambda x: x ** 2, ["square"]),
        (lambda x: x.astype(x.dtype) / 1.0, []),
    ]
    for f, prims in cases:
        exe = _optimized(f, x)
        assert _prims(exe) == prims, (_prims(exe), str(exe.jaxpr))
        _same(exe(x._value)[0], f(x))
    x3 = _arr((2, 3, 4))
    f = lambda x: fnp.transpose(fnp.transpose(x, (1, 0, 2)), (2, 0, 1))  # noqa: E731
    exe = _optimized(f, x3)
    assert _prims(exe) == ["transpose"]
    assert exe.jaxpr.eqns[0].params["permutation"] == (2, 1, 0)
    _same(ft.jit(f)(x3), f(x3))


def test_max_derivative_tie_test_becomes_a_comparison():
    f = ft.grad(lambda x: fnp.maximum(x, 0.0).sum())
    x = fnp.asarray(np.array([-1.0, 0.0, 2.0]))
    exe = _optimized(f, x)
    assert "max" not in _prims(exe) and "ge" in _prims(exe)
    _same(ft.jit(f)(x), f(x))
    _same(ft.jit(f)(x), [0.0, 0.5, 1.0])


def test_broadcasts_done_implicitly_are_removed():
    f = lambda x, b: x * fnp.broadcast_to(b, x.shape)     # noqa: E731
    exe = _optimized(f, _arr((3, 4)), _arr((4,), 1))
    assert _prims(exe) == ["mul"]
    _same(ft.jit(f)(_arr((3, 4)), _arr((4,), 1)), f(_arr((3, 4)), _arr((4,), 1)))


def test_a_transposed_product_is_computed_with_its_operands_swapped():
    """The gradient of `x @ w.T` with respect to `w` comes out C-contiguous (no strided
    transposed view), for plain and batched products; not when the product is used too."""
    w, x = _arr((6, 5)), _arr((4, 5), 1)
    grad = ft.grad(lambda w, x: fnp.sum(fnp.tanh(x @ w.T)))
    exe = _optimized(grad, w, x)
    assert exe.jaxpr.eqns[-1].primitive.name == "dot_general", str(exe.jaxpr)
    got = np.asarray(exe(w._value, x._value)[0])
    assert got.flags.c_contiguous
    np.testing.assert_allclose(got, np.asarray(grad(w, x)), rtol=1e-14)
    a, b = _arr((3, 4, 5)), _arr((3, 5, 2), 1)
    f = lambda a, b: fnp.swapaxes(a @ b, 1, 2)             # noqa: E731
    exe = _optimized(f, a, b)
    assert _prims(exe) == ["dot_general"], str(exe.jaxpr)
    np.testing.assert_allclose(np.asarray(exe(a._value, b._value)[0]), np.asarray(f(a, b)),
                               rtol=1e-14)
    both = lambda a, b: (a @ b.T, (a @ b.T).T)             # noqa: E731
    a, b = _arr((3, 4)), _arr((5, 4), 1)
    exe = _optimized(both, a, b)
    assert sorted(_prims(exe)) == ["dot_general", "transpose", "transpose"], str(exe.jaxpr)
    for got, want in zip(exe(a._value, b._value), both(a, b)):
        _same(got, want)


@pytest.mark.parametrize("batched", [False, True])
def test_a_product_contracting_leading_axes_reads_the_operand_in_place(batched):
    """The weight gradient of `x @ w` for `x` of shape (B, T, D) contracts x's leading axes:
    the product reads x reshaped and transposed (a view the BLAS reads as it lies), with no
    copying transpose, eagerly and compiled."""
    from functrans.primitives.dot import dot_plan
    x, g = _arr((2, 3, 4, 5)), _arr((2, 3, 4, 6), 1)
    if batched:
        dims, want = (((1, 2), (1, 2)), ((0,), (0,))), np.einsum("bstd,bsth->bdh", x, g)
    else:
        dims, want = (((0, 1, 2), (0, 1, 2)), ((), ())), np.einsum("abtd,abth->dh", x, g)
    plan = dot_plan(x.shape, g.shape, dims)
    assert plan.lhs_perm is None and plan.lhs_swap and not plan.rhs_swap
    f = lambda x, g: ft.lax.dot_general(x, g, dims)        # noqa: E731
    assert ".transpose(" not in ft.jit(f).lower(x, g).as_text().split("# generated code")[1]
    np.testing.assert_allclose(np.asarray(ft.jit(f)(x, g)), want, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(f(x, g)), want, rtol=1e-13)


# ------------------------------------------------------------------ fusion
def test_elementwise_chain_is_fused_and_runs_in_place():
    f = lambda x, y: fnp.exp(x) * 2.0 - y * 3.0 + 1.0    # noqa: E731
    x, y = _arr(), _arr(seed=1)
    exe = _optimized(f, x, y)
    assert [e.primitive.name for e in exe.jaxpr.eqns] == ["fused"]
    code = _code(exe)
    assert "# fused:" in code and len(_reusing(code)) >= 3, code
    assert not {"a0", "a1"} & {_into(ln) for ln in code.splitlines()}, code
    _same(ft.jit(f)(x, y), f(x, y))


def test_fusion_stops_at_values_used_twice():
    def f(x):
        t = x * 2.0
        return t + 1.0, t - 1.0

    exe = _optimized(f, _arr())
    assert [e.primitive.name for e in exe.jaxpr.eqns].count("fused") == 0
    for a, b in zip(ft.jit(f)(_arr()), f(_arr())):
        _same(a, b)


# ------------------------------------------------------------------ memory planning safety
def _check(f, *args, expect_reuse=True):
    """jit(f) equals f, twice in a row (nothing it reads was overwritten), and its inputs
    are unchanged."""
    copies = [np.asarray(a).copy() for a in args]
    want = f(*args)
    jf = ft.jit(f)
    code = _code(jf.lower(*args).compile())
    if expect_reuse:
        assert _reusing(code), code
    for _ in range(2):
        got = jf(*args)
        for a, b in zip(ft.tree_leaves(got), ft.tree_leaves(want)):
            _same(a, b)
    for a, c in zip(args, copies):
        _same(a, c)
    return code


@pytest.mark.parametrize("view", [
    lambda y: y.reshape(-1),
    lambda y: y.T,
    lambda y: y[1:, ::2],
    lambda y: y[::-1],
    lambda y: fnp.broadcast_to(y, (2,) + y.shape),
    lambda y: fnp.expand_dims(y, 0),
    lambda y: ft.lax.stop_gradient(y),      # an unknown kernel (may return its input)
])
def test_a_buffer_with_a_live_view_is_not_reused(view):
    def f(x):
        y = fnp.exp(x)                  # a fresh buffer
        v = view(y)                     # shares y's memory
        z = (x + 1.0) * 3.0             # y is dead here, but v is not
        w = z * 2.0                     # candidates for y's buffer
        return v * 1.5 + fnp.sum(w), w, fnp.sum(v)
    _check(f, _arr())


def test_view_outputs_and_outputs_are_never_overwritten():
    def f(x):
        y = x * 2.0
        out_view = y.reshape(-1)
        z = y + 1.0                      # y's last use; its memory is an output's
        return out_view, z * 3.0, x.T * 5.0
    _check(f, _arr(), expect_reuse=True)


def test_constants_and_inputs_are_never_overwritten():
    const = np.random.default_rng(3).standard_normal(BIG)
    keep = const.copy()

    def f(x):
        a = fnp.asarray(const) + x       # a constant input to an elementwise chain
        b = fnp.ones_like(x) * 3.0 + x   # a folded broadcast constant
        return (a * b + x) * 2.0
    _check(f, _arr())
    _same(const, keep)


@pytest.mark.parametrize("update", [
    lambda y, i: y.at[i].set(7.0),
    lambda y, i: y.at[i, 3:9].add(1.0),
    lambda y, i: y.at[fnp.array([1, 1, 5])].add(2.0),      # duplicates accumulate
    lambda y, i: y.at[fnp.array([2, 0])].max(0.5),
    lambda y, i: ft.lax.dynamic_update_slice(y, fnp.ones((2, 4), y.dtype), (i, 3)),
])
def test_updates_run_in_place_only_on_dying_temporaries(update):
    """A chain of updates writes into its own temporary; the input argument, an old value
    still read later and a view of it are never written."""
    def f(x, i):
        y = update(x, i)              # x is the caller's: this one copies
        y = update(y, i + 1)          # y dies here: in place
        old = y * 1.0
        view = y.reshape(-1)
        z = update(y, i + 2)          # y's view is read below: must copy
        return update(z, i + 3), old, view[:5] * 2.0
    code = _check(f, _arr(), fnp.asarray(4))
    assert any(_into(ln).startswith("v") for ln in _reusing(code)), code


def _fill(i, x):
    return x.at[i].set(x[i - 1] * 0.5 + i)


def _scan_body(fresh_ys):
    def body(c, i):
        old = c[:3] + 0.5
        new = _fill(i, c)
        return new, (old, new[:3] + 0.5 if fresh_ys else new[:3])
    return body


@pytest.mark.parametrize("loop,in_place", [
    # a carry updated in place, the caller's array passed through beside it
    (lambda x: ft.lax.fori_loop(1, 40, lambda i, c: (_fill(i, c[0]), c[1]), (x, x)), True),
    # two carries made from one array: neither may be updated in place of the other
    (lambda x: ft.lax.fori_loop(1, 40, lambda i, c: (lambda n: (n, n))(
        _fill(i, c[0]) + c[1][5, 5]), (x, x * 2.0)), False),
    # carries trading places: the caller's array passes from one to the other, unwritten
    (lambda x: ft.lax.fori_loop(1, 40, lambda i, c: (c[1], _fill(i, c[0])), (x * 2.0, x)),
     False),
    # scan outputs taken before and after the update; a view of the new carry keeps it
    (lambda x: ft.lax.scan(_scan_body(True), x, fnp.arange(1, 30)), True),
    (lambda x: ft.lax.scan(_scan_body(False), x, fnp.arange(1, 30)), False),
    # the old carry read after its update: no update in place
    (lambda x: ft.lax.fori_loop(1, 9, lambda i, c: _fill(i, c) + c[i], x), False),
    # a run-time trip count
    (lambda x: ft.lax.while_loop(lambda c: c[0] < x[0, 0] + 30,
                                 lambda c: (c[0] + 1, _fill(c[0].astype(int), c[1])),
                                 (x[0, 0] * 0 + 1, x)), True),
    # loops in loops
    (lambda x: ft.lax.fori_loop(0, 3, lambda j, c: ft.lax.fori_loop(1, 20, _fill, c) + 1.0, x),
     True),
    # a select writing into its first value operand, the carry (the kernel must know that
    # its buffer is that operand even where the names differ)
    (lambda x: ft.lax.fori_loop(0, 6, lambda i, c: fnp.where(c > 0.3, c, c * 2.0 + 1.0), x),
     True),
])
def test_loop_carries_are_updated_in_place_and_nothing_else_is(loop, in_place):
    code = _check(loop, _arr(), expect_reuse=False)
    # an update writes into a carry's array when the last iteration made it the loop's own
    written = set(re.findall(r"= (own\d+) if \1 is not None", code))
    kept = {name for line in code.splitlines() if re.match(r"\s*own\d+.* = carry", line)
            for name in re.findall(r"own\d+", line.split(" = ")[0])}
    assert bool(written & kept) == in_place, code


def test_a_donated_argument_updated_in_place_by_a_select():
    x = _arr()
    want = fnp.where(x > 0.3, x, x * 2.0 + 1.0)
    got = ft.jit(lambda x: fnp.where(x > 0.3, x, x * 2.0 + 1.0), donate_argnums=0)(
        fnp.asarray(np.asarray(x).copy()))
    _same(got, want)


def test_gradients_through_loops_with_in_place_updates():
    def f(x):
        y = ft.lax.fori_loop(1, 30, _fill, x)
        z = ft.lax.while_loop(lambda c: c[0] < 10, lambda c: (c[0] + 1, _fill(c[0], c[1])),
                              (1, y))[1]
        return fnp.sum(fnp.sin(z))
    x = _arr()
    for a, b in zip(ft.tree_leaves(ft.jit(ft.grad(f))(x)), ft.tree_leaves(ft.grad(f)(x))):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-13)


def test_transcendental_kernels_reuse_only_matching_layouts():
    # sin of an F-ordered temporary must not be written into a C-ordered buffer (NumPy may
    # take another loop for mixed layouts); exact arithmetic may, and tanh of C data may
    def f(x, w):
        t = x.T * 2.0                   # F-ordered
        s = fnp.sin(t)
        d = (x @ w) * 3.0               # C-ordered
        return s * 5.0, fnp.tanh(d)
    code = _check(f, _arr(), _arr(seed=1))
    lines = code.splitlines()
    assert not any("sin(" in ln and _into(ln) for ln in lines), code
    assert any("multiply(5.0" in ln and _into(ln) for ln in lines), code
    assert any("tanh(" in ln and _into(ln) for ln in lines), code


def test_reuse_across_a_long_program_equals_eager():
    def f(x, w):
        h = fnp.tanh(x @ w)
        for _ in range(4):
            h = fnp.tanh(h @ w) * 0.5 + h
        return h.sum(0), h
    code = _check(f, _arr(), _arr(seed=1) / 8)
    # one fresh array (the output); every other product writes into a planned buffer
    products = [ln for ln in code.splitlines() if "dot(" in ln and "ones" not in ln]
    assert len(products) == 5 and sum(not _into(ln) for ln in products) == 1, code


# ------------------------------------------------------------------ rematerialization
def test_checkpointed_forward_is_recomputed_not_cse_d():
    def block(x):
        return counted(counted(x))

    x = _arr((5,))
    plain = ft.jit(ft.value_and_grad(lambda x: block(x).sum()))
    remat = ft.jit(ft.value_and_grad(lambda x: ft.checkpoint(block)(x).sum()))
    (g1, n1), (g2, n2) = runs(plain, x), runs(remat, x)
    _same(g1[1], g2[1])
    # forward: 2 runs; the backward recomputes the inner one (the outer is not needed);
    # merging the recomputation with the forward pass would give 2 again
    assert (n1, n2) == (2, 3)


# ------------------------------------------------------------------ effects
def test_effects_are_kept_and_ordered(capsys):
    def f(x):
        ft.debug.print("first {}", x[0])
        y = x * 2
        ft.debug.print("second {}", y[0])
        ft.debug.print("unused {}", (y * 3)[0])
        return x

    jf = ft.jit(f)
    jf(fnp.asarray(np.array([1.0, 2.0])))
    jf(fnp.asarray(np.array([1.0, 2.0])))
    assert capsys.readouterr().out.split("\n")[:-1] == \
        ["first 1.0", "second 2.0", "unused 6.0"] * 2


def test_effects_inside_checkpoint_survive_dead_code_elimination(capsys):
    def g(x):
        ft.debug.print("inside {}", x[0])
        return x * 2

    @ft.jit
    def f(x):
        ft.checkpoint(g)(x)              # result unused
        return x + 1

    f(fnp.asarray(np.array([4.0])))
    assert capsys.readouterr().out == "inside 4.0\n"


# ------------------------------------------------------------------ nested-block lowering
repeat_p = primitive("repeat", None, lambda x, body, n: x)


def _repeat_impl(xp, x, body, n):
    from functrans.core import eval_jaxpr
    from functrans.array import wrap
    carry = wrap(x)
    for _ in range(n):
        carry, = eval_jaxpr(body.jaxpr, body.consts, carry)
    return carry._value


def _repeat_lowering(ctx, eqn, ins, outs, indent):
    body, n = eqn.params["body"], eqn.params["n"]
    carry = ctx.fresh("carry")
    ctx.emit(f"{carry} = {ins[0]}", indent)
    ctx.emit(f"for _ in range({n}):", indent)
    res, = ctx.lower_jaxpr(body, [carry], indent + 1)
    ctx.emit(f"{carry} = {res}", indent + 1)
    ctx.emit(f"{outs[0]} = {carry}", indent)


repeat_p.impl = _repeat_impl
repeat_p.lowering = _repeat_lowering


def test_primitive_lowering_emits_a_nested_block_with_its_own_buffers():
    from functrans.interpreters.partial_eval import trace_to_jaxpr
    x = _arr()
    shift = np.linspace(0, 1, BIG[1])            # a constant of the body
    body, _ = trace_to_jaxpr(lambda c: [fnp.tanh(c * 0.5) * 2.0 + shift], [x.aval])

    def f(x):
        y = x * 3.0
        r = repeat_p.bind(y, body=body, n=3)
        return r + y, y                   # y is still live after the loop

    jf = ft.jit(f)
    code = _code(jf.lower(x).compile())
    assert "for _ in range(3):" in code and "\n        " in code
    want = f(x)
    for _ in range(2):
        for a, b in zip(jf(x), want):
            _same(a, b)


# ------------------------------------------------------------------ the planner itself
def test_planner_prefers_the_dying_operand_for_in_place_chains(monkeypatch):
    monkeypatch.setattr(memory, "REUSE_MIN_BYTES", 0)
    exe = _optimized(lambda x: (x * 2.0 + 1.0) * 3.0, _arr((3,)))
    code = _code(exe)
    adds = [ln for ln in code.splitlines() if "add(" in ln]
    assert len(adds) == 1 and _into(adds[0]) == "v1" and "v1, 1.0" in adds[0].replace(
        "1.0, v1", "v1, 1.0"), code


def test_two_layer_training_step_compiles_to_lean_code():
    """The seed's step: the cotangent seed folds away, pow(x, 2) is a square, the ReLU
    derivative compares instead of recomputing max, the update of w1 runs in place in the
    buffer of its gradient, and the small products with what is added to them (the
    prediction's error, w2's update) are each one BLAS call."""
    def loss(params, x, y):
        w1, w2 = params
        return fnp.sum((fnp.maximum(x @ w1, 0) @ w2 - y) ** 2)

    def step(params, x, y):
        value, grads = ft.value_and_grad(loss)(params, x, y)
        return value, tuple(p - 1e-6 * g for p, g in zip(params, grads))

    params = (_arr((1000, 100)), _arr((100, 10), 1))
    x, y = _arr((64, 1000), 2), _arr((64, 10), 3)
    exe = _optimized(step, params, x, y)
    prims = _prims(exe)
    for gone in ("full_like", "broadcast_in_dim", "pow", "transpose"):
        assert gone not in prims, prims
    host = ft.backends.default_device_now().xp is np      # where products join a BLAS call
    assert prims.count("max") == 1 and prims.count("dot_general") == (3 if host else 5)
    assert prims.count("gemm") == (2 if host else 0)
    code = _code(exe)
    update = [ln for ln in code.splitlines() if "subtract(a0" in ln]
    assert len(update) == 1 and _into(update[0]), code
    want = step(params, x, y)
    got = ft.jit(step)(params, x, y)
    for a, b in zip(ft.tree_leaves(got), ft.tree_leaves(want)):
        _same(a, b)


# ------------------------------------------------------------------ custom derivatives
def test_custom_derivative_functions_are_inlined_into_the_caller():
    """Compiled code only evaluates, so a custom_jvp/custom_vjp function is its primal jaxpr:
    the passes see through it (ReLU fuses with the bias add; a repeated call is CSE'd)."""
    @ft.custom_vjp
    def scaled(x):
        return fnp.tanh(x) * 3.0

    scaled.defvjp(lambda x: (scaled(x), x), lambda x, ct: (ct * 3.0 / fnp.cosh(x) ** 2,))

    def f(x, b):
        return ft.nn.relu(x + b), scaled(x) + scaled(x)

    x, b = _arr(), _arr(seed=1)[0]
    exe = _optimized(f, x, b)
    prims = _prims(exe)
    assert not any(p.startswith("custom") for p in prims), prims
    assert prims.count("tanh") == 1, prims
    assert exe.jaxpr.eqns[0].primitive.name == "fused", exe.jaxpr      # add -> max
    for a, c in zip(ft.jit(f)(x, b), f(x, b)):
        _same(a, c)
    loss = lambda x: fnp.sum(f(x, b)[1])          # noqa: E731
    _same(ft.jit(ft.grad(loss))(x), ft.grad(loss)(x))


def test_stop_gradient_costs_nothing_in_compiled_code():
    exe = _optimized(lambda x: ft.lax.stop_gradient(x * 2.0) + x, _arr())
    assert "stop_gradient" not in _prims(exe) and "stop_gradient" not in _code(exe)


# ------------------------------------------------------------------ lent memory
class _LendingGroup(processes.Group):
    """Two ranks, the other holding the same values (an all-reduce sums to twice each
    operand), lending host memory for the operands as the MPI group does: it overwrites
    operands computed there with the result, and records which ones were."""
    size = 2

    def __init__(self):
        self.regions, self.computed_there = {}, []

    def lendable(self, avals):
        return tuple(range(len(avals)))

    def lend(self, rank, avals, positions):
        self.regions = {i: np.empty(avals[i].shape, avals[i].dtype) for i in positions}
        return [self.regions[i] for i in positions]

    def allreduce(self, rank, xs, op):
        there = [x is self.regions.get(i) for i, x in enumerate(xs)]
        self.computed_there.append(there)
        return [np.multiply(x, 2, out=x) if t else x * 2 for x, t in zip(xs, there)]


def _summed(group, *xs):
    return allreduce(list(xs), "sum", Span(group, 0), "i")


@pytest.fixture
def on_the_cpu():
    """Programs run on the CPU (the lending group's memory is host memory)."""
    with ft.default_device(ft.devices("cpu")[0]):
        yield


def test_operands_of_a_collective_are_computed_in_the_memory_it_lends(on_the_cpu):
    w, x, v = _arr((8, 6)), _arr((4, 8), 1), _arr((4, 6), 2)

    def step(group):
        def f(w, x, v):
            g, b = _summed(group, x.T @ (fnp.tanh(x @ w) - v), fnp.sum(v, 0).reshape(2, 3))
            return w - 0.1 * g / 2, b + 1.0
        return f

    def want(w, x, v):
        return w - 0.1 * (x.T @ (fnp.tanh(x @ w) - v)), 2 * fnp.sum(v, 0).reshape(2, 3) + 1.0
    group = _LendingGroup()
    for _ in range(2):
        for got, expected in zip(ft.jit(step(group))(w, x, v), want(w, x, v)):
            np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-14)
    assert group.computed_there == [[True, True]] * 2      # a matrix product, a reshaped sum
    assert "lent" in _code(_optimized(step(_LendingGroup()), w, x, v))


@pytest.mark.parametrize("case", ["read after", "returned", "viewed", "two collectives"])
def test_operands_read_elsewhere_are_not_computed_in_lent_memory(case, on_the_cpu):
    """The group overwrites what was computed in its memory: operands read after the
    collective, returned or viewed elsewhere are computed in memory of their own; of two
    collectives whose operands interleave, only the first lends."""
    a, b = _arr((5, 4)), _arr((4, 3), 1)

    def f(group):
        def run(a, b):
            p = a @ b
            q = fnp.exp(a @ b + 1.0)
            if case == "read after":
                s, = _summed(group, p)
                return s + 1.0, fnp.sum(p)
            if case == "returned":
                s, = _summed(group, p)
                return s + 1.0, p
            if case == "viewed":
                flat = p.reshape(-1)
                s, = _summed(group, p)
                return s + 1.0, flat + 1.0
            s, = _summed(group, q)
            t, = _summed(group, p)
            return s + 1.0, t + 1.0
        return run
    group = _LendingGroup()
    got = ft.jit(f(group))(a, b)
    want = f(_LendingGroup())(a, b)
    for g, w in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-14)
    expected = [[True], [False]] if case == "two collectives" else [[False]]
    assert group.computed_there == expected


@pytest.mark.parametrize("op", ["sum", "max", "min", "prod"])
def test_reductions_over_leading_and_trailing_axes_run_in_two_steps(op):
    with ft.default_device(ft.devices("cpu")[0]):        # the host's kernels
        _two_step_reductions(op)


def _two_step_reductions(op):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.5, (6, 5, 4, 3)).astype(np.float32)
    for axes in [(0, 2, 3), (0, 1, 3), (0, 3), (0, 2), (1, 2, 3), (0,)]:
        f = lambda a: getattr(fnp, op)(a, axis=axes)            # noqa: E731
        got = ft.jit(f)(x)
        np.testing.assert_allclose(np.asarray(got), getattr(np, op)(x, axis=axes), rtol=1e-5)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(f(x)))   # eager: the same
        two_steps = axes in [(0, 2, 3), (0, 1, 3), (0, 3)]
        code = _code(_optimized(f, x))
        if op == "sum":         # float sums: products with vectors of ones, one per step
            products = 2 if two_steps else 0 if axes == (0, 2) else 1
            assert code.count("dot(") == products and "two_step" not in code, (axes, code)
        else:
            assert ("two_step" in code) == two_steps, axes
    # size-1 axes do not change the plan, so a vmap or pmap over one device sums alike
    wide = x[None, :, :, None]
    g = lambda a: getattr(fnp, op)(a, axis=(1, 3, 4, 5))             # noqa: E731
    np.testing.assert_array_equal(np.asarray(ft.jit(g)(wide))[0],
                                  np.asarray(ft.jit(lambda a: getattr(fnp, op)(a, (0, 2, 3)))(x)))
    one = x[:1, :, :, 0]                   # a leading axis of size 1: one step
    h = lambda a: getattr(fnp, op)(a, axis=(0, 2))              # noqa: E731
    np.testing.assert_allclose(np.asarray(ft.jit(h)(one)), getattr(np, op)(one, (0, 2)),
                               rtol=1e-5)
    assert "two_step" not in _code(_optimized(h, one))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_sums_over_leading_or_trailing_axes_are_products_with_ones(dtype):
    """They equal NumPy's sums to rounding, eagerly and compiled alike (bit for bit), keep
    NaN and infinities, and sum leading axes at least as accurately as NumPy does."""
    rng = np.random.default_rng(1)
    x = rng.uniform(0.5, 1.5, (7, 1, 6, 5)).astype(dtype)
    x[0, 0, 1, 2], x[3, 0, 4, 0], x[5, 0, 2, 2] = np.nan, np.inf, -np.inf
    x[6, 0, 4, 0] = -np.inf
    tol = 1e-5 if dtype == "float32" else 1e-13
    with ft.default_device(ft.devices("cpu")[0]), np.errstate(invalid="ignore"):
        for axes in [(0,), (0, 1), (0, 1, 2), (2, 3), (1, 2, 3), (3,), (0, 3), (0, 1, 3)]:
            f = lambda a: fnp.sum(a, axis=axes)                     # noqa: E731
            want = x.sum(axis=axes, dtype=np.float64)
            got = np.asarray(ft.jit(f)(x))
            assert got.dtype == x.dtype and got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=tol)
            np.testing.assert_array_equal(got, np.asarray(f(x)))            # eager: the same
            np.testing.assert_array_equal(got, np.asarray(f(fnp.asarray(x))))
            assert "dot(" in _code(_optimized(f, x)), axes
        sums = lambda a: (fnp.sum(a), fnp.sum(a[None, :, None], axis=(1, 3)))  # noqa: E731
        assert "dot(" not in _code(_optimized(sums, np.ones((5, 3), dtype)))       # all axes
        assert "dot(" not in _code(_optimized(lambda a: fnp.sum(a, axis=1),
                                              np.ones((5, 3), np.complex64)))
    long = rng.uniform(0, 1, (1 << 15, 4)).astype(np.float32)
    exact = long.astype(np.float64).sum(0)
    ours = np.asarray(ft.jit(lambda a: fnp.sum(a, axis=0))(long))
    assert np.abs(ours - exact).max() <= np.abs(long.sum(0) - exact).max()
