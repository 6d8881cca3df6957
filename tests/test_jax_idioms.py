"""JAX code runs unchanged with `import functrans as jax`: idioms from JAX's tutorials
(jax.numpy basics, the autodiff cookbook, pytrees, vmap, control flow, the sharp bits) and
the names they use (`jnp.array` of traced values, `r_`/`c_`, `ft.tree`, `einsum` sublists,
holomorphic derivatives, `linalg.eig`, custom_jvp's semantics, exception types). JAX is
the oracle where installed."""
from __future__ import annotations

import numpy as np
import pytest

import functrans as jax
import functrans.numpy as jnp
from functrans.test_util import check_grads


# ------------------------------------------------------------------ arrays from sequences
def test_arrays_from_lists_of_traced_values():
    xs = jnp.arange(4.0)
    f = lambda x: jnp.array([jnp.sin(v) * x[0] for v in x])             # noqa: E731
    np.testing.assert_allclose(np.asarray(f(xs)), np.sin(np.arange(4.0)) * 0.0)
    g = lambda x: jnp.array([[x[0] * x[1], 1.0], [x[1] ** 2, x[0]]]).sum()  # noqa: E731
    x = np.array([2.0, 3.0])
    np.testing.assert_allclose(np.asarray(jax.grad(g)(x)), [4.0, 8.0])
    np.testing.assert_allclose(np.asarray(jax.jit(jax.grad(g))(x)), [4.0, 8.0])
    check_grads(g, (x,), order=2, modes=("fwd", "rev"))
    out = jax.vmap(lambda v: jnp.asarray((v, 2 * v, 3)))(jnp.arange(3.0))
    np.testing.assert_array_equal(np.asarray(out), [[0, 0, 3], [1, 2, 3], [2, 4, 3]])
    assert jnp.array([jnp.array(1.0), jnp.array(2.0)]).shape == (2,)
    assert jnp.array((jnp.arange(2), jnp.arange(2))).dtype == np.int64
    assert jax.jit(lambda a: jnp.array([a, 1.5]))(jnp.float32(1)).dtype == np.float32
    with pytest.raises(ValueError, match="shapes"):
        jax.jit(lambda a: jnp.array([a, a[:1]]))(jnp.ones(2))


def test_index_tricks_linspace_column_stack_and_reshape_by_array():
    a, b = np.array([1, 2, 3]), np.array([4, 5, 6])
    for expr in ("r_[a, b]", "r_[1:4, 0, 4]", "c_[a, b]", "r_['0,2', a, b]",
                 "r_['1,2,0', a, b]", "c_[np.ones((2, 2)), np.zeros((2, 1))]",
                 "mgrid[0:2, 0:3]", "r_[-1:1:5j]"):
        ours = np.asarray(eval("jnp." + expr))
        theirs = eval("np." + expr)
        np.testing.assert_allclose(ours, theirs)
    out = jax.jit(lambda v: jnp.r_[v, 2 * v])(jnp.ones(2))
    np.testing.assert_array_equal(np.asarray(out), [1, 1, 2, 2])
    f = jax.jit(lambda stop: jnp.linspace(0.0, stop, 5))
    np.testing.assert_allclose(np.asarray(f(jnp.float32(2.0))), np.linspace(0, 2, 5))
    np.testing.assert_allclose(
        np.asarray(jax.jit(lambda s: jnp.linspace(s, 3 * s, 4, endpoint=False, axis=-1))(
            jnp.asarray(np.array([1.0, 2.0])))),
        np.linspace([1.0, 2.0], [3.0, 6.0], 4, endpoint=False, axis=-1))
    assert float(jax.grad(lambda s: jnp.linspace(0.0, s, 5).sum())(2.0)) == 2.5
    np.testing.assert_array_equal(np.asarray(jnp.column_stack([a, b])), np.column_stack([a, b]))
    assert jnp.arange(6.0).reshape(jnp.array(6)).shape == (6,)
    assert jnp.reshape(jnp.arange(6.0), (jnp.array(2), 3)).shape == (2, 3)


def test_clip_bounds_by_every_name():
    x = jnp.arange(5.0)
    for out in (jnp.clip(x, 1, 3), jnp.clip(x, min=1, max=3), jnp.clip(x, a_min=1, a_max=3),
                x.clip(1, 3), x.clip(min=1, max=3)):
        np.testing.assert_array_equal(np.asarray(out), [1, 1, 2, 3, 3])
    with pytest.raises(TypeError, match="once"):
        jnp.clip(x, 1, a_min=2)


# ------------------------------------------------------------------ the tree namespace
def test_tree_namespace():
    tree = {"a": 1, "b": (2, [3, 4])}
    assert jax.tree.map(lambda v: v * 10, tree) == {"a": 10, "b": (20, [30, 40])}
    assert jax.tree.leaves(tree) == [1, 2, 3, 4]
    leaves, td = jax.tree.flatten(tree)
    assert jax.tree.unflatten(td, leaves) == tree and jax.tree.structure(tree) == td
    assert jax.tree.reduce(lambda a, b: a + b, tree) == 10
    assert jax.tree.reduce(lambda a, b: a + b, [], None) is None
    assert jax.tree.reduce_associative(lambda a, b: a * b, [1, 2, 3, 4]) == 24
    assert jax.tree.all([True, (1, 2)]) and not jax.tree.all([True, 0])
    assert jax.tree.transpose(jax.tree.structure([0, 0]), None, [(1, 2), (3, 4)]) == \
        ([1, 3], [2, 4])
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree.leaves_with_path(tree)]
    assert paths == ["['a']", "['b'][0]", "['b'][1][0]", "['b'][1][1]"]
    assert jax.tree.map_with_path(lambda p, v: len(p), tree) == {"a": 1, "b": (2, [3, 3])}
    assert jax.tree.broadcast([1, 2], [(0, 0), [0]]) == [(1, 1), [2]]

    with pytest.raises(ValueError, match=r"tree argument 1 .* at \['b'\]\[1\] the list has 3 "
                                         r"children where 2 were expected"):
        jax.tree.map(lambda u, v: u, tree, {"a": 0, "b": (0, [0, 0, 0])})

    @jax.tree_util.register_pytree_node_class
    class Pair:
        def __init__(self, a, b):
            self.a, self.b = a, b

        def tree_flatten(self):
            return (self.a, self.b), None

        @classmethod
        def tree_unflatten(cls, aux, children):
            return cls(*children)
    p = jax.tree.map(lambda v: v + 1, Pair(1, 2))
    assert (p.a, p.b) == (2, 3)


# ------------------------------------------------------------------ names and semantics
def test_einsum_sublists():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    for args in ((a, [0, 1], b, [1, 2], [0, 2]), (a, [0, 1], b, [1, 2]), (a, [Ellipsis, 1]),
                 (a, [0, 0 + 1], [1])):
        np.testing.assert_allclose(np.asarray(jnp.einsum(*args)), np.einsum(*args))
    check_grads(lambda a, b: jnp.einsum(a, [0, 1], b, [1, 2], [0, 2]), (a, b), order=2)


def test_holomorphic_derivatives():
    z = np.array([1 + 2j, 0.5 - 1j])
    f = lambda z: jnp.sum(jnp.sin(z) * z ** 2)                         # noqa: E731
    want = np.cos(z) * z ** 2 + 2 * z * np.sin(z)
    np.testing.assert_allclose(np.asarray(jax.grad(f, holomorphic=True)(z)), want)
    g = lambda z: jnp.exp(z) * z                                       # noqa: E731
    np.testing.assert_allclose(np.asarray(jax.jacfwd(g, holomorphic=True)(z)),
                               np.diag(np.exp(z) * (1 + z)))
    np.testing.assert_allclose(np.asarray(jax.jacrev(g, holomorphic=True)(z)),
                               np.diag(np.exp(z) * (1 + z)))
    with pytest.raises(TypeError, match="holomorphic=True"):
        jax.grad(f)(z)                                 # complex output needs holomorphic
    with pytest.raises(TypeError, match="complex"):
        jax.grad(f, holomorphic=True)(np.ones(2))
    with pytest.raises(TypeError, match="holomorphic"):
        jax.jacfwd(g)(z)


def test_holomorphic_matches_jax():
    real_jax = pytest.importorskip("jax")
    real_jax.config.update("jax_enable_x64", True)
    try:
        z = np.array([1 + 2j, 0.5 - 1j])
        ours = jax.hessian(lambda z: jnp.sum(jnp.tanh(z) * z), holomorphic=True)(z)
        theirs = real_jax.hessian(lambda z: real_jax.numpy.sum(real_jax.numpy.tanh(z) * z),
                                  holomorphic=True)(z)
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-10)
    finally:
        real_jax.config.update("jax_enable_x64", False)


def test_linalg_eig_eigvals_pinv():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 4))
    w, v = jnp.linalg.eig(a)
    assert w.dtype == np.complex128 and v.dtype == np.complex128
    np.testing.assert_allclose(a @ np.asarray(v), np.asarray(v) * np.asarray(w), atol=1e-12)
    np.testing.assert_allclose(np.sort_complex(np.asarray(jnp.linalg.eigvals(a))),
                               np.sort_complex(np.linalg.eigvals(a)))
    f = lambda a: jnp.sum(jnp.real(jnp.linalg.eigvals(a)) ** 2)          # noqa: E731
    check_grads(f, (a,), order=2, modes=("fwd", "rev"))
    h = lambda a: jnp.sum(jnp.abs(jnp.linalg.eig(a)[1]) ** 3)           # noqa: E731
    check_grads(h, (a,), order=1, modes=("fwd", "rev"))
    batch = np.stack([a, a.T])
    np.testing.assert_allclose(np.asarray(jax.vmap(jnp.linalg.eigvals)(batch)),
                               np.stack([np.asarray(jnp.linalg.eigvals(m)) for m in batch]))
    np.testing.assert_allclose(np.asarray(jnp.linalg.pinv(a[:, :3])), np.linalg.pinv(a[:, :3]))


def test_linalg_eig_gradients_match_jax():
    real_jax = pytest.importorskip("jax")
    real_jax.config.update("jax_enable_x64", True)
    try:
        a = np.random.default_rng(2).standard_normal((3, 3))
        ours = jax.grad(lambda a: jnp.sum(jnp.imag(jnp.linalg.eigvals(a)) ** 2 +
                                          jnp.real(jnp.linalg.eigvals(a))))(a)
        theirs = real_jax.grad(lambda a: real_jax.numpy.sum(
            real_jax.numpy.imag(real_jax.numpy.linalg.eigvals(a)) ** 2 +
            real_jax.numpy.real(real_jax.numpy.linalg.eigvals(a))))(a)
        np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-8)
    finally:
        real_jax.config.update("jax_enable_x64", False)


def test_custom_jvp_gets_zero_tangents_and_concrete_primals():
    seen = []

    @jax.custom_jvp
    def f(x, y):
        return x * y

    @f.defjvp
    def f_jvp(primals, tangents):
        x, y = primals
        tx, ty = tangents
        seen.append((type(tx).__name__, type(ty).__name__))
        return f(x, y), tx * y + x * ty

    assert float(jax.grad(f)(2.0, 3.0)) == 3.0
    assert float(jax.jit(jax.grad(f))(2.0, 3.0)) == 3.0
    assert float(jax.grad(f, argnums=1)(2.0, 3.0)) == 2.0
    assert all("NoneType" not in pair for pair in seen)

    @jax.custom_jvp
    def relu_ish(x):
        if x > 0:                                 # Python control flow on the value
            return x ** 2
        return -x

    @relu_ish.defjvp
    def relu_ish_jvp(primals, tangents):
        x, = primals
        t, = tangents
        return relu_ish(x), (2 * x if x > 0 else -1.0) * t

    assert float(jax.grad(relu_ish)(3.0)) == 6.0
    assert float(jax.grad(relu_ish)(-3.0)) == -1.0
    assert float(jax.grad(jax.grad(relu_ish))(3.0)) == 2.0
    assert float(jax.jvp(relu_ish, (3.0,), (1.0,))[1]) == 6.0
    with pytest.raises(jax.ConcretizationError):
        jax.jit(jax.grad(relu_ish))(3.0)          # under jit the value is abstract, as in JAX


def test_exception_types_where_jax_users_catch_them():
    for bad in (lambda: jnp.dot(jnp.ones(3), jnp.ones(4)),
                lambda: jnp.ones((2, 3)) @ jnp.ones((4, 5)),
                lambda: jax.jit(jnp.matmul)(jnp.ones((2, 3)), jnp.ones((4, 5))),
                lambda: jnp.tensordot(jnp.ones(3), jnp.ones(4), 1)):
        with pytest.raises(TypeError, match="size"):
            bad()
        with pytest.raises(ValueError):               # NumPy users catch ValueError
            bad()
    with pytest.raises(jax.ConcretizationError):
        jax.jit(lambda x: int(x))(1)
    with pytest.raises(TypeError):
        jax.grad(lambda x: x)(jnp.ones(3))           # non-scalar output


# ------------------------------------------------------------------ tutorial cells
def test_jax_numpy_basics_cells():
    x = jnp.linspace(0, 10, 1000)
    y = 2 * jnp.sin(x) * jnp.cos(x)
    np.testing.assert_allclose(np.asarray(y), np.sin(2 * np.linspace(0, 10, 1000)), atol=1e-5)
    x = jnp.arange(10)
    y = x.at[0].set(10)
    assert int(x[0]) == 0 and int(y[0]) == 10
    assert jnp.convolve(jnp.array([1, 2, 1]), jnp.array([1, 1, 1])).tolist() == [1, 3, 4, 3, 1]
    x = jnp.arange(5.0)
    np.testing.assert_array_equal(np.asarray(x[jnp.array([1, 3])]), [1, 3])
    np.testing.assert_array_equal(np.asarray(x.at[2:].add(1)), [0, 1, 3, 4, 5])


def test_autodiff_cookbook_cells():
    def sigmoid(x):
        return 0.5 * (jnp.tanh(x / 2) + 1)

    def predict(W, b, inputs):
        return sigmoid(jnp.dot(inputs, W) + b)

    inputs = jnp.array([[0.52, 1.12, 0.77], [0.88, -1.08, 0.15], [0.52, 0.06, -1.30],
                        [0.74, -2.49, 1.39]])
    targets = jnp.array([True, True, False, True])

    def loss(W, b):
        preds = predict(W, b, inputs)
        label_probs = preds * targets + (1 - preds) * (1 - targets)
        return -jnp.sum(jnp.log(label_probs))

    key = jax.random.key(0)
    key, W_key, b_key = jax.random.split(key, 3)
    W = jax.random.normal(W_key, (3,))
    b = jax.random.normal(b_key, ())
    W_grad, b_grad = jax.grad(loss, (0, 1))(W, b)
    assert W_grad.shape == (3,) and b_grad.shape == ()
    loss_value, Wb_grad = jax.value_and_grad(loss, (0, 1))(W, b)
    np.testing.assert_allclose(np.asarray(Wb_grad[0]), np.asarray(W_grad), rtol=1e-6)
    eps = 1e-4
    b_grad_numerical = (loss(W, b + eps / 2.) - loss(W, b - eps / 2.)) / eps
    np.testing.assert_allclose(float(b_grad_numerical), float(b_grad), rtol=2e-2)
    J = jax.jacfwd(predict, argnums=0)(W, b, inputs)
    assert J.shape == (4, 3)
    np.testing.assert_allclose(np.asarray(jax.jacrev(predict)(W, b, inputs)), np.asarray(J),
                               rtol=1e-5, atol=1e-6)
    H = jax.hessian(lambda W: loss(W, b))(W)
    assert H.shape == (3, 3)

    def hvp(f, x, v):
        return jax.grad(lambda x: jnp.vdot(jax.grad(f)(x), v))(x)
    np.testing.assert_allclose(np.asarray(hvp(lambda W: loss(W, b), W, jnp.ones(3))),
                               np.asarray(H @ jnp.ones(3)), rtol=1e-4, atol=1e-5)
    f = lambda x: jnp.sum(jnp.abs(x) ** 2)                         # noqa: E731
    z = jnp.array([3.0 + 4j])
    np.testing.assert_allclose(np.asarray(jax.grad(f)(z)), [6 - 8j])  # 2 conj(z)


def test_pytrees_and_vmap_cells():
    example_trees = [[1, "a", object()], (1, (2, 3), ()), [1, {"k1": 2, "k2": (3, 4)}, 5],
                     {"a": 2, "b": (2, 3)}, jnp.array([1, 2, 3])]
    counts = [len(jax.tree_util.tree_leaves(t)) for t in example_trees]
    assert counts == [3, 3, 5, 3, 1]

    def init_mlp_params(layer_widths):
        params = []
        for n_in, n_out in zip(layer_widths[:-1], layer_widths[1:]):
            params.append(dict(weights=np.random.normal(size=(n_in, n_out)) * np.sqrt(2 / n_in),
                               biases=np.ones(shape=(n_out,))))
        return params
    params = init_mlp_params([1, 128, 128, 1])
    shapes = jax.tree.map(lambda x: x.shape, params)
    assert shapes[0] == {"biases": (128,), "weights": (1, 128)}

    def forward(params, x):
        *hidden, last = params
        for layer in hidden:
            x = jax.nn.relu(x @ layer["weights"] + layer["biases"])
        return x @ last["weights"] + last["biases"]

    def loss_fn(params, x, y):
        return jnp.mean((forward(params, x) - y) ** 2)

    @jax.jit
    def update(params, x, y):
        grads = jax.grad(loss_fn)(params, x, y)
        return jax.tree.map(lambda p, g: p - 1e-4 * g, params, grads)
    xs = np.random.normal(size=(32, 1))
    params = update(params, xs, xs ** 2)
    assert jax.tree.structure(params) == jax.tree.structure(init_mlp_params([1, 128, 128, 1]))

    x = jnp.arange(5.0)
    w = jnp.array([2.0, 3.0, 4.0])

    def convolve(x, w):
        output = []
        for i in range(1, len(x) - 1):
            output.append(jnp.dot(x[i - 1:i + 2], w))
        return jnp.array(output)
    xs, ws = jnp.stack([x, x]), jnp.stack([w, w])
    np.testing.assert_allclose(np.asarray(jax.vmap(convolve)(xs, ws)),
                               [[11.0, 20.0, 29.0]] * 2)
    np.testing.assert_allclose(np.asarray(jax.jit(jax.vmap(convolve, in_axes=[0, None]))(xs, w)),
                               [[11.0, 20.0, 29.0]] * 2)


def test_control_flow_and_sharp_bits_cells():
    def f(x):
        return jax.lax.cond(x > 0, lambda x: x * 2, lambda x: x - 1, x)
    assert float(jax.jit(f)(3.0)) == 6.0 and float(jax.jit(f)(-3.0)) == -4.0
    assert int(jax.lax.fori_loop(0, 5, lambda i, acc: acc + i, 0)) == 10
    carry, ys = jax.lax.scan(lambda c, x: (c + x, c * x), 0.0, jnp.arange(4.0))
    assert float(carry) == 6.0 and np.asarray(ys).tolist() == [0.0, 0.0, 2.0, 9.0]
    assert int(jax.lax.while_loop(lambda v: v < 10, lambda v: v * 2, 1)) == 16
    # sharp bits: out-of-bounds indexing clamps reads and drops updates
    assert float(jnp.arange(10.0)[11]) == 9.0
    assert jnp.arange(10.0).at[11].add(23).tolist() == list(np.arange(10.0))
    with pytest.raises(TypeError, match="immutable"):
        x = jnp.arange(3)
        x[0] = 1
    # sharp bits: random keys are explicit
    key = jax.random.key(0)
    k1, k2 = jax.random.split(key)
    assert not np.array_equal(np.asarray(jax.random.normal(k1, (3,))),
                              np.asarray(jax.random.normal(k2, (3,))))


def test_vectorize_and_small_names():
    g = jnp.vectorize(lambda a, b: jnp.where(a > 0, a * b, -b))
    x, y = np.array([1.0, -1.0, 2.0]), np.array([[3.0], [4.0]])
    np.testing.assert_array_equal(np.asarray(g(x, y)), np.where(x > 0, x * y, -y))
    np.testing.assert_array_equal(np.asarray(jax.jit(g)(x, y)), np.where(x > 0, x * y, -y))
    np.testing.assert_array_equal(np.asarray(jax.grad(lambda v: g(v, 2.0).sum())(x)),
                                  [2.0, 0.0, 2.0])
    dot = jnp.vectorize(lambda u, v: jnp.dot(u, v), signature="(n),(n)->()")
    a, b = np.arange(12.0).reshape(4, 3), np.arange(3.0)
    np.testing.assert_array_equal(np.asarray(dot(a, b)), a @ b)
    both = jnp.vectorize(lambda u: (u, u ** 2), signature="()->(),()")
    assert [np.asarray(o).tolist() for o in both(np.arange(3.0))] == [[0, 1, 2], [0, 1, 4]]
    assert jnp.vectorize(lambda u, n: u ** n, excluded={1})(np.arange(3.0), 2).tolist() == \
        [0, 1, 4]
    with pytest.raises(ValueError, match="core dimension"):
        dot(np.ones(3), np.ones(4))
    assert jnp.double == np.float64 and jnp.single == np.float32 and jnp.int_ == np.int64
    assert jax.device_count() == len(jax.devices(jax.default_backend()))
    assert isinstance(jax.device_get({"a": jnp.ones(2)})["a"], np.ndarray)
    assert jax.grad(lambda x, i: x * i, allow_int=True, argnums=(0, 1))(2.0, 3)[1].dtype \
        == jax.float0


# ------------------------------------------------------------------ jax.nn's keywords
def test_softmax_where_gelu_booleans_glu_axis_and_where_size():
    """softmax / log_softmax over the elements `where` marks (0 / -inf elsewhere, finite
    derivatives for a row with none marked) and over several axes or all (axis=None: it was
    read as "not given", the last axis), gelu's approximate=True/False, glu's axis and
    jnp.where's one-argument size / fill_value, each as JAX computes them."""
    x = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]], np.float32)
    w = np.array([[True, False, True], [False, False, False]])
    e = np.exp(np.array([1.0, 3.0]) - 3.0)
    want = np.array([[e[0] / e.sum(), 0, e[1] / e.sum()], [0, 0, 0]])
    np.testing.assert_allclose(np.asarray(jax.nn.softmax(x, where=w)), want, rtol=1e-6)
    logs = np.asarray(jax.nn.log_softmax(x, axis=-1, where=w))
    np.testing.assert_allclose(logs[0, [0, 2]], np.log(want[0, [0, 2]]), rtol=1e-6)
    assert np.all(np.isneginf(logs[1])) and np.isneginf(logs[0, 1])
    for f in (jax.nn.softmax, jax.nn.log_softmax):
        g = np.asarray(jax.grad(lambda a: f(a, where=w)[0, 0])(x))
        assert np.all(np.isfinite(g)) and not g[1].any() and g[0, 1] == 0
    everything = np.exp(x - x.max()) / np.exp(x - x.max()).sum()      # JAX's axis=None: all
    np.testing.assert_allclose(np.asarray(jax.nn.softmax(x, axis=None)), everything, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.nn.log_softmax(x, axis=(0, 1))),
                               np.log(everything), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(jax.nn.softmax(x, 0)).sum(0), [1, 1, 1], rtol=1e-6)
    gelu_tanh = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(np.asarray(jax.nn.gelu(x, approximate=True)), gelu_tanh,
                               rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.nn.gelu(x, approximate=False)),
                               np.asarray(jax.nn.gelu(x)))
    np.testing.assert_allclose(np.asarray(jax.nn.glu(x[:, :2], axis=-1)),
                               x[:, :1] / (1 + np.exp(-x[:, 1:2])), rtol=1e-6)
    idx, = jnp.where(np.array([0, 1, 2, 0]) > 0, size=3, fill_value=-1)
    np.testing.assert_array_equal(np.asarray(idx), [1, 2, -1])
    with pytest.raises(TypeError, match="one-argument form"):
        jnp.where(x > 0, x, 0.0, size=3)
    try:
        import jax as real_jax
    except ImportError:
        return
    np.testing.assert_allclose(np.asarray(jax.nn.softmax(x, where=w)),
                               np.asarray(real_jax.nn.softmax(x, where=w)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(jax.nn.gelu(x, approximate=True)),
                               np.asarray(real_jax.nn.gelu(x)), rtol=1e-6)


def test_products_take_precision_and_preferred_element_type_place_and_sized_compress():
    """jnp.dot / matmul / einsum / inner / vdot / tensordot take JAX's `precision` (ignored)
    and `preferred_element_type` (the result's dtype; float16 operands accumulate in it);
    jnp.place(inplace=False); compress / extract with `size` fill the extra slots with
    `fill_value` (it filled them with the element at index fill_value)."""
    x = np.array([[3.0, -1.0, 2.0], [0.5, 4.0, -2.0]], np.float16)
    want = x.astype(np.float32) @ x.T.astype(np.float32)
    for got in (jnp.dot(x, x.T, precision=jax.lax.Precision.HIGHEST,
                        preferred_element_type=np.float32),
                jnp.matmul(x, x.T, precision="highest", preferred_element_type=np.float32),
                jnp.einsum("ij,kj->ik", x, x, preferred_element_type=np.float32),
                jnp.inner(x, x, preferred_element_type=np.float32),
                jnp.tensordot(x, x.T, 1, preferred_element_type=np.float32)):
        assert got.dtype == np.float32
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)
    assert jnp.vdot(x, x, preferred_element_type=np.float32).dtype == np.float32
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(np.asarray(jnp.place(a, a > 2, [10.0, 20.0], inplace=False)),
                                  [[0, 1, 2], [10, 20, 10]])
    with pytest.raises(ValueError, match="inplace=False"):
        jnp.place(a, a > 2, [1.0])
    m = np.array([[True, False, True], [True, True, False]])
    np.testing.assert_array_equal(np.asarray(jnp.extract(m, a, size=6, fill_value=-1)),
                                  [0, 2, 3, 4, -1, -1])
    got = jax.jit(lambda c: jnp.compress(c, a, axis=1, size=3, fill_value=9.0))(
        np.array([False, True, True]))
    np.testing.assert_array_equal(np.asarray(got), [[1, 2, 9], [4, 5, 9]])


def test_check_grads_takes_python_numbers_as_the_transforms_do():
    """JAX's transformations tutorial: check_grads(loss, (W, b)) with a float32 W and a
    Python float b (its tangents are drawn in the dtype the transforms give b)."""
    inputs = jnp.array([[0.52, 1.12, 0.77], [0.88, -1.08, 0.15], [0.52, 0.06, -1.30]])
    targets = jnp.array([True, True, False])

    def loss(W, b):
        preds = 0.5 * (jnp.tanh((jnp.dot(inputs, W) + b) / 2) + 1)
        return -jnp.sum(jnp.log(preds * targets + (1 - preds) * (1 - targets)))
    check_grads(loss, (jnp.array([0.1, 0.4, -0.3]), 0.5), order=2)
    check_grads(lambda x, y: x * y ** 2, (1.5, 2.0), order=2)

    @jax.custom_jvp
    def wrong(x):
        return jnp.sin(x)
    wrong.defjvp(lambda primals, tangents: (jnp.sin(primals[0]), 2 * tangents[0]))
    with pytest.raises(AssertionError, match="finite differences"):
        check_grads(wrong, (0.7,), order=1, modes=("fwd",))


def test_check_grads_takes_complex_values_with_jax_convention():
    z = jnp.asarray(np.array([1 + 2j, -0.5 + 0.3j]))
    for f in (lambda z: jnp.sin(z) * z, lambda z: jnp.abs(z) ** 2, lambda z: jnp.real(z * z),
              lambda z: jnp.conj(z) * 2):
        check_grads(f, (z,), order=2)
    check_grads(lambda x: x * (1 + 2j), (jnp.asarray([0.3, 0.7]),), order=2)
    check_grads(jnp.exp, (z.astype(jnp.complex64),), order=1)

    @jax.custom_vjp
    def doubled(z):
        return z * 2
    # a cotangent conjugated once too often: wrong for complex values only
    doubled.defvjp(lambda z: (z * 2, None), lambda _, g: (jnp.conj(g) * 2,))
    with pytest.raises(AssertionError, match="vjp disagrees"):
        check_grads(doubled, (z,), order=1, modes=("rev",))
