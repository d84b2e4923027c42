"""Plots of an Attribution: each returns an Axes whose drawn content matches the values."""
from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.container import ErrorbarContainer

import xaicore
from xaicore import Attribution, InputError


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _saved(ax, tmp_path, name):
    path = tmp_path / f"{name}.png"
    ax.figure.savefig(path, dpi=60)
    assert path.stat().st_size > 1000
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def _bars(ax):
    """(label, width, y) of every bar, top to bottom."""
    labels = {round(t, 6): lab.get_text()
              for t, lab in zip(ax.get_yticks(), ax.get_yticklabels())}
    rows = [(labels[round(p.get_y() + p.get_height() / 2, 6)], p.get_width(),
             p.get_y() + p.get_height() / 2, p.get_x()) for p in ax.patches]
    return sorted(rows, key=lambda r: -r[2])


def tabular(n=6, m=4, outputs=None, stderr=False, seed=0):
    rng = np.random.default_rng(seed)
    shape = (n, m) if outputs is None else (n, m, outputs)
    stats = {"max_efficiency_gap": 0.0}
    if stderr:
        stats["stderr"] = rng.uniform(0.01, 0.2, size=shape)
    return Attribution(
        values=rng.normal(size=shape),
        base_values=rng.normal(size=(n,) if outputs is None else (n, outputs)),
        data=rng.normal(size=(n, m)), method="KernelShap",
        feature_names=[f"x{i}" for i in range(m)],
        output_names=None if outputs is None else [f"out{i}" for i in range(outputs)],
        target=None, stats=stats)


# -- bar -----------------------------------------------------------------------------------
def test_bar_lengths_order_and_error_bars(tmp_path):
    att = tabular(n=7, m=5, stderr=True)
    ax = att.plot_bar()
    bars = _bars(ax)
    mean_abs = np.abs(att.values).mean(0)
    assert [b[0] for b in bars] == [f"x{i}" for i in np.argsort(-mean_abs)]
    np.testing.assert_allclose([b[1] for b in bars], np.sort(mean_abs)[::-1])
    assert all(b[3] == 0 for b in bars)
    # error bars: +-2 standard errors of the mean |value| (sqrt(sum se^2) / n)
    (eb,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    segs = eb.lines[2][0].get_segments()
    half = np.array([(s[1][0] - s[0][0]) / 2 for s in segs])
    se = np.sqrt((att.stats["stderr"] ** 2).sum(0)) / 7
    order = np.argsort(-mean_abs)
    # the error bars are drawn in bar order, top to bottom
    np.testing.assert_allclose(half, 2 * se[order])
    legend = ax.get_legend()
    assert legend is not None and "2 standard errors" in legend.get_texts()[0].get_text()
    _saved(ax, tmp_path, "bar")


def test_bar_without_stderr_has_no_error_bars_and_folds_the_rest():
    att = tabular(n=4, m=12)
    ax = att.plot_bar(max_display=5)
    assert not [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert ax.get_legend() is None
    bars = _bars(ax)
    assert len(bars) == 5
    mean_abs = np.abs(att.values).mean(0)
    order = np.argsort(-mean_abs)
    np.testing.assert_allclose([b[1] for b in bars[:4]], mean_abs[order[:4]])
    assert bars[-1][0] == "Sum of 8 other features"
    np.testing.assert_allclose(bars[-1][1], mean_abs[order[4:]].sum())


def test_bar_on_given_axes_and_output_by_name_or_index():
    att = tabular(n=5, m=3, outputs=3, stderr=True)
    _, axes = plt.subplots(1, 2)
    ax = att.plot_bar(ax=axes[1], output="out2")
    assert ax is axes[1]
    np.testing.assert_allclose(sorted(b[1] for b in _bars(ax)),
                               np.sort(np.abs(att.values[..., 2]).mean(0)))
    ax0 = att.plot_bar(ax=axes[0], output=1)
    np.testing.assert_allclose(sorted(b[1] for b in _bars(ax0)),
                               np.sort(np.abs(att.values[..., 1]).mean(0)))
    assert "out1" in ax0.get_title()


# -- waterfall -----------------------------------------------------------------------------
@pytest.mark.parametrize("max_display", [10, 3])
def test_waterfall_ends_at_base_plus_sum(tmp_path, max_display):
    att = tabular(n=4, m=6, outputs=2)
    row, out = 2, 1
    ax = att.plot_waterfall(row=row, output=out, max_display=max_display)
    vals, base = att.values[row, :, out], att.base_values[row, out]
    bars = _bars(ax)                                   # top to bottom
    # the chain: bottom bar starts at the base, each bar starts where the one below ends
    starts = [b[3] for b in bars][::-1]
    ends = [b[3] + b[1] for b in bars][::-1]
    np.testing.assert_allclose(starts[0], base)
    np.testing.assert_allclose(starts[1:], ends[:-1])
    np.testing.assert_allclose(ends[-1], base + vals.sum())
    (pred,) = [ln for ln in ax.lines if ln.get_gid() == "prediction"]
    np.testing.assert_allclose(pred.get_xdata()[0], base + vals.sum())
    (b0,) = [ln for ln in ax.lines if ln.get_gid() == "base"]
    np.testing.assert_allclose(b0.get_xdata()[0], base)
    order = np.argsort(-np.abs(vals))
    if max_display >= 6:
        assert len(bars) == 6
        np.testing.assert_allclose([b[1] for b in bars], vals[order])
    else:
        assert len(bars) == 3
        np.testing.assert_allclose([b[1] for b in bars[:2]], vals[order[:2]])
        assert bars[2][0] == "4 other features"
        np.testing.assert_allclose(bars[2][1], vals[order[2:]].sum())
    # tabular data: the feature's value shown next to its name
    top = order[0]
    assert bars[0][0] == f"x{top} = {att.data[row, top]:.4g}"
    texts = " ".join(t.get_text() for t in ax.texts)
    assert f"f(x) = {base + vals.sum():.3g}" in texts and "E[f(X)]" in texts
    _saved(ax, tmp_path, f"waterfall{max_display}")


def test_waterfall_single_output_and_negative_row():
    att = tabular(n=3, m=4)
    ax = att.plot_waterfall(row=-1)
    bars = _bars(ax)
    np.testing.assert_allclose(bars[0][3] + bars[0][1],
                               att.base_values[2] + att.values[2].sum())


# -- real methods --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def exact_mlp():
    keras = pytest.importorskip("keras")
    init = keras.initializers.GlorotUniform(seed=0)
    model = keras.Sequential([
        keras.Input((5,)),
        keras.layers.Dense(12, activation="tanh", kernel_initializer=init),
        keras.layers.Dense(2, activation="sigmoid", kernel_initializer=init),
    ])
    fn = xaicore.export(model)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 5)).astype("float32")
    B = rng.normal(size=(6, 5)).astype("float32")
    names = ["age", "bmi", "bp", "s1", "s2"]
    return fn, X, xaicore.ExactShap(fn, B, feature_names=names).explain(X)


def test_plots_of_exact_shap_on_a_keras_mlp(exact_mlp, tmp_path):
    fn, X, att = exact_mlp
    assert att.values.shape == (4, 5, 2) and att.target is None
    with pytest.raises(InputError, match="output"):
        att.plot_bar()
    out_name = att.output_names[1]
    ax = att.plot_bar(output=out_name)
    bars = _bars(ax)
    mean_abs = np.abs(att.values[..., 1]).mean(0)
    assert [b[0] for b in bars] == [att.feature_names[i] for i in np.argsort(-mean_abs)]
    np.testing.assert_allclose([b[1] for b in bars], np.sort(mean_abs)[::-1], rtol=1e-6)
    _saved(ax, tmp_path, "exact_bar")

    ax = att.plot_waterfall(row=1, output=1)
    top = max(_bars(ax), key=lambda b: b[2])
    pred = float(np.asarray(fn(X[1:2]))[0, 1])       # efficiency: base + sum = f(x)
    np.testing.assert_allclose(top[3] + top[1], pred, atol=1e-5)
    np.testing.assert_allclose(top[3] + top[1],
                               att.base_values[1, 1] + att.values[1, :, 1].sum(), rtol=1e-6)
    _saved(ax, tmp_path, "exact_waterfall")

    ax = att.plot_beeswarm(output=0)
    assert len(ax.collections) >= 5
    _saved(ax, tmp_path, "exact_beeswarm")


@pytest.fixture(scope="module")
def tiny_cnn():
    keras = pytest.importorskip("keras")
    init = keras.initializers.GlorotUniform(seed=0)
    inp = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", kernel_initializer=init)(inp)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inp, keras.layers.Dense(3, kernel_initializer=init)(h))
    X = np.random.default_rng(1).uniform(size=(2, 8, 8, 3)).astype("float32")
    return xaicore.export(model), X


def test_plot_image_of_saliency(tiny_cnn, tmp_path):
    fn, X = tiny_cnn
    att = xaicore.Saliency(fn).explain(X, target=2)
    assert att.values.shape == (2, 8, 8, 3)
    ax = att.plot_image(row=1)
    (im,) = [i for i in ax.images if i.get_gid() == "attribution"]
    heat = att.values[1].sum(-1)
    np.testing.assert_allclose(np.asarray(im.get_array()), heat, rtol=1e-6)
    vmax = np.abs(heat).max()
    np.testing.assert_allclose(im.get_clim(), (-vmax, vmax), rtol=1e-6)
    assert len(ax.images) == 2                          # grayscale image below the heat map
    assert len(ax.figure.axes) == 2                     # the colorbar
    _saved(ax, tmp_path, "saliency")

    ax = att.plot_image(row=0, overlay=False, cmap="bwr")
    assert len(ax.images) == 1
    assert ax.images[0].get_cmap().name == "bwr"
    np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), att.values[0].sum(-1),
                               rtol=1e-6)

    all_out = xaicore.Saliency(fn).explain(X)           # target None: trailing output axis
    with pytest.raises(InputError, match="output"):
        all_out.plot_image()
    ax = all_out.plot_image(output=2, row=1)
    np.testing.assert_allclose(np.asarray(ax.images[-1].get_array()), heat, rtol=1e-5)


def test_plot_image_of_patch_shapley(tiny_cnn, tmp_path):
    fn, X = tiny_cnn
    groups = xaicore.patch_groups((8, 8, 3), 4)        # 4 players
    att = xaicore.ExactShap(fn, np.zeros((1, 8, 8, 3), "float32"), groups=groups
                            ).explain(X, target=0)
    assert att.values.shape == (2, 4)
    with pytest.raises(InputError, match="groups"):   # an Attribution without its map
        dataclasses.replace(att, groups=None).plot_image()
    np.testing.assert_array_equal(att.groups[1], groups)     # the map travels with it
    ax = att.plot_image(groups=groups, row=1)
    expected = np.repeat(np.repeat(att.values[1].reshape(2, 2), 4, 0), 4, 1)
    (im,) = [i for i in ax.images if i.get_gid() == "attribution"]
    np.testing.assert_allclose(np.asarray(im.get_array()), expected)
    _saved(ax, tmp_path, "patches")
    # a [H, W] map works too
    ax = att.plot_image(groups=groups[..., 0], row=1)
    np.testing.assert_allclose(np.asarray(ax.images[-1].get_array()), expected)


def test_plot_image_grayscale_and_per_channel_groups():
    rng = np.random.default_rng(3)
    data = rng.uniform(size=(1, 4, 4))
    v = rng.normal(size=(1, 4, 4))
    ax = Attribution(values=v, base_values=np.zeros(1), data=data, method="Saliency",
                     target=np.array([0])).plot_image()
    np.testing.assert_allclose(np.asarray(ax.images[-1].get_array()), v[0])
    # groups that give each channel its own player: the pixel sums its players' values
    g = np.stack([np.zeros((4, 4), int), np.ones((4, 4), int)], axis=-1)
    att = Attribution(values=np.array([[0.5, -2.0]]), base_values=np.zeros(1),
                      data=rng.uniform(size=(1, 4, 4, 2)), method="KernelShap",
                      target=np.array([0]))
    ax = att.plot_image(groups=g)
    np.testing.assert_allclose(np.asarray(ax.images[-1].get_array()), np.full((4, 4), -1.5))


# -- errors --------------------------------------------------------------------------------
def test_output_errors():
    att = tabular(outputs=3)
    for bad, word in [(None, "3 outputs"), (3, "out of range"), (-1, "out of range"),
                      ("nope", "no output named"), (1.0, "index or name"),
                      (True, "index or name")]:
        for plot in (att.plot_bar, att.plot_waterfall, att.plot_beeswarm):
            with pytest.raises(InputError, match="output") as e:
                plot(output=bad)
            assert word in str(e.value)
    single = tabular()
    with pytest.raises(InputError, match="output: .*no output axis"):
        single.plot_bar(output=0)
    targeted = Attribution(values=np.ones((2, 3)), base_values=np.zeros(2),
                           data=np.ones((2, 3)), method="Saliency", output_names=["a", "b"],
                           target=np.array([1, 1]))
    assert "'b'" in targeted.plot_bar(output="b").get_title()
    with pytest.raises(InputError, match="output"):
        targeted.plot_bar(output=0)


def test_other_argument_errors():
    att = tabular()
    with pytest.raises(InputError, match="row"):
        att.plot_waterfall(row=6)
    with pytest.raises(InputError, match="max_display"):
        att.plot_bar(max_display=0)
    with pytest.raises(InputError, match="data"):
        att.plot_image()                               # tabular data is no image
    img = Attribution(values=np.ones((1, 3)), base_values=np.zeros(1),
                      data=np.ones((1, 4, 4, 3)), method="KernelShap", target=np.array([0]))
    with pytest.raises(InputError, match="groups"):
        img.plot_image(groups=np.zeros((5, 5), int))
    with pytest.raises(InputError, match="groups"):
        img.plot_image(groups=np.full((4, 4), 7))
    with pytest.raises(InputError, match="groups"):
        img.plot_image(groups=np.zeros((4, 4)))


def test_missing_matplotlib_names_the_extra(monkeypatch):
    att = tabular()
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "xaicore\[plot\]"'):
        att.plot_bar()

