"""Peers on the same functions and the same number of model evaluations: shap, shapiq,
captum (on a PyTorch copy of the MLP with copied weights) and lime. Each is optional: a
missing package is skipped with a note. Every peer's model rows are counted where they
enter the model, so the figures are what the peer really spent."""
from __future__ import annotations

import statistics
import time
import warnings
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._games import masked_value_fn
from ._suites import Case

PEERS = ("shap", "shapiq", "captum", "lime")

#: shapiq's Shapley-value approximators tried by name (newer releases add the later ones).
SHAPIQ_APPROXIMATORS = ("KernelSHAP", "PermutationSamplingSV", "LeverageSHAP", "RegressionMSR",
                        "OddSHAP", "ProxySHAP", "PolySHAP", "SVARM", "UnbiasedKernelSHAP")
#: Arguments some of them need to approximate plain Shapley values.
SHAPIQ_KWARGS = {"RegressionMSR": {"index": "SV"}, "ProxySHAP": {"index": "SV", "max_order": 1}}


class Counted:
    """A jitted function of a batch, called by a peer: pads each call to a power-of-two
    bucket (so changing batch sizes do not recompile) and counts model rows."""

    def __init__(self, f: Callable[..., Any], rows_per_item: int, dtype: Any,
                 row_shape: tuple, args: tuple = ()) -> None:
        self.f, self.per, self.dtype, self.shape = f, rows_per_item, dtype, row_shape
        self.args, self.rows = args, 0

    def __call__(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z).reshape((-1, *self.shape)).astype(self.dtype)
        n = len(z)
        self.rows += n * self.per
        size = max(16, 1 << (n - 1).bit_length())
        if size > n:
            z = np.concatenate([z, np.repeat(z[-1:], size - n, axis=0)])
        return np.asarray(self.f(jnp.asarray(z), *self.args))[:n]


_JITTED: dict = {}


def _output(case: Case) -> Counted:
    """The model's target output, jitted once per case, counted."""
    if ("out", id(case)) not in _JITTED:
        fn, t = case.fn, case.target
        _JITTED[("out", id(case))] = jax.jit(lambda x: fn.apply_flat(fn.params, x)[:, t])
    return Counted(_JITTED[("out", id(case))], 1, case.X.dtype, case.X.shape[1:])


def _game(case: Case, x: np.ndarray) -> Counted:
    """The coalition game of one row as a function of player indicators ``z [s, M]``
    (jitted once per case; the row is an argument, so no row recompiles)."""
    if ("game", id(case)) not in _JITTED:
        fn = case.fn
        value = masked_value_fn(lambda r: fn.apply_flat(fn.params, r), case.background,
                                case.flat_groups, case.target)
        _JITTED[("game", id(case))] = jax.jit(lambda z, x: value(z > 0.5, x))
    return Counted(_JITTED[("game", id(case))], len(case.background), np.float32,
                   (case.n_players,), (jnp.asarray(x),))


def _direct(case: Case) -> bool:
    """Peers see the model itself for ungrouped float inputs, else the coalition game."""
    return case.groups is None and case.X.dtype.kind == "f"


def _timed(run: Callable[[], tuple[np.ndarray, int]], repeats: int) -> dict:
    t = time.perf_counter()
    values, rows = run()
    first = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        values, rows = run()
        times.append(time.perf_counter() - t)
    return {"values": values, "model_rows": rows, "seconds": statistics.median(times),
            "first_call_seconds": first}


def shap_entries(case: Case, X: np.ndarray, budget: int, seed: int, repeats: int) -> dict:
    """shap.KernelExplainer (l1_reg=False) and shap.PermutationExplainer."""
    import shap

    m, out = case.n_players, {}

    def kernel() -> tuple[np.ndarray, int]:
        if _direct(case):
            f = _output(case)
            ex = shap.KernelExplainer(f, case.background, seed=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                sv = ex.shap_values(X, nsamples=budget, l1_reg=False, silent=True)
            return np.asarray(sv).reshape(len(X), m), f.rows
        vals, rows = [], 0
        for x in X:
            g = _game(case, x)
            ex = shap.KernelExplainer(g, np.zeros((1, m)), seed=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                vals.append(np.asarray(ex.shap_values(np.ones((1, m)), nsamples=budget,
                                                      l1_reg=False, silent=True)).reshape(m))
            rows += g.rows
        return np.array(vals), rows

    def permutation() -> tuple[np.ndarray, int]:
        evals = max(budget, 2 * m + 2)
        if _direct(case):
            f = _output(case)
            masker = shap.maskers.Independent(case.background, max_samples=len(case.background))
            ex = shap.PermutationExplainer(f, masker, seed=seed)
            return np.asarray(ex(X, max_evals=evals, silent=True).values), f.rows
        vals, rows = [], 0
        for x in X:
            g = _game(case, x)
            ex = shap.PermutationExplainer(g, shap.maskers.Independent(np.zeros((1, m))),
                                           seed=seed)
            vals.append(np.asarray(ex(np.ones((1, m)), max_evals=evals, silent=True).values[0]))
            rows += g.rows
        return np.array(vals), rows

    out["shap.KernelExplainer"] = _timed(kernel, repeats)
    out["shap.PermutationExplainer"] = _timed(permutation, repeats)
    return out


def shapiq_entries(case: Case, X: np.ndarray, budget: int, seed: int, repeats: int
                   ) -> tuple[dict, list[str]]:
    """shapiq's Shapley-value approximators (those this release has), budget = coalitions."""
    import shapiq.approximator as approx

    m, out, notes = case.n_players, {}, []
    for name in SHAPIQ_APPROXIMATORS:
        cls = getattr(approx, name, None) or getattr(__import__("shapiq"), name, None)
        if cls is None:
            notes.append(f"shapiq.{name}: not in this shapiq release")
            continue

        def run(cls: Any = cls) -> tuple[np.ndarray, int]:
            vals, rows = [], 0
            for x in X:
                g = _game(case, x)
                a = cls(n=m, random_state=seed, **SHAPIQ_KWARGS.get(cls.__name__, {}))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    iv = a.approximate(budget=max(budget, 2),   # a copy: PolySHAP writes
                                       game=lambda z: np.array(g(z), np.float64))  # into it
                vals.append(np.asarray(iv.get_n_order_values(1), np.float64).reshape(m))
                rows += g.rows
            return np.array(vals), rows
        try:
            out[f"shapiq.{name}"] = _timed(run, repeats)
        except Exception as e:  # noqa: BLE001 - a peer's failure is reported, not fatal
            notes.append(f"shapiq.{name}: failed ({type(e).__name__}: {str(e)[:120]})")
    return out, notes


def lime_entries(case: Case, X: np.ndarray, budget: int, seed: int, repeats: int) -> dict:
    """lime's LimeTabularExplainer over the players (binary: present / from background)."""
    from lime.lime_tabular import LimeTabularExplainer

    m = case.n_players

    def run() -> tuple[np.ndarray, int]:
        vals, rows = [], 0
        for x in X:
            g = _game(case, x)
            ex = LimeTabularExplainer(np.array([np.zeros(m), np.ones(m)]),
                                      categorical_features=list(range(m)), mode="regression",
                                      discretize_continuous=False, random_state=seed)
            e = ex.explain_instance(np.ones(m), g, num_features=m, num_samples=budget)
            v = np.zeros(m)
            for i, w in e.local_exp[next(iter(e.local_exp))]:
                v[i] = w
            vals.append(v)
            rows += g.rows
        return np.array(vals), rows
    return {"lime.LimeTabularExplainer": _timed(run, repeats)}
