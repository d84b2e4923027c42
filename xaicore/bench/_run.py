"""``run_bench``: every method and peer on every case of a suite, scored and timed."""
from __future__ import annotations

import os
import sys
import time
from typing import Any, Callable, Sequence

import numpy as np

from .._errors import InputError
from . import _games, _ours, _peers, _report
from ._limits import forward_limit, gradient_limit
from ._suites import SIZES, SUITES, Case, build_cases

#: Which xaicore method each peer's figures sit beside.
FAMILY = {"coalition": "shapley", "once": "shapley", "gradient": "gradient"}


def _names(value: Any, allowed: Sequence[str], arg: str) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    items = [s.strip() for s in items if s.strip()]
    bad = [s for s in items if s not in allowed]
    if bad:
        raise InputError(f"{arg}: expected names from {', '.join(allowed)}, got {bad[0]!r}")
    return items


def check_args(suite: str, methods: Any, peers: Any, device: str | None, budgets: Any,
               repeats: Any, out: str) -> tuple:
    """Every argument checked before anything is built or written."""
    if suite not in SUITES:
        raise InputError(f"--suite: expected one of {', '.join(SUITES)}, got {suite!r}")
    methods = list(_ours.METHODS) if methods is None else _names(methods, list(_ours.METHODS),
                                                                 "--methods")
    if not methods:
        raise InputError("--methods: expected at least one method, got none")
    peers = [] if peers in (None, "none") else _names(peers, _peers.PEERS, "--peers")
    if device not in (None, "cpu", "gpu"):
        raise InputError(f"--device: expected cpu or gpu, got {device!r}")
    if budgets is not None:
        try:
            budgets = [int(b) for b in (budgets.split(",") if isinstance(budgets, str)
                                        else budgets)]
        except ValueError:
            raise InputError(f"--budgets: expected comma-separated ints >= 4, got {budgets!r}")
        if not budgets or min(budgets) < 4:
            raise InputError(f"--budgets: expected comma-separated ints >= 4, got {budgets!r}")
    if repeats is not None and (isinstance(repeats, bool) or not isinstance(repeats, int)
                                or repeats < 1):
        raise InputError(f"--repeats: expected an int >= 1, got {repeats!r}")
    if os.path.exists(out) and not os.path.isdir(out):
        raise InputError(f"--out: expected a folder (new or existing), got the file {out!r}")
    return methods, peers, budgets, repeats


def _device(kind: str | None) -> Any:
    import jax

    if kind is None:
        return jax.devices()[0]
    try:
        return jax.devices(kind)[0]
    except RuntimeError as e:
        raise InputError(f"--device: expected a visible {kind} device, got none "
                         f"(JAX backends: {jax.default_backend()}; {str(e)[:80]})") from None


def _truths(case: Case, need_paths: bool) -> None:
    """Shapley values (and, for gradient methods, IG / EG) the estimates are scored on."""
    if case.game is not None:
        case.shapley = case.game.shapley(case.X, case.background)
        case.paths = {"ig": case.game.integrated_gradients(case.X, case.background[0]),
                      "eg": case.game.expected_gradients(case.X, case.background)}
        return
    fn = case.fn
    apply = lambda r: fn.apply_flat(fn.params, r)  # noqa: E731
    case.shapley = _games.brute_force_shapley(apply, case.X, case.background,
                                              case.flat_groups, case.n_players, case.target)
    if need_paths and case.gradients:
        case.paths = {"ig": _games.path_reference(apply, case.X, case.background[:1],
                                                  case.target),
                      "eg": _games.path_reference(apply, case.X, case.background, case.target)}


def _score(case: Case, method: str, values: np.ndarray) -> tuple[float | None, str]:
    n = len(values)
    if method in ("ig", "eg", "captum.IntegratedGradients"):
        key = "eg" if method == "eg" else "ig"
        if key in case.paths:
            return float(np.abs(values - case.paths[key][:n]).mean()), key
        return None, ""
    if method in ("saliency", "smoothgrad"):
        return None, ""
    truth = case.shapley[:n]
    return float(np.abs(values.reshape(truth.shape) - truth).mean()), \
        "shapley*" if "lime" in method.lower() else "shapley"


def _faithfulness(case: Case, values: np.ndarray) -> dict | None:
    """Deletion and insertion AUC (most relevant first) of one result, through
    ``xaicore.metrics`` on the same function: players removed to the background's mean
    (its first row for token ids), at most 16 steps. ``None`` where a metric does not
    apply (e.g. attributions of another shape than players or inputs)."""
    from .. import metrics
    from .._errors import XaicoreError

    v = np.asarray(values)
    if v.ndim < 2 or len(v) != len(case.X):
        return None
    integer = np.asarray(case.X).dtype.kind in "iu"
    kw: dict = {"target": np.full(len(case.X), case.target),
                "baseline": case.background[0] if integer else case.background.mean(0),
                "steps": min(case.n_players, 16)}
    if v.shape[1:] != case.X.shape[1:] and case.groups is not None:
        kw["groups"] = case.groups
    try:
        return {"deletion_auc": float(metrics.deletion(case.fn, case.X, v, **kw).mean),
                "insertion_auc": float(metrics.insertion(case.fn, case.X, v, **kw).mean)}
    except (XaicoreError, ValueError, TypeError):
        return None


def _entry(case: Case, name: str, source: str, kind: str, budget: int | None, r: dict,
           limits: dict) -> dict:
    mae, truth = _score(case, name, r["values"])
    rows = len(r["values"])
    rate = r["model_rows"] / r["seconds"] if r["seconds"] > 0 else float("nan")
    limit = limits["gradient" if kind == "gradient" or name == "saliency" else "forward"]
    return {"case": case.name, "method": name, "source": source, "family": FAMILY[kind],
            "budget": budget, "rows": rows, "model_rows": r["model_rows"],
            "model_rows_per_row": r["model_rows"] / rows, "mae": mae, "truth": truth,
            "seconds": r["seconds"], "first_call_seconds": r["first_call_seconds"],
            "model_rows_per_s": rate,
            "fraction_of_limit": rate / limit["rows_per_s"] if limit else None,
            "faithfulness": _faithfulness(case, r["values"])}


def run_bench(suite: str = "quick", *, methods: Any = None, peers: Any = None,
              device: str | None = None, budgets: Any = None, repeats: int | None = None,
              out: str = "xaicore-bench", seed: int = 0, progress: bool | None = None,
              log: Callable[[str], None] | None = print, command: str | None = None) -> dict:
    """Run a suite; writes ``out/bench.json`` and ``out/bench_<case>.png``; returns the
    record (also printed as a table through ``log``)."""
    methods, peers, budgets, repeats = check_args(suite, methods, peers, device, budgets,
                                                  repeats, out)
    import jax

    dev = _device(device)
    size = SIZES[suite]
    budgets = budgets or list(size["budgets"])
    repeats = repeats or size["repeats"]
    say = log or (lambda s: None)
    record = {"command": command or " ".join(sys.argv), "suite": suite, "seed": seed,
              "repeats": repeats, "budgets": budgets, "steps": list(size["steps"]),
              **_report.environment(dev), "cases": [], "results": [], "notes": [
                  "same functions, same background, budgets in model evaluations; model rows "
                  "counted where they enter the model (peers included)",
                  "seconds: median of the warm repeats; the first call (compiles) reported "
                  "apart as first_call_seconds",
                  "fraction_of_limit: model rows/s over the best rows/s of the same jitted "
                  "function (forward, or forward+backward for gradient methods), same run",
                  "shapley*: LIME estimates its own coefficients, not Shapley values; its "
                  "error against Shapley values is shown for reference only"]}
    t_start = time.perf_counter()
    with jax.default_device(dev):
        size, cases = build_cases(suite, seed)
        tasks = _plan(cases, methods, peers, budgets, size)
        meter = _meter(len(tasks), progress)
        for case in cases:
            need = any(m in methods for m in ("ig", "eg")) or "captum" in peers
            _truths(case, need)
            row = np.asarray(case.X[0])
            sizes = (256, 1024, 4096, 16384) if suite != "smoke" else (256, 1024)
            reps = 1 if suite == "smoke" else 3
            limits = {"forward": forward_limit(case.fn, row, sizes, reps),
                      "gradient": gradient_limit(case.fn, row, sizes[:3], case.target, reps)
                      if case.gradients else None}
            record["cases"].append({"name": case.name, "kind": case.kind, "rows": len(case.X),
                                    "n_players": case.n_players, "truth": case.truth,
                                    "background_rows": len(case.background),
                                    "limits": limits})
            for task in [t for t in tasks if t[0] is case]:
                record["results"] += _execute(task, limits, seed, repeats, record["notes"],
                                              size["peer_rows"])
                meter.update(1)
            os.makedirs(out, exist_ok=True)        # partial record after each case
            _report.write_json(os.path.join(out, "bench.json"), {**record, "partial": True})
        meter.close()
    record["seconds_total"] = time.perf_counter() - t_start
    record["load_after"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    os.makedirs(out, exist_ok=True)
    text = _report.table(record["results"])
    with open(os.path.join(out, "bench.md"), "w") as f:
        f.write(text + "\n")
    try:
        record["plots"] = _report.plots(record["results"], out)
    except ImportError:
        record["notes"].append("plots: matplotlib is not installed")
    _report.write_json(os.path.join(out, "bench.json"), record)
    say(text)
    say(f"{record['date']} | {record['machine']['device']} | load {record['load_before']} | "
        f"{record['seconds_total']:.0f} s | results in {out}/bench.json")
    return record


def _plan(cases: list[Case], methods: list[str], peers: list[str], budgets: list[int],
          size: dict) -> list[tuple]:
    tasks = []
    for case in cases:
        for m in methods:
            if _ours.applies(m, case) is not None:
                continue
            kind = _ours.METHODS[m][0]
            grid = {"coalition": budgets, "gradient": list(size["steps"]), "once": [None]}[kind]
            tasks += [(case, "xaicore", m, b) for b in grid]
        coalition = any(_ours.METHODS[m][0] == "coalition" for m in methods)
        for p in peers:
            if p == "captum" and case.kind != "tabular":
                continue
            if p in ("shap", "shapiq", "captum") and coalition:
                tasks += [(case, p, "coalition", b) for b in budgets]
            if p == "lime" and "lime" in methods:
                tasks += [(case, p, "coalition", b) for b in budgets]
            if p == "captum" and "ig" in methods:
                tasks += [(case, p, "gradient", b) for b in size["steps"]]
    return tasks


def _meter(total: int, progress: bool | None) -> Any:
    from .._progress import NoProgress

    if progress is False:
        return NoProgress()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return NoProgress()
    return tqdm(total=total, desc="xaicore bench", unit="run", leave=False)


def _execute(task: tuple, limits: dict, seed: int, repeats: int, notes: list,
             peer_rows: int) -> list[dict]:
    case, source, what, budget = task
    if source == "xaicore":
        if what == "kernelshap" and budget < 2 * (case.n_players - 1):
            notes.append(f"kernelshap on {case.name}: budget {budget} skipped (KernelShap "
                         f"needs at least 2 (M - 1) = {2 * (case.n_players - 1)})")
            return []
        r = _ours.run(what, case, budget, seed, repeats)
        return [_entry(case, what, "xaicore", _ours.METHODS[what][0], budget, r, limits)]
    X = case.X[:peer_rows]
    try:
        if source == "shap":
            found = _peers.shap_entries(case, X, budget, seed, repeats)
        elif source == "shapiq":
            found, more = _peers.shapiq_entries(case, X, budget, seed, repeats)
            notes += [n for n in more if n not in notes]
        elif source == "lime":
            found = _peers.lime_entries(case, X, budget, seed, repeats)
        else:
            from ._captum import captum_entries

            found, gap = captum_entries(case, X, budget if what == "coalition" else None,
                                        budget if what == "gradient" else None, seed, repeats)
            note = f"captum: the PyTorch copy of {case.name} matches Keras to {gap:.1e}"
            if note not in notes:
                notes.append(note)
    except ImportError as e:
        note = f"{source}: skipped (not installed: {e.name})"
        if note not in notes:
            notes.append(note)
        return []
    kind = "gradient" if what == "gradient" else "coalition"
    return [_entry(case, name, source, kind, budget, r, limits) for name, r in found.items()]
