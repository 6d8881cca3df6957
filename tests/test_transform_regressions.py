"""Regression tests for transform bugs found by differential testing against JAX
(tests/test_jax_transform_parity.py); these run without JAX."""
from __future__ import annotations

import numpy as np

import functrans as ft
import functrans.numpy as fnp

A = np.array([[4.0, 1.0, 0.5], [1.0, 3.0, 0.2], [0.5, 0.2, 2.0]])


def test_jacfwd_keeps_every_output_when_there_are_more_outputs_than_inputs():
    # the Jacobian's batched outputs were cut to the number of input leaves
    jac = ft.jacfwd(lambda a: (a[0], 2 * a[1], a))(A)
    assert [j.shape for j in jac] == [(3, 3, 3), (3, 3, 3), (3, 3, 3, 3)]
    np.testing.assert_allclose(np.asarray(jac[2]).reshape(9, 9), np.eye(9))
    w_jac, v_jac = ft.jacfwd(lambda a: fnp.linalg.eigh(a))(A)
    w_rev, v_rev = ft.jacrev(lambda a: fnp.linalg.eigh(a))(A)
    np.testing.assert_allclose(np.asarray(w_jac), np.asarray(w_rev), atol=1e-12)
