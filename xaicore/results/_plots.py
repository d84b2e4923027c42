"""Plots of an :class:`~xaicore.Attribution`, in the manner of shap's (needs matplotlib).

matplotlib is an optional extra (``pip install "xaicore[plot]"``): it is imported inside
the plot functions, never when ``xaicore`` is imported. Every function draws on the given
``ax`` (or on a new figure) and returns the Axes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import InputError
from ..engine._gradients import check_int

if TYPE_CHECKING:  # pragma: no cover
    from ._attribution import Attribution

# shap's colours: positive contributions red, negative blue.
POS = "#ff0051"
NEG = "#008bfb"
REST = "#9a9a9a"
INSTALL = 'pip install "xaicore[plot]"'


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError(f"xaicore's plots need matplotlib: {INSTALL}") from e
    return plt


def _axes(ax: Any, size: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=size)
    return ax


# -- picking the values to draw ------------------------------------------------------------
def _output_index(att: Attribution, output: Any, n_out: int) -> int:
    names = list(att.output_names or [])
    if isinstance(output, str):
        if output not in names:
            raise InputError(f"output: no output named {output!r}; the outputs are {names}")
        return names.index(output)
    if isinstance(output, (bool, np.bool_)) or not isinstance(output, (int, np.integer)):
        raise InputError(f"output: expected an output index or name, got {output!r}")
    if not 0 <= int(output) < n_out:
        raise InputError(f"output: index {int(output)} out of range for {n_out} output(s) "
                         f"(0..{n_out - 1}{', ' + str(names) if names else ''})")
    return int(output)


def _output_label(att: Attribution, i: int) -> str:
    names = att.output_names or []
    return str(names[i]) if 0 <= i < len(names) else f"output {i}"


def select(att: Attribution, output: Any) -> tuple[np.ndarray, np.ndarray, Any, str | None]:
    """The values of one output: ``(values [n, *players], base [n], stderr or None, label)``.

    Values with a trailing output axis (``target`` is ``None`` and ``base_values`` is
    ``[n, n_outputs]``) need ``output`` (an index or a name) unless there is one output.
    """
    v = np.asarray(att.values)
    n = v.shape[0]
    base = np.asarray(att.base_values, dtype=float)
    se = att.stats.get("stderr") if isinstance(att.stats, dict) else None
    se = np.asarray(se) if se is not None and np.shape(se) == v.shape else None
    if att.target is None and base.ndim == 2:            # trailing output axis
        n_out = v.shape[-1]
        if output is None:
            if n_out != 1:
                names = list(att.output_names or [])
                raise InputError(
                    f"output: these attributions explain {n_out} outputs (target=None); "
                    f"pass output= an index 0..{n_out - 1}"
                    f"{' or one of ' + str(names) if names else ''}")
            output = 0
        i = _output_index(att, output, n_out)
        return (v[..., i], base[:, i], None if se is None else se[..., i],
                _output_label(att, i))
    if att.target is not None and base.ndim == 2:        # [n, n_outputs]: each row's target
        base = base[np.arange(n), np.broadcast_to(np.asarray(att.target).reshape(-1), (n,))]
    base = np.broadcast_to(base.reshape(-1) if base.size == n else base, (n,))
    if att.target is None:
        if output is not None:
            raise InputError("output: these attributions have no output axis; leave "
                             "output=None")
        return v, base, se, None
    t = np.broadcast_to(np.asarray(att.target).reshape(-1), (n,))
    if output is not None:
        n_out = max(len(att.output_names or []), int(t.max()) + 1)
        i = _output_index(att, output, n_out)
        if not np.all(t == i):
            raise InputError(f"output: these attributions explain target output(s) "
                             f"{sorted(set(t.tolist()))} per row, not only output {i}; "
                             f"leave output=None")
    label = _output_label(att, int(t[0])) if np.all(t == t[0]) else "target output of each row"
    return v, base, se, label


def _names(att: Attribution, player_shape: tuple[int, ...]) -> list[str]:
    m = int(np.prod(player_shape)) if player_shape else 1
    if att.feature_names is not None and len(att.feature_names) == m:
        return [str(s) for s in att.feature_names]
    if len(player_shape) <= 1:
        return [f"f{i}" for i in range(m)]
    return [str(list(map(int, ix))) for ix in zip(*np.unravel_index(np.arange(m), player_shape))]


def _check_row(row: Any, n: int) -> int:
    if isinstance(row, (bool, np.bool_)) or not isinstance(row, (int, np.integer)) \
            or not -n <= row < n:
        raise InputError(f"row: expected an int in 0..{n - 1} (there are {n} rows), "
                         f"got {row!r}")
    return int(row) % n


def _title(att: Attribution, label: str | None, extra: str = "") -> str:
    parts = [att.method]
    if label:
        parts.append(f"output {label!r}" if not label.startswith(("output ", "target ")) else label)
    return ", ".join(parts) + extra


# -- bar -----------------------------------------------------------------------------------
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
        ax.legend(loc="lower right", fontsize=9, frameon=False)
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
    ax.set_title(_title(att, label))
    _tidy(ax)
    return ax


def _tidy(ax: Any) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#e6e6e6", zorder=0)
    ax.set_axisbelow(True)


# -- waterfall -----------------------------------------------------------------------------
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
    ax.set_title(_title(att, label, f", row {row}"), pad=22)
    _tidy(ax)
    return ax


# -- image ---------------------------------------------------------------------------------
def _paint(vals: np.ndarray, groups: Any, img_shape: tuple[int, ...]) -> np.ndarray:
    """Per-player values painted back onto the ``[H, W]`` pixels through ``groups``."""
    g = np.asarray(groups)
    if g.dtype.kind not in "iu":
        raise InputError(f"groups: expected integer player ids, got dtype {g.dtype}")
    if g.shape not in (tuple(img_shape), tuple(img_shape[:2])):
        raise InputError(f"groups: expected the image's shape {list(img_shape)} (as made by "
                         f"xaicore.patch_groups), got {list(g.shape)}")
    if g.size and (g.min() < 0 or g.max() >= vals.size):
        raise InputError(f"groups: player ids must lie in 0..{vals.size - 1} (the values hold "
                         f"{vals.size} players per row), got {int(g.min())}..{int(g.max())}")
    painted = vals[g]
    if g.ndim == 2:
        return painted
    heat = painted[..., 0].copy()
    for c in range(1, g.shape[2]):          # a player spanning channels counts once
        new = np.all(g[..., c:c + 1] != g[..., :c], axis=-1)
        heat += np.where(new, painted[..., c], 0.0)
    return heat


def heat_map(att: Attribution, row: int = 0, output: Any = None,
             groups: Any = None) -> np.ndarray:
    """The ``[H, W]`` map :func:`image` draws: per-pixel values summed over channels, or
    per-player values painted back through ``groups``."""
    data = np.asarray(att.data)
    if data.ndim not in (3, 4):
        raise InputError(f"data: plot_image needs images [n, H, W] or [n, H, W, C], got "
                         f"shape {list(data.shape)}")
    v, _, _, _ = select(att, output)
    row = _check_row(row, v.shape[0])
    img_shape = tuple(data.shape[1:])
    hw = img_shape[:2]
    vr = np.asarray(v[row], dtype=float)
    if groups is None and isinstance(att.params, dict) and att.params.get("groups") is not None:
        groups = att.params["groups"]
    if groups is not None:
        return _paint(vr.reshape(-1), groups, img_shape)
    if vr.shape == img_shape:
        return vr if vr.ndim == 2 else vr.sum(axis=-1)
    if vr.shape == hw:
        return vr
    if vr.size == int(np.prod(img_shape)):              # one player per element, flattened
        r = vr.reshape(img_shape)
        return r if r.ndim == 2 else r.sum(axis=-1)
    if vr.size == int(np.prod(hw)):
        return vr.reshape(hw)
    raise InputError(f"groups: the values hold {vr.size} players per row, not one per pixel "
                     f"of the {list(img_shape)} image; pass groups= the map used to explain "
                     f"(e.g. xaicore.patch_groups({img_shape}, patch))")


def _gray(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img, dtype=float)
    if img.ndim == 3:
        if img.shape[2] >= 3:
            img = img[..., :3] @ np.array([0.299, 0.587, 0.114])
        else:
            img = img.mean(axis=-1)
    lo, hi = np.nanmin(img), np.nanmax(img)
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def image(att: Attribution, row: int = 0, ax: Any = None, output: Any = None,
          cmap: str = "RdBu_r", overlay: bool = True, groups: Any = None) -> Any:
    """A diverging heat map of one image's attributions (symmetric about 0, with a colorbar),
    over the grayscale image when ``overlay`` (weak values let the image show through)."""
    heat = heat_map(att, row, output, groups)
    row = _check_row(row, np.asarray(att.values).shape[0])
    _, _, _, label = select(att, output)
    plt = _pyplot()
    from matplotlib.colors import Normalize

    ax = _axes(ax, (5.2, 4.4))
    vmax = float(np.nanmax(np.abs(heat))) if heat.size else 0.0
    vmax = vmax if vmax > 0 else 1e-12
    kw = {"cmap": cmap, "vmin": -vmax, "vmax": vmax, "interpolation": "nearest"}
    if overlay:
        ax.imshow(_gray(np.asarray(att.data)[row]), cmap="gray", vmin=0, vmax=1,
                  interpolation="nearest")
        alpha = np.clip(0.15 + 0.8 * np.abs(heat) / vmax, 0.0, 1.0)
        im = ax.imshow(heat, alpha=alpha, **kw)
    else:
        im = ax.imshow(heat, **kw)
    im.set_gid("attribution")
    sm = plt.cm.ScalarMappable(norm=Normalize(-vmax, vmax), cmap=cmap)
    ax.figure.colorbar(sm, ax=ax, fraction=0.046, pad=0.04, label="attribution")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(_title(att, label, f", row {row}"))
    return ax


# -- beeswarm ------------------------------------------------------------------------------
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
