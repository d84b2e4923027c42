"""The Ray engine on a local 2-CPU cluster the module starts: results equal the local
engine's, a job resumes across engines, a killed actor is replaced, and Ray Data's
``map_batches`` explains batches with :class:`xaicore.ExplainBatches`."""
from __future__ import annotations

import os

import numpy as np
import pytest
from test_shapley import small_model

import xaicore
from xaicore.jobs import _file_jobs, _ray_engine

ray = pytest.importorskip("ray")
OPTS = {"method": "kernelshap", "options": {"n_samples": 32}, "chunk": 4}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    d = tmp_path_factory.mktemp("ray")
    small_model(d=5, o=3, seed=2).save(d / "model.keras")
    X = np.random.default_rng(3).normal(size=(24, 5)).astype("float32")
    np.save(d / "x.npy", X)
    want = xaicore.explain_dataset(d / "model.keras", d / "x.npy", out=d / "local",
                                   **OPTS).merged()
    root = os.path.dirname(os.path.dirname(xaicore.__file__))
    here = os.getcwd()
    os.chdir(d)     # the workers' code path starts at the driver's folder: not the checkout
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": root}})
    finally:
        os.chdir(here)
    yield d, X, want
    ray.shutdown()


def test_ray_engine_equals_local_and_survives_a_killed_actor(cluster, tmp_path, monkeypatch):
    d, X, want = cluster
    killed = []

    def kill_one(part, actors):                    # after the first saved part
        if not killed:
            killed.append(ray.get(actors[0].pid.remote()))
            ray.kill(actors[0], no_restart=True)

    monkeypatch.setattr(_ray_engine, "_part_saved", kill_one)
    job = xaicore.explain_dataset(d / "model.keras", d / "x.npy", out=tmp_path / "o",
                                  engine="ray", workers=2, **OPTS)
    assert killed and job.complete
    got = job.merged()
    np.testing.assert_array_equal(got.data, X)
    np.testing.assert_allclose(got.values, want.values, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(got.target, want.target)


def test_a_job_started_locally_resumes_on_ray(cluster, tmp_path, monkeypatch):
    d, X, want = cluster
    calls = []
    real = _file_jobs._explain_part

    def crash_on_third(explainer, x, target):
        calls.append(len(x))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(explainer, x, target)

    monkeypatch.setattr(_file_jobs, "_explain_part", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        xaicore.explain_dataset(d / "model.keras", d / "x.npy", out=tmp_path / "o", **OPTS)
    monkeypatch.undo()
    assert xaicore.load_job(tmp_path / "o").done == [0, 1]
    said = []
    job = xaicore.explain_dataset(d / "model.keras", d / "x.npy", out=tmp_path / "o",
                                  engine="ray", workers=1, log=said.append, **OPTS)
    assert "resuming: 2 of 6 parts already done" in said
    np.testing.assert_allclose(job.merged().values, want.values, rtol=0, atol=1e-6)


def test_map_batches_explains_a_ray_dataset(cluster):
    d, X, want = cluster
    background = X                 # what the job drew: 64 rows at most, so all 24, in order
    ds = ray.data.from_items([{"id": i, **{c: float(X[i, j]) for j, c in enumerate("abcde")}}
                              for i in range(len(X))])
    out = ds.map_batches(xaicore.ExplainBatches, batch_size=10, concurrency=1,
                         fn_constructor_kwargs={"model": str(d / "model.keras"),
                                                "background": background,
                                                "columns": list("abcde"),
                                                "options": {"n_samples": 32}})
    rows = sorted(out.take_all(), key=lambda r: r["id"])
    values = np.stack([r["values"] for r in rows])
    np.testing.assert_allclose(values, want.values, rtol=0, atol=1e-5)
    np.testing.assert_array_equal([r["target"] for r in rows], want.target)
