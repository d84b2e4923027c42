"""``xaicore explain`` on a new user's mistakes: each is refused with a message that names
the argument (and the file, line and column of a bad CSV cell), before anything is written;
the corrected command then runs in the same ``--out``."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from test_shapley import small_model

import xaicore
from xaicore import cli
from xaicore.cli import main
from xaicore.jobs import _file_jobs as _jobs

HEADER = "a,b,c,d,e"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    small_model(d=5, o=3, seed=2).save(d / "model.keras")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 5)).astype("float32")
    np.save(d / "x.npy", X)
    np.savetxt(d / "bg.csv", rng.normal(size=(6, 5)), delimiter=",", header=HEADER,
               comments="")
    return d, X


def _explain(d, out, *extra, data=None):
    data = str(d / "x.npy") if data is None else str(data)
    return main(["explain", str(d / "model.keras"), data, "--out", str(out), "--quiet",
                 *extra])


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("xaicore explain: error: "), err
    return err[len("xaicore explain: error: "):]


# -- item 1: nothing is written before every argument is checked ---------------------------
@pytest.mark.parametrize("extra, message", [
    (["--option", "n_samples=oops"],
     r"^--option n_samples: expected 'auto' or an int >= 1 .*got 'oops'"),
    (["--option", "n_steps=3"],
     r"^--option: KernelShap does not take 'n_steps'; it takes: .*\bn_samples\b"),
    (["--option", "background=3"], r"^--option: KernelShap does not take 'background'"),
    (["--target", "3"],
     r"^--target: expected an output index in \[0, 3\), 'predicted' or 'all', got '3'"),
    (["--target", "max"], r"^--target: expected an output index"),
    (["--chunk", "0"], r"^--chunk: expected an int >= 1, got 0"),
    (["--seed", "-1"], r"^--seed: expected an int in \[0, 2\*\*32\), got -1"),
    (["--seed", str(2 ** 32)], r"^--seed: expected an int in \[0, 2\*\*32\), got 4294967296"),
    (["--method", "shapley"], r"^--method: expected one of \['exactshap'"),
])
def test_a_refused_run_writes_nothing(files, tmp_path, capsys, extra, message):
    d, _ = files
    assert _explain(d, tmp_path / "o", *extra) == 2
    assert re.search(message, _error(capsys))
    assert not (tmp_path / "o").exists()


def test_the_corrected_command_runs_in_the_same_folder(files, tmp_path, capsys):
    d, _ = files
    out = tmp_path / "o"
    assert _explain(d, out, "--option", "n_samples=oops") == 2
    assert _error(capsys).startswith("--option n_samples:")
    assert _explain(d, out, "--option", "n_samples=16") == 0
    assert json.loads((out / "manifest.json").read_text())["options"] == {"n_samples": 16}


def test_a_job_that_failed_before_its_first_part_is_taken_over(files, tmp_path, capsys,
                                                               monkeypatch):
    d, _ = files
    out = tmp_path / "o"

    def fail(explainer, x, target):
        raise xaicore.NonFiniteError("model: returned NaN")

    monkeypatch.setattr(_jobs, "_explain_part", fail)
    assert _explain(d, out, "--option", "n_samples=16") == 2
    assert _error(capsys).startswith("model: returned NaN")
    monkeypatch.undo()
    assert _explain(d, out, "--option", "n_samples=20") == 0        # no part was finished
    assert json.loads((out / "manifest.json").read_text())["options"] == {"n_samples": 20}
    assert _explain(d, out, "--option", "n_samples=24") == 2        # now it holds results
    assert re.search(r"^--out: .* holds another job \(differs in \['options'\]\)",
                     _error(capsys))


# -- item 2: CSV files ---------------------------------------------------------------------
@pytest.mark.parametrize("text, message", [
    (f"{HEADER}\n1,2,3,4,5\n1,,3,4,5\n",
     r"^data: bad\.csv line 3, column 'b' \(2\): empty cell; expected a number"),
    (f"{HEADER}\n1,2,3,4,5\n\n1,2,3,4,x y\n",
     r"^data: bad\.csv line 4, column 'e' \(5\): 'x y' is not a number"),
    ("1,2,3,4,5\n1,2,3,4,5\n1,2,3,4\n",
     r"^data: bad\.csv line 3 has 4 cells, line 1 has 5"),
    ("1,2,3,4,5\n1,2,inf,4,5\n",
     r"^data: bad\.csv line 2, column 3: 'inf' is not a finite number"),
    ("a;b;c;d;e\n1;2;3;4;5\n",
     r"^data: bad\.csv line 1 is separated by ';': expected commas"),
    ("1\t2\t3\t4\t5\n",
     r"^data: bad\.csv line 1 is separated by tabs: expected commas"),
    (f"{HEADER},label\n1,2,3,4,5,0\n",
     r"^data: bad\.csv has 6 columns, the model takes 5 \(input .* \[batch, 5\]\)"),
    (f"{HEADER}\n", r"^data: bad\.csv holds no rows"),
])
def test_a_bad_csv_is_refused_naming_file_line_and_column(files, tmp_path, capsys, text,
                                                          message):
    d, _ = files
    (tmp_path / "bad.csv").write_text(text)
    assert _explain(d, tmp_path / "o", "--method", "saliency",
                    data=tmp_path / "bad.csv") == 2
    assert re.search(message, _error(capsys))
    assert not (tmp_path / "o").exists()


def test_a_csv_with_a_label_column_is_blamed_on_data_not_background(files, tmp_path, capsys):
    d, X = files
    rows = "\n".join(",".join(f"{v:.6f}" for v in r) + ",1" for r in X)
    (tmp_path / "xy.csv").write_text(f"{HEADER},label\n{rows}\n")
    assert _explain(d, tmp_path / "o", data=tmp_path / "xy.csv") == 2   # background drawn
    assert _error(capsys).startswith("data: xy.csv has 6 columns, the model takes 5")


def test_a_bad_background_file_is_named(files, tmp_path, capsys):
    d, _ = files
    (tmp_path / "bg4.csv").write_text("1,2,3,4\n")
    assert _explain(d, tmp_path / "o", "--background", str(tmp_path / "bg4.csv")) == 2
    assert _error(capsys).startswith("--background: bg4.csv has 4 columns, the model takes 5")
    assert not (tmp_path / "o").exists()


def test_a_byte_order_mark_is_stripped(files, tmp_path):
    d, X = files
    rows = "\n".join(",".join(f"{v:.7g}" for v in r) for r in X)
    (tmp_path / "named.csv").write_text(f"\ufeff{HEADER}\n{rows}\n", encoding="utf-8")
    (tmp_path / "bare.csv").write_text(f"\ufeff{rows}\n", encoding="utf-8")
    named = _jobs.run_job(d / "model.keras", tmp_path / "named.csv", tmp_path / "o1",
                          method="saliency", log=None, progress=False)
    bare = _jobs.run_job(d / "model.keras", tmp_path / "bare.csv", tmp_path / "o2",
                         method="saliency", log=None, progress=False)
    assert named.feature_names == list("abcde")            # not '\ufeffa'
    assert len(bare.values) == len(X) == len(named.values)  # the first row is not a header
    np.testing.assert_allclose(bare.data, X, rtol=1e-6)


def test_the_header_rule(files, tmp_path, capsys):
    d, X = files
    rows = "\n".join(",".join(f"{v:.7g}" for v in r) for r in X)
    (tmp_path / "num.csv").write_text(f"0,1,2,3,4\n{rows}\n")
    # auto: the first line is a header when one of its cells is not a number ...
    assert _jobs.csv_header(d / "bg.csv") == list("abcde")
    # ... so column names that are numbers are a row, unless --header yes says otherwise
    assert len(_jobs.load_array(tmp_path / "num.csv", "data")) == len(X) + 1
    assert main(["explain", str(d / "model.keras"), str(tmp_path / "num.csv"), "--out",
                 str(tmp_path / "o"), "--method", "saliency", "--header", "yes"]) == 0
    att = xaicore.Attribution.load(tmp_path / "o" / "attribution.npz")
    assert att.feature_names == list("01234") and len(att.values) == len(X)
    np.testing.assert_allclose(att.data, X, rtol=1e-6)
    # --header no: a first line of names is a bad row
    assert _explain(d, tmp_path / "p", "--header", "no", data=d / "bg.csv") == 2
    assert _error(capsys).startswith("data: bg.csv line 1, column 1: 'a' is not a number "
                                     "(--header no)")
    assert _explain(d, tmp_path / "p", "--header", "maybe") == 2
    assert _error(capsys).startswith("--header: expected 'auto', 'yes' or 'no', got 'maybe'")


# -- item 3 --------------------------------------------------------------------------------
def test_out_naming_a_file_and_bad_background_rows(files, tmp_path, capsys):
    d, _ = files
    (tmp_path / "f").write_text("mine")
    assert _explain(d, tmp_path / "f", "--method", "saliency") == 2
    assert re.search(r"^--out: '.*/f' is a file, expected a folder", _error(capsys))
    assert (tmp_path / "f").read_text() == "mine"
    for rows in ("-1", "0"):
        assert _explain(d, tmp_path / "o", "--background-rows", rows) == 2
        assert _error(capsys).startswith(f"--background-rows: expected an int >= 1, got {rows}")
    assert not (tmp_path / "o").exists()


def test_arrays_of_objects_and_unreadable_files(files, tmp_path, capsys):
    d, _ = files
    np.save(tmp_path / "obj.npy", np.array([[1.0, "a"]] * 3, dtype=object), allow_pickle=True)
    np.savez(tmp_path / "obj.npz", x=np.array([[1.0, None]] * 3, dtype=object))
    np.save(tmp_path / "text.npy", np.array([["1", "2", "3", "4", "5"]]))
    (tmp_path / "junk.npy").write_bytes(b"not an array")
    (tmp_path / "latin1.csv").write_bytes("a,b,c,d,e\n1,2,3,4,5\n1,2,3,4,5 \u00e9\n"
                                          .encode("latin-1"))
    for name, message in [("obj.npy", "holds Python objects (dtype=object)"),
                          ("obj.npz", "holds Python objects (dtype=object)"),
                          ("text.npy", "holds dtype <U1, expected numbers"),
                          ("junk.npy", "could not be read as .npy"),
                          ("latin1.csv", "is not UTF-8 text")]:
        assert _explain(d, tmp_path / "o", data=tmp_path / name) == 2
        assert _error(capsys).startswith(f"data: {name} {message}"), name
    assert not (tmp_path / "o").exists()


def test_a_truncated_part_is_computed_again(files, tmp_path, capsys):
    d, _ = files
    out = tmp_path / "o"
    args = ["explain", str(d / "model.keras"), str(d / "x.npy"), "--out", str(out),
            "--method", "saliency", "--chunk", "3"]
    assert main(args) == 0
    first = xaicore.Attribution.load(out / "attribution.npz")
    part = out / "parts" / "part-00001.npz"
    part.write_bytes(part.read_bytes()[:100])
    capsys.readouterr()
    assert main(args) == 0
    said = capsys.readouterr().out
    assert "part-00001.npz is damaged" in said and "computing it again" in said
    assert "resuming: 2 of 3 parts already done" in said
    np.testing.assert_array_equal(xaicore.Attribution.load(out / "attribution.npz").values,
                                  first.values)
    assert main(args) == 0 and "damaged" not in capsys.readouterr().out


# -- item 4 --------------------------------------------------------------------------------
def test_orphan_temporary_files_are_removed_on_resume(files, tmp_path, capsys):
    d, _ = files
    out = tmp_path / "o"
    assert _explain(d, out, "--method", "saliency", "--chunk", "4") == 0
    ours = [out / "parts" / ".part-00001.npz.a1b2c3d4e5f6.tmp.npz",
            out / ".attribution.npz.0123456789ab.tmp.npz", out / ".manifest.json.fedcba987654.tmp"]
    theirs = [out / "parts" / "notes.tmp.npz", out / "tmp.txt", out / ".mine.12345.tmp.npz"]
    for p in ours + theirs:
        p.write_bytes(b"partial")
    assert main(["explain", str(d / "model.keras"), str(d / "x.npy"), "--out", str(out),
                 "--method", "saliency", "--chunk", "4"]) == 0
    assert "removed 3 temporary files left by an interrupted run" in capsys.readouterr().out
    assert not any(p.exists() for p in ours) and all(p.exists() for p in theirs)


# -- item 5 --------------------------------------------------------------------------------
def test_quiet_turns_off_the_methods_progress_bars(files, tmp_path, monkeypatch):
    d, _ = files
    seen = []
    real = _jobs._explain_part

    def spy(explainer, x, target):
        seen.append(explainer.progress)
        return real(explainer, x, target)

    monkeypatch.setattr(_jobs, "_explain_part", spy)
    assert _explain(d, tmp_path / "o", "--option", "n_samples=16", "--chunk", "4") == 0
    assert seen == [False, False]


# -- item 6 --------------------------------------------------------------------------------
def test_boolean_options_are_parsed(files, tmp_path, capsys):
    d, X = files
    fn = xaicore.export(str(d / "model.keras"))
    want = xaicore.Saliency(fn, abs=False).explain(X, target="predicted").values
    for i, text in enumerate(["false", "NO", "0", "False"]):
        assert _explain(d, tmp_path / f"o{i}", "--method", "saliency", "--option",
                        f"abs={text}") == 0
        got = xaicore.Attribution.load(tmp_path / f"o{i}" / "attribution.npz").values
        np.testing.assert_allclose(got, want, atol=1e-6)
        assert (got < 0).any()
    assert _explain(d, tmp_path / "k", "--option", "paired=no", "--option", "n_samples=16") == 0
    assert json.loads((tmp_path / "k" / "manifest.json").read_text())["options"] == {
        "paired": False, "n_samples": 16}
    assert _explain(d, tmp_path / "k2", "--option", "paired=Yes", "--option",
                    "n_samples=16") == 0
    assert json.loads((tmp_path / "k2" / "manifest.json").read_text())["options"][
        "paired"] is True
    for bad in ("maybe", "2", "none"):
        assert _explain(d, tmp_path / "m", "--method", "saliency", "--option",
                        f"abs={bad}") == 2
        assert re.search(rf"^--option abs: expected true/false \(yes/no, 1/0\), got '?{bad}'?$",
                         _error(capsys))
    assert _explain(d, tmp_path / "m", "--method", "saliency", "--option", "n_samples=3") == 2
    assert _error(capsys).startswith("--option: Saliency does not take 'n_samples'; it takes: "
                                     "abs, max_batch")
    assert not (tmp_path / "m").exists()


# -- item 7 --------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["integratedgradients", "saliency", "gradientxinput",
                                    "smoothgrad", "vargrad"])
def test_a_background_is_refused_by_methods_that_take_none(files, tmp_path, capsys, method):
    d, _ = files
    assert _explain(d, tmp_path / "o", "--method", method, "--background",
                    str(d / "bg.csv")) == 2
    assert re.search(rf"^--background: {method} takes no background \(kernelshap, ",
                     _error(capsys))
    assert _explain(d, tmp_path / "o", "--method", method, "--background-rows", "8") == 2
    assert _error(capsys).startswith(f"--background-rows: {method} takes no background")
    assert not (tmp_path / "o").exists()


# -- item 8 --------------------------------------------------------------------------------
def test_help_shows_every_option_with_its_default(capsys):
    parser = cli.build_parser()
    subs = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in subs.items():
        for action in sub._actions:
            assert action.help and action.help.strip(), (name, action.dest)
    with pytest.raises(SystemExit) as e:
        main(["explain", "--help"])
    assert e.value.code == 0
    text = "".join(capsys.readouterr().out.split())       # wrapped at any width
    for default in ("(default:kernelshap)", "(default:predicted)", "(default:1024)",
                    "(default:0)", "(default:auto)", "(default:64,"):
        assert default in text, default
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = "".join(capsys.readouterr().out.split())
    assert "(default:xaicore-demo)" in text and "(default:32)" in text \
        and "(default:0)" in text
