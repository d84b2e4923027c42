"""What a bench run leaves: the terminal table, ``bench.json`` and the PNG plots."""
from __future__ import annotations

import datetime
import json
import math
import os
import platform
from importlib import metadata
from typing import Any

PACKAGES = ("xaicore", "jax", "jaxlib", "keras", "numpy", "shap", "shapiq", "captum", "torch",
            "lime", "scikit-learn", "tensorflow-cpu")


def environment(device: Any) -> dict:
    """Machine, date, versions and load of this run."""
    versions = {}
    for p in PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            continue
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    return {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": {"platform": platform.platform(), "processor": platform.machine(),
                        "cpus": os.cpu_count(), "python": platform.python_version(),
                        "device": f"{device.platform}:{getattr(device, 'device_kind', '')}"},
            "versions": versions, "load_before": load}


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def table(results: list[dict]) -> str:
    """A Markdown table: one line per (case, method or peer, budget)."""
    head = ["case", "method", "budget", "model rows/row", "MAE", "truth", "s (median)",
            "first call s", "model rows/s", "of limit"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        frac = r.get("fraction_of_limit")
        lines.append("| " + " | ".join([
            r["case"], r["method"], _fmt(r["budget"]), _fmt(r["model_rows_per_row"], 4),
            _fmt(r["mae"]), r["truth"] or "-", _fmt(r["seconds"]),
            _fmt(r["first_call_seconds"]), _fmt(r["model_rows_per_s"]),
            "-" if frac is None else f"{100 * frac:.1f}%"]) + " |")
    return "\n".join(lines)


def write_json(path: str, record: dict) -> None:
    """``record`` as JSON, written atomically."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=1, default=float)
    os.replace(tmp, path)


def plots(results: list[dict], out: str) -> list[str]:
    """Per case: error against model evaluations (left) and against seconds (right), one
    line per method or peer; Shapley estimators on top, gradient methods below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for case in dict.fromkeys(r["case"] for r in results):
        rows = [r for r in results if r["case"] == case and r["mae"] is not None
                and r["mae"] == r["mae"]]
        kinds = [k for k in ("shapley", "gradient") if any(r["family"] == k for r in rows)]
        if not kinds:
            continue
        fig, axes = plt.subplots(len(kinds), 2, figsize=(11, 4.2 * len(kinds)), squeeze=False)
        for ax_row, kind in zip(axes, kinds):
            series: dict = {}
            for r in rows:
                if r["family"] == kind:
                    series.setdefault(r["method"], []).append(r)
            colors = plt.get_cmap("tab20").colors
            for i, (name, pts) in enumerate(series.items()):
                pts.sort(key=lambda r: r["model_rows_per_row"])
                style = "-o" if pts[0]["source"] == "xaicore" else "--s"
                err = [max(p["mae"], 1e-12) for p in pts]
                c = colors[(2 * i) % 20 + (2 * i) // 20 % 2]
                ax_row[0].plot([p["model_rows_per_row"] for p in pts], err, style,
                               label=name, ms=4, color=c)
                ax_row[1].plot([p["seconds"] for p in pts], err, style, label=name, ms=4,
                               color=c)
            for ax, xl in zip(ax_row, ("model evaluations per explained row",
                                       "seconds (median of repeats, compile excluded)")):
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.set_xlabel(xl)
                ax.set_ylabel("mean abs error vs truth")
                ax.grid(True, which="both", alpha=0.3)
            ax_row[0].set_title(f"{case}: {kind} estimators")
            ax_row[1].legend(fontsize=7, loc="best")
        fig.tight_layout()
        path = os.path.join(out, f"bench_{case}.png")
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths
