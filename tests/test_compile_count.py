"""Compile once: a notebook that explains 3, 7, 10 and then 64 rows with one explainer
compiles its device step at most twice (the instance axis is bucketed), and results do
not depend on the bucketing."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import xaicore

W = np.random.default_rng(0).normal(size=(6, 3)).astype("float32")
X = np.random.default_rng(1).normal(size=(64, 6)).astype("float32")


def f(x):
    return jnp.tanh(x @ W)


@pytest.mark.parametrize("make", [
    lambda: xaicore.IntegratedGradients(f, n_steps=50),
    lambda: xaicore.Saliency(f),
    lambda: xaicore.SmoothGrad(f, n_samples=32, seed=0),
    lambda: xaicore.ExpectedGradients(f, X[:8], n_samples=32, seed=0),
], ids=["IntegratedGradients", "Saliency", "SmoothGrad", "ExpectedGradients"])
def test_gradient_methods_compile_at_most_twice(make):
    m = make()
    for n in (3, 7, 10, 64):
        m.explain(X[:n], target=0)
    assert m.engine.compiled <= 2, m.engine.compiled


def test_kernel_shap_compiles_at_most_twice():
    ks = xaicore.KernelShap(f, X[:16], n_samples=512, seed=0)
    for n in (3, 7, 10, 64):
        ks.explain(X[:n], target="predicted")
    assert ks.engine.compiled <= 2, ks.engine.compiled
    # the forward passes (target="predicted", the full coalition) are bucketed too
    assert ks._jit_forward._cache_size() <= 2 and ks.engine._predict._cache_size() <= 2


def test_many_chunks_per_call_give_the_same_values():
    """More rows than one chunk holds: chunks loop on the device, padded ones skipped."""
    small = xaicore.IntegratedGradients(f, n_steps=8, max_batch=16)      # 2 rows a chunk
    big = xaicore.IntegratedGradients(f, n_steps=8, max_batch=100_000)
    a, b = small.explain(X[:37], target=1), big.explain(X[:37], target=1)
    np.testing.assert_allclose(a.values, b.values, atol=1e-6)
    assert a.stats["rows_per_call"] <= 16


def test_persistent_compile_cache_fills_and_serves_a_second_process(tmp_path):
    """``xaicore.compile_cache(dir)``: a fresh process's compilations land in ``dir``, and
    a second run of the same job finds them there (its results unchanged)."""
    import os
    import subprocess
    import sys

    code = ("import numpy as np, jax.numpy as jnp, xaicore\n"
            f"xaicore.compile_cache({str(tmp_path / 'cache')!r})\n"
            "W = np.arange(12, dtype='float32').reshape(4, 3) / 10\n"
            "ks = xaicore.KernelShap(lambda x: jnp.tanh(x @ W), np.zeros((1, 4), 'float32'),"
            " n_samples=14, n_boot=0)\n"
            "print(ks.explain(np.ones((3, 4), 'float32'), target=0).values.round(6).tolist())\n")
    env = {k: v for k, v in os.environ.items() if k != "XAICORE_COMPILE_CACHE"}
    def run():
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           cwd=tmp_path, env=env, timeout=300)
        assert r.returncode == 0, r.stderr[-2000:]
        return r.stdout, {f: f.stat().st_mtime_ns for f in (tmp_path / "cache").rglob("*")
                          if not f.name.endswith("-atime")}   # LRU stamps change on reads

    out1, first = run()
    assert len(first) >= 2, first                   # the steps were written ...
    out2, second = run()
    assert out1 == out2
    assert second == first                          # ... and read back, none compiled anew


def test_compile_cache_refuses_a_folder_it_cannot_make(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(xaicore.InputError, match="path"):
        xaicore.compile_cache(tmp_path / "file" / "cache")
