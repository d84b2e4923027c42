"""What the plots of an :class:`~xaicore.Attribution` share: colours, axes, picking values.

matplotlib is an optional extra (``pip install "xaicore[plot]"``): it is imported inside
the plot functions, never when ``xaicore`` is imported. Every function draws on the given
``ax`` (or on a new figure) and returns the Axes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._errors import InputError

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
    """The given Axes, or one on a new figure whose layout keeps every label (tick labels,
    colour-bar label, legend) inside it, so that ``ax.figure.savefig`` clips nothing."""
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=size, layout="constrained")
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
    """A name given to output ``i``, or ``"output i"`` (also for the default names, which
    are the indices themselves)."""
    names = att.output_names or []
    name = str(names[i]) if 0 <= i < len(names) else str(i)
    return f"output {i}" if name == str(i) else name


def row_label(att: Attribution, row: int, label: str | None) -> str | None:
    """The label of one row's plot: its own target output where each row has its own."""
    if att.target is None or (label is not None and not label.startswith("target ")):
        return label
    t = np.broadcast_to(np.asarray(att.target).reshape(-1), (np.shape(att.values)[0],))
    return _output_label(att, int(t[row]))


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


def _tidy(ax: Any) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    ax.grid(axis="x", color="#e6e6e6", zorder=0)
    ax.set_axisbelow(True)


def _text_width(text: str, size: float, weight: Any) -> float:
    """The width in points of one line of text (as the title is drawn)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextPath
    path = TextPath((0, 0), text, size=size, prop=FontProperties(weight=weight))
    return float(path.get_extents().width) if text else 0.0


def _room(ax: Any, reserve: float = 0.0) -> tuple[float, float]:
    """(width, height) in points a title may take: the axes' drawn width, and (without a
    layout engine, which would make room itself) the gap up to the axes above or the top.
    A layout engine places the axes only when drawing: then ``reserve`` points (what a
    colour bar will take) and a margin come off the width the axes have now."""
    fig = ax.figure
    w_in, h_in = fig.get_size_inches()
    if fig.get_layout_engine() is not None:
        return ax.get_position(original=True).width * w_in * 72 - reserve - 12.0, float("inf")
    ax.apply_aspect()                                   # images: the box actually drawn
    pos = ax.get_position()
    width = pos.width * w_in * 72
    top = 1.0
    for other in fig.axes:
        if other is ax or not other.get_visible():
            continue
        o = other.get_position(original=True)
        if o.y0 >= pos.y1 - 1e-9 and o.x0 < pos.x1 and o.x1 > pos.x0:
            top = min(top, o.y0)
    return width, (top - pos.y1) * h_in * 72


def fit_title(ax: Any, head: str, tail: str | None, reserve: float = 0.0) -> Any:
    """Set the title ``"head, tail"`` on one line, else broken after ``head``, at the
    largest font size (from the title size down to 7 pt) that fits the axes' width and the
    room above them, so that titles in a grid of plots neither run into each other nor into
    the axes above. Returns the title."""
    import matplotlib as mpl
    from matplotlib.font_manager import FontProperties
    weight = mpl.rcParams["axes.titleweight"]
    start = FontProperties(size=mpl.rcParams["axes.titlesize"]).get_size_in_points()
    pad = mpl.rcParams["axes.titlepad"]
    width, height = _room(ax, reserve)
    import textwrap
    options = [[head + (f", {tail}" if tail else "")]] + ([[head, tail]] if tail else [])
    for chars in (28, 22, 16, 12):                      # a long output name: wrap it
        if tail and len(tail) > chars:
            options.append([head, *textwrap.wrap(tail, chars)])
    sizes = [s for s in (start, 11, 10, 9, 8, 7) if s <= start] or [start]
    best = (options[-1], sizes[-1])
    for size in sizes:
        fits = [o for o in options if max(_text_width(t, size, weight) for t in o) <= width
                and 1.25 * size * len(o) + pad <= height]
        if fits:
            best = (fits[0], size)
            break
    lines, size = best
    return ax.set_title("\n".join(lines), fontsize=size)
