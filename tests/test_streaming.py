"""Large jobs: rows streamed in blocks from .npy/.csv/.parquet, parts over every local
device, ``xaicore.load_job`` reading a job back part by part."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from test_shapley import small_model

import xaicore
from xaicore.jobs import _streams

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
NAMES = list("abcde")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("stream")
    small_model(d=5, o=3, seed=2).save(d / "model.keras")
    X = np.random.default_rng(0).normal(size=(30, 5)).astype("float32")
    np.save(d / "x.npy", X)
    np.savetxt(d / "x.csv", X, delimiter=",", fmt="%.9g", header=",".join(NAMES), comments="")
    ids = [f"r{i}" for i in range(len(X))]
    table = pa.table({"id": ids, **{c: X[:, j] for j, c in enumerate(NAMES)},
                      "label": np.arange(len(X)) % 3})
    pq.write_table(table, d / "x.parquet", row_group_size=7)   # groups cross the parts
    return d, X, ids


def _job(d, data, out, **kw):
    kw = {"method": "kernelshap", "options": {"n_samples": 32}, "chunk": 8, **kw}
    return xaicore.explain_dataset(d / "model.keras", data, out=out, **kw)


def test_every_format_streams_the_same_rows_and_digest(files):
    d, X, _ = files
    sources = [_streams.open_rows(d / "x.npy"), _streams.open_rows(d / "x.csv"),
               _streams.open_rows(d / "x.parquet", columns=NAMES),
               _streams.open_rows(X.astype("float64"))]
    assert isinstance(sources[0].a, np.memmap)                # .npy: memory-mapped
    for s in sources:
        blocks = list(s.blocks(8))
        assert [len(b) for b in blocks] == [8, 8, 8, 6], type(s).__name__
        np.testing.assert_array_equal(np.concatenate(blocks), X)
        assert s.n_rows == 30 and s.row_shape == (5,)
    assert len({s.digest() for s in sources}) == 1
    assert sources[0].digest() == _streams.digest_array(X)
    assert _streams.digest_array(X[:-1]) != sources[0].digest()
    np.testing.assert_array_equal(sources[2].take(np.array([0, 13, 29])), X[[0, 13, 29]])


def test_parquet_job_carries_ids_and_equals_the_npy_job(files, tmp_path):
    d, X, ids = files
    want = _job(d, d / "x.npy", tmp_path / "npy").merged()
    job = _job(d, d / "x.parquet", tmp_path / "pq", columns=NAMES, parquet_out=True)
    got = job.merged()
    np.testing.assert_array_equal(got.values, want.values)
    np.testing.assert_array_equal(got.data, X)
    assert got.feature_names == NAMES
    table = pq.read_table(tmp_path / "pq" / "attribution.parquet").to_pandas()
    assert list(table["id"]) == ids and list(table["label"]) == list(np.arange(30) % 3)
    assert list(table["row"]) == list(range(30))
    np.testing.assert_array_equal(table["target"], want.target)
    np.testing.assert_allclose(table["base_value"], want.base_values)
    np.testing.assert_allclose(table[[f"value:{c}" for c in NAMES]].to_numpy(), want.values)
    manifest = json.loads((tmp_path / "pq" / "manifest.json").read_text())
    assert manifest["columns"] == NAMES
    direct = xaicore.KernelShap(xaicore.export(d / "model.keras"), _bg(X),
                                n_samples=32).explain(X, target="predicted")
    np.testing.assert_allclose(got.values, direct.values, atol=1e-6)


def _bg(X):
    """The background a job draws from its data (64 rows at most, seeded)."""
    rng = np.random.default_rng(0)
    return X[np.sort(rng.choice(len(X), size=min(64, len(X)), replace=False))]


def test_all_outputs_to_parquet_and_a_csv_job(files, tmp_path):
    d, X, _ = files
    job = _job(d, d / "x.csv", tmp_path / "o", target="all", method="saliency", options={},
               parquet_out=True)
    att = job.merged()
    assert att.values.shape == (30, 5, 3) and att.feature_names == NAMES
    table = pq.read_table(tmp_path / "o" / "attribution.parquet")
    assert "value:c:2" in table.column_names and "base_value:1" in table.column_names
    np.testing.assert_allclose(table.column("value:c:2").to_numpy(), att.values[:, 2, 2])


def test_load_job_reads_a_partial_job_part_by_part(files, tmp_path):
    d, X, _ = files
    job = _job(d, d / "x.npy", tmp_path / "o", method="saliency", options={}, merge=False)
    assert not (tmp_path / "o" / "attribution.npz").exists() and job.complete
    (tmp_path / "o" / "parts" / "part-00002.npz").unlink()
    part = xaicore.load_job(tmp_path / "o")
    assert not part.complete and part.done == [0, 1, 3] and part.rows_done == 22
    atts = list(part)
    assert [len(a.values) for a in atts] == [8, 8, 6]
    np.testing.assert_array_equal(atts[2].data, X[24:])
    assert len(part.merged().values) == 22
    with pytest.raises(xaicore.InputError, match=r"^out: '.*' holds no xaicore job"):
        xaicore.load_job(tmp_path)


SHARDED = textwrap.dedent("""
    import os, sys, threading
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    import jax
    import numpy as np
    import xaicore
    from xaicore.jobs import _file_jobs
    assert len(jax.devices()) == 2, jax.devices()
    d = sys.argv[1]
    seen, real = set(), _file_jobs._explain_part
    def spy(explainer, x, target):
        leaf = jax.tree_util.tree_leaves(explainer.fn.params)[0]
        seen.add((threading.current_thread().name, str(next(iter(leaf.devices())))))
        return real(explainer, x, target)
    _file_jobs._explain_part = spy
    model = xaicore.export(d + "/model.keras")
    for method in sys.argv[2:]:          # smoothgrad: noise seeded per part, not per device
        kw = dict(method=method, chunk=4, options={"n_samples": 24}
                  if method == "kernelshap" else {})
        two = xaicore.explain_dataset(model, d + "/x.npy", out=d + "/two-" + method,
                                      **kw).merged()
        one = xaicore.explain_dataset(model, d + "/x.npy", out=d + "/one-" + method,
                                      devices=1, **kw).merged()
        np.testing.assert_array_equal(two.values, one.values)
        np.testing.assert_array_equal(two.base_values, one.base_values)
    print("THREADS", len({t for t, _ in seen if t.startswith("xaicore-")}),
          "DEVICES", len({dev for _, dev in seen}))
""")


def test_two_devices_give_the_one_device_result(files):
    d = files[0]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(xaicore.__file__)), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", SHARDED, str(d), "kernelshap", "smoothgrad"],
                       env=env, cwd=d,   # not the checkout: import the xaicore under test
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "THREADS 2 DEVICES 2" in r.stdout, r.stdout   # both devices took parts
