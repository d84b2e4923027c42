"""Attention weights from the exported function, and attention rollout (Abnar & Zuidema)."""
from __future__ import annotations

import keras
import numpy as np
import pytest

import xaicore


def tokens(n: int = 6) -> np.ndarray:
    """Rows of scikit-learn's digit images as token sequences: ids 0..16, length 8."""
    datasets = pytest.importorskip("sklearn.datasets")
    return datasets.load_digits().images.reshape(-1, 8)[:n].astype("int32")


def transformer(n_layers: int = 2, seed: int = 0, scores: bool = False) -> keras.Model:
    """Embedding, then ``n_layers`` self-attention blocks (residual + LayerNorm); with
    ``scores`` the model also returns every block's attention scores (as Keras gives
    them with ``return_attention_scores=True``)."""
    inp = keras.Input((8,), dtype="int32")
    h = keras.layers.Embedding(17, 8, embeddings_initializer=keras.initializers.RandomNormal(
        stddev=1.0, seed=seed), name="emb")(inp)
    weights = []
    for i in range(n_layers):
        mha = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, seed=seed + i,
                                              name=f"mha{i}")
        if scores:
            a, w = mha(h, h, return_attention_scores=True)
            weights.append(w)
        else:
            a = mha(h, h)
        h = keras.layers.LayerNormalization(name=f"ln{i}")(h + a)
    out = keras.layers.Dense(3, name="out")(keras.layers.GlobalAveragePooling1D()(h))
    return keras.Model(inp, [out, *weights] if scores else out)


def test_weights_equal_keras_return_attention_scores():
    model = transformer(2, seed=0)
    rebuilt = transformer(2, seed=5, scores=True)
    rebuilt.set_weights(model.get_weights())            # the same weights
    X = tokens(5)
    got = xaicore.attention(model, X, max_batch=2)
    assert list(got) == ["mha0", "mha1"]
    want = rebuilt.predict(X, verbose=0)[1:]
    for name, w in zip(["mha0", "mha1"], want):
        assert got[name].shape == w.shape == (5, 2, 8, 8)
        np.testing.assert_allclose(got[name], w, atol=1e-6)
        np.testing.assert_allclose(got[name].sum(axis=-1), 1.0, atol=1e-6)
    only = xaicore.attention(model, X, layers="mha1")
    assert list(only) == ["mha1"]
    # another batch size than max_batch=2: float32 rounding
    np.testing.assert_allclose(only["mha1"], got["mha1"], atol=1e-6)


def test_weights_of_a_saved_model(tmp_path):
    model = transformer(1)
    model.save(tmp_path / "t.keras")
    X = tokens(3)
    np.testing.assert_allclose(xaicore.attention(tmp_path / "t.keras", X)["mha0"],
                               xaicore.attention(model, X)["mha0"], atol=1e-6)


def test_rollout_of_one_layer_is_the_hand_formula():
    model = transformer(1)
    X = tokens(4)
    a = xaicore.attention(model, X)["mha0"].astype(np.float64)
    hand = (a.mean(axis=1) + np.eye(8)) / 2.0       # rows of a sum to 1: (A + I) / 2
    att = xaicore.attention_rollout(model, X)
    assert att.method == "AttentionRollout" and att.values.shape == (4, 8)
    np.testing.assert_allclose(att.stats["rollout"], hand, atol=1e-7)
    np.testing.assert_allclose(att.values, hand.mean(axis=1), atol=1e-7)
    np.testing.assert_allclose(xaicore.attention_rollout(model, X, token=0).values,
                               hand[:, 0], atol=1e-7)


def test_rollout_multiplies_through_the_layers_in_order():
    model = transformer(2)
    X = tokens(3)
    w = xaicore.attention(model, X)
    a0, a1 = ((w[k].astype(np.float64).mean(axis=1) + np.eye(8)) / 2 for k in ("mha0", "mha1"))
    att = xaicore.attention_rollout(model, X, layers=["mha1", "mha0"])
    np.testing.assert_allclose(att.stats["rollout"], a1 @ a0, atol=1e-7)
    np.testing.assert_allclose(att.values.sum(axis=1), 1.0, atol=1e-6)


def test_clear_errors():
    plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")],
                             name="plain")
    with pytest.raises(xaicore.ExportError, match=r"^model: 'plain' has no "
                                                  r"MultiHeadAttention layer"):
        xaicore.attention(plain, np.zeros((2, 4), "float32"))
    model = transformer(1)
    with pytest.raises(xaicore.ExportError, match=r"^layers: no layer named 'nope'"):
        xaicore.attention(model, tokens(2), layers=["nope"])
    with pytest.raises(xaicore.ExportError, match=r"^layers: 'ln0' is a LayerNormalization "
                                                  r"layer, not MultiHeadAttention"):
        xaicore.attention(model, tokens(2), layers="ln0")
    with pytest.raises(xaicore.InputError, match=r"^token: expected None or a position "
                                                 r"in 0\.\.7, got 8"):
        xaicore.attention_rollout(model, tokens(2), token=8)
