"""Faults of large jobs: a SIGKILL at random points loses and duplicates no row, a second
run on the same folder is refused while the first holds it, and bad input is refused
before any work starts with nothing written."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from test_shapley import small_model

import xaicore
from xaicore.cli import main
from xaicore.jobs import _file_jobs
from xaicore.jobs._lock import JobLock
from xaicore.results._files import TEMPORARY_NAME

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("faults")
    small_model(d=5, o=3, seed=2).save(d / "model.keras")
    X = np.random.default_rng(1).normal(size=(48, 5)).astype("float32")
    np.save(d / "x.npy", X)
    return d, X


ARGS = ["--method", "kernelshap", "--option", "n_samples=64", "--chunk", "2", "--quiet"]


def _env():
    root = os.path.dirname(os.path.dirname(xaicore.__file__))
    return dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))


def _kill_after(d, out, parts: int) -> int:
    """Start the job in a subprocess, SIGKILL it once ``parts`` parts are on disk."""
    proc = subprocess.Popen([sys.executable, "-m", "xaicore", "explain", str(d / "model.keras"),
                             str(d / "x.npy"), "--out", str(out), *ARGS], env=_env(),
                            cwd=d,       # not the checkout: import the xaicore under test
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list((out / "parts").glob("part-*.npz"))) >= parts:
            break
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode in (-signal.SIGKILL, 0), proc.stderr.read()[-2000:]
    return len(list((out / "parts").glob("part-*.npz")))


def test_sigkill_at_random_points_loses_and_duplicates_no_row(files, tmp_path):
    d, X = files
    out = tmp_path / "o"
    rng = np.random.default_rng(7)
    first = _kill_after(d, out, int(rng.integers(1, 8)))
    second = _kill_after(d, out, first + int(rng.integers(1, 8)))
    assert 0 < first <= second < 24                        # killed twice, mid-job
    assert not (out / "attribution.npz").exists()
    assert main(["explain", str(d / "model.keras"), str(d / "x.npy"), "--out", str(out),
                 *ARGS]) == 0                                  # resumes under the same lock
    got = xaicore.Attribution.load(out / "attribution.npz")
    assert main(["explain", str(d / "model.keras"), str(d / "x.npy"), "--out",
                 str(tmp_path / "fresh"), *ARGS]) == 0
    want = xaicore.Attribution.load(tmp_path / "fresh" / "attribution.npz")
    np.testing.assert_array_equal(got.data, X)                 # every row once, in order
    np.testing.assert_array_equal(got.values, want.values)
    np.testing.assert_array_equal(got.base_values, want.base_values)
    names = {p.name for p in out.rglob("*") if p.is_file()}
    assert not any(TEMPORARY_NAME.fullmatch(n) for n in names), names
    assert names == {".lock", "manifest.json", "attribution.npz",
                     *(f"part-{i:05d}.npz" for i in range(24))}


def test_a_second_run_on_a_held_folder_is_refused(files, tmp_path, monkeypatch):
    d, _ = files
    out = tmp_path / "o"
    out.mkdir()

    def no_work(*a):
        raise AssertionError("a refused run computed a part")

    monkeypatch.setattr(_file_jobs, "_explain_part", no_work)
    with JobLock(out):                                        # another run holds it
        with pytest.raises(xaicore.InputError,
                           match=rf"^--out: '{re.escape(str(out))}' is in use by another run "
                                 rf"\(pid {os.getpid()} on .*, started .*\); wait for it"):
            xaicore.explain_dataset(d / "model.keras", d / "x.npy", out=out,
                                    method="saliency")
    assert sorted(p.name for p in out.iterdir()) == [".lock"]   # nothing else written
    monkeypatch.undo()
    job = xaicore.explain_dataset(d / "model.keras", d / "x.npy", out=out, method="saliency")
    assert job.complete                                          # the lock was released


def _bad_parquet(tmp_path):
    X = np.random.default_rng(0).normal(size=(6, 6)).astype("float32")
    pq.write_table(pa.table({c: X[:, j] for j, c in enumerate("abcdef")}), tmp_path / "w6.parquet")
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(6)],
                             **{c: X[:, j] for j, c in enumerate("abcde")}}),
                   tmp_path / "ids.parquet")
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 not really")
    np.save(tmp_path / "w4.npy", X[:, :4])
    (tmp_path / "dir.npy").mkdir()


@pytest.mark.parametrize("data, kw, message", [
    ("missing.npy", {}, r"^data: no file '.*missing\.npy'"),
    ("dir.npy", {}, r"^data: no file '.*dir\.npy'"),
    ("junk.parquet", {}, r"^data: junk\.parquet could not be read as \.parquet"),
    ("w4.npy", {}, r"^data: w4\.npy holds float32\[6, 4\], the model takes float32\[batch, 5\]"),
    ("w6.parquet", {}, r"^data: w6\.parquet has 6 columns, the model takes 5 \(input .*\); is "
                       r"one of them a label"),
    ("ids.parquet", {}, r"^data: ids\.parquet column 'id' holds string, expected numbers; "
                        r"choose the feature columns with columns="),
    ("ids.parquet", {"columns": ["id", "a"]}, r"^columns: ids\.parquet column 'id' holds "
                                              r"string, expected numbers"),
    ("ids.parquet", {"columns": ["a", "zz"]}, r"^columns: ids\.parquet has no column 'zz'; it "
                                              r"has: id, a, b, c, d, e$"),
    ("ids.parquet", {"columns": list("abcde"), "background": np.zeros((4, 3))},
     r"^--background: background holds float32\[4, 3\], the model takes float32\[batch, 5\]"),
    ("w4.npy", {"columns": ["a"]}, r"^columns: selects columns of a \.parquet file; w4\.npy"),
])
def test_bad_input_is_refused_before_any_work(files, tmp_path, monkeypatch, data, kw, message):
    d, _ = files
    _bad_parquet(tmp_path)

    def no_work(*a):
        raise AssertionError("a refused run computed a part")

    monkeypatch.setattr(_file_jobs, "_explain_part", no_work)
    with pytest.raises(xaicore.InputError, match=message):
        xaicore.explain_dataset(d / "model.keras", tmp_path / data, out=tmp_path / "o", **kw)
    assert not (tmp_path / "o").exists()


def test_a_folder_holding_another_job_is_refused_and_left_as_it_was(files, tmp_path):
    d, _ = files
    out = tmp_path / "o"
    xaicore.explain_dataset(d / "model.keras", d / "x.npy", out=out, method="saliency",
                            chunk=16)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(xaicore.InputError,
                       match=r"^--out: '.*' holds another job \(differs in \['chunk'\]\)"):
        xaicore.explain_dataset(d / "model.keras", d / "x.npy", out=out, method="saliency",
                                chunk=8)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
