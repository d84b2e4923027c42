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


def _keras_mlp(seed: int = 0):
    import keras

    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Sequential([keras.Input((6,)),
                             keras.layers.Dense(8, activation="tanh", kernel_initializer=init),
                             keras.layers.Dense(3, kernel_initializer=init)])


def test_explainers_of_one_model_share_their_compiled_steps():
    """A second explainer of the same model and configuration (the same ModelFn, or the
    same Keras model exported again) compiles nothing; its results are its own."""
    fn = xaicore.export(_keras_mlp())
    first = xaicore.KernelShap(fn, X[:4], n_samples=64, seed=0)
    a = first.explain(X[:10], target=1)
    assert first.engine.compiled >= 1
    again = xaicore.KernelShap(fn, X[:4], n_samples=64, seed=0)
    np.testing.assert_array_equal(again.explain(X[:10], target=1).values, a.values)
    assert again.engine.compiled == 0
    ig = xaicore.IntegratedGradients(fn, n_steps=16)
    g = ig.explain(X[:10], target=1)
    ig2 = xaicore.IntegratedGradients(fn, n_steps=16)
    np.testing.assert_array_equal(ig2.explain(X[:10], target=1).values, g.values)
    assert ig.engine.compiled >= 1 and ig2.engine.compiled == 0
    other = xaicore.KernelShap(fn, X[:4], n_samples=64, seed=0,
                               groups=[0, 0, 1, 1, 2, 2])       # another configuration
    other.explain(X[:10], target=1)
    assert other.engine.compiled >= 1


def test_a_keras_model_exported_again_shares_steps_and_reads_new_weights():
    model = _keras_mlp(seed=3)
    sal = xaicore.Saliency(model)
    sal.explain(X[:5], target=0)
    sal2 = xaicore.Saliency(model)                    # exports the model again
    assert sal2.fn.apply is sal.fn.apply
    sal2.explain(X[:5], target=0)
    assert sal2.engine.compiled == 0
    kernel = model.layers[-1].kernel
    kernel.assign(2 * np.asarray(kernel.value))         # new weights, same structure
    fresh = xaicore.export(model)
    np.testing.assert_allclose(fresh(X[:5]), model.predict(X[:5], verbose=0), rtol=1e-5,
                               atol=1e-6)
    assert not np.allclose(fresh(X[:5]), sal.fn(X[:5]))  # the old export keeps its copy
