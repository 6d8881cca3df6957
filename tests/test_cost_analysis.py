"""`Compiled.cost_analysis()` / `memory_analysis()` (JAX's AOT API): flop, transcendental and
byte counts of the program functrans runs, checked against hand counts and, where the counting
conventions agree, against JAX's."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp


def cost(f, *args):
    return ft.jit(f).trace(*args).lower().compile().cost_analysis()


def test_the_aot_guide_example():
    # JAX's AOT guide: 2 * x + y on int32 scalars is 2 flops
    assert cost(lambda x, y: 2 * x + y, 3, 4)["flops"] == 2.0


@pytest.mark.parametrize("shape_a,shape_b", [((32, 64), (64, 48)), ((4, 8, 16), (4, 16, 5)),
                                             ((7,), (7,))])
def test_products_count_two_flops_per_multiply_add(shape_a, shape_b):
    a, b = fnp.ones(shape_a), fnp.ones(shape_b)
    c = cost(lambda a, b: a @ b, a, b)
    out = np.ones(shape_a) @ np.ones(shape_b)
    assert c["flops"] == 2 * out.size * shape_a[-1]
    assert c["transcendentals"] == 0
    assert c["bytes accessed"] == 4 * (a.size + b.size + out.size)


def test_elementwise_reductions_and_transcendentals():
    x = fnp.ones((32, 64))
    c = cost(lambda x: fnp.tanh(x * 2 + 1).sum(), x)
    assert c["transcendentals"] == x.size
    assert c["flops"] == 2 * x.size + (x.size - 1)
    assert c == {"flops": c["flops"], "transcendentals": c["transcendentals"],
                 "bytes accessed": c["bytes accessed"]}
    assert all(isinstance(v, float) for v in c.values())
    for f in (fnp.exp, fnp.log1p, fnp.sqrt, ft.scipy.special.erf, lambda x: fnp.arctan2(x, x)):
        got = cost(f, x)
        assert got["transcendentals"] == x.size and got["flops"] == 0, f


def test_agrees_with_jax_where_conventions_match():
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 64)).astype(np.float32)
    x = rng.standard_normal((32, 64)).astype(np.float32)

    def ours_and_jax(make):
        f_ft, f_jax = make(fnp, ft), make(jnp, jax)
        ours = ft.jit(f_ft).trace(w, x).lower().compile().cost_analysis()
        theirs = jax.jit(f_jax).trace(w, x).lower().compile().cost_analysis()
        return ours, theirs
    for make in (lambda np_, lib: lambda w, x: x @ w,
                 lambda np_, lib: lambda w, x: np_.tanh(x @ w),
                 lambda np_, lib: lib.grad(lambda w, x: (x @ w).sum())):
        ours, theirs = ours_and_jax(make)
        assert ours["flops"] == theirs.get("flops", 0.0)
        assert ours["transcendentals"] == theirs.get("transcendentals", 0.0)


def test_control_flow():
    x = fnp.ones(10)
    body = cost(lambda a: a * 2.0, x)["flops"]
    scan = cost(lambda a: ft.lax.scan(lambda c, _: (c * 2.0, None), a, None, length=7)[0], x)
    assert scan["flops"] >= 7 * body
    cond = cost(lambda a: ft.lax.cond(a[0] > 0, lambda c: fnp.exp(c) * 3, lambda c: -c, a), x)
    assert cond["transcendentals"] == x.size          # the costlier branch


def test_memory_analysis():
    x = fnp.ones((32, 64))
    compiled = ft.jit(lambda x: fnp.tanh(x @ x.T) @ x).trace(x).lower().compile()
    m = compiled.memory_analysis()
    assert m.argument_size_in_bytes == x.size * 4
    assert m.output_size_in_bytes == x.size * 4
    assert m.temp_size_in_bytes == compiled.arena_bytes >= 32 * 32 * 4
    assert m.generated_code_size_in_bytes == len(compiled.source.encode())
    assert m.host_temp_size_in_bytes == 0 and m.alias_size_in_bytes == 0


def test_lowered_cost_and_compiler_options():
    lowered = ft.jit(lambda x: x * 2).trace(fnp.ones(8)).lower()
    assert lowered.cost_analysis() == lowered.compile().cost_analysis()
    assert lowered.cost_analysis()["flops"] == 8
    assert lowered.compile(compiler_options={})(fnp.ones(8))[0] == 2
    with pytest.raises(ValueError, match="compiler options"):
        lowered.compile(compiler_options={"xla_cpu_enable_fast_math": True})


def test_stages_and_args_info():
    from functrans import stages
    f = ft.jit(lambda x, y, scale: x * scale + y, static_argnums=2, donate_argnums=1)
    traced = f.trace(fnp.ones((2, 3)), fnp.zeros(3, fnp.int32), 2.0)
    lowered = traced.lower()
    compiled = lowered.compile()
    assert isinstance(traced, stages.Traced) and isinstance(lowered, stages.Lowered)
    assert isinstance(compiled, stages.Compiled)
    for info in (traced.args_info, lowered.args_info, compiled.args_info):
        (x_info, y_info), kwargs = info          # JAX's ((args...), {kwargs}) structure
        assert kwargs == {}
        assert isinstance(x_info, stages.ArgInfo)
        assert x_info.shape == (2, 3) and x_info.dtype == np.float32 and not x_info.donated
        assert y_info.shape == (3,) and y_info.dtype == np.int32 and y_info.donated
    assert compiled.in_tree == lowered.in_tree and compiled.out_tree == lowered.out_tree
    assert "donated=True" in repr(y_info)
