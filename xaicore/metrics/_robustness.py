"""Infidelity and sensitivity (Yeh et al. 2019): batches of perturbed forward passes, and
of re-explanations of perturbed copies."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import InputError
from .._validate import check_bool, check_float, check_int, check_seed
from ..results._attribution import Attribution
from ._common import Score, check_rows, choice, forward, prepare, removal_values, score
from ._engine import draws, masked_outputs, noise_outputs


def subset_draws(seed: int, n: int, n_samples: int, m: int) -> np.ndarray:
    """The ``"subset"`` perturbations of :func:`infidelity`: ``bool[n, S, M]``, each player
    removed with probability 1/2 (every subset equally likely)."""
    return np.random.default_rng(seed).random((n, n_samples, m)) < 0.5


def infidelity(model: Any, X: Any, attributions: Any, *, target: Any = None,
               perturbation: str = "noise", noise_scale: float = 0.1, n_samples: int = 10,
               normalize: bool = False, baseline: Any = 0.0, groups: Any = None,
               seed: int = 0, max_batch: int | None = None) -> Score:
    """Explanation infidelity (Yeh, Hsieh, Suggala, Inouye and Ravikumar 2019, "On the
    (In)fidelity and Sensitivity of Explanations", NeurIPS), as captum's ``infidelity``::

        INFD(phi, f, x) = E_I[ (I^T phi - (f_t(x) - f_t(x - I)))^2 ]

    estimated over ``n_samples`` perturbations ``I`` per row. With ``normalize`` the
    attributions are first scaled by the ``beta`` that minimises it (captum's
    ``normalize=True``): ``beta = sum(I^T phi * d) / sum((I^T phi)^2)``, ``d = f(x) - f(x-I)``.

    Perturbations:

    - ``"noise"`` (for local attributions: gradients, saliency): ``I ~ N(0, noise_scale^2)``
      per input element, drawn on the device (needs one attribution per element).
    - ``"subset"`` (for global attributions: Shapley values, integrated gradients,
      gradient x input): a random subset of players, each with probability 1/2, is set to
      ``baseline``; ``I`` is its indicator over the players, so ``I^T phi`` is the sum of
      the removed players' values (captum's binary perturbation with
      ``infidelity_perturb_func_decorator(multiply_by_inputs=True)``). Exact Shapley values
      of a linear model with the same baseline have infidelity 0.

    Args:
        model, X, attributions, target, groups, max_batch: as
            :func:`~xaicore.metrics.deletion`.
        perturbation: ``"noise"`` or ``"subset"``.
        noise_scale: Standard deviation of the ``"noise"`` perturbation.
        n_samples: Perturbations per row (captum's ``n_perturb_samples``).
        normalize: Scale the attributions by the best ``beta`` first (captum's option).
        baseline: The value removed players take under ``"subset"`` (as ``deletion``).
        seed: Seed of the perturbations.

    Returns:
        :class:`~xaicore.metrics.Score` of each row's infidelity.
    """
    perturbation = choice(perturbation, "perturbation", ("noise", "subset"))
    noise_scale = check_float(noise_scale, "noise_scale")
    n_samples = check_int(n_samples, "n_samples", 1)
    normalize = check_bool(normalize, "normalize")
    seed = check_seed(seed)
    inp = prepare(model, X, attributions, target=target, groups=groups, max_batch=max_batch)
    fx = forward(inp.fn, inp.x, inp.target, inp.batch)
    if perturbation == "noise":
        e = inp.groups.shape[1]
        if inp.n_players != e or not np.all(inp.groups == np.arange(e)[None]):
            raise InputError("perturbation: 'noise' perturbs every input element and needs "
                             "one attribution per element; grouped players take 'subset'")
        dot, y = noise_outputs(inp.fn, inp.x, inp.phi, inp.target, n_samples, seed,
                               "normal", noise_scale, inp.batch)
    else:
        ref = removal_values(baseline, inp.x)
        removed = subset_draws(seed, inp.n, n_samples, inp.n_players)
        y = masked_outputs(inp.fn, inp.x, ref, ~removed, inp.groups, inp.target, inp.batch)
        dot = np.einsum("nsm,nm->ns", removed, inp.phi)
    d = fx[:, None] - y
    if not normalize:
        return score(((dot - d) ** 2).mean(axis=1))
    a, b, c = (dot * dot).sum(1), (dot * d).sum(1), (d * d).sum(1)
    beta = b / np.where(a == 0, 1.0, a)
    return score((beta * beta * a - 2 * beta * b + c) / n_samples)


def _explain(explainer: Any, x: np.ndarray, target: Any) -> tuple[np.ndarray, Any]:
    """The explainer's values for ``x`` (and the resolved target, when it tells it)."""
    if hasattr(explainer, "explain"):
        out = explainer.explain(x, target=target)
    elif callable(explainer):
        out = explainer(x, target=target)
    else:
        raise InputError(f"explainer: expected an xaicore method (with .explain) or a "
                         f"callable explainer(X, target=) -> values, got "
                         f"{type(explainer).__name__}")
    if isinstance(out, Attribution):
        return np.asarray(out.values, np.float64), out.target
    values = np.asarray(out, np.float64)
    if values.shape[:1] != (len(x),):
        raise InputError(f"explainer: expected values with one row per row of X ({len(x)}),"
                         f" got {list(values.shape)}")
    return values, None


def _norm(a: np.ndarray, norm_ord: Any) -> np.ndarray:
    p = 2 if norm_ord == "fro" else norm_ord
    return np.linalg.norm(a.reshape(a.shape[0], -1), ord=p, axis=1)


def sensitivities(explainer: Any, X: Any, *, target: Any = None, radius: float = 0.02,
                  n_samples: int = 10, norm_ord: Any = "fro", normalize: bool = True,
                  seed: int = 0, chunk_rows: int = 4096) -> np.ndarray:
    """``||phi(x + delta_s) - phi(x)|| (/ ||phi(x)||)`` of every row and perturbation
    ``delta_s ~ U[-radius, radius]`` per element: ``[n, n_samples]``. See
    :func:`max_sensitivity`."""
    radius = check_float(radius, "radius")
    n_samples = check_int(n_samples, "n_samples", 1)
    normalize = check_bool(normalize, "normalize")
    seed = check_seed(seed)
    chunk_rows = check_int(chunk_rows, "chunk_rows", 1)
    if not (norm_ord == "fro" or (isinstance(norm_ord, (int, float))
                                  and not isinstance(norm_ord, bool) and norm_ord > 0)):
        raise InputError(f"norm_ord: expected 'fro' or a positive number (inf for the max "
                         f"norm), got {norm_ord!r}")
    fn = getattr(explainer, "fn", None)
    x = check_rows(fn, X)[1] if fn is not None else np.asarray(X, np.float32)
    n = len(x)
    phi, resolved = _explain(explainer, x, target)
    t = resolved if resolved is not None else target
    base = _norm(phi, norm_ord)
    base = np.where(base == 0, 1.0, base) if normalize else np.ones(n)
    out = np.empty((n, n_samples))
    per = max(1, chunk_rows // n_samples)                 # rows per re-explanation call
    for r0 in range(0, n, per):
        rows = np.arange(r0, min(n, r0 + per))
        delta = draws(seed, rows, n_samples, x.shape[1:], "uniform", radius)
        xp = (x[rows, None] + delta).reshape(-1, *x.shape[1:]).astype(x.dtype)
        tp = t
        if t is not None and not isinstance(t, str) and np.ndim(t) == 1:
            tp = np.repeat(np.asarray(t)[rows], n_samples)
        phi_p, _ = _explain(explainer, xp, tp)
        diff = phi_p.reshape(len(rows), n_samples, -1) - phi[rows].reshape(len(rows), 1, -1)
        out[rows] = _norm(diff.reshape(len(rows) * n_samples, -1), norm_ord).reshape(
            len(rows), n_samples) / base[rows, None]
    return out


_SENS_ARGS = """

    Args:
        explainer: An xaicore method (``xaicore.Saliency(model)``, ``KernelShap(...)``: its
            ``explain`` is called on the perturbed copies, batched), or any callable
            ``explainer(X, target=) -> values``.
        X: The rows ``[n, ...]``.
        target: As the explainer takes it; ``"predicted"`` is resolved once on ``X`` and
            kept for the perturbed copies (when the explainer returns an Attribution).
        radius: Half-width of the uniform (L-infinity) perturbation per element (captum's
            ``perturb_radius``).
        n_samples: Perturbed copies per row (captum's ``n_perturb_samples``).
        norm_ord: ``"fro"`` (Euclidean over all values) or a vector norm order.
        normalize: Divide by ``||phi(x)||`` (captum's and Quantus' default; rows whose
            explanation is 0 are divided by 1).
        seed: Seed of the perturbations (drawn on the device, one key per row and copy).
        chunk_rows: Perturbed rows per call of the explainer (bounds host memory).

    Returns:
        :class:`~xaicore.metrics.Score` of each row's sensitivity.
    """


def max_sensitivity(explainer: Any, X: Any, *, target: Any = None, radius: float = 0.02,
                    n_samples: int = 10, norm_ord: Any = "fro", normalize: bool = True,
                    seed: int = 0, chunk_rows: int = 4096) -> Score:
    return score(sensitivities(explainer, X, target=target, radius=radius,
                               n_samples=n_samples, norm_ord=norm_ord, normalize=normalize,
                               seed=seed, chunk_rows=chunk_rows).max(axis=1))


def avg_sensitivity(explainer: Any, X: Any, *, target: Any = None, radius: float = 0.02,
                    n_samples: int = 10, norm_ord: Any = "fro", normalize: bool = True,
                    seed: int = 0, chunk_rows: int = 4096) -> Score:
    return score(sensitivities(explainer, X, target=target, radius=radius,
                               n_samples=n_samples, norm_ord=norm_ord, normalize=normalize,
                               seed=seed, chunk_rows=chunk_rows).mean(axis=1))


max_sensitivity.__doc__ = """Max-sensitivity (Yeh et al. 2019, "On the (In)fidelity and
    Sensitivity of Explanations", NeurIPS), as captum's ``sensitivity_max``::

        SENS_MAX(phi, f, x, r) = max_{||delta||_inf <= r} ||phi(x + delta) - phi(x)|| / ||phi(x)||

    estimated as the largest of ``n_samples`` uniform perturbations per row.""" + _SENS_ARGS

avg_sensitivity.__doc__ = """Average sensitivity (Yeh et al. 2019): the mean, instead of
    the max, of ``||phi(x + delta) - phi(x)|| / ||phi(x)||`` over ``n_samples`` uniform
    perturbations ``||delta||_inf <= r`` per row (Quantus' ``AvgSensitivity``).""" + _SENS_ARGS
