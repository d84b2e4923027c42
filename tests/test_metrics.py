"""xaicore.metrics against closed forms, exact enumeration and captum (on a torch copy)."""
from __future__ import annotations

import keras
import numpy as np
import pytest

import xaicore
from xaicore import metrics

W = np.array([3.0, -2.0, 1.0, 0.5, -1.5, 2.5], np.float32)
B = 0.25


def linear() -> keras.Model:
    m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(1)])
    m.layers[0].set_weights([W[:, None], np.array([B], np.float32)])
    return m


def mlp() -> keras.Model:
    init = keras.initializers.GlorotUniform(seed=1)
    return keras.Sequential([keras.Input((6,)),
                             keras.layers.Dense(8, activation="tanh", kernel_initializer=init),
                             keras.layers.Dense(2, kernel_initializer=init)])


@pytest.fixture(scope="module")
def rows():
    sk = pytest.importorskip("sklearn.datasets")
    X = sk.load_diabetes().data[:5, :6]
    return ((X - X.mean(0)) / X.std(0)).astype("float32")


@pytest.fixture(scope="module")
def exact(rows):
    model = linear()
    return model, xaicore.ExactShap(model, np.zeros((1, 6), np.float32)).explain(rows, target=0)


def _hand_curve(contrib: np.ndarray, order: np.ndarray, deletion: bool) -> np.ndarray:
    """f after each step, by hand: the bias plus the contributions still present."""
    m = len(contrib)
    present = [order[k:] if deletion else order[:k] for k in range(m + 1)]
    return np.array([B + contrib[p].sum() for p in present])


def test_deletion_and_insertion_auc_equal_the_hand_computation(rows, exact):
    model, att = exact
    assert np.allclose(att.values, rows * W, atol=1e-5)
    for kind in ("deletion", "insertion"):
        for order in ("morf", "lerf"):
            s = getattr(metrics, kind)(model, rows, att, order=order, steps=6)
            assert np.allclose(s.fractions, np.arange(7) / 6)
            for i, x in enumerate(rows):
                c = x * W
                rank = np.argsort(-c if order == "morf" else c, kind="stable")
                y = _hand_curve(c, rank, kind == "deletion")
                assert np.allclose(s.curves[i], y, atol=1e-5)
                assert s.per_row[i] == pytest.approx(((y[1:] + y[:-1]) / 2).sum() / 6, abs=1e-5)
            assert s.mean == pytest.approx(s.per_row.mean())


def test_deletion_morf_beats_lerf_and_is_the_same_for_any_max_batch(rows, exact):
    model, att = exact
    morf = metrics.deletion(model, rows, att, order="morf")
    lerf = metrics.deletion(model, rows, att, order="lerf")
    assert np.all(morf.per_row < lerf.per_row)
    small = metrics.deletion(model, rows, att, max_batch=3)
    assert np.allclose(small.curves, morf.curves, atol=1e-6)


def test_grouped_players_removal_values_and_fraction_steps(rows):
    model = linear()
    groups = np.array([0, 0, 1, 1, 2, 2])
    base = rows[::-1].copy()                           # one removal row per explained row
    att = xaicore.ExactShap(model, np.zeros((1, 6), np.float32), groups=groups).explain(
        rows, target=0)
    s = metrics.deletion(model, rows, att.values, groups=groups, target=0, baseline=base,
                         fraction=1 / 3)
    assert s.curves.shape == (5, 4)
    for i in range(5):
        c = ((rows[i] - base[i]) * W).reshape(3, 2).sum(1)     # exact group values vs base
        order = np.argsort(-att.values[i], kind="stable")
        y = [B + base[i] @ W + c[order[k:]].sum() for k in range(4)]
        assert np.allclose(s.curves[i], y, atol=1e-4)
    mean = metrics.insertion(model, rows, att.values, groups=groups, target=0,
                             baseline="mean", background=rows, steps=3)
    assert np.allclose(mean.curves[:, 0], B + rows.mean(0) @ W, atol=1e-5)
    assert np.allclose(mean.curves[:, -1], B + rows @ W, atol=1e-5)


def test_blur_removal_of_images_matches_scipy():
    ndimage = pytest.importorskip("scipy.ndimage")
    x = np.random.default_rng(1).random((2, 9, 9, 2)).astype(np.float32)
    wts = np.random.default_rng(2).normal(size=(162, 1)).astype(np.float32)
    model = keras.Sequential([keras.Input((9, 9, 2)), keras.layers.Flatten(),
                              keras.layers.Dense(1, use_bias=False)])
    model.layers[-1].set_weights([wts])
    g = xaicore.patch_groups((9, 9, 2), 3)
    values = np.tile(np.arange(9, dtype=float), (2, 1))
    s = metrics.deletion(model, x, values, groups=g, target=0, baseline="blur",
                         blur_sigma=1.0, steps=9)
    blurred = ndimage.gaussian_filter(x.astype(np.float64), sigma=(0, 1, 1, 0), mode="mirror",
                                      truncate=3.0)
    for k in range(10):
        gone = np.isin(g, np.arange(9 - k, 9))          # the k largest values: patches 8, 7..
        xk = np.where(gone[None], blurred, x).reshape(2, -1)
        assert np.allclose(s.curves[:, k], xk @ wts[:, 0], atol=1e-4)


def test_infidelity_of_exact_shapley_is_zero_and_of_a_wrong_one_is_not(rows, exact):
    model, att = exact
    good = metrics.infidelity(model, rows, att, perturbation="subset", n_samples=32)
    assert np.all(good.per_row < 1e-9)
    wrong = metrics.infidelity(model, rows, att.values[:, ::-1], target=0,
                               perturbation="subset", n_samples=32)
    assert np.all(wrong.per_row > 0.1)
    fc = metrics.faithfulness_correlation(model, rows, att, n_samples=30, subset_size=2)
    assert np.allclose(fc.per_row, 1.0, atol=1e-6)
    assert np.all(metrics.faithfulness_correlation(model, rows, -att.values, target=0,
                                                   n_samples=30).per_row < -0.99)


def test_spearman_top_k_and_agreement_closed_forms(rows, exact):
    p = np.random.default_rng(0).permutation(10).astype(float)[None]
    assert metrics.spearman(p, p).per_row[0] == pytest.approx(1.0)
    assert metrics.spearman(p, -p).per_row[0] == pytest.approx(-1.0)
    assert metrics.spearman([[1.0, 2, 2, 3]], [[1.0, 2, 3, 4]]).per_row[0] == pytest.approx(
        np.corrcoef([1, 2.5, 2.5, 4], [1, 2, 3, 4])[0, 1])
    model, att = exact
    again = xaicore.ExactShap(model, np.zeros((1, 6), np.float32)).explain(rows, target=0)
    agree = metrics.agreement(att, again, k=3)
    for name in ("mean_abs_error", "max_abs_error", "relative_error"):
        assert agree[name].mean == 0.0
    assert agree["spearman"].mean == pytest.approx(1.0)
    assert agree["top_k_overlap"].mean == 1.0
    off = metrics.top_k_overlap([[4.0, 3, 2, 1]], [[1.0, 2, 3, 4]], k=2)
    assert off.per_row[0] == 0.0
    assert metrics.relative_error([[1.0, 1]], [[2.0, 0]]).per_row[0] == pytest.approx(0.5 ** 0.5)


def test_cost_and_efficiency_gap(rows, exact):
    model, att = exact
    c = metrics.cost(att)
    assert c["model_rows"] == att.stats["model_rows"] and c["rows"] == 5
    gap = metrics.efficiency_gap(model, rows, att)
    assert gap.per_row.max() < 1e-5
    assert metrics.efficiency_gap(model, rows, xaicore.Attribution(
        values=att.values + 0.5, base_values=att.base_values, data=rows, method="x",
        target=att.target)).per_row == pytest.approx(np.full(5, 3.0), abs=1e-5)


@pytest.mark.parametrize("call,match", [
    (lambda m, X, a: metrics.deletion(m, X, a.values[:, :4], target=0),
     r"^attributions: expected \[5, 6\]"),
    (lambda m, X, a: metrics.deletion(m, X, a, baseline=np.zeros(4)),
     r"^baseline: expected a number, one row \[6\]"),
    (lambda m, X, a: metrics.deletion(m, X, a, order="best"),
     r"^order: expected one of \['morf', 'lerf'\], got 'best'"),
    (lambda m, X, a: metrics.infidelity(m, X, a, perturbation="square"),
     r"^perturbation: expected one of \['noise', 'subset'\]"),
    (lambda m, X, a: metrics.deletion(m, X, a, steps=7), r"^steps: expected 1..6"),
    (lambda m, X, a: metrics.deletion(m, X, a, baseline="zero"), r"^baseline: expected one of"),
    (lambda m, X, a: metrics.spearman(a, a.values[:3]), r"^reference: expected the shape"),
])
def test_bad_input_is_refused_with_the_argument_named(rows, exact, call, match):
    model, att = exact
    with pytest.raises(xaicore.InputError, match=match):
        call(model, rows, att)


def test_multi_output_attributions_need_a_target(rows):
    model = mlp()
    values = np.ones((5, 6, 2))
    with pytest.raises(xaicore.InputError, match=r"^target: the model has 2 outputs"):
        metrics.deletion(model, rows, values)
    s = metrics.deletion(model, rows, values, target=[0, 1, 0, 1, 0], steps=2)
    assert s.curves.shape == (5, 3)


# -- against captum, on an identical PyTorch copy of the model -----------------------------
def _torch_copy(model: keras.Model):
    torch = pytest.importorskip("torch")
    (w1, b1), (w2, b2) = (layer.get_weights() for layer in model.layers)
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    with torch.no_grad():
        for lin, w, b in ((net[0], w1, b1), (net[2], w2, b2)):
            lin.weight.copy_(torch.tensor(w.T))
            lin.bias.copy_(torch.tensor(b))
    return torch, net


def test_infidelity_matches_captum(rows):
    pytest.importorskip("captum")
    from captum.metrics import infidelity

    from xaicore.metrics._engine import draws
    model = mlp()
    torch, net = _torch_copy(model)
    att = xaicore.Saliency(model, abs=False).explain(rows, target=1)
    noise = draws(3, np.arange(5), 8, (6,), "normal", 0.2).reshape(40, 6)

    def perturb(x):
        i = torch.tensor(noise)
        return i, x - i

    for normalize in (False, True):
        ours = metrics.infidelity(model, rows, att, noise_scale=0.2, n_samples=8, seed=3,
                                  normalize=normalize, max_batch=16)
        theirs = infidelity(net, perturb, torch.tensor(rows), torch.tensor(att.values),
                            target=1, n_perturb_samples=8, normalize=normalize)
        assert np.allclose(ours.per_row, theirs.numpy(), rtol=2e-4, atol=1e-7)


def test_max_sensitivity_matches_captum(rows):
    pytest.importorskip("captum")
    from captum.attr import Saliency
    from captum.metrics import sensitivity_max

    from xaicore.metrics._engine import draws
    model = mlp()
    torch, net = _torch_copy(model)
    delta = draws(5, np.arange(5), 6, (6,), "uniform", 0.3).reshape(30, 6)

    def perturb(x, radius):
        return x + torch.tensor(delta)

    ours = metrics.max_sensitivity(xaicore.Saliency(model), rows, target=0, radius=0.3,
                                   n_samples=6, seed=5)
    theirs = sensitivity_max(Saliency(net).attribute, torch.tensor(rows), perturb_func=perturb,
                             perturb_radius=0.3, n_perturb_samples=6, target=0)
    assert np.allclose(ours.per_row, theirs.numpy(), rtol=1e-4, atol=1e-7)
    avg = metrics.avg_sensitivity(xaicore.Saliency(model), rows, target=0, radius=0.3,
                                  n_samples=6, seed=5)
    assert np.all(avg.per_row <= ours.per_row) and np.all(avg.per_row > 0)
