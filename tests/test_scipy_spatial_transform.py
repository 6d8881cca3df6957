"""`ft.scipy.spatial.transform.Rotation` and `Slerp` against jax.scipy.spatial.transform and
SciPy in float64: every conversion, composition, application, mean and interpolation;
derivatives against finite differences, jit against eager, vmap against a loop."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation as SR, Slerp as SS

import functrans as ft
import functrans.numpy as fnp
from functrans.scipy.spatial.transform import Rotation, Slerp
from functrans.test_util import check_grads

rng = np.random.RandomState(0)
Q = rng.randn(6, 4)
SEQS = ["xyz", "zyx", "xzx", "zxz", "XYZ", "ZYX", "YXY", "XZX", "yzx", "ZXY"]


def _close(a, b, tol=1e-10):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


@pytest.fixture
def jr(jax_x64):
    from jax.scipy.spatial.transform import Rotation as JR, Slerp as JS
    return JR, JS


def test_the_module_is_reachable():
    assert ft.scipy.spatial.transform.Rotation is Rotation


def test_conversions_match_jax(jr):
    JR, _ = jr
    ours, theirs = Rotation.from_quat(Q), JR.from_quat(Q)
    _close(ours.quat, theirs.quat)
    for canonical in (False, True):
        for scalar_first in (False, True):
            _close(ours.as_quat(canonical, scalar_first),
                   theirs.as_quat(canonical=canonical, scalar_first=scalar_first))
    m = np.asarray(theirs.as_matrix())
    _close(ours.as_matrix(), m)
    _close(Rotation.from_matrix(m).quat, JR.from_matrix(m).quat)
    for degrees in (False, True):
        rv = np.asarray(theirs.as_rotvec(degrees=degrees))
        _close(ours.as_rotvec(degrees), rv)
        _close(Rotation.from_rotvec(rv, degrees).quat, JR.from_rotvec(rv, degrees).quat)
    _close(ours.as_mrp(), theirs.as_mrp())
    _close(Rotation.from_mrp(Q[:, :3]).quat, JR.from_mrp(Q[:, :3]).quat)
    _close(ours.magnitude(), theirs.magnitude())
    _close(ours.inv().quat, theirs.inv().quat)


@pytest.mark.parametrize("seq", SEQS)
@pytest.mark.parametrize("degrees", [False, True])
def test_euler_matches_jax_and_scipy(jr, seq, degrees):
    JR, _ = jr
    angles = rng.uniform(-3, 3, (6, 3)) * (180 / np.pi if degrees else 1)
    ours = Rotation.from_euler(seq, angles, degrees)
    _close(ours.quat, JR.from_euler(seq, angles, degrees).quat)
    _close(ours.as_matrix(), SR.from_euler(seq, angles, degrees).as_matrix())
    r = Rotation.from_quat(Q)
    _close(r.as_euler(seq, degrees), JR.from_quat(Q).as_euler(seq, degrees))
    _close(r.as_euler(seq, degrees), SR.from_quat(Q).as_euler(seq, degrees), 1e-8)
    # one and two axes, a single rotation
    _close(Rotation.from_euler(seq[:2], angles[0, :2], degrees).quat,
           JR.from_euler(seq[:2], angles[0, :2], degrees).quat)
    _close(Rotation.from_euler(seq[0], angles[0, 0], degrees).quat,
           JR.from_euler(seq[0], angles[0, 0], degrees).quat)


@pytest.mark.parametrize("seq", ["xyz", "XYZ", "zxz", "ZXZ"])
def test_euler_in_gimbal_lock_matches_jax(jr, seq):
    JR, _ = jr
    middle = 0.0 if seq[0] == seq[2] else np.pi / 2
    angles = np.array([[0.3, middle, 0.5], [0.3, np.pi if seq[0] == seq[2] else -middle, 0.5]])
    q = np.asarray(JR.from_euler(seq, angles).quat)
    _close(Rotation.from_quat(q).as_euler(seq), JR.from_quat(q).as_euler(seq))


def test_conversions_match_scipy():
    ours, theirs = Rotation.from_quat(Q), SR.from_quat(Q)
    _close(ours.as_quat(canonical=True), theirs.as_quat(canonical=True))
    _close(ours.as_matrix(), theirs.as_matrix())
    _close(ours.as_rotvec(), theirs.as_rotvec())
    _close(ours.as_rotvec(degrees=True), theirs.as_rotvec(degrees=True))
    _close(ours.as_mrp(), theirs.as_mrp())
    _close(ours.magnitude(), theirs.magnitude())
    _close(Rotation.from_matrix(theirs.as_matrix()).as_quat(canonical=True),
           theirs.as_quat(canonical=True))
    _close(Rotation.from_mrp(Q[:, :3]).as_matrix(), SR.from_mrp(Q[:, :3]).as_matrix())
    _close(Rotation.from_rotvec(Q[:, :3]).as_matrix(), SR.from_rotvec(Q[:, :3]).as_matrix())
    small = 1e-5 * Q[:, :3]                       # the series branch of the rotation vector
    _close(Rotation.from_rotvec(small).as_rotvec(), small, 1e-14)
    _close(Rotation.from_rotvec(small).as_matrix(), SR.from_rotvec(small).as_matrix())


def test_composition_application_and_mean(jr):
    JR, _ = jr
    a, b = Rotation.from_quat(Q), Rotation.from_quat(Q[::-1])
    ja, jb = JR.from_quat(Q), JR.from_quat(Q[::-1])
    sa, sb = SR.from_quat(Q), SR.from_quat(Q[::-1])
    _close((a * b).quat, (ja * jb).quat)
    _close((a * b).as_matrix(), (sa * sb).as_matrix())
    v = rng.randn(6, 3)
    for inverse in (False, True):
        _close(a.apply(v, inverse), ja.apply(v, inverse))
        _close(a.apply(v, inverse), sa.apply(v, inverse))
        _close(a[0].apply(v[0], inverse), sa[0].apply(v[0], inverse))
    w = rng.uniform(0.1, 1, 6)
    _close(a.mean().quat, ja.mean().quat)
    _close(a.mean(w).quat, ja.mean(w).quat)
    _close(a.mean(w).as_matrix(), sa.mean(w).as_matrix())
    _close(a[1:3].quat, ja[1:3].quat)
    assert len(a) == 6 and a[2].single and not a.single
    _close(Rotation.concatenate([a[:2], a[4:]]).quat, JR.concatenate([ja[:2], ja[4:]]).quat)
    _close(Rotation.identity().quat, JR.identity().quat)
    assert Rotation.identity(dtype=np.float32).quat.dtype == np.float32


def test_errors():
    one = Rotation.from_quat(Q[0])
    with pytest.raises(TypeError, match="not subscriptable"):
        one[0]
    with pytest.raises(TypeError, match="no len"):
        len(one)
    with pytest.raises(ValueError, match="consecutive axes"):
        Rotation.from_euler("xxy", np.zeros(3))
    with pytest.raises(ValueError, match="'xyz'"):
        Rotation.from_euler("xYz", np.zeros(3))
    with pytest.raises(ValueError, match="3 characters"):
        one.as_euler("xy")
    with pytest.raises(ValueError, match=r"shape \(6,\)"):
        Rotation.from_quat(Q).mean(np.ones(5))
    with pytest.raises(NotImplementedError):
        Rotation.random(ft.random.key(0))
    with pytest.raises(ValueError, match="at least 2"):
        Slerp.init([0.], Rotation.from_quat(Q[:1]))


def test_slerp_matches_jax_and_scipy(jr):
    _, JS = jr
    times = np.array([0., 1., 2.5, 3., 5., 6.])
    r = Rotation.from_quat(Q)
    ours = Slerp.init(times, r)
    theirs = JS.init(times, jr[0].from_quat(Q))
    at = np.array([0., 0.3, 1., 2.7, 4.99, 6.])
    _close(ours(at).quat, theirs(at).quat)
    _close(ours(at).as_matrix(), SS(times, SR.from_quat(Q))(at).as_matrix())
    single = ours(1.7)
    assert single.single
    _close(single.quat, theirs(1.7).quat)


def test_derivatives():
    q, v, angles = Q[:3], rng.randn(3, 3), rng.uniform(-1, 1, (3, 3))
    check_grads(lambda q: Rotation.from_quat(q).as_matrix(), (q,), order=2)
    check_grads(lambda q: Rotation.from_quat(q).as_rotvec(), (q,), order=1)
    check_grads(lambda q: Rotation.from_quat(q).as_mrp(), (q,), order=1)
    check_grads(lambda q: Rotation.from_quat(q).magnitude(), (q,), order=1)
    check_grads(lambda q, v: Rotation.from_quat(q).apply(v, inverse=True), (q, v), order=2)
    check_grads(lambda a: Rotation.from_euler("zxy", a).quat, (angles,), order=2)
    check_grads(lambda a: Rotation.from_euler("XYZ", a).as_euler("XYZ"), (angles,), order=1)
    check_grads(lambda r: Rotation.from_rotvec(r).quat, (v,), order=2)
    check_grads(lambda m: Rotation.from_matrix(m).quat,
                (np.asarray(Rotation.from_quat(q).as_matrix()),), order=1)
    check_grads(lambda q: (Rotation.from_quat(q) * Rotation.from_quat(q[::-1])).quat, (q,),
                order=2)
    check_grads(lambda q: Rotation.from_quat(q).mean().as_matrix(), (Q,), order=1)
    times = np.array([0., 1., 2.])
    check_grads(lambda q: Slerp.init(times, Rotation.from_quat(q))(
        np.array([0.4, 1.6])).as_matrix(), (q,), order=1)


def test_jit_and_vmap():
    def f(q, v):
        return Rotation.from_quat(q).apply(v)
    v = rng.randn(6, 3)
    _close(ft.jit(f)(Q, v), f(Q, v))
    _close(ft.vmap(f)(Q, v), np.stack([np.asarray(f(a, b)) for a, b in zip(Q, v)]))
    g = ft.jit(lambda r: r.inv() * r)            # Rotations are pytrees
    _close(fnp.abs(g(Rotation.from_quat(Q)).as_quat(canonical=True)),
           np.tile([0., 0., 0., 1.], (6, 1)))

    def e(q):
        return Rotation.from_quat(q).as_euler("zyz")
    _close(ft.vmap(e)(Q), np.stack([np.asarray(e(q)) for q in Q]))
    _close(ft.jit(e)(Q), e(Q))
    times = np.array([0., 1., 2., 3., 4., 5.])
    s = ft.jit(lambda q, t: Slerp.init(times, Rotation.from_quat(q))(t).quat)
    _close(s(Q, np.array([0.5, 4.2])), Slerp.init(times, Rotation.from_quat(Q))(
        np.array([0.5, 4.2])).quat)
