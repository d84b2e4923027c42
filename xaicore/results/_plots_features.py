"""Plots over features: bar, waterfall and beeswarm (in the manner of shap's).

matplotlib is imported inside the functions (``pip install "xaicore[plot]"``). Each draws on
the given ``ax`` (or a new figure) and returns the Axes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._validate import check_int
from ._plot_common import (
    NEG,
    POS,
    REST,
    _axes,
    _check_row,
    _names,
    _tidy,
    _title,
    row_label,
    select,
)

if TYPE_CHECKING:  # pragma: no cover
    from ._attribution import Attribution


def bar(att: Attribution, ax: Any = None, max_display: int = 10, output: Any = None) -> Any:
    """Mean |value| of each player over the rows, as sorted horizontal bars.

    The ``max_display - 1`` most important players get a bar each and the rest share one
    ``"Sum of N other features"`` bar. Where ``stats["stderr"]`` is present each bar carries
    an error bar of 2 standard errors of the estimate (``sqrt(sum se^2) / n``: the
    estimator's noise, not the spread over rows).
    """
    max_display = check_int(max_display, "max_display", 1)
    v, _, se, label = select(att, output)
    n = v.shape[0]
    names = _names(att, v.shape[1:])
    a = np.abs(v.reshape(n, -1).astype(float))
    score = a.mean(axis=0)
    score_se = None if se is None else np.sqrt((se.reshape(n, -1).astype(float) ** 2).sum(0)) / n
    order = np.argsort(-score, kind="stable")
    m = score.size
    shown = order if m <= max_display else order[:max_display - 1]
    widths = list(score[shown])
    labels = [names[i] for i in shown]
    errs = None if score_se is None else list(score_se[shown])
    colors = [POS] * len(shown)
    if m > len(shown):
        rest = order[len(shown):]
        widths.append(float(score[rest].sum()))
        labels.append(f"Sum of {rest.size} other features")
        colors.append(REST)
        if errs is not None:
            errs.append(float(np.sqrt((score_se[rest] ** 2).sum())))
    k = len(widths)
    ax = _axes(ax, (7.0, 1.2 + 0.42 * k))
    y = np.arange(k)[::-1]                                   # most important on top
    ax.barh(y, widths, height=0.7, color=colors, zorder=2)
    if errs is not None:
        ax.errorbar(widths, y, xerr=2 * np.asarray(errs), fmt="none", ecolor="#333333",
                    elinewidth=1.2, capsize=3, zorder=3,
                    label="±2 standard errors of the estimate")
        # above the plot's top right corner, under the title: over no bar or label
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), borderaxespad=0.2,
                  fontsize=9, frameon=False)
    top = max(max(widths) if widths else 0.0,
              max(w + 2 * e for w, e in zip(widths, errs)) if errs else 0.0)
    pad = 0.01 * top if top > 0 else 0.01
    for yi, w, e in zip(y, widths, errs or [0.0] * k):
        ax.text(w + 2 * e + pad, yi, f"{w:.3g}", va="center", ha="left", fontsize=9,
                color="#333333")
    ax.set_xlim(0, top * 1.15 if top > 0 else 1.0)
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.set_ylim(-0.6, k - 0.4)
    ax.set_xlabel("mean(|attribution|)" + (f" over {n} rows" if n > 1 else ""))
    ax.set_title(_title(att, label), pad=22 if errs is not None else 6)
    _tidy(ax)
    return ax


def _reference_labels(att: Attribution) -> tuple[str, str]:
    stats = att.stats if isinstance(att.stats, dict) else {}
    if "max_efficiency_gap" in stats or att.method == "ExpectedGradients":
        return "E[f(X)]", "f(x)"
    if "max_completeness_gap" in stats:
        return "f(baseline)", "f(x)"
    return "base", "base + sum"


def waterfall(att: Attribution, row: int = 0, ax: Any = None, max_display: int = 10,
              output: Any = None) -> Any:
    """One row's explanation: from the base value, each player's value added in turn, to
    ``base + sum(values)`` (``f(x)`` for efficient/complete methods).

    The ``max_display - 1`` largest |values| get a bar each (largest on top); the rest are
    folded into one ``"N other features"`` bar at the bottom. With tabular data (``data``
    ``[n, M]``, one column per player) each name shows the row's feature value.
    """
    max_display = check_int(max_display, "max_display", 1)
    v, base, _, label = select(att, output)
    row = _check_row(row, v.shape[0])
    names = _names(att, v.shape[1:])
    vals = v[row].reshape(-1).astype(float)
    b = float(base[row])
    m = vals.size
    data = np.asarray(att.data)
    if data.ndim == 2 and data.shape[1] == m and data.shape[0] == v.shape[0] \
            and data.dtype.kind in "biuf":
        names = [f"{nm} = {x:.4g}" for nm, x in zip(names, data[row].astype(float))]
    order = np.argsort(-np.abs(vals), kind="stable")
    shown = order if m <= max_display else order[:max_display - 1]
    steps = [(names[i], vals[i], False) for i in shown[::-1]]   # bottom to top
    if m > shown.size:
        rest = order[shown.size:]
        steps.insert(0, (f"{rest.size} other features", float(vals[rest].sum()), True))
    k = len(steps)
    ax = _axes(ax, (7.5, 1.6 + 0.45 * k))
    lefts, widths, colors = [], [], []
    cum = b
    for _, w, _ in steps:
        lefts.append(cum)
        widths.append(w)
        colors.append(POS if w >= 0 else NEG)
        cum += w
    final = b + float(vals.sum())
    y = np.arange(k)
    bars = ax.barh(y, widths, left=lefts, height=0.65, color=colors, zorder=2)
    for patch, (_, _, is_rest) in zip(bars.patches, steps):
        if is_rest:
            patch.set_alpha(0.55)
            patch.set_hatch("//")
    span = max(max(max(lefts), max(lf + w for lf, w in zip(lefts, widths)), b, final)
               - min(min(lefts), min(lf + w for lf, w in zip(lefts, widths)), b, final), 1e-12)
    for yi, lf, w in zip(y, lefts, widths):
        end = lf + w
        ax.text(end + (0.01 if w >= 0 else -0.01) * span, yi, f"{w:+.3g}",
                ha="left" if w >= 0 else "right", va="center", fontsize=9,
                color=POS if w >= 0 else NEG)
    ref, pred = _reference_labels(att)
    ax.axvline(b, color="#777777", ls=":", lw=1, zorder=1, gid="base")
    ax.axvline(final, color="#333333", ls="--", lw=1, zorder=1, gid="prediction")
    tr = ax.get_xaxis_transform()
    ax.text(b, -0.02, f"{ref} = {b:.3g}", transform=tr, ha="center", va="top", fontsize=9,
            color="#555555")
    ax.text(final, 1.01, f"{pred} = {final:.3g}", transform=tr, ha="center", va="bottom",
            fontsize=10, fontweight="bold")
    lo = min(min(lefts), min(lf + w for lf, w in zip(lefts, widths)), b, final)
    hi = max(max(lefts), max(lf + w for lf, w in zip(lefts, widths)), b, final)
    ax.set_xlim(lo - 0.12 * span, hi + 0.12 * span)
    ax.set_yticks(y)
    ax.set_yticklabels([s[0] for s in steps])
    ax.set_ylim(-0.6, k - 0.4)
    ax.tick_params(axis="x", pad=16)
    ax.set_title(_title(att, row_label(att, row, label), f", row {row}"), pad=22)
    _tidy(ax)
    return ax


def _swarm(x: np.ndarray, rng: np.random.Generator, bins: int = 60) -> np.ndarray:
    """Vertical offsets that stack dots of similar value (as shap's beeswarm does)."""
    n = x.size
    span = float(np.ptp(x)) if n else 0.0
    if n < 2 or span == 0:
        return rng.uniform(-0.2, 0.2, n) if n > 1 else np.zeros(n)
    b = np.minimum(((x - x.min()) / span * bins).astype(int), bins - 1)
    counts = np.bincount(b, minlength=bins)
    step = 0.4 / max(int(counts.max()) // 2, 1)
    off = np.zeros(n)
    seen = np.zeros(bins, int)
    for i in rng.permutation(n):
        j = seen[b[i]]
        seen[b[i]] += 1
        off[i] = ((j + 1) // 2) * (1 if j % 2 else -1) * step
    return off


def beeswarm(att: Attribution, ax: Any = None, max_display: int = 10, output: Any = None,
             cmap: str = "coolwarm") -> Any:
    """Every row's value of each of the ``max_display`` most important players (mean
    |value|), one dot per row, jittered vertically, coloured by the feature's value when
    ``data`` is tabular (one column per player)."""
    max_display = check_int(max_display, "max_display", 1)
    v, _, _, label = select(att, output)
    n = v.shape[0]
    vals = v.reshape(n, -1).astype(float)
    names = _names(att, v.shape[1:])
    order = np.argsort(-np.abs(vals).mean(axis=0), kind="stable")[:max_display]
    data = np.asarray(att.data)
    tabular = data.ndim == 2 and data.shape == vals.shape and data.dtype.kind in "biuf"
    k = order.size
    ax = _axes(ax, (7.0, 1.2 + 0.45 * k))
    rng = np.random.default_rng(0)
    sc = None
    for pos, j in enumerate(order):
        yj = k - 1 - pos
        x = vals[:, j]
        jitter = _swarm(x, rng)
        if tabular:
            col = data[:, j].astype(float)
            lo, hi = np.nanpercentile(col, [5, 95])
            c = np.clip((col - lo) / (hi - lo), 0, 1) if hi > lo else np.full(n, 0.5)
            sc = ax.scatter(x, yj + jitter, c=c, cmap=cmap, vmin=0, vmax=1, s=14,
                            linewidths=0, zorder=2)
        else:
            ax.scatter(x, yj + jitter, color=POS, s=14, linewidths=0, alpha=0.7, zorder=2)
    ax.axvline(0, color="#999999", lw=1, zorder=1)
    ax.set_yticks(np.arange(k)[::-1])
    ax.set_yticklabels([names[j] for j in order])
    ax.set_ylim(-0.6, k - 0.4)
    ax.set_xlabel("attribution value")
    ax.set_title(_title(att, label))
    if sc is not None:
        cb = ax.figure.colorbar(sc, ax=ax, ticks=[0, 1], aspect=40, pad=0.02)
        cb.set_ticklabels(["low", "high"])
        cb.set_label("feature value")
        cb.outline.set_visible(False)
    _tidy(ax)
    return ax
