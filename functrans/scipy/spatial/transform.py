"""`ft.scipy.spatial.transform`: `Rotation` and `Slerp` as `jax.scipy.spatial.transform` has
them. A Rotation holds unit quaternions, scalar last `(x, y, z, w)`, of shape (4,) (a single
rotation) or (n, 4); both are NamedTuples, so pytrees that jit, vmap and grad pass through.
Every conversion is written with functrans.numpy and is differentiable."""
from __future__ import annotations

import re
import typing

import numpy as np

from ... import numpy as fnp

_AXES = "xyz"


def _norm(v):
    return fnp.sqrt(fnp.sum(v * v, axis=-1))


def _normalized(quat):
    return quat / _norm(quat)[..., None]


def _product(p, q):
    """The quaternion product p q (the rotation q, then p)."""
    pv, pw, qv, qw = p[..., :3], p[..., 3:], q[..., :3], q[..., 3:]
    vec = pw * qv + qw * pv + fnp.cross(pv, qv)
    return fnp.concatenate([vec, pw * qw - fnp.sum(pv * qv, axis=-1, keepdims=True)], axis=-1)


def _check_seq(seq, lengths):
    if len(seq) not in lengths:
        raise ValueError(f"Rotation: the axis sequence {seq!r} must have "
                         f"{' or '.join(map(str, lengths))} characters")
    intrinsic = re.fullmatch("[XYZ]+", seq) is not None
    if not intrinsic and re.fullmatch("[xyz]+", seq) is None:
        raise ValueError(f"Rotation: the axis sequence {seq!r} must be all from 'xyz' "
                         "(extrinsic) or all from 'XYZ' (intrinsic)")
    if any(a == b for a, b in zip(seq, seq[1:])):
        raise ValueError(f"Rotation: consecutive axes in {seq!r} must differ")
    return intrinsic, [_AXES.index(c) for c in seq.lower()]


def _elementary(axis, angle):
    """Quaternions of rotations by `angle` (any shape) about the basis `axis`."""
    half = angle / 2
    parts = [fnp.zeros_like(half)] * 3 + [fnp.cos(half)]
    parts[axis] = fnp.sin(half)
    return fnp.stack(parts, axis=-1)


def _as_matrix(q):
    x, y, z, w = (q[..., i] for i in range(4))
    rows = [[x * x - y * y - z * z + w * w, 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), y * y - x * x - z * z + w * w, 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), z * z - x * x - y * y + w * w]]
    return fnp.stack([fnp.stack(r, axis=-1) for r in rows], axis=-2)


def _from_matrix(m):
    """Quaternions from rotation matrices, each by the best conditioned of four formulas
    (the largest of the diagonal and the trace)."""
    d = [m[..., i, i] for i in range(3)]
    trace = d[0] + d[1] + d[2]
    choice = fnp.argmax(fnp.stack(d + [trace], axis=-1), axis=-1)
    candidates = []
    for i in range(3):
        j, k = (i + 1) % 3, (i + 2) % 3
        q = [None] * 4
        q[i] = 1 - trace + 2 * m[..., i, i]
        q[j] = m[..., j, i] + m[..., i, j]
        q[k] = m[..., k, i] + m[..., i, k]
        q[3] = m[..., k, j] - m[..., j, k]
        candidates.append(fnp.stack(q, axis=-1))
    candidates.append(fnp.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0],
                                 m[..., 1, 0] - m[..., 0, 1], 1 + trace], axis=-1))
    quat = candidates[3]
    for i in range(3):
        quat = fnp.where((choice == i)[..., None], candidates[i], quat)
    return _normalized(quat)


def _from_rotvec(rotvec, degrees):
    if degrees:
        rotvec = fnp.deg2rad(rotvec)
    angle = _norm(rotvec)
    a2 = angle * angle
    small = angle <= 1e-3
    safe = fnp.where(small, 1.0, angle)            # keeps the unused branch finite
    scale = fnp.where(small, 0.5 - a2 / 48 + a2 * a2 / 3840, fnp.sin(safe / 2) / safe)
    return fnp.concatenate([scale[..., None] * rotvec, fnp.cos(angle / 2)[..., None]], axis=-1)


def _positive_w(q):
    return fnp.where(q[..., 3:] < 0, -q, q)


def _as_rotvec(q, degrees):
    q = _positive_w(q)
    vnorm = _norm(q[..., :3])
    angle = 2 * fnp.arctan2(vnorm, q[..., 3])
    a2 = angle * angle
    small = angle <= 1e-3
    safe = fnp.where(small, 1.0, angle)
    scale = fnp.where(small, 2 + a2 / 12 + 7 * a2 * a2 / 2880, safe / fnp.sin(safe / 2))
    if degrees:
        scale = fnp.rad2deg(scale)
    return scale[..., None] * q[..., :3]


def _canonical(q):
    """q or -q: the one whose first nonzero component, in the order w, x, y, z, is positive."""
    flip = fnp.zeros(q.shape[:-1], dtype=bool)
    undecided = fnp.ones(q.shape[:-1], dtype=bool)
    for i in (3, 0, 1, 2):
        flip = flip | (undecided & (q[..., i] < 0))
        undecided = undecided & (q[..., i] == 0)
    return fnp.where(flip[..., None], -q, q)


def _as_euler(q, intrinsic, axes, degrees):
    """Euler angles from quaternions (the method of Bernardes and Viollet, 2022); in gimbal
    lock the third angle is 0."""
    i, j, k = axes[::-1] if intrinsic else axes
    symmetric = i == k
    if symmetric:
        k = 3 - i - j
    sign = float((i - j) * (j - k) * (k - i) // 2)
    qi, qj, qk, qw = q[..., i], q[..., j], q[..., k], q[..., 3]
    if symmetric:
        a, b, c, d = qw, qi, qj, qk * sign
    else:
        a, b, c, d = qw - qj, qi + qk * sign, qj + qw, qk * sign - qi
    middle = 2 * fnp.arctan2(fnp.hypot(c, d), fnp.hypot(a, b))
    eps = 1e-7
    at_zero = fnp.abs(middle) <= eps
    at_pi = fnp.abs(middle - np.pi) <= eps
    half_sum, half_diff = fnp.arctan2(b, a), fnp.arctan2(d, c)
    locked = fnp.where(at_zero, 2 * half_sum, 2 * half_diff * (1 if intrinsic else -1))
    regular = ~(at_zero | at_pi)
    first = fnp.where(regular, half_sum - half_diff, 0.0 if intrinsic else locked)
    third = fnp.where(regular, half_sum + half_diff, locked if intrinsic else 0.0)
    if not symmetric:
        third = third * sign
        middle = middle - np.pi / 2
    angles = [third, middle, first] if intrinsic else [first, middle, third]
    angles = (fnp.stack(angles, axis=-1) + np.pi) % (2 * np.pi) - np.pi
    return fnp.rad2deg(angles) if degrees else angles


class Rotation(typing.NamedTuple):
    """Rotations in 3 dimensions as unit quaternions `quat` (x, y, z, w), as
    `jax.scipy.spatial.transform.Rotation` (and SciPy's, whose conventions it follows)."""
    quat: typing.Any

    @classmethod
    def concatenate(cls, rotations: typing.Sequence):
        """One Rotation holding all of `rotations` (each a stack, (n, 4))."""
        return cls(fnp.concatenate([r.quat for r in rotations]))

    @classmethod
    def from_euler(cls, seq: str, angles, degrees: bool = False):
        """Rotations by Euler `angles` (..., len(seq)) about the axes in `seq`: 1 to 3 of
        'xyz' (extrinsic: fixed axes) or 'XYZ' (intrinsic: the rotating body's axes)."""
        intrinsic, axes = _check_seq(seq, (1, 2, 3))
        angles = fnp.atleast_1d(fnp.asarray(angles))
        if angles.dtype.kind != "f":
            angles = angles.astype(fnp.zeros(()).dtype)
        if degrees:
            angles = fnp.deg2rad(angles)
        quat = _elementary(axes[0], angles[..., 0])
        for n, axis in enumerate(axes[1:], 1):
            step = _elementary(axis, angles[..., n])
            quat = _product(quat, step) if intrinsic else _product(step, quat)
        return cls(quat)

    @classmethod
    def from_matrix(cls, matrix):
        """Rotations from rotation matrices (..., 3, 3)."""
        return cls(_from_matrix(fnp.asarray(matrix)))

    @classmethod
    def from_mrp(cls, mrp):
        """Rotations from modified Rodrigues parameters (..., 3)."""
        mrp = fnp.asarray(mrp)
        s = 1 + fnp.sum(mrp * mrp, axis=-1, keepdims=True)
        return cls(fnp.concatenate([2 * mrp, 2 - s], axis=-1) / s)

    @classmethod
    def from_quat(cls, quat):
        """Rotations from quaternions (..., 4), scalar last; they are normalized."""
        return cls(_normalized(fnp.asarray(quat)))

    @classmethod
    def from_rotvec(cls, rotvec, degrees: bool = False):
        """Rotations from rotation vectors (..., 3): axis times angle."""
        return cls(_from_rotvec(fnp.asarray(rotvec), degrees))

    @classmethod
    def identity(cls, num: int | None = None, dtype=float):
        """The identity rotation (JAX supports `num=None` only)."""
        if num is not None:
            raise ValueError("Rotation.identity: num must be None, as in JAX; stack "
                             "identities with Rotation.concatenate or from_quat")
        return cls(fnp.asarray([0., 0., 0., 1.], dtype=dtype))

    @classmethod
    def random(cls, random_key, num: int | None = None):
        """Not implemented, as in JAX."""
        raise NotImplementedError("Rotation.random is not implemented (nor is it in JAX); "
                                  "normalize ft.random.normal(key, (num, 4)) with "
                                  "Rotation.from_quat for uniformly distributed rotations")

    def __getitem__(self, indexer):
        if self.single:
            raise TypeError("Single rotation is not subscriptable.")
        return Rotation(self.quat[indexer])

    def __len__(self):
        if self.single:
            raise TypeError("Single rotation has no len().")
        return self.quat.shape[0]

    def __mul__(self, other) -> "Rotation":
        """The composition: `other`, then `self`."""
        return Rotation.from_quat(_product(self.quat, other.quat))

    def apply(self, vectors, inverse: bool = False):
        """The rotated `vectors` (..., 3) (by the inverse rotations with `inverse`)."""
        m = _as_matrix(self.quat)
        if inverse:
            m = fnp.swapaxes(m, -1, -2)
        return fnp.matmul(m, fnp.asarray(vectors)[..., None])[..., 0]

    def as_euler(self, seq: str, degrees: bool = False):
        """Euler angles (..., 3) about the 3 axes in `seq` (see from_euler), in (-pi, pi]."""
        intrinsic, axes = _check_seq(seq, (3,))
        return _as_euler(self.quat, intrinsic, axes, degrees)

    def as_matrix(self):
        """Rotation matrices (..., 3, 3)."""
        return _as_matrix(self.quat)

    def as_mrp(self):
        """Modified Rodrigues parameters (..., 3), of norm at most 1."""
        q = _positive_w(self.quat)
        return q[..., :3] / (1 + q[..., 3:])

    def as_rotvec(self, degrees: bool = False):
        """Rotation vectors (..., 3): axis times angle, the angle in [0, pi]."""
        return _as_rotvec(self.quat, degrees)

    def as_quat(self, canonical: bool = False, scalar_first: bool = False):
        """The quaternions; with `canonical` the sign with w >= 0 (the first nonzero of w, x,
        y, z positive), with `scalar_first` as (w, x, y, z)."""
        q = _canonical(self.quat) if canonical else self.quat
        return fnp.roll(q, 1, axis=-1) if scalar_first else q

    def inv(self):
        """The inverse rotations."""
        return Rotation(self.quat * fnp.asarray([-1., -1., -1., 1.], dtype=self.quat.dtype))

    def magnitude(self):
        """The rotation angles, in [0, pi]."""
        return 2 * fnp.arctan2(_norm(self.quat[..., :3]), fnp.abs(self.quat[..., 3]))

    def mean(self, weights=None):
        """The (weighted) mean rotation of a stack: the eigenvector of the largest
        eigenvalue of sum_i w_i q_i q_i^T."""
        n = len(self)
        dt = self.quat.dtype
        w = fnp.ones(n, dtype=dt) if weights is None else fnp.asarray(weights, dtype=dt)
        if w.ndim != 1 or w.shape[0] != n:
            raise ValueError(f"Rotation.mean: weights must have shape ({n},) (one per "
                             f"rotation), got {w.shape}")
        k = fnp.matmul(self.quat.T * w[None, :], self.quat)
        return Rotation(fnp.linalg.eigh(k)[1][:, -1])

    @property
    def single(self) -> bool:
        """Whether this holds one rotation (quat of shape (4,))."""
        return self.quat.ndim == 1


class Slerp(typing.NamedTuple):
    """Spherical linear interpolation between rotations at increasing `times`, as
    `jax.scipy.spatial.transform.Slerp`: build it with `Slerp.init(times, rotations)`, call
    it with the times to interpolate at."""
    times: typing.Any
    timedelta: typing.Any
    rotations: Rotation
    rotvecs: typing.Any

    @classmethod
    def init(cls, times, rotations: Rotation):
        """The interpolator through `rotations` (at least 2) at strictly increasing `times`
        (not checked, as in JAX: the check would need concrete values)."""
        if not isinstance(rotations, Rotation):
            raise TypeError(f"Slerp.init: rotations must be a Rotation, got "
                            f"{type(rotations).__name__}")
        if rotations.single or len(rotations) < 2:
            raise ValueError("Slerp.init: rotations must be a stack of at least 2 rotations")
        times = fnp.asarray(times, dtype=rotations.quat.dtype)
        if times.ndim != 1 or times.shape[0] != len(rotations):
            raise ValueError(f"Slerp.init: times must have shape ({len(rotations)},) (one per "
                             f"rotation), got {times.shape}")
        start = Rotation(rotations.quat[:-1])
        steps = (start.inv() * Rotation(rotations.quat[1:])).as_rotvec()
        return cls(times, fnp.diff(times), start, steps)

    def __call__(self, times):
        t = fnp.asarray(times, dtype=self.times.dtype)
        if t.ndim > 1:
            raise ValueError(f"Slerp: times must be a scalar or 1-dimensional, got shape "
                             f"{t.shape}")
        tt = fnp.atleast_1d(t)
        idx = fnp.maximum(fnp.searchsorted(self.times, tt) - 1, 0)
        alpha = (tt - self.times[idx]) / self.timedelta[idx]
        out = self.rotations[idx] * Rotation.from_rotvec(self.rotvecs[idx] * alpha[:, None])
        return out[0] if t.ndim == 0 else out


__all__ = ["Rotation", "Slerp"]
