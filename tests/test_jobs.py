"""``xaicore explain``: file in, chunked parts, resume after a crash, the same result."""
from __future__ import annotations

import json

import numpy as np
import pytest
from test_shapley import small_model

import xaicore
from xaicore.jobs import _file_jobs as _jobs
from xaicore.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("job")
    model = small_model(d=5, o=3, seed=2)
    model.save(d / "model.keras")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 5)).astype("float32")
    B = rng.normal(size=(6, 5)).astype("float32")
    np.save(d / "x.npy", X)
    np.savetxt(d / "bg.csv", B, delimiter=",", header="a,b,c,d,e", comments="")
    return d, X, B


def _cli(d, out, *extra, background=True):
    bg = ["--background", str(d / "bg.csv")] if background else []
    return main(["explain", str(d / "model.keras"), str(d / "x.npy"), "--out", str(out),
                 *bg, "--chunk", "4", "--quiet", *extra])


def test_cli_equals_the_api(files, tmp_path):
    d, X, B = files
    assert _cli(d, tmp_path / "o", "--option", "n_samples=20", "--option",
                "estimator='linear'") == 0
    got = xaicore.Attribution.load(tmp_path / "o" / "attribution.npz")
    fn = xaicore.export(str(d / "model.keras"))
    want = xaicore.KernelShap(fn, B, n_samples=20, estimator="linear").explain(
        X, target="predicted")
    np.testing.assert_allclose(got.values, want.values, atol=1e-6)
    np.testing.assert_array_equal(got.target, want.target)
    np.testing.assert_allclose(got.stats["stderr"], want.stats["stderr"], atol=1e-6)
    assert got.stats["model_rows"] > 0 and len(list((tmp_path / "o" / "parts").iterdir())) == 3


def test_resume_after_a_crash(files, tmp_path, monkeypatch):
    d = files[0]
    calls = []
    real = _jobs._explain_part

    def crash_on_third(explainer, x, target):
        calls.append(len(x))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(explainer, x, target)

    monkeypatch.setattr(_jobs, "_explain_part", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        _cli(d, tmp_path / "o", "--method", "permutationshap", "--target", "all")
    assert not (tmp_path / "o" / "attribution.npz").exists()
    calls.clear()
    assert _cli(d, tmp_path / "o", "--method", "permutationshap", "--target", "all") == 0
    assert calls == [2]                                  # only the missing last part
    resumed = xaicore.Attribution.load(tmp_path / "o" / "attribution.npz")
    monkeypatch.setattr(_jobs, "_explain_part", real)
    assert _cli(d, tmp_path / "fresh", "--method", "permutationshap", "--target", "all") == 0
    fresh = xaicore.Attribution.load(tmp_path / "fresh" / "attribution.npz")
    np.testing.assert_array_equal(resumed.values, fresh.values)
    assert resumed.values.shape == (10, 5, 3) and resumed.target is None


def test_refuses_another_job_in_the_same_folder(files, tmp_path, capsys):
    d, _, _ = files
    assert _cli(d, tmp_path / "o", "--method", "saliency", background=False) == 0
    assert _cli(d, tmp_path / "o", "--method", "saliency", "--seed", "3",
                background=False) == 2
    err = capsys.readouterr().err
    assert "--out:" in err and "seed" in err
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["method"] == "saliency" and manifest["rows"] == 10


def test_default_background_and_errors(files, tmp_path, capsys):
    d = files[0]
    att = _jobs.run_job(d / "model.keras", d / "x.npy", tmp_path / "o", background_rows=4,
                        target="1", options={"n_samples": 16}, log=None, progress=False)
    assert att.values.shape == (10, 5) and np.all(att.target == 1)
    assert att.params["background_rows"] == 4
    assert main(["explain", str(d / "model.keras"), str(d / "x.npy"), "--out",
                 str(tmp_path / "e"), "--method", "shapley"]) == 2
    assert "--method: expected one of" in capsys.readouterr().err
    with pytest.raises(xaicore.InputError, match="--option: expected key=value"):
        _jobs.parse_option("n_samples")
    with pytest.raises(xaicore.InputError, match="--option: KernelShap does not take"):
        _jobs.run_job(d / "model.keras", d / "x.npy", tmp_path / "f", log=None,
                      options={"n_steps": 3})
    with pytest.raises(xaicore.InputError, match="data: expected a .npy, .npz, .csv or .parquet"):
        _jobs.run_job(d / "model.keras", d / "model.keras", tmp_path / "g", log=None)
    with pytest.raises(xaicore.InputError, match="--target: expected an output index"):
        _jobs.run_job(d / "model.keras", d / "x.npy", tmp_path / "h", target="max", log=None)


def test_lime_job(files, tmp_path):
    d, X, B = files
    assert _cli(d, tmp_path / "o", "--method", "lime", "--option", "n_samples=50") == 0
    got = xaicore.Attribution.load(tmp_path / "o" / "attribution.npz")
    want = xaicore.Lime(xaicore.export(str(d / "model.keras")), B, n_samples=50).explain(
        X, target="predicted")
    np.testing.assert_allclose(got.values, want.values, atol=1e-6)
    np.testing.assert_allclose(got.stats["score"], want.stats["score"], atol=1e-6)


def test_merge_sums_counts_and_keeps_maxima():
    def part(rows, gap):
        return xaicore.Attribution(values=np.ones((rows, 3)), base_values=np.zeros(rows),
                                   data=np.zeros((rows, 3)), method="M",
                                   stats={"model_rows": 10 * rows, "forward_rows": rows,
                                          "seconds": 0.5, "host_seconds": 0.25,
                                          "max_completeness_gap": gap,
                                          "compiles": 1, "completeness_gap": np.full(rows, gap)})
    m = _jobs.merge([part(2, 1e-3), part(3, 1e-2)])
    assert m.values.shape == (5, 3) and m.stats["model_rows"] == 50
    assert m.stats["forward_rows"] == 5 and m.stats["seconds"] == 1.0
    assert m.stats["host_seconds"] == 0.5
    assert m.stats["max_completeness_gap"] == 1e-2 and m.stats["compiles"] == 1
    np.testing.assert_array_equal(m.stats["completeness_gap"], [1e-3] * 2 + [1e-2] * 3)


def test_csv_header_names_the_features(files, tmp_path):
    d, X, _ = files
    np.savetxt(tmp_path / "x.csv", X, delimiter=",", header="age,bmi,bp,s1,s2", comments="")
    att = _jobs.run_job(d / "model.keras", tmp_path / "x.csv", tmp_path / "o", method="saliency",
                        log=None, progress=False)
    assert att.feature_names == ["age", "bmi", "bp", "s1", "s2"]
    np.testing.assert_allclose(att.data, X, rtol=1e-6)
    assert _jobs.csv_header(d / "bg.csv") == list("abcde") and _jobs.csv_header(d / "x.npy") is None
