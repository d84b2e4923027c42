"""The text part of ``xaicore demo``: a small Keras text classifier on made-up sentences
(the label is whether the word "great" occurs), explained token by token with KernelShap
(padding is no player) and integrated gradients through the embedding."""
from __future__ import annotations

import os

import numpy as np

VOCAB = ["<pad>", "<mask>", "the", "film", "was", "great", "dull", "plot", "and", "cast"]
PAD, MASK, LENGTH = 0, 1, 12


def _train_text(seed: int):
    import keras

    rng = np.random.default_rng(seed)
    ids = rng.integers(2, len(VOCAB), (400, LENGTH)).astype("int32")
    ids[rng.random(400) < 0.5, 8:] = PAD                        # half the rows padded
    y = (ids == VOCAB.index("great")).any(1).astype("int32")
    init = keras.initializers.GlorotUniform
    model = keras.Sequential([
        keras.Input((LENGTH,), dtype="int32", name="tokens"),
        keras.layers.Embedding(len(VOCAB), 16, name="embedding",
                               embeddings_initializer=keras.initializers.RandomUniform(
                                   seed=seed)),
        keras.layers.GlobalMaxPooling1D(),
        keras.layers.Dense(2, activation="softmax", kernel_initializer=init(seed=seed))],
        name="text_clf")
    from ._demo import fit_classifier

    acc = fit_classifier(model, ids, y, epochs=80, batch_size=32)
    print(f"\ntrained a Keras text classifier (does 'great' occur?): {len(ids)} sentences of "
          f"{LENGTH} tokens, training accuracy {acc:.3f}")
    return model, ids, y


def run_text_demo(out: str, seed: int = 0, n_explain: int = 4) -> dict:
    """KernelShap by token and integrated gradients on the embeddings of class 1."""
    from .. import methods as m

    model, ids, y = _train_text(seed)
    X = ids[np.argsort(-y, kind="stable")[:n_explain]]       # sentences with 'great'
    ks = m.KernelShap(model, background=MASK, n_samples=512, seed=seed, progress=False)
    results = {
        "KernelShap (tokens)": m.explain_text(ks, X, target=1, pad_id=PAD, vocab=VOCAB),
        "TokenIntegratedGradients": m.TokenIntegratedGradients(
            model, baseline_id=MASK, pad_id=PAD, progress=False).explain(X, target=1,
                                                                        vocab=VOCAB),
    }
    figures = {}
    for name, att in results.items():
        file = name.split(" ")[0] + "_text.npz"
        figures[name] = {"seconds": att.stats.get("seconds"),
                         "path": str(att.save(os.path.join(out, file)))}
    row = results["KernelShap (tokens)"]
    words = [t for t, keep in zip(row.tokens[0], row.token_mask[0]) if keep]
    top = int(np.argmax(row.values[0][: len(words)]))
    print(f"sentence 0: {' '.join(words)!r}; the token KernelShap ranks first: "
          f"{str(words[top])!r}; written to {out}/")
    return figures
