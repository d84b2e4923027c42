"""The bench suites: four cases (tabular MLP, wide closed-form game, image CNN, text model)
at three sizes. Every model is built here from data that ships with scikit-learn (wine,
digits) or is drawn from a seed (token sequences, the unanimity game); nothing is
downloaded."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import exporting
from .._errors import InputError
from ..engine._players import patch_groups
from ._games import UnanimityGame

SUITES = ("smoke", "quick", "full")

#: Per suite: explained rows, peer rows (peers are slower: fewer rows, rates per row),
#: coalition budgets, gradient steps, training epochs, repeats, wide-game features,
#: image upscaling and patch, tokens and token patches (players), background rows.
SIZES = {
    "smoke": dict(rows=2, peer_rows=1, budgets=(64,), steps=(8,), epochs=0, repeats=1,
                  wide=32, image_scale=1, image_patch=(4, 2), text_len=16, text_players=8,
                  bg=4),
    "quick": dict(rows=16, peer_rows=4, budgets=(64, 256, 1024), steps=(8, 32, 128),
                  epochs=20, repeats=3, wide=128, image_scale=1, image_patch=(2, 2), text_len=32,
                  text_players=16, bg=8),
    "full": dict(rows=64, peer_rows=8, budgets=(64, 256, 1024, 4096), steps=(8, 32, 128, 512),
                 epochs=40, repeats=5, wide=200, image_scale=4, image_patch=(2, 2), text_len=64,
                 text_players=16, bg=16),
}


@dataclass
class Case:
    """One model, its data and the truths its estimates are scored against."""

    name: str
    kind: str                      # "tabular", "wide", "image", "text"
    fn: Any                        # ModelFn
    X: np.ndarray                  # explained rows
    background: np.ndarray
    groups: np.ndarray | None      # player ids per input element (None: one per column)
    n_players: int
    target: int = 0
    gradients: bool = True         # False for integer (token) inputs
    truth: str = ""                # how the Shapley truth is obtained
    shapley: np.ndarray | None = None    # [n, M] (filled lazily by the runner)
    paths: dict = field(default_factory=dict)  # IG / EG truths [n, ...]
    keras_model: Any = None        # for the captum copy (tabular MLP only)
    game: UnanimityGame | None = None

    @property
    def flat_groups(self) -> np.ndarray:
        size = int(np.prod(self.X.shape[1:]))
        return np.arange(size) if self.groups is None else self.groups.reshape(-1)


def _keras():
    import keras
    return keras


def _fit(model: Any, X: np.ndarray, y: np.ndarray, epochs: int) -> Any:
    keras = _keras()
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy")
    if epochs:
        model.fit(X, y, epochs=epochs, batch_size=32, verbose=0, shuffle=False)
    return model


def tabular_case(size: dict, seed: int) -> Case:
    """A Keras MLP trained briefly on scikit-learn's wine data (13 features, 3 classes)."""
    from sklearn.datasets import load_wine

    keras = _keras()
    data = load_wine()
    X = ((data.data - data.data.mean(0)) / data.data.std(0)).astype("float32")
    order = np.random.default_rng(seed).permutation(len(X))
    X, y = X[order], data.target[order]
    init = keras.initializers.GlorotUniform(seed=seed)
    model = keras.Sequential([
        keras.Input((13,)),
        keras.layers.Dense(32, activation="tanh", kernel_initializer=init),
        keras.layers.Dense(32, activation="tanh", kernel_initializer=init),
        keras.layers.Dense(3, activation="softmax", kernel_initializer=init)], name="wine_mlp")
    _fit(model, X, y, size["epochs"])
    bg = X[: size["bg"]]
    return Case("wine-mlp", "tabular", exporting.export(model), X[-size["rows"]:], bg, None,
                13, truth="brute-force enumeration of 2^13 coalitions", keras_model=model)


def wide_case(size: dict, seed: int) -> Case:
    """A sum of unanimity games on 64-200 features: Shapley values in closed form."""
    d = size["wide"]
    game = UnanimityGame.random(d, n_terms=2 * d, max_order=4, seed=seed)
    rng = np.random.default_rng(seed + 1)
    X = rng.normal(size=(size["rows"], d)).astype("float32")
    bg = rng.normal(scale=0.5, size=(min(4, size["bg"]), d)).astype("float32")
    fn = exporting.from_jax(game.apply(), input_shape=(d,))
    return Case(f"unanimity-{d}", "wide", fn, X, bg, None, d, game=game,
                truth="closed form (Harsanyi dividends of a sum of unanimity games)")


def image_case(size: dict, seed: int) -> Case:
    """A Keras CNN on scikit-learn's 8x8 digits (upscaled by ``image_scale``), 16 patches."""
    from sklearn.datasets import load_digits

    keras = _keras()
    s = size["image_scale"]
    data = load_digits()
    images = (data.images / 16.0).astype("float32")
    if s > 1:
        images = np.kron(images, np.ones((1, s, s), "float32"))
    X = images[..., None]
    h = X.shape[1]
    init = keras.initializers.GlorotUniform(seed=seed)
    model = keras.Sequential([
        keras.Input((h, h, 1)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", kernel_initializer=init),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu", kernel_initializer=init),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax", kernel_initializer=init)],
        name="digits_cnn")
    _fit(model, X[:1000], data.target[:1000], max(0, size["epochs"] // 4))
    ph, pw = size["image_patch"]
    groups = patch_groups((h, h, 1), (ph * s, pw * s))
    m = int(groups.max()) + 1
    return Case(f"digits-cnn-{h}x{h}", "image", exporting.export(model), X[-size["rows"]:],
                np.zeros((1, h, h, 1), "float32"), groups, m,
                truth=f"brute-force enumeration of 2^{m} patch coalitions")


def text_case(size: dict, seed: int) -> Case:
    """An Embedding-first Keras model on seeded token sequences (fixed length, 0 = padding),
    trained to tell whether token 1 occurs more often than token 2; patches of tokens."""
    keras = _keras()
    length, vocab = size["text_len"], 40
    rng = np.random.default_rng(seed + 2)
    X = rng.integers(1, vocab, size=(600, length)).astype("int32")
    y = ((X == 1).sum(1) > (X == 2).sum(1)).astype("int32")
    init = keras.initializers.GlorotUniform(seed=seed)
    model = keras.Sequential([
        keras.Input((length,), dtype="int32"),
        keras.layers.Embedding(vocab, 16, embeddings_initializer="uniform"),
        keras.layers.Conv1D(16, 3, padding="same", activation="relu", kernel_initializer=init),
        keras.layers.GlobalAveragePooling1D(),
        keras.layers.Dense(2, activation="softmax", kernel_initializer=init)], name="text_cnn")
    _fit(model, X, y, size["epochs"])
    m = size["text_players"]
    groups = (np.arange(length) * m // length).astype(np.int32)
    return Case(f"tokens-{length}", "text", exporting.export(model), X[-size["rows"]:],
                np.zeros((1, length), "int32"), groups, m, gradients=False,
                truth=f"brute-force enumeration of 2^{m} token-patch coalitions")


CASES = {"tabular": tabular_case, "wide": wide_case, "image": image_case, "text": text_case}


def build_cases(suite: str, seed: int) -> tuple[dict, list[Case]]:
    """The suite's sizes and its cases (models trained, data drawn)."""
    if suite not in SUITES:
        raise InputError(f"--suite: expected one of {', '.join(SUITES)}, got {suite!r}")
    size = SIZES[suite]
    return size, [make(size, seed) for make in CASES.values()]
