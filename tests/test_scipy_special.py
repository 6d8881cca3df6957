"""functrans.scipy.special against SciPy, and its derivatives."""
from __future__ import annotations

import math
import numpy as np
import pytest
import scipy.special as sp
from hypothesis import given, settings, strategies as st

import functrans as ft
import functrans.scipy.special as fsp
from functrans import testing as ftst
from functrans.test_util import check_grads

SETTINGS = settings(max_examples=max(5, settings().max_examples // 3), deadline=None)

FUNCTIONS = [  # name, domain (log_ndtr switches formulas at -20 and 0: kept away from those)
    ("expit", (-5, 5)), ("logit", (0.05, 0.95)), ("erf", (-3, 3)), ("erfc", (-3, 3)),
    ("erfinv", (-0.9, 0.9)), ("gammaln", (0.2, 5)), ("gamma", (0.2, 5)),
    ("digamma", (0.2, 5)), ("ndtr", (-5, 5)), ("ndtri", (0.05, 0.95)),
    ("log_ndtr", (-30, 8)), ("i0", (-3, 3)), ("i1", (-3, 3)), ("entr", (0.1, 3)),
    ("i0e", (-3, 3)), ("i1e", (-3, 3)), ("erfcx", (-1.5, 3)), ("factorial", (0.2, 5)),
]
# points kept away from: formula switches, and the kink of e^-|x| at 0
EXCLUDE = {"log_ndtr": (-20.0, 0.0), "i0e": (0.0,), "i1e": (0.0,)}


@pytest.mark.parametrize("name,domain", FUNCTIONS, ids=lambda v: str(v))
@SETTINGS
@given(data=st.data())
def test_special_functions_match_scipy_and_differentiate(name, domain, data):
    exclude = EXCLUDE.get(name, ())
    x = data.draw(ftst.arrays(np.float64, ftst.shapes(max_dims=2), *domain, exclude=exclude))
    np.testing.assert_allclose(np.asarray(getattr(fsp, name)(x)),
                               getattr(sp, name)(np.asarray(x)), rtol=1e-9, atol=1e-12)
    check_grads(getattr(fsp, name), (x,), order=2, modes=("fwd", "rev"))


@SETTINGS
@given(data=st.data())
def test_binary_special_functions(data):
    s0, s1 = data.draw(ftst.broadcastable_shapes(2))
    x = data.draw(ftst.arrays(np.float64, s0, 0.2, 3))
    y = data.draw(ftst.arrays(np.float64, s1, 0.2, 3))
    for name in ("xlogy", "xlog1py", "betaln", "beta", "poch", "rel_entr", "kl_div"):
        np.testing.assert_allclose(np.asarray(getattr(fsp, name)(x, y)),
                                   getattr(sp, name)(np.asarray(x), np.asarray(y)),
                                   rtol=1e-10, atol=1e-14)      # kl_div cancels near x = y
        check_grads(getattr(fsp, name), (x, y), order=2, modes=("fwd", "rev"))
    np.testing.assert_allclose(np.asarray(fsp.polygamma(2, x)), sp.polygamma(2, np.asarray(x)),
                               rtol=1e-10)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_new_special_functions_edges_match_scipy():
    """Signs, poles, zeros, NaNs and large arguments, against SciPy."""
    g = np.array([0.0, -0.0, -1.0, -1.5, -2.5, 2.0, np.nan, np.inf, -np.inf])
    np.testing.assert_array_equal(np.asarray(fsp.gammasgn(g)), sp.gammasgn(g))
    np.testing.assert_array_equal(np.asarray(fsp.gamma(g)), sp.gamma(g))
    p = np.array([np.nan, 0.0, 0.0, 1.0, -1.0, 1.0, 0.0, 2.0])
    q = np.array([1.0, 0.0, -1.0, 0.0, 1.0, 2.0, 3.0, np.nan])
    for name in ("rel_entr", "kl_div"):
        np.testing.assert_allclose(np.asarray(getattr(fsp, name)(p, q)),
                                   getattr(sp, name)(p, q), rtol=1e-14, err_msg=name)
    n = np.array([-2.0, -0.5, 0.0, 1.0, 4.0, 4.5, 170.0])
    np.testing.assert_allclose(np.asarray(fsp.factorial(n)), sp.factorial(n), rtol=1e-12)
    with pytest.raises(NotImplementedError, match="exact"):
        fsp.factorial(3, exact=True)
    a, b = np.array([-0.5, -1.5, 2.5, 0.3]), np.array([1.5, 0.7, -0.2, 4.0])
    np.testing.assert_allclose(np.asarray(fsp.beta(a, b)), sp.beta(a, b), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(fsp.poch(np.array([3.0, -2.5, 0.5]),
                                                   np.array([2.0, 0.0, 1.5]))),
                               sp.poch([3.0, -2.5, 0.5], [2.0, 0.0, 1.5]), rtol=1e-12)
    big = np.array([-800.0, -30.0, 30.0, 800.0])
    for name in ("i0e", "i1e"):
        np.testing.assert_allclose(np.asarray(getattr(fsp, name)(big)),
                                   getattr(sp, name)(big), rtol=1e-13, err_msg=name)
    np.testing.assert_allclose(np.asarray(fsp.erfcx(np.array([-3.0, 30.0, 1e4]))),
                               sp.erfcx([-3.0, 30.0, 1e4]), rtol=1e-13)
    assert fsp.erfcx(np.float32(2.0)).dtype == np.float32


def test_xlogy_is_zero_where_x_is_zero():
    assert float(fsp.xlogy(0.0, 0.0)) == 0.0
    g = ft.grad(lambda y: fsp.xlogy(0.0, y))(np.float64(0.0))
    assert np.isfinite(float(g))


@SETTINGS
@given(data=st.data())
@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")   # sums of 0: log 0
def test_logsumexp_and_softmax(data):
    x = data.draw(ftst.arrays(np.float64, ftst.shapes(min_dims=1), -30, 30))
    axis = data.draw(st.sampled_from([None] + list(range(x.ndim))))
    keepdims = data.draw(st.booleans())
    xn = np.asarray(x)
    np.testing.assert_allclose(np.asarray(fsp.logsumexp(x, axis=axis, keepdims=keepdims)),
                               sp.logsumexp(xn, axis=axis, keepdims=keepdims), rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(np.asarray(fsp.softmax(x, axis=axis)),
                               sp.softmax(xn, axis=axis), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(np.asarray(fsp.log_softmax(x, axis=axis)),
                               sp.log_softmax(xn, axis=axis), rtol=1e-12, atol=1e-12)
    check_grads(lambda x: fsp.logsumexp(x, axis=axis), (x,), order=2, modes=("fwd", "rev"))
    b = data.draw(ftst.arrays(np.float64, x.shape, -1, 2))
    got, sign = fsp.logsumexp(x, axis=axis, b=b, return_sign=True)
    want, want_sign = sp.logsumexp(xn, axis=axis, b=np.asarray(b), return_sign=True)
    np.testing.assert_allclose(np.asarray(sign), want_sign)
    # near 0 the result is a difference of numbers the size of x: an absolute error of a few
    # float64 spacings of max|x| is all either side can promise (SciPy's own result for
    # x = [1, 0, -11], b = [1.4e-84, 1, 1] is off by 2.5e-14 of an exact 1.6701561318394e-5)
    atol = 1e-12 * max(1.0, float(np.max(np.abs(xn))))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-9, atol=atol)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")   # log(0) = -inf
def test_logsumexp_is_stable_and_its_gradient_is_softmax():
    x = np.array([1000.0, 1000.0, -np.inf])
    assert float(fsp.logsumexp(x)) == pytest.approx(1000.0 + np.log(2.0))
    g = ft.grad(fsp.logsumexp)(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(np.asarray(g), sp.softmax([1.0, 2.0, 3.0]), rtol=1e-12)
    assert fsp.logsumexp(np.zeros(3, np.float32)).dtype == np.float32


def test_logsumexp_keeps_relative_precision_near_zero():
    """Where one term dominates, the result is near 0 and log(total) alone would lose its
    relative precision; terms of weight 0 neither count nor shift (a subnormal total)."""
    cases = [(np.array([0.0, -17.0]), None, math.log1p(math.exp(-17.0))),
             (np.array([1.0, 0.0, -11.0]), np.array([1.4095033138429765e-84, 1.0, 1.0]),
              math.log1p(math.exp(-11.0))),
             (np.array([24.0, 0.0]), np.array([0.0, 1.11253693e-308]),
              math.log(1.11253693e-308))]
    for x, b, exact in cases:
        got = float(fsp.logsumexp(x, b=b))
        # (a spacing of the largest x is the floor: the result is x_max + log(...))
        assert abs(got - exact) <= 1e-14 * abs(exact) + 1e-15 * max(1.0, x.max()), \
            (x, b, got, exact)
    g = np.asarray(ft.grad(lambda b: fsp.logsumexp(np.array([1.0, 2.0]), b=b))(
        np.array([0.0, 1.0])))
    np.testing.assert_allclose(g, [math.exp(-1.0), 1.0], rtol=1e-15)


def test_relative_entropy_keeps_its_accuracy_where_p_is_near_q():
    """SciPy's log(p / q): a difference of logs cancelled to 1.6e-10 of kl_div here; where the
    ratio overflows or underflows, the difference of logs takes over (finite gradients too)."""
    p = np.array([2.828125, 1.0 + 2 ** -30, 0.5, 0.0, 1.0])
    q = np.array([2.83203125, 1.0, 3.0, 1.0, 0.0])
    for name in ("rel_entr", "kl_div"):
        np.testing.assert_allclose(np.asarray(getattr(fsp, name)(p, q)), getattr(sp, name)(p, q),
                                   rtol=1e-13)
    # SciPy's ratio underflows to 0 and overflows here (kl_div: -inf and inf)
    extreme = fsp.kl_div(np.array([1e-300, 1e300]), np.array([1e300, 1e-300]))
    np.testing.assert_allclose(np.asarray(extreme), [1e300, 1e300 * (np.log(1e300) * 2 - 1)],
                               rtol=1e-13)
    g = ft.grad(lambda a: fsp.rel_entr(a, np.float64(1e300)))(np.float64(1e-300))
    assert float(g) == pytest.approx(np.log(1e-300) - np.log(1e300) + 1, rel=1e-12)
