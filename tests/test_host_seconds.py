"""``stats["host_seconds"]``: the share of a coalition method's call spent in its host
solves (the figure the benchmarks report as the host's share of a call)."""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

import xaicore
import xaicore.methods._shapley_base as base

X = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32)


def model():
    return xaicore.from_jax(lambda x: jnp.tanh(x @ jnp.arange(10.0).reshape(5, 2) / 10),
                            input_shape=(5,))


@pytest.mark.parametrize("make", [
    lambda f: xaicore.KernelShap(f, X[:3], n_samples=20, seed=0),
    lambda f: xaicore.KernelShap(f, X[:3], n_samples=20, seed=0, estimator="linear"),
    lambda f: xaicore.PermutationShap(f, X[:3], n_permutations=4, seed=0),
    lambda f: xaicore.ExactShap(f, X[:3]),
    lambda f: xaicore.Lime(f, X[:1], n_samples=40, seed=0)],
    ids=["KernelShap", "KernelShap-linear", "PermutationShap", "ExactShap", "Lime"])
def test_host_seconds_are_part_of_the_call(make, tmp_path):
    att = make(model()).explain(X[3:], target=0)
    host = att.stats["host_seconds"]
    assert isinstance(host, float) and 0.0 < host <= att.stats["seconds"]
    back = xaicore.Attribution.load(att.save(tmp_path / "a"))
    assert back.stats["host_seconds"] == host


def test_summed_over_blocks_of_rows(monkeypatch):
    """Rows solved in several blocks (bounded memory): the blocks' host times add up."""
    times = iter(np.arange(100.0))          # every perf_counter call one second later
    ks = xaicore.KernelShap(model(), X[:3], n_samples=20, seed=0)
    ks.explain(X, target=0)                 # compiled outside the fake clock
    monkeypatch.setattr(base, "VALUES_BYTES", 8 * 22)       # one row a block: 6 blocks
    monkeypatch.setattr(base.time, "perf_counter", lambda: float(next(times)))
    att = ks.explain(X, target=0)
    assert att.stats["host_seconds"] == 6.0     # one tick from start to end of each solve
