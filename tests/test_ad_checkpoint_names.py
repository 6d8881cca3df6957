"""ft.ad_checkpoint's policy answers `Offloadable`, `Recompute` and `Saveable` (JAX's), in the
policies that return them and in policies of one's own."""
import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.ad_checkpoint import Offloadable, Recompute, Saveable, saved_residuals

RNG = np.random.default_rng(0)


def label(answer):
    """A policy's answer in words, the same for both libraries."""
    if isinstance(answer, bool):
        return answer
    if isinstance(answer, tuple):
        return (type(answer).__name__, answer.src, answer.dst)
    return type(answer).__name__.replace("Type", "")


def ft_cases():
    """(name, primitive, avals, params) of a few equations, functrans's."""
    def f(x, y, b):
        u = ft.checkpoint_name(fnp.sin(x), "a")
        v = ft.checkpoint_name(u, "b")
        w = ft.checkpoint_name(v, "c")
        return x @ y, fnp.einsum("bij,bjk->bik", b, b), w
    jaxpr = ft.make_jaxpr(f)(np.ones((2, 2)), np.ones((2, 2)), np.ones((3, 2, 2))).jaxpr
    out = {}
    for e in jaxpr.eqns:
        key = e.params.get("name") or e.primitive.name
        key = "batched_dot" if key == "dot_general" and "dot_general" in out else key
        out.setdefault(key, (e.primitive, [v.aval for v in e.invars], e.params))
    return out


def jax_cases(jax):
    from jax._src.ad_checkpoint import name_p
    lax = jax.lax
    return {"a": (name_p, [], {"name": "a"}), "b": (name_p, [], {"name": "b"}),
            "c": (name_p, [], {"name": "c"}), "sin": (lax.sin_p, [], {}),
            "dot_general": (lax.dot_general_p, [], {"dimension_numbers": (((1,), (0,)),
                                                                          ((), ()))}),
            "batched_dot": (lax.dot_general_p, [], {"dimension_numbers": (((2,), (1,)),
                                                                          ((0,), (0,)))})}


def policies(pol):
    return {
        "offload_dots": pol.offload_dot_with_no_batch_dims("device", "pinned_host"),
        "save_and_offload": pol.save_and_offload_only_these_names(
            names_which_can_be_saved=["a"], names_which_can_be_offloaded=["b"],
            offload_src="device", offload_dst="pinned_host"),
        "save_only": pol.save_only_these_names("a", "c"),
        "dots": pol.dots_saveable,
        "everything": pol.everything_saveable,
    }


def test_policy_answers_match_jax():
    jax = pytest.importorskip("jax")
    ours, theirs = ft_cases(), jax_cases(jax)
    assert set(theirs) <= set(ours)
    our_pols, their_pols = policies(ft.checkpoint_policies), policies(jax.checkpoint_policies)
    for name in our_pols:
        for case in theirs:
            prim, avals, params = ours[case]
            got = label(our_pols[name](prim, *avals, **params))
            jprim, javals, jparams = theirs[case]
            assert got == label(their_pols[name](jprim, *javals, **jparams)), (name, case)


def test_values_like_jax():
    jax = pytest.importorskip("jax")
    import jax.ad_checkpoint
    o = Offloadable("device", "pinned_host")
    j = jax.ad_checkpoint.Offloadable("device", "pinned_host")
    assert (o.src, o.dst) == (j.src, j.dst) and repr(o) == repr(j) and tuple(o) == tuple(j)
    assert o == Offloadable(src="device", dst="pinned_host") and len({o, o}) == 1
    with pytest.raises(TypeError):
        Offloadable("device")
    assert Recompute is not Saveable and repr(Recompute) == "Recompute"
    assert ft.ad_checkpoint.Saveable is Saveable


def block(x):
    a = ft.checkpoint_name(fnp.sin(x), "a")
    b = ft.checkpoint_name(fnp.sin(a), "b")
    return fnp.sum(fnp.sin(b) ** 2)


def saved(policy, x):
    return sorted(what.split(" from ")[0] for _, what in
                  saved_residuals(ft.checkpoint(block, policy=policy), x))


@pytest.mark.parametrize("policy, expect", [
    (lambda *_, **__: Saveable, 4),       # sin's three cosines and the square's 2 sin
    (lambda *_, **__: Recompute, 0),
    (lambda prim, *_, **p: Offloadable("device", "pinned_host") if p.get("name") == "b"
     else Recompute, 1),
    (ft.checkpoint_policies.save_and_offload_only_these_names(
        names_which_can_be_saved=["a"], names_which_can_be_offloaded=["b"],
        offload_src="device", offload_dst="pinned_host"), 2),
])
def test_checkpoint_follows_the_answers(policy, expect):
    x = RNG.normal(size=3)
    got = saved(policy, x)
    assert len([w for w in got if not w.startswith("from the argument")]) == expect, got
    want = ft.grad(block)(x)
    np.testing.assert_allclose(ft.grad(ft.checkpoint(block, policy=policy))(x), want,
                               rtol=1e-6)
    np.testing.assert_allclose(ft.jit(ft.grad(ft.checkpoint(block, policy=policy)))(x), want,
                               rtol=1e-6)
    xs = RNG.normal(size=(2, 3))
    np.testing.assert_allclose(ft.vmap(ft.grad(ft.checkpoint(block, policy=policy)))(xs),
                               ft.vmap(ft.grad(block))(xs), rtol=1e-6)


def test_bad_answers():
    x = np.ones(3)
    for bad in (None, 3, "save"):
        with pytest.raises(TypeError, match="must return a bool or .*Recompute, Saveable or "
                                            "Offloadable"):
            ft.grad(ft.checkpoint(block, policy=lambda *_, b=bad, **__: b))(x)
    pol = ft.checkpoint_policies
    both = pol.save_from_both_policies(pol.nothing_saveable, lambda *_, **__: Saveable)
    with pytest.raises(ValueError, match="both policies must return bools"):
        ft.grad(ft.checkpoint(block, policy=both))(x)
    with pytest.raises(ValueError, match=r"\['a'\] are both saved and offloaded"):
        pol.save_and_offload_only_these_names(names_which_can_be_saved=["a"],
                                              names_which_can_be_offloaded=["a"],
                                              offload_src="device", offload_dst="pinned_host")
