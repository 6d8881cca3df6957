"""Checks that run in every process of an MPI job (`tests/test_distributed.py` launches them):

    mpiexec -n 2 python tests/distributed_checks.py [check ...]

Each process writes one JSON line per check, `{"check": ..., "process": ..., "ok": ...,
"error": ..., "seconds": ...}`, to `results-<process>.jsonl` in `$FT_CHECK_DIR` (and prints
it). Every process computes what each collective should give with
NumPy from the data of all processes (each regenerates the others' from their seeds), so no
check trusts the communication it tests.
"""
import json
import os
import sys
import tempfile
import time
import traceback

import numpy as np

import functrans as ft
import functrans.numpy as fnp
from functrans import lax

ft.config.update("default_float_dtype", "float64")


def data(process, shape, seed=0):
    return np.random.default_rng(1000 * seed + process).standard_normal(shape)


def close(got, want, rtol=1e-12, atol=1e-12):
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=rtol, atol=atol)


# ------------------------------------------------------------------ the collectives
def check_collectives():
    """Every collective against NumPy: eagerly, under jit (outside and inside pmap), with a
    pytree of mixed dtypes travelling fused, and nested with vmap's named axes."""
    r, P = ft.process_index(), ft.process_count()
    X = np.stack([data(q, (2, 3)) for q in range(P)])            # (P, 2, 3)
    Y = np.stack([data(q, (P, 3), 1) for q in range(P)])         # for psum_scatter
    Z = np.stack([data(q, (2 * P, 3), 2) for q in range(P)])     # tiled psum_scatter
    ring = [(q, (q + 1) % P) for q in range(P)]

    def f(x, y, z):
        return {"psum": lax.psum(x, "i"), "pmean": lax.pmean(x, "i"),
                "pmax": lax.pmax(x, "i"), "pmin": lax.pmin(x, "i"),
                "gather0": lax.all_gather(x, "i"), "gather1": lax.all_gather(x, "i", axis=1),
                "tiled": lax.all_gather(x, "i", tiled=True),
                "scatter": lax.psum_scatter(y, "i"),
                "scatter_tiled": lax.psum_scatter(z, "i", tiled=True),
                "ring": lax.ppermute(x, "i", ring), "index": lax.axis_index("i"),
                "one way": lax.ppermute(x, "i", [(0, P - 1)]),
                "size": lax.psum(1, "i"), "to_all": lax.all_to_all(y, "i", 0, 1),
                "to_all_tiled": lax.all_to_all(z, "i", 0, 1, tiled=True),
                "shuffle": lax.pshuffle(x, "i", list(range(P))[::-1]),
                "broadcast": lax.pbroadcast(x, "i", P - 1)}
    want = {"psum": X.sum(0), "pmean": X.mean(0), "pmax": X.max(0), "pmin": X.min(0),
            "gather0": X, "gather1": X.transpose(1, 0, 2), "tiled": X.reshape(2 * P, 3),
            "scatter": Y.sum(0)[r], "scatter_tiled": Z.sum(0)[2 * r:2 * r + 2],
            "ring": X[(r - 1) % P], "index": r, "size": P,
            "one way": X[0] if r == P - 1 else np.zeros((2, 3)),
            "to_all": Y[:, r].T, "to_all_tiled": np.concatenate(list(Z[:, 2 * r:2 * r + 2]), 1),
            "shuffle": X[P - 1 - r], "broadcast": X[P - 1]}
    args = (X[r][None], Y[r][None], Z[r][None])
    eager = ft.pmap(f, axis_name="i")
    for label, g in [("pmap", eager), ("jit(pmap)", ft.jit(ft.pmap(f, axis_name="i"))),
                     ("pmap(jit)", ft.pmap(ft.jit(f), axis_name="i"))]:
        got = g(*args)
        for k, w in want.items():
            try:
                close(got[k][0], w)
            except AssertionError as e:
                raise AssertionError(f"{label} {k}: {e}") from None
    eager(*args)
    assert eager.cache_info().misses == 1      # compiled once

    # a pytree of three dtypes: one message per dtype, results exact
    tree = {"a": fnp.asarray(X[r][None]), "b": fnp.asarray(X[r][None].astype(np.float32)),
            "n": fnp.asarray(np.arange(4, dtype=np.int32)[None] + r),
            "c": fnp.asarray(X[r][None, 0])}
    got = ft.pmap(lambda t: lax.psum(t, "i"), axis_name="i")(tree)
    close(got["a"][0], X.sum(0))
    close(got["b"][0], X.astype(np.float32).sum(0), rtol=1e-6)
    close(got["c"][0], X[:, 0].sum(0))
    assert np.asarray(got["n"]).dtype == np.int32
    close(got["n"][0], P * np.arange(4) + sum(range(P)))

    # nested with vmap's named axes: the axis ("i", "j") covers processes x examples
    def g(v):
        return (lax.psum(v, "i"), lax.psum(v, "j"), lax.psum(v, ("i", "j")),
                lax.all_gather(v, ("i", "j")), lax.axis_index("i") * 10 + lax.axis_index("j"))
    for label, h in [("pmap(vmap)", ft.pmap(ft.vmap(g, axis_name="j"), axis_name="i")),
                     ("pmap(jit(vmap))", ft.pmap(ft.jit(ft.vmap(g, axis_name="j")),
                                                 axis_name="i"))]:
        over_i, over_j, both, gathered, idx = h(X[r][None])
        try:
            close(over_i[0], X.sum(0))
            close(over_j[0], np.broadcast_to(X[r].sum(0), (2, 3)))
            close(both[0], np.broadcast_to(X.sum((0, 1)), (2, 3)))
            close(gathered[0, 1], X.reshape(2 * P, 3))           # process-major order
            close(idx[0], r * 10 + np.arange(2))
        except AssertionError as e:
            raise AssertionError(f"{label}: {e}") from None


def check_derivatives():
    """Collectives differentiated: grad inside pmap, grad and jvp of pmap, second order. In
    every process the gradient is that of the sum over processes of their outputs."""
    r, P = ft.process_index(), ft.process_count()
    X = np.stack([data(q, (3,), 3) for q in range(P)])
    C = np.stack([data(q, (3,), 4) for q in range(P)])
    CG = np.stack([data(q, (P, 3), 5) for q in range(P)])
    Y = np.stack([data(q, (P, 3), 6) for q in range(P)])
    x, c, cg, y = X[r][None], C[r][None], CG[r][None], Y[r][None]
    ring = [(q, (q + 1) % P) for q in range(P)]
    cases = [
        ("psum", lambda v, w: fnp.sum(lax.psum(v, "i") * w), x, c, C.sum(0)),
        ("pmean", lambda v, w: fnp.sum(lax.pmean(v, "i") * w), x, c, C.sum(0) / P),
        ("all_gather", lambda v, w: fnp.sum(lax.all_gather(v, "i") * w), x, cg, CG.sum(0)[r]),
        ("psum_scatter", lambda v, w: fnp.sum(lax.psum_scatter(v, "i") * w), y, c, C),
        ("ppermute", lambda v, w: fnp.sum(lax.ppermute(v, "i", ring) * w), x, c,
         C[(r + 1) % P]),
        ("all_to_all", lambda v, w: fnp.sum(lax.all_to_all(v, "i", 0, 1) * w.T), y, y,
         Y[:, r]),
        ("pshuffle", lambda v, w: fnp.sum(lax.pshuffle(v, "i", list(range(P))[::-1]) * w), x,
         c, C[P - 1 - r]),
        ("pbroadcast", lambda v, w: fnp.sum(lax.pbroadcast(v, "i", 0) * w), x, c,
         C.sum(0) if r == 0 else np.zeros(3)),
        ("pmax", lambda v, w: fnp.sum(lax.pmax(v, "i") * w), x, c,
         (X[r] == X.max(0)) * C.sum(0)),
        ("sin(psum)", lambda v, w: fnp.sum(fnp.sin(lax.psum(v, "i")) * w), x, c,
         C.sum(0) * np.cos(X.sum(0))),
    ]
    for name, loss, arg, weight, want in cases:
        inside = ft.pmap(ft.grad(loss), axis_name="i")(arg, weight)
        outside = ft.grad(lambda a: fnp.sum(ft.pmap(loss, axis_name="i")(a, weight)))(arg)
        staged = ft.jit(ft.grad(lambda a: fnp.sum(ft.pmap(loss, axis_name="i")(a, weight))))(
            arg)
        for label, got in [("pmap(grad)", inside), ("grad(pmap)", outside),
                           ("jit(grad(pmap))", staged)]:
            try:
                close(got[0], want, rtol=1e-10)
            except AssertionError as e:
                raise AssertionError(f"{name} {label}: {e}") from None
    # forward mode: the tangent of psum is the psum of the tangents
    T = np.stack([data(q, (3,), 7) for q in range(P)])
    f = ft.pmap(lambda v: fnp.sin(lax.psum(v ** 2, "i")), axis_name="i")
    out, tangent = ft.jvp(f, (fnp.asarray(x),), (fnp.asarray(T[r][None]),))
    S = (X ** 2).sum(0)
    close(out[0], np.sin(S))
    close(tangent[0], np.cos(S) * (2 * X * T).sum(0), rtol=1e-10)
    # second order: the Hessian-vector product of sum over processes of sum(psum(v)**3)
    hvp = ft.jvp(ft.grad(lambda a: fnp.sum(ft.pmap(
        lambda v: lax.psum(v, "i") ** 3, axis_name="i")(a))), (fnp.asarray(x),),
        (fnp.asarray(T[r][None]),))[1]
    close(hvp[0], P * 6 * X.sum(0) * T.sum(0), rtol=1e-10)


# ------------------------------------------------------------------ data-parallel training
def _mlp(key):
    k1, k2 = ft.random.split(key)
    return {"w1": ft.random.normal(k1, (5, 8)) * 0.5, "b1": fnp.zeros(8),
            "w2": ft.random.normal(k2, (8, 3)) * 0.5, "b2": fnp.zeros(3)}


def _loss(p, x, y):
    h = fnp.tanh(x @ p["w1"] + p["b1"])
    return fnp.mean((h @ p["w2"] + p["b2"] - y) ** 2)


def check_training():
    """SGD with momentum on a small net, data-parallel over the processes, equals training on
    the whole batch in one process (float64, rtol 1e-9); every process ends with bit-identical
    parameters; the initial parameters come from process 0; the gradients are computed in
    the memory the all-reduce lends."""
    r, P = ft.process_index(), ft.process_count()
    opt = ft.optim.sgd(0.1, momentum=0.9)
    batches = [(data(0, (12, 5), 10 + s), data(0, (12, 3), 20 + s)) for s in range(4)]

    @ft.jit
    def full_step(p, state, x, y):
        g = ft.grad(_loss)(p, x, y)
        u, state = opt.update(g, state, p)
        return ft.optim.apply_updates(p, u), state

    @ft.pmap(axis_name="batch")
    def dp_step(p, state, x, y):
        g = lax.pmean(ft.grad(_loss)(p, x, y), "batch")
        u, state = opt.update(g, state, p)
        return ft.optim.apply_updates(p, u), state

    # the compiled step computes the gradients straight into the all-reduce's buffer
    group = ft.backends.processes.world().host_group()
    lent = []
    group.lend = lambda *args, lend=group.lend: lent.append(1) or lend(*args)
    ref = _mlp(ft.random.key(0))
    ref_state = opt.init(ref)
    params = ft.distributed.broadcast(_mlp(ft.random.key(r)))      # process 0's draw
    for k in params:
        close(params[k], ref[k], rtol=0, atol=0)
    params = ft.distributed.replicate(params)
    state = ft.distributed.replicate(opt.init(ft.distributed.unreplicate(params)))
    for x, y in batches:
        ref, ref_state = full_step(ref, ref_state, x, y)
        params, state = dp_step(params, state, *ft.distributed.shard_batch((x, y)))
        assert not group._lent, "the all-reduce copied what was computed in its buffer"
    del group.lend
    assert len(lent) == len(batches)
    final = ft.distributed.unreplicate(params)
    for k in ref:
        close(final[k], ref[k], rtol=1e-9, atol=1e-12)
    everyone = ft.distributed.process_allgather(final)
    for k in final:
        rows = np.asarray(everyone[k])
        assert all(rows[q].tobytes() == rows[0].tobytes() for q in range(P)), \
            f"{k} differs between processes"
    assert dp_step.cache_info().misses == 1


def check_helpers():
    """shard_batch, process_allgather, broadcast of mixed leaves, and ft.save by process 0."""
    r, P = ft.process_index(), ft.process_count()
    batch = {"x": np.arange(4 * P * 3.0).reshape(4 * P, 3), "y": fnp.arange(4 * P)}
    got = ft.distributed.shard_batch(batch)
    assert got["x"].shape == (1, 4, 3) and got["y"].shape == (1, 4)
    close(got["x"][0], batch["x"][4 * r:4 * r + 4])
    close(got["y"][0], np.arange(4 * r, 4 * r + 4))
    try:
        ft.distributed.shard_batch({"x": np.zeros((4 * P + 1, 2))})
    except ValueError as e:
        assert "['x']" in str(e) and "multiple" in str(e), e
    else:
        raise AssertionError("shard_batch accepted an uneven batch")
    gathered = ft.distributed.process_allgather({"v": fnp.full((2,), float(r))})
    close(gathered["v"], np.repeat(np.arange(P, dtype=float)[:, None], 2, 1))
    tiled = ft.distributed.process_allgather(fnp.full((2,), float(r)), tiled=True)
    close(tiled, np.repeat(np.arange(P, dtype=float), 2))
    mixed = ft.distributed.broadcast({"a": fnp.full((2,), float(r)),
                                      "n": np.int32(r) + np.zeros(3, np.int32), "s": 1.5 * r})
    close(mixed["a"], [0.0, 0.0])
    assert isinstance(mixed["n"], np.ndarray) and (mixed["n"] == 0).all()
    assert mixed["s"] == 0.0 and isinstance(mixed["s"], float)
    path = os.path.join(os.environ["FT_CHECK_DIR"], "saved.ftz")
    ft.save(path, {"v": fnp.full((3,), float(r))})
    ft.distributed.barrier()
    close(ft.load(path, like={"v": fnp.zeros(3)})["v"], np.zeros(3))   # process 0's values
    assert ft.device_count() == P and ft.local_device_count() == 1
    assert len(ft.devices("cpu")) == P and ft.devices("cpu")[r] is ft.local_devices()[0]
    assert [d.process_index for d in ft.devices("cpu")] == list(range(P))


def check_mismatch():
    """Shapes or dtypes that differ between processes raise on every process, naming the
    collective, the axis, the processes and their shapes; the job goes on afterwards."""
    r, P = ft.process_index(), ft.process_count()
    f = ft.pmap(lambda v: lax.psum(v * 2, "batch"), axis_name="batch")
    for x, expect in [(np.ones((1, 2 + (r == P - 1), 3)), ["f64[2,3]", "f64[3,3]"]),
                      (np.ones((1, 4), np.float32 if r == 0 else np.float64),
                       ["f32[4]", "f64[4]"])]:
        try:
            f(x)
        except ValueError as e:
            msg = str(e)
            for part in ["psum", "'batch'", "process 0", f"process {P - 1}"] + expect:
                assert part in msg, f"{part!r} missing from: {msg}"
        else:
            raise AssertionError("mismatched shapes did not raise")
    close(f(np.ones((1, 3)))[0], np.full(3, 2.0 * P))             # still in step


def check_check_cost():
    """How long the per-call agreement check and a small pmapped psum take (printed)."""
    x = np.ones((1, 1000))
    f = ft.pmap(lambda v: lax.psum(v, "i"), axis_name="i")
    f(x)
    n = 200
    ft.distributed.barrier()
    t0 = time.perf_counter()
    for _ in range(n):
        f(x)
    per_call = (time.perf_counter() - t0) / n
    world = ft.backends.processes.world()
    t0 = time.perf_counter()
    for _ in range(n):
        world.agree(12345, list)
    per_check = (time.perf_counter() - t0) / n
    return {"pmapped_psum_us": per_call * 1e6, "agree_us": per_check * 1e6}


CHECKS = {name[len("check_"):]: fn for name, fn in dict(globals()).items()
          if name.startswith("check_")}


def main(names):
    ft.distributed.initialize()
    out = open(os.path.join(os.environ["FT_CHECK_DIR"], f"results-{ft.process_index()}.jsonl"),
               "w")
    for name in names or list(CHECKS):
        t0 = time.perf_counter()
        record = {"check": name, "process": ft.process_index(), "ok": True, "error": None}
        try:
            extra = CHECKS[name]()
            if extra:
                record.update(extra)
        except Exception:
            record["ok"] = False
            record["error"] = traceback.format_exc()
        record["seconds"] = round(time.perf_counter() - t0, 3)
        out.write(json.dumps(record) + "\n")
        out.flush()
        print(json.dumps(record), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("FT_CHECK_DIR", tempfile.gettempdir())
    main(sys.argv[1:])
