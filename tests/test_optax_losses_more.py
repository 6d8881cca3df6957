"""The rest of Optax's losses under `functrans.optim.optax` (segmentation, divergences,
hinge/perceptron/sparsemax, Fenchel-Young, ranking, self-supervised, focal, poly and CTC):
values against Optax in float32 and float64, derivatives against JAX's and finite
differences, under jit and vmap, and the errors on mismatched shapes."""
import warnings

import numpy as np
import pytest

import functrans as ft
import functrans.numpy as fnp
from functrans.optim import optax as ox
from functrans.test_util import check_grads
from optax_compare import assert_gradients_match_jax

rng = np.random.default_rng(11)


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


SCORES = rng.standard_normal((6, 5)) * 2
INT = np.array([0, 4, 1, 3, 2, 4])
LOGITS = rng.standard_normal((6, 5)) * 2
PROBS = _softmax(rng.standard_normal((6, 5)))
LOGP = np.log(_softmax(rng.standard_normal((6, 5))))
POSITIVE = np.exp(rng.standard_normal((6, 5)))      # unnormalized targets
SIGNS = np.sign(rng.standard_normal((6, 5)))
BINARY = (rng.random((6, 5)) > 0.5).astype(np.float64)
SOFT = rng.random((6, 5))
WHERE = rng.random((6, 5)) > 0.3
WHERE[:, 0] = True
R_WHERE = WHERE.copy()
R_WHERE[2] = False                                  # a list with no valid item
RELEVANCE = rng.integers(0, 4, (6, 5)).astype(np.float64)
EMB = rng.standard_normal((8, 3))
EMB_LABELS = np.array([0, 0, 1, 1, 2, 2, 2, 3])     # label 3 has no positive pair
A, P, N = (rng.standard_normal((6, 4)) for _ in range(3))
SEG = rng.standard_normal((2, 4, 3, 3)) * 2
SEG_T = np.eye(3)[rng.integers(0, 3, (2, 4, 3))]
SEG_T[..., 0] = 0.0                                 # class 0 absent from the targets:
SEG_T[..., 1] += 1.0 - SEG_T.sum(-1)                # its frequency weight is the largest
BIN = rng.standard_normal((3, 4, 5)) * 2
BIN_T = (rng.random((3, 4, 5)) > 0.5).astype(np.float64)

# CTC: B = 4 sequences of up to T = 7 frames over K = 5 classes (blank 0); labels padded
# to N = 4, with repeats (2, 2), a label run longer than the frames allow, an empty label
# sequence and frame padding
CTC_LOGITS = rng.standard_normal((4, 7, 5)) * 2
CTC_LOGIT_PAD = np.zeros((4, 7))
CTC_LOGIT_PAD[1, 5:] = 1.0
CTC_LOGIT_PAD[3, 2:] = 1.0
CTC_LABELS = np.array([[1, 2, 2, 3], [4, 4, 0, 0], [3, 1, 0, 0], [2, 2, 2, 1]])
CTC_LABEL_PAD = np.array([[0, 0, 0, 0], [0, 0, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0]], float)


def _red(name):
    """A reduce_fn, to be taken from each library's numpy."""
    return ("reduce", name)


NAN_INSIDE = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")

# (name, float args (differentiated), other args, kwargs)
CASES = [
    ("perceptron_loss", (SCORES,), (SIGNS,), {}),
    ("sparsemax_loss", (LOGITS,), (BINARY.astype(int),), {}),
    ("multiclass_hinge_loss", (SCORES,), (INT,), {}),
    ("multiclass_perceptron_loss", (SCORES,), (INT,), {}),
    ("multiclass_sparsemax_loss", (SCORES,), (INT,), {}),
    ("multiclass_sparsemax_loss", (SCORES * 0.1,), (INT,), {}),    # a wider support
    ("kl_divergence_with_log_targets", (LOGP, np.log(PROBS)), (), {}),
    ("kl_divergence_with_log_targets", (LOGP, np.log(PROBS)), (), dict(axis=0, where=WHERE)),
    ("generalized_kl_divergence", (LOGP, POSITIVE), (), {}),
    ("generalized_kl_divergence", (LOGP, POSITIVE), (), dict(where=WHERE)),
    ("safe_softmax_cross_entropy", (LOGITS, PROBS), (), {}),
    ("poly_loss_cross_entropy", (LOGITS, PROBS), (), {}),
    ("poly_loss_cross_entropy", (LOGITS,), (PROBS,), dict(epsilon=-1.0, where=WHERE)),
    ("poly_loss_cross_entropy", (LOGITS, PROBS), (), dict(epsilon=0.5, axis=0)),
    ("sigmoid_focal_loss", (LOGITS * 3,), (BINARY,), {}),
    ("sigmoid_focal_loss", (LOGITS * 3,), (SOFT,), dict(alpha=0.25, gamma=1.5)),
    ("sigmoid_focal_loss", (LOGITS,), (BINARY,), dict(gamma=0.5)),
    ("ranking_softmax_loss", (LOGITS,), (RELEVANCE,), {}),
    # (a list without valid items has NaN log-probabilities, left out: NumPy warns)
    pytest.param("ranking_softmax_loss", (LOGITS,), (RELEVANCE,), dict(where=R_WHERE),
                 marks=NAN_INSIDE),
    pytest.param("ranking_softmax_loss", (LOGITS,), (RELEVANCE,),
                 dict(weights=POSITIVE, where=R_WHERE, reduce_fn=None), marks=NAN_INSIDE),
    ("ranking_softmax_loss", (LOGITS,), (RELEVANCE,), dict(reduce_fn=_red("sum"))),
    ("ntxent", (EMB,), (EMB_LABELS,), {}),
    ("ntxent", (EMB,), (EMB_LABELS,), dict(temperature=0.5)),
    ("triplet_margin_loss", (A, P, N), (), {}),
    ("triplet_margin_loss", (A, P, N), (), dict(axis=0, norm_degree=4, margin=3.0, eps=0.1)),
    ("dice_loss", (SEG,), (SEG_T,), {}),
    ("dice_loss", (SEG,), (SEG_T,), dict(alpha=0.3, beta=0.7, smooth=0.5, reduction="none")),
    ("dice_loss", (SEG,), (SEG_T,), dict(class_weights=np.array([0.5, 1.0, 2.0]),
                                         ignore_background=True, reduction="sum")),
    ("dice_loss", (SEG,), (SEG_T,), dict(axis=(1, 2, 3))),
    ("dice_loss", (_softmax(SEG),), (SEG_T,), dict(apply_softmax=False)),
    ("dice_loss", (BIN,), (BIN_T,), {}),                          # binary: a class axis of 1
    ("multiclass_generalized_dice_loss", (SEG,), (SEG_T,), {}),
    ("multiclass_generalized_dice_loss", (SEG,), (SEG_T,), dict(ignore_background=True,
                                                                smooth=0.1)),
    ("binary_dice_loss", (BIN,), (BIN_T,), {}),
    ("binary_dice_loss", (BIN[..., None],), (BIN_T[..., None],), dict(smooth=2.0)),
    ("ctc_loss", (CTC_LOGITS,), (CTC_LOGIT_PAD, CTC_LABELS, CTC_LABEL_PAD), {}),
    ("ctc_loss", (CTC_LOGITS,), (CTC_LOGIT_PAD, CTC_LABELS, CTC_LABEL_PAD),
     dict(blank_id=3, log_epsilon=-50.0)),
]
IDS = [f"{(c.values if hasattr(c, 'values') else c)[0]}{i}" for i, c in enumerate(CASES)]


def _loss(lib, numpy, name, others, kwargs, asarray):
    def conv(v):
        if isinstance(v, tuple) and v[:1] == ("reduce",):
            return getattr(numpy, v[1])
        return asarray(v) if isinstance(v, np.ndarray) else v
    kwargs = {k: conv(v) for k, v in kwargs.items()}
    others = tuple(conv(o) for o in others)
    fn = getattr(lib, name)
    return lambda *xs: fn(*xs, *others, **kwargs)


def _pair(name, others, kwargs, optax):
    import jax.numpy as jnp
    return (_loss(ox, fnp, name, others, kwargs, fnp.asarray),
            _loss(optax.losses, jnp, name, others, kwargs, jnp.asarray))


@pytest.mark.parametrize("name, floats, others, kwargs", CASES, ids=IDS)
def test_values_and_gradients_match_optax_float64(name, floats, others, kwargs, jax_x64):
    optax = pytest.importorskip("optax")
    import jax.numpy as jnp
    ours, theirs = _pair(name, others, kwargs, optax)
    mine = ours(*map(fnp.asarray, floats))
    ref = theirs(*map(jnp.asarray, floats))
    assert mine.shape == ref.shape and mine.dtype == ref.dtype == np.float64
    np.testing.assert_allclose(mine, ref, rtol=1e-10, atol=1e-12)
    assert_gradients_match_jax(ours, theirs, floats, rng, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name, floats, others, kwargs", CASES, ids=IDS)
def test_values_match_optax_float32(name, floats, others, kwargs):
    optax = pytest.importorskip("optax")
    import jax.numpy as jnp

    def f32(v):
        return v.astype(np.float32) if isinstance(v, np.ndarray) and v.dtype == float else v
    others = tuple(map(f32, others))
    kwargs = {k: f32(v) for k, v in kwargs.items()}
    ours, theirs = _pair(name, others, kwargs, optax)
    floats = tuple(map(f32, floats))
    mine = ours(*map(fnp.asarray, floats))
    ref = theirs(*map(jnp.asarray, floats))
    assert mine.shape == ref.shape and mine.dtype == ref.dtype == np.float32
    np.testing.assert_allclose(mine, ref, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("name, floats, others, kwargs", CASES, ids=IDS)
def test_jit_and_vmap_equal_eager(name, floats, others, kwargs):
    fn = _loss(ox, fnp, name, others, kwargs, fnp.asarray)
    xs = tuple(map(fnp.asarray, floats))
    eager = fn(*xs)
    np.testing.assert_allclose(ft.jit(fn)(*xs), eager, rtol=1e-12, atol=1e-14)
    # a batch of two: the inputs, and the inputs with their first axis reversed
    flipped = tuple(fnp.flip(x, axis=0) for x in xs)
    batched = ft.vmap(fn)(*(fnp.stack([x, y]) for x, y in zip(xs, flipped)))
    np.testing.assert_allclose(batched[0], eager, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(batched[1], fn(*flipped), rtol=1e-12, atol=1e-14)


FD_NAMES = ("ctc_loss", "multiclass_sparsemax_loss", "ntxent", "dice_loss",
            "sigmoid_focal_loss")


@pytest.mark.parametrize("name, floats, others, kwargs",
                         [c for c in CASES if not hasattr(c, "values") and c[0] in FD_NAMES])
def test_derivatives_match_finite_differences(name, floats, others, kwargs):
    fn = _loss(ox, fnp, name, others, kwargs, fnp.asarray)
    check_grads(fn, tuple(map(fnp.asarray, floats)), order=1, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ CTC
CTC_VARIANTS = [
    dict(),
    dict(blank_id=2),
    dict(log_epsilon=-30.0),
]


@pytest.mark.parametrize("kwargs", CTC_VARIANTS)
@pytest.mark.parametrize("x64", [False, True])
def test_ctc_forward_probabilities_match_optax(kwargs, x64, request):
    optax = pytest.importorskip("optax")
    import jax.numpy as jnp
    if x64:
        request.getfixturevalue("jax_x64")
    dt = np.float64 if x64 else np.float32
    args = (CTC_LOGITS.astype(dt), CTC_LOGIT_PAD.astype(dt), CTC_LABELS,
            CTC_LABEL_PAD.astype(dt))
    mine = ox.ctc_loss_with_forward_probs(*map(fnp.asarray, args), **kwargs)
    ref = optax.losses.ctc_loss_with_forward_probs(*map(jnp.asarray, args), **kwargs)
    rtol, atol = (1e-11, 1e-9) if x64 else (1e-5, 1e-3)
    for a, b, shape in zip(mine, ref, [(4,), (7, 4, 5), (7, 4, 4)], strict=True):
        assert a.shape == b.shape == shape and a.dtype == b.dtype == dt
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def test_ctc_agrees_with_the_pytorch_style_loss_and_blank_rules():
    """Where an alignment exists, Optax's loss is the exact CTC loss, which
    ft.nn.functional.ctc_loss computes on its own recursion."""
    logp = ft.nn.functional.log_softmax(fnp.asarray(CTC_LOGITS), dim=-1)
    lengths = (7 - CTC_LOGIT_PAD.sum(1)).astype(int)
    target_lengths = (4 - CTC_LABEL_PAD.sum(1)).astype(int)
    exact = ft.nn.functional.ctc_loss(fnp.transpose(logp, (1, 0, 2)), CTC_LABELS, lengths,
                                      target_lengths, reduction="none")
    ours = ox.ctc_loss(CTC_LOGITS, CTC_LOGIT_PAD, CTC_LABELS, CTC_LABEL_PAD)
    feasible = [0, 1, 2]              # sequence 3 needs 5 frames for (2, 2, 2, 1) but has 2
    np.testing.assert_allclose(np.asarray(ours)[feasible], np.asarray(exact)[feasible],
                               rtol=1e-10)
    assert float(ours[3]) > 1e4       # about -log_epsilon, where the exact loss is inf
    # one frame, one label: the loss is -log p(label); an empty label sequence: -log p(blank)
    lp1 = np.log(_softmax(CTC_LOGITS[:1, :1]))
    one = ox.ctc_loss(CTC_LOGITS[:1, :1], np.zeros((1, 1)), np.array([[3]]), np.zeros((1, 1)))
    np.testing.assert_allclose(one, -lp1[0, 0, 3], rtol=1e-12)
    empty = ox.ctc_loss(CTC_LOGITS[:1, :1], np.zeros((1, 1)), np.array([[3]]), np.ones((1, 1)))
    np.testing.assert_allclose(empty, -lp1[0, 0, 0], rtol=1e-12)
    # padded frames change nothing
    padded = ox.ctc_loss(np.concatenate([CTC_LOGITS, CTC_LOGITS[:, :3] * 5], axis=1),
                         np.concatenate([CTC_LOGIT_PAD, np.ones((4, 3))], axis=1),
                         CTC_LABELS, CTC_LABEL_PAD)
    np.testing.assert_allclose(padded, ours, rtol=1e-12)


def test_ctc_under_jit_vmap_and_grad():
    args = tuple(map(fnp.asarray, (CTC_LOGITS, CTC_LOGIT_PAD, CTC_LABELS, CTC_LABEL_PAD)))
    eager = ox.ctc_loss_with_forward_probs(*args)
    for a, b in zip(ft.jit(ox.ctc_loss_with_forward_probs)(*args), eager, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    # vmap over a leading axis of two batches
    batched = ft.vmap(ox.ctc_loss)(*(fnp.stack([x, x]) for x in args))
    np.testing.assert_allclose(batched, np.stack([eager[0]] * 2), rtol=1e-12)
    # the gradient in logits: each frame's posterior minus softmax sums to 0 over classes
    g = ft.grad(lambda x: fnp.sum(ox.ctc_loss(x, *args[1:])))(args[0])
    np.testing.assert_allclose(np.asarray(g).sum(-1), 0.0, atol=1e-12)
    assert np.all(np.asarray(g)[3, 2:] == 0.0)         # padded frames get no gradient


# ------------------------------------------------------------------ the rest
def test_fenchel_young_loss_matches_optax(jax_x64):
    optax = pytest.importorskip("optax")
    import jax
    import jax.numpy as jnp
    from functrans.scipy.special import logsumexp
    ours = ox.make_fenchel_young_loss(logsumexp)
    theirs = optax.losses.make_fenchel_young_loss(jax.scipy.special.logsumexp)
    np.testing.assert_allclose(ours(LOGITS, PROBS), theirs(jnp.asarray(LOGITS),
                                                           jnp.asarray(PROBS)), rtol=1e-12)
    # with logsumexp (and the targets' own term left out, as in Optax) it is the softmax
    # cross entropy
    np.testing.assert_allclose(ours(LOGITS, PROBS), ox.softmax_cross_entropy(LOGITS, PROBS),
                               rtol=1e-12)
    g = ft.grad(lambda s: fnp.sum(ours(s, PROBS)))(fnp.asarray(LOGITS))
    np.testing.assert_allclose(g, _softmax(LOGITS) - PROBS, atol=1e-12)
    # broadcast targets, keyword arguments to max_fun, jit and vmap
    ours_b = ox.make_fenchel_young_loss(lambda s, scale=1.0: scale * fnp.max(s))
    theirs_b = optax.losses.make_fenchel_young_loss(lambda s, scale=1.0: scale * jnp.max(s))
    np.testing.assert_allclose(ours_b(SCORES, PROBS[0]),
                               theirs_b(jnp.asarray(SCORES), jnp.asarray(PROBS[0])), rtol=1e-12)
    # (jnp.vectorize drops keyword arguments, so Optax's loss ignores them; ours passes them)
    np.testing.assert_allclose(ours_b(SCORES, PROBS[0], scale=2.0),
                               2 * SCORES.max(-1) - SCORES @ PROBS[0], rtol=1e-12)
    np.testing.assert_allclose(ft.jit(ours)(LOGITS, PROBS), ours(LOGITS, PROBS), rtol=1e-12)
    np.testing.assert_allclose(ft.vmap(ours)(LOGITS, PROBS), ours(LOGITS, PROBS), rtol=1e-12)
    with pytest.raises(ValueError, match="scores of shape .* targets of shape"):
        ours(LOGITS, PROBS[:, :3])


def test_convex_kl_divergence_is_deprecated_generalized_kl(jax_x64):
    optax = pytest.importorskip("optax")
    import jax.numpy as jnp
    with pytest.warns(DeprecationWarning, match="generalized_kl_divergence"):
        ours = ox.convex_kl_divergence(LOGP, POSITIVE, where=WHERE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ref = optax.losses.convex_kl_divergence(jnp.asarray(LOGP), jnp.asarray(POSITIVE),
                                                where=jnp.asarray(WHERE))
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    np.testing.assert_allclose(ours, ox.generalized_kl_divergence(LOGP, POSITIVE, where=WHERE))


@NAN_INSIDE
@pytest.mark.filterwarnings("ignore:divide by zero encountered:RuntimeWarning")
def test_edge_cases_match_optax(jax_x64):
    optax = pytest.importorskip("optax")
    import jax
    import jax.numpy as jnp
    L = optax.losses
    # safe cross entropy: a -inf logit with label 0 costs nothing and has gradient 0
    logits = LOGITS.copy()
    logits[:, 1] = -np.inf
    labels = PROBS.copy()
    labels[:, 0] += labels[:, 1]
    labels[:, 1] = 0.0
    mine = ox.safe_softmax_cross_entropy(logits, labels)
    np.testing.assert_allclose(mine, L.safe_softmax_cross_entropy(jnp.asarray(logits),
                                                                  jnp.asarray(labels)))
    assert np.all(np.isfinite(mine))
    g = ft.grad(lambda x: fnp.sum(ox.safe_softmax_cross_entropy(x, labels)))(fnp.asarray(logits))
    gj = jax.grad(lambda x: jnp.sum(L.safe_softmax_cross_entropy(x, jnp.asarray(labels))))(
        jnp.asarray(logits))
    np.testing.assert_allclose(g, gj, atol=1e-12)
    # sparsemax with labels out of range and negative (JAX's indexing)
    labels = np.array([-1, 5, 7, -5, -6, 2])
    np.testing.assert_allclose(ox.multiclass_sparsemax_loss(SCORES, labels),
                               L.multiclass_sparsemax_loss(jnp.asarray(SCORES),
                                                           jnp.asarray(labels)), rtol=1e-12)
    np.testing.assert_allclose(ox.multiclass_hinge_loss(SCORES, labels),
                               L.multiclass_hinge_loss(jnp.asarray(SCORES),
                                                       jnp.asarray(labels)), rtol=1e-12)
    # ties in the scores: the sparsemax gradient is sparsemax - one_hot
    tied = np.array([[1.0, 1.0, 0.2, -3.0], [0.5, 0.5, 0.5, 0.5]])
    lab = np.array([1, 3])
    g = ft.grad(lambda s: fnp.sum(ox.multiclass_sparsemax_loss(s, lab)))(fnp.asarray(tied))
    gj = jax.grad(lambda s: jnp.sum(L.multiclass_sparsemax_loss(s, jnp.asarray(lab))))(
        jnp.asarray(tied))
    np.testing.assert_allclose(g, gj, atol=1e-12)
    # a NaN or +inf score spreads to its row's sparsemax loss, as in Optax
    bad = np.array([[np.nan, 1.0, 0.0], [np.inf, 0.0, 1.0], [-np.inf, 0.0, 1.0]])
    lab = np.array([1, 0, 2])
    mine = np.asarray(ox.multiclass_sparsemax_loss(bad, lab))
    np.testing.assert_array_equal(np.isnan(mine), [True, True, False])
    np.testing.assert_allclose(mine, L.multiclass_sparsemax_loss(jnp.asarray(bad),
                                                                 jnp.asarray(lab)))
    # ranking: every item masked in every list gives 0, not NaN, and gradient 0
    none = np.zeros((6, 5), bool)
    assert float(ox.ranking_softmax_loss(LOGITS, RELEVANCE, where=none)) == 0.0
    g = ft.grad(lambda x: ox.ranking_softmax_loss(x, RELEVANCE, where=none))(
        fnp.asarray(LOGITS))
    assert np.all(np.asarray(g) == 0.0)
    # dice on a binary pair of shape (...): a class axis of 1 is added to both
    np.testing.assert_allclose(ox.dice_loss(BIN[0], BIN_T[0]),
                               L.dice_loss(jnp.asarray(BIN[0]), jnp.asarray(BIN_T[0])))
    # focal loss with large logits stays finite where the naive (1 - p)**gamma is not
    big = np.array([-200.0, -30.0, 30.0, 200.0])
    mine = ox.sigmoid_focal_loss(big, np.array([1.0, 0.0, 1.0, 0.0]), gamma=0.5)
    np.testing.assert_allclose(mine, L.sigmoid_focal_loss(jnp.asarray(big),
                                                          jnp.asarray([1.0, 0.0, 1.0, 0.0]),
                                                          gamma=0.5), rtol=1e-12)
    # CTC: no labels at all (N = 0)
    args = (CTC_LOGITS, CTC_LOGIT_PAD, np.zeros((4, 0), int), np.zeros((4, 0)))
    for a, b in zip(ox.ctc_loss_with_forward_probs(*args),
                    L.ctc_loss_with_forward_probs(*map(jnp.asarray, args)), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_dice_loss_refuses_bad_arguments():
    with pytest.raises(ValueError, match="probability distributions"):
        ox.dice_loss(SEG, SEG_T, apply_softmax=False)
    # under jit the probabilities are not checked (they are not known)
    ft.jit(lambda x: ox.dice_loss(x, SEG_T, apply_softmax=False))(fnp.asarray(SEG))
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none'"):
        ox.dice_loss(SEG, SEG_T, reduction="max")
    with pytest.raises(ValueError, match="class_weights must be one weight per class"):
        ox.dice_loss(SEG, SEG_T, class_weights=np.ones((3, 1)))
    # one channel of probabilities: nothing to sum to 1 (Optax would refuse any not 1)
    probs = 1 / (1 + np.exp(-BIN))
    np.testing.assert_allclose(ox.binary_dice_loss(probs, BIN_T, apply_sigmoid=False),
                               ox.binary_dice_loss(BIN, BIN_T), rtol=1e-12)


MISMATCHED = [
    (ox.perceptron_loss, (SCORES, SIGNS[:, :3]), "predictor_outputs .* targets"),
    (ox.sparsemax_loss, (SCORES, BINARY[:, :3]), "logits .* labels"),
    (ox.multiclass_hinge_loss, (SCORES, INT[:4]), "scores without the class axis .* labels"),
    (ox.multiclass_perceptron_loss, (SCORES, INT[:4]), "scores without .* labels"),
    (ox.multiclass_sparsemax_loss, (SCORES, INT[:4]), "labels of shape .* scores"),
    (ox.kl_divergence_with_log_targets, (LOGP, LOGP[:, :3]), "log_predictions .* log_targets"),
    (ox.generalized_kl_divergence, (LOGP, LOGP[:, :3]), "log_predictions .* targets"),
    (ox.safe_softmax_cross_entropy, (LOGITS, PROBS[:, :3]), "logits .* labels"),
    (ox.poly_loss_cross_entropy, (LOGITS, PROBS[:, :3]), "logits .* labels"),
    (ox.sigmoid_focal_loss, (LOGITS, BINARY[:, :3]), "logits .* labels"),
    (ox.ranking_softmax_loss, (LOGITS, RELEVANCE[:, :3]), "logits .* labels"),
    (ox.ntxent, (EMB, EMB_LABELS[:5]), "labels of shape .* embeddings"),
    (ox.triplet_margin_loss, (A, P, N[:, :3]), "anchors .* positives .* negatives"),
    (ox.dice_loss, (SEG, SEG_T[..., :2]), "predictions .* targets"),
    (ox.multiclass_generalized_dice_loss, (SEG, SEG_T[..., :2]), "predictions .* targets"),
    (ox.binary_dice_loss, (BIN, BIN_T[:, :2]), "predictions .* targets"),
    (ox.ctc_loss, (CTC_LOGITS, CTC_LOGIT_PAD[:, :5], CTC_LABELS, CTC_LABEL_PAD),
     "logit_paddings of shape"),
    (ox.ctc_loss, (CTC_LOGITS, CTC_LOGIT_PAD, CTC_LABELS, CTC_LABEL_PAD[:, :2]),
     "labels .* label_paddings"),
    (ox.ctc_loss, (CTC_LOGITS, CTC_LOGIT_PAD, CTC_LABELS[:3], CTC_LABEL_PAD[:3]),
     "batch size"),
]


@pytest.mark.parametrize("fn, args, message", MISMATCHED,
                         ids=[f"{m[0].__name__}{i}" for i, m in enumerate(MISMATCHED)])
def test_mismatched_shapes_are_refused_naming_the_arguments(fn, args, message):
    with pytest.raises(ValueError, match=message):
        fn(*args)


def test_wrong_types_and_ranks_are_refused():
    with pytest.raises(TypeError, match="labels must be integer"):
        ox.multiclass_hinge_loss(SCORES, INT.astype(float))
    with pytest.raises(TypeError, match="labels must be integer"):
        ox.ctc_loss(CTC_LOGITS, CTC_LOGIT_PAD, CTC_LABELS.astype(float), CTC_LABEL_PAD)
    with pytest.raises(ValueError, match=r"logits must be \(B, T, K\)"):
        ox.ctc_loss(CTC_LOGITS[0], CTC_LOGIT_PAD, CTC_LABELS, CTC_LABEL_PAD)
    with pytest.raises(TypeError, match="logits must be real floating point"):
        ox.sigmoid_focal_loss(BINARY.astype(int), BINARY)
    with pytest.raises(TypeError, match="labels must be real floating point"):
        ox.poly_loss_cross_entropy(LOGITS, INT)
    with pytest.raises(ValueError, match=r"embeddings must be \(batch, features\)"):
        ox.ntxent(EMB[0], EMB_LABELS[:1])
