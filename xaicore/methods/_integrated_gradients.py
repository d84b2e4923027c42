"""Integrated gradients: quadrature rules, the path sampler, the pure core and the facade.

``IG_i(x) = (x_i - b_i) * int_0^1 d f_t(b + a (x - b)) / d x_i da`` is approximated by a
quadrature rule ``sum_s w_s grad f_t(b + a_s (x - b))``. Completeness,
``sum_i IG_i = f_t(x) - f_t(b)``, is the check: its gap (captum's convergence delta) is
reported for every row.
"""
from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import InputError
from .._validate import check_int
from ..engine._gradients import GradientEngine, GradPlan
from ..results._attribution import Attribution
from ._base import Method
from ._gradient_base import GradientBatch, attribution, reference, row_sums, tmap

#: The quadrature rules: captum's five under captum's names (same points, same weights),
#: and ``"trapezoid"``, the composite trapezoidal rule (weights summing to 1).
RULES = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid",
         "gausslegendre", "trapezoid")


def quadrature(method: str, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Points ``alphas`` in [0, 1] and weights of a rule with ``n_steps`` points.

    The ``riemann_*`` rules and ``gausslegendre`` are captum's
    (``captum.attr._utils.approximation_methods``): every Riemann rule has weights
    ``1 / n``, and ``riemann_trapezoid`` halves the two end weights of ``n`` evenly
    spaced points ``0, 1/(n-1), ..., 1``, so its weights sum to ``(n - 1) / n``, not 1:
    its attributions are ``(n - 1) / n`` of the integral's (as captum's).
    ``"trapezoid"`` is the composite trapezoidal rule on the same points (weights
    ``1 / (n - 1)``, halved at the ends, summing to 1): exact for a linear path.

    Example:
        >>> a, w = quadrature("trapezoid", 3)
        >>> a.tolist(), w.tolist()
        ([0.0, 0.5, 1.0], [0.25, 0.5, 0.25])
        >>> quadrature("riemann_trapezoid", 3)[1].tolist()   # captum's: sums to 2/3
        [0.16666666666666666, 0.3333333333333333, 0.16666666666666666]
    """
    if method not in RULES:
        raise InputError(f"method: expected one of {list(RULES)}, got {method!r}")
    n = check_int(n_steps, "n_steps", 2 if "trapezoid" in method else 1)
    if method == "gausslegendre":
        x, w = np.polynomial.legendre.leggauss(n)
        return 0.5 * (1 + x), 0.5 * w
    if method == "trapezoid":
        w = np.full(n, 1.0 / (n - 1))
        w[[0, -1]] /= 2
        return np.linspace(0.0, 1.0, n), w
    w = np.full(n, 1.0 / n)                          # captum's Riemann step sizes
    if method == "riemann_trapezoid":
        w[[0, -1]] /= 2
        return np.linspace(0.0, 1.0, n), w
    lo, hi = {"riemann_left": (0.0, 1 - 1 / n), "riemann_right": (1 / n, 1.0),
              "riemann_middle": (1 / (2 * n), 1 - 1 / (2 * n))}[method]
    return np.linspace(lo, hi, n), w


def path_sampler(x: Any, b: Any, shared: Any, draw: Any, s: jax.Array) -> tuple:
    """Sample ``s`` of the straight path from the baseline ``b`` to ``x``."""
    alphas, weights = shared
    a = alphas[s]
    return tmap(lambda xi, bi: bi + a.astype(xi.dtype) * (xi - bi), x, b), None, weights[s]


def integrated_gradients(engine: GradientEngine, x: Any, baseline: Any, target: Any, *,
                         n_steps: int = 50, method: str = "gausslegendre",
                         max_batch: int = 4096, progress: bool | None = None
                         ) -> tuple[Any, GradPlan]:
    """Integrated gradients of validated inputs (the pure core of the facade).

    Args:
        engine: The :class:`GradientEngine` of the model.
        x: Inputs, a pytree of ``[n, ...]`` arrays.
        baseline: Baselines, the same pytree as ``x`` (one per row).
        target: ``int[n]`` output per row, or ``None`` (trailing output axis).
        n_steps: Quadrature points per row.
        method: One of :data:`RULES`.
        max_batch: Model rows per device call (``rows * steps`` in flight).

    Returns:
        ``(attributions like x, plan)``.
    """
    alphas, weights = quadrature(method, n_steps)
    dtype = jax.tree_util.tree_leaves(x)[0].dtype
    shared = (jnp.asarray(alphas, dtype), jnp.asarray(weights, dtype))
    grads, _, p = engine.run(path_sampler, x, baseline, shared, target, n_steps, max_batch,
                             progress=progress)
    extra = (lambda d: d[..., None]) if target is None else (lambda d: d)
    attr = tmap(lambda g, xi, bi: g * extra(np.asarray(xi) - np.asarray(bi)),
                grads, x, baseline)
    return attr, p


def completeness_stats(engine: GradientEngine, attr: Any, x: Any, b: Any, target: Any,
                       batch: int, *, n_steps: int, rows_per_call: int, t0: float
                       ) -> tuple[np.ndarray, dict]:
    """``f(baseline)`` and the stats of a path method: rows, completeness gap per row.

    The gap is ``|sum(attr) - (f(x) - f(baseline))|`` (captum's convergence delta).
    """
    fx, fb = engine.forward(x, batch), engine.forward(b, batch, "baseline")
    n = len(fx)
    if target is not None:
        rows = np.arange(n)
        fx, fb = fx[rows, target], fb[rows, target]
    gap = np.abs(row_sums(attr, target is None) - (fx - fb))
    return fb, {"model_rows": n * n_steps, "forward_rows": 2 * n,
                "rows_per_call": rows_per_call, "compiles": engine.compiled,
                "completeness_gap": gap, "max_completeness_gap": float(gap.max()),
                "seconds": time.perf_counter() - t0}


class IntegratedGradients(GradientBatch, Method):
    """Integrated gradients (Sundararajan et al., 2017) with a choice of quadrature.

    All steps of all instances in a chunk run as one compiled program (the steps are
    vmapped; ``rows * steps <= max_batch`` model rows per device call).

    Args:
        model: Anything :func:`xaicore.export` accepts (float inputs).
        n_steps: Quadrature points per instance (captum's ``n_steps``).
        method: The quadrature rule (:func:`quadrature` gives its points and weights):
            ``"gausslegendre"`` (default: exact for polynomials of degree
            ``2 n_steps - 1`` along the path, so it needs the fewest steps);
            ``"riemann_left"``, ``"riemann_right"``, ``"riemann_middle"`` (weights
            ``1 / n_steps``); ``"riemann_trapezoid"``, captum's rule of that name: points
            ``0, 1/(n-1), ..., 1``, weights ``1 / n_steps`` halved at both ends, which sum
            to ``(n_steps - 1) / n_steps``, so its attributions are that fraction of the
            integral (the same as captum's; completeness is off by ``1 / n_steps``);
            ``"trapezoid"``, the composite trapezoidal rule on the same points (weights
            ``1 / (n_steps - 1)`` halved at both ends, summing to 1: use it for a
            trapezoidal rule with completeness). All five but ``"trapezoid"`` match
            captum's rules of the same name exactly (points and weights).
        baseline: ``None`` (zeros), a scalar, one row, or one row per instance; for
            multi-input models a tuple/dict with one such entry per input.
        max_batch: Model rows per device call.
        progress: Show a progress bar.

    Example:
        >>> ig = IntegratedGradients(model, n_steps=32)          # doctest: +SKIP
        >>> att = ig.explain(X, target="predicted")
        >>> att.stats["max_completeness_gap"]
    """

    name = "IntegratedGradients"

    def __init__(self, model: Any, *, n_steps: int = 50, method: str = "gausslegendre",
                 baseline: Any = None, max_batch: int | None = None,
                 progress: bool | None = None) -> None:
        super().__init__(model, max_batch=max_batch, progress=progress)
        quadrature(method, n_steps)  # validates both
        self.n_steps = int(n_steps)
        self.method = method
        self.baseline = baseline
        self.engine = GradientEngine(self.fn)

    def explain(self, X: Any, *, target: Any = None, baseline: Any = None) -> Attribution:
        """Integrated gradients of each row of ``X``.

        Args:
            X: Inputs ``[n, ...]`` (a tuple/dict of arrays for multi-input models).
            target: ``None`` (all outputs: a trailing output axis), an int, one int per
                row, or ``"predicted"``.
            baseline: Overrides the baseline given to the constructor for this call.

        Returns:
            An :class:`Attribution` with ``values`` like ``X`` (first input),
            ``base_values = f(baseline)``, and ``stats``: ``completeness_gap`` per row
            ``|sum(values) - (f(x) - f(baseline))|``, ``max_completeness_gap``,
            ``model_rows`` (rows through forward+backward), ``forward_rows``,
            ``rows_per_call``, ``compiles`` and ``seconds``.
        """
        t0 = time.perf_counter()
        prep = self._prepare(X, target)
        b = reference(self.baseline if baseline is None else baseline, prep.x, prep.fn,
                      "baseline")
        batch = self._batch(prep.fn, prep.x)
        attr, p = integrated_gradients(self.engine, prep.x, b, prep.target,
                                       n_steps=self.n_steps, method=self.method,
                                       max_batch=batch, progress=self.progress)
        fb, stats = completeness_stats(self.engine, attr, prep.x, b, prep.target, batch,
                                       n_steps=self.n_steps, rows_per_call=p.model_rows,
                                       t0=t0)
        return attribution(self.name, prep, attr, fb, stats,
                           {"n_steps": self.n_steps, "method": self.method})
