"""Shared test setup: JAX-backend Keras, a private KERAS_HOME, small real models."""
from __future__ import annotations

import os
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("KERAS_HOME", os.path.join(tempfile.gettempdir(), "xaicore-keras-home"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def diabetes():
    """scikit-learn's diabetes data (ships inside the package: no download)."""
    sklearn = pytest.importorskip("sklearn.datasets")
    X, y = sklearn.load_diabetes(return_X_y=True)
    return X.astype("float32"), y.astype("float32")
