"""Integrated gradients against closed forms, completeness, compile counts and bad input."""
from __future__ import annotations

import jax.numpy as jnp
import keras
import numpy as np
import pytest

import xaicore
from xaicore.methods._integrated_gradients import RULES, IntegratedGradients, quadrature

W = np.array([[1.0, 2.0], [-1.0, 0.5], [3.0, -2.0], [0.25, 1.5]], np.float32)


@pytest.fixture(scope="module")
def linear():
    fn = xaicore.from_jax(lambda x: x @ jnp.asarray(W) + 0.5, input_shape=(4,))
    X = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    return fn, X


@pytest.mark.parametrize("rule", RULES)
def test_linear_model_exact(linear, rule):
    fn, X = linear
    b = np.linspace(-1, 1, 4).astype(np.float32)
    att = IntegratedGradients(fn, n_steps=3, method=rule).explain(X, baseline=b)
    # captum's riemann_trapezoid weights sum to (n - 1) / n: its attributions too
    scale = 2 / 3 if rule == "riemann_trapezoid" else 1.0
    np.testing.assert_allclose(att.values, scale * (X - b)[..., None] * W[None], atol=2e-6)
    np.testing.assert_allclose(att.base_values, np.broadcast_to(b @ W + 0.5, (7, 2)),
                               atol=1e-6)
    assert att.values.shape == (7, 4, 2) and att.stats["completeness_gap"].shape == (7, 2)
    if rule != "riemann_trapezoid":
        assert att.stats["max_completeness_gap"] < 1e-5


def test_targets_and_baselines(linear):
    fn, X = linear
    ig = IntegratedGradients(fn, n_steps=4)
    t = np.arange(7) % 2
    for baseline, b in [(None, 0.0), (np.ones(4), 1.0), (np.ones((1, 4)), 1.0), (2.0, 2.0),
                        (np.full((7, 4), -1.0), -1.0)]:
        att = ig.explain(X, target=t, baseline=baseline)
        np.testing.assert_allclose(att.values, (X - b) * W.T[t], atol=2e-6)
        assert att.values.shape == (7, 4) and att.stats["completeness_gap"].shape == (7,)
    att = ig.explain(X, target="predicted")
    np.testing.assert_array_equal(att.target, np.argmax(X @ W, axis=1))
    att = IntegratedGradients(fn, baseline=np.ones(4)).explain(X, target=1)
    np.testing.assert_allclose(att.values, (X - 1) * W[:, 1], atol=2e-6)


def test_quadrature_weights_and_orders():
    for rule in RULES:
        a, w = quadrature(rule, 5)
        assert np.isclose(w.sum(), 0.8 if rule == "riemann_trapezoid" else 1.0), rule
        assert a.min() >= 0 and a.max() <= 1
    a, w = quadrature("gausslegendre", 4)   # exact for polynomials of degree 7
    assert np.isclose((w * a ** 7).sum(), 1 / 8)


def captum_rule(method: str, n: int) -> tuple[list[float], list[float]]:
    """captum's ``riemann_builders`` / ``gauss_legendre_builders``, written out by hand:
    step sizes ``1 / n`` (the trapezoid's two ends halved), alphas by ``linspace``."""
    if method == "gausslegendre":
        x, w = np.polynomial.legendre.leggauss(n)
        return list(0.5 * (1 + x)), list(0.5 * w)
    deltas = [1 / n] * n
    if method == "riemann_trapezoid":
        deltas[0] /= 2
        deltas[-1] /= 2
        return list(np.linspace(0, 1, n)), deltas
    ends = {"riemann_left": (0, 1 - 1 / n), "riemann_right": (1 / n, 1),
            "riemann_middle": (1 / (2 * n), 1 - 1 / (2 * n))}[method]
    return list(np.linspace(*ends, n)), deltas


@pytest.mark.parametrize("n", [2, 5, 50])
@pytest.mark.parametrize("rule", [r for r in RULES if r != "trapezoid"])
def test_rules_are_captums(rule, n):
    a, w = quadrature(rule, n)
    ca, cw = captum_rule(rule, n)
    np.testing.assert_array_equal(a, ca)
    np.testing.assert_array_equal(w, cw)
    if rule == "riemann_trapezoid":            # captum's trapezoid falls short of 1
        assert np.isclose(w.sum(), (n - 1) / n) and w[0] == w[-1] == 1 / (2 * n)


@pytest.mark.parametrize("n", [2, 5, 50])
def test_composite_trapezoid_sums_to_one(n):
    a, w = quadrature("trapezoid", n)
    np.testing.assert_allclose(a, np.arange(n) / (n - 1), atol=1e-15)
    want = np.full(n, 1 / (n - 1))
    want[[0, -1]] /= 2
    np.testing.assert_allclose(w, want, rtol=1e-15)
    assert np.isclose(w.sum(), 1.0)
    ca, cw = captum_rule("riemann_trapezoid", n)      # same points, weights n / (n - 1) x
    np.testing.assert_array_equal(a, ca)
    np.testing.assert_allclose(w, np.asarray(cw) * n / (n - 1), rtol=1e-14)


@pytest.mark.parametrize("rule", [r for r in RULES if r != "trapezoid"])
def test_attributions_equal_captums(rule):
    torch = pytest.importorskip("torch")
    captum_attr = pytest.importorskip("captum.attr")
    rng = np.random.default_rng(7)
    w1 = rng.normal(size=(4, 6))
    w2 = rng.normal(size=(6, 2))
    X = rng.normal(size=(5, 4)).astype(np.float32)
    fn = xaicore.from_jax(lambda x: jnp.tanh(x @ w1.astype(np.float32)) @ w2.astype(
        np.float32), input_shape=(4,))
    t1, t2 = torch.tensor(w1, dtype=torch.float32), torch.tensor(w2, dtype=torch.float32)
    ig = captum_attr.IntegratedGradients(lambda x: torch.tanh(x @ t1) @ t2)
    for n in (2, 5, 50):
        ours = IntegratedGradients(fn, n_steps=n, method=rule).explain(X, target=1).values
        theirs = ig.attribute(torch.tensor(X), target=1, n_steps=n, method=rule).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


def smooth_cnn(seed: int = 0) -> keras.Model:
    init = keras.initializers.GlorotUniform(seed=seed)
    inp = keras.Input((8, 8, 2))
    h = keras.layers.Conv2D(4, 3, activation="softplus", kernel_initializer=init)(inp)
    h = keras.layers.AveragePooling2D(2)(h)
    h = keras.layers.Conv2D(4, 3, activation="tanh", kernel_initializer=init)(h)
    h = keras.layers.Flatten()(h)
    out = keras.layers.Dense(3, kernel_initializer=init)(h)
    return keras.Model(inp, out)


def test_cnn_gausslegendre_completeness_beats_riemann():
    fn = xaicore.export(smooth_cnn())
    X = np.random.default_rng(1).normal(size=(4, 8, 8, 2)).astype(np.float32) * 2
    att = IntegratedGradients(fn, n_steps=64).explain(X, target=0)
    rel = att.stats["completeness_gap"] / np.abs(
        np.asarray(fn(X))[:, 0] - att.base_values)
    assert rel.max() < 1e-3

    delta = np.abs(np.asarray(fn(X))[:, 0] - att.base_values)

    def rel_gap(rule: str, n: int) -> float:
        att = IntegratedGradients(fn, n_steps=n, method=rule).explain(X, target=0)
        return float((att.stats["completeness_gap"] / delta).max())
    # Gauss-Legendre reaches 1e-3 with 4 steps; no Riemann rule does with twice as many.
    assert rel_gap("gausslegendre", 4) < 1e-3
    for rule in ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid"):
        assert rel_gap(rule, 8) > 1e-3, rule


def test_one_compile_per_call_shape_and_padded_chunks(linear):
    fn, _ = linear
    ig = IntegratedGradients(fn, n_steps=8, max_batch=32)   # 4 rows x 8 steps per call
    X = np.random.default_rng(2).normal(size=(11, 4)).astype(np.float32)  # 3 chunks, padded
    att = ig.explain(X, target=0)
    assert att.stats["rows_per_call"] == 32 and ig.engine.compiled == 1
    ig.explain(X[:9], target=1)                              # same chunk shape
    assert ig.engine.compiled == 1
    np.testing.assert_allclose(att.values, X * W[:, 0], atol=2e-6)


def test_model_rows_per_call_bounded_and_steps_blocked():
    seen: list[int] = []

    def f(x):
        seen.append(x.shape[0])          # runs at trace time: the per-call batch
        return jnp.tanh(x @ jnp.asarray(W))

    fn = xaicore.from_jax(f, input_shape=(4,))
    X = np.random.default_rng(3).normal(size=(5, 4)).astype(np.float32)
    ref = IntegratedGradients(fn, n_steps=50).explain(X)
    for max_batch in (16, 64, 100):       # n_steps > max_batch: steps scanned in blocks
        seen.clear()
        att = IntegratedGradients(fn, n_steps=50, max_batch=max_batch).explain(X)
        np.testing.assert_allclose(att.values, ref.values, atol=1e-6)
        assert seen and max(seen) <= max_batch
        assert att.stats["rows_per_call"] <= max_batch


def test_multi_input_attributes_every_input():
    init = keras.initializers.GlorotUniform(seed=0)
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    h = keras.layers.Dense(6, activation="tanh", kernel_initializer=init)(
        keras.layers.Concatenate()([a, b]))
    model = keras.Model({"a": a, "b": b}, keras.layers.Dense(2, kernel_initializer=init)(h))
    rng = np.random.default_rng(4)
    X = {"a": rng.normal(size=(3, 4)).astype("float32"),
         "b": rng.normal(size=(3, 3)).astype("float32")}
    att = IntegratedGradients(model, n_steps=32).explain(X, target=1)
    assert att.values.shape == (3, 4) and att.stats["values_b"].shape == (3, 3)
    np.testing.assert_array_equal(att.values, att.stats["values_a"])
    assert att.stats["max_completeness_gap"] < 1e-4


@pytest.mark.parametrize("kwargs, arg", [
    ({"n_steps": 0}, "n_steps"), ({"n_steps": 2.5}, "n_steps"),
    ({"method": "simpson"}, "method"), ({"method": "riemann_trapezoid", "n_steps": 1},
                                        "n_steps"),
    ({"max_batch": 0}, "max_batch")])
def test_bad_configuration(linear, kwargs, arg):
    with pytest.raises(xaicore.InputError, match=arg):
        IntegratedGradients(linear[0], **kwargs)


@pytest.mark.parametrize("baseline", [np.zeros(3), np.zeros((2, 4)), np.zeros((7, 4, 1)),
                                      np.full(4, np.nan)])
def test_bad_baseline(linear, baseline):
    fn, X = linear
    with pytest.raises(xaicore.InputError, match="baseline"):
        IntegratedGradients(fn, baseline=baseline).explain(X)


def test_integer_inputs_refused():
    model = keras.Sequential([keras.Input((5,), dtype="int32"), keras.layers.Embedding(9, 2),
                              keras.layers.Flatten(), keras.layers.Dense(1)])
    with pytest.raises(xaicore.InputError, match="integer"):
        IntegratedGradients(model)
