"""Large jobs: peak memory as rows grow, and rows/second per engine.

    python benchmarks/bench_jobs.py            # 10k and 1M rows (RSS), 100k rows (speed)
    python benchmarks/bench_jobs.py --small    # a quick check of the script itself

* Peak RSS of ``xaicore.explain_dataset`` (saliency, ``merge=False``) over a ``.npy`` of
  10k and 1M rows of 13 features: each in its own process, the data file written
  beforehand in blocks; flat memory means the two peaks are close.
* Rows/second of KernelSHAP (n_samples=64, 64 background rows) on 100k rows: one device,
  two fake CPU devices (``--xla_force_host_platform_device_count=2``: on a CPU they share
  the same cores, so expect no gain there; on a multi-GPU machine each takes parts), a
  2-worker local Ray cluster, and shap's KernelExplainer (nsamples=64) on a sample of rows,
  extrapolated (it would take hours on all of them).

Every case runs in a fresh subprocess; the times include the export, the data digest and
compilation, as a user's job does.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
D = 13


def make_files(folder: pathlib.Path, rows: int) -> pathlib.Path:
    import numpy as np

    path = folder / f"x{rows}.npy"
    if not path.exists():
        a = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, D))
        rng = np.random.default_rng(0)
        for s in range(0, rows, 1 << 16):
            a[s:s + (1 << 16)] = rng.normal(size=(min(1 << 16, rows - s), D))
        a.flush()
        del a
    model = folder / "mlp.keras"
    if not model.exists():
        os.environ.setdefault("KERAS_BACKEND", "jax")
        import keras

        init = keras.initializers.GlorotUniform(seed=0)
        keras.Sequential([keras.Input((D,)), keras.layers.Dense(32, "relu",
                                                                kernel_initializer=init),
                          keras.layers.Dense(3, kernel_initializer=init)]).save(model)
    return path


def case(kind: str, folder: str, rows: int, sample: int) -> dict:
    """One measurement, run inside its own process."""
    import numpy as np

    import xaicore

    f = pathlib.Path(folder)
    data, model = f / f"x{rows}.npy", f / "mlp.keras"
    out = pathlib.Path(tempfile.mkdtemp(prefix=f"job-{kind}-", dir=folder))
    t0 = time.perf_counter()
    if kind == "rss":
        xaicore.explain_dataset(model, data, out=out, method="saliency", chunk=8192,
                                merge=False)
    elif kind == "shap":
        import shap

        fn = xaicore.export(model)
        x = np.load(data, mmap_mode="r")
        rng = np.random.default_rng(0)
        bg = np.asarray(x[np.sort(rng.choice(len(x), 64, replace=False))])
        pred = lambda z: np.asarray(fn(z.astype("float32")))   # noqa: E731
        ex = shap.KernelExplainer(pred, bg)
        t0 = time.perf_counter()
        ex.shap_values(np.asarray(x[:sample]), nsamples=64, silent=True)
        seconds = time.perf_counter() - t0
        return {"rows_per_s": sample / seconds, "measured_rows": sample}
    else:
        kw = {"engine": "ray", "workers": 2} if kind == "ray" else {}
        if kind == "ray":
            import ray

            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
            t0 = time.perf_counter()
        xaicore.explain_dataset(model, data, out=out, method="kernelshap", chunk=4096,
                                options={"n_samples": 64}, merge=False, **kw)
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "rows_per_s": rows / seconds, "peak_rss_mb": peak_mb}


def run(kind: str, folder: pathlib.Path, rows: int, sample: int = 0, env: dict | None = None
        ) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT), KERAS_BACKEND="jax", **(env or {}))
    r = subprocess.run([sys.executable, __file__, "--case", kind, str(folder), str(rows),
                        str(sample)], env=env, capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"{kind} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--small", action="store_true", help="2k/20k rows (RSS), 5k (speed)")
    p.add_argument("--folder", default=None, help="where the data files go (default: temp)")
    p.add_argument("--case", nargs=4, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.case:
        kind, folder, rows, sample = a.case
        print(json.dumps(case(kind, folder, int(rows), int(sample))))
        return
    folder = pathlib.Path(a.folder or tempfile.mkdtemp(prefix="xaicore-bench-jobs-"))
    folder.mkdir(parents=True, exist_ok=True)
    small, large, speed = (2_000, 20_000, 5_000) if a.small else (10_000, 1_000_000, 100_000)
    for n in (small, large, speed):
        make_files(folder, n)
    results = {}
    for n in (small, large):
        results[f"rss saliency {n} rows"] = run("rss", folder, n)
    results["kernelshap 1 device"] = run("local", folder, speed,
                                         env={"XLA_FLAGS": ""})
    results["kernelshap 2 fake devices"] = run(
        "local", folder, speed, env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2"})
    results["kernelshap ray, 2 workers"] = run("ray", folder, speed)
    results["shap KernelExplainer (sample, extrapolated)"] = run(
        "shap", folder, speed, sample=20 if a.small else 100)
    for name, r in results.items():
        cells = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in r.items())
        print(f"{name:46s} {cells}")
    print(json.dumps({"uptime": os.getloadavg(), **results}))


if __name__ == "__main__":
    main()
