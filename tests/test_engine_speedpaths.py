"""The engine's flat pair stream with on-device chunk loops, and the batched bootstrap."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import xaicore
from xaicore.engine import _batching
from xaicore.engine import _coalitions as _engine
from xaicore import kernels as K
from xaicore.kernels import _se
from xaicore.kernels._numpy import operator_from_inverse, projected_gram
from xaicore.kernels._rng import SplitMix64, stream_state
from xaicore.kernels._sampling import _SCHEMES
from xaicore.kernels._wls import apply_operator


def _fn():
    return xaicore.from_jax(lambda x: jnp.stack([jnp.tanh(x @ jnp.arange(1.0, 6.0)),
                                                 (x ** 2).sum(1) * x[:, 0]], axis=1),
                            input_shape=(5,))


def _direct(fn, X, B, masks):
    """``v[n, s, o]`` by brute force on the host."""
    out = []
    for x in X:
        xm = np.where(masks[:, None, :], x[None, None], B[None])     # [S, K, M]
        y = np.asarray(fn(xm.reshape(-1, 5).astype("float32"))).reshape(len(masks), len(B), -1)
        out.append(y.mean(axis=1))
    return np.array(out)


@pytest.mark.parametrize("max_batch", [3, 8, 24, 1000])
def test_values_match_direct_and_one_compile(max_batch):
    rng = np.random.default_rng(0)
    fn = _fn()
    X = rng.normal(size=(7, 5)).astype("float32")
    B = rng.normal(size=(3, 5)).astype("float32")
    masks = rng.random((11, 5)) < 0.5
    eng = _engine.CoalitionEngine(fn, B, np.arange(5))
    v = eng.values(X, masks, max_batch)
    np.testing.assert_allclose(v, _direct(fn, X, B, masks), rtol=1e-5, atol=1e-6)
    p = _engine.plan(7, 11, 3, max_batch)
    if p.pairs * p.chunks < 7 * 11:      # several calls, a partial last one: same shape
        eng.values(X[:5], masks, max_batch)
        assert eng.compiled == 1


def test_plan_bounds():
    p = _engine.plan(32, 512, 16, 4096)
    assert p.pairs * p.k <= 4096 and p.pairs == 256 and p.chunks == 16
    small = _engine.plan(1, 3, 4, 4096)
    assert small.pairs == 4 and small.chunks == 1
    assert _engine.plan(5, 5, 100, 10).pairs == 1          # K > max_batch: one pair a chunk


def test_preferred_batch_caps_the_default_on_cpu():
    assert _batching.preferred_batch(64, 65536) == 4096
    assert _batching.preferred_batch(3072, 1365) == 256
    assert _batching.preferred_batch(64, 100) == 100          # never above the given cap
    # a row of 32 token ids whose Conv1D(64) makes 2048 values: sized by the activation
    assert _batching.preferred_batch(32, 65536, activations=32 * 64) == 1024
    assert _batching.preferred_batch(64, 65536, activations=256) == 4096   # input bound


def test_row_activations_reads_the_largest_value_a_row_makes():
    import keras

    from xaicore.engine._inputs import row_activations
    text = keras.Sequential([keras.Input((32,), dtype="int32"),
                             keras.layers.Embedding(100, 8),
                             keras.layers.Conv1D(64, 5, padding="same"),
                             keras.layers.GlobalMaxPooling1D(), keras.layers.Dense(2)])
    assert row_activations(xaicore.export(text)) == 32 * 64
    wide = keras.Sequential([keras.Input((30,)), keras.layers.Dense(300),
                             keras.layers.Dense(2)])
    assert row_activations(xaicore.export(wide)) == 300       # weights [30, 300] do not count
    assert row_activations(_fn()) == 5                       # nothing larger than the input
    free = keras.Sequential([keras.Input((None,), dtype="int32"),
                             keras.layers.Embedding(100, 8),
                             keras.layers.Conv1D(64, 5, padding="same"),
                             keras.layers.GlobalMaxPooling1D(), keras.layers.Dense(2)])
    ids = np.ones((3, 40), "int32")                          # free length: the call's rows
    assert row_activations(xaicore.export(free), ids) == 40 * 64


def test_gradient_calls_are_sized_by_all_of_a_rows_values():
    """CPU forward+backward calls: rows by everything a row's forward pass makes (the
    backward pass keeps it alive), measured best at 4096 rows for the 64-256-256-10 MLP,
    16384 for the 30-64-64-2 one and 256 for a 32x32x3 CNN."""
    import keras

    from xaicore.engine._gradients import plan
    from xaicore.engine._inputs import model_batch, row_activation_total, row_activations
    assert _batching.gradient_rows(2644) == 4096
    assert _batching.gradient_rows(674) == 16384
    assert _batching.gradient_rows(134484) == 256
    wide = xaicore.export(keras.Sequential([keras.Input((30,)), keras.layers.Dense(300),
                                            keras.layers.Dense(2)]))
    total = row_activation_total(wide)
    assert total >= 30 + 300 + 2 and total >= row_activations(wide)
    assert model_batch(wide, gradient=True) == _batching.gradient_rows(total)
    # more rows than a chunk: a power of two of chunks per call, not always sixteen
    assert plan(5000, 1, 4096).chunks == 2 and plan(4096 * 5, 1, 4096).chunks == 8
    assert plan(10 ** 6, 1, 4096).chunks == 16 and plan(4000, 1, 4096).chunks == 1


def _reference_counts(coal, n_boot, seed):
    """The original pick-by-pick loop over the pure-Python stream."""
    first, step = coal.n_exact, 2 if coal.paired else 1
    unit_rows = np.arange(first, coal.masks.shape[0], step)
    mult, strat = coal.mult[unit_rows], coal.stratum[unit_rows]
    rng = SplitMix64(stream_state(seed, 3))
    counts = np.zeros((n_boot, unit_rows.size))
    stratified = _SCHEMES[coal.scheme][1] == 1
    groups = [np.flatnonzero(strat == k) for k in np.unique(strat)] if stratified \
        else [np.repeat(np.arange(unit_rows.size), mult)]
    for b in range(n_boot):
        for g in groups:
            size = g.size - 1 if stratified else g.size
            if size > 0:
                np.add.at(counts[b], [g[rng.below(g.size)] for _ in range(size)],
                          g.size / size)
            else:
                counts[b, g] = 1.0
    if stratified:
        shrink = np.sqrt(np.clip(1.0 - coal.fraction[strat], 0.0, 1.0))
        counts = 1.0 + shrink[None, :] * (counts - 1.0)
    return counts / mult[None, :]


def _reference_se(coal, v, v0, v1, n_boot, seed, ridge):
    """The original resample-by-resample bootstrap."""
    masks, w = coal.masks, coal.weights
    m, step = masks.shape[1], 2 if coal.paired else 1
    counts = _reference_counts(coal, n_boot, seed)
    phis = []
    for b in range(n_boot):
        wb = w.copy()
        wb[coal.n_exact:] *= np.repeat(counts[b], step)
        H, alpha = projected_gram(masks, wb, ridge)
        T = np.linalg.pinv(H, rcond=1e-10, hermitian=True) - 1.0 / (alpha * m)
        phis.append(apply_operator(*operator_from_inverse(masks, wb, T), v, v0, v1))
    return np.std(phis, axis=0, ddof=1)


@pytest.mark.parametrize("m,budget,scheme,paired", [
    (10, 200, "kernel", False), (10, 150, "stratified", True), (8, 100, "kernel", True),
    (12, 300, "leverage", True), (20, 120, "leverage", True)])
@pytest.mark.parametrize("ridge", [0.0, 0.05])
def test_bootstrap_matches_resample_loop(m, budget, scheme, paired, ridge):
    rng = np.random.default_rng(m)
    coal = K.sample_coalitions(m, budget, seed=2, scheme=scheme, paired=paired)
    v = rng.normal(size=(3, coal.masks.shape[0], 2))
    v0, v1 = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    np.testing.assert_array_equal(_se._resample_counts(coal, 24, 7),
                                  _reference_counts(coal, 24, 7))
    got = K.standard_errors(coal, v, v0, v1, n_boot=24, seed=7, ridge=ridge)
    want = _reference_se(coal, v, v0, v1, 24, 7, ridge)
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_pinv_falls_back_for_singular_matrices():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 6, 6))
    H = a @ a.transpose(0, 2, 1)
    H[1] = np.outer(np.ones(6), np.ones(6))                   # rank one
    want = np.linalg.pinv(H, rcond=1e-10, hermitian=True)
    np.testing.assert_allclose(_se._pinv(H), want, rtol=1e-8, atol=1e-10)


def test_progress_none_opens_a_bar_only_for_long_calls(monkeypatch):
    pytest.importorskip("tqdm")
    from xaicore import _progress

    quick = _progress.progress_meter(10, "rows", None)
    quick.update(10)
    assert quick.bar is None                      # a call that ends first makes no bar
    quick.close()
    monkeypatch.setattr(_progress, "DELAY", 0.0)
    slow = _progress.progress_meter(10, "rows", None)
    slow.update(3)
    assert slow.bar is not None and slow.bar.n == 3 and slow.bar.total == 10
    slow.update(2)
    assert slow.bar.n == 5
    slow.close()
    assert isinstance(_progress.progress_meter(5, "rows", False), _progress.NoProgress)
