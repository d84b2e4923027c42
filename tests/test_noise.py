"""The counter-based Gaussian noise of the gradient samplers: its Box-Muller map against
float64, its law, its independence within and across rows and samples, its seeds."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from xaicore.engine import _noise

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _draws(rows: int, samples: int, n: int, seed: int = 0) -> np.ndarray:
    """``[rows, samples, n]`` numbers, drawn as the gradient engine draws them (a row key
    folded from the call's key, vmapped over rows and samples)."""
    key = jax.random.key(seed)

    def one(i, s):
        return _noise.Draw(jax.random.fold_in(key, i), s).normals([(n,)], jnp.float32)[0]

    f = jax.vmap(jax.vmap(one, (None, 0)), (0, None))
    return np.asarray(jax.jit(f)(jnp.arange(rows), jnp.arange(samples)))


def test_the_transform_is_box_muller_at_cell_centres():
    """Every word maps to ``rho (cos, sin)`` of its cell centres (float64 truth): radius
    ``sqrt(-2 ln u)`` of the top 20 bits, angle of the quadrant (2 bits) and the low 10,
    within float32 precision, including the extreme cells."""
    k = np.concatenate([np.arange(0, 1 << 32, 65537, dtype=np.uint64).astype(np.uint32),
                        np.array([0, 1, 1023, 1024, 0xFFFFF000, 0xFFFFFFFF], np.uint32)])
    a, b = (np.asarray(v, np.float64) for v in _noise.normals_from_bits(jnp.asarray(k)))
    rho = np.sqrt(-2 * np.log(((k >> 12) + 0.5) / 2.0 ** 20))
    angle = (((k >> 10) & 3) + ((k & 1023) + 0.5) / 1024) * np.pi / 2
    scale = np.maximum(rho, 1.0)
    assert np.max(np.abs(a - rho * np.cos(angle)) / scale) < 1e-6
    assert np.max(np.abs(b - rho * np.sin(angle)) / scale) < 1e-6
    assert rho.max() > 5.39 and np.all(np.isfinite(a)) and np.all(np.isfinite(b))


def test_the_law_is_normal_at_fine_resolution():
    """The empirical CDF of 2 x 4M numbers (both halves of 4M words) at fixed points is
    the normal one within 4.5 of its standard errors: the angle grid and the 20-bit
    radius leave no visible bias."""
    bits = jax.random.bits(jax.random.key(11), (1 << 22,), jnp.uint32)
    z = np.sort(np.concatenate([np.asarray(v) for v in _noise.normals_from_bits(bits)]))
    grid = np.array([-3, -2, -1, -0.5, -0.1, 0.0, 0.1, 0.5, 1, 2, 3])
    p, truth = np.searchsorted(z, grid) / z.size, stats.norm.cdf(grid)
    assert np.all(np.abs(p - truth) < 4.5 * np.sqrt(truth * (1 - truth) / z.size))


def test_the_two_numbers_of_a_word_are_independent():
    """Element ``j`` and ``j + n / 2`` of a sample share a word (its cosine and sine
    parts): uncorrelated, and so are their squares (the radius they share would show
    there if the angle were not uniform)."""
    z = _draws(64, 32, 30)
    x, y = z[..., :15].ravel(), z[..., 15:].ravel()
    assert abs(np.corrcoef(x, y)[0, 1]) < 4 / np.sqrt(x.size)
    assert abs(np.corrcoef(x * x, y * y)[0, 1]) < 4 / np.sqrt(x.size)


def test_the_numbers_are_standard_normal():
    z = _draws(64, 32, 30).ravel()        # 61 440 numbers
    n = z.size
    assert abs(z.mean()) < 4 / np.sqrt(n)
    assert abs(z.var() - 1) < 4 * np.sqrt(2 / n)
    assert abs(stats.skew(z)) < 4 * np.sqrt(6 / n)
    assert abs(stats.kurtosis(z)) < 4 * np.sqrt(24 / n)
    assert stats.kstest(z, "norm").pvalue > 1e-3


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_neighbours_are_uncorrelated(axis):
    """Adjacent rows, adjacent samples of a row, adjacent elements of a sample: the
    correlation of neighbours is that of independent numbers (|r| < 4 / sqrt(n))."""
    z = _draws(64, 32, 30)
    a = np.moveaxis(z, axis, 0)
    x, y = a[:-1].ravel(), a[1:].ravel()
    assert abs(np.corrcoef(x, y)[0, 1]) < 4 / np.sqrt(x.size)
    # and their squares (dependence a correlation of the values would not show)
    assert abs(np.corrcoef(x * x, y * y)[0, 1]) < 4 / np.sqrt(x.size)


def test_samples_of_a_row_are_not_shifted_copies():
    """Two samples of one row share no run of numbers at any offset (an additive counter
    scheme would repeat a sample's stream shifted)."""
    z = _draws(4, 16, 256)
    for r in range(4):
        _, counts = np.unique(z[r], return_counts=True)
        assert counts.max() <= 2                 # 4096 numbers of 32-bit words: chance repeats


def test_seeded_and_keyed():
    a, b, c = _draws(8, 4, 30, seed=0), _draws(8, 4, 30, seed=0), _draws(8, 4, 30, seed=1)
    np.testing.assert_array_equal(a, b)
    assert np.mean(a == c) < 0.01
    assert np.mean(a[0] == a[1]) < 0.01


def test_several_inputs_share_one_counter_space():
    key = jax.random.fold_in(jax.random.key(3), 0)
    d = _noise.Draw(key, jnp.int32(2))
    a, b = d.normals([(2, 3), (4,)], jnp.float32)
    assert a.shape == (2, 3) and b.shape == (4,)
    whole = d.normals([(10,)], jnp.float32)[0]
    np.testing.assert_array_equal(np.concatenate([np.ravel(a), b]), whole)
    half = d.normals([(3,)], jnp.float16)[0]
    assert half.dtype == jnp.float16


def test_a_block_drawn_at_once_holds_each_samples_numbers():
    """The engine draws a whole block ahead (``block_normals``); a sampler drawing its
    own sample gets the same numbers (to float rounding of the transform)."""
    key = jax.random.key(5)
    idx, s = jnp.arange(3, 7), jnp.array([0, 1, 2, 9])
    block = np.asarray(jax.jit(_noise.block_normals, static_argnums=3)(key, idx, s, 30))
    each = np.stack([np.stack([np.asarray(_noise.Draw(jax.random.fold_in(key, i), k)
                                          .normals([(30,)], jnp.float32)[0]) for k in s])
                     for i in idx])
    np.testing.assert_allclose(block, each, rtol=1e-6, atol=1e-6)
