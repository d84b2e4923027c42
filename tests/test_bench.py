"""``xaicore bench``: the smoke suite's record, exact methods scored against independent
truths, and arguments refused at the boundary before anything is written."""
from __future__ import annotations

import json

import numpy as np
import pytest

from xaicore import InputError
from xaicore.bench import run_bench
from xaicore.bench._games import UnanimityGame, brute_force_shapley
from xaicore.cli import main


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "out"
    rc = main(["bench", "--suite", "smoke", "--methods", "exact,kernelshap,ig",
               "--peers", "none", "--out", str(out), "--quiet"])
    assert rc == 0
    return out, json.loads((out / "bench.json").read_text())


def test_smoke_record_structure(smoke):
    out, rec = smoke
    for key in ("command", "date", "machine", "versions", "load_before", "cases", "results",
                "notes", "suite"):
        assert key in rec, key
    assert rec["suite"] == "smoke" and rec["command"].startswith("xaicore bench")
    assert {c["kind"] for c in rec["cases"]} == {"tabular", "wide", "image", "text"}
    for c in rec["cases"]:
        assert c["limits"]["forward"]["rows_per_s"] > 0
    for r in rec["results"]:
        assert r["model_rows"] > 0 and r["seconds"] > 0 and r["first_call_seconds"] > 0
        assert r["fraction_of_limit"] > 0
    assert (out / "bench.md").read_text().startswith("| case | method |")
    assert len(rec["plots"]) == 4 and all(p.endswith(".png") for p in rec["plots"])


def test_exact_methods_have_zero_error(smoke):
    _, rec = smoke
    exact = [r for r in rec["results"] if r["method"] == "exact"]
    assert {r["case"] for r in exact} == {"wine-mlp", "digits-cnn-8x8", "tokens-16"}
    assert all(r["mae"] < 1e-6 for r in exact), exact
    ig_game = [r for r in rec["results"]
               if r["method"] == "ig" and r["case"].startswith("unanimity")]
    assert ig_game and ig_game[0]["mae"] < 1e-6        # Gauss-Legendre is exact on the game
    ks = [r for r in rec["results"] if r["method"] == "kernelshap"]
    assert all(0 < r["mae"] < 1.0 for r in ks)            # estimates: close, not exact


def test_faithfulness_figures_come_from_xaicore_metrics(smoke):
    """Exact Shapley values of the wine MLP: deleting the most relevant features first
    lowers the target output faster than inserting them raises it from the baseline."""
    _, rec = smoke
    exact = [r for r in rec["results"] if r["method"] == "exact" and r["case"] == "wine-mlp"]
    f = exact[0]["faithfulness"]
    assert f is not None and np.isfinite(f["deletion_auc"]) and np.isfinite(f["insertion_auc"])
    assert f["deletion_auc"] < f["insertion_auc"]


def test_unanimity_closed_form_matches_enumeration():
    """The closed form (dividends) equals the definition, brute-forced, on 6 features."""
    import jax.numpy as jnp

    game = UnanimityGame.random(6, n_terms=8, max_order=3, seed=1)
    rng = np.random.default_rng(0)
    X, B = rng.normal(size=(3, 6)), rng.normal(size=(2, 6))
    f = game.apply()
    brute = brute_force_shapley(lambda z: f(jnp.asarray(z, jnp.float32)), X.astype("float32"),
                                B.astype("float32"), np.arange(6), 6, 0)
    np.testing.assert_allclose(game.shapley(X, B), brute, atol=1e-5)


@pytest.mark.parametrize("args, message", [
    (["--suite", "huge"], r"^--suite: expected one of smoke, quick, full, got 'huge'"),
    (["--methods", "kernelshap,magic"], r"^--methods: expected names from kernelshap, .*"
                                        r"got 'magic'"),
    (["--peers", "shap,torchshap"], r"^--peers: expected names from shap, shapiq, captum, "
                                    r"lime, got 'torchshap'"),
    (["--device", "tpu"], r"^--device: expected cpu or gpu, got 'tpu'"),
    (["--budgets", "64,two"], r"^--budgets: expected comma-separated ints >= 4"),
    (["--repeats", "0"], r"^--repeats: expected an int >= 1, got 0"),
])
def test_bad_arguments_are_refused_before_writing(tmp_path, capsys, args, message):
    out = tmp_path / "never"
    assert main(["bench", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xaicore bench: error: ")
    import re

    assert re.search(message, err.removeprefix("xaicore bench: error: ")), err
    assert not out.exists()


def test_run_bench_raises_input_error(tmp_path):
    with pytest.raises(InputError, match=r"^--suite: expected one of smoke, quick, full"):
        run_bench("medium", out=str(tmp_path / "x"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match=r"^--out: expected a folder"):
        run_bench("smoke", out=str(tmp_path / "file"))
