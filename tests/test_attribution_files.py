"""Attribution files: what ``save`` writes loads back identically; anything else that
``load`` is given (truncated, empty, foreign, future, inconsistent, pickled) is refused with
one InputError naming the file, and ``save`` checks its path before writing anything."""
from __future__ import annotations

import json
import os
import pickle
import zipfile

import numpy as np
import pytest
from models import mlp

import xaicore
from xaicore import Attribution, InputError
from xaicore.results._attribution import _jsonable
from xaicore.results._files import write_atomic


@pytest.fixture(scope="module")
def att():
    """A real result: KernelShap (with standard errors) of a small Keras MLP, one target."""
    fn = xaicore.export(mlp(n_in=4, n_out=3))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 4)).astype("float32")
    B = rng.normal(size=(6, 4)).astype("float32")
    return xaicore.KernelShap(fn, B, n_samples=14, estimator="linear",
                              feature_names=list("abcd")).explain(X, target="predicted")


@pytest.fixture
def saved(att, tmp_path):
    return att.save(tmp_path / "att.npz")


def _refused(path, pattern):
    with pytest.raises(InputError, match=pattern) as e:
        Attribution.load(path)
    assert type(e.value) is InputError
    assert "allow_pickle" not in str(e.value)
    # one error in the traceback: no chained BadZipFile / KeyError / ValueError shown
    assert e.value.__cause__ is None
    assert e.value.__context__ is None or e.value.__suppress_context__
    return str(e.value)


def _rewrite(src, dst, change):
    """Copy the .npz ``src`` to ``dst`` with ``change(entries)`` applied to its arrays."""
    with np.load(src) as z:
        entries = {k: z[k] for k in z.files}
    change(entries)
    np.savez(dst, **entries)
    return dst


def _meta(entries, **changes):
    meta = json.loads(str(entries["meta"]))
    meta.update(changes)
    entries["meta"] = np.array(json.dumps(meta))


# -- what save writes loads back ------------------------------------------------------------
def test_round_trip_is_identical(att, saved):
    assert att.stderr is not None and att.target is not None
    back = Attribution.load(saved)
    for name in ("values", "base_values", "data", "target"):
        a, b = getattr(att, name), getattr(back, name)
        assert b.dtype == np.asarray(a).dtype
        np.testing.assert_array_equal(b, a)
    np.testing.assert_array_equal(back.stderr, att.stderr)
    assert back.method == att.method and back.feature_names == list("abcd")
    assert back.output_names == att.output_names
    assert back.params == json.loads(json.dumps(_jsonable(att.params)))
    assert back.stats.keys() == att.stats.keys()
    for k, v in att.stats.items():
        if not isinstance(v, np.ndarray):
            assert back.stats[k] == _jsonable(v)
    assert Attribution.load(str(saved)).values.shape == att.values.shape   # str paths too


# -- load refuses anything else, with one InputError naming the file -------------------------
def test_missing_file_or_folder_or_not_a_path(tmp_path):
    _refused(tmp_path / "nope.npz", r"^path: no file '.*nope\.npz'")
    _refused(tmp_path, r"^path: '.*' is a folder, not an xaicore attribution file")
    _refused(3, r"^path: expected a file path \(str or os\.PathLike\), got int 3")


def test_empty_file(tmp_path):
    (tmp_path / "empty.npz").write_bytes(b"")
    _refused(tmp_path / "empty.npz", r"^path: '.*empty\.npz' is empty \(0 bytes\)")


@pytest.mark.parametrize("keep", [3, 10, 0.5, 0.95, -1])
def test_truncated_file(saved, tmp_path, keep):
    raw = saved.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(raw[:keep if isinstance(keep, int) else int(len(raw) * keep)])
    _refused(cut, r"^path: '.*cut\.npz' is damaged or truncated \(")


def test_damaged_entry(saved, tmp_path):
    raw = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as zf:
        info = zf.getinfo("values.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 4, start + min(info.compress_size, 40)):
        raw[i] ^= 0x5A                                  # scramble the compressed bytes
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(raw))
    _refused(bad, r"^path: '.*bad\.npz' is damaged or truncated \(entry 'values'")


def test_foreign_files(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.ones(3))
    _refused(tmp_path / "other.npz",
             r"^path: '.*other\.npz' is not an xaicore attribution file \(no 'meta' entry\)")
    np.save(tmp_path / "plain.npy", np.ones(3))
    _refused(tmp_path / "plain.npy", r"^path: '.*plain\.npy' is not an xaicore attribution "
                                     r"file \(it holds a single NumPy array")
    (tmp_path / "notes.npz").write_text("values,base_values\n1,2\n")
    _refused(tmp_path / "notes.npz", r"^path: '.*notes\.npz' is not an xaicore attribution "
                                     r"file \(not a \.npz archive\)")
    np.savez(tmp_path / "text_meta.npz", meta=np.array("not json"), values=np.ones(2))
    _refused(tmp_path / "text_meta.npz", r"^path: .* is not an xaicore attribution file "
                                         r"\(its 'meta' entry is not xaicore's")


def test_pickled_data_is_refused_without_numpys_advice(saved, tmp_path):
    with open(tmp_path / "obj.npz", "wb") as f:
        pickle.dump({"values": np.ones(2)}, f)
    msg = _refused(tmp_path / "obj.npz", r"^path: '.*obj\.npz' holds pickled data")
    assert "never unpickles" in msg
    obj = _rewrite(saved, tmp_path / "objects.npz",
                   lambda e: e.update(values=np.array([{"a": 1}, None], dtype=object)))
    _refused(obj, r"^path: '.*objects\.npz' holds pickled data \(entry 'values'\)")


def test_future_or_unknown_format(saved, tmp_path):
    future = _rewrite(saved, tmp_path / "future.npz", lambda e: _meta(e, format=99))
    _refused(future, r"^path: '.*future\.npz' is in attribution file format 99, newer than "
                     r"this xaicore reads \(1\); upgrade xaicore")
    for bad in (0, "1", None, 1.5):
        f = _rewrite(saved, tmp_path / "odd.npz", lambda e, bad=bad: _meta(e, format=bad))
        _refused(f, r"^path: '.*odd\.npz' is not an xaicore attribution file \(unknown format")


def test_missing_or_wrong_entries(saved, tmp_path):
    gone = _rewrite(saved, tmp_path / "gone.npz", lambda e: e.pop("base_values"))
    _refused(gone, r"^path: '.*gone\.npz' is not an xaicore attribution file "
                   r"\(no 'base_values' entry\)")
    nometh = _rewrite(saved, tmp_path / "nometh.npz",
                      lambda e: _meta(e, method=None, feature_names="abcd"))
    _refused(nometh, r"^path: .* is not an xaicore attribution file \(meta 'method'")


def test_row_counts_must_agree(saved, tmp_path):
    short = _rewrite(saved, tmp_path / "rows.npz", lambda e: e.update(data=e["data"][:3]))
    _refused(short, r"^path: '.*rows\.npz' is inconsistent: 'values' has 5 rows but 'data' "
                    r"has 3")
    tgt = _rewrite(saved, tmp_path / "tgt.npz", lambda e: e.update(target=e["target"][:1]))
    _refused(tgt, r"^path: .* is inconsistent: 'values' has 5 rows but 'target' has 1")
    se = _rewrite(saved, tmp_path / "se.npz",
                  lambda e: e.update(stats__stderr=e["stats__stderr"][:, :2]))
    _refused(se, r"^path: .* is inconsistent: 'stats__stderr' has shape \[5, 2\], not the "
                 r"values' \[5, 4\]")


# -- save checks its path first -------------------------------------------------------------
def test_save_to_bad_paths_writes_nothing(att, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("keep me")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    for target, pattern in [
            (blocker / "att.npz",
             r"^path: cannot write '.*a_file/att\.npz': '.*a_file' is a file, not a folder"),
            (blocker / "sub" / "att.npz", r"^path: cannot write .*: '.*a_file' is a file"),
            ("", r"^path: expected a file path, got ''"),
            (7, r"^path: expected a file path \(str or os\.PathLike\), got int 7")]:
        with pytest.raises(InputError, match=pattern) as e:
            att.save(target)
        assert type(e.value) is InputError
    (tmp_path / "d.npz").mkdir()
    with pytest.raises(InputError, match=r"^path: '.*d\.npz' is a folder, not a file"):
        att.save(tmp_path / "d.npz")
    with pytest.raises(InputError, match=r"^path: expected a file name, got '.*'"):
        att.save(tmp_path / "..")
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(before + ["d.npz"])
    assert blocker.read_text() == "keep me"


# -- files get the user's umask, like open(..., "w") ----------------------------------------
@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_written_files_follow_the_umask(att, tmp_path, umask):
    old = os.umask(umask)
    try:
        att_path = att.save(tmp_path / "new" / "att.npz")

        def write(tmp):
            with open(tmp, "w") as f:
                f.write("{}")
        write_atomic(tmp_path / "manifest.json", write)
        with open(tmp_path / "plain.txt", "w") as f:
            f.write("x")
    finally:
        os.umask(old)
    want = 0o666 & ~umask
    assert (os.stat(tmp_path / "plain.txt").st_mode & 0o777) == want
    assert (os.stat(att_path).st_mode & 0o777) == want
    assert (os.stat(tmp_path / "manifest.json").st_mode & 0o777) == want
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["att.npz", "manifest.json", "new",
                                                          "plain.txt"]


def test_failed_write_leaves_nothing(tmp_path):
    def fail(tmp):
        with open(tmp, "w") as f:
            f.write("half")
        raise RuntimeError("disk full")
    with pytest.raises(RuntimeError, match="disk full"):
        write_atomic(tmp_path / "out.json", fail)
    assert list(tmp_path.iterdir()) == []


def test_temporary_names_are_the_ones_a_resumed_job_removes(tmp_path):
    from xaicore.results._files import TEMPORARY_NAME, _temp_beside

    for suffix in (".tmp", ".tmp.npz"):
        tmp = _temp_beside(tmp_path / "part-00000.npz", suffix)
        assert TEMPORARY_NAME.fullmatch(tmp.name), tmp.name
    assert not TEMPORARY_NAME.fullmatch("part-00000.npz")
