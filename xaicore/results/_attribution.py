"""``Attribution``: the one result type of every method, with .npz save/load."""
from __future__ import annotations

import json
import os
import pathlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._files import FORMAT, check_path, check_writable, read_attribution, write_atomic


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


@dataclass
class Attribution:
    """Attributions of a batch of inputs, as every xaicore method returns them.

    Attributes:
        values: ``[n, *player_shape]`` or, when ``target`` is ``None``, with a trailing
            output axis ``[n, *player_shape, n_outputs]``.
        base_values: ``[n]`` or ``[n, n_outputs]``: the reference output (expected output
            over the background for Shapley methods, ``f(baseline)`` for path methods).
        data: The explained inputs ``[n, ...]`` (the first input for multi-input models).
        method: Method name, e.g. ``"KernelShap"``.
        feature_names: One name per player (feature, group, patch), or ``None``.
        output_names: Names of the explained outputs.
        target: The output index of each row (``None`` when all outputs are explained).
        params: The method's configuration for this call (JSON-serialisable).
        stats: Figures of the call: ``model_rows`` evaluated, ``seconds``,
            ``max_efficiency_gap`` / ``max_completeness_gap``, and arrays such as
            ``stderr`` (same shape as ``values``) where the estimator has them.
        tokens: For text: the string of every token position, ``str[n, L]`` (``None``
            otherwise); saved as a string array.
        token_mask: ``bool[n, L]``, ``True`` at the real tokens (the players), ``False``
            at padding; ``None``: every position is a token.
    """

    values: np.ndarray
    base_values: np.ndarray
    data: np.ndarray
    method: str
    feature_names: list[str] | None = None
    output_names: list[str] | None = None
    target: np.ndarray | None = None
    params: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    #: The players' maps, one per row (``[n, *row]``, or ``[n, H, W]`` for images: a
    #: segmentation), where the players were groups of input elements; ``-1``: no player.
    groups: np.ndarray | None = None
    tokens: np.ndarray | None = None
    token_mask: np.ndarray | None = None

    def __repr__(self) -> str:
        keys = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in self.stats.items() if np.isscalar(v))
        return (f"Attribution(method={self.method}, values={self.values.dtype}"
                f"{list(self.values.shape)}, {keys})")

    @property
    def stderr(self) -> np.ndarray | None:
        """Standard error of each value, where the estimator provides one."""
        return self.stats.get("stderr")

    def top_features(self, k: int = 5, row: int | None = None) -> list[tuple[str, float]]:
        """The ``k`` players of largest mean |value| (over rows, or for one row)."""
        v = np.abs(self.values if row is None else self.values[row:row + 1])
        if v.ndim == 3:  # [n, players, outputs]: sum over the outputs
            v = v.sum(axis=-1)
        score = v.reshape(v.shape[0], -1).mean(axis=0)
        names = self.feature_names or [str(i) for i in range(score.size)]
        order = np.argsort(-score)[:k]
        return [(names[i], float(score[i])) for i in order]

    # -- plots (matplotlib: pip install "xaicore[plot]") --------------------------
    def plot_bar(self, ax: Any = None, max_display: int = 10, output: Any = None) -> Any:
        """Mean |value| per player over the rows, sorted bars (2-s.e. error bars where
        ``stats["stderr"]`` exists); ``output`` (index or name) picks one of several
        explained outputs. Returns the matplotlib Axes."""
        from ._plots_features import bar
        return bar(self, ax=ax, max_display=max_display, output=output)

    def plot_waterfall(self, row: int = 0, ax: Any = None, max_display: int = 10,
                       output: Any = None) -> Any:
        """One row: base value, each player's contribution, ``base + sum(values)``.
        Returns the matplotlib Axes."""
        from ._plots_features import waterfall
        return waterfall(self, row=row, ax=ax, max_display=max_display, output=output)

    def plot_image(self, row: int = 0, ax: Any = None, output: Any = None,
                   cmap: str = "RdBu_r", overlay: bool = True, groups: Any = None,
                   boundaries: bool = False) -> Any:
        """Diverging heat map of one image's attributions over the grayscale image; per-
        player (patch, superpixel) values are painted back through ``groups`` (default:
        the row's map in ``self.groups``); ``boundaries`` outlines the segments.
        Returns the matplotlib Axes."""
        from ._plots_image import image
        return image(self, row=row, ax=ax, output=output, cmap=cmap, overlay=overlay,
                     groups=groups, boundaries=boundaries)

    def image_and_mask(self, row: int = 0, label: Any = None, positive_only: bool = True,
                       negative_only: bool = False, num_features: int = 5,
                       hide_rest: bool = False, min_weight: float = 0.0,
                       hide_color: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """``(image, mask)`` exactly as lime's ``ImageExplanation.get_image_and_mask`` for
        this row's segmentation (``self.groups[row]``) and values: the ``num_features``
        segments of largest |value| (only positive ones with ``positive_only``, only
        negative with ``negative_only``, both coloured otherwise); ``hide_rest`` fills
        the other pixels with ``hide_color`` (lime: 0). ``label``: the output (index or
        name) when every output was explained. Use with
        ``skimage.segmentation.mark_boundaries(image, mask)``."""
        from ._image_views import image_and_mask
        return image_and_mask(self, row, label, positive_only, negative_only, num_features,
                              hide_rest, min_weight, hide_color)

    def plot_beeswarm(self, ax: Any = None, max_display: int = 10, output: Any = None
                      ) -> Any:
        """Every row's value of the most important players, coloured by feature value.
        Returns the matplotlib Axes."""
        from ._plots_features import beeswarm
        return beeswarm(self, ax=ax, max_display=max_display, output=output)

    # -- text (token attributions) -------------------------------------------------
    def with_tokens(self, tokens: Any = None, *, vocab: Any = None, pad_id: int | None = None,
                    mask: Any = None) -> Attribution:
        """A copy carrying the token strings of ``data`` (token ids ``[n, L]``): ``tokens``
        (one list of ``L`` strings per row) or ``vocab`` (the string of each id); padding
        (``pad_id``, or ``mask`` false) is marked in ``token_mask`` and not shown."""
        from dataclasses import replace

        from ..engine._tokens import token_strings, valid_positions

        ids = np.asarray(self.data)
        keep = valid_positions(ids, pad_id, mask, "data")
        if self.token_mask is not None:
            keep &= np.asarray(self.token_mask, bool)
        strings = token_strings(ids, tokens, vocab)
        if strings is None:
            from .._errors import InputError
            raise InputError("tokens: expected the token strings (tokens=) or a vocabulary "
                             "(vocab=), got neither")
        return replace(self, tokens=strings, token_mask=keep)

    def to_html(self, row: int = 0, output: Any = None, vmax: float | None = None,
                path: str | os.PathLike | None = None) -> str:
        """One row's tokens highlighted (red raises, blue lowers the output, opacity by
        ``|value|``, the value on hover), a self-contained HTML page; also written to
        ``path`` when given. Needs ``tokens``."""
        from ._text import to_html
        return to_html(self, row=row, output=output, vmax=vmax, path=path)

    def plot_text(self, row: int = 0, ax: Any = None, output: Any = None,
                  vmax: float | None = None) -> Any:
        """One row's tokens as coloured boxes laid out in lines, with a colour bar.
        Needs ``tokens``. Returns the matplotlib Axes."""
        from ._text import plot_text
        return plot_text(self, row=row, ax=ax, output=output, vmax=vmax)

    # -- persistence -------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> pathlib.Path:
        """Write an ``.npz`` (no pickle); the file appears atomically. Returns the path.

        ``".npz"`` is appended when the name lacks it; missing folders are made. A path no
        file can be written to (``""``, a folder, below a file) is refused before anything
        is written."""
        path = check_path(path)
        check_writable(path)
        if path.suffix != ".npz":
            path = path.with_suffix(path.suffix + ".npz")
            check_writable(path)
        arrays = {"values": self.values, "base_values": self.base_values, "data": self.data}
        if self.target is not None:
            arrays["target"] = np.asarray(self.target)
        if self.groups is not None:
            arrays["groups"] = np.ascontiguousarray(self.groups)
        if self.tokens is not None:
            arrays["text__tokens"] = np.asarray(self.tokens, dtype=str)
        if self.token_mask is not None:
            arrays["text__token_mask"] = np.asarray(self.token_mask, dtype=bool)
        scalars = {}
        for k, v in self.stats.items():
            if isinstance(v, np.ndarray):
                arrays[f"stats__{k}"] = v
            else:
                scalars[k] = v
        meta = {"method": self.method, "feature_names": self.feature_names,
                "output_names": self.output_names, "params": self.params, "stats": scalars,
                "format": FORMAT}
        arrays["meta"] = np.array(json.dumps(_jsonable(meta)))
        write_atomic(path, lambda tmp: np.savez_compressed(tmp, **arrays), ".tmp.npz")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Attribution:
        """Read an ``.npz`` written by :meth:`save`.

        Anything else (a missing, empty, truncated or damaged file, another program's
        ``.npz``, a ``.npy``, a file of a newer format, one whose arrays disagree on the
        number of rows, pickled data) is refused with one :class:`~xaicore.InputError`
        naming the file and what is wrong with it."""
        return cls(**read_attribution(path))

    # -- interop -----------------------------------------------------------------
    def to_shap(self) -> Any:
        """A ``shap.Explanation`` (requires ``pip install xaicore[shap]``).

        With all outputs explained, the output axis stays last, as shap expects. Values of
        grouped players (superpixels, patches) are spread back onto their pixels (each
        pixel gets its player's value over the player's size, so rows keep their sums)
        and ``data`` kept, so ``shap.plots.image(att.to_shap())`` draws them.
        """
        try:
            import shap
        except ImportError as e:
            raise ImportError("to_shap() needs shap: pip install 'xaicore[shap]'") from e
        if self.tokens is not None:      # text: each row its own tokens (padding left out)
            from ._text import text_explanation
            return text_explanation(self)
        from ._image_views import painted_values
        painted = painted_values(self)
        values = self.values if painted is None else painted
        names = self.feature_names if painted is None else None
        data = self.data if self.data.shape == values.shape[:self.data.ndim] else None
        kw = {"output_names": self.output_names} if self.target is None else {}
        return shap.Explanation(values=values, base_values=self.base_values, data=data,
                                feature_names=names, **kw)
