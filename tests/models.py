"""Small real Keras models of every kind the export supports (built, randomly initialised)."""
from __future__ import annotations

import keras
import numpy as np


def mlp(n_in: int = 6, n_out: int = 3, seed: int = 0) -> keras.Model:
    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Sequential([
        keras.Input((n_in,)),
        keras.layers.Dense(16, activation="relu", kernel_initializer=init),
        keras.layers.BatchNormalization(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(n_out, kernel_initializer=init),
    ], name="mlp")


def cnn(seed: int = 0) -> keras.Model:
    init = keras.initializers.GlorotUniform(seed=seed)
    inp = keras.Input((12, 12, 3), name="image")
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", kernel_initializer=init,
                            name="conv1")(inp)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.MaxPooling2D(name="pool")(h)
    h = keras.layers.Conv2D(8, 3, activation="relu", kernel_initializer=init, name="conv2")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = keras.layers.Dropout(0.3)(h)
    return keras.Model(inp, keras.layers.Dense(4, kernel_initializer=init, name="logits")(h),
                       name="cnn")


def conv1d(seed: int = 0) -> keras.Model:
    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Sequential([
        keras.Input((20, 2)),
        keras.layers.Conv1D(4, 3, activation="relu", kernel_initializer=init),
        keras.layers.AveragePooling1D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(2, kernel_initializer=init),
    ], name="conv1d")


def rnn(kind: str, seed: int = 0) -> keras.Model:
    layer = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[kind]
    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Sequential([
        keras.Input((7, 3)),
        layer(5, kernel_initializer=init, dropout=0.2),
        keras.layers.Dense(2, kernel_initializer=init),
    ], name=kind)


def embedding(seed: int = 0) -> keras.Model:
    init = keras.initializers.RandomUniform(seed=seed)
    inp = keras.Input((9,), dtype="int32", name="tokens")
    h = keras.layers.Embedding(30, 6, embeddings_initializer=init)(inp)
    h = keras.layers.LayerNormalization()(h)
    h = keras.layers.MultiHeadAttention(num_heads=2, key_dim=3, seed=seed)(h, h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(inp, keras.layers.Dense(3, kernel_initializer="glorot_uniform")(h),
                       name="attention")


def multi_io(as_dict: bool = True, seed: int = 0) -> keras.Model:
    init = keras.initializers.GlorotUniform(seed=seed)
    a = keras.Input((4,), name="a")
    b = keras.Input((3,), name="b")
    h = keras.layers.Dense(8, activation="tanh", kernel_initializer=init)(
        keras.layers.Concatenate()([a, b]))
    out1 = keras.layers.Dense(2, kernel_initializer=init, name="head1")(h)
    out2 = keras.layers.Dense(1, activation="sigmoid", kernel_initializer=init, name="head2")(h)
    inputs = {"a": a, "b": b} if as_dict else [a, b]
    return keras.Model(inputs, [out1, out2], name="multi_io")


class Residual(keras.Model):
    """A subclassed model; wrapped into a functional one by calling it on an Input."""

    def __init__(self) -> None:
        super().__init__()
        self.d1 = keras.layers.Dense(5, activation="softplus")
        self.d2 = keras.layers.Dense(5)
        self.out = keras.layers.Dense(2)

    def call(self, x):
        return self.out(x + self.d2(self.d1(x)))


def subclassed() -> keras.Model:
    inp = keras.Input((5,))
    return keras.Model(inp, Residual()(inp), name="wrapped_subclass")


def inputs_for(model: keras.Model, n: int = 5, seed: int = 0):
    """A random batch matching the model's inputs."""
    rng = np.random.default_rng(seed)

    def one(t):
        shape = (n, *t.shape[1:])
        if "int" in str(t.dtype):
            return rng.integers(0, 30, size=shape).astype("int32")
        return rng.normal(size=shape).astype("float32")

    struct = getattr(model, "_inputs_struct", None)
    if isinstance(struct, dict):
        return {k: one(v) for k, v in struct.items()}
    if isinstance(struct, (list, tuple)) and len(struct) > 1:
        return tuple(one(t) for t in struct)
    return one(model.inputs[0])


ALL = {
    "mlp": mlp, "cnn": cnn, "conv1d": conv1d, "lstm": lambda: rnn("lstm"),
    "gru": lambda: rnn("gru"), "attention": embedding, "multi_dict": multi_io,
    "multi_list": lambda: multi_io(as_dict=False), "subclassed": subclassed,
}
