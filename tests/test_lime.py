"""LIME against independent truths: a closed form, a weighted ridge fitted here, captum."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from test_shapley import small_model

import xaicore
from xaicore.methods._lime import Lime, lime_masks


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    fn = xaicore.export(small_model())
    X = rng.normal(size=(3, 5)).astype("float32")
    B = rng.normal(size=(6, 5)).astype("float32")
    return fn, X, B


def masked_values(fn, x, B, z):
    """``mean_k f(where(z, x, b_k))`` for every row of ``z`` (bool over input elements),
    straight from the model: ``[S, O]``."""
    xm = np.where(z[:, None, :], x[None, None, :], B[None, :, :])
    y = np.asarray(fn(xm.reshape(-1, x.size).astype("float32")), dtype=np.float64)
    return y.reshape(len(z), len(B), -1).mean(axis=1)


def weighted_ridge(z, w, y, alpha):
    """Normal equations of ``sum_s w_s (y_s - b - z_s.beta)^2 + alpha |beta|^2``:
    ``(b [O], beta [M, O], weighted R^2 [O])``."""
    D = np.concatenate([np.ones((len(z), 1)), z.astype(float)], axis=1)
    A = D.T @ (w[:, None] * D) + alpha * np.diag([0.0] + [1.0] * z.shape[1])
    sol = np.linalg.solve(A, D.T @ (w[:, None] * y))
    ybar = (w @ y) / w.sum()
    r2 = 1 - (w @ (y - D @ sol) ** 2) / (w @ (y - ybar) ** 2)
    return sol[0], sol[1:], r2


def test_linear_model_closed_form():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(8, 2)).astype("float32")
    fn = xaicore.from_jax(lambda p, x: x @ p, jnp.asarray(w), input_shape=(8,))
    X = rng.normal(size=(4, 8)).astype("float32")
    B = rng.normal(size=(10, 8)).astype("float32")
    for distance, alpha in (("cosine", 1e-10), ("euclidean", 0.0)):
        att = Lime(fn, B, n_samples=200, alpha=alpha, distance=distance, seed=2).explain(X)
        np.testing.assert_allclose(att.values, w[None] * (X - B.mean(0))[:, :, None],
                                   atol=1e-5)
        np.testing.assert_allclose(att.base_values, np.broadcast_to((B @ w).mean(0), (4, 2)),
                                   atol=1e-5)
        np.testing.assert_allclose(att.stats["score"], 1.0, atol=1e-6)
        assert "max_efficiency_gap" not in att.stats


@pytest.mark.parametrize("distance,groups", [("cosine", None),
                                             ("euclidean", [0, 0, 1, 2, 2])])
def test_equals_weighted_ridge_on_the_model(setup, distance, groups):
    fn, X, B = setup
    lime = Lime(fn, B, n_samples=150, distance=distance, alpha=0.5, groups=groups, seed=4)
    att = lime.explain(X)
    z = lime.masks
    m = z.shape[1]
    assert z.shape == (150, 5 if groups is None else 3) and z[0].all()
    # the kernel, from the distances as lime computes them
    if distance == "cosine":
        zn = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-300)
        d, width = 1 - zn @ (np.ones(m) / np.sqrt(m)), 0.25
    else:
        d, width = np.linalg.norm(z - 1.0, axis=1), 0.75 * np.sqrt(m)
    w = np.sqrt(np.exp(-d ** 2 / width ** 2))
    np.testing.assert_allclose(lime.weights, w, rtol=1e-12)
    assert lime.kernel_width == pytest.approx(width)
    elem = z if groups is None else z[:, np.asarray(groups)]
    for i, x in enumerate(X):
        y = masked_values(fn, x, B, elem)                    # every sample, duplicates too
        b, beta, r2 = weighted_ridge(z, w, y, 0.5)
        np.testing.assert_allclose(att.values[i], beta, atol=2e-6)
        np.testing.assert_allclose(att.base_values[i], b, atol=2e-6)
        np.testing.assert_allclose(att.stats["score"][i], r2, atol=2e-6)
    k = len(B)
    n_mid = int(((lime.design.sum(1) > 0) & (lime.design.sum(1) < m)).sum())
    empty = int((lime.design.sum(1) == 0).any())
    assert att.stats["model_rows"] == 3 * (n_mid * k + 1) + empty * k
    assert att.stats["coalitions"] == len(lime.design) <= 150


def test_equals_sklearn_ridge(setup):
    linear_model = pytest.importorskip("sklearn.linear_model")
    fn, X, B = setup
    lime = Lime(fn, B, n_samples=120, seed=5)                # alpha=1, lime's Ridge default
    att = lime.explain(X, target=1)
    for i, x in enumerate(X):
        y = masked_values(fn, x, B, lime.masks)[:, 1]
        ridge = linear_model.Ridge(alpha=1.0).fit(lime.masks, y, sample_weight=lime.weights)
        np.testing.assert_allclose(att.values[i], ridge.coef_, atol=2e-6)
        np.testing.assert_allclose(att.base_values[i], ridge.intercept_, atol=2e-6)
        np.testing.assert_allclose(att.stats["score"][i],
                                   ridge.score(lime.masks, y, sample_weight=lime.weights),
                                   atol=2e-6)


def test_equals_captum_lime_on_the_same_samples(setup):
    """captum's LimeBase fed the same samples, its own exponential kernel (cosine distance
    in the interpretable space, width 0.25) and its scikit-learn ridge."""
    torch = pytest.importorskip("torch")
    lime_mod = pytest.importorskip("captum.attr._core.lime")
    models = pytest.importorskip("captum._utils.models.linear_model")
    fn, X, B = setup
    b = B[:1]                                              # captum: one baseline
    lime = Lime(fn, b, n_samples=100, seed=6)
    att = lime.explain(X, target=0)
    kernel = lime_mod.get_exp_kernel_similarity_function("cosine", kernel_width=0.25)

    def samples(inputs, **kwargs):
        for z in lime.masks:
            yield torch.from_numpy(z[None].astype(np.float32))

    def similarity(inputs, model_input, z, **kwargs):
        return kernel(torch.ones_like(z), z, None)        # distance of z from all-present

    def forward(t):
        return torch.from_numpy(np.array(fn(t.numpy())))

    for i, x in enumerate(X):
        captum = lime_mod.LimeBase(
            forward, models.SkLearnRidge(alpha=1.0), similarity_func=similarity,
            perturb_func=samples, perturb_interpretable_space=True,
            from_interp_rep_transform=lambda z, inp, **kw: torch.where(
                z.bool(), inp, torch.from_numpy(b)),
            to_interp_rep_transform=None)
        coef = captum.attribute(torch.from_numpy(x[None]), target=0,
                                n_samples=len(lime.masks))
        np.testing.assert_allclose(att.values[i], coef.detach().numpy().ravel(), atol=1e-4)


def test_sampling_scheme_and_seed(setup):
    fn, X, B = setup
    z = lime_masks(6, 3001, seed=0)
    assert z[0].all()
    off = (~z[1:]).sum(1)
    assert off.min() == 1 and off.max() == 6
    counts = np.bincount(off, minlength=7)[1:]
    assert counts.min() > 400 and counts.max() < 600       # uniform over 1..6 (500 each)
    a1 = Lime(fn, B, n_samples=60, seed=7)
    a2 = Lime(fn, B, n_samples=60, seed=7)
    a3 = Lime(fn, B, n_samples=60, seed=8)
    np.testing.assert_array_equal(a1.masks, a2.masks)
    v1, v2 = a1.explain(X).values, a2.explain(X).values
    np.testing.assert_array_equal(v1, v2)
    assert not np.array_equal(a1.masks, a3.masks)
    assert not np.allclose(a3.explain(X).values, v1)
    a1.explain(X + 1)                                       # same shapes: no new compile
    assert a1.engine.compiled == 1


def test_targets(setup):
    fn, X, B = setup
    lime = Lime(fn, B, n_samples=50)
    full = lime.explain(X)
    assert full.values.shape == (3, 5, 2) and full.base_values.shape == (3, 2)
    one = lime.explain(X, target=1)
    np.testing.assert_allclose(one.values, full.values[..., 1], atol=1e-12)
    np.testing.assert_allclose(one.stats["score"], full.stats["score"][:, 1])
    rows = lime.explain(X, target=[1, 0, 1])
    np.testing.assert_allclose(rows.values[1], full.values[1, :, 0], atol=1e-12)
    pred = np.argmax(np.asarray(fn(X)), axis=1)
    np.testing.assert_allclose(lime.explain(X, target="predicted").base_values,
                               full.base_values[np.arange(3), pred], atol=1e-12)


@pytest.mark.parametrize("kwargs,match", [
    ({"n_samples": 1}, "n_samples: expected an int >= 2"),
    ({"n_samples": 10.0}, "n_samples: expected an int >= 2"),
    ({"n_samples": True}, "n_samples: expected an int >= 2"),
    ({"alpha": -1.0}, "alpha: expected a finite number >= 0"),
    ({"alpha": float("nan")}, "alpha: expected a finite number >= 0"),
    ({"distance": "manhattan"}, "distance: expected one of"),
    ({"kernel_width": 0}, "kernel_width: expected None or a finite number > 0"),
    ({"kernel_width": "wide"}, "kernel_width: expected None or a finite number > 0"),
    ({"kernel_width": float("inf")}, "kernel_width: expected None or a finite number > 0"),
    ({"seed": 1.5}, "seed: expected an int"),
    ({"link": "probit"}, "link: expected one of"),
])
def test_bad_arguments(setup, kwargs, match):
    fn, _, B = setup
    with pytest.raises(xaicore.InputError, match=match):
        Lime(fn, B, **kwargs)


def test_bad_data(setup):
    fn, X, B = setup
    lime = Lime(fn, B, n_samples=20)
    with pytest.raises(xaicore.InputError, match=r"X: expected float32\[batch, 5\]"):
        lime.explain(np.zeros((2, 6)))
    with pytest.raises(xaicore.InputError, match="target: index 2 is out of range"):
        lime.explain(X, target=2)


def test_save_load_round_trip(setup, tmp_path):
    fn, X, B = setup
    att = Lime(fn, B, n_samples=40, feature_names=list("abcde")).explain(X, target=0)
    back = xaicore.Attribution.load(att.save(tmp_path / "lime"))
    np.testing.assert_array_equal(back.values, att.values)
    np.testing.assert_array_equal(back.base_values, att.base_values)
    np.testing.assert_array_equal(back.stats["score"], att.stats["score"])
    np.testing.assert_array_equal(back.target, att.target)
    assert back.method == "Lime" and back.feature_names == list("abcde")
    assert back.params == att.params and back.params["kernel_width"] == 0.25
    assert back.stats["model_rows"] == att.stats["model_rows"]
