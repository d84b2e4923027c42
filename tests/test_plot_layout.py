"""Plot layout: legends hide no bar, titles fit a grid of plots and name each row's own
target output, a plot's own figure keeps its labels inside (as ``savefig`` writes it)."""
from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import test_plots
from test_plots import _bars, _saved, tabular

import xaicore

tiny_cnn = test_plots.tiny_cnn                  # the fixture: a small Keras CNN, two images


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# -- layout: nothing hidden, nothing clipped ------------------------------------------------
def _boxes(fig):
    """Draw ``fig`` (Agg) and return a function giving an artist's box in display pixels."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    return lambda artist: artist.get_window_extent(renderer)


def _inside(box, outer, tol=1.0):
    return (box.x0 >= outer.x0 - tol and box.y0 >= outer.y0 - tol
            and box.x1 <= outer.x1 + tol and box.y1 <= outer.y1 + tol)


@pytest.mark.parametrize("own_axes", [True, False])
@pytest.mark.parametrize("rest_is_longest", [False, True])
def test_bar_legend_hides_no_bar(tmp_path, own_axes, rest_is_longest):
    att = tabular(n=6, m=12, stderr=True)
    # the folded "other features" bar at the bottom: the widest, or a short one
    att.values[:, 4:] *= 3.0 if rest_is_longest else 0.05
    ax = att.plot_bar(max_display=5, ax=None if own_axes else plt.subplots()[1])
    bars = _bars(ax)
    assert bars[-1][0] == "Sum of 8 other features"
    assert (bars[-1][1] == max(b[1] for b in bars)) == rest_is_longest
    box = _boxes(ax.figure)
    legend = box(ax.get_legend())
    for patch in ax.patches:
        assert not legend.overlaps(box(patch)), "the legend hides a bar"
    for text in [*ax.texts, ax.title]:                       # the value labels, the title
        assert not legend.overlaps(box(text)), f"the legend hides {text.get_text()!r}"
    assert _inside(legend, ax.figure.bbox)
    if own_axes:                                    # the figure fits its own labels
        for lab in ax.get_yticklabels():
            assert _inside(box(lab), ax.figure.bbox), f"{lab.get_text()!r} is clipped"
    _saved(ax, tmp_path, "bar_legend")


def _targets_att(tiny_cnn, output_names=None):
    fn, X = tiny_cnn
    X = np.concatenate([X, X[::-1], X], axis=0)                       # 6 images
    att = xaicore.Saliency(fn).explain(X, target=[0, 1, 2, 1, 0, 2])
    if output_names is not None:
        att.output_names = output_names
    return att


def test_plot_image_title_names_the_rows_target(tiny_cnn):
    att = _targets_att(tiny_cnn)
    assert att.output_names == ["0", "1", "2"]
    for row, t in enumerate([0, 1, 2, 1, 0, 2]):
        title = att.plot_image(row=row).get_title()
        assert "each row" not in title and f"output {t}" in title and f"row {row}" in title
        title = att.plot_waterfall(row=row, max_display=4).get_title()
        assert "each row" not in title and f"output {t}" in title
        plt.close("all")
    named = _targets_att(tiny_cnn, ["cat", "dog", "emu"])
    assert "'emu'" in named.plot_image(row=2).get_title()
    assert "'dog'" in named.plot_waterfall(row=3).get_title()
    assert "each row" in named.plot_bar().get_title()     # over rows: several targets


@pytest.mark.parametrize("layout", [None, "constrained"])
def test_plot_image_titles_fit_a_grid(tiny_cnn, tmp_path, layout):
    att = _targets_att(tiny_cnn, ["a rather long output name", "dog", "emu"])
    att.method = "IntegratedGradients"                      # the longest method name
    fig, axes = plt.subplots(2, 3, layout=layout)
    for row, ax in enumerate(axes.flat):
        assert att.plot_image(row=row, ax=ax) is ax
    box = _boxes(fig)
    titles = [box(ax.title) for ax in axes.flat]
    for i, t in enumerate(titles):
        assert _inside(t, fig.bbox), f"title {i} leaves the figure"
        for j, u in enumerate(titles[:i]):
            assert not t.overlaps(u), f"titles {j} and {i} overlap"
        colorbar = fig.axes[6 + i]                           # the colorbars come after
        for other in fig.axes:
            if other is not axes.flat[i] and other is not colorbar:
                assert not t.overlaps(box(other)), f"title {i} overlaps another axes"
    shown = " ".join(ax.get_title().replace("\n", " ") for ax in axes.flat)
    assert "'a rather long output name'" in shown and "row 5 output 'emu'" in shown
    fig.savefig(tmp_path / "grid.png", dpi=60)


def test_plot_image_own_figure_fits_its_colorbar_label(tiny_cnn, tmp_path):
    att = _targets_att(tiny_cnn)
    ax = att.plot_image(row=1)
    fig = ax.figure
    (cbar,) = [a for a in fig.axes if a is not ax]
    assert cbar.get_ylabel() == "attribution"
    box = _boxes(fig)
    assert _inside(box(cbar.yaxis.label), fig.bbox), "the colour-bar label is clipped"
    for lab in cbar.get_yticklabels():
        assert _inside(box(lab), fig.bbox)
    assert _inside(box(ax.title), fig.bbox)
    fig.savefig(tmp_path / "explanation.png")           # as the README does
