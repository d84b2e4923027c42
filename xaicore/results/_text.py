"""Text views of token attributions: a self-contained HTML highlight, a matplotlib plot,
and the per-row ``shap.Explanation`` that ``shap.plots.text`` draws.

Tokens are red where they push the output up and blue where they push it down (shap's
colours), the more opaque the larger ``|value|``; padding (no player) is not shown.
"""
from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import InputError
from ._plot_common import NEG, POS, _axes, _check_row, _pyplot, row_label, select

if TYPE_CHECKING:  # pragma: no cover
    from ._attribution import Attribution

_WHITE = np.ones(3)


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)])


def colours(values: np.ndarray, vmax: float) -> np.ndarray:
    """``[k, 3]`` RGB in 0..1: white at 0, shap's red (positive) or blue (negative) at
    ``|value| = vmax``, linear in between."""
    t = np.clip(np.abs(values) / vmax, 0.0, 1.0)[:, None] if vmax > 0 else \
        np.zeros((len(values), 1))
    end = np.where(np.asarray(values)[:, None] >= 0, _rgb(POS), _rgb(NEG))
    return _WHITE + t * (end - _WHITE)


def text_row(att: Attribution, row: Any, output: Any = None
             ) -> tuple[list[str], np.ndarray, float, str | None]:
    """``(tokens, values, base value, label)`` of one row's real tokens (padding left out)."""
    if att.tokens is None:
        raise InputError("tokens: this attribution carries no token strings; explain with "
                         "xaicore.explain_text(..., tokens= or vocab=) or call "
                         "att.with_tokens(vocab=...)")
    v, base, _, label = select(att, output)
    row = _check_row(row, v.shape[0])
    vr = np.asarray(v[row], dtype=float)
    toks = np.asarray(att.tokens)[row]
    if vr.shape != toks.shape:
        raise InputError(f"tokens: expected one value per token position ({toks.shape[0]}), "
                         f"the values of row {row} have shape {list(vr.shape)}")
    keep = np.ones(toks.shape, bool) if att.token_mask is None \
        else np.asarray(att.token_mask, bool)[row]
    return [str(t) for t in toks[keep]], vr[keep], float(base[row]), \
        row_label(att, row, label)


def _vmax(values: np.ndarray, vmax: float | None) -> float:
    if vmax is None:
        return float(np.abs(values).max()) if values.size else 0.0
    if isinstance(vmax, bool) or not isinstance(vmax, (int, float, np.floating)) \
            or not vmax > 0 or not np.isfinite(vmax):
        raise InputError(f"vmax: expected a positive number (the |value| of full colour), "
                         f"got {vmax!r}")
    return float(vmax)


def _css(c: np.ndarray) -> str:
    r, g, b = (round(255 * float(x)) for x in c)
    return f"#{r:02x}{g:02x}{b:02x}"


def to_html(att: Attribution, row: Any = 0, output: Any = None, vmax: float | None = None,
            path: Any = None) -> str:
    """One row's tokens highlighted, as a self-contained HTML page (inline styles only);
    each token's value shows on hover (``title=``). Written atomically to ``path`` when
    one is given. Returns the HTML."""
    toks, vals, base, label = text_row(att, row, output)
    top = _vmax(vals, vmax)
    fill = colours(vals, top)
    spans = []
    for tok, v, c in zip(toks, vals, fill):
        ink = "#ffffff" if np.abs(v) > 0.6 * top > 0 else "#000000"
        spans.append(f'<span class="tok" title="{v:+.4g}" data-value="{v:.6g}" '
                     f'style="background:{_css(c)};color:{ink};padding:2px 3px;margin:1px;'
                     f'border-radius:3px;display:inline-block">{html.escape(tok)}</span>')
    head = html.escape(f"{att.method}" + (f", {label}" if label else ""))
    legend = (f'<div style="margin-top:10px;font-size:12px">'
              f'<span>{-top:.3g}</span> <span style="display:inline-block;width:200px;'
              f'height:10px;vertical-align:middle;background:linear-gradient(to right,'
              f'{NEG},#ffffff,{POS})"></span> <span>{top:+.3g}</span>'
              f' &nbsp;lowers / raises the output</div>')
    doc = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + head
           + "</title></head>\n<body style=\"font-family:sans-serif\">\n"
           + f"<div style=\"font-size:13px;color:#555\">{head}: base value {base:.4g}, "
           + f"base + sum = {base + float(vals.sum()):.4g}</div>\n"
           + "<div style=\"line-height:2;margin-top:6px\">" + " ".join(spans) + "</div>\n"
           + legend + "\n</body></html>\n")
    if path is not None:
        from ._files import check_path, check_writable, write_atomic

        p = check_path(path)
        check_writable(p)

        def write(tmp: str) -> None:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(doc)
        write_atomic(p, write, ".tmp")
    return doc


def plot_text(att: Attribution, row: Any = 0, ax: Any = None, output: Any = None,
              vmax: float | None = None, fontsize: float = 12.0) -> Any:
    """One row's tokens laid out in lines as coloured boxes, with a colour bar. Returns
    the matplotlib Axes (each token is a ``Text`` whose box colour shows its value)."""
    toks, vals, base, label = text_row(att, row, output)
    plt = _pyplot()
    from matplotlib.colors import LinearSegmentedColormap, Normalize

    top = _vmax(vals, vmax)
    fill = colours(vals, top)
    lines = max(1, int(np.ceil(sum(len(t) + 1 for t in toks) / 60)))
    ax = _axes(ax, (8.0, 0.9 + 0.45 * lines))
    ax.set_axis_off()
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    x, y, line_h, gap = 0.0, 1.0, None, 0.01
    for tok, v, c in zip(toks, vals, fill):
        ink = "white" if np.abs(v) > 0.6 * top > 0 else "black"
        t = ax.text(x, y, tok, transform=ax.transAxes, va="top", ha="left", color=ink,
                    fontsize=fontsize, gid="token",
                    bbox={"boxstyle": "round,pad=0.25", "facecolor": c, "edgecolor": "none"})
        box = t.get_window_extent(renderer).transformed(ax.transAxes.inverted())
        line_h = line_h or 1.9 * box.height
        if x > 0 and box.x1 > 1.0:            # wrap: to the start of the next line
            x, y = 0.0, y - line_h
            t.set_position((x, y))
        x += box.width + 2.5 * gap
    cmap = LinearSegmentedColormap.from_list("xaicore_text", [NEG, "#ffffff", POS])
    mappable = plt.cm.ScalarMappable(norm=Normalize(-top or -1, top or 1), cmap=cmap)
    bar = fig.colorbar(mappable, ax=ax, orientation="horizontal", fraction=0.08,
                       pad=0.04, aspect=40)
    bar.set_label("attribution (red raises the output, blue lowers it)")
    title = att.method + (f", {label}" if label else "")
    ax.set_title(f"{title}: base {base:.4g}, base + sum {base + float(vals.sum()):.4g}",
                 fontsize=10, loc="left")
    return ax


def text_explanation(att: Attribution) -> Any:
    """A ``shap.Explanation`` whose row ``i`` holds row ``i``'s real tokens (``data``) and
    their values: ``shap.plots.text(att.to_shap()[i])`` draws it."""
    import shap

    n = np.shape(att.values)[0]
    vals = np.empty(n, dtype=object)
    data = np.empty(n, dtype=object)
    v = np.asarray(att.values)
    toks = np.asarray(att.tokens)
    mask = np.ones(toks.shape, bool) if att.token_mask is None \
        else np.asarray(att.token_mask, bool)
    for i in range(n):
        vals[i] = v[i][mask[i]]
        data[i] = toks[i][mask[i]]
    kw = {"output_names": att.output_names} if att.target is None else {}
    return shap.Explanation(values=vals, base_values=np.asarray(att.base_values), data=data,
                            **kw)
