"""What every metric shares: the model, the rows, the attributions read as one value per
player, the target they explain, the players (groups) and the removal value."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import numpy as np

from .._errors import InputError, describe
from ..engine._batching import check_max_batch, run_chunked
from ..engine._inputs import model_batch, with_known_specs
from ..engine._masking import gaussian_blur
from ..engine._targets import resolve_target
from ..exporting._export import export
from ..exporting._modelfn import ModelFn
from ..results._attribution import Attribution


@dataclass(frozen=True)
class Score:
    """A metric's value for each row and their mean (rows where it is undefined, NaN, are
    left out of the mean).

    Attributes:
        per_row: ``float64[n]``.
        mean: Mean over the rows.
        curves: For deletion / insertion: the model output after each step, ``[n, S + 1]``.
        fractions: For deletion / insertion: the fraction of players removed (inserted) at
            each point of the curves, ``[S + 1]`` from 0 to 1.
    """

    per_row: np.ndarray
    mean: float
    curves: np.ndarray | None = None
    fractions: np.ndarray | None = None


def score(per_row: np.ndarray, **extra: Any) -> Score:
    per_row = np.asarray(per_row, dtype=np.float64)
    finite = per_row[np.isfinite(per_row)]
    return Score(per_row=per_row, mean=float(finite.mean()) if finite.size else float("nan"),
                 **extra)


def choice(value: Any, arg: str, options: tuple[str, ...]) -> str:
    """``value`` if it is one of ``options``, else an InputError naming ``arg``."""
    if not isinstance(value, str) or value not in options:
        raise InputError(f"{arg}: expected one of {list(options)}, got {value!r}")
    return value


@dataclass(frozen=True)
class Inputs:
    """The validated inputs of one metric call."""

    fn: ModelFn
    x: np.ndarray            # [n, *row]
    phi: np.ndarray          # [n, M] one value per player, float64
    target: np.ndarray       # int64[n]: the output each row's attributions explain
    groups: np.ndarray       # int32[n, E]: player of each input element, per row
    n_players: int
    batch: int               # model rows per device call

    @property
    def n(self) -> int:
        return self.x.shape[0]

    @property
    def row_shape(self) -> tuple[int, ...]:
        return tuple(self.x.shape[1:])


def model_fn(model: Any) -> ModelFn:
    return export(model)


def check_rows(fn: ModelFn, X: Any) -> tuple[ModelFn, np.ndarray]:
    fn = with_known_specs(fn, X)
    if fn.structure != "single":
        raise InputError(f"model: the metrics take single-input models; this one has inputs "
                         f"{list(fn.input_names)}")
    x = fn.validate(X, "X")
    if np.dtype(x.dtype).kind != "f":
        raise InputError(f"X: the metrics perturb the inputs and need float inputs, got "
                         f"{describe(x)}")
    return fn, x


def read_groups(groups: Any, n: int, row_shape: tuple[int, ...]) -> np.ndarray | None:
    """``groups`` as ``int32[n, E]`` (one map for all rows, or one per row), or ``None``."""
    if groups is None:
        return None
    g = np.asarray(groups)
    e = int(np.prod(row_shape)) if row_shape else 1
    if g.dtype.kind not in "iu":
        raise InputError(f"groups: expected integer player ids, got dtype {g.dtype}")
    if g.shape in (tuple(row_shape), (e,)):
        g = np.broadcast_to(g.reshape(1, e), (n, e))
    elif g.shape in ((n, *row_shape), (n, e)):
        g = g.reshape(n, e)
    else:
        raise InputError(f"groups: expected one player id per input element, "
                         f"{list(row_shape)} for all rows or [{n}, {', '.join(map(str, row_shape))}]"
                         f" per row, got {list(g.shape)}")
    if g.size and g.min() < 0:
        raise InputError(f"groups: player ids must be >= 0, got {int(g.min())}")
    return g.astype(np.int32)


def prepare(model: Any, X: Any, attributions: Any, *, target: Any = None,
            groups: Any = None, max_batch: int | None = None,
            arg: str = "attributions") -> Inputs:
    """Check the model, the rows, the attributions and the target of one metric call.

    The attributions are an :class:`~xaicore.Attribution` (its ``target`` and, unless
    ``groups`` is given, its ``params["groups"]`` are used) or an array: ``[n, *row]`` (one
    value per input element), ``[n, M]`` with ``groups`` (one value per player), either
    with a trailing output axis when ``target`` picks the output.
    """
    max_batch = check_max_batch(max_batch)
    fn, x = check_rows(model_fn(model), X)
    n, row_shape = x.shape[0], tuple(x.shape[1:])
    att_target = None
    if isinstance(attributions, Attribution):
        att_target = attributions.target
        if groups is None and isinstance(attributions.params, dict):
            groups = attributions.params.get("groups")
        values = attributions.values
    else:
        values = attributions
    try:
        v = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{arg}: expected a numeric array or an Attribution, got "
                         f"{type(values).__name__}") from None
    g = read_groups(groups, n, row_shape)
    m = int(g.max()) + 1 if g is not None and g.size else int(np.prod(row_shape) or 1)
    pshape = (m,) if g is not None else row_shape
    want = f"[{', '.join(map(str, (n, *pshape)))}]"
    o = fn.n_outputs
    if v.shape == (n, *pshape):
        per_output = False
    elif v.shape == (n, *pshape, o):
        per_output = True
    else:
        what = f"one value per player of the groups ({m} players)" if g is not None \
            else "one value per input element"
        raise InputError(f"{arg}: expected {want} ({what}) for {n} rows, or with a trailing "
                         f"axis of the model's {o} outputs, got {list(v.shape)}")
    if not np.all(np.isfinite(v)):
        raise InputError(f"{arg}: expected finite values, got {int((~np.isfinite(v)).sum())} "
                         "NaN or inf")
    if target is None:
        target = att_target
    if target is None and o == 1:
        target = 0
    if target is None:
        raise InputError(f"target: the model has {o} outputs; give target= (an int, one int "
                         "per row or 'predicted'): the output the attributions explain")
    batch = max_batch or model_batch(fn, x, cache_sized=True)
    t = resolve_target(target, n, o, lambda: forward(fn, x, None, batch))
    v = v.reshape(n, -1, o)[np.arange(n), :, t] if per_output else v.reshape(n, -1)
    if g is None:
        g = np.broadcast_to(np.arange(m, dtype=np.int32)[None], (n, m))
    return Inputs(fn=fn, x=x, phi=v, target=t, groups=g, n_players=m, batch=batch)


_FORWARD: dict[int, Any] = {}


def forward(fn: ModelFn, x: np.ndarray, target: np.ndarray | None, batch: int) -> np.ndarray:
    """``f(x)`` in chunks of ``batch`` rows: ``[n, O]``, or ``[n]`` at ``target``."""
    f = _FORWARD.get(id(fn))
    if f is None or f[0] is not fn:
        f = (fn, jax.jit(fn.apply_flat))
        if len(_FORWARD) > 8:
            _FORWARD.clear()
        _FORWARD[id(fn)] = f
    y = run_chunked(lambda part: f[1](fn.params, part), x, batch,
                    progress=False).astype(np.float64)
    return y if target is None else y[np.arange(len(y)), target]


def removal_values(baseline: Any, x: np.ndarray, *, background: Any = None,
                   blur_sigma: float = 5.0) -> np.ndarray:
    """The value each removed element takes, ``[n, *row]``.

    ``baseline`` is a number, one row ``[*row]``, one row per explained row ``[n, *row]``,
    ``"mean"`` (the mean row of ``background``) or ``"blur"`` (each image blurred by a
    Gaussian of ``blur_sigma`` pixels over its first two axes: ``[H, W]`` or ``[H, W, C]``).
    """
    row = tuple(x.shape[1:])
    if isinstance(baseline, str):
        choice(baseline, "baseline", ("mean", "blur"))
        if baseline == "mean":
            if background is None:
                raise InputError("background: baseline='mean' takes the mean row of "
                                 "background=; give background rows")
            b = np.asarray(background, dtype=np.float64)
            if b.shape[1:] != row or b.shape[0] < 1:
                raise InputError(f"background: expected rows [k, {', '.join(map(str, row))}],"
                                 f" got {list(b.shape)}")
            return np.broadcast_to(b.mean(axis=0), x.shape).astype(x.dtype)
        if len(row) not in (2, 3):
            raise InputError(f"baseline: 'blur' is for images [H, W] or [H, W, C]; the rows "
                             f"are {list(row)}")
        return blur(x, blur_sigma)
    b = np.asarray(baseline, dtype=np.float64)
    if b.ndim == 0 or b.shape == row:
        return np.broadcast_to(b, x.shape).astype(x.dtype)
    if b.shape == x.shape:
        return b.astype(x.dtype)
    raise InputError(f"baseline: expected a number, one row {list(row)} or one row per "
                     f"explained row {list(x.shape)}, got {list(b.shape)}")


def blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Each image of ``x [n, H, W(, C)]`` convolved with a Gaussian of ``sigma`` pixels
    (separable, edges reflected): the engine's blur masking, with ``sigma`` checked."""
    if not (isinstance(sigma, (int, float)) and sigma > 0):
        raise InputError(f"blur_sigma: expected a positive number of pixels, got {sigma!r}")
    return gaussian_blur(x, float(sigma)).astype(x.dtype)
